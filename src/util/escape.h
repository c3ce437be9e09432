/* Text that came from the program (host names, SNI, exe, module, function and file names)
 * made safe to show: on a terminal (no control character may reach it) and in XML (only
 * characters XML 1.0 can hold). Pure functions, no allocation: used by the preload's text
 * report and by `connleak report`'s writers alike. */
#ifndef CONNLEAK_ESCAPE_H
#define CONNLEAK_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at s (at most `left` bytes) and its code point
 * in *cp; 0 when s does not start one (overlong, surrogate, past U+10FFFF, cut short). */
int utf8_seq(const unsigned char *s, size_t left, uint32_t *cp);

/* Writes `s` into dst (size n, always terminated): printable ASCII and well-formed UTF-8
 * from U+00A0 up as they are; every other byte (C0 and C1 controls, DEL, broken UTF-8) as
 * "\xNN". Never cuts an escape or a character in two. Returns how many bytes of `s` it
 * took: all of them when dst was large enough (ESCAPE_TEXT_MAX), else call again from
 * there (at least one is taken whenever n >= 5). */
size_t escape_text(char *dst, size_t n, const char *s);

/* What escape_text needs for `s` at most, terminator included. */
#define ESCAPE_TEXT_MAX(len) (4 * (len) + 1)

#endif
