/* arena_internal.h — private structures of the arena layer: arenas, stripes, segments.
 *
 * Who may include it: the arenas/ sources and white-box tests. Concurrency rules are on each
 * struct.
 *
 * Memory: an arena takes segments from its source (OS mappings, a caller buffer, or the
 * reserve). A segment is [base, base+size), aligned to the owner-map granule, starting with a
 * talc_seg descriptor followed by one heap span. Every granule of a segment maps to its
 * descriptor in the owner map (src/pagemap.h), so talc_free(p) finds the owning stripe in O(1)
 * and recognises pointers no arena owns.
 *
 * Invariants:
 *   A1 seg->magic == TALC_SEG_MAGIC ⇔ the segment is live; pagemap(g) == seg for every granule g
 *      of a live segment, and NULL for every granule of memory no arena owns.
 *   A2 a segment belongs to exactly one stripe and is on that stripe's list.
 *   A3 Σ over segments of seg->size == arena->source_bytes + arena->borrowed_bytes.
 *   A4 arena->source_bytes <= hard_budget (when set); arena->borrowed_bytes <= borrow_ceiling.
 *   A5 stripe statistics and the stripe heap change only under the stripe lock, inside a seqlock
 *      write section.
 */
#ifndef TALC_ARENA_INTERNAL_H
#define TALC_ARENA_INTERNAL_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "atomic.h"
#include "heap_internal.h"
#include "mutex.h"
#include "pagemap.h"
#include "region.h"
#include "talc/arena.h"
#include "talc/heap.h"
#include "talc/platform.h"

#ifndef TALC_LIKELY
#define TALC_LIKELY(x) __builtin_expect(!!(x), 1)
#define TALC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#endif

/* TALC_COLD (heap_internal.h) marks rarely run code: libtalc.so's text budget. */

#define TALC_SEG_MAGIC ((uintptr_t)0x5e65e65eu)

/* Segments, buffer runs and reserve runs are multiples of the owner-map granule. */
#define TALC_GRANULE ((size_t)1 << TALC_PAGEMAP_SHIFT)

/* Default size of an OS segment: big enough that mapping is rare, small enough that one kept
 * empty segment per stripe costs little. Oversized requests get a segment of their own. */
#ifndef TALC_SEGMENT_SIZE
#define TALC_SEGMENT_SIZE ((size_t)1 << 20)
#endif
/* Empty normal segments a stripe keeps instead of unmapping them (1 in an arena with a hard
 * or soft budget): a stripe whose use swings by more than a segment would otherwise unmap
 * and map one again on each swing, and fault its pages in each time (the suite's mstress
 * with 2 threads: about 100 000 page faults a second when 1 was kept, 5 000 with 4).
 * docs/arenas.md, "Retention". */
#ifndef TALC_SEG_KEEP_EMPTY
#define TALC_SEG_KEEP_EMPTY 4u
#endif
/* With no budget, a stripe may keep one empty oversized OS segment (a large block's own) of up
 * to this many normal segments (32 MiB in the large stripe: glibc's largest dynamic mmap
 * threshold), in place of a normal one. docs/arenas.md, "Retention". */
#define TALC_SEG_KEEP_OVERSIZED 8u
#define TALC_STRIPE_ALIGN 128 /* two 64-byte lines: no false sharing between stripes */
/* Requests of this many bytes or more go to the arena's large stripe (talc_arena_t.nroute),
 * whose segments hold no smaller block: a small long-lived block carved beside a large one
 * kept the large one's memory from serving anything but small blocks once it was freed, and
 * kept its segment mapped (docs/arenas.md, "Large blocks"). */
#ifndef TALC_LARGE_MIN /* 256 KiB, or a granule where that is larger (a segment's unit) */
#define TALC_LARGE_MIN (TALC_GRANULE > ((size_t)256 << 10) ? TALC_GRANULE : ((size_t)256 << 10))
#endif
/* The large stripe's OS segments are this many times the default size (no budget). */
#ifndef TALC_LARGE_SEG_FACTOR
#define TALC_LARGE_SEG_FACTOR 4u
#endif

typedef struct talc_stripe talc_stripe_t;

typedef enum talc_seg_kind {
    TALC_SEG_OS = 0,
    TALC_SEG_BUFFER,
    TALC_SEG_RESERVE,
} talc_seg_kind_t;

