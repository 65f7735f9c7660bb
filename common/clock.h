/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.h: monotonic and wall clocks. Read the clock once per loop iteration and pass the
 * value down; compare times by signed difference.
 */
#ifndef SL_COMMON_CLOCK_H
#define SL_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int64_t
sl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Milliseconds since the Unix epoch, as Kafka timestamps are. */
static inline int64_t
sl_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Wall-clock milliseconds derived from a monotonic reading the caller already has, so a
 * loop reads one clock per iteration, not two: CLOCK_REALTIME is read again once a second
 * (steps of the wall clock show within that second).
 */
struct sl_wallclock {
	int64_t off_ms;  /* wall ms - monotonic ms at the last reading */
	int64_t next_ns; /* monotonic time of the next reading (0: none yet) */
};

static inline int64_t
sl_wallclock_ms(struct sl_wallclock *w, int64_t now_ns)
{
	if (now_ns >= w->next_ns || w->next_ns == 0) {
		w->off_ms = sl_wall_ms() - now_ns / 1000000;
		w->next_ns = now_ns + 1000000000LL;
	}
	return now_ns / 1000000 + w->off_ms;
}

#ifdef __cplusplus
}
#endif

#endif
