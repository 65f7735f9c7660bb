// SPDX-License-Identifier: Apache-2.0
/*
 * h_fetch.c: Fetch 4-11 with the long poll.
 *
 * A fetch runs in rounds. A round reads the partitions in order, FETCH_PAR at a time (a READ
 * operation on the owning shard, served from the tail cache or with io_uring; each returns
 * whole batches, at least one, up to partition_max_bytes); once max_bytes were read, the
 * rest only get their offsets. Data read from disk is copied out of the store's read
 * buffer at once (those buffers are few and other reads wait for them); tail-cache data is
 * referenced in place. When the round has min_bytes, or any partition has an
 * error, or max_wait_ms has passed, the response is built (max_bytes is applied in
 * partition order, cutting at batch boundaries but always keeping the first batch found)
 * and sent. Otherwise the data is let go and the fetch parks: one WATCH per partition on
 * its owning shard, completed by the log's high-watermark hook when an append moves the
 * high watermark past what we saw (never by polling), plus a timer at the deadline.
 * Whatever comes first cancels the rest; when every watch is back, the next round runs.
 *
 *   start -> [read round] --enough/error/deadline--> respond
 *                 |  not enough
 *                 v
 *            [parked: watches + timer] --a watch fires / timer--> [waking: cancel the
 *            rest, wait for all] --all back--> [read round]
 *
 * The response's records point into storage buffers (tail-cache chunks or read buffers)
 * without copying; the references are dropped after the send (fetch_cleanup).
 *
 * Sessions (v7+): only sessionless fetches (session id 0); the answer always carries
 * session id 0, which tells the client no session was created. Isolation levels are
 * equivalent without transactions (last stable offset = high watermark).
 *
 * Runs on a shard thread. Allocates only from the request's arena. Never blocks.
 */
#include <errno.h>
#include <string.h>

#include "common/kproto/api.h"
#include "common/kproto/fetch.h"
#include "common/log.h"
#include "dataplane/dp_int.h"
#include "storage/rbatch.h"

#define FETCH_PAR 16 /* reads of one fetch in flight at once */

struct fetch_part {
	struct sl_pop rd;    /* READ, reused every round */
	struct sl_pop watch; /* WATCH while parked */
	int32_t tidx;
	int32_t partition;
	int64_t fetch_offset;
	int32_t pmax;
	int owner; /* -1: unknown topic or partition */
	bool watching;
	/* the last round's result */
	int16_t kerr;
	const uint8_t *data;
	uint32_t len;
	struct sl_rbuf *buf;
	int64_t hw, log_start;
};

struct fetch_st {
	struct sl_shard *s;
	struct sl_kreq *req;
	struct sl_fetch_req r;
	struct fetch_part *parts;
	uint32_t nparts;
	uint32_t next;     /* next partition to read in this round */
	uint32_t inflight; /* reads in flight */
	uint64_t got;      /* bytes read in this round */
	bool pumping, round_over;
	uint32_t wpending; /* watches out (+1 while cancelling) */
	bool waking;
	bool responded;
	int64_t deadline_ns;
	struct sl_timer timer;
	int16_t top_err;
};

static void fetch_round(struct fetch_st *st);

static void
drop_data(struct fetch_st *st)
{
	for (uint32_t i = 0; i < st->nparts; i++) {
		struct fetch_part *fp = &st->parts[i];

		if (fp->buf)
			sl_rbuf_unref(fp->buf);
		fp->buf = NULL;
		fp->data = NULL;
		fp->len = 0;
	}
}

static void
fetch_cleanup(struct sl_kreq *req)
{
	struct fetch_st *st = req->hstate;

	if (st)
		drop_data(st);
	req->hstate = NULL;
}

/* Bytes of whole batches at the start of p[0..len) that fit in cap (0 if none). */
static uint32_t
whole_batches(const uint8_t *p, uint32_t len, uint32_t cap)
{
	uint32_t off = 0;

	while (off < len) {
		int64_t sz = sl_rb_total_size(p + off, len - off);

		if (sz <= 0 || off + (uint64_t)sz > len || off + (uint64_t)sz > cap)
			break;
		off += (uint32_t)sz;
	}
	return off;
}