/* Segment descriptor, at the base of the segment. Immutable after creation except the list
 * links, which change under the owning stripe's lock. */
typedef struct talc_seg {
    uintptr_t magic;
    talc_stripe_t *stripe;
    talc_arena_t *arena; /* stripe->arena, one load nearer for talc_free */
    talc_span_t *span;
    char *base;
    size_t size;
    talc_seg_kind_t kind;
    size_t empty_chunk;           /* size of the one free chunk the span is when empty */
    struct talc_seg *next, *prev; /* the stripe's segments */
} talc_seg_t;

/* Per-stripe counters: the arena-level totals. The live figures (allocations, bytes, peak,
 * managed, free bytes and chunks) are the stripe heap's own counters, read in place. Both are
 * written only by the holder of the stripe lock, inside the seqlock write section that
 * talc_stripe_lock opens (seq odd while writing); snapshots read them lock-free, retrying on
 * a seq change (stripe_stats.c). */
typedef struct talc_stripe_stats {
    talc_atomic_u32 seq;
    talc_atomic_size allocs, frees, reallocs, failed;
    talc_atomic_size contended, remote_frees;
    /* Thread caches (arenas/tcache.c): blocks moved into them minus those given back (mod
     * 2^N), and the requested bytes the heap counted for blocks moved in and for blocks given
     * back (both only grow): the user's allocations through this stripe are the heap's
     * total_bytes − tc_in_bytes, its frees the heap's bytes_out − tc_out_bytes. */
    talc_atomic_size tc_moved, tc_in_bytes, tc_out_bytes;
} talc_stripe_stats_t;

/* The thread caches' blocks parked at a stripe (arenas/tcache.c, "Depot"): still allocated
 * in the heap, on lists per cache size class (112 = TALC_TC_CLASSES), for the next fill from
 * this stripe. Under the stripe lock; `bytes` is also read by snapshots. */
typedef struct talc_tc_depot {
    talc_atomic_size bytes; /* chunk bytes parked (the bound; counted as cached) */
    void *head[112];        /* linked as talc_tc_node_t */
    size_t kbytes[112];     /* chunk bytes on each list: a fill takes a list whole */
    uint16_t n[112];
} talc_tc_depot_t;

/* A stripe: one heap behind one lock, on its own lines. The heap, its segments, the depot and
 * the stats change only under `lock`. */
struct talc_stripe {
    alignas(TALC_STRIPE_ALIGN) talc_mutex_t lock;
    talc_arena_t *arena;
    unsigned index;
    talc_seg_t *segs;  /* live segments */
    talc_seg_t *unmap; /* dropped OS segments, unmapped after the lock's release */
    /* Set at creation (arena.c): a normal segment's size, TALC_LARGE_SEG_FACTOR times the
     * arena's in its large stripe when the source is the OS and there is no budget (its
     * segments then hold several large blocks, so they rarely empty only to be mapped again);
     * and the empty ones it keeps for its next growth: TALC_SEG_KEEP_EMPTY, or in an arena with
     * a budget one, none in its large stripe (what a stripe keeps, the others cannot grow
     * into, and a soft budget's callback re-arms only once the footprint falls). */
    size_t seg_size;
    unsigned seg_keep;
    talc_stripe_stats_t st;
    talc_tc_depot_t depot;
    /* The segments talc_seg_after_free kept when they emptied (NULL: a free entry). One that
     * has been used since is no longer empty, and its entry can be taken. A free that empties
     * a segment looks here, not through `segs`: walking every segment made freeing a heap of
     * N segments O(N^2) (8 GiB of 64 KB blocks: 3.5 s; found by a review, 2026-12-06). */
    talc_seg_t *kept[TALC_SEG_KEEP_EMPTY];
    alignas(max_align_t) unsigned char heap_mem[]; /* talc_heap_footprint() bytes */
};

/* OOM step counters and budget state; changed under arena->grow_lock. */
typedef struct talc_arena_oom {
    talc_atomic_size steps[TALC_OOM_STEP_ABORT + 1];       /* how often each step ran */
    talc_atomic_size step_ok[TALC_OOM_STEP_ABORT + 1];     /* how often it succeeded */
    talc_atomic_size step_failed[TALC_OOM_STEP_ABORT + 1]; /* how often it found nothing */
} talc_arena_oom_t;

