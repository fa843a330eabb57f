/* test_heap_alloc.c — talc_heap_init, talc_heap_first_span, talc_heap_footprint and
 * talc_heap_alloc: argument checks, alignment, distinct non-overlapping blocks, zero size,
 * sizes that cannot be represented, exhaustion and recovery, "NULL iff no fit exists" (also
 * between two holes of one bin), and the split of a chunk whose tail can hold a free chunk. */
#include <criterion/criterion.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "../common/pattern.h"
#include "talc/heap.h"

TestSuite(heap_alloc, .fini = test_buffers_free);

Test(heap_alloc, footprint_is_small_and_constant)
{
    size_t fp = talc_heap_footprint();
    cr_assert_gt(fp, 0);
    size_t bound = TALC_BIN_SUB_SHIFT <= 5 ? 8192 : 16384; /* talc/heap.h */
    cr_assert_lt(fp, bound, "footprint %zu must stay below %zu bytes (talc/heap.h)", fp, bound);
    cr_assert_eq(fp, talc_heap_footprint());
}

Test(heap_alloc, init_rejects_bad_arguments)
{
    size_t fp = talc_heap_footprint();
    unsigned char *mem = test_buffer(fp + 4096);
    cr_assert_null(talc_heap_init(NULL, 4096, NULL), "NULL memory");
    cr_assert_null(talc_heap_init(mem, fp - 1, NULL), "smaller than the footprint");
    cr_assert_null(talc_heap_init(mem, 0, NULL), "size 0");
    for (size_t off = 1; off < TALC_MIN_ALIGN; off++)
        cr_assert_null(talc_heap_init(mem + off, 4096, NULL), "misaligned by %zu", off);
    static const size_t bad_lines[] = {
        1, 3, 48, 100, 8192, 65536, SIZE_MAX, TALC_MIN_ALIGN / 2, TALC_MIN_ALIGN + 1};
    for (size_t i = 0; i < sizeof bad_lines / sizeof bad_lines[0]; i++) {
        talc_heap_opts_t o = {0};
        o.cache_line = bad_lines[i];
        cr_assert_null(talc_heap_init(mem, fp + 4096, &o), "cache_line %zu", bad_lines[i]);
    }
}

Test(heap_alloc, init_with_only_the_footprint_has_no_span)
{
    size_t fp = talc_heap_footprint();
    unsigned char *mem = test_buffer(fp + 16);
    talc_heap_t *h = talc_heap_init(mem, fp, NULL);
    cr_assert_not_null(h);
    cr_assert_null(talc_heap_first_span(h));
    cr_assert_null(talc_heap_next_span(h, NULL));
    cr_assert_null(talc_heap_alloc(h, 1), "no memory to allocate from");
    HEAP_OK(h);
    /* A few bytes more than the footprint are still too few for a span. */
    h = talc_heap_init(mem, fp + 16, NULL);
    cr_assert_not_null(h);
    cr_assert_null(talc_heap_first_span(h));
    HEAP_OK(h);
}

Test(heap_alloc, init_claims_the_rest_as_first_span)
{
    size_t size = 64 * 1024;
    unsigned char *mem = test_buffer(size);
    talc_heap_t *h = talc_heap_init(mem, size, NULL);
    cr_assert_eq((void *)h, (void *)mem, "the control block lives at mem");
    talc_span_t *first = talc_heap_first_span(h);
    cr_assert_not_null(first);
    cr_assert_eq(talc_heap_next_span(h, NULL), first);
    cr_assert_null(talc_heap_next_span(h, first));
    talc_span_info_t info;
    talc_span_get_info(h, first, &info);
    cr_assert_geq((uintptr_t)info.base, (uintptr_t)mem + talc_heap_footprint());
    cr_assert_leq((uintptr_t)info.end, (uintptr_t)mem + size);
    cr_assert_gt((uintptr_t)info.end, (uintptr_t)mem + size - 4096, "most of it is usable");
    cr_assert(info.empty);
    cr_assert_eq(talc_heap_cache_line(h), 0);
    HEAP_OK(h);
    /* opts NULL and an all-zero opts behave the same. */
    talc_heap_opts_t zero = {0};
    cr_assert_not_null(talc_heap_init(mem, size, &zero));
}

