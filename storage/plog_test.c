// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the partition log: append and read (tail cache and disk), max_bytes and
 * the at-least-one-batch rule, the high watermark, rolls by size and time, durable and
 * non-durable completion, group commit (counted syncs), flush.messages, O_DIRECT on ext4 and
 * buffered on tmpfs, pool limits, eviction, and refs dropped from another thread.
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
