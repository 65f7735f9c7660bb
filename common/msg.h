/* SPDX-License-Identifier: Apache-2.0 */
/*
 * msg.h: the messages that travel between threads over struct sl_ring (common/ring.h):
 * shard <-> control plane and shard <-> shard. A message is a small fixed slot; bulk data
 * travels by pointer, and pushing a pointer transfers ownership to the receiver until it
 * sends the object back (the sender must not touch it meanwhile).
 */
#ifndef SL_COMMON_MSG_H
#define SL_COMMON_MSG_H

#include <stdint.h>

#include "common/compiler.h"
#include "storage/plog.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_msg_type {
	/* shard -> control: a request for an API the control plane owns (ptr: sl_ctrl_req) */
	SL_MSG_CTRL_REQ = 1,
	/* control -> shard: the same sl_ctrl_req with its response filled in */
	SL_MSG_CTRL_RESP,
	/* control -> owning shard: open / close / remove / reconfigure a partition log
	 * (ptr: sl_part_op); the shard answers with SL_MSG_PART_DONE carrying the same ptr */
	SL_MSG_PART_OPEN,
	SL_MSG_PART_CLOSE,
	SL_MSG_PART_REMOVE,
	SL_MSG_PART_CFG,
	SL_MSG_PART_DELETE_RECORDS,
	SL_MSG_PART_DONE,
	/* shard -> shard: work for a partition the receiver owns, and its answer (ptr: a
	 * struct defined by dataplane/, opaque here) */
	SL_MSG_FWD,
	SL_MSG_FWD_DONE,
	/* control -> shard: a new metadata snapshot was published (no payload) */
	SL_MSG_META,
	/* control -> shards: stop (drain, flush, close logs) */
	SL_MSG_STOP,
	/* shard -> control: create a topic with the broker defaults (auto.create.topics.enable;
	 * ptr: sl_topic_create). Added after SL_MSG_STOP so the values above do not move. */
	SL_MSG_TOPIC_CREATE,
	/* control -> shard: the same sl_topic_create with err filled in */
	SL_MSG_TOPIC_CREATE_DONE,
};

struct sl_msg {
	uint32_t type;  /* enum sl_msg_type */
	uint16_t from;  /* sender: shard id, or SL_MSG_FROM_CONTROL */
	int16_t err;    /* type-specific status */
	void *ptr;
	uint64_t arg;
};

#define SL_MSG_FROM_CONTROL 0xffff

/*
 * A request forwarded to the control plane. The shard allocates it (admin and group
 * requests are not on the produce/fetch hot path), copies the whole frame (request header
 * + body, without the 4-byte size) into frame, and keeps conn_cookie/seq to put the answer
 * back in order on the connection. The control plane fills resp with the complete response
 * (4-byte size prefix, response header, body; malloc'ed, the shard frees it after sending)
 * or sets close_conn.
 */
struct sl_ctrl_req {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	uint16_t shard;
	uint64_t conn_cookie;
	uint64_t seq;
	uint8_t *frame;
	uint32_t frame_len;
	uint8_t *resp;
	uint32_t resp_len;
	int close_conn;
};

/* An operation on one partition log, executed by its owning shard. */
struct sl_part_op {
	char topic[250];
	int32_t partition;
	struct sl_plog_cfg cfg;
	int64_t offset; /* SL_MSG_PART_DELETE_RECORDS: target; answer: new log start offset */
	int err;        /* answer: 0 or -errno */
	void *cookie;   /* the control plane's */
};

/*
 * Auto-creation of a topic (Metadata with allow_auto_topic_creation, Produce to an unknown
 * topic). The shard allocates it, fills topic/topic_len and timeout_ms and pushes
 * SL_MSG_TOPIC_CREATE; the control plane always answers with SL_MSG_TOPIC_CREATE_DONE
 * carrying the same pointer (the shard frees it then), after the topic is in a published
 * snapshot with every partition log open, or on failure, or after timeout_ms:
 *   err = 0 (created, or it already existed), 17 INVALID_TOPIC_EXCEPTION (bad name),
 *   3 UNKNOWN_TOPIC_OR_PARTITION (auto-creation disabled on the broker), 5
 *   LEADER_NOT_AVAILABLE (the topic is being deleted: retry later), 7 REQUEST_TIMED_OUT,
 *   -1 UNKNOWN_SERVER_ERROR (a log failed to open).
 * A shard that does not want to wait answers its client LEADER_NOT_AVAILABLE at once (as
 * Kafka does for a topic it just auto-created) and only frees the object when it returns.
 */
struct sl_topic_create {
	char topic[250];
	uint16_t topic_len;
	int32_t timeout_ms; /* <= 0: 30 s */
	int16_t err;        /* answer: a Kafka error code (see above) */
	uint64_t cookie;    /* the shard's (e.g. the waiting request) */
};

/* An API the control plane implements, for the ApiVersions table. */
struct sl_api_range {
	int16_t api_key;
	int16_t min_version;
	int16_t max_version;
};

#ifdef __cplusplus
}
#endif

#endif
