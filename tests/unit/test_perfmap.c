/* The library's perf map reader (src/util/perfmap.c): JIT frames named from
 * /tmp/perf-<pid>.map at report time, a later line winning for reused code space, lines it
 * cannot parse skipped, and the copy kept beside the report. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/perfmap_copy.h"
#include "util/perfmap.h"
#include "util/real.h"

static char map_path[64];

static void write_map(const char *text)
{
	real_init();
	snprintf(map_path, sizeof map_path, "/tmp/perf-%d.map", (int)getpid());
	FILE *f = fopen(map_path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(perfmap, names_jit_code_later_line_wins)
{
	write_map("7f0000001000 100 Old::Method()\n"
		  "garbage line\n"
		  "0x7f0000002000 0x20 stub<1>\n"
		  "7f0000001000 80 instance void [App] Program::FetchAsync()\n");
	perfmap_begin((int)getpid());
	char name[128];
	uintptr_t start;
	cr_assert(perfmap_lookup(0x7f0000001042, name, sizeof name, &start));
	cr_assert_str_eq(name, "instance void [App] Program::FetchAsync()");
	cr_assert_eq(start, 0x7f0000001000);
	/* past the newer, shorter entry: the older one still covers it */
	cr_assert(perfmap_lookup(0x7f00000010c0, name, sizeof name, &start));
	cr_assert_str_eq(name, "Old::Method()");
	cr_assert(perfmap_lookup(0x7f0000002010, name, sizeof name, &start));
	cr_assert_str_eq(name, "stub<1>");
	/* a return address at the very start belongs to the code before it */
	cr_assert_not(perfmap_lookup(0x7f0000002000 + 0x21, name, sizeof name, &start));
	cr_assert_not(perfmap_lookup(0x400000, name, sizeof name, &start));
	cr_assert_str_eq(perfmap_path(), map_path);
	perfmap_end();
	cr_assert_not(perfmap_lookup(0x7f0000001042, name, sizeof name, &start));
	unlink(map_path);
}

Test(perfmap, no_map_no_names)
{
	real_init();
	snprintf(map_path, sizeof map_path, "/tmp/perf-%d.map", (int)getpid());
	unlink(map_path);
	perfmap_begin((int)getpid());
	char name[64];
	uintptr_t start;
	cr_assert_not(perfmap_lookup(0x7f0000001042, name, sizeof name, &start));
	cr_assert_null(perfmap_path());
	perfmap_end();
}

Test(perfmap, copied_beside_the_report)
{
	write_map("7f0000001000 100 Program.Main\n");
	char dir[] = "/tmp/connleak-pm-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char report[128], copy[160];
	snprintf(report, sizeof report, "%s/app.%d.json", dir, (int)getpid());
	perfmap_copy(report);
	cr_assert_not_null(perfmap_copy_name());
	snprintf(copy, sizeof copy, "%s/%s", dir, perfmap_copy_name());
	FILE *f = fopen(copy, "r");
	cr_assert_not_null(f, "%s", copy);
	char line[128];
	cr_assert_not_null(fgets(line, sizeof line, f));
	cr_assert_str_eq(line, "7f0000001000 100 Program.Main\n");
	fclose(f);
	/* never over an existing file */
	perfmap_copy(report);
	cr_assert_null(perfmap_copy_name());
	unlink(copy);
	rmdir(dir);
	unlink(map_path);
}

Test(perfmap, executable_file_mappings_found)
{
	/* what names .NET's precompiled (ReadyToRun) frames: the file the code is mapped from */
	real_init();
	perfmap_begin((int)getpid());
	char path[512];
	uintptr_t start;
	/* getpid: in libc whatever the build (sanitizers replace strlen with their own) */
	uintptr_t pc = (uintptr_t)&getpid + 1;
	cr_assert(perfmap_mapping(pc, path, sizeof path, &start));
	cr_assert(strstr(path, "libc"), "%s", path);
	cr_assert(start < pc);
	int on_stack;
	cr_assert_not(perfmap_mapping((uintptr_t)&on_stack, path, sizeof path, &start));
	perfmap_end();
}
