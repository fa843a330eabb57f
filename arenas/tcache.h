/* tcache.h — the per-thread cache of small blocks in front of an arena's stripes (private):
 * its structures and the inline fast paths; the rest is in tcache.c, whose banner gives the
 * design, the exactness argument and the bounds (also docs/arenas.md, "Thread cache").
 *
 * Who may include it: the arenas/ sources.
 *
 * Concurrency: talc_tcache_alloc / talc_tcache_free run on the calling thread without locks
 * and touch only that thread's slot; the out-of-line functions take the cache registry lock
 * (rank TALC_RANK_TCACHE: after the arena registry, before any stripe) where they say so.
 */
#ifndef TALC_TCACHE_H
#define TALC_TCACHE_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena_internal.h"
#include "heap_internal.h"

#define TALC_TC_SLOTS 4u     /* arenas a thread caches for at once */
#define TALC_TC_REAP_MIN 16u /* registered caches before lost ones are looked for (tcache.c) */
/* Chunk sizes: q, 2q, ..., 64q (fine), then 72q, 80q, ..., 256q (coarse: a request above 64q
 * is rounded up to a multiple of 8q, at most 7q more), then 288q, 320q, ..., 1024q (wide: a
 * multiple of 32q, at most 31q more). q = 16 gives 16 B .. 16 KiB. A cached chunk is also at
 * most TALC_TC_MAX_CHUNK bytes, whatever the quantum: a slack (at most the chunk less its
 * header) then never reaches TALC_SLACK_HELD. */
#define TALC_TC_FINE 64u
#define TALC_TC_COARSE_STEP 8u  /* quanta */
#define TALC_TC_COARSE_END 256u /* quanta */
#define TALC_TC_WIDE_STEP 32u   /* quanta */
#define TALC_TC_MAX_QUANTA 1024u
#define TALC_TC_COARSE_LAST /* the first wide class */                                             \
    (TALC_TC_FINE + (TALC_TC_COARSE_END - TALC_TC_FINE) / TALC_TC_COARSE_STEP)
#define TALC_TC_CLASSES /* 112 */                                                                  \
    (TALC_TC_COARSE_LAST + (TALC_TC_MAX_QUANTA - TALC_TC_COARSE_END) / TALC_TC_WIDE_STEP)
#define TALC_TC_MAX_CHUNK ((size_t)65536)
_Static_assert(TALC_TC_MAX_CHUNK - TALC_HDR < TALC_SLACK_HELD, "a cached slack is never HELD");
#define TALC_TC_CLASS_BYTES ((size_t)65536) /* a size's list holds about this many bytes */
#define TALC_TC_CAP_MIN 8u
#define TALC_TC_CAP_MAX 255u
#define TALC_TC_SLOT_BYTES ((size_t)2 << 20) /* a slot holds at most about this much */
#define TALC_TC_REMOTE_MAX 128u              /* remote blocks a slot gathers before giving back */
#define TALC_TC_GC_EVENTS 4096u              /* frees between two trims of unused lists */
_Static_assert(sizeof(((talc_arena_t *)0)->tc_cap) == TALC_TC_CLASSES, "a cap per size");
_Static_assert(TALC_TC_CAP_MAX <= UINT8_MAX, "talc_arena_t.tc_cap holds a cap in a byte");
#define TALC_TC_DEPOT_BYTES ((size_t)1 << 20) /* a stripe's depot parks at most about this */
_Static_assert(sizeof(((talc_tc_depot_t *)0)->head) / sizeof(void *) == TALC_TC_CLASSES,
               "a depot list per size");
_Static_assert(TALC_TC_CAP_MAX <= UINT16_MAX, "talc_tc_depot_t.n holds a list's cap");
_Static_assert(TALC_TC_CAP_MAX / 2u <= UINT16_MAX, "talc_tc_bin_t.fill holds half a cap");
/* Chunks in quanta: the class tables (talc_arena_t.tc_class_*) have an entry per count. */
_Static_assert(sizeof(((talc_arena_t *)0)->tc_class_req) == TALC_TC_MAX_QUANTA, "a class a size");
_Static_assert(sizeof(((talc_arena_t *)0)->tc_class_chunk) == TALC_TC_MAX_QUANTA + 1u, "ditto");

