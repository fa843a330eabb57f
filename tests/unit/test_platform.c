/* test_platform.c — talc_cache_line_size: a power of two in [alignof(max_align_t), 4096],
 * the same value on every call and from every thread, and usable as a heap's cache line.
 * No particular value is asserted (qemu reports 32, or no cache at all). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/heap_fixture.h"
#include "talc/heap.h"
#include "talc/platform.h"

TestSuite(platform, .fini = test_buffers_free);

Test(platform, cache_line_is_a_power_of_two_in_range)
{
    size_t l = talc_cache_line_size();
    cr_assert_geq(l, alignof(max_align_t), "line %zu", l);
    cr_assert_leq(l, 4096, "line %zu", l);
    cr_assert_eq(l & (l - 1), 0, "line %zu is not a power of two", l);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(talc_cache_line_size(), l, "the value changed between calls");
}

static void *line_thread(void *arg)
{
    size_t *out = arg;
    *out = talc_cache_line_size();
    return NULL;
}

/* First calls race from several threads (the value is computed once, benignly racing). */
Test(platform, cache_line_is_the_same_in_every_thread)
{
    enum { T = 8 };
    pthread_t t[T];
    size_t v[T];
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, line_thread, &v[i]), 0);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < T; i++)
        cr_assert_eq(v[i], talc_cache_line_size(), "thread %d saw %zu", i, v[i]);
}

Test(platform, cache_line_is_a_valid_heap_line)
{
    talc_heap_opts_t o = {0};
    o.cache_line = talc_cache_line_size();
    talc_heap_t *h = test_heap(64 * 1024, &o);
    cr_assert_eq(talc_heap_cache_line(h), o.cache_line);
    void *p = talc_heap_alloc(h, 1);
    cr_assert_not_null(p);
    cr_assert(test_is_aligned(p, o.cache_line));
    talc_heap_free(h, p);
    HEAP_OK(h);
}
