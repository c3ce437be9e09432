/* Lease enforcement. The connection is shut with shutdown(SHUT_RD), never close(): the
 * program keeps its descriptor, its next read gives EOF and poll says readable, which is
 * what a server closing an idle keep-alive connection looks like, and pooling clients
 * already handle by reconnecting (resolving the name again). SHUT_RD rather than SHUT_WR:
 * a write racing the shutdown still goes out, so it raises no SIGPIPE that a server's
 * close would not have raised.
 *
 * Only idle connections are shut. For HTTP/1.x (track/http.c frames every client
 * connection while a lease is on) idle means exactly: the last response is complete and
 * no request has started. A due connection (older than lease_ms, or its peer gone from DNS
 * with lease_on_dns_change) is retired by the read hook that completes a response: the
 * program is inside that call, so no request of its can be on the way. The background
 * thread retires a due HTTP connection only once it has sat idle for a whole lease (a pool
 * that does not use it): it cannot know whether the program is about to take the
 * connection from its pool this very moment, and the request it would then lose is the
 * keep-alive race every server idle timeout causes. A busy connection is always retired
 * by the hook, at the end of an exchange.
 *
 * Protocols we cannot frame are left alone unless lease_protocols=any; then the old
 * heuristic applies as a fallback: the last completed operation was a read that answered
 * a request, nothing was written since, no unread data waits, and the connection has been
 * quiet for a while (a response can pause between two reads). */
#include "lease.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../util/clock.h"
#include "../util/real.h"
#include "endpoint.h"
#include "http.h"
#include "findings.h"
#include "model.h"
#include "tls.h"

#define LEASE_PEERS 32

static struct {
	char host[128];
	unsigned port;
} peers[LEASE_PEERS];
static int npeers;

int lease_framing;

void lease_configure(const char *spec)
{
	lease_framing = model_opt && model_opt->lease_mode == LEASE_ENFORCE &&
			(model_opt->lease_ms || model_opt->lease_on_dns_change);
	/* TLS calls ask it through their threads' recent sessions (tls.h). */
	atomic_fetch_add_explicit(&tls_map_version, 1, memory_order_release);
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
 * the fallback also wants the connection quiet for a while: a third of the lease, at least
 * 50 ms and at most a second. */
static uint64_t quiet_ms(void)
{
	uint64_t q = model_opt->lease_ms / 3;
	return q < 50 ? 50 : q > 1000 ? 1000 : q;
}

/* The fallback for protocols we cannot frame (lease_protocols=any). */
static int idle_unframed(const struct sock *s)
{
	if (atomic_load(&s->phase) != PHASE_REPLIED || atomic_load(&s->reuse_pending) ||
	    atomic_load(&s->t_eof) || clock_coarse_ms() - atomic_load(&s->t_last_io) < quiet_ms())
		return 0;
	int unread = 0;
	return ioctl(s->fd, FIONREAD, &unread) == 0 && unread == 0;
}

static int leasable(const struct sock *s)
{
	return s->client && !s->leased && !s->inherited && s->nfds > 0 &&
	       s->type == SOCK_STREAM &&
	       (s->peer.ss_family == AF_INET || s->peer.ss_family == AF_INET6);
}

static void retire(struct sock *s, uint64_t age, const char *reason)
{
	if (real.shutdown(s->fd, SHUT_RD) != 0)
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
		e->reason = reason;
		snprintf(e->host, sizeof e->host, "%s", s->host);
	}
}

static const char *due_reason(struct sock *s, uint64_t age)
{
	if (atomic_load_explicit(&s->http.due, memory_order_relaxed))
		return "dns-change";
	if (model_opt->lease_ms && age > model_opt->lease_ms)
		return "expired";
	return NULL;
}

/* A connection's age: from connect() for a framed one (a program may create its socket
 * long before it connects), else from the socket's creation. */
static uint64_t age_of(struct sock *s, uint64_t now)
{
	uint64_t t = atomic_load_explicit(&s->http.t_start, memory_order_relaxed);
	return now - (t ? t : s->t_created);
}

void lease_boundary(struct sock *s)
{
	uint64_t age = age_of(s, clock_coarse_ms());
	if (!due_reason(s, age))
		return;
	model_lock();
	sock_here(s); /* a forked parent's connection is not this child's to lease */
	const char *why = due_reason(s, age);
	if (why && leasable(s) && http_idle(&s->http)) {
		if (peer_matches(s))
			retire(s, age, why);
		else /* outside lease_peers: stop framing it */
			atomic_store(&s->http.mode, HTTP_OFF);
	}
	model_unlock();
}

void lease_connected(struct sock *s)
{
	if (lease_framing && s->type == SOCK_STREAM && !s->inherited &&
	    (s->peer.ss_family == AF_INET || s->peer.ss_family == AF_INET6) &&
	    atomic_load(&s->http.mode) == HTTP_OFF)
		http_start(&s->http);
}

void lease_dns_changed(struct sock *s)
{
	if (model_opt->lease_on_dns_change)
		atomic_store(&s->http.due, 1);
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

/* How long a due HTTP connection must have sat idle before the thread retires it. */
static uint64_t pool_idle_ms(void)
{
	if (model_opt->lease_ms)
		return model_opt->lease_ms;
	return model_opt->dns_check_ms ? model_opt->dns_check_ms : 1000;
}

void lease_check(void)
{
	if (!model_opt || !(model_opt->lease_ms || model_opt->lease_on_dns_change))
		return;
	uint64_t now = clock_coarse_ms();
	for (struct sock *s = sock_live_head(); s; s = sock_next(s)) {
		if (!leasable(s))
			continue;
		uint64_t age = age_of(s, now);
		if (model_opt->lease_mode == LEASE_REPORT) {
			if (model_opt->lease_ms && age > model_opt->lease_ms && peer_matches(s))
				expired(s);
			continue;
		}
		const char *why = due_reason(s, age);
		if (!why || !peer_matches(s))
			continue;
		int mode = atomic_load(&s->http.mode);
		/* Framed but no request seen (nothing written through the hooks we frame):
		 * not known to be HTTP. */
		int framed_http = (mode == HTTP_PLAIN || mode == HTTP_TLS) &&
				  atomic_load(&s->http.requests);
		if (framed_http) {
			if (http_idle(&s->http) &&
			    now - atomic_load(&s->http.t_idle) >= pool_idle_ms())
				retire(s, age, why);
		} else if (mode != HTTP_TUNNEL && mode != HTTP_CLOSING &&
			   model_opt->lease_protocols == LEASE_PROTO_ANY && idle_unframed(s)) {
			retire(s, age, why);
		}
	}
}
