// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the idempotent-producer state: the sequence rules (new, duplicate, gap,
 * fencing, unknown producer, new epoch, wrap past INT32_MAX, the 5-batch window), table
 * growth, and the log's use of it: a retried batch is not appended and completes with its
 * original offsets, refusals append nothing, and the state is rebuilt when a log reopens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "storage/plog_testutil.h"
#include "storage/pstate.h"

/* ---- the sequence rules ---- */

static void
rec(struct sl_pstate *ps, int64_t pid, int16_t epoch, int32_t first, int32_t last, int64_t off)
{
	assert_int_equal(sl_pstate_record(ps, pid, epoch, first, last, off, off + (last - first)),
	                 0);
}

static void
test_pstate_in_sequence_accepted_gap_refused(void **state)
{
	struct sl_pstate ps;

	(void)state;
	assert_int_equal(sl_pstate_init(&ps, 4), 0);
	assert_int_equal(sl_pstate_check(&ps, 7, 0, 0, 4, NULL), 1);
	rec(&ps, 7, 0, 0, 4, 100);
	assert_int_equal(sl_pstate_check(&ps, 7, 0, 5, 9, NULL), 1);
	assert_int_equal(sl_pstate_check(&ps, 7, 0, 6, 9, NULL), SL_PS_EOUT_OF_ORDER);
	assert_int_equal(sl_pstate_check(&ps, 7, 0, 12, 12, NULL), SL_PS_EOUT_OF_ORDER);
	/* overlapping an old batch without matching it exactly: out of order, not a dup */
	assert_int_equal(sl_pstate_check(&ps, 7, 0, 0, 2, NULL), SL_PS_EOUT_OF_ORDER);
	assert_int_equal(sl_pstate_kerr(SL_PS_EOUT_OF_ORDER), 45);
	sl_pstate_fini(&ps);
}

static void
test_pstate_duplicate_returns_original_offsets(void **state)
{
	struct sl_pstate ps;
	struct sl_pstate_batch d;

	(void)state;
	assert_int_equal(sl_pstate_init(&ps, 4), 0);
	rec(&ps, 7, 3, 0, 4, 100);
	rec(&ps, 7, 3, 5, 5, 200);
	memset(&d, 0, sizeof(d));
	assert_int_equal(sl_pstate_check(&ps, 7, 3, 0, 4, &d), 2);
	assert_int_equal(d.base_offset, 100);
	assert_int_equal(d.last_offset, 104);
	assert_int_equal(sl_pstate_check(&ps, 7, 3, 5, 5, &d), 2);
	assert_int_equal(d.base_offset, 200);
	assert_int_equal(d.last_offset, 200);
	sl_pstate_fini(&ps);
}

static void
test_pstate_window_keeps_last_five_batches(void **state)
{
	struct sl_pstate ps;
	struct sl_pstate_batch d;

	(void)state;
	assert_int_equal(sl_pstate_init(&ps, 4), 0);
	for (int i = 0; i < 7; i++)
		rec(&ps, 1, 0, i, i, 10 * i);
	/* batches 2..6 remembered; 0 and 1 fell out of the window */
	assert_int_equal(sl_pstate_check(&ps, 1, 0, 0, 0, &d), SL_PS_EOUT_OF_ORDER);
	assert_int_equal(sl_pstate_check(&ps, 1, 0, 1, 1, &d), SL_PS_EOUT_OF_ORDER);
	for (int i = 2; i < 7; i++) {
		assert_int_equal(sl_pstate_check(&ps, 1, 0, i, i, &d), 2);
		assert_int_equal(d.base_offset, 10 * i);
	}
	assert_int_equal(sl_pstate_check(&ps, 1, 0, 7, 7, &d), 1);
	assert_int_equal(sl_pstate_find(&ps, 1)->n, SL_PSTATE_NBATCH);
	sl_pstate_fini(&ps);
}

static void
test_pstate_epochs_fence_old_and_new_starts_at_zero(void **state)
{
	struct sl_pstate ps;

	(void)state;
	assert_int_equal(sl_pstate_init(&ps, 4), 0);
	rec(&ps, 9, 2, 0, 9, 0);
	assert_int_equal(sl_pstate_check(&ps, 9, 1, 10, 10, NULL), SL_PS_EFENCED);
	assert_int_equal(sl_pstate_kerr(SL_PS_EFENCED), 47);
	assert_int_equal(sl_pstate_check(&ps, 9, 3, 5, 5, NULL), SL_PS_EOUT_OF_ORDER);
	assert_int_equal(sl_pstate_check(&ps, 9, 3, 0, 0, NULL), 1);
	rec(&ps, 9, 3, 0, 0, 50);
	/* the old epoch's batches are forgotten: its sequence 0..9 is now fenced */
	assert_int_equal(sl_pstate_check(&ps, 9, 2, 0, 9, NULL), SL_PS_EFENCED);
	assert_int_equal(sl_pstate_find(&ps, 9)->epoch, 3);
	assert_int_equal(sl_pstate_find(&ps, 9)->n, 1);
	sl_pstate_fini(&ps);
}

