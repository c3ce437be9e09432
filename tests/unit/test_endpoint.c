/* Unit tests for per-endpoint statistics: lifetime quantiles, peak concurrency, the bound. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "track/endpoint.h"

static struct sockaddr_in addr4(uint32_t host, uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(host);
	a.sin_port = htons(port);
	return a;
}

static struct endpoint *ep(uint32_t host, uint16_t port)
{
	struct sockaddr_in a = addr4(host, port);
	return endpoint_get(0, (struct sockaddr *)&a, sizeof a);
}

/* One connection opened and closed after `ms`. */
static void lifetime(struct endpoint *e, uint64_t ms)
{
	endpoint_opened(e);
	endpoint_closed(e, ms, 0, 0, 0);
}

Test(endpoint, empty_quantiles_are_zero)
{
	struct endpoint *e = ep(0x7f000001, 80);
	cr_assert_not_null(e);
	cr_assert_eq(endpoint_lifetime_quantile(e, 0.5), 0);
	cr_assert_eq(endpoint_lifetime_quantile(e, 0.99), 0);
	cr_assert_eq(e->lifetime_max_ms, 0);
}

Test(endpoint, quantiles_of_uniform_lifetimes)
{
	struct endpoint *e = ep(0x7f000001, 80);
	for (uint64_t ms = 1; ms <= 1000; ms++)
		lifetime(e, ms);
	uint64_t p50 = endpoint_lifetime_quantile(e, 0.50);
	uint64_t p99 = endpoint_lifetime_quantile(e, 0.99);
	uint64_t max = e->lifetime_max_ms;
	cr_assert_eq(max, 1000, "max is exact");
	/* Bucket upper bounds: never below the true quantile, at most ~25% above it. */
	cr_assert(p50 >= 500 && p50 <= 625, "p50 = %llu", (unsigned long long)p50);
	cr_assert(p99 >= 990 && p99 <= 1000, "p99 = %llu", (unsigned long long)p99);
	cr_assert_leq(p50, p99);
	cr_assert_leq(p99, max);
	cr_assert_eq(endpoint_lifetime_quantile(e, 1.0), max);
	cr_assert_eq(e->connections, 1000);
	cr_assert_eq(e->open, 0);
}

Test(endpoint, quantiles_are_monotone)
{
	struct endpoint *e = ep(0x0a000001, 443);
	/* A skewed mix: many short, some medium, a long tail. */
	uint64_t x = 12345;
	for (int i = 0; i < 5000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t ms = (x >> 33) % 100;
		if (i % 10 == 0)
			ms = 1000 + (x >> 40) % 30000;
		if (i % 500 == 0)
			ms = 3600000 + (x >> 45);
		lifetime(e, ms);
	}
	uint64_t prev = 0;
	for (int k = 0; k <= 100; k++) {
		uint64_t v = endpoint_lifetime_quantile(e, k / 100.0);
		cr_assert_geq(v, prev, "quantile(%d%%) = %llu < %llu", k, (unsigned long long)v,
			      (unsigned long long)prev);
		cr_assert_leq(v, e->lifetime_max_ms);
		prev = v;
	}
	cr_assert_eq(prev, e->lifetime_max_ms);
}

Test(endpoint, single_value_is_exact)
{
	static const uint64_t values[] = {0, 1, 3, 4, 7, 8, 37, 1000, 65537, 3600000};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		struct endpoint *e = ep(0x0a000002, (uint16_t)(1000 + i));
		for (int k = 0; k < 10; k++)
			lifetime(e, values[i]);
		cr_assert_eq(e->lifetime_max_ms, values[i]);
		cr_assert_eq(endpoint_lifetime_quantile(e, 0.50), values[i], "value %llu",
			     (unsigned long long)values[i]);
		cr_assert_eq(endpoint_lifetime_quantile(e, 0.99), values[i]);
	}
}

