/* test_asan_poison.c — the AddressSanitizer annotations of src/heap_poison.h, in an ASan build:
 * a free chunk is poisoned past its header and links up to its footer, an allocated block is
 * usable to its usable size, a block in a thread cache (freed there, or cached by a fill) is
 * poisoned until it is handed out again, memory a span gives back is the caller's again, a wild
 * or second free into a free chunk still reaches the fatal handler, a large heap makes no
 * shadow resident, and a read after free is reported by ASan.
 *
 * Built and run only when the library is built with ASan (TALC_SANITIZE=asan): elsewhere
 * there is nothing to check. Concurrency: single-threaded, but for the child of the last test.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <sanitizer/asan_interface.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/arena_one.h"
#include "../common/heap_fixture.h"
#include "heap_poison.h"
#include "talc/arena.h"
#include "talc/heap.h"

TestSuite(asan_poison, .fini = test_buffers_free);

#define LINKS (2 * sizeof(void *)) /* a free chunk's list links, at the block's start */
#define FOOTER 8                   /* a free chunk's size, in its last 8 bytes */

static talc_heap_t *poison_heap(void)
{
    test_faults.count = 0;
    talc_heap_opts_t o = test_opts("asan-heap");
    return test_heap(64 << 10, &o);
}

/* Every byte of [p, p + n) is addressable. */
static void assert_usable(const void *p, size_t n, const char *what)
{
    void *bad = __asan_region_is_poisoned((void *)(uintptr_t)p, n);
    cr_assert_null(bad, "%s: byte %td of %zu poisoned", what, (const char *)bad - (const char *)p,
                   n);
}

/* The freed block p of usable size n: poisoned from past its links to before its footer. */
static void assert_freed(const char *p, size_t n)
{
    cr_assert_not(__asan_address_is_poisoned(p), "the links stay readable to the engine");
    cr_assert(__asan_address_is_poisoned(p + LINKS), "first byte past the links");
    cr_assert(__asan_address_is_poisoned(p + n - FOOTER - 1), "last byte before the footer");
    cr_assert_not(__asan_address_is_poisoned(p + n - FOOTER), "the footer stays readable");
}

Test(asan_poison, a_freed_block_is_poisoned_past_its_links)
{
    talc_heap_t *h = poison_heap();
    char *p = talc_heap_alloc(h, 256);
    char *guard = talc_heap_alloc(h, 64); /* p does not merge with the free top */
    cr_assert(p && guard);
    size_t n = talc_heap_usable_size(h, p);
    assert_usable(p, n, "allocated");
    memset(p, 0x5a, n);
    talc_heap_free(h, p);
    assert_freed(p, n);
    HEAP_OK(h);
}

Test(asan_poison, a_reused_block_is_usable_to_its_usable_size)
{
    talc_heap_t *h = poison_heap();
    char *p = talc_heap_alloc(h, 1000);
    char *guard = talc_heap_alloc(h, 64);
    cr_assert(p && guard);
    talc_heap_free(h, p);
    char *q = talc_heap_alloc(h, 200); /* from p's chunk; its tail is free again */
    cr_assert_eq(q, p);
    size_t n = talc_heap_usable_size(h, q);
    assert_usable(q, n, "reused");
    char *tail = q + n + 8; /* the free tail's user part */
    cr_assert(__asan_address_is_poisoned(tail + LINKS), "the split-off tail is free");
    HEAP_OK(h);
}

Test(asan_poison, a_block_grown_in_place_is_usable_to_its_new_size)
{
    talc_heap_t *h = poison_heap();
    char *p = talc_heap_alloc(h, 100);
    char *next = talc_heap_alloc(h, 2000);
    char *guard = talc_heap_alloc(h, 64);
    cr_assert(p && next && guard);
    talc_heap_free(h, next); /* a poisoned free chunk just above p */
    cr_assert_eq(talc_heap_realloc(h, p, 1500), p, "grown into the chunk above");
    assert_usable(p, talc_heap_usable_size(h, p), "grown");
    HEAP_OK(h);
}

