/* test_heap_aligned.c — talc_heap_alloc_aligned: every power of two, small alignments meaning
 * TALC_MIN_ALIGN, invalid alignments (0, not a power of two), alignments too large to ever
 * fit (2^40, SIZE_MAX/2+1), 1 MiB alignment in a big heap, padding given back, many
 * high-alignment requests, and near OOM: finding the only aligned fit, and finding a larger
 * hole's fit past more small holes than the scan looks at, and a chunk that fits wherever it
 * lies found in its own size's bin; on 32-bit targets, alignment 2^31 served from a span that
 * holds that address. White-box only for the engine's layout constants (heap_internal.h). */
#define _DEFAULT_SOURCE /* MAP_FIXED_NOREPLACE */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "../common/pattern.h"
#include "heap_internal.h" /* TALC_HDR, TALC_MIN_CHUNK: the layout the near-OOM case needs */
#include "talc/heap.h"

TestSuite(heap_aligned, .fini = test_buffers_free);

static size_t eff_align(size_t a) { return a < TALC_MIN_ALIGN ? TALC_MIN_ALIGN : a; }

Test(heap_aligned, honours_every_power_of_two)
{
    talc_heap_t *h = test_heap(4u << 20, NULL);
    enum { N = 17 * 4 };
    void *p[N];
    size_t u[N];
    size_t n = 0;
    for (size_t k = 0; k <= 16; k++) {
        static const size_t sizes[4] = {0, 1, 100, 5000};
        for (size_t j = 0; j < 4; j++, n++) {
            size_t a = (size_t)1 << k;
            p[n] = talc_heap_alloc_aligned(h, sizes[j], a);
            cr_assert_not_null(p[n], "alloc_aligned(%zu, %zu)", sizes[j], a);
            cr_assert(test_is_aligned(p[n], eff_align(a)), "%p not aligned to %zu", p[n], a);
            u[n] = talc_heap_usable_size(h, p[n]);
            cr_assert_geq(u[n], sizes[j]);
            test_pattern_fill(p[n], u[n], (uint32_t)n);
            HEAP_OK(h);
        }
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(test_pattern_check(p[i], u[i], (uint32_t)i), u[i], "block %zu", i);
        for (size_t j = i + 1; j < n; j++)
            cr_assert_not(test_overlaps(p[i], u[i], p[j], u[j]), "blocks %zu, %zu overlap", i, j);
    }
    for (size_t i = 0; i < n; i++)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1, "alignment padding was given back");
}

Test(heap_aligned, small_alignments_mean_min_align)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    for (size_t a = 1; a <= TALC_MIN_ALIGN; a *= 2) {
        void *p = talc_heap_alloc_aligned(h, 10, a);
        cr_assert_not_null(p);
        cr_assert(test_is_aligned(p, TALC_MIN_ALIGN));
        talc_heap_free(h, p);
    }
    HEAP_OK(h);
}

Test(heap_aligned, rejects_zero_and_non_powers_of_two)
{
    talc_heap_t *h = test_heap(64 * 1024, NULL);
    static const size_t bad[] = {0,
                                 3,
                                 5,
                                 6,
                                 7,
                                 12,
                                 24,
                                 48,
                                 100,
                                 4095,
                                 4097,
                                 (1u << 20) + 1,
                                 SIZE_MAX,
                                 SIZE_MAX - 1,
                                 SIZE_MAX / 2,
                                 (SIZE_MAX / 2 + 1) | 1};
    size_t n = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i < n; i++) {
        cr_assert_null(talc_heap_alloc_aligned(h, 16, bad[i]), "align %#zx", bad[i]);
        cr_assert_null(talc_heap_alloc_aligned(h, 0, bad[i]), "align %#zx, size 0", bad[i]);
    }
#if TALC_COUNTERS
    cr_assert_eq(test_counters(h).failed_allocs, 2 * n);
    cr_assert_eq(test_counters(h).live_allocs, 0);
#endif
    HEAP_OK(h);
}

/* A 256 KiB heap placed so that no multiple of 2^24 lies in [start, end]: every alignment of
 * 2^24 or more is then impossible in it, wherever the buffer happens to land. The buffer is
 * 768 KiB on a 256 KiB boundary b; of b+256K and b+512K at most one is a multiple of 2^24,
 * and each window below contains only one of them. */
