/* test_heap_counters.c — talc_heap_counters: every field exact after every kind of operation
 * (init, alloc, aligned alloc, zero size, free, realloc in place / moving / sliding down,
 * resize_in_place, failed requests, claim, extend, truncate, release).
 * Built with TALC_COUNTERS=0 the counters must read as zeros. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "talc/heap.h"

TestSuite(heap_counters, .fini = test_buffers_free);

#if TALC_COUNTERS

static size_t span_bytes(const talc_heap_t *h, const talc_span_t *s)
{
    talc_span_info_t i;
    talc_span_get_info(h, s, &i);
    return (size_t)((unsigned char *)i.end - (unsigned char *)i.base);
}

/* The fields a test did not mean to change must not change. */
#define SAME(a, b, field)                                                                          \
    cr_assert_eq((a).field, (b).field, #field " changed: %llu -> %llu",                            \
                 (unsigned long long)(a).field, (unsigned long long)(b).field)

Test(heap_counters, after_init)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    talc_heap_counters_t c = test_counters(h);
    size_t managed = span_bytes(h, talc_heap_first_span(h));
    cr_assert_eq(c.live_allocs, 0);
    cr_assert_eq(c.total_allocs, 0);
    cr_assert_eq(c.live_bytes, 0);
    cr_assert_eq(c.total_bytes, 0);
    cr_assert_eq(c.peak_live_bytes, 0);
    cr_assert_eq(c.free_chunks, 1);
    cr_assert_gt(c.free_bytes, managed - 256, "one free chunk spans almost all of it");
    cr_assert_leq(c.free_bytes, managed);
    cr_assert_eq(c.live_spans, 1);
    cr_assert_eq(c.total_spans, 1);
    cr_assert_eq(c.managed_bytes, managed);
    cr_assert_eq(c.total_managed, managed);
    cr_assert_eq(c.failed_allocs, 0);
    talc_heap_t *empty = test_heap(talc_heap_footprint(), NULL);
    c = test_counters(empty);
    cr_assert_eq(c.live_spans + c.total_spans + c.managed_bytes + c.free_chunks, 0);
}

Test(heap_counters, alloc_and_free_count_requested_bytes)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    talc_heap_counters_t c0 = test_counters(h);
    void *a = talc_heap_alloc(h, 100);
    void *b = talc_heap_alloc(h, 1);
    void *z = talc_heap_alloc(h, 0);
    void *d = talc_heap_alloc_aligned(h, 300, 1024);
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.live_allocs, 4);
    cr_assert_eq(c.total_allocs, 4);
    cr_assert_eq(c.live_bytes, 401, "requested sizes, not usable sizes or padding");
    cr_assert_eq(c.total_bytes, 401);
    cr_assert_eq(c.peak_live_bytes, 401);
    cr_assert_lt(c.free_bytes, c0.free_bytes);
    SAME(c0, c, managed_bytes);
    SAME(c0, c, live_spans);
    SAME(c0, c, failed_allocs);
    HEAP_OK(h);
    talc_heap_free(h, a);
    c = test_counters(h);
    cr_assert_eq(c.live_allocs, 3);
    cr_assert_eq(c.total_allocs, 4);
    cr_assert_eq(c.live_bytes, 301);
    cr_assert_eq(c.total_bytes, 401);
    cr_assert_eq(c.peak_live_bytes, 401, "the peak stays");
    talc_heap_free(h, b);
    talc_heap_free(h, z);
    talc_heap_free(h, d);
    c = test_counters(h);
    cr_assert_eq(c.live_allocs, 0);
    cr_assert_eq(c.live_bytes, 0);
    cr_assert_eq(c.total_allocs, 4);
    cr_assert_eq(c.free_bytes, c0.free_bytes);
    cr_assert_eq(c.free_chunks, 1);
    HEAP_OK(h);
}

Test(heap_counters, peak_tracks_the_highest_live_total)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *a = talc_heap_alloc(h, 1000);
    void *b = talc_heap_alloc(h, 2000);
    talc_heap_free(h, a);
    talc_heap_free(h, b);
    void *c = talc_heap_alloc(h, 10);
    cr_assert_eq(test_counters(h).peak_live_bytes, 3000);
    void *d = talc_heap_alloc(h, 5000);
    cr_assert_eq(test_counters(h).peak_live_bytes, 5010);
    talc_heap_free(h, c);
    talc_heap_free(h, d);
    HEAP_OK(h);
}

