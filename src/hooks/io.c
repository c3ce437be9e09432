/* The read/write path: one lock-free table lookup, the real call, and a few counter
 * updates in track/io.h when the descriptor is a socket we follow. Includes the
 * _FORTIFY_SOURCE variants and SCM_RIGHTS reception. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/single_threaded.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* connleak's own variables and functions, declared hidden here (they are: -fvisibility=
 * hidden), so the hooks load a flag or the descriptor table with one rip-relative move
 * instead of an address from the GOT and a load. The system headers above come first:
 * what they declare lives in other libraries. The hooks themselves say HOOK (default). */
#pragma GCC visibility push(hidden)
#include "../track/fdtable.h"
#include "../track/io.h"
#include "../track/model.h"
#include "../track/tls_bio.h"
#include "hook.h"
#include "unwinder.h"
#pragma GCC visibility pop

/* `w`: fd's word in the descriptor table (fdtable.h). */
static inline struct sock *io_sock(int fd, uintptr_t w)
{
	if (!__builtin_expect(hook_enabled, 0))
		return NULL;
	/* One test for both per-thread marks on the usual path. */
	if (__builtin_expect(hook_busy | hook_vfork, 0) &&
	    (hook_busy || hook_in_vfork_child()))
		return NULL;
	struct sock *s = fdt_word_sock(w);
	if (__builtin_expect(hook_tls_unbound != NULL, 0) && s)
		hook_bind_unbound(fd);
	return s;
}