typedef struct talc_tc_bin {
    void *head; /* user pointers, linked through their first word (talc_tc_node_t) */
    uint32_t n;
    uint16_t fill;  /* blocks the next fill takes: 2, doubling per fill up to half the cap */
    uint8_t popped; /* allocated from since the last trim (a byte store on the hit path) */
} talc_tc_bin_t;

/* One arena's cache in one thread. The first line holds what every operation touches.
 *
 * Lists: bin[k] holds blocks for reuse whose chunk is at least talc_tc_class_size(k) (exactly
 * that for the 64 fine classes; up to one coarse step more above). Blocks this thread frees
 * before it has allocated from the arena (home == NULL: the slot has not been filled yet) are
 * not reused: they belong to other threads, which may still be using their neighbours on the
 * same cache lines (passive false sharing), and a thread that only frees has no use for them.
 * They gather on `rlist` and go back to their stripes TALC_TC_REMOTE_MAX at a time, or after
 * the slot's first fill gives it a home (else they would stay there, counted in held). (glibc's
 * and jemalloc's thread caches behave alike: a thread's frees before its first allocation
 * bypass a cache that does not exist yet.)
 *
 * Counters (tcache.c, "Exactness"): allocs and frees are the user operations the slot served,
 * bytes_in and bytes_out the requested bytes of the blocks it handed out and took back; all
 * four only grow, and a take-back publishes frees last, with a release store, so that a
 * snapshot that sees it also sees the allocation of that block (stats.c). A block's moves
 * between a stripe and a slot are counted on the stripe (talc_stripe_stats_t.tc_*). held is
 * the chunk bytes the slot holds. */
typedef struct talc_tc_slot {
    _Atomic(talc_arena_t *) arena; /* owner thread reads; changed under the registry lock */
    talc_stripe_t *home;           /* the stripe the last fill came from (owner only) */
    void *rlist;                   /* remote blocks, nodes as on the lists (talc_tc_node_t) */
    uint32_t rn;                   /* blocks on rlist */
    uint32_t events;               /* frees since the last trim (owner only) */
    uint64_t used;                 /* talc_tcache_t.clock when it last became the MRU slot
                                      (owner only): the least recent is evicted */
    /* Published for snapshots: one writer (the owner, or a flusher under the lock). */
    union {
        struct {
            talc_atomic_size held, allocs, frees, bytes_in, bytes_out, remote, reallocs;
        };
        talc_atomic_size count[TALC_TC_NCOUNTS]; /* the same, in TALC_TC_* order */
    };
    talc_tc_bin_t bin[TALC_TC_CLASSES];
} talc_tc_slot_t;

/* A thread's cache. Caches sit side by side in pool pages, so each starts on its own pair of
 * lines (TALC_STRIPE_ALIGN) and its size is a multiple of that: no line is shared by two
 * threads' caches (one thread's counters would otherwise bounce the line holding the next
 * thread's list heads). */
typedef struct talc_tcache {
    alignas(TALC_STRIPE_ALIGN) uint64_t clock; /* ticks when another slot becomes the MRU
                                                  (64 bits: never wraps) */
    bool orphan;                               /* its thread did not survive a fork (child side) */
    pid_t tid;                                 /* its thread's id (a lost cache is found by it) */
    struct talc_tcache *next, *prev;           /* registry (lock) */
    talc_tc_slot_t slot[TALC_TC_SLOTS];
} talc_tcache_t;
_Static_assert(sizeof(talc_tcache_t) % TALC_STRIPE_ALIGN == 0, "caches share no line");

/* The calling thread's cache is talc_ts.tc, its slot used last talc_ts.tc_mru
 * (arena_internal.h, talc_tstate_t). */

/* ---- Out of line (tcache.c) ---------------------------------------------------------------*/

/* Set up arena a's cache parameters at creation (a->tc_*) from its configuration. */
void talc_tcache_arena_init(talc_arena_t *a);
/* talc_tcache_alloc's miss: find or assign the slot, fill its list. */
void *talc_tcache_alloc_slow(talc_arena_t *a, size_t n);
/* talc_tcache_free's other cases, in order: an arena without caches, or p not plausible: p
 * goes to its stripe (whose heap reports a bad pointer), except a cached block's second free,
 * which goes to the fatal handler; no slot for a at hand: find one or take an unused one,
 * then cache p (or send it to its stripe if every slot serves another arena). */
