/* shim_boot.c — white-box test of the shim's start-up window (shim/init.c, shim/boot.c).
 *
 * A real process cannot have a second thread before its first malloc (pthread_create
 * allocates), so this test forces the state back to INITING by hand, as if another thread were
 * initialising, and checks what every thread then gets: blocks from the bootstrap heap, that
 * free/realloc/malloc_usable_size recognise them, that a request too large for the bootstrap
 * heap and its overflow waits until READY instead of failing (and one the overflow holds, or
 * mallinfo2 and malloc_trim, do not wait), that a child forked meanwhile does not wait, and
 * that after READY bootstrap blocks are freed and moved into arenas correctly, and that a
 * fault in the bootstrap heap reaches a handler
 * that longjmps with the heap's lock free. Before that, it checks what the real start-up left
 * resident in the bootstrap buffer (mincore): the heap's control block and live blocks, and of
 * each free chunk only the pages of its links and footer (talc_boot_trim). Linked with
 * libtalc-malloc.a (whole), shim/ on the include path. Exit status 0 iff every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heap_internal.h" /* sizeof(talc_heap_t) */
#include "shim_internal.h"
#include "talc/arena.h"

#include "shim_check.h"

enum { THREADS = 4, PER = 200 };
#define HUGE_REQ ((size_t)100 << 20) /* more than the bootstrap buffer and its overflow */
static unsigned char *blocks[THREADS][PER];
static atomic_int not_boot;

static void *alloc_during_init(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < PER; i++) {
        size_t n = 8u + (i * 13u + t) % 300u;
        unsigned char *p = i % 3 == 0   ? malloc(n)
                           : i % 3 == 1 ? calloc(1, n)
                                        : aligned_alloc(64, n);
        if (!p || !talc_boot_owns(p))
            atomic_fetch_add(&not_boot, 1);
        if (p)
            memset(p, (int)(t * 31u + i), n);
        blocks[t][i] = p;
        if (p && i % 4 == 0) { /* frees and reallocs inside the window are real */
            unsigned char *q = realloc(p, n + 100u);
            if (!q || !talc_boot_owns(q) || q[0] != (unsigned char)(t * 31u + i))
                atomic_fetch_add(&not_boot, 1);
            blocks[t][i] = q;
        }
    }
    return NULL;
}

/* A bootstrap block grown past what the bootstrap heap holds, while INITING: must wait for
 * READY and then move to an arena with its contents (it failed with ENOMEM before
 * 2026-12-04). */
static atomic_int big_realloc_done;
static void *big_realloc_during_init(void *arg)
{
    (void)arg;
    unsigned char *p = malloc(100);
    int ok = p && talc_boot_owns(p);
    if (p)
        memset(p, 0x5a, 100);
    unsigned char *q = ok ? realloc(p, HUGE_REQ) : NULL;
    ok = ok && q && !talc_boot_owns(q) && q[99] == 0x5a;
    atomic_store(&big_realloc_done, ok ? 1 : -1);
    free(q ? q : p);
    return NULL;
}

static atomic_int big_done;
static void *big_during_init(void *arg)
{
    (void)arg;
    void *p = malloc(HUGE_REQ); /* more than the bootstrap heap holds: must wait */
    atomic_store(&big_done, p ? 1 : -1);
    free(p);
    return NULL;
}

/* What a thread that the initialiser may be waiting for (one a library constructor started
 * inside hwloc's dlopen, and joins) must get without waiting for READY: a request the
 * overflow holds, and the reporting calls' answers (before 2026-12-05 both waited). */
static atomic_int no_wait_done;
static void *no_wait_during_init(void *arg)
{
    (void)arg;
    unsigned char *p = malloc((size_t)2 << 20);
    int ok = p && talc_boot_owns(p);
    if (p)
        memset(p, 7, (size_t)2 << 20);
    struct mallinfo2 mi = mallinfo2();
    ok = ok && mi.arena == 0 && malloc_trim(0) == 0;
    free(p);
    atomic_store(&no_wait_done, ok ? 1 : -1);
    return NULL;
}

/* A child forked while another thread starts the shim has no initialiser: it must live on the
 * bootstrap heap and get ENOMEM for what that cannot hold, not wait for ever. */
static void check_orphaned_child(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        void *big = malloc(HUGE_REQ);
        int e = errno;
        void *small = malloc(100);
        _exit(big == NULL && e == ENOMEM && small && talc_boot_owns(small) ? 0 : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid, "fork");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "a child forked during the start-up: status %#x (alarm: it waited)", st);
}

