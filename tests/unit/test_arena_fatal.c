/* test_arena_fatal.c — the fatal path (talc/arena.h, talc_set_fatal_handler): pointers no
 * arena owns (stack, static, libc heap, a destroyed arena's block) passed to talc_free,
 * talc_realloc and talc_usable_size abort by default and, with a handler, are reported as
 * "unowned" with their address and never reach a heap; double frees and pointers into the
 * middle of a block are reported with the owning arena's name. The handler runs with no lock
 * held (it may allocate, read stats or longjmp out), and a block overrun while it was cached
 * is reported when the cache gives it back; a handler allocating from the list being given
 * back gets a block still cached.
 *
 * Public API only; each test is its own process. */
#define _GNU_SOURCE /* cpu_pin.h */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "cpu_pin.h"

static char a_static[256];

/* ---- Default: abort -----------------------------------------------------------------------*/

Test(arena_fatal, free_of_stack_pointer_aborts, .signal = SIGABRT)
{
    char local[64];
    talc_free(local + 16);
}

Test(arena_fatal, free_of_static_pointer_aborts, .signal = SIGABRT) { talc_free(a_static); }

Test(arena_fatal, free_of_libc_pointer_aborts, .signal = SIGABRT)
{
    void *p = malloc(100);
    cr_assert_not_null(p);
    talc_free(p);
}

Test(arena_fatal, double_free_aborts, .signal = SIGABRT)
{
    talc_arena_t *a = test_arena("twice", 1);
    void *keep = talc_arena_malloc(a, 64);
    void *p = talc_arena_malloc(a, 64);
    talc_free(p);
    talc_free(p);
    talc_free(keep);
}

Test(arena_fatal, realloc_of_unowned_pointer_aborts, .signal = SIGABRT)
{
    void *p = talc_arena_realloc(NULL, a_static, 10);
    cr_assert_fail("returned %p", p);
}

Test(arena_fatal, usable_size_of_unowned_pointer_aborts, .signal = SIGABRT)
{
    size_t n = talc_usable_size(a_static + 32);
    cr_assert_fail("returned %zu", n);
}

Test(arena_fatal, restoring_the_default_handler_aborts_again, .signal = SIGABRT)
{
    static test_fault_log_t log;
    talc_set_fatal_handler(test_fault_record, &log);
    talc_free(a_static);
    cr_assert_eq(log.calls, 1);
    talc_set_fatal_handler(NULL, NULL);
    talc_free(a_static);
}

/* ---- With a handler -----------------------------------------------------------------------*/

static test_fault_log_t rec;

static void install(void)
{
    memset(&rec, 0, sizeof rec);
    talc_set_fatal_handler(test_fault_record, &rec);
}

static void expect(int calls, talc_fault_t fault, const char *arena, const void *addr)
{
    cr_assert_eq(rec.calls, calls, "handler calls %d, expected %d", rec.calls, calls);
    cr_assert_eq(rec.fault, fault, "fault %d, expected %d (%s)", rec.fault, fault, rec.what);
    cr_assert_str_eq(rec.arena, arena);
    cr_assert_eq(rec.addr, addr, "address %p, expected %p", rec.addr, addr);
}

Test(arena_fatal, unowned_pointers_are_reported_with_their_address)
{
    install();
    char local[64];
    void *libc = malloc(100);
    void *cases[] = {local + 16, a_static, a_static + 100, libc, (void *)(uintptr_t)64};
    int calls = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        talc_free(cases[i]);
        expect(++calls, TALC_FAULT_BAD_POINTER, "unowned", cases[i]);
        errno = 0;
        cr_assert_null(talc_arena_realloc(NULL, cases[i], 10));
        cr_assert_eq(errno, EINVAL, "the handler returned: realloc fails with EINVAL");
        expect(++calls, TALC_FAULT_BAD_POINTER, "unowned", cases[i]);
        cr_assert_eq(talc_usable_size(cases[i]), 0);
        expect(++calls, TALC_FAULT_BAD_POINTER, "unowned", cases[i]);
    }
    free(libc);
    cr_assert_eq(test_stats(talc_arena_default()).frees, 0, "nothing reached a heap");
    talc_set_fatal_handler(NULL, NULL);
}

Test(arena_fatal, double_free_names_the_arena)
{
    install();
    talc_arena_t *a = test_arena("doubled", 2);
    void *before = talc_arena_malloc(a, 64);
    void *p = talc_arena_malloc(a, 64);
    void *after = talc_arena_malloc(a, 64);
    talc_free(p);
    talc_arena_stats_t s = test_stats(a);
    talc_free(p);
    expect(1, TALC_FAULT_DOUBLE_FREE, "doubled", p);
    talc_arena_stats_t s2 = test_stats(a);
    cr_assert_eq(s2.frees, s.frees, "the second free changed nothing");
    cr_assert_eq(s2.live_allocs, s.live_allocs);
    /* the arena still works, and the neighbours are intact */
    void *q = talc_arena_malloc(a, 64);
    cr_assert_not_null(q);
    talc_free(before);
    talc_free(after);
    talc_free(q);
    cr_assert_eq(rec.calls, 1);
    test_assert_empty(a);
    talc_set_fatal_handler(NULL, NULL);
}

/* realloc and usable_size of a freed block say so too, also when a thread cache holds it
 * (found 2026-12-04: they reported a bad pointer there). The neighbours stay allocated. */
static void freed_block_is_reported_as_freed(talc_tcache_mode_t tc)
{
    install();
    talc_arena_config_t c = talc_arena_config_default("freed");
    c.stripes = 1;
    c.thread_cache = tc;
    talc_arena_t *a = test_arena_cfg(&c);
    void *before = talc_arena_malloc(a, 64), *p = talc_arena_malloc(a, 64);
    void *after = talc_arena_malloc(a, 64);
    talc_free(p);
    cr_assert_eq(talc_usable_size(p), 0);
    expect(1, TALC_FAULT_DOUBLE_FREE, "freed", p);
    errno = 0;
    cr_assert_null(talc_arena_realloc(a, p, 200));
    cr_assert_eq(errno, EINVAL);
    expect(2, TALC_FAULT_DOUBLE_FREE, "freed", p);
    talc_free(p);
    expect(3, TALC_FAULT_DOUBLE_FREE, "freed", p);
    talc_free(before);
    talc_free(after);
    talc_thread_cache_flush();
    test_assert_empty(a);
    talc_set_fatal_handler(NULL, NULL);
}

