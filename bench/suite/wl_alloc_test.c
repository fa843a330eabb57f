/* wl_alloc_test.c — alloc-test: random churn of sizes up to a few KiB (modelled on the
 * alloc-test description in shared/reference/benchmarks.md; our own code).
 *
 * Each thread keeps AT_SLOTS slots of long-lived blocks and repeats a unit: allocate a batch
 * of AT_BATCH blocks of sizes in [8, 4 KiB) biased small (sw_rng_small), fill them; replace
 * AT_BATCH random long-lived slots (check + free the old block, allocate a new one); then free
 * the batch in a random order (a shuffled index). Every block is checked before it is freed.
 * Score: units per second (unit=batches), summed over threads.
 *
 * Threading rules: the threads share nothing but the allocator.
 */
#define _GNU_SOURCE
#include "sw_block.h"
#include "sw_harness.h"
#include "sw_rng.h"

#include <stdlib.h>

#define AT_SLOTS 4096u
#define AT_BATCH 256u
#define AT_MAX 4096u

typedef struct at_thread {
    sw_rng_t rng;
    uint64_t key;
    void *slot[AT_SLOTS];
    void *batch[AT_BATCH];
    unsigned order[AT_BATCH];
} at_thread_t;

static void *at_new(at_thread_t *t)
{
    size_t size = sw_rng_small(&t->rng, 8, AT_MAX);
    void *p = sw_xmalloc(size);
    sw_block_fill(p, size, t->key);
    return p;
}

static void at_release(at_thread_t *t, void *p)
{
    if (!p)
        return;
    if (!sw_block_check(p, t->key))
        sw_fail("alloc-test: damaged block %p", p);
    free(p);
}

static void at_unit(at_thread_t *t)
{
    for (unsigned i = 0; i < AT_BATCH; i++) {
        t->batch[i] = at_new(t);
        t->order[i] = i;
    }
    for (unsigned i = 0; i < AT_BATCH; i++) {
        size_t k = sw_rng_below(&t->rng, AT_SLOTS);
        at_release(t, t->slot[k]);
        t->slot[k] = at_new(t);
    }
    for (unsigned i = AT_BATCH - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = sw_rng_below(&t->rng, i + 1);
        unsigned tmp = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = tmp;
    }
    for (unsigned i = 0; i < AT_BATCH; i++)
        at_release(t, t->batch[t->order[i]]);
}

static uint64_t at_worker(unsigned index, void *arg)
{
    (void)index;
    uint64_t units = 0;
    while (!sw_stop_requested()) {
        at_unit(arg);
        units++;
    }
    return units;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "alloc-test", &args);
    at_thread_t *threads[SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        threads[i] = calloc(1, sizeof(at_thread_t));
        if (!threads[i])
            return 1;
        threads[i]->rng = sw_rng_seed(args.seed, i, 0);
        threads[i]->key = args.seed ^ (0xa110c000ull + i);
    }
    double elapsed;
    uint64_t units =
        sw_run_timed(args.threads, at_worker, (void *const *)threads, args.seconds, &elapsed);
    for (unsigned i = 0; i < args.threads; i++) {
        for (unsigned k = 0; k < AT_SLOTS; k++)
            at_release(threads[i], threads[i]->slot[k]);
        free(threads[i]);
    }
    return sw_report("alloc-test", &args, units, elapsed, "batches");
}
