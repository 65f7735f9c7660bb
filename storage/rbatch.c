// SPDX-License-Identifier: Apache-2.0
/*
 * rbatch.c: RecordBatch v2 validation and iteration (layout in rbatch.h).
 *
 * Everything reads through bounds-checked cursors over caller memory: a batch cut at any
 * length, or any byte flipped, gives an enum sl_rb_err and never a read outside
 * [p, p + min(len, 12 + batchLength)) or the scratch buffer. Nothing allocates: compressed
 * records are inflated into the caller's scratch with the per-thread codec contexts.
 */
#include "storage/rbatch.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "storage/codec.h"

#define ATTR_KNOWN                                                                      \
	(SL_RB_ATTR_CODEC_MASK | SL_RB_ATTR_TIMESTAMP_TYPE | SL_RB_ATTR_TRANSACTIONAL | \
	 SL_RB_ATTR_CONTROL | SL_RB_ATTR_DELETE_HORIZON)

/* Kafka's "no timestamp". */
#define NO_TIMESTAMP (-1)

const char *
sl_rb_strerror(int err)
{
	switch (err) {
	case SL_RB_OK:
		return "ok";
	case SL_RB_ETRUNC:
		return "record batch truncated";
	case SL_RB_EBADLEN:
		return "record batch length out of range";
	case SL_RB_EMAGIC:
		return "record batch magic is not 2";
	case SL_RB_ECRC:
		return "record batch CRC-32C mismatch";
	case SL_RB_ECOUNT:
		return "record count does not match the records present";
	case SL_RB_EDELTA:
		return "offset delta inconsistent";
	case SL_RB_ETIMESTAMP:
		return "timestamp invalid or above maxTimestamp";
	case SL_RB_EPRODUCER:
		return "producer id, epoch or sequence inconsistent";
	case SL_RB_ERECORD:
		return "malformed record";
	case SL_RB_ECODEC:
		return "unknown compression codec";
	case SL_RB_ETOOBIG:
		return "record batch too large";
	case SL_RB_EATTR:
		return "reserved attribute bits set";
	case SL_RB_EDECOMP:
		return "compressed records do not decompress";
	default:
		return "unknown record batch error";
	}
}

int16_t
sl_rb_kerr(int err)
{
	switch (err) {
	case SL_RB_OK:
		return 0;
	case SL_RB_ETRUNC:
	case SL_RB_EBADLEN:
	case SL_RB_EMAGIC:
	case SL_RB_ECRC:
	case SL_RB_EDECOMP:
		return 2; /* CORRUPT_MESSAGE */
	case SL_RB_ECOUNT:
	case SL_RB_EDELTA:
	case SL_RB_ETIMESTAMP:
	case SL_RB_EPRODUCER:
	case SL_RB_ERECORD:
	case SL_RB_EATTR:
		return 87; /* INVALID_RECORD */
	case SL_RB_ETOOBIG:
		return 10; /* MESSAGE_TOO_LARGE */
	case SL_RB_ECODEC:
		return 76; /* UNSUPPORTED_COMPRESSION_TYPE */
	default:
		return -1; /* UNKNOWN_SERVER_ERROR */
	}
}

/* Reads the 61-byte header at p (the caller checked the length). */
static void
hdr_read(const uint8_t *p, struct sl_rb_hdr *out)
{
	out->base_offset = (int64_t)sl_be64(p);
	out->batch_length = (int32_t)sl_be32(p + 8);
	out->partition_leader_epoch = (int32_t)sl_be32(p + 12);
	out->magic = (int8_t)p[16];
	out->crc = sl_be32(p + 17);
	out->attributes = (int16_t)sl_be16(p + 21);
	out->last_offset_delta = (int32_t)sl_be32(p + 23);
	out->base_timestamp = (int64_t)sl_be64(p + 27);
	out->max_timestamp = (int64_t)sl_be64(p + 35);
	out->producer_id = (int64_t)sl_be64(p + 43);
	out->producer_epoch = (int16_t)sl_be16(p + 51);
	out->base_sequence = (int32_t)sl_be32(p + 53);
	out->record_count = (int32_t)sl_be32(p + 57);
}

