// SPDX-License-Identifier: Apache-2.0
/*
 * shard.c: the shard threads: the run-to-completion loop, cross-thread messages, the
 * partitions a shard owns, partition operations (local or forwarded), timers, request
 * dispatch and forwarding to the control plane. See shard.h and dp_int.h.
 *
 * One loop iteration (shard_main):
 *   read the clocks -> acquire the metadata snapshot -> pop the rings (control, shards)
 *   -> retry appends that waited for a chunk -> fire timers -> transport housekeeping
 *   -> sl_store_poll (group commit) -> push queued messages, wake their receivers
 *   -> announce sleep, re-check the rings -> sl_uring_run (submit + wait with a timeout,
 *   reap: socket and disk completions run their handlers here).
 * A DPDK network shard never sleeps in the ring: it polls its port first, flushes its
 * stack's tx, runs the ring without waiting, and yields the CPU only when idle with storage
 * I/O in flight. Its store writes buffered data itself (inline_buffered, storage/plog.h):
 * through io_uring every ext4 buffered write went to an io-wq worker confined to the
 * shard's core, so an acknowledgement waited for the shard to yield.
 *
 * Allocation: everything at sl_dp_create, except: a partition entry when a log is opened,
 * an sl_ctrl_req (+ frame copy) per forwarded admin request, an sl_topic_create per
 * auto-creation, and a queue node when a ring is full. None of those is on the produce /
 * fetch path. Blocking: only log open/close/remove (control-plane operations).
 *
 * Shutdown phases (dp->phase): 0 run; 1 drain (stop accepting, hold every connection,
 * end long polls, close connections once idle, then count ourselves drained); 2 stop
 * (finish storage I/O, close every log, leave the loop).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/kproto/api.h"
#include "common/log.h"
#include "dataplane/dp_int.h"
#include "storage/pstate.h"
#include "storage/rbatch.h"
#ifdef SL_HAVE_DPDK
#include "dataplane/dpdk/port.h"
#include "dataplane/xport_dpdk.h"
#endif

#define IDLE_WAIT_NS (100 * 1000000LL)
#define BUSY_WAIT_NS (100 * 1000LL)
#define RING_BURST 256
/* DPDK network shard: loop iterations without work before it naps (idle_sleep_us). */
#define IDLE_SPINS 1024

/* The APIs the data plane implements itself (README's ranges). */
static const struct sl_api_range dp_apis[] = {
        {SL_API_PRODUCE, 3, 7},  {SL_API_FETCH, 4, 11},       {SL_API_LIST_OFFSETS, 0, 3},
        {SL_API_METADATA, 0, 8}, {SL_API_API_VERSIONS, 0, 3},
};

const struct sl_api_range *
sl_dp_apis(size_t *n)
{
	*n = SL_ARRAY_SIZE(dp_apis);
	return dp_apis;
}

void
sl_dp_opts_default(struct sl_dp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->nshards = 1;
	o->pin = true;
	o->ring_slots = 4096;
	o->uring_entries = 1024;
	sl_uxport_cfg_default(&o->xport);
	sl_store_opts_default(&o->store);
	o->log_dir = "./data";
	o->max_frame_bytes = 104857600;
	o->conn_tx_limit_bytes = 16 << 20;
	o->auto_create = true;
	o->create_timeout_ms = 30000;
	o->node_id = 0;
	o->retention_check_ms = 5000;
	o->compact_backoff_ms = 15000;
}

/* ---- helpers shared by handlers ---- */

