/* BIO_read: the ciphertext a program takes out of a memory BIO to send itself (.NET's
 * SslStream, Python's SSLObject), the clue that binds such a session to its socket
 * (track/tls_bio.c). The real call first, untouched; then one table lookup, and only
 * while some session with a noted write BIO is unbound. */
#include <stdatomic.h>
#include <stddef.h>

#include "../track/tls.h"
#include "../track/tls_bio.h"
#include "hook.h"
#include "tlsreal.h"

typedef struct bio_st BIO;

static int (*real_BIO_read)(BIO *, void *, int);

HOOK int BIO_read(BIO *b, void *buf, int n)
{
	int (*fn)(BIO *, void *, int) = (__typeof__(fn))TLS_REAL(
		(void **)&real_BIO_read, "BIO_read", NULL, __builtin_return_address(0));
	int r = fn(b, buf, n);
	/* libssl's own socket BIOs come here on every record: one load when no session
	 * waits to be bound by its ciphertext. */
	if (r > 0 && atomic_load_explicit(&tls_bio_used, memory_order_relaxed) && hook_active())
		TRACK(tls_bio_out(b, buf, (size_t)r));
	return r;
}

void hook_tls_bio_note(void *session, void *wbio)
{
	if (!tls_is_bound(session))
		tls_bio_note(session, wbio);
}

#define H(fn) {#fn, (void *)fn, (void **)&real_##fn}
const struct tls_hook openssl_bio_hooks[] = {H(BIO_read), {NULL, NULL, NULL}};
