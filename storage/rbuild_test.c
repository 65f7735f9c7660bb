// SPDX-License-Identifier: Apache-2.0
/* Unit tests for storage/rbuild: the record-batch builder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/codec.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define TS 1700000000000LL

static uint8_t scratch_mem[1 << 20];
static struct sl_rb_scratch scratch = {scratch_mem, sizeof(scratch_mem)};

static void
test_rbuild_init_bad_args_rejected(void **state)
{
	struct sl_rb_builder b;
	uint8_t buf[SL_RB_HDR_SIZE];

	(void)state;
	assert_int_equal(sl_rb_builder_init(&b, buf, SL_RB_HDR_SIZE - 1, 0, 0, TS, -1, -1, -1),
	                 -ENOBUFS);
	assert_int_equal(sl_rb_builder_init(&b, NULL, 100, 0, 0, TS, -1, -1, -1), -ENOBUFS);
	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), 5, 0, TS, -1, -1, -1), -EINVAL);
	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), -1, 0, TS, -1, -1, -1), -EINVAL);
	/* Exactly a header: no record fits, an empty batch does. */
	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), 0, 0, TS, -1, -1, -1), 0);
	assert_int_equal(sl_rb_builder_add(&b, TS, NULL, -1, NULL, -1, NULL, 0), -ENOBUFS);
	assert_int_equal(sl_rb_builder_finish(&b, NULL), SL_RB_HDR_SIZE);
}

static void
test_rbuild_add_full_enobufs_builder_unchanged(void **state)
{
	struct sl_rb_builder b;
	uint8_t buf[300], val[50];
	int added = 0, r;
	size_t len;
	int64_t total;

	(void)state;
	memset(val, 'x', sizeof(val));
	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), 0, 7, TS, -1, -1, -1), 0);
	while ((r = sl_rb_builder_add(&b, TS + added, "key", 3, val, sizeof(val), NULL, 0)) == 0)
		added++;
	assert_int_equal(r, -ENOBUFS);
	assert_true(added > 0);
	len = sl_rb_builder_len(&b);
	assert_int_equal(sl_rb_builder_count(&b), added);
	/* Still refused, still unchanged; a smaller record may fit. */
	assert_int_equal(sl_rb_builder_add(&b, TS, "key", 3, val, sizeof(val), NULL, 0), -ENOBUFS);
	assert_int_equal(sl_rb_builder_len(&b), len);
	total = sl_rb_builder_finish(&b, NULL);
	assert_int_equal(total, (int64_t)len);
	assert_int_equal(sl_rb_validate(buf, (size_t)total, 0, 0, &scratch, NULL), total);
}

static void
test_rbuild_add_bad_args_einval(void **state)
{
	struct sl_rb_builder b;
	uint8_t buf[1000];
	struct sl_rb_kv null_key = {NULL, -1, (const uint8_t *)"v", 1};
	struct sl_rb_kv neg_val = {(const uint8_t *)"k", 1, NULL, -2};

	(void)state;
	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), 0, 0, TS, -1, -1, -1), 0);
	assert_int_equal(sl_rb_builder_add(&b, TS, "k", -2, "v", 1, NULL, 0), -EINVAL);
	assert_int_equal(sl_rb_builder_add(&b, TS, "k", 1, "v", -3, NULL, 0), -EINVAL);
	assert_int_equal(sl_rb_builder_add(&b, TS, NULL, 4, "v", 1, NULL, 0), -EINVAL);
	assert_int_equal(sl_rb_builder_add(&b, TS, "k", 1, NULL, 1, NULL, 0), -EINVAL);
	assert_int_equal(sl_rb_builder_add(&b, TS, "k", 1, "v", 1, NULL, 1), -EINVAL);
	assert_int_equal(sl_rb_builder_add(&b, TS, "k", 1, "v", 1, &null_key, 1), -EINVAL);
	assert_int_equal(sl_rb_builder_add(&b, TS, "k", 1, "v", 1, &neg_val, 1), -EINVAL);
	assert_int_equal(sl_rb_builder_add(&b, INT64_MIN, "k", 1, "v", 1, NULL, 0), -EOVERFLOW);
	assert_int_equal(sl_rb_builder_count(&b), 0);
	assert_int_equal(sl_rb_builder_len(&b), SL_RB_HDR_SIZE);
	/* Empty keys and values are not null ones. */
	assert_int_equal(sl_rb_builder_add(&b, TS, NULL, 0, NULL, 0, NULL, 0), 0);
	assert_true(sl_rb_builder_finish(&b, NULL) > 0);
	/* Finished: nothing more. */
	assert_int_equal(sl_rb_builder_add(&b, TS, "k", 1, "v", 1, NULL, 0), -EINVAL);
	assert_int_equal(sl_rb_builder_finish(&b, NULL), -EINVAL);
}

