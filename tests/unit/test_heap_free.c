/* test_heap_free.c — talc_heap_free and the fatal paths: coalescing in every order, double
 * free, pointers into the middle of a block, misaligned pointers, static and stack pointers
 * that look like garbage. Without a fatal handler the process aborts; with one that records and
 * returns, the fault names the heap and the address, and the heap stays consistent; one that
 * longjmps out leaves the heap usable. */
#include <criterion/criterion.h>
#include <setjmp.h>
#include <signal.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/heap_fixture.h"
#include "../common/pattern.h"
#include "talc/heap.h"

TestSuite(heap_free, .fini = test_buffers_free);

static talc_heap_t *faulting_heap(size_t size)
{
    test_faults.count = 0;
    talc_heap_opts_t o = test_opts("unit-heap");
    return test_heap(size, &o);
}

static void expect_fault(unsigned count_before, talc_fault_t code, const void *addr)
{
    cr_assert_eq(test_faults.count, count_before + 1, "expected exactly one fault, got %u",
                 test_faults.count - count_before);
    cr_assert_eq(test_faults.last.fault, code, "fault %d, expected %d (%s)",
                 (int)test_faults.last.fault, (int)code,
                 test_faults.last.what ? test_faults.last.what : "?");
    cr_assert_str_eq(test_faults.last.heap_name, "unit-heap");
    cr_assert_eq(test_faults.last.address, addr, "fault address %p, expected %p",
                 test_faults.last.address, addr);
    cr_assert_not_null(test_faults.last.what);
}

Test(heap_free, null_is_a_no_op)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    void *p = talc_heap_alloc(h, 10);
    talc_heap_counters_t before = test_counters(h);
    talc_heap_free(h, NULL);
    talc_heap_counters_t after = test_counters(h);
    cr_assert(test_counters_equal(&before, &after), "free(NULL) changed the counters");
    talc_heap_free(h, p);
    HEAP_OK(h);
}

/* Four neighbours a b c d (and everything else allocated): free them in each of the 24
 * orders; the free chunks must always coalesce back into one. */
Test(heap_free, coalesces_in_every_order)
{
    talc_heap_t *h = test_heap(32 * 1024, NULL);
    static const unsigned char perms[24][4] = {
        {0, 1, 2, 3}, {0, 1, 3, 2}, {0, 2, 1, 3}, {0, 2, 3, 1}, {0, 3, 1, 2}, {0, 3, 2, 1},
        {1, 0, 2, 3}, {1, 0, 3, 2}, {1, 2, 0, 3}, {1, 2, 3, 0}, {1, 3, 0, 2}, {1, 3, 2, 0},
        {2, 0, 1, 3}, {2, 0, 3, 1}, {2, 1, 0, 3}, {2, 1, 3, 0}, {2, 3, 0, 1}, {2, 3, 1, 0},
        {3, 0, 1, 2}, {3, 0, 2, 1}, {3, 1, 0, 2}, {3, 1, 2, 0}, {3, 2, 0, 1}, {3, 2, 1, 0}};
    void *guard_lo = talc_heap_alloc(h, 16);
    for (size_t k = 0; k < 24; k++) {
        void *b[4];
        for (size_t i = 0; i < 4; i++) {
            b[i] = talc_heap_alloc(h, 50 + 30 * i);
            cr_assert_not_null(b[i]);
        }
        void *guard_hi = talc_heap_alloc(h, 16);
        size_t free_before = test_walk(h).free;
        for (size_t i = 0; i < 4; i++) {
            talc_heap_free(h, b[perms[k][i]]);
            HEAP_OK(h);
        }
        test_walk_t w = test_walk(h);
        cr_assert_eq(w.free, free_before + 1, "order %zu: %zu free chunks, expected %zu", k, w.free,
                     free_before + 1);
        talc_heap_free(h, guard_hi);
        HEAP_OK(h);
        cr_assert_eq(test_walk(h).free, 1, "order %zu: all merged with the top", k);
    }
    talc_heap_free(h, guard_lo);
    HEAP_OK(h);
}

Test(heap_free, random_order_restores_the_fresh_heap)
{
    talc_heap_t *h = test_heap(256 * 1024, NULL);
    test_walk_t fresh = test_walk(h);
    enum { N = 500 };
    static void *p[N];
    for (size_t i = 0; i < N; i++) {
        p[i] = talc_heap_alloc(h, (i * 131) % 300);
        cr_assert_not_null(p[i]);
    }
    for (size_t i = N; i > 1; i--) { /* deterministic shuffle */
        size_t j = (i * 2654435761u) % i;
        void *t = p[i - 1];
        p[i - 1] = p[j];
        p[j] = t;
    }
    for (size_t i = 0; i < N; i++) {
        talc_heap_free(h, p[i]);
        if (i % 50 == 0)
            HEAP_OK(h);
    }
    HEAP_OK(h);
    test_walk_t w = test_walk(h);
    cr_assert_eq(w.free, 1);
    cr_assert_eq(w.free_usable, fresh.free_usable);
    cr_assert_eq(w.largest_free_ptr, fresh.largest_free_ptr);
}

