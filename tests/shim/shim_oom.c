/* shim_oom.c — the malloc family when the address space runs out (docs/shim.md, "Tests").
 *
 * The program caps its own address space (RLIMIT_AS: what it has mapped now plus 48 MiB, or six
 * OS segments where those are larger than 8 MiB: with 16 MiB owner-map granules), then, three
 * rounds over:
 *   - allocates through every entry point (malloc, calloc, realloc, reallocarray, aligned_alloc,
 *     posix_memalign, memalign, valloc, pvalloc): 16 MiB of blocks of 16 B to 1 KiB, which must
 *     all succeed, then blocks from 4 MiB down to 16 bytes, each size until it fails eight times
 *     in a row: every failure must be NULL + ENOMEM (posix_memalign: ENOMEM, *memptr
 *     untouched), and the limit must be reached at all;
 *   - grows a block with realloc past what is left: NULL + ENOMEM, the block unchanged;
 *   - lets a thread started before the exhaustion make its first allocations now: NULL +
 *     ENOMEM, or a usable block;
 *   - checks every block's contents and frees them all.
 * Each round must hold at least 90 % of the first round's bytes at exhaustion: what the
 * failure paths took (owner-map leaves, segments, thread caches, reserve runs) came back. The
 * linked build (SHIM_LINKED) also reads the default arena's statistics: failed allocations
 * counted, as much live once everything is freed as before the rounds.
 *
 * Native only: qemu-user does not apply a guest's RLIMIT_AS to its own mappings.
 * Exit status 0 iff every check passed; failures are printed to stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifdef SHIM_LINKED
#include "talc/arena.h"
#include "talc/stats.h"
#endif

/* pvalloc and valloc are obsolete but part of the contract. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include "shim_check.h"

#define MAX_BLOCKS ((size_t)1 << 20)
#define FAILS_PER_SIZE 8
#define ROUNDS 3

/* Address space allowed above what the process maps at start, and the bytes of small blocks
 * allocated before the exhaustion: 48 and 16 MiB, or SHIM_OOM_HEADROOM_MIB and
 * SHIM_OOM_SMALL_MIB (smaller in builds that check the heap after every operation). With
 * large owner-map granules an OS segment is one granule (SHIM_GRANULE_SHIFT, the build's
 * TALC_PAGEMAP_SHIFT) and the default headroom at least six of them: the small blocks fill
 * two, and mapping one aligned to the granule takes twice its size for a moment. */
static size_t headroom, small_bytes;

#ifndef SHIM_GRANULE_SHIFT
#define SHIM_GRANULE_SHIFT 16
#endif
#define OS_SEGMENT ((size_t)1 << (SHIM_GRANULE_SHIFT > 20 ? SHIM_GRANULE_SHIFT : 20))
#define HEADROOM_MIB (6 * OS_SEGMENT > ((size_t)48 << 20) ? 6 * OS_SEGMENT >> 20 : 48)

typedef struct block {
    unsigned char *p;
    size_t n;
} block_t;

static block_t *blocks;
static size_t nblocks, held_bytes;

/* One byte pattern per block, over its first and last bytes (up to 16 each, disjoint). */
static void mark(unsigned char *p, size_t n, unsigned seed)
{
    size_t k = n / 2u < 16u ? n / 2u : 16u;
    for (size_t i = 0; i < k; i++) {
        p[i] = (unsigned char)(seed + i);
        p[n - 1 - i] = (unsigned char)(seed + 7 * i + 1);
    }
}

static int marked(const unsigned char *p, size_t n, unsigned seed)
{
    size_t k = n / 2u < 16u ? n / 2u : 16u;
    for (size_t i = 0; i < k; i++)
        if (p[i] != (unsigned char)(seed + i) || p[n - 1 - i] != (unsigned char)(seed + 7 * i + 1))
            return 0;
    return 1;
}

/* One allocation of n bytes through entry point `how`; NULL on failure, with the entry point's
 * own failure contract checked. *n is the usable size the caller may write. */
