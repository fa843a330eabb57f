/* shim_model_ops.c — the calls of the shim's random model test (shim_model.c describes it):
 * each operation draws its arguments from the worker's generator, calls one function of the
 * malloc family and checks the result against the worker's shadow of its live blocks:
 * alignment, usable size, contents, calloc's zeros, the errno (or posix_memalign's return
 * value) of every failure, and that a failed realloc leaves its block as it was. Blocks are
 * freed with free, free_sized or free_aligned_sized as C23 allows for each: free_sized for
 * malloc, calloc and realloc blocks with the size asked, free_aligned_sized for aligned_alloc
 * blocks with its alignment and size.
 *
 * Concurrency: every function runs on the worker's own thread and touches only its worker_t
 * and shadow, its own outbox slot of the round (op_hand_over) and, in model_take_over, the
 * outbox slot it takes over (shim_model.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "pattern.h"
#include "rng.h"
#include "shim_model.h"

/* The model passes impossible sizes and reads blocks after failed reallocs on purpose. */
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wuse-after-free"

#define ERRNO_MARK 4242 /* errno before calls that must not change it */
#define MAX_ALIGN _Alignof(max_align_t)
#define PROMISED_ALIGN ((size_t)2 << 20) /* docs/shim.md: powers of two work up to 2 MiB */

/* ---- Random arguments ---------------------------------------------------------------------*/

static size_t below(worker_t *w, uint64_t n) { return (size_t)test_rng_below(&w->rng, n); }
static bool chance(worker_t *w, unsigned num, unsigned den)
{
    return test_rng_chance(&w->rng, num, den);
}

/* 0 to model.max_size, most of them small. */
static size_t draw_size(worker_t *w)
{
    static const struct {
        unsigned upto;
        size_t lo, hi;
    } band[] = {{30, 0, 16},        {600, 1, 256},         {850, 257, 4096},
                {950, 4097, 65536}, {990, 65537, 1 << 20}, {1000, (1 << 20) + 1, SIZE_MAX}};
    size_t r = below(w, 1000), i = 0;
    while (r >= band[i].upto)
        i++;
    size_t hi = band[i].hi < model.max_size ? band[i].hi : model.max_size;
    size_t lo = band[i].lo < hi ? band[i].lo : hi;
    return lo + below(w, hi - lo + 1u);
}

/* A size no allocation can have (above PTRDIFF_MAX): NULL + ENOMEM (docs/shim.md). */
static size_t draw_impossible(worker_t *w)
{
    if (chance(w, 1, 4))
        return SIZE_MAX - below(w, 4096);
    return (size_t)PTRDIFF_MAX + 1u + below(w, PTRDIFF_MAX);
}

/* A power of two >= min, up to 2 MiB (docs/shim.md: "up to at least 2 MiB"), mostly small. */
static size_t draw_align(worker_t *w, size_t min)
{
    size_t r = below(w, 100);
    size_t k = r < 60 ? below(w, 7) : r < 90 ? 7 + below(w, 6) : 13 + below(w, 9);
    size_t a = (size_t)1 << k;
    return a < min ? min : a;
}

/* A power of two above the 2 MiB promise (4 MiB .. half the address space): may fail. */
static size_t draw_huge_align(worker_t *w)
{
    return (size_t)1 << (22 + below(w, sizeof(size_t) * 8 - 22));
}

/* Not a power of two: 0, between two powers, 3 << k, or near SIZE_MAX. */
static size_t draw_bad_align(worker_t *w)
{
    size_t a = (size_t)2 << below(w, 20);
    switch (below(w, 4)) {
    case 0:
        return 0;
    case 1:
        return a + 1u + below(w, a - 1u);
    case 2:
        return 3 * a;
    default:
        return SIZE_MAX - below(w, 1000);
    }
}

static size_t next_pow2(size_t a)
{
    size_t p = 1;
    while (p < a)
        p <<= 1;
    return p;
}

static size_t round_page(size_t n) { return (n + model.page - 1u) & ~(model.page - 1u); }

/* ---- The shadow ---------------------------------------------------------------------------*/

static size_t pick(worker_t *w) { return below(w, w->nlive); }

static void push(worker_t *w, const blk_t *b)
{
    w->live[w->nlive++] = *b;
    w->live_bytes += b->len;
}

