/* tests/common/pattern.h — fill a block with a seed-dependent byte pattern and verify it.
 *
 * The pattern for (seed, i) comes from a fixed pseudo-random table, so a block that was shifted,
 * truncated, overwritten by a neighbour or handed out twice is detected with high probability,
 * and verification is a memcmp. Blocks of any length are supported.
 *
 * Who may use it: test code. Concurrency: any thread (the table is built once, under
 * pthread_once).
 */
#ifndef TALC_TEST_PATTERN_H
#define TALC_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* Write the pattern of `seed` into p[0..n). */
void test_pattern_fill(void *p, size_t n, uint32_t seed);

/* Offset of the first byte of p[0..n) that differs from the pattern of `seed`, or n if none. */
size_t test_pattern_check(const void *p, size_t n, uint32_t seed);

/* As fill/check for the byte range [from, to) of the block's pattern (p is the block start). */
void test_pattern_fill_range(void *p, size_t from, size_t to, uint32_t seed);
size_t test_pattern_check_range(const void *p, size_t from, size_t to, uint32_t seed);

#endif /* TALC_TEST_PATTERN_H */
