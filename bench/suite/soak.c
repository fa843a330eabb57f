/* soak.c — a daemon's day in a few seconds: does the memory an allocator holds stay flat while
 * threads come and go, and does every block keep its contents? (bench/suite/run.sh runs it
 * under every allocator after the suite; not one of the suite's workloads, not in its mean.)
 *
 *   soak [seconds [steady-threads]]                  (defaults 6, 2)
 *
 * Threads: `steady-threads` run for the whole time; one spawner starts 4 short-lived threads
 * at a time (each makes 1000 to 5000 operations, then exits) and joins them, over and over. All
 * of them share 16384 slots. An operation picks a slot at random and
 *   - 3 times in 5 puts a new block there: malloc (5 in 8), calloc (1 in 8), posix_memalign
 *     at 16 B to 4 KiB (1 in 8) or aligned_alloc at 64 B (1 in 8);
 *   - 1 time in 5 reallocates the block there (if any) to a new size;
 *   - 1 time in 5 empties it;
 * and frees the block it took out, whichever thread made it. Sizes: 70 % of 24 B to 128 B,
 * 25 % up to 4 KiB, 4.5 % up to 64 KiB, 0.5 % of 64 KiB to 1 MiB.
 *
 * Checks. A block's first word holds its size, its second a tag of the size, its last byte
 * another; the first byte of each of its pages after the first is written. All of it is
 * checked when the block is freed or reallocated (what realloc kept must read the same), a
 * calloc'ed block must read zero at all those places before they are written, an aligned one
 * must be aligned. A block that fails is counted and not freed.
 *
 * Memory. The main thread reads resident memory (/proc/self/statm) and the bytes live (the
 * sizes asked for) every 50 ms. The run is cut in thirds: the first warms up; the mean RSS over
 * the last third ÷ that over the second is the growth (a leak, or fragmentation that keeps
 * growing, shows as growth above 1); the mean RSS over the last third ÷ the mean bytes live
 * then is the overhead. At the end every block is freed, malloc_trim(0) runs, and RSS is read
 * once more: memory the allocator kept. Prints one line:
 *   SOAK seconds=.. ops=.. threads_made=.. live_kib=.. rss2_kib=.. rss3_kib=.. growth=..
 *        rss_per_live=.. maxrss_kib=.. rss_end_kib=.. malloc_from=.. check=ok|bad|preload
 * and exits 1 if a block changed (bad) or malloc is not LD_PRELOAD's (preload).
 *
 * Threading rules: the slots are exchanged atomically, so a block has one owner at a time; the
 * counters are atomic; the samples belong to the main thread.
 */
#define _GNU_SOURCE
#include <malloc.h>
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
#include "sw_rss.h"
#include "sw_rng.h"

#define SLOTS 16384u
#define PAGE 4096u
#define MIN_SIZE 24u /* size word, tag word, and a last byte of its own */
#define MAX_STEADY 16u
#define CHURN_BATCH 4u
#define SAMPLE_MS 50u
#define MAX_SAMPLES 8192u

typedef unsigned char byte;

static _Atomic(byte *) slots[SLOTS];
static atomic_size_t live;
static atomic_ulong ops, threads_made;
static atomic_uint bad;
static atomic_bool stop;

/* ---- Blocks -------------------------------------------------------------------------------*/

static uint64_t tag_of(size_t n) { return (uint64_t)n * 0x9e3779b97f4a7c15u ^ 0x50a6u; }
static byte last_of(size_t n) { return (byte)(n * 13u + 7u); }

static size_t pick_size(sw_rng_t *r)
{
    size_t k = sw_rng_below(r, 1000u);
    if (k < 700u)
        return sw_rng_range(r, MIN_SIZE, 129u);
    if (k < 950u)
        return sw_rng_range(r, 129u, 4097u);
    if (k < 995u)
        return sw_rng_range(r, 4097u, 65537u);
    return sw_rng_range(r, 65537u, (size_t)1 << 20);
}

static void fault(const char *what, const void *p, size_t n)
{
    if (atomic_fetch_add(&bad, 1u) < 5u)
        fprintf(stderr, "soak: %s (block %p, %zu bytes)\n", what, p, n);
}

/* Writes the marks of an n-byte block. */
static void mark(byte *p, size_t n)
{
    uint64_t w[2] = {n, tag_of(n)};
    memcpy(p, w, sizeof w);
    for (size_t i = PAGE; i < n; i += PAGE)
        p[i] = 1;
    p[n - 1] = last_of(n);
}

