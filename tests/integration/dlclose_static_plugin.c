/* dlclose_static_plugin.c — a library that links libtalc.a stays loaded after dlclose, so the
 * process can go on forking and creating threads.
 *
 * libtalc registers fork handlers and a thread-exit destructor for its caches; both must
 * outlive the library's users. libtalc.so is linked -z nodelete; a library that links
 * libtalc.a is made so when libtalc starts in it (arenas/fork.c). Here the program dlopens
 * tests/common/static_plugin.c, which allocates, dlcloses it, then forks (the child exits at
 * once) and runs a thread. Until 2026-12-07 the fork jumped into the unmapped library's
 * prepare handler: SIGSEGV in 50 runs of 50 (a review's program). Exit status 0 iff the
 * plugin ran, the child exited 0 and the thread was joined.
 *
 * Concurrency: the main thread and one short thread, joined.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef STATIC_PLUGIN
#error "STATIC_PLUGIN must name the plugin library"
#endif

static void *idle(void *arg) { return arg; }

int main(void)
{
    void *h = dlopen(STATIC_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlclose_static_plugin: %s\n", dlerror());
        return 1;
    }
    int (*run)(void) = (int (*)(void))(uintptr_t)dlsym(h, "static_plugin_run");
    if (!run || run() != 0) {
        fprintf(stderr, "dlclose_static_plugin: the plugin did not run\n");
        return 1;
    }
    if (dlclose(h) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int st = -1;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "dlclose_static_plugin: fork after dlclose: status %d\n", st);
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    printf("dlclose_static_plugin: fork and thread after dlclose ok\n");
    return 0;
}
