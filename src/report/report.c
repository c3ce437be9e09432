/* Report orchestration: who writes (exactly one final writer per image; snapshots never
 * overlap it), where (temporary file + rename, see publish.c), how (in this process at a
 * normal end, through a helper process from a signal or for a snapshot, see helper.c),
 * and the text report on stderr or log_path. Problems are one line on stderr (when
 * stderr is safe); the program goes on. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../track/findings.h"
#include "../track/model.h"
#include "../util/log.h"
#include "../util/real.h"
#include "../util/symbolize.h"
#include "perfmap_copy.h"
#include "helper.h"
#include "publish.h"

int report_pid, report_ppid;

static atomic_int final_claimed, final_done, pub_busy;

/* glibc's stdio list lock: exit() in another thread takes it (in _IO_cleanup) before it
 * ends the process, so holding it while we write keeps a concurrent exit() from cutting
 * the report short. Exported by every glibc since 2.2.5. */
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);

void report_init(const struct options *o)
{
	(void)o;
	publish_init();
	log_stderr_init();
	report_pid = getpid();
	report_ppid = getppid();
}

void report_after_fork_child(void)
{
	publish_reset();
	report_pid = getpid();
	report_ppid = getppid();
	atomic_store(&final_claimed, 0);
	atomic_store(&final_done, 0);
	atomic_store(&pub_busy, 0);
}

int report_final_started(void)
{
	return atomic_load(&final_claimed);
}

static void nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Waits until *flag reads `want`, at most ms. */
static int wait_for(atomic_int *flag, int want, int ms)
{
	for (int waited = 0; atomic_load(flag) != want; waited++) {
		if (waited >= ms)
			return -1;
		nap_ms(1);
	}
	return 0;
}

/* ---- the text report ---- */

/* log_path: opened without following a link and without blocking on a FIFO; only a
 * regular file this user owns and no one else can write is used. */
static int open_log_file(const char *spec, char *why, size_t whyn)
{
	char path[PATH_MAX];
	size_t o = 0;
	for (const char *p = spec; *p && o + 16 < sizeof path; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(path + o, sizeof path - o, "%d", report_pid);
			p++;
		} else {
			path[o++] = *p;
		}
	}
	path[o] = '\0';
	int fd = real.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
			   0600);
	if (fd < 0) {
		snprintf(why, whyn, "cannot open log_path '%.200s': %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		real.close(fd);
		snprintf(why, whyn,
			 "log_path '%.200s' is not a regular file owned by this user and writable "
			 "by no one else: text report not written",
			 path);
		return -1;
	}
	return fd;
}

struct text_dest {
	int fd;
	char why[512];
};

static void text_choose(const struct options *o, struct report_end *end, struct text_dest *d)
{
	d->fd = -1;
	d->why[0] = '\0';
	end->text_to = NULL;
	end->text_skipped = NULL;
	if (!findings_total())
		return;
	if (!o->log_path[0] || !strcmp(o->log_path, "stderr")) {
		const char *bad = log_stderr_unsafe();
		if (bad) {
			end->text_skipped = bad;
			return;
		}
		d->fd = real.fcntl(2, F_DUPFD_CLOEXEC, 0);
		if (d->fd < 0) {
			/* No descriptor left: write to 2 itself. */
			d->fd = 2;
		}
		end->text_to = "stderr";
		return;
	}
	d->fd = open_log_file(o->log_path, d->why, sizeof d->why);
	if (d->fd < 0)
		end->text_skipped = d->why;
	else
		end->text_to = "log_path";
}

static void text_write(struct text_dest *d)
{
	if (d->fd < 0) {
		if (d->why[0])
			log_linef("connleak: %s", d->why);
		return;
	}
	struct out out;
	out_init(&out, d->fd);
	text_report(&out);
	out_flush(&out);
	if (d->fd != 2)
		real.close(d->fd);
}

/* ---- the JSON report ---- */

