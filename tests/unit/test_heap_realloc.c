/* test_heap_realloc.c — talc_heap_realloc and talc_heap_resize_in_place: growing in place into
 * a free neighbour above, shrinking in place, moving with the contents kept, realloc(NULL, n),
 * realloc(p, 0), failure leaving the block untouched, and the true/false contract of
 * resize_in_place (on false nothing changed). */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "../common/pattern.h"
#include "talc/heap.h"

TestSuite(heap_realloc, .fini = test_buffers_free);

static void fill(talc_heap_t *h, void *p, uint32_t seed)
{
    test_pattern_fill(p, talc_heap_usable_size(h, p), seed);
}

static void expect_prefix(const void *p, size_t n, uint32_t seed)
{
    size_t bad = test_pattern_check(p, n, seed);
    cr_assert_eq(bad, n, "contents differ at byte %zu of %zu", bad, n);
}

Test(heap_realloc, grows_in_place_into_free_neighbour_above)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    void *a = talc_heap_alloc(h, 100);
    void *b = talc_heap_alloc(h, 300);
    void *c = talc_heap_alloc(h, 100);
    fill(h, a, 1);
    fill(h, c, 3);
    talc_heap_free(h, b);
    size_t ua = talc_heap_usable_size(h, a);
    void *a2 = talc_heap_realloc(h, a, 350);
    cr_assert_eq(a2, a, "must grow in place into the free block above");
    cr_assert_geq(talc_heap_usable_size(h, a), 350);
    expect_prefix(a, ua < 100 ? ua : 100, 1);
    expect_prefix(c, talc_heap_usable_size(h, c), 3);
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, c);
    HEAP_OK(h);
}

Test(heap_realloc, grows_in_place_into_the_top_chunk)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *p = talc_heap_alloc(h, 16);
    fill(h, p, 7);
    for (size_t n = 32; n <= 32 * 1024; n *= 2) {
        void *q = talc_heap_realloc(h, p, n);
        cr_assert_eq(q, p, "grow to %zu moved the only block", n);
        expect_prefix(p, 16, 7);
        HEAP_OK(h);
    }
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_realloc, shrinks_in_place_and_returns_the_tail)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *a = talc_heap_alloc(h, 8000);
    void *guard = talc_heap_alloc(h, 16);
    fill(h, a, 5);
    test_walk_t before = test_walk(h);
    void *q = talc_heap_realloc(h, a, 100);
    cr_assert_eq(q, a, "shrinking must stay in place");
    expect_prefix(a, 100, 5);
    cr_assert_lt(talc_heap_usable_size(h, a), 8000, "the tail was given back");
    test_walk_t after = test_walk(h);
    cr_assert_eq(after.free, before.free + 1, "the tail is a new free chunk (guard above)");
    cr_assert_gt(after.free_usable, before.free_usable + 7000);
    HEAP_OK(h);
    /* Shrinking by a few bytes (no room for a chunk) also stays in place. */
    for (size_t n = 99; n > 0; n--) {
        cr_assert_eq(talc_heap_realloc(h, a, n), a, "shrink to %zu moved", n);
        expect_prefix(a, n, 5);
    }
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, guard);
    HEAP_OK(h);
}

/* A shrink next to a free chunk above: the tail merges with it. */
Test(heap_realloc, shrink_merges_tail_with_free_neighbour)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *a = talc_heap_alloc(h, 4000);
    void *b = talc_heap_alloc(h, 4000);
    void *guard = talc_heap_alloc(h, 16);
    talc_heap_free(h, b);
    size_t frees = test_walk(h).free;
    cr_assert_eq(talc_heap_realloc(h, a, 10), a);
    cr_assert_eq(test_walk(h).free, frees, "no two free chunks may touch");
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, guard);
    HEAP_OK(h);
}

