/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plog.h: the partition log and the per-thread storage context that owns it.
 *
 * Threading: a struct sl_store belongs to one thread (a shard). Every sl_plog opened on it
 * is touched only by that thread, and every completion callback runs on it, from inside
 * sl_uring_reap() of the store's ring. Nothing here blocks except open/recovery, close,
 * and the operations documented as blocking (offline tools, compaction).
 *
 * Layout (Kafka's): <dir>/<topic>-<partition>/<20-digit base offset>.log, .index (8-byte
 * entries: 4-byte relative offset, 4-byte file position, one per ~index_interval_bytes of
 * log), .timeindex (12-byte entries: 8-byte timestamp, 4-byte relative offset).
 *
 * Memory: the store pre-allocates and pre-faults its chunk pool at creation. A chunk is
 * both the O_DIRECT write buffer and the tail cache: the newest chunks of each log stay in
 * memory and fetches are served from them without copying (a reference on the chunk keeps
 * it alive while a send is in flight).
 */
#ifndef SL_STORAGE_PLOG_H
#define SL_STORAGE_PLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "common/uring.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_store;
struct sl_plog;

#define SL_CLEANUP_DELETE 0x1
#define SL_CLEANUP_COMPACT 0x2

/* Kafka's topic configs, with Kafka's defaults from sl_plog_cfg_default(). */
struct sl_plog_cfg {
	uint64_t segment_bytes;        /* segment.bytes (1 GiB) */
	int64_t segment_ms;            /* segment.ms (7 days) */
	int64_t retention_ms;          /* retention.ms (7 days; -1 unlimited) */
	int64_t retention_bytes;       /* retention.bytes (-1 unlimited) */
	int64_t flush_messages;        /* flush.messages (INT64_MAX: leave it to the OS) */
	int64_t flush_ms;              /* flush.ms (INT64_MAX) */
	bool durable;                  /* complete appends only after fdatasync */
	unsigned cleanup_policy;       /* SL_CLEANUP_* (delete) */
	int64_t delete_retention_ms;   /* delete.retention.ms (1 day) */
	int64_t min_compaction_lag_ms; /* min.compaction.lag.ms (0) */
	uint32_t max_message_bytes;    /* max.message.bytes (1048588) */
	uint32_t index_interval_bytes; /* index.interval.bytes (4096) */
	uint64_t segment_index_bytes;  /* segment.index.bytes (10 MiB) */
	uint64_t preallocate_bytes;    /* fallocate step for the active segment (16 MiB) */
};

void sl_plog_cfg_default(struct sl_plog_cfg *cfg);

struct sl_store_opts {
	size_t chunk_bytes;     /* one write buffer / tail-cache chunk (4 MiB; > max batch) */
	unsigned nr_chunks;     /* chunks in the pool, pre-faulted (64) */
	size_t read_buf_bytes;  /* one disk-read buffer (1 MiB) */
	unsigned nr_read_bufs;  /* read buffers in the pool (64) */
	bool force_buffered;    /* never O_DIRECT (tests) */
	bool direct_nondurable; /* O_DIRECT for non-durable logs too (default: durable only) */
	unsigned write_groups;  /* write groups a log may keep in flight, buffered (4; 1..8) */
	unsigned write_groups_direct; /* the same for O_DIRECT segments (1; 1..8) */
	/* Zero-ahead (O_DIRECT segments only): keep at least zero_ahead_bytes beyond the
	 * appended end of the active segment already written (zeros), so data writes
	 * overwrite written blocks instead of extending the file (ext4's extending O_DIRECT
	 * writes have a p99 of milliseconds). Never past segment.bytes. 0 disables. (16 MiB) */
	size_t zero_ahead_bytes;
	size_t zero_step_bytes; /* one zero write (1 MiB; rounded up to 4 KiB, <= 64 MiB) */
	/*
	 * Buffered (page-cache) data writes without a linked fdatasync are made with pwritev()
	 * on the store's thread inside sl_store_poll() (and close), not through io_uring: ext4
	 * refuses non-blocking buffered writes, so io_uring hands each one to an io-wq worker,
	 * and for a busy-polling shard pinned to one core that worker shares the core and runs
	 * only when the shard yields. Completions are delivered before sl_store_poll returns.
	 * Such a write may sleep in the kernel (page allocation, dirty throttling, journal);
	 * the trade is for busy-polling shards only. (false)
	 */
	bool inline_buffered;
};

