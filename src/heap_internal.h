/* heap_internal.h — private layout of the Talc heap engine: chunks, bins, spans, counters.
 *
 * Who may include it: src/heap*.c and white-box tests (tests/unit with UNIT). Nothing here
 * is installed. Concurrency: none; a heap is single-threaded (see talc/heap.h).
 *
 * Layout (docs/heap.md has the picture). A chunk is [c, c+S). Its first 8 bytes are a header
 * word; the user pointer is p = c + HDR and is aligned to the heap's quantum q (TALC_MIN_ALIGN,
 * or the cache line in cache-aligned mode), so every chunk base satisfies c ≡ −HDR (mod q).
 *
 *   header (uint64):  bits 0..47  size S | USED (bit 0) | PREV_FREE (bit 1)
 *                     bits 48..63 slack: S − HDR − requested size (allocated chunks only)
 *   allocated chunk:  [hdr][user bytes ...................................]
 *   free chunk:       [hdr][next][pprev] ...                        [footer = S]
 *   span:             [talc_span][pad][chunk][chunk]...[chunk][fence hdr: size 0, USED]
 *
 * Invariants (checked by talc_heap_check, heap_check.c):
 *   I1  S % q == 0, S >= min_chunk, c + S <= fence, (c + HDR) % q == 0.
 *   I2  no two free chunks are adjacent (eager coalescing).
 *   I3  hdr(c).PREV_FREE == (the chunk below c is free); the first chunk of a span has it clear.
 *   I4  a free chunk's footer == S; the footer is valid only while the chunk is free.
 *   I5  a free chunk is in list bins[bin_of(S)]; *node->pprev == node.
 *   I6  bitmap bit b set  <=>  bins[b] != NULL;  summary bit w set <=> bitmap[w] != 0.
 *   I7  chunk_bytes − used_bytes == Σ free S (reported as free_bytes: derived, so the free
 *       lists carry no byte counter), free_chunks == #free, live_allocs == #used,
 *       live_bytes == Σ (S − HDR − slack) over used chunks.
 *   I8  spans: s->next->prev == s, spans->prev == NULL, and the last span is spans_tail.
 */
#ifndef TALC_HEAP_INTERNAL_H
#define TALC_HEAP_INTERNAL_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap_poison.h"
#include "talc/heap.h"

/* ---- Words and constants -------------------------------------------------------------------*/

#if defined(__GNUC__)
typedef uint64_t __attribute__((may_alias)) talc_word_t; /* headers/footers live in user memory */
#define TALC_LIKELY(x) __builtin_expect(!!(x), 1)
#define TALC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TALC_INLINE static inline __attribute__((always_inline))
/* Off every allocation path (set-up, statistics, the out-of-memory path): optimised for size,
 * placed apart from the hot code. */
#define TALC_COLD __attribute__((cold))
#else
typedef uint64_t talc_word_t;
#define TALC_LIKELY(x) (x)
#define TALC_UNLIKELY(x) (x)
#define TALC_INLINE static inline
#define TALC_COLD
#endif

#define TALC_HDR ((size_t)8)                      /* header and footer size, all targets */
#define TALC_GRAIN ((size_t)alignof(max_align_t)) /* default quantum */
#define TALC_GRAIN_SHIFT (TALC_GRAIN == 8 ? 3u : TALC_GRAIN == 16 ? 4u : TALC_GRAIN == 32 ? 5u : 0u)
#define TALC_F_USED ((uint64_t)1)
#define TALC_F_PREV_FREE ((uint64_t)2)
/* Free chunks only: the arena's trim decommitted the whole pages inside it (arenas/trim.c), so
 * the next trim leaves it alone. Every change to a free chunk (split, merge, growth) writes
 * its header anew, which clears the flag; nothing else reads it (sizes are read masked). */
#define TALC_F_TRIMMED ((uint64_t)4)
/* Free chunks only, in the top bit of the slack field (a free chunk has no slack): an idle
 * trim (talc_arena_trim_idle, arenas/trim.c) saw the chunk free, holding whole pages, and left
 * it; the next idle trim that finds the header unchanged decommits it. Cleared like
 * TALC_F_TRIMMED by every rewrite of the header. The checker and the free path's neighbour
 * checks accept it in a free header; sizes are read masked. */
#define TALC_F_AGED ((uint64_t)1 << 63)
#define TALC_SIZE_BITS 48
#define TALC_SIZE_MASK ((((uint64_t)1 << TALC_SIZE_BITS) - 1) & ~(uint64_t)(TALC_GRAIN - 1))
#define TALC_SLACK_SHIFT TALC_SIZE_BITS
#define TALC_MAX_QUANTUM ((size_t)4096)

