/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf.c: `sluice perf produce|consume|e2e`, a load generator over librdkafka that reports
 * records/s, MB/s (10^6 bytes) and latency percentiles from a log-linear histogram
 * (common/hist.h).
 *
 *   produce  latency = delivery report time - intended send time. With --rate the send
 *            schedule is fixed in advance (open loop): message i is due at start + i/rate
 *            whether or not the client kept up, so stalls show up in the latency instead
 *            of silently slowing the load (coordinated omission). Without --rate every
 *            message is due when it is handed to librdkafka (closed loop, max speed).
 *   consume  reads the topic from the beginning (all partitions, no group rebalance),
 *            by default everything it held when the run started. Latency is reported
 *            only for records written by `sluice perf` (now - their embedded send time).
 *   e2e      a consumer thread assigned at the current end of every partition, and a
 *            producer; each payload carries a run id, a sequence number and its intended
 *            send time (CLOCK_REALTIME ns), and the latency is consume time - intended
 *            send time.
 *
 * --mock [N] starts librdkafka's in-memory mock cluster with N brokers (default 1) inside
 * this process and points the clients at it, so the tool works without a broker.
 *
 * Payload layout (when --size >= 24; every byte after it is filler):
 *
 *   0      4  magic "SLPF"
 *   4      4  run id (random per run, big-endian)
 *   8      8  sequence number (big-endian)
 *   16     8  intended send time, CLOCK_REALTIME ns (big-endian)
 *
 * Output: a human table and one line starting with "sluice-perf " made of key=value pairs
 * for scripts. Blocking, runs its own threads (librdkafka's, plus the e2e consumer).
 */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/hist.h"

#include "cli.h"

#define PERF_MAGIC 0x534c5046u /* "SLPF" */
#define PERF_HDR_SIZE 24
#define PERF_MAX_X 64
#define PERF_HIST_HIGHEST (3600LL * 1000000000LL) /* 1 h in ns */
#define PERF_HIST_SUB_BITS 10                     /* < 0.1% error */

enum perf_mode { PERF_PRODUCE, PERF_CONSUME, PERF_E2E };

struct perf_opts {
	enum perf_mode mode;
	const char *mode_name;
	const char *brokers;
	int mock_brokers; /* 0: no mock cluster */
	const char *topic;
	int64_t size;
	int64_t count;       /* -1: not given */
	int64_t duration_ns; /* 0: not given */
	int64_t rate;        /* records/s, 0 = as fast as possible */
	const char *acks;
	int64_t partitions; /* 0: leave the topic as it is */
	const char *compression;
	const char *linger_ms;
	const char *batch_size;
	const char *batch_num;
	int64_t timeout_ns; /* consumer idle timeout, flush timeout */
	const char *x[PERF_MAX_X];
	unsigned nx;
	bool quiet;
};

struct perf_result {
	struct sl_hist lat; /* ns */
	uint64_t records;
	uint64_t bytes;
	uint64_t errors;
	uint64_t foreign; /* e2e/consume: records without our header or of another run */
	int64_t t_start_ns, t_end_ns;
};

static volatile sig_atomic_t perf_stop;

static void
on_signal(int sig)
{
	(void)sig;
	perf_stop = 1;
}

static void
perf_usage(FILE *f)
{
	fprintf(f,
	        "usage: sluice perf produce|consume|e2e [options]\n"
	        "  --brokers LIST       bootstrap servers (default localhost:9092)\n"
	        "  --mock [N]           run against librdkafka's in-process mock cluster of N\n"
	        "                       brokers (default 1) instead of --brokers\n"
	        "  --topic NAME         topic (default sluice-perf)\n"
	        "  --size BYTES         record value size (default 1024; e2e needs >= %d)\n"
	        "  --count N            records to produce / consume (default 1000000 for produce\n"
	        "                       and e2e; consume: what the topic holds at start)\n"
	        "  --duration TIME      run for TIME (e.g. 10s, 500ms) instead of --count\n"
	        "  --rate R             records/s, open loop (default 0 = as fast as possible)\n"
	        "  --acks A             0, 1 or -1/all (default -1)\n"
	        "  --partitions N       create the topic with N partitions if it does not exist\n"
	        "  --compression C      none, gzip, snappy, lz4, zstd (default none)\n"
	        "  --linger-ms MS       producer linger.ms\n"
	        "  --batch-size BYTES   producer batch.size\n"
	        "  --batch-num N        producer batch.num.messages\n"
	        "  --timeout TIME       give up after TIME without progress (default 30s)\n"
	        "  -X key=value         any librdkafka property, for every client (repeatable)\n"
	        "  --quiet              print only the sluice-perf summary line\n",
	        PERF_HDR_SIZE);
}

/* ---- librdkafka plumbing ---- */

static int
conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "sluice perf: %s=%s: %s\n", k, v, err);
		return -EINVAL;
	}
	return 0;
}

