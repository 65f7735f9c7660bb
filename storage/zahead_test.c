// SPDX-License-Identifier: Apache-2.0
/*
 * zahead_test.c: unit tests of zero-ahead (zahead.c) on O_DIRECT segments (ext4 under
 * /var/tmp): the margin is kept, zero writes stop at segment.bytes, never cover data (a
 * data write that reaches a zero write in flight waits for it), and a crash that leaves a
 * zero tail recovers to the last batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/plog_testutil.h"

#define LOG0 "00000000000000000000.log"

static uint8_t bufs[32][40000];
static size_t lens[32];

static void
make_batches(int n, int nrec, size_t vlen)
{
	for (int i = 0; i < n; i++)
		lens[i] = tu_batch(bufs[i], sizeof(bufs[i]), nrec, 1000 + i * 10, (uint32_t)i, vlen);
}

static void
zopts(struct sl_store_opts *o, size_t ahead, size_t step)
{
	tu_opts(o);
	o->zero_ahead_bytes = ahead;
	o->zero_step_bytes = step;
}

static struct sl_plog *
open_log(struct tu_env *e, const struct sl_plog_cfg *cfg)
{
	struct sl_plog *log = NULL;

	assert_int_equal(sl_plog_open(&log, e->st, e->root, "t", 0, cfg), 0);
	return log;
}

static void
append_one(struct tu_env *e, struct sl_plog *log, int i)
{
	static struct tu_app app;
	int done = 0;

	assert_int_equal(tu_append(log, &app, &done, bufs[i], lens[i]), 0);
	assert_int_equal(tu_wait(e, &done, 1), 0);
	assert_int_equal(app.a.err, 0);
}

/* Drives the store until nothing is in flight, zero writes included (each completion may
 * start the next one at the following poll). */
static void
zdrain(struct tu_env *e)
{
	for (int i = 0; i < 10000; i++) {
		tu_drain(e);
		sl_store_poll(e->st, e->now);
		if (!sl_store_busy(e->st))
			return;
	}
	fail_msg("store still busy");
}

/* Scans the segment file as recovery would: n batches, then only zeros up to the file end. */
static void
assert_file_batches_then_zeros(const char *dir, const char *name, int n, uint64_t data_size,
                               int64_t min_file_size)
{
	char p[600];
	struct sl_scan sc;
	int64_t fsz = tu_file_size(dir, name);
	int fd;

	assert_true(fsz >= min_file_size);
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(sl_seg_scan(fd, false, 0, (uint64_t)fsz, 0, 0, NULL, 4096, &sc), 0);
	close(fd);
	assert_int_equal(sc.nbatches, n);
	assert_int_equal(sc.valid_size, data_size);
	assert_true(sc.tail_zero);
}

static void
keeps_margin(bool durable)
{
	const size_t ahead = 1u << 20, step = 256u << 10;
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t size = 0;

	zopts(&o, ahead, step);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(20, 4, 2000);
	sl_plog_cfg_default(&cfg);
	cfg.durable = durable;
	log = open_log(&e, &cfg);
	assert_true(log->active->direct);
	for (int i = 0; i < 20; i++) {
		append_one(&e, log, i);
		zdrain(&e); /* the zero writes too: they count as in flight */
		size += lens[i];
		assert_int_equal(log->active->size, size);
		assert_true(log->active->zero_end >= SL_ALIGN_UP(size, (uint64_t)SL_BLK) + ahead);
		assert_true(log->active->zero_end <= SL_ALIGN_UP(size, (uint64_t)SL_BLK) + ahead + step);
	}
	assert_true(sl_store_stats(e.st)->zero_writes >= ahead / step);
	assert_int_equal(sl_store_stats(e.st)->zero_bytes % SL_BLK, 0);
	/* Data intact (no zero write covered it), zeros after it. */
	assert_file_batches_then_zeros(e.pdir, LOG0, 20, size,
	                               (int64_t)(SL_ALIGN_UP(size, (uint64_t)SL_BLK) + ahead));
	assert_int_equal(sl_plog_close(log), 0);
	/* A clean close trims the zero tail. */
	assert_int_equal(tu_file_size(e.pdir, LOG0), (int64_t)size);
	tu_env_fini(&e);
}

