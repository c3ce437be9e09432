/* `connleak report` and managed runtimes: frames in no module are named from the process's
 * perf map (the copy beside the report), printed "in NAME [jit] (perf-PID.map)", grouped by
 * name whatever their address in each run; C++ names are demangled. */
#include <unistd.h>

#include "report_test.h"

#define JIT_FRAME(pc)                                                                       \
	"{\"pc\":\"" pc "\",\"module\":null,\"offset\":\"0x0\",\"function\":null,"             \
	"\"file\":null,\"line\":null}"
#define JIT_LEAK(pc)                                                                        \
	"{\"kind\":\"leaked-socket\",\"count\":1,\"message\":\"leak\",\"stacks\":"            \
	"{\"created\":[" JIT_FRAME(pc) "," LIBC_FRAME "]}}"

/* A report file in `dir` whose process left a perf map copy mapping [start, start+0x100)
 * to `name`. */
static void write_report(const char *dir, long pid, const char *pc, unsigned long start,
			 const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/app.%ld.perf.map", dir, pid);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	/* an older, overwritten use of the same code space first: the later line wins */
	fprintf(f, "%lx 100 Stale::Method()\n7f0000001000 10 stub Other\n%lx 100 %s\n", start,
		start, name);
	fclose(f);
	snprintf(path, sizeof path, "%s/app.%ld.json", dir, pid);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"{\"schema\":1,\"tool\":\"connleak\",\"pid\":%ld,\"ppid\":1,\"exe\":\"/nonexistent/app\","
		"\"perf_map\":\"app.%ld.perf.map\",\"start_time\":\"2026-01-01T00:00:01.000Z\","
		"\"end_time\":\"2026-01-01T00:00:59.000Z\",\"duration_ms\":12,\"stats\":{},"
		"\"endpoints\":[],\"timeline\":[],\"findings\":[" JIT_LEAK("%s") "]}",
		pid, pid, pc);
	fclose(f);
}

Test(report_jit, named_from_the_copy_and_grouped_by_name)
{
	char dir[] = "/tmp/connleak-jit-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	/* the same method at different addresses in two runs */
	write_report(dir, 4242, "0x7f1000000042", 0x7f1000000000UL, "Program.FetchAsync()");
	write_report(dir, 4343, "0x7f2000000085", 0x7f2000000040UL, "Program.FetchAsync()");
	struct report_set set;
	char *paths[] = {dir};
	FILE *errs = fopen("/dev/null", "w");
	cr_assert_eq(report_set_read(&set, paths, 1, errs), 0);
	fclose(errs);
	symbolize_set(&set);
	struct result r;
	result_build(&r, &set, NULL);
	cr_assert_eq(r.ngroups, 1, "one group for one method, got %zu", r.ngroups);
	cr_assert_eq(r.groups[0].count, 2);
	const struct frame *f = &r.groups[0].members[0]->stacks[0].frames[0];
	cr_assert(f->jit);
	cr_assert_str_eq(f->function, "Program.FetchAsync()");
	char line[512];
	frame_line(f, 3, line, sizeof line);
	cr_assert(strstr(line, " in Program.FetchAsync() [jit] (perf-"), "%s", line);
	result_free(&r);
	report_set_free(&set);
	symbolize_cleanup();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(report_jit, unmapped_address_stays_unnamed)
{
	char dir[] = "/tmp/connleak-jit-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	write_report(dir, 4444, "0x7f3000000500", 0x7f3000000000UL, "Program.Main()");
	struct report_set set;
	char *paths[] = {dir};
	FILE *errs = fopen("/dev/null", "w");
	cr_assert_eq(report_set_read(&set, paths, 1, errs), 0);
	fclose(errs);
	symbolize_set(&set);
	const struct frame *f = &set.procs[0].findings[0].stacks[0].frames[0];
	cr_assert_not(f->jit);
	cr_assert_null(f->function);
	report_set_free(&set);
	symbolize_cleanup();
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(report_jit, cxx_names_demangled)
{
	long pids[] = {100};
	const char *f[] = {
		"{\"kind\":\"leaked-socket\",\"count\":1,\"message\":\"m\",\"stacks\":{\"created\":["
		"{\"pc\":\"0x1\",\"module\":\"/nonexistent/node\",\"offset\":\"0x10\","
		"\"function\":\"_ZN4node7TCPWrap7ConnectERKN2v820FunctionCallbackInfoINS1_5ValueEEE\","
		"\"file\":null,\"line\":null}]}}"};
	struct report_set *s = make_set(1, pids, f);
	cr_assert_str_eq(s->procs[0].findings[0].stacks[0].frames[0].function,
			 "node::TCPWrap::Connect(v8::FunctionCallbackInfo<v8::Value> const&)");
	free_set(s);
	symbolize_cleanup();
}
