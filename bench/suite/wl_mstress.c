/* wl_mstress.c — mstress: mixed lifetimes and cross-thread transfers (modelled on the mstress
 * description in shared/reference/benchmarks.md; our own code).
 *
 * Each thread repeats a round of MS_ROUND allocations. Sizes are mostly small (90 % in
 * [8, 256)), some medium (9.9 % in [256, 8 KiB)) and a few large (0.1 % in [64, 512) KiB);
 * every block is written in full (memset) and then given its pattern (sw_block.h), so the
 * allocator's page-fault behaviour counts. Each new block then, at random:
 *   50 %  joins the round's batch, freed (after a check) when the round ends;
 *   25 %  replaces a random slot of the thread's retained set (MS_KEEP blocks that live
 *         across rounds), whose previous block is checked and freed;
 *   25 %  is swapped into a random slot of the process-wide transfer table (MS_TRANSFER
 *         slots); the block swapped out, often another thread's, is checked and freed here.
 * Score: rounds per second (unit=rounds), summed over threads. The main thread frees what is
 * left after the timed part.
 *
 * Threading rules: the transfer table is the only shared state; each slot is exchanged
 * atomically (acq_rel: the acquire side sees the block's contents written before the release
 * side's exchange), so every block has one holder at a time.
 */
#define _GNU_SOURCE
#include "sw_block.h"
#include "sw_harness.h"
#include "sw_rng.h"

#include <stdlib.h>
#include <string.h>

#define MS_ROUND 200u
#define MS_KEEP 500u
#define MS_TRANSFER 1000u

typedef struct ms_thread {
    sw_rng_t rng;
    void *keep[MS_KEEP];
    void *batch[MS_ROUND];
} ms_thread_t;

static _Atomic(void *) ms_transfer[MS_TRANSFER];
static uint64_t ms_key;

static size_t ms_size(sw_rng_t *rng)
{
    size_t r = sw_rng_below(rng, 10000);
    if (r < 9000)
        return sw_rng_range(rng, 8, 256);
    if (r < 9990)
        return sw_rng_range(rng, 256, 8192);
    return sw_rng_range(rng, 64 * 1024, 512 * 1024);
}

static void ms_release(void *p)
{
    if (!p)
        return;
    if (!sw_block_check(p, ms_key))
        sw_fail("mstress: damaged block %p", p);
    free(p);
}

static void *ms_new_block(sw_rng_t *rng)
{
    size_t size = ms_size(rng);
    void *p = sw_xmalloc(size);
    memset(p, (int)(size & 0xffu), size);
    sw_block_fill(p, size, ms_key);
    return p;
}

static void ms_round(ms_thread_t *t)
{
    unsigned nbatch = 0;
    for (unsigned i = 0; i < MS_ROUND; i++) {
        void *p = ms_new_block(&t->rng);
        size_t r = sw_rng_below(&t->rng, 4);
        if (r < 2) {
            t->batch[nbatch++] = p;
        } else if (r == 2) {
            size_t k = sw_rng_below(&t->rng, MS_KEEP);
            ms_release(t->keep[k]);
            t->keep[k] = p;
        } else {
            size_t k = sw_rng_below(&t->rng, MS_TRANSFER);
            ms_release(atomic_exchange_explicit(&ms_transfer[k], p, memory_order_acq_rel));
        }
    }
    while (nbatch)
        ms_release(t->batch[--nbatch]);
}

static uint64_t ms_worker(unsigned index, void *arg)
{
    (void)index;
    uint64_t rounds = 0;
    while (!sw_stop_requested()) {
        ms_round(arg);
        rounds++;
    }
    return rounds;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "mstress", &args);
    ms_key = args.seed * 0x9E3779B97F4A7C15ull;
    ms_thread_t *threads[SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        threads[i] = calloc(1, sizeof(ms_thread_t));
        if (!threads[i])
            return 1;
        threads[i]->rng = sw_rng_seed(args.seed, i, 0);
    }
    double elapsed;
    uint64_t rounds =
        sw_run_timed(args.threads, ms_worker, (void *const *)threads, args.seconds, &elapsed);
    for (unsigned i = 0; i < args.threads; i++) {
        for (unsigned k = 0; k < MS_KEEP; k++)
            ms_release(threads[i]->keep[k]);
        free(threads[i]);
    }
    for (unsigned k = 0; k < MS_TRANSFER; k++)
        ms_release(atomic_load(&ms_transfer[k]));
    return sw_report("mstress", &args, rounds, elapsed, "rounds");
}
