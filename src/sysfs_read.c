/* sysfs_read.c — one small value from a Linux sysfs file, without stdio (sysfs_read.h): the
 * topology's sysfs backend and talc_cache_line_size read their files through it.
 *
 * Concurrency: reentrant; it keeps no state. Allocation: none (open/read on the caller's
 * buffer), so it is safe under a malloc shim, where stdio's fopen would allocate.
 */
#include "sysfs_read.h"

#include <fcntl.h>
#include <unistd.h>

int talc_sysfs_read(const char *path, char *val)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, val, TALC_SYSFS_VALUE - 1);
    close(fd);
    if (n < 0)
        return -1;
    val[n] = '\0';
    return (int)n;
}

uint32_t talc_sysfs_first_u(const char *s)
{
    uint64_t v = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return TALC_SYSFS_NONE;
    for (; *s >= '0' && *s <= '9' && v < TALC_SYSFS_NONE; s++)
        v = v * 10u + (uint64_t)(*s - '0');
    return v < TALC_SYSFS_NONE ? (uint32_t)v : TALC_SYSFS_NONE;
}

uint32_t talc_sysfs_last_u(const char *s)
{
    const char *last = NULL;
    for (const char *p = s; *p; p++)
        if (*p >= '0' && *p <= '9' && (p == s || p[-1] < '0' || p[-1] > '9'))
            last = p;
    return last ? talc_sysfs_first_u(last) : TALC_SYSFS_NONE;
}

uint32_t talc_sysfs_read_u(const char *path)
{
    char val[TALC_SYSFS_VALUE];
    return talc_sysfs_read(path, val) >= 0 ? talc_sysfs_first_u(val) : TALC_SYSFS_NONE;
}