/* ---- Fatal paths without a handler: abort ------------------------------------------------*/

Test(heap_free, double_free_aborts_without_handler, .signal = SIGABRT)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    void *a = talc_heap_alloc(h, 32);
    void *p = talc_heap_alloc(h, 32);
    void *b = talc_heap_alloc(h, 32);
    (void)a;
    (void)b;
    talc_heap_free(h, p);
    talc_heap_free(h, p);
}

Test(heap_free, bad_pointer_aborts_without_handler, .signal = SIGABRT)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    static alignas(max_align_t) unsigned char zeros[256];
    memset(zeros, 0, sizeof zeros);
    talc_heap_free(h, zeros + 64);
}

Test(heap_free, interior_pointer_aborts_without_handler, .signal = SIGABRT)
{
    talc_heap_t *h = test_heap(16 * 1024, NULL);
    unsigned char *p = talc_heap_alloc(h, 256);
    memset(p, 0, 256);
    talc_heap_free(h, p + 64);
}

/* ---- Fatal paths with a recording handler ------------------------------------------------*/

Test(heap_free, double_free_is_reported_and_ignored)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    void *a = talc_heap_alloc(h, 32);
    void *p = talc_heap_alloc(h, 48);
    void *b = talc_heap_alloc(h, 32);
    talc_heap_free(h, p);
    talc_heap_counters_t before = test_counters(h);
    talc_heap_free(h, p);
    expect_fault(0, TALC_FAULT_DOUBLE_FREE, p);
    talc_heap_counters_t after = test_counters(h);
    cr_assert(test_counters_equal(&before, &after), "the second free changed counters");
    HEAP_OK(h);
    /* Also through realloc and usable_size. */
    cr_assert_null(talc_heap_realloc(h, p, 100));
    expect_fault(1, TALC_FAULT_DOUBLE_FREE, p);
    cr_assert_eq(talc_heap_usable_size(h, p), 0);
    expect_fault(2, TALC_FAULT_DOUBLE_FREE, p);
    cr_assert_not(talc_heap_resize_in_place(h, p, 10));
    expect_fault(3, TALC_FAULT_DOUBLE_FREE, p);
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, b);
    HEAP_OK(h);
    cr_assert_eq(test_faults.count, 4);
}

/* The freed block merged with the free chunk above it. */
Test(heap_free, double_free_after_merging_above_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    void *a = talc_heap_alloc(h, 32);
    void *p = talc_heap_alloc(h, 48);
    void *c = talc_heap_alloc(h, 48);
    void *d = talc_heap_alloc(h, 32);
    talc_heap_free(h, c);
    talc_heap_free(h, p); /* merges with c */
    HEAP_OK(h);
    talc_heap_free(h, p);
    cr_assert_eq(test_faults.count, 1, "a double free must reach the fatal handler");
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_DOUBLE_FREE, "fault %d",
                 (int)test_faults.last.fault);
    cr_assert_eq(test_faults.last.address, p);
    talc_heap_free(h, c); /* c, absorbed from below, a second time */
    cr_assert_eq(test_faults.count, 2);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_DOUBLE_FREE, "fault %d",
                 (int)test_faults.last.fault);
    cr_assert_eq(test_faults.last.address, c);
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, d);
    HEAP_OK(h);
}

/* The freed block merged with the free chunk below it. */
Test(heap_free, double_free_after_merging_below_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    void *a = talc_heap_alloc(h, 32);
    void *b = talc_heap_alloc(h, 48);
    void *p = talc_heap_alloc(h, 48);
    void *d = talc_heap_alloc(h, 32);
    talc_heap_free(h, b);
    talc_heap_free(h, p); /* merges with b */
    HEAP_OK(h);
    talc_heap_free(h, p);
    cr_assert_eq(test_faults.count, 1, "a double free must reach the fatal handler");
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_DOUBLE_FREE, "fault %d",
                 (int)test_faults.last.fault);
    cr_assert_eq(test_faults.last.address, p);
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, d);
    HEAP_OK(h);
}

/* The freed block merged with free chunks on both sides: its old header sits inside one big
 * free chunk, next to the stale header of the chunk that was above it. */
