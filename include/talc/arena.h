/* talc/arena.h — named arenas: independently locked Talc heaps behind a thread dispatcher.
 *
 * An arena is an allocation domain for one subsystem ("net", "parser", the default arena). It
 * owns 1..N stripes (a Talc heap behind its own lock on its own cache line), a memory source, a
 * hard and a soft budget, an out-of-memory policy chain and live counters. docs/arenas.md has
 * the design and the words.
 *
 * Concurrency matrix (same arena unless said):
 *
 *   call                         may run concurrently with           notes
 *   talc_arena_malloc & co       everything, including destroy of    takes one stripe lock
 *                                OTHER arenas and find/foreach
 *   talc_free / usable_size      everything but destroy of the       owner found in O(1), lock-free
 *                                block's arena
 *   talc_arena_find / foreach    everything, including destroy       RCU read side: never blocks
 *   talc_arena_create            everything                          registry lock
 *   talc_arena_destroy           find/foreach/create/other arenas;   the caller guarantees no
 *                                NOT allocation from this arena,     thread allocates from it
 *                                nor a free of one of its blocks     or frees into it any more
 *   talc_arena_get_stats         everything but destroy of this      seqlock snapshot; with
 *                                arena (inside foreach: everything)  thread caches, their
 *                                                                    registry lock for
 *                                                                    O(threads) (stats.h)
 *
 * Errors: functions returning pointers return NULL and set errno (ENOMEM, EINVAL, EEXIST,
 * ENOENT); on success they may change errno, as C library calls may. Functions returning int
 * return 0 or a negative errno value and leave errno alone. A thread's first RCU read
 * (talc_arena_find, talc_arena_foreach) registers it with liburcu-bp, which aborts the
 * process if it cannot map room for that (address space exhausted). Create, destroy and a
 * FALLBACK step look names up under the registry lock instead, and the statistics of every
 * arena (talc_stats_write; the shim's mallinfo2, malloc_info, malloc_stats) and the shim's
 * malloc_trim walk the arenas under it: none of them makes an RCU read.
 * A pointer that no arena owns, passed to talc_free / talc_arena_realloc / talc_usable_size,
 * goes to the fatal handler (talc_set_fatal_handler) with the address; it never reaches a
 * heap. So does one that is not a live block of the arena that owns it, as far as its header
 * tells: eight bytes in front of it that are user data forged to read as a live chunk's
 * header (docs/arenas.md, "Errors") pass. If the handler returns, talc_arena_realloc returns
 * NULL with errno EINVAL and talc_usable_size returns 0.
 *
 * Lock order (checked on every acquisition in TALC_DEBUG >= 1 builds, which abort on a
 * violation): registry < thread caches' registry < stripe < arena grow lock < reserve < owner
 * map; at most one stripe.
 * No lock is held while a user callback (reclaim, soft budget, fatal handler) runs.
 */
#ifndef TALC_ARENA_H
#define TALC_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "talc/config.h"
#include "talc/heap.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct talc_arena talc_arena_t;

#define TALC_ARENA_NAME_MAX 31 /* bytes, without the terminating NUL */
#define TALC_OOM_CHAIN_MAX 6
#define TALC_STRIPES_MAX 64

/** Where an arena gets memory. */
typedef enum talc_source {
    TALC_SOURCE_OS = 0,  /**< mmap'd segments, returned to the OS when empty */
    TALC_SOURCE_BUFFER,  /**< one caller buffer (static memory on embedded targets) */
    TALC_SOURCE_RESERVE, /**< only what it borrows from the process reserve */
} talc_source_t;

