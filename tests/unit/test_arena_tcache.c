/* test_arena_tcache.c — the per-thread cache in front of an arena's stripes
 * (talc_arena_config_t.thread_cache, docs/arenas.md "Thread cache"): which arenas cache,
 * counters that stay exact while blocks sit in caches (served again for other request sizes,
 * freed by other threads, flushed), a shrink to half the chunk moving the block, the bounds on
 * cached memory (a slot's 2 MiB among them), a second free of a cached block and bad pointers,
 * a realloc after the thread moved to another CPU's empty stripe, thread exit,
 * talc_thread_cache_flush, more arenas than a thread has slots, destroy while other threads
 * cache blocks of the arena (and a new arena in its place), and the flush that runs before the
 * out-of-memory chain.
 *
 * Built with TALC_TCACHE=0 (or TALC_COUNTERS=0) the same tests run and check that nothing is
 * reported cached.
 * Public API only; each test is its own process. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "last_round.h"
#include "cpu_pin.h"
#include "pattern.h"
#include "rng.h"

#define TC_SMALL 1000u /* requests up to this size are cacheable in every mode */
/* The documented bounds (talc/arena.h, talc_tcache_mode_t): a slot keeps about this much, */
#define TC_SLOT_BOUND ((size_t)2 << 20)
/* plus one list's worth: at most this many blocks or this many bytes. */
#define TC_LIST_BLOCKS 255u
#define TC_LIST_BYTES ((size_t)64 << 10)
#define TC_SLOTS 4u /* arenas a thread caches for at once (TALC_TC_SLOTS) */
/* Whether cached blocks show in the counters (both compiled in). */
#define TC_COUNTS (TALC_TCACHE && TALC_COUNTERS)

static talc_arena_t *tc_arena(const char *name, unsigned stripes, talc_tcache_mode_t m)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = stripes;
    c.thread_cache = m;
    return test_arena_cfg(&c);
}

/* Live figures must equal what the test holds; allocs/frees what it did. */
static void tc_assert_exact(talc_arena_t *a, size_t live_bytes, size_t live_allocs, uint64_t allocs,
                            uint64_t frees)
{
    talc_arena_stats_t s = test_stats(a);
#if TALC_COUNTERS
    cr_assert_eq(s.live_bytes, live_bytes, "%s: live_bytes %zu, want %zu", s.name, s.live_bytes,
                 live_bytes);
    cr_assert_eq(s.live_allocs, live_allocs, "%s: live_allocs %zu, want %zu", s.name, s.live_allocs,
                 live_allocs);
    cr_assert_eq(s.allocs, allocs, "%s: allocs %llu, want %llu", s.name,
                 (unsigned long long)s.allocs, (unsigned long long)allocs);
    cr_assert_eq(s.frees, frees, "%s: frees %llu, want %llu", s.name, (unsigned long long)s.frees,
                 (unsigned long long)frees);
    cr_assert_geq(s.managed_bytes, s.free_bytes + s.cached_bytes);
#else
    (void)live_bytes, (void)live_allocs, (void)allocs, (void)frees;
    cr_assert_eq(s.live_bytes + s.live_allocs + s.allocs + s.frees, 0);
#endif
}

static size_t tc_cached(talc_arena_t *a) { return test_stats(a).cached_blocks; }

/* Allocates c[0..n) of `size` bytes from a; returns how many are among old[0..n). */
static unsigned tc_alloc_counting_reuse(talc_arena_t *a, void **c, unsigned n, size_t size,
                                        void *const *old)
{
    unsigned reused = 0;
    for (unsigned i = 0; i < n; i++) {
        cr_assert_not_null(c[i] = talc_arena_malloc(a, size));
        for (unsigned k = 0; k < n; k++)
            reused += c[i] == old[k];
    }
    return reused;
}

/* ---- Which arenas cache -------------------------------------------------------------------*/

Test(arena_tcache, bad_mode_is_einval)
{
    talc_arena_config_t c = talc_arena_config_default("bad-mode");
    c.thread_cache = (talc_tcache_mode_t)7;
    errno = 0;
    cr_assert_null(talc_arena_create(&c));
    cr_assert_eq(errno, EINVAL);
}

static void free_some(talc_arena_t *a, unsigned n)
{
    void *p[64];
    for (unsigned i = 0; i < n; i++)
        cr_assert_not_null(p[i] = talc_arena_malloc(a, 40 + 8 * i));
    for (unsigned i = 0; i < n; i++)
        talc_free(p[i]);
}

Test(arena_tcache, default_arena_caches_named_ones_only_when_asked)
{
    talc_arena_t *named = tc_arena("named", 1, TALC_TCACHE_DEFAULT);
    talc_arena_t *off = tc_arena("off", 1, TALC_TCACHE_OFF);
    talc_arena_t *on = tc_arena("on", 1, TALC_TCACHE_ON);
    free_some(named, 32);
    free_some(off, 32);
    free_some(on, 32);
    free_some(talc_arena_default(), 32);
    cr_assert_eq(tc_cached(named), 0);
    cr_assert_eq(tc_cached(off), 0);
#if TC_COUNTS
    cr_assert_gt(tc_cached(on), 0);
    cr_assert_gt(tc_cached(talc_arena_default()), 0);
#else
    cr_assert_eq(tc_cached(on) + tc_cached(talc_arena_default()), 0);
#endif
    for (talc_arena_t *a = named; a; a = a == named ? off : a == off ? on : NULL)
        tc_assert_exact(a, 0, 0, 32, 32);
}

/* ---- Exact counters -----------------------------------------------------------------------*/

