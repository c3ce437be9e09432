/* Stack capture for creation/close stacks. libunwind's unw_backtrace walks with cached
 * unwind tables and needs no allocation per call, which keeps socket() and close() cheap
 * (about 0.25 us per stack here; glibc's backtrace() costs 2 us). libunwind opens a pipe
 * for memory validation when it initialises: we initialise it from the constructor, and
 * the pipe2 hook moves that pipe to the top of the descriptor range (unwind_pipe_active),
 * so the program's own descriptor numbers are the ones it would have had without us.
 * Our own frames (hook, track/) are cut by address range so stacks start in the program. */
#define UNW_LOCAL_ONLY
#include "backtrace.h"

#include <libunwind.h>
#include <pthread.h>

#include "self.h"

static uintptr_t self_lo, self_hi;

int unwind_pipe_active;

static void init_once(void)
{
	self_range(&self_lo, &self_hi);
	void *warm[2];
	unwind_pipe_active = 1;
	unw_backtrace(warm, 2);
	unwind_pipe_active = 0;
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
	int n = unw_backtrace(raw, max + SLACK < CAP ? max + SLACK : CAP);
	int i = 0, out = 0;
	while (i < n && self_contains((uintptr_t)raw[i], self_lo, self_hi))
		i++;
	for (; i < n && out < max; i++)
		pcs[out++] = (uintptr_t)raw[i];
	return out;
}
