/* tests/common/shadow_op_refuse.c — what the heap must refuse or survive. Invalid requests
 * (absurd sizes, alignments that are not powers of two or that no buffer can hold) fail
 * cleanly; bad pointers (with cfg.bad_pointers: a block freed just now, a misaligned pointer)
 * report exactly one fault and change nothing; one corrupted byte of the heap's own memory
 * (with cfg.corrupt) leaves talc_heap_check able to return, and ends the run.
 *
 * Who may use it: shadow_step.c. Concurrency: one model per thread.
 */
#include "shadow_internal.h"
#include "asan_poison.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sizes that can never be allocated: each must give NULL without wrapping. */
static const size_t absurd_sizes[] = {
    SIZE_MAX,
    SIZE_MAX - 1,
    SIZE_MAX - 4095,
    SIZE_MAX / 2,
    (size_t)PTRDIFF_MAX,
    (size_t)PTRDIFF_MAX + 1,
    (size_t)PTRDIFF_MAX - 64,
    SIZE_MAX - 2 * 4096 + 1,
};
#define N_ABSURD (sizeof absurd_sizes / sizeof absurd_sizes[0])

/* Does some span's buffer (which the span may grow to fill) hold a multiple of align? A huge
 * alignment is an impossible request only where none does: on a 32-bit target a buffer may
 * well straddle a 2^30 boundary. */
static bool align_reachable(const shadow_t *s, size_t align)
{
    for (size_t i = 0; i < s->nspans; i++) {
        uintptr_t lo = (uintptr_t)s->spans[i].buf, hi = lo + s->spans[i].buf_size;
        uintptr_t m = (lo + (align - 1)) & ~(uintptr_t)(align - 1); /* 0 if it wraps */
        if (m >= lo && m < hi)
            return true;
    }
    return false;
}

/* Requests that must fail: absurd sizes, invalid or impossible alignments. */
int shadow_op_invalid(shadow_t *s, shadow_src_t *src)
{
    unsigned c = (unsigned)take(src, 1) % 7;
    size_t n = absurd_sizes[take(src, 1) % N_ABSURD];
    static const size_t bad_align[] = {0, 3, 24, 48, 100, SIZE_MAX, SIZE_MAX - 1};
    /* Powers of two far above any test heap: 2^40, 2^63, 2^62 (64-bit); 2^30, 2^31 (32-bit). */
    static const size_t huge_align[] = {(SIZE_MAX >> (sizeof(size_t) == 8 ? 24 : 2)) + 1,
                                        SIZE_MAX / 2 + 1, SIZE_MAX / 4 + 1};
    if (c == 2 || c == 3)
        n = (size_t)take(src, 1);
    size_t align = c == 1   ? (size_t)1 << (take(src, 1) % 13)
                   : c == 2 ? bad_align[take(src, 1) % 7]
                   : c == 3 ? huge_align[take(src, 1) % 3]
                            : s->quantum;
    if (((c == 5 || c == 6) && !s->nblocks) || (c == 3 && align_reachable(s, align)))
        return 0;
    shadow_block_t *b = (c == 5 || c == 6) ? &s->blocks[shadow_pick_block(s, src)] : NULL;
    shadow_set_oom_expect(s, n, align);
    void *p = NULL;
    bool resized = false;
    switch (c) {
    case 0:
        p = sh_alloc(s, n);
        break;
    case 1:
    case 2:
    case 3:
        p = sh_alloc_aligned(s, n, align);
        break;
    case 4:
        p = sh_realloc(s, NULL, n);
        break;
    case 5:
        p = sh_realloc(s, b->ptr, n);
        break;
    default:
        resized = sh_resize(s, b->ptr, n);
        break;
    }
    s->in_alloc = false;
    if (p || resized)
        FAIL("invalid request (case %u, size %zu, align %zu) succeeded (%p)", c, n, align, p);
    if (c != 6)
        s->failed++;
    if (b)
        return shadow_verify_block_prefix(s, b, b->len, "a failed resize must leave the block");
    return 0;
}

/* The call of a bad-pointer step reported exactly one fault: `kind`, about p, naming the
 * heap. Consumes it (shadow_verify fails on any other). */
static int expect_fault(shadow_t *s, talc_fault_t kind, const void *p, const char *call)
{
    const talc_fault_info_t *f = &s->last_fault;
    if (s->faults != 1 || f->fault != kind || f->address != p || !f->heap_name ||
        strcmp(f->heap_name, "shadow") != 0)
        FAIL("%s(%p): %u faults, the last %d about %p in heap %s; want one, %d about %p", call, p,
             s->faults, (int)f->fault, f->address, f->heap_name ? f->heap_name : "(null)",
             (int)kind, p);
    s->faults = 0;
    return 0;
}