static void *allocate(unsigned how, size_t *n)
{
    void *p = NULL, *sentinel = (void *)&blocks;
    int rc = 0;
    errno = 0;
    switch (how % 9u) {
    case 0:
        p = malloc(*n);
        break;
    case 1:
        p = calloc(1, *n);
        break;
    case 2:
        p = realloc(NULL, *n);
        break;
    case 3:
        p = reallocarray(NULL, 1, *n);
        break;
    case 4:
        p = aligned_alloc(64, *n);
        break;
    case 5:
        p = sentinel;
        rc = posix_memalign(&p, 128, *n);
        if (rc != 0) {
            CHECK(rc == ENOMEM, "posix_memalign(%zu) returned %d", *n, rc);
            CHECK(p == sentinel, "posix_memalign changed *memptr on failure");
            return NULL;
        }
        break;
    case 6:
        p = memalign(256, *n);
        break;
    case 7:
        p = valloc(*n);
        break;
    default:
        p = pvalloc(*n);
        *n = (*n + 4095u) & ~(size_t)4095u; /* pvalloc rounds up to a page (4 KiB here) */
        break;
    }
    if (!p)
        CHECK(errno == ENOMEM, "entry point %u, %zu bytes: NULL with errno %d", how % 9u, *n,
              errno);
    return p;
}

/* Allocate n-byte blocks, rotating the entry points, until FAILS_PER_SIZE failures in a row. */
static void fill_size(size_t n, unsigned *how)
{
    unsigned fails = 0;
    while (fails < FAILS_PER_SIZE && nblocks < MAX_BLOCKS) {
        size_t m = n;
        unsigned char *p = allocate((*how)++, &m);
        if (!p) {
            fails++;
            continue;
        }
        fails = 0;
        mark(p, m, (unsigned)nblocks);
        blocks[nblocks++] = (block_t){p, m};
        held_bytes += m;
    }
}

static sem_t go;
static pthread_attr_t small_stack; /* 256 KiB, not 8 MiB of the headroom per thread */
static void *late_thread(void *arg)
{
    (void)arg;
    sem_wait(&go);
    size_t sizes[] = {100, 5000, 40000};
    for (unsigned i = 0; i < 3; i++) {
        size_t n = sizes[i];
        unsigned char *p = allocate(i * 4u, &n); /* malloc, aligned_alloc, pvalloc */
        if (p) {
            memset(p, 0xa5, n);
            free(p);
        }
    }
    return NULL;
}

/* A realloc that cannot be served fails and leaves the block as it was. */
static void check_failed_grow(void)
{
    if (nblocks == 0)
        return;
    block_t *b = &blocks[0];
    errno = 0;
    void *q = realloc(b->p, headroom * 2);
    CHECK(q == NULL, "realloc to %zu bytes succeeded past the limit", headroom * 2);
    if (q) {
        b->p = q; /* keep the checks below sound */
        mark(q, b->n, 0);
        return;
    }
    CHECK(errno == ENOMEM, "realloc grow: errno %d", errno);
    CHECK(marked(b->p, b->n, 0), "the block changed under a failed realloc");
}

