/* talc/heap.h — the Talc heap engine: one heap over memory the caller hands it.
 *
 * A heap manages one or more spans (contiguous ranges of caller memory). It keeps free chunks
 * in size bins (linear, then 32 sub-bins per doubling: TALC_BIN_SUB_SHIFT) with an availability
 * bitmap, coalesces eagerly with boundary tags, frees in O(1) from the pointer alone, and
 * grows/shrinks blocks in place where it can. See docs/heap.md for the layout and the invariants.
 *
 * The engine has no globals, makes no OS calls, never allocates from libc and never prints:
 * it links on bare metal.
 *
 * Concurrency: a talc_heap_t is single-threaded. No two calls on the same heap may overlap
 * (this includes calls made from an OOM hook into its own heap, which TALC_DEBUG >= 1 builds
 * detect and report as fatal). Distinct heaps are independent. For a heap shared by threads
 * use talc/heap_locked.h.
 *
 * Errors: recoverable failures return NULL (allocation) or a negative errno value (int).
 * The engine does not touch errno; wrappers (arenas, the shim) set it. Invalid pointers and
 * corruption go to the heap's fatal handler (talc_heap_opts_t.fatal), which names the heap and
 * the address; if that handler returns, the operation is abandoned (free does nothing, the
 * allocation functions return NULL).
 *
 * Alignment: every pointer returned is aligned to at least TALC_MIN_ALIGN
 * (= alignof(max_align_t)); any power-of-two alignment may be requested.
 */
#ifndef TALC_HEAP_H
#define TALC_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "talc/config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Minimum alignment of every returned pointer. Spelt with the keyword: <stdalign.h> would
 *  give every consumer macros named alignof and alignas, which clash with a program's own. */
#ifdef __cplusplus
#define TALC_MIN_ALIGN (alignof(max_align_t))
#else
#define TALC_MIN_ALIGN (_Alignof(max_align_t))
#endif

/** Opaque heap handle. Lives in memory the caller provides (talc_heap_init). */
typedef struct talc_heap talc_heap_t;

/** Opaque span handle: a contiguous range claimed by a heap. Lives at the start of the span. */
typedef struct talc_span talc_span_t;

/** What the fatal handler is told. Strings are static; the handler must not free them. */
typedef enum talc_fault {
    TALC_FAULT_BAD_POINTER = 1, /**< free/realloc/usable_size of a pointer the heap never gave */
    TALC_FAULT_DOUBLE_FREE,     /**< free, realloc or usable_size of a block already free */
    TALC_FAULT_CORRUPTION,      /**< a chunk header or free-list link is damaged */
    TALC_FAULT_REENTRY,         /**< a call re-entered the same heap (TALC_DEBUG >= 1) */
    TALC_FAULT_BAD_SPAN,        /**< a span handle that this heap does not own */
    TALC_FAULT_OUT_OF_MEMORY,   /**< an arena whose OOM policy says abort ran out (arena.h,
                                     TALC_OOM_STEP_ABORT; address NULL) */
} talc_fault_t;

typedef struct talc_fault_info {
    talc_fault_t fault;
    const char *heap_name; /**< talc_heap_opts_t.name, or "talc" */
    const void *address;   /**< the offending pointer */
    const char *what;      /**< one-line description */
} talc_fault_info_t;

/** Fatal handler. May log and abort/longjmp, or return to abandon the operation. A handler
 *  that longjmps leaves the heap usable (faults are raised before the operation changes it);
 *  one of a locked heap (talc/heap_locked.h) must release the lock first. */
typedef void (*talc_fatal_fn)(const talc_fault_info_t *info, void *ctx);

/** OOM hook verdicts. */
typedef enum talc_oom_verdict {
    TALC_OOM_FAIL = 0,  /**< give up: the allocation returns NULL */
    TALC_OOM_RETRY = 1, /**< memory was added (claim/extend): try once more */
} talc_oom_verdict_t;

/** Called with the heap when an allocation of (size, align) finds no fit. It may call
 *  talc_heap_claim / talc_span_extend on `heap` (nothing else on it) and return
 *  TALC_OOM_RETRY. The engine retries only if the heap actually gained memory since the hook
 *  was entered, and at most TALC_OOM_MAX_RETRIES times per allocation, so a hook that answers
 *  RETRY without adding memory cannot loop forever (Talc's endless-retry trap). */
typedef talc_oom_verdict_t (*talc_oom_fn)(talc_heap_t *heap, size_t size, size_t align, void *ctx);

#define TALC_OOM_MAX_RETRIES 8

