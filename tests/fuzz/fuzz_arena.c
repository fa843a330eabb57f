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
 * during it are checked against the chains (fuzz_arena_oom.c, section "Calls"), and every
 * block a callback allocates or frees is recorded, so the model stays exact.
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
 *
 * The harness is cut into one file per concern, all behind the private fuzz_arena.h:
 *   fuzz_arena.c         this banner and the driver: set-up, the operation loop, the drain,
 *                        the teardown after each input
 *   fuzz_arena_model.c   the input's bytes, the live blocks, the checks after every operation
 *   fuzz_arena_oom.c     calls and their out-of-memory reports; the callbacks' user code
 *   fuzz_arena_ops.c     operations on blocks: allocate, free, bad pointers, bad requests,
 *                        flush, trim, stats
 *   fuzz_arena_slots.c   operations on arenas: create (its configuration), destroy, route
 *   fuzz_arena_worker.c  the second thread
 * CMake lists them as TALC_FUZZ_ARENA_SOURCES (tests/CMakeLists.txt), with common/pattern.c.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "talc/reserve.h"

#include "fuzz_arena.h"

char *fz_buffers; /* mapped once, by fz_setup_once */

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

/* The drain (fuzz_arena_oom.c, section "Calls") gave p, with the call's record left in
 * fz.call[0]. It dropped the notes that handlers which longjmped left behind if its handler ran
 * at or above the highest frame theirs had; else the next drain tries again. */
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
    fz_worker_exit();
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
