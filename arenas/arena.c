/* arena.c — creating and destroying arenas, and the default arena.
 *
 * An arena and its stripes live in one OS mapping (never in memory from malloc, so the shim
 * can run on top without recursion). Each stripe holds a Talc heap control block and a lock on
 * its own lines. Memory for the heaps arrives later, in segments (segment.c).
 *
 * Concurrency: create and destroy may run on any thread, concurrently with lookups (the
 * registry is RCU) and with allocation in other arenas. Destroy requires that no thread
 * allocates from, or frees into, the arena any more (talc/arena.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "arena_internal.h"
#include "tcache.h"
#include "fork_internal.h"
#include "oom_internal.h"
#include "os_mem.h"
#include "pagemap.h"
#include "reserve_internal.h"
#include "topology.h"

/* Creation numbers (talc_arena_t.id). 64 bits: a 32-bit count wrapped after 2^32 creations,
 * and a thread that had remembered a destroyed arena's stripe under the same number then
 * locked that stripe in the new arena's name (a review reproduced it by setting the count). */
static _Atomic uint64_t talc_arena_ids;

talc_arena_config_t talc_arena_config_default(const char *name)
{
    talc_arena_config_t c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.source = TALC_SOURCE_OS;
    c.numa_node = -1;
    return c;
}

const char *talc_arena_name(const talc_arena_t *a) { return a->name; }

/* ---- Validation ---------------------------------------------------------------------------*/

/* Length of the well-formed UTF-8 character at s (a NUL-terminated string) that is not a
 * control character (C0, DEL, C1) and ends within `room` bytes, or 0. Overlong forms,
 * surrogates and code points above U+10FFFF are not well-formed. Reads no byte past the
 * string's NUL, nor past s[room - 1]. */
static size_t talc_utf8_char(const unsigned char *s, size_t room)
{
    unsigned char c = s[0];
    if (c < 0x80u)
        return c >= 0x20u && c != 0x7fu;
    size_t k = c >= 0xf0u ? 3u : c >= 0xe0u ? 2u : 1u;
    if (c < 0xc2u || c > 0xf4u || k >= room)
        return 0; /* a continuation byte, an overlong lead (C0, C1), beyond U+10FFFF, or a
                     character that would end past the room */
    uint32_t cp = c & (0x3fu >> k);
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xc0u) != 0x80u) /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (s[j] & 0x3fu);
    }
    static const uint32_t min[4] = {0, 0xa0u, 0x800u, 0x10000u}; /* 0x80..0x9f: C1 controls */
    if (cp < min[k] || cp > 0x10ffffu || (cp >= 0xd800u && cp <= 0xdfffu))
        return 0;
    return k + 1u;
}

/* 1..TALC_ARENA_NAME_MAX bytes of well-formed UTF-8 without control characters: names appear
 * in one-line fault reports, the text table, JSON and Prometheus labels, whose writers then
 * need to escape only the quote and the backslash. */
static bool talc_name_ok(const char *n)
{
    if (!n || !n[0])
        return false;
    /* Reads at most TALC_ARENA_NAME_MAX + 1 bytes of a long name (as talc_arena_find). */
    size_t at = 0;
    while (n[at]) {
        if (at >= TALC_ARENA_NAME_MAX)
            return false;
        size_t k = talc_utf8_char((const unsigned char *)n + at, TALC_ARENA_NAME_MAX - at);
        if (k == 0)
            return false;
        at += k;
    }
    return true;
}

/* Every step up to the first END is known; the rest of the array is ignored (arena.h). */
static bool talc_chain_ok(const talc_oom_step_t *chain)
{
    for (unsigned i = 0; i < TALC_OOM_CHAIN_MAX && chain[i] != TALC_OOM_STEP_END; i++)
        if ((int)chain[i] < TALC_OOM_STEP_END || chain[i] > TALC_OOM_STEP_ABORT)
            return false;
    return true;
}

