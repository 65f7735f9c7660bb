/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offsets.h: the committed-offset store of the group coordinator (OffsetCommit,
 * OffsetFetch, OffsetDelete, DeleteGroups, offsets.retention.minutes).
 *
 * An in-memory table keyed by (group, topic, partition) whose value is (offset, leader
 * epoch, metadata, commit timestamp), backed by the internal partition log
 * <dir>/__consumer_offsets-0 of the storage engine (cleanup.policy=compact, durable
 * appends). sl_offs_put / sl_offs_del / sl_offs_del_group / sl_offs_expire add records to
 * a pending RecordBatch (storage/rbuild.h); sl_offs_sync appends it and waits until the
 * append completed (after its fdatasync) before the request is answered. sl_offs_open_log
 * replays the log (sl_plog_read); sl_offs_poll compacts it (sl_plog_compact) every
 * compact_backoff_ms (log.cleaner.backoff.ms) once a segment's worth of records was
 * written since the last pass, so the log stays bounded by about the live entries plus
 * two segments.
 *
 * Record (one per change; all integers big-endian):
 *   key   = u16 key_version (1), u16 group_len, group, u16 topic_len, topic, i32 partition
 *   value = u16 value_version (1), i64 offset, i32 leader_epoch, i64 commit_ts_ms,
 *           i32 metadata_len (-1 null), metadata
 *           or null: a tombstone (OffsetDelete, DeleteGroups, expiry)
 *   Records with an unknown key or value version are skipped at replay (with a warning).
 *
 * The legacy store (<legacy_dir>/offsets.log: u32 body_len, u32 crc32c(body), body = u16
 * group_len, group, u16 topic_len, topic, i32 partition, u8 tombstone, i64 offset, i32
 * leader_epoch, i64 commit_ts_ms, i32 metadata_len, metadata) is read once at open: its
 * entries whose key the log does not know are written to the log, then the file and its
 * directory are removed.
 *
 * Threading: one thread (the control plane's), the one that runs the store's ring.
 * Blocking: open (replay), sync (append + fdatasync), poll (compaction) - the control
 * plane is not the hot path.
 */
#ifndef SL_CONTROL_OFFSETS_H
#define SL_CONTROL_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_OFFS_STR_MAX 32767  /* group id / topic name bytes */
#define SL_OFFS_META_MAX 65536 /* offset metadata bytes (offset.metadata.max.bytes: 4096) */

struct sl_offs;
struct sl_store;
struct sl_uring;

#define SL_OFFS_TOPIC "__consumer_offsets" /* the log's topic; its partition is 0 */

struct sl_offs_val {
	int64_t offset;
	int32_t leader_epoch; /* -1: none */
	int64_t commit_ts_ms; /* wall clock of the commit */
	const char *metadata; /* NULL = null metadata */
	int32_t metadata_len; /* -1 = null */
};

/* A stored entry as iteration shows it (borrowed until the next change to the store). */
struct sl_offs_entry {
	const char *group;
	uint16_t group_len;
	const char *topic;
	uint16_t topic_len;
	int32_t partition;
	struct sl_offs_val v;
};

/* Memory only (tests): dir must be NULL (-EINVAL otherwise). Returns 0 or -ENOMEM. */
int sl_offs_open(struct sl_offs **out, const char *dir) SL_MUST_CHECK;

struct sl_offs_log_cfg {
	struct sl_store *st;        /* the store and the ring that runs it (borrowed; they */
	struct sl_uring *ring;      /* must outlive the offset store) */
	const char *dir;            /* the log is <dir>/__consumer_offsets-0 */
	const char *legacy_dir;     /* migrate <legacy_dir>/offsets.log once; NULL: none */
	uint64_t segment_bytes;     /* 0: 16 MiB */
	int64_t compact_backoff_ms; /* log.cleaner.backoff.ms; <= 0: 15000 */
};

/* Opens (creating if absent) and replays the log, then migrates the legacy file. Returns
 * 0, -ENOMEM, -EBADMSG (a damaged batch inside the log) or -errno of the storage engine. */
int sl_offs_open_log(struct sl_offs **out, const struct sl_offs_log_cfg *cfg) SL_MUST_CHECK;
/* Appends what is pending (best effort), closes the log and frees everything. NULL is a
 * no-op. */
void sl_offs_close(struct sl_offs *o);

/* The entry, or NULL. */
const struct sl_offs_val *sl_offs_get(const struct sl_offs *o, const char *group, size_t glen,
                                      const char *topic, size_t tlen, int32_t partition);

/* Sets an entry and adds its record to the pending batch (not yet written; a full batch is
 * appended at once). Returns 0, -EINVAL (lengths over the limits), -ENOMEM or -EIO (the
 * log failed: the store stays readable, every later change fails too). */
int sl_offs_put(struct sl_offs *o, const char *group, size_t glen, const char *topic,
                size_t tlen, int32_t partition, const struct sl_offs_val *v) SL_MUST_CHECK;

/* Removes an entry (appends a tombstone). Returns 1 removed, 0 absent, or -errno. */
int sl_offs_del(struct sl_offs *o, const char *group, size_t glen, const char *topic, size_t tlen,
                int32_t partition) SL_MUST_CHECK;

/* Appends the pending batch and waits until it is durable. 0 or -EIO. */
int sl_offs_sync(struct sl_offs *o) SL_MUST_CHECK;
/* Bytes in the log (tests). */
uint64_t sl_offs_file_bytes(const struct sl_offs *o);

/* Compaction on its schedule: when compact_backoff_ms passed since the last check and a
 * segment's worth of bytes was appended since the last pass, rolls the active segment if
 * due and runs sl_plog_compact. now_ms: wall clock. Returns records removed, 0, or -errno.
 * No-op for a memory-only store. */
int64_t sl_offs_poll(struct sl_offs *o, int64_t now_ms);
/* One compaction pass now (tests, tools). Returns records removed or -errno. */
int64_t sl_offs_compact(struct sl_offs *o, int64_t now_ms);

/* Calls fn for each entry of group (every group when group is NULL), in no particular
 * order. fn must not change the store. */
typedef void (*sl_offs_fn)(void *arg, const struct sl_offs_entry *e);
void sl_offs_foreach(const struct sl_offs *o, const char *group, size_t glen, sl_offs_fn fn,
                     void *arg);

/* Number of entries of group (all entries when group is NULL). */
size_t sl_offs_count(const struct sl_offs *o, const char *group, size_t glen);

/* Removes every entry of group. Returns the number removed or -errno. */
int sl_offs_del_group(struct sl_offs *o, const char *group, size_t glen) SL_MUST_CHECK;

/* Removes entries committed before cutoff_ts_ms whose group keep() says may expire
 * (Kafka: groups without members). Returns the number removed or -errno. */
typedef bool (*sl_offs_keep_fn)(void *arg, const char *group, size_t glen);
int sl_offs_expire(struct sl_offs *o, int64_t cutoff_ts_ms, sl_offs_keep_fn may_expire,
                   void *arg) SL_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
