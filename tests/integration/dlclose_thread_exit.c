/* dlclose_thread_exit.c — a program that dlopens libtalc, uses it from a thread, dlcloses it and
 * then lets that thread exit must not crash.
 *
 * The thread's first allocation from the default arena gives it a thread cache, whose
 * destructor is a pthread key destructor inside libtalc; the atfork handlers are libtalc's too.
 * libtalc.so is linked with -z nodelete, so dlclose leaves it mapped and the destructor runs in
 * mapped code. Without it the thread died in __nptl_deallocate_tsd (SIGSEGV) after dlclose.
 * The program does not link libtalc: it opens the file named by TALC_SHARED_LIB. Exit status 0
 * iff the library is still loaded after dlclose and the thread exits cleanly.
 *
 * Concurrency: two threads; the worker allocates, then waits until main has dlclosed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#ifndef TALC_SHARED_LIB
#error "TALC_SHARED_LIB must name libtalc.so"
#endif

typedef void *(*malloc_fn)(void *arena, size_t n);
typedef void (*free_fn)(void *p);

static malloc_fn arena_malloc;
static free_fn arena_free;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int used, closed;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) { /* small blocks: through the default arena's cache */
        char *p = arena_malloc(NULL, 64);
        if (!p)
            return (void *)1;
        memset(p, i, 64);
        arena_free(p);
    }
    pthread_mutex_lock(&mu);
    used = 1;
    pthread_cond_broadcast(&cv);
    while (!closed)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL; /* the cache's destructor runs now, after dlclose */
}

int main(void)
{
    void *h = dlopen(TALC_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlclose_thread_exit: dlopen: %s\n", dlerror());
        return 1;
    }
    arena_malloc = (malloc_fn)(void (*)(void))dlsym(h, "talc_arena_malloc");
    arena_free = (free_fn)(void (*)(void))dlsym(h, "talc_free");
    if (!arena_malloc || !arena_free) {
        fprintf(stderr, "dlclose_thread_exit: dlsym: %s\n", dlerror());
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        return 1;
    pthread_mutex_lock(&mu);
    while (!used)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);

    if (dlclose(h) != 0) {
        fprintf(stderr, "dlclose_thread_exit: dlclose: %s\n", dlerror());
        return 1;
    }
    void *again = dlopen(TALC_SHARED_LIB, RTLD_NOW | RTLD_NOLOAD);
    if (!again) {
        fprintf(stderr, "dlclose_thread_exit: FAIL: libtalc was unloaded by dlclose\n");
        return 1;
    }
    dlclose(again);

    pthread_mutex_lock(&mu);
    closed = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    void *rc = NULL;
    pthread_join(t, &rc);
    if (rc != NULL) {
        fprintf(stderr, "dlclose_thread_exit: FAIL: the worker's allocation failed\n");
        return 1;
    }
    puts("dlclose_thread_exit: the thread exited cleanly after dlclose");
    return 0;
}
