/* Hooks that create sockets: socket, socketpair, accept, accept4, and connect, which
 * gives a socket its peer. */
#include <sys/socket.h>

#include "../track/model.h"
#include "hook.h"

static void note_exhaustion(int r)
{
	if (r < 0 && (errno == EMFILE || errno == ENFILE))
		TRACK(model_exhausted(errno));
}

HOOK int socket(int domain, int type, int protocol)
{
	int fd = REAL(socket)(domain, type, protocol);
	if (fd >= 0 && hook_interrupted())
		hook_defer_new(fd, domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), ORIGIN_SOCKET);
	if (!hook_active())
		return fd;
	if (fd >= 0)
		TRACK(model_new_socket(fd, domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC),
				       ORIGIN_SOCKET));
	else
		note_exhaustion(fd);
	return fd;
}

HOOK int socketpair(int domain, int type, int protocol, int sv[2])
{
	int r = REAL(socketpair)(domain, type, protocol, sv);
	if (r == 0 && hook_interrupted()) {
		int t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
		hook_defer_new(sv[0], domain, t, ORIGIN_SOCKETPAIR);
		hook_defer_new(sv[1], domain, t, ORIGIN_SOCKETPAIR);
	}
	if (!hook_active())
		return r;
	if (r == 0) {
		int t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
		TRACK(model_new_socket(sv[0], domain, t, ORIGIN_SOCKETPAIR);
		      model_new_socket(sv[1], domain, t, ORIGIN_SOCKETPAIR));
	} else {
		note_exhaustion(r);
	}
	return r;
}

HOOK int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int r = REAL(connect)(fd, addr, len);
	if (hook_active() && (r == 0 || errno == EINPROGRESS))
		TRACK(model_connect(fd, addr, len));
	return r;
}

/* `room` is the caller's buffer size before the call: the kernel reports the full address
 * length, which may be more than it wrote. */
static int accepted(int lfd, int fd, struct sockaddr *addr, socklen_t *len, socklen_t room)
{
	socklen_t got = addr && len ? (*len < room ? *len : room) : 0;
	if (fd >= 0 && hook_interrupted())
		hook_defer_new(fd, got ? addr->sa_family : AF_UNSPEC, SOCK_STREAM,
			       ORIGIN_ACCEPT);
	if (!hook_active())
		return fd;
	if (fd >= 0)
		TRACK(model_accepted(lfd, fd, addr, got));
	else
		note_exhaustion(fd);
	return fd;
}

HOOK int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	socklen_t room = addr && len ? *len : 0;
	return accepted(fd, REAL(accept)(fd, addr, len), addr, len, room);
}

HOOK int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	socklen_t room = addr && len ? *len : 0;
	return accepted(fd, REAL(accept4)(fd, addr, len, flags), addr, len, room);
}
