/* Unit tests for the streaming JSON writer: escaping, UTF-8 handling and valid structure. */
#include <criterion/criterion.h>
/* jansson and connleak both declare json_null(); rename jansson's (never called here) so
 * both headers fit in this file. The symbol clash does not reach the link: connleak's
 * objects are built with -fvisibility=hidden. */
#define json_null jansson_json_null_unused
#include <jansson.h>
#undef json_null
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "report/json.h"
#include "report/out.h"
#include "util/real.h"

struct doc {
	int fd;
	struct out o;
	struct json j;
	char *text; /* what reached the descriptor, NUL-terminated */
	size_t len;
};

static struct doc *doc_new(void)
{
	real_init(); /* out_flush writes with the real write() */
	struct doc *d = calloc(1, sizeof *d);
	cr_assert_not_null(d);
	d->fd = memfd_create("connleak-json-test", 0);
	cr_assert_geq(d->fd, 0);
	out_init(&d->o, d->fd);
	json_init(&d->j, &d->o);
	return d;
}

/* Flushes and reads back everything written. */
static const char *doc_text(struct doc *d)
{
	cr_assert_eq(out_flush(&d->o), 0);
	off_t size = lseek(d->fd, 0, SEEK_END);
	cr_assert_geq(size, 0);
	free(d->text);
	d->text = malloc((size_t)size + 1);
	cr_assert_not_null(d->text);
	ssize_t r = pread(d->fd, d->text, (size_t)size, 0);
	cr_assert_eq(r, size);
	d->text[size] = '\0';
	d->len = (size_t)size;
	return d->text;
}

static void doc_free(struct doc *d)
{
	close(d->fd);
	free(d->text);
	free(d);
}

/* Parses with jansson; fails the test with jansson's reason when the text is not JSON. */
static json_t *parse_ok(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	cr_assert_not_null(v, "invalid JSON (%s at line %d col %d):\n%s", err.text, err.line,
			   err.column, text);
	return v;
}

/* Escapes bytes into a bare string body; returns the body as written. */
static char *escaped(const char *s, size_t len)
{
	struct doc *d = doc_new();
	json_escape(&d->o, s, len);
	char *r = strdup(doc_text(d));
	doc_free(d);
	return r;
}

/* Writes one string value as a document, checks it parses, and returns the decoded value. */
static json_t *string_roundtrip(const char *s, size_t len, char **raw)
{
	struct doc *d = doc_new();
	json_strn(&d->j, NULL, s, len);
	json_t *v = parse_ok(doc_text(d));
	cr_assert(json_is_string(v));
	if (raw)
		*raw = strdup(d->text);
	doc_free(d);
	return v;
}

Test(json, escapes_quote_and_backslash)
{
	char *e = escaped("a\"b\\c", 5);
	cr_assert_str_eq(e, "a\\\"b\\\\c");
	free(e);
	json_t *v = string_roundtrip("a\"b\\c", 5, NULL);
	cr_assert_str_eq(json_string_value(v), "a\"b\\c");
	json_decref(v);
}

Test(json, escapes_control_chars)
{
	char *e = escaped("\x01", 1);
	cr_assert_str_eq(e, "\\u0001");
	free(e);
	e = escaped("a\nb\tc\rd\x1f", 8);
	cr_assert_eq(strchr(e, '\n'), NULL);
	cr_assert_eq(strchr(e, '\t'), NULL);
	cr_assert_eq(strchr(e, '\r'), NULL);
	cr_assert(strstr(e, "\\u001f"), "%s", e);
	free(e);
	json_t *v = string_roundtrip("a\nb\x01", 4, NULL);
	cr_assert_str_eq(json_string_value(v), "a\nb\x01");
	json_decref(v);
}

Test(json, escapes_nul_byte)
{
	char *e = escaped("a\0b", 3);
	cr_assert_str_eq(e, "a\\u0000b");
	free(e);
	json_t *v = string_roundtrip("a\0b", 3, NULL);
	cr_assert_eq(json_string_length(v), 3);
	cr_assert_eq(memcmp(json_string_value(v), "a\0b", 3), 0);
	json_decref(v);
}

Test(json, escapes_del)
{
	char *e = escaped("x\x7fy", 3);
	cr_assert_str_eq(e, "x\\u007fy");
	free(e);
}

