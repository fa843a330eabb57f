/* tests/fuzz/fuzz_arena_oom.c — the out-of-memory chain under the arena harness: every
 * allocation the harness makes is a call (fz_call), each out-of-memory report is checked
 * against the chains that call can run (section "Calls"), and the user code inside a chain
 * comes from the input (section "Callbacks"): each arena's reclaim and soft-budget callbacks,
 * and what its ABORT step's handler does (returns, longjmps back to the call, allocates).
 * fz_fatal, the harness's fatal handler, also records the bad-pointer faults that
 * fuzz_arena_ops.c expects.
 *
 * Who may use it: the arena harness's files (fuzz_arena.h). Concurrency: callbacks run on the
 * thread whose allocation ran the chain, the worker's included, while the other waits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "talc/stats.h"

#include "fuzz_arena.h"

/* ---- Calls --------------------------------------------------------------------------------
 * Every allocation the harness makes is a call: opened before the allocator runs it, closed
 * after, so that each TALC_FAULT_OUT_OF_MEMORY report (an ABORT step, talc/arena.h) is
 * checked against the chains: it belongs to the innermost open call, names an arena whose
 * chain that call can run (the arena asked or a fallback it reaches) and that has an ABORT
 * step, comes no more often than the call can run that chain (fz_runs), and never for an
 * arena whose reclaim callback or ABORT handler runs (the library skips both steps for it:
 * no re-entry). A call to an arena with an ABORT step (before any FAIL) that gives NULL +
 * ENOMEM must have had its report; one whose handler returned gives NULL + ENOMEM; one that
 * succeeds had none from that arena.
 *
 * A handler that longjmps out leaves the library's note of its arena behind, and until a
 * chain runs from a frame at or above the abandoned one, chains deeper than it skip that
 * arena's RECLAIM and ABORT (docs/arenas.md, "Out-of-memory policy"). So after an operation
 * in which a handler longjmped the driver runs the drain: an allocation from "fzdrain" (chain
 * {ABORT}) that fails, made from the driver's own frame, above every call; until then a
 * missing report is forgiven (fz.stale). Whether the drain's frame was above the abandoned
 * ones is measured, not assumed: the handler's frame address is compared. */

static bool fz_noted(const talc_arena_t *a)
{
    for (unsigned i = 0; i < fz.nuser; i++)
        if (fz.user[i] == a)
            return true;
    return false;
}

static void fz_user_push(talc_arena_t *a)
{
    if (fz.nuser == 2 * FZ_CALLS)
        fz_die("callbacks nested deeper than %d", 2 * FZ_CALLS);
    fz.user[fz.nuser++] = a;
}

/* Does a's chain report when it runs out: an ABORT step before any FAIL? */
static bool fz_has_abort(const talc_arena_t *a)
{
    if (a && a == fz.drain)
        return true;
    const fz_slot_t *sl = fz_slot_of(a);
    for (unsigned k = 0; sl && k < TALC_OOM_CHAIN_MAX; k++) {
        talc_oom_step_t st = sl->cfg.oom_chain[k];
        if (st == TALC_OOM_STEP_END || st == TALC_OOM_STEP_FAIL)
            return false;
        if (st == TALC_OOM_STEP_ABORT)
            return true;
    }
    return false;
}

/* How many times can an allocation from a (at `hops` fallback hops) run r's chain? Once if r
 * is a, plus as often as each FALLBACK step that a's chain can reach (before FAIL and ABORT,
 * which end it) runs it: a chain may name FALLBACK more than once. Hops are bounded at 4
 * (oom.c); the harness makes no fallback cycle. */
static unsigned fz_runs(const talc_arena_t *a, const talc_arena_t *r, unsigned hops)
{
    unsigned n = a == r;
    const fz_slot_t *sl = fz_slot_of(a);
    talc_arena_t *fb = sl && sl->cfg.fallback ? fz.slot[sl->cfg.fallback[2] - '0'].a : NULL;
    for (unsigned k = 0; fb && hops < 4 && k < TALC_OOM_CHAIN_MAX; k++) {
        talc_oom_step_t st = sl->cfg.oom_chain[k];
        if (st == TALC_OOM_STEP_END || st == TALC_OOM_STEP_FAIL || st == TALC_OOM_STEP_ABORT)
            break;
        if (st == TALC_OOM_STEP_FALLBACK)
            n += fz_runs(fb, r, hops + 1);
    }
    return n;
}

static unsigned fz_reported(const fz_call_t *c, const talc_arena_t *a)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->nrep; i++)
        n += c->rep[i] == a;
    return n;
}

