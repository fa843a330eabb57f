/* test_arena_alloc.c — the allocation contracts of talc/arena.h, one thread: malloc, calloc
 * (zeroing, fresh pages left untouched, overflow), aligned alloc (every power of two up to
 * 16 MiB, huge and invalid alignments), realloc (NULL, 0, shrink, grow in place and across
 * segments, failure, owner arena kept), usable size, talc_arena_of on every kind of address,
 * routing through the thread's arena, cache-aligned arenas, caller-buffer arenas and
 * reserve-only arenas.
 *
 * Public API only; each test is its own process. */
#define _DEFAULT_SOURCE /* mincore */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "pattern.h"
#include "resident.h"

static bool aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* ---- malloc / calloc ----------------------------------------------------------------------*/

Test(arena_alloc, malloc_sizes_alignment_and_contents)
{
    talc_arena_t *a = test_arena("sizes", 1);
    enum { N = 300 };
    void *p[N];
    size_t sz[N];
    for (int i = 0; i < N; i++) {
        sz[i] = i < 200 ? (size_t)i + 1 : (size_t)(i - 199) * 997; /* 1..200, then up to ~100 kB */
        p[i] = talc_arena_malloc(a, sz[i]);
        cr_assert_not_null(p[i], "size %zu", sz[i]);
        cr_assert(aligned_to(p[i], TALC_MIN_ALIGN), "size %zu: %p", sz[i], p[i]);
        cr_assert_geq(talc_usable_size(p[i]), sz[i]);
        cr_assert_eq(talc_arena_of(p[i]), a);
        test_pattern_fill(p[i], sz[i], (uint32_t)i);
    }
#if TALC_COUNTERS
    size_t total = 0;
    for (int i = 0; i < N; i++)
        total += sz[i];
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.live_bytes, total, "live bytes are the requested bytes");
    cr_assert_eq(s.live_allocs, N);
    cr_assert_eq(s.allocs, N);
    cr_assert_geq(s.peak_bytes, total);
#endif
    for (int i = 0; i < N; i += 2)
        talc_free(p[i]);
    for (int i = 1; i < N; i += 2)
        cr_assert_eq(test_pattern_check(p[i], sz[i], (uint32_t)i), sz[i], "block %d intact", i);
    for (int i = 1; i < N; i += 2)
        talc_free(p[i]);
    test_assert_empty(a);
    talc_free(NULL); /* a no-op */
}

Test(arena_alloc, malloc_zero_and_impossible_sizes)
{
    talc_arena_t *a = test_arena("edges", 1);
    void *z = talc_arena_malloc(a, 0);
    if (z) { /* implementation-defined, like malloc(0): if non-NULL, it must be freeable */
        cr_assert_eq(talc_arena_of(z), a);
        talc_free(z);
    }
    size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2, SIZE_MAX / 4 + 1};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        cr_assert_null(talc_arena_malloc(a, huge[i]), "size %zu", huge[i]);
        cr_assert_eq(errno, ENOMEM, "size %zu: errno %d", huge[i], errno);
    }
    talc_arena_stats_t s = test_stats(a);
#if TALC_COUNTERS
    cr_assert_eq(s.failed, 4, "each NULL counted once: %llu", (unsigned long long)s.failed);
#endif
    cr_assert_eq(s.oom_runs[TALC_OOM_STEP_FAIL], 4);
    cr_assert_eq(s.oom_ok[TALC_OOM_STEP_FAIL], 0);
    void *p = talc_arena_malloc(a, 64);
    cr_assert_not_null(p, "failures leave the arena usable");
    talc_free(p);
}