void talc_tcache_free_slow(talc_arena_t *a, talc_seg_t *g, void *p, uint64_t w);
/* List k grew past its bound, or the slot past its own, or it is time to trim: give back
 * half of list k, or of every list not allocated from since the last trim. */
void talc_tcache_overflow(talc_tc_slot_t *sl, const talc_arena_t *a, unsigned k);
/* The remote list is full: give it back. */
void talc_tcache_remote_flush(talc_tc_slot_t *sl);
/* Return every block the calling thread caches for arena a, and every block parked in a's
 * depots, to its stripes (also when the thread has no cache). Returns true if there were any
 * (the OOM chain retries once after this). */
bool talc_tcache_release_own(talc_arena_t *a);
/* Every thread's cached blocks of arena a go back to their stripes, and their counters into
 * the arena's (destroy, before it checks for live blocks). Takes the registry lock. */
void talc_tcache_purge(talc_arena_t *a);

/* The thread caches' share of arena a's counters, read under the registry lock: the slots'
 * counters (see talc_tc_slot_t) summed, with those of slots already retired. */
typedef union talc_tcache_sums {
    struct {
        size_t held, allocs, frees, bytes_in, bytes_out, remote, reallocs;
    };
    size_t v[TALC_TC_NCOUNTS]; /* the same, in TALC_TC_* order */
} talc_tcache_sums_t;
/* The take-backs (frees, bytes_out; acquire loads) and, separately, everything else: a
 * snapshot reads the first before the second (stats.c). */
void talc_tcache_sums_out(talc_arena_t *a, talc_tcache_sums_t *out);
void talc_tcache_sums_in(talc_arena_t *a, talc_tcache_sums_t *out);

/* The thread caches' registry lock if the calling thread holds it, else NULL (the fatal path
 * waits for its release before it reports a fault found under it). */
talc_mutex_t *talc_tcache_lock_mine(void);

/* Fork handlers (arenas/fork.c): the registry lock around fork; in the child, the caches of
 * the threads that did not survive are retired. */
void talc_tcache_fork_lock(void);
void talc_tcache_fork_unlock(void);
void talc_tcache_fork_child(void);

/* ---- Small helpers ------------------------------------------------------------------------*/

/* The list a chunk of s bytes (a multiple of q, at most a->tc_max_chunk) is filed under: the
 * largest class size not above s. Blocks on a list are at least its size. */
static inline unsigned talc_tc_class(const talc_arena_t *a, size_t s)
{
    return a->tc_class_chunk[s >> a->tc_qshift];
}

/* The class a request of n bytes (n <= a->tc_max_req) is served from: its chunk size, rounded
 * up to a class size (and to the heaps' minimum chunk). The table's entry i is for chunks of
 * i + 1 quanta: ceil((n + HDR) / q) - 1 = (n + HDR - 1) >> qshift. */
static inline unsigned talc_tc_class_of_request(const talc_arena_t *a, size_t n)
{
    return a->tc_class_req[(n + TALC_HDR - 1u) >> a->tc_qshift];
}

/* The chunk size of class k. */
static inline size_t talc_tc_class_size(const talc_arena_t *a, unsigned k)
{
    size_t quanta;
    if (k < TALC_TC_FINE)
        quanta = k + 1u;
    else if (k < TALC_TC_COARSE_LAST)
        quanta = TALC_TC_FINE + (k + 1u - TALC_TC_FINE) * TALC_TC_COARSE_STEP;
    else
        quanta = TALC_TC_COARSE_END + (k + 1u - TALC_TC_COARSE_LAST) * TALC_TC_WIDE_STEP;
    return quanta << a->tc_qshift;
}

/* The header's slack bytes: the only part of an allocated header a cache writes. */
static inline void talc_tc_set_slack(void *p, size_t slack)
{
    uint16_t *f = (uint16_t *)(void *)((char *)p - TALC_HDR + TALC_SLACK_BYTE);
    __atomic_store_n(f, talc_slack_field(slack), __ATOMIC_RELAXED);
}

/* The whole header of block p (p 8-byte aligned), read while the heap may flip its flags byte
 * under a stripe lock: a relaxed load of a word whose byte another thread stores atomically,
 * a plain load on 64-bit targets. A 32-bit target loads the two halves (a 64-bit atomic load
 * may need libatomic there, and traps on ARMv7 unless 8-byte aligned): the flags byte and the
 * slack bytes each lie whole in one half, and a block's size does not change while its
 * holder frees or resizes it. */
