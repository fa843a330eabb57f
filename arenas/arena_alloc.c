/* arena_alloc.c — allocation through arenas: malloc, calloc, aligned, realloc, free, usable size.
 *
 * Fast path: pick the thread's stripe (dispatch.c), lock it, run the heap engine, update the
 * stripe's seqlock counters, unlock. On failure the arena's OOM policy chain runs (oom.c) with
 * no lock held. free finds the owning segment through the owner map (O(1), lock-free), locks
 * that stripe and frees there, so counters are charged to the owner whichever thread frees.
 *
 * Concurrency: all functions may run on any thread at any time (talc/arena.h matrix).
 */
#include <errno.h>
#include <string.h>

#include "arena_internal.h"
#include "tcache.h"
#include "heap_internal.h"
#include "oom_internal.h"

static void talc_lock_owner(talc_stripe_t *s)
{
    if (TALC_LIKELY(talc_stripe_trylock(s)))
        return;
    talc_stripe_lock(s);
    talc_stats_add(&s->st.contended, 1);
}

void *talc_stripe_alloc(talc_stripe_t *s, size_t n, size_t align)
{
    talc_heap_t *h = talc_stripe_heap(s);
    void *p = align > TALC_MIN_ALIGN ? talc_heap_alloc_aligned(h, n, align) : talc_heap_alloc(h, n);
    talc_stats_add(&s->st.allocs, p != NULL);
    return p;
}

/* The stripe path: a block from the thread's stripe, else the OOM chain. */
static void *talc_arena_alloc_locked(talc_arena_t *a, size_t n, size_t align,
                                     const talc_oom_path_t *from)
{
    talc_stripe_t *s = talc_dispatch_lock_stripe(a, n);
    void *p = talc_stripe_alloc(s, n, align);
    talc_stripe_unlock(s);
    if (TALC_LIKELY(p != NULL))
        return p;
    return talc_oom_chain(a, n, align, from);
}

void *talc_arena_alloc_impl(talc_arena_t *a, size_t n, size_t align, const talc_oom_path_t *from)
{
    if (n < a->tc_req_lim && align <= TALC_MIN_ALIGN) {
        void *p = talc_tcache_alloc(a, n);
        if (TALC_LIKELY(p != NULL))
            return p;
    }
    return talc_arena_alloc_locked(a, n, align, from);
}

static talc_arena_t *talc_pick(talc_arena_t *a) { return a ? a : talc_route(); }

/* talc_arena_malloc's cache miss: fill (without popping again), else the stripe path. */
static __attribute__((noinline)) void *talc_arena_malloc_miss(talc_arena_t *a, size_t n)
{
    void *p = talc_tcache_alloc_slow(a, n);
    if (TALC_LIKELY(p != NULL))
        return p;
    return talc_arena_alloc_locked(a, n, 0, NULL);
}

/* talc_arena_malloc(NULL, n) before the default arena exists: create it. The recursion is one
 * level deep: the call back passes the arena, never NULL. */
/* NOLINTNEXTLINE(misc-no-recursion) */
TALC_COLD static __attribute__((noinline)) void *talc_arena_malloc_first(size_t n)
{
    talc_arena_t *a = talc_arena_default();
    if (TALC_UNLIKELY(!a)) {
        errno = ENOMEM;
        return NULL;
    }
    return talc_arena_malloc(a, n);
}

void *talc_arena_malloc(talc_arena_t *a, size_t n) /* NOLINT(misc-no-recursion): see above */
{
    if (!a) {
        a = talc_route_quick();
        if (TALC_UNLIKELY(!a))
            return talc_arena_malloc_first(n);
    }
    if (n < a->tc_req_lim) {
        void *p = talc_tcache_pop(a, n); /* the cache hit: no call, no frame */
        if (TALC_LIKELY(p != NULL))
            return p;
        return talc_arena_malloc_miss(a, n); /* a tail call */
    }
    return talc_arena_alloc_locked(a, n, 0, NULL);
}

/* A request refused for its arguments (a calloc whose size overflows, an alignment that is
 * not a power of two) is a failed allocation too, counted in the arena's `failed` as the
 * engine counts its own (until 2026-12-06 these two were not; found by a review). */