Test(heap_realloc, moves_when_the_neighbour_is_used)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *a = talc_heap_alloc(h, 200);
    void *b = talc_heap_alloc(h, 200);
    fill(h, a, 11);
    fill(h, b, 12);
    void *q = talc_heap_realloc(h, a, 5000);
    cr_assert_not_null(q);
    cr_assert_neq(q, a, "b is in the way");
    cr_assert(test_is_aligned(q, TALC_MIN_ALIGN));
    expect_prefix(q, 200, 11);
    expect_prefix(b, talc_heap_usable_size(h, b), 12);
    cr_assert_eq(test_walk(h).used, 2, "the old block was freed");
    HEAP_OK(h);
    talc_heap_free(h, q);
    talc_heap_free(h, b);
    HEAP_OK(h);
}

Test(heap_realloc, null_pointer_allocates)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    void *p = talc_heap_realloc(h, NULL, 123);
    cr_assert_not_null(p);
    cr_assert(test_is_aligned(p, TALC_MIN_ALIGN));
    cr_assert_geq(talc_heap_usable_size(h, p), 123);
    cr_assert_eq(test_walk(h).used, 1);
    void *z = talc_heap_realloc(h, NULL, 0);
    cr_assert_not_null(z, "realloc(NULL, 0) is alloc(0): a unique minimum block");
    cr_assert_neq(z, p);
    talc_heap_free(h, p);
    talc_heap_free(h, z);
    HEAP_OK(h);
}

Test(heap_realloc, zero_size_frees)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    void *p = talc_heap_alloc(h, 500);
    cr_assert_null(talc_heap_realloc(h, p, 0));
    cr_assert_eq(test_walk(h).used, 0, "the block was freed");
#if TALC_COUNTERS
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.live_allocs, 0);
    cr_assert_eq(c.live_bytes, 0);
    cr_assert_eq(c.failed_allocs, 0, "realloc(p, 0) is not a failed allocation");
#endif
    HEAP_OK(h);
}

Test(heap_realloc, failure_leaves_the_block_untouched)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    void *p = talc_heap_alloc(h, 1000);
    void *guard = talc_heap_alloc(h, 16);
    fill(h, p, 21);
    size_t u = talc_heap_usable_size(h, p);
    static const size_t sizes[] = {64 * 1024,
                                   1u << 20,
                                   SIZE_MAX,
                                   SIZE_MAX - 8,
                                   SIZE_MAX / 2,
                                   (size_t)PTRDIFF_MAX,
                                   (size_t)PTRDIFF_MAX + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cr_assert_null(talc_heap_realloc(h, p, sizes[i]), "realloc to %#zx", sizes[i]);
        cr_assert_eq(talc_heap_usable_size(h, p), u);
        expect_prefix(p, u, 21);
        HEAP_OK(h);
    }
    cr_assert_eq(test_walk(h).used, 2);
    talc_heap_free(h, p);
    talc_heap_free(h, guard);
    HEAP_OK(h);
}

Test(heap_realloc, keeps_contents_through_many_sizes)
{
    talc_heap_t *h = test_heap(512 * 1024, NULL);
    enum { N = 16 };
    void *p[N];
    size_t n[N];
    for (size_t i = 0; i < N; i++) {
        n[i] = 10 + i;
        p[i] = talc_heap_alloc(h, n[i]);
        test_pattern_fill(p[i], n[i], (uint32_t)i);
    }
    for (size_t round = 0; round < 40; round++) {
        for (size_t i = 0; i < N; i++) {
            size_t m = ((round * 7 + i * 13) % 17 + 1) * ((round + i) % 2 ? 97 : 601);
            void *q = talc_heap_realloc(h, p[i], m);
            cr_assert_not_null(q, "realloc %zu -> %zu", n[i], m);
            cr_assert(test_is_aligned(q, TALC_MIN_ALIGN));
            size_t keep = n[i] < m ? n[i] : m;
            expect_prefix(q, keep, (uint32_t)i);
            test_pattern_fill_range(q, keep, m, (uint32_t)i);
            p[i] = q;
            n[i] = m;
        }
        HEAP_OK(h);
    }
    for (size_t i = 0; i < N; i++) {
        expect_prefix(p[i], n[i], (uint32_t)i);
        talc_heap_free(h, p[i]);
    }
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

/* Free chunk below, used chunk above, nothing else fits: the block can still grow by taking
 * the chunk below (the contents move down). */
Test(heap_realloc, grows_into_free_chunk_below_when_nothing_else_fits)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    test_hole_below_t t;
    test_hole_below(h, 2000, 1000, &t);
    fill(h, t.p, 31);
    HEAP_OK(h);
    void *q = talc_heap_realloc(h, t.p, 2500);
    cr_assert_not_null(q, "the free chunk below plus the block hold 2500 bytes");
    cr_assert(test_is_aligned(q, TALC_MIN_ALIGN));
    expect_prefix(q, 1000, 31);
    HEAP_OK(h);
    talc_heap_free(h, q);
    test_hole_below_done(h, &t);
    HEAP_OK(h);
}