int
sl_rb_hdr_parse(const uint8_t *p, size_t len, struct sl_rb_hdr *out)
{
	if (len < SL_RB_HDR_SIZE)
		return SL_RB_ETRUNC;
	hdr_read(p, out);
	return 0;
}

void
sl_rb_update_crc(uint8_t *p, size_t total_size)
{
	if (total_size < SL_RB_HDR_SIZE)
		return;
	sl_put_be32(p + 17, sl_crc32c(0, p + SL_RB_CRC_START, total_size - SL_RB_CRC_START));
}

/* Wrapping addition: offsets and timestamps of garbage input must not be UB. */
static inline int64_t
add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

/*
 * Parses one record at rd into *rec (offset and timestamp left relative: offset_delta and
 * *ts_delta). Returns 0 or SL_RB_ERECORD; on success rd is past the record.
 */
static int
parse_record(struct sl_rd *rd, struct sl_rb_rec *rec, int64_t *ts_delta)
{
	const uint8_t *start = rd->p;
	struct sl_rd b;
	int32_t len, i;

	len = sl_rd_varint(rd);
	if (rd->err || len < 0 || (size_t)len > sl_rd_left(rd))
		return SL_RB_ERECORD;
	sl_rd_init(&b, rd->p, (size_t)len);
	rec->attributes = (int8_t)sl_rd_u8(&b);
	*ts_delta = sl_rd_varlong(&b);
	rec->offset_delta = sl_rd_varint(&b);
	rec->key_len = sl_rd_varint(&b);
	if (rec->key_len < -1)
		return SL_RB_ERECORD;
	rec->key = rec->key_len >= 0 ? sl_rd_bytes(&b, (size_t)rec->key_len) : NULL;
	rec->value_len = sl_rd_varint(&b);
	if (rec->value_len < -1)
		return SL_RB_ERECORD;
	rec->value = rec->value_len >= 0 ? sl_rd_bytes(&b, (size_t)rec->value_len) : NULL;
	rec->header_count = sl_rd_varint(&b);
	if (b.err || rec->header_count < 0)
		return SL_RB_ERECORD;
	rec->headers = b.p;
	for (i = 0; i < rec->header_count && !b.err; i++) {
		int32_t hk, hv;

		hk = sl_rd_varint(&b);
		if (hk < 0)
			return SL_RB_ERECORD;
		(void)sl_rd_bytes(&b, (size_t)hk);
		hv = sl_rd_varint(&b);
		if (hv < -1)
			return SL_RB_ERECORD;
		if (hv >= 0)
			(void)sl_rd_bytes(&b, (size_t)hv);
	}
	if (b.err || b.p != b.end)
		return SL_RB_ERECORD;
	rec->headers_len = (size_t)(b.p - rec->headers);
	rd->p = b.end;
	rec->raw = start;
	rec->raw_len = (size_t)(b.end - start);
	return 0;
}

int
sl_rb_header_next(const uint8_t *headers, size_t headers_len, size_t *pos, struct sl_rb_kv *out)
{
	struct sl_rd rd;

	if (*pos >= headers_len)
		return 0;
	sl_rd_init(&rd, headers + *pos, headers_len - *pos);
	out->key_len = sl_rd_varint(&rd);
	if (rd.err || out->key_len < 0)
		return SL_RB_ERECORD;
	out->key = sl_rd_bytes(&rd, (size_t)out->key_len);
	out->value_len = sl_rd_varint(&rd);
	if (out->value_len < -1)
		return SL_RB_ERECORD;
	out->value = out->value_len >= 0 ? sl_rd_bytes(&rd, (size_t)out->value_len) : NULL;
	if (rd.err)
		return SL_RB_ERECORD;
	*pos = (size_t)(rd.p - headers);
	return 1;
}

/*
 * Points [*rp, *rend) at the batch's records, inflating them into scratch when compressed.
 * body/blen is the records section of a batch whose header is hdr.
 */
static int
records_region(const struct sl_rb_hdr *hdr, const uint8_t *body, size_t blen,
               struct sl_rb_scratch *scratch, const uint8_t **rp, const uint8_t **rend)
{
	int codec = hdr->attributes & SL_RB_ATTR_CODEC_MASK;
	int64_t n;

