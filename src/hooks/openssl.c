/* OpenSSL (1.1 and 3) hooks: session creation and release, binding to a descriptor, the
 * handshake, SNI, and the I/O calls that must not run on a session whose socket is gone.
 * The types are opaque here: no OpenSSL header, no link against libssl. */
#include <stdint.h>

#include "../track/tls.h"
#include "hook.h"
#include "tlsreal.h"

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
	((__typeof__(ossl.fn))tls_real((void **)&ossl.fn, #fn, (void *)ossl.SSL_new, \
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
	SSL *s = REAL_SSL(SSL_new)(ctx);
	if (s && hook_active())
		TRACK(tls_new(s, TLS_OPENSSL));
	return s;
}

HOOK void SSL_free(SSL *s)
{
	if (s && hook_active())
		TRACK(tls_free(s));
	REAL_SSL(SSL_free)(s);
}

static int bound(SSL *s, int fd, int r)
{
	if (r == 1 && hook_active())
		TRACK(tls_bind(s, fd));
	return r;
}

HOOK int SSL_set_fd(SSL *s, int fd)
{
	return bound(s, fd, REAL_SSL(SSL_set_fd)(s, fd));
}

HOOK int SSL_set_rfd(SSL *s, int fd)
{
	return bound(s, fd, REAL_SSL(SSL_set_rfd)(s, fd));
}

HOOK int SSL_set_wfd(SSL *s, int fd)
{
	return bound(s, fd, REAL_SSL(SSL_set_wfd)(s, fd));
}

HOOK void SSL_set_bio(SSL *s, BIO *rbio, BIO *wbio)
{
	REAL_SSL(SSL_set_bio)(s, rbio, wbio);
	if (hook_active())
		TRACK(bind_lazily(s));
}

HOOK void SSL_set0_rbio(SSL *s, BIO *rbio)
{
	REAL_SSL(SSL_set0_rbio)(s, rbio);
	if (hook_active())
		TRACK(bind_lazily(s));
}

HOOK void SSL_set0_wbio(SSL *s, BIO *wbio)
{
	REAL_SSL(SSL_set0_wbio)(s, wbio);
	if (hook_active())
		TRACK(bind_lazily(s));
}

static int handshake(SSL *s, int r)
{
	hook_tls_unbound = NULL;
	hook_tls_stale = 0;
	if (r == 1 && hook_active()) {
		int (*reused)(const SSL *) = REAL_SSL(SSL_session_reused);
		TRACK(bind_lazily(s); tls_handshake_done(s, reused ? reused(s) : 0));
	}
	return r;
}

/* libssl calls its own exported functions (SSL_connect calls SSL_do_handshake): only the
 * program's outermost call is checked and counted. */
static __thread int nested __attribute__((tls_model("initial-exec")));

__thread void *hook_tls_unbound __attribute__((tls_model("initial-exec")));
__thread int hook_tls_stale __attribute__((tls_model("initial-exec")));

void hook_bind_unbound(int fd)
{
	void *s = hook_tls_unbound;
	hook_tls_unbound = NULL;
	TRACK(tls_bind(s, fd));
}

/* Before a call that moves bytes through the session: a session whose socket is gone is a
 * finding; one not bound yet is bound by the first socket I/O of the call. */
static void before_use(SSL *s)
{
	if (hook_active()) {
		int use = 0, bound = 1;
		TRACK(use = tls_use(s); bound = tls_is_bound(s));
		if (use & TLS_USE_HALT)
			hook_halt();
		/* The descriptor calls this makes are the same stale use: one finding. */
		hook_tls_stale = use & TLS_USE_STALE;
		if (!bound)
			hook_tls_unbound = s;
	}
}

/* After it: no binding carries over to the next call. */
static inline int after_use(int r)
{
	hook_tls_unbound = NULL;
	hook_tls_stale = 0;
	return r;
}

HOOK int SSL_connect(SSL *s)
{
	if (nested)
		return REAL_SSL(SSL_connect)(s);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_connect)(s);
	nested--;
	return handshake(s, r);
}

HOOK int SSL_accept(SSL *s)
{
	if (nested)
		return REAL_SSL(SSL_accept)(s);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_accept)(s);
	nested--;
	return handshake(s, r);
}

HOOK int SSL_do_handshake(SSL *s)
{
	if (nested)
		return REAL_SSL(SSL_do_handshake)(s);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_do_handshake)(s);
	nested--;
	return handshake(s, r);
}

HOOK int SSL_read(SSL *s, void *buf, int n)
{
	if (nested)
		return REAL_SSL(SSL_read)(s, buf, n);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_read)(s, buf, n);
	nested--;
	return after_use(r);
}

HOOK int SSL_read_ex(SSL *s, void *buf, size_t n, size_t *got)
{
	if (nested)
		return REAL_SSL(SSL_read_ex)(s, buf, n, got);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_read_ex)(s, buf, n, got);
	nested--;
	return after_use(r);
}

HOOK int SSL_peek(SSL *s, void *buf, int n)
{
	if (nested)
		return REAL_SSL(SSL_peek)(s, buf, n);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_peek)(s, buf, n);
	nested--;
	return after_use(r);
}

HOOK int SSL_peek_ex(SSL *s, void *buf, size_t n, size_t *got)
{
	if (nested)
		return REAL_SSL(SSL_peek_ex)(s, buf, n, got);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_peek_ex)(s, buf, n, got);
	nested--;
	return after_use(r);
}

HOOK int SSL_write(SSL *s, const void *buf, int n)
{
	if (nested)
		return REAL_SSL(SSL_write)(s, buf, n);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_write)(s, buf, n);
	nested--;
	return after_use(r);
}

HOOK int SSL_write_ex(SSL *s, const void *buf, size_t n, size_t *done)
{
	if (nested)
		return REAL_SSL(SSL_write_ex)(s, buf, n, done);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_write_ex)(s, buf, n, done);
	nested--;
	return after_use(r);
}

HOOK int SSL_shutdown(SSL *s)
{
	if (nested)
		return REAL_SSL(SSL_shutdown)(s);
	nested++;
	before_use(s);
	int r = REAL_SSL(SSL_shutdown)(s);
	nested--;
	return after_use(r);
}

/* SSL_set_tlsext_host_name() is a macro over SSL_ctrl. */
HOOK long SSL_ctrl(SSL *s, int cmd, long larg, void *parg)
{
	long r = REAL_SSL(SSL_ctrl)(s, cmd, larg, parg);
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
