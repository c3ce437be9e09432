/* Interned call stacks: each distinct stack is stored once and named by a small id, so
 * memory grows with the number of distinct call sites, never with the number of sockets. */
#ifndef CONNLEAK_STACKS_H
#define CONNLEAK_STACKS_H

#include <stdint.h>

typedef uint32_t stack_id; /* 0 = no stack recorded */

stack_id stacks_intern(const uintptr_t *pcs, int n);

/* Captures the calling program's stack (depth from the options) and interns it. */
stack_id stacks_capture(int depth);

/* Where the program called the hook now running on this thread: the return address into
 * the program and the hook's frame address, set by hooks whose model call captures a stack
 * (TRACK_SITE in hooks/hook.h), 0 otherwise. A capture from a place and stack depth seen
 * before checks the words its last walk read there and reuses that walk (stacks.c). */
extern __thread uintptr_t stacks_site_ra __attribute__((tls_model("initial-exec")));
extern __thread uintptr_t stacks_site_fp __attribute__((tls_model("initial-exec")));

/* Returns the frames of `id` (0 frames for id 0 or an unknown id). The array stays valid
 * until the process ends. */
int stacks_get(stack_id id, const uintptr_t **pcs);

uint32_t stacks_count(void);

void stacks_fork_prepare(void);
void stacks_fork_parent(void);
void stacks_fork_child(void);

#endif
