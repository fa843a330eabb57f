/* realloc_grow.c — what growing one buffer with realloc in small steps costs: time, moves and
 * resident memory (bench/suite/run.sh runs it under every allocator after the suite; not one
 * of the suite's workloads, not in its mean).
 *
 *   realloc_grow [MiB [step-KiB [rounds]]]           (defaults 64, 64, 3)
 *
 * Each round mallocs step-KiB, then reallocs the buffer to 2, 3, ... steps up to MiB (the last
 * size MiB itself if it is not a whole number of steps), writing the last byte of each new
 * size with a pattern of the size and the round; a log, a string builder or a vector that
 * grows by appends does this. At the end of the round every written byte is checked (realloc
 * must keep the contents) and the buffer is freed. A call that returns another pointer than it
 * was given is a move: an allocator that cannot grow a large block where it is (or move its
 * pages, as glibc's mremap does) copies it, and the round's time grows with the square of the
 * buffer. The time of a round runs from the malloc to the last realloc's return (the writes
 * included, the check and the free not). Prints one line:
 *   REALLOC mib=.. step_kib=.. rounds=.. calls=.. moves=.. ms=.. maxrss_kib=.. malloc_from=..
 *           check=ok|bad|preload
 * where calls is the reallocs per round, moves and ms the median over the rounds of the moves
 * and of the milliseconds per round, and exits 1 if a written byte changed (bad) or malloc is
 * not LD_PRELOAD's (preload).
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

/* The byte written at the end of the k-th size of round r. */
static unsigned char pattern(size_t k, unsigned r)
{
    return (unsigned char)(k * 131u + r * 29u + 1u);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    size_t step = (argc > 2 ? strtoul(argv[2], NULL, 10) : 64) << 10;
    unsigned rounds = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 3;
    size_t n = mib << 20, bad = 0, calls = 0;
    if (n == 0 || step == 0 || step > n || rounds == 0) {
        fprintf(stderr, "usage: realloc_grow [MiB [step-KiB <= MiB*1024 [rounds]]]\n");
        return 2;
    }
    double *ms = calloc(rounds, sizeof *ms);
    size_t *moves = calloc(rounds, sizeof *moves);
    if (!ms || !moves)
        return 1;
    for (unsigned r = 0; r < rounds; r++) {
        double t0 = now_ms();
        size_t size = step, k = 0;
        unsigned char *p = malloc(size);
        if (!p) {
            fprintf(stderr, "realloc_grow: malloc(%zu KiB) failed\n", step >> 10);
            return 1;
        }
        p[size - 1] = pattern(k, r);
        calls = 0;
        while (size < n) {
            size = n - size > step ? size + step : n;
            uintptr_t was = (uintptr_t)p;
            unsigned char *q = realloc(p, size);
            if (!q) {
                fprintf(stderr, "realloc_grow: realloc(%zu KiB) failed\n", size >> 10);
                return 1;
            }
            calls++;
            moves[r] += (uintptr_t)q != was;
            p = q;
            q[size - 1] = pattern(++k, r);
        }
        ms[r] = now_ms() - t0;
        size = step;
        for (size_t i = 0; i <= k; i++) {
            bad += *(volatile unsigned char *)(p + size - 1) != pattern(i, r);
            size = n - size > step ? size + step : n;
        }
        free(p);
    }
    qsort(ms, rounds, sizeof *ms, cmp_double);
    qsort(moves, rounds, sizeof *moves, cmp_size);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const char *origin = sw_malloc_origin();
    bool preloaded = sw_preload_matches(origin);
    printf("REALLOC mib=%zu step_kib=%zu rounds=%u calls=%zu moves=%zu ms=%.3f maxrss_kib=%ld "
           "malloc_from=%s check=%s\n",
           mib, step >> 10, rounds, calls, moves[(rounds - 1) / 2], ms[(rounds - 1) / 2],
           ru.ru_maxrss, origin,
           !preloaded ? "preload"
           : bad      ? "bad"
                      : "ok");
    free(ms);
    free(moves);
    return bad || !preloaded ? 1 : 0;
}
