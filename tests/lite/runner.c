/* tests/lite/runner.c — main() of a suite built with the lite runner (TALC_TEST_RUNNER=lite;
 * the API is in include/criterion/criterion.h): runs each registered test in a forked child,
 * up to -j of them at once, and judges it by how the child ends. Options, as Criterion's:
 * --verbose[=n] (a line per test; failures are always printed), -j<n> / -j <n> / --jobs=<n>,
 * --filter=<glob> / --filter <glob> over "suite/name". Exit status 0 if no test failed or
 * crashed, 1 otherwise or when no test ran (none registered, or a filter that matches none),
 * 2 on a bad option.
 *
 * Verdicts: a child that returns from its test passes when it exits with .exit_code (0);
 * one that dies passes only if .signal names its signal; a .timeout ends it with SIGALRM
 * (reported as a timeout). A failed assertion or a skip is also written to a shared status
 * byte, so the verdict does not depend on an exit code a test could produce by itself; so is
 * the end of the test and its fini functions, so a child that exits with status 0 before
 * them (an exit(0) in the code under test) fails.
 *
 * Concurrency: the runner is one thread; registration happens in constructors before main;
 * tl_fail and tl_skip may be called from any thread of a test's child.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { TL_RUNNING = 0, TL_FAILED = 1, TL_SKIPPED = 2, TL_DONE = 3 };
#define TL_MAX_SUITES 64
#define TL_MAX_JOBS 64

static struct tl_test *tl_tests;
static size_t tl_ntests;
static struct {
    const char *name;
    const struct tl_config *cfg;
} tl_suites[TL_MAX_SUITES];
static size_t tl_nsuites;
static volatile unsigned char *tl_status_byte; /* the running child's shared status byte */
static const struct tl_test *tl_current;

void tl_register(struct tl_test *t)
{
    t->next = tl_tests;
    tl_tests = t;
    tl_ntests++;
}

void tl_register_suite(const char *suite, const struct tl_config *cfg)
{
    if (tl_nsuites == TL_MAX_SUITES) {
        fprintf(stderr, "lite runner: more than %d TestSuite() declarations\n", TL_MAX_SUITES);
        abort();
    }
    tl_suites[tl_nsuites].name = suite;
    tl_suites[tl_nsuites++].cfg = cfg;
}

static const struct tl_config *tl_suite_config(const char *suite)
{
    for (size_t i = 0; i < tl_nsuites; i++)
        if (strcmp(tl_suites[i].name, suite) == 0)
            return tl_suites[i].cfg;
    return NULL;
}

