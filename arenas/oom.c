/* oom.c — an arena's out-of-memory policy chain.
 *
 * When the thread's stripe has no fit, the configured steps run in order until one yields a
 * block: RECLAIM (the owner's callback frees memory, then retry in every stripe, and take back
 * from the source or the reserve what its frees gave back to them, where the chain has GROW or
 * BORROW), GROW (a new
 * segment from the source, within the hard budget; if the source refuses, the other stripes'
 * free memory, then their kept empty segments given back and the source once more), BORROW (a
 * segment from the reserve, within the borrow ceiling and the other arenas' guaranteed
 * minimums), FALLBACK (allocate from another named arena), FAIL (NULL + ENOMEM) or ABORT (the
 * fatal handler). Every step that runs is counted, and so is every step that succeeds. No
 * lock is held while a user callback runs, and neither the reclaim callback nor the ABORT
 * report is re-entered for one arena on one thread ("User code inside the chain").
 *
 * Concurrency: runs on the allocating thread with no allocator lock held; GROW and BORROW take
 * the stripe lock, then the grow and reserve locks (segment.c); the other stripes' locks are
 * taken one at a time, never two at once.
 */
#include <errno.h>

#include "arena_internal.h"
#include "heap_internal.h"
#include "tcache.h"
#include "oom_internal.h"

#define TALC_FALLBACK_DEPTH 4u

_Static_assert(TALC_OOM_STEP_BORROW == TALC_OOM_STEP_GROW + 1, "talc_oom_retry's step mask");

static const talc_oom_step_t talc_default_chain[TALC_OOM_CHAIN_MAX] = {
    TALC_OOM_STEP_GROW, TALC_OOM_STEP_BORROW, TALC_OOM_STEP_FAIL};
_Static_assert(TALC_OOM_STEP_FALLBACK < TALC_OOM_STEP_FAIL &&
                   TALC_OOM_STEP_FAIL < TALC_OOM_STEP_ABORT,
               "the steps that look for memory come before FAIL and ABORT");

/* Bytes of heap room a request needs, alignment slack included. */
static size_t talc_oom_need(size_t n, size_t align)
{
    size_t pad = align > TALC_MIN_ALIGN ? align : 0;
    if (n > SIZE_MAX / 4 || pad > SIZE_MAX / 4)
        return SIZE_MAX / 2;
    return n + pad + 256u;
}

/* Bytes held from the source (from the reserve when `borrowed`), read as statistics read them
 * (no lock: a figure, as talc_arena_get_stats gives it). */
static size_t talc_oom_held(const talc_arena_t *a, bool borrowed)
{
    return __atomic_load_n(borrowed ? &a->borrowed_bytes : &a->source_bytes, __ATOMIC_RELAXED);
}

/* The realloc hint. A realloc that moves its block asks, through talc_ts.grow_extra, for room
 * above it in the segment its owner's chain grows (segment.c). User code that the chain runs
 * allocates for itself, without the hint, which it would otherwise take for its own segments
 * (until 2026-12-06 a reclaim callback's malloc(100) in another arena, during a failing
 * realloc of 64 MiB, mapped a segment of 32 MiB; found by a review): the reclaim callback runs
 * with the hint cleared and put back after, as does a fatal handler (fatal.c); the
 * soft-budget callback (below) runs after the growth that ends the realloc's use of it, with
 * it cleared. A longjmp out of user code leaves it cleared, as the realloc would. The hint
 * also says that a chain is a realloc's (the ABORT step, the failure count). (A FALLBACK
 * arena's block is the realloc's new block: it keeps the hint.) */

/* The footprint passed on is the one the crossing saw under the grow lock: read again here,
 * after the locks are gone, a concurrent free's give-back may have lowered it below the
 * budget (found 2026-12-05). */
void talc_oom_soft_budget_fire(talc_arena_t *a)
{
    talc_ts.grow_extra = 0; /* the realloc hint (above) */
    /* relaxed: the figure this thread's crossing stored under the grow lock (or a later
     * crossing's, after a re-arm: at or above the budget all the same) */
    if (a->cfg.on_soft_budget)
        a->cfg.on_soft_budget(a, talc_atomic_load_relaxed_size(&a->soft_crossed_at),
                              a->cfg.soft_budget, a->cfg.budget_ctx);
}

