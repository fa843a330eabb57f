/* fork_internal.h — fork safety (arenas/fork.c). */
#ifndef TALC_FORK_INTERNAL_H
#define TALC_FORK_INTERNAL_H

/* Register the atfork handlers once per process (idempotent, thread-safe). */
void talc_fork_init(void);

#endif /* TALC_FORK_INTERNAL_H */
