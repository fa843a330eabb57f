/* tests/common/heap_fixture.h — helpers for the Criterion unit tests of the heap engine:
 * caller buffers that are freed after each test, heaps over them, a fault recorder, the
 * invariant check as an assertion, and small walk helpers.
 *
 * Header-only (static functions): each test executable includes it once. Every test suite
 * that uses test_buffer() should be declared with `.fini = test_buffers_free` so that
 * LeakSanitizer stays quiet in sanitizer builds.
 *
 * Who may use it: Criterion tests. Concurrency: the buffer registry is not thread-safe;
 * allocate buffers from the test's main thread.
 */
#ifndef TALC_TEST_HEAP_FIXTURE_H
#define TALC_TEST_HEAP_FIXTURE_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "talc/heap.h"

/* ---- Caller buffers -----------------------------------------------------------------------*/

#define TEST_MAX_BUFFERS 64
#define TEST_GARBAGE 0xCB /* buffers start dirty: the engine must not rely on zeroed memory */

static void *test_buffer_list[TEST_MAX_BUFFERS];
static size_t test_buffer_count;

/* A dirty buffer of `size` bytes aligned to `align` (a power of two >= sizeof(void *)). */
static inline unsigned char *test_buffer_aligned(size_t size, size_t align)
{
    cr_assert_lt(test_buffer_count, TEST_MAX_BUFFERS, "too many test buffers");
    size_t rounded = (size + align - 1) & ~(align - 1);
    unsigned char *p = aligned_alloc(align, rounded ? rounded : align);
    cr_assert_not_null(p, "aligned_alloc(%zu, %zu) failed", align, size);
    memset(p, TEST_GARBAGE, rounded);
    test_buffer_list[test_buffer_count++] = p;
    return p;
}

static inline unsigned char *test_buffer(size_t size) { return test_buffer_aligned(size, 64); }

static inline void test_buffers_free(void)
{
    while (test_buffer_count)
        free(test_buffer_list[--test_buffer_count]);
}

/* ---- Faults -------------------------------------------------------------------------------*/

typedef struct test_faults {
    unsigned count;
    talc_fault_info_t first; /* since count was last reset to 0 */
    talc_fault_info_t last;
} test_faults_t;

static test_faults_t test_faults;

static inline void test_fault_record(const talc_fault_info_t *info, void *ctx)
{
    test_faults_t *f = ctx ? ctx : &test_faults;
    if (f->count++ == 0)
        f->first = *info;
    f->last = *info;
}

/* Options with a name and the recording fatal handler. */
static inline talc_heap_opts_t test_opts(const char *name)
{
    talc_heap_opts_t o;
    memset(&o, 0, sizeof o);
    o.name = name;
    o.fatal = test_fault_record;
    o.fatal_ctx = &test_faults;
    return o;
}

/* ---- Heaps --------------------------------------------------------------------------------*/

/* A heap over a fresh buffer of `size` bytes; opts may be NULL. */
static inline talc_heap_t *test_heap(size_t size, const talc_heap_opts_t *opts)
{
    unsigned char *mem = test_buffer(size);
    talc_heap_t *h = talc_heap_init(mem, size, opts);
    cr_assert_not_null(h, "talc_heap_init(%zu) failed", size);
    return h;
}

/* 8 KiB, or the same room past a control block that leaves less (TALC_BIN_SUB_SHIFT=6 on
 * 64-bit targets): the size of the tests' small heaps. */
static inline size_t test_small_heap(void)
{
    size_t room = talc_heap_footprint() + 1152;
    return room > 8192 ? room : 8192;
}

/* The full invariant check must pass. */
#define HEAP_OK(h)                                                                                 \
    do {                                                                                           \
        const void *where_ = NULL;                                                                 \
        int rc_ = talc_heap_check((h), &where_);                                                   \
        cr_assert_eq(rc_, 0, "talc_heap_check = %d at %p", rc_, where_);                           \
    } while (0)

static inline talc_heap_counters_t test_counters(const talc_heap_t *h)
{
    talc_heap_counters_t c;
    talc_heap_counters(h, &c);
    return c;
}

