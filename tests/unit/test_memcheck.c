/* test_memcheck.c — the memcheck annotations of src/heap_poison.h, under valgrind in a
 * TALC_MEMCHECK build (CMake TALC_VALGRIND=ON): a new block is addressable and undefined, as
 * malloc's are; a freed one is not addressable past its links; a block resized in place keeps
 * its contents defined and only its new part is undefined, and so does one that realloc
 * moves or slides down; a calloc served from fresh OS memory is defined (zeros it did not
 * write); a block in a thread cache is not addressable until handed out again; memcheck
 * reports a read after free, a write past a block into a free neighbour and a branch on an
 * uninitialised byte of a block; and a wild free still reaches the fatal handler.
 *
 * The state is read with VALGRIND_GET_VBITS, which reports nothing. Registered only as
 * test_memcheck-valgrind: outside valgrind there is nothing to read (every test fails there).
 * Concurrency: single-threaded, but for the forked children of the tests that end one.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/memcheck.h>

#include "../common/arena_one.h"
#include "../common/heap_fixture.h"
#include "talc/arena.h"
#include "talc/heap.h"

static void need_valgrind(void)
{
    cr_assert(RUNNING_ON_VALGRIND, "run under valgrind (ctest: test_memcheck-valgrind)");
}

TestSuite(memcheck, .init = need_valgrind, .fini = test_buffers_free);

#define LINKS (2 * sizeof(void *)) /* a free chunk's list links, at the block's start */
#define FOOTER 8                   /* a free chunk's size, in its last 8 bytes */
#define NODE 16                    /* a thread cache's node, at a cached block's start */

/* Memcheck's state of [p, p + n): 'a' all addressable, 'x' one byte or more not; and for an
 * addressable range whether its bytes are all defined (*def = 1), all undefined (0), or
 * mixed (-1). */
static char vstate(const void *p, size_t n, int *def)
{
    static unsigned char bits[1 << 16];
    cr_assert_leq(n, sizeof bits);
    unsigned rc = VALGRIND_GET_VBITS(p, bits, n);
    cr_assert(rc == 1 || rc == 3, "VALGRIND_GET_VBITS: %u", rc);
    if (rc == 3)
        return 'x';
    size_t undef = 0;
    for (size_t i = 0; i < n; i++)
        undef += bits[i] == 0xff;
    *def = undef == 0 ? 1 : undef == n ? 0 : -1;
    return 'a';
}

static void assert_undefined(const void *p, size_t n, const char *what)
{
    int def = 2;
    cr_assert_eq(vstate(p, n, &def), 'a', "%s: not all addressable", what);
    cr_assert_eq(def, 0, "%s: not all undefined (%d)", what, def);
}

static void assert_defined(const void *p, size_t n, const char *what)
{
    int def = 2;
    cr_assert_eq(vstate(p, n, &def), 'a', "%s: not all addressable", what);
    cr_assert_eq(def, 1, "%s: not all defined (%d)", what, def);
}

/* No byte of [p, p + n) is addressable. */
static void assert_noaccess(const char *p, size_t n, const char *what)
{
    int def = 2;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(vstate(p + i, 1, &def), 'x', "%s: byte %zu of %zu addressable", what, i, n);
}

static talc_heap_t *memcheck_heap(void)
{
    test_faults.count = 0;
    talc_heap_opts_t o = test_opts("memcheck-heap");
    return test_heap(64 << 10, &o);
}

Test(memcheck, a_new_block_is_addressable_and_undefined)
{
    talc_heap_t *h = memcheck_heap();
    char *p = talc_heap_alloc(h, 100);
    cr_assert_not_null(p);
    assert_undefined(p, talc_heap_usable_size(h, p), "a new block");
    memset(p, 1, 100);
    assert_defined(p, 100, "written");
    talc_heap_free(h, p);
    char *q = talc_heap_alloc(h, 100);
    cr_assert_eq(q, p, "the same memory again");
    assert_undefined(q, talc_heap_usable_size(h, q), "a block over a freed one");
    talc_heap_free(h, q);
    cr_assert_eq(test_faults.count, 0);
}

Test(memcheck, a_freed_block_is_not_addressable_past_its_links)
{
    talc_heap_t *h = memcheck_heap();
    char *p = talc_heap_alloc(h, 256);
    char *guard = talc_heap_alloc(h, 32); /* p's chunk stays alone: no merge with the top */
    cr_assert(p && guard);
    size_t n = talc_heap_usable_size(h, p);
    talc_heap_free(h, p);
    assert_noaccess(p + LINKS, n - LINKS - FOOTER, "freed");
    talc_heap_free(h, guard);
    cr_assert_eq(test_faults.count, 0);
}

