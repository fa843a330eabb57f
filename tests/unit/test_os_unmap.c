/* test_os_unmap.c — talc_os_unmap when munmap fails (src/os_mem.c): a range that cannot be
 * unmapped (Linux: unmapping it would split a mapping at vm.max_map_count, ENOMEM) still gives
 * its pages back. Its callers have forgotten the range by then (a segment already out of the
 * owner map and the budget): until 2026-12-07 its pages stayed resident for good (7 freed 8 MiB
 * blocks kept 56 MiB; found by a review, which filled the map count).
 * White-box: the test build wraps munmap (tests/CMakeLists.txt: -Wl,--wrap) to make it fail.
 *
 * Concurrency: one thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <criterion/criterion.h>

#include "os_mem.h"
#include "resident.h"

int __real_munmap(void *p, size_t n);
int __wrap_munmap(void *p, size_t n);

static unsigned refuse; /* munmap calls still to refuse */

int __wrap_munmap(void *p, size_t n)
{
    if (refuse) {
        refuse--;
        errno = ENOMEM;
        return -1;
    }
    return __real_munmap(p, n);
}

Test(os_unmap, a_range_that_cannot_be_unmapped_gives_its_pages_back)
{
    size_t page = talc_os_page_size(), n = 64u * page, total;
    unsigned char *p = talc_os_map(n, 0);
    cr_assert_not_null(p);
    memset(p, 1, n);
    cr_assert_eq(test_resident_pages(p, n, true, &total), total, "written: all resident");
    refuse = 1;
    talc_os_unmap(p, n);
    cr_assert_eq(refuse, 0, "munmap was called");
    size_t in = test_resident_pages(p, n, true, &total);
    cr_assert_eq(in, 0, "%zu of %zu pages still resident", in, total);
    cr_assert_eq(p[0] + p[n - 1], 0, "the range reads as zero"); /* (still mapped) */
    cr_assert_eq(__real_munmap(p, n), 0);
}