Test(arena_fatal, realloc_and_usable_size_of_a_freed_block_report_it)
{
    freed_block_is_reported_as_freed(TALC_TCACHE_OFF);
}

Test(arena_fatal, realloc_and_usable_size_of_a_cached_freed_block_report_it)
{
    freed_block_is_reported_as_freed(TALC_TCACHE_ON);
}

Test(arena_fatal, pointer_into_a_block_names_the_arena)
{
    install();
    talc_arena_t *a = test_arena("middle", 1);
    unsigned char *p = talc_arena_calloc(a, 1, 256);
    cr_assert_not_null(p);
    unsigned char *mid = p + 64; /* aligned like a block, but inside one */
    talc_free(mid);
    cr_assert_eq(rec.calls, 1);
    cr_assert_eq(rec.fault, TALC_FAULT_BAD_POINTER, "fault %d (%s)", rec.fault, rec.what);
    cr_assert_str_eq(rec.arena, "middle");
    cr_assert_eq(rec.addr, mid);
    talc_free(p + 1); /* not even aligned */
    cr_assert_eq(rec.calls, 2);
    cr_assert_str_eq(rec.arena, "middle");
    cr_assert_eq(rec.addr, p + 1);
    cr_assert_geq(talc_usable_size(p), 256, "the block is still live");
    cr_assert_eq(talc_arena_of(p), a);
    talc_free(p);
    cr_assert_eq(rec.calls, 2, "the real free is fine");
    test_assert_empty(a);
    talc_set_fatal_handler(NULL, NULL);
}

/* free(o->data) instead of free(o), where the word in front of data holds a small number:
 * eight bytes of user data that read as an allocated chunk's header of a plausible size. The
 * thread cache's free reads that header alone; the slack bits it stores encoded make them
 * fail (found 2026-12-05: the cache took the pointer, wrote its mark into o->len, and gave the
 * memory out again while o lived). With and without a thread cache, for the sizes such a
 * number could claim. */
static void interior_free(talc_tcache_mode_t mode, const char *name)
{
    install();
    talc_arena_config_t c = talc_arena_config_default(name);
    c.thread_cache = mode;
    talc_arena_t *a = test_arena_cfg(&c);
    static const size_t lens[] = {49, 50, 157, 1417, 4001}; /* odd: "allocated" headers */
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t len = lens[k];
        struct obj {
            size_t refs, len;
            unsigned char data[4096];
        } *o = talc_arena_malloc(a, sizeof *o);
        cr_assert_not_null(o);
        o->refs = 1;
        o->len = len;
        memset(o->data, 'x', sizeof o->data);
        int before = rec.calls;
        talc_free(o->data);
        cr_assert_eq(rec.calls, before + 1, "len %zu: the free is reported", len);
        cr_assert_eq(rec.fault, TALC_FAULT_BAD_POINTER, "fault %d (%s)", rec.fault, rec.what);
        cr_assert_str_eq(rec.arena, name);
        cr_assert_eq(rec.addr, o->data);
        cr_assert_eq(o->len, len, "the object is not written");
        void *q[4];
        for (int i = 0; i < 4; i++) {
            q[i] = talc_arena_malloc(a, len);
            cr_assert(q[i] != (void *)o->data, "the live object's memory given out");
        }
        for (int i = 0; i < 4; i++)
            talc_free(q[i]);
        talc_free(o);
    }
    talc_thread_cache_flush();
    test_assert_empty(a);
    talc_set_fatal_handler(NULL, NULL);
}

Test(arena_fatal, free_of_a_member_is_reported_with_a_thread_cache)
{
    interior_free(TALC_TCACHE_ON, "member-tc");
}

Test(arena_fatal, free_of_a_member_is_reported_without_a_thread_cache)
{
    interior_free(TALC_TCACHE_OFF, "member");
}

/* Pointers whose "header" would send the heap outside the block's segment: the segment's
 * first byte (its header would lie below the segment), and a pointer into a block behind
 * eight bytes that claim a live chunk as large as the whole span (its end, and the header
 * above it, past the segment). Both are reported, and nothing is read there. */
Test(arena_fatal, pointer_whose_header_leaves_the_segment_names_the_arena)
{
    install();
    talc_arena_t *a = test_arena("edges", 1);
    unsigned char *p = talc_arena_calloc(a, 1, 256);
    cr_assert_not_null(p);
    void *seg = (void *)((uintptr_t)p & ~(((uintptr_t)1 << TALC_PAGEMAP_SHIFT) - 1u));
    cr_assert_eq(talc_arena_of(seg), a, "the block's first granule starts its segment");
    talc_free(seg);
    expect(1, TALC_FAULT_BAD_POINTER, "edges", seg);
    cr_assert_eq(talc_usable_size(seg), 0);
    expect(2, TALC_FAULT_BAD_POINTER, "edges", seg);
    cr_assert_null(talc_arena_realloc(NULL, seg, 10));
    expect(3, TALC_FAULT_BAD_POINTER, "edges", seg);

    uint64_t fake = (uint64_t)(test_stats(a).managed_bytes & ~(size_t)63) | 1u; /* USED */
    memcpy(p + 64, &fake, sizeof fake);
    talc_free(p + 72);
    expect(4, TALC_FAULT_BAD_POINTER, "edges", p + 72);
    cr_assert_eq(talc_usable_size(p + 72), 0);
    expect(5, TALC_FAULT_BAD_POINTER, "edges", p + 72);
    errno = 0;
    cr_assert_null(talc_arena_realloc(NULL, p + 72, 10));
    cr_assert_eq(errno, EINVAL, "not a live block: realloc fails with EINVAL");
    expect(6, TALC_FAULT_BAD_POINTER, "edges", p + 72);

    cr_assert_geq(talc_usable_size(p), 256, "the block is still live");
    talc_free(p);
    cr_assert_eq(rec.calls, 6);
    test_assert_empty(a);
    talc_set_fatal_handler(NULL, NULL);
}