static inline size_t iov_total(const struct iovec *iov, size_t n)
{
	size_t t = 0;
	for (size_t i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* A call on a descriptor whose socket the program closed fails with EBADF: stale use.
 * `w0`, the number's word before the call: when it was the memory of a closed socket and
 * the call did not fail with EBADF, the number holds something else now (a file, a pipe, a
 * socket connleak does not follow), and the memory, which only an EBADF could use, is
 * dropped so the number's calls take the fast path again. */
static inline void stale_check(int fd, ssize_t r, uintptr_t w0)
{
	if (__builtin_expect(r < 0, 0) && errno == EBADF && hook_enabled && !hook_busy &&
	    !hook_tls_stale && fdt_was_closed_socket(fd) && !hook_in_vfork_child())
		TRACK(model_stale_fd(fd));
	else if (__builtin_expect(w0 & FDT_CLOSED, 0) && hook_enabled && !hook_busy &&
		 !hook_in_vfork_child())
		TRACK(model_number_reused(fd, w0));
}

/* The fast path, for every descriptor connleak does not follow (pipes, files, sockets it
 * does not track). Each hook is one jump through io_entry, which the constructor points
 * at the real function when connleak is off for the whole process (CONNLEAK unset), and
 * else at NAME_hot: when the number holds neither a socket nor the memory of a closed one
 * (a stale use: fdtable.h's hot word), one load and a jump to the real function. A
 * socket is hot only while connleak is on, so a hook that runs after connleak switched
 * off (sandbox) passes straight through too, as the full hook would. A hot number goes to
 * `hot_fn` (NAME_lean below for the busiest hooks), everything else to NAME_slow, the full
 * hook, which is also where io_entry points before the constructor ran. libunwind's own
 * reads (FROM_UNWINDER) are on descriptor -1, outside the table: they take the full hook. */
#define FAST_IO_TO(ret, name, real_name, params, args, hot_fn)                     \
	static ret real_name##_slow params;                                        \
	static ret hot_fn params;                                                  \
	static TAIL_FN ret real_name##_hot params                                  \
	{                                                                          \
		if (__builtin_expect((unsigned)fd < FDT_MAX, 1)) {                 \
			if (__builtin_expect(!atomic_load_explicit(&fdt_hot[fd],   \
								   memory_order_relaxed), 1)) \
				TAIL_RETURN real.real_name args;                   \
			TAIL_RETURN hot_fn args;                                   \
		}                                                                  \
		TAIL_RETURN real_name##_slow args;                                 \
	}                                                                          \
	HOOK TAIL_FN ret name params                                               \
	{                                                                          \
		TAIL_RETURN io_entry.real_name args;                               \
	}                                                                          \
	static __attribute__((noinline)) ret real_name##_slow params
#define FAST_IO(ret, name, real_name, params, args) \
	FAST_IO_TO(ret, name, real_name, params, args, real_name##_slow)
#define FAST_IO_LEAN(ret, name, real_name, params, args) \
	FAST_IO_TO(ret, name, real_name, params, args, real_name##_lean)

/* The hooks with a fast path, by their real_fns name. */
#define FAST_IO_HOOKS(X)                                                                  \
	X(read) X(read_chk) X(write) X(recv) X(recv_chk) X(send) X(recvfrom) X(recvfrom_chk) \
	X(sendto) X(sendmsg) X(sendmmsg) X(readv) X(writev)

static struct real_fns io_entry;

/* The socket behind fd and the incarnation of its record when the call starts. */
#define IO_BEGIN(fd)                                                                    \
	uintptr_t w0 = fdt_word(fd);                                                    \
	struct sock *s = io_sock(fd, w0);                                               \
	uint32_t s_inc = s ? atomic_load_explicit(&s->incarnation, memory_order_relaxed) : 0

/* Still the same socket when the call returns (a close on another thread may have given
 * the record to a new socket meanwhile). */
#define IO_SAME(s) ((s) && atomic_load_explicit(&(s)->incarnation, memory_order_relaxed) == s_inc)

/* A call that moved bytes only updates the socket's counters with relaxed atomics (no
 * lock, no finding: track/io.h), so it needs neither the busy mark nor errno saved; then
 * `now`, the clock that update read, tells whether the snapshot thread is due, for a
 * compare instead of a clock read. A failed or empty call may make a finding, which takes
 * the model lock: the busy mark keeps a signal handler that interrupts it from re-entering
 * the model on this thread. */
static inline void io_after(uint64_t now)
{
	if (__builtin_expect(snapshot_waiting, 0) && __builtin_expect(now >= snapshot_due_ms, 0) &&
	    !hook_busy) {
		int e = errno;
		snapshot_maybe_start();
		errno = e;
	}
}

/* `head`/`hlen`: where the bytes read start (the first buffer of a vector), looked at
 * only when they begin a reply (track/io.h). */
#define AFTER_READ(s, r, asked, peek, head, hlen)                          \
	do {                                                               \
		if (IO_SAME(s)) {                                          \
			if (__builtin_expect((r) > 0, 1)) {                \
				io_after(io_read_ok(s, (size_t)(r), peek, head, hlen)); \
			} else {                                           \
				int e_ = errno;                            \
				hook_busy++;                               \
				io_read(s, r, asked, e_, peek);            \
				hook_leave();                              \
				errno = e_;                                \
			}                                                  \
		}                                                          \
	} while (0)

/* `iov`/`niov`: what was written, looked at only when a request starts on a connection
 * that already carried a reply (track/keepalive.h); `in0_` in scope: io_bytes_in before
 * the call. */
#define AFTER_WRITE(s, r, iov, niov)                                       \
	do {                                                               \
		if (IO_SAME(s)) {                                          \
			if (__builtin_expect((r) > 0, 1)) {                \
				io_after(io_wrote_ok(s, (size_t)(r), iov, niov, in0_)); \
			} else {                                           \
				int e_ = errno;                            \
				hook_busy++;                               \
				io_wrote_since(s, r, e_, iov, niov, in0_); \
				hook_leave();                              \
				errno = e_;                                \
			}                                                  \
		}                                                          \
	} while (0)

/* Ciphertext a memory-BIO TLS session handed out, going out on this socket, binds the
 * session (track/tls_bio.h): looked at only while some is pending, one relaxed load else. */
#define BIO_MATCH(s, fd, buf, n)                                                          \
	do {                                                                              \
		if (__builtin_expect(atomic_load_explicit(&tls_bio_pending,               \
							  memory_order_relaxed) != 0, 0) && \
		    (s))                                                                  \
			TRACK(tls_bio_match(fd, buf, n));                                 \
	} while (0)

/* HTTP framing for leases (track/io.h) of what the call moved, never of a peek. */
#define HTTP_IOV(s, out, peek, iov, cnt, r)                                        \
	do {                                                                       \
		if ((r) > 0 && !(peek) && (s) && io_framed(s) && IO_SAME(s)) {           \
			int e_ = errno;                                            \
			hook_busy++;                                               \
			io_http(s, out, iov, cnt, (size_t)(r));                    \
			hook_leave();                                              \
			errno = e_;                                                \
		}                                                                  \
	} while (0)
#define HTTP_BUF(s, out, peek, buf, r)                                             \
	do {                                                                       \
		struct iovec v_ = {(void *)(buf), (size_t)(r)};                    \
		HTTP_IOV(s, out, peek, &v_, 1, r);                                 \
	} while (0)

/* A write on a framed connection counts itself as in progress (see io_write_begin); the
 * bytes read before it, for AFTER_WRITE. */
#define WRITE_BEGIN(fd)                 \
	IO_BEGIN(fd);                   \
	int w_ = io_write_begin(s);     \
	uint64_t in0_ = io_bytes_in(s)
#define WRITE_DONE(s, iov, cnt, r)                  \
	do {                                        \
		HTTP_IOV(s, 1, 0, iov, cnt, r);     \
		if (w_ && IO_SAME(s))               \
			io_write_end(s);            \
	} while (0)

FAST_IO_LEAN(ssize_t, read, read, (int fd, void *buf, size_t n), (fd, buf, n))
{
	if (FROM_UNWINDER())
		return unwinder_read();
	IO_BEGIN(fd);
	ssize_t r = REAL(read)(fd, buf, n);
	stale_check(fd, r, w0);
	AFTER_READ(s, r, n, 0, buf, n);
	HTTP_BUF(s, 0, 0, buf, r);
	return r;
}

FAST_IO(ssize_t, __read_chk, read_chk, (int fd, void *buf, size_t n, size_t buflen), (fd, buf, n, buflen))
{
	IO_BEGIN(fd);
	ssize_t r = REAL(read_chk)(fd, buf, n, buflen);
	stale_check(fd, r, w0);
	AFTER_READ(s, r, n, 0, buf, n);
	HTTP_BUF(s, 0, 0, buf, r);
	return r;
}

FAST_IO_LEAN(ssize_t, write, write, (int fd, const void *buf, size_t n), (fd, buf, n))
{
	WRITE_BEGIN(fd);
	BIO_MATCH(s, fd, buf, n);
	ssize_t r = REAL(write)(fd, buf, n);
	stale_check(fd, r, w0);
	struct iovec v = {(void *)buf, n};
	AFTER_WRITE(s, r, &v, 1);
	WRITE_DONE(s, &v, 1, r);
	return r;
}

FAST_IO_LEAN(ssize_t, recv, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags))
{
	IO_BEGIN(fd);
	ssize_t r = REAL(recv)(fd, buf, n, flags);
	stale_check(fd, r, w0);
	AFTER_READ(s, r, n, flags & MSG_PEEK, buf, n);
	HTTP_BUF(s, 0, flags & MSG_PEEK, buf, r);
	return r;
}

FAST_IO(ssize_t, __recv_chk, recv_chk, (int fd, void *buf, size_t n, size_t buflen, int flags), (fd, buf, n, buflen, flags))
{
	IO_BEGIN(fd);
	ssize_t r = REAL(recv_chk)(fd, buf, n, buflen, flags);
	stale_check(fd, r, w0);
	AFTER_READ(s, r, n, flags & MSG_PEEK, buf, n);
	HTTP_BUF(s, 0, flags & MSG_PEEK, buf, r);
	return r;
}

FAST_IO_LEAN(ssize_t, send, send, (int fd, const void *buf, size_t n, int flags), (fd, buf, n, flags))
{
	WRITE_BEGIN(fd);
	BIO_MATCH(s, fd, buf, n);
	ssize_t r = REAL(send)(fd, buf, n, flags);
	stale_check(fd, r, w0);
	struct iovec v = {(void *)buf, n};
	AFTER_WRITE(s, r, &v, 1);
	WRITE_DONE(s, &v, 1, r);
	return r;
}

FAST_IO_LEAN(ssize_t, recvfrom, recvfrom, (int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *alen), (fd, buf, n, flags, addr, alen))
{
	IO_BEGIN(fd);
	ssize_t r = REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	stale_check(fd, r, w0);
	AFTER_READ(s, r, n, flags & MSG_PEEK, buf, n);
	HTTP_BUF(s, 0, flags & MSG_PEEK, buf, r);
	return r;
}

FAST_IO(ssize_t, __recvfrom_chk, recvfrom_chk, (int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr, socklen_t *alen), (fd, buf, n, buflen, flags, addr, alen))
{
	IO_BEGIN(fd);
	ssize_t r = REAL(recvfrom_chk)(fd, buf, n, buflen, flags, addr, alen);
	stale_check(fd, r, w0);
	AFTER_READ(s, r, n, flags & MSG_PEEK, buf, n);
	HTTP_BUF(s, 0, flags & MSG_PEEK, buf, r);
	return r;
}

FAST_IO_LEAN(ssize_t, sendto, sendto, (int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t alen), (fd, buf, n, flags, addr, alen))
{
	WRITE_BEGIN(fd);
	BIO_MATCH(s, fd, buf, n);
	ssize_t r = REAL(sendto)(fd, buf, n, flags, addr, alen);
	stale_check(fd, r, w0);
	struct iovec v = {(void *)buf, n};
	AFTER_WRITE(s, r, &v, 1);
	WRITE_DONE(s, &v, 1, r);
	return r;
}

/* Descriptors passed in SCM_RIGHTS become ours when they arrive. */
static void received(const struct msghdr *msg, ssize_t r)
{
	if (r >= 0 && msg->msg_controllen && hook_active())
		TRACK(model_received(msg));
}

HOOK ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	IO_BEGIN(fd);
	ssize_t r = REAL(recvmsg)(fd, msg, flags);
	stale_check(fd, r, w0);
	/* The msghdr and its iovec are read only after the kernel accepted them: a call the
	 * kernel rejected (NULL, unmapped, a huge msg_iovlen) must fail as it does bare. */
	if (r >= 0) {
		AFTER_READ(s, r, iov_total(msg->msg_iov, msg->msg_iovlen), flags & MSG_PEEK,
			   msg->msg_iovlen ? msg->msg_iov[0].iov_base : NULL,
			   msg->msg_iovlen ? msg->msg_iov[0].iov_len : 0);
		HTTP_IOV(s, 0, flags & MSG_PEEK, msg->msg_iov, msg->msg_iovlen, r);
		received(msg, r);
	} else {
		AFTER_READ(s, r, 0, flags & MSG_PEEK, NULL, 0);
	}
	return r;
}

FAST_IO_LEAN(ssize_t, sendmsg, sendmsg, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags))
{
	WRITE_BEGIN(fd);
	if (msg && msg->msg_iovlen)
		BIO_MATCH(s, fd, msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
	ssize_t r = REAL(sendmsg)(fd, msg, flags);
	stale_check(fd, r, w0);
	AFTER_WRITE(s, r, r > 0 ? msg->msg_iov : NULL, r > 0 ? msg->msg_iovlen : 0);
	WRITE_DONE(s, r > 0 ? msg->msg_iov : NULL, r > 0 ? msg->msg_iovlen : 0, r);
	return r;
}

HOOK int recvmmsg(int fd, struct mmsghdr *vec, unsigned n, int flags, struct timespec *tmo)
{
	IO_BEGIN(fd);
	int r = REAL(recvmmsg)(fd, vec, n, flags, tmo);
	stale_check(fd, r, w0);
	if (IO_SAME(s) && r > 0) {
		int e = errno;
		hook_busy++;
		for (int i = 0; i < r; i++)
			if (vec[i].msg_len)
				io_read_head(s, vec[i].msg_len, vec[i].msg_len, 0, flags & MSG_PEEK,
					     vec[i].msg_hdr.msg_iovlen ? vec[i].msg_hdr.msg_iov[0].iov_base : NULL,
					     vec[i].msg_hdr.msg_iovlen ? vec[i].msg_hdr.msg_iov[0].iov_len : 0);
		hook_leave();
		errno = e;
	}
	for (int i = 0; i < r; i++)
		received(&vec[i].msg_hdr, 0);
	return r;
}

FAST_IO(int, sendmmsg, sendmmsg, (int fd, struct mmsghdr *vec, unsigned n, int flags), (fd, vec, n, flags))
{
	IO_BEGIN(fd);
	uint64_t in0 = io_bytes_in(s);
	int r = REAL(sendmmsg)(fd, vec, n, flags);
	stale_check(fd, r, w0);
	if (IO_SAME(s) && r > 0) {
		int e = errno;
		hook_busy++;
		for (int i = 0; i < r; i++)
			if (vec[i].msg_len)
				io_wrote_since(s, vec[i].msg_len, 0, vec[i].msg_hdr.msg_iov,
					       vec[i].msg_hdr.msg_iovlen, in0);
		hook_leave();
		errno = e;
	}
	return r;
}

FAST_IO_LEAN(ssize_t, readv, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n))
{
	IO_BEGIN(fd);
	ssize_t r = REAL(readv)(fd, iov, n);
	stale_check(fd, r, w0);
	AFTER_READ(s, r, r >= 0 && n > 0 ? iov_total(iov, (size_t)n) : 0, 0,
		   r > 0 ? iov[0].iov_base : NULL, r > 0 ? iov[0].iov_len : 0);
	HTTP_IOV(s, 0, 0, iov, n > 0 ? (size_t)n : 0, r);
	return r;
}

FAST_IO_LEAN(ssize_t, writev, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n))
{
	WRITE_BEGIN(fd);
	if (iov && n > 0)
		BIO_MATCH(s, fd, iov[0].iov_base, iov[0].iov_len);
	ssize_t r = REAL(writev)(fd, iov, n);
	stale_check(fd, r, w0);
	AFTER_WRITE(s, r, iov, n > 0 ? (size_t)n : 0);
	WRITE_DONE(s, iov, n > 0 ? (size_t)n : 0, r);
	return r;
}

