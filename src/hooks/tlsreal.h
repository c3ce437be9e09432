/* Real TLS library functions, found lazily: connleak never links or loads libssl or
 * libgnutls. A program linked against them reaches them through RTLD_NEXT; a program that
 * dlopen()s them and calls through dlsym() pointers (the .NET runtime does) hands us the
 * real pointers through the dlsym hook (dl.c), which returns our hooks instead. */
#ifndef CONNLEAK_TLSREAL_H
#define CONNLEAK_TLSREAL_H

#include <stddef.h>

struct tls_hook {
	const char *name;
	void *hook;  /* our exported function */
	void **real; /* where its real counterpart is kept */
};

/* NULL-terminated tables of the hooked names, one per library. */
extern const struct tls_hook openssl_hooks[];
extern const struct tls_hook gnutls_hooks[];
/* BIO_read (openssl_bio.c): memory-BIO sessions bound by their ciphertext. */
extern const struct tls_hook openssl_bio_hooks[];
/* After SSL_set_bio/SSL_set0_wbio: an unbound session's write BIO is remembered. */
void hook_tls_bio_note(void *session, void *wbio);

/* The real function behind `name`: the stored pointer, else RTLD_NEXT, else the symbol as
 * the module that called us (`caller`) or the library holding `anchor` (a real pointer we
 * already have) sees it. */
void *tls_real(void **slot, const char *name, void *anchor, const void *caller);
/* The same, with the stored pointer read here: what every call after the first takes. */
#define TLS_REAL(slot, name, anchor, caller) \
	(__builtin_expect(*(slot) != NULL, 1) ? *(slot) : tls_real(slot, name, anchor, caller))

/* Around the real call of a TLS function that uses a session (tlscall.c): enter returns 0
 * for a call libssl makes from inside another (just pass it through); leave only after a
 * call that entered. */
int tls_call_enter(void *session);
void tls_call_leave(void);
/* Between the two, after a read (out = 0) or write (out = 1) that moved r plaintext bytes:
 * the HTTP framing of the session's socket, while a lease is on (track/http.h). */
void tls_call_data_framed(int out, const void *buf, long r);
/* The socket whose plaintext this call frames, when a lease frames one (tlscall.c). */
struct sock;
extern __thread struct sock *tls_call_framed __attribute__((tls_model("initial-exec")));
static inline void tls_call_data(int out, const void *buf, long r)
{
	if (__builtin_expect(tls_call_framed != NULL, 0))
		tls_call_data_framed(out, buf, r);
}

/* A hook's real function, into `real_`. Without one in the process (our exported name was
 * reached anyway: a weak reference, a pointer kept from before), the hook fails the way the
 * library reports failure (the value after the expression; nothing for void) instead of
 * calling through NULL. */
#define REAL_OR_FAIL(fn, ...)            \
	__typeof__(fn) real_ = (fn);     \
	if (!real_)                      \
		return __VA_ARGS__

/* The real dlsym, for looking up symbols in a library handle. */
void *real_dlsym(void *handle, const char *name);

#endif
