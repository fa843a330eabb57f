/* test_stats_wrap.c — an arena's running totals are counted modulo 2^N of size_t (talc/stats.h):
 * on a 32-bit target they wrap at 2^32. Each stripe and each thread cache keeps its own size_t
 * totals, which wrap on their own; a snapshot's sum of them is the true total modulo 2^N, so
 * that the difference of two snapshots, taken in size_t, is exact across a wrap. Until
 * 2026-12-06 the sums were added up in 64 bits: on armhf a total read 2^32 too high once one
 * stripe's count had wrapped and another's had not. On 64-bit targets the tests check the same
 * contract (there 64-bit addition wraps at 2^64 of itself).
 * White-box: the tests set the stripes' and the caches' totals near SIZE_MAX, as a long run
 * would leave them, and read snapshots.
 *
 * Concurrency: one thread.
 */
#include <stdint.h>

#include <criterion/criterion.h>

#include "../../arenas/arena_internal.h"
#include "arena_test.h"

#define NEAR_TOP (SIZE_MAX - 9u) /* ten counts short of the wrap */

static void set_total(talc_atomic_size *c, size_t v) { talc_atomic_store_relaxed_size(c, v); }

/* Both stripes of a two-stripe arena have counted NEAR_TOP of each total. */
static talc_arena_t *arena_near_the_wrap(const char *name, talc_tcache_mode_t tc)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = 2;
    c.thread_cache = tc;
    talc_arena_t *a = test_arena_cfg(&c);
    for (unsigned i = 0; i < a->nroute; i++) { /* (the large stripe stays at 0) */
        talc_stripe_stats_t *st = &talc_arena_stripe(a, i)->st;
        set_total(&st->allocs, NEAR_TOP);
        set_total(&st->frees, NEAR_TOP);
        set_total(&st->reallocs, NEAR_TOP);
        set_total(&st->failed, NEAR_TOP);
        set_total(&st->contended, NEAR_TOP);
        set_total(&st->remote_frees, NEAR_TOP);
    }
    return a;
}

/* Every total of s is `want` modulo 2^N, and so below 2^N. */
static void assert_totals(const talc_arena_stats_t *s, size_t want)
{
    const uint64_t v[] = {s->allocs, s->frees,          s->reallocs,
                          s->failed, s->lock_contended, s->remote_frees};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        cr_assert_eq(v[i], (uint64_t)want, "total %zu: %llu, want %zu (modulo 2^%zu)", i,
                     (unsigned long long)v[i], want, sizeof(size_t) * 8u);
}

Test(stats_wrap, stripe_totals_sum_modulo_size_t)
{
    talc_arena_t *a = arena_near_the_wrap("wrap-stripes", TALC_TCACHE_OFF);
    talc_arena_stats_t s = test_stats(a);
    assert_totals(&s, (size_t)(NEAR_TOP * 2u));
    cr_assert_eq(s.live_allocs, 0);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

#if TALC_TCACHE /* without, the caches' totals are not read */

Test(stats_wrap, thread_cache_totals_join_the_sum_modulo_size_t)
{
    talc_arena_t *a = arena_near_the_wrap("wrap-caches", TALC_TCACHE_ON);
    /* Retired caches' totals: as many again. */
    set_total(&a->tc_allocs, NEAR_TOP);
    set_total(&a->tc_frees, NEAR_TOP);
    set_total(&a->tc_reallocs, NEAR_TOP);
    set_total(&a->tc_remote, NEAR_TOP);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.allocs, (uint64_t)(size_t)(NEAR_TOP * 3u));
    cr_assert_eq(s.frees, (uint64_t)(size_t)(NEAR_TOP * 3u));
    cr_assert_eq(s.reallocs, (uint64_t)(size_t)(NEAR_TOP * 3u));
    cr_assert_eq(s.remote_frees, (uint64_t)(size_t)(NEAR_TOP * 3u));
    cr_assert_eq(s.live_allocs, 0);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}
#endif

Test(stats_wrap, differences_across_the_wrap_are_exact)
{
    talc_arena_t *a = arena_near_the_wrap("wrap-diff", TALC_TCACHE_OFF);
    talc_arena_stats_t s0 = test_stats(a);
    enum { N = 25 }; /* more than the ten counts left before the wrap */
    for (int i = 0; i < N; i++) {
        void *p = talc_arena_malloc(a, 100);
        cr_assert_not_null(p);
        talc_free(p);
    }
    talc_arena_stats_t s1 = test_stats(a);
#if TALC_COUNTERS
    cr_assert_lt(s1.allocs, s0.allocs, "the sum wrapped");
    cr_assert_eq((size_t)(s1.allocs - s0.allocs), N);
    cr_assert_eq((size_t)(s1.frees - s0.frees), N);
#else
    cr_assert_eq(s1.allocs, s0.allocs, "not counted without counters");
#endif
    cr_assert_eq(s1.live_allocs, 0);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}