Test(heap_counters, failed_allocs_counts_every_null)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    uint64_t f = 0;
    cr_assert_null(talc_heap_alloc(h, SIZE_MAX));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "size too large");
    cr_assert_null(talc_heap_alloc(h, 64 * 1024));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "out of memory");
    cr_assert_null(talc_heap_alloc_aligned(h, 8, 0));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "align 0");
    cr_assert_null(talc_heap_alloc_aligned(h, 8, 24));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "align 24");
    cr_assert_null(talc_heap_alloc_aligned(h, 8, SIZE_MAX / 2 + 1));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "align 2^40");
    cr_assert_null(talc_heap_realloc(h, NULL, SIZE_MAX));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "realloc(NULL, huge)");
    void *p = talc_heap_alloc(h, 100);
    void *guard = talc_heap_alloc(h, 100);
    cr_assert_null(talc_heap_realloc(h, p, 64 * 1024));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "realloc out of memory");
    cr_assert_null(talc_heap_realloc(h, p, SIZE_MAX));
    cr_assert_eq(test_counters(h).failed_allocs, ++f, "realloc too large");
    /* Not allocations that failed: */
    cr_assert_not(talc_heap_resize_in_place(h, p, 64 * 1024));
    cr_assert_null(talc_heap_realloc(h, guard, 0));
    talc_heap_free(h, NULL);
    cr_assert_eq(test_counters(h).failed_allocs, f, "resize_in_place false / realloc(p, 0)");
    cr_assert_eq(test_counters(h).total_allocs, 2, "failures are not allocations");
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_counters, realloc_in_place)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *p = talc_heap_alloc(h, 100);
    talc_heap_counters_t c0 = test_counters(h);
    cr_assert_eq(talc_heap_realloc(h, p, 1000), p, "grows in place into the top chunk");
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.live_bytes, 1000);
    cr_assert_eq(c.total_bytes, c0.total_bytes + 900, "in-place grow adds the delta");
    cr_assert_eq(c.peak_live_bytes, 1000);
    SAME(c0, c, live_allocs);
    SAME(c0, c, total_allocs);
    cr_assert_eq(talc_heap_realloc(h, p, 10), p);
    c = test_counters(h);
    cr_assert_eq(c.live_bytes, 10);
    cr_assert_eq(c.total_bytes, c0.total_bytes + 900, "shrinking adds nothing");
    cr_assert_eq(c.peak_live_bytes, 1000);
    SAME(c0, c, total_allocs);
    cr_assert(talc_heap_resize_in_place(h, p, 500));
    c = test_counters(h);
    cr_assert_eq(c.live_bytes, 500);
    cr_assert_eq(c.total_bytes, c0.total_bytes + 900 + 490);
    SAME(c0, c, total_allocs);
    cr_assert(talc_heap_resize_in_place(h, p, 0));
    cr_assert_eq(test_counters(h).live_bytes, 1, "size 0 is treated as 1");
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_counters, moving_realloc_counts_one_allocation)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *p = talc_heap_alloc(h, 100);
    void *guard = talc_heap_alloc(h, 16);
    talc_heap_counters_t c0 = test_counters(h);
    void *q = talc_heap_realloc(h, p, 5000);
    cr_assert_not_null(q);
    cr_assert_neq(q, p);
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.live_allocs, 2);
    cr_assert_eq(c.total_allocs, c0.total_allocs + 1, "a moving realloc counts one");
    cr_assert_eq(c.live_bytes, 5016);
    cr_assert_eq(c.total_bytes, c0.total_bytes + 5000);
    /* The peak is the highest live total a caller can see: the old and the new block are
     * never live together (they were counted so until 2026-12-04). */
    cr_assert_eq(c.peak_live_bytes, 5016);
    talc_heap_free(h, q);
    talc_heap_free(h, guard);
    HEAP_OK(h);
}

/* The block cannot grow above and nothing else fits, but the free chunk below does: the
 * block moves down. That is a moving realloc too. */
Test(heap_counters, realloc_into_the_chunk_below_counts_as_moving)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    test_hole_below_t t;
    test_hole_below(h, 2000, 1000, &t);
    talc_heap_counters_t c0 = test_counters(h);
    void *q = talc_heap_realloc(h, t.p, 2500);
    cr_assert_not_null(q);
    cr_assert_neq(q, t.p, "the block moved down");
    talc_heap_counters_t c = test_counters(h);
    SAME(c0, c, live_allocs);
    cr_assert_eq(c.live_bytes, c0.live_bytes + 1500);
    cr_assert_eq(c.total_allocs, c0.total_allocs + 1, "a moving realloc counts one");
    cr_assert_eq(c.total_bytes, c0.total_bytes + 2500, "... of its new size");
    HEAP_OK(h);
    talc_heap_free(h, q);
    test_hole_below_done(h, &t);
    HEAP_OK(h);
}

