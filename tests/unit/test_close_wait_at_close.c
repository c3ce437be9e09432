/* Unit test for close-wait found at close() when the program never read the EOF: TCP says
 * CLOSE_WAIT (TCP_INFO at the close) and the time held is estimated from the peer's last
 * segment. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "track/fdtable.h"
#include "track/findings.h"
#include "track/io.h"
#include "track/model.h"

static struct options opts;

struct found1 {
	int n;
	struct finding f;
};

static void one(const struct finding *f, void *ctx)
{
	struct found1 *r = ctx;
	if (f->key.kind == CONNLEAK_CLOSE_WAIT) {
		r->f = *f;
		r->n++;
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A client the peer closed; returns the client fd once TCP says CLOSE_WAIT. */
static int peer_closed_client(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(listen(l, 1), 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	model_new_socket(c, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
	cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof a), 0);
	model_connect(c, (struct sockaddr *)&a, sizeof a);
	int s = accept(l, NULL, NULL);
	cr_assert_eq(write(c, "GET\n", 4), 4);
	io_wrote(fdt_sock(c), 4, 0);
	char buf[8];
	cr_assert_eq(read(s, buf, sizeof buf), 4);
	cr_assert_eq(write(s, "OK\n", 3), 3);
	cr_assert_eq(read(c, buf, 3), 3); /* the reply; the EOF after it is never read */
	io_read(fdt_sock(c), 3, 3, 0, 0);
	close(s);
	for (int i = 0; i < 2000; i++) {
		struct tcp_info ti;
		len = sizeof ti;
		cr_assert_eq(getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
		if (ti.tcpi_state == TCP_CLOSE_WAIT)
			return c;
		sleep_ms(1);
	}
	cr_assert_fail("no CLOSE_WAIT");
	return -1;
}

static struct found1 close_it(int fd)
{
	struct close_ctx cc;
	model_close_begin(fd, 0, &cc);
	close(fd);
	model_close_end(&cc, 0);
	static struct found1 r;
	memset(&r, 0, sizeof r);
	findings_each(one, &r);
	return r;
}

Test(close_wait_at_close, never_read_eof_closed_late_is_close_wait)
{
	options_defaults(&opts);
	opts.close_wait_ms = 50;
	model_init(&opts);
	int c = peer_closed_client();
	sleep_ms(200); /* longer only makes it later */
	struct found1 r = close_it(c);
	cr_assert_eq(r.n, 1);
	cr_assert_geq(r.f.held_after_eof_ms, 150, "held %llu ms",
		      (unsigned long long)r.f.held_after_eof_ms);
	cr_assert_eq(r.f.tcp_state, TCP_CLOSE_WAIT);
}

Test(close_wait_at_close, never_read_eof_closed_promptly_is_clean)
{
	options_defaults(&opts);
	opts.close_wait_ms = 60000;
	model_init(&opts);
	int c = peer_closed_client();
	struct found1 r = close_it(c);
	cr_assert_eq(r.n, 0);
}
