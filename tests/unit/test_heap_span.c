/* test_heap_span.c — spans: talc_heap_claim, talc_span_min_size, talc_span_extend,
 * talc_span_truncate, talc_span_release, talc_span_get_info, talc_heap_next_span.
 *
 * White-box (UNIT) only for the size of the span header and the minimum chunk, which bound
 * the ranges that can never be claimed; everything else uses the public API. Ranges at the top
 * of the address space use fake addresses that a correct engine never touches (they are too
 * small to claim), so a wrapping computation shows up as a crash. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "../common/pattern.h"
#include "heap_internal.h"
#include "talc/heap.h"

TestSuite(heap_span, .fini = test_buffers_free);

/* Anything smaller than a span header plus one minimum chunk can never be claimed. */
#define NEVER_FITS (sizeof(struct talc_span) + TALC_MIN_CHUNK)

static talc_span_info_t info_of(const talc_heap_t *h, const talc_span_t *s)
{
    talc_span_info_t i;
    talc_span_get_info(h, s, &i);
    return i;
}

static size_t span_count(const talc_heap_t *h)
{
    size_t n = 0;
    for (talc_span_t *s = talc_heap_next_span(h, NULL); s; s = talc_heap_next_span(h, s))
        n++;
    return n;
}

Test(heap_span, claims_several_and_iterates_in_claim_order)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    talc_span_t *first = talc_heap_first_span(h);
    cr_assert_not_null(first);
    talc_span_t *s[4];
    unsigned char *buf[4];
    for (size_t i = 0; i < 4; i++) {
        buf[i] = test_buffer(64 * 1024);
        s[i] = talc_heap_claim(h, buf[i] + i, 64 * 1024 - i);
        cr_assert_not_null(s[i]);
        talc_span_info_t in = info_of(h, s[i]);
        cr_assert_eq(in.base, buf[i] + i, "base is as passed");
        cr_assert_leq((uintptr_t)in.end, (uintptr_t)buf[i] + 64 * 1024);
        cr_assert_gt((uintptr_t)in.end, (uintptr_t)buf[i] + 60 * 1024);
        cr_assert(in.empty);
        HEAP_OK(h);
    }
    talc_span_t *it = talc_heap_next_span(h, NULL);
    cr_assert_eq(it, first);
    for (size_t i = 0; i < 4; i++) {
        it = talc_heap_next_span(h, it);
        cr_assert_eq(it, s[i], "span %zu out of claim order", i);
    }
    cr_assert_null(talc_heap_next_span(h, it));
    /* Blocks too big for the first span land in the others. */
    void *p[4];
    for (size_t i = 0; i < 4; i++) {
        p[i] = talc_heap_alloc(h, 40 * 1024);
        cr_assert_not_null(p[i]);
        size_t owner = 4;
        for (size_t k = 0; k < 4; k++)
            if ((uintptr_t)p[i] >= (uintptr_t)buf[k] &&
                (uintptr_t)p[i] < (uintptr_t)buf[k] + 64 * 1024)
                owner = k;
        cr_assert_lt(owner, 4, "block %p is in no claimed span", p[i]);
        cr_assert_not(info_of(h, s[owner]).empty);
    }
    HEAP_OK(h);
    for (size_t i = 0; i < 4; i++)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
}

Test(heap_span, claim_refuses_null_and_tiny_ranges)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    talc_heap_counters_t before = test_counters(h);
    unsigned char *buf = test_buffer(4096);
    cr_assert_null(talc_heap_claim(h, NULL, 4096), "address 0 is refused");
    cr_assert_null(talc_heap_claim(h, NULL, SIZE_MAX));
    for (size_t off = 0; off < 64; off++)
        for (size_t size = 0; size < NEVER_FITS; size++)
            cr_assert_null(talc_heap_claim(h, buf + off, size), "claim(+%zu, %zu)", off, size);
    talc_heap_counters_t after = test_counters(h);
    cr_assert(test_counters_equal(&before, &after), "refused claims changed counters");
    cr_assert_eq(span_count(h), 1);
    HEAP_OK(h);
}