static int same_counters(shadow_t *s, const talc_heap_counters_t *a, const char *call)
{
    talc_heap_counters_t b;
    sh_counters(s, &b);
    /* Field by field: on 32-bit targets the struct has padding. */
    if (a->live_allocs != b.live_allocs || a->total_allocs != b.total_allocs ||
        a->live_bytes != b.live_bytes || a->total_bytes != b.total_bytes ||
        a->peak_live_bytes != b.peak_live_bytes || a->free_bytes != b.free_bytes ||
        a->free_chunks != b.free_chunks || a->live_spans != b.live_spans ||
        a->total_spans != b.total_spans || a->managed_bytes != b.managed_bytes ||
        a->total_managed != b.total_managed || a->failed_allocs != b.failed_allocs)
        FAIL("%s of a bad pointer changed the counters", call);
    return 0;
}

/* A pointer the heap must refuse (talc/heap.h): a block freed just now (DOUBLE_FREE), or a
 * live block's address plus 1..TALC_MIN_ALIGN-1 (BAD_POINTER), passed to free, usable_size,
 * realloc or resize_in_place. Each reports one fault and changes nothing; the live block's
 * contents are checked by the verification after the step. */
int shadow_op_bad_pointer(shadow_t *s, shadow_src_t *src)
{
    if (!s->nblocks)
        return 0;
    unsigned c = (unsigned)take(src, 1) % 8;
    size_t i = shadow_pick_block(s, src);
    unsigned char *p = s->blocks[i].ptr;
    talc_fault_t kind = TALC_FAULT_BAD_POINTER;
    if (c >= 4) {
        sh_free(s, p);
        model_remove_block(s, i);
        kind = TALC_FAULT_DOUBLE_FREE;
    } else {
        p += 1 + take(src, 1) % (TALC_MIN_ALIGN - 1);
    }
    size_t n = shadow_decode_size(s, src);
    talc_heap_counters_t before;
    sh_counters(s, &before);
    static const char *const call[4] = {"free", "usable_size", "realloc", "resize_in_place"};
    switch (c % 4) {
    case 0:
        sh_free(s, p);
        break;
    case 1:
        if (sh_usable(s, p) != 0)
            FAIL("usable_size(%p) of a bad pointer is not 0", (void *)p);
        break;
    case 2:
        if (sh_realloc(s, p, n) != NULL)
            FAIL("realloc(%p, %zu) of a bad pointer returned a block", (void *)p, n);
        break;
    default:
        if (sh_resize(s, p, n))
            FAIL("resize_in_place(%p, %zu) of a bad pointer succeeded", (void *)p, n);
        break;
    }
    TRY(expect_fault(s, kind, p, call[c % 4]));
    return same_counters(s, &before, call[c % 4]);
}

/* One byte of the heap's chunk memory changed, as a stray write would: a chunk header (8
 * bytes in front of each block, docs/heap.md "Chunks"), a free chunk (header, links, footer,
 * unused bytes) or a span's fence (its last 8 bytes). talc_heap_check must then return without
 * a fault or a crash, reading nothing outside the spans (AddressSanitizer). Whether it reports
 * the change is logged, not required (bytes nothing reads, such as a free chunk's unused
 * bytes, cannot be told). The heap is not used again. */
int shadow_op_corrupt(shadow_t *s, shadow_src_t *src)
{
    TRY(shadow_walk(s));
    if (!s->nspans)
        return 0;
    size_t pick = (size_t)take(src, 2) % (s->walk_n + s->nspans);
    unsigned char *lo, *hi;
    if (pick < s->walk_n) {
        const shadow_walk_rec_t *w = &s->walk[pick];
        lo = w->ptr - SHADOW_HDR;
        hi = w->used ? w->ptr : w->ptr + w->size;
    } else {
        hi = s->spans[pick - s->walk_n].end;
        lo = hi - SHADOW_HDR;
    }
    unsigned char *p = lo + (size_t)take(src, 4) % (size_t)(hi - lo);
    unsigned char x = (unsigned char)(1 + take(src, 1) % 255);
    stray_xor(p, x);
    s->corrupted = true;
    bool taken = sh_hold(s);
    const void *where = NULL;
    int rc = talc_heap_check(s->heap, &where);
    sh_unhold(s, taken);
    if (s->faults)
        FAIL("talc_heap_check called the fatal handler (fault %d)", (int)s->last_fault.fault);
    if (getenv("SHADOW_CORRUPT_LOG")) /* detection figures: tests/fuzz/README.md */
        fprintf(stderr, "corrupt %s byte %zu of %zu: xor %02x, line %zu: check %d\n",
                pick >= s->walk_n    ? "fence"
                : s->walk[pick].used ? "used"
                                     : "free",
                (size_t)(p - lo), (size_t)(hi - lo), x, s->cfg.cache_line, rc);
    return 0;
}