/* p came from stripe s (locked) right after a segment was added to it. If p lies in that
 * segment (it is s->segs now) and the segment is fresh OS memory (zero-filled by mmap), p is
 * the segment's first block: scrub the engine's words out of it and note it as all-zero, so a
 * calloc of it does not touch its pages (a large calloc then costs no RSS it does not use). */
static void talc_oom_note_fresh(talc_stripe_t *s, void *p)
{
    talc_seg_t *g = s->segs;
    if (!p || !g || g->kind != TALC_SEG_OS || talc_seg_of(p) != g)
        return;
    talc_span_scrub_first(g->span, p);
    talc_ts.fresh_block = p;
}

/* One try at growing the calling thread's stripe for the request. *grew_rc gets
 * talc_seg_grow's result (0 when not called), *tried the stripe. */
static void *talc_oom_grow_once(talc_arena_t *a, size_t n, size_t align, bool borrow, int *grew_rc,
                                talc_stripe_t **tried)
{
    talc_stripe_t *s = talc_dispatch_lock_stripe(a, n);
    *tried = s;
    void *p = talc_stripe_alloc(s, n, align); /* another thread may have grown it already */
    int rc = 0;
    if (!p) {
        rc = talc_seg_grow(s, talc_oom_need(n, align), borrow);
        if (rc >= 0) {
            p = talc_stripe_alloc(s, n, align);
            talc_oom_note_fresh(s, p);
        }
    }
    talc_stripe_unlock(s);
    if (rc == 1)
        talc_oom_soft_budget_fire(a);
    *grew_rc = rc;
    return p;
}

/* A block from any stripe of `a` but `tried`, taking their locks one at a time: free memory
 * in one stripe is no use to the others' threads otherwise. */
static void *talc_oom_steal(talc_arena_t *a, size_t n, size_t align, const talc_stripe_t *tried)
{
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_t *o = talc_arena_stripe(a, i);
        if (o == tried)
            continue;
        talc_stripe_lock_noted(o);
        void *p = talc_stripe_alloc(o, n, align);
        talc_stripe_unlock(o);
        if (p)
            return p;
    }
    return NULL;
}

/* Grow from the source (or borrow). When the source refuses (the budget, or the OS; the
 * ceiling, or the reserve), the arena's memory is used before it fails: first the free memory
 * of its other stripes, then (not for a borrow: the reserve's ceiling does not count them) the
 * empty segments they keep for reuse, given back so that growing can try once more (they
 * count against the budget and the address space, and only their own stripe used them).
 * Until 2026-12-06 a borrow did not look in the other stripes: a reserve-source arena, whose
 * GROW does nothing, failed a thread's request at its ceiling with its other stripe half free
 * (found by a review). */
static void *talc_oom_grow(talc_arena_t *a, size_t n, size_t align, bool borrow)
{
    if (borrow ? !a->cfg.borrow_ceiling : a->cfg.source == TALC_SOURCE_RESERVE)
        return NULL;
    int rc;
    talc_stripe_t *tried;
    void *p = talc_oom_grow_once(a, n, align, borrow, &rc, &tried);
    if (p || rc >= 0 || talc_oom_need(n, align) >= SIZE_MAX / 2)
        return p; /* (a request no segment could hold: no reason to empty the others) */
    p = talc_oom_steal(a, n, align, tried);
    if (!p && !borrow && talc_seg_reclaim(a, false) != 0)
        p = talc_oom_grow_once(a, n, align, borrow, &rc, &tried);
    return p;
}

/* One more try after memory came back (the user's reclaim callback, the thread's cache): the
 * thread's stripe, then the others (the memory may have gone back to any of them). When the
 * arena held held[0] bytes from its source (held[1] from the reserve) before the memory came
 * back and holds less now, frees emptied segments that went back at once (borrowed ones,
 * oversized ones, a budgeted stripe's second empty one): that memory is the source's (the
 * reserve's) again, in no stripe, and the retry takes it back from there as GROW (BORROW)
 * would. (Before 2026-12-04 the reclaim's retry did not: with 4 KiB granules arena_oom's
 * reclaim test failed, whose one freed block emptied its budget-sized segment; with any
 * granule a block bigger than a segment did: arena_oom's reclaim_retry_* tests.) A segment
 * the frees emptied and its stripe kept for reuse is too small for the request, or a stripe
 * would have served it: the empty segments kept go back first, so that the retry can take
 * their memory back as one (until 2026-12-06 only a second call did; found by a review).
 * Growing takes a segment of the request's size, which may be more than went back: so the
 * retry grows (gives back the kept segments, borrows) only when the chain has GROW (BORROW)
 * itself; until 2026-12-06 a chain {RECLAIM, FAIL}, or {FAIL} with a thread cache, mapped new
 * memory here (found by a review). */
