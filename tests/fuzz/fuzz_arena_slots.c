/* tests/fuzz/fuzz_arena_slots.c — the arena harness's operations on arenas, one of four slots
 * ("fz0".."fz3") each: create, with its configuration taken from seven input bytes (source,
 * stripes, cache-aligned mode, thread cache, budgets, initial size, borrow ceiling, priority
 * and guarantee, buffer, callbacks' behaviour, OOM chain, fallback: never a cycle), destroy
 * (EBUSY with live blocks, EPERM for another arena's fallback, release all, the default arena
 * refused), and routing (scopes and binding, when the input turns it on).
 *
 * Who may use it: the driver (fuzz_arena.c). Concurrency: the harness thread.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_arena.h"

/* Does the fallback chain from slot `from`, through live slots, reach slot `to`? Mutual
 * fallbacks are supported (test_arena_oom.c) but can never be destroyed (each is the other's
 * fallback: -EPERM), so the harness does not close a cycle: its teardown destroys everything. */
static bool fz_fallback_reaches(unsigned from, unsigned to)
{
    for (unsigned hops = 0; hops <= FZ_SLOTS; hops++) {
        if (from == to)
            return true;
        const fz_slot_t *sl = &fz.slot[from];
        if (!sl->a || !sl->cfg.fallback)
            return false;
        from = (unsigned)(sl->cfg.fallback[2] - '0'); /* fallbacks are slot names, "fzN" */
    }
    return true;
}

/* Config from input bytes for slot s. */
static void fz_config(unsigned s)
{
    fz_slot_t *sl = &fz.slot[s];
    unsigned b0 = (unsigned)fz_take(1), b1 = (unsigned)fz_take(1), b2 = (unsigned)fz_take(1);
    unsigned chain = (unsigned)fz_take(2), b3 = (unsigned)fz_take(1);
    snprintf(sl->name, sizeof sl->name, "fz%u", s);
    talc_arena_config_t *c = &sl->cfg;
    *c = talc_arena_config_default(sl->name);
    c->source = (talc_source_t)(b0 % 3);
    c->stripes = (b0 >> 2) % 5; /* 0 = auto */
    c->cache_aligned = (b0 >> 5) & 1;
    c->thread_cache = (talc_tcache_mode_t)((b0 >> 6) % 3);
    static const size_t budgets[4] = {0, FZ_SIZE(256u << 10), FZ_SIZE(1u << 20), FZ_SIZE(4u << 20)};
    c->hard_budget = c->source == TALC_SOURCE_OS ? budgets[b1 % 4] : 0;
    c->soft_budget =
        (b1 >> 2) & 1 ? (c->hard_budget ? c->hard_budget / 2 : FZ_SIZE(512u << 10)) : 0;
    c->on_soft_budget = fz_soft;
    c->budget_ctx = sl;
    c->initial_size = (b1 >> 3) & 1 ? FZ_GRANULE : 0;
    static const size_t ceilings[4] = {0, FZ_SIZE(256u << 10), FZ_SIZE(1u << 20),
                                       FZ_SIZE(3u << 20)};
    c->borrow_ceiling = ceilings[(b1 >> 4) % 4];
    if (c->source == TALC_SOURCE_RESERVE && !c->borrow_ceiling)
        c->borrow_ceiling = FZ_SIZE(1u << 20);
    c->borrow_priority = (b1 >> 6) % 3;
    c->reserve_guaranteed = (b2 & 3) == 3 ? FZ_GRANULE * 4 : 0;
    c->reclaim = fz_reclaim;
    c->reclaim_ctx = sl;
    static const fz_reclaim_kind_t reclaims[8] = {
        FZ_RECLAIM_HONEST, FZ_RECLAIM_HONEST, FZ_RECLAIM_ALLOC_SAME, FZ_RECLAIM_ALLOC_OTHER,
        FZ_RECLAIM_LIE,    FZ_RECLAIM_NONE,   FZ_RECLAIM_HONEST,     FZ_RECLAIM_ALLOC_SAME};
    static const fz_abort_mode_t aborts[4] = {FZ_ABORT_RETURN, FZ_ABORT_JUMP, FZ_ABORT_ALLOC,
                                              FZ_ABORT_JUMP};
    sl->reclaim = reclaims[b3 % 8];
    sl->abort_mode = aborts[(b3 >> 3) % 4];
    sl->soft = (fz_soft_kind_t)((b3 >> 5) % 4);
    if (c->source == TALC_SOURCE_BUFFER) {
        c->buffer = fz_buffers + s * FZ_BUF_SIZE;
        c->buffer_size = FZ_BUF_SIZE / ((b2 >> 2) % 4 + 1);
    }
    /* OOM chain: up to four steps of reclaim / grow / borrow / fallback / fail / abort, or
     * the default. */
    if (chain % 4) {
        for (unsigned k = 0; k < 4; k++, chain >>= 3) {
            static const talc_oom_step_t steps[8] = {TALC_OOM_STEP_END,      TALC_OOM_STEP_RECLAIM,
                                                     TALC_OOM_STEP_GROW,     TALC_OOM_STEP_BORROW,
                                                     TALC_OOM_STEP_FALLBACK, TALC_OOM_STEP_FAIL,
                                                     TALC_OOM_STEP_GROW,     TALC_OOM_STEP_ABORT};
            c->oom_chain[k] = steps[chain & 7];
            if (c->oom_chain[k] == TALC_OOM_STEP_END)
                break;
        }
    }
    unsigned fb = (b2 >> 4) % (FZ_SLOTS + 1);
    if (fb < FZ_SLOTS && fb != s && !fz_fallback_reaches(fb, s)) {
        snprintf(sl->fallback, sizeof sl->fallback, "fz%u", fb);
        c->fallback = sl->fallback;
    }
}

