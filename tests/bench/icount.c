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
 * ssl: an OpenSSL session over a loopback TCP pair (certificate and key from the files named
 * by ICOUNT_CERT and ICOUNT_KEY), handshaken in this thread on non-blocking sockets; then
 * SSL_write of 16 bytes on the client and SSL_read of them on the server, N times.
 * ssl4: the same on 4 such pairs in turn (8 sessions in this thread, as an event loop
 * serving a few connections has), counted in op_ssl as well.
 * thread: socket + connect + accept + close both, each time on a new thread (op_thread).
 * gnutls: the same with GnuTLS (gnutls_record_send / gnutls_record_recv).
 * An OP ending in _tls (fork_tls, child_exit_tls) first gives each of the OPEN sockets an
 * OpenSSL session (SSL_new + SSL_set_fd, no handshake): what must not grow with them either.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, used))

/* A forked child starts with its parent's callgrind counters: dumping them (and starting
 * from zero) right before each fork keeps the parent's cost out of the child's count, so
 * icount.py can tell the parent's side of a fork from the child's. */
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BEFORE_FORK() CALLGRIND_DUMP_STATS
#else
#define BEFORE_FORK() ((void)0)
#endif

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

/* thread: each connection on a thread of its own (a thread per request), made at the same
 * place in the program as every other: socket + connect + accept + close both. */
NOINLINE static void op_thread(void)
{
	int c = op_connect();
	int a = accept(lsn, NULL, NULL);
	close(a);
	op_close(c);
}

static void *connect_thread(void *arg)
{
	(void)arg;
	op_thread();
	return NULL;
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

static const char *env_or_die(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "icount: %s is not set\n", name);
		exit(2);
	}
	return v;
}

/* Non-blocking, and without Nagle: a small record written while the peer's ACK of the
 * previous one is delayed would otherwise wait for it (40 ms), never arriving for a read
 * made in the same thread. */
static void nonblocking(int fd)
{
	int one = 1;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
		die("O_NONBLOCK/TCP_NODELAY");
}

/* One SSL_write on the client and the SSL_read of its 16 bytes on the server. */
NOINLINE static void op_ssl(SSL *c, SSL *s, char *buf)
{
	if (SSL_write(c, buf, 16) != 16 || SSL_read(s, buf, 16) != 16)
		die("SSL_write/SSL_read");
}

static void ssl_pair(SSL **c, SSL **s)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	if (!sctx || !cctx ||
	    SSL_CTX_use_certificate_file(sctx, env_or_die("ICOUNT_CERT"), SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, env_or_die("ICOUNT_KEY"), SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		exit(2);
	}
	int cfd, sfd;
	connected_pair(&cfd, &sfd);
	nonblocking(cfd);
	nonblocking(sfd);
	*c = SSL_new(cctx);
	*s = SSL_new(sctx);
	if (!*c || !*s || SSL_set_fd(*c, cfd) != 1 || SSL_set_fd(*s, sfd) != 1)
		die("SSL_new");
	/* Both ends in this thread: step each until neither wants more. */
	int cdone = 0, sdone = 0;
	for (int i = 0; i < 1000 && !(cdone && sdone); i++) {
		if (!cdone) {
			int r = SSL_connect(*c);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(*c, r) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(*c, r) != SSL_ERROR_WANT_WRITE)
				die("SSL_connect");
		}
		if (!sdone) {
			int r = SSL_accept(*s);
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(*s, r) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(*s, r) != SSL_ERROR_WANT_WRITE)
				die("SSL_accept");
		}
	}
	if (!cdone || !sdone)
		die("handshake");
	/* One exchange each way (retried): what follows the handshake (TLS 1.3 session
	 * tickets) is read here, so every counted call moves exactly its own record. */
	char b[1] = {'x'};
	for (int dir = 0; dir < 2; dir++) {
		SSL *w = dir ? *s : *c, *r = dir ? *c : *s;
		if (SSL_write(w, b, 1) != 1)
			die("SSL_write (warm-up)");
		int got = 0;
		for (int i = 0; i < 1000 && got != 1; i++)
			got = SSL_read(r, b, 1);
		if (got != 1)
			die("SSL_read (warm-up)");
	}
}

NOINLINE static void op_gnutls(gnutls_session_t c, gnutls_session_t s, char *buf)
{
	if (gnutls_record_send(c, buf, 16) != 16 || gnutls_record_recv(s, buf, 16) != 16)
		die("gnutls_record_send/recv");
}

