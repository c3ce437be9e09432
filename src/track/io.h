/* The read/write path: what a completed I/O call means for the socket, in a few relaxed
 * atomic updates and no lock. The rare outcomes that make a finding leave through
 * model_keepalive_race(). */
#ifndef CONNLEAK_IO_H
#define CONNLEAK_IO_H

#include <errno.h>
#include <sys/types.h>

#include "../util/clock.h"
#include "model.h"
#include "sock.h"

#define RELAXED memory_order_relaxed

static inline void io_wrote(struct sock *s, ssize_t r, int err)
{
	if (r > 0) {
		atomic_fetch_add_explicit(&s->bytes_out, (uint64_t)r, RELAXED);
		atomic_store_explicit(&s->t_last_io, clock_coarse_ms(), RELAXED);
		uint8_t ph = atomic_load_explicit(&s->phase, RELAXED);
		if (ph != PHASE_WROTE) {
			atomic_store_explicit(&s->phase, PHASE_WROTE, RELAXED);
			/* A request on a connection that already carried a reply: reused. */
			if (ph == PHASE_REPLIED && s->client)
				atomic_store_explicit(&s->reuse_pending, 1, RELAXED);
		}
	} else if (r < 0 && (err == EPIPE || err == ECONNRESET) && s->client &&
		   atomic_load_explicit(&s->phase, RELAXED) == PHASE_REPLIED) {
		model_keepalive_race(s, err == EPIPE ? "EPIPE" : "ECONNRESET");
	}
}

/* `asked` is the buffer size: a zero-length read returning 0 is not EOF. */
static inline void io_read(struct sock *s, ssize_t r, size_t asked, int err, int peek)
{
	if (r > 0) {
		if (!peek)
			atomic_fetch_add_explicit(&s->bytes_in, (uint64_t)r, RELAXED);
		atomic_store_explicit(&s->t_last_io, clock_coarse_ms(), RELAXED);
		if (atomic_load_explicit(&s->phase, RELAXED) == PHASE_WROTE) {
			atomic_store_explicit(&s->phase, PHASE_REPLIED, RELAXED);
			atomic_fetch_add_explicit(&s->replies, 1, RELAXED);
		}
		atomic_store_explicit(&s->reuse_pending, 0, RELAXED);
	} else if (r == 0 && asked > 0 && s->type != SOCK_DGRAM && !s->shut_rd) {
		if (!atomic_load_explicit(&s->t_eof, RELAXED))
			atomic_store_explicit(&s->t_eof, clock_coarse_ms(), RELAXED);
		if (atomic_load_explicit(&s->reuse_pending, RELAXED))
			model_keepalive_race(s, "eof");
	} else if (r < 0 && err == ECONNRESET &&
		   atomic_load_explicit(&s->reuse_pending, RELAXED)) {
		model_keepalive_race(s, "ECONNRESET");
	}
}

#endif
