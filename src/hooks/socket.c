/* Hooks that create sockets: socket, socketpair, accept, accept4, and connect, which
 * gives a socket its peer. The type keeps SOCK_CLOEXEC for the model (track/cloexec.h). */
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
		hook_defer_new(fd, domain, type & ~SOCK_NONBLOCK, ORIGIN_SOCKET);
	if (!hook_active())
		return fd;
	if (fd >= 0)
		TRACK_SITE(model_new_socket(fd, domain, type & ~SOCK_NONBLOCK, ORIGIN_SOCKET));
	else
		note_exhaustion(fd);
	return fd;
}

HOOK int socketpair(int domain, int type, int protocol, int sv[2])
{
	int r = REAL(socketpair)(domain, type, protocol, sv);
	if (r == 0 && hook_interrupted()) {
		int t = type & ~SOCK_NONBLOCK;
		hook_defer_new(sv[0], domain, t, ORIGIN_SOCKETPAIR);
		hook_defer_new(sv[1], domain, t, ORIGIN_SOCKETPAIR);
	}
	if (!hook_active())
		return r;
	if (r == 0) {
		int t = type & ~SOCK_NONBLOCK;
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

/* The peer address comes from the kernel, never from the caller's buffer: the caller's
 * length is read by the kernel (an unmapped one fails with EFAULT, as bare), and a buffer
 * shorter than the address holds only part of it. */
static inline __attribute__((always_inline)) int accepted(int lfd, int fd, int want_peer,
							  int cloexec)
{
	struct sockaddr_storage peer;
	socklen_t got = 0;
	if (fd >= 0 && want_peer) {
		int e = errno;
		got = sizeof peer;
		if (getpeername(fd, (struct sockaddr *)&peer, &got) != 0)
			got = 0;
		errno = e;
	}
	if (fd >= 0 && hook_interrupted())
		hook_defer_new(fd, got ? peer.ss_family : AF_UNSPEC,
			       SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), ORIGIN_ACCEPT);
	if (!hook_active())
		return fd;
	if (fd >= 0)
		TRACK_SITE(model_accepted(lfd, fd, got ? (struct sockaddr *)&peer : NULL, got,
					  cloexec));
	else
		note_exhaustion(fd);
	return fd;
}

HOOK int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accepted(fd, REAL(accept)(fd, addr, len), addr && len, 0);
}

HOOK int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return accepted(fd, REAL(accept4)(fd, addr, len, flags), addr && len,
			flags & SOCK_CLOEXEC);
}
