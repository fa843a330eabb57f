/* shim_model.h — what the two halves of the shim's random model test share: shim_model.c
 * runs the workers, the rounds and the barrier checks and reports failures;
 * shim_model_ops.c makes the calls of the malloc family and checks each result against the
 * worker's shadow. Test code only; the banner of shim_model.c describes the test.
 *
 * Concurrency: a worker_t and its shadow belong to their thread, except between the two
 * barriers that end a round, when worker 0 reads every shadow and outbox slot (read-only,
 * and so does every worker for its own). An outbox slot is filled by its owner during a
 * round and emptied by its taker in the next one (model_take_over), while the owner fills
 * the other slot. `model` is written before the workers start, then read-only, except its
 * atomic failure count and what worker 0 alone writes (checks, mallinfo_start).
 */
#ifndef TALC_TEST_SHIM_MODEL_H
#define TALC_TEST_SHIM_MODEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* C23; glibc 2.36 does not declare them. Weak: under LD_PRELOAD the shim provides them. */
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size) __attribute__((weak));

enum { MAX_LIVE = 256, OUTBOX_CAP = 64, MAX_THREADS = 64 };

/* The operations a worker draws (shim_model_ops.c has their weights). */
enum op_id {
    OP_MALLOC,
    OP_CALLOC,
    OP_REALLOC,
    OP_REALLOCARRAY,
    OP_POSIX_MEMALIGN,
    OP_ALIGNED_ALLOC,
    OP_MEMALIGN,
    OP_VALLOC,
    OP_PVALLOC,
    OP_FREE,
    OP_USABLE,
    OP_HAND_OVER,
    N_OPS
};

/* How C23 lets a block be freed besides free(). */
typedef enum { FREE_PLAIN, FREE_SIZED, FREE_ALIGNED_SIZED } free_kind_t;

/* A live block as the shadow knows it. Invariant: p[0, len) holds test_pattern(seed). */
typedef struct blk {
    unsigned char *p;
    size_t n;      /* size asked for (pvalloc: rounded up to a page) */
    size_t usable; /* malloc_usable_size when it was allocated or last resized */
    size_t len;    /* bytes holding the pattern: max(n, usable) */
    size_t align;  /* aligned_alloc's alignment, for free_aligned_sized */
    uint32_t seed;
    free_kind_t kind;
} blk_t;

/* Blocks a worker hands on: slot round & 1 is filled in that round, taken in the next. */
typedef struct outbox {
    blk_t b[2][OUTBOX_CAP];
    unsigned n[2];
} outbox_t;

typedef struct worker {
    unsigned id;
    test_rng_t rng;
    blk_t *live; /* MAX_LIVE entries, unordered (swap-remove); live_bytes = sum of len */
    size_t nlive, live_bytes;
    unsigned round;
    unsigned long op; /* operations done */
    uint32_t next_seed;
    const char *call; /* the call under way and its arguments, for failure lines */
    size_t arg[3];
    unsigned nargs;
    unsigned long calls, handed, taken, oom, by_op[N_OPS];
} worker_t;

/* One entry of the sorted table of the barrier check: [lo, hi) = [p, p + max(usable, 1)). */
typedef struct range {
    uintptr_t lo, hi;
    size_t n;
    unsigned thread;
} range_t;

typedef struct model {
    uint64_t seed;
    unsigned threads, rounds;
    unsigned long ops, round_ops; /* per thread; a barrier check every round_ops */
    size_t max_size, live_cap;    /* largest request; live bytes per thread */
    size_t line, page;            /* line: 0 unless cache-aligned mode is expected */
    bool oom_ok;                  /* an arena budget may refuse ordinary requests */
    pthread_barrier_t barrier;
    worker_t *w;
    outbox_t *out; /* one per worker */
    range_t *table, *scratch;
    size_t mallinfo_start;
    atomic_ulong failures;
    unsigned checks;
} model_t;

extern model_t model;

/* shim_model.c: the call a failure line names, and the failure line itself. */
void model_set_call(worker_t *w, const char *call, unsigned nargs, size_t a, size_t b, size_t c);
void model_set_context(worker_t *w, const char *what);
__attribute__((format(printf, 2, 3))) void model_fail(const worker_t *w, const char *fmt, ...);

/* shim_model_ops.c */
void model_step(worker_t *w);                      /* one random operation */
void model_take_over(worker_t *w, unsigned round); /* another worker's handed-on blocks */
bool model_verify(worker_t *w, const blk_t *b, size_t upto, const char *when);
void model_release(worker_t *w, const blk_t *b); /* check and free a block */
void model_free_all(worker_t *w);                /* release every live block */
const char *model_op_name(unsigned op);

#endif /* TALC_TEST_SHIM_MODEL_H */
