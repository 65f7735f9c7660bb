// SPDX-License-Identifier: Apache-2.0
/*
 * xport_dpdk.c: struct sl_xport_ops over the userspace TCP stack (see xport_dpdk.h).
 *
 * A connection's life:
 *   established cb --> [open] --readable/writable/rx_end/closed cb--> queued events
 *        --(poll/flush)--> sl_kconn_rx / tx_done / rx_end
 *   ops->close --> [closing: tx failed with -EPIPE, xport_gone queued]
 *   ops->free  --> sl_tcp_close (FIN after what is queued) --> free list
 *
 * Invariant: the bytes handed up and not consumed (handed) are the receive ring's first
 * bytes, cut into pieces [seg_head, seg_tail); a piece's id is its sequence number.
 */
#include "dataplane/xport_dpdk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dataplane/net/tcp.h"

#define EV_RX (1u << 0) /* new bytes, or room to hand up more */
#define EV_TX (1u << 1) /* send ring space: continue a partial send */
#define EV_ANY (1u << 2)

/* Rounds of queued events per call at most (each round handles every queued
 * connection once; callbacks may queue connections again). */
#define EV_ROUNDS 8
/* A connection whose held pieces leave less window than this stages its frame. */
#define STAGE_WINDOW 8192

struct dconn {
	struct sl_kconn k; /* first: the request path's view */
	struct sl_dxport *xp;
	struct sl_tcp_conn *tc; /* NULL once closed */
	/* pieces handed up: [seg_head, seg_tail) */
	uint32_t *seg_len;
	uint8_t *seg_rel;
	uint32_t seg_mask;
	uint64_t seg_head, seg_tail;
	size_t handed;
	/* send in progress */
	struct iovec *tx_iov;
	unsigned tx_n;
	size_t tx_left, tx_len;
	int tx_res;
	bool tx_busy, tx_ready; /* ready: finished, tx_done not yet called */
	/* events */
	unsigned ev;
	bool queued;
	struct dconn *qnext;
	int rx_err;
	bool paused, rx_ended, rx_end_sent, tcp_closed;
	bool closing, gone_sent, in_use;
	bool starved;        /* on the starved list */
	struct dconn *snext; /* starved list */
	struct dconn *next;  /* free list */
};

struct sl_dxport {
	struct sl_net *net;
	struct sl_dxport_cfg cfg;
	const struct sl_kconn_cfg *kcfg;
	struct dconn *conns;
	struct dconn *free_list;
	struct dconn *q_head, *q_tail;
	struct dconn *starved; /* receive ring full of an incomplete frame */
	unsigned nconns;
	uint64_t next_id;
	int64_t now_ns;
	bool accept_stop;
	uint64_t accepted, refused, rx_bytes, tx_bytes;
};

static inline struct dconn *
dc_of(struct sl_kconn *c)
{
	return SL_CONTAINER_OF(c, struct dconn, k);
}

static void
dc_queue(struct dconn *dc, unsigned ev)
{
	struct sl_dxport *xp = dc->xp;

	dc->ev |= ev;
	if (dc->queued)
		return;
	dc->queued = true;
	dc->qnext = NULL;
	if (xp->q_tail)
		xp->q_tail->qnext = dc;
	else
		xp->q_head = dc;
	xp->q_tail = dc;
}

/* ---- stack callbacks: record and queue only ---- */

static struct dconn *
dc_of_tc(struct sl_tcp_conn *tc)
{
	return sl_tcp_user(tc);
}

static void
cb_established(void *arg, struct sl_tcp_conn *tc)
{
	struct sl_dxport *xp = arg;
	struct dconn *dc = xp->free_list;

	if (!dc || xp->accept_stop || sl_kconn_prepare(&dc->k) < 0) {
		xp->refused++;
		SL_LOG_RATELIMIT(SL_LOG_WARN, "dpdk: refusing a connection (%s)",
		                 xp->accept_stop ? "shutting down" : "connection limit");
		sl_tcp_set_user(tc, NULL);
		sl_tcp_close(tc, xp->now_ns);
		return;
	}
	xp->free_list = dc->next;
	dc->next = NULL;
	xp->nconns++;
	xp->accepted++;
	sl_kconn_reuse(&dc->k, ++xp->next_id);
	dc->tc = tc;
	dc->seg_head = dc->seg_tail = 0;
	dc->handed = 0;
	dc->tx_iov = NULL;
	dc->tx_n = 0;
	dc->tx_left = dc->tx_len = 0;
	dc->tx_res = 0;
	dc->tx_busy = dc->tx_ready = false;
	dc->rx_err = 0;
	dc->paused = dc->rx_ended = dc->rx_end_sent = dc->tcp_closed = false;
	dc->closing = dc->gone_sent = false;
	dc->in_use = true;
	sl_tcp_set_user(tc, dc);
	dc_queue(dc, EV_RX);
}

