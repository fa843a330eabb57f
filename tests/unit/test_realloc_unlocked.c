/* test_realloc_unlocked.c — a realloc that moves a large block inside its stripe copies it
 * with no lock held (arenas/arena_alloc.c, talc_realloc_unlocked):
 *   - the copy runs with the stripe lock free, and the block arrives whole, in the same stripe,
 *     with the counters exact and the old block freed;
 *   - when the heap has no other chunk for it, the heap's own move still slides the block down
 *     into a free chunk below, in an arena that cannot grow.
 * White-box: one page inside the old block is made unreadable, so the copy faults there; the
 * SIGSEGV handler notes whether the stripe lock is free, makes the page readable again and
 * returns, and the copy goes on. Before 2026-12-05 the copy ran under the stripe lock (the
 * handler then saw it held).
 *
 * Concurrency: one thread (and its signal handler).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>

#include <criterion/criterion.h>

#include "../../arenas/arena_internal.h"
#include "arena_test.h"

#define BLOCK ((size_t)64 << 10) /* above TALC_REALLOC_UNLOCKED_COPY */
_Static_assert(BLOCK >= TALC_REALLOC_UNLOCKED_COPY, "a block the unlocked path copies");
/* (TALC_REALLOC_UNLOCKED_COPY = 0 turns it off: the first test then expects the lock held) */

static char *guard_page;
static talc_stripe_t *guard_stripe;
static volatile sig_atomic_t faults, lock_free_at_fault;
static struct sigaction previous;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *a = si->si_addr;
    if (!guard_page || a < guard_page || a >= guard_page + page) {
        sigaction(SIGSEGV, &previous, NULL); /* not ours: the fault happens again, unhandled */
        (void)sig;
        return;
    }
    faults++;
    lock_free_at_fault = talc_mutex_is_free(&guard_stripe->lock);
    mprotect(guard_page, page, PROT_READ | PROT_WRITE);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31u + seed);
}

static bool same(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31u + seed))
            return false;
    return true;
}

Test(realloc_unlocked, a_large_move_inside_the_stripe_copies_with_no_lock_held)
{
    talc_arena_t *a = test_arena("copy", 1);
    unsigned char *p = talc_arena_malloc(a, BLOCK), *above = talc_arena_malloc(a, BLOCK);
    cr_assert(p && above);
    cr_assert_eq(talc_seg_of(p), talc_seg_of(above), "both in the first segment");
    fill(p, BLOCK, 7);
    talc_arena_stats_t before = test_stats(a);

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    guard_stripe = talc_seg_of(p)->stripe;
    guard_page = (char *)(((uintptr_t)p + BLOCK / 2) & ~(uintptr_t)(page - 1));
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, &previous), 0);
    cr_assert_eq(mprotect(guard_page, page, PROT_NONE), 0);

    /* the block above is live: the block moves, and the segment has room for it */
    unsigned char *q = talc_arena_realloc(a, p, 2 * BLOCK);
    sigaction(SIGSEGV, &previous, NULL);
    guard_page = NULL;

    cr_assert_not_null(q);
    cr_assert_neq(q, p, "moved");
    cr_assert_eq(faults, 1, "the copy read the unreadable page once");
#if TALC_REALLOC_UNLOCKED_COPY > 0
    cr_assert(lock_free_at_fault, "the copy ran with the stripe lock held");
#else /* turned off: every copy is made under the lock */
    cr_assert_not(lock_free_at_fault);
#endif
    cr_assert(talc_mutex_is_free(&guard_stripe->lock));
    cr_assert_eq(talc_seg_of(q)->stripe, guard_stripe, "a move inside the stripe");
    cr_assert(same(q, BLOCK, 7), "the block arrived whole");
#if TALC_COUNTERS /* (built without them, the stripes count nothing) */
    talc_arena_stats_t after = test_stats(a);
    cr_assert_eq(after.live_allocs, before.live_allocs);
    cr_assert_eq(after.live_bytes, before.live_bytes + BLOCK);
    cr_assert_eq(after.reallocs, before.reallocs + 1);
    cr_assert_eq(after.allocs, before.allocs, "a realloc, not an allocation");
    cr_assert_eq(after.frees, before.frees);
#else
    (void)before;
#endif
    talc_free(q);
    talc_free(above);
    test_assert_empty(a);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

Test(realloc_unlocked, with_no_other_chunk_the_block_slides_down_in_an_arena_that_cannot_grow)
{
    talc_arena_config_t c = talc_arena_config_default("slide");
    c.stripes = 1;
    c.hard_budget = TEST_OS_SEGMENT; /* one segment, never a second */
    talc_arena_t *a = test_arena_cfg(&c);
    size_t third = TEST_OS_SEGMENT * 3 / 10;
    unsigned char *below = talc_arena_malloc(a, third), *p = talc_arena_malloc(a, third);
    cr_assert(below && p);
    cr_assert_gt(p, below);
    void *pins[4096];
    size_t npins = 0, pin = TEST_OS_SEGMENT / 1024; /* the rest of the segment: < 1024 pins */
    while (npins < 4096 && (pins[npins] = talc_arena_malloc(a, pin)) != NULL)
        npins++;
    cr_assert_lt(npins, 4096, "the arena filled up");
    fill(p, third, 3);
    talc_free(below);

    /* no free chunk of that size, nothing above: only the chunk below makes room */
    unsigned char *q = talc_arena_realloc(a, p, third * 5 / 3);
    cr_assert_not_null(q, "slid down into the chunk below");
    cr_assert_eq(q, below);
    cr_assert(same(q, third, 3));
    talc_free(q);
    for (size_t i = 0; i < npins; i++)
        talc_free(pins[i]);
    test_assert_empty(a);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}
