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

#ifdef __cplusplus
}
#endif

#endif
