/* FD_CLOEXEC of tracked descriptors and the forks they were open across (see cloexec.h). */
#include "cloexec.h"

#include "model.h"

uint32_t cloexec_forks;
pid_t cloexec_last_child;

void cloexec_forked(pid_t child)
{
	cloexec_forks++;
	cloexec_last_child = child;
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
