/* Keeps the process's perf map with its report, so `connleak report` can name JIT frames
 * offline after /tmp is cleaned. */
#ifndef CONNLEAK_PERFMAP_COPY_H
#define CONNLEAK_PERFMAP_COPY_H

/* Copies /tmp/perf-<pid>.map, if the process has one, beside the report at `report_path`
 * ("x.4242.json" -> "x.4242.perf.map"), 0600, O_EXCL|O_NOFOLLOW. */
void perfmap_copy(const char *report_path);
/* The copy's file name (no directory) for the report's "perf_map" field, or NULL. */
const char *perfmap_copy_name(void);

#endif
