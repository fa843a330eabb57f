/* trim_stall.c — how long talc_arena_trim keeps another thread of the same stripe waiting.
 *
 *   trim_stall [chunks [trims]]                      (defaults 100000, 3)
 *
 * One arena with one stripe. The main thread fragments it: `chunks` blocks of 8 KiB, each
 * followed by a 32-byte block that stays, every page of the 8 KiB blocks written; then it
 * frees the 8 KiB blocks (free chunks of two whole pages each, which a trim decommits). A
 * worker thread (stall_worker.h) then allocates and frees 64 bytes in a loop and records the
 * longest time between two of its iterations, while the main thread calls talc_arena_trim
 * `trims` times. Prints one line per trim and one for the worker, with its longest gap during
 * the trims and its longest other gap (the machine's own noise):
 *   TRIM i=.. bytes=.. ms=..
 *   STALL during_trim_worst_ms=.. other_worst_ms=.. iterations=..
 * Not part of `make bench`: docs/arenas.md, "Trimming", has its figures and the command.
 *
 * Threading rules: two threads; the worker's figures are read after it is joined.
 */
#define _GNU_SOURCE
#include <string.h>

#include "stall_worker.h"

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int trims = argc > 2 ? atoi(argv[2]) : 3;
    talc_arena_t *a = sw_arena_one_stripe("trim-stall");
    void **big = calloc(n, sizeof *big), **pin = calloc(n, sizeof *pin);
    if (!a || !big || !pin)
        return 1;
    for (size_t i = 0; i < n; i++) {
        big[i] = talc_arena_malloc(a, 8192);
        pin[i] = talc_arena_malloc(a, 32);
        if (!big[i] || !pin[i])
            return 1;
        memset(big[i], 1, 8192);
    }
    for (size_t i = 0; i < n; i++)
        talc_free(big[i]);
    if (!sw_start(a))
        return 1;
    for (int i = 0; i < trims; i++) {
        double t0 = sw_now();
        sw_mark();
        size_t bytes = talc_arena_trim(a);
        sw_mark();
        printf("TRIM i=%d bytes=%zu ms=%.2f\n", i, bytes, (sw_now() - t0) * 1e3);
    }
    sw_stop("trim");
    for (size_t i = 0; i < n; i++)
        talc_free(pin[i]);
    free(big);
    free(pin);
    return talc_arena_destroy(a, 0) == 0 ? 0 : 1;
}