Test(json, invalid_utf8_bytes_become_u00xx)
{
	char *e = escaped("\xff", 1);
	cr_assert_str_eq(e, "\\u00ff");
	free(e);
	/* A lone continuation byte, a truncated sequence at the end, a lead byte followed by
	 * ASCII, and the never-valid C0/C1/F5 leads. */
	e = escaped("\x80", 1);
	cr_assert_str_eq(e, "\\u0080");
	free(e);
	e = escaped("ab\xe2\x82", 4);
	cr_assert_str_eq(e, "ab\\u00e2\\u0082");
	free(e);
	e = escaped("\xc3(", 2);
	cr_assert_str_eq(e, "\\u00c3(");
	free(e);
	e = escaped("\xc0\xaf", 2);
	cr_assert_str_eq(e, "\\u00c0\\u00af");
	free(e);
	e = escaped("\xf5\x80\x80\x80", 4);
	cr_assert_str_eq(e, "\\u00f5\\u0080\\u0080\\u0080");
	free(e);
	json_t *v = string_roundtrip("p\xffq\x80", 4, NULL);
	cr_assert_str_eq(json_string_value(v), "p\xc3\xbfq\xc2\x80");
	json_decref(v);
}

Test(json, valid_multibyte_utf8_passes_through)
{
	const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac";
	char *e = escaped(s, strlen(s));
	cr_assert_str_eq(e, s);
	free(e);
	json_t *v = string_roundtrip(s, strlen(s), NULL);
	cr_assert_str_eq(json_string_value(v), s);
	json_decref(v);
}

/* Byte sequences that have a valid-looking lead and continuation bytes but are not UTF-8:
 * overlong forms, UTF-16 surrogates, code points above U+10FFFF. The writer promises the
 * document stays valid whatever bytes it is handed, so each must parse. */
static void stays_valid(const char *s)
{
	char *raw = NULL;
	json_t *v = string_roundtrip(s, strlen(s), &raw);
	json_decref(v);
	free(raw);
}

Test(json, overlong_three_byte_sequence_stays_valid)
{
	stays_valid("/tmp/\xe0\x80\xaf");
}

Test(json, surrogate_sequence_stays_valid)
{
	stays_valid("host-\xed\xa0\x80");
}

Test(json, above_max_code_point_stays_valid)
{
	stays_valid("arg\xf4\x90\x80\x80");
}

Test(json, overlong_four_byte_sequence_is_escaped)
{
	/* F0 followed by 80..8F is a 4-byte form of a code point below U+10000: overlong.
	 * Written raw, strict readers reject the whole report. */
	char *e = escaped("x\xf0\x8f\xbf\xbf", 5);
	cr_assert_str_eq(e, "x\\u00f0\\u008f\\u00bf\\u00bf");
	free(e);
	stays_valid("x\xf0\x80\x80\xaf");
	/* The smallest real 4-byte code point, U+10000, passes through. */
	e = escaped("\xf0\x90\x80\x80", 4);
	cr_assert_str_eq(e, "\xf0\x90\x80\x80");
	free(e);
}

Test(json, key_is_escaped)
{
	struct doc *d = doc_new();
	json_open(&d->j, NULL, '{');
	json_int(&d->j, "we\"ird\\key\x01", 1);
	json_close(&d->j, '}');
	json_t *v = parse_ok(doc_text(d));
	cr_assert_eq(json_integer_value(json_object_get(v, "we\"ird\\key\x01")), 1);
	json_decref(v);
	doc_free(d);
}

Test(json, empty_containers)
{
	struct doc *d = doc_new();
	json_open(&d->j, NULL, '{');
	json_open(&d->j, "a", '[');
	json_close(&d->j, ']');
	json_open(&d->j, "o", '{');
	json_close(&d->j, '}');
	json_close(&d->j, '}');
	json_t *v = parse_ok(doc_text(d));
	cr_assert(json_is_array(json_object_get(v, "a")));
	cr_assert_eq(json_array_size(json_object_get(v, "a")), 0);
	cr_assert(json_is_object(json_object_get(v, "o")));
	cr_assert_eq(json_object_size(json_object_get(v, "o")), 0);
	cr_assert_eq(json_object_size(v), 2);
	json_decref(v);
	doc_free(d);
}

