/* TLS session records and their detectors. Sessions are found by their library object in
 * a striped hash (one short lock per lookup, never the model lock on the I/O path); the
 * model lock is taken only when a session changes or a finding is made. */
#include "tls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "../util/hashtable.h"

#include "../util/clock.h"
#include "endpoint.h"
#include "fdtable.h"
#include "findings.h"
#include "lease.h"
#include "model.h"
#include "tls_bio.h"

#define STRIPES 64

struct entry {
	UT_hash_handle hh;
	void *key;
	struct tls_sess *sess;
};

static struct {
	pthread_mutex_t lock;
	struct entry *map;
} stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static struct tls_sess *live, *free_list;
static uint32_t orphaned;
static uint32_t proc; /* bumped in a forked child (tls_fork_child) */

static void init_stripes(void)
{
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&stripes[i].lock, NULL);
}

static unsigned stripe_of(void *key)
{
	uintptr_t k = (uintptr_t)key;
	return (unsigned)((k >> 4) ^ (k >> 12)) % STRIPES;
}

/* Bumped by every change of the map. Each thread keeps the two sessions it looked up last,
 * with the map's version then: a program calls SSL_read and SSL_write on the same session
 * many times in a row (a proxy alternates between two), and each call looks its session up
 * (tlscall.c), so most lookups are answered here, without a lock or a hash. Any change
 * anywhere (a session made, freed, or its address reused) makes every thread look again. */
atomic_uint tls_map_version; /* tls.h */
__thread struct tls_thread tls_thread __attribute__((tls_model("initial-exec")));
static struct tls_sess *lookup(void *key)
{
	struct tls_recent *recent = tls_thread.recent;
	unsigned v = atomic_load_explicit(&tls_map_version, memory_order_acquire);
	struct tls_recent *e = NULL;
	for (int k = 0; k < TLS_RECENT; k++)
		if (recent[k].key == key) {
			if ((uint32_t)recent[k].stamp == v)
				return recent[k].sess;
			e = &recent[k]; /* its entry, from before a change: renewed below */
			break;
		}
	pthread_once(&stripes_once, init_stripes);
	unsigned i = stripe_of(key);
	struct entry *h;
	pthread_mutex_lock(&stripes[i].lock);
	HASH_FIND_PTR(stripes[i].map, &key, h);
	struct tls_sess *s = h ? h->sess : NULL;
	pthread_mutex_unlock(&stripes[i].lock);
	/* Kept with the version read before the look: a change made meanwhile shows as a
	 * newer version at the next call. The fields below are written before their change's
	 * bump (release), and read after the version (acquire): what they say is at least as
	 * new as v. */
	if (!e)
		e = &recent[tls_thread.next++ % TLS_RECENT];
	int plain = (!s || (s->s && !s->t_orphaned)) && !lease_framing;
	e->key = key;
	e->sess = s;
	e->stamp = (plain ? TLS_STAMP_PLAIN : 0) | v;
	return s;
}

static void map_put(void *key, struct tls_sess *sess)
{
	pthread_once(&stripes_once, init_stripes);
	unsigned i = stripe_of(key);
	struct entry *e;
	pthread_mutex_lock(&stripes[i].lock);
	HASH_FIND_PTR(stripes[i].map, &key, e);
	if (!e && sess && (e = calloc(1, sizeof *e))) {
		e->key = key;
		HASH_ADD_PTR(stripes[i].map, key, e);
	}
	if (e && sess)
		e->sess = sess;
	else if (e) {
		HASH_DEL(stripes[i].map, e);
		free(e);
	}
	atomic_fetch_add_explicit(&tls_map_version, 1, memory_order_release);
	pthread_mutex_unlock(&stripes[i].lock);
}

static void unlink_from_sock(struct tls_sess *t)
{
	if (!t->s)
		return;
	struct tls_sess **pp = &t->s->sessions;
	while (*pp && *pp != t)
		pp = &(*pp)->next_in_sock;
	if (*pp)
		*pp = t->next_in_sock;
	t->s = NULL;
	t->next_in_sock = NULL;
}