/** Steps of the out-of-memory policy chain, run in the configured order until one succeeds. */
typedef enum talc_oom_step {
    TALC_OOM_STEP_END = 0,  /**< end of the chain (the rest of the array is ignored) */
    TALC_OOM_STEP_RECLAIM,  /**< call the reclaim callback, retry (in every stripe) if it
                                 freed memory; segments its frees emptied and gave back are
                                 taken back from the source they went to if the chain has
                                 GROW, from the reserve if it has BORROW */
    TALC_OOM_STEP_GROW,     /**< grow from the source, up to the hard budget; when the source
                                 refuses (the budget, or the OS), allocate from the arena's
                                 other stripes, or give back the empty segments they keep and
                                 grow again */
    TALC_OOM_STEP_BORROW,   /**< borrow from the reserve (ceiling, priority, guaranteed
                                 minimums); when it refuses, allocate from the arena's other
                                 stripes */
    TALC_OOM_STEP_FALLBACK, /**< allocate from the fallback arena instead */
    TALC_OOM_STEP_FAIL,     /**< return NULL with errno ENOMEM (also the implicit last step) */
    TALC_OOM_STEP_ABORT,    /**< report to the fatal handler (TALC_FAULT_OUT_OF_MEMORY), whose
                                 default aborts; if a handler returns, the allocation fails.
                                 An allocation the handler makes that runs out in the same
                                 arena skips this step (and RECLAIM): no recursion. A realloc
                                 reports only once resizing the block where it is failed too
                                 (a shrink never does), for the last arena whose ABORT its
                                 chain passed (its own, or a FALLBACK arena's) */
} talc_oom_step_t;

/** Reclaim callback: free up to `wanted` bytes (caches, pools). Runs with no allocator lock
 *  held; it may allocate and free in any arena but must not destroy `arena`. It is never
 *  re-entered for one arena on one thread: an allocation it makes that runs out in `arena`
 *  skips RECLAIM (and ABORT) and goes on with the chain's other steps (docs/arenas.md); this
 *  holds while the allocation runs on the stack the callback was called on, or on one below it
 *  (an allocation made on a fiber or coroutine stack at a higher address than the thread's
 *  may call it again, nested). Returns
 *  the number of bytes it believes it freed (0 = nothing; the step then fails). */
typedef size_t (*talc_reclaim_fn)(talc_arena_t *arena, size_t wanted, void *ctx);

/** Soft-budget callback: the arena's footprint (bytes taken from its source plus bytes held from
 *  the reserve) crossed the soft budget upward. Called once per crossing, re-armed when the
 *  footprint falls below 7/8 of the budget; `footprint` is the figure after the growth. Runs
 *  with no allocator lock held, on the thread whose allocation grew the arena, which is still
 *  in progress: like the reclaim callback, it may allocate and free but must not destroy
 *  `arena`. */
typedef void (*talc_budget_fn)(talc_arena_t *arena, size_t footprint, size_t soft_budget,
                               void *ctx);

/** Per-thread cache of small blocks (talc_arena_config_t.thread_cache). With it, a thread keeps
 *  small blocks it freed (chunks up to 1024 quanta and 64 KiB: 16 KiB, or 64 KiB in
 *  cache-aligned mode with 64-byte lines; requests above 64 quanta are rounded up to a
 *  multiple of 8 quanta, above 256 quanta to a multiple of 32; alignment at most
 *  TALC_MIN_ALIGN) and serves its next requests of those sizes without taking a stripe lock,
 *  filling and flushing in batches under one lock. Counters stay exact (cached blocks are not
 *  live; talc/stats.h). Cached memory is neither free for other threads nor coalesced: per
 *  thread and arena at most 2 MiB plus one size's list (about 64 KiB of blocks, from 8 to
 *  255 of them: up to 128 KiB for 16 KiB chunks, 512 KiB for 64 KiB ones), and a thread
 *  caches for at most 4 arenas at once. Blocks a list gives back when it is full, and those a
 *  thread frees before it has allocated from the arena, are parked at their stripe for its next
 *  fill (at most 1 MiB per stripe; still cached). A thread's cache of an arena is given back
 *  when the thread exits (with the arena's parked blocks, if the thread allocated from it),
 *  when the arena is destroyed, when an allocation of that thread in
 *  that arena would fail (in the OOM chain, before the first step other than GROW: growing
 *  within the budget comes first; the arena's parked blocks go back then too; not for a request
 *  above SIZE_MAX / 4, which no memory could hold), when the thread moves to a fifth arena (the
 *  slot it used least recently), and on talc_thread_cache_flush.
 *  docs/arenas.md, "Thread cache" and "Depot". */