Test(heap_free, double_free_after_merging_both_ways_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    void *a = talc_heap_alloc(h, 32);
    void *b = talc_heap_alloc(h, 48);
    void *p = talc_heap_alloc(h, 48);
    void *c = talc_heap_alloc(h, 48);
    void *d = talc_heap_alloc(h, 32);
    talc_heap_free(h, b);
    talc_heap_free(h, c);
    talc_heap_free(h, p); /* merges with b and c */
    HEAP_OK(h);
    talc_heap_counters_t before = test_counters(h);
    talc_heap_free(h, p);
    cr_assert_eq(test_faults.count, 1, "a double free must reach the fatal handler");
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_DOUBLE_FREE, "fault %d",
                 (int)test_faults.last.fault);
    cr_assert_eq(test_faults.last.address, p);
    talc_heap_counters_t after = test_counters(h);
    cr_assert(test_counters_equal(&before, &after), "the second free changed counters");
    HEAP_OK(h);
    talc_heap_free(h, a);
    talc_heap_free(h, d);
    HEAP_OK(h);
}

Test(heap_free, interior_pointer_of_zeroed_block_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    unsigned char *p = talc_heap_alloc(h, 256);
    memset(p, 0, 256);
    for (size_t off = TALC_MIN_ALIGN; off < 256; off += TALC_MIN_ALIGN) {
        unsigned before = test_faults.count;
        talc_heap_free(h, p + off);
        expect_fault(before, TALC_FAULT_BAD_POINTER, p + off);
        HEAP_OK(h);
    }
    talc_heap_free(h, p); /* the block itself is still live */
    HEAP_OK(h);
}

/* Ordinary user data (text) in front of the bogus pointer: the header read there holds a
 * large "size"; the engine must report, not follow it out of the heap. */
Test(heap_free, interior_pointer_of_text_block_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    static const char text[] = "The quick brown fox jumps over the lazy dog; pack my box with "
                               "five dozen liquor jugs. Sphinx of black quartz, judge my vow!";
    unsigned char *p = talc_heap_alloc(h, sizeof text);
    memcpy(p, text, sizeof text);
    unsigned before = test_faults.count;
    talc_heap_free(h, p + 32);
    expect_fault(before, TALC_FAULT_BAD_POINTER, p + 32);
    cr_assert_eq(memcmp(p, text, sizeof text), 0, "the block was modified");
    HEAP_OK(h);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

/* A header whose 48-bit size field does not fit a 32-bit size_t (here 2^32 + 64): a 32-bit
 * target must not read it as a 64-byte chunk (its size_t would drop the high bits). */
Test(heap_free, header_with_a_size_above_size_t_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    unsigned char *p = talc_heap_alloc(h, 256);
    memset(p, 0, 256);
    /* The slack field as the heap stores a slack of 0 (it is encoded), from a block of 56
     * bytes in a 64-byte chunk: with any other slack the header fails on that alone. */
    unsigned char *z = talc_heap_alloc(h, 56);
    uint64_t zh;
    memcpy(&zh, z - 8, sizeof zh);
    uint64_t slack0 = zh & ~(((uint64_t)1 << 48) - 1);
    uint64_t fake = slack0 | ((uint64_t)1 << 32) | 64u | 1u; /* size 2^32 + 64, USED */
    memcpy(p + 64, &fake, sizeof fake);                      /* the header of the pointer p + 72 */
    unsigned before = test_faults.count;
    talc_heap_free(h, p + 72);
    expect_fault(before, TALC_FAULT_BAD_POINTER, p + 72);
    cr_assert_eq(talc_heap_usable_size(h, p + 72), 0);
    HEAP_OK(h);
    talc_heap_free(h, p);
    talc_heap_free(h, z);
    HEAP_OK(h);
}

Test(heap_free, misaligned_pointer_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    unsigned char *p = talc_heap_alloc(h, 256);
    for (size_t off = 1; off < TALC_MIN_ALIGN; off++) {
        unsigned before = test_faults.count;
        talc_heap_free(h, p + off);
        expect_fault(before, TALC_FAULT_BAD_POINTER, p + off);
    }
    HEAP_OK(h);
    talc_heap_free(h, p);
    HEAP_OK(h);
}

Test(heap_free, static_zeroed_pointer_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    static alignas(max_align_t) unsigned char zeros[256];
    memset(zeros, 0, sizeof zeros);
    talc_heap_counters_t before = test_counters(h);
    talc_heap_free(h, zeros + 64);
    expect_fault(0, TALC_FAULT_BAD_POINTER, zeros + 64);
    talc_heap_counters_t after = test_counters(h);
    cr_assert(test_counters_equal(&before, &after));
    for (size_t i = 0; i < sizeof zeros; i++)
        cr_assert_eq(zeros[i], 0, "the engine wrote into foreign memory at byte %zu", i);
    HEAP_OK(h);
}

/* A stack buffer full of a typical poison pattern. */
Test(heap_free, stack_garbage_pointer_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    alignas(max_align_t) uint64_t stack[32];
    for (size_t i = 0; i < 32; i++)
        stack[i] = 0xdeadbeefdeadbeefull;
    talc_heap_free(h, &stack[8]);
    expect_fault(0, TALC_FAULT_BAD_POINTER, &stack[8]);
    for (size_t i = 0; i < 32; i++)
        cr_assert_eq(stack[i], 0xdeadbeefdeadbeefull, "foreign memory modified at word %zu", i);
    HEAP_OK(h);
}

/* A damaged header (size field grown by a buffer overrun of the block below). */
Test(heap_free, overrun_header_is_reported)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    unsigned char *a = talc_heap_alloc(h, 40);
    unsigned char *p = talc_heap_alloc(h, 40);
    unsigned char *b = talc_heap_alloc(h, 40);
    size_t ua = talc_heap_usable_size(h, a);
    /* The caller writes 8 bytes past a's usable end: that is p's header. */
    memset(a, 0x00, ua + 8);
    talc_heap_free(h, p);
    /* (TALC_DEBUG >= 3 builds may add a CORRUPTION report from their after-call check.) */
    cr_assert_geq(test_faults.count, 1, "a zeroed header must be reported");
    cr_assert(test_faults.first.fault == TALC_FAULT_BAD_POINTER ||
                  test_faults.first.fault == TALC_FAULT_CORRUPTION ||
                  test_faults.first.fault == TALC_FAULT_DOUBLE_FREE,
              "fault %d", (int)test_faults.first.fault);
    cr_assert_eq(test_faults.first.address, p);
    (void)b;
}

