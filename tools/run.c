/* `connleak run`: runs a program under the preload (CONNLEAK=1, the library put in front of
 * LD_PRELOAD, report_dir set), waits for it, sums up the reports it left (read with jansson)
 * and returns its exit status. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "connleak/connleak.h"
#include "cli.h"

static const char *const kind_names[] = CONNLEAK_KIND_NAMES;

/* The library sits beside the command in the build tree, or in ../lib/connleak when
 * installed; CONNLEAK_LIB overrides both. */
static int find_library(char *out, size_t n)
{
	const char *env = getenv("CONNLEAK_LIB");
	if (env && *env) {
		snprintf(out, n, "%s", env);
		return access(out, R_OK);
	}
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0)
		return -1;
	self[len] = '\0';
	char *slash = strrchr(self, '/');
	*slash = '\0';
	const char *candidates[] = {"/libconnleak.so", "/../lib/connleak/libconnleak.so"};
	for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
		if ((size_t)snprintf(out, n, "%s%s", self, candidates[i]) >= n)
			continue;
		char *resolved = realpath(out, NULL);
		if (resolved) {
			snprintf(out, n, "%s", resolved);
			free(resolved);
			return 0;
		}
	}
	return -1;
}

static int make_dir(const char *dir)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = path + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(path, 0755) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(path, 0700) != 0)
		return errno == EEXIST ? 0 : -1;
	/* Made here: sticky and world-writable like /tmp, so workers that drop privileges
	 * (nginx as www-data, memcached -u nobody) can write their reports. Safe because every
	 * file is created O_EXCL|O_NOFOLLOW 0600 and published without replacing anything
	 * another user owns. An existing directory is left as it is. */
	return chmod(path, 01777);
}

/* Processes whose report could not be written tell us their pid on this abstract Unix
 * datagram socket (option run_notify): no file permission is involved. */
static int notify_fd = -1;
static char notify_name[64];

static void notify_open(void)
{
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (notify_fd < 0)
		return;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(notify_name, sizeof notify_name, "connleak-run.%d.%ld", (int)getpid(),
		 (long)time(NULL));
	size_t len = strlen(notify_name);
	memcpy(sa.sun_path + 1, notify_name, len);
	if (bind(notify_fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) != 0) {
		close(notify_fd);
		notify_fd = -1;
		notify_name[0] = '\0';
	}
}

static int notify_count(void)
{
	if (notify_fd < 0)
		return 0;
	int n = 0;
	char buf[64];
	while (recv(notify_fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* The perf map a process of this run left in /tmp because we asked for it: its copy is
 * beside the report when the report needs it, so /tmp is not left to fill up. */
static void drop_perf_map(json_t *root, time_t since)
{
	json_int_t pid = json_integer_value(json_object_get(root, "pid"));
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/tmp/perf-%lld.map", (long long)pid);
	if (pid > 0 && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    st.st_mtime >= since)
		unlink(path);
}

/* Counts the findings in the reports of this run (files modified since `since`); returns how
 * many reports there were. */
static int summarize(const char *dir, time_t since, int drop_maps, const char *static_cmd)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	unsigned long per_kind[CONNLEAK_KIND_COUNT] = {0}, other = 0, total = 0;
	int reports = 0, unreadable = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		char path[PATH_MAX];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || st.st_mtime < since)
			continue;
		json_error_t err;
		json_t *root = json_load_file(path, 0, &err);
		json_t *findings = root ? json_object_get(root, "findings") : NULL;
		if (!json_is_array(findings)) {
			fprintf(stderr, "connleak: %s: not a connleak report (%s)\n", path,
				root ? "no findings array" : err.text);
			unreadable++;
			json_decref(root);
			continue;
		}
		reports++;
		if (drop_maps)
			drop_perf_map(root, since);
		size_t i;
		json_t *f;
		json_array_foreach(findings, i, f)
		{
			const char *kind = json_string_value(json_object_get(f, "kind"));
			json_int_t count = json_integer_value(json_object_get(f, "count"));
			if (count < 1)
				count = 1;
			total += (unsigned long)count;
			int k;
			for (k = 0; k < CONNLEAK_KIND_COUNT; k++)
				if (kind && !strcmp(kind, kind_names[k]))
					break;
			if (k < CONNLEAK_KIND_COUNT)
				per_kind[k] += (unsigned long)count;
			else
				other += (unsigned long)count;
		}
		json_decref(root);
	}
	closedir(d);
	if (!reports && !unreadable && static_cmd) {
		fprintf(stderr, "connleak: %s is statically linked: the preload cannot load into it, "
				"so nothing of it was seen (no report)\n", static_cmd);
		return 0;
	}
	fprintf(stderr, "connleak: %d process report(s) in %s: %lu finding(s)", reports, dir,
		total);
	const char *sep = ": ";
	for (int k = 0; k < CONNLEAK_KIND_COUNT; k++)
		if (per_kind[k]) {
			fprintf(stderr, "%s%lu %s", sep, per_kind[k], kind_names[k]);
			sep = ", ";
		}
	if (other)
		fprintf(stderr, "%s%lu of unknown kinds", sep, other);
	if (unreadable)
		fprintf(stderr, " (%d unreadable file(s))", unreadable);
	int lost = notify_count();
	if (lost)
		fprintf(stderr, "; %d process(es) could not write a report (see their stderr)", lost);
	fputc('\n', stderr);
	return reports;
}

