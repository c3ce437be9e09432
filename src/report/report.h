/* Writing a process's reports: the final one when it ends (exit, _exit, exec, abort, a
 * fatal signal), snapshots while it runs, and the text report on log_path. */
#ifndef CONNLEAK_REPORT_H
#define CONNLEAK_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../util/options.h"
#include "out.h"

enum end_how { END_EXIT, END__EXIT, END_EXEC, END_ABORT, END_SIGNAL, END_SANDBOX, END_SNAPSHOT };

struct report_end {
	enum end_how how;
	int status;            /* exit, _exit */
	const char *exec_path; /* exec */
	int signo;             /* signal */
	int consistent;        /* 0: the model was being changed when it was read */
	uint64_t seq;          /* snapshot number */
	/* Filled by the writer for the JSON: where the text report went. */
	const char *text_to, *text_skipped;
};

/* From the constructor: exe path, what stderr is. */
void report_init(const struct options *o);
void report_after_fork_child(void);

/* The final report of this image from a normal end. Only the first caller in the process
 * writes; another thread ending at the same time waits for it (bounded) and returns. */
void report_final(const struct options *o, struct report_end *end);
/* The same from a fatal signal handler (async-signal-safe as far as our code goes): the
 * report is written by a helper process, waited for within a bound. */
void report_final_from_signal(const struct options *o, struct report_end *end);
/* A snapshot ("complete": false) through a helper process; on demand (report_signal) or
 * from the snapshot thread. Returns 0 when written. */
int report_snapshot(const struct options *o, uint64_t seq, int wait_ms);
/* Waits (at most ms) until the final report is written (another thread is ending). */
void report_wait_final(int ms);
/* Around the whole exit path: holds glibc's stdio list lock, which a concurrent exit()
 * needs before it ends the process. */
void report_hold_exit(void);
void report_release_exit(void);
/* exec failed: the image goes on, its exec report is taken back. */
void report_exec_failed(void);
/* Whether a final report was started in this image (snapshots stop then). */
int report_final_started(void);

/* The identity the documents show (a helper process writes its parent's). */
extern int report_pid, report_ppid;

/* The document writers, each over an open descriptor. */
void json_report(struct out *o, const struct options *opt, const struct report_end *end);
void text_report(struct out *o);

#endif
