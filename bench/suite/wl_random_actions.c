/* wl_random_actions.c — Talc's random actions through malloc/realloc/free (the action mix of
 * Rust Talc's benches/random_actions.rs as described in shared/reference/talc-algorithm.md and
 * bench/README.md; our own code), on 1, 2 or 4 threads at once.
 *
 * Each thread holds its own live blocks and repeats an action drawn uniform over 0..=6:
 *   6      realloc a random live block to uniform[1, 3·RA_MAX) bytes;
 *   < 3, or fewer than RA_MIN_LIVE blocks live: malloc Talc's generated size (cap =
 *          uniform[16, RA_MAX), size = uniform[4, cap));
 *   else   free a random live block.
 * Sizes below SW_BLOCK_MIN are raised to it (so every block carries its pattern, sw_block.h);
 * Talc's random alignments are not used (this is malloc). Score: actions per second
 * (unit=ops), summed over threads. RA_MAX is 1000.
 *
 * Threading rules: the threads share nothing but the allocator.
 */
#define _GNU_SOURCE
#include "sw_block.h"
#include "sw_harness.h"
#include "sw_realloc.h"
#include "sw_rng.h"

#include <stdlib.h>

#define RA_MAX 1000u
#define RA_MIN_LIVE 300u
#define RA_CAP 65536u

typedef struct ra_thread {
    sw_rng_t rng;
    uint64_t key;
    size_t live;
    void *blk[RA_CAP];
} ra_thread_t;

static size_t ra_clamp(size_t size) { return size < SW_BLOCK_MIN ? SW_BLOCK_MIN : size; }

static void ra_free_one(ra_thread_t *t)
{
    size_t k = sw_rng_below(&t->rng, t->live);
    void *p = t->blk[k];
    if (!sw_block_check(p, t->key))
        sw_fail("random-actions: damaged block %p", p);
    free(p);
    t->blk[k] = t->blk[--t->live];
}

static void ra_action(ra_thread_t *t)
{
    size_t a = sw_rng_below(&t->rng, 7);
    if (a == 6 && t->live) {
        size_t k = sw_rng_below(&t->rng, t->live);
        size_t size = ra_clamp(sw_rng_range(&t->rng, 1, 3 * RA_MAX));
        t->blk[k] = sw_realloc_checked(t->blk[k], size, t->key, "random-actions");
    } else if ((a < 3 || t->live < RA_MIN_LIVE) && t->live < RA_CAP) {
        size_t cap = sw_rng_range(&t->rng, 16, RA_MAX);
        size_t size = ra_clamp(sw_rng_range(&t->rng, 4, cap));
        void *p = sw_xmalloc(size);
        sw_block_fill(p, size, t->key);
        t->blk[t->live++] = p;
    } else {
        ra_free_one(t);
    }
}

static uint64_t ra_worker(unsigned index, void *arg)
{
    (void)index;
    uint64_t ops = 0;
    for (;;) {
        if ((ops & 127u) == 0 && sw_stop_requested())
            break;
        ra_action(arg);
        ops++;
    }
    return ops;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "random-actions", &args);
    ra_thread_t *threads[SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        threads[i] = calloc(1, sizeof(ra_thread_t));
        if (!threads[i])
            return 1;
        threads[i]->rng = sw_rng_seed(args.seed, i, 0);
        threads[i]->key = args.seed ^ (0x7a1c0000ull + i);
    }
    double elapsed;
    uint64_t ops =
        sw_run_timed(args.threads, ra_worker, (void *const *)threads, args.seconds, &elapsed);
    for (unsigned i = 0; i < args.threads; i++) {
        while (threads[i]->live)
            ra_free_one(threads[i]);
        free(threads[i]);
    }
    return sw_report("random-actions", &args, ops, elapsed, "ops");
}