/* Not checked by a memory checker: p is not known to be a block yet (heap_poison.h). */
static inline TALC_NO_ASAN uint64_t talc_tc_header_raw(const void *p)
{
    const char *h = (const char *)p - TALC_HDR;
#if UINTPTR_MAX > 0xffffffffu
    return __atomic_load_n((const uint64_t *)(const void *)h, __ATOMIC_RELAXED);
#else
    uint64_t a = __atomic_load_n((const uint32_t *)(const void *)h, __ATOMIC_RELAXED);
    uint64_t b = __atomic_load_n((const uint32_t *)(const void *)(h + 4), __ATOMIC_RELAXED);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return a << 32 | b;
#else
    return b << 32 | a;
#endif
#endif
}

static inline uint64_t talc_tc_header(const void *p)
{
    return TALC_UNCHECKED(talc_tc_header_raw(p));
}

/* The header of a pointer handed to free or realloc, which may be anything inside its
 * segment g: 0 (no used bit: not plausible, so the locked path and the heap judge p) when p
 * is not 8-byte aligned, whose header load could trap on a strict-alignment target (ARMv7's
 * doubleword loads), or when its header would lie before the segment (p at the segment's
 * first byte: the memory below may not be mapped). Every block is at least 8-byte aligned on
 * every target, and starts past the segment's control block. */
static inline uint64_t talc_tc_header_of_user(const talc_seg_t *g, const void *p)
{
    if (TALC_UNLIKELY(((uintptr_t)p & (TALC_HDR - 1u)) != 0 ||
                      (uintptr_t)p - (uintptr_t)g->base < TALC_HDR))
        return 0;
    return talc_tc_header(p);
}

/* Change the bytes a slot holds: its bound, so kept whatever TALC_COUNTERS says (one writer:
 * the owner, or a flusher under the registry lock; snapshots read it). Returns the new
 * figure. */
static inline size_t talc_tc_held(talc_tc_slot_t *sl, size_t d)
{
    size_t v = talc_atomic_load_relaxed_size(&sl->held) + d;
    talc_atomic_store_relaxed_size(&sl->held, v);
    return v;
}

/* One more take-back, published after its bytes_out (release: pairs with the acquire loads
 * of talc_tcache_sums_out). */
static inline void talc_tc_count_free(talc_tc_slot_t *sl)
{
#if TALC_COUNTERS
    talc_atomic_store_release_size(&sl->frees, talc_atomic_load_relaxed_size(&sl->frees) + 1u);
#else
    (void)sl;
#endif
}

/* The calling thread's slot for a, if it is the one used last. */
static inline talc_tc_slot_t *talc_tc_slot_mru(const talc_arena_t *a)
{
    talc_tc_slot_t *sl = talc_ts.tc_mru;
    if (TALC_UNLIKELY(!sl))
        return NULL;
    return atomic_load_explicit(&sl->arena, memory_order_relaxed) == a ? sl : NULL;
}

/* ---- Fast paths ---------------------------------------------------------------------------*/

/* A block on a list: its first word links the list, its second holds its chunk size (on the
 * line just read to follow the link; the header may be on the line before, cold). Every
 * chunk has room: a minimum chunk's user part is 2 words. */
typedef struct talc_tc_node {
    struct talc_tc_node *next;
    size_t chunk;
} talc_tc_node_t;
_Static_assert(TALC_MIN_CHUNK - TALC_HDR >= sizeof(talc_tc_node_t), "a node fits any block");

/* Put block p of chunk size s at the head of list b. */
static inline void talc_tc_link(talc_tc_bin_t *b, void *p, size_t s)
{
    talc_tc_node_t *node = p;
    node->next = b->head;
    node->chunk = s;
    b->head = p;
    b->n++;
}

/* Whether a cached block's link is not one talc_tc_link wrote: off the quantum, as an overrun
 * of the block below (through the block's header into its first word) or a write after free
 * leaves it 15 times in 16. The link is read anyway. (Checking the chunk word too, a cached
 * size on the quantum, cost sh6bench through the shim 3.5 % against 1 % for this alone.) */
