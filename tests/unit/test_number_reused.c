/* Unit tests of the memory of a closed socket in the descriptor table's word (fdtable.h):
 * a mark that is new each time a number becomes such a memory, and its drop once a call
 * shows the number reused (model_number_reused), only while it is still the same mark. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "model_test.h"
#include "track/fdtable.h"
#include "track/findings.h"
#include "track/model.h"

static uintptr_t word(int fd)
{
	return atomic_load(&fdt_hot[fd]);
}

Test(number_reused, closed_socket_leaves_a_mark_a_reuse_drops)
{
	model_init(NULL);
	int fd = tracked_socket();
	cr_assert_eq(fdt_sock(fd) != NULL, 1);
	tracked_close(fd);
	uintptr_t mark = word(fd);
	cr_assert(mark & FDT_CLOSED, "the closed socket's number is marked");
	cr_assert_null(fdt_sock(fd));
	cr_assert(fdt_was_closed_socket(fd));
	/* A read on the number succeeded: a file or pipe holds it now. */
	model_number_reused(fd, mark);
	cr_assert_eq(word(fd), 0, "the number is cold again");
	cr_assert(!fdt_was_closed_socket(fd));
	cr_assert(fdt_is_cold(fd));
	model_exit_checks();
	cr_assert_eq(findings_total(), 0);
}

Test(number_reused, a_later_mark_is_kept)
{
	model_init(NULL);
	int fd = tracked_socket();
	tracked_close(fd);
	uintptr_t first = word(fd);
	/* Before the reader's drop arrives: another socket took the number and was closed. */
	cr_assert_eq(tracked_socket(), fd);
	cr_assert_eq(fdt_sock(fd) != NULL, 1);
	tracked_close(fd);
	uintptr_t second = word(fd);
	cr_assert(second & FDT_CLOSED);
	cr_assert_neq(second, first, "each memory gets a mark of its own");
	model_number_reused(fd, first);
	cr_assert_eq(word(fd), second, "the newer memory stays");
	/* It still makes a second close a double close. */
	tracked_close(fd);
	model_exit_checks();
	cr_assert_eq(findings_total(), 1);
	cr_assert_eq(findings_of_kind(CONNLEAK_DOUBLE_CLOSE), 1);
}

Test(number_reused, a_third_close_marks_anew)
{
	model_init(NULL);
	int fd = tracked_socket();
	tracked_close(fd);
	uintptr_t first = word(fd);
	tracked_close(fd); /* EBADF: a double close, and the number stays marked */
	uintptr_t again = word(fd);
	cr_assert(again & FDT_CLOSED);
	cr_assert_neq(again, first, "the mark dropped by the close and set again is new");
	model_number_reused(fd, first);
	cr_assert_eq(word(fd), again);
	model_number_reused(fd, again);
	cr_assert_eq(word(fd), 0);
}