Test(arena_fatal, destroyed_arena_blocks_are_unowned)
{
    install();
    talc_arena_t *a = test_arena("gone", 1);
    void *p = talc_arena_malloc(a, 100);
    cr_assert_eq(talc_arena_destroy(a, TALC_DESTROY_RELEASE_ALL), 0);
    talc_free(p);
    expect(1, TALC_FAULT_BAD_POINTER, "unowned", p);
    talc_set_fatal_handler(NULL, NULL);
}

/* ---- The handler runs with no lock held ----------------------------------------------------
 * A stripe's heap finds a bad pointer while the stripe lock is held; the handler runs once the
 * lock is free, before the call returns (arenas/fatal.c). Before 2026-12-04 it ran under the
 * lock: a handler that allocated from the arena or read its stats hung on its own thread's
 * lock, and one that longjmp'd out left the lock held. A hang fails by the timeout. */

typedef struct busy_log {
    talc_arena_t *arena;
    int calls, allocated;
    const void *addr;
    size_t live_allocs;
} busy_log_t;

static void busy_handler(const talc_fault_info_t *info, void *ctx)
{
    busy_log_t *b = ctx;
    b->calls++;
    b->addr = info->address;
    void *q = talc_arena_malloc(b->arena, 200000); /* above any cached size: a stripe's lock */
    b->allocated += q != NULL;
    talc_arena_stats_t st;
    cr_assert_eq(talc_arena_get_stats(b->arena, &st), 0);
    b->live_allocs = st.live_allocs;
    talc_free(q);
}

static void handler_uses_the_arena(talc_tcache_mode_t tc)
{
    talc_arena_config_t c = talc_arena_config_default("busy");
    c.stripes = 1;
    c.thread_cache = tc;
    talc_arena_t *a = test_arena_cfg(&c);
    busy_log_t b = {.arena = a};
    talc_set_fatal_handler(busy_handler, &b);
    unsigned char *keep = talc_arena_calloc(a, 1, 100000);
    unsigned char *p = talc_arena_malloc(a, 100000);
    cr_assert(keep && p);
    talc_free(p);
    talc_free(p); /* a double free, found by the heap */
    cr_assert_eq(b.calls, 1);
    cr_assert_eq(b.addr, p);
    talc_free(keep + 64); /* a pointer into a block */
    cr_assert_eq(talc_usable_size(keep + 64), 0);
    cr_assert_null(talc_arena_realloc(a, keep + 64, 10));
    cr_assert_eq(b.calls, 4);
    cr_assert_eq(b.addr, keep + 64);
    cr_assert_eq(b.allocated, 4, "every allocation in the handler succeeded");
#if TALC_COUNTERS
    cr_assert_eq(b.live_allocs, 2, "the handler's stats: keep and its own block");
#endif
    talc_set_fatal_handler(NULL, NULL);
    talc_free(keep);
    test_assert_empty(a);
}

Test(arena_fatal, handler_may_allocate_and_read_stats, .timeout = 60)
{
    handler_uses_the_arena(TALC_TCACHE_OFF);
}

Test(arena_fatal, handler_may_allocate_and_read_stats_with_caches, .timeout = 60)
{
    handler_uses_the_arena(TALC_TCACHE_ON);
}

static jmp_buf escape;

static void jumping_handler(const talc_fault_info_t *info, void *ctx)
{
    (void)info;
    (void)ctx;
    longjmp(escape, 1);
}

Test(arena_fatal, handler_may_longjmp_out, .timeout = 60)
{
    talc_arena_t *a = test_arena("jump", 1);
    void *keep = talc_arena_malloc(a, 64);
    void *p = talc_arena_malloc(a, 64);
    talc_free(p);
    talc_set_fatal_handler(jumping_handler, NULL);
    volatile int jumped = 0;
    if (setjmp(escape) == 0)
        talc_free(p);
    else
        jumped = 1;
    talc_set_fatal_handler(NULL, NULL);
    cr_assert_eq(jumped, 1);
    void *q = talc_arena_malloc(a, 64); /* the stripe's lock is free */
    cr_assert_not_null(q);
    talc_free(q);
    talc_free(keep);
    test_assert_empty(a);
}

#if TALC_TCACHE /* a build without thread caches has nothing to overrun while cached */
/* A block overrun while it waits in a thread cache: the cached free reads only the block's own
 * header, so a one-byte overrun into the next header's flags (PREV_FREE) is found when the
 * cache gives the block back. It is reported once, naming the arena and the block, and stays
 * out of use; the live figures do not change (before 2026-12-04 its bytes were counted live
 * again). */
typedef struct overrun {
    void *warm;
    char *x, *y;
    size_t usable;
} overrun_t;

/* Two neighbouring cached-size blocks x < y of arena a (one fill), after a first block that
 * gives the thread's slot a home (its frees are kept). */
static overrun_t neighbours(talc_arena_t *a)
{
    overrun_t o = {.warm = talc_arena_malloc(a, 8)};
    o.x = talc_arena_malloc(a, 5000);
    o.y = talc_arena_malloc(a, 5000);
    cr_assert(o.warm && o.x && o.y);
    if (o.x > o.y) {
        char *t = o.x;
        o.x = o.y;
        o.y = t;
    }
    o.usable = talc_usable_size(o.x);
    cr_assert_eq((size_t)(o.y - o.x), o.usable + 8, "the two blocks of one fill are neighbours");
    return o;
}

