/* Sockets inherited across exec (see spawn.h). */
#include "spawn.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util/real.h"
#include "cloexec.h"
#include "findings.h"
#include "sock.h"

void spawn_noted(pid_t child, const char *program, stack_id stack)
{
	(void)child;
	const char *base = program ? strrchr(program, '/') : NULL;
	base = base ? base + 1 : program ? program : "?";
	model_lock();
	for (struct sock *s = sock_live_head(); s; s = sock_next(s)) {
		if (s->inherited || s->nfds <= 0)
			continue;
		if (!cloexec_inheritable(s->fd)) /* FD_CLOEXEC as the hooks saw it set */
			continue;
		s->spawned = 1;
		s->spawn_stack = stack;
		size_t n = strnlen(base, sizeof s->spawn_prog - 1);
		memcpy(s->spawn_prog, base, n);
		s->spawn_prog[n] = '\0';
	}
	model_unlock();
}

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* Calls fn(name) for each entry of directory `path`; stops when fn returns nonzero. */
static int each_entry(const char *path, int (*fn)(const char *name, void *ctx), void *ctx)
{
	int fd = real.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[4096];
	int found = 0;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (long off = 0; off < n && !found;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] >= '0' && d->d_name[0] <= '9')
				found = fn(d->d_name, ctx);
		}
		if (found)
			break;
	}
	real.close(fd);
	return found;
}

struct scan {
	char target[64]; /* "socket:[ino]" */
	const char *pid;
	int hit_pid;
};

static int fd_matches(const char *name, void *ctx)
{
	struct scan *sc = ctx;
	char path[96], link[64];
	snprintf(path, sizeof path, "/proc/%s/fd/%s", sc->pid, name);
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	return strcmp(link, sc->target) == 0;
}

static int process_holds(const char *pid, void *ctx)
{
	struct scan *sc = ctx;
	if (atoi(pid) == (int)getpid())
		return 0;
	char path[64];
	snprintf(path, sizeof path, "/proc/%s/fd", pid);
	sc->pid = pid;
	if (each_entry(path, fd_matches, sc)) {
		sc->hit_pid = atoi(pid);
		return 1;
	}
	return 0;
}

int spawn_holder(unsigned long ino, int *pid, char *prog, size_t n)
{
	struct scan sc = {.hit_pid = 0};
	snprintf(sc.target, sizeof sc.target, "socket:[%lu]", ino);
	if (!each_entry("/proc", process_holds, &sc))
		return 0;
	*pid = sc.hit_pid;
	prog[0] = '\0';
	char path[64], exe[256];
	snprintf(path, sizeof path, "/proc/%d/exe", sc.hit_pid);
	ssize_t k = readlink(path, exe, sizeof exe - 1);
	if (k > 0) {
		exe[k] = '\0';
		const char *b = strrchr(exe, '/');
		snprintf(prog, n, "%s", b ? b + 1 : exe);
	} else {
		/* Not ours to read (another user's): its name from comm. */
		snprintf(path, sizeof path, "/proc/%d/comm", sc.hit_pid);
		int fd = real.open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t r = real.read(fd, exe, sizeof exe - 1);
			real.close(fd);
			if (r > 0) {
				exe[r] = '\0';
				exe[strcspn(exe, "\n")] = '\0';
				snprintf(prog, n, "%s", exe);
			}
		}
	}
	return 1;
}

void spawn_close_check(struct sock *s, const struct close_ctx *c)
{
	struct finding f;
	int pid = 0;
	memset(&f, 0, sizeof f);
	if (!spawn_holder(c->ino, &pid, f.exec_prog, sizeof f.exec_prog))
		return;
	if (!f.exec_prog[0])
		snprintf(f.exec_prog, sizeof f.exec_prog, "%s", s->spawn_prog);
	model_describe(&f, s, -1, c->gen);
	f.fd = c->fd;
	f.gen = c->gen;
	f.key.kind = CONNLEAK_SHARED_CLOSE;
	f.key.created = s->created;
	f.key.closed = c->closed;
	f.forked = 1;
	f.exec_pid = pid;
	f.spawned = s->spawn_stack;
	findings_add(&f);
}
