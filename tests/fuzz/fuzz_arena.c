/* tests/fuzz/fuzz_arena.c — libFuzzer harness for the arena layer (talc/arena.h, reserve.h,
 * stats.h), checked against a model after every operation.
 *
 * The input is an operation language over up to four named arenas ("fz0".."fz3") plus the
 * default arena: create (source OS / caller buffer / reserve only, stripes, thread cache,
 * cache-aligned mode, hard and soft budgets, borrow ceiling and priority, an OOM chain with
 * reclaim, grow, borrow, fallback to another slot's arena, fail and abort), destroy (EBUSY,
 * EPERM, release all), malloc, calloc, aligned alloc, realloc, free, usable size, thread-cache
 * flush, scopes and binding, trims, the stats writers (every format), the same calls from a
 * second thread (and its exit), requests that must fail (alignment not a power of two, huge
 * sizes and alignments), and bad frees (interior pointers, second frees, unowned addresses)
 * that must reach the fatal handler naming the arena and change nothing.
 *
 * User code inside the OOM chain: each arena's reclaim callback (frees the arena's blocks and
 * says so, allocates from the same or another arena, lies, or frees nothing), its soft-budget
 * callback (checks, allocates, frees) and the fatal handler of its ABORT step (returns,
 * longjmps back to the call, or allocates) come from the input. Every allocation the harness
 * makes, an operation's or a callback's, is a call (fz_call): the out-of-memory reports made
 * during it are checked against the chains (section "Calls"), and every block a callback
 * allocates or frees is recorded, so the model stays exact.
 *
 * The model keeps every live block (pointer, requested size, owner arena, content seed) and
 * checks after each operation: each arena's live blocks and bytes against the stats (exact at
 * rest), allocs − frees, the hard budget and the borrow ceiling, the reserve's free figure
 * (free + held == size, held == Σ arenas' borrowed bytes), no fault where none was expected;
 * per allocation: alignment, no overlap with a live block, no line shared in cache-aligned mode,
 * the owner (the arena asked, or one of its fallbacks), usable size; contents on every free,
 * realloc and one sampled block per step. At the end of an input every block is freed, every
 * arena destroyed (which must then succeed) and the reserve must be whole again.
 * A disagreement prints `fuzz_arena: step N (op): ...` and aborts (libFuzzer keeps the input).
 *
 * Input layout: byte 0 bit 0 = scope/bind routing on, then operations until the input runs
 * out (at most FZ_MAX_OPS). Memory is bounded: blocks below 320 KiB, at most FZ_MAX_BLOCKS,
 * OS arenas grow from the OS (segments are returned when empty), buffers are mapped once.
 * Budgets, ceilings, buffers and the reserve are sized for granules of up to 64 KiB and scale
 * with larger ones (FZ_SIZE), so that every configuration stays valid at any granule.
 *
 * Concurrency: libFuzzer calls the harness from one thread. A second thread (the worker)
 * allocates, frees, flushes and exits on request, while the harness thread waits for it: so
 * cross-thread frees, another thread's caches (taken back by destroy and at its exit) and the
 * parked blocks are covered, but the two never run at once and every input runs the same way
 * (true concurrency is the stress program's and the Criterion tests'). Callbacks run on the
 * thread whose allocation ran the chain, the worker's included; there a handler never
 * longjmps. Build and run: tests/fuzz/README.md.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "talc/arena.h"
#include "talc/platform.h"
#include "talc/reserve.h"
#include "talc/stats.h"

#include "../common/granule.h"
#include "../common/pattern.c"

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

static fz_t fz;
static char *fz_buffers;           /* FZ_SLOTS buffers of FZ_BUF_SIZE (fz_setup_once) */
static __thread bool fz_on_worker; /* the worker thread: no longjmp there */

__attribute__((format(printf, 1, 2), noreturn)) static void fz_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz_arena: step %u (%s): ", fz.step, fz.op ? fz.op : "-");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- Input --------------------------------------------------------------------------------*/

static uint64_t fz_take(unsigned nbytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < nbytes && fz.pos < fz.size; i++)
        v |= (uint64_t)fz.data[fz.pos++] << (8 * i);
    return v;
}

/* A request size: mostly small, some up to 16 KiB (the thread cache's range), a few large,
 * now and then one above an OS arena's segment (a segment of its own, unmapped when its free
 * empties it: arenas/segment.c), and now and then zero (malloc(0) gives a unique block;
 * realloc to 0 frees). */
static size_t fz_size(void)
{
    unsigned kind = (unsigned)fz_take(1);
    size_t v = (size_t)fz_take(2);
    if (kind == 255)
        return 0;
    if (kind == 254)
        return TEST_OS_SEGMENT + v * 37 % FZ_SIZE((size_t)2 << 20);
    if (kind < 160)
        return v % 512 + 1;
    if (kind < 240)
        return v % 16384 + 1;
    return v * 5 % (320u << 10) + 1;
}

/* ---- Model --------------------------------------------------------------------------------*/

static talc_arena_t *fz_arena(unsigned s) /* slot index, FZ_SLOTS = default */
{
    return s < FZ_SLOTS ? fz.slot[s].a : talc_arena_default();
}

static const fz_slot_t *fz_slot_of(const talc_arena_t *a)
{
    for (unsigned s = 0; s < FZ_SLOTS; s++)
        if (fz.slot[s].a && fz.slot[s].a == a)
            return &fz.slot[s];
    return NULL;
}

static size_t fz_line(const talc_arena_t *a)
{
    const fz_slot_t *sl = fz_slot_of(a);
    return sl && sl->cfg.cache_aligned ? talc_cache_line_size() : 0;
}

static void fz_check_block(size_t i)
{
    const fz_block_t *b = &fz.blk[i];
    if (b->zero) {
        for (size_t k = 0; k < b->size; k++)
            if (b->p[k] != 0)
                fz_die("calloc block %p (%zu B) has byte %zu = %#x", (void *)b->p, b->size, k,
                       (unsigned)(unsigned char)b->p[k]);
        return;
    }
    size_t bad = test_pattern_check(b->p, b->size, b->seed);
    if (bad != b->size)
        fz_die("block %p (%zu B, arena %s) damaged at byte %zu", (void *)b->p, b->size,
               talc_arena_name(b->owner), bad);
}

static void fz_drop(size_t i)
{
    fz.blk[i] = fz.blk[--fz.nblk];
    if (fz.busy == fz.nblk)
        fz.busy = i;
}

/* Could a request to `asked` end up in `owner`? The arena itself, or a fallback reached
 * through the chain (the depth is the library's business; any named slot will do). */
static bool fz_owner_ok(const talc_arena_t *asked, const talc_arena_t *owner)
{
    if (owner == asked)
        return true;
    const fz_slot_t *sl = fz_slot_of(asked);
    return sl && sl->cfg.fallback && fz_slot_of(owner) != NULL;
}

/* A fresh block: aligned, owned, not overlapping any live block nor (cache-aligned) sharing a
 * line with one, usable size large enough. Recorded with its content. */
