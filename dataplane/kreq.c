// SPDX-License-Identifier: Apache-2.0
/*
 * kreq.c: framing, header decoding, dispatch and in-order responses for one Kafka
 * connection, over whatever transport implements xport.h. See kreq.h.
 *
 * Runs on the connection's owning thread. Allocates only when a request slot is first
 * used (its arena) and when a frame is staged. Never blocks.
 *
 * Invariants:
 *  1. seg_head <= cur_seg <= seg_tail and seg_tail - seg_head <= seg_mask + 1.
 *  2. unparsed == bytes of segs from (cur_seg, cur_off) to the end of seg_tail - 1.
 *  3. A segment is given back (released) exactly once: when no frame references it
 *     (refs == 0) and the parse position has moved past it (seq < cur_seg).
 *  4. Requests [req_head, req_tail) are in use, in arrival order; those in SL_KREQ_TX
 *     form a prefix of them and are in the send in flight (the last one possibly only in
 *     part: tx_more); responses leave in seq order.
 *  5. When closing, no request is parsed or sent; each is finished as soon as its handler
 *     is done; the object goes back to the transport (ops->free) once every slot is
 *     free, the transport is gone and no external operation holds it.
 *
 * Frame states of the parse position:
 *
 *   [need size] --4 bytes--> [need body] --all bytes--> request dispatched
 *        \                        |  spans > STAGE_SEGS segments (or stage_now)
 *         \---------------------> [staging: copy into stage, release segments]
 *                                     --frame complete--> request dispatched (staged)
 */
#include "dataplane/kreq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/log.h"

/* Pause well below the ring size: segments already in flight in the transport still
 * arrive after the pause request. */
#define PAUSE_SEGS 48
#define RESUME_SEGS 24
#define STAGE_MIN_CAP (64u << 10)

static void try_parse(struct sl_kconn *c);
static void try_tx(struct sl_kconn *c);
static void maybe_free(struct sl_kconn *c);

static inline struct sl_kseg *
seg_at(struct sl_kconn *c, uint64_t seq)
{
	return &c->segs[seq & c->seg_mask];
}

static inline struct sl_kreq *
req_at(struct sl_kconn *c, uint64_t seq)
{
	return &c->reqs[seq % SL_KCONN_DEPTH];
}

int
sl_kconn_init(struct sl_kconn *c, const struct sl_xport_ops *ops, const struct sl_kconn_cfg *cfg,
              void *owner, uint64_t id)
{
	uint32_t cap = 16;

	memset(c, 0, sizeof(*c));
	while (cap < cfg->max_segs && cap < (1u << 30))
		cap <<= 1;
	c->segs = calloc(cap, sizeof(*c->segs));
	if (!c->segs)
		return -ENOMEM;
	c->seg_mask = cap - 1;
	c->ops = ops;
	c->cfg = cfg;
	c->owner = owner;
	c->id = id;
	for (unsigned i = 0; i < SL_KCONN_DEPTH; i++)
		c->reqs[i].conn = c;
	return 0;
}

void
sl_kconn_fini(struct sl_kconn *c)
{
	for (unsigned i = 0; i < SL_KCONN_DEPTH; i++) {
		if (c->reqs[i].arena_ready)
			sl_arena_fini(&c->reqs[i].arena);
		c->reqs[i].arena_ready = false;
	}
	free(c->stage);
	c->stage = NULL;
	c->stage_cap = 0;
	free(c->segs);
	c->segs = NULL;
}

void
sl_kconn_reuse(struct sl_kconn *c, uint64_t id)
{
	struct sl_arena arenas[SL_KCONN_DEPTH];
	bool ready[SL_KCONN_DEPTH];
	const struct sl_xport_ops *ops = c->ops;
	const struct sl_kconn_cfg *cfg = c->cfg;
	struct sl_kseg *segs = c->segs;
	uint32_t seg_mask = c->seg_mask;
	void *owner = c->owner;
	uint8_t *stage = c->stage;
	size_t stage_cap = c->stage_cap;

	for (unsigned i = 0; i < SL_KCONN_DEPTH; i++) {
		arenas[i] = c->reqs[i].arena;
		ready[i] = c->reqs[i].arena_ready;
	}
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->cfg = cfg;
	c->owner = owner;
	c->id = id;
	c->segs = segs;
	c->seg_mask = seg_mask;
	for (unsigned i = 0; i < SL_KCONN_DEPTH; i++) {
		c->reqs[i].conn = c;
		c->reqs[i].arena = arenas[i];
		c->reqs[i].arena_ready = ready[i];
	}
	/* A big staging buffer is not kept for the next client. */
	if (stage_cap > STAGE_MIN_CAP) {
		free(stage);
		stage = NULL;
		stage_cap = 0;
	}
	c->stage = stage;
	c->stage_cap = stage_cap;
}