static void
on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	static atomic_uint printed;

	(void)rk;
	(void)opaque;
	if (atomic_fetch_add(&printed, 1) < 10)
		fprintf(stderr, "sluice perf: librdkafka: %s: %s\n",
		        rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static rd_kafka_conf_t *
base_conf(const struct perf_opts *o, const char *client_id, bool consumer)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (conf_set(conf, "bootstrap.servers", o->brokers) ||
	    conf_set(conf, "client.id", client_id))
		goto out_destroy;
	/* The mock cluster answers a Fetch only after fetch.wait.max.ms even when data
	 * arrives meanwhile (no long poll); keep it short there (-X can still set it). */
	if (consumer && o->mock_brokers && conf_set(conf, "fetch.wait.max.ms", "1"))
		goto out_destroy;
	rd_kafka_conf_set_error_cb(conf, on_error);
	for (unsigned i = 0; i < o->nx; i++) {
		char k[256];
		const char *eq = strchr(o->x[i], '=');
		size_t kl = (size_t)(eq - o->x[i]);

		if (!eq || kl == 0 || kl >= sizeof(k)) {
			fprintf(stderr, "sluice perf: -X %s: want key=value\n", o->x[i]);
			goto out_destroy;
		}
		memcpy(k, o->x[i], kl);
		k[kl] = 0;
		if (conf_set(conf, k, eq + 1))
			goto out_destroy;
	}
	return conf;

out_destroy:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

static rd_kafka_t *
new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));

	if (!rk) {
		fprintf(stderr, "sluice perf: rd_kafka_new: %s\n", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* Creates the topic through the Admin API; an existing topic is fine. */
static int
create_topic(rd_kafka_t *rk, const char *topic, int partitions, int64_t timeout_ns)
{
	char err[256];
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	const rd_kafka_CreateTopics_result_t *res;
	const rd_kafka_topic_result_t **tres;
	size_t n;
	int ret = 0;

	nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof(err));
	if (!nt) {
		fprintf(stderr, "sluice perf: topic %s: %s\n", topic, err);
		return -EINVAL;
	}
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = rd_kafka_queue_poll(q, (int)(timeout_ns / 1000000));
	res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
	if (!res) {
		fprintf(stderr, "sluice perf: CreateTopics %s: %s\n", topic,
		        ev ? rd_kafka_event_error_string(ev) : "timed out");
		ret = -ETIMEDOUT;
		goto out;
	}
	tres = rd_kafka_CreateTopics_result_topics(res, &n);
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tres[i]);

		if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			fprintf(stderr, "sluice perf: CreateTopics %s: %s\n", topic,
			        rd_kafka_topic_result_error_string(tres[i]));
			ret = -EIO;
		}
	}
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_NewTopic_destroy(nt);
	return ret;
}

/* Waits until the topic's metadata lists its partitions; returns their count or -errno. */
static int
topic_partitions(rd_kafka_t *rk, const char *topic, int64_t timeout_ns)
{
	int64_t deadline = sl_now_ns() + timeout_ns;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int ret = -ETIMEDOUT;

	if (!rkt)
		return -ENOMEM;
	while (!perf_stop && sl_now_ns() < deadline) {
		const struct rd_kafka_metadata *md;
		rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 2000);

		if (!e) {
			if (md->topic_cnt == 1 && !md->topics[0].err &&
			    md->topics[0].partition_cnt > 0) {
				ret = md->topics[0].partition_cnt;
				rd_kafka_metadata_destroy(md);
				break;
			}
			rd_kafka_metadata_destroy(md);
		}
		usleep(100 * 1000);
	}
	rd_kafka_topic_destroy(rkt);
	if (ret < 0)
		fprintf(stderr, "sluice perf: no metadata for topic %s\n", topic);
	return ret;
}

/* ---- payload ---- */

static void
payload_stamp(uint8_t *p, size_t size, uint32_t run_id, uint64_t seq, int64_t send_real_ns)
{
	if (size < PERF_HDR_SIZE)
		return;
	sl_put_be32(p, PERF_MAGIC);
	sl_put_be32(p + 4, run_id);
	sl_put_be64(p + 8, seq);
	sl_put_be64(p + 16, (uint64_t)send_real_ns);
}

