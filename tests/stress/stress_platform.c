/* stress_platform.c — the platform layer under concurrency, as a plain program for TSan (which
 * cannot run Criterion): readers look owners up in the pagemap, ask for their CPU and stripe,
 * and load the topology, while a writer publishes fresh owners, clears ranges and installs
 * new leaves. Exits 0 if every owner a reader saw was fully initialised, every reader saw
 * owners and every registration succeeded; 1 otherwise. The writer goes on republishing owners
 * it has written until each reader has met one (10 s at most): a reader scheduled only after
 * the rounds would otherwise check nothing, and pass.
 *
 * Usage: stress_platform [rounds]   (default 50000; about a second natively, more under TSan)
 * Who runs it: the TSan job (TALC_SANITIZE=tsan) and, optionally, any build as a plain test.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "atomic.h"
#include "cpu_id.h"
#include "pagemap.h"
#include "topology.h"

#define READERS 3
#define PAYLOAD 8
#define G ((uintptr_t)TALC_PAGEMAP_GRANULE)
#if UINTPTR_MAX > 0xffffffffu
#define FAR ((uintptr_t)0x100000000000ull) /* far from real mappings; never dereferenced */
#else
#define FAR ((uintptr_t)0x40000000u)
#endif
#define WINDOW 90u /* granules the readers scan */

typedef struct owner {
    uint32_t seq;
    uint32_t payload[PAYLOAD]; /* all = seq once initialised */
} owner_t;

typedef struct stress {
    owner_t *owners;
    uint32_t rounds;
    pthread_barrier_t start; /* readers and writer begin together */
    talc_atomic_u32 done;
    talc_atomic_u32 met; /* readers that have seen an owner */
} stress_t;

/* Returns the number of registrations that failed (each one a failure of the test: the
 * readers would then see nothing, and a reader that sees nothing proves nothing). */
static void *writer(void *arg)
{
    stress_t *s = arg;
    uintptr_t failed = 0;
    pthread_barrier_wait(&s->start);
    for (uint32_t i = 0; i < s->rounds; i++) {
        owner_t *o = &s->owners[i];
        o->seq = i;
        for (int k = 0; k < PAYLOAD; k++)
            o->payload[k] = i;
        if (talc_pagemap_set(FAR + (i % 7u) * 4u * G, 64 * G, o) != 0 && failed++ < 5)
            fprintf(stderr, "set failed at round %u\n", i);
        if (i % 5u == 0)
            talc_pagemap_clear(FAR, 8 * G);
        uintptr_t leaf = FAR + ((uintptr_t)(i % 16u) + 1u) * (uintptr_t)TALC_PAGEMAP_LEAF_SPAN;
        if (talc_pagemap_set(leaf, G, o) != 0 && failed++ < 5)
            fprintf(stderr, "set of a leaf range failed at round %u\n", i);
    }
    /* Owners written above only (no write races a reader), until every reader has met one. */
    time_t until = time(NULL) + 10;
    for (uint32_t j = 0; talc_atomic_load_relaxed_u32(&s->met) < READERS && time(NULL) < until;
         j++) {
        if (talc_pagemap_set(FAR + (j % 7u) * 4u * G, 64 * G, &s->owners[j % s->rounds]) != 0 &&
            failed++ < 5)
            fprintf(stderr, "set failed after the rounds\n");
        if (j % 5u == 0)
            talc_pagemap_clear(FAR, 8 * G);
    }
    talc_atomic_store_release_u32(&s->done, 1); /* release: ends the readers' loops */
    return (void *)failed;
}

/* 1 if o is not a fully initialised owner. */
static int owner_bad(const stress_t *s, const owner_t *o)
{
    if (o < s->owners || o >= s->owners + s->rounds)
        return 1;
    for (int k = 0; k < PAYLOAD; k++)
        if (o->payload[k] != o->seq)
            return 1;
    return 0;
}

static void *reader(void *arg)
{
    stress_t *s = arg;
    const talc_topology_t *t = talc_topology_get();
    uintptr_t bad = 0;
    unsigned long seen = 0;
    uint32_t g = 0;
    pthread_barrier_wait(&s->start);
    /* acquire: pairs with the writer's release of done */
    while (!talc_atomic_load_acquire_u32(&s->done)) {
        const owner_t *o = talc_pagemap_get((void *)(FAR + (g++ % WINDOW) * G));
        if (o) {
            if (seen++ == 0) /* relaxed: a count; the writer only waits for it to grow */
                atomic_fetch_add_explicit(&s->met, 1u, memory_order_relaxed);
            bad += (uintptr_t)owner_bad(s, o);
        }
        unsigned cpu = talc_cpu_cached();
        bad += cpu >= t->ncpus;
        bad += talc_topology_stripe_of_cpu(t, talc_cpu_current(), 2) >= 2;
    }
    fprintf(stderr, "reader: %lu owners seen, %lu bad\n", seen, (unsigned long)bad);
    return (void *)(bad + (seen == 0)); /* a reader that never met an owner checked nothing */
}

int main(int argc, char **argv)
{
    stress_t s = {.rounds = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 50000u};
    if (s.rounds == 0)
        s.rounds = 1;
    s.owners = calloc(s.rounds, sizeof *s.owners);
    if (!s.owners)
        return 1;
    talc_atomic_store_relaxed_u32(&s.done, 0); /* relaxed: before any thread exists */
    talc_atomic_store_relaxed_u32(&s.met, 0);
    pthread_barrier_init(&s.start, NULL, READERS + 1);
    pthread_t w, r[READERS];
    for (int i = 0; i < READERS; i++)
        pthread_create(&r[i], NULL, reader, &s);
    pthread_create(&w, NULL, writer, &s);
    void *failed;
    pthread_join(w, &failed);
    uintptr_t bad = (uintptr_t)failed;
    for (int i = 0; i < READERS; i++) {
        void *res;
        pthread_join(r[i], &res);
        bad += (uintptr_t)res;
    }
    pthread_barrier_destroy(&s.start);
    free(s.owners);
    return bad != 0;
}
