// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for storage/rbatch: valid batches of every codec (ours and kafka-python's)
 * validate and iterate back exactly; every malformed field yields its own error; a batch cut
 * at every length, or with any byte changed, fails cleanly (run under ASan with exact-size
 * heap copies, so a read past the end is caught).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/codec.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define BASE_TS 1700000000000LL
#define SCRATCH_CAP (4u << 20)

static uint8_t *scratch_mem;
static struct sl_rb_scratch scratch;

/*
 * Batches produced by kafka-python 2.0.2's DefaultRecordBatchBuilder (an independent
 * implementation; its snappy uses the xerial framing): three records at offsets 0..2,
 * timestamps BASE_TS+0, +5, +3; keys "k0", null, "k2"; values "value-0 " x12, "value-1 " x12,
 * null; record 1 has one header h=v. pid/epoch/seq -1, partitionLeaderEpoch 0.
 */
static const uint8_t kp_none[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x12, 0x00, 0x00, 0x00,
        0x00, 0x02, 0xd0, 0x57, 0x3a, 0xad, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01,
        0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
        0x03, 0xd2, 0x01, 0x00, 0x00, 0x00, 0x04, 0x6b, 0x30, 0xc0, 0x01, 0x76, 0x61, 0x6c, 0x75,
        0x65, 0x2d, 0x30, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x76, 0x61, 0x6c,
        0x75, 0x65, 0x2d, 0x30, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x76, 0x61,
        0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x76,
        0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20,
        0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30,
        0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d,
        0x30, 0x20, 0x00, 0xd6, 0x01, 0x00, 0x0a, 0x02, 0x01, 0xc0, 0x01, 0x76, 0x61, 0x6c, 0x75,
        0x65, 0x2d, 0x31, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20, 0x76, 0x61, 0x6c,
        0x75, 0x65, 0x2d, 0x31, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20, 0x76, 0x61,
        0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20, 0x76,
        0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20,
        0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31,
        0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x31, 0x20, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d,
        0x31, 0x20, 0x02, 0x02, 0x68, 0x02, 0x76, 0x10, 0x00, 0x06, 0x04, 0x04, 0x6b, 0x32, 0x01,
        0x00,
};

static const uint8_t kp_gzip[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x74, 0x00, 0x00, 0x00,
        0x00, 0x02, 0xf5, 0x63, 0x94, 0xb7, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01,
        0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
        0x03, 0x1f, 0x8b, 0x08, 0x00, 0x4a, 0xa6, 0x06, 0x6b, 0x02, 0xff, 0xbb, 0xc4, 0xc8, 0xc0,
        0xc0, 0xc0, 0x92, 0x6d, 0x70, 0x80, 0xb1, 0x2c, 0x31, 0xa7, 0x34, 0x55, 0xd7, 0x40, 0x81,
        0x56, 0x34, 0xc3, 0x35, 0x46, 0x06, 0x2e, 0x26, 0x46, 0x98, 0x45, 0x86, 0x0a, 0xb4, 0xa2,
        0x99, 0x98, 0x32, 0x98, 0xca, 0x04, 0x18, 0xd8, 0x58, 0x58, 0xb2, 0x8d, 0x18, 0x19, 0x00,
        0xaf, 0x82, 0x86, 0x8c, 0xe1, 0x00, 0x00, 0x00,
};

static const uint8_t kp_snappy[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00,
        0x00, 0x02, 0x3a, 0x8f, 0x4d, 0xb3, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01,
        0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00,
        0x03, 0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x3e, 0xe1, 0x01, 0x44, 0xd2, 0x01, 0x00, 0x00, 0x00, 0x04,
        0x6b, 0x30, 0xc0, 0x01, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0xfe, 0x08, 0x00,
        0x5e, 0x08, 0x00, 0x18, 0x00, 0xd6, 0x01, 0x00, 0x0a, 0x02, 0x01, 0x11, 0x69, 0x00, 0x31,
        0x0d, 0x69, 0xfe, 0x08, 0x00, 0x46, 0x08, 0x00, 0x34, 0x02, 0x02, 0x68, 0x02, 0x76, 0x10,
        0x00, 0x06, 0x04, 0x04, 0x6b, 0x32, 0x01, 0x00,
};

