/* test_arena_trim.c — talc_arena_trim: kept empty segments unmapped, the whole pages inside
 * free chunks decommitted (and the chunks still sound: live blocks intact, memory reusable),
 * buffer arenas left alone, a free chunk's footer page kept, every chunk of a fragmented heap
 * decommitted across the trim's batches, a chunk trimmed once until it changes, and a trim
 * running while other threads allocate and free.
 *
 * Public API only; each test is its own process. */
#define _DEFAULT_SOURCE /* mincore */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "pattern.h"
#include "resident.h"

Test(arena_trim, unmaps_the_kept_empty_segments)
{
    talc_arena_t *a = test_arena("trim-kept", 1);
    size_t kept = test_empty_segments(a);
    size_t back = talc_arena_trim(a);
    cr_assert_geq(back, kept, "trim returned %zu of %zu kept bytes", back, kept);
    cr_assert_eq(test_stats(a).source_bytes, 0, "every empty segment went back");
    talc_arena_stats_t s = test_stats(a);
    cr_assert_eq(s.trims, 1);
    cr_assert_eq(s.trimmed_bytes, back, "the stats count what the trim returned");
    cr_assert_eq(talc_arena_trim(a), 0, "nothing left to give back");
    cr_assert_eq(test_stats(a).trims, 2);
    void *q = talc_arena_malloc(a, 100u << 10);
    cr_assert_not_null(q, "the arena grows again after a trim");
    talc_free(q);
    test_assert_empty(a);
}

Test(arena_trim, decommits_free_pages_and_keeps_the_heap_sound)
{
    talc_arena_t *a = test_arena("trim-pages", 1);
    size_t big = 200u << 10, small = 200; /* below TALC_LARGE_MIN: beside the pins */
    unsigned char *pin1 = talc_arena_malloc(a, small);
    unsigned char *b = talc_arena_malloc(a, big);
    unsigned char *pin2 = talc_arena_malloc(a, small);
    cr_assert(pin1 && b && pin2);
    test_pattern_fill(pin1, small, 1);
    test_pattern_fill(pin2, small, 2);
    memset(b, 0x77, big);
    size_t pages, in = test_resident_pages(b, big, true, &pages);
    cr_assert_eq(in, pages, "written: %zu of %zu pages resident", in, pages);
    talc_free(b); /* a free chunk of about 200 KiB in a segment the pins keep */
    size_t back = talc_arena_trim(a);
    cr_assert_geq(back, big - (64u << 10), "trim returned %zu bytes", back);
    in = test_resident_pages(b, big, true, &pages);
    cr_assert_leq(in, 2, "after trim: %zu of %zu pages resident", in, pages);
    cr_assert_eq(test_pattern_check(pin1, small, 1), small, "live block below intact");
    cr_assert_eq(test_pattern_check(pin2, small, 2), small, "live block above intact");
    unsigned char *c = talc_arena_malloc(a, big); /* the decommitted chunk serves again */
    cr_assert_not_null(c);
    test_pattern_fill(c, big, 3);
    cr_assert_eq(test_pattern_check(c, big, 3), big);
    unsigned char *z = talc_arena_calloc(a, 1, 4096);
    cr_assert_not_null(z);
    for (size_t i = 0; i < 4096; i++)
        cr_assert_eq(z[i], 0, "calloc after trim, byte %zu", i);
    talc_free(z);
    talc_free(c);
    talc_free(pin1);
    talc_free(pin2);
    test_assert_empty(a);
}

/* A trim gives a stripe's lock back every 64 madvise calls (arenas/trim.c) and goes on where
 * it stopped: with about 80 free chunks of three pages per segment, in several segments,
 * every chunk's whole inner pages must still be decommitted, and the live blocks between them
 * untouched. */
