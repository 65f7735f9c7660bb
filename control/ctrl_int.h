/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctrl_int.h: the control plane's internals, shared by the files of control/ only.
 *
 * Everything here runs on the control thread (sl_ctrl_create/start prepare it on the main
 * thread before the control thread exists; tests drive ctl_poll directly).
 *
 * Topic states and the function making each transition:
 *
 *            ctl_topic_create                     all PART_OPEN acked, ok
 *   (none) -----------------> CREATING ---------------------------------> LIVE
 *                                |  some open failed (not at start-up)      |  ^
 *                                v                                          |  |
 *                             DELETING <------------------------------------+  |
 *                                |        ctl_topic_delete (DeleteTopics)      |
 *                                | all PART_REMOVE acked: files gone, freed    |
 *                                v                                             |
 *                             (none)                                           |
 *   LIVE --ctl_topic_grow--> GROWING --all new opens acked, ok--> LIVE (nparts raised)
 *                               | some failed
 *                               v
 *                           SHRINKING --all removes of the new partitions acked--> LIVE
 *
 * Invariants:
 *  1. A topic is in a published snapshot iff its state is LIVE, GROWING or SHRINKING, with
 *     nparts partitions (never the partitions still opening or being rolled back).
 *  2. outstanding counts the SL_MSG_PART_* sent for the current transition and not yet
 *     acknowledged; the transition completes (ctl_topic_settle) exactly when it drops to 0.
 *  3. A pending request item in state RUN points at a topic that is in a transition; the
 *     topic is freed only after every RUN item pointing at it was completed.
 *  4. The metadata file of a topic is written before its first partition is opened, so a
 *     crash never leaves partitions whose topic id and configs are lost.
 */
#ifndef SL_CONTROL_CTRL_INT_H
#define SL_CONTROL_CTRL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/kbuf.h"
#include "common/meta.h"
#include "common/msg.h"
#include "common/ring.h"
#include "control/control.h"
#include "storage/plog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Kafka error codes the control plane answers with ---- */
enum {
	KERR_UNKNOWN_SERVER_ERROR = -1,
	KERR_NONE = 0,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_LEADER_NOT_AVAILABLE = 5,
	KERR_REQUEST_TIMED_OUT = 7,
	KERR_INVALID_TOPIC_EXCEPTION = 17,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_TOPIC_ALREADY_EXISTS = 36,
	KERR_INVALID_PARTITIONS = 37,
	KERR_INVALID_REPLICATION_FACTOR = 38,
	KERR_INVALID_REPLICA_ASSIGNMENT = 39,
	KERR_INVALID_CONFIG = 40,
	KERR_INVALID_REQUEST = 42,
};

/* More partitions than this in one topic is a typo, not a plan. */
#define NPARTS_MAX 100000

/* ---- topic configs (tcfg.c) ---- */

#define SL_TCFG_MAX 64 /* struct sl_meta_topic.overrides is a 64-bit mask */

struct sl_tcfg_def {
	const char *name;      /* Kafka's topic config name */
	const char *broker[3]; /* broker configs it falls back to, by precedence */
	uint8_t type;
	int64_t min, max;
	const char *const *choices;
	const char *kafka_default;
	uint8_t plog; /* field of struct sl_plog_cfg it sets, or 0 */
};

unsigned sl_tcfg_count(void);
const struct sl_tcfg_def *sl_tcfg_def(unsigned i);
/* Index of a topic config name, -1 if Kafka has no such topic config. */
int sl_tcfg_find(const char *name, size_t len);
/* 0 if val (len bytes; NULL = null) is a valid value; else -EINVAL with a message in err. */
int sl_tcfg_validate(unsigned idx, const char *val, size_t len, char *err, size_t errlen);
/* Sets the storage field of a validated value (no-op for configs storage ignores). */
void sl_tcfg_apply(struct sl_plog_cfg *cfg, unsigned idx, const char *val);
/* The value without a topic override (see tcfg.c); may return buf. */
const char *sl_tcfg_default_value(unsigned idx, const struct sl_plog_cfg *dflt,
                                  const char *(*broker_get)(void *arg, const char *name), void *arg,
                                  char *buf, size_t buflen);

/* ---- topics (topic.c) ---- */

enum ctl_tstate { TS_CREATING, TS_LIVE, TS_GROWING, TS_SHRINKING, TS_DELETING };

