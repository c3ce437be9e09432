/* OpenSSL (1.1 and 3) hooks: session creation and release, binding to a descriptor, the
 * handshake, SNI, and the I/O calls that must not run on a session whose socket is gone.
 * The types are opaque here: no OpenSSL header, no link against libssl. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* connleak's own declarations hidden (they are), so the inline part of every call loads
 * its flags with one rip-relative move (as io.c does); system headers first. */
#pragma GCC visibility push(hidden)
#include "../track/tls.h"
#include "hook.h"
#include "tlsreal.h"
#pragma GCC visibility pop

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct bio_st BIO;

#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define TLSEXT_NAMETYPE_host_name 0

static struct {
	SSL *(*SSL_new)(SSL_CTX *);
	void (*SSL_free)(SSL *);
	int (*SSL_set_fd)(SSL *, int);
	int (*SSL_set_rfd)(SSL *, int);
	int (*SSL_set_wfd)(SSL *, int);
	void (*SSL_set_bio)(SSL *, BIO *, BIO *);
	void (*SSL_set0_rbio)(SSL *, BIO *);
	void (*SSL_set0_wbio)(SSL *, BIO *);
	int (*SSL_connect)(SSL *);
	int (*SSL_accept)(SSL *);
	int (*SSL_do_handshake)(SSL *);
	int (*SSL_read)(SSL *, void *, int);
	int (*SSL_read_ex)(SSL *, void *, size_t, size_t *);
	int (*SSL_peek)(SSL *, void *, int);
	int (*SSL_peek_ex)(SSL *, void *, size_t, size_t *);
	int (*SSL_write)(SSL *, const void *, int);
	int (*SSL_write_ex)(SSL *, const void *, size_t, size_t *);
	int (*SSL_shutdown)(SSL *);
	long (*SSL_ctrl)(SSL *, int, long, void *);
	/* Not hooked, only called. */
	int (*SSL_get_fd)(const SSL *);
	int (*SSL_session_reused)(const SSL *);
} ossl;

/* The real function `fn`; its anchor for libraries reached only by dlsym is SSL_new. */
#define REAL_SSL(fn) \
	((__typeof__(ossl.fn))TLS_REAL((void **)&ossl.fn, #fn, (void *)ossl.SSL_new, \
				       __builtin_return_address(0)))

/* Binds a session to its descriptor when it has none yet (BIO paths, implicit setups). */
static void bind_lazily(SSL *s)
{
	if (tls_is_bound(s))
		return;
	int (*get_fd)(const SSL *) = REAL_SSL(SSL_get_fd);
	int fd = get_fd ? get_fd(s) : -1;
	if (fd >= 0)
		tls_bind(s, fd);
}

HOOK SSL *SSL_new(SSL_CTX *ctx)
{
	REAL_OR_FAIL(REAL_SSL(SSL_new), NULL);
	SSL *s = real_(ctx);
	if (s && hook_active())
		TRACK(tls_new(s, TLS_OPENSSL));
	return s;
}

HOOK void SSL_free(SSL *s)
{
	REAL_OR_FAIL(REAL_SSL(SSL_free));
	if (s && hook_active())
		TRACK(tls_free(s));
	real_(s);
}

static int bound(SSL *s, int fd, int r)
{
	if (r == 1 && hook_active())
		TRACK(tls_bind(s, fd));
	return r;
}

HOOK int SSL_set_fd(SSL *s, int fd)
{
	REAL_OR_FAIL(REAL_SSL(SSL_set_fd), 0);
	return bound(s, fd, real_(s, fd));
}

HOOK int SSL_set_rfd(SSL *s, int fd)
{
	REAL_OR_FAIL(REAL_SSL(SSL_set_rfd), 0);
	return bound(s, fd, real_(s, fd));
}

HOOK int SSL_set_wfd(SSL *s, int fd)
{
	REAL_OR_FAIL(REAL_SSL(SSL_set_wfd), 0);
	return bound(s, fd, real_(s, fd));
}

HOOK void SSL_set_bio(SSL *s, BIO *rbio, BIO *wbio)
{
	REAL_OR_FAIL(REAL_SSL(SSL_set_bio));
	real_(s, rbio, wbio);
	if (hook_active())
		TRACK(bind_lazily(s); hook_tls_bio_note(s, wbio));
}

HOOK void SSL_set0_rbio(SSL *s, BIO *rbio)
{
	REAL_OR_FAIL(REAL_SSL(SSL_set0_rbio));
	real_(s, rbio);
	if (hook_active())
		TRACK(bind_lazily(s));
}

HOOK void SSL_set0_wbio(SSL *s, BIO *wbio)
{
	REAL_OR_FAIL(REAL_SSL(SSL_set0_wbio));
	real_(s, wbio);
	if (hook_active())
		TRACK(bind_lazily(s); hook_tls_bio_note(s, wbio));
}

