/* Symbolizes report frames offline: module path + offset from the module's load base ->
 * function, file:line, with elfutils' libdwfl reading the module file (and its separate
 * debug info, found by build-id or debuglink) on this machine. One Dwfl per module,
 * cached. When the module is missing, unreadable, has no symbol for the address, or was
 * modified after the report was written, the names the process found itself (the report's
 * function/file/line) are used; without either, the writers print module+offset. */
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "report.h"

struct module {
	char *path;
	Dwfl *dwfl; /* NULL when the module could not be read */
	Dwfl_Module *mod;
	GElf_Addr base; /* address the report's offsets are relative to, in dwfl's space */
	struct timespec mtime;
};

static struct module *mods;
static size_t nmods, capmods;

/* Strings handed to frames; freed by symbolize_cleanup(). */
static char **strs;
static size_t nstrs, capstrs;

static const char *keep(const char *s)
{
	if (!s)
		return NULL;
	if (nstrs == capstrs) {
		size_t cap = capstrs ? 2 * capstrs : 256;
		char **v = realloc(strs, cap * sizeof *v);
		if (!v)
			return NULL;
		strs = v;
		capstrs = cap;
	}
	char *d = strdup(s);
	if (d)
		strs[nstrs++] = d;
	return d;
}

static char *debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

/* The load base is where the first PT_LOAD segment's page starts (what dladdr calls
 * dli_fbase): for PIE and shared objects whose first PT_LOAD has p_vaddr 0 the offset is
 * the file's virtual address; for fixed-address executables it is added to that page. */
static int find_base(struct module *m)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(m->mod, &bias);
	if (!elf)
		return -1;
	size_t phnum;
	if (elf_getphdrnum(elf, &phnum) != 0)
		return -1;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD) {
			m->base = bias + (ph.p_vaddr & ~(GElf_Addr)0xfff);
			return 0;
		}
	}
	return -1;
}

static struct module *module_get(const char *path)
{
	for (size_t i = 0; i < nmods; i++)
		if (!strcmp(mods[i].path, path))
			return &mods[i];
	if (nmods == capmods) {
		size_t cap = capmods ? 2 * capmods : 16;
		struct module *v = realloc(mods, cap * sizeof *v);
		if (!v)
			return NULL;
		mods = v;
		capmods = cap;
	}
	struct module *m = &mods[nmods];
	memset(m, 0, sizeof *m);
	if (!(m->path = strdup(path)))
		return NULL;
	nmods++;
	struct stat st;
	if (path[0] != '/' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return m;
	m->mtime = st.st_mtim;
	Dwfl *d = dwfl_begin(&offline_callbacks);
	if (!d)
		return m;
	dwfl_report_begin(d);
	m->mod = dwfl_report_offline(d, path, path, -1);
	if (!m->mod || dwfl_report_end(d, NULL, NULL) != 0 || find_base(m) != 0) {
		dwfl_end(d);
		m->mod = NULL;
		return m;
	}
	m->dwfl = d;
	return m;
}

/* file:line when the module has no .debug_aranges (clang emits none by default), where
 * libdwfl finds no compile unit for the address: the unit whose ranges hold it. */
static void src_without_aranges(Dwfl_Module *mod, GElf_Addr addr, const char **file,
				long *line)
{
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	Dwarf_Off off = 0, next;
	size_t hsize;
	if (!dw)
		return;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_haspc(&cu, addr - bias) == 1) {
			Dwarf_Line *l = dwarf_getsrc_die(&cu, addr - bias);
			int lineno = 0;
			const char *src = l ? dwarf_linesrc(l, NULL, NULL) : NULL;
			if (src && dwarf_lineno(l, &lineno) == 0 && lineno > 0) {
				*file = src;
				*line = lineno;
			}
			return;
		}
		off = next;
	}
}

/* Looks the frame up in its module; 0 when dwfl named the function. */
static int lookup(struct frame *f, const char **fn, uint64_t *fn_off, const char **file,
		  long *line)
{
	*fn = *file = NULL;
	*line = 0;
	if (!f->module || !f->has_offset)
		return -1;
	struct module *m = module_get(f->module);
	if (!m || !m->dwfl)
		return -1;
	/* Frames are return addresses: the call is the byte before. */
	GElf_Addr addr = m->base + f->offset;
	GElf_Addr call = f->offset ? addr - 1 : addr;
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name = dwfl_module_addrinfo(m->mod, call, &off, &sym, NULL, NULL, NULL);
	if (!name)
		return -1;
	*fn = name;
	*fn_off = off + (addr - call);
	Dwfl_Line *l = dwfl_module_getsrc(m->mod, call);
	if (l) {
		int lineno = 0;
		const char *src = dwfl_lineinfo(l, NULL, &lineno, NULL, NULL, NULL);
		if (src && lineno > 0) {
			*file = src;
			*line = lineno;
		}
	} else {
		src_without_aranges(m->mod, call, file, line);
	}
	return 0;
}