TALC_COLD static void *talc_arena_refuse(talc_arena_t *a, int err)
{
    a = talc_pick(a);
    if (a)
        talc_oom_failed(a);
    errno = err;
    return NULL;
}

void *talc_arena_calloc(talc_arena_t *a, size_t nmemb, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(nmemb, size, &n))
        return talc_arena_refuse(a, ENOMEM);
    talc_ts.fresh_block = NULL;
    void *p = talc_arena_malloc(a, n);
    if (p && p != talc_ts.fresh_block) /* a fresh OS segment's first block is zero already */
        memset(p, 0, n);
    else if (p)
        talc_mark_defined(p, n); /* for memcheck, whose view is malloc's: undefined */
    return p;
}

void *talc_arena_aligned_alloc(talc_arena_t *a, size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0)
        return talc_arena_refuse(a, EINVAL);
    a = talc_pick(a);
    if (TALC_UNLIKELY(!a)) {
        errno = ENOMEM;
        return NULL;
    }
    return talc_arena_alloc_impl(a, size, align, NULL);
}

/* ---- Owner-side operations ----------------------------------------------------------------*/

TALC_INLINE talc_seg_t *talc_owner_or_fault(const void *p, const char *what)
{
    talc_seg_t *g = talc_seg_of(p);
    if (TALC_UNLIKELY(!g))
        talc_fatal_report(TALC_FAULT_BAD_POINTER, "unowned", p, what);
    return g;
}

/* Before the heap reads p's header and past it (the header above, or a free chunk's footer):
 * does the header lie inside p's segment g (not so for p at its first byte), and does the
 * chunk it claims end inside g? The heap checks all else about a header, but in a release
 * build not its span's end (that takes a search of its spans), and the header at a pointer
 * no allocation returned may claim any size. The whole 48-bit size field is compared, so a
 * 32-bit target's size_t cannot truncate it. false: reported to the fatal handler. */
static __attribute__((noinline)) bool talc_chunk_in_seg(const talc_seg_t *g, const void *p)
{
    size_t below = (size_t)((const char *)p - g->base);
    uint64_t w = 0;
    if (TALC_LIKELY(below >= TALC_HDR)) {
        /* misaligned: not read here (w = 0), the heap reports it before reading */
        w = ((uintptr_t)p & (TALC_HDR - 1u)) ? 0 : talc_tc_header(p);
        if (TALC_LIKELY((w & TALC_SIZE_MASK) <= (uint64_t)(g->size - below) &&
                        talc_hslack(w) != TALC_SLACK_HELD))
            return true;
    }
    bool held = talc_hslack(w) == TALC_SLACK_HELD; /* a thread cache holds it: it was freed */
    talc_fatal_report(held ? TALC_FAULT_DOUBLE_FREE : TALC_FAULT_BAD_POINTER, g->arena->name, p,
                      held ? "block is already free" : "pointer is not a live block");
    return false;
}

/* errno is kept: a futex wait may set it, and free must not change it (POSIX.1-2024). */
void talc_free_locked(talc_seg_t *g, void *p)
{
    if (TALC_UNLIKELY(!talc_chunk_in_seg(g, p)))
        return;
    int saved = errno;
    talc_stripe_t *s = g->stripe;
    bool remote = s != talc_ts.last && s != talc_ts.last_large;
    talc_lock_owner(s);
    /* With the span, the heap checks that the neighbours it merges with are free chunks it
     * wrote: an overrun of the block below into a header's flags would have it unlink user
     * data (a SIGSEGV here, or a block handed out twice later). Reported; p stays allocated. */
    size_t merged = talc_heap_free_merged(talc_stripe_heap(s), p, g->span);
    /* merged == 0: the heap rejected p (double free, not a block start) and the fatal handler
     * returned; nothing was freed, so nothing is counted. */
    talc_stats_add(&s->st.frees, merged != 0);
    if (remote && merged)
        talc_stats_add(&s->st.remote_frees, 1);
    if (TALC_UNLIKELY(merged == g->empty_chunk))
        talc_seg_after_free(s, g); /* the block's span is now one free chunk: empty */
    talc_stripe_unlock_freed(s);
    errno = saved;
}