Test(heap_counters, spans_claim_extend_truncate_release)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    talc_heap_counters_t c0 = test_counters(h);
    unsigned char *buf = test_buffer(64 * 1024);
    talc_span_t *s = talc_heap_claim(h, buf + 99, 10001); /* Talc's odd-offset case */
    cr_assert_not_null(s);
    size_t m = span_bytes(h, s);
    cr_assert_leq(m, 10001);
    cr_assert_gt(m, 10001 - 256);
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.live_spans, c0.live_spans + 1);
    cr_assert_eq(c.total_spans, c0.total_spans + 1);
    cr_assert_eq(c.managed_bytes, c0.managed_bytes + m);
    cr_assert_eq(c.total_managed, c0.total_managed + m);
    cr_assert_eq(c.free_chunks, c0.free_chunks + 1);
    HEAP_OK(h);

    void *e = talc_span_extend(h, s, buf + 40000);
    size_t m2 = span_bytes(h, s);
    cr_assert_eq((unsigned char *)e - (buf + 99), (ptrdiff_t)m2);
    c = test_counters(h);
    cr_assert_eq(c.managed_bytes, c0.managed_bytes + m2);
    cr_assert_eq(c.total_managed, c0.total_managed + m2, "extend adds to the total");
    cr_assert_eq(c.live_spans, c0.live_spans + 1);
    HEAP_OK(h);

    /* Allocate in s, then truncate above it. */
    static void *rest[16];
    size_t nr = 0;
    void *p = NULL;
    while (nr < 16) { /* use up the first span so the block lands in s */
        p = talc_heap_alloc(h, 1000);
        cr_assert_not_null(p);
        if ((uintptr_t)p >= (uintptr_t)buf && (uintptr_t)p < (uintptr_t)buf + 65536)
            break;
        rest[nr++] = p;
    }
    void *r = talc_span_truncate(h, s, NULL);
    size_t m3 = span_bytes(h, s);
    cr_assert_lt(m3, m2);
    c = test_counters(h);
    cr_assert_eq(c.managed_bytes, c0.managed_bytes + m3);
    cr_assert_eq(c.total_managed, c0.total_managed + m2, "truncate does not reduce the total");
    cr_assert_eq(c.live_allocs, nr + 1);
    (void)r;
    HEAP_OK(h);

    talc_heap_free(h, p);
    cr_assert_eq(talc_span_release(h, s), 0);
    c = test_counters(h);
    cr_assert_eq(c.live_spans, c0.live_spans);
    cr_assert_eq(c.total_spans, c0.total_spans + 1);
    cr_assert_eq(c.managed_bytes, c0.managed_bytes);
    cr_assert_eq(c.total_managed, c0.total_managed + m2);
    for (size_t i = 0; i < nr; i++)
        talc_heap_free(h, rest[i]);
    c = test_counters(h);
    cr_assert_eq(c.free_bytes, c0.free_bytes);
    cr_assert_eq(c.free_chunks, c0.free_chunks);
    HEAP_OK(h);
}

Test(heap_counters, free_counters_follow_the_walk)
{
    talc_heap_t *h = test_heap(128 * 1024, NULL);
    void *p[100];
    for (size_t i = 0; i < 100; i++)
        p[i] = talc_heap_alloc(h, 10 + i * 7);
    for (size_t i = 0; i < 100; i += 3)
        talc_heap_free(h, p[i]);
    test_walk_t w = test_walk(h);
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.free_chunks, w.free);
    cr_assert_geq(c.free_bytes, w.free_usable, "free bytes include the chunk headers");
    cr_assert_leq(c.free_bytes, w.free_usable + w.free * 64);
    cr_assert_eq(c.live_allocs, w.used);
    HEAP_OK(h);
}

#else /* !TALC_COUNTERS */

Test(heap_counters, read_as_zeros_when_compiled_out)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *p = talc_heap_alloc(h, 100);
    talc_heap_counters_t c;
    memset(&c, 0xFF, sizeof c);
    talc_heap_counters(h, &c);
    talc_heap_counters_t zero;
    memset(&zero, 0, sizeof zero);
    cr_assert(test_counters_equal(&c, &zero));
    talc_heap_free(h, p);
    HEAP_OK(h);
}

#endif