/* Applies max_bytes in partition order; returns the bytes that will be sent. */
static uint64_t
apply_max_bytes(struct fetch_st *st)
{
	uint64_t total = 0;
	uint64_t max = st->r.max_bytes > 0 ? (uint64_t)st->r.max_bytes : 0;

	for (uint32_t i = 0; i < st->nparts; i++) {
		struct fetch_part *fp = &st->parts[i];
		uint32_t keep;

		if (!fp->len)
			continue;
		if (total == 0) {
			/* The first data found always goes, at least one whole batch of it. */
			keep = whole_batches(fp->data, fp->len,
			                     (uint32_t)SL_MIN(max, (uint64_t)UINT32_MAX));
			if (keep == 0)
				keep = fp->len;
		} else if (total + fp->len <= max) {
			keep = fp->len;
		} else {
			keep = whole_batches(fp->data, fp->len,
			                     (uint32_t)(max - SL_MIN(max, total)));
		}
		if (keep == 0) {
			sl_rbuf_unref(fp->buf);
			fp->buf = NULL;
			fp->data = NULL;
		}
		fp->len = keep;
		total += keep;
	}
	return total;
}

static void
fetch_respond(struct fetch_st *st)
{
	struct sl_kreq *req = st->req;
	struct sl_fetch_resp resp;
	uint32_t k = 0;

	st->responded = true;
	sl_timer_disarm(st->s, &st->timer);
	apply_max_bytes(st);
	sl_fetch_resp_init(&resp);
	resp.throttle_time_ms = 0;
	resp.error_code = st->top_err;
	resp.session_id = 0;
	resp.responses_cnt = st->top_err ? 0 : st->r.topics_cnt;
	resp.responses = sl_arena_alloc(&req->arena,
	                                (size_t)(resp.responses_cnt > 0 ? resp.responses_cnt : 1) *
	                                        sizeof(*resp.responses));
	if (!resp.responses) {
		sl_h_bad_request(st->s, req, -ENOMEM);
		return;
	}
	for (int32_t i = 0; i < resp.responses_cnt; i++) {
		const struct sl_fetch_req_topic *rt = &st->r.topics[i];
		struct sl_fetch_resp_fetchable_topic_response *tr = &resp.responses[i];
		int32_t np = rt->partitions_cnt;

		sl_fetch_resp_fetchable_topic_response_init(tr);
		tr->topic = rt->topic;
		tr->partitions_cnt = np;
		tr->partitions = sl_arena_alloc(&req->arena,
		                                (size_t)(np ? np : 1) * sizeof(*tr->partitions));
		if (!tr->partitions) {
			sl_h_bad_request(st->s, req, -ENOMEM);
			return;
		}
		for (int32_t j = 0; j < np; j++, k++) {
			struct sl_fetch_resp_partition_data *pd = &tr->partitions[j];
			struct fetch_part *fp = &st->parts[k];

			sl_fetch_resp_partition_data_init(pd);
			pd->partition_index = fp->partition;
			pd->error_code = fp->kerr;
			pd->high_watermark =
			        fp->kerr && fp->kerr != KERR_OFFSET_OUT_OF_RANGE ? -1 : fp->hw;
			pd->last_stable_offset = pd->high_watermark;
			pd->log_start_offset = fp->kerr && fp->kerr != KERR_OFFSET_OUT_OF_RANGE
			                               ? -1
			                               : fp->log_start;
			pd->aborted_transactions = NULL;
			pd->aborted_transactions_cnt = fp->kerr ? -1 : 0;
			pd->preferred_read_replica = -1;
			if (fp->len) {
				if (sl_chain_from_buf(&pd->records, &req->arena, fp->data,
				                      fp->len) < 0) {
					sl_h_bad_request(st->s, req, -ENOMEM);
					return;
				}
			} else {
				pd->records.iov = NULL;
				pd->records.n = 0;
				pd->records.len = 0;
			}
		}
	}
	atomic_fetch_add_explicit(&st->s->st_fetches, 1, memory_order_relaxed);
	sl_kreq_resp_begin(req, sl_kapi_resp_hdr_ver(req->api_key, req->api_version) >= 1);
	sl_fetch_resp_encode(&req->w, req->api_version, &resp);
	sl_kreq_done(req);
}

static void
fetch_watch_done(struct sl_pop *p)
{
	struct fetch_st *st = p->owner;
	struct fetch_part *fp = &st->parts[p->idx];

	fp->watching = false;
	SL_BUG_ON(st->wpending == 0);
	st->wpending--;
	if (!st->waking) {
		/* First wake-up: call the others back. */
		st->waking = true;
		sl_timer_disarm(st->s, &st->timer);
		st->wpending++;
		for (uint32_t i = 0; i < st->nparts; i++)
			if (st->parts[i].watching)
				sl_pop_cancel_watch(st->s, &st->parts[i].watch);
		st->wpending--;
	}
	if (st->wpending == 0) {
		st->waking = false;
		fetch_round(st);
	}
}