__attribute__((format(printf, 2, 0))) static void tl_vprint(const char *tag, const char *fmt,
                                                            va_list ap)
{
    const char *suite = tl_current ? tl_current->suite : "?";
    const char *name = tl_current ? tl_current->name : "?";
    flockfile(stderr);
    fprintf(stderr, "[%s] %s::%s:", tag, suite, name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

_Noreturn void tl_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    if (tl_status_byte)
        *tl_status_byte = TL_FAILED;
    fprintf(stderr, "[----] %s:%d: assertion failed: %s\n", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    tl_vprint("----", fmt, ap);
    va_end(ap);
    fflush(NULL);
    _exit(1);
}

_Noreturn void tl_skip(const char *fmt, ...)
{
    if (tl_status_byte)
        *tl_status_byte = TL_SKIPPED;
    va_list ap;
    va_start(ap, fmt);
    tl_vprint("SKIP", fmt, ap);
    va_end(ap);
    fflush(NULL);
    _exit(0);
}

void tl_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tl_vprint("LOG ", fmt, ap);
    va_end(ap);
}

/* ---- The child ----------------------------------------------------------------------------*/

static _Noreturn void tl_run_child(const struct tl_test *t, volatile unsigned char *status)
{
    tl_current = t;
    tl_status_byte = status;
    const struct tl_config *s = tl_suite_config(t->suite);
    if (t->cfg.timeout > 0) {
        unsigned secs = (unsigned)t->cfg.timeout;
        alarm(secs + ((double)secs < t->cfg.timeout));
    }
    if (s && s->init)
        s->init();
    if (t->cfg.init)
        t->cfg.init();
    t->body();
    if (t->cfg.fini)
        t->cfg.fini();
    if (s && s->fini)
        s->fini();
    /* Unless a thread of the test failed it meanwhile (tl_fail then exits with status 1). */
    __sync_bool_compare_and_swap(status, TL_RUNNING, TL_DONE);
    exit(0); /* atexit handlers and destructors run, as at the end of any process */
}

/* ---- The parent ---------------------------------------------------------------------------*/

struct tl_job {
    pid_t pid;
    size_t index;
    struct timespec start;
};

static struct {
    unsigned tested, passed, failed, crashed, skipped;
} tl_sum;

static double tl_elapsed(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static int tl_cmp(const void *x, const void *y)
{
    const struct tl_test *a = *(const struct tl_test *const *)x;
    const struct tl_test *b = *(const struct tl_test *const *)y;
    int c = strcmp(a->suite, b->suite);
    return c ? c : strcmp(a->name, b->name);
}

/* Judge test t from its wait status and its shared status byte; print the verdict. */
static void tl_judge(const struct tl_test *t, int ws, unsigned char st, double secs, int verbose)
{
    char why[128] = "";
    const char *tag = "PASS";
    tl_sum.tested++; /* a test skipped from inside counts as tested and as skipped */
    if (st == TL_SKIPPED && WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
        tag = "SKIP";
        tl_sum.skipped++;
    } else if (st == TL_FAILED) {
        tag = "FAIL";
    } else if (WIFSIGNALED(ws)) {
        int sig = WTERMSIG(ws);
        if (sig != t->cfg.signal) {
            tag = "CRASH";
            if (sig == SIGALRM && t->cfg.timeout > 0)
                snprintf(why, sizeof why, " timed out after %.1f s", t->cfg.timeout);
            else
                snprintf(why, sizeof why, " killed by signal %d (%s)", sig, strsignal(sig));
        }
    } else if (t->cfg.signal) {
        tag = "FAIL";
        snprintf(why, sizeof why, " exited with status %d; expected signal %d (%s)",
                 WEXITSTATUS(ws), t->cfg.signal, strsignal(t->cfg.signal));
    } else if (WEXITSTATUS(ws) != t->cfg.exit_code) {
        tag = "FAIL";
        snprintf(why, sizeof why, " exited with status %d; expected %d", WEXITSTATUS(ws),
                 t->cfg.exit_code);
    } else if (WEXITSTATUS(ws) == 0 && st != TL_DONE) {
        tag = "FAIL";
        snprintf(why, sizeof why, " exited with status 0 before the test and its fini ended");
    }
    if (tag[0] == 'P')
        tl_sum.passed++;
    else if (tag[0] == 'F')
        tl_sum.failed++;
    else if (tag[0] == 'C')
        tl_sum.crashed++;
    if (verbose || (tag[0] != 'P' && tag[0] != 'S'))
        fprintf(stderr, "[%s] %s::%s: (%.2fs)%s\n", tag, t->suite, t->name, secs, why);
}

static int tl_parse_jobs(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    return (*s && !*end && n > 0 && n <= TL_MAX_JOBS) ? (int)n : -1;
}

static int tl_usage(const char *arg)
{
    fprintf(stderr,
            "lite runner: unknown or malformed option '%s' (known: --verbose[=n], -j<n>, "
            "--jobs=<n>, --filter=<glob>)\n",
            arg);
    return 2;
}

int main(int argc, char **argv)
{
    int verbose = 0, jobs = 1;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--verbose") == 0 || strncmp(a, "--verbose=", 10) == 0)
            verbose = 1;
        else if (strcmp(a, "-j") == 0 && i + 1 < argc)
            jobs = tl_parse_jobs(argv[++i]);
        else if (strncmp(a, "-j", 2) == 0 && a[2])
            jobs = tl_parse_jobs(a + 2);
        else if (strncmp(a, "--jobs=", 7) == 0)
            jobs = tl_parse_jobs(a + 7);
        else if (strcmp(a, "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
        else if (strncmp(a, "--filter=", 9) == 0)
            filter = a + 9;
        else
            return tl_usage(a);
        if (jobs < 0)
            return tl_usage(a);
    }

    struct tl_test **list = calloc(tl_ntests ? tl_ntests : 1, sizeof *list);
    volatile unsigned char *status =
        mmap(NULL, tl_ntests + 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (!list || status == MAP_FAILED) {
        perror("lite runner");
        return 1;
    }
    size_t n = 0;
    for (struct tl_test *t = tl_tests; t; t = t->next)
        list[n++] = t;
    qsort(list, n, sizeof *list, tl_cmp);

    struct tl_job run[TL_MAX_JOBS];
    int running = 0;
    size_t next = 0;
    while (next < n || running > 0) {
        if (next < n && running < jobs) {
            const struct tl_test *t = list[next];
            char full[512];
            snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
            bool chosen = !filter || fnmatch(filter, full, 0) == 0;
            if (!chosen || t->cfg.disabled) {
                if (chosen) {
                    tl_sum.skipped++;
                    if (verbose)
                        fprintf(stderr, "[SKIP] %s::%s: disabled\n", t->suite, t->name);
                }
                next++;
                continue;
            }
            fflush(NULL);
            struct tl_job *j = &run[running];
            j->index = next;
            clock_gettime(CLOCK_MONOTONIC, &j->start);
            j->pid = fork();
            if (j->pid < 0) {
                perror("lite runner: fork");
                return 1;
            }
            if (j->pid == 0)
                tl_run_child(t, &status[next]);
            running++;
            next++;
            continue;
        }
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            perror("lite runner: waitpid");
            return 1;
        }
        for (int k = 0; k < running; k++) {
            if (run[k].pid != pid)
                continue;
            size_t i = run[k].index;
            tl_judge(list[i], ws, status[i], tl_elapsed(&run[k].start), verbose);
            run[k] = run[--running];
            break;
        }
    }
    fprintf(stderr,
            "[====] Synthesis: Tested: %u | Passing: %u | Failing: %u | Crashing: %u | "
            "Skipped: %u\n",
            tl_sum.tested, tl_sum.passed, tl_sum.failed, tl_sum.crashed, tl_sum.skipped);
    free(list);
    if (tl_sum.tested + tl_sum.skipped == 0) { /* a renamed or lost test must not pass */
        if (filter)
            fprintf(stderr, "lite runner: no test matches --filter %s\n", filter);
        else
            fprintf(stderr, "lite runner: no test registered\n");
        return 1;
    }
    return tl_sum.failed || tl_sum.crashed ? 1 : 0;
}
