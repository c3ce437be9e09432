/* The timeline: samples of open sockets, close-wait sockets, orphaned TLS sessions and
 * connections per endpoint, taken by the background thread every sample_ms. Bounded: when
 * TIMELINE_MAX samples are kept, every other one is dropped and the period doubles, so a run
 * of any length fits and still spans its whole duration. Model lock held. */
#ifndef CONNLEAK_TIMELINE_H
#define CONNLEAK_TIMELINE_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#define TIMELINE_MAX 512
#define TIMELINE_ENDPOINTS 4

struct tl_sample {
	uint64_t t_ms;
	uint32_t open, close_wait, orphaned;
	int nep;
	struct {
		struct sockaddr_in6 addr;
		socklen_t len;
		uint8_t server; /* accepted connections on a listening address */
		uint32_t open;
	} ep[TIMELINE_ENDPOINTS];
};

/* Called every tick; keeps one sample per `stride` ticks. */
void timeline_tick(void);
int timeline_count(void);
const struct tl_sample *timeline_get(int i);
void timeline_clear(void);

#endif
