/* tests/fuzz/fuzz_heap.c — libFuzzer harness for the heap engine.
 *
 * The input is decoded by the shadow model's operation language (tests/common/shadow_step.c):
 * alloc, aligned alloc, free, realloc, resize in place, claim, extend, truncate, release and
 * invalid requests over several caller buffers. After every operation the model checks
 * talc_heap_check, the counters, the walk, alignment, overlap and block contents; any
 * disagreement prints the reason and aborts (libFuzzer saves the input as a crash).
 *
 * Input layout: byte 0 = heap mode (bits 0-1: normal / 64 / 128 / host cache line;
 * bit 2: OOM hook that claims fresh buffers; bit 3: shrink_in_place; bit 4: the locked form;
 * bit 5: bad-pointer steps), bytes 1-2 = the heap's init size as the footprint (of the
 * locked heap in the locked form) + n * 256 (n mod 1024; n = 0 gives a heap without a first
 * span), then
 * operations until the input runs out. Memory is bounded: at most 16 caller buffers of 64 KiB
 * plus the first span.
 *
 * Build and run: see tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "talc/platform.h"

/* One translation unit: the shared model is compiled in, so the harness builds with a single
 * clang command (README.md) as well as through talc_fuzz_test(). Every file of the model
 * (tests/common/shadow.c lists them), as TALC_SHADOW_SOURCES in tests/CMakeLists.txt. */
#include "../common/pattern.c"
#include "../common/shadow.c"
#include "../common/shadow_calls.c"
#include "../common/shadow_model.c"
#include "../common/shadow_op_block.c"
#include "../common/shadow_op_refuse.c"
#include "../common/shadow_op_span.c"
#include "../common/shadow_step.c"
#include "../common/shadow_verify.c"

typedef struct fuzz_src {
    const uint8_t *data;
    size_t size, pos;
} fuzz_src_t;

static uint64_t fuzz_take(void *ctx, unsigned nbytes)
{
    fuzz_src_t *f = ctx;
    uint64_t v = 0;
    for (unsigned i = 0; i < nbytes && f->pos < f->size; i++)
        v |= (uint64_t)f->data[f->pos++] << (8 * i);
    return v;
}

static bool fuzz_done(void *ctx)
{
    const fuzz_src_t *f = ctx;
    return f->pos >= f->size;
}

static void fuzz_die(shadow_t *s)
{
    fprintf(stderr, "fuzz_heap: model disagrees with the engine: %s\n", s->err);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_src_t f = {data, size, 0};
    shadow_src_t src = {fuzz_take, fuzz_done, &f};
    unsigned mode = (unsigned)fuzz_take(&f, 1);
    static const size_t lines[4] = {0, 64, 128, 0};
    shadow_config_t cfg = {0};
    cfg.cache_line = (mode & 3) == 3 ? talc_cache_line_size() : lines[mode & 3];
    cfg.oom_hook = (mode & 4) != 0;
    cfg.shrink_in_place = (mode & 8) != 0;
    cfg.locked = (mode & 16) != 0;
    cfg.bad_pointers = (mode & 32) != 0;
    cfg.corrupt = (mode & 64) != 0;
    size_t footprint = cfg.locked ? talc_locked_heap_footprint() : talc_heap_footprint();
    cfg.first_size = footprint + (size_t)(fuzz_take(&f, 2) % 1024) * 256;
    cfg.first_room = 64 * 1024;
    cfg.slot_size = 64 * 1024;
    cfg.live_cap = 512 * 1024;
    cfg.max_blocks = 256;
    cfg.max_size = 48 * 1024;

    /* Buffers reused across inputs (allocation per input would dominate the run time). */
    static unsigned char *mem, *pool;
    const size_t two_mib = (size_t)2 << 20;
    if (!mem) {
        mem = aligned_alloc(two_mib, two_mib);
        pool = aligned_alloc(two_mib,
                             (SHADOW_MAX_SPANS * cfg.slot_size + two_mib - 1) & ~(two_mib - 1));
        if (!mem || !pool)
            abort();
    }
    cfg.mem_buf = mem;
    cfg.pool_buf = pool;

    static shadow_t s;
    if (shadow_init(&s, &cfg) != 0)
        fuzz_die(&s);
    while (!fuzz_done(&f) && !s.corrupted)
        if (shadow_step(&s, &src) != 0)
            fuzz_die(&s);
    if (!s.corrupted && shadow_teardown(&s) != 0)
        fuzz_die(&s);
    shadow_destroy(&s);
    return 0;
}
