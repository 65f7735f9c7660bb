// SPDX-License-Identifier: Apache-2.0
/* rbuild.c: the RecordBatch v2 builder (API and usage in rbuild.h). */
#include "storage/rbuild.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "storage/codec.h"

int
sl_rb_builder_init(struct sl_rb_builder *b, uint8_t *buf, size_t cap, int codec,
                   int64_t base_offset, int64_t base_timestamp, int64_t producer_id,
                   int16_t producer_epoch, int32_t base_sequence)
{
	memset(b, 0, sizeof(*b));
	if (codec < SL_CODEC_NONE || codec > SL_CODEC_ZSTD)
		return -EINVAL;
	if (!buf || cap < SL_RB_HDR_SIZE)
		return -ENOBUFS;
	b->buf = buf;
	b->cap = cap;
	b->len = SL_RB_HDR_SIZE;
	b->codec = codec;
	b->base_offset = base_offset;
	b->base_timestamp = base_timestamp;
	b->max_timestamp = -1;
	b->producer_id = producer_id;
	b->producer_epoch = producer_epoch;
	b->base_sequence = base_sequence;
	b->partition_leader_epoch = -1;
	b->last_delta = -1;
	return 0;
}

void
sl_rb_builder_set_attrs(struct sl_rb_builder *b, uint16_t attrs)
{
	b->attrs = attrs & (uint16_t)~SL_RB_ATTR_CODEC_MASK;
}

void
sl_rb_builder_set_max_timestamp(struct sl_rb_builder *b, int64_t max_timestamp)
{
	b->max_ts_override = max_timestamp;
	b->has_max_ts_override = true;
}

void
sl_rb_builder_set_last_offset_delta(struct sl_rb_builder *b, int32_t delta)
{
	b->min_last_offset_delta = delta;
}

void
sl_rb_builder_set_partition_leader_epoch(struct sl_rb_builder *b, int32_t epoch)
{
	b->partition_leader_epoch = epoch;
}

static size_t
varint_size(int32_t v)
{
	return sl_uvarint_size(sl_zigzag32(v));
}

static size_t
varlong_size(int64_t v)
{
	return sl_uvarint_size(sl_zigzag64(v));
}

/* Size of the raw header bytes for the given header array, or SIZE_MAX if invalid. */
static size_t
headers_size(const struct sl_rb_kv *headers, unsigned n)
{
	size_t sz = 0;
	unsigned i;

	if (n && !headers)
		return SIZE_MAX;
	for (i = 0; i < n; i++) {
		const struct sl_rb_kv *h = &headers[i];

		if (h->key_len < 0 || !h->key || h->value_len < -1 ||
		    (h->value_len >= 0 && !h->value && h->value_len))
			return SIZE_MAX;
		sz += varint_size(h->key_len) + (size_t)h->key_len + varint_size(h->value_len) +
		      (h->value_len > 0 ? (size_t)h->value_len : 0);
		if (sz > INT32_MAX)
			return SIZE_MAX;
	}
	return sz;
}

/* Size of a record body (everything after the length varint), or 0 if invalid. */
static size_t
body_size(int64_t ts_delta, int32_t offset_delta, int32_t key_len, int32_t value_len,
          int32_t header_count, size_t hdr_bytes)
{
	size_t sz;

	if (key_len < -1 || value_len < -1 || header_count < 0 || hdr_bytes > INT32_MAX)
		return 0;
	sz = 1 + varlong_size(ts_delta) + varint_size(offset_delta) + varint_size(key_len) +
	     (key_len > 0 ? (size_t)key_len : 0) + varint_size(value_len) +
	     (value_len > 0 ? (size_t)value_len : 0) + varint_size(header_count) + hdr_bytes;
	return sz > INT32_MAX ? 0 : sz;
}

size_t
sl_rb_record_size(int64_t timestamp_delta, int32_t offset_delta, int32_t key_len, int32_t value_len,
                  const struct sl_rb_kv *headers, unsigned header_count)
{
	size_t hb = headers_size(headers, header_count), body;

	if (hb == SIZE_MAX || header_count > INT32_MAX)
		return 0;
	body = body_size(timestamp_delta, offset_delta, key_len, value_len, (int32_t)header_count,
	                 hb);
	if (!body)
		return 0;
	return varint_size((int32_t)body) + body;
}

static uint8_t *
put_bytes(uint8_t *w, const void *p, int32_t len)
{
	w += sl_put_varint(w, len);
	if (len > 0) {
		memcpy(w, p, (size_t)len);
		w += len;
	}
	return w;
}

struct rec_fields {
	int8_t attributes;
	int64_t timestamp;
	int32_t offset_delta;
	const void *key;
	int32_t key_len;
	const void *value;
	int32_t value_len;
	int32_t header_count;
	const struct sl_rb_kv *headers; /* either these ... */
	const uint8_t *raw_headers;     /* ... or these bytes, raw_headers_len long */
	size_t raw_headers_len;
};