/* Field by field (the struct may have padding on 32-bit targets). */
static inline bool test_counters_equal(const talc_heap_counters_t *a, const talc_heap_counters_t *b)
{
    return a->live_allocs == b->live_allocs && a->total_allocs == b->total_allocs &&
           a->live_bytes == b->live_bytes && a->total_bytes == b->total_bytes &&
           a->peak_live_bytes == b->peak_live_bytes && a->free_bytes == b->free_bytes &&
           a->free_chunks == b->free_chunks && a->live_spans == b->live_spans &&
           a->total_spans == b->total_spans && a->managed_bytes == b->managed_bytes &&
           a->total_managed == b->total_managed && a->failed_allocs == b->failed_allocs;
}

/* ---- Walk helpers -------------------------------------------------------------------------*/

typedef struct test_walk {
    size_t used, free, largest_free, free_usable;
    void *largest_free_ptr;
    size_t visits, stop_after;
} test_walk_t;

static inline bool test_walk_fn(const talc_span_t *span, void *ptr, size_t size, bool used,
                                void *ctx)
{
    test_walk_t *w = ctx;
    (void)span;
    w->visits++;
    if (used) {
        w->used++;
    } else {
        w->free++;
        w->free_usable += size;
        if (size > w->largest_free) {
            w->largest_free = size;
            w->largest_free_ptr = ptr;
        }
    }
    return w->stop_after == 0 || w->visits < w->stop_after;
}

static inline test_walk_t test_walk(const talc_heap_t *h)
{
    test_walk_t w;
    memset(&w, 0, sizeof w);
    cr_assert(talc_heap_walk(h, test_walk_fn, &w), "walk stopped without being asked to");
    return w;
}

/* Allocate blocks of `size` until the heap refuses; returns how many (stored in out[]). */
static inline size_t test_fill(talc_heap_t *h, size_t size, void **out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        void *p = talc_heap_alloc(h, size);
        if (!p)
            break;
        out[n++] = p;
    }
    return n;
}

/* Free each of the n blocks at p (what test_fill or test_exhaust took, say). */
static inline void test_free_each(talc_heap_t *h, void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        talc_heap_free(h, p[i]);
}

/* Allocate everything that is left in the largest free chunks (so later requests must
 * use exactly the holes the test makes). Returns how many blocks it took (at most max). */
static inline size_t test_exhaust(talc_heap_t *h, void **out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        test_walk_t w = test_walk(h);
        if (!w.free)
            break;
        void *p = talc_heap_alloc(h, w.largest_free);
        if (!p)
            p = talc_heap_alloc(h, 0);
        if (!p)
            break;
        out[n++] = p;
    }
    return n;
}

/* A block p with a free chunk (from a block of `below` bytes) just below it, a used block above
 * and nothing else free: only sliding down into the chunk below lets p grow, and a block that
 * slides lands at lo. */
typedef struct test_hole_below {
    void *lo, *p, *hi;
    size_t nrest;
    void *rest[64];
} test_hole_below_t;

static inline void test_hole_below(talc_heap_t *h, size_t below, size_t size, test_hole_below_t *t)
{
    t->lo = talc_heap_alloc(h, below);
    t->p = talc_heap_alloc(h, size);
    t->hi = talc_heap_alloc(h, 16);
    cr_assert(t->lo && t->p && t->hi);
    t->nrest = test_exhaust(h, t->rest, 64);
    talc_heap_free(h, t->lo);
}

/* Frees the block above and the rest; the caller frees p or what it became. */
static inline void test_hole_below_done(talc_heap_t *h, test_hole_below_t *t)
{
    talc_heap_free(h, t->hi);
    for (size_t i = 0; i < t->nrest; i++)
        talc_heap_free(h, t->rest[i]);
}

/* ---- Arithmetic ---------------------------------------------------------------------------*/

static inline bool test_is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

static inline bool test_overlaps(const void *a, size_t na, const void *b, size_t nb)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y + nb && y < x + na;
}

#endif /* TALC_TEST_HEAP_FIXTURE_H */