static void fz_adopt(char *p, size_t n, size_t align, talc_arena_t *asked, bool zero)
{
    talc_arena_t *owner = talc_arena_of(p);
    if (!owner || !fz_owner_ok(asked, owner))
        fz_die("block %p from \"%s\" is owned by %s", (void *)p, talc_arena_name(asked),
               owner ? talc_arena_name(owner) : "nobody");
    size_t min_align = align > TALC_MIN_ALIGN ? align : TALC_MIN_ALIGN;
    size_t line = fz_line(owner);
    if (line > min_align)
        min_align = line;
    if ((uintptr_t)p % min_align)
        fz_die("block %p not aligned to %zu", (void *)p, min_align);
    size_t us = talc_usable_size(p);
    if (us < n)
        fz_die("usable size %zu < requested %zu", us, n);
    for (size_t i = 0; i < fz.nblk; i++) {
        const fz_block_t *b = &fz.blk[i];
        if (p == b->p)
            fz_die("block %p handed out twice", (void *)p);
        if (p < b->p + b->size && b->p < p + n)
            fz_die("block %p+%zu overlaps live %p+%zu", (void *)p, n, (void *)b->p, b->size);
        if (line && b->owner == owner &&
            (uintptr_t)p / line <= ((uintptr_t)b->p + b->size - 1) / line &&
            (uintptr_t)b->p / line <= ((uintptr_t)p + n - 1) / line)
            fz_die("cache-aligned block %p+%zu shares a line with %p+%zu", (void *)p, n,
                   (void *)b->p, b->size);
    }
    if (fz.nblk == FZ_MAX_BLOCKS)
        fz_die("block table full");
    fz_block_t *b = &fz.blk[fz.nblk++];
    *b = (fz_block_t){p, n, owner, fz.next_seed++, zero};
    if (zero) {
        fz_check_block(fz.nblk - 1);
        b->zero = (fz.next_seed & 1) != 0; /* half the calloc blocks are then overwritten */
    }
    if (!b->zero)
        test_pattern_fill(p, n, b->seed);
}

static talc_arena_t *fz_resolve(talc_arena_t *a) { return a ? a : talc_thread_arena(); }

static bool fz_bounded(const talc_arena_t *a)
{
    const fz_slot_t *sl = fz_slot_of(a);
    return sl && (sl->cfg.source != TALC_SOURCE_OS || sl->cfg.hard_budget ||
                  sl->cfg.oom_chain[0] != TALC_OOM_STEP_END);
}

/* The result of an allocation call (e: its errno, or FZ_JUMPED: nothing was allocated). */
static void fz_after_alloc(char *p, size_t n, size_t align, talc_arena_t *asked, bool zero, int e)
{
    if (p) {
        fz_adopt(p, n, align, asked, zero);
        return;
    }
    if (e != ENOMEM && e != FZ_JUMPED)
        fz_die("NULL with errno %d, not ENOMEM", e);
    if (!fz_bounded(asked))
        fz_die("unbounded arena %s failed %zu bytes", talc_arena_name(asked), n);
}

/* ---- Calls --------------------------------------------------------------------------------
 * Every allocation the harness makes is a call: opened before the allocator runs it, closed
 * after, so that each TALC_FAULT_OUT_OF_MEMORY report (an ABORT step, talc/arena.h) is
 * checked against the chains: it belongs to the innermost open call, names an arena whose
 * chain that call can run (the arena asked or a fallback it reaches) and that has an ABORT
 * step, comes no more often than the call can run that chain (fz_runs), and never for an
 * arena whose reclaim callback or ABORT handler runs (the library skips both steps for it:
 * no re-entry). A call to an arena with an ABORT step (before any FAIL) that gives NULL +
 * ENOMEM must have had its report; one whose handler returned gives NULL + ENOMEM; one that
 * succeeds had none from that arena.
 *
 * A handler that longjmps out leaves the library's note of its arena behind, and until a
 * chain runs from a frame at or above the abandoned one, chains deeper than it skip that
 * arena's RECLAIM and ABORT (docs/arenas.md, "Out-of-memory policy"). So after an operation
 * in which a handler longjmped the driver runs the drain: an allocation from "fzdrain" (chain
 * {ABORT}) that fails, made from the driver's own frame, above every call; until then a
 * missing report is forgiven (fz.stale). Whether the drain's frame was above the abandoned
 * ones is measured, not assumed: the handler's frame address is compared. */

typedef enum fz_kind { FZ_MALLOC, FZ_CALLOC, FZ_ALIGNED, FZ_REALLOC } fz_kind_t;

typedef struct fz_req {
    fz_kind_t kind;
    talc_arena_t *arena; /* as passed (NULL: the thread's arena) */
    talc_arena_t *asked; /* whose chain runs: the arena resolved, a realloc's owner */
    void *old;           /* realloc: the block */
    size_t n, m;         /* the size; calloc's nmemb or aligned_alloc's alignment */
} fz_req_t;

static bool fz_noted(const talc_arena_t *a)
{
    for (unsigned i = 0; i < fz.nuser; i++)
        if (fz.user[i] == a)
            return true;
    return false;
}

static void fz_user_push(talc_arena_t *a)
{
    if (fz.nuser == 2 * FZ_CALLS)
        fz_die("callbacks nested deeper than %d", 2 * FZ_CALLS);
    fz.user[fz.nuser++] = a;
}

/* Does a's chain report when it runs out: an ABORT step before any FAIL? */
static bool fz_has_abort(const talc_arena_t *a)
{
    if (a && a == fz.drain)
        return true;
    const fz_slot_t *sl = fz_slot_of(a);
    for (unsigned k = 0; sl && k < TALC_OOM_CHAIN_MAX; k++) {
        talc_oom_step_t st = sl->cfg.oom_chain[k];
        if (st == TALC_OOM_STEP_END || st == TALC_OOM_STEP_FAIL)
            return false;
        if (st == TALC_OOM_STEP_ABORT)
            return true;
    }
    return false;
}

/* How many times can an allocation from a (at `hops` fallback hops) run r's chain? Once if r
 * is a, plus as often as each FALLBACK step that a's chain can reach (before FAIL and ABORT,
 * which end it) runs it: a chain may name FALLBACK more than once. Hops are bounded at 4
 * (oom.c); the harness makes no fallback cycle. */
static unsigned fz_runs(const talc_arena_t *a, const talc_arena_t *r, unsigned hops)
{
    unsigned n = a == r;
    const fz_slot_t *sl = fz_slot_of(a);
    talc_arena_t *fb = sl && sl->cfg.fallback ? fz.slot[sl->cfg.fallback[2] - '0'].a : NULL;
    for (unsigned k = 0; fb && hops < 4 && k < TALC_OOM_CHAIN_MAX; k++) {
        talc_oom_step_t st = sl->cfg.oom_chain[k];
        if (st == TALC_OOM_STEP_END || st == TALC_OOM_STEP_FAIL || st == TALC_OOM_STEP_ABORT)
            break;
        if (st == TALC_OOM_STEP_FALLBACK)
            n += fz_runs(fb, r, hops + 1);
    }
    return n;
}

static unsigned fz_reported(const fz_call_t *c, const talc_arena_t *a)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->nrep; i++)
        n += c->rep[i] == a;
    return n;
}

static fz_call_t *fz_call_open(talc_arena_t *asked)
{
    if (fz.ncalls == FZ_CALLS)
        fz_die("calls nested deeper than %d", FZ_CALLS);
    fz_call_t *c = &fz.call[fz.ncalls++];
    c->asked = asked;
    c->nrep = 0;
    c->nuser = fz.nuser;
    c->must_fit = 0;
    return c;
}

