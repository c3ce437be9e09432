/* The socket model: descriptor slots, socket records, and the detectors that run on
 * close, dup, fork and exit. One mutex guards it; the I/O path (io.h) never takes it. */
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/arena.h"
#include "../util/clock.h"
#include "../util/real.h"
#include "../util/threads.h"
#include "endpoint.h"
#include "fdtable.h"
#include "findings.h"
#include "tls.h"
#include "agent.h"
#include "atexit.h"
#include "cloexec.h"
#include "dns.h"
#include "keepalive.h"
#include "lease.h"
#include "modellock.h"
#include "spawn.h"
#include "timeline.h"

struct model_view model_state;
const struct options *model_opt;
static struct options default_opt;

void model_init(const struct options *o)
{
	if (!o) {
		options_defaults(&default_opt);
		o = &default_opt;
	}
	model_opt = o;
	lease_configure(o->lease_peers);
	model_state.start_wall_ms = clock_wall_ms();
	model_state.start_mono_ms = clock_coarse_ms();
	timeline_start(model_state.start_mono_ms, o->sample_ms);
}

uint64_t model_clock_ms;

int model_helper_begin(void)
{
	/* A copy taken while another thread held the lock may be mid-change. Either way
	 * the locks are made usable: no other thread exists here to release them. */
	int was_free = model_locks_reset();
	stacks_fork_child();
	tls_locks_reset();
	return was_free;
}

stack_id model_capture(void)
{
	return stacks_capture(model_opt ? model_opt->backtrace_depth : 16);
}

struct model_event *model_add_event(const char *what, long arg)
{
	if (model_state.nevents >= MODEL_EVENTS_MAX) {
		model_state.events_dropped++;
		return NULL;
	}
	struct model_event *e = &model_state.events[model_state.nevents++];
	memset(e, 0, sizeof *e);
	e->t_ms = clock_coarse_ms() - model_state.start_mono_ms;
	e->what = what;
	e->arg = arg;
	return e;
}

/* Descriptor `fd` stops referring to `s` (close, dup2 over it, or a missed close). */
static void detach(struct fd_slot *slot, struct sock *s)
{
	cloexec_leave(slot, s);
	atomic_store_explicit(&slot->sock, NULL, memory_order_release);
	fdt_sync(slot);
	s->nfds--;
	if (s->nfds > 0 && fdt_sock(s->fd) != s) {
		/* Its descriptor of record went away: describe it by one that still holds it,
		 * the last dup's when it still does (closing the original of a dup costs the
		 * same however many sockets are open), else the first found. */
		if (fdt_sock(s->fd_alt) == s) {
			s->fd = s->fd_alt;
			s->gen = fdt_slot(s->fd, 0)->gen;
			return;
		}
		for (int i = 0; i < fdt_limit(); i++)
			if (fdt_sock(i) == s) {
				s->fd = i;
				s->gen = fdt_slot(i, 0)->gen;
				break;
			}
	}
}

static void finish_sock(struct sock *s, stack_id closed)
{
	sock_here(s);
	if (s->sessions)
		tls_socket_gone(s, closed);
	if (s->ep)
		endpoint_closed(s->ep, model_now() - s->t_created,
				atomic_load(&s->bytes_in), atomic_load(&s->bytes_out),
				atomic_load(&s->replies));
	sock_release(s);
}

static inline __attribute__((always_inline)) void install(struct fd_slot *slot, struct sock *s,
							  int cloexec)
{
	struct sock *old = atomic_load_explicit(&slot->sock, memory_order_relaxed);
	if (old) {
		/* The number came back without a close we saw (a close made inside libc, or a
		 * raw system call): the old socket is gone from this descriptor. */
		detach(slot, old);
		if (old->nfds <= 0)
			finish_sock(old, 0);
	}
	slot->gen++;
	slot->closed_socket = 0;
	slot->last_close = 0;
	cloexec_enter(slot, cloexec);
	s->nfds++;
	atomic_store_explicit(&slot->sock, s, memory_order_release);
	fdt_sync(slot);
}

/* Counters the per-descriptor sections (modellock.h) update too: atomic while threads may
 * race (util/threads.h). Elsewhere, under the model lock, a plain update is enough (no
 * section runs meanwhile). */
#define STAT_ADD(field, n) COUNT_ADD(&model_state.stats.field, (n))