static const uint8_t kp_lz4[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,
        0x00, 0x00, 0x02, 0xdc, 0xaf, 0xcc, 0xd0, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00,
        0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68,
        0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x03, 0x04, 0x22, 0x4d, 0x18, 0x68, 0x40, 0xe1, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x28, 0x38, 0x00, 0x00, 0x00, 0xff, 0x03, 0xd2, 0x01,
        0x00, 0x00, 0x00, 0x04, 0x6b, 0x30, 0xc0, 0x01, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x2d,
        0x30, 0x20, 0x08, 0x00, 0x45, 0x74, 0x00, 0xd6, 0x01, 0x00, 0x0a, 0x02, 0x01, 0x69,
        0x00, 0x13, 0x31, 0x69, 0x00, 0x0f, 0x08, 0x00, 0x3f, 0xe0, 0x02, 0x02, 0x68, 0x02,
        0x76, 0x10, 0x00, 0x06, 0x04, 0x04, 0x6b, 0x32, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t kp_zstd[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x70, 0x00, 0x00,
        0x00, 0x00, 0x02, 0xce, 0xf4, 0xbd, 0x0e, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00,
        0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68,
        0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x03, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0xe1, 0xb5, 0x01, 0x00,
        0x84, 0x02, 0xd2, 0x01, 0x00, 0x00, 0x00, 0x04, 0x6b, 0x30, 0xc0, 0x01, 0x76, 0x61,
        0x6c, 0x75, 0x65, 0x2d, 0x30, 0x20, 0x00, 0xd6, 0x01, 0x00, 0x0a, 0x02, 0x01, 0x31,
        0x02, 0x02, 0x68, 0x02, 0x76, 0x10, 0x00, 0x06, 0x04, 0x04, 0x6b, 0x32, 0x01, 0x00,
        0x04, 0x00, 0x0f, 0x10, 0x80, 0xbb, 0x6c, 0x78, 0x8d, 0xda, 0x54, 0xc2,
};

struct fixture {
	int codec;
	const uint8_t *p;
	size_t len;
};

static const struct fixture fixtures[] = {
        {SL_CODEC_NONE, kp_none, sizeof(kp_none)},       {SL_CODEC_GZIP, kp_gzip, sizeof(kp_gzip)},
        {SL_CODEC_SNAPPY, kp_snappy, sizeof(kp_snappy)}, {SL_CODEC_LZ4, kp_lz4, sizeof(kp_lz4)},
        {SL_CODEC_ZSTD, kp_zstd, sizeof(kp_zstd)},
};

static int
setup(void **state)
{
	(void)state;
	scratch_mem = malloc(SCRATCH_CAP);
	scratch.buf = scratch_mem;
	scratch.cap = SCRATCH_CAP;
	return scratch_mem ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	free(scratch_mem);
	return 0;
}

/* The records every generated batch holds: record i has key "key-<i>" (null when i % 7 == 3),
 * a value of vsz bytes (null when i % 11 == 5), headers on odd records, and timestamps that
 * go back and forth around BASE_TS. */
static int64_t
rec_ts(int i)
{
	return BASE_TS + (i * 7) % 5;
}

static void
rec_value(int i, uint8_t *v, size_t vsz)
{
	for (size_t k = 0; k < vsz; k++)
		v[k] = (uint8_t)("abcdefghij"[(i + k) % 10] + (k % 97 == 0));
}

static size_t
build(int codec, int n, size_t vsz, uint8_t *out, size_t cap)
{
	struct sl_rb_builder b;
	uint8_t *v = malloc(vsz + 1);
	char key[32];
	struct sl_rb_kv hdrs[2] = {
	        {(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
	        {(const uint8_t *)"none", 4, NULL, -1},
	};
	int64_t total;

	assert_int_equal(sl_rb_builder_init(&b, out, cap, codec, 0, BASE_TS, -1, -1, -1), 0);
	for (int i = 0; i < n; i++) {
		int kl = snprintf(key, sizeof(key), "key-%d", i);

		rec_value(i, v, vsz);
		assert_int_equal(sl_rb_builder_add(&b, rec_ts(i), i % 7 == 3 ? NULL : key,
		                                   i % 7 == 3 ? -1 : kl, i % 11 == 5 ? NULL : v,
		                                   i % 11 == 5 ? -1 : (int32_t)vsz, hdrs,
		                                   (i & 1) ? 2 : 0),
		                 0);
	}
	total = sl_rb_builder_finish(&b, &scratch);
	assert_true(total > 0);
	free(v);
	return (size_t)total;
}

/* Checks that batch p iterates back exactly the records build() put in, at base_offset. */
static void
check_records(const uint8_t *p, size_t len, int n, size_t vsz, int64_t base_offset)
{
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	uint8_t *v = malloc(vsz + 1);
	char key[32];
	int i = 0, r;

	assert_int_equal(sl_rb_iter_init(&it, p, len, &scratch), 0);
	while ((r = sl_rb_iter_next(&it, &rec)) == 1) {
		int kl = snprintf(key, sizeof(key), "key-%d", i);
		struct sl_rb_kv kv;
		size_t pos = 0;

		assert_int_equal(rec.offset, base_offset + i);
		assert_int_equal(rec.offset_delta, i);
		assert_int_equal(rec.timestamp, rec_ts(i));
		if (i % 7 == 3) {
			assert_int_equal(rec.key_len, -1);
			assert_null(rec.key);
		} else {
			assert_int_equal(rec.key_len, kl);
			assert_memory_equal(rec.key, key, (size_t)kl);
		}
		if (i % 11 == 5) {
			assert_int_equal(rec.value_len, -1);
		} else {
			rec_value(i, v, vsz);
			assert_int_equal(rec.value_len, (int32_t)vsz);
			assert_memory_equal(rec.value, v, vsz);
		}
		assert_int_equal(rec.header_count, (i & 1) ? 2 : 0);
		if (i & 1) {
			assert_int_equal(sl_rb_header_next(rec.headers, rec.headers_len, &pos, &kv),
			                 1);
			assert_int_equal(kv.key_len, 5);
			assert_memory_equal(kv.key, "trace", 5);
			assert_int_equal(kv.value_len, 3);
			assert_memory_equal(kv.value, "abc", 3);
			assert_int_equal(sl_rb_header_next(rec.headers, rec.headers_len, &pos, &kv),
			                 1);
			assert_int_equal(kv.key_len, 4);
			assert_int_equal(kv.value_len, -1);
			assert_null(kv.value);
		}
		assert_int_equal(sl_rb_header_next(rec.headers, rec.headers_len, &pos, &kv), 0);
		i++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(i, n);
	free(v);
}

static void
test_rbatch_every_codec_validates_and_iterates_exactly(void **state)
{
	const int counts[] = {1, 10, 300};
	const size_t vsizes[] = {0, 100, 1024};
	static uint8_t buf[1 << 20];

	(void)state;
	for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_ZSTD; codec++) {
		for (unsigned c = 0; c < SL_ARRAY_SIZE(counts); c++) {
			for (unsigned v = 0; v < SL_ARRAY_SIZE(vsizes); v++) {
				size_t total = build(codec, counts[c], vsizes[v], buf, sizeof(buf));
				struct sl_rb_hdr h;
				int64_t max_ts = BASE_TS;

				for (int i = 0; i < counts[c]; i++)
					max_ts = SL_MAX(max_ts, rec_ts(i));
				assert_int_equal(sl_rb_validate(buf, total, 0, 0, &scratch, &h),
				                 (int64_t)total);
				assert_int_equal(h.magic, 2);
				assert_int_equal(h.attributes & SL_RB_ATTR_CODEC_MASK, codec);
				assert_int_equal(h.record_count, counts[c]);
				assert_int_equal(h.last_offset_delta, counts[c] - 1);
				assert_int_equal(h.batch_length,
				                 (int32_t)total - SL_RB_LOG_OVERHEAD);
				assert_int_equal(h.base_timestamp, BASE_TS);
				assert_int_equal(h.max_timestamp, max_ts);
				assert_int_equal(h.producer_id, -1);
				/* Trailing bytes after the batch are not examined. */
				assert_int_equal(
				        sl_rb_validate(buf, total + 100, 0, 0, &scratch, NULL),
				        (int64_t)total);
				assert_int_equal(sl_rb_validate(buf, total, 0,
				                                SL_RB_VALIDATE_NO_RECORDS, NULL,
				                                NULL),
				                 (int64_t)total);
				/* baseOffset and partitionLeaderEpoch lie outside the CRC. */
				sl_rb_set_base_offset(buf, 1000);
				sl_put_be32(buf + 12, 42);
				assert_int_equal(sl_rb_validate(buf, total, 0, 0, &scratch, &h),
				                 (int64_t)total);
				assert_int_equal(h.base_offset, 1000);
				assert_int_equal(h.partition_leader_epoch, 42);
				check_records(buf, total, counts[c], vsizes[v], 1000);
				if (codec != SL_CODEC_NONE && vsizes[v] >= 100 && counts[c] >= 10)
					assert_true(total < (size_t)counts[c] * vsizes[v] / 2);
			}
		}
	}
}

/* kafka-python's batches (another implementation's CRC, varints and framing) validate. */
static void
test_rbatch_kafka_python_batches_validate_and_iterate(void **state)
{
	(void)state;
	for (unsigned f = 0; f < SL_ARRAY_SIZE(fixtures); f++) {
		const struct fixture *fx = &fixtures[f];
		uint8_t *copy = malloc(fx->len);
		struct sl_rb_iter it;
		struct sl_rb_rec rec;
		struct sl_rb_hdr h;
		struct sl_rb_kv kv;
		size_t pos = 0;
		char v[128];

		memcpy(copy, fx->p, fx->len);
		assert_int_equal(sl_rb_validate(copy, fx->len, 0, 0, &scratch, &h),
		                 (int64_t)fx->len);
		assert_int_equal(h.attributes & SL_RB_ATTR_CODEC_MASK, fx->codec);
		assert_int_equal(h.record_count, 3);
		assert_int_equal(h.max_timestamp, BASE_TS + 5);
		assert_int_equal(sl_rb_iter_init(&it, copy, fx->len, &scratch), 0);

		assert_int_equal(sl_rb_iter_next(&it, &rec), 1);
		assert_int_equal(rec.offset, 0);
		assert_int_equal(rec.timestamp, BASE_TS);
		assert_int_equal(rec.key_len, 2);
		assert_memory_equal(rec.key, "k0", 2);
		for (int i = 0; i < 12; i++)
			memcpy(v + 8 * i, "value-0 ", 8);
		assert_int_equal(rec.value_len, 96);
		assert_memory_equal(rec.value, v, 96);
		assert_int_equal(rec.header_count, 0);

		assert_int_equal(sl_rb_iter_next(&it, &rec), 1);
		assert_int_equal(rec.offset, 1);
		assert_int_equal(rec.timestamp, BASE_TS + 5);
		assert_int_equal(rec.key_len, -1);
		for (int i = 0; i < 12; i++)
			memcpy(v + 8 * i, "value-1 ", 8);
		assert_memory_equal(rec.value, v, 96);
		assert_int_equal(rec.header_count, 1);
		assert_int_equal(sl_rb_header_next(rec.headers, rec.headers_len, &pos, &kv), 1);
		assert_int_equal(kv.key_len, 1);
		assert_memory_equal(kv.key, "h", 1);
		assert_int_equal(kv.value_len, 1);
		assert_memory_equal(kv.value, "v", 1);

		assert_int_equal(sl_rb_iter_next(&it, &rec), 1);
		assert_int_equal(rec.offset, 2);
		assert_int_equal(rec.timestamp, BASE_TS + 3);
		assert_int_equal(rec.value_len, -1);
		assert_null(rec.value);
		assert_int_equal(sl_rb_iter_next(&it, &rec), 0);
		free(copy);
	}
}

/* Our builder writes kafka-python's uncompressed batch byte for byte (CRC included). */
static void
test_rbatch_builder_matches_kafka_python_bytes(void **state)
{
	struct sl_rb_builder b;
	struct sl_rb_kv h = {(const uint8_t *)"h", 1, (const uint8_t *)"v", 1};
	uint8_t buf[512], v0[96], v1[96];

	(void)state;
	for (int i = 0; i < 12; i++) {
		memcpy(v0 + 8 * i, "value-0 ", 8);
		memcpy(v1 + 8 * i, "value-1 ", 8);
	}
	assert_int_equal(
	        sl_rb_builder_init(&b, buf, sizeof(buf), SL_CODEC_NONE, 0, BASE_TS, -1, -1, -1), 0);
	sl_rb_builder_set_partition_leader_epoch(&b, 0);
	assert_int_equal(sl_rb_builder_add(&b, BASE_TS, "k0", 2, v0, 96, NULL, 0), 0);
	assert_int_equal(sl_rb_builder_add(&b, BASE_TS + 5, NULL, -1, v1, 96, &h, 1), 0);
	assert_int_equal(sl_rb_builder_add(&b, BASE_TS + 3, "k2", 2, NULL, -1, NULL, 0), 0);
	assert_int_equal(sl_rb_builder_finish(&b, NULL), (int64_t)sizeof(kp_none));
	assert_memory_equal(buf, kp_none, sizeof(kp_none));
}

/* ---- helpers for malformed batches ---- */

static uint8_t bad[1 << 16];

/* A small uncompressed batch of n records (values of 20 bytes) in bad[]. */
static size_t
small_batch(int n)
{
	return build(SL_CODEC_NONE, n, 20, bad, sizeof(bad));
}

static int64_t
validate_bad(size_t total)
{
	return sl_rb_validate(bad, total, 0, 0, &scratch, NULL);
}

/* Patches a big-endian field and re-signs the batch, so only the field is wrong. */
static void
patch32(size_t total, size_t off, uint32_t v)
{
	sl_put_be32(bad + off, v);
	sl_rb_update_crc(bad, total);
}

static void
patch64(size_t total, size_t off, uint64_t v)
{
	sl_put_be64(bad + off, v);
	sl_rb_update_crc(bad, total);
}

static void
patch16(size_t total, size_t off, uint16_t v)
{
	sl_put_be16(bad + off, v);
	sl_rb_update_crc(bad, total);
}

static void
test_rbatch_short_input_etrunc(void **state)
{
	size_t total = small_batch(3);
	uint8_t *cut;

	(void)state;
	assert_int_equal(sl_rb_validate(bad, 0, 0, 0, &scratch, NULL), SL_RB_ETRUNC);
	assert_int_equal(sl_rb_validate(bad, 11, 0, 0, &scratch, NULL), SL_RB_ETRUNC);
	assert_int_equal(sl_rb_validate(bad, 60, 0, 0, &scratch, NULL), SL_RB_ETRUNC);
	cut = malloc(total - 1);
	memcpy(cut, bad, total - 1);
	assert_int_equal(sl_rb_validate(cut, total - 1, 0, 0, &scratch, NULL), SL_RB_ETRUNC);
	free(cut);
}

static void
test_rbatch_bad_batch_length_ebadlen(void **state)
{
	const uint32_t lens[] = {0, 48, 0xffffffffu, 0x80000000u, 0x7ffffff4u, 0x7fffffffu};
	size_t total = small_batch(3);

	(void)state;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(lens); i++) {
		small_batch(3);
		patch32(total, 8, lens[i]);
		assert_int_equal(validate_bad(total), SL_RB_EBADLEN);
		assert_true(sl_rb_total_size(bad, total) == SL_RB_EBADLEN);
	}
	/* The largest legal length is only truncated. */
	patch32(total, 8, 0x7ffffff3u);
	assert_int_equal(sl_rb_total_size(bad, total), INT32_MAX);
	assert_int_equal(validate_bad(total), SL_RB_ETRUNC);
}

static void
test_rbatch_wrong_magic_emagic(void **state)
{
	/* A magic-1 message set: offset, size 26, crc, magic 1, attributes, timestamp, key -1,
	 * value "ab". Its size is below a v2 header, yet the answer is "magic", not "length". */
	static const uint8_t v1[] = {0, 0, 0,    0,    0,    0,    0, 0, 0, 0, 0,   26,
	                             1, 2, 3,    4,    1,    0,    0, 0, 0, 0, 0,   0,
	                             0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 'a', 'b'};
	size_t total = small_batch(3);

	(void)state;
	bad[16] = 1;
	assert_int_equal(validate_bad(total), SL_RB_EMAGIC);
	bad[16] = 3;
	assert_int_equal(validate_bad(total), SL_RB_EMAGIC);
	assert_int_equal(sl_rb_validate(v1, sizeof(v1), 0, 0, &scratch, NULL), SL_RB_EMAGIC);
}

static void
test_rbatch_flipped_byte_ecrc(void **state)
{
	size_t total = small_batch(3);

	(void)state;
	bad[total - 3] ^= 0x20;
	assert_int_equal(validate_bad(total), SL_RB_ECRC);
	bad[total - 3] ^= 0x20;
	assert_int_equal(validate_bad(total), (int64_t)total);
	bad[17] ^= 0x01; /* the CRC itself */
	assert_int_equal(validate_bad(total), SL_RB_ECRC);
	bad[17] ^= 0x01;
	bad[22] ^= 0x08; /* attributes are covered */
	assert_int_equal(validate_bad(total), SL_RB_ECRC);
	/* The fast path checks the CRC too. */
	assert_int_equal(sl_rb_validate(bad, total, 0, SL_RB_VALIDATE_NO_RECORDS, NULL, NULL),
	                 SL_RB_ECRC);
}

static void
test_rbatch_reserved_attributes_eattr(void **state)
{
	const uint16_t attrs[] = {0x80, 0x100, 0x8000};
	size_t total = small_batch(3);

	(void)state;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(attrs); i++) {
		small_batch(3);
		patch16(total, 21, attrs[i]);
		assert_int_equal(validate_bad(total), SL_RB_EATTR);
	}
}

static void
test_rbatch_unknown_codec_ecodec(void **state)
{
	size_t total;
	struct sl_rb_iter it;

	(void)state;
	for (uint16_t c = 5; c <= 7; c++) {
		total = small_batch(3);
		patch16(total, 21, c);
		assert_int_equal(validate_bad(total), SL_RB_ECODEC);
		assert_int_equal(sl_rb_iter_init(&it, bad, total, &scratch), SL_RB_ECODEC);
		assert_int_equal(sl_rb_kerr(SL_RB_ECODEC), 76);
	}
}

static void
test_rbatch_record_count_lies_ecount(void **state)
{
	size_t total;

	(void)state;
	/* Says 3, holds 2. */
	total = small_batch(2);
	patch32(total, 57, 3);
	patch32(total, 23, 2);
	assert_int_equal(validate_bad(total), SL_RB_ECOUNT);
	/* Says 1, holds 2. */
	total = small_batch(2);
	patch32(total, 57, 1);
	patch32(total, 23, 0);
	assert_int_equal(validate_bad(total), SL_RB_ECOUNT);
	/* Says 0 or negative. */
	total = small_batch(1);
	patch32(total, 57, 0);
	assert_int_equal(validate_bad(total), SL_RB_ECOUNT);
	patch32(total, 57, 0xffffffffu);
	assert_int_equal(validate_bad(total), SL_RB_ECOUNT);
	/* Says 2^31-1 with a matching lastOffsetDelta, holds 1: fails fast, no huge loop. */
	total = small_batch(1);
	patch32(total, 57, INT32_MAX);
	patch32(total, 23, INT32_MAX - 1);
	assert_int_equal(validate_bad(total), SL_RB_ECOUNT);
}

static void
test_rbatch_offset_deltas_inconsistent_edelta(void **state)
{
	struct sl_rb_builder b;
	struct sl_rb_rec rec = {.key_len = -1, .value_len = -1, .timestamp = BASE_TS};
	size_t total;

	(void)state;
	/* lastOffsetDelta != recordCount - 1. */
	total = small_batch(2);
	patch32(total, 23, 5);
	assert_int_equal(validate_bad(total), SL_RB_EDELTA);
	patch32(total, 23, 0xffffffffu);
	assert_int_equal(validate_bad(total), SL_RB_EDELTA);
	/* Records with deltas 0 and 2 under a header claiming 0..1. */
	assert_int_equal(sl_rb_builder_init(&b, bad, sizeof(bad), 0, 0, BASE_TS, -1, -1, -1), 0);
	rec.offset_delta = 0;
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), 0);
	rec.offset_delta = 2;
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), 0);
	total = (size_t)sl_rb_builder_finish(&b, NULL);
	assert_int_equal(validate_bad(total), SL_RB_EDELTA); /* header: lod 2, count 2 */
	assert_int_equal(sl_rb_validate(bad, total, 0, SL_RB_VALIDATE_STORED, &scratch, NULL),
	                 (int64_t)total);
	patch32(total, 23, 1);
	assert_int_equal(validate_bad(total), SL_RB_EDELTA); /* record 1 has delta 2 */
	assert_int_equal(sl_rb_validate(bad, total, 0, SL_RB_VALIDATE_STORED, &scratch, NULL),
	                 SL_RB_EDELTA); /* delta 2 > lastOffsetDelta 1 */
}