/* Returns the embedded send time, or -1 when the record is not ours (run_id 0: any run). */
static int64_t
payload_send_time(const uint8_t *p, size_t size, uint32_t run_id)
{
	if (!p || size < PERF_HDR_SIZE || sl_be32(p) != PERF_MAGIC)
		return -1;
	if (run_id && sl_be32(p + 4) != run_id)
		return -1;
	return (int64_t)sl_be64(p + 16);
}

static int64_t
real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- produce ---- */

struct producer {
	struct perf_result *res;
	int64_t last_dr_ns;
	uint64_t in_flight;
};

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct producer *p = opaque;
	int64_t now = sl_now_ns();

	(void)rk;
	p->in_flight--;
	p->last_dr_ns = now;
	if (m->err) {
		p->res->errors++;
		if (p->res->errors <= 5)
			fprintf(stderr, "sluice perf: delivery failed: %s\n",
			        rd_kafka_err2str(m->err));
		return;
	}
	p->res->records++;
	p->res->bytes += m->len;
	sl_hist_record(&p->res->lat, now - (int64_t)(intptr_t)m->_private);
}

/*
 * Waits for every delivery report, in slices, so that a stuck broker ends the run after
 * timeout_ns without progress instead of hanging. Undelivered records count as errors.
 * Returns 0 or -ETIMEDOUT.
 */
static int
flush_all(rd_kafka_t *rk, struct producer *p, int64_t timeout_ns)
{
	int64_t deadline = sl_now_ns() + timeout_ns;
	uint64_t last = p->in_flight;

	while (p->in_flight && sl_now_ns() < deadline) {
		rd_kafka_flush(rk, 100);
		if (p->in_flight != last) {
			last = p->in_flight;
			deadline = sl_now_ns() + timeout_ns;
		}
	}
	if (!p->in_flight)
		return 0;
	fprintf(stderr, "sluice perf: %llu records undelivered after --timeout\n",
	        (unsigned long long)p->in_flight);
	p->res->errors += p->in_flight;
	return -ETIMEDOUT;
}

static int
producer_conf(const struct perf_opts *o, rd_kafka_conf_t *conf)
{
	if (conf_set(conf, "acks", o->acks) || conf_set(conf, "compression.codec", o->compression))
		return -EINVAL;
	if (o->linger_ms && conf_set(conf, "linger.ms", o->linger_ms))
		return -EINVAL;
	if (o->batch_size && conf_set(conf, "batch.size", o->batch_size))
		return -EINVAL;
	if (o->batch_num && conf_set(conf, "batch.num.messages", o->batch_num))
		return -EINVAL;
	return 0;
}

/*
 * Produces count records (or for duration_ns), on the schedule of rate. Fills res; *ok
 * gets the number delivered (for the e2e consumer). run_id tags the payloads.
 */
static int
run_produce(const struct perf_opts *o, int64_t count, struct perf_result *res, uint32_t run_id)
{
	struct producer p = {.res = res};
	rd_kafka_conf_t *conf = base_conf(o, "sluice-perf-producer", false);
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	uint8_t *buf;
	int64_t start, start_real, i;
	int ret = 0;

	if (!conf)
		return -EINVAL;
	if (producer_conf(o, conf)) {
		rd_kafka_conf_destroy(conf);
		return -EINVAL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &p);
	rk = new_client(RD_KAFKA_PRODUCER, conf);
	if (!rk)
		return -EINVAL;
	rkt = rd_kafka_topic_new(rk, o->topic, NULL);
	buf = malloc((size_t)o->size + 1);
	if (!rkt || !buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < o->size; i++)
		buf[i] = (uint8_t)('a' + i % 26);
	/* Connect and learn the partitions before the clock starts. */
	if (topic_partitions(rk, o->topic, o->timeout_ns) < 0) {
		ret = -ETIMEDOUT;
		goto out;
	}

	start = sl_now_ns();
	start_real = real_ns();
	res->t_start_ns = start;
	p.last_dr_ns = start;
	for (i = 0; !perf_stop; i++) {
		int64_t now = sl_now_ns(), due = now;

		if (count >= 0 && i >= count)
			break;
		if (o->duration_ns && now - start >= o->duration_ns)
			break;
		if (o->rate > 0) {
			due = start + (int64_t)((__int128)i * 1000000000 / o->rate);
			while (now < due && !perf_stop) {
				int64_t wait_ms = (due - now) / 1000000;

				/* Serve delivery reports while waiting; spin the last ms. */
				rd_kafka_poll(rk, wait_ms > 1 ? (int)(wait_ms - 1) : 0);
				now = sl_now_ns();
			}
			if (o->duration_ns && due - start >= o->duration_ns)
				break;
		}
		payload_stamp(buf, (size_t)o->size, run_id, (uint64_t)i,
		              start_real + (due - start));
		while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, buf,
		                        (size_t)o->size, NULL, 0, (void *)(intptr_t)due) == -1) {
			rd_kafka_resp_err_t e = rd_kafka_last_error();

			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				fprintf(stderr, "sluice perf: produce: %s\n", rd_kafka_err2str(e));
				res->errors++;
				ret = -EIO;
				goto out_flush;
			}
			rd_kafka_poll(rk, 1);
			if (perf_stop || (o->duration_ns && sl_now_ns() - start >= o->duration_ns))
				goto out_flush;
			if (sl_now_ns() - p.last_dr_ns > o->timeout_ns) {
				fprintf(stderr,
				        "sluice perf: queue full and no delivery for --timeout\n");
				ret = -ETIMEDOUT;
				goto out_flush;
			}
		}
		p.in_flight++;
		if ((i & 63) == 0)
			rd_kafka_poll(rk, 0);
	}
