/* Unit tests for keepalive-race precision (track/keepalive.c): goodbyes, a write after the
 * program read EOF, a write right after a reply that came with the close are not the race;
 * a request after an idle spell, and one the peer read and answered by closing, are. Real
 * loopback sockets drive the model as the hooks would. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "track/fdtable.h"
#include "track/findings.h"
#include "track/io.h"
#include "track/keepalive.h"
#include "track/model.h"

static struct options opts;

static void init_idle(uint64_t idle_ms)
{
	options_defaults(&opts);
	opts.keepalive_idle_ms = idle_ms;
	model_init(&opts);
}

struct conn {
	int listener, client, server;
	struct sock *s;
};

static void conn_setup(struct conn *c)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->listener = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(c->listener, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(c->listener, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(listen(c->listener, 4), 0);
	c->client = socket(AF_INET, SOCK_STREAM, 0);
	model_new_socket(c->client, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
	cr_assert_eq(connect(c->client, (struct sockaddr *)&a, sizeof a), 0);
	model_connect(c->client, (struct sockaddr *)&a, sizeof a);
	c->server = accept(c->listener, NULL, NULL);
	cr_assert_geq(c->server, 0);
	c->s = fdt_sock(c->client);
	cr_assert_not_null(c->s);
}

/* The client writes `req` as the write hook reports it. */
static void client_write(struct conn *c, const char *req)
{
	size_t n = strlen(req);
	cr_assert_eq(write(c->client, req, n), (ssize_t)n);
	struct iovec v = {(void *)req, n};
	io_wrote_vec(c->s, (ssize_t)n, 0, &v, 1);
}

/* The client reads, as the read hook reports it (with the bytes read); returns what
 * read() returned. */
static ssize_t client_read(struct conn *c)
{
	char buf[256];
	ssize_t r = read(c->client, buf, sizeof buf);
	io_read_head(c->s, r, sizeof buf, r < 0 ? errno : 0, 0, buf, sizeof buf);
	return r;
}

static void server_reply(struct conn *c)
{
	char buf[256];
	cr_assert_gt(read(c->server, buf, sizeof buf), 0);
	cr_assert_eq(write(c->server, "OK\r\n", 4), 4);
}

/* One request and its reply: the connection is now reusable. */
static void exchange(struct conn *c)
{
	client_write(c, "GET / HTTP/1.1\r\n\r\n");
	server_reply(c);
	cr_assert_eq(client_read(c), 4);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

Test(keepalive, goodbyes_are_recognised)
{
	static const unsigned char tls12_alert[] = {21, 3, 3, 0, 26, 1, 2, 3, 4, 5, 6, 7, 8, 9,
						    10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
						    21, 22, 23, 24, 25, 26};
	unsigned char tls13_alert[24] = {23, 3, 3, 0, 19};
	unsigned char tls13_data[64] = {23, 3, 3, 0, 59};
	cr_assert(keepalive_goodbye("quit\r\n", 6));
	cr_assert(keepalive_goodbye("QUIT\r\n", 6));
	cr_assert(keepalive_goodbye("quit", 4));
	cr_assert(keepalive_goodbye("*1\r\n$4\r\nQUIT\r\n", 14));
	cr_assert(keepalive_goodbye("a1 LOGOUT\r\n", 11));
	cr_assert(keepalive_goodbye(tls12_alert, sizeof tls12_alert));
	cr_assert(keepalive_goodbye(tls13_alert, sizeof tls13_alert));
	cr_assert_not(keepalive_goodbye(tls13_data, sizeof tls13_data));
	cr_assert_not(keepalive_goodbye("quitting\r\n", 10));
	cr_assert_not(keepalive_goodbye("GET / HTTP/1.1\r\n", 16));
	cr_assert_not(keepalive_goodbye("get foo\r\n", 9));
	cr_assert_not(keepalive_goodbye(NULL, 0));
	/* Either case, first byte included. */
	cr_assert(keepalive_goodbye("Quit\r\n", 6));
	cr_assert(keepalive_goodbye("a1 Logout\r\n", 11));
	cr_assert_not(keepalive_goodbye("a1 Logoff\r\n", 11));
	/* A TLS record is ciphertext: bytes that read " logout" in it are no IMAP command. */
	static const unsigned char tls_data_logout[] = {23, 3, 3, 0, 40, 'x', ' ', 'l', 'o', 'g',
							'o', 'u', 't', '\r', '\n'};
	cr_assert_not(keepalive_goodbye(tls_data_logout, sizeof tls_data_logout));
}

/* memcached `quit`: the reply is the close. */
Test(keepalive, quit_answered_by_eof_is_not_a_race)
{
	init_idle(0); /* even after any idle spell */
	struct conn c;
	conn_setup(&c);
	exchange(&c);
	client_write(&c, "quit\r\n");
	char buf[16];
	cr_assert_eq(read(c.server, buf, sizeof buf), 6);
	close(c.server);
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_total(), 0);
}

