/* test_arena_registry.c — the life-cycle contracts of talc/arena.h, one thread: create (name
 * rules, configuration validation, EEXIST), find, foreach (creation order, the default arena,
 * early stop), destroy (EINVAL, EBUSY, EPERM, RELEASE_ALL, EDEADLK inside foreach), binding
 * and scopes across a destroy, and the shape options (stripes, initial size, NUMA node).
 *
 * Public API only; each test is its own process (only the default arena exists at start). */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "arena_test.h"
#include "pattern.h"

/* ---- Names --------------------------------------------------------------------------------*/

Test(arena_registry, config_default_fields)
{
    talc_arena_config_t c = talc_arena_config_default("x");
    cr_assert_str_eq(c.name, "x");
    cr_assert_eq(c.source, TALC_SOURCE_OS);
    cr_assert_eq(c.numa_node, -1);
    cr_assert_eq(c.stripes, 0, "auto stripes");
    cr_assert_eq(c.hard_budget + c.soft_budget + c.borrow_ceiling + c.reserve_guaranteed, 0);
    cr_assert_eq(c.oom_chain[0], TALC_OOM_STEP_END, "default chain");
    cr_assert_null(c.fallback);
    cr_assert_null(c.reclaim);
    cr_assert_null(c.on_soft_budget);
    cr_assert_not(c.cache_aligned);
}

Test(arena_registry, name_lengths)
{
    char name[TALC_ARENA_NAME_MAX + 2];
    memset(name, 'n', sizeof name);
    name[TALC_ARENA_NAME_MAX] = 0; /* exactly the maximum */
    talc_arena_t *a = test_arena(name, 1);
    cr_assert_str_eq(talc_arena_name(a), name);
    cr_assert_eq(talc_arena_find(name), a);
    name[TALC_ARENA_NAME_MAX] = 'n';
    name[TALC_ARENA_NAME_MAX + 1] = 0; /* one byte too many */
    talc_arena_config_t c = talc_arena_config_default(name);
    errno = 0;
    cr_assert_null(talc_arena_create(&c));
    cr_assert_eq(errno, EINVAL);
    talc_arena_t *one = test_arena("1", 1);
    cr_assert_eq(talc_arena_find("1"), one, "one byte is enough");
}

/* The bound is in bytes, also when the last character is several: "é" (2 bytes) and "€" (3)
 * ending exactly at TALC_ARENA_NAME_MAX fit; one byte further they do not. */
Test(arena_registry, a_multibyte_last_character_counts_every_byte)
{
    static const char *const tail[] = {"\xc3\xa9", "\xe2\x82\xac"};
    for (size_t t = 0; t < 2; t++) {
        size_t k = strlen(tail[t]);
        for (size_t over = 0; over < 2; over++) {
            char name[TALC_ARENA_NAME_MAX + 2];
            size_t ascii = TALC_ARENA_NAME_MAX - k + over;
            memset(name, 'a' + (int)t, ascii);
            memcpy(name + ascii, tail[t], k + 1);
            talc_arena_config_t c = talc_arena_config_default(name);
            errno = 0;
            talc_arena_t *a = talc_arena_create(&c);
            if (over) {
                cr_assert_null(a, "%zu bytes accepted", ascii + k);
                cr_assert_eq(errno, EINVAL);
            } else {
                cr_assert_not_null(a, "%zu bytes refused", ascii + k);
                cr_assert_eq(talc_arena_destroy(a, 0), 0);
            }
        }
    }
}

Test(arena_registry, name_is_copied)
{
    char name[16] = "copied";
    talc_arena_config_t c = talc_arena_config_default(name);
    char fb[16] = "fb-name";
    c.fallback = fb;
    talc_arena_t *a = test_arena_cfg(&c);
    memset(name, 'x', sizeof name - 1);
    memset(fb, 'y', sizeof fb - 1);
    cr_assert_str_eq(talc_arena_name(a), "copied");
    cr_assert_eq(talc_arena_find("copied"), a);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_str_eq(s.name, "copied");
    /* the fallback name was copied too: "fb-name" is protected from destroy */
    talc_arena_t *f = test_arena("fb-name", 1);
    cr_assert_eq(talc_arena_destroy(f, 0), -EPERM);
}

Test(arena_registry, duplicate_names_are_eexist)
{
    talc_arena_t *a = test_arena("dup", 1);
    talc_arena_config_t c = talc_arena_config_default("dup");
    c.stripes = 3; /* a different config does not matter */
    errno = 0;
    cr_assert_null(talc_arena_create(&c));
    cr_assert_eq(errno, EEXIST);
    cr_assert_eq(talc_arena_find("dup"), a, "the first arena is untouched");
    c = talc_arena_config_default("default");
    errno = 0;
    cr_assert_null(talc_arena_create(&c), "the default arena owns its name");
    cr_assert_eq(errno, EEXIST);
    cr_assert_eq(talc_arena_find("default"), talc_arena_default());
    /* names differ by case and by a trailing byte */
    cr_assert_not_null(test_arena("DUP", 1));
    cr_assert_not_null(test_arena("dup2", 1));
    cr_assert_neq(talc_arena_find("DUP"), a);
}

