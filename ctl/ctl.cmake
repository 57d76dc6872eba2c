# ctl.cmake - qsctl's unit tests and CLI test (included by ctl/CMakeLists.txt).
#
# The tests run the sub-commands in-process (they return exit codes), so they
# link the command sources through qs_ctl_cmds, a library of everything in
# ctl/ but main.c and the commands other modules own.
set(QS_CTL_CMD_SOURCES ctl_common.c cmd_init.c cmd_enroll.c cmd_revoke.c cmd_forget.c
    cmd_policy.c cmd_compliance.c cmd_stats.c cmd_audit.c remote_print.c
    cmd_trend.c cmd_group.c cmd_deployment.c cmd_deployment_eval.c)
list(TRANSFORM QS_CTL_CMD_SOURCES PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/)
add_library(qs_ctl_cmds STATIC ${QS_CTL_CMD_SOURCES})
target_include_directories(qs_ctl_cmds PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(qs_ctl_cmds PUBLIC quietstate qs_storedb)

set(QS_CTL_TESTS test_ctl_common test_ctl_query test_ctl_policy test_ctl_audit test_ctl_init
    test_ctl_enroll test_ctl_print test_ctl_config_doc)
foreach(t ${QS_CTL_TESTS})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    qs_unit_test(${t} ${t}.c)
    target_link_libraries(${t} PRIVATE qs_ctl_cmds qs_store_bench)
    target_compile_definitions(${t} PRIVATE
      QS_GOLDEN_DIR="${CMAKE_SOURCE_DIR}/tests/golden"
      QS_DOCS_DIR="${CMAKE_SOURCE_DIR}/docs")
  endif()
endforeach()

# The real binary, end to end, without daemons: exit codes and outputs.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/ctl/test_qsctl.sh)
  add_test(NAME ctl_qsctl
           COMMAND sh ${CMAKE_SOURCE_DIR}/tests/ctl/test_qsctl.sh $<TARGET_FILE:qsctl>)
  set_tests_properties(ctl_qsctl PROPERTIES LABELS "unit" TIMEOUT 120)
endif()

# The exit-code table (docs/commands.md): every program, the same mistakes.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/ctl/exit_codes.sh)
  add_test(NAME cli_exit_codes
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/ctl/exit_codes.sh $<TARGET_FILE:qsctl>
                   $<TARGET_FILE:qs-broker> $<TARGET_FILE:qs-store>
                   $<TARGET_FILE:qs-retention> $<TARGET_FILE:qs-web>
                   $<TARGET_FILE:qs-producer>)
  set_tests_properties(cli_exit_codes PROPERTIES LABELS "unit" TIMEOUT 180)
endif()

# The output contract: JSON on every command, CSV on tables, --as in the audit log.
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/ctl/formats.sh)
  add_test(NAME cli_formats
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/ctl/formats.sh $<TARGET_FILE:qsctl>)
  set_tests_properties(cli_formats PROPERTIES LABELS "unit" TIMEOUT 120)
endif()

# qsctl import writes through the store's own write path (store/qs_store_import.h).
target_link_libraries(qsctl PRIVATE qs_store_lib)
