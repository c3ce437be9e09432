/* `connleak top [--once] [--interval MS] [DIR | PID]`: a live view of the reports that
 * processes keep on disk (snapshots, "complete": false, rewritten every snapshot_ms, and
 * final reports), refreshed like top: per process its open sockets, close-wait sockets,
 * orphaned TLS sessions, descriptors in use against the limit (read from /proc while the
 * process runs) and findings; for the selected process, its call sites holding the most
 * (the report's "growth") with their growth per minute and first frames. Keys: q quits,
 * s cycles the sort (open, growth, close-wait), Tab/j/k/arrows switch the process. --once
 * prints one screen as plain text and exits (scripts, tests). ncurses draws the screen; the
 * preload never links it. */
#include <ctype.h>
#include <curses.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"

#define MAX_LINES 200
#define LINE_W 240
#define SITES 10

enum sort_key { SORT_OPEN, SORT_GROWTH, SORT_CLOSE_WAIT, SORT_COUNT };
static const char *const sort_names[] = {"open", "growth", "close-wait"};

struct proc_row {
	struct process *p;
	long long open, close_wait, orphaned, findings;
	double growth;
	int running;
	long fds, fd_limit;
	char state[48];
};

struct screen {
	char lines[MAX_LINES][LINE_W];
	int n;
};

static void put(struct screen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct screen *s, const char *fmt, ...)
{
	if (s->n >= MAX_LINES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->lines[s->n], LINE_W, fmt, ap);
	va_end(ap);
	/* Names come from other processes: nothing that moves a terminal's cursor. */
	for (char *c = s->lines[s->n]; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	s->n++;
}

static double num_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_number(v) ? json_number_value(v) : 0;
}

/* Descriptors in use and the soft limit of a live process, from /proc. */
static void fd_use(long long pid, long *fds, long *limit)
{
	char path[64];
	*fds = *limit = -1;
	snprintf(path, sizeof path, "/proc/%lld/fd", pid);
	DIR *d = opendir(path);
	if (d) {
		long n = 0;
		struct dirent *e;
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
		*fds = n;
	}
	snprintf(path, sizeof path, "/proc/%lld/limits", pid);
	FILE *f = fopen(path, "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "Max open files", 14)) {
				*limit = strtol(line + 14, NULL, 10);
				break;
			}
		fclose(f);
	}
}

