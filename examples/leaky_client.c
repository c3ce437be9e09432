/* A small HTTP client with two classic connection bugs, for `make demo`:
 *  - fetch_and_forget() returns without closing its socket (leaked-socket);
 *  - a pooled connection whose server closed it stays parked in the pool (close-wait).
 * usage: leaky_client PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int dial(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

/* Sends one request and reads the reply until the server closes (HTTP/1.0). */
static size_t get(int fd)
{
	const char req[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	if (write(fd, req, sizeof req - 1) < 0)
		return 0;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		total += (size_t)n;
	return total;
}

static void fetch_and_forget(int port)
{
	int fd = dial(port);
	printf("fetched %zu bytes\n", get(fd));
	/* missing: close(fd) */
}

static int pool[4];

static void fetch_and_park(int port)
{
	int fd = dial(port);
	printf("fetched %zu bytes, parking the connection for reuse\n", get(fd));
	pool[0] = fd; /* the server has closed it: it can never be reused */
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 8080;
	fetch_and_forget(port);
	fetch_and_park(port);
	usleep(300 * 1000);
	return 0;
}