/* The lean path: the usual call on a socket we follow, for the busiest hooks (the full
 * hook above does the same in every case). It takes the full hook before the call
 * whenever that would do more than count: connleak busy or off on this thread, a TLS
 * session waiting for its socket, a connection framed for a lease, a memory-BIO session
 * waiting for its ciphertext (writes), a peek (reads), the memory of a closed socket;
 * and after the call, NAME_rest does what the full hook does after its call, unless the
 * bytes moved within the current turn. */
static inline __attribute__((always_inline)) struct sock *lean_sock(int fd, int write)
{
	if (!__builtin_expect(hook_enabled, 1) || __builtin_expect(hook_busy | hook_vfork, 0) ||
	    __builtin_expect(hook_tls_unbound != NULL, 0))
		return NULL;
	/* In the table: only NAME_hot calls here. */
	struct sock *s = fdt_word_sock(atomic_load_explicit(&fdt_hot[fd], memory_order_acquire));
	if (!s || io_framed(s) ||
	    (write && atomic_load_explicit(&tls_bio_pending, memory_order_relaxed)))
		return NULL;
	return s;
}

static __attribute__((noinline, cold)) ssize_t lean_read_rest(int fd, struct sock *s,
							      uint32_t s_inc, ssize_t r,
							      size_t asked, void *head,
							      size_t hlen)
{
	stale_check(fd, r, 0);
	AFTER_READ(s, r, asked, 0, head, hlen);
	HTTP_BUF(s, 0, 0, head, r);
	return r;
}