/* The thread caches' counters, in the same order wherever they are kept (a slot, the arena's
 * retired slots, a snapshot's sums): named for the hit paths, an array for the loops that
 * fold and sum them (arenas/tcache.c). */
enum {
    TALC_TC_HELD,
    TALC_TC_ALLOCS,
    TALC_TC_FREES,
    TALC_TC_BYTES_IN,
    TALC_TC_BYTES_OUT,
    TALC_TC_REMOTE,
    TALC_TC_REALLOCS,
    TALC_TC_NCOUNTS
};

struct talc_arena {
    uintptr_t magic;
    char name[TALC_ARENA_NAME_MAX + 1];
    char fallback[TALC_ARENA_NAME_MAX + 1];
    /* The arena named `fallback`, once a FALLBACK step has found it (oom.c): it cannot be
     * destroyed while this one names it (talc_arena_destroy's -EPERM), so it is kept. */
    _Atomic(talc_arena_t *) fallback_arena;
    talc_arena_config_t cfg; /* copy; cfg.name/fallback point at the arrays above */
    unsigned nstripes;       /* nroute + 1: every loop over the stripes covers the large stripe */
    unsigned nroute;         /* stripes 0..nroute-1 serve requests below TALC_LARGE_MIN (the
                                dispatcher's); stripe nroute serves the larger ones */
    size_t stripe_size;      /* bytes per stripe struct, a multiple of TALC_STRIPE_ALIGN */
    size_t map_size;         /* bytes of the mapping holding this struct */
    uint64_t id;             /* creation number: never reused (64 bits) */
    bool is_default;

    /* Growth: serialises taking memory from the source and the reserve. Lock rank: after the
     * stripe lock (a stripe grows while holding its own lock). */
    talc_mutex_t grow_lock;
    /* Written under grow_lock with relaxed atomic stores (talc_grow_set), so that
     * talc_arena_get_stats reads them without the lock (relaxed loads). */
    size_t source_bytes;   /* bytes currently taken from the source */
    size_t borrowed_bytes; /* bytes currently held from the reserve */
    talc_atomic_size borrowed_total, returned_total;
    talc_region_t buffer;                  /* TALC_SOURCE_BUFFER: granule runs of the buffer */
    talc_atomic_size reserve_denied;       /* borrow requests the reserve refused */
    talc_atomic_size trims, trimmed_bytes; /* talc_arena_trim calls and the bytes they returned */
    uint8_t *cpu_stripe;                   /* cpu -> home stripe, ncpus entries */
    unsigned ncpus;
    /* With fewer stripes than CPUs: home_span[h] = the stripes from home h up to the next
     * CPU's home (or the last stripe), so that a thread finds its CPU's stripes in O(1). */
    uint8_t home_span[TALC_STRIPES_MAX];
    talc_atomic_u32 soft_armed;       /* 1 = the soft-budget callback may fire */
    talc_atomic_size soft_crossed_at; /* the footprint of the last upward crossing (written
                                         under the grow lock; the callback is told it) */
    talc_arena_oom_t oom;

    /* Thread caches (arenas/tcache.c): parameters fixed at creation, and the counters of
     * cache slots that were flushed (written under the cache registry lock). */
    bool tc_on;
    unsigned tc_qshift;     /* log2 of the heaps' quantum */
    unsigned tc_min_quanta; /* the heaps' minimum chunk, in quanta */
    size_t tc_min_chunk, tc_max_chunk, tc_max_req;
    size_t tc_req_lim;    /* tc_max_req + 1 with caches on, 0 off: one compare
                             (n < tc_req_lim) tells a hit path whether to try */
    size_t tc_qmask;      /* quantum - 1 */
    size_t tc_chunk_span; /* tc_max_chunk - tc_min_chunk */
    uint8_t tc_cap[112];  /* blocks a list may hold, per size (TALC_TC_CLASSES) */
    /* Size classes by chunk length in quanta (TALC_TC_MAX_QUANTA = 1024): tc_class_req[i] is
     * the list that serves a request needing i + 1 quanta, tc_class_chunk[i] the list a free
     * chunk of i quanta goes on. Lookups instead of arithmetic on the hit paths. */
    uint8_t tc_class_req[1024];
    uint8_t tc_class_chunk[1025];
    union { /* retired slots' counters (tcache.h, talc_tc_slot_t) */
        struct {
            talc_atomic_size tc_held, tc_allocs, tc_frees, tc_bytes_in, tc_bytes_out, tc_remote,
                tc_reallocs;
        };
        talc_atomic_size tc_count[TALC_TC_NCOUNTS];
    };

