/* Unit tests for the socket model and its detectors, driven directly with real socket fds. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "model_test.h"
#include "track/endpoint.h"
#include "track/fdtable.h"
#include "track/findings.h"
#include "track/io.h"
#include "track/model.h"
#include "track/sock.h"
#include "track/stacks.h"

/* Criterion forks a process per test, so the model's global state starts fresh in each. */

/* ---- helpers ---------------------------------------------------------------------- */

static struct options opts;

/* Defaults, except close_wait_ms (0 makes any time after EOF count as close-wait). */
static void init_with_close_wait(uint64_t ms)
{
	options_defaults(&opts);
	opts.close_wait_ms = ms;
	model_init(&opts);
}

static void sleep_ms(long ms)
{
	/* The model uses CLOCK_MONOTONIC_COARSE (a few ms per tick): sleep well past it. */
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

#define MAXF 64
struct found {
	int n;
	struct finding f[MAXF];
};

static void collect_cb(const struct finding *f, void *ctx)
{
	struct found *r = ctx;
	if (r->n < MAXF)
		r->f[r->n] = *f;
	r->n++;
}

static struct found *collect(void)
{
	static struct found r;
	memset(&r, 0, sizeof r);
	findings_each(collect_cb, &r);
	return &r;
}

/* The single group of `kind`, failing when there is not exactly one. */
static const struct finding *only_group(int kind)
{
	struct found *r = collect();
	const struct finding *hit = NULL;
	int n = 0;
	for (int i = 0; i < r->n && i < MAXF; i++)
		if (r->f[i].key.kind == kind) {
			hit = &r->f[i];
			n++;
		}
	cr_assert_eq(n, 1, "expected one group of kind %d, found %d", kind, n);
	return hit;
}

/* A loopback listener (tracked) and a connected client (tracked, connect reported) and
 * the accepted end (untracked unless `track_accepted`). */
struct tcp {
	int listener, client, server;
	struct sockaddr_in addr;
};

static void tcp_setup(struct tcp *t, int track_accepted)
{
	memset(t, 0, sizeof *t);
	t->listener = tracked_socket();
	t->addr.sin_family = AF_INET;
	t->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(t->listener, (struct sockaddr *)&t->addr, sizeof t->addr), 0);
	socklen_t len = sizeof t->addr;
	cr_assert_eq(getsockname(t->listener, (struct sockaddr *)&t->addr, &len), 0);
	cr_assert_eq(listen(t->listener, 8), 0);

	t->client = tracked_socket();
	cr_assert_eq(connect(t->client, (struct sockaddr *)&t->addr, sizeof t->addr), 0);
	model_connect(t->client, (struct sockaddr *)&t->addr, sizeof t->addr);

	struct sockaddr_in peer;
	len = sizeof peer;
	t->server = accept(t->listener, (struct sockaddr *)&peer, &len);
	cr_assert_geq(t->server, 0);
	if (track_accepted)
		model_accepted(t->listener, t->server, (struct sockaddr *)&peer, len, 0);
}

/* ---- double close ------------------------------------------------------------------ */

Test(model, double_close)
{
	model_init(NULL);
	int fd = tracked_socket();
	tracked_close(fd);
	cr_assert_eq(findings_total(), 0);
	cr_assert_eq(tracked_close(fd), EBADF);

	cr_assert_eq(findings_total(), 1);
	cr_assert_eq(findings_of_kind(CONNLEAK_DOUBLE_CLOSE), 1);
	const struct finding *f = only_group(CONNLEAK_DOUBLE_CLOSE);
	cr_assert_eq(f->fd, fd);
	cr_assert_eq(f->gen, 1);
	cr_assert_eq(f->count, 1);
	cr_assert_neq(f->key.previous_close, 0, "previous_close stack not recorded");
	cr_assert_neq(f->key.closed, 0, "closing stack not recorded");
	const uintptr_t *pcs;
	cr_assert_gt(stacks_get(f->key.previous_close, &pcs), 0);
}

Test(model, every_close_after_the_first_is_a_double_close)
{
	/* close(fd) x4: the 2nd, 3rd and 4th each close a descriptor that was not open. A
	 * failed close changes nothing about the number, so it must not re-arm or disarm. */
	model_init(NULL);
	int fd = tracked_socket();
	tracked_close(fd);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tracked_close(fd), EBADF); /* one call site: one group */
	cr_assert_eq(findings_of_kind(CONNLEAK_DOUBLE_CLOSE), 3,
		     "only %llu of 3 repeated closes reported",
		     (unsigned long long)findings_of_kind(CONNLEAK_DOUBLE_CLOSE));
	cr_assert_eq(only_group(CONNLEAK_DOUBLE_CLOSE)->count, 3);
}

