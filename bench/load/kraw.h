/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kraw.h: sl-load's `kafka-raw` backend: a lean Kafka producer (and fetch-loop consumer)
 * that speaks the protocol itself over one plain kernel TCP socket, without librdkafka, so
 * the client does not set the floor of a broker benchmark. Bench-only (bench/load/), never
 * linked by the broker.
 *
 * Producer: ApiVersions v0, Metadata v4 (+ CreateTopics v4 when the topic lacks
 * partitions) at open, blocking; then Produce v7 with up to `inflight` requests pipelined
 * on the connection, each carrying one RecordBatch v2 (uncompressed, CRC32C, built with
 * storage/rbuild.h) of up to `batch` records for one partition. Each version is capped by
 * what the broker's ApiVersions lists (Produce v3+ and Metadata v1+ are required;
 * librdkafka's mock takes Metadata only up to v2). The connection is the one given (--addr):
 * a single-broker benchmark client, it does not follow the leaders Metadata names.
 * One thread: kraw_send/poll/wait/drain/close from the thread that opened it; acks are
 * reported through on_ack on that thread. Memory: every buffer is allocated and pre-faulted
 * in kraw_open; send/poll/wait allocate nothing. The socket is blocking for writes (bounded
 * by timeout_ns) and read without blocking in kraw_poll.
 *
 * Consumer: kraw_consume runs Fetch v11 (v4+) loops from offset 0 of every partition on its
 * own connection, handing each record value to on_record, until keep_going says stop.
 */
#ifndef SL_BENCH_LOAD_KRAW_H
#define SL_BENCH_LOAD_KRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kraw;

struct kraw_cfg {
	const char *addr; /* HOST:PORT */
	const char *topic;
	int partitions; /* the topic is created with this many, or must have at least these */
	int16_t acks;   /* 0, 1 or -1 */
	int inflight;   /* Produce requests in flight on the connection (>= 1) */
	int batch;      /* records per Produce request at most (>= 1) */
	size_t max_record; /* largest value kraw_send will be given */
	int64_t timeout_ns; /* open, a blocked write, drain */
	/* One call per record: due_ns as passed to kraw_send, ok false when the partition's
	 * error code was not 0 or the connection failed. */
	void (*on_ack)(void *arg, int64_t due_ns, size_t n, bool ok);
	/* Consumer: one call per record value. */
	void (*on_record)(void *arg, const void *p, size_t n);
	/* Consumer: polled between fetches; false ends kraw_consume. */
	bool (*keep_going)(void *arg);
	void *arg;
};

/* Connects, creates the topic (an existing one is fine), waits until Metadata lists at least
 * cfg->partitions partitions without error. cfg must outlive k. 0 or -errno (-ETIMEDOUT,
 * -ECONNREFUSED, -EBADMSG for a reply it cannot parse). */
int kraw_open(struct kraw **out, const struct kraw_cfg *cfg) SL_MUST_CHECK;

/*
 * Adds one record to partition part's open batch; the batch leaves as a Produce request when
 * it holds cfg->batch records. due_ns is handed back to on_ack. Returns 0; -EAGAIN when that
 * request would exceed cfg->inflight (nothing was added: poll and retry); -EIO when the
 * connection failed; -EINVAL for a bad partition or size.
 */
int kraw_send(struct kraw *k, int part, const void *p, size_t n, int64_t due_ns) SL_MUST_CHECK;

/* Sends every partly filled batch that the in-flight limit allows (everything given since the
 * last poll leaves now: the natural batching of an open-loop load) and reaps the responses
 * that have arrived, without blocking. */
void kraw_poll(struct kraw *k);

/* Sleeps until until_ns (CLOCK_MONOTONIC, as sl_now_ns) while reaping responses the moment
 * they arrive, so an ack is timed when it comes, not at the caller's next send. */
void kraw_wait(struct kraw *k, int64_t until_ns);

/* Sends what is left and waits for every response, or until timeout_ns passes without one.
 * 0, -ETIMEDOUT or -EIO; records still unacknowledged then are reported failed. */
int kraw_drain(struct kraw *k) SL_MUST_CHECK;

/* Produce requests sent so far, for the summary. */
uint64_t kraw_requests(const struct kraw *k);

void kraw_close(struct kraw *k);

/* A blocking TCP connection to host:port with TCP_NODELAY (also the redis backend's).
 * Returns the fd or -errno (-EHOSTUNREACH when the name does not resolve). */
int kraw_tcp_connect(const char *host, const char *port);

/* Consumer loop (own connection): 0 or -errno. */
int kraw_consume(const struct kraw_cfg *cfg) SL_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
