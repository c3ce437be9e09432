/* Unit tests for the human words of reports: addresses, TCP states, names, messages. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "report/describe.h"
#include "track/sock.h"

static void fmt(const void *addr, socklen_t len, char *buf, size_t n)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	memcpy(&ss, addr, len < sizeof ss ? len : sizeof ss);
	memset(buf, 'Z', n);
	format_addr(&ss, len, buf, n);
}

Test(describe, format_inet)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(40312);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	char buf[64];
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "127.0.0.1:40312");
	a.sin_port = 0;
	a.sin_addr.s_addr = 0;
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "0.0.0.0:0");
	inet_pton(AF_INET, "255.255.255.255", &a.sin_addr);
	a.sin_port = htons(65535);
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "255.255.255.255:65535");
}

Test(describe, format_inet6)
{
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(80);
	a.sin6_addr = in6addr_loopback;
	char buf[80];
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "[::1]:80");
	inet_pton(AF_INET6, "2001:db8::1:2", &a.sin6_addr);
	a.sin6_port = htons(443);
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "[2001:db8::1:2]:443");
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &a.sin6_addr);
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "[::ffff:10.0.0.1]:443");
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &a.sin6_addr);
	a.sin6_port = htons(65535);
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

Test(describe, format_unix_path)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	strcpy(a.sun_path, "/run/app.sock");
	char buf[160];
	/* As the kernel reports it (with the NUL), as programs often pass it (without), and
	 * the whole structure. */
	socklen_t with_nul = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 14);
	fmt(&a, with_nul, buf, sizeof buf);
	cr_assert_str_eq(buf, "unix:/run/app.sock");
	fmt(&a, with_nul - 1, buf, sizeof buf);
	cr_assert_str_eq(buf, "unix:/run/app.sock");
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, "unix:/run/app.sock");
}

Test(describe, format_unix_full_length_path)
{
	/* sun_path filled to the last byte, no NUL terminator. */
	struct sockaddr_un a;
	a.sun_family = AF_UNIX;
	memset(a.sun_path, 'p', sizeof a.sun_path);
	a.sun_path[0] = '/';
	char buf[256], want[256];
	snprintf(want, sizeof want, "unix:%.*s", (int)sizeof a.sun_path, a.sun_path);
	fmt(&a, sizeof a, buf, sizeof buf);
	cr_assert_str_eq(buf, want);
	cr_assert_eq(strlen(buf), 5 + sizeof a.sun_path);
}

Test(describe, format_unix_abstract)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, "\0connleak-bus", 13);
	char buf[160];
	fmt(&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 13), buf, sizeof buf);
	cr_assert_str_eq(buf, "unix:@connleak-bus");
}

Test(describe, format_unix_unnamed)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	char buf[32];
	fmt(&a, sizeof(sa_family_t), buf, sizeof buf);
	cr_assert_str_eq(buf, "unix:");
}

Test(describe, format_unknown_is_empty)
{
	char buf[32];
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	fmt(&a, 0, buf, sizeof buf);
	cr_assert_str_eq(buf, "", "length 0 means unknown");
	fmt(&a, sizeof a - 4, buf, sizeof buf);
	cr_assert_str_eq(buf, "", "a truncated inet address is not guessed at");
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_PACKET;
	fmt(&ss, sizeof ss, buf, sizeof buf);
	cr_assert_str_eq(buf, "");
}

Test(describe, format_truncates_to_buffer)
{
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1:2", &a.sin6_addr);
	a.sin6_port = htons(443);
	char buf[16];
	memset(buf, 'Z', sizeof buf);
	format_addr((const struct sockaddr_storage *)&a, sizeof a, buf, 8);
	cr_assert_eq(strlen(buf), 7);
	cr_assert_eq(strncmp(buf, "[2001:d", 7), 0);
	cr_assert_eq(buf[8], 'Z', "nothing written past n");
}

Test(describe, tcp_state_names)
{
	cr_assert_str_eq(tcp_state_name(TCP_ESTABLISHED), "ESTABLISHED");
	cr_assert_str_eq(tcp_state_name(TCP_SYN_SENT), "SYN_SENT");
	cr_assert_str_eq(tcp_state_name(TCP_SYN_RECV), "SYN_RECV");
	cr_assert_str_eq(tcp_state_name(TCP_FIN_WAIT1), "FIN_WAIT1");
	cr_assert_str_eq(tcp_state_name(TCP_FIN_WAIT2), "FIN_WAIT2");
	cr_assert_str_eq(tcp_state_name(TCP_TIME_WAIT), "TIME_WAIT");
	cr_assert_str_eq(tcp_state_name(TCP_CLOSE), "CLOSE");
	cr_assert_str_eq(tcp_state_name(TCP_CLOSE_WAIT), "CLOSE_WAIT");
	cr_assert_str_eq(tcp_state_name(TCP_LAST_ACK), "LAST_ACK");
	cr_assert_str_eq(tcp_state_name(TCP_LISTEN), "LISTEN");
	cr_assert_str_eq(tcp_state_name(TCP_CLOSING), "CLOSING");
	cr_assert_null(tcp_state_name(-1));
	cr_assert_null(tcp_state_name(0));
	cr_assert_null(tcp_state_name(12));
	cr_assert_null(tcp_state_name(1000));
}

