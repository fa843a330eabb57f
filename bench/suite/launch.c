/* launch.c — suite_launch: runs one workload process under a chosen allocator and reports
 * what the kernel measured of it.
 *
 *   suite_launch [-p preload.so] [-e NAME=VALUE]... [-k timeout_s] -- program [args...]
 *
 * The child gets LD_PRELOAD=preload.so (only the child: the launcher itself runs on the
 * system malloc) and the -e variables; its stdout and stderr pass through. When it exits, the
 * launcher prints one line on stdout:
 *
 *   LAUNCH status=0 wall_s=0.2134 user_s=0.3900 sys_s=0.0100 maxrss_kib=5120 minflt=1234
 *
 * `status` is the exit code, or 128+signal, or "timeout" after -k seconds (default 120; the
 * child is then killed with SIGKILL). maxrss_kib is the child's peak resident set (wait4's
 * ru_maxrss). The launcher exits with the child's status (1 on a timeout).
 *
 * Threading rules: single-threaded; the timeout is an alarm polled around waitpid.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAUNCH_MAX_ENV 16

typedef struct launch_opts {
    const char *preload;
    char *env[LAUNCH_MAX_ENV];
    unsigned nenv;
    unsigned timeout_s;
    char **argv;
} launch_opts_t;

static volatile sig_atomic_t launch_timed_out;

static void launch_on_alarm(int sig)
{
    (void)sig;
    launch_timed_out = 1;
}

static void launch_usage(void)
{
    fputs("usage: suite_launch [-p preload.so] [-e NAME=VALUE]... [-k timeout_s] -- program "
          "[args...]\n",
          stderr);
    exit(2);
}

static void launch_parse(int argc, char **argv, launch_opts_t *o)
{
    int c;
    *o = (launch_opts_t){.timeout_s = 120};
    while ((c = getopt(argc, argv, "+p:e:k:")) != -1) {
        switch (c) {
        case 'p':
            o->preload = optarg;
            break;
        case 'e':
            if (o->nenv == LAUNCH_MAX_ENV || !strchr(optarg, '='))
                launch_usage();
            o->env[o->nenv++] = optarg;
            break;
        case 'k':
            o->timeout_s = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            launch_usage();
        }
    }
    if (optind >= argc)
        launch_usage();
    o->argv = argv + optind;
}

static void launch_exec_child(const launch_opts_t *o)
{
    if (o->preload && *o->preload) {
        if (setenv("LD_PRELOAD", o->preload, 1) != 0)
            _exit(127);
    } else {
        unsetenv("LD_PRELOAD"); /* the system allocator: nothing inherited either */
    }
    for (unsigned i = 0; i < o->nenv; i++) {
        if (putenv(o->env[i]) != 0)
            _exit(127);
    }
    execvp(o->argv[0], o->argv);
    fprintf(stderr, "suite_launch: %s: %s\n", o->argv[0], strerror(errno));
    _exit(127);
}

static double launch_tv(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6; }

static double launch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    launch_opts_t o;
    launch_parse(argc, argv, &o);
    struct sigaction sa = {.sa_handler = launch_on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    fflush(stdout);
    double t0 = launch_now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0)
        launch_exec_child(&o);
    alarm(o.timeout_s);
    int status = 0;
    struct rusage ru;
    for (;;) {
        pid_t r = wait4(pid, &status, 0, &ru);
        if (r == pid)
            break;
        if (r < 0 && errno == EINTR && launch_timed_out) {
            kill(pid, SIGKILL);
            launch_timed_out = 2;
            continue;
        }
        if (r < 0 && errno != EINTR) {
            perror("wait4");
            return 1;
        }
    }
    double wall = launch_now() - t0;
    char st[32];
    int code;
    if (launch_timed_out == 2) {
        snprintf(st, sizeof st, "timeout");
        code = 1;
    } else if (WIFSIGNALED(status)) {
        code = 128 + WTERMSIG(status);
        snprintf(st, sizeof st, "%d", code);
    } else {
        code = WEXITSTATUS(status);
        snprintf(st, sizeof st, "%d", code);
    }
    printf("LAUNCH status=%s wall_s=%.4f user_s=%.4f sys_s=%.4f maxrss_kib=%ld minflt=%ld\n", st,
           wall, launch_tv(ru.ru_utime), launch_tv(ru.ru_stime), ru.ru_maxrss, ru.ru_minflt);
    return code;
}