Test(endpoint, long_lived_connections_quantile_not_below_lifetime)
{
	/* Pooled connections living 10 hours (36,000,000 ms): every quantile is 10 hours.
	 * The histogram's last bucket must not cap the answer below the real lifetimes. */
	struct endpoint *e = ep(0x0a000003, 5432);
	for (int k = 0; k < 10; k++)
		lifetime(e, 36000000);
	cr_assert_eq(e->lifetime_max_ms, 36000000);
	uint64_t p50 = endpoint_lifetime_quantile(e, 0.50);
	cr_assert_geq(p50, 36000000, "p50 = %llu ms, below every lifetime (36000000 ms)",
		      (unsigned long long)p50);
}

Test(endpoint, quantile_is_an_upper_bound)
{
	/* 90 at 10 ms, 10 at 5000 ms: p50 near 10, p99 near 5000, neither under the truth. */
	struct endpoint *e = ep(0x0a000004, 80);
	for (int i = 0; i < 90; i++)
		lifetime(e, 10);
	for (int i = 0; i < 10; i++)
		lifetime(e, 5000);
	uint64_t p50 = endpoint_lifetime_quantile(e, 0.50);
	uint64_t p99 = endpoint_lifetime_quantile(e, 0.99);
	cr_assert(p50 >= 10 && p50 <= 12, "p50 = %llu", (unsigned long long)p50);
	cr_assert_eq(p99, 5000);
}

Test(endpoint, peak_concurrency)
{
	struct endpoint *e = ep(0x7f000001, 6379);
	endpoint_opened(e);
	endpoint_opened(e);
	endpoint_opened(e);
	cr_assert_eq(e->open, 3);
	cr_assert_eq(e->peak, 3);
	endpoint_closed(e, 5, 10, 20, 1);
	endpoint_opened(e);
	cr_assert_eq(e->open, 3);
	cr_assert_eq(e->peak, 3);
	endpoint_opened(e);
	cr_assert_eq(e->peak, 4);
	for (int i = 0; i < 4; i++)
		endpoint_closed(e, 5, 10, 20, 2);
	cr_assert_eq(e->open, 0);
	cr_assert_eq(e->peak, 4);
	cr_assert_eq(e->connections, 5);
	cr_assert_eq(e->bytes_in, 50);
	cr_assert_eq(e->bytes_out, 100);
	cr_assert_eq(e->requests, 9);
	/* A close the model could not pair with an open does not wrap the count. */
	endpoint_closed(e, 1, 0, 0, 0);
	cr_assert_eq(e->open, 0);
}

Test(endpoint, same_address_same_endpoint)
{
	struct endpoint *a = ep(0x7f000001, 80);
	struct endpoint *b = ep(0x7f000001, 80);
	struct endpoint *c = ep(0x7f000001, 81);
	cr_assert_not_null(a);
	cr_assert_eq(a, b);
	cr_assert_neq(a, c);
	struct sockaddr_in s = addr4(0x7f000001, 80);
	struct endpoint *srv = endpoint_get(1, (struct sockaddr *)&s, sizeof s);
	cr_assert_not_null(srv);
	cr_assert_neq(srv, a, "listening address and peer address are different endpoints");
	cr_assert_eq(srv->key.server, 1);
	cr_assert_eq(a->addr_len, sizeof s);
}

Test(endpoint, padding_bytes_do_not_split_an_endpoint)
{
	/* The kernel ignores sin_zero; a program that leaves junk there still talks to the
	 * same peer. */
	struct sockaddr_in a = addr4(0x7f000001, 8080), b = a;
	memset(b.sin_zero, 0xab, sizeof b.sin_zero);
	struct endpoint *ea = endpoint_get(0, (struct sockaddr *)&a, sizeof a);
	struct endpoint *eb = endpoint_get(0, (struct sockaddr *)&b, sizeof b);
	cr_assert_eq(ea, eb, "127.0.0.1:8080 counted as two endpoints");
}

Test(endpoint, ipv6_endpoint)
{
	struct sockaddr_in6 a;
	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	a.sin6_port = htons(443);
	struct endpoint *e = endpoint_get(0, (struct sockaddr *)&a, sizeof a);
	cr_assert_not_null(e);
	cr_assert_eq(e->addr_len, sizeof a);
	cr_assert_eq(endpoint_get(0, (struct sockaddr *)&a, sizeof a), e);
}

