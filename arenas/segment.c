/* segment.c — the memory under a stripe: segments taken from the arena's source or the reserve.
 *
 * A segment is a granule-aligned range: a talc_seg descriptor, then one heap span. Creating one
 * registers every granule in the owner map; releasing one unregisters it before the memory
 * goes back (to the OS, the arena's buffer, or the reserve).
 *
 * Retention: page faults cost ~12 µs per 4 KiB here, so a stripe keeps up to
 * TALC_SEG_KEEP_EMPTY empty default-sized segments for reuse (one in an arena with a budget),
 * and with no budget, in their place, one oversized OS segment of up to TALC_SEG_KEEP_OVERSIZED
 * default ones. Further empty segments, larger ones, and every borrowed one go back at once
 * (borrowed memory returns to the reserve as soon as the heap has no block in it: a block in a
 * thread cache or a depot is one). Kept segments serve only their own stripe, yet count against
 * the budget and the address space: when the arena cannot grow, talc_seg_reclaim gives every
 * stripe's back, and the OOM chain's grow step tries again.
 *
 * Concurrency: talc_seg_grow / after_free / release_all need the stripe lock; they take
 * arena->grow_lock (source and budget) and then the pagemap writer lock, in that rank order.
 * A dropped OS segment is unmapped by the stripe's release, with no lock held (below).
 * talc_seg_reclaim takes the stripe locks itself, one at a time, with no lock held.
 * talc_seg_of is lock-free.
 */
#include <errno.h>
#include <string.h>

#include "arena_internal.h"
#include "os_mem.h"
#include "pagemap.h"
#include "region.h"
#include "reserve_internal.h"

static talc_mutex_t talc_pagemap_writer = TALC_MUTEX_INIT(TALC_RANK_PAGEMAP);

size_t talc_seg_overhead(void) { return (sizeof(talc_seg_t) + 63u) & ~(size_t)63u; }

static size_t talc_round_granule(size_t n) { return (n + TALC_GRANULE - 1) & ~(TALC_GRANULE - 1); }

/* ---- Taking and returning raw memory (grow_lock held) -------------------------------------*/

/* Set source_bytes or borrowed_bytes (grow_lock held): statistics read them without it. */
static void talc_grow_set(size_t *field, size_t v) { __atomic_store_n(field, v, __ATOMIC_RELAXED); }

static char *talc_source_take(talc_arena_t *a, size_t size)
{
    if (a->cfg.hard_budget && size > a->cfg.hard_budget - a->source_bytes)
        return NULL;
    char *m = NULL;
    if (a->cfg.source == TALC_SOURCE_OS) {
        m = talc_os_map(size, TALC_GRANULE);
        if (m && a->cfg.numa_node >= 0)
            (void)talc_os_bind_node(m, size, (unsigned)a->cfg.numa_node);
    } else if (a->cfg.source == TALC_SOURCE_BUFFER) {
        m = talc_region_take(&a->buffer, size / TALC_GRANULE);
    }
    if (m)
        talc_grow_set(&a->source_bytes, a->source_bytes + size);
    return m;
}

/* Give g's memory back to where it came from, and out of the budget. true: it is OS memory,
 * which the caller unmaps once it has dropped its locks (g's fields are not read again here). */
static bool talc_source_give(talc_arena_t *a, talc_seg_t *g)
{
    char *base = g->base;
    size_t size = g->size;
    bool os = false;
    /* The heap was not told (talc_seg_drop): its free chunks' poison goes here (heap_poison.h),
     * all but g's own words at base, which the heap never poisons and which stay defined for
     * memcheck (talc_seg_unmap_list reads them). */
    size_t ov = talc_seg_overhead();
    talc_unpoison(base + ov, size - ov);
    if (g->kind == TALC_SEG_RESERVE) {
        talc_grow_set(&a->borrowed_bytes, a->borrowed_bytes - size);
        talc_stats_add_total(&a->returned_total, size);
        talc_reserve_give(a, base, size);
    } else {
        talc_grow_set(&a->source_bytes, a->source_bytes - size);
        os = g->kind == TALC_SEG_OS;
        if (!os)
            talc_region_give(&a->buffer, base, size / TALC_GRANULE);
    }
    size_t footprint = a->source_bytes + a->borrowed_bytes;
    if (a->cfg.soft_budget && footprint < a->cfg.soft_budget - a->cfg.soft_budget / 8u)
        talc_atomic_store_relaxed_u32(&a->soft_armed, 1u);
    return os;
}

