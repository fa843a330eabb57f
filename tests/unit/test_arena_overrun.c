/* test_arena_overrun.c — a free that does not go through a thread cache (an arena without
 * one, as named arenas are by default, or a block above the cache's sizes) merges the block
 * with the neighbours its header and the next header call free. An overrun of the block below
 * into those flags (a string's NUL clearing the next block's USED bit; a byte setting
 * PREV_FREE) used to make the heap merge with a live block and unlink its user data as list
 * links: a SIGSEGV inside the allocator, or a block handed out twice later. The arena now asks
 * the heap first (talc_heap_merge_ok, as the thread cache's give-back does) and reports the
 * block to the fatal handler instead; it stays allocated. Until 2026-12-06 only the thread
 * cache's give-back asked (review of 2026-12-05, docs/arenas.md "Errors").
 *
 * Concurrency: one thread. Each test is its own process (the fatal handler is global).
 */
#include <string.h>

#include <criterion/criterion.h>

#include "arena_test.h"

static test_fault_log_t rec;

static void install(void)
{
    memset(&rec, 0, sizeof rec);
    talc_set_fatal_handler(test_fault_record, &rec);
}

/* Three neighbouring blocks x < y < z of n bytes from a fresh one-stripe arena `name`, the
 * block below each with no slack (n + 8 on the quantum), so that x's last byte plus one is
 * y's flags byte. Thread cache off, or n above its sizes. */
typedef struct three {
    talc_arena_t *a;
    char *x, *y, *z;
    size_t usable;
} three_t;

static three_t three_blocks(const char *name, talc_tcache_mode_t tc, size_t n)
{
    talc_arena_config_t c = talc_arena_config_default(name);
    c.stripes = 1;
    c.thread_cache = tc;
    three_t t = {.a = test_arena_cfg(&c)};
    t.x = talc_arena_malloc(t.a, n);
    t.y = talc_arena_malloc(t.a, n);
    t.z = talc_arena_malloc(t.a, n);
    cr_assert(t.x && t.y && t.z);
    t.usable = talc_usable_size(t.x);
    cr_assert_eq(t.usable, n, "no slack");
    cr_assert_eq(t.y - t.x, (ptrdiff_t)(n + 8), "x and y are neighbours");
    cr_assert_eq(t.z - t.y, (ptrdiff_t)(n + 8), "y and z are neighbours");
    return t;
}

/* One report (with TALC_DEBUG >= 3 the heap's checker, run after every call, finds the
 * damaged header too, in the same critical section: the first report is the one). */
static void expect_one_report(const void *addr, const char *arena)
{
    cr_assert(rec.calls == 1 || (TALC_DEBUG >= 3 && rec.calls > 1), "%d reports (%s)", rec.calls,
              rec.what);
    cr_assert_eq(rec.first_fault, TALC_FAULT_CORRUPTION, "fault %d", rec.first_fault);
    cr_assert_eq(rec.first_addr, addr, "reported %p, expected %p", rec.first_addr, addr);
    cr_assert_str_eq(rec.arena, arena);
}

/* x's string overruns by its NUL into y's flags byte: y looks free to a free of x. y's words
 * (where a free chunk keeps its list links) hold text. */
static void nul_overrun_then_free_below(talc_tcache_mode_t tc, size_t n, const char *name)
{
    install();
    three_t t = three_blocks(name, tc, n);
    memset(t.y, 'A', t.usable);
    unsigned char flags = (unsigned char)t.x[t.usable];
    memset(t.x, 'a', t.usable);
    t.x[t.usable] = 0; /* the NUL */
    talc_free(t.x);
    expect_one_report(t.x, name);
    t.x[t.usable] = (char)flags; /* y's header back: the heap is whole, x stays allocated */
    char *q = talc_arena_malloc(t.a, 2 * n);
    cr_assert_not_null(q);
    cr_assert(q >= t.z + n || q + 2 * n <= t.x, "malloc returned %p, over x %p, y %p, z %p",
              (void *)q, (void *)t.x, (void *)t.y, (void *)t.z);
    talc_free(q);
    talc_free(t.y);
    talc_free(t.z);
    cr_assert(rec.calls == 1 || TALC_DEBUG >= 3, "%d reports", rec.calls);
    talc_set_fatal_handler(NULL, NULL);
}

