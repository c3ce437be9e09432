/* The per-process JSON report (schema in docs/report-schema.md and the README). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/arena.h"
#include "../track/endpoint.h"
#include "../track/findings.h"
#include "../track/growth.h"
#include "../track/model.h"
#include "../track/sock.h"
#include "../track/timeline.h"
#include "../track/tls.h"
#include "../util/clock.h"
#include "../util/real.h"
#include "describe.h"
#include "frames.h"
#include "json.h"
#include "perfmap_copy.h"
#include "publish.h"
#include "report.h"

/* UTC by arithmetic (days to civil date, H. Hinnant's algorithm), not gmtime/strftime:
 * their first call reads the time zone and mallocs, and a report may be written by an
 * _exit in a signal handler that interrupted malloc. */
static void iso_time(uint64_t wall_ms, char *buf, size_t n)
{
	uint64_t secs = wall_ms / 1000, days = secs / 86400, sod = secs % 86400;
	int64_t z = (int64_t)days + 719468, era = z / 146097;
	uint64_t doe = (uint64_t)(z - era * 146097);
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	unsigned day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	unsigned month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	int64_t year = (int64_t)yoe + era * 400 + (month <= 2);
	snprintf(buf, n, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)year, month, day,
		 (unsigned)(sod / 3600), (unsigned)(sod / 60 % 60), (unsigned)(sod % 60),
		 (unsigned)(wall_ms % 1000));
}

static const char *signal_name(int sig)
{
	static char buf[16];
	const char *abbrev = sigabbrev_np(sig);
	if (!abbrev)
		return "unknown";
	snprintf(buf, sizeof buf, "SIG%s", abbrev);
	return buf;
}

static void emit_option(const char *name, const char *value, int is_number, void *ctx)
{
	if (is_number)
		json_raw(ctx, name, value);
	else
		json_str(ctx, name, value);
}

static void emit_frame(int index, const struct frame_info *fi, void *ctx)
{
	struct json *j = ctx;
	char hex[32];
	(void)index;
	json_open(j, NULL, '{');
	snprintf(hex, sizeof hex, "0x%" PRIxPTR, fi->pc);
	json_str(j, "pc", hex);
	json_str(j, "module", fi->module[0] ? fi->module : NULL);
	snprintf(hex, sizeof hex, "0x%" PRIxPTR, fi->offset);
	json_str(j, "offset", hex);
	json_str(j, "function", fi->function[0] ? fi->function : NULL);
	if (fi->function[0]) {
		snprintf(hex, sizeof hex, "0x%" PRIxPTR, fi->function_offset);
		json_str(j, "function_offset", hex);
	}
	json_str(j, "file", fi->file[0] ? fi->file : NULL);
	if (fi->line)
		json_int(j, "line", fi->line);
	else
		json_null(j, "line");
	if (fi->jit) {
		json_bool(j, "jit", 1);
		json_str(j, "perf_map", fi->perf_map);
	}
	json_close(j, '}');
}

static void emit_stack(struct json *j, const char *key, stack_id id)
{
	json_open(j, key, '[');
	frames_each(id, emit_frame, j);
	json_close(j, ']');
}

static void emit_addr(struct json *j, const char *key, const struct sockaddr_storage *a,
		      socklen_t len)
{
	char buf[160];
	format_addr(a, len, buf, sizeof buf);
	json_str(j, key, buf[0] ? buf : NULL);
}

struct finding_ctx {
	struct json *j;
	int snapshot;
};

