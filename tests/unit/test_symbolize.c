/* The in-process symbolizer (util/symbolize.c): a frame's module, offset and function,
 * from the module's own symbol tables (static functions included), and from the loader's
 * in-memory dynamic symbols when the module's file cannot be read. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/publish.h"
#include "util/real.h"
#include "util/symbolize.h"

__attribute__((noinline)) static int local_helper(int x)
{
	return x * 3 + 1;
}

Test(symbolize, static_function_from_the_symbol_table)
{
	uintptr_t pc = (uintptr_t)&local_helper + 2;
	struct dl_find_object obj;
	cr_assert_eq(_dl_find_object((void *)pc, &obj), 0);
	real_init();
	publish_init();
	struct frame_info fi;
	symbolize_begin();
	symbolize(pc, &fi);
	symbolize_end();
	cr_expect_str_eq(fi.function, "local_helper");
	cr_expect_eq(fi.function_offset, 2);
	cr_expect_eq(fi.offset, pc - (uintptr_t)obj.dlfo_map_start);
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	cr_expect_str_eq(fi.module, exe);
	cr_expect_eq(local_helper(1), 4);
}

/* Copies `src` to a fresh file and returns its path. */
static char *copy_file(const char *src)
{
	static char path[] = "/tmp/connleak-symbolize.XXXXXX";
	int out = mkstemp(path);
	cr_assert_geq(out, 0);
	int in = open(src, O_RDONLY);
	cr_assert_geq(in, 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	return path;
}

Test(symbolize, exported_function_of_a_module_whose_file_is_gone)
{
	/* A private copy of libz, loaded and then deleted: its tables cannot be read any
	 * more (as in a chroot, or after an upgrade), the loader still has its dynamic
	 * symbols. */
	real_init();
	char *path = copy_file("/lib/x86_64-linux-gnu/libz.so.1");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(h, "%s", dlerror());
	unlink(path);
	void *fn = dlsym(h, "zlibVersion");
	cr_assert_not_null(fn);
	struct frame_info fi;
	symbolize_begin();
	symbolize((uintptr_t)fn + 1, &fi);
	symbolize_end();
	cr_expect_str_eq(fi.module, path);
	cr_expect_str_eq(fi.function, "zlibVersion");
	cr_expect_eq(fi.function_offset, 1);
	dlclose(h);
}
