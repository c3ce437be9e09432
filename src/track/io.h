/* The read/write path: what a completed I/O call means for the socket, in a few relaxed
 * atomic updates and no lock. The rare outcomes that make a finding leave through
 * model_keepalive_race(). */
#ifndef CONNLEAK_IO_H
#define CONNLEAK_IO_H

#include <errno.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "../util/clock.h"
#include "../util/threads.h"
#include "keepalive.h"
#include "http.h"
#include "lease.h"
#include "model.h"
#include "sock.h"

#define RELAXED memory_order_relaxed

/* A write that changed the turn (the program writes after it read, or first): the rare
 * part of io_wrote_ok, out of line so the usual call stays a few stores. `answered`: on a
 * client connection, bytes came in while the write was in the kernel. */
static __attribute__((noinline, cold)) void io_wrote_turn(struct sock *s, uint8_t ph,
							  uint64_t prev, uint64_t now, size_t r,
							  const struct iovec *iov, size_t niov,
							  int answered)
{
	/* A request on a connection that already carried a reply: reused. Not when the
	 * program had read the peer's EOF already, nor a goodbye the peer answers by
	 * closing (keepalive.h). Asked even when answered: keepalive_reuse_turn also counts
	 * a TLS handshake's turns. */
	int reuse = ph == PHASE_REPLIED && atomic_load_explicit(&s->client, RELAXED) &&
		    !atomic_load_explicit(&s->t_eof, RELAXED) && keepalive_reuse_turn(s, iov, niov, r);
	if (answered) {
		/* The answer came before this hook ran: another thread read it (an HTTP client
		 * that reads on a selector thread) while the request was still unmarked, and
		 * found no turn to end. The exchange is complete; nothing is pending. */
		atomic_store_explicit(&s->phase, PHASE_REPLIED, RELAXED);
		ATOMIC_COUNT_ADD(&s->replies, 1);
		return;
	}
	atomic_store_explicit(&s->phase, PHASE_WROTE, RELAXED);
	if (reuse) {
		atomic_store_explicit(&s->reuse_idle_ms,
				      prev && now > prev ? (uint32_t)(now - prev) : 0, RELAXED);
		atomic_store_explicit(&s->reuse_pending, 1, RELAXED);
	}
}

/* The bytes read so far, taken before a write: what io_wrote_ok compares to see whether
 * an answer came in meanwhile. */
static inline uint64_t io_bytes_in(struct sock *s)
{
	return s ? atomic_load_explicit(&s->bytes_in, RELAXED) : 0;
}

/* Whether bytes came in on a client connection since io_bytes_in said `in0`. */
static inline int io_answered(struct sock *s, uint64_t in0)
{
	return atomic_load_explicit(&s->client, RELAXED) &&
	       atomic_load_explicit(&s->bytes_in, RELAXED) != in0;
}

/* Bytes moved in either direction: the counter (none for a peek), the time, the epoch.
 * Returns the clock it read (see io_after in hooks/io.c). */
static inline __attribute__((always_inline)) uint64_t io_count(struct sock *s,
							       _Atomic uint64_t *bytes, size_t r)
{
	if (bytes)
		ATOMIC_COUNT_ADD(bytes, r);
	uint64_t now = clock_coarse_ms();
	atomic_store_explicit(&s->t_last_io, now, RELAXED);
	atomic_store_explicit(&s->last_io_epoch, atomic_load_explicit(&sock_epoch, RELAXED), RELAXED);
	return now;
}

/* A write that moved r > 0 bytes: counters and the time, inline on the I/O path. `in0`:
 * io_bytes_in before the call. Returns the clock it read. */
static inline __attribute__((always_inline)) uint64_t
io_wrote_ok(struct sock *s, size_t r, const struct iovec *iov, size_t niov, uint64_t in0)
{
	uint8_t ph = atomic_load_explicit(&s->phase, RELAXED);
	if (__builtin_expect(ph == PHASE_WROTE, 1))
		return io_count(s, &s->bytes_out, r);
	int answered = io_answered(s, in0);
	uint64_t prev = atomic_load_explicit(&s->t_last_io, RELAXED);
	uint64_t now = io_count(s, &s->bytes_out, r);
	io_wrote_turn(s, ph, prev, now, r, iov, niov, answered);
	return now;
}

