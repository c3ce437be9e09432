/* Timeline sampler (see timeline.h). */
#include "timeline.h"

#include <string.h>

#include "../util/clock.h"
#include "endpoint.h"
#include "growth.h"
#include "model.h"
#include "tls.h"

static struct tl_sample samples[TIMELINE_MAX];
static int count;
static uint64_t stride = 1;

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

/* The counts as of `at` (coarse monotonic ms). Between two model events the set of live
 * sockets, endpoints and sessions does not change, so the state now is the state at `at`;
 * only the peer's EOF is read outside the model, and it carries its own time. */
static void measure(struct tl_sample *t, uint64_t at)
{
	memset(t, 0, sizeof *t);
	t->t_ms = at - model_state.start_mono_ms;
	/* Sockets inherited from a forked parent count as open, without a walk (their EOF
	 * is the parent's business: a child's fork or exit costs the same however many). */
	t->open = sock_inherited_count();
	for (struct sock *s = sock_live_head(); s; s = sock_next(s)) {
		if (s->nfds <= 0)
			continue;
		t->open++;
		uint64_t eof = atomic_load(&s->t_eof);
		if (eof && eof <= at && !s->leased && !s->shut_rd)
			t->close_wait++;
	}
	t->orphaned = tls_orphaned_count();
	endpoint_each(add_endpoint, t);
}

/* Whether a sample shows nothing the last one did not: the counts and the connections open
 * to each endpoint (a socket created, then connected, changes only the latter; a sample
 * between the two must not be the only one with the socket open). */
static int same_counts(const struct tl_sample *a, const struct tl_sample *b)
{
	if (a->open != b->open || a->close_wait != b->close_wait || a->orphaned != b->orphaned ||
	    a->nep != b->nep)
		return 0;
	for (int i = 0; i < a->nep; i++)
		if (a->ep[i].open != b->ep[i].open || a->ep[i].server != b->ep[i].server ||
		    a->ep[i].len != b->ep[i].len ||
		    memcmp(&a->ep[i].addr, &b->ep[i].addr, a->ep[i].len))
			return 0;
	return 1;
}

static void sample_at(uint64_t at, int force)
{
	struct tl_sample t;
	measure(&t, at);
	struct tl_sample *last = count ? &samples[count - 1] : NULL;
	if (last && last->t_ms >= t.t_ms) {
		if (last->t_ms == t.t_ms) {
			*last = t; /* the same millisecond: the newer counts win */
			growth_sample(at);
		}
		return;
	}
	if (last && !force && same_counts(last, &t))
		return;
	if (count == TIMELINE_MAX) {
		for (int i = 0; i < TIMELINE_MAX / 2; i++)
			samples[i] = samples[2 * i];
		count = TIMELINE_MAX / 2;
		stride *= 2;
	}
	samples[count++] = t;
	growth_sample(at);
}

void timeline_sample_now(uint64_t now)
{
	if (model_opt && model_opt->sample_ms)
		sample_at(now, 1);
}

void timeline_catch_up(uint64_t now, uint64_t period)
{
	if (!period || timeline_due_ms > now)
		return;
	if (!count) {
		/* The first event: the start of the timeline, as it was before the event. The
		 * next event, a millisecond on, samples what the first one did, so a run shorter
		 * than sample_ms still shows its sockets between its start and its end. */
		sample_at(now, 1);
		timeline_due_ms = now + 1;
		return;
	}
	/* The state held unchanged from the first due sample to now: the first one shows the
	 * change since the last sample, the last one only the EOFs read since. */
	uint64_t p = period * stride, first = timeline_due_ms, k = (now - first) / p;
	sample_at(first, 0);
	if (k)
		sample_at(first + k * p, 0);
	timeline_due_ms = first + (k + 1) * p;
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
	timeline_due_ms = period ? start : UINT64_MAX;
}

void timeline_clear(void)
{
	count = 0;
	stride = 1;
	timeline_due_ms = UINT64_MAX;
	growth_clear();
}
