/* Table-driven parser for CONNLEAK_OPTIONS. Every option is one row: its name, where it
 * lives in struct options, what it accepts and its default, so help, parsing, errors and the
 * report's "options" object can never disagree. The text comes from whoever started the
 * program: what it shows back is escaped and the number of lines it prints is capped. */
#include "options.h"

#include "escape.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { T_PATH, T_STRING, T_UINT, T_INT, T_BOOL, T_LEASE_MODE, T_SIGNAL, T_LEASE_PROTOCOLS };

struct opt_row {
	const char *name;
	enum opt_type type;
	size_t offset;
	size_t size;
	long long min, max;
	const char *def;
	const char *help;
};

#define F(field) offsetof(struct options, field), sizeof(((struct options *)0)->field)

static const struct opt_row rows[] = {
	/* For paths, max is the longest value accepted: report_dir leaves room for the file
	 * name (<exe>.<pid>.<n>.json, exe cut to 200 bytes), log_path for %p expansions. */
	{"report_dir", T_PATH, F(report_dir), 0, PATH_MAX - 256, "",
	 "directory for one JSON report per process (<exe>.<pid>.json); empty = none"},
	{"log_path", T_PATH, F(log_path), 0, PATH_MAX - 32, "stderr",
	 "text report when there are findings: stderr, or a file path (%p = pid)"},
	{"exitcode", T_INT, F(exitcode), 0, 255, "0",
	 "exit status forced when findings remain at exit; 0 = leave it alone"},
	{"backtrace_depth", T_INT, F(backtrace_depth), 0, OPT_MAX_DEPTH, "16",
	 "frames recorded per stack (0 = no stacks)"},
	{"close_wait_ms", T_UINT, F(close_wait_ms), 0, 86400000, "5000",
	 "how long a socket may stay open after its peer closed before it is close-wait"},
	{"show_open_at_exit", T_BOOL, F(show_open_at_exit), 0, 1, "0",
	 "report connections held ready for reuse at exit as open-at-exit (not a leak; "
	 "always counted in stats.reusable_at_exit)"},
	{"keepalive_idle_ms", T_UINT, F(keepalive_idle_ms), 0, 86400000, "1000",
	 "keepalive-race: idle time before a request on a reused connection that the peer "
	 "had already closed (a shorter gap is a write right after a closing reply)"},
	{"symbolize", T_BOOL, F(symbolize), 0, 1, "1",
	 "name functions in reports from the modules' symbol tables (file:line is added by "
	 "`connleak report`); 0 = exported names only"},
	{"halt_on_error", T_BOOL, F(halt_on_error), 0, 1, "0",
	 "abort with the report written at the first stale use of a TLS session"},
	{"lease_ms", T_UINT, F(lease_ms), 0, 86400000ll * 365, "0",
	 "client connections older than this are shut when idle (or reported); 0 = off"},
	{"lease_mode", T_LEASE_MODE, F(lease_mode), 0, 0, "enforce",
	 "enforce (shutdown(SHUT_RD) when idle) | report (lease-expired finding)"},
	{"lease_peers", T_STRING, F(lease_peers), 0, 0, "",
	 "host:port,... the lease applies to; empty = all"},
	{"lease_on_dns_change", T_BOOL, F(lease_on_dns_change), 0, 1, "0",
	 "retire a connection at its next idle boundary once its peer left its hostname's "
	 "DNS answer (stale-dns), even without lease_ms"},
	{"lease_protocols", T_LEASE_PROTOCOLS, F(lease_protocols), 0, 0, "http",
	 "http (lease only HTTP/1.x, at exchange boundaries) | any (also other protocols, "
	 "after a quiet spell: a fallback that can cut a slow reply)"},
	{"dns_check_ms", T_UINT, F(dns_check_ms), 0, 86400000, "1000",
	 "period of stale-DNS re-resolution of live hostnames; 0 = off"},
	{"sample_ms", T_UINT, F(sample_ms), 0, 86400000, "1000",
	 "timeline sampling period while counts change (longer while they do not); 0 = no "
	 "timeline and no socket-growth"},
	{"growth_window_ms", T_UINT, F(growth_window_ms), 0, 86400000ll * 365, "60000",
	 "socket-growth: how long one call site's open sockets (or orphaned TLS sessions) must "
	 "keep rising"},
	{"growth_min", T_UINT, F(growth_min), 0, 100000000, "50",
	 "socket-growth: by how many at least; 0 = off"},
	{"suppressions", T_PATH, F(suppressions), 0, 0, "",
	 "suppressions file (applied by `connleak report --suppressions`)"},
	{"snapshot_ms", T_UINT, F(snapshot_ms), 0, 86400000, "10000",
	 "a process living longer than this keeps its report on disk, rewritten this often "
	 "when something changed (\"complete\": false); 0 = off"},
	{"report_signal", T_SIGNAL, F(report_signal), 0, 0, "0",
	 "a signal (e.g. SIGUSR2) that writes a snapshot on demand; 0 = off"},
	{"run_notify", T_STRING, F(run_notify), 0, 0, "",
	 "set by `connleak run`: abstract Unix socket told the pid of each process whose "
	 "report could not be written"},
	{"help", T_BOOL, F(help), 0, 1, "0", "print this list to stderr"},
};