bool
sl_topic_name_valid(const char *p, size_t len)
{
	if (len == 0 || len > SL_TOPIC_NAME_MAX)
		return false;
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int16_t
sl_kerr_from_storage(int err)
{
	if (err >= 0)
		return KERR_NONE;
	if (err <= -1000 && err > -1100)
		return sl_rb_kerr(err); /* enum sl_rb_err: CORRUPT_MESSAGE, INVALID_RECORD ... */
	if (sl_pstate_is_err(err))
		return sl_pstate_kerr(err); /* idempotence: OUT_OF_ORDER_SEQUENCE_NUMBER ... */
	switch (err) {
	case -EMSGSIZE:
		return KERR_MESSAGE_TOO_LARGE;
	case -ERANGE:
		return KERR_OFFSET_OUT_OF_RANGE;
	case -EBADMSG:
	case -EINVAL:
		return KERR_CORRUPT_MESSAGE;
	case -ENOSPC:
	case -ETIMEDOUT:
		return KERR_REQUEST_TIMED_OUT;
	case -EIO:
	case -EROFS:
		return KERR_KAFKA_STORAGE_ERROR;
	default:
		return KERR_UNKNOWN;
	}
}

static int
api_cmp(const void *a, const void *b)
{
	const struct sl_api_range *x = a, *y = b;

	return x->api_key - y->api_key;
}

static void
build_api_table(struct sl_dp *dp)
{
	size_t n = 0;

	for (size_t i = 0; i < SL_ARRAY_SIZE(dp_apis); i++)
		dp->apis[n++] = dp_apis[i];
	for (size_t i = 0; dp->ctrl_set && i < dp->ctrl.napis && n < SL_ARRAY_SIZE(dp->apis); i++) {
		bool dup = false;

		for (size_t j = 0; j < SL_ARRAY_SIZE(dp_apis); j++)
			dup |= dp_apis[j].api_key == dp->ctrl.apis[i].api_key;
		if (!dup)
			dp->apis[n++] = dp->ctrl.apis[i];
	}
	qsort(dp->apis, n, sizeof(dp->apis[0]), api_cmp);
	dp->napis = n;
}

const struct sl_api_range *
sl_dp_adv_apis(const struct sl_dp *dp, size_t *n)
{
	*n = dp->napis;
	return dp->apis;
}

const struct sl_api_range *
sl_dp_adv_find(const struct sl_dp *dp, int16_t key)
{
	for (size_t i = 0; i < dp->napis; i++)
		if (dp->apis[i].api_key == key)
			return &dp->apis[i];
	return NULL;
}

/* ---- messages out ---- */

static void
wake_shard(struct sl_shard *t)
{
	/* Pairs with the fence in shard_wait: either the target sees our push, or we see
	 * it announced sleep. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&t->sleeping, memory_order_relaxed)) {
		uint64_t one = 1;

		(void)!write(t->efd, &one, sizeof(one));
	}
}

void
sl_dp_wake(void *arg, uint16_t shard)
{
	struct sl_dp *dp = arg;

	if (shard < dp->n)
		wake_shard(&dp->shards[shard]);
}

static void
outq_add(struct sl_outq *q, struct sl_pend *p)
{
	p->next = NULL;
	if (q->tail)
		q->tail->next = p;
	else
		q->head = p;
	q->tail = p;
}

/* Pushes what waits in q; returns true when q is empty afterwards. */
static bool
outq_flush(struct sl_outq *q, struct sl_ring *r, bool *pushed)
{
	while (q->head) {
		struct sl_pend *p = q->head;

		if (!sl_ring_push(r, &p->m))
			return false;
		*pushed = true;
		q->head = p->next;
		if (!q->head)
			q->tail = NULL;
		/* Nodes with a message of their own kind were malloc'ed by send_msg. */
		if (p->m.type != SL_MSG_FWD && p->m.type != SL_MSG_FWD_DONE)
			free(p);
		else if (p->m.arg == SL_FWD_CANCEL)
			free(p);
	}
	return true;
}

/* Sends a message that has no queue node of its own (malloc'ed only if the ring is full). */
static void
send_msg(struct sl_shard *s, struct sl_ring *r, struct sl_outq *q, bool *dirty,
         const struct sl_msg *m)
{
	struct sl_pend *p;

	if (!q->head && sl_ring_push(r, m)) {
		*dirty = true;
		return;
	}
	p = malloc(sizeof(*p));
	SL_BUG_ON(!p); /* losing a cross-thread message would leak its owner's object */
	p->m = *m;
	outq_add(q, p);
	(void)s;
}

void
sl_shard_send_ctrl_msg(struct sl_shard *s, const struct sl_msg *m)
{
	send_msg(s, s->to_ctrl, &s->ctrl_q, &s->ctrl_dirty, m);
}

void
sl_shard_send_msg(struct sl_shard *s, uint16_t to, const struct sl_msg *m)
{
	struct sl_msg c = *m;

	c.from = s->id;
	send_msg(s, s->out[to], &s->shard_q[to], &s->dirty[to], &c);
}

void
sl_shard_send_ctrl(struct sl_shard *s, struct sl_pend *p)
{
	if (!s->ctrl_q.head && sl_ring_push(s->to_ctrl, &p->m)) {
		s->ctrl_dirty = true;
		return;
	}
	outq_add(&s->ctrl_q, p);
}

void
sl_shard_send(struct sl_shard *s, uint16_t to, struct sl_pend *p)
{
	struct sl_outq *q = &s->shard_q[to];

	p->m.from = s->id;
	if (!q->head && sl_ring_push(s->out[to], &p->m)) {
		s->dirty[to] = true;
		return;
	}
	outq_add(q, p);
}

static void
flush_out(struct sl_shard *s)
{
	struct sl_dp *dp = s->dp;

	if (s->ctrl_q.head)
		outq_flush(&s->ctrl_q, s->to_ctrl, &s->ctrl_dirty);
	if (s->ctrl_dirty) {
		s->ctrl_dirty = false;
		if (dp->ctrl.notify)
			dp->ctrl.notify(dp->ctrl.ctl);
	}
	for (uint16_t j = 0; j < dp->n; j++) {
		if (j == s->id)
			continue;
		if (s->shard_q[j].head)
			outq_flush(&s->shard_q[j], s->out[j], &s->dirty[j]);
		if (s->dirty[j]) {
			s->dirty[j] = false;
			wake_shard(&dp->shards[j]);
		}
	}
}

static bool
outqs_pending(const struct sl_shard *s)
{
	if (s->ctrl_q.head)
		return true;
	for (uint16_t j = 0; j < s->dp->n; j++)
		if (s->shard_q[j].head)
			return true;
	return false;
}

/* ---- metadata ---- */

void
sl_shard_meta_refresh(struct sl_shard *s)
{
	if (s->dp->ctrl.meta_pub)
		s->meta = sl_meta_acquire(s->dp->ctrl.meta_pub, s->id);
}

/* ---- timers ---- */

static void
theap_swap(struct sl_shard *s, uint32_t a, uint32_t b)
{
	struct sl_timer *t = s->theap[a];

	s->theap[a] = s->theap[b];
	s->theap[b] = t;
	s->theap[a]->idx = (int32_t)a;
	s->theap[b]->idx = (int32_t)b;
}

static void
theap_up(struct sl_shard *s, uint32_t i)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (s->theap[parent]->at_ns - s->theap[i]->at_ns <= 0)
			break;
		theap_swap(s, i, parent);
		i = parent;
	}
}

static void
theap_down(struct sl_shard *s, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->ntimers && s->theap[l]->at_ns - s->theap[m]->at_ns < 0)
			m = l;
		if (r < s->ntimers && s->theap[r]->at_ns - s->theap[m]->at_ns < 0)
			m = r;
		if (m == i)
			return;
		theap_swap(s, i, m);
		i = m;
	}
}

void
sl_timer_arm(struct sl_shard *s, struct sl_timer *t, int64_t at_ns)
{
	if (t->idx >= 0)
		sl_timer_disarm(s, t);
	SL_BUG_ON(s->ntimers >= s->theap_cap); /* sized for every request slot */
	t->at_ns = at_ns;
	t->idx = (int32_t)s->ntimers;
	s->theap[s->ntimers++] = t;
	theap_up(s, (uint32_t)t->idx);
}