static void
test_rbatch_bad_timestamps_etimestamp(void **state)
{
	struct sl_rb_builder b;
	size_t total;

	(void)state;
	/* maxTimestamp below a record's. */
	total = small_batch(3);
	patch64(total, 35, BASE_TS + 1);
	assert_int_equal(validate_bad(total), SL_RB_ETIMESTAMP);
	/* baseTimestamp / maxTimestamp below -1. */
	total = small_batch(3);
	patch64(total, 27, (uint64_t)-2);
	assert_int_equal(validate_bad(total), SL_RB_ETIMESTAMP);
	total = small_batch(3);
	patch64(total, 35, (uint64_t)-5);
	assert_int_equal(validate_bad(total), SL_RB_ETIMESTAMP);
	/* A record timestamp below -1 (base -1, delta -4). */
	assert_int_equal(sl_rb_builder_init(&b, bad, sizeof(bad), 0, 0, -1, -1, -1, -1), 0);
	assert_int_equal(sl_rb_builder_add(&b, -5, "k", 1, "v", 1, NULL, 0), 0);
	sl_rb_builder_set_max_timestamp(&b, 100);
	total = (size_t)sl_rb_builder_finish(&b, NULL);
	assert_int_equal(validate_bad(total), SL_RB_ETIMESTAMP);
	/* baseTimestamp + delta overflows. */
	total = small_batch(3);
	patch64(total, 27, (uint64_t)INT64_MAX - 1);
	patch64(total, 35, (uint64_t)INT64_MAX);
	assert_int_equal(validate_bad(total), SL_RB_ETIMESTAMP);
	/* -1 everywhere (no timestamps) is fine. */
	assert_int_equal(sl_rb_builder_init(&b, bad, sizeof(bad), 0, 0, -1, -1, -1, -1), 0);
	assert_int_equal(sl_rb_builder_add(&b, -1, "k", 1, "v", 1, NULL, 0), 0);
	total = (size_t)sl_rb_builder_finish(&b, NULL);
	assert_int_equal(validate_bad(total), (int64_t)total);
}