static int
append(struct sl_rb_builder *b, const struct rec_fields *f)
{
	size_t hb, body, total;
	int64_t tsd;
	uint8_t *w;
	int32_t i;

	if (b->finished)
		return -EINVAL;
	if ((f->key_len > 0 && !f->key) || (f->value_len > 0 && !f->value))
		return -EINVAL;
	if (f->offset_delta <= b->last_delta)
		return -EINVAL;
	if (__builtin_sub_overflow(f->timestamp, b->base_timestamp, &tsd))
		return -EOVERFLOW;
	if (f->raw_headers) {
		hb = f->raw_headers_len;
	} else {
		hb = headers_size(f->headers, (unsigned)f->header_count);
		if (hb == SIZE_MAX)
			return -EINVAL;
	}
	body = body_size(tsd, f->offset_delta, f->key_len, f->value_len, f->header_count, hb);
	if (!body)
		return -EINVAL;
	total = varint_size((int32_t)body) + body;
	if (total > b->cap - b->len)
		return -ENOBUFS;

	w = b->buf + b->len;
	w += sl_put_varint(w, (int32_t)body);
	*w++ = (uint8_t)f->attributes;
	w += sl_put_varlong(w, tsd);
	w += sl_put_varint(w, f->offset_delta);
	w = put_bytes(w, f->key, f->key_len);
	w = put_bytes(w, f->value, f->value_len);
	w += sl_put_varint(w, f->header_count);
	if (f->raw_headers) {
		if (hb)
			memcpy(w, f->raw_headers, hb);
		w += hb;
	} else {
		for (i = 0; i < f->header_count; i++) {
			w = put_bytes(w, f->headers[i].key, f->headers[i].key_len);
			w = put_bytes(w, f->headers[i].value, f->headers[i].value_len);
		}
	}
	SL_BUG_ON((size_t)(w - (b->buf + b->len)) != total);
	b->len += total;
	b->count++;
	b->last_delta = f->offset_delta;
	if (f->timestamp > b->max_timestamp)
		b->max_timestamp = f->timestamp;
	return 0;
}

int
sl_rb_builder_add(struct sl_rb_builder *b, int64_t timestamp, const void *key, int32_t key_len,
                  const void *value, int32_t value_len, const struct sl_rb_kv *headers,
                  unsigned header_count)
{
	struct rec_fields f = {
	        .timestamp = timestamp,
	        .key = key,
	        .key_len = key_len,
	        .value = value,
	        .value_len = value_len,
	        .headers = headers,
	};

	if (b->last_delta == INT32_MAX)
		return -EOVERFLOW;
	if (header_count > INT32_MAX)
		return -EINVAL;
	f.offset_delta = b->last_delta + 1;
	f.header_count = (int32_t)header_count;
	return append(b, &f);
}

int
sl_rb_builder_add_raw(struct sl_rb_builder *b, const struct sl_rb_rec *rec)
{
	struct rec_fields f = {
	        .attributes = rec->attributes,
	        .timestamp = rec->timestamp,
	        .offset_delta = rec->offset_delta,
	        .key = rec->key,
	        .key_len = rec->key_len,
	        .value = rec->value,
	        .value_len = rec->value_len,
	        .header_count = rec->header_count,
	        .raw_headers = rec->headers,
	        .raw_headers_len = rec->headers_len,
	};

	struct sl_rb_kv kv;
	size_t pos = 0;
	int32_t n = 0;
	int r;

	if (rec->header_count < 0 || (rec->headers_len && !rec->headers))
		return -EINVAL;
	/* The raw headers must be exactly header_count well-formed headers. */
	while ((r = sl_rb_header_next(rec->headers, rec->headers_len, &pos, &kv)) == 1)
		n++;
	if (r < 0 || n != rec->header_count)
		return -EINVAL;
	if (!f.raw_headers)
		f.raw_headers = (const uint8_t *)"";
	return append(b, &f);
}

int64_t
sl_rb_builder_finish(struct sl_rb_builder *b, struct sl_rb_scratch *scratch)
{
	size_t rlen = b->len - SL_RB_HDR_SIZE;
	int32_t lod;
	uint8_t *h = b->buf;

	if (b->finished)
		return -EINVAL;
	if (b->codec != SL_CODEC_NONE && b->count > 0) {
		int64_t n;

		if (!scratch || !scratch->buf || scratch->cap < sl_codec_bound(b->codec, rlen))
			return -ENOBUFS;
		n = sl_codec_compress(b->codec, h + SL_RB_HDR_SIZE, rlen, scratch->buf,
		                      scratch->cap);
		if (n < 0)
			return n;
		if ((size_t)n > b->cap - SL_RB_HDR_SIZE)
			return -ENOBUFS;
		memcpy(h + SL_RB_HDR_SIZE, scratch->buf, (size_t)n);
		rlen = (size_t)n;
	} else if (b->count == 0) {
		rlen = 0;
	}
	if (SL_RB_HDR_SIZE + rlen > SL_RB_MAX_TOTAL_SIZE)
		return -EOVERFLOW;
	lod = b->last_delta > b->min_last_offset_delta ? b->last_delta : b->min_last_offset_delta;
	if (lod < 0)
		lod = 0;

	sl_put_be64(h, (uint64_t)b->base_offset);
	sl_put_be32(h + 8, (uint32_t)(SL_RB_HDR_SIZE + rlen - SL_RB_LOG_OVERHEAD));
	sl_put_be32(h + 12, (uint32_t)b->partition_leader_epoch);
	h[16] = 2;
	sl_put_be16(h + 21, (uint16_t)(b->attrs | (unsigned)b->codec));
	sl_put_be32(h + 23, (uint32_t)lod);
	sl_put_be64(h + 27, (uint64_t)b->base_timestamp);
	sl_put_be64(h + 35,
	            (uint64_t)(b->has_max_ts_override ? b->max_ts_override : b->max_timestamp));
	sl_put_be64(h + 43, (uint64_t)b->producer_id);
	sl_put_be16(h + 51, (uint16_t)b->producer_epoch);
	sl_put_be32(h + 53, (uint32_t)b->base_sequence);
	sl_put_be32(h + 57, (uint32_t)b->count);
	sl_rb_update_crc(h, SL_RB_HDR_SIZE + rlen);
	b->finished = true;
	b->len = SL_RB_HDR_SIZE + rlen;
	return (int64_t)b->len;
}