Test(arena_overrun, nul_into_the_next_header_is_reported_at_free_without_a_thread_cache)
{
    nul_overrun_then_free_below(TALC_TCACHE_OFF, 200, "nul");
}

Test(arena_overrun, nul_into_the_next_header_is_reported_at_free_of_a_large_block)
{
    nul_overrun_then_free_below(TALC_TCACHE_ON, 39992, "nul-large");
}

/* x overruns into y's header and sets PREV_FREE, keeping USED and the size: a free of y takes
 * x for a free chunk, reads its "footer" (x's last 8 bytes, text) and merges with whatever lies
 * that far below. */
Test(arena_overrun, prev_free_set_in_a_header_is_reported_at_free)
{
    install();
    three_t t = three_blocks("prevfree", TALC_TCACHE_OFF, 200);
    memset(t.x, 'a', t.usable);
    t.x[t.usable] |= 2; /* y's PREV_FREE */
    talc_free(t.y);
    expect_one_report(t.y, "prevfree");
    t.x[t.usable] &= (char)~2;
    talc_free(t.x);
    talc_free(t.z);
    cr_assert(rec.calls == 1 || TALC_DEBUG >= 3, "%d reports", rec.calls);
    talc_set_fatal_handler(NULL, NULL);
}

/* The same overrun, with y's last 8 bytes (z's footer slot, when y is free) holding the
 * distance from z down to x, a free chunk: the footer leads to a real free chunk, but one
 * that does not end at z. Until 2026-12-06 the check took it, and the free merged x..z across
 * live y (found by a review of the heap engine). */
Test(arena_overrun, prev_free_with_a_footer_to_a_free_chunk_further_down_is_reported_at_free)
{
    install();
    three_t t = three_blocks("prevfree-far", TALC_TCACHE_OFF, 200);
    talc_free(t.x); /* a free chunk, whose footer and successor's PREV_FREE are sound */
    memset(t.y, 'a', t.usable);
    uint64_t dist = (uint64_t)(t.z - t.x);
    memcpy(t.y + t.usable - sizeof dist, &dist, sizeof dist);
    t.y[t.usable] |= 2; /* z's PREV_FREE */
    talc_free(t.z);
    expect_one_report(t.z, "prevfree-far");
    t.y[t.usable] &= (char)~2;
    cr_assert_eq(talc_usable_size(t.y), t.usable, "y is live and whole");
    cr_assert_eq(talc_usable_size(t.z), t.usable, "z stayed allocated");
    talc_free(t.y);
    talc_free(t.z);
    cr_assert(rec.calls == 1 || TALC_DEBUG >= 3, "%d reports", rec.calls);
    test_assert_empty(t.a);
    talc_set_fatal_handler(NULL, NULL);
}

/* The same NUL over y's flags, then a realloc of x that grows it: the heap grows a block in
 * place into a free neighbour, and took live y for one, so x came to overlap y (both live, no
 * report). Now reported, and x is left as it was. */
static void nul_overrun_then_grow_below(talc_tcache_mode_t tc, size_t n, const char *name)
{
    install();
    three_t t = three_blocks(name, tc, n);
    unsigned char flags = (unsigned char)t.x[t.usable];
    memset(t.x, 'a', t.usable);
    t.x[t.usable] = 0;
    char *q = talc_arena_realloc(t.a, t.x, n + 64);
    expect_one_report(t.x, name);
    cr_assert(q == NULL || q >= t.z + n || q + n + 64 <= t.y, "realloc returned %p over y %p",
              (void *)q, (void *)t.y);
    t.x[t.usable] = (char)flags;
    talc_free(q ? q : t.x);
    talc_free(t.y);
    talc_free(t.z);
    talc_set_fatal_handler(NULL, NULL);
}

Test(arena_overrun, nul_into_the_next_header_is_reported_at_realloc_without_a_thread_cache)
{
    nul_overrun_then_grow_below(TALC_TCACHE_OFF, 200, "grow");
}

Test(arena_overrun, nul_into_the_next_header_is_reported_at_realloc_of_a_large_block)
{
    nul_overrun_then_grow_below(TALC_TCACHE_ON, 39992, "grow-large");
}