static blk_t take_out(worker_t *w, size_t i)
{
    blk_t b = w->live[i];
    w->live[i] = w->live[--w->nlive];
    w->live_bytes -= b.len;
    return b;
}

/* The block still holds its pattern in [0, upto). A damaged block is reported, then written
 * again, so that one fault makes one failure line, not one at every later check. */
bool model_verify(worker_t *w, const blk_t *b, size_t upto, const char *when)
{
    size_t off = test_pattern_check(b->p, upto, b->seed);
    if (off == upto)
        return true;
    model_fail(w,
               "%s: byte %zu of block %p (asked %zu, usable %zu) is %#x, not the pattern "
               "written when it was allocated",
               when, off, (void *)b->p, b->n, b->usable, b->p[off]);
    test_pattern_fill(b->p, upto, b->seed);
    return false;
}

static void check_aligned(worker_t *w, const void *p, size_t align)
{
    size_t a = align > MAX_ALIGN ? align : MAX_ALIGN;
    if ((uintptr_t)p & (a - 1u))
        model_fail(w, "%p is not aligned to %zu", p, a);
    if (model.line && ((uintptr_t)p & (model.line - 1u)))
        model_fail(w, "cache-aligned mode: %p does not start a %zu-byte cache line", p, model.line);
}

static void check_usable_same(worker_t *w, const blk_t *b, const char *when)
{
    size_t u = malloc_usable_size(b->p);
    if (u != b->usable)
        model_fail(w, "%s: malloc_usable_size(%p) is %zu, was %zu while the block lived", when,
                   (void *)b->p, u, b->usable);
}

/* A block a call returned: check it, fill it, shadow it. b holds p, n, kind (and align);
 * want_align is what the call promised (0: alignof(max_align_t) only). */
static void adopt(worker_t *w, blk_t b, size_t want_align, bool zero)
{
    check_aligned(w, b.p, want_align);
    b.usable = malloc_usable_size(b.p);
    if (b.usable < b.n)
        model_fail(w, "malloc_usable_size(%p) = %zu < %zu asked", (void *)b.p, b.usable, b.n);
    for (size_t i = 0; zero && i < b.n; i++)
        if (b.p[i]) {
            model_fail(w, "calloc block %p: byte %zu of %zu is %#x, not 0", (void *)b.p, i, b.n,
                       b.p[i]);
            break;
        }
    b.len = b.n > b.usable ? b.n : b.usable;
    b.seed = w->next_seed++;
    test_pattern_fill(b.p, b.len, b.seed);
    push(w, &b);
}

/* NULL from a request that should be served: a failure unless an arena budget may refuse
 * it (SHIM_MODEL_OOM_OK), and then only with ENOMEM. */
static void refused(worker_t *w, int err)
{
    if (model.oom_ok && err == ENOMEM)
        w->oom++;
    else
        model_fail(w, "returned NULL (errno %d) for a request that must succeed", err);
}

/* A call that must fail with errno want returned p (errno err). */
static void expect_null(worker_t *w, void *p, int err, int want)
{
    if (p) {
        model_fail(w, "returned %p, want NULL with errno %d", p, want);
        free(p);
    } else if (err != want) {
        model_fail(w, "returned NULL with errno %d, want %d", err, want);
    }
}

/* Give b (already out of the shadow) back: contents and usable size checked first, then
 * free, free_sized or free_aligned_sized as C23 allows for it; errno must not change. */
void model_release(worker_t *w, const blk_t *b)
{
    unsigned how = b->kind == FREE_PLAIN ? 0 : (unsigned)below(w, 2);
    size_t p = (size_t)(uintptr_t)b->p;
    if (how == 0)
        model_set_call(w, "free", 1, p, 0, 0);
    else if (b->kind == FREE_SIZED)
        model_set_call(w, "free_sized", 2, p, b->n, 0);
    else
        model_set_call(w, "free_aligned_sized", 3, p, b->align, b->n);
    model_verify(w, b, b->len, "before the free");
    check_usable_same(w, b, "before the free");
    errno = ERRNO_MARK;
    if (how == 0)
        free(b->p);
    else if (b->kind == FREE_SIZED)
        free_sized(b->p, b->n);
    else
        free_aligned_sized(b->p, b->align, b->n);
    if (errno != ERRNO_MARK)
        model_fail(w, "changed errno to %d", errno);
}