/* The chunk below at least as large as the block: the slid copy ends below the old header,
 * which must not read as a live block afterwards (a second free of the old pointer went
 * unreported and put a chunk inside the new block on the free lists; found 2026-12-04). */
Test(heap_realloc, free_of_the_old_pointer_after_sliding_down_is_reported)
{
    talc_heap_opts_t o = test_opts("slide");
    talc_heap_t *h = test_heap(32 * 1024, &o);
    memset(&test_faults, 0, sizeof test_faults);
    test_hole_below_t t;
    test_hole_below(h, 1016, 1016, &t);
    fill(h, t.p, 32);
    void *q = talc_heap_realloc(h, t.p, 2040); /* both chunks whole: no remainder to split */
    cr_assert_eq(q, t.lo, "slid down into the chunk below");
    expect_prefix(q, 1016, 32);
    talc_heap_free(h, t.p); /* the old pointer, a second time (the new block's tail unwritten) */
    cr_assert_eq(test_faults.count, 1, "the stale free is reported");
    cr_assert_eq(test_faults.first.fault, TALC_FAULT_DOUBLE_FREE, "a block already freed");
    cr_assert_eq(test_faults.first.address, t.p);
    HEAP_OK(h);
    expect_prefix(q, 1016, 32);
    talc_heap_free(h, q);
    test_hole_below_done(h, &t);
    HEAP_OK(h);
}

Test(heap_realloc, over_aligned_block_shrinks_in_place)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *p = talc_heap_alloc_aligned(h, 3000, 4096);
    cr_assert(test_is_aligned(p, 4096));
    cr_assert_eq(talc_heap_realloc(h, p, 100), p);
    cr_assert_eq(talc_heap_realloc(h, p, 2000), p, "grows back into its own tail");
    HEAP_OK(h);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

/* ---- Moving shrinks (talc/heap.h: only while memory is scarce) ----------------------------*/

typedef struct scarce {
    talc_heap_t *h;
    unsigned char *a;    /* 20000 bytes, address aligned to less than 64 */
    unsigned char *hole; /* where a 1000-byte block was: the only free chunk that holds 500 */
    void *rest[8];
    size_t nrest;
} scarce_t;

/* A 64 KiB heap with block a, a hole after it, and everything else allocated: no free chunk
 * comes near half the span. a's address is kept off 64-byte alignment (a spacer in front if
 * needed) so that the alignment rule cannot stop a move. */
