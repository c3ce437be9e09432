/* Reads report files into the model (report.h) with jansson: one file, or every *.json
 * under folders. Anything a report holds may be missing or of the wrong type (files come
 * from other machines, versions, crashes); every access checks, and a file that is not a
 * report gives one reason, never a crash. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

const char *const severity_order[CONNLEAK_KIND_COUNT] = {
	"fd-exhaustion", "stale-fd-use",  "closed-but-referenced", "socket-growth",
	"keepalive-race", "shared-close", "double-close",          "close-wait",
	"stale-dns",     "leaked-socket", "lease-expired", "open-at-exit",
};

int kind_rank(const char *kind)
{
	for (int i = 0; kind && i < CONNLEAK_KIND_COUNT; i++)
		if (!strcmp(kind, severity_order[i]))
			return i;
	return CONNLEAK_KIND_COUNT;
}

int kind_is_known(const char *kind)
{
	return kind_rank(kind) < CONNLEAK_KIND_COUNT;
}

const char *json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

long long json_int(json_t *obj, const char *key, long long dflt)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* Instances per group are capped so that sums over many reports cannot overflow. */
#define MAX_COUNT (1ULL << 40)

void report_read_frame(json_t *fo, struct frame *f)
{
	memset(f, 0, sizeof *f);
	if (!json_is_object(fo))
		return;
	f->pc = json_str(fo, "pc");
	f->module = json_str(fo, "module");
	const char *off = json_str(fo, "offset");
	if (off) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(off, &end, 16);
		if (end != off && !*end && !errno) {
			f->offset = v;
			f->has_offset = 1;
		}
	}
	f->rep_function = json_str(fo, "function");
	f->rep_file = json_str(fo, "file");
	f->rep_line = (long)json_int(fo, "line", 0);
	if (f->rep_line < 0)
		f->rep_line = 0;
	f->function = f->rep_function;
	f->file = f->rep_file;
	f->line = f->rep_line;
	f->jit = json_is_true(json_object_get(fo, "jit"));
	f->perf_map = json_str(fo, "perf_map");
}

static int read_stack(json_t *arr, const char *name, long long group_count, struct stack *s)
{
	s->name = name;
	s->group_count = group_count;
	s->nframes = json_array_size(arr);
	s->frames = s->nframes ? calloc(s->nframes, sizeof *s->frames) : NULL;
	if (s->nframes && !s->frames)
		return -1;
	for (size_t i = 0; i < s->nframes; i++)
		report_read_frame(json_array_get(arr, i), &s->frames[i]);
	return 0;
}

/* Stacks in a fixed order (the writers print them in it), then exhaustion groups. */
static const char *const stack_names[] = {"created", "closed", "previous_close", "used"};
#define NSTACK_NAMES (sizeof stack_names / sizeof stack_names[0])

