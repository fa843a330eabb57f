/* test_heap_cache_aligned.c — cache-aligned mode (talc_heap_opts_t.cache_line): every block
 * starts on its own line and no two live blocks' bytes share a line, through alloc, aligned
 * alloc, realloc (in place and moving), resize_in_place and frees; talc_heap_cache_line();
 * valid and invalid line sizes. Checked for the host's line and for fixed sizes. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "../common/pattern.h"
#include "../common/rng.h"
#include "talc/heap.h"
#include "talc/platform.h"

TestSuite(heap_cache_aligned, .fini = test_buffers_free);

typedef struct live {
    unsigned char *p;
    size_t n;
} live_t;

static int cmp_live(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const live_t *)a)->p, y = (uintptr_t)((const live_t *)b)->p;
    return x < y ? -1 : x > y;
}

/* Every block on its own line; no line holds bytes of two blocks (size 0 counts as 1 byte:
 * its start line is its own). */
static void check_lines(talc_heap_t *h, const live_t *blocks, size_t n, size_t line)
{
    live_t *s = malloc((n + 1) * sizeof *s);
    cr_assert_not_null(s);
    memcpy(s, blocks, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_live);
    for (size_t i = 0; i < n; i++) {
        cr_assert(test_is_aligned(s[i].p, line), "%p not on a %zu-byte line", s[i].p, line);
        cr_assert_geq(talc_heap_usable_size(h, s[i].p), s[i].n);
        if (i + 1 < n) {
            uintptr_t last_line = ((uintptr_t)s[i].p + (s[i].n ? s[i].n : 1) - 1) / line;
            uintptr_t next_line = (uintptr_t)s[i + 1].p / line;
            cr_assert_lt(last_line, next_line, "%p (+%zu) and %p share a line of %zu", s[i].p,
                         s[i].n, s[i + 1].p, line);
        }
    }
    free(s);
    HEAP_OK(h);
}

static talc_heap_t *line_heap(size_t line, size_t size)
{
    talc_heap_opts_t o = {0};
    o.cache_line = line;
    talc_heap_t *h = test_heap(size, &o);
    cr_assert_eq(talc_heap_cache_line(h), line);
    return h;
}

static void random_workload(size_t line, uint64_t seed)
{
    talc_heap_t *h = line_heap(line, (2u << 20) + line * 1200); /* never runs out */
    enum { N = 200 };
    static live_t b[N];
    size_t n = 0;
    test_rng_t r;
    test_rng_seed(&r, seed);
    for (size_t step = 0; step < 3000; step++) {
        unsigned op = (unsigned)test_rng_below(&r, 10);
        if ((op < 4 && n < N) || n == 0) {
            size_t sz = (size_t)test_rng_below(&r, 3 * line);
            void *p = op == 3 ? talc_heap_alloc_aligned(h, sz, (size_t)1 << test_rng_below(&r, 14))
                              : talc_heap_alloc(h, sz);
            cr_assert_not_null(p);
            b[n].p = p;
            b[n].n = sz;
            test_pattern_fill(p, sz, (uint32_t)(uintptr_t)p);
            n++;
        } else if (op < 7) {
            size_t i = (size_t)test_rng_below(&r, n);
            cr_assert_eq(test_pattern_check(b[i].p, b[i].n, (uint32_t)(uintptr_t)b[i].p), b[i].n);
            talc_heap_free(h, b[i].p);
            b[i] = b[--n];
        } else if (op < 9) {
            size_t i = (size_t)test_rng_below(&r, n);
            size_t sz = 1 + (size_t)test_rng_below(&r, 4 * line);
            unsigned char *q = talc_heap_realloc(h, b[i].p, sz);
            cr_assert_not_null(q);
            size_t keep = sz < b[i].n ? sz : b[i].n;
            cr_assert_eq(test_pattern_check(q, keep, (uint32_t)(uintptr_t)b[i].p), keep);
            b[i].p = q;
            b[i].n = sz;
            test_pattern_fill(q, sz, (uint32_t)(uintptr_t)q);
        } else {
            size_t i = (size_t)test_rng_below(&r, n);
            size_t sz = (size_t)test_rng_below(&r, 4 * line);
            if (talc_heap_resize_in_place(h, b[i].p, sz)) {
                b[i].n = sz ? sz : 1;
                test_pattern_fill(b[i].p, b[i].n, (uint32_t)(uintptr_t)b[i].p);
            }
        }
        if (step % 50 == 0)
            check_lines(h, b, n, line);
    }
    check_lines(h, b, n, line);
    for (size_t i = 0; i < n; i++)
        talc_heap_free(h, b[i].p);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

Test(heap_cache_aligned, host_line)
{
    size_t line = talc_cache_line_size();
    random_workload(line, 1);
}

/* 16 bytes: on a 32-bit target, a line below the engine's minimum chunk (24 bytes there). */
Test(heap_cache_aligned, line_16) { random_workload(16, 7); }
Test(heap_cache_aligned, line_64) { random_workload(64, 2); }
Test(heap_cache_aligned, line_128) { random_workload(128, 3); }
Test(heap_cache_aligned, line_256) { random_workload(256, 4); }
Test(heap_cache_aligned, line_4096) { random_workload(4096, 5); }
Test(heap_cache_aligned, line_equal_to_min_align) { random_workload(TALC_MIN_ALIGN, 6); }

Test(heap_cache_aligned, small_blocks_get_a_line_each)
{
    size_t line = talc_cache_line_size();
    talc_heap_t *h = line_heap(line, 256 * 1024);
    static live_t b[256];
    for (size_t i = 0; i < 256; i++) {
        b[i].n = i % 9;
        b[i].p = talc_heap_alloc(h, b[i].n);
        cr_assert_not_null(b[i].p);
    }
    check_lines(h, b, 256, line);
    for (size_t i = 0; i < 256; i += 2)
        talc_heap_free(h, b[i].p);
    HEAP_OK(h);
    for (size_t i = 0; i < 256; i += 2) {
        b[i].n = line - 1;
        b[i].p = talc_heap_alloc(h, b[i].n);
    }
    check_lines(h, b, 256, line);
    for (size_t i = 0; i < 256; i++)
        talc_heap_free(h, b[i].p);
    HEAP_OK(h);
}

Test(heap_cache_aligned, larger_alignments_still_honoured)
{
    talc_heap_t *h = line_heap(64, 1u << 20);
    for (size_t a = 1; a <= 65536; a *= 2) {
        void *p = talc_heap_alloc_aligned(h, 10, a);
        cr_assert_not_null(p);
        cr_assert(test_is_aligned(p, a > 64 ? a : 64), "align %zu: %p", a, p);
        talc_heap_free(h, p);
    }
    HEAP_OK(h);
}

Test(heap_cache_aligned, moved_realloc_is_line_aligned)
{
    talc_heap_t *h = line_heap(128, 256 * 1024);
    void *a = talc_heap_alloc(h, 10);
    void *b = talc_heap_alloc(h, 10);
    void *q = talc_heap_realloc(h, a, 1000);
    cr_assert_not_null(q);
    cr_assert_neq(q, a);
    cr_assert(test_is_aligned(q, 128));
    live_t l[2] = {{q, 1000}, {b, 10}};
    check_lines(h, l, 2, 128);
    talc_heap_free(h, q);
    talc_heap_free(h, b);
    HEAP_OK(h);
}

Test(heap_cache_aligned, normal_heap_reports_zero)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    cr_assert_eq(talc_heap_cache_line(h), 0);
}
