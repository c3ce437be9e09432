/* Hooks that make a second descriptor for one socket: dup, dup2, dup3 and fcntl's
 * F_DUPFD/F_DUPFD_CLOEXEC (dup2/dup3 over an open socket close it implicitly), and those
 * that set a descriptor's FD_CLOEXEC: fcntl F_SETFD, ioctl FIOCLEX/FIONCLEX
 * (track/cloexec.h: what a fork's exec'd child keeps). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include "../track/cloexec.h"
#include "../track/fdtable.h"
#include "../track/model.h"
#include "hook.h"

static int duplicated(int oldfd, int newfd, int cloexec)
{
	if (!hook_active())
		return newfd;
	if (newfd >= 0) {
		if (fdt_sock(oldfd) || fdt_sock(newfd))
			TRACK(model_dup_flags(oldfd, newfd, cloexec));
	} else if (errno == EMFILE || errno == ENFILE) {
		TRACK(model_exhausted(errno));
	}
	return newfd;
}

HOOK int dup(int fd)
{
	return duplicated(fd, REAL(dup)(fd), 0);
}

HOOK int dup2(int fd, int fd2)
{
	return duplicated(fd, REAL(dup2)(fd, fd2), 0);
}

HOOK int dup3(int fd, int fd2, int flags)
{
	return duplicated(fd, REAL(dup3)(fd, fd2, flags), flags & O_CLOEXEC);
}

/* The third argument is an int or a pointer depending on cmd; passing it on as a
 * pointer-sized integer is what glibc itself does. */
static int fcntl_common(int (*fn)(int, int, ...), int fd, int cmd, uintptr_t arg)
{
	int r = fn(fd, cmd, arg);
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return duplicated(fd, r, cmd == F_DUPFD_CLOEXEC);
	if (cmd == F_SETFD && r == 0 && fdt_sock(fd) && hook_active())
		TRACK(model_cloexec(fd, (int)arg & FD_CLOEXEC));
	return r;
}

HOOK int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	uintptr_t arg = va_arg(ap, uintptr_t);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

HOOK int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	uintptr_t arg = va_arg(ap, uintptr_t);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

/* Only FIOCLEX and FIONCLEX concern us; the argument (absent for those two) is passed on as
 * a pointer, as glibc's own callers do. */
HOOK int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	int r = REAL(ioctl)(fd, request, arg);
	if ((request == FIOCLEX || request == FIONCLEX) && r == 0 && fdt_sock(fd) &&
	    hook_active())
		TRACK(model_cloexec(fd, request == FIOCLEX));
	return r;
}
