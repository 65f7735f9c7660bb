// SPDX-License-Identifier: Apache-2.0
/*
 * offsets_test.c: the committed-offset store (control/offsets.h): put/get/delete, replay
 * of __consumer_offsets-0 after reopen, tombstones, migration of the legacy file, group
 * deletion and expiry, compaction keeping the latest value per key.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/uring.h"
#include "control/offsets.h"
#include "storage/plog.h"

static char dir[PATH_MAX];
static char legacy[PATH_MAX + 32];
static struct sl_uring ring;
static struct sl_store *st;

static int
setup(void **state)
{
	struct sl_store_opts so;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sl-offs-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(legacy, sizeof(legacy), "%s/.sluice-offsets", dir);
	if (sl_uring_init(&ring, 64, 0) < 0)
		return -1;
	sl_store_opts_default(&so);
	so.chunk_bytes = 1u << 20;
	so.nr_chunks = 4;
	so.read_buf_bytes = 1u << 20;
	so.nr_read_bufs = 2;
	return sl_store_create(&st, &ring, &so) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	sl_store_destroy(st);
	st = NULL;
	sl_uring_fini(&ring);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Opens the store on dir's __consumer_offsets-0 (segments of seg_bytes; 0: default). */
static int
open_seg(struct sl_offs **o, uint64_t seg_bytes)
{
	struct sl_offs_log_cfg lc = {st, &ring, dir, legacy, seg_bytes, 1000};

	return sl_offs_open_log(o, &lc);
}

static int
open_log(struct sl_offs **o)
{
	return open_seg(o, 0);
}

static bool
exists(const char *path)
{
	return access(path, F_OK) == 0;
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
	assert_int_equal(sl_offs_open(&o, dir), -EINVAL); /* the file store is gone */
	assert_int_equal(open_log(&o), 0);
	PUT(o, "g", "t", 0, &a);
	PUT(o, "g", "t", 1, &b);
	PUT(o, "h", "t", 0, &b);
	assert_int_equal(sl_offs_del(o, "h", 1, "t", 1, 0), 1);
	assert_int_equal(sl_offs_del(o, "h", 1, "t", 1, 0), 0);
	assert_int_equal(sl_offs_sync(o), 0);
	sl_offs_close(o);

	{
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/__consumer_offsets-0/%020d.log", dir, 0);
		assert_true(exists(path));
		assert_false(exists(legacy));
	}
	for (int round = 0; round < 2; round++) { /* the second after a compaction pass */
		assert_int_equal(open_log(&o), 0);
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
		assert_true(sl_offs_compact(o, sl_wall_ms()) >= 0);
		sl_offs_close(o);
	}
}

/* One record of the legacy file format (offsets.h). */
static size_t
legacy_rec(uint8_t *buf, const char *g, const char *t, int32_t p, bool tomb, int64_t off,
           const char *meta)
{
	size_t glen = strlen(g), tlen = strlen(t), mlen = meta ? strlen(meta) : 0;
	uint8_t *q = buf + 8;
	size_t blen = 2 + glen + 2 + tlen + 4 + 1 + 8 + 4 + 8 + 4 + mlen;

	sl_put_be16(q, (uint16_t)glen);
	memcpy(q + 2, g, glen);
	q += 2 + glen;
	sl_put_be16(q, (uint16_t)tlen);
	memcpy(q + 2, t, tlen);
	q += 2 + tlen;
	sl_put_be32(q, (uint32_t)p);
	q[4] = tomb;
	sl_put_be64(q + 5, (uint64_t)off);
	sl_put_be32(q + 13, 3);
	sl_put_be64(q + 17, (uint64_t)(1000 + off));
	sl_put_be32(q + 25, meta ? (uint32_t)mlen : UINT32_MAX);
	memcpy(q + 29, meta ? meta : "", mlen);
	sl_put_be32(buf, (uint32_t)blen);
	sl_put_be32(buf + 4, sl_crc32c(0, buf + 8, blen));
	return blen + 8;
}