/* x overruns into y's header, then is freed into the thread's cache. */
static overrun_t overrun_and_cache(talc_arena_t *a)
{
    overrun_t o = neighbours(a);
    o.x[o.usable] |= 2; /* the low byte of y's header: PREV_FREE */
    talc_free(o.x);
    return o;
}

static void overrun_repair(overrun_t *o)
{
    o->x[o->usable] &= (char)~2; /* x itself stays out of use */
    talc_free(o->y);
    talc_free(o->warm);
}

Test(arena_fatal, block_overrun_while_cached_is_reported_at_give_back, .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("overrun");
    overrun_t o = overrun_and_cache(a);
    cr_assert_eq(rec.calls, 0, "the cached free does not read the next header (%s)", rec.what);
    talc_arena_stats_t s = test_stats(a);
    talc_thread_cache_flush();
    /* With TALC_DEBUG >= 3 the heap's check after the call finds the damaged header in the
     * same critical section: one more report, saying there were more faults. */
    cr_assert_eq(rec.calls, TALC_DEBUG >= 3 ? 2 : 1);
    cr_assert_eq(rec.first_fault, TALC_FAULT_BAD_POINTER);
    cr_assert_eq(rec.first_addr, o.x);
    cr_assert_str_eq(rec.arena, "overrun");
    talc_arena_stats_t s2 = test_stats(a);
    cr_assert_eq(s2.live_allocs, s.live_allocs);
    cr_assert_eq(s2.live_bytes, s.live_bytes, "%zu live bytes, %zu before", s2.live_bytes,
                 s.live_bytes);
    overrun_repair(&o);
    cr_assert_eq(rec.calls, TALC_DEBUG >= 3 ? 2 : 1, "no fault after the repair");
    talc_set_fatal_handler(NULL, NULL);
}

/* The give-back above runs under the thread caches' registry lock as well as the stripe's; the
 * report waits for both. This handler's allocation from an arena its thread has not cached for
 * yet takes that registry lock. */
static void caching_handler(const talc_fault_info_t *info, void *ctx)
{
    busy_log_t *b = ctx;
    if (b->calls++ == 0)
        b->addr = info->address;
    void *q = talc_arena_malloc(b->arena, 64);
    b->allocated += q != NULL;
    talc_free(q);
}

Test(arena_fatal, handler_after_a_give_back_may_use_another_cached_arena, .timeout = 60)
{
    talc_arena_t *a = test_cached_arena("overrun2");
    busy_log_t b = {.arena = test_cached_arena("fresh")};
    overrun_t o = overrun_and_cache(a);
    talc_set_fatal_handler(caching_handler, &b);
    talc_thread_cache_flush();
    talc_set_fatal_handler(NULL, NULL);
    cr_assert_eq(b.calls, TALC_DEBUG >= 3 ? 2 : 1); /* see above */
    cr_assert_eq(b.addr, o.x);
    cr_assert_eq(b.allocated, b.calls);
    overrun_repair(&o);
}

/* A give-back on the cache's own path (the periodic trim of lists not allocated from) reports
 * at the stripe unlock, while the list is being cut: the handler's allocation from that list
 * must get a block still cached, not one just given back to the heap, which would hand it out
 * a second time (until 2026-12-04 the list was cut only after the give-back). */
#define GB_N 100
#define GB_OTHERS 20000
#define GB_GOT 1024

typedef struct giveback_log {
    talc_arena_t *arena;
    const void *x;
    bool seen;
    unsigned ngot;
    unsigned char *got[GB_GOT];
} giveback_log_t;

/* Allocates at every report: with TALC_DEBUG >= 3 the heap's own checks report the damaged
 * header after every operation, and x's report is folded into theirs. */
static void giveback_handler(const talc_fault_info_t *info, void *ctx)
{
    giveback_log_t *g = ctx;
    g->seen |= info->address == g->x;
    if (g->ngot < GB_GOT) {
        unsigned char *p = talc_arena_malloc(g->arena, 48); /* from the list given back */
        if (p) {
            memset(p, 0x5a, 48); /* live: the handler's */
            g->got[g->ngot++] = p;
        }
    }
}

static bool gb_got(const giveback_log_t *g, const void *p)
{
    for (unsigned i = 0; i < g->ngot; i++)
        if (g->got[i] == p)
            return true;
    return false;
}

Test(arena_fatal, handler_allocating_from_a_list_being_given_back_gets_a_cached_block,
     .timeout = 60)
{
    static void *b[GB_N], *other[GB_OTHERS], *probe[GB_OTHERS];
    static giveback_log_t g;
    g.arena = test_cached_arena("trimmed");
    for (int i = 0; i < GB_N; i++)
        b[i] = talc_arena_malloc(g.arena, 48);
    for (int i = 0; i < GB_OTHERS; i++)
        other[i] = talc_arena_malloc(g.arena, 200);
    /* x = b[k] in the newer half of the list once freed, overrunning into its neighbour y. */
    int k = -1, y = -1;
    for (int i = GB_N - 2; i >= GB_N / 2 && k < 0; i--)
        for (int j = 0; j < GB_N; j++)
            if ((char *)b[j] == (char *)b[i] + talc_usable_size(b[i]) + 8) {
                k = i;
                y = j;
                break;
            }
    cr_assert_geq(k, 0, "two neighbouring blocks among those of one fill");
    size_t usable = talc_usable_size(b[k]);
    ((unsigned char *)b[k])[usable] |= 2; /* y's PREV_FREE */
    g.x = b[k];
    talc_set_fatal_handler(giveback_handler, &g);
    for (int i = 0; i < GB_N; i++)
        if (i != y)
            talc_free(b[i]); /* cached, b[GB_N - 1] at the head; y stays live */
    int freed = 0;
    while (!g.seen && freed < GB_OTHERS) /* until a trim gives the newer half back */
        talc_free(other[freed++]);
    cr_assert(g.seen || (TALC_DEBUG >= 3 && g.ngot > 0), "a trim gave x back within %d frees",
              GB_OTHERS);
    cr_assert_gt(g.ngot, 0);
    cr_assert(!g.seen || !gb_got(&g, b[k]), "the reported block is out of use");
    for (int i = 0; i < GB_OTHERS; i++) {
        probe[i] = talc_arena_malloc(g.arena, 48);
        cr_assert(!gb_got(&g, probe[i]), "allocation %d handed out the handler's live block", i);
    }
    for (unsigned j = 0; j < g.ngot; j++)
        for (int i = 0; i < 48; i++)
            cr_assert_eq(g.got[j][i], 0x5a);
    ((unsigned char *)b[k])[usable] &= (unsigned char)~2u;
    talc_set_fatal_handler(NULL, NULL);
    for (unsigned j = 0; j < g.ngot; j++)
        talc_free(g.got[j]);
    talc_free(b[y]);
    for (int i = 0; i < GB_OTHERS; i++) {
        talc_free(probe[i]);
        if (i >= freed)
            talc_free(other[i]);
    }
}

