/* unmap_stall.c — how long a free that unmaps a segment keeps another thread of the same
 * stripe waiting.
 *
 *   unmap_stall [mib [rounds]]                       (defaults 64, 20)
 *
 * One arena with one stripe. A worker thread (stall_worker.h) allocates and frees 64 bytes in a
 * loop and records the longest time between two of its iterations. Meanwhile the main thread,
 * `rounds` times: allocates one block of `mib` MiB (a segment of its own), writes every page of
 * it, frees it (the free gives the segment back to the OS: one munmap of `mib` MiB of resident
 * memory), and sleeps 20 ms so that the worker's gaps stand apart. The big block's segment
 * may have room left after it, where the worker's blocks would go, and then the worker's free
 * would empty it and unmap it itself. So the worker pauses while the main thread allocates
 * the big block and fills that room with 64-byte blocks (`fill`, freed after the big block:
 * the last of those frees is the one that unmaps; the line's time is all of them). Prints
 * one line per round and one for the worker, with its longest gap that overlapped one of
 * those frees and its longest other gap (the machine's own noise):
 *   FREE i=.. fill=.. ms=..
 *   STALL during_free_worst_ms=.. other_worst_ms=.. iterations=..
 * Not part of `make bench`: docs/arenas.md, "System calls under locks", has its figures and the
 * command.
 *
 * Threading rules: two threads; the worker's figures are read after it is joined.
 */
#define _GNU_SOURCE
#include <string.h>

#include "stall_worker.h"

enum { US_FILL_MAX = 1u << 16 };
static void *us_fill[US_FILL_MAX];

/* With the worker paused: a block of n bytes, and in fill[] (*nfill of them) the 64-byte
 * blocks that took the room left in its segment (those placed within 128 KiB past its end:
 * the segment is rounded up to a 64 KiB granule). */
static char *us_big(size_t n, void **fill, size_t *nfill)
{
    sw_pause();
    char *big = talc_arena_malloc(sw_arena, n);
    while (big && *nfill < US_FILL_MAX) {
        char *p = talc_arena_malloc(sw_arena, 64);
        if (!p || p < big || p >= big + n + (128u << 10)) {
            talc_free(p);
            break;
        }
        fill[(*nfill)++] = p;
    }
    sw_resume();
    return big;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    talc_arena_t *a = sw_arena_one_stripe("unmap-stall");
    if (!a || mib == 0 || !sw_start(a))
        return 1;
    for (int i = 0; i < rounds; i++) {
        size_t nfill = 0;
        char *big = us_big(mib << 20, us_fill, &nfill);
        if (!big)
            return 1;
        memset(big, 1, mib << 20);
        double t0 = sw_now();
        sw_mark();
        talc_free(big);
        for (size_t k = 0; k < nfill; k++)
            talc_free(us_fill[k]);
        sw_mark();
        printf("FREE i=%d fill=%zu ms=%.2f\n", i, nfill, (sw_now() - t0) * 1e3);
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    sw_stop("free");
    return talc_arena_destroy(a, 0) == 0 ? 0 : 1;
}
