/* Real TLS library functions, found lazily: connleak never links or loads libssl or
 * libgnutls. A program linked against them reaches them through RTLD_NEXT; a program that
 * dlopen()s them and calls through dlsym() pointers (the .NET runtime does) hands us the
 * real pointers through the dlsym hook (dl.c), which returns our hooks instead. */
#ifndef CONNLEAK_TLSREAL_H
#define CONNLEAK_TLSREAL_H

#include <stddef.h>

#include "../track/tls.h"
#include "hook.h"

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

/* Around the real call of a TLS function that uses a session (tlscall.c). Enter returns 0
 * when the hook should just pass the call through: a call libssl makes from inside another
 * (SSL_connect calls SSL_do_handshake), or connleak not active on this thread. Otherwise
 * leave follows the real call, with what the call is and the plaintext bytes it moved
 * (r > 0; out: 1 write, 0 read, -1 neither), for the HTTP framing of a lease.
 *
 * A call on a session bound to a live socket (or one we do not know) with no lease framing
 * its plaintext has nothing to do before or after the real call: the inline part here
 * answers it from the thread's recent sessions (tls.h) with no errno saved, no busy mark,
 * no lock. Everything else (an unbound session, a session whose socket is gone, framing)
 * goes to the slow halves, which set the per-thread marks the socket hooks read (hook.h)
 * and clear them when the call ends. */
#define TLS_CALL_PLAIN 1
#define TLS_CALL_MARKED 2
int tls_call_enter_slow(void *session);
void tls_call_leave_slow(int out, const void *buf, long r);

static inline int tls_call_enter(void *session)
{
	if (!__builtin_expect(hook_enabled, 1))
		return 0;
	struct tls_thread *th = &tls_thread;
	if (th->call_depth)
		return 0;
	/* hook_active(), with one test for both per-thread marks. Inactive here stays
	 * inactive for the calls libssl makes inside this one: they pass through as well. */
	if (__builtin_expect(hook_busy | hook_vfork, 0) && (hook_busy || hook_in_vfork_child()))
		return 0;
	th->call_depth = 1;
	if (__builtin_expect(!tls_plainly_bound(session), 0))
		return tls_call_enter_slow(session);
	return TLS_CALL_PLAIN;
}

static inline void tls_call_leave(int how, int out, const void *buf, long r)
{
	if (__builtin_expect(how == TLS_CALL_MARKED, 0))
		tls_call_leave_slow(out, buf, r);
	else
		tls_thread.call_depth = 0;
}

/* Whether connleak is off for the whole process (CONNLEAK unset): set by the constructor
 * (tls_entry_off, hook.h), and never otherwise. */
extern int tls_process_off;
#define TLS_PROCESS_OFF() (tls_process_off != 0)

/* The exported hook of a data call (read, write, peek: what a program makes for every
 * record) is one jump through `name##_entry`, as the read/write hooks are (io.c):
 * - to `name##_on` (the body after the macro, which does the call with tls_call_enter/
 *   leave) until the real function is known; `name##_on` then points the entry at
 * - the real function itself when connleak is off for the whole process, or else at
 * - `name##_plain`: on a session among the thread's two recent ones with nothing to do
 *   (tls.h: bound to a live socket, no lease framing), a tail call to the real function
 *   after a few loads and compares: no frame, no errno saved, no busy mark, and the
 *   thread's call depth not set; any other session goes on to `name##_on`.
 * Each step is a tail call: `name##_on`'s return address is still the program's, for
 * TLS_REAL. `name##_plain` needs no look at hook_enabled, the busy and vfork marks or the
 * call depth: each of those makes tls_call_enter return 0, and then the body passes the
 * call straight through too. (A signal handler that interrupts this thread while it
 * writes its recent sessions interrupts connleak, busy or inside a TLS call: whatever
 * half-written entry it reads, its call passes through.) With the depth not set, a data
 * call libssl made from inside such a call would be looked at itself, and be as plain
 * (unless the socket was closed meanwhile: then it finds that stale use); none of
 * OpenSSL's or GnuTLS's data calls makes another call we hook. */
#define TLS_THIN_HOOK(ret, name, slot, session, params, args)                   \
	static inline __attribute__((always_inline)) ret name##_body params;    \
	static __attribute__((noinline)) ret name##_on params;                  \
	static __typeof__(slot) name##_entry = name##_on;                       \
	static TAIL_FN ret name##_plain params                                  \
	{                                                                       \
		if (__builtin_expect(tls_plainly_bound(session), 1))            \
			TAIL_RETURN(slot) args;                                 \
		TAIL_RETURN name##_on args;                                     \
	}                                                                       \
	static __attribute__((noinline)) ret name##_on params                   \
	{                                                                       \
		__typeof__(slot) real_ = (slot);                                \
		if (real_) {                                                    \
			__typeof__(slot) to = !hook_enabled && TLS_PROCESS_OFF() \
						      ? real_                   \
						      : name##_plain;           \
			if (name##_entry != to)                                 \
				name##_entry = to;                              \
		}                                                               \
		return name##_body args;                                        \
	}                                                                       \
	HOOK TAIL_FN ret name params                                            \
	{                                                                       \
		TAIL_RETURN name##_entry args;                                  \
	}                                                                       \
	static inline __attribute__((always_inline)) ret name##_body params

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