Test(json, nested_document_is_valid)
{
	struct doc *d = doc_new();
	struct json *j = &d->j;
	json_open(j, NULL, '{');
	json_int(j, "schema", 1);
	json_str(j, "tool", "connleak");
	json_str(j, "none", NULL);
	json_null(j, "nul");
	json_bool(j, "t", 1);
	json_bool(j, "f", 0);
	json_int(j, "neg", INT64_MIN);
	json_uint(j, "big", (uint64_t)INT64_MAX);
	json_raw(j, "raw", "3.5");
	json_open(j, "findings", '[');
	for (int i = 0; i < 3; i++) {
		json_open(j, NULL, '{');
		json_str(j, "kind", "leaked-socket");
		json_int(j, "count", i + 1);
		json_open(j, "stacks", '{');
		json_open(j, "created", '[');
		json_open(j, NULL, '{');
		json_str(j, "pc", "0x1");
		json_close(j, '}');
		json_open(j, NULL, '{');
		json_str(j, "pc", "0x2");
		json_close(j, '}');
		json_close(j, ']');
		json_close(j, '}');
		json_close(j, '}');
	}
	json_close(j, ']');
	json_open(j, "list", '[');
	json_int(j, NULL, 1);
	json_str(j, NULL, "two");
	json_null(j, NULL);
	json_open(j, NULL, '[');
	json_close(j, ']');
	json_close(j, ']');
	json_close(j, '}');

	json_t *v = parse_ok(doc_text(d));
	cr_assert(json_is_object(v));
	cr_assert_eq(json_object_size(v), 11);
	cr_assert_eq(json_integer_value(json_object_get(v, "schema")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(v, "tool")), "connleak");
	cr_assert(json_is_null(json_object_get(v, "none")));
	cr_assert(json_is_null(json_object_get(v, "nul")));
	cr_assert(json_is_true(json_object_get(v, "t")));
	cr_assert(json_is_false(json_object_get(v, "f")));
	cr_assert_eq(json_integer_value(json_object_get(v, "neg")), INT64_MIN);
	cr_assert_eq(json_integer_value(json_object_get(v, "big")), INT64_MAX);
	cr_assert(json_is_real(json_object_get(v, "raw")));
	json_t *f = json_object_get(v, "findings");
	cr_assert_eq(json_array_size(f), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *e = json_array_get(f, i);
		cr_assert_eq(json_integer_value(json_object_get(e, "count")), (json_int_t)i + 1);
		json_t *c = json_object_get(json_object_get(e, "stacks"), "created");
		cr_assert_eq(json_array_size(c), 2);
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(c, 1), "pc")),
				 "0x2");
	}
	json_t *l = json_object_get(v, "list");
	cr_assert_eq(json_array_size(l), 4);
	cr_assert_str_eq(json_string_value(json_array_get(l, 1)), "two");
	cr_assert(json_is_array(json_array_get(l, 3)));
	json_decref(v);
	doc_free(d);
}

Test(json, uint64_extremes_written_exactly)
{
	/* jansson (json_int_t) cannot read numbers above INT64_MAX, so check the text. */
	struct doc *d = doc_new();
	json_open(&d->j, NULL, '[');
	json_uint(&d->j, NULL, UINT64_MAX);
	json_uint(&d->j, NULL, 0);
	json_close(&d->j, ']');
	const char *t = doc_text(d);
	cr_assert(strstr(t, "18446744073709551615,"), "%s", t);
	cr_assert(strstr(t, "\n  0\n]"), "%s", t);
	doc_free(d);
}

Test(json, top_level_scalars_and_arrays)
{
	struct doc *d = doc_new();
	json_open(&d->j, NULL, '[');
	json_close(&d->j, ']');
	json_t *v = parse_ok(doc_text(d));
	cr_assert(json_is_array(v));
	json_decref(v);
	doc_free(d);
}

Test(json, long_string_crosses_buffer)
{
	/* Larger than the out buffer, with escapes throughout: nothing lost at the seams. */
	size_t n = 100000;
	char *s = malloc(n);
	cr_assert_not_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (i % 97 == 0) ? '"' : (i % 89 == 0) ? '\x01' : (char)('a' + i % 26);
	struct doc *d = doc_new();
	json_open(&d->j, NULL, '{');
	json_strn(&d->j, "s", s, n);
	json_close(&d->j, '}');
	json_t *v = parse_ok(doc_text(d));
	json_t *str = json_object_get(v, "s");
	cr_assert_eq(json_string_length(str), n);
	cr_assert_eq(memcmp(json_string_value(str), s, n), 0);
	json_decref(v);
	doc_free(d);
	free(s);
}

Test(json, many_members_in_a_pipe)
{
	/* Through a pipe, as a different kind of descriptor. */
	real_init();
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct out *o = malloc(sizeof *o);
	cr_assert_not_null(o);
	struct json j;
	out_init(o, p[1]);
	json_init(&j, o);
	json_open(&j, NULL, '{');
	json_open(&j, "n", '[');
	for (int i = 0; i < 500; i++)
		json_int(&j, NULL, i);
	json_close(&j, ']');
	json_close(&j, '}');
	cr_assert_eq(out_flush(o), 0);
	close(p[1]);
	char buf[65536];
	size_t len = 0;
	ssize_t r;
	while ((r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(p[0]);
	json_t *v = parse_ok(buf);
	json_t *a = json_object_get(v, "n");
	cr_assert_eq(json_array_size(a), 500);
	cr_assert_eq(json_integer_value(json_array_get(a, 499)), 499);
	json_decref(v);
	free(o);
}

Test(json, flush_to_bad_descriptor_reports_failure)
{
	real_init();
	struct out *o = malloc(sizeof *o);
	cr_assert_not_null(o);
	out_init(o, -1);
	out_puts(o, "{}");
	cr_assert_neq(out_flush(o), 0);
	free(o);
}