/* Whether pid is still the process that wrote the report (same executable). */
static int still_running(const struct process *p)
{
	char path[64], exe[4096];
	snprintf(path, sizeof path, "/proc/%lld/exe", p->pid);
	ssize_t n = readlink(path, exe, sizeof exe - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	return p->exe && !strcmp(exe, p->exe);
}

static void fill_row(struct proc_row *r, struct process *p, time_t now)
{
	memset(r, 0, sizeof *r);
	r->p = p;
	json_t *stats = json_object_get(p->root, "stats");
	json_t *tl = json_object_get(p->root, "timeline");
	json_t *last = json_array_get(tl, json_array_size(tl) - 1);
	r->open = last ? (long long)num_of(last, "open_sockets") : json_int(stats, "open_at_exit", 0);
	r->close_wait = last ? (long long)num_of(last, "close_wait") : 0;
	r->orphaned = json_int(stats, "orphaned_sessions", last ? (long long)num_of(last,
					"orphaned_sessions") : 0);
	r->findings = json_int(stats, "findings", (long long)p->total);
	json_t *gs = json_object_get(p->root, "growth");
	for (size_t i = 0; i < json_array_size(gs); i++) {
		double g = num_of(json_array_get(gs, i), "rate_per_min");
		if (g > r->growth)
			r->growth = g;
	}
	struct stat st;
	long age = stat(p->path, &st) == 0 ? (long)(now - st.st_mtime) : -1;
	/* A snapshot has "snapshot" {seq, time, t_ms} and "ended": null; a final report that
	 * is incomplete for another reason (memory, lost events) still says how it ended. */
	json_t *ended = json_object_get(p->root, "ended");
	int snapshot = json_is_object(json_object_get(p->root, "snapshot")) ||
		       (json_is_false(json_object_get(p->root, "complete")) && json_is_null(ended));
	r->running = still_running(p);
	if (r->running)
		fd_use(p->pid, &r->fds, &r->fd_limit);
	else
		r->fds = r->fd_limit = -1;
	if (snapshot)
		snprintf(r->state, sizeof r->state, "%s, snap %lds", r->running ? "run" : "gone", age);
	else
		snprintf(r->state, sizeof r->state, "ended %lds ago", age);
}

static enum sort_key sort_key;

static int cmp_rows(const void *a, const void *b)
{
	const struct proc_row *x = a, *y = b;
	double kx, ky;
	switch (sort_key) {
	case SORT_GROWTH:
		kx = x->growth, ky = y->growth;
		break;
	case SORT_CLOSE_WAIT:
		kx = (double)x->close_wait, ky = (double)y->close_wait;
		break;
	default:
		kx = (double)(x->open + x->orphaned), ky = (double)(y->open + y->orphaned);
	}
	if (kx != ky)
		return kx < ky ? 1 : -1;
	return x->p->pid < y->p->pid ? -1 : x->p->pid > y->p->pid;
}

static double site_key(json_t *g)
{
	switch (sort_key) {
	case SORT_GROWTH:
		return num_of(g, "rate_per_min");
	case SORT_CLOSE_WAIT:
		return num_of(g, "close_wait");
	default:
		return num_of(g, "count");
	}
}

static int cmp_sites(const void *a, const void *b)
{
	double x = site_key(*(json_t *const *)a), y = site_key(*(json_t *const *)b);
	return x < y ? 1 : x > y ? -1 : 0;
}

/* "f (file.c:12) < g < h": the first frames of a stack, as names when known. */
static void frames_text(json_t *stack, char *buf, size_t n)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < json_array_size(stack) && i < 4 && len + 1 < n; i++) {
		struct frame f;
		report_read_frame(json_array_get(stack, i), &f);
		const char *sep = i ? " < " : "";
		int w;
		if (f.function && *f.function && i == 0 && f.file && f.line > 0) {
			const char *b = strrchr(f.file, '/');
			w = snprintf(buf + len, n - len, "%s%s (%s:%ld)", sep, f.function,
				     b ? b + 1 : f.file, f.line);
		} else if (f.function && *f.function) {
			w = snprintf(buf + len, n - len, "%s%s", sep, f.function);
		} else if (f.module) {
			const char *b = strrchr(f.module, '/');
			w = snprintf(buf + len, n - len, "%s%s+0x%" PRIx64, sep, b ? b + 1 : f.module,
				     f.offset);
		} else {
			w = snprintf(buf + len, n - len, "%s%s", sep, f.pc ? f.pc : "?");
		}
		if (w < 0)
			break;
		len += (size_t)w;
		if (len >= n)
			len = n - 1;
	}
}

