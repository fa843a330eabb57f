/* shim_boot.c — white-box test of the shim's start-up window (shim/init.c, shim/boot.c).
 *
 * A real process cannot have a second thread before its first malloc (pthread_create
 * allocates), so this test forces the state back to INITING by hand, as if another thread were
 * initialising, and checks what every thread then gets: blocks from the bootstrap heap, that
 * free/realloc/malloc_usable_size recognise them, that a request too large for the bootstrap
 * heap waits until READY instead of failing, and that after READY bootstrap blocks are freed
 * and moved into arenas correctly. Linked with libtalc-malloc.a (whole), shim/ on the include
 * path. Exit status 0 iff every check passed.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shim_internal.h"
#include "talc/arena.h"

#include "shim_check.h"

enum { THREADS = 4, PER = 200 };
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

static atomic_int big_done;
static void *big_during_init(void *arg)
{
    (void)arg;
    void *p = malloc((size_t)4 << 20); /* more than the bootstrap heap holds: must wait */
    atomic_store(&big_done, p ? 1 : -1);
    free(p);
    return NULL;
}

int main(void)
{
    CHECK(talc_shim_ready(), "the shim's constructor should have started it");
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
    pthread_create(&big, NULL, big_during_init, NULL);
    usleep(200 * 1000);
    CHECK(atomic_load(&big_done) == 0, "a request the bootstrap heap cannot hold must wait");
    talc_atomic_store_release_u32(&talc_shim_state, TALC_SHIM_READY);
    pthread_join(big, NULL);
    CHECK(atomic_load(&big_done) == 1, "the waiting request must succeed after READY");

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
            unsigned char *q = realloc(p, n + 5000u);
            CHECK(q && !talc_boot_owns(q) && talc_arena_of(q) != NULL, "realloc moves to an arena");
            CHECK(q && q[n - 1] == (unsigned char)(t * 31u + i), "realloc kept the contents");
            free(q);
        }
    if (failures) {
        fprintf(stderr, "shim_boot: %d checks failed\n", failures);
        return 1;
    }
    printf("shim_boot: all checks passed\n");
    return 0;
}