bool fz_is_fallback_of_other(unsigned s)
{
    for (unsigned o = 0; o < FZ_SLOTS; o++)
        if (o != s && fz.slot[o].a && fz.slot[o].cfg.fallback &&
            strcmp(fz.slot[o].cfg.fallback, fz.slot[s].name) == 0)
            return true;
    return false;
}

void fz_op_create(void)
{
    fz.op = "create";
    unsigned s = (unsigned)fz_take(1) % FZ_SLOTS;
    fz_slot_t *sl = &fz.slot[s];
    if (sl->a) { /* a second arena of that name: EEXIST */
        errno = 0;
        if (talc_arena_create(&sl->cfg) || errno != EEXIST)
            fz_die("duplicate name \"%s\": errno %d", sl->name, errno);
        return;
    }
    fz_config(s);
    errno = 0;
    sl->a = talc_arena_create(&sl->cfg);
    if (!sl->a)
        fz_die("create \"%s\" (source %d) failed: errno %d", sl->name, (int)sl->cfg.source, errno);
    if (talc_arena_find(sl->name) != sl->a)
        fz_die("find(\"%s\") does not give the new arena", sl->name);
}

void fz_unroute(void)
{
    while (fz.scopes > 0) {
        if (talc_scope_pop() != 0)
            fz_die("scope_pop failed with %d scopes open", fz.scopes);
        fz.scopes--;
    }
    talc_thread_bind(NULL);
}

void fz_destroy_slot(unsigned s, unsigned flags)
{
    fz_slot_t *sl = &fz.slot[s];
    size_t live = 0;
    for (size_t i = 0; i < fz.nblk; i++)
        live += fz.blk[i].owner == sl->a;
    bool perm = fz_is_fallback_of_other(s);
    fz_unroute();
    int rc = talc_arena_destroy(sl->a, flags);
    if (perm) {
        if (rc != -EPERM)
            fz_die("destroy of another arena's fallback gave %d", rc);
        return;
    }
    if (live && !(flags & TALC_DESTROY_RELEASE_ALL)) {
        if (rc != -EBUSY)
            fz_die("destroy with %zu live blocks gave %d", live, rc);
        return;
    }
    if (rc != 0)
        fz_die("destroy gave %d", rc);
    for (size_t i = fz.nblk; i-- > 0;)
        if (fz.blk[i].owner == sl->a)
            fz_drop(i);
    if (talc_arena_find(sl->name) != NULL)
        fz_die("\"%s\" still found after destroy", sl->name);
    sl->a = NULL;
}

void fz_op_destroy(void)
{
    fz.op = "destroy";
    unsigned v = (unsigned)fz_take(1);
    unsigned s = v % (FZ_SLOTS + 1);
    if (s == FZ_SLOTS) {
        if (talc_arena_destroy(talc_arena_default(), 0) != -EINVAL)
            fz_die("destroy of the default arena not refused");
        return;
    }
    if (fz.slot[s].a)
        fz_destroy_slot(s, (v >> 4) & 1 ? TALC_DESTROY_RELEASE_ALL : 0u);
}

void fz_op_route(void)
{
    fz.op = "route";
    unsigned v = (unsigned)fz_take(1);
    talc_arena_t *a = fz_arena(v % (FZ_SLOTS + 1));
    if (!fz.routing || !a)
        return;
    switch ((v >> 4) % 3) {
    case 0:
        if (talc_scope_push(a) == 0)
            fz.scopes++;
        else if (fz.scopes < TALC_SCOPE_MAX)
            fz_die("scope_push refused with %d open", fz.scopes);
        break;
    case 1:
        if (fz.scopes > 0) {
            if (talc_scope_pop() != 0)
                fz_die("scope_pop failed");
            fz.scopes--;
        } else if (talc_scope_pop() != -ENOENT) {
            fz_die("scope_pop with none open did not give -ENOENT");
        }
        break;
    default:
        talc_thread_bind(a);
        if (fz.scopes == 0 && talc_thread_arena() != a)
            fz_die("bind did not route");
    }
}
