/* first_arena_plugin.c — a library whose constructor creates an arena, for
 * tests/integration/dlopen_first_arena.c, which dlopens it while another thread creates an
 * arena too. The constructor runs inside dlopen, holding the dynamic loader's lock.
 *
 * It reports through the file descriptor in $FIRST_ARENA_FD (a pipe; nothing that needs the
 * loader's lock): 'e' on entry; then, after PLUGIN_WAIT_MS for the other thread to get as far
 * as it can, it creates and destroys arena "plugin" and writes 'c' (done) or 'f' (failed).
 *
 * Concurrency: runs on the thread that calls dlopen; keeps no state.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "talc/arena.h"

#define PLUGIN_WAIT_MS 300

static void plugin_say(int fd, char c)
{
    ssize_t rc = write(fd, &c, 1);
    (void)rc; /* the test reports a missing byte */
}

__attribute__((constructor)) static void plugin_on_load(void)
{
    const char *s = getenv("FIRST_ARENA_FD");
    int fd = s ? atoi(s) : -1;
    if (fd < 0)
        return;
    plugin_say(fd, 'e');
    struct timespec ts = {0, PLUGIN_WAIT_MS * 1000000L};
    nanosleep(&ts, NULL);
    talc_arena_config_t c = talc_arena_config_default("plugin");
    talc_arena_t *a = talc_arena_create(&c);
    plugin_say(fd, a && talc_arena_destroy(a, 0) == 0 ? 'c' : 'f');
}
