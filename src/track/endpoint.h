/* Per-endpoint statistics: for connections the program opened, the peer address; for
 * connections it accepted, the listening address. Bounded: past ENDPOINT_MAX distinct
 * endpoints, new ones are only counted as dropped. */
#ifndef CONNLEAK_ENDPOINT_H
#define CONNLEAK_ENDPOINT_H

#include <stdint.h>
#include <sys/socket.h>
#include "../util/hashtable.h"

#define ENDPOINT_MAX 4096
#define LIFETIME_BUCKETS 96

struct endpoint {
	UT_hash_handle hh;
	struct endpoint_key {
		uint8_t server; /* 1: accepted connections on this local address */
		uint8_t family;
		uint16_t port;
		uint8_t addr[16];
	} key;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint64_t connections, open, peak, bytes_in, bytes_out, requests, tls_handshakes, tls_resumed;
	uint64_t leases_enforced;
	char host[128]; /* hostname of its connections, when resolved */
	/* Of the connections still open, summed when a report is written. */
	uint64_t live_bytes_in, live_bytes_out, live_requests;
	uint64_t lifetime_max_ms;
	uint32_t lifetime[LIFETIME_BUCKETS]; /* log-scale histogram of connection lifetimes */
};

/* Under the model lock. `addr` may be NULL/0 when unknown: returns NULL. */
struct endpoint *endpoint_get(int server, const struct sockaddr *addr, socklen_t len);
/* The endpoint when it is the one this thread got last, else NULL: no table access, for
 * model.c's per-descriptor section (which falls back to the model lock on NULL). */
struct endpoint *endpoint_cached(int server, const struct sockaddr *addr, socklen_t len);
/* Under the model lock or in the per-descriptor section: the counters they change are
 * updated atomically (a report reads them under the model lock). */
void endpoint_opened(struct endpoint *e);
void endpoint_closed(struct endpoint *e, uint64_t lifetime_ms, uint64_t in, uint64_t out,
		     uint32_t requests);
/* Upper bound of the bucket holding quantile q (0..1) of the lifetimes. */
uint64_t endpoint_lifetime_quantile(const struct endpoint *e, double q);
void endpoint_each(void (*fn)(const struct endpoint *e, void *ctx), void *ctx);
uint64_t endpoint_dropped(void);
void endpoint_clear(void);

#endif
