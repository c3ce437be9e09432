/* Connection leases for programs that were never written with them: a client connection
 * older than lease_ms (or whose peer left DNS, lease_on_dns_change) is shut down
 * underneath the program at an idle boundary (enforce), or reported (lease-expired).
 * Model lock held unless said otherwise. */
#ifndef CONNLEAK_LEASE_H
#define CONNLEAK_LEASE_H

/* Parses lease_peers ("host:port,..."); empty = every peer. */
void lease_configure(const char *peers);
/* One pass over the live connections (the background thread). */
void lease_check(void);

struct sock;
/* Whether client connections are framed (track/http.h): a lease in enforce mode is on. */
extern int lease_framing;
/* A read completed a response and left `s` idle: retire it now if it is due. Takes the
 * model lock only then. */
void lease_boundary(struct sock *s);
/* `s`'s peer is no longer in its hostname's answer (stale-dns): with
 * lease_on_dns_change, it is due at its next idle boundary. Lock held. */
void lease_dns_changed(struct sock *s);
/* connect() made `s` a client connection: frame it when a lease needs that. Lock held. */
void lease_connected(struct sock *s);

#endif
