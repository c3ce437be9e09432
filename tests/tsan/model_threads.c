/* The model under ThreadSanitizer: threads run what the hooks run for their own sockets
 * (create, connect, write/read on the lock-free path, shutdown, dup, close, and a close
 * of another thread's socket) on real socketpairs while another thread reads the model
 * the way the exit report and the timeline do. Any data race TSan sees fails `make sanitize`. Criterion cannot run under
 * TSan (its arena allocator), hence a plain program.
 *
 *   build/tsan/model-threads   exit 0 when every round completed (TSan exits 66 on a race) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "track/fdtable.h"
#include "track/findings.h"
#include "track/io.h"
#include "track/model.h"
#include "track/timeline.h"
#include "util/clock.h"

#define THREADS 4
#define ROUNDS 300

static struct options opts;
static _Atomic int done;
static _Atomic int mailbox = -1;

/* As the close hook does: detach the number before the real close, finish after. A model
 * call after the real close would race another thread that gets the same number from
 * socketpair() in between, and close that thread's new record under it. */
static void close_as_hook(int fd)
{
	struct close_ctx c;
	model_close_begin(fd, 0, &c);
	int err = close(fd) ? errno : 0;
	model_close_end(&c, err);
}

static void one_round(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return;
	model_new_socket(sv[0], AF_UNIX, SOCK_STREAM, ORIGIN_SOCKETPAIR);
	model_new_socket(sv[1], AF_UNIX, SOCK_STREAM, ORIGIN_SOCKETPAIR);
	/* Every thread "connects" to one network endpoint (the model takes the address as
	 * given): its counters change in the per-descriptor sections of several threads at
	 * once while the reader's timeline sample reads them. */
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(9)};
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	model_connect(sv[0], (struct sockaddr *)&peer, sizeof peer);
	model_connect(sv[1], (struct sockaddr *)&peer, sizeof peer);
	char buf[16];
	for (int i = 0; i < 4; i++) {
		ssize_t w = write(sv[0], "ping", 4);
		struct sock *s = fdt_sock(sv[0]);
		if (s)
			io_wrote(s, w, errno);
		ssize_t r = read(sv[1], buf, sizeof buf);
		if ((s = fdt_sock(sv[1])))
			io_read(s, r, sizeof buf, errno, 0);
	}
	int d = dup(sv[0]);
	if (d >= 0)
		model_dup(sv[0], d);
	shutdown(sv[1], SHUT_WR);
	model_shutdown(sv[1], SHUT_WR);
	ssize_t r = read(sv[0], buf, sizeof buf);
	struct sock *s = fdt_sock(sv[0]);
	if (s)
		io_read(s, r, sizeof buf, errno, 0);
	close_as_hook(sv[0]);
	if (d >= 0)
		close_as_hook(d);
	/* sv[1] is closed by whichever thread takes it from the mailbox next (the one left
	 * at the end by main): sockets made on one thread and closed on another, each on the
	 * number's per-descriptor section. */
	int other = atomic_exchange(&mailbox, sv[1]);
	if (other >= 0)
		close_as_hook(other);
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++)
		one_round();
	return NULL;
}

static void count(const struct finding *f, void *ctx)
{
	*(unsigned long *)ctx += f->count;
}

static void *reader(void *arg)
{
	(void)arg;
	unsigned long n = 0;
	while (!done) {
		model_lock();
		findings_each(count, &n);
		timeline_sample_now(clock_coarse_ms()); /* as the report writer does (under the lock) */
		model_unlock();
		(void)findings_total();
	}
	return NULL;
}

int main(void)
{
	options_defaults(&opts);
	opts.sample_ms = 1;
	model_init(&opts);
	pthread_t w[THREADS], rd;
	pthread_create(&rd, NULL, reader, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&w[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i], NULL);
	done = 1;
	pthread_join(rd, NULL);
	if (mailbox >= 0)
		close_as_hook(mailbox);
	model_exit_checks();
	printf("model-threads: %d threads x %d rounds done\n", THREADS, ROUNDS);
	return 0;
}