/* Buffer source: the granule-aligned interior of the caller's buffer, with its bitmap. */
static size_t talc_buffer_granules(const talc_arena_config_t *c, char **base)
{
    uintptr_t b = ((uintptr_t)c->buffer + TALC_GRANULE - 1) & ~(uintptr_t)(TALC_GRANULE - 1);
    uintptr_t e = ((uintptr_t)c->buffer + c->buffer_size) & ~(uintptr_t)(TALC_GRANULE - 1);
    *base = (char *)b;
    return e > b ? (size_t)(e - b) / TALC_GRANULE : 0;
}

/* The owner map has one owner per granule: a buffer arena over memory an arena owns (a block
 * from one, malloc's under the shim) would take those granules from it, for good. */
static bool talc_buffer_unowned(const talc_arena_config_t *c)
{
    char *base;
    size_t n = talc_buffer_granules(c, &base);
    for (size_t i = 0; i < n; i++)
        if (talc_pagemap_get(base + i * TALC_GRANULE))
            return false;
    return true;
}

static bool talc_config_ok(const talc_arena_config_t *c)
{
    if (!talc_name_ok(c->name) || c->stripes > TALC_STRIPES_MAX || !talc_chain_ok(c->oom_chain))
        return false;
    if (c->fallback && !talc_name_ok(c->fallback))
        return false;
    /* A budget too small for one granule, or below the bytes to map at creation, and a reserve
     * source that may not borrow: no allocation could ever succeed. A soft budget above what
     * the footprint can reach (the hard budget and the borrow ceiling: the footprint counts
     * both; until 2026-12-07 it had to be within the hard budget alone, found by a review)
     * could never fire. */
    size_t most = c->hard_budget + c->borrow_ceiling;
    if (most < c->hard_budget) /* (saturating) */
        most = SIZE_MAX;
    if (c->hard_budget && (c->soft_budget > most || c->hard_budget < TALC_GRANULE ||
                           c->initial_size > c->hard_budget))
        return false;
    if ((c->source == TALC_SOURCE_RESERVE && !c->borrow_ceiling) || c->numa_node < -1 ||
        (c->borrow_ceiling && c->borrow_ceiling < TALC_GRANULE))
        return false;
    if ((unsigned)c->thread_cache > TALC_TCACHE_OFF)
        return false;
    if (c->source == TALC_SOURCE_BUFFER)
        return c->buffer && c->buffer_size >= 2 * TALC_GRANULE &&
               c->buffer_size <= UINTPTR_MAX - (uintptr_t)c->buffer;
    return c->source == TALC_SOURCE_OS || c->source == TALC_SOURCE_RESERVE;
}

/* ---- Construction -------------------------------------------------------------------------*/

static size_t talc_stripe_bytes(void)
{
    size_t s = sizeof(talc_stripe_t) + talc_heap_footprint();
    return (s + TALC_STRIPE_ALIGN - 1) & ~(size_t)(TALC_STRIPE_ALIGN - 1);
}

static void talc_copy_name(char *dst, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = 0;
}

static int talc_stripe_init(talc_arena_t *a, unsigned i)
{
    talc_stripe_t *s = talc_arena_stripe(a, i);
    talc_mutex_init(&s->lock, TALC_RANK_STRIPE);
    s->arena = a;
    s->index = i;
    bool large = i == a->nroute, free_run = !a->cfg.hard_budget && !a->cfg.soft_budget;
    size_t g = TALC_SEGMENT_SIZE > TALC_GRANULE ? TALC_SEGMENT_SIZE : TALC_GRANULE; /* (a
                                                          granule: the owner map's unit) */
    if (a->cfg.source != TALC_SOURCE_OS)
        g = TALC_GRANULE * 4u;
    else if (large && free_run)
        g *= TALC_LARGE_SEG_FACTOR;
    s->seg_size = g;
    s->seg_keep = free_run ? TALC_SEG_KEEP_EMPTY : !large;
    talc_heap_opts_t o = {0};
    o.name = a->name;
    o.cache_line = a->cfg.cache_aligned ? talc_cache_line_size() : 0;
    o.fatal = talc_fatal_stripe_handler; /* reported at the unlock, not under the lock */
    o.fatal_ctx = s;
    /* Stripes grow from their source when full, so a moving shrink would buy little there
     * but copies; arena realloc keeps Talc's in-place shrink. */
    o.shrink_in_place = true;
    /* The arena's mapping is fresh, so zero: untouched bin pages stay unresident. */
    talc_heap_t *h = talc_heap_init_zeroed(s->heap_mem, talc_heap_footprint(), &o);
    if (h && a->tc_on)
        talc_heap_hold_slack(h); /* thread caches rewrite slack bytes (tcache.c) */
    return h ? 0 : -EINVAL;
}

