// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for retention (retention.ms by the segments' largest timestamps,
 * retention.bytes), DeleteRecords (log start offset moved and persisted, segments below it
 * deleted), ListOffsets by time, and a read in flight while its segment is deleted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/plog_testutil.h"

#define T0 1700000000000LL

static uint8_t bufs[64][4096];
static size_t lens[64];

/* Batch i: 2 records, timestamps T0 + 1000*i and T0 + 1000*i + 1. */
static void
make_batches(int n)
{
	for (int i = 0; i < n; i++)
		lens[i] = tu_batch(bufs[i], sizeof(bufs[i]), 2, T0 + 1000LL * i, (uint32_t)i, 300);
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
}

/* Five segments of two batches (four offsets) each plus an active one with one batch. */
static struct sl_plog *
open_filled(struct tu_env *e, struct sl_plog_cfg *cfg)
{
	struct sl_plog *log = NULL;
	int i;

	make_batches(11);
	sl_plog_cfg_default(cfg);
	cfg->segment_bytes = 2 * lens[0] + 10;
	cfg->index_interval_bytes = 100;
	cfg->segment_ms = INT64_MAX / 2; /* only size rolls here */
	assert_int_equal(sl_plog_open(&log, e->st, e->root, "t", 0, cfg), 0);
	for (i = 0; i < 11; i++)
		append_range(e, log, i, 1);
	tu_drain(e);
	assert_int_equal(log->nsegs, 6);
	assert_int_equal(sl_plog_end_offset(log), 22);
	return log;
}

