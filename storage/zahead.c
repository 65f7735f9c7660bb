// SPDX-License-Identifier: Apache-2.0
/*
 * zahead.c: zero-ahead for O_DIRECT segments. ext4 handles an O_DIRECT write that extends
 * the file (or converts unwritten, fallocated extents) through the journal, with a p99 of
 * 2-70 ms on these hosts, while an O_DIRECT overwrite of written blocks takes ~32 us (p50)
 * / ~100 us (p99). So the active segment is kept written (with zeros) zero_ahead_bytes
 * beyond its appended end, and data writes become overwrites.
 *
 *   segment file:  [ data ......... | zeros (written) ......... | hole / unwritten ]
 *                  0           size ^    wr_hi ^      zero_end ^ (>= size + margin,
 *                                                                 <= segment.bytes)
 *
 * Zero writes come from one shared, pre-faulted buffer of zero_step_bytes (the kernel only
 * reads it), go through the store's ring like every other write, one per log at a time,
 * and are not part of a write group: nothing waits for them except a data write that
 * reaches the blocks one of them is still writing (invariant 6 in plog_int.h) and a seal
 * of their segment. When the zeros are not ahead of the data (a new segment; appends
 * faster than the zero writes), zeroing restarts one step beyond the appended end, so
 * appends that follow at once rarely meet a zero write in flight. Recovery reads the zero tail as the end of the log (sl_seg_scan:
 * tail_zero), and close / seal trim the file back to its data.
 *
 * Store thread only; never blocks; allocates nothing (the buffer is the store's).
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "storage/plog_int.h"

static void
zero_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_plog *log = SL_CONTAINER_OF(op, struct sl_plog, zero_uop);
	struct sl_seg *s = log->zero_seg;

	(void)flags;
	SL_BUG_ON(!s || !log->zero_hi);
	log->st->inflight--;
	if (log->zero_fal) {
		/* i_size now covers the range: zero writes there are not extending writes */
		if (res < 0)
			log->no_prealloc = true;
		else
			s->prealloc_end = SL_MAX(s->prealloc_end, log->zero_hi);
		log->zero_fal = false;
	} else if (res <= 0) {
		/* Not fatal: data writes simply extend the file as without zero-ahead. */
		log->no_zero = true;
		SL_LOG_RATELIMIT(SL_LOG_WARN, "plog %s: zero-ahead write failed (%s); disabled",
		                 log->path, strerror(res < 0 ? -res : EIO));
	} else {
		uint64_t end = log->zero_lo + SL_ALIGN_DOWN((uint64_t)res, (uint64_t)SL_BLK);

		s->zero_end = SL_MAX(s->zero_end, end);
	}
	log->zero_seg = NULL;
	log->zero_lo = log->zero_hi = 0;
	sl_seg_put(s);
	if (!log->closing && !log->err)
		sl_plog_mark_dirty(log); /* a data write may wait for us; the margin may be short */
}

bool
sl_plog_zero_busy(const struct sl_plog *log, const struct sl_seg *s, uint64_t from, uint64_t to)
{
	/* a fallocate changes no byte that reads differently: nothing to wait for */
	return log->zero_hi && !log->zero_fal && log->zero_seg == s && from < log->zero_hi &&
	       to > log->zero_lo;
}

void
sl_plog_zero_ahead(struct sl_plog *log)
{
	struct sl_store *st = log->st;
	struct sl_seg *s = log->active;
	uint64_t cap, end, lo, hi, want;
	struct io_uring_sqe *sqe;

	if (!st->zero_buf || !s->direct || log->zero_hi || log->no_zero || log->err ||
	    log->closing)
		return;
	cap = SL_ALIGN_DOWN(SL_MIN(log->cfg.segment_bytes, SL_SEG_MAX_BYTES), (uint64_t)SL_BLK);
	end = SL_ALIGN_UP(s->size, (uint64_t)SL_BLK);
	/* Above every byte appended (written or not yet) and every data write issued. */
	lo = SL_MAX(SL_MAX(s->zero_end, s->wr_hi), end);
	/*
	 * Not ahead of the data (a new segment, or appends overtook the zeros): start one step
	 * beyond the appended end, so the appends that follow at once do not wait for this
	 * write (invariant 6); they fill the gap as plain writes, as without zero-ahead.
	 */
	if (s->zero_end <= end)
		lo = SL_MAX(lo, end + st->o.zero_step_bytes);
	want = SL_MIN(end + st->o.zero_ahead_bytes, cap);
	if (lo >= want)
		return;
	hi = SL_MIN(lo + st->o.zero_step_bytes, cap);
	log->zero_uop.fn = zero_done;
	sqe = sl_uring_sqe(st->ring, &log->zero_uop);
	if (hi > s->prealloc_end && !log->no_prealloc && log->cfg.preallocate_bytes) {
		/*
		 * Allocate (unwritten) and move i_size first, in preallocate_bytes steps: a
		 * write past i_size takes ext4's inode lock exclusively (and waits for the
		 * journal), stalling the data overwrites behind it; one inside i_size on
		 * allocated blocks shares it. The data path does not fallocate these segments.
		 */
		lo = SL_MAX(s->prealloc_end, lo);
		hi = SL_MIN(lo + log->cfg.preallocate_bytes, cap);
		io_uring_prep_fallocate(sqe, s->fd, 0, lo, hi - lo);
		log->zero_fal = true;
		st->stats.fallocs++;
	} else {
		io_uring_prep_write(sqe, s->fd, st->zero_buf, (unsigned)(hi - lo), lo);
		st->stats.zero_writes++;
		st->stats.zero_bytes += hi - lo;
	}
	s->refs++; /* the fd stays open until the write completes */
	log->zero_seg = s;
	log->zero_lo = lo;
	log->zero_hi = hi;
	st->inflight++;
}
