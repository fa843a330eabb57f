/* large_loop.c — one large buffer taken and given back in a loop: malloc, a write of every
 * byte, free (bench/suite/run.sh runs it under every allocator after the suite; not one of the
 * suite's workloads, not in its mean). A daemon that reads each request into a fresh 4 MiB
 * buffer does this. An allocator that maps each such block anew and unmaps it at its free pays
 * an mmap, a munmap and a page fault per 4 KiB each time; one that keeps the memory pays none.
 *
 *   large_loop [MiB [iterations]]                    (defaults 4, 200)
 *
 * Prints one line:
 *   LARGELOOP mib=.. iterations=.. us=.. faults=.. maxrss_kib=.. malloc_from=..
 * check=ok|bad|preload where us and faults are per iteration (wall time, minor page faults from
 * getrusage), and exits 1 if a block read back wrong (bad) or malloc is not LD_PRELOAD's (preload).
 *
 * Threading rules: one thread.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sw_origin.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 4;
    unsigned iters = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200;
    size_t n = mib << 20, bad = 0;
    if (n == 0 || iters == 0) {
        fprintf(stderr, "usage: large_loop [MiB [iterations]]\n");
        return 2;
    }
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now_us();
    for (unsigned i = 0; i < iters; i++) {
        unsigned char *p = malloc(n);
        if (!p) {
            fprintf(stderr, "large_loop: malloc(%zu MiB) failed\n", mib);
            return 1;
        }
        memset(p, (int)(i & 0xffu), n);
        bad += *(volatile unsigned char *)p != (i & 0xffu) ||
               *(volatile unsigned char *)(p + n - 1) != (i & 0xffu);
        free(p);
    }
    double us = (now_us() - t0) / iters;
    getrusage(RUSAGE_SELF, &r1);
    const char *origin = sw_malloc_origin();
    bool preloaded = sw_preload_matches(origin);
    printf("LARGELOOP mib=%zu iterations=%u us=%.1f faults=%.1f maxrss_kib=%ld malloc_from=%s "
           "check=%s\n",
           mib, iters, us, (double)(r1.ru_minflt - r0.ru_minflt) / iters, r1.ru_maxrss, origin,
           !preloaded ? "preload"
           : bad      ? "bad"
                      : "ok");
    return bad || !preloaded ? 1 : 0;
}
