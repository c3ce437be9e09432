/* Pieces of text every writer of `connleak report` shares: a frame as a sanitizer prints
 * it, a stack's title, a finding's socket line, a process's label and the summary counts. */
#include <inttypes.h>
#include <string.h>

#include "report.h"

const char *stack_title(const struct stack *s, char *buf, size_t n)
{
	if (!strcmp(s->name, "created"))
		return "created at";
	if (!strcmp(s->name, "closed"))
		return "closed at";
	if (!strcmp(s->name, "previous_close"))
		return "previously closed at";
	if (!strcmp(s->name, "used"))
		return "seen at";
	if (!strcmp(s->name, "group")) {
		snprintf(buf, n, "%lld sockets created at", s->group_count);
		return buf;
	}
	snprintf(buf, n, "%s", s->name);
	return buf;
}

void frame_line(const struct frame *f, size_t index, char *buf, size_t n)
{
	size_t len = 0;
#define ADD(...)                                                                           \
	do {                                                                               \
		if (len < n) {                                                             \
			int w_ = snprintf(buf + len, n - len, __VA_ARGS__);                \
			if (w_ > 0)                                                        \
				len += (size_t)w_;                                         \
		}                                                                          \
	} while (0)
	if (n)
		buf[0] = '\0';
	ADD("#%zu %s", index, f->pc ? f->pc : "0x?");
	if (f->function && *f->function) {
		ADD(" in %s", f->function);
		if (f->file && *f->file) {
			const char *base = strrchr(f->file, '/');
			ADD(" %s", base ? base + 1 : f->file);
			if (f->line > 0)
				ADD(":%ld", f->line);
		} else if (f->has_fn_offset) {
			ADD("+0x%" PRIx64, f->fn_offset);
		}
	}
	if (f->module && f->has_offset)
		ADD(" (%s+0x%" PRIx64 ")", f->module, f->offset);
	else if (f->module)
		ADD(" (%s)", f->module);
#undef ADD
}

void finding_socket_line(const struct finding *f, char *buf, size_t n)
{
	buf[0] = '\0';
	json_t *o = f->obj;
	json_t *sock = json_object_get(o, "socket");
	if (!json_is_integer(json_object_get(o, "fd")) || !json_is_object(sock))
		return;
	const char *fam = json_str(sock, "family"), *type = json_str(sock, "type");
	const char *local = json_str(o, "local"), *peer = json_str(o, "peer");
	const char *state = json_str(o, "tcp_state");
	snprintf(buf, n, "fd %lld (generation %lld), %s %s, %s -> %s%s%s", json_int(o, "fd", -1),
		 json_int(o, "fd_generation", 0), fam ? fam : "?", type ? type : "?",
		 local ? local : "?", peer ? peer : "?", state ? ", " : "", state ? state : "");
}

void process_label(const struct process *p, char *buf, size_t n)
{
	snprintf(buf, n, "%s[%lld]", p->name, p->pid);
}

void xml_escape(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		case '\t':
		case '\n':
		case '\r': fputc(*p, out); break;
		default:
			/* XML 1.0 cannot hold other control characters, even escaped. */
			if (*p >= 0x20)
				fputc(*p, out);
		}
	}
}

void summary_counts(FILE *out, const struct result *r)
{
	fprintf(out, "%" PRIu64 " finding(s) in %zu group(s) from %zu of %zu process(es)", r->total,
		r->shown_groups, r->procs_with_findings, r->set->nprocs);
	const char *sep = ": ";
	for (int k = 0; k <= CONNLEAK_KIND_COUNT; k++)
		if (r->per_rank[k]) {
			fprintf(out, "%s%" PRIu64 " %s", sep, r->per_rank[k],
				k < CONNLEAK_KIND_COUNT ? severity_order[k] : "of other kinds");
			sep = ", ";
		}
	if (r->suppressed)
		fprintf(out, "; %" PRIu64 " suppressed", r->suppressed);
	if (r->set->nerrors)
		fprintf(out, "; %zu unreadable report file(s)", r->set->nerrors);
}
