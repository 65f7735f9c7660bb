// SPDX-License-Identifier: Apache-2.0
/*
 * mlog.c: the metadata log. Topics, their partition counts and config overrides live in
 * <log_dir>/__cluster_metadata-0, a partition log of the storage engine (storage/plog.h)
 * that the control thread owns together with its own struct sl_uring and struct sl_store.
 *
 * Records (RecordBatch v2, uncompressed, one record per batch, durable: an append
 * completes after its fdatasync):
 *
 *   key   = topic name
 *   value = the topic's whole state, in the text format of the legacy .meta files
 *           ("version=1\nid=<32 hex>\npartitions=N\nconfig.<name>=<escaped value>\n..."),
 *           or null (a tombstone): the topic was deleted (or its deletion started)
 *   header "op" = "create", "config", "partitions", "delete" (what changed; replay does
 *           not need it, log dumps do)
 *
 * Replay (ctl_mlog_open, at start-up, on the main thread before the control thread runs)
 * reads every batch from the log start, and the last record per key wins; the caller
 * (topic.c, ctl_load) turns the survivors into topics and finishes deletions of the
 * tombstoned ones. The log is a compacted topic (cleanup.policy=compact) that is never
 * deleted by time or size; nothing compacts it yet (a few records per admin operation).
 *
 * The ring and the store are shared by every internal log of the control thread: the
 * committed offsets (__consumer_offsets-0, control/offsets.c) use them too, through
 * ctl_store_get, ctl_ilog_append and ctl_ilog_replay below. They exist as soon as either
 * log is opened (with or without o.metadata_log) and go in ctl_mlog_close, which runs
 * after the offset store is closed.
 *
 * Threads: open on the main thread, then append/close on the control thread only. Blocks
 * (appends wait for their fdatasync by running the ring; admin operations are rare).
 * Allocates the store's buffers once at open (small: 4 chunks of 1 MiB).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/uring.h"
#include "control/ctrl_int.h"
#include "control/offsets.h"
#include "storage/codec.h"
#include "storage/plog.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define MLOG_CHUNK_BYTES (1u << 20) /* also the largest record: topic states are small */
#define MLOG_CHUNKS 4
#define MLOG_READ_BYTES (1u << 20)
#define MLOG_READ_BUFS 2
#define MLOG_URING_ENTRIES 64

struct ctl_mlog {
	struct sl_uring ring;
	struct sl_store *st;
	struct sl_plog *log; /* the metadata log, once ctl_mlog_open ran */
	uint8_t *buf;        /* batch being built */
	uint8_t *scratch;
};

static void
mlog_free(struct ctl_mlog *m)
{
	if (!m)
		return;
	if (m->log)
		(void)sl_plog_close(m->log);
	if (m->st)
		sl_store_destroy(m->st);
	sl_uring_fini(&m->ring);
	free(m->buf);
	free(m->scratch);
	free(m);
}