out_flush:
	if (flush_all(rk, &p, o->timeout_ns))
		ret = ret ? ret : -ETIMEDOUT;
	res->t_end_ns = p.last_dr_ns;
out:
	free(buf);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return ret;
}

/* ---- consume ---- */

struct consumer {
	const struct perf_opts *o;
	struct perf_result *res;
	bool from_end;              /* e2e: start at the high watermarks */
	uint32_t run_id;            /* 0: any run's records count for latency */
	int64_t target;             /* records to read; < 0: unknown yet */
	_Atomic int64_t e2e_target; /* e2e: set by the producer when done (-1 before) */
	atomic_int ready;           /* 1 when assigned, -1 when setup failed */
	int ret;
};

/* Assigns every partition of the topic; returns their count or -errno. */
static int
consumer_assign(struct consumer *c, rd_kafka_t *rk, int64_t *available)
{
	const struct perf_opts *o = c->o;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t e;
	int n = topic_partitions(rk, o->topic, o->timeout_ns);

	*available = 0;
	if (n < 0)
		return n;
	parts = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++) {
		int64_t lo = 0, hi = 0;

		e = rd_kafka_query_watermark_offsets(rk, o->topic, i, &lo, &hi,
		                                     (int)(o->timeout_ns / 1000000));
		if (e) {
			fprintf(stderr, "sluice perf: watermarks of %s-%d: %s\n", o->topic, i,
			        rd_kafka_err2str(e));
			rd_kafka_topic_partition_list_destroy(parts);
			return -EIO;
		}
		*available += hi - lo;
		rd_kafka_topic_partition_list_add(parts, o->topic, i)->offset =
		        c->from_end ? hi : RD_KAFKA_OFFSET_BEGINNING;
	}
	e = rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (e) {
		fprintf(stderr, "sluice perf: assign: %s\n", rd_kafka_err2str(e));
		return -EIO;
	}
	return n;
}

/*
 * e2e: waits until every partition has reported end-of-partition once, i.e. the fetchers
 * run, so that the producer's first records do not measure the consumer's start-up.
 */
static int
consumer_wait_fetching(struct consumer *c, rd_kafka_t *rk, int nparts)
{
	int64_t deadline = sl_now_ns() + c->o->timeout_ns;
	int eofs = 0;

	while (eofs < nparts && !perf_stop) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (m) {
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
				eofs++;
			rd_kafka_message_destroy(m);
		}
		if (sl_now_ns() > deadline) {
			fprintf(stderr,
			        "sluice perf: consumer did not reach the end of the topic\n");
			return -ETIMEDOUT;
		}
	}
	return 0;
}