Test(arena_registry, find_misses)
{
    errno = 0;
    cr_assert_null(talc_arena_find("nope"));
    cr_assert_eq(errno, ENOENT);
    errno = 0;
    cr_assert_null(talc_arena_find(""));
    cr_assert_eq(errno, ENOENT);
    errno = 0;
    cr_assert_null(talc_arena_find(NULL));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_eq(talc_arena_foreach(NULL, NULL), 0, "a NULL callback visits nothing");
    talc_arena_t *d = talc_arena_find("default");
    cr_assert_not_null(d, "the default arena is always findable");
    cr_assert_eq(d, talc_arena_default());
    cr_assert_str_eq(talc_arena_name(d), "default");
}

/* A name with no NUL within TALC_ARENA_NAME_MAX + 1 bytes is not read past them: here they end
 * at a page no access is allowed to (found 2026-12-04: find hashed and compared up to a NUL). */
/* TALC_ARENA_NAME_MAX + 1 bytes right below a guard page; *map gets the mapping to unmap. */
static char *name_before_guard(char **map)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m =
        mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    cr_assert_eq(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    *map = m;
    return m + page - (TALC_ARENA_NAME_MAX + 1);
}

static void name_guard_done(char *map) { munmap(map, 2 * (size_t)sysconf(_SC_PAGESIZE)); }

Test(arena_registry, find_reads_no_more_of_a_name_than_the_longest_can_have)
{
    char *m, *name = name_before_guard(&m);
    memset(name, 'a', TALC_ARENA_NAME_MAX + 1); /* no NUL before the guard page */
    errno = 0;
    cr_assert_null(talc_arena_find(name));
    cr_assert_eq(errno, ENOENT);
    name[TALC_ARENA_NAME_MAX] = '\0'; /* the longest name there can be: looked up as usual */
    cr_assert_null(talc_arena_find(name));
    talc_arena_t *a = test_arena(name, 1);
    cr_assert_eq(talc_arena_find(name), a);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
    name_guard_done(m);
}

/* create reads a long name no further than find does, whatever character ends the bytes it
 * may read (a 4-byte character's lead byte near the end used to send it 3 bytes further). */
Test(arena_registry, create_reads_no_more_of_a_name_than_the_longest_can_have)
{
    char *m, *name = name_before_guard(&m);
    for (size_t lead = TALC_ARENA_NAME_MAX - 4; lead <= TALC_ARENA_NAME_MAX; lead++) {
        memset(name, 'a', TALC_ARENA_NAME_MAX + 1); /* no NUL before the guard page */
        name[lead] = '\xf0';                        /* U+10000.., 4 bytes */
        for (size_t j = lead + 1; j <= TALC_ARENA_NAME_MAX; j++)
            name[j] = '\x90';
        talc_arena_config_t c = talc_arena_config_default(name);
        errno = 0;
        cr_assert_null(talc_arena_create(&c), "lead byte at %zu", lead);
        cr_assert_eq(errno, EINVAL);
    }
    name_guard_done(m);
}

/* ---- Configuration validation -------------------------------------------------------------*/

static bool count_fn(talc_arena_t *a, void *ctx)
{
    (void)a;
    (void)ctx;
    return true;
}

static void expect_einval(const talc_arena_config_t *c, const char *why)
{
    size_t before = talc_arena_foreach(count_fn, NULL);
    errno = 0;
    talc_arena_t *a = talc_arena_create(c);
    cr_assert_null(a, "%s: accepted", why);
    cr_assert_eq(errno, EINVAL, "%s: errno %d", why, errno);
    cr_assert_eq(talc_arena_foreach(count_fn, NULL), before, "%s: registered anyway", why);
}

/* A granule boundary with two whole granules after it (mapped: at 1 GiB granules a static
 * buffer of granules is more than a program's data can hold). */
static unsigned char *small_buf_aligned(void)
{
    static unsigned char *b;
    if (!b)
        b = test_buffer_map(2 * TEST_GRANULE, 0);
    return b;
}

