/* shim_exit_pipe.c — statistics written at exit must not change how the process ends.
 *
 * Run preloaded with TALC_CONF=stats=text. The program allocates, prints its line on stdout,
 * then points its stderr at a pipe whose read end it has closed and returns 0. The shim's exit
 * destructor writes the statistics to that stderr: the write fails with EPIPE, and the
 * process must still exit with status 0 (it was killed by SIGPIPE, status 141, before
 * 2026-12-04). run_shim.sh checks the status and the line.
 *
 * Concurrency: one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char *p = malloc(1000);
    if (!p)
        return 1;
    memset(p, 1, 1000);
    free(p);
    int fds[2];
    if (pipe(fds) != 0 || close(fds[0]) != 0 || dup2(fds[1], 2) != 2)
        return 1;
    printf("shim_exit_pipe: stderr is now a pipe without a reader\n");
    fflush(stdout);
    return 0;
}
