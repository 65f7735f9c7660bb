// SPDX-License-Identifier: Apache-2.0
/*
 * mockbroker: hosts librdkafka's in-memory mock cluster (rd_kafka_mock_cluster_new) as a
 * stand-alone Kafka-protocol server on loopback, a reference peer for request capture
 * (scripts/capture_kreq.py) and for benchmarks.
 *
 *   mockbroker [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Prints "mockbroker listening on <bootstrap servers>" on stderr once the cluster serves, then
 * runs until SIGTERM or SIGINT and exits 0. Topics not created with --topic are auto-created by
 * the mock on first use (librdkafka's default partition count).
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOPICS 64

static void
usage(void)
{
	fprintf(stderr, "usage: mockbroker [--brokers N] [--topic NAME:PARTITIONS]...\n");
}

static int
parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *topics[MAX_TOPICS];
	int parts[MAX_TOPICS];
	int ntopics = 0, nbrokers = 1, sig = 0, rc = 1;
	char errstr[512];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
			if (parse_int(argv[++i], 1, 16, &nbrokers) < 0) {
				usage();
				return 2;
			}
		} else if (!strcmp(argv[i], "--topic") && i + 1 < argc && ntopics < MAX_TOPICS) {
			char *colon = strrchr(argv[++i], ':');

			if (!colon || colon == argv[i] ||
			    parse_int(colon + 1, 1, 100000, &parts[ntopics]) < 0) {
				usage();
				return 2;
			}
			*colon = '\0';
			topics[ntopics++] = argv[i];
		} else {
			usage();
			return 2;
		}
	}

	/* Block the stop signals before librdkafka starts threads, so they inherit the mask and
	 * sigwait below is the only receiver. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		perror("mockbroker: pthread_sigmask");
		return 1;
	}

	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		fprintf(stderr, "mockbroker: %s\n", errstr);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "mockbroker: rd_kafka_new: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (!mc) {
		fprintf(stderr, "mockbroker: rd_kafka_mock_cluster_new failed\n");
		goto out_destroy_rk;
	}
	for (int i = 0; i < ntopics; i++) {
		rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, topics[i], parts[i],
		                                                     nbrokers < 3 ? nbrokers : 3);
		if (err) {
			fprintf(stderr, "mockbroker: topic %s: %s\n", topics[i],
			        rd_kafka_err2str(err));
			goto out_destroy_mc;
		}
	}

	fprintf(stderr, "mockbroker listening on %s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stderr);

	if (sigwait(&set, &sig) != 0) {
		perror("mockbroker: sigwait");
		goto out_destroy_mc;
	}
	fprintf(stderr, "mockbroker: signal %d, stopping\n", sig);
	rc = 0;

out_destroy_mc:
	rd_kafka_mock_cluster_destroy(mc);
out_destroy_rk:
	rd_kafka_destroy(rk);
	return rc;
}