	if (codec == SL_CODEC_NONE || (blen == 0 && hdr->record_count == 0)) {
		*rp = body;
		*rend = body + blen;
		return 0;
	}
	if (codec > SL_CODEC_ZSTD)
		return SL_RB_ECODEC;
	if (!scratch || !scratch->buf)
		return SL_RB_ETOOBIG;
	n = sl_codec_decompress(codec, body, blen, scratch->buf, scratch->cap);
	if (n < 0) {
		if (n == -ENOBUFS)
			return SL_RB_ETOOBIG;
		if (n == -ENOTSUP)
			return SL_RB_ECODEC;
		return SL_RB_EDECOMP;
	}
	*rp = scratch->buf;
	*rend = scratch->buf + n;
	return 0;
}

/* Header checks that need no records. */
static int
check_header(const struct sl_rb_hdr *h, unsigned flags)
{
	bool stored = flags & SL_RB_VALIDATE_STORED;

	if ((uint16_t)h->attributes & ~(unsigned)ATTR_KNOWN)
		return SL_RB_EATTR;
	if ((h->attributes & SL_RB_ATTR_CODEC_MASK) > SL_CODEC_ZSTD)
		return SL_RB_ECODEC;
	if (h->record_count < (stored ? 0 : 1))
		return SL_RB_ECOUNT;
	if (h->last_offset_delta < 0)
		return SL_RB_EDELTA;
	if (stored ? h->last_offset_delta < h->record_count - 1
	           : h->last_offset_delta != h->record_count - 1)
		return SL_RB_EDELTA;
	if (h->base_timestamp < NO_TIMESTAMP || h->max_timestamp < NO_TIMESTAMP)
		return SL_RB_ETIMESTAMP;
	if (h->producer_id < -1)
		return SL_RB_EPRODUCER;
	if (h->producer_id >= 0) {
		if (h->producer_epoch < 0 || h->base_sequence < 0)
			return SL_RB_EPRODUCER;
	} else if (h->attributes & (SL_RB_ATTR_TRANSACTIONAL | SL_RB_ATTR_CONTROL)) {
		return SL_RB_EPRODUCER;
	}
	return 0;
}

static int
check_records(const struct sl_rb_hdr *h, const uint8_t *rp, const uint8_t *rend, unsigned flags)
{
	bool stored = flags & SL_RB_VALIDATE_STORED;
	bool create_time = !(h->attributes & SL_RB_ATTR_TIMESTAMP_TYPE);
	int32_t prev = -1, i;
	struct sl_rb_rec rec;
	struct sl_rd rd;
	int64_t tsd, ts;
	int r;

	if (h->record_count == 0)
		return rp == rend ? 0 : SL_RB_ECOUNT;
	sl_rd_init(&rd, rp, (size_t)(rend - rp));
	for (i = 0; i < h->record_count; i++) {
		if (sl_rd_left(&rd) == 0)
			return SL_RB_ECOUNT; /* fewer records than recordCount */
		r = parse_record(&rd, &rec, &tsd);
		if (r)
			return r;
		if (stored ? rec.offset_delta <= prev || rec.offset_delta > h->last_offset_delta
		           : rec.offset_delta != i)
			return SL_RB_EDELTA;
		prev = rec.offset_delta;
		if (create_time) {
			if (__builtin_add_overflow(h->base_timestamp, tsd, &ts))
				return SL_RB_ETIMESTAMP;
			if (ts < NO_TIMESTAMP || ts > h->max_timestamp)
				return SL_RB_ETIMESTAMP;
		}
	}
	if (sl_rd_left(&rd) != 0)
		return SL_RB_ECOUNT; /* more records than recordCount */
	return 0;
}

int64_t
sl_rb_validate(const uint8_t *p, size_t len, uint32_t max_bytes, unsigned flags,
               struct sl_rb_scratch *scratch, struct sl_rb_hdr *out)
{
	const uint8_t *rp, *rend;
	struct sl_rb_hdr hdr;
	int64_t total;
	int r;