static void stat_raise(uint64_t *p, uint64_t v)
{
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (v > cur &&
	       !__atomic_compare_exchange_n(p, &cur, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static inline __attribute__((always_inline)) void fill_sock(struct sock *s, struct fd_slot *slot, int fd, int family, int type,
		      int origin, stack_id stack)
{
	s->family = family;
	s->type = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK); /* the flags socket() takes */
	s->origin = (uint8_t)origin;
	s->inherited = origin == ORIGIN_INHERITED;
	s->fd = fd;
	s->t_created = model_now();
	s->created = s->inherited ? 0 : stack;
	install(slot, s, type & SOCK_CLOEXEC);
	s->gen = slot->gen;
	stat_raise(&model_state.stats.peak_open, sock_live_count());
}

/* Under the model lock. */
static struct sock *new_sock(int fd, int family, int type, int origin, stack_id stack)
{
	/* Out of memory (the arena could not map more): the program goes on, the socket is
	 * not followed, and the report says so. */
	struct fd_slot *slot = fdt_slot(fd, 1);
	struct sock *s = slot ? sock_new(sock_shard_of(fd)) : NULL;
	if (!s) {
		model_state.stats.untracked++;
		return NULL;
	}
	fill_sock(s, slot, fd, family, type, origin, stack);
	return s;
}

/* The same in fd's per-descriptor section: only onto a slot that exists and holds no
 * socket (the usual case; a slot still holding one whose close we missed is the model
 * lock's). NULL: the caller takes the model lock. */
static struct sock *section_new_sock(int fd, int family, int type, int origin, stack_id stack)
{
	/* fdt_slot(fd, 0) below fdt_limit() changes nothing shared (the limit, the chunks:
	 * model lock only). */
	if ((unsigned)fd >= (unsigned)fdt_limit())
		return NULL;
	struct fd_slot *slot = fdt_slot(fd, 0);
	if (!slot || atomic_load_explicit(&slot->sock, memory_order_relaxed) ||
	    model_section_due())
		return NULL;
	struct sock *s = sock_new(sock_shard_of(fd));
	if (s)
		fill_sock(s, slot, fd, family, type, origin, stack);
	return s;
}

static void count_origin(int origin)
{
	switch (origin) {
	case ORIGIN_ACCEPT:
		STAT_ADD(accepted, 1);
		break;
	case ORIGIN_SCM_RIGHTS:
		STAT_ADD(received, 1);
		break;
	case ORIGIN_INHERITED:
		STAT_ADD(inherited, 1);
		break;
	default:
		STAT_ADD(created, 1);
	}
}

static void new_socket(int fd, int family, int type, int origin, stack_id st)
{
	int sh = model_section_enter(fd);
	if (sh >= 0) {
		struct sock *s = section_new_sock(fd, family, type, origin, st);
		if (s)
			count_origin(origin);
		model_section_leave(sh);
		if (s)
			return;
	}
	model_lock();
	if (new_sock(fd, family, type, origin, st))
		count_origin(origin);
	model_unlock();
}

/* The stack is captured before any lock is taken (interning is lock-free, stacks.c):
 * threads creating and closing sockets never wait on each other for an unwind. */
void model_new_socket(int fd, int family, int type, int origin)
{
	new_socket(fd, family, type, origin, origin == ORIGIN_INHERITED ? 0 : model_capture());
}

void model_new_socket_at(int fd, int family, int type, int origin, stack_id created)
{
	new_socket(fd, family, type, origin, created);
}

static int is_inet(const struct sockaddr *a)
{
	return a->sa_family == AF_INET || a->sa_family == AF_INET6;
}

/* connect() gave s its peer; `want_ep`: s had no endpoint and the peer is a network
 * address, whose endpoint (maybe NULL: the table is full) is ep. */
static inline __attribute__((always_inline)) void connected(struct sock *s, const struct sockaddr *addr, socklen_t len,
		      const char *host, size_t hl, int want_ep, struct endpoint *ep)
{
	memcpy(&s->peer, addr, len);
	s->peer_len = len;
	atomic_store_explicit(&s->client, 1, memory_order_release);
	lease_connected(s);
	STAT_ADD(connects, 1);
	/* A plain copy: this runs for every connect. */
	int had_host = s->host[0] != 0;
	if (hl)
		memcpy(s->host, host, hl);
	s->host[hl] = '\0';
	sock_named(s, had_host);
	if (want_ep) {
		/* The background thread serves network connections only: a process with
		 * nothing but local sockets never gets a thread of ours. */
		agent_ensure();
		s->ep = ep;
		if (ep) {
			endpoint_opened(ep);
			if (hl && (strncmp(ep->host, s->host, hl) || ep->host[hl])) {
				memcpy(ep->host, s->host, hl);
				ep->host[hl] = '\0';
			}
		}
	}
}

/* The host a connect to addr names (dns.h: a name the program resolved to it), and its
 * length as s->host keeps it. */
static const char *host_of(const struct sockaddr *addr, size_t *hl)
{
	const char *host = dns_name_of(addr);
	*hl = host ? strnlen(host, sizeof ((struct sock *)0)->host - 1) : 0;
	return host;
}

/* In fd's section: whether it did model_connect's work (else the model lock does). Only a
 * record no other descriptor reaches, whose endpoint this thread found last (or none),
 * and whose endpoint's name is already this one (endpoints are shared by threads). */
static int section_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sock *s = fdt_sock(fd);
	if (!s || !addr || len > sizeof s->peer)
		return 1; /* nothing to do, as under the model lock */
	if (s->nfds != 1 || s->proc != sock_proc)
		return 0;
	size_t hl;
	const char *host = host_of(addr, &hl);
	int want_ep = !s->ep && is_inet(addr);
	struct endpoint *ep = want_ep ? endpoint_cached(0, addr, len) : NULL;
	if ((want_ep && (!ep || (hl && (strncmp(ep->host, host, hl) || ep->host[hl])))) ||
	    model_section_due())
		return 0;
	connected(s, addr, len, host, hl, want_ep, ep);
	return 1;
}

void model_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	/* Not a socket we follow (a lock-free look: only the thread that created fd's socket
	 * installs it, before the program has the number): nothing to take the lock for. */
	if (!fdt_sock(fd))
		return;
	int sh = model_section_enter(fd);
	if (sh >= 0) {
		int done = section_connect(fd, addr, len);
		model_section_leave(sh);
		if (done)
			return;
	}
	model_lock();
	struct sock *s = sock_here(fdt_sock(fd));
	if (s && addr && len <= sizeof s->peer) {
		size_t hl;
		const char *host = host_of(addr, &hl);
		int want_ep = !s->ep && is_inet(addr);
		connected(s, addr, len, host, hl, want_ep,
			  want_ep ? endpoint_get(0, addr, len) : NULL);
	}
	model_unlock();
}

