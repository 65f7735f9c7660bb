// SPDX-License-Identifier: Apache-2.0
/*
 * plog.c: the partition log: open/close, append (copy once into the chunk, validate,
 * assign offsets, index), group commit through the store's io_uring, the high watermark,
 * and reads from the tail cache or the segment files.
 *
 * Store thread only; completions run inside sl_uring_reap() of the store's ring. The
 * append and read paths allocate nothing and make no syscall; rolling a segment (once per
 * segment.bytes / segment.ms) creates files synchronously, and sealing one trims it with
 * ftruncate from its completion. Open, close and remove block.
 *
 * Up to wg_max (O_DIRECT: wg_max_direct) I/O groups per log are in flight at a time (invariant 3 in plog_int.h), each
 * writing the bytes appended since the previous one:
 *
 *   append -> end_lpos grows ---- sl_store_poll -> log_issue ----------------------+
 *                       (issued_lpos grows)  [fallocate] [write (linked ->) fdatasync] [dir fsync]
 *                                                                                  |
 *   done() <- complete_appends <- retire_groups: the oldest groups whose SQEs all  |
 *             completed, in issue order (written_lpos / synced_lpos advance)  <----+
 *
 * O_DIRECT writes start at the 4 KiB block holding issued_lpos and end at the next block
 * boundary past the data (zero padding), so the partial last block is rewritten by the next
 * write, which therefore waits until the earlier write of that block completed. When a new
 * chunk starts mid-block, the partial block is carried into it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/log.h"
#include "storage/plog_int.h"
#include "storage/pstate.h"
#include "storage/rbatch.h"

void
sl_plog_cfg_default(struct sl_plog_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->segment_bytes = 1ull << 30;
	cfg->segment_ms = 7LL * 24 * 3600 * 1000;
	cfg->retention_ms = 7LL * 24 * 3600 * 1000;
	cfg->retention_bytes = -1;
	cfg->flush_messages = INT64_MAX;
	cfg->flush_ms = INT64_MAX;
	cfg->durable = false;
	cfg->cleanup_policy = SL_CLEANUP_DELETE;
	cfg->delete_retention_ms = 24LL * 3600 * 1000;
	cfg->min_compaction_lag_ms = 0;
	cfg->max_message_bytes = 1048588;
	cfg->index_interval_bytes = 4096;
	cfg->segment_index_bytes = 10u << 20;
	cfg->preallocate_bytes = 16u << 20;
}

static int64_t
store_now(const struct sl_store *st)
{
	return st->now_ms >= 0 ? st->now_ms : sl_wall_ms();
}

static void
cfg_sanitize(struct sl_plog_cfg *c)
{
	if (c->segment_bytes == 0 || c->segment_bytes > SL_SEG_MAX_BYTES)
		c->segment_bytes = SL_SEG_MAX_BYTES;
	if (c->segment_ms <= 0)
		c->segment_ms = INT64_MAX;
	if (c->flush_messages <= 0)
		c->flush_messages = 1;
	if (c->flush_ms < 0)
		c->flush_ms = 0;
	if (c->segment_index_bytes < 4 * SL_TIDX_ENTRY)
		c->segment_index_bytes = 4 * SL_TIDX_ENTRY;
	c->preallocate_bytes = SL_ALIGN_UP(c->preallocate_bytes, (uint64_t)SL_BLK);
}

const struct sl_plog_cfg *
sl_plog_cfg(const struct sl_plog *log)
{
	return &log->cfg;
}

/*
 * O_DIRECT for durable logs, whose appends wait for fdatasync anyway; the page cache for the
 * others, as Kafka's acks=1: a buffered write completes in microseconds and survives a crash
 * of the process, while an O_DIRECT write waits for the device (p99 of tens of ms measured on
 * these virtio disks under load). direct_nondurable forces O_DIRECT for every log.
 */
static bool
want_direct(const struct sl_store *st, const struct sl_plog_cfg *cfg)
{
	return !st->o.force_buffered && (cfg->durable || st->o.direct_nondurable);
}

void
sl_plog_set_cfg(struct sl_plog *log, const struct sl_plog_cfg *cfg)
{
	log->cfg = *cfg;
	cfg_sanitize(&log->cfg);
	log->direct = want_direct(log->st, &log->cfg); /* from the next segment on */
	sl_plog_mark_dirty(log);
}

int64_t
sl_plog_start_offset(const struct sl_plog *log)
{
	return log->start_offset;
}

int64_t
sl_plog_end_offset(const struct sl_plog *log)
{
	return log->next_offset;
}

int64_t
sl_plog_high_watermark(const struct sl_plog *log)
{
	return log->hw;
}

uint64_t
sl_plog_size_bytes(const struct sl_plog *log)
{
	return log->size_bytes;
}

void
sl_plog_set_hw_hook(struct sl_plog *log, sl_plog_hw_fn fn, void *arg)
{
	log->hw_fn = fn;
	log->hw_arg = arg;
}

void
sl_plog_mark_dirty(struct sl_plog *log)
{
	if (log->in_dirty)
		return;
	log->in_dirty = true;
	log->dirty_next = log->st->dirty;
	log->st->dirty = log;
}

static void
dirty_remove(struct sl_plog *log)
{
	struct sl_plog **pp;

	if (!log->in_dirty)
		return;
	for (pp = &log->st->dirty; *pp; pp = &(*pp)->dirty_next) {
		if (*pp == log) {
			*pp = log->dirty_next;
			break;
		}
	}
	log->in_dirty = false;
	log->dirty_next = NULL;
}

int
sl_plog_find_seg(const struct sl_plog *log, int64_t offset)
{
	unsigned lo = 0, hi = log->nsegs;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (log->segs[mid]->base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int)lo - 1;
}

bool
sl_plog_check(const struct sl_plog *log)
{
	const struct sl_chunk *c;
	unsigned i;

	if (log->nsegs == 0 || log->segs[log->nsegs - 1] != log->active || !log->active->active)
		return false;
	for (i = 1; i < log->nsegs; i++)
		if (log->segs[i - 1]->base_offset >= log->segs[i]->base_offset)
			return false;
	if (log->hw_lpos > log->written_lpos || log->synced_lpos > log->written_lpos ||
	    log->written_lpos > log->issued_lpos || log->issued_lpos > log->end_lpos ||
	    log->hw > log->next_offset ||
	    log->io_pending > SL_MAX(log->wg_max, log->wg_max_direct))
		return false;
	for (c = log->ch_head; c; c = c->next) {
		if (c->next && c->next->first_offset < c->first_offset)
			return false;
		if (c->fill < c->data_start || c->log != log)
			return false;
	}
	if (log->cur && log->cur != log->ch_tail)
		return false;
	return true;
}

/* ---- open / close ---- */

static void wr_done(struct sl_uop *op, int res, unsigned flags);
static void sync_done(struct sl_uop *op, int res, unsigned flags);
static void dsync_done(struct sl_uop *op, int res, unsigned flags);
static void fal_done(struct sl_uop *op, int res, unsigned flags);
static void log_issue(struct sl_plog *log, int64_t now, bool force_sync);
static void inline_deliver(struct sl_store *st);
static void seal_sync_done(struct sl_uop *op, int res, unsigned flags);
static void log_fail(struct sl_plog *log, int err);
static void seal_finish(struct sl_plog *log, struct sl_seg *s);
static void idx_sync_done0(struct sl_uop *op, int res, unsigned flags);
static void idx_sync_done1(struct sl_uop *op, int res, unsigned flags);
static void read_fail_waiting(struct sl_plog *log);

static bool
topic_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;

	if (n == 0 || n > 249 || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return false;
	return strchr(t, '/') == NULL;
}

static void
plog_free(struct sl_plog *log)
{
	unsigned i;

	while (log->ch_head)
		sl_chunk_release(log->st, log->ch_head);
	for (i = 0; i < log->nsegs; i++)
		sl_seg_put(log->segs[i]);
	if (log->dirfd >= 0)
		close(log->dirfd);
	sl_pstate_fini(&log->ps);
	free(log->segs);
	free(log->tail_blk);
	free(log->path);
	free(log->topic);
	free(log);
}