/** Heap options. Zero-initialise and set what you need. */
typedef struct talc_heap_opts {
    const char *name;  /**< for fatal reports; NULL = "talc". Not copied: must outlive
                            the heap */
    size_t cache_line; /**< 0 = normal heap. Else cache-aligned mode: a power of two in
                            [TALC_MIN_ALIGN, 4096], normally talc_cache_line_size(). Every
                            block starts on its own line and no two live blocks' bytes share
                            a line. */
    talc_oom_fn oom;   /**< NULL = fail at once */
    void *oom_ctx;
    talc_fatal_fn fatal; /**< NULL = abort() */
    void *fatal_ctx;
    bool shrink_in_place; /**< true = talc_heap_realloc never moves a shrinking block (Talc's
                               rule). false (the default) = while memory is scarce a large
                               shrink may move to a smaller hole (talc_heap_realloc). */
} talc_heap_opts_t;

/** Counters (TALC_COUNTERS). "Requested" bytes are what callers asked for; "managed" bytes
 *  are span bytes handed to the heap. All are exact. */
typedef struct talc_heap_counters_s {
    size_t live_allocs;     /**< allocations not yet freed */
    uint64_t total_allocs;  /**< allocations ever (a moving realloc counts one) */
    size_t live_bytes;      /**< sum of requested sizes of live allocations */
    uint64_t total_bytes;   /**< requested bytes ever (in-place grow adds the delta) */
    size_t peak_live_bytes; /**< highest live_bytes seen (a realloc that moves the block
                                 counts the old and the new one together only in
                                 talc_locked_realloc's copy outside the lock) */
    size_t free_bytes;      /**< bytes in free chunks */
    size_t free_chunks;     /**< number of free chunks */
    size_t live_spans;      /**< spans currently claimed */
    uint64_t total_spans;   /**< spans ever claimed */
    size_t managed_bytes;   /**< bytes currently under management */
    uint64_t total_managed; /**< bytes ever claimed or added by extend */
    uint64_t failed_allocs; /**< allocations that returned NULL (size/align errors included) */
} talc_heap_counters_t;

/* ---- Life cycle ---------------------------------------------------------------------------*/

/** Bytes of memory the heap's control block needs: constant for a build, < 8 KiB up to
 *  TALC_BIN_SUB_SHIFT 5 (about 7 KiB on 64-bit targets at the default 5, 2.3 KiB at 3) and
 *  < 16 KiB at 6 (13 KiB). */
TALC_API size_t talc_heap_footprint(void);

/** Place a heap's control block at `mem` and claim the rest of [mem, mem+size) as its first
 *  span if at least one chunk fits there (talc_heap_first_span() tells).
 *  Returns the heap, or NULL iff mem is NULL, size < talc_heap_footprint(), opts->cache_line
 *  is invalid, or mem is not aligned to alignof(max_align_t).
 *  `opts` may be NULL; it is copied. Cost O(1). The caller keeps ownership of the memory;
 *  there is nothing to destroy: stop using the heap and reuse the memory. In a build of the
 *  library with AddressSanitizer or with memcheck annotations (TALC_MEMCHECK) the insides of
 *  free chunks are poisoned (docs/heap.md, "Under AddressSanitizer", "Under valgrind's
 *  memcheck"): a new heap over the memory starts clean, but before any other reuse release
 *  the heap's spans (talc_span_truncate and talc_span_release give memory back unpoisoned) or
 *  unpoison the memory (ASAN_UNPOISON_MEMORY_REGION, VALGRIND_MAKE_MEM_UNDEFINED). */
TALC_API talc_heap_t *talc_heap_init(void *mem, size_t size, const talc_heap_opts_t *opts);

/** The span that talc_heap_init claimed, or NULL if none fitted. */
TALC_API talc_span_t *talc_heap_first_span(const talc_heap_t *heap) TALC_NONNULL(1);

/* ---- Allocation ---------------------------------------------------------------------------*/

/** Allocate `size` bytes aligned to TALC_MIN_ALIGN (to the cache line in cache-aligned mode).
 *  size 0 returns a unique minimum block. Returns NULL iff no fit exists after the OOM hook,
 *  or size is too large to represent. Cost O(1), plus the OOM hook. Memory is not zeroed. */
TALC_API void *talc_heap_alloc(talc_heap_t *heap, size_t size) TALC_MALLOC_ATTR TALC_NONNULL(1);

/** As talc_heap_alloc with alignment `align` (any power of two; smaller than TALC_MIN_ALIGN
 *  means TALC_MIN_ALIGN; on 64-bit targets one above 2^47 fails at once, as no user address
 *  has it). Returns NULL if align is 0 or not a power of two, or as alloc, except that near
 *  OOM the search is bounded: a free chunk of size + align + a minimum chunk (it fits wherever
 *  it lies) is always found, in O(1) unless it shares its bin with smaller chunks (a first fit
 *  through that bin, as for a plain request); else up to 128 (TALC_ALIGNED_SCAN, an internal
 *  knob) smaller free chunks, largest bins first, are tested for an aligned fit where they
 *  lie, so NULL is possible while a fit exists further on in a fragmented heap. */
