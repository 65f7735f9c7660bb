// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for recovery at open: images of a log taken while it was open (a crash),
 * torn and garbage tails, corrupt batches, zero padding, damaged or missing indexes, and
 * interrupted compaction swaps.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/plog_testutil.h"

static uint8_t bufs[64][4096];
static size_t lens[64];

static void
make_batches(int n)
{
	for (int i = 0; i < n; i++)
		lens[i] = tu_batch(bufs[i], sizeof(bufs[i]), 2, 5000 + i * 10, (uint32_t)i + 100,
		                   200 + (size_t)i * 3);
}

static size_t
sum_lens(int from, int to)
{
	size_t s = 0;

	for (int i = from; i < to; i++)
		s += lens[i];
	return s;
}

static void
cfg_small(struct sl_plog_cfg *cfg, bool durable)
{
	sl_plog_cfg_default(cfg);
	cfg->durable = durable;
	cfg->index_interval_bytes = 300;
}

static struct sl_plog *
open_at(struct tu_env *e, const char *root, const struct sl_plog_cfg *cfg)
{
	struct sl_plog *log = NULL;

	assert_int_equal(sl_plog_open(&log, e->st, root, "t", 0, cfg), 0);
	return log;
}

static void
append_range(struct tu_env *e, struct sl_plog *log, int from, int n)
{
	static struct tu_app apps[64];
	int done = 0;

	for (int i = 0; i < n; i++)
		assert_int_equal(tu_append(log, &apps[i], &done, bufs[from + i], lens[from + i]),
		                 0);
	assert_int_equal(tu_wait(e, &done, n), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(apps[i].a.err, 0);
}

/* Reads every batch from offset 0 and checks it against bufs[]; returns the count. */
static int
verify_all(struct tu_env *e, struct sl_plog *log, int expect)
{
	struct tu_rd rd;
	int64_t off = 0;
	int i;

	for (i = 0; i < expect; i++) {
		assert_true(tu_read(e, log, &rd, off, 1) >= 0);
		assert_int_equal(rd.r.err, 0);
		assert_int_equal(rd.r.len, lens[i]);
		assert_int_equal((int64_t)sl_be64(rd.r.data), off);
		assert_memory_equal(rd.r.data + 8, bufs[i] + 8, lens[i] - 8);
		tu_read_release(&rd);
		off += 2;
	}
	assert_int_equal(tu_read(e, log, &rd, off, 1), 1);
	assert_int_equal(rd.r.len, 0);
	return i;
}

static void
copy_file(const char *from, const char *to)
{
	static uint8_t buf[1 << 16];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

/* Copies the partition directory as it is now (a crash image) to <root>/img/t-0. */
static void
snapshot(struct tu_env *e, char *img_root, size_t len)
{
	char dst[512], a[900], b[900];
	struct dirent *de;
	DIR *d;

	snprintf(img_root, len, "%s/img", e->root);
	mkdir(img_root, 0755);
	snprintf(dst, sizeof(dst), "%s/t-0", img_root);
	mkdir(dst, 0755);
	d = opendir(e->pdir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
			continue;
		snprintf(a, sizeof(a), "%s/%s", e->pdir, de->d_name);
		snprintf(b, sizeof(b), "%s/%s", dst, de->d_name);
		copy_file(a, b);
	}
	closedir(d);
}

static void
file_append(const char *dir, const char *name, const void *p, size_t n)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void
file_poke(const char *dir, const char *name, uint64_t pos, uint8_t xor)
{
	char path[512];
	uint8_t c;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)pos), 1);
	c ^= xor;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)pos), 1);
	close(fd);
}