/* accept() gave s; ep: the listening address's endpoint when `inet`. */
static inline __attribute__((always_inline)) void accepted(struct sock *s, const struct sockaddr *addr, socklen_t len, int inet,
		     struct endpoint *ep)
{
	STAT_ADD(accepted, 1);
	if (addr && len && len <= sizeof s->peer) {
		memcpy(&s->peer, addr, len);
		s->peer_len = len;
	}
	if (inet) {
		agent_ensure();
		s->ep = ep;
		if (ep)
			endpoint_opened(ep);
	}
}

void model_accepted(int lfd, int fd, const struct sockaddr *addr, socklen_t len, int cloexec)
{
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;
	/* The listening address names the endpoint: accepted peers use ephemeral ports and
	 * would make one endpoint per connection. */
	int have_local = getsockname(lfd, (struct sockaddr *)&local, &local_len) == 0;
	stack_id created = model_capture(); /* outside the lock, as model_new_socket */
	int family = addr && len ? addr->sa_family : (have_local ? local.ss_family : AF_UNSPEC);
	int type = SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0);
	int inet = have_local && is_inet((struct sockaddr *)&local);
	int sh = model_section_enter(fd);
	if (sh >= 0) {
		/* The section when the endpoint is the one this thread found last. */
		struct endpoint *ep = inet ? endpoint_cached(1, (struct sockaddr *)&local, local_len)
					   : NULL;
		struct sock *s = !inet || ep ? section_new_sock(fd, family, type, ORIGIN_ACCEPT,
								 created)
					     : NULL;
		if (s)
			accepted(s, addr, len, inet, ep);
		model_section_leave(sh);
		if (s)
			return;
	}
	model_lock();
	struct sock *s = new_sock(fd, family, type, ORIGIN_ACCEPT, created);
	if (s)
		accepted(s, addr, len, inet,
			 inet ? endpoint_get(1, (struct sockaddr *)&local, local_len) : NULL);
	model_unlock();
}

static int tcp_state_of(int fd, int family, int type)
{
	if ((family != AF_INET && family != AF_INET6) || type != SOCK_STREAM)
		return -1;
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return -1;
	return ti.tcpi_state;
}

/* For a TCP socket in CLOSE_WAIT (the peer's FIN arrived, the program never read the EOF):
 * how long ago the peer's last segment came, which is when the FIN came unless the peer
 * still acknowledged data after it. 0 otherwise. */
static uint64_t close_wait_age(int fd, const struct sock *s)
{
	if ((s->family != AF_INET && s->family != AF_INET6) || s->type != SOCK_STREAM)
		return 0;
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    ti.tcpi_state != TCP_CLOSE_WAIT)
		return 0;
	return ti.tcpi_last_ack_recv ? ti.tcpi_last_ack_recv : 1;
}

/* Fills the socket part of a finding from the record and, while `fd` is open, the kernel. */
void model_describe(struct finding *f, const struct sock *s, int fd, uint32_t gen)
{
	uint64_t now = clock_coarse_ms();
	f->fd = fd;
	f->gen = gen;
	f->family = s->family;
	f->type = s->type;
	f->origin = s->origin;
	f->peer = s->peer;
	f->peer_len = s->peer_len;
	/* A plain copy (no stdio): this may run in a signal handler. */
	size_t hl = strnlen(s->host, sizeof s->host);
	if (hl > sizeof f->hostname - 1)
		hl = sizeof f->hostname - 1;
	memcpy(f->hostname, s->host, hl);
	f->hostname[hl] = '\0';
	f->tcp_state = -1;
	f->age_ms = now - s->t_created;
	uint64_t last = atomic_load(&s->t_last_io);
	if (!last)
		last = s->t_created;
	/* Another thread may record I/O after `now` was read. */
	f->idle_ms = now > last ? now - last : 0;
	if (fd >= 0) {
		f->local_len = sizeof f->local;
		if (getsockname(fd, (struct sockaddr *)&f->local, &f->local_len) != 0)
			f->local_len = 0;
		if (!f->peer_len) {
			f->peer_len = sizeof f->peer;
			if (getpeername(fd, (struct sockaddr *)&f->peer, &f->peer_len) != 0)
				f->peer_len = 0;
		}
		f->tcp_state = tcp_state_of(fd, s->family, s->type);
	}
}

