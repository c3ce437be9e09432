/* Unit tests for the HTTP/1.x framing that leases act on (track/http.c): where exchanges
 * end for every framing the protocol has, the same whatever way the bytes are split across
 * reads, and "unknown" (never leased) for anything it cannot follow. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "track/http.h"

/* Splits used for every feed: whole, byte by byte, and a few odd sizes. */
static const size_t splits[] = {0, 1, 2, 3, 5, 13};
#define NSPLITS (sizeof splits / sizeof splits[0])

/* Feeds `text` in pieces of `step` (0 = at once); returns how many feeds reported an idle
 * boundary, and whether the last one did (*last). */
static int feed(struct http_conn *h, int out, const char *text, size_t step, int *last)
{
	size_t n = strlen(text);
	int idles = 0, got = 0;
	for (size_t i = 0; i < n;) {
		size_t k = step && step < n - i ? step : n - i;
		if (out) {
			http_out(h, text + i, k);
			got = 0;
		} else {
			got = http_in(h, text + i, k);
			idles += got;
		}
		i += k;
	}
	if (last)
		*last = got;
	return idles;
}

/* One scenario: the request bytes, then the response bytes, each way of splitting; the
 * mode, idleness and number of idle boundaries must be the same every time. */
static void scenario(const char *req, const char *resp, int mode, int idle, int boundaries)
{
	for (size_t s = 0; s < NSPLITS; s++) {
		struct http_conn h;
		memset(&h, 0, sizeof h);
		http_start(&h);
		feed(&h, 1, req, splits[s], NULL);
		cr_assert(!http_idle(&h), "split %zu: idle with a request in flight", splits[s]);
		int last = 0, n = feed(&h, 0, resp, splits[s], &last);
		cr_assert_eq(atomic_load(&h.mode), mode, "split %zu: mode %s, expected %s", splits[s],
			     http_mode_name(atomic_load(&h.mode)), http_mode_name(mode));
		cr_assert_eq(http_idle(&h), idle, "split %zu: idle %d", splits[s], http_idle(&h));
		cr_assert_eq(n, boundaries, "split %zu: %d idle boundaries, expected %d", splits[s],
			     n, boundaries);
		if (boundaries)
			cr_assert(last, "split %zu: the boundary was not at the last byte", splits[s]);
	}
}

#define GET "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"