/* Answers by (module, offset): the same frames recur in every report of a program, and a
 * libdwfl lookup costs far more than this (40k reports of one program: one lookup per
 * distinct frame instead of one per frame), and the names are kept once. */
struct answer {
	const struct module *m; /* NULL: empty slot */
	uint64_t offset;
	int ok;
	const char *fn, *file;
	uint64_t fn_off;
	long line;
};
static struct answer *answers;
static size_t nanswers, capanswers; /* capanswers: a power of two */

static size_t answer_slot(const struct answer *v, size_t cap, const struct module *m,
			  uint64_t offset)
{
	uint64_t h = ((uint64_t)(uintptr_t)m * 0x9e3779b97f4a7c15ull) ^ (offset * 0xff51afd7ed558ccdull);
	size_t i = (size_t)(h ^ (h >> 29)) & (cap - 1);
	while (v[i].m && !(v[i].m == m && v[i].offset == offset))
		i = (i + 1) & (cap - 1);
	return i;
}

static struct answer *answer_get(const struct module *m, uint64_t offset)
{
	if (!answers)
		return NULL;
	struct answer *a = &answers[answer_slot(answers, capanswers, m, offset)];
	return a->m ? a : NULL;
}

static void answer_put(const struct answer *a)
{
	if (2 * (nanswers + 1) > capanswers) {
		size_t cap = capanswers ? 2 * capanswers : 1024;
		struct answer *v = calloc(cap, sizeof *v);
		if (!v)
			return;
		for (size_t i = 0; i < capanswers; i++)
			if (answers[i].m)
				v[answer_slot(v, cap, answers[i].m, answers[i].offset)] = answers[i];
		free(answers);
		answers = v;
		capanswers = cap;
	}
	answers[answer_slot(answers, capanswers, a->m, a->offset)] = *a;
	nanswers++;
}

/* lookup(), remembered. */
static int lookup_cached(struct frame *f, const char **fn, uint64_t *fn_off, const char **file,
			 long *line)
{
	struct module *m = f->module && f->has_offset ? module_get(f->module) : NULL;
	if (!m || !m->dwfl)
		return lookup(f, fn, fn_off, file, line);
	struct answer *a = answer_get(m, f->offset);
	if (!a) {
		struct answer fresh = {.m = m, .offset = f->offset};
		fresh.ok = lookup(f, &fresh.fn, &fresh.fn_off, &fresh.file, &fresh.line) == 0;
		fresh.fn = keep(fresh.fn);
		fresh.file = keep(fresh.file);
		answer_put(&fresh);
		a = answer_get(m, f->offset);
		if (!a)
			a = &fresh; /* out of memory for the table: this once */
		if (a == &fresh) {
			*fn = fresh.fn, *fn_off = fresh.fn_off, *file = fresh.file, *line = fresh.line;
			return fresh.ok ? 0 : -1;
		}
	}
	*fn = a->fn;
	*fn_off = a->fn_off;
	*file = a->file;
	*line = a->line;
	return a->ok ? 0 : -1;
}

static void frame_apply(struct frame *f, int trust_module)
{
	const char *fn, *file;
	uint64_t fn_off = 0;
	long line;
	f->function = f->rep_function;
	f->file = f->rep_file;
	f->line = f->rep_line;
	f->has_fn_offset = 0;
	if (!trust_module && f->rep_function)
		return;
	if (lookup_cached(f, &fn, &fn_off, &file, &line) != 0)
		return;
	f->function = fn;
	f->fn_offset = fn_off;
	f->has_fn_offset = 1;
	if (file) {
		f->file = file;
		f->line = line;
	} else if (!(f->rep_function && f->rep_file && !strcmp(f->rep_function, fn))) {
		/* The report's file:line belong to the report's function only. */
		f->file = NULL;
		f->line = 0;
	}
}

/* libstdc++'s demangler (C ABI), as the sanitizers print C++ names. */
extern char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

static void demangle(struct frame *f)
{
	if (!f->function || strncmp(f->function, "_Z", 2) != 0)
		return;
	int status = -1;
	char *d = __cxa_demangle(f->function, NULL, NULL, &status);
	if (status == 0 && d)
		f->function = keep(d);
	free(d);
}

/* A frame in no module: JIT'd code, named from the process's perf map when one is at
 * hand (the copy beside the report first: /tmp may have been cleaned, or the pid reused). */