Test(model, ebadf_on_never_seen_fd_is_not_a_finding)
{
	model_init(NULL);
	cr_assert_eq(tracked_close(54321), EBADF);
	/* A number inside an allocated chunk that never held a socket. */
	int fd = tracked_socket();
	cr_assert_eq(tracked_close(fd + 7), EBADF);
	cr_assert_eq(findings_total(), 0);
	tracked_close(fd);
	cr_assert_eq(findings_total(), 0);
}

Test(model, ebadf_after_non_socket_close_is_not_a_finding)
{
	/* A socket tracked first, so the pipe's numbers have slots in the descriptor table
	 * and the close reaches the double-close logic, which must tell the pipe apart. */
	model_init(NULL);
	int fd = tracked_socket();
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_not_null(fdt_slot(p[0], 0), "the pipe's number has no slot (test setup)");
	cr_assert_eq(tracked_close(p[0]), 0);
	cr_assert_eq(tracked_close(p[0]), EBADF);
	close(p[1]);
	cr_assert_eq(findings_total(), 0);
	/* The same two closes of the socket are a double close: the check can fail. */
	tracked_close(fd);
	cr_assert_eq(tracked_close(fd), EBADF);
	cr_assert_eq(findings_of_kind(CONNLEAK_DOUBLE_CLOSE), 1);
}

Test(model, double_close_after_number_reused_by_non_socket)
{
	model_init(NULL);
	int fd = tracked_socket();
	tracked_close(fd);
	/* The number now holds a pipe, which the program closes properly. */
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(p[0], fd);
	cr_assert_eq(tracked_close(p[0]), 0);
	cr_assert_eq(tracked_close(p[0]), EBADF);
	close(p[1]);
	cr_assert_eq(findings_total(), 0);
}

Test(model, bulk_ebadf_is_never_a_finding)
{
	model_init(NULL);
	int fd = tracked_socket();
	tracked_close(fd);
	model_close(fd, EBADF, 1);
	cr_assert_eq(findings_total(), 0);
}

Test(model, close_reused_number_then_double_close_of_new_socket)
{
	/* A socket closed, its number reused by a new socket which is closed twice: the
	 * finding names the new socket's generation. */
	model_init(NULL);
	int fd = tracked_socket();
	tracked_close(fd);
	cr_assert_eq(tracked_socket(), fd);
	cr_assert_eq(findings_total(), 0);
	tracked_close(fd);
	cr_assert_eq(tracked_close(fd), EBADF);
	cr_assert_eq(findings_of_kind(CONNLEAK_DOUBLE_CLOSE), 1);
	cr_assert_eq(only_group(CONNLEAK_DOUBLE_CLOSE)->gen, 2);
}

/* ---- dup, generations -------------------------------------------------------------- */

Test(model, dup_then_close_both)
{
	model_init(NULL);
	int a = tracked_socket();
	struct sock *s = fdt_sock(a);
	cr_assert_not_null(s);
	cr_assert_eq(s->nfds, 1);
	int b = dup(a);
	cr_assert_geq(b, 0);
	model_dup(a, b);
	cr_assert_eq(fdt_sock(b), s, "dup'd fd refers to the same socket record");
	cr_assert_eq(s->nfds, 2);
	cr_assert_eq(sock_live_count(), 1);

	tracked_close(a);
	cr_assert_null(fdt_sock(a));
	cr_assert_eq(fdt_sock(b), s);
	cr_assert_eq(s->nfds, 1);
	cr_assert_eq(s->fd, b, "the record is now described by the descriptor that holds it");
	cr_assert_eq(sock_live_count(), 1);

	tracked_close(b);
	cr_assert_null(fdt_sock(b));
	cr_assert_eq(sock_live_count(), 0);
	cr_assert_eq(findings_total(), 0);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(model, dup_to_self_is_ignored)
{
	model_init(NULL);
	int a = tracked_socket();
	model_dup(a, a);
	cr_assert_eq(fdt_sock(a)->nfds, 1);
	tracked_close(a);
	cr_assert_eq(sock_live_count(), 0);
}

Test(model, dup2_over_tracked_socket_releases_it)
{
	model_init(NULL);
	int a = tracked_socket();
	int b = tracked_socket();
	cr_assert_eq(sock_live_count(), 2);
	cr_assert_eq(dup2(a, b), b);
	model_dup(a, b);
	cr_assert_eq(sock_live_count(), 1);
	cr_assert_eq(fdt_sock(a), fdt_sock(b));
	cr_assert_eq(fdt_sock(a)->nfds, 2);
	cr_assert_eq(fdt_slot(b, 0)->gen, 2);
	tracked_close(a);
	tracked_close(b);
	cr_assert_eq(sock_live_count(), 0);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(model, dup2_over_first_fd_keeps_describing_the_survivor)
{
	/* conn at fd a, dup'd to b; then dup2(listener, a) replaces a. The connection lives
	 * on through b only and leaks: the finding must name b and describe the connection,
	 * not whatever now sits at a. */
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 0);
	int a = t.client;
	int b = dup(a);
	cr_assert_geq(b, 0);
	model_dup(a, b);
	struct sock *conn = fdt_sock(a);
	cr_assert_eq(dup2(t.listener, a), a);
	model_dup(t.listener, a);
	cr_assert_eq(fdt_sock(b), conn);
	cr_assert_eq(conn->nfds, 1);
	cr_assert_eq(conn->fd, b, "record still names fd %d, which now holds the listener",
		     conn->fd);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1, "the connection's leak was missed");
	const struct finding *f = only_group(CONNLEAK_LEAKED_SOCKET);
	cr_assert_eq(f->fd, b);
	cr_assert_eq(f->tcp_state, TCP_ESTABLISHED);
}

