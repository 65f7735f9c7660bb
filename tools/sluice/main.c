/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c: `sluice`, the command line. Dispatches to the subcommands (log dump/verify for
 * offline inspection of partition directories, perf for load generation through
 * librdkafka). Single-threaded except where a subcommand starts its own threads.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: sluice <command> [args]\n"
	        "\n"
	        "commands:\n"
	        "  log dump DIR [--records]    print every batch (and record) of a partition\n"
	        "                              directory <topic>-<partition>, or of every\n"
	        "                              partition under a log.dirs root\n"
	        "  log verify DIR              check framing, CRCs, offsets, segment names and\n"
	        "                              indexes offline; exit 0 when clean, 1 when damaged\n"
	        "  perf produce|consume|e2e    load generator over librdkafka: records/s, MB/s "
	        "and\n"
	        "                              latency percentiles (sluice perf --help)\n"
	        "  perf produce --dpdk ...     the same over DPDK and the userspace TCP stack\n"
	        "                              (sluice perf produce --dpdk --help)\n"
	        "  help                        this text\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return SL_CLI_USAGE;
	}
	if (!strcmp(argv[1], "log"))
		return sl_cli_log(argc - 1, argv + 1);
	if (!strcmp(argv[1], "perf")) {
		/* --dpdk (or its kernel-socket twin --socket): the load generator of perf_dpdk.c
		 * on the project's own stack and codecs, no librdkafka */
		for (int i = 2; i < argc; i++)
			if (!strcmp(argv[i], "--dpdk") || !strcmp(argv[i], "--socket")) {
#ifdef SL_SLUICE_DPDK
				return sl_cli_perf_dpdk(argc - 1, argv + 1);
#else
				fprintf(stderr, "sluice perf: this sluice was built without DPDK "
				                "(libdpdk-dev): no --dpdk or --socket\n");
				return SL_CLI_FAIL;
#endif
			}
		return sl_cli_perf(argc - 1, argv + 1);
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return SL_CLI_OK;
	}
	fprintf(stderr, "sluice: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return SL_CLI_USAGE;
}
