/* wl_glibc_thread.c — glibc-thread: the fast path, counted in fixed time (modelled on the
 * description of glibc's bench-malloc-thread in shared/reference/benchmarks.md; our own code).
 *
 * Each thread keeps a working set of GT_SLOTS pointers (initially empty) and loops: pick a
 * random slot, free its block (after checking it), malloc a new one of a small size in
 * [8, GT_MAX) biased small, write its pattern. Score: iterations per second (unit=ops), summed
 * over threads.
 *
 * Threading rules: the threads share nothing but the allocator.
 */
#define _GNU_SOURCE
#include "sw_block.h"
#include "sw_harness.h"
#include "sw_rng.h"

#include <stdlib.h>

#define GT_SLOTS 1024u
#define GT_MAX 512u

typedef struct gt_thread {
    sw_rng_t rng;
    uint64_t key;
    void *slot[GT_SLOTS];
} gt_thread_t;

static uint64_t gt_worker(unsigned index, void *arg)
{
    (void)index;
    gt_thread_t *t = arg;
    uint64_t ops = 0;
    for (;;) {
        if ((ops & 255u) == 0 && sw_stop_requested())
            break;
        size_t k = sw_rng_below(&t->rng, GT_SLOTS);
        void *old = t->slot[k];
        if (old && !sw_block_check(old, t->key))
            sw_fail("glibc-thread: damaged block %p", old);
        free(old);
        size_t size = sw_rng_small(&t->rng, 8, GT_MAX);
        void *p = sw_xmalloc(size);
        sw_block_fill(p, size, t->key);
        t->slot[k] = p;
        ops++;
    }
    return ops;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "glibc-thread", &args);
    gt_thread_t *threads[SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        threads[i] = calloc(1, sizeof(gt_thread_t));
        if (!threads[i])
            return 1;
        threads[i]->rng = sw_rng_seed(args.seed, i, 0);
        threads[i]->key = args.seed ^ (0x61bc0000ull + i);
    }
    double elapsed;
    uint64_t ops =
        sw_run_timed(args.threads, gt_worker, (void *const *)threads, args.seconds, &elapsed);
    for (unsigned i = 0; i < args.threads; i++) {
        for (unsigned k = 0; k < GT_SLOTS; k++) {
            void *p = threads[i]->slot[k];
            if (p && !sw_block_check(p, threads[i]->key))
                sw_fail("glibc-thread: damaged block");
            free(p);
        }
        free(threads[i]);
    }
    return sw_report("glibc-thread", &args, ops, elapsed, "ops");
}
