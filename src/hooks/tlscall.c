/* What every TLS library call we follow does around the real call, for OpenSSL and GnuTLS
 * alike, beyond the usual case inlined in tlsreal.h: only the program's outermost call
 * counts (libssl calls its own exported functions, SSL_connect calls SSL_do_handshake);
 * before it, a session whose socket is gone is a finding and an unbound session waits for
 * its first socket I/O; after it, none of that carries over to the next call. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#pragma GCC visibility push(hidden)
#include "../track/io.h"
#include "../track/lease.h"
#include "../track/tls.h"
#include "hook.h"
#include "tlsreal.h"
#pragma GCC visibility pop

/* The socket whose plaintext this call frames, and its record's incarnation then. */
static __thread struct sock *framed __attribute__((tls_model("initial-exec")));
static __thread uint32_t framed_inc __attribute__((tls_model("initial-exec")));

int tls_process_off; /* tlsreal.h */

void tls_entry_off(void)
{
	tls_process_off = 1;
}

__thread void *hook_tls_unbound __attribute__((tls_model("initial-exec")));
__thread int hook_tls_stale __attribute__((tls_model("initial-exec")));

void hook_bind_unbound(int fd)
{
	void *s = hook_tls_unbound;
	hook_tls_unbound = NULL;
	TRACK(tls_bind(s, fd));
}

/* The call depth is set and connleak active on this thread (tls_call_enter). */
int tls_call_enter_slow(void *session)
{
	/* One lookup, most often answered by this thread's recent sessions (tls.c); the
	 * model only when the session's socket is gone. */
	int st = tls_state(session);
	if (__builtin_expect(st & TLS_STATE_ORPHANED, 0)) {
		int use = 0;
		TRACK(use = tls_use(session));
		if (use & TLS_USE_HALT)
			hook_halt();
		/* The descriptor calls this makes are the same stale use: one finding. */
		hook_tls_stale = use & TLS_USE_STALE;
	}
	if (!(st & TLS_STATE_BOUND))
		hook_tls_unbound = session;
	if (lease_framing)
		TRACK(framed = tls_framed_sock(session, &framed_inc));
	return TLS_CALL_MARKED;
}

void tls_call_leave_slow(int out, const void *buf, long r)
{
	struct sock *s = framed;
	if (s && out >= 0 && r > 0 &&
	    atomic_load_explicit(&s->incarnation, memory_order_relaxed) == framed_inc) {
		struct iovec v = {(void *)buf, (size_t)r};
		int e = errno;
		hook_busy++;
		io_http(s, out, &v, 1, (size_t)r);
		hook_leave();
		errno = e;
	}
	framed = NULL;
	hook_tls_unbound = NULL;
	hook_tls_stale = 0;
	tls_thread.call_depth = 0;
}