Test(model, dup2_of_pipe_over_first_fd_keeps_the_connection)
{
	/* Same, with a pipe dup2'd over a (as a program redirecting a descriptor does): the
	 * connection still open at b must not vanish from the model at exit. */
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 0);
	int a = t.client;
	int b = dup(a);
	model_dup(a, b);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(dup2(p[0], a), a);
	model_dup(p[0], a);
	cr_assert_not_null(fdt_sock(b));
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1,
		     "the connection still open at fd %d was not reported", b);
	cr_assert_eq(only_group(CONNLEAK_LEAKED_SOCKET)->fd, b);
}

Test(model, fd_reuse_increments_generation)
{
	model_init(NULL);
	int fd = tracked_socket();
	cr_assert_eq(fdt_slot(fd, 0)->gen, 1);
	cr_assert_eq(fdt_sock(fd)->gen, 1);
	tracked_close(fd);
	cr_assert_eq(fdt_slot(fd, 0)->gen, 1, "closing does not bump the generation");
	int again = tracked_socket();
	cr_assert_eq(again, fd, "the kernel hands out the lowest free number");
	cr_assert_eq(fdt_slot(fd, 0)->gen, 2);
	cr_assert_eq(fdt_sock(fd)->gen, 2);
	tracked_close(again);
	int third = tracked_socket();
	cr_assert_eq(third, fd);
	cr_assert_eq(fdt_slot(fd, 0)->gen, 3);
	tracked_close(third);
	cr_assert_eq(findings_total(), 0);
}

Test(model, reinstall_without_seen_close_releases_old_record)
{
	/* A close the hooks missed: the number comes back from socket() while we still
	 * believe it open. */
	model_init(NULL);
	int fd = tracked_socket();
	model_new_socket(fd, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
	cr_assert_eq(sock_live_count(), 1);
	cr_assert_eq(fdt_slot(fd, 0)->gen, 2);
	tracked_close(fd);
	cr_assert_eq(sock_live_count(), 0);
}

/* ---- exit checks ------------------------------------------------------------------- */

Test(model, leaked_socket_at_exit)
{
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 1);
	model_exit_checks();
	/* The client and the accepted end leak; the listener does not. (Both may share a
	 * group when their creation stacks are the same.) */
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 2);
	cr_assert_eq(findings_total(), 2);
	struct found *r = collect();
	uint64_t sum = 0;
	for (int i = 0; i < r->n; i++) {
		const struct finding *f = &r->f[i];
		sum += f->count;
		cr_assert_eq(f->key.kind, CONNLEAK_LEAKED_SOCKET);
		cr_assert(f->fd == t.client || f->fd == t.server, "fd %d", f->fd);
		cr_assert_eq(f->gen, 1);
		cr_assert_eq(f->family, AF_INET);
		cr_assert_eq(f->type, SOCK_STREAM);
		cr_assert_gt(f->peer_len, 0);
		cr_assert_gt(f->local_len, 0);
		cr_assert_eq(f->tcp_state, TCP_ESTABLISHED);
		cr_assert_eq(f->origin, f->fd == t.client ? ORIGIN_SOCKET : ORIGIN_ACCEPT);
	}
	cr_assert_eq(sum, 2);
}

Test(model, leaked_client_socket_describes_its_peer)
{
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 0);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	const struct finding *f = only_group(CONNLEAK_LEAKED_SOCKET);
	cr_assert_eq(f->fd, t.client);
	cr_assert_eq(f->origin, ORIGIN_SOCKET);
	cr_assert_eq(f->peer_len, sizeof(struct sockaddr_in));
	const struct sockaddr_in *p = (const void *)&f->peer;
	cr_assert_eq(p->sin_port, t.addr.sin_port);
	cr_assert_eq(p->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_neq(f->key.created, 0);
}