static void
cb_readable(void *arg, struct sl_tcp_conn *tc)
{
	struct dconn *dc = dc_of_tc(tc);

	(void)arg;
	if (dc)
		dc_queue(dc, EV_RX);
}

static void
cb_writable(void *arg, struct sl_tcp_conn *tc)
{
	struct dconn *dc = dc_of_tc(tc);

	(void)arg;
	if (dc)
		dc_queue(dc, EV_TX);
}

static void
cb_rx_end(void *arg, struct sl_tcp_conn *tc, int err)
{
	struct dconn *dc = dc_of_tc(tc);

	(void)arg;
	if (!dc || dc->rx_ended)
		return;
	dc->rx_ended = true;
	dc->rx_err = err;
	dc_queue(dc, EV_ANY);
}

static void
cb_closed(void *arg, struct sl_tcp_conn *tc)
{
	struct dconn *dc = dc_of_tc(tc);

	(void)arg;
	if (!dc)
		return;
	/* Not closed by us yet, so tc stays valid until ops->free calls sl_tcp_close. */
	dc->tcp_closed = true;
	if (!dc->rx_ended) {
		dc->rx_ended = true;
		dc->rx_err = -ECONNRESET;
	}
	dc_queue(dc, EV_ANY);
}

/* ---- receive ---- */

/*
 * A frame bigger than what the receive ring holds never completes in it: once the held
 * pieces leave the peer less than STAGE_WINDOW of window, the request path copies the
 * incomplete frame to its staging buffer and gives the pieces back (it may refuse while a
 * staged frame is in process: then the connection waits on the starved list, retried every
 * poll). Frames that fit the ring are never copied.
 */
static bool
starving(const struct dconn *dc)
{
	return dc->in_use && !dc->closing && dc->tc && dc->handed &&
	       sl_tcp_rx_window(dc->tc) < STAGE_WINDOW;
}

static void
check_starved(struct dconn *dc)
{
	struct sl_dxport *xp = dc->xp;

	if (!starving(dc))
		return;
	sl_kconn_stage_now(&dc->k);
	if (starving(dc) && !dc->starved) {
		dc->starved = true;
		dc->snext = xp->starved;
		xp->starved = dc;
	}
}

static void
starved_run(struct sl_dxport *xp)
{
	struct dconn *dc = xp->starved;

	xp->starved = NULL;
	while (dc) {
		struct dconn *next = dc->snext;

		dc->starved = false;
		dc->snext = NULL;
		check_starved(dc);
		dc = next;
	}
}

static void
deliver_rx(struct dconn *dc)
{
	while (dc->in_use && !dc->paused && !dc->closing && dc->tc &&
	       dc->seg_tail - dc->seg_head <= dc->seg_mask) {
		struct iovec iov;
		struct sl_rxseg seg;

		/* the first piece past what is already up (copy mode: at most two in all) */
		if (dc->handed >= sl_tcp_rx_avail(dc->tc) ||
		    sl_tcp_rx_peekv(dc->tc, dc->handed, &iov, 1) == 0 || iov.iov_len == 0)
			break;
		seg.p = iov.iov_base;
		seg.len = (uint32_t)SL_MIN(iov.iov_len, (size_t)UINT32_MAX);
		seg.id = (uint32_t)dc->seg_tail;
		dc->seg_len[dc->seg_tail & dc->seg_mask] = seg.len;
		dc->seg_rel[dc->seg_tail & dc->seg_mask] = 0;
		dc->seg_tail++;
		dc->handed += seg.len;
		dc->xp->rx_bytes += seg.len;
		sl_kconn_rx(&dc->k, &seg);
	}
	check_starved(dc);
}

