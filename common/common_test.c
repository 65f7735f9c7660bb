// SPDX-License-Identifier: Apache-2.0
/* Unit tests for common/: CRC-32C vectors and varint round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/compiler.h"
#include "common/crc32c.h"

static void
test_crc32c_check_value_matches_standard(void **state)
{
	(void)state;
	assert_int_equal(sl_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(sl_crc32c(0, "", 0), 0);
}

static void
test_crc32c_split_equals_whole(void **state)
{
	uint8_t buf[1000];
	uint32_t whole, part;

	(void)state;
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	whole = sl_crc32c(0, buf, sizeof(buf));
	part = sl_crc32c(0, buf, 333);
	part = sl_crc32c(part, buf + 333, sizeof(buf) - 333);
	assert_int_equal(whole, part);
}

static void
test_wallclock_reads_realtime_once_a_second_and_follows_monotonic(void **state)
{
	struct sl_wallclock w = {0, 0};
	int64_t t0 = sl_now_ns(), before = sl_wall_ms(), ms, off;

	(void)state;
	ms = sl_wallclock_ms(&w, t0);
	assert_true(ms >= before - 1 && ms <= sl_wall_ms() + 1);
	off = w.off_ms;
	/* Within the second: no new reading, the offset stays and ms follows now_ns. */
	w.off_ms = off + 5000; /* a reading inside the second would undo this */
	assert_int_equal(sl_wallclock_ms(&w, t0 + 500000000LL),
	                 (t0 + 500000000LL) / 1000000 + off + 5000);
	/* A second later it reads the wall clock again. */
	ms = sl_wallclock_ms(&w, t0 + 1000000000LL);
	assert_int_equal(w.off_ms, ms - (t0 + 1000000000LL) / 1000000);
	assert_true(w.off_ms < off + 5000 - 100);
}

static void
test_varint_roundtrip_edges(void **state)
{
	const int64_t vals[] = {0, 1, -1, 63, -64, 64, 127, 128, 300, -300, INT32_MAX, INT32_MIN,
				INT64_MAX, INT64_MIN};
	uint8_t buf[SL_VARLONG_MAX];
	struct sl_rd rd;

	(void)state;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(vals); i++) {
		size_t n = sl_put_varlong(buf, vals[i]);

		sl_rd_init(&rd, buf, n);
		assert_true(sl_rd_varlong(&rd) == vals[i]);
		assert_int_equal(rd.err, 0);
		assert_int_equal(sl_rd_left(&rd), 0);
		if (vals[i] >= INT32_MIN && vals[i] <= INT32_MAX) {
			n = sl_put_varint(buf, (int32_t)vals[i]);
			sl_rd_init(&rd, buf, n);
			assert_int_equal(sl_rd_varint(&rd), (int32_t)vals[i]);
			assert_int_equal(rd.err, 0);
		}
	}
}

static void
test_varint_truncated_sets_error(void **state)
{
	const uint8_t bad[] = {0x80, 0x80};
	const uint8_t toolong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	struct sl_rd rd;

	(void)state;
	sl_rd_init(&rd, bad, sizeof(bad));
	(void)sl_rd_varint(&rd);
	assert_int_not_equal(rd.err, 0);
	sl_rd_init(&rd, toolong, sizeof(toolong));
	(void)sl_rd_varint(&rd);
	assert_int_not_equal(rd.err, 0);
	sl_rd_init(&rd, bad, 1);
	(void)sl_rd_be32(&rd);
	assert_int_not_equal(rd.err, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_check_value_matches_standard),
		cmocka_unit_test(test_crc32c_split_equals_whole),
		cmocka_unit_test(test_varint_roundtrip_edges),
		cmocka_unit_test(test_varint_truncated_sets_error),
		cmocka_unit_test(test_wallclock_reads_realtime_once_a_second_and_follows_monotonic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
