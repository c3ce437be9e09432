/* keepalive-race precision (see keepalive.h). Runs only on the rare turns: the first write
 * of a request on a connection that already carried a reply, and a reply-less EOF/reset. */
#include "keepalive.h"

#include <netinet/tcp.h>
#include <string.h>
#include <strings.h>

#include "model.h"

/* A TLS record that is an alert: closure (close_notify) or a fatal error, never a request.
 * TLS <= 1.2 sends alerts as content type 21. TLS 1.3 hides the type inside an
 * application-data record (23), but an alert's record is tiny and fixed: 2 alert bytes +
 * 1 inner type byte + the AEAD tag (16, or 8 for CCM_8) = 19 or 11 bytes. */
static int tls_alert(const unsigned char *p, size_t n)
{
	if (n < 5 || p[1] != 3 || p[2] > 4)
		return 0;
	size_t len = (size_t)p[3] << 8 | p[4];
	if (p[0] == 21)
		return n == 5 + len;
	return p[0] == 23 && (len == 19 || len == 11) && n == 5 + len;
}

/* `word` (lower case) at p, followed by the end of the command. */
static int command(const unsigned char *p, size_t n, const char *word)
{
	/* Most requests differ at the first byte: no call then. */
	if (!n || (p[0] | 0x20) != (unsigned char)word[0])
		return 0;
	size_t w = strlen(word);
	if (n < w || strncasecmp((const char *)p, word, w) != 0)
		return 0;
	return n == w || p[w] == '\r' || p[w] == '\n' || p[w] == ' ';
}

int keepalive_goodbye(const void *head, size_t n)
{
	const unsigned char *p = head;
	if (!p || !n)
		return 0;
	if (n > 32)
		n = 32; /* a goodbye is short; a longer write is a request */
	if (tls_alert(p, n))
		return 1;
	/* Any other TLS record (a request over TLS): ciphertext, no command to read. */
	if (n >= 3 && p[0] >= 20 && p[0] <= 23 && p[1] == 3 && p[2] <= 4)
		return 0;
	/* memcached, SMTP, POP3, FTP, NNTP and redis inline commands. */
	if (command(p, n, "quit"))
		return 1;
	/* redis RESP: *1\r\n$4\r\nQUIT\r\n */
	static const char resp[] = "*1\r\n$4\r\n";
	if (n > sizeof resp - 1 && !memcmp(p, resp, sizeof resp - 1))
		return command(p + sizeof resp - 1, n - (sizeof resp - 1), "quit");
	/* IMAP: "<tag> LOGOUT" */
	const unsigned char *sp = memchr(p, ' ', n);
	if (sp && sp > p)
		return command(sp + 1, n - (size_t)(sp + 1 - p), "logout");
	return 0;
}

int keepalive_refusal(const void *head, size_t n)
{
	const unsigned char *p = head;
	if (!p || n < 4)
		return 0;
	return (p[0] == '4' || p[0] == '5') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
	       p[2] <= '9' && (p[3] == ' ' || p[3] == '-' || p[3] == '\r' || p[3] == '\n');
}

int keepalive_reuse_turn(struct sock *s, const struct iovec *iov, size_t niov,
			 size_t written)
{
	const unsigned char *p = NULL;
	size_t n = 0;
	for (size_t i = 0; iov && i < niov; i++)
		if (iov[i].iov_len) {
			p = iov[i].iov_base;
			n = iov[i].iov_len < written ? iov[i].iov_len : written;
			break;
		}
	if (keepalive_goodbye(p, n))
		return 0;
	/* TLS record types 20 (ChangeCipherSpec) and 22 (Handshake), version 3.x. */
	if (p && n >= 3 && (p[0] == 20 || p[0] == 22) && p[1] == 3 && p[2] <= 4) {
		atomic_store_explicit(&s->tls_handshake, 2, memory_order_relaxed);
		return 0;
	}
	/* The first request, and the rest of it when a TLS 1.3 server's session tickets
	 * (application records too) arrived between its writes, which looks like a reply. */
	uint8_t hs = atomic_load_explicit(&s->tls_handshake, memory_order_relaxed);
	if (hs) {
		atomic_store_explicit(&s->tls_handshake, (uint8_t)(hs - 1), memory_order_relaxed);
		return 0;
	}
	return 1;
}

int keepalive_is_race(struct sock *s, const char *answer, int on_write, int tcp_state,
		      uint64_t idle_before_ms)
{
	/* A request after a long quiet spell, answered by a close: the peer's idle timeout
	 * closed the connection while the client still counted on it. */
	if (idle_before_ms >= model_opt->keepalive_idle_ms)
		return 1;
	/* A short gap. When the peer had closed before the request could be read (the write
	 * failed, or it drew a reset), the close came with the last reply: the program wrote
	 * right after a reply that ended the connection (an SMTP 451 and hang-up), not on a
	 * connection it had kept idle. */
	if (on_write || strcmp(answer, "eof") != 0 || tcp_state == TCP_CLOSE)
		return 0;
	/* The reply before the request refused the previous command: the server ended the
	 * session with it and read the client's next command (RSET) before its close went
	 * out; over TCP that looks like the case below, the refusal tells them apart. */
	if (atomic_load_explicit(&s->reply_refused, memory_order_relaxed))
		return 0;
	/* The peer read the request and closed without a reply (a server that drops
	 * keep-alive connections after reading the next request): the race as the client
	 * lives it. Goodbyes never get here (keepalive_goodbye). */
	return 1;
}
