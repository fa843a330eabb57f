/* large_mix.c — large buffers beside small objects: the memory an allocator holds for them
 * (bench/suite/run.sh runs it under every allocator after the suite; not one of the suite's
 * workloads, not in its mean).
 *
 *   large_mix [operations-per-thread [threads]]          (defaults 150000, 2)
 *
 * The threads share 16384 slots. Each operation picks a slot at random, frees the block there
 * (whichever thread allocated it) and puts a new one in three times out of five: 70 % of 16 B
 * to 128 B, 25 % up to 4 KiB, 4.5 % up to 64 KiB, 0.5 % of 64 KiB to 1 MiB. Every page of a
 * block is written (so resident memory follows the bytes handed out); its first word (its
 * size) and its last byte are checked when it is freed. A daemon's I/O buffers among its
 * small objects: an allocator that lets small blocks settle in the memory of freed large ones
 * must map more for the next large one. Prints one line:
 *   LARGE ops=.. threads=.. peak_live_kib=.. maxrss_kib=.. ms=.. malloc_from=..
 *         check=ok|bad|preload
 * and exits 1 if a block changed (bad) or malloc is not LD_PRELOAD's (preload). peak_live is
 * the most bytes live at once (as asked, sampled after every allocation).
 *
 * Threading rules: the slots are exchanged atomically; the live-byte count is atomic.
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
#include <unistd.h>

#include "sw_origin.h"
#include "sw_rng.h"

#define SLOTS 16384u

static _Atomic(unsigned char *) slots[SLOTS];
static atomic_size_t live, peak_live;
static atomic_uint bad;
static unsigned long ops_per_thread = 150000;

static size_t pick_size(sw_rng_t *r)
{
    size_t k = sw_rng_below(r, 1000u);
    if (k < 700u)
        return sw_rng_range(r, 16u, 129u);
    if (k < 950u)
        return sw_rng_range(r, 129u, 4097u);
    if (k < 995u)
        return sw_rng_range(r, 4097u, 65537u);
    return sw_rng_range(r, 65537u, (size_t)1 << 20);
}

/* A block of n bytes (n >= 16): n in its first word, every page written, its last byte a tag. */
static unsigned char *make(size_t n)
{
    unsigned char *p = malloc(n);
    if (!p) {
        fprintf(stderr, "large_mix: malloc(%zu) failed\n", n);
        exit(1);
    }
    memcpy(p, &n, sizeof n);
    for (size_t i = 4096; i < n; i += 4096)
        p[i] = 1;
    p[n - 1] = (unsigned char)(n * 7u + 1u);
    size_t now = atomic_fetch_add(&live, n) + n, was = atomic_load(&peak_live);
    while (now > was && !atomic_compare_exchange_weak(&peak_live, &was, now))
        ;
    return p;
}

static void drop(unsigned char *p)
{
    if (!p)
        return;
    size_t n;
    memcpy(&n, p, sizeof n);
    if (n < 16u || n >= (1u << 20) || p[n - 1] != (unsigned char)(n * 7u + 1u)) {
        atomic_fetch_add(&bad, 1u);
        return; /* not freed: it is not what was handed out */
    }
    atomic_fetch_sub(&live, n);
    free(p);
}

static void *worker(void *arg)
{
    sw_rng_t r = sw_rng_seed(0x1a26e5u, (uintptr_t)arg, 0);
    for (unsigned long i = 0; i < ops_per_thread; i++) {
        unsigned k = (unsigned)sw_rng_below(&r, SLOTS);
        unsigned char *p = sw_rng_below(&r, 5u) < 3u ? make(pick_size(&r)) : NULL;
        drop(atomic_exchange(&slots[k], p));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        ops_per_thread = strtoul(argv[1], NULL, 10);
    unsigned nthreads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2u;
    if (ops_per_thread == 0 || nthreads == 0 || nthreads > 64) {
        fprintf(stderr, "usage: large_mix [operations-per-thread [threads 1..64]]\n");
        return 2;
    }
    pthread_t t[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) != 0)
            return 1;
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (unsigned k = 0; k < SLOTS; k++)
        drop(atomic_exchange(&slots[k], NULL));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const char *origin = sw_malloc_origin();
    bool preloaded = sw_preload_matches(origin);
    unsigned nbad = atomic_load(&bad);
    printf("LARGE ops=%lu threads=%u peak_live_kib=%zu maxrss_kib=%ld ms=%.1f malloc_from=%s "
           "check=%s\n",
           ops_per_thread * nthreads, nthreads, atomic_load(&peak_live) >> 10, ru.ru_maxrss,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6, origin,
           !preloaded ? "preload"
           : nbad     ? "bad"
                      : "ok");
    return nbad || !preloaded ? 1 : 0;
}