fz_call_t *fz_call_open(talc_arena_t *asked)
{
    if (fz.ncalls == FZ_CALLS)
        fz_die("calls nested deeper than %d", FZ_CALLS);
    fz_call_t *c = &fz.call[fz.ncalls++];
    c->asked = asked;
    c->nrep = 0;
    c->nuser = fz.nuser;
    c->must_fit = 0;
    return c;
}

/* Close the innermost call, which gave p with errno e (FZ_JUMPED: its handler longjmped). */
void fz_call_close(const void *p, int e)
{
    fz_call_t *c = &fz.call[--fz.ncalls];
    fz.nuser = c->nuser; /* (a longjmp skips no callback of the harness: see fz_oom_report) */
    const char *name = talc_arena_name(c->asked);
    bool rep = fz_reported(c, c->asked) != 0;
    talc_arena_stats_t st;
    if (c->must_fit && (!p || talc_arena_get_stats(c->fit_arena, &st) != 0 ||
                        st.oom_ok[TALC_OOM_STEP_RECLAIM] == c->fit_ok))
        fz_die("%s: the reclaim callback freed a block of %zu B or more, yet the retry failed "
               "(call gave %p)",
               talc_arena_name(c->fit_arena), c->must_fit, p);
    if (e == FZ_JUMPED)
        return;
    if (p && rep)
        fz_die("%s reported out of memory, yet the call gave %p", name, p);
    if (!p && rep && e != ENOMEM)
        fz_die("%s: the handler of its ABORT step returned, then errno %d (want ENOMEM)", name, e);
    if (!p && e == ENOMEM && !rep && fz_has_abort(c->asked) && !fz_noted(c->asked) && !fz.stale)
        fz_die("%s ran out (ENOMEM) with an ABORT step in its chain, and no report came", name);
}

static char *fz_do(const fz_req_t *r)
{
    switch (r->kind) {
    case FZ_CALLOC:
        return talc_arena_calloc(r->arena, r->m, r->n);
    case FZ_ALIGNED:
        return talc_arena_aligned_alloc(r->arena, r->m, r->n);
    case FZ_REALLOC:
        return talc_arena_realloc(r->arena, r->old, r->n);
    default:
        return talc_arena_malloc(r->arena, r->n);
    }
}

/* Run one allocation as a call; *e gets its errno, or FZ_JUMPED. Never inlined: the drain
 * relies on every call's frame being below the driver's. */
__attribute__((noinline)) char *fz_call(const fz_req_t *r, int *e)
{
    fz_call_t *c = fz_call_open(r->asked);
    if (setjmp(c->back) != 0) {
        *e = FZ_JUMPED;
        fz_call_close(NULL, FZ_JUMPED);
        return NULL;
    }
    errno = 0;
    char *p = fz_do(r);
    *e = errno;
    fz_call_close(p, *e);
    return p;
}

/* ---- Callbacks ----------------------------------------------------------------------------
 * Each arena's reclaim and soft-budget callbacks get its slot as context; what they do comes
 * from the slot (fz_config, in fuzz_arena_slots.c), their sizes and arenas from fz.cb_rng. A
 * callback allocates only while fewer than FZ_CB_DEPTH calls are open and the block table has
 * room for the calls still to return; it never frees the block a realloc is working on
 * (fz.busy). */

static uint32_t fz_cb_rand(void)
{
    uint32_t x = fz.cb_rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return fz.cb_rng = x;
}

/* A size for a callback's block: small, or (bounded) what the chain wanted. */
static size_t fz_cb_size(size_t wanted)
{
    uint32_t r = fz_cb_rand();
    if (r & 1)
        return wanted < (256u << 10) ? wanted : (size_t)(256u << 10);
    return r % 512 + 1;
}

/* Another live arena than a (the default one at least). */
static talc_arena_t *fz_cb_other(const talc_arena_t *a)
{
    unsigned s = fz_cb_rand() % (FZ_SLOTS + 1);
    for (unsigned k = 0; k <= FZ_SLOTS; k++) {
        talc_arena_t *o = fz_arena((s + k) % (FZ_SLOTS + 1));
        if (o && o != a)
            return o;
    }
    return talc_arena_default();
}

/* A callback's malloc or calloc of n bytes from a, as a call, recorded like an operation's. */
static void fz_cb_alloc(talc_arena_t *a, size_t n)
{
    if (fz.ncalls >= FZ_CB_DEPTH || fz.nblk + FZ_CALLS + 2 >= FZ_MAX_BLOCKS)
        return;
    bool zero = fz_cb_rand() & 1;
    fz_req_t r = {zero ? FZ_CALLOC : FZ_MALLOC, a, a, NULL, n, 1};
    int e;
    char *p = fz_call(&r, &e);
    fz_after_alloc(p, n, 0, a, zero, e);
}