/* A sanitizer runtime must stay the first preloaded library. */
static int is_sanitizer_runtime(const char *entry, size_t len)
{
	static const char *const names[] = {"libclang_rt.", "libasan.so", "libtsan.so",
					    "libubsan.so", "libhwasan.so", "liblsan.so"};
	const char *base = entry;
	for (size_t i = 0; i < len; i++)
		if (entry[i] == '/')
			base = entry + i + 1;
	size_t blen = len - (size_t)(base - entry);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (blen >= strlen(names[i]) && !strncmp(base, names[i], strlen(names[i])))
			return 1;
	return 0;
}

/* LD_PRELOAD for the command: sanitizer runtimes already there, the library, the rest. */
static char *preload_list(const char *lib, const char *prev)
{
	size_t plen = strlen(lib) + (prev ? strlen(prev) : 0) + 3;
	char *out = malloc(plen);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (int pass = 0; pass < 3; pass++) {
		if (pass == 1) {
			if (*out)
				strcat(out, ":");
			strcat(out, lib);
			continue;
		}
		for (const char *p = prev ? prev : ""; *p;) {
			size_t n = strcspn(p, ": ");
			if (n && is_sanitizer_runtime(p, n) == (pass == 0)) {
				if (*out)
					strcat(out, ":");
				strncat(out, p, n);
			}
			p += n;
			p += strspn(p, ": ");
		}
	}
	return out;
}

int cmd_run(int argc, char **argv)
{
	const char *dir = "connleak-reports", *extra = NULL;
	int i = 0, perf_maps = 1;
	while (i < argc) {
		if (!strcmp(argv[i], "--report-dir") && i + 1 < argc) {
			dir = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--report-dir=", 13)) {
			dir = argv[i++] + 13;
		} else if (!strcmp(argv[i], "--options") && i + 1 < argc) {
			extra = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--options=", 10)) {
			extra = argv[i++] + 10;
		} else if (!strcmp(argv[i], "--no-perf-maps")) {
			perf_maps = 0;
			i++;
		} else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "connleak run: unknown option '%s'\n", argv[i]);
			connleak_usage(stderr);
			return 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		connleak_usage(stderr);
		return 2;
	}
	char lib[PATH_MAX];
	if (find_library(lib, sizeof lib) != 0) {
		fprintf(stderr, "connleak: cannot find libconnleak.so beside the command or in "
				"../lib/connleak (set CONNLEAK_LIB)\n");
		return 2;
	}
	if (make_dir(dir) != 0) {
		fprintf(stderr, "connleak: cannot create report directory '%s': %s\n", dir,
			strerror(errno));
		return 2;
	}
	char absdir[PATH_MAX];
	if (!realpath(dir, absdir))
		snprintf(absdir, sizeof absdir, "%s", dir);

	/* Options: the caller's CONNLEAK_OPTIONS, then ours (later keys win). The directory
	 * is quoted, so that spaces, ':' or "exitcode=42" in its name stay part of it. */
	char quote = strchr(absdir, '\'') ? '"' : '\'';
	if (strchr(absdir, '\'') && strchr(absdir, '"')) {
		fprintf(stderr, "connleak: the report directory's name holds both ' and \"; "
				"CONNLEAK_OPTIONS cannot quote it\n");
		return 2;
	}
	const char *prev_opts = getenv("CONNLEAK_OPTIONS");
	notify_open();
	size_t olen = (prev_opts ? strlen(prev_opts) : 0) + strlen(absdir) + (extra ? strlen(extra) : 0) + 32 + sizeof notify_name + 16;
	char *opts = malloc(olen);
	if (!opts) {
		perror("connleak");
		return 2;
	}
	snprintf(opts, olen, "%s%sreport_dir=%c%s%c%s%s%s%s", prev_opts ? prev_opts : "",
		 prev_opts && *prev_opts ? ":" : "", quote, absdir, quote, extra ? ":" : "",
		 extra ? extra : "", notify_name[0] ? ":run_notify=" : "", notify_name);
	char *preload = preload_list(lib, getenv("LD_PRELOAD"));
	if (!preload) {
		perror("connleak");
		return 2;
	}
	setenv("CONNLEAK", "1", 1);
	setenv("CONNLEAK_OPTIONS", opts, 1);
	setenv("LD_PRELOAD", preload, 1);
	free(opts);
	free(preload);
	/* Maps we asked for are ours to clean up; a runtime's map the user asked for is not. */
	int drop_maps = perf_maps && !getenv("DOTNET_PerfMapEnabled") &&
			!getenv("PYTHONPERFSUPPORT") &&
			!(getenv("NODE_OPTIONS") && strstr(getenv("NODE_OPTIONS"), "perf")) &&
			!(getenv("JAVA_TOOL_OPTIONS") && strstr(getenv("JAVA_TOOL_OPTIONS"), "PerfMap"));
	if (perf_maps)
		run_env_perf_maps();
	const char *static_cmd = run_command_is_static(argv[i]) ? argv[i] : NULL;

	time_t start = time(NULL);
	/* Like system(): the terminal's signals go to the child; we wait for its status. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	pid_t pid = fork();
	if (pid < 0) {
		perror("connleak: fork");
		return 2;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGQUIT, SIG_DFL);
		execvp(argv[i], argv + i);
		fprintf(stderr, "connleak: cannot run '%s': %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("connleak: waitpid");
			return 2;
		}
	summarize(absdir, start, drop_maps, static_cmd);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