Test(arena_tcache, counters_stay_exact_as_cached_blocks_serve_other_sizes)
{
    talc_arena_t *a = tc_arena("exact", 1, TALC_TCACHE_ON);
    test_rng_t r;
    test_rng_seed(&r, 42);
    enum { N = 400 };
    void *p[N];
    size_t n[N], live = 0, nlive = 0;
    uint32_t seed[N];
    uint64_t allocs = 0, frees = 0;
    for (unsigned round = 0; round < 20; round++) {
        for (unsigned i = 0; i < N; i++) {
            if (round && (test_rng_next(&r) & 1u)) {
                cr_assert_eq(test_pattern_check(p[i], n[i], seed[i]), n[i]);
                talc_free(p[i]);
                live -= n[i];
                nlive--;
                frees++;
            } else if (round) {
                continue;
            }
            n[i] = 1 + (size_t)test_rng_below(&r, TC_SMALL);
            p[i] = talc_arena_malloc(a, n[i]);
            cr_assert_not_null(p[i]);
            cr_assert_geq(talc_usable_size(p[i]), n[i]);
            seed[i] = i * 31u + round;
            test_pattern_fill(p[i], n[i], seed[i]);
            live += n[i];
            nlive++;
            allocs++;
        }
        tc_assert_exact(a, live, nlive, allocs, frees);
    }
    for (unsigned i = 0; i < N; i++) {
        cr_assert_eq(test_pattern_check(p[i], n[i], seed[i]), n[i]);
        talc_free(p[i]);
    }
    tc_assert_exact(a, 0, 0, allocs, allocs);
#if TC_COUNTS
    cr_assert_gt(tc_cached(a), 0, "freed small blocks wait in the cache");
#endif
    talc_thread_cache_flush();
    cr_assert_eq(tc_cached(a), 0, "talc_thread_cache_flush empties this thread's cache");
    tc_assert_exact(a, 0, 0, allocs, allocs);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

Test(arena_tcache, contents_survive_reuse_and_realloc)
{
    /* One stripe: with two, a thread that moved to the other CPU would fill from the other,
     * still empty stripe, the fill would fail, and the realloc would grow in place instead
     * (counted as a realloc, not as an allocation and a free: one run in about a hundred). */
    talc_arena_t *a = tc_arena("reuse", 1, TALC_TCACHE_ON);
    void *p = talc_arena_malloc(a, 100);
    talc_free(p);
    void *q = talc_arena_malloc(a, 97); /* same chunk size: served from the cache */
    cr_assert_not_null(q);
    test_pattern_fill(q, 97, 7);
    /* Both sizes cache-sized: moved through the cache (one allocation and one free more;
     * without caches, a realloc inside the stripe's heap, counted as a realloc). */
    q = talc_arena_realloc(a, q, 3000);
    cr_assert_not_null(q);
    cr_assert_eq(test_pattern_check(q, 97, 7), 97, "realloc kept the bytes");
    tc_assert_exact(a, 3000, 1, 2 + TALC_TCACHE, 1 + TALC_TCACHE);
    q = talc_arena_realloc(a, q, 50); /* less than half the chunk: moved to a smaller one */
    cr_assert_eq(test_pattern_check(q, 50, 7), 50);
    tc_assert_exact(a, 50, 1, 2 + 2 * TALC_TCACHE, 1 + 2 * TALC_TCACHE);
    talc_free(q);
    tc_assert_exact(a, 0, 0, 2 + 2 * TALC_TCACHE, 2 + 2 * TALC_TCACHE);
}

/* The case contents_survive_reuse_and_realloc used to meet by chance: the thread moves to a CPU
 * whose stripe has no memory yet, so the realloc's fill there fails and the realloc is done in
 * the block's own stripe instead. Whichever path it takes, contents and counters hold. */
Test(arena_tcache, realloc_after_moving_to_an_empty_stripe_stays_exact)
{
    cpu_set_t all;
    cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
    int cpus[2];
    if (test_allowed_cpus(cpus, 2) < 2)
        cr_skip_test("needs two CPUs");
    talc_arena_t *a = tc_arena("moved", 2, TALC_TCACHE_ON);
    if (!test_pin_cpu(cpus[0]))
        cr_skip_test("cannot pin the thread");
    void *q = talc_arena_malloc(a, 97);
    cr_assert_not_null(q);
    test_pattern_fill(q, 97, 9);
    cr_assert(test_pin_cpu(cpus[1]));
    q = talc_arena_realloc(a, q, 3000);
    cr_assert_not_null(q);
    cr_assert_eq(test_pattern_check(q, 97, 9), 97, "realloc kept the bytes");
    talc_arena_stats_t s = test_stats(a);
#if TALC_COUNTERS
    cr_assert_eq(s.live_bytes, 3000);
    cr_assert_eq(s.live_allocs, 1);
    cr_assert_eq(s.allocs - s.frees, 1, "allocs %llu, frees %llu", (unsigned long long)s.allocs,
                 (unsigned long long)s.frees);
    cr_assert_eq(s.allocs + s.reallocs, 2, "one malloc, then one realloc (moved or in place)");
#endif
    talc_free(q);
    cr_assert_eq(sched_setaffinity(0, sizeof all, &all), 0);
    s = test_stats(a);
    cr_assert_eq(s.live_bytes + s.live_allocs, 0);
}

/* A cache-sized block resized within its chunk stays where it is, without a lock: only its
 * requested size changes, counted as a realloc; a freed block is refused. */
Test(arena_tcache, realloc_within_the_chunk_stays_in_place)
{
    talc_arena_t *a = tc_arena("in-place", 1, TALC_TCACHE_ON);
    void *p = talc_arena_malloc(a, 100); /* a 112-byte chunk: 104 usable */
    cr_assert_not_null(p);
    test_pattern_fill(p, 100, 3);
    cr_assert_eq(talc_arena_realloc(a, p, 104), p, "grown within the chunk");
    tc_assert_exact(a, 104, 1, 1, 0);
    cr_assert_eq(talc_arena_realloc(a, p, 60), p, "shrunk, still more than half the chunk");
    cr_assert_eq(test_pattern_check(p, 60, 3), 60);
    tc_assert_exact(a, 60, 1, 1, 0);
#if TALC_COUNTERS
    cr_assert_eq(test_stats(a).reallocs, 2u);
#endif
#if TALC_TCACHE
    void *q = talc_arena_realloc(a, p, 105); /* one byte past the chunk: moved */
    cr_assert_neq(q, p);
    cr_assert_eq(test_pattern_check(q, 60, 3), 60);
    tc_assert_exact(a, 105, 1, 2, 1);
    test_fault_log_t log = {0};
    talc_set_fatal_handler(test_fault_record, &log);
    cr_assert_null(talc_arena_realloc(a, p, 40), "p was freed by the move");
    cr_assert_eq(log.calls, 1);
    talc_set_fatal_handler(NULL, NULL);
    talc_free(q);
    tc_assert_exact(a, 0, 0, 2, 2);
#else
    talc_free(p);                      /* the stripe may grow it in place: nothing to check here */
#endif
}

/* The same when the thread's cache used last is another arena's: the block still fits, and
 * stays (until 2026-12-06 it moved, as the in-place path looked at that cache only; found by
 * a review), with the figures exact. */
Test(arena_tcache, realloc_within_the_chunk_stays_in_place_after_another_arenas_call)
{
    talc_arena_t *a = tc_arena("in-place-a", 1, TALC_TCACHE_ON);
    talc_arena_t *b = tc_arena("in-place-b", 1, TALC_TCACHE_ON);
    for (int i = 0; i < 20; i++) {
        unsigned char *p = talc_arena_malloc(a, 100);
        void *x = talc_arena_malloc(b, 100); /* the thread's last-used cache is now b's */
        cr_assert(p && x);
        test_pattern_fill(p, 100, 4);
        size_t u = talc_usable_size(p);
        cr_assert_eq(talc_arena_realloc(NULL, p, u), p, "round %d: moved", i);
        cr_assert_eq(test_pattern_check(p, 100, 4), 100);
        talc_free(x);
        tc_assert_exact(a, u, 1, (uint64_t)i + 1u, (uint64_t)i);
        talc_free(p);
    }
}

/* A minimum-size block shrunk to less than half of it stays where it is: any block it could
 * move to is as large (found 2026-12-04: it was copied into another minimum-size block). */
Test(arena_tcache, a_minimum_block_shrinks_in_place)
{
    talc_arena_t *a = tc_arena("min-shrink", 1, TALC_TCACHE_ON);
    void *p = talc_arena_malloc(a, 1); /* the minimum chunk: 32 bytes (24 on 32-bit targets) */
    cr_assert_not_null(p);
    size_t u = talc_usable_size(p);
    cr_assert_eq(talc_arena_realloc(a, p, u), p, "grown to fill it");
    test_pattern_fill(p, u, 5);
    cr_assert_eq(talc_arena_realloc(a, p, 1), p, "a move would free nothing");
    cr_assert_eq(test_pattern_check(p, 1, 5), 1);
    tc_assert_exact(a, 1, 1, 1, 0);
    talc_free(p);
}

/* A shrink to at most half the chunk moves the block into a smaller one (the memory goes back;
 * tcmalloc's rule), one to more than half stays in place. Chunk s = usable + 8. */
Test(arena_tcache, a_shrink_to_half_the_chunk_moves_the_block)
{
    talc_arena_t *a = tc_arena("half-shrink", 1, TALC_TCACHE_ON);
    void *p = talc_arena_malloc(a, 1000), *q = NULL;
    cr_assert_not_null(p);
    size_t half = (talc_usable_size(p) + 8u) / 2u; /* 504 on 64-bit targets */
    test_pattern_fill(p, 1000, 7);
    cr_assert_eq(talc_arena_realloc(a, p, half - 7u), p, "more than half: in place");
    tc_assert_exact(a, half - 7u, 1, 1, 0);
    q = talc_arena_realloc(a, p, half - 8u);
    cr_assert_not_null(q);
    cr_assert_eq(test_pattern_check(q, half - 8u, 7), half - 8u);
#if TALC_TCACHE
    cr_assert_neq(q, p, "a shrink to half the chunk (%zu bytes) must move the block", half - 8u);
    cr_assert_leq(talc_usable_size(q), half, "into a block of half the size or less");
    tc_assert_exact(a, half - 8u, 1, 2, 1);
    p = q; /* and further down, a quarter of that, once more */
    q = talc_arena_realloc(a, p, 100);
    cr_assert_neq(q, p, "a shrink from %zu to 100 bytes must move the block", half - 8u);
    cr_assert_eq(test_pattern_check(q, 100, 7), 100);
#else
    q = talc_arena_realloc(a, q, 100); /* the stripe shrinks in place: nothing to check */
#endif
    talc_free(q);
}

/* Requests above 64 quanta (1 KiB) are cached too, in classes 8 quanta apart up to 4 KiB and
 * 32 apart up to 16 KiB: a block freed at one size serves a request of a nearby size, with
 * the contents and the counters right. */
Test(arena_tcache, coarse_sizes_up_to_16_kib_are_cached_exactly)
{
    talc_arena_t *a = tc_arena("coarse", 1, TALC_TCACHE_ON);
    enum { N = 64 };
    void *p[N];
    size_t live = 0;
    for (unsigned i = 0; i < N; i++) {
        size_t n = 1025 + 239u * i; /* 1025 .. 16082 */
        cr_assert_not_null(p[i] = talc_arena_malloc(a, n));
        cr_assert_geq(talc_usable_size(p[i]), n);
        test_pattern_fill(p[i], n, i);
        live += n;
    }
    tc_assert_exact(a, live, N, N, 0);
    for (unsigned i = 0; i < N; i++) {
        cr_assert_eq(test_pattern_check(p[i], 1025 + 239u * i, i), 1025 + 239u * i);
        talc_free(p[i]);
    }
#if TC_COUNTS
    cr_assert_gt(tc_cached(a), 0, "blocks of 1-16 KiB are cached");
#endif
    for (unsigned i = 0; i < N; i++) { /* the same sizes in reverse: served from the lists */
        size_t n = 1025 + 239u * (N - 1u - i);
        cr_assert_not_null(p[i] = talc_arena_malloc(a, n));
        cr_assert_geq(talc_usable_size(p[i]), n);
        test_pattern_fill(p[i], n, 100 + i);
    }
    tc_assert_exact(a, live, N, 2 * N, N);
    for (unsigned i = 0; i < N; i++) {
        cr_assert_eq(test_pattern_check(p[i], 1025 + 239u * (N - 1u - i), 100 + i),
                     1025 + 239u * (N - 1u - i));
        talc_free(p[i]);
    }
    tc_assert_exact(a, 0, 0, 2 * N, 2 * N);
    void *big = talc_arena_malloc(a, 20000); /* above the largest class: the stripe */
    talc_free(big);
    tc_assert_exact(a, 0, 0, 2 * N + 1, 2 * N + 1);
}

Test(arena_tcache, aligned_and_large_requests_bypass_the_cache)
{
    talc_arena_t *a = tc_arena("bypass", 1, TALC_TCACHE_ON);
    void *x = talc_arena_aligned_alloc(a, 256, 64);
    void *y = talc_arena_malloc(a, 64 << 10);
    cr_assert_not_null(x);
    cr_assert_not_null(y);
    cr_assert_eq((uintptr_t)x % 256, 0);
    talc_free(y);
    cr_assert_eq(tc_cached(a), 0, "a 64 KiB block is not cached");
    talc_free(x); /* small: may be cached, and must not come back misaligned as aligned */
    void *z = talc_arena_aligned_alloc(a, 256, 64);
    cr_assert_eq((uintptr_t)z % 256, 0);
    talc_free(z);
    tc_assert_exact(a, 0, 0, 3, 3);
}

/* ---- Bounds -------------------------------------------------------------------------------*/

Test(arena_tcache, cached_memory_is_bounded)
{
    talc_arena_t *a = tc_arena("bounded", 1, TALC_TCACHE_ON);
    enum { N = 6400 }; /* 3.3 MiB in 64 sizes up to 1 KiB: more than a slot may keep */
    static void *p[N];
    for (unsigned i = 0; i < N; i++)
        cr_assert_not_null(p[i] = talc_arena_malloc(a, 16 + (i % 64) * 16));
    for (unsigned i = 0; i < N; i++)
        talc_free(p[i]);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_leq(s.cached_bytes, TC_SLOT_BOUND + TC_LIST_BYTES,
                  "%zu bytes cached: more than one slot's bound", s.cached_bytes);
#if TC_COUNTS
    cr_assert_gt(s.cached_bytes, 0);
#endif
    tc_assert_exact(a, 0, 0, N, N);
}

/* The classes above 64 quanta (talc/arena.h: 8 quanta apart up to 256, 32 apart up to 1024),
 * as chunk sizes, and a list's cap for one (64 KiB of blocks, 8..255 of them). */
#define TC_Q ((size_t)TALC_MIN_ALIGN)
static size_t tc_class_chunk(unsigned k)
{
    return (k < 24u ? 64u + 8u * (k + 1u) : 256u + 32u * (k - 23u)) * TC_Q;
}
static unsigned tc_list_cap(size_t chunk)
{
    size_t c = TC_LIST_BYTES / chunk;
    return c < 8u ? 8u : c > TC_LIST_BLOCKS ? TC_LIST_BLOCKS : (unsigned)c;
}

/* One thread frees a full list's worth in each of the 48 classes above 64 quanta, about 3.5
 * MiB on 64-bit targets (3 MiB with 8-byte quanta), with no list over its cap (nothing is
 * parked at the stripe, which counts as cached too) and far fewer frees than a periodic trim
 * needs: only the slot's own bound keeps it to 2 MiB plus a list. */
Test(arena_tcache, a_slot_holds_at_most_its_bound_of_large_blocks)
{
    talc_arena_t *a = tc_arena("slot-bound", 1, TALC_TCACHE_ON);
    enum { K = 48, MAX = 64 * 48 };
    static void *p[MAX];
    unsigned n = 0;
    size_t freed = 0;
    for (unsigned k = 0; k < K; k++)
        for (unsigned i = 0, cap = tc_list_cap(tc_class_chunk(k)); i < cap && n < MAX; i++) {
            cr_assert_not_null(p[n++] = talc_arena_malloc(a, tc_class_chunk(k) - 8u));
            freed += tc_class_chunk(k);
        }
    cr_assert_gt(freed, TC_SLOT_BOUND + 8 * TC_LIST_BYTES, "more than a slot may keep");
    talc_thread_cache_flush(); /* the lists start empty (the fills' extra blocks go back) */
    void *own = talc_arena_malloc(a, 16); /* allocated here: frees are kept for reuse */
    for (unsigned i = 0; i < n; i++)
        talc_free(p[i]);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_leq(s.cached_bytes, TC_SLOT_BOUND + TC_LIST_BYTES,
                  "%zu bytes cached of %zu freed: more than one slot's bound", s.cached_bytes,
                  freed);
#if TC_COUNTS
    cr_assert_gt(s.cached_bytes, TC_SLOT_BOUND / 4, "%zu bytes cached", s.cached_bytes);
#endif
    talc_free(own);
    tc_assert_exact(a, 0, 0, n + 1u, n + 1u);
}

/* ---- Faults -------------------------------------------------------------------------------*/

Test(arena_tcache, second_free_of_a_cached_block_is_reported)
{
    talc_arena_t *a = tc_arena("twice", 1, TALC_TCACHE_ON);
    test_fault_log_t log = {0};
    talc_set_fatal_handler(test_fault_record, &log);
    void *p = talc_arena_malloc(a, 48);
    talc_free(p);
    talc_free(p);
    cr_assert_eq(log.calls, 1);
    cr_assert_eq(log.fault, TALC_FAULT_DOUBLE_FREE);
    cr_assert_eq(log.addr, p);
    cr_assert_str_eq(log.arena, "twice");
    talc_set_fatal_handler(NULL, NULL);
    tc_assert_exact(a, 0, 0, 1, 1);
}

/* The cached free's test fails for these; they must reach the heap, which names them. */
Test(arena_tcache, pointers_that_are_not_block_starts_are_reported)
{
    talc_arena_t *a = tc_arena("inside", 1, TALC_TCACHE_ON);
    test_fault_log_t log = {0};
    talc_set_fatal_handler(test_fault_record, &log);
    unsigned char *p = talc_arena_calloc(a, 1, 256); /* the thread's slot is now a's */
    cr_assert_not_null(p);
    unsigned char *bad[] = {p + 64, p + 1, p + 8};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        talc_free(bad[i]);
        cr_assert_eq(log.calls, (int)i + 1, "free(p + %td) was not reported", bad[i] - p);
        cr_assert_eq(log.fault, TALC_FAULT_BAD_POINTER);
        cr_assert_eq(log.addr, bad[i]);
        cr_assert_str_eq(log.arena, "inside");
    }
    cr_assert_eq(tc_cached(a), 0, "nothing went into the cache");
    talc_free(p);
    cr_assert_eq(log.calls, 3, "the real free is fine");
    talc_set_fatal_handler(NULL, NULL);
    tc_assert_exact(a, 0, 0, 1, 1);
}

