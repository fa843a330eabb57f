# tests/lite/expect.cmake — run a command and check its exit status and output (ctest, via
# cmake -P; used for the lite runner's self-test).
#   -DCMD=<arg|arg|...>   the command ('|'-separated: it may hold ';' free globs)
#   -DEXIT=<n>            the exit status it must end with
#   -DMATCH=<re%%re%%...> regular expressions its output (stdout + stderr) must each match
string(REPLACE "|" ";" cmd "${CMD}")
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc STREQUAL "${EXIT}")
  message(FATAL_ERROR "exit status ${rc}, expected ${EXIT}")
endif()
string(REPLACE "%%" ";" res "${MATCH}")
foreach(re IN LISTS res)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "output does not match: ${re}")
  endif()
endforeach()
