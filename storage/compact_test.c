// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for compaction (compact.c) on the real engine: logs are written through
 * sl_plog_append, rolled into sealed segments, compacted, then read back through
 * sl_plog_read and compared with a model (the latest value of every key). Crash states of
 * the segment swap are built by hand and reopened.
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

#include "common/clock.h"
#include "common/uring.h"
#include "storage/codec.h"
#include "storage/compact.h"
#include "storage/plog.h"
#include "storage/plog_int.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define NOW_MS 1750000000000LL
#define DAY_MS (24LL * 3600 * 1000)
#define MAX_RECS 20000

struct env {
	char root[128];
	struct sl_uring ring;
	struct sl_store *st;
	struct sl_plog *log;
	struct sl_plog_cfg cfg;
	int64_t now_ms;
};

/* One record as written or read back. */
struct rec {
	int64_t offset;
	int64_t ts;
	char key[32]; /* "" with key_null */
	bool key_null;
	char value[64];
	bool tombstone;
};

struct got {
	struct rec r[MAX_RECS];
	int n;
	int codecs[8]; /* batches seen per codec */
	int batches;
};

static struct got g_got;

/* ---- engine plumbing ---- */

static void
drive(struct env *e)
{
	sl_store_poll(e->st, e->now_ms);
	(void)sl_uring_run(&e->ring, sl_store_busy(e->st) ? 1 : 0, 100 * 1000 * 1000LL);
}

/* Drives the store until a poll leaves nothing in flight (a poll may start the next step
 * of a seal, so "not busy" counts only right after one). */
static void
settle(struct env *e)
{
	for (int i = 0; i < 100000; i++) {
		sl_store_poll(e->st, e->now_ms);
		if (!sl_store_busy(e->st))
			return;
		(void)sl_uring_run(&e->ring, 1, 100 * 1000 * 1000LL);
	}
	fail_msg("store still busy: inflight %u", e->st->inflight);
}

static void
log_open(struct env *e)
{
	assert_int_equal(sl_plog_open(&e->log, e->st, e->root, "cdc", 0, &e->cfg), 0);
}

static void
log_close(struct env *e)
{
	settle(e);
	assert_int_equal(sl_plog_close(e->log), 0);
	e->log = NULL;
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct sl_store_opts o;

	assert_non_null(e);
	/* On disk (ext4: O_DIRECT), not a tmpfs /tmp. */
	snprintf(e->root, sizeof(e->root), "/var/tmp/sl-compact-XXXXXX");
	assert_non_null(mkdtemp(e->root));
	assert_int_equal(sl_uring_init(&e->ring, 64, 0), 0);
	sl_store_opts_default(&o);
	o.chunk_bytes = 1u << 20;
	o.nr_chunks = 8;
	o.read_buf_bytes = 256u << 10;
	o.nr_read_bufs = 4;
	assert_int_equal(sl_store_create(&e->st, &e->ring, &o), 0);
	sl_plog_cfg_default(&e->cfg);
	e->cfg.cleanup_policy = SL_CLEANUP_COMPACT;
	e->cfg.delete_retention_ms = DAY_MS;
	e->now_ms = NOW_MS;
	log_open(e);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	char cmd[256];

	if (e->log)
		log_close(e);
	sl_store_destroy(e->st);
	sl_uring_fini(&e->ring);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->root);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void
on_append(struct sl_append *a)
{
	*(bool *)a->arg = true;
}

/*
 * Appends one batch of n records (codec, optional transactional producer) and waits for
 * it. Fills each rec's offset. Returns the base offset.
 */
