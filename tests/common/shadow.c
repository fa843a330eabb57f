/* tests/common/shadow.c — the shadow model's life cycle (shadow_init, shadow_teardown,
 * shadow_destroy) and its error reports (shadow_fail), behind shadow.h.
 *
 * The model is cut into one file per concern, all behind the private shadow_internal.h:
 *   shadow_calls.c      every call into the heap, in its plain or its locked form
 *   shadow_model.c      the model's records (blocks, spans, pool slots, who owns each byte),
 *                       the heap walk and the no-fit rule; the fatal handler and the OOM hook
 *   shadow_step.c       the operation language: decoding, weights, shadow_step
 *   shadow_op_block.c   alloc, aligned alloc, free, realloc, resize in place
 *   shadow_op_span.c    claim, extend, truncate, release, free a span's blocks
 *   shadow_op_refuse.c  invalid requests, bad pointers, a corrupted byte
 *   shadow_verify.c     shadow_verify: the checks after every operation
 * Test programs compile them all; tests/fuzz/fuzz_heap.c includes them (one translation unit).
 *
 * Who may use it: test code only. Concurrency: one model per thread; the heap is not shared.
 */
#include "shadow_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asan_poison.h"

#define POOL_ALIGN ((size_t)2 << 20)

/* ---- Errors -------------------------------------------------------------------------------*/

int shadow_fail(shadow_t *s, const char *fmt, ...)
{
    int n = snprintf(s->err, sizeof s->err, "step %llu (%s): ", (unsigned long long)s->steps,
                     s->last_op ? s->last_op : "-");
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof s->err)
        vsnprintf(s->err + n, sizeof s->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- Life cycle ---------------------------------------------------------------------------*/

int shadow_init(shadow_t *s, const shadow_config_t *cfg)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->cfg.slot_size = (cfg->slot_size + 4095) & ~(size_t)4095;
    s->quantum = cfg->cache_line ? cfg->cache_line : TALC_MIN_ALIGN;
    s->blocks = calloc(cfg->max_blocks, sizeof *s->blocks);
    s->walk_cap = 2 * cfg->max_blocks + 4 * SHADOW_MAX_SPANS + 64;
    s->walk = calloc(s->walk_cap, sizeof *s->walk);
    s->order = calloc(cfg->max_blocks, sizeof *s->order);
    size_t total = cfg->first_size + cfg->first_room;
    size_t pool = SHADOW_MAX_SPANS * s->cfg.slot_size;
    s->mem = cfg->mem_buf ? cfg->mem_buf
                          : aligned_alloc(POOL_ALIGN, (total + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1));
    s->pool = cfg->pool_buf ? cfg->pool_buf
              : pool        ? aligned_alloc(POOL_ALIGN, (pool + POOL_ALIGN - 1) & ~(POOL_ALIGN - 1))
                            : NULL;
    if (!s->blocks || !s->walk || !s->order || !s->mem || (pool && !s->pool))
        FAIL("out of memory in the test");
    shadow_caller_owns(s->mem, total);
    POISON(s->pool, pool); /* each slot is scribbled when it is used */
    shadow_heap_owns(s->mem, cfg->first_size);
    talc_heap_opts_t opts = {0};
    opts.name = "shadow";
    opts.cache_line = cfg->cache_line;
    opts.fatal = shadow_fatal;
    opts.fatal_ctx = s;
    opts.shrink_in_place = cfg->shrink_in_place;
    if (cfg->oom_hook) {
        opts.oom = shadow_oom;
        opts.oom_ctx = s;
    }
    size_t footprint = talc_heap_footprint();
    if (cfg->locked) {
        talc_lock_ops_t lock = {model_lock, model_unlock, s};
        s->lh = talc_locked_heap_init(s->mem, cfg->first_size, &opts, &lock);
        s->heap = s->lh ? talc_locked_acquire(s->lh) : NULL;
        if (s->lh)
            talc_locked_release(s->lh);
        footprint = talc_locked_heap_footprint();
    } else {
        s->heap = talc_heap_init(s->mem, cfg->first_size, &opts);
    }
    if (!s->heap)
        FAIL("talc_heap_init(%zu) failed", cfg->first_size);
    bool held = sh_hold(s);
    talc_span_t *first = talc_heap_first_span(s->heap);
    sh_unhold(s, held);
    if (first) {
        talc_span_info_t info;
        sh_span_info(s, first, &info);
        s->spans[0] = (shadow_span_t){first, s->mem, total, -1, info.base, info.end};
        s->nspans = 1;
        s->total_spans = 1;
        s->total_managed = (uint64_t)(addr(info.end) - addr(info.base));
        if (addr(info.base) < addr(s->mem) + footprint ||
            addr(info.end) > addr(s->mem) + cfg->first_size)
            FAIL("first span [%p, %p) outside [mem + footprint, mem + size)", info.base, info.end);
        shadow_caller_owns(info.end,
                           (size_t)(s->mem + cfg->first_size - (unsigned char *)info.end));
    }
    return shadow_verify(s);
}

int shadow_teardown(shadow_t *s)
{
    s->last_op = "teardown";
    while (s->nblocks) {
        sh_free(s, s->blocks[s->nblocks - 1].ptr);
        model_remove_block(s, s->nblocks - 1);
        TRY(shadow_verify(s));
    }
    bool held = sh_hold(s);
    talc_span_t *first = talc_heap_first_span(s->heap);
    sh_unhold(s, held);
    for (size_t i = s->nspans; i-- > 0;) {
        if (s->spans[i].span == first)
            continue;
        bool taken = sh_hold(s);
        int rc = talc_span_release(s->heap, s->spans[i].span);
        sh_unhold(s, taken);
        if (rc != 0)
            FAIL("release of empty span #%zu returned %d", i, rc);
        model_drop_span(s, i);
        TRY(shadow_verify(s));
    }
    talc_heap_counters_t c;
    sh_counters(s, &c);
#if TALC_COUNTERS
    if (c.live_allocs != 0 || c.live_bytes != 0 || c.live_spans > 1)
        FAIL("after teardown: %zu live allocs, %zu live bytes, %zu spans", c.live_allocs,
             c.live_bytes, c.live_spans);
#endif
    return 0;
}

void shadow_destroy(shadow_t *s)
{
    size_t total = s->cfg.first_size + s->cfg.first_room;
    if (s->mem)
        shadow_heap_owns(s->mem, total);
    if (s->pool)
        shadow_heap_owns(s->pool, SHADOW_MAX_SPANS * s->cfg.slot_size);
    free(s->blocks);
    free(s->walk);
    free(s->order);
    if (!s->cfg.mem_buf)
        free(s->mem);
    if (!s->cfg.pool_buf)
        free(s->pool);
    memset(s, 0, sizeof *s);
}
