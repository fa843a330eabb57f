/* test_heap_oom.c — the OOM hook (talc_heap_opts_t.oom): called with the heap, the request's
 * size and alignment and its ctx; a hook that claims or extends and answers RETRY makes the
 * allocation succeed; RETRY without new memory is not retried; RETRY with too little memory is
 * retried at most TALC_OOM_MAX_RETRIES times; FAIL gives NULL; no call while a fit exists.
 * In TALC_DEBUG >= 1 builds, a hook that allocates from its own heap is a REENTRY fault. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "talc/heap.h"

TestSuite(heap_oom, .fini = test_buffers_free);

typedef enum hook_mode {
    HOOK_FAIL,
    HOOK_RETRY_NOTHING, /* says RETRY without adding memory */
    HOOK_CLAIM,         /* claims one big buffer */
    HOOK_CLAIM_TINY,    /* claims a span too small for the request, every time */
    HOOK_EXTEND,        /* extends `span` into the rest of its buffer */
    HOOK_REENTER,       /* allocates from its own heap (forbidden) */
} hook_mode_t;

typedef struct hook {
    hook_mode_t mode;
    unsigned calls;
    talc_heap_t *heap_seen;
    size_t size_seen, align_seen;
    unsigned char *buf;    /* memory the hook may hand over */
    size_t buf_size, used; /* bytes of buf handed over so far */
    talc_span_t *span;     /* for HOOK_EXTEND */
    void *reentered;       /* what the forbidden allocation returned */
} hook_t;

static talc_oom_verdict_t hook_fn(talc_heap_t *heap, size_t size, size_t align, void *ctx)
{
    hook_t *k = ctx;
    k->calls++;
    k->heap_seen = heap;
    k->size_seen = size;
    k->align_seen = align;
    switch (k->mode) {
    case HOOK_FAIL:
        return TALC_OOM_FAIL;
    case HOOK_RETRY_NOTHING:
        return TALC_OOM_RETRY;
    case HOOK_CLAIM:
        if (k->used)
            return TALC_OOM_FAIL;
        k->used = k->buf_size;
        return talc_heap_claim(heap, k->buf, k->buf_size) ? TALC_OOM_RETRY : TALC_OOM_FAIL;
    case HOOK_CLAIM_TINY: {
        size_t m = talc_span_min_size(heap);
        if (k->used + m > k->buf_size)
            return TALC_OOM_FAIL;
        talc_span_t *s = talc_heap_claim(heap, k->buf + k->used, m);
        k->used += m;
        return s ? TALC_OOM_RETRY : TALC_OOM_FAIL;
    }
    case HOOK_EXTEND:
        talc_span_extend(heap, k->span, k->buf + k->buf_size);
        return TALC_OOM_RETRY;
    case HOOK_REENTER:
        k->reentered = talc_heap_alloc(heap, 16);
        return TALC_OOM_FAIL;
    }
    return TALC_OOM_FAIL;
}

static talc_heap_t *hooked_heap(hook_t *k, size_t size, size_t line)
{
    test_faults.count = 0;
    talc_heap_opts_t o = test_opts("oom");
    o.oom = hook_fn;
    o.oom_ctx = k;
    o.cache_line = line;
    return test_heap(size, &o);
}

Test(heap_oom, not_called_while_a_fit_exists)
{
    hook_t k = {.mode = HOOK_FAIL};
    talc_heap_t *h = hooked_heap(&k, 64 * 1024, 0);
    void *p = talc_heap_alloc(h, 1000);
    void *q = talc_heap_alloc_aligned(h, 1000, 4096);
    void *r = talc_heap_realloc(h, p, 2000);
    cr_assert(p && q && r);
    cr_assert_eq(k.calls, 0);
    talc_heap_free(h, q);
    talc_heap_free(h, r);
    HEAP_OK(h);
}

