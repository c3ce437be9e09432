/* Streaming JSON writer. */
#include "json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../util/escape.h"

void json_init(struct json *j, struct out *o)
{
	memset(j, 0, sizeof *j);
	j->o = o;
}

void json_escape(struct out *o, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	char esc[8];
	for (size_t i = 0; i < len;) {
		/* Bytes that go out as they are, in one write: most of a report. */
		size_t run = i;
		while (run < len && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			out_write(o, str + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = s[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			out_write(o, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			out_write(o, esc, 6);
			i++;
		} else {
			/* Only well-formed UTF-8 is written raw: strict readers (jansson) reject
			 * overlong forms, surrogates and code points past U+10FFFF. */
			uint32_t cp;
			int n = utf8_seq(s + i, len - i, &cp);
			if (n) {
				out_write(o, (const char *)&s[i], (size_t)n);
				i += (size_t)n;
			} else {
				snprintf(esc, sizeof esc, "\\u%04x", c);
				out_write(o, esc, 6);
				i++;
			}
		}
	}
}

static void member(struct json *j, const char *key)
{
	/* A new line and two spaces a level: json_open stops at depth JSON_DEPTH - 1. */
	static const char indent[] = "\n                              ";
	_Static_assert(sizeof indent - 1 >= 1 + 2 * (JSON_DEPTH - 1), "indent too short");
	if (j->count[j->depth]++)
		out_write(j->o, ",", 1);
	if (j->depth)
		out_write(j->o, indent, 1 + 2 * (size_t)j->depth);
	if (key) {
		out_write(j->o, "\"", 1);
		json_escape(j->o, key, strlen(key));
		out_write(j->o, "\": ", 3);
	}
}

void json_open(struct json *j, const char *key, char bracket)
{
	member(j, key);
	out_write(j->o, &bracket, 1);
	if (j->depth + 1 < JSON_DEPTH)
		j->depth++;
	j->count[j->depth] = 0;
}

void json_close(struct json *j, char bracket)
{
	int had = j->count[j->depth];
	if (j->depth)
		j->depth--;
	if (had) {
		out_write(j->o, "\n", 1);
		for (int i = 0; i < j->depth; i++)
			out_write(j->o, "  ", 2);
	}
	out_write(j->o, &bracket, 1);
}

void json_strn(struct json *j, const char *key, const char *value, size_t len)
{
	member(j, key);
	out_write(j->o, "\"", 1);
	json_escape(j->o, value, len);
	out_write(j->o, "\"", 1);
}

void json_str(struct json *j, const char *key, const char *value)
{
	if (!value)
		json_null(j, key);
	else
		json_strn(j, key, value, strlen(value));
}

void json_int(struct json *j, const char *key, int64_t value)
{
	member(j, key);
	out_printf(j->o, "%" PRId64, value);
}

void json_uint(struct json *j, const char *key, uint64_t value)
{
	member(j, key);
	char digits[20];
	size_t n = 0;
	do
		digits[sizeof digits - ++n] = (char)('0' + value % 10);
	while ((value /= 10) != 0);
	out_write(j->o, digits + sizeof digits - n, n);
}

void json_bool(struct json *j, const char *key, int value)
{
	member(j, key);
	out_puts(j->o, value ? "true" : "false");
}

void json_null(struct json *j, const char *key)
{
	member(j, key);
	out_puts(j->o, "null");
}

void json_raw(struct json *j, const char *key, const char *text)
{
	member(j, key);
	out_puts(j->o, text);
}