static void gnutls_pair(gnutls_session_t *c, gnutls_session_t *s)
{
	gnutls_certificate_credentials_t scred, ccred;
	if (gnutls_certificate_allocate_credentials(&scred) ||
	    gnutls_certificate_allocate_credentials(&ccred) ||
	    gnutls_certificate_set_x509_key_file(scred, env_or_die("ICOUNT_CERT"),
						 env_or_die("ICOUNT_KEY"), GNUTLS_X509_FMT_PEM))
		die("gnutls credentials");
	int cfd, sfd;
	connected_pair(&cfd, &sfd);
	nonblocking(cfd);
	nonblocking(sfd);
	if (gnutls_init(c, GNUTLS_CLIENT | GNUTLS_NONBLOCK) ||
	    gnutls_init(s, GNUTLS_SERVER | GNUTLS_NONBLOCK) || gnutls_set_default_priority(*c) ||
	    gnutls_set_default_priority(*s) ||
	    gnutls_credentials_set(*c, GNUTLS_CRD_CERTIFICATE, ccred) ||
	    gnutls_credentials_set(*s, GNUTLS_CRD_CERTIFICATE, scred))
		die("gnutls_init");
	gnutls_transport_set_int(*c, cfd);
	gnutls_transport_set_int(*s, sfd);
	int cdone = 0, sdone = 0;
	for (int i = 0; i < 1000 && !(cdone && sdone); i++) {
		if (!cdone) {
			int r = gnutls_handshake(*c);
			if (r == 0)
				cdone = 1;
			else if (gnutls_error_is_fatal(r))
				die("gnutls_handshake (client)");
		}
		if (!sdone) {
			int r = gnutls_handshake(*s);
			if (r == 0)
				sdone = 1;
			else if (gnutls_error_is_fatal(r))
				die("gnutls_handshake (server)");
		}
	}
	if (!cdone || !sdone)
		die("gnutls handshake");
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: icount connect|accept|thread|sendrecv|rw|rwreused|closepipe|getaddrinfo|detach|fork|"
				"child_exit|ssl|ssl4|gnutls N [OPEN]\n");
		return 2;
	}
	char opbuf[64];
	snprintf(opbuf, sizeof opbuf, "%s", argv[1]);
	size_t oplen = strlen(opbuf);
	int open_tls = oplen > 4 && !strcmp(opbuf + oplen - 4, "_tls");
	if (open_tls)
		opbuf[oplen - 4] = '\0';
	const char *op = opbuf;
	long n = atol(argv[2]), open_n = argc > 3 ? atol(argv[3]) : 10;
	char buf[16] = "0123456789abcdef";
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)open_n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)open_n + 64 ? rl.rlim_max : (rlim_t)open_n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	SSL_CTX *open_ctx = open_tls ? SSL_CTX_new(TLS_client_method()) : NULL;
	if (open_tls && !open_ctx)
		die("SSL_CTX_new");
	for (long i = 0; i < open_n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket (open)");
		SSL *ssl = open_tls ? SSL_new(open_ctx) : NULL;
		if (open_tls && (!ssl || SSL_set_fd(ssl, fd) != 1))
			die("SSL_new (open)");
	}
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
	} else if (!strcmp(op, "thread")) {
		for (long i = 0; i < n; i++) {
			pthread_t t;
			if (pthread_create(&t, NULL, connect_thread, NULL) || pthread_join(t, NULL))
				die("pthread_create");
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
	} else if (!strcmp(op, "rwreused")) {
		/* A pipe on the numbers of two sockets the program closed (the lowest free
		 * numbers come back): after its first call, as cheap as any pipe. */
		int s0 = socket(AF_INET, SOCK_STREAM, 0), s1 = socket(AF_INET, SOCK_STREAM, 0);
		int p[2];
		if (s0 < 0 || s1 < 0 || close(s0) || close(s1) || pipe(p))
			die("socket/close/pipe");
		if (!((p[0] == s0 || p[0] == s1) && (p[1] == s0 || p[1] == s1)))
			die("the pipe did not reuse the sockets' numbers");
		for (long i = 0; i < n; i++)
			op_rw(p[1], p[0], buf);
	} else if (!strcmp(op, "closepipe")) {
		/* close() of descriptors that are not sockets: both ends of a pipe. */
		for (long i = 0; i < n; i++) {
			int p[2];
			if (pipe(p))
				die("pipe");
			op_close(p[0]);
			op_close(p[1]);
		}
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
			if (!child_exit)
				BEFORE_FORK();
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
	} else if (!strcmp(op, "ssl")) {
		SSL *c, *s;
		ssl_pair(&c, &s);
		for (long i = 0; i < n; i++)
			op_ssl(c, s, buf);
	} else if (!strcmp(op, "ssl4")) {
		SSL *c[4], *s[4];
		for (int k = 0; k < 4; k++)
			ssl_pair(&c[k], &s[k]);
		for (long i = 0; i < n; i++)
			op_ssl(c[i % 4], s[i % 4], buf);
	} else if (!strcmp(op, "gnutls")) {
		gnutls_session_t c, s;
		gnutls_pair(&c, &s);
		for (long i = 0; i < n; i++)
			op_gnutls(c, s, buf);
	} else {
		fprintf(stderr, "icount: unknown op %s\n", op);
		return 2;
	}
	return 0;
}
