# TalcInstallPc.cmake — the install step of talc.pc (install(SCRIPT), CMakeLists.txt).
#
# The file as configured finds its prefix from where it lies (${pcfiledir}), so that an install
# tree can be moved. Installed for the /usr prefix, it names /usr instead: pkg-config leaves
# the system directories (-I/usr/include, -L of the system libdir) out of its output only when
# they are spelt as such, and a ${pcfiledir}/../../.. path put the system libdir first on every
# consumer's link line (found by a review, 2026-12-07). The prefix the files are for is the
# install's own, known here at install time (`cmake --install --prefix /usr` included), or,
# with a staging prefix (CMAKE_STAGING_PREFIX: installed in one place, run from another), the
# configured CMAKE_INSTALL_PREFIX.
#
# In: TALC_PC_BUILT (the configured file), TALC_PC_DIR (its destination: relative to the prefix,
# or absolute), TALC_PC_STAGING and TALC_PC_RUN_PREFIX (the configured staging and install
# prefixes). The file is written, not copied with file(INSTALL): that skips a file whose time
# matches to the second, and two installs of different prefixes in one second left the first
# one's (a review). DESTDIR and the install manifest are handled as file(INSTALL) does.
file(READ "${TALC_PC_BUILT}" talc_pc)
if(TALC_PC_STAGING)
  set(talc_pc_prefix "${TALC_PC_RUN_PREFIX}")
else()
  set(talc_pc_prefix "${CMAKE_INSTALL_PREFIX}")
endif()
get_filename_component(talc_pc_prefix "${talc_pc_prefix}" ABSOLUTE) # /usr/ and /usr/. too
if(talc_pc_prefix STREQUAL "/usr")
  string(REGEX REPLACE "^prefix=\\\${pcfiledir}[^\n]*" "prefix=/usr" talc_pc "${talc_pc}")
endif()
if(IS_ABSOLUTE "${TALC_PC_DIR}")
  set(talc_pc_file "${TALC_PC_DIR}/talc.pc")
else()
  set(talc_pc_file "${CMAKE_INSTALL_PREFIX}/${TALC_PC_DIR}/talc.pc")
endif()
message(STATUS "Installing: $ENV{DESTDIR}${talc_pc_file}")
file(WRITE "$ENV{DESTDIR}${talc_pc_file}" "${talc_pc}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${talc_pc_file}")