static void emit_finding(const struct finding *f, void *ctx)
{
	const struct finding_ctx *c = ctx;
	struct json *j = c->j;
	char msg[512];
	json_open(j, NULL, '{');
	json_str(j, "kind", kind_name(f->key.kind));
	json_uint(j, "count", f->count);
	json_uint(j, "t_ms", f->t_ms);
	finding_message(f, c->snapshot, msg, sizeof msg);
	json_str(j, "message", msg);
	json_int(j, "fd", f->fd);
	json_uint(j, "fd_generation", f->gen);
	if (f->origin >= 0) {
		json_open(j, "socket", '{');
		json_str(j, "family", family_name(f->family));
		json_str(j, "type", type_name(f->type));
		json_str(j, "origin", origin_name(f->origin));
		json_close(j, '}');
	} else {
		json_null(j, "socket");
	}
	emit_addr(j, "local", &f->local, f->local_len);
	emit_addr(j, "peer", &f->peer, f->peer_len);
	json_str(j, "hostname", f->hostname[0] ? f->hostname : NULL);
	json_str(j, "tcp_state", tcp_state_name(f->tcp_state));
	json_uint(j, "age_ms", f->age_ms);
	json_uint(j, "idle_ms", f->idle_ms);
	switch (f->key.kind) {
	case CONNLEAK_CLOSE_WAIT:
		json_uint(j, "held_after_eof_ms", f->held_after_eof_ms);
		break;
	case CONNLEAK_SHARED_CLOSE:
		json_int(j, "other_descriptors", f->other_fds);
		json_bool(j, "forked", f->forked);
		if (f->exec_prog[0]) {
			json_open(j, "inherited_by", '{');
			json_int(j, "pid", f->exec_pid);
			json_str(j, "program", f->exec_prog);
			json_close(j, '}');
		} else {
			json_null(j, "inherited_by");
		}
		break;
	case CONNLEAK_KEEPALIVE_RACE:
		json_uint(j, "replies_before", f->replies);
		json_str(j, "answer", f->answer);
		json_uint(j, "idle_before_ms", f->idle_before_ms);
		break;
	case CONNLEAK_CLOSED_BUT_REFERENCED:
	case CONNLEAK_STALE_FD_USE:
		json_uint(j, "dangling_ms", f->dangling_ms);
		if (f->key.kind == CONNLEAK_STALE_FD_USE) {
			json_bool(j, "crosstalk", f->crosstalk);
			emit_addr(j, "now_peer", &f->now_peer, f->now_peer_len);
		}
		if (f->tls_lib) {
			char hex[32];
			json_open(j, "tls", '{');
			json_str(j, "library", f->tls_lib == TLS_GNUTLS ? "gnutls" : "openssl");
			snprintf(hex, sizeof hex, "0x%" PRIxPTR, f->tls_session);
			json_str(j, "session", hex);
			json_close(j, '}');
		} else {
			json_null(j, "tls");
		}
		break;
	case CONNLEAK_STALE_DNS:
		json_open(j, "answer", '[');
		for (int i = 0; i < f->nanswer; i++)
			json_str(j, NULL, f->addrs[i]);
		json_close(j, ']');
		break;
	case CONNLEAK_LEASE_EXPIRED:
		json_uint(j, "lease_ms", f->lease_ms);
		break;
	case CONNLEAK_SOCKET_GROWTH: {
		char num[32];
		json_str(j, "growing", f->growth_sessions ? "tls_sessions" : "sockets");
		json_uint(j, "from", f->growth_from);
		json_uint(j, "to", f->growth_to);
		json_uint(j, "since_ms", f->growth_since_ms);
		json_uint(j, "window_ms", f->growth_window_ms);
		snprintf(num, sizeof num, "%.1f", f->growth_rate);
		json_raw(j, "rate_per_min", num);
		json_bool(j, "never_released", f->growth_never_released);
		if (!f->growth_sessions)
			json_uint(j, "close_wait", f->growth_close_wait);
		break;
	}
	case CONNLEAK_FD_EXHAUSTION:
		json_str(j, "errno", f->err == ENFILE ? "ENFILE" : "EMFILE");
		json_uint(j, "open_sockets", f->open_sockets);
		json_open(j, "groups", '[');
		for (int i = 0; i < f->ngroups; i++) {
			json_open(j, NULL, '{');
			json_uint(j, "count", f->groups[i].count);
			emit_stack(j, "stack", f->groups[i].stack);
			json_close(j, '}');
		}
		json_close(j, ']');
		break;
	}
	json_open(j, "stacks", '{');
	if (f->key.created)
		emit_stack(j, "created", f->key.created);
	if (f->key.closed)
		emit_stack(j, "closed", f->key.closed);
	if (f->key.previous_close)
		emit_stack(j, "previous_close", f->key.previous_close);
	if (f->key.used)
		emit_stack(j, "used", f->key.used);
	if (f->spawned)
		emit_stack(j, "spawned", f->spawned);
	json_close(j, '}');
	json_close(j, '}');
}