/* ---- Threads ------------------------------------------------------------------------------*/

typedef struct tc_job {
    talc_arena_t *a;
    void **blocks;
    unsigned n;
    bool alloc;              /* else free blocks[0..n) */
    pthread_barrier_t *hold; /* if set: wait twice before exiting (destroy test) */
    talc_arena_t *after;     /* if set: allocate and free here after the hold */
    bool warm; /* allocate and free one block first: the slot has a home, frees stay in it */
} tc_job_t;

static void *tc_worker(void *arg)
{
    tc_job_t *j = arg;
    if (j->warm)
        talc_free(talc_arena_malloc(j->a, 24));
    for (unsigned i = 0; i < j->n; i++) {
        if (j->alloc)
            j->blocks[i] = talc_arena_malloc(j->a, 24 + (i % 40) * 8);
        else
            talc_free(j->blocks[i]);
    }
    if (j->hold) {
        pthread_barrier_wait(j->hold); /* our cache holds blocks of j->a */
        pthread_barrier_wait(j->hold); /* the main thread destroyed it meanwhile */
        for (unsigned i = 0; i < 100 && j->after; i++)
            talc_free(talc_arena_malloc(j->after, 24 + (i % 40) * 8));
    }
    return NULL;
}

static void tc_run(tc_job_t *j)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_worker, j), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(arena_tcache, thread_exit_flushes_its_cache)
{
    talc_arena_t *a = tc_arena("exit", 1, TALC_TCACHE_ON);
    void *b[200];
    tc_job_t alloc = {a, b, 200, true, NULL, NULL, false};
    tc_job_t release = {a, b, 200, false, NULL, NULL, true};
    tc_run(&alloc);
    tc_assert_exact(a, test_stats(a).live_bytes, 200, 200, 0);
    tc_run(&release); /* another thread frees them all into its own cache, then exits */
    cr_assert_eq(tc_cached(a), 0, "the exiting thread gave its cached blocks back");
    tc_assert_exact(a, 0, 0, 201, 201);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

/* A thread that allocates and frees its own blocks parks its lists' overflows at their stripe
 * for its own next fills. Its exit gives those back with its cache: until 2026-12-06 they stayed
 * parked, each keeping a segment mapped and resident (4 threads that freed 100 MB each kept
 * 102-106 MB resident after they exited; docs/shim.md, "Limits"). */
typedef struct tc_own_job {
    talc_arena_t *a;
    size_t cached; /* the arena's cached blocks once the thread has freed them all */
    bool failed;
} tc_own_job_t;

static void *tc_own_worker(void *arg)
{
    tc_own_job_t *j = arg;
    enum { N = 600 }; /* more than a list holds (255): its overflows are parked */
    void *p[N];
    for (unsigned i = 0; i < N; i++)
        j->failed |= (p[i] = talc_arena_malloc(j->a, 100)) == NULL;
    for (unsigned i = 0; i < N; i++)
        talc_free(p[i]);
    j->cached = test_stats(j->a).cached_blocks;
    return NULL;
}

Test(arena_tcache, thread_exit_gives_back_what_it_parked)
{
    tc_own_job_t j = {tc_arena("exit-parked", 1, TALC_TCACHE_ON), 0, false};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_own_worker, &j), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert(!j.failed);
#if TC_COUNTS
    cr_assert_gt(j.cached, TC_LIST_BLOCKS, "%zu cached: more than its list, so some parked",
                 j.cached);
#endif
    cr_assert_eq(tc_cached(j.a), 0, "%zu blocks still parked after the thread exited",
                 tc_cached(j.a));
    tc_assert_exact(j.a, 0, 0, 600, 600);
}

