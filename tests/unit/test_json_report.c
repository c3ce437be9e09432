/* Unit tests for the per-process JSON report as a whole: whatever the model holds, the
 * document parses with a strict parser that rejects duplicate keys (what `connleak report`
 * uses), so no report is ever dropped as unreadable. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
/* jansson and connleak both declare json_null(); see test_json.c. */
#define json_null jansson_json_null_unused
#include <jansson.h>
#undef json_null
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "report/out.h"
#include "report/report.h"
#include "track/fdtable.h"
#include "track/findings.h"
#include "track/model.h"
#include "util/clock.h"
#include "track/timeline.h"
#include "util/real.h"

static struct options opts;

/* Writes the JSON report of the current model and parses it strictly. */
static json_t *report_strict(char **text_out)
{
	int fd = memfd_create("connleak-report-test", 0);
	cr_assert_geq(fd, 0);
	struct out o;
	out_init(&o, fd);
	struct report_end end = {.how = END_EXIT, .consistent = 1};
	json_report(&o, &opts, &end);
	cr_assert_eq(out_flush(&o), 0);
	off_t size = lseek(fd, 0, SEEK_END);
	char *text = malloc((size_t)size + 1);
	cr_assert_eq(pread(fd, text, (size_t)size, 0), size);
	text[size] = '\0';
	close(fd);
	json_error_t err;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(v, "report rejected by a strict parser (%s, line %d col %d):\n%s",
			   err.text, err.line, err.column, text);
	if (text_out)
		*text_out = text;
	else
		free(text);
	return v;
}

static int tracked_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	model_new_socket(fd, AF_INET, SOCK_STREAM, 0);
	return fd;
}

/* A process that listens on an address and connects to it: a server endpoint and a client
 * endpoint with the same address. Returns the listening address. */
static struct sockaddr_in self_connection(int *listener, int *client, int *server)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*listener = tracked_socket();
	cr_assert_eq(bind(*listener, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t len = sizeof a;
	cr_assert_eq(getsockname(*listener, (struct sockaddr *)&a, &len), 0);
	cr_assert_eq(listen(*listener, 8), 0);
	*client = tracked_socket();
	cr_assert_eq(connect(*client, (struct sockaddr *)&a, sizeof a), 0);
	model_connect(*client, (struct sockaddr *)&a, sizeof a);
	struct sockaddr_in peer;
	len = sizeof peer;
	*server = accept(*listener, (struct sockaddr *)&peer, &len);
	cr_assert_geq(*server, 0);
	model_accepted(*listener, *server, (struct sockaddr *)&peer, len, 0);
	return a;
}

static void setup(void)
{
	real_init();
	options_defaults(&opts);
	model_init(&opts);
}

TestSuite(json_report, .init = setup);

Test(json_report, listen_and_connect_to_one_address_gives_unique_timeline_keys)
{
	int l, c, s;
	struct sockaddr_in a = self_connection(&l, &c, &s);
	/* Several samples, as a process that lives for seconds gets. */
	uint64_t now = clock_coarse_ms();
	for (int i = 0; i < 3; i++)
		timeline_sample_now(now + 1 + (uint64_t)i);
	json_t *root = report_strict(NULL);
	json_t *tl = json_object_get(root, "timeline");
	/* ...and the report's own sample, taken as it is written */
	cr_assert_geq(json_array_size(tl), 3);
	char client_key[64], server_key[80];
	snprintf(client_key, sizeof client_key, "127.0.0.1:%u", ntohs(a.sin_port));
	snprintf(server_key, sizeof server_key, "%s (server)", client_key);
	size_t checked = 0;
	for (size_t i = 0; i < json_array_size(tl); i++) {
		/* (the first event's sample saw the listener alone) */
		if (json_integer_value(json_object_get(json_array_get(tl, i), "open_sockets")) < 3)
			continue;
		checked++;
		json_t *eps = json_object_get(json_array_get(tl, i), "endpoints");
		cr_assert_eq(json_object_size(eps), 2);
		cr_assert_eq(json_integer_value(json_object_get(eps, client_key)), 1);
		cr_assert_eq(json_integer_value(json_object_get(eps, server_key)), 1);
	}
	cr_assert_geq(checked, 3);
	json_decref(root);
}

/* Every finding kind's member list, with the endpoints and timeline of a live model. */
Test(json_report, every_kind_of_finding_parses_strictly)
{
	int l, c, s;
	self_connection(&l, &c, &s);
	timeline_sample_now(clock_coarse_ms());
	for (int kind = 0; kind < CONNLEAK_KIND_COUNT; kind++) {
		struct finding f;
		memset(&f, 0, sizeof f);
		f.key.kind = kind;
		f.key.created = model_capture();
		f.key.closed = f.key.used = f.key.previous_close = f.key.created;
		f.fd = c;
		f.origin = 0;
		f.tcp_state = -1;
		f.answer = "eof";
		f.nanswer = 1;
		snprintf(f.addrs[0], sizeof f.addrs[0], "127.0.0.2");
		f.ngroups = 1;
		f.groups[0].stack = f.key.created;
		f.groups[0].count = 2;
		f.tls_lib = 1;
		findings_add(&f);
	}
	model_add_event("fork", 1);
	model_exit_checks();
	json_t *root = report_strict(NULL);
	json_t *findings = json_object_get(root, "findings");
	cr_assert_geq(json_array_size(findings), CONNLEAK_KIND_COUNT);
	json_decref(root);
}
