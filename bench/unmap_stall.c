/* unmap_stall.c — how long a free that unmaps a segment keeps another thread of the same
 * stripe waiting.
 *
 *   unmap_stall [mib [rounds]]                       (defaults 64, 20)
 *
 * One arena with one stripe. A worker thread allocates and frees 64 bytes in a loop and
 * records the longest time between two of its iterations. Meanwhile the main thread, `rounds`
 * times: allocates one block of `mib` MiB (a segment of its own), writes every page of it,
 * frees it (the free gives the segment back to the OS: one munmap of `mib` MiB of resident
 * memory), and sleeps 20 ms so that the worker's gaps stand apart. The big block's segment
 * may have room left after it, where the worker's blocks would go, and then the worker's free
 * would empty it and unmap it itself. So the worker pauses while the main thread allocates
 * the big block and fills that room with 64-byte blocks (`fill`, freed after the big block:
 * the last of those frees is the one that unmaps; the line's time is all of them). Prints
 * one line per round and one for the worker, with its longest gap that overlapped one of
 * those frees and its longest other gap (the machine's own noise):
 *   FREE i=.. fill=.. ms=..
 *   STALL during_free_worst_ms=.. other_worst_ms=.. iterations=..
 * Not part of `make bench`: docs/arenas.md, "System calls under locks", has its figures and the
 * command.
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

static talc_arena_t *us_arena;
static atomic_int us_stop, us_started, us_pause, us_paused;
static atomic_uint us_freeing; /* odd while the main thread frees */
static double us_worst_free, us_worst_other;
enum { US_FILL_MAX = 1u << 16 };
static void *fill[US_FILL_MAX];
static unsigned long us_iterations;

static double us_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void us_op(void)
{
    void *p = talc_arena_malloc(us_arena, 64);
    if (!p)
        abort();
    talc_free(p);
}

/* A gap that overlaps one of the main thread's frees counts as "free"; any other (the
 * machine's own noise: preemption, interrupts) as "other". */
static void *us_worker(void *unused)
{
    (void)unused;
    us_op(); /* the first one maps the stripe's first segment: not timed */
    double last = us_now();
    unsigned gen = atomic_load(&us_freeing);
    atomic_store(&us_started, 1);
    while (!atomic_load(&us_stop)) {
        if (atomic_load(&us_pause)) { /* holding no block */
            atomic_store(&us_paused, 1);
            while (atomic_load(&us_pause))
                ;
            atomic_store(&us_paused, 0);
            last = us_now();
            gen = atomic_load(&us_freeing);
        }
        us_op();
        double t = us_now(), gap = t - last;
        unsigned now = atomic_load(&us_freeing);
        double *worst = (gen & 1u) || now != gen ? &us_worst_free : &us_worst_other;
        if (gap > *worst)
            *worst = gap;
        last = t;
        gen = now;
        us_iterations++;
    }
    return NULL;
}

/* With the worker paused: a block of n bytes, and in fill[] (*nfill of them) the 64-byte
 * blocks that took the room left in its segment (those placed within 128 KiB past its end:
 * the segment is rounded up to a 64 KiB granule). */
static char *us_big(size_t n, void **fill, size_t *nfill)
{
    atomic_store(&us_pause, 1);
    while (!atomic_load(&us_paused))
        ;
    char *big = talc_arena_malloc(us_arena, n);
    while (big && *nfill < US_FILL_MAX) {
        char *p = talc_arena_malloc(us_arena, 64);
        if (!p || p < big || p >= big + n + (128u << 10)) {
            talc_free(p);
            break;
        }
        fill[(*nfill)++] = p;
    }
    atomic_store(&us_pause, 0);
    return big;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    talc_arena_config_t c = talc_arena_config_default("unmap-stall");
    c.stripes = 1;
    us_arena = talc_arena_create(&c);
    if (!us_arena || mib == 0)
        return 1;
    pthread_t w;
    if (pthread_create(&w, NULL, us_worker, NULL) != 0)
        return 1;
    while (!atomic_load(&us_started))
        ;
    for (int i = 0; i < rounds; i++) {
        size_t nfill = 0;
        char *big = us_big(mib << 20, fill, &nfill);
        if (!big)
            return 1;
        memset(big, 1, mib << 20);
        double t0 = us_now();
        atomic_fetch_add(&us_freeing, 1u);
        talc_free(big);
        for (size_t k = 0; k < nfill; k++)
            talc_free(fill[k]);
        atomic_fetch_add(&us_freeing, 1u);
        printf("FREE i=%d fill=%zu ms=%.2f\n", i, nfill, (us_now() - t0) * 1e3);
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    atomic_store(&us_stop, 1);
    pthread_join(w, NULL);
    printf("STALL during_free_worst_ms=%.2f other_worst_ms=%.2f iterations=%lu\n",
           us_worst_free * 1e3, us_worst_other * 1e3, us_iterations);
    return talc_arena_destroy(us_arena, 0) == 0 ? 0 : 1;
}
