/* tests/common/pattern.c — the byte pattern behind pattern.h.
 *
 * pattern(seed, i) = table[(seed mod PERIOD) + (i mod SEG) + 7 * (i / SEG) mod PERIOD], with a
 * table of PERIOD + SEG pseudo-random bytes; consecutive bytes of a segment are consecutive
 * table bytes, so fill and check are memcpy/memcmp per segment.
 */
#include "pattern.h"

#include <pthread.h>
#include <string.h>

#include "rng.h"

#define PATTERN_PERIOD 4093u
#define PATTERN_SEG ((size_t)1 << 16)

static unsigned char pattern_table[PATTERN_PERIOD + PATTERN_SEG];
static pthread_once_t pattern_once = PTHREAD_ONCE_INIT;

static void pattern_init(void)
{
    test_rng_t r;
    test_rng_seed(&r, 0x7a1cull);
    for (size_t i = 0; i < sizeof pattern_table; i++)
        pattern_table[i] = (unsigned char)test_rng_next(&r);
}

static const unsigned char *pattern_src(uint32_t seed, size_t seg_index)
{
    pthread_once(&pattern_once, pattern_init);
    return pattern_table +
           ((seed % PATTERN_PERIOD) + 7u * (seg_index % PATTERN_PERIOD)) % PATTERN_PERIOD;
}

void test_pattern_fill_range(void *p, size_t from, size_t to, uint32_t seed)
{
    unsigned char *b = p;
    while (from < to) {
        size_t seg = from / PATTERN_SEG, off = from % PATTERN_SEG;
        size_t n = PATTERN_SEG - off < to - from ? PATTERN_SEG - off : to - from;
        memcpy(b + from, pattern_src(seed, seg) + off, n);
        from += n;
    }
}

size_t test_pattern_check_range(const void *p, size_t from, size_t to, uint32_t seed)
{
    const unsigned char *b = p;
    while (from < to) {
        size_t seg = from / PATTERN_SEG, off = from % PATTERN_SEG;
        size_t n = PATTERN_SEG - off < to - from ? PATTERN_SEG - off : to - from;
        const unsigned char *src = pattern_src(seed, seg) + off;
        if (memcmp(b + from, src, n) != 0) {
            for (size_t i = 0; i < n; i++)
                if (b[from + i] != src[i])
                    return from + i;
        }
        from += n;
    }
    return to;
}

void test_pattern_fill(void *p, size_t n, uint32_t seed) { test_pattern_fill_range(p, 0, n, seed); }

size_t test_pattern_check(const void *p, size_t n, uint32_t seed)
{
    return test_pattern_check_range(p, 0, n, seed);
}