static void
test_pstate_unknown_pid_nonzero_seq_refused(void **state)
{
	struct sl_pstate ps;

	(void)state;
	assert_int_equal(sl_pstate_init(&ps, 4), 0);
	assert_int_equal(sl_pstate_check(&ps, 42, 0, 3, 3, NULL), SL_PS_EUNKNOWN_PID);
	assert_int_equal(sl_pstate_kerr(SL_PS_EUNKNOWN_PID), 59);
	assert_int_equal(sl_pstate_check(&ps, 42, 0, 0, 3, NULL), 1);
	assert_null(sl_pstate_find(&ps, 42)); /* check alone records nothing */
	assert_int_equal(sl_pstate_check(&ps, -1, 0, 0, 0, NULL), -EINVAL);
	sl_pstate_fini(&ps);
}

static void
test_pstate_sequence_wraps_past_int32_max(void **state)
{
	struct sl_pstate ps;

	(void)state;
	assert_int_equal(sl_pstate_seq_add(INT32_MAX, 1), 0);
	assert_int_equal(sl_pstate_seq_add(INT32_MAX - 1, 3), 1);
	assert_int_equal(sl_pstate_seq_add(5, 3), 8);
	assert_int_equal(sl_pstate_init(&ps, 4), 0);
	rec(&ps, 1, 0, 0, 0, 0);
	/* the state may hold a batch ending at INT32_MAX (after many batches) */
	assert_int_equal(sl_pstate_record(&ps, 1, 0, INT32_MAX - 1, INT32_MAX, 10, 11), 0);
	assert_int_equal(sl_pstate_check(&ps, 1, 0, 0, 4, NULL), 1);
	assert_int_equal(sl_pstate_check(&ps, 1, 0, 1, 4, NULL), SL_PS_EOUT_OF_ORDER);
	sl_pstate_fini(&ps);
}

static void
test_pstate_table_grows_and_keeps_every_producer(void **state)
{
	struct sl_pstate ps;
	struct sl_pstate_batch d;

	(void)state;
	assert_int_equal(sl_pstate_init(&ps, 2), 0);
	for (int64_t pid = 0; pid < 1000; pid++) {
		assert_int_equal(sl_pstate_check(&ps, pid * 7919, 0, 0, 0, NULL), 1);
		rec(&ps, pid * 7919, 0, 0, 0, pid);
	}
	assert_int_equal(ps.n, 1000);
	assert_true(ps.cap >= 2000);
	for (int64_t pid = 0; pid < 1000; pid++) {
		assert_int_equal(sl_pstate_check(&ps, pid * 7919, 0, 0, 0, &d), 2);
		assert_int_equal(d.base_offset, pid);
	}
	sl_pstate_fini(&ps);
}

/* ---- in the log ---- */

static size_t
idem_batch(uint8_t *buf, size_t cap, int64_t pid, int16_t epoch, int32_t seq, int nrec,
           uint32_t seed)
{
	struct sl_rb_builder b;
	char val[64];
	int64_t total;

	if (sl_rb_builder_init(&b, buf, cap, SL_CODEC_NONE, 0, 1000, pid, epoch, seq))
		abort();
	for (int i = 0; i < nrec; i++) {
		int n = snprintf(val, sizeof(val), "v%u-%d", seed, i);

		if (sl_rb_builder_add(&b, 1000 + i, NULL, -1, val, n, NULL, 0))
			abort();
	}
	total = sl_rb_builder_finish(&b, NULL);
	if (total <= 0)
		abort();
	return (size_t)total;
}

static struct sl_plog *
open_log(struct tu_env *e)
{
	struct sl_plog *log = NULL;
	struct sl_plog_cfg cfg;

	sl_plog_cfg_default(&cfg);
	assert_int_equal(sl_plog_open(&log, e->st, e->root, "t", 0, &cfg), 0);
	return log;
}

/* Appends and waits; returns the append's base offset. */
static int64_t
append_ok(struct tu_env *e, struct sl_plog *log, const uint8_t *p, size_t n)
{
	struct tu_app t;
	int done = 0;

	assert_int_equal(tu_append(log, &t, &done, p, n), 0);
	assert_int_equal(tu_wait(e, &done, 1), 0);
	assert_int_equal(t.a.err, 0);
	return t.a.base_offset;
}