Test(arena_registry, invalid_configs_are_einval)
{
    talc_arena_config_t c;
    errno = 0;
    cr_assert_null(talc_arena_create(NULL));
    cr_assert_eq(errno, EINVAL);

    c = talc_arena_config_default(NULL);
    expect_einval(&c, "NULL name");
    c = talc_arena_config_default("");
    expect_einval(&c, "empty name");
    c = talc_arena_config_default("stripes");
    c.stripes = TALC_STRIPES_MAX + 1;
    expect_einval(&c, "too many stripes");
    c = talc_arena_config_default("step");
    c.oom_chain[0] = TALC_OOM_STEP_GROW;
    c.oom_chain[1] = (talc_oom_step_t)(TALC_OOM_STEP_ABORT + 1);
    expect_einval(&c, "unknown oom step");
    c = talc_arena_config_default("negstep");
    c.oom_chain[0] = TALC_OOM_STEP_GROW;
    c.oom_chain[1] = TALC_OOM_STEP_RECLAIM;
    c.oom_chain[2] = (talc_oom_step_t)-1;
    expect_einval(&c, "negative oom step");
    c = talc_arena_config_default("fb-empty");
    c.fallback = "";
    expect_einval(&c, "empty fallback name");
    c = talc_arena_config_default("fb-long");
    c.fallback = "a-fallback-name-that-is-too-long-x";
    expect_einval(&c, "fallback name too long");
    c = talc_arena_config_default("fb-ctl");
    c.fallback = "tab\there";
    expect_einval(&c, "fallback name with a control character");
    /* Names are printed in one-line reports, JSON and Prometheus labels: UTF-8 only, no
     * control characters (C0, DEL, C1). */
    static const char *const bad_names[] = {"new\nline",
                                            "tab\t",
                                            "esc\x1b[2J",
                                            "del\x7f",
                                            "c1\xc2\x85",
                                            "lone\x80",
                                            "overlong\xc0\xaf",
                                            "overlong3\xe0\x80\xaf",
                                            "surrogate\xed\xa0\x80",
                                            "beyond\xf4\x90\x80\x80",
                                            "cut\xe2\x82",
                                            "lead\xff"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        c = talc_arena_config_default(bad_names[i]);
        expect_einval(&c, "name not printable UTF-8");
    }
    c = talc_arena_config_default("budgets");
    c.hard_budget = 1u << 20;
    c.soft_budget = (1u << 20) + 1;
    expect_einval(&c, "soft budget above hard budget");
    /* The footprint counts borrowed bytes too: a soft budget may lie up to the hard budget
     * plus the borrow ceiling (until 2026-12-07 not above the hard budget; found by a review),
     * and a sum that wraps counts as no limit. */
    size_t unit = TEST_GRANULE > ((size_t)1 << 20) ? TEST_GRANULE : (size_t)1 << 20;
    c.hard_budget = c.borrow_ceiling = unit; /* (at least a granule each) */
    c.soft_budget = 2 * unit + 1;
    expect_einval(&c, "soft budget above hard budget and borrow ceiling");
    c.soft_budget = 2 * unit;
    cr_assert_eq(talc_arena_destroy(test_arena_cfg(&c), 0), 0);
    c.borrow_ceiling = SIZE_MAX;
    c.soft_budget = SIZE_MAX;
    cr_assert_eq(talc_arena_destroy(test_arena_cfg(&c), 0), 0);
    c.borrow_ceiling = 0;
    /* Configurations under which no allocation could ever succeed (found 2026-12-04). */
    c = talc_arena_config_default("tiny-budget");
    c.hard_budget = TEST_GRANULE - 1;
    expect_einval(&c, "hard budget below one granule");
    c = talc_arena_config_default("initial-above-budget");
    c.hard_budget = 1u << 20;
    c.initial_size = (1u << 20) + TEST_GRANULE;
    expect_einval(&c, "initial size above the hard budget");
    c = talc_arena_config_default("reserve-no-ceiling");
    c.source = TALC_SOURCE_RESERVE;
    expect_einval(&c, "reserve source that may not borrow");
    c.borrow_ceiling = TEST_GRANULE - 1; /* (2026-12-05) */
    expect_einval(&c, "reserve source whose ceiling holds no granule");
    c = talc_arena_config_default("tiny-ceiling");
    c.borrow_ceiling = 100;
    expect_einval(&c, "borrow ceiling below one granule");
    c = talc_arena_config_default("numa");
    c.numa_node = -2;
    expect_einval(&c, "numa node below -1");
    c = talc_arena_config_default("source");
    c.source = (talc_source_t)7;
    expect_einval(&c, "unknown source");
    c = talc_arena_config_default("nobuf");
    c.source = TALC_SOURCE_BUFFER;
    c.buffer_size = 2 * TEST_GRANULE;
    expect_einval(&c, "buffer source without a buffer");
    c.buffer = small_buf_aligned();
    c.buffer_size = 2 * TEST_GRANULE - 1;
    expect_einval(&c, "buffer under two granules");
    c.buffer_size = 0;
    expect_einval(&c, "empty buffer");
    /* two granules of bytes, but not two whole aligned granules inside */
    c.buffer = small_buf_aligned() + 1;
    c.buffer_size = 2 * TEST_GRANULE;
    expect_einval(&c, "buffer with fewer than two aligned granules");
    c.buffer = (void *)(UINTPTR_MAX - TEST_GRANULE);
    c.buffer_size = 4 * TEST_GRANULE;
    expect_einval(&c, "buffer wrapping the address space");
}