struct ctl_topic {
	char name[SL_TOPIC_NAME_MAX + 1];
	uint16_t name_len;
	uint8_t id[16];
	uint8_t state; /* enum ctl_tstate */
	bool loading;  /* opened from disk at start-up: failures never remove data */
	bool no_meta;  /* found on disk without a .meta file (start-up only) */
	bool internal;
	int32_t nparts;         /* partitions in the snapshot */
	int32_t nparts_new;     /* GROWING / SHRINKING: the partitions being added / rolled back */
	struct sl_plog_cfg cfg; /* effective: broker defaults + overrides */
	uint64_t overrides;     /* bit i: ovr[i] is set */
	char *ovr[SL_TCFG_MAX]; /* override values as given (malloc'ed) */
	uint32_t outstanding;   /* SL_MSG_PART_* not yet acknowledged */
	int op_err;             /* first -errno of the current transition */
};

/* One SL_MSG_PART_* in flight; op.cookie is the topic. */
struct ctl_partop {
	struct sl_part_op op;
	uint32_t type;
	uint16_t shard;
};

/* ---- pending admin requests ---- */

enum ctl_kind { PK_CREATE_TOPICS, PK_DELETE_TOPICS, PK_CREATE_PARTS, PK_AUTO_CREATE };
enum ctl_istate { IS_DONE, IS_WAIT, IS_RUN };

struct ctl_item {
	char *name; /* as the client sent it (malloc'ed; NULL for a null name) */
	int32_t name_len;
	uint8_t state;       /* enum ctl_istate */
	int16_t err;         /* Kafka error code once DONE */
	char *msg;           /* error message (malloc'ed) or NULL */
	struct ctl_topic *t; /* RUN: the topic whose transition this waits for */
	int32_t count;       /* CreatePartitions: the new total */
	int32_t nassign;     /* CreatePartitions: assignments given (-1: null) */
};

struct ctl_pend {
	struct ctl_pend *next, *prev;
	uint8_t kind; /* enum ctl_kind */
	int16_t api_version;
	int32_t correlation_id;
	uint16_t shard;
	bool validate_only;
	bool counted_timeout;
	int64_t deadline_ns;
	struct sl_ctrl_req *req;    /* PK_CREATE_TOPICS .. PK_CREATE_PARTS */
	struct sl_topic_create *tc; /* PK_AUTO_CREATE */
	uint32_t nitems, nopen;     /* nopen: items not DONE */
	struct ctl_item items[];
};

/* ---- the control plane ---- */

struct ctl_outq {
	struct sl_msg *v;
	uint32_t head, n, cap;
};

struct ctl_kv {
	char *key, *val;
};

struct ctl_mlog;
struct ctl_delrec;

struct sl_ctrl {
	struct ctl_mlog *mlog;        /* the metadata log, when o.metadata_log (mlog.c) */
	struct ctl_delrec *delrecs; /* DeleteRecords waiting for shards (alter.c) */
	struct sl_ctrl_opts o; /* strings below replace the caller's */
	char *log_dir, *topics_dir, *cluster_id, *adv_host;
	struct ctl_kv *bprops; /* the broker's props, copied */
	size_t nbprops;

	struct sl_ring *in;     /* [nshards] shard -> control */
	struct sl_ring *out;    /* [nshards] control -> shard */
	struct ctl_outq *respq; /* [nshards] answers, META: sent first */
	struct ctl_outq *opq;   /* [nshards] SL_MSG_PART_*: at most op_cap in flight */
	uint32_t *inflight;     /* [nshards] part ops in flight */
	bool *meta_pending;     /* [nshards] an SL_MSG_META is owed */
	bool *pushed;           /* [nshards] pushed this iteration: wake it */
	uint32_t op_cap;

	struct sl_meta_pub pub;
	bool dirty; /* the snapshot is stale */

	struct ctl_topic **topics; /* sorted by name */
	uint32_t ntopics, topics_cap;
	uint32_t loading; /* start-up topics still opening */

	struct ctl_pend *pend; /* doubly linked, oldest first */
	struct ctl_pend *pend_tail;
	uint32_t npend;
	bool retry; /* a topic settled: WAIT items may go */

	struct sl_arena arena; /* decoding and encoding scratch, reset per request */
	int64_t pid_next, pid_end; /* pid.c: producer ids left in the reserved block */
	int64_t now_ns;
	struct ctl_grp *grp; /* grp_api.c (H1): group coordinator + committed offsets */

	/* thread */
	pthread_t thread;
	bool started;
	int efd;
	_Atomic int sleeping;
	_Atomic bool stop;
	pthread_mutex_t lock; /* only for ready */
	pthread_cond_t cond;
	bool ready;

	struct {
		_Atomic uint64_t reqs, auto_creates, part_ops, published, reclaimed, timeouts;
		_Atomic uint32_t topics, pending; /* mirrored at the end of each ctl_poll */
	} st;
};

