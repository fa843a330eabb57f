/* trim_stall.c — how long talc_arena_trim keeps another thread of the same stripe waiting.
 *
 *   trim_stall [chunks [trims]]                      (defaults 100000, 3)
 *
 * One arena with one stripe. The main thread fragments it: `chunks` blocks of 8 KiB, each
 * followed by a 32-byte block that stays, every page of the 8 KiB blocks written; then it
 * frees the 8 KiB blocks (free chunks of two whole pages each, which a trim decommits). A
 * worker thread then allocates and frees 64 bytes in a loop and records the longest time
 * between two of its iterations, while the main thread calls talc_arena_trim `trims` times.
 * Prints one line per trim and one for the worker:
 *   TRIM i=.. bytes=.. ms=..
 *   STALL worst_ms=.. iterations=..
 * Not part of `make bench`: docs/arenas.md, "Trimming", has its figures and the command.
 *
 * Threading rules: two threads; the worker's figures are read after it is joined.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "talc/arena.h"

static talc_arena_t *ts_arena;
static atomic_int ts_stop, ts_started;
static double ts_worst;
static unsigned long ts_iterations;

static double ts_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *ts_worker(void *unused)
{
    (void)unused;
    double last = ts_now();
    atomic_store(&ts_started, 1);
    while (!atomic_load(&ts_stop)) {
        void *p = talc_arena_malloc(ts_arena, 64);
        if (!p)
            abort();
        talc_free(p);
        double t = ts_now();
        if (t - last > ts_worst)
            ts_worst = t - last;
        last = t;
        ts_iterations++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int trims = argc > 2 ? atoi(argv[2]) : 3;
    talc_arena_config_t c = talc_arena_config_default("trim-stall");
    c.stripes = 1;
    ts_arena = talc_arena_create(&c);
    void **big = calloc(n, sizeof *big), **pin = calloc(n, sizeof *pin);
    if (!ts_arena || !big || !pin)
        return 1;
    for (size_t i = 0; i < n; i++) {
        big[i] = talc_arena_malloc(ts_arena, 8192);
        pin[i] = talc_arena_malloc(ts_arena, 32);
        if (!big[i] || !pin[i])
            return 1;
        memset(big[i], 1, 8192);
    }
    for (size_t i = 0; i < n; i++)
        talc_free(big[i]);
    pthread_t w;
    if (pthread_create(&w, NULL, ts_worker, NULL) != 0)
        return 1;
    while (!atomic_load(&ts_started))
        ;
    for (int i = 0; i < trims; i++) {
        double t0 = ts_now();
        size_t bytes = talc_arena_trim(ts_arena);
        printf("TRIM i=%d bytes=%zu ms=%.2f\n", i, bytes, (ts_now() - t0) * 1e3);
    }
    atomic_store(&ts_stop, 1);
    pthread_join(w, NULL);
    printf("STALL worst_ms=%.2f iterations=%lu\n", ts_worst * 1e3, ts_iterations);
    for (size_t i = 0; i < n; i++)
        talc_free(pin[i]);
    free(big);
    free(pin);
    return talc_arena_destroy(ts_arena, 0) == 0 ? 0 : 1;
}