Test(arena_alloc, calloc_zeroes_reused_memory)
{
    talc_arena_t *a = test_arena("calloc", 1);
    for (size_t n = 1; n <= 70000; n = n * 3 + 1) {
        unsigned char *dirty = talc_arena_malloc(a, n * 4);
        cr_assert_not_null(dirty);
        memset(dirty, 0xee, n * 4);
        talc_free(dirty);
        unsigned char *p = talc_arena_calloc(a, n, 4); /* likely the same memory */
        cr_assert_not_null(p);
        for (size_t i = 0; i < n * 4; i++)
            cr_assert_eq(p[i], 0, "n %zu byte %zu", n, i);
        cr_assert_eq(talc_arena_of(p), a);
        talc_free(p);
    }
    void *e = talc_arena_calloc(a, 0, 10);
    talc_free(e);
    test_assert_empty(a);
}

static void assert_zero(const unsigned char *p, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            cr_assert_fail("%s: byte %zu of %zu is %#x", what, i, n, p[i]);
}

/* A block that is the first in a segment just mapped from the OS is zero already: calloc
 * leaves its pages alone (only the engine's few words in it are cleared). A calloc from reused
 * memory still clears it. */
Test(arena_alloc, calloc_leaves_fresh_pages_untouched)
{
    size_t n = (size_t)32 << 20, pages;
    /* Not below the large stripe's segments (TALC_LARGE_SEG_FACTOR, 4: arena_internal.h):
     * carved from a default segment, which is kept when empty. */
    if (n < TEST_OS_SEGMENT * 4u)
        cr_skip_test("granules of %zu MiB: a %zu MiB block shares a kept OS segment",
                     TEST_GRANULE >> 20, n >> 20);
    talc_arena_t *a = test_arena("fresh", 1);
    for (int round = 0; round < 2; round++) { /* the freed segment goes back: fresh again */
        unsigned char *p = talc_arena_calloc(a, 1, n);
        cr_assert_not_null(p);
        size_t in = test_resident_pages(p, n, false, &pages);
        /* the first and last pages hold headers (huge pages could make that 2 x 2 MiB) */
        cr_assert_lt(in, pages / 4, "round %d: %zu of %zu pages resident", round, in, pages);
        assert_zero(p, n, "fresh calloc");
        memset(p, 0xa5, n);
        talc_free(p);
    }
    /* Default-sized segments stay when emptied: the second block reuses dirty memory. */
    size_t m = TEST_GRANULE * 8u;
    for (int round = 0; round < 3; round++) {
        unsigned char *p = talc_arena_calloc(a, 1, m);
        cr_assert_not_null(p);
        assert_zero(p, m, round ? "calloc of reused memory" : "first calloc");
        memset(p, 0x5a, m);
        talc_free(p);
    }
    test_assert_empty(a);
}

Test(arena_alloc, calloc_overflow_is_enomem)
{
    talc_arena_t *a = test_arena("overflow", 1);
    struct {
        size_t n, s;
    } cases[] = {{SIZE_MAX, 2},
                 {2, SIZE_MAX},
                 {SIZE_MAX / 2 + 1, 2},
                 {(size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4)},
                 {SIZE_MAX, SIZE_MAX}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        cr_assert_null(talc_arena_calloc(a, cases[i].n, cases[i].s), "case %zu", i);
        cr_assert_eq(errno, ENOMEM, "case %zu", i);
    }
    errno = 0;
    cr_assert_null(talc_arena_calloc(NULL, SIZE_MAX, 3), "thread arena too");
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(test_stats(a).allocs, 0, "nothing was allocated");
}

/* ---- aligned alloc ------------------------------------------------------------------------*/

Test(arena_alloc, aligned_every_power_of_two)
{
    talc_arena_t *a = test_arena("aligned", 1);
    for (size_t al = 1; al <= ((size_t)16 << 20); al <<= 1) {
        size_t sizes[] = {1, 100, al, 3 * al / 2 + 7};
        for (int k = 0; k < 4; k++) {
            size_t n = sizes[k];
            if (n > ((size_t)24 << 20))
                continue;
            unsigned char *p = talc_arena_aligned_alloc(a, al, n);
            cr_assert_not_null(p, "align %zu size %zu", al, n);
            cr_assert(aligned_to(p, al), "align %zu: %p", al, (void *)p);
            cr_assert(aligned_to(p, TALC_MIN_ALIGN));
            cr_assert_geq(talc_usable_size(p), n);
            cr_assert_eq(talc_arena_of(p), a);
            p[0] = 1;
            p[n - 1] = 2;
            talc_free(p);
        }
    }
    test_assert_empty(a);
}

