/* Classification of the sockets still open at exit (see atexit.h). */
#include "atexit.h"

#include <netinet/tcp.h>
#include <string.h>

#include "../util/hashtable.h"

/* One (call site, peer) group and the newest socket made in it. */
struct pool {
	UT_hash_handle hh;
	struct pool_key {
		stack_id created;
		socklen_t len;
		struct sockaddr_storage peer;
	} key;
	uint32_t newest; /* created_epoch */
	uint32_t members;
};

static struct pool *pools;
/* One entry per live socket at most, from mmap: exit checks may run from a hook (_exit)
 * that interrupted malloc. */
static struct pool *pool_mem;
static size_t pool_cap, pool_used;

static void key_of(const struct sock *s, struct pool_key *k)
{
	memset(k, 0, sizeof *k);
	k->created = s->created;
	k->len = s->peer_len <= sizeof k->peer ? s->peer_len : 0;
	memcpy(&k->peer, &s->peer, k->len);
}

void atexit_begin(void)
{
	/* The sockets this process made: those a forked child inherited are the parent's. */
	pool_cap = sock_live_count() - sock_inherited_count();
	pool_used = 0;
	pool_mem = pool_cap ? arena_map(pool_cap * sizeof *pool_mem) : NULL;
	for (struct sock *s = sock_live_head(); s; s = sock_next(s)) {
		if (s->nfds <= 0 || !s->peer_len || !s->created)
			continue;
		struct pool_key k;
		key_of(s, &k);
		struct pool *p;
		HASH_FIND(hh, pools, &k, sizeof k, p);
		if (!p) {
			if (!pool_mem || pool_used >= pool_cap)
				continue; /* then nothing looks abandoned: leaks may pass as held */
			p = &pool_mem[pool_used++];
			p->key = k;
			HASH_ADD(hh, pools, key, sizeof k, p);
		}
		if (s->created_epoch > p->newest)
			p->newest = s->created_epoch;
		p->members++;
	}
}

void atexit_end(void)
{
	HASH_CLEAR(hh, pools);
	if (pool_mem)
		arena_unmap(pool_mem, pool_cap * sizeof *pool_mem);
	pool_mem = NULL;
	pool_cap = pool_used = 0;
}

static const struct pool *pool_of(const struct sock *s)
{
	struct pool_key k;
	key_of(s, &k);
	struct pool *p;
	HASH_FIND(hh, pools, &k, sizeof k, p);
	return p;
}

/* Idle since a newer socket was made from the same call site to the same peer. */
static int abandoned(const struct sock *s, const struct pool *p)
{
	return p && p->newest > atomic_load(&s->last_io_epoch);
}

/* The last turn finished: a client's request got its reply, a server's reply went out. */
static int exchange_complete(const struct sock *s)
{
	uint8_t ph = atomic_load(&s->phase);
	return s->client ? ph == PHASE_REPLIED : ph == PHASE_WROTE;
}

enum atexit_class atexit_classify(const struct sock *s, int tcp_state)
{
	int stream = s->type == SOCK_STREAM || s->type == SOCK_SEQPACKET;
	if (!stream && !s->peer_len)
		return AX_NOT_CONNECTION;
	if (!s->peer_len || atomic_load(&s->bytes_in) + atomic_load(&s->bytes_out) == 0)
		return AX_LEAKED; /* never used */
	if (atomic_load(&s->t_eof) || (tcp_state >= 0 && tcp_state != TCP_ESTABLISHED))
		return AX_LEAKED; /* the peer is gone (CLOSE_WAIT) or going */
	const struct pool *p = pool_of(s);
	if (abandoned(s, p))
		return AX_LEAKED;
	/* Left in the middle of an exchange: a leak, unless it is one of a pool of
	 * connections to that peer in use up to the exit (wrk's when its run ends). */
	if (!exchange_complete(s) && !(p && p->members >= 2))
		return AX_LEAKED;
	return AX_OPEN_AT_EXIT;
}
