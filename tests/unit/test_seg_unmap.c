/* test_seg_unmap.c — an emptied OS segment is unmapped after its stripe's release, not under
 * the stripe lock (arenas/segment.c, "Unmapping after the stripe's release"):
 *   - while the stripe is still held, the segment has left the owner map and the budget but is
 *     still mapped; the release unmaps it;
 *   - a free through the public API that empties a large segment leaves nothing mapped;
 *   - a fault deferred to the same release, whose handler longjmps, does not lose the unmap;
 *   - destroy unmaps the segments of a stripe it frees (no release follows there).
 * White-box: the test takes the stripe lock and runs the free's steps itself, so it can look
 * between the drop and the release. Before 2026-12-05 the drop unmapped under the lock (for
 * tens of MiB, milliseconds that the stripe's other threads waited: bench/unmap_stall.c).
 *
 * Concurrency: one thread.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <sys/mman.h>

#include <criterion/criterion.h>

#include "../../arenas/arena_internal.h"
#include "arena_test.h"

/* Above the default segment (1 MiB, or one granule where that is larger): a segment of its
 * own, which an arena with a budget does not keep (without one, the stripe would keep it for
 * the next large block: arena_large/a_freed_block_too_large_for_a_segment_leaves_its_own_kept). */
#define BIG TEST_SEGMENT_SCALED((size_t)8 << 20)

/* Is every page of [p, p + n) mapped? mincore fails with ENOMEM on an unmapped page. */
static bool mapped(const void *p, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static unsigned char vec[(BIG + 4 * TEST_OS_SEGMENT) / 4096u];
    cr_assert_leq((n + page - 1) / page, sizeof vec);
    if (mincore((void *)(uintptr_t)p, n, vec) == 0)
        return true;
    cr_assert_eq(errno, ENOMEM, "mincore: %s", strerror(errno));
    return false;
}

typedef struct big_block {
    talc_arena_t *arena;
    talc_stripe_t *stripe;
    talc_seg_t *seg;
    char *p, *base;
    size_t size;
} big_block_t;

/* An arena of one stripe, with a budget it never reaches, and one block of BIG bytes in a
 * segment of its own, written. */
static big_block_t big_block(const char *name)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = 1;
    c.soft_budget = SIZE_MAX / 2u;
    big_block_t b = {.arena = test_arena_cfg(&c)};
    b.p = talc_arena_malloc(b.arena, BIG);
    cr_assert_not_null(b.p);
    memset(b.p, 0x5a, BIG);
    b.seg = talc_seg_of(b.p);
    cr_assert_not_null(b.seg);
    b.stripe = b.seg->stripe;
    b.base = b.seg->base;
    b.size = b.seg->size;
    cr_assert_gt(b.size, talc_seg_default_size(b.stripe), "not a default segment: not kept");
    return b;
}

/* What talc_free does with the stripe held (arena_alloc.c, talc_free_locked). */
static void free_held(big_block_t *b)
{
    size_t merged = talc_heap_free_merged(talc_stripe_heap(b->stripe), b->p, NULL);
    talc_stats_add(&b->stripe->st.frees, 1);
    cr_assert_eq(merged, b->seg->empty_chunk, "the free emptied the segment");
    talc_seg_after_free(b->stripe, b->seg);
}

Test(seg_unmap, the_release_unmaps_what_the_lock_holder_dropped)
{
    big_block_t b = big_block("held");
    test_watchdog(30);
    /* (a snapshot would wait for the stripe's write section to close: read the field) */
    size_t before = __atomic_load_n(&b.arena->source_bytes, __ATOMIC_RELAXED);
    talc_stripe_lock(b.stripe);
    free_held(&b);
    cr_assert_null(talc_seg_of(b.p), "out of the owner map at once");
    cr_assert_eq(__atomic_load_n(&b.arena->source_bytes, __ATOMIC_RELAXED), before - b.size,
                 "out of the budget at once");
    cr_assert(mapped(b.base, b.size), "not unmapped under the stripe lock");
    cr_assert_eq(b.stripe->unmap, b.seg, "waiting for the release");
    talc_stripe_unlock_freed(b.stripe);
    cr_assert_null(b.stripe->unmap);
    cr_assert_not(mapped(b.base, b.size), "unmapped by the release");
    test_assert_empty(b.arena);
    cr_assert_eq(talc_arena_destroy(b.arena, 0), 0);
}

Test(seg_unmap, a_free_that_empties_a_large_segment_leaves_it_unmapped)
{
    big_block_t b = big_block("free");
    talc_free(b.p);
    cr_assert_not(mapped(b.base, b.size));
    cr_assert_null(b.stripe->unmap);
    test_assert_empty(b.arena);
    cr_assert_eq(talc_arena_destroy(b.arena, 0), 0);
}

static jmp_buf jump;
static test_fault_log_t faults;

static void longjmp_handler(const talc_fault_info_t *info, void *ctx)
{
    test_fault_record(info, ctx);
    longjmp(jump, 1);
}

Test(seg_unmap, a_deferred_fault_that_longjmps_does_not_lose_the_unmap)
{
    test_watchdog(30);
    big_block_t b = big_block("fault");
    talc_set_fatal_handler(longjmp_handler, &faults);
    volatile int jumped = 0;
    talc_stripe_lock(b.stripe);
    free_held(&b);
    /* A fault the stripe's heap reports meanwhile (as a give-back of a corrupted cached
     * block does): its report waits for the same release. */
    talc_fault_info_t f = {TALC_FAULT_BAD_POINTER, "fault", b.p, "a test's fault"};
    talc_fatal_stripe_handler(&f, b.stripe);
    if (setjmp(jump) == 0)
        talc_stripe_unlock_freed(b.stripe);
    else
        jumped = 1;
    talc_set_fatal_handler(NULL, NULL);
    cr_assert_eq(jumped, 1, "the handler ran at the release");
    cr_assert_eq(faults.calls, 1);
    cr_assert_eq(faults.addr, b.p);
    cr_assert_not(mapped(b.base, b.size), "unmapped before the handler ran");
    cr_assert(talc_mutex_is_free(&b.stripe->lock));
    cr_assert_eq(talc_arena_destroy(b.arena, 0), 0);
}

Test(seg_unmap, destroy_unmaps_the_segments_it_releases)
{
    big_block_t b = big_block("destroy");
    cr_assert_eq(talc_arena_destroy(b.arena, TALC_DESTROY_RELEASE_ALL), 0);
    cr_assert_not(mapped(b.base, b.size), "a live block's segment, released by destroy");
}
