/* Interned call stacks: each distinct stack is stored once and named by a small id, so
 * memory grows with the number of distinct call sites, never with the number of sockets. */
#ifndef CONNLEAK_STACKS_H
#define CONNLEAK_STACKS_H

#include <stdint.h>

typedef uint32_t stack_id; /* 0 = no stack recorded */

stack_id stacks_intern(const uintptr_t *pcs, int n);

/* Captures the calling program's stack (depth from the options) and interns it. */
stack_id stacks_capture(int depth);

/* Returns the frames of `id` (0 frames for id 0 or an unknown id). The array stays valid
 * until the process ends. */
int stacks_get(stack_id id, const uintptr_t **pcs);

uint32_t stacks_count(void);

void stacks_fork_prepare(void);
void stacks_fork_parent(void);
void stacks_fork_child(void);

#endif