static void *talc_oom_retry(talc_arena_t *a, size_t n, size_t align, const size_t held[2])
{
    talc_stripe_t *s = talc_dispatch_lock_stripe(a, n);
    void *p = talc_stripe_alloc(s, n, align);
    talc_stripe_unlock(s);
    if (!p)
        p = talc_oom_steal(a, n, align, s);
    /* The steps the chain runs (none after a FAIL or an ABORT); BORROW is GROW + 1. */
    const talc_oom_step_t *c = a->cfg.oom_chain[0] ? a->cfg.oom_chain : talc_default_chain;
    unsigned has = 0;
    for (unsigned i = 0;
         i < TALC_OOM_CHAIN_MAX && c[i] != TALC_OOM_STEP_END && c[i] < TALC_OOM_STEP_FAIL; i++)
        has |= 1u << c[i];
    has >>= TALC_OOM_STEP_GROW;
    if (!p && (has & 1u))
        (void)talc_seg_reclaim(a, false);
    for (int borrow = 0; !p && borrow < 2; borrow++)
        if ((has >> borrow & 1u) && talc_oom_held(a, borrow) < held[borrow])
            p = talc_oom_grow(a, n, align, borrow);
    return p;
}

/* ---- User code inside the chain ------------------------------------------------------------
 * The reclaim callback and the ABORT step's fatal handler may allocate. An allocation of theirs
 * that runs out in the same arena ran the same step again, without end (a reviewer's handler
 * and callback each recursed until the stack overflowed), and a callback that holds a lock of
 * its own would deadlock on it instead. So the thread notes the arenas whose callback or
 * report it runs, and a chain of one of those arenas skips both steps (they fail there).
 * Each note keeps the address of the frame that runs the user code: a handler that longjmps
 * out leaves its note behind, and a chain drops the notes of frames at or below its own (a
 * frame that is still running is above every chain it calls, on one stack). A note left by a
 * longjmp can still skip a step for chains running deeper than its frame was, until a chain at
 * or above that depth drops it. The frame that adds a note puts the count back to what it was
 * when it returns, whatever happened in between (user code on another stack, a fiber or a
 * sigaltstack handler, may have dropped live notes; a longjmp inside the user code may have
 * left others): the count never leaves 0..TALC_OOM_NEST. At most TALC_OOM_NEST notes: a
 * deeper nesting skips both steps too. */
/* The notes are talc_ts.oom_nest (talc_tstate_t, arena_internal.h). */

/* Whether user code may run for `a` now (the notes of dead frames dropped first); if so, the
 * caller notes it with talc_oom_enter. `here` is an address in the caller's frame. */
static bool talc_oom_user_ok(const talc_arena_t *a, uintptr_t here)
{
    while (talc_ts.oom_nest.n && talc_ts.oom_nest.frame[talc_ts.oom_nest.n - 1] <= here)
        talc_ts.oom_nest.n--;
    if (talc_ts.oom_nest.n == TALC_OOM_NEST)
        return false;
    for (unsigned i = 0; i < talc_ts.oom_nest.n; i++)
        if (talc_ts.oom_nest.arena[i] == a)
            return false;
    return true;
}

/* Adds the note; returns the count to put back when the user code returns. */
static unsigned talc_oom_enter(const talc_arena_t *a, uintptr_t here)
{
    unsigned k = talc_ts.oom_nest.n;
    talc_ts.oom_nest.arena[k] = a;
    talc_ts.oom_nest.frame[k] = here;
    talc_ts.oom_nest.n = k + 1u;
    return k;
}

