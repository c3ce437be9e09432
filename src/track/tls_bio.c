/* Memory-BIO sessions bound by their ciphertext (see tls_bio.h). A small table, bounded:
 * one entry per unbound session with a write BIO, the oldest replaced when full (a session
 * that lost its entry stays unbound, as before). Its own lock: it is touched by BIO_read
 * and, while ciphertext is pending, by sends; never by the plain read/write path. */
#include "tls_bio.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tls.h"

#define ENTRIES 256
#define PREFIX 32 /* bytes hashed: a TLS record header and 27 bytes of ciphertext */

struct bio_entry {
	void *session, *wbio;
	size_t pend_len; /* 0: nothing pending */
	uint64_t pend_hash;
	uint64_t stamp;
};

static struct bio_entry table[ENTRIES];
static uint64_t clock_stamp;
atomic_uint tls_bio_used; /* entries in the table */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
atomic_uint tls_bio_pending;

void tls_bio_when_empty(void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&lock);
	if (!atomic_load_explicit(&tls_bio_used, memory_order_relaxed))
		fn(arg);
	pthread_mutex_unlock(&lock);
}

static uint64_t prefix_hash(const void *buf, size_t n)
{
	const unsigned char *p = buf;
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (size_t i = 0; i < n && i < PREFIX; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static void clear_pending(struct bio_entry *e)
{
	if (e->pend_len)
		atomic_fetch_sub_explicit(&tls_bio_pending, 1, memory_order_relaxed);
	e->pend_len = 0;
}

void tls_bio_note(void *session, void *wbio)
{
	if (!session || !wbio)
		return;
	pthread_mutex_lock(&lock);
	struct bio_entry *slot = NULL, *oldest = &table[0];
	for (unsigned i = 0; i < ENTRIES; i++) {
		struct bio_entry *e = &table[i];
		/* the same session rebinding, or an address a freed BIO or session had */
		if (e->session == session || e->wbio == wbio) {
			clear_pending(e);
			memset(e, 0, sizeof *e);
			atomic_fetch_sub_explicit(&tls_bio_used, 1, memory_order_relaxed);
		}
		if (!e->session && !slot)
			slot = e;
		if (e->stamp < oldest->stamp)
			oldest = e;
	}
	if (!slot) {
		slot = oldest;
		clear_pending(slot);
		atomic_fetch_sub_explicit(&tls_bio_used, 1, memory_order_relaxed);
	}
	slot->session = session;
	slot->wbio = wbio;
	slot->pend_len = 0;
	slot->stamp = ++clock_stamp;
	atomic_fetch_add_explicit(&tls_bio_used, 1, memory_order_relaxed);
	pthread_mutex_unlock(&lock);
}

void tls_bio_out(void *bio, const void *buf, size_t n)
{
	if (!atomic_load_explicit(&tls_bio_used, memory_order_relaxed) || !n)
		return;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < ENTRIES; i++) {
		struct bio_entry *e = &table[i];
		if (e->wbio != bio || !e->session)
			continue;
		/* The first ciphertext not yet seen on a socket is the one to look for. */
		if (!e->pend_len) {
			e->pend_len = n;
			e->pend_hash = prefix_hash(buf, n);
			atomic_fetch_add_explicit(&tls_bio_pending, 1, memory_order_relaxed);
		}
		break;
	}
	pthread_mutex_unlock(&lock);
}

void tls_bio_match(int fd, const void *buf, size_t n)
{
	if (!buf || !n)
		return;
	void *session = NULL;
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < ENTRIES && !session; i++) {
		struct bio_entry *e = &table[i];
		if (!e->pend_len)
			continue;
		size_t k = e->pend_len < PREFIX ? e->pend_len : PREFIX;
		/* The send starts with the handed-out bytes (a program may send them in more
		 * than one call, or with more behind them). */
		if (n >= k && prefix_hash(buf, k) == e->pend_hash) {
			session = e->session;
			clear_pending(e);
			memset(e, 0, sizeof *e);
			atomic_fetch_sub_explicit(&tls_bio_used, 1, memory_order_relaxed);
		}
	}
	pthread_mutex_unlock(&lock);
	if (session)
		tls_bind(session, fd);
}

void tls_bio_fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

void tls_bio_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

void tls_bio_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
}
