/* test_pagemap.c — the owner map (src/pagemap.c): set/get/clear over real and synthetic
 * ranges, NULL for every address never registered (stack, static, heap, code, 0, the top of
 * the covered range and beyond), argument checks, leaves shared and spanned, -ENOMEM without
 * partial registration (fake OS ops), readers racing a writer that publishes fresh owners,
 * and writers racing to install the same leaves.
 *
 * Each Criterion test runs in its own process, so each starts with an empty pagemap.
 * Synthetic ranges (far from any real mapping) need no memory behind them: the pagemap never
 * touches the addresses it maps. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "atomic.h"
#include "fake_os.h"
#include "os_mem.h"
#include "pagemap.h"

#define G ((uintptr_t)TALC_PAGEMAP_GRANULE)
#define SPAN ((uintptr_t)TALC_PAGEMAP_LEAF_SPAN)
#if UINTPTR_MAX > 0xffffffffu
#define FAR ((uintptr_t)0x100000000000ull) /* 16 TiB: a leaf-aligned, unmapped region */
#else
#define FAR ((uintptr_t)0x40000000u)
#endif

static int some_static;

static void check_range(uintptr_t base, size_t size, void *owner)
{
    for (uintptr_t a = base; a < base + size; a += G) {
        cr_assert_eq(talc_pagemap_get((void *)a), owner, "granule %#lx", (unsigned long)a);
        cr_assert_eq(talc_pagemap_get((void *)(a + G - 1)), owner);
        cr_assert_eq(talc_pagemap_get((void *)(a + G / 2)), owner);
    }
}