int
sl_plog_open(struct sl_plog **out, struct sl_store *st, const char *dir, const char *topic,
             int32_t partition, const struct sl_plog_cfg *cfg)
{
	struct sl_plog *log;
	unsigned i;
	int rc;

	if (!out || !st || !dir || !cfg || !topic_ok(topic) || partition < 0)
		return -EINVAL;
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->st = st;
	log->dirfd = -1;
	log->cfg = *cfg;
	cfg_sanitize(&log->cfg);
	log->partition = partition;
	log->topic = strdup(topic);
	if (!log->topic || asprintf(&log->path, "%s/%s-%d", dir, topic, partition) < 0) {
		log->path = NULL;
		rc = -ENOMEM;
		goto out_free;
	}
	if (posix_memalign((void **)&log->tail_blk, SL_BLK, SL_BLK)) {
		log->tail_blk = NULL;
		rc = -ENOMEM;
		goto out_free;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out_free;
	}
	if (mkdir(log->path, 0755) == 0) {
		/* A new partition directory: make its entry durable in the parent. */
		int pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (pfd >= 0) {
			(void)fsync(pfd);
			close(pfd);
		}
	} else if (errno != EEXIST) {
		rc = -errno;
		goto out_free;
	}
	log->dirfd = open(log->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (log->dirfd < 0) {
		rc = -errno;
		goto out_free;
	}
	log->direct = want_direct(st, &log->cfg);
	log->wg_max = SL_MIN(SL_MAX(st->o.write_groups, 1u), (unsigned)SL_WG_MAX);
	log->wg_max_direct = SL_MIN(SL_MAX(st->o.write_groups_direct, 1u), (unsigned)SL_WG_MAX);
	for (i = 0; i < SL_WG_MAX; i++) {
		log->wg[i].log = log;
		log->wg[i].wr_uop.fn = wr_done;
		log->wg[i].sync_uop.fn = sync_done;
		log->wg[i].dsync_uop.fn = dsync_done;
		log->wg[i].fal_uop.fn = fal_done;
	}
	log->seal_uop.fn = seal_sync_done;
	log->idx_uop[0].fn = idx_sync_done0;
	log->idx_uop[1].fn = idx_sync_done1;
	log->last_sync_ms = store_now(st);
	rc = sl_plog_recover(log, topic, partition);
	if (rc)
		goto out_free;
	rc = sl_pstate_init(&log->ps, 4); /* 8 slots, ~1 KiB; grows with producers */
	if (rc)
		goto out_free;
	rc = sl_plog_pstate_rebuild(log);
	if (rc)
		goto out_free;
	log->next = st->logs;
	if (st->logs)
		st->logs->prev = log;
	st->logs = log;
	SL_ASSERT(sl_plog_check(log));
	*out = log;
	return 0;

out_free:
	plog_free(log);
	return rc;
}

void
sl_plog_quiesce(struct sl_plog *log)
{
	while (log->io_pending || log->reads_inflight || log->seal_seg || log->idx_seg ||
	       log->zero_hi)
		(void)sl_uring_run(log->st->ring, 1, -1);
}

static bool
all_flushed(const struct sl_plog *log)
{
	unsigned i;

	if (log->written_lpos < log->end_lpos || log->synced_lpos < log->written_lpos ||
	    log->ap_head || log->need_dirsync)
		return false;
	for (i = 0; i + 1 < log->nsegs; i++)
		if (!log->segs[i]->sealed)
			return false;
	return true;
}

/* Frees preallocated blocks past the data and trims the file to its size. Blocking. */
static int
seg_trim(struct sl_seg *s)
{
	uint64_t keep = SL_ALIGN_UP(s->size, (uint64_t)SL_BLK);

	if (s->prealloc_end > keep)
		(void)fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)keep,
		                (off_t)(s->prealloc_end - keep));
	s->prealloc_end = 0;
	if (ftruncate(s->fd, (off_t)s->size) < 0)
		return -errno;
	return 0;
}

static int
write_marker(struct sl_plog *log)
{
	int fd =
	        openat(log->dirfd, SL_CLEAN_MARKER, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	close(fd);
	if (fsync(log->dirfd) < 0)
		return -errno;
	return 0;
}

static void
idx_sync_step(struct sl_plog *log, int res)
{
	struct sl_seg *s = log->idx_seg;

	if (res < 0 && !log->idx_res)
		log->idx_res = res;
	if (--log->idx_pending)
		return;
	log->idx_seg = NULL;
	log->st->inflight--;
	if (log->idx_res)
		SL_LOG_RATELIMIT(SL_LOG_WARN, "plog %s: index sync: %s (tried again later)",
		                 log->path, strerror(-log->idx_res));
	else
		s->idx_synced = true;
	log->rp_dirty = true; /* the next retain moves the recovery point */
	sl_seg_put(s);
}

static void
idx_sync_done0(struct sl_uop *op, int res, unsigned flags)
{
	(void)flags;
	idx_sync_step(SL_CONTAINER_OF(op, struct sl_plog, idx_uop[0]), res);
}

static void
idx_sync_done1(struct sl_uop *op, int res, unsigned flags)
{
	(void)flags;
	idx_sync_step(SL_CONTAINER_OF(op, struct sl_plog, idx_uop[1]), res);
}

/* Starts fdatasyncs of s's index files through the ring (for a shared mapping that is what
 * msync(MS_SYNC) does). Returns false when there is nothing to sync. */
static bool
idx_sync_start(struct sl_plog *log, struct sl_seg *s)
{
	const struct sl_idx *x[2] = {&s->oidx, &s->tidx};
	unsigned i;

	log->idx_pending = 0;
	log->idx_res = 0;
	for (i = 0; i < 2; i++) {
		struct io_uring_sqe *sqe;

		if (x[i]->fd < 0)
			continue;
		sqe = sl_uring_sqe(log->st->ring, &log->idx_uop[log->idx_pending]);
		io_uring_prep_fsync(sqe, x[i]->fd, IORING_FSYNC_DATASYNC);
		log->idx_pending++;
	}
	if (!log->idx_pending)
		return false;
	s->refs++;
	log->idx_seg = s;
	log->st->inflight++;
	return true;
}

int
sl_plog_update_rp(struct sl_plog *log, bool sync)
{
	int64_t rp = log->active->base_offset;
	bool rp_set = false;
	unsigned i;
	int rc;

	for (i = 0; i + 1 < log->nsegs; i++) {
		struct sl_seg *s = log->segs[i];

		if (!s->sealed) {
			if (!rp_set)
				rp = s->base_offset;
			break; /* segments seal in order */
		}
		if (s->trim_pending) {
			/* Deferred from seal_finish: the completion path makes no syscalls. */
			rc = seg_trim(s);
			if (!rc)
				rc = sl_idx_trim(&s->oidx);
			if (!rc)
				rc = sl_idx_trim(&s->tidx);
			if (rc)
				return rc;
			s->trim_pending = false;
		}
		if (!s->idx_synced && !log->closing && !log->idx_seg && !idx_sync_start(log, s))
			s->idx_synced = true; /* no index files */
		if (!s->idx_synced && log->closing) {
			rc = sl_idx_sync(&s->oidx);
			if (!rc)
				rc = sl_idx_sync(&s->tidx);
			if (rc)
				return rc;
			s->idx_synced = true;
		}
		/* The recovery point passes s once its index sync (through the ring) is done. */
		if (!s->idx_synced && !rp_set) {
			rp = s->base_offset;
			rp_set = true;
		}
	}
	rc = sl_plog_ckpt_write(log, SL_RP_CKPT, rp, sync);
	if (!rc)
		log->rp_dirty = false;
	return rc;
}

static void complete_appends(struct sl_plog *log);

int
sl_plog_close(struct sl_plog *log)
{
	struct sl_store *st;
	struct sl_seg *a;
	int rc;

	if (!log)
		return -EINVAL;
	st = log->st;
	log->closing = true;
	read_fail_waiting(log);
	for (;;) {
		if (!log->io_pending) {
			/* duplicates (append_dup) waiting on nothing in flight */
			if (log->ap_head && !log->err)
				complete_appends(log);
			if (log->err || all_flushed(log))
				break;
			log_issue(log, store_now(st), true);
			if (st->inl_head) {
				inline_deliver(st); /* a write made inline (inline_buffered) */
				continue;
			}
			/* Only a rolled segment's detached seal (or a zero write) may have
			 * started: the rest is written once it is done. Leaving here lost the
			 * appends to the next segment (and never acknowledged them). */
			if (!log->io_pending && !log->seal_seg && !log->zero_hi)
				break;
		}
		(void)sl_uring_run(st->ring, 1, -1);
	}
	sl_plog_quiesce(log);
	dirty_remove(log);
	rc = log->err;
	a = log->active;
	if (!rc) {
		sl_seg_index_final(a);
		rc = seg_trim(a);
		if (!rc && fdatasync(a->fd) < 0)
			rc = -errno;
		if (!rc)
			rc = sl_idx_trim(&a->oidx);
		if (!rc)
			rc = sl_idx_trim(&a->tidx);
		if (!rc)
			rc = sl_idx_sync(&a->oidx);
		if (!rc)
			rc = sl_idx_sync(&a->tidx);
		if (!rc)
			rc = sl_plog_update_rp(log, false);
		if (!rc && sl_plog_pstate_save(log) < 0)
			SL_WARN("plog %s: no producer-state snapshot; the next open scans the log",
			        log->path);
		if (!rc)
			rc = write_marker(log);
		if (rc)
			SL_ERR("plog %s: close: %s", log->path, strerror(-rc));
	}
	if (log->prev)
		log->prev->next = log->next;
	else
		st->logs = log->next;
	if (log->next)
		log->next->prev = log->prev;
	plog_free(log);
	return rc;
}

int
sl_plog_remove(struct sl_plog *log)
{
	char *path;
	int dfd, rc;

	if (!log)
		return -EINVAL;
	path = strdup(log->path);
	if (!path)
		return -ENOMEM;
	(void)sl_plog_close(log);
	rc = 0;
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		DIR *d = fdopendir(dfd);
		struct dirent *de;

		if (d) {
			while ((de = readdir(d)) != NULL) {
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					unlinkat(dirfd(d), de->d_name, 0);
			}
			closedir(d);
		} else {
			close(dfd);
		}
	}
	if (rmdir(path) < 0 && errno != ENOENT)
		rc = -errno;
	free(path);
	return rc;
}