/* Close the innermost call, which gave p with errno e (FZ_JUMPED: its handler longjmped). */
static void fz_call_close(const void *p, int e)
{
    fz_call_t *c = &fz.call[--fz.ncalls];
    fz.nuser = c->nuser; /* (a longjmp skips no callback of the harness: see fz_oom_report) */
    const char *name = talc_arena_name(c->asked);
    bool rep = fz_reported(c, c->asked) != 0;
    talc_arena_stats_t st;
    if (c->must_fit && (!p || talc_arena_get_stats(c->fit_arena, &st) != 0 ||
                        st.oom_ok[TALC_OOM_STEP_RECLAIM] == c->fit_ok))
        fz_die("%s: the reclaim callback freed a block of %zu B or more, yet the retry failed "
               "(call gave %p)",
               talc_arena_name(c->fit_arena), c->must_fit, p);
    if (e == FZ_JUMPED)
        return;
    if (p && rep)
        fz_die("%s reported out of memory, yet the call gave %p", name, p);
    if (!p && rep && e != ENOMEM)
        fz_die("%s: the handler of its ABORT step returned, then errno %d (want ENOMEM)", name, e);
    if (!p && e == ENOMEM && !rep && fz_has_abort(c->asked) && !fz_noted(c->asked) && !fz.stale)
        fz_die("%s ran out (ENOMEM) with an ABORT step in its chain, and no report came", name);
}

static char *fz_do(const fz_req_t *r)
{
    switch (r->kind) {
    case FZ_CALLOC:
        return talc_arena_calloc(r->arena, r->m, r->n);
    case FZ_ALIGNED:
        return talc_arena_aligned_alloc(r->arena, r->m, r->n);
    case FZ_REALLOC:
        return talc_arena_realloc(r->arena, r->old, r->n);
    default:
        return talc_arena_malloc(r->arena, r->n);
    }
}

/* Run one allocation as a call; *e gets its errno, or FZ_JUMPED. Never inlined: the drain
 * relies on every call's frame being below the driver's. */
static __attribute__((noinline)) char *fz_call(const fz_req_t *r, int *e)
{
    fz_call_t *c = fz_call_open(r->asked);
    if (setjmp(c->back) != 0) {
        *e = FZ_JUMPED;
        fz_call_close(NULL, FZ_JUMPED);
        return NULL;
    }
    errno = 0;
    char *p = fz_do(r);
    *e = errno;
    fz_call_close(p, *e);
    return p;
}

/* ---- Callbacks ----------------------------------------------------------------------------
 * Each arena's reclaim and soft-budget callbacks get its slot as context; what they do comes
 * from the slot (fz_config), their sizes and arenas from fz.cb_rng. A callback allocates only
 * while fewer than FZ_CB_DEPTH calls are open and the block table has room for the calls
 * still to return; it never frees the block a realloc is working on (fz.busy). */

static uint32_t fz_cb_rand(void)
{
    uint32_t x = fz.cb_rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return fz.cb_rng = x;
}

/* A size for a callback's block: small, or (bounded) what the chain wanted. */
static size_t fz_cb_size(size_t wanted)
{
    uint32_t r = fz_cb_rand();
    if (r & 1)
        return wanted < (256u << 10) ? wanted : (size_t)(256u << 10);
    return r % 512 + 1;
}

/* Another live arena than a (the default one at least). */
static talc_arena_t *fz_cb_other(const talc_arena_t *a)
{
    unsigned s = fz_cb_rand() % (FZ_SLOTS + 1);
    for (unsigned k = 0; k <= FZ_SLOTS; k++) {
        talc_arena_t *o = fz_arena((s + k) % (FZ_SLOTS + 1));
        if (o && o != a)
            return o;
    }
    return talc_arena_default();
}

/* A callback's malloc or calloc of n bytes from a, as a call, recorded like an operation's. */
static void fz_cb_alloc(talc_arena_t *a, size_t n)
{
    if (fz.ncalls >= FZ_CB_DEPTH || fz.nblk + FZ_CALLS + 2 >= FZ_MAX_BLOCKS)
        return;
    bool zero = fz_cb_rand() & 1;
    fz_req_t r = {zero ? FZ_CALLOC : FZ_MALLOC, a, a, NULL, n, 1};
    int e;
    char *p = fz_call(&r, &e);
    fz_after_alloc(p, n, 0, a, zero, e);
}

static size_t fz_free_block(size_t i)
{
    fz_check_block(i);
    size_t us = talc_usable_size(fz.blk[i].p);
    talc_free(fz.blk[i].p);
    fz_drop(i);
    return us;
}

/* Free up to k of a's blocks among the first `below` of the table, the newest first (a
 * callback that allocated passes the count from before, to free an older block than its
 * own); their usable bytes. */
static size_t fz_free_some(const talc_arena_t *a, unsigned k, size_t below)
{
    size_t freed = 0;
    for (size_t i = below < fz.nblk ? below : fz.nblk; i-- > 0 && k > 0;)
        if (fz.blk[i].owner == a && i != fz.busy) {
            freed += fz_free_block(i);
            k--;
        }
    return freed;
}

/* Will the chain's retry find a block of `wanted` bytes that a free gives back? Without a
 * thread cache the free reaches the stripe (retried in every stripe), and with nothing
 * borrowed a segment the free emptied and gave back went to the source, which gives it again
 * (the reserve's guaranteed minimums could refuse a borrowed one). If so, the innermost call
 * (whose chain runs the callback) notes it, with the RECLAIM step's successes so far. */
static void fz_retry_must_fit(const fz_slot_t *sl, size_t wanted)
{
    talc_arena_stats_t st;
    if ((TALC_TCACHE && sl->cfg.thread_cache == TALC_TCACHE_ON) ||
        talc_arena_get_stats(sl->a, &st) != 0 || st.borrowed_bytes != 0)
        return;
    fz_call_t *c = &fz.call[fz.ncalls - 1];
    c->must_fit = wanted;
    c->fit_arena = sl->a;
    c->fit_ok = st.oom_ok[TALC_OOM_STEP_RECLAIM];
}

/* Free the arena's largest block if it holds `wanted` bytes (then the retry must succeed),
 * else up to two blocks; says how much it freed. */
static size_t fz_reclaim_honest(const fz_slot_t *sl, size_t wanted)
{
    size_t best = SIZE_MAX, best_us = 0;
    for (size_t i = 0; i < fz.nblk; i++) {
        if (fz.blk[i].owner != sl->a || i == fz.busy)
            continue;
        size_t us = talc_usable_size(fz.blk[i].p);
        if (best == SIZE_MAX || us > best_us) {
            best = i;
            best_us = us;
        }
    }
    if (best == SIZE_MAX || best_us < wanted)
        return fz_free_some(sl->a, 2, fz.nblk);
    fz_retry_must_fit(sl, wanted);
    return fz_free_block(best);
}

static size_t fz_reclaim(talc_arena_t *a, size_t wanted, void *ctx)
{
    const fz_slot_t *sl = ctx;
    if (sl->a != a)
        fz_die("reclaim callback for \"%s\" with the context of \"%s\"", talc_arena_name(a),
               sl->name);
    if (!fz.ncalls)
        fz_die("reclaim callback of \"%s\" outside an allocation", sl->name);
    if (fz_noted(a))
        fz_die("reclaim callback of \"%s\" re-entered", sl->name);
    fz_user_push(a);
    size_t freed = 0, before = fz.nblk;
    switch (sl->reclaim) {
    case FZ_RECLAIM_ALLOC_SAME:
        fz_cb_alloc(a, fz_cb_size(wanted));
        freed = fz_free_some(a, 1, before);
        break;
    case FZ_RECLAIM_ALLOC_OTHER:
        fz_cb_alloc(fz_cb_other(a), fz_cb_size(wanted));
        freed = fz_free_some(a, 1, before);
        break;
    case FZ_RECLAIM_LIE:
        freed = wanted ? wanted : 1;
        break;
    case FZ_RECLAIM_NONE:
        break;
    default:
        freed = fz_reclaim_honest(sl, wanted);
    }
    fz.nuser--;
    return freed;
}

