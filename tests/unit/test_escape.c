/* escape_text (src/util/escape.c): what a terminal may be shown of a name from the program. */
#include <criterion/criterion.h>
#include <string.h>

#include "util/escape.h"

static const char *esc(const char *in)
{
	static char buf[512];
	size_t took = escape_text(buf, sizeof buf, in);
	cr_assert_eq(took, strlen(in));
	return buf;
}

Test(escape, controls_become_hex)
{
	cr_assert_str_eq(esc("a\x1b]0;t\x07\r\nb\x7f\t"), "a\\x1b]0;t\\x07\\x0d\\x0ab\\x7f\\x09");
}

Test(escape, utf8_kept_c1_and_broken_bytes_escaped)
{
	cr_assert_str_eq(esc("h\xc3\xa9llo \xe2\x82\xac"), "h\xc3\xa9llo \xe2\x82\xac");
	/* U+009B (CSI as a C1 control), a lone continuation byte, a cut sequence, an
	 * overlong '/' and a surrogate. */
	cr_assert_str_eq(esc("\xc2\x9b|\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80"),
			 "\\xc2\\x9b|\\x80|\\xe2\\x82|\\xc0\\xaf|\\xed\\xa0\\x80");
}

Test(escape, small_buffer_never_cuts_a_character_or_escape)
{
	char buf[6];
	const char *in = "ab\xc3\xa9\x1b";
	size_t took = escape_text(buf, sizeof buf, in);
	cr_assert_str_eq(buf, "ab\xc3\xa9");
	cr_assert_eq(took, 4);
	took = escape_text(buf, sizeof buf, in + 4);
	cr_assert_str_eq(buf, "\\x1b");
	cr_assert_eq(took, 1);
}
