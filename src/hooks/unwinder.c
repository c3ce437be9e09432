/* libunwind's memory validation, answered without descriptors. When it unwinds a frame it
 * cannot trust, libunwind checks an address by writing one byte from it into a pipe it
 * opened (syscall(SYS_write, ...)), drains that pipe with read(), and on a failed read
 * closes and reopens the pipe, all by descriptor number. Left alone, that pipe takes two of
 * the program's lowest descriptor numbers, and after a program closes every descriptor and
 * reuses the numbers, libunwind would write stack bytes into the program's sockets, block
 * reading them, or close them. Calls that come from libunwind (by return address, and only
 * while connleak is busy, the only time it unwinds) are answered here: pipe2 hands out no
 * descriptor, read says "empty", the write checks the address with process_vm_readv, close
 * does nothing. The same syscall() hook sees the program's raw close and close_range, and
 * FD_CLOEXEC set by raw fcntl/ioctl. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../track/cloexec.h"
#include "../track/fdtable.h"
#include "../track/model.h"
#include "hook.h"
#include "unwinder.h"

ssize_t unwinder_read(void)
{
	errno = EAGAIN;
	return -1;
}

/* write(2) semantics for libunwind's probe: 1 when `addr` is readable, else EFAULT. */
static long probe(const void *addr)
{
	char byte;
	struct iovec local = {&byte, 1}, remote = {(void *)addr, 1};
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1)
		return 1;
	errno = EFAULT;
	return -1;
}

HOOK int pipe2(int fds[2], int flags)
{
	if (FROM_UNWINDER()) {
		fds[0] = fds[1] = -1;
		return 0;
	}
	return REAL(pipe2)(fds, flags);
}

/* syscall() takes up to six register-sized arguments; passing six on is what glibc's own
 * wrappers do. A caller that passes fewer leaves the rest of the six to be read from its
 * stack, which is harmless but which ASan reports as an underflow: not instrumented. */
HOOK __attribute__((no_sanitize_address)) long syscall(long number, ...)
{
	va_list ap;
	va_start(ap, number);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_write && FROM_UNWINDER())
		return probe((const void *)a[1]);
	if ((number == SYS_seccomp && (a[0] == 0 /* STRICT */ || a[0] == 1 /* FILTER */)) ||
	    (number == SYS_prctl && a[0] == 22 /* PR_SET_SECCOMP */ && (a[1] == 1 || a[1] == 2)))
		hook_before_sandbox();
	if (number == SYS_close && hook_active() &&
	    (fdt_sock((int)a[0]) || fdt_was_closed_socket((int)a[0]))) {
		struct close_ctx c;
		TRACK(model_close_begin((int)a[0], 0, &c));
		long r = REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
		int err = r == 0 ? 0 : errno;
		TRACK(model_close_end(&c, err));
		return r;
	}
	long r = REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (r != 0 || !hook_active())
		return r;
	if (number == SYS_close_range)
		TRACK((a[2] & 4 /* CLOSE_RANGE_CLOEXEC */)
			      ? model_cloexec_range((unsigned)a[0], (unsigned)a[1])
			      : model_close_range((unsigned)a[0], (unsigned)a[1]));
	/* The raw forms of what dup.c follows: a descriptor's FD_CLOEXEC (track/cloexec.h). */
	else if (number == SYS_fcntl && a[1] == F_SETFD && fdt_sock((int)a[0]))
		TRACK(model_cloexec((int)a[0], (int)(a[2] & FD_CLOEXEC)));
	else if (number == SYS_ioctl && (a[1] == FIOCLEX || a[1] == FIONCLEX) &&
		 fdt_sock((int)a[0]))
		TRACK(model_cloexec((int)a[0], a[1] == FIOCLEX));
	return r;
}