static talc_heap_t *heap_without_16m_boundary(void)
{
    const size_t kib = 1024, big = (size_t)1 << 24;
    unsigned char *b = test_buffer_aligned(768 * kib, 256 * kib);
    unsigned char *start = ((uintptr_t)(b + 256 * kib) % big) ? b + 64 * kib : b + 320 * kib;
    cr_assert_eq((uintptr_t)start / big, (uintptr_t)(start + 256 * kib) / big);
    talc_heap_t *h = talc_heap_init(start, 256 * kib, NULL);
    cr_assert_not_null(h);
    return h;
}

Test(heap_aligned, impossible_alignments_fail_cleanly)
{
    talc_heap_t *h = heap_without_16m_boundary();
    static const size_t huge[] = {
        (size_t)1 << 24,
        (size_t)1 << 28,
        (size_t)1 << 30,
#if SIZE_MAX > 0xffffffffu
        (size_t)1 << 32,
        (size_t)1 << 40,
        (size_t)1 << 47,
        (size_t)1 << 48,
        (size_t)1 << 62,
#endif
        SIZE_MAX / 2 + 1
    };
    size_t n = sizeof huge / sizeof huge[0];
    for (size_t i = 0; i < n; i++) {
        cr_assert_null(talc_heap_alloc_aligned(h, 1, huge[i]), "align %#zx", huge[i]);
        cr_assert_null(talc_heap_alloc_aligned(h, SIZE_MAX - huge[i], huge[i]));
        cr_assert_null(talc_heap_alloc_aligned(h, huge[i], huge[i]));
        HEAP_OK(h);
    }
#if TALC_COUNTERS
    cr_assert_eq(test_counters(h).failed_allocs, 3 * n);
#endif
    void *p = talc_heap_alloc_aligned(h, 64, 64);
    cr_assert_not_null(p, "the heap still works");
    talc_heap_free(h, p);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

Test(heap_aligned, one_mebibyte_alignment)
{
    talc_heap_t *h = test_heap(8u << 20, NULL);
    void *p[8];
    size_t n = 0;
    for (; n < 8; n++) {
        p[n] = talc_heap_alloc_aligned(h, 1000, (size_t)1 << 20);
        if (!p[n])
            break;
        cr_assert(test_is_aligned(p[n], (size_t)1 << 20));
        memset(p[n], 0x5A, 1000);
        HEAP_OK(h);
    }
    cr_assert_geq(n, 6, "an 8 MiB heap holds at least 6 MiB-aligned blocks, got %zu", n);
    for (size_t i = 0; i < n; i++)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

/* Talc issue #44 scenario (no timing): many (1 byte, 4096-aligned) requests all succeed. */
Test(heap_aligned, many_page_aligned_small_blocks)
{
    enum { N = 0x400 };
    talc_heap_t *h = test_heap((size_t)(N + 16) * 4096 + (64u << 10), NULL);
    static void *p[N];
    for (size_t i = 0; i < N; i++) {
        p[i] = talc_heap_alloc_aligned(h, 1, 4096);
        cr_assert_not_null(p[i], "request %zu", i);
        cr_assert(test_is_aligned(p[i], 4096));
        *(volatile unsigned char *)p[i] = (unsigned char)i;
    }
    HEAP_OK(h);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(*(unsigned char *)p[i], (unsigned char)i);
        talc_heap_free(h, p[i]);
    }
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

/* Does the block at p (usable range [p, p + usable)) hold an a-aligned address with `want`
 * bytes after it and room for a free chunk (or nothing) in front? *at receives it. */
static bool holds_aligned_fit(talc_heap_t *h, void *p, size_t a, size_t want, uintptr_t *at)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + talc_heap_usable_size(h, p);
    uintptr_t A = (lo + a - 1) & ~(uintptr_t)(a - 1);
    *at = A;
    return A + want <= hi && (A == lo || A - lo >= 256);
}

/* The aligned allocation must land at `target`; it is freed again. */
static void expect_aligned_at(talc_heap_t *h, size_t want, size_t a, uintptr_t target)
{
    void *q = talc_heap_alloc_aligned(h, want, a);
    cr_assert_eq((uintptr_t)q, target, "got %p, the fit is at %#lx", q, (unsigned long)target);
    HEAP_OK(h);
    talc_heap_free(h, q);
}

/* Near OOM the only aligned fit is inside a hole that is smaller than size + align: it must
 * still be found ("NULL iff no fit exists"). */
Test(heap_aligned, finds_the_only_aligned_fit)
{
    const size_t a = 4096, want = 1000;
    talc_heap_t *h = test_heap(256 * 1024, NULL);
    enum { N = 128 };
    static void *p[N];
    size_t n = test_fill(h, 3000, p, N);
    static void *rest[64];
    size_t nr = test_exhaust(h, rest, 64);
    /* Find a block (not the last) whose usable range holds an aligned address A with
     * `want` bytes after it and room for a free chunk (or nothing) in front. */
    size_t hole = n;
    uintptr_t target = 0, at;
    for (size_t i = 1; i + 1 < n && hole == n; i++)
        if (holds_aligned_fit(h, p[i], a, want, &at)) {
            hole = i;
            target = at;
        }
    cr_assert_lt(hole, n, "no suitable block (layout changed?)");
    /* A decoy of the same size class without an aligned fit, freed last so that it is the
     * head of its bin: the search must look past it. */
    size_t decoy = n;
    for (size_t i = 1; i + 1 < n && decoy == n; i++) {
        uintptr_t lo = (uintptr_t)p[i], hi = lo + talc_heap_usable_size(h, p[i]);
        uintptr_t A = (lo + a - 1) & ~(uintptr_t)(a - 1);
        if ((i + 1 < hole || i > hole + 1) && A + want > hi)
            decoy = i;
    }
    cr_assert_lt(decoy, n, "no decoy block (layout changed?)");
    talc_heap_free(h, p[hole]);
    talc_heap_free(h, p[decoy]);
    HEAP_OK(h);
    expect_aligned_at(h, want, a, target);
    for (size_t i = 0; i < n; i++)
        if (i != hole && i != decoy)
            talc_heap_free(h, p[i]);
    for (size_t i = 0; i < nr; i++)
        talc_heap_free(h, rest[i]);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

/* Near OOM, with far more free chunks of the request's size class than the scan looks at
 * (TALC_ALIGNED_SCAN), none of which holds an aligned fit, the one larger hole that does is
 * still found: the scan starts from the largest bins. */
Test(heap_aligned, near_oom_a_larger_fit_beats_many_small_holes)
{
    const size_t a = 4096, want = 1000;
    enum { N = 600 };
    talc_heap_t *h = test_heap((size_t)4 << 20, NULL);
    static void *small[N], *sep[N], *big[64], *rest[64];
    for (size_t i = 0; i < N; i++) { /* 1100-byte blocks kept apart by live separators */
        small[i] = talc_heap_alloc(h, 1100);
        sep[i] = talc_heap_alloc(h, 40);
        cr_assert(small[i] && sep[i]);
    }
    size_t nb = test_fill(h, 3000, big, 64);
    size_t nr = test_exhaust(h, rest, 64);
    uintptr_t target = 0, at;
    size_t hole = nb;
    for (size_t i = 0; i < nb && hole == nb; i++)
        if (holds_aligned_fit(h, big[i], a, want, &at)) {
            hole = i;
            target = at;
        }
    cr_assert_lt(hole, nb, "no 3000-byte block holds a fit (layout changed?)");
    size_t holes = 0;
    for (size_t i = 0; i < N; i++)
        if (!holds_aligned_fit(h, small[i], a, want, &at)) {
            talc_heap_free(h, small[i]);
            small[i] = NULL;
            holes++;
        }
    cr_assert_gt(holes, 2 * 128, "only %zu small holes", holes);
    talc_heap_free(h, big[hole]);
    HEAP_OK(h);
    expect_aligned_at(h, want, a, target);
    for (size_t i = 0; i < N; i++) {
        if (small[i])
            talc_heap_free(h, small[i]);
        talc_heap_free(h, sep[i]);
    }
    for (size_t i = 0; i < nb; i++)
        if (i != hole)
            talc_heap_free(h, big[i]);
    for (size_t i = 0; i < nr; i++)
        talc_heap_free(h, rest[i]);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

/* A free chunk of size + align + a minimum chunk fits an aligned block wherever it lies, and
 * heap.h promises it is found. Such a chunk may lie in the bin below the ceiling of its size
 * (an exponential bin spans sizes on both sides of it); until 2026-12-06 that bin was left to
 * the bounded scan, which spent its budget on more same-bin chunks without a fit first and
 * returned NULL (found by a review). Here: one chunk of exactly that size and more chunks of
 * 4096 bytes than the scan looks at, each placed where no 4096-aligned block fits. */
Test(heap_aligned, a_chunk_of_size_align_and_a_minimum_chunk_is_always_found)
{
    const size_t a = 4096, minc = TALC_MIN_CHUNK;
    enum { N = 2 * 128 + 3 }; /* more than TALC_ALIGNED_SCAN */
    talc_heap_t *h = test_heap((size_t)4 << 20, NULL);
    char *p0 = talc_heap_alloc(h, 0);
    cr_assert_not_null(p0);
    talc_heap_free(h, p0);
    /* The next chunk starts TALC_HDR past a 4096 boundary: its block cannot be aligned, and
     * a 4096-byte chunk has no room to pad up to the next boundary. */
    uintptr_t c = (uintptr_t)p0 - TALC_HDR;
    size_t pad = (size_t)((TALC_HDR - c) & (a - 1u));
    pad += pad < minc ? a : 0u;
    void *lead = talc_heap_alloc(h, pad - TALC_HDR);
    static void *hole[N], *sep[N];
    for (size_t i = 0; i < N; i++) {
        hole[i] = talc_heap_alloc(h, a - TALC_HDR);
        sep[i] = talc_heap_alloc(h, a - TALC_HDR);
        cr_assert(hole[i] && sep[i]);
    }
    void *fit = talc_heap_alloc(h, minc + a + minc - TALC_HDR); /* that chunk exactly */
    void *guard = talc_heap_alloc(h, 100);
    static void *rest[64];
    size_t nrest = test_exhaust(h, rest, 64);
    cr_assert(lead && fit && guard && nrest > 0);
    cr_assert_eq(test_walk(h).free, 0, "the span is full");
    talc_heap_free(h, fit);
    for (size_t i = 0; i < N; i++)
        talc_heap_free(h, hole[i]);
    HEAP_OK(h);
    void *p = talc_heap_alloc_aligned(h, 1, a);
    cr_assert_not_null(p, "the chunk of size + align + a minimum chunk was not found");
    cr_assert(test_is_aligned(p, a));
    talc_heap_free(h, p);
    talc_heap_free(h, lead);
    talc_heap_free(h, guard);
    test_free_each(h, rest, nrest);
    for (size_t i = 0; i < N; i++)
        talc_heap_free(h, sep[i]);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

Test(heap_aligned, mixed_with_plain_allocations_and_frees)
{
    talc_heap_t *h = test_heap(1u << 20, NULL);
    enum { N = 300 };
    static void *p[N];
    static size_t al[N];
    for (size_t i = 0; i < N; i++) {
        al[i] = (size_t)1 << (i % 13);
        p[i] = talc_heap_alloc_aligned(h, (i * 53) % 900, al[i]);
        cr_assert_not_null(p[i]);
        cr_assert(test_is_aligned(p[i], eff_align(al[i])));
        if (i % 3 == 2) {
            talc_heap_free(h, p[i - 1]);
            p[i - 1] = NULL;
        }
    }
    HEAP_OK(h);
    for (size_t i = 0; i < N; i++)
        talc_heap_free(h, p[i]);
    HEAP_OK(h);
    cr_assert_eq(test_walk(h).free, 1);
}

#if UINTPTR_MAX <= 0xffffffffu
#include <sys/mman.h>

/* On a 32-bit target the top alignment, 2^31, is a real one: a span holding the address 2^31
 * serves it (it used to be refused as larger than the largest chunk). */
Test(heap_aligned, the_top_alignment_on_32_bit)
{
    size_t len = 2u << 20;
    void *want = (void *)(uintptr_t)(0x80000000u - (1u << 20));
    void *m = mmap(want, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == MAP_FAILED || m != want) {
        if (m != MAP_FAILED)
            munmap(m, len);
        cr_skip_test("the 2 MiB around 0x80000000 are taken in this process");
    }
    talc_heap_opts_t o = test_opts("top-align");
    talc_heap_t *h = test_heap(8192, &o);
    cr_assert_not_null(talc_heap_claim(h, m, len));
    void *p = talc_heap_alloc_aligned(h, 16, (size_t)1 << 31);
    cr_assert_eq((uintptr_t)p, (uintptr_t)0x80000000u, "p = %p", p);
    HEAP_OK(h);
    talc_heap_free(h, p);
    HEAP_OK(h);
    cr_assert_eq(test_faults.count, 0);
    munmap(m, len);
}
#endif