static int carried_data(const struct sock *s)
{
	return atomic_load(&s->bytes_in) + atomic_load(&s->bytes_out) > 0;
}

static void check_close_wait(struct sock *s, const struct close_ctx *c, stack_id closed)
{
	uint64_t eof = atomic_load(&s->t_eof);
	/* A lease's own shutdown is not the peer closing. */
	if ((!eof && !c->close_wait_held) || s->leased)
		return;
	uint64_t held = eof ? clock_coarse_ms() - eof : c->close_wait_held;
	if (held <= model_opt->close_wait_ms)
		return;
	struct finding f;
	if (c->described)
		f = c->pre;
	else {
		memset(&f, 0, sizeof f);
		model_describe(&f, s, -1, c->gen);
	}
	f.fd = c->fd;
	f.gen = c->gen;
	f.key.kind = CONNLEAK_CLOSE_WAIT;
	f.key.created = s->created;
	f.key.closed = closed;
	f.held_after_eof_ms = held;
	findings_add(&f);
}

static void shared_close_finding(struct sock *s, int other_fd, int forked)
{
	struct finding f;
	memset(&f, 0, sizeof f);
	model_describe(&f, s, other_fd, s->shared_close_gen);
	f.fd = s->shared_close_fd;
	f.key.kind = CONNLEAK_SHARED_CLOSE;
	f.key.created = s->created;
	f.key.closed = s->shared_close_stack;
	f.other_fds = s->shared_close_others;
	f.forked = forked;
	findings_add(&f);
}

/* Whether a forked child may still hold the socket: running, not yet reaped or a zombie
 * (whose descriptors are closed). An unknown child (0) is assumed alive. */
static int child_alive(int pid)
{
	if (pid <= 0)
		return 1;
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = real.open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = real.read(fd, buf, sizeof buf - 1);
	real.close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	const char *p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && p[2] == 'Z');
}

/* A close of a connection this process used, which leaves it open elsewhere. */
static int close_would_end_use(const struct sock *s)
{
	return !s->inherited && s->type == SOCK_STREAM && s->peer_len && !s->shut_wr &&
	       carried_data(s);
}

/* The slot remembers the socket the program closed there (double close, stale use). */
static void remember_closed(struct fd_slot *slot, const struct sock *s, int bulk,
			    stack_id closed)
{
	slot->closed_socket = !bulk;
	fdt_sync(slot);
	slot->last_close = closed;
	slot->last_created = s->created;
	slot->last_peer_len = s->peer_len <= sizeof slot->last_peer ? s->peer_len : 0;
	/* The whole field, a few moves: the length says what of it is the address. */
	if (slot->last_peer_len)
		memcpy(&slot->last_peer, &s->peer, sizeof slot->last_peer);
}

/* model_close_begin in fd's section, for the usual last close only: the socket's one
 * descriptor, a record on its own shard's live list, no finding due, no child or exec'd
 * program holding it, no TLS session (what model_close_begin finishes under the model
 * lock, see below). Whether it did; else the model lock does it all. */
static int section_close(int fd, struct sock *peek, stack_id closing, uint64_t held,
			 struct close_ctx *c)
{
	/* peek came from this slot: fdt_slot handed it out before (chunks are never freed). */
	struct fd_slot *slot = &atomic_load_explicit(&fdt_chunks[(unsigned)fd >> FDT_CHUNK_BITS],
						     memory_order_acquire)[fd & (FDT_CHUNK - 1)];
	struct sock *s = atomic_load_explicit(&slot->sock, memory_order_relaxed);
	if (s != peek || s->nfds != 1 || s->shard != sock_shard_of(fd) || s->proc != sock_proc ||
	    s->on_inherited_list || s->spawned || s->shared_close_stack || s->forked ||
	    s->sessions)
		return 0;
	/* A fork since the descriptor became inheritable: detach() marks the socket forked,
	 * which the end step looks at. */
	if (!slot->cloexec && slot->cx_forks != cloexec_forks)
		return 0;
	uint64_t eof = atomic_load_explicit(&s->t_eof, memory_order_relaxed);
	uint64_t wait_held = !eof && !s->leased ? held : 0;
	if (model_section_due() || (eof && model_now() - eof > model_opt->close_wait_ms) ||
	    wait_held > model_opt->close_wait_ms)
		return 0;
	c->gen = slot->gen;
	c->closed = closing;
	c->close_wait_held = wait_held;
	c->ino = 0;
	detach(slot, s);
	remember_closed(slot, s, 0, closing);
	STAT_ADD(closes, 1);
	finish_sock(s, closing);
	c->done = 1;
	return 1;
}

