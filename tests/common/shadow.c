/* tests/common/shadow.c — the shadow model and operation language behind shadow.h.
 *
 * Operations (weights in op_weight): alloc, aligned alloc, free, realloc, resize in place,
 * claim, extend, truncate, release, free every block of a span, invalid requests, (with
 * cfg.bad_pointers) bad pointers and (with cfg.corrupt) one changed byte of the heap's own
 * memory, which ends the run. Each is decoded from the byte source, run against the heap,
 * its result checked against the contract in talc/heap.h (talc/heap_locked.h in the locked
 * form), and the model updated; shadow_step then runs shadow_verify. A NULL from an
 * allocation must mean that no free chunk holds the chunk size the request needs; 1 size in 32
 * is drawn just below the largest free chunk's, to probe that.
 *
 * Who may use it: test code only. Concurrency: one model per thread; the heap is not shared.
 */
#include "shadow.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

#define SCRIBBLE 0xEE /* what the model writes into memory the heap gave back */

/* ---- Errors -------------------------------------------------------------------------------*/

static int shadow_fail(shadow_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int shadow_fail(shadow_t *s, const char *fmt, ...)
{
    int n = snprintf(s->err, sizeof s->err, "step %llu (%s): ", (unsigned long long)s->steps,
                     s->last_op ? s->last_op : "-");
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof s->err)
        vsnprintf(s->err + n, sizeof s->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

#define FAIL(...) return shadow_fail(s, __VA_ARGS__)
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        if ((expr) != 0)                                                                           \
            return -1;                                                                             \
    } while (0)

/* ---- Small helpers ------------------------------------------------------------------------*/

static uintptr_t addr(const void *p) { return (uintptr_t)p; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

static uint64_t take(shadow_src_t *src, unsigned n) { return src->take(src->ctx, n); }

/* ---- Who owns which byte (AddressSanitizer poisoning) -------------------------------------*/

#include "asan_poison.h"

/* [p, p+n) belongs to the caller (the model): scribble over it and forbid the heap to touch it. */
static void caller_owns(void *p, size_t n)
{
    if (!n)
        return;
    UNPOISON(p, n);
    memset(p, SCRIBBLE, n);
    POISON(p, n);
}

/* [p, p+n) is handed to the heap. */
static void heap_owns(void *p, size_t n)
{
    if (n)
        UNPOISON(p, n);
}

#define POOL_ALIGN ((size_t)2 << 20)

static int slot_get(shadow_t *s)
{
    for (int i = 0; i < SHADOW_MAX_SPANS; i++)
        if (!s->slot_used[i]) {
            s->slot_used[i] = true;
            return i;
        }
    return -1;
}

static unsigned char *slot_buf(shadow_t *s, int i)
{
    return s->pool + (size_t)i * s->cfg.slot_size;
}

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

/* ---- The heap's two forms -----------------------------------------------------------------*/

/* In the locked form a call that has a talc_locked_* twin goes through it, unless the lock is
 * held already (an OOM hook, or a step that holds it): then the inner heap is called directly.
 * A call without a twin takes the lock around itself unless it is held. */
static bool twin_form(const shadow_t *s) { return s->lh && s->lock_depth == 0; }

static void model_lock(void *ctx)
{
    shadow_t *s = ctx;
    s->locks++;
    if (s->lock_depth++ != 0)
        s->lock_misuse = true; /* taken while held: a real lock would deadlock here */
}

static void model_unlock(void *ctx)
{
    shadow_t *s = ctx;
    s->unlocks++;
    if (s->lock_depth == 0)
        s->lock_misuse = true;
    else
        s->lock_depth--;
}

/* Hold the lock for the caller's next calls; returns whether it was taken here. */
static bool hold(shadow_t *s)
{
    if (!twin_form(s))
        return false;
    (void)talc_locked_acquire(s->lh);
    return true;
}

static void unhold(shadow_t *s, bool taken)
{
    if (taken)
        talc_locked_release(s->lh);
}

static void *sh_alloc(shadow_t *s, size_t n)
{
    return twin_form(s) ? talc_locked_alloc(s->lh, n) : talc_heap_alloc(s->heap, n);
}

static void *sh_alloc_aligned(shadow_t *s, size_t n, size_t align)
{
    return twin_form(s) ? talc_locked_alloc_aligned(s->lh, n, align)
                        : talc_heap_alloc_aligned(s->heap, n, align);
}

static void sh_free(shadow_t *s, void *p)
{
    if (twin_form(s))
        talc_locked_free(s->lh, p);
    else
        talc_heap_free(s->heap, p);
}

static void *sh_realloc(shadow_t *s, void *p, size_t n)
{
    return twin_form(s) ? talc_locked_realloc(s->lh, p, n) : talc_heap_realloc(s->heap, p, n);
}

static size_t sh_usable(shadow_t *s, const void *p)
{
    return twin_form(s) ? talc_locked_usable_size(s->lh, p) : talc_heap_usable_size(s->heap, p);
}

static talc_span_t *sh_claim(shadow_t *s, void *base, size_t n)
{
    return twin_form(s) ? talc_locked_claim(s->lh, base, n) : talc_heap_claim(s->heap, base, n);
}

static void sh_counters(shadow_t *s, talc_heap_counters_t *c)
{
    if (twin_form(s))
        talc_locked_counters(s->lh, c);
    else
        talc_heap_counters(s->heap, c);
}

static bool sh_resize(shadow_t *s, void *p, size_t n)
{
    bool taken = hold(s);
    bool ok = talc_heap_resize_in_place(s->heap, p, n);
    unhold(s, taken);
    return ok;
}

static void sh_span_info(shadow_t *s, talc_span_t *span, talc_span_info_t *info)
{
    bool taken = hold(s);
    talc_span_get_info(s->heap, span, info);
    unhold(s, taken);
}

static size_t sh_span_min(shadow_t *s)
{
    bool taken = hold(s);
    size_t n = talc_span_min_size(s->heap);
    unhold(s, taken);
    return n;
}

/* ---- Fatal handler and OOM hook -----------------------------------------------------------*/

static void shadow_fatal(const talc_fault_info_t *info, void *ctx)
{
    shadow_t *s = ctx;
    s->faults++;
    s->last_fault = *info;
}

static int model_claim(shadow_t *s, int slot, unsigned char *buf, size_t buf_size, size_t off,
                       size_t size, talc_span_t **out);

static talc_oom_verdict_t shadow_oom(talc_heap_t *heap, size_t size, size_t align, void *ctx)
{
    shadow_t *s = ctx;
    s->oom_calls++;
    if (heap != s->heap || !s->in_alloc || size != s->oom_want_size ||
        (align != s->oom_want_align && align != max_sz(s->oom_want_align, s->quantum)))
        s->oom_bad_args = true;
    if (s->nspans >= SHADOW_MAX_SPANS || !s->src || take(s->src, 1) % 4 == 0)
        return TALC_OOM_FAIL;
    size_t need = size + align + talc_span_min_size(heap) + 4 * max_sz(align, s->quantum) + 256;
    if (size > s->cfg.slot_size || need > s->cfg.slot_size)
        return TALC_OOM_FAIL;
    int slot = slot_get(s);
    if (slot < 0)
        return TALC_OOM_FAIL;
    talc_span_t *span = NULL;
    if (model_claim(s, slot, slot_buf(s, slot), need, 0, need, &span) != 0 || !span) {
        s->oom_bad_args = true; /* a claim of >= min size failed: recorded by model_claim */
        return TALC_OOM_FAIL;
    }
    return TALC_OOM_RETRY;
}

/* ---- Spans in the model -------------------------------------------------------------------*/

static shadow_span_t *span_of_addr(shadow_t *s, const void *p)
{
    for (size_t i = 0; i < s->nspans; i++)
        if (addr(p) >= addr(s->spans[i].base) && addr(p) < addr(s->spans[i].end))
            return &s->spans[i];
    return NULL;
}

static size_t span_blocks(shadow_t *s, const shadow_span_t *sp)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nblocks; i++)
        if (addr(s->blocks[i].ptr) >= addr(sp->base) && addr(s->blocks[i].ptr) < addr(sp->end))
            n++;
    return n;
}

