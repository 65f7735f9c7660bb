// SPDX-License-Identifier: Apache-2.0
/*
 * rdk_roundtrip: librdkafka round trip for the integration tests.
 *
 *   rdk_roundtrip BOOTSTRAP TOPIC COUNT [CODEC]
 *
 * TOPIC must exist with 3 partitions. Produces COUNT records to partitions i % 3, each with the
 * key "key-<i>", a binary value of 0..4095 bytes (zero bytes included; every 17th value empty)
 * and two headers ("seq" = i in decimal, "bin" = 8 binary bytes), waits for every delivery
 * report (acks=all), then consumes the 3 partitions from the beginning with a consumer that
 * assigns them itself and checks, per partition: the records arrive in produce order with
 * contiguous offsets equal to the delivery reports', and key, value and headers are unchanged.
 * Prints "rdk_roundtrip: ok N records" and exits 0; on any mismatch prints what differs and
 * exits 1.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NPART 3
#define MAX_VALUE 4096

static int64_t *dr_offset; /* delivery-report offset of record i, -1 until acknowledged */
static int dr_errors;

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Record i's value into buf; returns its length. */
static size_t
make_value(int i, unsigned char *buf)
{
	size_t len = i % 17 == 0 ? 0 : mix((uint64_t)i) % MAX_VALUE;

	for (size_t j = 0; j < len; j++)
		buf[j] = (unsigned char)mix((uint64_t)i * 131 + j);
	return len;
}

static void
make_bin(int i, unsigned char bin[8])
{
	uint64_t x = mix((uint64_t)i + 7);

	memcpy(bin, &x, 8);
	bin[3] = 0;
}

static void
dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	intptr_t i = (intptr_t)m->_private;

	(void)rk;
	(void)opaque;
	if (m->err) {
		if (dr_errors++ < 5)
			fprintf(stderr, "rdk_roundtrip: record %ld not delivered: %s\n", (long)i,
			        rd_kafka_err2str(m->err));
		return;
	}
	dr_offset[i] = m->offset;
}

static rd_kafka_t *
new_handle(rd_kafka_type_t type, const char *bootstrap, const char *codec)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *kv[][2] = {
	        {"bootstrap.servers", bootstrap},
	        {"log_level", "4"},
	        {type == RD_KAFKA_PRODUCER ? "compression.codec" : "group.id",
	         type == RD_KAFKA_PRODUCER ? codec : "rdk-roundtrip"},
	        {type == RD_KAFKA_PRODUCER ? "acks" : "enable.auto.commit",
	         type == RD_KAFKA_PRODUCER ? "all" : "false"},
	        {type == RD_KAFKA_PRODUCER ? "linger.ms" : "auto.offset.reset",
	         type == RD_KAFKA_PRODUCER ? "5" : "earliest"},
	};
	rd_kafka_t *rk;

	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK) {
			fprintf(stderr, "rdk_roundtrip: %s=%s: %s\n", kv[i][0], kv[i][1], errstr);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	if (type == RD_KAFKA_PRODUCER)
		rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "rdk_roundtrip: rd_kafka_new: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

static int
check_partitions(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t err;
	int n = -1;

	err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	rd_kafka_topic_destroy(rkt);
	if (err) {
		fprintf(stderr, "rdk_roundtrip: metadata: %s\n", rd_kafka_err2str(err));
		return -1;
	}
	if (md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	if (n != NPART) {
		fprintf(stderr, "rdk_roundtrip: topic %s has %d partitions, want %d\n", topic, n,
		        NPART);
		return -1;
	}
	return 0;
}

static int
produce(const char *bootstrap, const char *topic, int count, const char *codec)
{
	static unsigned char value[MAX_VALUE];
	rd_kafka_t *rk = new_handle(RD_KAFKA_PRODUCER, bootstrap, codec);
	int rc = -1;

	if (!rk)
		return -1;
	if (check_partitions(rk, topic) < 0)
		goto out;
	for (int i = 0; i < count; i++) {
		char key[32], seq[16];
		unsigned char bin[8];
		size_t vlen = make_value(i, value);
		rd_kafka_resp_err_t err;

		snprintf(key, sizeof(key), "key-%d", i);
		snprintf(seq, sizeof(seq), "%d", i);
		make_bin(i, bin);
		do {
			err = rd_kafka_producev(
			        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % NPART),
			        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(value, vlen),
			        RD_KAFKA_V_HEADER("seq", seq, (ssize_t)strlen(seq)),
			        RD_KAFKA_V_HEADER("bin", bin, (ssize_t)sizeof(bin)),
			        RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
			if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
				rd_kafka_poll(rk, 50);
		} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
		if (err) {
			fprintf(stderr, "rdk_roundtrip: produce %d: %s\n", i,
			        rd_kafka_err2str(err));
			goto out;
		}
		rd_kafka_poll(rk, 0);
	}
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "rdk_roundtrip: flush timed out, %d in queue\n",
		        rd_kafka_outq_len(rk));
		goto out;
	}
	if (dr_errors) {
		fprintf(stderr, "rdk_roundtrip: %d delivery errors\n", dr_errors);
		goto out;
	}
	rc = 0;
out:
	rd_kafka_destroy(rk);
	return rc;
}

