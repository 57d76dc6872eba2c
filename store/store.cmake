# store module: the ingest pipeline as a library (unit tests drive it without
# sockets) and the qs-store daemon (docs/store.md).
add_library(qs_store_lib STATIC ingest.c arena.c write.c ack.c resync.c resync_sqlite.c
            write_pg.c write_pg_flush.c write_pg_parts.c write_pg_set.c pipe_pg.c resync_pg.c
            adopt.c adopt_pg.c)
target_include_directories(qs_store_lib PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(qs_store_lib PUBLIC qs_storedb quietstate)
# The pipeline: a group commits on its own thread while the next is decoded
# (committer.h, docs/performance.md "The pipeline").
find_package(Threads REQUIRED)
target_sources(qs_store_lib PRIVATE commit.c committer.c)
# store.db's WAL checkpoints beside the commit thread (checkpointer.h).
target_sources(qs_store_lib PRIVATE checkpointer.c)
qs_unit_test(test_checkpointer test_checkpointer.c)
target_link_libraries(test_checkpointer PRIVATE qs_store_lib)
# Store protection: per-client quotas and the disk reserve (docs/quotas.md).
target_sources(qs_store_lib PRIVATE quota.c quota_topics.c quota_topics_pg.c headroom.c)
# qsctl import: an export of the model system through the write path (docs/import.md).
target_sources(qs_store_lib PRIVATE import.c import_read.c)
target_link_libraries(qs_store_lib PUBLIC Threads::Threads)

# qs-bench's private access to store.db (qs_store_bench.h): only bench/ links it.
add_library(qs_store_bench STATIC qs_store_bench.c bench_history.c)
target_link_libraries(qs_store_bench PUBLIC qs_store_lib)

add_executable(qs-store main.c)
target_link_libraries(qs-store PRIVATE qs_store_lib)

qs_unit_test(test_ingest test_ingest.c)
target_link_libraries(test_ingest PRIVATE qs_store_lib qs_storedb)

# The real daemon against a stand-in broker (ROUTER with the broker key).
qs_unit_test(test_store_daemon test_store_daemon.c)
target_link_libraries(test_store_daemon PRIVATE qs_storedb)
target_compile_definitions(test_store_daemon PRIVATE QS_STORE_BIN="$<TARGET_FILE:qs-store>")
add_dependencies(test_store_daemon qs-store)

qs_unit_test(test_quota test_quota.c)
target_link_libraries(test_quota PRIVATE qs_store_lib)

qs_unit_test(test_storedb test_storedb.c)
target_link_libraries(test_storedb PRIVATE qs_storedb)

qs_unit_test(test_store_bench test_store_bench.c)
target_link_libraries(test_store_bench PRIVATE qs_store_bench)

# The write path on a real PostgreSQL server: built here, run by
# tests/pg/test_write_pg.sh (which starts the server), registered in tests/pg.
add_executable(test_write_pg test_write_pg.c)
target_include_directories(test_write_pg PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(test_write_pg PRIVATE qs_store_lib qs_storedb quietstate)
target_sources(qs_storedb PRIVATE resync_request.c resync_status.c)
# Named groups of machines (qs_store_group.h, docs/groups.md), both engines.
target_sources(qs_storedb PRIVATE groups.c groups_pg.c)

# The resync rules (docs/resync.md), engine-free.
qs_unit_test(test_resync test_resync.c)
target_link_libraries(test_resync PRIVATE qs_store_lib)

# Groups of machines (qs_store_group.h) on SQLite; tests/pg/read.cmake runs
# the same binary on PostgreSQL (pg_group).
qs_unit_test(test_group test_group.c)
target_link_libraries(test_group PRIVATE qs_storedb)
target_sources(qs_storedb PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/adopt_read.c)   # qsctl enroll --replace (qs_store_adopt.h)
