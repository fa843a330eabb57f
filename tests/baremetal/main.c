/* main.c — the bare-metal check: the heap engine linked with no C library (see stubs.c).
 * It runs a heap and a locked heap over static buffers: mixed-size and aligned allocations,
 * grow and shrink by realloc, frees in two passes, a second span claimed and released, and
 * the invariant checker after each phase. Exit status 0 iff every step met its contract. */
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "baremetal.h"
#include "talc/heap.h"
#include "talc/heap_locked.h"

enum { NBLOCKS = 24 };

static alignas(max_align_t) unsigned char heap_mem[64 * 1024];
static alignas(max_align_t) unsigned char span_mem[8 * 1024];
static alignas(max_align_t) unsigned char locked_mem[16 * 1024];

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            talc_bm_puts("talc bare-metal: FAILED: " what "\n");                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static void fill(void *p, size_t n, unsigned char v)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(v + i);
}

static bool holds(const void *p, size_t n, unsigned char v)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(v + i))
            return false;
    return true;
}

static size_t block_size(size_t i) { return 1 + i * 37; }

static int allocate(talc_heap_t *heap, void **blocks)
{
    for (size_t i = 0; i < NBLOCKS; i++) {
        size_t align = (size_t)64 << (i % 4);
        blocks[i] = i % 3 == 0 ? talc_heap_alloc_aligned(heap, block_size(i), align)
                               : talc_heap_alloc(heap, block_size(i));
        CHECK(blocks[i] != NULL, "allocation");
        CHECK(i % 3 != 0 || (uintptr_t)blocks[i] % align == 0, "aligned allocation");
        CHECK((uintptr_t)blocks[i] % TALC_MIN_ALIGN == 0, "minimum alignment");
        fill(blocks[i], block_size(i), (unsigned char)i);
    }
    CHECK(talc_heap_check(heap, NULL) == 0, "check after allocations");
    return 0;
}

static int resize(talc_heap_t *heap, void **blocks)
{
    for (size_t i = 1; i < NBLOCKS; i += 4) {
        size_t keep = block_size(i) < 16 ? block_size(i) : 16;
        void *grown = talc_heap_realloc(heap, blocks[i], block_size(i) * 3 + 200);
        CHECK(grown != NULL, "realloc grow");
        CHECK(holds(grown, block_size(i), (unsigned char)i), "realloc keeps contents");
        void *shrunk = talc_heap_realloc(heap, grown, keep);
        CHECK(shrunk != NULL, "realloc shrink");
        CHECK(holds(shrunk, keep, (unsigned char)i), "shrink keeps contents");
        blocks[i] = shrunk;
        fill(blocks[i], keep, (unsigned char)i);
    }
    CHECK(talc_heap_check(heap, NULL) == 0, "check after realloc");
    return 0;
}

static int release_all(talc_heap_t *heap, void **blocks)
{
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = pass; i < NBLOCKS; i += 2)
            talc_heap_free(heap, blocks[i]);
        CHECK(talc_heap_check(heap, NULL) == 0, "check after frees");
    }
    return 0;
}

static int second_span(talc_heap_t *heap)
{
    talc_span_t *span = talc_heap_claim(heap, span_mem, sizeof span_mem);
    CHECK(span != NULL, "talc_heap_claim");
    CHECK(talc_heap_check(heap, NULL) == 0, "check after claim");
#if TALC_COUNTERS
    talc_heap_counters_t c;
    talc_heap_counters(heap, &c);
    CHECK(c.live_allocs == 0 && c.live_bytes == 0, "counters: nothing live");
    CHECK(c.live_spans == 2 && c.total_allocs >= NBLOCKS, "counters: spans and totals");
#endif
    CHECK(talc_span_release(heap, span) == 0, "talc_span_release");
    CHECK(talc_heap_check(heap, NULL) == 0, "check after release");
    return 0;
}

static int exercise_locked(void)
{
    talc_locked_heap_t *lh = talc_locked_heap_init(locked_mem, sizeof locked_mem, NULL, NULL);
    CHECK(lh != NULL, "talc_locked_heap_init");
    void *a = talc_locked_alloc(lh, 300);
    void *b = talc_locked_alloc_aligned(lh, 40, 512);
    CHECK(a != NULL && b != NULL && (uintptr_t)b % 512 == 0, "locked allocation");
    a = talc_locked_realloc(lh, a, 2000);
    CHECK(a != NULL, "locked realloc");
    talc_locked_free(lh, a);
    talc_locked_free(lh, b);
    talc_heap_t *inner = talc_locked_acquire(lh);
    int rc = talc_heap_check(inner, NULL);
    talc_locked_release(lh);
    CHECK(rc == 0, "check of the locked heap");
    return 0;
}

int talc_bm_main(void)
{
    void *blocks[NBLOCKS];
    talc_heap_t *heap = talc_heap_init(heap_mem, sizeof heap_mem, NULL);
    CHECK(heap != NULL, "talc_heap_init");
    if (allocate(heap, blocks) || resize(heap, blocks) || release_all(heap, blocks) ||
        second_span(heap) || exercise_locked())
        return 1;
    talc_bm_puts("talc bare-metal: ok\n");
    return 0;
}