typedef enum talc_tcache_mode {
    TALC_TCACHE_DEFAULT = 0, /**< on for the default arena, off for named arenas */
    TALC_TCACHE_ON,
    TALC_TCACHE_OFF,
} talc_tcache_mode_t;

/** Arena configuration. Zero-initialise, then set `name` and what you need. */
typedef struct talc_arena_config {
    const char *name; /**< required, unique, 1..TALC_ARENA_NAME_MAX bytes of UTF-8
                           without control characters (it is printed in reports,
                           JSON and Prometheus labels); copied. Of a longer one no
                           more than TALC_ARENA_NAME_MAX + 1 bytes are read */
    talc_source_t source;
    void *buffer; /**< TALC_SOURCE_BUFFER: the memory; caller keeps ownership.
                       Not memory an arena owns (a block from talc_arena_malloc,
                       or malloc's under the shim): create says EINVAL. Two live
                       buffer arenas must not share memory (not checked) */
    size_t buffer_size;
    size_t initial_size; /**< OS source: bytes mapped at creation (0 = on first use),
                              rounded up to granules (down to the hard budget's),
                              shared out among the stripes; without a hard budget each
                              stripe given a share maps at least a default segment (1
                              MiB, or a granule if larger), so more may be mapped.
                              Create fails with ENOMEM if the OS refuses them, EINVAL
                              if above hard_budget. A soft budget they cross calls
                              back once the arena is registered */
    size_t hard_budget;  /**< cap on bytes taken from the source (0 = none; else at
                              least one owner-map granule, 64 KiB by default) */
    size_t soft_budget;  /**< footprint level that triggers on_soft_budget (0 = none) */
    talc_budget_fn on_soft_budget;
    void *budget_ctx;
    unsigned stripes;   /**< 1..TALC_STRIPES_MAX, or 0 = auto: two per core (topology); for
                             requests below 256 KiB (a granule, with granules above that).
                             One more stripe, not counted here, serves the larger ones
                             (docs/arenas.md, "Large blocks") */
    bool cache_aligned; /**< every block on its own cache line(s) */
    talc_oom_step_t oom_chain[TALC_OOM_CHAIN_MAX]; /**< all zero = {GROW, BORROW, FAIL} */
    talc_reclaim_fn reclaim;
    void *reclaim_ctx;
    const char *fallback;      /**< arena name for TALC_OOM_STEP_FALLBACK (the same rules
                                    as `name`); copied. A request runs each arena's
                                    chain once (a cycle's hop back is skipped), at most 4
                                    hops */
    size_t borrow_ceiling;     /**< most bytes held from the reserve at once (0 = no borrowing,
                                    which a TALC_SOURCE_RESERVE arena cannot have; else at
                                    least one owner-map granule).
                                    A borrow takes one segment: 1 MiB (or one granule if
                                    larger) for an OS-source arena,
                                    else 4 owner-map granules (256 KiB by default), or the
                                    request rounded to granules if larger; less if only less
                                    is left under the ceiling, or the smallest segment the
                                    request fits if the reserve cannot lend the whole one */
    unsigned borrow_priority;  /**< 0 = lowest; higher may dip into lower arenas' headroom */
    size_t reserve_guaranteed; /**< reserve bytes kept for this arena alone (up to its
                                    borrow_ceiling in whole owner-map granules: it can
                                    never hold more; talc/reserve.h). Kept in bytes,
                                    not as one run: a block that needs a contiguous run longer
                                    than the reserve's longest free one can still fail */
    int numa_node;             /**< prefer this node for OS segments (mbind, MPOL_PREFERRED;
                                    a node the kernel refuses is ignored); -1 = no binding */
    talc_tcache_mode_t thread_cache; /**< per-thread cache; ignored when built without it
                                          (TALC_TCACHE=0) */
} talc_arena_config_t;