static int64_t
append_batch_x(struct env *e, int codec, struct rec *r, int n, int64_t producer_id, uint16_t attrs)
{
	static uint8_t buf[1 << 20], scratch_mem[1 << 21];
	struct sl_rb_scratch scratch = {scratch_mem, sizeof(scratch_mem)};
	struct sl_rb_builder b;
	struct sl_append a = {.done = on_append};
	struct iovec iov;
	bool done = false;
	int64_t total;

	assert_int_equal(sl_rb_builder_init(&b, buf, sizeof(buf), codec, 0, r[0].ts, producer_id,
	                                    producer_id >= 0 ? 0 : -1, producer_id >= 0 ? 0 : -1),
	                 0);
	sl_rb_builder_set_attrs(&b, attrs);
	for (int i = 0; i < n; i++)
		assert_int_equal(
		        sl_rb_builder_add(&b, r[i].ts, r[i].key_null ? NULL : r[i].key,
		                          r[i].key_null ? -1 : (int32_t)strlen(r[i].key),
		                          r[i].tombstone ? NULL : r[i].value,
		                          r[i].tombstone ? -1 : (int32_t)strlen(r[i].value), NULL,
		                          0),
		        0);
	total = sl_rb_builder_finish(&b, &scratch);
	assert_true(total > 0);
	iov.iov_base = buf;
	iov.iov_len = (size_t)total;
	a.arg = &done;
	assert_int_equal(sl_plog_append(e->log, &iov, 1, &a), 0);
	for (int i = 0; i < 100000 && !done; i++)
		drive(e);
	assert_true(done);
	assert_int_equal(a.err, 0);
	for (int i = 0; i < n; i++)
		r[i].offset = a.base_offset + i;
	return a.base_offset;
}

static int64_t
append_batch(struct env *e, int codec, struct rec *r, int n)
{
	return append_batch_x(e, codec, r, n, -1, 0);
}

/* Seals the active segment and starts a new one. */
static void
roll(struct env *e)
{
	settle(e);
	assert_int_equal(sl_plog_roll(e->log), 0);
	settle(e);
}

static void
mkrec(struct rec *r, const char *key, const char *value, int64_t ts)
{
	memset(r, 0, sizeof(*r));
	r->ts = ts;
	if (key)
		snprintf(r->key, sizeof(r->key), "%s", key);
	else
		r->key_null = true;
	if (value)
		snprintf(r->value, sizeof(r->value), "%s", value);
	else
		r->tombstone = true;
}

static void
on_read(struct sl_read *r)
{
	*(bool *)r->arg = true;
}

/* Reads every record from offset `from` to the high watermark into g_got. */
static void
read_all(struct env *e, int64_t from)
{
	static uint8_t scratch_mem[1 << 21];
	struct sl_rb_scratch scratch = {scratch_mem, sizeof(scratch_mem)};
	int64_t off = from;

	memset(&g_got, 0, sizeof(g_got));
	settle(e);
	while (off < sl_plog_high_watermark(e->log)) {
		struct sl_read r = {.done = on_read, .offset = off, .max_bytes = 64 << 10};
		bool done = false;
		const uint8_t *p, *end;
		int rc;

		r.arg = &done;
		rc = sl_plog_read(e->log, &r);
		assert_true(rc >= 0);
		for (int i = 0; i < 100000 && rc == 0 && !done; i++)
			drive(e);
		assert_true(rc == 1 || done);
		assert_int_equal(r.err, 0);
		if (r.len == 0)
			break;
		p = r.data;
		end = r.data + r.len;
		while (p < end) {
			struct sl_rb_hdr h;
			struct sl_rb_iter it;
			struct sl_rb_rec rr;
			int64_t total = sl_rb_validate(p, (size_t)(end - p), 0,
			                               SL_RB_VALIDATE_STORED, &scratch, &h);

			assert_true(total > 0);
			g_got.codecs[h.attributes & SL_RB_ATTR_CODEC_MASK]++;
			g_got.batches++;
			assert_int_equal(sl_rb_iter_init(&it, p, (size_t)total, &scratch), 0);
			while (sl_rb_iter_next(&it, &rr) == 1) {
				struct rec *o;

				if (rr.offset < off)
					continue;
				assert_true(g_got.n < MAX_RECS);
				o = &g_got.r[g_got.n++];
				memset(o, 0, sizeof(*o));
				o->offset = rr.offset;
				o->ts = rr.timestamp;
				o->key_null = rr.key_len < 0;
				if (rr.key_len >= 0)
					memcpy(o->key, rr.key, (size_t)SL_MIN(rr.key_len, 31));
				o->tombstone = rr.value_len < 0;
				if (rr.value_len >= 0)
					memcpy(o->value, rr.value,
					       (size_t)SL_MIN(rr.value_len, 63));
			}
			off = h.base_offset + h.last_offset_delta + 1;
			p += total;
		}
		sl_rbuf_unref(r.buf);
	}
}

/* Index in g_got of the record at offset, or -1. */
static int
got_find(int64_t offset)
{
	for (int i = 0; i < g_got.n; i++)
		if (g_got.r[i].offset == offset)
			return i;
	return -1;
}