/* A cached block whose own header is overwritten while it waits (the live block below it
 * overruns) is found when the cache gives it back, on the path that parks blocks in their
 * stripe's depot too: it is reported and stays out of use. Until 2026-12-05 that path read the
 * block's size from the damaged header and parked it under it, so a later malloc of the size
 * the header claimed got this smaller block (and a garbage size indexed the class table out of
 * bounds). The header's layout (src/heap_internal.h): size in the low 48 bits above the three
 * flag bits, the slack above the size. */
#define HDR_SIZE_MASK ((((uint64_t)1 << 48) - 1) & ~(uint64_t)7)

typedef struct remote_freer {
    void *y;
    sem_t freed, overrun;
} remote_freer_t;

/* Frees y before it has allocated from y's arena (the block goes on its slot's remote list),
 * then, once y's header is damaged, flushes: the remote list is parked. */
static void *remote_freer(void *arg)
{
    remote_freer_t *r = arg;
    talc_free(r->y);
    sem_post(&r->freed);
    sem_wait(&r->overrun);
    talc_thread_cache_flush();
    return NULL;
}

Test(arena_fatal, header_overwritten_while_cached_is_reported_not_parked, .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("parked");
    overrun_t o = neighbours(a);
    char *x = o.x, *y = o.y;
    void *warm = o.warm;
    size_t usable = o.usable;
    remote_freer_t r = {.y = y};
    sem_init(&r.freed, 0, 0);
    sem_init(&r.overrun, 0, 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, remote_freer, &r), 0);
    sem_wait(&r.freed);
    talc_arena_stats_t before = test_stats(a);
    uint64_t w;
    memcpy(&w, x + usable, 8); /* y's header, as the cache left it */
    size_t chunk = (size_t)(w & HDR_SIZE_MASK);
    w = (w & ~HDR_SIZE_MASK) | (uint64_t)(2 * chunk); /* x overruns: y claims twice its size */
    memcpy(x + usable, &w, 8);
    sem_post(&r.overrun);
    cr_assert_eq(pthread_join(t, NULL), 0);
    /* (with TALC_DEBUG >= 3 the heap's checks find the damaged header after later calls too) */
    cr_assert(rec.calls == 1 || (TALC_DEBUG >= 3 && rec.calls > 1), "%d reports", rec.calls);
    cr_assert_eq(rec.first_fault, TALC_FAULT_CORRUPTION);
    cr_assert_eq(rec.first_addr, y);
    cr_assert_str_eq(rec.arena, "parked");
    void *q = talc_arena_malloc(a, 2 * chunk - 8); /* the size y's header claims */
    cr_assert_not_null(q);
    cr_assert_neq(q, y, "the damaged block was handed out for twice its size");
    talc_free(q);
    talc_arena_stats_t after = test_stats(a);
    cr_assert_eq(after.live_allocs, before.live_allocs, "y stays out of use, not live again");
    cr_assert_eq(after.live_bytes, before.live_bytes);
    talc_free(x);
    talc_free(warm);
    talc_set_fatal_handler(NULL, NULL);
}

/* A give-back takes the stripe lock of each block's stripe in turn. A fault it finds in a
 * block of the first stripe used to be reported when that lock was released, before the next
 * stripe's blocks, which were already off the slot's list: a handler that longjmped out left
 * them allocated and counted as cached for good (and one that allocated from four other
 * arenas moved the slot to one of them, whose counters the rest then wrapped; found by a
 * review). The report now waits for the give-back's end: after a longjmp out of it, a flush
 * and a trim leave only the damaged block out of use. */
static void *gb_jump_at;
static int gb_reports;

static void jump_at_the_damaged_block(const talc_fault_info_t *info, void *ctx)
{
    (void)ctx;
    gb_reports++; /* (with TALC_DEBUG >= 3 the heap's checks report the damage again) */
    if (info->address == gb_jump_at) {
        gb_jump_at = NULL;
        longjmp(escape, 1);
    }
}

typedef struct other_stripe {
    talc_arena_t *a;
    int cpu;
    void *b[16];
} other_stripe_t;

static void *alloc_on_other_cpu(void *arg)
{
    other_stripe_t *o = arg;
    cr_assert(test_pin_cpu(o->cpu));
    for (int i = 0; i < 16; i++)
        cr_assert_not_null(o->b[i] = talc_arena_malloc(o->a, 8184));
    return NULL;
}