Test(describe, names)
{
	static const char *const kinds[] = CONNLEAK_KIND_NAMES;
	for (int k = 0; k < CONNLEAK_KIND_COUNT; k++)
		cr_assert_str_eq(kind_name(k), kinds[k]);
	cr_assert_str_eq(kind_name(CONNLEAK_LEAKED_SOCKET), "leaked-socket");
	cr_assert_str_eq(kind_name(CONNLEAK_CLOSE_WAIT), "close-wait");
	cr_assert_str_eq(kind_name(CONNLEAK_SHARED_CLOSE), "shared-close");
	cr_assert_str_eq(kind_name(CONNLEAK_DOUBLE_CLOSE), "double-close");
	cr_assert_str_eq(kind_name(CONNLEAK_KEEPALIVE_RACE), "keepalive-race");
	cr_assert_str_eq(kind_name(CONNLEAK_FD_EXHAUSTION), "fd-exhaustion");
	cr_assert_str_eq(kind_name(-1), "unknown");
	cr_assert_str_eq(kind_name(CONNLEAK_KIND_COUNT), "unknown");
	cr_assert_str_eq(family_name(AF_INET), "inet");
	cr_assert_str_eq(family_name(AF_INET6), "inet6");
	cr_assert_str_eq(family_name(AF_UNIX), "unix");
	cr_assert_str_eq(type_name(SOCK_STREAM), "stream");
	cr_assert_str_eq(type_name(SOCK_DGRAM), "dgram");
	cr_assert_str_eq(type_name(SOCK_SEQPACKET), "seqpacket");
	cr_assert_str_eq(origin_name(ORIGIN_SOCKET), "socket");
	cr_assert_str_eq(origin_name(ORIGIN_ACCEPT), "accept");
	cr_assert_str_eq(origin_name(ORIGIN_SOCKETPAIR), "socketpair");
	cr_assert_str_eq(origin_name(ORIGIN_SCM_RIGHTS), "scm_rights");
	cr_assert_str_eq(origin_name(ORIGIN_INHERITED), "inherited");
	cr_assert_null(origin_name(-1));
}

/* A finding on fd 7 to 10.1.2.3:5432. */
static struct finding sample(int kind)
{
	struct finding f;
	memset(&f, 0, sizeof f);
	f.key.kind = kind;
	f.count = 1;
	f.fd = 7;
	f.gen = 1;
	f.family = AF_INET;
	f.type = SOCK_STREAM;
	f.tcp_state = TCP_ESTABLISHED;
	struct sockaddr_in *p = (struct sockaddr_in *)&f.peer;
	p->sin_family = AF_INET;
	p->sin_port = htons(5432);
	inet_pton(AF_INET, "10.1.2.3", &p->sin_addr);
	f.peer_len = sizeof *p;
	f.age_ms = 1234;
	f.held_after_eof_ms = 6000;
	f.other_fds = 2;
	f.replies = 3;
	f.answer = "ECONNRESET";
	return f;
}

static void message(const struct finding *f, char *buf, size_t n)
{
	memset(buf, 'Z', n);
	finding_message(f, 0, buf, n);
	cr_assert(memchr(buf, '\0', n), "message not terminated");
	cr_assert_eq(strchr(buf, '\n'), NULL, "one line");
}

/* The fd as a number of its own in the text ("fd 7", "close(7)"), not a digit of another. */
static int mentions_fd(const char *m, int fd)
{
	char a[32], b[32];
	snprintf(a, sizeof a, "fd %d", fd);
	snprintf(b, sizeof b, "close(%d)", fd);
	const char *p = strstr(m, a);
	if (p && (p[strlen(a)] < '0' || p[strlen(a)] > '9'))
		return 1;
	return strstr(m, b) != NULL;
}

Test(describe, message_per_kind_mentions_fd_and_peer)
{
	static const int kinds[] = {CONNLEAK_LEAKED_SOCKET, CONNLEAK_CLOSE_WAIT,
				    CONNLEAK_SHARED_CLOSE, CONNLEAK_KEEPALIVE_RACE};
	char buf[512];
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		struct finding f = sample(kinds[i]);
		message(&f, buf, sizeof buf);
		cr_assert(mentions_fd(buf, 7), "%s: no fd: %s", kind_name(kinds[i]), buf);
		cr_assert(strstr(buf, "10.1.2.3:5432"), "%s: no peer: %s", kind_name(kinds[i]),
			  buf);
	}
}