/* A thread whose first cached operation runs in the last round of its thread-specific data's
 * destructors (another library's destructor that re-arms itself until then) gets a cache whose
 * own destructor glibc never calls: the key was set after its round. Such caches are found
 * once their threads are gone and flushed as an exiting thread's are; until 2026-12-05 each
 * stayed registered with its blocks for the life of the process (found by a review: 3 000 such
 * threads held 180 MB). */
static talc_arena_t *late_arena;
static pthread_key_t late_key;

static void late_destructor(void *v)
{
    uintptr_t round = (uintptr_t)v;
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS) { /* run again in the next round */
        cr_assert_eq(pthread_setspecific(late_key, (void *)(round + 1u)), 0);
        return;
    }
    void *volatile p = talc_arena_malloc(late_arena, 100); /* glibc's last round */
    talc_free(p);
}

static void *late_worker(void *arg)
{
    (void)arg;
    cr_assert_eq(pthread_setspecific(late_key, (void *)1), 0);
    return NULL;
}

Test(arena_tcache, a_cache_made_in_the_last_destructor_round_is_not_lost)
{
    /* Each thread is joined before the next starts, but a joined thread may still exist for a
     * while (under qemu-user on a busy machine the host threads linger: 32 of 64 caches were
     * still waiting in one CI run, the bound being N / 2), and a look finds it alive: its
     * cache waits for the next look, at half as many again. So many threads and a bound that
     * a cache per thread breaks by far. */
    enum { N = 256 };
    if (!LAST_ROUND_RUNS)
        cr_skip_test("ThreadSanitizer cannot run code in the last destructor round");
    late_arena = tc_arena("late", 1, TALC_TCACHE_ON);
    talc_free(talc_arena_malloc(late_arena, 100)); /* the caches' key exists before late_key */
    size_t mine = tc_cached(late_arena);
    cr_assert_eq(pthread_key_create(&late_key, late_destructor), 0);
    for (unsigned i = 0; i < N; i++) {
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, late_worker, NULL), 0);
        cr_assert_eq(pthread_join(t, NULL), 0);
    }
