/* shrink_stall.c — how long a realloc that shrinks a large block in place, and gives its tail's
 * pages back, keeps another thread of the large stripe waiting.
 *
 *   shrink_stall [mib [rounds]]                      (defaults 512, 10)
 *
 * One arena with one stripe (and its large stripe). A worker thread (stall_worker.h) allocates
 * and frees TALC_LARGE_MIN-sized blocks (256 KiB: the large stripe's) in a loop. The main
 * thread, `rounds` times, with the worker paused: allocates a block of `mib` MiB and writes
 * every page of it; then, with the worker running, reallocs the block to 1 MiB (in place: the
 * pages past 1 MiB go back with one madvise), frees it and sleeps 20 ms. Prints one line per
 * round and the worker's line:
 *   SHRINK i=.. in_place=.. ms=..
 *   STALL during_shrink_worst_ms=.. other_worst_ms=.. iterations=..
 * Not part of `make bench`: docs/arenas.md, "Stripes and dispatch", has its figures and the
 * command.
 *
 * Threading rules: two threads; the worker's figures are read after it is joined.
 */
#define _GNU_SOURCE
#include <string.h>

#include "stall_worker.h"

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    talc_arena_t *a = sw_arena_one_stripe("shrink-stall");
    sw_op_size = (size_t)256 << 10;
    if (!a || mib < 2 || !sw_start(a))
        return 1;
    for (int i = 0; i < rounds; i++) {
        sw_pause();
        char *p = talc_arena_malloc(a, mib << 20);
        if (!p)
            return 1;
        memset(p, 1, mib << 20);
        sw_resume();
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
        double t0 = sw_now();
        sw_mark();
        char *q = talc_arena_realloc(a, p, (size_t)1 << 20);
        sw_mark();
        double ms = (sw_now() - t0) * 1e3;
        if (!q)
            return 1;
        printf("SHRINK i=%d in_place=%d ms=%.2f\n", i, q == p, ms);
        talc_free(q);
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    sw_stop("shrink");
    return talc_arena_destroy(a, 0) == 0 ? 0 : 1;
}