/* ---- append ---- */

int
sl_plog_roll(struct sl_plog *log)
{
	struct sl_seg *old = log->active, *s;
	int64_t base = log->next_offset;
	bool direct = log->direct;
	int rc;

	if (old->size == 0 && old->base_offset == base)
		return 0;
	if (log->nsegs == log->segs_cap) {
		unsigned cap = log->segs_cap ? 2 * log->segs_cap : 8;
		struct sl_seg **n = realloc(log->segs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		log->segs = n;
		log->segs_cap = cap;
	}
	sl_seg_unlink_files(log->dirfd, base); /* leftovers of an earlier life, if any */
	rc = sl_seg_open(&s, log->dirfd, base, true, &direct);
	if (rc)
		return rc;
	rc = sl_seg_map_idx(s, log->dirfd, true, log->cfg.segment_index_bytes);
	if (rc) {
		sl_seg_put(s);
		sl_seg_unlink_files(log->dirfd, base);
		return rc;
	}
	s->active = true;
	s->lbase = old->lbase + old->size;
	old->active = false;
	sl_seg_index_final(old);
	log->segs[log->nsegs++] = s;
	log->active = s;
	log->cur = NULL;
	log->tail_blk_len = 0;
	log->need_dirsync = true;
	sl_plog_mark_dirty(log);
	SL_DEBUG("plog %s: rolled to %lld", log->path, (long long)base);
	return 0;
}

static bool
need_roll(const struct sl_plog *log, const struct sl_seg *s, size_t total)
{
	uint32_t iv = log->cfg.index_interval_bytes ? log->cfg.index_interval_bytes : 1;
	uint32_t more = (uint32_t)(total / iv + 1);

	if (s->size == 0)
		return false;
	if (s->size + total > log->cfg.segment_bytes)
		return true;
	if (s->created_ms >= 0 && store_now(log->st) - s->created_ms >= log->cfg.segment_ms)
		return true;
	if (sl_idx_full(&s->oidx, more) || sl_idx_full(&s->tidx, more))
		return true;
	/* Relative offsets are 32-bit; a record takes at least a byte. */
	return log->next_offset + (int64_t)total - s->base_offset > (int64_t)INT32_MAX;
}

static struct sl_chunk *
chunk_for(struct sl_plog *log, size_t total)
{
	struct sl_store *st = log->st;
	struct sl_chunk *c = log->cur, *n;
	struct sl_seg *s = log->active;
	uint32_t carry;

	if (c && c->seg == s && c->fill + total <= st->o.chunk_bytes)
		return c;
	n = sl_chunk_get(st);
	if (!n)
		return NULL;
	n->file_pos = SL_ALIGN_DOWN(s->size, (uint64_t)SL_BLK);
	carry = (uint32_t)(s->size - n->file_pos);
	if (carry) {
		if (c && c->seg == s) {
			memcpy(n->mem, c->mem + (n->file_pos - c->file_pos), carry);
		} else {
			SL_BUG_ON(log->tail_blk_len != carry);
			memcpy(n->mem, log->tail_blk, carry);
		}
	}
	n->seg = s;
	n->log = log;
	n->data_start = n->fill = carry;
	n->first_offset = n->next_offset = log->next_offset;
	n->prev = log->ch_tail;
	n->next = NULL;
	if (log->ch_tail)
		log->ch_tail->next = n;
	else
		log->ch_head = n;
	log->ch_tail = n;
	log->cur = n;
	sl_lru_touch(st, n);
	return n;
}

/*
 * A retried batch of an idempotent producer: nothing is appended; the append completes
 * with the original batch's offsets once everything appended before it is acknowledged
 * (the original may still be in flight). It waits in the FIFO like any append, so
 * completions stay in order; when nothing is in flight, sl_store_poll completes it.
 */
static int
append_dup(struct sl_plog *log, struct sl_append *a, const struct sl_pstate_batch *dup)
{
	a->err = 0;
	a->base_offset = dup->base_offset;
	a->last_offset = dup->last_offset;
	a->log_append_time_ms = -1;
	a->wait_pos = log->end_lpos;
	a->next = NULL;
	if (log->ap_tail)
		log->ap_tail->next = a;
	else
		log->ap_head = a;
	log->ap_tail = a;
	log->st->pending_appends++;
	sl_plog_mark_dirty(log);
	return 0;
}

int
sl_plog_append(struct sl_plog *log, const struct iovec *src, unsigned nsrc, struct sl_append *a)
{
	struct sl_store *st;
	struct sl_rb_scratch scratch;
	struct sl_chunk *c;
	struct sl_seg *s;
	uint8_t *dst, *p, *end;
	size_t total = 0;
	int64_t first, msgs = 0;
	uint64_t pos;
	unsigned i, idem = 0, nbatches = 0;
	int32_t last_seq = 0;
	struct sl_rb_hdr hdr;
	struct sl_pstate_batch dup;
	int rc;

	if (!log || !a || !a->done || (nsrc && !src))
		return -EINVAL;
	if (log->err || log->closing)
		return -EIO;
	st = log->st;
	for (i = 0; i < nsrc; i++) {
		if (src[i].iov_len > st->o.chunk_bytes)
			return -EMSGSIZE;
		total += src[i].iov_len;
	}
	if (total < SL_RB_HDR_SIZE)
		return SL_RB_ETRUNC;
	if (total + SL_BLK > st->o.chunk_bytes)
		return -EMSGSIZE;
	if (need_roll(log, log->active, total)) {
		rc = sl_plog_roll(log);
		if (rc) {
			SL_LOG_RATELIMIT(SL_LOG_ERROR, "plog %s: roll: %s", log->path,
			                 strerror(-rc));
			return -EIO;
		}
	}
	s = log->active;
	c = chunk_for(log, total);
	if (!c)
		return -ENOSPC;
	dst = c->mem + c->fill;
	for (i = 0, p = dst; i < nsrc; i++) {
		memcpy(p, src[i].iov_base, src[i].iov_len);
		p += src[i].iov_len;
	}
	end = dst + total;

	/* Validate every batch before changing anything (a bad one rejects the whole set). */
	scratch.buf = st->scratch;
	scratch.cap = st->scratch_cap;
	for (p = dst; p < end;) {
		int64_t n = sl_rb_validate(p, (size_t)(end - p), log->cfg.max_message_bytes, 0,
		                           &scratch, &hdr);

		if (n <= 0) {
			/* Don't leave a rejected batch where an in-flight write may pick it up. */
			memset(dst, 0, total);
			return n < 0 ? (int)n : SL_RB_ETRUNC;
		}
		if (hdr.producer_id >= 0 && !(hdr.attributes & SL_RB_ATTR_CONTROL))
			idem++;
		nbatches++;
		p += n;
	}
	if (idem) {
		/* Idempotent producers: duplicates and sequence gaps are found here, before
		 * anything is appended. Produce v3+ carries one batch per partition; a set of
		 * several with producer ids cannot be checked batch by batch atomically. */
		if (nbatches > 1) {
			memset(dst, 0, total);
			return SL_RB_EPRODUCER;
		}
		last_seq = sl_pstate_seq_add(hdr.base_sequence, hdr.last_offset_delta);
		rc = sl_pstate_check(&log->ps, hdr.producer_id, hdr.producer_epoch,
		                     hdr.base_sequence, last_seq, &dup);
		if (rc != 1)
			memset(dst, 0, total);
		if (rc < 0)
			return rc;
		if (rc == 2)
			return append_dup(log, a, &dup);
	}

	first = log->next_offset;
	pos = s->size;
	for (p = dst; p < end;) {
		uint32_t size = (uint32_t)sl_rb_total_size(p, SL_RB_LOG_OVERHEAD);
		int64_t base = log->next_offset;
		int64_t last = base + (int32_t)sl_be32(p + 23);

		sl_rb_set_base_offset(p, base);
		sl_seg_index_batch(s, pos, size, last, (int64_t)sl_be64(p + 35),
		                   log->cfg.index_interval_bytes);
		msgs += (int32_t)sl_be32(p + 57);
		log->next_offset = last + 1;
		pos += size;
		p += size;
	}
	c->fill += (uint32_t)total;
	c->next_offset = log->next_offset;
	s->size += total;
	s->next_offset = log->next_offset;
	if (s->created_ms < 0)
		s->created_ms = store_now(st);
	log->end_lpos += total;
	log->size_bytes += total;
	log->msgs_unsynced += msgs;
	if (idem)
		(void)sl_pstate_record(&log->ps, hdr.producer_id, hdr.producer_epoch,
		                       hdr.base_sequence, last_seq, first, log->next_offset - 1);

	a->err = 0;
	a->base_offset = first;
	a->last_offset = log->next_offset - 1;
	a->log_append_time_ms = -1; /* CreateTime: the batches keep the clients' timestamps */
	a->wait_pos = log->end_lpos;
	a->next = NULL;
	if (log->ap_tail)
		log->ap_tail->next = a;
	else
		log->ap_head = a;
	log->ap_tail = a;
	st->pending_appends++;
	sl_plog_mark_dirty(log);
	SL_ASSERT(sl_plog_check(log));
	return 0;
}

/* ---- group commit ---- */

static struct sl_seg *
oldest_unsealed(const struct sl_plog *log)
{
	struct sl_seg *found = NULL;
	unsigned i;

	for (i = log->nsegs - 1; i-- > 0;) {
		if (log->segs[i]->sealed)
			break;
		found = log->segs[i];
	}
	return found;
}

static struct sl_wgroup *
wg_at(struct sl_plog *log, unsigned i)
{
	return &log->wg[(log->wg_head + i) % SL_WG_MAX];
}

/* Whether the log has I/O to issue once a group retires. */
static bool
log_wants_io(const struct sl_plog *log)
{
	if (log->written_lpos < log->end_lpos || oldest_unsealed(log))
		return true;
	if (log->synced_lpos >= log->written_lpos)
		return false;
	return log->cfg.durable || log->msgs_unsynced >= log->cfg.flush_messages;
}

/*
 * Issues the next I/O group of log, if one may start now (invariant 3): nothing failed,
 * fewer than wg_max groups in flight, and
 *  - a seal, a sync-only group, or a sync of a non-durable log waits until no group is in
 *    flight: a sync covers only the writes that completed before it started;
 *  - a durable log's write (linked ->) fdatasync may start behind other durable groups: each
 *    syncs its own range, and they are acknowledged in order;
 *  - an O_DIRECT write whose first block is still being written by an earlier group waits
 *    for it (two writes of one block in flight could land in either order);
 *  - after a short write, nothing starts until the groups in flight are done; the next
 *    write then restarts from written_lpos.
 */
/* Whether a write in flight (not completed) of log covers a block of [from, to) of s. */
static bool
blocks_busy(struct sl_plog *log, const struct sl_seg *s, uint64_t from, uint64_t to)
{
	unsigned i;

	for (i = 0; i < log->io_pending; i++) {
		const struct sl_wgroup *p = wg_at(log, i);

		if (p->wr_issued && !p->done && p->seg == s && p->wr_off < to &&
		    p->wr_off + p->wr_len > from)
			return true;
	}
	return false;
}

/*
 * Writes the owed block (the rest of a block skipped by a later group) once the earlier
 * write of that block completed. The block is whole in the chunk holding its last byte
 * (a chunk that started inside it carries its beginning). Returns false when it must wait.
 */
static bool
issue_owed(struct sl_plog *log)
{
	struct sl_store *st = log->st;
	struct sl_seg *s = log->owed_seg;
	uint64_t hi = log->owed_hi - s->lbase, bs = SL_ALIGN_DOWN(hi - 1, (uint64_t)SL_BLK);
	struct io_uring_sqe *sqe;
	struct sl_wgroup *g;
	struct sl_chunk *c;

	if (blocks_busy(log, s, bs, hi))
		return false;
	for (c = log->ch_head; c; c = c->next)
		if (c->seg == s && c->file_pos <= bs && c->file_pos + c->fill >= hi)
			break;
	SL_BUG_ON(!c); /* unwritten bytes always have their chunk */
	g = wg_at(log, log->io_pending);
	g->seg = s;
	g->seq = log->wg_seq++;
	g->sync_issued = g->fal_issued = g->seal_issued = g->dsync_issued = false;
	g->wr_res = g->sync_res = g->dsync_res = g->fal_res = 0;
	g->done = g->held = false;
	g->lpos_lo = log->owed_lo;
	g->iov[0].iov_base = c->mem + (bs - c->file_pos);
	g->iov[0].iov_len = hi - bs;
	sqe = sl_uring_sqe(st->ring, &g->wr_uop);
	io_uring_prep_write(sqe, s->fd, g->iov[0].iov_base, (unsigned)g->iov[0].iov_len, bs);
	g->wr_off = bs;
	g->wr_len = hi - bs;
	g->wr_true_end = hi;
	g->wr_issued = true;
	g->pending = 1;
	st->stats.writes++;
	log->owed_seg = NULL;
	log->owed_lo = log->owed_hi = 0;
	log->io_pending++;
	st->inflight++;
	return true;
}

static void
seal_sync_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_plog *log = SL_CONTAINER_OF(op, struct sl_plog, seal_uop);
	struct sl_seg *s = log->seal_seg;

	(void)flags;
	if (log->test_hold_seal && !log->seal_held) {
		log->seal_held = true;
		log->seal_held_res = res;
		return;
	}
	log->seal_held = false;
	log->seal_seg = NULL;
	log->st->inflight--;
	if (!log->err) {
		if (res < 0) {
			log_fail(log, res);
		} else {
			/* Every older segment is sealed (synced) and this one's bytes are on disk. */
			if (s->lbase + s->size > log->synced_lpos)
				log->synced_lpos = SL_MIN(s->lbase + s->size, log->written_lpos);
			seal_finish(log, s);
			sl_plog_mark_dirty(log);
		}
	}
	sl_seg_put(s);
}