Test(model, leaked_accepted_socket)
{
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 1);
	struct sockaddr_in local;
	socklen_t len = sizeof local;
	cr_assert_eq(getsockname(t.client, (struct sockaddr *)&local, &len), 0);
	tracked_close(t.client);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	const struct finding *f = only_group(CONNLEAK_LEAKED_SOCKET);
	cr_assert_eq(f->fd, t.server);
	cr_assert_eq(f->origin, ORIGIN_ACCEPT);
	const struct sockaddr_in *p = (const void *)&f->peer;
	cr_assert_eq(p->sin_port, local.sin_port, "the peer of an accepted socket is the client");
}

Test(model, exit_checks_run_once)
{
	model_init(NULL);
	tracked_socket();
	model_exit_checks();
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
}

Test(model, leaks_from_one_site_are_grouped)
{
	model_init(NULL);
	for (int i = 0; i < 5; i++)
		tracked_socket();
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 5);
	cr_assert_eq(only_group(CONNLEAK_LEAKED_SOCKET)->count, 5);
}

Test(model, dup_leak_is_one_finding)
{
	model_init(NULL);
	int a = tracked_socket();
	int b = dup(a);
	model_dup(a, b);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
}

Test(model, listening_socket_is_not_a_leak)
{
	model_init(NULL);
	int fd = tracked_socket();
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(fd, 4), 0);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(model, inherited_socket_is_not_a_leak)
{
	model_init(NULL);
	/* The same kind of socket is a leak when the process made it (leaked_socket_at_exit);
	 * here it came from the parent. */
	int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET6, SOCK_DGRAM, 0);
	cr_assert_geq(a, 0);
	model_new_socket(a, AF_INET, SOCK_STREAM, ORIGIN_INHERITED);
	if (b >= 0)
		model_new_socket(b, AF_INET6, SOCK_DGRAM, ORIGIN_INHERITED);
	cr_assert(fdt_sock(a)->inherited);
	cr_assert_eq(fdt_sock(a)->created, 0, "no creation stack for what the parent made");
	cr_assert_eq(model_state.stats.inherited, b >= 0 ? 2 : 1);
	cr_assert_eq(model_state.stats.created, 0);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(model, unconnected_socket_made_here_is_a_leak)
{
	model_init(NULL);
	int a = tracked_socket();
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	const struct finding *f = only_group(CONNLEAK_LEAKED_SOCKET);
	cr_assert_eq(f->fd, a);
	cr_assert_eq(f->peer_len, 0);
	cr_assert_neq(f->key.created, 0);
}

Test(model, scanned_inherited_sockets_are_not_leaks)
{
	model_init(NULL);
	int a = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(a, 0);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	model_scan_inherited();
	cr_assert_not_null(fdt_sock(a));
	cr_assert(fdt_sock(a)->inherited);
	cr_assert_eq(fdt_sock(a)->family, AF_INET);
	cr_assert_eq(fdt_sock(a)->type, SOCK_STREAM);
	cr_assert_null(fdt_sock(p[0]), "pipes are not sockets");
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(model, socketpair_channel_is_not_a_leak)
{
	/* Unnamed unix channels are plumbing, not connections to an endpoint. */
	model_init(NULL);
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	model_new_socket(sv[0], AF_UNIX, SOCK_STREAM, ORIGIN_SOCKETPAIR);
	model_new_socket(sv[1], AF_UNIX, SOCK_STREAM, ORIGIN_SOCKETPAIR);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(model, named_unix_connection_leak_is_reported)
{
	model_init(NULL);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "connleak-test-%d", getpid());
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	model_new_socket(l, AF_UNIX, SOCK_STREAM, ORIGIN_SOCKET);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, len), 0);
	cr_assert_eq(listen(l, 4), 0);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	model_new_socket(c, AF_UNIX, SOCK_STREAM, ORIGIN_SOCKET);
	cr_assert_eq(connect(c, (struct sockaddr *)&a, len), 0);
	model_connect(c, (struct sockaddr *)&a, len);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	const struct finding *f = only_group(CONNLEAK_LEAKED_SOCKET);
	cr_assert_eq(f->fd, c);
	cr_assert_eq(f->family, AF_UNIX);
	cr_assert_eq(f->peer_len, len);
	cr_assert_eq(f->tcp_state, -1);
}

/* ---- bulk close -------------------------------------------------------------------- */

