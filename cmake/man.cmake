# man.cmake - the man pages: man/NAME.SECTION.scd -> build/man/NAME.SECTION with scdoc.
#
# One source per page, written once; the roff is a build product, never
# committed. tests/ship/help_man.sh checks that each page lists exactly the
# long options of the program's --help. Included by cmake/install.cmake.
file(GLOB QS_MAN_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.scd)
set(QS_MAN_DIR ${CMAKE_BINARY_DIR}/man)
set(QS_MAN_PAGES "")
foreach(src ${QS_MAN_SOURCES})
  get_filename_component(page ${src} NAME_WLE)          # qsctl-init.1
  set(out ${QS_MAN_DIR}/${page})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${QS_MAN_DIR}
    COMMAND ${SCDOC} < ${src} > ${out}
    DEPENDS ${src}
    COMMENT "scdoc ${page}"
    VERBATIM)
  list(APPEND QS_MAN_PAGES ${out})
endforeach()
add_custom_target(man ALL DEPENDS ${QS_MAN_PAGES})