static size_t
producer_batch(int64_t pid, int16_t epoch, int32_t seq, uint16_t attrs)
{
	struct sl_rb_builder b;

	assert_int_equal(sl_rb_builder_init(&b, bad, sizeof(bad), 0, 0, BASE_TS, pid, epoch, seq),
	                 0);
	sl_rb_builder_set_attrs(&b, attrs);
	assert_int_equal(sl_rb_builder_add(&b, BASE_TS, "k", 1, "v", 1, NULL, 0), 0);
	return (size_t)sl_rb_builder_finish(&b, NULL);
}

static void
test_rbatch_producer_fields_inconsistent_eproducer(void **state)
{
	size_t t;

	(void)state;
	t = producer_batch(-2, -1, -1, 0);
	assert_int_equal(validate_bad(t), SL_RB_EPRODUCER);
	t = producer_batch(7, -1, 0, 0);
	assert_int_equal(validate_bad(t), SL_RB_EPRODUCER);
	t = producer_batch(7, 0, -1, 0);
	assert_int_equal(validate_bad(t), SL_RB_EPRODUCER);
	t = producer_batch(-1, -1, -1, SL_RB_ATTR_TRANSACTIONAL);
	assert_int_equal(validate_bad(t), SL_RB_EPRODUCER);
	t = producer_batch(-1, -1, -1, SL_RB_ATTR_CONTROL | SL_RB_ATTR_TRANSACTIONAL);
	assert_int_equal(validate_bad(t), SL_RB_EPRODUCER);
}