Test(model, close_range_closes_without_findings)
{
	model_init(NULL);
	int fds[6];
	for (int i = 0; i < 6; i++)
		fds[i] = tracked_socket();
	/* One of them held by two descriptors. */
	int b = dup(fds[0]);
	model_dup(fds[0], b);
	cr_assert_eq(sock_live_count(), 6);
	unsigned lo = (unsigned)fds[0], hi = (unsigned)fds[5];
	if ((unsigned)b > hi)
		hi = (unsigned)b;
	cr_assert_eq(close_range(lo, hi, 0), 0);
	model_close_range(lo, hi);
	cr_assert_eq(sock_live_count(), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_null(fdt_sock(fds[i]));
	/* The program, unaware, closes one again: close_range is not a double-close source. */
	model_close(fds[2], EBADF, 0);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(model, close_range_open_ended)
{
	model_init(NULL);
	int a = tracked_socket(), b = tracked_socket();
	(void)b;
	cr_assert_eq(close_range((unsigned)a, ~0u, 0), 0);
	model_close_range((unsigned)a, ~0u);
	cr_assert_eq(sock_live_count(), 0);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

/* ---- fd exhaustion ----------------------------------------------------------------- */

/* Stacks are trimmed of every frame inside connleak's own module, and in this test binary
 * that module is the whole executable. Running the helper's body from a libc callback
 * (dl_iterate_phdr) puts a libc frame between connleak's frames and the helper's caller, so
 * each helper's call site survives in the captured stack. */
struct make_req {
	int n, *fds;
};

static int make_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)info;
	(void)size;
	struct make_req *r = data;
	for (int i = 0; i < r->n; i++)
		r->fds[i] = tracked_socket();
	return 1; /* stop after the first object: exactly one call */
}

__attribute__((noinline)) static int open_pool_sockets(int n, int *fds)
{
	struct make_req r = {n, fds};
	dl_iterate_phdr(make_cb, &r);
	return fds[0];
}

__attribute__((noinline)) static int open_cache_sockets(int n, int *fds)
{
	struct make_req r = {n, fds};
	dl_iterate_phdr(make_cb, &r);
	return fds[n - 1];
}

Test(model, fd_exhaustion_groups_by_creation_stack)
{
	model_init(NULL);
	int pool[5], cache[3];
	open_pool_sockets(5, pool);
	open_cache_sockets(3, cache);
	cr_assert_neq(fdt_sock(pool[0])->created, fdt_sock(cache[0])->created,
		      "two helpers should give two creation stacks");
	cr_assert_eq(fdt_sock(pool[0])->created, fdt_sock(pool[4])->created);

	model_exhausted(EMFILE);
	cr_assert_eq(findings_of_kind(CONNLEAK_FD_EXHAUSTION), 1);
	const struct finding *f = only_group(CONNLEAK_FD_EXHAUSTION);
	cr_assert_eq(f->err, EMFILE);
	cr_assert_eq(f->open_sockets, 8);
	cr_assert_eq(f->ngroups, 2);
	/* Largest group first. */
	cr_assert_eq(f->groups[0].count, 5);
	cr_assert_eq(f->groups[0].stack, fdt_sock(pool[0])->created);
	cr_assert_eq(f->groups[1].count, 3);
	cr_assert_eq(f->groups[1].stack, fdt_sock(cache[0])->created);
}

Test(model, fd_exhaustion_enfile)
{
	model_init(NULL);
	tracked_socket();
	model_exhausted(ENFILE);
	const struct finding *f = only_group(CONNLEAK_FD_EXHAUSTION);
	cr_assert_eq(f->err, ENFILE);
	cr_assert_eq(f->open_sockets, 1);
	cr_assert_eq(f->ngroups, 1);
	cr_assert_eq(f->groups[0].count, 1);
}

/* Gives the socket at fd a synthetic creation stack #k. */
static void set_created(int fd, uintptr_t k)
{
	uintptr_t pcs[2] = {0x1000 + k, 0x2000};
	fdt_sock(fd)->created = stacks_intern(pcs, 2);
}

Test(model, fd_exhaustion_keeps_the_largest_group_among_many)
{
	/* The leak that exhausts descriptors is usually many old sockets from one site; at the
	 * moment of EMFILE the newest sockets may come from many other sites. The largest
	 * group must be among the EXHAUST_GROUPS kept. */
	model_init(NULL);
	int leak[10];
	for (int i = 0; i < 10; i++) {
		leak[i] = tracked_socket();
		set_created(leak[i], 999);
	}
	for (int k = 0; k < EXHAUST_GROUPS; k++)
		set_created(tracked_socket(), (uintptr_t)k);
	model_exhausted(EMFILE);
	const struct finding *f = only_group(CONNLEAK_FD_EXHAUSTION);
	cr_assert_eq(f->open_sockets, 10 + EXHAUST_GROUPS);
	cr_assert_eq(f->ngroups, EXHAUST_GROUPS);
	cr_assert_eq(f->groups[0].stack, fdt_sock(leak[0])->created,
		     "the 10-socket group was dropped from the fd-exhaustion finding");
	cr_assert_eq(f->groups[0].count, 10);
}

/* ---- keepalive race ---------------------------------------------------------------- */

Test(model, keepalive_race_on_client)
{
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 0);
	struct sock *s = fdt_sock(t.client);
	cr_assert_not_null(s);
	cr_assert(s->client);
	char buf[64];
	/* Request, reply, request on the reused connection, then EOF: the peer had closed. */
	cr_assert_eq(write(t.client, "GET 1\n", 6), 6);
	io_wrote(s, 6, 0);
	cr_assert_eq(read(t.server, buf, sizeof buf), 6);
	cr_assert_eq(write(t.server, "OK\n", 3), 3);
	ssize_t r = read(t.client, buf, sizeof buf);
	cr_assert_eq(r, 3);
	io_read(s, r, sizeof buf, 0, 0);
	/* The server ends its side (FIN) while the client thinks the connection idle. */
	cr_assert_eq(shutdown(t.server, SHUT_WR), 0);
	cr_assert_eq(write(t.client, "GET 2\n", 6), 6);
	io_wrote(s, 6, 0);
	r = read(t.client, buf, sizeof buf);
	cr_assert_eq(r, 0);
	io_read(s, r, sizeof buf, 0, 0);

	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
	cr_assert_eq(findings_total(), 1);
	const struct finding *f = only_group(CONNLEAK_KEEPALIVE_RACE);
	cr_assert_str_eq(f->answer, "eof");
	cr_assert_eq(f->replies, 1);
	cr_assert_eq(f->fd, t.client);
	cr_assert_gt(f->peer_len, 0);
	cr_assert_neq(f->key.used, 0, "the call that saw EOF has a stack");

	/* Another read of EOF is the same race, not a new one. */
	io_read(s, 0, sizeof buf, 0, 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
}

Test(model, keepalive_race_sequence_on_server_role_is_not_a_race)
{
	model_init(NULL);
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	model_new_socket(sv[0], AF_UNIX, SOCK_STREAM, ORIGIN_SOCKETPAIR);
	struct sock *s = fdt_sock(sv[0]);
	cr_assert_not(s->client);
	io_wrote(s, 6, 0);
	io_read(s, 3, 64, 0, 0);
	io_wrote(s, 6, 0);
	io_read(s, 0, 64, 0, 0);
	cr_assert_eq(findings_total(), 0);
}

Test(model, keepalive_first_request_eof_is_not_a_race)
{
	/* EOF before the first reply: not a reused connection. */
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 0);
	struct sock *s = fdt_sock(t.client);
	io_wrote(s, 6, 0);
	io_read(s, 0, 64, 0, 0);
	cr_assert_eq(findings_total(), 0);
}

