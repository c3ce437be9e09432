/* Perf maps read offline: `connleak report` names the JIT frames of a report from the copy
 * of the process's perf map the library left beside it ("x.4242.perf.map", the report's
 * "perf_map" field), or from /tmp/perf-<pid>.map while that still exists. Lines are
 * "START SIZE NAME" in hex; a later line wins for an address (runtimes reuse code space). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"

#define MAX_BYTES (64L << 20)

struct pm_entry {
	uint64_t start, size;
	char *name;
};

struct pmap {
	char *path;
	struct pm_entry *e;
	size_t n;
	char *text;
};

static struct pmap *maps;
static size_t nmaps, capmaps;

static void parse(struct pmap *m)
{
	size_t cap = 0;
	char *s = m->text;
	while (*s) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		char *p = s, *end;
		uint64_t start = strtoull(p, &end, 16);
		if (end != p && *end == ' ') {
			p = end + 1;
			uint64_t size = strtoull(p, &end, 16);
			if (end != p && *end == ' ' && size) {
				if (m->n == cap) {
					size_t nc = cap ? 2 * cap : 1024;
					struct pm_entry *v = realloc(m->e, nc * sizeof *v);
					if (!v)
						return;
					m->e = v;
					cap = nc;
				}
				m->e[m->n++] = (struct pm_entry){start, size, end + 1};
			}
		}
		if (!nl)
			break;
		s = nl + 1;
	}
}

static struct pmap *pmap_get(const char *path)
{
	for (size_t i = 0; i < nmaps; i++)
		if (!strcmp(maps[i].path, path))
			return &maps[i];
	if (nmaps == capmaps) {
		size_t cap = capmaps ? 2 * capmaps : 8;
		struct pmap *v = realloc(maps, cap * sizeof *v);
		if (!v)
			return NULL;
		maps = v;
		capmaps = cap;
	}
	struct pmap *m = &maps[nmaps];
	memset(m, 0, sizeof *m);
	if (!(m->path = strdup(path)))
		return NULL;
	nmaps++;
	FILE *f = fopen(path, "re");
	if (!f)
		return m;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		fclose(f);
		return m;
	}
	long size = st.st_size, skip = 0;
	if (size > MAX_BYTES) {
		skip = size - MAX_BYTES;
		size = MAX_BYTES;
	}
	m->text = malloc((size_t)size + 1);
	if (m->text && fseek(f, skip, SEEK_SET) == 0) {
		size_t got = fread(m->text, 1, (size_t)size, f);
		m->text[got] = '\0';
		char *s = m->text;
		if (skip) {
			char *nl = strchr(s, '\n');
			s = nl ? nl + 1 : s + strlen(s);
			memmove(m->text, s, strlen(s) + 1);
		}
		parse(m);
	}
	fclose(f);
	return m;
}

const char *perfmap_lookup_file(const char *path, uint64_t pc, uint64_t *start)
{
	struct pmap *m = pmap_get(path);
	if (!m || !pc)
		return NULL;
	uint64_t a = pc - 1; /* a return address: the call is the byte before */
	for (size_t i = m->n; i-- > 0;)
		if (a >= m->e[i].start && a - m->e[i].start < m->e[i].size) {
			*start = m->e[i].start;
			return m->e[i].name;
		}
	return NULL;
}

void perfmap_cleanup(void)
{
	for (size_t i = 0; i < nmaps; i++) {
		free(maps[i].path);
		free(maps[i].e);
		free(maps[i].text);
	}
	free(maps);
	maps = NULL;
	nmaps = capmaps = 0;
}
