/* test_trim_epoch.c — which segments a trim counts as done (arenas/trim.c): the ones it has
 * done, and the ones a trim begun after it has done. Two trims at once used to take turns
 * redoing one segment for as long as their holds of the stripe lock alternated, each
 * overwriting the other's mark (until 2026-12-05 a segment was done only if it carried the
 * trim's own epoch). Epochs are compared as serial numbers, so a counter that wraps (32-bit
 * targets, 2^32 trims) does not make every segment look done.
 * White-box: the test writes a segment's epoch and the arena's trim counter, as a concurrent
 * trim would, and reads what the next trim decommits.
 *
 * Concurrency: one thread.
 */
#include <criterion/criterion.h>

#include "../../arenas/arena_internal.h"
#include "arena_test.h"

#define BIG                                                                                        \
    ((size_t)200 << 10) /* inside one default segment, between two live blocks (below              \
                           TALC_LARGE_MIN: a stripe, not the large one) */

typedef struct pinned {
    talc_arena_t *a;
    void *pin1, *pin2;
    talc_seg_t *seg;
} pinned_t;

/* A one-stripe arena with a free chunk of about BIG bytes, written, in its only segment. */
static pinned_t pinned_hole(const char *name)
{
    pinned_t p = {.a = test_arena(name, 1)};
    p.pin1 = talc_arena_malloc(p.a, 200);
    unsigned char *b = talc_arena_malloc(p.a, BIG);
    p.pin2 = talc_arena_malloc(p.a, 200);
    cr_assert(p.pin1 && b && p.pin2);
    memset(b, 0x77, BIG);
    p.seg = talc_seg_of(b);
    cr_assert_not_null(p.seg);
    cr_assert_eq(p.seg->next, NULL, "one segment");
    talc_free(b);
    return p;
}

static void pinned_done(pinned_t *p)
{
    talc_free(p->pin1);
    talc_free(p->pin2);
    test_assert_empty(p->a);
}

Test(trim_epoch, a_segment_a_later_trim_has_done_is_done)
{
    pinned_t p = pinned_hole("later");
    size_t next = talc_atomic_load_relaxed_size(&p.a->trim_epochs) + 1u;
    p.seg->trim_epoch = next + 1u; /* a trim begun after the next one has finished it */
    cr_assert_eq(talc_arena_trim(p.a), 0, "done by the later trim: left alone");
    cr_assert_eq(p.seg->trim_epoch, next + 1u, "its mark kept");
    (void)talc_arena_trim(p.a); /* epoch next + 1: the mark's own trim */
    cr_assert_geq(talc_arena_trim(p.a), BIG - (64u << 10), "a trim begun after both does it");
    pinned_done(&p);
}

Test(trim_epoch, an_earlier_trims_mark_does_not_count)
{
    pinned_t p = pinned_hole("earlier");
    size_t next = talc_atomic_load_relaxed_size(&p.a->trim_epochs) + 1u;
    p.seg->trim_epoch = next - 1u;
    cr_assert_geq(talc_arena_trim(p.a), BIG - (64u << 10));
    cr_assert_eq(p.seg->trim_epoch, next);
    pinned_done(&p);
}

Test(trim_epoch, epochs_are_serial_numbers_across_a_wrap)
{
    pinned_t p = pinned_hole("wrap");
    talc_atomic_store_relaxed_size(&p.a->trim_epochs, SIZE_MAX - 1u); /* next: SIZE_MAX */
    p.seg->trim_epoch = SIZE_MAX - 9u;                                /* before it */
    size_t back = talc_arena_trim(p.a);
    cr_assert_geq(back, BIG - (64u << 10), "a mark from before the wrap point: trimmed");
    cr_assert_eq(p.seg->trim_epoch, SIZE_MAX);
    unsigned char *b = talc_arena_malloc(p.a, BIG); /* written again: something to trim */
    cr_assert_not_null(b);
    memset(b, 0x55, BIG);
    talc_free(b);
    p.seg->trim_epoch = 3u; /* after the wrap: a trim begun later than the next one (0 -> 1) */
    cr_assert_eq(talc_arena_trim(p.a), 0, "done by a trim after the wrap");
    p.seg->trim_epoch = 0u; /* never trimmed */
    cr_assert_geq(talc_arena_trim(p.a), BIG - (64u << 10), "a fresh segment is not done");
    pinned_done(&p);
}
