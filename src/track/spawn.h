/* Sockets inherited across exec by programs glibc starts itself (posix_spawn, popen,
 * system): noted when the child starts, checked at the socket's last close in this
 * process. Reported as `shared-close` (forked: true) naming the program that still holds
 * the socket (`inherited_by`), with the creation, close and spawning stacks. */
#ifndef CONNLEAK_SPAWN_H
#define CONNLEAK_SPAWN_H

#include <sys/types.h>

#include "model.h"

/* A child was started and exec'd `program`: marks every socket open without
 * FD_CLOEXEC. Takes the model lock. */
void spawn_noted(pid_t child, const char *program, stack_id stack);

/* At the last close of a marked socket that carried data (model lock held, c->ino set):
 * when another process still holds the socket, a shared-close finding. */
void spawn_close_check(struct sock *s, const struct close_ctx *c);

/* Another process that holds socket inode `ino` (a /proc scan with raw system calls, no
 * allocation); its pid and program name. 0 when none. */
int spawn_holder(unsigned long ino, int *pid, char *prog, size_t n);

#endif