#if TALC_COUNTERS /* used only where counters exist */
static size_t expected_managed(const shadow_t *s)
{
    size_t m = 0;
    for (size_t i = 0; i < s->nspans; i++)
        m += (size_t)(s->spans[i].end - s->spans[i].base);
    return m;
}
#endif

/* Claim [buf+off, buf+off+size) of pool slot `slot` (buf_size bytes used) and record the
 * span. *out is NULL if the heap refused; the slot is then free again. */
static int model_claim(shadow_t *s, int slot, unsigned char *buf, size_t buf_size, size_t off,
                       size_t size, talc_span_t **out)
{
    size_t min = sh_span_min(s);
    caller_owns(buf, s->cfg.slot_size);
    heap_owns(buf + off, size);
    talc_span_t *span = sh_claim(s, buf + off, size);
    *out = span;
    if (!span) {
        caller_owns(buf + off, size);
        s->slot_used[slot] = false;
        if (size >= min)
            FAIL("claim(%p, %zu) failed although size >= talc_span_min_size() = %zu",
                 (void *)(buf + off), size, min);
        return 0;
    }
    talc_span_info_t info;
    sh_span_info(s, span, &info);
    if (info.base != buf + off || addr(info.end) > addr(buf + off + size) ||
        addr(info.end) <= addr(info.base) || !info.empty)
        FAIL("claim(%p, %zu): info base %p end %p empty %d", (void *)(buf + off), size, info.base,
             info.end, info.empty);
    caller_owns(info.end, (size_t)(buf + off + size - (unsigned char *)info.end));
    shadow_span_t *sp = &s->spans[s->nspans++];
    *sp = (shadow_span_t){span, buf, buf_size, slot, buf + off, info.end};
    s->total_spans++;
    s->total_managed += (uint64_t)(sp->end - sp->base);
    return 0;
}

static void model_drop_span(shadow_t *s, size_t i)
{
    shadow_span_t *sp = &s->spans[i];
    /* The whole range is the caller's again. */
    caller_owns(sp->base, (size_t)(sp->buf + sp->buf_size - sp->base));
    if (sp->slot >= 0)
        s->slot_used[sp->slot] = false;
    memmove(&s->spans[i], &s->spans[i + 1], (s->nspans - i - 1) * sizeof s->spans[0]);
    s->nspans--;
}

/* ---- Blocks in the model ------------------------------------------------------------------*/

