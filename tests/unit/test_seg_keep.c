/* test_seg_keep.c — the empty segments a stripe keeps for reuse (arenas/segment.c,
 * talc_seg_after_free): a free that empties a segment looks only at the segments kept so far
 * (at most TALC_SEG_KEEP_EMPTY), not at every segment of the stripe. Until 2026-12-06 it
 * walked the stripe's whole list, and freeing a heap of N segments cost O(N^2) segment checks
 * (8 GiB of 64 KB blocks freed oldest first: 3.5 s against glibc's 0.06 s; found by a
 * review). And what is kept: at most TALC_SEG_KEEP_EMPTY, and a kept segment used and
 * emptied again stays kept. And a segment that empties while a full trim runs, and that the
 * trim then decommits whole, still goes back at the next idle trims. And a large block shrunk
 * in place gives its tail's pages back with its stripe unlocked.
 * White-box: the test build wraps talc_span_get_info (the segment check) to count its calls
 * and talc_os_decommit (a trim's madvise) to act in the middle of a trim and to see the locks
 * held at each call (tests/CMakeLists.txt: -Wl,--wrap), and reads the stripe's list.
 *
 * Concurrency: one thread, and one more that frees a block while the trim holds a lock.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../arenas/arena_internal.h"
#include "arena_test.h"
#include "mutex.h"
#include "os_mem.h"

#define NSEG 64u
#define PER_SEG 5u
#define BLOCK (TEST_OS_SEGMENT / PER_SEG - 4096u) /* PER_SEG to a segment, below TALC_LARGE_MIN */

void __real_talc_span_get_info(const talc_heap_t *heap, const talc_span_t *span,
                               talc_span_info_t *out);
void __wrap_talc_span_get_info(const talc_heap_t *heap, const talc_span_t *span,
                               talc_span_info_t *out);

static size_t checks;

void __wrap_talc_span_get_info(const talc_heap_t *heap, const talc_span_t *span,
                               talc_span_info_t *out)
{
    checks++;
    __real_talc_span_get_info(heap, span, out);
}

/* Segments in the stripe's list, and how many of them are empty. */
static unsigned count_segments(talc_stripe_t *s, unsigned *empty)
{
    unsigned n = 0;
    *empty = 0;
    for (talc_seg_t *g = s->segs; g; g = g->next, n++) {
        talc_span_info_t info;
        __real_talc_span_get_info(talc_stripe_heap(s), g->span, &info);
        *empty += info.empty;
    }
    return n;
}

Test(seg_keep, freeing_a_heap_checks_a_few_segments_per_free)
{
    talc_arena_t *a = test_arena("keep", 1);
    static void *p[NSEG * PER_SEG];
    for (unsigned i = 0; i < NSEG * PER_SEG; i++)
        cr_assert_not_null(p[i] = talc_arena_malloc(a, BLOCK), "block %u", i);
    talc_stripe_t *s = talc_seg_of(p[0])->stripe;
    unsigned empty, n = count_segments(s, &empty);
    cr_assert_geq(n, NSEG, "%u segments", n);
    checks = 0;
    for (unsigned i = 0; i < NSEG * PER_SEG; i++) /* oldest first: kept ones end the list */
        talc_free(p[i]);
    /* one check of the emptied segment, one of each kept one: at most 1 + KEEP a segment */
    cr_assert_leq(checks, (size_t)n * (1u + TALC_SEG_KEEP_EMPTY), "%zu checks for %u segments",
                  checks, n);
    n = count_segments(s, &empty);
    cr_assert_eq(n, empty, "only empty segments are left");
    cr_assert_eq(n, s->seg_keep, "%u kept, of %u", n, s->seg_keep);
    test_assert_empty(a);
}

