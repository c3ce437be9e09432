/* keepalive-race precision: the facts that tell a request written on a reused idle
 * connection the peer had already closed (the server's keep-alive timeout racing the
 * client) from closes that belong to the protocol: a goodbye the peer answers by closing
 * (memcached/SMTP/POP3/FTP/redis QUIT, IMAP LOGOUT, a TLS close_notify alert, also when a
 * proxy relays it), a write after the program had itself read EOF, and a write made right
 * after a reply that came with the close or that refused the previous command (an SMTP
 * 451-and-hang-up, whichever of the server's FIN and the client's next command comes
 * first). */
#ifndef CONNLEAK_KEEPALIVE_H
#define CONNLEAK_KEEPALIVE_H

#include <stddef.h>
#include <sys/uio.h>

#include "sock.h"

/* Whether the first `n` bytes of a write are a goodbye rather than a request: the peer
 * closing in answer is the protocol, not a race. Looks at no more than 32 bytes. */
int keepalive_goodbye(const void *head, size_t n);
/* Whether a reply begins with a refusal in a line protocol with numeric replies (SMTP,
 * LMTP, FTP, NNTP): a 4xx or 5xx code, then a space, a '-' or the end of the line. A
 * server that refuses may end the session right after (SMTP's 421, a 451 and hang-up),
 * so the client's next command (RSET, QUIT) racing that close is the protocol, not a
 * request on a reused idle connection. HTTP replies start "HTTP/": never a refusal here.
 * Looks at no more than 4 bytes. */
int keepalive_refusal(const void *head, size_t n);
/* A client's write that starts a new turn on a connection that already carried a reply:
 * whether it is a request on a reused connection (arm the race). Not a goodbye, and not
 * part of a TLS handshake: a handshake record (ChangeCipherSpec, Handshake) is a turn of
 * the handshake, and the two turns after it are the connection's first request (a TLS
 * 1.3 server's session tickets may come between its writes), however many handshake
 * replies came before. */
int keepalive_reuse_turn(struct sock *s, const struct iovec *iov, size_t niov,
			 size_t written);

/* At a reply-less EOF/reset after a reused request (or a failed write on a replied
 * connection, `on_write`): whether it is the keep-alive race. A request after an idle
 * spell of keepalive_idle_ms always is; after a shorter gap, only one the peer read and
 * answered by a plain close, when the reply before it was no refusal. Model lock held. */
int keepalive_is_race(struct sock *s, const char *answer, int on_write, int tcp_state,
		      uint64_t idle_before_ms);

#endif