Test(arena_alloc, aligned_invalid_and_huge)
{
    talc_arena_t *a = test_arena("bad-align", 1);
    size_t bad[] = {0, 3, 5, 24, 48, 1000, 4097, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        cr_assert_null(talc_arena_aligned_alloc(a, bad[i], 16), "align %zu", bad[i]);
        cr_assert_eq(errno, EINVAL, "align %zu: errno %d", bad[i], errno);
    }
    size_t huge[] = {(size_t)1 << (sizeof(size_t) * 8 - 1), (size_t)1 << (sizeof(size_t) * 8 - 2)};
    for (size_t i = 0; i < 2; i++) {
        errno = 0;
        cr_assert_null(talc_arena_aligned_alloc(a, huge[i], 16), "align %zu", huge[i]);
        cr_assert_eq(errno, ENOMEM, "align %zu: errno %d", huge[i], errno);
    }
    errno = 0;
    cr_assert_null(talc_arena_aligned_alloc(a, 64, SIZE_MAX - 100));
    cr_assert_eq(errno, ENOMEM);
    void *p = talc_arena_aligned_alloc(a, 256, 1);
    cr_assert_not_null(p, "still usable");
    talc_free(p);
    test_assert_empty(a);
}

/* ---- realloc ------------------------------------------------------------------------------*/

Test(arena_alloc, realloc_null_and_zero)
{
    talc_arena_t *a = test_arena("re-null", 1);
    void *p = talc_arena_realloc(a, NULL, 100);
    cr_assert_not_null(p);
    cr_assert_eq(talc_arena_of(p), a, "NULL: allocates in the given arena");
    talc_thread_bind(a);
    void *q = talc_arena_realloc(NULL, NULL, 50);
    cr_assert_eq(talc_arena_of(q), a, "NULL arena: the thread's arena");
    talc_thread_bind(NULL);
    cr_assert_null(talc_arena_realloc(a, p, 0), "size 0 frees");
    cr_assert_null(talc_arena_realloc(NULL, q, 0));
    test_assert_empty(a);
}

Test(arena_alloc, realloc_shrink_and_grow_keep_contents)
{
    talc_arena_t *a = test_arena("re-size", 1);
    size_t n = 5000;
    unsigned char *p = talc_arena_malloc(a, n);
    test_pattern_fill(p, n, 7);
    unsigned char *s = talc_arena_realloc(a, p, 100); /* shrink */
    cr_assert_not_null(s);
    cr_assert_eq(test_pattern_check(s, 100, 7), 100);
    cr_assert_geq(talc_usable_size(s), 100);
#if TALC_COUNTERS
    cr_assert_eq(test_stats(a).live_bytes, 100, "counters follow the new size");
#endif
    size_t sizes[] = {101, 4000, 60000, 900000, 3u << 20, 12u << 20, 200};
    size_t have = 100;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t m = sizes[i];
        unsigned char *g = talc_arena_realloc(a, s, m);
        cr_assert_not_null(g, "to %zu", m);
        size_t keep = have < m ? have : m;
        cr_assert_eq(test_pattern_check(g, keep, 7), keep, "to %zu", m);
        test_pattern_fill_range(g, keep, m, 7);
        cr_assert_eq(talc_arena_of(g), a);
        cr_assert_geq(talc_usable_size(g), m);
#if TALC_COUNTERS
        cr_assert_eq(test_stats(a).live_bytes, m);
        cr_assert_eq(test_stats(a).live_allocs, 1);
#endif
        s = g;
        have = m;
    }
    talc_free(s);
    test_assert_empty(a);
#if TALC_COUNTERS
    cr_assert_geq(test_stats(a).reallocs, 1);
#endif
}