/* Until 2026-12-07 a resize made the whole new extent addressable anew: harmless for ASan,
 * but memcheck would have taken the block's contents for undefined. */
Test(memcheck, a_block_resized_in_place_keeps_its_contents_defined)
{
    talc_heap_t *h = memcheck_heap();
    char *p = talc_heap_alloc(h, 64);
    cr_assert_not_null(p);
    size_t old = talc_heap_usable_size(h, p);
    memset(p, 7, old);
    cr_assert(talc_heap_resize_in_place(h, p, 1000), "grows into the free chunk above");
    size_t grown = talc_heap_usable_size(h, p);
    assert_defined(p, old, "the old contents");
    assert_undefined(p + old, grown - old, "what it grew into");
    cr_assert(talc_heap_resize_in_place(h, p, 40), "shrinks");
    assert_defined(p, 40, "the contents kept");
    cr_assert_eq(p[39], 7);
    talc_heap_free(h, p);
    cr_assert_eq(test_faults.count, 0);
}

/* A block that moves keeps what memcheck knew of its contents (the copy carries it), and what
 * it grew by is undefined. */
Test(memcheck, a_block_moved_by_realloc_keeps_its_contents_defined)
{
    talc_heap_t *h = memcheck_heap();
    char *p = talc_heap_alloc(h, 64);
    char *wall = talc_heap_alloc(h, 32); /* p cannot grow in place */
    cr_assert(p && wall);
    cr_assert_gt(talc_heap_usable_size(h, p), 40);
    memset(p, 5, 40); /* the rest of p stays undefined */
    char *q = talc_heap_realloc(h, p, 3000);
    cr_assert(q && q != p, "moved");
    assert_defined(q, 40, "the written contents");
    assert_undefined(q + 40, talc_heap_usable_size(h, q) - 40, "the unwritten part and the growth");
    talc_heap_free(h, q);
    talc_heap_free(h, wall);
    cr_assert_eq(test_faults.count, 0);
}

Test(memcheck, a_calloc_from_fresh_os_memory_is_defined)
{
    talc_arena_t *a = test_arena_one("memcheck-calloc", TALC_TCACHE_OFF);
    size_t n = 60000; /* the arena's first block: from a fresh OS segment, not cleared */
    unsigned char *p = talc_arena_calloc(a, 1, n);
    cr_assert_not_null(p);
    assert_defined(p, n, "calloc's zeros");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(p[i], 0);
    talc_free(p);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

Test(memcheck, a_cached_block_is_not_addressable_until_handed_out_again)
{
    talc_arena_t *a = test_arena_one("memcheck-cache", TALC_TCACHE_ON);
    char *p = talc_arena_malloc(a, 100);
    cr_assert_not_null(p);
    size_t n = talc_usable_size(p);
    assert_undefined(p, n, "allocated");
    memset(p, 3, n);
    talc_free(p);
    assert_noaccess(p + NODE, n - NODE, "cached");
    char *q = talc_arena_malloc(a, 100);
    cr_assert_eq(q, p, "the cached block again");
    assert_undefined(q, n, "handed out again");
    talc_free(q);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

/* Runs error() in a child, which then exits: true if memcheck stopped the child for the
 * error (the suite runs valgrind with --exit-on-first-error and --error-exitcode=99,
 * cmake/TalcTests.cmake) or counted one (without those options the child exits 5), false if
 * the error went unseen. */
static bool caught_in_child(void (*error)(void))
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        error();
        _exit(VALGRIND_COUNT_ERRORS > 0 ? 5 : 4);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "the child died of a signal (status %d)", st);
    return WEXITSTATUS(st) == 99 || WEXITSTATUS(st) == 5;
}

static void read_after_free(void)
{
    talc_heap_t *h = memcheck_heap();
    volatile char *p = talc_heap_alloc(h, 256);
    char *guard = talc_heap_alloc(h, 32); /* p's chunk stays alone */
    talc_heap_free(h, (void *)(uintptr_t)p);
    char x = p[64];
    (void)x;
    (void)guard;
}

Test(memcheck, a_read_after_free_is_reported)
{
    cr_assert(caught_in_child(read_after_free), "the read after free went unreported");
}

static void write_past_into_a_free_neighbour(void)
{
    talc_heap_t *h = memcheck_heap();
    char *p = talc_heap_alloc(h, 100);
    char *q = talc_heap_alloc(h, 200);
    char *guard = talc_heap_alloc(h, 32);
    talc_heap_free(h, q); /* p's neighbour above is free now */
    size_t n = talc_heap_usable_size(h, p);
    volatile char *v = p;
    v[n + 8 + LINKS + 8] = 1; /* past q's header and links, inside its free chunk */
    (void)guard;
}