/* The shared ring + store (created on first use). 0 or -errno. */
static int
mlog_get(struct sl_ctrl *c, struct ctl_mlog **out)
{
	struct sl_store_opts so;
	struct ctl_mlog *m = c->mlog;
	int r;

	if (m) {
		*out = m;
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->buf = malloc(MLOG_CHUNK_BYTES);
	m->scratch = malloc(MLOG_CHUNK_BYTES);
	r = !m->buf || !m->scratch ? -ENOMEM : sl_uring_init(&m->ring, MLOG_URING_ENTRIES, 0);
	if (r < 0) {
		free(m->buf);
		free(m->scratch);
		free(m);
		return r;
	}
	sl_store_opts_default(&so);
	so.chunk_bytes = MLOG_CHUNK_BYTES;
	so.nr_chunks = MLOG_CHUNKS;
	so.read_buf_bytes = MLOG_READ_BYTES;
	so.nr_read_bufs = MLOG_READ_BUFS;
	r = sl_store_create(&m->st, &m->ring, &so);
	if (r < 0) {
		mlog_free(m);
		return r;
	}
	c->mlog = m;
	*out = m;
	return 0;
}

int
ctl_store_get(struct sl_ctrl *c, struct sl_store **st, struct sl_uring **ring)
{
	struct ctl_mlog *m;
	int r = mlog_get(c, &m);

	if (r < 0)
		return r;
	*st = m->st;
	*ring = &m->ring;
	return 0;
}

struct mlog_wait {
	bool done;
};

static void
append_done(struct sl_append *a)
{
	((struct mlog_wait *)a->arg)->done = true;
}

static void
read_done(struct sl_read *r)
{
	((struct mlog_wait *)r->arg)->done = true;
}

/* Runs the ring until *flag (the store's writes and syncs go out in sl_store_poll). */
static void
run_until(struct sl_store *st, struct sl_uring *ring, const bool *flag)
{
	while (!*flag) {
		sl_store_poll(st, sl_wall_ms());
		(void)sl_uring_run(ring, 1, 10 * 1000 * 1000);
	}
}

int
ctl_ilog_append(struct sl_store *st, struct sl_uring *ring, struct sl_plog *log,
                const void *batch, size_t len)
{
	struct sl_append a = {0};
	struct mlog_wait w = {false};
	struct iovec iov;
	int r;

	iov.iov_base = (void *)batch;
	iov.iov_len = len;
	a.done = append_done;
	a.arg = &w;
	do {
		r = sl_plog_append(log, &iov, 1, &a);
		if (r == -ENOSPC) { /* chunks still being written: let them finish */
			sl_store_poll(st, sl_wall_ms());
			(void)sl_uring_run(ring, 1, 10 * 1000 * 1000);
		}
	} while (r == -ENOSPC);
	if (r < 0) /* -errno, or an enum sl_rb_err for a batch we built wrong */
		return r <= -1000 ? -EIO : r;
	run_until(st, ring, &w.done);
	return a.err;
}

int
ctl_mlog_append(struct sl_ctrl *c, const char *op, const char *key, size_t klen,
                const char *val, size_t vlen)
{
	struct ctl_mlog *m = c->mlog;
	struct sl_rb_builder b;
	struct sl_rb_kv h = {0};
	int64_t len;
	int r;

	if (!m || !m->log)
		return -EBADF;
	h.key = (const uint8_t *)"op";
	h.key_len = 2;
	h.value = (const uint8_t *)op;
	h.value_len = (int32_t)strlen(op);
	r = sl_rb_builder_init(&b, m->buf, MLOG_CHUNK_BYTES / 2, SL_CODEC_NONE, 0, sl_wall_ms(), -1,
	                       -1, -1);
	if (r == 0)
		r = sl_rb_builder_add(&b, sl_wall_ms(), key, (int32_t)klen, val,
		                      val ? (int32_t)vlen : -1, &h, 1);
	if (r < 0)
		return r == -ENOBUFS ? -EMSGSIZE : r;
	len = sl_rb_builder_finish(&b, NULL);
	if (len < 0)
		return (int)len;
	r = ctl_ilog_append(m->st, &m->ring, m->log, m->buf, (size_t)len);
	if (r < 0)
		SL_ERR("control: metadata log write failed: %s", strerror(-r));
	return r;
}

int
ctl_ilog_replay(struct sl_store *st, struct sl_uring *ring, struct sl_plog *log,
                struct sl_rb_scratch *scratch, ctl_ilog_rec_fn fn, void *arg)
{
	int64_t off = sl_plog_start_offset(log);
	int64_t hw = sl_plog_high_watermark(log);
	int n = 0;

	while (off < hw) {
		struct mlog_wait w = {false};
		struct sl_read rd = {0};
		size_t pos = 0;
		int r;

		rd.done = read_done;
		rd.arg = &w;
		rd.offset = off;
		rd.max_bytes = MLOG_READ_BYTES / 2;
		r = sl_plog_read(log, &rd);
		if (r < 0)
			return r;
		if (r == 0)
			run_until(st, ring, &w.done);
		if (rd.err < 0)
			return rd.err;
		if (rd.len == 0)
			break;
		while (pos < rd.len) {
			struct sl_rb_hdr hdr;
			struct sl_rb_iter it;
			struct sl_rb_rec rec;
			int64_t bl;

			bl = sl_rb_validate(rd.data + pos, rd.len - pos, UINT32_MAX,
			                    SL_RB_VALIDATE_STORED, scratch, &hdr);
			if (bl <= 0 || (size_t)bl > rd.len - pos ||
			    sl_rb_iter_init(&it, rd.data + pos, (size_t)bl, scratch) != 0) {
				sl_rbuf_unref(rd.buf);
				SL_ERR("control: internal log: bad batch at offset %lld",
				       (long long)off);
				return -EBADMSG;
			}
			while (sl_rb_iter_next(&it, &rec) == 1) {
				if (rec.offset < off)
					continue;
				r = fn(arg, &rec);
				if (r < 0) {
					sl_rbuf_unref(rd.buf);
					return r;
				}
				n++;
			}
			off = SL_MAX(off, hdr.base_offset + hdr.last_offset_delta + 1);
			pos += (size_t)bl;
		}
		sl_rbuf_unref(rd.buf);
	}
	return n;
}

struct mlog_cb {
	ctl_mlog_replay_fn cb;
	void *arg;
};

static int
mlog_rec(void *arg, const struct sl_rb_rec *rec)
{
	struct mlog_cb *x = arg;

	if (rec->key_len <= 0)
		return 0;
	x->cb(x->arg, (const char *)rec->key, (size_t)rec->key_len,
	      rec->value_len < 0 ? NULL : (const char *)rec->value,
	      rec->value_len < 0 ? 0 : (size_t)rec->value_len);
	return 0;
}

int
ctl_mlog_open(struct sl_ctrl *c, ctl_mlog_replay_fn cb, void *arg)
{
	struct sl_rb_scratch scratch;
	struct mlog_cb x = {cb, arg};
	struct sl_plog_cfg cfg;
	struct ctl_mlog *m;
	int r;

	if (c->mlog && c->mlog->log)
		return 0;
	r = mlog_get(c, &m);
	if (r < 0)
		goto out_err;
	sl_plog_cfg_default(&cfg);
	cfg.durable = true;
	cfg.cleanup_policy = SL_CLEANUP_COMPACT;
	cfg.retention_ms = -1;
	cfg.retention_bytes = -1;
	cfg.segment_bytes = 64u << 20;
	cfg.preallocate_bytes = 1u << 20;
	r = sl_plog_open(&m->log, m->st, c->log_dir, SL_MLOG_TOPIC, 0, &cfg);
	if (r < 0) {
		m->log = NULL;
		goto out_err;
	}
	scratch.buf = m->scratch;
	scratch.cap = MLOG_CHUNK_BYTES;
	r = ctl_ilog_replay(m->st, &m->ring, m->log, &scratch, mlog_rec, &x);
	if (r < 0) {
		(void)sl_plog_close(m->log);
		m->log = NULL;
		goto out_err;
	}
	SL_INFO("control: metadata log: %d record(s) replayed, next offset %lld", r,
	        (long long)sl_plog_end_offset(m->log));
	return 0;
out_err:
	SL_ERR("control: metadata log %s/%s-0: %s", c->log_dir, SL_MLOG_TOPIC, strerror(-r));
	return r;
}

int
ctl_offs_open(struct sl_ctrl *c, struct sl_offs **out)
{
	struct sl_offs_log_cfg lc = {0};
	const char *bo = ctl_bprop(c, "log.cleaner.backoff.ms");
	char *legacy;
	int r;

	*out = NULL;
	r = ctl_store_get(c, &lc.st, &lc.ring);
	if (r < 0)
		return r;
	if (asprintf(&legacy, "%s/.sluice-offsets", c->log_dir) < 0)
		return -ENOMEM;
	lc.dir = c->log_dir;
	lc.legacy_dir = legacy;
	lc.compact_backoff_ms = 15000;
	if (bo) {
		char *end;
		long long v = strtoll(bo, &end, 10);

		if (end != bo && !*end && v > 0)
			lc.compact_backoff_ms = v;
	}
	r = sl_offs_open_log(out, &lc);
	free(legacy);
	return r;
}

void
ctl_mlog_close(struct sl_ctrl *c)
{
	mlog_free(c->mlog);
	c->mlog = NULL;
}

bool
ctl_mlog_on(const struct sl_ctrl *c)
{
	return c->mlog && c->mlog->log;
}