/* Before the real close(): the descriptor leaves the model while its number is still
 * ours, so a socket another thread opens on the freed number right after the close can
 * never be mistaken for this one. */
void model_close_begin(int fd, int bulk, struct close_ctx *c)
{
	/* Not a memset: the embedded finding is large and only filled when needed. */
	c->fd = fd;
	c->bulk = bulk;
	c->was_closed_socket = c->described = 0;
	c->gen = 0;
	c->s = NULL;
	c->closed = c->previous_close = 0;
	c->close_wait_held = 0;
	c->done = 0;
	/* The close stack of a socket we follow, captured before the lock (lock-free look:
	 * a socket another thread installs meanwhile is captured under the lock below). */
	struct sock *peek = bulk ? NULL : fdt_sock(fd);
	stack_id closing = peek ? model_capture() : 0;
	/* The close-wait check's TCP_INFO too: a system call under the lock keeps every
	 * thread that creates or closes a socket meanwhile waiting (16 threads churning
	 * connections made 12 futex calls a connection). Used below when the lock finds the
	 * same socket. */
	uint64_t held = 0;
	if (peek && !atomic_load_explicit(&peek->t_eof, memory_order_relaxed))
		held = close_wait_age(fd, peek);
	if (peek && closing) {
		int sh = model_section_enter(fd);
		if (sh >= 0) {
			int done = section_close(fd, peek, closing, held, c);
			model_section_leave(sh);
			if (done)
				return;
		}
	}
	model_lock();
	struct fd_slot *slot = fdt_slot(fd, 0);
	if (!slot) {
		model_unlock();
		return;
	}
	c->gen = slot->gen;
	c->s = atomic_load(&slot->sock);
	if (!c->s) {
		c->was_closed_socket = slot->closed_socket;
		c->previous_close = slot->last_close;
		/* Whatever closes now, the number no longer means a socket we closed. */
		slot->closed_socket = 0;
		slot->last_close = 0;
		fdt_sync(slot);
		model_unlock();
		return;
	}
	struct sock *s = sock_here(c->s);
	uint64_t eof = atomic_load_explicit(&s->t_eof, memory_order_relaxed);
	c->closed = bulk ? 0 : closing ? closing : model_capture();
	detach(slot, s);
	remember_closed(slot, s, bulk, c->closed);
	/* What a close-wait finding needs and close() destroys: the local address, TCP state. */
	/* A program that never read the EOF: TCP still knows (one TCP_INFO per last close). */
	if (!bulk && !eof && s->nfds == 0 && !s->leased)
		c->close_wait_held = s == peek ? held : close_wait_age(fd, s);
	c->ino = 0;
	if (!bulk && s->nfds == 0 && s->spawned) {
		struct stat st;
		if (fstat(fd, &st) == 0)
			c->ino = (unsigned long)st.st_ino;
	}
	if (!bulk && s->nfds == 0 &&
	    ((eof && clock_coarse_ms() - eof > model_opt->close_wait_ms) ||
	     c->close_wait_held > model_opt->close_wait_ms)) {
		memset(&c->pre, 0, sizeof c->pre);
		model_describe(&c->pre, s, fd, c->gen);
		c->described = 1;
	}
	/* The usual last close, which no detector looks at after the real close (no finding
	 * due, no other holder, no child, no TLS session): finished here, so a connection's
	 * close takes the model lock once, not twice (16 threads churning connections wait
	 * on each other a third less). Only an EBADF, a close we never saw, differs: the end
	 * step takes it back out of the count. */
	if (!bulk && s->nfds == 0 && !c->described && !c->ino && !s->spawned &&
	    !s->shared_close_stack && !s->forked && !s->sessions) {
		model_state.stats.closes++;
		finish_sock(s, c->closed);
		c->s = NULL;
		c->done = 1;
	}
	model_unlock();
}

