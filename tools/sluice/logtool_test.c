// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the offline log checker (logtool.c): partition directories are written
 * byte by byte here (batches from storage/rbuild, Kafka-layout index files), then damaged
 * in specific ways; each damage must be reported, and a clean log must pass.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "storage/codec.h"
#include "storage/compact.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#include "logtool.h"

struct fixture {
	char root[256];
	char part[300];
	char *out;
	size_t out_len;
};

/* Builds a batch of n records (keys "k<offset>", values of vlen bytes) at base. */
static size_t
build_batch(uint8_t *buf, size_t cap, int codec, int64_t base, int n, int32_t vlen)
{
	static uint8_t scratch_mem[1 << 20];
	struct sl_rb_scratch scratch = {scratch_mem, sizeof(scratch_mem)};
	struct sl_rb_builder b;
	uint8_t val[4096];
	int64_t total;

	memset(val, 'v', sizeof(val));
	assert_int_equal(
	        sl_rb_builder_init(&b, buf, cap, codec, base, 1700000000000 + base, -1, -1, -1), 0);
	for (int i = 0; i < n; i++) {
		char key[32];
		int kl = snprintf(key, sizeof(key), "k%lld", (long long)(base + i));

		assert_int_equal(sl_rb_builder_add(&b, 1700000000000 + base + i, key, kl, val, vlen,
		                                   NULL, 0),
		                 0);
	}
	total = sl_rb_builder_finish(&b, &scratch);
	assert_true(total > 0);
	return (size_t)total;
}

static void
write_file(const char *dir, const char *name, const void *p, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void
patch_file(const char *dir, const char *name, off_t pos, const void *p, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, len, pos), (ssize_t)len);
	close(fd);
}

/*
 * Writes segment <base>.log with nb batches of per records each, and its .index (an entry
 * for every batch after the first, Kafka's "last offset -> batch position") and
 * .timeindex. Returns the log size.
 */
static size_t
write_segment(const char *dir, int64_t base, int nb, int per, int codec)
{
	static uint8_t log[1 << 20];
	uint8_t oidx[4096], tidx[4096];
	size_t len = 0, no = 0, nt = 0;
	char name[64];

	for (int i = 0; i < nb; i++) {
		int64_t b = base + (int64_t)i * per;
		size_t n = build_batch(log + len, sizeof(log) - len, codec, b, per, 100);

		if (i > 0) {
			sl_put_be32(oidx + no, (uint32_t)(b + per - 1 - base));
			sl_put_be32(oidx + no + 4, (uint32_t)len);
			no += 8;
		}
		sl_put_be64(tidx + nt, (uint64_t)(1700000000000 + b + per - 1));
		sl_put_be32(tidx + nt + 8, (uint32_t)(b + per - 1 - base));
		nt += 12;
		len += n;
	}
	snprintf(name, sizeof(name), "%020lld.log", (long long)base);
	write_file(dir, name, log, len);
	snprintf(name, sizeof(name), "%020lld.index", (long long)base);
	write_file(dir, name, oidx, no);
	snprintf(name, sizeof(name), "%020lld.timeindex", (long long)base);
	write_file(dir, name, tidx, nt);
	return len;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/sl-logtool-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->part, sizeof(f->part), "%s/orders-0", f->root);
	assert_int_equal(mkdir(f->part, 0755), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f->out);
	free(f);
	return 0;
}

/* Runs the tool on path, capturing its output in f->out. */
static int
run(struct fixture *f, const char *path, bool dump, bool records, struct sl_logtool_stats *st)
{
	struct sl_logtool_opts o = {.dump = dump, .records = records};
	int ret;

	free(f->out);
	f->out = NULL;
	o.out = open_memstream(&f->out, &f->out_len);
	assert_non_null(o.out);
	ret = sl_logtool_run(path, &o, st);
	fclose(o.out);
	return ret;
}

static void
test_logtool_clean_log_no_problems(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;

	write_segment(f->part, 0, 5, 10, SL_CODEC_NONE);
	write_segment(f->part, 50, 4, 10, SL_CODEC_ZSTD);
	write_segment(f->part, 90, 3, 7, SL_CODEC_LZ4);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.warnings, 0);
	assert_int_equal(st.partitions, 1);
	assert_int_equal(st.segments, 3);
	assert_int_equal(st.batches, 12);
	assert_int_equal(st.records, 5 * 10 + 4 * 10 + 3 * 7);
}

