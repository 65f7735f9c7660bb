// SPDX-License-Identifier: Apache-2.0
/*
 * part.c: the partitions a shard owns and the operations on them (struct sl_pop): the
 * owner-side execution of appends, reads, long-poll watches and offset lookups, whether
 * they came from this shard or from another one over a ring; the high-watermark hook that
 * completes watches; appends waiting for a free chunk; the control plane's SL_MSG_PART_*
 * requests (open, close, remove, configure, delete records); retention and compaction.
 *
 * Runs on the owning shard's thread. Allocates a partition entry (and grows the table)
 * when a log is opened; nothing per operation. Blocks only in log open/close/remove and
 * compaction (control-plane operations and housekeeping, never per request).
 *
 * A watch is parked on its partition's list and on the shard's list of all watches; a
 * cancel from another shard names the watch by pointer, and the pointer is looked up among
 * the parked ones before it is used (the watch may already be on its way home).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "dataplane/dp_int.h"


/* ---- partitions ---- */

static uint32_t
part_hash(const char *t, size_t len, int32_t p)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)t[i];
		h *= 16777619u;
	}
	h ^= (uint32_t)p;
	h *= 16777619u;
	return h ? h : 1;
}

struct sl_part *
sl_shard_part(struct sl_shard *s, const char *topic, size_t len, int32_t p)
{
	uint32_t h, mask = s->ptab_cap - 1;

	if (!s->ptab_cap)
		return NULL;
	h = part_hash(topic, len, p);
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		struct sl_part *e = s->ptab[i];

		if (!e)
			return NULL;
		if (e->hash == h && e->partition == p && e->topic_len == len &&
		    memcmp(e->topic, topic, len) == 0)
			return e;
	}
}

static int
ptab_insert(struct sl_shard *s, struct sl_part *e)
{
	if ((s->nparts + 1) * 2 > s->ptab_cap) {
		uint32_t cap = s->ptab_cap ? s->ptab_cap * 2 : 64;
		struct sl_part **t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (uint32_t i = 0; i < s->ptab_cap; i++) {
			struct sl_part *x = s->ptab[i];

			if (!x)
				continue;
			for (uint32_t k = x->hash & (cap - 1);; k = (k + 1) & (cap - 1)) {
				if (!t[k]) {
					t[k] = x;
					break;
				}
			}
		}
		free(s->ptab);
		s->ptab = t;
		s->ptab_cap = cap;
	}
	for (uint32_t k = e->hash & (s->ptab_cap - 1);; k = (k + 1) & (s->ptab_cap - 1)) {
		if (!s->ptab[k]) {
			s->ptab[k] = e;
			break;
		}
	}
	s->nparts++;
	return 0;
}

static void
ptab_remove(struct sl_shard *s, struct sl_part *e)
{
	uint32_t mask = s->ptab_cap - 1, i;

	for (i = e->hash & mask; s->ptab[i] != e; i = (i + 1) & mask)
		SL_BUG_ON(!s->ptab[i]);
	s->ptab[i] = NULL;
	s->nparts--;
	/* Re-insert the rest of the probe run (backward-shift by re-insertion). */
	for (uint32_t k = (i + 1) & mask; s->ptab[k]; k = (k + 1) & mask) {
		struct sl_part *x = s->ptab[k];

		s->ptab[k] = NULL;
		for (uint32_t j = x->hash & mask;; j = (j + 1) & mask) {
			if (!s->ptab[j]) {
				s->ptab[j] = x;
				break;
			}
		}
	}
}

/* ---- partition operations (owner side) ---- */

void
sl_pop_finish(struct sl_shard *s, struct sl_pop *p)
{
	if (p->from == s->id) {
		p->done(p);
		return;
	}
	p->pend.m.type = SL_MSG_FWD_DONE;
	p->pend.m.ptr = p;
	p->pend.m.arg = 0;
	p->pend.m.err = 0;
	sl_shard_send(s, p->from, &p->pend);
}

static void
watch_unpark(struct sl_shard *s, struct sl_part *part, struct sl_pop *p)
{
	if (!p->parked)
		return;
	p->parked = false;
	if (p->wprev)
		p->wprev->wnext = p->wnext;
	else
		part->watch_head = p->wnext;
	if (p->wnext)
		p->wnext->wprev = p->wprev;
	if (p->aprev)
		p->aprev->anext = p->anext;
	else
		s->watches = p->anext;
	if (p->anext)
		p->anext->aprev = p->aprev;
	p->wprev = p->wnext = p->aprev = p->anext = NULL;
}

