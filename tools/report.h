/* The model `connleak report` works on, shared by its parts: processes read from report
 * files (report_read.c), their findings and frames (symbolized by symbolize.c), the groups
 * those findings form across processes (report_group.c), the suppressions that hide groups
 * (suppress.c), and the writers (fmt_*.c). The JSON of each report stays loaded (jansson)
 * and the model points into it. */
#ifndef CONNLEAK_TOOLS_REPORT_H
#define CONNLEAK_TOOLS_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "connleak/connleak.h"

struct frame {
	const char *pc;     /* as in the report ("0x7f..."), or NULL */
	const char *module; /* absolute path of the module, or NULL */
	uint64_t offset;    /* from the module's load base */
	int has_offset;
	/* What the report said (the process symbolized itself), or NULL/0. */
	const char *rep_function, *rep_file;
	long rep_line;
	/* What to print: filled by symbolize_frames(); point at the report's names or at
	 * strings the symbolizer owns. */
	const char *function, *file;
	long line;
	uint64_t fn_offset; /* from the start of `function`, when has_fn_offset */
	int has_fn_offset;
	/* JIT'd code (in no module): named from a perf map; `perf_map` is the map's path as
	 * the process saw it ("/tmp/perf-4242.map"). Grouped by name, not address. */
	int jit;
	const char *perf_map;
};

struct stack {
	const char *name;     /* "created", "closed", "previous_close", "used", "group" */
	long long group_count; /* fd-exhaustion groups: sockets created at this stack */
	struct frame *frames;
	size_t nframes;
};

struct process;

struct finding {
	struct process *proc;
	json_t *obj; /* the finding object, borrowed from proc->root */
	const char *kind;
	int rank; /* severity: 0 is the most severe, see kind_rank() */
	uint64_t count;
	const char *message;
	struct stack *stacks;
	size_t nstacks;
};

struct process {
	char *path;   /* the report file */
	json_t *root; /* the whole report */
	long long pid, ppid;
	const char *exe;  /* "" when absent */
	const char *name; /* basename of exe */
	const char *start_time;
	struct finding *findings;
	size_t nfindings;
	uint64_t total;            /* sum of the findings' counts */
	uint64_t unsuppressed;     /* set by result_build() */
};

struct report_set {
	struct process *procs;
	size_t nprocs;
	size_t nerrors; /* files that could not be read */
};

/* ---- report_read.c ---- */
/* Parses one report held in memory. Returns 0, or -1 with a one-line reason in err. */
int report_parse(const char *text, size_t len, const char *path, struct process *p, char *err,
		 size_t errlen);
/* Loads one report file. Returns 0, or -1 with a one-line reason in err. */
int report_load_file(const char *path, struct process *p, char *err, size_t errlen);
void process_free(struct process *p);
/* One frame object of a report (names as the process found them; symbolize_frame after). */
void report_read_frame(json_t *fo, struct frame *f);
/* Reads every path (files; folders searched recursively for *.json). Every unreadable file
 * is named in one line on `errors`. Processes are ordered by start time, then pid.
 * Returns the number of paths that did not exist. */
int report_set_read(struct report_set *set, char *const *paths, int npaths, FILE *errors);
void report_set_free(struct report_set *set);

/* Kind names and severity: rank 0 = fd-exhaustion ... 9 = lease-expired, unknown kinds 10. */
int kind_rank(const char *kind);
int kind_is_known(const char *kind);
extern const char *const severity_order[CONNLEAK_KIND_COUNT];

/* ---- symbolize.c ---- */
/* Symbolizes every frame of every finding from module+offset (elfutils libdwfl, offline),
 * falling back to the names the report carries. */
void symbolize_set(struct report_set *set);
/* The name of the JIT'd code holding return address `pc` in the perf map file `path`
 * (tools/perfmap.c, files cached until perfmap_cleanup), or NULL. */
const char *perfmap_lookup_file(const char *path, uint64_t pc, uint64_t *start);
void perfmap_cleanup(void);
/* One frame; exposed for tests. */
void symbolize_frame(struct frame *f);
void symbolize_cleanup(void);

/* ---- suppress.c ---- */
struct suppression {
	char *kind;    /* a kind name or "*" */
	char *pattern; /* `*` wildcard */
	int line;
	uint64_t hits;  /* finding instances suppressed */
	size_t groups;  /* groups suppressed */
};
struct suppressions {
	struct suppression *items;
	size_t n;
};
/* Parses suppressions text; -1 with "LINE: reason" in err on a bad line. */
int suppressions_parse(struct suppressions *s, const char *text, char *err, size_t errlen);
/* Reads a suppressions file; -1 with a reason naming the file in err. */
int suppressions_load(struct suppressions *s, const char *path, char *err, size_t errlen);
void suppressions_free(struct suppressions *s);
/* `*` matches any run of characters; everything else matches itself; whole string. */
int wildcard_match(const char *pattern, const char *s);
/* Index of the first suppression matching the finding (kind and any frame), or -1. */
int suppression_match(const struct suppressions *s, const struct finding *f);