void
sl_plog_test_release_seal(struct sl_plog *log)
{
	if (!log->seal_held)
		return;
	log->test_hold_seal = false;
	seal_sync_done(&log->seal_uop, log->seal_held_res, 0);
}

/*
 * A non-durable log's oldest unsealed segment whose bytes are all written, with no write of
 * it in flight, is sealed by an fdatasync of its own (seal_uop), and the write groups carry
 * on with the active segment. *sealp: the segment log_issue must still write and seal in
 * order, or NULL (the groups go to the active segment). Returns false when log_issue must
 * wait (a detached sync is in flight and another rolled segment follows it).
 */
static bool
seal_detach(struct sl_plog *log, struct sl_seg **sealp)
{
	struct sl_seg *seal = *sealp;
	struct io_uring_sqe *sqe;
	unsigned i;

	if (!seal || log->cfg.durable || log->written_lpos < seal->lbase + seal->size)
		return true;
	if (log->zero_hi && log->zero_seg == seal)
		return true; /* sealed after its zero write (invariant 6): log_issue waits */
	for (i = 0; i < log->io_pending; i++)
		if (wg_at(log, i)->seg == seal)
			return true; /* a group on it is still in flight: seal it in order */
	if (log->seal_seg != seal) {
		SL_BUG_ON(log->seal_seg); /* it would be the oldest unsealed one */
		sqe = sl_uring_sqe(log->st->ring, &log->seal_uop);
		io_uring_prep_fsync(sqe, seal->fd, IORING_FSYNC_DATASYNC);
		seal->refs++;
		log->seal_seg = seal;
		log->st->inflight++;
		log->st->stats.syncs++;
	}
	/* Only the active segment may follow; a second rolled one waits for this seal. */
	if (log->nsegs < 2 || log->segs[log->nsegs - 2] != seal)
		return false;
	*sealp = NULL;
	return true;
}