static int
run_consume(struct consumer *c)
{
	const struct perf_opts *o = c->o;
	struct perf_result *res = c->res;
	rd_kafka_conf_t *conf = base_conf(o, "sluice-perf-consumer", true);
	rd_kafka_t *rk;
	char group[64];
	int64_t available, last_progress, target = c->target;
	int ret = 0;

	if (!conf) {
		atomic_store(&c->ready, -1);
		return -EINVAL;
	}
	snprintf(group, sizeof(group), "sluice-perf-%d", (int)getpid());
	if (conf_set(conf, "group.id", group) || conf_set(conf, "enable.auto.commit", "false") ||
	    conf_set(conf, "auto.offset.reset", "earliest") ||
	    conf_set(conf, "enable.partition.eof", c->from_end ? "true" : "false")) {
		rd_kafka_conf_destroy(conf);
		atomic_store(&c->ready, -1);
		return -EINVAL;
	}
	rk = new_client(RD_KAFKA_CONSUMER, conf);
	if (!rk) {
		atomic_store(&c->ready, -1);
		return -EINVAL;
	}
	rd_kafka_poll_set_consumer(rk);
	ret = consumer_assign(c, rk, &available);
	if (ret >= 0 && c->from_end)
		ret = consumer_wait_fetching(c, rk, ret);
	if (ret < 0) {
		atomic_store(&c->ready, -1);
		goto out;
	}
	ret = 0;
	if (target < 0 && !c->from_end)
		target = available;
	atomic_store(&c->ready, 1);

	res->t_start_ns = sl_now_ns();
	res->t_end_ns = res->t_start_ns;
	last_progress = res->t_start_ns;
	while (!perf_stop) {
		rd_kafka_message_t *m;
		int64_t now;

		if (c->from_end)
			target = atomic_load(&c->e2e_target);
		if (target >= 0 && (int64_t)res->records >= target)
			break;
		m = rd_kafka_consumer_poll(rk, 100);
		now = sl_now_ns();
		if (!m) {
			if (o->duration_ns && !c->from_end &&
			    now - res->t_start_ns >= o->duration_ns)
				break;
			/* An e2e consumer waits as long as the producer runs. */
			if (now - last_progress > o->timeout_ns && (!c->from_end || target >= 0)) {
				fprintf(stderr,
				        "sluice perf: consumer idle for --timeout, stopping\n");
				if (target >= 0 && (int64_t)res->records < target)
					ret = -ETIMEDOUT;
				break;
			}
			continue;
		}
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
				res->errors++;
				if (res->errors <= 5)
					fprintf(stderr, "sluice perf: consume: %s\n",
					        rd_kafka_message_errstr(m));
			}
		} else {
			int64_t sent = payload_send_time(m->payload, m->len, c->run_id);

			last_progress = now;
			if (sent >= 0 || !c->from_end) {
				res->records++;
				res->bytes += m->len;
				res->t_end_ns = now;
			}
			if (sent >= 0)
				sl_hist_record(&res->lat, real_ns() - sent);
			else
				res->foreign++;
		}
		rd_kafka_message_destroy(m);
		if (o->duration_ns && !c->from_end && now - res->t_start_ns >= o->duration_ns)
			break;
	}
	rd_kafka_consumer_close(rk);
out:
	rd_kafka_destroy(rk);
	return ret;
}

static void *
consumer_thread(void *arg)
{
	struct consumer *c = arg;

	c->ret = run_consume(c);
	return NULL;
}

/* ---- reporting ---- */