/* The size of a marked block, or 0 if its marks are wrong (reported). The pages are checked
 * up to byte `upto` only (what a realloc kept). */
static size_t marked_size(const byte *p, size_t upto)
{
    uint64_t w[2];
    memcpy(w, p, sizeof w);
    size_t n = (size_t)w[0];
    if (n < MIN_SIZE || n > ((size_t)1 << 20) || w[1] != tag_of(n) || p[n - 1] != last_of(n)) {
        fault("a block's size, tag or last byte changed", p, n);
        return 0;
    }
    size_t end = upto < n ? upto : n - 1u;
    for (size_t i = PAGE; i < end; i += PAGE)
        if (p[i] != 1) {
            fault("a page's first byte changed", p, n);
            return 0;
        }
    return n;
}

/* A calloc'ed block must read zero at every place mark() writes. */
static bool zeroed(const byte *p, size_t n)
{
    uint64_t w[2];
    memcpy(w, p, sizeof w);
    if (w[0] | w[1] | p[n - 1])
        return false;
    for (size_t i = PAGE; i < n; i += PAGE)
        if (p[i])
            return false;
    return true;
}

static byte *make(sw_rng_t *r)
{
    size_t n = pick_size(r), align = 0;
    void *p = NULL;
    switch (sw_rng_below(r, 8u)) {
    case 0:
        p = calloc(1, n);
        if (p && !zeroed(p, n))
            fault("calloc returned a block that is not zero", p, n);
        break;
    case 1:
        align = (size_t)16 << sw_rng_below(r, 9u);
        if (posix_memalign(&p, align, n) != 0)
            p = NULL;
        break;
    case 2:
        align = 64;
        n = (n + 63u) & ~(size_t)63u; /* aligned_alloc wants a multiple (C11) */
        p = aligned_alloc(align, n);
        break;
    default:
        p = malloc(n);
    }
    if (!p) {
        fprintf(stderr, "soak: allocation of %zu bytes failed\n", n);
        exit(1);
    }
    if (align && (uintptr_t)p % align)
        fault("an aligned block is not aligned", p, n);
    mark(p, n);
    atomic_fetch_add_explicit(&live, n, memory_order_relaxed);
    return p;
}

static void drop(byte *p)
{
    if (!p)
        return;
    size_t n = marked_size(p, SIZE_MAX);
    if (n == 0)
        return; /* not what was handed out: not freed */
    atomic_fetch_sub_explicit(&live, n, memory_order_relaxed);
    free(p);
}

/* p resized to a new size; NULL (p kept in the slot's stead) if p failed its check. */
static byte *resize(byte *p, sw_rng_t *r)
{
    size_t n = marked_size(p, SIZE_MAX), m = pick_size(r);
    if (n == 0)
        return NULL;
    byte *q = realloc(p, m);
    if (!q) {
        fprintf(stderr, "soak: realloc to %zu bytes failed\n", m);
        exit(1);
    }
    /* what was kept: the marks below min(n, m) */
    uint64_t w[2];
    memcpy(w, q, sizeof w);
    if (w[0] != n || w[1] != tag_of(n) || (m >= n && q[n - 1] != last_of(n)))
        fault("realloc did not keep a block's contents", q, m);
    for (size_t i = PAGE; i < (n - 1u < m ? n - 1u : m); i += PAGE)
        if (q[i] != 1) {
            fault("realloc did not keep a page's first byte", q, m);
            break;
        }
    mark(q, m);
    atomic_fetch_add_explicit(&live, m - n, memory_order_relaxed); /* mod 2^N */
    return q;
}

/* ---- Threads ------------------------------------------------------------------------------*/

static void one_op(sw_rng_t *r)
{
    unsigned k = (unsigned)sw_rng_below(r, SLOTS);
    size_t action = sw_rng_below(r, 5u);
    if (action == 3u) {
        byte *p = atomic_exchange(&slots[k], NULL);
        if (p) {
            byte *q = resize(p, r);
            drop(atomic_exchange(&slots[k], q)); /* whatever another thread put there meanwhile */
        }
    } else {
        drop(atomic_exchange(&slots[k], action < 3u ? make(r) : NULL));
    }
    atomic_fetch_add_explicit(&ops, 1u, memory_order_relaxed);
}