/* A TLS close_notify sent after the peer closed (ab, a proxy relaying a tunnel). */
Test(keepalive, tls_close_notify_is_not_a_race)
{
	init_idle(0);
	struct conn c;
	conn_setup(&c);
	exchange(&c);
	unsigned char alert[24] = {23, 3, 3, 0, 19};
	cr_assert_eq(write(c.client, alert, sizeof alert), 24);
	struct iovec v = {alert, sizeof alert};
	io_wrote_vec(c.s, 24, 0, &v, 1);
	close(c.server);
	cr_assert_geq(client_read(&c), -1);
	cr_assert_eq(findings_total(), 0);
}

/* The program read the peer's EOF, then wrote anyway: it knew the connection was gone. */
Test(keepalive, write_after_eof_was_read_is_not_a_race)
{
	init_idle(0);
	struct conn c;
	conn_setup(&c);
	exchange(&c);
	cr_assert_eq(shutdown(c.server, SHUT_WR), 0);
	cr_assert_eq(client_read(&c), 0);
	client_write(&c, "GET /2 HTTP/1.1\r\n\r\n");
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_total(), 0);
}

/* An SMTP server that answers 451 and hangs up; the client writes its next command right
 * after the reply and draws a reset: the close came with the reply. */
Test(keepalive, write_right_after_a_closing_reply_is_not_a_race)
{
	init_idle(60000);
	struct conn c;
	conn_setup(&c);
	client_write(&c, "MAIL FROM:<a@b>\r\n");
	char buf[64];
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	cr_assert_eq(write(c.server, "451 try later\r\n", 15), 15);
	close(c.server);
	cr_assert_eq(client_read(&c), 15);
	client_write(&c, "RSET\r\n");
	ssize_t r = client_read(&c);
	cr_assert(r == 0 || r == -1);
	cr_assert_eq(findings_total(), 0);
}

/* The order test_smtplib's test__rest_from_mail_cmd gives now and then: the server
 * refuses MAIL (451), reads the client's RSET, then closes without a reply. Over TCP
 * that is test_xmlrpc's keep-alive disconnect (below); the refusal before it is not. */
Test(keepalive, command_after_a_refusal_read_then_closed_is_not_a_race)
{
	init_idle(60000);
	struct conn c;
	conn_setup(&c);
	client_write(&c, "EHLO localhost\r\n");
	char buf[64];
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	cr_assert_eq(write(c.server, "250 localhost\r\n", 15), 15);
	cr_assert_eq(client_read(&c), 15);
	client_write(&c, "MAIL FROM:<a@b>\r\n");
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	cr_assert_eq(write(c.server, "451 try later\r\n", 15), 15);
	cr_assert_eq(client_read(&c), 15);
	client_write(&c, "RSET\r\n");
	cr_assert_eq(read(c.server, buf, sizeof buf), 6);
	close(c.server);
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_total(), 0);
}

/* After an accepting reply the same close is the race (as test_xmlrpc's). */
Test(keepalive, command_after_an_accepting_reply_read_then_closed_is_a_race)
{
	init_idle(60000);
	struct conn c;
	conn_setup(&c);
	client_write(&c, "MAIL FROM:<a@b>\r\n");
	char buf[64];
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	cr_assert_eq(write(c.server, "250 OK\r\n", 8), 8);
	cr_assert_eq(client_read(&c), 8);
	client_write(&c, "RCPT TO:<c@d>\r\n");
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	close(c.server);
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
}

/* A refusal long before does not excuse a request after an idle spell. */
Test(keepalive, request_after_idle_spell_following_a_refusal_is_a_race)
{
	init_idle(20);
	struct conn c;
	conn_setup(&c);
	client_write(&c, "RCPT TO:<c@d>\r\n");
	char buf[64];
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	cr_assert_eq(write(c.server, "450 busy\r\n", 10), 10);
	cr_assert_eq(client_read(&c), 10);
	sleep_ms(100);
	client_write(&c, "RCPT TO:<e@f>\r\n");
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	close(c.server);
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
}

Test(keepalive, refusals_are_recognised)
{
	cr_assert(keepalive_refusal("451 Requested action aborted\r\n", 30));
	cr_assert(keepalive_refusal("421-closing\r\n", 13));
	cr_assert(keepalive_refusal("550\r\n", 5));
	cr_assert(keepalive_refusal("530 Login incorrect.\r\n", 23));
	cr_assert_not(keepalive_refusal("250 OK\r\n", 8));
	cr_assert_not(keepalive_refusal("354 go ahead\r\n", 14));
	cr_assert_not(keepalive_refusal("HTTP/1.1 503 Service Unavailable\r\n", 34));
	cr_assert_not(keepalive_refusal("4000 bytes\r\n", 12));
	cr_assert_not(keepalive_refusal("45x \r\n", 6));
	cr_assert_not(keepalive_refusal("451", 3));
	cr_assert_not(keepalive_refusal(NULL, 0));
}

