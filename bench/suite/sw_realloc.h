/* sw_realloc.h — realloc with a check that the contents moved with the block.
 *
 * sw_realloc_checked() checks the block's pattern (sw_block.h), reallocs it to new_size
 * (>= SW_BLOCK_MIN), verifies that the first word (the old size under the key) survived, and
 * writes the pattern for the new size. Failures go to sw_fail; a NULL from realloc exits.
 *
 * Who may include it: bench/suite/ only. Concurrency: the block belongs to the caller.
 */
#ifndef TALC_SUITE_REALLOC_H
#define TALC_SUITE_REALLOC_H

#include "sw_block.h"
#include "sw_harness.h"

#include <stdio.h>
#include <stdlib.h>

static inline void *sw_realloc_checked(void *p, size_t new_size, uint64_t key, const char *who)
{
    size_t old = sw_block_check(p, key);
    if (!old)
        sw_fail("%s: damaged block %p before realloc", who, p);
    void *q = realloc(p, new_size);
    if (!q) {
        fprintf(stderr, "%s: realloc(%zu) returned NULL\n", who, new_size);
        exit(1);
    }
    uint64_t head;
    memcpy(&head, q, sizeof head);
    if (old && head != ((uint64_t)old ^ key))
        sw_fail("%s: realloc to %p lost the contents", who, q);
    sw_block_fill(q, new_size, key);
    return q;
}

#endif /* TALC_SUITE_REALLOC_H */