static scarce_t scarce_heap(bool shrink_in_place)
{
    talc_heap_opts_t o = test_opts("scarce");
    o.shrink_in_place = shrink_in_place;
    scarce_t sc = {.h = test_heap(64 * 1024, &o)};
    sc.a = talc_heap_alloc(sc.h, 20000);
    if (test_is_aligned(sc.a, 64)) {
        talc_heap_free(sc.h, sc.a);
        cr_assert_not_null(talc_heap_alloc(sc.h, 16)); /* spacer: one minimum chunk */
        sc.a = talc_heap_alloc(sc.h, 20000);
    }
    cr_assert_not_null(sc.a);
    cr_assert(!test_is_aligned(sc.a, 64));
    sc.hole = talc_heap_alloc(sc.h, 1000);
    sc.nrest = test_exhaust(sc.h, sc.rest, 8);
    talc_heap_free(sc.h, sc.hole);
    test_walk_t w = test_walk(sc.h);
    cr_assert_lt(w.largest_free, 4096, "memory is scarce");
    fill(sc.h, sc.a, 77);
    HEAP_OK(sc.h);
    return sc;
}

Test(heap_realloc, large_shrink_moves_to_a_hole_when_memory_is_scarce)
{
    scarce_t sc = scarce_heap(false);
    talc_heap_counters_t c0 = test_counters(sc.h);
    (void)c0; /* read only when counters and moving shrinks are compiled in */
    unsigned char *q = talc_heap_realloc(sc.h, sc.a, 500); /* gives back 19500 bytes */
#if TALC_SHRINK_MOVE > 0 && TALC_SHRINK_MOVE <= 19500
    cr_assert_eq(q, sc.hole, "the shrink moves into the hole");
    cr_assert_geq(test_walk(sc.h).largest_free, 19000, "a's whole chunk is free again");
#if TALC_COUNTERS
    talc_heap_counters_t c1 = test_counters(sc.h);
    cr_assert_eq(c1.total_allocs, c0.total_allocs + 1, "a move counts as one allocation");
    cr_assert_eq(c1.live_allocs, c0.live_allocs);
    cr_assert_eq(c1.live_bytes, c0.live_bytes - 19500);
    cr_assert_eq(c1.peak_live_bytes, c0.peak_live_bytes,
                 "the old and new block never count "
                 "together: %zu, %zu before",
                 c1.peak_live_bytes, c0.peak_live_bytes);
#endif
#else
    cr_assert_eq(q, sc.a, "built with TALC_SHRINK_MOVE=0 or above 19500: it stays in place");
#endif
    expect_prefix(q, 500, 77);
    HEAP_OK(sc.h);
}

Test(heap_realloc, small_shrink_stays_in_place_when_memory_is_scarce)
{
    scarce_t sc = scarce_heap(false);
    /* Gives back 2000 bytes, less than TALC_SHRINK_MOVE (4096 by default): no move. */
#if TALC_SHRINK_MOVE == 0 || TALC_SHRINK_MOVE > 2000
    cr_assert_eq(talc_heap_realloc(sc.h, sc.a, 20000 - 2000), sc.a);
#else
    cr_assert_not_null(talc_heap_realloc(sc.h, sc.a, 20000 - 2000));
#endif
    expect_prefix(sc.a, 18000, 77);
    HEAP_OK(sc.h);
}

Test(heap_realloc, shrink_in_place_option_never_moves)
{
    scarce_t sc = scarce_heap(true);
    cr_assert_eq(talc_heap_realloc(sc.h, sc.a, 500), sc.a);
    expect_prefix(sc.a, 500, 77);
    cr_assert_eq(talc_heap_realloc(sc.h, sc.a, 16), sc.a);
    HEAP_OK(sc.h);
}

Test(heap_realloc, shrink_stays_in_place_while_memory_is_plentiful)
{
    scarce_t sc = scarce_heap(false);
    for (size_t i = 0; i < sc.nrest; i++)
        talc_heap_free(sc.h, sc.rest[i]);
    cr_assert_eq(talc_heap_realloc(sc.h, sc.a, 500), sc.a);
    expect_prefix(sc.a, 500, 77);
    HEAP_OK(sc.h);
}

/* "The largest span" is the largest the heap has now: a span that was released, or cut
 * down, no longer makes a mostly free heap look scarce. */
