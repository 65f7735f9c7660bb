// SPDX-License-Identifier: Apache-2.0
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/clock.h"

enum sl_log_level sl_log_level = SL_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void
sl_log(enum sl_log_level lvl, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (lvl > sl_log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, level_names[lvl]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

int
sl_log_ratelimit_ok(int64_t *last_ns)
{
	int64_t now = sl_now_ns();

	if (*last_ns != 0 && now - *last_ns < 1000000000LL)
		return 0;
	*last_ns = now;
	return 1;
}
