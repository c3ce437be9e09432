/* The sanitizer-style text report: a header line per finding group, its stacks as
 * "#N 0x... in func file:line (module+0x...)", and a SUMMARY line. Every name in it comes
 * from the program (host names, socket paths, modules, functions, files) and is shown with
 * its control characters escaped, so none can move the cursor, clear the terminal or
 * start a line that looks like ours. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../track/findings.h"
#include "../util/arena.h"
#include "../track/model.h"
#include "../util/escape.h"
#include "describe.h"
#include "frames.h"
#include "report.h"

struct text_ctx {
	struct out *o;
	int pid;
	uint64_t per_kind[CONNLEAK_KIND_COUNT];
	int groups;
};

/* `s` escaped onto the report. */
static void put_escaped(struct out *o, const char *s)
{
	char buf[1024];
	while (*s) {
		size_t took = escape_text(buf, sizeof buf, s);
		out_puts(o, buf);
		if (!took)
			break;
		s += took;
	}
}

static void text_frame(int index, const struct frame_info *fi, void *ctx)
{
	struct text_ctx *t = ctx;
	out_printf(t->o, "==%d==     #%d 0x%" PRIxPTR " in ", t->pid, index, fi->pc);
	put_escaped(t->o, fi->function[0] ? fi->function : "??");
	if (fi->file[0]) {
		const char *base = strrchr(fi->file, '/');
		out_puts(t->o, " ");
		put_escaped(t->o, base ? base + 1 : fi->file);
		out_printf(t->o, ":%d", fi->line);
	} else if (fi->function[0] && !fi->jit) {
		/* (JIT frames print as perf does: the name, then the map) */
		out_printf(t->o, "+0x%" PRIxPTR, fi->function_offset);
	}
	if (fi->jit) {
		/* JIT'd code: the map that named it, as perf prints such frames. */
		const char *base = strrchr(fi->perf_map, '/');
		out_puts(t->o, " [jit] (");
		put_escaped(t->o, base ? base + 1 : fi->perf_map);
		out_puts(t->o, ")\n");
		return;
	}
	out_puts(t->o, " (");
	put_escaped(t->o, fi->module);
	out_printf(t->o, "+0x%" PRIxPTR ")\n", fi->offset);
}

static void text_stack(struct text_ctx *t, const char *title, stack_id id)
{
	if (!id)
		return;
	out_printf(t->o, "==%d==   %s:\n", t->pid, title);
	frames_each(id, text_frame, t);
}

static void text_finding(const struct finding *f, void *ctx)
{
	struct text_ctx *t = ctx;
	char msg[512], local[160], peer[160];
	finding_message(f, 0, msg, sizeof msg); /* text: final reports only */
	t->per_kind[f->key.kind] += f->count;
	t->groups++;
	out_printf(t->o, "==%d== connleak: %s: ", t->pid, kind_name(f->key.kind));
	put_escaped(t->o, msg);
	if (f->count > 1)
		out_printf(t->o, " (%" PRIu64 " times)", f->count);
	out_puts(t->o, "\n");
	format_addr(&f->local, f->local_len, local, sizeof local);
	format_addr(&f->peer, f->peer_len, peer, sizeof peer);
	if (f->origin >= 0) {
		const char *state = tcp_state_name(f->tcp_state);
		out_printf(t->o, "==%d==   fd %d (generation %u), %s %s, ", t->pid, f->fd, f->gen,
			   family_name(f->family), type_name(f->type));
		put_escaped(t->o, local[0] ? local : "?");
		out_puts(t->o, " -> ");
		put_escaped(t->o, peer[0] ? peer : "?");
		out_printf(t->o, "%s%s\n", state ? ", " : "", state ? state : "");
	}
	text_stack(t, "created at", f->key.created);
	text_stack(t, "closed at", f->key.closed);
	text_stack(t, "previously closed at", f->key.previous_close);
	text_stack(t, f->key.kind == CONNLEAK_STALE_FD_USE ? "used at" : "seen at", f->key.used);
	for (int i = 0; i < f->ngroups; i++) {
		char title[64];
		snprintf(title, sizeof title, "%u sockets created at", f->groups[i].count);
		text_stack(t, title, f->groups[i].stack);
	}
	out_printf(t->o, "==%d==\n", t->pid);
}

void text_report(struct out *o)
{
	struct text_ctx t;
	memset(&t, 0, sizeof t);
	t.o = o;
	t.pid = report_pid;
	model_lock();
	findings_each(text_finding, &t);
	uint64_t total = findings_total();
	out_printf(o, "==%d== SUMMARY: connleak: %" PRIu64 " finding(s) in %d group(s):", t.pid,
		   total, t.groups);
	const char *sep = " ";
	for (int k = 0; k < CONNLEAK_KIND_COUNT; k++)
		if (t.per_kind[k]) {
			out_printf(o, "%s%" PRIu64 " %s", sep, t.per_kind[k], kind_name(k));
			sep = ", ";
		}
	if (model_state.stats.untracked || arena_failures())
		out_printf(o, "; incomplete: %" PRIu64 " socket(s) not followed (out of memory)",
			   model_state.stats.untracked);
	out_puts(o, "\n");
	model_unlock();
}