/* The same sequence after an idle spell longer than keepalive_idle_ms: the peer's idle
 * timeout closed the connection while the client counted on it. */
Test(keepalive, request_after_idle_spell_on_closed_connection_is_a_race)
{
	init_idle(20);
	struct conn c;
	conn_setup(&c);
	exchange(&c);
	close(c.server); /* the server's keep-alive timeout */
	sleep_ms(100);   /* longer only makes the spell longer */
	client_write(&c, "GET /2 HTTP/1.1\r\n\r\n");
	ssize_t r = client_read(&c);
	cr_assert(r == 0 || r == -1);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
	cr_assert_eq(findings_total(), 1);
}

/* CPython test_xmlrpc's keep-alive disconnect: the server reads the second request and
 * closes without a reply; the client wrote right after the first reply. */
Test(keepalive, request_read_and_answered_by_close_is_a_race)
{
	init_idle(60000);
	struct conn c;
	conn_setup(&c);
	exchange(&c);
	client_write(&c, "POST /RPC2 HTTP/1.1\r\n\r\n");
	char buf[64];
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	close(c.server);
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
}

/* A TLS client: ClientHello, the server's flight, Finished (a handshake turn), tickets;
 * then its first application request, which the server reads and answers by closing
 * (asyncio's test_sslproto): the handshake replies do not make the connection reused. */
static void client_write_bytes(struct conn *c, const unsigned char *b, size_t n)
{
	cr_assert_eq(write(c->client, b, n), (ssize_t)n);
	struct iovec v = {(void *)b, n};
	io_wrote_vec(c->s, (ssize_t)n, 0, &v, 1);
}

static void server_answers(struct conn *c)
{
	char buf[256];
	cr_assert_gt(read(c->server, buf, sizeof buf), 0);
	cr_assert_eq(write(c->server, "\x17\x03\x03\x00\x01x", 6), 6);
	cr_assert_eq(client_read(c), 6);
}

Test(keepalive, first_request_after_tls_handshake_is_not_a_reuse)
{
	init_idle(0);
	struct conn c;
	conn_setup(&c);
	static const unsigned char hello[] = {22, 3, 1, 0, 4, 1, 0, 0, 0};
	static const unsigned char finished[] = {20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 2, 9, 9};
	static const unsigned char app[] = {23, 3, 3, 0, 40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
					    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					    23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
					    35, 36, 37, 38, 39, 40};
	client_write_bytes(&c, hello, sizeof hello);
	server_answers(&c);
	client_write_bytes(&c, finished, sizeof finished);
	server_answers(&c); /* session tickets */
	client_write_bytes(&c, app, sizeof app);
	server_answers(&c); /* a late session ticket between two writes of the request */
	client_write_bytes(&c, app, sizeof app);
	char buf[256];
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	close(c.server);
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_total(), 0, "the first request of a TLS connection is no reuse");
}

Test(keepalive, third_request_after_tls_handshake_is_a_reuse)
{
	init_idle(0);
	struct conn c;
	conn_setup(&c);
	static const unsigned char hello[] = {22, 3, 1, 0, 4, 1, 0, 0, 0};
	static const unsigned char finished[] = {20, 3, 3, 0, 1, 1};
	static const unsigned char app[] = {23, 3, 3, 0, 40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
					    11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					    23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
					    35, 36, 37, 38, 39, 40};
	client_write_bytes(&c, hello, sizeof hello);
	server_answers(&c);
	client_write_bytes(&c, finished, sizeof finished);
	server_answers(&c);
	client_write_bytes(&c, app, sizeof app);
	server_answers(&c); /* the first request's reply */
	client_write_bytes(&c, app, sizeof app);
	server_answers(&c); /* the second's */
	client_write_bytes(&c, app, sizeof app);
	char buf[256];
	cr_assert_gt(read(c.server, buf, sizeof buf), 0);
	close(c.server);
	cr_assert_eq(client_read(&c), 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
}

/* A write that fails right after a reply that came with the close (EPIPE). */
Test(keepalive, epipe_right_after_a_closing_reply_is_not_a_race)
{
	init_idle(60000);
	struct conn c;
	conn_setup(&c);
	exchange(&c);
	io_wrote(c.s, -1, EPIPE);
	cr_assert_eq(findings_total(), 0);
}