#if TC_COUNTS
    /* each such thread's fill left one block in its cache: a bounded number of them are
     * still waiting to be found, not one per thread */
    size_t left = tc_cached(late_arena) - mine;
    cr_assert_lt(left, N / 4, "%zu cached blocks of %u exited threads", left, (unsigned)N);
#else
    (void)mine;
#endif
    cr_assert_eq(pthread_key_delete(late_key), 0);
}

Test(arena_tcache, blocks_freed_here_from_another_thread_are_exact)
{
    talc_arena_t *a = tc_arena("remote", 2, TALC_TCACHE_ON);
    void *b[300];
    tc_job_t alloc = {a, b, 300, true, NULL, NULL, false};
    tc_run(&alloc);
    size_t live = test_stats(a).live_bytes;
    for (unsigned i = 0; i < 150; i++) {
        live -= 24 + (i % 40) * 8;
        talc_free(b[i]);
    }
    tc_assert_exact(a, live, 150, 300, 150);
    for (unsigned i = 150; i < 300; i++)
        talc_free(b[i]);
    tc_assert_exact(a, 0, 0, 300, 300);
}

Test(arena_tcache, more_arenas_than_slots)
{
    enum { K = 7 };
    talc_arena_t *a[K];
    void *p[K][20];
    char name[16];
    for (unsigned k = 0; k < K; k++) {
        snprintf(name, sizeof name, "slot%u", k);
        a[k] = tc_arena(name, 1, TALC_TCACHE_ON);
    }
    for (unsigned round = 0; round < 5; round++) {
        for (unsigned k = 0; k < K; k++)
            for (unsigned i = 0; i < 20; i++)
                cr_assert_not_null(p[k][i] = talc_arena_malloc(a[k], 32 + 16 * i));
        for (unsigned k = 0; k < K; k++)
            for (unsigned i = 0; i < 20; i++)
                talc_free(p[k][i]);
    }
    for (unsigned k = 0; k < K; k++) {
        tc_assert_exact(a[k], 0, 0, 100, 100);
        cr_assert_eq(talc_arena_destroy(a[k], 0), 0);
    }
}

Test(arena_tcache, destroy_takes_back_other_threads_cached_blocks)
{
    talc_arena_t *a = tc_arena("doomed", 1, TALC_TCACHE_ON);
    void *b[100];
    tc_job_t alloc = {a, b, 100, true, NULL, NULL, false};
    tc_run(&alloc);
    pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, 2);
    tc_job_t release = {a, b, 100, false, &hold, NULL, false};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_worker, &release), 0);
    pthread_barrier_wait(&hold);
#if TC_COUNTS
    cr_assert_gt(tc_cached(a), 0, "the worker's cache holds the blocks it freed");
#endif
    tc_assert_exact(a, 0, 0, 100, 100);
    cr_assert_eq(talc_arena_destroy(a, 0), 0, "cached blocks are not live");
    /* A new arena, quite possibly at the same address: the worker must not find its old
     * slot's blocks there. */
    release.after = tc_arena("reborn", 1, TALC_TCACHE_ON);
    pthread_barrier_wait(&hold);
    cr_assert_eq(pthread_join(t, NULL), 0);
    tc_assert_exact(release.after, 0, 0, 100, 100);
    cr_assert_eq(tc_cached(release.after), 0);
    cr_assert_eq(talc_arena_destroy(release.after, 0), 0);
    pthread_barrier_destroy(&hold);
}

/* A thread that frees blocks before it has allocated from their arena does not hand them out
 * again: they belong to other threads, which may be using their cache-line neighbours
 * (passive false sharing). It gathers them and gives them back in batches. */
typedef struct tc_remote_job {
    talc_arena_t *a;
    void **blocks;
    unsigned n;
    void *again; /* what its malloc returned after freeing blocks[0] */
    pthread_barrier_t *hold;
} tc_remote_job_t;

static void *tc_remote_worker(void *arg)
{
    tc_remote_job_t *j = arg;
    for (unsigned i = 1; i < j->n; i++)
        talc_free(j->blocks[i]);
    pthread_barrier_wait(j->hold); /* the main thread looks at the counters */
    pthread_barrier_wait(j->hold);
    talc_free(j->blocks[0]);
    j->again = talc_arena_malloc(j->a, 8);
    talc_free(j->again);
    return NULL;
}

Test(arena_tcache, blocks_freed_before_allocating_are_not_reused_and_go_back_in_batches)
{
    talc_arena_t *a = tc_arena("remote-list", 1, TALC_TCACHE_ON);
    enum { N = 100 };
    void *b[N];
    for (unsigned i = 0; i < N; i++)
        cr_assert_not_null(b[i] = talc_arena_malloc(a, 8));
    size_t mine = tc_cached(a); /* the rest of this thread's fills */
    (void)mine;                 /* (read only when the caches are counted) */
    pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, 2);
    /* The worker has not allocated from `a` yet, so its cache of `a` has no home stripe:
     * every block of `a` it frees is remote. */
    tc_remote_job_t j = {a, b, N, NULL, &hold};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_remote_worker, &j), 0);
    pthread_barrier_wait(&hold);
#if TC_COUNTS
    /* On the remote list, or parked at their stripe (a remote batch at a time): cached. */
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.cached_blocks - mine, N - 1u, "%zu remote blocks cached (parked or listed)",
                 s.cached_blocks - mine);
    cr_assert_eq(s.remote_frees, N - 1u);
#endif
    tc_assert_exact(a, 8, 1, N, N - 1u);
    pthread_barrier_wait(&hold);
    cr_assert_eq(pthread_join(t, NULL), 0);