Test(heap_alloc, init_copies_opts)
{
    talc_heap_opts_t o = test_opts("copied");
    talc_heap_t *h = test_heap(16 * 1024, &o);
    memset(&o, 0, sizeof o); /* the heap must not read the caller's struct again */
    static alignas(max_align_t) unsigned char junk[64];
    memset(junk, 0, sizeof junk);
    test_faults.count = 0;
    talc_heap_free(h, junk + 16);
    cr_assert_eq(test_faults.count, 1, "the handler from the copied opts is used");
    cr_assert_str_eq(test_faults.last.heap_name, "copied");
}

Test(heap_alloc, blocks_are_aligned_distinct_and_hold_their_bytes)
{
    talc_heap_t *h = test_heap(512 * 1024, NULL);
    enum { N = 400 };
    static unsigned char *p[N];
    static size_t sz[N];
    for (size_t i = 0; i < N; i++) {
        sz[i] = (i * 37) % 700 + (i % 3 == 0 ? 0 : 1);
        p[i] = talc_heap_alloc(h, sz[i]);
        cr_assert_not_null(p[i], "alloc %zu of %zu", i, sz[i]);
        cr_assert(test_is_aligned(p[i], TALC_MIN_ALIGN), "%p not aligned to %zu", p[i],
                  (size_t)TALC_MIN_ALIGN);
        size_t u = talc_heap_usable_size(h, p[i]);
        cr_assert_geq(u, sz[i]);
        test_pattern_fill(p[i], u, (uint32_t)i);
    }
    HEAP_OK(h);
    for (size_t i = 0; i < N; i++) {
        size_t u = talc_heap_usable_size(h, p[i]);
        cr_assert_eq(test_pattern_check(p[i], u, (uint32_t)i), u, "block %zu overwritten", i);
        for (size_t j = i + 1; j < N; j++)
            cr_assert_not(test_overlaps(p[i], u, p[j], talc_heap_usable_size(h, p[j])),
                          "blocks %zu and %zu overlap", i, j);
    }
    for (size_t i = 0; i < N; i += 2)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
    for (size_t i = 1; i < N; i += 2) {
        size_t u = talc_heap_usable_size(h, p[i]);
        cr_assert_eq(test_pattern_check(p[i], u, (uint32_t)i), u, "block %zu overwritten", i);
        talc_heap_free(h, p[i]);
    }
    HEAP_OK(h);
}

Test(heap_alloc, zero_size_gives_unique_blocks)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    void *p[8];
    for (size_t i = 0; i < 8; i++) {
        p[i] = talc_heap_alloc(h, 0);
        cr_assert_not_null(p[i]);
        cr_assert(test_is_aligned(p[i], TALC_MIN_ALIGN));
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(p[i], p[j], "size-0 blocks %zu and %zu are the same", i, j);
    }
    HEAP_OK(h);
    talc_heap_counters_t c = test_counters(h);
#if TALC_COUNTERS
    cr_assert_eq(c.live_allocs, 8);
    cr_assert_eq(c.live_bytes, 0);
#endif
    for (size_t i = 0; i < 8; i++)
        talc_heap_free(h, p[i]);
    c = test_counters(h);
#if TALC_COUNTERS
    cr_assert_eq(c.live_allocs, 0);
#endif
    (void)c;
    HEAP_OK(h);
}

/* Sizes near SIZE_MAX and PTRDIFF_MAX: NULL, never a small block from a wrapped size. */
Test(heap_alloc, unrepresentable_sizes_return_null)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    static const size_t sizes[] = {
        SIZE_MAX,
        SIZE_MAX - 1,
        SIZE_MAX - 7,
        SIZE_MAX - 8,
        SIZE_MAX - 15,
        SIZE_MAX - 16,
        SIZE_MAX - 31,
        SIZE_MAX - 63,
        SIZE_MAX - 4095,
        SIZE_MAX - 4096,
        SIZE_MAX - 8191,
        SIZE_MAX / 2,
        SIZE_MAX / 2 + 1,
        (size_t)PTRDIFF_MAX,
        (size_t)PTRDIFF_MAX + 1,
        (size_t)PTRDIFF_MAX - 7,
        (size_t)PTRDIFF_MAX - 64,
        (size_t)PTRDIFF_MAX - 4096,
        (size_t)1 << (sizeof(size_t) * 8 - 2),
    };
    size_t n = sizeof sizes / sizeof sizes[0];
    for (size_t i = 0; i < n; i++) {
        cr_assert_null(talc_heap_alloc(h, sizes[i]), "alloc(%#zx) must fail", sizes[i]);
        cr_assert_null(talc_heap_alloc_aligned(h, sizes[i], 64), "aligned(%#zx)", sizes[i]);
        cr_assert_null(talc_heap_realloc(h, NULL, sizes[i]), "realloc(NULL, %#zx)", sizes[i]);
        HEAP_OK(h);
    }