static void fz_soft(talc_arena_t *a, size_t footprint, size_t soft, void *ctx)
{
    fz_slot_t *sl = ctx;
    if (!sl->a)
        sl->a = a; /* crossed by initial_size: create calls back before it returns */
    if (sl->a != a)
        fz_die("soft-budget callback for \"%s\" with the context of \"%s\"", talc_arena_name(a),
               sl->name);
    if (soft != sl->cfg.soft_budget || footprint < soft)
        fz_die("soft-budget callback with footprint %zu, budget %zu (configured %zu)", footprint,
               soft, sl->cfg.soft_budget);
    size_t before = fz.nblk;
    switch (sl->soft) {
    case FZ_SOFT_ALLOC_SAME:
        fz_cb_alloc(a, fz_cb_rand() % 4096 + 1);
        (void)fz_free_some(a, 1, before);
        break;
    case FZ_SOFT_ALLOC_OTHER:
        fz_cb_alloc(fz_cb_other(a), fz_cb_rand() % 4096 + 1);
        break;
    case FZ_SOFT_FREE:
        (void)fz_free_some(a, 1, fz.nblk);
        break;
    default:
        break;
    }
}

static talc_arena_t *fz_arena_named(const char *name)
{
    if (name && fz.drain && strcmp(name, talc_arena_name(fz.drain)) == 0)
        return fz.drain;
    for (unsigned s = 0; name && s < FZ_SLOTS; s++)
        if (fz.slot[s].a && strcmp(name, fz.slot[s].name) == 0)
            return fz.slot[s].a;
    return NULL;
}

/* An ABORT step's report. A longjmp goes back to the innermost call, which the report belongs
 * to: between that call's setjmp and here runs library code only (a callback's allocation is
 * a call of its own), so the jump skips no callback of the harness. */
static __attribute__((noinline)) void fz_oom_report(const talc_fault_info_t *info)
{
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    const char *name = info->heap_name ? info->heap_name : "(null)";
    if (!fz.ncalls)
        fz_die("out-of-memory report for \"%s\" outside an allocation", name);
    fz_call_t *c = &fz.call[fz.ncalls - 1];
    talc_arena_t *r = fz_arena_named(info->heap_name);
    if (!r)
        fz_die("out-of-memory report names \"%s\", no arena of the harness", name);
    if (info->address)
        fz_die("out-of-memory report for \"%s\" with address %p (want NULL)", name, info->address);
    if (fz_noted(r))
        fz_die("out-of-memory report for \"%s\" while its reclaim callback or ABORT handler "
               "runs (re-entered)",
               name);
    unsigned runs = fz_has_abort(r) ? fz_runs(c->asked, r, 0) : 0;
    if (fz_reported(c, r) >= runs || c->nrep == FZ_REPORTS)
        fz_die("out-of-memory report %u for \"%s\" in a call to \"%s\", which can reach an "
               "ABORT step of it %u times",
               fz_reported(c, r) + 1, name, talc_arena_name(c->asked), runs);
    c->rep[c->nrep++] = r;
    if (r == fz.drain) {
        fz.drain_frame = here;
        return;
    }
    const fz_slot_t *sl = fz_slot_of(r);
    if (sl->abort_mode == FZ_ABORT_JUMP && !fz_on_worker) {
        fz.stale++;
        if (here > fz.stale_frame)
            fz.stale_frame = here;
        longjmp(c->back, 1);
    }
    if (sl->abort_mode == FZ_ABORT_ALLOC) {
        fz_user_push(r);
        fz_cb_alloc(r, fz_cb_size(64u << 10)); /* skips RECLAIM and ABORT: no second report */
        fz_cb_alloc(fz_cb_other(r), fz_cb_rand() % 512 + 1);
        fz.nuser--;
    }
}

static void fz_fatal(const talc_fault_info_t *info, void *ctx)
{
    (void)ctx;
    if (info->fault == TALC_FAULT_OUT_OF_MEMORY) {
        fz_oom_report(info);
        return;
    }
    fz.faults++;
    fz.fault = info->fault;
    snprintf(fz.fault_arena, sizeof fz.fault_arena, "%s",
             info->heap_name ? info->heap_name : "(null)");
    if (!fz.expect_fault)
        fz_die("unexpected fault %d in \"%s\" at %p: %s", (int)info->fault, fz.fault_arena,
               info->address, info->what ? info->what : "");
}

/* ---- Invariants after every operation -----------------------------------------------------*/

static void fz_check_arena(talc_arena_t *a, size_t *borrowed)
{
    talc_arena_stats_t st;
    if (talc_arena_get_stats(a, &st) != 0)
        fz_die("get_stats(%s) failed", talc_arena_name(a));
    *borrowed += st.borrowed_bytes;
    const fz_slot_t *sl = fz_slot_of(a);
    if (sl && sl->cfg.hard_budget && st.source_bytes > sl->cfg.hard_budget)
        fz_die("%s: source bytes %zu above the hard budget %zu", st.name, st.source_bytes,
               sl->cfg.hard_budget);
    size_t ceiling = sl ? sl->cfg.borrow_ceiling : 0;
    if (st.borrowed_bytes > ceiling && sl)
        fz_die("%s: borrowed %zu above the ceiling %zu", st.name, st.borrowed_bytes, ceiling);
    if (st.free_bytes + st.cached_bytes > st.managed_bytes)
        fz_die("%s: free %zu + cached %zu > managed %zu", st.name, st.free_bytes, st.cached_bytes,
               st.managed_bytes);
#if TALC_COUNTERS
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < fz.nblk; i++)
        if (fz.blk[i].owner == a) {
            n++;
            bytes += fz.blk[i].size;
        }
    if (st.live_allocs != n || st.live_bytes != bytes)
        fz_die("%s: live %zu blocks / %zu B, model %zu / %zu", st.name, st.live_allocs,
               st.live_bytes, n, bytes);
    if (st.allocs - st.frees != st.live_allocs)
        fz_die("%s: allocs %llu - frees %llu != live %zu", st.name, (unsigned long long)st.allocs,
               (unsigned long long)st.frees, st.live_allocs);
#endif
}

static void fz_check_all(void)
{
    if (fz.faults)
        fz_die("fault recorded outside a bad-pointer operation");
    if (fz.ncalls || fz.nuser)
        fz_die("%u calls and %u callbacks still open", fz.ncalls, fz.nuser);
    size_t borrowed = 0;
    for (unsigned s = 0; s <= FZ_SLOTS; s++)
        if (fz_arena(s))
            fz_check_arena(fz_arena(s), &borrowed);
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    if (r.free + r.held != r.size || r.held != borrowed)
        fz_die("reserve: free %zu + held %zu vs size %zu; arenas hold %zu", r.free, r.held, r.size,
               borrowed);
    if (fz.nblk)
        fz_check_block((size_t)fz_take(1) % fz.nblk);
}

/* ---- Operations ---------------------------------------------------------------------------*/

static talc_arena_t *fz_pick_arena(void)
{
    unsigned s = (unsigned)fz_take(1) % (FZ_SLOTS + 2);
    if (s == FZ_SLOTS + 1)
        return fz.routing ? NULL : talc_arena_default(); /* NULL: the thread's current arena */
    talc_arena_t *a = fz_arena(s);
    return a ? a : talc_arena_default();
}