static void
dx_rx_release(struct sl_kconn *c, uint32_t id)
{
	struct dconn *dc = dc_of(c);
	uint32_t pos = id - (uint32_t)dc->seg_head;
	size_t bytes = 0;

	SL_BUG_ON(pos >= dc->seg_tail - dc->seg_head);
	dc->seg_rel[id & dc->seg_mask] = 1;
	while (dc->seg_head < dc->seg_tail && dc->seg_rel[dc->seg_head & dc->seg_mask]) {
		bytes += dc->seg_len[dc->seg_head & dc->seg_mask];
		dc->seg_head++;
	}
	if (!bytes)
		return;
	dc->handed -= bytes;
	if (dc->tc)
		sl_tcp_rx_consume(dc->tc, bytes, dc->xp->now_ns);
	if (!dc->closing)
		dc_queue(dc, EV_RX); /* room for more pieces */
}

static void
dx_rx_pause(struct sl_kconn *c, bool pause)
{
	struct dconn *dc = dc_of(c);

	dc->paused = pause;
	if (!pause && !dc->closing)
		dc_queue(dc, EV_RX);
}

/* ---- send ---- */

static void
tx_complete(struct dconn *dc, int res)
{
	dc->tx_res = res;
	dc->tx_left = 0;
	dc->tx_ready = true;
	dc_queue(dc, EV_ANY);
}

static void
tx_advance(struct dconn *dc, size_t n)
{
	dc->tx_left -= n;
	while (n && dc->tx_n) {
		if (n >= dc->tx_iov->iov_len) {
			n -= dc->tx_iov->iov_len;
			dc->tx_iov++;
			dc->tx_n--;
		} else {
			dc->tx_iov->iov_base = (uint8_t *)dc->tx_iov->iov_base + n;
			dc->tx_iov->iov_len -= n;
			n = 0;
		}
	}
	while (dc->tx_n && dc->tx_iov->iov_len == 0) {
		dc->tx_iov++;
		dc->tx_n--;
	}
}

static void
try_send(struct dconn *dc)
{
	ssize_t r;

	if (!dc->tx_busy || dc->tx_ready)
		return;
	if (dc->closing || !dc->tc || dc->tcp_closed || (dc->rx_ended && dc->rx_err < 0)) {
		tx_complete(dc, dc->rx_err < 0 ? dc->rx_err : -EPIPE);
		return;
	}
	r = sl_tcp_send(dc->tc, dc->tx_iov, dc->tx_n, dc->xp->now_ns);
	if (r < 0) {
		tx_complete(dc, (int)r);
		return;
	}
	dc->xp->tx_bytes += (uint64_t)r;
	tx_advance(dc, (size_t)r);
	if (dc->tx_left == 0)
		tx_complete(dc, (int)SL_MIN(dc->tx_len, (size_t)INT32_MAX));
	/* else: the rest goes on the writable event */
}

static void
dx_tx(struct sl_kconn *c, struct iovec *iov, unsigned n, size_t len)
{
	struct dconn *dc = dc_of(c);

	SL_BUG_ON(dc->tx_busy);
	dc->tx_busy = true;
	dc->tx_ready = false;
	dc->tx_iov = iov;
	dc->tx_n = n;
	dc->tx_left = len;
	dc->tx_len = len;
	dc->tx_res = 0;
	if (len == 0) {
		tx_complete(dc, 0);
		return;
	}
	try_send(dc);
}

/* ---- close ---- */

static void
dx_close(struct sl_kconn *c)
{
	struct dconn *dc = dc_of(c);

	if (dc->closing)
		return;
	dc->closing = true;
	if (dc->tx_busy && !dc->tx_ready)
		tx_complete(dc, -EPIPE);
	dc_queue(dc, EV_ANY); /* xport_gone */
}

static void
dx_free(struct sl_kconn *c)
{
	struct dconn *dc = dc_of(c);
	struct sl_dxport *xp = dc->xp;

	SL_BUG_ON(!dc->in_use || dc->tx_busy);
	if (dc->tc) {
		/* Every piece is back: the receive ring may go. */
		sl_tcp_set_user(dc->tc, NULL);
		sl_tcp_close(dc->tc, xp->now_ns);
		dc->tc = NULL;
	}
	dc->in_use = false;
	dc->ev = 0; /* a queued entry finds !in_use and is skipped */
	dc->next = xp->free_list;
	xp->free_list = dc;
	xp->nconns--;
}