static __attribute__((noinline, cold)) ssize_t lean_read_rest_iov(int fd, struct sock *s,
								  uint32_t s_inc, ssize_t r,
								  const struct iovec *iov, int n)
{
	stale_check(fd, r, 0);
	AFTER_READ(s, r, r >= 0 && n > 0 ? iov_total(iov, (size_t)n) : 0, 0,
		   r > 0 ? iov[0].iov_base : NULL, r > 0 ? iov[0].iov_len : 0);
	HTTP_IOV(s, 0, 0, iov, n > 0 ? (size_t)n : 0, r);
	return r;
}

static __attribute__((noinline, cold)) ssize_t lean_write_rest_iov(int fd, struct sock *s,
								   uint32_t s_inc, ssize_t r,
								   const struct iovec *iov,
								   size_t cnt, uint64_t in0_)
{
	stale_check(fd, r, 0);
	AFTER_WRITE(s, r, iov, cnt);
	HTTP_IOV(s, 1, 0, iov, cnt, r);
	return r;
}

static __attribute__((noinline, cold)) ssize_t lean_write_rest(int fd, struct sock *s,
							       uint32_t s_inc, ssize_t r,
							       const void *buf, size_t n, uint64_t in0_)
{
	struct iovec v = {(void *)buf, n};
	return lean_write_rest_iov(fd, s, s_inc, r, &v, 1, in0_);
}