static void *talc_oom_reclaim(talc_arena_t *a, size_t n, size_t align)
{
    size_t held[2] = {talc_oom_held(a, false), talc_oom_held(a, true)};
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (!a->cfg.reclaim || !talc_oom_user_ok(a, here))
        return NULL;
    unsigned k = talc_oom_enter(a, here);
    size_t extra = talc_ts.grow_extra; /* the realloc hint (above) */
    talc_ts.grow_extra = 0;
    size_t freed = a->cfg.reclaim(a, talc_oom_need(n, align), a->cfg.reclaim_ctx);
    talc_ts.grow_extra = extra;
    talc_ts.oom_nest.n = k;
    /* The callback may have allocated a fresh block (noted by a nested chain for calloc) and
     * freed it dirty, where this step or the next may find it: the note goes, whatever the
     * callback returned (until 2026-12-06 only when it returned nonzero; found by a review). */
    talc_ts.fresh_block = NULL;
    if (!freed)
        return NULL;
    /* Its frees went to this thread's cache, if the arena has caches: back to the heaps first
     * (until 2026-12-06 the retry never saw them; found by a review). */
    (void)talc_tcache_release_own(a);
    return talc_oom_retry(a, n, align, held);
}

TALC_COLD void talc_oom_abort(talc_arena_t *a)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (!a || !talc_oom_user_ok(a, here))
        return;
    unsigned k = talc_oom_enter(a, here);
    talc_fatal_report(TALC_FAULT_OUT_OF_MEMORY, a->name, NULL,
                      "out of memory and the arena's policy is to abort");
    talc_ts.oom_nest.n = k;
    errno = ENOMEM; /* (the handler returned: the call fails) */
}

/* The arena a's FALLBACK step allocates from, or NULL. Found under the registry lock the first
 * time it exists (an RCU read would register the thread with liburcu-bp, which aborts the
 * process when it cannot map room for that: memory is short here), then kept: an arena that
 * another names as its fallback cannot be destroyed (talc_arena_destroy's -EPERM). */
static talc_arena_t *talc_oom_fallback_arena(talc_arena_t *a)
{
    talc_arena_t *fb = atomic_load_explicit(&a->fallback_arena, memory_order_acquire);
    if (fb || !a->cfg.fallback)
        return fb;
    (void)talc_arena_default(); /* the default arena is always there to be found */
    fb = talc_registry_find_locked(a->fallback, NULL, NULL);
    /* release: pairs with the acquire above in another thread (fb's contents are visible) */
    if (fb)
        atomic_store_explicit(&a->fallback_arena, fb, memory_order_release);
    return fb;
}

/* Whether arena a's chain has run for the request whose path is `path`. */
static bool talc_oom_on_path(const talc_oom_path_t *path, const talc_arena_t *a)
{
    for (; path; path = path->up)
        if (path->arena == a)
            return true;
    return false;
}

static void *talc_oom_step(talc_arena_t *a, talc_oom_step_t step, size_t n, size_t align,
                           const talc_oom_path_t *path)
{
    switch (step) {
    case TALC_OOM_STEP_RECLAIM:
        return talc_oom_reclaim(a, n, align);
    case TALC_OOM_STEP_GROW:
        return talc_oom_grow(a, n, align, false);
    case TALC_OOM_STEP_BORROW:
        return talc_oom_grow(a, n, align, true);
    case TALC_OOM_STEP_FALLBACK: {
        talc_arena_t *fb = talc_oom_fallback_arena(a);
        /* An arena on the path (a itself among them) ran its chain for this request
         * already: until 2026-12-07 a cycle ran it again at every hop, up to the bound, and
         * two arenas naming each other called the first one's reclaim callback 3 times. */
        if (!fb || talc_oom_on_path(path, fb) || path->depth >= TALC_FALLBACK_DEPTH)
            return NULL;
        return talc_arena_alloc_impl(fb, n, align, path);
    }
    case TALC_OOM_STEP_ABORT:
        /* A realloc's chain (its hint set: in its fallback arenas' chains too) has a last
         * resort still, the block's own stripe (arena_alloc.c): the report waits until that
         * fails too, and names the last arena whose ABORT the chain passed. Until 2026-12-07
         * it came first, and a shrink across TALC_LARGE_MIN in a full arena aborted the
         * process, though the block could shrink where it was (found by arena_model); a
         * FALLBACK arena's ABORT came first for some hours more (a limit the notes named). */
        if (talc_ts.grow_extra)
            talc_ts.abort_waits = a;
        else
            talc_oom_abort(a);
        return NULL;
    default:
        return NULL;
    }
}