Test(asan_poison, an_aligned_block_is_usable_and_its_padding_free)
{
    talc_heap_t *h = poison_heap();
    char *small = talc_heap_alloc(h, 16); /* the top chunk no longer starts 4096-aligned */
    char *p = talc_heap_alloc_aligned(h, 300, 4096);
    cr_assert(small && p);
    cr_assert_eq((uintptr_t)p & 4095u, 0);
    assert_usable(p, talc_heap_usable_size(h, p), "aligned");
    uint64_t pad; /* the free chunk split off in front: its footer is just below p's header */
    memcpy(&pad, p - 8 - FOOTER, sizeof pad);
    cr_assert_geq(pad, 8 + LINKS + FOOTER);
    if (pad > 8 + LINKS + FOOTER)
        cr_assert(__asan_address_is_poisoned(p - 8 - pad + 8 + LINKS), "the padding is free");
    HEAP_OK(h);
}

/* Two adjacent 256-byte blocks below a guard, both freed: the second merged into the free
 * chunk of the first. Returns the second. */
static char *freed_onto_a_free_chunk(talc_heap_t *h)
{
    char *a = talc_heap_alloc(h, 256);
    char *b = talc_heap_alloc(h, 256);
    char *guard = talc_heap_alloc(h, 64);
    cr_assert(a && b && guard);
    talc_heap_free(h, a);
    talc_heap_free(h, b);
    return b;
}

Test(asan_poison, merged_chunks_poison_the_header_between_them)
{
    talc_heap_t *h = poison_heap();
    char *b = freed_onto_a_free_chunk(h);
    cr_assert(__asan_address_is_poisoned(b - 8), "b's old header is inside the merged chunk");
    cr_assert(__asan_address_is_poisoned(b + 64));
    HEAP_OK(h);
}

Test(asan_poison, a_wild_or_second_free_into_a_free_chunk_reaches_the_fatal_handler)
{
    talc_heap_t *h = poison_heap();
    char *y = freed_onto_a_free_chunk(h); /* y's header is inside the free chunk, poisoned */
    cr_assert(__asan_address_is_poisoned(y - 8));
    cr_assert_eq(test_faults.count, 0);
    talc_heap_free(h, y);
    cr_assert_eq(test_faults.count, 1);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_DOUBLE_FREE);
    cr_assert_eq(test_faults.last.address, y);
    talc_heap_free(h, y + 64); /* its "header" at y + 56 is poisoned too */
    cr_assert_eq(test_faults.count, 2);
    cr_assert_eq(test_faults.last.fault, TALC_FAULT_BAD_POINTER);
    cr_assert_eq(test_faults.last.address, y + 64);
    HEAP_OK(h);
}

Test(asan_poison, memory_a_span_gives_back_is_the_callers_again)
{
    talc_heap_t *h = poison_heap();
    size_t size = 256 << 10;
    unsigned char *mem = test_buffer(size);
    talc_span_t *s = talc_heap_claim(h, mem, size);
    cr_assert_not_null(s);
    talc_span_info_t info;
    talc_span_get_info(h, s, &info);
    unsigned char *end = info.end;
    void *big = talc_heap_alloc(h, 100 << 10); /* the first span is too small for it */
    cr_assert(big && (unsigned char *)big > mem && (unsigned char *)big < end);
    talc_heap_free(h, big); /* the whole span one free chunk: poisoned */
    cr_assert(__asan_address_is_poisoned(mem + size / 2));
    unsigned char *cut = talc_span_truncate(h, s, mem + size / 2);
    cr_assert(cut && cut < end);
    assert_usable(cut, (size_t)(end - cut), "truncated off");
    cr_assert_eq(talc_span_release(h, s), 0);
    assert_usable(mem, size, "released");
    HEAP_OK(h);
}

