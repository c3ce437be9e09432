/* The model in a process that starts with one thread (track/modellock.c, util/threads.h):
 * a section then takes no lock, and a section entered that way must still let a thread that
 * began inside it take model_lock (the lease thread starts from a connect's section and may
 * wait there before the section ends). Criterion's test processes already have threads,
 * hence a plain program, as tests/tsan/model_threads.c.
 *
 *   build/model-alone [-k NAME]...   "PASS name" / "FAIL name: why" per test, then
 *                                    "N passed, M failed"; exit 1 on a failure */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "track/model.h"
#include "track/modellock.h"
#include "util/options.h"
#include "util/threads.h"

static struct options opts;
static int passed, failed;

static void *lock_once(void *arg)
{
	model_lock();
	*(volatile int *)arg = 1;
	model_unlock();
	return NULL;
}

static const char *section_alone_wakes_a_thread_begun_inside(void)
{
	if (threads_many())
		return "the process has threads before the test: no section runs alone";
	int sh = model_section_enter(3);
	if (sh < 0)
		return "no section";
	volatile int locked = 0;
	pthread_t t;
	if (pthread_create(&t, NULL, lock_once, (void *)&locked) != 0)
		return "pthread_create failed";
	/* Long enough for the thread to stop spinning and sleep on the section count. */
	struct timespec wait = {0, 200 * 1000 * 1000};
	nanosleep(&wait, NULL);
	if (locked)
		return "model_lock went ahead while a section ran";
	model_section_leave(sh);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	/* Without a wake-up from the section's end the thread sleeps for good. */
	if (pthread_timedjoin_np(t, NULL, &until) == ETIMEDOUT)
		return "the thread waiting in model_lock was never woken (10 s)";
	return locked ? NULL : "the thread did not take the lock";
}

static const struct {
	const char *name;
	const char *(*run)(void);
} tests[] = {
	{"section_alone_wakes_a_thread_begun_inside", section_alone_wakes_a_thread_begun_inside},
};

static int wanted(const char *name, int argc, char **argv)
{
	int any = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "-k")) {
			any = 1;
			if (strstr(name, argv[i + 1]))
				return 1;
		}
	return !any;
}

int main(int argc, char **argv)
{
	options_defaults(&opts);
	model_init(&opts);
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		if (!wanted(tests[i].name, argc, argv))
			continue;
		const char *why = tests[i].run();
		if (why) {
			printf("FAIL %s: %s\n", tests[i].name, why);
			failed++;
		} else {
			printf("PASS %s\n", tests[i].name);
			passed++;
		}
		fflush(stdout);
		if (why && strstr(why, "never woken"))
			break; /* that thread holds the model mutex for good: nothing else can run */
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
