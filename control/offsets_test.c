// SPDX-License-Identifier: Apache-2.0
/*
 * offsets_test.c: the committed-offset store (control/offsets.h): put/get/delete, replay
 * after reopen, tombstones, torn tails, group deletion and expiry.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/offsets.h"

static char dir[PATH_MAX];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sl-offs-test-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct sl_offs_val
val(int64_t off, const char *meta)
{
	struct sl_offs_val v = {off, 7, 1000 + off, meta, meta ? (int32_t)strlen(meta) : -1};

	return v;
}

#define PUT(o, g, t, p, v) assert_int_equal(sl_offs_put(o, g, strlen(g), t, strlen(t), p, v), 0)
#define GET(o, g, t, p) sl_offs_get(o, g, strlen(g), t, strlen(t), p)

static void
test_offsets_put_then_get_returns_latest_value(void **state)
{
	struct sl_offs *o;
	struct sl_offs_val a = val(5, "m1"), b = val(9, NULL);
	const struct sl_offs_val *v;

	(void)state;
	assert_int_equal(sl_offs_open(&o, NULL), 0);
	assert_null(GET(o, "g", "t", 0));
	PUT(o, "g", "t", 0, &a);
	PUT(o, "g", "t", 1, &a);
	PUT(o, "g", "t", 0, &b);
	v = GET(o, "g", "t", 0);
	assert_non_null(v);
	assert_int_equal(v->offset, 9);
	assert_int_equal(v->metadata_len, -1);
	v = GET(o, "g", "t", 1);
	assert_non_null(v);
	assert_int_equal(v->offset, 5);
	assert_int_equal(v->leader_epoch, 7);
	assert_memory_equal(v->metadata, "m1", 2);
	assert_null(GET(o, "g2", "t", 0));
	assert_null(GET(o, "g", "tt", 0));
	assert_int_equal(sl_offs_count(o, NULL, 0), 2);
	sl_offs_close(o);
}

static void
test_offsets_many_entries_grow_table_and_all_found(void **state)
{
	struct sl_offs *o;
	char g[32];

	(void)state;
	assert_int_equal(sl_offs_open(&o, NULL), 0);
	for (int i = 0; i < 2000; i++) {
		struct sl_offs_val v = val(i, NULL);

		snprintf(g, sizeof(g), "group-%d", i % 50);
		PUT(o, g, "topic", i, &v);
	}
	assert_int_equal(sl_offs_count(o, NULL, 0), 2000);
	assert_int_equal(sl_offs_count(o, "group-3", 7), 40);
	for (int i = 0; i < 2000; i++) {
		const struct sl_offs_val *v;

		snprintf(g, sizeof(g), "group-%d", i % 50);
		v = GET(o, g, "topic", i);
		assert_non_null(v);
		assert_int_equal(v->offset, i);
	}
	sl_offs_close(o);
}

static void
test_offsets_reopen_replays_puts_and_tombstones(void **state)
{
	struct sl_offs *o;
	struct sl_offs_val a = val(11, "meta"), b = val(12, "");
	const struct sl_offs_val *v;

	(void)state;
	assert_int_equal(sl_offs_open(&o, dir), 0);
	PUT(o, "g", "t", 0, &a);
	PUT(o, "g", "t", 1, &b);
	PUT(o, "h", "t", 0, &b);
	assert_int_equal(sl_offs_del(o, "h", 1, "t", 1, 0), 1);
	assert_int_equal(sl_offs_del(o, "h", 1, "t", 1, 0), 0);
	assert_int_equal(sl_offs_sync(o), 0);
	sl_offs_close(o);

	for (int round = 0; round < 2; round++) { /* the second replays the compacted file */
		assert_int_equal(sl_offs_open(&o, dir), 0);
		assert_int_equal(sl_offs_count(o, NULL, 0), 2);
		v = GET(o, "g", "t", 0);
		assert_non_null(v);
		assert_int_equal(v->offset, 11);
		assert_int_equal(v->commit_ts_ms, 1011);
		assert_int_equal(v->metadata_len, 4);
		assert_memory_equal(v->metadata, "meta", 4);
		v = GET(o, "g", "t", 1);
		assert_non_null(v);
		assert_int_equal(v->metadata_len, 0);
		assert_null(GET(o, "h", "t", 0));
		sl_offs_close(o);
	}
}

static void
test_offsets_torn_or_corrupt_tail_is_dropped_and_rest_kept(void **state)
{
	struct sl_offs *o;
	struct sl_offs_val a = val(1, "x");
	char path[PATH_MAX + 32];
	int fd;
	off_t end;

	(void)state;
	assert_int_equal(sl_offs_open(&o, dir), 0);
	PUT(o, "g", "t", 0, &a);
	PUT(o, "g", "t", 1, &a);
	sl_offs_close(o);
	snprintf(path, sizeof(path), "%s/offsets.log", dir);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	end = lseek(fd, 0, SEEK_END);
	/* flip a byte of the last record's body: CRC mismatch */
	assert_int_equal(pwrite(fd, "\xff", 1, end - 3), 1);
	/* and a torn record after it */
	assert_int_equal(pwrite(fd, "\0\0\0\x40\1\2", 6, end), 6);
	close(fd);
	assert_int_equal(sl_offs_open(&o, dir), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 1);
	assert_non_null(GET(o, "g", "t", 0));
	assert_null(GET(o, "g", "t", 1));
	/* still writable after recovery */
	PUT(o, "g", "t", 2, &a);
	sl_offs_close(o);
	assert_int_equal(sl_offs_open(&o, dir), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 2);
	sl_offs_close(o);
}