void tls_new(void *key, int lib)
{
	model_lock();
	struct tls_sess *t = free_list;
	if (t)
		free_list = t->next;
	else
		t = malloc(sizeof *t);
	if (!t) {
		model_unlock();
		return;
	}
	memset(t, 0, sizeof *t);
	t->key = key;
	t->lib = lib;
	t->fd = -1;
	t->proc = proc;
	t->created = model_capture();
	t->t_created = clock_coarse_ms();
	t->next = live;
	if (live)
		live->prev = t;
	live = t;
	model_state.stats.tls_sessions++;
	model_unlock();
	/* A library may hand out an address a freed session had: the new one wins. */
	map_put(key, t);
}

static void base_finding(struct finding *f, const struct tls_sess *t, int kind)
{
	memset(f, 0, sizeof *f);
	f->key.kind = kind;
	f->key.created = t->created;
	f->key.closed = t->closed;
	f->fd = t->fd;
	f->gen = t->gen;
	f->family = t->family;
	f->type = SOCK_STREAM;
	f->origin = t->s || t->t_orphaned ? t->origin : -1;
	f->local = t->local;
	f->local_len = t->local_len;
	f->tcp_state = -1;
	f->peer = t->peer;
	f->peer_len = t->peer_len;
	memcpy(f->hostname, t->host, sizeof f->hostname);
	f->tls_lib = t->lib;
	f->tls_session = (uintptr_t)t->key;
	uint64_t now = clock_coarse_ms();
	f->age_ms = now - t->t_created;
	f->dangling_ms = t->t_orphaned && now > t->t_orphaned ? now - t->t_orphaned : 0;
}

/* Model lock held. */
static void closed_but_referenced(struct tls_sess *t)
{
	if (t->reported || t->proc != proc)
		return;
	t->reported = 1;
	struct finding f;
	base_finding(&f, t, CONNLEAK_CLOSED_BUT_REFERENCED);
	findings_add(&f);
}

void tls_free(void *key)
{
	struct tls_sess *t = lookup(key);
	if (!t)
		return;
	map_put(key, NULL);
	model_lock();
	if (t->t_orphaned) {
		if (clock_coarse_ms() - t->t_orphaned > model_opt->close_wait_ms)
			closed_but_referenced(t);
		orphaned--;
	}
	unlink_from_sock(t);
	if (t->prev)
		t->prev->next = t->next;
	else
		live = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = NULL;
	t->next = free_list;
	free_list = t;
	model_unlock();
}

void tls_bind(void *key, int fd)
{
	struct tls_sess *t = lookup(key);
	if (!t)
		return;
	model_lock();
	struct sock *s = sock_here(fdt_sock(fd));
	if (s && s != t->s) {
		unlink_from_sock(t);
		t->s = s;
		t->next_in_sock = s->sessions;
		s->sessions = t;
		t->fd = fd;
		struct fd_slot *slot = fdt_slot(fd, 0);
		t->gen = slot ? slot->gen : 0;
		t->peer = s->peer;
		t->peer_len = s->peer_len;
		t->family = s->family;
		t->origin = s->origin;
		/* The local address is gone once the socket is: keep it now. */
		t->local_len = sizeof t->local;
		if (getsockname(fd, (struct sockaddr *)&t->local, &t->local_len) != 0)
			t->local_len = 0;
		/* Its socket changed: what threads remember of it (tls.h). */
		atomic_fetch_add_explicit(&tls_map_version, 1, memory_order_release);
	}
	model_unlock();
}

int tls_is_bound(void *key)
{
	struct tls_sess *t = lookup(key);
	return !t || t->s || t->t_orphaned;
}

int tls_state(void *key)
{
	struct tls_sess *t = lookup(key);
	if (!t)
		return TLS_STATE_BOUND;
	return (t->s || t->t_orphaned ? TLS_STATE_BOUND : 0) |
	       (t->t_orphaned ? TLS_STATE_ORPHANED : 0);
}

void tls_set_host(void *key, const char *name)
{
	struct tls_sess *t = lookup(key);
	if (!t || !name)
		return;
	model_lock();
	strncpy(t->host, name, sizeof t->host - 1);
	t->host[sizeof t->host - 1] = '\0';
	model_unlock();
}

