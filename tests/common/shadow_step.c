/* tests/common/shadow_step.c — the shadow model's operation language: shadow_step draws an
 * operation by weight, runs it (shadow_op_block.c, shadow_op_span.c, shadow_op_refuse.c) and
 * then shadow_verify; the decoders here turn the byte source into sizes, alignments and picks.
 * The fuzzer's inputs are in this language (tests/fuzz/corpus/fuzz_heap): a change to what a
 * byte means, or to the order bytes are taken in, makes every stored input a different run.
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
 * Who may use it: shadow.h's callers (shadow_step), the operations (the decoders).
 * Concurrency: one model per thread.
 */
#include "shadow_internal.h"

/* ---- Decoding -----------------------------------------------------------------------------*/

/* Up to 63 bytes less than the largest free chunk holds: it fits there, often nowhere else,
 * and when that chunk shares the top non-empty bin with a smaller one listed before it, only
 * the first-fit scan of the bin below the ceiling bin finds it (docs/heap.md, "Bins and the
 * fit policy", step 4). */
static size_t near_fit_size(shadow_t *s, shadow_src_t *src)
{
    size_t d = (size_t)take(src, 1) % 64;
    size_t big = shadow_largest_free(s);
    return big == SIZE_MAX || big < d ? d : big - d;
}

size_t shadow_decode_size(shadow_t *s, shadow_src_t *src)
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
size_t shadow_decode_align(shadow_src_t *src)
{
    unsigned k = (unsigned)take(src, 1);
    if (k >= 250)
        return (size_t)1 << (k == 255 ? 20 : 16);
    return (size_t)1 << (k % 14);
}

/* ---- The operations, their weights and names ----------------------------------------------*/

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

bool shadow_over_cap(const shadow_t *s)
{
    return s->live_bytes > s->cfg.live_cap || s->nblocks + 1 >= s->cfg.max_blocks;
}

void shadow_set_oom_expect(shadow_t *s, size_t size, size_t align)
{
    s->in_alloc = true;
    s->oom_want_size = size;
    s->oom_want_align = align;
}

/* Which live block, which span. */
size_t shadow_pick_block(shadow_t *s, shadow_src_t *src)
{
    return (size_t)(take(src, 2) % s->nblocks);
}

size_t shadow_pick_span(shadow_t *s, shadow_src_t *src)
{
    return (size_t)(take(src, 1) % s->nspans);
}

/* ---- One step ------------------------------------------------------------------------------*/

int shadow_step(shadow_t *s, shadow_src_t *src)
{
    unsigned total = 0;
    for (unsigned i = 0; i < OP_COUNT; i++)
        total += weight(s, i);
    unsigned r = (unsigned)(take(src, 1) % total);
    unsigned op = 0;
    while (r >= weight(s, op))
        r -= weight(s, op++);
    if ((op == OP_ALLOC || op == OP_ALIGNED) && shadow_over_cap(s))
        op = OP_FREE;
    s->steps++;
    s->last_op = op_name[op];
    s->src = src;
    s->peak_loose = false;
    s->last_realloc_moved = false;
    int rc;
    /* Span calls have no locked twin: the step holds the lock around them. */
    bool taken = (op == OP_EXTEND || op == OP_TRUNCATE || op == OP_RELEASE) && sh_hold(s);
    switch (op) {
    case OP_ALLOC:
        rc = shadow_op_alloc(s, src, false);
        break;
    case OP_ALIGNED:
        rc = shadow_op_alloc(s, src, true);
        break;
    case OP_FREE:
        rc = shadow_op_free(s, src);
        break;
    case OP_REALLOC:
        rc = shadow_op_realloc(s, src);
        break;
    case OP_RESIZE:
        rc = shadow_op_resize(s, src);
        break;
    case OP_CLAIM:
        rc = shadow_op_claim(s, src);
        break;
    case OP_EXTEND:
        rc = shadow_op_extend(s, src);
        break;
    case OP_TRUNCATE:
        rc = shadow_op_truncate(s, src);
        break;
    case OP_RELEASE:
        rc = shadow_op_release(s, src);
        break;
    case OP_FREE_SPAN:
        rc = shadow_op_free_span(s, src);
        break;
    case OP_INVALID:
        rc = shadow_op_invalid(s, src);
        break;
    case OP_BAD_POINTER:
        rc = shadow_op_bad_pointer(s, src);
        break;
    default:
        rc = shadow_op_corrupt(s, src);
        break;
    }
    sh_unhold(s, taken);
    if (rc != 0 || s->corrupted)
        return rc;
    return shadow_verify(s);
}
