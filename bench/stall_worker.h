/* stall_worker.h — the worker thread of the stall benchmarks (unmap_stall.c, realloc_stall.c,
 * shrink_stall.c): it allocates and frees sw_op_size bytes (64 unless the program sets it
 * before sw_start) of one arena in a loop and records its longest gap between
 * two iterations, split into the gaps that overlapped the main thread's timed operation and
 * the others (the machine's own noise: preemption, interrupts). The main thread pauses it
 * while it prepares (sw_pause / sw_resume) and marks its timed operation (sw_mark, before and
 * after). Header-only, for one program each.
 *
 * Threading rules: the worker and the main thread; the worker's figures are read after it is
 * joined (sw_stop).
 */
#ifndef TALC_BENCH_STALL_WORKER_H
#define TALC_BENCH_STALL_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "talc/arena.h"

static talc_arena_t *sw_arena;
static atomic_int sw_stop_flag, sw_started, sw_pause_flag, sw_paused;
static atomic_uint sw_marks; /* odd while the main thread's timed operation runs */
static double sw_worst_op, sw_worst_other;
static unsigned long sw_iterations;
static pthread_t sw_thread;
static size_t sw_op_size = 64;

static inline double sw_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline void sw_op(void)
{
    void *p = talc_arena_malloc(sw_arena, sw_op_size);
    if (!p)
        abort();
    talc_free(p);
}

static inline void *sw_worker(void *unused)
{
    (void)unused;
    sw_op(); /* the first one maps the stripe's first segment: not timed */
    double last = sw_now();
    unsigned gen = atomic_load(&sw_marks);
    atomic_store(&sw_started, 1);
    while (!atomic_load(&sw_stop_flag)) {
        if (atomic_load(&sw_pause_flag)) { /* holding no block */
            atomic_store(&sw_paused, 1);
            while (atomic_load(&sw_pause_flag))
                ;
            atomic_store(&sw_paused, 0);
            last = sw_now();
            gen = atomic_load(&sw_marks);
        }
        sw_op();
        double t = sw_now(), gap = t - last;
        unsigned now = atomic_load(&sw_marks);
        double *worst = (gen & 1u) || now != gen ? &sw_worst_op : &sw_worst_other;
        if (gap > *worst)
            *worst = gap;
        last = t;
        gen = now;
        sw_iterations++;
    }
    return NULL;
}

/* The benchmarks' arena: one stripe, so that the worker and the main thread share its lock.
 * NULL if it could not be made. */
static inline talc_arena_t *sw_arena_one_stripe(const char *name)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = 1;
    return talc_arena_create(&c);
}

/* Start the worker on arena a; false if the thread could not be made. */
static inline int sw_start(talc_arena_t *a)
{
    sw_arena = a;
    if (pthread_create(&sw_thread, NULL, sw_worker, NULL) != 0)
        return 0;
    while (!atomic_load(&sw_started))
        ;
    return 1;
}

/* Wait until the worker holds no block and spins; sw_resume lets it go on. */
static inline void sw_pause(void)
{
    atomic_store(&sw_pause_flag, 1);
    while (!atomic_load(&sw_paused))
        ;
}

static inline void sw_resume(void) { atomic_store(&sw_pause_flag, 0); }

/* Before and after the timed operation. */
static inline void sw_mark(void) { atomic_fetch_add(&sw_marks, 1u); }

/* Join the worker and print its line: STALL during_<what>_worst_ms=.. other_worst_ms=.. */
static inline void sw_stop(const char *what)
{
    atomic_store(&sw_stop_flag, 1);
    pthread_join(sw_thread, NULL);
    printf("STALL during_%s_worst_ms=%.2f other_worst_ms=%.2f iterations=%lu\n", what,
           sw_worst_op * 1e3, sw_worst_other * 1e3, sw_iterations);
}

#endif /* TALC_BENCH_STALL_WORKER_H */
