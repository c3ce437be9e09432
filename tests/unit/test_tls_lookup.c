/* The per-thread cache of recent TLS session lookups (track/tls.c): a session freed, or its
 * address reused for a new one, on another thread is seen at the next call of this thread,
 * and a thread alternating between two sessions keeps seeing each one's own state. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "track/model.h"
#include "track/tls.h"
#include "util/real.h"

static struct options opts;
static int obj_a, obj_b; /* their addresses are the "library objects" */

static int tracked_socket(void)
{
	real_init();
	options_defaults(&opts);
	model_init(&opts);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	model_new_socket(fd, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
	return fd;
}

/* a's record goes to b (bound), a gets a new one (not bound) at the same address */
static void *free_and_remake(void *fd)
{
	tls_free(&obj_a);
	tls_new(&obj_b, TLS_OPENSSL);
	tls_bind(&obj_b, *(int *)fd);
	tls_new(&obj_a, TLS_OPENSSL);
	return NULL;
}

static void *bind_a(void *fd)
{
	tls_bind(&obj_a, *(int *)fd);
	return NULL;
}

static void on_thread(void *(*fn)(void *), int *fd)
{
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, fn, fd), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(tls_lookup, another_threads_free_and_reuse_is_seen)
{
	int fd = tracked_socket();
	tls_new(&obj_a, TLS_OPENSSL);
	cr_assert_eq(tls_state(&obj_a) & TLS_STATE_BOUND, 0);
	cr_assert_eq(tls_state(&obj_a) & TLS_STATE_BOUND, 0, "asked twice: from the cache");
	on_thread(bind_a, &fd);
	cr_assert_neq(tls_state(&obj_a) & TLS_STATE_BOUND, 0, "bound on another thread");
	cr_assert_neq(tls_plainly_bound(&obj_a), 0, "the hooks' inline answer: bound");
	on_thread(free_and_remake, &fd);
	/* a's cached record now is b's (bound): the inline answer must look again too */
	cr_assert_eq(tls_plainly_bound(&obj_a), 0, "inline: its record was reused elsewhere");
	cr_assert_eq(tls_state(&obj_a) & TLS_STATE_BOUND, 0,
		     "freed and made again at the same address on another thread: a new session");
	cr_assert_neq(tls_state(&obj_b) & TLS_STATE_BOUND, 0);
	tls_free(&obj_a);
	tls_free(&obj_b);
	cr_assert_neq(tls_state(&obj_a) & TLS_STATE_BOUND, 0, "freed: not a session we know");
	close(fd);
}

Test(tls_lookup, alternating_sessions_keep_their_own_state)
{
	int fd = tracked_socket();
	tls_new(&obj_a, TLS_OPENSSL);
	tls_new(&obj_b, TLS_OPENSSL);
	tls_bind(&obj_b, fd);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(tls_state(&obj_a) & TLS_STATE_BOUND, 0);
		cr_assert_neq(tls_state(&obj_b) & TLS_STATE_BOUND, 0);
		/* both among the thread's recent sessions: the hooks' inline answer */
		cr_assert_eq(tls_plainly_bound(&obj_a), 0, "unbound is not plain");
		cr_assert_neq(tls_plainly_bound(&obj_b), 0);
	}
	/* b's socket closes: the next call through b finds it orphaned, a's state is as it was */
	model_close(fd, 0, 0);
	cr_assert_eq(tls_plainly_bound(&obj_b), 0, "inline: orphaned is not plain");
	cr_assert_neq(tls_state(&obj_b) & TLS_STATE_ORPHANED, 0);
	cr_assert_eq(tls_state(&obj_a), 0);
	tls_free(&obj_a);
	tls_free(&obj_b);
	close(fd);
}

/* An event loop serving several connections calls through each session in turn: the
 * thread keeps all of them (up to TLS_RECENT), each with its own answer, and a change to
 * one (its socket closed) is seen at its next call. */
Test(tls_lookup, sessions_in_turn_keep_their_own_state)
{
	int fd = tracked_socket();
	static int objs[6];
	for (int k = 0; k < 6; k++)
		tls_new(&objs[k], TLS_OPENSSL);
	for (int k = 0; k < 6; k++)
		cr_assert_eq(tls_state(&objs[k]) & TLS_STATE_BOUND, 0);
	/* half of them bound since: each one's entry says so after its next look */
	for (int k = 1; k < 6; k += 2)
		tls_bind(&objs[k], fd);
	for (int round = 0; round < 3; round++)
		for (int k = 0; k < 6; k++)
			cr_assert_eq(!!(tls_state(&objs[k]) & TLS_STATE_BOUND), k % 2);
	for (int k = 0; k < 6; k++)
		cr_assert_eq(tls_plainly_bound(&objs[k]), k % 2, "session %d, inline", k);
	model_close(fd, 0, 0);
	for (int k = 0; k < 6; k++)
		cr_assert_eq(tls_plainly_bound(&objs[k]), 0, "session %d after the close", k);
	for (int k = 1; k < 6; k += 2)
		cr_assert_neq(tls_state(&objs[k]) & TLS_STATE_ORPHANED, 0);
	for (int k = 0; k < 6; k++)
		tls_free(&objs[k]);
	close(fd);
}