/* ctrl.c */
void ctl_push_resp(struct sl_ctrl *c, uint16_t shard, const struct sl_msg *m);
/* Queues an SL_MSG_PART_* for partition p of t to its shard and counts it outstanding.
 * Returns 0 or -ENOMEM. */
int ctl_send_partop(struct sl_ctrl *c, struct ctl_topic *t, uint32_t type, int32_t p);
/* sl_ctrl_start without the thread: cluster id, topics from disk, their PART_OPENs queued. */
int ctl_prepare(struct sl_ctrl *c);
/* One iteration: drains the rings, expires deadlines, publishes, flushes, reclaims. */
void ctl_poll(struct sl_ctrl *c, int64_t now_ns);
/* Builds and publishes a snapshot of the LIVE topics. 0 or -ENOMEM. */
int ctl_publish(struct sl_ctrl *c);
/* The broker's props value for key, NULL if not set. */
const char *ctl_bprop(void *c, const char *key);

/* topic.c */
bool ctl_topic_name_valid(const char *name, size_t len);
struct ctl_topic *ctl_topic_find(struct sl_ctrl *c, const char *name, size_t len);
/* A new topic in state CREATING (not yet in the table); overrides applied from
 * keys/vals (validated before). NULL on -ENOMEM. */
struct ctl_topic *ctl_topic_new(struct sl_ctrl *c, const char *name, size_t len, int32_t nparts);
int ctl_topic_set_override(struct ctl_topic *t, unsigned idx, const char *val, size_t len);
void ctl_topic_free(struct ctl_topic *t);
int ctl_topic_insert(struct sl_ctrl *c, struct ctl_topic *t);
void ctl_topic_unlink(struct sl_ctrl *c, struct ctl_topic *t);
/* Starts a transition (writes metadata, sends part ops). Return 0 or -errno; on error
 * nothing changed (create: t is not inserted, the caller frees it). */
int ctl_topic_create(struct sl_ctrl *c, struct ctl_topic *t);
int ctl_topic_delete(struct sl_ctrl *c, struct ctl_topic *t);
int ctl_topic_grow(struct sl_ctrl *c, struct ctl_topic *t, int32_t count);
/* A part op came back. */
void ctl_topic_partop_done(struct sl_ctrl *c, struct ctl_partop *po);
/* Persistence. */
int ctl_meta_write(struct sl_ctrl *c, const struct ctl_topic *t, int32_t nparts);
int ctl_load(struct sl_ctrl *c);
int ctl_cluster_id_load(struct sl_ctrl *c);

/* admin.c */
void ctl_handle_req(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req);
void ctl_handle_auto_create(struct sl_ctrl *c, uint16_t shard, struct sl_topic_create *tc);
/* A topic finished a transition: complete RUN items on it with err/msg. */
void ctl_pend_topic_settled(struct sl_ctrl *c, struct ctl_topic *t, int16_t err, const char *msg);
/* Starts WAIT items whose topic is free now. */
void ctl_pend_retry(struct sl_ctrl *c);
/* Answers requests past their deadline (or all, when all is set). */
void ctl_pend_expire(struct sl_ctrl *c, bool all);

/* Encodes body as the complete answer to req (size, response header, body) into
 * req->resp (close_conn when it cannot), queues SL_MSG_CTRL_RESP, resets the arena. */
void ctl_answer_req(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, const void *body);

/* alter.c (H3): AlterConfigs, IncrementalAlterConfigs, DescribeCluster answer at once;
 * DeleteRecords once its shards answered. -EBADMSG for a malformed request. */
int ctl_alter_configs(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd);
int ctl_incremental_alter_configs(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                                  struct sl_crd *rd);
int ctl_describe_cluster(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                         struct sl_crd *rd);
int ctl_delete_records(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                       struct sl_crd *rd);
/* An SL_MSG_PART_DELETE_RECORDS came back (po was queued by alter.c; freed here). */
void ctl_delrec_done(struct sl_ctrl *c, struct ctl_partop *po);
/* Stopping: answers every waiting DeleteRecords (partitions not back: REQUEST_TIMED_OUT). */
void ctl_delrec_expire_all(struct sl_ctrl *c);
/* Destroying: frees what the waiting DeleteRecords hold (their ops are freed as part ops). */
void ctl_delrec_free_all(struct sl_ctrl *c);
/* ctrl.c: queues a prepared part op (type, shard, op filled; not counted on any topic).
 * 0 or -ENOMEM. */
int ctl_queue_partop(struct sl_ctrl *c, struct ctl_partop *po);

