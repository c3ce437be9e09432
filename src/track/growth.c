/* Growth per call site (see growth.h). Each timeline sample counts, per creation stack, the
 * open sockets (and CLOSE_WAIT ones among them) and the orphaned TLS sessions, in a fixed
 * table; the stacks holding the most keep a series; each series is judged for a rising
 * floor. A leak under load is a count whose lowest later value keeps climbing: in-flight
 * connections come and go above it, the leaked ones never leave. A pool that fills and stays
 * flat, or connections that follow load up and down, have no such floor. */
#include "growth.h"

#include <stdio.h>
#include <string.h>

#include "../util/clock.h"
#include "findings.h"
#include "model.h"
#include "sock.h"
#include "tls.h"

#define AGG_SIZE 2048 /* distinct (stack, what) counted per sample; the rest are not */

struct agg {
	uint32_t key; /* (stack << 1 | what) + 1; 0 = empty */
	uint32_t count, close_wait;
	int taken;
};

static struct agg agg[AGG_SIZE];
/* The entries a sample filled, in the order it filled them: the next sample clears those
 * and no others, and visits no empty one (the table is 32 KB, 8 pages a short process
 * would otherwise fault in for a sample or two). */
static uint16_t agg_used[AGG_SIZE];
static int agg_nused;
/* Series are taken in order and given up only all at once (growth_clear): the first
 * nseries are in use, and no loop reads a page of the ones after them. */
static struct growth_series series[GROWTH_SERIES];
static int nseries;

static struct agg *agg_slot(int what, stack_id stack, int create)
{
	uint32_t key = ((stack << 1) | (uint32_t)what) + 1;
	uint32_t h = key * 2654435761u;
	for (unsigned i = 0; i < 32; i++) {
		struct agg *a = &agg[(h + i) % AGG_SIZE];
		if (a->key == key)
			return a;
		if (!a->key) {
			if (!create)
				return NULL;
			a->key = key;
			agg_used[agg_nused++] = (uint16_t)(a - agg);
			return a;
		}
	}
	return NULL; /* table crowded here: this stack is not counted in this sample */
}

static void count_all(uint64_t at)
{
	for (int i = 0; i < agg_nused; i++)
		memset(&agg[agg_used[i]], 0, sizeof agg[0]);
	agg_nused = 0;
	for (struct sock *s = sock_live_head(); s; s = sock_next(s)) {
		if (s->nfds <= 0 || !s->created)
			continue;
		struct agg *a = agg_slot(GROWTH_SOCKETS, s->created, 1);
		if (!a)
			continue;
		a->count++;
		uint64_t eof = atomic_load(&s->t_eof);
		if (eof && eof <= at && !s->leased && !s->shut_rd)
			a->close_wait++;
	}
	/* Only sessions whose socket is gone count: none, no walk (a forked child's exit). */
	for (const struct tls_sess *t = tls_orphaned_count() ? tls_live_head() : NULL; t;
	     t = t->next) {
		if (!t->t_orphaned || !t->created)
			continue;
		struct agg *a = agg_slot(GROWTH_SESSIONS, t->created, 1);
		if (a)
			a->count++;
	}
}

static uint32_t last_count(const struct growth_series *g)
{
	return g->n ? g->pts[g->n - 1].count : 0;
}

static void append(struct growth_series *g, uint64_t t_ms, uint32_t count, uint32_t cw)
{
	if (g->n && g->pts[g->n - 1].t_ms == t_ms) {
		g->pts[g->n - 1].count = count;
		g->pts[g->n - 1].close_wait = cw;
		return;
	}
	if (g->n == GROWTH_SAMPLES) {
		/* Halve, keeping the first point (where the series starts) and dropping
		 * every other one after it. */
		for (int i = 1; i < GROWTH_SAMPLES / 2; i++)
			g->pts[i] = g->pts[2 * i];
		g->n = GROWTH_SAMPLES / 2;
	}
	g->pts[g->n++] = (struct growth_point){t_ms, count, cw};
}

/* The series to give up for a stack holding `count` now: a free one, else the one holding
 * the least (never one already reported). NULL when every kept one holds more. */
static struct growth_series *victim(uint32_t count)
{
	if (nseries < GROWTH_SERIES)
		return &series[nseries++];
	struct growth_series *v = NULL;
	for (int i = 0; i < GROWTH_SERIES; i++) {
		struct growth_series *g = &series[i];
		if (g->reported)
			continue;
		if (!v || last_count(g) < last_count(v))
			v = g;
	}
	return v && last_count(v) < count ? v : NULL;
}