static void fz_op_malloc(void)
{
    fz.op = "malloc";
    talc_arena_t *a = fz_pick_arena();
    size_t n = fz_size();
    if (fz.nblk == FZ_MAX_BLOCKS)
        return;
    talc_arena_t *asked = fz_resolve(a);
    int e;
    char *p = fz_call(&(fz_req_t){FZ_MALLOC, a, asked, NULL, n, 0}, &e);
    fz_after_alloc(p, n, 0, asked, false, e);
}

static void fz_op_calloc(void)
{
    fz.op = "calloc";
    talc_arena_t *a = fz_pick_arena();
    size_t n = fz_size(), k = (size_t)fz_take(1) % 4 + 1;
    if (fz.nblk == FZ_MAX_BLOCKS)
        return;
    if (k == 4) { /* nmemb * size overflows: NULL + ENOMEM, nothing allocated, no OOM chain
                   * (not a call: a report would find none open) */
        errno = 0;
        void *p = talc_arena_calloc(a, SIZE_MAX / 2 + 1, n + 2);
        if (p || errno != ENOMEM)
            fz_die("overflowing calloc gave %p errno %d", p, errno);
        return;
    }
    talc_arena_t *asked = fz_resolve(a);
    size_t each = n / k + 1;
    int e;
    char *p = fz_call(&(fz_req_t){FZ_CALLOC, a, asked, NULL, each, k}, &e);
    fz_after_alloc(p, k * each, 0, asked, true, e);
}

static void fz_op_aligned(void)
{
    fz.op = "aligned_alloc";
    talc_arena_t *a = fz_pick_arena();
    unsigned lg = (unsigned)fz_take(1) % 14;
    size_t n = fz_size(), align = (size_t)1 << lg;
    if (fz.nblk == FZ_MAX_BLOCKS)
        return;
    talc_arena_t *asked = fz_resolve(a);
    int e;
    char *p = fz_call(&(fz_req_t){FZ_ALIGNED, a, asked, NULL, n, align}, &e);
    fz_after_alloc(p, n, align, asked, false, e);
}

static void fz_op_free(void)
{
    fz.op = "free";
    if (!fz.nblk)
        return;
    size_t i = (size_t)fz_take(1) % fz.nblk;
    fz_check_block(i);
    int e = errno = 12345;
    talc_free(fz.blk[i].p);
    if (errno != e)
        fz_die("free changed errno to %d", errno);
    fz_drop(i);
}

static void fz_op_realloc(void)
{
    fz.op = "realloc";
    if (!fz.nblk)
        return;
    size_t i = (size_t)fz_take(1) % fz.nblk;
    size_t n = fz_size();
    fz_check_block(i);
    fz_block_t old = fz.blk[i];
    fz.busy = i;
    int e;
    char *q = fz_call(&(fz_req_t){FZ_REALLOC, NULL, old.owner, old.p, n, 0}, &e);
    i = fz.busy; /* the callbacks may have moved it */
    fz.busy = SIZE_MAX;
    if (n == 0) { /* realloc(p, 0) frees p and gives NULL (glibc's choice, talc/arena.h) */
        if (q)
            fz_die("realloc to 0 gave %p", (void *)q);
        fz_drop(i);
        return;
    }
    if (!q) {
        if (e != ENOMEM && e != FZ_JUMPED)
            fz_die("realloc NULL with errno %d", e);
        if (!fz_bounded(old.owner))
            fz_die("unbounded arena %s failed realloc to %zu", talc_arena_name(old.owner), n);
        fz_check_block(i); /* untouched, where it was */
        if (talc_arena_of(fz.blk[i].p) != old.owner)
            fz_die("a failed realloc moved the block");
        return;
    }
    size_t keep = n < old.size ? n : old.size;
    if (!old.zero && test_pattern_check(q, keep, old.seed) != keep)
        fz_die("realloc %p -> %p lost contents", (void *)old.p, (void *)q);
    for (size_t k = 0; old.zero && k < keep; k++)
        if (q[k] != 0)
            fz_die("realloc of a calloc block lost its zeros");
    fz_drop(i);
    fz_adopt(q, n, 0, old.owner, false);
}

static void fz_op_usable(void)
{
    fz.op = "usable_size";
    if (!fz.nblk)
        return;
    const fz_block_t *b = &fz.blk[(size_t)fz_take(1) % fz.nblk];
    if (talc_usable_size(b->p) < b->size || talc_arena_of(b->p) != b->owner)
        fz_die("usable size %zu < %zu or owner moved", talc_usable_size(b->p), b->size);
}

/* Does the fallback chain from slot `from`, through live slots, reach slot `to`? Mutual
 * fallbacks are supported (test_arena_oom.c) but can never be destroyed (each is the other's
 * fallback: -EPERM), so the harness does not close a cycle: its teardown destroys everything. */
static bool fz_fallback_reaches(unsigned from, unsigned to)
{
    for (unsigned hops = 0; hops <= FZ_SLOTS; hops++) {
        if (from == to)
            return true;
        const fz_slot_t *sl = &fz.slot[from];
        if (!sl->a || !sl->cfg.fallback)
            return false;
        from = (unsigned)(sl->cfg.fallback[2] - '0'); /* fallbacks are slot names, "fzN" */
    }
    return true;
}

/* Config from input bytes for slot s. */
static void fz_config(unsigned s)
{
    fz_slot_t *sl = &fz.slot[s];
    unsigned b0 = (unsigned)fz_take(1), b1 = (unsigned)fz_take(1), b2 = (unsigned)fz_take(1);
    unsigned chain = (unsigned)fz_take(2), b3 = (unsigned)fz_take(1);
    snprintf(sl->name, sizeof sl->name, "fz%u", s);
    talc_arena_config_t *c = &sl->cfg;
    *c = talc_arena_config_default(sl->name);
    c->source = (talc_source_t)(b0 % 3);
    c->stripes = (b0 >> 2) % 5; /* 0 = auto */
    c->cache_aligned = (b0 >> 5) & 1;
    c->thread_cache = (talc_tcache_mode_t)((b0 >> 6) % 3);
    static const size_t budgets[4] = {0, FZ_SIZE(256u << 10), FZ_SIZE(1u << 20), FZ_SIZE(4u << 20)};
    c->hard_budget = c->source == TALC_SOURCE_OS ? budgets[b1 % 4] : 0;
    c->soft_budget =
        (b1 >> 2) & 1 ? (c->hard_budget ? c->hard_budget / 2 : FZ_SIZE(512u << 10)) : 0;
    c->on_soft_budget = fz_soft;
    c->budget_ctx = sl;
    c->initial_size = (b1 >> 3) & 1 ? FZ_GRANULE : 0;
    static const size_t ceilings[4] = {0, FZ_SIZE(256u << 10), FZ_SIZE(1u << 20),
                                       FZ_SIZE(3u << 20)};
    c->borrow_ceiling = ceilings[(b1 >> 4) % 4];
    if (c->source == TALC_SOURCE_RESERVE && !c->borrow_ceiling)
        c->borrow_ceiling = FZ_SIZE(1u << 20);
    c->borrow_priority = (b1 >> 6) % 3;
    c->reserve_guaranteed = (b2 & 3) == 3 ? FZ_GRANULE * 4 : 0;
    c->reclaim = fz_reclaim;
    c->reclaim_ctx = sl;
    static const fz_reclaim_kind_t reclaims[8] = {
        FZ_RECLAIM_HONEST, FZ_RECLAIM_HONEST, FZ_RECLAIM_ALLOC_SAME, FZ_RECLAIM_ALLOC_OTHER,
        FZ_RECLAIM_LIE,    FZ_RECLAIM_NONE,   FZ_RECLAIM_HONEST,     FZ_RECLAIM_ALLOC_SAME};
    static const fz_abort_mode_t aborts[4] = {FZ_ABORT_RETURN, FZ_ABORT_JUMP, FZ_ABORT_ALLOC,
                                              FZ_ABORT_JUMP};
    sl->reclaim = reclaims[b3 % 8];
    sl->abort_mode = aborts[(b3 >> 3) % 4];
    sl->soft = (fz_soft_kind_t)((b3 >> 5) % 4);
    if (c->source == TALC_SOURCE_BUFFER) {
        c->buffer = fz_buffers + s * FZ_BUF_SIZE;
        c->buffer_size = FZ_BUF_SIZE / ((b2 >> 2) % 4 + 1);
    }
    /* OOM chain: up to four steps of reclaim / grow / borrow / fallback / fail / abort, or
     * the default. */
    if (chain % 4) {
        for (unsigned k = 0; k < 4; k++, chain >>= 3) {
            static const talc_oom_step_t steps[8] = {TALC_OOM_STEP_END,      TALC_OOM_STEP_RECLAIM,
                                                     TALC_OOM_STEP_GROW,     TALC_OOM_STEP_BORROW,
                                                     TALC_OOM_STEP_FALLBACK, TALC_OOM_STEP_FAIL,
                                                     TALC_OOM_STEP_GROW,     TALC_OOM_STEP_ABORT};
            c->oom_chain[k] = steps[chain & 7];
            if (c->oom_chain[k] == TALC_OOM_STEP_END)
                break;
        }
    }
    unsigned fb = (b2 >> 4) % (FZ_SLOTS + 1);
    if (fb < FZ_SLOTS && fb != s && !fz_fallback_reaches(fb, s)) {
        snprintf(sl->fallback, sizeof sl->fallback, "fz%u", fb);
        c->fallback = sl->fallback;
    }
}

