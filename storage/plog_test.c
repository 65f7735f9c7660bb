// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the partition log: append and read (tail cache and disk), max_bytes and
 * the at-least-one-batch rule, the high watermark, rolls by size and time, durable and
 * non-durable completion, group commit (counted syncs), flush.messages, O_DIRECT on ext4 and
 * buffered on tmpfs, pool limits, eviction, refs dropped from another thread, and pipelined
 * write groups (several in flight, completions held back and released out of order by the
 * test hook, O_DIRECT partial blocks, a crash with a later group landed before an earlier).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/plog_testutil.h"

static uint8_t bufs[64][8192];
static size_t lens[64];

static void
make_batches(int n, int nrec, size_t vlen)
{
	for (int i = 0; i < n; i++)
		lens[i] =
		        tu_batch(bufs[i], sizeof(bufs[i]), nrec, 1000 + i * 10, (uint32_t)i, vlen);
}

/* The batch i as stored: its baseOffset rewritten to base. */
static void
assert_batch_at(const uint8_t *p, int i, int64_t base)
{
	assert_int_equal((int64_t)sl_be64(p), base);
	assert_memory_equal(p + 8, bufs[i] + 8, lens[i] - 8);
}

static struct sl_plog *
open_log(struct tu_env *e, const struct sl_plog_cfg *cfg)
{
	struct sl_plog *log = NULL;
	struct sl_plog_cfg def;

	if (!cfg) {
		sl_plog_cfg_default(&def);
		cfg = &def;
	}
	assert_int_equal(sl_plog_open(&log, e->st, e->root, "t", 0, cfg), 0);
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

static void
append_all(struct tu_env *e, struct sl_plog *log, int n)
{
	append_range(e, log, 0, n);
}

static void
roundtrip(const char *root, bool force_buffered, bool expect_direct)
{
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;
	int rc;

	tu_opts(&o);
	o.force_buffered = force_buffered;
	assert_int_equal(tu_env_init(&e, root, &o), 0);
	make_batches(5, 3, 100);
	log = open_log(&e, NULL);
	assert_int_equal(log->direct, expect_direct);
	append_all(&e, log, 5);
	assert_int_equal(sl_plog_end_offset(log), 15);
	assert_int_equal(sl_plog_high_watermark(log), 15);

	/* Tail cache: completes at once. */
	rc = tu_read(&e, log, &rd, 0, 1 << 20);
	assert_int_equal(rc, 1);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal(rd.r.len, lens[0] + lens[1] + lens[2] + lens[3] + lens[4]);
	assert_batch_at(rd.r.data, 0, 0);
	assert_batch_at(rd.r.data + lens[0], 1, 3);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);

	/* After reopening: from disk, with io_uring. */
	log = open_log(&e, NULL);
	assert_int_equal(sl_plog_end_offset(log), 15);
	rc = tu_read(&e, log, &rd, 7, 1 << 20);
	assert_int_equal(rc, 0);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal(rd.r.len, lens[2] + lens[3] + lens[4]);
	assert_batch_at(rd.r.data, 2, 6);
	assert_batch_at(rd.r.data + lens[2], 3, 9);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
	/* A clean close leaves the file at its true size (no padding, no preallocation). */
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000000.log"),
	                 (int64_t)(lens[0] + lens[1] + lens[2] + lens[3] + lens[4]));
	assert_true(tu_exists(e.pdir, SL_CLEAN_MARKER));
	tu_env_fini(&e);
}

static void
test_plog_roundtrip_ext4_uses_o_direct(void **state)
{
	(void)state;
	roundtrip(TU_DISK_ROOT, false, true);
}

static void
test_plog_roundtrip_tmpfs_buffered_works(void **state)
{
	(void)state;
	roundtrip(TU_SHM_ROOT, true, false);
}

static void
test_plog_roundtrip_ext4_buffered_works(void **state)
{
	(void)state;
	roundtrip(TU_DISK_ROOT, true, false);
}