static void
report(const struct perf_opts *o, const char *what, const struct perf_result *r)
{
	double secs = (double)(r->t_end_ns - r->t_start_ns) / 1e9;
	double rps = secs > 0 ? (double)r->records / secs : 0;
	double mbps = secs > 0 ? (double)r->bytes / secs / 1e6 : 0;
	bool lat = sl_hist_count(&r->lat) > 0;
	double p50 = (double)sl_hist_percentile(&r->lat, 50) / 1e3;
	double p99 = (double)sl_hist_percentile(&r->lat, 99) / 1e3;
	double p999 = (double)sl_hist_percentile(&r->lat, 99.9) / 1e3;
	double pmax = (double)sl_hist_max(&r->lat) / 1e3;
	double mean = sl_hist_mean(&r->lat) / 1e3;
	char rate[32];
	/* consume: the records' real size, not --size. */
	long long size = strcmp(what, "consume") ? (long long)o->size
	                 : r->records            ? (long long)(r->bytes / r->records)
	                                         : 0;

	if (o->rate)
		snprintf(rate, sizeof(rate), "%lld", (long long)o->rate);
	else
		snprintf(rate, sizeof(rate), "max");
	if (!o->quiet) {
		printf("sluice perf %s: topic %s, %lld B records, acks=%s, compression=%s, "
		       "rate=%s\n",
		       what, o->topic, size, o->acks, o->compression, rate);
		printf("  %10s %9s %12s %9s %10s %10s %10s %10s %8s\n", "records", "seconds",
		       "records/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "max us", "errors");
		if (lat)
			printf("  %10llu %9.3f %12.1f %9.1f %10.1f %10.1f %10.1f %10.1f %8llu\n",
			       (unsigned long long)r->records, secs, rps, mbps, p50, p99, p999,
			       pmax, (unsigned long long)r->errors);
		else
			printf("  %10llu %9.3f %12.1f %9.1f %10s %10s %10s %10s %8llu\n",
			       (unsigned long long)r->records, secs, rps, mbps, "-", "-", "-", "-",
			       (unsigned long long)r->errors);
	}
	printf("sluice-perf mode=%s topic=%s size=%lld rate=%s acks=%s compression=%s "
	       "records=%llu bytes=%llu seconds=%.6f records_per_s=%.1f mb_per_s=%.3f "
	       "latency_samples=%llu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
	       "mean_us=%.1f errors=%llu\n",
	       what, o->topic, size, rate, o->acks, o->compression, (unsigned long long)r->records,
	       (unsigned long long)r->bytes, secs, rps, mbps,
	       (unsigned long long)sl_hist_count(&r->lat), p50, p99, p999, pmax, mean,
	       (unsigned long long)r->errors);
	fflush(stdout);
}

/* ---- options ---- */

enum {
	OPT_BROKERS = 256,
	OPT_MOCK,
	OPT_TOPIC,
	OPT_SIZE,
	OPT_COUNT,
	OPT_DURATION,
	OPT_RATE,
	OPT_ACKS,
	OPT_PARTITIONS,
	OPT_COMPRESSION,
	OPT_LINGER,
	OPT_BATCH_SIZE,
	OPT_BATCH_NUM,
	OPT_TIMEOUT,
	OPT_QUIET,
	OPT_HELP,
};

static int
parse_opts(struct perf_opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
	        {"brokers", required_argument, NULL, OPT_BROKERS},
	        {"mock", optional_argument, NULL, OPT_MOCK},
	        {"topic", required_argument, NULL, OPT_TOPIC},
	        {"size", required_argument, NULL, OPT_SIZE},
	        {"count", required_argument, NULL, OPT_COUNT},
	        {"duration", required_argument, NULL, OPT_DURATION},
	        {"rate", required_argument, NULL, OPT_RATE},
	        {"acks", required_argument, NULL, OPT_ACKS},
	        {"partitions", required_argument, NULL, OPT_PARTITIONS},
	        {"compression", required_argument, NULL, OPT_COMPRESSION},
	        {"linger-ms", required_argument, NULL, OPT_LINGER},
	        {"batch-size", required_argument, NULL, OPT_BATCH_SIZE},
	        {"batch-num", required_argument, NULL, OPT_BATCH_NUM},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"quiet", no_argument, NULL, OPT_QUIET},
	        {"help", no_argument, NULL, OPT_HELP},
	        {NULL, 0, NULL, 0},
	};
	int c;
	int64_t v;

	memset(o, 0, sizeof(*o));
	o->brokers = "localhost:9092";
	o->topic = "sluice-perf";
	o->size = 1024;
	o->count = -1;
	o->acks = "-1";
	o->compression = "none";
	o->timeout_ns = 30LL * 1000000000LL;
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		perf_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? -EINVAL : 1;
	}
	o->mode_name = argv[1];
	if (!strcmp(argv[1], "produce"))
		o->mode = PERF_PRODUCE;
	else if (!strcmp(argv[1], "consume"))
		o->mode = PERF_CONSUME;
	else if (!strcmp(argv[1], "e2e"))
		o->mode = PERF_E2E;
	else {
		fprintf(stderr, "sluice perf: unknown mode '%s'\n", argv[1]);
		return -EINVAL;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "X:", lopts, NULL)) != -1) {
		switch (c) {
		case OPT_BROKERS:
			o->brokers = optarg;
			break;
		case OPT_MOCK:
			o->mock_brokers = 1;
			/* "--mock 3" as well as "--mock=3". */
			if (!optarg && optind < argc && argv[optind][0] >= '1' &&
			    argv[optind][0] <= '9')
				optarg = argv[optind++];
			if (optarg) {
				if (sl_cli_parse_i64(optarg, &v) || v < 1 || v > 64)
					goto bad;
				o->mock_brokers = (int)v;
			}
			break;
		case OPT_TOPIC:
			o->topic = optarg;
			break;
		case OPT_SIZE:
			if (sl_cli_parse_i64(optarg, &v) || v < 0 || v > (1 << 30))
				goto bad;
			o->size = v;
			break;
		case OPT_COUNT:
			if (sl_cli_parse_i64(optarg, &v) || v < 0)
				goto bad;
			o->count = v;
			break;
		case OPT_DURATION:
			if (sl_cli_parse_duration(optarg, &v) || v <= 0)
				goto bad;
			o->duration_ns = v;
			break;
		case OPT_RATE:
			if (sl_cli_parse_i64(optarg, &v) || v < 0)
				goto bad;
			o->rate = v;
			break;
		case OPT_ACKS:
			o->acks = strcmp(optarg, "all") ? optarg : "-1";
			break;
		case OPT_PARTITIONS:
			if (sl_cli_parse_i64(optarg, &v) || v < 1 || v > 100000)
				goto bad;
			o->partitions = v;
			break;
		case OPT_COMPRESSION:
			o->compression = optarg;
			break;
		case OPT_LINGER:
			o->linger_ms = optarg;
			break;
		case OPT_BATCH_SIZE:
			o->batch_size = optarg;
			break;
		case OPT_BATCH_NUM:
			o->batch_num = optarg;
			break;
		case OPT_TIMEOUT:
			if (sl_cli_parse_duration(optarg, &v) || v <= 0)
				goto bad;
			o->timeout_ns = v;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case 'X':
			if (o->nx == PERF_MAX_X) {
				fprintf(stderr, "sluice perf: too many -X\n");
				return -EINVAL;
			}
			o->x[o->nx++] = optarg;
			break;
		case OPT_HELP:
			perf_usage(stdout);
			return 1;
		default:
			perf_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluice perf: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->count >= 0 && o->duration_ns) {
		fprintf(stderr, "sluice perf: give --count or --duration, not both\n");
		return -EINVAL;
	}
	if (o->mode == PERF_E2E && o->size < PERF_HDR_SIZE) {
		fprintf(stderr, "sluice perf: e2e needs --size >= %d\n", PERF_HDR_SIZE);
		return -EINVAL;
	}
	return 0;
bad:
	fprintf(stderr, "sluice perf: bad value '%s' for --%s\n", optarg,
	        lopts[c - OPT_BROKERS].name);
	return -EINVAL;
}

