/* Name resolution hooks: getaddrinfo and the gethostbyname family. What a name resolved to
 * lets connections carry their hostname, and a later answer without a live connection's
 * address is a stale-dns finding. */
#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>

#include "../track/agent.h"
#include "../track/dns.h"
#include "../track/model.h"
#include "hook.h"

/* A literal address "resolves" to itself: it names no host, so it is not remembered. */
static int is_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

static void from_addrinfo(const char *name, const struct addrinfo *res)
{
	struct dns_answer a = {0};
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
		if (ai->ai_addr)
			dns_answer_add(&a, ai->ai_addr);
	model_dns(name, &a);
}

static void from_hostent(const char *name, const struct hostent *h)
{
	struct dns_answer a = {0};
	if (!h)
		return;
	for (char **p = h->h_addr_list; p && *p; p++) {
		struct sockaddr_in6 sa;
		memset(&sa, 0, sizeof sa);
		if (h->h_addrtype == AF_INET && h->h_length == 4) {
			struct sockaddr_in *in = (struct sockaddr_in *)&sa;
			in->sin_family = AF_INET;
			memcpy(&in->sin_addr, *p, 4);
		} else if (h->h_addrtype == AF_INET6 && h->h_length == 16) {
			sa.sin6_family = AF_INET6;
			memcpy(&sa.sin6_addr, *p, 16);
		} else {
			continue;
		}
		dns_answer_add(&a, (struct sockaddr *)&sa);
	}
	model_dns(name, &a);
}

/* Without a background thread, live connections' names are re-resolved here, where the
 * program already waits on name resolution (agent.h). Not in connect(): a signal handler
 * may call connect(), never getaddrinfo(), which is not async-signal-safe. */
void hook_dns_recheck(void)
{
	if (model_opt && model_opt->dns_check_ms && hook_active() && !agent_running()) {
		int saved = errno;
		agent_dns_due();
		errno = saved;
	}
}

HOOK int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		     struct addrinfo **res)
{
	int r = REAL(getaddrinfo)(node, service, hints, res);
	if (r == 0 && node && !is_literal(node) && hook_active())
		TRACK(from_addrinfo(node, *res));
	hook_dns_recheck();
	return r;
}

HOOK struct hostent *gethostbyname(const char *name)
{
	struct hostent *h = REAL(gethostbyname)(name);
	if (h && !is_literal(name) && hook_active())
		TRACK(from_hostent(name, h));
	hook_dns_recheck();
	return h;
}

HOOK struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *h = REAL(gethostbyname2)(name, af);
	if (h && !is_literal(name) && hook_active())
		TRACK(from_hostent(name, h));
	hook_dns_recheck();
	return h;
}

HOOK int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len,
			 struct hostent **result, int *h_errnop)
{
	int r = REAL(gethostbyname_r)(name, ret, buf, len, result, h_errnop);
	if (r == 0 && result && *result && !is_literal(name) && hook_active())
		TRACK(from_hostent(name, *result));
	hook_dns_recheck();
	return r;
}

HOOK int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf,
			  size_t len, struct hostent **result, int *h_errnop)
{
	int r = REAL(gethostbyname2_r)(name, af, ret, buf, len, result, h_errnop);
	if (r == 0 && result && *result && !is_literal(name) && hook_active())
		TRACK(from_hostent(name, *result));
	hook_dns_recheck();
	return r;
}
