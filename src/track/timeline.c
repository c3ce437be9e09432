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

void timeline_tick(void)
{
	if (ticks++ % stride)
		return;
	if (count == TIMELINE_MAX) {
		for (int i = 0; i < TIMELINE_MAX / 2; i++)
			samples[i] = samples[2 * i];
		count = TIMELINE_MAX / 2;
		stride *= 2;
	}
	struct tl_sample *t = &samples[count++];
	memset(t, 0, sizeof *t);
	t->t_ms = clock_coarse_ms() - model_state.start_mono_ms;
	for (struct sock *s = sock_live_head(); s; s = s->next) {
		if (s->nfds <= 0)
			continue;
		t->open++;
		if (atomic_load(&s->t_eof) && !s->leased)
			t->close_wait++;
	}
	t->orphaned = tls_orphaned_count();
	endpoint_each(add_endpoint, t);
}

int timeline_count(void)
{
	return count;
}

const struct tl_sample *timeline_get(int i)
{
	return i >= 0 && i < count ? &samples[i] : NULL;
}

void timeline_clear(void)
{
	count = 0;
	stride = 1;
	ticks = 0;
}
