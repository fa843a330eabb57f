# TalcCross.cmake — what the cross toolchain files share (included by
# aarch64-linux-gnu.cmake and armhf-linux-gnueabihf.cmake; read at configure time, before
# any project code, and again by each try_compile).
#
#   talc_cross_multiarch(<gnu triplet> <CMAKE_SYSTEM_PROCESSOR>)
#
# A Linux target whose compiler and binutils are Debian's <triplet>-gcc etc., and whose
# libraries and .pc files come from Debian multiarch (/usr/lib/<triplet>): real paths, so no
# sysroot. Programs are the host's; libraries, headers and packages may be found in either.
macro(talc_cross_multiarch triplet processor)
  set(CMAKE_SYSTEM_NAME Linux)
  set(CMAKE_SYSTEM_PROCESSOR ${processor})
  set(CMAKE_LIBRARY_ARCHITECTURE ${triplet})
  set(CMAKE_C_COMPILER ${triplet}-gcc)
  set(CMAKE_AR ${triplet}-ar CACHE FILEPATH "")
  set(CMAKE_RANLIB ${triplet}-ranlib CACHE FILEPATH "")
  set(CMAKE_NM ${triplet}-nm CACHE FILEPATH "")

  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${triplet}/pkgconfig:/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_PATH} "")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
endmacro()

macro(talc_cross_sysroot triplet processor sysroot)
  talc_cross_multiarch(${triplet} ${processor})
  set(CMAKE_SYSROOT "${sysroot}")
  set(ENV{PKG_CONFIG_LIBDIR} "${sysroot}/usr/lib/${triplet}/pkgconfig:${sysroot}/usr/share/pkgconfig")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${sysroot}")
endmacro()

macro(talc_deps_dir var name)
  if(DEFINED ENV{${var}})
    set(${var} "$ENV{${var}}")
  else()
    get_filename_component(${var} "${CMAKE_CURRENT_LIST_DIR}/../.deps/${name}" ABSOLUTE)
  endif()
endmacro()