/* Largest chunk and request; keeps every size sum below 2^48 and below PTRDIFF_MAX. */
#define TALC_MAX_CHUNK_U64 (((uint64_t)1 << TALC_SIZE_BITS) - TALC_MAX_QUANTUM)
#define TALC_MAX_CHUNK                                                                             \
    ((size_t)(TALC_MAX_CHUNK_U64 < (uint64_t)PTRDIFF_MAX                                           \
                  ? TALC_MAX_CHUNK_U64                                                             \
                  : ((uint64_t)PTRDIFF_MAX & ~(uint64_t)(TALC_MAX_QUANTUM - 1))))
#define TALC_MAX_REQUEST (TALC_MAX_CHUNK - 2 * TALC_MAX_QUANTUM)

/* Bins: 64 linear bins of one grain each, then 2^TALC_SUB_SHIFT sub-bins per doubling for 24
 * doublings; the last bin is open. 32 sub-bins make the head of the ceiling bin within ~3 % of
 * the request, which is what bounded best fit needs (docs/heap.md, "Fit policy"). */
#define TALC_SUB_SHIFT ((unsigned)TALC_BIN_SUB_SHIFT)
#define TALC_LIN_BINS 64u
#define TALC_NBINS (((TALC_LIN_BINS + (24u << TALC_SUB_SHIFT)) + 63u) & ~63u)
#define TALC_BM_WORDS (TALC_NBINS / 64u)