static size_t fz_free_block(size_t i)
{
    fz_check_block(i);
    size_t us = talc_usable_size(fz.blk[i].p);
    talc_free(fz.blk[i].p);
    fz_drop(i);
    return us;
}

/* Free up to k of a's blocks among the first `below` of the table, the newest first (a
 * callback that allocated passes the count from before, to free an older block than its
 * own); their usable bytes. */
static size_t fz_free_some(const talc_arena_t *a, unsigned k, size_t below)
{
    size_t freed = 0;
    for (size_t i = below < fz.nblk ? below : fz.nblk; i-- > 0 && k > 0;)
        if (fz.blk[i].owner == a && i != fz.busy) {
            freed += fz_free_block(i);
            k--;
        }
    return freed;
}

/* Does the slot's chain have `step` before its end (FAIL, ABORT or END)? */
static bool fz_chain_has(const fz_slot_t *sl, talc_oom_step_t step)
{
    for (unsigned k = 0; k < TALC_OOM_CHAIN_MAX; k++) {
        talc_oom_step_t st = sl->cfg.oom_chain[k];
        if (st == TALC_OOM_STEP_END || st == TALC_OOM_STEP_FAIL || st == TALC_OOM_STEP_ABORT)
            return false;
        if (st == step)
            return true;
    }
    return false;
}

/* Will the chain's retry find a block of `wanted` bytes that the free of block i gives back?
 * Without a thread cache the free reaches the stripe (retried in every stripe). A segment the
 * free emptied and gave back went to the source, which the retry takes it back from only when
 * the chain has GROW (the retry grows no arena whose chain does not: arenas/oom.c), and only
 * with nothing borrowed (the reserve's guaranteed minimums could refuse a borrowed one). If
 * so, the innermost call (whose chain runs the callback) notes it, with the RECLAIM step's
 * successes so far. Frees block i; returns its usable size. (Until 2026-12-07 a segment that
 * went back counted without GROW, and the fuzzer failed the library's rule.) */
static size_t fz_free_must_fit(const fz_slot_t *sl, size_t i, size_t wanted)
{
    talc_arena_stats_t st;
    bool fit = !(TALC_TCACHE && sl->cfg.thread_cache == TALC_TCACHE_ON) &&
               talc_arena_get_stats(sl->a, &st) == 0 && st.borrowed_bytes == 0;
    size_t held = fit ? st.source_bytes : 0, freed = fz_free_block(i);
    talc_arena_stats_t now;
    if (!fit || talc_arena_get_stats(sl->a, &now) != 0 ||
        (now.source_bytes < held && !fz_chain_has(sl, TALC_OOM_STEP_GROW)))
        return freed;
    fz_call_t *c = &fz.call[fz.ncalls - 1];
    c->must_fit = wanted;
    c->fit_arena = sl->a;
    c->fit_ok = st.oom_ok[TALC_OOM_STEP_RECLAIM];
    return freed;
}

/* Free the arena's largest block if it holds `wanted` bytes (then the retry must succeed),
 * else up to two blocks; says how much it freed. */
static size_t fz_reclaim_honest(const fz_slot_t *sl, size_t wanted)
{
    size_t best = SIZE_MAX, best_us = 0;
    for (size_t i = 0; i < fz.nblk; i++) {
        if (fz.blk[i].owner != sl->a || i == fz.busy)
            continue;
        size_t us = talc_usable_size(fz.blk[i].p);
        if (best == SIZE_MAX || us > best_us) {
            best = i;
            best_us = us;
        }
    }
    if (best == SIZE_MAX || best_us < wanted)
        return fz_free_some(sl->a, 2, fz.nblk);
    return fz_free_must_fit(sl, best, wanted);
}

size_t fz_reclaim(talc_arena_t *a, size_t wanted, void *ctx)
{
    const fz_slot_t *sl = ctx;
    if (sl->a != a)
        fz_die("reclaim callback for \"%s\" with the context of \"%s\"", talc_arena_name(a),
               sl->name);
    if (!fz.ncalls)
        fz_die("reclaim callback of \"%s\" outside an allocation", sl->name);
    if (fz_noted(a))
        fz_die("reclaim callback of \"%s\" re-entered", sl->name);
    fz_user_push(a);
    size_t freed = 0, before = fz.nblk;
    switch (sl->reclaim) {
    case FZ_RECLAIM_ALLOC_SAME:
        fz_cb_alloc(a, fz_cb_size(wanted));
        freed = fz_free_some(a, 1, before);
        break;
    case FZ_RECLAIM_ALLOC_OTHER:
        fz_cb_alloc(fz_cb_other(a), fz_cb_size(wanted));
        freed = fz_free_some(a, 1, before);
        break;
    case FZ_RECLAIM_LIE:
        freed = wanted ? wanted : 1;
        break;
    case FZ_RECLAIM_NONE:
        break;
    default:
        freed = fz_reclaim_honest(sl, wanted);
    }
    fz.nuser--;
    return freed;
}

