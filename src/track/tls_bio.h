/* Binding TLS sessions driven through memory BIOs to their socket. A program that feeds
 * OpenSSL through memory BIOs (.NET's SslStream, Python's SSLObject) moves the ciphertext
 * itself, often on another thread, so no socket call ever happens inside an SSL call. The
 * clue used instead: the ciphertext BIO_read hands out of a session's write BIO is what
 * the program sends next on its socket. Only a length and a hash of the first bytes are
 * kept, until the matching send; never the bytes. */
#ifndef CONNLEAK_TLS_BIO_H
#define CONNLEAK_TLS_BIO_H

#include <stdatomic.h>
#include <stddef.h>

/* Sessions with ciphertext handed out and not yet seen on a socket: the write path looks
 * further only while this is non-zero. */
extern atomic_uint tls_bio_pending;
/* Unbound sessions with a noted write BIO: BIO_read looks further only while non-zero. */
extern atomic_uint tls_bio_used;

/* Runs fn(arg) under the table's lock if no session waits (tls_bio_used is 0): BIO_read's
 * hook turns to its direct path with it, so a note made meanwhile is never overtaken. */
void tls_bio_when_empty(void (*fn)(void *), void *arg);

/* SSL_set_bio/SSL_set0_wbio on a session not bound to a socket: remember its write BIO. */
void tls_bio_note(void *session, void *wbio);
/* BIO_read returned `n` > 0 bytes of `buf` from `bio`. */
void tls_bio_out(void *bio, const void *buf, size_t n);
/* The program sends `n` bytes of `buf` on socket `fd` while something is pending: binds
 * the session whose ciphertext this is. */
void tls_bio_match(int fd, const void *buf, size_t n);

/* Around fork (from tls.c's fork handlers): the table's lock is never inherited held. */
void tls_bio_fork_prepare(void);
void tls_bio_fork_parent(void);
void tls_bio_fork_child(void);

#endif