    /* Registry links (arenas/registry.c), under the registry lock; RCU readers follow them. */
    _Atomic(struct talc_arena *) reg_next;
    _Atomic(struct talc_arena *) hash_next;
    /* Reserve membership (arenas/reserve.c), under the reserve lock. */
    struct talc_arena *reserve_next;
    size_t reserve_held; /* bytes held from the reserve (reserve lock) */

    alignas(TALC_STRIPE_ALIGN) unsigned char stripes_mem[];
};

#define TALC_ARENA_MAGIC ((uintptr_t)0xa7e2aa7eu)

static inline talc_stripe_t *talc_arena_stripe(talc_arena_t *a, unsigned i)
{
    return (talc_stripe_t *)(void *)(a->stripes_mem + (size_t)i * a->stripe_size);
}

/* The stripe that serves requests of TALC_LARGE_MIN bytes or more. */
static inline talc_stripe_t *talc_large_stripe(talc_arena_t *a)
{
    return talc_arena_stripe(a, a->nroute);
}

static inline talc_heap_t *talc_stripe_heap(talc_stripe_t *s)
{
    return (talc_heap_t *)(void *)s->heap_mem;
}

/* ---- Segment layer (arenas/segment.c) -----------------------------------------------------*/

/* Bytes of segment header in front of the span. */
size_t talc_seg_overhead(void);
/* Size of a normal segment of stripe s (talc_stripe_t.seg_size). */
static inline size_t talc_seg_default_size(const talc_stripe_t *s) { return s->seg_size; }
/* Returns 1 (instead of 0) when the growth crossed the soft budget: the caller fires the
 * callback after dropping its locks. */
/* Give stripe s (locked) at least `need` more contiguous bytes: reuse, source, then nothing.
 * `borrow` selects the reserve instead of the source. Returns 0 or -ENOMEM. */
int talc_seg_grow(talc_stripe_t *s, size_t need, bool borrow);
/* Grow stripe s (locked) from its source by a segment of at least `bytes` (a multiple of the
 * granule, at least one) mapped bytes, or the default size if larger, cut to the room left
 * when `bytes` fits in it: what initial_size maps. Returns as talc_seg_grow does. */
int talc_seg_prefill(talc_stripe_t *s, size_t bytes);
/* Called after a free in stripe s (locked) touched segment g: release it if empty and policy
 * says so. An OS segment leaves the owner map and the budget at once and is unmapped by the
 * stripe's release (talc_stripe_unlock_freed or _dropped), not under the lock. */
void talc_seg_after_free(talc_stripe_t *s, talc_seg_t *g);
/* Release every segment of stripe s (arena destroy). */
void talc_seg_release_all(talc_stripe_t *s);
/* The arena could not grow, or is trimmed: give back the empty segments its stripes keep for
 * reuse (not borrowed ones: those went back already). When `idle` (an idle trim), only those
 * the last idle trim saw empty and nothing has used since (their one free chunk still flagged
 * TALC_F_AGED). Takes each stripe lock in turn; call with no lock held. Returns the bytes of
 * the segments that went back (0: none). */
size_t talc_seg_reclaim(talc_arena_t *a, bool idle);
/* The owner-map writer lock, for fork handlers. */
void talc_seg_pagemap_lock(void);
void talc_seg_pagemap_unlock(void);
void talc_seg_pagemap_reinit(void);
/* The segment owning p, or NULL (lock-free; inline: every free asks). */
static inline talc_seg_t *talc_seg_of(const void *p)
{
    talc_seg_t *g = talc_pagemap_get(p);
    return (g && g->magic == TALC_SEG_MAGIC) ? g : NULL;
}

/* ---- Stripe statistics (write side; the read side is arenas/stripe_stats.c) ---------------*/

