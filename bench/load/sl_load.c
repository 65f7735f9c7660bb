/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sl_load.c: `sl-load`, the open-loop load generator behind scripts/bench-compare.sh. One
 * measurement method, three wire protocols, each through its own native client library
 * (and Kafka also through our own client, to take the client out of the broker's figures):
 *
 *   kafka   librdkafka (sluiced, librdkafka's mock cluster, any Kafka broker)
 *   kafka-raw  our own lean Kafka client (kraw.c): Produce v7 over a plain socket with
 *           --inflight requests pipelined (default 32) and up to --batch records per request
 *           (default 64; what is due when it sends goes together), Fetch v11 for consumers;
 *           no librdkafka, so the client is not the floor of the figure
 *   redis   hiredis: XADD pipelined on a raw socket (redisFormatCommand + redisReader),
 *           XREAD for consumers; one stream per partition
 *   nats    libnats JetStream: js_PublishAsync with an ack handler, file storage; one
 *           stream whose subjects <topic>.<partition> stand for partitions
 *
 * Modes:
 *   produce  records are due on a fixed schedule (--rate R, or a linear sweep to
 *            --rate-end R2) decided before the run: record i is due at start + i/R whether
 *            or not the client kept up, and its latency is ack time - due time, so a stall
 *            shows in the latency instead of slowing the load (coordinated omission).
 *            --rate max: closed loop, each record is due when it is handed to the client.
 *   consume  reads the topic from its beginning until --count records arrived (catch-up).
 *   e2e      a consumer thread reads the (fresh) topic while the producer runs; latency is
 *            receive time - due time.
 *
 * Every payload carries its due time (CLOCK_MONOTONIC ns; producer and consumer share this
 * process) so acks and consumed records are matched without a table:
 *
 *   0      4  magic "SLLD"
 *   4      4  partition
 *   8      8  sequence number (big-endian)
 *   16     8  due time, CLOCK_MONOTONIC ns (big-endian)
 *   24  ...   filler up to --size
 *
 * Output: one line "sl-load key=value ..." (records/s, MB/s in 10^6 bytes of record
 * payload, latency percentiles in us from common/hist.h, client CPU in cores from
 * getrusage); --curve FILE writes "percentile latency_us" rows for plotting.
 * Blocking, several threads (the client libraries' and ours); bench only, never linked by
 * the broker.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <nats/nats.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/hist.h"

#include "kraw.h"

#define LD_MAGIC 0x534c4c44u /* "SLLD" */
#define LD_HDR 24
#define LD_HIST_HIGHEST (600LL * 1000000000LL) /* 10 min in ns */
#define LD_HIST_SUB_BITS 10
#define LD_MAX_PARTS 256
#define LD_REDIS_RING (1u << 20) /* in-flight XADDs (power of two) */
#define LD_REDIS_WBUF (1u << 20)

enum ld_mode { LD_PRODUCE, LD_CONSUME, LD_E2E };

struct ld_opts {
	const char *backend;
	const char *addr;
	const char *topic;
	enum ld_mode mode;
	int64_t size;
	int partitions;
	double rate, rate_end; /* 0 = max */
	int64_t duration_ns;
	int64_t count; /* consume: records expected; produce: cap (0 = none) */
	const char *acks;
	const char *linger_ms;
	const char *curve;
	int64_t timeout_ns;
	int max_inflight;
	int inflight; /* kafka-raw: Produce requests in flight per connection */
	int batch;    /* kafka-raw: records per Produce request at most */
};

struct ld;

struct ld_backend {
	const char *name;
	int (*open)(struct ld *l);
	/* Hands one record to the client; -EAGAIN: try again after poll. */
	int (*send)(struct ld *l, int part, const uint8_t *p, size_t n);
	void (*poll)(struct ld *l);
	/* Waits until every sent record is acknowledged or timeout_ns passes without one. */
	int (*drain)(struct ld *l);
	/* Consumer loop (own connection): until want records or l->stop_consume. */
	int (*consume)(struct ld *l, uint64_t want);
	void (*close)(struct ld *l);
	/* Fixed rate, between records: sleeps until until_ns but takes acks as they arrive, so
	 * an ack's latency is not rounded up to the next send time. NULL: plain sleep (the
	 * backend's own threads take the acks). */
	void (*wait)(struct ld *l, int64_t until_ns);
};

struct ld {
	const struct ld_opts *o;
	const struct ld_backend *be;
	/* producer side: written by the ack path (one thread per backend) */
	struct sl_hist lat;
	atomic_uint_fast64_t acked, ack_bytes, errors;
	uint64_t sent;
	uint64_t unsent; /* fixed rate: records due before the end never sent (overload) */
	uint64_t acked_at_end, bytes_at_end; /* when the schedule ended (max mode's figure) */
	double cpu_at_end;                    /* our CPU seconds then */
	/* consumer side */
	struct sl_hist clat;
	atomic_uint_fast64_t consumed, cons_bytes;
	atomic_int stop_consume;
	int64_t c_first_ns, c_last_ns;
	bool c_record_lat;
	/* kafka */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	int kpipe[2]; /* librdkafka's main queue signals here when delivery reports wait */
	/* redis */
	int rfd;
	char rhost[256];
	int rport;
	pthread_t rreader;
	int64_t *rring;
	atomic_uint_fast64_t rhead, rtail;
	char *wbuf;
	size_t wlen;
	/* nats */
	natsConnection *nc;
	jsCtx *js;
	/* kafka-raw */
	struct kraw *kr;
	struct kraw_cfg krc;
	uint64_t c_want;
	int64_t c_idle_ns;
};

static volatile sig_atomic_t ld_stop;

static void
on_signal(int sig)
{
	(void)sig;
	ld_stop = 1;
}

static void
die_usage(void)
{
	fprintf(stderr,
	        "usage: sl-load --backend kafka|kafka-raw|redis|nats --addr HOST:PORT --topic NAME\n"
	        "               [--mode produce|consume|e2e] [--size BYTES] [--partitions N]\n"
	        "               [--rate R|max] [--rate-end R2] [--duration SECS] [--count N]\n"
	        "               [--acks A] [--linger-ms MS] [--max-inflight N] [--curve FILE]\n"
	        "               [--timeout SECS] [--inflight N] [--batch N]   (the last two: kafka-raw)\n"
	        "       sl-load --memcpy\n");
	exit(2);
}

/* ---- shared ack / receive paths ---- */

static int64_t
stamp_of(const void *p, size_t n)
{
	if (!p || n < LD_HDR || sl_be32(p) != LD_MAGIC)
		return -1;
	return (int64_t)sl_be64((const uint8_t *)p + 16);
}

static void
on_ack(struct ld *l, int64_t due_ns, size_t n, bool ok)
{
	if (!ok) {
		if (atomic_fetch_add(&l->errors, 1) < 5)
			fprintf(stderr, "sl-load: a record was not acknowledged\n");
		return;
	}
	if (due_ns >= 0)
		sl_hist_record(&l->lat, sl_now_ns() - due_ns);
	atomic_fetch_add(&l->ack_bytes, n);
	atomic_fetch_add_explicit(&l->acked, 1, memory_order_release);
}

static void
on_record(struct ld *l, const void *p, size_t n)
{
	int64_t now = sl_now_ns();
	int64_t due = stamp_of(p, n);

	if (!l->c_first_ns)
		l->c_first_ns = now;
	l->c_last_ns = now;
	if (l->c_record_lat && due >= 0)
		sl_hist_record(&l->clat, now - due);
	atomic_fetch_add(&l->cons_bytes, n);
	atomic_fetch_add(&l->consumed, 1);
}

static int
split_addr(const char *addr, char *host, size_t hl, int *port)
{
	const char *c = strrchr(addr, ':');

	if (!c || (size_t)(c - addr) >= hl)
		return -EINVAL;
	memcpy(host, addr, (size_t)(c - addr));
	host[c - addr] = 0;
	*port = atoi(c + 1);
	return *port > 0 ? 0 : -EINVAL;
}

/* ---- kafka (librdkafka) ---- */

static int
kconf(rd_kafka_conf_t *c, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "sl-load: %s=%s: %s\n", k, v, err);
		return -EINVAL;
	}
	return 0;
}

static void
k_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
		return; /* given up at the end of the run: reported as unacked */
	on_ack(opaque, stamp_of(m->payload, m->len), m->len, !m->err);
}