static void fmt_count(char *buf, size_t n, long a, long b)
{
	if (a < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%ld/%ld", a, b);
}

/* Builds one screen from the reports now on disk. `selected` is kept by pid. */
static int build(struct screen *s, const char *dir, long long only_pid, long long *selected)
{
	struct report_set set = {0};
	char *paths[] = {(char *)dir};
	FILE *devnull = fopen("/dev/null", "w");
	report_set_read(&set, paths, 1, devnull ? devnull : stderr);
	if (devnull)
		fclose(devnull);
	symbolize_set(&set);
	time_t now = time(NULL);
	struct proc_row *rows = calloc(set.nprocs ? set.nprocs : 1, sizeof *rows);
	size_t nrows = 0;
	/* A pid seen twice (a snapshot beside an older run's report): the newest wins. */
	for (size_t i = 0; rows && i < set.nprocs; i++) {
		struct process *p = &set.procs[i];
		if (only_pid > 0 && p->pid != only_pid)
			continue;
		size_t k;
		for (k = 0; k < nrows && rows[k].p->pid != p->pid; k++)
			;
		if (k < nrows && strcmp(p->start_time ? p->start_time : "",
					rows[k].p->start_time ? rows[k].p->start_time : "") < 0)
			continue;
		fill_row(&rows[k], p, now);
		if (k == nrows)
			nrows++;
	}
	qsort(rows, nrows, sizeof *rows, cmp_rows);
	char clock[16];
	strftime(clock, sizeof clock, "%H:%M:%S", localtime(&now));
	s->n = 0;
	put(s, "connleak top  %s  %zu process(es)  sort: %s  %s   (q quit, s sort, Tab/j/k "
	       "process)", dir, nrows, sort_names[sort_key], clock);
	put(s, "%s", "");
	put(s, "  %7s %-18s %-16s %7s %7s %8s %12s %8s %10s", "PID", "NAME", "STATE", "OPEN",
	    "C-WAIT", "ORPHANED", "FDS/LIMIT", "FINDINGS", "GROWTH/MIN");
	size_t sel = 0;
	for (size_t i = 0; i < nrows; i++)
		if (rows[i].p->pid == *selected)
			sel = i;
	if (nrows)
		*selected = rows[sel].p->pid;
	for (size_t i = 0; i < nrows && i < 40; i++) {
		struct proc_row *r = &rows[i];
		char fds[32];
		fmt_count(fds, sizeof fds, r->fds, r->fd_limit);
		put(s, "%c %7lld %-18.18s %-16.16s %7lld %7lld %8lld %12s %8lld %+10.1f",
		    i == sel ? '>' : ' ', r->p->pid, r->p->name ? r->p->name : "?", r->state,
		    r->open, r->close_wait, r->orphaned, fds, r->findings, r->growth);
	}
	if (!nrows)
		put(s, "  (no report in %s yet)", dir);
	put(s, "%s", "");
	if (nrows) {
		struct proc_row *r = &rows[sel];
		json_t *gs = json_object_get(r->p->root, "growth");
		size_t n = json_array_size(gs);
		json_t **sites = calloc(n ? n : 1, sizeof *sites);
		for (size_t i = 0; sites && i < n; i++)
			sites[i] = json_array_get(gs, i);
		if (sites)
			qsort(sites, n, sizeof *sites, cmp_sites);
		put(s, "call sites of %s[%lld] (sort: %s)", r->p->name ? r->p->name : "?", r->p->pid,
		    sort_names[sort_key]);
		put(s, "  %8s %7s %10s %-9s %s", "COUNT", "C-WAIT", "PER MIN", "WHAT", "FIRST FRAMES");
		for (size_t i = 0; sites && i < n && i < SITES; i++) {
			char frames[LINE_W];
			frames_text(json_object_get(sites[i], "stack"), frames, sizeof frames);
			const char *what = json_str(sites[i], "what");
			put(s, "  %8.0f %7.0f %+10.1f %-9s %s%s", num_of(sites[i], "count"),
			    num_of(sites[i], "close_wait"), num_of(sites[i], "rate_per_min"),
			    what && !strcmp(what, "tls_sessions") ? "sessions" : "sockets",
			    json_is_true(json_object_get(sites[i], "growing")) ? "GROWING " : "",
			    frames);
		}
		if (!n)
			put(s, "  (no call site holds a socket)");
		free(sites);
	}
	free(rows);
	report_set_free(&set);
	return (int)nrows;
}

/* The report directory of a running process: report_dir in its CONNLEAK_OPTIONS. */
static int dir_of_pid(long long pid, char *dir, size_t n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%lld/environ", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char var[8192];
	int found = -1, c;
	size_t len = 0;
	while ((c = fgetc(f)) != EOF) {
		if (c && len + 1 < sizeof var) {
			var[len++] = (char)c;
			continue;
		}
		var[len] = '\0';
		len = 0;
		if (strncmp(var, "CONNLEAK_OPTIONS=", 17))
			continue;
		/* key=value pairs separated by ':', ',' or white space; the last one wins */
		for (char *tok = strtok(var + 17, ":, \t"); tok; tok = strtok(NULL, ":, \t"))
			if (!strncmp(tok, "report_dir=", 11)) {
				snprintf(dir, n, "%s", tok + 11);
				found = 0;
			}
	}
	fclose(f);
	return found;
}

static volatile sig_atomic_t resized;

static void on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

static int interactive(const char *dir, long long only_pid, int interval_ms)
{
	struct screen *s = calloc(1, sizeof *s);
	if (!s)
		return 1;
	long long selected = only_pid;
	signal(SIGWINCH, on_winch);
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	timeout(interval_ms);
	for (;;) {
		build(s, dir, only_pid, &selected);
		erase();
		int rows, cols;
		getmaxyx(stdscr, rows, cols);
		for (int i = 0; i < s->n && i < rows; i++) {
			if (s->lines[i][0] == '>')
				attron(A_REVERSE);
			mvaddnstr(i, 0, s->lines[i], cols);
			if (s->lines[i][0] == '>')
				attroff(A_REVERSE);
		}
		refresh();
		int ch = getch();
		if (resized) {
			resized = 0;
			endwin();
			refresh();
		}
		if (ch == 'q' || ch == 'Q')
			break;
		if (ch == 's' || ch == 'S')
			sort_key = (enum sort_key)((sort_key + 1) % SORT_COUNT);
		if (ch == '\t' || ch == 'j' || ch == KEY_DOWN || ch == 'k' || ch == KEY_UP) {
			/* The order of the rows shown: find the selected one's neighbour. */
			int at = -1, first = -1, count = 0;
			long long pids[64];
			for (int i = 0; i < s->n && count < 64; i++) {
				long long pid;
				if ((s->lines[i][0] == '>' || s->lines[i][0] == ' ') &&
				    sscanf(s->lines[i] + 1, "%lld", &pid) == 1 && isdigit(
					    (unsigned char)s->lines[i][strspn(s->lines[i] + 1, " ") + 1])) {
					if (first < 0)
						first = i;
					if (s->lines[i][0] == '>')
						at = count;
					pids[count++] = pid;
				}
			}
			if (count) {
				int step = (ch == 'k' || ch == KEY_UP) ? count - 1 : 1;
				selected = pids[((at < 0 ? 0 : at) + step) % count];
			}
		}
	}
	endwin();
	free(s);
	return 0;
}

static void top_usage(FILE *f)
{
	fprintf(f, "usage: connleak top [--once] [--interval MS] [DIR | PID]\n"
		   "  DIR  a report directory (default ./connleak-reports)\n"
		   "  PID  a running process: its report_dir from its CONNLEAK_OPTIONS, that "
		   "process only\n");
}

int cmd_top(int argc, char **argv)
{
	int once = 0, interval = 1000;
	const char *target = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--once")) {
			once = 1;
		} else if (!strcmp(argv[i], "--interval") && i + 1 < argc) {
			interval = atoi(argv[++i]);
			if (interval < 100 || interval > 3600000) {
				fprintf(stderr, "connleak top: --interval takes 100 to 3600000 ms\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			top_usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || target) {
			top_usage(stderr);
			return 2;
		} else {
			target = argv[i];
		}
	}
	char dir[4096];
	long long only_pid = 0;
	struct stat st;
	if (!target)
		target = "connleak-reports";
	if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(dir, sizeof dir, "%s", target);
	} else if (target[strspn(target, "0123456789")] == '\0') {
		only_pid = atoll(target);
		if (dir_of_pid(only_pid, dir, sizeof dir) != 0) {
			fprintf(stderr, "connleak top: process %s is not running with a report_dir "
					"in CONNLEAK_OPTIONS (%s)\n",
				target, strerror(errno ? errno : ESRCH));
			return 2;
		}
	} else {
		fprintf(stderr, "connleak top: %s: no such directory or process\n", target);
		return 2;
	}
	if (once || !isatty(STDOUT_FILENO)) {
		struct screen *s = calloc(1, sizeof *s);
		if (!s)
			return 1;
		long long selected = only_pid;
		build(s, dir, only_pid, &selected);
		for (int i = 0; i < s->n; i++)
			puts(s->lines[i]);
		free(s);
		symbolize_cleanup();
		return 0;
	}
	int rc = interactive(dir, only_pid, interval);
	symbolize_cleanup();
	return rc;
}
