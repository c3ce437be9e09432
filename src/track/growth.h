/* Growth per call site: for the creation stacks holding the most, a bounded series of how
 * many sockets they hold open (and how many of those are in CLOSE_WAIT) and how many TLS
 * sessions they made still live after their socket went (orphaned). Fed by the timeline's
 * samples; finds `socket-growth` when one stack's count keeps rising for growth_window_ms by
 * growth_min or more. Memory is fixed: GROWTH_SERIES series of GROWTH_SAMPLES samples, each
 * series halved (every other sample dropped) when full. Model lock held throughout. */
#ifndef CONNLEAK_GROWTH_H
#define CONNLEAK_GROWTH_H

#include <stdint.h>

#include "stacks.h"

#define GROWTH_SERIES 16
#define GROWTH_SAMPLES 64

enum growth_what { GROWTH_SOCKETS, GROWTH_SESSIONS };

struct growth_point {
	uint64_t t_ms; /* since the process started */
	uint32_t count, close_wait;
};

struct growth_series {
	int what; /* enum growth_what */
	stack_id stack;
	int n;
	struct growth_point pts[GROWTH_SAMPLES];
	/* The trend as last judged (see growth_judge). */
	int growing, never_released;
	uint32_t from, to;
	uint64_t since_ms, window_ms;
	double rate_per_min;
	int reported;
};

/* Takes one sample of every stack's counts as of `at` (coarse monotonic ms; the model's
 * state now is its state then, see timeline.h) and judges each series: a new socket-growth
 * finding the first time a series meets the thresholds. */
void growth_sample(uint64_t at);

/* The judgement, on its own for unit tests: sets growing/from/to/since/window/rate of `g`
 * from its points. Returns whether it grows by at least min over at least window_ms. */
int growth_judge(struct growth_series *g, uint64_t window_ms, uint32_t min);

/* Change per minute of the series over its last `window_ms` (or all of it when shorter). */
double growth_recent_rate(const struct growth_series *g, uint64_t window_ms);

/* Visits the series in use, most held first. */
void growth_each(void (*fn)(const struct growth_series *g, void *ctx), void *ctx);
const struct growth_series *growth_of(int what, stack_id stack);
void growth_clear(void);

#endif
