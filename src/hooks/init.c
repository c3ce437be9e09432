/* Switching connleak on: the constructor reads CONNLEAK and CONNLEAK_OPTIONS (connleak
 * stays off and silent in setuid/AT_SECURE programs), records the inherited sockets, and arranges the exit report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "../report/report.h"
#include "../track/agent.h"
#include "../track/findings.h"
#include "../track/model.h"
#include "../util/backtrace.h"
#include "../util/log.h"
#include "../util/options.h"
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
	if ((pid_t)syscall(SYS_getpid) != hook_pid)
		return 1;
	/* The parent resumed: the child has exec'd or exited (not known for a clone child
	 * that runs beside us). */
	if (hook_vfork != HOOK_VFORK_STICKY)
		hook_vfork = 0;
	return 0;
}

static int finished;

int hook_forced_status(int status)
{
	if (!hook_enabled || hook_in_vfork_child())
		return status;
	if (opts.exitcode && findings_total())
		return opts.exitcode;
	return status;
}

/* Exit detectors and reports, once per process image. */
void hook_finish_exit(int how, int status)
{
	/* Busy: _exit from a signal handler that interrupted connleak on this thread, which
	 * may hold the model lock. Reporting would deadlock; the process just ends. */
	if (!hook_enabled || finished || hook_busy || hook_in_vfork_child())
		return;
	finished = 1;
	hook_busy++;
	model_exit_checks();
	struct report_end end = {.how = how, .status = hook_forced_status(status)};
	char path[PATH_MAX];
	report_write(&opts, &end, path, sizeof path);
	hook_leave();
}

void hook_halt(void)
{
	if (!finished) {
		finished = 1;
		hook_busy++;
		struct report_end end = {.how = END_ABORT};
		char path[PATH_MAX];
		report_write(&opts, &end, path, sizeof path);
		hook_busy--;
	}
	abort();
}

/* Registered from the constructor, so it runs after every atexit handler and library
 * destructor: sockets they close are not leaks. on_exit hands us the status. */
static void at_exit(int status, void *arg)
{
	(void)arg;
	if (!hook_enabled || finished || hook_in_vfork_child())
		return;
	hook_finish_exit(END_EXIT, status);
	int forced = hook_forced_status(status);
	if (forced != status) {
		fflush(NULL);
		REAL(_exit)(forced);
	}
}

/* For exec: the report as the image ends; taken back if exec fails. */
static char exec_report[PATH_MAX];

void hook_before_exec(const char *path)
{
	if (!hook_active() || finished)
		return;
	hook_busy++;
	struct report_end end = {.how = END_EXEC, .exec_path = path};
	report_write(&opts, &end, exec_report, sizeof exec_report);
	hook_leave();
}

void hook_exec_failed(void)
{
	if (exec_report[0]) {
		int saved = errno;
		REAL(unlink)(exec_report);
		exec_report[0] = '\0';
		errno = saved;
	}
}

void hook_after_fork_child(void)
{
	hook_pid = getpid();
	finished = 0;
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
	if (!on || strcmp(on, "1") != 0)
		return;
	/* A setuid, setgid or file-capability program: its caller may not choose files for it
	 * to write, nor read its addresses and stacks. connleak stays off and silent. */
	if (getauxval(AT_SECURE))
		return;
	options_defaults(&opts);
	options_parse(&opts, getenv("CONNLEAK_OPTIONS"), option_error, NULL);
	if (opts.help)
		options_help(help_line, NULL);
	hook_pid = getpid();
	hook_busy++;
	backtrace_init();
	agent_setup(agent_thread_init, agent_enter, hook_leave);
	model_init(&opts);
	model_scan_inherited();
	hook_leave();
	on_exit(at_exit, NULL);
	hook_register_atfork();
	hook_enabled = 1;
	hook_wrap_signals();
}
