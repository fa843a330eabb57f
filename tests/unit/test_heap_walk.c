/* test_heap_walk.c — talc_heap_walk: every chunk of every span is visited once, in address
 * order within a span and in claim order across spans; allocated chunks are exactly the live
 * blocks with their usable sizes; a free chunk's (ptr, size) is what an allocation of that
 * size gets; the visitor can stop the walk, and can take a backtrace through it. */
#include <criterion/criterion.h>
#include <execinfo.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "talc/heap.h"

TestSuite(heap_walk, .fini = test_buffers_free);

enum { MAX_REC = 1024 };

typedef struct rec {
    const talc_span_t *span;
    unsigned char *ptr;
    size_t size;
    bool used;
} rec_t;

typedef struct recorder {
    rec_t r[MAX_REC];
    size_t n;
} recorder_t;

static bool record(const talc_span_t *span, void *ptr, size_t size, bool used, void *ctx)
{
    recorder_t *rc = ctx;
    cr_assert_lt(rc->n, MAX_REC);
    rc->r[rc->n++] = (rec_t){span, ptr, size, used};
    return true;
}

static recorder_t *walk_all(const talc_heap_t *h)
{
    static recorder_t rc;
    rc.n = 0;
    cr_assert(talc_heap_walk(h, record, &rc));
    return &rc;
}

Test(heap_walk, heap_without_spans_visits_nothing)
{
    talc_heap_t *h = test_heap(talc_heap_footprint(), NULL);
    recorder_t *rc = walk_all(h);
    cr_assert_eq(rc->n, 0);
}

Test(heap_walk, fresh_heap_is_one_free_chunk_that_fits_exactly)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    recorder_t *rc = walk_all(h);
    cr_assert_eq(rc->n, 1);
    cr_assert_not(rc->r[0].used);
    cr_assert_eq(rc->r[0].span, talc_heap_first_span(h));
    void *p = talc_heap_alloc(h, rc->r[0].size);
    cr_assert_eq(p, rc->r[0].ptr, "a free chunk's ptr is its first usable byte");
    cr_assert_eq(talc_heap_usable_size(h, p), rc->r[0].size);
    rc = walk_all(h);
    cr_assert_eq(rc->n, 1);
    cr_assert(rc->r[0].used);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_walk, visits_every_block_in_order)
{
    talc_heap_t *h = test_heap(test_small_heap(), NULL);
    unsigned char *buf[3];
    for (size_t i = 0; i < 3; i++) {
        buf[i] = test_buffer(64 * 1024);
        cr_assert_not_null(talc_heap_claim(h, buf[i], 64 * 1024));
    }
    enum { N = 200 };
    static void *p[N];
    for (size_t i = 0; i < N; i++) {
        p[i] = talc_heap_alloc_aligned(h, (i * 97) % 1500, (size_t)16 << (i % 5));
        cr_assert_not_null(p[i]);
    }
    for (size_t i = 0; i < N; i += 3) {
        talc_heap_free(h, p[i]);
        p[i] = NULL;
    }
    HEAP_OK(h);
    recorder_t *rc = walk_all(h);
    size_t used = 0, free_n = 0;
    const talc_span_t *expect_span = talc_heap_next_span(h, NULL);
    for (size_t i = 0; i < rc->n; i++) {
        rec_t *r = &rc->r[i];
        /* Claim order across spans, address order within. */
        while (expect_span && r->span != expect_span)
            expect_span = talc_heap_next_span(h, expect_span);
        cr_assert_not_null(expect_span, "chunk %zu: span out of claim order", i);
        talc_span_info_t in;
        talc_span_get_info(h, r->span, &in);
        cr_assert((uintptr_t)r->ptr >= (uintptr_t)in.base &&
                      (uintptr_t)r->ptr + r->size <= (uintptr_t)in.end,
                  "chunk %p (+%zu) outside its span", r->ptr, r->size);
        if (i > 0 && rc->r[i - 1].span == r->span)
            cr_assert_leq((uintptr_t)rc->r[i - 1].ptr + rc->r[i - 1].size, (uintptr_t)r->ptr,
                          "chunks out of order or overlapping");
        if (r->used) {
            used++;
            cr_assert_eq(talc_heap_usable_size(h, r->ptr), r->size);
            size_t k = 0;
            while (k < N && p[k] != r->ptr)
                k++;
            cr_assert_lt(k, N, "walk reports %p allocated, nobody allocated it", r->ptr);
        } else {
            free_n++;
            cr_assert_gt(r->size, 0);
        }
        if (i > 0 && rc->r[i - 1].span == r->span)
            cr_assert_not(!r->used && !rc->r[i - 1].used, "two free chunks touch");
    }
    size_t live = 0;
    for (size_t i = 0; i < N; i++)
        live += p[i] != NULL;
    cr_assert_eq(used, live);
#if TALC_COUNTERS
    cr_assert_eq(free_n, test_counters(h).free_chunks);
#endif
    for (size_t i = 0; i < N; i++)
        talc_heap_free(h, p[i]);
    rc = walk_all(h);
    cr_assert_eq(rc->n, 4, "one free chunk per span");
    HEAP_OK(h);
}

