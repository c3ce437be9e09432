/* connleak's background thread: lease checks and stale-DNS re-resolution. Started only
 * when leases are on (lease_ms) and only once the program has a network connection;
 * restarted in forked children; never waited for at exit. Without it, re-resolution runs
 * from hooks and from the snapshot thread (agent_dns_due). */
#ifndef CONNLEAK_AGENT_H
#define CONNLEAK_AGENT_H

/* `thread_init` runs first in the new thread (the hooks use it to mark the thread as
 * connleak's own, so its calls pass straight through); `enter`/`leave` bracket each pass
 * through the model (the hooks' busy mark: a signal handler must not run there), never the
 * getaddrinfo calls, which may block. */
void agent_setup(void (*thread_init)(void), void (*enter)(void), void (*leave)(void));
/* Starts the thread if an option needs it and it is not running. Any lock may be held. */
void agent_ensure(void);
/* Whether the thread runs. */
int agent_running(void);
/* Re-resolves live connections' hostnames if dns_check_ms has passed since the last time
 * (the first call starts the period). No lock may be held: it calls getaddrinfo. */
void agent_dns_due(void);
/* In a forked child: the parent's thread is not there. Restarts it if it was running. */
void agent_after_fork_child(void);

#endif