static void
fetch_timer(struct sl_timer *t)
{
	struct fetch_st *st = SL_CONTAINER_OF(t, struct fetch_st, timer);

	if (st->waking || st->wpending == 0)
		return;
	st->waking = true;
	st->wpending++;
	for (uint32_t i = 0; i < st->nparts; i++)
		if (st->parts[i].watching)
			sl_pop_cancel_watch(st->s, &st->parts[i].watch);
	if (--st->wpending == 0) {
		st->waking = false;
		fetch_round(st);
	}
}

static void
fetch_park(struct fetch_st *st)
{
	struct sl_shard *s = st->s;

	drop_data(st);
	st->wpending = 1;
	for (uint32_t i = 0; i < st->nparts; i++) {
		struct fetch_part *fp = &st->parts[i];
		struct sl_pop *w = &fp->watch;

		if (fp->owner < 0)
			continue;
		memset(w, 0, sizeof(*w));
		w->kind = SL_POP_WATCH;
		w->to = (uint16_t)fp->owner;
		w->topic = st->r.topics[fp->tidx].topic.p;
		w->topic_len = (uint16_t)st->r.topics[fp->tidx].topic.len;
		w->partition = fp->partition;
		w->watch_offset = SL_MAX(fp->fetch_offset, fp->hw);
		w->done = fetch_watch_done;
		w->owner = st;
		w->idx = i;
		fp->watching = true;
		st->wpending++;
		sl_pop_submit(s, w);
		if (st->waking)
			break; /* it fired at once: fetch_watch_done is cancelling the rest */
	}
	if (!st->waking)
		sl_timer_arm(s, &st->timer, st->deadline_ns);
	if (--st->wpending == 0) {
		st->waking = false;
		fetch_round(st);
	}
}

static void
fetch_round_done(struct fetch_st *st)
{
	struct sl_shard *s = st->s;
	uint64_t total = 0;
	bool err = false, any = false;

	for (uint32_t i = 0; i < st->nparts; i++) {
		total += st->parts[i].len;
		err |= st->parts[i].kerr != KERR_NONE;
		any |= st->parts[i].owner >= 0;
	}
	if (total >= (uint64_t)SL_MAX(st->r.min_bytes, 1) || err || !any ||
	    st->r.max_wait_ms <= 0 || st->deadline_ns - s->now_ns <= 0 ||
	    atomic_load(&s->dp->phase) != 0) {
		fetch_respond(st);
		return;
	}
	/* Not enough: wait for appends (or the deadline), then read again. */
	fetch_park(st);
}

static void fetch_pump(struct fetch_st *st);

static void
fetch_read_done(struct sl_pop *p)
{
	struct fetch_st *st = p->owner;
	struct fetch_part *fp = &st->parts[p->idx];

	fp->kerr = p->kerr;
	fp->hw = p->hw;
	fp->log_start = p->log_start;
	if (p->kind == SL_POP_READ && !p->kerr && p->rd.len > 0) {
		fp->data = p->rd.data;
		fp->len = p->rd.len;
		fp->buf = p->rd.buf;
		/*
		 * Data read from disk sits in one of the owning store's few read buffers; other
		 * reads (ours too) may be waiting for one. Copy it out and give the buffer back
		 * at once, so a fetch never holds read buffers while it waits for more. Tail-cache
		 * data (the common case) stays zero-copy.
		 */
		if (p->disk) {
			uint8_t *dst = sl_arena_alloc(&st->req->arena, fp->len);

			if (dst) {
				memcpy(dst, fp->data, fp->len);
				sl_rbuf_unref(fp->buf);
				fp->buf = NULL;
				fp->data = dst;
			}
		}
		st->got += fp->len;
	}
	SL_BUG_ON(st->inflight == 0);
	st->inflight--;
	fetch_pump(st);
}

/*
 * Issues the round's reads in partition order, at most FETCH_PAR at a time. Once the
 * bytes received reach max_bytes, the remaining partitions only get their offsets (no
 * data: the client asks again), as Kafka fills a fetch in partition order.
 */