Test(arena_alloc, realloc_stays_in_the_owner_arena)
{
    talc_arena_t *own = test_arena("owner", 1), *other = test_arena("other", 1);
    unsigned char *p = talc_arena_malloc(own, 10);
    memset(p, 0x5a, 10);
    talc_thread_bind(other);
    p = talc_arena_realloc(other, p, 3u << 20); /* moves to a new segment, of `own` */
    cr_assert_not_null(p);
    cr_assert_eq(talc_arena_of(p), own);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(p[i], 0x5a);
    p = talc_arena_realloc(NULL, p, 20);
    cr_assert_eq(talc_arena_of(p), own);
    talc_thread_bind(NULL);
    cr_assert_eq(test_stats(other).allocs, 0, "nothing charged to the other arena");
    talc_free(p);
    test_assert_empty(own);
}

Test(arena_alloc, realloc_failure_leaves_the_block)
{
    talc_arena_config_t c = talc_arena_config_default("re-fail");
    c.stripes = 1;
    c.hard_budget = TEST_SEGMENT_SCALED(2u << 20);
    talc_arena_t *a = test_arena_cfg(&c);
    unsigned char *p = talc_arena_malloc(a, 1000);
    test_pattern_fill(p, 1000, 3);
    errno = 0;
    cr_assert_null(talc_arena_realloc(a, p, TEST_SEGMENT_SCALED(8u << 20)), "over the hard budget");
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(talc_arena_of(p), a);
    cr_assert_eq(test_pattern_check(p, 1000, 3), 1000, "contents intact");
    cr_assert_geq(talc_usable_size(p), 1000);
    errno = 0;
    cr_assert_null(talc_arena_realloc(a, p, SIZE_MAX - 64));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(test_pattern_check(p, 1000, 3), 1000);
    talc_free(p);
    test_assert_empty(a);
}

/* ---- usable size and owner lookup ---------------------------------------------------------*/

static int a_static;

Test(arena_alloc, usable_size_is_writable)
{
    talc_arena_t *a = test_arena("usable", 1);
    cr_assert_eq(talc_usable_size(NULL), 0);
    unsigned char *p[40];
    size_t u[40];
    for (int i = 0; i < 40; i++) {
        p[i] = talc_arena_malloc(a, (size_t)i * 13 + 1);
        u[i] = talc_usable_size(p[i]);
        cr_assert_geq(u[i], (size_t)i * 13 + 1);
        memset(p[i], i, u[i]); /* the whole usable size belongs to the block */
    }
    for (int i = 0; i < 40; i++) {
        for (size_t k = 0; k < u[i]; k++)
            cr_assert_eq(p[i][k], (unsigned char)i, "block %d byte %zu", i, k);
        cr_assert_eq(talc_usable_size(p[i]), u[i], "stable");
        talc_free(p[i]);
    }
}

Test(arena_alloc, arena_of_any_address)
{
    talc_arena_t *a = test_arena("of", 1);
    int local = 0;
    void *libc = malloc(64);
    cr_assert_null(talc_arena_of(NULL));
    cr_assert_null(talc_arena_of(&local), "stack");
    cr_assert_null(talc_arena_of(&a_static), "static");
    cr_assert_null(talc_arena_of(libc), "libc heap");
    cr_assert_null(talc_arena_of(a), "the arena's own control block");
    cr_assert_null(talc_arena_of((void *)(uintptr_t)1));
    cr_assert_null(talc_arena_of((void *)UINTPTR_MAX), "never faults");
    cr_assert_null(talc_arena_of((void *)(UINTPTR_MAX - 4095)));
    free(libc);
    unsigned char *p = talc_arena_malloc(a, 1000);
    cr_assert_eq(talc_arena_of(p), a);
    cr_assert_eq(talc_arena_of(p + 999), a, "any byte of the block");
    unsigned char *big = talc_arena_malloc(a, 3u << 20);
    cr_assert_eq(talc_arena_of(big + (3u << 20) - 1), a);
    talc_free(big);
    talc_free(p);
}