static inline bool talc_tc_node_bad(const talc_arena_t *a, const talc_tc_node_t *node)
{
    return ((uintptr_t)node->next & a->tc_qmask) != 0;
}

/* Hand out the cached block p for a request of n bytes (its list's class size is at least
 * n + HDR; its own chunk may be larger). */
static inline void *talc_tc_hand_out(talc_tc_slot_t *sl, void *p, size_t n)
{
    size_t s = ((talc_tc_node_t *)p)->chunk;
#ifdef TALC_POISONING
    /* Poisoned while cached; the size from the header, not the user-writable node. */
    talc_unpoison(p, talc_hsize(talc_tc_header(p)) - TALC_HDR);
#endif
    talc_tc_set_slack(p, s - TALC_HDR - n);
    talc_stats_add(&sl->bytes_in, n);
    talc_stats_add(&sl->allocs, 1);
    talc_tc_held(sl, (size_t)0 - s);
    return p;
}

/* The hit half of talc_tcache_alloc: a cached block for n bytes (n <= a->tc_max_req), or
 * NULL if the calling thread's most recent slot is not a's, its list is empty or the list's
 * head is damaged (talc_tcache_alloc_slow reports it). Calls nothing, so a caller's fast path
 * needs no stack frame. */
TALC_INLINE void *talc_tcache_pop(talc_arena_t *a, size_t n)
{
    talc_tc_slot_t *sl = talc_tc_slot_mru(a);
    if (TALC_UNLIKELY(sl == NULL))
        return NULL;
    unsigned k = talc_tc_class_of_request(a, n);
    talc_tc_bin_t *b = &sl->bin[k];
    void *p = b->head;
    if (TALC_UNLIKELY(p == NULL) || TALC_UNLIKELY(talc_tc_node_bad(a, p)))
        return NULL;
    b->popped = 1;
    void *next = ((talc_tc_node_t *)p)->next;
    b->head = next;
    b->n--;
    __builtin_prefetch(next); /* the next pop of this size reads it */
    return talc_tc_hand_out(sl, p, n);
}

/* A block of n bytes (n <= a->tc_max_req) from the calling thread's cache for arena a,
 * filling the cache from a stripe when it is empty. NULL when the cache cannot serve it (the
 * stripe has no room, or the thread has no cache): the caller takes the normal path, which
 * counts the allocation and runs the OOM policy. */
static inline void *talc_tcache_alloc(talc_arena_t *a, size_t n)
{
    void *p = talc_tcache_pop(a, n);
    return TALC_LIKELY(p != NULL) ? p : talc_tcache_alloc_slow(a, n);
}

/* Is p, with header w, plausibly a live block start in segment g? Only its own header is read
 * (the chunk above would cost a cache miss per free); the heap's full check runs when the
 * block goes back to its stripe. In words: allocated, its size a multiple of the quantum
 * within the cached range, p aligned to the quantum, the chunk inside g, and a slack that
 * fits the chunk (a held block's does not: the caller tested that first). */
static inline bool talc_tc_plausible(const talc_arena_t *a, const talc_seg_t *g, const char *p,
                                     uint64_t w)
{
    size_t s = talc_hsize(w);
    return talc_hused(w) && talc_hsize_fits(w) && s - a->tc_min_chunk <= a->tc_chunk_span &&
           ((s | (uintptr_t)p) & a->tc_qmask) == 0 && (size_t)(g->base + g->size - p) >= s &&
           talc_hslack(w) <= s - TALC_HDR;
}

/* Take p (header w, plausible, in stripe st of arena a) into slot sl: onto the list for its
 * size, or onto the remote list while this thread has not allocated from a (see
 * talc_tc_slot_t). A free from another stripe than the slot's home counts as remote. */
