/* The background thread, and the periodic work that runs without it. A thread changes a
 * program (CPython warns at fork, unshare(CLONE_NEWUSER) fails with EINVAL, glibc leaves its
 * single-thread fast paths), so it starts only for leases, which must act while the program
 * is idle. It sleeps on the monotonic clock, takes the model lock for one short pass (the
 * lease check; the timeline catches up inside model_lock) and resolves hostnames with no
 * lock held. All signals are blocked in it, so the program's signals keep going to the
 * program's threads. It is detached: exit() does not wait for it. Without it, live
 * connections' names are re-resolved from the name-lookup hooks, where the program is
 * already waiting on name resolution, and from the snapshot thread of a process that has
 * lived snapshot_ms, when dns_check_ms has passed. */
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

static void (*init_fn)(void), (*enter_fn)(void), (*leave_fn)(void);
static atomic_int running;
static _Atomic uint64_t next_dns;

void agent_setup(void (*thread_init)(void), void (*enter)(void), void (*leave)(void))
{
	init_fn = thread_init;
	enter_fn = enter;
	leave_fn = leave;
}

static uint64_t tick_ms(const struct options *o)
{
	uint64_t t = 0;
	if (o->dns_check_ms)
		t = o->dns_check_ms;
	if (o->lease_ms) {
		/* Check a lease often enough to act within a quarter of it. */
		uint64_t l = o->lease_ms / 4 ? o->lease_ms / 4 : 1;
		if (!t || l < t)
			t = l;
	}
	return t < 5 ? 5 : t;
}

/* The hooks' busy mark around a pass through the model; unit tests link no hooks. */
static void enter(void)
{
	if (enter_fn)
		enter_fn();
}

static void leave(void)
{
	if (leave_fn)
		leave_fn();
}

static void resolve_live_names(void)
{
	char names[DNS_NAMES_PER_PASS][128];
	enter();
	model_lock();
	int n = dns_live_names(names, DNS_NAMES_PER_PASS);
	model_unlock();
	leave();
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
		enter();
		model_dns(names[i], &a);
		leave();
	}
}

static void *agent_main(void *arg)
{
	(void)arg;
	if (init_fn)
		init_fn();
	const struct options *o = model_opt;
	uint64_t tick = tick_ms(o);
	for (;;) {
		struct timespec ts = {(time_t)(tick / 1000), (long)(tick % 1000) * 1000000L};
		while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) != 0)
			;
		model_lock();
		lease_check();
		model_unlock();
		agent_dns_due();
	}
	return NULL;
}

/* Claims the re-resolution that is due (one caller wins when several threads ask). */
void agent_dns_due(void)
{
	const struct options *o = model_opt;
	if (!o || !o->dns_check_ms)
		return;
	uint64_t now = clock_coarse_ms(), due = atomic_load_explicit(&next_dns, memory_order_relaxed);
	if (!due) {
		/* The first period starts with the first connection. */
		atomic_compare_exchange_strong(&next_dns, &due, now + o->dns_check_ms);
		return;
	}
	if (now < due || !atomic_compare_exchange_strong(&next_dns, &due, now + o->dns_check_ms))
		return;
	resolve_live_names();
}

void agent_ensure(void)
{
	const struct options *o = model_opt;
	if (!o || atomic_load_explicit(&running, memory_order_relaxed) ||
	    !(o->lease_ms || (o->lease_on_dns_change && o->lease_mode == LEASE_ENFORCE)))
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

int agent_running(void)
{
	return atomic_load_explicit(&running, memory_order_relaxed);
}

void agent_after_fork_child(void)
{
	atomic_store(&next_dns, 0);
	if (atomic_exchange(&running, 0))
		agent_ensure();
}
