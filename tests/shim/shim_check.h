/* shim_check.h — the non-fatal check macro of the shim's plain test programs (which cannot
 * use Criterion: they run under LD_PRELOAD and in constructors). A failed CHECK prints one
 * line and counts; main() exits non-zero when `failures` is not 0. Single-threaded use, or
 * checks from threads that the main thread joins before reading `failures`. */
#ifndef TALC_TEST_SHIM_CHECK_H
#define TALC_TEST_SHIM_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#endif /* TALC_TEST_SHIM_CHECK_H */
