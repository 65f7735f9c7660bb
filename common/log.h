/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h: leveled logging to stderr. Callable from any thread (one fprintf per line, which
 * stdio locks). Not for the per-request path: use SL_LOG_RATELIMIT there.
 */
#ifndef SL_COMMON_LOG_H
#define SL_COMMON_LOG_H

#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_log_level { SL_LOG_ERROR = 0, SL_LOG_WARN, SL_LOG_INFO, SL_LOG_DEBUG };

extern enum sl_log_level sl_log_level;

void sl_log(enum sl_log_level lvl, const char *fmt, ...) SL_PRINTF(2, 3);

#define SL_ERR(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)
#define SL_WARN(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define SL_INFO(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define SL_DEBUG(...)                                                                              \
	do {                                                                                       \
		if (SL_UNLIKELY(sl_log_level >= SL_LOG_DEBUG))                                     \
			sl_log(SL_LOG_DEBUG, __VA_ARGS__);                                         \
	} while (0)

/* Logs at most once per second per call site; for paths that may run per request. */
#define SL_LOG_RATELIMIT(lvl, ...)                                                                 \
	do {                                                                                       \
		static int64_t sl_rl_last_;                                                        \
		if (sl_log_ratelimit_ok(&sl_rl_last_))                                             \
			sl_log(lvl, __VA_ARGS__);                                                  \
	} while (0)

int sl_log_ratelimit_ok(int64_t *last_ns);

#ifdef __cplusplus
}
#endif

#endif
