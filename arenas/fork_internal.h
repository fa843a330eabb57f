/* fork_internal.h — fork safety (arenas/fork.c). */
#ifndef TALC_FORK_INTERNAL_H
#define TALC_FORK_INTERNAL_H

#include "mutex.h"

/* Register the atfork handlers once per process (idempotent, thread-safe). */
void talc_fork_init(void);

/* pthread_atfork, but the handlers stay registered until the process ends: exit's
 * __cxa_finalize of the calling library does not remove them (fork.c says why). For code
 * that is never unloaded. Returns 0 or an errno value. */
int talc_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* The two leaf locks outside arenas (the default arena's preset, arena.c; the fatal
 * handler's setter, fatal.c): taken last by prepare, released by the parent, re-initialised
 * in the child, so a child forked while another thread held one can still take it. */
extern talc_mutex_t talc_default_cfg_lock, talc_fatal_lock;

#endif /* TALC_FORK_INTERNAL_H */
