/* Unit tests of the detectors' second conditions: what mutation testing (issue 15,
 * `make mutate`) found unchecked. The main condition of every detector is tested in
 * test_model.c; these pin the exclusion, the second instance, the other address family:
 * a lease's own shutdown is not close-wait (at close and at exit), the first of several
 * closes is the shared-close on record, an answer of one address family says nothing about
 * a peer of the other, and a reply clears a reused connection's pending race. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "model_test.h"
#include "track/dns.h"
#include "track/fdtable.h"
#include "track/findings.h"
#include "track/io.h"
#include "track/lease.h"
#include "track/model.h"
#include "track/sock.h"
#include "util/real.h"

/* Criterion forks a process per test, so the model's global state starts fresh in each. */

static struct options opts;

static void init_opts(uint64_t close_wait_ms, uint64_t lease_ms)
{
	real_init(); /* the lease shuts connections down with the real shutdown() */
	options_defaults(&opts);
	opts.close_wait_ms = close_wait_ms;
	opts.lease_ms = lease_ms;
	opts.lease_mode = LEASE_ENFORCE;
	model_init(&opts);
}

static void sleep_ms(long ms)
{
	/* The model uses CLOCK_MONOTONIC_COARSE (a few ms per tick): sleep well past it. */
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct pick {
	int kind, n;
	struct finding f;
};

static void pick_cb(const struct finding *f, void *ctx)
{
	struct pick *p = ctx;
	if (f->key.kind == p->kind && p->n++ == 0)
		p->f = *f;
}

/* The single group of `kind`, failing when there is not exactly one. */
static struct finding only_group(int kind)
{
	struct pick p = {.kind = kind};
	findings_each(pick_cb, &p);
	cr_assert_eq(p.n, 1, "expected one group of kind %d, found %d", kind, p.n);
	return p.f;
}

static int tracked_socket_family(int family)
{
	int fd = socket(family, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	model_new_socket(fd, family, SOCK_STREAM, ORIGIN_SOCKET);
	return fd;
}

/* A loopback connection (127.0.0.1 or ::1): the client tracked and its connect reported,
 * the listener and the accepted end untracked. */
struct tcp {
	int listener, client, server;
	struct sockaddr_storage addr;
	socklen_t len;
};

static void tcp_setup(struct tcp *t, int family)
{
	memset(t, 0, sizeof *t);
	t->listener = socket(family, SOCK_STREAM, 0);
	cr_assert_geq(t->listener, 0);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&t->addr;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		t->len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->addr;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		t->len = sizeof *a;
	}
	cr_assert_eq(bind(t->listener, (struct sockaddr *)&t->addr, t->len), 0, "bind: %s",
		     strerror(errno));
	cr_assert_eq(getsockname(t->listener, (struct sockaddr *)&t->addr, &t->len), 0);
	cr_assert_eq(listen(t->listener, 8), 0);
	t->client = tracked_socket_family(family);
	cr_assert_eq(connect(t->client, (struct sockaddr *)&t->addr, t->len), 0);
	model_connect(t->client, (struct sockaddr *)&t->addr, t->len);
	t->server = accept(t->listener, NULL, NULL);
	cr_assert_geq(t->server, 0);
}

/* One request/reply turn on the client, reported to the model as the I/O hooks do. */
static void exchange(struct tcp *t, const char *req, const char *reply)
{
	struct sock *s = fdt_sock(t->client);
	char buf[64];
	ssize_t n = (ssize_t)strlen(req);
	cr_assert_eq(write(t->client, req, (size_t)n), n);
	io_wrote(s, n, 0);
	cr_assert_eq(read(t->server, buf, sizeof buf), n);
	n = (ssize_t)strlen(reply);
	cr_assert_eq(write(t->server, reply, (size_t)n), n);
	cr_assert_eq(read(t->client, buf, sizeof buf), n);
	io_read(s, n, sizeof buf, 0, 0);
}

/* ---- close-wait: a lease's own shutdown is not the peer closing --------------------- */

/* A client connection the lease shut (SHUT_RD) after one exchange; the program then reads
 * the EOF the lease made. */
static struct sock *leased_connection(struct tcp *t)
{
	init_opts(0, 1); /* any time after EOF counts; the lease expires at once */
	/* "GET 1" is not HTTP/1.x: only the fallback for other protocols leases it. */
	opts.lease_protocols = LEASE_PROTO_ANY;
	tcp_setup(t, AF_INET);
	exchange(t, "GET 1\n", "OK\n");
	struct sock *s = fdt_sock(t->client);
	/* The lease waits until the connection has been quiet for at least 50 ms. */
	for (int i = 0; i < 100 && !s->leased; i++) {
		sleep_ms(20);
		lease_check();
	}
	cr_assert(s->leased, "the lease never shut the idle connection (test setup)");
	char buf[16];
	cr_assert_eq(read(t->client, buf, sizeof buf), 0, "SHUT_RD gives EOF");
	io_read(s, 0, sizeof buf, 0, 0);
	cr_assert_neq(atomic_load(&s->t_eof), 0, "the EOF is recorded (test setup)");
	sleep_ms(20);
	return s;
}

Test(model_second, leased_connection_closed_late_is_not_close_wait)
{
	struct tcp t;
	leased_connection(&t);
	cr_assert_eq(tracked_close(t.client), 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_CLOSE_WAIT), 0,
		     "the lease's own shutdown reported as the peer closing");
	cr_assert_eq(findings_total(), 0);
}