/* ---- Unmapping after the stripe's release --------------------------------------------------
 * A free that empties a large segment would otherwise hold its stripe (and the arena's grow
 * lock) for the whole munmap: milliseconds for tens of MiB of resident pages, while the
 * stripe's other threads wait (bench/unmap_stall.c). The segment leaves the stripe's list,
 * the owner map and the budget under the locks as before, so nothing can reach it; its
 * descriptor goes on the stripe's `unmap` list (linked through `next`), and the stripe's
 * release takes the list and unmaps it after the lock is free. The list is non-empty only
 * while the lock is held, so fork (which holds every stripe lock) never sees one; a fork
 * while a thread is unmapping leaves that range mapped in the child, as a free in progress
 * in another allocator leaves its block. The budget counts the segment out before its munmap
 * ends, so for that long the address space may hold up to that segment more than the cap. */

static void talc_seg_unmap_list(talc_seg_t *list)
{
    for (talc_seg_t *g = list, *next; g; g = next) {
        next = g->next; /* g lives in the memory it describes */
        talc_os_unmap(g->base, g->size);
    }
}

void talc_stripe_unlock_dropped(talc_stripe_t *s)
{
    talc_seg_t *list = s->unmap;
    s->unmap = NULL;
    /* The list first, then a fatal report this section deferred (it may not return). */
    talc_deferred_fn report = talc_mutex_take_deferred(&s->lock);
    talc_stripe_unlock(s);
    talc_seg_unmap_list(list);
    if (report)
        report();
}

/* ---- Segment life cycle -------------------------------------------------------------------*/

static talc_seg_t *talc_seg_make(talc_stripe_t *s, char *base, size_t size, talc_seg_kind_t k)
{
    talc_seg_t *g = (talc_seg_t *)(void *)base;
    memset(g, 0, sizeof *g);
    g->stripe = s;
    g->arena = s->arena;
    g->base = base;
    g->size = size;
    g->kind = k;
    size_t ov = talc_seg_overhead();
    g->span = talc_heap_claim(talc_stripe_heap(s), base + ov, size - ov);
    if (!g->span)
        return NULL;
    /* A free whose merged chunk has this size has emptied the span (talc_free checks). */
    g->empty_chunk = (size_t)(g->span->fence - g->span->first);
    g->magic = TALC_SEG_MAGIC; /* published to readers by the pagemap's release store */
    talc_mutex_lock(&talc_pagemap_writer);
    int rc = talc_pagemap_set((uintptr_t)base, size, g);
    talc_mutex_unlock(&talc_pagemap_writer);
    if (rc != 0) {
        (void)talc_span_release(talc_stripe_heap(s), g->span);
        g->magic = 0;
        return NULL;
    }
    g->next = s->segs;
    g->prev = NULL;
    if (s->segs)
        s->segs->prev = g;
    s->segs = g;
    return g;
}

static void talc_seg_unlink(talc_stripe_t *s, talc_seg_t *g)
{
    for (unsigned i = 0; i < TALC_SEG_KEEP_EMPTY; i++)
        if (s->kept[i] == g)
            s->kept[i] = NULL;
    if (g->prev)
        g->prev->next = g->next;
    else
        s->segs = g->next;
    if (g->next)
        g->next->prev = g->prev;
}

/* Unlink segment g from stripe s, unregister it and give its memory back (OS memory: onto
 * s->unmap, for the stripe's release to unmap); the heap is not told (see
 * talc_seg_release_all). */
static void talc_seg_drop(talc_stripe_t *s, talc_seg_t *g)
{
    talc_arena_t *a = s->arena;
    talc_seg_unlink(s, g);
    talc_mutex_lock(&talc_pagemap_writer);
    talc_pagemap_clear((uintptr_t)g->base, g->size);
    talc_mutex_unlock(&talc_pagemap_writer);
    g->magic = 0;
    talc_mutex_lock(&a->grow_lock);
    bool unmap = talc_source_give(a, g);
    talc_mutex_unlock(&a->grow_lock);
    if (unmap) {
        g->next = s->unmap;
        s->unmap = g;
    }
}

/* Remove an empty segment from its stripe's heap and give its memory back. */
static void talc_seg_release(talc_stripe_t *s, talc_seg_t *g)
{
    (void)talc_span_release(talc_stripe_heap(s), g->span);
    talc_seg_drop(s, g);
}