typedef struct stopper {
    size_t calls, stop_at;
} stopper_t;

static bool stop_fn(const talc_span_t *span, void *ptr, size_t size, bool used, void *ctx)
{
    stopper_t *s = ctx;
    (void)span;
    (void)ptr;
    (void)size;
    (void)used;
    return ++s->calls < s->stop_at;
}

Test(heap_walk, visitor_can_stop_the_walk)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    void *p[20];
    for (size_t i = 0; i < 20; i++)
        p[i] = talc_heap_alloc(h, 100);
    for (size_t stop = 1; stop <= 21; stop++) {
        stopper_t s = {0, stop};
        cr_assert_not(talc_heap_walk(h, stop_fn, &s), "stopped at %zu", stop);
        cr_assert_eq(s.calls, stop);
    }
    stopper_t all = {0, SIZE_MAX};
    cr_assert(talc_heap_walk(h, stop_fn, &all));
    cr_assert_eq(all.calls, 21, "20 blocks and the free top");
    for (size_t i = 0; i < 20; i++)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
}

/* The walk calls user code, so it keeps its unwind tables in every build (CMakeLists.txt):
 * a backtrace taken in a visitor reaches the walk's caller (found 2026-12-05: with the walk in
 * a file built without them, it stopped at talc_heap_walk, and a C++ visitor's exception
 * ended in std::terminate). */
#if defined(__x86_64__) || defined(__aarch64__)
static void *bt_frames[64];
static int bt_n;

static bool bt_visitor(const talc_span_t *span, void *ptr, size_t size, bool used, void *ctx)
{
    (void)span, (void)ptr, (void)size, (void)used, (void)ctx;
    bt_n = backtrace(bt_frames, 64);
    return false;
}

/* Walks h; returns where the walk's caller resumes (a return address a backtrace shows). */
static __attribute__((noinline)) void *walk_here(talc_heap_t *h)
{
    talc_heap_walk(h, bt_visitor, NULL);
    __asm__ volatile("" ::: "memory"); /* no tail call: this frame stays */
    return __builtin_return_address(0);
}
#endif

Test(heap_walk, a_backtrace_in_a_visitor_passes_through_the_walk)
{
#if !defined(__x86_64__) && !defined(__aarch64__)
    cr_skip_test("the suite's C code has no unwind tables on this target (armhf EHABI)");
#else
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    void *resume = walk_here(h);
    bool found = false;
    for (int i = 0; i < bt_n; i++)
        found |= bt_frames[i] == resume;
    cr_assert(found, "%d frames, none in the caller of walk_here (%p)", bt_n, resume);
#endif
}
