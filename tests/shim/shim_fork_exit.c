/* shim_fork_exit.c — a process that forks in a loop while it exits, under the shim.
 *
 * Each round is a child of this driver (its own process group): three threads allocate and
 * free, a fourth forks in a loop (each child allocates, frees and _exits) and the main thread
 * calls exit() after a few milliseconds that vary with the round, so that exit's destructors
 * meet forks in every phase. Run preloaded or linked with TALC_CONF=stats=text (the statistics
 * writer takes the registry lock during exit). A round must exit with status 0 within
 * 20 s, and every process it forked must be gone by then: the driver is their subreaper and
 * reaps them all. Native only (tests/shim/CMakeLists.txt says why).
 *
 * Until 2026-12-07 the fork handlers were dropped by exit's __cxa_finalize while the forker
 * ran (arenas/fork.c): 3 to 7 rounds in 100 aborted in glibc ("array index 0 not less than
 * array length 0") or hung with the registry lock held. At 5 %, 200 rounds all pass with a
 * probability of 3e-5; SHIM_FORK_EXIT_ROUNDS sets the count.
 *
 * Concurrency: the driver is one thread; each round runs five.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { CHURN_THREADS = 3, WAIT_S = 20 }; /* WAIT_S: seconds a round may take */

static void *churn(void *arg)
{
    unsigned salt = (unsigned)(uintptr_t)arg;
    for (;;) {
        void *p[32];
        for (unsigned i = 0; i < 32; i++)
            p[i] = malloc(16 + (i * 37 + salt) % 2000);
        for (unsigned i = 0; i < 32; i++)
            free(p[i]);
    }
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    for (;;) {
        pid_t pid = fork();
        if (pid == 0) {
            char *q = malloc(100);
            if (!q)
                _exit(3);
            memset(q, 7, 100);
            free(q);
            _exit(0);
        }
        if (pid > 0)
            (void)waitpid(pid, NULL, 0);
    }
    return NULL;
}

/* One round: never returns. */
static void round_run(unsigned round)
{
    (void)setpgid(0, 0);
    pthread_t t;
    for (unsigned i = 0; i < CHURN_THREADS; i++)
        if (pthread_create(&t, NULL, churn, (void *)(uintptr_t)(i * 101)) != 0)
            _exit(4);
    if (pthread_create(&t, NULL, forker, NULL) != 0)
        _exit(4);
    struct timespec ts = {0, (long)(2 + round % 19) * 1000000L};
    (void)nanosleep(&ts, NULL);
    exit(0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reaps the round and, as their subreaper, everything it forked. Returns 0, or 1 with a line
 * saying what went wrong. */
static int round_check(unsigned round, pid_t pid)
{
    double end = now_s() + WAIT_S;
    int status = 0, round_done = 0;
    for (;;) {
        int st;
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w == pid) {
            round_done = 1;
            status = st;
        } else if (w < 0 && errno == ECHILD) {
            break; /* the round and all its descendants are reaped */
        } else if (w == 0) {
            if (now_s() > end) {
                printf("shim_fork_exit: round %u: %s after %d s\n", round,
                       round_done ? "a forked child still runs" : "the process still runs", WAIT_S);
                (void)kill(-pid, SIGKILL);
                while (waitpid(-1, NULL, 0) > 0)
                    ;
                return 1;
            }
            struct timespec ts = {0, 1000000L};
            (void)nanosleep(&ts, NULL);
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("shim_fork_exit: round %u: %s %d\n", round,
               WIFSIGNALED(status) ? "killed by signal" : "exit status",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        return 1;
    }
    return 0;
}

int main(void)
{
    const char *env = getenv("SHIM_FORK_EXIT_ROUNDS");
    unsigned rounds = env ? (unsigned)strtoul(env, NULL, 10) : 200;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("shim_fork_exit: PR_SET_CHILD_SUBREAPER");
        return 2;
    }
    unsigned failed = 0;
    for (unsigned r = 0; r < rounds; r++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("shim_fork_exit: fork");
            return 2;
        }
        if (pid == 0)
            round_run(r);
        failed += (unsigned)round_check(r, pid);
    }
    printf("shim_fork_exit: %u of %u rounds failed\n", failed, rounds);
    return failed != 0;
}