Test(model, keepalive_zero_length_read_is_not_eof)
{
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 0);
	struct sock *s = fdt_sock(t.client);
	io_wrote(s, 6, 0);
	io_read(s, 3, 64, 0, 0);
	io_wrote(s, 6, 0);
	io_read(s, 0, 0, 0, 0);
	cr_assert_eq(findings_total(), 0);
	cr_assert_eq(atomic_load(&s->t_eof), 0);
}

Test(model, keepalive_race_epipe_on_write)
{
	/* As after a long idle spell: any gap counts (see test_keepalive.c). */
	options_defaults(&opts);
	opts.keepalive_idle_ms = 0;
	model_init(&opts);
	struct tcp t;
	tcp_setup(&t, 0);
	struct sock *s = fdt_sock(t.client);
	io_wrote(s, 6, 0);
	io_read(s, 3, 64, 0, 0);
	io_wrote(s, -1, EPIPE);
	io_wrote(s, -1, EPIPE); /* a retry is the same race */
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
	cr_assert_str_eq(only_group(CONNLEAK_KEEPALIVE_RACE)->answer, "EPIPE");
	cr_assert_eq(only_group(CONNLEAK_KEEPALIVE_RACE)->replies, 1);
}

Test(model, keepalive_race_reset_on_read)
{
	/* As after a long idle spell: any gap counts (see test_keepalive.c). */
	options_defaults(&opts);
	opts.keepalive_idle_ms = 0;
	model_init(&opts);
	struct tcp t;
	tcp_setup(&t, 0);
	struct sock *s = fdt_sock(t.client);
	for (int i = 0; i < 3; i++) {
		io_wrote(s, 6, 0);
		io_read(s, 3, 64, 0, 0);
	}
	io_wrote(s, 6, 0);
	io_read(s, -1, 64, ECONNRESET, 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_KEEPALIVE_RACE), 1);
	cr_assert_str_eq(only_group(CONNLEAK_KEEPALIVE_RACE)->answer, "ECONNRESET");
	cr_assert_eq(only_group(CONNLEAK_KEEPALIVE_RACE)->replies, 3);
}