/* A tiny range at a low address (just above 0): refused, never touched. */
Test(heap_span, claim_refuses_tiny_range_near_address_zero)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    for (uintptr_t b = 1; b < 256; b++)
        for (size_t size = 0; size < NEVER_FITS; size += 7)
            cr_assert_null(talc_heap_claim(h, (void *)b, size));
    HEAP_OK(h);
}

/* The end saturates at the top of the address space and nothing wraps: every range here is
 * smaller than NEVER_FITS, so the only correct answer is NULL without touching memory. */
Test(heap_span, claim_at_the_top_of_the_address_space_never_wraps)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    for (uintptr_t back = 1; back <= 512; back++) {
        void *base = (void *)(UINTPTR_MAX - back + 1); /* [base, 2^N) holds `back` bytes */
        if (back < NEVER_FITS) {
            cr_assert_null(talc_heap_claim(h, base, SIZE_MAX), "saturated, %zu bytes",
                           (size_t)back);
            cr_assert_null(talc_heap_claim(h, base, back));
            cr_assert_null(talc_heap_claim(h, base, back + 1000), "wraps past the top");
        }
        for (size_t size = 0; size < NEVER_FITS && size <= back; size += 3)
            cr_assert_null(talc_heap_claim(h, base, size), "claim(top - %zu, %zu)", (size_t)back,
                           size);
    }
    cr_assert_eq(span_count(h), 1);
    HEAP_OK(h);
}

static void min_size_guarantee(size_t line)
{
    talc_heap_opts_t o = {0};
    o.cache_line = line;
    talc_heap_t *h = test_heap(test_small_heap(), &o);
    size_t min = talc_span_min_size(h);
    cr_assert_geq(min, NEVER_FITS);
    unsigned char *buf = test_buffer_aligned(min + 8192, 4096);
    size_t spans = span_count(h);
    for (size_t off = 0; off < (line > 64 ? 2 * line : 64); off++) {
        talc_span_t *s = talc_heap_claim(h, buf + off, min);
        cr_assert_not_null(s, "line %zu: claim(base %% 64 = %zu, min %zu) failed", line, off, min);
        HEAP_OK(h);
        void *p = talc_heap_alloc(h, 1);
        cr_assert_not_null(p, "line %zu off %zu: a minimum span holds a block", line, off);
        talc_heap_free(h, p);
        cr_assert_eq(talc_span_release(h, s), 0);
        HEAP_OK(h);
    }
    cr_assert_eq(span_count(h), spans);
}

Test(heap_span, min_size_fits_at_every_base_misalignment)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    /* Use up the first span so that allocations must come from the claimed one. */
    static void *rest[16];
    test_exhaust(h, rest, 16);
    size_t min = talc_span_min_size(h);
    unsigned char *buf = test_buffer_aligned(min + 128, 4096);
    for (size_t off = 0; off < 64; off++) {
        talc_span_t *s = talc_heap_claim(h, buf + off, min);
        cr_assert_not_null(s, "claim(base %% 64 = %zu, %zu) failed", off, min);
        void *p = talc_heap_alloc(h, 1);
        cr_assert_not_null(p, "off %zu: no block from a minimum span", off);
        cr_assert((uintptr_t)p >= (uintptr_t)buf + off &&
                  (uintptr_t)p < (uintptr_t)buf + off + min);
        HEAP_OK(h);
        cr_assert_eq(talc_span_release(h, s), -EBUSY);
        talc_heap_free(h, p);
        cr_assert_eq(talc_span_release(h, s), 0);
        HEAP_OK(h);
    }
    min_size_guarantee(64);
    min_size_guarantee(128);
    min_size_guarantee(4096);
}

/* "Smallest size for which talc_heap_claim always succeeds": one byte less fails for some
 * base alignment. */
