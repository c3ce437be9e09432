/* Report files: temporary file + rename, and the claim on <exe>.<pid>.json. The claim
 * state lives in this process; a helper process (report from a signal, a snapshot) tells
 * the parent what became of it through its exit status. */
#include "publish.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util/real.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

static char exe_path[PATH_MAX];
static char exe_base[256];

void publish_init(void)
{
	ssize_t len = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
	exe_path[len > 0 ? len : 0] = '\0';
	const char *b = strrchr(exe_path, '/');
	snprintf(exe_base, sizeof exe_base, "%.200s", len <= 0 ? "unknown" : b ? b + 1 : exe_path);
	/* Keep names to one safe path component. */
	for (char *p = exe_base; *p; p++)
		if (*p == '/' || (unsigned char)*p < 0x20)
			*p = '_';
}

const char *publish_exe(void)
{
	return exe_path;
}

static struct {
	char path[PATH_MAX];
	int suffix;    /* next suffix to try */
	int state;     /* 0 none, 1 chosen, 2 published by us */
	unsigned tmpseq;
} pub;

void publish_reset(void)
{
	pub.path[0] = '\0';
	pub.suffix = 0;
	pub.state = 0;
}

static void name_for(const char *dir, int pid, int i, char *path, size_t n)
{
	if (i == 0)
		snprintf(path, n, "%s/%s.%d.json", dir, exe_base, pid);
	else
		snprintf(path, n, "%s/%s.%d.%d.json", dir, exe_base, pid, i);
}

void publish_choose(const char *dir, int pid)
{
	if (pub.state)
		return;
	struct stat st;
	for (; pub.suffix < 100; pub.suffix++) {
		name_for(dir, pid, pub.suffix, pub.path, sizeof pub.path);
		if (lstat(pub.path, &st) != 0 && errno == ENOENT) {
			pub.state = 1;
			return;
		}
	}
	pub.path[0] = '\0';
}

int publish_open_tmp(const char *dir, int pid, char *tmp, size_t n)
{
	for (int i = 0; i < 100; i++) {
		/* A dot file not ending in .json: `connleak report` never reads it. */
		snprintf(tmp, n, "%s/.connleak.%d.%u.tmp", dir, pid, pub.tmpseq++);
		int fd = real.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	return -1;
}

static int rename_noreplace(const char *from, const char *to)
{
	long r = real.syscall(SYS_renameat2, (long)AT_FDCWD, (long)from, (long)AT_FDCWD, (long)to,
			      (long)RENAME_NOREPLACE);
	if (r == 0 || (errno != EINVAL && errno != ENOSYS))
		return (int)r;
	/* A filesystem without RENAME_NOREPLACE: link() never replaces either. */
	if (link(from, to) != 0)
		return -1;
	real.unlink(from);
	return 0;
}

int publish_commit(const char *tmp)
{
	if (!pub.state) {
		errno = EEXIST;
		real.unlink(tmp);
		return -1;
	}
	int r = pub.state == 2 ? rename(tmp, pub.path) : rename_noreplace(tmp, pub.path);
	int err = errno;
	if (r == 0) {
		pub.state = 2;
		return 0;
	}
	real.unlink(tmp);
	if (err == EEXIST) {
		/* Someone else holds the name: the next write takes the next one. */
		pub.state = 0;
		pub.suffix++;
	}
	errno = err;
	return -1;
}

void publish_helper_result(int code)
{
	if (code == PUBLISH_OK && pub.state == 1)
		pub.state = 2;
	else if (code == PUBLISH_NAME_TAKEN && pub.state == 1) {
		pub.state = 0;
		pub.suffix++;
	}
}

const char *publish_target(void)
{
	return pub.state ? pub.path : "";
}

const char *publish_path(void)
{
	return pub.state == 2 ? pub.path : "";
}

void publish_unlink(void)
{
	if (pub.state == 2) {
		int saved = errno;
		real.unlink(pub.path);
		errno = saved;
	}
	pub.state = 0;
}