static void jit_apply(struct frame *f, const char *map_copy, const char *tmp_map,
		      const char *tmp_path)
{
	if (f->module || !f->pc)
		return;
	char *end;
	uint64_t pc = strtoull(f->pc, &end, 16);
	if (end == f->pc || *end)
		return;
	const char *maps[2] = {map_copy, tmp_map};
	for (int i = 0; i < 2; i++) {
		uint64_t start;
		const char *name = maps[i] ? perfmap_lookup_file(maps[i], pc, &start) : NULL;
		if (name) {
			f->function = keep(name);
			f->jit = 1;
			f->file = NULL;
			f->line = 0;
			f->has_fn_offset = 0;
			if (!f->perf_map)
				f->perf_map = keep(tmp_path);
			return;
		}
	}
}

void symbolize_frame(struct frame *f)
{
	frame_apply(f, 1);
	demangle(f);
}

/* The perf map copy the report names (a bare file name beside the report), and the map the
 * process wrote in /tmp, into buffers of PATH_MAX-ish size; empty when there is none. */
static void map_paths(const struct process *proc, char *copy, size_t ncopy, char *tmp,
		      size_t ntmp)
{
	copy[0] = tmp[0] = '\0';
	const char *name = json_str(proc->root, "perf_map");
	if (name && *name && !strchr(name, '/')) {
		const char *slash = strrchr(proc->path, '/');
		if (slash)
			snprintf(copy, ncopy, "%.*s/%s", (int)(slash - proc->path), proc->path, name);
		else
			snprintf(copy, ncopy, "%s", name);
	}
	snprintf(tmp, ntmp, "/tmp/perf-%lld.map", proc->pid);
}

/* "2026-11-21T23:16:35.872Z" -> seconds, or -1. */
static time_t parse_time(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (!s)
		return -1;
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	return timegm(&tm);
}

/* The growth series' stacks ("growth" of the report, read by the HTML page and `connleak
 * top`) are plain JSON: their frames get the names found offline written into the loaded
 * report (function, file, line), so every reader sees them. */
static void symbolize_growth(json_t *root)
{
	json_t *gs = json_object_get(root, "growth");
	for (size_t i = 0; i < json_array_size(gs); i++) {
		json_t *stack = json_object_get(json_array_get(gs, i), "stack");
		for (size_t k = 0; k < json_array_size(stack); k++) {
			json_t *fo = json_array_get(stack, k);
			struct frame f;
			report_read_frame(fo, &f);
			frame_apply(&f, 1);
			demangle(&f);
			if (!json_is_object(fo) || !f.function || f.function == f.rep_function)
				continue;
			json_object_set_new(fo, "function", json_string(f.function));
			if (f.file)
				json_object_set_new(fo, "file", json_string(f.file));
			else
				json_object_set_new(fo, "file", json_null());
			json_object_set_new(fo, "line", f.line > 0 ? json_integer(f.line) : json_null());
		}
	}
}

void symbolize_set(struct report_set *set)
{
	for (size_t p = 0; p < set->nprocs; p++) {
		struct process *proc = &set->procs[p];
		time_t written = parse_time(json_str(proc->root, "end_time"));
		char copy[4096], tmp[64];
		map_paths(proc, copy, sizeof copy, tmp, sizeof tmp);
		/* /tmp/perf-<pid>.map only if it is not newer than the report: else the pid was
		 * reused by another process since. */
		struct stat tst;
		const char *tmp_map = tmp;
		if (stat(tmp, &tst) != 0 || (written != -1 && tst.st_mtime > written + 1))
			tmp_map = NULL;
		for (size_t i = 0; i < proc->nfindings; i++) {
			struct finding *fd = &proc->findings[i];
			for (size_t s = 0; s < fd->nstacks; s++)
				for (size_t k = 0; k < fd->stacks[s].nframes; k++) {
					struct frame *f = &fd->stacks[s].frames[k];
					/* A module rebuilt after the report no longer matches
					 * its offsets: keep the process's own names then. */
					int trust = 1;
					if (written != -1 && f->module) {
						struct module *m = module_get(f->module);
						if (m && m->dwfl && m->mtime.tv_sec > written + 1)
							trust = 0;
					}
					frame_apply(f, trust);
					jit_apply(f, copy[0] ? copy : NULL, tmp_map, tmp);
					demangle(f);
				}
		}
		symbolize_growth(proc->root);
	}
}

void symbolize_cleanup(void)
{
	free(answers);
	answers = NULL;
	nanswers = capanswers = 0;
	for (size_t i = 0; i < nmods; i++) {
		if (mods[i].dwfl)
			dwfl_end(mods[i].dwfl);
		free(mods[i].path);
	}
	free(mods);
	mods = NULL;
	nmods = capmods = 0;
	for (size_t i = 0; i < nstrs; i++)
		free(strs[i]);
	free(strs);
	strs = NULL;
	nstrs = capstrs = 0;
	perfmap_cleanup();
}
