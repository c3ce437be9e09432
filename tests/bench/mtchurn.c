/* tests/bench/mtchurn.c — socket churn on several threads at once (tests/bench/mtchurn.py).
 *
 * Usage: mtchurn THREADS N
 * Each thread has its own listener on 127.0.0.1 and makes N connections to it: socket,
 * connect, accept, close both, inside the noinline function churn_one, so callgrind counts
 * only those (--toggle-collect=churn_one) and strace counts the futex calls the preload's
 * locks add when threads create and close sockets at the same time. No thread waits for
 * another: what contention there is comes from shared state in the preload.
 * Exits non-zero on the first failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int per_thread;
static pthread_barrier_t start;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

__attribute__((noinline, used)) static void churn_one(int lsn, const struct sockaddr_in *sa)
{
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (const struct sockaddr *)sa, sizeof *sa))
		die("connect");
	int a = accept(lsn, NULL, NULL);
	if (a < 0)
		die("accept");
	close(c);
	close(a);
}

static void *worker(void *arg)
{
	(void)arg;
	struct sockaddr_in sa;
	socklen_t l = sizeof sa;
	int lsn = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, sizeof sa) || listen(lsn, 16) ||
	    getsockname(lsn, (struct sockaddr *)&sa, &l))
		die("listen");
	pthread_barrier_wait(&start);
	for (int i = 0; i < per_thread; i++)
		churn_one(lsn, &sa);
	close(lsn);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return fprintf(stderr, "usage: %s THREADS N\n", argv[0]), 2;
	int nt = atoi(argv[1]);
	per_thread = atoi(argv[2]);
	if (nt < 1 || nt > 256 || per_thread < 1)
		return 2;
	pthread_t t[256];
	pthread_barrier_init(&start, NULL, (unsigned)nt);
	for (int i = 0; i < nt; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			die("pthread_create");
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	return 0;
}