Test(heap_oom, called_with_heap_size_align_and_ctx)
{
    hook_t k = {.mode = HOOK_FAIL};
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    cr_assert_null(talc_heap_alloc(h, 100000));
    cr_assert_eq(k.calls, 1);
    cr_assert_eq(k.heap_seen, h);
    cr_assert_eq(k.size_seen, 100000);
    cr_assert_eq(k.align_seen, TALC_MIN_ALIGN);

    cr_assert_null(talc_heap_alloc_aligned(h, 50000, 8192));
    cr_assert_eq(k.calls, 2);
    cr_assert_eq(k.size_seen, 50000);
    cr_assert_eq(k.align_seen, 8192);

    void *p = talc_heap_alloc(h, 100);
    void *guard = talc_heap_alloc(h, 100);
    cr_assert_null(talc_heap_realloc(h, p, 70000));
    cr_assert_eq(k.calls, 3);
    cr_assert_eq(k.size_seen, 70000);
    cr_assert_eq(k.align_seen, TALC_MIN_ALIGN);
    cr_assert_null(talc_heap_realloc(h, NULL, 80000));
    cr_assert_eq(k.calls, 4);
    cr_assert_eq(k.size_seen, 80000);
#if TALC_COUNTERS
    cr_assert_eq(test_counters(h).failed_allocs, 4);
#endif
    talc_heap_free(h, p);
    talc_heap_free(h, guard);
    HEAP_OK(h);
}

Test(heap_oom, cache_aligned_heap_passes_its_line)
{
    hook_t k = {.mode = HOOK_FAIL};
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 128);
    cr_assert_null(talc_heap_alloc(h, 100000));
    cr_assert_eq(k.calls, 1);
    cr_assert(k.align_seen == 128, "align %zu: a plain alloc in a 128-byte-line heap",
              k.align_seen);
    cr_assert_null(talc_heap_alloc_aligned(h, 100000, 1024));
    cr_assert_eq(k.align_seen, 1024);
}

Test(heap_oom, claim_then_retry_succeeds)
{
    hook_t k = {.mode = HOOK_CLAIM};
    k.buf_size = 256 * 1024;
    k.buf = test_buffer(k.buf_size);
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    void *p = talc_heap_alloc(h, 100000);
    cr_assert_not_null(p, "the hook claimed enough memory");
    cr_assert_eq(k.calls, 1);
    cr_assert((uintptr_t)p >= (uintptr_t)k.buf && (uintptr_t)p < (uintptr_t)k.buf + k.buf_size);
    memset(p, 0x11, 100000);
#if TALC_COUNTERS
    talc_heap_counters_t c = test_counters(h);
    cr_assert_eq(c.live_spans, 2);
    cr_assert_eq(c.failed_allocs, 0);
    cr_assert_eq(c.live_allocs, 1);
#endif
    HEAP_OK(h);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_oom, claim_then_retry_for_aligned_and_realloc)
{
    hook_t k = {.mode = HOOK_CLAIM};
    k.buf_size = 512 * 1024;
    k.buf = test_buffer(k.buf_size);
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    void *p = talc_heap_alloc(h, 1000);
    void *guard = talc_heap_alloc(h, 10);
    memset(p, 0x22, 1000);
    void *q = talc_heap_realloc(h, p, 200000);
    cr_assert_not_null(q);
    cr_assert_eq(k.calls, 1);
    for (size_t i = 0; i < 1000; i++)
        cr_assert_eq(((unsigned char *)q)[i], 0x22);
    k.used = 0;
    k.buf = test_buffer(k.buf_size);
    void *r = talc_heap_alloc_aligned(h, 400000, 65536); /* more than the first buffer has left */
    cr_assert_not_null(r);
    cr_assert(test_is_aligned(r, 65536));
    cr_assert_eq(k.calls, 2);
    HEAP_OK(h);
    talc_heap_free(h, q);
    talc_heap_free(h, r);
    talc_heap_free(h, guard);
    HEAP_OK(h);
}

