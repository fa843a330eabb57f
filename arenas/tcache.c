/* tcache.c — a bounded per-thread cache of small blocks in front of an arena's stripes.
 *
 * What it is. Each thread has up to TALC_TC_SLOTS slots, one per arena it uses (the most
 * recent ones). A slot keeps, per size class (tcache.h), a LIFO list of blocks that the
 * thread's code freed; a malloc of that class pops one without any lock. An empty list is
 * filled under one stripe lock (slow start: 2 blocks, doubling up to half its bound), from the
 * blocks parked in that stripe's depot if it has any ("Depot" below), else from its heap; a
 * full one gives half back under one lock per run of blocks of the same stripe (parked at
 * their stripes while their depots have room), and so does, every TALC_TC_GC_EVENTS frees,
 * every list the thread did not allocate from meanwhile (into the heap). Cached blocks stay
 * allocated in their heaps: nothing coalesces while they sit here, which is why the cache is
 * bounded (per list, per slot and per depot, the TALC_TC_* limits).
 *
 * Exactness. A cached block handed out for another request size must get a new requested
 * size in its header (the slack, bytes 6–7 on little-endian targets), without the heap lock.
 * The engine touches an allocated neighbour's header only through its flags byte (byte 0),
 * with relaxed atomic accesses (heap_internal.h, talc_nflags), so the two never write the
 * same memory location, and the engine is in held-slack mode (talc_heap_hold_slack) for
 * arenas with caches. Every event is counted in one unit: a fill or a give-back on the stripe
 * (tc_moved, tc_in_bytes, tc_out_bytes, under its lock), a hand-out or a take-back on the
 * slot (allocs, bytes_in; frees, bytes_out; one writer). All of them only grow. A snapshot
 * reads every take-back before any hand-out (stats.c), so it never sees a block freed but
 * not allocated: its live figures are never below the truth, and exact at rest. A slot's
 * counters move into its arena when the slot is retired. While a block is
 * cached its slack field holds TALC_SLACK_HELD, which no live block can have: a second free of
 * it is caught.
 *
 * Life cycle. A thread's cache is taken from a pool (OS pages, never malloc: the shim runs on
 * top) on its first use and registered; a pthread key destructor flushes it at thread exit
 * and returns it to the pool. A cache made too late for that destructor (in another key's
 * destructor, in glibc's last round) is found by its thread's id once the thread is gone
 * (talc_tc_reap). Arena destroy flushes every thread's slot for that arena
 * (talc_tcache_purge), so the arena's memory is never reached through a cache afterwards.
 * In a fork child the caches of the threads that did not survive are retired unflushed (their
 * lists may be mid-update): those blocks stay allocated and counted as cached.
 *
 * Concurrency. A slot's lists have one writer, its thread; its counters are relaxed atomics
 * that snapshots read. Everything else (the cache registry and pool, a slot changing arena,
 * flushing another thread's slot, a thread flushing its own outside the fast path, snapshots)
 * happens under talc_tc_lock (rank TALC_RANK_TCACHE, before any stripe lock). A thread only
 * uses a slot whose arena matches the one it allocates from or frees into, and
 * talc_arena_destroy's contract says no thread does either with the arena being destroyed, so
 * destroy may flush other threads' slots of that arena under the lock.
 */
#define _GNU_SOURCE /* gettid, tgkill */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "arena_internal.h"
#include "heap_internal.h"
#include "os_mem.h"
#include "tcache.h"

#if TALC_TCACHE

