/* Captures the caller's stack as instruction addresses. */
#ifndef CONNLEAK_BACKTRACE_H
#define CONNLEAK_BACKTRACE_H

#include <stdint.h>

/* Fills at most `max` return addresses of the program's frames, skipping connleak's own
 * frames. Returns how many were written. */
int backtrace_capture(uintptr_t *pcs, int max);

/* Loads the unwinder; called from the constructor, before any hook can hold a lock. */
void backtrace_init(void);

/* Where libunwind is loaded: calls from there are the unwinder's own (hooks/unwinder.c). */
extern uintptr_t unwinder_lo, unwinder_hi;

static inline int from_unwinder(const void *ret)
{
	return (uintptr_t)ret >= unwinder_lo && (uintptr_t)ret < unwinder_hi;
}

#endif
