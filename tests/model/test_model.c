/* tests/model/test_model.c — randomized model test of the heap engine against a shadow model.
 *
 * Each test runs a random sequence of alloc, aligned alloc, free, realloc, resize in place,
 * claim, extend, truncate and release over several caller buffers (tests/common/shadow*.c), and
 * verifies after EVERY step: talc_heap_check == 0, the counters equal the model's sums, the
 * walk's allocated chunks are exactly the live blocks, no two blocks overlap, contents intact.
 * At the end it frees everything, releases every span but the first and expects zero live
 * allocations. One test runs the locked form (talc/heap_locked.h) and feeds it bad pointers.
 *
 * Environment:
 *   TALC_SEED=<n>         replay: every test uses this seed (printed at start and on failure)
 *   TALC_MODEL_STEPS=<n>  steps per test (default 20000)
 * Replay one failure:  TALC_SEED=123 ./test_model --filter 'model/cache_aligned'
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../common/rng.h"
#include "../common/shadow.h"
#include "talc/platform.h"

static uint64_t model_seed(unsigned salt) { return test_pick_seed((uint64_t)salt << 8); }

static unsigned long model_steps(void)
{
    const char *env = getenv("TALC_MODEL_STEPS");
    unsigned long n = env && *env ? strtoul(env, NULL, 0) : 0;
    return n ? n : 20000;
}

static uint64_t rng_take(void *ctx, unsigned nbytes)
{
    uint64_t v = test_rng_next(ctx);
    return nbytes >= 8 ? v : v & (((uint64_t)1 << (8 * nbytes)) - 1);
}

static bool rng_done(void *ctx)
{
    (void)ctx;
    return false;
}

static void run_model(const char *name, unsigned salt, shadow_config_t cfg)
{
    uint64_t seed = model_seed(salt);
    unsigned long steps = model_steps();
    fprintf(stderr, "[model] %s: seed %llu, %lu steps (replay: TALC_SEED=%llu)\n", name,
            (unsigned long long)seed, steps, (unsigned long long)seed);
    test_rng_t rng;
    test_rng_seed(&rng, seed);
    shadow_src_t src = {rng_take, rng_done, &rng};
    static shadow_t s; /* large; one per test process */
    int rc = shadow_init(&s, &cfg);
    cr_assert_eq(rc, 0, "%s seed %llu: init: %s", name, (unsigned long long)seed, s.err);
    for (unsigned long i = 0; i < steps; i++) {
        rc = shadow_step(&s, &src);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = shadow_teardown(&s);
    if (rc != 0)
        fprintf(stderr, "[model] %s FAILED with seed %llu: %s\n", name, (unsigned long long)seed,
                s.err);
    cr_assert_eq(rc, 0, "%s seed %llu (replay: TALC_SEED=%llu): %s", name, (unsigned long long)seed,
                 (unsigned long long)seed, s.err);
    shadow_destroy(&s);
}

static shadow_config_t base_config(void)
{
    shadow_config_t c = {0};
    c.first_size = 256 * 1024;
    c.first_room = 256 * 1024;
    c.slot_size = 320 * 1024;
    c.live_cap = 1024 * 1024;
    c.max_blocks = 600;
    c.max_size = 256 * 1024;
    return c;
}

Test(model, normal_heap_a, .timeout = 600) { run_model("normal_heap_a", 1, base_config()); }

Test(model, normal_heap_b, .timeout = 600) { run_model("normal_heap_b", 2, base_config()); }

/* A small first span: the heap lives near OOM, so claim/extend/the OOM hook matter. With
 * shrink_in_place, where scarcity would otherwise let shrinks move: none may. */
Test(model, tight_heap_with_oom_hook, .timeout = 600)
{
    shadow_config_t c = base_config();
    c.first_size = 16 * 1024;
    c.first_room = 64 * 1024;
    c.slot_size = 96 * 1024;
    c.live_cap = 512 * 1024;
    c.max_size = 32 * 1024;
    c.oom_hook = true;
    c.shrink_in_place = true;
    run_model("tight_heap_with_oom_hook", 3, c);
}

/* No hook and more demand than memory: allocations and reallocs fail often, so the
 * near-OOM paths run (aligned scans of lower bins, realloc merging a free chunk below). */
Test(model, near_oom_heap, .timeout = 600)
{
    shadow_config_t c = base_config();
    c.first_size = 48 * 1024;
    c.first_room = 16 * 1024;
    c.slot_size = 24 * 1024;
    c.live_cap = 256 * 1024;
    c.max_size = 8 * 1024;
    run_model("near_oom_heap", 6, c);
}

/* The locked form (talc/heap_locked.h) behind a lock that checks its own use, with blocks
 * large enough for realloc's copy outside the lock, an OOM hook (it runs under the lock), and
 * bad pointers: a double free, a misaligned pointer, each reported once. */
Test(model, locked_heap_with_bad_pointers, .timeout = 600)
{
    shadow_config_t c = base_config();
    c.first_size = 64 * 1024;
    c.max_size = 96 * 1024;
    c.oom_hook = true;
    c.locked = true;
    c.bad_pointers = true;
    run_model("locked_heap_with_bad_pointers", 7, c);
}

Test(model, cache_aligned_heap, .timeout = 600)
{
    shadow_config_t c = base_config();
    c.cache_line = talc_cache_line_size();
    run_model("cache_aligned_heap", 4, c);
}

Test(model, cache_aligned_128_with_oom_hook, .timeout = 600)
{
    shadow_config_t c = base_config();
    c.cache_line = 128;
    c.first_size = 32 * 1024;
    c.oom_hook = true;
    run_model("cache_aligned_128_with_oom_hook", 5, c);
}