static void emit_endpoint(const struct endpoint *e, void *ctx)
{
	struct json *j = ctx;
	json_open(j, NULL, '{');
	emit_addr(j, "peer", &e->addr, e->addr_len);
	json_str(j, "role", e->key.server ? "server" : "client");
	json_str(j, "hostname", e->host[0] ? e->host : NULL);
	json_uint(j, "connections", e->connections);
	json_uint(j, "open", e->open);
	json_uint(j, "peak_concurrent", e->peak);
	json_uint(j, "bytes_in", e->bytes_in + e->live_bytes_in);
	json_uint(j, "bytes_out", e->bytes_out + e->live_bytes_out);
	json_uint(j, "requests", e->requests + e->live_requests);
	json_uint(j, "tls_handshakes", e->tls_handshakes);
	json_uint(j, "tls_resumed", e->tls_resumed);
	json_uint(j, "leases_enforced", e->leases_enforced);
	json_open(j, "lifetime_ms", '{');
	json_uint(j, "p50", endpoint_lifetime_quantile(e, 0.50));
	json_uint(j, "p99", endpoint_lifetime_quantile(e, 0.99));
	json_uint(j, "max", e->lifetime_max_ms);
	json_close(j, '}');
	json_close(j, '}');
}

/* The busiest endpoints of one sample as {key: open}. A process that listens on an address
 * and connects to it has a server and a client endpoint there: the server's key says so
 * ("127.0.0.1:80 (server)"). Keys that still coincide (addresses that format alike, or not
 * at all) are summed into one member, so the object never holds a key twice. */
static void emit_timeline_endpoints(struct json *j, const struct tl_sample *t)
{
	char keys[TIMELINE_ENDPOINTS][192];
	uint64_t open[TIMELINE_ENDPOINTS];
	int n = 0;
	for (int k = 0; k < t->nep; k++) {
		char addr[160];
		format_addr((const struct sockaddr_storage *)&t->ep[k].addr, t->ep[k].len, addr,
			    sizeof addr);
		char key[192];
		snprintf(key, sizeof key, "%s%s", addr[0] ? addr : "unknown",
			 t->ep[k].server ? " (server)" : "");
		int i;
		for (i = 0; i < n && strcmp(keys[i], key); i++)
			;
		if (i == n) {
			memcpy(keys[n], key, sizeof key);
			open[n++] = 0;
		}
		open[i] += t->ep[k].open;
	}
	json_open(j, "endpoints", '{');
	for (int i = 0; i < n; i++)
		json_uint(j, keys[i], open[i]);
	json_close(j, '}');
}

/* One call site's series (growth.h): what `connleak top` and the HTML charts read. */
static void emit_growth(const struct growth_series *g, void *ctx)
{
	struct json *j = ctx;
	char num[32];
	json_open(j, NULL, '{');
	json_str(j, "what", g->what == GROWTH_SESSIONS ? "tls_sessions" : "sockets");
	const struct growth_point *last = &g->pts[g->n - 1];
	json_uint(j, "count", last->count);
	json_uint(j, "close_wait", last->close_wait);
	snprintf(num, sizeof num, "%.1f",
		 growth_recent_rate(g, model_opt ? model_opt->growth_window_ms : 60000));
	json_raw(j, "rate_per_min", num);
	json_bool(j, "growing", g->reported);
	json_open(j, "samples", '[');
	for (int i = 0; i < g->n; i++) {
		json_open(j, NULL, '[');
		json_uint(j, NULL, g->pts[i].t_ms);
		json_uint(j, NULL, g->pts[i].count);
		json_uint(j, NULL, g->pts[i].close_wait);
		json_close(j, ']');
	}
	json_close(j, ']');
	emit_stack(j, "stack", g->stack);
	json_close(j, '}');
}