Test(heap_free, usable_size_of_bad_pointer_is_zero)
{
    talc_heap_t *h = faulting_heap(16 * 1024);
    static alignas(max_align_t) unsigned char zeros[128];
    memset(zeros, 0, sizeof zeros);
    cr_assert_eq(talc_heap_usable_size(h, zeros + 32), 0);
    expect_fault(0, TALC_FAULT_BAD_POINTER, zeros + 32);
    cr_assert_null(talc_heap_realloc(h, zeros + 32, 10));
    expect_fault(1, TALC_FAULT_BAD_POINTER, zeros + 32);
    cr_assert_not(talc_heap_resize_in_place(h, zeros + 32, 10));
    expect_fault(2, TALC_FAULT_BAD_POINTER, zeros + 32);
    HEAP_OK(h);
}

/* Faults of one heap never mention another heap's name. */
Test(heap_free, fault_names_the_heap)
{
    talc_heap_opts_t o1 = test_opts("first");
    talc_heap_opts_t o2 = test_opts("second");
    talc_heap_t *h1 = test_heap(16 * 1024, &o1);
    talc_heap_t *h2 = test_heap(16 * 1024, &o2);
    talc_heap_opts_t o3 = {0};
    o3.fatal = test_fault_record;
    talc_heap_t *h3 = test_heap(16 * 1024, &o3);
    static alignas(max_align_t) unsigned char zeros[64];
    memset(zeros, 0, sizeof zeros);
    test_faults.count = 0;
    talc_heap_free(h2, zeros + 16);
    cr_assert_str_eq(test_faults.last.heap_name, "second");
    talc_heap_free(h1, zeros + 16);
    cr_assert_str_eq(test_faults.last.heap_name, "first");
    talc_heap_free(h3, zeros + 16);
    cr_assert_str_eq(test_faults.last.heap_name, "talc", "unnamed heaps are called \"talc\"");
    cr_assert_eq(test_faults.count, 3);
}

/* A handler that longjmps out (heap.h allows it): the heap stays usable. Debug builds mark a
 * heap busy during a call; the mark used to stay, and every later call was refused as a
 * re-entry (found 2026-12-04). */
static jmp_buf escape;
static unsigned escapes;

static void jumping_handler(const talc_fault_info_t *info, void *ctx)
{
    (void)info;
    (void)ctx;
    escapes++;
    longjmp(escape, 1);
}

Test(heap_free, handler_may_longjmp_out_and_the_heap_stays_usable)
{
    talc_heap_opts_t o = test_opts("jump");
    o.fatal = jumping_handler;
    talc_heap_t *h = test_heap(16 * 1024, &o);
    void *p = talc_heap_alloc(h, 100);
    cr_assert_not_null(p);
    volatile int jumped = 0;
    if (setjmp(escape) == 0)
        talc_heap_free(h, (char *)p + 16); /* a pointer into the block */
    else
        jumped = 1;
    cr_assert_eq(jumped, 1);
    cr_assert_eq(escapes, 1);
    void *q = talc_heap_alloc(h, 200);
    cr_assert_not_null(q, "the heap takes calls after the longjmp");
    talc_heap_free(h, q);
    talc_heap_free(h, p);
    cr_assert_eq(escapes, 1, "no fault since");
    HEAP_OK(h);
}
