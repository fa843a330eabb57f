/* tests/common/shadow.h — a shadow model of one talc heap, and the operation language shared by
 * the randomized model test (tests/model) and the libFuzzer harness (tests/fuzz).
 *
 * The model owns the heap, its caller buffers and a record of every live block (address,
 * requested size, alignment, pattern seed) and span (handle, buffer, base, end). Operations are
 * decoded from a byte source: random bits for the model test, the fuzzer's input for the fuzzer.
 * After every operation shadow_verify() checks that:
 *   - talc_heap_check() == 0 and no fatal fault was reported (a bad-pointer operation
 *     expects exactly one, of its kind, naming its pointer, and no counter change);
 *   - in the locked form, the lock is free and was taken and released in pairs, never twice;
 *   - every counter equals the model's sums (free bytes/chunks against a heap walk);
 *   - the spans, in claim order, match the model (base, end, empty, reserved);
 *   - the walk's allocated chunks are exactly the live blocks, with usable sizes;
 *   - every block is aligned, no two overlap (in cache-aligned mode no two share a line),
 *     and every block still holds its pattern.
 *
 * Determinism: buffers come from 2 MiB-aligned pools and blocks are picked by insertion order,
 * so one seed replays the same run. Under AddressSanitizer, every byte the heap does not own
 * (buffer slack, truncated tops, released spans) is poisoned, so an engine access outside its
 * spans is reported.
 *
 * Implemented by tests/common/shadow*.c, one concern a file (shadow.c lists them); a program
 * compiles them all, or includes them all as tests/fuzz/fuzz_heap.c does.
 *
 * Who may use it: test code. Does not use Criterion: failures return -1 with a message in
 * shadow_t.err. Concurrency: one model per thread.
 */
#ifndef TALC_TEST_SHADOW_H
#define TALC_TEST_SHADOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "talc/heap.h"
#include "talc/heap_locked.h"

#define SHADOW_MAX_SPANS 16

/* Where operations come from: take(ctx, n) returns the next n (1..8) bytes as an integer
 * (0 once exhausted); done(ctx) is true when the source is exhausted. */
typedef struct shadow_src {
    uint64_t (*take)(void *ctx, unsigned nbytes);
    bool (*done)(void *ctx);
    void *ctx;
} shadow_src_t;

typedef struct shadow_config {
    size_t cache_line;    /* 0 = normal heap, else cache-aligned mode with this line */
    size_t first_size;    /* bytes handed to talc_heap_init */
    size_t first_room;    /* extra bytes after them that the first span may be extended into */
    size_t slot_size;     /* largest further caller buffer (claim); the model keeps
                             SHADOW_MAX_SPANS of them in one pool */
    size_t live_cap;      /* soft cap on live requested bytes */
    size_t max_blocks;    /* cap on live blocks */
    size_t max_size;      /* largest ordinary request size drawn */
    bool oom_hook;        /* install an OOM hook that claims a fresh buffer when it can */
    bool shrink_in_place; /* talc_heap_opts_t.shrink_in_place: a shrink must never move */
    bool bad_pointers;    /* also bad-pointer steps: a fresh double free, a misaligned pointer */
    bool corrupt;         /* also a corruption step: one byte of a chunk header, a free chunk or
                             the fence changed, then talc_heap_check must return (not crash or
                             read outside the spans); it ends the run */
    bool locked;          /* the locked form (talc/heap_locked.h) behind a lock that checks its
                             own use; calls without a locked form run under talc_locked_acquire */
    /* Optional buffers owned by the caller, reused across runs (the fuzzer): mem holds
     * first_size + first_room bytes, pool SHADOW_MAX_SPANS * slot_size bytes (slot_size a
     * multiple of 4096); both aligned to 2 MiB for replayable alignment. NULL = allocate. */
    unsigned char *mem_buf, *pool_buf;
} shadow_config_t;

typedef struct shadow_block {
    unsigned char *ptr;
    size_t size;  /* requested */
    size_t align; /* alignment the pointer must keep */
    size_t len;   /* bytes holding the pattern */
    uint32_t seed;
} shadow_block_t;

typedef struct shadow_span {
    talc_span_t *span;
    unsigned char *buf; /* the caller buffer this span lives in */
    size_t buf_size;
    int slot;            /* pool slot of buf, or -1 for the init buffer */
    unsigned char *base; /* as passed to claim */
    unsigned char *end;  /* current end, as the heap reported it */
} shadow_span_t;

typedef struct shadow_walk_rec {
    const talc_span_t *span;
    unsigned char *ptr;
    size_t size;
    bool used;
} shadow_walk_rec_t;

typedef struct shadow {
    shadow_config_t cfg;
    talc_heap_t *heap;  /* in the locked form: the heap inside lh */
    unsigned char *mem; /* init buffer: first_size + first_room bytes */
    size_t quantum;     /* alignment of every block: TALC_MIN_ALIGN or the line */

    shadow_block_t *blocks; /* insertion order (swap-remove) */
    size_t nblocks;
    shadow_block_t **order; /* scratch: blocks sorted by address */
    shadow_span_t spans[SHADOW_MAX_SPANS];
    size_t nspans;
    unsigned char *pool; /* SHADOW_MAX_SPANS slots of cfg.slot_size bytes */
    bool slot_used[SHADOW_MAX_SPANS];

    /* expected counters */
    size_t live_bytes;
    uint64_t total_allocs, total_bytes;
    size_t peak;
    uint64_t total_spans, total_managed, failed;
    bool peak_loose; /* a moving realloc may have raised the peak transiently */
    size_t peak_alt;
    bool last_realloc_moved; /* the last operation was a realloc that moved the block */
    bool corrupted;          /* a corruption step ran: the heap is unusable, the run is over */

    /* faults reported through the fatal handler (none expected outside a bad-pointer step) */
    unsigned faults;
    talc_fault_info_t last_fault;

    /* the locked form: its heap, and the model's lock (depth, calls, misuse seen) */
    talc_locked_heap_t *lh;
    unsigned lock_depth;
    uint64_t locks, unlocks;
    bool lock_misuse;

    /* OOM hook bookkeeping */
    shadow_src_t *src;
    bool in_alloc;
    size_t oom_want_size, oom_want_align;
    unsigned oom_calls;
    bool oom_bad_args;

    shadow_walk_rec_t *walk;
    size_t walk_n, walk_cap;
    bool walk_overflow;

    uint32_t next_seed;
    uint64_t steps;
    const char *last_op;
    char err[768];
} shadow_t;

/* Create the heap. Returns 0, or -1 with s->err set. */
int shadow_init(shadow_t *s, const shadow_config_t *cfg);

/* Decode and run one operation from src, then verify. Returns 0, or -1 with s->err set.
 * After a corruption step (s->corrupted) the heap may not be used again: no more steps, no
 * teardown, only shadow_destroy. */
int shadow_step(shadow_t *s, shadow_src_t *src);

/* All the checks listed above. Returns 0, or -1 with s->err set. */
int shadow_verify(shadow_t *s);

/* Free every block, release every span but the first, verify that no allocation is live and
 * the heap holds at most one span. Returns 0, or -1 with s->err set. */
int shadow_teardown(shadow_t *s);

/* Give every buffer back to libc (the heap becomes invalid). */
void shadow_destroy(shadow_t *s);

#endif /* TALC_TEST_SHADOW_H */