/* The owner map has one owner per granule: a buffer arena over a block another arena owns took
 * its granules, and the block could not be freed after the buffer arena's destroy (found
 * 2026-12-04). */
Test(arena_registry, buffer_holding_memory_an_arena_owns_is_einval)
{
    size_t size = 8 * TEST_GRANULE;
    char *block = talc_arena_malloc(talc_arena_default(), size);
    cr_assert_not_null(block);
    talc_arena_config_t c = talc_arena_config_default("nested");
    c.source = TALC_SOURCE_BUFFER;
    c.buffer = block;
    c.buffer_size = size;
    expect_einval(&c, "buffer inside a block of the default arena");
    cr_assert_eq(talc_arena_of(block), talc_arena_default());
    talc_free(block);
    /* nor inside a block of a buffer arena */
    size_t mem_size = 16 * TEST_GRANULE;
    unsigned char *mem = test_buffer_map(mem_size, 64);
    talc_arena_config_t o = test_buffer_config("outer", mem, mem_size);
    talc_arena_t *outer = test_arena_cfg(&o);
    block = talc_arena_malloc(outer, size);
    cr_assert_not_null(block);
    c.buffer = block;
    expect_einval(&c, "buffer inside a block of a buffer arena");
    talc_free(block);
    cr_assert_eq(talc_arena_destroy(outer, 0), 0);
    /* the same memory, once no arena owns it, is a fine buffer */
    c.buffer = mem;
    c.buffer_size = mem_size;
    talc_arena_t *inner = test_arena_cfg(&c);
    cr_assert_eq(talc_arena_destroy(inner, 0), 0);
}

Test(arena_registry, edge_configs_are_accepted)
{
    talc_arena_config_t c = talc_arena_config_default("max-stripes");
    c.stripes = TALC_STRIPES_MAX;
    talc_arena_t *a = test_arena_cfg(&c);
    cr_assert_eq(test_stats(a).stripes, TALC_STRIPES_MAX);
    c = talc_arena_config_default("soft-eq-hard");
    c.hard_budget = c.soft_budget = TEST_SEGMENT_SCALED(4u << 20);
    cr_assert_not_null(test_arena_cfg(&c));
    c = talc_arena_config_default("one-granule-budget");
    c.hard_budget = c.initial_size = TEST_GRANULE;
    cr_assert_not_null(test_arena_cfg(&c), "a budget of one granule, all of it mapped at once");
    c = talc_arena_config_default("soft-only");
    c.soft_budget = 4u << 20;
    cr_assert_not_null(test_arena_cfg(&c));
    c = talc_arena_config_default("chain-after-end");
    c.oom_chain[0] = TALC_OOM_STEP_GROW;
    c.oom_chain[1] = TALC_OOM_STEP_END;
    c.oom_chain[2] = TALC_OOM_STEP_ABORT; /* ignored: after the end */
    c.oom_chain[3] = (talc_oom_step_t)42; /* ignored too, not checked */
    talc_arena_t *e = test_arena_cfg(&c);
    void *p = talc_arena_malloc(e, 100);
    cr_assert_not_null(p);
    talc_free(p);
    c = talc_arena_config_default("fallback-missing");
    c.fallback = "not-created-yet"; /* a name, not an arena: may appear later */
    cr_assert_not_null(test_arena_cfg(&c));
    c = talc_arena_config_default("exact-buffer");
    c.source = TALC_SOURCE_BUFFER;
    c.buffer = small_buf_aligned();
    c.buffer_size = 2 * TEST_GRANULE;
    cr_assert_not_null(test_arena_cfg(&c), "two aligned granules are enough");
}

/* ---- foreach ------------------------------------------------------------------------------*/

typedef struct visit_log {
    const char *names[16];
    size_t n;
    size_t stop_after; /* return false from this visit on (0 = never) */
} visit_log_t;

static bool log_fn(talc_arena_t *a, void *ctx)
{
    visit_log_t *v = ctx;
    if (v->n < 16)
        v->names[v->n] = talc_arena_name(a);
    v->n++;
    return v->stop_after == 0 || v->n < v->stop_after;
}

