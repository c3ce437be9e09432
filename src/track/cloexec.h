/* Which descriptors of a tracked socket a forked child keeps after exec (those without
 * FD_CLOEXEC), followed through the hooks that set the flag (socket/socketpair/accept4 with
 * SOCK_CLOEXEC, dup3 O_CLOEXEC, F_DUPFD_CLOEXEC, F_SETFD, FIOCLEX/FIONCLEX, close_range
 * CLOSE_RANGE_CLOEXEC), so a fork costs the same however many sockets are open: no
 * F_GETFD per socket, no walk. A fork only bumps a counter; a descriptor settles into its
 * socket's `forked` (and the last child) when it stops being inheritable — set close-on-
 * exec, closed, or replaced — if a fork happened meanwhile. Model lock held throughout. */
#ifndef CONNLEAK_CLOEXEC_H
#define CONNLEAK_CLOEXEC_H

#include <stdint.h>
#include <sys/types.h>

#include "fdtable.h"
#include "sock.h"

/* Forks seen in this process (with a known child), and the child of the last one. */
extern uint32_t cloexec_forks;
extern pid_t cloexec_last_child;

/* The slot now refers to a socket, with FD_CLOEXEC as given. (Inline: every socket made
 * and closed comes here.) */
static inline void cloexec_enter(struct fd_slot *slot, int cloexec)
{
	slot->cloexec = cloexec != 0;
	slot->cx_forks = cloexec_forks;
}

/* The slot stops referring to s (close, dup2 over it, a missed close). Every fork since
 * cx_forks found this descriptor inheritable; the last of them is the last fork of the
 * process so far, whose child is cloexec_last_child. */
static inline void cloexec_leave(struct fd_slot *slot, struct sock *s)
{
	if (!slot->cloexec && slot->cx_forks != cloexec_forks) {
		s->forked = 1;
		s->fork_child = (int)cloexec_last_child;
	}
}
/* A fork whose child is `child` (> 0). */
void cloexec_forked(pid_t child);

/* The hooks: F_SETFD/FIOCLEX/FIONCLEX on fd, and close_range(CLOSE_RANGE_CLOEXEC). Take
 * the model lock; nothing happens for a descriptor that holds no tracked socket. */
void model_cloexec(int fd, int on);
void model_cloexec_range(unsigned first, unsigned last);
/* Whether fd (a tracked socket's) is kept by an exec'd program. Lock held. */
int cloexec_inheritable(int fd);

#endif