void sl_store_opts_default(struct sl_store_opts *o);

/* Creates a store on the caller's ring (the ring outlives the store). */
int sl_store_create(struct sl_store **out, struct sl_uring *ring,
		    const struct sl_store_opts *o) SL_MUST_CHECK;
/* Logs must be closed first. */
void sl_store_destroy(struct sl_store *st);

/*
 * Per loop iteration, after the requests of the iteration were handled: issues the writes
 * of everything appended since the last call (one write per log, group commit), the
 * fdatasyncs that durable logs and the flush.messages / flush.ms policies need, rolls
 * segments by segment.ms, and returns chunks freed by other threads to the pool.
 * now_ms is the wall clock (Kafka timestamps). Never blocks. Submitting is left to the
 * caller's sl_uring_run().
 */
void sl_store_poll(struct sl_store *st, int64_t now_ms);

/* True while appends or syncs are in flight (shutdown drains until false). */
bool sl_store_busy(const struct sl_store *st);

/*
 * Opens (creating if absent) <dir>/<topic>-<partition>, recovering it: every segment not
 * marked cleanly closed is scanned, each batch's framing and CRC checked, a torn or
 * corrupt tail truncated, missing or damaged indexes rebuilt. Blocking.
 */
int sl_plog_open(struct sl_plog **out, struct sl_store *st, const char *dir, const char *topic,
		 int32_t partition, const struct sl_plog_cfg *cfg) SL_MUST_CHECK;

/* Flushes, fdatasyncs, truncates preallocated space, writes the clean-shutdown marker and
 * frees the log. Blocking; waits for in-flight I/O of this log (by running the store's
 * ring, so other completions on that ring are delivered meanwhile; pending appends
 * complete, reads still waiting for a buffer complete with -EIO). Not from a callback. */
int sl_plog_close(struct sl_plog *log);

/* Closes and removes the log's directory (DeleteTopics). Blocking. */
int sl_plog_remove(struct sl_plog *log);

/* Applies changed configs to the live log (retention, segment size, flush policy ...). */
void sl_plog_set_cfg(struct sl_plog *log, const struct sl_plog_cfg *cfg);
const struct sl_plog_cfg *sl_plog_cfg(const struct sl_plog *log);

/* ---- append ---- */

struct sl_append;
typedef void (*sl_append_fn)(struct sl_append *a);

/*
 * An append request, owned by the caller (embed it in the request's state; nothing is
 * allocated). Fields after "result" are filled before done() runs.
 */
struct sl_append {
	sl_append_fn done;
	void *arg;
	/* result */
	int err;             /* 0, or -errno (-EIO ...) from the write or the sync */
	int64_t base_offset; /* offset assigned to the first record */
	int64_t last_offset; /* offset of the last record */
	int64_t log_append_time_ms; /* -1: CreateTime (no LogAppendTime topics yet) */
	/* private to storage */
	struct sl_append *next;
	uint64_t wait_pos; /* log byte position that must be written (and synced) first */
};

/*
 * Appends the record batches in src (one or more complete RecordBatch v2, the records
 * field of a Produce request, possibly split across iovecs) to the log. The bytes are
 * copied once, into the log's write buffer; each batch is validated there (sl_rb_validate
 * with max.message.bytes), given its offsets, indexed, and becomes readable up to the high
 * watermark once its write (durable: its fdatasync) completes.
 *
 * Returns 0 when queued: a->done(a) runs later on this thread with a->err and the offsets.
 * Returns < 0 at once, with nothing appended and done() never called: an enum sl_rb_err
 * for a bad batch, -EMSGSIZE (the whole set is larger than a chunk), -ENOSPC (no free
 * chunk: retry after completions), -EIO (the log failed earlier).
 *
 * Idempotent producers (a batch with producerId >= 0; storage/pstate.h): a batch equal to
 * one of its producer's last 5 (same id, epoch, first and last sequence) is not appended;
 * it is queued like an append (returns 0) and completes, after everything appended before
 * it, with the original batch's offsets. A sequence gap, a stale epoch or an unknown
 * producer returns an enum sl_pstate_err at once (sl_pstate_kerr maps it), nothing
 * appended; so does -ENOMEM when a new producer id finds no room in the state table. A set
 * of several batches with producer ids is refused with SL_RB_EPRODUCER (Produce v3+ sends
 * one batch per partition).
 */
