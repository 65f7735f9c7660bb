// SPDX-License-Identifier: Apache-2.0
/*
 * retention.c: deleting whole closed segments by retention.ms / retention.bytes and by the
 * log start offset (DeleteRecords), ListOffsets by timestamp, and the segment swap that
 * compaction uses. Store thread. Deleting unlinks files (blocking, a few syscalls per
 * segment: call sl_plog_retain every few seconds, not per request); a segment that an
 * in-flight read still holds is unlinked at once and its fd closed when the read ends
 * (sl_seg_put). offset_for_time reads segment files synchronously.
 *
 * Invariants: the active segment is never deleted; a segment is deleted only once sealed;
 * the log start offset never moves backwards and is persisted before DeleteRecords returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"
#include "storage/plog_int.h"
#include "storage/rbatch.h"

void
sl_plog_seg_delete(struct sl_plog *log, unsigned i)
{
	struct sl_seg *s = log->segs[i];
	struct sl_chunk *c, *next;

	SL_BUG_ON(s == log->active || i >= log->nsegs);
	for (c = log->ch_head; c; c = next) {
		next = c->next;
		if (c->seg == s)
			sl_chunk_release(log->st, c);
	}
	sl_seg_unlink_files(log->dirfd, s->base_offset);
	s->deleted = true;
	log->size_bytes -= s->size;
	memmove(&log->segs[i], &log->segs[i + 1], (log->nsegs - i - 1) * sizeof(log->segs[0]));
	log->nsegs--;
	sl_seg_put(s);
}

/* Deletes leading segments wholly below the log start offset (Kafka: the next segment
 * starts at or below it). */
static int
delete_below_start(struct sl_plog *log)
{
	int n = 0;

	while (log->nsegs > 1 && log->segs[0]->sealed &&
	       log->segs[1]->base_offset <= log->start_offset) {
		sl_plog_seg_delete(log, 0);
		n++;
	}
	return n;
}

int
sl_plog_retain(struct sl_plog *log, int64_t now_ms)
{
	struct sl_seg *a = log->active;
	int n = 0;

	if (log->err || log->closing)
		return 0;
	if (a->size && a->created_ms >= 0 && now_ms - a->created_ms >= log->cfg.segment_ms) {
		int rc = sl_plog_roll(log);

		if (rc)
			SL_WARN("plog %s: roll: %s", log->path, strerror(-rc));
	}
	if (log->cfg.cleanup_policy & SL_CLEANUP_DELETE) {
		if (log->cfg.retention_ms >= 0) {
			while (log->nsegs > 1 && log->segs[0]->sealed) {
				struct sl_seg *s = log->segs[0];
				int64_t ts = s->max_ts >= 0 ? s->max_ts : s->mtime_ms;

				if (now_ms - ts <= log->cfg.retention_ms)
					break;
				sl_plog_seg_delete(log, 0);
				n++;
			}
		}
		if (log->cfg.retention_bytes >= 0) {
			int64_t diff = (int64_t)log->size_bytes - log->cfg.retention_bytes;

			while (log->nsegs > 1 && log->segs[0]->sealed &&
			       diff >= (int64_t)log->segs[0]->size) {
				diff -= (int64_t)log->segs[0]->size;
				sl_plog_seg_delete(log, 0);
				n++;
			}
		}
	}
	n += delete_below_start(log);
	if (log->segs[0]->base_offset > log->start_offset)
		log->start_offset = log->segs[0]->base_offset;
	if (log->rp_dirty) {
		int rc = sl_plog_update_rp(log, false);

		if (rc)
			SL_WARN("plog %s: recovery point: %s", log->path, strerror(-rc));
	}
	return n;
}

int64_t
sl_plog_delete_records(struct sl_plog *log, int64_t offset)
{
	int rc;

	if (offset == -1)
		offset = log->hw; /* Kafka: -1 means the high watermark */
	if (offset < 0 || offset > log->hw)
		return -ERANGE;
	if (offset <= log->start_offset)
		return log->start_offset;
	rc = sl_plog_ckpt_write(log, SL_LSO_CKPT, offset, true);
	if (rc)
		return rc;
	log->start_offset = offset;
	(void)delete_below_start(log);
	return log->start_offset;
}

/* ---- ListOffsets by timestamp ---- */

static uint64_t
readable_bytes(const struct sl_plog *log, const struct sl_seg *s)
{
	if (!s->active && s->sealed)
		return s->size;
	if (log->hw_lpos <= s->lbase)
		return 0;
	return SL_MIN(s->size, log->hw_lpos - s->lbase);
}