/** A config with defaults: name `name`, OS source, auto stripes, numa_node -1. */
TALC_API talc_arena_config_t talc_arena_config_default(const char *name);

/* ---- Life cycle and registry --------------------------------------------------------------*/

/** Create and register an arena. Returns NULL with errno EINVAL (bad config: name or fallback
 *  name empty, too long, not UTF-8 or with a control character; a hard budget below a
 *  granule (a borrow ceiling too; a soft budget has no lower bound), a soft budget above the
 *  hard budget plus the borrow ceiling (what the footprint can reach; with no hard budget it
 *  is not bounded), initial_size above the hard budget, a reserve source
 *  without a borrow ceiling, numa_node below -1, buffer missing, below 2 owner-map granules,
 *  wrapping the address space or holding memory an arena owns, stripes too many, unknown
 *  source, oom step or thread_cache mode), EEXIST (name taken)
 *  or ENOMEM (also when the OS refuses initial_size).
 *  Cost: O(stripes) plus the initial mapping (a buffer: O(its granules) to check it). */
TALC_API talc_arena_t *talc_arena_create(const talc_arena_config_t *cfg);

/** The arena registered under `name`, or NULL with errno ENOENT (also for a name longer than
 *  TALC_ARENA_NAME_MAX, of which no more is read) or EINVAL (NULL). Lock-free (RCU). The pointer
 *  stays valid until the arena is destroyed; the caller must know it is not being destroyed. */
TALC_API talc_arena_t *talc_arena_find(const char *name);

/** Call fn for each registered arena (the default arena included) in creation order, until it
 *  returns false. An arena destroyed during the walk may still be visited, and a new arena
 *  of the same name as well (RCU: the walk sees what was registered when it passed), so a
 *  name can come twice in one walk; talc_stats_write, which holds the registry lock, shows
 *  each name once. Lock-free (RCU read side); fn must return (no longjmp out of it, nor out of
 *  a fatal handler that a call made by fn runs: the read side would stay open, and every
 *  destroy wait for it), fn must not create arenas, and a destroy inside fn
 *  (or in a callback that a call made by fn runs) returns -EDEADLK. fn runs inside the read
 *  side: a destroy on another thread waits until it returns, so keep it short. fn (and a
 *  fatal handler a call made by fn runs) must not fork: a destroy on another thread holds
 *  liburcu's grace-period lock while it waits for fn, and the fork handlers wait for that lock
 *  (liburcu-bp's own rule: no fork inside a read-side section), so both would hang. Returns
 *  the number of arenas visited (0 for a NULL fn). */
TALC_API size_t talc_arena_foreach(bool (*fn)(talc_arena_t *arena, void *ctx), void *ctx);

#define TALC_DESTROY_RELEASE_ALL 1u /**< free every live allocation instead of failing EBUSY */

/** Unregister and destroy an arena: returns 0, -EBUSY if it has live allocations (unless
 *  TALC_DESTROY_RELEASE_ALL; then every pointer from it becomes invalid), -EINVAL for the
 *  default arena, NULL or an unknown flag, -EPERM if it is another arena's fallback (so
 *  arenas that name each other as fallback are never destroyed), -EDEADLK inside a
 *  talc_arena_foreach callback (the grace period below could never end). Blocks that
 *  threads' caches hold are not live: destroy takes them back from every thread first. In a
 *  fork child, blocks cached by the parent's other threads (which the child does not have)
 *  stay allocated: destroy returns -EBUSY for such an arena unless TALC_DESTROY_RELEASE_ALL.
 *  Waits for concurrent lookups to finish (an RCU grace period) before freeing, so a
 *  talc_arena_foreach callback running on another thread delays it (a cancellation of the
 *  calling thread waits for that too: it acts at the next cancellation point). No other thread may
 *  still be bound to it or have a scope of it open ("Routing", below), nor still be inside
 *  the talc_arena_create that made it (findable once registered, it is still in use there
 *  until create returns: a soft budget crossed by initial_size calls back after
 *  registration). Once destroyed, the handle is gone: a second destroy (or any other use) is
 *  undefined, as its memory is unmapped. */