static void
assert_offsets_increase(void)
{
	for (int i = 1; i < g_got.n; i++)
		assert_true(g_got.r[i].offset > g_got.r[i - 1].offset);
}

static int64_t
compact(struct env *e, const struct sl_compact_opts *o, struct sl_compact_stats *st)
{
	int64_t n;

	settle(e);
	n = sl_compact_run(e->log, e->now_ms, o, st);
	settle(e);
	return n;
}

/* ---- a standard workload: 20 keys updated in 6 segments ---- */

#define W_KEYS 20
#define W_SEGS 6
#define W_BATCHES 4 /* per segment */
#define W_PER 10    /* records per batch */

static struct rec w_recs[W_SEGS * W_BATCHES * W_PER];
static int w_n;

/*
 * Writes the workload with codec: every batch updates keys at random, and every batch's
 * last record has a key of its own ("end-<n>") that is never updated, so no batch ever
 * loses all its records and nothing stale has to be kept. Leaves one record in a new
 * active segment.
 */
static void
write_workload(struct env *e, int codec)
{
	unsigned seed = 42;

	w_n = 0;
	for (int s = 0; s < W_SEGS; s++) {
		for (int b = 0; b < W_BATCHES; b++) {
			struct rec *r = &w_recs[w_n];

			for (int i = 0; i < W_PER - 1; i++) {
				char k[16], v[32];

				seed = seed * 1103515245u + 12345u;
				snprintf(k, sizeof(k), "key-%u", (seed >> 16) % W_KEYS);
				snprintf(v, sizeof(v), "val-%d", w_n + i);
				mkrec(&r[i], k, v, NOW_MS - 1000 + w_n + i);
			}
			{
				char k[16];

				snprintf(k, sizeof(k), "end-%d", w_n);
				mkrec(&r[W_PER - 1], k, "end", NOW_MS - 1000 + w_n + W_PER - 1);
			}
			append_batch(e, codec, r, W_PER);
			w_n += W_PER;
		}
		roll(e);
	}
}

/* The latest offset of every key of w_recs[0..n). */
static int64_t
latest_offset(const char *key, int n)
{
	int64_t best = -1;

	for (int i = 0; i < n; i++)
		if (!w_recs[i].key_null && !strcmp(w_recs[i].key, key))
			best = w_recs[i].offset;
	return best;
}

/* After compacting the workload: exactly the latest record of every key remains, with its
 * offset and value. */
static void
check_workload_compacted(void)
{
	int want = 0;

	assert_offsets_increase();
	for (int i = 0; i < w_n; i++) {
		const struct rec *r = &w_recs[i];
		bool latest = latest_offset(r->key, w_n) == r->offset;
		int at = got_find(r->offset);

		if (latest) {
			want++;
			assert_true(at >= 0);
			assert_string_equal(g_got.r[at].key, r->key);
			assert_string_equal(g_got.r[at].value, r->value);
			assert_int_equal(g_got.r[at].ts, r->ts);
		} else {
			assert_int_equal(at, -1);
		}
	}
	assert_int_equal(g_got.n, want);
}

/* ---- tests ---- */

static void
test_compact_latest_value_per_key_survives(void **state)
{
	struct env *e = *state;
	struct sl_compact_stats st;
	int64_t removed;
	int latest = 0;

	write_workload(e, SL_CODEC_NONE);
	for (int i = 0; i < w_n; i++)
		latest += latest_offset(w_recs[i].key, w_n) == w_recs[i].offset;
	removed = compact(e, NULL, &st);
	assert_int_equal(removed, w_n - latest);
	assert_int_equal(st.records_in, (uint64_t)w_n);
	assert_int_equal(st.records_out, (uint64_t)latest);
	assert_int_equal(st.segments_in, W_SEGS);
	assert_true(st.swaps >= 1);
	assert_true(st.bytes_out < st.bytes_in);
	assert_int_equal(st.keys, W_KEYS + W_SEGS * W_BATCHES);
	assert_int_equal(st.cleaned_upto, w_n);
	read_all(e, 0);
	check_workload_compacted();
}

