/* Unit tests for what a socket open at exit is (track/atexit.c): held for reuse
 * (open-at-exit, counted, shown only with show_open_at_exit=1), leaked (never used, mid
 * exchange, peer gone, abandoned for a newer one from the same call site to the same peer),
 * or not a connection at all. Real loopback sockets drive the model as the hooks would. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "track/fdtable.h"
#include "track/findings.h"
#include "track/io.h"
#include "track/model.h"

static struct options opts;

static void init_show(int show)
{
	options_defaults(&opts);
	opts.show_open_at_exit = show;
	model_init(&opts);
}

static int listener(struct sockaddr_in *a)
{
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)a, sizeof *a), 0);
	socklen_t len = sizeof *a;
	cr_assert_eq(getsockname(l, (struct sockaddr *)a, &len), 0);
	cr_assert_eq(listen(l, 16), 0);
	return l;
}

/* socket() + connect() from one call site (the same stack each time: a loop body). */
static __attribute__((noinline)) int open_conn(const struct sockaddr_in *a, int l, int *server)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	model_new_socket(fd, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
	cr_assert_eq(connect(fd, (const struct sockaddr *)a, sizeof *a), 0);
	model_connect(fd, (const struct sockaddr *)a, sizeof *a);
	*server = accept(l, NULL, NULL);
	cr_assert_geq(*server, 0);
	return fd;
}

/* A request and its reply on the client side. */
static void exchange(int fd, int server)
{
	char buf[64];
	cr_assert_eq(write(fd, "GET\n", 4), 4);
	io_wrote(fdt_sock(fd), 4, 0);
	cr_assert_eq(read(server, buf, sizeof buf), 4);
	cr_assert_eq(write(server, "OK\n", 3), 3);
	ssize_t r = read(fd, buf, sizeof buf);
	cr_assert_eq(r, 3);
	io_read(fdt_sock(fd), r, sizeof buf, 0, 0);
}

Test(atexit, idle_after_exchange_is_held_and_hidden_by_default)
{
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a), srv;
	int fd = open_conn(&a, l, &srv);
	exchange(fd, srv);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
	cr_assert_eq(model_state.stats.reusable_at_exit, 1);
}

/* A client that writes on one thread and reads on another: the reply can be read before
 * the writing thread's hook has seen its write return. The hooks' order then is: the
 * bytes read before the write (io_bytes_in), the reader's read, the write. */
static void exchange_answered_first(int fd, int server)
{
	char buf[64];
	struct sock *s = fdt_sock(fd);
	uint64_t in0 = io_bytes_in(s);
	cr_assert_eq(write(fd, "GET\n", 4), 4);
	cr_assert_eq(read(server, buf, sizeof buf), 4);
	cr_assert_eq(write(server, "OK\n", 3), 3);
	ssize_t r = read(fd, buf, sizeof buf);
	cr_assert_eq(r, 3);
	io_read(s, r, sizeof buf, 0, 0);
	struct iovec v = {"GET\n", 4};
	io_wrote_since(s, 4, 0, &v, 1, in0);
}

Test(atexit, reply_read_before_the_write_hook_is_a_complete_exchange)
{
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a), srv;
	int fd = open_conn(&a, l, &srv);
	exchange_answered_first(fd, srv); /* the first request */
	struct sock *s = fdt_sock(fd);
	cr_expect_eq(atomic_load(&s->replies), 1);
	exchange_answered_first(fd, srv); /* a request on the reused connection */
	cr_expect_eq(atomic_load(&s->replies), 2);
	cr_expect_eq(atomic_load(&s->reuse_pending), 0, "the reused request has its answer");
	model_exit_checks();
	cr_assert_eq(findings_total(), 0, "a pooled connection, not a leak");
	cr_assert_eq(model_state.stats.reusable_at_exit, 1);
}

Test(atexit, shown_with_show_open_at_exit)
{
	init_show(1);
	struct sockaddr_in a;
	int l = listener(&a), srv;
	int fd = open_conn(&a, l, &srv);
	exchange(fd, srv);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_OPEN_AT_EXIT), 1);
	cr_assert_eq(findings_total(), 1);
	cr_assert_eq(model_state.stats.reusable_at_exit, 1);
}

