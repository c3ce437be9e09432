/* Memory for the model that is safe to take anywhere connleak runs, a signal handler
 * included: malloc may be the very call a handler interrupted, so nothing reachable from
 * a hook calls it. Zeroed blocks carved from mmap'd chunks with a lock-free bump pointer;
 * never freed (callers keep their own free lists), so a lock-free reader never sees freed
 * memory. Memory is bounded by what the model keeps: live sockets, distinct stacks. */
#ifndef CONNLEAK_ARENA_H
#define CONNLEAK_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* `n` zeroed bytes aligned to 16, or NULL when the system has no memory to give. */
void *arena_alloc(size_t n);

/* A temporary block straight from mmap, and its release (munmap): async-signal-safe. */
void *arena_map(size_t n);
void arena_unmap(void *p, size_t n);

/* Allocations that failed (the system had no memory to give), and a failure noted by a
 * caller whose own structure could not grow: what connleak could not track. */
uint64_t arena_failures(void);
void arena_note_failure(void);

/* Bytes taken from the system so far. */
uint64_t arena_mapped(void);

#endif
