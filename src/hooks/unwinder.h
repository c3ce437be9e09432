/* Answers for libunwind's memory-validation calls (see unwinder.c). */
#ifndef CONNLEAK_UNWINDER_H
#define CONNLEAK_UNWINDER_H

#include <sys/types.h>

#include "../util/backtrace.h"

/* True for a call libunwind makes while connleak is capturing a stack. */
#define FROM_UNWINDER() \
	(__builtin_expect(hook_busy, 0) && from_unwinder(__builtin_return_address(0)))

ssize_t unwinder_read(void);

#endif