static int read_finding(json_t *fo, struct process *p, struct finding *f, char *err,
			size_t errlen, size_t index)
{
	memset(f, 0, sizeof *f);
	f->proc = p;
	f->obj = fo;
	if (!json_is_object(fo)) {
		snprintf(err, errlen, "finding %zu is not an object", index);
		return -1;
	}
	f->kind = json_str(fo, "kind");
	if (!f->kind || !*f->kind) {
		snprintf(err, errlen, "finding %zu has no kind", index);
		return -1;
	}
	f->rank = kind_rank(f->kind);
	long long c = json_int(fo, "count", 1);
	f->count = c < 1 ? 1 : (unsigned long long)c > MAX_COUNT ? MAX_COUNT : (uint64_t)c;
	f->message = json_str(fo, "message");

	json_t *stacks = json_object_get(fo, "stacks");
	json_t *groups = json_object_get(fo, "groups");
	size_t cap = NSTACK_NAMES + json_array_size(groups);
	f->stacks = calloc(cap ? cap : 1, sizeof *f->stacks);
	if (!f->stacks) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < NSTACK_NAMES; i++) {
		json_t *arr = json_object_get(stacks, stack_names[i]);
		if (json_is_array(arr) && read_stack(arr, stack_names[i], 0, &f->stacks[f->nstacks++]))
			goto oom;
	}
	for (size_t i = 0; i < json_array_size(groups); i++) {
		json_t *g = json_array_get(groups, i);
		json_t *arr = json_object_get(g, "stack");
		if (json_is_array(arr) &&
		    read_stack(arr, "group", json_int(g, "count", 0), &f->stacks[f->nstacks++]))
			goto oom;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void free_findings(struct process *p)
{
	for (size_t i = 0; i < p->nfindings; i++) {
		for (size_t s = 0; s < p->findings[i].nstacks; s++)
			free(p->findings[i].stacks[s].frames);
		free(p->findings[i].stacks);
	}
	free(p->findings);
	p->findings = NULL;
	p->nfindings = 0;
}

static int parse_root(json_t *root, const char *path, struct process *p, char *err,
		      size_t errlen)
{
	memset(p, 0, sizeof *p);
	p->root = root;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a connleak report (not a JSON object)");
		return -1;
	}
	json_t *schema = json_object_get(root, "schema");
	if (!json_is_integer(schema)) {
		snprintf(err, errlen, "not a connleak report (no \"schema\" number)");
		return -1;
	}
	json_int_t sv = json_integer_value(schema);
	if (sv < 1 || sv > CONNLEAK_SCHEMA_VERSION) {
		snprintf(err, errlen, "report schema %lld is not supported (this connleak reads 1 to %d)",
			 (long long)sv, CONNLEAK_SCHEMA_VERSION);
		return -1;
	}
	json_t *findings = json_object_get(root, "findings");
	if (!json_is_array(findings)) {
		snprintf(err, errlen, "not a connleak report (no \"findings\" array)");
		return -1;
	}
	p->pid = json_int(root, "pid", -1);
	p->ppid = json_int(root, "ppid", -1);
	p->exe = json_str(root, "exe");
	if (!p->exe)
		p->exe = "";
	const char *slash = strrchr(p->exe, '/');
	p->name = slash ? slash + 1 : p->exe;
	if (!*p->name)
		p->name = "?";
	p->start_time = json_str(root, "start_time");
	size_t n = json_array_size(findings);
	p->findings = n ? calloc(n, sizeof *p->findings) : NULL;
	if (n && !p->findings) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		p->nfindings = i + 1;
		if (read_finding(json_array_get(findings, i), p, &p->findings[i], err, errlen, i))
			return -1;
		p->total += p->findings[i].count;
	}
	p->path = strdup(path ? path : "");
	if (!p->path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* jansson quotes the text near the error, which may hold newlines and other control
 * characters: shown as \xNN so that the reason stays one printable line. */
static void one_line(const char *in, char *out, size_t n)
{
	size_t o = 0;
	for (; *in && o + 5 < n; in++) {
		unsigned char c = (unsigned char)*in;
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

static void json_reason(const json_error_t *je, char *err, size_t errlen)
{
	char text[4 * JSON_ERROR_TEXT_LENGTH + 8];
	one_line(je->text, text, sizeof text);
	if (je->line > 0)
		snprintf(err, errlen, "not valid JSON: %s (line %d, column %d)", text, je->line,
			 je->column);
	else
		snprintf(err, errlen, "not valid JSON: %s", text);
}

/* A parsed document becomes a process, or an error with nothing left allocated. */
static int from_root(json_t *root, const char *path, struct process *p, char *err, size_t errlen)
{
	if (parse_root(root, path, p, err, errlen)) {
		process_free(p);
		return -1;
	}
	return 0;
}

int report_parse(const char *text, size_t len, const char *path, struct process *p, char *err,
		 size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		memset(p, 0, sizeof *p);
		json_reason(&je, err, errlen);
		return -1;
	}
	return from_root(root, path, p, err, errlen);
}

int report_load_file(const char *path, struct process *p, char *err, size_t errlen)
{
	json_error_t je;
	struct stat st;
	memset(p, 0, sizeof *p);
	/* O_NONBLOCK: a FIFO (or a device) named *.json must not hang the command; only a
	 * regular file is read. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "not a regular file");
		return -1;
	}
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return -1;
	}
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (!root) {
		if (je.position == 0 && je.line <= 1 && strstr(je.text, "end of file"))
			snprintf(err, errlen, "empty file");
		else
			json_reason(&je, err, errlen);
		return -1;
	}
	return from_root(root, path, p, err, errlen);
}

void process_free(struct process *p)
{
	free_findings(p);
	json_decref(p->root);
	free(p->path);
	memset(p, 0, sizeof *p);
}

/* ---- many files ---- */

struct pathlist {
	char **v;
	size_t n, cap;
};
static struct pathlist *walk_list; /* nftw has no context argument */

static int add_path(struct pathlist *l, const char *path)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(path)))
		return -1;
	l->n++;
	return 0;
}