static void
test_logtool_dump_prints_batches_and_records(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;

	write_segment(f->part, 0, 2, 3, SL_CODEC_GZIP);
	assert_int_equal(run(f, f->part, true, true, &st), 0);
	assert_int_equal(st.problems, 0);
	assert_non_null(strstr(f->out, "base_offset=0 last_offset=2 count=3"));
	assert_non_null(strstr(f->out, "base_offset=3 last_offset=5 count=3"));
	assert_non_null(strstr(f->out, "crc=ok codec=gzip"));
	assert_non_null(strstr(f->out, "producer_id=-1"));
	assert_non_null(strstr(f->out, "offset=4 timestamp=1700000000004 key=\"k4\""));
	assert_non_null(strstr(f->out, "value_len=100 headers=0"));
}

static void
test_logtool_flipped_byte_crc_error_at_batch_position(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	uint8_t b[1] = {0xff}, first[8192];
	size_t len = write_segment(f->part, 0, 3, 5, SL_CODEC_NONE);
	size_t second = build_batch(first, sizeof(first), SL_CODEC_NONE, 0, 5, 100);
	char want[64];

	assert_true(second < len);

	patch_file(f->part, "00000000000000000000.log", (off_t)(second + 100), b, 1);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 1);
	snprintf(want, sizeof(want), "00000000000000000000.log:%zu: error", second);
	assert_non_null(strstr(f->out, want));
	assert_non_null(strstr(f->out, sl_rb_strerror(SL_RB_ECRC)));
}

static void
test_logtool_torn_tail_reported(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	size_t len = write_segment(f->part, 0, 3, 5, SL_CODEC_NONE);
	char path[512];

	snprintf(path, sizeof(path), "%s/00000000000000000000.log", f->part);
	assert_int_equal(truncate(path, (off_t)(len - 10)), 0);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_true(st.problems >= 1);
	assert_non_null(strstr(f->out, "torn tail"));
}

static void
test_logtool_zero_padding_is_warning_not_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	size_t len = write_segment(f->part, 0, 3, 5, SL_CODEC_NONE);
	uint8_t zeros[4096] = {0};

	patch_file(f->part, "00000000000000000000.log", (off_t)len, zeros, sizeof(zeros));
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.warnings, 1);
	assert_non_null(strstr(f->out, "zero padding"));
}

static void
test_logtool_garbage_tail_is_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	size_t len = write_segment(f->part, 0, 3, 5, SL_CODEC_NONE);
	uint8_t junk[20] = {0};

	junk[15] = 0x11;
	patch_file(f->part, "00000000000000000000.log", (off_t)len, junk, sizeof(junk));
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 1);
}

static void
test_logtool_offset_gap_is_error_unless_compacted(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;

	write_segment(f->part, 0, 2, 10, SL_CODEC_NONE);
	write_segment(f->part, 25, 2, 10, SL_CODEC_NONE); /* 20..24 missing */
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 1);
	assert_non_null(strstr(f->out, "00000000000000000025.log:0: error: offset gap"));

	/* Below the compaction checkpoint, gaps are what compaction leaves. */
	write_file(f->part, SL_CLEANER_CKPT, "0\n1\norders 0 45\n", 16);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 0);
}

static void
test_logtool_backwards_offsets_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	uint8_t buf[8192];
	size_t a = build_batch(buf, sizeof(buf), SL_CODEC_NONE, 0, 5, 10);
	size_t b = build_batch(buf + a, sizeof(buf) - a, SL_CODEC_NONE, 3, 5, 10);

	write_file(f->part, "00000000000000000000.log", buf, a + b);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_true(st.problems >= 1);
	assert_non_null(strstr(f->out, "offsets go backwards"));
}

static void
test_logtool_segment_name_mismatch_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	uint8_t buf[8192];
	size_t a = build_batch(buf, sizeof(buf), SL_CODEC_NONE, 7, 5, 10);

	write_file(f->part, "00000000000000000005.log", buf, a);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 1);
	assert_non_null(strstr(f->out, "named 5 but its first batch starts at offset 7"));
}

static void
test_logtool_index_entry_mid_batch_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	uint8_t e[4];

	write_segment(f->part, 0, 4, 10, SL_CODEC_NONE);
	/* Entry 1's position moved by one byte: no batch starts there. */
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 0);
	{
		char path[512];
		FILE *fp;
		uint8_t ent[8];

		snprintf(path, sizeof(path), "%s/00000000000000000000.index", f->part);
		fp = fopen(path, "rb");
		assert_non_null(fp);
		assert_int_equal(fseek(fp, 8, SEEK_SET), 0);
		assert_int_equal(fread(ent, 1, 8, fp), 8);
		fclose(fp);
		sl_put_be32(e, sl_be32(ent + 4) + 1);
	}
	patch_file(f->part, "00000000000000000000.index", 12, e, 4);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_true(st.problems >= 1);
	assert_non_null(strstr(f->out, "00000000000000000000.index:8: error: entry 1"));
	assert_non_null(strstr(f->out, "is not a batch start"));
}

