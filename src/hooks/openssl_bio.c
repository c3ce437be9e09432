/* BIO_read: the ciphertext a program takes out of a memory BIO to send itself (.NET's
 * SslStream, Python's SSLObject), the clue that binds such a session to its socket
 * (track/tls_bio.c). The real call first, untouched; then one table lookup, and only
 * while some session with a noted write BIO is unbound. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* connleak's own declarations hidden, as in openssl.c. */
#pragma GCC visibility push(hidden)
#include "../track/tls.h"
#include "../track/tls_bio.h"
#include "hook.h"
#include "tlsreal.h"
#pragma GCC visibility pop

typedef struct bio_st BIO;

static int (*real_BIO_read)(BIO *, void *, int);

/* libssl's own socket BIOs come here on every record. The hook is one jump through
 * `entry`: to BIO_read_noted, which looks at what the call hands out, while some session
 * waits to be bound by its ciphertext (and before the real function is known); else to
 * the real function itself (always, with connleak off). Looked at before the call: a
 * session noted during it (on another thread) has handed out no ciphertext through this
 * call yet. */
static __attribute__((noinline)) int BIO_read_noted(BIO *b, void *buf, int n);
static int (*entry)(BIO *, void *, int) = BIO_read_noted;

HOOK TAIL_FN int BIO_read(BIO *b, void *buf, int n)
{
	/* A tail call: BIO_read_noted's return address is the program's, for TLS_REAL. */
	TAIL_RETURN entry(b, buf, n);
}

/* Under the table's lock, when no session waits (tls_bio.h). */
static void go_direct(void *real)
{
	entry = (int (*)(BIO *, void *, int))real;
}

static __attribute__((noinline)) int BIO_read_noted(BIO *b, void *buf, int n)
{
	int (*fn)(BIO *, void *, int) = (__typeof__(fn))TLS_REAL(
		(void **)&real_BIO_read, "BIO_read", NULL, __builtin_return_address(0));
	if (!fn)
		return -1;
	if (!atomic_load_explicit(&tls_bio_used, memory_order_relaxed)) {
		/* Nothing waits: the next calls go straight to fn, unless a note made
		 * meanwhile says otherwise (the table's lock decides). */
		tls_bio_when_empty(go_direct, (void *)fn);
		return fn(b, buf, n);
	}
	int r = fn(b, buf, n);
	if (r > 0 && hook_active())
		TRACK(tls_bio_out(b, buf, (size_t)r));
	return r;
}

void hook_tls_bio_note(void *session, void *wbio)
{
	if (!tls_is_bound(session)) {
		tls_bio_note(session, wbio);
		/* After the note counts (a go_direct racing with it either ran before, or sees
		 * it and does nothing): BIO_read looks again. */
		entry = BIO_read_noted;
	}
}

#define H(fn) {#fn, (void *)fn, (void **)&real_##fn}
const struct tls_hook openssl_bio_hooks[] = {H(BIO_read), {NULL, NULL, NULL}};