void
sl_timer_disarm(struct sl_shard *s, struct sl_timer *t)
{
	uint32_t i;

	if (t->idx < 0)
		return;
	i = (uint32_t)t->idx;
	t->idx = -1;
	s->ntimers--;
	if (i == s->ntimers)
		return;
	s->theap[i] = s->theap[s->ntimers];
	s->theap[i]->idx = (int32_t)i;
	theap_up(s, i);
	theap_down(s, (uint32_t)s->theap[i]->idx);
}

static void
timers_run(struct sl_shard *s, bool all)
{
	while (s->ntimers && (all || s->theap[0]->at_ns - s->now_ns <= 0)) {
		struct sl_timer *t = s->theap[0];

		sl_timer_disarm(s, t);
		t->fn(t);
	}
}

/* ---- control plane: forwarded requests and auto-creation ---- */

struct ctrl_fwd {
	struct sl_ctrl_req cr;
	struct sl_kreq *req;
};

static void
ctrl_fwd_cleanup(struct sl_kreq *req)
{
	struct ctrl_fwd *f = req->hstate;

	if (f) {
		free(f->cr.resp);
		free(f->cr.frame);
		free(f);
	}
	req->hstate = NULL;
}

void
sl_h_ctrl_forward(struct sl_shard *s, struct sl_kreq *req)
{
	struct ctrl_fwd *f;
	struct sl_msg m;
	size_t off = 0;

	if (!s->dp->ctrl_set) {
		sl_h_bad_request(s, req, -ENOTSUP);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f || !(f->cr.frame = malloc(req->frame_len ? req->frame_len : 1))) {
		free(f);
		SL_LOG_RATELIMIT(SL_LOG_WARN, "shard %u: out of memory forwarding api %d", s->id,
		                 req->api_key);
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	for (unsigned i = 0; i < req->frame_niov; i++) {
		memcpy(f->cr.frame + off, req->frame_iov[i].iov_base, req->frame_iov[i].iov_len);
		off += req->frame_iov[i].iov_len;
	}
	f->cr.frame_len = req->frame_len;
	f->cr.api_key = req->api_key;
	f->cr.api_version = req->api_version;
	f->cr.correlation_id = req->correlation_id;
	f->cr.shard = s->id;
	f->cr.conn_cookie = (uint64_t)(uintptr_t)f;
	f->cr.seq = req->seq;
	f->req = req;
	req->hstate = f;
	req->cleanup = ctrl_fwd_cleanup;
	atomic_fetch_add_explicit(&s->st_ctrl, 1, memory_order_relaxed);
	memset(&m, 0, sizeof(m));
	m.type = SL_MSG_CTRL_REQ;
	m.from = s->id;
	m.ptr = &f->cr;
	sl_shard_send_ctrl_msg(s, &m);
}

static void
ctrl_resp(struct sl_shard *s, struct sl_ctrl_req *cr)
{
	struct ctrl_fwd *f = SL_CONTAINER_OF(cr, struct ctrl_fwd, cr);
	struct sl_kreq *req = f->req;

	(void)s;
	SL_BUG_ON(req->hstate != f || req->state != SL_KREQ_RUN);
	if (cr->close_conn || !cr->resp || cr->resp_len < 8) {
		req->no_response = true;
		sl_kreq_done(req);
		sl_kconn_close(req->conn, -EPROTO);
		return;
	}
	sl_wbuf_ext(&req->w, cr->resp, cr->resp_len);
	sl_kreq_done(req);
}

struct create_wait {
	struct sl_topic_create tc;
	sl_create_fn fn;
	void *arg;
	uint32_t idx;
};

int
sl_shard_auto_create(struct sl_shard *s, const char *name, size_t len, sl_create_fn fn, void *arg,
                     uint32_t idx)
{
	struct create_wait *w;
	struct sl_msg m;

	if (!s->dp->ctrl_set || len > SL_TOPIC_NAME_MAX)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	memcpy(w->tc.topic, name, len);
	w->tc.topic_len = (uint16_t)len;
	w->tc.timeout_ms = s->dp->o.create_timeout_ms;
	w->tc.cookie = (uint64_t)(uintptr_t)w;
	w->fn = fn;
	w->arg = arg;
	w->idx = idx;
	memset(&m, 0, sizeof(m));
	m.type = SL_MSG_TOPIC_CREATE;
	m.from = s->id;
	m.ptr = &w->tc;
	sl_shard_send_ctrl_msg(s, &m);
	return 0;
}

static void
create_done(struct sl_shard *s, struct sl_topic_create *tc)
{
	struct create_wait *w = SL_CONTAINER_OF(tc, struct create_wait, tc);

	/* The control plane publishes the snapshot with the topic before it answers. */
	sl_shard_meta_refresh(s);
	w->fn(w->arg, w->idx, tc->err);
	free(w);
}

/* ---- dispatch ---- */

void
sl_h_bad_request(struct sl_shard *s, struct sl_kreq *req, int err)
{
	(void)s;
	SL_LOG_RATELIMIT(SL_LOG_WARN, "conn %llu: api %d v%d: malformed or refused (%d), closing",
	                 (unsigned long long)req->conn->id, req->api_key, req->api_version, err);
	req->no_response = true;
	sl_kreq_done(req);
	sl_kconn_close(req->conn, err);
}

static int
dispatch(struct sl_kreq *req, void *ctx)
{
	struct sl_shard *s = ctx;
	const struct sl_api_range *r;

	atomic_fetch_add_explicit(&s->st_requests, 1, memory_order_relaxed);
	if (req->api_key == SL_API_API_VERSIONS) {
		sl_h_api_versions(s, req); /* answers unknown versions itself (KIP-511) */
		return 0;
	}
	r = sl_dp_adv_find(s->dp, req->api_key);
	if (!r || req->api_version < r->min_version || req->api_version > r->max_version) {
		SL_LOG_RATELIMIT(SL_LOG_WARN, "conn %llu: unsupported api %d v%d, closing",
		                 (unsigned long long)req->conn->id, req->api_key, req->api_version);
		return -ENOTSUP;
	}
	if (sl_kapi_req_hdr_ver(req->api_key, req->api_version) >= 2) {
		sl_crd_tags(&req->rd, NULL, NULL);
		if (req->rd.err)
			return -EBADMSG;
	}
	switch (req->api_key) {
	case SL_API_PRODUCE:
		sl_h_produce(s, req);
		break;
	case SL_API_FETCH:
		sl_h_fetch(s, req);
		break;
	case SL_API_LIST_OFFSETS:
		sl_h_list_offsets(s, req);
		break;
	case SL_API_METADATA:
		sl_h_metadata(s, req);
		break;
	default:
		sl_h_ctrl_forward(s, req);
		break;
	}
	return 0;
}

/* ---- the loop ---- */

static void
efd_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_shard *s = SL_CONTAINER_OF(op, struct sl_shard, efd_op);

	(void)res;
	(void)flags;
	s->efd_armed = false;
}