/* Returns 0, or an errno. */
static int json_write(const struct options *o, const struct report_end *end)
{
	char tmp[PATH_MAX];
	publish_choose(o->report_dir, report_pid);
	/* JIT frames are named offline from the perf map kept beside the final report (a
	 * helper's pid is not the map's). */
	if (findings_total() && !helper_child && publish_target()[0])
		perfmap_copy(publish_target());
	int fd = publish_open_tmp(o->report_dir, report_pid, tmp, sizeof tmp);
	if (fd < 0)
		return errno ? errno : EIO;
	struct out out;
	out_init(&out, fd);
	json_report(&out, o, end);
	int err = 0;
	if (out_flush(&out) != 0)
		err = errno ? errno : EIO;
	if (real.close(fd) != 0 && !err)
		err = errno;
	if (err) {
		real.unlink(tmp);
		return err;
	}
	if (publish_commit(tmp) != 0)
		return errno;
	return 0;
}

/* A full disk is said once per process (snapshots would repeat it every snapshot_ms);
 * a helper's failure is told back through its status. */
static int full_said;

/* `connleak run` counts the processes whose report is missing: one datagram with the pid
 * to its abstract Unix socket (no file permission involved: a worker that dropped its
 * privileges can still tell). */
static void notify_failure(const struct options *o)
{
	static int told;
	if (!o->run_notify[0] || told++)
		return;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	size_t len = strnlen(o->run_notify, sizeof sa.sun_path - 2);
	memcpy(sa.sun_path + 1, o->run_notify, len); /* abstract: leading NUL */
	int fd = real.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	char msg[32];
	int n = snprintf(msg, sizeof msg, "%d", report_pid);
	real.sendto(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len));
	real.close(fd);
}

static void json_failed(const struct options *o, int err)
{
	notify_failure(o);
	if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
		if (!full_said++)
			log_linef("connleak: report of pid %d not written in '%s': %s; the last "
				  "snapshot (if any) is kept",
				  report_pid, o->report_dir, strerror(err));
	} else {
		log_linef("connleak: cannot write a report in report_dir '%s': %s", o->report_dir,
			  strerror(err));
	}
}

/* Whether fewer than three descriptors are free (a report needs the file, its temporary
 * name, /proc/self/cmdline and the log). */
static int descriptors_short(void)
{
	int fds[3], n = 0, short_ = 0;
	for (; n < 3; n++) {
		fds[n] = real.open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fds[n] < 0) {
			short_ = errno == EMFILE;
			break;
		}
	}
	while (n > 0)
		real.close(fds[--n]);
	return short_;
}

/* A helper's job: write from the copy. */
struct job {
	const struct options *o;
	struct report_end *end;
	int final;     /* also the text report (a signal, the descriptor limit) */
	int close_fds; /* descriptors to free in the helper's own table */
	int parent_locked; /* the parent held the model lock across the copy */
};

static void free_descriptors(int want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	int top = rl.rlim_cur > 65536 ? 65536 : (int)rl.rlim_cur;
	for (int fd = top - 1; fd > 2 && want > 0; fd--)
		if (real.close(fd) == 0)
			want--;
}

static int helper_job(void *arg)
{
	struct job *j = arg;
	int consistent = model_helper_begin() || j->parent_locked;
	if (!consistent && !j->final)
		return PUBLISH_RETRY; /* a snapshot is retried a moment later */
	j->end->consistent = consistent;
	if (j->o->symbolize)
		symbolize_begin();
	if (j->close_fds)
		free_descriptors(j->close_fds);
	/* Open sockets become leaked-socket findings: at exit, or for a snapshot, open when it
	 * was taken (this copy is ours to change). */
	model_exit_checks();
	struct text_dest d = {-1, ""};
	if (j->final)
		text_choose(j->o, j->end, &d);
	int r = PUBLISH_OK;
	if (j->o->report_dir[0]) {
		int err = json_write(j->o, j->end);
		if (err == EEXIST)
			r = PUBLISH_NAME_TAKEN;
		else if (err) {
			json_failed(j->o, err);
			r = err == ENOSPC || err == EDQUOT || err == EFBIG ? PUBLISH_FULL : PUBLISH_FAILED;
		}
	}
	if (j->final)
		text_write(&d);
	return r;
}

/* The final writer waits for a snapshot in progress, a bounded moment. */
static void take_publish(void)
{
	int expect = 0;
	for (int waited = 0; !atomic_compare_exchange_strong(&pub_busy, &expect, 1); waited++) {
		expect = 0;
		if (waited >= 2000)
			return; /* a stuck helper: its rename can only lose to ours */
		nap_ms(1);
	}
}

void report_wait_final(int ms)
{
	wait_for(&final_done, 1, ms);
}

void report_hold_exit(void)
{
	_IO_list_lock();
}

