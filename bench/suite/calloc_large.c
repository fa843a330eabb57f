/* calloc_large.c — what a large calloc costs: time and resident memory (bench/suite/run.sh
 * runs it under every allocator after the suite; it is not one of the suite's workloads and
 * not in its geometric mean).
 *
 *   calloc_large [MiB [rounds [touched-KiB]]]       (defaults 64, 20, 1024)
 *
 * Each round callocs a MiB-sized table, writes touched-KiB of it (one byte per 4 KiB page, as
 * a sparse table would), checks one word per page of the whole table for zero, and frees it.
 * Reading an untouched page maps the shared zero page and adds no RSS, so the peak RSS shows
 * whether the allocator wrote the table's pages itself. Prints one line:
 *   CALLOC mib=.. rounds=.. touched_kib=.. ms_per_call=.. maxrss_kib=.. malloc_from=..
 *          check=ok|bad|preload
 * and exits 1 if a checked word was not zero (bad) or malloc is not LD_PRELOAD's (preload).
 *
 * Threading rules: one thread.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "sw_origin.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 20;
    size_t touched = (argc > 3 ? strtoul(argv[3], NULL, 10) : 1024) << 10;
    size_t n = mib << 20, page = 4096, bad = 0;
    if (n == 0 || rounds == 0 || touched > n) {
        fprintf(stderr, "usage: calloc_large [MiB [rounds [touched-KiB <= MiB*1024]]]\n");
        return 2;
    }
    double in_calloc = 0;
    for (unsigned r = 0; r < rounds; r++) {
        double t0 = now_ms();
        unsigned char *p = calloc(1, n);
        in_calloc += now_ms() - t0;
        if (!p) {
            fprintf(stderr, "calloc_large: calloc(%zu MiB) failed\n", mib);
            return 1;
        }
        for (size_t i = 0; i < n; i += page)
            bad += *(volatile uint64_t *)(void *)(p + i) != 0;
        for (size_t i = 0; i < touched; i += page)
            p[i] = (unsigned char)(r + 1);
        free(p);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const char *origin = sw_malloc_origin();
    bool preloaded = sw_preload_matches(origin);
    printf("CALLOC mib=%zu rounds=%u touched_kib=%zu ms_per_call=%.4f maxrss_kib=%ld "
           "malloc_from=%s check=%s\n",
           mib, rounds, touched >> 10, in_calloc / rounds, ru.ru_maxrss, origin,
           !preloaded ? "preload"
           : bad      ? "bad"
                      : "ok");
    return bad || !preloaded ? 1 : 0;
}