static void expect_order(const char *const *want, size_t n)
{
    visit_log_t v = {{0}, 0, 0};
    cr_assert_eq(talc_arena_foreach(log_fn, &v), n, "visited count");
    cr_assert_eq(v.n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(v.names[i], want[i], "position %zu", i);
}

Test(arena_registry, foreach_in_creation_order_default_first)
{
    const char *only[] = {"default"};
    expect_order(only, 1); /* the default arena exists before anything is created */
    talc_arena_t *a = test_arena("first", 1);
    talc_arena_t *b = test_arena("second", 1);
    talc_arena_t *c = test_arena("third", 1);
    const char *three[] = {"default", "first", "second", "third"};
    expect_order(three, 4);
    cr_assert_eq(talc_arena_destroy(b, 0), 0);
    const char *holed[] = {"default", "first", "third"};
    expect_order(holed, 3);
    talc_arena_t *b2 = test_arena("second", 1); /* re-created: now the newest */
    const char *again[] = {"default", "first", "third", "second"};
    expect_order(again, 4);
    cr_assert_eq(talc_arena_destroy(c, 0), 0); /* the last one (the registry's tail) */
    test_arena("fourth", 1);
    const char *tail[] = {"default", "first", "second", "fourth"};
    expect_order(tail, 4);
    (void)a;
    (void)b2;
}

Test(arena_registry, foreach_stops_early)
{
    test_arena("s1", 1);
    test_arena("s2", 1);
    test_arena("s3", 1);
    visit_log_t v = {{0}, 0, 1};
    cr_assert_eq(talc_arena_foreach(log_fn, &v), 1, "false at the first visit");
    cr_assert_str_eq(v.names[0], "default");
    v = (visit_log_t){{0}, 0, 3};
    cr_assert_eq(talc_arena_foreach(log_fn, &v), 3);
    cr_assert_eq(v.n, 3, "no visit after false");
    cr_assert_str_eq(v.names[2], "s2");
}

/* ---- destroy ------------------------------------------------------------------------------*/

Test(arena_registry, destroy_rejects_null_and_default)
{
    cr_assert_eq(talc_arena_destroy(NULL, 0), -EINVAL);
    cr_assert_eq(talc_arena_destroy(NULL, TALC_DESTROY_RELEASE_ALL), -EINVAL);
    talc_arena_t *d = talc_arena_default();
    cr_assert_eq(talc_arena_destroy(d, 0), -EINVAL);
    cr_assert_eq(talc_arena_destroy(d, TALC_DESTROY_RELEASE_ALL), -EINVAL);
    cr_assert_eq(talc_arena_find("default"), d, "still there");
    talc_arena_t *a = test_arena("flags", 1);
    void *q = talc_arena_malloc(a, 10);
    cr_assert_eq(talc_arena_destroy(a, 2u), -EINVAL, "an unknown flag");
    cr_assert_eq(talc_arena_destroy(a, ~0u), -EINVAL, "not taken for RELEASE_ALL");
    cr_assert_eq(talc_arena_find("flags"), a, "still there");
    talc_free(q);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
    void *p = talc_arena_malloc(d, 10);
    cr_assert_not_null(p, "and usable");
    talc_free(p);
}

Test(arena_registry, destroy_busy_leaves_arena_usable)
{
    talc_arena_t *a = test_arena("busy", 2);
    void *p = talc_arena_malloc(a, 100);
    void *q = talc_arena_aligned_alloc(a, 4096, 5000);
    cr_assert(p && q);
    cr_assert_eq(talc_arena_destroy(a, 0), -EBUSY);
    cr_assert_eq(talc_arena_find("busy"), a);
    cr_assert_eq(talc_arena_of(p), a);
    void *r = talc_arena_malloc(a, 300);
    cr_assert_not_null(r, "still allocates after EBUSY");
    talc_free(p);
    talc_free(r);
    cr_assert_eq(talc_arena_destroy(a, 0), -EBUSY, "one block is still live");
    talc_free(q);
    cr_assert_eq(talc_arena_destroy(a, 0), 0, "empty (kept segments do not count)");
    cr_assert_null(talc_arena_find("busy"));
}

Test(arena_registry, destroy_fallback_target_is_eperm)
{
    talc_arena_t *target = test_arena("target", 1);
    talc_arena_config_t c = talc_arena_config_default("user");
    c.fallback = "target";
    talc_arena_t *user = test_arena_cfg(&c);
    cr_assert_eq(talc_arena_destroy(target, 0), -EPERM);
    cr_assert_eq(talc_arena_destroy(target, TALC_DESTROY_RELEASE_ALL), -EPERM);
    void *p = talc_arena_malloc(target, 10);
    cr_assert_not_null(p);
    cr_assert_eq(talc_arena_destroy(target, TALC_DESTROY_RELEASE_ALL), -EPERM,
                 "EPERM wins over releasing");
    cr_assert_eq(talc_arena_of(p), target, "nothing was released");
    talc_free(p);
    /* an arena naming itself as fallback can still be destroyed */
    c = talc_arena_config_default("self");
    c.fallback = "self";
    talc_arena_t *self = test_arena_cfg(&c);
    cr_assert_eq(talc_arena_destroy(self, 0), 0);
    cr_assert_eq(talc_arena_destroy(user, 0), 0);
    cr_assert_eq(talc_arena_destroy(target, 0), 0, "no longer anyone's fallback");
}

Test(arena_registry, release_all_invalidates_only_that_arena)
{
    static test_fault_log_t log;
    talc_arena_t *x = test_arena("doomed", 2);
    talc_arena_t *y = test_arena("survivor", 2);
    enum { N = 64 };
    void *px[N], *py[N];
    size_t ny[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 8 == 0 ? 200000 : 40 + 37 * i); /* several segments */
        px[i] = talc_arena_malloc(x, n);
        ny[i] = n;
        py[i] = talc_arena_malloc(y, n);
        cr_assert(px[i] && py[i]);
        test_pattern_fill(py[i], n, (uint32_t)i);
    }
    void *big = talc_arena_malloc(x, 5u << 20); /* an oversized segment of its own */
    void *aligned = talc_arena_aligned_alloc(x, 1u << 20, 100);
    cr_assert(big && aligned);
    talc_arena_stats_t before = test_stats(y);
    cr_assert_eq(talc_arena_destroy(x, TALC_DESTROY_RELEASE_ALL), 0);
    cr_assert_null(talc_arena_find("doomed"));
    for (int i = 0; i < N; i++) {
        cr_assert_null(talc_arena_of(px[i]), "block %d of the destroyed arena", i);
        cr_assert_eq(talc_arena_of(py[i]), y);
        cr_assert_eq(test_pattern_check(py[i], ny[i], (uint32_t)i), ny[i], "block %d", i);
    }
    cr_assert_null(talc_arena_of(big));
    cr_assert_null(talc_arena_of(aligned));
    talc_arena_stats_t after = test_stats(y);
    cr_assert_eq(after.live_bytes, before.live_bytes);
    cr_assert_eq(after.live_allocs, before.live_allocs);
    cr_assert_eq(after.managed_bytes, before.managed_bytes);
    /* a pointer of the destroyed arena is now nobody's */
    talc_set_fatal_handler(test_fault_record, &log);
    talc_free(px[1]);
    cr_assert_eq(log.calls, 1);
    cr_assert_str_eq(log.arena, "unowned");
    cr_assert_eq(log.addr, px[1]);
    talc_set_fatal_handler(NULL, NULL);
    for (int i = 0; i < N; i++)
        talc_free(py[i]);
    test_assert_empty(y);
    /* the name is free again, and the new arena starts from zero */
    talc_arena_t *x2 = test_arena("doomed", 1);
    talc_arena_stats_t s = test_stats(x2);
    cr_assert_eq(s.allocs + s.live_bytes + s.source_bytes, 0);
}