/* The write side is inline: it runs inside every allocation and free (out of line, three
 * calls cost about 3 ns of a 65 ns operation, docs/arenas.md). A write section makes seq odd,
 * updates fields with relaxed stores, and makes seq even again with a release store; the read
 * side (talc_stripe_stats_read) is in stripe_stats.c. With TALC_COUNTERS=0 the sections and
 * the engine copy compile to nothing: the stripe counters stay zero and only the arena-level
 * figures (source, reserve, OOM steps) remain. Callers hold the stripe lock. */
static inline void talc_stats_write_begin(talc_stripe_stats_t *st)
{
#if TALC_COUNTERS
    uint32_t s = talc_atomic_load_relaxed_u32(&st->seq);
    talc_atomic_store_relaxed_u32(&st->seq, s + 1u);
    /* release fence: the odd seq becomes visible before any of the field stores after it. */
    atomic_thread_fence(memory_order_release);
#else
    (void)st;
#endif
}

static inline void talc_stats_write_end(talc_stripe_stats_t *st)
{
#if TALC_COUNTERS
    uint32_t s = talc_atomic_load_relaxed_u32(&st->seq);
    /* release: the field stores before it become visible before the even seq. */
    talc_atomic_store_release_u32(&st->seq, s + 1u);
#else
    (void)st;
#endif
}
static inline void talc_stats_add(talc_atomic_size *c, size_t d)
{
#if TALC_COUNTERS
    talc_atomic_store_relaxed_size(c, talc_atomic_load_relaxed_size(c) + d);
#else
    (void)c;
    (void)d;
#endif
}
/* A running total changed under some lock other than a stripe lock (grow lock, reserve). */
static inline void talc_stats_add_total(talc_atomic_size *c, size_t d)
{
    atomic_fetch_add_explicit(c, d, memory_order_relaxed);
}
static inline void talc_stats_sub(talc_atomic_size *c, size_t d)
{
    talc_atomic_store_relaxed_size(c, talc_atomic_load_relaxed_size(c) - d);
}
/* The stripe lock and the stats write section go together: every change to a stripe's heap
 * (and so to the engine counters snapshots read) and to its stripe counters happens between
 * talc_stripe_lock and talc_stripe_unlock, inside one write section. */
static inline void talc_stripe_lock(talc_stripe_t *s)
{
    talc_mutex_lock(&s->lock);
    talc_stats_write_begin(&s->st);
}

static inline bool talc_stripe_trylock(talc_stripe_t *s)
{
    if (!talc_mutex_trylock(&s->lock))
        return false;
    talc_stats_write_begin(&s->st);
    return true;
}

/* talc_stripe_lock, counting the acquisition in s's lock_contended if the lock was found
 * taken (dispatch.c; the allocation and free paths count inline). */
void talc_stripe_lock_noted(talc_stripe_t *s);

static inline void talc_stripe_unlock(talc_stripe_t *s)
{
#if TALC_DEBUG >= 1
    if (s->unmap != NULL) /* a free happened here: talc_stripe_unlock_freed's work */
        abort();
#endif
    talc_stats_write_end(&s->st);
    talc_mutex_unlock(&s->lock);
}

/* Release s after a critical section that freed into its heap, and may so have emptied a
 * segment that talc_seg_after_free dropped: that one is unmapped after the release, with no
 * lock of the stripe held (segment.c). Only these releases look for one: the plain release
 * has a dozen inlined call sites inside the 64 KiB text budget (debug builds check that they
 * have none). The inline form is for the free path; cold paths call the function. */
void talc_stripe_unlock_dropped(talc_stripe_t *s);

static inline void talc_stripe_unlock_freed(talc_stripe_t *s)
{
    if (TALC_UNLIKELY(s->unmap != NULL)) {
        talc_stripe_unlock_dropped(s);
        return;
    }
    talc_stats_write_end(&s->st);
    talc_mutex_unlock(&s->lock);
}

/* ---- Fatal path (arenas/fatal.c) ----------------------------------------------------------*/

/* A stripe heap's fatal hook (ctx = the stripe): the report waits until the thread releases
 * the stripe lock (fatal.c). */
void talc_fatal_stripe_handler(const talc_fault_info_t *info, void *ctx);
void talc_fatal_report(talc_fault_t f, const char *arena, const void *addr, const char *what);
/* Report the fault this thread holds (talc_ts.held_fault.count != 0), now or at the release of
 * the outer lock it waits for; while talc_ts.tc_giving, it waits (a give-back ends it). */