/* `usual`: the call of io_read_usual or io_wrote_usual (with `r`, `&now` and, for a write,
 * `in0_`: io_bytes_in before the call); `eof`: whether a read's r == 0 is dealt with
 * (io_eof_quiet; 0 for writes); `rest`: the call of NAME_rest with the hook's arguments. */
#define LEAN(real_name, args, write, usual, eof, rest)                                   \
	do {                                                                             \
		struct sock *s = lean_sock(fd, write);                                   \
		if (__builtin_expect(!s, 0))                                             \
			TAIL_RETURN real_name##_slow args;                               \
		uint32_t s_inc = atomic_load_explicit(&s->incarnation, memory_order_relaxed); \
		uint64_t in0_ = (write) ? io_bytes_in(s) : 0;                            \
		(void)in0_;                                                              \
		ssize_t r = real.real_name args;                                         \
		uint64_t now;                                                            \
		if (__builtin_expect(r > 0, 1)) {                                        \
			if (!IO_SAME(s))                                                 \
				return r;                                                \
			if (__builtin_expect((usual), 1)) {                              \
				io_after(now);                                           \
				return r;                                                \
			}                                                                \
		}                                                                        \
		if (r == 0 && (!IO_SAME(s) || (eof)))                                    \
			return r;                                                        \
		return rest;                                                             \
	} while (0)