static void
test_compact_offsets_and_log_end_kept(void **state)
{
	struct env *e = *state;
	struct rec tail[1];
	int64_t end_before, start_before;

	write_workload(e, SL_CODEC_NONE);
	mkrec(&tail[0], "tail", "t", NOW_MS);
	append_batch(e, SL_CODEC_NONE, tail, 1);
	end_before = sl_plog_end_offset(e->log);
	start_before = sl_plog_start_offset(e->log);
	assert_true(compact(e, NULL, NULL) > 0);
	assert_int_equal(sl_plog_end_offset(e->log), end_before);
	assert_int_equal(sl_plog_start_offset(e->log), start_before);
	read_all(e, 0);
	/* Every surviving record is at the offset it was written at (values name it). */
	for (int i = 0; i < g_got.n; i++) {
		int64_t off = g_got.r[i].offset;

		if (off < w_n) {
			assert_string_equal(g_got.r[i].key, w_recs[off].key);
			assert_string_equal(g_got.r[i].value, w_recs[off].value);
		}
	}
	/* The active segment's record is untouched and new appends continue the offsets. */
	assert_true(got_find(tail[0].offset) >= 0);
	append_batch(e, SL_CODEC_NONE, tail, 1);
	assert_int_equal(tail[0].offset, end_before);
}

static void
test_compact_reads_after_compaction_return_compacted_data(void **state)
{
	struct env *e = *state;

	write_workload(e, SL_CODEC_ZSTD);
	assert_true(compact(e, NULL, NULL) > 0);
	/* From the start, and from an offset whose record was removed: the read starts at
	 * the batch holding it or the next surviving one, never before. */
	read_all(e, 0);
	check_workload_compacted();
	for (int64_t off = 0; off < w_n; off++) {
		if (latest_offset(w_recs[off].key, w_n) != off) {
			read_all(e, off);
			assert_true(g_got.n > 0);
			assert_true(g_got.r[0].offset > off);
			break;
		}
	}
	/* And again after a reopen (indexes rebuilt by the swap, read from disk). */
	log_close(e);
	log_open(e);
	read_all(e, 0);
	check_workload_compacted();
}

static void
test_compact_every_codec_round_trips(void **state)
{
	struct env *e = *state;
	const int codecs[] = {SL_CODEC_NONE, SL_CODEC_GZIP, SL_CODEC_SNAPPY, SL_CODEC_LZ4,
	                      SL_CODEC_ZSTD};

	for (unsigned c = 0; c < SL_ARRAY_SIZE(codecs); c++) {
		char dir[200], cmd[256];

		if (c > 0) {
			/* A fresh log per codec. */
			log_close(e);
			snprintf(dir, sizeof(dir), "%s/cdc-0", e->root);
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			assert_int_equal(system(cmd), 0);
			log_open(e);
		}
		write_workload(e, codecs[c]);
		assert_true(compact(e, NULL, NULL) > 0);
		read_all(e, 0);
		check_workload_compacted();
		/* Rebuilt batches keep their codec. */
		assert_true(g_got.batches > 0);
		assert_int_equal(g_got.codecs[codecs[c]], g_got.batches);
	}
}

static void
test_compact_tombstones_dropped_only_after_delete_retention(void **state)
{
	struct env *e = *state;
	struct rec r[6];
	struct sl_compact_stats st;

	/* Old: "a" set then deleted two days ago; new: "b" set then deleted just now. */
	mkrec(&r[0], "a", "a1", NOW_MS - 3 * DAY_MS);
	mkrec(&r[1], "a", NULL, NOW_MS - 2 * DAY_MS);
	append_batch(e, SL_CODEC_NONE, r, 2);
	mkrec(&r[2], "b", "b1", NOW_MS - 1000);
	mkrec(&r[3], "b", NULL, NOW_MS - 500);
	mkrec(&r[4], "c", "c1", NOW_MS - 400);
	append_batch(e, SL_CODEC_NONE, r + 2, 3);
	mkrec(&r[5], "end", "x", NOW_MS - 300);
	append_batch(e, SL_CODEC_NONE, r + 5, 1);
	roll(e);

	assert_int_equal(compact(e, NULL, &st), 3); /* a1, a's tombstone, b1 */
	assert_int_equal(st.tombstones_dropped, 1);
	read_all(e, 0);
	assert_int_equal(g_got.n, 3);
	assert_int_equal(got_find(r[1].offset), -1);
	assert_true(got_find(r[3].offset) >= 0);
	assert_true(g_got.r[got_find(r[3].offset)].tombstone);

	/* Two days later b's tombstone has outlived delete.retention.ms too. */
	e->now_ms = NOW_MS + 2 * DAY_MS;
	assert_int_equal(compact(e, NULL, &st), 1);
	assert_int_equal(st.tombstones_dropped, 1);
	read_all(e, 0);
	assert_int_equal(got_find(r[3].offset), -1);
	assert_true(got_find(r[4].offset) >= 0);
	assert_true(got_find(r[5].offset) >= 0);
}