static void
watch_park(struct sl_shard *s, struct sl_part *part, struct sl_pop *p)
{
	p->parked = true;
	p->wprev = NULL;
	p->wnext = part->watch_head;
	if (part->watch_head)
		part->watch_head->wprev = p;
	part->watch_head = p;
	p->aprev = NULL;
	p->anext = s->watches;
	if (s->watches)
		s->watches->aprev = p;
	s->watches = p;
}

/* Completes every watch of part whose offset the high watermark passed (or all). */
void
sl_part_wake(struct sl_shard *s, struct sl_part *part, bool all, int16_t kerr)
{
	int64_t hw = sl_plog_high_watermark(part->log);
	struct sl_pop *p = part->watch_head;

	while (p) {
		struct sl_pop *next = p->wnext;

		if (all || hw > p->watch_offset) {
			watch_unpark(s, part, p);
			p->kerr = kerr;
			p->hw = hw;
			sl_pop_finish(s, p);
		}
		p = next;
	}
}

static void
hw_hook(struct sl_plog *log, void *arg)
{
	struct sl_part *part = arg;

	(void)log;
	if (part->watch_head)
		sl_part_wake(part->s, part, false, KERR_NONE);
}

static void
append_cb(struct sl_append *a)
{
	struct sl_pop *p = SL_CONTAINER_OF(a, struct sl_pop, app);
	struct sl_shard *s = a->arg;
	struct sl_part *part;

	p->kerr = sl_kerr_from_storage(a->err);
	part = sl_shard_part(s, p->topic, p->topic_len, p->partition);
	p->log_start = part ? sl_plog_start_offset(part->log) : -1;
	atomic_fetch_add_explicit(&s->st_batches, 1, memory_order_relaxed);
	sl_pop_finish(s, p);
}

/* Returns false when the append must wait for a free chunk. */
static bool
try_append(struct sl_shard *s, struct sl_pop *p, struct sl_part *part)
{
	int rc;

	p->app.done = append_cb;
	p->app.arg = s;
	rc = sl_plog_append(part->log, p->iov, p->niov, &p->app);
	if (rc == -ENOSPC)
		return false;
	if (rc < 0) {
		p->kerr = sl_kerr_from_storage(rc);
		p->log_start = sl_plog_start_offset(part->log);
		sl_pop_finish(s, p);
	}
	return true;
}

static void
retry_add(struct sl_shard *s, struct sl_pop *p)
{
	p->rnext = NULL;
	if (s->retry_tail)
		s->retry_tail->rnext = p;
	else
		s->retry_head = p;
	s->retry_tail = p;
}

void
sl_shard_retry_appends(struct sl_shard *s)
{
	while (s->retry_head) {
		struct sl_pop *p = s->retry_head;
		struct sl_part *part = sl_shard_part(s, p->topic, p->topic_len, p->partition);

		if (part && !part->removing && !try_append(s, p, part))
			return; /* still no chunk: keep the order */
		s->retry_head = p->rnext;
		if (!s->retry_head)
			s->retry_tail = NULL;
		if (!part || part->removing) {
			p->kerr = KERR_NOT_LEADER_OR_FOLLOWER;
			sl_pop_finish(s, p);
		}
	}
}

static void
read_cb(struct sl_read *r)
{
	struct sl_pop *p = SL_CONTAINER_OF(r, struct sl_pop, rd);
	struct sl_shard *s = r->arg;

	p->kerr = sl_kerr_from_storage(r->err);
	p->hw = r->high_watermark;
	p->log_start = r->log_start_offset;
	sl_pop_finish(s, p);
}

static void
offsets_exec(struct sl_pop *p, struct sl_part *part)
{
	struct sl_plog *log = part->log;

	p->hw = sl_plog_high_watermark(log);
	p->log_start = sl_plog_start_offset(log);
	p->ts_out = -1;
	if (p->ts == -1) {
		p->off_out = p->hw;
	} else if (p->ts == -2) {
		p->off_out = p->log_start;
	} else if (p->ts < 0) {
		p->kerr = KERR_INVALID_REQUEST;
		p->off_out = -1;
	} else {
		p->off_out = sl_plog_offset_for_time(log, p->ts, &p->ts_out);
		if (p->off_out < 0) {
			p->kerr = sl_kerr_from_storage((int)p->off_out);
			p->off_out = -1;
		} else if (p->off_out >= p->hw) {
			/* No record at or after ts: Kafka answers offset -1, timestamp -1. */
			p->off_out = -1;
			p->ts_out = -1;
		}
	}
}