static size_t block_quantum(const shadow_t *s, size_t align) { return max_sz(s->quantum, align); }

static int model_add_block(shadow_t *s, void *p, size_t size, size_t align)
{
    if (addr(p) % block_quantum(s, align))
        FAIL("pointer %p not aligned to %zu", p, block_quantum(s, align));
    if (s->nblocks >= s->cfg.max_blocks)
        FAIL("model block table full");
    size_t usable = sh_usable(s, p);
    if (usable < size)
        FAIL("usable_size(%p) = %zu < requested %zu", p, usable, size);
    shadow_block_t *b = &s->blocks[s->nblocks++];
    *b = (shadow_block_t){p, size, block_quantum(s, align), usable, s->next_seed++};
    test_pattern_fill(p, usable, b->seed);
    s->live_bytes += size;
    s->total_allocs++;
    s->total_bytes += size;
    s->peak = max_sz(s->peak, s->live_bytes);
    return 0;
}

static void model_remove_block(shadow_t *s, size_t i)
{
    s->live_bytes -= s->blocks[i].size;
    s->blocks[i] = s->blocks[--s->nblocks];
}

/* Largest usable size of a free chunk (from a walk). */
static bool walk_collect(const talc_span_t *span, void *ptr, size_t size, bool used, void *ctx)
{
    shadow_t *s = ctx;
    if (s->walk_n >= s->walk_cap) {
        s->walk_overflow = true;
        return false;
    }
    s->walk[s->walk_n++] = (shadow_walk_rec_t){span, ptr, size, used};
    return true;
}

static int do_walk(shadow_t *s)
{
    s->walk_n = 0;
    s->walk_overflow = false;
    bool taken = hold(s);
    bool done = talc_heap_walk(s->heap, walk_collect, s);
    unhold(s, taken);
    if (s->walk_overflow)
        FAIL("walk visited more than %zu chunks", s->walk_cap);
    if (!done)
        FAIL("talc_heap_walk returned false although the visitor never stopped it");
    return 0;
}

static size_t largest_free(shadow_t *s)
{
    size_t m = 0;
    if (do_walk(s) != 0)
        return SIZE_MAX;
    for (size_t i = 0; i < s->walk_n; i++)
        if (!s->walk[i].used)
            m = max_sz(m, s->walk[i].size);
    return m;
}

/* The chunk sizes of docs/heap.md: an 8-byte header on every target ("Chunks": usable_size is
 * size - 8), a minimum chunk of header, two links and footer rounded up to the quantum, and
 * S = max(min_chunk, round_up(n + 8, q)) for a request of n bytes ("Bins and the fit policy"). */
#define SHADOW_HDR ((size_t)8)

static size_t min_chunk(const shadow_t *s)
{
    return (2 * SHADOW_HDR + 2 * sizeof(void *) + s->quantum - 1) & ~(s->quantum - 1);
}

static size_t req_chunk(const shadow_t *s, size_t n)
{
    return max_sz(min_chunk(s), (n + SHADOW_HDR + s->quantum - 1) & ~(s->quantum - 1));
}

/* An allocation of (size, align) returned NULL: that is only allowed if no free chunk could
 * have held it ("NULL iff no fit exists"). Exact at the quantum: the fit (docs/heap.md, "Bins
 * and the fit policy") finds any free chunk of S bytes. Above it, a chunk of S + align +
 * min_chunk fits wherever it lies and must be found ("Aligned allocation", steps 1-2); a
 * smaller one fits only if its address suits, which the bounded near-OOM scan may not try. */
static int check_no_fit(shadow_t *s, size_t size, size_t align)
{
    if (size > SIZE_MAX / 4)
        return 0;
    size_t need = req_chunk(s, size);
    if (align > s->quantum)
        need += align + min_chunk(s);
    size_t big = largest_free(s);
    if (big == SIZE_MAX)
        return -1;
    if (big + SHADOW_HDR >= need)
        FAIL("allocation of %zu (align %zu, a chunk of %zu) returned NULL while a free chunk "
             "of %zu usable bytes exists",
             size, align, need, big);
    return 0;
}

/* ---- Decoding -----------------------------------------------------------------------------*/

/* Up to 63 bytes less than the largest free chunk holds: it fits there, often nowhere else,
 * and when that chunk shares the top non-empty bin with a smaller one listed before it, only
 * the first-fit scan of the bin below the ceiling bin finds it (docs/heap.md, "Bins and the
 * fit policy", step 4). */
static size_t near_fit_size(shadow_t *s, shadow_src_t *src)
{
    size_t d = (size_t)take(src, 1) % 64;
    size_t big = largest_free(s);
    return big == SIZE_MAX || big < d ? d : big - d;
}

static size_t decode_size(shadow_t *s, shadow_src_t *src)
{
    unsigned c = (unsigned)take(src, 1);
    size_t n;
    if (c >= 248)
        n = near_fit_size(s, src);
    else if (c < 140)
        n = (size_t)take(src, 1);
    else if (c < 200)
        n = (size_t)take(src, 2) % 2048;
    else if (c < 235)
        n = (size_t)take(src, 2) % 16384;
    else if (c < 244)
        n = (size_t)take(src, 4) % (s->cfg.max_size / 4 + 1);
    else
        n = (size_t)take(src, 4) % (s->cfg.max_size + 1);
    return min_sz(n, s->cfg.max_size);
}

