/* test_os_map_race.c — talc_os_map's exact aligned map (src/os_mem.c) when another thread
 * takes the aligned range between the probe and the fixed map: it asks the kernel again
 * (until 2026-12-07 it failed with ENOMEM at once).
 * White-box: the test build wraps mmap (tests/CMakeLists.txt: -Wl,--wrap) for the library's
 * calls only. The wrapper refuses the slack map (ENOMEM, as RLIMIT_AS would), places the probe
 * one page above an aligned address, and refuses the first fixed maps with EEXIST, as a
 * mapping made there by another thread would.
 *
 * Concurrency: one thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <criterion/criterion.h>

#include "os_mem.h"

void *__real_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off);

static struct {
    bool armed;
    size_t size, align;
    unsigned refuse_fixed;         /* fixed maps still to refuse */
    unsigned slack, probes, fixed; /* calls seen */
} w;

/* A mapping of n bytes starting one page above an align-aligned address, or MAP_FAILED. */
static void *probe_above_aligned(size_t n, size_t align)
{
    size_t page = talc_os_page_size();
    size_t span = n + 3u * align;
    unsigned char *r = __real_mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return r;
    uintptr_t a = (((uintptr_t)r + align - 1u) & ~(uintptr_t)(align - 1u)) + align;
    munmap(r, span); /* the range is free again: the probe goes where it is asked to */
    return __real_mmap((void *)(a + page), n, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
}

void *__wrap_mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
    if (!w.armed)
        return __real_mmap(a, n, prot, flags, fd, off);
    if (flags & MAP_FIXED_NOREPLACE) {
        w.fixed++;
        if (w.refuse_fixed) {
            w.refuse_fixed--;
            errno = EEXIST;
            return MAP_FAILED;
        }
        return __real_mmap(a, n, prot, flags, fd, off);
    }
    if (n > w.size) { /* the slack map: no address space for it */
        w.slack++;
        errno = ENOMEM;
        return MAP_FAILED;
    }
    w.probes++;
    return probe_above_aligned(n, w.align);
}

Test(os_map_race, an_aligned_range_taken_meanwhile_is_asked_for_again)
{
    size_t page = talc_os_page_size();
    w.size = 16u * page;
    w.align = 16u * page;
    w.refuse_fixed = 2; /* both neighbours of the first probe */
    w.armed = true;
    unsigned char *p = talc_os_map(w.size, w.align);
    int err = errno;
    w.armed = false;
    cr_assert_not_null(p, "map failed (errno %d: %s) after %u probes and %u fixed maps", err,
                       strerror(err), w.probes, w.fixed);
    cr_assert_eq((uintptr_t)p % w.align, 0, "misaligned: %p", (void *)p);
    cr_assert_eq(w.slack, 1, "the slack map was tried first");
    cr_assert_geq(w.probes, 2, "the kernel was asked again");
    cr_assert_eq(w.refuse_fixed, 0);
    memset(p, 0x5a, w.size);
    talc_os_unmap(p, w.size);
}

Test(os_map_race, a_range_taken_every_time_fails_with_enomem)
{
    size_t page = talc_os_page_size();
    w.size = 16u * page;
    w.align = 16u * page;
    w.refuse_fixed = 1000;
    w.armed = true;
    errno = 0;
    void *p = talc_os_map(w.size, w.align);
    int err = errno;
    w.armed = false;
    cr_assert_null(p);
    cr_assert_eq(err, ENOMEM);
    cr_assert_leq(w.probes, 8, "a bounded number of rounds (%u)", w.probes);
}