/* talc_heap_init's "stop using the heap and reuse the memory", for another heap. */
Test(asan_poison, a_heap_over_an_abandoned_heaps_memory_starts_clean)
{
    size_t size = 64 << 10;
    unsigned char *mem = test_buffer(size);
    talc_heap_t *old = talc_heap_init(mem, size, NULL);
    cr_assert_not_null(old);
    void *p = talc_heap_alloc(old, 40 << 10);
    cr_assert_not_null(p);
    talc_heap_free(old, p); /* its memory one poisoned free chunk */
    unsigned char *at = mem + size / 4;
    cr_assert(__asan_address_is_poisoned(at));
    talc_heap_t *h = talc_heap_init(at, size / 2, NULL);
    cr_assert_not_null(h);
    char *q = talc_heap_alloc(h, 1000);
    cr_assert_not_null(q);
    memset(q, 7, talc_heap_usable_size(h, q));
    talc_heap_free(h, q);
    HEAP_OK(h);
}

Test(asan_poison, a_cached_block_is_poisoned_until_handed_out_again)
{
    talc_arena_t *a = test_arena_one("asan-cache", TALC_TCACHE_ON);
    char *p = talc_arena_malloc(a, 100);
    cr_assert_not_null(p);
    size_t n = talc_usable_size(p);
    assert_usable(p, n, "allocated");
    talc_free(p);
    cr_assert_not(__asan_address_is_poisoned(p), "the cache's link");
    cr_assert(__asan_address_is_poisoned(p + 16), "past the cache's node");
    cr_assert(__asan_address_is_poisoned(p + n - 1), "the block's last byte");
    char *q = talc_arena_malloc(a, 100);
    cr_assert_eq(q, p, "the cached block again");
    assert_usable(q, n, "handed out again");
    talc_free(q);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

/* The blocks a fill takes from the heap besides the one it hands out wait in the cache as
 * freed ones do: their memory may be a block a user freed earlier (until 2026-12-07 they stayed
 * addressable, and a use after free of that block went unreported; found by a review). */
Test(asan_poison, a_block_a_fill_caches_is_poisoned_too)
{
    talc_arena_t *a = test_arena_one("asan-fill", TALC_TCACHE_ON);
    char *big = talc_arena_malloc(a, 20000); /* not cache-sized: the stripe's first segment */
    char *p = talc_arena_malloc(a, 100);     /* the first fill of its size: p and one more */
    cr_assert(big && p);
    char *next = p + talc_usable_size(p) + 8; /* the block the fill cached, just above p */
    cr_assert_not(__asan_address_is_poisoned(next), "the cache's link");
    cr_assert(__asan_address_is_poisoned(next + 16), "past the cache's node");
    char *q = talc_arena_malloc(a, 100);
    cr_assert_eq(q, next, "the cached block");
    assert_usable(q, talc_usable_size(q), "handed out");
    talc_free(p);
    talc_free(q);
    talc_free(big);
    cr_assert_eq(talc_arena_destroy(a, 0), 0);
}

/* The process's resident anonymous memory, in KiB. */
static long rss_anon_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "RssAnon:", 8) == 0)
            kib = atol(line + 8);
    fclose(f);
    cr_assert_geq(kib, 0);
    return kib;
}

/* ASan's shadow costs a resident byte per 8 bytes poisoned: a heap over a large lazily
 * committed range must not poison (or unpoison byte by byte) all of it. A first version made
 * 1 GiB of shadow resident for a heap over 8 GiB, in 6.5 s (found by a review). */
Test(asan_poison, a_large_heap_makes_no_shadow_resident)
{
    size_t size = (size_t)1 << 30;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    long before = rss_anon_kib();
    talc_heap_t *h = talc_heap_init(m, size, NULL);
    cr_assert_not_null(h);
    char *p = talc_heap_alloc(h, size / 2);
    cr_assert_not_null(p);
    p[0] = 1;
    talc_heap_free(h, p);
    cr_assert(__asan_address_is_poisoned(p + 64), "the freed block's start is poisoned");
    long grown = rss_anon_kib() - before;
    cr_assert_lt(grown, 16 << 10, "%ld KiB more resident (poisoning all of it: 131072)", grown);
    cr_assert_eq(talc_span_release(h, talc_heap_first_span(h)), 0);
    cr_assert_eq(munmap(m, size), 0);
}

