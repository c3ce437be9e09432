/* Connection leases for programs that were never written with them: a client connection
 * older than lease_ms is shut down underneath the program when it is idle (enforce), or
 * reported (lease-expired). Model lock held. */
#ifndef CONNLEAK_LEASE_H
#define CONNLEAK_LEASE_H

/* Parses lease_peers ("host:port,..."); empty = every peer. */
void lease_configure(const char *peers);
/* One pass over the live connections. */
void lease_check(void);

#endif