	if (len < SL_RB_LOG_OVERHEAD)
		return SL_RB_ETRUNC;
	/* Callers may want the codec or the offsets of a bad batch too. */
	if (out && len >= SL_RB_HDR_SIZE)
		hdr_read(p, out);
	/* An old-format (magic 0/1) message set has its magic at the same offset. */
	if (len > 16 && p[16] != 2)
		return SL_RB_EMAGIC;
	total = sl_rb_total_size(p, len);
	if (total < 0)
		return total;
	if (max_bytes && total > (int64_t)max_bytes)
		return SL_RB_ETOOBIG;
	if ((uint64_t)total > len)
		return SL_RB_ETRUNC;
	hdr_read(p, &hdr); /* total >= SL_RB_HDR_SIZE */
	if (sl_crc32c(0, p + SL_RB_CRC_START, (size_t)total - SL_RB_CRC_START) != hdr.crc)
		return SL_RB_ECRC;
	r = check_header(&hdr, flags);
	if (r)
		return r;
	if (!(flags & SL_RB_VALIDATE_NO_RECORDS)) {
		r = records_region(&hdr, p + SL_RB_HDR_SIZE, (size_t)total - SL_RB_HDR_SIZE,
		                   scratch, &rp, &rend);
		if (r)
			return r;
		r = check_records(&hdr, rp, rend, flags);
		if (r)
			return r;
	}
	return total;
}

int
sl_rb_validate_set(const uint8_t *p, size_t len, uint32_t max_batch_bytes,
                   struct sl_rb_scratch *scratch, int64_t *nrecords)
{
	struct sl_rb_hdr hdr;
	int64_t sum = 0, n;
	size_t off = 0;
	int batches = 0;

	if (nrecords)
		*nrecords = 0;
	if (len == 0)
		return SL_RB_ECOUNT; /* Kafka: at least one batch per partition */
	while (off < len) {
		n = sl_rb_validate(p + off, len - off, max_batch_bytes, 0, scratch, &hdr);
		if (n < 0)
			return (int)n;
		if (batches == INT32_MAX)
			return SL_RB_ECOUNT;
		batches++;
		sum += hdr.record_count;
		off += (size_t)n;
	}
	if (nrecords)
		*nrecords = sum;
	return batches;
}

int
sl_rb_iter_init(struct sl_rb_iter *it, const uint8_t *batch, size_t len,
                struct sl_rb_scratch *scratch)
{
	int64_t total;
	int r;

	memset(it, 0, sizeof(*it));
	total = sl_rb_total_size(batch, len);
	if (total < 0)
		r = (int)total;
	else if ((uint64_t)total > len)
		r = SL_RB_ETRUNC;
	else
		r = sl_rb_hdr_parse(batch, (size_t)total, &it->hdr);
	if (!r)
		r = records_region(&it->hdr, batch + SL_RB_HDR_SIZE, (size_t)total - SL_RB_HDR_SIZE,
		                   scratch, &it->p, &it->end);
	if (r) {
		it->err = r;
		it->p = it->end = NULL;
		return r;
	}
	it->left = it->hdr.record_count > 0 ? it->hdr.record_count : 0;
	return 0;
}

int
sl_rb_iter_next(struct sl_rb_iter *it, struct sl_rb_rec *rec)
{
	struct sl_rd rd;
	int64_t tsd;
	int r;

	if (it->err)
		return it->err;
	if (it->left <= 0)
		return 0;
	if (it->p == it->end) {
		it->err = SL_RB_ECOUNT;
		return it->err;
	}
	sl_rd_init(&rd, it->p, (size_t)(it->end - it->p));
	r = parse_record(&rd, rec, &tsd);
	if (r) {
		it->err = r;
		return r;
	}
	it->p = rd.p;
	it->left--;
	rec->offset = add_wrap(it->hdr.base_offset, rec->offset_delta);
	if (it->hdr.attributes & SL_RB_ATTR_TIMESTAMP_TYPE)
		rec->timestamp = it->hdr.max_timestamp;
	else
		rec->timestamp = add_wrap(it->hdr.base_timestamp, tsd);
	return 1;
}
