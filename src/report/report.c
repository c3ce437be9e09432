/* Report files: named <exe>.<pid>.json in report_dir, created O_EXCL|O_NOFOLLOW with mode
 * 0600 so a pre-planted file or symlink is never followed or overwritten; the text report
 * goes to stderr or log_path. Problems are one line on stderr; the program goes on. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../track/findings.h"
#include "../track/model.h"
#include "../util/log.h"
#include "../util/real.h"
#include "../util/symbolize.h"
#include "perfmap_copy.h"

static void exe_base(char *buf, size_t n)
{
	char exe[512];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (len <= 0) {
		snprintf(buf, n, "unknown");
		return;
	}
	exe[len] = '\0';
	const char *b = strrchr(exe, '/');
	snprintf(buf, n, "%.200s", b ? b + 1 : exe);
	/* Keep names to one safe path component. */
	for (char *p = buf; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x20)
			*p = '_';
}

static int open_report(const char *dir, char *path, size_t n)
{
	char base[256];
	exe_base(base, sizeof base);
	for (int i = 0; i < 100; i++) {
		if (i == 0)
			snprintf(path, n, "%s/%s.%d.json", dir, base, (int)getpid());
		else
			snprintf(path, n, "%s/%s.%d.%d.json", dir, base, (int)getpid(), i);
		int fd = real.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static int open_log(const char *spec)
{
	if (!spec[0] || !strcmp(spec, "stderr"))
		return real.fcntl(2, F_DUPFD_CLOEXEC, 0);
	char path[PATH_MAX];
	size_t o = 0;
	for (const char *p = spec; *p && o + 16 < sizeof path; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(path + o, sizeof path - o, "%d", (int)getpid());
			p++;
		} else {
			path[o++] = *p;
		}
	}
	path[o] = '\0';
	return real.open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
}

void report_write(const struct options *o, const struct report_end *end, char *path, size_t n)
{
	int saved = errno;
	struct out out;
	path[0] = '\0';
	if (findings_total() && o->symbolize)
		symbolize_begin();
	if (o->report_dir[0]) {
		int fd = open_report(o->report_dir, path, n);
		if (fd < 0) {
			log_linef("connleak: cannot create a report in report_dir '%s': %s",
				  o->report_dir, strerror(errno));
			path[0] = '\0';
		} else {
			if (findings_total())
				perfmap_copy(path);
			out_init(&out, fd);
			json_report(&out, o, end);
			if (out_flush(&out) != 0)
				log_linef("connleak: writing report %s failed: %s", path,
					  strerror(errno));
			real.close(fd);
		}
	}
	if (findings_total()) {
		int fd = open_log(o->log_path);
		if (fd < 0) {
			log_linef("connleak: cannot open log_path '%s': %s", o->log_path,
				  strerror(errno));
		} else {
			out_init(&out, fd);
			text_report(&out);
			out_flush(&out);
			real.close(fd);
		}
	}
	symbolize_end();
	errno = saved;
}