static const struct sl_xport_ops dx_ops = {
        .rx_release = dx_rx_release,
        .tx = dx_tx,
        .rx_pause = dx_rx_pause,
        .close = dx_close,
        .free = dx_free,
};

/* ---- events ---- */

/* Handles one connection's queued events. dc may be freed when this returns. */
static void
dc_process(struct dconn *dc)
{
	unsigned ev = dc->ev;

	dc->ev = 0;
	if (!dc->in_use)
		return;
	if (ev & EV_TX)
		try_send(dc);
	if (ev & EV_RX)
		deliver_rx(dc);
	/* Failures end a send that waits for window or ring space. */
	if (dc->tx_busy && !dc->tx_ready && (dc->tcp_closed || (dc->rx_ended && dc->rx_err < 0)))
		try_send(dc);
	/* The peer's FIN goes up after every byte before it; errors at once. */
	if (dc->rx_ended && !dc->rx_end_sent && !dc->closing) {
		bool all_up = !dc->tc || dc->handed >= sl_tcp_rx_avail(dc->tc);

		if (dc->rx_err < 0 || all_up) {
			dc->rx_end_sent = true;
			sl_kconn_rx_end(&dc->k, dc->rx_err);
		}
	}
	if (dc->tx_busy && dc->tx_ready) {
		int res = dc->tx_res;

		dc->tx_busy = false;
		dc->tx_ready = false;
		sl_kconn_tx_done(&dc->k, res);
	}
	if (dc->in_use && dc->closing && !dc->tx_busy && !dc->gone_sent) {
		dc->gone_sent = true;
		sl_kconn_xport_gone(&dc->k); /* may free dc (ops->free) */
	}
}

static unsigned
events_run(struct sl_dxport *xp)
{
	unsigned n = 0;

	for (unsigned round = 0; round < EV_ROUNDS && xp->q_head; round++) {
		struct dconn *dc = xp->q_head;

		xp->q_head = xp->q_tail = NULL;
		while (dc) {
			struct dconn *next = dc->qnext;

			dc->queued = false;
			dc->qnext = NULL;
			dc_process(dc);
			n++;
			dc = next;
		}
	}
	return n;
}

unsigned
sl_dxport_poll(struct sl_dxport *xp, int64_t now_ns)
{
	unsigned n;

	xp->now_ns = now_ns;
	n = sl_net_poll(xp->net, now_ns);
	if (xp->starved)
		starved_run(xp);
	return n + events_run(xp);
}

void
sl_dxport_flush(struct sl_dxport *xp, int64_t now_ns)
{
	xp->now_ns = now_ns;
	events_run(xp);
	sl_net_flush(xp->net);
}

/* ---- listening and shutdown ---- */

int
sl_dxport_listen(struct sl_dxport *xp, uint16_t port)
{
	xp->accept_stop = false;
	return sl_tcp_listen(xp->net, port, 1024);
}

void
sl_dxport_stop_listen(struct sl_dxport *xp)
{
	xp->accept_stop = true;
}

void
sl_dxport_hold_all(struct sl_dxport *xp)
{
	for (unsigned i = 0; i < xp->cfg.max_conns; i++)
		if (xp->conns[i].in_use && !xp->conns[i].k.closing)
			sl_kconn_hold(&xp->conns[i].k);
}

bool
sl_dxport_conns_idle(const struct sl_dxport *xp)
{
	for (unsigned i = 0; i < xp->cfg.max_conns; i++) {
		const struct dconn *dc = &xp->conns[i];

		if (dc->in_use && !dc->k.closing && !sl_kconn_idle(&dc->k))
			return false;
	}
	return true;
}

void
sl_dxport_close_all(struct sl_dxport *xp)
{
	for (unsigned i = 0; i < xp->cfg.max_conns; i++)
		if (xp->conns[i].in_use && !xp->conns[i].k.closing)
			sl_kconn_close(&xp->conns[i].k, -ESHUTDOWN);
}

bool
sl_dxport_idle(const struct sl_dxport *xp)
{
	return xp->nconns == 0;
}

