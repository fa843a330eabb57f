/* shim_conf_apply.c — what TALC_CONF does at start-up and at exit, seen from outside.
 *
 * Run preloaded with a TALC_CONF per ctest (tests/shim/CMakeLists.txt); run_shim.sh checks the
 * lines on stderr and the statistics file. The program allocates and frees a few small blocks
 * (so that the default arena has served some), then does what its arguments say, in order:
 *
 *   alloc N    malloc N bytes, write them, free them (crosses a soft budget below N)
 *   chdir DIR  make DIR and change to it (a daemon's chdir: a relative stats_file must still
 *              land where the process started)
 *
 * and returns 0 having freed everything, so that the statistics at exit must show no live
 * bytes. It writes with write(2), never stdio: stdout's buffer would stay live.
 *
 * Concurrency: one thread.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what)
{
    ssize_t rc = write(2, what, strlen(what));
    (void)rc;
    return 1;
}

static int alloc_and_free(size_t n)
{
    char *p = malloc(n);
    if (!p)
        return fail("shim_conf_apply: malloc failed\n");
    memset(p, 1, n);
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    for (size_t n = 16; n <= 4096; n *= 4)
        if (alloc_and_free(n) != 0)
            return 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "alloc") == 0) {
            if (alloc_and_free(strtoul(argv[i + 1], NULL, 10)) != 0)
                return 1;
        } else if (strcmp(argv[i], "chdir") == 0) {
            (void)mkdir(argv[i + 1], 0700);
            if (chdir(argv[i + 1]) != 0)
                return fail("shim_conf_apply: chdir failed\n");
        } else {
            return fail("shim_conf_apply: unknown argument\n");
        }
    }
    static const char done[] = "shim_conf_apply: done\n";
    return write(1, done, sizeof done - 1u) == (ssize_t)(sizeof done - 1u) ? 0 : 1;
}