Test(arena_alloc, routing_to_the_thread_arena)
{
    talc_arena_t *a = test_arena("r-a", 1), *b = test_arena("r-b", 1);
    void *d = talc_arena_malloc(NULL, 8);
    cr_assert_eq(talc_arena_of(d), talc_arena_default());
    talc_thread_bind(a);
    void *pa = talc_arena_malloc(NULL, 8);
    void *ca = talc_arena_calloc(NULL, 2, 8);
    void *aa = talc_arena_aligned_alloc(NULL, 512, 8);
    cr_assert_eq(talc_arena_of(pa), a);
    cr_assert_eq(talc_arena_of(ca), a);
    cr_assert_eq(talc_arena_of(aa), a);
    cr_assert_eq(talc_scope_push(b), 0);
    void *pb = talc_arena_malloc(NULL, 8);
    cr_assert_eq(talc_arena_of(pb), b, "the scope wins over the binding");
    void *explicit_a = talc_arena_malloc(a, 8);
    cr_assert_eq(talc_arena_of(explicit_a), a, "an explicit arena wins over the scope");
    cr_assert_eq(talc_scope_pop(), 0);
    talc_thread_bind(NULL);
    void *back = talc_arena_malloc(NULL, 8);
    cr_assert_eq(talc_arena_of(back), talc_arena_default());
    void *all[] = {d, pa, ca, aa, pb, explicit_a, back};
    for (int i = 0; i < 7; i++)
        talc_free(all[i]);
    test_assert_empty(a);
    test_assert_empty(b);
}

/* ---- Cache-aligned arenas -----------------------------------------------------------------*/

typedef struct span {
    uintptr_t lo, hi; /* [lo, hi) */
} span_t;

static int span_cmp(const void *x, const void *y)
{
    const span_t *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

Test(arena_alloc, cache_aligned_blocks_own_their_lines)
{
    size_t line = talc_cache_line_size();
    cr_assert_geq(line, TALC_MIN_ALIGN);
    cr_assert_leq(line, 4096);
    cr_assert_eq(line & (line - 1), 0, "a power of two");
    talc_arena_config_t c = talc_arena_config_default("lines");
    c.cache_aligned = true;
    talc_arena_t *a = test_arena_cfg(&c);
    enum { N = 200 };
    span_t sp[N];
    void *p[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 5 == 0 ? 1 : i * 7 % 300 + 1);
        switch (i % 4) {
        case 0:
            p[i] = talc_arena_malloc(a, n);
            break;
        case 1:
            p[i] = talc_arena_calloc(a, 1, n);
            break;
        case 2:
            p[i] = talc_arena_aligned_alloc(a, 16, n);
            break;
        default:
            p[i] = talc_arena_realloc(a, talc_arena_malloc(a, 3), n);
            break;
        }
        cr_assert_not_null(p[i]);
        cr_assert(aligned_to(p[i], line), "block %d at %p, line %zu", i, p[i], line);
        sp[i].lo = (uintptr_t)p[i];
        sp[i].hi = (uintptr_t)p[i] + n;
    }
    qsort(sp, N, sizeof sp[0], span_cmp);
    for (int i = 1; i < N; i++)
        cr_assert_lt((sp[i - 1].hi - 1) / line, sp[i].lo / line,
                     "two blocks share a line: %#lx..%#lx and %#lx", (unsigned long)sp[i - 1].lo,
                     (unsigned long)sp[i - 1].hi, (unsigned long)sp[i].lo);
    for (int i = 0; i < N; i++)
        talc_free(p[i]);
    test_assert_empty(a);
}

/* ---- Caller-buffer arenas -----------------------------------------------------------------*/

#define BUF_GRANULES 16
#define BUF_SIZE ((BUF_GRANULES + 1) * TEST_GRANULE) /* not granule-aligned: 16 whole granules */
static unsigned char *buf_mem;

static unsigned char *buf_map(void)
{
    if (!buf_mem)
        buf_mem = test_buffer_map(BUF_SIZE, 64);
    return buf_mem;
}

