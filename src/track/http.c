/* HTTP/1.x message framing (RFC 9112) as a byte-at-a-time state machine over the start
 * line and headers, and counted skips over bodies and chunks, so a long body costs a few
 * operations per read. Only what decides where a message ends is looked at: the method
 * (HEAD, CONNECT), the status, Content-Length, Transfer-Encoding, Connection. */
#include "http.h"

#include <sched.h>
#include <string.h>

#include "../util/clock.h"

#define RELAXED memory_order_relaxed

enum {
	S_START, S_METHOD, S_TARGET, S_VERSION, S_LINE_END, S_STATUS, S_REASON,
	S_HDR_START, S_HDR_NAME, S_HDR_VALUE, S_BODY,
	S_CHUNK_SIZE, S_CHUNK_EXT, S_CHUNK_DATA, S_CHUNK_END, S_TRAILER_START, S_TRAILER_LINE,
};

enum { H_OTHER, H_CL, H_TE, H_CONN };
enum { K_OTHER, K_HEAD, K_CONNECT };

#define F_CL 0x01
#define F_CHUNKED 0x02
#define F_TE 0x04 /* Transfer-Encoding whose last coding is not chunked */
#define F_CLOSE 0x08
#define F_KEEPALIVE 0x10
#define F_HTTP10 0x20

#define HEADER_MAX 65536 /* start line + headers, or one chunk line: longer is not HTTP */
#define TOKEN_HAS 0x80   /* cand bit: the current token has characters */

/* The results of one feed: what the caller must do with the connection. */
enum { GO_ON, STOP };

static const char *const header_names[] = {"content-length", "transfer-encoding", "connection"};
static const char *const method_names[] = {"HEAD", "CONNECT"};
static const char *const te_tokens[] = {"chunked"};
static const char *const conn_tokens[] = {"close", "keep-alive"};
static const char version[] = "HTTP/1.";

static inline int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Incremental match of one word against a small table: `cand` keeps the entries still
 * matching, `pos` how many characters matched. */
static inline void match_reset(struct http_msg *m, int n)
{
	m->cand = (uint8_t)((1u << n) - 1);
	m->pos = 0;
}

static inline void match_char(struct http_msg *m, const char *const *tab, int n, int c)
{
	for (int i = 0; i < n; i++)
		if ((m->cand & (1u << i)) && (m->pos >= 32 || tab[i][m->pos] != c))
			m->cand &= (uint8_t)~(1u << i);
	m->cand |= TOKEN_HAS;
	if (m->pos < 255)
		m->pos++;
}

/* Index of the table entry the word matched in full, or -1. */
static inline int match_end(const struct http_msg *m, const char *const *tab, int n)
{
	for (int i = 0; i < n; i++)
		if ((m->cand & (1u << i)) && tab[i][m->pos] == '\0')
			return i;
	return -1;
}

static void set_mode(struct http_conn *h, int mode)
{
	atomic_store_explicit(&h->mode, (uint8_t)mode, RELAXED);
}

void http_start(struct http_conn *h)
{
	memset(&h->req, 0, sizeof h->req);
	memset(&h->resp, 0, sizeof h->resp);
	atomic_store_explicit(&h->requests, 0, RELAXED);
	atomic_store_explicit(&h->responses, 0, RELAXED);
	atomic_store_explicit(&h->req_busy, 0, RELAXED);
	atomic_store_explicit(&h->resp_busy, 0, RELAXED);
	atomic_store_explicit(&h->t_start, clock_coarse_ms(), RELAXED);
	set_mode(h, HTTP_PLAIN);
}

void http_use_tls(struct http_conn *h)
{
	int mode = atomic_load_explicit(&h->mode, RELAXED);
	/* The handshake went through the socket hooks first and looked like no HTTP. */
	if (mode != HTTP_PLAIN && mode != HTTP_UNKNOWN)
		return;
	uint64_t t = atomic_load_explicit(&h->t_start, RELAXED);
	http_start(h);
	atomic_store_explicit(&h->t_start, t, RELAXED);
	set_mode(h, HTTP_TLS);
}

