/* tests/lite/empty.c — a lite suite with no test at all (a suite whose tests were all lost or
 * renamed away): the runner must exit 1 for it, as for a filter that matches nothing.
 * tests/lite/CMakeLists.txt runs it as lite_selftest_empty.
 *
 * Concurrency: none (no test).
 */
#include <criterion/criterion.h>