/* A valid alignment (power of two up to 8 KiB, rarely 64 KiB or 1 MiB). */
static size_t decode_align(shadow_src_t *src)
{
    unsigned k = (unsigned)take(src, 1);
    if (k >= 250)
        return (size_t)1 << (k == 255 ? 20 : 16);
    return (size_t)1 << (k % 14);
}

/* ---- Operations ---------------------------------------------------------------------------*/

enum shadow_op {
    OP_ALLOC,
    OP_ALIGNED,
    OP_FREE,
    OP_REALLOC,
    OP_RESIZE,
    OP_CLAIM,
    OP_EXTEND,
    OP_TRUNCATE,
    OP_RELEASE,
    OP_FREE_SPAN,
    OP_INVALID,
    OP_BAD_POINTER, /* only with cfg.bad_pointers (weight 0 otherwise: inputs decode as before) */
    OP_CORRUPT,     /* only with cfg.corrupt; ends the run */
    OP_COUNT
};

static const unsigned char op_weight[OP_COUNT] = {30, 8, 28, 12, 6, 2, 4, 4, 2, 1, 2, 2, 1};
static const char *const op_name[OP_COUNT] = {
    "alloc",    "alloc_aligned", "free",      "realloc", "resize_in_place", "claim",  "extend",
    "truncate", "release",       "free_span", "invalid", "bad_pointer",     "corrupt"};

static unsigned weight(const shadow_t *s, unsigned op)
{
    if ((op == OP_BAD_POINTER && !s->cfg.bad_pointers) || (op == OP_CORRUPT && !s->cfg.corrupt))
        return 0;
    return op_weight[op];
}

static bool over_cap(const shadow_t *s)
{
    return s->live_bytes > s->cfg.live_cap || s->nblocks + 1 >= s->cfg.max_blocks;
}

static void set_oom_expect(shadow_t *s, size_t size, size_t align)
{
    s->in_alloc = true;
    s->oom_want_size = size;
    s->oom_want_align = align;
}

static int op_alloc(shadow_t *s, shadow_src_t *src, bool aligned)
{
    size_t size = decode_size(s, src);
    size_t align = aligned ? decode_align(src) : s->quantum;
    uint64_t failed_before = s->failed;
    set_oom_expect(s, size, align);
    s->oom_calls = 0;
    void *p = aligned ? sh_alloc_aligned(s, size, align) : sh_alloc(s, size);
    s->in_alloc = false;
    if (s->oom_calls > TALC_OOM_MAX_RETRIES)
        FAIL("OOM hook called %u times for one allocation (max %d)", s->oom_calls,
             TALC_OOM_MAX_RETRIES);
    if (!p) {
        s->failed = failed_before + 1;
        return check_no_fit(s, size, align);
    }
    return model_add_block(s, p, size, align);
}

static size_t pick_block(shadow_t *s, shadow_src_t *src)
{
    return (size_t)(take(src, 2) % s->nblocks);
}

static int verify_block_prefix(shadow_t *s, const shadow_block_t *b, size_t n, const char *what)
{
    size_t bad = test_pattern_check(b->ptr, n, b->seed);
    if (bad != n)
        FAIL("%s: block %p (size %zu) differs at byte %zu of %zu", what, (void *)b->ptr, b->size,
             bad, n);
    return 0;
}

static int op_free(shadow_t *s, shadow_src_t *src)
{
    if (!s->nblocks) {
        sh_free(s, NULL); /* a no-op */
        return 0;
    }
    size_t i = pick_block(s, src);
    sh_free(s, s->blocks[i].ptr);
    model_remove_block(s, i);
    return 0;
}

