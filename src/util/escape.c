/* Escaping names from the program for terminals and XML (see escape.h). */
#include "escape.h"

#include <stdio.h>
#include <string.h>

int utf8_seq(const unsigned char *s, size_t left, uint32_t *cp)
{
	int n;
	uint32_t c;
	if (!left)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if ((size_t)n > left)
		return 0;
	/* Second-byte ranges that exclude overlong forms, surrogates and code points past
	 * U+10FFFF. */
	unsigned char lo = 0x80, hi = 0xbf;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	*cp = c;
	return n;
}

size_t escape_text(char *dst, size_t n, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t len = strlen((const char *)s), o = 0, i = 0;
	if (!n)
		return 0;
	while (i < len) {
		uint32_t cp = 0;
		int k = utf8_seq(s + i, len - i, &cp);
		if (k && cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp >= 0xa0)) {
			if (o + (size_t)k >= n)
				break;
			memcpy(dst + o, s + i, (size_t)k);
			o += (size_t)k;
			i += (size_t)k;
			continue;
		}
		/* One byte at a time: a C1 control's two bytes both show. */
		if (o + 4 >= n)
			break;
		snprintf(dst + o, n - o, "\\x%02x", s[i]);
		o += 4;
		i++;
	}
	dst[o] = '\0';
	return i;
}
