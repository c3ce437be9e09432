/* tests/bench/churn.c — connection-churn workload for `make bench` (tests/bench/run.sh).
 *
 * Usage: churn PORT ITERATIONS
 * Each iteration: socket, connect to 127.0.0.1:PORT, write a small HTTP/1.0 GET, read until
 * EOF, close.  Every connection is opened and closed by the program, so under connleak it
 * must end clean.  Exits non-zero on the first failure so the harness never times a broken run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char request[] = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";

static int one_request(const struct sockaddr_in *sa)
{
    char buf[4096];
    size_t off = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0) {
        perror("churn: socket");
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
        perror("churn: connect");
        close(fd);
        return -1;
    }
    while (off < sizeof request - 1) {
        n = write(fd, request + off, sizeof request - 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror("churn: write");
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    for (;;) {
        n = read(fd, buf, sizeof buf);
        if (n > 0)
            continue;
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        perror("churn: read");
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        perror("churn: close");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    char *end;
    long port, iterations, i;

    if (argc != 3) {
        fprintf(stderr, "usage: %s PORT ITERATIONS\n", argv[0]);
        return 2;
    }
    port = strtol(argv[1], &end, 10);
    if (*end || port <= 0 || port > 65535) {
        fprintf(stderr, "churn: bad port '%s'\n", argv[1]);
        return 2;
    }
    iterations = strtol(argv[2], &end, 10);
    if (*end || iterations < 0) {
        fprintf(stderr, "churn: bad iteration count '%s'\n", argv[2]);
        return 2;
    }

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    for (i = 0; i < iterations; i++)
        if (one_request(&sa) != 0) {
            fprintf(stderr, "churn: failed at iteration %ld\n", i);
            return 1;
        }
    return 0;
}