/* A busy segment listed before an empty one whose free chunk shares its bin: destroy must not
 * touch the heap through memory it already gave back (a release build crashed here). */
Test(arena_registry, release_all_with_busy_and_empty_segments)
{
    talc_arena_t *x = test_arena("mixed", 1);
    void *a = talc_arena_malloc(x, 900000);
    void *b = talc_arena_malloc(x, 900000); /* a second segment */
    cr_assert(a && b);
    talc_free(a);                      /* the first one is empty (and kept) */
    b = talc_arena_realloc(x, b, 100); /* the second: one small block, the rest free */
    cr_assert_not_null(b);
    void *c = talc_arena_malloc(x, 3u << 20); /* and an oversized one */
    cr_assert_not_null(c);
    cr_assert_eq(talc_arena_destroy(x, 0), -EBUSY);
    cr_assert_eq(talc_arena_destroy(x, TALC_DESTROY_RELEASE_ALL), 0);
    cr_assert_null(talc_arena_of(b));
    cr_assert_null(talc_arena_of(c));
    talc_arena_t *y = test_arena("mixed", 1);
    void *p = talc_arena_malloc(y, 900000);
    cr_assert_not_null(p);
    talc_free(p);
}

Test(arena_registry, destroy_unbinds_the_calling_thread)
{
    talc_arena_t *a = test_arena("bound", 1);
    talc_arena_t *b = test_arena("scoped", 1);
    talc_arena_t *keep = test_arena("kept", 1);
    talc_thread_bind(a);
    cr_assert_eq(talc_scope_push(keep), 0);
    cr_assert_eq(talc_scope_push(b), 0);
    cr_assert_eq(talc_thread_arena(), b);
    cr_assert_eq(talc_arena_destroy(b, 0), 0);
    talc_arena_t *now = talc_thread_arena();
    cr_assert(now != b, "a destroyed scope is not used");
    void *p = talc_arena_malloc(NULL, 10);
    cr_assert_not_null(p);
    cr_assert_neq(talc_arena_of(p), NULL);
    talc_free(p);
    cr_assert_eq(talc_scope_pop(), 0);
    cr_assert_eq(talc_thread_arena(), keep);
    cr_assert_eq(talc_scope_pop(), 0);
    cr_assert_eq(talc_thread_arena(), a);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
    cr_assert_eq(talc_thread_arena(), talc_arena_default(), "binding dropped");
}