#define NROWS (sizeof rows / sizeof rows[0])

/* Longest value a string row takes. A log_path's %p grows by up to 8 bytes (a pid has
 * at most 10 digits): checked in fits(). */
static long long max_len(const struct opt_row *r)
{
	return r->max ? r->max : (long long)r->size - 1;
}

static int fits(const struct opt_row *r, const char *v)
{
	long long len = (long long)strlen(v);
	if (!strcmp(r->name, "log_path"))
		for (const char *p = v; (p = strstr(p, "%p")); p += 2)
			len += 8;
	return len <= max_len(r);
}

static const char *type_accepts(const struct opt_row *r, char *buf, size_t n)
{
	switch (r->type) {
	case T_PATH:
	case T_STRING:
		snprintf(buf, n, "a string of at most %lld bytes", max_len(r));
		break;
	case T_UINT:
	case T_INT:
		snprintf(buf, n, "a whole number from %lld to %lld", r->min, r->max);
		break;
	case T_BOOL:
		snprintf(buf, n, "0 or 1");
		break;
	case T_LEASE_MODE:
		snprintf(buf, n, "enforce or report");
		break;
	case T_SIGNAL:
		snprintf(buf, n, "0 or a signal name such as SIGUSR2");
		break;
	case T_LEASE_PROTOCOLS:
		snprintf(buf, n, "http or any");
		break;
	}
	return buf;
}

/* Returns 0 on success, -1 when the text is not acceptable for the row. */
static int set_value(struct options *o, const struct opt_row *r, const char *v)
{
	char *dst = (char *)o + r->offset;
	switch (r->type) {
	case T_PATH:
	case T_STRING:
		if (!fits(r, v))
			return -1;
		memcpy(dst, v, strlen(v) + 1);
		return 0;
	case T_UINT:
	case T_INT:
	case T_BOOL: {
		if (*v == '\0' || *v == '-' || *v == '+')
			return -1;
		char *end;
		errno = 0;
		unsigned long long x = strtoull(v, &end, 10);
		if (errno || *end || (long long)x < r->min || (long long)x > r->max)
			return -1;
		if (r->type == T_UINT)
			*(uint64_t *)dst = x;
		else
			*(int *)dst = (int)x;
		return 0;
	}
	case T_SIGNAL: {
		if (!strcmp(v, "0") || !strcmp(v, "off")) {
			*(int *)dst = 0;
			return 0;
		}
		const char *name = strncmp(v, "SIG", 3) ? v : v + 3;
		/* Only signals whose default ends the process and that no crash raises. */
		static const struct {
			const char *n;
			int sig;
		} ok[] = {{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP},
			  {"URG", SIGURG},   {"WINCH", SIGWINCH}};
		for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
			if (!strcmp(name, ok[i].n)) {
				*(int *)dst = ok[i].sig;
				return 0;
			}
		for (int rt = SIGRTMIN; rt <= SIGRTMAX; rt++) {
			char b[16];
			snprintf(b, sizeof b, "RTMIN+%d", rt - SIGRTMIN);
			if (!strcmp(name, b)) {
				*(int *)dst = rt;
				return 0;
			}
		}
		return -1;
	}
	case T_LEASE_MODE:
		if (!strcmp(v, "enforce"))
			*(int *)dst = LEASE_ENFORCE;
		else if (!strcmp(v, "report"))
			*(int *)dst = LEASE_REPORT;
		else
			return -1;
		return 0;
	case T_LEASE_PROTOCOLS:
		if (!strcmp(v, "http"))
			*(int *)dst = LEASE_PROTO_HTTP;
		else if (!strcmp(v, "any"))
			*(int *)dst = LEASE_PROTO_ANY;
		else
			return -1;
		return 0;
	}
	return -1;
}

