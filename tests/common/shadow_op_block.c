/* tests/common/shadow_op_block.c — the shadow model's block operations: alloc, aligned alloc,
 * free, realloc (of NULL, to 0, growing, shrinking; in the locked form now and then past
 * TALC_REALLOC_UNLOCKED_COPY) and resize in place. Each decodes its arguments, calls the heap,
 * checks the answer against talc/heap.h (which shrinks may move, alignment, contents kept, the
 * no-fit rule for a NULL) and updates the model's blocks and counters.
 *
 * Who may use it: shadow_step.c. Concurrency: one model per thread.
 */
#include "shadow_internal.h"

#include "pattern.h"

/* ---- Block operations ---------------------------------------------------------------------*/

int shadow_op_alloc(shadow_t *s, shadow_src_t *src, bool aligned)
{
    size_t size = shadow_decode_size(s, src);
    size_t align = aligned ? shadow_decode_align(src) : s->quantum;
    uint64_t failed_before = s->failed;
    shadow_set_oom_expect(s, size, align);
    s->oom_calls = 0;
    void *p = aligned ? sh_alloc_aligned(s, size, align) : sh_alloc(s, size);
    s->in_alloc = false;
    if (s->oom_calls > TALC_OOM_MAX_RETRIES)
        FAIL("OOM hook called %u times for one allocation (max %d)", s->oom_calls,
             TALC_OOM_MAX_RETRIES);
    if (!p) {
        s->failed = failed_before + 1;
        return shadow_check_no_fit(s, size, align);
    }
    return model_add_block(s, p, size, align);
}

int shadow_op_free(shadow_t *s, shadow_src_t *src)
{
    if (!s->nblocks) {
        sh_free(s, NULL); /* a no-op */
        return 0;
    }
    size_t i = shadow_pick_block(s, src);
    sh_free(s, s->blocks[i].ptr);
    model_remove_block(s, i);
    return 0;
}

/* After a successful resize of block b to n bytes at q: check the kept prefix, refill. */
static int after_resize(shadow_t *s, shadow_block_t *b, unsigned char *q, size_t n)
{
    size_t keep = min_sz(min_sz(b->size, n), b->len);
    b->ptr = q;
    if (shadow_verify_block_prefix(s, b, keep, "resize kept prefix") != 0)
        return -1;
    size_t usable = sh_usable(s, q);
    if (usable < n)
        FAIL("usable_size(%p) = %zu < %zu after resize", (void *)q, usable, n);
    test_pattern_fill_range(q, keep, usable, b->seed);
    b->len = usable;
    s->live_bytes = s->live_bytes - b->size + n;
    b->size = n;
    return 0;
}

/* Whether talc_heap_realloc may have moved block b (usable size `usable` before the call) to
 * q when shrinking it to n bytes (talc/heap.h): the heap allows moving shrinks, this one gives
 * back at least TALC_SHRINK_MOVE bytes, and a block aligned to 64..4096 bytes keeps that
 * alignment. */
static bool shrink_may_move(const shadow_t *s, const shadow_block_t *b, size_t usable, size_t n,
                            const void *q)
{
#if TALC_SHRINK_MOVE <= 0
    (void)s, (void)b, (void)usable, (void)n, (void)q;
    return false;
#else
    if (s->cfg.shrink_in_place || s->lh || usable - n < (size_t)TALC_SHRINK_MOVE)
        return false; /* talc_locked_realloc shrinks in place, whatever the options say */
    uintptr_t a = addr(b->ptr) | (uintptr_t)4096;
    a &= (uintptr_t)0 - a;
    return a < 64 || addr(q) % a == 0;
#endif
}

/* The live block with the most requested bytes (the first of them). */
static size_t largest_block(const shadow_t *s)
{
    size_t best = 0;
    for (size_t i = 1; i < s->nblocks; i++)
        if (s->blocks[i].size > s->blocks[best].size)
            best = i;
    return best;
}

/* In the locked form 1 realloc in 16 grows the largest block by TALC_REALLOC_UNLOCKED_COPY
 * (or halves it at max_size), so that talc_locked_realloc's copy outside the lock runs. */
