# TalcInstallPc.cmake — the install step of talc.pc (install(SCRIPT), CMakeLists.txt).
#
# The file as configured finds its prefix from where it lies (${pcfiledir}), so that an install
# tree can be moved. Installed under the /usr prefix, it names /usr instead: pkg-config leaves
# the system directories (-I/usr/include, -L of the system libdir) out of its output only when
# they are spelt as such, and a ${pcfiledir}/../../.. path put the system libdir first on every
# consumer's link line (found by a review, 2026-12-07). The prefix is the install's own, here at
# install time (`cmake --install --prefix /usr` included), not the configured one.
#
# In: TALC_PC_BUILT (the configured file), TALC_PC_DIR (its destination: relative to the prefix,
# or absolute). DESTDIR and the install manifest are file(INSTALL)'s.
file(READ "${TALC_PC_BUILT}" talc_pc)
string(REGEX REPLACE "/+$" "" talc_pc_prefix "${CMAKE_INSTALL_PREFIX}")
if(talc_pc_prefix STREQUAL "/usr")
  string(REGEX REPLACE "^prefix=\\\${pcfiledir}[^\n]*" "prefix=/usr" talc_pc "${talc_pc}")
endif()
get_filename_component(talc_pc_stage "${TALC_PC_BUILT}" DIRECTORY)
set(talc_pc_stage "${talc_pc_stage}/pc-install")
file(WRITE "${talc_pc_stage}/talc.pc" "${talc_pc}")
if(IS_ABSOLUTE "${TALC_PC_DIR}")
  set(talc_pc_dest "${TALC_PC_DIR}")
else()
  set(talc_pc_dest "${CMAKE_INSTALL_PREFIX}/${TALC_PC_DIR}")
endif()
file(INSTALL DESTINATION "${talc_pc_dest}" TYPE FILE FILES "${talc_pc_stage}/talc.pc")
