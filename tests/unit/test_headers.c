/* test_headers.c — every public header, included twice (guards) in one translation unit, and
 * the engine API checked at compile time: each public function assigned to a pointer of the
 * exact prototype the headers promise, the enum values, the macros. A change to a public
 * signature breaks this file before it breaks a user. (Each header compiling on its own is
 * checked by the packaging target talc_header_check.) The C++ twin is test_headers.cpp. */
#include "talc/talc.h"
#include "talc/config.h"
#include "talc/heap.h"
#include "talc/heap_locked.h"
#include "talc/platform.h"
#include "talc/arena.h"
#include "talc/reserve.h"
#include "talc/stats.h"
#include "talc/talc.h"
#include "talc/config.h"
#include "talc/heap.h"
#include "talc/heap_locked.h"
#include "talc/platform.h"

#include <criterion/criterion.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Prototypes, exactly ------------------------------------------------------------------*/

static size_t (*const p_footprint)(void) = talc_heap_footprint;
static talc_heap_t *(*const p_init)(void *, size_t, const talc_heap_opts_t *) = talc_heap_init;
static talc_span_t *(*const p_first)(const talc_heap_t *) = talc_heap_first_span;
static void *(*const p_alloc)(talc_heap_t *, size_t) = talc_heap_alloc;
static void *(*const p_aligned)(talc_heap_t *, size_t, size_t) = talc_heap_alloc_aligned;
static void (*const p_free)(talc_heap_t *, void *) = talc_heap_free;
static void *(*const p_realloc)(talc_heap_t *, void *, size_t) = talc_heap_realloc;
static bool (*const p_resize)(talc_heap_t *, void *, size_t) = talc_heap_resize_in_place;
static size_t (*const p_usable)(const talc_heap_t *, const void *) = talc_heap_usable_size;
static talc_span_t *(*const p_claim)(talc_heap_t *, void *, size_t) = talc_heap_claim;
static size_t (*const p_min)(const talc_heap_t *) = talc_span_min_size;
static void *(*const p_extend)(talc_heap_t *, talc_span_t *, void *) = talc_span_extend;
static void *(*const p_truncate)(talc_heap_t *, talc_span_t *, void *) = talc_span_truncate;
static int (*const p_release)(talc_heap_t *, talc_span_t *) = talc_span_release;
static void (*const p_info)(const talc_heap_t *, const talc_span_t *,
                            talc_span_info_t *) = talc_span_get_info;
static talc_span_t *(*const p_next)(const talc_heap_t *, const talc_span_t *) = talc_heap_next_span;
static void (*const p_counters)(const talc_heap_t *, talc_heap_counters_t *) = talc_heap_counters;
static size_t (*const p_line)(const talc_heap_t *) = talc_heap_cache_line;
static int (*const p_check)(const talc_heap_t *, const void **) = talc_heap_check;
static bool (*const p_walk)(const talc_heap_t *, talc_walk_fn, void *) = talc_heap_walk;

static size_t (*const p_lfootprint)(void) = talc_locked_heap_footprint;
static talc_locked_heap_t *(*const p_linit)(void *, size_t, const talc_heap_opts_t *,
                                            const talc_lock_ops_t *) = talc_locked_heap_init;
static void *(*const p_lalloc)(talc_locked_heap_t *, size_t) = talc_locked_alloc;
static void *(*const p_laligned)(talc_locked_heap_t *, size_t, size_t) = talc_locked_alloc_aligned;
static void (*const p_lfree)(talc_locked_heap_t *, void *) = talc_locked_free;
static void *(*const p_lrealloc)(talc_locked_heap_t *, void *, size_t) = talc_locked_realloc;
static size_t (*const p_lusable)(talc_locked_heap_t *, const void *) = talc_locked_usable_size;
static talc_span_t *(*const p_lclaim)(talc_locked_heap_t *, void *, size_t) = talc_locked_claim;
static void (*const p_lcounters)(talc_locked_heap_t *,
                                 talc_heap_counters_t *) = talc_locked_counters;
static talc_heap_t *(*const p_acquire)(talc_locked_heap_t *) = talc_locked_acquire;
static void (*const p_lrelease)(talc_locked_heap_t *) = talc_locked_release;

static size_t (*const p_cache_line)(void) = talc_cache_line_size;

/* ---- Types and constants ------------------------------------------------------------------*/