Test(seg_keep, a_kept_segment_used_and_emptied_again_stays)
{
    talc_arena_t *a = test_arena("keep-again", 1);
    static void *p[2 * PER_SEG];
    for (unsigned i = 0; i < 2 * PER_SEG; i++)
        cr_assert_not_null(p[i] = talc_arena_malloc(a, BLOCK));
    talc_seg_t *g = talc_seg_of(p[0]);
    talc_stripe_t *s = g->stripe;
    for (unsigned i = 0; i < 2 * PER_SEG; i++)
        talc_free(p[i]);
    unsigned empty, n = count_segments(s, &empty);
    cr_assert_eq(n, empty);
    cr_assert_geq(n, 2, "both kept");
    void *q = talc_arena_malloc(a, BLOCK); /* from a kept segment */
    cr_assert_not_null(q);
    talc_seg_t *h = talc_seg_of(q);
    talc_free(q);
    cr_assert_eq(count_segments(s, &empty), n, "emptied again: still kept");
    cr_assert_eq(empty, n);
    bool listed = false;
    for (unsigned i = 0; i < TALC_SEG_KEEP_EMPTY; i++)
        listed |= s->kept[i] == h;
    cr_assert(listed, "and listed once as kept");
    test_assert_empty(a);
}

/* ---- A segment emptied during a full trim -------------------------------------------------*/

int __real_talc_os_decommit(void *p, size_t size);
int __wrap_talc_os_decommit(void *p, size_t size);

static void *free_during_decommit; /* freed, by another thread, at the next decommit */

static void *free_it(void *p)
{
    talc_free(p);
    return NULL;
}

/* Decommits made while `watch` is set, those made while its lock was held, and those that
 * touched [watch_lo, watch_hi). */
static talc_stripe_t *watch;
static unsigned decommits, decommits_locked, decommits_in_range;
static char *watch_lo, *watch_hi;
static unsigned refuse_decommits; /* calls still to fail, as madvise does on mlocked pages */

int __wrap_talc_os_decommit(void *p, size_t size)
{
    if (watch) {
        decommits++;
        decommits_locked += !talc_mutex_is_free(&watch->lock);
    }
    decommits_in_range += (char *)p < watch_hi && (char *)p + size > watch_lo;
    if (refuse_decommits) {
        refuse_decommits--;
        return -EINVAL;
    }
    void *b = free_during_decommit;
    if (b) { /* the trim holds a stripe lock: the free takes the block's, on its own thread */
        free_during_decommit = NULL;
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, free_it, b), 0);
        cr_assert_eq(pthread_join(t, NULL), 0);
    }
    return __real_talc_os_decommit(p, size);
}

static bool listed_in(const talc_stripe_t *s, const talc_seg_t *g)
{
    for (const talc_seg_t *o = s->segs; o; o = o->next)
        if (o == g)
            return true;
    return false;
}

/* The large stripe's only block is freed while a full trim decommits a chunk of stripe 0:
 * after the trim's reclaim of kept segments, before its walk reaches the large stripe, which
 * then decommits the emptied segment's one chunk whole and flags it trimmed. The segment is
 * kept; idle trims must still give it back (until 2026-12-06 they flagged only untrimmed
 * chunks, and the segment stayed mapped until the next full trim; found by a review). */
Test(seg_keep, a_segment_emptied_during_a_full_trim_goes_at_idle_trims)
{
    talc_arena_t *a = test_arena("trimmed-kept", 1);
    void *pin1 = talc_arena_malloc(a, 64), *hole = talc_arena_malloc(a, 64 << 10);
    void *pin2 = talc_arena_malloc(a, 64), *big = talc_arena_malloc(a, TALC_LARGE_MIN);
    cr_assert(pin1 && hole && pin2 && big);
    talc_seg_t *g = talc_seg_of(big);
    size_t gsize = g->size; /* (g is unmapped when it goes back) */
    talc_stripe_t *ls = talc_large_stripe(a);
    cr_assert_eq(g->stripe, ls, "the block is in the large stripe");
    cr_assert_neq(talc_seg_of(hole)->stripe, ls);
    talc_free(hole); /* a free chunk of whole pages in stripe 0, for the trim's first madvise */
    size_t held = test_stats(a).source_bytes;
    free_during_decommit = big;
    (void)talc_arena_trim(a);
    cr_assert_null(free_during_decommit, "the trim decommitted in stripe 0");
    talc_stripe_lock(ls);
    bool kept = listed_in(ls, g);
    uint64_t w = kept ? talc_hdr(g->span->first) : 0;
    talc_stripe_unlock(ls);
    cr_assert(kept && (w & TALC_F_TRIMMED), "kept, and trimmed by the same trim (header %#llx)",
              (unsigned long long)w);
    cr_assert_eq(test_stats(a).source_bytes, held);
    (void)talc_arena_trim_idle(a); /* flags it */
    (void)talc_arena_trim_idle(a); /* gives it back */
    talc_stripe_lock(ls);
    kept = listed_in(ls, g);
    talc_stripe_unlock(ls);
    cr_assert_not(kept, "still kept after two idle trims");
    cr_assert_eq(test_stats(a).source_bytes, held - gsize);
    talc_free(pin1);
    talc_free(pin2);
    test_assert_empty(a);
}

