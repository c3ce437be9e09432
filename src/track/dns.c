/* Resolved names and stale-DNS findings. A bounded table (DNS_NAMES names, oldest dropped
 * first) keyed by name, plus a reverse lookup from address to the latest name. */
#include "dns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../util/hashtable.h"

#include "../util/clock.h"
#include "findings.h"
#include "lease.h"
#include "model.h"

#define DNS_NAMES 1024

struct name_entry {
	UT_hash_handle hh;
	char name[128];
	struct dns_answer answer;
};

struct addr_entry {
	UT_hash_handle hh;
	struct in6_addr key; /* inet addresses as v4-mapped */
	char name[128];
};

static struct name_entry *names;
static struct addr_entry *addrs;
static unsigned nnames, naddrs;

static int addr_key(const struct sockaddr *sa, struct in6_addr *k)
{
	memset(k, 0, sizeof *k);
	if (sa->sa_family == AF_INET) {
		k->s6_addr[10] = k->s6_addr[11] = 0xff;
		memcpy(&k->s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		*k = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		return 0;
	}
	return -1;
}

void dns_answer_add(struct dns_answer *a, const struct sockaddr *sa)
{
	struct in6_addr k, other;
	if (addr_key(sa, &k) != 0)
		return;
	for (int i = 0; i < a->n; i++)
		if (addr_key((const struct sockaddr *)&a->addrs[i], &other) == 0 &&
		    !memcmp(&k, &other, sizeof k))
			return;
	if (a->n >= DNS_ADDRS) {
		a->truncated = 1;
		return;
	}
	struct sockaddr_in6 *slot = &a->addrs[a->n++];
	memset(slot, 0, sizeof *slot);
	memcpy(slot, sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof *slot);
}

static int answer_has(const struct dns_answer *a, const struct sockaddr *sa)
{
	struct in6_addr k, other;
	if (addr_key(sa, &k) != 0)
		return 1;
	for (int i = 0; i < a->n; i++)
		if (addr_key((const struct sockaddr *)&a->addrs[i], &other) == 0 &&
		    !memcmp(&k, &other, sizeof k))
			return 1;
	return 0;
}

static void remember_addr(const struct sockaddr *sa, const char *name)
{
	struct in6_addr k;
	struct addr_entry *e;
	if (addr_key(sa, &k) != 0)
		return;
	HASH_FIND(hh, addrs, &k, sizeof k, e);
	if (!e) {
		if (naddrs >= DNS_NAMES * 4) {
			/* Bounded: drop the oldest. */
			struct addr_entry *old = addrs;
			HASH_DEL(addrs, old);
			free(old);
			naddrs--;
		}
		if (!(e = calloc(1, sizeof *e)))
			return;
		e->key = k;
		HASH_ADD(hh, addrs, key, sizeof e->key, e);
		naddrs++;
	}
	snprintf(e->name, sizeof e->name, "%s", name);
}

static void format_answer(const struct dns_answer *a, struct finding *f)
{
	f->nanswer = 0;
	for (int i = 0; i < a->n && f->nanswer < 8; i++) {
		const struct sockaddr_in6 *s6 = &a->addrs[i];
		const void *src = s6->sin6_family == AF_INET
					  ? (const void *)&((const struct sockaddr_in *)s6)->sin_addr
					  : (const void *)&s6->sin6_addr;
		if (inet_ntop(s6->sin6_family, src, f->addrs[f->nanswer], sizeof f->addrs[0]))
			f->nanswer++;
	}
}

/* Whether the answer holds any address of `family`: a lookup restricted to the other one
 * (AF_INET6 after AF_INET, as happy-eyeballs clients do) says nothing about this peer. */
static int answer_covers(const struct dns_answer *a, const struct sockaddr_storage *peer)
{
	/* A dual-stack socket's IPv4 peer (::ffff:a.b.c.d, what .NET and Java connect with)
	 * is an IPv4 address: an A answer speaks for it. */
	int family = peer->ss_family;
	if (family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)peer)->sin6_addr))
		family = AF_INET;
	for (int i = 0; i < a->n; i++)
		if (a->addrs[i].sin6_family == family)
			return 1;
	return 0;
}

static void check_sock(struct sock *s, const char *name, const struct dns_answer *a,
		       uint64_t now)
{
	if (!s->client || s->stale_dns || strcmp(s->host, name) != 0 || !s->peer_len ||
	    !answer_covers(a, &s->peer) || answer_has(a, (const struct sockaddr *)&s->peer))
		return;
	s->stale_dns = 1;
	lease_dns_changed(s);
	struct finding f;
	memset(&f, 0, sizeof f);
	model_describe(&f, s, s->nfds > 0 ? s->fd : -1, s->gen);
	f.key.kind = CONNLEAK_STALE_DNS;
	f.key.created = s->created;
	snprintf(f.hostname, sizeof f.hostname, "%s", name);
	format_answer(a, &f);
	f.age_ms = now - s->t_created;
	findings_add(&f);
}

static void check_live(const char *name, const struct dns_answer *a)
{
	/* Only sockets connected to a resolved name can be stale: none, no walk. */
	if (a->truncated || sock_named_count() == 0)
		return;
	uint64_t now = clock_coarse_ms();
	/* Both lists: a connection a forked child inherited is still one it may use. */
	for (struct sock *s = sock_live_head(); s; s = sock_next(s))
		check_sock(s, name, a, now);
	for (struct sock *s = sock_inherited_head(); s; s = sock_next(s))
		check_sock(s, name, a, now);
}

void dns_resolved(const char *name, const struct dns_answer *a)
{
	if (!name || !*name || a->n == 0)
		return;
	struct name_entry *e;
	HASH_FIND_STR(names, name, e);
	if (!e) {
		if (nnames >= DNS_NAMES) {
			struct name_entry *old = names;
			HASH_DEL(names, old);
			free(old);
			nnames--;
		}
		if (!(e = calloc(1, sizeof *e)))
			return;
		snprintf(e->name, sizeof e->name, "%s", name);
		HASH_ADD_STR(names, name, e);
		nnames++;
	}
	e->answer = *a;
	for (int i = 0; i < a->n; i++)
		remember_addr((const struct sockaddr *)&a->addrs[i], e->name);
	check_live(e->name, a);
}

const char *dns_name_of(const struct sockaddr *sa)
{
	struct in6_addr k;
	struct addr_entry *e;
	if (addr_key(sa, &k) != 0)
		return NULL;
	HASH_FIND(hh, addrs, &k, sizeof k, e);
	return e ? e->name : NULL;
}

int dns_live_names(char out[][128], int max)
{
	int n = 0;
	if (sock_named_count() == 0)
		return 0;
	struct sock *lists[2] = {sock_live_head(), sock_inherited_head()};
	for (int l = 0; l < 2; l++)
		for (struct sock *s = lists[l]; s && n < max; s = sock_next(s)) {
			if (!s->client || !s->host[0] || s->stale_dns)
				continue;
			int seen = 0;
			for (int i = 0; i < n && !seen; i++)
				seen = !strcmp(out[i], s->host);
			if (!seen)
				snprintf(out[n++], 128, "%s", s->host);
		}
	return n;
}

void dns_clear(void)
{
	struct name_entry *e, *t;
	HASH_ITER(hh, names, e, t) {
		HASH_DEL(names, e);
		free(e);
	}
	struct addr_entry *a, *u;
	HASH_ITER(hh, addrs, a, u) {
		HASH_DEL(addrs, a);
		free(a);
	}
	nnames = naddrs = 0;
}