_Static_assert(TALC_MIN_ALIGN == alignof(max_align_t), "TALC_MIN_ALIGN");
_Static_assert(TALC_OOM_MAX_RETRIES >= 1, "TALC_OOM_MAX_RETRIES");
_Static_assert(TALC_OOM_FAIL == 0 && TALC_OOM_RETRY == 1, "OOM verdicts");
_Static_assert(TALC_FAULT_BAD_POINTER == 1, "faults start at 1 (0 is never a fault)");
_Static_assert(TALC_CHECK_OK == 0, "check ok");
_Static_assert(TALC_COUNTERS == 0 || TALC_COUNTERS == 1, "TALC_COUNTERS");
_Static_assert(TALC_DEBUG >= 0 && TALC_DEBUG <= 3, "TALC_DEBUG");
_Static_assert(TALC_REALLOC_UNLOCKED_COPY >= 0, "TALC_REALLOC_UNLOCKED_COPY");
_Static_assert(sizeof(((talc_heap_counters_t *)0)->total_allocs) == 8, "64-bit totals");
_Static_assert(sizeof(((talc_heap_counters_t *)0)->total_bytes) == 8, "64-bit totals");
_Static_assert(sizeof(((talc_heap_counters_t *)0)->total_managed) == 8, "64-bit totals");
_Static_assert(sizeof(((talc_heap_counters_t *)0)->failed_allocs) == 8, "64-bit totals");

static bool walk_fn(const talc_span_t *s, void *p, size_t n, bool used, void *ctx)
{
    (void)s;
    (void)p;
    (void)n;
    (void)used;
    (void)ctx;
    return true;
}
static talc_oom_verdict_t oom_fn(talc_heap_t *h, size_t n, size_t a, void *ctx)
{
    (void)h;
    (void)n;
    (void)a;
    (void)ctx;
    return TALC_OOM_FAIL;
}
static void fatal_fn(const talc_fault_info_t *info, void *ctx)
{
    (void)info;
    (void)ctx;
}

Test(headers, function_pointers_are_real)
{
    const void *fns[] = {
        (const void *)(uintptr_t)p_footprint,  (const void *)(uintptr_t)p_init,
        (const void *)(uintptr_t)p_first,      (const void *)(uintptr_t)p_alloc,
        (const void *)(uintptr_t)p_aligned,    (const void *)(uintptr_t)p_free,
        (const void *)(uintptr_t)p_realloc,    (const void *)(uintptr_t)p_resize,
        (const void *)(uintptr_t)p_usable,     (const void *)(uintptr_t)p_claim,
        (const void *)(uintptr_t)p_min,        (const void *)(uintptr_t)p_extend,
        (const void *)(uintptr_t)p_truncate,   (const void *)(uintptr_t)p_release,
        (const void *)(uintptr_t)p_info,       (const void *)(uintptr_t)p_next,
        (const void *)(uintptr_t)p_counters,   (const void *)(uintptr_t)p_line,
        (const void *)(uintptr_t)p_check,      (const void *)(uintptr_t)p_walk,
        (const void *)(uintptr_t)p_lfootprint, (const void *)(uintptr_t)p_linit,
        (const void *)(uintptr_t)p_lalloc,     (const void *)(uintptr_t)p_laligned,
        (const void *)(uintptr_t)p_lfree,      (const void *)(uintptr_t)p_lrealloc,
        (const void *)(uintptr_t)p_lusable,    (const void *)(uintptr_t)p_lclaim,
        (const void *)(uintptr_t)p_lcounters,  (const void *)(uintptr_t)p_acquire,
        (const void *)(uintptr_t)p_lrelease,   (const void *)(uintptr_t)p_cache_line,
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        cr_assert_not_null(fns[i], "function %zu", i);
}

Test(headers, enums_are_distinct)
{
    int faults[] = {TALC_FAULT_BAD_POINTER, TALC_FAULT_DOUBLE_FREE, TALC_FAULT_CORRUPTION,
                    TALC_FAULT_REENTRY, TALC_FAULT_BAD_SPAN};
    int codes[] = {TALC_CHECK_CHUNK_SIZE, TALC_CHECK_SPAN_BOUNDS, TALC_CHECK_ADJACENT_FREE,
                   TALC_CHECK_PREV_FLAG,  TALC_CHECK_FOOTER,      TALC_CHECK_BIN,
                   TALC_CHECK_LINKS,      TALC_CHECK_BITMAP,      TALC_CHECK_COUNTERS,
                   TALC_CHECK_ALIGN};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = i + 1; j < 5; j++)
            cr_assert_neq(faults[i], faults[j]);
    for (size_t i = 0; i < 10; i++) {
        cr_assert_lt(codes[i], 0, "check codes are negative");
        for (size_t j = i + 1; j < 10; j++)
            cr_assert_neq(codes[i], codes[j]);
    }
}

Test(headers, option_struct_zero_means_defaults)
{
    static alignas(max_align_t) unsigned char mem[16384];
    talc_heap_opts_t o = {0};
    talc_heap_t *h = talc_heap_init(mem, sizeof mem, &o);
    cr_assert_not_null(h);
    cr_assert_eq(talc_heap_cache_line(h), 0);
    o.oom = oom_fn;
    o.fatal = fatal_fn;
    o.name = "headers";
    h = talc_heap_init(mem, sizeof mem, &o);
    cr_assert_not_null(h);
    cr_assert(talc_heap_walk(h, walk_fn, NULL));
    cr_assert_eq(talc_heap_check(h, NULL), 0);
}