int
sl_kconn_prepare(struct sl_kconn *c)
{
	for (unsigned i = 0; i < SL_KCONN_DEPTH; i++) {
		struct sl_kreq *req = &c->reqs[i];

		if (req->arena_ready)
			continue;
		if (sl_arena_init(&req->arena, c->cfg->arena_blk_bytes, c->cfg->arena_max_bytes) <
		    0)
			return -ENOMEM;
		req->arena_ready = true;
	}
	return 0;
}

/* ---- segments ---- */

static void
seg_release_passed(struct sl_kconn *c)
{
	for (uint64_t s = c->seg_head; s < c->cur_seg; s++) {
		struct sl_kseg *k = seg_at(c, s);

		if (!k->released && k->refs == 0) {
			k->released = true;
			c->ops->rx_release(c, k->seg.id);
		}
	}
	while (c->seg_head < c->cur_seg && seg_at(c, c->seg_head)->released)
		c->seg_head++;
}

/* Moves the parse position past segments it has fully consumed. */
static void
cursor_norm(struct sl_kconn *c)
{
	while (c->cur_seg < c->seg_tail && c->cur_off >= seg_at(c, c->cur_seg)->seg.len) {
		c->cur_seg++;
		c->cur_off = 0;
	}
}

/* Copies n bytes from the parse position (n <= unparsed) without moving it. */
static void
chain_peek(struct sl_kconn *c, void *dst, size_t n)
{
	uint64_t s = c->cur_seg;
	uint32_t off = c->cur_off;
	uint8_t *d = dst;

	while (n) {
		const struct sl_rxseg *g = &seg_at(c, s)->seg;
		size_t k = SL_MIN((size_t)(g->len - off), n);

		memcpy(d, g->p + off, k);
		d += k;
		n -= k;
		s++;
		off = 0;
	}
}

/* Advances the parse position by n bytes (n <= unparsed); copies them to dst if set. */
static void
chain_take(struct sl_kconn *c, uint8_t *dst, size_t n)
{
	c->unparsed -= n;
	while (n) {
		const struct sl_rxseg *g = &seg_at(c, c->cur_seg)->seg;
		size_t k = SL_MIN((size_t)(g->len - c->cur_off), n);

		if (dst) {
			memcpy(dst, g->p + c->cur_off, k);
			dst += k;
		}
		c->cur_off += (uint32_t)k;
		n -= k;
		cursor_norm(c);
	}
	cursor_norm(c);
}

void
sl_kconn_rx(struct sl_kconn *c, const struct sl_rxseg *seg)
{
	struct sl_kseg *k;

	if (c->closing || seg->len == 0) {
		c->ops->rx_release(c, seg->id);
		return;
	}
	if (c->seg_tail - c->seg_head > c->seg_mask) {
		/* More segments than the transport has buffers: a transport bug. */
		c->ops->rx_release(c, seg->id);
		SL_LOG_RATELIMIT(SL_LOG_WARN, "conn %llu: receive ring overflow, closing",
		                 (unsigned long long)c->id);
		sl_kconn_close(c, -ENOBUFS);
		return;
	}
	k = seg_at(c, c->seg_tail++);
	k->seg = *seg;
	k->refs = 0;
	k->released = false;
	c->unparsed += seg->len;
	cursor_norm(c);
	try_parse(c);
}

/* ---- staging ---- */

static int
stage_reserve(struct sl_kconn *c, size_t want)
{
	size_t cap;
	uint8_t *p;

	if (want <= c->stage_cap)
		return 0;
	if (want > c->cfg->stage_max_bytes)
		return -EMSGSIZE;
	cap = SL_MAX(c->stage_cap * 2, (size_t)STAGE_MIN_CAP);
	cap = SL_MAX(cap, want);
	if (c->stage_need)
		cap = SL_MIN(cap, SL_MAX((size_t)c->stage_need, want));
	cap = SL_MIN(cap, c->cfg->stage_max_bytes);
	p = realloc(c->stage, cap);
	if (!p)
		return -ENOMEM;
	c->stage = p;
	c->stage_cap = cap;
	return 0;
}

