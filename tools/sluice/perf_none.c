/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf_none.c: `sluice perf` in a build without librdkafka (rdkafka pkg-config not found):
 * says so and fails. The real tool is perf.c.
 */
#include <stdio.h>

#include "cli.h"

int
sl_cli_perf(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sluice perf: this sluice was built without librdkafka "
	                "(install librdkafka-dev and reconfigure)\n");
	return SL_CLI_FAIL;
}
