/* `connleak report` reading: what parses, and the one-line reason for what does not;
 * folders are searched, bad files are named and skipped; frames are symbolized from the
 * module when it exists and from the report's names otherwise. */
#include <dlfcn.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report_test.h"

static int parse(const char *text, struct process *p, char *err, size_t n)
{
	return report_parse(text, strlen(text), "x.json", p, err, n);
}

static void expect_error(const char *text, const char *reason)
{
	struct process p;
	char err[512];
	cr_assert_eq(parse(text, &p, err, sizeof err), -1, "accepted: %s", text);
	cr_assert_not_null(strstr(err, reason), "for %s: '%s' lacks '%s'", text, err, reason);
	cr_assert_null(strchr(err, '\n'));
}

Test(report_read, rejects_with_one_line_reasons)
{
	expect_error("", "not valid JSON");
	expect_error("{\"schema\":1,\"findings\":[", "not valid JSON");
	expect_error("{\"schema\":1,\"findings\":[{\"kind\":\"leaked-socket\"}", "line 1");
	expect_error("[1,2]", "not a JSON object");
	expect_error("{\"findings\":[]}", "no \"schema\"");
	expect_error("{\"schema\":99,\"findings\":[]}", "schema 99 is not supported");
	expect_error("{\"schema\":1}", "no \"findings\" array");
	expect_error("{\"schema\":1,\"findings\":{}}", "no \"findings\" array");
	expect_error("{\"schema\":1,\"findings\":[3]}", "finding 0 is not an object");
	expect_error("{\"schema\":1,\"findings\":[{\"count\":1}]}", "finding 0 has no kind");
	expect_error("{\"schema\":1,\"schema\":1,\"findings\":[]}", "duplicate");
	/* jansson quotes the input near the error: control characters must not split the line */
	expect_error("{\"schema\":1,\"findings\":[\"bad\\\n escape\"]}", "\\x0a");
}

Test(report_read, tolerates_missing_and_mistyped_fields)
{
	struct process p;
	char err[512];
	const char *text =
		"{\"schema\":1,\"pid\":\"x\",\"exe\":7,\"findings\":[{\"kind\":\"leaked-socket\","
		"\"count\":-5,\"stacks\":{\"created\":[1,{\"offset\":\"zz\"},{\"module\":\"/m\","
		"\"offset\":\"0x1f\",\"line\":-3}],\"closed\":\"no\"},\"groups\":7}]}";
	cr_assert_eq(parse(text, &p, err, sizeof err), 0, "%s", err);
	cr_assert_eq(p.pid, -1);
	cr_assert_str_eq(p.exe, "");
	cr_assert_str_eq(p.name, "?");
	cr_assert_eq(p.nfindings, 1);
	struct finding *f = &p.findings[0];
	cr_assert_eq(f->count, 1);
	cr_assert_eq(f->nstacks, 1);
	cr_assert_eq(f->stacks[0].nframes, 3);
	cr_assert_not(f->stacks[0].frames[0].has_offset);
	cr_assert_not(f->stacks[0].frames[1].has_offset);
	cr_assert(f->stacks[0].frames[2].has_offset);
	cr_assert_eq(f->stacks[0].frames[2].offset, 0x1f);
	cr_assert_eq(f->stacks[0].frames[2].rep_line, 0);
	process_free(&p);
}

Test(report_read, reads_folders_and_names_bad_files)
{
	char dir[] = "/tmp/connleak-ut.XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[4200], sub[4200];
	snprintf(sub, sizeof sub, "%s/machine2", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	struct {
		const char *name, *text;
	} files[] = {
		{"a.1.json", "{\"schema\":1,\"pid\":1,\"start_time\":\"2026-01-01T00:00:02.000Z\",\"findings\":[]}"},
		{"machine2/b.2.json", "{\"schema\":1,\"pid\":2,\"start_time\":\"2026-01-01T00:00:01.000Z\",\"findings\":[]}"},
		{"machine2/broken.json", "{\"schema\":1,\"findings\":[{\"kind\":"},
		{"notes.txt", "not json, not read"},
	};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f);
		fputs(files[i].text, f);
		fclose(f);
	}
	char *errs = NULL;
	size_t elen = 0;
	FILE *e = open_memstream(&errs, &elen);
	struct report_set set;
	snprintf(path, sizeof path, "%s/does-not-exist", dir);
	char *paths[] = {dir, path};
	int missing = report_set_read(&set, paths, 2, e);
	fclose(e);
	cr_assert_eq(missing, 1);
	cr_assert_eq(set.nprocs, 2);
	cr_assert_eq(set.nerrors, 1);
	/* ordered by start time */
	cr_assert_eq(set.procs[0].pid, 2);
	cr_assert_eq(set.procs[1].pid, 1);
	cr_assert_not_null(strstr(errs, "broken.json: not valid JSON"), "%s", errs);
	cr_assert_not_null(strstr(errs, "does-not-exist: No such file"), "%s", errs);
	/* one line per problem */
	int lines = 0;
	for (char *c = errs; *c; c++)
		lines += *c == '\n';
	cr_assert_eq(lines, 2, "%s", errs);
	free(errs);
	report_set_free(&set);
	char cmd[4300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* A function of this test program: symbolized from the module on disk. */
__attribute__((noinline, used)) int symbolize_target_function(int x)
{
	return x * 3 + 1;
}

Test(report_read, symbolizes_from_the_module)
{
	Dl_info info;
	cr_assert(dladdr((void *)symbolize_target_function, &info));
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';
	struct frame f = {0};
	f.module = exe;
	/* A return address one byte into the function: the call is its first byte. */
	f.offset = (uintptr_t)symbolize_target_function + 1 - (uintptr_t)info.dli_fbase;
	f.has_offset = 1;
	f.rep_function = "stale_name_from_the_report";
	symbolize_frame(&f);
	cr_assert_str_eq(f.function, "symbolize_target_function");
	cr_assert(f.has_fn_offset);
	cr_assert_eq(f.fn_offset, 1);
	cr_assert_not_null(f.file);
	cr_assert_not_null(strstr(f.file, "test_report_read.c"), "%s", f.file);
	cr_assert_gt(f.line, 0);
	symbolize_cleanup();
}

Test(report_read, falls_back_to_the_report_names)
{
	struct frame f = {0};
	f.module = "/nonexistent/module.so";
	f.offset = 0x1234;
	f.has_offset = 1;
	f.rep_function = "from_report";
	f.rep_file = "dir/x.c";
	f.rep_line = 7;
	symbolize_frame(&f);
	cr_assert_str_eq(f.function, "from_report");
	cr_assert_str_eq(f.file, "dir/x.c");
	cr_assert_eq(f.line, 7);
	cr_assert_not(f.has_fn_offset);
	struct frame g = {0};
	g.module = "/nonexistent/module.so";
	symbolize_frame(&g);
	cr_assert_null(g.function);
	char line[256];
	frame_line(&g, 2, line, sizeof line);
	cr_assert_str_eq(line, "#2 0x? (/nonexistent/module.so)");
	symbolize_cleanup();
}
