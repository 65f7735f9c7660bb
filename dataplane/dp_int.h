/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dp_int.h: what the data plane's files share (shard state, partition operations,
 * handlers). Not for other directories.
 *
 * Partition operations (struct sl_pop): every piece of work on one partition log -
 * an append, a read, a long-poll watch, an offset lookup - is a pop living in the
 * requesting request's arena. The requesting shard executes it itself when it owns the
 * partition, or pushes it to the owner (SL_MSG_FWD, ownership moves with the pointer);
 * the owner executes it and sends it back (SL_MSG_FWD_DONE); pop->done then runs on the
 * requesting shard. A watch can be cancelled with SL_MSG_FWD + arg SL_FWD_CANCEL: the
 * owner never dereferences the pointer of a cancel unless it finds it among the watches
 * it holds, so a cancel that crosses the watch's completion is harmless.
 */
#ifndef SL_DATAPLANE_DP_INT_H
#define SL_DATAPLANE_DP_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/kbuf.h"
#include "common/meta.h"
#include "common/msg.h"
#include "common/ring.h"
#include "common/uring.h"
#include "dataplane/kreq.h"
#include "dataplane/shard.h"
#include "dataplane/xport_uring.h"
#include "storage/plog.h"

#define SL_FWD_CANCEL 1u

/* Kafka error codes used here. */
enum {
	KERR_NONE = 0,
	KERR_UNKNOWN = -1,
	KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_LEADER_NOT_AVAILABLE = 5,
	KERR_NOT_LEADER_OR_FOLLOWER = 6,
	KERR_REQUEST_TIMED_OUT = 7,
	KERR_MESSAGE_TOO_LARGE = 10,
	KERR_INVALID_TOPIC = 17,
	KERR_NOT_ENOUGH_REPLICAS = 19,
	KERR_INVALID_REQUIRED_ACKS = 21,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_INVALID_REQUEST = 42,
	KERR_KAFKA_STORAGE_ERROR = 56,
	KERR_FETCH_SESSION_ID_NOT_FOUND = 70,
	KERR_INVALID_FETCH_SESSION_EPOCH = 71,
};

/* A message waiting for room in a ring (rings are bounded; nothing is dropped). */
struct sl_pend {
	struct sl_pend *next;
	struct sl_msg m;
};

struct sl_outq {
	struct sl_pend *head, *tail;
};

struct sl_shard;
struct sl_part;
struct sl_pop;
struct sl_dxport;
struct sl_dpdk_port;

enum sl_pop_kind {
	SL_POP_APPEND = 1,
	SL_POP_READ,
	SL_POP_WATCH,
	SL_POP_OFFSETS,
};

typedef void (*sl_pop_fn)(struct sl_pop *p);

struct sl_pop {
	struct sl_pend pend; /* carries the FWD / FWD_DONE message */
	uint8_t kind;
	uint16_t from;     /* requesting shard */
	uint16_t to;       /* owning shard */
	const char *topic; /* in the request's arena or frame: valid until done */
	uint16_t topic_len;
	int32_t partition;
	sl_pop_fn done; /* on the requesting shard */
	void *owner;    /* the request state */
	uint32_t idx;   /* the owner's index for it */
	int16_t kerr;   /* result: Kafka error code */
	/* APPEND */
	const struct iovec *iov;
	unsigned niov;
	struct sl_append app;
	/* READ (rd.offset / rd.max_bytes in; results in rd; disk: it went to disk, the data
	 * is in a read buffer rather than the tail cache) */
	struct sl_read rd;
	bool disk;
	/* WATCH: completes once the high watermark is above watch_offset */
	int64_t watch_offset;
	bool parked;
	struct sl_pop *wprev, *wnext; /* the partition's watch list */
	struct sl_pop *aprev, *anext; /* the shard's list of every parked watch */
	/* OFFSETS */
	int64_t ts; /* in: -1 latest, -2 earliest, else a timestamp */
	int64_t off_out, ts_out;
	/* common results */
	int64_t hw, log_start;
	/* owner-side retry queue (-ENOSPC appends) */
	struct sl_pop *rnext;
};

