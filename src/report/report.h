/* Writing a process's reports when it ends: the JSON file in report_dir and the text
 * report on log_path. */
#ifndef CONNLEAK_REPORT_H
#define CONNLEAK_REPORT_H

#include <stddef.h>

#include "../util/options.h"
#include "out.h"

enum end_how { END_EXIT, END__EXIT, END_EXEC, END_ABORT };

struct report_end {
	enum end_how how;
	int status;
	const char *exec_path;
};

/* Writes both reports from the model. The JSON path written is copied to `path` (empty
 * when none) so an exec that fails can take its report back. */
void report_write(const struct options *o, const struct report_end *end, char *path, size_t n);

/* The document writers, each over an open descriptor. */
void json_report(struct out *o, const struct options *opt, const struct report_end *end);
void text_report(struct out *o);

#endif
