/* sw_block.h — self-describing block patterns, so a workload can check its allocator's work.
 *
 * sw_block_fill() writes the block's size (xor a key) into its first word and a byte derived
 * from size and key into its last byte (if the block is longer than that word);
 * sw_block_check() re-derives both. A block handed to another thread carries everything
 * needed to check it there. An allocator that returns overlapping blocks, or a realloc that
 * loses the contents, makes a later check fail; the workload then counts the failure and
 * reports check=FAIL (sw_harness.h).
 *
 * Blocks must be at least SW_BLOCK_MIN bytes. Who may include it: bench/suite/ only.
 * Concurrency: a block is checked by the one thread that holds it.
 */
#ifndef TALC_SUITE_BLOCK_H
#define TALC_SUITE_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SW_BLOCK_MIN sizeof(uint64_t)

static inline uint8_t sw_block_tail(size_t size, uint64_t key)
{
    return (uint8_t)((size * 131u) ^ (key >> 8) ^ 0x5Au);
}

/* Writes the pattern of a block of `size` (>= SW_BLOCK_MIN) bytes under `key`. */
static inline void sw_block_fill(void *p, size_t size, uint64_t key)
{
    uint64_t head = (uint64_t)size ^ key;
    memcpy(p, &head, sizeof head);
    if (size > sizeof head)
        ((uint8_t *)p)[size - 1] = sw_block_tail(size, key);
}

/* Returns the size the block was filled with, or 0 if its pattern is damaged. */
static inline size_t sw_block_check(const void *p, uint64_t key)
{
    uint64_t head;
    memcpy(&head, p, sizeof head);
    size_t size = (size_t)(head ^ key);
    if (size < SW_BLOCK_MIN || size > ((size_t)1 << 32))
        return 0;
    if (size == sizeof head)
        return size; /* the head word is the whole block */
    return ((const uint8_t *)p)[size - 1] == sw_block_tail(size, key) ? size : 0;
}

#endif /* TALC_SUITE_BLOCK_H */