/* Home stripe per CPU from the topology (CPUs sharing a cache share a stripe), and each
 * home's span: its stripes run up to the next home. O(CPUs), once. */
static void talc_build_cpu_map(talc_arena_t *a, const talc_topology_t *t)
{
    bool home[TALC_STRIPES_MAX] = {false};
    for (unsigned c = 0; c < a->ncpus; c++) {
        a->cpu_stripe[c] = (uint8_t)talc_topology_stripe_of_cpu(t, c, a->nroute);
        home[a->cpu_stripe[c]] = true;
    }
    unsigned next = a->nroute;
    for (unsigned i = a->nroute; i-- > 0;) {
        a->home_span[i] = (uint8_t)(next - i);
        if (home[i])
            next = i;
    }
}

static talc_arena_t *talc_arena_alloc_struct(const talc_arena_config_t *c, unsigned n,
                                             unsigned ncpus, size_t ngran)
{
    size_t stripes_off =
        (sizeof(talc_arena_t) + TALC_STRIPE_ALIGN - 1) & ~(size_t)(TALC_STRIPE_ALIGN - 1);
    size_t map_off = stripes_off + (size_t)(n + 1u) * talc_stripe_bytes(); /* + the large one */
    size_t bits_off = (map_off + ncpus + 7u) & ~(size_t)7u;
    size_t total = bits_off + talc_region_words(ngran) * sizeof(uint64_t);
    total = (total + talc_os_page_size() - 1) & ~(talc_os_page_size() - 1);
    talc_arena_t *a = talc_os_map(total, 0);
    if (!a)
        return NULL;
    a->map_size = total;
    a->cfg = *c;
    a->nroute = n;
    a->nstripes = n + 1u;
    a->stripe_size = talc_stripe_bytes();
    a->ncpus = ncpus;
    a->cpu_stripe = (uint8_t *)a + map_off;
    if (c->source == TALC_SOURCE_BUFFER) {
        char *base = NULL;
        (void)talc_buffer_granules(c, &base);
        talc_region_init(&a->buffer, base, TALC_GRANULE, ngran,
                         (uint64_t *)(void *)((char *)a + bits_off));
    }
    return a;
}

static void talc_arena_free_struct(talc_arena_t *a)
{
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_t *s = talc_arena_stripe(a, i);
        talc_seg_release_all(s);
    }
    a->magic = 0;
    talc_os_unmap(a, a->map_size);
}

/* Map initial_size bytes (in granules; no more than the hard budget holds), shared out among
 * the stripes, until that many are mapped: each stripe takes a segment of its share, or a
 * default one if larger, cut to what is left (until 2026-12-05 each share was asked for as
 * heap room, so the segments' own overhead took initial_size == hard_budget over the budget:
 * ENOMEM). Returns -1 if the OS refused, 1 if the mapping crossed the soft budget (the caller
 * fires the callback once the arena is published), else 0. Before a created arena is
 * published, after the default arena is (source_bytes is then read as statistics read it). */
static int talc_arena_prefill(talc_arena_t *a)
{
    if (a->cfg.source != TALC_SOURCE_OS || !a->cfg.initial_size)
        return 0;
    size_t g = TALC_GRANULE, want = a->cfg.initial_size;
    want = want > SIZE_MAX - (g - 1) ? SIZE_MAX & ~(g - 1) : (want + g - 1) & ~(g - 1);
    if (a->cfg.hard_budget && want > (a->cfg.hard_budget & ~(g - 1)))
        want = a->cfg.hard_budget & ~(g - 1);
    size_t per = (want / a->nroute + g - 1) & ~(g - 1);
    int rc = 0;
    for (unsigned i = 0; i < a->nroute; i++) {
        size_t have = __atomic_load_n(&a->source_bytes, __ATOMIC_RELAXED);
        if (have >= want)
            break;
        talc_stripe_t *s = talc_arena_stripe(a, i);
        talc_stripe_lock(s);
        rc |= talc_seg_prefill(s, per < want - have ? per : want - have);
        talc_stripe_unlock(s);
    }
    return rc < 0 ? -1 : rc;
}