Test(heap_span, min_size_is_the_smallest)
{
    static const size_t lines[] = {0, 64, 4096};
    for (size_t li = 0; li < 3; li++) {
        talc_heap_opts_t o = {0};
        o.cache_line = lines[li];
        talc_heap_t *h = test_heap(test_small_heap(), &o);
        size_t min = talc_span_min_size(h);
        unsigned char *buf = test_buffer_aligned(min + 16384, 8192);
        bool some_fail = false;
        for (size_t off = 0; off < 8192 && !some_fail; off++) {
            talc_span_t *s = talc_heap_claim(h, buf + off, min - 1);
            if (!s)
                some_fail = true;
            else
                cr_assert_eq(talc_span_release(h, s), 0);
        }
        cr_assert(some_fail, "line %zu: talc_span_min_size() = %zu, but %zu always fits", lines[li],
                  min, min - 1);
    }
}

Test(heap_span, extend_grows_the_top)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    static void *rest[16];
    size_t nr = test_exhaust(h, rest, 16);
    unsigned char *buf = test_buffer(64 * 1024);
    talc_span_t *s = talc_heap_claim(h, buf, 4096);
    cr_assert_not_null(s);
    talc_span_info_t in = info_of(h, s);
    talc_heap_counters_t c0 = test_counters(h);
    /* Not above the end, or not enough for a chunk: nothing changes. */
    cr_assert_eq(talc_span_extend(h, s, NULL), in.end);
    cr_assert_eq(talc_span_extend(h, s, buf), in.end);
    cr_assert_eq(talc_span_extend(h, s, in.end), in.end);
    cr_assert_eq(talc_span_extend(h, s, (unsigned char *)in.end + 1), in.end);
    talc_heap_counters_t c1 = test_counters(h);
    cr_assert(test_counters_equal(&c0, &c1));
    HEAP_OK(h);
    cr_assert_null(talc_heap_alloc(h, 8000), "does not fit yet");
    void *e = talc_span_extend(h, s, buf + 64 * 1024);
    cr_assert_gt((uintptr_t)e, (uintptr_t)in.end);
    cr_assert_leq((uintptr_t)e, (uintptr_t)buf + 64 * 1024);
    cr_assert_gt((uintptr_t)e, (uintptr_t)buf + 64 * 1024 - 256, "aligned down only a little");
    cr_assert_eq(info_of(h, s).end, e);
    cr_assert_eq(test_walk(h).free, 1, "the new memory merged with the top free chunk");
#if TALC_COUNTERS
    talc_heap_counters_t c2 = test_counters(h);
    size_t delta = (size_t)((unsigned char *)e - (unsigned char *)in.end);
    cr_assert_eq(c2.managed_bytes, c0.managed_bytes + delta);
    cr_assert_eq(c2.total_managed, c0.total_managed + delta);
    cr_assert_eq(c2.live_spans, c0.live_spans);
#endif
    HEAP_OK(h);
    void *p = talc_heap_alloc(h, 8000);
    cr_assert_not_null(p);
    cr_assert((uintptr_t)p >= (uintptr_t)buf && (uintptr_t)p + 8000 <= (uintptr_t)e);
    talc_heap_free(h, p);
    for (size_t i = 0; i < nr; i++)
        talc_heap_free(h, rest[i]);
    HEAP_OK(h);
}

/* Extend when the top chunk is allocated: a new free chunk appears above it. */
Test(heap_span, extend_above_an_allocated_top)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    unsigned char *buf = test_buffer(64 * 1024);
    talc_span_t *s = talc_heap_claim(h, buf, 4096);
    static void *rest[16];
    size_t nr = test_exhaust(h, rest, 16);
    cr_assert_eq(test_walk(h).free, 0);
    void *e = talc_span_extend(h, s, buf + 8192);
    cr_assert_gt((uintptr_t)e, (uintptr_t)buf + 4096);
    cr_assert_eq(test_walk(h).free, 1);
    HEAP_OK(h);
    void *p = talc_heap_alloc(h, 2000);
    cr_assert_not_null(p);
    cr_assert((uintptr_t)p >= (uintptr_t)buf + 4096 - 64);
    talc_heap_free(h, p);
    for (size_t i = 0; i < nr; i++)
        talc_heap_free(h, rest[i]);
    HEAP_OK(h);
}