/*
 * inline_buffered: the group's write, made now with pwritev on this thread; its completion
 * (wr_done) is delivered by inline_deliver, after log_issue returned, as a CQE would be.
 */
static void
write_inline(struct sl_store *st, struct sl_wgroup *g, int fd, unsigned niov, uint64_t off)
{
	ssize_t n;

	do
		n = pwritev(fd, g->iov, (int)niov, (off_t)off);
	while (n < 0 && errno == EINTR);
	g->wr_res = n < 0 ? -errno : (int)SL_MIN(n, (ssize_t)INT32_MAX);
	g->inl_next = NULL;
	if (st->inl_tail)
		st->inl_tail->inl_next = g;
	else
		st->inl_head = g;
	st->inl_tail = g;
	st->stats.inline_writes++;
}

/* Delivers the completions of the writes write_inline made, in the order they were made. */
static void
inline_deliver(struct sl_store *st)
{
	while (st->inl_head) {
		struct sl_wgroup *g = st->inl_head;

		st->inl_head = g->inl_next;
		if (!st->inl_head)
			st->inl_tail = NULL;
		g->inl_next = NULL;
		wr_done(&g->wr_uop, g->wr_res, 0);
	}
}

static void
log_issue(struct sl_plog *log, int64_t now, bool force_sync)
{
	struct sl_store *st = log->st;
	struct sl_seg *seal = oldest_unsealed(log);
	struct sl_seg *ws;
	struct io_uring_sqe *sqe;
	struct sl_wgroup *g;
	uint64_t wfile, first = 0, last_end = 0, true_end = 0, skip_to = 0;
	struct sl_chunk *c;
	bool sync = false, write_all = true, all_sync = true;
	unsigned niov = 0, i;

	if (!log->err && !seal_detach(log, &seal))
		return;
	ws = seal ? seal : log->active;
	if (log->err || log->io_pending >= (ws->direct ? log->wg_max_direct : log->wg_max))
		return;
	if (log->io_pending && log->wr_hole)
		return;
	if (!log->io_pending && log->wr_hole) {
		/* Every group retired: what was issued and did not land is written again. */
		log->issued_lpos = log->written_lpos;
		log->wr_hole = false;
		log->owed_seg = NULL;
		log->owed_lo = log->owed_hi = 0;
		log->ncred = 0;
	}
	if (log->owed_hi && (!issue_owed(log) || log->io_pending >= log->wg_max_direct))
		return;
	if (log->io_pending && seal)
		return;
	/* Its trim must not race a zero write (invariant 6); zero_done marks us dirty. */
	if (seal && log->zero_hi && log->zero_seg == seal)
		return;
	for (i = 0; i < log->io_pending; i++)
		all_sync &= wg_at(log, i)->sync_issued;
	SL_BUG_ON(log->issued_lpos < ws->lbase);
	wfile = log->issued_lpos - ws->lbase;
	if (wfile < ws->size && ws->direct) {
		uint64_t b0 = SL_ALIGN_DOWN(wfile, (uint64_t)SL_BLK), b1 = b0 + SL_BLK;

		if (blocks_busy(log, ws, b0, b1)) {
			/* That block is still being written (retire_groups marks us dirty). A
			 * non-durable log with more than the rest of it to write skips it. */
			if (log->cfg.durable || seal || log->owed_hi || wfile == b0 || ws->size <= b1)
				return;
			skip_to = b1;
		}
	}
	g = wg_at(log, log->io_pending);
	if (skip_to)
		wfile = skip_to;
	if (wfile < ws->size) {
		for (c = log->ch_head; c; c = c->next) {
			uint64_t cend = c->file_pos + c->fill, from, to;
			bool last_of_seg = !c->next || c->next->seg != ws;

			if (c->seg != ws || cend <= wfile)
				continue;
			if (niov == SL_WR_IOV) {
				write_all = false;
				break;
			}
			from = SL_MAX(wfile, c->file_pos + (niov ? c->data_start : 0));
			if (ws->direct) {
				from = SL_ALIGN_DOWN(from, (uint64_t)SL_BLK);
				if (from < c->file_pos)
					from = c->file_pos;
				to = last_of_seg ? SL_ALIGN_UP(cend, (uint64_t)SL_BLK)
				                 : SL_ALIGN_DOWN(cend, (uint64_t)SL_BLK);
				/*
				 * Pad with zeros, not with what a recycled chunk held: recovery reads
				 * zeros as the end. Safe: no write in flight covers these blocks
				 * (blocks_busy above).
				 */
				if (to > cend)
					memset(c->mem + (cend - c->file_pos), 0, to - cend);
			} else {
				to = cend;
			}
			if (niov && from != last_end) {
				write_all = false; /* not contiguous: write what we have first */
				break;
			}
			if (to > from) {
				if (!niov)
					first = from;
				g->iov[niov].iov_base = c->mem + (from - c->file_pos);
				g->iov[niov].iov_len = to - from;
				niov++;
				last_end = to;
				/* A block carried into the next chunk is written from there. */
				true_end = SL_MIN(cend, to);
			}
		}
		SL_BUG_ON(!niov); /* unwritten bytes always have their chunk */
		if (ws->direct && sl_plog_zero_busy(log, ws, first, last_end)) {
			/* Data caught up with zero-ahead (invariant 6); zero_done marks us dirty. */
			st->stats.zero_waits++;
			return;
		}
	}
	if (seal) {
		/* A non-durable log writes the rest of the rolled segment without a sync; its
		 * seal is the detached sync (seal_detach) once these bytes are written. */
		sync = log->cfg.durable || !niov;
	} else if (log->cfg.durable) {
		sync = niov || log->synced_lpos < log->written_lpos;
	} else {
		bool unsynced = niov || log->synced_lpos < log->written_lpos;

		sync = unsynced && (force_sync || log->msgs_unsynced >= log->cfg.flush_messages ||
		                    now - log->last_sync_ms >= log->cfg.flush_ms);
	}
	/* A sync while a detached seal runs would claim the sealing segment synced (synced_lpos
	 * covers everything before it): write now, sync once the seal is done. */
	if (sync && log->seal_seg) {
		if (!niov)
			return;
		sync = false;
	}
	/* A sync behind groups in flight: only a durable write+sync behind durable ones. */
	if (sync && log->io_pending && !(log->cfg.durable && niov && all_sync))
		return;
	if (skip_to && (!niov || sync))
		return;
	if (!niov && !sync && !(log->need_dirsync && force_sync))
		return;

	/* A linked write -> fsync pair must not straddle a submit: leave room for four. */
	if (io_uring_sq_space_left(&st->ring->ring) < 4)
		(void)sl_uring_submit(st->ring);

	g->seg = ws;
	g->seq = log->wg_seq++;
	g->wr_issued = g->sync_issued = g->fal_issued = g->seal_issued = false;
	g->dsync_issued = log->need_dirsync && (sync || force_sync);
	g->wr_res = g->sync_res = g->dsync_res = g->fal_res = 0;
	g->pending = 0;
	g->done = g->held = false;
	g->lpos_lo = log->issued_lpos;
	if (skip_to) {
		log->owed_seg = ws;
		log->owed_lo = log->issued_lpos;
		log->owed_hi = ws->lbase + skip_to;
		g->lpos_lo = log->owed_hi;
	}
	/*
	 * Preallocate only for O_DIRECT: its extending writes are what allocation slows. The
	 * page cache allocates at writeback (delalloc), and space preallocated past the data
	 * must be given back when the segment is sealed: a synchronous truncate (with a
	 * discard on a discard-mounted fs) that stalled the shard ~1 s per 1 GiB segment.
	 */
	if (niov && ws == log->active && ws->direct && !log->no_prealloc &&
	    log->cfg.preallocate_bytes && !st->zero_buf && /* else zero-ahead does (zahead.c) */
	    last_end + log->cfg.preallocate_bytes / 2 > ws->prealloc_end) {
		uint64_t from = SL_MAX(ws->prealloc_end, SL_ALIGN_DOWN(first, (uint64_t)SL_BLK));

		sqe = sl_uring_sqe(st->ring, &g->fal_uop);
		io_uring_prep_fallocate(sqe, ws->fd, FALLOC_FL_KEEP_SIZE, from,
		                        log->cfg.preallocate_bytes);
		ws->prealloc_end = from + log->cfg.preallocate_bytes;
		g->fal_issued = true;
		g->pending++;
		st->stats.fallocs++;
	}
	if (niov && st->o.inline_buffered && !ws->direct && !sync) {
		write_inline(st, g, ws->fd, niov, first);
	} else if (niov) {
		sqe = sl_uring_sqe(st->ring, &g->wr_uop);
		if (niov == 1)
			io_uring_prep_write(sqe, ws->fd, g->iov[0].iov_base,
			                    (unsigned)g->iov[0].iov_len, first);
		else
			io_uring_prep_writev(sqe, ws->fd, g->iov, niov, first);
		if (sync)
			sqe->flags |= IOSQE_IO_LINK;
	}
	if (niov) {
		g->wr_off = first;
		g->wr_len = last_end - first;
		g->wr_true_end = true_end;
		g->wr_issued = true;
		g->pending++;
		log->issued_lpos = ws->lbase + true_end;
		ws->wr_hi = SL_MAX(ws->wr_hi, last_end);
		st->stats.writes++;
	}
	if (sync) {
		sqe = sl_uring_sqe(st->ring, &g->sync_uop);
		io_uring_prep_fsync(sqe, ws->fd, IORING_FSYNC_DATASYNC);
		g->sync_target = niov ? ws->lbase + true_end : log->written_lpos;
		g->sync_msgs = log->msgs_unsynced;
		g->sync_issued = true;
		g->seal_issued = seal && write_all && (!niov || true_end == ws->size);
		g->pending++;
		st->stats.syncs++;
	}
	if (g->dsync_issued) {
		sqe = sl_uring_sqe(st->ring, &g->dsync_uop);
		io_uring_prep_fsync(sqe, log->dirfd, 0);
		log->need_dirsync = false;
		g->pending++;
		st->stats.dir_syncs++;
	}
	log->io_pending++;
	st->inflight++;
}