#if TALC_COUNTERS
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.failed_allocs, 3 * n);
    cr_assert_eq(c.live_allocs, 0);
    cr_assert_eq(c.total_allocs, 0);
#endif
    void *p = talc_heap_alloc(h, 100);
    cr_assert_not_null(p, "the heap still works");
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_alloc, exhaustion_then_full_recovery)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    talc_heap_counters_t fresh = test_counters(h);
    static void *p[4096];
    size_t n = test_fill(h, 40, p, 4096);
    cr_assert_gt(n, 100);
    cr_assert_lt(n, 4096);
    cr_assert_null(talc_heap_alloc(h, 40));
    HEAP_OK(h);
    for (size_t i = 0; i < n; i++)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
    test_walk_t w = test_walk(h);
    cr_assert_eq(w.free, 1, "everything coalesced into one chunk");
    cr_assert_eq(w.used, 0);
#if TALC_COUNTERS
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.free_bytes, fresh.free_bytes);
    cr_assert_eq(c.free_chunks, 1);
#endif
    (void)fresh;
    size_t again = test_fill(h, 40, p, 4096);
    cr_assert_eq(again, n, "same capacity after freeing everything");
    for (size_t i = again; i-- > 0;)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
}

/* A fresh heap is one free chunk: a request for exactly its usable size must fit, one more
 * byte must not; both without disturbing the heap. */
Test(heap_alloc, exact_fit_of_the_whole_span)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    test_walk_t w = test_walk(h);
    cr_assert_eq(w.free, 1);
    cr_assert_null(talc_heap_alloc(h, w.largest_free + 1));
    HEAP_OK(h);
    void *p = talc_heap_alloc(h, w.largest_free);
    cr_assert_eq(p, w.largest_free_ptr, "the only chunk, at its first usable byte");
    cr_assert_eq(talc_heap_usable_size(h, p), w.largest_free);
    cr_assert_null(talc_heap_alloc(h, 0), "nothing left");
    HEAP_OK(h);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

/* "NULL iff no fit exists": a single hole in a full heap must be found, for every hole size
 * (including holes in the bin just below the request's size class). */
Test(heap_alloc, finds_the_only_hole)
{
    talc_heap_t *h = test_heap(256 * 1024, NULL);
    static const size_t holes[] = {24, 40, 100, 1000, 1100, 1500, 3000, 4000, 5000, 9000, 20000};
    for (size_t k = 0; k < sizeof holes / sizeof holes[0]; k++) {
        void *a = talc_heap_alloc(h, 64);
        void *hole = talc_heap_alloc(h, holes[k]);
        void *b = talc_heap_alloc(h, 64);
        cr_assert(a && hole && b);
        size_t u = talc_heap_usable_size(h, hole);
        static void *rest[256];
        size_t n = test_exhaust(h, rest, 256);
        talc_heap_free(h, hole);
        HEAP_OK(h);
        /* Any size up to the hole's usable size fits (try the largest and a smaller one). */
        void *q = talc_heap_alloc(h, u);
        cr_assert_eq(q, hole, "hole of %zu usable bytes not found for %zu", u, u);
        talc_heap_free(h, q);
        q = talc_heap_alloc(h, u - u / 8);
        cr_assert_eq(q, hole, "hole of %zu usable bytes not found for %zu", u, u - u / 8);
        talc_heap_free(h, q);
        cr_assert_null(talc_heap_alloc(h, u + 1), "no chunk holds %zu bytes", u + 1);
        HEAP_OK(h);
        talc_heap_free(h, a);
        talc_heap_free(h, b);
        for (size_t i = 0; i < n; i++)
            talc_heap_free(h, rest[i]);
        HEAP_OK(h);
        cr_assert_eq(test_walk(h).used, 0);
    }
}

