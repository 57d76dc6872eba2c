# trend.cmake - compliance per UTC day (qs_store_trend.h): the daily
# snapshots qs-retention writes and their suppressed read, on both engines,
# in the qs_storedb library; and its unit test. Included by store/CMakeLists.txt.
target_sources(qs_storedb PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/trend.c
  ${CMAKE_CURRENT_SOURCE_DIR}/trend_sqlite.c
  ${CMAKE_CURRENT_SOURCE_DIR}/trend_pg.c)

qs_unit_test(test_trend ${CMAKE_CURRENT_SOURCE_DIR}/test_trend.c)
target_link_libraries(test_trend PRIVATE qs_storedb)