void model_close_end(struct close_ctx *c, int err)
{
	if (c->done) {
		/* The socket was already closed where we could not see it (model_close_begin
		 * finished the record): not a close of the program's. */
		if (err == EBADF) {
			model_lock();
			model_state.stats.closes--;
			model_unlock();
		}
		return;
	}
	/* No socket left the model (the number only remembered one the program closed, and
	 * now holds a file or pipe): only an EBADF, a double close, has anything to say. */
	if (!c->s && err != EBADF)
		return;
	model_lock();
	struct sock *s = sock_here(c->s);
	if (err == EBADF) {
		if (s) {
			/* We believed it open: its close happened where we could not see it. */
			if (s->nfds <= 0)
				finish_sock(s, 0);
		} else if (c->was_closed_socket && !c->bulk) {
			/* Still the number of a socket the program closed: a third close is
			 * a double close too. */
			struct fd_slot *slot = fdt_slot(c->fd, 0);
			if (slot && !atomic_load(&slot->sock)) {
				slot->closed_socket = 1;
				fdt_sync(slot);
				slot->last_close = c->previous_close;
			}
			struct finding f;
			memset(&f, 0, sizeof f);
			f.key.kind = CONNLEAK_DOUBLE_CLOSE;
			f.key.closed = model_capture();
			f.key.previous_close = c->previous_close;
			f.fd = c->fd;
			f.gen = c->gen;
			f.tcp_state = -1;
			f.family = AF_UNSPEC;
			f.origin = -1;
			findings_add(&f);
		}
		model_unlock();
		return;
	}
	if (!s) {
		model_unlock();
		return;
	}
	model_state.stats.closes++;
	if (s->nfds > 0) {
		if (!c->bulk && close_would_end_use(s) && !s->shared_close_stack) {
			s->shared_close_stack = c->closed;
			s->t_shared_close = clock_coarse_ms();
			s->shared_close_fd = c->fd;
			s->shared_close_gen = c->gen;
			s->shared_close_others = s->nfds;
		}
		model_unlock();
		return;
	}
	if (!c->bulk) {
		if (s->shared_close_stack &&
		    clock_coarse_ms() - s->t_shared_close > model_opt->close_wait_ms)
			shared_close_finding(s, -1, 0);
		else if (s->forked && close_would_end_use(s) && child_alive(s->fork_child)) {
			s->shared_close_stack = c->closed;
			s->shared_close_fd = c->fd;
			s->shared_close_gen = c->gen;
			s->shared_close_others = 0;
			shared_close_finding(s, -1, 1);
		} else if (c->ino && close_would_end_use(s)) {
			spawn_close_check(s, c);
		}
		check_close_wait(s, c, c->closed);
	}
	finish_sock(s, c->closed);
	model_unlock();
}

void model_close(int fd, int err, int bulk)
{
	struct close_ctx c;
	model_close_begin(fd, bulk, &c);
	model_close_end(&c, err);
}

void model_close_range(unsigned first, unsigned last)
{
	int lim = fdt_limit();
	for (unsigned fd = first; fd <= last && fd < (unsigned)lim; fd++)
		if (fdt_sock((int)fd) || fdt_was_closed_socket((int)fd))
			model_close((int)fd, 0, 1);
}

void model_dup(int oldfd, int newfd)
{
	model_dup_flags(oldfd, newfd, 0);
}

void model_dup_flags(int oldfd, int newfd, int cloexec)
{
	if (oldfd == newfd)
		return;
	model_lock();
	struct sock *s = fdt_sock(oldfd);
	struct fd_slot *nslot = fdt_slot(newfd, 1);
	if (nslot) {
		struct sock *old = atomic_load(&nslot->sock);
		if (old) {
			/* dup2 over an open socket closes it silently. */
			detach(nslot, old);
			if (old->nfds <= 0)
				finish_sock(old, 0);
		}
		if (s) {
			nslot->gen++;
			nslot->closed_socket = 0;
			nslot->last_close = 0;
			cloexec_enter(nslot, cloexec);
			s->nfds++;
			s->fd_alt = newfd;
			atomic_store_explicit(&nslot->sock, s, memory_order_release);
			fdt_sync(nslot);
		}
	}
	model_unlock();
}

void model_shutdown(int fd, int how)
{
	if (!fdt_sock(fd)) /* as model_connect */
		return;
	/* Under the lock: a close on another thread may be recycling the record. */
	model_lock();
	struct sock *s = fdt_sock(fd);
	if (s && (how == SHUT_WR || how == SHUT_RDWR))
		atomic_store_explicit(&s->shut_wr, 1, memory_order_relaxed);
	if (s && (how == SHUT_RD || how == SHUT_RDWR))
		atomic_store_explicit(&s->shut_rd, 1, memory_order_relaxed);
	model_unlock();
}

/* A descriptor we did not see created (received, inherited): followed when it is a socket,
 * with the family and type the kernel reports. Returns whether it was. */
static int adopt(int fd, int origin)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
		return 0;
	/* Received with MSG_CMSG_CLOEXEC, or inherited: the kernel says which. */
	int fl = fcntl(fd, F_GETFD);
	int family = AF_UNSPEC, type = 0;
	socklen_t len = sizeof family;
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len);
	len = sizeof type;
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	model_new_socket(fd, family, type | (fl > 0 && (fl & FD_CLOEXEC) ? SOCK_CLOEXEC : 0),
			 origin);
	return 1;
}

