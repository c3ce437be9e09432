/* Names and sentences for findings. */
#include "describe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "../track/sock.h"

static const char *const kinds[] = CONNLEAK_KIND_NAMES;

const char *kind_name(int kind)
{
	return kind >= 0 && kind < CONNLEAK_KIND_COUNT ? kinds[kind] : "unknown";
}

const char *family_name(int family)
{
	switch (family) {
	case AF_INET:
		return "inet";
	case AF_INET6:
		return "inet6";
	case AF_UNIX:
		return "unix";
	case AF_NETLINK:
		return "netlink";
	default:
		return "other";
	}
}

const char *type_name(int type)
{
	switch (type) {
	case SOCK_STREAM:
		return "stream";
	case SOCK_DGRAM:
		return "dgram";
	case SOCK_SEQPACKET:
		return "seqpacket";
	case SOCK_RAW:
		return "raw";
	default:
		return "other";
	}
}

const char *origin_name(int origin)
{
	switch (origin) {
	case ORIGIN_SOCKET:
		return "socket";
	case ORIGIN_ACCEPT:
		return "accept";
	case ORIGIN_SOCKETPAIR:
		return "socketpair";
	case ORIGIN_SCM_RIGHTS:
		return "scm_rights";
	case ORIGIN_INHERITED:
		return "inherited";
	default:
		return NULL;
	}
}

const char *tcp_state_name(int state)
{
	static const char *const names[] = {
		NULL,        "ESTABLISHED", "SYN_SENT",   "SYN_RECV",  "FIN_WAIT1", "FIN_WAIT2",
		"TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK",  "LISTEN",    "CLOSING",
	};
	return state > 0 && state < (int)(sizeof names / sizeof names[0]) ? names[state] : NULL;
}

void format_addr(const struct sockaddr_storage *a, socklen_t len, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN];
	buf[0] = '\0';
	if (!len)
		return;
	if (a->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const void *)a;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(buf, n, "%s:%u", host, ntohs(in->sin_port));
	} else if (a->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const void *)a;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(buf, n, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (a->ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)a;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path)
				      ? len - offsetof(struct sockaddr_un, sun_path)
				      : 0;
		if (plen == 0)
			snprintf(buf, n, "unix:");
		else if (un->sun_path[0] == '\0')
			snprintf(buf, n, "unix:@%.*s", (int)plen - 1, un->sun_path + 1);
		else
			snprintf(buf, n, "unix:%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
	}
}

void finding_message(const struct finding *f, int snapshot, char *buf, size_t n)
{
	char peer[160];
	format_addr(&f->peer, f->peer_len, peer, sizeof peer);
	const char *to = peer[0] ? peer : "an unknown peer";
	switch (f->key.kind) {
	case CONNLEAK_LEAKED_SOCKET:
		snprintf(buf, n, "socket fd %d to %s is still open %s, %llu ms old", f->fd, to,
			 snapshot ? "at this snapshot (the process was running)" : "at exit",
			 (unsigned long long)f->age_ms);
		break;
	case CONNLEAK_OPEN_AT_EXIT:
		snprintf(buf, n,
			 "connection fd %d to %s is open %s, idle after a complete exchange "
			 "and held for reuse (not a leak)",
			 f->fd, to, snapshot ? "at this snapshot" : "at exit");
		break;
	case CONNLEAK_CLOSE_WAIT:
		snprintf(buf, n,
			 "the peer %s closed fd %d, and the program held it open %llu ms more", to,
			 f->fd, (unsigned long long)f->held_after_eof_ms);
		break;
	case CONNLEAK_SHARED_CLOSE:
		if (f->exec_prog[0])
			snprintf(buf, n,
				 "close(%d) did not end the connection to %s: %s (pid %d), "
				 "exec'd from this process, inherited the socket and still "
				 "holds it",
				 f->fd, to, f->exec_prog, f->exec_pid);
		else if (f->forked)
			snprintf(buf, n,
				 "close(%d) did not end the connection to %s: a forked child "
				 "still holds the socket",
				 f->fd, to);
		else
			snprintf(buf, n,
				 "close(%d) did not end the connection to %s: %d other "
				 "descriptor(s) still held it",
				 f->fd, to, f->other_fds);
		break;
	case CONNLEAK_DOUBLE_CLOSE:
		snprintf(buf, n, "close(%d) of a descriptor that was already closed", f->fd);
		break;
	case CONNLEAK_KEEPALIVE_RACE:
		snprintf(buf, n,
			 "a request written on reused connection fd %d to %s (after %u replies) "
			 "was answered by %s before any byte",
			 f->fd, to, f->replies, f->answer ? f->answer : "eof");
		break;
	case CONNLEAK_FD_EXHAUSTION:
		snprintf(buf, n, "the process ran out of descriptors (%s) with %u sockets open",
			 f->err == ENFILE ? "ENFILE" : "EMFILE", f->open_sockets);
		break;
	case CONNLEAK_CLOSED_BUT_REFERENCED:
		snprintf(buf, n,
			 "the socket (fd %d) to %s%s%s%s was closed while its TLS session lived on, "
			 "%llu ms so far",
			 f->fd, to, f->hostname[0] ? " (" : "", f->hostname,
			 f->hostname[0] ? ")" : "", (unsigned long long)f->dangling_ms);
		break;
	case CONNLEAK_STALE_FD_USE: {
		char now[160];
		format_addr(&f->now_peer, f->now_peer_len, now, sizeof now);
		if (f->crosstalk)
			snprintf(buf, n,
				 "I/O through fd %d after its socket to %s was closed: the number now "
				 "belongs to a socket to %s, so the bytes went to the wrong peer",
				 f->fd, to, now[0] ? now : "another peer");
		else
			snprintf(buf, n, "I/O through fd %d after its socket%s%s was closed", f->fd,
				 f->peer_len ? " to " : "", f->peer_len ? to : "");
		break;
	}
	case CONNLEAK_STALE_DNS:
		snprintf(buf, n,
			 "connection fd %d still talks to %s, which %s no longer resolves to (now "
			 "%s%s), %llu ms old",
			 f->fd, to, f->hostname, f->nanswer ? f->addrs[0] : "nothing",
			 f->nanswer > 1 ? ", ..." : "", (unsigned long long)f->age_ms);
		break;
	case CONNLEAK_LEASE_EXPIRED:
		snprintf(buf, n, "connection fd %d to %s%s%s%s outlived its %llu ms lease: %llu ms old",
			 f->fd, to, f->hostname[0] ? " (" : "", f->hostname,
			 f->hostname[0] ? ")" : "", (unsigned long long)f->lease_ms,
			 (unsigned long long)f->age_ms);
		break;
	case CONNLEAK_SOCKET_GROWTH: {
		char span[32];
		uint64_t w = f->growth_window_ms;
		if (w >= 120000)
			snprintf(span, sizeof span, "%llu min", (unsigned long long)(w / 60000));
		else
			snprintf(span, sizeof span, "%.1f s", (double)w / 1000.0);
		snprintf(buf, n, "+%.0f %s/min over %s from one call site (%u -> %u %s), %s",
			 f->growth_rate, f->growth_sessions ? "orphaned TLS sessions" : "sockets",
			 span, f->growth_from, f->growth_to,
			 f->growth_sessions ? "sessions whose socket is gone" : "open",
			 f->growth_never_released ? "never released"
			 : f->growth_sessions     ? "the lowest count never freed again"
						  : "the lowest count never closed again");
		break;
	}
	default:
		snprintf(buf, n, "%s", kind_name(f->key.kind));
	}
}