/* Checks a frame size prefix. Returns 0 or -EBADMSG. */
static int
frame_size_ok(const struct sl_kconn *c, int32_t size)
{
	if (size < SL_KREQ_HDR_MIN || (uint32_t)size > c->cfg->max_frame_bytes)
		return -EBADMSG;
	return 0;
}

static void
stage_start(struct sl_kconn *c)
{
	c->staging = true;
	c->stage_len = 0;
	c->stage_need = 0;
}

/*
 * Copies from the parse position into the staging buffer until the frame is complete or
 * the chain runs out, releasing consumed segments. Returns 1 when complete, 0 when more
 * bytes are needed, < 0 on a bad size or allocation failure.
 */
static int
stage_fill(struct sl_kconn *c)
{
	int rc;

	while (c->unparsed) {
		size_t want, n;

		if (c->stage_need == 0) {
			want = 4;
		} else {
			want = c->stage_need;
		}
		if (c->stage_len >= want && c->stage_need)
			break;
		n = SL_MIN(want - c->stage_len, c->unparsed);
		rc = stage_reserve(c, c->stage_len + n);
		if (rc < 0)
			return rc;
		chain_take(c, c->stage + c->stage_len, n);
		c->stage_len += n;
		if (c->stage_need == 0 && c->stage_len >= 4) {
			int32_t size = (int32_t)sl_be32(c->stage);

			if (frame_size_ok(c, size) < 0)
				return -EBADMSG;
			c->stage_need = (uint32_t)size + 4;
		}
	}
	seg_release_passed(c);
	return c->stage_need && c->stage_len >= c->stage_need;
}

void
sl_kconn_stage_now(struct sl_kconn *c)
{
	if (c->closing || c->staging || c->stage_busy || c->unparsed == 0)
		return;
	stage_start(c);
	try_parse(c);
}

/* ---- requests ---- */

static int
req_slot_prepare(struct sl_kconn *c, struct sl_kreq *req)
{
	if (!req->arena_ready) {
		if (sl_arena_init(&req->arena, c->cfg->arena_blk_bytes, c->cfg->arena_max_bytes) <
		    0)
			return -ENOMEM;
		req->arena_ready = true;
	}
	req->conn = c;
	req->state = SL_KREQ_RUN;
	req->size_at = NULL;
	req->no_response = false;
	req->close_after = false;
	req->staged = false;
	req->seg_first = req->seg_end = 0;
	req->cleanup = NULL;
	req->hstate = NULL;
	req->frame_iov = NULL;
	req->frame_niov = 0;
	sl_wbuf_init(&req->w, &req->arena);
	return 0;
}

static void
req_release_frame(struct sl_kreq *req)
{
	struct sl_kconn *c = req->conn;

	for (uint64_t s = req->seg_first; s < req->seg_end; s++) {
		struct sl_kseg *k = seg_at(c, s);

		SL_BUG_ON(k->refs == 0);
		k->refs--;
	}
	req->seg_first = req->seg_end = 0;
	if (req->staged) {
		req->staged = false;
		c->stage_busy = false;
	}
	seg_release_passed(c);
}

void
sl_kreq_release_frame(struct sl_kreq *req)
{
	if (req->seg_end != req->seg_first || req->staged)
		req_release_frame(req);
	req->frame_iov = NULL;
	req->frame_niov = 0;
	try_parse(req->conn);
}

/* Decodes the header and dispatches. Returns < 0 to close the connection. */
static int
req_start(struct sl_kconn *c, struct sl_kreq *req)
{
	struct sl_crd *rd = &req->rd;

	sl_crd_init(rd, req->frame_iov, req->frame_niov, req->frame_len, &req->arena);
	req->api_key = sl_crd_i16(rd);
	req->api_version = sl_crd_i16(rd);
	req->correlation_id = sl_crd_i32(rd);
	sl_crd_string(rd, &req->client_id);
	if (rd->err)
		return -EBADMSG;
	return c->cfg->dispatch(req, c->cfg->ctx);
}

/* Takes a request slot for a frame of size bytes at the parse position (the 4-byte size
 * prefix not yet consumed) and builds its iovec over the segments. */