Test(heap_span, truncate_gives_back_the_free_top)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    unsigned char *buf = test_buffer(64 * 1024);
    talc_span_t *s = talc_heap_claim(h, buf, 64 * 1024);
    static void *rest[16];
    size_t nr = test_exhaust(h, rest, 16); /* ... of the first span and s */
    for (size_t i = 0; i < nr; i++)
        talc_heap_free(h, rest[i]);
    /* Now make a few blocks at the bottom of s. */
    void *p[3];
    talc_span_t *first = talc_heap_first_span(h);
    static void *fill1[16];
    size_t nf = test_exhaust(h, fill1, 16);
    for (size_t i = 0; i < nf; i++)
        if ((uintptr_t)fill1[i] >= (uintptr_t)buf && (uintptr_t)fill1[i] < (uintptr_t)buf + 65536)
            talc_heap_free(h, fill1[i]), fill1[i] = NULL; /* keep s empty, first span full */
    (void)first;
    for (size_t i = 0; i < 3; i++) {
        p[i] = talc_heap_alloc(h, 1000);
        cr_assert((uintptr_t)p[i] >= (uintptr_t)buf && (uintptr_t)p[i] < (uintptr_t)buf + 65536);
        memset(p[i], (int)i + 1, 1000);
    }
    talc_span_info_t in = info_of(h, s);
    cr_assert_not(in.empty);
    cr_assert_geq((uintptr_t)in.reserved, (uintptr_t)p[2] + 1000);
    cr_assert_lt((uintptr_t)in.reserved, (uintptr_t)in.end);
    /* Above the end: no change. */
    cr_assert_eq(talc_span_truncate(h, s, (unsigned char *)in.end + 4096), in.end);
    cr_assert_eq(talc_span_truncate(h, s, in.end), in.end);
    /* Towards a point in the middle of the free top. */
    unsigned char *mid = (unsigned char *)in.reserved + 8192;
    void *r = talc_span_truncate(h, s, mid);
    cr_assert_geq((uintptr_t)r, (uintptr_t)in.reserved);
    cr_assert_leq((uintptr_t)r, (uintptr_t)mid + 256, "truncate to %p stopped at %p", mid, r);
    cr_assert_gt((uintptr_t)r, (uintptr_t)mid - 256);
    HEAP_OK(h);
    /* As far as possible: exactly the reserved end. */
    r = talc_span_truncate(h, s, NULL);
    cr_assert_eq(r, in.reserved);
    cr_assert_eq(info_of(h, s).end, r);
    cr_assert_eq(info_of(h, s).reserved, r);
    /* The memory above belongs to the caller again. */
    memset(r, 0xEE, (size_t)(buf + 65536 - (unsigned char *)r));
    HEAP_OK(h);
    for (size_t i = 0; i < 3; i++) {
        unsigned char *b = p[i];
        for (size_t k = 0; k < 1000; k++)
            cr_assert_eq(b[k], i + 1, "block %zu damaged at %zu", i, k);
    }
    /* Allocation now fails (s has no free chunk, the first span is full)... */
    cr_assert_null(talc_heap_alloc(h, 100));
    /* ...and a truncate with an allocated top changes nothing. */
    cr_assert_eq(talc_span_truncate(h, s, NULL), r);
    cr_assert_eq(talc_span_truncate(h, s, buf), r, "never below the highest allocated byte");
    talc_heap_free(h, p[2]);
    r = talc_span_truncate(h, s, NULL);
    cr_assert_eq(r, info_of(h, s).reserved);
    cr_assert_leq((uintptr_t)r, (uintptr_t)p[2], "the freed top was given back");
    HEAP_OK(h);
    talc_heap_free(h, p[0]);
    talc_heap_free(h, p[1]);
    for (size_t i = 0; i < nf; i++)
        talc_heap_free(h, fill1[i]);
    HEAP_OK(h);
}

/* Talc's own sequence: claim, truncate everything, allocation fails, extend a little,
 * allocate, extend fully, allocate big, free all. */
