/* Unit tests for growth per call site: the trend judgement on explicit series (a leak under
 * jittery load, a pool that fills and stays flat, load going up and down, one step), and the
 * model end to end with sample times given explicitly (no clock involved). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <link.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "track/fdtable.h"
#include "track/findings.h"
#include "track/growth.h"
#include "track/model.h"

static struct growth_series series_of(const uint32_t *v, int n, uint64_t step_ms)
{
	struct growth_series g;
	memset(&g, 0, sizeof g);
	for (int i = 0; i < n && i < GROWTH_SAMPLES; i++)
		g.pts[g.n++] = (struct growth_point){(uint64_t)i * step_ms, v[i], 0};
	return g;
}

Test(growth, leak_under_jittery_load_grows)
{
	uint32_t v[60];
	for (int i = 0; i < 60; i++)
		v[i] = 10 + 5 * (uint32_t)i + 9 * (uint32_t)(i % 2); /* in-flight jitter */
	struct growth_series g = series_of(v, 60, 1000);
	cr_assert(growth_judge(&g, 30000, 50));
	cr_assert_eq(g.since_ms, 0, "the longest window wins");
	cr_assert_eq(g.window_ms, 59000);
	cr_assert_eq(g.from, 10);
	cr_assert_eq(g.to, v[59]);
	cr_assert(g.rate_per_min > 290 && g.rate_per_min < 320, "rate %f", g.rate_per_min);
	cr_assert_eq(g.never_released, 0, "the jitter goes down at times");
}

Test(growth, strictly_rising_is_never_released)
{
	uint32_t v[20];
	for (int i = 0; i < 20; i++)
		v[i] = (uint32_t)i * 10;
	struct growth_series g = series_of(v, 20, 500);
	cr_assert(growth_judge(&g, 5000, 50));
	cr_assert_eq(g.never_released, 1);
	cr_assert_eq(g.to - g.from, 190);
}

Test(growth, pool_that_fills_and_stays_flat_does_not_grow)
{
	uint32_t v[40];
	for (int i = 0; i < 40; i++)
		v[i] = i < 20 ? (uint32_t)i + 1 : 20;
	struct growth_series g = series_of(v, 40, 1000);
	cr_assert_not(growth_judge(&g, 5000, 10), "from %u to %u", g.from, g.to);
}

Test(growth, load_up_and_down_does_not_grow)
{
	/* Three waves of load: 5 -> 80 -> 5 connections each. */
	uint32_t v[60];
	for (int i = 0; i < 60; i++) {
		int p = i % 20;
		v[i] = (uint32_t)(5 + (p < 10 ? p : 20 - p) * 75 / 10);
	}
	struct growth_series g = series_of(v, 60, 500);
	cr_assert_not(growth_judge(&g, 3000, 10));
	/* ...and judged at the top of the last wave's rise it is not a trend over the run. */
	struct growth_series h = series_of(v, 50, 500);
	cr_assert_not(growth_judge(&h, 12000, 10));
}

Test(growth, one_step_is_not_a_trend)
{
	uint32_t v[40];
	for (int i = 0; i < 40; i++)
		v[i] = i < 25 ? 3 : 200;
	struct growth_series g = series_of(v, 40, 1000);
	cr_assert_not(growth_judge(&g, 10000, 50));
}

Test(growth, shorter_than_the_window_or_fewer_than_min_does_not_grow)
{
	uint32_t v[20];
	for (int i = 0; i < 20; i++)
		v[i] = (uint32_t)i * 10;
	struct growth_series g = series_of(v, 20, 1000);
	cr_assert_not(growth_judge(&g, 20000, 10), "19 s of data, 20 s window");
	cr_assert_not(growth_judge(&g, 5000, 500), "190 more, 500 asked");
}

Test(growth, recent_rate)
{
	uint32_t v[10] = {0, 0, 0, 0, 0, 10, 20, 30, 40, 50};
	struct growth_series g = series_of(v, 10, 1000);
	cr_assert_float_eq(growth_recent_rate(&g, 5000), 600.0, 0.01);
}

/* ---- through the model: sockets from two call sites, samples at given times ---- */

static struct options opts;

static void init(uint64_t window_ms, uint64_t min)
{
	options_defaults(&opts);
	opts.sample_ms = 0; /* samples only where the test takes them */
	opts.growth_window_ms = window_ms;
	opts.growth_min = min;
	model_init(&opts);
}

/* Stacks are trimmed of connleak's own module, which in this binary is the whole executable:
 * making the socket from a libc callback (dl_iterate_phdr) puts a libc frame between, so
 * each helper's call site survives in the captured stack (as in test_model.c). */
static int new_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)info;
	(void)size;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	model_new_socket(fd, AF_INET, SOCK_STREAM, 0);
	*(int *)data = fd;
	return 1;
}

static __attribute__((noinline)) int leaking_site(void)
{
	int fd = -1;
	dl_iterate_phdr(new_cb, &fd);
	return fd;
}

static __attribute__((noinline)) int pool_site(void)
{
	int fd = -1;
	dl_iterate_phdr(new_cb, &fd);
	return fd + 0;
}

static void sample_at(uint64_t t)
{
	model_lock();
	growth_sample(model_state.start_mono_ms + t);
	model_unlock();
}

struct found {
	int n;
	struct finding f;
};

static void collect(const struct finding *f, void *ctx)
{
	struct found *x = ctx;
	if (f->key.kind == CONNLEAK_SOCKET_GROWTH && x->n++ == 0)
		x->f = *f;
}