TALC_API int talc_arena_destroy(talc_arena_t *arena, unsigned flags);

/** The default arena (created on first use: OS source, auto stripes). Never NULL unless the
 *  process is out of memory at start-up. */
TALC_API talc_arena_t *talc_arena_default(void);

TALC_API const char *talc_arena_name(const talc_arena_t *arena) TALC_NONNULL(1);

/* ---- Allocation ---------------------------------------------------------------------------*/

/* `arena` NULL means the calling thread's current arena (talc_thread_arena()). A size of 0
 * gives a unique minimum block; a size no arena can hold gives NULL + ENOMEM, an alignment
 * that is not a power of two NULL + EINVAL, and a calloc whose product overflows NULL +
 * ENOMEM. */
TALC_API void *talc_arena_malloc(talc_arena_t *arena, size_t size) TALC_MALLOC_ATTR;
/* talc_arena_calloc clears the block, except a block that is the first taken from memory the
 * arena has just mapped from the OS (TALC_SOURCE_OS): that memory is zero already, and a large
 * calloc then touches only the pages the caller writes (as glibc's and jemalloc's do). */
TALC_API void *talc_arena_calloc(talc_arena_t *arena, size_t nmemb, size_t size) TALC_MALLOC_ATTR;
TALC_API void *talc_arena_aligned_alloc(talc_arena_t *arena, size_t align,
                                        size_t size) TALC_MALLOC_ATTR;
/** Resize. ptr may come from any arena; `arena` is used only when ptr is NULL. The block is
 *  resized in its owner arena, or moved through the owner arena's allocation path — whose OOM
 *  chain may end in TALC_OOM_STEP_FALLBACK, and then the new block lives in the fallback arena
 *  (talc_arena_of tells). Semantics as glibc's realloc(3): size 0 frees ptr and returns NULL;
 *  NULL + ENOMEM leaves ptr intact. In an arena with thread caches a cache-sized block
 *  (talc_tcache_mode_t) stays in place when the new size fits its chunk and fills more than
 *  half of it or the chunk is the minimum one (counted as a realloc), and is otherwise moved
 *  through the calling thread's cache when the new size is cache-sized too (counted as an
 *  allocation and a free, as a move through the allocation path is; a move inside the heap of
 *  the block's stripe counts as a realloc). A block of TALC_REALLOC_UNLOCKED_COPY bytes or more
 *  that moves is copied with no lock held (unless the arena can get no memory for the move:
 *  then it may slide down in its stripe, under its lock): both blocks count as live while it
 *  is copied. A shrink never fails for want of memory. As with any malloc, no other call may
 *  use the block meanwhile (a free of it racing the copy is not detected). */
TALC_API void *talc_arena_realloc(talc_arena_t *arena, void *ptr, size_t size);

/** Free a block from any arena, from any thread. NULL is a no-op. O(1). Never changes errno
 *  (POSIX.1-2024 free). */
TALC_API void talc_free(void *ptr);
/** Usable bytes of a live block (>= its requested size). O(1). */
TALC_API size_t talc_usable_size(const void *ptr);
/** The arena that owns ptr, or NULL if none does. O(1), lock-free. Never faults, but for a
 *  stale pointer whose now empty segment another thread is giving back at that moment (the
 *  case talc_free has too: docs/arenas.md, "Errors"). */
TALC_API talc_arena_t *talc_arena_of(const void *ptr);
/** Give every block the calling thread's caches hold (all arenas) back to its stripe, so
 *  that it can coalesce and other threads can use it (a thread about to sleep for long, or
 *  after a burst), and empty the depots of those arenas' stripes (blocks that caches parked
 *  there for the next fill; docs/arenas.md, "Depot"). No-op without caches. Cost: one stripe
 *  lock per run of blocks of the same stripe, and one per stripe with parked blocks; takes the
 *  caches' registry lock. May run concurrently with everything. */
