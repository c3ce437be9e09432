/* The background thread. It sleeps on the monotonic clock, then takes the model lock for
 * one short pass (sample, lease check) and resolves hostnames with no lock held. All
 * signals are blocked in it, so the program's signals keep going to the program's threads.
 * It is detached: exit() does not wait for it. */
#include "agent.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "../util/clock.h"
#include "../util/real.h"
#include "dns.h"
#include "lease.h"
#include "model.h"
#include "timeline.h"

#define DNS_NAMES_PER_PASS 32

static void (*init_fn)(void);
static atomic_int running;

void agent_setup(void (*thread_init)(void))
{
	init_fn = thread_init;
}

static uint64_t tick_ms(const struct options *o)
{
	uint64_t t = 0;
	if (o->sample_ms)
		t = o->sample_ms;
	if (o->dns_check_ms && (!t || o->dns_check_ms < t))
		t = o->dns_check_ms;
	if (o->lease_ms) {
		/* Check a lease often enough to act within a quarter of it. */
		uint64_t l = o->lease_ms / 4 ? o->lease_ms / 4 : 1;
		if (!t || l < t)
			t = l;
	}
	return t < 5 ? 5 : t;
}

static void resolve_live_names(void)
{
	char names[DNS_NAMES_PER_PASS][128];
	model_lock();
	int n = dns_live_names(names, DNS_NAMES_PER_PASS);
	model_unlock();
	for (int i = 0; i < n; i++) {
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		if (real.getaddrinfo(names[i], NULL, &hints, &res) != 0 || !res)
			continue;
		struct dns_answer a = {0};
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
			if (ai->ai_addr)
				dns_answer_add(&a, ai->ai_addr);
		real.freeaddrinfo(res);
		model_dns(names[i], &a);
	}
}

static void *agent_main(void *arg)
{
	(void)arg;
	if (init_fn)
		init_fn();
	const struct options *o = model_opt;
	uint64_t tick = tick_ms(o), next_sample = 0, next_dns = 0;
	for (;;) {
		struct timespec ts = {(time_t)(tick / 1000), (long)(tick % 1000) * 1000000L};
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0)
			;
		uint64_t now = clock_coarse_ms();
		model_lock();
		if (o->sample_ms && now >= next_sample) {
			timeline_tick();
			next_sample = now + o->sample_ms;
		}
		lease_check();
		model_unlock();
		if (o->dns_check_ms && now >= next_dns) {
			resolve_live_names();
			next_dns = now + o->dns_check_ms;
		}
	}
	return NULL;
}

void agent_ensure(void)
{
	const struct options *o = model_opt;
	if (!o || atomic_load_explicit(&running, memory_order_relaxed) ||
	    !(o->sample_ms || o->lease_ms || o->dns_check_ms))
		return;
	if (atomic_exchange(&running, 1))
		return;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t t;
	if (pthread_create(&t, &attr, agent_main, NULL) != 0)
		atomic_store(&running, 0);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void agent_after_fork_child(void)
{
	if (atomic_exchange(&running, 0))
		agent_ensure();
}