/* ---- Allocating calls ---------------------------------------------------------------------*/

static void op_malloc(worker_t *w)
{
    size_t n = chance(w, 1, 32) ? draw_impossible(w) : draw_size(w);
    model_set_call(w, "malloc", 1, n, 0, 0);
    errno = 0;
    void *p = malloc(n);
    int err = errno;
    if (n > (size_t)PTRDIFF_MAX)
        expect_null(w, p, err, ENOMEM);
    else if (!p)
        refused(w, err);
    else
        adopt(w, (blk_t){.p = p, .n = n, .kind = FREE_SIZED}, 0, false);
}

static void op_calloc(worker_t *w)
{
    static const size_t elems[] = {1, 2, 3, 4, 8, 16, 24, 100};
    size_t v = below(w, 32), a, b;
    if (v == 0) { /* a * b overflows */
        b = 2u + below(w, 1u << 20);
        a = SIZE_MAX / b + 1u + below(w, 1000);
    } else if (v == 1) { /* no overflow, but above PTRDIFF_MAX */
        b = (size_t)1 << below(w, 8);
        a = (size_t)PTRDIFF_MAX / b + 1u;
    } else {
        b = v == 2 ? 0 : elems[below(w, 8)];
        a = b ? draw_size(w) / b : draw_size(w);
    }
    if (chance(w, 1, 2)) { /* either order */
        size_t t = a;
        a = b;
        b = t;
    }
    model_set_call(w, "calloc", 2, a, b, 0);
    errno = 0;
    void *p = calloc(a, b);
    int err = errno;
    size_t n;
    if (__builtin_mul_overflow(a, b, &n) || n > (size_t)PTRDIFF_MAX)
        expect_null(w, p, err, ENOMEM);
    else if (!p)
        refused(w, err);
    else
        adopt(w, (blk_t){.p = p, .n = n, .kind = FREE_SIZED}, 0, true);
}

/* posix_memalign: returns the error, never changes errno, *memptr only on success. */
static void op_posix_memalign(worker_t *w)
{
    size_t v = below(w, 16), a = draw_align(w, sizeof(void *)), n = draw_size(w);
    int want = 0;
    if (v == 0) {
        a = chance(w, 1, 2) ? draw_bad_align(w) : sizeof(void *) >> (1u + below(w, 2));
        want = EINVAL;
    } else if (v == 1) {
        n = draw_impossible(w);
        want = ENOMEM;
    } else if (v == 2 && chance(w, 1, 4)) {
        a = draw_huge_align(w);
        n = below(w, 4096);
    }
    void *mark = &w->rng, *q = mark;
    model_set_call(w, "posix_memalign", 2, a, n, 0);
    errno = ERRNO_MARK;
    int rc = posix_memalign(&q, a, n);
    if (errno != ERRNO_MARK)
        model_fail(w, "changed errno to %d (it returns its error instead)", errno);
    if (rc != 0 && q != mark)
        model_fail(w, "failed with %d but set *memptr to %p", rc, q);
    if (want) {
        if (rc != want)
            model_fail(w, "returned %d, want %d", rc, want);
        if (rc == 0)
            free(q);
    } else if (rc != 0) {
        if (a <= PROMISED_ALIGN || rc != ENOMEM)
            refused(w, rc);
    } else {
        adopt(w, (blk_t){.p = q, .n = n, .kind = FREE_PLAIN}, a, false);
    }
}

/* The result of a call that takes an alignment; want_err != 0: it must fail so. */
static void aligned_result(worker_t *w, void *p, int err, size_t a, size_t n, int want_err,
                           free_kind_t kind)
{
    if (want_err)
        expect_null(w, p, err, want_err);
    else if (p)
        adopt(w, (blk_t){.p = p, .n = n, .align = a, .kind = kind}, a, false);
    else if (a <= PROMISED_ALIGN || err != ENOMEM) /* beyond it ENOMEM is allowed */
        refused(w, err);
}

static void op_aligned_alloc(worker_t *w)
{
    size_t v = below(w, 16), a = draw_align(w, 1), n = draw_size(w);
    int want = 0;
    if (v == 0) {
        a = draw_bad_align(w);
        want = EINVAL;
    } else if (v == 1) {
        n = draw_impossible(w);
        want = ENOMEM;
    } else if (v == 2 && chance(w, 1, 4)) {
        a = draw_huge_align(w);
        n = below(w, 4096);
    }
    model_set_call(w, "aligned_alloc", 2, a, n, 0);
    errno = 0;
    void *p = aligned_alloc(a, n);
    aligned_result(w, p, errno, a, n, want, FREE_ALIGNED_SIZED);
}

