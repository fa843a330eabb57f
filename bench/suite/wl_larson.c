/* wl_larson.c — larson: a server simulation with blocks freed by threads that did not
 * allocate them (modelled on Larson & Krishnan's benchmark as described in
 * shared/reference/benchmarks.md; our own code).
 *
 * Each of the -t lanes owns an array of LARSON_BLOCKS blocks of random size in
 * [LARSON_MIN, LARSON_MAX], allocated up front by the main thread. The lane's work runs in
 * generations: a fresh thread takes the array over, replaces LARSON_GEN_OPS random slots
 * (check + free the old block, malloc + fill a new one) and exits; the next generation's new
 * thread frees what the previous one allocated. Score: replacements per second (unit=ops),
 * summed over lanes. Every block is checked (sw_block.h) before it is freed.
 *
 * Threading rules: a lane's array belongs to one generation thread at a time; the lane's
 * coordinator (a sw_run_timed worker) creates each generation thread and joins it before
 * starting the next, which orders the hand-over. Lanes share nothing.
 */
#define _GNU_SOURCE
#include "sw_block.h"
#include "sw_harness.h"
#include "sw_rng.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define LARSON_BLOCKS 5000u
#define LARSON_MIN 8u
#define LARSON_MAX 1000u
#define LARSON_GEN_OPS 20000u

typedef struct larson_lane {
    void *blocks[LARSON_BLOCKS];
    uint64_t key;
    sw_rng_t rng;
    uint64_t ops;
    uint64_t generation;
    uint64_t seed;
} larson_lane_t;

static void *larson_new_block(larson_lane_t *lane)
{
    size_t size = sw_rng_range(&lane->rng, LARSON_MIN, LARSON_MAX + 1);
    void *p = sw_xmalloc(size);
    sw_block_fill(p, size, lane->key);
    return p;
}

static void larson_free_block(larson_lane_t *lane, void *p)
{
    if (!sw_block_check(p, lane->key))
        sw_fail("larson: damaged block %p", p);
    free(p);
}

/* One generation: runs on its own thread. */
static void *larson_generation(void *p)
{
    larson_lane_t *lane = p;
    lane->rng = sw_rng_seed(lane->seed, lane->key, ++lane->generation);
    for (unsigned i = 0; i < LARSON_GEN_OPS; i++) {
        if ((i & 63u) == 0 && sw_stop_requested())
            break;
        size_t slot = sw_rng_below(&lane->rng, LARSON_BLOCKS);
        larson_free_block(lane, lane->blocks[slot]);
        lane->blocks[slot] = larson_new_block(lane);
        lane->ops++;
    }
    return NULL;
}

static uint64_t larson_lane_run(unsigned index, void *arg)
{
    (void)index;
    larson_lane_t *lane = arg;
    while (!sw_stop_requested()) {
        pthread_t t;
        if (pthread_create(&t, NULL, larson_generation, lane) != 0) {
            perror("pthread_create");
            exit(1);
        }
        pthread_join(t, NULL);
    }
    return lane->ops;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "larson", &args);
    larson_lane_t *lanes[SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        larson_lane_t *lane = sw_xmalloc(sizeof *lane);
        *lane = (larson_lane_t){.key = 0x1a250000u + i, .seed = args.seed};
        lane->rng = sw_rng_seed(args.seed, lane->key, 0);
        for (unsigned b = 0; b < LARSON_BLOCKS; b++)
            lane->blocks[b] = larson_new_block(lane);
        lanes[i] = lane;
    }
    double elapsed;
    uint64_t ops =
        sw_run_timed(args.threads, larson_lane_run, (void *const *)lanes, args.seconds, &elapsed);
    for (unsigned i = 0; i < args.threads; i++) {
        for (unsigned b = 0; b < LARSON_BLOCKS; b++)
            larson_free_block(lanes[i], lanes[i]->blocks[b]);
        free(lanes[i]);
    }
    return sw_report("larson", &args, ops, elapsed, "ops");
}