/* The write hooks' usual case (hooks/io.c's lean path): r > 0 bytes within the program's
 * turn, or the first on the connection (its turn begins, as io_wrote_turn would have it;
 * every connection has one). Counts them and sets *now, or does nothing and returns 0
 * when the write follows a reply, or an answer came in while the first one ran (then
 * io_wrote_ok, which needs what was written and `in0`). */
static inline __attribute__((always_inline)) int io_wrote_usual(struct sock *s, size_t r,
								uint64_t *now, uint64_t in0)
{
	uint8_t ph = atomic_load_explicit(&s->phase, RELAXED);
	if (__builtin_expect(ph != PHASE_WROTE, 0)) {
		if (ph != PHASE_IDLE || io_answered(s, in0))
			return 0;
		atomic_store_explicit(&s->phase, PHASE_WROTE, RELAXED);
	}
	*now = io_count(s, &s->bytes_out, r);
	return 1;
}

/* `iov`/`niov`: what a successful write wrote (NULL when unknown), looked at only when a
 * request starts on a connection that already carried a reply; `in0`: io_bytes_in before
 * the call. */
static inline uint64_t io_wrote_since(struct sock *s, ssize_t r, int err, const struct iovec *iov,
				      size_t niov, uint64_t in0)
{
	if (r > 0)
		return io_wrote_ok(s, (size_t)r, iov, niov, in0);
	if (r < 0 && (err == EPIPE || err == ECONNRESET) && atomic_load_explicit(&s->client, RELAXED) &&
	    atomic_load_explicit(&s->phase, RELAXED) == PHASE_REPLIED &&
	    !atomic_load_explicit(&s->t_eof, RELAXED))
		model_keepalive_race(s, err == EPIPE ? "EPIPE" : "ECONNRESET", 1);
	return 0;
}

/* A write seen after the fact, nothing read while it ran. */
static inline uint64_t io_wrote_vec(struct sock *s, ssize_t r, int err, const struct iovec *iov,
				    size_t niov)
{
	return io_wrote_since(s, r, err, iov, niov, atomic_load_explicit(&s->bytes_in, RELAXED));
}

static inline void io_wrote(struct sock *s, ssize_t r, int err)
{
	io_wrote_vec(s, r, err, NULL, 0);
}

/* A read that ended the program's turn (the first bytes of a reply): the rare part of
 * io_read_ok, out of line. */
static __attribute__((noinline, cold)) void io_read_turn(struct sock *s, size_t r,
							 const void *head, size_t hlen)
{
	atomic_store_explicit(&s->phase, PHASE_REPLIED, RELAXED);
	ATOMIC_COUNT_ADD(&s->replies, 1);
	atomic_store_explicit(&s->reply_refused,
			      (uint8_t)keepalive_refusal(head, hlen < r ? hlen : r), RELAXED);
}

/* A read that returned r > 0 bytes, inline on the I/O path. Returns the clock it read. */
static inline __attribute__((always_inline)) uint64_t
io_read_ok(struct sock *s, size_t r, int peek, const void *head, size_t hlen)
{
	uint64_t now = io_count(s, peek ? NULL : &s->bytes_in, r);
	if (__builtin_expect(atomic_load_explicit(&s->phase, RELAXED) == PHASE_WROTE, 0))
		io_read_turn(s, r, head, hlen);
	atomic_store_explicit(&s->reuse_pending, 0, RELAXED);
	return now;
}

/* The read hooks' usual case (hooks/io.c's lean path): r > 0 bytes, not a peek, within
 * the peer's turn. Counts them and sets *now, or does nothing and returns 0 when the read
 * begins a reply (then io_read_ok, which needs what was read). */