static void
efd_arm(struct sl_shard *s)
{
	struct io_uring_sqe *sqe;

	if (s->efd_armed)
		return;
	sqe = sl_uring_sqe(&s->ring, &s->efd_op);
	io_uring_prep_read(sqe, s->efd, &s->efd_val, sizeof(s->efd_val), 0);
	s->efd_armed = true;
}

static void
handle_msg(struct sl_shard *s, const struct sl_msg *m)
{
	switch (m->type) {
	case SL_MSG_CTRL_RESP:
		ctrl_resp(s, m->ptr);
		break;
	case SL_MSG_PART_OPEN:
	case SL_MSG_PART_CLOSE:
	case SL_MSG_PART_REMOVE:
	case SL_MSG_PART_CFG:
	case SL_MSG_PART_DELETE_RECORDS:
		sl_shard_part_msg(s, m);
		break;
	case SL_MSG_TOPIC_CREATE_DONE:
		create_done(s, m->ptr);
		break;
	case SL_MSG_META:
		sl_shard_meta_refresh(s);
		break;
	case SL_MSG_FWD:
		if (m->arg == SL_FWD_CANCEL)
			sl_pop_cancel_remote(s, m->ptr);
		else
			sl_pop_exec(s, m->ptr);
		break;
	case SL_MSG_FWD_DONE: {
		struct sl_pop *p = m->ptr;

		p->done(p);
		break;
	}
	case SL_MSG_STOP:
	default:
		break;
	}
}

static unsigned
drain_rings(struct sl_shard *s)
{
	struct sl_msg m;
	unsigned n = 0;

	for (unsigned k = 0; k < RING_BURST && s->from_ctrl && sl_ring_pop(s->from_ctrl, &m); k++) {
		handle_msg(s, &m);
		n++;
	}
	for (uint16_t j = 0; j < s->dp->n; j++) {
		if (j == s->id)
			continue;
		for (unsigned k = 0; k < RING_BURST && sl_ring_pop(s->in[j], &m); k++) {
			handle_msg(s, &m);
			n++;
		}
	}
	return n;
}

static bool
rings_empty(struct sl_shard *s)
{
	if (s->from_ctrl && !sl_ring_empty(s->from_ctrl))
		return false;
	for (uint16_t j = 0; j < s->dp->n; j++)
		if (j != s->id && !sl_ring_empty(s->in[j]))
			return false;
	return true;
}

static bool
conns_idle(struct sl_shard *s)
{
#ifdef SL_HAVE_DPDK
	if (s->dx && !sl_dxport_conns_idle(s->dx))
		return false;
#endif
	for (unsigned i = 0; i < s->xp.cfg.max_conns; i++) {
		struct sl_uconn *uc = &s->xp.conns[i];

		if (uc->in_use && !uc->k.closing && !sl_kconn_idle(&uc->k))
			return false;
	}
	return true;
}

static void
dx_close_all(struct sl_shard *s)
{
#ifdef SL_HAVE_DPDK
	if (s->dx)
		sl_dxport_close_all(s->dx);
#else
	(void)s;
#endif
}

static bool
dx_idle(struct sl_shard *s)
{
#ifdef SL_HAVE_DPDK
	return !s->dx || sl_dxport_idle(s->dx);
#else
	(void)s;
	return true;
#endif
}

static void
drain_step(struct sl_shard *s)
{
	if (!s->listening && !s->drained && s->xp.lfd < 0 && !s->xp.accept_armed) {
		/* Requests all answered (or the connections gone). */
		if (conns_idle(s)) {
			sl_uxport_close_all(&s->xp);
			dx_close_all(s);
			if (sl_uxport_idle(&s->xp) && dx_idle(s) && !s->retry_head) {
				s->drained = true;
				atomic_fetch_add(&s->dp->drained_cnt, 1);
			}
		}
	}
}

static void
drain_start(struct sl_shard *s)
{
	s->listening = false;
	sl_uxport_stop_listen(&s->xp);
#ifdef SL_HAVE_DPDK
	if (s->dx) {
		sl_dxport_stop_listen(s->dx);
		sl_dxport_hold_all(s->dx);
	}
#endif
	for (unsigned i = 0; i < s->xp.cfg.max_conns; i++)
		if (s->xp.conns[i].in_use && !s->xp.conns[i].k.closing)
			sl_kconn_hold(&s->xp.conns[i].k);
	/* Long polls answer now. */
	timers_run(s, true);
	for (;;) {
		/* Parked watches of this shard's partitions, whoever asked. */
		struct sl_pop *p = s->watches;
		struct sl_part *part;

		if (!p)
			break;
		part = sl_shard_part(s, p->topic, p->topic_len, p->partition);
		SL_BUG_ON(!part);
		sl_part_wake(s, part, true, KERR_NONE);
	}
}