/* ---- close-wait -------------------------------------------------------------------- */

Test(model, close_wait_on_close)
{
	init_with_close_wait(0);
	struct tcp t;
	tcp_setup(&t, 0);
	struct sock *s = fdt_sock(t.client);
	cr_assert_eq(close(t.server), 0);
	char buf[16];
	ssize_t r = read(t.client, buf, sizeof buf);
	cr_assert_eq(r, 0);
	io_read(s, r, sizeof buf, 0, 0);
	sleep_ms(20);
	tracked_close(t.client);

	cr_assert_eq(findings_of_kind(CONNLEAK_CLOSE_WAIT), 1);
	cr_assert_eq(findings_total(), 1);
	const struct finding *f = only_group(CONNLEAK_CLOSE_WAIT);
	cr_assert_eq(f->fd, t.client);
	cr_assert_eq(f->gen, 1);
	cr_assert_geq(f->held_after_eof_ms, 10);
	cr_assert_neq(f->key.closed, 0);
	/* Described before close() destroyed it. */
	cr_assert_eq(f->tcp_state, TCP_CLOSE_WAIT);
	cr_assert_gt(f->local_len, 0);
	cr_assert_gt(f->peer_len, 0);
}

Test(model, close_wait_when_close_already_done)
{
	/* model_close() after the real close: nothing to ask the kernel, still a finding. */
	init_with_close_wait(0);
	int fd = tracked_socket();
	io_read(fdt_sock(fd), 0, 16, 0, 0);
	sleep_ms(20);
	cr_assert_eq(close(fd), 0);
	model_close(fd, 0, 0);
	cr_assert_eq(findings_of_kind(CONNLEAK_CLOSE_WAIT), 1);
	cr_assert_eq(only_group(CONNLEAK_CLOSE_WAIT)->fd, fd);
}

Test(model, prompt_close_after_eof_is_not_close_wait)
{
	model_init(NULL); /* close_wait_ms = 5000 */
	int fd = tracked_socket();
	io_read(fdt_sock(fd), 0, 16, 0, 0);
	sleep_ms(20);
	tracked_close(fd);
	cr_assert_eq(findings_total(), 0);
}

Test(model, dgram_zero_read_is_not_eof)
{
	init_with_close_wait(0);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	model_new_socket(fd, AF_INET, SOCK_DGRAM, ORIGIN_SOCKET);
	io_read(fdt_sock(fd), 0, 16, 0, 0);
	sleep_ms(20);
	tracked_close(fd);
	cr_assert_eq(findings_total(), 0);
}

Test(model, close_wait_at_exit)
{
	init_with_close_wait(0);
	struct tcp t;
	tcp_setup(&t, 0);
	cr_assert_eq(close(t.server), 0);
	char buf[16];
	cr_assert_eq(read(t.client, buf, sizeof buf), 0);
	io_read(fdt_sock(t.client), 0, sizeof buf, 0, 0);
	sleep_ms(20);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 1);
	cr_assert_eq(findings_of_kind(CONNLEAK_CLOSE_WAIT), 1);
	const struct finding *f = only_group(CONNLEAK_CLOSE_WAIT);
	cr_assert_eq(f->fd, t.client);
	cr_assert_eq(f->tcp_state, TCP_CLOSE_WAIT);
	cr_assert_geq(f->held_after_eof_ms, 10);
}

/* ---- shared close ------------------------------------------------------------------ */

/* The client side of a loopback connection that carried a request. */
static int used_connection(struct tcp *t)
{
	tcp_setup(t, 0);
	cr_assert_eq(write(t->client, "ping", 4), 4);
	io_wrote(fdt_sock(t->client), 4, 0);
	return t->client;
}

Test(model, shared_close)
{
	init_with_close_wait(0);
	struct tcp t;
	int a = used_connection(&t);
	int b = dup(a);
	cr_assert_geq(b, 0);
	model_dup(a, b);
	tracked_close(a);
	cr_assert_eq(findings_total(), 0, "the finding waits for the last close");
	sleep_ms(20);
	tracked_close(b);

	cr_assert_eq(findings_of_kind(CONNLEAK_SHARED_CLOSE), 1);
	cr_assert_eq(findings_total(), 1);
	const struct finding *f = only_group(CONNLEAK_SHARED_CLOSE);
	cr_assert_eq(f->fd, a, "the close that did not release is the one reported");
	cr_assert_eq(f->gen, 1);
	cr_assert_eq(f->other_fds, 1);
	cr_assert_eq(f->forked, 0);
	cr_assert_neq(f->key.closed, 0);
	cr_assert_gt(f->peer_len, 0);
	cr_assert_eq(sock_live_count(), 1, "only the listener is left");
}

