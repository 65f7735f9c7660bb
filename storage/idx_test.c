// SPDX-License-Identifier: Apache-2.0
/* Unit tests for the offset and time indexes: append rules, lookups, sanity checks, files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/plog_testutil.h"

static void
test_idx_oidx_lookup_returns_largest_entry_not_above(void **state)
{
	struct sl_idx x;

	(void)state;
	assert_int_equal(sl_idx_anon(&x, SL_OIDX_ENTRY, 1024), 0);
	assert_int_equal(sl_oidx_lookup(&x, 5), 0);
	assert_true(sl_oidx_append(&x, 10, 100));
	assert_true(sl_oidx_append(&x, 20, 200));
	assert_true(sl_oidx_append(&x, 30, 300));
	assert_int_equal(sl_oidx_lookup(&x, 5), 0);
	assert_int_equal(sl_oidx_lookup(&x, 10), 100);
	assert_int_equal(sl_oidx_lookup(&x, 25), 200);
	assert_int_equal(sl_oidx_lookup(&x, 30), 300);
	assert_int_equal(sl_oidx_lookup(&x, UINT32_MAX), 300);
	sl_idx_close(&x);
}

static void
test_idx_append_rejects_non_increasing_and_full(void **state)
{
	struct sl_idx x;

	(void)state;
	assert_int_equal(sl_idx_anon(&x, SL_OIDX_ENTRY, 3 * SL_OIDX_ENTRY), 0);
	assert_true(sl_oidx_append(&x, 10, 100));
	assert_false(sl_oidx_append(&x, 10, 200));
	assert_false(sl_oidx_append(&x, 20, 100));
	assert_true(sl_oidx_append(&x, 20, 200));
	assert_true(sl_oidx_append(&x, 30, 300));
	assert_true(sl_idx_full(&x, 1));
	assert_false(sl_oidx_append(&x, 40, 400));
	assert_int_equal(x.n, 3);
	sl_idx_close(&x);
}

static void
test_idx_tidx_lookup_and_maybe_append(void **state)
{
	struct sl_idx x;
	int64_t ts;
	uint32_t rel;

	(void)state;
	assert_int_equal(sl_idx_anon(&x, SL_TIDX_ENTRY, 1024), 0);
	assert_int_equal(sl_tidx_lookup(&x, 100), -1);
	assert_true(sl_tidx_append(&x, 1000, 3));
	assert_false(sl_tidx_append(&x, 1000, 5)); /* Kafka: only a larger timestamp */
	assert_true(sl_tidx_append(&x, 2000, 9));
	assert_int_equal(sl_tidx_lookup(&x, 999), -1);
	assert_int_equal(sl_tidx_lookup(&x, 1000), 3);
	assert_int_equal(sl_tidx_lookup(&x, 1999), 3);
	assert_int_equal(sl_tidx_lookup(&x, 5000), 9);
	sl_tidx_entry(&x, 1, &ts, &rel);
	assert_int_equal(ts, 2000);
	assert_int_equal(rel, 9);
	sl_idx_close(&x);
}

static void
test_idx_check_bytes_detects_damage(void **state)
{
	uint8_t o[24], t[24];

	(void)state;
	sl_put_be32(o, 1);
	sl_put_be32(o + 4, 0);
	sl_put_be32(o + 8, 5);
	sl_put_be32(o + 12, 4100);
	sl_put_be32(o + 16, 9);
	sl_put_be32(o + 20, 8200);
	assert_int_equal(sl_oidx_check_bytes(o, 24, 9000, 10), 0);
	assert_int_equal(sl_oidx_check_bytes(o, 23, 9000, 10), -EBADMSG); /* torn */
	assert_int_equal(sl_oidx_check_bytes(o, 24, 8200, 10), -EBADMSG); /* past the log */
	assert_int_equal(sl_oidx_check_bytes(o, 24, 9000, 9), -EBADMSG);  /* past the offsets */
	sl_put_be32(o + 16, 5);
	assert_int_equal(sl_oidx_check_bytes(o, 24, 9000, 10), -EBADMSG); /* not increasing */
	sl_put_be64(t, 100);
	sl_put_be32(t + 8, 0);
	sl_put_be64(t + 12, 200);
	sl_put_be32(t + 20, 4);
	assert_int_equal(sl_tidx_check_bytes(t, 24, 10), 0);
	assert_int_equal(sl_tidx_check_bytes(t, 13, 10), -EBADMSG);
	sl_put_be64(t + 12, 100);
	assert_int_equal(sl_tidx_check_bytes(t, 24, 10), -EBADMSG);
	sl_put_be64(t, (uint64_t)-5);
	assert_int_equal(sl_tidx_check_bytes(t, 12, 10), -EBADMSG);
	assert_int_equal(sl_oidx_check_bytes(NULL, 0, 0, 0), 0);
}

static void
test_idx_file_trim_and_reopen_read_only(void **state)
{
	char dir[] = "/dev/shm/sl-idx-XXXXXX";
	struct sl_idx x;
	uint32_t rel, pos;
	int dfd, fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_int_equal(sl_idx_open(&x, dfd, "a.index", SL_OIDX_ENTRY, true, 4096), 0);
	assert_int_equal(x.n, 0);
	assert_int_equal(x.cap, 512);
	assert_int_equal(tu_file_size(dir, "a.index"), 4096);
	assert_true(sl_oidx_append(&x, 1, 10));
	assert_true(sl_oidx_append(&x, 2, 20));
	assert_int_equal(sl_idx_trim(&x), 0);
	assert_int_equal(sl_idx_sync(&x), 0);
	sl_idx_close(&x);
	assert_int_equal(tu_file_size(dir, "a.index"), 16);
	assert_int_equal(sl_idx_open(&x, dfd, "a.index", SL_OIDX_ENTRY, false, 0), 0);
	assert_int_equal(x.n, 2);
	sl_oidx_entry(&x, 1, &rel, &pos);
	assert_int_equal(rel, 2);
	assert_int_equal(pos, 20);
	assert_false(sl_oidx_append(&x, 3, 30)); /* read-only */
	sl_idx_close(&x);
	/* A torn file is refused read-only and started afresh writable. */
	fd = openat(dfd, "a.index", O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "xyz", 3), 3);
	close(fd);
	assert_int_equal(sl_idx_open(&x, dfd, "a.index", SL_OIDX_ENTRY, false, 0), -EBADMSG);
	close(dfd);
	tu_rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_idx_oidx_lookup_returns_largest_entry_not_above),
	        cmocka_unit_test(test_idx_append_rejects_non_increasing_and_full),
	        cmocka_unit_test(test_idx_tidx_lookup_and_maybe_append),
	        cmocka_unit_test(test_idx_check_bytes_detects_damage),
	        cmocka_unit_test(test_idx_file_trim_and_reopen_read_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
