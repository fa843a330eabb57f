/* tests/common/shadow_verify.c — shadow_verify, the checks after every operation (listed in
 * shadow.h): talc_heap_check and no fault, the lock's use in the locked form, the spans in
 * claim order, every live block (alignment, usable size, inside a span, no overlap, no shared
 * line in cache-aligned mode, its pattern), the counters against the model's sums, and the
 * walk's chunks against the live blocks, and each chunk's poisoning (src/heap_poison.h) in
 * ASan builds and, under valgrind, in memcheck builds. All but the counters run under one
 * hold of the lock.
 *
 * Who may use it: shadow.h's callers; shadow_step and the life cycle after each change.
 * Concurrency: one model per thread.
 */
#include "shadow_internal.h"

#include <stdlib.h>

#include "asan_poison.h"

/* ---- Verification -------------------------------------------------------------------------*/

/* The model's span that holds p, or NULL. */
static shadow_span_t *span_of_addr(shadow_t *s, const void *p)
{
    for (size_t i = 0; i < s->nspans; i++)
        if (addr(p) >= addr(s->spans[i].base) && addr(p) < addr(s->spans[i].end))
            return &s->spans[i];
    return NULL;
}

/* The bytes of every span in the model: the managed_bytes counter. */
#if TALC_COUNTERS /* used only where counters exist */
static size_t expected_managed(const shadow_t *s)
{
    size_t m = 0;
    for (size_t i = 0; i < s->nspans; i++)
        m += (size_t)(s->spans[i].end - s->spans[i].base);
    return m;
}
#endif

static int cmp_block(const void *a, const void *b)
{
    uintptr_t x = addr((*(const shadow_block_t *const *)a)->ptr);
    uintptr_t y = addr((*(const shadow_block_t *const *)b)->ptr);
    return x < y ? -1 : x > y;
}

#ifdef TEST_ASAN
#define TEST_POISON 1
/* The first byte of [p, p + n) that is poisoned, or NULL. */
static const void *first_poisoned(const void *p, size_t n)
{
    return __asan_region_is_poisoned((void *)(uintptr_t)p, n);
}

/* The first granule of [lo, hi) (8-aligned) whose shadow byte is 0 (addressable), or hi. The
 * shadow is read directly: there is no "all poisoned" query in ASan's interface. */
static TEST_NO_ASAN const unsigned char *first_addressable(const unsigned char *lo,
                                                           const unsigned char *hi)
{
    size_t scale = 0, offset = 0;
    __asan_get_shadow_mapping(&scale, &offset);
    for (; lo < hi; lo += (size_t)1 << scale)
        if (*(const volatile unsigned char *)((addr(lo) >> scale) + offset) == 0)
            return lo;
    return hi;
}
#elif defined(TALC_MEMCHECK) && TALC_MEMCHECK
#define TEST_POISON 1
/* Memcheck's view, read with VALGRIND_GET_VBITS, which reports nothing (3: a byte of the
 * range is not addressable). Outside valgrind it answers 0 and nothing is checked. */
static bool mc_addressable(const void *p, size_t n)
{
    static unsigned char bits[256];
    for (size_t k = 0; k < n; k += sizeof bits) {
        size_t m = n - k < sizeof bits ? n - k : sizeof bits;
        if (VALGRIND_GET_VBITS((const char *)p + k, bits, m) == 3)
            return false;
    }
    return true;
}

static const void *first_poisoned(const void *p, size_t n)
{
    if (!RUNNING_ON_VALGRIND || mc_addressable(p, n))
        return NULL;
    for (size_t i = 0;; i++) /* a failure only: byte by byte */
        if (!mc_addressable((const char *)p + i, 1))
            return (const char *)p + i;
}

/* The first byte of [lo, hi) at a multiple of 8 from lo that is addressable, or hi. */
static const unsigned char *first_addressable(const unsigned char *lo, const unsigned char *hi)
{
    for (; RUNNING_ON_VALGRIND && lo < hi; lo += 8)
        if (mc_addressable(lo, 1))
            return lo;
    return hi;
}
#endif

#ifdef TEST_POISON
/* The head of a free chunk's inside that the library keeps poisoned (TALC_POISON_HEAD in
 * src/heap_poison.h, which bounds its poisoning: beyond that only freed blocks are). */
#define POISON_HEAD ((size_t)4096)

/* The library's poisoning of every chunk, as ASan or memcheck sees it (src/heap_poison.h): an
 * allocated chunk addressable whole, a free one addressable at its header, links and footer
 * and poisoned at the head of its inside. */
static int verify_poison(shadow_t *s)
{
    for (size_t i = 0; i < s->walk_n; i++) {
        const shadow_walk_rec_t *w = &s->walk[i];
        const unsigned char *c = w->ptr - SHADOW_HDR, *end = w->ptr + w->size;
        const unsigned char *in = c + SHADOW_HDR + 2 * sizeof(void *), *out = end - SHADOW_HDR;
        const void *bad =
            w->used ? first_poisoned(c, (size_t)(end - c)) : first_poisoned(c, (size_t)(in - c));
        if (!bad && !w->used)
            bad = first_poisoned(out, SHADOW_HDR);
        if (bad)
            FAIL("%s chunk %p (+%zu): byte %p poisoned", w->used ? "allocated" : "free", (void *)c,
                 (size_t)(end - c), bad);
        const unsigned char *head = (size_t)(out - in) > POISON_HEAD ? in + POISON_HEAD : out;
        const unsigned char *open = w->used || in >= out ? head : first_addressable(in, head);
        if (open < head)
            FAIL("free chunk %p (+%zu): byte %p of its inside not poisoned", (void *)c,
                 (size_t)(end - c), (void *)open);
    }
    return 0;
}
#endif

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
        size_t live = shadow_span_blocks(s, m);
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
        TRY(shadow_verify_block_prefix(s, b, b->len, "contents"));
    }
    return 0;
}

#if TALC_COUNTERS /* used only where counters exist */
static int verify_walk(shadow_t *s, const talc_heap_counters_t *c)
{
    TRY(shadow_walk(s));
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
    TRY(shadow_walk(s));
#endif
#ifdef TEST_POISON
    TRY(verify_poison(s));
#endif
    return 0;
}

int shadow_verify(shadow_t *s)
{
    TRY(verify_lock(s));
    talc_heap_counters_t c;
    sh_counters(s, &c); /* through the locked twin; the rest under one hold of the lock */
    bool taken = sh_hold(s);
    int rc = verify_held(s, &c);
    sh_unhold(s, taken);
    return rc == 0 ? verify_lock(s) : rc;
}
