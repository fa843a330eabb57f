/* realloc_stall.c — how long a realloc that moves a large block inside its stripe keeps
 * another thread of the same stripe waiting.
 *
 *   realloc_stall [kib [rounds]]                     (defaults 400, 20)
 *
 * One arena with one stripe, whose first segment (1 MiB) has room for the block twice over
 * but not in place. A worker thread (stall_worker.h) allocates and frees 64 bytes in a loop.
 * The main thread, `rounds` times, with the worker paused: allocates a block of `kib` KiB and
 * a small one right after it (so that it cannot grow in place), writes every page of the
 * block, and trims the arena (the free pages after it go back, so the move writes to fresh
 * pages, a page fault each, as a move into memory not used before does); then, with the
 * worker running, reallocs the block to 1.4 times its size (a move inside the stripe's heap:
 * a copy of the block) and sleeps 20 ms. Prints one line per round and the worker's line:
 *   REALLOC i=.. moved=.. ms=..
 *   STALL during_realloc_worst_ms=.. other_worst_ms=.. iterations=..
 * Not part of `make bench`: docs/arenas.md, "System calls under locks", has its figures and the
 * command.
 *
 * Threading rules: two threads; the worker's figures are read after it is joined.
 */
#define _GNU_SOURCE
#include <string.h>

#include "stall_worker.h"

int main(int argc, char **argv)
{
    size_t n = (argc > 1 ? strtoul(argv[1], NULL, 10) : 400) << 10;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    talc_arena_t *a = sw_arena_one_stripe("realloc-stall");
    if (!a || n == 0 || !sw_start(a))
        return 1;
    for (int i = 0; i < rounds; i++) {
        sw_pause();
        char *p = talc_arena_malloc(a, n), *pin = talc_arena_malloc(a, 64);
        if (!p || !pin)
            return 1;
        memset(p, 1, n);
        (void)talc_arena_trim(a);
        sw_resume();
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
        double t0 = sw_now();
        sw_mark();
        char *q = talc_arena_realloc(a, p, n / 5 * 7);
        sw_mark();
        if (!q)
            return 1;
        printf("REALLOC i=%d moved=%d ms=%.3f\n", i, q != p, (sw_now() - t0) * 1e3);
        sw_pause();
        talc_free(q);
        talc_free(pin);
        sw_resume();
    }
    sw_stop("realloc");
    return talc_arena_destroy(a, 0) == 0 ? 0 : 1;
}