void model_received(const struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)msg); c;
	     c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const int *fds = (const int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, fds + i, sizeof fd);
			if (!adopt(fd, ORIGIN_SCM_RIGHTS))
				continue;
			model_lock();
			struct sock *s = fdt_sock(fd);
			if (s) {
				s->peer_len = sizeof s->peer;
				if (getpeername(fd, (struct sockaddr *)&s->peer, &s->peer_len) != 0)
					s->peer_len = 0;
			}
			model_unlock();
		}
	}
}

void model_dns(const char *name, const struct dns_answer *a)
{
	model_lock();
	dns_resolved(name, a);
	model_unlock();
}

void model_exhausted(int err)
{
	model_lock();
	struct finding f;
	memset(&f, 0, sizeof f);
	f.key.kind = CONNLEAK_FD_EXHAUSTION;
	f.fd = -1;
	f.tcp_state = -1;
	f.origin = -1;
	f.err = err;
	f.open_sockets = sock_live_count();
	/* Group the open sockets by creation stack, then keep the largest groups. Sockets
	 * are bounded by the descriptor limit that was just hit, so counting them all is
	 * cheap next to the failure being reported. */
	uint32_t n = 0, cap = sock_live_count();
	struct group {
		stack_id stack;
		uint32_t count;
	} *all = cap ? arena_map(cap * sizeof *all) : NULL; /* no malloc: see arena.h */
	struct sock *lists[2] = {sock_live_head(), sock_inherited_head()};
	for (int l = 0; l < 2; l++)
		for (struct sock *s = lists[l]; s && all; s = sock_next(s)) {
			uint32_t i;
			for (i = 0; i < n; i++)
				if (all[i].stack == s->created)
					break;
			if (i == n)
				all[n++].stack = s->created;
			all[i].count++;
		}
	for (uint32_t k = 0; k < n && k < EXHAUST_GROUPS; k++) {
		uint32_t best = k;
		for (uint32_t i = k + 1; i < n; i++)
			if (all[i].count > all[best].count)
				best = i;
		struct group t = all[k];
		all[k] = all[best];
		all[best] = t;
		f.groups[k].stack = all[k].stack;
		f.groups[k].count = all[k].count;
		f.ngroups = (int)k + 1;
	}
	if (all)
		arena_unmap(all, cap * sizeof *all);
	findings_add(&f);
	model_unlock();
}

void model_stale_fd(int fd)
{
	stack_id used = model_capture();
	model_lock();
	struct fd_slot *slot = fdt_slot(fd, 0);
	if (slot && slot->closed_socket && !atomic_load(&slot->sock)) {
		struct finding f;
		memset(&f, 0, sizeof f);
		f.key.kind = CONNLEAK_STALE_FD_USE;
		f.key.created = slot->last_created;
		f.key.closed = slot->last_close;
		f.key.used = used;
		f.peer_len = slot->last_peer_len;
		memcpy(&f.peer, &slot->last_peer, f.peer_len);
		f.fd = fd;
		f.gen = slot->gen;
		f.tcp_state = -1;
		f.origin = -1;
		findings_add(&f);
	}
	model_unlock();
}

void model_number_reused(int fd, uintptr_t mark)
{
	model_lock();
	struct fd_slot *slot = fdt_slot(fd, 0);
	if (slot && atomic_load_explicit(&fdt_hot[fd], memory_order_relaxed) == mark) {
		slot->closed_socket = 0;
		slot->last_close = 0;
		fdt_sync(slot);
	}
	model_unlock();
}

void model_keepalive_race(struct sock *s, const char *answer, int on_write)
{
	stack_id used = model_capture();
	model_lock();
	/* Report a race once per request: the next reply byte re-arms it. */
	if (atomic_exchange(&s->reuse_pending, 0) || strcmp(answer, "eof") != 0) {
		struct finding f;
		memset(&f, 0, sizeof f);
		model_describe(&f, s, s->nfds > 0 ? s->fd : -1, s->gen);
		/* A failed write measures the gap up to now; a request that went out, up to
		 * when it was written. */
		f.idle_before_ms = on_write ? f.idle_ms : atomic_load(&s->reuse_idle_ms);
		if (!keepalive_is_race(s, answer, on_write, f.tcp_state, f.idle_before_ms)) {
			atomic_store(&s->phase, PHASE_IDLE);
			model_unlock();
			return;
		}
		f.key.kind = CONNLEAK_KEEPALIVE_RACE;
		f.key.created = s->created;
		f.key.used = used;
		f.replies = atomic_load(&s->replies);
		f.answer = answer;
		findings_add(&f);
		/* A write that failed leaves the phase at "replied": move on so one race is
		 * one finding even if the program retries the write. */
		atomic_store(&s->phase, PHASE_IDLE);
	}
	model_unlock();
}

void model_scan_inherited(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return;
	int self = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || fd == self)
			continue;
		adopt((int)fd, ORIGIN_INHERITED);
	}
	closedir(d);
}

void model_fork_prepare(void)
{
	tls_fork_prepare();
	model_lock();
	stacks_fork_prepare();
}