void talc_fatal_held_report(void);

/* ---- Default arena (arenas/arena.c) -------------------------------------------------------*/

/* Configure the default arena before it is created (the malloc shim's TALC_CONF). cfg must be
 * a valid OS-source config without fallback; its name is ignored. Returns 0, -EINVAL, or
 * -EALREADY once the default arena's creation has started. */
int talc_arena_default_preset(const talc_arena_config_t *cfg);

/* ---- Registry (arenas/registry.c) ---------------------------------------------------------*/

/* Register a (-EEXIST if the name is taken); when publish is not NULL, also store a there
 * (release) under the registry lock, which fork's prepare takes: a fork child then has both
 * or neither. */
int talc_registry_add(talc_arena_t *a, _Atomic(talc_arena_t *) *publish);
/* Unregister a unless veto(other, a) holds for another registered arena (-EPERM), checked
 * under the registry lock; then waits for a grace period before returning 0. -EDEADLK (and
 * nothing done) when the calling thread is inside a foreach callback: the grace period would
 * wait for it. */
int talc_registry_remove(talc_arena_t *a,
                         bool (*veto)(const talc_arena_t *other, const talc_arena_t *a));
/* The registry lock (registry.c): the fork handlers take it first; fatal.c defers a fault found
 * inside talc_registry_visit to its release. */
extern talc_mutex_t talc_reg_mutex;
/* Every arena, in creation order, to fn until it returns false; the number visited. The
 * caller keeps the list still: an RCU read-side section or the registry lock (fork). */
size_t talc_registry_walk(bool (*fn)(talc_arena_t *a, void *ctx), void *ctx);
/* Under the registry lock: the arena called name; with name NULL, the first arena x other
 * than a for which pred(x, a) holds; NULL if none. Not an RCU read: a thread's first one
 * registers it with liburcu-bp, which aborts the process when it cannot map room for that,
 * and the library's own lookups (create, destroy, a FALLBACK step) run when memory may be
 * short (docs/arenas.md, "Registry"). */
talc_arena_t *talc_registry_find_locked(const char *name,
                                        bool (*pred)(const talc_arena_t *x, const talc_arena_t *a),
                                        const talc_arena_t *a);

/* ---- Dispatch (arenas/dispatch.c) ---------------------------------------------------------*/

/* What the arena layer keeps per thread, in one thread-local object: each costs a load-time
 * relocation (24 bytes of libtalc.so's text) and, where a function reads two, a second load
 * of its offset. Only its own thread touches it. The routing state: the arena (route: the
 * innermost scope, else the binding; bound, scopes), its stripe (dispatch.c keeps the rest),
 * and how many foreach callbacks it is inside (registry.c). The thread cache (tcache.c): the
 * thread's cache, the slot used last (read by every cached operation, hence first), the
 * cache's state and whether this thread holds the caches' registry lock. fresh_block: the
 * block the thread's last allocation took from a segment it had just mapped from the OS, all
 * zero (oom.c, talc_span_scrub_first); NULL otherwise, or stale: calloc clears it first and
 * compares after its allocation. Also
 * the OOM chain's notes (oom.c) and a fault held for a lock's release (fatal.c). */
#define TALC_OOM_NEST 8u /* notes of arenas whose OOM user code runs (oom.c, "User code") */