static void *
shard_main(void *arg)
{
	struct sl_shard *s = arg;
	struct sl_dp *dp = s->dp;
	int seen_phase = 0;
	char name[16];

	snprintf(name, sizeof(name), "sl-shard-%u", s->id);
	pthread_setname_np(pthread_self(), name);
	if (dp->o.pin && s->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(s->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			SL_WARN("shard %u: cannot pin to cpu %d", s->id, s->cpu);
	}
	if (s->lfd >= 0) {
		sl_uxport_listen(&s->xp, s->lfd);
		s->lfd = -1;
		s->listening = true;
	}
#ifdef SL_HAVE_DPDK
	if (s->dx) {
		/* An lcore id of its own gives the mempools a per-thread cache. */
		if (sl_dpdk_thread_register() < 0)
			SL_WARN("shard %u: not registered with the EAL (mempools without cache)",
			        s->id);
		s->listening = true;
	}
#endif
	for (;;) {
		int phase = atomic_load_explicit(&dp->phase, memory_order_acquire);
		int64_t wait_ns;
		unsigned wait_nr = 1, work = 0;

		s->now_ns = sl_now_ns();
		s->now_ms = sl_wallclock_ms(&s->wall, s->now_ns);
		sl_shard_meta_refresh(s);
		if (phase != seen_phase) {
			if (phase >= 1 && seen_phase < 1)
				drain_start(s);
			seen_phase = phase;
		}
#ifdef SL_HAVE_DPDK
		if (s->dx) {
			uint64_t moved = sl_dpdk_port_steer_moved(dp->port, s->id);

			work += sl_dxport_poll(s->dx, s->now_ns);
			/* Frames steered to other shards' queues are work too (no nap). */
			work += moved != s->steer_moved;
			s->steer_moved = moved;
		}
#endif
		work += drain_rings(s);
		sl_shard_retry_appends(s);
		timers_run(s, phase >= 1);
		sl_uxport_poll(&s->xp);
		if (phase == 0)
			sl_shard_housekeeping(s);
		sl_store_poll(s->store, s->now_ms);
		if (phase >= 1)
			drain_step(s);
		flush_out(s);
		if (phase >= 2) {
			/* Stop: whatever did not drain is closed; leave once storage is idle and
			 * nothing more is coming in. Messages still queued for other shards are
			 * dropped (they may have left already). */
			if (!s->drained) {
				sl_uxport_close_all(&s->xp);
				dx_close_all(s);
				s->drained = true;
			}
			if (!sl_store_busy(s->store) && rings_empty(s))
				break;
		}
#ifdef SL_HAVE_DPDK
		if (s->dx) {
			int n;

			/* Busy poll: responses out, storage completions in, never block. */
			sl_dxport_flush(s->dx, s->now_ns);
			n = sl_uring_run(&s->ring, 0, 0);
			work += n > 0 ? (unsigned)n : 0;
			if (work) {
				s->idle_spins = 0;
			} else if (sl_store_busy(s->store)) {
				/* Blocking storage I/O (fdatasync, segment seals, O_DIRECT and
				 * durable writes; buffered data writes are made inline, see
				 * shard_init) runs in io_uring's io-wq workers, which inherit
				 * this thread's CPU mask: spinning here would hold off the very
				 * I/O whose completion the next acknowledgement waits for. */
				sched_yield();
			} else if (++s->idle_spins > IDLE_SPINS && dp->o.dpdk.idle_sleep_us) {
				s->idle_spins = 0;
				usleep(dp->o.dpdk.idle_sleep_us);
			}
			continue;
		}
#endif
		efd_arm(s);

		wait_ns = IDLE_WAIT_NS;
		if (s->ntimers) {
			int64_t d = s->theap[0]->at_ns - s->now_ns;

			wait_ns = SL_MAX(SL_MIN(wait_ns, d), (int64_t)0);
		}
		if (outqs_pending(s) || s->retry_head)
			wait_ns = SL_MIN(wait_ns, BUSY_WAIT_NS);
		if (phase >= 1)
			wait_ns = SL_MIN(wait_ns, 10 * 1000000LL);
		atomic_store_explicit(&s->sleeping, 1, memory_order_relaxed);
		/* Pairs with the fence in wake_shard (and in the control plane's notify). */
		atomic_thread_fence(memory_order_seq_cst);
		if (!rings_empty(s))
			wait_nr = 0;
		sl_uring_run(&s->ring, wait_nr, wait_nr ? wait_ns : 0);
		atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
	}
#ifdef SL_HAVE_DPDK
	if (s->dx) {
		struct sl_dxport_stats ds;

		sl_dxport_flush(s->dx, sl_now_ns()); /* the last FINs */
		sl_dxport_stats_get(s->dx, &ds);
		SL_INFO("dpdk: shard %u: %llu connections accepted (%llu refused); stack: rx %llu "
		        "pkts (%llu dropped), tx %llu pkts (%llu dropped), %llu retransmits (%llu "
		        "fast, %llu timeouts), %llu out-of-order segments",
		        s->id, (unsigned long long)ds.accepted, (unsigned long long)ds.refused,
		        (unsigned long long)ds.rx_pkts, (unsigned long long)ds.rx_drop,
		        (unsigned long long)ds.tx_pkts, (unsigned long long)ds.tx_drop,
		        (unsigned long long)ds.retrans, (unsigned long long)ds.fast_retrans,
		        (unsigned long long)ds.rto_expired, (unsigned long long)ds.ooo_segs);
	}
#endif
	/* Stop: every log flushed and closed; the metadata reader announces it is gone. */
	sl_shard_close_logs(s);
	while (sl_store_busy(s->store)) {
		sl_store_poll(s->store, sl_wall_ms());
		sl_uring_run(&s->ring, 1, 10000000);
	}
	if (dp->ctrl.meta_pub)
		sl_meta_quiesce(dp->ctrl.meta_pub, s->id);
#ifdef SL_HAVE_DPDK
	if (s->dx)
		sl_dpdk_thread_unregister();
#endif
	return NULL;
}

/* ---- life ---- */

#ifdef SL_HAVE_DPDK
static int
dx_create(struct sl_dp *dp, struct sl_shard *s)
{
	const struct sl_dp_dpdk_opts *d = &dp->o.dpdk;
	struct sl_dxport_cfg cfg;
	struct sl_pkt_io io;
	int rc;

	rc = sl_dpdk_port_io(dp->port, s->id, &io); /* shard i polls queue i */
	if (rc < 0)
		return rc;
	memset(&cfg, 0, sizeof(cfg));
	sl_dpdk_port_mac(dp->port, cfg.mac);
	cfg.ip = d->ip;
	cfg.netmask = d->prefix_len ? ~0u << (32 - d->prefix_len) : 0;
	cfg.gateway = d->gateway;
	cfg.mtu = d->mtu;
	cfg.max_conns = d->max_conns ? d->max_conns : dp->o.xport.max_conns;
	cfg.rcvbuf_bytes = d->rcvbuf_bytes;
	cfg.sndbuf_bytes = d->sndbuf_bytes;
	cfg.tx_csum_offload = sl_dpdk_port_tx_csum_offload(dp->port);
	if (getrandom(&cfg.secret, sizeof(cfg.secret), 0) != (ssize_t)sizeof(cfg.secret))
		cfg.secret = (uint64_t)sl_now_ns() * 0x9e3779b97f4a7c15ull;
	return sl_dxport_create(&s->dx, &cfg, &io, &s->kcfg, s);
}

/* Starts the EAL and the port (start-up, main thread). The EAL pins the calling thread
 * to its main lcore: the affinity is put back so shards and control pick their CPUs as
 * in kernel mode. */
static int
dpdk_start(struct sl_dp *dp)
{
	const struct sl_dp_dpdk_opts *d = &dp->o.dpdk;
	struct sl_dpdk_port_cfg pc;
	cpu_set_t saved;
	bool have_saved;
	int rc;

	if (!d->ip)
		return -EINVAL;
	have_saved = sched_getaffinity(0, sizeof(saved), &saved) == 0;
	rc = sl_dpdk_eal_init(d->eal_args);
	if (have_saved)
		(void)sched_setaffinity(0, sizeof(saved), &saved);
	if (rc < 0) {
		SL_ERR("dpdk: EAL start-up failed (dpdk.eal.args=\"%s\"): %s",
		       d->eal_args ? d->eal_args : "", strerror(-rc));
		return rc;
	}
	dp->eal_up = true;
	memset(&pc, 0, sizeof(pc));
	pc.name = d->port_name;
	pc.nb_queues = dp->n;
	pc.nb_mbufs = d->nb_mbufs ? d->nb_mbufs : 8192;
	pc.mtu = d->mtu;
	pc.promiscuous = false;
	pc.fault.drop = d->fault_drop;
	pc.fault.dup = d->fault_dup;
	pc.fault.reorder = d->fault_reorder;
	pc.fault.corrupt = d->fault_corrupt;
	pc.fault.tx_drop = d->fault_tx_drop;
	pc.fault.tx_corrupt = d->fault_tx_corrupt;
	pc.fault.seed = d->fault_seed;
	pc.steer = (enum sl_dpdk_steer)d->steer;
	pc.steer_ring = d->steer_ring;
	rc = sl_dpdk_port_create(&dp->port, &pc);
	if (rc == -EINVAL && pc.nb_queues > 1 && pc.steer == SL_DPDK_STEER_OFF) {
		/* Fewer queues than shards and no software steering: one network shard. */
		pc.nb_queues = 1;
		rc = sl_dpdk_port_create(&dp->port, &pc);
	}
	if (rc < 0) {
		SL_ERR("dpdk: port %s: %s", d->port_name ? d->port_name : "(first)", strerror(-rc));
		return rc;
	}
	dp->nnet = (uint16_t)pc.nb_queues;
	SL_INFO("dpdk: port %s: %u queue pair(s)%s, %u network shard(s)%s",
	        d->port_name ? d->port_name : "(first)", pc.nb_queues,
	        sl_dpdk_port_steered(dp->port) ? " (steered in software)" : "", dp->nnet,
	        dp->nnet < dp->n ? " (the device has fewer queues than shards)" : "");
	return 0;
}

static void
dpdk_stop(struct sl_dp *dp)
{
	if (dp->port) {
		struct sl_dpdk_queue_stats qs, sum;

		memset(&sum, 0, sizeof(sum));
		for (uint16_t q = 0; q < dp->nnet; q++) {
			sl_dpdk_port_queue_stats(dp->port, q, &qs);
			sum.rx_pkts += qs.rx_pkts;
			sum.tx_pkts += qs.tx_pkts;
			sum.tx_full += qs.tx_full;
			sum.fault_drop += qs.fault_drop;
			sum.fault_dup += qs.fault_dup;
			sum.fault_reorder += qs.fault_reorder;
			sum.fault_corrupt += qs.fault_corrupt;
			sum.fault_tx_drop += qs.fault_tx_drop;
			sum.fault_tx_corrupt += qs.fault_tx_corrupt;
		}
		SL_INFO("dpdk: port, %u queue(s): rx %llu tx %llu (ring full %llu), faults "
		        "injected: "
		        "drop %llu dup %llu reorder %llu corrupt %llu tx_drop %llu tx_corrupt %llu",
		        dp->nnet, (unsigned long long)sum.rx_pkts, (unsigned long long)sum.tx_pkts,
		        (unsigned long long)sum.tx_full, (unsigned long long)sum.fault_drop,
		        (unsigned long long)sum.fault_dup, (unsigned long long)sum.fault_reorder,
		        (unsigned long long)sum.fault_corrupt,
		        (unsigned long long)sum.fault_tx_drop,
		        (unsigned long long)sum.fault_tx_corrupt);
		sl_dpdk_port_drain(dp->port);
		if (sl_dpdk_port_mbufs_in_use(dp->port))
			SL_WARN("dpdk: %u mbufs not returned at shutdown",
			        sl_dpdk_port_mbufs_in_use(dp->port));
		sl_dpdk_port_destroy(dp->port);
		dp->port = NULL;
	}
	if (dp->eal_up)
		sl_dpdk_eal_fini();
	dp->eal_up = false;
}
#else
static int
dx_create(struct sl_dp *dp, struct sl_shard *s)
{
	(void)dp;
	(void)s;
	return -ENOTSUP;
}
#endif

static int
shard_init(struct sl_dp *dp, struct sl_shard *s, uint16_t id, int cpu)
{
	int rc;

	s->dp = dp;
	s->id = id;
	s->cpu = cpu;
	s->efd = -1;
	s->lfd = -1;
	s->efd_op.fn = efd_done;
	s->last_retain_ms = s->last_compact_ms = sl_wall_ms();
	/* Not SINGLE_ISSUER: the ring is created here, on the main thread, and then driven
	 * by the shard's thread (a single-issuer ring belongs to its creator). */
	rc = sl_uring_init(&s->ring, dp->o.uring_entries, IORING_SETUP_COOP_TASKRUN);
	if (rc < 0)
		return rc;
	s->ring_ready = true;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0)
		return -errno;
	{
		struct sl_store_opts so = dp->o.store;

		/* A DPDK network shard busy-polls on its one core, where io_uring's io-wq
		 * workers (which every ext4 buffered write goes to) would get the CPU only
		 * when it yields: it writes the page cache itself (plog.h, inline_buffered).
		 * Such a write is a syscall that may sleep (page allocation, dirty throttling):
		 * the trade is measured in the README's DPDK section; dpdk.inline.writes=false
		 * sends them through io_uring like any other shard's. */
		if (dp->port && id < dp->nnet && dp->o.dpdk.inline_writes)
			so.inline_buffered = true;
		rc = sl_store_create(&s->store, &s->ring, &so);
	}
	if (rc < 0)
		return rc;
	s->kcfg.max_frame_bytes = dp->o.max_frame_bytes;
	s->kcfg.tx_limit_bytes = dp->o.conn_tx_limit_bytes;
	s->kcfg.arena_blk_bytes = 16 << 10;
	s->kcfg.arena_max_bytes = 64 << 20;
	s->kcfg.stage_max_bytes = (size_t)dp->o.max_frame_bytes + 4;
	s->kcfg.max_segs = dp->o.xport.nbufs;
	s->kcfg.overlap_api_key = SL_API_PRODUCE;
	s->kcfg.dispatch = dispatch;
	s->kcfg.ctx = s;
	rc = sl_uxport_init(&s->xp, &s->ring, &dp->o.xport, &s->kcfg, s, NULL, NULL);
	if (rc < 0)
		return rc;
	s->xp_ready = true;
	if (dp->port && id < dp->nnet) {
		rc = dx_create(dp, s);
		if (rc < 0)
			return rc;
	}
	s->in = calloc(dp->n, sizeof(*s->in));
	s->out = calloc(dp->n, sizeof(*s->out));
	s->shard_q = calloc(dp->n, sizeof(*s->shard_q));
	s->dirty = calloc(dp->n, sizeof(*s->dirty));
	/* every request slot of every connection may arm a timer (DPDK shards: both pools) */
	s->theap_cap = dp->o.xport.max_conns + (dp->port ? dp->o.dpdk.max_conns : 0);
	s->theap_cap = s->theap_cap * SL_KCONN_DEPTH + 16;
	s->theap = calloc(s->theap_cap, sizeof(*s->theap));
	if (!s->in || !s->out || !s->shard_q || !s->dirty || !s->theap)
		return -ENOMEM;
	for (uint16_t j = 0; j < dp->n; j++) {
		if (j == id)
			continue;
		s->in[j] = &dp->rings[(size_t)j * dp->n + id];
		s->out[j] = &dp->rings[(size_t)id * dp->n + j];
	}
	return 0;
}