Test(model_second, leased_connection_held_to_exit_is_a_leak_not_close_wait)
{
	struct tcp t;
	leased_connection(&t);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	cr_assert_eq(findings_of_kind(CONNLEAK_CLOSE_WAIT), 0,
		     "the lease's own shutdown reported as the peer closing");
}

Test(model_second, peer_close_after_exchange_closed_late_is_close_wait)
{
	/* The counterpart with no lease: the same sequence with the peer closing is found,
	 * so the two tests above are not clean for another reason. */
	init_opts(0, 0);
	struct tcp t;
	tcp_setup(&t, AF_INET);
	exchange(&t, "GET 1\n", "OK\n");
	cr_assert_eq(close(t.server), 0);
	char buf[16];
	cr_assert_eq(read(t.client, buf, sizeof buf), 0);
	io_read(fdt_sock(t.client), 0, sizeof buf, 0, 0);
	sleep_ms(20);
	cr_assert_eq(tracked_close(t.client), 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_CLOSE_WAIT), 1);
}

/* ---- shared-close: the first close that did not release is the one on record -------- */

Test(model_second, shared_close_with_two_dups_reports_the_first_close)
{
	init_opts(0, 0);
	struct tcp t;
	tcp_setup(&t, AF_INET);
	exchange(&t, "GET 1\n", "OK\n");
	int a = t.client, b = dup(a), c = dup(a);
	cr_assert_geq(b, 0);
	cr_assert_geq(c, 0);
	model_dup(a, b);
	model_dup(a, c);
	cr_assert_eq(tracked_close(a), 0); /* two others still hold it */
	cr_assert_eq(tracked_close(b), 0); /* a later close must not overwrite the first */
	cr_assert_eq(findings_total(), 0, "the finding waits for the last close");
	sleep_ms(20);
	cr_assert_eq(tracked_close(c), 0);

	cr_assert_eq(findings_total(), 1);
	struct finding f = only_group(CONNLEAK_SHARED_CLOSE);
	cr_assert_eq(f.fd, a, "fd %d reported, the first close was of fd %d (then %d)", f.fd, a,
		     b);
	cr_assert_eq(f.other_fds, 2, "other_descriptors %d: at the first close two dups held it",
		     f.other_fds);
	cr_assert_eq(f.gen, 1);
}

/* ---- stale-dns: an answer of one family says nothing about a peer of the other ------- */

static void answer_of(struct dns_answer *a, int family, const char *text)
{
	memset(a, 0, sizeof *a);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, text, &in->sin_addr), 1);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	}
	dns_answer_add(a, (struct sockaddr *)&ss);
	cr_assert_eq(a->n, 1);
}

#define NAME "svc.connleak.test"

/* A connection to `family`'s loopback made after NAME resolved to it. */
static struct sock *resolved_connection(struct tcp *t, int family)
{
	init_opts(5000, 0);
	struct dns_answer a;
	answer_of(&a, family, family == AF_INET ? "127.0.0.1" : "::1");
	model_dns(NAME, &a);
	tcp_setup(t, family);
	struct sock *s = fdt_sock(t->client);
	cr_assert_str_eq(s->host, NAME, "the connection does not know its name (test setup)");
	return s;
}

Test(model_second, ipv6_only_lookup_does_not_make_ipv4_peer_stale)
{
	struct tcp t;
	resolved_connection(&t, AF_INET);
	struct dns_answer a;
	answer_of(&a, AF_INET6, "::1"); /* an AAAA lookup, as happy-eyeballs clients make */
	model_dns(NAME, &a);
	cr_assert_eq(findings_of_kind(CONNLEAK_STALE_DNS), 0,
		     "an IPv6-only answer judged an IPv4 peer");
	answer_of(&a, AF_INET, "127.0.0.2"); /* the A record moved */
	model_dns(NAME, &a);
	struct finding f = only_group(CONNLEAK_STALE_DNS);
	cr_assert_str_eq(f.hostname, NAME);
	cr_assert_eq(f.nanswer, 1);
	cr_assert_str_eq(f.addrs[0], "127.0.0.2");
}

Test(model_second, ipv4_only_lookup_does_not_make_ipv6_peer_stale)
{
	struct tcp t;
	resolved_connection(&t, AF_INET6);
	struct dns_answer a;
	answer_of(&a, AF_INET, "127.0.0.1");
	model_dns(NAME, &a);
	cr_assert_eq(findings_of_kind(CONNLEAK_STALE_DNS), 0,
		     "an IPv4-only answer judged an IPv6 peer");
	answer_of(&a, AF_INET6, "::ffff:127.0.0.2"); /* the AAAA record moved */
	model_dns(NAME, &a);
	struct finding f = only_group(CONNLEAK_STALE_DNS);
	cr_assert_str_eq(f.hostname, NAME);
	cr_assert_eq(f.nanswer, 1);
	cr_assert_str_eq(f.addrs[0], "::ffff:127.0.0.2");
}