static void message_reset(struct http_msg *m)
{
	memset(m, 0, sizeof *m);
}

/* The value of a header we follow, one character at a time. */
static int value_char(struct http_msg *m, int c)
{
	int ows = c == ' ' || c == '\t';
	switch (m->hdr) {
	case H_CL:
		if (c >= '0' && c <= '9') {
			if (m->pos == 2 || m->remain > (UINT64_MAX >> 5))
				return STOP; /* "1 2", or absurdly long */
			m->remain = m->remain * 10 + (uint64_t)(c - '0');
			m->pos = 1;
		} else if (ows) {
			if (m->pos == 1)
				m->pos = 2;
		} else {
			return STOP; /* lists, signs: framing we do not trust */
		}
		break;
	case H_TE:
	case H_CONN: {
		const char *const *tab = m->hdr == H_TE ? te_tokens : conn_tokens;
		int n = m->hdr == H_TE ? 1 : 2;
		if (c == ',' || ows) {
			if (!(m->cand & TOKEN_HAS))
				break;
			int k = match_end(m, tab, n);
			if (m->hdr == H_TE) {
				/* Only the last coding decides whether the body is chunked. */
				m->flags = (uint8_t)((m->flags & ~(F_CHUNKED | F_TE)) |
						     (k == 0 ? F_CHUNKED : F_TE));
			} else if (k == 0) {
				m->flags |= F_CLOSE;
			} else if (k == 1) {
				m->flags |= F_KEEPALIVE;
			}
			match_reset(m, n);
		} else {
			match_char(m, tab, n, lower(c));
		}
		break;
	}
	default:
		break;
	}
	return GO_ON;
}

static int value_end(struct http_msg *m)
{
	if (m->hdr == H_CL) {
		if (m->pos == 0)
			return STOP;
		m->flags |= F_CL;
	} else if (m->hdr == H_TE || m->hdr == H_CONN) {
		return value_char(m, ',');
	}
	return GO_ON;
}

static int header_start(struct http_msg *m, int hdr)
{
	m->hdr = (uint8_t)hdr;
	m->pos = 0;
	if (hdr == H_CL && (m->flags & F_CL))
		return STOP; /* a second Content-Length */
	if (hdr == H_CL)
		m->remain = 0;
	if (hdr == H_TE)
		match_reset(m, 1);
	if (hdr == H_CONN)
		match_reset(m, 2);
	return GO_ON;
}

/* The next state once a message's headers are done. Sets *mode for a tunnel or a
 * connection the server will close, *done when the message has no body. */
static int after_headers(struct http_conn *h, struct http_msg *m, int resp, int *mode, int *done)
{
	int closing = (m->flags & F_CLOSE) || ((m->flags & F_HTTP10) && !(m->flags & F_KEEPALIVE));
	if (resp) {
		unsigned st = m->status;
		if (st == 101) {
			*mode = HTTP_TUNNEL;
			return GO_ON;
		}
		if (st < 200) { /* 100 Continue, 103 Early Hints: the final response follows */
			message_reset(m);
			return GO_ON;
		}
		if (m->kind == K_CONNECT && st < 300) {
			*mode = HTTP_TUNNEL;
			return GO_ON;
		}
		if (closing) {
			*mode = HTTP_CLOSING;
			return GO_ON;
		}
		if (m->kind == K_HEAD || st == 204 || st == 304) {
			*done = 1;
			return GO_ON;
		}
		if (m->flags & F_CHUNKED) {
			m->st = S_CHUNK_SIZE;
		} else if ((m->flags & F_TE) || !(m->flags & F_CL)) {
			*mode = HTTP_CLOSING; /* the body ends when the server closes */
		} else if (m->remain) {
			m->st = S_BODY;
		} else {
			*done = 1;
		}
		return GO_ON;
	}
	if (closing) {
		*mode = HTTP_CLOSING;
		return GO_ON;
	}
	(void)h;
	if (m->flags & F_CHUNKED)
		m->st = S_CHUNK_SIZE;
	else if (m->flags & F_TE)
		return STOP; /* a request body we cannot delimit */
	else if ((m->flags & F_CL) && m->remain && m->kind != K_CONNECT)
		m->st = S_BODY;
	else
		*done = 1;
	return GO_ON;
}