static void
shard_fini(struct sl_shard *s)
{
#ifdef SL_HAVE_DPDK
	sl_dxport_destroy(s->dx);
	s->dx = NULL;
#endif
	if (s->xp_ready)
		sl_uxport_fini(&s->xp);
	s->xp_ready = false;
	if (s->store) {
		sl_shard_close_logs(s);
		sl_store_destroy(s->store);
	}
	s->store = NULL;
	if (s->ring_ready)
		sl_uring_fini(&s->ring);
	s->ring_ready = false;
	if (s->efd >= 0)
		close(s->efd);
	if (s->lfd >= 0)
		close(s->lfd);
	/* Messages still queued for others (only after a failed start) are dropped. */
	for (uint16_t j = 0; s->shard_q && j < s->dp->n; j++) {
		while (s->shard_q[j].head) {
			struct sl_pend *p = s->shard_q[j].head;

			s->shard_q[j].head = p->next;
			if (p->m.type != SL_MSG_FWD && p->m.type != SL_MSG_FWD_DONE)
				free(p);
		}
	}
	while (s->ctrl_q.head) {
		struct sl_pend *p = s->ctrl_q.head;

		s->ctrl_q.head = p->next;
		free(p);
	}
	free(s->in);
	free(s->out);
	free(s->shard_q);
	free(s->dirty);
	free(s->theap);
	free(s->ptab);
}