int shadow_op_realloc(shadow_t *s, shadow_src_t *src)
{
    unsigned kind = (unsigned)take(src, 1) % 16;
    if (kind == 0 && shadow_over_cap(s)) /* no room in the block table: resize a block instead */
        kind = 2;
    if (kind == 0 || !s->nblocks) { /* realloc(NULL, n) == alloc(n) */
        size_t size = shadow_decode_size(s, src);
        shadow_set_oom_expect(s, size, s->quantum);
        void *p = sh_realloc(s, NULL, size);
        s->in_alloc = false;
        if (!p) {
            s->failed++;
            return shadow_check_no_fit(s, size, s->quantum);
        }
        return model_add_block(s, p, size, s->quantum);
    }
    size_t i = kind == 15 && s->lh ? largest_block(s) : shadow_pick_block(s, src);
    shadow_block_t *b = &s->blocks[i];
    if (kind == 1) { /* realloc(p, 0) == free(p), returns NULL */
        if (sh_realloc(s, b->ptr, 0) != NULL)
            FAIL("realloc(%p, 0) did not return NULL", (void *)b->ptr);
        model_remove_block(s, i);
        return 0;
    }
    size_t n = shadow_decode_size(s, src);
    if (kind == 15 && s->lh) /* large enough to be copied outside the lock when it moves */
        n = b->size < s->cfg.max_size
                ? min_sz(s->cfg.max_size, b->size + (size_t)TALC_REALLOC_UNLOCKED_COPY)
                : b->size / 2;
    if (n > b->size && shadow_over_cap(s))
        n = b->size;
    if (n == 0) /* realloc(p, 0) is the kind == 1 case */
        n = 1;
    size_t old_live = s->live_bytes;
    size_t usable = sh_usable(s, b->ptr);
    shadow_set_oom_expect(s, n, s->quantum);
    unsigned char *q = sh_realloc(s, b->ptr, n);
    s->in_alloc = false;
    if (!q) {
        s->failed++;
        TRY(shadow_verify_block_prefix(s, b, b->len, "failed realloc must leave the block"));
        if (n <= b->size)
            FAIL("realloc(%p, %zu) shrinking from %zu returned NULL", (void *)b->ptr, n, b->size);
        return shadow_check_no_fit(s, n, s->quantum);
    }
    bool moved = q != b->ptr;
    if (!moved && addr(q) % b->align)
        FAIL("in-place realloc lost alignment");
    if (moved && n <= b->size && !shrink_may_move(s, b, usable, n, q))
        FAIL("realloc(%p, %zu) shrinking from %zu moved the block to %p", (void *)b->ptr, n,
             b->size, (void *)q);
    if (moved && addr(q) % s->quantum)
        FAIL("moved block %p not aligned to %zu", (void *)q, s->quantum);
    if (moved) {
        /* "a moving realloc counts one" allocation, of n requested bytes. */
        s->last_realloc_moved = true;
        s->total_allocs++;
        s->total_bytes += n;
        b->align = s->quantum;
        /* The peak may include the old and the new block together for a moment. */
        s->peak_loose = true;
        s->peak_alt = max_sz(s->peak, old_live + n);
    } else if (n > b->size) {
        s->total_bytes += n - b->size;
    }
    TRY(after_resize(s, b, q, n));
    s->peak = max_sz(s->peak, s->live_bytes);
    return 0;
}

int shadow_op_resize(shadow_t *s, shadow_src_t *src)
{
    if (!s->nblocks)
        return 0;
    size_t i = shadow_pick_block(s, src);
    shadow_block_t *b = &s->blocks[i];
    size_t n = shadow_decode_size(s, src);
    if (n > b->size && shadow_over_cap(s))
        n = b->size / 2;
    size_t eff = n ? n : 1; /* size 0 is treated as 1 */
    size_t usable_before = sh_usable(s, b->ptr);
    talc_heap_counters_t before;
    sh_counters(s, &before);
    bool ok = sh_resize(s, b->ptr, n);
    if (!ok) {
        if (eff <= usable_before)
            FAIL("resize_in_place(%p, %zu) failed although usable size is %zu", (void *)b->ptr, n,
                 usable_before);
        talc_heap_counters_t after;
        sh_counters(s, &after);
        if (before.live_bytes != after.live_bytes || before.total_bytes != after.total_bytes ||
            before.free_bytes != after.free_bytes || before.free_chunks != after.free_chunks ||
            before.failed_allocs != after.failed_allocs ||
            before.peak_live_bytes != after.peak_live_bytes)
            FAIL("failed resize_in_place changed the counters");
        if (sh_usable(s, b->ptr) != usable_before)
            FAIL("failed resize_in_place changed the usable size");
        return shadow_verify_block_prefix(s, b, b->len,
                                          "failed resize_in_place must leave the block");
    }
    if (eff > b->size)
        s->total_bytes += eff - b->size;
    TRY(after_resize(s, b, b->ptr, eff));
    s->peak = max_sz(s->peak, s->live_bytes);
    return 0;
}
