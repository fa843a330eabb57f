/* tests/common/shadow_op_span.c — the shadow model's span operations: claim a caller buffer
 * from the pool, extend a span into the room above it, truncate it, release it, and free every
 * block of one span. Each checks the heap's answer against talc/heap.h and hands the bytes
 * that change owner to the heap or back to the caller (poisoned under AddressSanitizer).
 *
 * Who may use it: shadow_step.c. Concurrency: one model per thread.
 */
#include "shadow_internal.h"

#include <errno.h>

/* ---- Span operations ----------------------------------------------------------------------*/

int shadow_op_claim(shadow_t *s, shadow_src_t *src)
{
    unsigned c = (unsigned)take(src, 1);
    size_t off = (size_t)take(src, 1) % 64;
    size_t min = sh_span_min(s);
    size_t size;
    if (c < 64)
        size = (size_t)take(src, 2) % (2 * min + 1); /* around the minimum */
    else
        size = 4096 + (size_t)take(src, 4) % (256 * 1024);
    size_t room = (c & 1) ? (size_t)take(src, 2) * 4 : 0; /* left free above for extend */
    size = min_sz(size, s->cfg.slot_size - off);
    room = min_sz(room, s->cfg.slot_size - off - size);
    if (s->nspans >= SHADOW_MAX_SPANS)
        return 0;
    int slot = shadow_slot_get(s);
    if (slot < 0)
        return 0;
    talc_span_t *span;
    return model_claim(s, slot, shadow_slot_buf(s, slot), off + size + room, off, size, &span);
}

int shadow_op_extend(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    shadow_span_t *sp = &s->spans[shadow_pick_span(s, src)];
    unsigned char *limit = sp->buf + sp->buf_size;
    unsigned c = (unsigned)take(src, 1);
    unsigned char *target;
    if (c < 16) /* below or at the current end: nothing may change */
        target = sp->end - min_sz((size_t)take(src, 1), (size_t)(sp->end - sp->base));
    else if (c < 48) /* a little above: perhaps not enough for a chunk */
        target = sp->end + min_sz((size_t)take(src, 1) % 80, (size_t)(limit - sp->end));
    else
        target = sp->end + (size_t)(take(src, 4) % ((size_t)(limit - sp->end) + 1));
    unsigned char *old = sp->end;
    uint64_t gen_managed = s->total_managed;
    if (addr(target) > addr(old))
        shadow_heap_owns(old, (size_t)(target - old));
    unsigned char *r = talc_span_extend(s->heap, sp->span, target);
    if (addr(target) > addr(r) && addr(r) >= addr(old))
        shadow_caller_owns(r, (size_t)(target - r));
    if (addr(target) <= addr(old) && r != old)
        FAIL("extend to %p (<= end %p) returned %p", (void *)target, (void *)old, (void *)r);
    if (addr(r) < addr(old) || addr(r) > max_sz(addr(target), addr(old)))
        FAIL("extend from %p to %p returned %p", (void *)old, (void *)target, (void *)r);
    size_t slack = 2 * s->quantum + 64; /* a chunk of the heap's grain surely fits in this */
    if (addr(target) > addr(old) && (size_t)(target - old) >= 2 * slack && r == old)
        FAIL("extend from %p to %p (+%zu) did not grow", (void *)old, (void *)target,
             (size_t)(target - old));
    if (addr(target) > addr(old) && r != old && (size_t)(target - r) >= slack)
        FAIL("extend to %p stopped at %p, too far below", (void *)target, (void *)r);
    sp->end = r;
    s->total_managed = gen_managed + (uint64_t)(r - old);
    return 0;
}

int shadow_op_truncate(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    shadow_span_t *sp = &s->spans[shadow_pick_span(s, src)];
    talc_span_info_t info;
    sh_span_info(s, sp->span, &info);
    unsigned c = (unsigned)take(src, 1);
    unsigned char *target = NULL;
    if (c >= 80)
        target = sp->base + (size_t)(take(src, 4) % ((size_t)(sp->end - sp->base) + 65));
    unsigned char *old = sp->end;
    unsigned char *r = talc_span_truncate(s->heap, sp->span, target);
    unsigned char *reserved = info.reserved;
    if (addr(r) > addr(old) || addr(r) < addr(reserved))
        FAIL("truncate(%p) of [%p, %p) reserved %p returned %p", (void *)target, (void *)sp->base,
             (void *)old, (void *)reserved, (void *)r);
    if (!target && r != reserved)
        FAIL("truncate(NULL) returned %p, not the reserved end %p", (void *)r, (void *)reserved);
    if (target && addr(target) >= addr(old) && r != old)
        FAIL("truncate to %p above the end %p moved it to %p", (void *)target, (void *)old,
             (void *)r);
    size_t slack = 2 * s->quantum + 64;
    if (target && addr(r) > max_sz(addr(target), addr(reserved)) + slack && r != old)
        FAIL("truncate to %p stopped at %p", (void *)target, (void *)r);
    for (size_t i = 0; i < s->nblocks; i++) {
        shadow_block_t *b = &s->blocks[i];
        if (addr(b->ptr) >= addr(sp->base) && addr(b->ptr) < addr(old) &&
            addr(b->ptr) + b->len > addr(r))
            FAIL("truncate to %p cut block %p (+%zu)", (void *)r, (void *)b->ptr, b->len);
    }
    sp->end = r;
    /* [r, old) is the caller's again. */
    shadow_caller_owns(r, (size_t)(old - r));
    return 0;
}

int shadow_op_release(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    size_t i = shadow_pick_span(s, src);
    shadow_span_t *sp = &s->spans[i];
    size_t live = shadow_span_blocks(s, sp);
    int rc = talc_span_release(s->heap, sp->span);
    if (live && rc != -EBUSY)
        FAIL("release of a span with %zu live blocks returned %d, not -EBUSY", live, rc);
    if (!live && rc != 0)
        FAIL("release of an empty span returned %d", rc);
    if (rc == 0)
        model_drop_span(s, i);
    return 0;
}

int shadow_op_free_span(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    shadow_span_t *sp = &s->spans[shadow_pick_span(s, src)];
    for (size_t i = s->nblocks; i-- > 0;) {
        if (addr(s->blocks[i].ptr) >= addr(sp->base) && addr(s->blocks[i].ptr) < addr(sp->end)) {
            sh_free(s, s->blocks[i].ptr);
            model_remove_block(s, i);
        }
    }
    return 0;
}
