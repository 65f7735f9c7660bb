/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.c: argument parsers shared by the sluice subcommands (sizes with suffixes,
 * durations). Pure functions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

int
sl_cli_parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		static const struct {
			const char *sfx;
			int64_t mul;
		} sfx[] = {
		        {"k", 1000LL},     {"m", 1000000LL},  {"g", 1000000000LL},
		        {"ki", 1LL << 10}, {"mi", 1LL << 20}, {"gi", 1LL << 30},
		};
		unsigned i;

		for (i = 0; i < SL_ARRAY_SIZE(sfx); i++)
			if (!strcasecmp(end, sfx[i].sfx))
				break;
		if (i == SL_ARRAY_SIZE(sfx))
			return -EINVAL;
		mul = sfx[i].mul;
	}
	if (__builtin_mul_overflow((int64_t)v, mul, out))
		return -EINVAL;
	return 0;
}

int
sl_cli_parse_duration(const char *s, int64_t *out_ns)
{
	char *end;
	double v;
	double mul = 1e9;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0 || v != v)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		mul = 1e6;
	else if (!strcmp(end, "us"))
		mul = 1e3;
	else if (!strcmp(end, "m"))
		mul = 60e9;
	else if (!strcmp(end, "h"))
		mul = 3600e9;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	if (v * mul > 9.0e18)
		return -EINVAL;
	*out_ns = (int64_t)(v * mul);
	return 0;
}
