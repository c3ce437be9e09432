/* Socket events from signal handlers that interrupt connleak. The interrupted code may hold
 * the model lock, so the handler's socket(), accept() or close() cannot enter the model: it
 * is recorded here, with its stack, in a small per-thread queue, and applied in order when
 * the interrupted call leaves connleak. A queue that overflows drops the oldest-unapplied
 * events; they are counted in the report's stats. */
#include <stdint.h>

#include "../track/fdtable.h"
#include "../track/model.h"
#include "../util/backtrace.h"
#include "hook.h"

#define DEFER_MAX 16
#define DEFER_DEPTH 16

enum { EV_NEW, EV_CLOSE };

struct deferred {
	uint8_t op;
	int fd, family, type, origin;
	struct sock *sock; /* EV_CLOSE: the socket the number held */
	int n;
	uintptr_t pcs[DEFER_DEPTH];
};

__thread int hook_pending __attribute__((tls_model("initial-exec")));
static __thread struct deferred queue[DEFER_MAX] __attribute__((tls_model("initial-exec")));

static struct deferred *slot(void)
{
	if (hook_pending >= DEFER_MAX) {
		__atomic_fetch_add(&model_state.events_deferred_lost, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	return &queue[hook_pending];
}

void hook_defer_new(int fd, int family, int type, int origin)
{
	struct deferred *d = slot();
	if (!d)
		return;
	int saved = errno;
	d->op = EV_NEW;
	d->fd = fd;
	d->family = family;
	d->type = type;
	d->origin = origin;
	int depth = model_opt ? model_opt->backtrace_depth : 16;
	d->n = backtrace_capture(d->pcs, depth < DEFER_DEPTH ? depth : DEFER_DEPTH);
	hook_pending++;
	errno = saved;
}

void hook_defer_close(int fd)
{
	struct deferred *d = slot();
	if (!d)
		return;
	d->op = EV_CLOSE;
	d->fd = fd;
	d->sock = fdt_sock(fd);
	d->n = 0;
	hook_pending++;
}

void hook_drain(void)
{
	int saved = errno;
	hook_busy++;
	/* A handler may add more while we apply: take them in order until none is left. */
	for (int i = 0; i < hook_pending; i++) {
		struct deferred *d = &queue[i];
		if (d->op == EV_NEW)
			model_new_socket_at(d->fd, d->family, d->type, d->origin,
					    stacks_intern(d->pcs, d->n));
		else if (fdt_sock(d->fd) == d->sock)
			model_close(d->fd, 0, 0);
	}
	hook_pending = 0;
	hook_busy--;
	errno = saved;
}
