# units.cmake - systemd units and the example configuration, with the install
# paths of this build filled in (dist/ -> build/dist/). Included by cmake/install.cmake.
set(QS_STATE_DIR "/var/lib/quietstate" CACHE PATH
    "Site home of the packaged server (QS_HOME of the units)")
set(QS_PRODUCER_DIR "/var/lib/quietstate-producer" CACHE PATH
    "Home of an endpoint's producer unit: client.profile and outbox.db")
set(QS_SYSTEMD_UNIT_DIR "" CACHE PATH
    "Where cmake --install puts the systemd units (empty: PREFIX/lib/systemd/system; the package: /lib/systemd/system)")
# Empty follows the prefix, also when the prefix changes after the first configure.
if(QS_SYSTEMD_UNIT_DIR)
  set(QS_UNIT_DEST ${QS_SYSTEMD_UNIT_DIR})
else()
  set(QS_UNIT_DEST ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
option(QS_INSTALL_UNITS "Install the systemd units" ON)

# Absolute paths the units run: the installed programs, not the build's.
set(QS_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(QS_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(QS_UNITS qs-broker qs-store qs-retention qs-web qs-producer)
set(QS_UNIT_FILES "")
foreach(u ${QS_UNITS})
  configure_file(${CMAKE_SOURCE_DIR}/dist/systemd/${u}.service.in
                 ${CMAKE_BINARY_DIR}/dist/systemd/${u}.service @ONLY)
  list(APPEND QS_UNIT_FILES ${CMAKE_BINARY_DIR}/dist/systemd/${u}.service)
endforeach()
