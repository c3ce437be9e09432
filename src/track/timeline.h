/* The timeline: samples of open sockets, close-wait sockets, orphaned TLS sessions and
 * connections per endpoint. No thread takes them: the model state only changes at model
 * events, so when the model is entered (model_lock) the samples due since the last event
 * are taken with the state that held over that time (one clock read and a compare until
 * one is due). Adaptive: a due sample is stored only when its counts differ from the last
 * stored one (a flat stretch is drawn from one sample to the next), so samples are dense
 * while the counts change, one per sample_ms, and cost nothing while they do not. The
 * first model event stores one (the start), the next event a millisecond on one more (what
 * the first did), and every report one (the end), so a short run has all three. Bounded: when TIMELINE_MAX samples are kept, every other one is dropped and
 * the period doubles, so a run of any length fits and still spans its whole duration.
 * Each stored sample also feeds the growth per call site (growth.h). Model lock held. */
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

/* Takes the samples due up to `now` (coarse monotonic ms), one per `period` ms (times the
 * thinning stride). timeline_due_ms is when the next one is due (UINT64_MAX when off), for
 * a one-compare check. */
extern uint64_t timeline_due_ms;
void timeline_catch_up(uint64_t now, uint64_t period);
/* A sample as of `now`, stored even when unchanged: a report is being written. */
void timeline_sample_now(uint64_t now);
/* Sampling on (period > 0): the first model event takes the first sample. */
void timeline_start(uint64_t start, uint64_t period);
int timeline_count(void);
const struct tl_sample *timeline_get(int i);
void timeline_clear(void);

#endif
