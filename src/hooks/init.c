/* Switching connleak on: the constructor reads CONNLEAK and CONNLEAK_OPTIONS (connleak
 * stays off and silent in setuid/AT_SECURE programs), records the inherited sockets, and arranges the exit report. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>

#include "../report/report.h"
#include "../report/snapshot.h"
#include "../track/agent.h"
#include "../track/findings.h"
#include "../track/model.h"
#include "../util/backtrace.h"
#include "../util/log.h"
#include "../util/options.h"
#include "../util/symbolize.h"
#include "hook.h"

int hook_enabled;
pid_t hook_pid;
__thread int hook_busy __attribute__((tls_model("initial-exec")));
__thread int hook_vfork __attribute__((tls_model("initial-exec")));

static struct options opts;

static void option_error(const char *msg, void *ctx)
{
	(void)ctx;
	log_line(msg);
}

static void help_line(const char *text, void *ctx)
{
	(void)ctx;
	log_line(text);
}

int hook_in_vfork_child(void)
{
	if (!hook_vfork)
		return 0;
	if ((pid_t)REAL(syscall)(SYS_getpid) != hook_pid)
		return 1;
	/* The parent resumed: the child has exec'd or exited (not known for a clone child
	 * that runs beside us). */
	if (hook_vfork != HOOK_VFORK_STICKY)
		hook_vfork = 0;
	return 0;
}

int hook_forced_status(int status)
{
	if (!hook_enabled || hook_in_vfork_child())
		return status;
	/* open-at-exit is not a leak: it never forces the exit status. */
	if (opts.exitcode && findings_total() > findings_of_kind(CONNLEAK_OPEN_AT_EXIT))
		return opts.exitcode;
	return status;
}

/* Exit detectors and reports, once per process image: the first thread to end writes,
 * another ending at the same time waits for it (report_final). */
void hook_finish_exit(int how, int status)
{
	/* Busy: _exit from a signal handler that interrupted connleak on this thread, which
	 * may hold the model lock. Reporting would deadlock; the process just ends. */
	if (!hook_enabled || hook_busy || hook_in_vfork_child())
		return;
	hook_busy++;
	if (!report_final_started())
		model_exit_checks();
	struct report_end end = {.how = how, .status = hook_forced_status(status)};
	/* _exit from a signal handler, which may have interrupted malloc: a report without
	 * symbol tables or the demangler (they allocate), for `connleak report` to
	 * symbolize. */
	if (hook_in_signal_handler()) {
		struct options safe = opts;
		safe.symbolize = 0;
		symbolize_minimal(1);
		report_final(&safe, &end);
	} else {
		report_final(&opts, &end);
	}
	hook_leave();
}

void hook_halt(void)
{
	if (!report_final_started()) {
		hook_busy++;
		struct report_end end = {.how = END_ABORT};
		report_final(&opts, &end);
		hook_leave();
	}
	/* Our handler must not write a second report on the way out. */
	signals_release();
	abort();
}

void hook_wait_report(int ms)
{
	report_wait_final(ms);
}

void hook_sandbox_report(void)
{
	struct report_end end = {.how = END_SANDBOX};
	report_final(&opts, &end);
}

/* Set once at_exit has run in this process (its report written, or none due). */
static atomic_int at_exit_ran;

/* Registered from the constructor, so it runs after every atexit handler and library
 * destructor: sockets they close are not leaks. on_exit hands us the status. */
static void at_exit(int status, void *arg)
{
	(void)arg;
	if (!hook_enabled || hook_in_vfork_child())
		return;
	/* At once: another thread that returned from main or called exit() ends the process
	 * in _IO_cleanup, which waits for this lock (see report.c). */
	report_hold_exit();
	int first = !report_final_started();
	hook_finish_exit(END_EXIT, status);
	report_release_exit();
	atomic_store(&at_exit_ran, 1);
	int forced = hook_forced_status(status);
	if (first && forced != status) {
		fflush(NULL);
		REAL(_exit)(forced);
	}
}

/* Registered just before at_exit, so it runs just after it. glibc lets threads that end
 * the process at once (a return from main, an exit() elsewhere) run the exit handlers
 * together, each taking the next one: the thread that takes this one while another has
 * taken at_exit but not yet taken the stdio lock in it would reach _IO_cleanup first and
 * end the process before any report (1 run in 500 of 16 threads exiting at once on a
 * loaded machine). It waits, at most 10 s, until at_exit has run. */
static void exit_gate(int status, void *arg)
{
	(void)status;
	(void)arg;
	if (!hook_enabled || hook_in_vfork_child())
		return;
	struct timespec ms = {0, 1000000};
	for (int i = 0; i < 10000 && !atomic_load(&at_exit_ran); i++)
		nanosleep(&ms, NULL);
}

/* For exec: the report as the image ends; taken back if exec fails. */
void hook_before_exec(const char *path)
{
	if (!hook_active() || report_final_started())
		return;
	hook_busy++;
	struct report_end end = {.how = END_EXEC, .exec_path = path};
	report_final(&opts, &end);
	hook_leave();
}

void hook_exec_failed(void)
{
	if (hook_active())
		report_exec_failed();
}

void hook_after_fork_child(void)
{
	hook_pid = getpid();
	report_after_fork_child();
	snapshot_after_fork_child();
}

/* The background thread is connleak's own: every call it makes passes straight through. */
__thread int hook_own_thread __attribute__((tls_model("initial-exec")));

static void agent_enter(void)
{
	hook_busy++;
}

static void agent_thread_init(void)
{
	hook_own_thread = 1;
	hook_busy = 1;
}

__attribute__((constructor)) static void connleak_init(void)
{
	real_init();
	const char *on = getenv("CONNLEAK");
	if (!on || strcmp(on, "1") != 0) {
		io_entry_init(0);
		tls_entry_off();
		return;
	}
	/* A setuid, setgid or file-capability program: its caller may not choose files for it
	 * to write, nor read its addresses and stacks. connleak stays off and silent. */
	if (getauxval(AT_SECURE)) {
		io_entry_init(0);
		tls_entry_off();
		return;
	}
	io_entry_init(1);
	log_stderr_init();
	options_defaults(&opts);
	options_parse(&opts, getenv("CONNLEAK_OPTIONS"), option_error, NULL);
	if (opts.help)
		options_help(help_line, NULL);
	hook_pid = getpid();
	hook_busy++;
	report_init(&opts);
	backtrace_init();
	agent_setup(agent_thread_init, agent_enter, hook_leave);
	model_init(&opts);
	model_scan_inherited();
	hook_leave();
	on_exit(exit_gate, NULL);
	if (on_exit(at_exit, NULL) != 0)
		atomic_store(&at_exit_ran, 1); /* no at_exit to wait for */
	hook_register_atfork();
	signals_init(&opts);
	snapshot_setup(&opts, agent_thread_init, hook_in_signal_handler);
	hook_enabled = 1;
	hook_wrap_signals();
}