Test(arena_trim, decommits_every_chunk_of_a_fragmented_heap)
{
    talc_arena_t *a = test_arena("trim-many", 1);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), big = 3 * page, small = 100;
    size_t n = 4 * TEST_OS_SEGMENT / (big + small);
    unsigned char **b = calloc(n, sizeof *b), **pin = calloc(n, sizeof *pin);
    cr_assert(b && pin);
    for (size_t i = 0; i < n; i++) {
        b[i] = talc_arena_malloc(a, big);
        pin[i] = talc_arena_malloc(a, small);
        cr_assert(b[i] && pin[i], "block %zu", i);
        memset(b[i], 0x5a, big);
        test_pattern_fill(pin[i], small, (unsigned)i);
    }
    size_t inner = 0;
    for (size_t i = 0; i < n; i++) {
        size_t pages;
        (void)test_resident_pages(b[i] + 16, talc_usable_size(b[i]) - 24, true, &pages);
        inner += pages * page; /* below: the links' 16 bytes; above: the footer's 8 */
        talc_free(b[i]);
    }
    size_t back = talc_arena_trim(a);
    cr_assert_geq(back, inner, "trim returned %zu bytes of at least %zu", back, inner);
    cr_assert_eq(talc_arena_trim(a), 0, "a second trim: nothing new to give back");
    cr_assert_eq(test_stats(a).trimmed_bytes, back, "and nothing counted twice");
    for (size_t i = 0; i < n; i++) {
        errno = 0;
        size_t pages, in = test_resident_pages(b[i] + 16, big - 24, true, &pages);
        if (in == SIZE_MAX && errno == ENOMEM)
            in = 0; /* a block alone in its segment: the segment went back whole */
        cr_assert_eq(in, 0, "free chunk %zu of %zu: %zu of %zu inner pages resident", i, n, in,
                     pages);
        cr_assert_eq(test_pattern_check(pin[i], small, (unsigned)i), small, "pin %zu", i);
        talc_free(pin[i]);
    }
    test_assert_empty(a);
    free(b);
    free(pin);
}

/* A chunk that changed since the last trim is trimmed again: the free of a block between two
 * trimmed chunks makes one new chunk of all three. */
Test(arena_trim, a_chunk_that_changed_is_trimmed_again)
{
    talc_arena_t *a = test_arena("trim-again", 1);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), big = 4 * page;
    unsigned char *pin1 = talc_arena_malloc(a, 100), *x = talc_arena_malloc(a, big);
    unsigned char *mid = talc_arena_malloc(a, big), *y = talc_arena_malloc(a, big);
    unsigned char *pin2 = talc_arena_malloc(a, 100);
    cr_assert(pin1 && x && mid && y && pin2);
    memset(x, 1, big);
    memset(mid, 2, big);
    memset(y, 3, big);
    talc_free(x);
    talc_free(y);
    cr_assert_geq(talc_arena_trim(a), 2 * (big - 2 * page), "x's and y's inner pages");
    cr_assert_eq(talc_arena_trim(a), 0, "unchanged: nothing new");
    talc_free(mid); /* x, mid and y become one free chunk */
    size_t pages, in = test_resident_pages(mid, big, true, &pages);
    cr_assert_gt(in, 0, "mid's pages are resident before the trim");
    cr_assert_geq(talc_arena_trim(a), big - 2 * page, "the new chunk is trimmed");
    in = test_resident_pages(mid, big, true, &pages);
    cr_assert_eq(in, 0, "mid's %zu pages: %zu resident after the trim", pages, in);
    talc_free(pin1);
    talc_free(pin2);
    test_assert_empty(a);
}

/* A free chunk keeps the page that holds its footer, at its end: the block above reads the
 * footer when it is freed, to merge. Chunks start 8 bytes (the header) below a block, so with
 * 8-byte grains (32-bit targets) a chunk can end exactly at a page boundary, the case where
 * the page before the end holds the footer; with 16-byte grains it ends 8 bytes past one.
 * Layout: s, then x from the next chunk start to such an end two pages on or more, then g. */
