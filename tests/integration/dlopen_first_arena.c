/* dlopen_first_arena.c — no deadlock when a library's constructor creates an arena inside
 * dlopen while another thread creates the process's first arena (src/topology.c, "When").
 *
 * The first arena creation needs the CPU topology, whose hwloc probe calls dlopen and so takes
 * the dynamic loader's lock. Here thread "loader" dlopens tests/common/first_arena_plugin.c;
 * its constructor runs holding the loader's lock, signals, waits 300 ms and creates an arena.
 * As soon as the constructor has signalled, the main thread creates an arena. Had the topology
 * been probed on demand under a once, the main thread would be inside the once, waiting for the
 * loader's lock, and the constructor would wait for the once: both stuck. The library probes
 * from its own constructor instead, before main. A watchdog (alarm) turns a hang into a
 * failure. The plugin reports through a pipe ($FIRST_ARENA_FD), which needs no lock of the
 * loader. Exit status 0 iff both arenas were created and destroyed.
 *
 * Concurrency: two threads, joined.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "talc/arena.h"

#ifndef FIRST_ARENA_PLUGIN
#error "FIRST_ARENA_PLUGIN must name the plugin library"
#endif

static void *loader(void *arg)
{
    (void)arg;
    void *h = dlopen(FIRST_ARENA_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fprintf(stderr, "dlopen_first_arena: %s\n", dlerror());
    return h;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "dlopen_first_arena: FAIL: no progress in 60 s (deadlock)\n";
    ssize_t rc = write(2, msg, sizeof msg - 1);
    (void)rc;
    _exit(2);
}

static char read_byte(int fd)
{
    char c = 0;
    return read(fd, &c, 1) == 1 ? c : 0;
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(60);
    int p[2];
    char fd[16];
    if (pipe(p) != 0)
        return 1;
    snprintf(fd, sizeof fd, "%d", p[1]);
    setenv("FIRST_ARENA_FD", fd, 1);
    pthread_t t;
    if (pthread_create(&t, NULL, loader, NULL) != 0)
        return 1;
    char entered = read_byte(p[0]); /* the constructor runs, holding the loader's lock */
    talc_arena_config_t c = talc_arena_config_default("main");
    talc_arena_t *a = talc_arena_create(&c);
    int ok = entered == 'e' && a != NULL && talc_arena_destroy(a, 0) == 0;
    char created = read_byte(p[0]);
    void *h = NULL;
    pthread_join(t, &h);
    ok = ok && created == 'c' && h != NULL;
    if (h)
        dlclose(h);
    printf("dlopen_first_arena: %s (plugin said '%c' '%c')\n", ok ? "ok" : "FAIL",
           entered ? entered : '-', created ? created : '-');
    return ok ? 0 : 1;
}