Test(arena_fatal, handler_that_longjmps_out_of_a_give_back_loses_no_block, .timeout = 60)
{
    int cpus[2];
    if (test_allowed_cpus(cpus, 2) < 2 || !test_pin_cpu(cpus[0]))
        cr_skip_test("needs two CPUs to pin threads to");
    talc_arena_config_t c = talc_arena_config_default("two-stripe-cache");
    c.stripes = 2;
    c.thread_cache = TALC_TCACHE_ON;
    other_stripe_t o = {.a = test_arena_cfg(&c), .cpu = cpus[1]};
    char *y = talc_arena_malloc(o.a, 8184); /* 8 KiB chunks: a list holds 8 */
    cr_assert_not_null(y);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, alloc_on_other_cpu, &o), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    for (int i = 0; i < 7; i++)
        talc_free(o.b[i]); /* the list: 7 blocks of the other CPU's stripe */
    talc_free(y);          /* then y, at its head */
    uint64_t w;
    memcpy(&w, y - 8, 8);
    w += 16; /* an overrun of the block below y: y's header claims 16 bytes more */
    memcpy(y - 8, &w, 8);
    talc_set_fatal_handler(jump_at_the_damaged_block, NULL);
    gb_jump_at = y;
    volatile int jumped = 0;
    if (setjmp(escape) == 0)
        talc_free(o.b[7]); /* a ninth block: the list gives its head back */
    else
        jumped = 1;
    cr_assert_eq(jumped, 1, "the give-back reported y");
    for (int i = 8; i < 16; i++)
        talc_free(o.b[i]);
    talc_thread_cache_flush();
    (void)talc_arena_trim(o.a);
    talc_arena_stats_t s = test_stats(o.a);
    cr_assert_eq(s.live_allocs, 0);
    cr_assert_eq(s.cached_blocks, 1, "%zu blocks stay cached; only y should", s.cached_blocks);
    cr_assert_eq(s.cached_bytes, 8192, "%zu bytes stay cached", s.cached_bytes);
    cr_assert(gb_reports >= 1);
    talc_set_fatal_handler(NULL, NULL);
}

/* An overrun through a cached block's header into its first words, where the cache links its
 * list (a string copied past the end of the block below): the next malloc of that size finds
 * the link off the quantum, reports the block and gets another one. Until 2026-12-05 the pop
 * handed the damaged block out and made the overrun's bytes the list's head, which the malloc
 * after it returned (or faulted on). */
Test(arena_fatal, overrun_into_a_cached_blocks_link_is_reported_at_malloc, .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("link");
    overrun_t o = neighbours(a);
    char *x = o.x, *y = o.y;
    size_t usable = o.usable;
    talc_free(y); /* the head of its list now */
    char saved[24];
    memcpy(saved, x + usable, sizeof saved);
    memset(x + usable, 'A', sizeof saved); /* y's header, link and chunk word */
    char *q = talc_arena_malloc(a, 5000);
    cr_assert(rec.calls == 1 || (TALC_DEBUG >= 3 && rec.calls > 1), "%d reports", rec.calls);
    cr_assert_eq(rec.first_fault, TALC_FAULT_CORRUPTION);
    cr_assert_eq(rec.first_addr, y);
    cr_assert_str_eq(rec.arena, "link");
    cr_assert_not_null(q);
    cr_assert(q + 5000 <= x || q >= y + usable, "malloc returned %p, inside x %p or y %p",
              (void *)q, (void *)x, (void *)y);
    memcpy(x + usable, saved, 8); /* the header back: y stays out of use, the heap whole */
    talc_free(q);
    talc_free(x);
    talc_free(o.warm);
    talc_set_fatal_handler(NULL, NULL);
}

/* A write after free into a cached block's link, deeper in its list: giving the list back
 * (here at the thread's flush) stops at the wild link instead of following it, and reports the
 * block. Until 2026-12-05 the give-back followed it: it read the header in front of the wild
 * address, or, at the end of its count, left it as the list's head for the next malloc. */
Test(arena_fatal, wild_link_in_a_cached_list_is_reported_at_give_back, .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("wild");
    void *warm = talc_arena_malloc(a, 8);
    char *b1 = talc_arena_malloc(a, 5000), *b2 = talc_arena_malloc(a, 5000);
    cr_assert(warm && b1 && b2);
    talc_free(b1);
    talc_free(b2); /* the list: b2, b1, ... */
    uintptr_t wild = (uintptr_t)0x4141414141414141u;
    memcpy(b1, &wild, sizeof wild); /* b1's link */
    talc_thread_cache_flush();
    cr_assert_eq(rec.calls, 1, "%d reports (%s)", rec.calls, rec.what);
    cr_assert_eq(rec.fault, TALC_FAULT_CORRUPTION);
    cr_assert_eq(rec.addr, b1);
    cr_assert_str_eq(rec.arena, "wild");
    void *q = talc_arena_malloc(a, 5000);
    cr_assert(q && q != b1 && q != (void *)wild);
    talc_free(q);
    talc_free(warm);
    cr_assert_eq(rec.calls, 1);
    talc_set_fatal_handler(NULL, NULL);
}

/* A write after free into the link of a block parked at its stripe's depot: emptying the depot
 * into the heap (a flush by a thread that caches for the arena; also the OOM chain, trim and
 * destroy) stops at the wild link and reports the block. Until 2026-12-06 the depot's flush
 * followed it: SIGSEGV at 0x4141414141414141 (a review's program, 2026-12-05). */
Test(arena_fatal, wild_link_in_a_parked_block_is_reported_at_the_depot_flush, .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("depot");
    void *warm;
    static test_parker_t p;
    test_park_two(&p, a, &warm);
    cr_assert_eq(rec.calls, 0, "%d reports (%s)", rec.calls, rec.what);
    talc_arena_stats_t before = test_stats(a);
    cr_assert_geq(before.cached_blocks, 2, "parked: still cached");
    uintptr_t wild = (uintptr_t)0x4141414141414141u;
    memcpy(p.b1, &wild, sizeof wild); /* its link */
    talc_thread_cache_flush();
    cr_assert_eq(rec.calls, 1, "%d reports (%s)", rec.calls, rec.what);
    cr_assert_eq(rec.fault, TALC_FAULT_CORRUPTION);
    cr_assert_eq(rec.addr, p.b1);
    cr_assert_str_eq(rec.arena, "depot");
    talc_arena_stats_t after = test_stats(a);
    /* (the parking thread's own list holds what its fill left) */
    cr_assert_eq(after.cached_blocks, before.cached_blocks - 1,
                 "b1 stays cached, out of use; b2 went to the heap");
    cr_assert_eq(after.live_allocs, before.live_allocs);
    for (int i = 0; i < 4; i++) { /* neither the damaged block nor its link is handed out */
        void *q = talc_arena_malloc(a, 5000);
        cr_assert(q && q != p.b1 && q != (void *)wild);
        talc_free(q);
    }
    talc_free(warm);
    test_park_done(&p);
    cr_assert_eq(rec.calls, 1);
    talc_set_fatal_handler(NULL, NULL);
}