Test(model_second, ipv6_answer_still_holding_the_peer_is_not_stale)
{
	struct tcp t;
	resolved_connection(&t, AF_INET6);
	struct dns_answer a;
	answer_of(&a, AF_INET6, "::1");
	model_dns(NAME, &a);
	cr_assert_eq(findings_total(), 0);
}

/* ---- keepalive-race: a reply ends the reused request's race ------------------------- */

Test(model_second, reply_to_reused_request_then_eof_is_not_a_race)
{
	init_opts(5000, 0);
	struct tcp t;
	tcp_setup(&t, AF_INET);
	exchange(&t, "GET 1\n", "OK 1\n");
	exchange(&t, "GET 2\n", "OK 2\n"); /* reused, and answered */
	cr_assert_eq(shutdown(t.server, SHUT_WR), 0); /* the server closes the idle connection */
	char buf[16];
	cr_assert_eq(read(t.client, buf, sizeof buf), 0);
	io_read(fdt_sock(t.client), 0, sizeof buf, 0, 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 0,
		     "the EOF after an answered request reported as a race");
	/* A client that had not read that EOF races on its third request: the reply
	 * re-armed the detector. (Having read the EOF, the program knew: no race.) */
	struct tcp u;
	tcp_setup(&u, AF_INET);
	exchange(&u, "GET 1\n", "OK 1\n");
	exchange(&u, "GET 2\n", "OK 2\n");
	cr_assert_eq(shutdown(u.server, SHUT_WR), 0);
	cr_assert_eq(write(u.client, "GET 3\n", 6), 6);
	io_wrote(fdt_sock(u.client), 6, 0);
	cr_assert_eq(read(u.client, buf, sizeof buf), 0);
	io_read(fdt_sock(u.client), 0, sizeof buf, 0, 0);
	struct finding f = only_group(CONNLEAK_KEEPALIVE_RACE);
	cr_assert_eq(f.replies, 2);
}

/* ---- stale-dns: a dual-stack socket's IPv4 peer is judged by the A answer ------------- */

Test(model_second, v4_mapped_peer_judged_by_ipv4_answer)
{
	/* .NET and Java connect IPv4 peers through AF_INET6 sockets (::ffff:127.0.0.1) */
	init_opts(5000, 0);
	struct dns_answer a;
	answer_of(&a, AF_INET, "127.0.0.1");
	model_dns(NAME, &a);
	struct tcp t;
	memset(&t, 0, sizeof t);
	t.listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t ll = sizeof la;
	cr_assert_eq(bind(t.listener, (struct sockaddr *)&la, sizeof la), 0);
	cr_assert_eq(getsockname(t.listener, (struct sockaddr *)&la, &ll), 0);
	cr_assert_eq(listen(t.listener, 8), 0);
	struct sockaddr_in6 ma = {.sin6_family = AF_INET6, .sin6_port = la.sin_port};
	cr_assert_eq(inet_pton(AF_INET6, "::ffff:127.0.0.1", &ma.sin6_addr), 1);
	t.client = tracked_socket_family(AF_INET6);
	cr_assert_eq(connect(t.client, (struct sockaddr *)&ma, sizeof ma), 0, "%s", strerror(errno));
	model_connect(t.client, (struct sockaddr *)&ma, sizeof ma);
	cr_assert_str_eq(fdt_sock(t.client)->host, NAME, "test setup: the name is not known");
	answer_of(&a, AF_INET, "127.0.0.1");
	model_dns(NAME, &a);
	cr_assert_eq(findings_total(), 0, "the answer still holds the mapped peer");
	answer_of(&a, AF_INET, "127.0.0.2");
	model_dns(NAME, &a);
	struct finding f = only_group(CONNLEAK_STALE_DNS);
	cr_assert_str_eq(f.addrs[0], "127.0.0.2");
}

/* ---- lease-expired: report mode reports and touches nothing ------------------------- */

Test(model_second, lease_report_mode_reports_and_does_not_cut)
{
	init_opts(5000, 1);
	opts.lease_mode = LEASE_REPORT;
	struct tcp t;
	tcp_setup(&t, AF_INET);
	exchange(&t, "GET 1\n", "OK\n");
	struct sock *s = fdt_sock(t.client);
	sleep_ms(20);
	lease_check();
	struct finding f = only_group(CONNLEAK_LEASE_EXPIRED);
	cr_assert_eq(f.fd, t.client);
	cr_assert_eq(f.lease_ms, 1);
	cr_assert_eq(model_state.stats.leases_enforced, 0);
	/* Nothing was shut: the connection still carries a request and its reply. */
	exchange(&t, "GET 2\n", "OK\n");
	lease_check();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEASE_EXPIRED), 1, "one finding per connection");
	cr_assert(s->leased);
}
