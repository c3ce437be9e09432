/* pipe2, for one caller only: libunwind opens a validation pipe when it initialises (from
 * our constructor). Left where the kernel puts it, it would take the two lowest free
 * descriptors and shift every number the program gets after, so it is moved to the top of
 * the descriptor range. Every other pipe2 call passes straight through. */
#include <fcntl.h>
#include <sys/resource.h>

#include "../util/backtrace.h"
#include "hook.h"

static void move_high(int *fd)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	/* Past 1024 the kernel would grow the descriptor table to reach the number. */
	rlim_t top = rl.rlim_cur < 1024 ? rl.rlim_cur : 1024;
	if (top < 64)
		return;
	int high = REAL(fcntl)(*fd, F_DUPFD_CLOEXEC, (int)top - 8);
	if (high >= 0) {
		REAL(close)(*fd);
		*fd = high;
	}
}

HOOK int pipe2(int fds[2], int flags)
{
	int r = REAL(pipe2)(fds, flags);
	if (r == 0 && unwind_pipe_active) {
		int saved = errno;
		move_high(&fds[0]);
		move_high(&fds[1]);
		errno = saved;
	}
	return r;
}
