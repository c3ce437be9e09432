/* The model's event interface: hooks report what a call did, in one call, after the real
 * function returned. Everything here except the I/O functions in io.h takes the model lock.
 * Testable without preloading: unit tests call these directly. */
#ifndef CONNLEAK_MODEL_H
#define CONNLEAK_MODEL_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../util/options.h"
#include "findings.h"
#include "sock.h"

struct model_stats {
	uint64_t created, accepted, received, inherited, connects, closes, peak_open;
	uint64_t tls_sessions, leases_enforced;
	/* Sockets not followed because connleak could not allocate their record: the run
	 * goes on, the report says it is incomplete. */
	uint64_t untracked;
	uint64_t reusable_at_exit; /* open-at-exit connections, shown or not */
};

#define MODEL_EVENTS_MAX 64

struct model_event {
	uint64_t t_ms; /* since start */
	const char *what;
	long arg;  /* fork: the child */
	int fd;    /* lease: the connection shut down */
	uint64_t age_ms;
	const char *reason; /* lease: "expired" or "dns-change" */
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char host[128];
};

struct model_view {
	struct model_stats stats;
	uint64_t start_wall_ms, start_mono_ms;
	int nevents;
	uint64_t events_dropped;
	uint64_t events_deferred_lost; /* signal-handler events past the per-thread queue */
	struct model_event events[MODEL_EVENTS_MAX];
};

extern struct model_view model_state;
extern const struct options *model_opt;

void model_init(const struct options *o);
void model_lock(void);
void model_unlock(void);
/* The lock with a bound (a fatal signal may have interrupted its holder): 0 when taken. */
int model_lock_timed(int ms);
/* In a report helper process (a raw copy of this one): makes every lock usable and
 * returns whether the model was unlocked when the copy was taken (consistent). */
int model_helper_begin(void);

void model_new_socket(int fd, int family, int type, int origin);
/* The same with a stack captured earlier (a deferred event). */
void model_new_socket_at(int fd, int family, int type, int origin, stack_id created);
void model_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* cloexec: accept4 with SOCK_CLOEXEC. (model_new_socket's type may carry SOCK_CLOEXEC.) */
void model_accepted(int lfd, int fd, const struct sockaddr *addr, socklen_t len, int cloexec);
/* A close in two steps around the real call. `bulk` for close_range/closefrom, which close
 * what the program no longer knows about and so are never findings. err is 0 on success,
 * else close()'s errno. */
struct close_ctx {
	int fd, bulk, was_closed_socket, described;
	int done; /* the begin step did the end step's work too (model_close_begin) */
	uint32_t gen;
	uint64_t close_wait_held; /* never read EOF, but TCP said CLOSE_WAIT: ms since then */
	unsigned long ino;        /* the socket's inode, when an exec'd program may hold it */
	struct sock *s;
	stack_id closed, previous_close;
	struct finding pre;
};
void model_close_begin(int fd, int bulk, struct close_ctx *c);
void model_close_end(struct close_ctx *c, int err);
/* Both steps, for a close already done (close_range) or driven by tests. */
void model_close(int fd, int err, int bulk);
void model_close_range(unsigned first, unsigned last);
void model_dup(int oldfd, int newfd);
/* The same for dup3(O_CLOEXEC) and F_DUPFD_CLOEXEC (dup and dup2 clear the flag). */
void model_dup_flags(int oldfd, int newfd, int cloexec);
void model_shutdown(int fd, int how);
void model_received(const struct msghdr *msg);
void model_exhausted(int err);
struct dns_answer;
/* `name` resolved to `a` (the program's lookup or our re-resolution). */
void model_dns(const char *name, const struct dns_answer *a);
/* A reply-less EOF/reset after a request on a reused connection, or (`on_write`) a write
 * that failed on a connection that had carried a reply: a finding when keepalive.h says
 * it is the keep-alive race. */
void model_keepalive_race(struct sock *s, const char *answer, int on_write);
/* I/O on fd failed with EBADF: a finding when the program had closed the socket there. */
void model_stale_fd(int fd);
/* A read or write that did not fail with EBADF on a number whose word was `mark`, the
 * memory of a closed socket: the number was reused, the memory goes (if still that one). */
void model_number_reused(int fd, uintptr_t mark);
void model_scan_inherited(void);

void model_fork_prepare(void);
void model_fork_parent(pid_t child);
void model_fork_child(void);

/* Fills the socket part of a finding; `fd` >= 0 asks the kernel for what it knows. Lock held. */
void model_describe(struct finding *f, const struct sock *s, int fd, uint32_t gen);
stack_id model_capture(void);

/* Adds the counters of open connections to their endpoints' live_* fields. */
void model_fold_live(void);

/* Appends an event (NULL when the bounded list is full). Lock held. */
struct model_event *model_add_event(const char *what, long arg);

/* Detectors that run when the process ends (leaked sockets, close-wait). Once. */
void model_exit_checks(void);

#endif