/* Whether s (n bytes) is `word` (lower case), ignoring ASCII case. */
static int same_word(const char *s, size_t n, const char *word, size_t wn)
{
	if (n != wn)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != word[i])
			return 0;
	return 1;
}

/* The rest of a line after the version: only CRs. */
static int only_cr(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '\r')
			return 0;
	return 1;
}

/* "HTTP/1.0" or "HTTP/1.1" at p (n bytes available): sets F_HTTP10; STOP otherwise. */
static int version_at(struct http_msg *m, const char *p, size_t n)
{
	if (n < 8 || memcmp(p, version, 7) != 0 || (p[7] != '0' && p[7] != '1'))
		return STOP;
	if (p[7] == '0')
		m->flags |= F_HTTP10;
	return GO_ON;
}

/* A whole request line (without its LF), as the byte states would take it. */
static int request_line(struct http_msg *m, const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && line[i] != ' ') {
		if ((unsigned char)line[i] <= ' ' || line[i] >= 0x7f)
			return STOP;
		i++;
	}
	if (i == 0 || i > 32 || i == len)
		return STOP;
	m->kind = (uint8_t)(i == 4 && !memcmp(line, "HEAD", 4)      ? K_HEAD
			    : i == 7 && !memcmp(line, "CONNECT", 7) ? K_CONNECT
								    : K_OTHER);
	++i;
	while (i < len && line[i] != ' ') {
		if ((unsigned char)line[i] <= ' ' || line[i] == 0x7f)
			return STOP;
		i++;
	}
	if (i == len)
		return STOP; /* HTTP/0.9 */
	i++;
	if (version_at(m, line + i, len - i) == STOP || !only_cr(line + i + 8, len - i - 8))
		return STOP;
	m->st = S_HDR_START;
	return GO_ON;
}

/* A whole status line (without its LF). */
static int status_line(struct http_msg *m, const char *line, size_t len)
{
	if (version_at(m, line, len) == STOP || len < 12 || line[8] != ' ')
		return STOP;
	unsigned st = 0;
	for (int i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return STOP;
		st = st * 10 + (unsigned)(line[i] - '0');
	}
	if (len > 12 && line[12] != ' ' && line[12] != '\r')
		return STOP;
	m->status = (uint16_t)st;
	m->st = S_HDR_START;
	return GO_ON;
}

/* Which header a complete name is (H_OTHER for none we follow). */
static int header_id(const char *name, size_t len)
{
	if (same_word(name, len, "content-length", 14))
		return H_CL;
	if (same_word(name, len, "transfer-encoding", 17))
		return H_TE;
	if (same_word(name, len, "connection", 10))
		return H_CONN;
	return H_OTHER;
}

/* A whole Connection value that is one token (the usual "keep-alive" or "close"): the
 * flag it sets, without the token machinery; 0 for anything else. */
static int connection_word(const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	if (same_word(v, n, "keep-alive", 10))
		return F_KEEPALIVE;
	if (same_word(v, n, "close", 5))
		return F_CLOSE;
	return 0;
}

/* One complete header line (without its LF): what the byte-by-byte states would do with
 * it, in one pass. */
static int header_line(struct http_msg *m, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return STOP;
	size_t nlen = (size_t)(colon - line);
	if (header_start(m, header_id(line, nlen)) == STOP)
		return STOP;
	if (m->hdr == H_CONN) {
		int f = connection_word(colon + 1, (size_t)(line + len - colon - 1));
		if (f) {
			m->flags |= (uint8_t)f;
			return GO_ON;
		}
	}
	if (m->hdr != H_OTHER)
		for (const char *v = colon + 1; v < line + len; v++)
			if (*v != '\r' && value_char(m, (unsigned char)*v) == STOP)
				return STOP;
	return value_end(m);
}