Test(memcheck, a_write_past_a_block_into_a_free_neighbour_is_reported)
{
    cr_assert(caught_in_child(write_past_into_a_free_neighbour),
              "the overrun into a free chunk went unreported");
}

static void branch_on_an_uninitialised_byte(void)
{
    talc_arena_config_t c = talc_arena_config_default("memcheck-uninit");
    c.thread_cache = TALC_TCACHE_ON;
    talc_arena_t *a = talc_arena_create(&c);
    char *p = a ? talc_arena_malloc(a, 64) : NULL;
    talc_free(p);
    volatile char *q = talc_arena_malloc(a, 64); /* from the thread cache */
    if (q && q[10] == 42)
        _exit(3);
}

Test(memcheck, a_branch_on_an_uninitialised_byte_is_reported)
{
    cr_assert(caught_in_child(branch_on_an_uninitialised_byte),
              "the use of an uninitialised byte went unreported");
}

/* A block that slides down into the free chunk below (talc_grow_down: nothing else fits)
 * keeps its contents defined, and what it grew by is undefined, as after any other move: the
 * old block's last bytes lie there past the copy, and until 2026-12-07 kept their definedness
 * (a branch on them went unreported; found by a review). Both orders: a chunk below larger
 * than the block, and one smaller. */
static void slide_down(size_t below, size_t size, size_t grown)
{
    test_faults.count = 0;
    talc_heap_opts_t o = test_opts("memcheck-slide");
    o.shrink_in_place = true;
    talc_heap_t *h = test_heap(talc_heap_footprint() + 16384, &o);
    char *x = talc_heap_alloc(h, 48);
    char *a = talc_heap_alloc(h, below);
    char *b = talc_heap_alloc(h, size);
    char *wall = talc_heap_alloc(h, 64);
    cr_assert(x && a && b && wall);
    for (size_t n = 8192; n > 0;) /* fill the heap: the realloc must slide down */
        if (!talc_heap_alloc(h, n))
            n /= 2;
    size_t old = talc_heap_usable_size(h, b);
    memset(b, 9, old);
    talc_heap_free(h, a);
    char *q = talc_heap_realloc(h, b, grown);
    cr_assert(q && q < b, "slid down (%zu below, %zu -> %zu)", below, size, grown);
    assert_defined(q, old, "the contents");
    assert_undefined(q + old, grown - old, "what it grew by");
    cr_assert_eq(q[old - 1], 9);
    HEAP_OK(h);
    cr_assert_eq(test_faults.count, 0);
}

Test(memcheck, a_block_slid_down_by_realloc_has_its_growth_undefined)
{
    slide_down(200, 100, 250);
    slide_down(48, 1000, 1030);
    slide_down(2000, 2000, 3900);
}

static void exit_from_handler(const talc_fault_info_t *info, void *ctx)
{
    (void)ctx;
    _exit(info->fault == TALC_FAULT_BAD_POINTER ? 6 : 7);
}

/* free of a pointer into the middle of a new block, whose "header" is bytes the program never
 * wrote: the arena's reads of it are unchecked, and so must be its branches on what they read
 * (until 2026-12-07 memcheck reported "Conditional jump or move depends on uninitialised
 * value(s)" in talc_tc_plausible and talc_chunk_in_seg, and with --exit-on-first-error ended
 * the process before the fatal handler; found by a review). With caches and without. */
static void wild_free_reaches_the_handler(talc_tcache_mode_t tc)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        talc_set_fatal_handler(exit_from_handler, NULL);
        talc_arena_config_t c = talc_arena_config_default("memcheck-wild");
        c.thread_cache = tc;
        c.stripes = 1;
        talc_arena_t *a = talc_arena_create(&c);
        char *p = a ? talc_arena_malloc(a, 300) : NULL;
        if (!p)
            _exit(3);
        talc_free(p + 64); /* 8 bytes below it are undefined */
        _exit(4);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "the child died of a signal (status %d)", st);
    cr_assert_eq(WEXITSTATUS(st), 6,
                 "the fatal handler was not reached (exit code %d; 99: memcheck)", WEXITSTATUS(st));
}

Test(memcheck, a_wild_free_into_an_uninitialised_block_reaches_the_fatal_handler)
{
    wild_free_reaches_the_handler(TALC_TCACHE_ON);
    wild_free_reaches_the_handler(TALC_TCACHE_OFF);
}