static __attribute__((noinline)) ssize_t read_lean(int fd, void *buf, size_t n)
{
	LEAN(read, (fd, buf, n), 0, io_read_usual(s, (size_t)r, &now), io_eof_quiet(s, n),
	     lean_read_rest(fd, s, s_inc, r, n, buf, n));
}

static __attribute__((noinline)) ssize_t write_lean(int fd, const void *buf, size_t n)
{
	LEAN(write, (fd, buf, n), 1, io_wrote_usual(s, (size_t)r, &now, in0_), 0,
	     lean_write_rest(fd, s, s_inc, r, buf, n, in0_));
}

static __attribute__((noinline)) ssize_t recv_lean(int fd, void *buf, size_t n, int flags)
{
	if (__builtin_expect(flags & MSG_PEEK, 0))
		return recv_slow(fd, buf, n, flags);
	LEAN(recv, (fd, buf, n, flags), 0, io_read_usual(s, (size_t)r, &now), io_eof_quiet(s, n),
	     lean_read_rest(fd, s, s_inc, r, n, buf, n));
}

static __attribute__((noinline)) ssize_t send_lean(int fd, const void *buf, size_t n, int flags)
{
	LEAN(send, (fd, buf, n, flags), 1, io_wrote_usual(s, (size_t)r, &now, in0_), 0,
	     lean_write_rest(fd, s, s_inc, r, buf, n, in0_));
}

static __attribute__((noinline)) ssize_t recvfrom_lean(int fd, void *buf, size_t n, int flags,
							 struct sockaddr *addr, socklen_t *alen)
{
	if (__builtin_expect(flags & MSG_PEEK, 0))
		return recvfrom_slow(fd, buf, n, flags, addr, alen);
	LEAN(recvfrom, (fd, buf, n, flags, addr, alen), 0, io_read_usual(s, (size_t)r, &now),
	     io_eof_quiet(s, n),
	     lean_read_rest(fd, s, s_inc, r, n, buf, n));
}

static __attribute__((noinline)) ssize_t sendto_lean(int fd, const void *buf, size_t n, int flags,
						     const struct sockaddr *addr, socklen_t alen)
{
	LEAN(sendto, (fd, buf, n, flags, addr, alen), 1, io_wrote_usual(s, (size_t)r, &now, in0_), 0,
	     lean_write_rest(fd, s, s_inc, r, buf, n, in0_));
}

/* GnuTLS writes its records with sendmsg. */
static __attribute__((noinline)) ssize_t sendmsg_lean(int fd, const struct msghdr *msg, int flags)
{
	LEAN(sendmsg, (fd, msg, flags), 1, io_wrote_usual(s, (size_t)r, &now, in0_), 0,
	     lean_write_rest_iov(fd, s, s_inc, r, r > 0 ? msg->msg_iov : NULL,
				 r > 0 ? msg->msg_iovlen : 0, in0_));
}

static __attribute__((noinline)) ssize_t readv_lean(int fd, const struct iovec *iov, int n)
{
	/* A readv of no buffer returns 0: no EOF. */
	LEAN(readv, (fd, iov, n), 0, io_read_usual(s, (size_t)r, &now),
	     io_eof_quiet(s, n > 0 ? iov_total(iov, (size_t)n) : 0),
	     lean_read_rest_iov(fd, s, s_inc, r, iov, n));
}

static __attribute__((noinline)) ssize_t writev_lean(int fd, const struct iovec *iov, int n)
{
	LEAN(writev, (fd, iov, n), 1, io_wrote_usual(s, (size_t)r, &now, in0_), 0,
	     lean_write_rest_iov(fd, s, s_inc, r, iov, n > 0 ? (size_t)n : 0, in0_));
}

/* Before the constructor: the full hooks. */
#define ENTRY_SLOW(f) .f = f##_slow,
static struct real_fns io_entry = {FAST_IO_HOOKS(ENTRY_SLOW)};

void io_entry_init(int on)
{
	real_init();
#define ENTRY_SET(f) io_entry.f = real.f ? (on ? f##_hot : real.f) : f##_slow;
	FAST_IO_HOOKS(ENTRY_SET)
	close_entry_init(on);
}
