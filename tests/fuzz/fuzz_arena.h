/* tests/fuzz/fuzz_arena.h — what the files of the arena harness (tests/fuzz/fuzz_arena*.c,
 * listed in fuzz_arena.c) share: its limits, the model's types and state (fz), and a
 * declaration for each function that one file defines and another calls, grouped by the file
 * that defines it. Every other function of the harness is static.
 *
 * Who may use it: the arena harness's files only. Concurrency: fz belongs to the thread that
 * runs the harness; the worker thread (fuzz_arena_worker.c) and the callbacks that run on it
 * use it only while that thread waits for them.
 */
#ifndef TALC_TEST_FUZZ_ARENA_H
#define TALC_TEST_FUZZ_ARENA_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "talc/arena.h"

#include "../common/granule.h"

/* ---- Limits -------------------------------------------------------------------------------*/

#define FZ_SLOTS 4 /* named arenas; slot FZ_SLOTS is the default arena */
#define FZ_MAX_BLOCKS 96
#define FZ_MAX_OPS 600
/* A size chosen for granules of up to 64 KiB, scaled with larger ones. */
#define FZ_SIZE(n) (TALC_PAGEMAP_SHIFT > 16 ? TEST_GRANULE_SCALED(n) : (size_t)(n))
#define FZ_RESERVE FZ_SIZE((size_t)8 << 20)
#define FZ_BUF_SIZE FZ_SIZE((size_t)2 << 20)
#define FZ_GRANULE TEST_GRANULE
#define FZ_CALLS 4     /* calls open at once: an operation's and those its callbacks make */
#define FZ_CB_DEPTH 3  /* a callback allocates only while fewer calls are open */
#define FZ_JUMPED (-1) /* the errno of a call its ABORT handler longjmped out of */
#define FZ_REPORTS 100 /* reports one call may have: 4 FALLBACK steps in each of 3 hops */

/* ---- The model's types ---------------------------------------------------------------------*/

typedef struct fz_block {
    char *p;
    size_t size;
    talc_arena_t *owner;
    uint32_t seed;
    bool zero; /* calloc'd and not written: must read zero */
} fz_block_t;

/* What an arena's callbacks do (from its create operation). */
typedef enum fz_reclaim_kind {
    FZ_RECLAIM_HONEST,      /* frees a block as large as asked, else up to two; says how much */
    FZ_RECLAIM_ALLOC_SAME,  /* allocates from its own arena (no RECLAIM nor ABORT), frees an
                               older block of it */
    FZ_RECLAIM_ALLOC_OTHER, /* allocates from another arena, frees a block of its own */
    FZ_RECLAIM_LIE,         /* frees nothing and says it freed what was asked */
    FZ_RECLAIM_NONE,        /* frees nothing and says so */
} fz_reclaim_kind_t;

typedef enum fz_abort_mode {
    FZ_ABORT_RETURN, /* the handler returns: the allocation gives NULL + ENOMEM */
    FZ_ABORT_JUMP,   /* it longjmps back to the call (not on the worker: it returns there) */
    FZ_ABORT_ALLOC,  /* it allocates from the arena that ran out (no second report) and another */
} fz_abort_mode_t;

typedef enum fz_soft_kind {
    FZ_SOFT_CHECK,       /* checks its arguments only */
    FZ_SOFT_ALLOC_SAME,  /* allocates from its arena and frees an older block of it */
    FZ_SOFT_ALLOC_OTHER, /* allocates from another arena */
    FZ_SOFT_FREE,        /* frees one of its arena's blocks */
} fz_soft_kind_t;

typedef struct fz_slot {
    talc_arena_t *a; /* NULL: free slot */
    talc_arena_config_t cfg;
    char name[8], fallback[8];
    fz_reclaim_kind_t reclaim;
    fz_abort_mode_t abort_mode;
    fz_soft_kind_t soft;
} fz_slot_t;

/* One allocation the harness makes (fz_call), open while the allocator runs it. */
typedef struct fz_call {
    talc_arena_t *asked; /* the arena whose chain it runs (a realloc: the block's owner) */
    talc_arena_t *rep[FZ_REPORTS]; /* arenas that reported TALC_FAULT_OUT_OF_MEMORY in it */
    unsigned nrep;
    unsigned nuser;          /* fz.nuser when it was opened */
    size_t must_fit;         /* an honest reclaim freed a block this large: the retry holds
                                the request, so the call must succeed (0: no promise) */
    talc_arena_t *fit_arena; /* whose RECLAIM step that was, */
    uint64_t fit_ok;         /* and its oom_ok[RECLAIM] before: the retry adds one */
    jmp_buf back;            /* where a handler of mode FZ_ABORT_JUMP goes */
} fz_call_t;