/* How many bytes from p can be passed over in the current state without looking at them
 * one by one: up to (not including) the byte that ends the run. */
static inline size_t skip(const struct http_msg *m, const char *p, size_t n)
{
	size_t k = 0;
	switch (m->st) {
	case S_HDR_VALUE:
		if (m->hdr != H_OTHER)
			return 0;
		/* fall through */
	case S_REASON:
	case S_CHUNK_EXT:
	case S_TRAILER_LINE: {
		const char *nl = memchr(p, '\n', n);
		return nl ? (size_t)(nl - p) : n;
	}
	case S_TARGET:
		while (k < n && (unsigned char)p[k] > ' ' && p[k] != 0x7f)
			k++;
		return k;
	case S_HDR_NAME:
		if (m->cand & 7)
			return 0;
		while (k < n && p[k] != ':' && p[k] != '\n')
			k++;
		return k;
	default:
		return 0;
	}
}

/* The requests started, once no other thread is inside a write on the connection: the
 * server may answer a request before the thread that wrote it has come back from write()
 * and counted it (a client that writes and reads on different threads, Java's HttpClient).
 * The wait is for such a thread's return from the call, and bounded (100 ms): a writer
 * still blocked in write() when the answer comes (an early reply to an upload) leaves the
 * connection unknown, never leased. */
static uint32_t writer_done(struct http_conn *h)
{
	uint64_t until = 0;
	while (atomic_load(&h->writers)) {
		uint64_t now = clock_coarse_ms();
		if (!until)
			until = now + 100;
		else if (now > until)
			break;
		sched_yield();
	}
	return atomic_load(&h->requests);
}

/* Runs the parser of one direction over n bytes. Returns the number of messages it
 * completed; sets the connection's mode when it stops following it. */