static talc_arena_t *buffer_arena(const char *name, void *mem, size_t size)
{
    talc_arena_config_t c = test_buffer_config(name, mem, size);
    return test_arena_cfg(&c);
}

static bool in_buf(const void *p, size_t n)
{
    return (const unsigned char *)p >= buf_mem &&
           (const unsigned char *)p + n <= buf_mem + BUF_SIZE;
}

/* Allocate blocks of n bytes until the arena says no; returns how many it gave. */
static int fill(talc_arena_t *a, void **p, int cap, size_t n)
{
    int k = 0;
    for (; k < cap; k++) {
        errno = 0;
        p[k] = talc_arena_malloc(a, n);
        if (!p[k]) {
            cr_assert_eq(errno, ENOMEM);
            break;
        }
        cr_assert(in_buf(p[k], n), "block %d at %p is outside the buffer", k, p[k]);
        memset(p[k], k, n);
    }
    cr_assert_lt(k, cap, "the buffer never ran out");
    return k;
}

Test(arena_alloc, buffer_arena_allocates_inside_and_runs_out)
{
    test_skip_writes_above(BUF_GRANULES * TEST_GRANULE, "filling 16 granules");
    talc_arena_t *a = buffer_arena("buffer", buf_map(), BUF_SIZE);
    static void *p[4096];
    size_t n = TEST_GRANULE_SCALED(1000); /* 1000 bytes with 64 KiB granules */
    int k = fill(a, p, 4096, n);
    size_t usable = BUF_GRANULES * TEST_GRANULE;
    cr_assert_gt((size_t)k * n, usable / 2, "%d blocks: most of the buffer is usable", k);
    cr_assert_leq((size_t)k * n, usable);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_leq(s.source_bytes, usable);
    cr_assert_geq(s.oom_runs[TALC_OOM_STEP_FAIL], 1);
#if TALC_COUNTERS
    cr_assert_eq(s.failed, 1);
#endif
    /* freeing returns the memory: the same number of blocks fits again */
    for (int i = 0; i < k; i++)
        talc_free(p[i]);
    test_assert_empty(a);
    int k2 = fill(a, p, 4096, n);
    cr_assert_eq(k2, k, "after freeing everything: %d blocks, before: %d", k2, k);
    for (int i = 0; i < k2; i++)
        talc_free(p[i]);
    /* and big blocks fit where small ones were */
    int big = fill(a, p, 64, 3 * TEST_GRANULE);
    cr_assert_geq(big, BUF_GRANULES / 4 - 1, "%d blocks of three granules", big);
    for (int i = 0; i < big; i++)
        talc_free(p[i]);
    test_assert_empty(a);
}

Test(arena_alloc, buffer_arena_block_of_several_granules)
{
    test_skip_writes_above(5 * TEST_GRANULE, "a block of 5 granules");
    talc_arena_t *a = buffer_arena("buf-big", buf_map(), BUF_SIZE);
    size_t n = 5 * TEST_GRANULE + 123;
    unsigned char *p = talc_arena_malloc(a, n);
    cr_assert_not_null(p);
    cr_assert(in_buf(p, n));
    memset(p, 7, n);
    unsigned char *q = talc_arena_malloc(a, 100);
    cr_assert(q && in_buf(q, 100));
    cr_assert(q + 100 <= p || q >= p + n, "blocks overlap");
    errno = 0;
    cr_assert_null(talc_arena_malloc(a, (BUF_GRANULES + 1) * TEST_GRANULE), "larger than it all");
    cr_assert_eq(errno, ENOMEM);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(p[i], 7);
    talc_free(p);
    talc_free(q);
    test_assert_empty(a);
}

Test(arena_alloc, buffer_arena_of_two_granules_allocates)
{
    uintptr_t b = (uintptr_t)test_buffer_map(2 * TEST_GRANULE, 0);
    talc_arena_t *a = buffer_arena("buf-two", (void *)b, 2 * TEST_GRANULE);
    void *p = talc_arena_malloc(a, 1000);
    cr_assert_not_null(p, "the smallest buffer create accepts serves nothing (errno %d)", errno);
    cr_assert((uintptr_t)p >= b && (uintptr_t)p < b + 2 * TEST_GRANULE);
    talc_free(p);
}

