/* wl_cache_scratch.c — cache-scratch: passive false sharing (modelled on the cache-scratch
 * description in shared/reference/benchmarks.md; our own code).
 *
 * The main thread allocates one CS_SIZE-byte object per thread, back to back (so neighbours
 * likely share a cache line), and hands object i to thread i. Each thread frees its object,
 * then repeats a unit: malloc an object of the same size, write every byte CS_WRITES times
 * (sw_hammer.h), check it, free it. An allocator that gives a thread the block it just freed
 * (whose cache-line neighbour belongs to another thread) makes the threads fight over that
 * line. Score: units per second (unit=objects), summed over threads; with no false sharing
 * 2 threads do twice the work of 1 on 2 idle cores.
 *
 * Threading rules: object i is touched by the main thread before sw_run_timed's start
 * barrier and by thread i after it; nothing else is shared.
 */
#define _GNU_SOURCE
#include "sw_hammer.h"
#include "sw_harness.h"

#include <stdlib.h>

#define CS_SIZE 8u
#define CS_WRITES 1000u

static uint64_t cs_worker(unsigned index, void *arg)
{
    (void)index;
    free(arg); /* the main thread's object: the passive part */
    uint64_t units = 0;
    while (!sw_stop_requested()) {
        void *p = sw_xmalloc(CS_SIZE);
        if (!sw_hammer(p, CS_SIZE, CS_WRITES))
            sw_fail("cache-scratch: object %p damaged", p);
        free(p);
        units++;
    }
    return units;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "cache-scratch", &args);
    void *objs[SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        objs[i] = sw_xmalloc(CS_SIZE);
        if (!sw_hammer(objs[i], CS_SIZE, 1))
            sw_fail("cache-scratch: object %p damaged", objs[i]);
    }
    double elapsed;
    uint64_t units = sw_run_timed(args.threads, cs_worker, objs, args.seconds, &elapsed);
    return sw_report("cache-scratch", &args, units, elapsed, "objects");
}
