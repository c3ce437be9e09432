/* Names behind addresses: what the program resolved (getaddrinfo, gethostbyname...), so a
 * connection knows the hostname it came from, and the stale-DNS detector that compares a
 * live connection's peer with the current answer for its name. Model lock held for all. */
#ifndef CONNLEAK_DNS_H
#define CONNLEAK_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sock.h"

#define DNS_ADDRS 16

struct dns_answer {
	int n;
	int truncated; /* more addresses than DNS_ADDRS: absence proves nothing */
	struct sockaddr_in6 addrs[DNS_ADDRS]; /* sin6_family says inet or inet6; no ports */
};

/* Adds one address to an answer being built (ports ignored, duplicates dropped). */
void dns_answer_add(struct dns_answer *a, const struct sockaddr *sa);

/* The program (or our own re-resolution) got `a` for `name`: remember it, and report live
 * connections to `name` whose peer is no longer in it. */
void dns_resolved(const char *name, const struct dns_answer *a);

/* The most recent name that resolved to the address of `sa`, or NULL. */
const char *dns_name_of(const struct sockaddr *sa);

/* Copies up to `max` distinct hostnames of live client connections into names[]. */
int dns_live_names(char names[][128], int max);

void dns_clear(void);

#endif
