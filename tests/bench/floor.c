/* tests/bench/floor.c — the floor of `make bench`'s churn row: a preload that does the least
 * any tool following every socket must do, and nothing else.
 *
 * A record per socket (malloc'd, with the caller's return address and a coarse time), kept
 * in a table by descriptor number; the peer's address at connect; bytes and the time at
 * every read and write; the record freed at close. No stacks, no model, no report: only
 * the calls churn makes (socket, connect, write, read, close). Its CPU-time ratio against
 * bare, in the same rounds as connleak's, tells how much of connleak's ratio is the
 * machine's (a library between the program and libc, cold code and data between two
 * system calls) and how much is connleak's own work.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536

struct rec {
	void *site;
	long t_created, t_io;
	long bytes_in, bytes_out;
	struct sockaddr_storage peer;
};

static struct rec *recs[MAXFD];
static int (*real_socket)(int, int, int);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_close)(int);

__attribute__((constructor)) static void floor_init(void)
{
	real_socket = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
	real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	real_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct rec *rec_of(int fd)
{
	return fd >= 0 && fd < MAXFD ? recs[fd] : NULL;
}

int socket(int domain, int type, int protocol)
{
	int fd = real_socket(domain, type, protocol);
	if (fd >= 0 && fd < MAXFD) {
		struct rec *r = calloc(1, sizeof *r);
		if (r) {
			r->site = __builtin_return_address(0);
			r->t_created = now_ms();
		}
		recs[fd] = r;
	}
	return fd;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int ret = real_connect(fd, addr, len);
	struct rec *r = rec_of(fd);
	if (r && addr && len <= sizeof r->peer)
		memcpy(&r->peer, addr, len);
	return ret;
}

ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t got = real_read(fd, buf, n);
	struct rec *r = got > 0 ? rec_of(fd) : NULL;
	if (r) {
		r->bytes_in += got;
		r->t_io = now_ms();
	}
	return got;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t put = real_write(fd, buf, n);
	struct rec *r = put > 0 ? rec_of(fd) : NULL;
	if (r) {
		r->bytes_out += put;
		r->t_io = now_ms();
	}
	return put;
}

int close(int fd)
{
	if (fd >= 0 && fd < MAXFD && recs[fd]) {
		free(recs[fd]);
		recs[fd] = NULL;
	}
	return real_close(fd);
}