TALC_API void *talc_heap_alloc_aligned(talc_heap_t *heap, size_t size,
                                       size_t align) TALC_MALLOC_ATTR TALC_NONNULL(1);

/** Free a block from this heap. NULL is a no-op. A pointer this heap did not return, or a
 *  block already freed, goes to the fatal handler, detected from the chunk header (and the
 *  header above it) alone. So it is a best effort: a pointer into foreign memory, another
 *  heap's block, or the middle of a block whose words happen to look like a header can pass.
 *  Only debug builds (TALC_DEBUG >= 1) also check that the chunk lies in one of this heap's
 *  spans; the arena layer checks ownership in its owner map first. A second free reads as
 *  TALC_FAULT_DOUBLE_FREE, or TALC_FAULT_BAD_POINTER once the freed memory was reused.
 *  Cost O(1). */
TALC_API void talc_heap_free(talc_heap_t *heap, void *ptr) TALC_NONNULL(1);

/** Resize a block, keeping its contents up to min(old, new) bytes.
 *  ptr NULL = alloc(size). size 0 = free(ptr), returns NULL. Grows in place into a free
 *  neighbour above when possible; else moves (the new block is aligned to TALC_MIN_ALIGN, or
 *  to the cache line). Shrinks in place, with one exception that keeps a nearly full heap
 *  usable: when all of these hold, the block moves into a smaller free chunk instead, so its
 *  whole old chunk coalesces rather than leaving a hole behind it —
 *    - opts.shrink_in_place is false and the build has TALC_SHRINK_MOVE = m > 0 (default 4096);
 *    - the shrink gives back at least m bytes;
 *    - memory is scarce: no free chunk reaches half the largest span;
 *    - such a smaller free chunk exists (O(1) look-up), and a block aligned to 64..4096 bytes
 *      finds one as aligned.
 *  talc_heap_resize_in_place never moves. On failure returns NULL and leaves ptr valid and
 *  unchanged. Cost O(1) plus the copy. */
TALC_API void *talc_heap_realloc(talc_heap_t *heap, void *ptr, size_t size) TALC_NONNULL(1);

/** Grow or shrink in place only. Returns true iff the block now holds `size` bytes at the same
 *  address; on false nothing changed. size 0 is treated as 1. Cost O(1). */
TALC_API bool talc_heap_resize_in_place(talc_heap_t *heap, void *ptr, size_t size)
    TALC_NONNULL(1, 2);

/** Bytes usable at ptr (>= the requested size). Bad pointers go to the fatal handler (then 0).
 *  Cost O(1). */
TALC_API size_t talc_heap_usable_size(const talc_heap_t *heap, const void *ptr) TALC_NONNULL(1);

/* ---- Spans --------------------------------------------------------------------------------*/

/** Hand [base, base+size) to the heap as a new span. The range must not overlap another span
 *  of any heap (TALC_DEBUG >= 1 builds check this heap's spans and control block: a fault
 *  TALC_FAULT_BAD_SPAN, and NULL). The top of the address space is handled (saturating);
 *  address 0 is refused.
 *  Returns the span, or NULL iff base is NULL or the range is too small to hold the span
 *  header and one minimum chunk (talc_span_min_size(heap) guarantees a fit). Cost O(1). */
TALC_API talc_span_t *talc_heap_claim(talc_heap_t *heap, void *base, size_t size) TALC_NONNULL(1);

/** Smallest size for which talc_heap_claim on this heap always succeeds, whatever the base
 *  alignment (it depends on the heap's cache-line mode), for a range that ends below the top
 *  of the address space. A range that ends exactly at the top has its end saturated one byte
 *  short, so loses its last TALC_MIN_ALIGN bytes (the cache line, in cache-aligned mode) and
 *  may need that much more. Cost O(1). */
TALC_API size_t talc_span_min_size(const talc_heap_t *heap) TALC_NONNULL(1);

/** Grow the top of a span to `new_end` (aligned down internally). The caller owns
 *  [old end, new_end). Returns the span's end after the call (unchanged if new_end is not
 *  far enough above the current end to add a chunk), or NULL for a span this heap does not
 *  own (TALC_FAULT_BAD_SPAN) or a re-entered heap (TALC_DEBUG >= 1). Cost O(1). */
TALC_API void *talc_span_extend(talc_heap_t *heap, talc_span_t *span, void *new_end)
    TALC_NONNULL(1, 2);

