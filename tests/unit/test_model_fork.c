/* A forked child's model (track/sock.c, track/cloexec.c): the records it inherited move to
 * their own list at the fork without being visited, are brought up to date (inherited, no
 * endpoint, no pending shared close) the first time the child's model touches one, and are
 * left out of its exit checks; its own sockets are judged as in any process. And a fork
 * settles into a socket only through a descriptor that was inheritable across it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "model_test.h"
#include "track/cloexec.h"
#include "track/fdtable.h"
#include "track/findings.h"
#include "track/model.h"
#include "track/sock.h"
#include "track/tls.h"

static struct options opts;

static int tracked_socket_type(int type)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	model_new_socket(fd, AF_INET, type, ORIGIN_SOCKET);
	return fd;
}

Test(model_fork, child_keeps_inherited_records_apart)
{
	options_defaults(&opts);
	model_init(&opts);
	int a = tracked_socket_type(SOCK_STREAM), b = tracked_socket_type(SOCK_STREAM),
	    c = tracked_socket_type(SOCK_STREAM);
	cr_assert_not(fdt_sock(a)->inherited);
	model_fork_prepare();
	model_fork_child();
	cr_assert_null(sock_live_head(), "the child has made nothing yet");
	cr_assert_eq(sock_inherited_count(), 3);
	cr_assert_eq(sock_live_count(), 3);
	cr_assert_eq(model_state.stats.inherited, 3);
	/* not visited at the fork: the record still says what the parent knew */
	cr_assert_not(fdt_sock(b)->inherited);
	/* the child closes one: brought up to date, then released from the inherited list */
	tracked_close(b);
	cr_assert_eq(sock_inherited_count(), 2);
	cr_assert_eq(sock_live_count(), 2);
	/* a socket of its own, on the live list */
	int d = tracked_socket_type(SOCK_STREAM);
	cr_assert_eq(sock_live_head(), fdt_sock(d));
	cr_assert_null(sock_next(sock_live_head()));
	cr_assert_eq(sock_live_count(), 3);
	model_exit_checks();
	cr_assert_eq(findings_total(), 1, "only the child's own socket is its leak");
	/* touched by the child's model: the parent's socket reads as inherited */
	struct sock *s = sock_here(fdt_sock(a));
	cr_assert(s->inherited);
	cr_assert_null(s->ep);
	close(a);
	close(c);
	close(d);
}

Test(model_fork, fork_settles_only_through_inheritable_descriptors)
{
	options_defaults(&opts);
	model_init(&opts);
	int plain = tracked_socket_type(SOCK_STREAM), cx = tracked_socket_type(SOCK_STREAM | SOCK_CLOEXEC),
	    late = tracked_socket_type(SOCK_STREAM);
	cr_assert(cloexec_inheritable(plain));
	cr_assert_not(cloexec_inheritable(cx));
	struct sock *sp = fdt_sock(plain), *sc = fdt_sock(cx), *sl = fdt_sock(late);
	model_fork_prepare();
	model_fork_parent(4242);
	/* set close-on-exec after the fork: the fork still shared it */
	model_cloexec(late, 1);
	cr_assert(sl->forked);
	cr_assert_eq(sl->fork_child, 4242);
	/* closes settle the others */
	model_close_begin(plain, 0, &(struct close_ctx){0});
	model_close_begin(cx, 0, &(struct close_ctx){0});
	cr_assert(sp->forked);
	cr_assert_eq(sp->fork_child, 4242);
	cr_assert_not(sc->forked, "close-on-exec at the fork: not shared with an exec'd child");
	close(plain);
	close(cx);
	close(late);
}

static int obj_parent, obj_child; /* their addresses are the "library objects" */

static void nap(void)
{
	struct timespec ts = {0, 30 * 1000000L}; /* past the coarse clock's tick */
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

Test(model_fork, parents_orphaned_session_is_not_the_childs_finding)
{
	options_defaults(&opts);
	opts.close_wait_ms = 0;
	model_init(&opts);
	int fd = tracked_socket_type(SOCK_STREAM);
	tls_new(&obj_parent, TLS_OPENSSL);
	tls_bind(&obj_parent, fd);
	tracked_close(fd); /* the session outlives its socket: the parent's finding */
	model_fork_prepare();
	model_fork_child();
	nap();
	tls_exit_checks();
	cr_assert_eq(findings_total(), 0, "the parent's session is not the child's to report");
	/* the same story in the child itself is its finding */
	int own = tracked_socket_type(SOCK_STREAM);
	tls_new(&obj_child, TLS_OPENSSL);
	tls_bind(&obj_child, own);
	tracked_close(own);
	nap();
	tls_exit_checks();
	cr_assert_eq(findings_total(), 1);
}
