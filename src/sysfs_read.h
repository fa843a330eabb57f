/* sysfs_read.h — one small value from a Linux sysfs file, without stdio (sysfs_read.c).
 *
 * Hosted only. Concurrency: reentrant, no state. Allocation: none (open/read into the caller's
 * buffer), so it is safe while a malloc shim starts up.
 */
#ifndef TALC_SYSFS_READ_H
#define TALC_SYSFS_READ_H

#include <stdint.h>

#define TALC_SYSFS_VALUE 64u       /* bytes read from a file (enough for a first number) */
#define TALC_SYSFS_NONE UINT32_MAX /* "no number" */

/* Reads up to TALC_SYSFS_VALUE - 1 bytes of path into val (NUL-terminated): the bytes read
 * (all of TALC_SYSFS_VALUE - 1: the file may have more), or -1. */
int talc_sysfs_read(const char *path, char *val);

/* The first unsigned number in s (at its start, after blanks), or TALC_SYSFS_NONE (also when
 * it does not fit below TALC_SYSFS_NONE). */
uint32_t talc_sysfs_first_u(const char *s);

/* The last unsigned number in s ("0-3,8-9" gives 9), or TALC_SYSFS_NONE. */
uint32_t talc_sysfs_last_u(const char *s);

/* The first number of the file at path, or TALC_SYSFS_NONE. */
uint32_t talc_sysfs_read_u(const char *path);

#endif