static bool fz_is_fallback_of_other(unsigned s)
{
    for (unsigned o = 0; o < FZ_SLOTS; o++)
        if (o != s && fz.slot[o].a && fz.slot[o].cfg.fallback &&
            strcmp(fz.slot[o].cfg.fallback, fz.slot[s].name) == 0)
            return true;
    return false;
}

static void fz_op_create(void)
{
    fz.op = "create";
    unsigned s = (unsigned)fz_take(1) % FZ_SLOTS;
    fz_slot_t *sl = &fz.slot[s];
    if (sl->a) { /* a second arena of that name: EEXIST */
        errno = 0;
        if (talc_arena_create(&sl->cfg) || errno != EEXIST)
            fz_die("duplicate name \"%s\": errno %d", sl->name, errno);
        return;
    }
    fz_config(s);
    errno = 0;
    sl->a = talc_arena_create(&sl->cfg);
    if (!sl->a)
        fz_die("create \"%s\" (source %d) failed: errno %d", sl->name, (int)sl->cfg.source, errno);
    if (talc_arena_find(sl->name) != sl->a)
        fz_die("find(\"%s\") does not give the new arena", sl->name);
}

static void fz_unroute(void)
{
    while (fz.scopes > 0) {
        if (talc_scope_pop() != 0)
            fz_die("scope_pop failed with %d scopes open", fz.scopes);
        fz.scopes--;
    }
    talc_thread_bind(NULL);
}

static void fz_destroy_slot(unsigned s, unsigned flags)
{
    fz_slot_t *sl = &fz.slot[s];
    size_t live = 0;
    for (size_t i = 0; i < fz.nblk; i++)
        live += fz.blk[i].owner == sl->a;
    bool perm = fz_is_fallback_of_other(s);
    fz_unroute();
    int rc = talc_arena_destroy(sl->a, flags);
    if (perm) {
        if (rc != -EPERM)
            fz_die("destroy of another arena's fallback gave %d", rc);
        return;
    }
    if (live && !(flags & TALC_DESTROY_RELEASE_ALL)) {
        if (rc != -EBUSY)
            fz_die("destroy with %zu live blocks gave %d", live, rc);
        return;
    }
    if (rc != 0)
        fz_die("destroy gave %d", rc);
    for (size_t i = fz.nblk; i-- > 0;)
        if (fz.blk[i].owner == sl->a)
            fz_drop(i);
    if (talc_arena_find(sl->name) != NULL)
        fz_die("\"%s\" still found after destroy", sl->name);
    sl->a = NULL;
}

static void fz_op_destroy(void)
{
    fz.op = "destroy";
    unsigned v = (unsigned)fz_take(1);
    unsigned s = v % (FZ_SLOTS + 1);
    if (s == FZ_SLOTS) {
        if (talc_arena_destroy(talc_arena_default(), 0) != -EINVAL)
            fz_die("destroy of the default arena not refused");
        return;
    }
    if (fz.slot[s].a)
        fz_destroy_slot(s, (v >> 4) & 1 ? TALC_DESTROY_RELEASE_ALL : 0u);
}

static void fz_op_route(void)
{
    fz.op = "route";
    unsigned v = (unsigned)fz_take(1);
    talc_arena_t *a = fz_arena(v % (FZ_SLOTS + 1));
    if (!fz.routing || !a)
        return;
    switch ((v >> 4) % 3) {
    case 0:
        if (talc_scope_push(a) == 0)
            fz.scopes++;
        else if (fz.scopes < TALC_SCOPE_MAX)
            fz_die("scope_push refused with %d open", fz.scopes);
        break;
    case 1:
        if (fz.scopes > 0) {
            if (talc_scope_pop() != 0)
                fz_die("scope_pop failed");
            fz.scopes--;
        } else if (talc_scope_pop() != -ENOENT) {
            fz_die("scope_pop with none open did not give -ENOENT");
        }
        break;
    default:
        talc_thread_bind(a);
        if (fz.scopes == 0 && talc_thread_arena() != a)
            fz_die("bind did not route");
    }
}

/* A bad pointer must reach the fatal handler once, as TALC_FAULT_BAD_POINTER naming `arena`,
 * and change nothing. */
static void fz_expect_one_fault(void (*call)(void *), void *p, const char *arena)
{
    fz.expect_fault = true;
    fz.faults = 0;
    call(p);
    fz.expect_fault = false;
    if (fz.faults != 1 || strcmp(fz.fault_arena, arena) != 0 || fz.fault != TALC_FAULT_BAD_POINTER)
        fz_die("bad pointer %p: %d faults, fault %d, arena \"%s\" (want 1, %d, \"%s\")", p,
               fz.faults, fz.faults ? (int)fz.fault : 0, fz.faults ? fz.fault_arena : "",
               (int)TALC_FAULT_BAD_POINTER, arena);
    fz.faults = 0;
}

static void fz_usable_call(void *p) { (void)talc_usable_size(p); }