#if TALC_TCACHE /* without caches the heap itself hands the same block out again */
    cr_assert_neq(j.again, b[0], "the block another thread allocated came straight back");
#endif
    /* Its exit gave back what its own cache held; what it parked at the stripe waits there for
     * the stripe's next fill. A flush by a thread that caches for `a` empties the depots too. */
    talc_thread_cache_flush();
    cr_assert_eq(tc_cached(a), 0, "the flush gave the parked blocks back");
    tc_assert_exact(a, 0, 0, N + 1u, N + 1u);
    pthread_barrier_destroy(&hold);
}

/* A consumer's frees are parked at their stripe and serve the producer's next fills: the
 * producer gets the same blocks back without heap work, and the counters stay exact. (The
 * consumer lives on meanwhile: its exit empties the depots, since 2026-12-07.) */
Test(arena_tcache, parked_blocks_serve_the_next_fill)
{
    talc_arena_t *a = tc_arena("depot", 1, TALC_TCACHE_ON);
    enum { N = 128 }; /* a remote batch (TALC_TC_REMOTE_MAX): parked at the last free */
    void *b[N], *c[N];
    for (unsigned i = 0; i < N; i++)
        cr_assert_not_null(b[i] = talc_arena_malloc(a, 40));
    talc_thread_cache_flush(); /* this thread's list of that size is empty now */
    pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, 2);
    tc_job_t release = {a, b, N, false, &hold, NULL, false};
    pthread_t t; /* it never allocated from a: every free is remote */
    cr_assert_eq(pthread_create(&t, NULL, tc_worker, &release), 0);
    pthread_barrier_wait(&hold);
#if TC_COUNTS
    cr_assert_eq(tc_cached(a), N, "the consumer's frees are parked, still cached");
#endif
    size_t free_before = test_stats(a).free_bytes;
    unsigned reused = tc_alloc_counting_reuse(a, c, N, 40, b);
#if TALC_TCACHE
    cr_assert_eq(reused, N, "%u of %u allocations took a parked block", reused, (unsigned)N);
#else
    (void)reused;
#endif
#if TC_COUNTS
    cr_assert_eq(test_stats(a).free_bytes, free_before, "the fills did no heap work");
#else
    (void)free_before;
#endif
    tc_assert_exact(a, 40u * N, N, 2u * N, N);
    pthread_barrier_wait(&hold);
    cr_assert_eq(pthread_join(t, NULL), 0);
    pthread_barrier_destroy(&hold);
    for (unsigned i = 0; i < N; i++)
        talc_free(c[i]);
    talc_thread_cache_flush();
    cr_assert_eq(tc_cached(a), 0);
    tc_assert_exact(a, 0, 0, 2u * N, 2u * N);
}

/* Fewer than a remote batch of another thread's blocks, freed before the thread's first
 * allocation, go to their stripe's depot when that allocation gives its slot a home: until
 * 2026-12-05 they stayed on the remote list, which only gathers while there is no home, until
 * the thread exited (up to the slot's bound in large blocks, after which every free trimmed). */
typedef struct tc_strand_job {
    talc_arena_t *a;
    void **blocks;
    unsigned n;
    pthread_barrier_t *hold;
} tc_strand_job_t;

static void *tc_strand_worker(void *arg)
{
    tc_strand_job_t *j = arg;
    for (unsigned i = 0; i < j->n; i++)
        talc_free(j->blocks[i]);              /* remote: no home yet */
    void *own = talc_arena_malloc(j->a, 200); /* another size: its fill takes none of them */
    pthread_barrier_wait(j->hold);            /* the main thread allocates meanwhile */
    pthread_barrier_wait(j->hold);
    talc_free(own);
    return NULL;
}

Test(arena_tcache, a_first_allocation_sends_the_remote_list_to_the_depot)
{
    talc_arena_t *a = tc_arena("strand", 1, TALC_TCACHE_ON);
    enum { N = 50 }; /* less than a remote batch */
    void *b[N], *c[N];
    for (unsigned i = 0; i < N; i++)
        cr_assert_not_null(b[i] = talc_arena_malloc(a, 40));
    talc_thread_cache_flush(); /* this thread's list of that size is empty */
    pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, 2);
    tc_strand_job_t j = {a, b, N, &hold};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_strand_worker, &j), 0);
    pthread_barrier_wait(&hold); /* the worker is alive, its slot has a home */
    unsigned reused = tc_alloc_counting_reuse(a, c, N, 40, b);
#if TALC_TCACHE
    cr_assert_eq(reused, N, "%u of %u allocations took a block the worker freed", reused,
                 (unsigned)N);
#else
    (void)reused;
#endif
    pthread_barrier_wait(&hold);
    cr_assert_eq(pthread_join(t, NULL), 0);
    for (unsigned i = 0; i < N; i++)
        talc_free(c[i]);
    talc_thread_cache_flush();
    cr_assert_eq(tc_cached(a), 0);
    tc_assert_exact(a, 0, 0, 2u * N + 1u, 2u * N + 1u);
    pthread_barrier_destroy(&hold);
}

/* A thread that only frees (a consumer) gathers another thread's blocks on its slot's remote
 * list, TALC_TC_REMOTE_MAX (128) at a time. In cache-aligned mode a cached chunk reaches
 * 64 KiB, so 127 of them held 7.9 MB until the thread exited, allocated or flushed: almost
 * four times the slot's 2 MiB bound (talc/arena.h). Found by a soak review (2026-12-06). */
typedef struct tc_consumer_job {
    talc_arena_t *a;
    void **blocks;
    unsigned n;
    size_t cached; /* the arena's cached bytes once the consumer has freed them all */
} tc_consumer_job_t;

static void *tc_consumer_worker(void *arg)
{
    tc_consumer_job_t *j = arg;
    for (unsigned i = 0; i < j->n; i++)
        talc_free(j->blocks[i]);
    j->cached = test_stats(j->a).cached_bytes;
    return NULL;
}

Test(arena_tcache, a_consumers_remote_list_stays_within_the_slot_bound)
{
    talc_arena_config_t c = talc_arena_config_default("consumer");
    c.stripes = 1;
    c.thread_cache = TALC_TCACHE_ON;
    c.cache_aligned = true;
    talc_arena_t *a = test_arena_cfg(&c);
    enum { N = 127 }; /* one short of a remote batch */
    static void *b[N];
    for (unsigned i = 0; i < N; i++) /* cache-sized in cache-aligned mode: chunks of 60 KiB+ */
        cr_assert_not_null(b[i] = talc_arena_malloc(a, 60000));
    talc_thread_cache_flush();
    tc_consumer_job_t j = {a, b, N, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_consumer_worker, &j), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    /* the slot's bound and one more block, and what its stripe's depot may park */
    size_t most = TC_SLOT_BOUND + TC_LIST_BYTES + ((size_t)1 << 20);
    cr_assert_leq(j.cached, most, "a consumer's cache held %zu bytes (at most %zu)", j.cached,
                  most);
    talc_thread_cache_flush();
    cr_assert_eq(tc_cached(a), 0);
    tc_assert_exact(a, 0, 0, N, N);
}