/* A partition log this shard owns. */
struct sl_part {
	char topic[SL_TOPIC_NAME_MAX + 1];
	uint16_t topic_len;
	int32_t partition;
	uint32_t hash;
	struct sl_plog *log;
	struct sl_shard *s;
	struct sl_pop *watch_head; /* parked watches */
	bool removing;
};

/* Timers (fetch long polls), a binary min-heap. */
struct sl_timer {
	int64_t at_ns;
	void (*fn)(struct sl_timer *t);
	int32_t idx; /* position in the heap, -1 when not armed */
};

struct sl_shard {
	struct sl_dp *dp;
	uint16_t id;
	pthread_t thr;
	bool thr_started;
	int cpu;
	struct sl_uring ring;
	bool ring_ready;
	struct sl_store *store;
	struct sl_uxport xp;
	bool xp_ready;
	struct sl_dxport *dx; /* DPDK mode, network shard: the transport (xp has no listener) */
	uint32_t idle_spins;
	uint64_t steer_moved; /* DPDK: frames this shard's queue moved for others (port.h) */
	struct sl_kconn_cfg kcfg;
	/* rings: in[j] from shard j, out[j] to shard j (NULL for j == id) */
	struct sl_ring *from_ctrl, *to_ctrl;
	struct sl_ring **in, **out;
	struct sl_outq ctrl_q;
	struct sl_outq *shard_q; /* [nshards] */
	bool ctrl_dirty;
	bool *dirty; /* [nshards]: pushed this iteration, wake it */
	/* sleeping and waking */
	int efd;
	uint64_t efd_val;
	struct sl_uop efd_op;
	bool efd_armed;
	_Atomic int sleeping;
	/* metadata, re-acquired once per iteration */
	const struct sl_meta *meta;
	/* partitions owned: open addressing, power-of-two capacity */
	struct sl_part **ptab;
	uint32_t ptab_cap, nparts;
	/* every parked watch (for cancels by pointer) */
	struct sl_pop *watches;
	/* appends waiting for a free chunk, in arrival order */
	struct sl_pop *retry_head, *retry_tail;
	/* timers */
	struct sl_timer **theap;
	uint32_t ntimers, theap_cap;
	/* clocks read once per iteration */
	int64_t now_ns, now_ms;
	struct sl_wallclock wall; /* now_ms from now_ns (one clock read per loop) */
	int64_t last_retain_ms, last_compact_ms;
	/* life */
	_Atomic int phase; /* 0 run, 1 drain, 2 stop */
	bool drained, listening;
	int lfd;
	uint32_t inflight; /* requests in process on this shard's connections */
	/* counters (read by other threads for stats: relaxed) */
	_Atomic uint64_t st_requests, st_batches, st_fetches, st_fwd, st_ctrl;
};

struct sl_dp {
	struct sl_dp_opts o;
	uint16_t n;
	struct sl_shard *shards; /* [n] */
	struct sl_ring *rings;   /* [n * n]: rings[i * n + j] from i to j */
	struct sl_dp_ctrl ctrl;
	bool ctrl_set;
	struct sl_api_range apis[64];
	size_t napis;
	_Atomic int phase;
	_Atomic uint32_t drained_cnt;
	struct sl_dpdk_port *port; /* DPDK mode */
	uint16_t nnet;             /* shards 0..nnet-1 each poll their queue of port */
	bool eal_up;
};

/* ---- shard.c ---- */

/* Pushes a message to control / shard `to` (queued when the ring is full). The _msg
 * forms copy a message that has no queue node of its own (one is malloc'ed if the ring is
 * full: rare, and never per produce/fetch). */
void sl_shard_send_ctrl(struct sl_shard *s, struct sl_pend *p);
void sl_shard_send(struct sl_shard *s, uint16_t to, struct sl_pend *p);
void sl_shard_send_ctrl_msg(struct sl_shard *s, const struct sl_msg *m);
void sl_shard_send_msg(struct sl_shard *s, uint16_t to, const struct sl_msg *m);

/* ---- part.c ---- */

/* Executes p on this shard, which owns its partition (or answers NOT_LEADER). */
void sl_pop_exec(struct sl_shard *s, struct sl_pop *p);
/* Sends p back to its requester (or calls p->done when that is this shard). */
void sl_pop_finish(struct sl_shard *s, struct sl_pop *p);
/* A cancel from another shard for the watch at ptr (compared, not dereferenced, unless
 * it is parked here). */