Test(heap_alloc, usable_size_covers_request_and_is_writable)
{
    talc_heap_t *h = test_heap(128 * 1024, NULL);
    void *p[64];
    for (size_t i = 0; i < 64; i++) {
        p[i] = talc_heap_alloc(h, i * 33);
        cr_assert_not_null(p[i]);
        size_t u = talc_heap_usable_size(h, p[i]);
        cr_assert_geq(u, i * 33);
        memset(p[i], 0xA5, u); /* every usable byte belongs to the block */
        HEAP_OK(h);
    }
    for (size_t i = 0; i < 64; i++)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
}

/* Two free chunks in one exponential bin, the smaller at its head, nothing else free: a request
 * between them fits only the larger, which step 4 of the fit (docs/heap.md, "Bins and the fit
 * policy": the scan of the bin below the ceiling bin) must find. Usable sizes u give chunks of
 * u + 8 bytes, 4112, 4128 and 4144: one sub-bin of [4096, 8192) for every TALC_BIN_SUB_SHIFT,
 * and the request is not at a bin's lower bound, so its ceiling bin is the one above. Both free
 * orders, since which chunk a bin lists first is the engine's choice. */
static void two_holes_in_one_bin(talc_heap_t *h, bool larger_first)
{
    const size_t small = 4104, mid = 4120, large = 4136;
    void *a = talc_heap_alloc(h, small), *g1 = talc_heap_alloc(h, 16);
    void *b = talc_heap_alloc(h, large), *g2 = talc_heap_alloc(h, 16);
    cr_assert(a && g1 && b && g2);
    static void *rest[64];
    size_t n = test_exhaust(h, rest, 64);
    talc_heap_free(h, larger_first ? b : a);
    talc_heap_free(h, larger_first ? a : b);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 2, "only the two holes are free");
    void *p = talc_heap_alloc(h, mid);
    cr_assert_eq(p, b,
                 "alloc(%zu) with holes of %zu and %zu usable bytes (%s freed first) "
                 "returned %p, not the larger hole %p",
                 mid, small, large, larger_first ? "larger" : "smaller", p, b);
    HEAP_OK(h);
    void *const all[] = {p, g1, g2};
    test_free_each(h, all, 3);
    test_free_each(h, rest, n);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).used, 0);
}

Test(heap_alloc, finds_the_larger_of_two_holes_in_one_bin)
{
    talc_heap_t *h = test_heap(256 * 1024, NULL);
    two_holes_in_one_bin(h, false);
    two_holes_in_one_bin(h, true);
}

/* A chunk that exceeds the request by exactly a minimum chunk is split: the tail becomes a
 * free chunk of its own (docs/heap.md: "split off as a free chunk when it can hold one"). The
 * chunk is made of a block of `size` and a minimum block (alloc(1)) freed together, in a heap
 * that is otherwise full. */
static void split_off_a_minimum_tail(talc_heap_t *h, size_t size)
{
    void *a = talc_heap_alloc(h, size), *m = talc_heap_alloc(h, 1), *g = talc_heap_alloc(h, 16);
    cr_assert(a && m && g);
    size_t ua = talc_heap_usable_size(h, a), um = talc_heap_usable_size(h, m);
    static void *rest[64];
    size_t n = test_exhaust(h, rest, 64);
    talc_heap_free(h, a);
    talc_heap_free(h, m);
    cr_assert_eq(test_walk(h).free, 1, "the two blocks coalesced");
    void *p = talc_heap_alloc(h, size);
    cr_assert_eq(p, a);
    cr_assert_eq(talc_heap_usable_size(h, p), ua, "alloc(%zu) took the minimum tail too", size);
    test_walk_t w = test_walk(h);
    cr_assert_eq(w.free, 1, "the tail of a minimum chunk must be a free chunk");
    cr_assert_eq(w.largest_free, um, "the tail is one minimum chunk");
    HEAP_OK(h);
    void *const done[] = {p, g};
    test_free_each(h, done, 2);
    test_free_each(h, rest, n);
    HEAP_OK(h);
}

Test(heap_alloc, a_remainder_of_one_minimum_chunk_is_split_off)
{
    talc_heap_t *h = test_heap(128 * 1024, NULL);
    static const size_t sizes[] = {1, 100, 1000, 5000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        split_off_a_minimum_tail(h, sizes[i]);
}