Test(heap_span, truncate_extend_round_trip)
{
    talc_heap_t *h = test_heap(talc_heap_footprint(), NULL); /* no first span */
    unsigned char *buf = test_buffer(100000);
    talc_span_t *s = talc_heap_claim(h, buf, 100000);
    cr_assert_not_null(s);
    void *r = talc_span_truncate(h, s, NULL);
    cr_assert(info_of(h, s).empty);
    cr_assert_null(talc_heap_alloc(h, 16), "nothing left after truncating everything");
    HEAP_OK(h);
    void *e = talc_span_extend(h, s, (unsigned char *)r + 256);
    cr_assert_gt((uintptr_t)e, (uintptr_t)r);
    void *small = talc_heap_alloc(h, 16);
    cr_assert_not_null(small);
    HEAP_OK(h);
    e = talc_span_extend(h, s, buf + 100000);
    void *big = talc_heap_alloc(h, 80000);
    cr_assert_not_null(big);
    HEAP_OK(h);
    talc_heap_free(h, small);
    talc_heap_free(h, big);
    HEAP_OK(h);
    cr_assert_eq(talc_span_release(h, s), 0);
    cr_assert_null(talc_heap_next_span(h, NULL));
    HEAP_OK(h);
}

Test(heap_span, release_is_busy_until_empty)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    static void *rest[16];
    size_t nr = test_exhaust(h, rest, 16);
    unsigned char *buf = test_buffer(32 * 1024);
    talc_span_t *s = talc_heap_claim(h, buf + 3, 32 * 1024 - 3);
    talc_span_info_t in = info_of(h, s);
    talc_heap_counters_t c0 = test_counters(h);
    void *p = talc_heap_alloc(h, 100);
    cr_assert((uintptr_t)p >= (uintptr_t)buf && (uintptr_t)p < (uintptr_t)buf + 32768);
    cr_assert_eq(talc_span_release(h, s), -EBUSY);
    cr_assert_eq(span_count(h), 2, "a busy span stays");
    HEAP_OK(h);
    talc_heap_free(h, p);
    cr_assert(info_of(h, s).empty);
    cr_assert_eq(talc_span_release(h, s), 0);
    cr_assert_eq(span_count(h), 1);
    cr_assert_eq(talc_heap_next_span(h, talc_heap_first_span(h)), NULL);
#if TALC_COUNTERS
    talc_heap_counters_t c1 = test_counters(h);
    cr_assert_eq(c1.live_spans, c0.live_spans - 1);
    cr_assert_eq(c1.total_spans, c0.total_spans);
    cr_assert_eq(c1.managed_bytes,
                 c0.managed_bytes - (size_t)((unsigned char *)in.end - (unsigned char *)in.base));
    cr_assert_eq(c1.total_managed, c0.total_managed);
#endif
    (void)in;
    (void)c0;
    /* The whole range is the caller's: scribble it; nothing may come from it any more. */
    memset(buf, 0xEE, 32 * 1024);
    HEAP_OK(h);
    cr_assert_null(talc_heap_alloc(h, 100), "the first span is full, s is gone");
    /* It can be claimed again. */
    s = talc_heap_claim(h, buf, 32 * 1024);
    cr_assert_not_null(s);
    p = talc_heap_alloc(h, 100);
    cr_assert_not_null(p);
    talc_heap_free(h, p);
    for (size_t i = 0; i < nr; i++)
        talc_heap_free(h, rest[i]);
    HEAP_OK(h);
}

