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

/* The fast path, as the read/write hooks' (io.c): a number whose hot word says it holds
 * neither a socket we follow nor the memory of one the program closed (a double close)
 * is the real close and nothing more, one load and a jump. That includes a socket
 * connleak never saw created (inherited, or made by a raw system call): the full hook
 * leaves those alone too, as it does any such number while connleak is busy on this
 * thread (a signal handler that interrupted connleak). libunwind's own closes are of
 * descriptor -1, outside the table: the full hook answers them. */
static int close_slow(int fd);

static TAIL_FN int close_hot(int fd)
{
	if (__builtin_expect(fdt_is_cold(fd), 1))
		TAIL_RETURN real.close(fd);
	TAIL_RETURN close_slow(fd);
}

static int (*close_entry)(int) = close_slow;

void close_entry_init(int on)
{
	if (real.close)
		close_entry = on ? close_hot : real.close;
}

HOOK TAIL_FN int close(int fd)
{
	TAIL_RETURN close_entry(fd);
}

static __attribute__((noinline)) int close_slow(int fd)
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