void options_defaults(struct options *o)
{
	memset(o, 0, sizeof *o);
	for (size_t i = 0; i < NROWS; i++)
		set_value(o, &rows[i], rows[i].def);
}

static int is_sep(char c)
{
	return c == ':' || c == ',' || c == ' ' || c == '\t' || c == '\n';
}

/* Text from the spec, shown escaped and cut to an excerpt. */
static void shown(const char *text, size_t len, int cut, char *buf, size_t n)
{
	char raw[64];
	if (len > 40) {
		len = 40;
		cut = 1;
	}
	memcpy(raw, text, len);
	raw[len] = '\0';
	escape_text(buf, n - 4, raw);
	if (cut)
		strcat(buf, "...");
}

/* The current value of r in o, as text (for "keeping ..."). */
static void value_text(const struct options *o, const struct opt_row *r, char *buf, size_t n)
{
	const char *field = (const char *)o + r->offset;
	switch (r->type) {
	case T_PATH:
	case T_STRING: {
		char esc[200];
		shown(field, strlen(field), 0, esc, sizeof esc);
		snprintf(buf, n, "'%s'", esc);
		break;
	}
	case T_UINT:
		snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)field);
		break;
	case T_INT:
	case T_BOOL:
		snprintf(buf, n, "%d", *(const int *)field);
		break;
	case T_LEASE_MODE:
		snprintf(buf, n, "%s", *(const int *)field == LEASE_REPORT ? "report" : "enforce");
		break;
	case T_SIGNAL: {
		int sig = *(const int *)field;
		const char *ab = sig ? sigabbrev_np(sig) : NULL;
		if (ab)
			snprintf(buf, n, "SIG%s", ab);
		else
			snprintf(buf, n, "%d", sig);
		break;
	}
	case T_LEASE_PROTOCOLS:
		snprintf(buf, n, "%s", *(const int *)field == LEASE_PROTO_ANY ? "any" : "http");
		break;
	}
}

/* At most this many problem lines; the rest are counted in one last line, so a huge or
 * garbled CONNLEAK_OPTIONS cannot flood the program's stderr. */
#define MAX_ERROR_LINES 8

struct reporter {
	void (*error)(const char *msg, void *ctx);
	void *ctx;
	int problems;
};

static void problem(struct reporter *rep, const char *msg)
{
	if (rep->problems++ < MAX_ERROR_LINES)
		rep->error(msg, rep->ctx);
}