static void
test_zahead_nondurable_keeps_margin_and_data(void **state)
{
	(void)state;
	keeps_margin(false);
}

static void
test_zahead_durable_keeps_margin_and_data(void **state)
{
	(void)state;
	keeps_margin(true);
}

static void
test_zahead_disabled_writes_no_zeros(void **state)
{
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t size = 0;

	(void)state;
	zopts(&o, 0, 0);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(4, 4, 2000);
	sl_plog_cfg_default(&cfg);
	log = open_log(&e, &cfg);
	for (int i = 0; i < 4; i++) {
		append_one(&e, log, i);
		size += lens[i];
	}
	zdrain(&e);
	assert_int_equal(sl_store_stats(e.st)->zero_writes, 0);
	assert_int_equal(tu_file_size(e.pdir, LOG0), (int64_t)SL_ALIGN_UP(size, (uint64_t)SL_BLK));
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/* Zero writes stop at segment.bytes, in the active segment and in rolled ones. */
static void
test_zahead_never_writes_beyond_segment_bytes(void **state)
{
	const uint64_t seg_bytes = 150000; /* not a block multiple */
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	char name[48];

	(void)state;
	zopts(&o, 1u << 20, 16u << 10);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(12, 4, 8000); /* ~32 KiB each: 4 per segment */
	sl_plog_cfg_default(&cfg);
	cfg.segment_bytes = seg_bytes;
	log = open_log(&e, &cfg);
	for (int i = 0; i < 12; i++) {
		append_one(&e, log, i);
		zdrain(&e);
		for (unsigned k = 0; k < log->nsegs; k++) {
			struct sl_seg *s = log->segs[k];

			sl_seg_name(name, sizeof(name), s->base_offset, ".log");
			assert_true(tu_file_size(e.pdir, name) <= (int64_t)seg_bytes);
			assert_true(s->zero_end <= seg_bytes);
		}
	}
	assert_true(log->nsegs >= 3);
	/* The active segment was zeroed right up to the cap. */
	assert_int_equal(log->active->zero_end, SL_ALIGN_DOWN(seg_bytes, (uint64_t)SL_BLK));
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/*
 * A data write that reaches the blocks of a zero write in flight waits for it: issued only
 * after the zero write completed, so the zeros can never land over the data.
 */
static void
test_zahead_data_write_waits_for_zero_write_of_its_blocks(void **state)
{
	static struct tu_app a0, a1;
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t writes, zlo, zhi;
	int done = 0;

	(void)state;
	zopts(&o, 1u << 20, 16u << 10);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(2, 4, 8000); /* ~32 KiB: the second reaches into the zero write */
	sl_plog_cfg_default(&cfg);
	cfg.preallocate_bytes = 0; /* the first op is then a zero write, not the fallocate */
	log = open_log(&e, &cfg);
	zdrain(&e);

	assert_int_equal(tu_append(log, &a0, &done, bufs[0], lens[0]), 0);
	sl_store_poll(e.st, e.now); /* data write of batch 0, then the first zero write */
	assert_int_equal(log->io_pending, 1);
	assert_true(log->zero_hi != 0);
	zlo = log->zero_lo;
	zhi = log->zero_hi;
	/* Not ahead of the data yet: one step (16 KiB) beyond the appended end. */
	assert_int_equal(log->active->wr_hi, SL_ALIGN_UP(lens[0], (uint64_t)SL_BLK));
	assert_int_equal(zlo, log->active->wr_hi + (16u << 10));
	assert_int_equal(zhi, zlo + (16u << 10));

	/* Batch 1 overlaps [zlo, zhi): its write must wait although a group slot is free. */
	log->wg_max_direct = 2;
	writes = sl_store_stats(e.st)->writes;
	assert_int_equal(tu_append(log, &a1, &done, bufs[1], lens[1]), 0);
	sl_store_poll(e.st, e.now);
	/* Nothing was reaped yet (no ring run): the zero write is still in flight. */
	assert_true(log->zero_hi != 0);
	assert_int_equal(sl_store_stats(e.st)->writes, writes);
	assert_int_equal(sl_store_stats(e.st)->zero_waits, 1);
	assert_int_equal(tu_wait(&e, &done, 2), 0);
	zdrain(&e);
	assert_int_equal(a0.a.err, 0);
	assert_int_equal(a1.a.err, 0);
	assert_true(log->active->wr_hi >= zhi);
	assert_true(log->active->zero_end >= SL_ALIGN_UP(lens[0] + lens[1], (uint64_t)SL_BLK));
	assert_file_batches_then_zeros(e.pdir, LOG0, 2, lens[0] + lens[1], (int64_t)zhi);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/*
 * A crash with the zero tail in place (files copied before any close): recovery reads the
 * zeros as the end of the log, keeps every batch and trims the file to them.
 */
static void
test_zahead_crash_with_zero_tail_recovers_every_batch(void **state)
{
	static const char *names[] = {LOG0, "00000000000000000000.index",
	                              "00000000000000000000.timeindex"};
	static uint8_t cbuf[1 << 16];
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log, *l2;
	char root2[300], pdir2[400];
	struct tu_rd rd;
	uint64_t size = 0;
	int64_t off;

	(void)state;
	zopts(&o, 1u << 20, 256u << 10);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(6, 4, 2000);
	sl_plog_cfg_default(&cfg);
	log = open_log(&e, &cfg);
	for (int i = 0; i < 6; i++) {
		append_one(&e, log, i);
		size += lens[i];
	}
	zdrain(&e);
	assert_true(tu_file_size(e.pdir, LOG0) >= (int64_t)(size + (1u << 20)));

	snprintf(root2, sizeof(root2), "%s.crash", e.root);
	assert_int_equal(mkdir(root2, 0755), 0);
	snprintf(pdir2, sizeof(pdir2), "%s/t-0", root2);
	assert_int_equal(mkdir(pdir2, 0755), 0);
	for (unsigned i = 0; i < 3; i++) {
		char sp[600], dp[600];
		ssize_t n;
		int in, out;

		snprintf(sp, sizeof(sp), "%s/%s", e.pdir, names[i]);
		snprintf(dp, sizeof(dp), "%s/%s", pdir2, names[i]);
		in = open(sp, O_RDONLY);
		assert_true(in >= 0);
		out = open(dp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(out >= 0);
		while ((n = read(in, cbuf, sizeof(cbuf))) > 0)
			assert_int_equal(write(out, cbuf, (size_t)n), n);
		assert_int_equal(n, 0);
		close(in);
		close(out);
	}
	assert_int_equal(sl_plog_open(&l2, e.st, root2, "t", 0, &cfg), 0);
	assert_int_equal(sl_plog_end_offset(l2), 24);
	assert_int_equal(sl_plog_high_watermark(l2), 24);
	assert_int_equal(tu_file_size(pdir2, LOG0), (int64_t)size);
	off = 0;
	for (int i = 0; i < 6; i++) {
		assert_true(tu_read(&e, l2, &rd, off, 1) >= 0);
		assert_int_equal(rd.r.err, 0);
		assert_int_equal(rd.r.len, lens[i]);
		assert_int_equal((int64_t)sl_be64(rd.r.data), off);
		assert_memory_equal(rd.r.data + 8, bufs[i] + 8, lens[i] - 8);
		tu_read_release(&rd);
		off += 4;
	}
	/* Appends continue after the recovered end, zero-ahead starting over. */
	append_one(&e, l2, 0);
	assert_int_equal(sl_plog_end_offset(l2), 28);
	zdrain(&e);
	assert_true(l2->active->zero_end >=
	            SL_ALIGN_UP(l2->active->size, (uint64_t)SL_BLK) + (1u << 20));
	assert_int_equal(sl_plog_close(l2), 0);
	tu_rm_rf(root2);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zahead_nondurable_keeps_margin_and_data),
		cmocka_unit_test(test_zahead_durable_keeps_margin_and_data),
		cmocka_unit_test(test_zahead_disabled_writes_no_zeros),
		cmocka_unit_test(test_zahead_never_writes_beyond_segment_bytes),
		cmocka_unit_test(test_zahead_data_write_waits_for_zero_write_of_its_blocks),
		cmocka_unit_test(test_zahead_crash_with_zero_tail_recovers_every_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