static inline __attribute__((always_inline)) int io_read_usual(struct sock *s, size_t r,
							       uint64_t *now)
{
	if (__builtin_expect(atomic_load_explicit(&s->phase, RELAXED) == PHASE_WROTE, 0))
		return 0;
	*now = io_count(s, &s->bytes_in, r);
	atomic_store_explicit(&s->reuse_pending, 0, RELAXED);
	return 1;
}

/* A read of `asked` > 0 bytes that returned 0 is the peer's EOF (not on a datagram socket,
 * nor after the program shut its own reading down). */
static inline int io_is_eof(struct sock *s, size_t asked)
{
	return asked > 0 && s->type != SOCK_DGRAM && !atomic_load_explicit(&s->shut_rd, RELAXED);
}

/* When the peer's EOF was first read. */
static inline void io_saw_eof(struct sock *s)
{
	if (!atomic_load_explicit(&s->t_eof, RELAXED))
		atomic_store_explicit(&s->t_eof, clock_coarse_ms(), RELAXED);
}

/* A read that returned 0, in the lean path (hooks/io.c): the time of the peer's EOF, as
 * io_read_head has it, unless a request is pending on the reused connection (a finding,
 * made under the busy mark: returns 0 and leaves it to io_read). */
static inline __attribute__((always_inline)) int io_eof_quiet(struct sock *s, size_t asked)
{
	if (atomic_load_explicit(&s->reuse_pending, RELAXED))
		return 0;
	if (io_is_eof(s, asked))
		io_saw_eof(s);
	return 1;
}

/* `asked` is the buffer size: a zero-length read returning 0 is not EOF. `head`/`hlen`:
 * the start of what a successful read returned (NULL when unknown), looked at only when
 * it begins a reply. Returns the clock it read (0: none), see io_after in hooks/io.c. */
static inline uint64_t io_read_head(struct sock *s, ssize_t r, size_t asked, int err, int peek,
				    const void *head, size_t hlen)
{
	if (r > 0)
		return io_read_ok(s, (size_t)r, peek, head, hlen);
	if (r == 0 && io_is_eof(s, asked)) {
		io_saw_eof(s);
		if (atomic_load_explicit(&s->reuse_pending, RELAXED))
			model_keepalive_race(s, "eof", 0);
	} else if (r < 0 && err == ECONNRESET &&
		   atomic_load_explicit(&s->reuse_pending, RELAXED)) {
		model_keepalive_race(s, "ECONNRESET", 0);
	}
	return 0;
}

static inline uint64_t io_read(struct sock *s, ssize_t r, size_t asked, int err, int peek)
{
	return io_read_head(s, r, asked, err, peek, NULL, 0);
}

/* HTTP framing for leases: only plain client connections while a lease is on (TLS ones
 * are framed from their plaintext instead), so everything else pays one load. */
static inline int io_framed(struct sock *s)
{
	return __builtin_expect(atomic_load_explicit(&s->http.mode, RELAXED) == HTTP_PLAIN, 0);
}

/* Around a write on a framed connection: a reader that sees the answer before the writer
 * counted the request waits for the writer (http.c). Returns whether it counted. */
static inline int io_write_begin(struct sock *s)
{
	if (!s || !io_framed(s))
		return 0;
	atomic_fetch_add(&s->http.writers, 1);
	return 1;
}

static inline void io_write_end(struct sock *s)
{
	atomic_fetch_sub(&s->http.writers, 1);
}

/* The first `r` bytes of iov went out (out) or came in: feed them to the parser; a read
 * that completed a response may retire the connection right here (lease.h). */
static inline void io_http(struct sock *s, int out, const struct iovec *iov, size_t cnt,
			   size_t r)
{
	for (size_t i = 0; i < cnt && r > 0; i++) {
		size_t k = iov[i].iov_len < r ? iov[i].iov_len : r;
		r -= k;
		if (out)
			http_out(&s->http, iov[i].iov_base, k);
		else if (http_in(&s->http, iov[i].iov_base, k))
			lease_boundary(s);
	}
}

#endif
