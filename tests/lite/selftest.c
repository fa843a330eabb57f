/* tests/lite/selftest.c — the lite runner's own test: suite "ok" must pass as a whole (with
 * one skip), and every test of suite "bad" must be reported as failed or crashed, so that a
 * suite run by the lite runner cannot pass by mistake (also by an exit(0) before the test's
 * end). tests/lite/CMakeLists.txt checks the runner's exit status and its report lines
 * (expect.cmake); empty.c is a suite without tests, which must not pass either.
 *
 * Concurrency: one test per child process; bad/fail_in_thread asserts from a second thread.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int ok_state;
static void ok_init(void) { ok_state = 1; }
static void ok_fini(void)
{
    /* Runs after the body: a wrong state here must fail the test too. */
    if (ok_state != 2)
        _exit(9);
}

TestSuite(ok, .init = ok_init);

Test(ok, assertions_that_hold)
{
    int x = 3;
    const char *s = "arena";
    cr_assert(x == 3);
    cr_assert_not(x == 4, "x is %d", x);
    cr_assert_eq(x, 3);
    cr_assert_neq(x, 4);
    cr_assert_lt(x, 4);
    cr_assert_leq(x, 3);
    cr_assert_gt(x, 2);
    cr_assert_geq(x, 3, "with a message and %s", "an argument");
    cr_assert_null(NULL);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "arena");
    cr_log_info("logging works (%d)", x);
}

Test(ok, suite_init_ran_and_fini_checks, .fini = ok_fini)
{
    cr_assert_eq(ok_state, 1, "the suite's .init runs first");
    ok_state = 2;
}

Test(ok, expected_signal, .signal = SIGABRT) { abort(); }
Test(ok, expected_exit_code, .exit_code = 3) { exit(3); }
Test(ok, skipped) { cr_skip_test("skipped on purpose (%d)", 1); }
Test(ok, within_timeout, .timeout = 5) { usleep(1000); }
Test(ok, disabled_is_not_run, .disabled = true) { abort(); }

Test(bad, assertion) { cr_assert_eq(1 + 1, 3, "must fail"); }
Test(bad, assert_fail) { cr_assert_fail("must fail"); }
Test(bad, missing_signal, .signal = SIGABRT) {}
Test(bad, assertion_before_expected_signal, .signal = SIGABRT)
{
    cr_assert(0);
    abort();
}
Test(bad, wrong_signal, .signal = SIGSEGV) { abort(); }
Test(bad, crash) { raise(SIGUSR1); } /* no sanitizer handles it */
Test(bad, exit_status) { exit(4); }
Test(bad, timeout, .timeout = 1) { sleep(30); }

static void *fail_thread(void *arg)
{
    (void)arg;
    cr_assert_str_eq("a", "b");
    return NULL;
}

Test(bad, fail_in_thread)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fail_thread, NULL), 0);
    pthread_join(t, NULL);
}

Test(bad, fini_fails, .fini = ok_fini) {}

/* The code under test ends the process with status 0: its end was never reached. */
Test(bad, exits_early) { exit(0); }
