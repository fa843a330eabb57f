/* tests/lite/include/criterion/criterion.h — talc's own runner for the part of Criterion's
 * API the suites under tests/ use, for builds where Criterion cannot run: a target Debian
 * builds no Criterion for (armhf), and ThreadSanitizer (Criterion issue #274). Selected with
 * TALC_TEST_RUNNER=lite (cmake/TalcTests.cmake); tests/lite/runner.c has main().
 *
 * The subset: Test(suite, name, ...) and TestSuite(suite, ...) with .init, .fini, .signal,
 * .timeout, .exit_code and .disabled; cr_assert, cr_assert_not, cr_assert_fail, the
 * comparisons (_eq, _neq, _lt, _leq, _gt, _geq, _null, _not_null, _str_eq), each with an
 * optional printf-style message; cr_skip_test; cr_log_info. Each test runs in a child of
 * the runner (fork, no exec); a failed assertion prints where and why and ends that child.
 * Anything else of Criterion's is absent on purpose: a suite using it does not compile.
 *
 * Concurrency: tests register from constructors, before main; assertions may be made from
 * any thread of the test's process (a failure ends the whole process).
 */
#ifndef TALC_TEST_LITE_CRITERION_H
#define TALC_TEST_LITE_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A test's or a suite's options, in Criterion's field names. */
struct tl_config {
    int tl_none;        /* a first member, so that Test(s, n) with no options still compiles */
    void (*init)(void); /* before the test body */
    void (*fini)(void); /* after it, when it returns */
    int signal;         /* the test passes only if it dies of this signal */
    int exit_code;      /* the exit status it must end with (0 when it returns) */
    double timeout;     /* seconds; 0 = none */
    bool disabled;      /* registered, not run */
    const char *description;
};

struct tl_test {
    const char *suite, *name;
    void (*body)(void);
    struct tl_config cfg;
    struct tl_test *next;
};

void tl_register(struct tl_test *t);
void tl_register_suite(const char *suite, const struct tl_config *cfg);
_Noreturn void tl_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
_Noreturn void tl_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define Test(suite, name, ...)                                                                     \
    static void tl_body_##suite##_##name(void);                                                    \
    static struct tl_test tl_test_##suite##_##name = {                                             \
        #suite, #name, tl_body_##suite##_##name, {.tl_none = 0, __VA_ARGS__}, NULL};               \
    __attribute__((constructor)) static void tl_reg_##suite##_##name(void)                         \
    {                                                                                              \
        tl_register(&tl_test_##suite##_##name);                                                    \
    }                                                                                              \
    static void tl_body_##suite##_##name(void)

#define TestSuite(suite, ...)                                                                      \
    __attribute__((constructor)) static void tl_suite_##suite(void)                                \
    {                                                                                              \
        static const struct tl_config cfg = {.tl_none = 0, __VA_ARGS__};                           \
        tl_register_suite(#suite, &cfg);                                                           \
    }

/* The message, when given, is a string literal: " " makes the format never empty. */
#define TL_CHECK(cond, expr, ...)                                                                  \
    do {                                                                                           \
        if (!(cond))                                                                               \
            tl_fail(__FILE__, __LINE__, expr, " " __VA_ARGS__);                                    \
    } while (0)

#define cr_assert(c, ...) TL_CHECK(c, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) TL_CHECK(!(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_fail(...) tl_fail(__FILE__, __LINE__, "cr_assert_fail", " " __VA_ARGS__)
#define cr_assert_eq(a, b, ...) TL_CHECK((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) TL_CHECK((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) TL_CHECK((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) TL_CHECK((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) TL_CHECK((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) TL_CHECK((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) TL_CHECK((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) TL_CHECK((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) TL_CHECK(strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_skip_test(...) tl_skip(" " __VA_ARGS__)
#define cr_log_info(...) tl_log(__VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* TALC_TEST_LITE_CRITERION_H */