/* A producer thread: allocates j->n blocks of 200 bytes and exits. */
static void *tc_producer_worker(void *arg)
{
    tc_consumer_job_t *j = arg;
    for (unsigned i = 0; i < j->n; i++)
        j->blocks[i] = talc_arena_malloc(j->a, 200);
    return NULL;
}

static void tc_produce(tc_consumer_job_t *j)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_producer_worker, j), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    for (unsigned i = 0; i < j->n; i++)
        cr_assert_not_null(j->blocks[i]);
}

/* Blocks parked at a stripe belong to the arena, not to a thread: a trim gives them back also
 * when it runs on a thread that has no cache (a housekeeping thread's malloc_trim). Until
 * 2026-12-06 only a thread with a cache emptied the depots: the blocks an exited consumer
 * parked stayed, and so did the segment they sat in. Found by a soak review. (The consumer
 * lives on here, its blocks parked: its exit would empty the depots too, since 2026-12-07.) */
Test(arena_tcache, a_trim_on_a_thread_without_a_cache_empties_the_depots)
{
    talc_arena_t *a = tc_arena("depot-trim", 1, TALC_TCACHE_ON);
    enum { N = 128 }; /* a remote batch (TALC_TC_REMOTE_MAX): parked at the consumer's last free */
    void *b[N];
    tc_consumer_job_t j = {a, b, N, 0};
    tc_produce(&j);
    pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, 2);
    tc_job_t release = {a, b, N, false, &hold, NULL, false};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_worker, &release), 0);
    pthread_barrier_wait(&hold);
#if TALC_TCACHE
    cr_assert_eq(tc_cached(a), N, "the consumer's blocks are parked");
#endif
    (void)talc_arena_trim(a); /* this thread never used a cache */
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.cached_blocks, 0, "%zu blocks still parked after a trim", s.cached_blocks);
    cr_assert_eq(s.source_bytes, 0, "%zu bytes still mapped after a trim", s.source_bytes);
    pthread_barrier_wait(&hold);
    cr_assert_eq(pthread_join(t, NULL), 0);
    tc_assert_exact(a, 0, 0, N, N);
    pthread_barrier_destroy(&hold);
}

/* A consumer's exit empties the depots its frees were parked in: until 2026-12-07 they stayed
 * parked for good (only a trim, or a flush by a thread that caches for the arena, gave them
 * back), and so did the segments they sat in; in a reserve arena those stayed borrowed, and
 * another arena was refused (found by a review). A first fix left them while any other
 * thread's slot for the arena had a home, which one allocation by the main thread was enough
 * to keep (found by the next review): the main thread allocates once here. */
/* A one-stripe arena with caches that borrows from a reserve of *size bytes (256 KiB, or 4
 * granules where they are larger), set up here. */
static talc_arena_t *tc_reserve_arena(const char *name, size_t *size)
{
    *size = TEST_GRANULE >= ((size_t)64 << 10) ? 4 * TEST_GRANULE : (size_t)256 << 10;
    test_reserve_init(*size);
    talc_arena_config_t c = talc_arena_config_default(name);
    c.source = TALC_SOURCE_RESERVE;
    c.borrow_ceiling = *size;
    c.stripes = 1;
    c.thread_cache = TALC_TCACHE_ON;
    return test_arena_cfg(&c);
}

Test(arena_tcache, a_consumers_exit_empties_the_depots)
{
    size_t size;
    talc_arena_t *a = tc_reserve_arena("depot-reserve", &size);
    talc_free(talc_arena_malloc(a, 1000)); /* this thread's slot for a has a home */
    talc_thread_cache_flush();             /* (and holds no block) */
    enum { N = 100 }; /* less than a remote batch: parked when the consumer exits */
    void *b[N];
    tc_consumer_job_t j = {a, b, N, 0};
    tc_produce(&j);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_consumer_worker, &j), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.cached_blocks, 0, "%zu blocks still parked", s.cached_blocks);
    cr_assert_eq(s.borrowed_bytes, 0, "%zu bytes still borrowed", s.borrowed_bytes);
    cr_assert_eq(test_reserve().free, size);
    tc_assert_exact(a, 0, 0, N + 1u, N + 1u);
}

/* A consumer whose slot for the arena is evicted (it went on to cache for four other arenas)
 * empties that arena's depots then, as its exit would: until 2026-12-07 the remote list the
 * eviction parked stayed for good, since the thread's exit no longer knew the arena, and a
 * reserve arena's borrowed segment with it (found by a review). */
typedef struct tc_evict_job {
    tc_consumer_job_t *j;
    talc_arena_t **others;
} tc_evict_job_t;

static void *tc_evicting_consumer(void *arg)
{
    tc_evict_job_t *e = arg;
    for (unsigned i = 0; i < e->j->n; i++) /* remote: gathered on this thread's slot */
        talc_free(e->j->blocks[i]);
    for (unsigned i = 0; i < TC_SLOTS; i++) /* the fourth evicts the first slot */
        talc_free(talc_arena_malloc(e->others[i], 64));
    e->j->cached = test_stats(e->j->a).cached_blocks; /* before this thread's exit */
    return NULL;
}

Test(arena_tcache, an_evicted_slot_empties_the_depots)
{
    size_t size;
    talc_arena_t *a = tc_reserve_arena("evicted", &size);
    talc_arena_t *others[TC_SLOTS];
    for (unsigned i = 0; i < TC_SLOTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "other-%u", i);
        others[i] = tc_arena(name, 1, TALC_TCACHE_ON);
    }
    enum { N = 100 }; /* less than a remote batch */
    void *b[N];
    tc_consumer_job_t j = {a, b, N, 0};
    tc_produce(&j);
    tc_evict_job_t e = {&j, others};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_evicting_consumer, &e), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(j.cached, 0, "%zu blocks parked after the eviction", j.cached);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.borrowed_bytes, 0, "%zu bytes still borrowed", s.borrowed_bytes);
    cr_assert_eq(test_reserve().free, size);
    tc_assert_exact(a, 0, 0, N, N);
}

/* The slot a thread gives up for a fifth arena is the one it used least recently (talc/arena.h):
 * an arena used between every visit to five others keeps its cache. Until 2026-12-07 the slots
 * were evicted in turn whatever their use: the busy arena lost its cache on every fourth visit
 * (found by a review: 100 times in 400 rounds). */
static void tc_use(talc_arena_t *a)
{
    void *p[32];
    for (unsigned i = 0; i < 32; i++)
        cr_assert_not_null(p[i] = talc_arena_malloc(a, 64));
    for (unsigned i = 0; i < 32; i++)
        talc_free(p[i]);
}

Test(arena_tcache, a_fifth_arena_evicts_the_least_recently_used_slot)
{
    talc_arena_t *busy = tc_arena("busy", 1, TALC_TCACHE_ON);
    enum { OTHERS = TC_SLOTS + 1 };
    talc_arena_t *others[OTHERS];
    for (unsigned i = 0; i < OTHERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "visited-%u", i);
        others[i] = tc_arena(name, 1, TALC_TCACHE_ON);
    }
    unsigned lost = 0;
    for (unsigned r = 0; r < 40; r++) {
        tc_use(busy);
        size_t before = tc_cached(busy);
        tc_use(others[r % OTHERS]);
        lost += tc_cached(busy) < before;
    }
    cr_assert_eq(lost, 0, "the busy arena's cache was given back %u times in 40", lost);
    /* Four slots: busy, visited-0, -1, -2, then busy again; visited-3 takes visited-0's. */
    talc_thread_cache_flush();
    tc_use(busy);
    for (unsigned i = 0; i < 3; i++)
        tc_use(others[i]);
    tc_use(busy);
    tc_use(others[3]);