/* What real clients send is accepted: librdkafka/kafka-python (-1/-1/-1), kafkajs without
 * idempotence (-1/0/0), idempotent and transactional producers, and control batches. */
static void
test_rbatch_client_producer_fields_accepted(void **state)
{
	size_t t;

	(void)state;
	t = producer_batch(-1, -1, -1, 0);
	assert_int_equal(validate_bad(t), (int64_t)t);
	t = producer_batch(-1, 0, 0, 0);
	assert_int_equal(validate_bad(t), (int64_t)t);
	t = producer_batch(1000, 0, 0, 0);
	assert_int_equal(validate_bad(t), (int64_t)t);
	t = producer_batch(1000, 3, INT32_MAX, SL_RB_ATTR_TRANSACTIONAL);
	assert_int_equal(validate_bad(t), (int64_t)t);
	t = producer_batch(1000, 3, 0, SL_RB_ATTR_TRANSACTIONAL | SL_RB_ATTR_CONTROL);
	assert_int_equal(validate_bad(t), (int64_t)t);
}

static void
test_rbatch_malformed_record_erecord(void **state)
{
	size_t total;

	(void)state;
	/* One record "k"/"v": 61 length, 62 attributes, 63 timestampDelta, 64 offsetDelta,
	 * 65 keyLength, 66 'k', 67 valueLength, 68 'v', 69 headerCount. */
	total = producer_batch(-1, -1, -1, 0);
	assert_int_equal(total, 70);
	assert_int_equal(bad[61], 2 * 8);
	bad[61] = 2 * 9; /* length past the end */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
	bad[61] = 2 * 7; /* length short of the record's fields */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
	bad[61] = 1; /* negative length */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);

	total = producer_batch(-1, -1, -1, 0);
	bad[65] = 3; /* key length -2 */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
	total = producer_batch(-1, -1, -1, 0);
	bad[65] = 4; /* key length 2: swallows the value length */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
	total = producer_batch(-1, -1, -1, 0);
	bad[67] = 5; /* value length -3 */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
	total = producer_batch(-1, -1, -1, 0);
	bad[69] = 1; /* header count -1 */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
	total = producer_batch(-1, -1, -1, 0);
	bad[69] = 2; /* one header, no bytes for it */
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
	total = producer_batch(-1, -1, -1, 0);
	bad[63] = 0x80; /* varint running into the next fields, then past the record */
	bad[64] = 0x80;
	bad[65] = 0x80;
	bad[66] = 0x80;
	bad[67] = 0x80;
	bad[68] = 0x80;
	bad[69] = 0x80;
	sl_rb_update_crc(bad, total);
	assert_int_equal(validate_bad(total), SL_RB_ERECORD);
}

static void
test_rbatch_undecodable_block_edecomp(void **state)
{
	static uint8_t buf[1 << 16];

	(void)state;
	for (int codec = SL_CODEC_GZIP; codec <= SL_CODEC_ZSTD; codec++) {
		size_t total = build(codec, 20, 100, buf, sizeof(buf));

		/* Destroy the codec's magic / length prefix and re-sign. */
		memset(buf + SL_RB_HDR_SIZE, 0xff, 6);
		sl_rb_update_crc(buf, total);
		assert_int_equal(sl_rb_validate(buf, total, 0, 0, &scratch, NULL), SL_RB_EDECOMP);
		/* Header-only validation does not look inside. */
		assert_int_equal(
		        sl_rb_validate(buf, total, 0, SL_RB_VALIDATE_NO_RECORDS, NULL, NULL),
		        (int64_t)total);
		assert_int_equal(sl_rb_kerr(SL_RB_EDECOMP), 2);
	}
}

