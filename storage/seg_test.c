// SPDX-License-Identifier: Apache-2.0
/* Unit tests for segments: file names, the recovery scanner, index rebuilding, aligned
 * synchronous reads through O_DIRECT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/plog_testutil.h"

static uint8_t img[1 << 16];
static size_t img_len;
static size_t pos_of[16];

/* Eight batches of 3 records at offsets 100, 103, ... as a segment file would hold them. */
static void
make_image(void)
{
	img_len = 0;
	for (int i = 0; i < 8; i++) {
		size_t n = tu_batch(img + img_len, sizeof(img) - img_len, 3, 1000 + i * 100,
		                    (uint32_t)i, 150);

		sl_rb_set_base_offset(img + img_len, 100 + 3 * i);
		pos_of[i] = img_len;
		img_len += n;
	}
	pos_of[8] = img_len;
}

static int
memfd_of(const uint8_t *p, size_t n)
{
	int fd = memfd_create("seg", 0);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

static void
test_seg_name_format_and_parse(void **state)
{
	char b[48];

	(void)state;
	sl_seg_name(b, sizeof(b), 12, ".log");
	assert_string_equal(b, "00000000000000000012.log");
	assert_int_equal(sl_seg_parse_name(b, ".log"), 12);
	assert_int_equal(sl_seg_parse_name(b, ".index"), -1);
	assert_int_equal(sl_seg_parse_name("0000000000000000012.log", ".log"), -1);
	assert_int_equal(sl_seg_parse_name("0000000000000000001a.log", ".log"), -1);
	assert_int_equal(sl_seg_parse_name("99999999999999999999.log", ".log"), -1);
	assert_int_equal(sl_seg_parse_name("09223372036854775807.log", ".log"), INT64_MAX);
	assert_int_equal(sl_seg_parse_name("00000000000000000012.log.swap", ".log.swap"), 12);
}

static void
test_seg_scan_valid_file_indexes_like_append(void **state)
{
	struct sl_seg s;
	struct sl_scan sc;
	int fd;

	(void)state;
	make_image();
	fd = memfd_of(img, img_len);
	memset(&s, 0, sizeof(s));
	s.base_offset = 100;
	s.max_ts = -1;
	assert_int_equal(sl_idx_anon(&s.oidx, SL_OIDX_ENTRY, 4096), 0);
	assert_int_equal(sl_idx_anon(&s.tidx, SL_TIDX_ENTRY, 4096), 0);
	assert_int_equal(sl_seg_scan(fd, false, 0, img_len, 100, 100, &s, 400, &sc), 0);
	assert_int_equal(sc.nbatches, 8);
	assert_int_equal(sc.valid_size, img_len);
	assert_int_equal(sc.next_offset, 124);
	assert_true(sc.tail_zero);
	assert_int_equal(sc.max_ts, 1000 + 700 + 2);
	assert_int_equal(sc.max_ts_offset, 123);
	/* Kafka's rule: an entry for each batch starting > 400 bytes after the last indexed. */
	assert_true(s.oidx.n >= 2);
	for (uint32_t i = 0; i < s.oidx.n; i++) {
		uint32_t rel, pos;
		int k;

		sl_oidx_entry(&s.oidx, i, &rel, &pos);
		for (k = 0; k < 8 && pos_of[k] != pos; k++)
			;
		assert_true(k < 8);               /* points at a batch start */
		assert_int_equal(rel, 3 * k + 2); /* its last offset */
	}
	assert_int_equal(s.tidx.n, s.oidx.n);
	sl_idx_close(&s.oidx);
	sl_idx_close(&s.tidx);
	close(fd);
}

static void
scan_expect(const uint8_t *p, size_t n, int64_t min_off, size_t valid, bool zero)
{
	struct sl_scan sc;
	int fd = memfd_of(p, n);

	assert_int_equal(sl_seg_scan(fd, false, 0, n, min_off, 100, NULL, 4096, &sc), 0);
	assert_int_equal(sc.valid_size, valid);
	assert_int_equal(sc.tail_zero, zero);
	close(fd);
}

static void
test_seg_scan_stops_at_first_bad_byte(void **state)
{
	static uint8_t bad[1 << 16];

	(void)state;
	make_image();
	/* CRC broken in batch 3. */
	memcpy(bad, img, img_len);
	bad[pos_of[3] + 70] ^= 1;
	scan_expect(bad, img_len, 100, pos_of[3], false);
	/* Offsets going backwards in batch 5. */
	memcpy(bad, img, img_len);
	sl_rb_set_base_offset(bad + pos_of[5], 100);
	scan_expect(bad, img_len, 100, pos_of[5], false);
	/* A batch below the segment's base / the previous segment's end. */
	scan_expect(img, img_len, 101, 0, false);
	/* Cut in the middle of batch 6. */
	scan_expect(img, pos_of[6] + 30, 100, pos_of[6], false);
	/* A length field pointing far past the end. */
	memcpy(bad, img, img_len);
	sl_put_be32(bad + pos_of[2] + 8, 0x7ffffff0);
	scan_expect(bad, img_len, 100, pos_of[2], false);
	/* Zeros after the data: padding, not damage. */
	memcpy(bad, img, img_len);
	memset(bad + img_len, 0, 9000);
	scan_expect(bad, img_len + 9000, 100, img_len, true);
	bad[img_len + 8999] = 1;
	scan_expect(bad, img_len + 9000, 100, img_len, false);
	/* Empty. */
	scan_expect(img, 0, 100, 0, true);
}

static void
test_seg_pread_direct_handles_unaligned_ranges(void **state)
{
	char dir[] = "/var/tmp/sl-seg-XXXXXX";
	static uint8_t out[20000];
	struct sl_seg *s;
	bool direct = true;
	int dfd;

	(void)state;
	make_image();
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(sl_seg_open(&s, dfd, 100, true, &direct), 0);
	assert_true(direct);
	assert_true(s->direct);
	{
		int fd = openat(dfd, "00000000000000000100.log", O_WRONLY);

		assert_int_equal(write(fd, img, img_len), (ssize_t)img_len);
		close(fd);
	}
	assert_int_equal(sl_seg_pread(s, out, 100, 7), 100);
	assert_memory_equal(out, img + 7, 100);
	assert_int_equal(sl_seg_pread(s, out, 5000, 4000),
	                 5000 < img_len - 4000 ? 5000 : (ssize_t)(img_len - 4000));
	assert_memory_equal(out, img + 4000, 100);
	assert_int_equal(sl_seg_pread(s, out, 100, img_len - 10), 10);
	assert_int_equal(sl_seg_pread(s, out, 100, img_len + 5000), 0);
	sl_seg_put(s);
	close(dfd);
	tu_rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_seg_name_format_and_parse),
	        cmocka_unit_test(test_seg_scan_valid_file_indexes_like_append),
	        cmocka_unit_test(test_seg_scan_stops_at_first_bad_byte),
	        cmocka_unit_test(test_seg_pread_direct_handles_unaligned_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