static int
k_wait_meta(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int want, int64_t timeout_ns)
{
	int64_t deadline = sl_now_ns() + timeout_ns;

	while (!ld_stop && sl_now_ns() < deadline) {
		const struct rd_kafka_metadata *md;

		if (!rd_kafka_metadata(rk, 0, rkt, &md, 2000)) {
			int n = (md->topic_cnt == 1 && !md->topics[0].err)
			                ? md->topics[0].partition_cnt
			                : 0;

			rd_kafka_metadata_destroy(md);
			if (n >= want)
				return n;
		}
		usleep(100 * 1000);
	}
	fprintf(stderr, "sl-load: no metadata for %d partitions of %s\n", want,
	        rd_kafka_topic_name(rkt));
	return -ETIMEDOUT;
}

static int
k_create(rd_kafka_t *rk, const char *topic, int parts)
{
	char err[256];
	rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, -1, err, sizeof(err));
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;

	if (!nt)
		return -EINVAL;
	q = rd_kafka_queue_new(rk);
	rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
	ev = rd_kafka_queue_poll(q, 10000);
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_queue_destroy(q);
	rd_kafka_NewTopic_destroy(nt);
	return 0;
}

static int
k_open(struct ld *l)
{
	const struct ld_opts *o = l->o;
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[512];
	char qmax[32];

	snprintf(qmax, sizeof(qmax), "%d", l->o->max_inflight);
	if (kconf(c, "bootstrap.servers", o->addr) || kconf(c, "acks", o->acks) ||
	    kconf(c, "linger.ms", o->linger_ms) ||
	    kconf(c, "queue.buffering.max.messages", qmax)) {
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	rd_kafka_conf_set_dr_msg_cb(c, k_dr);
	rd_kafka_conf_set_opaque(c, l);
	l->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
	if (!l->rk) {
		fprintf(stderr, "sl-load: rd_kafka_new: %s\n", err);
		return -EINVAL;
	}
	if (!pipe2(l->kpipe, O_NONBLOCK | O_CLOEXEC)) {
		rd_kafka_queue_t *mq = rd_kafka_queue_get_main(l->rk);

		rd_kafka_queue_io_event_enable(mq, l->kpipe[1], "1", 1);
		rd_kafka_queue_destroy(mq);
	} else {
		l->kpipe[0] = l->kpipe[1] = -1;
	}
	k_create(l->rk, o->topic, o->partitions);
	l->rkt = rd_kafka_topic_new(l->rk, o->topic, NULL);
	return k_wait_meta(l->rk, l->rkt, o->partitions, o->timeout_ns) < 0 ? -ETIMEDOUT : 0;
}

static int
k_send(struct ld *l, int part, const uint8_t *p, size_t n)
{
	if (rd_kafka_produce(l->rkt, part, RD_KAFKA_MSG_F_COPY, (void *)p, n, NULL, 0, NULL)) {
		if (rd_kafka_last_error() == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return -EAGAIN;
		return -EIO;
	}
	return 0;
}

static void
k_poll(struct ld *l)
{
	rd_kafka_poll(l->rk, 0);
}

/* Waits on librdkafka's queue-event pipe, serving delivery reports as they arrive. */
static void
k_wait(struct ld *l, int64_t until_ns)
{
	int64_t now;

	while ((now = sl_now_ns()) < until_ns) {
		struct pollfd pfd = {.fd = l->kpipe[0], .events = POLLIN};
		struct timespec ts = {(until_ns - now) / 1000000000, (until_ns - now) % 1000000000};
		char drain[64];

		if (l->kpipe[0] < 0) {
			nanosleep(&ts, NULL);
			return;
		}
		if (ppoll(&pfd, 1, &ts, NULL) <= 0)
			return;
		while (read(l->kpipe[0], drain, sizeof(drain)) > 0)
			;
		rd_kafka_poll(l->rk, 0);
	}
}

static int
k_drain(struct ld *l)
{
	int64_t deadline = sl_now_ns() + l->o->timeout_ns;

	while (rd_kafka_outq_len(l->rk) > 0 && sl_now_ns() < deadline && !ld_stop)
		rd_kafka_flush(l->rk, 100);
	if (!rd_kafka_outq_len(l->rk))
		return 0;
	/* Give up on the rest (an overloaded peer): counted as unacknowledged. */
	rd_kafka_purge(l->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(l->rk, 0);
	return -ETIMEDOUT;
}

static int
k_consume(struct ld *l, uint64_t want)
{
	const struct ld_opts *o = l->o;
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *tp;
	rd_kafka_t *rk;
	char err[512];
	int64_t idle = sl_now_ns();

	if (kconf(c, "bootstrap.servers", o->addr) || kconf(c, "group.id", "sl-load") ||
	    kconf(c, "enable.auto.commit", "false") || kconf(c, "fetch.wait.max.ms", "10") ||
	    kconf(c, "fetch.max.bytes", "52428800") ||
	    kconf(c, "max.partition.fetch.bytes", "4194304")) {
		rd_kafka_conf_destroy(c);
		return -EINVAL;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "sl-load: consumer: %s\n", err);
		return -EINVAL;
	}
	tp = rd_kafka_topic_partition_list_new(o->partitions);
	for (int i = 0; i < o->partitions; i++)
		rd_kafka_topic_partition_list_add(tp, o->topic, i)->offset =
		        RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	while (!ld_stop && !atomic_load(&l->stop_consume) &&
	       (!want || atomic_load(&l->consumed) < want)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

		if (!m) {
			if (want && sl_now_ns() - idle > o->timeout_ns)
				break;
			continue;
		}
		if (!m->err) {
			on_record(l, m->payload, m->len);
			idle = sl_now_ns();
		}
		rd_kafka_message_destroy(m);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return 0;
}

static void
k_close(struct ld *l)
{
	if (l->rkt)
		rd_kafka_topic_destroy(l->rkt);
	if (l->rk)
		rd_kafka_destroy(l->rk);
	for (int i = 0; i < 2; i++)
		if (l->kpipe[i] > 0)
			close(l->kpipe[i]);
}

/* ---- redis (hiredis) ---- */

static int
tcp_connect(const char *host, int port)
{
	char ps[16];

	snprintf(ps, sizeof(ps), "%d", port);
	return kraw_tcp_connect(host, ps);
}

/* Replies arrive in order: each pops the due time the writer pushed for its XADD. */
static void *
r_reader(void *arg)
{
	struct ld *l = arg;
	redisReader *rr = redisReaderCreate();
	char buf[65536];

	for (;;) {
		ssize_t n = read(l->rfd, buf, sizeof(buf));
		void *reply;

		if (n <= 0)
			break;
		redisReaderFeed(rr, buf, (size_t)n);
		while (redisReaderGetReply(rr, &reply) == REDIS_OK && reply) {
			uint64_t t = atomic_load_explicit(&l->rtail, memory_order_relaxed);
			int64_t due = l->rring[t & (LD_REDIS_RING - 1)];

			/* R1: acquire pairs with the writer's release of rhead (W1). */
			(void)atomic_load_explicit(&l->rhead, memory_order_acquire);
			on_ack(l, due, (size_t)l->o->size,
			       ((redisReply *)reply)->type != REDIS_REPLY_ERROR);
			freeReplyObject(reply);
			atomic_store_explicit(&l->rtail, t + 1, memory_order_release);
		}
	}
	redisReaderFree(rr);
	return NULL;
}

static int
r_cmd(redisContext *c, const char *fmt, const char *a)
{
	redisReply *r = redisCommand(c, fmt, a);
	int ret = (r && r->type != REDIS_REPLY_ERROR) ? 0 : -EIO;

	if (r)
		freeReplyObject(r);
	return ret;
}

static int
r_open(struct ld *l)
{
	redisContext *c;
	char key[300];

	if (split_addr(l->o->addr, l->rhost, sizeof(l->rhost), &l->rport))
		return -EINVAL;
	c = redisConnect(l->rhost, l->rport);
	if (!c || c->err)
		goto out_err;
	for (int i = 0; i < l->o->partitions; i++) {
		snprintf(key, sizeof(key), "%s-%d", l->o->topic, i);
		if (r_cmd(c, "DEL %s", key))
			goto out_err;
	}
	redisFree(c);
	l->rring = calloc(LD_REDIS_RING, sizeof(*l->rring));
	l->wbuf = malloc(LD_REDIS_WBUF);
	if (!l->rring || !l->wbuf)
		return -ENOMEM;
	l->rfd = tcp_connect(l->rhost, l->rport);
	if (l->rfd < 0)
		return l->rfd;
	return -pthread_create(&l->rreader, NULL, r_reader, l);
out_err:
	fprintf(stderr, "sl-load: redis %s: %s\n", l->o->addr, c ? c->errstr : "no memory");
	if (c)
		redisFree(c);
	return -EIO;
}

static int
r_flush(struct ld *l)
{
	size_t off = 0;

	while (off < l->wlen) {
		ssize_t n = write(l->rfd, l->wbuf + off, l->wlen - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	l->wlen = 0;
	return 0;
}

static int
r_send(struct ld *l, int part, const uint8_t *p, size_t n)
{
	uint64_t h = atomic_load_explicit(&l->rhead, memory_order_relaxed);
	char key[300];
	char *cmd;
	int len;

	if (h - atomic_load_explicit(&l->rtail, memory_order_acquire) >=
	    (uint64_t)l->o->max_inflight) {
		r_flush(l);
		return -EAGAIN;
	}
	snprintf(key, sizeof(key), "%s-%d", l->o->topic, part);
	len = redisFormatCommand(&cmd, "XADD %s * d %b", key, p, n);
	if (len < 0)
		return -ENOMEM;
	if (l->wlen + (size_t)len > LD_REDIS_WBUF && r_flush(l)) {
		redisFreeCommand(cmd);
		return -EIO;
	}
	memcpy(l->wbuf + l->wlen, cmd, (size_t)len);
	l->wlen += (size_t)len;
	redisFreeCommand(cmd);
	l->rring[h & (LD_REDIS_RING - 1)] = stamp_of(p, n);
	/* W1: publishes the ring slot before the reader can see its reply. */
	atomic_store_explicit(&l->rhead, h + 1, memory_order_release);
	return 0;
}

static void
r_poll(struct ld *l)
{
	/* Pipelining: everything due since the last poll leaves in one write. */
	if (l->wlen)
		r_flush(l);
}

static int
r_drain(struct ld *l)
{
	int64_t deadline = sl_now_ns() + l->o->timeout_ns;

	r_flush(l);
	while (atomic_load(&l->rtail) < atomic_load(&l->rhead) && sl_now_ns() < deadline)
		usleep(1000);
	return atomic_load(&l->rtail) < atomic_load(&l->rhead) ? -ETIMEDOUT : 0;
}

static int
r_consume(struct ld *l, uint64_t want)
{
	int np = l->o->partitions;
	char host[256];
	int port;
	redisContext *c;
	char(*ids)[64] = calloc((size_t)np, 64);
	char(*keys)[300] = calloc((size_t)np, 300);
	const char **argv = calloc((size_t)(2 * np + 6), sizeof(char *));
	int64_t idle = sl_now_ns();
	int ret = 0;

	if (!ids || !keys || !argv || split_addr(l->o->addr, host, sizeof(host), &port)) {
		ret = -ENOMEM;
		goto out;
	}
	c = redisConnect(host, port);
	if (!c || c->err) {
		ret = -EIO;
		goto out;
	}
	for (int i = 0; i < np; i++) {
		snprintf(keys[i], 300, "%s-%d", l->o->topic, i);
		strcpy(ids[i], "0-0");
	}
	while (!ld_stop && !atomic_load(&l->stop_consume) &&
	       (!want || atomic_load(&l->consumed) < want)) {
		int argc = 0;
		redisReply *r;

		argv[argc++] = "XREAD";
		argv[argc++] = "COUNT";
		argv[argc++] = "1000";
		argv[argc++] = "BLOCK";
		argv[argc++] = "100";
		argv[argc++] = "STREAMS";
		for (int i = 0; i < np; i++)
			argv[argc++] = keys[i];
		for (int i = 0; i < np; i++)
			argv[argc++] = ids[i];
		r = redisCommandArgv(c, argc, argv, NULL);
		if (!r) {
			ret = -EIO;
			break;
		}
		if (r->type == REDIS_REPLY_ARRAY) {
			for (size_t s = 0; s < r->elements; s++) {
				redisReply *st = r->element[s];
				int k = -1;

				if (st->type != REDIS_REPLY_ARRAY || st->elements != 2)
					continue;
				for (int i = 0; i < np; i++)
					if (!strcmp(keys[i], st->element[0]->str))
						k = i;
				if (k < 0)
					continue;
				for (size_t e = 0; e < st->element[1]->elements; e++) {
					redisReply *ent = st->element[1]->element[e];
					redisReply *fv = ent->element[1];

					snprintf(ids[k], 64, "%s", ent->element[0]->str);
					if (fv->elements >= 2)
						on_record(l, fv->element[1]->str,
						          fv->element[1]->len);
				}
			}
			idle = sl_now_ns();
		} else if (want && sl_now_ns() - idle > l->o->timeout_ns) {
			freeReplyObject(r);
			break;
		}
		freeReplyObject(r);
	}
	redisFree(c);
out:
	free(ids);
	free(keys);
	free(argv);
	return ret;
}

static void
r_close(struct ld *l)
{
	if (l->rfd > 0) {
		shutdown(l->rfd, SHUT_RDWR);
		pthread_join(l->rreader, NULL);
		close(l->rfd);
	}
	free(l->rring);
	free(l->wbuf);
}

/* ---- nats (libnats JetStream) ---- */

static void
n_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	(void)js;
	(void)pa;
	on_ack(closure, stamp_of(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)),
	       (size_t)natsMsg_GetDataLength(m), pae == NULL);
	natsMsg_Destroy(m);
}

static int
n_open(struct ld *l)
{
	char url[300];
	char subj[300];
	const char *subjs[1] = {subj};
	jsOptions jo;
	jsStreamConfig sc;
	jsErrCode je = 0;
	natsStatus s;

	snprintf(url, sizeof(url), "nats://%s", l->o->addr);
	snprintf(subj, sizeof(subj), "%s.*", l->o->topic);
	s = natsConnection_ConnectTo(&l->nc, url);
	if (s != NATS_OK)
		goto out_err;
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = l->o->max_inflight;
	jo.PublishAsync.AckHandler = n_ack;
	jo.PublishAsync.AckHandlerClosure = l;
	s = natsConnection_JetStream(&l->js, l->nc, &jo);
	if (s != NATS_OK)
		goto out_err;
	js_DeleteStream(l->js, l->o->topic, NULL, &je);
	jsStreamConfig_Init(&sc);
	sc.Name = l->o->topic;
	sc.Subjects = subjs;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	s = js_AddStream(NULL, l->js, &sc, NULL, &je);
	if (s != NATS_OK)
		goto out_err;
	return 0;
out_err:
	fprintf(stderr, "sl-load: nats %s: %s (js err %d)\n", l->o->addr, natsStatus_GetText(s),
	        (int)je);
	return -EIO;
}

static int
n_send(struct ld *l, int part, const uint8_t *p, size_t n)
{
	char subj[300];
	natsMsg *m;
	natsStatus s;

	snprintf(subj, sizeof(subj), "%s.%d", l->o->topic, part);
	if (natsMsg_Create(&m, subj, NULL, (const char *)p, (int)n) != NATS_OK)
		return -ENOMEM;
	s = js_PublishMsgAsync(l->js, &m, NULL);
	if (s == NATS_OK)
		return 0;
	natsMsg_Destroy(m);
	return s == NATS_TIMEOUT ? -EAGAIN : -EIO;
}

static void
n_poll(struct ld *l)
{
	(void)l;
}

static int
n_drain(struct ld *l)
{
	jsPubOptions po;

	jsPubOptions_Init(&po);
	po.MaxWait = l->o->timeout_ns / 1000000;
	return js_PublishAsyncComplete(l->js, &po) == NATS_OK ? 0 : -ETIMEDOUT;
}

static int
n_consume(struct ld *l, uint64_t want)
{
	char url[300];
	char subj[300];
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode je = 0;
	int64_t idle = sl_now_ns();
	int ret = -EIO;

	snprintf(url, sizeof(url), "nats://%s", l->o->addr);
	snprintf(subj, sizeof(subj), "%s.*", l->o->topic);
	if (natsConnection_ConnectTo(&nc, url) != NATS_OK ||
	    natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
		goto out;
	jsSubOptions_Init(&so);
	so.Stream = l->o->topic;
	so.Config.AckPolicy = js_AckNone;
	so.Config.DeliverPolicy = js_DeliverAll;
	if (js_SubscribeSync(&sub, js, subj, NULL, &so, &je) != NATS_OK) {
		fprintf(stderr, "sl-load: nats subscribe: %s (%d)\n",
		        nats_GetLastError(NULL), (int)je);
		goto out;
	}
	natsSubscription_SetPendingLimits(sub, -1, -1);
	ret = 0;
	while (!ld_stop && !atomic_load(&l->stop_consume) &&
	       (!want || atomic_load(&l->consumed) < want)) {
		natsMsg *m = NULL;

		if (natsSubscription_NextMsg(&m, sub, 100) != NATS_OK) {
			if (want && sl_now_ns() - idle > l->o->timeout_ns)
				break;
			continue;
		}
		on_record(l, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
		idle = sl_now_ns();
		natsMsg_Destroy(m);
	}
out:
	if (sub) {
		natsSubscription_Unsubscribe(sub);
		natsSubscription_Destroy(sub);
	}
	if (js)
		jsCtx_Destroy(js);
	if (nc)
		natsConnection_Destroy(nc);
	return ret;
}

static void
n_close(struct ld *l)
{
	if (l->js)
		jsCtx_Destroy(l->js);
	if (l->nc)
		natsConnection_Destroy(l->nc);
}

/* ---- kafka-raw (kraw.c: our own client) ---- */

static void
kr_ack(void *arg, int64_t due_ns, size_t n, bool ok)
{
	on_ack(arg, due_ns, n, ok);
}

static void
kr_record(void *arg, const void *p, size_t n)
{
	struct ld *l = arg;

	if (l->c_want && atomic_load(&l->consumed) >= l->c_want)
		return; /* --count reached mid-response: the rest is not counted */
	on_record(l, p, n);
	l->c_idle_ns = sl_now_ns();
}

/* Consumer: on until told to stop, want records arrived, or --timeout passed idle. */
static bool
kr_keep_going(void *arg)
{
	struct ld *l = arg;

	if (ld_stop || atomic_load(&l->stop_consume))
		return false;
	if (!l->c_want)
		return true;
	return atomic_load(&l->consumed) < l->c_want &&
	       sl_now_ns() - l->c_idle_ns <= l->o->timeout_ns;
}

static void
kr_cfg(struct ld *l, struct kraw_cfg *c)
{
	const struct ld_opts *o = l->o;

	*c = (struct kraw_cfg){
		.addr = o->addr,
		.topic = o->topic,
		.partitions = o->partitions,
		.acks = (int16_t)(strcmp(o->acks, "all") ? atoi(o->acks) : -1),
		.inflight = o->inflight,
		.batch = o->batch,
		.max_record = (size_t)(o->size > LD_HDR ? o->size : LD_HDR),
		.timeout_ns = o->timeout_ns,
		.on_ack = kr_ack,
		.on_record = kr_record,
		.keep_going = kr_keep_going,
		.arg = l,
	};
}

static int
kr_open(struct ld *l)
{
	kr_cfg(l, &l->krc);
	return kraw_open(&l->kr, &l->krc);
}

static int
kr_send(struct ld *l, int part, const uint8_t *p, size_t n)
{
	return kraw_send(l->kr, part, p, n, stamp_of(p, n));
}

static void
kr_poll(struct ld *l)
{
	kraw_poll(l->kr);
}

static int
kr_drain(struct ld *l)
{
	return kraw_drain(l->kr);
}

static int
kr_consume(struct ld *l, uint64_t want)
{
	struct kraw_cfg c; /* its own: in e2e the producer's krc is in use on another thread */

	kr_cfg(l, &c);
	l->c_want = want;
	l->c_idle_ns = sl_now_ns();
	return kraw_consume(&c);
}

static void
kr_wait(struct ld *l, int64_t until_ns)
{
	kraw_wait(l->kr, until_ns);
}

static void
kr_close(struct ld *l)
{
	kraw_close(l->kr);
	l->kr = NULL;
}

static const struct ld_backend backends[] = {
	{"kafka", k_open, k_send, k_poll, k_drain, k_consume, k_close, k_wait},
	{"kafka-raw", kr_open, kr_send, kr_poll, kr_drain, kr_consume, kr_close, kr_wait},
	{"redis", r_open, r_send, r_poll, r_drain, r_consume, r_close, NULL},
	{"nats", n_open, n_send, n_poll, n_drain, n_consume, n_close, NULL},
};

/* ---- the schedule ---- */

static double
rate_at(const struct ld_opts *o, int64_t t_ns)
{
	double f = o->duration_ns ? (double)t_ns / (double)o->duration_ns : 0;

	if (o->rate_end <= 0)
		return o->rate;
	if (f > 1)
		f = 1;
	return o->rate + (o->rate_end - o->rate) * f;
}

static double cpu_seconds(void);

static int
run_produce(struct ld *l, int64_t *elapsed_ns)
{
	const struct ld_opts *o = l->o;
	uint8_t *buf = malloc((size_t)o->size);
	int64_t start, due, end;
	uint64_t seq = 0;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (int64_t i = 0; i < o->size; i++)
		buf[i] = (uint8_t)('a' + i % 26);
	start = sl_now_ns();
	end = start + o->duration_ns;
	due = start;
	while (!ld_stop) {
		int64_t now = sl_now_ns();
		int burst = 0;

		/* Fixed rate: every record due before the end is sent, late if the system
		 * fell behind (its latency then shows it), up to --timeout past the end;
		 * what is still unsent then is reported, never silently dropped. */
		if (o->rate > 0 ? due >= end || now >= end + o->timeout_ns : now >= end)
			break;
		if (o->count && (int64_t)seq >= o->count)
			break;
		if (o->rate > 0 && due > now) {
			l->be->poll(l);
			now = sl_now_ns();
			/* Sleep rather than spin, so client_cpu tells whether the client is
			 * saturated; an oversleep (~50-60 us here) shows as latency, because the
			 * records keep their due times. */
			if (due > now && l->be->wait) {
				l->be->wait(l, due);
			} else if (due > now) {
				struct timespec ts = {0, due - now};

				nanosleep(&ts, NULL);
			}
			continue;
		}
		/* Everything due by now goes out (bounded, so acks get polled). */
		while ((o->rate <= 0 || (due <= now && due < end)) && burst < 1024) {
			int64_t stamp = o->rate > 0 ? due : sl_now_ns();
			int part = (int)(seq % (uint64_t)o->partitions);
			int r;

			if (o->size >= LD_HDR) {
				sl_put_be32(buf, LD_MAGIC);
				sl_put_be32(buf + 4, (uint32_t)part);
				sl_put_be64(buf + 8, seq);
				sl_put_be64(buf + 16, (uint64_t)stamp);
			}
			r = l->be->send(l, part, buf, (size_t)o->size);
			if (r == -EAGAIN) {
				l->be->poll(l);
				usleep(50);
				break;
			}
			if (r < 0) {
				fprintf(stderr, "sl-load: send: %s\n", strerror(-r));
				ret = r;
				goto out;
			}
			seq++;
			burst++;
			if (o->rate > 0)
				due += (int64_t)(1e9 / rate_at(o, due - start));
			if (o->count && (int64_t)seq >= o->count)
				break;
		}
		l->be->poll(l);
	}
	l->sent = seq;
	if (o->rate > 0 && due < end)
		l->unsent = (uint64_t)((double)(end - due) * rate_at(o, due - start) / 1e9) + 1;
	*elapsed_ns = sl_now_ns() - start;
	l->acked_at_end = atomic_load(&l->acked);
	l->bytes_at_end = atomic_load(&l->ack_bytes);
	l->cpu_at_end = cpu_seconds();
	if (l->be->drain(l))
		fprintf(stderr, "sl-load: %llu of %llu records unacknowledged at the end\n",
		        (unsigned long long)(seq - atomic_load(&l->acked)),
		        (unsigned long long)seq);
out:
	if (ret)
		*elapsed_ns = sl_now_ns() - start;
	free(buf);
	return ret;
}

static void *
consumer_main(void *arg)
{
	struct ld *l = arg;

	l->be->consume(l, 0);
	return NULL;
}

/*
 * Before an e2e run: one untimed record per partition (no magic, so no latency), until the
 * consumer has seen them all, so the timed run does not include the consumer's start-up
 * (metadata, offset lookup, first fetch). Then every counter starts again from zero.
 */
static int
e2e_warmup(struct ld *l)
{
	int np = l->o->partitions;
	uint8_t rec[LD_HDR] = {0};
	int64_t deadline = sl_now_ns() + l->o->timeout_ns;

	for (int i = 0; i < np; i++) {
		int r;

		while ((r = l->be->send(l, i, rec, sizeof(rec))) == -EAGAIN)
			l->be->poll(l);
		if (r < 0)
			return r;
	}
	l->be->poll(l);
	if (l->be->drain(l))
		return -ETIMEDOUT;
	while (atomic_load(&l->consumed) < (uint64_t)np && sl_now_ns() < deadline && !ld_stop)
		usleep(1000);
	if (atomic_load(&l->consumed) < (uint64_t)np) {
		fprintf(stderr, "sl-load: e2e: the consumer saw %llu of %d warm-up records\n",
		        (unsigned long long)atomic_load(&l->consumed), np);
		return -ETIMEDOUT;
	}
	atomic_store(&l->consumed, 0);
	atomic_store(&l->cons_bytes, 0);
	atomic_store(&l->acked, 0);
	atomic_store(&l->ack_bytes, 0);
	atomic_store(&l->errors, 0);
	sl_hist_reset(&l->lat);
	sl_hist_reset(&l->clat);
	return 0;
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
print_hist(const char *pfx, const struct sl_hist *h)
{
	static const double ps[] = {50, 90, 99, 99.9, 99.99};
	static const char *names[] = {"p50", "p90", "p99", "p999", "p9999"};

	for (unsigned i = 0; i < 5; i++)
		printf(" %s%s_us=%.1f", pfx, names[i], (double)sl_hist_percentile(h, ps[i]) / 1e3);
	printf(" %smax_us=%.1f", pfx, (double)sl_hist_max(h) / 1e3);
}

static void
write_curve(const char *path, const struct sl_hist *h)
{
	static const double ps[] = {0,    25,    50,     75,    90,     95,      99,  99.5,
	                            99.9, 99.95, 99.99, 99.995, 99.999, 99.9999, 100};
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "sl-load: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "# percentile latency_us 1/(1-p)\n");
	for (unsigned i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		double x = ps[i] >= 100 ? 1e7 : 1.0 / (1.0 - ps[i] / 100.0);

		fprintf(f, "%g %.3f %g\n", ps[i], (double)sl_hist_percentile(h, ps[i]) / 1e3, x);
	}
	fclose(f);
}

/* `sl-load --memcpy`: single-thread memcpy bandwidth over pre-faulted 64 MiB buffers
 * (bigger than any cache here), the memory ceiling for the comparison table. */
static int
run_memcpy(void)
{
	size_t n = 64u << 20;
	uint8_t *a = malloc(n), *b = malloc(n);
	int64_t t0, t;
	uint64_t bytes = 0;

	if (!a || !b)
		return 1;
	memset(a, 1, n);
	memset(b, 2, n);
	t0 = sl_now_ns();
	do {
		memcpy(b, a, n);
		__asm__ volatile("" : : "r"(b) : "memory");
		bytes += n;
		t = sl_now_ns();
	} while (t - t0 < 1000000000LL);
	printf("sl-load memcpy bytes=%llu secs=%.3f mb_per_s=%.0f\n", (unsigned long long)bytes,
	       (t - t0) / 1e9, bytes / ((t - t0) / 1e3));
	free(a);
	free(b);
	return 0;
}

static double
parse_rate(const char *s)
{
	return strcmp(s, "max") ? atof(s) : 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"backend", 1, NULL, 'b'},    {"addr", 1, NULL, 'a'},
		{"topic", 1, NULL, 't'},      {"mode", 1, NULL, 'm'},
		{"size", 1, NULL, 's'},       {"partitions", 1, NULL, 'p'},
		{"rate", 1, NULL, 'r'},       {"rate-end", 1, NULL, 'R'},
		{"duration", 1, NULL, 'd'},   {"count", 1, NULL, 'c'},
		{"acks", 1, NULL, 'k'},       {"linger-ms", 1, NULL, 'l'},
		{"curve", 1, NULL, 'C'},      {"max-inflight", 1, NULL, 'i'},
		{"timeout", 1, NULL, 'T'},    {"memcpy", 0, NULL, 'M'},
		{"inflight", 1, NULL, 'I'},   {"batch", 1, NULL, 'B'},
		{NULL, 0, NULL, 0},
	};
	struct ld_opts o = {
		.backend = "kafka",
		.addr = "127.0.0.1:9092",
		.topic = "sl-load",
		.mode = LD_PRODUCE,
		.size = 1024,
		.partitions = 1,
		.duration_ns = 5000000000LL,
		.acks = "1",
		.linger_ms = "5",
		.timeout_ns = 20000000000LL,
		.max_inflight = 100000,
		.inflight = 32,
		.batch = 64,
	};
	struct ld *l;
	pthread_t ct;
	int64_t elapsed = 0;
	double cpu0, cpu1;
	int c, ret = 0;
	const char *mode = "produce";

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o.backend = optarg; break;
		case 'a': o.addr = optarg; break;
		case 't': o.topic = optarg; break;
		case 'm':
			mode = optarg;
			if (!strcmp(optarg, "produce"))
				o.mode = LD_PRODUCE;
			else if (!strcmp(optarg, "consume"))
				o.mode = LD_CONSUME;
			else if (!strcmp(optarg, "e2e"))
				o.mode = LD_E2E;
			else
				die_usage();
			break;
		case 's': o.size = atoll(optarg); break;
		case 'p': o.partitions = atoi(optarg); break;
		case 'r': o.rate = parse_rate(optarg); break;
		case 'R': o.rate_end = parse_rate(optarg); break;
		case 'd': o.duration_ns = (int64_t)(atof(optarg) * 1e9); break;
		case 'c': o.count = atoll(optarg); break;
		case 'k': o.acks = optarg; break;
		case 'l': o.linger_ms = optarg; break;
		case 'C': o.curve = optarg; break;
		case 'i': o.max_inflight = atoi(optarg); break;
		case 'T': o.timeout_ns = (int64_t)(atof(optarg) * 1e9); break;
		case 'M': return run_memcpy();
		case 'I': o.inflight = atoi(optarg); break;
		case 'B': o.batch = atoi(optarg); break;
		default: die_usage();
		}
	}
	if (o.size < 1 || o.size > (64 << 20) || o.partitions < 1 ||
	    o.partitions > LD_MAX_PARTS || o.max_inflight < 1 || o.duration_ns <= 0 ||
	    o.inflight < 1 || o.inflight > 4096 || o.batch < 1 || o.batch > 1000000 ||
	    (o.mode == LD_E2E && o.size < LD_HDR))
		die_usage();
	l = calloc(1, sizeof(*l));
	if (!l)
		return 1;
	l->o = &o;
	for (unsigned i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(o.backend, backends[i].name))
			l->be = &backends[i];
	if (!l->be)
		die_usage();
	if (sl_hist_init(&l->lat, LD_HIST_HIGHEST, LD_HIST_SUB_BITS) ||
	    sl_hist_init(&l->clat, LD_HIST_HIGHEST, LD_HIST_SUB_BITS))
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (o.mode == LD_CONSUME) {
		int64_t t0 = sl_now_ns();

		cpu0 = cpu_seconds();
		ret = l->be->consume(l, (uint64_t)o.count);
		cpu1 = cpu_seconds();
		elapsed = (l->c_last_ns > t0 ? l->c_last_ns : sl_now_ns()) - t0;
		printf("sl-load backend=%s mode=%s size=%lld partitions=%d records=%llu "
		       "bytes=%llu secs=%.3f records_per_s=%.0f mb_per_s=%.2f client_cpu=%.2f "
		       "errors=%llu\n",
		       o.backend, mode, (long long)o.size, o.partitions,
		       (unsigned long long)l->consumed, (unsigned long long)l->cons_bytes,
		       elapsed / 1e9, l->consumed / (elapsed / 1e9),
		       l->cons_bytes / (elapsed / 1e3), (cpu1 - cpu0) / (elapsed / 1e9),
		       (unsigned long long)(o.count && l->consumed < (uint64_t)o.count
		                                    ? o.count - (int64_t)l->consumed
		                                    : 0));
		goto out;
	}

	ret = l->be->open(l);
	if (ret) {
		fprintf(stderr, "sl-load: %s %s: cannot open: %s\n", o.backend, o.addr,
		        strerror(-ret));
		goto out_close;
	}
	if (o.mode == LD_E2E) {
		l->c_record_lat = true;
		if (pthread_create(&ct, NULL, consumer_main, l))
			goto out_close;
		ret = e2e_warmup(l);
		if (ret)
			goto out_stop;
	}
	cpu0 = cpu_seconds();
	ret = run_produce(l, &elapsed);
	cpu1 = l->cpu_at_end ? l->cpu_at_end : cpu_seconds();
	if (o.mode == LD_E2E) {
		int64_t deadline = sl_now_ns() + o.timeout_ns;

		while (atomic_load(&l->consumed) < atomic_load(&l->acked) &&
		       sl_now_ns() < deadline && !ld_stop)
			usleep(10000);
	}
out_stop:
	if (o.mode == LD_E2E) {
		atomic_store(&l->stop_consume, 1);
		pthread_join(ct, NULL);
	}
	if (!ret) {
		const struct sl_hist *h = o.mode == LD_E2E ? &l->clat : &l->lat;
		uint64_t recs = o.mode == LD_E2E ? l->consumed : l->acked;
		uint64_t bytes = o.mode == LD_E2E ? l->cons_bytes : l->ack_bytes;
		double secs = elapsed / 1e9;
		uint64_t unacked = l->sent > l->acked ? l->sent - l->acked : 0;

		/* max: what was acknowledged while the load ran (the tail drained after it
		 * would flatter a peer that queued a lot); fixed rate: everything acked. */
		if (o.mode == LD_PRODUCE && o.rate <= 0) {
			recs = l->acked_at_end;
			bytes = l->bytes_at_end;
		}

		printf("sl-load backend=%s mode=%s size=%lld partitions=%d target_rate=%.0f "
		       "sent=%llu records=%llu bytes=%llu secs=%.3f records_per_s=%.0f "
		       "mb_per_s=%.2f client_cpu=%.2f errors=%llu unacked=%llu unsent=%llu",
		       o.backend, mode, (long long)o.size, o.partitions, o.rate,
		       (unsigned long long)l->sent, (unsigned long long)recs,
		       (unsigned long long)bytes, secs, recs / secs, bytes / (secs * 1e6),
		       (cpu1 - cpu0) / secs, (unsigned long long)l->errors,
		       (unsigned long long)unacked, (unsigned long long)l->unsent);
		print_hist("", h);
		if (l->kr)
			printf(" requests=%llu", (unsigned long long)kraw_requests(l->kr));
		printf("\n");
		if (o.curve)
			write_curve(o.curve, h);
	}
out_close:
	l->be->close(l);
out:
	fflush(stdout);
	sl_hist_fini(&l->lat);
	sl_hist_fini(&l->clat);
	free(l);
	return ret ? 1 : 0;
}