static bool
only_group_a(void *arg, const char *g, size_t glen)
{
	(void)arg;
	return glen == 1 && g[0] == 'a';
}

static void
test_offsets_delete_group_and_expire_remove_only_matching(void **state)
{
	struct sl_offs *o;
	struct sl_offs_val old = val(1, NULL), young = val(5000, NULL);

	(void)state;
	assert_int_equal(sl_offs_open(&o, dir), 0);
	PUT(o, "a", "t", 0, &old);   /* ts 1001: expires */
	PUT(o, "a", "t", 1, &young); /* ts 6000: too young */
	PUT(o, "b", "t", 0, &old);   /* group b may not expire */
	PUT(o, "c", "t", 0, &old);
	PUT(o, "c", "u", 0, &old);
	assert_int_equal(sl_offs_expire(o, 2000, only_group_a, NULL), 1);
	assert_null(GET(o, "a", "t", 0));
	assert_non_null(GET(o, "a", "t", 1));
	assert_non_null(GET(o, "b", "t", 0));
	assert_int_equal(sl_offs_del_group(o, "c", 1), 2);
	assert_int_equal(sl_offs_del_group(o, "c", 1), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 2);
	sl_offs_close(o);
	assert_int_equal(sl_offs_open(&o, dir), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 2);
	assert_int_equal(sl_offs_count(o, "c", 1), 0);
	sl_offs_close(o);
}

static void
test_offsets_oversized_input_is_rejected_without_change(void **state)
{
	struct sl_offs *o;
	struct sl_offs_val v = val(1, NULL);
	static char big[SL_OFFS_STR_MAX + 2];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	assert_int_equal(sl_offs_open(&o, NULL), 0);
	assert_int_equal(sl_offs_put(o, big, strlen(big), "t", 1, 0, &v), -EINVAL);
	v.metadata_len = SL_OFFS_META_MAX + 1;
	v.metadata = big;
	assert_int_equal(sl_offs_put(o, "g", 1, "t", 1, 0, &v), -EINVAL);
	v.metadata_len = 3;
	v.metadata = NULL;
	assert_int_equal(sl_offs_put(o, "g", 1, "t", 1, 0, &v), -EINVAL);
	assert_int_equal(sl_offs_count(o, NULL, 0), 0);
	assert_null(sl_offs_get(o, big, strlen(big), "t", 1, 0));
	sl_offs_close(o);
}

static void
test_offsets_file_of_mostly_overwritten_records_is_compacted_at_sync(void **state)
{
	struct sl_offs *o;
	char meta[200];
	uint64_t peak = 0;

	(void)state;
	memset(meta, 'm', sizeof(meta) - 1);
	meta[sizeof(meta) - 1] = 0;
	assert_int_equal(sl_offs_open(&o, dir), 0);
	/* 4 live entries rewritten until well past 4 MiB */
	for (int i = 0; i < 30000; i++) {
		struct sl_offs_val v = val(i, meta);

		PUT(o, "g", "t", i % 4, &v);
		if (sl_offs_file_bytes(o) > peak)
			peak = sl_offs_file_bytes(o);
		if (i % 100 == 99)
			assert_int_equal(sl_offs_sync(o), 0);
	}
	assert_int_equal(sl_offs_sync(o), 0);
	assert_true(peak >= (4u << 20));   /* it grew to the threshold ... */
	assert_true(peak < (5u << 20));    /* ... and no further */
	assert_true(sl_offs_file_bytes(o) < (4u << 20));
	sl_offs_close(o);
	assert_int_equal(sl_offs_open(&o, dir), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 4);
	assert_int_equal(GET(o, "g", "t", 3)->offset, 29999);
	assert_int_equal(GET(o, "g", "t", 0)->offset, 29996);
	assert_true(sl_offs_file_bytes(o) < 2000);
	sl_offs_close(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_offsets_put_then_get_returns_latest_value),
	        cmocka_unit_test(test_offsets_many_entries_grow_table_and_all_found),
	        cmocka_unit_test_setup_teardown(test_offsets_reopen_replays_puts_and_tombstones,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_offsets_torn_or_corrupt_tail_is_dropped_and_rest_kept, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_offsets_delete_group_and_expire_remove_only_matching, setup, teardown),
	        cmocka_unit_test(test_offsets_oversized_input_is_rejected_without_change),
	        cmocka_unit_test_setup_teardown(
	                test_offsets_file_of_mostly_overwritten_records_is_compacted_at_sync, setup,
	                teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
