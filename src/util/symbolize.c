/* Symbolization at report time. elfutils' libdwfl reads the symbol tables and DWARF line
 * info of the live process's modules; it is dlopen'ed only when a report with findings is
 * written, so programs never carry it otherwise. Without it, dladdr gives exported names. */
#include "symbolize.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "demangle.h"
#include "perfmap.h"

static struct {
	void *lib;
	Dwfl *dwfl;
	Dwfl_Callbacks cb;
	char *debuginfo_path;
	__typeof__(dwfl_end) *end;
	__typeof__(dwfl_addrmodule) *addrmodule;
	__typeof__(dwfl_module_addrname) *addrname;
	__typeof__(dwfl_module_getsrc) *getsrc;
	__typeof__(dwfl_lineinfo) *lineinfo;
} dw;

void symbolize_begin(void)
{
	perfmap_begin();
	if (dw.dwfl)
		return;
	dw.lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!dw.lib)
		return;
#define SYM(name) dlsym(dw.lib, name)
	__typeof__(dwfl_begin) *begin = SYM("dwfl_begin");
	__typeof__(dwfl_linux_proc_report) *proc_report = SYM("dwfl_linux_proc_report");
	__typeof__(dwfl_report_end) *report_end = SYM("dwfl_report_end");
	dw.end = SYM("dwfl_end");
	dw.addrmodule = SYM("dwfl_addrmodule");
	dw.addrname = SYM("dwfl_module_addrname");
	dw.getsrc = SYM("dwfl_module_getsrc");
	dw.lineinfo = SYM("dwfl_lineinfo");
	dw.cb.find_elf = SYM("dwfl_linux_proc_find_elf");
	/* Not dwfl_standard_find_debuginfo: it falls back to debuginfod, which would start
	 * curl (and its TLS libraries, already cleaned up) inside the exiting program and
	 * reach for the network. Build-id lookup in /usr/lib/debug is local. */
	dw.cb.find_debuginfo = SYM("dwfl_build_id_find_debuginfo");
#undef SYM
	dw.cb.debuginfo_path = &dw.debuginfo_path;
	if (!begin || !proc_report || !report_end || !dw.end || !dw.addrmodule || !dw.addrname ||
	    !dw.getsrc || !dw.lineinfo || !dw.cb.find_elf || !dw.cb.find_debuginfo)
		return;
	Dwfl *d = begin(&dw.cb);
	if (!d)
		return;
	if (proc_report(d, getpid()) != 0 || report_end(d, NULL, NULL) != 0) {
		dw.end(d);
		return;
	}
	dw.dwfl = d;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

void symbolize(uintptr_t pc, struct frame_info *fi)
{
	memset(fi, 0, sizeof *fi);
	fi->pc = pc;
	Dl_info info;
	if (dladdr((void *)pc, &info)) {
		fi->offset = pc - (uintptr_t)info.dli_fbase;
		/* The main program's name is as it was invoked (often relative): use the
		 * absolute path the kernel knows. */
		if (info.dli_fname && info.dli_fname[0] == '/')
			copy(fi->module, sizeof fi->module, info.dli_fname);
		else {
			ssize_t n = readlink("/proc/self/exe", fi->module, sizeof fi->module - 1);
			fi->module[n > 0 ? n : 0] = '\0';
		}
		if (info.dli_sname)
			copy(fi->function, sizeof fi->function, info.dli_sname);
	} else {
		/* In no module: JIT'd code, named by the runtime's perf map if it has one. */
		uintptr_t start;
		if (perfmap_lookup(pc, fi->function, sizeof fi->function, &start)) {
			fi->jit = 1;
			fi->offset = pc - start;
			copy(fi->perf_map, sizeof fi->perf_map, perfmap_path());
		} else if (perfmap_mapping(pc, fi->module, sizeof fi->module, &start)) {
			/* Precompiled code in a file the runtime mapped itself: the file and the
			 * offset in its code mapping, stable from run to run. */
			fi->offset = pc - start;
		}
		return;
	}
	if (!dw.dwfl) {
		demangle_in_place(fi->function, sizeof fi->function);
		return;
	}
	/* A return address points after the call; look up the call itself. */
	Dwarf_Addr addr = pc ? pc - 1 : pc;
	Dwfl_Module *m = dw.addrmodule(dw.dwfl, addr);
	if (!m)
		return;
	const char *name = dw.addrname(m, addr);
	if (name)
		copy(fi->function, sizeof fi->function, name);
	Dwfl_Line *line = dw.getsrc(m, addr);
	if (line) {
		int lineno = 0;
		const char *file = dw.lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
		if (file) {
			copy(fi->file, sizeof fi->file, file);
			fi->line = lineno;
		}
	}
	demangle_in_place(fi->function, sizeof fi->function);
}

void symbolize_end(void)
{
	if (dw.dwfl)
		dw.end(dw.dwfl);
	dw.dwfl = NULL;
	perfmap_end();
	/* The library stays loaded: unloading during exit gains nothing and risks a
	 * destructor running after ours. */
}
