# ConsumerTest.cmake — ctest consumer_install (cmake -P): install the build into a fresh prefix,
# move that prefix elsewhere (an install tree must work where it lies), then build
# tests/consumer against it and run what was built:
#   1. as a CMake project: find_package(talc) -> talc::talc (shared) and talc::talc_static,
#      from C and (where the target has a C++ compiler) C++, in a project that has its own
#      PkgConfig::URCU (liburcu, not libtalc's liburcu-bp);
#   2. with pkg-config: cc consumer.c $(pkg-config --cflags --libs talc);
#   3. tests/consumer/subproject: the source tree added with add_subdirectory to a project
#      without a build type, which must stay without one;
#   4. tests/consumer/optional (native builds): find_package(talc QUIET) with liburcu-bp's .pc
#      out of sight must leave talc not found, not stop the configuration.
# Inputs (-D): TALC_BUILD_DIR CONSUMER_DIR WORK_DIR CONFIG C_COMPILER GENERATOR HEADERS
# ('|'-separated public headers, relative to the repository), optional
# TOOLCHAIN_FILE, EMULATOR ('|'-separated command prefix), PKG_CONFIG, SYS_PC_LIBDIR (the
# toolchain's .pc directories), SYSROOT (the toolchain's CMAKE_SYSROOT, for the compiler run by
# hand).
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(REPLACE ";" " " cmd "${ARGN}")
  message("$ ${cmd}\n${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer_install: command failed (${rc}): ${cmd}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

string(REPLACE "|" ";" emulator "${EMULATOR}")
set(prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")

# Install, then move the tree: nothing in it may name the prefix it was installed to.
run("${CMAKE_COMMAND}" --install "${TALC_BUILD_DIR}" --prefix "${WORK_DIR}/staging"
    --config "${CONFIG}")
file(RENAME "${WORK_DIR}/staging" "${prefix}")
# Exactly the public headers are installed (no private src/ header leaks into the package).
file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/include/*")
string(REPLACE "|" ";" expected "${HEADERS}")
list(SORT installed)
list(SORT expected)
if(NOT installed STREQUAL expected)
  message(FATAL_ERROR "consumer_install: installed headers\n  ${installed}\nexpected\n  ${expected}")
endif()
file(GLOB_RECURSE pc_files "${prefix}/*/talc.pc")
list(LENGTH pc_files n_pc)
if(NOT n_pc EQUAL 1)
  message(FATAL_ERROR "consumer_install: expected one installed talc.pc, found: ${pc_files}")
endif()
get_filename_component(pc_dir "${pc_files}" DIRECTORY)
get_filename_component(libdir "${pc_dir}" DIRECTORY)

# 1. CMake package.
if(TOOLCHAIN_FILE)
  set(compiler "-DCMAKE_TOOLCHAIN_FILE=${TOOLCHAIN_FILE}")
else()
  set(compiler "-DCMAKE_C_COMPILER=${C_COMPILER}")
endif()
run("${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_BUILD_TYPE=${CONFIG}" "${compiler}")
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --config "${CONFIG}")
file(READ "${WORK_DIR}/build/consumer_programs.txt" programs)
foreach(exe IN LISTS programs)
  run(${emulator} "${WORK_DIR}/build/${exe}")
  if(NOT last_output MATCHES "talc consumer: ok")
    message(FATAL_ERROR "consumer_install: ${exe} did not report success")
  endif()
endforeach()

# 2. pkg-config, against the installed talc.pc only.
if(PKG_CONFIG)
  # talc.pc first; its Requires.private (liburcu-bp) from the system's .pc files, which
  # for a cross build are the ones the toolchain file selected at configure time.
  if(SYS_PC_LIBDIR)
    set(ENV{PKG_CONFIG_LIBDIR} "${pc_dir}:${SYS_PC_LIBDIR}")
  else()
    unset(ENV{PKG_CONFIG_LIBDIR})
    set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
  endif()
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
  run("${PKG_CONFIG}" --modversion talc)
  string(STRIP "${last_output}" version)
  run("${PKG_CONFIG}" --cflags --libs talc)
  string(STRIP "${last_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  if(SYSROOT)
    list(PREPEND flags "--sysroot=${SYSROOT}")
  endif()
  run("${C_COMPILER}" -std=c11 -Wall -Wextra -Werror "${CONSUMER_DIR}/consumer.c" ${flags}
      "-Wl,-rpath,${libdir}" -o "${WORK_DIR}/consumer_pkgconfig")
  run(${emulator} "${WORK_DIR}/consumer_pkgconfig")
  if(NOT last_output MATCHES "talc consumer: ok")
    message(FATAL_ERROR "consumer_install: consumer_pkgconfig did not report success")
  endif()
endif()

# 3. The source tree as a subdirectory of a project without a build type (configured only).
get_filename_component(source_dir "${CONSUMER_DIR}/../.." ABSOLUTE)
run("${CMAKE_COMMAND}" -S "${CONSUMER_DIR}/subproject" -B "${WORK_DIR}/subproject"
    -G "${GENERATOR}" "-DTALC_SOURCE_DIR=${source_dir}" "-DCMAKE_BUILD_TYPE=" "${compiler}")

# 4. An optional find_package(talc) without liburcu-bp's .pc (configured only). Native only: a
#    toolchain file sets PKG_CONFIG_LIBDIR itself.
set(optional "")
if(NOT TOOLCHAIN_FILE)
  file(MAKE_DIRECTORY "${WORK_DIR}/no-pc")
  set(ENV{PKG_CONFIG_LIBDIR} "${WORK_DIR}/no-pc")
  set(ENV{PKG_CONFIG_PATH} "")
  run("${CMAKE_COMMAND}" -S "${CONSUMER_DIR}/optional" -B "${WORK_DIR}/optional"
      -G "${GENERATOR}" "-DCMAKE_PREFIX_PATH=${prefix}" "${compiler}")
  set(optional ", and is an optional dependency")
endif()
message(STATUS "consumer_install: talc ${version} works through find_package and pkg-config, "
        "moved after install, as a subproject${optional}")