static int walk_cb(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t len = strlen(path + ftw->base);
	/* Regular files only: FTW_F is also a FIFO, socket or device, which would hang or
	 * mean nothing. */
	if (type == FTW_F && S_ISREG(st->st_mode) && len > 5 &&
	    !strcmp(path + ftw->base + len - 5, ".json"))
		return add_path(walk_list, path) ? -1 : 0;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **sort_names; /* qsort has no context argument */

/* By name, then by position: the first of equal names is the one kept. */
static int cmp_index(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(sort_names[x], sort_names[y]);
	return c ? c : (x > y) - (x < y);
}

static int cmp_proc(const void *a, const void *b)
{
	const struct process *x = a, *y = b;
	const char *sx = x->start_time ? x->start_time : "", *sy = y->start_time ? y->start_time : "";
	int c = strcmp(sx, sy);
	if (c)
		return c;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return strcmp(x->path, y->path);
}

int report_set_read(struct report_set *set, char *const *paths, int npaths, FILE *errors)
{
	struct pathlist files = {0};
	int missing = 0;
	memset(set, 0, sizeof *set);
	for (int i = 0; i < npaths; i++) {
		struct stat st;
		if (stat(paths[i], &st) != 0) {
			fprintf(errors, "connleak report: %s: %s\n", paths[i], strerror(errno));
			missing++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			size_t before = files.n;
			walk_list = &files;
			/* Symlinks inside are not followed; a symlink named here is. */
			struct stat lst;
			char *top = NULL;
			if (lstat(paths[i], &lst) == 0 && S_ISLNK(lst.st_mode))
				top = realpath(paths[i], NULL);
			if (nftw(top ? top : paths[i], walk_cb, 32, FTW_PHYS) != 0)
				fprintf(errors, "connleak report: %s: cannot search the folder: %s\n",
					paths[i], strerror(errno));
			free(top);
			qsort(files.v + before, files.n - before, sizeof *files.v, cmp_str);
		} else if (add_path(&files, paths[i])) {
			fprintf(errors, "connleak report: out of memory\n");
			break;
		}
	}
	set->procs = files.n ? calloc(files.n, sizeof *set->procs) : NULL;
	/* The same file named twice (a file and its folder) is read once: the later names
	 * are marked in one sort, not by comparing every pair (40k files). */
	char *dup = files.n ? calloc(files.n, 1) : NULL;
	size_t *order = files.n ? malloc(files.n * sizeof *order) : NULL;
	if (order && dup) {
		for (size_t i = 0; i < files.n; i++)
			order[i] = i;
		sort_names = files.v;
		qsort(order, files.n, sizeof *order, cmp_index);
		for (size_t i = 1; i < files.n; i++)
			if (!strcmp(files.v[order[i]], files.v[order[i - 1]]))
				dup[order[i]] = 1;
	}
	free(order);
	for (size_t i = 0; i < files.n; i++) {
		char err[512];
		if (!(dup && dup[i]) && set->procs) {
			if (report_load_file(files.v[i], &set->procs[set->nprocs], err, sizeof err) == 0)
				set->nprocs++;
			else {
				/* A file name in a folder may come from the program. */
				fputs("connleak report: ", errors);
				text_escape(errors, files.v[i]);
				fprintf(errors, ": %s\n", err);
				set->nerrors++;
			}
		}
	}
	free(dup);
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i]);
	free(files.v);
	if (set->nprocs > 1)
		qsort(set->procs, set->nprocs, sizeof *set->procs, cmp_proc);
	/* qsort moved the processes: re-point their findings. */
	for (size_t i = 0; i < set->nprocs; i++)
		for (size_t k = 0; k < set->procs[i].nfindings; k++)
			set->procs[i].findings[k].proc = &set->procs[i];
	return missing;
}

void report_set_free(struct report_set *set)
{
	for (size_t i = 0; i < set->nprocs; i++)
		process_free(&set->procs[i]);
	free(set->procs);
	memset(set, 0, sizeof *set);
}