Test(atexit, one_per_request_abandoned_ones_are_leaks)
{
	init_show(1);
	struct sockaddr_in a;
	int l = listener(&a), srv[3], fd[3];
	for (int i = 0; i < 3; i++) {
		fd[i] = open_conn(&a, l, &srv[i]);
		exchange(fd[i], srv[i]);
	}
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 2, "the two abandoned ones");
	cr_assert_eq(findings_of_kind(CONNLEAK_OPEN_AT_EXIT), 1, "the newest");
	cr_assert_eq(model_state.stats.reusable_at_exit, 1);
}

Test(atexit, a_pool_in_use_is_held)
{
	/* wrk's connections: all made first, all used to the end. */
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a), srv[3], fd[3];
	for (int i = 0; i < 3; i++)
		fd[i] = open_conn(&a, l, &srv[i]);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 3; i++)
			exchange(fd[i], srv[i]);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
	cr_assert_eq(model_state.stats.reusable_at_exit, 3);
}

Test(atexit, a_pool_stopped_mid_exchange_by_exit_is_held)
{
	/* wrk when its run ends: requests in flight on every connection of the pool. */
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a), srv[3], fd[3];
	for (int i = 0; i < 3; i++)
		fd[i] = open_conn(&a, l, &srv[i]);
	for (int i = 0; i < 3; i++) {
		exchange(fd[i], srv[i]);
		cr_assert_eq(write(fd[i], "GET\n", 4), 4);
		io_wrote(fdt_sock(fd[i]), 4, 0);
	}
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
	cr_assert_eq(model_state.stats.reusable_at_exit, 3);
}

Test(atexit, never_used_is_a_leak)
{
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a), srv;
	open_conn(&a, l, &srv);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	cr_assert_eq(model_state.stats.reusable_at_exit, 0);
}

Test(atexit, mid_exchange_is_a_leak)
{
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a), srv;
	int fd = open_conn(&a, l, &srv);
	exchange(fd, srv);
	cr_assert_eq(write(fd, "GET\n", 4), 4);
	io_wrote(fdt_sock(fd), 4, 0); /* the request is out, its reply never read */
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
}

Test(atexit, peer_gone_is_a_leak)
{
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a), srv;
	int fd = open_conn(&a, l, &srv);
	exchange(fd, srv);
	close(srv); /* CLOSE_WAIT on the client, EOF never read */
	char c;
	for (int i = 0; i < 1000 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != 0; i++)
		usleep(1000);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	cr_assert_eq(model_state.stats.reusable_at_exit, 0);
}

Test(atexit, server_idle_after_its_reply_is_held_mid_request_is_a_leak)
{
	init_show(0);
	struct sockaddr_in a;
	int l = listener(&a);
	int c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(c1, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(connect(c2, (struct sockaddr *)&a, sizeof a), 0);
	struct sockaddr_in p;
	socklen_t len = sizeof p;
	int s1 = accept(l, (struct sockaddr *)&p, &len);
	model_accepted(l, s1, (struct sockaddr *)&p, len, 0);
	len = sizeof p;
	int s2 = accept(l, (struct sockaddr *)&p, &len);
	model_accepted(l, s2, (struct sockaddr *)&p, len, 0);
	char buf[16];
	cr_assert_eq(write(c1, "GET\n", 4), 4);
	cr_assert_eq(write(c2, "GET\n", 4), 4);
	ssize_t r = read(s1, buf, sizeof buf);
	io_read(fdt_sock(s1), r, sizeof buf, 0, 0);
	cr_assert_eq(write(s1, "OK\n", 3), 3);
	io_wrote(fdt_sock(s1), 3, 0); /* s1 answered: idle between requests */
	r = read(s2, buf, sizeof buf);
	io_read(fdt_sock(s2), r, sizeof buf, 0, 0); /* s2: request read, never answered */
	model_exit_checks();
	cr_assert_eq(model_state.stats.reusable_at_exit, 1);
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
}

Test(atexit, unconnected_datagram_socket_is_not_a_connection)
{
	init_show(1);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	model_new_socket(fd, AF_INET, SOCK_DGRAM, ORIGIN_SOCKET);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
	cr_assert_eq(model_state.stats.reusable_at_exit, 0);
}