static void
test_rbuild_record_size_matches_bytes_added(void **state)
{
	struct sl_rb_builder b;
	uint8_t buf[70000], val[66000];
	struct sl_rb_kv h[2] = {{(const uint8_t *)"a", 1, (const uint8_t *)"b", 1},
	                        {(const uint8_t *)"c", 1, NULL, -1}};
	const int32_t vlens[] = {-1, 0, 1, 63, 64, 8191, 8192, 66000};

	(void)state;
	memset(val, 'v', sizeof(val));
	for (unsigned i = 0; i < SL_ARRAY_SIZE(vlens); i++) {
		size_t before, want;

		assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), 0, 0, TS, -1, -1, -1), 0);
		before = sl_rb_builder_len(&b);
		want = sl_rb_record_size(-300, 0, 3, vlens[i], h, 2);
		assert_int_equal(sl_rb_builder_add(&b, TS - 300, "key", 3,
		                                   vlens[i] < 0 ? NULL : val, vlens[i], h, 2),
		                 0);
		assert_int_equal(sl_rb_builder_len(&b) - before, want);
	}
	assert_int_equal(sl_rb_record_size(0, 0, -2, 0, NULL, 0), 0);
	assert_int_equal(sl_rb_record_size(0, 0, 0, 0, NULL, 3), 0);
}

static void
test_rbuild_compressed_finish_needs_scratch_enobufs(void **state)
{
	struct sl_rb_builder b;
	uint8_t val[1000], tiny[10], *buf;
	struct sl_rb_scratch small = {tiny, sizeof(tiny)};
	size_t cap = SL_RB_HDR_SIZE + sl_rb_record_size(0, 0, -1, sizeof(val), NULL, 0);
	uint32_t x = 12345;

	(void)state;
	/* One incompressible record filling the buffer exactly: compressed, it cannot fit. */
	for (size_t i = 0; i < sizeof(val); i++) {
		x = x * 1103515245u + 12345u;
		val[i] = (uint8_t)(x >> 16);
	}
	buf = malloc(cap);
	for (int codec = SL_CODEC_GZIP; codec <= SL_CODEC_ZSTD; codec++) {
		assert_int_equal(sl_rb_builder_init(&b, buf, cap, codec, 0, TS, -1, -1, -1), 0);
		assert_int_equal(sl_rb_builder_add(&b, TS, NULL, -1, val, sizeof(val), NULL, 0), 0);
		assert_int_equal(sl_rb_builder_len(&b), cap);
		assert_int_equal(sl_rb_builder_finish(&b, NULL), -ENOBUFS);
		assert_int_equal(sl_rb_builder_finish(&b, &small), -ENOBUFS);
		assert_int_equal(sl_rb_builder_finish(&b, &scratch), -ENOBUFS);
		/* Uncompressed it fits. */
		assert_int_equal(sl_rb_builder_init(&b, buf, cap, SL_CODEC_NONE, 0, TS, -1, -1, -1),
		                 0);
		assert_int_equal(sl_rb_builder_add(&b, TS, NULL, -1, val, sizeof(val), NULL, 0), 0);
		assert_int_equal(sl_rb_builder_finish(&b, NULL), (int64_t)cap);
	}
	free(buf);
}

/* Copy every record of a batch into a batch with another codec through add_raw: same
 * records, same offsets, same timestamps, same headers. */
static void
test_rbuild_add_raw_reencodes_across_codecs(void **state)
{
	static uint8_t src[1 << 16], dst[1 << 16], dscratch[1 << 17];
	struct sl_rb_scratch dsc = {dscratch, sizeof(dscratch)};
	struct sl_rb_kv h[2] = {{(const uint8_t *)"hk", 2, (const uint8_t *)"hv", 2},
	                        {(const uint8_t *)"k2", 2, NULL, -1}};
	struct sl_rb_builder b;
	struct sl_rb_iter a, c;
	struct sl_rb_rec ra, rc;
	int64_t stotal, dtotal;

	(void)state;
	for (int from = SL_CODEC_NONE; from <= SL_CODEC_ZSTD; from++) {
		int to = (from + 1) % 5;
		int r1, r2, n = 0;

		assert_int_equal(sl_rb_builder_init(&b, src, sizeof(src), from, 500, TS, 9, 1, 40),
		                 0);
		for (int i = 0; i < 40; i++) {
			char v[64];
			int vl = snprintf(v, sizeof(v), "value %d %d", i, i * i);

			assert_int_equal(sl_rb_builder_add(&b, TS + 1000 - i * 13, NULL, -1, v, vl,
			                                   h, (unsigned)(i % 3)),
			                 0);
		}
		stotal = sl_rb_builder_finish(&b, &scratch);
		assert_true(stotal > 0);
		assert_int_equal(sl_rb_validate(src, (size_t)stotal, 0, 0, &scratch, NULL), stotal);

		/* A different base timestamp: deltas are recomputed, absolutes kept. */
		assert_int_equal(
		        sl_rb_builder_init(&b, dst, sizeof(dst), to, 500, TS - 77, 9, 1, 40), 0);
		assert_int_equal(sl_rb_iter_init(&a, src, (size_t)stotal, &scratch), 0);
		while ((r1 = sl_rb_iter_next(&a, &ra)) == 1)
			assert_int_equal(sl_rb_builder_add_raw(&b, &ra), 0);
		assert_int_equal(r1, 0);
		dtotal = sl_rb_builder_finish(&b, &dsc);
		assert_true(dtotal > 0);
		assert_int_equal(sl_rb_validate(dst, (size_t)dtotal, 0, 0, &dsc, NULL), dtotal);

		/* Iterate both side by side (src from a second scratch). */
		assert_int_equal(sl_rb_iter_init(&a, src, (size_t)stotal, &scratch), 0);
		assert_int_equal(sl_rb_iter_init(&c, dst, (size_t)dtotal, &dsc), 0);
		while ((r1 = sl_rb_iter_next(&a, &ra)) == 1) {
			r2 = sl_rb_iter_next(&c, &rc);
			assert_int_equal(r2, 1);
			assert_int_equal(ra.offset, rc.offset);
			assert_int_equal(ra.timestamp, rc.timestamp);
			assert_int_equal(ra.key_len, rc.key_len);
			assert_int_equal(ra.value_len, rc.value_len);
			assert_memory_equal(ra.value, rc.value, (size_t)ra.value_len);
			assert_int_equal(ra.header_count, rc.header_count);
			assert_int_equal(ra.headers_len, rc.headers_len);
			assert_memory_equal(ra.headers, rc.headers, ra.headers_len);
			n++;
		}
		assert_int_equal(r1, 0);
		assert_int_equal(sl_rb_iter_next(&c, &rc), 0);
		assert_int_equal(n, 40);
	}
}