static void
test_retention_by_time_deletes_old_closed_segments(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = open_filled(&e, &cfg);
	cfg.retention_ms = 10000;
	sl_plog_set_cfg(log, &cfg);
	/* Segment 0's largest timestamp is T0+1001, segment 4's T0+3001. */
	assert_int_equal(sl_plog_retain(log, T0 + 1001 + 10000), 0);
	assert_int_equal(sl_plog_retain(log, T0 + 1002 + 10000), 1);
	assert_int_equal(sl_plog_start_offset(log), 4);
	assert_false(tu_exists(e.pdir, "00000000000000000000.log"));
	assert_false(tu_exists(e.pdir, "00000000000000000000.index"));
	assert_int_equal(tu_read(&e, log, &rd, 3, 100), 1);
	assert_int_equal(rd.r.err, -ERANGE);
	assert_true(tu_read(&e, log, &rd, 4, 1) >= 0);
	assert_int_equal(rd.r.err, 0);
	assert_memory_equal(rd.r.data + 8, bufs[2] + 8, lens[2] - 8);
	tu_read_release(&rd);
	/* Far in the future: every closed segment goes, the active one stays. */
	assert_int_equal(sl_plog_retain(log, T0 + 1000000000LL), 4);
	assert_int_equal(log->nsegs, 1);
	assert_int_equal(sl_plog_start_offset(log), 20);
	assert_int_equal(sl_plog_size_bytes(log), lens[10]);
	assert_int_equal(sl_plog_close(log), 0);
	/* The start survives a reopen (the first segment's base). */
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
	assert_int_equal(sl_plog_start_offset(log), 20);
	assert_int_equal(sl_plog_end_offset(log), 22);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_retention_by_bytes_keeps_newest(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	log = open_filled(&e, &cfg);
	cfg.retention_ms = -1;
	cfg.retention_bytes = (int64_t)(5 * lens[0]); /* 11 batches held, keep >= 5 */
	sl_plog_set_cfg(log, &cfg);
	assert_int_equal(sl_plog_retain(log, T0), 3);
	assert_int_equal(sl_plog_start_offset(log), 12);
	assert_true(sl_plog_size_bytes(log) >= (uint64_t)cfg.retention_bytes);
	assert_int_equal(sl_plog_size_bytes(log), lens[6] + lens[7] + lens[8] + lens[9] + lens[10]);
	assert_int_equal(sl_plog_retain(log, T0), 0);
	/* compact-only topics are not subject to deletion */
	cfg.retention_bytes = 0;
	cfg.cleanup_policy = SL_CLEANUP_COMPACT;
	sl_plog_set_cfg(log, &cfg);
	assert_int_equal(sl_plog_retain(log, T0), 0);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_retention_delete_records_moves_and_persists_start(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = open_filled(&e, &cfg);
	assert_int_equal(sl_plog_delete_records(log, 23), -ERANGE);
	assert_int_equal(sl_plog_delete_records(log, -5), -ERANGE);
	assert_int_equal(sl_plog_delete_records(log, 9), 9);
	/* Segments 0 and 4 are wholly below 9; segment 8 holds offset 9. */
	assert_int_equal(log->segs[0]->base_offset, 8);
	assert_false(tu_exists(e.pdir, "00000000000000000004.log"));
	assert_int_equal(sl_plog_delete_records(log, 5), 9); /* never backwards */
	assert_int_equal(tu_read(&e, log, &rd, 8, 100), 1);
	assert_int_equal(rd.r.err, -ERANGE);
	assert_int_equal(rd.r.log_start_offset, 9);
	/* The batch holding 9 starts at 8: it is returned whole. */
	assert_true(tu_read(&e, log, &rd, 9, 1) >= 0);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal((int64_t)sl_be64(rd.r.data), 8);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
	assert_int_equal(sl_plog_start_offset(log), 9);
	/* -1: up to the high watermark; the active segment stays. */
	assert_int_equal(sl_plog_delete_records(log, -1), 22);
	assert_int_equal(log->nsegs, 1);
	assert_int_equal(sl_plog_close(log), 0);
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
	assert_int_equal(sl_plog_start_offset(log), 22);
	assert_int_equal(sl_plog_end_offset(log), 22);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_retention_offset_for_time_finds_first_record_at_or_after(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	int64_t ts;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = open_filled(&e, &cfg);
	assert_int_equal(sl_plog_offset_for_time(log, 0, &ts), 0);
	assert_int_equal(ts, T0);
	assert_int_equal(sl_plog_offset_for_time(log, T0 + 1, &ts), 1);
	assert_int_equal(ts, T0 + 1);
	assert_int_equal(sl_plog_offset_for_time(log, T0 + 2, &ts), 2);
	assert_int_equal(ts, T0 + 1000);
	assert_int_equal(sl_plog_offset_for_time(log, T0 + 5001, &ts), 11);
	assert_int_equal(ts, T0 + 5001);
	assert_int_equal(sl_plog_offset_for_time(log, T0 + 10000, &ts), 20); /* active seg */
	assert_int_equal(sl_plog_offset_for_time(log, T0 + 10002, &ts), 22); /* none: hw */
	assert_int_equal(ts, -1);
	/* Below the log start, the answer starts at the log start. */
	assert_int_equal(sl_plog_delete_records(log, 7), 7);
	assert_int_equal(sl_plog_offset_for_time(log, 0, &ts), 7);
	assert_int_equal(ts, T0 + 3001);
	assert_int_equal(sl_plog_close(log), 0);
	/* Same answers from a reopened log (indexes from disk). */
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
	assert_int_equal(sl_plog_offset_for_time(log, T0 + 5001, &ts), 11);
	assert_int_equal(sl_plog_offset_for_time(log, T0 + 9000, &ts), 18);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_retention_read_in_flight_survives_segment_delete(void **state)
{
	struct sl_plog_cfg cfg;
	struct tu_env e;
	struct sl_plog *log;
	struct tu_rd rd;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = open_filled(&e, &cfg);
	assert_int_equal(sl_plog_close(log), 0);
	assert_int_equal(sl_plog_open(&log, e.st, e.root, "t", 0, &cfg), 0);
	memset(&rd, 0, sizeof(rd));
	rd.r.done = tu_rd_done;
	rd.r.offset = 1;
	rd.r.max_bytes = 1 << 20;
	assert_int_equal(sl_plog_read(log, &rd.r), 0); /* submitted, not reaped */
	assert_int_equal(sl_plog_delete_records(log, 12), 12);
	assert_false(tu_exists(e.pdir, "00000000000000000000.log"));
	assert_int_equal(tu_wait(&e, &rd.done, 1), 0);
	assert_int_equal(rd.r.err, 0);
	assert_int_equal(rd.r.len, 2 * lens[0]);
	assert_memory_equal(rd.r.data + 8, bufs[0] + 8, lens[0] - 8);
	tu_read_release(&rd);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_retention_by_time_deletes_old_closed_segments),
	        cmocka_unit_test(test_retention_by_bytes_keeps_newest),
	        cmocka_unit_test(test_retention_delete_records_moves_and_persists_start),
	        cmocka_unit_test(test_retention_offset_for_time_finds_first_record_at_or_after),
	        cmocka_unit_test(test_retention_read_in_flight_survives_segment_delete),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