static unsigned feed(struct http_conn *h, struct http_msg *m, int resp, const char *p, size_t n)
{
	unsigned completed = 0;
	int mode = -1;
	size_t i = 0;
	while (i < n && mode < 0) {
		/* Runs of bytes nothing depends on are skipped in tight loops: the rest of a
		 * line we do not read (reason, other headers' values, extensions, trailers),
		 * the request target, a header name that matches none we follow. */
		size_t k = skip(m, p + i, n - i);
		if (k) {
			m->len += (uint32_t)k;
			if (m->len > HEADER_MAX)
				goto unknown;
			i += k;
			if (i == n)
				break;
		}
		int c = (unsigned char)p[i];
		int done = 0;
		if (m->st != S_BODY && m->st != S_CHUNK_DATA && ++m->len > HEADER_MAX)
			goto unknown;
		switch (m->st) {
		case S_START:
			if (c == '\r' || c == '\n')
				break; /* empty lines between messages */
			message_reset(m);
			m->len = 1;
			if (resp) {
				uint32_t rs = atomic_load_explicit(&h->responses, RELAXED);
				if (c != 'H' || writer_done(h) == rs)
					goto unknown; /* a response to no request */
				m->kind = atomic_load_explicit(&h->kinds[rs % HTTP_PIPELINE], RELAXED);
				m->st = S_VERSION;
				m->pos = 1;
				const char *nl = memchr(p + i, '\n', n - i);
				if (nl) { /* the whole status line is here: at once */
					size_t len = (size_t)(nl - (p + i));
					if (len > HEADER_MAX || status_line(m, p + i, len) == STOP)
						goto unknown;
					m->len = (uint32_t)len + 1;
					i += len + 1;
					goto next;
				}
			} else {
				uint32_t rq = atomic_load_explicit(&h->requests, RELAXED);
				if (rq - atomic_load_explicit(&h->responses, RELAXED) >= HTTP_PIPELINE)
					goto unknown;
				atomic_store_explicit(&h->kinds[rq % HTTP_PIPELINE], K_OTHER, RELAXED);
				atomic_store_explicit(&h->requests, rq + 1, RELAXED);
				atomic_store_explicit(&h->req_busy, 1, RELAXED);
				m->st = S_METHOD;
				match_reset(m, 2);
				const char *nl = memchr(p + i, '\n', n - i);
				if (nl) { /* the whole request line is here: at once */
					size_t len = (size_t)(nl - (p + i));
					if (len > HEADER_MAX || request_line(m, p + i, len) == STOP)
						goto unknown;
					atomic_store_explicit(&h->kinds[rq % HTTP_PIPELINE], m->kind,
							      RELAXED);
					m->len = (uint32_t)len + 1;
					i += len + 1;
					goto next;
				}
				goto method;
			}
			break;
		case S_METHOD:
		method:
			if (c == ' ' && m->pos == 0) {
				goto unknown; /* no method */
			} else if (c == ' ') {
				int k = match_end(m, method_names, 2);
				m->kind = (uint8_t)(k == 0 ? K_HEAD : k == 1 ? K_CONNECT : K_OTHER);
				uint32_t rq = atomic_load_explicit(&h->requests, RELAXED);
				atomic_store_explicit(&h->kinds[(rq - 1) % HTTP_PIPELINE], m->kind,
						      RELAXED);
				m->st = S_TARGET;
			} else if (c > ' ' && c < 0x7f && m->pos < 32) {
				match_char(m, method_names, 2, c);
			} else {
				goto unknown; /* TLS records, binary protocols */
			}
			break;
		case S_TARGET:
			if (c == ' ') {
				m->st = S_VERSION;
				m->pos = 0;
			} else if (c <= ' ' || c == 0x7f) {
				goto unknown; /* HTTP/0.9 or not HTTP */
			}
			break;
		case S_VERSION:
			if (m->pos < 7) {
				if (c != version[m->pos])
					goto unknown;
				m->pos++;
			} else if (m->pos == 7) {
				if (c != '0' && c != '1')
					goto unknown;
				if (c == '0')
					m->flags |= F_HTTP10;
				m->pos++;
			} else if (resp) {
				if (c != ' ')
					goto unknown;
				m->st = S_STATUS;
				m->pos = 0;
				m->status = 0;
			} else {
				m->st = S_LINE_END;
				goto line_end;
			}
			break;
		case S_LINE_END:
		line_end:
			if (c == '\n')
				m->st = S_HDR_START;
			else if (c != '\r')
				goto unknown;
			break;
		case S_STATUS:
			if (m->pos < 3) {
				if (c < '0' || c > '9')
					goto unknown;
				m->status = (uint16_t)(m->status * 10 + (c - '0'));
				m->pos++;
			} else if (c == '\n') {
				m->st = S_HDR_START;
			} else if (c == ' ' || c == '\r') {
				m->st = S_REASON;
			} else {
				goto unknown;
			}
			break;
		case S_REASON:
			if (c == '\n')
				m->st = S_HDR_START;
			break;
		case S_HDR_START:
			if (c != '\r' && c != '\n' && c != ' ' && c != '\t') {
				/* A whole header line in this buffer (the usual case): at once. */
				const char *nl = memchr(p + i, '\n', n - i);
				if (nl) {
					size_t len = (size_t)(nl - (p + i));
					m->len += (uint32_t)len;
					if (m->len > HEADER_MAX || header_line(m, p + i, len) == STOP)
						goto unknown;
					i += len + 1;
					goto next;
				}
			}
			if (c == '\r')
				break;
			if (c == '\n') {
				if (after_headers(h, m, resp, &mode, &done) == STOP)
					goto unknown;
				break;
			}
			if (c == ' ' || c == '\t') {
				/* obs-fold: a continuation of the previous header's value */
				if (m->hdr != H_OTHER)
					goto unknown;
				m->st = S_HDR_VALUE;
				break;
			}
			m->st = S_HDR_NAME;
			m->hdr = H_OTHER;
			match_reset(m, 3);
			/* fall through */
		case S_HDR_NAME:
			if (c == ':') {
				int k = match_end(m, header_names, 3);
				if (header_start(m, k < 0 ? H_OTHER : k + 1) == STOP)
					goto unknown;
				m->st = S_HDR_VALUE;
			} else if (c == '\n') {
				goto unknown; /* a header line without a colon */
			} else {
				match_char(m, header_names, 3, lower(c));
			}
			break;
		case S_HDR_VALUE:
			if (c == '\n') {
				if (value_end(m) == STOP)
					goto unknown;
				m->st = S_HDR_START;
			} else if (c != '\r' && m->hdr != H_OTHER && value_char(m, c) == STOP) {
				goto unknown;
			}
			break;
		case S_BODY:
		case S_CHUNK_DATA: {
			size_t k = n - i;
			if (k > m->remain)
				k = (size_t)m->remain;
			m->remain -= k;
			i += k;
			if (m->remain == 0) {
				if (m->st == S_BODY)
					done = 1;
				else
					m->st = S_CHUNK_END;
			}
			goto next; /* i already advanced */
		}
		case S_CHUNK_SIZE: {
			int d = c >= '0' && c <= '9' ? c - '0'
				: lower(c) >= 'a' && lower(c) <= 'f' ? lower(c) - 'a' + 10 : -1;
			if (d >= 0) {
				if (m->remain > (UINT64_MAX >> 5))
					goto unknown;
				m->remain = m->remain * 16 + (uint64_t)d;
				m->pos = 1;
				break;
			}
			if (c == ';' || c == ' ' || c == '\t') {
				m->st = S_CHUNK_EXT;
				break;
			}
			if (c == '\r')
				break;
			if (c != '\n')
				goto unknown;
		}
			/* fall through */
		case S_CHUNK_EXT:
			if (c != '\n')
				break;
			if (!m->pos)
				goto unknown;
			m->len = 0;
			m->st = m->remain ? S_CHUNK_DATA : S_TRAILER_START;
			break;
		case S_CHUNK_END:
			if (c == '\n') {
				m->st = S_CHUNK_SIZE;
				m->pos = 0;
				m->remain = 0;
				m->len = 0;
			} else if (c != '\r') {
				goto unknown;
			}
			break;
		case S_TRAILER_START:
			if (c == '\n')
				done = 1;
			else if (c != '\r')
				m->st = S_TRAILER_LINE;
			break;
		case S_TRAILER_LINE:
			if (c == '\n')
				m->st = S_TRAILER_START;
			break;
		}
		i++;
	next:
		if (done) {
			completed++;
			m->st = S_START;
			m->len = 0;
			if (resp) {
				atomic_fetch_add_explicit(&h->responses, 1, RELAXED);
			}
		}
	}
	if (mode >= 0)
		set_mode(h, mode);
	return completed;
unknown:
	set_mode(h, HTTP_UNKNOWN);
	return completed;
}

