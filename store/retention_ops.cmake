# retention_ops.cmake - store.db's retention and verify operations (expire,
# forget, check) in the qs_storedb library, and their unit tests. Included
# by store/CMakeLists.txt.
target_sources(qs_storedb PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/expire.c
  ${CMAKE_CURRENT_SOURCE_DIR}/forget.c
  ${CMAKE_CURRENT_SOURCE_DIR}/check.c
  # ... and on PostgreSQL (ops_pg.h)
  ${CMAKE_CURRENT_SOURCE_DIR}/expire_pg.c
  ${CMAKE_CURRENT_SOURCE_DIR}/forget_pg.c
  ${CMAKE_CURRENT_SOURCE_DIR}/check_pg.c
  ${CMAKE_CURRENT_SOURCE_DIR}/counts_pg.c
  ${CMAKE_CURRENT_SOURCE_DIR}/retention_pg.c)

foreach(t test_expire test_forget test_check)
  qs_unit_test(${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
  target_link_libraries(${t} PRIVATE qs_storedb)
endforeach()