typedef struct talc_tstate {
    /* Read on every operation: the first 64 bytes. */
    struct talc_tc_slot *tc_mru; /* the slot of tc used last; NULL when tc is */
    talc_arena_t *route;
    talc_stripe_t *last; /* the stripe this thread allocated from last */
    /* The stripe chosen last time, valid while the arena (by creation number: an address can
     * be reused by a later arena) and the CPU are the same: no table lookup, no division. */
    uint64_t c_id;
    unsigned c_cpu;
    unsigned c_home, c_stride, c_count; /* the CPU's stripes: c_count from home, c_stride apart */
    talc_stripe_t *c_stripe;
    /* The rest. */
    struct talc_tcache *tc; /* NULL until the thread's first cached operation, after its exit */
    void *fresh_block;
    unsigned char tc_state;
    bool tc_lock_mine;
    bool reg_lock_mine; /* inside talc_registry_visit: a fault found meanwhile waits for the
                           registry lock's release too (fatal.c) */
    bool tc_giving;     /* inside talc_tc_give_back: a fault found meanwhile waits for its end */
    talc_arena_t *bound;
    talc_arena_t *scope[TALC_SCOPE_MAX];
    unsigned depth;
    unsigned offset; /* steps from home among its CPU's stripes (talc_drift); moved on contention */
    unsigned reading; /* talc_arena_foreach callbacks this thread is inside (registry.c) */
    struct {          /* the arenas whose user code this thread runs in their OOM chain (oom.c) */
        const talc_arena_t *arena[TALC_OOM_NEST];
        uintptr_t frame[TALC_OOM_NEST];
        unsigned n;
    } oom_nest;
    struct { /* a fault found under a stripe lock, reported at its release (fatal.c) */
        talc_fault_info_t info;
        unsigned count;
    } held_fault;
    size_t grow_extra; /* realloc moving a growing block: room a new segment leaves above it */
    /* The arena whose ABORT step a realloc's chain passed, for the realloc to report once its
     * last resort fails too (oom.c, talc_oom_step); NULL: none. */
    talc_arena_t *abort_waits;
    /* The large stripe this thread allocated from last (talc_dispatch_lock_stripe): a free
     * into it is not remote, as one into `last` is not. Not in `last`, so that a large block
     * does not make the frees of the thread's small blocks remote. */
    talc_stripe_t *last_large;
} talc_tstate_t;
extern __thread talc_tstate_t talc_ts __attribute__((tls_model("initial-exec")));

/* The default arena once created (arena.c; published with a release store). */
extern _Atomic(talc_arena_t *) talc_default_arena;

/* The calling thread's arena, or NULL before the default arena exists: the part of
 * talc_route that calls nothing (a caller's fast path needs no stack frame). */
static inline talc_arena_t *talc_route_quick(void)
{
    talc_arena_t *a = talc_ts.route;
    if (TALC_LIKELY(a == NULL)) /* acquire: pairs with the store that published the default */
        a = atomic_load_explicit(&talc_default_arena, memory_order_acquire);
    return a;
}

/* talc_thread_arena, inline: every malloc through the shim asks. */
static inline talc_arena_t *talc_route(void)
{
    talc_arena_t *a = talc_route_quick();
    return TALC_LIKELY(a != NULL) ? a : talc_arena_default();
}

/* The stripe of `a` that serves a request of n bytes, locked: from TALC_LARGE_MIN bytes the
 * large stripe (waiting if it is busy); below, the calling thread's home stripe plus its
 * contention offset, or, in an arena with thread caches, talc_dispatch_lock_home's. */
talc_stripe_t *talc_dispatch_lock_stripe(talc_arena_t *a, size_t n);
/* The stripe of `a` that the calling thread's CPU maps to (no per-thread offset), locked,
 * waiting if it is busy rather than moving to another stripe (thread-cache fills: tcache.c
 * says why). */
talc_stripe_t *talc_dispatch_lock_home(talc_arena_t *a);

/* ---- Trim (arenas/trim.c) -----------------------------------------------------------------*/

/* talc_heap_resize_in_place of block p (old usable bytes, in segment g of stripe s, locked) to
 * n bytes, for realloc's blocks of TALC_REALLOC_UNLOCKED_COPY bytes or more. A block shrunk by
 * TALC_LARGE_MIN bytes or more in an OS segment first gives back the whole pages past its new
 * end, as a trim would, with s unlocked for the call (s is locked again on return): a daemon
 * that reads a file into a large buffer and shrinks it to fit must not keep the rest
 * resident, nor stop the stripe's other threads meanwhile. */
bool talc_resize_large(talc_stripe_t *s, const talc_seg_t *g, void *p, size_t n, size_t old);

/* ---- Free (arenas/arena_alloc.c) ----------------------------------------------------------*/

/* talc_free's locked half: p (in segment g) goes into its stripe under the stripe's lock. The
 * thread cache calls it for blocks it does not take. Keeps errno. */
void talc_free_locked(talc_seg_t *g, void *p);
/* Forget cached thread state that points into arena a (destroy). */
void talc_dispatch_forget(talc_arena_t *a);

#endif /* TALC_ARENA_INTERNAL_H */