static int
cpu_for(uint16_t i, uint16_t offset)
{
	cpu_set_t set;
	int n = 0, want, k = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	n = CPU_COUNT(&set);
	if (n <= 0)
		return -1;
	want = (i + offset) % n;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (k++ == want)
			return c;
	}
	return -1;
}

int
sl_dp_create(struct sl_dp **out, const struct sl_dp_opts *o)
{
	struct sl_dp *dp;
	int rc;

	if (o->nshards == 0 || o->ring_slots == 0 || (o->ring_slots & (o->ring_slots - 1)))
		return -EINVAL;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->o = *o;
	dp->n = o->nshards;
	dp->shards = calloc(dp->n, sizeof(*dp->shards));
	dp->rings = calloc((size_t)dp->n * dp->n, sizeof(*dp->rings));
	if (!dp->shards || !dp->rings) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (uint16_t i = 0; i < dp->n; i++)
		for (uint16_t j = 0; j < dp->n; j++)
			if (i != j) {
				rc = sl_ring_init(&dp->rings[(size_t)i * dp->n + j], o->ring_slots,
				                  sizeof(struct sl_msg));
				if (rc < 0)
					goto out_free;
			}
	if (o->dpdk.enabled) {
#ifdef SL_HAVE_DPDK
		rc = dpdk_start(dp);
#else
		SL_ERR("dataplane=dpdk: this build has no DPDK (libdpdk not found)");
		rc = -ENOTSUP;
#endif
		if (rc < 0)
			goto out_free;
	}
	for (uint16_t i = 0; i < dp->n; i++) {
		rc = shard_init(dp, &dp->shards[i], i, cpu_for(i, o->cpu_offset));
		if (rc < 0) {
			SL_ERR("shard %u: set-up failed: %s", i, strerror(-rc));
			goto out_free;
		}
	}
	build_api_table(dp);
	*out = dp;
	return 0;
out_free:
	sl_dp_destroy(dp);
	return rc;
}

