/* reserve_internal.h — what the segment layer asks of the process reserve (arenas/reserve.c).
 * Concurrency: both calls take the reserve lock (rank: after the arena's grow lock). */
#ifndef TALC_RESERVE_INTERNAL_H
#define TALC_RESERVE_INTERNAL_H

#include <stddef.h>

#include "arena_internal.h"
#include "os_mem.h"

/* talc_reserve_init with the reserve and its bitmap mapped through `os` (tests pass a fake that
 * acts in the middle of the set-up); mlock and populate stay the system's. */
int talc_reserve_init_with(const talc_os_ops_t *os, size_t size, unsigned flags);

/* Borrow *size bytes (a granule multiple) for arena a under its policy; if that is refused,
 * `min` bytes (a smaller granule multiple, or 0 for no second try), setting *size to it. NULL
 * if neither is allowed or free as one run (one denial counted). */
char *talc_reserve_take(talc_arena_t *a, size_t *size, size_t min);
/* Return a borrowed range. */
void talc_reserve_give(talc_arena_t *a, char *base, size_t size);
/* Arena a joins / leaves the set whose guaranteed minimums the reserve protects. */
int talc_reserve_join(talc_arena_t *a);
void talc_reserve_leave(talc_arena_t *a);
/* Fork handlers. */
void talc_reserve_lock(void);
void talc_reserve_unlock(void);
void talc_reserve_reinit_lock(void);

#endif /* TALC_RESERVE_INTERNAL_H */