Test(pagemap, unregistered_addresses_are_null)
{
    int on_stack = 0;
    void *heap = malloc(100);
    const void *probes[] = {
        &on_stack,
        &some_static,
        heap,
        (void *)(uintptr_t)check_range,
        NULL,
        (void *)UINTPTR_MAX,
        (void *)(uintptr_t)1,
        (void *)(UINTPTR_MAX - G),
#if UINTPTR_MAX > 0xffffffffu
        (void *)(uintptr_t)0x7fffffffffffull,
        (void *)(uintptr_t)0x800000000000ull,
        (void *)(uintptr_t)0xffff800000000000ull,
        (void *)(uintptr_t)0xffffffffff600000ull,
        (void *)(uintptr_t)0x0000800000000001ull,
#endif
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        cr_assert_null(talc_pagemap_get(probes[i]), "probe %zu (%p)", i, probes[i]);
    cr_assert_eq(talc_pagemap_leaves(), 0, "lookups never map leaves");
    free(heap);
}

Test(pagemap, set_get_clear_a_real_segment)
{
    size_t size = 16 * G;
    unsigned char *seg = talc_os_map(size, G);
    cr_assert_not_null(seg);
    uintptr_t base = (uintptr_t)seg;
    int owner = 42;
    cr_assert_eq(talc_pagemap_set(base, size, &owner), 0);
    check_range(base, size, &owner);
    cr_assert_null(talc_pagemap_get(seg - 1), "the byte below is not registered");
    cr_assert_null(talc_pagemap_get(seg + size), "nor the byte above");

    talc_pagemap_clear(base + 4 * G, 8 * G);
    check_range(base, 4 * G, &owner);
    check_range(base + 4 * G, 8 * G, NULL);
    check_range(base + 12 * G, 4 * G, &owner);
    talc_pagemap_clear(base, size);
    check_range(base, size, NULL);
    cr_assert_eq(talc_pagemap_leaves(), 1 + ((base + size - 1) / SPAN != base / SPAN));
    talc_os_unmap(seg, size);
}

Test(pagemap, set_overwrites_and_shares_leaves)
{
    int a = 1, b = 2;
    cr_assert_eq(talc_pagemap_set(FAR, 8 * G, &a), 0);
    cr_assert_eq(talc_pagemap_set(FAR + 100 * G, 8 * G, &b), 0);
    cr_assert_eq(talc_pagemap_leaves(), 1, "both ranges live in one leaf");
    cr_assert_eq(talc_pagemap_set(FAR + 4 * G, 8 * G, &b), 0);
    check_range(FAR, 4 * G, &a);
    check_range(FAR + 4 * G, 8 * G, &b);
    check_range(FAR + 12 * G, 88 * G, NULL);
    check_range(FAR + 100 * G, 8 * G, &b);
    cr_assert_eq(talc_pagemap_leaves(), 1);
}

Test(pagemap, ranges_span_leaves_up_to_the_top_of_the_covered_space)
{
    int a = 1, top = 2;
    uintptr_t base = FAR + SPAN - 2 * G;
    cr_assert_eq(talc_pagemap_set(base, 4 * G, &a), 0);
    cr_assert_eq(talc_pagemap_leaves(), 2);
    check_range(base, 4 * G, &a);
    cr_assert_null(talc_pagemap_get((void *)(base - 1)));
    cr_assert_null(talc_pagemap_get((void *)(base + 4 * G)));

    uintptr_t last = (uintptr_t)(TALC_PAGEMAP_LIMIT - G);
    cr_assert_eq(talc_pagemap_set(last, G, &top), 0);
    cr_assert_eq(talc_pagemap_get((void *)last), &top);
    cr_assert_eq(talc_pagemap_get((void *)(uintptr_t)(TALC_PAGEMAP_LIMIT - 1)), &top);
#if UINTPTR_MAX > 0xffffffffu
    cr_assert_null(talc_pagemap_get((void *)(uintptr_t)TALC_PAGEMAP_LIMIT), "just above");
#endif
    talc_pagemap_clear(base, 4 * G);
    check_range(base, 4 * G, NULL);
    cr_assert_eq(talc_pagemap_get((void *)last), &top, "clearing one range keeps the other");
}

Test(pagemap, rejects_bad_ranges_and_registers_nothing)
{
    int o = 1;
    cr_assert_eq(talc_pagemap_set(FAR + 1, G, &o), -EINVAL, "unaligned base");
    cr_assert_eq(talc_pagemap_set(FAR, G + 1, &o), -EINVAL, "unaligned size");
    cr_assert_eq(talc_pagemap_set(FAR, 0, &o), -EINVAL, "empty");
    cr_assert_eq(talc_pagemap_set(FAR, G, NULL), -EINVAL, "NULL owner");
#if UINTPTR_MAX > 0xffffffffu
    uintptr_t limit = (uintptr_t)TALC_PAGEMAP_LIMIT;
    cr_assert_eq(talc_pagemap_set(limit, G, &o), -EINVAL, "above the covered space");
    cr_assert_eq(talc_pagemap_set(limit - G, 2 * G, &o), -EINVAL, "runs past the top");
    cr_assert_eq(talc_pagemap_set(UINTPTR_MAX - G + 1, G, &o), -EINVAL, "wraps around");
#endif
    cr_assert_eq(talc_pagemap_leaves(), 0, "refused before mapping anything");
    cr_assert_eq(talc_pagemap_set(FAR, 2 * G, &o), 0);
    talc_pagemap_clear(FAR + 1, G); /* a caller bug: ignored */
    talc_pagemap_clear(FAR, 0);
    check_range(FAR, 2 * G, &o);
}

Test(pagemap, enomem_registers_nothing)
{
    static fake_os_t f; /* outlives every set, as talc_pagemap_use_os requires */
    fake_os_init(&f);
    talc_pagemap_use_os(&f.ops);
    int o = 1;
    f.fail_after = 0;
    cr_assert_eq(talc_pagemap_set(FAR, 4 * G, &o), -ENOMEM);
    check_range(FAR, 4 * G, NULL);
    cr_assert_eq(f.map_failures, 1);
    cr_assert_eq(talc_pagemap_leaves(), 0);

    uintptr_t base = FAR + SPAN - 2 * G; /* needs two new leaves; the second map fails */
    f.fail_after = 1;
    cr_assert_eq(talc_pagemap_set(base, 4 * G, &o), -ENOMEM);
    check_range(base, 4 * G, NULL);
    cr_assert_eq(f.maps, 1, "the first leaf was mapped");
    cr_assert_eq(talc_pagemap_leaves(), 1, "and stays, empty");

    f.fail_after = -1;
    cr_assert_eq(talc_pagemap_set(base, 4 * G, &o), 0);
    check_range(base, 4 * G, &o);
    cr_assert_eq(f.maps, 2, "only the missing leaf is mapped");
    cr_assert_eq(f.unmaps, 0, "leaves are never freed");
    talc_pagemap_clear(base, 4 * G);
    cr_assert_eq(f.unmaps, 0);
}

/* ---- Readers racing a writer ------------------------------------------------------------- */

#define RACE_GRANULES 64u
#define RACE_ROUNDS 200000u /* fresh owners available to the writer */
#define RACE_ENOUGH 20000u  /* sightings per reader after which the writer stops */
#define RACE_READERS 3

typedef struct owner {
    uint32_t seq;
    uint32_t payload[15]; /* all = seq * 7 + 1 once initialised */
} owner_t;

typedef struct race {
    owner_t *owners;                    /* RACE_ROUNDS fresh owners, each published once */
    pthread_barrier_t start;            /* readers and writer start together */
    talc_atomic_u32 done;               /* the writer has finished */
    talc_atomic_u32 published;          /* seq of the last owner published */
    talc_atomic_u32 seen[RACE_READERS]; /* sightings so far, per reader */
} race_t;

typedef struct reader_arg {
    race_t *race;
    unsigned id;
} reader_arg_t;

/* True once every reader has seen `enough` owners. */
static int readers_satisfied(race_t *r, uint32_t enough)
{
    for (int i = 0; i < RACE_READERS; i++)
        if (talc_atomic_load_relaxed_u32(&r->seen[i]) < enough) /* relaxed: progress */
            return 0;
    return 1;
}

static void *race_writer(void *arg)
{
    race_t *r = arg;
    uintptr_t failures = 0;
    pthread_barrier_wait(&r->start);
    for (uint32_t i = 0; i < RACE_ROUNDS && !readers_satisfied(r, RACE_ENOUGH); i++) {
        owner_t *o = &r->owners[i];
        o->seq = i;
        for (int k = 0; k < 15; k++)
            o->payload[k] = i * 7u + 1u;
        /* relaxed: a bound for the readers' checks only; set publishes the owner itself */
        talc_atomic_store_relaxed_u32(&r->published, i);
        failures += talc_pagemap_set(FAR, RACE_GRANULES * G, o) != 0;
        if (i % 3 == 2)
            talc_pagemap_clear(FAR + (i % RACE_GRANULES) * G, G);
    }
    /* The owners stay registered. A reader the scheduler kept off both CPUs while the rounds
     * ran (three readers, a writer and another test's threads on a 2-CPU runner) gets up to
     * 10 s more to see one: the test checks that every reader ran while the writer did. */
    for (unsigned ms = 0; ms < 10000 && !readers_satisfied(r, 1); ms++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    talc_atomic_store_release_u32(&r->done, 1); /* release: ends the readers' loops */
    return (void *)failures;
}

/* 1 if o is not one of the owners, or not yet (fully) initialised when seen. */
static int owner_bad(race_t *r, const owner_t *o)
{
    if (o < r->owners || o >= r->owners + RACE_ROUNDS)
        return 1;
    /* relaxed: o was published after published was raised to at least o->seq */
    if (o->seq > talc_atomic_load_relaxed_u32(&r->published))
        return 1;
    for (int k = 0; k < 15; k++)
        if (o->payload[k] != o->seq * 7u + 1u)
            return 1;
    return 0;
}

static void *race_reader(void *arg)
{
    reader_arg_t *a = arg;
    race_t *r = a->race;
    uint32_t seen = 0, bad = 0, g = 0;
    pthread_barrier_wait(&r->start);
    /* acquire: pairs with the writer's release of done (nothing else rides on it) */
    while (!talc_atomic_load_acquire_u32(&r->done)) {
        const owner_t *o = talc_pagemap_get((void *)(FAR + (g++ % RACE_GRANULES) * G + 5));
        if (!o)
            continue;
        talc_atomic_store_relaxed_u32(&r->seen[a->id], ++seen); /* relaxed: progress */
        bad += owner_bad(r, o);
    }
    return (void *)(bad ? UINTPTR_MAX : seen);
}

Test(pagemap, readers_racing_a_writer_see_whole_owners)
{
    static race_t r;
    r.owners = calloc(RACE_ROUNDS, sizeof(owner_t));
    cr_assert_not_null(r.owners);
    pthread_barrier_init(&r.start, NULL, RACE_READERS + 1);
    pthread_t readers[RACE_READERS], writer;
    reader_arg_t args[RACE_READERS];
    for (unsigned i = 0; i < RACE_READERS; i++) {
        args[i] = (reader_arg_t){&r, i};
        cr_assert_eq(pthread_create(&readers[i], NULL, race_reader, &args[i]), 0);
    }
    cr_assert_eq(pthread_create(&writer, NULL, race_writer, &r), 0);
    void *failures;
    pthread_join(writer, &failures);
    cr_assert_null(failures, "every set succeeded");
    for (int i = 0; i < RACE_READERS; i++) {
        void *res;
        pthread_join(readers[i], &res);
        cr_assert_neq((uintptr_t)res, UINTPTR_MAX, "reader %d saw a torn or unknown owner", i);
        cr_assert_gt((uintptr_t)res, 0, "reader %d ran while the writer did", i);
        cr_log_info("reader %d saw %lu owners", i, (unsigned long)(uintptr_t)res);
    }
    cr_log_info("writer published %u owners", talc_atomic_load_relaxed_u32(&r.published) + 1);
    pthread_barrier_destroy(&r.start);
    free(r.owners);
}

/* ---- Writers racing to install leaves ---------------------------------------------------- */

#define LEAF_WRITERS 4
#define LEAF_COUNT 16u

typedef struct leaf_race {
    pthread_barrier_t start;
    int owners[LEAF_WRITERS];
} leaf_race_t;

typedef struct leaf_arg {
    leaf_race_t *race;
    unsigned id;
} leaf_arg_t;

/* Writer id registers granule id of each of LEAF_COUNT fresh leaves: all writers need every
 * leaf at once, so they race to install each one (the fake OS's slow maps make sure they
 * overlap). */
static void *leaf_writer(void *p)
{
    leaf_arg_t *a = p;
    pthread_barrier_wait(&a->race->start);
    for (unsigned l = 0; l < LEAF_COUNT; l++)
        if (talc_pagemap_set(FAR + l * SPAN + a->id * G, G, &a->race->owners[a->id]) != 0)
            return (void *)1;
    return NULL;
}

Test(pagemap, writers_racing_on_new_leaves_keep_every_registration)
{
    static fake_os_t f;
    fake_os_init(&f);
    f.map_delay_us = 2000;
    talc_pagemap_use_os(&f.ops);
    leaf_race_t race;
    leaf_arg_t args[LEAF_WRITERS];
    pthread_t th[LEAF_WRITERS];
    pthread_barrier_init(&race.start, NULL, LEAF_WRITERS);
    for (unsigned i = 0; i < LEAF_WRITERS; i++) {
        args[i] = (leaf_arg_t){&race, i};
        cr_assert_eq(pthread_create(&th[i], NULL, leaf_writer, &args[i]), 0);
    }
    for (unsigned i = 0; i < LEAF_WRITERS; i++) {
        void *res;
        pthread_join(th[i], &res);
        cr_assert_null(res, "writer %u failed", i);
    }
    cr_assert_eq(talc_pagemap_leaves(), LEAF_COUNT, "one leaf installed per slot");
    size_t leaf_bytes = ((size_t)1 << TALC_PAGEMAP_LEAF_BITS) * sizeof(void *);
    cr_assert_eq(f.maps - f.unmaps, LEAF_COUNT, "every losing copy was unmapped");
    cr_assert_eq(f.mapped_bytes, LEAF_COUNT * leaf_bytes);
    cr_assert_gt(f.unmaps, 0, "the writers did race (%u maps)", f.maps);
    cr_log_info("%u maps, %u lost the race", f.maps, f.unmaps);
    for (unsigned l = 0; l < LEAF_COUNT; l++)
        for (unsigned i = 0; i < LEAF_WRITERS; i++)
            cr_assert_eq(talc_pagemap_get((void *)(FAR + l * SPAN + i * G)), &race.owners[i],
                         "leaf %u writer %u lost its entry", l, i);
    pthread_barrier_destroy(&race.start);
}
