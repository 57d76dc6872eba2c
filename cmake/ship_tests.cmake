# ship_tests.cmake - tests of what is shipped (tests/ship/): the units, the man
# pages against --help, the example configuration, and the Debian packages in
# a fresh Debian root. Included by cmake/install.cmake.
set(QS_SHIP_ENV
    "QSCTL=$<TARGET_FILE:qsctl>" "QS_BROKER=$<TARGET_FILE:qs-broker>"
    "QS_STORE=$<TARGET_FILE:qs-store>" "QS_RETENTION=$<TARGET_FILE:qs-retention>"
    "QS_PRODUCER=$<TARGET_FILE:qs-producer>" "QS_WEB=$<TARGET_FILE:qs-web>"
    "QS_MAN_DIR=${QS_MAN_DIR}" "QS_BUILD_DIR=${CMAKE_BINARY_DIR}")

add_test(NAME ship_units COMMAND bash ${CMAKE_SOURCE_DIR}/tests/ship/units.sh)
add_test(NAME ship_help_man COMMAND bash ${CMAKE_SOURCE_DIR}/tests/ship/help_man.sh)
add_test(NAME ship_conf_example COMMAND bash ${CMAKE_SOURCE_DIR}/tests/ship/conf_example.sh)
set_tests_properties(ship_units ship_help_man ship_conf_example PROPERTIES
    LABELS "unit" TIMEOUT 120 ENVIRONMENT "${QS_SHIP_ENV}")

# Builds both .debs from the tree and uses them in a debootstrapped bookworm
# root (as root; about 10 minutes the first time, less with the cached root).
add_test(NAME ship_package COMMAND bash ${CMAKE_SOURCE_DIR}/tests/ship/package.sh)
set_tests_properties(ship_package PROPERTIES
    LABELS "ship" TIMEOUT 900 RUN_SERIAL ON ENVIRONMENT "${QS_SHIP_ENV}")