int sl_plog_append(struct sl_plog *log, const struct iovec *src, unsigned nsrc,
		   struct sl_append *a) SL_MUST_CHECK;

/* ---- read ---- */

/* A refcounted buffer that read results point into (tail-cache chunk or read buffer).
 * sl_rbuf_unref may be called from any thread. */
struct sl_rbuf;
void sl_rbuf_ref(struct sl_rbuf *b);
void sl_rbuf_unref(struct sl_rbuf *b);

struct sl_read;
typedef void (*sl_read_fn)(struct sl_read *r);

struct sl_read {
	sl_read_fn done; /* called only when sl_plog_read returned 0 (pending) */
	void *arg;
	int64_t offset;     /* in: first offset wanted */
	uint32_t max_bytes; /* in: at least one whole batch is returned regardless */
	/* result */
	int err;              /* 0, -ERANGE (offset out of range), -EIO */
	const uint8_t *data;  /* whole batches, starting with the one containing offset */
	uint32_t len;         /* 0: nothing at or after offset below the high watermark */
	struct sl_rbuf *buf;  /* reference the caller owns when len > 0: unref when done */
	int64_t high_watermark;
	int64_t log_start_offset;
	/* private to storage */
	struct sl_uop uop;
	struct sl_plog *log;
	uint64_t pos;
	struct sl_read *next; /* reads waiting for a buffer */
	void *seg;            /* segment being read (holds a reference) */
	void *rbuf;           /* buffer being filled */
	uint64_t buf_pos;     /* file position of the buffer's first byte */
	unsigned tries;
};

/*
 * Reads whole batches from the batch containing r->offset, up to r->max_bytes (at least
 * one whole batch), never past the high watermark. Recent data comes from the tail cache
 * and completes at once (returns 1, done() not called); older data is read with io_uring
 * (returns 0; done() runs later; also when every read buffer is taken: the read waits for
 * one). Returns < 0 only for programming errors (-EINVAL, done NULL). Offsets below the log
 * start or above the log end complete with err = -ERANGE.
 */
int sl_plog_read(struct sl_plog *log, struct sl_read *r) SL_MUST_CHECK;

/* ---- offsets ---- */

int64_t sl_plog_start_offset(const struct sl_plog *log);
int64_t sl_plog_end_offset(const struct sl_plog *log);    /* next offset to assign */
int64_t sl_plog_high_watermark(const struct sl_plog *log); /* end of completed appends */
uint64_t sl_plog_size_bytes(const struct sl_plog *log);

/*
 * First offset whose record timestamp is >= ts (ListOffsets by time); the high
 * watermark when none is. *ts_out gets that record's timestamp (-1 if none). May read
 * segment files synchronously (it is rare and bounded to one index interval plus a batch).
 */
int64_t sl_plog_offset_for_time(struct sl_plog *log, int64_t ts, int64_t *ts_out);

/* Hook for a watcher (the fetch long poll): called on this thread whenever the high
 * watermark advances. One per log; NULL to clear. */
typedef void (*sl_plog_hw_fn)(struct sl_plog *log, void *arg);
void sl_plog_set_hw_hook(struct sl_plog *log, sl_plog_hw_fn fn, void *arg);

/* ---- retention, DeleteRecords, compaction ---- */

/*
 * Moves the log start offset forward to offset (<= high watermark; -1 means the high
 * watermark, as in DeleteRecords; -ERANGE otherwise), deleting segments
 * wholly below it (DeleteRecords). Returns the new log start offset or -errno.
 */
int64_t sl_plog_delete_records(struct sl_plog *log, int64_t offset);

/*
 * Applies retention.ms / retention.bytes (whole closed segments only; the active segment
 * is never deleted) and rolls by segment.ms. Returns the number of segments deleted.
 * now_ms: wall clock. Cheap when there is nothing to do; call it every few seconds.
 */
int sl_plog_retain(struct sl_plog *log, int64_t now_ms);

/*
 * Compacts closed segments when cleanup.policy has compact: keeps the latest record per
 * key, drops tombstones older than delete.retention.ms, keeps offsets, re-compresses with
 * each batch's codec. Blocking (file I/O); run it where a pause is acceptable. Returns the
 * number of records removed or -errno.
 */
int64_t sl_plog_compact(struct sl_plog *log, int64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif
