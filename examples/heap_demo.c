/* heap_demo.c — the Talc heap engine over a static buffer, step by step.
 *
 * Claims a 64 KiB buffer, makes allocations of mixed sizes and alignments, grows one with
 * realloc, frees them, and after each step prints a row of the heap's counters and the result
 * of the invariant checker (talc_heap_check). Exits 0 iff every step succeeded and every check
 * returned 0. Build: part of the default build (examples/); run: `make demo`.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "talc/heap.h"

static alignas(max_align_t) unsigned char memory[64 * 1024];

static void print_header(void)
{
    printf("%-28s %6s %8s %8s %10s %6s %8s %6s\n", "step", "live", "live B", "peak B", "free B",
           "free#", "managed", "check");
}

/* One table row: the counters after `step` and the checker's verdict. Returns the verdict. */
static int report(const talc_heap_t *heap, const char *step)
{
    talc_heap_counters_t c;
    talc_heap_counters(heap, &c);
    int check = talc_heap_check(heap, NULL);
    printf("%-28s %6zu %8zu %8zu %10zu %6zu %8zu %6d\n", step, c.live_allocs, c.live_bytes,
           c.peak_live_bytes, c.free_bytes, c.free_chunks, c.managed_bytes, check);
    return check;
}

static int fail(const char *what)
{
    fprintf(stderr, "heap_demo: %s failed\n", what);
    return 1;
}

int main(void)
{
    talc_heap_t *heap = talc_heap_init(memory, sizeof memory, NULL);
    if (heap == NULL)
        return fail("talc_heap_init");
    printf("heap over a %zu-byte static buffer (control block %zu bytes, min align %zu)\n\n",
           sizeof memory, talc_heap_footprint(), (size_t)TALC_MIN_ALIGN);
#if !TALC_COUNTERS
    printf("(built with TALC_COUNTERS=0: the counters read 0)\n");
#endif
    print_header();
    int bad = report(heap, "init") != 0;

    static const size_t sizes[] = {24, 200, 1000, 5000};
    void *small[4];
    for (size_t i = 0; i < 4; i++) {
        small[i] = talc_heap_alloc(heap, sizes[i]);
        if (small[i] == NULL)
            return fail("talc_heap_alloc");
        memset(small[i], 0xa5, sizes[i]);
    }
    bad |= report(heap, "alloc 24, 200, 1000, 5000") != 0;

    void *line = talc_heap_alloc_aligned(heap, 100, 64);
    void *page = talc_heap_alloc_aligned(heap, 3000, 4096);
    if (line == NULL || page == NULL || (uintptr_t)page % 4096 != 0)
        return fail("talc_heap_alloc_aligned");
    bad |= report(heap, "alloc 100@64, 3000@4096") != 0;

    void *grown = talc_heap_realloc(heap, small[1], 4000);
    if (grown == NULL)
        return fail("talc_heap_realloc");
    small[1] = grown;
    bad |= report(heap, "realloc 200 -> 4000") != 0;

    talc_heap_free(heap, small[0]);
    talc_heap_free(heap, small[2]);
    bad |= report(heap, "free 24, 1000") != 0;

    talc_heap_free(heap, small[1]);
    talc_heap_free(heap, small[3]);
    talc_heap_free(heap, line);
    talc_heap_free(heap, page);
    bad |= report(heap, "free the rest") != 0;

    talc_heap_counters_t c;
    talc_heap_counters(heap, &c);
    printf("\ntotals: %llu allocations, %llu bytes requested, %llu failed\n",
           (unsigned long long)c.total_allocs, (unsigned long long)c.total_bytes,
           (unsigned long long)c.failed_allocs);
    printf("talc_heap_check: %s\n", bad ? "FAILED" : "0 (ok) after every step");
    return bad ? 1 : 0;
}