static void
test_rbatch_over_limits_etoobig(void **state)
{
	static uint8_t buf[1 << 16];
	struct sl_rb_scratch small;
	size_t total = small_batch(3);

	(void)state;
	assert_int_equal(sl_rb_validate(bad, total, (uint32_t)total - 1, 0, &scratch, NULL),
	                 SL_RB_ETOOBIG);
	assert_int_equal(sl_rb_validate(bad, total, (uint32_t)total, 0, &scratch, NULL),
	                 (int64_t)total);
	/* The limit wins over truncation: the size is known from the first 12 bytes. */
	assert_int_equal(sl_rb_validate(bad, 20, 30, 0, &scratch, NULL), SL_RB_ETOOBIG);
	/* Records that inflate beyond the scratch buffer (a decompression bomb). */
	for (int codec = SL_CODEC_GZIP; codec <= SL_CODEC_ZSTD; codec++) {
		struct sl_rb_hdr h;

		total = build(codec, 50, 1000, buf, sizeof(buf));
		small.buf = scratch.buf;
		small.cap = 40000; /* 45 non-null values of 1000 bytes */
		memset(&h, 0, sizeof(h));
		assert_int_equal(sl_rb_validate(buf, total, 0, 0, &small, &h), SL_RB_ETOOBIG);
		/* The header of a rejected batch is still reported. */
		assert_int_equal(h.attributes & SL_RB_ATTR_CODEC_MASK, codec);
		assert_int_equal(h.record_count, 50);
		assert_int_equal(sl_rb_validate(buf, total, 0, 0, NULL, NULL), SL_RB_ETOOBIG);
		assert_int_equal(sl_rb_validate(buf, total, 0, 0, &scratch, NULL), (int64_t)total);
	}
}

static void
test_rbatch_kafka_codes_and_names_distinct(void **state)
{
	static const struct {
		int err;
		int16_t kerr;
	} map[] = {
	        {SL_RB_ETRUNC, 2},      {SL_RB_EBADLEN, 2},    {SL_RB_EMAGIC, 2},
	        {SL_RB_ECRC, 2},        {SL_RB_ECOUNT, 87},    {SL_RB_EDELTA, 87},
	        {SL_RB_ETIMESTAMP, 87}, {SL_RB_EPRODUCER, 87}, {SL_RB_ERECORD, 87},
	        {SL_RB_ECODEC, 76},     {SL_RB_ETOOBIG, 10},   {SL_RB_EATTR, 87},
	        {SL_RB_EDECOMP, 2},
	};

	(void)state;
	assert_int_equal(sl_rb_kerr(0), 0);
	assert_int_equal(sl_rb_kerr(-EIO), -1);
	for (unsigned i = 0; i < SL_ARRAY_SIZE(map); i++) {
		assert_int_equal(sl_rb_kerr(map[i].err), map[i].kerr);
		for (unsigned j = 0; j < i; j++) {
			assert_int_not_equal(map[i].err, map[j].err);
			assert_string_not_equal(sl_rb_strerror(map[i].err),
			                        sl_rb_strerror(map[j].err));
		}
		assert_string_not_equal(sl_rb_strerror(map[i].err), sl_rb_strerror(-EIO));
	}
}

/* ---- sets ---- */

static void
test_rbatch_set_reports_bad_batch(void **state)
{
	static uint8_t set[1 << 16];
	size_t a, b, c;
	int64_t nrec;

	(void)state;
	a = build(SL_CODEC_NONE, 3, 10, set, sizeof(set));
	b = build(SL_CODEC_ZSTD, 5, 10, set + a, sizeof(set) - a);
	c = build(SL_CODEC_LZ4, 7, 10, set + a + b, sizeof(set) - a - b);
	assert_int_equal(sl_rb_validate_set(set, a + b + c, 0, &scratch, &nrec), 3);
	assert_int_equal(nrec, 15);
	/* A bad CRC in the middle one. */
	set[a + b - 1] ^= 1;
	assert_int_equal(sl_rb_validate_set(set, a + b + c, 0, &scratch, &nrec), SL_RB_ECRC);
	set[a + b - 1] ^= 1;
	/* The last one cut short, or trailing garbage shorter than a batch. */
	assert_int_equal(sl_rb_validate_set(set, a + b + c - 1, 0, &scratch, &nrec), SL_RB_ETRUNC);
	assert_int_equal(sl_rb_validate_set(set, a + b + 5, 0, &scratch, &nrec), SL_RB_ETRUNC);
	/* One over the per-batch limit. */
	assert_int_equal(sl_rb_validate_set(set, a + b + c, (uint32_t)(SL_MAX(a, SL_MAX(b, c)) - 1),
	                                    &scratch, &nrec),
	                 SL_RB_ETOOBIG);
	/* Empty: Kafka wants at least one batch. */
	assert_int_equal(sl_rb_validate_set(set, 0, 0, &scratch, &nrec), SL_RB_ECOUNT);
	assert_int_equal(sl_rb_validate_set(set, a, 0, &scratch, NULL), 1);
}

/* ---- cut and mutated batches never read out of bounds ---- */

/* Validates and iterates an exact-size heap copy of p[0..len). */
static int64_t
validate_copy(const uint8_t *p, size_t len, unsigned flags, bool *iter_ok)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	struct sl_rb_hdr h;
	int64_t r;
	int n = 0, k;

	memcpy(copy, p, len);
	r = sl_rb_validate(copy, len, 0, flags, &scratch, &h);
	if (sl_rb_iter_init(&it, copy, len, &scratch) == 0) {
		while ((k = sl_rb_iter_next(&it, &rec)) == 1)
			n++;
		*iter_ok = k == 0;
		/* A batch that validates iterates exactly recordCount records. */
		if (r > 0) {
			assert_int_equal(k, 0);
			assert_int_equal(n, h.record_count);
		}
	} else {
		*iter_ok = false;
		assert_true(r < 0);
	}
	free(copy);
	return r;
}

static void
test_rbatch_cut_at_every_length_fails_cleanly(void **state)
{
	static uint8_t buf[1 << 16];
	static uint8_t work[1 << 16];
	bool iter_ok;

	(void)state;
	for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_ZSTD; codec++) {
		size_t total = build(codec, 12, 40, buf, sizeof(buf));

		for (size_t cut = 0; cut < total; cut++) {
			/* The bytes simply end early. */
			assert_int_equal(validate_copy(buf, cut, 0, &iter_ok), SL_RB_ETRUNC);
			/* batchLength says it ends early, and the CRC agrees. */
			if (cut >= SL_RB_HDR_SIZE) {
				int64_t r;

				memcpy(work, buf, cut);
				sl_put_be32(work + 8, (uint32_t)(cut - SL_RB_LOG_OVERHEAD));
				sl_rb_update_crc(work, cut);
				r = validate_copy(work, cut, 0, &iter_ok);
				assert_true(r < 0);
				assert_int_not_equal(r, SL_RB_ECRC);
			}
		}
		assert_int_equal(validate_copy(buf, total, 0, &iter_ok), (int64_t)total);
		assert_true(iter_ok);
	}
}

