/* Unit tests of the one-lock close (model_close_begin finishing the usual last close
 * itself): the record is finished before the real close, a close the kernel answers with
 * EBADF (the socket was closed where connleak could not see) is not counted as the
 * program's close, and a close a detector still has to judge keeps its end step. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "model_test.h"
#include "track/fdtable.h"
#include "track/findings.h"
#include "track/model.h"
#include "track/sock.h"

/* Criterion forks a process per test, so the model's global state starts fresh in each. */

Test(close_once, usual_close_is_finished_before_the_real_close)
{
	model_init(NULL);
	int fd = tracked_socket();
	cr_assert_eq(sock_live_count(), 1);
	struct close_ctx c;
	model_close_begin(fd, 0, &c);
	cr_assert(c.done, "a plain last close needs no end step");
	cr_assert_eq(sock_live_count(), 0);
	cr_assert_eq(model_state.stats.closes, 1);
	cr_assert_eq(close(fd), 0);
	model_close_end(&c, 0);
	cr_assert_eq(model_state.stats.closes, 1);
	cr_assert_eq(sock_live_count(), 0);
	/* The number still remembers the socket: a second close is a double close. */
	cr_assert(fdt_was_closed_socket(fd));
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(close_once, ebadf_of_a_socket_closed_unseen_is_not_a_close)
{
	model_init(NULL);
	int fd = tracked_socket();
	/* Closed by a raw system call: the model still believes it open. */
	cr_assert_eq(syscall(SYS_close, fd), 0);
	struct close_ctx c;
	model_close_begin(fd, 0, &c);
	int r = close(fd);
	cr_assert_eq(r, -1);
	cr_assert_eq(errno, EBADF);
	model_close_end(&c, EBADF);
	cr_assert_eq(model_state.stats.closes, 0, "EBADF is no close of the program's");
	cr_assert_eq(sock_live_count(), 0);
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(close_once, close_of_one_of_two_descriptors_keeps_its_end_step)
{
	model_init(NULL);
	int fd = tracked_socket();
	int d = dup(fd);
	cr_assert_geq(d, 0);
	model_dup(fd, d);
	struct close_ctx c;
	model_close_begin(fd, 0, &c);
	cr_assert(!c.done, "the socket is still held by the copy");
	cr_assert_eq(close(fd), 0);
	model_close_end(&c, 0);
	cr_assert_eq(model_state.stats.closes, 1);
	cr_assert_eq(sock_live_count(), 1);
	cr_assert_eq(fdt_sock(d) != NULL, 1);
}