/* ---- What start-up left resident --------------------------------------------------------- */

typedef struct boot_pages {
    uintptr_t page;
    unsigned char *may; /* per page of the buffer: 1 if it may be resident */
} boot_pages_t;

/* Pages of [lo, hi) inside the buffer may be resident; the part outside it is not looked at
 * (a chunk in the heap's overflow span, which a start-up that outgrows the buffer maps: one
 * with hwloc's synthetic topology of 1024 CPU threads indexed past the array until
 * 2026-12-07). */
static void allow(boot_pages_t *b, uintptr_t lo, uintptr_t hi)
{
    uintptr_t first = (uintptr_t)talc_boot_mem & ~(b->page - 1u);
    uintptr_t end = (uintptr_t)talc_boot_mem + TALC_SHIM_BOOT_SIZE;
    lo = lo < first ? first : lo;
    hi = hi > end ? end : hi;
    for (uintptr_t p = lo & ~(b->page - 1u); p < hi; p += b->page)
        b->may[(p - first) / b->page] = 1;
}

static bool allow_chunk(const talc_span_t *span, void *ptr, size_t size, bool used, void *ctx)
{
    (void)span;
    boot_pages_t *b = ctx;
    uintptr_t p = (uintptr_t)ptr;
    if (used) {
        allow(b, p - 8u, p + size);
    } else { /* header and links; footer */
        allow(b, p - 8u, p + 2u * sizeof(void *));
        allow(b, p + size - 8u, p + size);
    }
    return true;
}

/* Every resident page of the buffer holds the heap's control block, a live block, or a free
 * chunk's header, links or footer; none is resident if start-up never used the heap (the
 * sysfs build allocates nothing while it starts). The buffer's first and last pages may hold
 * other variables too: they may always be resident. Returns the resident page count. */
static size_t check_boot_resident(void)
{
    const talc_heap_t *h = talc_boot_heap_peek();
    boot_pages_t b = {(uintptr_t)sysconf(_SC_PAGESIZE), NULL};
    uintptr_t first = (uintptr_t)talc_boot_mem & ~(b.page - 1u);
    uintptr_t end = (uintptr_t)talc_boot_mem + TALC_SHIM_BOOT_SIZE;
    size_t npages = (end - first + b.page - 1u) / b.page;
    unsigned char *in = calloc(npages, 1);
    b.may = calloc(npages, 1);
    CHECK(in && b.may, "set-up");
    if (!in || !b.may)
        return 0;
    CHECK(mincore((void *)first, npages * b.page, in) == 0, "mincore");
    allow(&b, first, (uintptr_t)talc_boot_mem + 1u);
    allow(&b, end - 1u, end);
    if (h) {
        allow(&b, first, (uintptr_t)h + sizeof(talc_heap_t)); /* up to the control block's end */
        (void)talc_heap_walk(h, allow_chunk, &b);
    }
    size_t resident = 0, stray = 0;
    for (size_t i = 0; i < npages; i++) {
        resident += in[i] & 1u;
        stray += (in[i] & 1u) && !b.may[i];
    }
    CHECK(stray == 0, "%zu of %zu resident bootstrap pages lie inside free chunks", stray,
          resident);
    free(in);
    free(b.may);
    return resident;
}

/* ---- A fault in the bootstrap heap --------------------------------------------------------*/

static jmp_buf fault_back;
static char fault_arena[32];

static void jump_out(const talc_fault_info_t *info, void *ctx)
{
    (void)ctx;
    snprintf(fault_arena, sizeof fault_arena, "%s", info->heap_name ? info->heap_name : "?");
    longjmp(fault_back, 1);
}

/* The handler runs after the bootstrap heap's lock is released: one that longjmps out leaves
 * it free (before 2026-12-05 it ran under the lock, and the next bootstrap call, or a fork,
 * spun for ever). An alarm turns such a hang into a failure. */
