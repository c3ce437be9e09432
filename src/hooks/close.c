/* Hooks that end descriptors: close, close_range, closefrom, fclose of a socket stream,
 * and shutdown, which ends a direction without ending the descriptor. */
#include <linux/close_range.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "../track/cloexec.h"
#include "../track/fdtable.h"
#include "../track/model.h"
#include "hook.h"
#include "unwinder.h"

HOOK int close(int fd)
{
	if (FROM_UNWINDER())
		return 0;
	if (hook_interrupted() && fdt_sock(fd)) {
		int r = REAL(close)(fd);
		hook_defer_close(fd);
		return r;
	}
	if (!hook_active())
		return REAL(close)(fd);
	if (!fdt_sock(fd) && !fdt_was_closed_socket(fd))
		return REAL(close)(fd);
	struct close_ctx c;
	TRACK_SITE(model_close_begin(fd, 0, &c));
	int r = REAL(close)(fd);
	/* Linux releases the descriptor even when close() fails with EINTR or EIO. */
	int err = r == 0 ? 0 : errno;
	TRACK(model_close_end(&c, err));
	return r;
}

HOOK int close_range(unsigned first, unsigned last, int flags)
{
	int r = REAL(close_range)(first, last, flags);
	if (r == 0 && hook_active()) {
		if (flags & CLOSE_RANGE_CLOEXEC)
			TRACK(model_cloexec_range(first, last));
		else
			TRACK(model_close_range(first, last));
	}
	return r;
}

HOOK void closefrom(int lowfd)
{
	REAL(closefrom)(lowfd);
	if (lowfd >= 0 && hook_active())
		TRACK(model_close_range((unsigned)lowfd, ~0u));
}

/* fclose() closes its descriptor inside libc, where close() is not interposed. */
HOOK int fclose(FILE *stream)
{
	if (!hook_active() || !stream)
		return REAL(fclose)(stream);
	int fd = fileno(stream);
	if (fd < 0 || !fdt_sock(fd))
		return REAL(fclose)(stream);
	struct close_ctx c;
	TRACK(model_close_begin(fd, 0, &c));
	int r = REAL(fclose)(stream);
	TRACK(model_close_end(&c, 0));
	return r;
}

HOOK int shutdown(int fd, int how)
{
	int r = REAL(shutdown)(fd, how);
	if (r == 0 && hook_active())
		TRACK(model_shutdown(fd, how));
	return r;
}