void tls_handshake_done(void *key, int resumed)
{
	struct tls_sess *t = lookup(key);
	if (!t)
		return;
	model_lock();
	if (t->s) {
		/* Connected by now: the local address a bind before connect() could not see. */
		t->local_len = sizeof t->local;
		if (getsockname(t->fd, (struct sockaddr *)&t->local, &t->local_len) != 0)
			t->local_len = 0;
		t->peer = t->s->peer;
		t->peer_len = t->s->peer_len;
	}
	if (t->s && t->s->ep) {
		t->s->ep->tls_handshakes++;
		if (resumed)
			t->s->ep->tls_resumed++;
	}
	model_unlock();
}

int tls_use(void *key)
{
	struct tls_sess *t = lookup(key);
	if (!t || !t->t_orphaned)
		return 0;
	stack_id used = model_capture();
	model_lock();
	closed_but_referenced(t);
	struct finding f;
	base_finding(&f, t, CONNLEAK_STALE_FD_USE);
	f.key.used = used;
	struct fd_slot *slot = fdt_slot(t->fd, 0);
	struct sock *other = slot ? atomic_load(&slot->sock) : NULL;
	if (other && slot->gen != t->gen) {
		f.crosstalk = 1;
		f.now_peer = other->peer;
		f.now_peer_len = other->peer_len;
	}
	findings_add(&f);
	model_unlock();
	return TLS_USE_STALE | (model_opt->halt_on_error ? TLS_USE_HALT : 0);
}

struct sock *tls_framed_sock(void *key, uint32_t *incarnation)
{
	struct tls_sess *t = lookup(key);
	if (!t)
		return NULL;
	model_lock();
	struct sock *s = t->s;
	if (s) {
		http_use_tls(&s->http);
		if (atomic_load(&s->http.mode) == HTTP_TLS)
			*incarnation = atomic_load(&s->incarnation);
		else
			s = NULL;
	}
	model_unlock();
	return s;
}

void tls_socket_gone(struct sock *s, stack_id closed)
{
	uint64_t now = clock_coarse_ms();
	for (struct tls_sess *t = s->sessions, *n; t; t = n) {
		n = t->next_in_sock;
		/* Bound before connect() (ab, curl's happy eyeballs): the peer is known now. */
		t->peer = s->peer;
		t->peer_len = s->peer_len;
		t->s = NULL;
		t->next_in_sock = NULL;
		t->closed = closed;
		t->t_orphaned = now ? now : 1;
		orphaned++;
	}
	s->sessions = NULL;
	/* Orphaned: no thread's recent lookup may answer "plain" for them any more. */
	atomic_fetch_add_explicit(&tls_map_version, 1, memory_order_release);
}

void tls_exit_checks(void)
{
	/* Within close_wait_ms of its socket's close, as for a session freed late: the exit
	 * itself tore both down (atexit handlers, library destructors, apr_pool_destroy
	 * closing the sockets of sessions nobody frees). */
	if (!orphaned) /* the usual exit, a forked child's too: no walk */
		return;
	uint64_t now = clock_coarse_ms();
	for (struct tls_sess *t = live; t; t = t->next)
		if (t->t_orphaned && now - t->t_orphaned > model_opt->close_wait_ms)
			closed_but_referenced(t);
}

uint32_t tls_orphaned_count(void)
{
	return orphaned;
}

const struct tls_sess *tls_live_head(void)
{
	return live;
}

void tls_fork_prepare(void)
{
	pthread_once(&stripes_once, init_stripes);
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_lock(&stripes[i].lock);
	tls_bio_fork_prepare();
}

void tls_fork_parent(void)
{
	tls_bio_fork_parent();
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_unlock(&stripes[i].lock);
}

void tls_locks_reset(void)
{
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&stripes[i].lock, NULL);
}

void tls_fork_child(void)
{
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&stripes[i].lock, NULL);
	tls_bio_fork_child();
	/* The parent's sessions are the parent's: the child's report starts clean of them,
	 * but the records stay so the child's own use of them is still followed. Told by
	 * their generation, not by a walk: a fork costs the same however many are open. */
	proc++;
}
