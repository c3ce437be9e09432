/* Where a module is loaded: the address range of its segments. For connleak itself, used to
 * refuse real-function pointers that lead back into us and to cut our frames off stacks; for
 * libunwind, to recognise the calls it makes. */
#ifndef CONNLEAK_SELF_H
#define CONNLEAK_SELF_H

#include <stdint.h>

/* Safe to call from any thread, any number of times. */
void self_range(uintptr_t *lo, uintptr_t *hi);

/* The address range of the loaded module that contains `addr` (0, 0 when none). */
void module_range(const void *addr, uintptr_t *lo, uintptr_t *hi);

static inline int self_contains(uintptr_t addr, uintptr_t lo, uintptr_t hi)
{
	return addr >= lo && addr < hi;
}

#endif
