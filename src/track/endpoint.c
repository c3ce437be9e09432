/* Endpoint statistics table (uthash keyed by role and address). */
#include "endpoint.h"

#include <netinet/in.h>
#include <string.h>

#include "../util/threads.h"

static struct endpoint *table;
/* Records a forked child cleared, for reuse: arena memory is never returned. */
static struct endpoint *spare;
static uint32_t count;
static uint64_t dropped;
/* The endpoints this thread found last, per role: a client connecting again and again to
 * a few servers, or a server accepting on a few addresses, finds them with a compare each
 * instead of a hash lookup, and without the model lock (endpoint_cached). Per thread:
 * threads talking to different endpoints would take turns overwriting shared entries.
 * Valid while `gen` is the table's (endpoint_clear empties the table and recycles its
 * records). */
#define RECENT 4
static __thread struct endpoint *last[2][RECENT] __attribute__((tls_model("initial-exec")));
static __thread unsigned last_next[2] __attribute__((tls_model("initial-exec")));
static __thread uint32_t last_gen __attribute__((tls_model("initial-exec")));
static uint32_t gen = 1;

static int key_of(struct endpoint_key *key, int server, const struct sockaddr *addr,
		  socklen_t len)
{
	memset(key, 0, sizeof *key);
	key->server = (uint8_t)server;
	if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)addr;
		key->port = in->sin_port;
		memcpy(key->addr, &in->sin_addr, 4);
	} else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)addr;
		key->port = in6->sin6_port;
		memcpy(key->addr, &in6->sin6_addr, 16);
	} else {
		return -1;
	}
	if (len > sizeof(struct sockaddr_storage))
		return -1;
	key->family = (uint8_t)addr->sa_family;
	return 0;
}

static inline __attribute__((always_inline)) struct endpoint *
cached(const struct endpoint_key *key)
{
	if (last_gen != gen)
		return NULL;
	struct endpoint **r = last[key->server], *e = r[0];
	/* The first entry alone, inline: a thread that talks to one endpoint. */
	if (e && !memcmp(&e->key, key, sizeof *key))
		return e;
	for (int i = 1; i < RECENT && (e = r[i]); i++)
		if (!memcmp(&e->key, key, sizeof *key))
			return e;
	return NULL;
}

/* e was found in the table: it replaces this thread's oldest entry of its role. */
static struct endpoint *remember(struct endpoint *e)
{
	if (last_gen != gen) {
		memset(last, 0, sizeof last);
		last_next[0] = last_next[1] = 0;
		last_gen = gen;
	}
	int role = e->key.server;
	last[role][last_next[role]++ % RECENT] = e;
	return e;
}

struct endpoint *endpoint_cached(int server, const struct sockaddr *addr, socklen_t len)
{
	struct endpoint_key key;
	return key_of(&key, server, addr, len) ? NULL : cached(&key);
}

struct endpoint *endpoint_get(int server, const struct sockaddr *addr, socklen_t len)
{
	struct endpoint_key key;
	if (key_of(&key, server, addr, len))
		return NULL;
	struct endpoint *e = cached(&key);
	if (e)
		return e;
	HASH_FIND(hh, table, &key, sizeof key, e);
	if (e)
		return remember(e);
	if (count >= ENDPOINT_MAX) {
		dropped++;
		return NULL;
	}
	if (spare) {
		e = spare;
		spare = spare->hh.next;
		memset(e, 0, sizeof *e);
	} else if (!(e = arena_alloc(sizeof *e))) {
		return NULL;
	}
	e->key = key;
	memcpy(&e->addr, addr, len);
	e->addr_len = len;
	HASH_ADD(hh, table, key, sizeof e->key, e);
	count++;
	return remember(e);
}

/* Raises *p to v (relaxed): counters the per-descriptor section updates beside others.
 * Endpoints are shared by threads: atomic while there are several (util/threads.h). */
static void raise_to(uint64_t *p, uint64_t v)
{
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
	if (!threads_many()) {
		if (v > cur)
			__atomic_store_n(p, v, __ATOMIC_RELAXED);
		return;
	}
	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void endpoint_opened(struct endpoint *e)
{
	COUNT_ADD(&e->connections, 1);
	uint64_t open;
	if (threads_many()) {
		open = __atomic_add_fetch(&e->open, 1, __ATOMIC_RELAXED);
	} else {
		open = __atomic_load_n(&e->open, __ATOMIC_RELAXED) + 1;
		__atomic_store_n(&e->open, open, __ATOMIC_RELAXED);
	}
	raise_to(&e->peak, open);
}

/* Four buckets per power of two: bucket upper bounds grow by about 19% each. */
static int bucket_of(uint64_t ms)
{
	if (ms < 4)
		return (int)ms;
	int log2 = 63 - __builtin_clzll(ms);
	int sub = (int)((ms >> (log2 - 2)) & 3);
	int b = 4 + (log2 - 2) * 4 + sub;
	return b < LIFETIME_BUCKETS ? b : LIFETIME_BUCKETS - 1;
}

static uint64_t bucket_upper(int b)
{
	if (b < 4)
		return (uint64_t)b;
	int log2 = (b - 4) / 4 + 2, sub = (b - 4) % 4;
	return ((uint64_t)(4 + sub + 1) << (log2 - 2)) - 1;
}

void endpoint_closed(struct endpoint *e, uint64_t lifetime_ms, uint64_t in, uint64_t out,
		     uint32_t requests)
{
	uint64_t open = __atomic_load_n(&e->open, __ATOMIC_RELAXED);
	if (!threads_many()) {
		if (open)
			__atomic_store_n(&e->open, open - 1, __ATOMIC_RELAXED);
	} else {
		while (open && !__atomic_compare_exchange_n(&e->open, &open, open - 1, 1,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
	COUNT_ADD(&e->bytes_in, in);
	COUNT_ADD(&e->bytes_out, out);
	COUNT_ADD(&e->requests, requests);
	COUNT_ADD(&e->lifetime[bucket_of(lifetime_ms)], 1);
	raise_to(&e->lifetime_max_ms, lifetime_ms);
}

uint64_t endpoint_lifetime_quantile(const struct endpoint *e, double q)
{
	uint64_t n = 0;
	for (int i = 0; i < LIFETIME_BUCKETS; i++)
		n += e->lifetime[i];
	if (!n)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)n + 0.5);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < LIFETIME_BUCKETS; i++) {
		seen += e->lifetime[i];
		if (seen >= rank) {
			/* The last bucket is open-ended: its only honest bound is the maximum. */
			if (i == LIFETIME_BUCKETS - 1)
				return e->lifetime_max_ms;
			uint64_t up = bucket_upper(i);
			return up < e->lifetime_max_ms ? up : e->lifetime_max_ms;
		}
	}
	return e->lifetime_max_ms;
}

void endpoint_each(void (*fn)(const struct endpoint *e, void *ctx), void *ctx)
{
	for (struct endpoint *e = table; e; e = e->hh.next)
		fn(e, ctx);
}

uint64_t endpoint_dropped(void)
{
	return dropped;
}

void endpoint_clear(void)
{
	struct endpoint *e, *tmp;
	HASH_ITER(hh, table, e, tmp) {
		HASH_DEL(table, e);
		e->hh.next = spare;
		spare = e;
	}
	count = 0;
	dropped = 0;
	gen++;
}