static void
test_offsets_legacy_file_is_migrated_once_then_removed(void **state)
{
	struct sl_offs *o;
	struct sl_offs_val newer = val(99, "log");
	const struct sl_offs_val *v;
	uint8_t buf[1024];
	size_t n = 0;
	char path[PATH_MAX + 64];
	int fd;

	(void)state;
	/* the log already knows (g, t, 2): it is newer than the legacy file */
	assert_int_equal(open_log(&o), 0);
	PUT(o, "g", "t", 2, &newer);
	assert_int_equal(sl_offs_sync(o), 0);
	sl_offs_close(o);

	assert_int_equal(mkdir(legacy, 0755), 0);
	n += legacy_rec(buf + n, "g", "t", 0, false, 5, "m");
	n += legacy_rec(buf + n, "g", "t", 1, false, 6, NULL);
	n += legacy_rec(buf + n, "g", "t", 2, false, 7, NULL);
	n += legacy_rec(buf + n, "h", "t", 0, false, 8, NULL);
	n += legacy_rec(buf + n, "h", "t", 0, true, -1, NULL); /* deleted */
	n += legacy_rec(buf + n, "g", "t", 3, false, 9, NULL);
	buf[n - 2] ^= 0xff; /* the last one is corrupt: CRC mismatch */
	memcpy(buf + n, "\0\0\0\x40\1\2", 6); /* and a torn record after it */
	n += 6;
	snprintf(path, sizeof(path), "%s/offsets.log", legacy);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);

	for (int round = 0; round < 2; round++) { /* the second reads the log alone */
		assert_int_equal(open_log(&o), 0);
		assert_false(exists(path));
		assert_false(exists(legacy));
		assert_int_equal(sl_offs_count(o, NULL, 0), 3);
		v = GET(o, "g", "t", 0);
		assert_non_null(v);
		assert_int_equal(v->offset, 5);
		assert_int_equal(v->leader_epoch, 3);
		assert_int_equal(v->commit_ts_ms, 1005);
		assert_int_equal(v->metadata_len, 1);
		assert_memory_equal(v->metadata, "m", 1);
		v = GET(o, "g", "t", 1);
		assert_non_null(v);
		assert_int_equal(v->metadata_len, -1);
		assert_int_equal(GET(o, "g", "t", 2)->offset, 99);
		assert_null(GET(o, "h", "t", 0));
		assert_null(GET(o, "g", "t", 3));
		sl_offs_close(o);
	}
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
	assert_int_equal(open_log(&o), 0);
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
	assert_int_equal(sl_offs_sync(o), 0);
	sl_offs_close(o);
	assert_int_equal(open_log(&o), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 2);
	assert_int_equal(sl_offs_count(o, "c", 1), 0);
	assert_null(GET(o, "a", "t", 0));
	assert_non_null(GET(o, "b", "t", 0));
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
test_offsets_compaction_keeps_latest_and_bounds_the_log(void **state)
{
	struct sl_offs *o;
	char meta[200];
	uint64_t before;
	int64_t now = sl_wall_ms(), removed;

	(void)state;
	memset(meta, 'm', sizeof(meta) - 1);
	meta[sizeof(meta) - 1] = 0;
	assert_int_equal(open_seg(&o, 64u << 10), 0);
	/* 4 live entries and one deleted, rewritten over many 64 KiB segments */
	for (int i = 0; i < 5000; i++) {
		struct sl_offs_val v = val(i, meta);

		PUT(o, "g", "t", i % 5, &v);
		if (i % 100 == 99)
			assert_int_equal(sl_offs_sync(o), 0);
	}
	assert_int_equal(sl_offs_del(o, "g", 1, "t", 1, 4), 1);
	assert_int_equal(sl_offs_sync(o), 0);
	before = sl_offs_file_bytes(o);
	assert_true(before > (1u << 20));
	/* poll: due (a segment's worth written), then not again within the backoff */
	removed = sl_offs_poll(o, now);
	assert_true(removed > 4000);
	assert_true(sl_offs_file_bytes(o) < (256u << 10));
	for (int i = 0; i < 1000; i++) {
		struct sl_offs_val v = val(5000 + i, meta);

		PUT(o, "g", "t", i % 4, &v);
	}
	assert_int_equal(sl_offs_sync(o), 0);
	assert_int_equal(sl_offs_poll(o, now + 10), 0);     /* backoff: 1000 ms */
	assert_true(sl_offs_poll(o, now + 1000) > 0);        /* due again */
	assert_true(sl_offs_file_bytes(o) < (256u << 10));
	sl_offs_close(o);

	assert_int_equal(open_seg(&o, 64u << 10), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 4);
	assert_int_equal(GET(o, "g", "t", 3)->offset, 5999);
	assert_int_equal(GET(o, "g", "t", 0)->offset, 5996);
	assert_int_equal(GET(o, "g", "t", 0)->metadata_len, (int32_t)strlen(meta));
	assert_null(GET(o, "g", "t", 4));
	sl_offs_close(o);
}

static void
test_offsets_unsynced_records_are_written_at_close(void **state)
{
	struct sl_offs *o;
	struct sl_offs_val a = val(42, NULL);

	(void)state;
	assert_int_equal(open_log(&o), 0);
	assert_int_equal(sl_offs_file_bytes(o), 0);
	PUT(o, "g", "t", 0, &a);
	assert_int_equal(sl_offs_file_bytes(o), 0); /* pending until sync */
	assert_int_equal(sl_offs_sync(o), 0);
	assert_true(sl_offs_file_bytes(o) > 0);
	PUT(o, "g", "t", 1, &a);
	sl_offs_close(o);
	assert_int_equal(open_log(&o), 0);
	assert_int_equal(sl_offs_count(o, NULL, 0), 2);
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
	                test_offsets_legacy_file_is_migrated_once_then_removed, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_offsets_delete_group_and_expire_remove_only_matching, setup, teardown),
	        cmocka_unit_test(test_offsets_oversized_input_is_rejected_without_change),
	        cmocka_unit_test_setup_teardown(
	                test_offsets_compaction_keeps_latest_and_bounds_the_log, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_offsets_unsynced_records_are_written_at_close,
	                                        setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