static void fz_op_bad(void)
{
    fz.op = "bad pointer";
    unsigned v = (unsigned)fz_take(1);
    static char outside[64];
    switch (v % 4) {
    case 0: /* an address no arena owns */
        fz_expect_one_fault(talc_free, outside + 16, "unowned");
        break;
    case 1: { /* inside a live block */
        if (!fz.nblk)
            return;
        fz_block_t *b = &fz.blk[(size_t)fz_take(1) % fz.nblk];
        if (b->size < 2)
            return;
        size_t off = 1 + (size_t)fz_take(2) % (b->size - 1);
        fz_expect_one_fault((v >> 2) & 1 ? fz_usable_call : talc_free, b->p + off,
                            talc_arena_name(b->owner));
        break;
    }
    default: { /* a second free, right after the first */
        if (!fz.nblk)
            return;
        size_t i = (size_t)fz_take(1) % fz.nblk;
        char *p = fz.blk[i].p;
        char name[TALC_ARENA_NAME_MAX + 1];
        snprintf(name, sizeof name, "%s", talc_arena_name(fz.blk[i].owner));
        fz_check_block(i);
        talc_free(p);
        fz_drop(i);
        fz.expect_fault = true;
        fz.faults = 0;
        talc_free(p);
        fz.expect_fault = false;
        /* DOUBLE_FREE when the header still shows the block (free or cached), BAD_POINTER
         * when it was merged into the chunk below or its segment went back ("unowned") */
        if (fz.faults != 1 ||
            (strcmp(fz.fault_arena, name) != 0 && strcmp(fz.fault_arena, "unowned") != 0) ||
            (fz.fault != TALC_FAULT_DOUBLE_FREE && fz.fault != TALC_FAULT_BAD_POINTER))
            fz_die("second free of %p: %d faults, arena \"%s\" (want 1, \"%s\")", (void *)p,
                   fz.faults, fz.faults ? fz.fault_arena : "", name);
        fz.faults = 0;
    }
    }
}

/* Requests that must fail cleanly: NULL with EINVAL (alignment not a power of two) or ENOMEM
 * (sizes no arena can hold; alignments no arena maps memory for, unless a segment happens to
 * hold an address on one), nothing allocated, a realloc's block intact. The ENOMEM ones run
 * the arena's OOM chain: an ABORT step reports (or its handler longjmps: FZ_JUMPED). */
static void fz_expect_null(const void *p, int e, int want, const char *what)
{
    if (p || (e != want && !(e == FZ_JUMPED && want == ENOMEM)))
        fz_die("%s gave %p errno %d (want NULL, errno %d)", what, p, e, want);
}

/* A request that must fail, as a call. */
static void fz_bad_call(fz_kind_t kind, talc_arena_t *a, size_t n, size_t m, const char *what)
{
    int e;
    char *q = fz_call(&(fz_req_t){kind, a, fz_resolve(a), NULL, n, m}, &e);
    fz_expect_null(q, e, ENOMEM, what);
}

static void fz_op_bad_request(void)
{
    fz.op = "bad request";
    unsigned v = (unsigned)fz_take(1);
    talc_arena_t *a = fz_pick_arena();
    /* Above half the address space (no arena takes more than PTRDIFF_MAX) on 32 and 64 bits. */
    static const size_t huge[4] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2 + 1, SIZE_MAX / 4 * 3};
    /* Alignments from 2^40 (64-bit) or 2^30 (32-bit) up to 2^62 or 2^31. */
    unsigned bits = (unsigned)(sizeof(size_t) * CHAR_BIT);
    unsigned shift = bits == 64 ? 40 + (v >> 5) % 23 : bits - 2 + (v >> 5) % 2;
    size_t n = huge[(v >> 3) % 4];
    switch (v % 5) {
    case 0: { /* rejected before any chain: not a call (a report would find none open) */
        errno = 0;
        void *q = talc_arena_aligned_alloc(a, (v >> 5) % 2 ? 0 : 24, 16);
        fz_expect_null(q, errno, EINVAL, "aligned_alloc at a non-power-of-two alignment");
        break;
    }
    case 1:
        fz_bad_call(FZ_MALLOC, a, n, 0, "malloc of a huge size");
        break;
    case 2: {
        /* No arena maps memory for such an alignment, but one of its segments may hold an
         * address on it (likely on a 32-bit target, with a 2^30 boundary every GiB): then the
         * request is a valid one, and the block must be on the alignment. */
        size_t al = (size_t)1 << shift;
        int e;
        char *p = fz_call(&(fz_req_t){FZ_ALIGNED, a, fz_resolve(a), NULL, 64, al}, &e);
        if (p && ((uintptr_t)p & (al - 1)) != 0)
            fz_die("aligned_alloc at %#zx gave %p", al, (void *)p);
        if (p)
            talc_free(p);
        else
            fz_expect_null(p, e, ENOMEM, "aligned_alloc at a huge alignment");
        break;
    }
    case 3:
        fz_bad_call(FZ_CALLOC, a, n, 1, "calloc of a huge size");
        break;
    default: {
        if (!fz.nblk)
            return;
        size_t i = (size_t)fz_take(1) % fz.nblk;
        fz_block_t old = fz.blk[i];
        fz.busy = i; /* the OOM chain's callbacks must not free it */
        int e;
        char *q = fz_call(&(fz_req_t){FZ_REALLOC, NULL, old.owner, old.p, n, 0}, &e);
        i = fz.busy;
        fz.busy = SIZE_MAX;
        fz_expect_null(q, e, ENOMEM, "realloc to a huge size");
        fz_check_block(i);
        if (talc_arena_of(fz.blk[i].p) != old.owner)
            fz_die("a failed realloc moved the block");
    }
    }
}

static void fz_op_flush(void)
{
    fz.op = "flush";
    talc_thread_cache_flush();
}

/* Trim one arena (or the thread's): every live block must read as before, everywhere. */
static void fz_op_trim(void)
{
    fz.op = "trim";
    (void)talc_arena_trim(fz_take(1) & 1 ? fz_pick_arena() : NULL);
    for (size_t i = 0; i < fz.nblk; i++)
        fz_check_block(i);
}

/* The writers: every format, all arenas or one; each live arena's name must appear. */
static void fz_op_write(void)
{
    fz.op = "stats_write";
    static char out[64 << 10];
    unsigned v = (unsigned)fz_take(1);
    talc_stats_format_t fmt = (talc_stats_format_t)(v % 3);
    FILE *f = fmemopen(out, sizeof out, "w");
    if (!f)
        fz_die("fmemopen failed");
    talc_arena_t *one = (v >> 2) & 1 ? fz_pick_arena() : NULL;
    int rc = one ? talc_stats_write_arena(f, one, fmt) : talc_stats_write(f, fmt);
    fclose(f);
    if (rc != 0)
        fz_die("stats writer (format %d) gave %d", (int)fmt, rc);
    for (unsigned s = 0; s <= FZ_SLOTS; s++) {
        talc_arena_t *a = fz_arena(s);
        if (a && (!one || a == one) && !strstr(out, talc_arena_name(a)))
            fz_die("stats writer (format %d) left out arena \"%s\"", (int)fmt, talc_arena_name(a));
    }
}

/* ---- A second thread ----------------------------------------------------------------------*/

/* One worker thread at a time runs jobs handed over by the harness thread, which waits for
 * each to finish: the two never run at once, so the model needs no lock and every input runs
 * the same way, while the worker's frees of the main thread's blocks are cross-thread frees,
 * its thread caches persist between jobs, and its exit gives its caches back. */
typedef enum fz_job { FZ_JOB_NONE, FZ_JOB_MALLOC, FZ_JOB_FREE, FZ_JOB_FLUSH, FZ_JOB_EXIT } fz_job_t;

