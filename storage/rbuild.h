/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rbuild.h: builds RecordBatch v2 batches (layout in rbatch.h) in caller memory: what
 * compaction writes back, what tools and tests produce. Any thread; the builder belongs to
 * one thread at a time. Adding records allocates nothing; finishing a compressed batch
 * compresses through codec.h (whose libraries allocate their contexts), so this is not for
 * the per-request path.
 *
 * Usage:
 *
 *	struct sl_rb_builder b;
 *
 *	if (sl_rb_builder_init(&b, buf, cap, SL_CODEC_ZSTD, 0, now_ms, -1, -1, -1))
 *		... cap below SL_RB_HDR_SIZE or an unknown codec
 *	while (more) {
 *		r = sl_rb_builder_add(&b, ts, key, klen, val, vlen, hdrs, nhdrs);
 *		if (r == -ENOBUFS)
 *			break;            (the record did not fit; b is unchanged: finish it and
 *		                           start another batch)
 *	}
 *	total = sl_rb_builder_finish(&b, &scratch);   (header, compression, CRC)
 *
 * The records are written uncompressed at buf + SL_RB_HDR_SIZE as they are added, so the
 * space test is against the uncompressed size; finish compresses them into the scratch
 * buffer and copies the result back. Record i added with sl_rb_builder_add() gets offset
 * delta (previous delta + 1), so a batch built with add() alone has deltas 0..n-1 and
 * passes sl_rb_validate() as a Produce batch.
 */
#ifndef SL_STORAGE_RBUILD_H
#define SL_STORAGE_RBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "storage/rbatch.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_rb_builder {
	uint8_t *buf; /* the batch being built; caller-owned */
	size_t cap;
	size_t len;     /* header + uncompressed records so far */
	int codec;      /* enum sl_codec */
	uint16_t attrs; /* attribute bits other than the codec */
	int64_t base_offset;
	int64_t base_timestamp;
	int64_t max_timestamp;   /* highest record timestamp so far, -1 before the first */
	int64_t max_ts_override; /* sl_rb_builder_set_max_timestamp(), if has_max_ts_override */
	bool has_max_ts_override;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t partition_leader_epoch; /* -1 unless set; brokers rewrite it */
	int32_t count;
	int32_t last_delta; /* offset delta of the newest record, -1 before the first */
	int32_t min_last_offset_delta;
	bool finished;
};

/*
 * Starts a batch in buf[0..cap). codec is an enum sl_codec; base_timestamp is the reference
 * every record's timestamp delta is taken from (Kafka uses the first record's timestamp);
 * producer_id/epoch/base_sequence are -1/-1/-1 without idempotence. Returns 0, -EINVAL for an
 * unknown codec, or -ENOBUFS when cap < SL_RB_HDR_SIZE.
 */
int sl_rb_builder_init(struct sl_rb_builder *b, uint8_t *buf, size_t cap, int codec,
                       int64_t base_offset, int64_t base_timestamp, int64_t producer_id,
                       int16_t producer_epoch, int32_t base_sequence) SL_MUST_CHECK;

/* Sets attribute bits other than the codec (SL_RB_ATTR_TIMESTAMP_TYPE, _TRANSACTIONAL,
 * _CONTROL, _DELETE_HORIZON); codec bits in attrs are ignored. */
void sl_rb_builder_set_attrs(struct sl_rb_builder *b, uint16_t attrs);
/* maxTimestamp to write instead of the highest record timestamp (LogAppendTime batches). */
void sl_rb_builder_set_max_timestamp(struct sl_rb_builder *b, int64_t max_timestamp);
/* lastOffsetDelta is at least this (compaction keeps a batch's offset range when it drops
 * its last records; such a batch validates only with SL_RB_VALIDATE_STORED). */
void sl_rb_builder_set_last_offset_delta(struct sl_rb_builder *b, int32_t delta);
void sl_rb_builder_set_partition_leader_epoch(struct sl_rb_builder *b, int32_t epoch);

/*
 * Encoded size of one record (length varint included) with these fields; headers[i].key must
 * not be NULL. Returns 0 if a length is invalid or the record would exceed INT32_MAX.
 */
size_t sl_rb_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len,
                         int32_t value_len, const struct sl_rb_kv *headers, unsigned header_count);

/*
 * Appends a record with the next offset delta. key/value may be NULL with length -1 (null);
 * headers may be NULL when header_count is 0. Returns 0; -ENOBUFS if it does not fit (the
 * builder is unchanged); -EINVAL for a length below -1, a NULL pointer with a length >= 0, a
 * null header key, a finished builder; -EOVERFLOW if the offset delta or the timestamp delta
 * does not fit.
 */
int sl_rb_builder_add(struct sl_rb_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                      const void *value, int32_t value_len, const struct sl_rb_kv *headers,
                      unsigned header_count) SL_MUST_CHECK;

/*
 * Appends a record read from another batch (an sl_rb_iter result) keeping its offset delta,
 * absolute timestamp, attributes, key, value and raw headers. Its offset delta must exceed
 * the previous record's (-EINVAL otherwise); the timestamp delta is recomputed against this
 * builder's base_timestamp. Same returns as sl_rb_builder_add().
 */
int sl_rb_builder_add_raw(struct sl_rb_builder *b, const struct sl_rb_rec *rec) SL_MUST_CHECK;

/*
 * Completes the batch: compresses the records into scratch (cap >= sl_codec_bound(codec,
 * uncompressed records size); may be NULL for SL_CODEC_NONE or an empty batch) and copies
 * them back, then writes the header and the CRC. Returns the batch's total size (bytes at
 * buf), -ENOBUFS if scratch is too small or the compressed records do not fit in cap, or
 * -EINVAL if already finished. A batch with no records is written with recordCount 0 and an
 * empty records section (valid only with SL_RB_VALIDATE_STORED).
 */
int64_t sl_rb_builder_finish(struct sl_rb_builder *b, struct sl_rb_scratch *scratch) SL_MUST_CHECK;

static inline int32_t
sl_rb_builder_count(const struct sl_rb_builder *b)
{
	return b->count;
}

/* Bytes used so far: header plus the uncompressed records. */
static inline size_t
sl_rb_builder_len(const struct sl_rb_builder *b)
{
	return b->len;
}

#ifdef __cplusplus
}
#endif

#endif
