/* test_smoke.c — the first test of the heap engine, and of the test build itself: a heap over
 * a static buffer serves mixed allocations, frees them, passes the invariant checker, and
 * reports a double free to its fatal handler (or aborts without one). */
#include <signal.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "talc/heap.h"

static alignas(max_align_t) unsigned char mem[32 * 1024];

Test(smoke, alloc_free_check)
{
    talc_heap_t *heap = talc_heap_init(mem, sizeof mem, NULL);
    cr_assert_not_null(heap);
    cr_assert_not_null(talc_heap_first_span(heap));

    void *blocks[16];
    for (size_t i = 0; i < 16; i++) {
        size_t size = 8 + i * 100;
        blocks[i] = talc_heap_alloc(heap, size);
        cr_assert_not_null(blocks[i], "allocation %zu of %zu bytes", i, size);
        cr_assert_eq((uintptr_t)blocks[i] % TALC_MIN_ALIGN, 0);
        cr_assert_geq(talc_heap_usable_size(heap, blocks[i]), size);
        memset(blocks[i], (int)i, size);
    }
    cr_assert_eq(talc_heap_check(heap, NULL), TALC_CHECK_OK);

    for (size_t i = 0; i < 16; i += 2)
        talc_heap_free(heap, blocks[i]);
    cr_assert_eq(talc_heap_check(heap, NULL), TALC_CHECK_OK);
    for (size_t i = 1; i < 16; i += 2) {
        const unsigned char *b = blocks[i];
        cr_assert_eq(b[0], i, "block %zu was overwritten", i);
        talc_heap_free(heap, blocks[i]);
    }
    cr_assert_eq(talc_heap_check(heap, NULL), TALC_CHECK_OK);

#if TALC_COUNTERS
    talc_heap_counters_t c;
    talc_heap_counters(heap, &c);
    cr_assert_eq(c.live_allocs, 0);
    cr_assert_eq(c.live_bytes, 0);
    cr_assert_eq(c.total_allocs, 16);
    cr_assert_eq(c.free_chunks, 1, "all free space coalesces back into one chunk");
#endif
}

Test(smoke, aligned)
{
    talc_heap_t *heap = talc_heap_init(mem, sizeof mem, NULL);
    cr_assert_not_null(heap);
    for (size_t align = 1; align <= 4096; align *= 2) {
        void *p = talc_heap_alloc_aligned(heap, 24, align);
        cr_assert_not_null(p, "align %zu", align);
        cr_assert_eq((uintptr_t)p % align, 0, "align %zu", align);
        talc_heap_free(heap, p);
    }
    cr_assert_null(talc_heap_alloc_aligned(heap, 24, 3), "alignment 3 is not a power of two");
    cr_assert_eq(talc_heap_check(heap, NULL), TALC_CHECK_OK);
}

struct fault_log {
    int calls;
    talc_fault_info_t last;
};

static void record_fault(const talc_fault_info_t *info, void *ctx)
{
    struct fault_log *log = ctx;
    log->calls++;
    log->last = *info;
}

Test(smoke, double_free_reaches_handler)
{
    struct fault_log log = {0};
    talc_heap_opts_t opts = {.name = "smoke", .fatal = record_fault, .fatal_ctx = &log};
    talc_heap_t *heap = talc_heap_init(mem, sizeof mem, &opts);
    cr_assert_not_null(heap);
    /* b sits between two live blocks, so after its free it stays a free chunk of its own. */
    void *a = talc_heap_alloc(heap, 64);
    void *b = talc_heap_alloc(heap, 64);
    void *c = talc_heap_alloc(heap, 64);
    cr_assert(a && b && c);
    talc_heap_free(heap, b);
    talc_heap_free(heap, b);
    cr_assert_eq(log.calls, 1);
    cr_assert_eq(log.last.fault, TALC_FAULT_DOUBLE_FREE);
    cr_assert_eq(log.last.address, b);
    cr_assert_str_eq(log.last.heap_name, "smoke");
    cr_assert_eq(talc_heap_check(heap, NULL), TALC_CHECK_OK, "the second free changed nothing");
}

Test(smoke, double_free_aborts_by_default, .signal = SIGABRT)
{
    talc_heap_t *heap = talc_heap_init(mem, sizeof mem, NULL);
    cr_assert_not_null(heap);
    void *a = talc_heap_alloc(heap, 64);
    void *b = talc_heap_alloc(heap, 64);
    cr_assert(a && b);
    talc_heap_free(heap, a);
    talc_heap_free(heap, a);
}
