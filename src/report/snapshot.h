/* Snapshots (snapshot_ms): a process that lives longer than snapshot_ms keeps an
 * up-to-date report on disk, so SIGKILL and the OOM killer do not take the findings with
 * them. No thread exists before the process has lived snapshot_ms: the first socket event
 * after that starts one (hook_leave checks one flag until then). The thread sleeps
 * snapshot_ms, and when the model changed it has a helper process write the report from a
 * copy (see helper.c): the program's threads are never held on our lock by it. */
#ifndef CONNLEAK_SNAPSHOT_H
#define CONNLEAK_SNAPSHOT_H

#include "../util/options.h"

/* Set while snapshots are on and the thread is not running yet. */
extern int snapshot_waiting;

/* `in_handler` says whether this thread runs a program's signal handler now. */
void snapshot_setup(const struct options *o, void (*thread_init)(void), int (*in_handler)(void));
/* From the hooks (no lock held): starts the thread once the process lived snapshot_ms. */
void snapshot_maybe_start(void);
/* Stops and joins the thread (a sandbox is being installed). */
void snapshot_stop(void);
/* A forked child has no thread: it starts its own after its own snapshot_ms. */
void snapshot_after_fork_child(void);
/* report_signal: a snapshot now, from a signal handler (async-signal-safe). */
void snapshot_now(void);

#endif