/* After a successful resize of block b to n bytes at q: check the kept prefix, refill. */
static int after_resize(shadow_t *s, shadow_block_t *b, unsigned char *q, size_t n)
{
    size_t keep = min_sz(min_sz(b->size, n), b->len);
    b->ptr = q;
    if (verify_block_prefix(s, b, keep, "resize kept prefix") != 0)
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
static int op_realloc(shadow_t *s, shadow_src_t *src)
{
    unsigned kind = (unsigned)take(src, 1) % 16;
    if (kind == 0 && over_cap(s)) /* no room in the block table: resize a block instead */
        kind = 2;
    if (kind == 0 || !s->nblocks) { /* realloc(NULL, n) == alloc(n) */
        size_t size = decode_size(s, src);
        set_oom_expect(s, size, s->quantum);
        void *p = sh_realloc(s, NULL, size);
        s->in_alloc = false;
        if (!p) {
            s->failed++;
            return check_no_fit(s, size, s->quantum);
        }
        return model_add_block(s, p, size, s->quantum);
    }
    size_t i = kind == 15 && s->lh ? largest_block(s) : pick_block(s, src);
    shadow_block_t *b = &s->blocks[i];
    if (kind == 1) { /* realloc(p, 0) == free(p), returns NULL */
        if (sh_realloc(s, b->ptr, 0) != NULL)
            FAIL("realloc(%p, 0) did not return NULL", (void *)b->ptr);
        model_remove_block(s, i);
        return 0;
    }
    size_t n = decode_size(s, src);
    if (kind == 15 && s->lh) /* large enough to be copied outside the lock when it moves */
        n = b->size < s->cfg.max_size
                ? min_sz(s->cfg.max_size, b->size + (size_t)TALC_REALLOC_UNLOCKED_COPY)
                : b->size / 2;
    if (n > b->size && over_cap(s))
        n = b->size;
    if (n == 0) /* realloc(p, 0) is the kind == 1 case */
        n = 1;
    size_t old_live = s->live_bytes;
    size_t usable = sh_usable(s, b->ptr);
    set_oom_expect(s, n, s->quantum);
    unsigned char *q = sh_realloc(s, b->ptr, n);
    s->in_alloc = false;
    if (!q) {
        s->failed++;
        TRY(verify_block_prefix(s, b, b->len, "failed realloc must leave the block"));
        if (n <= b->size)
            FAIL("realloc(%p, %zu) shrinking from %zu returned NULL", (void *)b->ptr, n, b->size);
        return check_no_fit(s, n, s->quantum);
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

static int op_resize(shadow_t *s, shadow_src_t *src)
{
    if (!s->nblocks)
        return 0;
    size_t i = pick_block(s, src);
    shadow_block_t *b = &s->blocks[i];
    size_t n = decode_size(s, src);
    if (n > b->size && over_cap(s))
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
        return verify_block_prefix(s, b, b->len, "failed resize_in_place must leave the block");
    }
    if (eff > b->size)
        s->total_bytes += eff - b->size;
    TRY(after_resize(s, b, b->ptr, eff));
    s->peak = max_sz(s->peak, s->live_bytes);
    return 0;
}

static int op_claim(shadow_t *s, shadow_src_t *src)
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
    int slot = slot_get(s);
    if (slot < 0)
        return 0;
    talc_span_t *span;
    return model_claim(s, slot, slot_buf(s, slot), off + size + room, off, size, &span);
}

static size_t pick_span(shadow_t *s, shadow_src_t *src)
{
    return (size_t)(take(src, 1) % s->nspans);
}

static int op_extend(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    shadow_span_t *sp = &s->spans[pick_span(s, src)];
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
        heap_owns(old, (size_t)(target - old));
    unsigned char *r = talc_span_extend(s->heap, sp->span, target);
    if (addr(target) > addr(r) && addr(r) >= addr(old))
        caller_owns(r, (size_t)(target - r));
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

static int op_truncate(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    shadow_span_t *sp = &s->spans[pick_span(s, src)];
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
    caller_owns(r, (size_t)(old - r));
    return 0;
}

static int op_release(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    size_t i = pick_span(s, src);
    shadow_span_t *sp = &s->spans[i];
    size_t live = span_blocks(s, sp);
    int rc = talc_span_release(s->heap, sp->span);
    if (live && rc != -EBUSY)
        FAIL("release of a span with %zu live blocks returned %d, not -EBUSY", live, rc);
    if (!live && rc != 0)
        FAIL("release of an empty span returned %d", rc);
    if (rc == 0)
        model_drop_span(s, i);
    return 0;
}

static int op_free_span(shadow_t *s, shadow_src_t *src)
{
    if (!s->nspans)
        return 0;
    shadow_span_t *sp = &s->spans[pick_span(s, src)];
    for (size_t i = s->nblocks; i-- > 0;) {
        if (addr(s->blocks[i].ptr) >= addr(sp->base) && addr(s->blocks[i].ptr) < addr(sp->end)) {
            sh_free(s, s->blocks[i].ptr);
            model_remove_block(s, i);
        }
    }
    return 0;
}

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
static int op_invalid(shadow_t *s, shadow_src_t *src)
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
    shadow_block_t *b = (c == 5 || c == 6) ? &s->blocks[pick_block(s, src)] : NULL;
    set_oom_expect(s, n, align);
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
        return verify_block_prefix(s, b, b->len, "a failed resize must leave the block");
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
static int op_bad_pointer(shadow_t *s, shadow_src_t *src)
{
    if (!s->nblocks)
        return 0;
    unsigned c = (unsigned)take(src, 1) % 8;
    size_t i = pick_block(s, src);
    unsigned char *p = s->blocks[i].ptr;
    talc_fault_t kind = TALC_FAULT_BAD_POINTER;
    if (c >= 4) {
        sh_free(s, p);
        model_remove_block(s, i);
        kind = TALC_FAULT_DOUBLE_FREE;
    } else {
        p += 1 + take(src, 1) % (TALC_MIN_ALIGN - 1);
    }
    size_t n = decode_size(s, src);
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
static int op_corrupt(shadow_t *s, shadow_src_t *src)
{
    TRY(do_walk(s));
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
    *p ^= x;
    s->corrupted = true;
    bool taken = hold(s);
    const void *where = NULL;
    int rc = talc_heap_check(s->heap, &where);
    unhold(s, taken);
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

int shadow_step(shadow_t *s, shadow_src_t *src)
{
    unsigned total = 0;
    for (unsigned i = 0; i < OP_COUNT; i++)
        total += weight(s, i);
    unsigned r = (unsigned)(take(src, 1) % total);
    unsigned op = 0;
    while (r >= weight(s, op))
        r -= weight(s, op++);
    if ((op == OP_ALLOC || op == OP_ALIGNED) && over_cap(s))
        op = OP_FREE;
    s->steps++;
    s->last_op = op_name[op];
    s->src = src;
    s->peak_loose = false;
    s->last_realloc_moved = false;
    int rc;
    /* Span calls have no locked twin: the step holds the lock around them. */
    bool taken = (op == OP_EXTEND || op == OP_TRUNCATE || op == OP_RELEASE) && hold(s);
    switch (op) {
    case OP_ALLOC:
        rc = op_alloc(s, src, false);
        break;
    case OP_ALIGNED:
        rc = op_alloc(s, src, true);
        break;
    case OP_FREE:
        rc = op_free(s, src);
        break;
    case OP_REALLOC:
        rc = op_realloc(s, src);
        break;
    case OP_RESIZE:
        rc = op_resize(s, src);
        break;
    case OP_CLAIM:
        rc = op_claim(s, src);
        break;
    case OP_EXTEND:
        rc = op_extend(s, src);
        break;
    case OP_TRUNCATE:
        rc = op_truncate(s, src);
        break;
    case OP_RELEASE:
        rc = op_release(s, src);
        break;
    case OP_FREE_SPAN:
        rc = op_free_span(s, src);
        break;
    case OP_INVALID:
        rc = op_invalid(s, src);
        break;
    case OP_BAD_POINTER:
        rc = op_bad_pointer(s, src);
        break;
    default:
        rc = op_corrupt(s, src);
        break;
    }
    unhold(s, taken);
    if (rc != 0 || s->corrupted)
        return rc;
    return shadow_verify(s);
}

/* ---- Verification -------------------------------------------------------------------------*/

static int cmp_block(const void *a, const void *b)
{
    uintptr_t x = addr((*(const shadow_block_t *const *)a)->ptr);
    uintptr_t y = addr((*(const shadow_block_t *const *)b)->ptr);
    return x < y ? -1 : x > y;
}

#if TALC_COUNTERS /* used only by verify_walk */
static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}
#endif

static int verify_spans(shadow_t *s)
{
    size_t i = 0;
    for (talc_span_t *sp = talc_heap_next_span(s->heap, NULL); sp;
         sp = talc_heap_next_span(s->heap, sp), i++) {
        if (i >= s->nspans || sp != s->spans[i].span)
            FAIL("span #%zu is %p, the model expects %p", i, (void *)sp,
                 i < s->nspans ? (void *)s->spans[i].span : NULL);
        talc_span_info_t info;
        sh_span_info(s, sp, &info);
        const shadow_span_t *m = &s->spans[i];
        size_t live = span_blocks(s, m);
        if (info.base != m->base || info.end != m->end)
            FAIL("span #%zu: info [%p, %p), model [%p, %p)", i, info.base, info.end,
                 (void *)m->base, (void *)m->end);
        if (info.empty != (live == 0))
            FAIL("span #%zu: empty = %d with %zu live blocks", i, info.empty, live);
        if (addr(info.reserved) > addr(info.end) || addr(info.reserved) < addr(info.base))
            FAIL("span #%zu: reserved %p outside [%p, %p)", i, info.reserved, info.base, info.end);
        for (size_t k = 0; k < s->nblocks; k++) {
            const shadow_block_t *b = &s->blocks[k];
            if (addr(b->ptr) >= addr(m->base) && addr(b->ptr) < addr(m->end) &&
                addr(b->ptr) + b->size > addr(info.reserved))
                FAIL("span #%zu: reserved %p below block %p (+%zu)", i, info.reserved,
                     (void *)b->ptr, b->size);
        }
    }
    if (i != s->nspans)
        FAIL("heap lists %zu spans, the model %zu", i, s->nspans);
    return 0;
}

static int verify_blocks(shadow_t *s)
{
    /* A sorted view: the blocks themselves stay in insertion order (replayable picks). */
    for (size_t i = 0; i < s->nblocks; i++)
        s->order[i] = &s->blocks[i];
    qsort(s->order, s->nblocks, sizeof s->order[0], cmp_block);
    for (size_t i = 0; i < s->nblocks; i++) {
        const shadow_block_t *b = s->order[i];
        if (addr(b->ptr) % b->align)
            FAIL("block %p not aligned to %zu", (void *)b->ptr, b->align);
        size_t usable = sh_usable(s, b->ptr);
        if (usable < b->size || usable < b->len)
            FAIL("usable_size(%p) = %zu, requested %zu, filled %zu", (void *)b->ptr, usable,
                 b->size, b->len);
        const shadow_span_t *sp = span_of_addr(s, b->ptr);
        if (!sp || addr(b->ptr) + usable > addr(sp->end))
            FAIL("block %p (+%zu) is not inside a span", (void *)b->ptr, usable);
        if (i + 1 < s->nblocks) {
            const shadow_block_t *n = s->order[i + 1];
            if (addr(b->ptr) + usable > addr(n->ptr))
                FAIL("blocks overlap: %p (+%zu usable) and %p", (void *)b->ptr, usable,
                     (void *)n->ptr);
            size_t line = s->cfg.cache_line;
            if (line && (addr(b->ptr) + max_sz(b->size, 1) + line - 1) / line > addr(n->ptr) / line)
                FAIL("cache-aligned blocks %p (+%zu) and %p share a line of %zu", (void *)b->ptr,
                     b->size, (void *)n->ptr, line);
        }
        TRY(verify_block_prefix(s, b, b->len, "contents"));
    }
    return 0;
}

#if TALC_COUNTERS /* used only where counters exist */
static int verify_walk(shadow_t *s, const talc_heap_counters_t *c)
{
    TRY(do_walk(s));
    size_t used = 0, free_n = 0, free_usable = 0;
    uintptr_t *ptrs = malloc((s->walk_n + 1) * sizeof *ptrs);
    if (!ptrs)
        FAIL("out of memory in the test");
    for (size_t i = 0; i < s->walk_n; i++) {
        const shadow_walk_rec_t *w = &s->walk[i];
        const shadow_span_t *sp = span_of_addr(s, w->ptr);
        if (!sp || sp->span != w->span || addr(w->ptr) + w->size > addr(sp->end)) {
            free(ptrs);
            FAIL("walk chunk %p (+%zu) is not inside its span", (void *)w->ptr, w->size);
        }
        if (i > 0 && s->walk[i - 1].span == w->span &&
            addr(s->walk[i - 1].ptr) + s->walk[i - 1].size > addr(w->ptr)) {
            free(ptrs);
            FAIL("walk chunks out of order or overlapping at %p", (void *)w->ptr);
        }
        if (w->used) {
            ptrs[used++] = addr(w->ptr);
            size_t u = sh_usable(s, w->ptr);
            if (u != w->size) {
                free(ptrs);
                FAIL("walk size %zu != usable_size %zu at %p", w->size, u, (void *)w->ptr);
            }
        } else {
            free_n++;
            free_usable += w->size;
        }
    }
    if (used != s->nblocks) {
        free(ptrs);
        FAIL("walk found %zu allocated chunks, the model has %zu blocks", used, s->nblocks);
    }
    qsort(ptrs, used, sizeof *ptrs, cmp_ptr);
    for (size_t i = 0; i < used; i++) {
        if (ptrs[i] != addr(s->order[i]->ptr)) {
            uintptr_t w = ptrs[i];
            free(ptrs);
            FAIL("walk's allocated chunk %p is not the model's block %p", (void *)w,
                 (void *)s->order[i]->ptr);
        }
    }
    free(ptrs);
    if (c->free_chunks != free_n || c->free_bytes < free_usable ||
        c->free_bytes > free_usable + free_n * (2 * s->quantum + 64))
        FAIL("free counters %zu bytes / %zu chunks, walk %zu usable / %zu chunks", c->free_bytes,
             c->free_chunks, free_usable, free_n);
    return 0;
}
#endif

#define CHECK_EQ(field, want)                                                                      \
    do {                                                                                           \
        if ((uint64_t)c.field != (uint64_t)(want))                                                 \
            FAIL("counter " #field " = %llu, model %llu%s", (unsigned long long)c.field,           \
                 (unsigned long long)(want),                                                       \
                 s->last_realloc_moved                                                             \
                     ? " (after a realloc that moved the block: the contract counts a "            \
                       "moving realloc as one allocation of its new size)"                         \
                     : "");                                                                        \
    } while (0)

static int verify_counters(shadow_t *s, const talc_heap_counters_t *got)
{
#if TALC_COUNTERS
    const talc_heap_counters_t c = *got;
    CHECK_EQ(live_allocs, s->nblocks);
    CHECK_EQ(total_allocs, s->total_allocs);
    CHECK_EQ(live_bytes, s->live_bytes);
    CHECK_EQ(total_bytes, s->total_bytes);
    if (s->peak_loose && c.peak_live_bytes == s->peak_alt)
        s->peak = s->peak_alt;
    CHECK_EQ(peak_live_bytes, s->peak);
    CHECK_EQ(live_spans, s->nspans);
    CHECK_EQ(total_spans, s->total_spans);
    CHECK_EQ(managed_bytes, expected_managed(s));
    CHECK_EQ(total_managed, s->total_managed);
    CHECK_EQ(failed_allocs, s->failed);
#else
    (void)s, (void)got;
#endif
    return 0;
}

/* The locked form's lock: free now, every take matched by a release, none while held. */
static int verify_lock(shadow_t *s)
{
    if (s->lh && (s->lock_depth != 0 || s->locks != s->unlocks || s->lock_misuse))
        FAIL("lock misused: depth %u, %llu locks, %llu unlocks%s", s->lock_depth,
             (unsigned long long)s->locks, (unsigned long long)s->unlocks,
             s->lock_misuse ? ", taken while held or released while free" : "");
    return 0;
}

static int verify_held(shadow_t *s, const talc_heap_counters_t *c)
{
    const void *where = NULL;
    int rc = talc_heap_check(s->heap, &where);
    if (rc != 0)
        FAIL("talc_heap_check = %d at %p", rc, where);
    if (s->faults)
        FAIL("fatal handler called: fault %d (%s) at %p", (int)s->last_fault.fault,
             s->last_fault.what ? s->last_fault.what : "?", s->last_fault.address);
    if (s->oom_bad_args)
        FAIL("OOM hook called with wrong arguments (want size %zu align %zu) or its claim "
             "failed",
             s->oom_want_size, s->oom_want_align);
    TRY(verify_spans(s));
    TRY(verify_blocks(s));
    TRY(verify_counters(s, c));
#if TALC_COUNTERS
    TRY(verify_walk(s, c));
#else
    TRY(do_walk(s));
#endif
    return 0;
}

int shadow_verify(shadow_t *s)
{
    TRY(verify_lock(s));
    talc_heap_counters_t c;
    sh_counters(s, &c); /* through the locked twin; the rest under one hold of the lock */
    bool taken = hold(s);
    int rc = verify_held(s, &c);
    unhold(s, taken);
    return rc == 0 ? verify_lock(s) : rc;
}

/* ---- Life cycle ---------------------------------------------------------------------------*/

int shadow_init(shadow_t *s, const shadow_config_t *cfg)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->cfg.slot_size = (cfg->slot_size + 4095) & ~(size_t)4095;
    s->quantum = cfg->cache_line ? cfg->cache_line : TALC_MIN_ALIGN;
    s->blocks = calloc(cfg->max_blocks, sizeof *s->blocks);
    s->walk_cap = 2 * cfg->max_blocks + 4 * SHADOW_MAX_SPANS + 64;
    s->walk = calloc(s->walk_cap, sizeof *s->walk);
    s->order = calloc(cfg->max_blocks, sizeof *s->order);
    size_t total = cfg->first_size + cfg->first_room;
    size_t pool = SHADOW_MAX_SPANS * s->cfg.slot_size;
    s->mem = cfg->mem_buf ? cfg->mem_buf
                          : aligned_alloc(POOL_ALIGN, (total + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1));
    s->pool = cfg->pool_buf ? cfg->pool_buf
              : pool        ? aligned_alloc(POOL_ALIGN, (pool + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1))
                            : NULL;
    if (!s->blocks || !s->walk || !s->order || !s->mem || (pool && !s->pool))
        FAIL("out of memory in the test");
    caller_owns(s->mem, total);
    POISON(s->pool, pool); /* each slot is scribbled when it is used */
    heap_owns(s->mem, cfg->first_size);
    talc_heap_opts_t opts = {0};
    opts.name = "shadow";
    opts.cache_line = cfg->cache_line;
    opts.fatal = shadow_fatal;
    opts.fatal_ctx = s;
    opts.shrink_in_place = cfg->shrink_in_place;
    if (cfg->oom_hook) {
        opts.oom = shadow_oom;
        opts.oom_ctx = s;
    }
    size_t footprint = talc_heap_footprint();
    if (cfg->locked) {
        talc_lock_ops_t lock = {model_lock, model_unlock, s};
        s->lh = talc_locked_heap_init(s->mem, cfg->first_size, &opts, &lock);
        s->heap = s->lh ? talc_locked_acquire(s->lh) : NULL;
        if (s->lh)
            talc_locked_release(s->lh);
        footprint = talc_locked_heap_footprint();
    } else {
        s->heap = talc_heap_init(s->mem, cfg->first_size, &opts);
    }
    if (!s->heap)
        FAIL("talc_heap_init(%zu) failed", cfg->first_size);
    bool held = hold(s);
    talc_span_t *first = talc_heap_first_span(s->heap);
    unhold(s, held);
    if (first) {
        talc_span_info_t info;
        sh_span_info(s, first, &info);
        s->spans[0] = (shadow_span_t){first, s->mem, total, -1, info.base, info.end};
        s->nspans = 1;
        s->total_spans = 1;
        s->total_managed = (uint64_t)(addr(info.end) - addr(info.base));
        if (addr(info.base) < addr(s->mem) + footprint ||
            addr(info.end) > addr(s->mem) + cfg->first_size)
            FAIL("first span [%p, %p) outside [mem + footprint, mem + size)", info.base, info.end);
        caller_owns(info.end, (size_t)(s->mem + cfg->first_size - (unsigned char *)info.end));
    }
    return shadow_verify(s);
}

int shadow_teardown(shadow_t *s)
{
    s->last_op = "teardown";
    while (s->nblocks) {
        sh_free(s, s->blocks[s->nblocks - 1].ptr);
        model_remove_block(s, s->nblocks - 1);
        TRY(shadow_verify(s));
    }
    bool held = hold(s);
    talc_span_t *first = talc_heap_first_span(s->heap);
    unhold(s, held);
    for (size_t i = s->nspans; i-- > 0;) {
        if (s->spans[i].span == first)
            continue;
        bool taken = hold(s);
        int rc = talc_span_release(s->heap, s->spans[i].span);
        unhold(s, taken);
        if (rc != 0)
            FAIL("release of empty span #%zu returned %d", i, rc);
        model_drop_span(s, i);
        TRY(shadow_verify(s));
    }
    talc_heap_counters_t c;
    sh_counters(s, &c);
#if TALC_COUNTERS
    if (c.live_allocs != 0 || c.live_bytes != 0 || c.live_spans > 1)
        FAIL("after teardown: %zu live allocs, %zu live bytes, %zu spans", c.live_allocs,
             c.live_bytes, c.live_spans);
#endif
    return 0;
}

void shadow_destroy(shadow_t *s)
{
    size_t total = s->cfg.first_size + s->cfg.first_room;
    if (s->mem)
        heap_owns(s->mem, total);
    if (s->pool)
        heap_owns(s->pool, SHADOW_MAX_SPANS * s->cfg.slot_size);
    free(s->blocks);
    free(s->walk);
    free(s->order);
    if (!s->cfg.mem_buf)
        free(s->mem);
    if (!s->cfg.pool_buf)
        free(s->pool);
    memset(s, 0, sizeof *s);
}