static void
test_plog_read_max_bytes_returns_at_least_one_batch(void **state)
{
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(4, 2, 50);
	log = open_log(&e, NULL);
	append_all(&e, log, 4);
	/* max_bytes smaller than one batch: still the whole batch containing the offset. */
	assert_int_equal(tu_read(&e, log, &rd, 3, 1), 1);
	assert_int_equal(rd.r.len, lens[1]);
	assert_batch_at(rd.r.data, 1, 2);
	tu_read_release(&rd);
	/* max_bytes of two and a half batches: two whole batches. */
	assert_int_equal(tu_read(&e, log, &rd, 0, (uint32_t)(lens[0] + lens[1] + lens[2] / 2)), 1);
	assert_int_equal(rd.r.len, lens[0] + lens[1]);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);

	/* The same rules on the disk path. */
	log = open_log(&e, NULL);
	assert_int_equal(tu_read(&e, log, &rd, 3, 1), 0);
	assert_int_equal(rd.r.len, lens[1]);
	assert_batch_at(rd.r.data, 1, 2);
	tu_read_release(&rd);
	assert_int_equal(tu_read(&e, log, &rd, 0, (uint32_t)(lens[0] + lens[1] + lens[2] / 2)), 0);
	assert_int_equal(rd.r.len, lens[0] + lens[1]);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_read_out_of_range_and_at_end(void **state)
{
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(2, 2, 10);
	log = open_log(&e, NULL);
	append_all(&e, log, 2);
	assert_int_equal(tu_read(&e, log, &rd, 5, 100), 1);
	assert_int_equal(rd.r.err, -ERANGE);
	assert_int_equal(tu_read(&e, log, &rd, -1, 100), 1);
	assert_int_equal(rd.r.err, -ERANGE);
	assert_int_equal(tu_read(&e, log, &rd, 4, 100), 1);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal(rd.r.len, 0);
	assert_null(rd.r.buf);
	assert_int_equal(rd.r.high_watermark, 4);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_read_stops_at_high_watermark(void **state)
{
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app app;
	struct tu_rd rd;
	int done = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(2, 2, 10);
	log = open_log(&e, NULL);
	append_all(&e, log, 1);
	/* Appended but not written yet: invisible. */
	assert_int_equal(tu_append(log, &app, &done, bufs[1], lens[1]), 0);
	assert_int_equal(sl_plog_end_offset(log), 4);
	assert_int_equal(sl_plog_high_watermark(log), 2);
	assert_int_equal(tu_read(&e, log, &rd, 2, 1000), 1);
	assert_int_equal(rd.r.len, 0);
	assert_int_equal(tu_read(&e, log, &rd, 0, 100000), 1);
	assert_int_equal(rd.r.len, lens[0]);
	tu_read_release(&rd);
	assert_int_equal(tu_wait(&e, &done, 1), 0);
	assert_int_equal(app.a.base_offset, 2);
	assert_int_equal(app.a.last_offset, 3);
	assert_int_equal(sl_plog_high_watermark(log), 4);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_bad_batch_rejected_nothing_appended(void **state)
{
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app app;
	uint8_t bad[8192];
	struct iovec iov[2];
	int done = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(2, 2, 10);
	log = open_log(&e, NULL);
	memcpy(bad, bufs[0], lens[0]);
	bad[lens[0] - 1] ^= 0xff; /* breaks the CRC */
	assert_int_equal(tu_append(log, &app, &done, bad, lens[0]), SL_RB_ECRC);
	/* A good batch followed by a bad one: the whole set is refused. */
	iov[0] = (struct iovec){bufs[1], lens[1]};
	iov[1] = (struct iovec){bad, lens[0]};
	memset(&app, 0, sizeof(app));
	app.counter = &done;
	app.a.done = tu_app_done;
	assert_int_equal(sl_plog_append(log, iov, 2, &app.a), SL_RB_ECRC);
	assert_int_equal(tu_append(log, &app, &done, bufs[0], 30), SL_RB_ETRUNC);
	assert_int_equal(sl_plog_end_offset(log), 0);
	/* Then a good one lands at offset 0. */
	append_all(&e, log, 1);
	assert_int_equal(sl_plog_end_offset(log), 2);
	assert_int_equal(done, 0);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_append_split_iovecs_copied_once(void **state)
{
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app app;
	struct tu_rd rd;
	struct iovec iov[3];
	int done = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(2, 3, 40);
	log = open_log(&e, NULL);
	iov[0] = (struct iovec){bufs[0], 7};
	iov[1] = (struct iovec){bufs[0] + 7, lens[0] - 7};
	iov[2] = (struct iovec){bufs[1], lens[1]};
	memset(&app, 0, sizeof(app));
	app.counter = &done;
	app.a.done = tu_app_done;
	assert_int_equal(sl_plog_append(log, iov, 3, &app.a), 0);
	assert_int_equal(tu_wait(&e, &done, 1), 0);
	assert_int_equal(app.a.base_offset, 0);
	assert_int_equal(app.a.last_offset, 5);
	assert_int_equal(tu_read(&e, log, &rd, 4, 1 << 20), 1);
	assert_batch_at(rd.r.data, 1, 3);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_roll_on_segment_bytes_reads_across_segments(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;
	int64_t off;
	int i;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(40, 2, 300);
	sl_plog_cfg_default(&cfg);
	cfg.segment_bytes = 3 * lens[0] + 10; /* three batches per segment */
	cfg.index_interval_bytes = 100;
	log = open_log(&e, &cfg);
	/* A roll starts a new chunk: append in steps so that written chunks can be reused. */
	for (i = 0; i < 40; i += 5)
		append_range(&e, log, i, 5);
	tu_drain(&e);
	assert_true(log->nsegs >= 13);
	assert_true(tu_exists(e.pdir, "00000000000000000006.log"));
	assert_true(tu_exists(e.pdir, "00000000000000000012.index"));
	/* Sealed segments are trimmed to their data by the next retain (or close). */
	cfg.retention_ms = -1;
	sl_plog_set_cfg(log, &cfg);
	assert_int_equal(sl_plog_retain(log, e.now), 0);
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000006.log"), (int64_t)(3 * lens[0]));
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000006.index") % SL_OIDX_ENTRY, 0);
	assert_true(tu_file_size(e.pdir, "00000000000000000006.index") < 4096);
	assert_int_equal(sl_plog_close(log), 0);

	log = open_log(&e, &cfg);
	assert_int_equal(sl_plog_end_offset(log), 80);
	for (off = 0, i = 0; off < 80; off += 2, i++) {
		assert_int_equal(tu_read(&e, log, &rd, off + 1, 1), 0);
		assert_int_equal(rd.r.err, 0);
		assert_int_equal(rd.r.len, lens[i]);
		assert_batch_at(rd.r.data, i, off);
		tu_read_release(&rd);
	}
	/* A big read stops at the segment's end but returns whole batches. */
	assert_int_equal(tu_read(&e, log, &rd, 0, 1 << 20), 0);
	assert_int_equal(rd.r.len, 3 * lens[0]);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/* A non-durable log seals a rolled segment with an fdatasync beside the write groups:
 * appends to the new segment are acknowledged while that sync is still out. */
static void
test_plog_nondurable_roll_acks_new_segment_while_seal_sync_runs(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app ta[4];
	int acked = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(4, 2, 300);
	sl_plog_cfg_default(&cfg);
	cfg.durable = false;
	cfg.segment_bytes = lens[0] + 10; /* one batch per segment */
	log = open_log(&e, &cfg);
	log->test_hold_seal = true;
	assert_int_equal(tu_append(log, &ta[0], &acked, bufs[0], lens[0]), 0);
	assert_int_equal(tu_wait(&e, &acked, 1), 0);
	/* Rolls: segment 0 is sealed by a detached sync, held here. */
	assert_int_equal(tu_append(log, &ta[1], &acked, bufs[1], lens[1]), 0);
	assert_int_equal(tu_wait(&e, &acked, 2), 0);
	for (int i = 0; i < 50 && !log->seal_held; i++)
		tu_step(&e);
	assert_true(log->seal_held);
	assert_false(log->segs[0]->sealed);
	assert_int_equal(sl_plog_high_watermark(log), 4);
	/* A second roll waits for the first seal: its batch is written but not acknowledged
	 * out of order; all of it lands once the seal is released. */
	assert_int_equal(tu_append(log, &ta[2], &acked, bufs[2], lens[2]), 0);
	for (int i = 0; i < 20; i++)
		tu_step(&e);
	sl_plog_test_release_seal(log);
	assert_int_equal(tu_wait(&e, &acked, 3), 0);
	tu_drain(&e);
	assert_true(log->segs[0]->sealed);
	assert_true(log->segs[1]->sealed);
	assert_null(log->seal_seg);
	assert_int_equal(sl_plog_close(log), 0);

	log = open_log(&e, &cfg);
	assert_int_equal(sl_plog_end_offset(log), 6);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/* A sealed segment's indexes are synced through the ring by retain, never on the caller's
 * thread: the recovery point passes the segment only after that completed. */
static void
test_plog_retain_syncs_sealed_indexes_through_the_ring(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(6, 2, 300);
	sl_plog_cfg_default(&cfg);
	cfg.segment_bytes = 2 * lens[0] + 10; /* two batches per segment */
	cfg.index_interval_bytes = 100;
	cfg.retention_ms = -1;
	log = open_log(&e, &cfg);
	append_range(&e, log, 0, 6);
	tu_drain(&e);
	assert_true(log->nsegs >= 3);
	assert_true(log->segs[0]->sealed);
	assert_false(log->segs[0]->idx_synced);
	assert_int_equal(sl_plog_retain(log, e.now), 0);
	/* Started, not waited for: the recovery point stays at segment 0. */
	assert_ptr_equal(log->idx_seg, log->segs[0]);
	assert_false(log->segs[0]->idx_synced);
	assert_int_equal(sl_plog_ckpt_read(log, SL_RP_CKPT), 0);
	tu_drain(&e);
	assert_null(log->idx_seg);
	assert_true(log->segs[0]->idx_synced);
	assert_true(log->rp_dirty);
	/* The next retains move it on, one segment's sync at a time. */
	for (int i = 0; i < 8 && sl_plog_ckpt_read(log, SL_RP_CKPT) < log->active->base_offset;
	     i++) {
		assert_int_equal(sl_plog_retain(log, e.now), 0);
		tu_drain(&e);
	}
	assert_int_equal(sl_plog_retain(log, e.now), 0);
	assert_int_equal(sl_plog_ckpt_read(log, SL_RP_CKPT), log->active->base_offset);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_roll_on_segment_ms(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(3, 1, 10);
	sl_plog_cfg_default(&cfg);
	cfg.segment_ms = 60000;
	log = open_log(&e, &cfg);
	sl_store_poll(e.st, e.now);
	append_all(&e, log, 1);
	e.now += 30000;
	tu_step(&e);
	assert_int_equal(log->nsegs, 1);
	e.now += 30001;
	tu_step(&e);
	tu_drain(&e);
	/* The poll rolled the idle segment; the next append lands in the new one. */
	assert_int_equal(log->nsegs, 2);
	assert_true(log->segs[0]->sealed);
	append_range(&e, log, 1, 1);
	assert_int_equal(log->active->base_offset, 1);
	/* An append after segment.ms rolls too. */
	e.now += 60001;
	sl_store_poll(e.st, e.now - 60001); /* no timer scan: roll happens at append */
	e.st->now_ms = e.now;
	append_range(&e, log, 2, 1);
	assert_int_equal(log->nsegs, 3);
	assert_int_equal(log->active->base_offset, 2);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_group_commit_many_appends_one_sync(void **state)
{
	static struct tu_app apps[64];
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t w0, s0;
	int done = 0, i;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(50, 2, 100);
	sl_plog_cfg_default(&cfg);
	cfg.durable = true;
	log = open_log(&e, &cfg);
	tu_drain(&e);
	w0 = sl_store_stats(e.st)->writes;
	s0 = sl_store_stats(e.st)->syncs;
	for (i = 0; i < 50; i++)
		assert_int_equal(tu_append(log, &apps[i], &done, bufs[i], lens[i]), 0);
	sl_store_poll(e.st, e.now);
	/* One write and one fdatasync for all fifty. */
	assert_int_equal(sl_store_stats(e.st)->writes - w0, 1);
	assert_int_equal(sl_store_stats(e.st)->syncs - s0, 1);
	assert_int_equal(done, 0);
	while (done < 50)
		(void)sl_uring_run(&e.ring, 1, -1);
	assert_int_equal(sl_store_stats(e.st)->syncs - s0, 1);
	assert_true(log->synced_lpos >= apps[49].a.wait_pos);
	for (i = 0; i < 50; i++) {
		assert_int_equal(apps[i].a.err, 0);
		assert_int_equal(apps[i].a.base_offset, 2 * i);
	}
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_durable_waits_for_sync_nondurable_does_not(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t s0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(8, 2, 100);
	sl_plog_cfg_default(&cfg);
	log = open_log(&e, &cfg);
	tu_drain(&e);
	s0 = sl_store_stats(e.st)->syncs;
	append_all(&e, log, 4);
	/* Non-durable with flush.* at their defaults: completes on the write, no sync. */
	assert_int_equal(sl_store_stats(e.st)->syncs, s0);
	assert_true(log->synced_lpos < log->written_lpos);
	cfg.durable = true;
	sl_plog_set_cfg(log, &cfg);
	append_range(&e, log, 4, 4);
	assert_true(sl_store_stats(e.st)->syncs > s0);
	assert_int_equal(log->synced_lpos, log->end_lpos);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_flush_messages_syncs_in_nondurable_mode(void **state)
{
	static struct tu_app apps[16];
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t s0;
	int done = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	make_batches(8, 2, 100);
	sl_plog_cfg_default(&cfg);
	cfg.flush_messages = 4; /* every two batches */
	log = open_log(&e, &cfg);
	tu_drain(&e);
	s0 = sl_store_stats(e.st)->syncs;
	assert_int_equal(tu_append(log, &apps[0], &done, bufs[0], lens[0]), 0);
	assert_int_equal(tu_wait(&e, &done, 1), 0);
	tu_drain(&e);
	assert_int_equal(sl_store_stats(e.st)->syncs, s0);
	assert_int_equal(tu_append(log, &apps[1], &done, bufs[1], lens[1]), 0);
	assert_int_equal(tu_wait(&e, &done, 2), 0);
	tu_drain(&e);
	assert_int_equal(sl_store_stats(e.st)->syncs, s0 + 1);
	assert_int_equal(log->synced_lpos, log->end_lpos);
	/* flush.ms: a sync once the interval passed, without new appends. */
	cfg.flush_messages = INT64_MAX;
	cfg.flush_ms = 1000;
	sl_plog_set_cfg(log, &cfg);
	assert_int_equal(tu_append(log, &apps[2], &done, bufs[2], lens[2]), 0);
	assert_int_equal(tu_wait(&e, &done, 3), 0);
	tu_drain(&e);
	assert_true(log->synced_lpos < log->end_lpos);
	e.now += 1001;
	tu_step(&e);
	tu_drain(&e);
	assert_int_equal(log->synced_lpos, log->end_lpos);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static int hw_calls;

static void
hw_hook(struct sl_plog *log, void *arg)
{
	(void)log;
	assert_ptr_equal(arg, &hw_calls);
	hw_calls++;
}

static void
test_plog_hw_hook_called_when_hw_advances(void **state)
{
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(3, 1, 10);
	log = open_log(&e, NULL);
	hw_calls = 0;
	sl_plog_set_hw_hook(log, hw_hook, &hw_calls);
	append_all(&e, log, 3);
	assert_true(hw_calls >= 1);
	assert_int_equal(sl_plog_high_watermark(log), 3);
	sl_plog_set_hw_hook(log, NULL, NULL);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_tail_cache_eviction_falls_back_to_disk(void **state)
{
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;
	int i;

	(void)state;
	tu_opts(&o);
	o.chunk_bytes = 16 * 1024;
	o.nr_chunks = 3;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(64, 4, 1000); /* ~4 KiB each: four per chunk */
	log = open_log(&e, NULL);
	for (i = 0; i < 64; i += 4)
		append_range(&e, log, i, 4);
	assert_true(sl_store_stats(e.st)->evictions > 0);
	/* Old offsets come from disk, recent ones from memory. */
	assert_int_equal(tu_read(&e, log, &rd, 0, 1), 0);
	assert_int_equal(rd.r.len, lens[0]);
	assert_batch_at(rd.r.data, 0, 0);
	tu_read_release(&rd);
	assert_int_equal(tu_read(&e, log, &rd, 63 * 4, 1), 1);
	assert_batch_at(rd.r.data, 63, 63 * 4);
	tu_read_release(&rd);
	for (i = 0; i < 64; i++) {
		assert_true(tu_read(&e, log, &rd, i * 4 + 2, 1) >= 0);
		assert_int_equal(rd.r.err, 0);
		assert_batch_at(rd.r.data, i, i * 4);
		tu_read_release(&rd);
	}
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_append_enospc_when_no_chunk(void **state)
{
	static struct tu_app apps[16];
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	int done = 0, i, rc = 0;

	(void)state;
	tu_opts(&o);
	o.chunk_bytes = 16 * 1024;
	o.nr_chunks = 2;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, &o), 0);
	make_batches(16, 4, 1000);
	log = open_log(&e, NULL);
	/* Nothing is written until a poll: the pool runs dry. */
	for (i = 0; i < 16; i++) {
		rc = tu_append(log, &apps[i], &done, bufs[i], lens[i]);
		if (rc)
			break;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(i >= 3 && i < 16);
	assert_int_equal(tu_wait(&e, &done, i), 0);
	/* After the writes complete the chunks can be reused. */
	assert_int_equal(tu_append(log, &apps[i], &done, bufs[i], lens[i]), 0);
	assert_int_equal(tu_wait(&e, &done, i + 1), 0);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_append_larger_than_chunk_is_emsgsize(void **state)
{
	static uint8_t big[40000];
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app app;
	int done = 0;
	size_t n;

	(void)state;
	tu_opts(&o);
	o.chunk_bytes = 16 * 1024;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, &o), 0);
	n = tu_batch(big, sizeof(big), 30, 1, 1, 1000);
	log = open_log(&e, NULL);
	assert_int_equal(tu_append(log, &app, &done, big, n), -EMSGSIZE);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_batch_larger_than_read_buffer_is_read_whole(void **state)
{
	static uint8_t big[600000];
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app app;
	struct tu_rd rd;
	int done = 0;
	size_t n;

	(void)state;
	tu_opts(&o);
	o.chunk_bytes = 1 << 20;
	o.read_buf_bytes = 64 * 1024;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	n = tu_batch(big, sizeof(big), 500, 1, 7, 1000);
	log = open_log(&e, NULL);
	assert_int_equal(tu_append(log, &app, &done, big, n), 0);
	assert_int_equal(tu_wait(&e, &done, 1), 0);
	assert_int_equal(sl_plog_close(log), 0);
	log = open_log(&e, NULL);
	assert_int_equal(tu_read(&e, log, &rd, 250, 1), 0);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal(rd.r.len, n);
	assert_memory_equal(rd.r.data + 8, big + 8, n - 8);
	assert_true(sl_store_stats(e.st)->heap_reads >= 1);
	tu_read_release(&rd);
	tu_step(&e); /* returns the heap buffer */
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void *
unref_thread(void *arg)
{
	sl_rbuf_unref(arg);
	return NULL;
}

static void
test_plog_rbuf_unref_from_other_thread_returns_to_pool(void **state)
{
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;
	pthread_t th;
	unsigned free_before = 0, free_after = 0;
	struct sl_rdbuf *b;

	(void)state;
	tu_opts(&o);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(4, 2, 100);
	log = open_log(&e, NULL);
	append_all(&e, log, 4);
	assert_int_equal(sl_plog_close(log), 0);
	log = open_log(&e, NULL);
	assert_int_equal(tu_read(&e, log, &rd, 0, 1), 0);
	assert_non_null(rd.r.buf);
	for (b = e.st->free_rdbufs; b; b = b->free_next)
		free_before++;
	assert_int_equal(pthread_create(&th, NULL, unref_thread, rd.r.buf), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	sl_store_poll(e.st, e.now);
	for (b = e.st->free_rdbufs; b; b = b->free_next)
		free_after++;
	assert_int_equal(free_after, free_before + 1);
	assert_int_equal(free_after, o.nr_read_bufs);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_reads_wait_for_a_free_buffer(void **state)
{
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd held, rd[3];
	int i;

	(void)state;
	tu_opts(&o);
	o.nr_read_bufs = 1;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(4, 2, 100);
	log = open_log(&e, NULL);
	append_all(&e, log, 4);
	assert_int_equal(sl_plog_close(log), 0);
	log = open_log(&e, NULL);
	assert_int_equal(tu_read(&e, log, &held, 0, 1), 0);
	for (i = 0; i < 3; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].r.done = tu_rd_done;
		rd[i].r.offset = 2 * i + 2;
		rd[i].r.max_bytes = 1;
		assert_int_equal(sl_plog_read(log, &rd[i].r), 0);
	}
	for (i = 0; i < 10; i++)
		tu_step(&e);
	assert_int_equal(rd[0].done, 0); /* the only buffer is still held */
	tu_read_release(&held);
	for (i = 0; i < 3; i++) {
		assert_int_equal(tu_wait(&e, &rd[i].done, 1), 0);
		assert_int_equal(rd[i].r.err, 0);
		assert_batch_at(rd[i].r.data, i + 1, 2 * i + 2);
		tu_read_release(&rd[i]);
	}
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_remove_deletes_directory(void **state)
{
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	make_batches(2, 2, 10);
	log = open_log(&e, NULL);
	append_all(&e, log, 2);
	assert_int_equal(sl_plog_remove(log), 0);
	assert_int_equal(access(e.pdir, F_OK), -1);
	tu_env_fini(&e);
}

static void
test_plog_open_rejects_bad_names(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log = NULL;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	sl_plog_cfg_default(&cfg);
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "a/b", 0, &cfg), -EINVAL);
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "..", 0, &cfg), -EINVAL);
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "", 0, &cfg), -EINVAL);
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", -1, &cfg), -EINVAL);
	tu_env_fini(&e);
}

/* ---- pipelined write groups ---- */

static int64_t pipe_order[64];
static int pipe_n;

static void
pipe_done(struct sl_append *a)
{
	assert_int_equal(a->err, 0);
	pipe_order[pipe_n++] = a->base_offset;
}

static void
pipe_append(struct sl_plog *log, struct sl_append *a, int i)
{
	struct iovec iov = {bufs[i], lens[i]};

	memset(a, 0, sizeof(*a));
	a->done = pipe_done;
	assert_int_equal(sl_plog_append(log, &iov, 1, a), 0);
}

/* Batches of exactly one block each, so O_DIRECT groups never share a block. */
static void
make_block_batches(int n)
{
	for (int i = 0; i < n; i++) {
		for (size_t vlen = 3900; vlen < SL_BLK; vlen++) {
			lens[i] = tu_batch(bufs[i], sizeof(bufs[i]), 1, 1000 + i, (uint32_t)i, vlen);
			if (lens[i] >= SL_BLK)
				break;
		}
		assert_int_equal(lens[i], SL_BLK);
	}
}

/* Runs the ring until no group in flight waits for a completion (held ones count as
 * completed). */
static void
run_groups(struct tu_env *e, struct sl_plog *log)
{
	for (int k = 0; k < 100000; k++) {
		unsigned busy = 0;

		for (unsigned i = 0; i < log->io_pending; i++) {
			const struct sl_wgroup *g = &log->wg[(log->wg_head + i) % SL_WG_MAX];

			busy += !g->held && !g->done;
		}
		if (!busy)
			return;
		(void)sl_uring_run(&e->ring, 1, 100 * 1000 * 1000LL);
	}
	fail_msg("groups did not complete");
}

/* Reopens the log and checks batches 0..n-1 are there, in order. */
static void
check_reopened(struct tu_env *e, const struct sl_plog_cfg *cfg, int n)
{
	struct sl_plog *log = open_log(e, cfg);
	struct tu_rd rd;
	size_t want = 0, at = 0;

	assert_int_equal(sl_plog_end_offset(log), n);
	for (int i = 0; i < n; i++)
		want += lens[i];
	assert_true(tu_read(e, log, &rd, 0, (uint32_t)want) >= 0);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal(rd.r.len, want);
	for (int i = 0; i < n; i++) {
		assert_batch_at(rd.r.data + at, i, i);
		at += lens[i];
	}
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
}

/*
 * Four groups in flight; the first one's completion is held back (test hook) while the
 * later ones complete: nothing is acknowledged and the high watermark stays until the first
 * is released, then all four complete in order. A fifth append waits for a free slot.
 */
static void
pipeline_out_of_order(const char *root, bool force_buffered, bool durable)
{
	static struct sl_append apps[8];
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t w0, s0, written0;
	int i;

	tu_opts(&o);
	o.force_buffered = force_buffered;
	o.write_groups = o.write_groups_direct = 4;
	assert_int_equal(tu_env_init(&e, root, &o), 0);
	make_block_batches(5);
	sl_plog_cfg_default(&cfg);
	cfg.durable = durable;
	log = open_log(&e, &cfg);
	tu_drain(&e);
	assert_int_equal(log->direct, !force_buffered);
	w0 = sl_store_stats(e.st)->writes;
	s0 = sl_store_stats(e.st)->syncs;
	written0 = log->written_lpos;
	pipe_n = 0;
	log->test_hold_lo = log->wg_seq;
	log->test_hold_hi = log->wg_seq + 1;
	for (i = 0; i < 5; i++) {
		pipe_append(log, &apps[i], i);
		sl_store_poll(e.st, e.now);
	}
	assert_int_equal(log->io_pending, 4);
	assert_int_equal(sl_store_stats(e.st)->writes - w0, 4);
	assert_int_equal(sl_store_stats(e.st)->syncs - s0, durable ? 4 : 0);
	run_groups(&e, log);
	assert_true(log->wg[log->wg_head].held);
	assert_int_equal(log->io_pending, 4);
	assert_int_equal(pipe_n, 0);
	assert_int_equal(sl_plog_high_watermark(log), 0);
	assert_int_equal(log->written_lpos, written0);
	sl_plog_test_release(log, UINT64_MAX);
	assert_int_equal(pipe_n, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(pipe_order[i], i);
	assert_int_equal(sl_plog_high_watermark(log), 4);
	if (durable)
		assert_int_equal(log->synced_lpos, written0 + 4 * SL_BLK);
	log->test_hold_lo = log->test_hold_hi = 0;
	tu_drain(&e);
	assert_int_equal(pipe_n, 5);
	assert_int_equal(pipe_order[4], 4);
	assert_int_equal(sl_plog_high_watermark(log), 5);
	assert_int_equal(log->written_lpos, log->end_lpos);
	if (durable)
		assert_int_equal(log->synced_lpos, log->end_lpos);
	assert_int_equal(sl_plog_close(log), 0);
	check_reopened(&e, &cfg, 5);
	tu_env_fini(&e);
}

static void
test_plog_pipeline_direct_out_of_order_acks_in_order(void **state)
{
	(void)state;
	pipeline_out_of_order(TU_DISK_ROOT, false, false);
}

static void
test_plog_pipeline_direct_durable_out_of_order_acks_in_order(void **state)
{
	(void)state;
	pipeline_out_of_order(TU_DISK_ROOT, false, true);
}

static void
test_plog_pipeline_buffered_out_of_order_acks_in_order(void **state)
{
	(void)state;
	pipeline_out_of_order(TU_DISK_ROOT, true, false);
}

static void
test_plog_pipeline_buffered_durable_out_of_order_acks_in_order(void **state)
{
	(void)state;
	pipeline_out_of_order(TU_SHM_ROOT, true, true);
}

/* O_DIRECT: a batch that lands in the block an earlier group is still writing waits for
 * that write; buffered, it goes at once. Both end with every batch on disk. */
static void
pipeline_partial_block(const char *root, bool force_buffered)
{
	static struct sl_append apps[4];
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	uint64_t w0;

	tu_opts(&o);
	o.force_buffered = force_buffered;
	o.write_groups = o.write_groups_direct = 4;
	assert_int_equal(tu_env_init(&e, root, &o), 0);
	make_batches(3, 2, 100);
	sl_plog_cfg_default(&cfg);
	log = open_log(&e, &cfg);
	tu_drain(&e);
	w0 = sl_store_stats(e.st)->writes;
	pipe_n = 0;
	pipe_append(log, &apps[0], 0);
	sl_store_poll(e.st, e.now);
	pipe_append(log, &apps[1], 1);
	sl_store_poll(e.st, e.now);
	if (force_buffered) {
		assert_int_equal(log->io_pending, 2);
		assert_int_equal(sl_store_stats(e.st)->writes - w0, 2);
	} else {
		assert_int_equal(log->io_pending, 1);
		assert_int_equal(sl_store_stats(e.st)->writes - w0, 1);
		run_groups(&e, log);
		/* The first batch is acknowledged alone; the second is written next. */
		assert_int_equal(pipe_n, 1);
		assert_int_equal(sl_plog_high_watermark(log), 2);
		sl_store_poll(e.st, e.now);
		assert_int_equal(log->io_pending, 1);
		assert_int_equal(sl_store_stats(e.st)->writes - w0, 2);
	}
	pipe_append(log, &apps[2], 2);
	tu_drain(&e);
	assert_int_equal(pipe_n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pipe_order[i], 2 * i);
	assert_int_equal(sl_plog_high_watermark(log), 6);
	assert_int_equal(sl_plog_close(log), 0);
	{
		struct sl_plog *l2 = open_log(&e, &cfg);
		struct tu_rd rd;

		assert_int_equal(sl_plog_end_offset(l2), 6);
		assert_true(tu_read(&e, l2, &rd, 0, 1 << 20) >= 0);
		assert_int_equal(rd.r.len, lens[0] + lens[1] + lens[2]);
		assert_batch_at(rd.r.data, 0, 0);
		assert_batch_at(rd.r.data + lens[0], 1, 2);
		assert_batch_at(rd.r.data + lens[0] + lens[1], 2, 4);
		tu_read_release(&rd);
		assert_int_equal(sl_plog_close(l2), 0);
	}
	tu_env_fini(&e);
}

static void
test_plog_pipeline_direct_partial_block_waits_for_earlier_write(void **state)
{
	(void)state;
	pipeline_partial_block(TU_DISK_ROOT, false);
}

static void
test_plog_pipeline_buffered_small_appends_overlap(void **state)
{
	(void)state;
	pipeline_partial_block(TU_DISK_ROOT, true);
}

/* Copies the regular files of src into dst (created), then spoils [off, off+len) of the
 * segment file: zeros (the write never reached the disk) or, torn, the second half of the
 * range replaced by garbage. */
static void
copy_crashed(const char *src, const char *dst, off_t off, size_t len, bool torn)
{
	static const char *names[] = {"00000000000000000000.log", "00000000000000000000.index",
	                              "00000000000000000000.timeindex"};
	static uint8_t buf[1 << 16];

	assert_int_equal(mkdir(dst, 0755), 0);
	for (unsigned i = 0; i < 3; i++) {
		char sp[600], dp[600];
		int in, out;
		ssize_t n;

		snprintf(sp, sizeof(sp), "%s/%s", src, names[i]);
		snprintf(dp, sizeof(dp), "%s/%s", dst, names[i]);
		in = open(sp, O_RDONLY);
		assert_true(in >= 0);
		out = open(dp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(out >= 0);
		while ((n = read(in, buf, sizeof(buf))) > 0)
			assert_int_equal(write(out, buf, (size_t)n), n);
		assert_int_equal(n, 0);
		if (i == 0) {
			memset(buf, torn ? 0xa5 : 0, len);
			if (torn)
				assert_int_equal(pwrite(out, buf, len / 2, off + (off_t)(len / 2)),
				                 (ssize_t)(len / 2));
			else
				assert_int_equal(pwrite(out, buf, len, off), (ssize_t)len);
		}
		close(in);
		close(out);
	}
}

/*
 * A crash while groups are in flight: the second group's write never landed (or landed
 * torn) while the third and fourth did. Recovery cuts the log at the hole: everything
 * acknowledged (the first group) survives, nothing after the hole is resurrected.
 */
static void
pipeline_crash(bool torn)
{
	static struct sl_append apps[8];
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log, *l2;
	char root2[300], pdir2[400];
	struct tu_rd rd;
	int64_t acked;

	tu_opts(&o);
	o.write_groups = o.write_groups_direct = 4;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_block_batches(4);
	sl_plog_cfg_default(&cfg);
	log = open_log(&e, &cfg);
	tu_drain(&e);
	assert_true(log->direct);
	pipe_n = 0;
	log->test_hold_lo = log->wg_seq + 1;
	log->test_hold_hi = log->wg_seq + 2;
	for (int i = 0; i < 4; i++) {
		pipe_append(log, &apps[i], i);
		sl_store_poll(e.st, e.now);
	}
	assert_int_equal(log->io_pending, 4);
	run_groups(&e, log);
	assert_int_equal(pipe_n, 1);
	acked = sl_plog_high_watermark(log);
	assert_int_equal(acked, 1);

	snprintf(root2, sizeof(root2), "%s.crash", e.root);
	assert_int_equal(mkdir(root2, 0755), 0);
	snprintf(pdir2, sizeof(pdir2), "%s/t-0", root2);
	copy_crashed(e.pdir, pdir2, (off_t)lens[0], lens[1], torn);
	assert_int_equal(sl_plog_open(&l2, e.st, root2, "t", 0, &cfg), 0);
	assert_int_equal(sl_plog_end_offset(l2), acked);
	assert_int_equal(sl_plog_high_watermark(l2), acked);
	assert_int_equal(tu_read(&e, l2, &rd, 0, 1 << 20), 0);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal(rd.r.len, lens[0]);
	assert_batch_at(rd.r.data, 0, 0);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(l2), 0);
	tu_rm_rf(root2);

	sl_plog_test_release(log, UINT64_MAX);
	log->test_hold_lo = log->test_hold_hi = 0;
	assert_int_equal(pipe_n, 4);
	assert_int_equal(sl_plog_close(log), 0);
	check_reopened(&e, &cfg, 4);
	tu_env_fini(&e);
}

static void
test_plog_pipeline_crash_lost_middle_group_cuts_at_hole(void **state)
{
	(void)state;
	pipeline_crash(false);
}

static void
test_plog_pipeline_crash_torn_middle_group_cuts_at_hole(void **state)
{
	(void)state;
	pipeline_crash(true);
}

/*
 * O_DIRECT, non-durable: a batch that fills the rest of a block still being written and goes
 * beyond it is written from the next block on at once; the rest of the busy block is written
 * by its own group once the earlier write completed. Until then nothing past the hole is
 * acknowledged, and the files as they are (a crash now) recover to the acknowledged prefix.
 */
static void
test_plog_pipeline_direct_skips_busy_block_and_writes_it_later(void **state)
{
	static struct sl_append apps[4];
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log, *l2;
	char root2[300], pdir2[400];
	uint64_t w0;

	(void)state;
	tu_opts(&o);
	o.write_groups = o.write_groups_direct = 4;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	lens[0] = tu_batch(bufs[0], sizeof(bufs[0]), 2, 1000, 0, 100);
	lens[1] = tu_batch(bufs[1], sizeof(bufs[1]), 1, 1001, 1, 5000);
	assert_true(lens[0] < SL_BLK && lens[0] + lens[1] > SL_BLK + 512);
	sl_plog_cfg_default(&cfg);
	log = open_log(&e, &cfg);
	tu_drain(&e);
	assert_true(log->direct);
	w0 = sl_store_stats(e.st)->writes;
	pipe_n = 0;
	log->test_hold_lo = log->wg_seq;
	log->test_hold_hi = log->wg_seq + 1;
	pipe_append(log, &apps[0], 0);
	sl_store_poll(e.st, e.now);
	pipe_append(log, &apps[1], 1);
	sl_store_poll(e.st, e.now);
	assert_int_equal(log->io_pending, 2);
	assert_int_equal(sl_store_stats(e.st)->writes - w0, 2);
	assert_int_equal(log->wg[(log->wg_head + 1) % SL_WG_MAX].wr_off, SL_BLK);
	assert_int_equal(log->owed_hi, SL_BLK);
	run_groups(&e, log);
	assert_int_equal(pipe_n, 0);
	/* The first write completes: its batch is acknowledged, the second waits for the hole. */
	sl_plog_test_release(log, UINT64_MAX);
	log->test_hold_lo = log->test_hold_hi = 0;
	assert_int_equal(pipe_n, 1);
	assert_int_equal(sl_plog_high_watermark(log), 2);
	assert_int_equal(log->written_lpos, lens[0]);
	assert_int_equal(log->ncred, 1);

	/*
	 * A crash now: block 0 holds the first batch, then zeros or (when the first write
	 * copied the chunk after the second batch went in) the second batch's head; block 1
	 * holds its tail. Recovery keeps the acknowledged batch, and the second only whole.
	 */
	snprintf(root2, sizeof(root2), "%s.crash", e.root);
	assert_int_equal(mkdir(root2, 0755), 0);
	snprintf(pdir2, sizeof(pdir2), "%s/t-0", root2);
	copy_crashed(e.pdir, pdir2, 0, 0, false);
	assert_int_equal(sl_plog_open(&l2, e.st, root2, "t", 0, &cfg), 0);
	assert_true(sl_plog_end_offset(l2) == 2 || sl_plog_end_offset(l2) == 3);
	{
		struct tu_rd rd;

		assert_true(tu_read(&e, l2, &rd, 0, 1 << 20) >= 0);
		assert_int_equal(rd.r.err, 0);
		assert_batch_at(rd.r.data, 0, 0);
		if (sl_plog_end_offset(l2) == 3) {
			assert_int_equal(rd.r.len, lens[0] + lens[1]);
			assert_batch_at(rd.r.data + lens[0], 1, 2);
		} else {
			assert_int_equal(rd.r.len, lens[0]);
		}
		tu_read_release(&rd);
	}
	assert_int_equal(sl_plog_close(l2), 0);
	tu_rm_rf(root2);

	/* The owed block goes next, then both are acknowledged. */
	sl_store_poll(e.st, e.now);
	assert_int_equal(sl_store_stats(e.st)->writes - w0, 3);
	assert_int_equal(log->owed_hi, 0);
	tu_drain(&e);
	assert_int_equal(pipe_n, 2);
	assert_int_equal(pipe_order[1], 2);
	assert_int_equal(log->written_lpos, log->end_lpos);
	assert_int_equal(log->ncred, 0);
	assert_int_equal(sl_plog_high_watermark(log), 3);
	assert_int_equal(sl_plog_close(log), 0);
	{
		struct tu_rd rd;

		l2 = open_log(&e, &cfg);
		assert_int_equal(sl_plog_end_offset(l2), 3);
		assert_true(tu_read(&e, l2, &rd, 0, 1 << 20) >= 0);
		assert_int_equal(rd.r.len, lens[0] + lens[1]);
		assert_batch_at(rd.r.data, 0, 0);
		assert_batch_at(rd.r.data + lens[0], 1, 2);
		tu_read_release(&rd);
		assert_int_equal(sl_plog_close(l2), 0);
	}
	tu_env_fini(&e);
}

/* The defaults: four groups for buffered segments, one for O_DIRECT ones. */
static void
pipeline_defaults(const char *root, bool force_buffered, unsigned want)
{
	static struct sl_append apps[6];
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;

	tu_opts(&o);
	o.force_buffered = force_buffered;
	assert_int_equal(o.write_groups, 4);
	assert_int_equal(o.write_groups_direct, 1);
	assert_int_equal(tu_env_init(&e, root, &o), 0);
	make_block_batches(6);
	log = open_log(&e, NULL);
	tu_drain(&e);
	pipe_n = 0;
	for (int i = 0; i < 6; i++) {
		pipe_append(log, &apps[i], i);
		sl_store_poll(e.st, e.now);
	}
	assert_int_equal(log->io_pending, want);
	tu_drain(&e);
	assert_int_equal(pipe_n, 6);
	assert_int_equal(sl_plog_close(log), 0);
	check_reopened(&e, NULL, 6);
	tu_env_fini(&e);
}

static void
test_plog_pipeline_defaults_four_buffered_one_direct(void **state)
{
	(void)state;
	if (getenv("SL_STORE_WRITE_GROUPS"))
		skip();
	pipeline_defaults(TU_DISK_ROOT, true, 4);
	pipeline_defaults(TU_DISK_ROOT, false, 1);
}

/* ---- inline_buffered: page-cache writes made on the thread, completed in the poll ---- */

static void
inline_opts(struct sl_store_opts *o)
{
	tu_opts(o);
	o->direct_nondurable = false;
	o->force_buffered = true;
	o->inline_buffered = true;
}

/* Appends complete inside sl_store_poll, with no ring completion: nothing is in flight. */
static void
test_plog_inline_buffered_appends_complete_in_poll(void **state)
{
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app ta[5];
	struct tu_rd rd;
	uint64_t w0;
	int done = 0;

	(void)state;
	inline_opts(&o);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(5, 3, 100);
	log = open_log(&e, NULL);
	assert_false(log->direct);
	w0 = sl_store_stats(e.st)->inline_writes;
	for (int i = 0; i < 5; i++)
		assert_int_equal(tu_append(log, &ta[i], &done, bufs[i], lens[i]), 0);
	assert_int_equal(done, 0);
	sl_store_poll(e.st, e.now); /* no sl_uring_run */
	assert_int_equal(done, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ta[i].a.err, 0);
	assert_false(sl_store_busy(e.st));
	assert_int_equal(sl_plog_high_watermark(log), 15);
	/* one group commit: the five batches in one write */
	assert_int_equal(sl_store_stats(e.st)->inline_writes, w0 + 1);
	assert_int_equal(tu_file_size(e.pdir, "00000000000000000000.log"),
	                 (int64_t)(lens[0] + lens[1] + lens[2] + lens[3] + lens[4]));
	/* more appends after the first completed: another write, appended after it */
	for (int i = 0; i < 2; i++)
		assert_int_equal(tu_append(log, &ta[i], &done, bufs[i], lens[i]), 0);
	sl_store_poll(e.st, e.now);
	assert_int_equal(done, 7);
	assert_int_equal(sl_store_stats(e.st)->inline_writes, w0 + 2);
	assert_int_equal(sl_plog_close(log), 0);

	log = open_log(&e, NULL);
	assert_int_equal(sl_plog_end_offset(log), 21);
	assert_int_equal(tu_read(&e, log, &rd, 0, 1 << 20), 0);
	assert_int_equal(rd.r.len, lens[0] + lens[1] + lens[2] + lens[3] + lens[4] + lens[0] +
	                                   lens[1]);
	assert_batch_at(rd.r.data, 0, 0);
	assert_batch_at(rd.r.data + lens[0] + lens[1] + lens[2] + lens[3] + lens[4], 0, 15);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/* Rolls (a rolled segment written, then sealed by its own fdatasync through the ring), close
 * with appends not yet polled that span a roll, and recovery: every batch back, in order.
 * inl: writes inline (inline_buffered) or through the ring. */
static void
rolls_then_close(bool inl)
{
	static struct tu_app ta[40];
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;
	int64_t off;
	int done = 0, i;

	inline_opts(&o);
	o.inline_buffered = inl;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(40, 2, 300);
	sl_plog_cfg_default(&cfg);
	cfg.segment_bytes = 3 * lens[0] + 10; /* three batches per segment */
	log = open_log(&e, &cfg);
	for (i = 0; i < 36; i += 4) {
		for (int k = 0; k < 4; k++)
			assert_int_equal(tu_append(log, &ta[i + k], &done, bufs[i + k],
			                           lens[i + k]),
			                 0);
		assert_int_equal(tu_wait(&e, &done, i + 4), 0);
	}
	tu_drain(&e);
	assert_true(log->nsegs >= 12);
	assert_true(inl ? sl_store_stats(e.st)->inline_writes >= 12
	                : sl_store_stats(e.st)->inline_writes == 0);
	/* four more, never polled: close writes them (inline too) and acknowledges them */
	for (; i < 40; i++)
		assert_int_equal(tu_append(log, &ta[i], &done, bufs[i], lens[i]), 0);
	assert_int_equal(sl_plog_close(log), 0);
	assert_int_equal(done, 40);
	for (i = 0; i < 40; i++)
		assert_int_equal(ta[i].a.err, 0);

	log = open_log(&e, &cfg);
	assert_int_equal(sl_plog_end_offset(log), 80);
	for (off = 0, i = 0; off < 80; off += 2, i++) {
		assert_int_equal(tu_read(&e, log, &rd, off, 1), 0);
		assert_int_equal(rd.r.err, 0);
		assert_int_equal(rd.r.len, lens[i]);
		assert_batch_at(rd.r.data, i, off);
		tu_read_release(&rd);
	}
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_plog_inline_buffered_rolls_and_close_keep_every_batch(void **state)
{
	(void)state;
	rolls_then_close(true);
}

/* Close used to stop once log_issue had started only a rolled segment's detached seal: the
 * appends to the next segment were neither written nor acknowledged. */
static void
test_plog_close_unpolled_appends_across_roll_written_and_acked(void **state)
{
	(void)state;
	rolls_then_close(false);
}

/* A durable log's write is linked to its fdatasync: it stays on the ring. */
static void
test_plog_inline_buffered_durable_write_goes_through_ring(void **state)
{
	struct sl_store_opts o;
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app ta[3];
	int done = 0;

	(void)state;
	inline_opts(&o);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(3, 1, 100);
	sl_plog_cfg_default(&cfg);
	cfg.durable = true;
	log = open_log(&e, &cfg);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tu_append(log, &ta[i], &done, bufs[i], lens[i]), 0);
	sl_store_poll(e.st, e.now);
	assert_true(sl_store_busy(e.st)); /* write + fdatasync in flight */
	assert_int_equal(tu_wait(&e, &done, 3), 0);
	assert_int_equal(sl_store_stats(e.st)->inline_writes, 0);
	assert_true(sl_store_stats(e.st)->syncs >= 1);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/* The write fails (the segment's fd made read-only underneath): the appends fail with
 * -EIO, the log refuses more, nothing hangs. */
static void
test_plog_inline_buffered_write_error_fails_log(void **state)
{
	struct sl_store_opts o;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app ta[2];
	char path[512];
	int done = 0, fd, rdfd;

	(void)state;
	inline_opts(&o);
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, &o), 0);
	make_batches(2, 1, 100);
	log = open_log(&e, NULL);
	fd = log->active->fd;
	snprintf(path, sizeof(path), "%s/00000000000000000000.log", e.pdir);
	rdfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(rdfd >= 0);
	assert_int_equal(dup2(rdfd, fd), fd); /* writes now fail with EBADF */
	close(rdfd);
	assert_int_equal(tu_append(log, &ta[0], &done, bufs[0], lens[0]), 0);
	sl_store_poll(e.st, e.now);
	assert_int_equal(done, 1);
	assert_true(ta[0].a.err < 0); /* the write's error (EBADF) */
	assert_int_equal(tu_append(log, &ta[1], &done, bufs[1], lens[1]), -EIO);
	assert_false(sl_store_busy(e.st));
	(void)sl_plog_close(log);
	tu_env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_plog_roundtrip_ext4_uses_o_direct),
	        cmocka_unit_test(test_plog_roundtrip_tmpfs_buffered_works),
	        cmocka_unit_test(test_plog_roundtrip_ext4_buffered_works),
	        cmocka_unit_test(test_plog_read_max_bytes_returns_at_least_one_batch),
	        cmocka_unit_test(test_plog_read_out_of_range_and_at_end),
	        cmocka_unit_test(test_plog_read_stops_at_high_watermark),
	        cmocka_unit_test(test_plog_bad_batch_rejected_nothing_appended),
	        cmocka_unit_test(test_plog_append_split_iovecs_copied_once),
	        cmocka_unit_test(test_plog_roll_on_segment_bytes_reads_across_segments),
	        cmocka_unit_test(test_plog_nondurable_roll_acks_new_segment_while_seal_sync_runs),
	        cmocka_unit_test(test_plog_retain_syncs_sealed_indexes_through_the_ring),
	        cmocka_unit_test(test_plog_roll_on_segment_ms),
	        cmocka_unit_test(test_plog_group_commit_many_appends_one_sync),
	        cmocka_unit_test(test_plog_durable_waits_for_sync_nondurable_does_not),
	        cmocka_unit_test(test_plog_flush_messages_syncs_in_nondurable_mode),
	        cmocka_unit_test(test_plog_hw_hook_called_when_hw_advances),
	        cmocka_unit_test(test_plog_tail_cache_eviction_falls_back_to_disk),
	        cmocka_unit_test(test_plog_append_enospc_when_no_chunk),
	        cmocka_unit_test(test_plog_append_larger_than_chunk_is_emsgsize),
	        cmocka_unit_test(test_plog_batch_larger_than_read_buffer_is_read_whole),
	        cmocka_unit_test(test_plog_rbuf_unref_from_other_thread_returns_to_pool),
	        cmocka_unit_test(test_plog_reads_wait_for_a_free_buffer),
	        cmocka_unit_test(test_plog_remove_deletes_directory),
	        cmocka_unit_test(test_plog_open_rejects_bad_names),
	        cmocka_unit_test(test_plog_pipeline_direct_out_of_order_acks_in_order),
	        cmocka_unit_test(test_plog_pipeline_direct_durable_out_of_order_acks_in_order),
	        cmocka_unit_test(test_plog_pipeline_buffered_out_of_order_acks_in_order),
	        cmocka_unit_test(test_plog_pipeline_buffered_durable_out_of_order_acks_in_order),
	        cmocka_unit_test(test_plog_pipeline_direct_partial_block_waits_for_earlier_write),
	        cmocka_unit_test(test_plog_pipeline_buffered_small_appends_overlap),
	        cmocka_unit_test(test_plog_pipeline_crash_lost_middle_group_cuts_at_hole),
	        cmocka_unit_test(test_plog_pipeline_crash_torn_middle_group_cuts_at_hole),
	        cmocka_unit_test(test_plog_pipeline_direct_skips_busy_block_and_writes_it_later),
	        cmocka_unit_test(test_plog_pipeline_defaults_four_buffered_one_direct),
	        cmocka_unit_test(test_plog_inline_buffered_appends_complete_in_poll),
	        cmocka_unit_test(test_plog_inline_buffered_rolls_and_close_keep_every_batch),
	        cmocka_unit_test(test_plog_close_unpolled_appends_across_roll_written_and_acked),
	        cmocka_unit_test(test_plog_inline_buffered_durable_write_goes_through_ring),
	        cmocka_unit_test(test_plog_inline_buffered_write_error_fails_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
