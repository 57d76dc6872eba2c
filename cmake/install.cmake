# install.cmake - every `cmake --install` rule of the project, in one place.
#
# Included once by the top CMakeLists.txt after all program targets exist.
# Layout (GNUInstallDirs; docs/install.md lists the -D options):
#   bin/   qsctl, qs-producer              (people and endpoint agents run them)
#   sbin/  qs-broker, qs-store, qs-retention, qs-web   (daemons, run by systemd)
#   share/man/man1, man8                   (generated from man/*.scd)
#   share/doc/quietstate/quietstate.conf.example
#   share/quietstate/static/               (qs-web's dashboard files, when present)
#   QS_SYSTEMD_UNIT_DIR (default PREFIX/lib/systemd/system)/qs-*.service
include(GNUInstallDirs)
include(${CMAKE_CURRENT_LIST_DIR}/man.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/units.cmake)

install(TARGETS qsctl qs-producer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS qs-broker qs-store qs-retention qs-web
        RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

foreach(page ${QS_MAN_PAGES})
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

if(QS_INSTALL_UNITS)
  install(FILES ${QS_UNIT_FILES} DESTINATION ${QS_UNIT_DEST})
endif()

install(FILES ${CMAKE_SOURCE_DIR}/dist/quietstate.conf.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# qs-web's dashboard (web/static/), when this tree has one.
set(QS_WEB_STATIC_DIR "${CMAKE_INSTALL_DATADIR}/quietstate/static" CACHE STRING
    "Where the dashboard's static files go, relative to the prefix")
if(EXISTS ${CMAKE_SOURCE_DIR}/web/static)
  install(DIRECTORY ${CMAKE_SOURCE_DIR}/web/static/ DESTINATION ${QS_WEB_STATIC_DIR})
endif()

include(${CMAKE_CURRENT_LIST_DIR}/ship_tests.cmake)