/* The same write after free, found instead by the fill that takes the depot's list: its first
 * block's link would become the cache's list head. The fill reports the block and the malloc
 * is served by the stripe. Until 2026-12-06 the next pop of that size read through the link.
 * SMALL + 8 is a chunk size with a list of its own, so b1 is parked on the list that the
 * requests of SMALL bytes fill from. */
#define SMALL 40
Test(arena_fatal, wild_link_in_a_parked_block_is_reported_at_the_fill, .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("fill");
    void *warm = talc_arena_malloc(a, 8);
    void *b1 = talc_arena_malloc(a, SMALL), *b2 = talc_arena_malloc(a, SMALL);
    cr_assert(warm && b1 && b2);
    static test_parker_t p;
    test_park(&p, a, b1, NULL);
    uintptr_t wild = (uintptr_t)0x4141414141414141u;
    memcpy(b1, &wild, sizeof wild);
    enum { TRIES = 64 };
    void *q[TRIES];
    int got = 0;
    while (got < TRIES && rec.calls == 0) { /* once this thread's list is empty: the fill */
        q[got] = talc_arena_malloc(a, SMALL);
        cr_assert(q[got] && q[got] != b1 && q[got] != (void *)wild, "malloc %d returned %p", got,
                  q[got]);
        got++;
    }
    cr_assert_eq(rec.calls, 1, "%d reports (%s) in %d mallocs", rec.calls, rec.what, got);
    cr_assert_eq(rec.fault, TALC_FAULT_CORRUPTION);
    cr_assert_eq(rec.addr, b1);
    cr_assert_str_eq(rec.arena, "fill");
    for (int i = 0; i < got; i++)
        talc_free(q[i]);
    talc_free(b2);
    talc_free(warm);
    test_park_done(&p);
    talc_set_fatal_handler(NULL, NULL);
}

/* An off-by-one string copy into the block below a cached block: the NUL lands on the cached
 * block's flags byte and clears its USED bit (the block below has no slack). The overrunning
 * block is then freed, into the cache, and the cache gives both back. The heap must not take
 * the cached block for a free chunk and merge with it: the merge unlinked it from a free list
 * through the cache's node words (its list link and chunk size) and wrote through them, a
 * SIGSEGV with no report, whichever of the two blocks the give-back took first (found by a
 * review, 2026-12-05). Both stay out of use and at least one is reported. */
Test(arena_fatal, nul_overrun_into_a_cached_block_then_free_of_the_block_below_is_reported,
     .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("nul");
    overrun_t o = neighbours(a);
    talc_free(o.y); /* cached */
    memset(o.x, 'a', o.usable);
    o.x[o.usable] = 0; /* the string's NUL: y's flags byte */
    talc_free(o.x);    /* cached too: reads only its own header */
    talc_thread_cache_flush();
    cr_assert_geq(rec.calls, 1, "no report");
    cr_assert(rec.first_addr == o.x || rec.first_addr == o.y, "reported %p, x %p, y %p",
              rec.first_addr, (void *)o.x, (void *)o.y);
    cr_assert_str_eq(rec.arena, "nul");
    void *q = talc_arena_malloc(a, 2 * o.usable); /* what a merge of the two would serve */
    cr_assert_not_null(q);
    cr_assert(((char *)q >= o.y + o.usable || (char *)q + 2 * o.usable <= o.x),
              "malloc returned %p, over x %p and y %p", q, (void *)o.x, (void *)o.y);
    talc_set_fatal_handler(NULL, NULL);
}

/* The live block below a cached block overruns into its header and sets PREV_FREE, keeping
 * USED and the size: the give-back's header check ignores that bit (the heap sets it whenever
 * the chunk below is freed), so the heap took the block below for a free chunk, read its
 * "footer" (the live block's last 8 bytes, here text) and unlinked whatever lay there: a
 * SIGSEGV instead of the report docs/arenas.md ("Errors") promises for a cached block whose
 * header the block below overwrote (found by a review, 2026-12-05). */
Test(arena_fatal, prev_free_overrun_into_a_cached_blocks_header_is_reported_at_give_back,
     .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("prevfree");
    overrun_t o = neighbours(a);
    memset(o.x, 'a', o.usable); /* x stays live */
    talc_free(o.y);
    o.x[o.usable] |= 2; /* y's PREV_FREE */
    talc_thread_cache_flush();
    cr_assert_geq(rec.calls, 1, "no report");
    cr_assert_eq(rec.first_addr, o.y, "reported %p, y %p", rec.first_addr, (void *)o.y);
    cr_assert_str_eq(rec.arena, "prevfree");
    for (size_t i = 0; i < o.usable; i++)
        cr_assert_eq(o.x[i], 'a', "x changed at byte %zu", i);
    talc_set_fatal_handler(NULL, NULL);
}

/* A write after free into a cached block's second word, where the cache keeps its chunk size:
 * the give-back finds it (the header no longer matches) and reports it, and the block stays
 * counted as cached. Until 2026-12-05 the give-back took the written value off the slot's
 * held bytes: cached_bytes read about 1.4e19 for good, and the slot, far above its bound,
 * gave back its lists on every later free (found by a review). */
