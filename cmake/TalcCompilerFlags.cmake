# TalcCompilerFlags.cmake — warning sets and the sanitizer build (TALC_SANITIZE).
#
#   talc_target_warnings(<target>)   strict warnings for library, example and bench code
#   talc_test_warnings(<target>)     the same set without -Wconversion/-Wsign-conversion, which
#                                    in test code (int loop counters fed to size_t parameters,
#                                    Criterion's generic assertions) mostly flag harmless code
#
# The sanitizer flags are added to the whole build (every target of this project), because a
# sanitizer must see every object of a program. Targets that cannot take them (the bare-metal
# image) are not built in sanitizer builds.
include_guard(GLOBAL)

# Every flag here is accepted by gcc 12 and clang 14 for C; the engine was clean under all of
# them (with both compilers, -O0..-O3/-Os, x86_64 and aarch64) when they were chosen.
set(TALC_TEST_WARNINGS
    -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-align -Wstrict-prototypes
    -Wmissing-prototypes -Wmissing-declarations -Wold-style-definition -Wundef -Wvla
    -Wformat=2 -Wwrite-strings -Wredundant-decls -Wimplicit-fallthrough -Wdouble-promotion)
set(TALC_WARNINGS ${TALC_TEST_WARNINGS} -Wconversion -Wsign-conversion)
if(TALC_WERROR)
  list(APPEND TALC_WARNINGS -Werror)
  list(APPEND TALC_TEST_WARNINGS -Werror)
endif()

function(talc_target_warnings target)
  target_compile_options(${target} PRIVATE ${TALC_WARNINGS})
endfunction()

function(talc_test_warnings target)
  target_compile_options(${target} PRIVATE ${TALC_TEST_WARNINGS})
endfunction()

# ---- Sanitizers ---------------------------------------------------------------------------
# These land after CMAKE_C_FLAGS on the command line, so a -fno-sanitize=... given in
# CMAKE_C_FLAGS is overridden (toolchain.md 3.1): add exclusions to TALC_SANITIZE_FLAGS here.
if(TALC_SANITIZE STREQUAL "asan")
  set(TALC_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined)
elseif(TALC_SANITIZE STREQUAL "tsan")
  set(TALC_SANITIZE_FLAGS -fsanitize=thread)
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    # gcc warns that TSan does not model atomic_thread_fence (the seqlock's); clang's TSan
    # run is the one in make test, and the fences' pairs are relaxed atomics it sees.
    list(APPEND TALC_SANITIZE_FLAGS -Wno-tsan)
  endif()
else()
  set(TALC_SANITIZE_FLAGS "")
endif()
if(TALC_SANITIZE_FLAGS)
  add_compile_options(${TALC_SANITIZE_FLAGS} -fno-omit-frame-pointer)
  add_link_options(${TALC_SANITIZE_FLAGS})
endif()

# Environment for test processes of a sanitizer build. Leaks are reported (and caught by the
# ctest FAIL_REGULAR_EXPRESSION, since Criterion does not fail a test on a leak report).
set(TALC_SANITIZER_TEST_ENV
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
    "LSAN_OPTIONS=report_objects=1")