static void
test_pstate_log_retry_not_appended_gets_original_offset(void **state)
{
	static uint8_t b0[4096], b1[4096], b2[4096];
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app t1, t2;
	size_t n0, n1, n2;
	int done = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	log = open_log(&e);
	n0 = idem_batch(b0, sizeof(b0), 1000, 0, 0, 3, 1);
	n1 = idem_batch(b1, sizeof(b1), 1000, 0, 3, 2, 2);
	n2 = idem_batch(b2, sizeof(b2), 1000, 0, 5, 1, 3);
	assert_int_equal(append_ok(&e, log, b0, n0), 0);
	assert_int_equal(append_ok(&e, log, b1, n1), 3);
	assert_int_equal(sl_plog_end_offset(log), 5);

	/* a retry after its acknowledgement: original offsets, log unchanged */
	assert_int_equal(append_ok(&e, log, b0, n0), 0);
	assert_int_equal(sl_plog_end_offset(log), 5);
	assert_int_equal(sl_plog_high_watermark(log), 5);
	assert_int_equal(sl_plog_size_bytes(log), n0 + n1);

	/* a retry while the original is still in flight completes after it, in order */
	assert_int_equal(tu_append(log, &t1, &done, b2, n2), 0);
	assert_int_equal(tu_append(log, &t2, &done, b2, n2), 0);
	assert_int_equal(tu_wait(&e, &done, 2), 0);
	assert_int_equal(t1.a.base_offset, 5);
	assert_int_equal(t2.a.base_offset, 5);
	assert_int_equal(t2.a.last_offset, 5);
	assert_int_equal(sl_plog_end_offset(log), 6);
	assert_int_equal(sl_plog_high_watermark(log), 6);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_pstate_log_retry_queued_at_close_still_completes(void **state)
{
	static uint8_t b0[4096];
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app t;
	size_t n0;
	int done = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	log = open_log(&e);
	n0 = idem_batch(b0, sizeof(b0), 3, 0, 0, 2, 1);
	assert_int_equal(append_ok(&e, log, b0, n0), 0);
	tu_drain(&e);
	/* nothing in flight, no poll before the close: the close completes it */
	assert_int_equal(tu_append(log, &t, &done, b0, n0), 0);
	assert_int_equal(sl_plog_close(log), 0);
	assert_int_equal(done, 1);
	assert_int_equal(t.a.err, 0);
	assert_int_equal(t.a.base_offset, 0);
	assert_int_equal(t.a.last_offset, 1);
	tu_env_fini(&e);
}

static void
test_pstate_log_gap_and_fencing_append_nothing(void **state)
{
	static uint8_t b[4096];
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app t;
	int done = 0;
	size_t n;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	log = open_log(&e);
	n = idem_batch(b, sizeof(b), 5, 1, 0, 2, 1);
	assert_int_equal(append_ok(&e, log, b, n), 0);
	n = idem_batch(b, sizeof(b), 5, 1, 3, 1, 2); /* expected 2 */
	assert_int_equal(tu_append(log, &t, &done, b, n), SL_PS_EOUT_OF_ORDER);
	n = idem_batch(b, sizeof(b), 5, 0, 2, 1, 3); /* older epoch */
	assert_int_equal(tu_append(log, &t, &done, b, n), SL_PS_EFENCED);
	n = idem_batch(b, sizeof(b), 6, 0, 4, 1, 4); /* unknown producer */
	assert_int_equal(tu_append(log, &t, &done, b, n), SL_PS_EUNKNOWN_PID);
	tu_drain(&e);
	assert_int_equal(done, 0);
	assert_int_equal(sl_plog_end_offset(log), 2);
	/* non-idempotent batches are not checked */
	n = idem_batch(b, sizeof(b), -1, -1, -1, 1, 5);
	assert_int_equal(append_ok(&e, log, b, n), 2);
	assert_int_equal(append_ok(&e, log, b, n), 3);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

static void
test_pstate_log_state_rebuilt_at_reopen(void **state)
{
	static uint8_t b[8][4096];
	size_t n[8];
	struct tu_env e;
	struct sl_plog *log;
	struct tu_app t;
	int done = 0;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_DISK_ROOT, NULL), 0);
	log = open_log(&e);
	for (int i = 0; i < 7; i++) {
		n[i] = idem_batch(b[i], sizeof(b[i]), 77, 2, i * 2, 2, (uint32_t)i);
		assert_int_equal(append_ok(&e, log, b[i], n[i]), i * 2);
	}
	assert_int_equal(sl_plog_close(log), 0);

	log = open_log(&e);
	assert_non_null(sl_pstate_find(&log->ps, 77));
	assert_int_equal(sl_pstate_find(&log->ps, 77)->epoch, 2);
	/* the last five batches are duplicates again, the older ones out of order */
	assert_int_equal(append_ok(&e, log, b[6], n[6]), 12);
	assert_int_equal(append_ok(&e, log, b[2], n[2]), 4);
	assert_int_equal(tu_append(log, &t, &done, b[1], n[1]), SL_PS_EOUT_OF_ORDER);
	assert_int_equal(sl_plog_end_offset(log), 14);
	n[7] = idem_batch(b[7], sizeof(b[7]), 77, 2, 14, 1, 7);
	assert_int_equal(append_ok(&e, log, b[7], n[7]), 14);
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

/* Rewrites the snapshot of e's log: the first entry's epoch set to epoch, the end offset
 * moved by shift, the CRC recomputed unless break_crc (then a byte is flipped). */
static void
tamper_snapshot(struct tu_env *e, int16_t epoch, int64_t shift, bool break_crc)
{
	uint8_t buf[4096];
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", e->pdir, SL_PSTATE_SNAP);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	n = pread(fd, buf, sizeof(buf), 0);
	assert_true(n > 18 + 4);
	sl_put_be64(buf + 6, sl_be64(buf + 6) + (uint64_t)shift);
	sl_put_be16(buf + 18 + 8, (uint16_t)epoch);
	sl_put_be32(buf + n - 4, sl_crc32c(0, buf, (size_t)n - 4));
	if (break_crc)
		buf[n - 5] ^= 1;
	assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
	close(fd);
}

static void
test_pstate_log_snapshot_used_only_when_it_matches_the_log(void **state)
{
	static uint8_t b[7][4096];
	size_t n[7];
	struct tu_env e;
	struct sl_plog *log;

	(void)state;
	assert_int_equal(tu_env_init(&e, TU_SHM_ROOT, NULL), 0);
	log = open_log(&e);
	for (int i = 0; i < 7; i++) {
		n[i] = idem_batch(b[i], sizeof(b[i]), 55, 4, i, 1, (uint32_t)i);
		assert_int_equal(append_ok(&e, log, b[i], n[i]), i);
	}
	assert_int_equal(sl_plog_close(log), 0);
	assert_true(tu_exists(e.pdir, SL_PSTATE_SNAP));

	/* an untouched snapshot restores the same state */
	log = open_log(&e);
	assert_int_equal(sl_pstate_find(&log->ps, 55)->n, SL_PSTATE_NBATCH);
	assert_int_equal(append_ok(&e, log, b[6], n[6]), 6); /* dup */
	assert_int_equal(append_ok(&e, log, b[2], n[2]), 2); /* oldest remembered */
	assert_int_equal(sl_plog_close(log), 0);

	/* it is what open reads: a (CRC-valid) change shows */
	tamper_snapshot(&e, 9, 0, false);
	log = open_log(&e);
	assert_int_equal(sl_pstate_find(&log->ps, 55)->epoch, 9);
	assert_int_equal(sl_plog_close(log), 0); /* writes epoch 9 back: tamper again below */

	/* a snapshot for another log end offset is ignored: the log is scanned */
	tamper_snapshot(&e, 9, -1, false);
	log = open_log(&e);
	assert_int_equal(sl_pstate_find(&log->ps, 55)->epoch, 4);
	assert_int_equal(sl_plog_close(log), 0);

	/* so is a corrupt one */
	tamper_snapshot(&e, 9, 0, true);
	log = open_log(&e);
	assert_int_equal(sl_pstate_find(&log->ps, 55)->epoch, 4);
	assert_int_equal(append_ok(&e, log, b[4], n[4]), 4); /* dup, found by the scan */
	assert_int_equal(sl_plog_close(log), 0);
	tu_env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pstate_in_sequence_accepted_gap_refused),
	        cmocka_unit_test(test_pstate_duplicate_returns_original_offsets),
	        cmocka_unit_test(test_pstate_window_keeps_last_five_batches),
	        cmocka_unit_test(test_pstate_epochs_fence_old_and_new_starts_at_zero),
	        cmocka_unit_test(test_pstate_unknown_pid_nonzero_seq_refused),
	        cmocka_unit_test(test_pstate_sequence_wraps_past_int32_max),
	        cmocka_unit_test(test_pstate_table_grows_and_keeps_every_producer),
	        cmocka_unit_test(test_pstate_log_retry_not_appended_gets_original_offset),
	        cmocka_unit_test(test_pstate_log_retry_queued_at_close_still_completes),
	        cmocka_unit_test(test_pstate_log_gap_and_fencing_append_nothing),
	        cmocka_unit_test(test_pstate_log_state_rebuilt_at_reopen),
	        cmocka_unit_test(test_pstate_log_snapshot_used_only_when_it_matches_the_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
