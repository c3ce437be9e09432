/* A tracked socket: one open file description, shared by every descriptor that refers to
 * it (dup) in this process. Records come from a pool and are recycled, never freed, so a
 * hook on the I/O path that races a close touches valid memory (at worst a recycled
 * record's counters, which is the program's own race showing). */
#ifndef CONNLEAK_SOCK_H
#define CONNLEAK_SOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http.h"
#include "stacks.h"

enum sock_origin { ORIGIN_SOCKET, ORIGIN_ACCEPT, ORIGIN_SOCKETPAIR, ORIGIN_SCM_RIGHTS, ORIGIN_INHERITED };

/* Request/reply turns as the program's own calls show them. */
enum io_phase { PHASE_IDLE, PHASE_WROTE, PHASE_REPLIED };

struct endpoint;
struct tls_sess;

struct sock {
	/* Identity and ownership: changed only under the model lock. */
	int family, type;
	uint8_t origin;
	uint8_t inherited; /* held by a parent process too: not this process's leak */
	uint8_t forked;    /* a child was forked while this was open without FD_CLOEXEC */
	int fork_child;    /* the last such child (0 when unknown) */
	uint8_t spawned;   /* a program was exec'd (posix_spawn, popen, system) while this was
			    * open without FD_CLOEXEC: spawn.h */
	stack_id spawn_stack;
	char spawn_prog[48];
	/* Written under the lock, read lock-free by the I/O path (io.h): atomic. */
	_Atomic uint8_t client;  /* connect() was called on it: the program speaks first */
	_Atomic uint8_t shut_wr; /* the program called shutdown(SHUT_WR/SHUT_RDWR) */
	_Atomic uint8_t shut_rd; /* the program called shutdown(SHUT_RD/SHUT_RDWR): its EOF is its own */
	uint8_t leased;    /* the lease acted (enforce) or was reported (report) */
	uint8_t stale_dns; /* stale-dns already reported */
	int nfds;          /* descriptors of this process that refer to it */
	int fd;            /* the first descriptor and its generation */
	uint32_t gen;
	int fd_alt;        /* the last descriptor a dup gave it: where fd moves when it closes */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	stack_id created;
	uint64_t t_created;
	struct endpoint *ep;
	char host[128]; /* the name the peer address was resolved from, empty if none */
	struct tls_sess *sessions; /* TLS sessions bound to this socket */

	/* A close() that did not release the connection because a dup still holds it. */
	stack_id shared_close_stack;
	uint64_t t_shared_close;
	int shared_close_fd;
	uint32_t shared_close_gen;
	int shared_close_others;

	/* The I/O path: updated by any thread without the lock. */
	_Atomic uint64_t bytes_in, bytes_out;
	_Atomic uint64_t t_last_io, t_eof;
	_Atomic uint32_t replies;
	_Atomic uint8_t phase;
	_Atomic uint8_t reuse_pending; /* a request went out on a reused connection, no byte back yet */
	_Atomic uint32_t reuse_idle_ms; /* how long it sat idle before that request */
	_Atomic uint8_t tls_handshake;  /* turns after a TLS handshake record that are still
					 * the connection's first request (keepalive.c) */
	_Atomic uint8_t reply_refused;  /* the last reply began with a refusal status line
					 * (keepalive_refusal) */
	struct http_conn http; /* HTTP/1.x framing while a lease is on (track/http.h) */

	/* Order of creation among all sockets, and the creation order current at this
	 * socket's last I/O: a socket idle since a newer one was made was abandoned for
	 * it (atexit.h). */
	uint32_t created_epoch;
	_Atomic uint32_t last_io_epoch;

	/* Bumped each time the record is reused: an I/O call that started on the previous
	 * socket and returns after the record went to a new one must not update it. */
	_Atomic uint32_t incarnation;

	/* sock_proc when the record was made or last brought up to date (sock_here), and
	 * whether it is on the inherited list (a fork moved it there; see sock_fork_child). */
	uint32_t proc;
	uint8_t on_inherited_list;
	/* The shard of the descriptor the record was first made for (SOCK_SHARDS): its live
	 * list and free list, for good. */
	uint8_t shard;

	struct sock *prev, *next; /* live list, or free list through next */
};

/* Bumped (under the model lock) for every socket made; read on the I/O path. */
extern _Atomic uint32_t sock_epoch;

/* Bumped in a forked child. A record made before the fork still holds the parent's view
 * (its own socket, its endpoint, a pending shared close): instead of rewriting every record
 * at fork (a cost that grows with the open sockets), a record is brought up to date the
 * first time the child's model touches it. Under the model lock. */
extern uint32_t sock_proc;
void sock_refresh(struct sock *s);
static inline struct sock *sock_here(struct sock *s)
{
	if (s && __builtin_expect(s->proc != sock_proc, 0))
		sock_refresh(s);
	return s;
}

/* Records are kept per shard of descriptor numbers (the number's low bits), each shard
 * with its own live list and free list, so two threads making or closing sockets on
 * different numbers touch no common list: model.c's per-descriptor section holds only the
 * shard's lock. The model lock (exclusive) covers every shard. */
#ifndef SOCK_SHARDS /* the TSan model test builds with 2: threads share shards often */
#define SOCK_SHARDS 32
#endif
static inline int sock_shard_of(int fd)
{
	return fd & (SOCK_SHARDS - 1);
}

/* Under the model lock, or shard's lock in model.c's per-descriptor section. */
struct sock *sock_new(int shard);
/* Under the model lock, or s->shard's lock for a record on the live list. */
void sock_release(struct sock *s);
/* The live list holds the sockets made (or received) in this process since its last
 * fork, shard after shard; those it inherited from a forked parent are on a list of their
 * own, never walked at fork or exit. Walk either with sock_next. Model lock held. */
struct sock *sock_live_head(void);
struct sock *sock_inherited_head(void);
struct sock *sock_next(const struct sock *s);
/* Live records on both lists (any lock or none: a relaxed atomic), and on the inherited
 * list alone (model lock). */
uint32_t sock_live_count(void);
uint32_t sock_inherited_count(void);
/* In a forked child: every live record becomes inherited, in constant time. */
void sock_fork_child(void);
/* Live sockets whose host is set (a connect to a resolved address): a name lookup checks
 * the live sockets for a stale address only when there are some (track/dns.c). An atomic
 * count: sock_named runs in the per-descriptor section too. */
uint32_t sock_named_count(void);
void sock_named(struct sock *s, int had_host);

#endif