void fz_soft(talc_arena_t *a, size_t footprint, size_t soft, void *ctx)
{
    fz_slot_t *sl = ctx;
    if (!sl->a)
        sl->a = a; /* crossed by initial_size: create calls back before it returns */
    if (sl->a != a)
        fz_die("soft-budget callback for \"%s\" with the context of \"%s\"", talc_arena_name(a),
               sl->name);
    if (soft != sl->cfg.soft_budget || footprint < soft)
        fz_die("soft-budget callback with footprint %zu, budget %zu (configured %zu)", footprint,
               soft, sl->cfg.soft_budget);
    size_t before = fz.nblk;
    switch (sl->soft) {
    case FZ_SOFT_ALLOC_SAME:
        fz_cb_alloc(a, fz_cb_rand() % 4096 + 1);
        (void)fz_free_some(a, 1, before);
        break;
    case FZ_SOFT_ALLOC_OTHER:
        fz_cb_alloc(fz_cb_other(a), fz_cb_rand() % 4096 + 1);
        break;
    case FZ_SOFT_FREE:
        (void)fz_free_some(a, 1, fz.nblk);
        break;
    default:
        break;
    }
}

static talc_arena_t *fz_arena_named(const char *name)
{
    if (name && fz.drain && strcmp(name, talc_arena_name(fz.drain)) == 0)
        return fz.drain;
    for (unsigned s = 0; name && s < FZ_SLOTS; s++)
        if (fz.slot[s].a && strcmp(name, fz.slot[s].name) == 0)
            return fz.slot[s].a;
    return NULL;
}

/* An ABORT step's report. A longjmp goes back to the innermost call, which the report belongs
 * to: between that call's setjmp and here runs library code only (a callback's allocation is
 * a call of its own), so the jump skips no callback of the harness. */
static __attribute__((noinline)) void fz_oom_report(const talc_fault_info_t *info)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    const char *name = info->heap_name ? info->heap_name : "(null)";
    if (!fz.ncalls)
        fz_die("out-of-memory report for \"%s\" outside an allocation", name);
    fz_call_t *c = &fz.call[fz.ncalls - 1];
    talc_arena_t *r = fz_arena_named(info->heap_name);
    if (!r)
        fz_die("out-of-memory report names \"%s\", no arena of the harness", name);
    if (info->address)
        fz_die("out-of-memory report for \"%s\" with address %p (want NULL)", name, info->address);
    if (fz_noted(r))
        fz_die("out-of-memory report for \"%s\" while its reclaim callback or ABORT handler "
               "runs (re-entered)",
               name);
    unsigned runs = fz_has_abort(r) ? fz_runs(c->asked, r, 0) : 0;
    if (fz_reported(c, r) >= runs || c->nrep == FZ_REPORTS)
        fz_die("out-of-memory report %u for \"%s\" in a call to \"%s\", which can reach an "
               "ABORT step of it %u times",
               fz_reported(c, r) + 1, name, talc_arena_name(c->asked), runs);
    c->rep[c->nrep++] = r;
    if (r == fz.drain) {
        fz.drain_frame = here;
        return;
    }
    const fz_slot_t *sl = fz_slot_of(r);
    if (sl->abort_mode == FZ_ABORT_JUMP && !fz_on_worker) {
        fz.stale++;
        if (here > fz.stale_frame)
            fz.stale_frame = here;
        longjmp(c->back, 1);
    }
    if (sl->abort_mode == FZ_ABORT_ALLOC) {
        fz_user_push(r);
        fz_cb_alloc(r, fz_cb_size(64u << 10)); /* skips RECLAIM and ABORT: no second report */
        fz_cb_alloc(fz_cb_other(r), fz_cb_rand() % 512 + 1);
        fz.nuser--;
    }
}

void fz_fatal(const talc_fault_info_t *info, void *ctx)
{
    (void)ctx;
    if (info->fault == TALC_FAULT_OUT_OF_MEMORY) {
        fz_oom_report(info);
        return;
    }
    fz.faults++;
    fz.fault = info->fault;
    snprintf(fz.fault_arena, sizeof fz.fault_arena, "%s",
             info->heap_name ? info->heap_name : "(null)");
    if (!fz.expect_fault)
        fz_die("unexpected fault %d in \"%s\" at %p: %s", (int)info->fault, fz.fault_arena,
               info->address, info->what ? info->what : "");
}
