/* Streaming JSON writer: tracks commas and nesting; escapes every string (the program hands
 * us paths, hostnames and arguments that may hold any byte). */
#ifndef CONNLEAK_JSON_H
#define CONNLEAK_JSON_H

#include <stdint.h>

#include "out.h"

#define JSON_DEPTH 16

struct json {
	struct out *o;
	int depth;
	int count[JSON_DEPTH]; /* members written at each level */
};

void json_init(struct json *j, struct out *o);
/* `key` is NULL inside arrays and at the top. */
void json_open(struct json *j, const char *key, char bracket);
void json_close(struct json *j, char bracket);
void json_str(struct json *j, const char *key, const char *value); /* NULL -> null */
void json_strn(struct json *j, const char *key, const char *value, size_t len);
void json_int(struct json *j, const char *key, int64_t value);
void json_uint(struct json *j, const char *key, uint64_t value);
void json_bool(struct json *j, const char *key, int value);
void json_null(struct json *j, const char *key);
/* A value already in JSON form (a number written as text). */
void json_raw(struct json *j, const char *key, const char *text);

/* Escapes `len` bytes as the body of a JSON string (no quotes). Invalid UTF-8 bytes are
 * written as \u00XX so the document stays valid. */
void json_escape(struct out *o, const char *s, size_t len);

#endif