Test(describe, message_details)
{
	char buf[512];
	struct finding f = sample(CONNLEAK_LEAKED_SOCKET);
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "1234 ms"), "%s", buf);

	f = sample(CONNLEAK_CLOSE_WAIT);
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "6000 ms"), "%s", buf);

	f = sample(CONNLEAK_SHARED_CLOSE);
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "2 other"), "%s", buf);
	f.forked = 1;
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "fork"), "%s", buf);
	cr_assert(mentions_fd(buf, 7) && strstr(buf, "10.1.2.3:5432"), "%s", buf);

	f = sample(CONNLEAK_KEEPALIVE_RACE);
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "ECONNRESET"), "%s", buf);
	cr_assert(strstr(buf, "3 replies"), "%s", buf);
	f.answer = NULL;
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "eof"), "%s", buf);
}

/* A snapshot is taken while the process runs: what is open is open then, not at exit. */
Test(describe, message_open_sockets_in_a_snapshot)
{
	static const int kinds[] = {CONNLEAK_LEAKED_SOCKET, CONNLEAK_OPEN_AT_EXIT};
	char buf[512];
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		struct finding f = sample(kinds[i]);
		finding_message(&f, 1, buf, sizeof buf);
		cr_assert(strstr(buf, "at this snapshot") && !strstr(buf, "at exit"), "%s", buf);
		finding_message(&f, 0, buf, sizeof buf);
		cr_assert(strstr(buf, "at exit") && !strstr(buf, "snapshot"), "%s", buf);
	}
}

Test(describe, message_double_close_names_fd)
{
	/* The model knows nothing of the peer of a descriptor that was not open. */
	struct finding f;
	memset(&f, 0, sizeof f);
	f.key.kind = CONNLEAK_DOUBLE_CLOSE;
	f.fd = 12;
	f.family = AF_UNSPEC;
	f.tcp_state = -1;
	f.origin = -1;
	char buf[256];
	message(&f, buf, sizeof buf);
	cr_assert(mentions_fd(buf, 12), "%s", buf);
	cr_assert(strstr(buf, "already closed"), "%s", buf);
}

Test(describe, message_fd_exhaustion)
{
	struct finding f;
	memset(&f, 0, sizeof f);
	f.key.kind = CONNLEAK_FD_EXHAUSTION;
	f.fd = -1;
	f.err = EMFILE;
	f.open_sockets = 1021;
	char buf[256];
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "EMFILE"), "%s", buf);
	cr_assert(strstr(buf, "1021"), "%s", buf);
	f.err = ENFILE;
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "ENFILE"), "%s", buf);
}

Test(describe, message_unknown_peer)
{
	struct finding f = sample(CONNLEAK_LEAKED_SOCKET);
	f.peer_len = 0;
	char buf[256];
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "unknown peer"), "%s", buf);
	cr_assert(mentions_fd(buf, 7), "%s", buf);
}

Test(describe, message_unix_peer)
{
	struct finding f = sample(CONNLEAK_LEAKED_SOCKET);
	struct sockaddr_un *u = (struct sockaddr_un *)&f.peer;
	memset(u, 0, sizeof *u);
	u->sun_family = AF_UNIX;
	strcpy(u->sun_path, "/run/db.sock");
	f.peer_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 13);
	char buf[256];
	message(&f, buf, sizeof buf);
	cr_assert(strstr(buf, "unix:/run/db.sock"), "%s", buf);
}

Test(describe, message_tls_kinds_name_fd_and_peer)
{
	static const int kinds[] = {CONNLEAK_CLOSED_BUT_REFERENCED, CONNLEAK_STALE_FD_USE};
	char buf[256];
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		struct finding f = sample(kinds[i]);
		message(&f, buf, sizeof buf);
		cr_assert(strstr(buf, "fd 7"), "%s", buf);
		cr_assert(strstr(buf, "10.1.2.3:5432"), "%s", buf);
	}
}

Test(describe, message_dns_and_lease_kinds_name_fd_and_peer)
{
	static const int kinds[] = {CONNLEAK_STALE_DNS, CONNLEAK_LEASE_EXPIRED};
	char buf[256];
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		struct finding f = sample(kinds[i]);
		message(&f, buf, sizeof buf);
		cr_assert(strstr(buf, "fd 7"), "%s", buf);
		cr_assert(strstr(buf, "10.1.2.3:5432"), "%s", buf);
	}
}

Test(describe, message_truncates_to_buffer)
{
	struct finding f = sample(CONNLEAK_KEEPALIVE_RACE);
	char buf[24];
	memset(buf, 'Z', sizeof buf);
	finding_message(&f, 0, buf, 16);
	cr_assert_eq(strlen(buf), 15);
	cr_assert_eq(buf[16], 'Z');
}