#if TC_COUNTS
    cr_assert_eq(tc_cached(others[0]), 0, "the least recently used slot was given back");
    for (unsigned i = 1; i < 4; i++)
        cr_assert_gt(tc_cached(others[i]), 0, "visited-%u kept its cache", i);
    cr_assert_gt(tc_cached(busy), 0);
#else
    cr_assert_eq(tc_cached(busy) + tc_cached(others[0]), 0, "nothing reported cached");
#endif
}

/* A thread that frees sizes it does not allocate (a consumer) would keep those lists at their
 * bound for good; every 4096 frees, half of each list it has not allocated from goes back. */
typedef struct tc_trim_job {
    talc_arena_t *a;
    void **blocks;
    unsigned first, n1, n2; /* free blocks[0..n1), report, then blocks[n1..n1+n2) */
    pthread_barrier_t *hold;
} tc_trim_job_t;

static void *tc_trim_worker(void *arg)
{
    tc_trim_job_t *j = arg;
    talc_free(talc_arena_malloc(j->a, 4000)); /* allocate once: the slot has a home */
    for (unsigned i = 0; i < j->n1; i++)
        talc_free(j->blocks[i]);
    pthread_barrier_wait(j->hold);
    pthread_barrier_wait(j->hold);
    for (unsigned i = j->n1; i < j->n1 + j->n2; i++)
        talc_free(j->blocks[i]);
    pthread_barrier_wait(j->hold);
    pthread_barrier_wait(j->hold);
    return NULL;
}

Test(arena_tcache, lists_a_thread_does_not_allocate_from_are_trimmed)
{
    talc_arena_t *a = tc_arena("trim", 1, TALC_TCACHE_ON);
    enum { SIZES = 16, PER = 40, N1 = SIZES * PER, N2 = 4096 };
    static void *b[N1 + N2];
    for (unsigned i = 0; i < N1; i++) /* 40 blocks in each of 16 sizes, 32..272 bytes */
        cr_assert_not_null(b[i] = talc_arena_malloc(a, 32 + 16 * (i % SIZES)));
    for (unsigned i = N1; i < N1 + N2; i++)
        cr_assert_not_null(b[i] = talc_arena_malloc(a, 8));
    talc_thread_cache_flush(); /* only the worker's cache counts below */
    pthread_barrier_t hold;
    pthread_barrier_init(&hold, NULL, 2);
    tc_trim_job_t j = {a, b, 0, N1, N2, &hold};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tc_trim_worker, &j), 0);
    pthread_barrier_wait(&hold);
    size_t before = tc_cached(a);
    pthread_barrier_wait(&hold);
    pthread_barrier_wait(&hold);
    size_t after = tc_cached(a);
#if TC_COUNTS
    cr_assert_geq(before, N1, "%zu cached: the 640 freed blocks wait in the lists", before);
    /* The 16 lists of 40 were halved; the 8-byte list stays at most at its bound, and so does
     * the stripe's depot list of that size, where its overflow is parked. */
    cr_assert_leq(after, SIZES * PER / 2 + 2 * TC_LIST_BLOCKS + 8,
                  "%zu cached after 4096 more frees", after);
#else
    (void)before;
    (void)after;
#endif
    pthread_barrier_wait(&hold);
    cr_assert_eq(pthread_join(t, NULL), 0);
    tc_assert_exact(a, 0, 0, N1 + N2 + 1u, N1 + N2 + 1u);
    pthread_barrier_destroy(&hold);
}

/* ---- Out of memory ------------------------------------------------------------------------*/

/* A full segment is not a reason to give the cache back while the arena may still grow:
 * GROW runs first, and the cached blocks stay. */
Test(arena_tcache, growing_comes_before_the_flush)
{
    talc_arena_t *a = tc_arena("grows", 1, TALC_TCACHE_ON);
    void *p[64];
    for (unsigned i = 0; i < 64; i++)
        cr_assert_not_null(p[i] = talc_arena_malloc(a, 48));
    for (unsigned i = 0; i < 64; i++)
        talc_free(p[i]);
    size_t cached = tc_cached(a);
    void *big = talc_arena_malloc(a, (size_t)4 << 20); /* more than the first segment */
    cr_assert_not_null(big);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_geq(s.oom_ok[TALC_OOM_STEP_GROW], 1, "the arena grew");
    cr_assert_eq(tc_cached(a), cached, "the cache was kept while the arena could grow");
    talc_free(big);
    tc_assert_exact(a, 0, 0, 65, 65);
}

/* The buffer's 7 granules (segments of 4 and 3) are filled with quarter-granule blocks, each
 * followed by a small one; then all are freed. The small ones stay cached (the large ones too
 * where they are cacheable), one every quarter granule: no 3-granule run is free until they go
 * back. The cache's bound (about 2 MiB) does not scale with the granule, so filling the buffer
 * with small blocks only, as this test did, left a 3-granule run free at 4 MiB granules: the
 * request was served without the chain. */
Test(arena_tcache, own_cache_is_flushed_before_the_oom_chain)
{
    size_t size = 8 * TEST_GRANULE;
    talc_arena_config_t c = test_buffer_config("tight", test_buffer_map(size, 64), size);
    c.thread_cache = TALC_TCACHE_ON;
    talc_arena_t *a = test_arena_cfg(&c);
    static void *p[256];
    const unsigned MAXB = sizeof p / sizeof p[0];
    unsigned n = 0;
    while (n < MAXB) {
        size_t want = n % 2 ? 40 + (n / 2 % 16) * 16 : TEST_GRANULE / 4;
        if ((p[n] = talc_arena_malloc(a, want)) == NULL)
            break;
        n++;
    }
    cr_assert(n > 20 && n < MAXB, "%u blocks fill the buffer", n);
    for (unsigned k = 0; k < 2; k++) /* the large ones, then the small ones */
        for (unsigned i = k; i < n; i += 2)
            talc_free(p[i]);
#if TC_COUNTS
    cr_assert_geq(tc_cached(a), n / 2, "the small blocks wait in the cache");
#endif
    talc_arena_stats_t before = test_stats(a);
    void *big = talc_arena_malloc(a, 3 * TEST_GRANULE);
    cr_assert_not_null(big, "the blocks this thread cached went back before giving up");
    talc_arena_stats_t after = test_stats(a);
#if TALC_TCACHE
    const talc_oom_step_t G = TALC_OOM_STEP_GROW, B = TALC_OOM_STEP_BORROW;
    cr_assert_eq(after.oom_runs[G], before.oom_runs[G] + 1, "no room until the cache went back");
    cr_assert_eq(after.oom_runs[B], before.oom_runs[B], "served by the flush, before BORROW");
#else
    (void)before, (void)after;
#endif
    cr_assert_eq(tc_cached(a), 0);
    talc_free(big);
    tc_assert_exact(a, 0, 0, n + 1u, n + 1u);
}
