/* Copies the perf map next to the report when the report has findings (only then do its
 * frames need names). With the real read/write only; bounded like the reader: the newest
 * 64 MiB of the map, from a line start. */
#include "perfmap_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/real.h"

#define MAX_BYTES (64 << 20)

static char copy_name[288];

const char *perfmap_copy_name(void)
{
	return copy_name[0] ? copy_name : NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = real.write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

void perfmap_copy(const char *report_path)
{
	int saved = errno;
	copy_name[0] = '\0';
	char src[64], dst[4096];
	snprintf(src, sizeof src, "/tmp/perf-%d.map", (int)getpid());
	size_t len = strlen(report_path);
	if (len < 5 || strcmp(report_path + len - 5, ".json") ||
	    (size_t)snprintf(dst, sizeof dst, "%.*s.perf.map", (int)(len - 5), report_path) >=
		    sizeof dst)
		goto out;
	int in = real.open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		goto out;
	struct stat st;
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size <= 0) {
		real.close(in);
		goto out;
	}
	int skip_line = 0;
	if (st.st_size > MAX_BYTES) {
		lseek(in, st.st_size - MAX_BYTES, SEEK_SET);
		skip_line = 1;
	}
	int outfd = real.open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (outfd < 0) {
		real.close(in);
		goto out;
	}
	char buf[16384];
	int ok = 1;
	for (;;) {
		ssize_t r = real.read(in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ok = r == 0;
			break;
		}
		const char *p = buf;
		size_t n = (size_t)r;
		if (skip_line) {
			const char *nl = memchr(p, '\n', n);
			if (!nl)
				continue;
			skip_line = 0;
			n -= (size_t)(nl + 1 - p);
			p = nl + 1;
		}
		if (write_all(outfd, p, n) != 0) {
			ok = 0;
			break;
		}
	}
	real.close(in);
	real.close(outfd);
	if (!ok) {
		unlink(dst);
		goto out;
	}
	const char *base = strrchr(dst, '/');
	snprintf(copy_name, sizeof copy_name, "%.280s", base ? base + 1 : dst);
out:
	errno = saved;
}