static void check_boot_fault(void)
{
    talc_atomic_store_release_u32(&talc_shim_state, TALC_SHIM_INITING);
    unsigned char *b1 = malloc(40), *b2 = malloc(40);
    talc_atomic_store_release_u32(&talc_shim_state, TALC_SHIM_READY);
    CHECK(b1 && b2 && talc_boot_owns(b1) && talc_boot_owns(b2), "two bootstrap blocks");
    if (!b1 || !b2)
        return;
    talc_set_fatal_handler(jump_out, NULL);
    alarm(20);
    if (setjmp(fault_back) == 0) {
        free(b1);
        free(b1); /* a double free */
        CHECK(0, "a double free of a bootstrap block was not reported");
    }
    CHECK(strcmp(fault_arena, "bootstrap") == 0, "the fault names \"%s\"", fault_arena);
    free(b2); /* hung here when the handler had left the lock held */
    void *p = malloc(50);
    free(p);
    alarm(0);
    talc_set_fatal_handler(NULL, NULL);
}

int main(void)
{
    CHECK(talc_shim_ready(), "the shim's constructor should have started it");
    size_t resident = check_boot_resident();
    talc_heap_counters_t bc;
    talc_boot_counters(&bc);
    printf("shim_boot: start-up used the bootstrap heap for %llu allocations (peak %zu bytes); "
           "%zu pages stay resident\n",
           (unsigned long long)bc.total_allocs, bc.peak_live_bytes, resident);
    void *before = malloc(100);
    CHECK(before && talc_arena_of(before) != NULL, "READY: arena block");

    /* As if another thread were initialising. */
    talc_atomic_store_release_u32(&talc_shim_state, TALC_SHIM_INITING);
    pthread_t th[THREADS], big;
    for (unsigned t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, alloc_during_init, (void *)(uintptr_t)t);
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    CHECK(atomic_load(&not_boot) == 0, "%d blocks did not come from the bootstrap heap",
          atomic_load(&not_boot));
    free(before); /* an arena block freed while INITING goes to its arena */
    pthread_t big_re, no_wait;
    pthread_create(&no_wait, NULL, no_wait_during_init, NULL);
    for (int i = 0; i < 1000 && atomic_load(&no_wait_done) == 0; i++)
        usleep(10 * 1000);
    CHECK(atomic_load(&no_wait_done) == 1,
          "2 MiB, mallinfo2 and malloc_trim during the "
          "start-up (0: still waiting after 10 s): %d",
          atomic_load(&no_wait_done));
    check_orphaned_child();
    pthread_create(&big, NULL, big_during_init, NULL);
    pthread_create(&big_re, NULL, big_realloc_during_init, NULL);
    usleep(200 * 1000);
    CHECK(atomic_load(&big_done) == 0, "a request the bootstrap heap cannot hold must wait");
    CHECK(atomic_load(&big_realloc_done) == 0, "so must a realloc it cannot hold");
    talc_atomic_store_release_u32(&talc_shim_state, TALC_SHIM_READY);
    pthread_join(big, NULL);
    pthread_join(big_re, NULL);
    pthread_join(no_wait, NULL);
    CHECK(atomic_load(&big_done) == 1, "the waiting request must succeed after READY");
    CHECK(atomic_load(&big_realloc_done) == 1,
          "the waiting realloc must move the block to an arena after READY");

    /* After READY: bootstrap blocks keep their contents, resize into arenas, free cleanly. */
    for (unsigned t = 0; t < THREADS; t++)
        for (unsigned i = 0; i < PER; i++) {
            unsigned char *p = blocks[t][i];
            if (!p)
                continue;
            size_t n = 8u + (i * 13u + t) % 300u;
            CHECK(malloc_usable_size(p) >= n, "usable %zu < %zu", malloc_usable_size(p), n);
            CHECK(p[n - 1] == (unsigned char)(t * 31u + i), "contents of a bootstrap block");
            if (i % 2) {
                free(p);
                continue;
            }
            if (i % 4 == 2) { /* a shrink after READY stays where it is */
                unsigned char *r = realloc(p, n / 2u + 1u);
                CHECK(r == p, "a bootstrap block's shrink after READY is in place");
                CHECK(r && r[n / 2u] == (unsigned char)(t * 31u + i), "shrink kept the contents");
                free(r);
                continue;
            }
            unsigned char *q = realloc(p, n + 5000u);
            CHECK(q && !talc_boot_owns(q) && talc_arena_of(q) != NULL, "realloc moves to an arena");
            CHECK(q && q[n - 1] == (unsigned char)(t * 31u + i), "realloc kept the contents");
            free(q);
        }
    check_boot_fault();
    if (failures) {
        fprintf(stderr, "shim_boot: %d checks failed\n", failures);
        return 1;
    }
    printf("shim_boot: all checks passed\n");
    return 0;
}