static void
test_rbuild_add_raw_bad_record_einval(void **state)
{
	static const uint8_t bad_hdrs[] = {0x02, 'a', 0x03}; /* value length -2 */
	static const uint8_t one_hdr[] = {0x02, 'a', 0x02, 'b'};
	struct sl_rb_builder b;
	uint8_t buf[500];
	struct sl_rb_rec rec = {.offset_delta = 3, .timestamp = TS, .key_len = -1, .value_len = -1};

	(void)state;
	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), 0, 0, TS, -1, -1, -1), 0);
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), 0);
	/* Offset deltas must increase. */
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), -EINVAL);
	rec.offset_delta = 2;
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), -EINVAL);
	rec.offset_delta = 4;
	/* Headers that do not parse, or do not match header_count. */
	rec.headers = bad_hdrs;
	rec.headers_len = sizeof(bad_hdrs);
	rec.header_count = 1;
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), -EINVAL);
	rec.headers = one_hdr;
	rec.headers_len = sizeof(one_hdr);
	rec.header_count = 2;
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), -EINVAL);
	rec.header_count = -1;
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), -EINVAL);
	rec.header_count = 1;
	assert_int_equal(sl_rb_builder_add_raw(&b, &rec), 0);
	/* add() continues after the highest delta. */
	assert_int_equal(sl_rb_builder_add(&b, TS, NULL, -1, NULL, -1, NULL, 0), 0);
	assert_int_equal(b.last_delta, 5);
	assert_int_equal(sl_rb_builder_count(&b), 3);
}

static void
test_rbuild_header_fields_written(void **state)
{
	struct sl_rb_builder b;
	struct sl_rb_hdr h;
	uint8_t buf[500];
	int64_t total;

	(void)state;
	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), SL_CODEC_NONE, 123456789, TS,
	                                    4242, 7, 1000),
	                 0);
	sl_rb_builder_set_attrs(&b, SL_RB_ATTR_TRANSACTIONAL | SL_CODEC_ZSTD); /* codec ignored */
	sl_rb_builder_set_partition_leader_epoch(&b, 3);
	assert_int_equal(sl_rb_builder_add(&b, TS + 9, "a", 1, "b", 1, NULL, 0), 0);
	assert_int_equal(sl_rb_builder_add(&b, TS + 2, "c", 1, "d", 1, NULL, 0), 0);
	total = sl_rb_builder_finish(&b, NULL);
	assert_int_equal(sl_rb_validate(buf, (size_t)total, 0, 0, &scratch, &h), total);
	assert_int_equal(h.base_offset, 123456789);
	assert_int_equal(h.partition_leader_epoch, 3);
	assert_int_equal(h.attributes, SL_RB_ATTR_TRANSACTIONAL);
	assert_int_equal(h.last_offset_delta, 1);
	assert_int_equal(h.base_timestamp, TS);
	assert_int_equal(h.max_timestamp, TS + 9);
	assert_int_equal(h.producer_id, 4242);
	assert_int_equal(h.producer_epoch, 7);
	assert_int_equal(h.base_sequence, 1000);
	assert_int_equal(h.record_count, 2);
	assert_int_equal(h.crc, sl_be32(buf + 17));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rbuild_init_bad_args_rejected),
	        cmocka_unit_test(test_rbuild_add_full_enobufs_builder_unchanged),
	        cmocka_unit_test(test_rbuild_add_bad_args_einval),
	        cmocka_unit_test(test_rbuild_record_size_matches_bytes_added),
	        cmocka_unit_test(test_rbuild_compressed_finish_needs_scratch_enobufs),
	        cmocka_unit_test(test_rbuild_add_raw_reencodes_across_codecs),
	        cmocka_unit_test(test_rbuild_add_raw_bad_record_einval),
	        cmocka_unit_test(test_rbuild_header_fields_written),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