Test(arena_fatal, a_damaged_chunk_word_leaves_the_cached_figures_sane, .timeout = 60)
{
    install();
    talc_arena_t *a = test_cached_arena("chunkword");
    overrun_t o = neighbours(a);
    talc_free(o.y);
    talc_arena_stats_t before = test_stats(a);
    uint64_t garbage = 0x4141414141414141u;
    memcpy(o.y + sizeof(void *), &garbage, sizeof garbage); /* y's chunk word */
    talc_thread_cache_flush();
    cr_assert_geq(rec.calls, 1, "no report");
    cr_assert_eq(rec.first_addr, o.y);
    talc_arena_stats_t after = test_stats(a);
    cr_assert_eq(after.cached_blocks, before.cached_blocks, "y stays counted as cached");
#if TALC_COUNTERS
    cr_assert_eq(after.cached_bytes, before.cached_bytes, "cached_bytes %zu, %zu before",
                 after.cached_bytes, before.cached_bytes);
#endif
    void *v[32];
    for (int i = 0; i < 32; i++)
        cr_assert_not_null(v[i] = talc_arena_malloc(a, 100));
    for (int i = 0; i < 32; i++)
        talc_free(v[i]);
    cr_assert_geq(test_stats(a).cached_blocks, before.cached_blocks + 32,
                  "the slot keeps what it is given");
    talc_set_fatal_handler(NULL, NULL);
}

/* In cache-aligned mode the quantum is a cache line. A write after free that leaves a pointer
 * on 16 bytes but off the line in a cached block's link is off the quantum: a give-back must
 * stop there, as the pop does. Until 2026-12-05 the give-back tested the link against
 * TALC_MIN_ALIGN only, so a flush left the wild address as the list's head and the next
 * malloc of that size returned it: 16 bytes into a live block, with no report (found by a
 * review). */
Test(arena_fatal, cache_aligned_give_back_stops_at_a_link_off_the_line, .timeout = 60)
{
    install();
    talc_arena_config_t c = talc_arena_config_default("lines");
    c.stripes = 1;
    c.thread_cache = TALC_TCACHE_ON;
    c.cache_aligned = true;
    talc_arena_t *a = test_arena_cfg(&c);
    size_t line = talc_cache_line_size();
    if (line <= TALC_MIN_ALIGN)
        cr_skip_test("the cache line is no larger than the default quantum");
    void *warm = talc_arena_malloc(a, 8);
    char *victim = talc_arena_malloc(a, 256); /* live */
    char *b = talc_arena_malloc(a, 3000);
    cr_assert(warm && victim && b);
    memset(victim, 0, 256);
    size_t cls = talc_usable_size(b);
    talc_free(b); /* alone on its list: its link is NULL */
    uintptr_t wild = (uintptr_t)(victim + TALC_MIN_ALIGN);
    memcpy(b, &wild, sizeof wild);
    talc_thread_cache_flush();
    cr_assert_geq(rec.calls, 1, "no report");
    cr_assert_eq(rec.first_addr, b);
    for (size_t n = cls - 2 * line; n <= cls; n += 8) {
        void *q = talc_arena_malloc(a, n);
        cr_assert_not_null(q);
        cr_assert(q < (void *)victim || q >= (void *)(victim + 256),
                  "malloc(%zu) returned %p, inside the live block at %p", n, q, (void *)victim);
        talc_free(q);
    }
    for (int i = 0; i < 256; i++)
        cr_assert_eq(victim[i], 0, "the live block changed at byte %d", i);
    talc_set_fatal_handler(NULL, NULL);
}
#endif

static void handler_b(const talc_fault_info_t *info, void *ctx)
{
    (void)info;
    (*(int *)ctx)++;
}

Test(arena_fatal, replacing_the_handler_takes_effect)
{
    install();
    static int b_calls;
    talc_free(a_static);
    cr_assert_eq(rec.calls, 1);
    talc_set_fatal_handler(handler_b, &b_calls);
    talc_free(a_static);
    talc_free(a_static);
    cr_assert_eq(rec.calls, 1, "the old handler is no longer called");
    cr_assert_eq(b_calls, 2);
    talc_set_fatal_handler(NULL, NULL);
}

/* ---- The default handler's report ---------------------------------------------------------*/

/* Run fn in a child whose stderr is a pipe; returns what it wrote and its wait status. */
static void run_child(void (*fn)(void), char *buf, size_t cap, int *status)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        fn();
        _exit(0); /* not reached: fn aborts */
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < cap && (k = read(fd[0], buf + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = 0;
    close(fd[0]);
    cr_assert_eq(waitpid(pid, status, 0), pid);
}

static void free_static(void) { talc_free(a_static + 48); }

static void double_free_in_named_arena(void)
{
    talc_arena_t *a =
        talc_arena_create(&(talc_arena_config_t){.name = "loud", .stripes = 1, .numa_node = -1});
    void *keep = talc_arena_malloc(a, 16);
    void *p = talc_arena_malloc(a, 16);
    talc_free(p);
    talc_free(p);
    talc_free(keep);
}

/* The library's one line in what the child wrote (a tool such as valgrind may add its own). */
static const char *report_line(char *buf)
{
    char *line = strstr(buf, "libtalc: fatal: ");
    cr_assert_not_null(line, "no report in: %s", buf);
    char *end = strchr(line, '\n');
    cr_assert_not_null(end, "the report is not a whole line: %s", line);
    *end = 0;
    return line;
}

Test(arena_fatal, default_report_names_arena_and_address)
{
    char buf[4096], want[64];
    int status = 0;
    run_child(free_static, buf, sizeof buf, &status);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
    const char *line = report_line(buf);
    cr_assert_not_null(strstr(line, "\"unowned\""), "report: %s", line);
    snprintf(want, sizeof want, "%#lx", (unsigned long)(uintptr_t)(a_static + 48));
    cr_assert_not_null(strstr(line, want), "report %s lacks the address %s", line, want);
    run_child(double_free_in_named_arena, buf, sizeof buf, &status);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
    line = report_line(buf);
    cr_assert_not_null(strstr(line, "\"loud\""), "report: %s", line);
}