/* The named counters and the arrays are the same memory, in TALC_TC_* order. */
#define TALC_TC_SAME(type, first, last, array, size)                                               \
    _Static_assert(offsetof(type, first) == offsetof(type, array) &&                               \
                       offsetof(type, last) == offsetof(type, array) + TALC_TC_REALLOCS * (size),  \
                   #type ": counters in TALC_TC_* order")
TALC_TC_SAME(talc_tc_slot_t, held, reallocs, count, sizeof(talc_atomic_size));
TALC_TC_SAME(talc_arena_t, tc_held, tc_reallocs, tc_count, sizeof(talc_atomic_size));
TALC_TC_SAME(talc_tcache_sums_t, held, reallocs, v, sizeof(size_t));

#define TALC_TC_POOL_BYTES ((size_t)64 << 10) /* caches are mapped this many bytes at a time */
_Static_assert(sizeof(talc_tcache_t) <= TALC_TC_POOL_BYTES, "a pool mapping holds a cache");

/* talc_ts.tc_state; talc_ts.tc_lock_mine says whether this thread holds talc_tc_lock (a fault
 * a give-back finds under it is reported only after its release: talc_tcache_lock_mine,
 * arenas/fatal.c). */
enum { TALC_TC_NONE = 0, TALC_TC_SETUP, TALC_TC_LIVE, TALC_TC_DEAD };

static talc_mutex_t talc_tc_lock = TALC_MUTEX_INIT(TALC_RANK_TCACHE);
static talc_tcache_t *talc_tc_all;                /* registered caches */
static talc_tcache_t *talc_tc_pool;               /* released ones, linked through next */
static size_t talc_tc_count;                      /* registered caches */
static size_t talc_tc_reap_at = TALC_TC_REAP_MIN; /* look for lost ones at this count */
static char *talc_tc_fresh, *talc_tc_fresh_end;   /* never used: carved from the end, untouched */
static pthread_key_t talc_tc_key;
static pthread_once_t talc_tc_key_once = PTHREAD_ONCE_INIT;
static bool talc_tc_key_ok;

TALC_COLD static void talc_tc_lock_take(void)
{
    talc_mutex_lock(&talc_tc_lock);
    talc_ts.tc_lock_mine = true;
}

TALC_COLD static void talc_tc_lock_drop(void)
{
    talc_ts.tc_lock_mine = false;
    talc_mutex_unlock(&talc_tc_lock);
}

TALC_COLD talc_mutex_t *talc_tcache_lock_mine(void)
{
    return talc_ts.tc_lock_mine ? &talc_tc_lock : NULL;
}

/* ---- Arena parameters ---------------------------------------------------------------------*/

/* Fill a's class tables (talc_arena_t.tc_class_req, tc_class_chunk) from the class sizes. */
TALC_COLD static void talc_tc_class_tables(talc_arena_t *a)
{
    unsigned k = 0;
    for (unsigned qn = 1; qn <= TALC_TC_MAX_QUANTA; qn++) { /* smallest class >= qn quanta */
        size_t need = (qn < a->tc_min_quanta ? a->tc_min_quanta : qn) << a->tc_qshift;
        while (talc_tc_class_size(a, k) < need)
            k++;
        a->tc_class_req[qn - 1u] = (uint8_t)k;
    }
    k = 0;
    a->tc_class_chunk[0] = 0; /* no chunk is this small: the plausibility test says so */
    for (unsigned qn = 1; qn <= TALC_TC_MAX_QUANTA; qn++) { /* largest class <= qn quanta */
        while (k + 1u < TALC_TC_CLASSES && talc_tc_class_size(a, k + 1u) <= (qn << a->tc_qshift))
            k++;
        a->tc_class_chunk[qn] = (uint8_t)k;
    }
}

TALC_COLD void talc_tcache_arena_init(talc_arena_t *a)
{
    size_t q = a->cfg.cache_aligned ? talc_cache_line_size() : TALC_GRAIN;
    if (q < TALC_GRAIN || q > TALC_MAX_QUANTUM || (q & (q - 1)))
        q = TALC_GRAIN;
    a->tc_qshift = talc_log2(q);
    a->tc_min_chunk = (TALC_MIN_CHUNK + q - 1u) & ~(q - 1u); /* as the heaps' min_chunk */
    a->tc_min_quanta = (unsigned)((a->tc_min_chunk + q - 1u) / q);
    unsigned last = TALC_TC_CLASSES - 1u;
    while (talc_tc_class_size(a, last) > TALC_TC_MAX_CHUNK) /* a very large quantum */
        last--;
    a->tc_max_chunk = talc_tc_class_size(a, last);
    a->tc_max_req = a->tc_max_chunk - TALC_HDR;
    a->tc_qmask = q - 1u;
    a->tc_chunk_span = a->tc_max_chunk - a->tc_min_chunk;
    for (unsigned k = 0; k < TALC_TC_CLASSES; k++) { /* 64 KiB a list, 8..255 blocks */
        size_t c = TALC_TC_CLASS_BYTES / talc_tc_class_size(a, k);
        a->tc_cap[k] = (uint8_t)(c < TALC_TC_CAP_MIN   ? TALC_TC_CAP_MIN
                                 : c > TALC_TC_CAP_MAX ? TALC_TC_CAP_MAX
                                                       : c);
    }
    talc_tc_class_tables(a);
    talc_tcache_mode_t m = a->cfg.thread_cache;
    a->tc_on = m == TALC_TCACHE_ON || (m == TALC_TCACHE_DEFAULT && a->is_default);
    a->tc_req_lim = a->tc_on ? a->tc_max_req + 1u : 0u;
}

/* ---- Giving blocks back to their stripes --------------------------------------------------*/

/* Free the cached block p (chunk size s) of segment g into its stripe st (locked): it leaves
 * the caches. A block the heap rejects (its header or the one above it was overwritten while
 * it was cached: the cached free reads only its own) is reported at the unlock and stays
 * counted as moved to the caches, so the live figures do not change; it is lost, not reused. */
static void talc_tc_unmove(talc_stripe_t *st, talc_seg_t *g, void *p, size_t s)
{
    talc_heap_t *h = talc_stripe_heap(st);
    /* A neighbour flagged free must be a free chunk: an overrun into p's header, or from p
     * into the next one, would have the heap unlink user data (talc_heap_merge_ok). p stays
     * out of use, its slack still held. */
    if (TALC_UNLIKELY(!talc_heap_merge_check(h, g->span, p)))
        return;
    talc_tc_set_slack(p, 0); /* the heap takes off s − HDR live bytes, and so do we */
    size_t merged = talc_heap_free_merged(h, p, NULL); /* (its neighbours checked above) */
    if (TALC_UNLIKELY(merged == 0))
        return;
    if (TALC_UNLIKELY(merged == g->empty_chunk))
        talc_seg_after_free(st, g);
    talc_stats_sub(&st->st.tc_moved, 1);
    talc_stats_add(&st->st.tc_out_bytes, s - TALC_HDR);
}

/* ---- Depot --------------------------------------------------------------------------------
 * A list that overflows, and the remote list, park their blocks at the blocks' own stripes
 * instead of freeing them: each stripe has a list per size class (talc_tc_depot_t), and a
 * fill from that stripe takes from it before it asks the heap. A parked block stays
 * allocated, with the held slack, so it is still cached (counted in cached_blocks and
 * cached_bytes) and a second free of it is still caught; moving it between a slot and a depot
 * changes no total. What this saves is the heap's work on both sides: a consumer's frees
 * reach the producer's next fill as a list splice, not as frees that coalesce and allocations
 * that split again (tcmalloc's transfer cache does the same between its thread caches). A
 * depot list holds at most a slot list's bound (tc_cap), a depot at most TALC_TC_DEPOT_BYTES.
 * The stripe lock is what a producer and its consumer share, so the cache misses on the
 * blocks stay outside it: a give-back reads the headers before it locks, and a fill takes a
 * depot list whole (O(1)) and splices it in as its list (no walk: talc_tc_adopt). Past the
 * bounds, blocks are freed as before. Trims, flushes and thread exit never park (the remote
 * list excepted): they are there to give memory back. Depots are emptied into their heaps by
 * talc_thread_cache_flush (for the arenas the thread caches), by the exit of a thread that
 * cached for the arena (a consumer too, since 2026-12-07) or its slot's eviction, before the
 * OOM chain's first step other than GROW, and by destroy. Under the stripe lock, which fork
 * already holds. */

/* Park the cached block p (chunk size s) at its stripe st (locked), if there is room. */
static bool talc_tc_park(talc_stripe_t *st, void *p, size_t s)
{
    /* st is a segment's stripe, never NULL; the analyzer takes talc_tc_give_back's first
     * block for one whose segment has none (its stripe equal to `locked`, NULL at first). */
    const talc_arena_t *a = st->arena; /* NOLINT(clang-analyzer-core.NullDereference) */
    unsigned k = talc_tc_class(a, s);
    talc_tc_depot_t *d = &st->depot;
    size_t bytes = talc_atomic_load_relaxed_size(&d->bytes);
    if (d->n[k] >= a->tc_cap[k] || bytes + s > TALC_TC_DEPOT_BYTES)
        return false;
    talc_tc_node_t *node = p;
    node->next = d->head[k];
    node->chunk = s;
    d->head[k] = p;
    d->n[k]++;
    d->kbytes[k] += s;
    talc_atomic_store_relaxed_size(&d->bytes, bytes + s);
    return true;
}

/* Take depot list k of st (locked, not empty) whole, or only its head block when `one`:
 * O(1). Returns the NULL-terminated list; *bytes receives its chunk bytes and *count its
 * blocks. */
static void *talc_tc_unpark(talc_stripe_t *st, unsigned k, bool one, size_t *bytes, uint32_t *count)
{
    talc_tc_depot_t *d = &st->depot;
    talc_tc_node_t *head = d->head[k];
    if (one) {
        d->head[k] = head->next;
        head->next = NULL;
        d->n[k]--;
        *bytes = head->chunk;
        *count = 1;
    } else {
        *count = d->n[k];
        d->head[k] = NULL;
        d->n[k] = 0;
        *bytes = d->kbytes[k];
    }
    d->kbytes[k] -= *bytes;
    talc_atomic_store_relaxed_size(&d->bytes, talc_atomic_load_relaxed_size(&d->bytes) - *bytes);
    return head;
}

/* Blocks taken from a depot (talc_tc_unpark: `count` blocks, already counted in the slot's
 * held bytes) into slot sl's list k, which is empty: the first is returned for the caller to
 * hand out, the rest become the list as they are. A depot list is already a slot list (each
 * node's link and chunk size set when it was parked, all of class k, at most the list's
 * bound), so this is a splice: walking it would take a cache miss per block here and again
 * when each is popped. */
static void *talc_tc_adopt(talc_tc_slot_t *sl, unsigned k, void *list, uint32_t count)
{
    talc_tc_bin_t *b = &sl->bin[k];
    b->head = ((talc_tc_node_t *)list)->next;
    b->n += count - 1u;
    return list;
}

/* Whether the header of cached block p is no longer as its cache left it: in use, of chunk
 * size s (the slack is not looked at). */
static inline bool talc_tc_header_off(const void *p, size_t s)
{
    return ((talc_tc_header(p) ^ (s | TALC_F_USED)) & (TALC_SIZE_MASK | TALC_F_USED)) != 0;
}

/* Free every block parked at a's stripes into its heap. Returns true if there were any. A
 * block whose header or link was overwritten while it was parked is reported, and it and the
 * rest of its list stay out of use, counted as cached (their bytes stay in the depot's).
 * Called with the caches' registry lock held (so that a is not being destroyed). */
TALC_COLD static bool talc_tc_depot_flush(talc_arena_t *a)
{
    bool any = false;
    for (unsigned i = 0; i < a->nstripes; i++) {
        talc_stripe_t *st = talc_arena_stripe(a, i);
        talc_tc_depot_t *d = &st->depot;
        if (!talc_atomic_load_relaxed_size(&d->bytes))
            continue;
        talc_stripe_lock_noted(st);
        size_t kept = 0;
        for (unsigned k = 0; k < TALC_TC_CLASSES; k++) {
            for (talc_tc_node_t *node = d->head[k], *next; node; node = next) {
                next = node->next; /* before the heap takes the block */
                if (TALC_UNLIKELY(((uintptr_t)next & a->tc_qmask) ||
                                  talc_tc_header_off(node, node->chunk))) {
                    talc_heap_fault(talc_stripe_heap(st), TALC_FAULT_CORRUPTION, node,
                                    "header overwritten while cached");
                    break;
                }
                d->kbytes[k] -= node->chunk;
                talc_tc_unmove(st, talc_seg_of(node), node, node->chunk);
            }
            d->head[k] = NULL;
            d->n[k] = 0;
            kept += d->kbytes[k];
        }
        talc_atomic_store_relaxed_size(&d->bytes, kept);
        any = true;
        talc_stripe_unlock_dropped(st);
    }
    return any;
}

/* A node's chunk word with this bit set: the block's header is not as its slot left it. */
#define TALC_TC_DAMAGED ((size_t)1)

/* Give the first `count` blocks of the slot's list *list (of *n blocks) back to their owners'
 * stripes, keeping one stripe locked while consecutive blocks share it: parked in its depot if
 * `park` and there is room, else freed. A block whose header was overwritten while it was
 * cached (an overrun of the block below it) is reported and stays allocated, out of use: it is
 * neither parked, where its header's size would file it and hand it out, nor freed by a size
 * the heap cannot check. */
static void talc_tc_give_back(talc_tc_slot_t *sl, void **list, uint32_t *n, uint32_t count,
                              bool park)
{
    /* First, with no lock held, read each block's header (a cache miss when another CPU wrote
     * the block last: a consumer's case) and check it against what the slot left there (in
     * use, the chunk size its node records; the slack is rewritten whatever it is), so that
     * the stripe lock below covers only list and heap work on lines already here. */
    void *head = *list, *p = head;
    uint32_t taken = 0;
    /* the arena's quantum, as the pop checks it (a cache line in cache-aligned mode) */
    uintptr_t qmask = atomic_load_explicit(&sl->arena, memory_order_relaxed)->tc_qmask;
    for (; taken < count && p; taken++) {
        talc_tc_node_t *node = p;
        if (TALC_UNLIKELY(talc_tc_header_off(p, node->chunk)))
            node->chunk |= TALC_TC_DAMAGED;
        p = node->next;
        if (TALC_UNLIKELY((uintptr_t)p & qmask)) { /* a link overwritten */
            node->chunk |= TALC_TC_DAMAGED;
            p = NULL;       /* the list ends here: what it linked to stays out of use */
            *n = taken + 1; /* so that it is left empty */
        }
    }
    /* Off the slot's list before any lock. A fault found under a stripe lock below is reported
     * when the give-back ends (talc_ts.tc_giving, fatal.c), not at that lock's release: its
     * handler may allocate from or free into this slot, and longjmp out. */
    *list = p;
    *n -= taken;
    talc_ts.tc_giving = true;
    talc_stripe_t *locked = NULL;
    for (uint32_t i = 0; i < taken; i++) {
        p = head;
        head = *(void **)p;
        size_t s = ((talc_tc_node_t *)p)->chunk;
        talc_seg_t *g = talc_seg_of(p);
        talc_stripe_t *st = g->stripe;
        if (st != locked) {
            if (locked)
                talc_stripe_unlock_dropped(locked);
            talc_stripe_lock_noted(st);
            locked = st;
        }
        if (TALC_UNLIKELY(s & TALC_TC_DAMAGED)) {
            /* Stays counted as cached, held bytes included: its chunk word may be garbage. */
            talc_heap_fault(talc_stripe_heap(st), TALC_FAULT_CORRUPTION, p,
                            "header overwritten while cached");
            continue;
        }
        if (!park || !talc_tc_park(st, p, s))
            talc_tc_unmove(st, g, p, s);
        talc_tc_held(sl, (size_t)0 - s);
    }
    if (locked)
        talc_stripe_unlock_dropped(locked);
    talc_ts.tc_giving = false;
    if (TALC_UNLIKELY(talc_ts.held_fault.count))
        talc_fatal_held_report();
}

static void talc_tc_flush_bin(talc_tc_slot_t *sl, unsigned k, uint32_t count, bool park)
{
    talc_tc_bin_t *b = &sl->bin[k];
    talc_tc_give_back(sl, &b->head, &b->n, count, park);
}

/* The free path's slow halves keep errno (free must not change it): a lock may sleep, an
 * emptied segment goes back to the OS, a thread's first cache is mapped. */
void talc_tcache_remote_flush(talc_tc_slot_t *sl)
{
    int saved = errno;
    talc_tc_give_back(sl, &sl->rlist, &sl->rn, sl->rn, true);
    errno = saved;
}

TALC_COLD static bool talc_tc_flush_slot(talc_tc_slot_t *sl)
{
    bool any = sl->rn != 0;
    talc_tcache_remote_flush(sl);
    for (unsigned k = 0; k < TALC_TC_CLASSES; k++) {
        any |= sl->bin[k].n != 0;
        talc_tc_flush_bin(sl, k, sl->bin[k].n, false);
    }
    return any;
}

/* Move a slot's counters into its arena and free the slot. Lock held. */
TALC_COLD static void talc_tc_fold_slot(talc_tc_slot_t *sl, talc_arena_t *a)
{
    for (unsigned i = 0; i < TALC_TC_NCOUNTS; i++) {
        talc_stats_add(&a->tc_count[i], talc_atomic_load_relaxed_size(&sl->count[i]));
        talc_atomic_store_relaxed_size(&sl->count[i], 0);
    }
    sl->home = NULL;
    sl->events = 0;
    for (unsigned k = 0; k < TALC_TC_CLASSES; k++) {
        sl->bin[k].fill = 0; /* the next arena's fills start slow again */
        sl->bin[k].popped = 0;
    }
    atomic_store_explicit(&sl->arena, NULL, memory_order_relaxed);
}

/* Flush a slot (unless its thread did not survive a fork: then its lists may be mid-update
 * and its blocks stay allocated, counted as cached) and free it. Lock held. */
TALC_COLD static void talc_tc_retire_slot(talc_tcache_t *tc, talc_tc_slot_t *sl)
{
    talc_arena_t *a = atomic_load_explicit(&sl->arena, memory_order_relaxed);
    if (!a)
        return;
    if (!tc->orphan)
        (void)talc_tc_flush_slot(sl);
    talc_tc_fold_slot(sl, a);
}

/* Retire slot sl of tc and empty its arena's depots, where what the thread parked would pin
 * their segments (exit, eviction: the thread stops caching for that arena). Lock held. */
TALC_COLD static void talc_tc_retire_emptying(talc_tcache_t *tc, talc_tc_slot_t *sl)
{
    talc_arena_t *a = atomic_load_explicit(&sl->arena, memory_order_relaxed);
    talc_tc_retire_slot(tc, sl);
    if (a && !tc->orphan)
        (void)talc_tc_depot_flush(a);
}

/* ---- A thread's cache: pool, registry, thread exit ----------------------------------------*/

/* Flush tc's slots, unregister it and return it to the pool. The depots of every arena the
 * thread cached for are emptied too: its lists' overflows and its remote frees were parked
 * there, and each parked block keeps a segment mapped and resident (4 threads that freed
 * 100 MB each and exited kept 102-106 MB resident until 2026-12-06; docs/shim.md, "Limits").
 * Until 2026-12-07 a thread that only freed into an arena (a consumer) left them to the
 * producers its frees were parked for, also when none would fill again: they stayed parked
 * for good, and in a reserve arena the borrowed segment they sat in stayed borrowed while
 * another arena was refused (found by a review; a first fix that left them while any other
 * thread's slot had a home did not hold: one allocation by the main thread was enough). A
 * live producer's next fill then asks the heap: one consumer's exit costs it that once. A fork
 * child leaves the depots of the threads it did not inherit (its depots serve its own fills; a
 * child that execs would only pay for the copies of the pages the frees write). Lock held. */
TALC_COLD static void talc_tc_release_locked(talc_tcache_t *tc)
{
    for (unsigned i = 0; i < TALC_TC_SLOTS; i++)
        talc_tc_retire_emptying(tc, &tc->slot[i]);
    if (tc->prev)
        tc->prev->next = tc->next;
    else
        talc_tc_all = tc->next;
    if (tc->next)
        tc->next->prev = tc->prev;
    tc->next = talc_tc_pool;
    talc_tc_pool = tc;
    talc_tc_count--;
}

/* Caches whose thread is gone but never ran the key's destructor: glibc calls a destructor in
 * at most PTHREAD_DESTRUCTOR_ITERATIONS rounds, so a thread whose first cached operation ran
 * in another key's destructor in the last round set our key too late. Each is flushed and
 * released as its thread's exit would have. A thread is gone when no thread of the process
 * has its id (tgkill with signal 0: ESRCH); an id already reused by a new thread keeps the
 * cache until that thread is gone too. Run when the registered caches reach talc_tc_reap_at,
 * which then rises by half the survivors: O(1) system calls per cache made, amortised.
 * Lock held. */
TALC_COLD static void talc_tc_reap(void)
{
    int saved = errno;
    pid_t pid = getpid();
    for (talc_tcache_t *tc = talc_tc_all, *next; tc; tc = next) {
        next = tc->next;
        if (tgkill(pid, tc->tid, 0) != 0 && errno == ESRCH)
            talc_tc_release_locked(tc);
    }
    talc_tc_reap_at = talc_tc_count + talc_tc_count / 2u + TALC_TC_REAP_MIN;
    errno = saved;
}

TALC_COLD static void talc_tc_thread_exit(void *arg)
{
    talc_ts.tc_state = TALC_TC_DEAD; /* later mallocs of this thread bypass the cache */
    talc_ts.tc = NULL;
    talc_ts.tc_mru = NULL;
    talc_tc_lock_take();
    talc_tc_release_locked(arg);
    talc_tc_lock_drop();
}

TALC_COLD static void talc_tc_make_key(void)
{
    talc_tc_key_ok = pthread_key_create(&talc_tc_key, talc_tc_thread_exit) == 0;
}

/* A cache nobody has used: carved from the fresh part of the last pool mapping, which is
 * written only as threads arrive (a process with one thread touches one cache's pages, not
 * the whole mapping's). From the top down: the addresses and the order in which caches were
 * handed out when every cache of a mapping was linked up front, whose placement the thread
 * cache's measurements were taken with. NULL if the OS has no memory. Lock held. */
TALC_COLD static talc_tcache_t *talc_tc_carve(void)
{
    if ((size_t)(talc_tc_fresh_end - talc_tc_fresh) < sizeof(talc_tcache_t)) {
        char *m = talc_os_map(TALC_TC_POOL_BYTES, 0);
        if (!m)
            return NULL;
        talc_tc_fresh = m;
        talc_tc_fresh_end = m + TALC_TC_POOL_BYTES / sizeof(talc_tcache_t) * sizeof(talc_tcache_t);
    }
    talc_tc_fresh_end -= sizeof(talc_tcache_t);
    return (talc_tcache_t *)(void *)talc_tc_fresh_end;
}

/* A zeroed cache for thread tid, a released one first, registered. Lock held. */
TALC_COLD static talc_tcache_t *talc_tc_take(pid_t tid)
{
    if (talc_tc_count >= talc_tc_reap_at)
        talc_tc_reap();
    talc_tcache_t *tc = talc_tc_pool;
    if (tc)
        talc_tc_pool = tc->next;
    else if (!(tc = talc_tc_carve()))
        return NULL;
    memset(tc, 0, sizeof *tc);
    tc->tid = tid;
    tc->next = talc_tc_all;
    if (talc_tc_all)
        talc_tc_all->prev = tc;
    talc_tc_all = tc;
    talc_tc_count++;
    return tc;
}

TALC_COLD static talc_tcache_t *talc_tc_attach(void)
{
    talc_ts.tc_state = TALC_TC_SETUP; /* a malloc from pthread_setspecific bypasses the cache */
    pthread_once(&talc_tc_key_once, talc_tc_make_key);
    pid_t tid = gettid();
    talc_tc_lock_take();
    talc_tcache_t *tc = talc_tc_key_ok ? talc_tc_take(tid) : NULL;
    /* Noted before the release, which reports what a reap found (a fatal handler, which may
     * fork): a fork child keeps the cache of talc_ts.tc only, and until 2026-12-06 it pooled
     * this one, which the thread went on using (found by a review). */
    talc_ts.tc = tc;
    talc_tc_lock_drop();
    if (!tc || pthread_setspecific(talc_tc_key, tc) != 0) {
        if (tc) /* (which clears talc_ts.tc) */
            talc_tc_thread_exit(tc);
        talc_ts.tc_state = TALC_TC_DEAD; /* no way to flush at exit: run without a cache */
        return NULL;
    }
    talc_ts.tc_state = TALC_TC_LIVE;
    return tc;
}

/* sl becomes the calling thread's most recent slot (owner only). */
static talc_tc_slot_t *talc_tc_use(talc_tcache_t *tc, talc_tc_slot_t *sl)
{
    if (talc_ts.tc_mru != sl)
        sl->used = ++tc->clock;
    talc_ts.tc_mru = sl;
    return sl;
}

/* The slot used least recently: the oldest stamp. Until 2026-12-07 the victim went round the
 * slots whatever their use, and a thread that kept one arena busy between visits to four others
 * lost that arena's cache every fourth visit (found by a review: 100 times in 400). The first
 * version's 32-bit clock made a slot left alone for 2^32 switches look new (a second review). */
static unsigned talc_tc_lru(const talc_tcache_t *tc)
{
    unsigned pick = 0;
    for (unsigned i = 1; i < TALC_TC_SLOTS; i++)
        if (tc->slot[i].used < tc->slot[pick].used)
            pick = i;
    return pick;
}

/* A slot for arena a: a free one, or (if `evict`) the least recently used, flushed first
 * (with its arena's depots); NULL if every slot is taken and `evict` is false. */
TALC_COLD static talc_tc_slot_t *talc_tc_assign(talc_tcache_t *tc, talc_arena_t *a, bool evict)
{
    talc_tc_lock_take();
    unsigned pick = TALC_TC_SLOTS;
    for (unsigned i = 0; i < TALC_TC_SLOTS && pick == TALC_TC_SLOTS; i++)
        if (!atomic_load_explicit(&tc->slot[i].arena, memory_order_relaxed))
            pick = i;
    if (pick == TALC_TC_SLOTS && evict) {
        pick = talc_tc_lru(tc);
        /* as at exit: until 2026-12-07 the remote list an evicted slot parked stayed for good
         * when no thread filled from those stripes again (found by a review) */
        talc_tc_retire_emptying(tc, &tc->slot[pick]);
    }
    if (pick < TALC_TC_SLOTS)
        atomic_store_explicit(&tc->slot[pick].arena, a, memory_order_relaxed);
    talc_tc_lock_drop();
    if (pick == TALC_TC_SLOTS)
        return NULL;
    return talc_tc_use(tc, &tc->slot[pick]);
}

/* The calling thread's slot for a, made if needed. Allocation may evict another arena's slot;
 * a free only takes a slot that is unused (a thread that frees blocks of many arenas it does
 * not allocate from would otherwise flush a slot on every free): NULL then, and the block
 * goes straight to its stripe. Whether one is unused is read without the caches' registry
 * lock (only this thread fills its slots; another may empty one, which the next call sees):
 * until 2026-12-06 every such free took that process-wide lock to find none (found by a
 * review). */
static talc_tc_slot_t *talc_tc_slot_slow(talc_arena_t *a, bool evict)
{
    talc_tcache_t *tc = talc_ts.tc;
    if (!tc) {
        if (talc_ts.tc_state != TALC_TC_NONE)
            return NULL;
        tc = talc_tc_attach();
        if (!tc)
            return NULL;
    }
    bool room = evict; /* a free takes only an unused slot: none, and it needs no lock */
    for (unsigned i = 0; i < TALC_TC_SLOTS; i++) {
        talc_arena_t *o = atomic_load_explicit(&tc->slot[i].arena, memory_order_relaxed);
        if (o == a)
            return talc_tc_use(tc, &tc->slot[i]);
        room |= !o;
    }
    return room ? talc_tc_assign(tc, a, evict) : NULL;
}

/* ---- Allocation and free: the slow halves of tcache.h's fast paths ------------------------*/

/* A damaged node at the head of list b (talc_tc_node_bad): the list is dropped (its blocks
 * stay allocated and counted as cached) and the fault reported. Returns NULL. */
TALC_COLD static void *talc_tc_bad_node(talc_arena_t *a, talc_tc_bin_t *b, const void *p)
{
    b->head = NULL;
    b->n = 0;
    talc_fatal_report(TALC_FAULT_CORRUPTION, a->name, p, "header overwritten while cached");
    return NULL;
}

/* talc_tc_fill from st's depot list k (st locked, the list not empty; unlocked on return):
 * all of it, or its head only when `one`. Returns the block handed out, or NULL. */
static void *talc_tc_fill_parked(talc_tc_slot_t *sl, talc_stripe_t *st, unsigned k, size_t n,
                                 bool one)
{
    talc_arena_t *a = st->arena;
    size_t bytes;
    uint32_t count;
    void *list = talc_tc_unpark(st, k, one, &bytes, &count);
    /* Counted as the slot's under the lock that took them off the depot's count: a fork (its
     * handler takes every stripe lock) sees them in one or the other. Handing out the first
     * takes its share off again. */
    talc_tc_held(sl, bytes);
    talc_stripe_unlock(st);
    /* The first block's link becomes the list's head, which a pop reads through: a write
     * after free while it was parked ends the fill here (as at a pop: talc_tc_bad_node). */
    if (TALC_UNLIKELY(talc_tc_node_bad(a, list)))
        return talc_tc_bad_node(a, &sl->bin[k], list);
    return talc_tc_hand_out(sl, talc_tc_adopt(sl, k, list, count), n);
}

/* List k is empty: take several blocks of its size under one stripe lock, keep them, and
 * return a block of n bytes taken with them. NULL if the stripe has no room. */
static void *talc_tc_fill(talc_tc_slot_t *sl, talc_arena_t *a, unsigned k, size_t n)
{
    size_t s = talc_tc_class_size(a, k);
    /* Slow start: a size a thread uses once costs it 2 blocks, not half a list. */
    talc_tc_bin_t *b = &sl->bin[k];
    uint32_t want = b->fill < 2u ? 2u : b->fill, most = a->tc_cap[k] / 2u;
    b->fill = (uint16_t)(want * 2u > most ? most : want * 2u);
    if (talc_atomic_load_relaxed_size(&sl->held) + (size_t)want * s > TALC_TC_SLOT_BYTES)
        want = 1;
    /* The CPU's own stripe, waiting if it is busy: a thread that hopped to another stripe on
     * contention (talc_dispatch_lock_stripe) would fill from a stripe another CPU's threads
     * fill from, and their cached blocks would end up side by side on shared lines. */
    talc_stripe_t *st = talc_dispatch_lock_home(a);
    sl->home = st;
    void *user;
    if (st->depot.n[k]) { /* blocks parked by this or another thread: no heap work */
        user = talc_tc_fill_parked(sl, st, k, n, want == 1u);
        goto homed;
    }
    talc_heap_t *h = talc_stripe_heap(st);
    user = talc_heap_alloc(h, n);
    talc_stats_add(&st->st.allocs, user != NULL);
    for (uint32_t i = 1; user && i < want; i++) {
        void *p = talc_heap_alloc(h, s - TALC_HDR);
        if (!p)
            break;
        /* The heap may hand out a larger chunk (a remainder too small to stand alone stays
         * with it): file the block under its real size. */
        size_t real = talc_hsize(talc_tc_header(p));
        if (real > a->tc_max_chunk) { /* no list for it: give it straight back */
            talc_heap_free(h, p);
            break;
        }
        talc_tc_set_slack(p, TALC_SLACK_HELD);
        /* Cached as a freed block is (talc_tc_push): its memory may be a block some user
         * freed, whose stale pointer must not find it addressable (heap_poison.h). */
        talc_poison((char *)p + sizeof(talc_tc_node_t), real - TALC_HDR - sizeof(talc_tc_node_t));
        talc_tc_link(&sl->bin[talc_tc_class(a, real)], p, real);
        talc_tc_held(sl, real);
        /* Moved into the cache: the heap counted s − HDR live bytes for it. Giving it back
         * takes off real − HDR (tc_give_back): tc_in_bytes and tc_out_bytes follow the heap. */
        talc_stats_add(&st->st.tc_moved, 1);
        talc_stats_add(&st->st.tc_in_bytes, s - TALC_HDR);
    }
    talc_stripe_unlock(st);
homed:
    /* The remote list gathers only while the slot has no home (talc_tc_push), so it is not
     * empty only at the slot's first fill, which has just given it one: send the list to its
     * stripes' depots now, or it would stay until the thread exits, counted in held (up to
     * the slot's bound: every later free would trim). After the fill, not before: the fill
     * must not take them (passive false sharing). */
    if (TALC_UNLIKELY(sl->rn != 0))
        talc_tcache_remote_flush(sl);
    return user;
}

void *talc_tcache_alloc_slow(talc_arena_t *a, size_t n)
{
    talc_tc_slot_t *sl = talc_tc_slot_slow(a, true);
    if (TALC_UNLIKELY(!sl))
        return NULL;
    unsigned k = talc_tc_class_of_request(a, n);
    talc_tc_bin_t *b = &sl->bin[k];
    void *p = b->head;
    if (p && TALC_UNLIKELY(talc_tc_node_bad(a, p)))
        return talc_tc_bad_node(a, b, p);
    if (p) {
        b->head = ((talc_tc_node_t *)p)->next;
        b->n--;
        b->popped = 1;
        return talc_tc_hand_out(sl, p, n);
    }
    return talc_tc_fill(sl, a, k, n);
}

void talc_tcache_free_slow(talc_arena_t *a, talc_seg_t *g, void *p, uint64_t w)
{
    if (!a->tc_on) {
        talc_free_locked(g, p);
        return;
    }
    /* A held slack exceeds any cached chunk (TALC_TC_MAX_CHUNK), so it failed the test. */
    if (talc_hslack(w) == TALC_SLACK_HELD) {
        talc_fatal_report(TALC_FAULT_DOUBLE_FREE, a->name, p, "block is already free");
        return;
    }
    if (!talc_tc_plausible(a, g, p, w)) {
        talc_free_locked(g, p);
        return;
    }
    int saved = errno;
    talc_tc_slot_t *sl = talc_tc_slot_slow(a, false);
    errno = saved;
    if (TALC_UNLIKELY(!sl))
        talc_free_locked(g, p);
    else
        talc_tc_push(sl, a, g->stripe, p, w);
}

/* Give back half of every list (all = true) or of every list the thread did not allocate
 * from since the last trim. The second runs every TALC_TC_GC_EVENTS frees: lists a thread
 * fills (by freeing) but does not allocate from, a consumer's, would otherwise stay at their
 * bound for good (jemalloc's tcache trims its bins alike). The first runs when the slot holds
 * more than its bound: giving back only the list that overflowed would leave the slot above
 * it, and every later free would pay a give-back under a stripe lock. */
TALC_COLD static void talc_tc_trim(talc_tc_slot_t *sl, bool all)
{
    for (unsigned k = 0; k < TALC_TC_CLASSES; k++) {
        talc_tc_bin_t *b = &sl->bin[k];
        if (b->n && (all || !b->popped))
            talc_tc_flush_bin(sl, k, (b->n + 1u) / 2u, false);
        b->popped = 0;
    }
    sl->events = 0;
}

void talc_tcache_overflow(talc_tc_slot_t *sl, const talc_arena_t *a, unsigned k)
{
    int saved = errno;
    if (talc_atomic_load_relaxed_size(&sl->held) > TALC_TC_SLOT_BYTES)
        talc_tc_trim(sl, true);
    else if (sl->events >= TALC_TC_GC_EVENTS)
        talc_tc_trim(sl, false);
    if (sl->bin[k].n > a->tc_cap[k]) /* parked: another thread's fill may want them */
        talc_tc_flush_bin(sl, k, (sl->bin[k].n + 1u) / 2u, true);
    errno = saved;
}

/* ---- Flushes from outside the fast path ---------------------------------------------------*/

/* The flushes below take the lock although they touch only the caller's slots: destroy may be
 * retiring one of them (an arena this thread no longer uses) at the same time. The depots are
 * the arena's, not the thread's: they are emptied also for a thread without a cache (until
 * 2026-12-06 a trim from such a thread, a housekeeping thread's malloc_trim say, left up to
 * TALC_TC_DEPOT_BYTES per stripe parked for good, and the segments they sat in mapped). */
TALC_COLD bool talc_tcache_release_own(talc_arena_t *a)
{
    talc_tcache_t *tc = talc_ts.tc;
    bool any = false;
    talc_tc_lock_take();
    for (unsigned i = 0; tc && i < TALC_TC_SLOTS; i++)
        if (atomic_load_explicit(&tc->slot[i].arena, memory_order_relaxed) == a)
            any = talc_tc_flush_slot(&tc->slot[i]);
    any |= talc_tc_depot_flush(a);
    talc_tc_lock_drop();
    return any;
}

TALC_COLD void talc_thread_cache_flush(void)
{
    talc_tcache_t *tc = talc_ts.tc;
    if (!tc)
        return;
    talc_tc_lock_take();
    for (unsigned i = 0; i < TALC_TC_SLOTS; i++) {
        talc_arena_t *a = atomic_load_explicit(&tc->slot[i].arena, memory_order_relaxed);
        if (a) {
            (void)talc_tc_flush_slot(&tc->slot[i]);
            (void)talc_tc_depot_flush(a);
        }
    }
    talc_tc_lock_drop();
}

TALC_COLD void talc_tcache_purge(talc_arena_t *a)
{
    talc_tc_lock_take();
    for (talc_tcache_t *tc = talc_tc_all; tc; tc = tc->next)
        for (unsigned i = 0; i < TALC_TC_SLOTS; i++)
            if (atomic_load_explicit(&tc->slot[i].arena, memory_order_relaxed) == a)
                talc_tc_retire_slot(tc, &tc->slot[i]);
    (void)talc_tc_depot_flush(a);
    talc_tc_lock_drop();
}

/* Sum the take-back counters (frees, bytes_out), or the others, of a's retired and live slots
 * into out. Lock held. */
TALC_COLD static void talc_tc_sum(talc_arena_t *a, talc_tcache_sums_t *out, bool take_backs)
{
    /* take-backs: frees then bytes_out (acquire: pairs with talc_tc_count_free and the release
     * store of talc_tcache_resize); else the rest */
    static const unsigned char outs[] = {TALC_TC_FREES, TALC_TC_BYTES_OUT},
                               ins[] = {TALC_TC_HELD, TALC_TC_ALLOCS, TALC_TC_BYTES_IN,
                                        TALC_TC_REMOTE, TALC_TC_REALLOCS};
    const unsigned char *pick = take_backs ? outs : ins;
    unsigned npick = take_backs ? sizeof outs : sizeof ins;
    for (unsigned i = 0; i < npick; i++)
        out->v[pick[i]] = talc_atomic_load_acquire_size(&a->tc_count[pick[i]]);
    for (talc_tcache_t *tc = talc_tc_all; tc; tc = tc->next)
        for (unsigned j = 0; j < TALC_TC_SLOTS; j++) {
            talc_tc_slot_t *sl = &tc->slot[j];
            if (atomic_load_explicit(&sl->arena, memory_order_relaxed) != a)
                continue;
            for (unsigned i = 0; i < npick; i++)
                out->v[pick[i]] += talc_atomic_load_acquire_size(&sl->count[pick[i]]);
        }
}

TALC_COLD void talc_tcache_sums_out(talc_arena_t *a, talc_tcache_sums_t *out)
{
    memset(out, 0, sizeof *out);
    talc_tc_lock_take();
    talc_tc_sum(a, out, true);
    talc_tc_lock_drop();
}

TALC_COLD void talc_tcache_sums_in(talc_arena_t *a, talc_tcache_sums_t *out)
{
    memset(out, 0, sizeof *out);
    talc_tc_lock_take();
    talc_tc_sum(a, out, false);
    talc_tc_lock_drop();
}

/* ---- fork ---------------------------------------------------------------------------------*/

TALC_COLD void talc_tcache_fork_lock(void) { talc_mutex_lock_unranked(&talc_tc_lock); }
TALC_COLD void talc_tcache_fork_unlock(void) { talc_mutex_unlock_unranked(&talc_tc_lock); }

/* The child has only the forking thread. The other threads' caches were caught at an
 * arbitrary point of their lock-free fast paths (fork does not wait for those), so their lists
 * cannot be trusted: they are retired without being flushed, their blocks staying allocated
 * and counted as cached (at most TALC_TC_SLOT_BYTES-ish per thread and arena). */
TALC_COLD void talc_tcache_fork_child(void)
{
    talc_mutex_init(&talc_tc_lock, TALC_RANK_TCACHE);
    talc_tc_lock_take();
    for (talc_tcache_t *tc = talc_tc_all, *next; tc; tc = next) {
        next = tc->next;
        if (tc != talc_ts.tc) {
            tc->orphan = true;
            talc_tc_release_locked(tc);
        }
    }
    if (talc_ts.tc)
        talc_ts.tc->tid = gettid(); /* the child's own: a reap must not take it for gone */
    talc_tc_lock_drop();
}

#else /* !TALC_TCACHE: no cache; tc_on stays false, so the arena never calls the rest. */

void talc_tcache_arena_init(talc_arena_t *a)
{
    a->tc_on = false;
    a->tc_req_lim = 0;
}
void *talc_tcache_alloc_slow(talc_arena_t *a, size_t n)
{
    (void)a;
    (void)n;
    return NULL;
}
void talc_tcache_free_slow(talc_arena_t *a, talc_seg_t *g, void *p, uint64_t w)
{
    (void)a;
    (void)w;
    talc_free_locked(g, p);
}
void talc_tcache_overflow(talc_tc_slot_t *sl, const talc_arena_t *a, unsigned k)
{
    (void)sl;
    (void)a;
    (void)k;
}
void talc_tcache_remote_flush(talc_tc_slot_t *sl) { (void)sl; }
bool talc_tcache_release_own(talc_arena_t *a)
{
    (void)a;
    return false;
}
void talc_thread_cache_flush(void) {}
void talc_tcache_purge(talc_arena_t *a) { (void)a; }
void talc_tcache_sums_out(talc_arena_t *a, talc_tcache_sums_t *out)
{
    (void)a;
    memset(out, 0, sizeof *out);
}
void talc_tcache_sums_in(talc_arena_t *a, talc_tcache_sums_t *out)
{
    (void)a;
    memset(out, 0, sizeof *out);
}
talc_mutex_t *talc_tcache_lock_mine(void) { return NULL; }
void talc_tcache_fork_lock(void) {}
void talc_tcache_fork_unlock(void) {}
void talc_tcache_fork_child(void) {}

#endif /* TALC_TCACHE */