/** Shrink the top of a span towards `new_end` (NULL = as far as possible), never below its
 *  highest allocated byte. Returns the new end; memory from it upward belongs to the caller
 *  again. NULL as for talc_span_extend. Cost O(1). */
TALC_API void *talc_span_truncate(talc_heap_t *heap, talc_span_t *span, void *new_end)
    TALC_NONNULL(1, 2);

/** Remove an empty span from the heap; its whole range belongs to the caller again.
 *  Returns 0, -EBUSY if any block in it is allocated, or -EINVAL for a span this heap does not
 *  own (TALC_FAULT_BAD_SPAN) or a re-entered heap (TALC_DEBUG >= 1). Cost O(1). */
TALC_API int talc_span_release(talc_heap_t *heap, talc_span_t *span) TALC_NONNULL(1, 2);

typedef struct talc_span_info {
    void *base;     /**< as passed to claim */
    void *end;      /**< current end (exclusive) */
    void *reserved; /**< end of the highest allocated chunk; == lowest possible truncate end */
    bool empty;     /**< true iff no allocation lives in the span */
} talc_span_info_t;

/** Describe a span. A span that is not this heap's goes to the fatal handler
 *  (TALC_FAULT_BAD_SPAN; abort without one); if the handler returns, *out is all zero.
 *  Cost O(1). */
TALC_API void talc_span_get_info(const talc_heap_t *heap, const talc_span_t *span,
                                 talc_span_info_t *out) TALC_NONNULL(1, 2, 3);

/** The span after `span` in claim order (NULL = first). NULL at the end. Cost O(1). */
TALC_API talc_span_t *talc_heap_next_span(const talc_heap_t *heap, const talc_span_t *span)
    TALC_NONNULL(1);

/* ---- Introspection ------------------------------------------------------------------------*/

/** Copy the counters (zeros when built with TALC_COUNTERS=0). Cost O(1). */
TALC_API void talc_heap_counters(const talc_heap_t *heap, talc_heap_counters_t *out)
    TALC_NONNULL(1, 2);

/** Cache-line size this heap aligns to (0 = normal mode). */
TALC_API size_t talc_heap_cache_line(const talc_heap_t *heap) TALC_NONNULL(1);

/** Full invariant check: the span list's links, every span walked chunk by chunk (sizes, flags,
 *  boundary tags, no two free neighbours), every bin list (links, bin index, bitmap bit), and
 *  the counters against what the walk found. Returns 0 if all hold, else a negative code
 *  (talc_check_code_t) and, if `where` is not NULL, the address of the first bad chunk. Never
 *  calls the fatal handler. Cost O(chunks + free chunks). */
TALC_API int talc_heap_check(const talc_heap_t *heap, const void **where) TALC_NONNULL(1);

typedef enum talc_check_code {
    TALC_CHECK_OK = 0,
    TALC_CHECK_CHUNK_SIZE = -1,    /**< chunk size not a multiple of the grain / below minimum */
    TALC_CHECK_SPAN_BOUNDS = -2,   /**< a chunk runs past its span's end fence, or a span's
                                        header or its links are damaged */
    TALC_CHECK_ADJACENT_FREE = -3, /**< two free chunks touch */
    TALC_CHECK_PREV_FLAG = -4,     /**< PREV_FREE flag disagrees with the chunk below */
    TALC_CHECK_FOOTER = -5,        /**< a free chunk's footer disagrees with its header */
    TALC_CHECK_BIN = -6,           /**< a free chunk is in the wrong bin or not in a list */
    TALC_CHECK_LINKS = -7,         /**< a free-list back link is wrong */
    TALC_CHECK_BITMAP = -8,        /**< an availability bit disagrees with its list */
    TALC_CHECK_COUNTERS = -9,      /**< counters disagree with the walk */
    TALC_CHECK_ALIGN = -10,        /**< a chunk's user pointer is misaligned */
} talc_check_code_t;

/** Visitor for talc_heap_walk: ptr is the user pointer (allocated) or the chunk's first usable
 *  byte (free); size is the usable size. Return false to stop the walk. */
typedef bool (*talc_walk_fn)(const talc_span_t *span, void *ptr, size_t size, bool used, void *ctx);

/** Visit every chunk of every span in address order within a span. The visitor must not call
 *  into the heap. Returns false iff the visitor stopped the walk. Cost O(chunks). */
TALC_API bool talc_heap_walk(const talc_heap_t *heap, talc_walk_fn fn, void *ctx)
    TALC_NONNULL(1, 2);

#ifdef __cplusplus
}
#endif

#endif /* TALC_HEAP_H */