Test(heap_oom, extend_then_retry_succeeds)
{
    hook_t k = {.mode = HOOK_EXTEND};
    k.buf_size = 128 * 1024;
    k.buf = test_buffer(k.buf_size);
    talc_heap_t *h = hooked_heap(&k, talc_heap_footprint(), 0);
    k.span = talc_heap_claim(h, k.buf, 4096);
    cr_assert_not_null(k.span);
    void *p = talc_heap_alloc(h, 100000);
    cr_assert_not_null(p);
    cr_assert_eq(k.calls, 1);
    HEAP_OK(h);
    /* Extending further is impossible: the next RETRY adds nothing and is not retried. */
    cr_assert_null(talc_heap_alloc(h, 100000));
    cr_assert_eq(k.calls, 2);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_oom, retry_without_new_memory_is_not_retried)
{
    hook_t k = {.mode = HOOK_RETRY_NOTHING};
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    cr_assert_null(talc_heap_alloc(h, 100000));
    cr_assert_eq(k.calls, 1, "RETRY without new memory must not loop (called %u times)", k.calls);
    cr_assert_null(talc_heap_alloc_aligned(h, 100000, 4096));
    cr_assert_eq(k.calls, 2);
#if TALC_COUNTERS
    cr_assert_eq(test_counters(h).failed_allocs, 2);
#endif
    HEAP_OK(h);
}

Test(heap_oom, retry_with_too_little_memory_is_bounded)
{
    hook_t k = {.mode = HOOK_CLAIM_TINY};
    k.buf_size = 1024 * 1024;
    k.buf = test_buffer(k.buf_size);
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    cr_assert_null(talc_heap_alloc(h, 200000));
    cr_assert_geq(k.calls, 2, "the heap gained memory, so it retried");
    cr_assert_leq(k.calls, TALC_OOM_MAX_RETRIES, "hook called %u times (max %d)", k.calls,
                  TALC_OOM_MAX_RETRIES);
    HEAP_OK(h);
    /* The tiny spans are real: small allocations come from them. */
    void *p = talc_heap_alloc(h, 8);
    cr_assert_not_null(p);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_oom, fail_gives_null)
{
    hook_t k = {.mode = HOOK_FAIL};
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    cr_assert_null(talc_heap_alloc(h, 100000));
    cr_assert_eq(k.calls, 1);
    HEAP_OK(h);
    void *p = talc_heap_alloc(h, 100);
    cr_assert_not_null(p, "the heap still serves what fits");
    talc_heap_free(h, p);
}

Test(heap_oom, no_hook_fails_at_once)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    cr_assert_null(talc_heap_alloc(h, 100000));
    HEAP_OK(h);
}

#if TALC_DEBUG >= 1
Test(heap_oom, reentry_from_the_hook_is_a_fault)
{
    hook_t k = {.mode = HOOK_REENTER};
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    cr_assert_null(talc_heap_alloc(h, 100000));
    cr_assert_eq(k.calls, 1);
    cr_assert_null(k.reentered, "the re-entering allocation must not be served");
    cr_assert_eq(test_faults.count, 1);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_REENTRY);
    cr_assert_str_eq(test_faults.last.heap_name, "oom");
    HEAP_OK(h);
    /* The heap is usable afterwards (the guard was reset). */
    void *p = talc_heap_alloc(h, 100);
    cr_assert_not_null(p);
    talc_heap_free(h, p);
    cr_assert_eq(test_faults.count, 1);
    HEAP_OK(h);
}

Test(heap_oom, claim_from_the_hook_is_not_a_fault)
{
    hook_t k = {.mode = HOOK_CLAIM};
    k.buf_size = 256 * 1024;
    k.buf = test_buffer(k.buf_size);
    talc_heap_t *h = hooked_heap(&k, 16 * 1024, 0);
    void *p = talc_heap_alloc(h, 100000);
    cr_assert_not_null(p);
    cr_assert_eq(test_faults.count, 0);
    talc_heap_free(h, p);
    HEAP_OK(h);
}
#endif
