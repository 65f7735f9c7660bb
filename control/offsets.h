/* SPDX-License-Identifier: Apache-2.0 */
/*
 * offsets.h: the committed-offset store of the group coordinator (OffsetCommit,
 * OffsetFetch, OffsetDelete, DeleteGroups, offsets.retention.minutes).
 *
 * An in-memory table keyed by (group, topic, partition) whose value is (offset, leader
 * epoch, metadata, commit timestamp), backed by an append-only, compacted-at-open log file
 * (<dir>/offsets.log): every change appends one CRC-checked record (a deletion is a
 * tombstone); sl_offs_sync makes the appends of one request durable (fdatasync) before
 * the request is answered. sl_offs_open replays the file, drops a torn or corrupt tail,
 * and rewrites the file with only the live entries (compaction), atomically (temp file +
 * rename); sl_offs_sync compacts the same way when dead records dominate.
 *
 * Record (little-endian is never used; all big-endian):
 *   u32 body_len, u32 crc32c(body), body:
 *   u16 group_len, group, u16 topic_len, topic, i32 partition, u8 tombstone,
 *   i64 offset, i32 leader_epoch, i64 commit_ts_ms, i32 metadata_len (-1 null), metadata
 *
 * Threading: one thread (the control plane's). Blocking: open (replay), and the write /
 * fdatasync of each change (the control plane is not the hot path).
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

/* Opens (creating dir and file if absent) and replays dir/offsets.log. dir NULL: memory
 * only (tests). Returns 0, -ENOMEM, or -errno of the file system. */
int sl_offs_open(struct sl_offs **out, const char *dir) SL_MUST_CHECK;
/* Closes the file and frees everything. NULL is a no-op. */
void sl_offs_close(struct sl_offs *o);

/* The entry, or NULL. */
const struct sl_offs_val *sl_offs_get(const struct sl_offs *o, const char *group, size_t glen,
                                      const char *topic, size_t tlen, int32_t partition);

/* Sets an entry and appends its record (not yet synced). Returns 0, -EINVAL (lengths over
 * the limits), -ENOMEM or -EIO (the file failed: the store stays readable, every later
 * change fails too). On error nothing changed in memory. */
int sl_offs_put(struct sl_offs *o, const char *group, size_t glen, const char *topic,
                size_t tlen, int32_t partition, const struct sl_offs_val *v) SL_MUST_CHECK;

/* Removes an entry (appends a tombstone). Returns 1 removed, 0 absent, or -errno. */
int sl_offs_del(struct sl_offs *o, const char *group, size_t glen, const char *topic, size_t tlen,
                int32_t partition) SL_MUST_CHECK;

/* fdatasync of the appends so far; then, when the file is at least 4 MiB and more than 4
 * times what the live entries need, rewrites it with the live entries only (blocking, as
 * at open). 0 or -EIO. */
int sl_offs_sync(struct sl_offs *o) SL_MUST_CHECK;
/* Bytes in the file (tests). */
uint64_t sl_offs_file_bytes(const struct sl_offs *o);

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
