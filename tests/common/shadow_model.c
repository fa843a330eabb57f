/* tests/common/shadow_model.c — the shadow model's records: who owns each byte (poisoned for
 * AddressSanitizer where the heap must not read), the pool slots that caller buffers come
 * from, the spans and the live blocks (each filled with its pattern), the heap walk, and the
 * no-fit rule (an allocation may fail only where no free chunk holds it). Also the heap's calls
 * back into the model: the fatal handler (counts faults) and the OOM hook (claims a fresh
 * buffer when the byte source says so).
 *
 * Who may use it: the shadow model's files (shadow_internal.h). Concurrency: one model per
 * thread.
 */
#include "shadow_internal.h"

#include <string.h>

#include "asan_poison.h"
#include "pattern.h"

#define SCRIBBLE 0xEE /* what the model writes into memory the heap gave back */

/* ---- Who owns which byte (AddressSanitizer poisoning) -------------------------------------*/

/* [p, p+n) belongs to the caller (the model): scribble over it and forbid the heap to touch it. */
void shadow_caller_owns(void *p, size_t n)
{
    if (!n)
        return;
    UNPOISON(p, n);
    memset(p, SCRIBBLE, n);
    POISON(p, n);
}

/* [p, p+n) is handed to the heap. */
void shadow_heap_owns(void *p, size_t n)
{
    if (n)
        UNPOISON(p, n);
}

/* ---- Pool slots: the caller buffers that claims take ------------------------------------*/

int shadow_slot_get(shadow_t *s)
{
    for (int i = 0; i < SHADOW_MAX_SPANS; i++)
        if (!s->slot_used[i]) {
            s->slot_used[i] = true;
            return i;
        }
    return -1;
}

unsigned char *shadow_slot_buf(shadow_t *s, int i)
{
    return s->pool + (size_t)i * s->cfg.slot_size;
}

/* ---- Fatal handler and OOM hook -----------------------------------------------------------*/

void shadow_fatal(const talc_fault_info_t *info, void *ctx)
{
    shadow_t *s = ctx;
    s->faults++;
    s->last_fault = *info;
}

talc_oom_verdict_t shadow_oom(talc_heap_t *heap, size_t size, size_t align, void *ctx)
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
    int slot = shadow_slot_get(s);
    if (slot < 0)
        return TALC_OOM_FAIL;
    talc_span_t *span = NULL;
    if (model_claim(s, slot, shadow_slot_buf(s, slot), need, 0, need, &span) != 0 || !span) {
        s->oom_bad_args = true; /* a claim of >= min size failed: recorded by model_claim */
        return TALC_OOM_FAIL;
    }
    return TALC_OOM_RETRY;
}

/* ---- Spans in the model -------------------------------------------------------------------*/

size_t shadow_span_blocks(shadow_t *s, const shadow_span_t *sp)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nblocks; i++)
        if (addr(s->blocks[i].ptr) >= addr(sp->base) && addr(s->blocks[i].ptr) < addr(sp->end))
            n++;
    return n;
}

/* Claim [buf+off, buf+off+size) of pool slot `slot` (buf_size bytes used) and record the
 * span. *out is NULL if the heap refused; the slot is then free again. */
int model_claim(shadow_t *s, int slot, unsigned char *buf, size_t buf_size, size_t off, size_t size,
                talc_span_t **out)
{
    size_t min = sh_span_min(s);
    shadow_caller_owns(buf, s->cfg.slot_size);
    shadow_heap_owns(buf + off, size);
    talc_span_t *span = sh_claim(s, buf + off, size);
    *out = span;
    if (!span) {
        shadow_caller_owns(buf + off, size);
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
    shadow_caller_owns(info.end, (size_t)(buf + off + size - (unsigned char *)info.end));
    shadow_span_t *sp = &s->spans[s->nspans++];
    *sp = (shadow_span_t){span, buf, buf_size, slot, buf + off, info.end};
    s->total_spans++;
    s->total_managed += (uint64_t)(sp->end - sp->base);
    return 0;
}

void model_drop_span(shadow_t *s, size_t i)
{
    shadow_span_t *sp = &s->spans[i];
    /* The whole range is the caller's again. */
    shadow_caller_owns(sp->base, (size_t)(sp->buf + sp->buf_size - sp->base));
    if (sp->slot >= 0)
        s->slot_used[sp->slot] = false;
    memmove(&s->spans[i], &s->spans[i + 1], (s->nspans - i - 1) * sizeof s->spans[0]);
    s->nspans--;
}

/* ---- Blocks in the model ------------------------------------------------------------------*/

static size_t block_quantum(const shadow_t *s, size_t align) { return max_sz(s->quantum, align); }

int model_add_block(shadow_t *s, void *p, size_t size, size_t align)
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

void model_remove_block(shadow_t *s, size_t i)
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

int shadow_walk(shadow_t *s)
{
    s->walk_n = 0;
    s->walk_overflow = false;
    bool taken = sh_hold(s);
    bool done = talc_heap_walk(s->heap, walk_collect, s);
    sh_unhold(s, taken);
    if (s->walk_overflow)
        FAIL("walk visited more than %zu chunks", s->walk_cap);
    if (!done)
        FAIL("talc_heap_walk returned false although the visitor never stopped it");
    return 0;
}

size_t shadow_largest_free(shadow_t *s)
{
    size_t m = 0;
    if (shadow_walk(s) != 0)
        return SIZE_MAX;
    for (size_t i = 0; i < s->walk_n; i++)
        if (!s->walk[i].used)
            m = max_sz(m, s->walk[i].size);
    return m;
}

/* The chunk sizes of docs/heap.md: an 8-byte header on every target (SHADOW_HDR), a minimum
 * chunk of header, two links and footer rounded up to the quantum, and
 * S = max(min_chunk, round_up(n + 8, q)) for a request of n bytes ("Bins and the fit policy"). */
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
int shadow_check_no_fit(shadow_t *s, size_t size, size_t align)
{
    if (size > SIZE_MAX / 4)
        return 0;
    size_t need = req_chunk(s, size);
    if (align > s->quantum)
        need += align + min_chunk(s);
    size_t big = shadow_largest_free(s);
    if (big == SIZE_MAX)
        return -1;
    if (big + SHADOW_HDR >= need)
        FAIL("allocation of %zu (align %zu, a chunk of %zu) returned NULL while a free chunk "
             "of %zu usable bytes exists",
             size, align, need, big);
    return 0;
}

int shadow_verify_block_prefix(shadow_t *s, const shadow_block_t *b, size_t n, const char *what)
{
    size_t bad = test_pattern_check(b->ptr, n, b->seed);
    if (bad != n)
        FAIL("%s: block %p (size %zu) differs at byte %zu of %zu", what, (void *)b->ptr, b->size,
             bad, n);
    return 0;
}
