/* Captures the caller's stack as instruction addresses with libunwind. */
#ifndef CONNLEAK_BACKTRACE_H
#define CONNLEAK_BACKTRACE_H

#include <stdint.h>

/* Fills at most `max` return addresses of the program's frames, skipping connleak's own
 * frames. Returns how many were written. */
int backtrace_capture(uintptr_t *pcs, int max);

#endif