static struct sl_kreq *
req_from_chain(struct sl_kconn *c, uint32_t size)
{
	struct sl_kreq *req = req_at(c, c->req_tail);
	uint64_t s;
	uint32_t off;
	size_t left = size;
	unsigned n = 0, cap;

	if (req_slot_prepare(c, req) < 0)
		return NULL;
	req->seq = c->req_tail++;
	chain_take(c, NULL, 4);
	s = c->cur_seg;
	off = c->cur_off;
	/* Count the segments first so the iovec array is allocated once. */
	cap = 0;
	for (uint64_t t = s; left; t++) {
		size_t k = SL_MIN((size_t)(seg_at(c, t)->seg.len - (t == s ? off : 0)), left);

		left -= k;
		cap++;
	}
	req->frame_iov = sl_arena_alloc(&req->arena, (cap ? cap : 1) * sizeof(struct iovec));
	if (!req->frame_iov)
		return NULL;
	left = size;
	req->seg_first = s;
	for (uint64_t t = s; left; t++) {
		struct sl_kseg *k = seg_at(c, t);
		uint32_t o = t == s ? off : 0;
		size_t len = SL_MIN((size_t)(k->seg.len - o), left);

		req->frame_iov[n].iov_base = (void *)(k->seg.p + o);
		req->frame_iov[n].iov_len = len;
		n++;
		k->refs++;
		left -= len;
		req->seg_end = t + 1;
	}
	req->frame_niov = n;
	req->frame_len = size;
	chain_take(c, NULL, size);
	seg_release_passed(c);
	return req;
}

static struct sl_kreq *
req_from_stage(struct sl_kconn *c)
{
	struct sl_kreq *req = req_at(c, c->req_tail);

	if (req_slot_prepare(c, req) < 0)
		return NULL;
	req->seq = c->req_tail++;
	req->frame_iov = sl_arena_alloc(&req->arena, sizeof(struct iovec));
	if (!req->frame_iov)
		return NULL;
	req->frame_iov[0].iov_base = c->stage + 4;
	req->frame_iov[0].iov_len = c->stage_need - 4;
	req->frame_niov = 1;
	req->frame_len = c->stage_need - 4;
	req->staged = true;
	c->stage_busy = true;
	c->staging = false;
	c->stage_len = 0;
	c->stage_need = 0;
	return req;
}

/* May a request with this API key start now? (one at a time, runs of overlap_api_key) */
static bool
may_start(const struct sl_kconn *c, int16_t key)
{
	if (c->run_cnt == 0)
		return true;
	return key == c->cfg->overlap_api_key && c->run_ovl == c->run_cnt;
}

static void
run_begin(struct sl_kconn *c, struct sl_kreq *req)
{
	/* The header is not decoded yet: peek the key from the frame's first bytes. */
	uint8_t k[2];
	struct sl_crd rd;

	sl_crd_init(&rd, req->frame_iov, req->frame_niov, req->frame_len, NULL);
	sl_crd_copy(&rd, k, 2);
	req->overlap = !rd.err && (int16_t)sl_be16(k) == c->cfg->overlap_api_key;
	c->run_cnt++;
	c->run_ovl += req->overlap;
}

static void
run_end(struct sl_kconn *c, struct sl_kreq *req)
{
	SL_BUG_ON(c->run_cnt == 0);
	c->run_cnt--;
	c->run_ovl -= req->overlap;
	req->overlap = false;
}

static void
update_rx_pause(struct sl_kconn *c)
{
	uint64_t held = c->seg_tail - c->seg_head;

	if (c->closing)
		return;
	if (c->hold) {
		if (!c->rx_paused) {
			c->rx_paused = true;
			c->ops->rx_pause(c, true);
		}
		return;
	}
	if (!c->rx_paused && held >= PAUSE_SEGS) {
		c->rx_paused = true;
		c->ops->rx_pause(c, true);
	} else if (c->rx_paused && held <= RESUME_SEGS) {
		c->rx_paused = false;
		c->ops->rx_pause(c, false);
	}
}