Test(http, content_length)
{
	scenario(GET, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", HTTP_PLAIN, 1, 1);
}

Test(http, body_not_complete_is_not_idle)
{
	scenario(GET, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello", HTTP_PLAIN, 0, 0);
	scenario(GET, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", HTTP_PLAIN, 0, 0);
}

Test(http, chunked_with_extensions_and_trailers)
{
	scenario(GET,
		 "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n"
		 "5;name=v\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n",
		 HTTP_PLAIN, 1, 1);
	/* the last chunk's CRLF not yet there */
	scenario(GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
		 HTTP_PLAIN, 0, 0);
}

Test(http, responses_without_body)
{
	scenario("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
		 "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", HTTP_PLAIN, 1, 1);
	scenario(GET, "HTTP/1.1 204 No Content\r\n\r\n", HTTP_PLAIN, 1, 1);
	scenario(GET, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", HTTP_PLAIN, 1, 1);
}

Test(http, interim_responses)
{
	scenario("POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		 "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
		 "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
		 HTTP_PLAIN, 1, 1);
}

Test(http, request_bodies)
{
	scenario("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
		 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_PLAIN, 1, 1);
	scenario("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
		 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_PLAIN, 1, 1);
}

Test(http, pipelined_requests_idle_after_the_last_response)
{
	scenario(GET "HEAD / HTTP/1.1\r\n\r\n" GET,
		 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
		 "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
		 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n",
		 HTTP_PLAIN, 1, 1);
	/* two of three answered: not idle */
	scenario(GET GET GET,
		 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
		 "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
		 HTTP_PLAIN, 0, 0);
}

Test(http, pipeline_deeper_than_followed_is_unknown)
{
	char req[64 * (HTTP_PIPELINE + 2)] = "";
	for (int i = 0; i < HTTP_PIPELINE + 1; i++)
		strcat(req, "GET / HTTP/1.1\r\n\r\n");
	struct http_conn h;
	memset(&h, 0, sizeof h);
	http_start(&h);
	http_out(&h, req, strlen(req));
	cr_assert_eq(atomic_load(&h.mode), HTTP_UNKNOWN);
}

Test(http, server_closes)
{
	scenario(GET, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na",
		 HTTP_CLOSING, 0, 0);
	scenario("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", "", HTTP_CLOSING, 0,
		 0);
	scenario(GET, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na", HTTP_CLOSING, 0, 0);
	scenario(GET, "HTTP/1.1 200 OK\r\n\r\nuntil the end", HTTP_CLOSING, 0, 0);
	scenario(GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", HTTP_CLOSING, 0, 0);
	/* HTTP/1.0 that asks for keep-alive stays framed */
	scenario(GET, "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\na",
		 HTTP_PLAIN, 1, 1);
}

Test(http, tunnels)
{
	scenario("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n",
		 "HTTP/1.1 200 Connection established\r\n\r\n", HTTP_TUNNEL, 0, 0);
	scenario("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
		 HTTP_TUNNEL, 0, 0);
	/* a refused CONNECT is an ordinary exchange */
	scenario("CONNECT db:5432 HTTP/1.1\r\n\r\n",
		 "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno",
		 HTTP_PLAIN, 1, 1);
}

Test(http, not_http_is_unknown)
{
	static const char *const reqs[] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
		"SSH-2.0-OpenSSH_9.2\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /\r\n", /* HTTP/0.9 */
		"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\n 2\r\n\r\n", /* obs-fold of a length */
	};
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		struct http_conn h;
		memset(&h, 0, sizeof h);
		http_start(&h);
		http_out(&h, reqs[i], strlen(reqs[i]));
		cr_assert_eq(atomic_load(&h.mode), HTTP_UNKNOWN, "request %zu: mode %s", i,
			     http_mode_name(atomic_load(&h.mode)));
		cr_assert(!http_idle(&h));
	}
	/* a server that speaks first (SMTP, MySQL): a response to no request */
	scenario("", "220 mail ESMTP\r\n", HTTP_UNKNOWN, 0, 0);
	scenario(GET, "HTTP/1.1 2x0 OK\r\n\r\n", HTTP_UNKNOWN, 0, 0);
	scenario(GET, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HTTP_UNKNOWN, 0, 0);
	scenario(GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", HTTP_UNKNOWN,
		 0, 0);
}

Test(http, unknown_is_final_and_feeds_nothing)
{
	struct http_conn h;
	memset(&h, 0, sizeof h);
	http_start(&h);
	http_out(&h, "\x16\x03\x01", 3);
	cr_assert_eq(atomic_load(&h.mode), HTTP_UNKNOWN);
	http_out(&h, GET, strlen(GET));
	cr_assert_eq(http_in(&h, "HTTP/1.1 204 No\r\n\r\n", 19), 0);
	cr_assert_eq(atomic_load(&h.mode), HTTP_UNKNOWN);
}

Test(http, tls_plaintext_restarts_after_the_handshake)
{
	struct http_conn h;
	memset(&h, 0, sizeof h);
	http_start(&h);
	http_out(&h, "\x16\x03\x01\x02\x00", 5); /* the handshake through the socket hooks */
	cr_assert_eq(atomic_load(&h.mode), HTTP_UNKNOWN);
	http_use_tls(&h);
	cr_assert_eq(atomic_load(&h.mode), HTTP_TLS);
	http_out(&h, GET, strlen(GET));
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	cr_assert_eq(http_in(&h, resp, strlen(resp)), 1);
	cr_assert(http_idle(&h));
	/* a tunnel stays a tunnel */
	memset(&h, 0, sizeof h);
	atomic_store(&h.mode, HTTP_TUNNEL);
	http_use_tls(&h);
	cr_assert_eq(atomic_load(&h.mode), HTTP_TUNNEL);
}

Test(http, fresh_connection_is_not_idle)
{
	struct http_conn h;
	memset(&h, 0, sizeof h);
	http_start(&h);
	cr_assert(!http_idle(&h), "no exchange yet: the protocol is not known");
	http_out(&h, "GET / HT", 8);
	cr_assert(!http_idle(&h));
}

Test(http, many_exchanges_each_a_boundary)
{
	struct http_conn h;
	memset(&h, 0, sizeof h);
	http_start(&h);
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
	for (int i = 0; i < 1000; i++) {
		http_out(&h, GET, strlen(GET));
		cr_assert(!http_idle(&h));
		cr_assert_eq(http_in(&h, resp, strlen(resp)), 1, "exchange %d", i);
	}
	cr_assert_eq(atomic_load(&h.requests), 1000);
	cr_assert_eq(atomic_load(&h.responses), 1000);
}

/* A client that writes on one thread and reads on another: the answer can be read before
 * the writer has come back from write() and counted its request. The reader waits for it. */
static struct http_conn racing;

static void *late_writer(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 20 * 1000000L};
	nanosleep(&ts, NULL);
	http_out(&racing, GET, strlen(GET));
	atomic_fetch_sub(&racing.writers, 1);
	return NULL;
}

Test(http, answer_before_the_writer_counted_its_request)
{
	memset(&racing, 0, sizeof racing);
	http_start(&racing);
	atomic_fetch_add(&racing.writers, 1); /* the writer is inside write() */
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, late_writer, NULL), 0);
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	cr_assert_eq(http_in(&racing, resp, strlen(resp)), 1, "mode %s",
		     http_mode_name(atomic_load(&racing.mode)));
	pthread_join(t, NULL);
	cr_assert(http_idle(&racing));
}
