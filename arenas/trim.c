/* trim.c — talc_arena_trim: an arena gives memory back to the OS when asked (malloc_trim).
 *
 * Three steps, in order:
 *   1. the calling thread's cached blocks of the arena, and the blocks parked in its stripes'
 *      depots, go back to their heaps (talc_tcache_release_own), so that they can coalesce;
 *   2. every empty segment the stripes keep for reuse is unmapped (talc_seg_reclaim; in an
 *      arena whose source is the OS: a buffer arena's would only go back to its buffer);
 *   3. in each remaining OS segment, the whole pages inside free chunks are decommitted
 *      (talc_os_decommit, MADV_DONTNEED on Linux): the range stays mapped and reads as zero
 *      when used again. A free chunk keeps its header, its list links and its footer, on the
 *      pages at its two ends, which are never decommitted.
 * Buffer and reserve segments keep their pages: a caller's buffer may be shared, file-backed
 * or locked, and the reserve is prefaulted and locked on purpose.
 *
 * Other threads' caches keep their blocks (they are allocated as far as the heaps know).
 *
 * Concurrency: may run concurrently with every other call on the arena, but not with its
 * destruction. Step 1 takes the caches' registry lock, then stripe locks; steps 2 and 3 lock
 * one stripe at a time (lock order: docs/arenas.md, "Lock order"). Step 3 walks the stripe's
 * heap under its lock: O(chunks), plus one madvise per free chunk that holds a whole page.
 */
#include <stdint.h>

#include "arena_internal.h"
#include "heap_internal.h"
#include "os_mem.h"
#include "talc/arena.h"
#include "tcache.h"

typedef struct talc_trim_walk {
    uintptr_t page_mask; /* page size − 1 */
    size_t bytes;        /* decommitted so far */
} talc_trim_walk_t;

/* Walk visitor: decommit the whole pages of a free chunk in an OS segment. For a free chunk
 * the walk passes ptr = chunk + HDR and size = chunk size − HDR. */
static bool talc_trim_visit(const talc_span_t *span, void *ptr, size_t size, bool used, void *ctx)
{
    (void)span;
    talc_trim_walk_t *w = ctx;
    if (used)
        return true;
    uintptr_t chunk = (uintptr_t)ptr - TALC_HDR;
    uintptr_t lo = (chunk + sizeof(talc_free_t) + w->page_mask) & ~w->page_mask;
    uintptr_t hi = ((uintptr_t)ptr + size - TALC_HDR) & ~w->page_mask; /* below the footer */
    if (hi <= lo)
        return true;
    const talc_seg_t *g = talc_seg_of(ptr);
    if (g && g->kind == TALC_SEG_OS && talc_os_decommit((void *)lo, (size_t)(hi - lo)) == 0)
        w->bytes += (size_t)(hi - lo);
    return true;
}

size_t talc_arena_trim(talc_arena_t *a)
{
    if (!a)
        a = talc_thread_arena();
    if (!a)
        return 0;
    if (a->tc_on)
        (void)talc_tcache_release_own(a);
    /* A buffer arena's empty segments would only go back to its buffer, not to the OS. */
    size_t unmapped = a->cfg.source == TALC_SOURCE_OS ? talc_seg_reclaim(a) : 0;
    talc_trim_walk_t w = {.page_mask = (uintptr_t)talc_os_page_size() - 1u, .bytes = 0};
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_t *s = talc_arena_stripe(a, i);
        talc_stripe_lock(s);
        (void)talc_heap_walk(talc_stripe_heap(s), talc_trim_visit, &w);
        talc_stripe_unlock(s);
    }
    talc_stats_add_total(&a->trims, 1);
    talc_stats_add_total(&a->trimmed_bytes, unmapped + w.bytes);
    return unmapped + w.bytes;
}