/* Every path out of talc_free ends in a tail call, so the cached free needs no stack frame. */
void talc_free(void *p)
{
    if (!p)
        return;
    talc_seg_t *g = talc_owner_or_fault(p, "free of a pointer no arena owns");
    if (TALC_UNLIKELY(!g))
        return;
#if TALC_TCACHE
    talc_tcache_free(g->arena, g, p); /* an arena without caches: its slow path */
#else
    talc_free_locked(g, p);
#endif
}

size_t talc_usable_size(const void *p)
{
    if (!p)
        return 0;
    talc_seg_t *g = talc_owner_or_fault(p, "usable size of a pointer no arena owns");
    if (!g || !talc_chunk_in_seg(g, p))
        return 0;
    talc_stripe_t *s = g->stripe;
    talc_stripe_lock_noted(s);
    size_t n = talc_heap_usable_size(talc_stripe_heap(s), p);
    talc_stripe_unlock(s);
    return n;
}

talc_arena_t *talc_arena_of(const void *p)
{
    talc_seg_t *g = talc_seg_of(p);
    return g ? g->stripe->arena : NULL;
}

/* A move of p inside stripe s (locked) that copies `keep` bytes with no lock held: allocate,
 * release, copy, lock again, free p. Meanwhile the heap's counters count both blocks live, as
 * talc_locked_realloc's do (heap_locked.c). If the heap has no other chunk for n bytes, NULL:
 * the owner's chain grows and the caller copies with no lock held; only as the `last` resort,
 * once the chain failed, does talc_heap_realloc move it under the lock (it may slide the block
 * down; until 2026-12-06 it did so first, in an arena that could grow; found by a review).
 * Returns with s locked: the new block, or NULL (p unchanged). */
TALC_COLD static __attribute__((noinline)) void *
talc_realloc_unlocked(talc_stripe_t *s, void *p, size_t n, size_t keep, bool last)
{
    talc_heap_t *h = talc_stripe_heap(s);
    void *q = talc_heap_alloc(h, n);
    if (!q) {
        TALC_CNT(h, failed_allocs, -= 1); /* one realloc: talc_heap_realloc counts its failure */
        return last ? talc_heap_realloc(h, p, n) : NULL;
    }
    talc_stripe_unlock(s);
    memcpy(q, p, keep);
    talc_lock_owner(s);
    talc_heap_free(h, p);
    return q;
}

/* Resize inside the owner's stripe; NULL if the heap has no room there. *old gets the block's
 * usable size, read under the same lock (0: the heap rejected p and the fatal handler
 * returned). A block of TALC_REALLOC_UNLOCKED_COPY bytes or more that moves is copied with no
 * lock held, so the stripe's other threads do not wait for the copy. `last`: the owner's
 * chain found no memory for a move; a block crossing TALC_LARGE_MIN is resized here too, and
 * a large block may slide down under the lock (talc_realloc_unlocked). */
static void *talc_realloc_in_stripe(talc_seg_t *g, void *p, size_t n, size_t *old, bool last)
{
    *old = 0;
    if (TALC_UNLIKELY(!talc_chunk_in_seg(g, p)))
        return NULL;
    talc_stripe_t *s = g->stripe;
    talc_lock_owner(s);
    talc_heap_t *h = talc_stripe_heap(s);
    void *q = NULL;
    *old = talc_heap_usable_size(h, p);
    /* Growing or shrinking in place merges with the chunk above when its header says free:
     * one an overrun made say so is live (as talc_free_locked checks). */
    if (*old && TALC_UNLIKELY(!talc_heap_merge_check(h, g->span, p)))
        *old = 0;
    size_t keep = *old < n ? *old : n;
#if TALC_REALLOC_UNLOCKED_COPY > 0
    bool large = keep >= TALC_REALLOC_UNLOCKED_COPY;
#else /* off: no comparison that gcc's -Wtype-limits would call always true */
    bool large = false;
#endif
    /* A block that crosses TALC_LARGE_MIN moves to the kind of stripe that serves its new
     * size (NULL with *old set: the caller allocates there and copies), unless that failed. */
    bool other = !last && (n >= TALC_LARGE_MIN) != (s->index == s->arena->nroute);
    if (*old && !other && !large)
        q = talc_heap_realloc(h, p, n);
    else if (*old && !other)
        q = talc_resize_large(s, g, p, n, *old) ? p : talc_realloc_unlocked(s, p, n, keep, last);
    if (q) {
        talc_stats_add(&s->st.reallocs, 1);
        if (q != p)
            talc_seg_after_free(s, g);
    }
    talc_stripe_unlock_dropped(s); /* (out of line: the inline form is the free path's) */
    return q;
}

