/* Which descriptors of a tracked socket a forked child keeps after exec (those without
 * FD_CLOEXEC), followed through the hooks that set the flag (socket/socketpair/accept4 with
 * SOCK_CLOEXEC, dup3 O_CLOEXEC, F_DUPFD_CLOEXEC, F_SETFD, FIOCLEX/FIONCLEX, close_range
 * CLOSE_RANGE_CLOEXEC), so a fork costs the same however many sockets are open: no
 * F_GETFD per socket, no walk. A fork only bumps a counter; a descriptor settles into its
 * socket's `forked` (and the last child) when it stops being inheritable — set close-on-
 * exec, closed, or replaced — if a fork happened meanwhile. Model lock held throughout. */
#ifndef CONNLEAK_CLOEXEC_H
#define CONNLEAK_CLOEXEC_H

#include <sys/types.h>

#include "fdtable.h"
#include "sock.h"

/* The slot now refers to a socket, with FD_CLOEXEC as given. */
void cloexec_enter(struct fd_slot *slot, int cloexec);
/* The slot stops referring to s (close, dup2 over it, a missed close). */
void cloexec_leave(struct fd_slot *slot, struct sock *s);
/* A fork whose child is `child` (> 0). */
void cloexec_forked(pid_t child);

/* The hooks: F_SETFD/FIOCLEX/FIONCLEX on fd, and close_range(CLOSE_RANGE_CLOEXEC). Take
 * the model lock; nothing happens for a descriptor that holds no tracked socket. */
void model_cloexec(int fd, int on);
void model_cloexec_range(unsigned first, unsigned last);
/* Whether fd (a tracked socket's) is kept by an exec'd program. Lock held. */
int cloexec_inheritable(int fd);

#endif