/* ---- A large shrink's decommit -------------------------------------------------------------*/

/* A large block shrunk in place gives back the pages past its new end. Until 2026-12-07 that
 * madvise ran under the large stripe's lock: shrinking a written 512 MiB block to 1 MiB kept
 * a thread allocating a large block waiting for 18-39 ms (found by a review). Now the stripe
 * is unlocked for the call, and the tail's free chunk is flagged trimmed, so that a trim does
 * not decommit it again; unless it merged with a free chunk above (the rest of the segment),
 * which a trim takes. With pin_above, that rest is allocated first, behind the arena's back.
 * With refuse, the madvise fails (mlocked pages: EINVAL), and the tail is not flagged: until
 * 2026-12-07 it was, and its pages stayed resident through every later trim (a review). */
static void shrink_large(bool pin_above, bool refuse)
{
    talc_arena_t *a = test_arena("shrink-unlocked", 1);
    size_t big = 8u * TALC_LARGE_MIN, small = TALC_LARGE_MIN;
    unsigned char *p = talc_arena_malloc(a, big);
    cr_assert_not_null(p);
    memset(p, 7, big);
    talc_stripe_t *ls = talc_large_stripe(a);
    cr_assert_eq(talc_seg_of(p)->stripe, ls, "the block is in the large stripe");
    char *c = (char *)p - TALC_HDR, *end = c + talc_hsize(talc_hdr(c));
    talc_stripe_lock(ls);
    void *pin = NULL;
    if (pin_above && !talc_nused(end))
        pin = talc_heap_alloc(talc_stripe_heap(ls), talc_hsize(talc_hdr(end)) - TALC_HDR);
    cr_assert(!pin_above || talc_nused(end), "the chunk above is allocated (or the fence)");
    bool above_used = talc_nused(end);
    talc_stripe_unlock(ls);
    watch = ls;
    decommits = decommits_locked = 0;
    refuse_decommits = refuse;
    cr_assert_eq(talc_arena_realloc(a, p, small), p, "shrunk in place");
    watch = NULL;
    refuse_decommits = 0;
    cr_assert_eq(decommits, 1, "%u decommits", decommits);
    cr_assert_eq(decommits_locked, 0, "the stripe was locked for the madvise");
    for (size_t i = 0; i < small; i++)
        cr_assert_eq(p[i], 7, "byte %zu of the block", i);
    talc_stripe_lock(ls);
    char *tail = c + talc_hsize(talc_hdr(c));
    uint64_t w = talc_hdr(tail);
    talc_stripe_unlock(ls);
    cr_assert_not(w & TALC_F_USED, "the tail is a free chunk");
    cr_assert_eq((w & TALC_F_TRIMMED) != 0, above_used && !refuse,
                 "flagged trimmed (header %#llx) iff it did not merge with a free chunk above, "
                 "and its madvise worked",
                 (unsigned long long)w);
    watch_lo = tail + sizeof(talc_free_t);
    watch_hi = tail + talc_hsize(w) - TALC_HDR;
    decommits_in_range = 0;
    (void)talc_arena_trim(a);
    cr_assert_eq(decommits_in_range > 0, !above_used || refuse,
                 "a trim decommitted the tail %u times", decommits_in_range);
    watch_lo = watch_hi = NULL;
    if (pin) {
        talc_stripe_lock(ls);
        talc_heap_free(talc_stripe_heap(ls), pin);
        talc_stripe_unlock(ls);
    }
    talc_free(p);
    test_assert_empty(a);
}

Test(seg_keep, a_large_shrink_decommits_with_its_stripe_unlocked) { shrink_large(true, false); }

Test(seg_keep, a_large_shrink_merging_upwards_decommits_with_its_stripe_unlocked)
{
    shrink_large(false, false);
}

Test(seg_keep, a_large_shrink_whose_madvise_fails_leaves_the_tail_to_trims)
{
    shrink_large(true, true);
}
