/* GnuTLS hooks: the same session model as OpenSSL's for gnutls_session_t. Opaque types,
 * no GnuTLS header, no link against libgnutls. */
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
#include "hook.h"
#include "tlsreal.h"
#pragma GCC visibility pop

typedef struct gnutls_session_int *gnutls_session_t;

#define GNUTLS_NAME_DNS 1
#define GNUTLS_E_INTERNAL_ERROR (-59)

static struct {
	int (*gnutls_init)(gnutls_session_t *, unsigned);
	void (*gnutls_deinit)(gnutls_session_t);
	void (*gnutls_transport_set_int2)(gnutls_session_t, int, int);
	void (*gnutls_transport_set_ptr)(gnutls_session_t, void *);
	void (*gnutls_transport_set_ptr2)(gnutls_session_t, void *, void *);
	int (*gnutls_handshake)(gnutls_session_t);
	ssize_t (*gnutls_record_send)(gnutls_session_t, const void *, size_t);
	ssize_t (*gnutls_record_recv)(gnutls_session_t, void *, size_t);
	int (*gnutls_bye)(gnutls_session_t, int);
	int (*gnutls_server_name_set)(gnutls_session_t, int, const void *, size_t);
	int (*gnutls_session_is_resumed)(gnutls_session_t);
} gtls;

#define REAL_GNUTLS(fn) \
	((__typeof__(gtls.fn))TLS_REAL((void **)&gtls.fn, #fn, (void *)gtls.gnutls_init, \
				       __builtin_return_address(0)))

HOOK int gnutls_init(gnutls_session_t *s, unsigned flags)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_init), GNUTLS_E_INTERNAL_ERROR);
	int r = real_(s, flags);
	if (r == 0 && hook_active())
		TRACK(tls_new(*s, TLS_GNUTLS));
	return r;
}

HOOK void gnutls_deinit(gnutls_session_t s)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_deinit));
	if (s && hook_active())
		TRACK(tls_free(s));
	real_(s);
}

HOOK void gnutls_transport_set_int2(gnutls_session_t s, int recv_fd, int send_fd)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_transport_set_int2));
	real_(s, recv_fd, send_fd);
	(void)send_fd;
	if (hook_active())
		TRACK(tls_bind(s, recv_fd));
}

/* A transport pointer is often a descriptor cast to a pointer; tls_bind ignores numbers
 * that are not sockets we follow. */
static void bind_ptr(gnutls_session_t s, void *p)
{
	intptr_t fd = (intptr_t)p;
	if (fd >= 0 && fd < (1 << 20) && hook_active())
		TRACK(tls_bind(s, (int)fd));
}

HOOK void gnutls_transport_set_ptr(gnutls_session_t s, void *p)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_transport_set_ptr));
	real_(s, p);
	bind_ptr(s, p);
}

HOOK void gnutls_transport_set_ptr2(gnutls_session_t s, void *recv_p, void *send_p)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_transport_set_ptr2));
	real_(s, recv_p, send_p);
	bind_ptr(s, recv_p);
}

HOOK int gnutls_handshake(gnutls_session_t s)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_handshake), GNUTLS_E_INTERNAL_ERROR);
	int how_ = tls_call_enter(s);
	if (!how_)
		return real_(s);
	int r = real_(s);
	tls_call_leave(how_, -1, NULL, 0);
	if (r == 0 && hook_active()) {
		int (*resumed)(gnutls_session_t) = REAL_GNUTLS(gnutls_session_is_resumed);
		TRACK(tls_handshake_done(s, resumed ? resumed(s) : 0));
	}
	return r;
}

TLS_THIN_HOOK(ssize_t, gnutls_record_send, gtls.gnutls_record_send, s,
	      (gnutls_session_t s, const void *buf, size_t n), (s, buf, n))
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_record_send), GNUTLS_E_INTERNAL_ERROR);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n);
	ssize_t r = real_(s, buf, n);
	tls_call_leave(how, 1, buf, r);
	return r;
}

TLS_THIN_HOOK(ssize_t, gnutls_record_recv, gtls.gnutls_record_recv, s,
	      (gnutls_session_t s, void *buf, size_t n), (s, buf, n))
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_record_recv), GNUTLS_E_INTERNAL_ERROR);
	int how = tls_call_enter(s);
	if (!how)
		return real_(s, buf, n);
	ssize_t r = real_(s, buf, n);
	tls_call_leave(how, 0, buf, r);
	return r;
}

HOOK int gnutls_bye(gnutls_session_t s, int how)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_bye), GNUTLS_E_INTERNAL_ERROR);
	int how_ = tls_call_enter(s);
	if (!how_)
		return real_(s, how);
	ssize_t r = real_(s, how);
	tls_call_leave(how_, -1, NULL, 0);
	return r;
}

HOOK int gnutls_server_name_set(gnutls_session_t s, int type, const void *name, size_t len)
{
	REAL_OR_FAIL(REAL_GNUTLS(gnutls_server_name_set), GNUTLS_E_INTERNAL_ERROR);
	int r = real_(s, type, name, len);
	if (r == 0 && type == GNUTLS_NAME_DNS && name && hook_active()) {
		char host[256];
		size_t n = len < sizeof host - 1 ? len : sizeof host - 1;
		__builtin_memcpy(host, name, n);
		host[n] = '\0';
		TRACK(tls_set_host(s, host));
	}
	return r;
}

#define H(fn) {#fn, (void *)fn, (void **)&gtls.fn}
const struct tls_hook gnutls_hooks[] = {
	H(gnutls_init),        H(gnutls_deinit),          H(gnutls_transport_set_int2),
	H(gnutls_transport_set_ptr), H(gnutls_transport_set_ptr2), H(gnutls_handshake),
	H(gnutls_record_send), H(gnutls_record_recv),     H(gnutls_bye),
	H(gnutls_server_name_set), {NULL, NULL, NULL},
};
