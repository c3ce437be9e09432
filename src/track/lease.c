/* Lease enforcement. The connection is shut with shutdown(SHUT_RD), never close(): the
 * program keeps its descriptor, its next read gives EOF and poll says readable, which is
 * what a server closing an idle keep-alive connection looks like, and pooling clients
 * already handle by reconnecting (resolving the name again). SHUT_RD rather than SHUT_WR:
 * a write racing the shutdown still goes out, so it raises no SIGPIPE that a server's
 * close would not have raised. Only idle connections are shut: the last completed
 * operation was a read that answered a request, nothing was written since, no unread
 * data waits, and the connection has been quiet for a while. */
#include "lease.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../util/clock.h"
#include "../util/real.h"
#include "endpoint.h"
#include "findings.h"
#include "model.h"

#define LEASE_PEERS 32

static struct {
	char host[128];
	unsigned port;
} peers[LEASE_PEERS];
static int npeers;

void lease_configure(const char *spec)
{
	npeers = 0;
	while (spec && *spec && npeers < LEASE_PEERS) {
		const char *end = strchr(spec, ',');
		size_t len = end ? (size_t)(end - spec) : strlen(spec);
		const char *colon = memrchr(spec, ':', len);
		if (colon && colon > spec) {
			size_t hl = (size_t)(colon - spec);
			if (hl >= sizeof peers[0].host)
				hl = sizeof peers[0].host - 1;
			memcpy(peers[npeers].host, spec, hl);
			peers[npeers].host[hl] = '\0';
			peers[npeers].port = (unsigned)strtoul(colon + 1, NULL, 10);
			npeers++;
		}
		spec = end ? end + 1 : NULL;
	}
}

static int peer_matches(const struct sock *s)
{
	if (!npeers)
		return 1;
	char ip[INET6_ADDRSTRLEN] = "";
	unsigned port = 0;
	if (s->peer.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&s->peer;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		port = ntohs(in->sin_port);
	} else if (s->peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&s->peer;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		port = ntohs(in6->sin6_port);
	}
	for (int i = 0; i < npeers; i++)
		if (peers[i].port == port &&
		    (!strcmp(peers[i].host, ip) || (s->host[0] && !strcmp(peers[i].host, s->host))))
			return 1;
	return 0;
}

/* A response still arriving looks idle between two reads (the program waits in poll), so
 * the connection must also have been quiet for a while: a third of the lease, at least
 * 50 ms and at most a second. */
static uint64_t quiet_ms(void)
{
	uint64_t q = model_opt->lease_ms / 3;
	return q < 50 ? 50 : q > 1000 ? 1000 : q;
}

static int idle(const struct sock *s)
{
	if (atomic_load(&s->phase) != PHASE_REPLIED || atomic_load(&s->reuse_pending) ||
	    atomic_load(&s->t_eof) || clock_coarse_ms() - atomic_load(&s->t_last_io) < quiet_ms())
		return 0;
	int unread = 0;
	return ioctl(s->fd, FIONREAD, &unread) == 0 && unread == 0;
}

static void enforce(struct sock *s, uint64_t age)
{
	if (!idle(s) || real.shutdown(s->fd, SHUT_RD) != 0)
		return;
	s->leased = 1;
	model_state.stats.leases_enforced++;
	if (s->ep)
		s->ep->leases_enforced++;
	struct model_event *e = model_add_event("lease", 0);
	if (e) {
		e->fd = s->fd;
		e->age_ms = age;
		e->peer = s->peer;
		e->peer_len = s->peer_len;
		snprintf(e->host, sizeof e->host, "%s", s->host);
	}
}

static void expired(struct sock *s)
{
	s->leased = 1;
	struct finding f;
	memset(&f, 0, sizeof f);
	model_describe(&f, s, s->fd, s->gen);
	f.key.kind = CONNLEAK_LEASE_EXPIRED;
	f.key.created = s->created;
	f.lease_ms = model_opt->lease_ms;
	findings_add(&f);
}

void lease_check(void)
{
	if (!model_opt || !model_opt->lease_ms)
		return;
	uint64_t now = clock_coarse_ms();
	for (struct sock *s = sock_live_head(); s; s = s->next) {
		if (!s->client || s->leased || s->inherited || s->nfds <= 0 || s->type != SOCK_STREAM ||
		    (s->peer.ss_family != AF_INET && s->peer.ss_family != AF_INET6))
			continue;
		uint64_t age = now - s->t_created;
		if (age <= model_opt->lease_ms || !peer_matches(s))
			continue;
		if (model_opt->lease_mode == LEASE_REPORT)
			expired(s);
		else
			enforce(s, age);
	}
}
