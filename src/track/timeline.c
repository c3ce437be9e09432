/* Timeline sampler (see timeline.h). */
#include "timeline.h"

#include <string.h>

#include "../util/clock.h"
#include "endpoint.h"
#include "model.h"
#include "tls.h"

static struct tl_sample samples[TIMELINE_MAX];
static int count;
static unsigned stride = 1, ticks;

static void add_endpoint(const struct endpoint *e, void *ctx)
{
	struct tl_sample *t = ctx;
	if (!e->open || e->addr_len > sizeof t->ep[0].addr)
		return;
	int at;
	if (t->nep < TIMELINE_ENDPOINTS)
		at = t->nep++;
	else if (t->ep[TIMELINE_ENDPOINTS - 1].open < e->open)
		at = TIMELINE_ENDPOINTS - 1; /* replaces the smallest kept */
	else
		return;
	memcpy(&t->ep[at].addr, &e->addr, e->addr_len);
	t->ep[at].len = e->addr_len;
	t->ep[at].server = e->key.server;
	t->ep[at].open = (uint32_t)e->open;
	/* Keep the busiest endpoints first. */
	for (int i = at; i > 0 && t->ep[i].open > t->ep[i - 1].open; i--) {
		__typeof__(t->ep[0]) tmp = t->ep[i];
		t->ep[i] = t->ep[i - 1];
		t->ep[i - 1] = tmp;
	}
}

uint64_t timeline_due_ms = UINT64_MAX;

/* One sample as of `at` (coarse monotonic ms). Between two model events the set of live
 * sockets, endpoints and sessions does not change, so the state now is the state at `at`;
 * only the peer's EOF is read outside the model, and it carries its own time. */
static void sample_at(uint64_t at)
{
	if (count == TIMELINE_MAX) {
		for (int i = 0; i < TIMELINE_MAX / 2; i++)
			samples[i] = samples[2 * i];
		count = TIMELINE_MAX / 2;
		stride *= 2;
	}
	struct tl_sample *t = &samples[count++];
	memset(t, 0, sizeof *t);
	t->t_ms = at - model_state.start_mono_ms;
	for (struct sock *s = sock_live_head(); s; s = s->next) {
		if (s->nfds <= 0)
			continue;
		t->open++;
		uint64_t eof = atomic_load(&s->t_eof);
		if (eof && eof <= at && !s->leased)
			t->close_wait++;
	}
	t->orphaned = tls_orphaned_count();
	endpoint_each(add_endpoint, t);
}

void timeline_tick(void)
{
	if (ticks++ % stride)
		return;
	sample_at(clock_coarse_ms());
}

void timeline_catch_up(uint64_t now, uint64_t period)
{
	if (!period)
		return;
	while (timeline_due_ms <= now) {
		/* Only every stride-th tick is kept: jump over the others. */
		uint64_t skip = ticks % stride ? stride - ticks % stride : 0;
		uint64_t left = (now - timeline_due_ms) / period + 1;
		if (skip >= left) {
			ticks += (unsigned)left;
			timeline_due_ms += left * period;
			break;
		}
		ticks += (unsigned)skip;
		timeline_due_ms += skip * period;
		ticks++;
		sample_at(timeline_due_ms);
		timeline_due_ms += period;
	}
}

int timeline_count(void)
{
	return count;
}

const struct tl_sample *timeline_get(int i)
{
	return i >= 0 && i < count ? &samples[i] : NULL;
}

void timeline_start(uint64_t start, uint64_t period)
{
	timeline_due_ms = period ? start + period : UINT64_MAX;
}

void timeline_clear(void)
{
	count = 0;
	stride = 1;
	ticks = 0;
	timeline_due_ms = UINT64_MAX;
}