static const void *
header(rd_kafka_headers_t *hdrs, const char *name, size_t *len)
{
	const void *v = NULL;

	if (!hdrs || rd_kafka_header_get_last(hdrs, name, &v, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	return v;
}

/* Checks message m against record i; returns 0 when identical. */
static int
check_record(rd_kafka_message_t *m, int i)
{
	static unsigned char value[MAX_VALUE];
	rd_kafka_headers_t *hdrs = NULL;
	char key[32], seq[16];
	unsigned char bin[8];
	size_t vlen = make_value(i, value), hlen;
	const void *h;

	snprintf(key, sizeof(key), "key-%d", i);
	snprintf(seq, sizeof(seq), "%d", i);
	make_bin(i, bin);
	if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len)) {
		fprintf(stderr, "record %d: key differs (%.*s)\n", i, (int)m->key_len,
		        (const char *)m->key);
		return -1;
	}
	if (m->len != vlen || (vlen && memcmp(m->payload, value, vlen))) {
		fprintf(stderr, "record %d: value differs (len %zu, want %zu)\n", i, m->len, vlen);
		return -1;
	}
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_header_cnt(hdrs) != 2) {
		fprintf(stderr, "record %d: want 2 headers, got %zu\n", i,
		        hdrs ? rd_kafka_header_cnt(hdrs) : 0);
		return -1;
	}
	h = header(hdrs, "seq", &hlen);
	if (!h || hlen != strlen(seq) || memcmp(h, seq, hlen)) {
		fprintf(stderr, "record %d: header seq differs\n", i);
		return -1;
	}
	h = header(hdrs, "bin", &hlen);
	if (!h || hlen != sizeof(bin) || memcmp(h, bin, hlen)) {
		fprintf(stderr, "record %d: header bin differs\n", i);
		return -1;
	}
	return 0;
}

static int
consume(const char *bootstrap, const char *topic, int count)
{
	rd_kafka_t *rk = new_handle(RD_KAFKA_CONSUMER, bootstrap, NULL);
	rd_kafka_topic_partition_list_t *parts;
	int next[NPART], got = 0, rc = -1;
	struct timespec t0, now;

	if (!rk)
		return -1;
	parts = rd_kafka_topic_partition_list_new(NPART);
	for (int p = 0; p < NPART; p++) {
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
		        RD_KAFKA_OFFSET_BEGINNING;
		next[p] = p; /* index of the record expected next on partition p */
	}
	if (rd_kafka_assign(rk, parts)) {
		fprintf(stderr, "rdk_roundtrip: assign failed\n");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < count) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		int p, i;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 60) {
			fprintf(stderr, "rdk_roundtrip: timed out with %d of %d records\n", got,
			        count);
			goto out;
		}
		if (!m)
			continue;
		if (m->err) {
			fprintf(stderr, "rdk_roundtrip: consumer: %s\n",
			        rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		p = m->partition;
		if (p < 0 || p >= NPART || next[p] >= count) {
			fprintf(stderr,
			        "rdk_roundtrip: unexpected record on partition %d offset %" PRId64
			        "\n",
			        p, m->offset);
			rd_kafka_message_destroy(m);
			goto out;
		}
		i = next[p];
		if (m->offset != dr_offset[i]) {
			fprintf(stderr,
			        "rdk_roundtrip: partition %d: record %d at offset %" PRId64
			        ", acknowledged at %" PRId64 " (order or offsets differ)\n",
			        p, i, m->offset, dr_offset[i]);
			rd_kafka_message_destroy(m);
			goto out;
		}
		if (check_record(m, i) < 0) {
			rd_kafka_message_destroy(m);
			goto out;
		}
		rd_kafka_message_destroy(m);
		next[p] += NPART;
		got++;
	}
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *codec = argc > 4 ? argv[4] : "none";
	int count, rc = 1;

	if (argc < 4 || (count = atoi(argv[3])) <= 0) {
		fprintf(stderr, "usage: rdk_roundtrip BOOTSTRAP TOPIC COUNT [CODEC]\n");
		return 2;
	}
	dr_offset = malloc(sizeof(*dr_offset) * (size_t)count);
	if (!dr_offset)
		return 1;
	for (int i = 0; i < count; i++)
		dr_offset[i] = -1;
	if (produce(argv[1], argv[2], count, codec) < 0)
		goto out;
	/* offsets per partition must be contiguous from the first acknowledged one */
	for (int i = NPART; i < count; i++) {
		if (dr_offset[i] != dr_offset[i - NPART] + 1) {
			fprintf(stderr,
			        "rdk_roundtrip: record %d acknowledged at %" PRId64
			        ", previous on its partition at %" PRId64 "\n",
			        i, dr_offset[i], dr_offset[i - NPART]);
			goto out;
		}
	}
	if (consume(argv[1], argv[2], count) < 0)
		goto out;
	printf("rdk_roundtrip: ok %d records (%s)\n", count, codec);
	rc = 0;
out:
	free(dr_offset);
	return rc;
}
