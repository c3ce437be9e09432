/* Pieces of text every writer of `connleak report` shares: a frame as a sanitizer prints
 * it, a stack's title, a finding's socket line, a process's label and the summary counts. */
#include <inttypes.h>
#include <string.h>

#include "report.h"
#include "util/escape.h"

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
	if (f->jit && f->function && *f->function) {
		/* JIT'd code: the map that named it, as perf prints such frames. */
		const char *map = f->perf_map ? strrchr(f->perf_map, '/') : NULL;
		ADD(" [jit] (%s)", map ? map + 1 : f->perf_map ? f->perf_map : "perf map");
	} else if (f->module && f->has_offset)
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

/* One character XML 1.0 can hold (Char production), as UTF-8 at s; 0 when the bytes there
 * are broken UTF-8 or a character XML cannot hold even escaped (C0 controls, U+FFFE,
 * U+FFFF). */
static int xml_char(const unsigned char *s, size_t left, uint32_t *cp)
{
	int k = utf8_seq(s, left, cp);
	if (!k || *cp == 0xfffe || *cp == 0xffff)
		return 0;
	if (*cp < 0x20 && *cp != '\t' && *cp != '\n' && *cp != '\r')
		return 0;
	return k;
}

/* Markup characters as entities; what XML cannot hold as "\xNN" text, like the text
 * report, so the document is well-formed for any input and nothing is silently lost. In
 * an attribute, tab and line breaks are character references (a parser would turn them
 * into spaces). */
static void xml_put(FILE *out, const char *str, int attr)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t len = strlen((const char *)s);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int k = xml_char(s + i, len - i, &cp);
		if (!k) {
			fprintf(out, "\\x%02x", s[i++]);
			continue;
		}
		switch (cp) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		case '\t':
		case '\n':
		case '\r':
			if (attr || cp == '\r')
				fprintf(out, "&#%u;", (unsigned)cp);
			else
				fputc((int)cp, out);
			break;
		default:
			fwrite(s + i, 1, (size_t)k, out);
		}
		i += (size_t)k;
	}
}

void xml_escape(FILE *out, const char *s)
{
	xml_put(out, s, 0);
}

void xml_attr(FILE *out, const char *s)
{
	xml_put(out, s, 1);
}

void text_escape(FILE *out, const char *s)
{
	char buf[1024];
	while (s && *s) {
		size_t took = escape_text(buf, sizeof buf, s);
		fputs(buf, out);
		if (!took)
			break;
		s += took;
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
