/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rbatch.h: RecordBatch v2 (magic 2), the on-wire and on-disk unit of the log.
 * Validation, header access, offset assignment, and record iteration.
 * Pure functions over caller memory; any thread; no allocation (decompression uses the
 * caller's scratch buffer).
 *
 *   offset  size  field                     covered by CRC
 *        0     8  baseOffset                no  (broker rewrites it)
 *        8     4  batchLength (bytes after this field)
 *       12     4  partitionLeaderEpoch      no  (broker rewrites it)
 *       16     1  magic (= 2)
 *       17     4  crc (CRC-32C of bytes 21..end)
 *       21     2  attributes                yes from here to the end
 *       23     4  lastOffsetDelta
 *       27     8  baseTimestamp
 *       35     8  maxTimestamp
 *       43     8  producerId
 *       51     2  producerEpoch
 *       53     4  baseSequence
 *       57     4  recordCount
 *       61     -  records (compressed as one block when attributes & 7 != 0)
 *
 * Record: length varint, attributes int8, timestampDelta varlong, offsetDelta varint,
 * keyLength varint (-1 = null), key, valueLength varint, value, headerCount varint,
 * headers (keyLength varint, key, valueLength varint, value). Varints are zigzag.
 */
#ifndef SL_STORAGE_RBATCH_H
#define SL_STORAGE_RBATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_RB_HDR_SIZE 61
#define SL_RB_LOG_OVERHEAD 12 /* baseOffset + batchLength: bytes not counted in batchLength */
#define SL_RB_CRC_START 21

#define SL_RB_ATTR_CODEC_MASK 0x07
#define SL_RB_ATTR_TIMESTAMP_TYPE 0x08 /* 1 = LogAppendTime */
#define SL_RB_ATTR_TRANSACTIONAL 0x10
#define SL_RB_ATTR_CONTROL 0x20
#define SL_RB_ATTR_DELETE_HORIZON 0x40 /* KIP-534: baseTimestamp is the delete horizon */

enum sl_codec { SL_CODEC_NONE = 0, SL_CODEC_GZIP = 1, SL_CODEC_SNAPPY = 2, SL_CODEC_LZ4 = 3,
		SL_CODEC_ZSTD = 4 };

struct sl_rb_hdr {
	int64_t base_offset;
	int32_t batch_length;
	int32_t partition_leader_epoch;
	int8_t magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t record_count;
};

/*
 * Distinct validation failures, each a negative value so they travel as int returns.
 * sl_rb_strerror() names them; the broker maps them to Kafka codes with sl_rb_kerr().
 */
enum sl_rb_err {
	SL_RB_OK = 0,
	SL_RB_ETRUNC = -1001,    /* fewer bytes than the header or than batchLength says */
	SL_RB_EBADLEN = -1002,   /* batchLength negative, below the header size, or huge */
	SL_RB_EMAGIC = -1003,    /* magic is not 2 */
	SL_RB_ECRC = -1004,      /* CRC-32C mismatch */
	SL_RB_ECOUNT = -1005,    /* recordCount <= 0, or not the number of records present */
	SL_RB_EDELTA = -1006,    /* lastOffsetDelta or an offsetDelta inconsistent */
	SL_RB_ETIMESTAMP = -1007,/* maxTimestamp below a record's, or negative where not -1 */
	SL_RB_EPRODUCER = -1008, /* producer id/epoch/sequence fields inconsistent */
	SL_RB_ERECORD = -1009,   /* a record's framing is malformed */
	SL_RB_ECODEC = -1010,    /* unknown codec (attributes & 7 > 4) */
	SL_RB_ETOOBIG = -1011,   /* batch larger than the caller's limit, or its records do
				  * not fit the decompression scratch */
	SL_RB_EATTR = -1012,     /* reserved attribute bits set */
	SL_RB_EDECOMP = -1013,   /* the compressed records block does not decompress */
};

const char *sl_rb_strerror(int err);

/* Kafka error code for a validation failure: framing, length, magic, CRC and an undecodable
 * compressed block -> CORRUPT_MESSAGE (2); record-level (count, deltas, timestamps, producer
 * fields, record framing, attributes) -> INVALID_RECORD (87); ETOOBIG -> MESSAGE_TOO_LARGE
 * (10); ECODEC -> UNSUPPORTED_COMPRESSION_TYPE (76); 0 -> NONE (0); anything else (a -errno)
 * -> UNKNOWN_SERVER_ERROR (-1). */
int16_t sl_rb_kerr(int err);

/* Parses the 61-byte header; checks only that len >= SL_RB_HDR_SIZE. */
int sl_rb_hdr_parse(const uint8_t *p, size_t len, struct sl_rb_hdr *out) SL_MUST_CHECK;

/* The largest batch: its total size (12 + batchLength) must fit an int32, as in Kafka. */
#define SL_RB_MAX_TOTAL_SIZE INT32_MAX

/* Total on-disk size of the batch starting at p (12 + batchLength), or < 0 if the first 12
 * bytes are missing (SL_RB_ETRUNC) or batchLength is out of range (SL_RB_EBADLEN: below the
 * header, negative, or a total above SL_RB_MAX_TOTAL_SIZE). p need not be aligned. */
static inline int64_t
sl_rb_total_size(const uint8_t *p, size_t len)
{
	uint32_t raw;
	int32_t bl;

	if (len < SL_RB_LOG_OVERHEAD)
		return SL_RB_ETRUNC;
	__builtin_memcpy(&raw, p + 8, 4);
	bl = (int32_t)__builtin_bswap32(raw);
	if (bl < SL_RB_HDR_SIZE - SL_RB_LOG_OVERHEAD ||
	    (int64_t)bl + SL_RB_LOG_OVERHEAD > SL_RB_MAX_TOTAL_SIZE)
		return SL_RB_EBADLEN;
	return (int64_t)bl + SL_RB_LOG_OVERHEAD;
}

struct sl_rb_scratch {
	uint8_t *buf; /* decompression target, caller-owned */
	size_t cap;
};

#define SL_RB_VALIDATE_NO_RECORDS 0x1 /* header + CRC only (recovery's fast path) */
/*
 * A batch read back from a log rather than received from a client: compaction may have
 * removed records, so offset deltas need only increase (each <= lastOffsetDelta) and
 * recordCount may be 0 with an empty records section (Kafka keeps such headers). Without
 * this flag (the Produce rule) recordCount >= 1, lastOffsetDelta == recordCount - 1 and
 * record i has offsetDelta i.
 */
#define SL_RB_VALIDATE_STORED 0x2

/*
 * Validates one batch at p (exactly len bytes or more; only the first 12+batchLength are
 * examined): length, magic, CRC, attributes, record count and framing of every record
 * (compressed batches are decompressed into scratch; scratch may be NULL only for
 * uncompressed batches or with SL_RB_VALIDATE_NO_RECORDS), offset deltas, timestamps,
 * producer fields. max_bytes bounds the batch size (0 = no bound). Returns the batch's total
 * size (> 0) or an enum sl_rb_err. out may be NULL; otherwise, whenever len >= SL_RB_HDR_SIZE,
 * *out holds the parsed header even when an error is returned (the codec, offsets or producer
 * of a rejected batch), and it is untouched when len is shorter.
 *
 * The checks, in order, each with its own error:
 *   fewer than 12 bytes                                         ETRUNC
 *   magic (byte 16, checked as soon as it is present) != 2      EMAGIC
 *   batchLength < 49, negative, or total > SL_RB_MAX_TOTAL_SIZE EBADLEN
 *   total > max_bytes                                           ETOOBIG
 *   fewer than 12 + batchLength bytes                           ETRUNC
 *   CRC-32C of bytes 21..end                                    ECRC
 *   attribute bits 7..15                                        EATTR
 *   codec 5..7                                                  ECODEC
 *   recordCount < 1 (< 0 when STORED), lastOffsetDelta < 0,
 *   or != recordCount - 1 (< recordCount - 1 when STORED)       ECOUNT / EDELTA
 *   baseTimestamp or maxTimestamp < -1                          ETIMESTAMP
 *   producerId < -1; producerId >= 0 with producerEpoch < 0 or
 *   baseSequence < 0; transactional or control without one      EPRODUCER
 *   (producerId -1 leaves epoch and sequence unchecked, as Kafka does: kafkajs sends
 *   epoch 0 / sequence 0 without idempotence)
 *   records block does not decompress                           EDECOMP
 *   ... decompresses to more than scratch->cap                  ETOOBIG
 *   a record's framing (lengths, varints, header count)         ERECORD
 *   fewer or more records than recordCount                      ECOUNT
 *   offset delta out of sequence                                EDELTA
 *   a record timestamp < -1, or above maxTimestamp (CreateTime) ETIMESTAMP
 */
int64_t sl_rb_validate(const uint8_t *p, size_t len, uint32_t max_bytes, unsigned flags,
		       struct sl_rb_scratch *scratch, struct sl_rb_hdr *out) SL_MUST_CHECK;

/* Validates a concatenation of batches with the Produce rules (flags 0). Returns the number
 * of batches (> 0) or the first error (an empty set is SL_RB_ECOUNT); *nrecords (may be NULL)
 * gets the sum of record counts. Note that Kafka's Produce v3+ allows exactly one batch per
 * partition (INVALID_RECORD otherwise); that rule is the Produce handler's to apply. */
int sl_rb_validate_set(const uint8_t *p, size_t len, uint32_t max_batch_bytes,
		       struct sl_rb_scratch *scratch, int64_t *nrecords) SL_MUST_CHECK;

/* Rewrites baseOffset (outside the CRC, so no re-checksum). */
static inline void
sl_rb_set_base_offset(uint8_t *p, int64_t base_offset)
{
	uint64_t v = __builtin_bswap64((uint64_t)base_offset);

	__builtin_memcpy(p, &v, 8);
}

/* Recomputes and stores the CRC (after changing covered fields, e.g. compaction). */
void sl_rb_update_crc(uint8_t *p, size_t total_size);

/* A record header (or any key/value pair): key_len/value_len -1 = null. */
struct sl_rb_kv {
	const uint8_t *key;
	int32_t key_len;
	const uint8_t *value;
	int32_t value_len;
};

/*
 * Reads the next header from the raw header bytes of a record (rec->headers,
 * rec->headers_len): *pos starts at 0. Returns 1 and fills *out, 0 at the end, or
 * SL_RB_ERECORD. Header keys are never null.
 */
int sl_rb_header_next(const uint8_t *headers, size_t headers_len, size_t *pos,
		      struct sl_rb_kv *out);

/* One record, with key, value and headers pointing into the batch or the scratch buffer. */
struct sl_rb_rec {
	int8_t attributes;
	int64_t timestamp; /* absolute: baseTimestamp + delta */
	int64_t offset;    /* absolute: baseOffset + delta */
	int32_t offset_delta;
	const uint8_t *key;
	int32_t key_len; /* -1 = null */
	const uint8_t *value;
	int32_t value_len; /* -1 = null (a tombstone) */
	int32_t header_count;
	const uint8_t *headers; /* raw header bytes, header_count entries */
	size_t headers_len;
	const uint8_t *raw; /* the whole record including its length varint */
	size_t raw_len;
};

struct sl_rb_iter {
	struct sl_rb_hdr hdr;
	const uint8_t *p, *end;
	int32_t left;
	int err;
};

/*
 * Starts iterating the records of a validated batch. Compressed batches are decompressed
 * into scratch first. Returns 0 or an enum sl_rb_err. Safe on unvalidated bytes too (it never
 * reads outside [batch, batch + min(len, total size)) and the scratch), but checks neither
 * the CRC nor the count; a malformed record ends the iteration with an error. In a
 * LogAppendTime batch every record's timestamp is maxTimestamp, as Kafka reports it.
 */
int sl_rb_iter_init(struct sl_rb_iter *it, const uint8_t *batch, size_t len,
		    struct sl_rb_scratch *scratch) SL_MUST_CHECK;
/* Returns 1 and fills *rec, 0 at the end, or < 0 on malformed input. */
int sl_rb_iter_next(struct sl_rb_iter *it, struct sl_rb_rec *rec);

#ifdef __cplusplus
}
#endif

#endif
