/* shim_trim.c — TALC_CONF trim_ms, the background trimmer (docs/shim.md, "Background trim").
 *
 * With SHIM_EXPECT_TRIMMER=1 (the test sets trim_ms=20):
 *   - once the program has allocated, exactly one of its threads is named "talc-trim";
 *   - 4 threads each allocate 32 MiB of 4-16 KiB blocks (sizes the thread caches keep), write
 *     them, free them all and wait: what their caches keep pins segments whose free pages stay
 *     resident until something trims. The resident set must come back to less than a quarter
 *     of the bytes the burst wrote above where it started, with no call from the program,
 *     within 20 s (without a trimmer about half of them stays; the trimmer may also have given
 *     some back during the burst);
 *   - a forked child has a trimmer of its own once it has allocated, and gives its own burst
 *     back the same way. Not with SHIM_TRIM_NO_FORK=1 (set under qemu-user, whose 7.2 hangs
 *     or asserts when a forked child of a multithreaded guest creates a thread, with or
 *     without libtalc).
 * With SHIM_EXPECT_TRIMMER=0 (no trim_ms) no thread is named so, and the figures are printed
 * only (without a trimmer the burst's memory stays: docs/shim.md, "Limits").
 * Exit status 0 iff every check passed; failures are printed to stderr.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shim_check.h"

#define WORKERS 4
#define BURST_BYTES ((size_t)32 << 20)
#define BLOCKS_MAX 8192
#define WAIT_S 20

static pthread_barrier_t idle, done;

static long resident_kib(void)
{
    long size = 0, res = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = -1;
        fclose(f);
    }
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Threads of this process named "talc-trim". */
static int trimmer_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f))
            n += strcmp(comm, "talc-trim\n") == 0;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Allocate BURST_BYTES of 4-16 KiB blocks, write them, free them all, then wait at `idle`
 * until the main thread is done measuring. */
static void *worker(void *arg)
{
    uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1u;
    static __thread void *p[BLOCKS_MAX];
    size_t n = 0, bytes = 0;
    while (bytes < BURST_BYTES && n < BLOCKS_MAX) {
        x = x * 1103515245u + 12345u;
        size_t s = 4096u + (x >> 8) % (12u << 10);
        if (!(p[n] = malloc(s)))
            break;
        memset(p[n], 0x5a, s);
        bytes += s;
        n++;
    }
    for (size_t i = 0; i < n; i++)
        free(p[i]);
    pthread_barrier_wait(&idle);
    pthread_barrier_wait(&done);
    return NULL;
}

/* Run a burst in `threads` threads; with the trimmer expected, wait for the resident set to
 * fall below a quarter of the bytes written above where it started. Returns false (printed)
 * if it did not. */
static bool burst(const char *who, int threads, bool expect)
{
    pthread_t t[WORKERS];
    pthread_barrier_init(&idle, NULL, (unsigned)threads + 1u);
    pthread_barrier_init(&done, NULL, (unsigned)threads + 1u);
    long base = resident_kib();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0) {
            fprintf(stderr, "shim_trim: %s: pthread_create failed\n", who);
            exit(1);
        }
    pthread_barrier_wait(&idle);
    long peak = resident_kib(), now = peak;
    long most = (long)(BURST_BYTES >> 10) * threads / 4; /* KiB */
    bool ok = true;
    if (expect) {
        const struct timespec tick = {0, 10 * 1000 * 1000};
        for (int i = 0; i < WAIT_S * 100 && now - base >= most; i++) {
            nanosleep(&tick, NULL);
            now = resident_kib();
        }
        ok = now - base < most;
        const struct timespec settle = {0, 500 * 1000 * 1000}; /* the figure printed */
        nanosleep(&settle, NULL);
        now = resident_kib();
    }
    printf("shim_trim: %s: resident %ld KiB before, %ld KiB after the burst, %ld KiB %s\n", who,
           base, peak, now, expect ? "0.5 s after the trimmer brought it down" : "(no trimmer)");
    if (!ok)
        fprintf(stderr, "shim_trim: %s: the burst's memory was not given back within %d s\n", who,
                WAIT_S);
    pthread_barrier_wait(&done);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&idle);
    pthread_barrier_destroy(&done);
    return ok;
}

static int child(void)
{
    free(malloc(1)); /* the child's first allocation starts its trimmer */
    int n = trimmer_threads();
    if (n != 1) {
        fprintf(stderr, "shim_trim: child: %d trimmer threads, want 1\n", n);
        return 1;
    }
    return burst("child", 2, true) ? 0 : 1;
}

int main(void)
{
    const char *e = getenv("SHIM_EXPECT_TRIMMER");
    bool expect = e && strcmp(e, "1") == 0;
    free(malloc(1));
    int n = trimmer_threads();
    CHECK(n == (expect ? 1 : 0), "%d trimmer threads, want %d", n, expect ? 1 : 0);
    CHECK(burst("parent", WORKERS, expect), "parent's burst not given back");
    if (expect && !getenv("SHIM_TRIM_NO_FORK")) {
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed");
        if (pid == 0) {
            int rc = child();
            fflush(stdout);
            _exit(rc);
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid failed");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d)", status);
    }
    if (failures)
        return 1;
    printf("shim_trim: all checks passed\n");
    return 0;
}