static talc_arena_t *talc_arena_build(const talc_arena_config_t *c, bool is_default)
{
    const talc_topology_t *t = talc_topology_get();
    unsigned n = c->stripes ? c->stripes : talc_topology_auto_stripes(t);
    if (n > TALC_STRIPES_MAX)
        n = TALC_STRIPES_MAX;
    char *base = NULL;
    size_t ngran = c->source == TALC_SOURCE_BUFFER ? talc_buffer_granules(c, &base) : 0;
    if (c->source == TALC_SOURCE_BUFFER && ngran < 2) {
        errno = EINVAL;
        return NULL;
    }
    talc_arena_t *a = talc_arena_alloc_struct(c, n, talc_topology_ncpus(t), ngran);
    if (!a) {
        errno = ENOMEM;
        return NULL;
    }
    talc_copy_name(a->name, c->name);
    talc_copy_name(a->fallback, c->fallback);
    a->cfg.name = a->name;
    a->cfg.fallback = c->fallback ? a->fallback : NULL;
    a->is_default = is_default;
    a->id = atomic_fetch_add_explicit(&talc_arena_ids, 1u, memory_order_relaxed); /* a count */
    talc_mutex_init(&a->grow_lock, TALC_RANK_GROW);
    atomic_init(&a->soft_armed, 1u);
    atomic_init(&a->soft_crossed_at, 0u);
    talc_tcache_arena_init(a);
    talc_build_cpu_map(a, t);
    for (unsigned i = 0; i <= n; i++) /* and the large stripe */
        (void)talc_stripe_init(a, i);
    a->magic = TALC_ARENA_MAGIC;
    return a;
}

talc_arena_t *talc_arena_create(const talc_arena_config_t *cfg)
{
    if (!cfg || !talc_config_ok(cfg)) {
        errno = EINVAL;
        return NULL;
    }
    talc_fork_init();
    (void)talc_arena_default();
    /* Early, to map and prefill nothing (add decides). Under the registry lock, not an RCU
     * read: creating an arena must not be what registers the thread with liburcu-bp. */
    if (talc_registry_find_locked(cfg->name, NULL, NULL)) {
        errno = EEXIST;
        return NULL;
    }
    if (cfg->source == TALC_SOURCE_BUFFER && !talc_buffer_unowned(cfg)) {
        errno = EINVAL;
        return NULL;
    }
    talc_arena_t *a = talc_arena_build(cfg, false);
    if (!a)
        return NULL;
    /* Whole before it is published: once findable it may be destroyed by another thread.
     * (The registry makes it a member of the reserve as it registers it.) */
    int filled = talc_arena_prefill(a);
    int err = filled < 0 ? ENOMEM : talc_registry_add(a, NULL) != 0 ? EEXIST : 0;
    if (err) {
        talc_arena_free_struct(a);
        errno = err;
        return NULL;
    }
    if (filled == 1) /* the mapping disarmed the soft budget: report it, as oom.c does */
        talc_oom_soft_budget_fire(a);
    return a;
}

/* ---- The default arena --------------------------------------------------------------------*/

static pthread_once_t talc_default_once = PTHREAD_ONCE_INIT;
_Atomic(talc_arena_t *) talc_default_arena; /* arena_internal.h */

/* The default arena's configuration, settable until its creation starts (the malloc shim's
 * TALC_CONF, shim/conf.c). Under talc_default_cfg_lock; talc_default_init reads it once. */
talc_mutex_t talc_default_cfg_lock = TALC_MUTEX_INIT(TALC_RANK_LEAF); /* fork_internal.h */
static talc_arena_config_t talc_default_cfg;
static bool talc_default_cfg_set, talc_default_started;

int talc_arena_default_preset(const talc_arena_config_t *cfg)
{
    if (!cfg || cfg->source != TALC_SOURCE_OS || cfg->fallback || !talc_config_ok(cfg))
        return -EINVAL;
    talc_mutex_lock(&talc_default_cfg_lock);
    int rc = talc_default_started ? -EALREADY : 0;
    if (!rc) {
        talc_default_cfg = *cfg;
        talc_default_cfg.name = "default";
        talc_default_cfg_set = true;
    }
    talc_mutex_unlock(&talc_default_cfg_lock);
    return rc;
}

