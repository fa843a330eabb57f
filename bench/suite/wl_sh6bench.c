/* wl_sh6bench.c — sh6bench-style mixed sizes: batches of varied sizes freed in varied orders
 * (modelled on the SmartHeap benchmark description in shared/reference/benchmarks.md; our
 * own code).
 *
 * Each thread repeats a unit over SH_N blocks:
 *   1. allocate SH_N blocks, sizes stepping through [8, 1 KiB) with every 64th one 16× larger;
 *   2. free every other block, first to last (FIFO order);
 *   3. allocate into those holes with the sizes in the opposite order;
 *   4. realloc every fourth block to 1.5× or 0.5× of its size (sw_realloc.h checks the move);
 *   5. free all blocks, last to first (LIFO order).
 * Every block is checked before it is freed. Score: units per second (unit=batches), summed
 * over threads.
 *
 * Threading rules: the threads share nothing but the allocator.
 */
#define _GNU_SOURCE
#include "sw_block.h"
#include "sw_harness.h"
#include "sw_realloc.h"

#include <stdlib.h>

#define SH_N 1000u
#define SH_MIN 8u
#define SH_MAX 1024u

typedef struct sh_thread {
    uint64_t key;
    unsigned phase;
    void *blk[SH_N];
} sh_thread_t;

static size_t sh_size(unsigned i)
{
    size_t s = SH_MIN + ((size_t)i * 37u) % (SH_MAX - SH_MIN);
    return i % 64u == 63u ? s * 16u : s;
}

static void *sh_new(const sh_thread_t *t, size_t size)
{
    void *p = sw_xmalloc(size);
    sw_block_fill(p, size, t->key);
    return p;
}

static void sh_release(const sh_thread_t *t, void *p)
{
    if (!sw_block_check(p, t->key))
        sw_fail("sh6bench: damaged block %p", p);
    free(p);
}

static void sh_unit(sh_thread_t *t)
{
    unsigned shift = t->phase++ % SH_N;
    for (unsigned i = 0; i < SH_N; i++)
        t->blk[i] = sh_new(t, sh_size(i + shift));
    for (unsigned i = 0; i < SH_N; i += 2)
        sh_release(t, t->blk[i]);
    for (unsigned i = 0; i < SH_N; i += 2)
        t->blk[i] = sh_new(t, sh_size(SH_N - i + shift));
    for (unsigned i = 0; i < SH_N; i += 4) {
        size_t old = sw_block_check(t->blk[i], t->key);
        size_t want = (i & 4u) ? old + old / 2 : old / 2;
        if (want < SH_MIN)
            want = SH_MIN;
        t->blk[i] = sw_realloc_checked(t->blk[i], want, t->key, "sh6bench");
    }
    for (unsigned i = SH_N; i-- > 0;)
        sh_release(t, t->blk[i]);
}

static uint64_t sh_worker(unsigned index, void *arg)
{
    (void)index;
    uint64_t units = 0;
    while (!sw_stop_requested()) {
        sh_unit(arg);
        units++;
    }
    return units;
}

int main(int argc, char **argv)
{
    sw_args_t args;
    sw_parse(argc, argv, "sh6bench", &args);
    sh_thread_t *threads[SW_MAX_THREADS];
    for (unsigned i = 0; i < args.threads; i++) {
        threads[i] = calloc(1, sizeof(sh_thread_t));
        if (!threads[i])
            return 1;
        threads[i]->key = args.seed ^ (0x5b6b0000ull + i);
        threads[i]->phase = i * 17u;
    }
    double elapsed;
    uint64_t units =
        sw_run_timed(args.threads, sh_worker, (void *const *)threads, args.seconds, &elapsed);
    for (unsigned i = 0; i < args.threads; i++)
        free(threads[i]);
    return sw_report("sh6bench", &args, units, elapsed, "batches");
}
