/* trim_rss.c — what malloc_trim gives back after a burst (bench/suite/run.sh runs it under
 * every allocator after the suite; not one of the suite's workloads, not in its mean).
 *
 *   trim_rss [MiB [keep-percent]]                    (defaults 64, 10)
 *
 * Allocates blocks of 1 B–64 KiB (uniform) until MiB of them are live, writes each in full,
 * frees all but keep-percent of them (every block kept with that probability, so the survivors
 * are scattered), then calls malloc_trim(0). Resident memory (/proc/self/statm) is read after
 * the frees and after the trim. Prints one line:
 *   TRIM mib=.. keep_pct=.. live_kib=.. rss_freed_kib=.. rss_trimmed_kib=.. trim_ms=.. ret=..
 *        malloc_from=.. check=ok|bad|preload
 * (an allocator that does not define malloc_trim gets glibc's, which trims glibc's own heap),
 * and exits 1 if a live block changed (bad) or malloc is not LD_PRELOAD's (preload).
 *
 * Threading rules: one thread.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sw_origin.h"
#include "sw_rss.h"

static uint64_t rng(uint64_t *s)
{ /* SplitMix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    size_t total = (size_t)(argc > 1 ? strtoul(argv[1], NULL, 10) : 64) << 20;
    unsigned keep = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 10;
    if (total == 0 || keep > 100) {
        fprintf(stderr, "usage: trim_rss [MiB [keep-percent <= 100]]\n");
        return 2;
    }
    size_t cap = total / 32768u * 2u + 16u, n = 0, live = 0;
    void **blocks = calloc(cap, sizeof *blocks);
    size_t *sizes = calloc(cap, sizeof *sizes);
    if (!blocks || !sizes)
        return 1;
    uint64_t seed = 42;
    for (size_t bytes = 0; bytes < total && n < cap; n++) {
        sizes[n] = 1u + (size_t)(rng(&seed) % 65536u);
        blocks[n] = malloc(sizes[n]);
        if (!blocks[n])
            return 1;
        memset(blocks[n], (int)(n & 0xffu) | 1, sizes[n]);
        bytes += sizes[n];
    }
    for (size_t i = 0; i < n; i++) {
        if (rng(&seed) % 100u < keep) {
            live += sizes[i];
        } else {
            free(blocks[i]);
            blocks[i] = NULL;
        }
    }
    size_t freed = sw_rss_kib();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int ret = malloc_trim(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t trimmed = sw_rss_kib();
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!blocks[i])
            continue;
        const unsigned char *p = blocks[i];
        bad += p[0] != ((i & 0xffu) | 1) || p[sizes[i] - 1] != ((i & 0xffu) | 1);
        free(blocks[i]);
    }
    const char *origin = sw_malloc_origin();
    bool preloaded = sw_preload_matches(origin);
    printf("TRIM mib=%zu keep_pct=%u live_kib=%zu rss_freed_kib=%zu rss_trimmed_kib=%zu "
           "trim_ms=%.3f ret=%d malloc_from=%s check=%s\n",
           total >> 20, keep, live >> 10, freed, trimmed,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6, ret,
           origin,
           !preloaded ? "preload"
           : bad      ? "bad"
                      : "ok");
    free(blocks);
    free(sizes);
    return bad || !preloaded ? 1 : 0;
}
