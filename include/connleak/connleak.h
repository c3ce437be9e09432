/* connleak public header: the report schema version and the stable finding kind names
 * that the report, the CLI and the tests share. */
#ifndef CONNLEAK_CONNLEAK_H
#define CONNLEAK_CONNLEAK_H

#define CONNLEAK_SCHEMA_VERSION 2
#define CONNLEAK_VERSION "0.1.0"

enum connleak_kind {
	CONNLEAK_LEAKED_SOCKET,
	CONNLEAK_CLOSE_WAIT,
	CONNLEAK_CLOSED_BUT_REFERENCED,
	CONNLEAK_STALE_FD_USE,
	CONNLEAK_SHARED_CLOSE,
	CONNLEAK_DOUBLE_CLOSE,
	CONNLEAK_KEEPALIVE_RACE,
	CONNLEAK_STALE_DNS,
	CONNLEAK_LEASE_EXPIRED,
	CONNLEAK_FD_EXHAUSTION,
	CONNLEAK_SOCKET_GROWTH,
	CONNLEAK_OPEN_AT_EXIT, /* not a leak: shown only with show_open_at_exit=1 */
	CONNLEAK_KIND_COUNT
};

/* Indexed by enum connleak_kind. */
#define CONNLEAK_KIND_NAMES                                                                \
	{                                                                                  \
		"leaked-socket", "close-wait", "closed-but-referenced", "stale-fd-use",    \
			"shared-close", "double-close", "keepalive-race", "stale-dns",     \
			"lease-expired", "fd-exhaustion", "socket-growth", "open-at-exit"  \
	}

#endif