static inline void talc_tc_push(talc_tc_slot_t *sl, talc_arena_t *a, const talc_stripe_t *st,
                                void *p, uint64_t w)
{
    size_t s = talc_hsize(w);
    talc_tc_set_slack(p, TALC_SLACK_HELD);
    /* Freed for its user: past the node, a use after free is reported (heap_poison.h). */
    talc_poison((char *)p + sizeof(talc_tc_node_t), s - TALC_HDR - sizeof(talc_tc_node_t));
#if TALC_COUNTERS
    /* release, like frees below: a snapshot reads bytes_out after frees (tcache.c,
     * talc_tc_sum) and may see this store without the frees one; as a relaxed store it could
     * become visible before this thread's earlier allocation counters (the block's bytes_in,
     * or a stripe section's total_bytes: ARMv8/ARMv7 reorder plain stores, and C11 gives no
     * happens-before), and live_bytes then read below the truth, wrapping near zero. */
    talc_atomic_store_release_size(&sl->bytes_out, talc_atomic_load_relaxed_size(&sl->bytes_out) +
                                                       (s - TALC_HDR - talc_hslack(w)));
#endif
    talc_tc_count_free(sl);
    size_t held = talc_tc_held(sl, s);
    if (st != sl->home) {
        talc_stats_add(&sl->remote, 1);
        if (TALC_UNLIKELY(sl->home == NULL)) { /* not allocated here yet: do not reuse */
            talc_tc_node_t *node = p;
            node->next = sl->rlist;
            node->chunk = s;
            sl->rlist = p;
            /* held: a few large blocks (64 KiB ones in cache-aligned mode) reach the slot's
             * bound long before TALC_TC_REMOTE_MAX of them are there */
            if (++sl->rn >= TALC_TC_REMOTE_MAX || held > TALC_TC_SLOT_BYTES)
                talc_tcache_remote_flush(sl);
            return;
        }
    }
    unsigned k = talc_tc_class(a, s);
    talc_tc_bin_t *b = &sl->bin[k];
    talc_tc_link(b, p, s);
    if (TALC_UNLIKELY(b->n > a->tc_cap[k] || ++sl->events >= TALC_TC_GC_EVENTS ||
                      held > TALC_TC_SLOT_BYTES))
        talc_tcache_overflow(sl, a, k);
}

/* Free p (a block of arena a, in segment g) into the calling thread's cache, or into its
 * stripe when the cache does not take it (caches off, too large, or not a plausible block
 * start: the heap then reports the bad pointer). A second free of a cached block goes to the
 * fatal handler. The hit path tests only that the thread's last slot is a's (never true for
 * an arena without caches: no slot serves one) and that p is plausible (a cached block's
 * held slack never is); talc_tcache_free_slow sorts out every other case. Every path ends in
 * a tail call or a return. */
static inline void talc_tcache_free(talc_arena_t *a, talc_seg_t *g, void *p)
{
    uint64_t w = talc_tc_header_of_user(g, p);
    talc_tc_slot_t *sl = talc_tc_slot_mru(a);
    if (TALC_UNLIKELY(!sl || !talc_tc_plausible(a, g, p, w))) {
        talc_tcache_free_slow(a, g, p, w);
        return;
    }
    talc_tc_push(sl, a, g->stripe, p, w);
}

/* Whether a block of header w (plausible, of arena a) stays where it is for n bytes (n > 0):
 * n fits its chunk and fills more than half of it (tcmalloc's rule: a shrink to less gives
 * the memory back by moving), or the chunk is the minimum one (a move could not shrink it). */
static inline bool talc_tcache_fits(const talc_arena_t *a, uint64_t w, size_t n)
{
    size_t s = talc_hsize(w);
    return n <= s - TALC_HDR && (n + TALC_HDR > s / 2u || s <= a->tc_min_chunk);
}

/* Resize p (header w, of arena a, talc_tcache_fits for n) in place: only the slack changes,
 * so no lock is taken. Counted on the calling thread's slot for a: a growth as bytes
 * allocated, a shrink as bytes freed (published with a release store, like a take-back: a
 * snapshot that reads it also reads the block's allocation), and one realloc. false: not
 * done (no slot for a at hand). */
static inline bool talc_tcache_resize(talc_arena_t *a, void *p, uint64_t w, size_t n)
{
    size_t cap = talc_hsize(w) - TALC_HDR, old = cap - talc_hslack(w);
    talc_tc_slot_t *sl = talc_tc_slot_mru(a);
    if (!sl)
        return false;
    talc_tc_set_slack(p, cap - n);
#if TALC_COUNTERS
    if (n > old)
        talc_stats_add(&sl->bytes_in, n - old);
    else if (n < old)
        talc_atomic_store_release_size(&sl->bytes_out,
                                       talc_atomic_load_relaxed_size(&sl->bytes_out) + old - n);
    talc_stats_add(&sl->reallocs, 1);
#else
    (void)old;
#endif
    return true;
}

#endif /* TALC_TCACHE_H */