void sl_pop_cancel_remote(struct sl_shard *s, void *ptr);
/* Completes part's watches the high watermark passed (all: every one), with kerr. */
void sl_part_wake(struct sl_shard *s, struct sl_part *part, bool all, int16_t kerr);
/* Retries appends that waited for a free chunk, in arrival order. */
void sl_shard_retry_appends(struct sl_shard *s);
/* SL_MSG_PART_OPEN / CLOSE / REMOVE / CFG / DELETE_RECORDS from the control plane. */
void sl_shard_part_msg(struct sl_shard *s, const struct sl_msg *m);
/* Retention every few seconds, compaction now and then (blocking). */
void sl_shard_housekeeping(struct sl_shard *s);
/* Flushes and closes every log (shutdown). Blocking. */
void sl_shard_close_logs(struct sl_shard *s);

/* Looks up a partition this shard owns. */
struct sl_part *sl_shard_part(struct sl_shard *s, const char *topic, size_t len, int32_t p);

/* Runs p: on this shard if it owns the partition (p->to == s->id), else forwards it.
 * p->done runs on this shard when it finished (possibly before this returns). */
void sl_pop_submit(struct sl_shard *s, struct sl_pop *p);
/* Cancels a parked watch submitted by this shard (it completes soon after, if it has not
 * already). */
void sl_pop_cancel_watch(struct sl_shard *s, struct sl_pop *p);

/* Timers, on this shard's clock (s->now_ns). */
void sl_timer_arm(struct sl_shard *s, struct sl_timer *t, int64_t at_ns);
void sl_timer_disarm(struct sl_shard *s, struct sl_timer *t);

/* Refreshes s->meta (between handlers only: handlers never keep snapshot pointers). */
void sl_shard_meta_refresh(struct sl_shard *s);

/* Owner of partition p of topic t in the current snapshot, or -1. */
static inline int
sl_shard_owner(const struct sl_meta_topic *t, int32_t p)
{
	if (!t || p < 0 || p >= t->nparts)
		return -1;
	return t->part_shard[p];
}

/* ---- auto-creation (shard.c) ---- */

/* Asks the control plane to create topic name[0..len); when it answered, fn(arg, idx,
 * kafka error) runs on this shard. Returns 0 or -ENOMEM (fn not called). */
typedef void (*sl_create_fn)(void *arg, uint32_t idx, int16_t err);
int sl_shard_auto_create(struct sl_shard *s, const char *name, size_t len, sl_create_fn fn,
                         void *arg, uint32_t idx);

/* ---- handlers ---- */

/* ApiVersions and Metadata (h_meta.c). */
void sl_h_api_versions(struct sl_shard *s, struct sl_kreq *req);
void sl_h_metadata(struct sl_shard *s, struct sl_kreq *req);
/* Produce (h_produce.c). */
void sl_h_produce(struct sl_shard *s, struct sl_kreq *req);
/* Fetch (h_fetch.c). Draining ends long polls through their timers (timers_run). */
void sl_h_fetch(struct sl_shard *s, struct sl_kreq *req);
/* ListOffsets (h_offsets.c). */
void sl_h_list_offsets(struct sl_shard *s, struct sl_kreq *req);
/* Everything else (shard.c). */
void sl_h_ctrl_forward(struct sl_shard *s, struct sl_kreq *req);

/* Ends a request whose body did not decode: closes the connection. */
void sl_h_bad_request(struct sl_shard *s, struct sl_kreq *req, int err);

/* Topic-name check shared by handlers: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
bool sl_topic_name_valid(const char *p, size_t len);

/* Maps a storage -errno or sl_rb_err to a Kafka error code (one place, STYLE.md 4). */
int16_t sl_kerr_from_storage(int err);

/* The advertised API table (ours + control's), sorted by key. */
const struct sl_api_range *sl_dp_adv_apis(const struct sl_dp *dp, size_t *n);
const struct sl_api_range *sl_dp_adv_find(const struct sl_dp *dp, int16_t key);

#endif
