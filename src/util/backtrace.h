/* Captures the caller's stack as instruction addresses. */
#ifndef CONNLEAK_BACKTRACE_H
#define CONNLEAK_BACKTRACE_H

#include <stdint.h>

/* Fills at most `max` return addresses of the program's frames, skipping connleak's own
 * frames. Returns how many were written. */
int backtrace_capture(uintptr_t *pcs, int max);

/* Loads the unwinder; called from the constructor, before any hook can hold a lock. */
void backtrace_init(void);

/* Set while libunwind initialises: the pipe it opens then is its own, not the program's. */
extern int unwind_pipe_active;

#endif