/* Every byte set to a few values, CRC fixed up so the deep checks run: no crash, and
 * whatever validates also iterates (validate_copy asserts it). */
static void
test_rbatch_mutated_bytes_never_crash(void **state)
{
	static uint8_t buf[1 << 14];
	static uint8_t work[1 << 14];
	const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
	int accepted = 0, rejected = 0;
	bool iter_ok;

	(void)state;
	for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_ZSTD; codec++) {
		size_t total = build(codec, 4, 8, buf, sizeof(buf));

		for (size_t pos = 0; pos < total; pos++) {
			for (unsigned v = 0; v < SL_ARRAY_SIZE(vals) + 1; v++) {
				memcpy(work, buf, total);
				work[pos] = v < SL_ARRAY_SIZE(vals) ? vals[v] : (uint8_t)~buf[pos];
				if (pos != 17 && pos != 18 && pos != 19 && pos != 20)
					sl_rb_update_crc(work, total);
				for (unsigned f = 0; f < 2; f++) {
					int64_t r = validate_copy(work, total,
					                          f ? SL_RB_VALIDATE_STORED : 0,
					                          &iter_ok);

					if (r > 0)
						accepted++;
					else
						rejected++;
				}
			}
		}
	}
	/* Some changes are harmless (values, baseOffset), most are not. */
	assert_true(accepted > 0);
	assert_true(rejected > accepted);
}

/* ---- flags, attributes, iteration details ---- */

static void
test_rbatch_stored_compacted_batch_validates_only_stored(void **state)
{
	static uint8_t src[1 << 14];
	struct sl_rb_builder b;
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	size_t total, stotal;
	int r, n = 0;

	(void)state;
	stotal = build(SL_CODEC_ZSTD, 10, 30, src, sizeof(src));
	/* Keep records 1, 4 and 8 (what compaction does), keeping the offset range 0..9. */
	assert_int_equal(
	        sl_rb_builder_init(&b, bad, sizeof(bad), SL_CODEC_GZIP, 0, BASE_TS, -1, -1, -1), 0);
	assert_int_equal(sl_rb_iter_init(&it, src, stotal, &scratch), 0);
	while ((r = sl_rb_iter_next(&it, &rec)) == 1) {
		if (rec.offset_delta == 1 || rec.offset_delta == 4 || rec.offset_delta == 8)
			assert_int_equal(sl_rb_builder_add_raw(&b, &rec), 0);
	}
	assert_int_equal(r, 0);
	sl_rb_builder_set_last_offset_delta(&b, 9);
	{
		/* The builder compresses through scratch; the source is no longer needed. */
		static uint8_t zs[1 << 16];
		struct sl_rb_scratch zsc = {zs, sizeof(zs)};

		total = (size_t)sl_rb_builder_finish(&b, &zsc);
	}
	assert_int_equal(validate_bad(total), SL_RB_EDELTA);
	assert_int_equal(sl_rb_validate(bad, total, 0, SL_RB_VALIDATE_STORED, &scratch, NULL),
	                 (int64_t)total);
	assert_int_equal(sl_rb_iter_init(&it, bad, total, &scratch), 0);
	while ((r = sl_rb_iter_next(&it, &rec)) == 1) {
		const int want[] = {1, 4, 8};

		assert_int_equal(rec.offset_delta, want[n]);
		assert_int_equal(rec.timestamp, rec_ts(want[n]));
		n++;
	}
	assert_int_equal(n, 3);

	/* An empty batch (all records removed) keeps its header. */
	assert_int_equal(
	        sl_rb_builder_init(&b, bad, sizeof(bad), SL_CODEC_LZ4, 100, BASE_TS, 5, 0, 10), 0);
	sl_rb_builder_set_last_offset_delta(&b, 9);
	total = (size_t)sl_rb_builder_finish(&b, NULL);
	assert_int_equal(total, SL_RB_HDR_SIZE);
	assert_int_equal(validate_bad(total), SL_RB_ECOUNT);
	assert_int_equal(sl_rb_validate(bad, total, 0, SL_RB_VALIDATE_STORED, &scratch, NULL),
	                 (int64_t)total);
	assert_int_equal(sl_rb_iter_init(&it, bad, total, &scratch), 0);
	assert_int_equal(sl_rb_iter_next(&it, &rec), 0);
}

static void
test_rbatch_log_append_time_iterates_max_timestamp(void **state)
{
	struct sl_rb_builder b;
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	size_t total;

	(void)state;
	assert_int_equal(sl_rb_builder_init(&b, bad, sizeof(bad), 0, 50, BASE_TS, -1, -1, -1), 0);
	sl_rb_builder_set_attrs(&b, SL_RB_ATTR_TIMESTAMP_TYPE);
	assert_int_equal(sl_rb_builder_add(&b, BASE_TS + 100, "a", 1, "x", 1, NULL, 0), 0);
	assert_int_equal(sl_rb_builder_add(&b, BASE_TS, "b", 1, "y", 1, NULL, 0), 0);
	sl_rb_builder_set_max_timestamp(&b, BASE_TS + 7); /* the broker's append time */
	total = (size_t)sl_rb_builder_finish(&b, NULL);
	/* Record timestamps above maxTimestamp do not matter under LogAppendTime. */
	assert_int_equal(validate_bad(total), (int64_t)total);
	assert_int_equal(sl_rb_iter_init(&it, bad, total, &scratch), 0);
	assert_int_equal(sl_rb_iter_next(&it, &rec), 1);
	assert_int_equal(rec.timestamp, BASE_TS + 7);
	assert_int_equal(rec.offset, 50);
	assert_int_equal(sl_rb_iter_next(&it, &rec), 1);
	assert_int_equal(rec.timestamp, BASE_TS + 7);
	assert_int_equal(rec.offset, 51);
	assert_int_equal(sl_rb_iter_next(&it, &rec), 0);
	/* Under CreateTime the same batch is refused. */
	patch16(total, 21, 0);
	assert_int_equal(validate_bad(total), SL_RB_ETIMESTAMP);
}

static void
test_rbatch_iter_on_garbage_errors(void **state)
{
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	size_t total = small_batch(2);

	(void)state;
	assert_int_equal(sl_rb_iter_init(&it, bad, 5, &scratch), SL_RB_ETRUNC);
	assert_int_equal(sl_rb_iter_next(&it, &rec), SL_RB_ETRUNC);
	/* Count says 3, two records present: the third next() reports it. */
	sl_put_be32(bad + 57, 3);
	assert_int_equal(sl_rb_iter_init(&it, bad, total, &scratch), 0);
	assert_int_equal(sl_rb_iter_next(&it, &rec), 1);
	assert_int_equal(sl_rb_iter_next(&it, &rec), 1);
	assert_int_equal(sl_rb_iter_next(&it, &rec), SL_RB_ECOUNT);
	assert_int_equal(sl_rb_iter_next(&it, &rec), SL_RB_ECOUNT);
	/* A broken record length stops it with ERECORD. */
	small_batch(2);
	bad[61] = 0x7f;
	assert_int_equal(sl_rb_iter_init(&it, bad, total, &scratch), 0);
	assert_int_equal(sl_rb_iter_next(&it, &rec), SL_RB_ERECORD);
}

