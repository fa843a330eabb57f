/* test_arena_trim_idle.c — talc_arena_trim_idle: what the previous call found unused, and
 * nothing has used since, goes back; what was used in between stays. For free pages inside a
 * free chunk and for the empty segments a stripe keeps; the blocks parked at depots and the
 * calling thread's own cached blocks stay; a full trim after an idle one still gives back
 * everything. Public API only (resident pages read with mincore). Each test is its own
 * process. */
#define _DEFAULT_SOURCE /* mincore */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "granule.h"
#include "pattern.h"
#include "resident.h"

#define BIG ((size_t)200 << 10) /* inside one default segment, below TALC_LARGE_MIN */
#define SMALL ((size_t)200)

typedef struct hole {
    talc_arena_t *a;
    unsigned char *pin1, *b, *pin2;
} hole_t;

/* A one-stripe arena with a written free chunk of about BIG bytes between two live blocks. */
static hole_t make_hole(const char *name)
{
    hole_t h = {.a = test_arena(name, 1)};
    h.pin1 = talc_arena_malloc(h.a, SMALL);
    h.b = talc_arena_malloc(h.a, BIG);
    h.pin2 = talc_arena_malloc(h.a, SMALL);
    cr_assert(h.pin1 && h.b && h.pin2);
    test_pattern_fill(h.pin1, SMALL, 1);
    test_pattern_fill(h.pin2, SMALL, 2);
    memset(h.b, 0x77, BIG);
    talc_free(h.b);
    return h;
}

/* Resident pages wholly inside the hole (b's old range). */
static size_t hole_resident(const hole_t *h, size_t *pages)
{
    return test_resident_pages(h->b, BIG, true, pages);
}

static void hole_done(hole_t *h)
{
    cr_assert_eq(test_pattern_check(h->pin1, SMALL, 1), SMALL, "live block below intact");
    cr_assert_eq(test_pattern_check(h->pin2, SMALL, 2), SMALL, "live block above intact");
    talc_free(h->pin1);
    talc_free(h->pin2);
    test_assert_empty(h->a);
}

Test(arena_trim_idle, a_free_chunk_goes_back_at_the_second_call)
{
    hole_t h = make_hole("idle-chunk");
    size_t pages;
    cr_assert_eq(talc_arena_trim_idle(h.a), 0, "the first call only looks");
    size_t in = hole_resident(&h, &pages);
    cr_assert_eq(in, pages, "still resident: %zu of %zu pages", in, pages);
    size_t back = talc_arena_trim_idle(h.a);
    cr_assert_geq(back, BIG - (64u << 10), "the second gave back %zu bytes", back);
    in = hole_resident(&h, &pages);
    cr_assert_leq(in, 2, "after it: %zu of %zu pages resident", in, pages);
    cr_assert_eq(talc_arena_trim_idle(h.a), 0, "and nothing twice");
    talc_arena_stats_t s = test_stats(h.a);
    cr_assert_eq(s.trims, 3, "idle trims are counted as trims");
    cr_assert_eq(s.trimmed_bytes, back);
    unsigned char *c = talc_arena_malloc(h.a, BIG); /* the decommitted chunk serves again */
    cr_assert_not_null(c);
    test_pattern_fill(c, BIG, 3);
    cr_assert_eq(test_pattern_check(c, BIG, 3), BIG);
    talc_free(c);
    hole_done(&h);
}

Test(arena_trim_idle, a_chunk_used_in_between_is_left)
{
    hole_t h = make_hole("idle-used");
    size_t pages;
    cr_assert_eq(talc_arena_trim_idle(h.a), 0);
    unsigned char *c = talc_arena_malloc(h.a, BIG); /* the same chunk, in use again */
    cr_assert_eq(c, h.b, "the hole serves the request");
    memset(c, 0x33, BIG);
    talc_free(c);
    (void)talc_arena_trim_idle(h.a); /* (the segment's free top idled: that goes) */
    size_t in = hole_resident(&h, &pages);
    cr_assert_eq(in, pages, "changed since the last call: %zu of %zu pages resident", in, pages);
    cr_assert_geq(talc_arena_trim_idle(h.a), BIG - (64u << 10), "unused since: given back");
    in = hole_resident(&h, &pages);
    cr_assert_leq(in, 2, "%zu of %zu pages resident", in, pages);
    hole_done(&h);
}

Test(arena_trim_idle, a_full_trim_after_an_idle_one_gives_back_everything)
{
    hole_t h = make_hole("idle-full");
    cr_assert_eq(talc_arena_trim_idle(h.a), 0);
    cr_assert_geq(talc_arena_trim(h.a), BIG - (64u << 10), "the flagged chunk too");
    cr_assert_eq(talc_arena_trim_idle(h.a), 0, "an idle trim skips what a full one did");
    hole_done(&h);
}

Test(arena_trim_idle, kept_empty_segments_go_back_at_the_second_call)
{
    talc_arena_t *a = test_arena("idle-kept", 1);
    size_t kept = test_empty_segments(a);
    cr_assert_eq(talc_arena_trim_idle(a), 0);
    cr_assert_eq(test_stats(a).source_bytes, kept, "the first call keeps them");
    cr_assert_geq(talc_arena_trim_idle(a), kept);
    cr_assert_eq(test_stats(a).source_bytes, 0, "the second unmapped them");
    test_assert_empty(a);
}

Test(arena_trim_idle, a_kept_segment_used_in_between_stays)
{
    talc_arena_t *a = test_arena("idle-reused", 1);
    size_t kept = test_empty_segments(a);
    cr_assert_eq(talc_arena_trim_idle(a), 0);
    void *p = talc_arena_malloc(a, 100u << 10); /* from one of the kept segments */
    cr_assert_not_null(p);
    talc_free(p);
    cr_assert_eq(test_stats(a).source_bytes, kept, "no segment was mapped for it");
    (void)talc_arena_trim_idle(a);
    cr_assert_eq(test_stats(a).source_bytes, TEST_OS_SEGMENT, "the one used in between stays");
    (void)talc_arena_trim_idle(a);
    cr_assert_eq(test_stats(a).source_bytes, 0, "until it has idled for a call");
    test_assert_empty(a);
}

#if TALC_TCACHE
/* The blocks parked at a depot are for the next fills, and this thread's cache is its own: an
 * idle trim leaves both (at most TALC_TC_DEPOT_BYTES a stripe, and a thread cache's bound). */
Test(arena_trim_idle, parked_and_cached_blocks_stay)
{
    talc_arena_t *a = test_cached_arena("idle-depot");
    void *warm;
    static test_parker_t p;
    test_park_two(&p, a, &warm); /* two blocks parked at the depot */
    talc_free(warm);             /* into this thread's own cache */
    size_t cached = test_stats(a).cached_blocks;
    cr_assert_geq(cached, 3, "two parked, one or more in this thread's cache");
    (void)talc_arena_trim_idle(a);
    (void)talc_arena_trim_idle(a);
    cr_assert_eq(test_stats(a).cached_blocks, cached, "both left");
    test_park_done(&p); /* (its exit empties the depot: the full trim below has less to do) */
    (void)talc_arena_trim(a);
    cr_assert_eq(test_stats(a).cached_blocks, 0, "a full trim empties them");
    test_assert_empty(a);
}
#endif