/* realloc of a cache-sized block of an arena with thread caches, without a stripe lock: in
 * place when the size fits (talc_tcache_resize), else moved through the thread's cache when
 * the new size is cache-sized too. NULL: not done here (the locked path decides; a block
 * that is not plausibly live, a freed one included, goes there and to the fatal handler; one
 * that fits, when the thread's slot used last is another arena's, is resized in place there:
 * until 2026-12-06 it moved, found by a review). */
static void *talc_realloc_cached(talc_arena_t *a, talc_seg_t *g, void *p, size_t n)
{
    uint64_t w = talc_tc_header_of_user(g, p);
    if (!talc_tc_plausible(a, g, p, w))
        return NULL;
    if (talc_tcache_fits(a, w, n))
        return talc_tcache_resize(a, p, w, n) ? p : NULL;
    if (n > a->tc_max_req)
        return NULL;
    void *q = talc_tcache_alloc(a, n);
    if (!q)
        return NULL;
    size_t cap = talc_hsize(w) - TALC_HDR; /* what malloc_usable_size promised the caller */
    memcpy(q, p, cap < n ? cap : n);
    talc_free(p); /* (not talc_tcache_free: inlined once, in talc_free, it needs no frame) */
    return q;
}

void *talc_arena_realloc(talc_arena_t *a, void *p, size_t n)
{
    if (!p)
        return talc_arena_malloc(a, n);
    if (n == 0) {
        talc_free(p);
        return NULL;
    }
    talc_seg_t *g = talc_owner_or_fault(p, "realloc of a pointer no arena owns");
    if (!g)
        goto bad;
    if (g->arena->tc_on) {
        void *q = talc_realloc_cached(g->arena, g, p, n);
        if (q)
            return q;
    }
    /* In the owner's stripe first. If there is no room there, the owner arena's policy chain
     * finds memory, then we move; a new segment leaves room for half as much again above the
     * block (segment.c). Failing that, the block is resized in its stripe after all (`last`):
     * a shrink always succeeds (until 2026-12-06 one that crossed TALC_LARGE_MIN failed with
     * ENOMEM in a full arena; found by a review). */
    talc_arena_t *waits = NULL; /* the arena whose ABORT step the chain put off */
    for (bool last = false;; last = true) {
        size_t old;
        void *q = talc_realloc_in_stripe(g, p, n, &old, last);
        if (q)
            return q;
        if (last) {                            /* (errno as the chain left it, ENOMEM) */
            talc_oom_failed(g->stripe->arena); /* (the chain did not count it) */
            talc_oom_abort(waits);             /* the chain's ABORT step, if it put one off */
            return NULL;
        }
        if (!old)
            goto bad;
        /* The note is this call's alone: taken as soon as the chain returns, so that none is
         * left for user code that runs later (until 2026-12-07 a reclaim callback's realloc
         * left one, which its caller reported for the wrong arena; found by a review), and
         * the caller's (a realloc whose callback this is, noted at a FALLBACK arena's ABORT
         * before the callback ran) put back. */
        talc_arena_t *outer = talc_ts.abort_waits;
        talc_ts.abort_waits = NULL;
        /* Never 0: it marks the chain as a realloc's (oom.c). Until 2026-12-07 (n + 1) / 2,
         * which is 0 for n = SIZE_MAX: such a realloc counted `failed` twice (a review). */
        talc_ts.grow_extra = n / 2u + 1u;
        q = talc_arena_alloc_impl(g->stripe->arena, n, 0, NULL);
        talc_ts.grow_extra = 0;
        waits = talc_ts.abort_waits;
        talc_ts.abort_waits = outer;
        if (q) {
            memcpy(q, p, old < n ? old : n);
            talc_free(p);
            return q;
        }
    }
bad: /* the fatal handler was told, and returned */
    errno = EINVAL;
    return NULL;
}