typedef struct fz {
    const uint8_t *data;
    size_t size, pos;
    unsigned step;
    const char *op;
    fz_slot_t slot[FZ_SLOTS];
    fz_block_t blk[FZ_MAX_BLOCKS];
    size_t nblk;
    size_t busy; /* block index a realloc is working on (reclaim leaves it) */
    uint32_t next_seed;
    int scopes; /* scopes this input pushed */
    bool routing;
    /* The fatal handler's record, and what the current operation expects of it. */
    int faults;
    talc_fault_t fault;
    char fault_arena[TALC_ARENA_NAME_MAX + 1];
    bool expect_fault;
    /* Calls open now (innermost last), and the arenas whose reclaim callback or ABORT handler
     * runs now: the library skips both steps for those (talc/arena.h). */
    fz_call_t call[FZ_CALLS];
    unsigned ncalls;
    talc_arena_t *user[2 * FZ_CALLS];
    unsigned nuser;
    /* Handlers that longjmped out since the drain last ran, and the highest frame address
     * the handler had then (a stack grows down: higher is shallower); the drain's. */
    unsigned stale;
    uintptr_t stale_frame, drain_frame;
    talc_arena_t *drain; /* "fzdrain", chain {ABORT}: fz_drain */
    uint32_t cb_rng;     /* the callbacks' choices (sizes, arenas) */
} fz_t;

/* One allocation as fz_call runs it. */
typedef enum fz_kind { FZ_MALLOC, FZ_CALLOC, FZ_ALIGNED, FZ_REALLOC } fz_kind_t;

typedef struct fz_req {
    fz_kind_t kind;
    talc_arena_t *arena; /* as passed (NULL: the thread's arena) */
    talc_arena_t *asked; /* whose chain runs: the arena resolved, a realloc's owner */
    void *old;           /* realloc: the block */
    size_t n, m;         /* the size; calloc's nmemb or aligned_alloc's alignment */
} fz_req_t;

/* ---- The model (fuzz_arena_model.c) -------------------------------------------------------*/

extern fz_t fz; /* one input's state, reset by LLVMFuzzerTestOneInput */

/* Print `fuzz_arena: step N (op): ...` and abort (libFuzzer keeps the input). */
__attribute__((format(printf, 1, 2), noreturn)) void fz_die(const char *fmt, ...);

/* The next nbytes (1..8) of the input as an integer, 0 once it is exhausted. */
uint64_t fz_take(unsigned nbytes);
size_t fz_size(void);

talc_arena_t *fz_arena(unsigned s);
const fz_slot_t *fz_slot_of(const talc_arena_t *a);
void fz_check_block(size_t i);
void fz_drop(size_t i);
void fz_adopt(char *p, size_t n, size_t align, talc_arena_t *asked, bool zero);
bool fz_bounded(const talc_arena_t *a);
void fz_after_alloc(char *p, size_t n, size_t align, talc_arena_t *asked, bool zero, int e);

/* Every invariant, after each operation (and one sampled block's contents). */
void fz_check_all(void);

/* ---- Calls and the OOM chain's user code (fuzz_arena_oom.c) -------------------------------*/

fz_call_t *fz_call_open(talc_arena_t *asked);
void fz_call_close(const void *p, int e);
char *fz_call(const fz_req_t *r, int *e);

/* Each arena's callbacks (ctx: its slot), and the fatal handler of the whole harness. */
size_t fz_reclaim(talc_arena_t *a, size_t wanted, void *ctx);
void fz_soft(talc_arena_t *a, size_t footprint, size_t soft, void *ctx);
void fz_fatal(const talc_fault_info_t *info, void *ctx);

/* ---- Operations on blocks (fuzz_arena_ops.c) ----------------------------------------------*/

talc_arena_t *fz_pick_arena(void);

void fz_op_malloc(void);
void fz_op_calloc(void);
void fz_op_aligned(void);
void fz_op_free(void);
void fz_op_realloc(void);
void fz_op_usable(void);
void fz_op_bad(void);
void fz_op_bad_request(void);
void fz_op_flush(void);
void fz_op_trim(void);
void fz_op_write(void);

/* ---- Operations on arenas (fuzz_arena_slots.c) --------------------------------------------*/

void fz_op_create(void);
void fz_op_destroy(void);
void fz_op_route(void);

bool fz_is_fallback_of_other(unsigned s);
void fz_unroute(void);
void fz_destroy_slot(unsigned s, unsigned flags);

/* ---- The worker thread (fuzz_arena_worker.c) ----------------------------------------------*/

extern __thread bool fz_on_worker; /* the worker thread: no longjmp there */

void fz_op_worker(void);

/* Let the worker thread exit (its caches go back) and join it; nothing if none runs. */
void fz_worker_exit(void);

/* ---- The driver (fuzz_arena.c) ------------------------------------------------------------*/

extern char *fz_buffers; /* FZ_SLOTS buffers of FZ_BUF_SIZE (fz_setup_once) */

#endif /* TALC_TEST_FUZZ_ARENA_H */