Test(growth, model_finds_the_leaking_site_not_the_pool)
{
	init(2000, 20);
	int pool[10];
	for (int i = 0; i < 10; i++)
		pool[i] = pool_site();
	stack_id leak_stack = 0;
	for (int t = 0; t < 40; t++) {
		/* The pool churns: one connection replaced per step, never more than 10. */
		model_close(pool[t % 10], 0, 0);
		close(pool[t % 10]);
		pool[t % 10] = pool_site();
		int fd = leaking_site();
		if (!leak_stack)
			leak_stack = fdt_sock(fd)->created;
		sample_at((uint64_t)t * 100);
	}
	struct found x = {0};
	model_lock();
	findings_each(collect, &x);
	const struct growth_series *g = growth_of(GROWTH_SOCKETS, x.f.key.created);
	model_unlock();
	cr_assert_eq(x.n, 1, "one socket-growth group, got %d", x.n);
	cr_assert_eq(x.f.key.created, leak_stack, "the leaking call site's stack");
	cr_assert_eq(x.f.growth_sessions, 0);
	cr_assert_geq(x.f.growth_to - x.f.growth_from, 20);
	cr_assert_not_null(g);
	cr_assert_eq(g->pts[g->n - 1].count, 40, "the leaking site holds 40, not %u (n %d)", g->pts[g->n - 1].count, g->n);
}

/* ---- the timeline: thinning when full, start and end kept, unchanged not stored ---- */

#include "track/timeline.h"
#include "util/clock.h"

Test(growth, timeline_thins_to_its_bound_and_spans_the_run)
{
	options_defaults(&opts);
	opts.sample_ms = 1;
	model_init(&opts);
	uint64_t t0 = model_state.start_mono_ms;
	int fds[7], nfd = 0;
	model_lock(); /* (entering the model takes the start sample, at the clock's now) */
	timeline_catch_up(t0, opts.sample_ms);
	cr_assert_eq(timeline_count(), 1);
	uint64_t start_t = timeline_get(0)->t_ms;
	model_unlock();
	/* 3000 ms of change: i % 7 sockets open at ms i (7 is odd, so the doubled periods
	 * of a thinned timeline still see a change at every sample). */
	for (int i = 1; i <= 3000; i++) {
		while (nfd < i % 7) {
			fds[nfd] = socket(AF_INET, SOCK_STREAM, 0);
			model_new_socket(fds[nfd], AF_INET, SOCK_STREAM, 0);
			nfd++;
		}
		while (nfd > i % 7) {
			nfd--;
			model_close(fds[nfd], 0, 0);
			close(fds[nfd]);
		}
		model_lock();
		timeline_catch_up(t0 + (uint64_t)i, opts.sample_ms);
		model_unlock();
	}
	model_lock();
	int n = timeline_count();
	const struct tl_sample *first = timeline_get(0), *last = timeline_get(n - 1);
	model_unlock();
	cr_assert_leq(n, TIMELINE_MAX);
	cr_assert_geq(n, TIMELINE_MAX / 4, "%d samples", n);
	cr_assert_eq(first->t_ms, start_t, "the start is kept");
	cr_assert_geq(last->t_ms, 2900, "the end is kept: last at %llu",
		      (unsigned long long)last->t_ms);
}

/* A timeline every 10 ms whose first event is a socket's creation: its descriptor, and the
 * time of that first event in *t0 (the coarse clock may have moved on since model_init, a
 * tick of a few milliseconds: the next sample is due a millisecond after the event). */
static int timeline_with_a_socket(uint64_t *t0)
{
	options_defaults(&opts);
	opts.sample_ms = 10;
	model_init(&opts);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	model_new_socket(fd, AF_INET, SOCK_STREAM, 0); /* the first event: the start */
	*t0 = timeline_due_ms - 1;
	return fd;
}

Test(growth, timeline_does_not_store_unchanged_samples)
{
	uint64_t t0;
	int fd = timeline_with_a_socket(&t0);
	model_lock();
	for (uint64_t t = 1; t < 10000; t += 5)
		timeline_catch_up(t0 + t, opts.sample_ms);
	int n = timeline_count();
	timeline_sample_now(t0 + 10000); /* a report: the end */
	int m = timeline_count();
	model_unlock();
	/* the start (before the socket), the socket open, then nothing new until the end */
	cr_assert_eq(n, 2, "nothing changed after the socket opened, %d stored", n);
	cr_assert_eq(m, 3);
	close(fd);
}

/* A socket counted open in one sample and connected only after it: the next due sample has
 * the same counts but one more connection to the endpoint, and is stored (the timeline
 * would otherwise never show the connection at its endpoint). */
Test(growth, timeline_stores_a_change_of_endpoints_alone)
{
	uint64_t t0;
	int fd = timeline_with_a_socket(&t0);
	model_lock();
	timeline_catch_up(t0 + 1, opts.sample_ms); /* the socket open, not connected */
	int before = timeline_count();
	const struct tl_sample *open = timeline_get(before - 1);
	cr_assert_eq(open->open, 1);
	cr_assert_eq(open->nep, 0);
	model_unlock();
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	model_connect(fd, (const struct sockaddr *)&a, sizeof a);
	model_lock();
	for (uint64_t t = 2; t < 100; t += 5)
		timeline_catch_up(t0 + t, opts.sample_ms);
	int n = timeline_count();
	const struct tl_sample *last = timeline_get(n - 1);
	model_unlock();
	cr_assert_eq(n, before + 1, "the connect's sample: %d stored, %d before", n, before);
	cr_assert_eq(last->open, 1);
	cr_assert_eq(last->nep, 1);
	cr_assert_eq(last->ep[0].open, 1);
	close(fd);
}
