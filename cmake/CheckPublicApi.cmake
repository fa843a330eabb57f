# CheckPublicApi.cmake — ctest public_api (cmake -P):
#   1. every header in include/talc/ is listed in TALC_PUBLIC_HEADERS (so it is installed and
#      checked), and
#   2. the shared library's dynamic symbol table defines exactly the functions that the public
#      headers declare with TALC_API.
#   -DNM=<nm> -DLIBRARY=<libtalc.so> -DSOURCE_DIR=<repo> -DHEADERS=<include/talc/x.h|...>
cmake_minimum_required(VERSION 3.25)

string(REPLACE "|" ";" headers "${HEADERS}")
file(GLOB present RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/include/talc/*.h")
set(unlisted ${present})
list(REMOVE_ITEM unlisted ${headers})
if(unlisted)
  list(JOIN unlisted " " u)
  message(FATAL_ERROR "public_api: not in TALC_PUBLIC_HEADERS (CMakeLists.txt): ${u}")
endif()

# Declared: every `TALC_API <type> talc_name(` in the public headers.
set(declared "")
foreach(h IN LISTS headers)
  file(READ "${SOURCE_DIR}/${h}" text)
  string(REGEX MATCHALL "TALC_API[^;({}#]*[ *]talc_[a-z0-9_]+[ ]*\\(" decls "${text}")
  foreach(d IN LISTS decls)
    string(REGEX MATCH "talc_[a-z0-9_]+[ ]*\\($" name "${d}")
    string(REGEX REPLACE "[ (]" "" name "${name}")
    list(APPEND declared "${name}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES declared)
list(SORT declared)
list(LENGTH declared n_declared)
if(n_declared EQUAL 0)
  message(FATAL_ERROR "public_api: found no TALC_API declarations in ${HEADERS}")
endif()

# Exported: defined global symbols of the dynamic symbol table.
execute_process(COMMAND "${NM}" -D --defined-only "${LIBRARY}"
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "public_api: ${NM} failed on ${LIBRARY}")
endif()
string(REGEX MATCHALL "[^\n]+" lines "${out}")
set(exported "")
foreach(line IN LISTS lines)
  # "<address> <type> <name>"; lower-case types are local symbols.
  if(line MATCHES "^[0-9a-fA-F]+ ([A-Z]) ([^ @]+)")
    list(APPEND exported "${CMAKE_MATCH_2}")
  endif()
endforeach()
list(SORT exported)

set(missing ${declared})
list(REMOVE_ITEM missing ${exported})
set(extra ${exported})
list(REMOVE_ITEM extra ${declared})
if(missing OR extra)
  list(JOIN missing " " m)
  list(JOIN extra " " e)
  message(FATAL_ERROR "public_api: ${LIBRARY}\n"
          "  declared TALC_API but not exported: ${m}\n"
          "  exported but not declared TALC_API: ${e}")
endif()
message(STATUS "public_api: ${n_declared} functions declared and exported, nothing else")