static void
try_parse(struct sl_kconn *c)
{
	if (c->in_parse)
		return;
	c->in_parse = true;
	while (!c->closing && !c->hold) {
		struct sl_kreq *req;
		uint8_t szb[4];
		int32_t size;
		int rc;

		if (c->req_tail - c->req_head >= SL_KCONN_DEPTH)
			break;
		if (c->tx_pending > c->cfg->tx_limit_bytes)
			break;
		if (c->staging) {
			rc = stage_fill(c);
			if (rc < 0) {
				sl_kconn_close(c, rc);
				break;
			}
			if (rc == 0)
				break;
			if (!may_start(c, (int16_t)sl_be16(c->stage + 4)))
				break;
			req = req_from_stage(c);
		} else {
			if (c->unparsed < 4)
				break;
			chain_peek(c, szb, 4);
			size = (int32_t)sl_be32(szb);
			if (frame_size_ok(c, size) < 0) {
				SL_LOG_RATELIMIT(SL_LOG_WARN,
				                 "conn %llu: bad frame size %d, closing",
				                 (unsigned long long)c->id, size);
				sl_kconn_close(c, -EBADMSG);
				break;
			}
			if (c->unparsed < (size_t)size + 4) {
				/* Incomplete: stage it if it pins too many segments. */
				uint64_t nseg = c->seg_tail - c->cur_seg;

				if (!c->stage_busy &&
				    (nseg > SL_KCONN_STAGE_SEGS_MAX ||
				     (nseg > SL_KCONN_STAGE_SEGS &&
				      c->unparsed < nseg * SL_KCONN_STAGE_FILL))) {
					stage_start(c);
					continue;
				}
				break;
			}
			{
				uint8_t hk[6];

				chain_peek(c, hk, 6);
				if (!may_start(c, (int16_t)sl_be16(hk + 4)))
					break;
			}
			req = req_from_chain(c, (uint32_t)size);
		}
		if (!req) {
			sl_kconn_close(c, -ENOMEM);
			break;
		}
		run_begin(c, req);
		rc = req_start(c, req);
		if (rc < 0) {
			/* Unknown API or version, or a header that does not decode. */
			run_end(c, req);
			req->state = SL_KREQ_DONE;
			req->size_at = NULL;
			req->no_response = true;
			req_release_frame(req);
			sl_kconn_close(c, rc);
			break;
		}
	}
	c->in_parse = false;
	update_rx_pause(c);
	maybe_free(c);
}

/* ---- responses ---- */

void
sl_kreq_resp_begin(struct sl_kreq *req, bool flexible_hdr)
{
	req->size_at = sl_wbuf_reserve(&req->w, 4);
	sl_wbuf_i32(&req->w, req->correlation_id);
	if (flexible_hdr)
		sl_wbuf_no_tags(&req->w);
}

/* The response is gone (sent or dropped): clean up and free the slot. */
static void
req_finish(struct sl_kreq *req)
{
	struct sl_kconn *c = req->conn;

	if (req->seg_end != req->seg_first || req->staged)
		req_release_frame(req);
	if (req->cleanup)
		req->cleanup(req);
	req->cleanup = NULL;
	if (!req->no_response) {
		SL_ASSERT(c->tx_pending >= req->w.len);
		c->tx_pending -= req->w.len;
	}
	sl_arena_reset(&req->arena);
	req->state = SL_KREQ_FREE;
	while (c->req_head < c->req_tail && req_at(c, c->req_head)->state == SL_KREQ_FREE)
		c->req_head++;
}

void
sl_kreq_done(struct sl_kreq *req)
{
	struct sl_kconn *c = req->conn;

	SL_ASSERT(req->state == SL_KREQ_RUN);
	run_end(c, req);
	if (req->size_at) {
		if (req->w.len < 4 || req->w.len - 4 > INT32_MAX)
			sl_wbuf_fail(&req->w, -EMSGSIZE);
		else
			sl_put_be32(req->size_at, (uint32_t)(req->w.len - 4));
	}
	if (req->w.err && !req->no_response) {
		SL_LOG_RATELIMIT(SL_LOG_WARN, "conn %llu: response to api %d failed (%d), closing",
		                 (unsigned long long)c->id, req->api_key, req->w.err);
		req->no_response = true;
		req->state = SL_KREQ_DONE;
		req_release_frame(req);
		sl_kconn_close(c, req->w.err);
		return;
	}
	if (!req->size_at && req->w.len == 0)
		req->no_response = true;
	req->state = SL_KREQ_DONE;
	if (!req->no_response)
		c->tx_pending += req->w.len;
	if (req->seg_end != req->seg_first || req->staged)
		req_release_frame(req);
	if (c->closing) {
		req_finish(req);
		maybe_free(c);
		return;
	}
	try_tx(c);
	try_parse(c);
}

