/* FD_CLOEXEC of tracked descriptors and the forks they were open across (see cloexec.h). */
#include "cloexec.h"

#include "model.h"

static uint32_t forks;   /* forks seen in this process (with a known child) */
static pid_t last_child; /* the child of the last one */

void cloexec_enter(struct fd_slot *slot, int cloexec)
{
	slot->cloexec = cloexec != 0;
	slot->cx_forks = forks;
}

void cloexec_leave(struct fd_slot *slot, struct sock *s)
{
	/* Every fork since cx_forks found this descriptor inheritable; the last of them is
	 * the last fork of the process so far, whose child is last_child. */
	if (!slot->cloexec && slot->cx_forks != forks) {
		s->forked = 1;
		s->fork_child = (int)last_child;
	}
}

void cloexec_forked(pid_t child)
{
	forks++;
	last_child = child;
}

static void set(struct fd_slot *slot, int on)
{
	struct sock *s = sock_here(atomic_load_explicit(&slot->sock, memory_order_relaxed));
	if (!s || slot->cloexec == (on != 0))
		return;
	if (on)
		cloexec_leave(slot, s);
	cloexec_enter(slot, on);
}

void model_cloexec(int fd, int on)
{
	model_lock();
	struct fd_slot *slot = fdt_slot(fd, 0);
	if (slot)
		set(slot, on);
	model_unlock();
}

void model_cloexec_range(unsigned first, unsigned last)
{
	model_lock();
	int lim = fdt_limit();
	for (unsigned fd = first; fd <= last && fd < (unsigned)lim; fd++) {
		struct fd_slot *slot = fdt_slot((int)fd, 0);
		if (slot)
			set(slot, 1);
	}
	model_unlock();
}

int cloexec_inheritable(int fd)
{
	struct fd_slot *slot = fdt_slot(fd, 0);
	return slot && atomic_load_explicit(&slot->sock, memory_order_relaxed) && !slot->cloexec;
}