static void
unlink_in(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static size_t
slurp(const char *dir, const char *name, uint8_t *buf, size_t cap)
{
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static void
test_recov_crash_image_keeps_every_completed_append(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log, *img;
	char img_root[300], img_dir[400];

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(12);
	cfg_small(&cfg, true);
	log = open_at(&e, e.root, &cfg);
	assert_false(tu_exists(e.pdir, SL_CLEAN_MARKER));
	append_range(&e, log, 0, 10);
	snapshot(&e, img_root, sizeof(img_root));
	assert_int_equal(sl_plog_close(log), 0);
	snprintf(img_dir, sizeof(img_dir), "%s/t-0", img_root);
	/* The image has O_DIRECT padding (zeros) after the data and no clean marker. */
	assert_false(tu_exists(img_dir, SL_CLEAN_MARKER));
	assert_int_equal(tu_file_size(img_dir, "00000000000000000000.log") % SL_BLK, 0);
	img = open_at(&e, img_root, &cfg);
	assert_int_equal(sl_plog_end_offset(img), 20);
	assert_int_equal(tu_file_size(img_dir, "00000000000000000000.log"),
	                 (int64_t)sum_lens(0, 10));
	verify_all(&e, img, 10);
	append_range(&e, img, 10, 2); /* appends continue after recovery */
	verify_all(&e, img, 12);
	assert_int_equal(sl_plog_close(img), 0);
	tu_env_fini(&e);
}

static void
test_recov_torn_tail_truncated_to_last_whole_batch(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(6);
	cfg_small(&cfg, false);
	log = open_at(&e, e.root, &cfg);
	append_range(&e, log, 0, 6);
	assert_int_equal(sl_plog_close(log), 0);
	/* A crash mid-write: the fifth batch half there, no clean marker. */
	unlink_in(e.pdir, SL_CLEAN_MARKER);
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/00000000000000000000.log", e.pdir);
		assert_int_equal(truncate(p, (off_t)(sum_lens(0, 4) + lens[4] / 2)), 0);
	}
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(sl_plog_end_offset(log), 8);
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000000.log"), (int64_t)sum_lens(0, 4));
	verify_all(&e, log, 4);
	/* The next append gets offset 8. */
	append_range(&e, log, 4, 1);
	verify_all(&e, log, 5);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_garbage_tail_truncated(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint8_t junk[1000];

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(4);
	cfg_small(&cfg, false);
	log = open_at(&e, e.root, &cfg);
	append_range(&e, log, 0, 4);
	assert_int_equal(sl_plog_close(log), 0);
	unlink_in(e.pdir, SL_CLEAN_MARKER);
	tu_fill_value(junk, sizeof(junk), 9, 9);
	file_append(e.pdir, "00000000000000000000.log", junk, sizeof(junk));
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(sl_plog_end_offset(log), 8);
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000000.log"), (int64_t)sum_lens(0, 4));
	verify_all(&e, log, 4);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_corrupt_batch_truncates_from_it(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(6);
	cfg_small(&cfg, false);
	log = open_at(&e, e.root, &cfg);
	append_range(&e, log, 0, 6);
	assert_int_equal(sl_plog_close(log), 0);
	unlink_in(e.pdir, SL_CLEAN_MARKER);
	unlink_in(e.pdir, SL_RP_CKPT);
	file_poke(e.pdir, "00000000000000000000.log", sum_lens(0, 2) + 100, 0x40); /* batch 2 */
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(sl_plog_end_offset(log), 4);
	verify_all(&e, log, 2);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/* Three segments of three batches each (offsets 0, 6, 12), closed cleanly. */
static struct sl_plog *
three_segments(struct tu_env *e, struct sl_plog_cfg *cfg)
{
	struct sl_plog *log;

	make_batches(9);
	cfg_small(cfg, false);
	cfg->segment_bytes = sum_lens(6, 9) + 5; /* the largest three (sizes grow) */
	log = open_at(e, e->root, cfg);
	append_range(e, log, 0, 3);
	append_range(e, log, 3, 3);
	append_range(e, log, 6, 3);
	tu_drain(e);
	assert_int_equal(log->nsegs, 3);
	assert_int_equal(log->segs[1]->base_offset, 6);
	assert_int_equal(log->segs[2]->base_offset, 12);
	return log;
}

static void
test_recov_zero_padding_in_middle_segment_is_not_damage(void **state)
{
	static const uint8_t zeros[5000];
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = three_segments(&e, &cfg);
	assert_int_equal(sl_plog_close(log), 0);
	/* As if the crash came between a seal's sync and its ftruncate. */
	unlink_in(e.pdir, SL_CLEAN_MARKER);
	unlink_in(e.pdir, SL_RP_CKPT);
	file_append(e.pdir, "00000000000000000006.log", zeros, sizeof(zeros));
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(log->nsegs, 3);
	assert_int_equal(sl_plog_end_offset(log), 18);
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000006.log"), (int64_t)sum_lens(3, 6));
	verify_all(&e, log, 9);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_junk_after_complete_middle_segment_keeps_later_segments(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint8_t junk[300];

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = three_segments(&e, &cfg);
	assert_int_equal(sl_plog_close(log), 0);
	/* Segment 6 holds all its offsets (up to 11, the next starts at 12): what follows
	 * its data is padding whatever the bytes, and segment 12 stays. */
	unlink_in(e.pdir, SL_CLEAN_MARKER);
	unlink_in(e.pdir, SL_RP_CKPT);
	tu_fill_value(junk, sizeof(junk), 3, 3);
	file_append(e.pdir, "00000000000000000006.log", junk, sizeof(junk));
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(log->nsegs, 3);
	assert_int_equal(sl_plog_end_offset(log), 18);
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000006.log"), (int64_t)sum_lens(3, 6));
	verify_all(&e, log, 9);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_damage_in_middle_segment_drops_later_segments(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = three_segments(&e, &cfg);
	assert_int_equal(sl_plog_close(log), 0);
	/* The last batch of segment 6 is damaged: it ends at 10, short of 12. */
	unlink_in(e.pdir, SL_CLEAN_MARKER);
	unlink_in(e.pdir, SL_RP_CKPT);
	file_poke(e.pdir, "00000000000000000006.log", sum_lens(3, 5) + 80, 0x10);
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(log->nsegs, 2);
	assert_int_equal(sl_plog_end_offset(log), 10);
	assert_false(tu_exists(e.pdir, "00000000000000000012.log"));
	assert_false(tu_exists(e.pdir, "00000000000000000012.index"));
	verify_all(&e, log, 5);
	/* The damaged segment is the active one now and takes appends. */
	append_range(&e, log, 5, 1);
	verify_all(&e, log, 6);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_recovery_point_skips_sealed_segments(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint8_t junk[300];

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = three_segments(&e, &cfg);
	assert_int_equal(sl_plog_close(log), 0);
	assert_int_equal(tu_file_size(e.pdir, SL_RP_CKPT) > 0, 1);
	/* Unclean, but the recovery point says segments 0 and 6 were sealed: a flipped byte
	 * inside segment 0 goes unnoticed (not scanned: a scan would truncate there and drop
	 * the later segments), while the active segment is scanned and its junk tail cut. */
	unlink_in(e.pdir, SL_CLEAN_MARKER);
	file_poke(e.pdir, "00000000000000000000.log", lens[0] + 100, 0x40);
	tu_fill_value(junk, sizeof(junk), 3, 3);
	file_append(e.pdir, "00000000000000000012.log", junk, sizeof(junk));
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(log->nsegs, 3);
	assert_int_equal(sl_plog_end_offset(log), 18);
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000012.log"), (int64_t)sum_lens(6, 9));
	{
		struct tu_rd rd;

		assert_int_equal(tu_read(&e, log, &rd, 14, 1), 0);
		assert_int_equal(rd.r.len, lens[7]);
		assert_memory_equal(rd.r.data + 8, bufs[7] + 8, lens[7] - 8);
		tu_read_release(&rd);
	}
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
check_index_rebuilt(bool delete_files)
{
	static uint8_t want_o[4096], want_t[4096], got[4096];
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	size_t no, nt;

	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	log = three_segments(&e, &cfg);
	assert_int_equal(sl_plog_close(log), 0);
	no = slurp(e.pdir, "00000000000000000006.index", want_o, sizeof(want_o));
	nt = slurp(e.pdir, "00000000000000000006.timeindex", want_t, sizeof(want_t));
	assert_true(no >= 8 && nt >= 12);
	if (delete_files) {
		unlink_in(e.pdir, "00000000000000000006.index");
		unlink_in(e.pdir, "00000000000000000006.timeindex");
	} else {
		/* Damage: the first entry points past the file, the time index is torn. */
		file_poke(e.pdir, "00000000000000000006.index", 4, 0x7f);
		{
			char p[600];

			snprintf(p, sizeof(p), "%s/00000000000000000006.timeindex", e.pdir);
			assert_int_equal(truncate(p, (off_t)nt - 5), 0);
		}
	}
	/* The clean marker is there: only the sanity check finds it. */
	assert_true(tu_exists(e.pdir, SL_CLEAN_MARKER));
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(sl_plog_end_offset(log), 18);
	assert_int_equal(slurp(e.pdir, "00000000000000000006.index", got, sizeof(got)), no);
	assert_memory_equal(got, want_o, no);
	assert_int_equal(slurp(e.pdir, "00000000000000000006.timeindex", got, sizeof(got)), nt);
	assert_memory_equal(got, want_t, nt);
	verify_all(&e, log, 9);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_missing_index_rebuilt_identical(void **state)
{
	(void)state;
	check_index_rebuilt(true);
}

static void
test_recov_damaged_index_rebuilt_identical(void **state)
{
	(void)state;
	check_index_rebuilt(false);
}

static void
test_recov_interrupted_swap_completed(void **state)
{
	static uint8_t img[1 << 16];
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	size_t n0, n1;
	int fd;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	log = three_segments(&e, &cfg);
	assert_int_equal(sl_plog_close(log), 0);
	/* A compaction merged segments 0 and 6 into one file and crashed after renaming it
	 * to .swap; another left a .cleaned file behind. */
	n0 = slurp(e.pdir, "00000000000000000000.log", img, sizeof(img));
	n1 = slurp(e.pdir, "00000000000000000006.log", img + n0, sizeof(img) - n0);
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/00000000000000000000.log.swap", e.pdir);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(write(fd, img, n0 + n1), (ssize_t)(n0 + n1));
		close(fd);
		snprintf(p, sizeof(p), "%s/00000000000000000012.log.cleaned", e.pdir);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(write(fd, "x", 1), 1);
		close(fd);
	}
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(log->nsegs, 2);
	assert_false(tu_exists(e.pdir, "00000000000000000006.log"));
	assert_false(tu_exists(e.pdir, "00000000000000000000.log.swap"));
	assert_false(tu_exists(e.pdir, "00000000000000000012.log.cleaned"));
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000000.log"), (int64_t)(n0 + n1));
	verify_all(&e, log, 9);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_seg_swap_replaces_segments_live(void **state)
{
	static uint8_t img[1 << 16];
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	size_t n0, n1;
	int fd;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = three_segments(&e, &cfg);
	assert_int_equal(sl_plog_update_rp(log, false), 0); /* trims the sealed segments */
	n0 = slurp(e.pdir, "00000000000000000000.log", img, sizeof(img));
	n1 = slurp(e.pdir, "00000000000000000006.log", img + n0, sizeof(img) - n0);
	assert_int_equal(n0 + n1, sum_lens(0, 6));
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/00000000000000000000.log.cleaned", e.pdir);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(write(fd, img, n0 + n1), (ssize_t)(n0 + n1));
		close(fd);
	}
	/* Merge 0 and 6 (whose bytes the file holds). */
	assert_int_equal(sl_plog_seg_swap(log, 1, 2), -EINVAL); /* would take the active one */
	assert_int_equal(sl_plog_seg_swap(log, 1, 1), -ENOENT); /* no .cleaned file: no change */
	assert_int_equal(log->nsegs, 3);
	assert_int_equal(sl_plog_seg_swap(log, 0, 2), 0);
	assert_int_equal(log->nsegs, 2);
	assert_false(tu_exists(e.pdir, "00000000000000000006.log"));
	assert_int_equal(sl_plog_seg_swap(log, 0, 2), -EINVAL); /* would take the active one */
	verify_all(&e, log, 9);
	assert_int_equal(sl_plog_close(log), 0);
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(log->nsegs, 2);
	verify_all(&e, log, 9);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_recov_checkpoint_parse_rejects_malformed(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	int fd;
	char p[600];

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	cfg_small(&cfg, false);
	log = open_at(&e, e.root, &cfg);
	assert_int_equal(sl_plog_ckpt_write(log, "x-ckpt", 1234, false), 0);
	assert_int_equal(sl_plog_ckpt_read(log, "x-ckpt"), 1234);
	snprintf(p, sizeof(p), "%s/x-ckpt", e.pdir);
	fd = open(p, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "0\n1\nt 0 12x\n", 12), 12);
	close(fd);
	assert_int_equal(sl_plog_ckpt_read(log, "x-ckpt"), -1);
	fd = open(p, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "0\n1\nu 0 12\n", 11), 11);
	close(fd);
	assert_int_equal(sl_plog_ckpt_read(log, "x-ckpt"), -1);
	assert_int_equal(sl_plog_ckpt_read(log, "absent"), -1);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_recov_crash_image_keeps_every_completed_append),
	        cmocka_unit_test(test_recov_torn_tail_truncated_to_last_whole_batch),
	        cmocka_unit_test(test_recov_garbage_tail_truncated),
	        cmocka_unit_test(test_recov_corrupt_batch_truncates_from_it),
	        cmocka_unit_test(test_recov_zero_padding_in_middle_segment_is_not_damage),
	        cmocka_unit_test(
	                test_recov_junk_after_complete_middle_segment_keeps_later_segments),
	        cmocka_unit_test(test_recov_damage_in_middle_segment_drops_later_segments),
	        cmocka_unit_test(test_recov_recovery_point_skips_sealed_segments),
	        cmocka_unit_test(test_recov_missing_index_rebuilt_identical),
	        cmocka_unit_test(test_recov_damaged_index_rebuilt_identical),
	        cmocka_unit_test(test_recov_interrupted_swap_completed),
	        cmocka_unit_test(test_recov_seg_swap_replaces_segments_live),
	        cmocka_unit_test(test_recov_checkpoint_parse_rejects_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