/* ---- report_group.c ---- */
struct group {
	const char *kind;
	int rank;
	uint64_t count;
	struct finding **members; /* one per (process, finding); members[0] is the example */
	size_t nmembers;
	size_t nprocs; /* distinct processes */
	int suppressed_by; /* index into the suppressions, or -1 */
	char *key;
};

/* A group as one process sees it (result_build makes the list of each process, in the
 * groups' order, so per-process views need not search every group). */
struct proc_group {
	const struct group *group;
	uint64_t count;                /* the group's instances in this process */
	const struct finding *example; /* the process's first instance */
};

struct result {
	struct report_set *set;
	struct proc_group **by_proc; /* [process index]: its groups */
	size_t *nby_proc;
	struct group *groups; /* ordered by severity, then count; suppressed ones included */
	size_t ngroups;
	struct suppressions *supp; /* may be NULL */
	uint64_t total;            /* unsuppressed instances */
	size_t shown_groups;       /* unsuppressed groups */
	uint64_t suppressed;       /* suppressed instances */
	uint64_t per_rank[CONNLEAK_KIND_COUNT + 1]; /* unsuppressed instances per severity rank */
	size_t procs_with_findings;
};

/* Groups the set's findings by kind and stacks, applies the suppressions, orders. */
void result_build(struct result *r, struct report_set *set, struct suppressions *supp);
void result_free(struct result *r);
/* The key findings are grouped by: kind, then each stack's name and module+offset frames. */
char *finding_key(const struct finding *f);
/* Instances of a process within a group (members are in process order: a binary search). */
uint64_t group_count_in(const struct group *g, const struct process *p);
/* The groups process p has instances in, in the result's order; *n of them. */
const struct proc_group *process_groups(const struct result *r, const struct process *p,
					size_t *n);

/* ---- formats ---- */
int fmt_text(FILE *out, const struct result *r);
int fmt_json(FILE *out, const struct result *r);
int fmt_junit(FILE *out, const struct result *r);
int fmt_html(FILE *out, const struct result *r);

/* fmt_json.c: the merged result as a JSON value (new reference). */
json_t *result_json(const struct result *r);
/* fmt_common.c: text for XML element content (xml_escape) or an attribute value (xml_attr),
 * well-formed for any input: &<>"' as entities, broken UTF-8 and characters XML cannot
 * hold as "\xNN" text. */
void xml_escape(FILE *out, const char *s);
void xml_attr(FILE *out, const char *s);
/* fmt_common.c: text for a terminal, control characters and broken UTF-8 as "\xNN". */
void text_escape(FILE *out, const char *s);

/* fmt_html_chart.c: a process's timeline chart (SVG) with its lease and finding events marked;
 * returns the samples drawn. */
int html_chart(FILE *out, const struct process *p);
/* One entry of a report's "growth" array as a chart; returns the samples drawn. */
int html_growth_chart(FILE *out, json_t *growth);
/* "850 ms", "12.5 s", "14.2 min" */
void format_duration(double ms, char *buf, size_t n);

/* fmt_text.c: a finding's stacks, one frame a line, for text and junit. */
void text_stacks(FILE *out, const struct finding *f, const char *indent);

/* ---- fmt_common.c: helpers the writers share ---- */
/* "created at", "closed at", ... */
const char *stack_title(const struct stack *s, char *buf, size_t n);
/* "#3 0x55... in func file.c:12 (/abs/module+0x1234)" without newline. */
void frame_line(const struct frame *f, size_t index, char *buf, size_t n);
/* "fd 3 (generation 1), inet stream, 127.0.0.1:1 -> 127.0.0.1:2, ESTABLISHED" or "". */
void finding_socket_line(const struct finding *f, char *buf, size_t n);
/* "leak[1234]" */
void process_label(const struct process *p, char *buf, size_t n);
/* "N finding(s) in G group(s) from P of Q process(es): counts by kind; suppressed;
 * unreadable files" (plain ASCII, safe in HTML too). */
void summary_counts(FILE *out, const struct result *r);
const char *json_str(json_t *obj, const char *key); /* NULL unless a string */
long long json_int(json_t *obj, const char *key, long long dflt);

#endif
