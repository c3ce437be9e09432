/* Time sources: a cheap monotonic clock for the I/O path and wall time for reports. */
#ifndef CONNLEAK_CLOCK_H
#define CONNLEAK_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC_COARSE: a vDSO read, no system call. */
static inline uint64_t clock_coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	/* tv_nsec / 1,000,000 as one multiply and a shift: exact for every tv_nsec below
	 * 10^9 (the constant is 2^50 / 10^6 rounded up; the excess stays under 10^-6). */
	return (uint64_t)ts.tv_sec * 1000u + (((uint64_t)ts.tv_nsec * 1125899907u) >> 50);
}

/* Milliseconds since the epoch, for start and end times. */
static inline uint64_t clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