/*
 * Searches s from pos for the first record with timestamp >= ts and offset >= min_off.
 * Cross-checks the indexes that led here: the batch at pos must start at or below from, and
 * the batch holding chk_off must have maxTimestamp chk_ts (the time-index entry), else
 * -EBADMSG (the caller scans from the segment's start instead). chk_off < 0: no check.
 * Returns 1 (found), 0 (not in this segment) or -errno.
 */
static int
search_seg(struct sl_plog *log, struct sl_seg *s, uint64_t pos, int64_t ts, int64_t min_off,
           int64_t from, int64_t chk_off, int64_t chk_ts, int64_t *off_out, int64_t *ts_out)
{
	bool first = true;

	uint64_t end = readable_bytes(log, s);
	struct sl_rb_scratch scratch = {log->st->scratch, log->st->scratch_cap};
	uint8_t h[SL_RB_HDR_SIZE];
	uint8_t *buf = NULL;
	size_t buf_cap = 0;
	int found = 0;

	while (pos + SL_RB_HDR_SIZE <= end) {
		int64_t total, last, maxts;
		struct sl_rb_iter it;
		struct sl_rb_rec rec;
		bool log_append_time;

		if (sl_seg_pread(s, h, sizeof(h), pos) != (ssize_t)sizeof(h)) {
			found = -EIO;
			break;
		}
		total = sl_rb_total_size(h, sizeof(h));
		if (total < 0 || (uint64_t)total > end - pos) {
			found = -EIO;
			break;
		}
		last = (int64_t)sl_be64(h) + (int32_t)sl_be32(h + 23);
		maxts = (int64_t)sl_be64(h + 35);
		if ((first && pos && (int64_t)sl_be64(h) > from) ||
		    (chk_off >= 0 && (int64_t)sl_be64(h) <= chk_off && chk_off <= last &&
		     maxts != chk_ts) ||
		    h[16] != 2) {
			found = -EBADMSG;
			break;
		}
		first = false;
		if (maxts < ts || last < min_off) {
			pos += (uint64_t)total;
			continue;
		}
		if ((size_t)total > buf_cap) {
			free(buf);
			buf = malloc((size_t)total);
			if (!buf) {
				found = -ENOMEM;
				break;
			}
			buf_cap = (size_t)total;
		}
		if (sl_seg_pread(s, buf, (size_t)total, pos) != total) {
			found = -EIO;
			break;
		}
		log_append_time = (sl_be16(buf + 21) & SL_RB_ATTR_TIMESTAMP_TYPE) != 0;
		if (sl_rb_iter_init(&it, buf, (size_t)total, &scratch) == 0) {
			while (sl_rb_iter_next(&it, &rec) == 1) {
				int64_t rts = log_append_time ? maxts : rec.timestamp;

				if (rts >= ts && rec.offset >= min_off) {
					*off_out = rec.offset;
					*ts_out = rts;
					found = 1;
					break;
				}
			}
		}
		if (found)
			break;
		pos += (uint64_t)total;
	}
	free(buf);
	return found;
}

int64_t
sl_plog_offset_for_time(struct sl_plog *log, int64_t ts, int64_t *ts_out)
{
	int64_t dummy;
	unsigned i;

	if (!ts_out)
		ts_out = &dummy;
	*ts_out = -1;
	for (i = 0; i < log->nsegs; i++) {
		struct sl_seg *s = log->segs[i];
		int64_t from, off, rts, rel, ets = -1;
		uint64_t pos;
		int rc;

		if (s->max_ts < ts || s->next_offset <= log->start_offset)
			continue;
		/* Kafka: time index -> offset, offset index -> position, then scan. */
		rel = s->tidx.map ? sl_tidx_lookup_ts(&s->tidx, ts, &ets) : -1;
		from = rel >= 0 ? s->base_offset + rel : s->base_offset;
		if (from < log->start_offset)
			from = log->start_offset;
		pos = from > s->base_offset && s->oidx.map
		              ? sl_oidx_lookup(&s->oidx, (uint32_t)(from - s->base_offset))
		              : 0;
		rc = search_seg(log, s, pos, ts, log->start_offset, from,
		                rel >= 0 ? s->base_offset + rel : -1, ets, &off, &rts);
		if (rc < 0 && (pos || rel >= 0)) /* a damaged index: scan the segment instead */
			rc = search_seg(log, s, 0, ts, log->start_offset, 0, -1, 0, &off, &rts);
		if (rc == 1 && off < log->hw) {
			*ts_out = rts;
			return off;
		}
		if (rc < 0)
			SL_LOG_RATELIMIT(SL_LOG_WARN, "plog %s: offset_for_time: %s", log->path,
			                 strerror(-rc));
	}
	return log->hw;
}
