/* Names for JIT'd code. Managed runtimes publish the code they generate as a perf map,
 * /tmp/perf-<pid>.map, one "START SIZE NAME" line (hex) per piece of code: .NET
 * (DOTNET_PerfMapEnabled), node (--perf-basic-prof), CPython >= 3.12 (PYTHONPERFSUPPORT), the
 * JVM (-XX:+DumpPerfMapAtExit). A frame that falls in no module is looked up there. The map
 * is read only when a report with findings is written, mapped read-only and bounded (the
 * last MAX_BYTES of the file, at most MAX_ENTRIES lines); a later line wins over an earlier
 * one for the same address, since runtimes reuse code space after collecting it. */
#include "perfmap.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "real.h"

#define MAX_BYTES (64u << 20)
#define MAX_ENTRIES (1u << 20)
#define MAPS_BYTES (1u << 20)
#define MAX_MAPPINGS 2048

struct entry {
	uintptr_t start, size;
	const char *name;
	unsigned len;
};

/* Executable file mappings (from /proc/self/maps) that are not ELF modules: .NET's
 * ReadyToRun code, precompiled in the framework's .dll files and mapped by the runtime's own
 * loader, where dladdr knows nothing. */
struct mapping {
	uintptr_t start, end;
	char *path;
};

static struct {
	char *maps_text;
	struct mapping *m;
	size_t n;
} mp;

static void *anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static uintptr_t hexnum(const char **p)
{
	uintptr_t v = 0;
	for (;; (*p)++) {
		char c = **p;
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return v;
		v = v << 4 | (uintptr_t)d;
	}
}

/* "lo-hi perms offset dev inode   path": the executable file mappings. */
static void load_mappings(void)
{
	int fd = real.open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char *text = anon(MAPS_BYTES + 1);
	mp.m = anon(MAX_MAPPINGS * sizeof *mp.m);
	size_t len = 0;
	ssize_t r;
	while (text && len < MAPS_BYTES &&
	       (r = real.read(fd, text + len, MAPS_BYTES - len)) > 0)
		len += (size_t)r;
	real.close(fd);
	mp.maps_text = text;
	if (!text || !mp.m)
		return;
	text[len] = '\0';
	for (char *line = text; *line && mp.n < MAX_MAPPINGS;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		const char *p = line;
		uintptr_t lo = hexnum(&p), hi = (*p == '-') ? (p++, hexnum(&p)) : 0;
		int exec = *p == ' ' && strlen(p) > 4 && p[3] == 'x';
		char *path = strchr(line, '/');
		if (hi > lo && exec && path && strncmp(path, "/memfd:", 7) != 0 &&
		    !strstr(path, " (deleted)"))
			mp.m[mp.n++] = (struct mapping){lo, hi, path};
		if (!nl)
			break;
		line = nl + 1;
	}
}

int perfmap_mapping(uintptr_t pc, char *path, size_t n, uintptr_t *start)
{
	uintptr_t a = pc ? pc - 1 : pc;
	for (size_t i = 0; i < mp.n; i++)
		if (a >= mp.m[i].start && a < mp.m[i].end) {
			snprintf(path, n, "%s", mp.m[i].path);
			*start = mp.m[i].start;
			return 1;
		}
	return 0;
}

static struct {
	int loaded;
	char path[64];
	char *map;
	size_t maplen;
	struct entry *e;
	size_t n;
} pm;

static int hexval(const char **p, const char *end, uintptr_t *v)
{
	const char *s = *p;
	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	uintptr_t x = 0;
	int digits = 0;
	for (; s < end; s++, digits++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (digits >= 16)
			return -1;
		x = x << 4 | (uintptr_t)d;
	}
	if (!digits)
		return -1;
	*v = x;
	*p = s;
	return 0;
}

static void parse(const char *s, const char *end)
{
	/* Address space for the most lines kept; only what is filled is ever touched. No
	 * malloc: a report may be written from a helper after a fatal signal. */
	pm.e = anon(MAX_ENTRIES * sizeof *pm.e);
	if (!pm.e)
		return;
	while (s < end && pm.n < MAX_ENTRIES) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		struct entry en;
		const char *p = s;
		if (hexval(&p, le, &en.start) == 0 && p < le && *p == ' ' && (p++, 1) &&
		    hexval(&p, le, &en.size) == 0 && p < le && *p == ' ' && en.size) {
			p++;
			en.name = p;
			en.len = (unsigned)(le - p < 4096 ? le - p : 4096);
			pm.e[pm.n++] = en;
		}
		s = le + 1;
	}
}

void perfmap_begin(int pid)
{
	if (pm.loaded)
		return;
	pm.loaded = 1;
	load_mappings();
	snprintf(pm.path, sizeof pm.path, "/tmp/perf-%d.map", pid);
	int fd = real.open(pm.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	/* Only a regular file of our own user: another user's file planted under our pid
	 * would name our frames. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size <= 0) {
		real.close(fd);
		return;
	}
	size_t size = (size_t)st.st_size, skip = 0;
	off_t off = 0;
	if (size > MAX_BYTES) {
		/* Keep the newest lines: the file's tail, from a page boundary. */
		off = (off_t)((size - MAX_BYTES) & ~(size_t)4095);
		size -= (size_t)off;
		skip = 1;
	}
	void *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, off);
	real.close(fd);
	if (m == MAP_FAILED)
		return;
	pm.map = m;
	pm.maplen = size;
	const char *s = m, *end = s + size;
	if (skip) {
		const char *nl = memchr(s, '\n', size);
		s = nl ? nl + 1 : end;
	}
	parse(s, end);
}

int perfmap_lookup(uintptr_t pc, char *name, size_t n, uintptr_t *start)
{
	if (!pm.n || !pc)
		return 0;
	/* A return address points after the call: look up the call itself. */
	uintptr_t a = pc - 1;
	for (size_t i = pm.n; i-- > 0;) {
		const struct entry *e = &pm.e[i];
		if (a >= e->start && a - e->start < e->size) {
			size_t len = e->len < n - 1 ? e->len : n - 1;
			memcpy(name, e->name, len);
			name[len] = '\0';
			*start = e->start;
			return 1;
		}
	}
	return 0;
}

const char *perfmap_path(void)
{
	return pm.n ? pm.path : NULL;
}

void perfmap_end(void)
{
	if (mp.m)
		munmap(mp.m, MAX_MAPPINGS * sizeof *mp.m);
	if (mp.maps_text)
		munmap(mp.maps_text, MAPS_BYTES + 1);
	memset(&mp, 0, sizeof mp);
	if (pm.map)
		munmap(pm.map, pm.maplen);
	if (pm.e)
		munmap(pm.e, MAX_ENTRIES * sizeof *pm.e);
	memset(&pm, 0, sizeof pm);
}
