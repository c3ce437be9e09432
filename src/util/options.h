/* connleak's settings: parsed from CONNLEAK_OPTIONS in sanitizer syntax (key=value pairs
 * separated by ':', ',' or white space). Pure parsing, no I/O: callers print the errors. */
#ifndef CONNLEAK_OPTIONS_H
#define CONNLEAK_OPTIONS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

enum lease_mode { LEASE_ENFORCE, LEASE_REPORT };
enum lease_protocols { LEASE_PROTO_HTTP, LEASE_PROTO_ANY };

struct options {
	char report_dir[PATH_MAX];
	char log_path[PATH_MAX];
	int exitcode;
	int backtrace_depth;
	uint64_t close_wait_ms;
	uint64_t keepalive_idle_ms;
	int show_open_at_exit;
	int halt_on_error;
	int symbolize;
	uint64_t lease_ms;
	int lease_mode;
	char lease_peers[1024];
	int lease_on_dns_change;
	int lease_protocols;
	uint64_t dns_check_ms;
	uint64_t sample_ms;
	uint64_t growth_window_ms;
	uint64_t growth_min;
	char suppressions[PATH_MAX];
	uint64_t snapshot_ms;
	int report_signal; /* 0 = off */
	char run_notify[108];
	int help;
};

#define OPT_MAX_DEPTH 64

void options_defaults(struct options *o);

/* Parses `spec` into `o`. A key whose value is bad (or whose quote is never closed) keeps
 * what it had: its default or an earlier valid setting. Calls `error(msg, ctx)` with a
 * complete one-line message (text from the spec escaped as \xNN) for each of the first 8
 * problems, then once more with how many were not shown. Returns the number of problems. */
int options_parse(struct options *o, const char *spec,
		  void (*error)(const char *msg, void *ctx), void *ctx);

/* Writes one line per option (name, default, meaning) through `line`. */
void options_help(void (*line)(const char *text, void *ctx), void *ctx);

/* Calls `emit(name, value_text, is_number, ctx)` for every option, as effective now. */
void options_each(const struct options *o,
		  void (*emit)(const char *name, const char *value, int is_number, void *ctx),
		  void *ctx);

#endif