Test(arena_registry, destroyed_buffer_arena_buffer_is_reusable)
{
    size_t reuse_size = 9 * TEST_GRANULE;
    unsigned char *reuse_buf = test_buffer_map(reuse_size, 64);
    talc_arena_config_t c = test_buffer_config("buf1", reuse_buf, reuse_size);
    talc_arena_t *a = test_arena_cfg(&c);
    void *p = talc_arena_malloc(a, 1000);
    cr_assert_not_null(p);
    cr_assert_eq(talc_arena_destroy(a, TALC_DESTROY_RELEASE_ALL), 0);
    cr_assert_null(talc_arena_of(p));
    c.name = "buf2";
    talc_arena_t *b = test_arena_cfg(&c);
    void *q = talc_arena_malloc(b, 1000);
    cr_assert_not_null(q);
    cr_assert_eq(talc_arena_of(q), b);
    cr_assert(q >= (void *)reuse_buf && q < (void *)(reuse_buf + reuse_size));
    talc_free(q);
    cr_assert_eq(talc_arena_destroy(b, 0), 0);
}

/* ---- Shape options ------------------------------------------------------------------------*/

Test(arena_registry, stripes_one_auto_and_explicit)
{
    talc_arena_t *one = test_arena("one", 1);
    talc_arena_t *aut = test_arena("auto", 0);
    talc_arena_t *five = test_arena("five", 5);
    cr_assert_eq(test_stats(one).stripes, 1);
    cr_assert_eq(test_stats(five).stripes, 5);
    unsigned n = test_stats(aut).stripes;
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    cr_assert_geq(n, 2, "auto = two per core");
    cr_assert_eq(n % 2, 0, "auto = two per core");
    cr_assert_leq(n, TALC_STRIPES_MAX);
    cr_assert_leq((long)n, 2 * (cpus > 0 ? cpus : 1), "auto = two per core, so at most 2 x CPUs");
    cr_assert_eq(test_stats(talc_arena_default()).stripes, n, "the default arena is auto");
    talc_arena_t *all[] = {one, aut, five};
    for (int k = 0; k < 3; k++) {
        void *p[32];
        for (int i = 0; i < 32; i++) {
            p[i] = talc_arena_malloc(all[k], 100 + 10 * i);
            cr_assert_not_null(p[i]);
            cr_assert_eq(talc_arena_of(p[i]), all[k]);
        }
        for (int i = 0; i < 32; i++)
            talc_free(p[i]);
        test_assert_empty(all[k]);
    }
}

Test(arena_registry, initial_size_is_mapped_at_creation)
{
    talc_arena_config_t c = talc_arena_config_default("prefilled");
    c.stripes = 2;
    c.initial_size = TEST_SEGMENT_SCALED(4u << 20);
    talc_arena_t *a = test_arena_cfg(&c);
    talc_arena_stats_t s = test_stats(a);
    cr_assert_geq(s.source_bytes, c.initial_size, "mapped before the first allocation");
#if TALC_COUNTERS
    cr_assert_geq(s.managed_bytes, c.initial_size / 2);
#endif
    void *p = talc_arena_malloc(a, 1000);
    cr_assert_not_null(p);
    s = test_stats(a);
    cr_assert_eq(s.oom_runs[TALC_OOM_STEP_GROW], 0, "the first allocation did not grow");
    talc_free(p);
    c = talc_arena_config_default("lazy");
    talc_arena_t *l = test_arena_cfg(&c);
    cr_assert_eq(test_stats(l).source_bytes, 0, "initial_size 0: nothing until first use");
#if UINTPTR_MAX > 0xffffffffu
    /* More than the address space can hold: create fails, and registers nothing. */
    c = talc_arena_config_default("unmappable");
    c.initial_size = (size_t)1 << 60;
    errno = 0;
    cr_assert_null(talc_arena_create(&c), "initial_size the OS refuses");
    cr_assert_eq(errno, ENOMEM);
    cr_assert_null(talc_arena_find("unmappable"));
#endif
}

Test(arena_registry, numa_node_binding_still_allocates)
{
    talc_arena_config_t c = talc_arena_config_default("numa0");
    c.numa_node = 0;
    talc_arena_t *a = test_arena_cfg(&c);
    char *p = talc_arena_malloc(a, 100000);
    cr_assert_not_null(p);
    memset(p, 1, 100000);
    talc_free(p);
    c = talc_arena_config_default("numa-bogus");
    c.numa_node = 4000; /* no such node: binding is best effort */
    a = test_arena_cfg(&c);
    p = talc_arena_malloc(a, 100000);
    cr_assert_not_null(p);
    memset(p, 1, 100000);
    talc_free(p);
}