void
sl_pop_exec(struct sl_shard *s, struct sl_pop *p)
{
	struct sl_part *part = sl_shard_part(s, p->topic, p->topic_len, p->partition);
	int rc;

	p->kerr = KERR_NONE;
	if (!part || part->removing) {
		p->kerr = KERR_NOT_LEADER_OR_FOLLOWER;
		sl_pop_finish(s, p);
		return;
	}
	switch (p->kind) {
	case SL_POP_APPEND:
		if (s->retry_head || !try_append(s, p, part))
			retry_add(s, p);
		return;
	case SL_POP_READ:
		p->rd.done = read_cb;
		p->rd.arg = s;
		p->disk = false;
		rc = sl_plog_read(part->log, &p->rd);
		if (rc == 0) {
			p->disk = true;
			return; /* read_cb later */
		}
		if (rc < 0)
			p->rd.err = rc;
		read_cb(&p->rd);
		return;
	case SL_POP_WATCH:
		p->hw = sl_plog_high_watermark(part->log);
		if (p->hw > p->watch_offset || atomic_load(&s->dp->phase) != 0) {
			sl_pop_finish(s, p);
			return;
		}
		watch_park(s, part, p);
		return;
	case SL_POP_OFFSETS:
		offsets_exec(p, part);
		sl_pop_finish(s, p);
		return;
	default:
		p->kerr = KERR_UNKNOWN;
		sl_pop_finish(s, p);
		return;
	}
}

void
sl_pop_submit(struct sl_shard *s, struct sl_pop *p)
{
	p->from = s->id;
	p->parked = false;
	if (p->to == s->id) {
		sl_pop_exec(s, p);
		return;
	}
	atomic_fetch_add_explicit(&s->st_fwd, 1, memory_order_relaxed);
	p->pend.m.type = SL_MSG_FWD;
	p->pend.m.ptr = p;
	p->pend.m.arg = 0;
	p->pend.m.err = 0;
	sl_shard_send(s, p->to, &p->pend);
}

void
sl_pop_cancel_watch(struct sl_shard *s, struct sl_pop *p)
{
	if (p->to == s->id) {
		struct sl_part *part;

		if (!p->parked)
			return;
		part = sl_shard_part(s, p->topic, p->topic_len, p->partition);
		SL_BUG_ON(!part);
		watch_unpark(s, part, p);
		sl_pop_finish(s, p);
		return;
	}
	{
		struct sl_msg m = {.type = SL_MSG_FWD, .ptr = p, .arg = SL_FWD_CANCEL};

		sl_shard_send_msg(s, p->to, &m);
	}
}

void
sl_pop_cancel_remote(struct sl_shard *s, void *ptr)
{
	/* Compare pointers only: the watch may have completed and gone home already. */
	for (struct sl_pop *p = s->watches; p; p = p->anext) {
		if (p == ptr) {
			struct sl_part *part =
			        sl_shard_part(s, p->topic, p->topic_len, p->partition);

			SL_BUG_ON(!part);
			watch_unpark(s, part, p);
			sl_pop_finish(s, p);
			return;
		}
	}
}

/* ---- partition logs (control plane requests) ---- */

static void
part_done(struct sl_shard *s, struct sl_part_op *op)
{
	struct sl_msg m = {.type = SL_MSG_PART_DONE, .from = s->id, .ptr = op};

	sl_shard_send_ctrl_msg(s, &m);
}

static void
part_open(struct sl_shard *s, struct sl_part_op *op)
{
	size_t len = strnlen(op->topic, sizeof(op->topic));
	struct sl_part *e;
	int rc;

	if (sl_shard_part(s, op->topic, len, op->partition)) {
		op->err = 0; /* already open (a retried start-up) */
		goto out;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		op->err = -ENOMEM;
		goto out;
	}
	memcpy(e->topic, op->topic, len);
	e->topic_len = (uint16_t)len;
	e->partition = op->partition;
	e->hash = part_hash(e->topic, len, op->partition);
	e->s = s;
	rc = sl_plog_open(&e->log, s->store, s->dp->o.log_dir, e->topic, op->partition, &op->cfg);
	if (rc < 0) {
		SL_ERR("shard %u: opening %s-%d: %s", s->id, e->topic, op->partition,
		       strerror(-rc));
		free(e);
		op->err = rc;
		goto out;
	}
	rc = ptab_insert(s, e);
	if (rc < 0) {
		(void)sl_plog_close(e->log);
		free(e);
		op->err = rc;
		goto out;
	}
	sl_plog_set_hw_hook(e->log, hw_hook, e);
	op->err = 0;
out:
	part_done(s, op);
}

