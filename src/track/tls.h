/* Logical connections: TLS sessions (an OpenSSL SSL* or a gnutls_session_t) bound to the
 * socket they run over. Finds sessions that outlive their socket (closed-but-referenced)
 * and I/O through them afterwards (stale-fd-use, with crosstalk when the descriptor number
 * now belongs to another socket). */
#ifndef CONNLEAK_TLS_H
#define CONNLEAK_TLS_H

#include <stdint.h>

#include "sock.h"
#include "stacks.h"

enum tls_lib { TLS_NONE, TLS_OPENSSL, TLS_GNUTLS };

struct tls_sess {
	void *key; /* the library's session object */
	int lib;
	struct sock *s; /* bound socket, NULL when unbound or gone */
	int fd;
	uint32_t gen;
	struct sockaddr_storage peer, local;
	socklen_t peer_len, local_len;
	int family, origin;
	char host[256];
	stack_id created, closed;
	uint64_t t_created, t_orphaned; /* t_orphaned: when its socket went, 0 while it lives */
	uint8_t reported;               /* closed-but-referenced already found */
	uint32_t proc;                  /* tls_new's process generation: a forked parent's
					 * session is never the child's finding */
	struct tls_sess *next_in_sock;
	struct tls_sess *prev, *next;   /* live list, or free list */
};

/* Called by the hooks (they take no lock; these do). */
void tls_new(void *key, int lib);
void tls_free(void *key);
void tls_bind(void *key, int fd);
void tls_set_host(void *key, const char *name);
void tls_handshake_done(void *key, int resumed);
/* Whether `key` is bound to a socket (for lazy binding at handshake). */
int tls_is_bound(void *key);
/* Before I/O through a session: a session whose socket is gone is a finding. Returns
 * TLS_USE_STALE when it was, with TLS_USE_HALT when the caller should halt (halt_on_error). */
#define TLS_USE_STALE 1
#define TLS_USE_HALT 2
int tls_use(void *key);
/* What a TLS call needs to know first, in one lookup and without the model lock:
 * TLS_STATE_BOUND as tls_is_bound says, TLS_STATE_ORPHANED when its socket is gone (then
 * tls_use makes the finding). */
#define TLS_STATE_BOUND 1
#define TLS_STATE_ORPHANED 2
int tls_state(void *key);

/* Per thread: the sessions this thread looked up last, with the map's version then (tls.c),
 * and the depth of the hooks' TLS calls (tlscall.c), side by side so a hook finds both from
 * one per-thread address. Eight: an event loop serving a few connections at once (nginx's
 * worker, ab -c 4) calls through each of them in turn. */
#define TLS_RECENT 8
struct tls_recent {
	void *key;
	struct tls_sess *sess;
	/* The map's version (low 32 bits) and, in bit 32, whether a call through it then had
	 * nothing to do: unknown to us, or bound to a live socket and never orphaned, and no
	 * lease framing TLS plaintext (lease.h). */
	uint64_t stamp;
};
#define TLS_STAMP_PLAIN ((uint64_t)1 << 32)
struct tls_thread {
	struct tls_recent recent[TLS_RECENT];
	unsigned next; /* the entry a new session takes, in turn */
	int call_depth;
};
extern __thread struct tls_thread tls_thread __attribute__((tls_model("initial-exec")));
/* Bumped by every change of the session map, of a session's socket (bound, gone) and of
 * lease_framing: a thread's recent lookups, and what they said, hold while it stays the
 * same. */
extern atomic_uint tls_map_version;

/* The hooks' usual question, inline: whether `key` is one of the sessions this thread
 * looked up last, nothing changed since, and a call through it has nothing to do (plain,
 * above). 0 says nothing: ask tls_state. A key is in one entry at most. */
static inline int tls_plainly_bound(void *key)
{
	uint64_t want = TLS_STAMP_PLAIN | atomic_load_explicit(&tls_map_version, memory_order_acquire);
	/* Unrolled: a compare and a branch an entry, the whole walk at fixed addresses. */
#pragma GCC unroll 8
	for (int i = 0; i < TLS_RECENT; i++)
		if (tls_thread.recent[i].key == key)
			return tls_thread.recent[i].stamp == want;
	return 0;
}

/* The socket `key` is bound to when its plaintext is to be framed for a lease (switching
 * the socket from framing its ciphertext), with its record's incarnation; else NULL. */
struct sock *tls_framed_sock(void *key, uint32_t *incarnation);

/* Model side, model lock held. */
void tls_socket_gone(struct sock *s, stack_id closed);
void tls_exit_checks(void);
uint32_t tls_orphaned_count(void);
/* The live sessions (through ->next), for counting by stack. */
const struct tls_sess *tls_live_head(void);
void tls_fork_prepare(void);
void tls_fork_parent(void);
void tls_fork_child(void);
/* In a report helper process: the stripe locks made usable again. */
void tls_locks_reset(void);

#endif
