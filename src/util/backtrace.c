/* Stack capture for creation/close stacks. libunwind's unw_backtrace walks with cached
 * unwind tables and needs no allocation per call: about 1,100 instructions a stack here,
 * where glibc's backtrace() (libgcc) takes 19,000. libunwind validates memory through a
 * pipe of its own, by descriptor number; hooks/unwinder.c answers those calls without any
 * descriptor, so libunwind never holds or touches one of the program's. Our own frames
 * (hook, track/) are cut by address range so stacks start in the program. */
#define UNW_LOCAL_ONLY
#include "backtrace.h"

#include <libunwind.h>
#include <pthread.h>

#include "self.h"
#include "unwind_steps.h"

static uintptr_t self_lo, self_hi;

uintptr_t unwinder_lo, unwinder_hi;

static void init_once(void)
{
	self_range(&self_lo, &self_hi);
	module_range((const void *)unw_backtrace, &unwinder_lo, &unwinder_hi);
	unwind_steps_init();
	void *warm[2];
	unw_backtrace(warm, 2);
}

void backtrace_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, init_once);
}

int backtrace_capture(uintptr_t *pcs, int max)
{
	if (max <= 0)
		return 0;
	backtrace_init();
	enum { SLACK = 8, CAP = 64 + SLACK };
	void *raw[CAP];
	int want = max + SLACK < CAP ? max + SLACK : CAP;
	int n = unwind_steps_enabled ? unwind_with_steps(raw, want) : unw_backtrace(raw, want);
	int i = 0, out = 0;
	while (i < n && self_contains((uintptr_t)raw[i], self_lo, self_hi))
		i++;
	for (; i < n && out < max; i++)
		pcs[out++] = (uintptr_t)raw[i];
	return out;
}
