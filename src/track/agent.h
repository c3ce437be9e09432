/* connleak's background thread: timeline samples, lease checks and stale-DNS
 * re-resolution. Started only when an option needs it and only once the program has made a
 * socket; restarted in forked children; never waited for at exit. */
#ifndef CONNLEAK_AGENT_H
#define CONNLEAK_AGENT_H

/* `thread_init` runs first in the new thread (the hooks use it to mark the thread as
 * connleak's own, so its calls pass straight through). */
void agent_setup(void (*thread_init)(void));
/* Starts the thread if an option needs it and it is not running. Any lock may be held. */
void agent_ensure(void);
/* In a forked child: the parent's thread is not there. Restarts it if it was running. */
void agent_after_fork_child(void);

#endif