static void
test_compact_emptied_last_batch_keeps_last_record(void **state)
{
	struct env *e = *state;
	struct rec r[4];

	/* The segment's last batch holds only keys updated later in the next segment. */
	mkrec(&r[0], "x", "x1", NOW_MS - 10);
	mkrec(&r[1], "y", "y1", NOW_MS - 9);
	append_batch(e, SL_CODEC_NONE, r, 2);
	roll(e);
	mkrec(&r[2], "x", "x2", NOW_MS - 8);
	mkrec(&r[3], "y", "y2", NOW_MS - 7);
	append_batch(e, SL_CODEC_NONE, r + 2, 2);
	roll(e);
	/* Big segments would merge both into one group; keep them apart. */
	e->cfg.segment_bytes = 100;
	sl_plog_set_cfg(e->log, &e->cfg);
	assert_int_equal(compact(e, NULL, NULL), 1);
	read_all(e, 0);
	/* y1 (offset 1) stays so segment 0 still ends at offset 1; x1 goes. */
	assert_int_equal(g_got.n, 3);
	assert_int_equal(got_find(0), -1);
	assert_true(got_find(1) >= 0);
	assert_string_equal(g_got.r[got_find(1)].value, "y1");
	assert_true(got_find(2) >= 0 && got_find(3) >= 0);
}

static void
test_compact_colliding_hashes_keep_distinct_keys(void **state)
{
	struct env *e = *state;
	struct sl_compact_opts o = {.test_hash_bits = 3}; /* 8 hash values for 64 keys */
	struct rec r[64];

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 64; i++) {
			char k[16], v[16];

			snprintf(k, sizeof(k), "key-%d", i);
			snprintf(v, sizeof(v), "r%d-%d", round, i);
			mkrec(&r[i], k, v, NOW_MS - 100 + round);
		}
		append_batch(e, SL_CODEC_LZ4, r, 64);
		roll(e);
	}
	assert_int_equal(compact(e, &o, NULL), 64);
	read_all(e, 0);
	assert_int_equal(g_got.n, 64);
	for (int i = 0; i < 64; i++) {
		char v[16];

		snprintf(v, sizeof(v), "r1-%d", i);
		assert_string_equal(g_got.r[i].value, v);
	}
}

static void
test_compact_small_map_compacts_a_prefix(void **state)
{
	struct env *e = *state;
	/* Room for the table and one block of key bytes, not for thousands of keys. */
	struct sl_compact_opts o = {.map_bytes = 1024 * sizeof(uint64_t) * 5 + 64 * 1024};
	struct sl_compact_stats st;
	static struct rec r[3000];
	int64_t removed;

	/* Segment 0: "dup" written 100 times; segments 1..3: 3000 distinct long keys each. */
	for (int i = 0; i < 100; i++)
		mkrec(&r[i], "dup", "v", NOW_MS - 1000 + i);
	append_batch(e, SL_CODEC_NONE, r, 100);
	roll(e);
	for (int s = 0; s < 3; s++) {
		for (int i = 0; i < 3000; i++) {
			char k[32];

			snprintf(k, sizeof(k), "a-rather-long-key-%d-%05d", s, i);
			mkrec(&r[i], k, "v", NOW_MS - 500);
		}
		for (int b = 0; b < 3000; b += 500)
			append_batch(e, SL_CODEC_NONE, r + b, 500);
		roll(e);
	}
	removed = compact(e, &o, &st);
	assert_int_equal(removed, 99);
	assert_true(st.segments_in >= 1 && st.segments_in < 4);
	assert_true(st.cleaned_upto >= 100 && st.cleaned_upto < 100 + 9000);
	read_all(e, 0);
	assert_int_equal(g_got.n, 1 + 9000);
}

