/* burst_rss.c — what a thread pool keeps resident after a burst of work (bench/suite/run.sh
 * runs it under every allocator after the suite; not one of the suite's workloads, not in its
 * mean).
 *
 *   burst_rss [threads [MiB-per-thread [settle-ms]]]        (defaults 4, 24, 500)
 *
 * Each thread allocates blocks of 16 B–64 KiB (log-uniform: as many blocks of each power of
 * two) until MiB-per-thread of them are live, writes each in full, checks and frees them all,
 * and then waits, idle, as a pool's threads wait for the next request. Resident memory
 * (/proc/self/statm) is read before the threads start, once they are all idle, settle-ms
 * later (an allocator's background work, libtalc's `TALC_CONF=trim_ms=N` say, has run by
 * then), and after they have exited. No block is live at any of these points: what is
 * resident is what the allocator keeps. Prints one line:
 *   BURST threads=.. mib_per_thread=.. settle_ms=.. rss_base_kib=.. maxrss_kib=..
 *         rss_idle_kib=.. rss_settled_kib=.. rss_exit_kib=.. malloc_from=.. check=ok|bad|preload
 * and exits 1 if a block's contents changed while it was live (bad) or malloc is not
 * LD_PRELOAD's (preload).
 *
 * Threading rules: the workers share nothing but the allocator and two barriers; the main
 * thread reads RSS only while every worker waits at a barrier or has been joined.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sw_origin.h"
#include "sw_rng.h"
#include "sw_rss.h"

#define BR_MAX_THREADS 64u
#define BR_MIN_SHIFT 4u  /* 16 B */
#define BR_MAX_SHIFT 16u /* 64 KiB */

typedef struct br_worker {
    pthread_t id;
    sw_rng_t rng;
    size_t bytes; /* to allocate */
} br_worker_t;

static pthread_barrier_t br_idle, br_done;
static atomic_size_t br_bad;

/* A size in [2^BR_MIN_SHIFT, 2^BR_MAX_SHIFT]: a power of two picked uniformly, then a size
 * uniform up to the next one. */
static size_t br_size(sw_rng_t *rng)
{
    size_t low = (size_t)1 << sw_rng_range(rng, BR_MIN_SHIFT, BR_MAX_SHIFT);
    return sw_rng_range(rng, low, 2u * low + 1u);
}

typedef struct br_block {
    unsigned char *p;
    size_t size;
} br_block_t;

/* Allocate and write blocks until w->bytes are live, then check and free them all. */
static void br_burst(br_worker_t *w)
{
    size_t cap = w->bytes / (1u << BR_MIN_SHIFT) + 1u, n = 0, live = 0;
    br_block_t *b = malloc(cap * sizeof *b);
    if (!b) {
        atomic_fetch_add(&br_bad, 1);
        return;
    }
    while (live < w->bytes && n < cap) {
        size_t size = br_size(&w->rng);
        unsigned char *p = malloc(size);
        if (!p) {
            atomic_fetch_add(&br_bad, 1);
            break;
        }
        memset(p, (int)(n & 0x7fu) | 1, size);
        b[n++] = (br_block_t){p, size};
        live += size;
    }
    for (size_t i = 0; i < n; i++) {
        int mark = (int)(i & 0x7fu) | 1;
        if (b[i].p[0] != mark || b[i].p[b[i].size / 2u] != mark || b[i].p[b[i].size - 1u] != mark)
            atomic_fetch_add(&br_bad, 1);
        free(b[i].p);
    }
    free(b);
}

static void *br_main(void *arg)
{
    br_burst(arg);
    pthread_barrier_wait(&br_idle); /* idle: the main thread reads RSS */
    pthread_barrier_wait(&br_done);
    return NULL;
}

static void br_sleep_ms(unsigned ms)
{
    struct timespec t = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}

int main(int argc, char **argv)
{
    unsigned threads = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 4u;
    size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 24u;
    unsigned settle = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 500u;
    if (threads == 0 || threads > BR_MAX_THREADS || mib == 0 || mib > 4096 || settle > 60000) {
        fprintf(stderr,
                "usage: burst_rss [threads 1..%u [MiB-per-thread 1..4096 "
                "[settle-ms <= 60000]]]\n",
                BR_MAX_THREADS);
        return 2;
    }
    static br_worker_t w[BR_MAX_THREADS];
    size_t base = sw_rss_kib();
    if (pthread_barrier_init(&br_idle, NULL, threads + 1u) ||
        pthread_barrier_init(&br_done, NULL, threads + 1u))
        return 1;
    for (unsigned i = 0; i < threads; i++) {
        w[i].rng = sw_rng_seed(0x62757273ull, i, 0);
        w[i].bytes = mib << 20;
        if (pthread_create(&w[i].id, NULL, br_main, &w[i]))
            return 1;
    }
    pthread_barrier_wait(&br_idle);
    size_t idle = sw_rss_kib();
    br_sleep_ms(settle);
    size_t settled = sw_rss_kib();
    pthread_barrier_wait(&br_done);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(w[i].id, NULL);
    size_t exited = sw_rss_kib();
    struct rusage ru;
    long maxrss = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
    const char *origin = sw_malloc_origin();
    bool preloaded = sw_preload_matches(origin);
    size_t bad = atomic_load(&br_bad);
    printf("BURST threads=%u mib_per_thread=%zu settle_ms=%u rss_base_kib=%zu maxrss_kib=%ld "
           "rss_idle_kib=%zu rss_settled_kib=%zu rss_exit_kib=%zu malloc_from=%s check=%s\n",
           threads, mib, settle, base, maxrss, idle, settled, exited, origin,
           !preloaded ? "preload"
           : bad      ? "bad"
                      : "ok");
    return bad || !preloaded ? 1 : 0;
}
