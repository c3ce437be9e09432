/* Symbolization at report time: the loader's table for the module and its load base, then
 * the module's own symbol tables for the function (static functions included), demangled;
 * code in no module (JIT) is named from the runtime's perf map. It used to load libdw
 * and read DWARF line tables here, which for a process with libc's debug info installed
 * cost tens of milliseconds at every exit (decompressing .debug_* sections); file:line is
 * now left to `connleak report`, which symbolizes offline. */
#include "symbolize.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../report/publish.h"
#include "../report/report.h"
#include "demangle.h"
#include "elfsym.h"
#include "perfmap.h"

static int tables;

/* One report symbolizes the same frames twice (JSON, then text) and stacks share their
 * outer frames: a small direct-mapped cache of this report's answers. An entry belongs to
 * the report whose number it carries, so a new report forgets the old answers without
 * writing the whole cache (68 KB: 17 pages a process would fault in at its first report
 * for a stack or two). */
#define CACHE 64
static struct frame_info cache[CACHE];
static unsigned cache_report[CACHE], cur_report;
static int cache_on;

void symbolize_begin(void)
{
	tables = 1;
	cur_report++;
	cache_on = 1;
}

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static int minimal;

void symbolize_minimal(int on)
{
	minimal = on;
}

static void lookup(uintptr_t pc, struct frame_info *fi);

void symbolize(uintptr_t pc, struct frame_info *fi)
{
	unsigned i = (unsigned)((pc >> 2) % CACHE);
	if (cache_on && pc && cache_report[i] == cur_report && cache[i].pc == pc) {
		*fi = cache[i];
		return;
	}
	lookup(pc, fi);
	if (cache_on && pc) {
		cache[i] = *fi;
		cache_report[i] = cur_report;
	}
}

static void lookup(uintptr_t pc, struct frame_info *fi)
{
	memset(fi, 0, sizeof *fi);
	fi->pc = pc;
	/* The module from the loader's sorted table: dladdr would also scan every dynamic
	 * symbol of the module for the name (~30,000 instructions a frame in libc), which the
	 * module's own tables answer below anyway. */
	struct dl_find_object obj;
	if (_dl_find_object((void *)pc, &obj) != 0 || !obj.dlfo_link_map) {
		/* In no module: JIT'd code, named by the runtime's perf map if it has one. The
		 * map and the process's mappings are read at the first such frame, not for
		 * every report (/proc/self/maps alone is tens of microseconds). */
		uintptr_t start;
		if (tables)
			perfmap_begin(report_pid);
		if (perfmap_lookup(pc, fi->function, sizeof fi->function, &start)) {
			fi->jit = 1;
			fi->offset = fi->function_offset = pc - start;
			copy(fi->perf_map, sizeof fi->perf_map, perfmap_path());
		} else if (perfmap_mapping(pc, fi->module, sizeof fi->module, &start)) {
			/* Precompiled code in a file the runtime mapped itself: the file and the
			 * offset in its code mapping, stable from run to run. */
			fi->offset = pc - start;
		}
		return;
	}
	const struct link_map *lm = obj.dlfo_link_map;
	fi->offset = pc - (uintptr_t)obj.dlfo_map_start;
	/* The main program has no name in the loader's list: use the absolute path the kernel
	 * gave at start. */
	if (lm->l_name && lm->l_name[0] == '/')
		copy(fi->module, sizeof fi->module, lm->l_name);
	else
		copy(fi->module, sizeof fi->module, publish_exe());
	/* A return address points after the call; look up the call itself. Symbol values
	 * are link-time addresses: the pc minus the load bias. */
	uintptr_t off, vaddr = pc - (uintptr_t)lm->l_addr;
	int found = tables && fi->module[0]
			    ? elfsym_lookup(fi->module, vaddr ? vaddr - 1 : 0, fi->function,
					    sizeof fi->function, &off)
			    : -1;
	if (found == 0) {
		fi->function_offset = off + 1;
	} else if (found < 0) {
		/* No tables read (outside a report, or the file is out of reach: a sandbox, a
		 * chroot, deleted): the dynamic symbols the loader has in memory. Tables read
		 * settle it: their functions include the dynamic ones (a static function of libc
		 * such as __libc_start_call_main, in every main thread's stack, is in neither). */
		Dl_info info;
		if (dladdr((void *)pc, &info) && info.dli_sname) {
			copy(fi->function, sizeof fi->function, info.dli_sname);
			fi->function_offset = pc - (uintptr_t)info.dli_saddr;
		}
	}
	if (!minimal)
		demangle_in_place(fi->function, sizeof fi->function);
}

void symbolize_end(void)
{
	tables = 0;
	cache_on = 0;
	elfsym_release();
	perfmap_end();
}