static void *steady(void *arg)
{
    sw_rng_t r = sw_rng_seed(0x50a6u, (uintptr_t)arg, 0);
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        one_op(&r);
    return NULL;
}

static void *short_lived(void *arg)
{
    sw_rng_t r = sw_rng_seed(0x50a7u, (uintptr_t)arg, 1);
    size_t n = sw_rng_range(&r, 1000u, 5001u);
    for (size_t i = 0; i < n && !atomic_load_explicit(&stop, memory_order_relaxed); i++)
        one_op(&r);
    return NULL;
}

static void *spawner(void *arg)
{
    (void)arg;
    uintptr_t gen = 0;
    while (!atomic_load(&stop)) {
        pthread_t t[CHURN_BATCH];
        unsigned made = 0;
        for (unsigned i = 0; i < CHURN_BATCH; i++)
            made += pthread_create(&t[made], NULL, short_lived, (void *)++gen) == 0;
        for (unsigned i = 0; i < made; i++)
            pthread_join(t[i], NULL);
        atomic_fetch_add(&threads_made, made);
        if (made == 0) {
            fprintf(stderr, "soak: pthread_create failed\n");
            exit(1);
        }
    }
    return NULL;
}

/* ---- Samples ------------------------------------------------------------------------------*/

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct samples {
    size_t rss[MAX_SAMPLES], live[MAX_SAMPLES], n;
} samples_t;

/* The mean of v over samples [lo, hi) (0 if none). */
static double mean(const size_t *v, size_t lo, size_t hi)
{
    double s = 0;
    for (size_t i = lo; i < hi; i++)
        s += (double)v[i];
    return hi > lo ? s / (double)(hi - lo) : 0;
}

static void sample_for(samples_t *s, double seconds)
{
    double end = now_s() + seconds;
    struct timespec nap = {0, (long)SAMPLE_MS * 1000000L};
    while (now_s() < end && s->n < MAX_SAMPLES) {
        nanosleep(&nap, NULL);
        s->rss[s->n] = sw_rss_kib();
        s->live[s->n] = atomic_load_explicit(&live, memory_order_relaxed) >> 10;
        s->n++;
    }
}

/* ---- Main ---------------------------------------------------------------------------------*/

static samples_t smp;

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? strtod(argv[1], NULL) : 6.0;
    unsigned nsteady = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 2u;
    if (!(seconds >= 0.3 && seconds <= 3600) || nsteady == 0 || nsteady > MAX_STEADY) {
        fprintf(stderr, "usage: soak [seconds 0.3..3600 [steady-threads 1..%u]]\n", MAX_STEADY);
        return 2;
    }
    pthread_t t[MAX_STEADY + 1];
    for (unsigned i = 0; i < nsteady; i++)
        if (pthread_create(&t[i], NULL, steady, (void *)(uintptr_t)i) != 0)
            return 1;
    if (pthread_create(&t[nsteady], NULL, spawner, NULL) != 0)
        return 1;
    sample_for(&smp, seconds);
    atomic_store(&stop, true);
    for (unsigned i = 0; i <= nsteady; i++)
        pthread_join(t[i], NULL);
    size_t live_end = atomic_load(&live);
    for (unsigned k = 0; k < SLOTS; k++)
        drop(atomic_exchange(&slots[k], NULL));
    malloc_trim(0);
    size_t rss_end = sw_rss_kib();

    size_t a = smp.n / 3u, b = 2u * smp.n / 3u;
    double rss2 = mean(smp.rss, a, b), rss3 = mean(smp.rss, b, smp.n);
    double live3 = mean(smp.live, b, smp.n);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const char *origin = sw_malloc_origin();
    bool preloaded = sw_preload_matches(origin);
    unsigned nbad = atomic_load(&bad);
    printf("SOAK seconds=%.1f ops=%lu threads_made=%lu live_kib=%zu rss2_kib=%.0f rss3_kib=%.0f "
           "growth=%.3f rss_per_live=%.2f maxrss_kib=%ld rss_end_kib=%zu malloc_from=%s "
           "check=%s\n",
           seconds, atomic_load(&ops), atomic_load(&threads_made), live_end >> 10, rss2, rss3,
           rss2 > 0 ? rss3 / rss2 : 0, live3 > 0 ? rss3 / live3 : 0, ru.ru_maxrss, rss_end, origin,
           !preloaded ? "preload"
           : nbad     ? "bad"
                      : "ok");
    return nbad || !preloaded ? 1 : 0;
}