void
sl_dp_set_ctrl(struct sl_dp *dp, const struct sl_dp_ctrl *c)
{
	dp->ctrl = *c;
	dp->ctrl_set = true;
	for (uint16_t i = 0; i < dp->n; i++) {
		dp->shards[i].from_ctrl = c->ring_to_shard(c->ctl, i);
		dp->shards[i].to_ctrl = c->ring_from_shard(c->ctl, i);
	}
	build_api_table(dp);
}

int
sl_dp_listen(struct sl_dp *dp, const char *host, int port, int *port_out)
{
	int p = port;

#ifdef SL_HAVE_DPDK
	if (dp->port) {
		if (port <= 0 || port > 65535)
			return -EINVAL;
		for (uint16_t i = 0; i < dp->n; i++) {
			int rc;

			if (!dp->shards[i].dx)
				continue;
			rc = sl_dxport_listen(dp->shards[i].dx, (uint16_t)port);
			if (rc < 0)
				return rc;
		}
		if (port_out)
			*port_out = port;
		return 0;
	}
#endif
	for (uint16_t i = 0; i < dp->n; i++) {
		int fd = sl_uxport_tcp_listen(host, p, 1024, &p);

		if (fd < 0)
			return fd;
		dp->shards[i].lfd = fd;
	}
	if (port_out)
		*port_out = p;
	return 0;
}

int
sl_dp_start(struct sl_dp *dp)
{
	if (!dp->ctrl_set)
		return -EINVAL;
	for (uint16_t i = 0; i < dp->n; i++) {
		int rc = pthread_create(&dp->shards[i].thr, NULL, shard_main, &dp->shards[i]);

		if (rc != 0)
			return -rc;
		dp->shards[i].thr_started = true;
	}
	return 0;
}

static void
wake_all(struct sl_dp *dp)
{
	for (uint16_t i = 0; i < dp->n; i++) {
		uint64_t one = 1;

		(void)!write(dp->shards[i].efd, &one, sizeof(one));
	}
}

int
sl_dp_drain(struct sl_dp *dp, int timeout_ms)
{
	int64_t deadline = sl_now_ns() + (int64_t)timeout_ms * 1000000LL;
	bool started = false;

	for (uint16_t i = 0; i < dp->n; i++)
		started |= dp->shards[i].thr_started;
	if (!started)
		return 0;
	atomic_store_explicit(&dp->phase, 1, memory_order_release);
	wake_all(dp);
	while (atomic_load(&dp->drained_cnt) < dp->n) {
		if (sl_now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
	return 0;
}

void
sl_dp_stop(struct sl_dp *dp)
{
	atomic_store_explicit(&dp->phase, 2, memory_order_release);
	wake_all(dp);
	for (uint16_t i = 0; i < dp->n; i++) {
		if (dp->shards[i].thr_started)
			pthread_join(dp->shards[i].thr, NULL);
		dp->shards[i].thr_started = false;
	}
}

void
sl_dp_destroy(struct sl_dp *dp)
{
	if (!dp)
		return;
	if (dp->shards) {
		for (uint16_t i = 0; i < dp->n; i++)
			if (dp->shards[i].thr_started) {
				sl_dp_stop(dp);
				break;
			}
		for (uint16_t i = 0; i < dp->n; i++)
			if (dp->shards[i].dp)
				shard_fini(&dp->shards[i]);
	}
#ifdef SL_HAVE_DPDK
	dpdk_stop(dp); /* after the stacks (shard_fini) gave every mbuf back */
#endif
	if (dp->rings)
		for (size_t k = 0; k < (size_t)dp->n * dp->n; k++)
			sl_ring_fini(&dp->rings[k]);
	free(dp->rings);
	free(dp->shards);
	free(dp);
}

void
sl_dp_get_stats(struct sl_dp *dp, struct sl_dp_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (uint16_t i = 0; i < dp->n; i++) {
		struct sl_shard *s = &dp->shards[i];

		out->accepted += s->xp.accepted;
		out->requests += atomic_load_explicit(&s->st_requests, memory_order_relaxed);
		out->produced_batches += atomic_load_explicit(&s->st_batches, memory_order_relaxed);
		out->fetches += atomic_load_explicit(&s->st_fetches, memory_order_relaxed);
		out->fwd += atomic_load_explicit(&s->st_fwd, memory_order_relaxed);
		out->ctrl_reqs += atomic_load_explicit(&s->st_ctrl, memory_order_relaxed);
		out->conns += s->xp.nconns;
		out->partitions += s->nparts;
#ifdef SL_HAVE_DPDK
		if (s->dx) {
			struct sl_dxport_stats ds;

			sl_dxport_stats_get(s->dx, &ds);
			out->accepted += ds.accepted;
			out->conns += ds.conns;
		}
#endif
	}
}