/* The smallest segment that holds a request of `need` bytes (0 if none can). */
static size_t talc_seg_min_size(const talc_stripe_t *s, size_t need)
{
    size_t ov = talc_seg_overhead() + talc_span_min_size(talc_stripe_heap((talc_stripe_t *)s));
    if (need > SIZE_MAX / 2 - ov)
        return 0;
    return talc_round_granule(need + ov);
}

/* Bytes the arena may still take (grow_lock held): up to the borrow ceiling from the reserve;
 * up to the hard budget, and what is left of a caller buffer, from its source. */
static size_t talc_seg_room(const talc_arena_t *a, bool borrow)
{
    if (borrow)
        return a->cfg.borrow_ceiling > a->borrowed_bytes ? a->cfg.borrow_ceiling - a->borrowed_bytes
                                                         : 0;
    size_t room = SIZE_MAX;
    if (a->cfg.hard_budget)
        room = a->cfg.hard_budget > a->source_bytes ? a->cfg.hard_budget - a->source_bytes : 0;
    if (a->cfg.source == TALC_SOURCE_BUFFER && talc_region_free_bytes(&a->buffer) < room)
        room = talc_region_free_bytes(&a->buffer);
    return room;
}

/* Size of a new segment: the default size, or `want` (at least `min`) if larger, cut down to
 * the room left when the request still fits, so that a budget, ceiling or buffer smaller than
 * (or not a multiple of) the default segment stays usable to its last granule. grow_lock
 * held. */
static size_t talc_seg_size_for(const talc_stripe_t *s, size_t min, size_t want, bool borrow)
{
    const talc_arena_t *a = s->arena;
    size_t dflt = talc_seg_default_size(s);
    /* A borrow takes a normal segment (talc/arena.h, borrow_ceiling), also for the large
     * stripe, whose own OS segments are TALC_LARGE_SEG_FACTOR times larger: the reserve is
     * shared, and a 4 MiB segment for one 256 KiB block used up a 4 MiB ceiling. Stripe 0 is
     * never the large one. */
    if (borrow)
        dflt = talc_seg_default_size(talc_arena_stripe(s->arena, 0));
    size_t size = want < dflt ? dflt : want;
    size_t room = talc_seg_room(a, borrow) & ~(TALC_GRANULE - 1);
    return (size > room && room >= min) ? room : size;
}

int talc_seg_prefill(talc_stripe_t *s, size_t bytes)
{
    size_t ov = talc_seg_overhead() + talc_span_min_size(talc_stripe_heap(s));
    return talc_seg_grow(s, bytes > ov ? bytes - ov : 1u, false);
}

int talc_seg_grow(talc_stripe_t *s, size_t need, bool borrow)
{
    talc_arena_t *a = s->arena;
    size_t min = talc_seg_min_size(s, need);
    if (!min)
        return -ENOMEM;
    /* A realloc moving a growing block (talc_ts.grow_extra, arena_alloc.c) asks for room to
     * grow in place above it (not from the reserve: every arena's); else a buffer grown in
     * steps past a segment's size moved into a new segment, copied and faulted in again, each
     * time its granule's slack ran out: quadratic (64 MB in 4 KiB steps took 29 s, glibc
     * 0.04 s). Only address space until it is used; refused, the request's own size. */
    size_t extra = borrow ? 0u : talc_round_granule(talc_ts.grow_extra); /* (no overflow:
                                                  min <= SIZE_MAX / 2, extra <= SIZE_MAX / 4) */
    talc_mutex_lock(&a->grow_lock);
    size_t size = talc_seg_size_for(s, min, min + extra, borrow);
    char *m = NULL;
    talc_seg_kind_t kind = TALC_SEG_OS;
    if (borrow) {
        m = talc_reserve_take(a, &size, min); /* the whole segment, else the least that fits */
        kind = TALC_SEG_RESERVE;
        if (m) {
            talc_grow_set(&a->borrowed_bytes, a->borrowed_bytes + size);
            talc_stats_add_total(&a->borrowed_total, size);
        }
    } else {
        m = talc_source_take(a, size);
        if (!m && size > min) {
            size = min; /* a fragmented buffer may have no longer run, the OS no more room */
            m = talc_source_take(a, size);
        }
        kind = a->cfg.source == TALC_SOURCE_BUFFER ? TALC_SEG_BUFFER : TALC_SEG_OS;
    }
    bool crossed = false;
    size_t footprint = a->source_bytes + a->borrowed_bytes;
    if (m && a->cfg.soft_budget && footprint >= a->cfg.soft_budget &&
        talc_atomic_load_relaxed_u32(&a->soft_armed)) {
        talc_atomic_store_relaxed_u32(&a->soft_armed, 0u);
        /* relaxed: the callback's figure; nothing else is published with it */
        talc_atomic_store_relaxed_size(&a->soft_crossed_at, footprint);
        crossed = true;
    }
    talc_mutex_unlock(&a->grow_lock);
    if (!m)
        return -ENOMEM;
    if (!talc_seg_make(s, m, size, kind)) {
        talc_seg_t tmp = {.base = m, .size = size, .kind = kind};
        talc_mutex_lock(&a->grow_lock);
        bool unmap = talc_source_give(a, &tmp);
        if (crossed) /* the crossing is undone: the next one must still call back */
            talc_atomic_store_relaxed_u32(&a->soft_armed, 1u);
        talc_mutex_unlock(&a->grow_lock);
        if (unmap) /* rare (no owner-map leaf): at once, under the stripe lock */
            talc_os_unmap(m, size);
        return -ENOMEM;
    }
    return crossed ? 1 : 0;
}

