/* atfork_first.c — fork handlers that a program registers before its first use of libtalc may
 * allocate from it, as they may with glibc's malloc.
 *
 * glibc runs prepare handlers in the reverse order of registration and the others in order.
 * libtalc registers its handlers at load time (arenas/fork.c), so a program's come after
 * them: its prepare allocates before libtalc's takes the locks, its child handler after
 * libtalc's re-initialised them. Until 2026-12-07 libtalc registered at its first arena,
 * after this program's handlers, and the fork hung in 10 runs of 10 with every signal blocked
 * (a review's program). The scenario runs in a child of this program, which kills it after
 * 30 s: a hang is a failure, not a test that never ends. The handlers' blocks are past the
 * thread cache, so they take the stripe locks. Exit status 0 iff the scenario's fork and its
 * child succeeded.
 *
 * Concurrency: one thread per process.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "talc/arena.h"

enum { BLOCK = 200000, WAIT_S = 30 };

static void use_talc(void)
{
    char *p = talc_arena_malloc(talc_arena_default(), BLOCK);
    if (!p)
        _exit(3);
    memset(p, 1, BLOCK);
    talc_free(p);
}

static int scenario(void)
{
    if (pthread_atfork(use_talc, NULL, use_talc) != 0)
        return 2;
    use_talc(); /* the first use, after the registration */
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 4;
}

int main(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(scenario());
    for (int ms = 0; ms < WAIT_S * 1000; ms++) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
            printf("atfork_first: %s (status %d)\n", ok ? "ok" : "FAILED", st);
            return !ok;
        }
        struct timespec ts = {0, 1000000L};
        (void)nanosleep(&ts, NULL);
    }
    (void)kill(pid, SIGKILL); /* it blocked every signal but this one */
    (void)waitpid(pid, NULL, 0);
    printf("atfork_first: FAILED: the fork hung (%d s)\n", WAIT_S);
    return 1;
}
