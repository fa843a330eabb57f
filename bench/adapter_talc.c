/* adapter_talc.c — our heap engine behind the benchmark adapter interface (bench.h).
 *
 * Three adapters: "talc" (talc_heap_*, the single-threaded form: Talc's TalcCell),
 * "talc-inplace" (the same with opts.shrink_in_place: realloc never moves a shrinking block,
 * Talc's rule) and "talc-locked" (talc_locked_* with the built-in spinlock: Talc's TalcLock,
 * which is what Talc's own benches measure; it shrinks in place too). Each trial
 * re-initialises the heap over the pre-touched arena buffer the harness passes in, with one
 * span covering all of it (Talc: one claim of the whole arena).
 *
 * This file is compiled twice (CMakeLists.txt): with the engine as configured, and with the
 * variant's definitions (by default TALC_COUNTERS=0) into an object whose global symbols all
 * get an "nc_" prefix. The second copy reports itself under the variant's name (by default
 * "talc-nocounters"); only its plain adapter is used.
 *
 * Realloc keeps the block's alignment, as Rust's GlobalAlloc::realloc (what Talc's benches
 * call) does: for alignments above TALC_MIN_ALIGN it tries talc_heap_resize_in_place, then
 * allocates aligned, copies and frees — the same fallback Talc's own realloc takes.
 *
 * Concurrency: an instance is used by one thread (the bench thread).
 */
#include <string.h>

#include "bench.h"
#include "talc/heap.h"
#include "talc/heap_locked.h"

/* Set by CMakeLists.txt: "talc" for the main copy, TB_VARIANT_NAME for the variant. */
#ifndef TB_TALC_NAME
#define TB_TALC_NAME "talc"
#endif
#ifndef TB_TALC_DESC
#define TB_TALC_DESC "talc_heap_* (single-threaded heap)"
#endif

static bool plain_setup(void) { return true; }

/* ---- talc_heap_* ---------------------------------------------------------------------------*/

static void *plain_begin(void *arena, size_t arena_size)
{
    return talc_heap_init(arena, arena_size, NULL);
}

static void plain_end(void *inst) { (void)inst; }

static void *plain_alloc(void *inst, size_t size, size_t align)
{
    if (align <= TALC_MIN_ALIGN)
        return talc_heap_alloc(inst, size);
    return talc_heap_alloc_aligned(inst, size, align);
}

static void plain_free(void *inst, void *ptr, size_t size, size_t align)
{
    (void)size;
    (void)align;
    talc_heap_free(inst, ptr);
}

static void *plain_realloc(void *inst, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (align <= TALC_MIN_ALIGN)
        return talc_heap_realloc(inst, ptr, new_size);
    if (talc_heap_resize_in_place(inst, ptr, new_size))
        return ptr;
    void *q = talc_heap_alloc_aligned(inst, new_size, align);
    if (q == NULL)
        return NULL;
    memcpy(q, ptr, old_size < new_size ? old_size : new_size);
    talc_heap_free(inst, ptr);
    return q;
}

static bool plain_stats(void *inst, tb_heap_stats_t *out)
{
    talc_heap_counters_t c;
    talc_heap_counters(inst, &c);
    *out = (tb_heap_stats_t){c.managed_bytes, c.free_bytes, c.free_chunks, c.live_bytes};
    return TALC_COUNTERS != 0;
}

static const tb_allocator_t plain_adapter = {
    .name = TB_TALC_NAME,
    .desc = TB_TALC_DESC,
    .bounded = true,
    .setup = plain_setup,
    .begin = plain_begin,
    .end = plain_end,
    .alloc = plain_alloc,
    .free = plain_free,
    .realloc = plain_realloc,
    .stats = plain_stats,
};

const tb_allocator_t *talc_bench_adapter_plain(void) { return &plain_adapter; }

/* ---- talc_heap_* with shrink_in_place ------------------------------------------------------*/

static void *inplace_begin(void *arena, size_t arena_size)
{
    talc_heap_opts_t o = {0};
    o.shrink_in_place = true;
    return talc_heap_init(arena, arena_size, &o);
}

static const tb_allocator_t inplace_adapter = {
    .name = TB_TALC_NAME "-inplace",
    .desc = "talc_heap_* with opts.shrink_in_place (realloc never moves a shrinking block)",
    .bounded = true,
    .setup = plain_setup,
    .begin = inplace_begin,
    .end = plain_end,
    .alloc = plain_alloc,
    .free = plain_free,
    .realloc = plain_realloc,
    .stats = plain_stats,
};

const tb_allocator_t *talc_bench_adapter_inplace(void) { return &inplace_adapter; }

/* ---- talc_locked_* -------------------------------------------------------------------------*/

static void *locked_begin(void *arena, size_t arena_size)
{
    return talc_locked_heap_init(arena, arena_size, NULL, NULL);
}

static void *locked_alloc(void *inst, size_t size, size_t align)
{
    if (align <= TALC_MIN_ALIGN)
        return talc_locked_alloc(inst, size);
    return talc_locked_alloc_aligned(inst, size, align);
}

static void locked_free(void *inst, void *ptr, size_t size, size_t align)
{
    (void)size;
    (void)align;
    talc_locked_free(inst, ptr);
}

/* Above TALC_MIN_ALIGN: an in-place attempt under the lock, then alloc/copy/free, each call
 * taking the lock once (as a TalcLock user's GlobalAlloc::realloc fallback would). */
static void *locked_realloc(void *inst, void *ptr, size_t old_size, size_t align, size_t new_size)
{
    if (align <= TALC_MIN_ALIGN)
        return talc_locked_realloc(inst, ptr, new_size);
    talc_heap_t *h = talc_locked_acquire(inst);
    bool in_place = talc_heap_resize_in_place(h, ptr, new_size);
    talc_locked_release(inst);
    if (in_place)
        return ptr;
    void *q = talc_locked_alloc_aligned(inst, new_size, align);
    if (q == NULL)
        return NULL;
    memcpy(q, ptr, old_size < new_size ? old_size : new_size);
    talc_locked_free(inst, ptr);
    return q;
}

static bool locked_stats(void *inst, tb_heap_stats_t *out)
{
    talc_heap_counters_t c;
    talc_locked_counters(inst, &c);
    *out = (tb_heap_stats_t){c.managed_bytes, c.free_bytes, c.free_chunks, c.live_bytes};
    return TALC_COUNTERS != 0;
}

static const tb_allocator_t locked_adapter = {
    .name = TB_TALC_NAME "-locked",
    .desc = "talc_locked_* with the built-in spinlock (Talc's TalcLock)",
    .bounded = true,
    .setup = plain_setup,
    .begin = locked_begin,
    .end = plain_end,
    .alloc = locked_alloc,
    .free = locked_free,
    .realloc = locked_realloc,
    .stats = locked_stats,
};

const tb_allocator_t *talc_bench_adapter_locked(void) { return &locked_adapter; }
