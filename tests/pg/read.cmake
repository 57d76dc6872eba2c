# read.cmake - the PostgreSQL engine's read and retention side (store/*_pg.c
# of query, lookup, expire, forget, check, counts; qs-retention's lock):
# store/test_read_pg.c compares every answer with SQLite's on the same rows,
# run by read_pg.sh, which starts the server and passes its URI in
# QS_TEST_PG_URL. The retention e2e scripts run again with QS_TEST_ENGINE=pg.
add_executable(test_read_pg ${CMAKE_SOURCE_DIR}/store/test_read_pg.c)
target_include_directories(test_read_pg PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(test_read_pg PRIVATE qs_storedb quietstate)

add_test(NAME pg_read COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/read_pg.sh)
set_tests_properties(pg_read PROPERTIES
  LABELS "pg" TIMEOUT 300 RUN_SERIAL ON
  ENVIRONMENT "QS_TEST_READ_PG=$<TARGET_FILE:test_read_pg>;QS_LIB_NAME=pg_read")

# The retention end-to-end scripts (tests/retention/*.sh) on PostgreSQL:
# each starts its own server and inits the site with --database.
foreach(t test_retention test_ageing test_forget test_forget_unicode)
  add_test(NAME pg_retention_${t}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/retention/${t}.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(pg_retention_${t} PROPERTIES
    LABELS "pg" TIMEOUT 300 RUN_SERIAL ON
    ENVIRONMENT "QS_TEST_ENGINE=pg;QS_LIB_NAME=pg_retention_${t}")
endforeach()

# One qs-retention pass at a time: a session holding the lock makes it wait.
add_test(NAME pg_retention_lock
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/read_retention_lock.sh ${CMAKE_BINARY_DIR})
set_tests_properties(pg_retention_lock PROPERTIES
  LABELS "pg" TIMEOUT 180 RUN_SERIAL ON ENVIRONMENT "QS_LIB_NAME=pg_retention_lock")

# Retention deleting while two workers write: the counts stay exact.
add_test(NAME pg_read_concurrent
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/read_concurrent.sh ${CMAKE_BINARY_DIR})
set_tests_properties(pg_read_concurrent PROPERTIES
  LABELS "pg" TIMEOUT 300 RUN_SERIAL ON
  ENVIRONMENT "QS_BIN_DIR=${CMAKE_BINARY_DIR};QS_LIB_NAME=pg_read_concurrent")

# Groups of machines (store/test_group.c) on PostgreSQL: the same tests as
# on SQLite, through read_pg.sh's server.
add_test(NAME pg_group COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/read_pg.sh)
set_tests_properties(pg_group PROPERTIES
  LABELS "pg" TIMEOUT 180 RUN_SERIAL ON
  ENVIRONMENT "QS_TEST_READ_PG=$<TARGET_FILE:test_group>;QS_LIB_NAME=pg_group")