TALC_API void talc_thread_cache_flush(void);

/** Give memory back to the OS (what malloc_trim does with the shim): the calling thread's
 *  cached blocks of `arena` and the arena's parked ones go back to its heaps, every empty
 *  segment the arena keeps for reuse is unmapped, and the whole pages inside its free chunks
 *  are decommitted (they stay mapped and read as zero when used again: a page fault each).
 *  Only memory the arena mapped from the OS goes back: caller buffers and reserve segments
 *  keep theirs, and other threads' caches keep their blocks. Returns the bytes unmapped plus
 *  those decommitted (a free chunk an earlier trim decommitted whole and that has not changed
 *  since is skipped, and not counted again: docs/arenas.md, "Trimming").
 *  `arena` NULL = the calling thread's arena. May run concurrently with every call on the
 *  arena except its destruction; locks one stripe at a time, for a walk over the free chunks
 *  that may hold a whole page (O(those chunks), not O(blocks)), in holds of a bounded batch
 *  of work each. Counted in the arena's stats (trims, trimmed_bytes). docs/arenas.md,
 *  "Trimming". */
TALC_API size_t talc_arena_trim(talc_arena_t *arena);
/** The idle form of talc_arena_trim, for a caller on a timer (the shim's TALC_CONF trim_ms
 *  thread runs it on every arena): it gives back only the memory that the previous call on
 *  the arena found unused and that nothing has used since (whole pages inside free chunks,
 *  kept empty segments), and marks what is unused now for the next call. Memory goes back
 *  after one to two periods of disuse, and memory in steady use is never decommitted and
 *  faulted back in. It leaves every thread's cached blocks and the arena's parked ones (at
 *  most about 1 MiB a stripe); talc_arena_trim gives those back too. Returns the bytes
 *  unmapped plus those decommitted by this call. `arena` NULL = the calling thread's arena.
 *  Same concurrency, cost and statistics as talc_arena_trim. docs/arenas.md, "Idle trims". */
TALC_API size_t talc_arena_trim_idle(talc_arena_t *arena);

/* ---- Routing ------------------------------------------------------------------------------*/

/* Routing is per thread. Before an arena is destroyed, every thread bound to it must unbind
 * and every scope of it must be closed: destroy clears only the calling thread's (its binding
 * goes back to the default arena, its scopes of it to the default arena too); another
 * thread's would still route to the destroyed arena. */
/** Bind the calling thread to `arena` (NULL = unbind: back to the default arena). */
TALC_API void talc_thread_bind(talc_arena_t *arena);
/** The arena the calling thread allocates from: innermost scope, else bound, else default. */
TALC_API talc_arena_t *talc_thread_arena(void);
#define TALC_SCOPE_MAX 16
/** Route the calling thread's allocations to `arena` until the matching pop. Returns 0 or
 *  -ENOSPC when TALC_SCOPE_MAX scopes are open. */
TALC_API int talc_scope_push(talc_arena_t *arena) TALC_NONNULL(1);
/** Close the innermost scope. Returns 0, or -ENOENT if none is open. */
TALC_API int talc_scope_pop(void);

/* ---- Fatal handler ------------------------------------------------------------------------*/

/** Process-wide handler for invalid pointers and corruption (the heap engine's fault codes,
 *  with heap_name = the arena's name, or "unowned"). NULL restores the default (print one line
 *  to stderr, then abort). If the handler returns, the operation is abandoned. The handler runs
 *  on the thread that made the call, before that call returns, with no libtalc lock held: it
 *  may allocate, read statistics, fork or longjmp out (neither when the call
 *  was made inside a talc_arena_foreach callback, see there). A block overrun while it sat in a
 *  thread cache is reported when the cache gives it back (a flush, a trim, the thread's
 *  exit); one whose list link was overwritten (off the quantum), when a malloc of its size
 *  reaches it or the cache gives it back. */
TALC_API void talc_set_fatal_handler(talc_fatal_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* TALC_ARENA_H */
