/* The findings of this process, grouped by kind and stacks: a group keeps a count and the
 * details of its first instance, so memory is bounded by distinct stacks. */
#ifndef CONNLEAK_FINDINGS_H
#define CONNLEAK_FINDINGS_H

#include <stdint.h>
#include <sys/socket.h>
#include "../util/hashtable.h"

#include "../../include/connleak/connleak.h"
#include "stacks.h"

#define EXHAUST_GROUPS 16

struct finding_key {
	int kind;
	stack_id created, closed, previous_close, used;
};

struct finding {
	UT_hash_handle hh;
	struct finding_key key;
	uint64_t count;
	uint64_t seq;  /* order of first occurrence */
	uint64_t t_ms; /* when the first instance was found, ms since start */

	int fd;
	uint32_t gen;
	int family, type, origin;
	struct sockaddr_storage local, peer;
	socklen_t local_len, peer_len;
	int tcp_state; /* -1 = unknown or not TCP */
	uint64_t age_ms, idle_ms;

	/* Kind-specific details. */
	uint64_t held_after_eof_ms; /* close-wait */
	int other_fds, forked;      /* shared-close */
	int exec_pid;               /* shared-close: the exec'd program holding the socket */
	char exec_prog[64];
	stack_id spawned;           /* ... and the stack that started it */
	uint32_t replies;           /* keepalive-race */
	const char *answer;         /* keepalive-race: "eof", "ECONNRESET", "EPIPE" */
	uint64_t idle_before_ms;    /* keepalive-race: idle before the request */
	int err;                    /* fd-exhaustion */
	uint32_t open_sockets;
	/* closed-but-referenced, stale-fd-use */
	char hostname[256];         /* SNI name, empty when unknown */
	int tls_lib;                /* 0 none, 1 openssl, 2 gnutls */
	uintptr_t tls_session;
	uint64_t dangling_ms;
	int crosstalk;
	struct sockaddr_storage now_peer;
	socklen_t now_peer_len;
	/* stale-dns: the current answer; lease-expired: the lease */
	int nanswer;
	char addrs[8][48];
	uint64_t lease_ms;
	/* socket-growth: the trend of one creation stack (growth.h) */
	int growth_sessions; /* 1: orphaned TLS sessions grow, 0: open sockets */
	uint32_t growth_from, growth_to, growth_close_wait;
	uint64_t growth_since_ms, growth_window_ms;
	double growth_rate; /* per minute */
	int growth_never_released;
	int ngroups;
	struct {
		stack_id stack;
		uint32_t count;
	} groups[EXHAUST_GROUPS];
};

/* Adds one instance: a new group, or count+1 on the group with the same key. */
void findings_add(const struct finding *f);
/* The group with this key, to update a finding that describes a trend; NULL if none. */
struct finding *findings_find(const struct finding_key *k);
uint64_t findings_total(void);
uint64_t findings_of_kind(int kind);

/* Visits the groups in order of first occurrence. */
void findings_each(void (*fn)(const struct finding *f, void *ctx), void *ctx);

void findings_clear(void);

#endif
