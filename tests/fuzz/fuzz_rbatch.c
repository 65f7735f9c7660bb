// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_rbatch.c: record-batch validation, iteration, re-building and the codecs, on
 * arbitrary bytes. Besides "no crash, no leak, no out-of-bounds access", it checks:
 *
 *  - a batch that validates iterates exactly recordCount records, each inside the batch or
 *    the scratch buffer, and re-building it record by record (sl_rb_builder_add_raw) gives a
 *    batch that validates under the same rules and iterates back the same records;
 *  - the input with its CRC fixed up is run again, so mutations reach the record parser
 *    instead of stopping at the CRC check;
 *  - input[0] picks a codec and input[1] a destination size for a direct
 *    sl_codec_decompress() of the rest: the result never exceeds the destination, and what
 *    decompresses re-compresses and decompresses to the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/codec.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define SCRATCH_CAP (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t scratch_a[SCRATCH_CAP], scratch_b[SCRATCH_CAP], scratch_c[2 * SCRATCH_CAP];
static uint8_t rebuilt[SCRATCH_CAP + 4096];

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static bool
inside(const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
	return n == 0 || (p >= lo && p <= hi && n <= (size_t)(hi - p));
}

/* Iterates batch p; returns the number of records, or < 0. With a valid batch, checks that
 * every pointer lies in the batch or the scratch. */
static int64_t
iterate(const uint8_t *p, size_t len, struct sl_rb_scratch *sc, bool strict)
{
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	int64_t n = 0;
	int r;

	if (sl_rb_iter_init(&it, p, len, sc) < 0)
		return -1;
	while ((r = sl_rb_iter_next(&it, &rec)) == 1) {
		bool in_batch = inside(rec.raw, rec.raw_len, p, p + len);
		bool in_scratch = inside(rec.raw, rec.raw_len, sc->buf, sc->buf + sc->cap);
		struct sl_rb_kv kv;
		size_t pos = 0;
		int32_t h = 0;

		CHECK(in_batch || in_scratch);
		if (rec.key_len >= 0)
			CHECK(inside(rec.key, (size_t)rec.key_len, rec.raw, rec.raw + rec.raw_len));
		if (rec.value_len >= 0)
			CHECK(inside(rec.value, (size_t)rec.value_len, rec.raw,
			             rec.raw + rec.raw_len));
		CHECK(inside(rec.headers, rec.headers_len, rec.raw, rec.raw + rec.raw_len));
		while ((r = sl_rb_header_next(rec.headers, rec.headers_len, &pos, &kv)) == 1)
			h++;
		CHECK(r == 0 && h == rec.header_count);
		n++;
		if (strict)
			CHECK(n <= INT32_MAX);
	}
	return r == 0 ? n : r;
}

/* Re-builds a valid batch record by record and checks the copy. */
static void
rebuild_and_compare(const uint8_t *p, size_t len, const struct sl_rb_hdr *h, unsigned flags)
{
	struct sl_rb_scratch sa = {scratch_a, sizeof(scratch_a)};
	struct sl_rb_scratch sb = {scratch_b, sizeof(scratch_b)};
	struct sl_rb_scratch sc = {scratch_c, sizeof(scratch_c)};
	struct sl_rb_builder b;
	struct sl_rb_iter x, y;
	struct sl_rb_rec rx, ry;
	struct sl_rb_hdr h2;
	int64_t total;
	int r;

	if (sl_rb_builder_init(&b, rebuilt, sizeof(rebuilt), h->attributes & SL_RB_ATTR_CODEC_MASK,
	                       h->base_offset, h->base_timestamp, h->producer_id, h->producer_epoch,
	                       h->base_sequence))
		abort();
	sl_rb_builder_set_attrs(&b, (uint16_t)h->attributes);
	sl_rb_builder_set_last_offset_delta(&b, h->last_offset_delta);
	sl_rb_builder_set_max_timestamp(&b, h->max_timestamp);
	CHECK(sl_rb_iter_init(&x, p, len, &sa) == 0);
	while ((r = sl_rb_iter_next(&x, &rx)) == 1) {
		/* Under LogAppendTime the iterator reports maxTimestamp; keep the raw one. */
		if (h->attributes & SL_RB_ATTR_TIMESTAMP_TYPE)
			return;
		CHECK(sl_rb_builder_add_raw(&b, &rx) == 0);
	}
	CHECK(r == 0);
	total = sl_rb_builder_finish(&b, &sc);
	if (total == -ENOBUFS)
		return; /* compressed worse than the original and did not fit */
	CHECK(total > 0);
	CHECK(sl_rb_validate(rebuilt, (size_t)total, 0, flags, &sb, &h2) == total);
	CHECK(h2.record_count == h->record_count);
	CHECK(h2.last_offset_delta == h->last_offset_delta);
	CHECK(h2.max_timestamp == h->max_timestamp);
	CHECK(sl_rb_iter_init(&x, p, len, &sa) == 0);
	CHECK(sl_rb_iter_init(&y, rebuilt, (size_t)total, &sb) == 0);
	while ((r = sl_rb_iter_next(&x, &rx)) == 1) {
		CHECK(sl_rb_iter_next(&y, &ry) == 1);
		CHECK(rx.offset == ry.offset && rx.timestamp == ry.timestamp);
		CHECK(rx.key_len == ry.key_len && rx.value_len == ry.value_len);
		CHECK(rx.key_len <= 0 || memcmp(rx.key, ry.key, (size_t)rx.key_len) == 0);
		CHECK(rx.value_len <= 0 || memcmp(rx.value, ry.value, (size_t)rx.value_len) == 0);
		CHECK(rx.headers_len == ry.headers_len);
		CHECK(rx.headers_len == 0 || memcmp(rx.headers, ry.headers, rx.headers_len) == 0);
	}
	CHECK(r == 0 && sl_rb_iter_next(&y, &ry) == 0);
}

static void
one_batch(const uint8_t *p, size_t len)
{
	static const unsigned flag_sets[] = {0, SL_RB_VALIDATE_STORED, SL_RB_VALIDATE_NO_RECORDS};
	struct sl_rb_scratch sa = {scratch_a, sizeof(scratch_a)};
	struct sl_rb_hdr h;

	for (unsigned f = 0; f < sizeof(flag_sets) / sizeof(flag_sets[0]); f++) {
		int64_t r = sl_rb_validate(p, len, 0, flag_sets[f], &sa, &h);

		if (r < 0) {
			CHECK(r >= SL_RB_EDECOMP && r <= SL_RB_ETRUNC);
			continue;
		}
		CHECK(r >= SL_RB_HDR_SIZE && (size_t)r <= len);
		if (flag_sets[f] & SL_RB_VALIDATE_NO_RECORDS)
			continue;
		CHECK(iterate(p, (size_t)r, &sa, true) == h.record_count);
		rebuild_and_compare(p, (size_t)r, &h, flag_sets[f]);
	}
	(void)iterate(p, len, &sa, false);
}

static void
codec_direct(const uint8_t *data, size_t size)
{
	int codec;
	size_t cap;
	int64_t n, c, d;

	if (size < 2)
		return;
	codec = data[0] % 6;                     /* 5 = unknown */
	cap = (size_t)data[1] << (data[0] >> 4); /* up to 255 << 15 */
	if (cap > SCRATCH_CAP)
		cap = SCRATCH_CAP;
	n = sl_codec_decompress(codec, data + 2, size - 2, scratch_a, cap);
	if (n < 0) {
		CHECK(n == -ENOBUFS || n == -EBADMSG || n == -ENOTSUP);
		return;
	}
	CHECK((size_t)n <= cap);
	if (!(data[0] & 0x08) || sl_codec_bound(codec, (size_t)n) > sizeof(scratch_c))
		return;
	c = sl_codec_compress(codec, scratch_a, (size_t)n, scratch_c, sizeof(scratch_c));
	CHECK(c >= 0);
	d = sl_codec_decompress(codec, scratch_c, (size_t)c, scratch_b, sizeof(scratch_b));
	CHECK(d == n && memcmp(scratch_a, scratch_b, (size_t)n) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_rb_scratch sa = {scratch_a, sizeof(scratch_a)};
	int64_t total, nrec;
	uint8_t *copy;
	int n;

	one_batch(data, size);
	n = sl_rb_validate_set(data, size, 0, &sa, &nrec);
	CHECK(n > 0 ? nrec >= 0 : (n >= SL_RB_EDECOMP && n <= SL_RB_ETRUNC));

	/* Again with the CRC made right, so that mutations get past it. */
	total = sl_rb_total_size(data, size);
	if (total > 0 && (size_t)total <= size && size <= SCRATCH_CAP) {
		copy = malloc(size);
		memcpy(copy, data, size);
		sl_rb_update_crc(copy, (size_t)total);
		one_batch(copy, size);
		free(copy);
	}

	codec_direct(data, size);
	return 0;
}