static struct {
    pthread_t tid;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    fz_job_t job;
    talc_arena_t *arena;
    void *p;
    size_t n;
    int err;
} fz_w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *fz_worker(void *arg)
{
    (void)arg;
    fz_on_worker = true;
    pthread_mutex_lock(&fz_w.lock);
    for (;;) {
        while (fz_w.job == FZ_JOB_NONE)
            pthread_cond_wait(&fz_w.cv, &fz_w.lock);
        fz_job_t job = fz_w.job;
        switch (job) {
        case FZ_JOB_MALLOC:
            fz_w.p =
                fz_call(&(fz_req_t){FZ_MALLOC, fz_w.arena, fz_w.arena, NULL, fz_w.n, 0}, &fz_w.err);
            break;
        case FZ_JOB_FREE:
            talc_free(fz_w.p);
            break;
        case FZ_JOB_FLUSH:
            talc_thread_cache_flush();
            break;
        default:
            break;
        }
        fz_w.job = FZ_JOB_NONE;
        pthread_cond_broadcast(&fz_w.cv);
        if (job == FZ_JOB_EXIT)
            break;
    }
    pthread_mutex_unlock(&fz_w.lock);
    return NULL; /* the thread's caches go back at its exit */
}

static void fz_run(fz_job_t job)
{
    if (!fz_w.running) {
        if (job == FZ_JOB_EXIT)
            return;
        if (pthread_create(&fz_w.tid, NULL, fz_worker, NULL) != 0)
            fz_die("pthread_create failed");
        fz_w.running = true;
    }
    pthread_mutex_lock(&fz_w.lock);
    fz_w.job = job;
    pthread_cond_broadcast(&fz_w.cv);
    while (fz_w.job != FZ_JOB_NONE)
        pthread_cond_wait(&fz_w.cv, &fz_w.lock);
    pthread_mutex_unlock(&fz_w.lock);
    if (job == FZ_JOB_EXIT) {
        pthread_join(fz_w.tid, NULL);
        fz_w.running = false;
    }
}

static void fz_op_worker(void)
{
    fz.op = "worker";
    unsigned v = (unsigned)fz_take(1);
    switch (v % 5) {
    case 0:
    case 1: { /* allocate there: the block is the worker's cache's to take back */
        fz.op = "worker malloc";
        talc_arena_t *a = fz_pick_arena();
        size_t n = fz_size();
        if (fz.nblk == FZ_MAX_BLOCKS)
            return;
        fz_w.arena = a ? a : talc_arena_default();
        fz_w.n = n;
        fz_run(FZ_JOB_MALLOC);
        fz_after_alloc(fz_w.p, n, 0, fz_w.arena, false, fz_w.err);
        break;
    }
    case 2: { /* free there: a cross-thread free of a block the main thread may own */
        fz.op = "worker free";
        if (!fz.nblk)
            return;
        size_t i = (size_t)fz_take(1) % fz.nblk;
        fz_check_block(i);
        fz_w.p = fz.blk[i].p;
        fz_run(FZ_JOB_FREE);
        fz_drop(i);
        break;
    }
    case 3:
        fz.op = "worker flush";
        fz_run(FZ_JOB_FLUSH);
        break;
    default:
        fz.op = "worker exit";
        fz_run(FZ_JOB_EXIT);
    }
}

/* ---- Driver -------------------------------------------------------------------------------*/

static void fz_setup_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    /* Mapped, not static: at large granules the buffers are larger than a program's data.
     * They start a page past a granule boundary, so that arenas round them inward. */
    char *m = mmap(NULL, FZ_SLOTS * FZ_BUF_SIZE + 2 * FZ_GRANULE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        fz_die("no memory for the buffers");
    uintptr_t g = ((uintptr_t)m + FZ_GRANULE - 1) & ~(uintptr_t)(FZ_GRANULE - 1);
    fz_buffers = (char *)g + 4096;
    if (talc_reserve_init(FZ_RESERVE, 0) != 0)
        fz_die("reserve init failed");
    talc_set_fatal_handler(fz_fatal, NULL);
    talc_arena_config_t d = talc_arena_config_default("fzdrain");
    d.stripes = 1;
    d.thread_cache = TALC_TCACHE_OFF;
    d.oom_chain[0] = TALC_OOM_STEP_ABORT;
    fz.drain = talc_arena_create(&d);
    if (!fz.drain)
        fz_die("no drain arena: errno %d", errno);
}

/* The drain (section "Calls") gave p, with the call's record left in fz.call[0]. It dropped
 * the notes that handlers which longjmped left behind if its handler ran at or above the
 * highest frame theirs had; else the next drain tries again. */
static void fz_drained(const void *p)
{
    const fz_call_t *c = &fz.call[0];
    if (p || c->nrep != 1 || c->rep[0] != fz.drain)
        fz_die("the drain gave %p with %u reports (want NULL and one)", p, c->nrep);
    if (fz.drain_frame >= fz.stale_frame) {
        fz.stale = 0;
        fz.stale_frame = 0;
    }
}

/* Free everything, destroy every arena (fallback users first), and check the process is back
 * where it started: no live block in the default arena, the reserve whole. */
static void fz_teardown(void)
{
    fz.op = "teardown";
    fz_unroute();
    fz_run(FZ_JOB_EXIT);
    while (fz.nblk) {
        fz_check_block(fz.nblk - 1);
        talc_free(fz.blk[fz.nblk - 1].p);
        fz.nblk--;
    }
    for (unsigned round = 0; round < FZ_SLOTS; round++)
        for (unsigned s = 0; s < FZ_SLOTS; s++)
            if (fz.slot[s].a && !fz_is_fallback_of_other(s))
                fz_destroy_slot(s, 0);
    for (unsigned s = 0; s < FZ_SLOTS; s++)
        if (fz.slot[s].a)
            fz_die("arena fz%u left over (fallback cycle?)", s);
    talc_thread_cache_flush();
    fz_check_all();
    talc_reserve_stats_t r;
    talc_reserve_get_stats(&r);
    if (r.held != 0)
        fz_die("reserve holds %zu bytes lent after every arena was destroyed", r.held);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_setup_once();
    fz_slot_t none[FZ_SLOTS] = {0};
    memcpy(fz.slot, none, sizeof none);
    fz.data = data;
    fz.size = size;
    fz.pos = 0;
    fz.nblk = 0;
    fz.busy = SIZE_MAX;
    fz.scopes = 0;
    fz.faults = 0;
    fz.ncalls = 0;
    fz.nuser = 0;
    fz.cb_rng = 0x9e3779b9u ^ (uint32_t)size;
    fz.routing = fz_take(1) & 1;
    for (fz.step = 0; fz.pos < fz.size && fz.step < FZ_MAX_OPS; fz.step++) {
        switch (fz_take(1) % 19) {
        case 0:
        case 1:
        case 2:
            fz_op_malloc();
            break;
        case 3:
            fz_op_calloc();
            break;
        case 4:
            fz_op_aligned();
            break;
        case 5:
        case 6:
            fz_op_free();
            break;
        case 7:
        case 8:
            fz_op_realloc();
            break;
        case 9:
        case 10:
            fz_op_create();
            break;
        case 11:
            fz_op_destroy();
            break;
        case 12:
            fz_op_route();
            break;
        case 13:
            fz_op_bad();
            break;
        case 14:
            fz_op_usable();
            break;
        case 15: {
            unsigned w = (unsigned)fz_take(1) % 3;
            w == 0 ? fz_op_flush() : w == 1 ? fz_op_write() : fz_op_trim();
            break;
        }
        case 16:
        case 17:
            fz_op_worker();
            break;
        default:
            fz_op_bad_request();
            break;
        }
        if (fz.stale) { /* a handler longjmped: the drain, called from this frame */
            fz.op = "drain";
            fz_call_open(fz.drain);
            errno = 0;
            void *p = talc_arena_malloc(fz.drain, SIZE_MAX / 2);
            fz_call_close(p, errno);
            fz_drained(p);
        }
        fz_check_all();
    }
    fz_teardown();
    return 0;
}