/* ---- Destroy from inside a lookup ---------------------------------------------------------*/

/* A foreach callback runs inside an RCU read-side section, and destroy waits for a grace
 * period, which cannot end while the caller itself is a reader: until 2026-12-04 this hung
 * for good. liburcu-bp blocks every signal while it waits, so an alarm cannot end it: the
 * callback runs on a thread that the test waits for with a timeout instead. */
static int test_victim_rc = 1;

static bool test_destroy_victim(talc_arena_t *a, void *ctx)
{
    if (a == ctx)
        test_victim_rc = talc_arena_destroy(a, 0);
    return true;
}

static void *test_foreach_destroying(void *victim)
{
    (void)talc_arena_foreach(test_destroy_victim, victim);
    return NULL;
}

Test(arena_registry, destroy_inside_foreach_is_edeadlk)
{
    talc_arena_t *victim = test_arena("victim", 1);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, test_foreach_destroying, victim), 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    cr_assert_eq(pthread_timedjoin_np(t, NULL, &until), 0, "destroy inside foreach hung");
    cr_assert_eq(test_victim_rc, -EDEADLK, "destroy inside foreach: %d", test_victim_rc);
    cr_assert_eq(talc_arena_find("victim"), victim, "still registered");
    cr_assert_eq(talc_arena_destroy(victim, 0), 0, "outside foreach it goes");
}

/* A destroy waits for a grace period in liburcu, polling (poll(2), a cancellation point) with
 * liburcu's grace-period lock held. A thread cancelled there left that lock held, and every
 * later destroy, on any thread, hung for good (the cancelled arena stayed mapped too); a
 * cancellation now waits for the destroy to finish. Found by a soak review (2026-12-06). */
static atomic_int gp_reading, gp_release, gp_tid;
static int gp_rc = 1;

static bool gp_slow_reader(talc_arena_t *a, void *ctx)
{
    (void)a;
    (void)ctx;
    atomic_store(&gp_reading, 1);
    while (!atomic_load(&gp_release))
        usleep(1000);
    return false;
}

static void *gp_reader(void *arg)
{
    (void)arg;
    (void)talc_arena_foreach(gp_slow_reader, NULL);
    return NULL;
}

static void *gp_destroyer(void *arg)
{
    atomic_store(&gp_tid, (int)syscall(SYS_gettid));
    gp_rc = talc_arena_destroy(arg, 0);
    return NULL;
}

static void *gp_create_destroy(void *arg)
{
    (void)arg;
    gp_rc = talc_arena_destroy(test_arena("gp-next", 1), 0);
    return NULL;
}

/* Is thread tid in poll(2) (liburcu's wait for readers)? Read from /proc; false if unknown. */
static bool gp_in_poll(int tid)
{
    char path[64];
    long nr = -1;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%ld", &nr) != 1)
            nr = -1;
        fclose(f);
    }
#ifdef SYS_poll
    if (nr == SYS_poll)
        return true;
#endif
    return nr == SYS_ppoll;
}

static void gp_join(pthread_t t, const char *what)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    cr_assert_eq(pthread_timedjoin_np(t, NULL, &until), 0, "%s hung", what);
}

Test(arena_registry, a_destroy_cancelled_in_its_grace_period_blocks_no_later_destroy)
{
    talc_arena_t *victim = test_arena("gp-victim", 1);
    pthread_t r, d, n;
    cr_assert_eq(pthread_create(&r, NULL, gp_reader, NULL), 0);
    while (!atomic_load(&gp_reading))
        usleep(1000);
    cr_assert_eq(pthread_create(&d, NULL, gp_destroyer, victim), 0);
    while (!atomic_load(&gp_tid))
        usleep(1000);
    /* Until it polls for the reader (a bounded look: where /proc does not tell, as under an
     * emulator, the cancellation may come earlier and the test proves less) */
    for (int i = 0; i < 2000 && !gp_in_poll(atomic_load(&gp_tid)); i++)
        usleep(1000);
    cr_assert_eq(pthread_cancel(d), 0);
    atomic_store(&gp_release, 1);
    gp_join(r, "the reader");
    gp_join(d, "the cancelled destroy");
    cr_assert_eq(gp_rc, 0, "the cancelled destroy returned %d", gp_rc);
    cr_assert_null(talc_arena_find("gp-victim"));
    gp_rc = 1;
    cr_assert_eq(pthread_create(&n, NULL, gp_create_destroy, NULL), 0);
    gp_join(n, "a destroy after the cancelled one");
    cr_assert_eq(gp_rc, 0, "a destroy after the cancelled one returned %d", gp_rc);
}