void report_release_exit(void)
{
	_IO_list_unlock();
}

static int claim_final(void)
{
	int expect = 0;
	return atomic_compare_exchange_strong(&final_claimed, &expect, 1);
}

void report_final(const struct options *o, struct report_end *end)
{
	/* Taken before the claim: a thread in our exit handler holds it already, and the
	 * winner must never wait for it while a loser holds it. */
	_IO_list_lock();
	if (!claim_final()) {
		/* Another thread is ending the process: let it finish the report. */
		_IO_list_unlock();
		wait_for(&final_done, 1, 5000);
		return;
	}
	int saved = errno;
	struct quiet q;
	quiet_begin(&q);
	take_publish();
	end->consistent = 1;
	/* Whatever stacks the report shows (findings, growth series) get names; with none,
	 * nothing is looked up. */
	if (o->symbolize)
		symbolize_begin();
	/* At the descriptor limit the soft limit is raised to the hard one for the writes and
	 * put back (the program is ending: its EMFILE point while it ran is unchanged); when
	 * they are equal, a helper process closes a few descriptors in its own table (never
	 * the program's) and writes both reports from its copy. */
	struct rlimit rl;
	int at_limit = descriptors_short(), raised = 0;
	if (at_limit && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = {rl.rlim_max, rl.rlim_max};
		raised = setrlimit(RLIMIT_NOFILE, &up) == 0;
	}
	if (at_limit && !raised) {
		if (o->report_dir[0])
			publish_choose(o->report_dir, report_pid);
		struct job j = {o, end, 1, 4, 1};
		model_lock();
		int r = helper_run(helper_job, &j, 10000);
		model_unlock();
		publish_helper_result(r);
		full_said += r == PUBLISH_FULL;
		if (r < 0)
			log_linef("connleak: report of pid %d not written: every descriptor is in use "
				  "and the helper process failed",
				  report_pid);
	} else {
		struct text_dest d;
		text_choose(o, end, &d);
		if (o->report_dir[0]) {
			int err = json_write(o, end);
			if (err)
				json_failed(o, err);
		}
		text_write(&d);
	}
	if (raised)
		setrlimit(RLIMIT_NOFILE, &rl);
	_IO_list_unlock();
	symbolize_end();
	atomic_store(&final_done, 1);
	quiet_end(&q);
	errno = saved;
}

void report_final_from_signal(const struct options *o, struct report_end *end)
{
	if (!claim_final()) {
		wait_for(&final_done, 1, 5000);
		return;
	}
	int saved = errno;
	struct quiet q;
	quiet_begin(&q);
	take_publish();
	/* With the lock taken within a bound the copy is consistent; without it (the signal
	 * interrupted a change, maybe on this very thread) the helper writes what it finds
	 * and says so. */
	int locked = model_lock_timed(500) == 0;
	if (o->report_dir[0])
		publish_choose(o->report_dir, report_pid);
	struct job j = {o, end, 1, descriptors_short() ? 4 : 0, locked};
	int r = helper_run(helper_job, &j, 10000);
	if (locked)
		model_unlock();
	publish_helper_result(r);
	full_said += r == PUBLISH_FULL;
	atomic_store(&final_done, 1);
	quiet_end(&q);
	errno = saved;
}

int report_snapshot(const struct options *o, uint64_t seq, int wait_ms)
{
	if (!o->report_dir[0] || atomic_load(&final_claimed))
		return -1;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&pub_busy, &expect, 1))
		return -1;
	int r = -1;
	if (!atomic_load(&final_claimed)) {
		struct report_end end = {.how = END_SNAPSHOT, .seq = seq};
		/* Chosen here: the claim state lives in this process, not the helper's copy. */
		publish_choose(o->report_dir, report_pid);
		struct job j = {o, &end, 0, 0, 0};
		for (int tries = 0; tries < 20; tries++) {
			r = helper_run(helper_job, &j, wait_ms);
			if (r != PUBLISH_RETRY)
				break;
			nap_ms(5);
		}
		publish_helper_result(r);
		full_said += r == PUBLISH_FULL;
	}
	atomic_store(&pub_busy, 0);
	return r == PUBLISH_OK ? 0 : -1;
}

void report_exec_failed(void)
{
	publish_unlink();
	atomic_store(&final_done, 0);
	atomic_store(&pub_busy, 0);
	atomic_store(&final_claimed, 0);
}
