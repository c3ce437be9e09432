/* HTTP/1.x framing of a client connection, followed as the bytes pass (requests from the
 * program's writes, responses from its reads; for TLS, the plaintext of the library calls):
 * where each request and response starts and ends, nothing else. No byte is kept: the
 * state is a few counters per direction, so a lease can tell "between two exchanges" from
 * "in the middle of one". Anything the parser does not understand makes the connection
 * HTTP_UNKNOWN for good (never leased unless lease_protocols=any): a mistake can only
 * make us act less, never cut an exchange. */
#ifndef CONNLEAK_HTTP_H
#define CONNLEAK_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum http_mode {
	HTTP_OFF,     /* not followed (no lease needs it, or not a client stream socket) */
	HTTP_PLAIN,   /* framed from the socket's own reads and writes */
	HTTP_TLS,     /* framed from the TLS plaintext (the socket carries ciphertext) */
	HTTP_UNKNOWN, /* not HTTP/1.x, or framing we cannot follow */
	HTTP_TUNNEL,  /* CONNECT or Upgrade (101): no exchanges any more, never leased */
	HTTP_CLOSING, /* Connection: close, HTTP/1.0, or a body that ends at EOF */
};

#define HTTP_PIPELINE 16 /* requests in flight we follow; deeper pipelines are UNKNOWN */

/* One direction's parser: a position in the message grammar and the count it needs. */
struct http_msg {
	uint8_t st;    /* where in the message */
	uint8_t hdr;   /* the header whose value is being read */
	uint8_t pos;   /* characters matched of a name or token */
	uint8_t cand;  /* names or tokens still matching */
	uint8_t flags; /* what the headers said */
	uint8_t kind;  /* request: its method's kind; response: the request's */
	uint16_t status;
	uint32_t len;    /* bytes of the current line / header section (bounded) */
	uint64_t remain; /* body or chunk bytes still to come */
};

struct http_conn {
	_Atomic uint8_t mode;
	_Atomic uint8_t due;      /* retire at the next idle boundary (its peer left DNS) */
	_Atomic uint8_t req_busy, resp_busy; /* a request / response is partly through */
	_Atomic uint8_t writers;  /* threads inside a write on it (plain sockets) */
	_Atomic uint32_t requests, responses; /* started / completed */
	_Atomic uint64_t t_idle;  /* when the last response completed (coarse ms) */
	_Atomic uint64_t t_start; /* when it was connected: a lease counts from there */
	_Atomic uint8_t kinds[HTTP_PIPELINE]; /* method kind of request i % HTTP_PIPELINE */
	struct http_msg req, resp; /* each touched only by the thread doing that I/O */
};

/* Start framing a connection (mode PLAIN) or switch to its TLS plaintext (mode TLS). */
void http_start(struct http_conn *h);
void http_use_tls(struct http_conn *h);

/* Bytes the program wrote (request side). */
void http_out(struct http_conn *h, const char *p, size_t n);
/* Bytes the program read (response side). Returns 1 when they completed a response and
 * left the connection idle: the moment a lease may retire it. */
int http_in(struct http_conn *h, const char *p, size_t n);

/* The last response is complete and no request has started. */
int http_idle(const struct http_conn *h);

/* The name of a mode, for reports. */
const char *http_mode_name(int mode);

#endif
