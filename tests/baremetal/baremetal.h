/* baremetal.h — the tiny runtime of the bare-metal check image (stubs.c), used by main.c.
 * The image is linked with -nostdlib -static: no libc, no start files. */
#ifndef TALC_BAREMETAL_H
#define TALC_BAREMETAL_H

#include <stddef.h>

/** Entry point called by _start; its return value is the process exit status. */
int talc_bm_main(void);

/** Write a NUL-terminated string to stdout (one raw write system call). */
void talc_bm_puts(const char *s);

/** Exit the process with `status` (raw exit_group system call). */
_Noreturn void talc_bm_exit(int status);

#endif /* TALC_BAREMETAL_H */