Test(endpoint, unknown_address_is_null)
{
	cr_assert_null(endpoint_get(0, NULL, 0));
	struct sockaddr_in a = addr4(1, 1);
	cr_assert_null(endpoint_get(0, (struct sockaddr *)&a, 0));
	cr_assert_null(endpoint_get(0, (struct sockaddr *)&a, sizeof a - 1), "truncated");
	struct sockaddr_un u = {.sun_family = AF_UNIX, .sun_path = "/run/x.sock"};
	cr_assert_null(endpoint_get(0, (struct sockaddr *)&u, sizeof u), "not an IP endpoint");
	cr_assert_eq(endpoint_dropped(), 0);
}

Test(endpoint, oversized_length_is_refused)
{
	/* endpoint_get() copies the address into a sockaddr_storage: a length beyond it must
	 * be refused, not copied. */
	union {
		struct sockaddr_in in;
		char bytes[2 * sizeof(struct sockaddr_storage)];
	} big;
	memset(&big, 0, sizeof big);
	big.in = addr4(0x7f000001, 80);
	struct endpoint *e =
		endpoint_get(0, (struct sockaddr *)&big, sizeof(struct sockaddr_storage) + 64);
	cr_assert(e == NULL || e->addr_len <= sizeof(struct sockaddr_storage),
		  "addr_len %u copied into a %zu-byte sockaddr_storage", e ? e->addr_len : 0,
		  sizeof(struct sockaddr_storage));
}

static void count_cb(const struct endpoint *e, void *ctx)
{
	(void)e;
	(*(int *)ctx)++;
}

Test(endpoint, bounded_by_endpoint_max)
{
	struct endpoint *first = ep(0x0b000000, 1);
	cr_assert_not_null(first);
	for (uint32_t i = 1; i < ENDPOINT_MAX; i++)
		cr_assert_not_null(ep(0x0b000000 + i / 1000, (uint16_t)(1 + i % 1000)), "i=%u", i);
	cr_assert_eq(endpoint_dropped(), 0);

	cr_assert_null(ep(0x0c000000, 1));
	cr_assert_eq(endpoint_dropped(), 1);
	cr_assert_null(ep(0x0c000000, 2));
	cr_assert_eq(endpoint_dropped(), 2);
	/* Known endpoints still count. */
	cr_assert_eq(ep(0x0b000000, 1), first);
	cr_assert_eq(endpoint_dropped(), 2);

	int n = 0;
	endpoint_each(count_cb, &n);
	cr_assert_eq(n, ENDPOINT_MAX);

	endpoint_clear();
	cr_assert_eq(endpoint_dropped(), 0);
	n = 0;
	endpoint_each(count_cb, &n);
	cr_assert_eq(n, 0);
	cr_assert_not_null(ep(0x0c000000, 1), "room again after clear");
}

/* A thread talking to a few endpoints in turn finds each without the table (and so
 * without the model lock: model.c's per-descriptor sections use endpoint_cached); one it
 * never got, or a role it did not get it in, is not found there. */
Test(endpoint, a_few_recent_endpoints_found_without_the_table)
{
	struct endpoint *e[3];
	for (int i = 0; i < 3; i++)
		e[i] = ep(0x7f000001, (uint16_t)(8080 + i));
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 3; i++) {
			struct sockaddr_in a = addr4(0x7f000001, (uint16_t)(8080 + i));
			cr_assert_eq(endpoint_cached(0, (struct sockaddr *)&a, sizeof a), e[i],
				     "endpoint %d", i);
			cr_assert_null(endpoint_cached(1, (struct sockaddr *)&a, sizeof a));
		}
	struct sockaddr_in other = addr4(0x7f000001, 9090);
	cr_assert_null(endpoint_cached(0, (struct sockaddr *)&other, sizeof other));
	/* After a fork's clear (records recycled), nothing is remembered. */
	endpoint_clear();
	struct sockaddr_in a = addr4(0x7f000001, 8080);
	cr_assert_null(endpoint_cached(0, (struct sockaddr *)&a, sizeof a));
}
