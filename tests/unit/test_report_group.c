/* `connleak report` grouping: findings of many processes fall together by kind and
 * module+offset stacks, with counts and processes; groups are ordered by severity, then
 * count. */
#include "report_test.h"

#define LEAK(count)                                                                         \
	"{\"kind\":\"leaked-socket\",\"count\":" #count ",\"message\":\"leak\",\"stacks\":"   \
	"{\"created\":[" FRAME("1976", "leak_one_connection", "leak.c", 13) "," LIBC_FRAME "]}}"
#define LEAK_ELSEWHERE                                                                      \
	"{\"kind\":\"leaked-socket\",\"count\":1,\"message\":\"leak2\",\"stacks\":"           \
	"{\"created\":[" FRAME("2000", "other_place", "leak.c", 40) "]}}"
#define DOUBLE_CLOSE                                                                        \
	"{\"kind\":\"double-close\",\"count\":1,\"message\":\"dc\",\"stacks\":"               \
	"{\"closed\":[" FRAME("1580", "second_close", "dc.c", 27) "],\"previous_close\":["    \
	FRAME("1568", "first_close", "dc.c", 22) "]}}"
#define EXHAUST                                                                             \
	"{\"kind\":\"fd-exhaustion\",\"count\":1,\"message\":\"ex\",\"errno\":\"EMFILE\","    \
	"\"stacks\":{\"created\":[" FRAME("1100", "open_from_pool_a", "ex.c", 16) "]},"        \
	"\"groups\":[{\"count\":30,\"stack\":[" FRAME("1100", "open_from_pool_a", "ex.c", 16) \
	"]},{\"count\":29,\"stack\":[" FRAME("1120", "open_from_pool_b", "ex.c", 21) "]}]}"

Test(report_group, same_stack_in_several_processes_is_one_group)
{
	long pids[] = {100, 101, 102};
	const char *f[] = {LEAK(1), LEAK(2), LEAK(1)};
	struct report_set *s = make_set(3, pids, f);
	struct result r;
	result_build(&r, s, NULL);
	cr_assert_eq(r.ngroups, 1);
	cr_assert_eq(r.groups[0].count, 4);
	cr_assert_eq(r.groups[0].nprocs, 3);
	cr_assert_eq(r.groups[0].nmembers, 3);
	cr_assert_eq(r.total, 4);
	cr_assert_eq(r.procs_with_findings, 3);
	cr_assert_eq(group_count_in(&r.groups[0], &s->procs[1]), 2);
	/* members keep process order: the example is the first process's instance */
	cr_assert_eq(r.groups[0].members[0]->proc->pid, 100);
	result_free(&r);
	free_set(s);
}

Test(report_group, different_stacks_are_different_groups)
{
	long pids[] = {100, 101};
	const char *f[] = {LEAK(1) "," LEAK_ELSEWHERE, LEAK(1)};
	struct report_set *s = make_set(2, pids, f);
	struct result r;
	result_build(&r, s, NULL);
	cr_assert_eq(r.ngroups, 2);
	/* same kind: larger count first */
	cr_assert_eq(r.groups[0].count, 2);
	cr_assert_str_eq(r.groups[0].members[0]->message, "leak");
	cr_assert_eq(r.groups[1].count, 1);
	cr_assert_eq(r.groups[1].nprocs, 1);
	result_free(&r);
	free_set(s);
}

Test(report_group, ordered_by_severity_then_count)
{
	long pids[] = {1, 2};
	const char *f[] = {LEAK(50) "," DOUBLE_CLOSE "," "{\"kind\":\"brand-new-kind\"}",
			   EXHAUST "," "{\"kind\":\"close-wait\",\"count\":3}"};
	struct report_set *s = make_set(2, pids, f);
	struct result r;
	result_build(&r, s, NULL);
	cr_assert_eq(r.ngroups, 5);
	cr_assert_str_eq(r.groups[0].kind, "fd-exhaustion");
	cr_assert_str_eq(r.groups[1].kind, "double-close");
	cr_assert_str_eq(r.groups[2].kind, "close-wait");
	cr_assert_str_eq(r.groups[3].kind, "leaked-socket");
	cr_assert_str_eq(r.groups[4].kind, "brand-new-kind");
	cr_assert_eq(r.per_rank[kind_rank("leaked-socket")], 50);
	cr_assert_eq(r.per_rank[CONNLEAK_KIND_COUNT], 1);
	cr_assert_eq(r.total, 56);
	result_free(&r);
	free_set(s);
}

Test(report_group, severity_order_is_the_documented_one)
{
	const char *order[] = {"fd-exhaustion", "stale-fd-use", "closed-but-referenced",
			       "socket-growth", "keepalive-race", "shared-close", "double-close",
			       "close-wait", "stale-dns", "leaked-socket", "lease-expired"};
	for (int i = 0; i < 11; i++)
		cr_assert_eq(kind_rank(order[i]), i, "%s", order[i]);
	cr_assert_eq(kind_rank("nope"), CONNLEAK_KIND_COUNT);
}

Test(report_group, key_distinguishes_stack_roles_and_exhaustion_groups)
{
	long pids[] = {1};
	const char *f[] = {
		"{\"kind\":\"shared-close\",\"stacks\":{\"created\":[" FRAME("10", "a", "a.c", 1) "]}},"
		"{\"kind\":\"shared-close\",\"stacks\":{\"closed\":[" FRAME("10", "a", "a.c", 1) "]}},"
		EXHAUST};
	struct report_set *s = make_set(1, pids, f);
	char *k0 = finding_key(&s->procs[0].findings[0]);
	char *k1 = finding_key(&s->procs[0].findings[1]);
	char *k2 = finding_key(&s->procs[0].findings[2]);
	cr_assert_str_neq(k0, k1);
	cr_assert_not_null(strstr(k2, "group:"));
	cr_assert_not_null(strstr(k2, "/nonexistent/app+0x1120"));
	cr_assert_eq(s->procs[0].findings[2].nstacks, 3);
	cr_assert_eq(s->procs[0].findings[2].stacks[1].group_count, 30);
	free(k0);
	free(k1);
	free(k2);
	free_set(s);
}

Test(report_group, pc_differs_offset_same_groups_together)
{
	/* A forked child and another run load the binary elsewhere: only module+offset count. */
	long pids[] = {1, 2};
	const char *f[] = {
		"{\"kind\":\"leaked-socket\",\"stacks\":{\"created\":[{\"pc\":\"0x5555\",\"module\":"
		"\"/nonexistent/app\",\"offset\":\"0x10\"}]}}",
		"{\"kind\":\"leaked-socket\",\"stacks\":{\"created\":[{\"pc\":\"0x6666\",\"module\":"
		"\"/nonexistent/app\",\"offset\":\"0x10\"}]}}"};
	struct report_set *s = make_set(2, pids, f);
	struct result r;
	result_build(&r, s, NULL);
	cr_assert_eq(r.ngroups, 1);
	cr_assert_eq(r.groups[0].count, 2);
	result_free(&r);
	free_set(s);
}

Test(report_group, empty_set)
{
	struct report_set s = {0};
	struct result r;
	result_build(&r, &s, NULL);
	cr_assert_eq(r.ngroups, 0);
	cr_assert_eq(r.total, 0);
	result_free(&r);
}