/* ---- Reserve-only arenas ------------------------------------------------------------------*/

Test(arena_alloc, reserve_only_arena_without_a_reserve_fails)
{
    talc_arena_config_t c = talc_arena_config_default("res-none");
    c.source = TALC_SOURCE_RESERVE;
    c.borrow_ceiling = TEST_SEGMENT_SCALED(1u << 20);
    talc_arena_t *a = test_arena_cfg(&c);
    errno = 0;
    cr_assert_null(talc_arena_malloc(a, 100));
    cr_assert_eq(errno, ENOMEM);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.source_bytes, 0);
    cr_assert_eq(s.reserve_denied, 1);
    cr_assert_eq(s.oom_runs[TALC_OOM_STEP_BORROW], 1);
    cr_assert_eq(s.oom_ok[TALC_OOM_STEP_BORROW], 0);
}

Test(arena_alloc, reserve_only_arena_borrows_everything)
{
    test_reserve_init(TEST_GRANULE_SCALED(2u << 20));
    talc_arena_config_t c = talc_arena_config_default("res-only");
    c.source = TALC_SOURCE_RESERVE;
    c.borrow_ceiling = TEST_GRANULE_SCALED(1u << 20); /* 16 granules */
    c.stripes = 1;
    talc_arena_t *a = test_arena_cfg(&c);
    void *p[64];
    int k = 0;
    for (; k < 64; k++) {
        p[k] = talc_arena_malloc(a, TEST_GRANULE_SCALED(50000));
        if (!p[k])
            break;
        cr_assert_eq(talc_arena_of(p[k]), a);
    }
    cr_assert_geq(k, 15, "about 1 MiB of 50 kB blocks: %d", k);
    cr_assert_lt(k, 21, "never more than the ceiling: %d", k);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.source_bytes, 0, "nothing from a source of its own");
    cr_assert_leq(s.borrowed_bytes, c.borrow_ceiling);
    cr_assert_gt(s.borrowed_bytes, 0);
    cr_assert_eq(test_reserve().held, s.borrowed_bytes);
    cr_assert_eq(s.oom_ok[TALC_OOM_STEP_GROW], 0, "GROW never succeeds without a source");
    for (int i = 0; i < k; i++)
        talc_free(p[i]);
    s = test_stats(a);
    cr_assert_eq(s.borrowed_bytes, 0, "all given back");
    cr_assert_eq(test_reserve().held, 0);
    cr_assert_eq(s.returned_total, s.borrowed_total);
}

/* ---- Routing is per thread ----------------------------------------------------------------*/

typedef struct route_probe {
    talc_arena_t *seen;
    talc_arena_t *owner;
    talc_arena_t *bind_to;
} route_probe_t;

static void *route_probe(void *arg)
{
    route_probe_t *r = arg;
    r->seen = talc_thread_arena();
    if (r->bind_to)
        talc_thread_bind(r->bind_to);
    void *p = talc_arena_malloc(NULL, 32);
    r->owner = talc_arena_of(p);
    talc_free(p);
    return NULL;
}

Test(arena_alloc, binding_and_scopes_are_per_thread)
{
    talc_arena_t *a = test_arena("mine", 1), *b = test_arena("theirs", 1);
    talc_thread_bind(a);
    cr_assert_eq(talc_scope_push(a), 0);
    route_probe_t r = {NULL, NULL, b};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, route_probe, &r), 0);
    pthread_join(t, NULL);
    cr_assert_eq(r.seen, talc_arena_default(), "a new thread starts on the default arena");
    cr_assert_eq(r.owner, b, "its own binding applies to it");
    cr_assert_eq(talc_thread_arena(), a, "and not to this thread");
    cr_assert_eq(talc_scope_pop(), 0);
    talc_thread_bind(NULL);
}