/*
 * Gathers the iovecs of the finished responses at the head, in order, into one send of
 * at most SL_KCONN_TXIOV entries. A response with more pieces than fit goes out in
 * several sends: tx_iov_pos is where the head request's next send starts, and a request
 * partly in the send in flight is marked tx_more.
 */
static void
try_tx(struct sl_kconn *c)
{
	unsigned n = 0;
	size_t len = 0;
	bool any = false;

	if (c->closing || c->tx_inflight)
		return;
	/* Requests without a response at the head need no send. */
	while (c->req_head < c->req_tail) {
		struct sl_kreq *req = req_at(c, c->req_head);

		if (req->state != SL_KREQ_DONE || !req->no_response)
			break;
		req_finish(req);
	}
	for (uint64_t s = c->req_head; s < c->req_tail && n < SL_KCONN_TXIOV; s++) {
		struct sl_kreq *req = req_at(c, s);
		unsigned first, take;

		if (req->state != SL_KREQ_DONE)
			break;
		any = true;
		req->state = SL_KREQ_TX;
		if (req->no_response)
			continue;
		first = s == c->req_head ? c->tx_iov_pos : 0;
		take = SL_MIN(req->w.niov - first, SL_KCONN_TXIOV - n);
		for (unsigned i = 0; i < take; i++) {
			c->txiov[n + i] = req->w.iov[first + i];
			len += req->w.iov[first + i].iov_len;
		}
		n += take;
		if (first + take < req->w.niov) {
			/* The rest of this response goes in a later send. */
			req->tx_more = true;
			req->tx_next = first + take;
			break;
		}
	}
	if (!any)
		return;
	c->tx_inflight = true;
	if (len == 0) {
		sl_kconn_tx_done(c, 0);
		return;
	}
	c->ops->tx(c, c->txiov, n, len);
}

void
sl_kconn_tx_done(struct sl_kconn *c, int res)
{
	SL_BUG_ON(!c->tx_inflight);
	c->tx_inflight = false;
	c->tx_iov_pos = 0;
	/* Every request in the send is at the head, in order. */
	while (c->req_head < c->req_tail) {
		struct sl_kreq *req = req_at(c, c->req_head);

		if (req->state != SL_KREQ_TX)
			break;
		if (req->tx_more && res >= 0 && !c->closing) {
			req->tx_more = false;
			req->state = SL_KREQ_DONE;
			c->tx_iov_pos = req->tx_next;
			break;
		}
		req->tx_more = false;
		req_finish(req);
	}
	if (res < 0) {
		sl_kconn_close(c, res);
		maybe_free(c);
		return;
	}
	if (c->closing) {
		maybe_free(c);
		return;
	}
	try_tx(c);
	try_parse(c);
}

/* ---- closing ---- */

bool
sl_kconn_idle(const struct sl_kconn *c)
{
	return c->req_head == c->req_tail;
}

void
sl_kconn_hold(struct sl_kconn *c)
{
	c->hold = true;
	update_rx_pause(c);
}

void
sl_kconn_close(struct sl_kconn *c, int err)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_err = err;
	c->staging = false;
	/* Requests whose handler finished but whose response was not sent yet are dropped;
	 * a send in flight finishes through tx_done. */
	for (uint64_t s = c->req_head; s < c->req_tail; s++) {
		struct sl_kreq *req = req_at(c, s);

		if (req->state == SL_KREQ_DONE)
			req_finish(req);
	}
	c->ops->close(c);
}

void
sl_kconn_rx_end(struct sl_kconn *c, int err)
{
	sl_kconn_close(c, err);
}

void
sl_kconn_xport_gone(struct sl_kconn *c)
{
	c->xport_gone = true;
	maybe_free(c);
}

void
sl_kconn_ext_put(struct sl_kconn *c)
{
	SL_BUG_ON(c->inflight_ext == 0);
	c->inflight_ext--;
	maybe_free(c);
}

static void
maybe_free(struct sl_kconn *c)
{
	if (!c->closing || !c->xport_gone || c->freed || c->in_parse)
		return;
	if (c->req_head != c->req_tail || c->inflight_ext)
		return;
	/* Everything unparsed goes back to the transport's pool. */
	c->cur_seg = c->seg_tail;
	c->cur_off = 0;
	c->unparsed = 0;
	seg_release_passed(c);
	SL_BUG_ON(c->seg_head != c->seg_tail);
	c->freed = true;
	c->ops->free(c);
}
