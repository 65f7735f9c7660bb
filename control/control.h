/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.h: the control plane, as tools/sluiced starts and wires it.
 *
 * The control plane owns topics, partitions and topic configs on one thread of its own. It
 * talks to the shards only through the SPSC rings it creates here (common/ring.h, slots of
 * struct sl_msg from common/msg.h) and through the metadata snapshots it publishes
 * (common/meta.h). It never blocks on a shard: admin requests wait in a table until every
 * shard acknowledged its part (or the request's timeout passed).
 *
 * Message flows (shard side in brackets; every pointer pushed transfers ownership until it
 * comes back):
 *
 *  admin request  [shard] --SL_MSG_CTRL_REQ(ptr=sl_ctrl_req)--> control
 *                 control --SL_MSG_CTRL_RESP(same ptr; resp or close_conn set)--> [shard]
 *  auto-create    [shard] --SL_MSG_TOPIC_CREATE(ptr=sl_topic_create)--> control
 *                 control --SL_MSG_TOPIC_CREATE_DONE(same ptr, err set)--> [shard]
 *  partition logs control --SL_MSG_PART_OPEN / _REMOVE / _CFG / _DELETE_RECORDS
 *                         (ptr=sl_part_op)--> [owning shard]
 *                 [shard] --SL_MSG_PART_DONE(same ptr, op->err = 0 or -errno)--> control
 *  metadata       control --SL_MSG_META(arg=new version; no ptr)--> [every shard]
 *
 * Partition placement: partition p of topic T lives on shard (fnv1a32(T) + p) % nshards
 * (sl_ctrl_shard_of); the snapshot's part_shard[] says the same, and it is what shards use.
 *
 * Threads: sl_ctrl_create / start / wait_ready / stop / destroy are for the main thread;
 * sl_ctrl_notify is for shards (cheap; a syscall only when the control thread sleeps).
 */
#ifndef SL_CONTROL_CONTROL_H
#define SL_CONTROL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/meta.h"
#include "common/msg.h"
#include "common/props.h"
#include "common/ring.h"
#include "storage/plog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_ctrl;

/* Called on the control thread after it pushed messages to a shard's ring, once per shard
 * per loop iteration: wake that shard if it sleeps. */
typedef void (*sl_ctrl_wake_fn)(void *arg, uint16_t shard);

struct sl_ctrl_opts {
	const char *log_dir;    /* log.dirs (one directory; created if absent) */
	uint16_t nshards;       /* >= 1 */
	uint32_t ring_slots;    /* per ring, power of two (1024) */
	int32_t node_id;        /* node.id / broker.id (0); also the controller id */
	const char *cluster_id; /* NULL: from <log_dir>/meta.properties, made if absent */
	const char *adv_host;   /* advertised listener host ("127.0.0.1") */
	int32_t adv_port;       /* advertised listener port (9092) */
	int32_t num_partitions; /* num.partitions (1) */
	int16_t default_replication_factor; /* default.replication.factor (1; only 1 works) */
	bool auto_create_topics;            /* auto.create.topics.enable (true) */
	/* Effective topic defaults from the broker's log.* settings (sl_plog_cfg_default
	 * plus overrides); every topic starts from these. */
	struct sl_plog_cfg topic_defaults;
	/* The broker's configuration as read (file + command line), optional. Copied at
	 * create: DescribeConfigs reports these keys as STATIC_BROKER_CONFIG and the rest as
	 * DEFAULT_CONFIG. Not marked used. */
	const struct sl_props *props;
	/* Keep topics in the metadata log <log_dir>/__cluster_metadata-0 (control/mlog.c; legacy
	 * .sluice-topics/ files are still read and migrated) rather than in one file per topic
	 * (false, the default for tests of the legacy layout). sluiced sets it. */
	bool metadata_log;
	sl_ctrl_wake_fn wake_shard; /* may be NULL (shards poll their rings) */
	void *wake_arg;
};

/* Defaults as noted above; log_dir "./data"; topic_defaults from sl_plog_cfg_default. */
void sl_ctrl_opts_default(struct sl_ctrl_opts *o);

/*
 * Creates the control plane: its rings (2 per shard), the publication point with an empty
 * snapshot already published (version 1, so sl_meta_acquire never returns NULL), and
 * copies of every option. Does not touch the disk. Returns 0, -EINVAL (nshards 0,
 * ring_slots not a power of two, no log_dir) or -ENOMEM.
 */
int sl_ctrl_create(struct sl_ctrl **out, const struct sl_ctrl_opts *o) SL_MUST_CHECK;

/* Ring the control thread pushes to and the shard pops (SL_MSG_CTRL_RESP, _PART_*,
 * _TOPIC_CREATE_DONE, _META). */
struct sl_ring *sl_ctrl_ring_to_shard(struct sl_ctrl *c, uint16_t shard);
/* Ring the shard pushes to (SL_MSG_CTRL_REQ, _TOPIC_CREATE, _PART_DONE) and the control
 * thread pops. After a push, call sl_ctrl_notify. When it is full, keep the message and
 * retry on a later iteration (the control thread drains it every iteration). */
struct sl_ring *sl_ctrl_ring_from_shard(struct sl_ctrl *c, uint16_t shard);
/* The publication point shards read with sl_meta_acquire(pub, shard). */
struct sl_meta_pub *sl_ctrl_meta_pub(struct sl_ctrl *c);

/* Any thread: wakes the control thread if it sleeps (after pushing to its ring). */
void sl_ctrl_notify(struct sl_ctrl *c);

/*
 * Loads the topics found in log_dir (directories <topic>-<partition>, plus, with
 * o.metadata_log, the metadata log <log_dir>/__cluster_metadata-0 replayed, and the legacy
 * per-topic metadata files in <log_dir>/.sluice-topics/ (migrated into the log when it is
 * on): topic id, partition count and config overrides; a topic whose deletion was
 * interrupted is finished off), reads or creates
 * <log_dir>/meta.properties (cluster.id, node.id), then starts the control thread, whose
 * first act is to ask the owning shards to open every existing partition
 * (SL_MSG_PART_OPEN). The shards must be popping their rings for start-up to finish.
 * Blocking (directory scan). Returns 0 or -errno (log_dir unusable, thread creation).
 */
int sl_ctrl_start(struct sl_ctrl *c) SL_MUST_CHECK;

/* Waits until every partition found at start-up was acknowledged by its shard and the
 * snapshot with them is published. Returns 0, or -ETIMEDOUT. timeout_ms < 0: forever. */
int sl_ctrl_wait_ready(struct sl_ctrl *c, int timeout_ms) SL_MUST_CHECK;

/*
 * Stops the control thread: requests still waiting are answered REQUEST_TIMED_OUT (auto
 * creations: err 7) if there is room in the rings, then the thread exits and is joined.
 * Call it after the shards stopped sending requests, before they stop popping their
 * rings (so the last answers can be delivered). Idempotent.
 */
void sl_ctrl_stop(struct sl_ctrl *c);

/* Stops if needed and frees everything: rings (messages still in them are dropped; any
 * sl_part_op / sl_ctrl_req still held by a shard is leaked), snapshots, topics. */
void sl_ctrl_destroy(struct sl_ctrl *c);

/* The APIs the control plane implements, for ApiVersions: CreateTopics 0-4, DeleteTopics
 * 0-3, CreatePartitions 0-1, DescribeConfigs 0-2, AlterConfigs 0-1, IncrementalAlterConfigs
 * 0-1, DescribeCluster 0, DeleteRecords 0-1 (and the group APIs, InitProducerId). A static
 * table; *n gets its length. */
const struct sl_api_range *sl_ctrl_apis(size_t *n);

/* The shard that owns partition p of topic name[0..len) among nshards. */
uint16_t sl_ctrl_shard_of(const char *name, size_t len, int32_t p, uint16_t nshards);

/* Counters, for tests and logs (read from any thread; approximate while running). */
struct sl_ctrl_stats {
	uint64_t reqs;         /* SL_MSG_CTRL_REQ handled */
	uint64_t auto_creates; /* SL_MSG_TOPIC_CREATE handled */
	uint64_t part_ops;     /* SL_MSG_PART_* sent */
	uint64_t published;    /* snapshots published */
	uint64_t reclaimed;    /* snapshots freed */
	uint64_t timeouts;     /* requests answered REQUEST_TIMED_OUT by the deadline */
	uint32_t topics;       /* topics known (any state) */
	uint32_t pending;      /* requests waiting */
};
void sl_ctrl_get_stats(struct sl_ctrl *c, struct sl_ctrl_stats *out);

#ifdef __cplusplus
}
#endif

#endif
