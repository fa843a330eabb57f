/* wl_cache_thrash.c — cache-thrash: active false sharing (modelled on the cache-thrash
 * description in shared/reference/benchmarks.md; our own code).
 *
 * Each thread repeats a unit: malloc its own CT_SIZE-byte object, write every byte CT_WRITES
 * times (sw_hammer.h), check it, free it. An allocator that serves concurrent threads from
 * one cache line (one shared heap handing out neighbouring small blocks) makes the line
 * bounce between the cores on every write. Score: units per second (unit=objects), summed
 * over threads; with no false sharing 2 threads do twice the work of 1 on 2 idle cores.
 *
 * Threading rules: the threads share nothing but the allocator.
 */
#define _GNU_SOURCE
#include "sw_hammer.h"
#include "sw_harness.h"

#include <stdlib.h>

#define CT_SIZE 8u
#define CT_WRITES 1000u

static uint64_t ct_worker(unsigned index, void *arg)
{
    (void)index;
    (void)arg;
    uint64_t units = 0;
    while (!sw_stop_requested()) {
        void *p = sw_xmalloc(CT_SIZE);
        if (!sw_hammer(p, CT_SIZE, CT_WRITES))
            sw_fail("cache-thrash: object %p damaged", p);
        free(p);
        units++;
    }
    return units;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "cache-thrash", &args);
    void *none[SW_MAX_THREADS] = {0};
    double elapsed;
    uint64_t units = sw_run_timed(args.threads, ct_worker, none, args.seconds, &elapsed);
    return sw_report("cache-thrash", &args, units, elapsed, "objects");
}