static talc_arena_config_t talc_default_config(void)
{
    talc_mutex_lock(&talc_default_cfg_lock);
    talc_default_started = true;
    talc_arena_config_t c =
        talc_default_cfg_set ? talc_default_cfg : talc_arena_config_default("default");
    talc_mutex_unlock(&talc_default_cfg_lock);
    return c;
}

/* Registered and published in one step (under the registry lock, which fork's prepare takes),
 * then prefilled: a fork child has the default arena registered and published, or neither and
 * then makes its own (glibc runs a pthread_once again in a child that forked during it).
 * Before 2026-12-04 it was published only after the prefill, and a child forked in between
 * had a registered "default" it could never publish: every default allocation failed. A
 * callback the prefill runs (soft budget) now finds the arena published too. */
static void talc_default_init(void)
{
    talc_fork_init();
    talc_arena_config_t c = talc_default_config();
    talc_arena_t *a = talc_arena_build(&c, true);
    if (!a)
        return;
    /* (A member of the reserve as it is registered and published: registry.c. Until
     * 2026-12-07 it joined after, and a borrow or a fork in between saw it published but not a
     * member.) */
    if (talc_registry_add(a, &talc_default_arena) != 0) {
        talc_arena_free_struct(a);
        return;
    }
    if (talc_arena_prefill(a) == 1) /* best effort: the default arena must exist */
        talc_oom_soft_budget_fire(a);
}

talc_arena_t *talc_arena_default(void)
{
    /* acquire: pairs with the release store that published the arena. */
    talc_arena_t *a = atomic_load_explicit(&talc_default_arena, memory_order_acquire);
    if (TALC_LIKELY(a != NULL))
        return a;
    pthread_once(&talc_default_once, talc_default_init);
    return atomic_load_explicit(&talc_default_arena, memory_order_acquire);
}

/* ---- Destruction --------------------------------------------------------------------------*/

/* Any live allocation? Asks the spans, so it holds with TALC_COUNTERS=0 too. */
static bool talc_arena_live(talc_arena_t *a)
{
    bool live = false;
    for (unsigned i = 0; i < a->nstripes && !live; i++) {
        talc_stripe_t *s = talc_arena_stripe(a, i);
        talc_stripe_lock(s);
        for (talc_seg_t *g = s->segs; g && !live; g = g->next) {
            talc_span_info_t info;
            talc_span_get_info(talc_stripe_heap(s), g->span, &info);
            live = !info.empty;
        }
        talc_stripe_unlock(s);
    }
    return live;
}

/* Does `other` name `a` as its fallback arena? */
static bool talc_falls_back_to(const talc_arena_t *other, const talc_arena_t *a)
{
    return other->cfg.fallback && strcmp(other->fallback, a->name) == 0;
}

int talc_arena_destroy(talc_arena_t *a, unsigned flags)
{
    if (!a || a->magic != TALC_ARENA_MAGIC || a->is_default || (flags & ~TALC_DESTROY_RELEASE_ALL))
        return -EINVAL;
    if (talc_registry_find_locked(NULL, talc_falls_back_to, a)) /* no RCU read: see create */
        return -EPERM;
    if (a->tc_on)
        talc_tcache_purge(a); /* cached blocks are not live: give them back before looking */
    if (!(flags & TALC_DESTROY_RELEASE_ALL) && talc_arena_live(a))
        return -EBUSY;
    /* The probe above decides -EPERM before -EBUSY; this re-check under the registry lock
     * catches an arena naming `a` as fallback that was created since. */
    int rc = talc_registry_remove(a, talc_falls_back_to); /* waits out concurrent lookups */
    if (rc != 0)
        return rc;         /* -EPERM, or -EDEADLK inside a foreach callback */
    talc_reserve_leave(a); /* its borrowed memory goes back below: registry.c says why here */
    talc_dispatch_forget(a);
    talc_arena_free_struct(a);
    return 0;
}
