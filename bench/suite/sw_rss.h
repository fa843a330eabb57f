/* sw_rss.h — the process's resident memory now, from /proc/self/statm, for the suite's memory
 * checks (trim_rss.c, soak.c, burst_rss.c).
 *
 * Threading rules: none (each call opens and reads the file; any thread may call it).
 */
#ifndef SW_RSS_H
#define SW_RSS_H

#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

/* Resident KiB; 0 if /proc/self/statm cannot be read. Allocates (stdio) under the allocator
 * being measured, like the rest of the program. */
static inline size_t sw_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (size_t)sysconf(_SC_PAGESIZE) / 1024u;
}

#endif /* SW_RSS_H */