void model_fork_parent(pid_t child)
{
	if (child > 0) {
		/* A child that does not exec holds every descriptor; one that execs keeps only
		 * those without FD_CLOEXEC. The usual fork is followed by exec. Which sockets
		 * those are is settled per descriptor later (cloexec.h): nothing here per socket. */
		cloexec_forked(child);
		model_add_event("fork", (long)child);
	}
	stacks_fork_parent();
	model_unlock();
	tls_fork_parent();
}

void model_fork_child(void)
{
	model_locks_reset();
	stacks_fork_child();
	tls_fork_child();
	/* Everything open now belongs to the parent too; the child's report starts empty. The
	 * records move to the inherited list as they are (sock.h: sock_here). */
	sock_fork_child();
	findings_clear();
	endpoint_clear();
	timeline_clear();
	memset(&model_state.stats, 0, sizeof model_state.stats);
	model_state.stats.inherited = sock_live_count();
	model_state.stats.peak_open = sock_live_count();
	model_state.nevents = 0;
	model_state.events_dropped = 0;
	model_state.start_wall_ms = clock_wall_ms();
	model_state.start_mono_ms = clock_coarse_ms();
	timeline_start(model_state.start_mono_ms, model_opt->sample_ms);
}

static int is_listening(int fd)
{
	int v = 0;
	socklen_t len = sizeof v;
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

/* A socketpair-style channel: AF_UNIX with no name on either end. It is plumbing between
 * processes or threads (nginx's master/worker channels), not a connection to an endpoint. */
static int is_unnamed_unix(const struct sock *s)
{
	if (s->family != AF_UNIX)
		return 0;
	struct sockaddr_storage a;
	socklen_t len = sizeof a;
	if (getsockname(s->fd, (struct sockaddr *)&a, &len) != 0 || len > sizeof(sa_family_t))
		return 0;
	len = sizeof a;
	return getpeername(s->fd, (struct sockaddr *)&a, &len) != 0 || len <= sizeof(sa_family_t);
}

static void clear_live(const struct endpoint *e, void *ctx)
{
	(void)ctx;
	struct endpoint *m = (struct endpoint *)e;
	m->live_bytes_in = m->live_bytes_out = m->live_requests = 0;
}

void model_fold_live(void)
{
	endpoint_each(clear_live, NULL);
	for (struct sock *s = sock_live_head(); s; s = sock_next(s))
		if (s->ep) {
			s->ep->live_bytes_in += atomic_load(&s->bytes_in);
			s->ep->live_bytes_out += atomic_load(&s->bytes_out);
			s->ep->live_requests += atomic_load(&s->replies);
		}
}

/* Whether fd still holds a socket: a close made by a raw system call (or inside a
 * library) never reached our hooks. */
static int still_socket(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

void model_exit_checks(void)
{
	static int done;
	model_lock();
	if (done++) {
		model_unlock();
		return;
	}
	uint64_t now = clock_coarse_ms();
	/* The end of the timeline, and the last word on growth, before anything is judged. */
	timeline_sample_now(now);
	struct sock *next;
	atexit_begin();
	for (struct sock *s = sock_live_head(); s; s = next) {
		next = sock_next(s);
		if (s->nfds > 0 && !still_socket(s->fd)) {
			for (int fd = 0; fd < fdt_limit(); fd++)
				if (fdt_sock(fd) == s)
					detach(fdt_slot(fd, 0), s);
			finish_sock(s, 0);
			continue;
		}
		if (s->inherited || s->nfds <= 0 || is_listening(s->fd) || is_unnamed_unix(s))
			continue;
		if (s->shared_close_stack) {
			shared_close_finding(s, s->fd, 0);
			continue;
		}
		struct finding f;
		memset(&f, 0, sizeof f);
		model_describe(&f, s, s->fd, s->gen);
		f.key.created = s->created;
		enum atexit_class cls = atexit_classify(s, f.tcp_state);
		if (cls == AX_NOT_CONNECTION)
			continue;
		if (cls == AX_OPEN_AT_EXIT) {
			model_state.stats.reusable_at_exit++;
			if (model_opt->show_open_at_exit) {
				f.key.kind = CONNLEAK_OPEN_AT_EXIT;
				findings_add(&f);
			}
			continue;
		}
		f.key.kind = CONNLEAK_LEAKED_SOCKET;
		findings_add(&f);

		uint64_t eof = s->leased ? 0 : atomic_load(&s->t_eof);
		if (eof > now)
			eof = now;
		int in_close_wait = f.tcp_state == TCP_CLOSE_WAIT;
		if ((eof && now - eof > model_opt->close_wait_ms) ||
		    (!eof && in_close_wait && f.idle_ms > model_opt->close_wait_ms)) {
			f.key.kind = CONNLEAK_CLOSE_WAIT;
			f.held_after_eof_ms = eof ? now - eof : f.idle_ms;
			findings_add(&f);
		}
	}
	atexit_end();
	tls_exit_checks();
	model_unlock();
}