static bool talc_seg_empty(talc_stripe_t *s, talc_seg_t *g)
{
    talc_span_info_t info;
    talc_span_get_info(talc_stripe_heap(s), g->span, &info);
    return info.empty;
}

void talc_seg_after_free(talc_stripe_t *s, talc_seg_t *g)
{
    if (!talc_seg_empty(s, g))
        return;
    unsigned most = s->seg_keep, empties = 0; /* (talc_stripe_t says how many) */
    talc_seg_t **entry = NULL;
    /* An oversized OS segment (a large block's own) of up to TALC_SEG_KEEP_OVERSIZED normal
     * ones is kept too where no budget is, if no other kept one is empty: until 2026-12-07 a
     * loop of malloc, write and free of 4 MiB mapped and faulted in 4 MiB each time, 8x
     * glibc's time (found by a review). */
    if (g->size != talc_seg_default_size(s))
        most = most > 1u && g->kind == TALC_SEG_OS &&
               g->size <= TALC_SEG_KEEP_OVERSIZED * talc_seg_default_size(s);
    if (most && g->kind != TALC_SEG_RESERVE) {
        for (unsigned i = 0; i < TALC_SEG_KEEP_EMPTY; i++) {
            talc_seg_t *o = s->kept[i];
            if (o == g)
                return; /* kept before, used since, empty again: still kept */
            if (o && talc_seg_empty(s, o))
                empties++;
            else
                entry = &s->kept[i];
        }
    }
    if (entry && empties < most) {
        *entry = g; /* kept for the stripe's next growth */
        return;
    }
    talc_seg_release(s, g);
}

size_t talc_seg_reclaim(talc_arena_t *a, bool idle)
{
    size_t bytes = 0;
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_t *o = talc_arena_stripe(a, i);
        talc_stripe_lock_noted(o);
        for (talc_seg_t *g = o->segs, *next; g; g = next) {
            next = g->next;
            if (g->kind != TALC_SEG_RESERVE && talc_seg_empty(o, g) &&
                (!idle || (talc_hdr(g->span->first) & TALC_F_AGED))) {
                bytes += g->size;
                talc_seg_release(o, g);
            }
        }
        talc_stripe_unlock_dropped(o);
    }
    return bytes;
}

void talc_seg_release_all(talc_stripe_t *s)
{
    /* The stripe's heap dies with the arena, so its spans are not released one by one: a span
     * with live blocks (TALC_DESTROY_RELEASE_ALL) cannot be, and its free chunks would stay
     * linked into the heap's bins after its memory went back, for the next span release to
     * write through. */
    while (s->segs)
        talc_seg_drop(s, s->segs);
    talc_seg_unmap_list(s->unmap); /* no lock to release: the arena is being freed */
    s->unmap = NULL;
}

void talc_seg_pagemap_lock(void) { talc_mutex_lock_unranked(&talc_pagemap_writer); }
void talc_seg_pagemap_unlock(void) { talc_mutex_unlock_unranked(&talc_pagemap_writer); }
void talc_seg_pagemap_reinit(void) { talc_mutex_init(&talc_pagemap_writer, TALC_RANK_PAGEMAP); }