static void
log_fail(struct sl_plog *log, int err)
{
	struct sl_append *a;
	unsigned n = 0;

	if (!log->err)
		SL_ERR("plog %s: I/O failed (%s); the log accepts no more appends", log->path,
		       strerror(-err));
	log->err = -EIO;
	while ((a = log->ap_head) != NULL) {
		log->ap_head = a->next;
		if (!log->ap_head)
			log->ap_tail = NULL;
		a->next = NULL;
		a->err = err < 0 ? err : -EIO;
		n++;
		log->st->pending_appends--;
		a->done(a);
	}
	(void)n;
}

static void
complete_appends(struct sl_plog *log)
{
	uint64_t acked = log->cfg.durable ? log->synced_lpos : log->written_lpos;
	struct sl_append *head = log->ap_head, *a, *last = NULL;

	while (log->ap_head && log->ap_head->wait_pos <= acked) {
		a = log->ap_head;
		log->ap_head = a->next;
		/* max: a duplicate (append_dup) carries an older batch's offsets */
		if (a->last_offset + 1 > log->hw)
			log->hw = a->last_offset + 1;
		log->hw_lpos = a->wait_pos;
		last = a;
		log->st->pending_appends--;
	}
	if (!last)
		return;
	if (!log->ap_head)
		log->ap_tail = NULL;
	last->next = NULL;
	if (log->hw_fn)
		log->hw_fn(log, log->hw_arg);
	/* Completions may append again: the list is detached first. */
	while (head) {
		a = head;
		head = a->next;
		a->next = NULL;
		a->done(a);
	}
}

/* The seal's write and fdatasync completed. Trimming the file (padding, preallocation) and
 * its indexes waits for sl_plog_update_rp (retain / close), off the completion path. */
static void
seal_finish(struct sl_plog *log, struct sl_seg *s)
{
	s->sealed = true;
	s->trim_pending = true;
	log->rp_dirty = true;
}

/*
 * Applies one completed group, the oldest in flight. Its bytes count only if they continue
 * the written prefix (an earlier short write leaves a hole that is written again once the
 * groups in flight are done, log_issue).
 */
/* Moves written_lpos over completed ranges that the filled holes made contiguous. */
static void
cred_merge(struct sl_plog *log)
{
	unsigned i = 0;

	while (i < log->ncred) {
		if (log->cred[i].lo > log->written_lpos) {
			i++;
			continue;
		}
		log->written_lpos = SL_MAX(log->written_lpos, log->cred[i].hi);
		log->cred[i] = log->cred[--log->ncred];
		i = 0;
	}
}

static void
group_retire(struct sl_plog *log, struct sl_wgroup *g)
{
	struct sl_seg *s = g->seg;
	bool wrote_all = true, synced = false, contiguous = g->lpos_lo <= log->written_lpos;
	int err = 0;

	if (g->fal_issued && g->fal_res < 0) {
		log->no_prealloc = true; /* not supported here: plain appends allocate */
		s->prealloc_end = 0;
	}
	if (log->err)
		return;
	if (g->wr_issued) {
		if (g->wr_res < 0) {
			err = g->wr_res;
		} else if (g->wr_res == 0) {
			err = -EIO;
		} else {
			uint64_t done = g->wr_off + (uint64_t)g->wr_res;
			uint64_t tend = SL_MIN(done, g->wr_true_end);

			wrote_all = done >= g->wr_off + g->wr_len;
			if (contiguous && s->lbase + tend > log->written_lpos)
				log->written_lpos = s->lbase + tend;
			if (!wrote_all) {
				log->wr_hole = true;
			} else if (!contiguous) {
				/* Beyond a hole still to be written (owed block): later. */
				SL_BUG_ON(log->ncred == SL_WG_MAX);
				log->cred[log->ncred].lo = g->lpos_lo;
				log->cred[log->ncred].hi = s->lbase + tend;
				log->ncred++;
			}
			cred_merge(log);
		}
	}
	if (g->sync_issued) {
		if (g->sync_res == -ECANCELED && !wrote_all) {
			/* the short write broke the link: sync again with the rest */
		} else if (g->sync_res < 0) {
			err = err ? err : g->sync_res;
		} else {
			synced = true;
			if (contiguous && g->sync_target > log->synced_lpos)
				log->synced_lpos = SL_MIN(g->sync_target, log->written_lpos);
			log->last_sync_ms = store_now(log->st);
			log->msgs_unsynced -= g->sync_msgs;
			if (log->msgs_unsynced < 0)
				log->msgs_unsynced = 0;
		}
	}
	if (g->dsync_issued && g->dsync_res < 0)
		err = err ? err : g->dsync_res;
	if (err) {
		log_fail(log, err);
		return;
	}
	if (g->seal_issued && wrote_all && synced)
		seal_finish(log, s);
}