static inline int framed(const struct http_conn *h)
{
	int mode = atomic_load_explicit(&h->mode, RELAXED);
	return mode == HTTP_PLAIN || mode == HTTP_TLS;
}

void http_out(struct http_conn *h, const char *p, size_t n)
{
	if (!framed(h))
		return;
	feed(h, &h->req, 0, p, n);
	atomic_store_explicit(&h->req_busy, h->req.st != S_START, RELAXED);
}

int http_in(struct http_conn *h, const char *p, size_t n)
{
	if (!framed(h))
		return 0;
	unsigned done = feed(h, &h->resp, 1, p, n);
	atomic_store_explicit(&h->resp_busy, h->resp.st != S_START, RELAXED);
	if (!done || !http_idle(h))
		return 0;
	atomic_store_explicit(&h->t_idle, clock_coarse_ms(), RELAXED);
	return 1;
}

int http_idle(const struct http_conn *h)
{
	uint32_t rs = atomic_load_explicit(&h->responses, RELAXED);
	return framed(h) && !atomic_load_explicit(&h->req_busy, RELAXED) &&
	       !atomic_load_explicit(&h->resp_busy, RELAXED) && rs > 0 &&
	       atomic_load_explicit(&h->requests, RELAXED) == rs;
}

const char *http_mode_name(int mode)
{
	static const char *const names[] = {"off", "http", "https", "unknown", "tunnel",
					    "closing"};
	return mode >= 0 && mode <= HTTP_CLOSING ? names[mode] : "?";
}