/* A freed block is poisoned for its first TALC_POISON_MAX bytes past its links, also when
 * it merges into a free chunk below: the poisoning then starts at that chunk's footer, and a
 * first version stopped 32 bytes short (found by a review). */
Test(asan_poison, a_large_block_freed_onto_a_free_chunk_below_is_poisoned_for_its_first_mib)
{
    size_t size = (size_t)16 << 20;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    talc_heap_t *h = talc_heap_init(m, size, NULL);
    cr_assert_not_null(h);
    char *x = talc_heap_alloc(h, 3 << 20), *y = talc_heap_alloc(h, 3 << 20);
    char *guard = talc_heap_alloc(h, 64);
    cr_assert(x && y && guard);
    talc_heap_free(h, x);
    talc_heap_free(h, y); /* merges into x's free chunk */
    for (size_t i = LINKS; i < LINKS + TALC_POISON_MAX; i += 8)
        cr_assert(__asan_address_is_poisoned(y + i), "byte %zu of the freed block", i);
    talc_heap_free(h, guard);
    cr_assert_eq(talc_span_release(h, talc_heap_first_span(h)), 0); /* unpoisons it */
    cr_assert_eq(munmap(m, size), 0);
}

/* talc_asan_unpoison_pages for a range starting inside a granule whose shadow byte starts a
 * page: all of [p, p+n) addressable, the bytes around it poisoned still. A first version
 * unpoisoned (size_t)(alo - lo) bytes there, a wrapped size: ASan stopped on a CHECK. */
Test(asan_poison, unpoisoning_by_shadow_pages_keeps_to_the_range)
{
    size_t scale = 0, off = 0, pg = (size_t)sysconf(_SC_PAGESIZE);
    __asan_get_shadow_mapping(&scale, &off);
    size_t span = pg << scale, size = (size_t)64 << 20;
    char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    char *base =
        (char *)(((uintptr_t)m + span - 1) & ~(uintptr_t)(span - 1)); /* shadow on a page */
    for (size_t d = 0; d < 16; d++) {
        char *p = base + span + d; /* d = 1..7: inside the granule that starts a shadow page */
        size_t n = ((size_t)16 << 20) + 3 * d;
        ASAN_POISON_MEMORY_REGION(m, size);
        cr_assert(talc_asan_unpoison_pages(p, n));
        cr_assert_null(__asan_region_is_poisoned(p, n), "d %zu", d);
        char *below = (char *)((uintptr_t)p & ~(uintptr_t)7) - 1;
        char *above = (char *)(((uintptr_t)(p + n) + 7) & ~(uintptr_t)7);
        cr_assert(__asan_address_is_poisoned(below), "d %zu: below the range", d);
        cr_assert(__asan_address_is_poisoned(above), "d %zu: above the range", d);
    }
    ASAN_UNPOISON_MEMORY_REGION(m, size);
    cr_assert_eq(munmap(m, size), 0);
}

/* What a program sees: ASan's report, at the read. */
Test(asan_poison, a_read_after_free_is_reported_by_asan)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        talc_heap_t *h = poison_heap();
        volatile char *p = talc_heap_alloc(h, 256);
        talc_heap_free(h, (void *)(uintptr_t)p);
        char c = p[64];
        _exit(c == 0x7f ? 3 : 4); /* not reached */
    }
    close(fds[1]);
    static char out[16384];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof out - 1 && (r = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(!WIFEXITED(st) || (WEXITSTATUS(st) != 3 && WEXITSTATUS(st) != 4),
              "the read after free went unreported");
    cr_assert_not_null(strstr(out, "use-after-poison"), "ASan's report:\n%s", out);
}
