/* Suppressions, sanitizer style: one `kind:pattern` per line, `#` starts a comment, blank
 * lines are ignored. `kind` is a finding kind or `*`; `pattern` uses `*` as the only
 * wildcard and must match a whole function name, source file (full path or basename) or
 * module (full path or basename) of any frame of any stack of the finding. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

int wildcard_match(const char *p, const char *s)
{
	/* Iterative glob with one backtrack point: linear enough for any input. */
	const char *star = NULL, *resume = NULL;
	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int suppressions_parse(struct suppressions *s, const char *text, char *err, size_t errlen)
{
	char *copy = strdup(text);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int lineno = 0, rc = 0;
	char *save = NULL;
	for (char *line = copy; line && !rc; line = save) {
		char *nl = strchr(line, '\n');
		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *t = trim(line);
		if (!*t)
			continue;
		char *colon = strchr(t, ':');
		if (!colon) {
			snprintf(err, errlen, "line %d: '%s' is not kind:pattern", lineno, t);
			rc = -1;
			break;
		}
		*colon = '\0';
		char *kind = trim(t), *pat = trim(colon + 1);
		if (strcmp(kind, "*") && !kind_is_known(kind)) {
			snprintf(err, errlen, "line %d: unknown finding kind '%s'", lineno, kind);
			rc = -1;
			break;
		}
		if (!*pat) {
			snprintf(err, errlen, "line %d: empty pattern for '%s'", lineno, kind);
			rc = -1;
			break;
		}
		struct suppression *v = realloc(s->items, (s->n + 1) * sizeof *v);
		if (!v) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		}
		s->items = v;
		struct suppression *it = &v[s->n];
		memset(it, 0, sizeof *it);
		it->kind = strdup(kind);
		it->pattern = strdup(pat);
		it->line = lineno;
		if (!it->kind || !it->pattern) {
			free(it->kind);
			free(it->pattern);
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		}
		s->n++;
	}
	free(copy);
	return rc;
}

int suppressions_load(struct suppressions *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	char buf[4096];
	size_t n;
	while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, mem);
	int bad = ferror(f);
	fclose(f);
	if (mem)
		fclose(mem);
	if (!mem || bad || !text) {
		snprintf(err, errlen, "%s: cannot read", path);
		free(text);
		return -1;
	}
	char inner[400];
	int rc = suppressions_parse(s, text, inner, sizeof inner);
	if (rc)
		snprintf(err, errlen, "%s: %s", path, inner);
	free(text);
	return rc;
}

void suppressions_free(struct suppressions *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].kind);
		free(s->items[i].pattern);
	}
	free(s->items);
	s->items = NULL;
	s->n = 0;
}

static int match_path(const char *pat, const char *path)
{
	if (!path || !*path)
		return 0;
	if (wildcard_match(pat, path))
		return 1;
	const char *base = strrchr(path, '/');
	return base && wildcard_match(pat, base + 1);
}

static int match_frame(const char *pat, const struct frame *f)
{
	return (f->function && wildcard_match(pat, f->function)) ||
	       (f->rep_function && wildcard_match(pat, f->rep_function)) ||
	       match_path(pat, f->file) || match_path(pat, f->rep_file) ||
	       match_path(pat, f->module);
}

int suppression_match(const struct suppressions *s, const struct finding *f)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		const struct suppression *it = &s->items[i];
		if (strcmp(it->kind, "*") && strcmp(it->kind, f->kind))
			continue;
		for (size_t k = 0; k < f->nstacks; k++)
			for (size_t j = 0; j < f->stacks[k].nframes; j++)
				if (match_frame(it->pattern, &f->stacks[k].frames[j]))
					return (int)i;
	}
	return -1;
}