static void
fetch_pump(struct fetch_st *st)
{
	struct sl_shard *s = st->s;
	uint64_t max = st->r.max_bytes > 0 ? (uint64_t)st->r.max_bytes : 0;

	if (st->pumping)
		return;
	st->pumping = true;
	while (st->next < st->nparts && st->inflight < FETCH_PAR) {
		uint32_t i = st->next++;
		struct fetch_part *fp = &st->parts[i];
		struct sl_pop *p = &fp->rd;

		if (fp->owner < 0)
			continue;
		fp->kerr = KERR_NONE;
		memset(p, 0, sizeof(*p));
		p->to = (uint16_t)fp->owner;
		p->topic = st->r.topics[fp->tidx].topic.p;
		p->topic_len = (uint16_t)st->r.topics[fp->tidx].topic.len;
		p->partition = fp->partition;
		p->done = fetch_read_done;
		p->owner = st;
		p->idx = i;
		if (st->got >= max) {
			p->kind = SL_POP_OFFSETS;
			p->ts = -1;
		} else {
			p->kind = SL_POP_READ;
			p->rd.offset = fp->fetch_offset;
			p->rd.max_bytes = (uint32_t)SL_MAX(
			        SL_MIN((uint64_t)SL_MAX(fp->pmax, 1), max - st->got), (uint64_t)1);
		}
		st->inflight++;
		sl_pop_submit(s, p);
	}
	st->pumping = false;
	if (st->inflight == 0 && st->next >= st->nparts && !st->round_over) {
		st->round_over = true;
		fetch_round_done(st);
	}
}

static void
fetch_round(struct fetch_st *st)
{
	drop_data(st);
	st->next = 0;
	st->got = 0;
	st->round_over = false;
	fetch_pump(st);
}

void
sl_h_fetch(struct sl_shard *s, struct sl_kreq *req)
{
	struct fetch_st *st = sl_arena_zalloc(&req->arena, sizeof(*st));
	const struct sl_meta *m = s->meta;
	uint32_t n = 0, k = 0;
	int rc;

	if (!st) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	st->s = s;
	st->req = req;
	st->timer.idx = -1;
	st->timer.fn = fetch_timer;
	rc = sl_fetch_req_decode(&req->rd, req->api_version, &st->r);
	if (rc < 0) {
		sl_h_bad_request(s, req, rc);
		return;
	}
	req->hstate = st;
	req->cleanup = fetch_cleanup;
	if (st->r.topics_cnt < 0)
		st->r.topics_cnt = 0;
	/* Copy the names we keep: the frame goes back while we wait. */
	for (int32_t i = 0; i < st->r.topics_cnt; i++) {
		struct sl_str *t = &st->r.topics[i].topic;

		if (st->r.topics[i].partitions_cnt < 0)
			st->r.topics[i].partitions_cnt = 0;
		n += (uint32_t)st->r.topics[i].partitions_cnt;
		if (t->len > 0) {
			char *p = sl_arena_alloc(&req->arena, (size_t)t->len);

			if (!p) {
				sl_h_bad_request(s, req, -ENOMEM);
				return;
			}
			memcpy(p, t->p, (size_t)t->len);
			t->p = p;
		}
	}
	st->nparts = n;
	st->parts = sl_arena_zalloc(&req->arena, (n ? n : 1) * sizeof(*st->parts));
	if (!st->parts) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	if (req->api_version >= 7 && st->r.session_id != 0)
		st->top_err = KERR_FETCH_SESSION_ID_NOT_FOUND;
	for (int32_t i = 0; i < st->r.topics_cnt; i++) {
		const struct sl_fetch_req_topic *rt = &st->r.topics[i];
		const struct sl_meta_topic *t = NULL;

		if (m && rt->topic.len > 0)
			t = sl_meta_find(m, rt->topic.p, (size_t)rt->topic.len);
		for (int32_t j = 0; j < rt->partitions_cnt; j++, k++) {
			struct fetch_part *fp = &st->parts[k];
			const struct sl_fetch_req_partition *rp = &rt->partitions[j];

			fp->tidx = i;
			fp->partition = rp->partition;
			fp->fetch_offset = rp->fetch_offset;
			fp->pmax = rp->partition_max_bytes;
			fp->hw = -1;
			fp->log_start = -1;
			fp->owner = sl_shard_owner(t, rp->partition);
			fp->kerr = fp->owner < 0 ? KERR_UNKNOWN_TOPIC_OR_PARTITION : KERR_NONE;
		}
	}
	sl_kreq_release_frame(req);
	st->deadline_ns = s->now_ns + (int64_t)SL_MAX(st->r.max_wait_ms, 0) * 1000000LL;
	if (st->top_err) {
		fetch_respond(st);
		return;
	}
	fetch_round(st);
}
