/* tests/bench/icount.c — fixed-count operations for instruction counting (tests/bench/icount.py).
 *
 * Usage: icount OP N [OPEN]
 * Opens OPEN (default 10) extra TCP sockets first (the "open sockets" a cost must not grow
 * with), sets up what OP needs, then performs OP N times, each inside a noinline function
 * named op_<OP>.  icount.py runs this under `valgrind --tool=callgrind --toggle-collect=op_*`,
 * so only the instructions inside those functions (and what they call: libc, connleak's
 * hooks) are counted — start-up, set-up and exit are not — bare and preloaded; the
 * difference divided by N is what connleak adds per operation.
 * All peers are in this process on 127.0.0.1.  Exits non-zero on the first failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, used))

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int lsn = -1;
static struct sockaddr_in lsa;

static void listener(void)
{
	socklen_t l = sizeof lsa;
	lsn = socket(AF_INET, SOCK_STREAM, 0);
	if (lsn < 0)
		die("socket");
	memset(&lsa, 0, sizeof lsa);
	lsa.sin_family = AF_INET;
	lsa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lsn, (struct sockaddr *)&lsa, sizeof lsa) || listen(lsn, 128) ||
	    getsockname(lsn, (struct sockaddr *)&lsa, &l))
		die("listen");
}

/* socket + connect + close on the client side (the server side is accepted outside). */
NOINLINE static int op_connect(void)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&lsa, sizeof lsa))
		die("connect");
	return c;
}
NOINLINE static void op_close(int fd)
{
	close(fd);
}

NOINLINE static int op_accept(void)
{
	int a = accept(lsn, NULL, NULL);
	if (a < 0)
		die("accept");
	return a;
}

/* One 16-byte send and the matching recv (a round trip is two calls). */
NOINLINE static void op_sendrecv(int c, int a, char *buf)
{
	if (send(c, buf, 16, 0) != 16 || recv(a, buf, 16, 0) != 16)
		die("send/recv");
}

NOINLINE static void op_rw(int w, int r, char *buf)
{
	if (write(w, buf, 16) != 16 || read(r, buf, 16) != 16)
		die("write/read");
}

NOINLINE static void op_getaddrinfo(void)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	if (getaddrinfo("localhost", "80", &hints, &res))
		die("getaddrinfo");
	freeaddrinfo(res);
}

/* dup a socket, close the original (the record stays with the copy), close the copy. */
NOINLINE static void op_detach(int fd)
{
	int d = dup(fd);
	if (d < 0)
		die("dup");
	close(fd);
	if (dup2(d, fd) < 0)
		die("dup2");
	close(d);
}

NOINLINE static pid_t op_fork(void)
{
	return fork();
}

NOINLINE static void op_child_exit(void)
{
	exit(0);
}

static void connected_pair(int *c, int *a)
{
	*c = op_connect();
	*a = accept(lsn, NULL, NULL);
	if (*a < 0)
		die("accept");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: icount connect|accept|sendrecv|rw|getaddrinfo|detach|fork|"
				"child_exit N [OPEN]\n");
		return 2;
	}
	const char *op = argv[1];
	long n = atol(argv[2]), open_n = argc > 3 ? atol(argv[3]) : 10;
	char buf[16] = "0123456789abcdef";
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)open_n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)open_n + 64 ? rl.rlim_max : (rlim_t)open_n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (long i = 0; i < open_n; i++)
		if (socket(AF_INET, SOCK_STREAM, 0) < 0)
			die("socket (open)");
	listener();

	if (!strcmp(op, "connect") || !strcmp(op, "accept")) {
		for (long i = 0; i < n; i++) {
			int c, a;
			if (op[0] == 'c') {
				c = op_connect();
				a = accept(lsn, NULL, NULL);
				close(a);
				op_close(c);
			} else {
				c = socket(AF_INET, SOCK_STREAM, 0);
				if (c < 0 || connect(c, (struct sockaddr *)&lsa, sizeof lsa))
					die("connect");
				a = op_accept();
				op_close(a);
				close(c);
			}
		}
	} else if (!strcmp(op, "sendrecv")) {
		int c, a;
		connected_pair(&c, &a);
		for (long i = 0; i < n; i++)
			op_sendrecv(c, a, buf);
	} else if (!strcmp(op, "rw")) {
		int p[2];
		if (pipe(p))
			die("pipe");
		for (long i = 0; i < n; i++)
			op_rw(p[1], p[0], buf);
	} else if (!strcmp(op, "getaddrinfo")) {
		for (long i = 0; i < n; i++)
			op_getaddrinfo();
	} else if (!strcmp(op, "detach")) {
		int c, a;
		connected_pair(&c, &a);
		for (long i = 0; i < n; i++)
			op_detach(c);
	} else if (!strcmp(op, "fork") || !strcmp(op, "child_exit")) {
		int child_exit = op[0] == 'c';
		for (long i = 0; i < n; i++) {
			pid_t p = child_exit ? fork() : op_fork();
			if (p < 0)
				die("fork");
			if (p == 0) {
				if (child_exit)
					op_child_exit();
				_exit(0);
			}
			int st;
			if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
				die("child");
		}
	} else {
		fprintf(stderr, "icount: unknown op %s\n", op);
		return 2;
	}
	return 0;
}