Test(model, shared_close_quickly_released_is_not_a_finding)
{
	model_init(NULL); /* close_wait_ms = 5000 */
	struct tcp t;
	int a = used_connection(&t);
	int b = dup(a);
	model_dup(a, b);
	tracked_close(a);
	tracked_close(b);
	cr_assert_eq(findings_total(), 0);
}

Test(model, shared_close_of_unused_socket_is_not_a_finding)
{
	init_with_close_wait(0);
	struct tcp t;
	tcp_setup(&t, 0); /* connected, but no byte moved */
	int b = dup(t.client);
	model_dup(t.client, b);
	tracked_close(t.client);
	sleep_ms(20);
	tracked_close(b);
	cr_assert_eq(findings_total(), 0);
}

Test(model, shared_close_after_shutdown_is_not_a_finding)
{
	init_with_close_wait(0);
	struct tcp t;
	int a = used_connection(&t);
	cr_assert_eq(shutdown(a, SHUT_WR), 0);
	model_shutdown(a, SHUT_WR);
	int b = dup(a);
	model_dup(a, b);
	tracked_close(a);
	sleep_ms(20);
	tracked_close(b);
	cr_assert_eq(findings_total(), 0);
}

Test(model, shared_close_still_open_at_exit)
{
	model_init(NULL);
	struct tcp t;
	int a = used_connection(&t);
	int b = dup(a);
	model_dup(a, b);
	tracked_close(a);
	model_exit_checks();
	cr_assert_eq(findings_of_kind(CONNLEAK_SHARED_CLOSE), 1);
	cr_assert_eq(findings_of_kind(CONNLEAK_LEAKED_SOCKET), 0);
	const struct finding *f = only_group(CONNLEAK_SHARED_CLOSE);
	cr_assert_eq(f->fd, a);
	cr_assert_eq(f->other_fds, 1);
	cr_assert_eq(f->tcp_state, TCP_ESTABLISHED);
}

/* ---- statistics and endpoints ------------------------------------------------------ */

struct ep_visit {
	int n;
	const struct endpoint *client;
};

static void ep_visit_cb(const struct endpoint *e, void *ctx)
{
	struct ep_visit *v = ctx;
	v->n++;
	if (!e->key.server)
		v->client = e;
}

Test(model, stats_and_endpoint_of_a_connection)
{
	model_init(NULL);
	struct tcp t;
	tcp_setup(&t, 1);
	cr_assert_eq(model_state.stats.created, 2);
	cr_assert_eq(model_state.stats.accepted, 1);
	cr_assert_eq(model_state.stats.connects, 1);
	cr_assert_eq(model_state.stats.peak_open, 3);
	io_wrote(fdt_sock(t.client), 10, 0);
	io_read(fdt_sock(t.client), 20, 64, 0, 0);
	tracked_close(t.client);
	tracked_close(t.server);
	cr_assert_eq(model_state.stats.closes, 2);

	struct ep_visit v = {0, NULL};
	endpoint_each(ep_visit_cb, &v);
	int n = v.n;
	const struct endpoint *client_ep = v.client;
	cr_assert_eq(n, 2, "one client endpoint (peer), one server endpoint (listen address)");
	cr_assert_not_null(client_ep);
	cr_assert_eq(client_ep->connections, 1);
	cr_assert_eq(client_ep->open, 0);
	cr_assert_eq(client_ep->peak, 1);
	cr_assert_eq(client_ep->bytes_out, 10);
	cr_assert_eq(client_ep->bytes_in, 20);
	cr_assert_eq(client_ep->requests, 1);
}

/* ---- memory bound ------------------------------------------------------------------ */

Test(model, memory_bounded_by_live_sockets_and_stacks, .timeout = 120)
{
	model_init(NULL);
	uint32_t stacks_after_warmup = 0;
	size_t heap_after_warmup = 0;
	for (int i = 0; i < 100000; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_geq(fd, 0);
		model_new_socket(fd, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
		cr_assert_eq(tracked_close(fd), 0);
		if (i == 99) {
			stacks_after_warmup = stacks_count();
			heap_after_warmup = mallinfo2().uordblks;
		}
	}
	cr_assert_eq(sock_live_count(), 0);
	cr_assert_eq(stacks_count(), stacks_after_warmup);
	size_t heap = mallinfo2().uordblks;
	cr_assert_lt(heap, heap_after_warmup + 64 * 1024, "heap grew from %zu to %zu bytes",
		     heap_after_warmup, heap);
	cr_assert_eq(findings_total(), 0);
	cr_assert_eq(model_state.stats.created, 100000);
	cr_assert_eq(model_state.stats.closes, 100000);
	cr_assert_eq(model_state.stats.peak_open, 1);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}