static void emit_cmdline(struct json *j)
{
	json_open(j, "cmdline", '[');
	int fd = real.open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[8192];
		ssize_t n = real.read(fd, buf, sizeof buf);
		real.close(fd);
		for (ssize_t i = 0; i < n;) {
			size_t len = strnlen(buf + i, (size_t)(n - i));
			json_strn(j, NULL, buf + i, len);
			i += (ssize_t)len + 1;
		}
	}
	json_close(j, ']');
}

static void emit_ended(struct json *j, const struct report_end *end)
{
	static const char *const by[] = {"exit", "_exit", "exec", "abort", "signal"};
	if (end->how == END_SNAPSHOT || end->how == END_SANDBOX) {
		json_null(j, "ended");
		return;
	}
	json_open(j, "ended", '{');
	json_str(j, "by", by[end->how]);
	if (end->how == END_EXIT || end->how == END__EXIT)
		json_int(j, "status", end->status);
	else if (end->how == END_EXEC)
		json_str(j, "path", end->exec_path);
	else if (end->how == END_SIGNAL)
		json_str(j, "signal", signal_name(end->signo));
	json_close(j, '}');
}

void json_report(struct out *o, const struct options *opt, const struct report_end *end)
{
	static const char *const how[] = {"exit", "_exit", "exec", "abort", "signal", "sandbox",
					  "snapshot"};
	struct json j;
	char buf[512];
	json_init(&j, o);
	model_lock();
	/* Every report ends its timeline with a sample taken as it is written. */
	timeline_sample_now(clock_coarse_ms());
	json_open(&j, NULL, '{');
	json_int(&j, "schema", CONNLEAK_SCHEMA_VERSION);
	json_str(&j, "tool", "connleak");
	json_str(&j, "version", CONNLEAK_VERSION);
	json_int(&j, "pid", report_pid);
	json_int(&j, "ppid", report_ppid);
	json_str(&j, "exe", publish_exe());
	emit_cmdline(&j);
	/* The copy of the process's perf map beside this file, naming JIT frames offline. */
	json_str(&j, "perf_map", perfmap_copy_name());
	iso_time(model_state.start_wall_ms, buf, sizeof buf);
	json_str(&j, "start_time", buf);
	uint64_t now = clock_wall_ms();
	iso_time(now, buf, sizeof buf);
	json_str(&j, "end_time", buf);
	/* Measured on the monotonic clock: a wall-clock step must not make it wrap. */
	uint64_t lived = clock_coarse_ms() - model_state.start_mono_ms;
	json_uint(&j, "duration_ms", lived);

	/* complete: a final report, written from a model nobody was changing, of a process
	 * connleak saw all of (nothing untracked for want of memory, no signal event lost):
	 * otherwise a clean report is no proof of a clean run. */
	json_bool(&j, "complete", end->how != END_SNAPSHOT && end->how != END_SANDBOX &&
					  end->consistent && !model_state.stats.untracked &&
					  !arena_failures() && !model_state.events_deferred_lost);
	emit_ended(&j, end);
	if (end->how == END_SNAPSHOT) {
		json_open(&j, "snapshot", '{');
		json_uint(&j, "seq", end->seq);
		json_str(&j, "time", buf);
		json_uint(&j, "t_ms", lived);
		json_close(&j, '}');
	} else {
		json_null(&j, "snapshot");
	}
	json_bool(&j, "model_consistent", end->consistent);
	if (end->how == END_SANDBOX)
		json_str(&j, "tracking_stopped", "seccomp filter installed: nothing after it is "
						 "followed");
	else
		json_null(&j, "tracking_stopped");
	if (end->text_to || end->text_skipped) {
		json_open(&j, "text_report", '{');
		json_str(&j, "to", end->text_to);
		json_str(&j, "skipped", end->text_skipped);
		json_close(&j, '}');
	} else {
		json_null(&j, "text_report");
	}

	json_open(&j, "end", '{');
	json_str(&j, "how", how[end->how]);
	if (end->how == END_EXEC)
		json_str(&j, "exec_path", end->exec_path);
	else if (end->how == END_EXIT || end->how == END__EXIT)
		json_int(&j, "status", end->status);
	else if (end->how == END_SIGNAL)
		json_str(&j, "signal", signal_name(end->signo));
	json_close(&j, '}');

	json_open(&j, "options", '{');
	options_each(opt, emit_option, &j);
	json_close(&j, '}');

	const struct model_stats *st = &model_state.stats;
	json_open(&j, "stats", '{');
	json_uint(&j, "sockets_created", st->created);
	json_uint(&j, "sockets_accepted", st->accepted);
	json_uint(&j, "sockets_received", st->received);
	json_uint(&j, "sockets_inherited", st->inherited);
	json_uint(&j, "connects", st->connects);
	json_uint(&j, "closes", st->closes);
	json_uint(&j, "peak_open", st->peak_open);
	json_uint(&j, "open_at_exit", sock_live_count());
	json_uint(&j, "reusable_at_exit", st->reusable_at_exit);
	json_uint(&j, "findings", findings_total());
	json_uint(&j, "tls_sessions", st->tls_sessions);
	json_uint(&j, "orphaned_sessions", tls_orphaned_count());
	json_uint(&j, "leases_enforced", st->leases_enforced);
	json_uint(&j, "distinct_stacks", stacks_count());
	json_uint(&j, "endpoints_dropped", endpoint_dropped());
	json_uint(&j, "untracked", st->untracked);
	json_uint(&j, "allocation_failures", arena_failures());
	json_close(&j, '}');

	json_open(&j, "findings", '[');
	findings_each(emit_finding, &(struct finding_ctx){&j, end->how == END_SNAPSHOT});
	json_close(&j, ']');
	model_fold_live();
	json_open(&j, "endpoints", '[');
	endpoint_each(emit_endpoint, &j);
	json_close(&j, ']');
	json_open(&j, "timeline", '[');
	for (int i = 0; i < timeline_count(); i++) {
		const struct tl_sample *t = timeline_get(i);
		json_open(&j, NULL, '{');
		json_uint(&j, "t_ms", t->t_ms);
		json_uint(&j, "open_sockets", t->open);
		json_uint(&j, "close_wait", t->close_wait);
		json_uint(&j, "orphaned_sessions", t->orphaned);
		emit_timeline_endpoints(&j, t);
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_open(&j, "growth", '[');
	growth_each(emit_growth, &j);
	json_close(&j, ']');
	json_open(&j, "events", '[');
	for (int i = 0; i < model_state.nevents; i++) {
		const struct model_event *e = &model_state.events[i];
		json_open(&j, NULL, '{');
		json_uint(&j, "t_ms", e->t_ms);
		json_str(&j, "what", e->what);
		if (!strcmp(e->what, "fork"))
			json_int(&j, "child", e->arg);
		if (!strcmp(e->what, "lease")) {
			json_int(&j, "fd", e->fd);
			emit_addr(&j, "peer", &e->peer, e->peer_len);
			json_str(&j, "hostname", e->host[0] ? e->host : NULL);
			json_uint(&j, "age_ms", e->age_ms);
			json_str(&j, "reason", e->reason ? e->reason : "expired");
		}
		json_close(&j, '}');
	}
	json_close(&j, ']');
	json_uint(&j, "events_dropped", model_state.events_dropped);
	json_uint(&j, "signal_events_lost", model_state.events_deferred_lost);
	json_close(&j, '}');
	out_puts(o, "\n");
	model_unlock();
}