/* ---- entry ---- */

struct mock {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
};

static int
mock_start(struct mock *m, struct perf_opts *o)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_resp_err_t e;
	char n[16];

	/* The handle that hosts the cluster; the measured clients connect to it like to
	 * any broker. */
	snprintf(n, sizeof(n), "%d", o->mock_brokers);
	if (conf_set(conf, "client.id", "sluice-perf-mock") || conf_set(conf, "log_level", "4") ||
	    conf_set(conf, "test.mock.num.brokers", n)) {
		rd_kafka_conf_destroy(conf);
		return -EINVAL;
	}
	m->rk = new_client(RD_KAFKA_PRODUCER, conf);
	if (!m->rk)
		return -EINVAL;
	m->mc = rd_kafka_handle_mock_cluster(m->rk);
	if (!m->mc) {
		fprintf(stderr, "sluice perf: cannot start the mock cluster\n");
		rd_kafka_destroy(m->rk);
		return -EIO;
	}
	o->brokers = rd_kafka_mock_cluster_bootstraps(m->mc);
	e = rd_kafka_mock_topic_create(m->mc, o->topic, o->partitions ? (int)o->partitions : 1, 1);
	if (e) {
		fprintf(stderr, "sluice perf: mock topic: %s\n", rd_kafka_err2str(e));
		rd_kafka_destroy(m->rk);
		return -EIO;
	}
	if (!o->quiet)
		fprintf(stderr, "sluice perf: mock cluster at %s\n", o->brokers);
	return 0;
}

static void
mock_stop(struct mock *m)
{
	/* The cluster belongs to its handle and goes with it. */
	if (m->rk)
		rd_kafka_destroy(m->rk);
}

/*
 * Makes sure the topic exists before the clock starts: CreateTopics with --partitions,
 * then (produce, e2e) a producer's metadata request, which lets the broker auto-create it
 * (a consumer's does not: allow.auto.create.topics is false for consumers).
 */