/* memalign: an alignment that is not a power of two is rounded up to one (glibc); above
 * SIZE_MAX / 2 + 1 it is EINVAL. */
static void op_memalign(worker_t *w)
{
    size_t v = below(w, 16), a = draw_align(w, 1), n = draw_size(w), want_align;
    int want = 0;
    if (v < 3) {
        a = draw_bad_align(w);
        if (a > SIZE_MAX / 2u + 1u)
            want = EINVAL;
    } else if (v == 3) {
        n = draw_impossible(w);
        want = ENOMEM;
    } else if (v == 4 && chance(w, 1, 4)) {
        a = draw_huge_align(w);
        n = below(w, 4096);
    }
    want_align = want == EINVAL ? 0 : next_pow2(a);
    model_set_call(w, "memalign", 2, a, n, 0);
    errno = 0;
    void *p = memalign(a, n);
    aligned_result(w, p, errno, want_align, n, want, FREE_PLAIN);
}

static void op_valloc(worker_t *w)
{
    size_t n = chance(w, 1, 16) ? draw_impossible(w) : draw_size(w);
    model_set_call(w, "valloc", 1, n, 0, 0);
    errno = 0;
    void *p = valloc(n);
    aligned_result(w, p, errno, model.page, n, n > (size_t)PTRDIFF_MAX ? ENOMEM : 0, FREE_PLAIN);
}

/* pvalloc: page-aligned, the size rounded up to a page (0: one page); overflow: ENOMEM. */
static void op_pvalloc(worker_t *w)
{
    size_t v = below(w, 16), n = v == 0 ? 0 : draw_size(w);
    if (v == 1)
        n = chance(w, 1, 2) ? SIZE_MAX - below(w, model.page - 1u) : draw_impossible(w);
    model_set_call(w, "pvalloc", 1, n, 0, 0);
    errno = 0;
    void *p = pvalloc(n);
    int err = errno;
    if (n > (size_t)PTRDIFF_MAX)
        aligned_result(w, p, err, model.page, n, ENOMEM, FREE_PLAIN);
    else
        aligned_result(w, p, err, model.page, round_page(n ? n : 1u), 0, FREE_PLAIN);
}

/* ---- realloc and reallocarray -------------------------------------------------------------*/

/* live[i] was passed to a resizing call for n bytes, which returned q (errno err). */
static void resized(worker_t *w, size_t i, void *q, size_t n, int err, free_kind_t kind)
{
    blk_t *b = &w->live[i];
    if (!q) {
        refused(w, err);
        model_verify(w, b, b->len, "the block after a failed realloc");
        check_usable_same(w, b, "after a failed realloc");
        return;
    }
    check_aligned(w, q, 0);
    blk_t nb = {.p = q, .n = n, .kind = kind, .seed = b->seed};
    nb.usable = malloc_usable_size(q);
    if (nb.usable < n)
        model_fail(w, "malloc_usable_size(%p) = %zu < %zu asked", q, nb.usable, n);
    nb.len = n > nb.usable ? n : nb.usable;
    size_t keep = b->n < n ? b->n : n, off = test_pattern_check(q, keep, b->seed);
    if (off != keep)
        model_fail(w, "%p -> %p kept %zu of the %zu bytes it must keep (byte %zu is %#x)",
                   (void *)b->p, q, off, keep, off, nb.p[off]);
    test_pattern_fill_range(q, off != keep ? 0 : keep, nb.len, nb.seed); /* damage: rewrite */
    w->live_bytes = w->live_bytes - b->len + nb.len;
    *b = nb;
}

/* live[i] passed to a call that must fail with ENOMEM (too large, or overflowing). */
static void must_refuse_resize(worker_t *w, size_t i, void *q, int err)
{
    if (!q) {
        expect_null(w, q, err, ENOMEM);
        model_verify(w, &w->live[i], w->live[i].len, "the block after a failed realloc");
        check_usable_same(w, &w->live[i], "after a failed realloc");
        return;
    }
    model_fail(w, "returned %p, want NULL with errno ENOMEM", q);
    take_out(w, i); /* the old block is gone; the new one cannot be checked */
    free(q);
}

