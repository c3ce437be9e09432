/* Endpoint statistics table (uthash keyed by role and address). */
#include "endpoint.h"

#include <stdlib.h>
#include <string.h>

static struct endpoint *table;
static uint32_t count;
static uint64_t dropped;

struct endpoint *endpoint_get(int server, const struct sockaddr *addr, socklen_t len)
{
	if (!addr || len == 0 || len > sizeof(struct sockaddr_storage))
		return NULL;
	struct endpoint probe, *e;
	memset(&probe.key, 0, sizeof probe.key);
	probe.key.server = server;
	memcpy(&probe.key.addr, addr, len);
	HASH_FIND(hh, table, &probe.key, sizeof probe.key, e);
	if (e)
		return e;
	if (count >= ENDPOINT_MAX) {
		dropped++;
		return NULL;
	}
	e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->key = probe.key;
	e->addr_len = len;
	HASH_ADD(hh, table, key, sizeof e->key, e);
	count++;
	return e;
}

void endpoint_opened(struct endpoint *e)
{
	e->connections++;
	if (++e->open > e->peak)
		e->peak = e->open;
}

/* Four buckets per power of two: bucket upper bounds grow by about 19% each. */
static int bucket_of(uint64_t ms)
{
	if (ms < 4)
		return (int)ms;
	int log2 = 63 - __builtin_clzll(ms);
	int sub = (int)((ms >> (log2 - 2)) & 3);
	int b = 4 + (log2 - 2) * 4 + sub;
	return b < LIFETIME_BUCKETS ? b : LIFETIME_BUCKETS - 1;
}

static uint64_t bucket_upper(int b)
{
	if (b < 4)
		return (uint64_t)b;
	int log2 = (b - 4) / 4 + 2, sub = (b - 4) % 4;
	return ((uint64_t)(4 + sub + 1) << (log2 - 2)) - 1;
}

void endpoint_closed(struct endpoint *e, uint64_t lifetime_ms, uint64_t in, uint64_t out,
		     uint32_t requests)
{
	if (e->open)
		e->open--;
	e->bytes_in += in;
	e->bytes_out += out;
	e->requests += requests;
	e->lifetime[bucket_of(lifetime_ms)]++;
	if (lifetime_ms > e->lifetime_max_ms)
		e->lifetime_max_ms = lifetime_ms;
}

uint64_t endpoint_lifetime_quantile(const struct endpoint *e, double q)
{
	uint64_t n = 0;
	for (int i = 0; i < LIFETIME_BUCKETS; i++)
		n += e->lifetime[i];
	if (!n)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)n + 0.5);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (int i = 0; i < LIFETIME_BUCKETS; i++) {
		seen += e->lifetime[i];
		if (seen >= rank) {
			uint64_t up = bucket_upper(i);
			return up < e->lifetime_max_ms ? up : e->lifetime_max_ms;
		}
	}
	return e->lifetime_max_ms;
}

void endpoint_each(void (*fn)(const struct endpoint *e, void *ctx), void *ctx)
{
	for (struct endpoint *e = table; e; e = e->hh.next)
		fn(e, ctx);
}

uint64_t endpoint_dropped(void)
{
	return dropped;
}

void endpoint_clear(void)
{
	struct endpoint *e, *tmp;
	HASH_ITER(hh, table, e, tmp) {
		HASH_DEL(table, e);
		free(e);
	}
	count = 0;
	dropped = 0;
}