static void
test_rbatch_header_next_malformed_erecord(void **state)
{
	static const uint8_t neg_key[] = {0x01};            /* key length -1 */
	static const uint8_t short_key[] = {0x06, 'a'};     /* key length 3, 1 byte */
	static const uint8_t bad_val[] = {0x02, 'a', 0x03}; /* value length -2 */
	static const uint8_t ok[] = {0x02, 'a', 0x01, 0x00, 0x00};
	struct sl_rb_kv kv;
	size_t pos;

	(void)state;
	pos = 0;
	assert_int_equal(sl_rb_header_next(neg_key, sizeof(neg_key), &pos, &kv), SL_RB_ERECORD);
	pos = 0;
	assert_int_equal(sl_rb_header_next(short_key, sizeof(short_key), &pos, &kv), SL_RB_ERECORD);
	pos = 0;
	assert_int_equal(sl_rb_header_next(bad_val, sizeof(bad_val), &pos, &kv), SL_RB_ERECORD);
	pos = 0;
	assert_int_equal(sl_rb_header_next(ok, sizeof(ok), &pos, &kv), 1);
	assert_int_equal(kv.value_len, -1);
	assert_int_equal(sl_rb_header_next(ok, sizeof(ok), &pos, &kv), 1);
	assert_int_equal(kv.key_len, 0);
	assert_int_equal(kv.value_len, 0);
	assert_int_equal(sl_rb_header_next(ok, sizeof(ok), &pos, &kv), 0);
}

/* ---- the produce hot path does not allocate ---- */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0 /* ASan owns malloc; the release build runs this test */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#else
#define COUNT_ALLOCS 1
#endif
#else
#define COUNT_ALLOCS 1
#endif

#if COUNT_ALLOCS
/* Forwarding replacements of glibc's allocator (a documented way to replace malloc) that
 * count calls while `counting` is set. */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

static volatile bool counting;
static volatile long alloc_calls;

void *
malloc(size_t n)
{
	if (counting)
		alloc_calls++;
	return __libc_malloc(n);
}

void *
calloc(size_t n, size_t m)
{
	if (counting)
		alloc_calls++;
	return __libc_calloc(n, m);
}

void *
realloc(void *p, size_t n)
{
	if (counting)
		alloc_calls++;
	return __libc_realloc(p, n);
}

void
free(void *p)
{
	__libc_free(p);
}
#endif

static void
test_rbatch_validate_after_warmup_never_allocates(void **state)
{
#if COUNT_ALLOCS
	static uint8_t bufs[5][1 << 16];
	size_t totals[5];
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	void *volatile probe;

	(void)state;
	for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_ZSTD; codec++)
		totals[codec] = build(codec, 30, 500, bufs[codec], sizeof(bufs[codec]));
	/* What a shard does at start-up; then one validation each to warm the contexts. */
	assert_int_equal(sl_codec_thread_init(), 0);
	for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_ZSTD; codec++)
		assert_int_equal(sl_rb_validate(bufs[codec], totals[codec], 0, 0, &scratch, NULL),
		                 (int64_t)totals[codec]);
	/* The counter works... */
	alloc_calls = 0;
	counting = true;
	probe = malloc(16);
	counting = false;
	free(probe);
	assert_int_equal(alloc_calls, 1);
	/* ... and validation and iteration do not call it. */
	alloc_calls = 0;
	counting = true;
	for (int round = 0; round < 10; round++) {
		for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_ZSTD; codec++) {
			int64_t r =
			        sl_rb_validate(bufs[codec], totals[codec], 0, 0, &scratch, NULL);
			int n = 0;

			if (r != (int64_t)totals[codec])
				break;
			if (sl_rb_iter_init(&it, bufs[codec], totals[codec], &scratch) == 0)
				while (sl_rb_iter_next(&it, &rec) == 1)
					n++;
			if (n != 30)
				break;
		}
	}
	counting = false;
	assert_int_equal(alloc_calls, 0);
#else
	(void)state;
	skip();
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rbatch_every_codec_validates_and_iterates_exactly),
	        cmocka_unit_test(test_rbatch_kafka_python_batches_validate_and_iterate),
	        cmocka_unit_test(test_rbatch_builder_matches_kafka_python_bytes),
	        cmocka_unit_test(test_rbatch_short_input_etrunc),
	        cmocka_unit_test(test_rbatch_bad_batch_length_ebadlen),
	        cmocka_unit_test(test_rbatch_wrong_magic_emagic),
	        cmocka_unit_test(test_rbatch_flipped_byte_ecrc),
	        cmocka_unit_test(test_rbatch_reserved_attributes_eattr),
	        cmocka_unit_test(test_rbatch_unknown_codec_ecodec),
	        cmocka_unit_test(test_rbatch_record_count_lies_ecount),
	        cmocka_unit_test(test_rbatch_offset_deltas_inconsistent_edelta),
	        cmocka_unit_test(test_rbatch_bad_timestamps_etimestamp),
	        cmocka_unit_test(test_rbatch_producer_fields_inconsistent_eproducer),
	        cmocka_unit_test(test_rbatch_client_producer_fields_accepted),
	        cmocka_unit_test(test_rbatch_malformed_record_erecord),
	        cmocka_unit_test(test_rbatch_undecodable_block_edecomp),
	        cmocka_unit_test(test_rbatch_over_limits_etoobig),
	        cmocka_unit_test(test_rbatch_kafka_codes_and_names_distinct),
	        cmocka_unit_test(test_rbatch_set_reports_bad_batch),
	        cmocka_unit_test(test_rbatch_cut_at_every_length_fails_cleanly),
	        cmocka_unit_test(test_rbatch_mutated_bytes_never_crash),
	        cmocka_unit_test(test_rbatch_stored_compacted_batch_validates_only_stored),
	        cmocka_unit_test(test_rbatch_log_append_time_iterates_max_timestamp),
	        cmocka_unit_test(test_rbatch_iter_on_garbage_errors),
	        cmocka_unit_test(test_rbatch_header_next_malformed_erecord),
	        cmocka_unit_test(test_rbatch_validate_after_warmup_never_allocates),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