/* realloc(p, 0) and reallocarray(p, 0, k): free p, return NULL (glibc). */
static void resize_to_zero(worker_t *w, size_t i, bool array)
{
    blk_t b = take_out(w, i);
    size_t k = below(w, 100);
    model_set_call(w, array ? "reallocarray" : "realloc", array ? 3 : 2, (size_t)(uintptr_t)b.p, 0,
                   k);
    model_verify(w, &b, b.len, "before the call");
    void *q = array ? reallocarray(b.p, 0, k) : realloc(b.p, 0);
    if (q) /* left alone: what it is cannot be known */
        model_fail(w, "returned %p, want NULL (glibc: the block is freed)", q);
}

/* A new size for a block: shrink, grow a little, or any; never 0 (resize_to_zero). */
static size_t new_size(worker_t *w, const blk_t *b)
{
    size_t n;
    switch (below(w, 3)) {
    case 0:
        n = below(w, b->n + 1u);
        break;
    case 1:
        n = b->n + 1u + below(w, 256);
        break;
    default:
        n = draw_size(w);
    }
    return n ? n : 1u;
}

static void op_realloc(worker_t *w)
{
    if (w->nlive == 0 || chance(w, 1, 16)) {
        size_t n = draw_size(w);
        model_set_call(w, "realloc", 2, 0, n, 0);
        errno = 0;
        void *p = realloc(NULL, n);
        if (!p)
            refused(w, errno);
        else
            adopt(w, (blk_t){.p = p, .n = n, .kind = FREE_SIZED}, 0, false);
        return;
    }
    size_t i = pick(w), v = below(w, 32);
    if (v == 0) {
        resize_to_zero(w, i, false);
        return;
    }
    blk_t *b = &w->live[i];
    size_t n = v == 1 ? draw_impossible(w) : new_size(w, b);
    model_set_call(w, "realloc", 2, (size_t)(uintptr_t)b->p, n, 0);
    model_verify(w, b, b->len, "before the call");
    errno = 0;
    void *q = realloc(b->p, n);
    if (v == 1)
        must_refuse_resize(w, i, q, errno);
    else
        resized(w, i, q, n, errno, FREE_SIZED);
}

/* reallocarray(p, a, b) is realloc(p, a * b) after an overflow check. Its blocks are freed
 * with free() only: C23's free_sized names malloc, calloc and realloc. */
static void op_reallocarray(worker_t *w)
{
    size_t v = below(w, 16), k = 1u + below(w, 24), n = draw_size(w) / k;
    if (w->nlive == 0 || v == 0) {
        model_set_call(w, "reallocarray", 3, 0, n, k);
        errno = 0;
        void *p = reallocarray(NULL, n, k);
        if (!p)
            refused(w, errno);
        else
            adopt(w, (blk_t){.p = p, .n = n * k, .kind = FREE_PLAIN}, 0, false);
        return;
    }
    size_t i = pick(w);
    if (v == 1) {
        resize_to_zero(w, i, true);
        return;
    }
    blk_t *b = &w->live[i];
    n = n ? n : 1u; /* 0 frees the block: resize_to_zero */
    if (v == 2) {   /* n * k overflows */
        k = k == 1 ? 2 : k;
        n = SIZE_MAX / k + 1u + below(w, 1000);
    }
    model_set_call(w, "reallocarray", 3, (size_t)(uintptr_t)b->p, n, k);
    model_verify(w, b, b->len, "before the call");
    errno = 0;
    void *q = reallocarray(b->p, n, k);
    if (v == 2)
        must_refuse_resize(w, i, q, errno);
    else
        resized(w, i, q, n * k, errno, FREE_PLAIN);
}

/* ---- Frees, usable size, handover ----------------------------------------------------------*/

static void free_null(worker_t *w)
{
    errno = ERRNO_MARK;
    switch (below(w, 3)) {
    case 0:
        model_set_call(w, "free", 1, 0, 0, 0);
        free(NULL);
        break;
    case 1:
        model_set_call(w, "free_sized", 2, 0, 0, 0);
        free_sized(NULL, 0);
        break;
    default:
        model_set_call(w, "free_aligned_sized", 3, 0, MAX_ALIGN, 0);
        free_aligned_sized(NULL, MAX_ALIGN, 0);
    }
    if (errno != ERRNO_MARK)
        model_fail(w, "changed errno to %d", errno);
}