int growth_judge(struct growth_series *g, uint64_t window_ms, uint32_t min)
{
	g->growing = 0;
	if (g->n < 2)
		return 0;
	int last = g->n - 1;
	uint64_t t_last = g->pts[last].t_ms;
	/* floor[i]: the lowest count from sample i on, what the stack never gave back. */
	uint32_t floor[GROWTH_SAMPLES];
	floor[last] = g->pts[last].count;
	for (int i = last - 1; i >= 0; i--)
		floor[i] = g->pts[i].count < floor[i + 1] ? g->pts[i].count : floor[i + 1];
	/* The longest window first: the earliest start whose floor rises in each quarter. */
	for (int s = 0; s < last && t_last - g->pts[s].t_ms >= window_ms; s++) {
		uint64_t t0 = g->pts[s].t_ms, span = t_last - t0;
		if (!span || g->pts[last].count < floor[s] + min)
			continue;
		uint32_t prev = floor[s];
		int ok = 1, i = s;
		for (int k = 1; k <= 4 && ok; k++) {
			uint64_t b = t0 + span * (uint64_t)k / 4;
			while (i < last && g->pts[i].t_ms < b)
				i++;
			ok = floor[i] > prev;
			prev = floor[i];
		}
		if (!ok)
			continue;
		g->growing = 1;
		g->from = floor[s];
		g->to = g->pts[last].count;
		g->since_ms = t0;
		g->window_ms = span;
		g->rate_per_min = (double)(g->to - g->from) * 60000.0 / (double)span;
		g->never_released = 1;
		for (int j = s; j < last; j++)
			if (g->pts[j + 1].count < g->pts[j].count)
				g->never_released = 0;
		return 1;
	}
	return 0;
}

double growth_recent_rate(const struct growth_series *g, uint64_t window_ms)
{
	if (g->n < 2)
		return 0;
	const struct growth_point *last = &g->pts[g->n - 1];
	int i = 0;
	while (i < g->n - 2 && last->t_ms - g->pts[i].t_ms > window_ms)
		i++;
	uint64_t span = last->t_ms - g->pts[i].t_ms;
	if (!span)
		return 0;
	return ((double)last->count - (double)g->pts[i].count) * 60000.0 / (double)span;
}

static void fill_finding(struct finding *f, const struct growth_series *g)
{
	f->growth_sessions = g->what == GROWTH_SESSIONS;
	f->growth_from = g->from;
	f->growth_to = g->to;
	f->growth_since_ms = g->since_ms;
	f->growth_window_ms = g->window_ms;
	f->growth_rate = g->rate_per_min;
	f->growth_never_released = g->never_released;
	f->open_sockets = g->to;
	f->growth_close_wait = g->n ? g->pts[g->n - 1].close_wait : 0;
}

static void report(struct growth_series *g)
{
	struct finding key;
	memset(&key, 0, sizeof key);
	key.key.kind = CONNLEAK_SOCKET_GROWTH;
	key.key.created = g->stack;
	if (g->reported) {
		/* The group exists: keep its numbers current (the trend so far). */
		struct finding *f = findings_find(&key.key);
		if (f)
			fill_finding(f, g);
		return;
	}
	key.fd = -1;
	key.origin = -1;
	key.tcp_state = -1;
	key.family = AF_UNSPEC;
	fill_finding(&key, g);
	findings_add(&key);
	g->reported = 1;
}

void growth_sample(uint64_t at)
{
	const struct options *o = model_opt;
	if (!o || !o->growth_min)
		return;
	uint64_t t_ms = at - model_state.start_mono_ms;
	count_all(at);
	for (int i = 0; i < nseries; i++) {
		struct growth_series *g = &series[i];
		struct agg *a = agg_slot(g->what, g->stack, 0);
		append(g, t_ms, a ? a->count : 0, a ? a->close_wait : 0);
		if (a)
			a->taken = 1;
	}
	for (int i = 0; i < agg_nused; i++) {
		struct agg *a = &agg[agg_used[i]];
		if (!a->key || a->taken || !a->count)
			continue;
		struct growth_series *g = victim(a->count);
		if (!g)
			continue;
		memset(g, 0, sizeof *g);
		g->what = (int)((a->key - 1) & 1);
		g->stack = (a->key - 1) >> 1;
		append(g, t_ms, a->count, a->close_wait);
		a->taken = 1;
	}
	for (int i = 0; i < nseries; i++) {
		struct growth_series *g = &series[i];
		if (growth_judge(g, o->growth_window_ms, (uint32_t)o->growth_min))
			report(g);
	}
}

void growth_each(void (*fn)(const struct growth_series *g, void *ctx), void *ctx)
{
	const struct growth_series *order[GROWTH_SERIES];
	int n = 0;
	for (int i = 0; i < nseries; i++) {
		int j = n++;
		for (; j > 0 && last_count(order[j - 1]) < last_count(&series[i]); j--)
			order[j] = order[j - 1];
		order[j] = &series[i];
	}
	for (int i = 0; i < n; i++)
		fn(order[i], ctx);
}

const struct growth_series *growth_of(int what, stack_id stack)
{
	for (int i = 0; i < nseries; i++)
		if (series[i].what == what && series[i].stack == stack)
			return &series[i];
	return NULL;
}

void growth_clear(void)
{
	memset(series, 0, (size_t)nseries * sizeof series[0]);
	nseries = 0;
}