typedef struct talc_free talc_free_t;
#if defined(__GNUC__)
struct __attribute__((may_alias)) talc_free {
#else
struct talc_free {
#endif
    talc_word_t hdr;
    talc_free_t *next;
    talc_free_t **pprev; /* the slot that points at this node: a bin head or a node's next */
};

#define TALC_MIN_CHUNK_RAW (TALC_HDR + 2 * sizeof(void *) + TALC_HDR)
#define TALC_MIN_CHUNK (((TALC_MIN_CHUNK_RAW) + TALC_GRAIN - 1) & ~(TALC_GRAIN - 1))

_Static_assert(TALC_GRAIN_SHIFT != 0, "alignof(max_align_t) must be 8, 16 or 32");
_Static_assert(TALC_GRAIN >= TALC_HDR, "grain must hold a header");
_Static_assert(TALC_MIN_CHUNK <= 3 * TALC_GRAIN || TALC_MIN_CHUNK <= 2 * TALC_GRAIN * 2,
               "alignment padding rule assumes a small minimum chunk");
_Static_assert(offsetof(talc_free_t, hdr) == 0, "header first");
_Static_assert(TALC_NBINS % 64 == 0 && TALC_BM_WORDS <= 32, "bitmap shape");
_Static_assert((TALC_F_USED | TALC_F_PREV_FREE | TALC_F_TRIMMED) < 8,
               "flags fit below the smallest grain");

/* ---- Spans --------------------------------------------------------------------------------*/

/* A span header sits at the (aligned) base of the caller's range.
 * Invariant: first <= fence; first + HDR and fence + HDR are multiples of q;
 * magic == span_magic(heap, span). */
struct talc_span {
    struct talc_span *next, *prev; /* claim order */
    char *base;                    /* as the caller passed it */
    char *first;                   /* first chunk */
    char *fence;                   /* fence header; span end = fence + HDR */
    uintptr_t magic;
};

/* ---- The heap -----------------------------------------------------------------------------*/

struct talc_heap {
    uint64_t bitmap[TALC_BM_WORDS];
    uint32_t summary; /* bit w set iff bitmap[w] != 0 */
    uint32_t busy;    /* TALC_DEBUG re-entry guard: 0 idle, 1 in a call, 2 in hook */
    size_t quantum;   /* q: TALC_GRAIN or the cache line */
    size_t qmask;     /* q − 1 */
    size_t min_chunk; /* TALC_MIN_CHUNK rounded up to a multiple of q */
    uint64_t gen;     /* bumped whenever memory is added (claim, extend) */
    size_t max_span;  /* largest (fence − first) of the spans the heap has now:
                         no chunk is larger, so a header claiming more is not
                         ours (kept by claim, extend, truncate, release) */
    size_t span_min;  /* talc_span_min_size(), computed at init */
    bool held_slack;  /* the owner rewrites allocated chunks' slack bytes and marks
                         chunks it holds with TALC_SLACK_HELD (talc_heap_hold_slack) */
    struct talc_span *spans, *spans_tail, *first_span;
    uintptr_t magic;
    talc_heap_opts_t opts;
    talc_heap_counters_t cnt; /* cnt.free_bytes, live_allocs and live_bytes unused: they
                                 are derived (talc_cnt_live_allocs, talc_cnt_live_bytes) */
    size_t chunk_bytes;       /* Σ over spans of (fence − first): bytes in chunks */
    size_t used_bytes;        /* Σ S over allocated chunks */
    size_t frees;             /* frees ever (a moving realloc counts one): live allocations
                                 = cnt.total_allocs − frees (mod 2^N) */
    size_t bytes_out;         /* requested bytes ever released (frees, shrinks): live bytes
                                 = cnt.total_bytes − bytes_out (mod 2^N) */
    talc_free_t *bins[TALC_NBINS];
};

#define TALC_HEAP_MAGIC ((uintptr_t)0x7a1c4ea9u)
#define TALC_SPAN_MAGIC ((uintptr_t)0x5ba75ba7u)

/* hi - lo in bytes, for addresses that may lie more than PTRDIFF_MAX apart (a span's base and
 * fence on a 32-bit target; a requested end beyond the largest span), where subtracting the
 * pointers would be undefined. */
TALC_INLINE size_t talc_addr_diff(const void *hi, const void *lo)
{
    return (size_t)((uintptr_t)hi - (uintptr_t)lo);
}

TALC_INLINE uintptr_t talc_span_magic(const struct talc_heap *h, const struct talc_span *s)
{
    return ((uintptr_t)h ^ (uintptr_t)s) * 31u ^ TALC_SPAN_MAGIC;
}

/* ---- Counters (compiled out with TALC_COUNTERS=0) -----------------------------------------*/

#if TALC_COUNTERS
/* One writer changes a heap's counters (whoever holds the heap, or its lock), but a monitor may
 * read the size_t ones at the same time (arenas/stripe_stats.c, inside a seqlock). So they are
 * stored with relaxed atomic stores (a plain store on every 64-bit target: no cost), and the
 * writer's own loads stay plain. uint64_t totals on 32-bit targets are stored plainly (no
 * libatomic on bare metal); one of them, total_bytes, is read by monitors there too
 * (TALC_CNT_RD64, its low word only, inside the seqlock, which discards a value read while a
 * section was open): a data race in C11's terms, a word-sized aligned load on the hardware
 * (review of 2026-12-04; not changed). */
TALC_INLINE void talc_pub_size(size_t *p, size_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
TALC_INLINE void talc_pub_plain(uint64_t *p, uint64_t v) { *p = v; }
#define TALC_PUBLISH(lv, v)                                                                        \
    _Generic(&(lv), size_t * : talc_pub_size, default : talc_pub_plain)(&(lv), (v))
#define TALC_PUB_OP(lv, op)                                                                        \
    __extension__({                                                                                \
        __typeof__(lv) talc_v_ = (lv);                                                             \
        talc_v_ op;                                                                                \
        TALC_PUBLISH(lv, talc_v_);                                                                 \
    })
#define TALC_CNT(h, field, op) TALC_PUB_OP((h)->cnt.field, op)
#define TALC_USED(h, op) TALC_PUB_OP((h)->used_bytes, op)
#define TALC_FREED(h, field, op) TALC_PUB_OP((h)->field, op)
#define TALC_CHUNKS(h, op) TALC_PUB_OP((h)->chunk_bytes, op)
#else
#define TALC_CNT(h, field, op) ((void)sizeof((h)->cnt.field op)) /* type-checks, no code */
#define TALC_USED(h, op) ((void)sizeof((h)->used_bytes op))
#define TALC_FREED(h, field, op) ((void)sizeof((h)->field op))
#define TALC_CHUNKS(h, op) ((void)sizeof((h)->chunk_bytes op))
#endif

/* The live figures, derived from running totals so that an allocation updates two counters
 * fewer (each operation updates the totals anyway). Loads may be relaxed atomic (monitors). */
#define TALC_CNT_RD(lv) __atomic_load_n(&(lv), __ATOMIC_RELAXED)
#if UINTPTR_MAX > 0xffffffffu
#define TALC_CNT_RD64(lv) ((size_t)__atomic_load_n(&(lv), __ATOMIC_RELAXED))
#else /* a 64-bit atomic load may need libatomic: the uint64_t totals are stored plainly there */
#define TALC_CNT_RD64(lv) ((size_t)(lv))
#endif
TALC_INLINE size_t talc_cnt_live_allocs(const struct talc_heap *h)
{
    return TALC_CNT_RD64(h->cnt.total_allocs) - TALC_CNT_RD(h->frees);
}
TALC_INLINE size_t talc_cnt_live_bytes(const struct talc_heap *h)
{
    return TALC_CNT_RD64(h->cnt.total_bytes) - TALC_CNT_RD(h->bytes_out);
}

/* total_bytes just grew (an allocation or an in-place grow): a new peak? */
TALC_INLINE void talc_cnt_peak(struct talc_heap *h)
{
#if TALC_COUNTERS
    size_t live = (size_t)h->cnt.total_bytes - h->bytes_out;
    if (live > h->cnt.peak_live_bytes && !h->held_slack)
        TALC_PUBLISH(h->cnt.peak_live_bytes, live);
#else
    (void)h;
#endif
}

/* Held-slack mode (talc_heap_hold_slack): live_bytes alone means nothing there, so the peak
 * follows the bytes of allocated chunks instead (an upper bound on the requested bytes of
 * the blocks the owner's users hold). Called after used_bytes grew. */
TALC_INLINE void talc_cnt_used_peak(struct talc_heap *h)
{
#if TALC_COUNTERS
    if (h->held_slack && h->used_bytes > h->cnt.peak_live_bytes)
        TALC_PUBLISH(h->cnt.peak_live_bytes, h->used_bytes);
#else
    (void)h;
#endif
}

/* After an allocation (used_bytes and total_bytes grew): the peak of whichever figure the
 * heap's mode follows (talc_cnt_peak, talc_cnt_used_peak), with one test of the mode. */
TALC_INLINE void talc_cnt_alloc_peak(struct talc_heap *h)
{
#if TALC_COUNTERS
    size_t v = h->held_slack ? h->used_bytes : (size_t)h->cnt.total_bytes - h->bytes_out;
    if (v > h->cnt.peak_live_bytes)
        TALC_PUBLISH(h->cnt.peak_live_bytes, v);
#else
    (void)h;
#endif
}

/* ---- Header words -------------------------------------------------------------------------*/

TALC_INLINE uint64_t talc_hdr(const char *c) { return *(const talc_word_t *)(const void *)c; }
TALC_INLINE void talc_set_hdr(char *c, uint64_t w) { *(talc_word_t *)(void *)c = w; }
TALC_INLINE size_t talc_hsize(uint64_t w) { return (size_t)(w & TALC_SIZE_MASK); }
/* An allocated header stores its slack XORed with this key, so a header's top two bytes are
 * 0xfff0 for a slack of 0: the eight bytes a pointer into the middle of a block finds are user
 * data, most often a small number (top bytes 0), whose slack then reads as 65520 and fails
 * every check "slack fits the chunk" (the thread cache's free reads nothing else). A free
 * header keeps its top bytes 0. */
#define TALC_SLACK_KEY 0xfff0u
TALC_INLINE size_t talc_hslack(uint64_t w)
{
    return (size_t)((unsigned)(w >> TALC_SLACK_SHIFT) ^ TALC_SLACK_KEY);
}
/* The 16-bit field that stores `slack` (talc_hslack's inverse). */
TALC_INLINE uint16_t talc_slack_field(size_t slack)
{
    return (uint16_t)((unsigned)slack ^ TALC_SLACK_KEY);
}
TALC_INLINE bool talc_hused(uint64_t w) { return (w & TALC_F_USED) != 0; }
/* Whether a free chunk's header w has nothing above its size but TALC_F_AGED. */
TALC_INLINE bool talc_free_top_ok(uint64_t w)
{
    return ((w >> TALC_SIZE_BITS) & ~(TALC_F_AGED >> TALC_SIZE_BITS)) == 0;
}
/* Whether the size field fits a size_t, which talc_hsize would otherwise truncate: always on
 * 64-bit targets; on 32-bit ones only a header the engine wrote is sure to (a header read at
 * a pointer it never returned may hold anything). */
TALC_INLINE bool talc_hsize_fits(uint64_t w)
{
#if SIZE_MAX > 0xffffffffu
    (void)w;
    return true;
#else
    return (w & TALC_SIZE_MASK) <= SIZE_MAX;
#endif
}
TALC_INLINE uint64_t talc_used_word(size_t size, size_t slack, uint64_t prev_free)
{
    return (uint64_t)size | ((uint64_t)talc_slack_field(slack) << TALC_SLACK_SHIFT) | TALC_F_USED |
           prev_free;
}
/* A neighbour's flags byte. An allocated chunk the engine does not own in the current call
 * (the chunk above the one being freed, carved or resized) may sit in an arena thread cache,
 * whose owner rewrites that header's slack bytes without the heap's lock (arenas/tcache.c).
 * So the engine reads and flips a neighbour's USED and PREV_FREE only through this byte, with
 * relaxed atomic accesses (plain loads and stores on every target), and reads the rest of the
 * neighbour's header only after seeing it free. The flags byte and the slack bytes are
 * distinct memory locations: the two writers never touch the same one. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define TALC_FLAGS_BYTE 7
#define TALC_SLACK_BYTE 0
#else
#define TALC_FLAGS_BYTE 0
#define TALC_SLACK_BYTE 6
#endif
_Static_assert(TALC_SLACK_SHIFT == 48, "slack is the header's top two bytes");

/* A slack value no allocated chunk can have (a real slack is below 2 quanta + a minimum chunk):
 * an owner that holds allocated chunks in a cache of its own (arenas/tcache.c) marks them
 * with it, so a second free of such a chunk is recognised. */
#define TALC_SLACK_HELD ((size_t)0xffff)
_Static_assert(2 * TALC_MAX_QUANTUM + TALC_MIN_CHUNK < TALC_SLACK_HELD, "HELD is no real slack");

/* What a block's header becomes when the block merges into a free chunk below it (free), or
 * slides down (realloc): no header has it (a free header has no slack bits, an allocated one
 * has USED), so a second free of that pointer is told from a wild one while the word lasts. */
#define TALC_MERGED_WORD ((uint64_t)0x6d72 << TALC_SLACK_SHIFT)

/* Switch h to held-slack mode (arenas only, at creation, before any allocation): the owner
 * may rewrite the slack bytes of allocated chunks without the heap's lock and mark chunks it
 * holds with TALC_SLACK_HELD. The heap's live_bytes is then exact only together with the
 * owner's adjustment, so talc_heap_check accepts HELD chunks and skips the live-bytes
 * equation of I7 (every other invariant is still checked), and reads headers atomically. */
TALC_INLINE void talc_heap_hold_slack(struct talc_heap *h) { h->held_slack = true; }

/* talc_heap_init for a control block in memory known to be all zero bytes (fresh anonymous
 * pages): the block is not cleared first, so the pages of bins no allocation ever uses are
 * never touched (an arena's stripes: about 7 KiB each, most of it bin heads). */
talc_heap_t *talc_heap_init_zeroed(void *mem, size_t size, const talc_heap_opts_t *opts);

/* A header word read by a walk over chunks the heap does not own in this call (the checker,
 * talc_heap_walk). In held-slack mode the owner may be storing an allocated chunk's slack
 * bytes meanwhile: load the word atomically there (64-bit targets; on a 32-bit target the
 * halves cannot mix a size with a wrong size, only an old slack with a new one). */
TALC_INLINE uint64_t talc_hdr_shared(const struct talc_heap *h, const char *c)
{
#if UINTPTR_MAX > 0xffffffffu
    if (h->held_slack)
        return __atomic_load_n((const uint64_t *)(const void *)c, __ATOMIC_RELAXED);
#endif
    (void)h;
    return talc_hdr(c);
}

TALC_INLINE unsigned talc_nflags(const char *c)
{
    return __atomic_load_n((const unsigned char *)c + TALC_FLAGS_BYTE, __ATOMIC_RELAXED);
}
TALC_INLINE bool talc_nused(const char *c) { return (talc_nflags(c) & TALC_F_USED) != 0; }
TALC_INLINE void talc_nflags_set(char *c, unsigned f, bool on)
{
    unsigned char *b = (unsigned char *)c + TALC_FLAGS_BYTE;
    unsigned v = __atomic_load_n(b, __ATOMIC_RELAXED);
    __atomic_store_n(b, (unsigned char)(on ? v | f : v & ~f), __ATOMIC_RELAXED);
}

TALC_INLINE size_t talc_footer(const char *chunk_end)
{
    return (size_t) * (const talc_word_t *)(const void *)(chunk_end - TALC_HDR);
}

/* Chunk size for a request of n bytes (n <= TALC_MAX_REQUEST). */
TALC_INLINE size_t talc_req_size(const struct talc_heap *h, size_t n)
{
    size_t s = (n + TALC_HDR + h->qmask) & ~h->qmask;
    return s < h->min_chunk ? h->min_chunk : s;
}

/* ---- Bins ---------------------------------------------------------------------------------*/

TALC_INLINE unsigned talc_log2(size_t x) /* x != 0 */
{
#if SIZE_MAX > 0xffffffffu
    return 63u - (unsigned)__builtin_clzll((unsigned long long)x);
#else
    return 31u - (unsigned)__builtin_clz((unsigned)x);
#endif
}

TALC_INLINE unsigned talc_bin_of(size_t s)
{
    if (s < ((size_t)TALC_LIN_BINS << TALC_GRAIN_SHIFT))
        return (unsigned)(s >> TALC_GRAIN_SHIFT);
    unsigned l = talc_log2(s);
    size_t b = TALC_LIN_BINS + ((size_t)(l - (TALC_GRAIN_SHIFT + 6u)) << TALC_SUB_SHIFT) +
               ((s >> (l - TALC_SUB_SHIFT)) & ((1u << TALC_SUB_SHIFT) - 1u));
    return b < TALC_NBINS ? (unsigned)b : TALC_NBINS - 1u;
}

/* Lowest bin whose every chunk is >= s; TALC_NBINS if only the open last bin may hold one. */
TALC_INLINE unsigned talc_bin_ceil(size_t s) { return talc_bin_of(s - 1) + 1u; }

/* Lowest and highest set bit of a bitmap word (x != 0). A 32-bit target works on the halves:
 * its compiler would call libgcc's __ctzdi2 for a 64-bit count, and the engine links with no
 * runtime library (tests/baremetal). */
TALC_INLINE unsigned talc_ctz64(uint64_t x)
{
#if UINTPTR_MAX > 0xffffffffu
    return (unsigned)__builtin_ctzll(x);
#else
    uint32_t lo = (uint32_t)x;
    return lo ? (unsigned)__builtin_ctz(lo) : 32u + (unsigned)__builtin_ctz((uint32_t)(x >> 32));
#endif
}
TALC_INLINE unsigned talc_msb64(uint64_t x)
{
#if UINTPTR_MAX > 0xffffffffu
    return 63u - (unsigned)__builtin_clzll(x);
#else
    uint32_t hi = (uint32_t)(x >> 32);
    return hi ? 63u - (unsigned)__builtin_clz(hi) : 31u - (unsigned)__builtin_clz((uint32_t)x);
#endif
}

/* First non-empty bin >= b, or TALC_NBINS. */
TALC_INLINE unsigned talc_bm_find(const struct talc_heap *h, unsigned b)
{
    if (b >= TALC_NBINS)
        return TALC_NBINS;
    unsigned w = b >> 6;
    uint64_t bits = h->bitmap[w] & (~(uint64_t)0 << (b & 63u));
    if (bits)
        return (w << 6) + talc_ctz64(bits);
    uint32_t sm = (w + 1u < 32u) ? (h->summary & (~(uint32_t)0 << (w + 1u))) : 0u;
    if (!sm)
        return TALC_NBINS;
    w = (unsigned)__builtin_ctz(sm);
    return (w << 6) + talc_ctz64(h->bitmap[w]);
}

/* Last non-empty bin <= b (b < TALC_NBINS), or TALC_NBINS. */
TALC_INLINE unsigned talc_bm_find_down(const struct talc_heap *h, unsigned b)
{
    unsigned w = b >> 6;
    uint64_t bits = h->bitmap[w] & (~(uint64_t)0 >> (63u - (b & 63u)));
    if (bits)
        return (w << 6) + talc_msb64(bits);
    uint32_t sm = h->summary & (((uint32_t)1 << w) - 1u); /* the words below w */
    if (!sm)
        return TALC_NBINS;
    w = 31u - (unsigned)__builtin_clz(sm);
    return (w << 6) + talc_msb64(h->bitmap[w]);
}

/* Free-list primitives. The _raw forms leave cnt.free_chunks alone: a caller that unlinks
 * and re-inserts in one operation (a split, a merge) settles the count once, with the net
 * change (talc_heap_carve, talc_heap_release_chunk). */
TALC_INLINE void talc_bin_insert_raw(struct talc_heap *h, char *c, size_t s)
{
    unsigned b = talc_bin_of(s);
    talc_free_t *f = (talc_free_t *)(void *)c;
    talc_free_t **head = &h->bins[b];
    f->next = *head;
    f->pprev = head;
    if (*head) {
        (*head)->pprev = &f->next;
    } else {
        h->bitmap[b >> 6] |= (uint64_t)1 << (b & 63u);
        h->summary |= (uint32_t)1 << (b >> 6);
    }
    *head = f;
}

TALC_INLINE void talc_bin_insert(struct talc_heap *h, char *c, size_t s)
{
    talc_bin_insert_raw(h, c, s);
    TALC_CNT(h, free_chunks, += 1);
}

TALC_INLINE void talc_bin_unlink_raw(struct talc_heap *h, char *c)
{
    talc_free_t *f = (talc_free_t *)(void *)c;
    /* c is never NULL; the analyzer cannot see it in talc_span_truncate, which finds c from a
     * footer's value. */
    *f->pprev = f->next; /* NOLINT(clang-analyzer-core.NullDereference) */
    if (f->next) {
        f->next->pprev = f->pprev;
    } else {
        uintptr_t off = (uintptr_t)f->pprev - (uintptr_t)&h->bins[0];
        if (off < sizeof h->bins) { /* it was the only node: the bin is now empty */
            unsigned b = (unsigned)(f->pprev - &h->bins[0]);
            h->bitmap[b >> 6] &= ~((uint64_t)1 << (b & 63u));
            if (!h->bitmap[b >> 6])
                h->summary &= ~((uint32_t)1 << (b >> 6));
        }
    }
}

TALC_INLINE void talc_bin_unlink(struct talc_heap *h, char *c, size_t s)
{
    talc_bin_unlink_raw(h, c);
    TALC_CNT(h, free_chunks, -= 1);
    (void)s;
}

/* Under a memory checker (heap_poison.h): poison the part of free chunk [c, c+s)'s inside (all
 * but header, links and footer) that lies in [lo, hi). A caller that knows the rest of the inside
 * to be poisoned already (it was inside free chunks) poisons only what is new there, so that a
 * split or a merge costs in proportion to the block, not to a large free neighbour. */
TALC_INLINE void talc_poison_free_part(const char *c, size_t s, const char *lo, const char *hi)
{
#ifdef TALC_POISONING
    const char *in = c + sizeof(talc_free_t), *out = c + s - TALC_HDR;
    lo = lo > in ? lo : in;
    hi = hi < out ? hi : out;
    if (lo < hi)
        talc_poison(lo, (size_t)(hi - lo));
#else
    (void)c, (void)s, (void)lo, (void)hi;
#endif
}

/* Under a memory checker: poison the head of free chunk [c, c+s)'s inside (TALC_POISON_HEAD
 * bytes), for a chunk split off right above a block: an overrun of the block is reported
 * there. */
TALC_INLINE void talc_poison_free_head(const char *c, size_t s)
{
#ifdef TALC_POISONING
    talc_poison_free_part(c, s, c, c + sizeof(talc_free_t) + TALC_POISON_HEAD);
#else
    (void)c, (void)s;
#endif
}

/* Write the words of free chunk [c, c+s) (header, footer) and link it into its bin; its lower
 * neighbour is allocated and the caller keeps PREV_FREE of the chunk above set. Under ASan
 * those words and the links are made addressable and the inside is left as it was: for a
 * chunk whose inside lay inside free chunks before (a split's tail, a prefix of one). */
TALC_INLINE void talc_free_words(struct talc_heap *h, char *c, size_t s)
{
    talc_unpoison(c, sizeof(talc_free_t));
    talc_unpoison(c + s - TALC_HDR, TALC_HDR);
    talc_set_hdr(c, (uint64_t)s);
    *(talc_word_t *)(void *)(c + s - TALC_HDR) = (uint64_t)s;
    talc_bin_insert_raw(h, c, s);
}

/* Turn [c, c+s) into a registered free chunk, as talc_free_words, poisoning all its inside. */
TALC_INLINE void talc_make_free_raw(struct talc_heap *h, char *c, size_t s)
{
    talc_free_words(h, c, s);
    talc_poison_free_part(c, s, c, c + s);
}

TALC_INLINE void talc_make_free(struct talc_heap *h, char *c, size_t s)
{
    talc_make_free_raw(h, c, s);
    TALC_CNT(h, free_chunks, += 1);
}

/* ---- Shared internals (heap.c) ------------------------------------------------------------*/

/* Report a fault through the heap's fatal handler (or abort). Returns if the handler does. */
void talc_heap_fault(const struct talc_heap *h, talc_fault_t f, const void *addr, const char *what);

/* Validate an allocated user pointer; returns its chunk or NULL after reporting the fault. */
char *talc_heap_chunk_of(const struct talc_heap *h, const void *p);

/* Find and unlink a free chunk of at least s bytes (alignment q). NULL if none. The chunk
 * stays counted in cnt.free_chunks until talc_heap_carve settles it (so do the chunks of
 * talc_heap_take_aligned and talc_heap_take_oom). */
char *talc_heap_take(struct talc_heap *h, size_t s);

/* The free chunk talc_heap_take(h, s) would pick first (the head of bin(s) if it fits, else of
 * the ceiling bin), if it is smaller than limit; NULL otherwise. Nothing is unlinked. */
const char *talc_heap_find_smaller(const struct talc_heap *h, size_t s, size_t limit);

/* Find and unlink a free chunk holding s bytes at alignment a > q; *pad receives the
 * alignment padding to split off its front. NULL if none. (heap_aligned.c) */
char *talc_heap_take_aligned(struct talc_heap *h, size_t s, size_t a, size_t *pad);

/* Mark the unlinked free chunk c (lower neighbour flag prev_free) as allocated for a request
 * of n bytes needing s; split the tail off if it can hold a chunk. Returns the user pointer.
 * c must still be counted in cnt.free_chunks (unlinked with talc_bin_unlink_raw). */
void *talc_heap_carve(struct talc_heap *h, char *c, size_t s, size_t n, uint64_t prev_free);

/* The OOM loop around a take function: returns a chunk or NULL. */
char *talc_heap_take_oom(struct talc_heap *h, size_t n, size_t s, size_t a, size_t *pad);

/* talc_span_min_size's value for heap h (heap_span.c; computed once at init). */
size_t talc_span_min_compute(const struct talc_heap *h);

/* Free an allocated chunk (already validated); coalesces both ways. Returns the size of the
 * free chunk it ended in. */
size_t talc_heap_release_chunk(struct talc_heap *h, char *c, uint64_t w);

/* Whether the neighbours a free of the allocated chunk c (in span s) would merge with are free
 * chunks the heap wrote, as talc_heap_check sees one: the chunk below when c's PREV_FREE says
 * it is free (at the distance c's footer gives), the chunk above when its flags byte does. A
 * byte the block below wrote into c's header, or c into the next header (a string's NUL
 * clearing USED), makes the free merge with user data and unlink its words as list links. The
 * free path trusts those flags; the arena's thread cache asks first for a block it gives back
 * (heap_check.c: reads only, inside the heap's spans). */
bool talc_heap_merge_ok(const struct talc_heap *h, const talc_span_t *s, const char *c);
/* talc_heap_merge_ok for the live block p, reporting a failure to h's fatal handler
 * (TALC_FAULT_CORRUPTION at p). */
bool talc_heap_merge_check(const struct talc_heap *h, const talc_span_t *s, const void *p);

/* talc_heap_free for a non-NULL p, returning the size of the free chunk the block ended in (0 if
 * the pointer was rejected). The arena layer uses it to notice an emptied span for free. With
 * s, p's span, the neighbours are checked as well once p is known to be a live block
 * (talc_heap_merge_ok; a failure is reported as CORRUPTION and nothing is freed). */
size_t talc_heap_free_merged(talc_heap_t *h, void *p, const talc_span_t *s);

/* Span s was claimed over zero-filled memory and p is the first block allocated from it, with
 * no other operation on s in between (the arena layer's fresh OS segments). The engine wrote
 * into that memory only while it was one free chunk: the chunk's list links and its footer.
 * Zeroes whichever of those words lie in p's block, so that the whole block reads as zero
 * (calloc need not touch its pages). */
void talc_span_scrub_first(const talc_span_t *s, void *p);

/* Debug entry/exit guards. */
#if TALC_DEBUG >= 1
bool talc_heap_enter(struct talc_heap *h, bool span_op);
void talc_heap_leave(struct talc_heap *h);
#define TALC_ENTER(h, span_op, fail)                                                               \
    do {                                                                                           \
        if (!talc_heap_enter((h), (span_op)))                                                      \
            return fail;                                                                           \
    } while (0)
#define TALC_LEAVE(h) talc_heap_leave(h)
#else
#define TALC_ENTER(h, span_op, fail) ((void)0)
#define TALC_LEAVE(h) ((void)0)
#endif

#if TALC_DEBUG >= 2
#define TALC_ASSERT_INTERNAL(h, cond)                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            talc_heap_fault((h), TALC_FAULT_CORRUPTION, NULL, "internal assertion: " #cond);       \
    } while (0)
#else
#define TALC_ASSERT_INTERNAL(h, cond) ((void)sizeof(cond))
#endif

#endif /* TALC_HEAP_INTERNAL_H */