static void op_free(worker_t *w)
{
    if (w->nlive == 0 || chance(w, 1, 64)) {
        free_null(w);
        return;
    }
    blk_t b = take_out(w, pick(w));
    model_release(w, &b);
}

static void op_usable(worker_t *w)
{
    if (w->nlive == 0 || chance(w, 1, 16)) {
        model_set_call(w, "malloc_usable_size", 1, 0, 0, 0);
        size_t u = malloc_usable_size(NULL);
        if (u != 0)
            model_fail(w, "returned %zu, want 0", u);
        return;
    }
    blk_t *b = &w->live[pick(w)];
    model_set_call(w, "malloc_usable_size", 1, (size_t)(uintptr_t)b->p, 0, 0);
    check_usable_same(w, b, "a live block");
}

/* Put a live block into this round's outbox slot: another worker frees it later. */
static void op_hand_over(worker_t *w)
{
    outbox_t *o = &model.out[w->id];
    unsigned s = w->round & 1u;
    if (w->nlive == 0 || o->n[s] == OUTBOX_CAP || model.threads == 1)
        return;
    blk_t b = take_out(w, pick(w));
    model_set_context(w, "hand over");
    model_verify(w, &b, b.len, "before the handover");
    o->b[s][o->n[s]++] = b;
    w->handed++;
}

/* At a round's start: take over the blocks another worker handed on in the previous round;
 * free half of them now (a cross-thread free), keep the others. */
void model_take_over(worker_t *w, unsigned round)
{
    if (model.threads == 1)
        return;
    unsigned from = (w->id + 1u + round % (model.threads - 1u)) % model.threads;
    unsigned s = (round + 1u) & 1u;
    outbox_t *o = &model.out[from];
    for (unsigned k = 0; k < o->n[s]; k++) {
        blk_t b = o->b[s][k];
        w->taken++;
        if (w->nlive < MAX_LIVE && chance(w, 1, 2)) {
            model_set_context(w, "take over");
            model_verify(w, &b, b.len, "after the handover");
            push(w, &b);
        } else {
            model_release(w, &b);
        }
    }
    o->n[s] = 0;
}

/* ---- One call -----------------------------------------------------------------------------*/

static const struct {
    unsigned weight;
    void (*fn)(worker_t *);
    const char *name;
} ops[N_OPS] = {
    [OP_MALLOC] = {150, op_malloc, "malloc"},
    [OP_CALLOC] = {70, op_calloc, "calloc"},
    [OP_REALLOC] = {140, op_realloc, "realloc"},
    [OP_REALLOCARRAY] = {40, op_reallocarray, "reallocarray"},
    [OP_POSIX_MEMALIGN] = {50, op_posix_memalign, "posix_memalign"},
    [OP_ALIGNED_ALLOC] = {50, op_aligned_alloc, "aligned_alloc"},
    [OP_MEMALIGN] = {35, op_memalign, "memalign"},
    [OP_VALLOC] = {15, op_valloc, "valloc"},
    [OP_PVALLOC] = {15, op_pvalloc, "pvalloc"},
    [OP_FREE] = {300, op_free, "free"},
    [OP_USABLE] = {30, op_usable, "malloc_usable_size"},
    [OP_HAND_OVER] = {40, op_hand_over, "hand over"},
};

/* One operation: a free when the thread holds too much, else one drawn by weight. */
void model_step(worker_t *w)
{
    size_t i = 0;
    if (w->nlive >= MAX_LIVE || w->live_bytes > model.live_cap) {
        i = OP_FREE;
    } else {
        unsigned total = 0, r;
        for (size_t k = 0; k < N_OPS; k++)
            total += ops[k].weight;
        r = (unsigned)below(w, total);
        while (r >= ops[i].weight)
            r -= ops[i++].weight;
    }
    w->by_op[i]++;
    ops[i].fn(w);
}

const char *model_op_name(unsigned op) { return op < N_OPS ? ops[op].name : "?"; }

/* At the end: every block of the shadow checked and freed. */
void model_free_all(worker_t *w)
{
    while (w->nlive) {
        blk_t b = take_out(w, w->nlive - 1u);
        model_release(w, &b);
    }
}