static int handshake(SSL *s, int r)
{
	if (r == 1 && hook_active()) {
		int (*reused)(const SSL *) = REAL_SSL(SSL_session_reused);
		TRACK(bind_lazily(s); tls_handshake_done(s, reused ? reused(s) : 0));
	}
	return r;
}

HOOK int SSL_connect(SSL *s)
{
	REAL_OR_FAIL(REAL_SSL(SSL_connect), -1);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s);
	int r = real_(s);
	tls_call_leave(how, -1, NULL, 0);
	return handshake(s, r);
}

HOOK int SSL_accept(SSL *s)
{
	REAL_OR_FAIL(REAL_SSL(SSL_accept), -1);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s);
	int r = real_(s);
	tls_call_leave(how, -1, NULL, 0);
	return handshake(s, r);
}

HOOK int SSL_do_handshake(SSL *s)
{
	REAL_OR_FAIL(REAL_SSL(SSL_do_handshake), -1);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s);
	int r = real_(s);
	tls_call_leave(how, -1, NULL, 0);
	return handshake(s, r);
}

TLS_THIN_HOOK(int, SSL_read, ossl.SSL_read, s,
	      (SSL *s, void *buf, int n), (s, buf, n))
{
	REAL_OR_FAIL(REAL_SSL(SSL_read), -1);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n);
	int r = real_(s, buf, n);
	tls_call_leave(how, 0, buf, r);
	return r;
}

TLS_THIN_HOOK(int, SSL_read_ex, ossl.SSL_read_ex, s,
	      (SSL *s, void *buf, size_t n, size_t *got), (s, buf, n, got))
{
	REAL_OR_FAIL(REAL_SSL(SSL_read_ex), 0);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n, got);
	int r = real_(s, buf, n, got);
	tls_call_leave(how, 0, buf, r == 1 && got ? (long)*got : 0);
	return r;
}

TLS_THIN_HOOK(int, SSL_peek, ossl.SSL_peek, s,
	      (SSL *s, void *buf, int n), (s, buf, n))
{
	REAL_OR_FAIL(REAL_SSL(SSL_peek), -1);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n);
	int r = real_(s, buf, n);
	tls_call_leave(how, -1, NULL, 0);
	return r;
}

TLS_THIN_HOOK(int, SSL_peek_ex, ossl.SSL_peek_ex, s,
	      (SSL *s, void *buf, size_t n, size_t *got), (s, buf, n, got))
{
	REAL_OR_FAIL(REAL_SSL(SSL_peek_ex), 0);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n, got);
	int r = real_(s, buf, n, got);
	tls_call_leave(how, -1, NULL, 0);
	return r;
}

TLS_THIN_HOOK(int, SSL_write, ossl.SSL_write, s,
	      (SSL *s, const void *buf, int n), (s, buf, n))
{
	REAL_OR_FAIL(REAL_SSL(SSL_write), -1);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n);
	int r = real_(s, buf, n);
	tls_call_leave(how, 1, buf, r);
	return r;
}

TLS_THIN_HOOK(int, SSL_write_ex, ossl.SSL_write_ex, s,
	      (SSL *s, const void *buf, size_t n, size_t *done), (s, buf, n, done))
{
	REAL_OR_FAIL(REAL_SSL(SSL_write_ex), 0);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n, done);
	int r = real_(s, buf, n, done);
	tls_call_leave(how, 1, buf, r == 1 && done ? (long)*done : 0);
	return r;
}

HOOK int SSL_shutdown(SSL *s)
{
	REAL_OR_FAIL(REAL_SSL(SSL_shutdown), -1);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s);
	int r = real_(s);
	tls_call_leave(how, -1, NULL, 0);
	return r;
}

/* SSL_set_tlsext_host_name() is a macro over SSL_ctrl. */
HOOK long SSL_ctrl(SSL *s, int cmd, long larg, void *parg)
{
	REAL_OR_FAIL(REAL_SSL(SSL_ctrl), 0);
	long r = real_(s, cmd, larg, parg);
	if (cmd == SSL_CTRL_SET_TLSEXT_HOSTNAME && larg == TLSEXT_NAMETYPE_host_name && r == 1 &&
	    hook_active())
		TRACK(tls_set_host(s, parg));
	return r;
}

#define H(fn) {#fn, (void *)fn, (void **)&ossl.fn}
const struct tls_hook openssl_hooks[] = {
	H(SSL_new),         H(SSL_free),      H(SSL_set_fd),       H(SSL_set_rfd),
	H(SSL_set_wfd),     H(SSL_set_bio),   H(SSL_set0_rbio),    H(SSL_set0_wbio),
	H(SSL_connect),     H(SSL_accept),    H(SSL_do_handshake), H(SSL_read),
	H(SSL_read_ex),     H(SSL_peek),      H(SSL_peek_ex),      H(SSL_write),
	H(SSL_write_ex),    H(SSL_shutdown),  H(SSL_ctrl),         {NULL, NULL, NULL},
};