/* Retires the completed prefix of the groups in flight, oldest first, and acknowledges. */
static void
retire_groups(struct sl_plog *log)
{
	bool any = false;

	while (log->io_pending && wg_at(log, 0)->done) {
		struct sl_wgroup *g = wg_at(log, 0);

		log->wg_head = (log->wg_head + 1) % SL_WG_MAX;
		log->io_pending--;
		log->st->inflight--;
		g->done = false;
		group_retire(log, g);
		any = true;
	}
	if (!any || log->err)
		return;
	SL_ASSERT(sl_plog_check(log));
	complete_appends(log);
	if (!log->err && log_wants_io(log))
		sl_plog_mark_dirty(log);
}

static void
wg_step(struct sl_wgroup *g)
{
	struct sl_plog *log = g->log;

	SL_BUG_ON(g->pending == 0);
	if (--g->pending)
		return;
	if (g->seq >= log->test_hold_lo && g->seq < log->test_hold_hi) {
		g->held = true;
		return;
	}
	g->done = true;
	retire_groups(log);
}

void
sl_plog_test_release(struct sl_plog *log, uint64_t seq)
{
	unsigned i;

	for (i = 0; i < log->io_pending; i++) {
		struct sl_wgroup *g = wg_at(log, i);

		if (g->held && (seq == UINT64_MAX || g->seq == seq)) {
			g->held = false;
			g->done = true;
		}
	}
	retire_groups(log);
}

static void
wr_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_wgroup *g = SL_CONTAINER_OF(op, struct sl_wgroup, wr_uop);

	(void)flags;
	g->wr_res = res;
	wg_step(g);
}

static void
sync_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_wgroup *g = SL_CONTAINER_OF(op, struct sl_wgroup, sync_uop);

	(void)flags;
	g->sync_res = res;
	wg_step(g);
}

static void
dsync_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_wgroup *g = SL_CONTAINER_OF(op, struct sl_wgroup, dsync_uop);

	(void)flags;
	g->dsync_res = res;
	wg_step(g);
}

static void
fal_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_wgroup *g = SL_CONTAINER_OF(op, struct sl_wgroup, fal_uop);

	(void)flags;
	g->fal_res = res;
	wg_step(g);
}

/* ---- reads ---- */

static int read_start(struct sl_plog *log, struct sl_read *r);

#define RD_RESCANNED 0x10000u /* r->tries: already fell back to a scan from position 0 */
#define RD_COUNT_MASK 0xffffu

/* Bytes of s below the high watermark. */
static uint64_t
seg_readable(const struct sl_plog *log, const struct sl_seg *s)
{
	if (!s->active && s->sealed)
		return s->size;
	if (log->hw_lpos <= s->lbase)
		return 0;
	return SL_MIN(s->size, log->hw_lpos - s->lbase);
}

/* Walks whole batches of [p, end) from p; returns the byte length of those that fit
 * max_bytes (at least one). */
static uint32_t
take_batches(const uint8_t *p, const uint8_t *end, uint32_t max_bytes)
{
	uint64_t len = 0;

	while ((size_t)(end - p) >= SL_RB_HDR_SIZE) {
		int64_t total = sl_rb_total_size(p, SL_RB_LOG_OVERHEAD);

		if (total < 0 || total > end - p)
			break;
		if (len && len + (uint64_t)total > max_bytes)
			break;
		len += (uint64_t)total;
		p += total;
		if (len >= max_bytes)
			break;
	}
	return (uint32_t)SL_MIN(len, (uint64_t)UINT32_MAX);
}

static bool
read_cache(struct sl_plog *log, struct sl_read *r)
{
	int64_t off = r->offset, limit;
	struct sl_chunk *c;
	struct sl_seg *s;
	const uint8_t *p, *end;
	uint64_t ipos;

	for (c = log->ch_tail; c; c = c->prev)
		if (c->fill > c->data_start && c->first_offset <= off)
			break;
	if (!c || off >= c->next_offset)
		return false;
	s = c->seg;
	limit = (int64_t)seg_readable(log, s) - (int64_t)c->file_pos;
	if (limit > (int64_t)c->fill)
		limit = c->fill;
	if (limit <= (int64_t)c->data_start)
		return false;
	p = c->mem + c->data_start;
	end = c->mem + limit;
	ipos = s->oidx.map ? sl_oidx_lookup(&s->oidx, (uint32_t)(off - s->base_offset)) : 0;
	if (ipos > c->file_pos + c->data_start &&
	    ipos + SL_RB_HDR_SIZE <= c->file_pos + (uint64_t)limit &&
	    (int64_t)sl_be64(c->mem + (ipos - c->file_pos)) <= off)
		p = c->mem + (ipos - c->file_pos);
	while ((size_t)(end - p) >= SL_RB_HDR_SIZE) {
		int64_t total = sl_rb_total_size(p, SL_RB_LOG_OVERHEAD);
		int64_t last = (int64_t)sl_be64(p) + (int32_t)sl_be32(p + 23);

		if (total < 0 || total > end - p)
			return false;
		if (last >= off)
			break;
		p += total;
	}
	if ((size_t)(end - p) < SL_RB_HDR_SIZE)
		return false;
	r->len = take_batches(p, end, r->max_bytes);
	if (!r->len)
		return false;
	r->data = p;
	sl_rbuf_ref(&c->rb);
	r->buf = &c->rb;
	log->st->stats.cache_reads++;
	return true;
}

static void disk_read_issue(struct sl_plog *log, struct sl_read *r);

static void
read_finish(struct sl_plog *log, struct sl_read *r, int err)
{
	struct sl_seg *s = r->seg;

	r->err = err;
	if ((err || !r->len) && r->rbuf) {
		sl_rbuf_unref(r->rbuf);
		r->len = 0;
		r->data = NULL;
	} else if (r->rbuf) {
		r->buf = r->rbuf; /* the caller's reference now */
	}
	r->rbuf = NULL;
	r->seg = NULL;
	if (s)
		sl_seg_put(s);
	r->high_watermark = log->hw;
	r->log_start_offset = log->start_offset;
	r->done(r);
}

static uint8_t *
rbuf_mem(struct sl_rbuf *b, size_t *cap)
{
	struct sl_rdbuf *rb = SL_CONTAINER_OF(b, struct sl_rdbuf, rb);

	*cap = rb->cap;
	return rb->mem;
}

/* Swaps r's pooled buffer for a heap one that holds a batch of `need` bytes (rare). */
static int
read_grow(struct sl_plog *log, struct sl_read *r, size_t need)
{
	struct sl_rdbuf *h = calloc(1, sizeof(*h));
	size_t cap = SL_ALIGN_UP(need + 2 * SL_BLK, (size_t)SL_BLK);

	if (!h)
		return -ENOMEM;
	if (posix_memalign((void **)&h->mem, SL_BLK, cap)) {
		free(h);
		return -ENOMEM;
	}
	h->cap = cap;
	h->rb.kind = SL_RBUF_HEAP;
	h->rb.st = log->st;
	atomic_init(&h->rb.refs, 1);
	sl_rbuf_unref(r->rbuf);
	r->rbuf = &h->rb;
	log->st->stats.heap_reads++;
	return 0;
}

