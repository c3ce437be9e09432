/* A short-lived helper process that writes a report from a copy of this one: a raw clone
 * (no atfork handlers run, no SIGCHLD, invisible to the program's waitpid(-1)), so the
 * writer never blocks the program's threads on our locks, never deadlocks the program
 * when a signal interrupted it holding a lock (the helper is killed after a bound), and
 * has a descriptor table of its own (it may close descriptors to make room at the limit
 * without touching the program's). */
#ifndef CONNLEAK_HELPER_H
#define CONNLEAK_HELPER_H

/* Set in the helper process. */
extern int helper_child;

/* Runs fn(arg) in the helper and returns its exit status (0-255), or -1 when the helper
 * could not be started, was killed after wait_ms, or died of a signal. */
int helper_run(int (*fn)(void *), void *arg, int wait_ms);

#endif