static void
test_logtool_index_not_monotonic_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	uint8_t rel[4];

	write_segment(f->part, 0, 4, 10, SL_CODEC_NONE);
	/* Entry 2's relative offset below entry 1's. */
	sl_put_be32(rel, 5);
	patch_file(f->part, "00000000000000000000.index", 16, rel, 4);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_true(st.problems >= 1);
	assert_non_null(strstr(f->out, "does not increase"));
}

static void
test_logtool_index_zero_tail_is_preallocation(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	uint8_t zeros[800] = {0};

	write_segment(f->part, 0, 4, 10, SL_CODEC_NONE);
	/* 3 real entries (24 bytes) then preallocated zeros, as the active segment has. */
	patch_file(f->part, "00000000000000000000.index", 24, zeros, sizeof(zeros));
	patch_file(f->part, "00000000000000000000.timeindex", 48, zeros, 120);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 0);
}

static void
test_logtool_timeindex_out_of_range_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	uint8_t e[12];

	write_segment(f->part, 0, 3, 10, SL_CODEC_NONE);
	/* A fourth entry past the segment's last offset, and with a too-large timestamp. */
	sl_put_be64(e, 1800000000000ull);
	sl_put_be32(e + 8, 77);
	patch_file(f->part, "00000000000000000000.timeindex", 36, e, 12);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 2);
	assert_non_null(strstr(f->out, "offset 77 is in no batch"));
	assert_non_null(strstr(f->out, "above the segment's largest"));
}

static void
test_logtool_index_size_not_whole_entries_error(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	char path[512];

	write_segment(f->part, 0, 3, 10, SL_CODEC_NONE);
	snprintf(path, sizeof(path), "%s/00000000000000000000.index", f->part);
	assert_int_equal(truncate(path, 13), 0);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 1);
	assert_non_null(strstr(f->out, "not a multiple of 8"));
}

static void
test_logtool_missing_index_and_leftovers_are_warnings(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	char path[512];

	write_segment(f->part, 0, 3, 10, SL_CODEC_NONE);
	snprintf(path, sizeof(path), "%s/00000000000000000000.index", f->part);
	assert_int_equal(unlink(path), 0);
	write_file(f->part, "00000000000000000000.log.cleaned", "x", 1);
	assert_int_equal(run(f, f->part, false, false, &st), 0);
	assert_int_equal(st.problems, 0);
	assert_int_equal(st.warnings, 2);
}

static void
test_logtool_root_dir_walks_every_partition(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	char p2[400];
	uint8_t b[1] = {0};

	snprintf(p2, sizeof(p2), "%s/orders-1", f->root);
	assert_int_equal(mkdir(p2, 0755), 0);
	write_segment(f->part, 0, 2, 5, SL_CODEC_NONE);
	write_segment(p2, 0, 3, 5, SL_CODEC_SNAPPY);
	assert_int_equal(run(f, f->root, false, false, &st), 0);
	assert_int_equal(st.partitions, 2);
	assert_int_equal(st.batches, 5);
	assert_int_equal(st.problems, 0);
	/* Damage in the second partition is reported with its path. */
	patch_file(p2, "00000000000000000000.log", 70, b, 1);
	assert_int_equal(run(f, f->root, false, false, &st), 0);
	assert_int_equal(st.problems, 1);
	assert_non_null(strstr(f->out, "orders-1/00000000000000000000.log:0: error"));
}

static void
test_logtool_not_a_directory_enotdir(void **state)
{
	struct fixture *f = *state;
	struct sl_logtool_stats st;
	char path[512];

	snprintf(path, sizeof(path), "%s/nope", f->root);
	assert_int_equal(run(f, path, false, false, &st), -ENOTDIR);
	/* A root without partitions. */
	snprintf(path, sizeof(path), "%s/empty", f->root);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(run(f, path, false, false, &st), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	        T(test_logtool_clean_log_no_problems),
	        T(test_logtool_dump_prints_batches_and_records),
	        T(test_logtool_flipped_byte_crc_error_at_batch_position),
	        T(test_logtool_torn_tail_reported),
	        T(test_logtool_zero_padding_is_warning_not_error),
	        T(test_logtool_garbage_tail_is_error),
	        T(test_logtool_offset_gap_is_error_unless_compacted),
	        T(test_logtool_backwards_offsets_error),
	        T(test_logtool_segment_name_mismatch_error),
	        T(test_logtool_index_entry_mid_batch_error),
	        T(test_logtool_index_not_monotonic_error),
	        T(test_logtool_index_zero_tail_is_preallocation),
	        T(test_logtool_timeindex_out_of_range_error),
	        T(test_logtool_index_size_not_whole_entries_error),
	        T(test_logtool_missing_index_and_leftovers_are_warnings),
	        T(test_logtool_root_dir_walks_every_partition),
	        T(test_logtool_not_a_directory_enotdir),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