static void
read_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_read *r = SL_CONTAINER_OF(op, struct sl_read, uop);
	struct sl_plog *log = r->log;
	struct sl_seg *s = r->seg;
	uint64_t readable, avail, p;
	const uint8_t *mem;
	size_t cap;

	(void)flags;
	log->reads_inflight--;
	log->st->inflight--;
	if (res < 0) {
		read_finish(log, r, -EIO);
		return;
	}
	mem = rbuf_mem(r->rbuf, &cap);
	readable = seg_readable(log, s);
	avail = SL_MIN(r->buf_pos + (uint64_t)res, readable);
	p = r->pos;
	while (p + SL_RB_HDR_SIZE <= avail) {
		const uint8_t *h = mem + (p - r->buf_pos);
		int64_t total = sl_rb_total_size(h, SL_RB_LOG_OVERHEAD);
		int64_t base = (int64_t)sl_be64(h);
		int64_t last = base + (int32_t)sl_be32(h + 23);

		/* The first batch at an index position must start at or below the offset. */
		if (total < 0 || h[16] != 2 || (uint64_t)total > readable - p ||
		    base < s->base_offset || (p == r->pos && p != 0 && base > r->offset)) {
			if (!(r->tries & RD_RESCANNED) && r->pos != 0) {
				/* A stale or damaged index entry: scan the segment from its start. */
				SL_LOG_RATELIMIT(SL_LOG_WARN,
				                 "plog %s: bad batch at %llu of segment "
				                 "%lld; rescanning",
				                 log->path, (unsigned long long)p,
				                 (long long)s->base_offset);
				r->tries |= RD_RESCANNED;
				r->pos = 0;
				disk_read_issue(log, r);
				return;
			}
			read_finish(log, r, -EIO);
			return;
		}
		if (last < r->offset) {
			p += (uint64_t)total;
			continue;
		}
		if (p + (uint64_t)total > avail) {
			/* The batch we want is cut: read again from its start, bigger if needed. */
			if (SL_ALIGN_UP((uint64_t)total, (uint64_t)SL_BLK) + 2 * SL_BLK > cap &&
			    read_grow(log, r, (size_t)total)) {
				read_finish(log, r, -EIO);
				return;
			}
			r->pos = p;
			disk_read_issue(log, r);
			return;
		}
		r->data = mem + (p - r->buf_pos);
		r->len = take_batches(r->data, mem + (avail - r->buf_pos), r->max_bytes);
		read_finish(log, r, 0);
		return;
	}
	if (p + SL_RB_HDR_SIZE <= readable) {
		/* A header straddles the end of what we read: continue from it. */
		r->pos = p;
		disk_read_issue(log, r);
		return;
	}
	/* Nothing at or after the offset in this segment (a gap left by compaction). */
	{
		int i = sl_plog_find_seg(log, s->base_offset);

		if (i >= 0 && (unsigned)i + 1 < log->nsegs && !s->deleted) {
			struct sl_seg *n = log->segs[i + 1];

			n->refs++;
			sl_seg_put(s);
			r->seg = n;
			r->pos = 0;
			r->tries &= RD_RESCANNED;
			disk_read_issue(log, r);
			return;
		}
	}
	read_finish(log, r, 0);
}

static void
disk_read_issue(struct sl_plog *log, struct sl_read *r)
{
	struct sl_store *st = log->st;
	struct sl_seg *s = r->seg;
	struct io_uring_sqe *sqe;
	uint64_t readable = seg_readable(log, s), aoff, want, len;
	uint8_t *mem;
	size_t cap;

	if (r->pos >= readable) {
		read_finish(log, r, 0);
		return;
	}
	if ((r->tries & RD_COUNT_MASK) >= 64) {
		/* Every re-read moves forward; this many means the segment is damaged. */
		read_finish(log, r, -EIO);
		return;
	}
	mem = rbuf_mem(r->rbuf, &cap);
	aoff = SL_ALIGN_DOWN(r->pos, (uint64_t)SL_BLK);
	want = (r->pos - aoff) + (uint64_t)SL_MAX(r->max_bytes, (uint32_t)SL_RB_HDR_SIZE) +
	       log->cfg.index_interval_bytes + 2 * SL_BLK;
	if (r->tries & RD_COUNT_MASK)
		want = cap; /* a re-read: the batch we want was cut, take all the buffer holds */
	r->tries++;
	len = SL_MIN(SL_ALIGN_UP(want, (uint64_t)SL_BLK), (uint64_t)cap);
	len = SL_MIN(len, SL_ALIGN_UP(readable, (uint64_t)SL_BLK) - aoff);
	r->buf_pos = aoff;
	r->uop.fn = read_done;
	sqe = sl_uring_sqe(st->ring, &r->uop);
	io_uring_prep_read(sqe, s->fd, mem, (unsigned)len, aoff);
	log->reads_inflight++;
	st->inflight++;
	st->stats.disk_reads++;
}

static void
wait_push(struct sl_store *st, struct sl_read *r)
{
	r->next = NULL;
	if (st->rd_wait_tail)
		st->rd_wait_tail->next = r;
	else
		st->rd_wait_head = r;
	st->rd_wait_tail = r;
}

static int
read_start(struct sl_plog *log, struct sl_read *r)
{
	struct sl_store *st = log->st;
	struct sl_rdbuf *b;
	struct sl_seg *s;
	int64_t off = r->offset;
	int i;

	r->err = 0;
	r->data = NULL;
	r->len = 0;
	r->buf = NULL;
	r->high_watermark = log->hw;
	r->log_start_offset = log->start_offset;
	if (off < log->start_offset || off > log->next_offset) {
		r->err = -ERANGE;
		return 1;
	}
	if (off >= log->hw)
		return 1;
	if (read_cache(log, r))
		return 1;
	i = sl_plog_find_seg(log, off);
	if (i < 0)
		i = 0;
	while ((unsigned)i + 1 < log->nsegs && off >= log->segs[i]->next_offset &&
	       log->segs[i]->sealed)
		i++;
	s = log->segs[i];
	b = sl_rdbuf_get(st);
	if (!b) {
		wait_push(st, r);
		return 0;
	}
	s->refs++;
	r->seg = s;
	r->rbuf = &b->rb;
	r->tries = 0;
	r->pos = off >= s->base_offset && s->oidx.map
	                 ? sl_oidx_lookup(&s->oidx, (uint32_t)(off - s->base_offset))
	                 : 0;
	disk_read_issue(log, r);
	return 0;
}

int
sl_plog_read(struct sl_plog *log, struct sl_read *r)
{
	if (!log || !r || !r->done)
		return -EINVAL;
	r->log = log;
	r->seg = NULL;
	r->rbuf = NULL;
	r->next = NULL;
	if (log->closing) {
		r->err = -EIO;
		return 1;
	}
	return read_start(log, r);
}

static void
serve_waiting(struct sl_store *st)
{
	while (st->rd_wait_head) {
		struct sl_read *r = st->rd_wait_head;

		if (!st->free_rdbufs)
			(void)sl_store_drain(st);
		if (!st->free_rdbufs)
			return;
		st->rd_wait_head = r->next;
		if (!st->rd_wait_head)
			st->rd_wait_tail = NULL;
		r->next = NULL;
		if (read_start(r->log, r) == 1)
			r->done(r);
	}
}

static void
read_fail_waiting(struct sl_plog *log)
{
	struct sl_store *st = log->st;
	struct sl_read **pp = &st->rd_wait_head, *r, *failed = NULL;

	st->rd_wait_tail = NULL;
	while ((r = *pp) != NULL) {
		if (r->log == log) {
			*pp = r->next;
			r->next = failed;
			failed = r;
		} else {
			st->rd_wait_tail = r;
			pp = &r->next;
		}
	}
	while ((r = failed) != NULL) {
		failed = r->next;
		r->next = NULL;
		r->err = -EIO;
		r->len = 0;
		r->done(r);
	}
}

/* ---- the store's loop hook ---- */

static void
log_timers(struct sl_plog *log, int64_t now)
{
	struct sl_seg *s = log->active;

	if (log->err || log->closing)
		return;
	if (s->size && s->created_ms >= 0 && now - s->created_ms >= log->cfg.segment_ms) {
		int rc = sl_plog_roll(log);

		if (rc)
			SL_LOG_RATELIMIT(SL_LOG_ERROR, "plog %s: roll: %s", log->path,
			                 strerror(-rc));
	}
	if (!log->cfg.durable && log->synced_lpos < log->end_lpos &&
	    now - log->last_sync_ms >= log->cfg.flush_ms)
		sl_plog_mark_dirty(log);
}

void
sl_store_poll(struct sl_store *st, int64_t now_ms)
{
	struct sl_plog *log;

	st->now_ms = now_ms;
	if (sl_store_drain(st) || st->rd_wait_head)
		serve_waiting(st);
	if (now_ms - st->last_scan_ms >= 100 || now_ms < st->last_scan_ms) {
		st->last_scan_ms = now_ms;
		for (log = st->logs; log; log = log->next)
			log_timers(log, now_ms);
	}
	while ((log = st->dirty) != NULL) {
		st->dirty = log->dirty_next;
		log->dirty_next = NULL;
		log->in_dirty = false;
		log_issue(log, now_ms, false);
		sl_plog_zero_ahead(log);
		/* Duplicates queued while nothing was in flight (append_dup) complete here. */
		if (log->ap_head && !log->io_pending && !log->err)
			complete_appends(log);
	}
	/* Writes made inline complete now; a log they leave with more to write is dirty again
	 * and issues at the next call (one write per log per call, as through the ring). */
	inline_deliver(st);
}