Test(arena_trim, a_free_chunk_keeps_its_footer_page)
{
    static test_fault_log_t log;
    talc_set_fatal_handler(test_fault_record, &log);
    talc_arena_t *a = test_arena("trim-footer", 1);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), grain = _Alignof(max_align_t);
    unsigned char *s = talc_arena_malloc(a, 100);
    cr_assert_not_null(s);
    uintptr_t pos = (uintptr_t)s + talc_usable_size(s); /* where the next chunk starts */
    uintptr_t end = ((pos + page - 1) & ~(page - 1)) + 2 * page + (pos & (grain - 1));
    unsigned char *x = talc_arena_malloc(a, (size_t)(end - pos - 8));
    unsigned char *g = talc_arena_malloc(a, 100);
    cr_assert(x && g);
    cr_assert_eq((uintptr_t)x, pos + 8, "x follows s");
    cr_assert_eq((uintptr_t)x + talc_usable_size(x), end, "x's chunk ends %#lx, want %#lx",
                 (unsigned long)((uintptr_t)x + talc_usable_size(x)), (unsigned long)end);
    cr_assert_eq((uintptr_t)g, end + 8, "g's chunk starts there");
    test_pattern_fill(g, 100, 7);
    talc_free(x);
    cr_assert_geq(talc_arena_trim(a), page, "the whole pages inside x's chunk");
    talc_free(g); /* merges with x's chunk through its footer */
    talc_free(s);
    cr_assert_eq(log.calls, 0, "fault %d: %s", log.fault, log.what);
    talc_arena_trim(a);
    cr_assert_eq(test_stats(a).source_bytes, 0, "one free chunk again: the segment went back");
    test_assert_empty(a);
    talc_set_fatal_handler(NULL, NULL);
}

Test(arena_trim, leaves_a_buffer_arena_alone)
{
    size_t size = 4 * TEST_OS_SEGMENT;
    talc_arena_config_t cfg = test_buffer_config("trim-buffer", test_buffer_map(size, 0), size);
    talc_arena_t *a = test_arena_cfg(&cfg);
    size_t big = 600u << 10;
    unsigned char *pin = talc_arena_malloc(a, 64), *b = talc_arena_malloc(a, big);
    cr_assert(pin && b);
    memset(b, 0x33, big);
    talc_free(b);
    cr_assert_eq(talc_arena_trim(a), 0, "a caller's buffer is not given to the OS");
    size_t pages, in = test_resident_pages(b, big, true, &pages);
    cr_assert_eq(in, pages, "the buffer's pages stay: %zu of %zu", in, pages);
    talc_free(pin);
    test_assert_empty(a);
}

/* ---- Trim while other threads allocate and free -------------------------------------------*/

typedef struct churn {
    talc_arena_t *arena;
    atomic_bool *stop;
    unsigned seed;
    unsigned bad;
} churn_t;

static void *churn_main(void *arg)
{
    churn_t *c = arg;
    enum { SLOTS = 64 };
    void *slot[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    uint32_t key[SLOTS] = {0};
    unsigned r = c->seed;
    for (uint32_t n = 0; !atomic_load(c->stop); n++) {
        r = r * 1103515245u + 12345u;
        unsigned k = (r >> 8) % SLOTS;
        if (slot[k]) {
            if (test_pattern_check(slot[k], len[k], key[k]) != len[k])
                c->bad++;
            talc_free(slot[k]);
        }
        len[k] = ((r >> 4) % 4u == 0) ? 1u + (r >> 12) % (300u << 10) : 1u + (r >> 16) % 2000u;
        key[k] = n ^ c->seed;
        slot[k] = talc_arena_malloc(c->arena, len[k]);
        if (!slot[k]) {
            c->bad++;
            break;
        }
        test_pattern_fill(slot[k], len[k], key[k]);
    }
    for (unsigned k = 0; k < SLOTS; k++) {
        if (slot[k] && test_pattern_check(slot[k], len[k], key[k]) != len[k])
            c->bad++;
        talc_free(slot[k]);
    }
    return NULL;
}

Test(arena_trim, runs_while_other_threads_allocate)
{
    talc_arena_t *a = test_arena("trim-busy", 2);
    atomic_bool stop = false;
    churn_t c[2] = {{a, &stop, 7, 0}, {a, &stop, 9, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, churn_main, &c[i]), 0);
    for (int i = 0; i < 200; i++) {
        (void)talc_arena_trim(a);
        usleep(1000);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(pthread_join(t[i], NULL), 0);
        cr_assert_eq(c[i].bad, 0, "thread %d saw %u damaged blocks or failures", i, c[i].bad);
    }
    (void)talc_arena_trim(a);
    test_assert_empty(a);
}
