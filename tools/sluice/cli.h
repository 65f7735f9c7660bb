/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h: the subcommands of the `sluice` command line and the small helpers they share.
 * Internal to tools/sluice. Every entry point takes the arguments after its own name
 * (argv[0] is the subcommand) and returns the process exit status.
 */
#ifndef SL_TOOLS_SLUICE_CLI_H
#define SL_TOOLS_SLUICE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exit statuses: 0 clean, 1 problems found / run failed, 2 usage error. */
#define SL_CLI_OK 0
#define SL_CLI_FAIL 1
#define SL_CLI_USAGE 2

/* `sluice log dump|verify ...` (logtool.c). */
int sl_cli_log(int argc, char **argv);

/* `sluice perf produce|consume|e2e ...` (perf.c; librdkafka). */
int sl_cli_perf(int argc, char **argv);

/* `sluice perf produce|serve --dpdk ...` (perf_dpdk.c; the userspace stack over DPDK). */
int sl_cli_perf_dpdk(int argc, char **argv);

/* Parses a decimal integer with an optional suffix: "k", "m", "g" = 1000^n and "ki", "mi",
 * "gi" = 1024^n (case-insensitive). Rejects junk and overflow. Returns 0 or -EINVAL. */
int sl_cli_parse_i64(const char *s, int64_t *out) SL_MUST_CHECK;

/* Parses a non-negative duration: plain seconds, or with a suffix ms, s, m, h.
 * Returns 0 or -EINVAL; *out_ns in nanoseconds. */
int sl_cli_parse_duration(const char *s, int64_t *out_ns) SL_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