Test(heap_realloc, a_span_that_left_does_not_make_memory_scarce)
{
    for (int truncate = 0; truncate <= 1; truncate++) {
        scarce_t sc = scarce_heap(false);
        for (size_t i = 0; i < sc.nrest; i++)
            talc_heap_free(sc.h, sc.rest[i]);
        void *hole = talc_heap_alloc(sc.h, 2000), *guard = talc_heap_alloc(sc.h, 16);
        cr_assert(hole && guard);
        talc_heap_free(sc.h, hole); /* a small chunk a moving shrink would take */
        size_t big = 1u << 20;
        talc_span_t *s = talc_heap_claim(sc.h, test_buffer(big), big);
        cr_assert_not_null(s);
        if (truncate)
            cr_assert_not_null(talc_span_truncate(sc.h, s, NULL), "cut to nothing");
        else
            cr_assert_eq(talc_span_release(sc.h, s), 0);
        cr_assert_eq(talc_heap_realloc(sc.h, sc.a, 500), sc.a, "%s",
                     truncate ? "after a truncate" : "after a release");
        expect_prefix(sc.a, 500, 77);
        talc_heap_free(sc.h, guard);
        HEAP_OK(sc.h);
    }
}

/* ---- resize_in_place ----------------------------------------------------------------------*/

Test(heap_realloc, resize_in_place_grows_into_free_neighbour)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    void *a = talc_heap_alloc(h, 100);
    void *b = talc_heap_alloc(h, 400);
    void *c = talc_heap_alloc(h, 100);
    fill(h, a, 41);
    talc_heap_free(h, b);
    cr_assert(talc_heap_resize_in_place(h, a, 450));
    cr_assert_geq(talc_heap_usable_size(h, a), 450);
    expect_prefix(a, 100, 41);
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, c);
    HEAP_OK(h);
}

Test(heap_realloc, resize_in_place_false_changes_nothing)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    void *a = talc_heap_alloc(h, 100);
    void *b = talc_heap_alloc(h, 100);
    fill(h, a, 51);
    fill(h, b, 52);
    size_t ua = talc_heap_usable_size(h, a);
    talc_heap_counters_t before = test_counters(h);
    const size_t sizes[] = {
        ua + 1, ua + 100, 4096, 1u << 20, SIZE_MAX, SIZE_MAX - 8, (size_t)PTRDIFF_MAX + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        cr_assert_not(talc_heap_resize_in_place(h, a, sizes[i]), "resize to %#zx", sizes[i]);
        talc_heap_counters_t after = test_counters(h);
        cr_assert(test_counters_equal(&before, &after),
                  "a failed resize_in_place changed the counters");
        cr_assert_eq(talc_heap_usable_size(h, a), ua);
        expect_prefix(a, ua, 51);
        expect_prefix(b, talc_heap_usable_size(h, b), 52);
        HEAP_OK(h);
    }
    talc_heap_free(h, a);
    talc_heap_free(h, b);
    HEAP_OK(h);
}

Test(heap_realloc, resize_in_place_shrinks_and_zero_means_one)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    void *a = talc_heap_alloc(h, 3000);
    void *guard = talc_heap_alloc(h, 16);
    fill(h, a, 61);
    cr_assert(talc_heap_resize_in_place(h, a, 1000));
    expect_prefix(a, 1000, 61);
    cr_assert_lt(talc_heap_usable_size(h, a), 3000);
    cr_assert(talc_heap_resize_in_place(h, a, 0), "size 0 is treated as 1");
    cr_assert_geq(talc_heap_usable_size(h, a), 1);
    expect_prefix(a, 1, 61);
#if TALC_COUNTERS
    cr_assert_eq(test_counters(h).live_bytes, 1 + 16, "size 0 counts as 1 byte");
#endif
    /* Within the usable size a resize always succeeds. */
    size_t u = talc_heap_usable_size(h, a);
    cr_assert(talc_heap_resize_in_place(h, a, u));
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, guard);
    HEAP_OK(h);
}