/* A damaged sealed segment stops the pass with an error and changes nothing. */
static void
test_compact_corrupt_segment_ebadmsg_nothing_changed(void **state)
{
	struct env *e = *state;
	char path[300], cmd[700];
	uint8_t b = 0x5a;
	int fd;

	write_workload(e, SL_CODEC_NONE);
	snprintf(path, sizeof(path), "%s/cdc-0/%020d.log", e->root, W_BATCHES * W_PER * 2);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &b, 1, 200), 1);
	close(fd);
	assert_int_equal(compact(e, NULL, NULL), -EBADMSG);
	snprintf(cmd, sizeof(cmd), "ls %s/cdc-0 | grep -q -e cleaned -e swap -e %s", e->root,
	         SL_CLEANER_CKPT);
	assert_int_not_equal(system(cmd), 0);
	/* The segments before the damaged one read back unchanged. */
	read_all(e, 0);
	assert_true(g_got.n >= W_BATCHES * W_PER * 2);
	for (int i = 0; i < W_BATCHES * W_PER * 2; i++)
		assert_string_equal(g_got.r[i].value, w_recs[i].value);
}

static void
test_compact_transactional_batches_copied_unchanged(void **state)
{
	struct env *e = *state;
	struct rec r[3];

	mkrec(&r[0], "k", "txn-1", NOW_MS - 10);
	mkrec(&r[1], "k", "txn-2", NOW_MS - 9);
	append_batch_x(e, SL_CODEC_NONE, r, 2, 7, SL_RB_ATTR_TRANSACTIONAL);
	mkrec(&r[2], "end", "e", NOW_MS - 8);
	append_batch(e, SL_CODEC_NONE, r + 2, 1);
	roll(e);
	assert_int_equal(compact(e, NULL, NULL), 0);
	read_all(e, 0);
	assert_int_equal(g_got.n, 3);
}

static void
test_compact_respects_min_lag_and_policy(void **state)
{
	struct env *e = *state;

	write_workload(e, SL_CODEC_NONE);
	/* Not a compacted topic: nothing happens. */
	e->cfg.cleanup_policy = SL_CLEANUP_DELETE;
	sl_plog_set_cfg(e->log, &e->cfg);
	assert_int_equal(compact(e, NULL, NULL), 0);
	/* Every record is younger than the lag: nothing is cleanable. */
	e->cfg.cleanup_policy = SL_CLEANUP_COMPACT | SL_CLEANUP_DELETE;
	e->cfg.min_compaction_lag_ms = DAY_MS;
	sl_plog_set_cfg(e->log, &e->cfg);
	assert_int_equal(compact(e, NULL, NULL), 0);
	read_all(e, 0);
	assert_int_equal(g_got.n, w_n);
	e->cfg.min_compaction_lag_ms = 0;
	sl_plog_set_cfg(e->log, &e->cfg);
	assert_true(compact(e, NULL, NULL) > 0);
	/* A second pass finds nothing more to remove. */
	assert_int_equal(compact(e, NULL, NULL), 0);
	read_all(e, 0);
	check_workload_compacted();
}

static void
copy_file(const char *from, const char *to)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

/*
 * Crash states of the swap, built from the files of a real compaction: the compacted
 * segment file is placed beside an uncompacted copy of the log as .cleaned (crash before
 * the rename to .swap: must roll back) or .swap (crash after it: must complete, also when
 * some old segments were already deleted).
 */
