/* test_os_map_race.c — talc_os_map's exact aligned map (src/os_mem.c) when another thread
 * takes the aligned range between the probe and the fixed map: it asks the kernel again
 * (until 2026-12-07 it failed with ENOMEM at once).
 * White-box: the test build wraps mmap (tests/CMakeLists.txt: -Wl,--wrap) for the library's
 * calls only. The wrapper refuses the slack map (ENOMEM, as RLIMIT_AS would), places the probe
 * one page above an aligned address, and refuses the first fixed maps with EEXIST, as a
 * mapping made there by another thread would. It counts apart the PROT_NONE page the map
 * keeps in a hole with no aligned room, for the next round.
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

/* With _FILE_OFFSET_BITS=64 on a 32-bit target, glibc's <sys/mman.h> renames mmap to mmap64:
 * the library's calls then reach the linker as mmap64, which --wrap=mmap does not catch (the
 * test failed "the slack map was tried first" on armhf built with -D_FILE_OFFSET_BITS=64), and
 * mmap's own off_t is 32 bits. tests/CMakeLists.txt wraps both names. */
#if defined(_FILE_OFFSET_BITS) && UINTPTR_MAX == UINT32_MAX
#if _FILE_OFFSET_BITS == 64
#define TEST_MMAP64 1
#endif
#endif
#ifdef TEST_MMAP64
#define REAL_MMAP __real_mmap64
#define WRAP_MMAP __wrap_mmap64
#else
#define REAL_MMAP __real_mmap
#define WRAP_MMAP __wrap_mmap
#endif
void *REAL_MMAP(void *a, size_t n, int prot, int flags, int fd, off_t off);
void *WRAP_MMAP(void *a, size_t n, int prot, int flags, int fd, off_t off);

static struct {
    bool armed;
    size_t size, align;
    unsigned refuse_fixed;               /* fixed maps still to refuse */
    unsigned slack, probes, fixed, kept; /* calls seen (kept: PROT_NONE placeholder pages) */
    void *probe_at[16];                  /* where the first probes went */
    void *kept_at[16];                   /* where the placeholders were asked for */
} w;

/* A mapping of n bytes starting one page above an align-aligned address, or MAP_FAILED. */
static void *probe_above_aligned(size_t n, size_t align)
{
    size_t page = talc_os_page_size();
    size_t span = n + 3u * align;
    unsigned char *r = REAL_MMAP(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return r;
    uintptr_t a = (((uintptr_t)r + align - 1u) & ~(uintptr_t)(align - 1u)) + align;
    munmap(r, span); /* the range is free again: the probe goes where it is asked to */
    return REAL_MMAP((void *)(a + page), n, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
}

void *WRAP_MMAP(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
    if (!w.armed)
        return REAL_MMAP(a, n, prot, flags, fd, off);
    if ((flags & MAP_FIXED_NOREPLACE) && prot == PROT_NONE) { /* a page kept in a hole */
        if (w.kept < sizeof w.kept_at / sizeof w.kept_at[0])
            w.kept_at[w.kept] = a;
        w.kept++;
    } else if (flags & MAP_FIXED_NOREPLACE) {
        w.fixed++;
    }
    if (flags & MAP_FIXED_NOREPLACE) {
        if (w.refuse_fixed) {
            w.refuse_fixed--;
            errno = EEXIST;
            return MAP_FAILED;
        }
        return REAL_MMAP(a, n, prot, flags, fd, off);
    }
    if (n > w.size) { /* the slack map: no address space for it */
        w.slack++;
        errno = ENOMEM;
        return MAP_FAILED;
    }
    void *p = probe_above_aligned(n, w.align);
    if (w.probes < sizeof w.probe_at / sizeof w.probe_at[0])
        w.probe_at[w.probes] = p;
    w.probes++;
    return p;
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
    /* The first probe's hole had no room: a page in its middle was kept for the next round,
     * and given back before the map returned. */
    unsigned char vec[1];
    cr_assert_eq(w.kept, 1, "a page kept after the first round (%u)", w.kept);
    cr_assert((uintptr_t)w.kept_at[0] > (uintptr_t)w.probe_at[0] &&
                  (uintptr_t)w.kept_at[0] < (uintptr_t)w.probe_at[0] + w.size,
              "kept inside the first probe's range");
    cr_assert(mincore(w.kept_at[0], page, vec) == -1 && errno == ENOMEM, "kept page unmapped");
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
    /* every probe was given back: mincore fails with ENOMEM on an unmapped range (looked at
     * before any assertion, which may map memory of its own) */
    unsigned char vec[1];
    unsigned mapped = 0;
    for (unsigned i = 0; i < w.probes && i < 16u; i++)
        if (w.probe_at[i] == MAP_FAILED ||
            !(mincore(w.probe_at[i], page, vec) == -1 && errno == ENOMEM))
            mapped++;
    cr_assert_null(p);
    cr_assert_eq(err, ENOMEM);
    cr_assert_geq(w.probes, 2, "the kernel was asked again");
    cr_assert_leq(w.probes, 8, "a bounded number of rounds (%u)", w.probes);
    cr_assert_eq(w.fixed, 2 * w.probes, "both neighbours asked in each round");
    cr_assert_eq(w.kept, w.probes, "a page asked for in each round's hole (%u)", w.kept);
    cr_assert_eq(mapped, 0, "%u of %u probes failed or were not given back", mapped, w.probes);
}
