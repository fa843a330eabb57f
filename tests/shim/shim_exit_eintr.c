/* shim_exit_eintr.c — statistics written at exit arrive whole even when signals interrupt the
 * writes.
 *
 * Linked with libtalc-malloc.a and run with TALC_CONF=stats=json. The process forks: the child
 * creates ARENAS named arenas (about 400 KiB of JSON), points its stderr at a pipe, arms a
 * SIGALRM every 100 us whose handler has no SA_RESTART, and returns from main, so that the
 * shim's exit destructor writes the figures into a pipe that is full most of the time while
 * the signal keeps interrupting the writes. The parent reads the pipe slowly until EOF and
 * checks the document: it must start as the JSON writer starts, end with "}\n", have
 * balanced brackets and name every arena. Before 2026-12-05 stdio gave up on each EINTR and
 * the writes after it went on, so the document had holes (a reviewer's run: invalid JSON).
 *
 * Concurrency: one thread per process. Exit status 0 iff the child exited 0 and the document
 * passed; one line on stdout says which check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "talc/arena.h"

#define ARENAS 300

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
}

static int child(int wfd)
{
    for (int i = 0; i < ARENAS; i++) {
        char name[32];
        snprintf(name, sizeof name, "eintr-%03d", i);
        talc_arena_config_t c = talc_arena_config_default(name);
        c.stripes = 1;
        talc_arena_t *a = talc_arena_create(&c);
        if (!a)
            return 1;
        talc_free(talc_arena_malloc(a, 100));
    }
    if (dup2(wfd, 2) != 2)
        return 1;
    close(wfd);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: a blocked write returns EINTR */
    sigemptyset(&sa.sa_mask);
    struct itimerval every = {{0, 100}, {0, 100}};
    if (sigaction(SIGALRM, &sa, NULL) != 0 || setitimer(ITIMER_REAL, &every, NULL) != 0)
        return 1;
    return 0; /* the shim's destructor now writes the statistics */
}

/* Reads fd to EOF, 4 KiB per 1 ms, into a growing buffer; NULL on failure. */
static char *read_slowly(int fd, size_t *len)
{
    size_t cap = 1u << 20, n = 0;
    char *buf = malloc(cap + 1);
    for (ssize_t got; buf; n += (size_t)got) {
        if (n + 4096 > cap) {
            char *bigger = realloc(buf, 2 * cap + 1);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        got = read(fd, buf + n, 4096);
        if (got < 0 && errno == EINTR)
            got = 0;
        else if (got <= 0)
            break;
        usleep(1000);
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static const char *check(const char *doc, size_t len)
{
    if (strncmp(doc, "{\"arenas\":[", 11) != 0)
        return "does not start as the JSON writer starts";
    if (len < 2 || strcmp(doc + len - 2, "}\n") != 0)
        return "does not end with }";
    long depth = 0;
    for (size_t i = 0; i < len; i++) {
        depth += doc[i] == '{' || doc[i] == '[';
        depth -= doc[i] == '}' || doc[i] == ']';
        if (depth < 0)
            return "unbalanced brackets";
    }
    if (depth != 0)
        return "unbalanced brackets";
    for (int i = 0; i < ARENAS; i++) {
        char name[40];
        snprintf(name, sizeof name, "\"eintr-%03d\"", i);
        if (!strstr(doc, name))
            return "an arena is missing";
    }
    return NULL;
}

int main(void)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        close(fds[0]);
        return child(fds[1]);
    }
    close(fds[1]);
    size_t len = 0;
    char *doc = read_slowly(fds[0], &len);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("shim_exit_eintr: the child failed (status %#x)\n", st);
        return 1;
    }
    const char *bad = doc ? check(doc, len) : "out of memory";
    if (bad) {
        printf("shim_exit_eintr: %zu bytes of statistics: %s\n", len, bad);
        return 1;
    }
    printf("shim_exit_eintr: %zu bytes of statistics arrived whole\n", len);
    fflush(stdout);
    free(doc);
    /* the parent's own figures at exit go nowhere */
    return freopen("/dev/null", "w", stderr) ? 0 : 1;
}
