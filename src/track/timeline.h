/* The timeline: samples of open sockets, close-wait sockets, orphaned TLS sessions and
 * connections per endpoint, one every sample_ms. No thread takes them: the model state only
 * changes at model events, so when the model is entered (model_lock) the samples due since
 * the last event are filled in with the state that held over that time, and at exit the
 * rest. Bounded: when
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

/* Adds the samples due up to `now` (coarse monotonic ms), one per `period` ms, keeping one
 * per `stride` ticks. timeline_due_ms is when the next one is due (UINT64_MAX before the
 * first call), for a one-compare check. */
extern uint64_t timeline_due_ms;
void timeline_catch_up(uint64_t now, uint64_t period);
/* One tick now (the unit tests' way of taking samples). */
void timeline_tick(void);
/* The first sample is due `period` ms after `start` (0: no timeline). */
void timeline_start(uint64_t start, uint64_t period);
int timeline_count(void);
const struct tl_sample *timeline_get(int i);
void timeline_clear(void);

#endif