void talc_oom_failed(talc_arena_t *a)
{
    talc_stripe_t *s = talc_dispatch_lock_stripe(a, 0);
    talc_stats_add(&s->st.failed, 1);
    talc_stripe_unlock(s);
}

/* Blocks this thread caches for `a` are not live: give them back and try once more, taking
 * back from the source what their segments gave back to it, as the reclaim's retry does
 * (until 2026-12-06 this retry did not grow, and the allocation failed once before the next
 * one succeeded; found by a review). Returns the block, or NULL (also when there was nothing
 * to give back). A damaged cached block goes to the fatal handler, user code that may have
 * left a dirty fresh block as the reclaim callback may: the calloc note goes. */
static void *talc_oom_flush_own(talc_arena_t *a, size_t n, size_t align)
{
    size_t held[2] = {talc_oom_held(a, false), talc_oom_held(a, true)};
    bool any = talc_tcache_release_own(a);
    talc_ts.fresh_block = NULL;
    return any ? talc_oom_retry(a, n, align, held) : NULL;
}

TALC_COLD void *talc_oom_chain(talc_arena_t *a, size_t n, size_t align, const talc_oom_path_t *from)
{
    const talc_oom_path_t path = {from, a, from ? from->depth + 1u : 0u};
    /* The thread's own cache goes back before the first step that is not GROW: growing within
     * the budget comes first (cached blocks are bounded; giving them all back each time a
     * stripe's segment fills would churn the cache), anything that costs another arena, the
     * reserve, the user's callback or the caller's allocation comes after (the arena's other
     * threads keep theirs until they exit or flush). */
    /* A request no heap could hold (either figure larger than any heap takes) skips the steps
     * that look for memory, and the cache stays: until 2026-12-07 a malloc of 2^50 bytes
     * called the reclaim callback, gave back the thread's cache and the stripes' kept
     * segments, and counted a refusal of the reserve (found by a review). FAIL and ABORT run
     * as for any failure. */
    bool none = (n | align) > TALC_MAX_REQUEST, flushed = !a->tc_on || none;
    const talc_oom_step_t *chain = a->cfg.oom_chain[0] ? a->cfg.oom_chain : talc_default_chain;
    for (unsigned i = 0; i < TALC_OOM_CHAIN_MAX && chain[i] != TALC_OOM_STEP_END; i++) {
        talc_oom_step_t step = chain[i];
        if (none && step < TALC_OOM_STEP_FAIL)
            continue;
        if (!flushed && step != TALC_OOM_STEP_GROW) {
            flushed = true;
            void *p = talc_oom_flush_own(a, n, align);
            if (p)
                return p;
        }
        /* A run counts as it starts (a snapshot taken while it runs, or after user code left
         * it by longjmp, sees it), its outcome as it ends: failures on a counter of their own,
         * which a Prometheus scrape reads as is (until 2026-12-07 it read runs - ok, which fell
         * when a step ran during one scrape and succeeded before the next; found by a review).
         * FAIL and ABORT never succeed: they count as failed as they start. */
        talc_stats_add_total(&a->oom.steps[step], 1);
        if (step >= TALC_OOM_STEP_FAIL) /* (release: after its run, as below) */
            atomic_fetch_add_explicit(&a->oom.step_failed[step], 1, memory_order_release);
        if (step == TALC_OOM_STEP_FAIL)
            break;
        void *p = talc_oom_step(a, step, n, align, &path);
        if (p) { /* release: a reader that sees this success sees the run counted above */
            atomic_fetch_add_explicit(&a->oom.step_ok[step], 1, memory_order_release);
            return p;
        }
        if (step == TALC_OOM_STEP_ABORT)
            break;
        atomic_fetch_add_explicit(&a->oom.step_failed[step], 1, memory_order_release);
    }
    if (!flushed) { /* a chain of GROW steps only */
        void *p = talc_oom_flush_own(a, n, align);
        if (p)
            return p;
    }
    /* One failure, in the arena asked: not once per fallback hop as well, and a realloc's
     * (its hint set) only if its last resort fails too (arena_alloc.c counts it). */
    if (!from && !talc_ts.grow_extra)
        talc_oom_failed(a);
    errno = ENOMEM;
    return NULL;
}