int options_parse(struct options *o, const char *spec,
		  void (*error)(const char *msg, void *ctx), void *ctx)
{
	char msg[640], accepts[96], key_shown[200], val_shown[200], now[210];
	struct reporter rep = {error, ctx, 0};
	const char *p = spec ? spec : "";

	while (*p) {
		while (is_sep(*p))
			p++;
		if (!*p)
			break;
		char key[64], val[PATH_MAX];
		size_t kn = 0, vn = 0;
		int key_too_long = 0, val_too_long = 0;
		while (*p && *p != '=' && !is_sep(*p)) {
			if (kn + 1 < sizeof key)
				key[kn++] = *p;
			else
				key_too_long = 1;
			p++;
		}
		key[kn] = '\0';
		shown(key, kn, key_too_long, key_shown, sizeof key_shown);
		if (*p != '=') {
			snprintf(msg, sizeof msg,
				 "connleak: CONNLEAK_OPTIONS: '%s' has no value; write key=value "
				 "(help=1 lists the options)",
				 key_shown);
			problem(&rep, msg);
			continue;
		}
		p++;
		/* A value may be quoted to hold separators, as in the sanitizers. */
		char quote = (*p == '"' || *p == '\'') ? *p++ : 0;
		while (*p && (quote ? *p != quote : !is_sep(*p))) {
			if (vn + 1 < sizeof val)
				val[vn++] = *p;
			else
				val_too_long = 1;
			p++;
		}
		int unterminated = quote && *p != quote;
		if (quote && *p == quote)
			p++;
		val[vn] = '\0';
		shown(val, vn, val_too_long, val_shown, sizeof val_shown);

		const struct opt_row *r = NULL;
		for (size_t i = 0; i < NROWS; i++)
			if (!strcmp(rows[i].name, key))
				r = &rows[i];
		if (!r) {
			snprintf(msg, sizeof msg,
				 "connleak: unknown option '%s' in CONNLEAK_OPTIONS, ignored "
				 "(help=1 lists the options)",
				 key_shown);
			problem(&rep, msg);
			continue;
		}
		/* A bad value leaves the key as it was: its default, or an earlier setting. */
		value_text(o, r, now, sizeof now);
		if (unterminated) {
			snprintf(msg, sizeof msg,
				 "connleak: the %c quote of option %s is never closed in "
				 "CONNLEAK_OPTIONS; keeping %s",
				 quote, r->name, now);
			problem(&rep, msg);
		} else if (val_too_long || set_value(o, r, val) != 0) {
			snprintf(msg, sizeof msg,
				 "connleak: bad value '%s' for option %s: expects %s; keeping %s",
				 val_shown, r->name, type_accepts(r, accepts, sizeof accepts), now);
			problem(&rep, msg);
		}
	}
	if (rep.problems > MAX_ERROR_LINES) {
		snprintf(msg, sizeof msg, "connleak: %d more problem(s) in CONNLEAK_OPTIONS not shown",
			 rep.problems - MAX_ERROR_LINES);
		error(msg, ctx);
	}
	return rep.problems;
}

void options_help(void (*line)(const char *text, void *ctx), void *ctx)
{
	char buf[512];
	line("connleak options (CONNLEAK_OPTIONS=key=value:key=value ...):", ctx);
	for (size_t i = 0; i < NROWS; i++) {
		snprintf(buf, sizeof buf, "  %-16s default %-8s %s", rows[i].name,
			 *rows[i].def ? rows[i].def : "\"\"", rows[i].help);
		line(buf, ctx);
	}
}

void options_each(const struct options *o,
		  void (*emit)(const char *, const char *, int, void *), void *ctx)
{
	char buf[32];
	for (size_t i = 0; i < NROWS; i++) {
		const struct opt_row *r = &rows[i];
		const char *field = (const char *)o + r->offset;
		switch (r->type) {
		case T_PATH:
		case T_STRING:
			emit(r->name, field, 0, ctx);
			break;
		case T_UINT:
			snprintf(buf, sizeof buf, "%llu",
				 (unsigned long long)*(const uint64_t *)field);
			emit(r->name, buf, 1, ctx);
			break;
		case T_INT:
		case T_BOOL:
			snprintf(buf, sizeof buf, "%d", *(const int *)field);
			emit(r->name, buf, 1, ctx);
			break;
		case T_LEASE_MODE:
			emit(r->name, *(const int *)field == LEASE_REPORT ? "report" : "enforce", 0,
			     ctx);
			break;
		case T_SIGNAL: {
			int sig = *(const int *)field;
			const char *ab = sig ? sigabbrev_np(sig) : NULL;
			if (ab)
				snprintf(buf, sizeof buf, "SIG%s", ab);
			else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
				snprintf(buf, sizeof buf, "SIGRTMIN+%d", sig - SIGRTMIN);
			else
				snprintf(buf, sizeof buf, "0");
			emit(r->name, buf, 0, ctx);
			break;
		}
		case T_LEASE_PROTOCOLS:
			emit(r->name, *(const int *)field == LEASE_PROTO_ANY ? "any" : "http", 0, ctx);
			break;
		}
	}
}