static size_t round_once(unsigned round)
{
    static const size_t sizes[] = {
        (size_t)4 << 20, (size_t)256 << 10, (size_t)16 << 10, 1024, 64, 16};
    pthread_t t;
    int started = pthread_create(&t, &small_stack, late_thread, NULL) == 0;
    CHECK(started, "pthread_create before exhaustion");
    nblocks = held_bytes = 0;
    unsigned how = round;
    /* First small_bytes of small blocks (16 B .. 1 KiB): segments full of them, thread caches
     * filled; none of these may fail yet. */
    for (unsigned i = 0; held_bytes < small_bytes && nblocks < MAX_BLOCKS; i++) {
        size_t m = (size_t)16 << (i % 7u);
        unsigned char *p = allocate(how++, &m);
        CHECK(p != NULL, "%zu bytes with %zu KiB held, below the limit", m, held_bytes >> 10);
        if (!p)
            break;
        mark(p, m, (unsigned)nblocks);
        blocks[nblocks++] = (block_t){p, m};
        held_bytes += m;
    }
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        fill_size(sizes[i], &how);
    CHECK(nblocks < MAX_BLOCKS, "no allocation failed: RLIMIT_AS is not in force");
    size_t held = held_bytes;
    check_failed_grow();
    sem_post(&go);
    if (started)
        pthread_join(t, NULL);
    for (size_t i = 0; i < nblocks; i++) {
        CHECK(marked(blocks[i].p, blocks[i].n, (unsigned)i), "block %zu (%zu bytes) damaged", i,
              blocks[i].n);
        free(blocks[i].p);
    }
    printf("shim_oom: round %u: %zu blocks, %zu KiB at exhaustion\n", round, nblocks, held >> 10);
    return held;
}

/* VmSize of this process, in bytes (0 if unknown). */
static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib << 10;
}

static size_t env_mib(const char *name, size_t dflt)
{
    const char *v = getenv(name);
    return (v && *v ? (size_t)strtoull(v, NULL, 10) : dflt) << 20;
}

int main(void)
{
    headroom = env_mib("SHIM_OOM_HEADROOM_MIB", HEADROOM_MIB);
    small_bytes = env_mib("SHIM_OOM_SMALL_MIB", 16);
    blocks = calloc(MAX_BLOCKS, sizeof *blocks); /* before the limit, and touched */
    CHECK(blocks != NULL, "the block table");
    if (!blocks)
        return 1;
    memset(blocks, 0, MAX_BLOCKS * sizeof *blocks);
    sem_init(&go, 0, 0);
    size_t vm = vm_size();
    CHECK(vm != 0, "VmSize from /proc/self/status");
    printf("shim_oom: address space limited to %zu MiB\n", (vm + headroom) >> 20);
    fflush(stdout); /* stdout's buffer and a thread's first allocations: before the count */
    pthread_t warm;
    pthread_attr_init(&small_stack);
    pthread_attr_setstacksize(&small_stack, (size_t)256 << 10);
    sem_post(&go);
    int warmed = pthread_create(&warm, &small_stack, late_thread, NULL) == 0;
    CHECK(warmed, "a first thread");
    if (warmed)
        pthread_join(warm, NULL);
    sem_init(&go, 0, 0);
#ifdef SHIM_LINKED
    talc_arena_stats_t before; /* the block table and what stdio holds */
    CHECK(talc_arena_get_stats(talc_arena_default(), &before) == 0, "default arena statistics");
#endif
    struct rlimit lim = {vm + headroom, vm + headroom};
    CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit(RLIMIT_AS)");
    size_t first = 0;
    for (unsigned r = 0; r < ROUNDS; r++) {
        size_t held = round_once(r);
        if (r == 0)
            first = held;
        CHECK(held >= first / 10u * 9u, "round %u held %zu KiB at exhaustion, round 0 %zu KiB", r,
              held >> 10, first >> 10);
        sem_init(&go, 0, 0);
    }
#ifdef SHIM_LINKED
    talc_arena_stats_t s;
    CHECK(talc_arena_get_stats(talc_arena_default(), &s) == 0, "default arena statistics");
    CHECK(s.live_allocs == before.live_allocs && s.live_bytes == before.live_bytes,
          "live after freeing everything: %zu blocks, %zu bytes; before the rounds %zu, %zu",
          s.live_allocs, s.live_bytes, before.live_allocs, before.live_bytes);
#if SHIM_COUNTERS
    CHECK(s.failed > before.failed, "no failed allocation counted");
#endif
#endif
    free(blocks);
    if (failures) {
        fprintf(stderr, "shim_oom: %d check(s) failed\n", failures);
        return 1;
    }
    printf("shim_oom: all checks passed\n");
    return 0;
}
