/* What the model's unit tests share: a socket the model follows as the socket() hook
 * records it, and a close as the close() hook reports it (both steps around the real
 * close). Criterion forks a process per test, so the model starts fresh in each. */
#ifndef CONNLEAK_MODEL_TEST_H
#define CONNLEAK_MODEL_TEST_H

#include <criterion/criterion.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "track/model.h"
#include "track/sock.h"

static inline int tracked_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	model_new_socket(fd, AF_INET, SOCK_STREAM, ORIGIN_SOCKET);
	return fd;
}

/* Returns the real close's errno (0: closed). */
static inline int tracked_close(int fd)
{
	struct close_ctx c;
	model_close_begin(fd, 0, &c);
	int r = close(fd);
	int err = r == 0 ? 0 : errno;
	model_close_end(&c, err);
	return err;
}

#endif
