/* Where connleak itself is loaded: the address range of this library's segments, used to
 * refuse real-function pointers that lead back into us and to cut our frames off stacks. */
#ifndef CONNLEAK_SELF_H
#define CONNLEAK_SELF_H

#include <stdint.h>

/* Safe to call from any thread, any number of times. */
void self_range(uintptr_t *lo, uintptr_t *hi);

static inline int self_contains(uintptr_t addr, uintptr_t lo, uintptr_t hi)
{
	return addr >= lo && addr < hi;
}

#endif