/* pid.c: InitProducerId (answers at once; -EBADMSG for a malformed request), and the
 * producer id allocator (ids never reused across restarts; 0 or -errno). */
int ctl_init_producer_id(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                         struct sl_crd *rd);
int ctl_pid_alloc(struct sl_ctrl *c, int64_t *out) SL_MUST_CHECK;

/* grp_api.c (H1): the group coordinator. init at create (reads the broker's group.* and
 * offsets.* props), load at start (committed offsets from <log_dir>/__consumer_offsets-0),
 * poll each iteration (group timers, offset expiry), wait_ms bounds the loop's sleep, fini
 * at stop (parked JoinGroup/SyncGroup answered NOT_COORDINATOR). */
struct ctl_grp;
int ctl_grp_init(struct sl_ctrl *c);
int ctl_grp_load(struct sl_ctrl *c);
void ctl_grp_poll(struct sl_ctrl *c);
int64_t ctl_grp_wait_ms(struct sl_ctrl *c, int64_t wait);
void ctl_grp_fini(struct sl_ctrl *c);
/* Tests: the wall clock of commit timestamps and offset expiry (NULL: sl_wall_ms). */
void ctl_grp_set_wall_clock(struct sl_ctrl *c, int64_t (*wall_ms)(void));
/* The group and offset APIs; answers at once or when the group completes the request;
 * -EBADMSG for a malformed request, -ENOTSUP for another api. */
int ctl_grp_handle(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd,
                   struct sl_str client_id);

/* mlog.c (H3): the metadata log (see mlog.c for the record format). */
#define SL_MLOG_TOPIC "__cluster_metadata"
typedef void (*ctl_mlog_replay_fn)(void *arg, const char *key, size_t klen, const char *val,
                                   size_t vlen);
/* Opens <log_dir>/__cluster_metadata-0 and calls cb for every record in log order (val NULL:
 * a tombstone). Main thread, before the control thread starts. 0 or -errno. */
int ctl_mlog_open(struct sl_ctrl *c, ctl_mlog_replay_fn cb, void *arg) SL_MUST_CHECK;
/* Appends one record and waits for its fdatasync. val NULL: a tombstone. 0 or -errno
 * (-EBADF: not open). */
int ctl_mlog_append(struct sl_ctrl *c, const char *op, const char *key, size_t klen,
                    const char *val, size_t vlen) SL_MUST_CHECK;
/* Frees the metadata log and the shared ring + store (after the offset store is closed). */
void ctl_mlog_close(struct sl_ctrl *c);
/* The metadata log is open (topics live in it, not in .meta files). */
bool ctl_mlog_on(const struct sl_ctrl *c);

/* mlog.c: the control thread's own struct sl_uring and struct sl_store, shared by its
 * internal logs (metadata, committed offsets); created on first use, freed by
 * ctl_mlog_close. 0 or -errno. */
struct sl_store;
struct sl_uring;
struct sl_plog;
struct sl_rb_rec;
struct sl_rb_scratch;
struct sl_offs;
int ctl_store_get(struct sl_ctrl *c, struct sl_store **st, struct sl_uring **ring) SL_MUST_CHECK;
/* Appends one whole batch to log and waits (running ring) until the append completes
 * (after its fdatasync for a durable log). 0 or -errno. Blocking: control thread only. */
int ctl_ilog_append(struct sl_store *st, struct sl_uring *ring, struct sl_plog *log,
                    const void *batch, size_t len) SL_MUST_CHECK;
/* Reads log from its start to its high watermark and calls fn for every record in offset
 * order; fn's < 0 stops the replay and is returned. Returns the number of records or
 * -errno (-EBADMSG: a damaged batch). Blocking. */
typedef int (*ctl_ilog_rec_fn)(void *arg, const struct sl_rb_rec *rec);
int ctl_ilog_replay(struct sl_store *st, struct sl_uring *ring, struct sl_plog *log,
                    struct sl_rb_scratch *scratch, ctl_ilog_rec_fn fn, void *arg) SL_MUST_CHECK;
/* Opens the committed-offset store on <log_dir>/__consumer_offsets-0 (the shared store;
 * log.cleaner.backoff.ms from the broker's props), migrating <log_dir>/.sluice-offsets once.
 * 0 or -errno. */
int ctl_offs_open(struct sl_ctrl *c, struct sl_offs **out) SL_MUST_CHECK;

/* describe.c: answers at once; -EBADMSG for a malformed request */
int ctl_describe_configs(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                         struct sl_crd *rd);

#ifdef __cplusplus
}
#endif

#endif