void
sl_dxport_stats_get(const struct sl_dxport *xp, struct sl_dxport_stats *out)
{
	out->accepted = xp->accepted;
	out->refused = xp->refused;
	out->rx_bytes = xp->rx_bytes;
	out->tx_bytes = xp->tx_bytes;
	out->conns = xp->nconns;
	if (xp->net) {
		struct sl_net_stats ns;

		sl_net_stats_get(xp->net, &ns);
		out->rx_pkts = ns.rx_pkts;
		out->rx_drop = ns.rx_drop;
		out->tx_pkts = ns.tx_pkts;
		out->tx_drop = ns.tx_drop;
		out->retrans = ns.retrans;
		out->fast_retrans = ns.fast_retrans;
		out->rto_expired = ns.rto_expired;
		out->ooo_segs = ns.ooo_segs;
	}
}

/* ---- set-up ---- */

int
sl_dxport_create(struct sl_dxport **out, const struct sl_dxport_cfg *cfg,
                 const struct sl_pkt_io *io, const struct sl_kconn_cfg *kcfg, void *owner)
{
	struct sl_net_cfg ncfg;
	struct sl_dxport *xp;
	uint32_t nseg = kcfg->max_segs;
	int rc;

	*out = NULL;
	if (nseg == 0 || (nseg & (nseg - 1)))
		return -EINVAL;
	xp = calloc(1, sizeof(*xp));
	if (!xp)
		return -ENOMEM;
	xp->cfg = *cfg;
	if (!xp->cfg.max_conns)
		xp->cfg.max_conns = 1024;
	if (!xp->cfg.rcvbuf_bytes)
		xp->cfg.rcvbuf_bytes = 256 << 10;
	if (!xp->cfg.sndbuf_bytes)
		xp->cfg.sndbuf_bytes = 256 << 10;
	xp->kcfg = kcfg;
	xp->conns = calloc(xp->cfg.max_conns, sizeof(*xp->conns));
	if (!xp->conns) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = xp->cfg.max_conns; i-- > 0;) {
		struct dconn *dc = &xp->conns[i];

		dc->seg_len = calloc(nseg, sizeof(*dc->seg_len));
		dc->seg_rel = calloc(nseg, sizeof(*dc->seg_rel));
		if (!dc->seg_len || !dc->seg_rel) {
			rc = -ENOMEM;
			goto fail;
		}
		dc->seg_mask = nseg - 1;
		rc = sl_kconn_init(&dc->k, &dx_ops, kcfg, owner, 0);
		if (rc < 0)
			goto fail;
		dc->xp = xp;
		dc->next = xp->free_list;
		xp->free_list = dc;
	}
	memset(&ncfg, 0, sizeof(ncfg));
	memcpy(ncfg.mac, cfg->mac, sizeof(ncfg.mac));
	ncfg.ip = cfg->ip;
	ncfg.netmask = cfg->netmask;
	ncfg.gateway = cfg->gateway;
	ncfg.mtu = cfg->mtu;
	/* Room for half-open and closing connections (and the rare TIME_WAIT: the broker's
	 * side closes last only at shutdown or on bad input) beyond the request path's pool.
	 * Each has its rings (rcvbuf + sndbuf), pre-faulted. */
	ncfg.max_conns = xp->cfg.max_conns + xp->cfg.max_conns / 4 + 16;
	ncfg.rcvbuf_bytes = xp->cfg.rcvbuf_bytes;
	ncfg.sndbuf_bytes = xp->cfg.sndbuf_bytes;
	ncfg.secret = cfg->secret;
	ncfg.tx_csum_offload = cfg->tx_csum_offload;
	ncfg.time_wait_ms = 2000; /* a broker's side closes rarely; keep the pool free */
	ncfg.cb.established = cb_established;
	ncfg.cb.readable = cb_readable;
	ncfg.cb.writable = cb_writable;
	ncfg.cb.rx_end = cb_rx_end;
	ncfg.cb.closed = cb_closed;
	ncfg.cb.arg = xp;
	rc = sl_net_create(&xp->net, &ncfg, io);
	if (rc < 0)
		goto fail;
	*out = xp;
	return 0;
fail:
	sl_dxport_destroy(xp);
	return rc;
}

void
sl_dxport_destroy(struct sl_dxport *xp)
{
	if (!xp)
		return;
	if (xp->net)
		sl_net_destroy(xp->net);
	for (unsigned i = 0; xp->conns && i < xp->cfg.max_conns; i++) {
		struct dconn *dc = &xp->conns[i];

		if (dc->xp)
			sl_kconn_fini(&dc->k);
		free(dc->seg_len);
		free(dc->seg_rel);
	}
	free(xp->conns);
	free(xp);
}