/* Takes a partition out: wakes its watches, flushes and closes (or removes) the log. */
static int
part_drop(struct sl_shard *s, struct sl_part *e, bool remove)
{
	int rc;

	e->removing = true;
	sl_part_wake(s, e, true, KERR_NOT_LEADER_OR_FOLLOWER);
	/* Appends of this partition that wait for a chunk fail now. */
	{
		struct sl_pop **pp = &s->retry_head, *prev = NULL;

		while (*pp) {
			struct sl_pop *p = *pp;

			if (sl_shard_part(s, p->topic, p->topic_len, p->partition) != e) {
				prev = p;
				pp = &p->rnext;
				continue;
			}
			*pp = p->rnext;
			if (s->retry_tail == p)
				s->retry_tail = prev;
			p->kerr = KERR_NOT_LEADER_OR_FOLLOWER;
			sl_pop_finish(s, p);
		}
	}
	sl_plog_set_hw_hook(e->log, NULL, NULL);
	ptab_remove(s, e);
	rc = remove ? sl_plog_remove(e->log) : sl_plog_close(e->log);
	free(e);
	return rc;
}

void
sl_shard_part_msg(struct sl_shard *s, const struct sl_msg *m)
{
	struct sl_part_op *op = m->ptr;
	size_t len = strnlen(op->topic, sizeof(op->topic));
	struct sl_part *e;

	if (m->type == SL_MSG_PART_OPEN) {
		part_open(s, op);
		return;
	}
	e = sl_shard_part(s, op->topic, len, op->partition);
	if (!e) {
		op->err =
		        m->type == SL_MSG_PART_REMOVE || m->type == SL_MSG_PART_CLOSE ? 0 : -ENOENT;
		part_done(s, op);
		return;
	}
	switch (m->type) {
	case SL_MSG_PART_CLOSE:
		op->err = part_drop(s, e, false);
		break;
	case SL_MSG_PART_REMOVE:
		op->err = part_drop(s, e, true);
		break;
	case SL_MSG_PART_CFG:
		sl_plog_set_cfg(e->log, &op->cfg);
		op->err = 0;
		break;
	case SL_MSG_PART_DELETE_RECORDS: {
		int64_t r = sl_plog_delete_records(e->log, op->offset);

		op->err = r < 0 ? (int)r : 0;
		if (r >= 0)
			op->offset = r;
		break;
	}
	default:
		op->err = -EINVAL;
		break;
	}
	part_done(s, op);
}

void
sl_shard_close_logs(struct sl_shard *s)
{
	for (uint32_t i = 0; i < s->ptab_cap; i++) {
		struct sl_part *e = s->ptab[i];
		int rc;

		if (!e)
			continue;
		sl_plog_set_hw_hook(e->log, NULL, NULL);
		rc = sl_plog_close(e->log);
		if (rc < 0)
			SL_ERR("shard %u: closing %s-%d: %s", s->id, e->topic, e->partition,
			       strerror(-rc));
		s->ptab[i] = NULL;
		free(e);
	}
	s->nparts = 0;
}

/*
 * Retention (cheap when there is nothing to do) every few seconds, and compaction of
 * cleanup.policy=compact logs now and then. Compaction blocks this shard while it
 * rewrites closed segments.
 */
void
sl_shard_housekeeping(struct sl_shard *s)
{
	bool compact = s->now_ms - s->last_compact_ms >= s->dp->o.compact_backoff_ms;

	if (s->now_ms - s->last_retain_ms < s->dp->o.retention_check_ms && !compact)
		return;
	s->last_retain_ms = s->now_ms;
	if (compact)
		s->last_compact_ms = s->now_ms;
	for (uint32_t i = 0; i < s->ptab_cap; i++) {
		struct sl_part *e = s->ptab[i];
		int rc;

		if (!e || e->removing)
			continue;
		rc = sl_plog_retain(e->log, s->now_ms);
		if (rc > 0)
			SL_INFO("shard %u: %s-%d: retention deleted %d segment(s)", s->id, e->topic,
			        e->partition, rc);
		if (compact && (sl_plog_cfg(e->log)->cleanup_policy & SL_CLEANUP_COMPACT)) {
			int64_t n = sl_plog_compact(e->log, s->now_ms);

			if (n > 0)
				SL_INFO("shard %u: %s-%d: compaction removed %lld record(s)", s->id,
				        e->topic, e->partition, (long long)n);
			else if (n < 0 && n != -ENOTSUP)
				SL_LOG_RATELIMIT(SL_LOG_WARN, "shard %u: %s-%d: compaction: %s",
				                 s->id, e->topic, e->partition, strerror((int)-n));
		}
	}
}