static int
ensure_topic(const struct perf_opts *o)
{
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	int ret = 0;

	if (o->mock_brokers || (!o->partitions && o->mode == PERF_CONSUME))
		return 0;
	conf = base_conf(o, "sluice-perf-admin", false);
	if (!conf)
		return -EINVAL;
	rk = new_client(RD_KAFKA_PRODUCER, conf);
	if (!rk)
		return -EINVAL;
	/* A broker without CreateTopics (librdkafka's mock) may still auto-create it. */
	if (o->partitions &&
	    create_topic(rk, o->topic, (int)o->partitions, SL_MIN(o->timeout_ns, 10000000000LL)))
		fprintf(stderr, "sluice perf: continuing without --partitions %lld\n",
		        (long long)o->partitions);
	if (o->mode != PERF_CONSUME && topic_partitions(rk, o->topic, o->timeout_ns) < 0)
		ret = -ENOENT;
	rd_kafka_destroy(rk);
	return ret;
}

static int
result_init(struct perf_result *r)
{
	memset(r, 0, sizeof(*r));
	return sl_hist_init(&r->lat, PERF_HIST_HIGHEST, PERF_HIST_SUB_BITS);
}

static uint32_t
new_run_id(void)
{
	uint32_t id = (uint32_t)(real_ns() ^ ((int64_t)getpid() << 16)) * 2654435761u;

	return id ? id : 1;
}

static int
perf_e2e(struct perf_opts *o, int64_t count, struct perf_result *pres, struct perf_result *cres)
{
	struct consumer c = {
	        .o = o, .res = cres, .from_end = true, .run_id = new_run_id(), .target = -1};
	pthread_t th;
	int ret;

	atomic_store(&c.e2e_target, -1);
	atomic_store(&c.ready, 0);
	if (pthread_create(&th, NULL, consumer_thread, &c))
		return -EAGAIN;
	while (!atomic_load(&c.ready) && !perf_stop)
		usleep(1000);
	if (atomic_load(&c.ready) < 0) {
		pthread_join(th, NULL);
		return c.ret ? c.ret : -EIO;
	}
	ret = run_produce(o, count, pres, c.run_id);
	atomic_store(&c.e2e_target, (int64_t)pres->records);
	pthread_join(th, NULL);
	/* Throughput over the same interval as the producer's. */
	cres->t_start_ns = pres->t_start_ns;
	return ret ? ret : c.ret;
}

int
sl_cli_perf(int argc, char **argv)
{
	struct perf_opts o;
	struct perf_result pres, cres;
	struct mock m = {0};
	struct sigaction sa;
	int64_t count;
	int ret;

	ret = parse_opts(&o, argc, argv);
	if (ret)
		return ret > 0 ? SL_CLI_OK : SL_CLI_USAGE;
	if (result_init(&pres) || result_init(&cres)) {
		fprintf(stderr, "sluice perf: out of memory\n");
		return SL_CLI_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (o.mock_brokers && mock_start(&m, &o)) {
		ret = -EIO;
		goto out;
	}
	ret = ensure_topic(&o);
	if (ret)
		goto out;
	count = o.count >= 0 ? o.count : (o.duration_ns ? -1 : 1000000);
	switch (o.mode) {
	case PERF_PRODUCE:
		ret = run_produce(&o, count, &pres, new_run_id());
		report(&o, "produce", &pres);
		break;
	case PERF_CONSUME: {
		struct consumer c = {.o = &o, .res = &cres, .target = o.count};

		if (o.mock_brokers) {
			/* The mock cluster starts empty: fill it first (not measured). */
			struct perf_opts po = o;

			po.duration_ns = 0;
			ret = run_produce(&po, count, &pres, new_run_id());
			if (ret)
				break;
			if (!o.quiet)
				fprintf(stderr,
				        "sluice perf: mock topic filled with %llu records\n",
				        (unsigned long long)pres.records);
		}
		/* The mock cluster keeps only its last few MB per partition: read what it
		 * holds. */
		if (o.mock_brokers)
			c.target = -1;
		ret = run_consume(&c);
		report(&o, "consume", &cres);
		break;
	}
	case PERF_E2E:
		ret = perf_e2e(&o, count, &pres, &cres);
		if (!o.quiet)
			report(&o, "e2e-produce", &pres);
		report(&o, "e2e", &cres);
		break;
	}
out:
	mock_stop(&m);
	sl_hist_fini(&pres.lat);
	sl_hist_fini(&cres.lat);
	if (ret || pres.errors || cres.errors) {
		if (ret)
			fprintf(stderr, "sluice perf: failed: %s\n", strerror(-ret));
		return SL_CLI_FAIL;
	}
	return perf_stop ? SL_CLI_FAIL : SL_CLI_OK;
}