Test(heap_span, the_first_span_can_be_released)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    talc_span_t *first = talc_heap_first_span(h);
    void *p = talc_heap_alloc(h, 10);
    cr_assert_eq(talc_span_release(h, first), -EBUSY);
    talc_heap_free(h, p);
    cr_assert_eq(talc_span_release(h, first), 0);
    cr_assert_null(talc_heap_next_span(h, NULL));
    cr_assert_null(talc_heap_first_span(h));
    cr_assert_null(talc_heap_alloc(h, 10));
    HEAP_OK(h);
    unsigned char *buf = test_buffer(8192);
    cr_assert_not_null(talc_heap_claim(h, buf, 8192));
    p = talc_heap_alloc(h, 10);
    cr_assert_not_null(p);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_span, span_info_tracks_use)
{
    talc_heap_t *h = test_heap(talc_heap_footprint(), NULL);
    unsigned char *buf = test_buffer(16384);
    talc_span_t *s = talc_heap_claim(h, buf + 5, 16000);
    talc_span_info_t in = info_of(h, s);
    cr_assert_eq(in.base, buf + 5);
    cr_assert(in.empty);
    cr_assert_lt((uintptr_t)in.reserved, (uintptr_t)in.end);
    cr_assert_geq((uintptr_t)in.reserved, (uintptr_t)in.base);
    void *a = talc_heap_alloc(h, 100);
    void *b = talc_heap_alloc(h, 100);
    in = info_of(h, s);
    cr_assert_not(in.empty);
    cr_assert_geq((uintptr_t)in.reserved, (uintptr_t)b + 100);
    talc_heap_free(h, a);
    cr_assert_not(info_of(h, s).empty);
    talc_heap_free(h, b);
    in = info_of(h, s);
    cr_assert(in.empty);
    HEAP_OK(h);
}

/* Span handles of another heap are reported (TALC_FAULT_BAD_SPAN) and ignored. */
Test(heap_span, foreign_span_is_reported)
{
    test_faults.count = 0;
    talc_heap_opts_t oa = test_opts("A");
    talc_heap_t *a = test_heap(16 * 1024, &oa);
    talc_heap_t *b = test_heap(16 * 1024, NULL);
    talc_span_t *sb = talc_heap_first_span(b);
    talc_span_info_t before = info_of(b, sb);

    cr_assert_neq(talc_span_release(a, sb), 0);
    cr_assert_eq(test_faults.count, 1);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_BAD_SPAN);
    cr_assert_eq(test_faults.last.address, sb);
    cr_assert_str_eq(test_faults.last.heap_name, "A");

    talc_span_info_t in;
    talc_span_get_info(a, sb, &in);
    cr_assert_eq(test_faults.count, 2);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_BAD_SPAN);

    talc_span_extend(a, sb, (unsigned char *)before.end + 4096);
    cr_assert_eq(test_faults.count, 3);
    talc_span_truncate(a, sb, NULL);
    cr_assert_eq(test_faults.count, 4);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_BAD_SPAN);

    talc_span_info_t after = info_of(b, sb);
    cr_assert(after.base == before.base && after.end == before.end &&
                  after.reserved == before.reserved && after.empty == before.empty,
              "heap B's span was modified");
    HEAP_OK(a);
    HEAP_OK(b);
    cr_assert_eq(span_count(b), 1);
}

#if TALC_DEBUG >= 1
/* claim's precondition (no overlap with another span) is checked in debug builds against the
 * claiming heap: its spans and its control block (found 2026-12-04: such a claim succeeded and
 * a later allocation landed inside a live block). */
Test(heap_span, debug_builds_refuse_a_claim_over_this_heaps_memory)
{
    test_faults.count = 0;
    talc_heap_opts_t o = test_opts("overlap");
    unsigned char *mem = test_buffer(64 * 1024);
    talc_heap_t *h = talc_heap_init(mem, 32 * 1024, &o);
    cr_assert_not_null(h);
    void *live = talc_heap_alloc(h, 4000);
    cr_assert_not_null(live);
    size_t min = talc_span_min_size(h);
    cr_assert_null(talc_heap_claim(h, (char *)live - 64, min), "over the first span");
    cr_assert_eq(test_faults.count, 1);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_BAD_SPAN);
    cr_assert_null(talc_heap_claim(h, mem, min), "over the control block");
    cr_assert_eq(test_faults.count, 2);
    talc_span_t *s = talc_heap_claim(h, mem + 32 * 1024, 16 * 1024);
    cr_assert_not_null(s, "right after the first span: no overlap");
    cr_assert_null(talc_heap_claim(h, mem + 40 * 1024, 16 * 1024), "over the second span");
    cr_assert_eq(test_faults.count, 3);
    cr_assert_eq(span_count(h), 2);
    talc_heap_free(h, live);
    HEAP_OK(h);
}
#endif