static void
test_compact_recovery_after_crash_mid_swap_consistent(void **state)
{
	struct env *e = *state;
	char part[200], saved[200], cmd[2048], from[300], to[300];
	struct sl_compact_stats st;

	write_workload(e, SL_CODEC_SNAPPY);
	log_close(e);
	snprintf(part, sizeof(part), "%s/cdc-0", e->root);
	snprintf(saved, sizeof(saved), "%s/saved", e->root);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", part, saved);
	assert_int_equal(system(cmd), 0);
	log_open(e);
	/* One group: all six segments merge into 00000000000000000000.log. */
	assert_true(compact(e, NULL, &st) > 0);
	assert_int_equal(st.segments_out, 1);
	log_close(e);
	snprintf(from, sizeof(from), "%s/00000000000000000000.log", part);
	snprintf(to, sizeof(to), "%s/compacted.log", e->root);
	copy_file(from, to);

	for (int state_no = 0; state_no < 3; state_no++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", part, saved, part);
		assert_int_equal(system(cmd), 0);
		snprintf(from, sizeof(from), "%s/00000000000000000000.log%s", part,
		         state_no == 0 ? ".cleaned" : ".swap");
		copy_file(to, from);
		if (state_no == 2) {
			/* The old segments after the first were already deleted. */
			snprintf(cmd, sizeof(cmd),
			         "cd '%s' && for f in 0*.log; do case $f in "
			         "00000000000000000000.log) ;; *) b=${f%%.log}; "
			         "[ \"$b\" = \"$(ls 0*.log | tail -1 | sed 's/.log$//')\" ] || "
			         "rm -f $b.log $b.index $b.timeindex;; esac; done",
			         part);
			assert_int_equal(system(cmd), 0);
		}
		log_open(e);
		read_all(e, 0);
		assert_offsets_increase();
		if (state_no == 0) {
			/* Rolled back: the uncompacted log, every record. */
			assert_int_equal(g_got.n, w_n + 0);
			snprintf(from, sizeof(from), "%s/00000000000000000000.log.cleaned", part);
			assert_int_equal(access(from, F_OK), -1);
		} else {
			/* Completed: the compacted log. */
			check_workload_compacted();
		}
		assert_int_equal(sl_plog_end_offset(e->log), w_n);
		log_close(e);
	}
	log_open(e);
}

/* The key map's hash is SipHash-2-4-128: the reference vectors (key 00..0f, message
 * 00..len-1, output as two little-endian words) of Aumasson and Bernstein. */
static void
test_compact_siphash128_reference_vectors(void **state)
{
	static const struct {
		size_t len;
		uint8_t out[16];
	} v[] = {
	        {0,
	         {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14, 0xc7,
	          0x55, 0x02, 0x93}},
	        {1,
	         {0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44, 0x34, 0x76, 0x59, 0x11, 0x9b,
	          0x22, 0xfc, 0x45}},
	        {7,
	         {0xa1, 0xf1, 0xeb, 0xbe, 0xd8, 0xdb, 0xc1, 0x53, 0xc0, 0xb8, 0x4a, 0xa6, 0x1f,
	          0xf0, 0x82, 0x39}},
	        {8,
	         {0x3b, 0x62, 0xa9, 0xba, 0x62, 0x58, 0xf5, 0x61, 0x0f, 0x83, 0xe2, 0x64, 0xf3,
	          0x14, 0x97, 0xb4}},
	        {15,
	         {0x54, 0x93, 0xe9, 0x99, 0x33, 0xb0, 0xa8, 0x11, 0x7e, 0x08, 0xec, 0x0f, 0x97,
	          0xcf, 0xc3, 0xd9}},
	        {63,
	         {0x51, 0x50, 0xd1, 0x77, 0x2f, 0x50, 0x83, 0x4a, 0x50, 0x3e, 0x06, 0x9a, 0x97,
	          0x3f, 0xbd, 0x7c}},
	};
	uint8_t key[16], msg[64];

	(void)state;
	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(v); i++) {
		uint64_t h[2];
		uint8_t got[16];

		sl_compact_siphash128(key, msg, v[i].len, h);
		for (unsigned b = 0; b < 8; b++) {
			got[b] = (uint8_t)(h[0] >> (8 * b));
			got[8 + b] = (uint8_t)(h[1] >> (8 * b));
		}
		assert_memory_equal(got, v[i].out, 16);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_compact_siphash128_reference_vectors),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	        T(test_compact_latest_value_per_key_survives),
	        T(test_compact_offsets_and_log_end_kept),
	        T(test_compact_reads_after_compaction_return_compacted_data),
	        T(test_compact_every_codec_round_trips),
	        T(test_compact_tombstones_dropped_only_after_delete_retention),
	        T(test_compact_emptied_last_batch_keeps_last_record),
	        T(test_compact_colliding_hashes_keep_distinct_keys),
	        T(test_compact_small_map_compacts_a_prefix),
	        T(test_compact_transactional_batches_copied_unchanged),
	        T(test_compact_corrupt_segment_ebadmsg_nothing_changed),
	        T(test_compact_respects_min_lag_and_policy),
	        T(test_compact_recovery_after_crash_mid_swap_consistent),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
