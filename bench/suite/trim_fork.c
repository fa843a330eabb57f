/* trim_fork.c — how long malloc_trim and fork take while other threads allocate (a daemon's
 * housekeeping thread trimming beside its workers, and a fork for a helper process).
 *
 *   trim_fork [seconds [trim-period-ms]]             (defaults 2, 50)
 *
 * Two threads replace blocks of up to 600 bytes or 400 KB at random in 256 slots each, the
 * first 64 bytes of each written; a third calls malloc_trim(0) every trim-period-ms; the main
 * thread forks as often as it can (the child exits at once) for `seconds`. Under libtalc's
 * shim a fork waits for a malloc_trim in progress (both take the arenas' registry lock), so
 * the longest fork follows the longest trim. Prints one line:
 *   TRIMFORK seconds=.. trims=.. trim_worst_ms=.. forks=.. fork_worst_ms=.. malloc_from=..
 * Run by hand (docs/arenas.md, "Trimming"), under LD_PRELOAD of the allocator to measure.
 *
 * Threading rules: four threads; the figures are read after the others are joined.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sw_origin.h"

static atomic_int stop;
static double trim_worst_ms;
static unsigned trims, period_ms = 50;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *allocator(void *arg)
{
    unsigned s = (unsigned)(uintptr_t)arg;
    void *slot[256] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        for (unsigned i = 0; i < 256; i++) {
            s = s * 1103515245u + 12345u;
            free(slot[i]);
            size_t n = (s >> 8) % ((s & 1u) ? 400000u : 600u);
            slot[i] = malloc(n);
            if (slot[i])
                memset(slot[i], 3, n < 64 ? n : 64);
        }
    for (unsigned i = 0; i < 256; i++)
        free(slot[i]);
    return NULL;
}

static void *trimmer(void *arg)
{
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        double t0 = now_ms();
        malloc_trim(0);
        double d = now_ms() - t0;
        trim_worst_ms = d > trim_worst_ms ? d : trim_worst_ms;
        trims++;
        usleep(period_ms * 1000u);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    if (argc > 2)
        period_ms = (unsigned)strtoul(argv[2], NULL, 10);
    if (seconds <= 0) {
        fprintf(stderr, "usage: trim_fork [seconds [trim-period-ms]]\n");
        return 2;
    }
    pthread_t t[3];
    if (pthread_create(&t[0], NULL, allocator, (void *)(uintptr_t)1) ||
        pthread_create(&t[1], NULL, allocator, (void *)(uintptr_t)2) ||
        pthread_create(&t[2], NULL, trimmer, NULL)) {
        fprintf(stderr, "trim_fork: pthread_create failed\n");
        return 1;
    }
    double t0 = now_ms(), fork_worst_ms = 0;
    unsigned forks = 0;
    while (now_ms() - t0 < seconds * 1e3) {
        double f0 = now_ms();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        double d = now_ms() - f0;
        fork_worst_ms = d > fork_worst_ms ? d : fork_worst_ms;
        if (pid > 0) {
            (void)waitpid(pid, NULL, 0);
            forks++;
        }
    }
    atomic_store(&stop, 1);
    for (unsigned i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("TRIMFORK seconds=%.1f trims=%u trim_worst_ms=%.1f forks=%u fork_worst_ms=%.1f "
           "malloc_from=%s\n",
           seconds, trims, trim_worst_ms, forks, fork_worst_ms, sw_malloc_origin());
    return 0;
}
