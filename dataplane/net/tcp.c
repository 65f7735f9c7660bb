/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcp.c: the TCP/IPv4 state machine, timers and send/receive rings (API in tcp.h).
 *
 * Runs on the owning shard's thread only. All memory comes from sl_net_create; per packet
 * nothing is allocated and nothing blocks.
 *
 * Invariants (for a connection in use):
 *  1. Send ring: the sq_len bytes at ring index sq_head hold the data from sequence number
 *     snd_data_una to snd_data_end = snd_data_una + sq_len (sent or not). A queued FIN has
 *     sequence number snd_data_end. snd_una <= snd_nxt <= snd_max (mod 2^32).
 *  2. Receive ring: the rq_len bytes at ring index rq_head are in-order, unread data that
 *     ends at rcv_nxt (before a FIN). Out-of-order data lies in the ring at its offset from
 *     rcv_nxt, recorded in ooo[] as disjoint sequence ranges above rcv_nxt.
 *  3. The advertised right edge rcv_nxt + (rbuf_size - rq_len) never moves left.
 *  4. A connection is on the hash table from SYN_SENT/SYN_RCVD until it is freed; it is freed
 *     when it is CLOSED and the user has let go of it (user_done), or at once when it never
 *     reached the user (an embryonic connection that failed).
 *
 * States (RFC 9293 3.3.2) and the functions that move them:
 *   LISTEN -(SYN)-> SYN_RCVD              on_listen()
 *   (connect) -> SYN_SENT -(SYN,ACK)-> ESTABLISHED     sl_tcp_connect(), on_syn_sent()
 *   SYN_RCVD -(ACK)-> ESTABLISHED         on_ack()
 *   ESTABLISHED -(close)-> FIN_WAIT_1 -(ACK of FIN)-> FIN_WAIT_2 -(FIN)-> TIME_WAIT
 *                                         sl_tcp_close(), on_ack(), on_fin()
 *   FIN_WAIT_1 -(FIN)-> CLOSING -(ACK of FIN)-> TIME_WAIT
 *   ESTABLISHED -(FIN)-> CLOSE_WAIT -(close)-> LAST_ACK -(ACK of FIN)-> CLOSED
 *   TIME_WAIT -(2MSL)-> CLOSED            run_timers()
 *   any -(RST / too many retransmissions / abort)-> CLOSED    conn_reset()
 */
#include "dataplane/net/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/bytes.h"
#include "dataplane/net/proto.h"

#define NIL UINT32_MAX
#define TX_BURST 32
#define OOO_MAX 8
#define NS_PER_MS 1000000LL
#define DUPACK_THRESH 3
#define WSCALE_MAX 14
/* SYN cookie (RFC 4987 3.1): the ISN is 24 bits of hash(4-tuple, peer ISN, secret, t), a
 * 5-bit counter t (one step per 2^36 ns ~ 69 s) and a 3-bit MSS index, so an ACK is
 * accepted for the current and previous counter value and the MSS survives without state. */
#define COOKIE_T_SHIFT 36 /* 2^36 ns ~ 68.7 s per counter step */

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((a) - (b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((a) - (b)) >= 0)

static const uint16_t cookie_mss[8] = {536, 1024, 1220, 1360, 1400, 1440, 1460, 8960};

struct ooo_range {
	uint32_t start, end;
};

struct sl_tcp_conn {
	struct sl_net *net;
	uint32_t idx, hnext;
	uint8_t state;
	bool in_use, user_held, user_done, rx_ended, ack_now, fin_queued, in_recovery;
	bool rtt_active, listener_child, ts_ok;
	uint8_t snd_wscale, rcv_wscale;
	uint16_t listener;
	uint16_t mss;
	uint8_t rmac[6];
	uint32_t rip;
	uint16_t lport, rport;

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t snd_data_una, sq_head, sq_len;
	uint32_t cwnd, ssthresh, recover;
	unsigned dupacks;
	uint32_t rtt_seq;
	int64_t rtt_ts;
	int64_t srtt_ns, rttvar_ns, rto_ns;
	unsigned retries;
	int64_t rto_at, persist_at, dack_at, tw_at, ka_at; /* 0 = off */
	unsigned ka_probes;
	uint8_t *sbuf;

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv, rq_head, rq_len;
	uint32_t ts_recent, last_ack_sent; /* RFC 7323 4.3 */
	unsigned unacked_segs;
	unsigned nooo;
	struct ooo_range ooo[OOO_MAX];
	uint8_t *rbuf;

	void *user;
};

struct listener {
	uint16_t port;
	bool in_use;
	unsigned backlog, embryonic;
};

struct sl_net {
	struct sl_net_cfg cfg;
	struct sl_pkt_io io;
	struct sl_tcp_conn *conns;
	uint32_t *buckets;
	uint32_t bucket_mask;
	uint32_t free_head;
	struct listener *listeners;
	uint8_t *ring_mem;
	size_t ring_mem_len;
	uint16_t mss; /* what we announce: MTU - 40 */
	uint8_t our_wscale;
	uint16_t ip_id;
	uint16_t next_port;
	int64_t now;
	unsigned ntx;
	struct sl_pkt *tx[TX_BURST];
	struct sl_net_stats st;
};

/* ---- helpers ---- */

static uint64_t
mix64(uint64_t x)
{
	/* splitmix64's finaliser: cheap and well spread; not a MAC (TODO #dpdk: SipHash). */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t
tuple_hash(const struct sl_net *n, uint32_t rip, uint16_t rport, uint16_t lport, uint64_t salt)
{
	return mix64(((uint64_t)rip << 32 | (uint32_t)rport << 16 | lport) ^ n->cfg.secret ^
	             mix64(salt + n->cfg.ip));
}

static struct sl_tcp_conn *
conn_lookup(struct sl_net *n, uint32_t rip, uint16_t rport, uint16_t lport)
{
	uint32_t i = n->buckets[tuple_hash(n, rip, rport, lport, 0) & n->bucket_mask];

	while (i != NIL) {
		struct sl_tcp_conn *c = &n->conns[i];

		if (c->rip == rip && c->rport == rport && c->lport == lport)
			return c;
		i = c->hnext;
	}
	return NULL;
}

static void
hash_insert(struct sl_net *n, struct sl_tcp_conn *c)
{
	uint32_t *b = &n->buckets[tuple_hash(n, c->rip, c->rport, c->lport, 0) & n->bucket_mask];

	c->hnext = *b;
	*b = c->idx;
}

static void
hash_remove(struct sl_net *n, struct sl_tcp_conn *c)
{
	uint32_t *p = &n->buckets[tuple_hash(n, c->rip, c->rport, c->lport, 0) & n->bucket_mask];

	while (*p != NIL) {
		if (*p == c->idx) {
			*p = c->hnext;
			return;
		}
		p = &n->conns[*p].hnext;
	}
}

static struct listener *
listener_find(struct sl_net *n, uint16_t port)
{
	for (unsigned i = 0; i < n->cfg.max_listeners; i++)
		if (n->listeners[i].in_use && n->listeners[i].port == port)
			return &n->listeners[i];
	return NULL;
}

static uint32_t
isn_make(struct sl_net *n, uint32_t rip, uint16_t rport, uint16_t lport)
{
	/* RFC 6528: a 4 us clock plus a keyed hash of the connection id. */
	return (uint32_t)(n->now / 4000) + (uint32_t)tuple_hash(n, rip, rport, lport, 1);
}

static uint32_t
cookie_make(struct sl_net *n, const struct sl_net_hdrs *h, uint16_t mss, int64_t t)
{
	uint32_t cnt = (uint32_t)((uint64_t)t >> COOKIE_T_SHIFT) & 31;
	unsigned mi = 0;

	for (unsigned i = 0; i < SL_ARRAY_SIZE(cookie_mss); i++)
		if (cookie_mss[i] <= mss)
			mi = i;
	return ((uint32_t)tuple_hash(n, h->src_ip, h->sport, h->dport,
	                             (uint64_t)(cnt << 3 | mi) << 32 | h->seq) &
	        0xffffff00u) |
	       cnt << 3 | mi;
}

/* Returns the MSS the cookie carries, or 0 if it is not one of ours (or too old). */
static uint16_t
cookie_check(struct sl_net *n, const struct sl_net_hdrs *h)
{
	uint32_t cookie = h->ack - 1, seq = h->seq - 1;
	uint32_t now_cnt = (uint32_t)((uint64_t)n->now >> COOKIE_T_SHIFT) & 31;
	uint32_t cnt = cookie >> 3 & 31;

	if (cnt != now_cnt && cnt != ((now_cnt - 1) & 31))
		return 0;
	/* The hash covers the counter and the MSS index too: neither can be forged. */
	if ((cookie & 0xffffff00u) != ((uint32_t)tuple_hash(n, h->src_ip, h->sport, h->dport,
	                                                    (uint64_t)(cookie & 0xff) << 32 | seq) &
	                               0xffffff00u))
		return 0;
	return cookie_mss[cookie & 7];
}

static uint32_t
rcv_space(const struct sl_tcp_conn *c)
{
	return c->net->cfg.rcvbuf_bytes - c->rq_len;
}

static uint16_t
win_field(struct sl_tcp_conn *c)
{
	uint32_t w = rcv_space(c) >> c->rcv_wscale;

	/* Invariant 3: never advertise less than promised before. */
	if (SEQ_GT(c->rcv_nxt + rcv_space(c), c->rcv_adv))
		c->rcv_adv = c->rcv_nxt + rcv_space(c);
	return w > 0xffff ? 0xffff : (uint16_t)w;
}

static void
tx_queue(struct sl_net *n, struct sl_pkt *p)
{
	if (n->ntx == TX_BURST)
		sl_net_flush(n);
	n->tx[n->ntx++] = p;
}

/* ---- output ---- */

/* Sends one segment: flags, seq, and len data bytes taken from the send ring at seq. */
static void
send_seg(struct sl_tcp_conn *c, uint8_t flags, uint32_t seq, uint32_t len)
{
	struct sl_net *n = c->net;
	struct sl_tcp_seg_out s;
	struct iovec iov[2];
	struct sl_pkt *p;
	int r;

	memset(&s, 0, sizeof(s));
	memcpy(s.src_mac, n->cfg.mac, 6);
	memcpy(s.dst_mac, c->rmac, 6);
	s.src_ip = n->cfg.ip;
	s.dst_ip = c->rip;
	s.sport = c->lport;
	s.dport = c->rport;
	s.seq = seq;
	s.flags = flags;
	if (flags & SL_TCP_ACK)
		s.ack = c->rcv_nxt;
	if (flags & SL_TCP_SYN) {
		s.opts.has_mss = true;
		s.opts.mss = n->mss;
		/* RFC 7323 2.2: offer scaling in SYN; in SYN-ACK only if the peer offered. */
		if (c->state == SL_TCP_SYN_SENT || c->rcv_wscale) {
			s.opts.has_ws = true;
			s.opts.wscale = c->rcv_wscale;
		}
		/* The window field of a SYN is never scaled. */
		s.win = (uint16_t)SL_MIN(rcv_space(c), 0xffffu);
		c->rcv_adv = c->rcv_nxt + s.win;
	} else {
		s.win = win_field(c);
	}
	if (len) {
		uint32_t size = n->cfg.sndbuf_bytes;
		uint32_t at = (c->sq_head + (seq - c->snd_data_una)) & (size - 1);
		uint32_t first = SL_MIN(len, size - at);

		iov[0].iov_base = c->sbuf + at;
		iov[0].iov_len = first;
		iov[1].iov_base = c->sbuf;
		iov[1].iov_len = len - first;
		s.data = iov;
		s.ndata = 2;
		s.data_len = len;
	}
	if (n->cfg.tx_csum_offload)
		s.ol_flags = SL_PKT_TX_IP_CKSUM | SL_PKT_TX_TCP_CKSUM;
	/* RFC 7323 3.2: offer timestamps in our SYN; once both sides did, on every segment. */
	if (c->ts_ok || ((flags & SL_TCP_SYN) && c->state == SL_TCP_SYN_SENT)) {
		s.opts.has_ts = true;
		s.opts.tsval = (uint32_t)(n->now / NS_PER_MS); /* a 1 ms clock */
		s.opts.tsecr = c->ts_recent;
	}
	if (flags & SL_TCP_ACK)
		c->last_ack_sent = c->rcv_nxt;
	s.ip_id = n->ip_id++;
	p = n->io.alloc(n->io.ctx);
	if (!p) {
		n->st.tx_drop++; /* the retransmission timer recovers */
		return;
	}
	r = sl_tcp_build(p->data, p->cap, &s);
	if (r < 0) {
		n->io.free(n->io.ctx, p);
		n->st.tx_drop++;
		return;
	}
	p->len = (uint16_t)r;
	p->ol_flags = s.ol_flags;
	tx_queue(n, p);
	if (flags & SL_TCP_ACK) {
		c->ack_now = false;
		c->unacked_segs = 0;
		c->dack_at = 0;
	}
}

/* Answers a segment that has no connection (RFC 9293 3.10.7.1). */
static void
send_rst_for(struct sl_net *n, const struct sl_net_hdrs *h)
{
	struct sl_tcp_seg_out s;
	struct sl_pkt *p;
	int r;

	if (h->flags & SL_TCP_RST)
		return;
	memset(&s, 0, sizeof(s));
	memcpy(s.src_mac, n->cfg.mac, 6);
	memcpy(s.dst_mac, h->src_mac, 6);
	s.src_ip = n->cfg.ip;
	s.dst_ip = h->src_ip;
	s.sport = h->dport;
	s.dport = h->sport;
	if (h->flags & SL_TCP_ACK) {
		s.seq = h->ack;
		s.flags = SL_TCP_RST;
	} else {
		s.ack = h->seq + h->payload_len + !!(h->flags & SL_TCP_SYN) +
		        !!(h->flags & SL_TCP_FIN);
		s.flags = SL_TCP_RST | SL_TCP_ACK;
	}
	p = n->io.alloc(n->io.ctx);
	if (!p)
		return;
	r = sl_tcp_build(p->data, p->cap, &s);
	if (r < 0) {
		n->io.free(n->io.ctx, p);
		return;
	}
	p->len = (uint16_t)r;
	n->st.rst_sent++;
	tx_queue(n, p);
}

static uint32_t
flight(const struct sl_tcp_conn *c)
{
	return c->snd_nxt - c->snd_una;
}

static void
arm_rto(struct sl_tcp_conn *c)
{
	c->rto_at = c->net->now + c->rto_ns;
}

/* Sends what the windows allow, then a pending ACK; arms the timers. */
static void
output(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;
	uint32_t data_end = c->snd_data_una + c->sq_len;
	bool sent = false;

	if (c->state == SL_TCP_SYN_SENT || c->state == SL_TCP_SYN_RCVD) {
		if (c->snd_nxt == c->iss) {
			send_seg(c,
			         c->state == SL_TCP_SYN_SENT ? SL_TCP_SYN : SL_TCP_SYN | SL_TCP_ACK,
			         c->iss, 0);
			c->snd_nxt = c->iss + 1;
			if (SEQ_GT(c->snd_nxt, c->snd_max))
				c->snd_max = c->snd_nxt;
			if (!c->rto_at)
				arm_rto(c);
		}
		return;
	}
	if (c->state == SL_TCP_CLOSED || c->state == SL_TCP_TIME_WAIT) {
		if (c->ack_now && c->state == SL_TCP_TIME_WAIT)
			send_seg(c, SL_TCP_ACK, c->snd_nxt, 0);
		return;
	}
	for (;;) {
		uint32_t wnd = SL_MIN(c->snd_wnd, c->cwnd);
		uint32_t usable = wnd > flight(c) ? wnd - flight(c) : 0;
		uint32_t avail = SEQ_LT(c->snd_nxt, data_end) ? data_end - c->snd_nxt : 0;
		uint32_t len = SL_MIN(SL_MIN(avail, usable), c->mss);
		uint8_t flags = SL_TCP_ACK;

		/* Sender SWS avoidance (RFC 9293 3.8.6.2.1) without Nagle (requests and
		 * responses want latency): hold a short segment only while more is queued
		 * and the peer's window could take a bigger one. */
		if (len < avail && len < c->mss && len < c->snd_wnd / 2)
			len = 0;
		/* The FIN goes out once every byte before it has; it needs no window. */
		if (c->fin_queued && SEQ_LEQ(c->snd_nxt, data_end) && c->snd_nxt + len == data_end)
			flags |= SL_TCP_FIN;
		else if (!len)
			break;
		if (len && c->snd_nxt + len == data_end)
			flags |= SL_TCP_PSH;
		if (len && !c->rtt_active && SEQ_GEQ(c->snd_nxt, c->snd_max)) {
			/* Karn: time only segments sent for the first time. */
			c->rtt_active = true;
			c->rtt_seq = c->snd_nxt;
			c->rtt_ts = n->now;
		}
		send_seg(c, flags, c->snd_nxt, len);
		if (SEQ_LT(c->snd_nxt, c->snd_max))
			n->st.retrans++;
		c->snd_nxt += len + !!(flags & SL_TCP_FIN);
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		sent = true;
		if (flags & SL_TCP_FIN)
			break;
	}
	if (flight(c) && !c->rto_at)
		arm_rto(c);
	/* Zero window with data waiting and nothing in flight: probe (RFC 9293 3.8.6.1). */
	if (!flight(c) && c->snd_wnd == 0 && (SEQ_LT(c->snd_nxt, data_end) || c->fin_queued)) {
		if (!c->persist_at)
			c->persist_at = n->now + c->rto_ns;
	} else {
		c->persist_at = 0;
	}
	if (!sent && c->ack_now)
		send_seg(c, SL_TCP_ACK, c->snd_nxt, 0);
}

/* ---- connection lifetime ---- */

static struct sl_tcp_conn *
conn_alloc(struct sl_net *n)
{
	struct sl_tcp_conn *c;
	uint8_t *sbuf, *rbuf;
	uint32_t idx;

	if (n->free_head == NIL)
		return NULL;
	idx = n->free_head;
	c = &n->conns[idx];
	n->free_head = c->hnext;
	sbuf = c->sbuf;
	rbuf = c->rbuf;
	memset(c, 0, sizeof(*c));
	c->sbuf = sbuf;
	c->rbuf = rbuf;
	c->net = n;
	c->idx = idx;
	c->in_use = true;
	c->hnext = NIL;
	c->rto_ns = (int64_t)n->cfg.rto_init_ms * NS_PER_MS;
	c->mss = 536; /* RFC 9293 3.7.1 default */
	n->st.conns_active++;
	return c;
}

static void
conn_free(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;

	hash_remove(n, c);
	c->in_use = false;
	c->state = SL_TCP_CLOSED;
	c->hnext = n->free_head;
	n->free_head = c->idx;
	n->st.conns_active--;
}

static void
embryo_done(struct sl_tcp_conn *c)
{
	if (c->listener_child) {
		c->net->listeners[c->listener].embryonic--;
		c->listener_child = false;
	}
}

/* Whether the user holds c and still wants to hear about it. */
static bool
notify(const struct sl_tcp_conn *c)
{
	return c->user_held && !c->user_done;
}

/* Moves c to CLOSED and tells the user; frees it unless the user still holds it. */
static void
conn_closed(struct sl_tcp_conn *c, int err)
{
	const struct sl_tcp_cb *cb = &c->net->cfg.cb;

	c->state = SL_TCP_CLOSED;
	c->rto_at = c->persist_at = c->dack_at = c->tw_at = c->ka_at = 0;
	embryo_done(c);
	if (!notify(c)) {
		conn_free(c);
		return;
	}
	if (!c->rx_ended) {
		c->rx_ended = true;
		if (cb->rx_end)
			cb->rx_end(cb->arg, c, err);
	}
	if (cb->closed)
		cb->closed(cb->arg, c);
}

static void
conn_reset(struct sl_tcp_conn *c, int err)
{
	c->sq_len = 0;
	c->fin_queued = false;
	conn_closed(c, err);
}

/* Keepalive (RFC 9293 3.8.4, off unless configured): idle time restarts on every acceptable
 * segment. */
static void
ka_rearm(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;

	c->ka_probes = 0;
	c->ka_at = n->cfg.keepalive_idle_ms ? n->now + (int64_t)n->cfg.keepalive_idle_ms * NS_PER_MS
	                                    : 0;
}

static void
established(struct sl_tcp_conn *c)
{
	const struct sl_tcp_cb *cb = &c->net->cfg.cb;

	c->state = SL_TCP_ESTABLISHED;
	embryo_done(c);
	c->user_held = true;
	c->recover = c->iss; /* RFC 6582 3.2 step 1 */
	ka_rearm(c);
	/* RFC 5681 3.1: IW = min(4*MSS, max(2*MSS, 4380)) (RFC 3390). */
	c->cwnd = SL_MIN(4u * c->mss, SL_MAX(2u * c->mss, 4380u));
	c->ssthresh = UINT32_MAX / 2;
	if (cb->established)
		cb->established(cb->arg, c);
}

/* ---- input ---- */

static void
apply_syn_opts(struct sl_tcp_conn *c, const struct sl_tcp_opts *o, bool we_offer_ws)
{
	struct sl_net *n = c->net;
	uint16_t mss = o->has_mss ? o->mss : 536;

	c->mss = SL_MIN(mss, n->mss);
	if (c->mss < 64)
		c->mss = 64; /* a tiny MSS would make us a packet cannon */
	if (o->has_ts) {
		c->ts_ok = true;
		c->ts_recent = o->tsval;
		c->mss -= 12; /* the option rides on every segment */
	}
	if (o->has_ws && we_offer_ws) {
		c->snd_wscale = o->wscale;
		c->rcv_wscale = n->our_wscale;
	} else {
		c->snd_wscale = 0;
		c->rcv_wscale = 0;
	}
}

static void
on_listen(struct sl_net *n, struct listener *l, const struct sl_net_hdrs *h)
{
	struct sl_tcp_conn *c;

	if (h->flags & SL_TCP_RST)
		return;
	if (h->flags & SL_TCP_ACK) {
		/* Maybe the third step of a handshake answered with a cookie. */
		uint16_t mss = (h->flags & (SL_TCP_SYN | SL_TCP_FIN)) ? 0 : cookie_check(n, h);

		if (!mss) {
			send_rst_for(n, h);
			return;
		}
		c = conn_alloc(n);
		if (!c)
			return; /* pool full: the peer retransmits, maybe after others left */
		memcpy(c->rmac, h->src_mac, 6);
		c->rip = h->src_ip;
		c->rport = h->sport;
		c->lport = h->dport;
		c->irs = h->seq - 1;
		c->rcv_nxt = h->seq;
		c->iss = h->ack - 1;
		c->snd_una = c->snd_nxt = c->snd_max = h->ack;
		c->snd_data_una = h->ack;
		c->mss = mss;
		/* The cookie kept no window scale: neither side scales (RFC 4987 3.2). */
		c->snd_wnd = h->win;
		c->snd_wl1 = h->seq;
		c->snd_wl2 = h->ack;
		c->rcv_adv = c->rcv_nxt;
		hash_insert(n, c);
		n->st.syncookies_ok++;
		established(c);
		/* The ACK may carry data: let the caller run it through the normal path. */
		return;
	}
	if (!(h->flags & SL_TCP_SYN))
		return;
	if (l->embryonic >= l->backlog || n->free_head == NIL) {
		struct sl_tcp_conn tmp;
		uint32_t cookie;

		/* Stateless SYN-ACK: everything we need later is in the ISN. */
		memset(&tmp, 0, sizeof(tmp));
		tmp.net = n;
		tmp.state = SL_TCP_SYN_RCVD;
		memcpy(tmp.rmac, h->src_mac, 6);
		tmp.rip = h->src_ip;
		tmp.rport = h->sport;
		tmp.lport = h->dport;
		tmp.rcv_nxt = h->seq + 1;
		cookie = cookie_make(n, h, h->opts.has_mss ? h->opts.mss : 536, n->now);
		send_seg(&tmp, SL_TCP_SYN | SL_TCP_ACK, cookie, 0);
		n->st.syncookies_sent++;
		return;
	}
	c = conn_alloc(n);
	memcpy(c->rmac, h->src_mac, 6);
	c->rip = h->src_ip;
	c->rport = h->sport;
	c->lport = h->dport;
	c->irs = h->seq;
	c->rcv_nxt = h->seq + 1;
	c->listener_child = true;
	c->listener = (uint16_t)(l - n->listeners);
	l->embryonic++;
	apply_syn_opts(c, &h->opts, true);
	c->snd_wnd = h->win; /* unscaled in a SYN */
	c->snd_wl1 = h->seq;
	c->iss = isn_make(n, c->rip, c->rport, c->lport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->snd_data_una = c->iss + 1;
	c->snd_wl2 = c->iss;
	c->state = SL_TCP_SYN_RCVD;
	hash_insert(n, c);
	output(c);
}

static void
on_syn_sent(struct sl_tcp_conn *c, const struct sl_net_hdrs *h)
{
	struct sl_net *n = c->net;
	bool ack_ok = false;

	if (h->flags & SL_TCP_ACK) {
		if (SEQ_LEQ(h->ack, c->iss) || SEQ_GT(h->ack, c->snd_max)) {
			send_rst_for(n, h);
			return;
		}
		ack_ok = true;
	}
	if (h->flags & SL_TCP_RST) {
		if (ack_ok)
			conn_reset(c, -ECONNREFUSED);
		return;
	}
	if (!(h->flags & SL_TCP_SYN) || !ack_ok)
		return; /* TODO #dpdk: simultaneous open */
	c->irs = h->seq;
	c->rcv_nxt = h->seq + 1;
	c->rcv_adv = c->rcv_nxt;
	apply_syn_opts(c, &h->opts, true);
	c->snd_una = h->ack;
	c->snd_wnd = h->win;
	c->snd_wl1 = h->seq;
	c->snd_wl2 = h->ack;
	c->rto_at = 0;
	c->retries = 0;
	c->rtt_active = false;
	c->ack_now = true;
	established(c);
	output(c);
}

static void
rto_from_est(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;
	int64_t rto = c->srtt_ns + SL_MAX(NS_PER_MS, 4 * c->rttvar_ns);

	rto = SL_MAX(rto, (int64_t)n->cfg.rto_min_ms * NS_PER_MS);
	c->rto_ns = SL_MIN(rto, (int64_t)n->cfg.rto_max_ms * NS_PER_MS);
}

static void
rtt_sample(struct sl_tcp_conn *c, int64_t r)
{

	/* RFC 6298 2.2 / 2.3 with alpha 1/8, beta 1/4, K 4, G 1 ms. */
	if (!c->srtt_ns) {
		c->srtt_ns = r ? r : 1;
		c->rttvar_ns = r / 2;
	} else {
		int64_t d = c->srtt_ns - r;

		c->rttvar_ns += ((d < 0 ? -d : d) - c->rttvar_ns) / 4;
		c->srtt_ns += (r - c->srtt_ns) / 8;
		if (c->srtt_ns <= 0)
			c->srtt_ns = 1;
	}
	rto_from_est(c);
}

/* Processes the ACK field of an acceptable segment. Returns false to drop the segment. */
static bool
on_ack(struct sl_tcp_conn *c, const struct sl_net_hdrs *h)
{
	struct sl_net *n = c->net;
	uint32_t data_end = c->snd_data_una + c->sq_len;
	uint32_t acked;

	if (c->state == SL_TCP_SYN_RCVD) {
		if (SEQ_LEQ(h->ack, c->snd_una) || SEQ_GT(h->ack, c->snd_max)) {
			send_rst_for(n, h);
			return false;
		}
		c->snd_una = h->ack;
		c->snd_wnd = (uint32_t)h->win << c->snd_wscale;
		c->snd_wl1 = h->seq;
		c->snd_wl2 = h->ack;
		c->rto_at = 0;
		c->retries = 0;
		c->rtt_active = false;
		established(c);
		return c->in_use && c->state != SL_TCP_CLOSED;
	}
	if (SEQ_GT(h->ack, c->snd_max)) {
		c->ack_now = true; /* acks something not yet sent */
		return false;
	}
	if (SEQ_LT(h->ack, c->snd_una))
		return true; /* old duplicate: ignore the ack, keep the data */

	/* Window update (RFC 9293 3.10.7.4, SND.WL1/WL2 rule). */
	if (SEQ_LT(c->snd_wl1, h->seq) || (c->snd_wl1 == h->seq && SEQ_LEQ(c->snd_wl2, h->ack))) {
		uint32_t w = (uint32_t)h->win << c->snd_wscale;
		bool grew = w > c->snd_wnd;

		if (h->ack == c->snd_una && !h->payload_len && w == c->snd_wnd && w && flight(c) &&
		    !(h->flags & (SL_TCP_SYN | SL_TCP_FIN))) {
			/* A duplicate ACK (RFC 5681 2). */
			c->dupacks++;
			if (c->dupacks == DUPACK_THRESH && !c->in_recovery &&
			    SEQ_GT(h->ack, c->recover)) {
				/* Fast retransmit + NewReno entry (RFC 6582 3.2 step 2-3). */
				c->ssthresh = SL_MAX(flight(c) / 2, 2u * c->mss);
				c->recover = c->snd_max;
				c->in_recovery = true;
				c->rtt_active = false;
				send_seg(c, SL_TCP_ACK, c->snd_una,
				         SL_MIN(c->mss, SEQ_LT(c->snd_una, data_end)
				                                ? data_end - c->snd_una
				                                : 0));
				n->st.fast_retrans++;
				n->st.retrans++;
				c->cwnd = c->ssthresh + 3u * c->mss;
				arm_rto(c);
			} else if (c->in_recovery) {
				c->cwnd += c->mss; /* inflate (step 4) */
			}
		} else if (h->ack != c->snd_una || grew) {
			c->dupacks = 0;
		}
		c->snd_wnd = w;
		c->snd_wl1 = h->seq;
		c->snd_wl2 = h->ack;
	}
	/* A peer that answers our zero-window probes is alive: probing goes on as long as it
	 * keeps answering (RFC 9293 3.8.6.1). */
	if (!c->snd_wnd)
		c->retries = 0;
	if (h->ack == c->snd_una)
		return true;

	acked = h->ack - c->snd_una;
	if (c->rtt_active && SEQ_GT(h->ack, c->rtt_seq)) {
		c->rtt_active = false;
		rtt_sample(c, n->now - c->rtt_ts);
	}
	c->snd_una = h->ack;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	/* Free acked data from the send ring (the FIN's sequence number is not in it). */
	{
		uint32_t upto = SEQ_LT(h->ack, data_end) ? h->ack : data_end;
		uint32_t freed = upto - c->snd_data_una;

		if (SEQ_GT(upto, c->snd_data_una)) {
			c->sq_head = (c->sq_head + freed) & (n->cfg.sndbuf_bytes - 1);
			c->sq_len -= freed;
			c->snd_data_una = upto;
		}
	}
	c->retries = 0;
	/* After a backoff, new data acked: back to the estimate (RFC 6298 5.7 spirit). */
	if (c->srtt_ns)
		rto_from_est(c);
	if (c->in_recovery) {
		if (SEQ_GEQ(h->ack, c->recover)) {
			/* Full ACK: leave recovery (RFC 6582 step 3 option 1). */
			c->in_recovery = false;
			c->cwnd = SL_MIN(c->ssthresh, SL_MAX(flight(c), c->mss) + c->mss);
			c->dupacks = 0;
		} else {
			/* Partial ACK: retransmit the next hole, deflate (step 5). */
			uint32_t len = SEQ_LT(c->snd_una, data_end) ? data_end - c->snd_una : 0;

			send_seg(c, SL_TCP_ACK, c->snd_una, SL_MIN(len, c->mss));
			n->st.retrans++;
			c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
			if (acked >= c->mss)
				c->cwnd += c->mss;
			c->cwnd = SL_MAX(c->cwnd, c->mss);
		}
	} else if (c->cwnd < c->ssthresh) {
		c->cwnd += SL_MIN(acked, c->mss); /* slow start, RFC 5681 3.1 (L = 1 SMSS) */
	} else {
		c->cwnd += SL_MAX(1u, c->mss * c->mss / c->cwnd);
	}
	c->rto_at = flight(c) ? n->now + c->rto_ns : 0;

	if (c->fin_queued && c->snd_una == data_end + 1) {
		/* Our FIN is acknowledged. */
		switch (c->state) {
		case SL_TCP_FIN_WAIT_1:
			c->state = SL_TCP_FIN_WAIT_2;
			/* The user is gone: bound the wait for the peer's FIN (Linux's
			 * tcp_fin_timeout) so a silent peer cannot hold the slot forever. */
			c->tw_at = n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS;
			break;
		case SL_TCP_CLOSING:
			c->state = SL_TCP_TIME_WAIT;
			c->tw_at = n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS;
			break;
		case SL_TCP_LAST_ACK:
			conn_closed(c, 0);
			return false;
		default:
			break;
		}
	}
	if (n->cfg.cb.writable && notify(c))
		n->cfg.cb.writable(n->cfg.cb.arg, c);
	return c->in_use && c->state != SL_TCP_CLOSED;
}

static void
ooo_merge(struct sl_tcp_conn *c)
{
	bool moved = true;

	/* Pull in every range that now touches rcv_nxt; drop those now below it. */
	while (moved) {
		moved = false;
		for (unsigned i = 0; i < c->nooo; i++) {
			struct ooo_range *r = &c->ooo[i];

			if (SEQ_LEQ(r->start, c->rcv_nxt)) {
				if (SEQ_GT(r->end, c->rcv_nxt)) {
					c->rq_len += r->end - c->rcv_nxt;
					c->rcv_nxt = r->end;
					moved = true;
				}
				c->ooo[i] = c->ooo[--c->nooo];
				i--;
			}
		}
	}
}

static void
ooo_add(struct sl_tcp_conn *c, uint32_t start, uint32_t end)
{
	/* Coalesce with overlapping or touching ranges. */
	for (unsigned i = 0; i < c->nooo; i++) {
		struct ooo_range *r = &c->ooo[i];

		if (SEQ_LEQ(start, r->end) && SEQ_GEQ(end, r->start)) {
			if (SEQ_LT(r->start, start))
				start = r->start;
			if (SEQ_GT(r->end, end))
				end = r->end;
			c->ooo[i] = c->ooo[--c->nooo];
			i = (unsigned)-1;
		}
	}
	if (c->nooo < OOO_MAX) {
		c->ooo[c->nooo].start = start;
		c->ooo[c->nooo].end = end;
		c->nooo++;
	}
	/* else: forget it; the peer retransmits (the bytes in the ring are harmless) */
}

/* Stores the segment's in-window data; returns true if in-order bytes were added. */
static bool
on_data(struct sl_tcp_conn *c, uint32_t seq, const uint8_t *p, uint32_t len)
{
	struct sl_net *n = c->net;
	uint32_t wnd = rcv_space(c), size = n->cfg.rcvbuf_bytes;
	uint32_t off, end_off, at, first;

	/* Trim to [rcv_nxt, rcv_nxt + wnd). */
	if (SEQ_LT(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;

		if (skip >= len)
			return false;
		p += skip;
		len -= skip;
		seq = c->rcv_nxt;
	}
	off = seq - c->rcv_nxt;
	if (off >= wnd)
		return false;
	end_off = SL_MIN(off + len, wnd);
	len = end_off - off;
	at = (c->rq_head + c->rq_len + off) & (size - 1);
	first = SL_MIN(len, size - at);
	memcpy(c->rbuf + at, p, first);
	memcpy(c->rbuf, p + first, len - first);
	if (off == 0) {
		c->rq_len += len;
		c->rcv_nxt += len;
		ooo_merge(c);
		return true;
	}
	ooo_add(c, seq, seq + len);
	n->st.ooo_segs++;
	return false;
}

static void
on_fin(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;

	c->rcv_nxt++;
	c->ack_now = true;
	switch (c->state) {
	case SL_TCP_SYN_RCVD:
	case SL_TCP_ESTABLISHED:
		c->state = SL_TCP_CLOSE_WAIT;
		break;
	case SL_TCP_FIN_WAIT_1:
		c->state = SL_TCP_CLOSING;
		break;
	case SL_TCP_FIN_WAIT_2:
		c->state = SL_TCP_TIME_WAIT;
		c->tw_at = n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS;
		c->rto_at = c->persist_at = 0;
		break;
	default:
		break;
	}
	if (!c->rx_ended) {
		c->rx_ended = true;
		if (n->cfg.cb.rx_end && notify(c))
			n->cfg.cb.rx_end(n->cfg.cb.arg, c, 0);
	}
}

static void
tcp_input(struct sl_net *n, const struct sl_net_hdrs *h)
{
	struct sl_tcp_conn *c = conn_lookup(n, h->src_ip, h->sport, h->dport);
	uint32_t seg_len, wnd;
	bool acceptable, fresh = false;

	if (!c) {
		struct listener *l = listener_find(n, h->dport);

		if (!l) {
			send_rst_for(n, h);
			return;
		}
		on_listen(n, l, h);
		/* A cookie-validated ACK created a connection: carry on with its data. */
		c = conn_lookup(n, h->src_ip, h->sport, h->dport);
		if (!c || !(h->flags & SL_TCP_ACK) || c->state != SL_TCP_ESTABLISHED)
			return;
		fresh = true;
	}
	if (c->state == SL_TCP_SYN_SENT) {
		on_syn_sent(c, h);
		return;
	}
	if (c->state == SL_TCP_CLOSED) {
		/* Reset but still held by the user: behave as if it were gone. */
		send_rst_for(n, h);
		return;
	}

	/* 0. PAWS (RFC 7323 5.3), before the sequence number check. */
	if (c->ts_ok && !(h->flags & SL_TCP_RST)) {
		if (!h->opts.has_ts) {
			n->st.paws_drops++; /* RFC 7323 3.2: silently dropped */
			return;
		}
		if (SEQ_LT(h->opts.tsval, c->ts_recent)) {
			n->st.paws_drops++;
			c->ack_now = true;
			output(c);
			return;
		}
	}

	/* 1. Sequence number check (RFC 9293 3.10.7.4, the four cases). */
	seg_len = h->payload_len + !!(h->flags & SL_TCP_SYN) + !!(h->flags & SL_TCP_FIN);
	wnd = SEQ_GT(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	if (seg_len == 0)
		acceptable = wnd ? SEQ_LEQ(c->rcv_nxt, h->seq) && SEQ_LT(h->seq, c->rcv_nxt + wnd)
		                 : h->seq == c->rcv_nxt;
	else
		acceptable =
		        wnd && ((SEQ_LEQ(c->rcv_nxt, h->seq) && SEQ_LT(h->seq, c->rcv_nxt + wnd)) ||
		                (SEQ_LEQ(c->rcv_nxt, h->seq + seg_len - 1) &&
		                 SEQ_LT(h->seq + seg_len - 1, c->rcv_nxt + wnd)));
	/* A zero-window probe and an old retransmission get an ACK (RFC 9293 3.10.7.4). */
	if (!acceptable && !fresh) {
		if (!(h->flags & SL_TCP_RST)) {
			c->ack_now = true;
			if (c->in_use && c->state != SL_TCP_CLOSED)
				output(c);
		}
		return;
	}

	if (c->ts_ok && h->opts.has_ts && SEQ_LEQ(h->seq, c->last_ack_sent) &&
	    SEQ_GEQ(h->opts.tsval, c->ts_recent))
		c->ts_recent = h->opts.tsval; /* RFC 7323 4.3 (2) */

	if (c->ka_at)
		ka_rearm(c);

	/* 2. RST (RFC 5961 3.2: only an exact match resets; else a challenge ACK). */
	if (h->flags & SL_TCP_RST) {
		if (h->seq != c->rcv_nxt) {
			n->st.challenge_acks++;
			send_seg(c, SL_TCP_ACK, c->snd_nxt, 0);
			return;
		}
		if (c->state == SL_TCP_SYN_RCVD && !c->user_held) {
			embryo_done(c);
			conn_free(c);
			return;
		}
		if (c->state == SL_TCP_TIME_WAIT || c->state == SL_TCP_LAST_ACK ||
		    c->state == SL_TCP_CLOSING)
			conn_closed(c, 0);
		else
			conn_reset(c, -ECONNRESET);
		return;
	}
	/* 3. SYN in a synchronised state: challenge ACK (RFC 5961 4). */
	if (h->flags & SL_TCP_SYN) {
		if (c->state == SL_TCP_SYN_RCVD && h->seq == c->irs) {
			/* Our SYN-ACK got lost: send it again. */
			c->snd_nxt = c->iss;
			output(c);
			return;
		}
		n->st.challenge_acks++;
		send_seg(c, SL_TCP_ACK, c->snd_nxt, 0);
		return;
	}
	/* 4. ACK. */
	if (!(h->flags & SL_TCP_ACK))
		return;
	if (!fresh && !on_ack(c, h)) {
		if (c->in_use && c->state != SL_TCP_CLOSED)
			output(c);
		return;
	}
	if (c->state == SL_TCP_TIME_WAIT) {
		if (h->flags & SL_TCP_FIN) {
			/* A retransmitted FIN: our ACK was lost. Restart 2MSL. */
			c->ack_now = true;
			c->tw_at = n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS;
			output(c);
		}
		return;
	}
	/* 5. Data. */
	if (h->payload_len) {
		if (c->state == SL_TCP_ESTABLISHED || c->state == SL_TCP_FIN_WAIT_1 ||
		    c->state == SL_TCP_FIN_WAIT_2) {
			bool had_ooo = c->nooo != 0;
			bool in_order = on_data(c, h->seq, h->payload, h->payload_len);

			if (in_order && !had_ooo) {
				/* Delayed ACK: every second full segment, else the timer
				 * (RFC 9293 3.8.6.3, RFC 5681 4.2). */
				if (++c->unacked_segs >= 2)
					c->ack_now = true;
				else if (!c->dack_at)
					c->dack_at = n->now + (int64_t)n->cfg.delack_ms * NS_PER_MS;
			} else {
				/* Out of order, a hole just filled, or a duplicate: ACK now so
				 * the sender's fast retransmit sees it (RFC 5681 4.2). */
				c->ack_now = true;
			}
			if (in_order && n->cfg.cb.readable && notify(c))
				n->cfg.cb.readable(n->cfg.cb.arg, c);
			if (!c->in_use || c->state == SL_TCP_CLOSED)
				return;
		}
	}
	/* 6. FIN, only when it is the next sequence number. */
	if ((h->flags & SL_TCP_FIN) && h->seq + h->payload_len == c->rcv_nxt && !c->rx_ended)
		on_fin(c);
	else if (h->flags & SL_TCP_FIN)
		c->ack_now = true;
	if (c->in_use && c->state != SL_TCP_CLOSED)
		output(c);
}

/* ---- ARP / ICMP ---- */

static void
reply_with(struct sl_net *n,
           int (*build)(struct sl_net *, const struct sl_net_hdrs *, struct sl_pkt *),
           const struct sl_net_hdrs *h)
{
	struct sl_pkt *p = n->io.alloc(n->io.ctx);
	int r;

	if (!p) {
		n->st.tx_drop++;
		return;
	}
	r = build(n, h, p);
	if (r < 0) {
		n->io.free(n->io.ctx, p);
		n->st.tx_drop++;
		return;
	}
	p->len = (uint16_t)r;
	p->ol_flags = 0;
	tx_queue(n, p);
}

static int
build_arp(struct sl_net *n, const struct sl_net_hdrs *h, struct sl_pkt *p)
{
	return sl_arp_build_reply(p->data, p->cap, h, n->cfg.mac, n->cfg.ip);
}

static int
build_echo(struct sl_net *n, const struct sl_net_hdrs *h, struct sl_pkt *p)
{
	return sl_icmp_build_echo_reply(p->data, p->cap, h, n->cfg.mac);
}

static void
input_one(struct sl_net *n, struct sl_pkt *p)
{
	struct sl_net_hdrs h;
	int kind = sl_net_parse(p->data, p->len, p->ol_flags & SL_PKT_RX_CKSUM_OK, &h);

	n->st.rx_pkts++;
	switch (kind) {
	case SL_NET_ARP:
		if (h.arp_op == 1 && h.arp_tpa == n->cfg.ip)
			reply_with(n, build_arp, &h);
		break;
	case SL_NET_ICMP_ECHO:
		if (h.dst_ip == n->cfg.ip)
			reply_with(n, build_echo, &h);
		break;
	case SL_NET_TCP:
		if (h.dst_ip == n->cfg.ip && h.src_ip != n->cfg.ip)
			tcp_input(n, &h);
		else
			n->st.rx_drop++;
		break;
	default:
		n->st.rx_drop++;
		break;
	}
}

void
sl_net_rx(struct sl_net *n, struct sl_pkt **pkts, unsigned cnt, int64_t now_ns)
{
	n->now = now_ns;
	for (unsigned i = 0; i < cnt; i++) {
		input_one(n, pkts[i]);
		n->io.free(n->io.ctx, pkts[i]);
	}
}

/* ---- timers ---- */

static bool
due(int64_t at, int64_t now)
{
	return at && now - at >= 0;
}

static void
on_rto(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;
	int64_t max = (int64_t)n->cfg.rto_max_ms * NS_PER_MS;

	n->st.rto_expired++;
	if (++c->retries > n->cfg.max_retries) {
		if (c->state == SL_TCP_SYN_RCVD && !c->user_held) {
			embryo_done(c);
			conn_free(c);
			return;
		}
		conn_reset(c, -ETIMEDOUT);
		return;
	}
	/* RFC 6298 5.4-5.6 and RFC 5681 3.1 eq. 4: back off, restart from snd_una. */
	if (c->state != SL_TCP_SYN_SENT && c->state != SL_TCP_SYN_RCVD) {
		c->ssthresh = SL_MAX(flight(c) / 2, 2u * c->mss);
		c->cwnd = c->mss;
	}
	c->rto_ns = SL_MIN(c->rto_ns * 2, max);
	c->rtt_active = false; /* Karn */
	c->in_recovery = false;
	c->dupacks = 0;
	c->recover = c->snd_max;
	c->snd_nxt = c->snd_una;
	c->rto_at = 0;
	output(c); /* re-arms the timer if it sent something; else the persist timer runs */
}

static void
on_persist(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;
	uint32_t data_end = c->snd_data_una + c->sq_len;

	/* Probe with one new byte beyond the zero window (RFC 9293 3.8.6.1), backing off. */
	c->persist_at = 0;
	c->rto_ns = SL_MIN(c->rto_ns * 2, (int64_t)n->cfg.rto_max_ms * NS_PER_MS);
	if (SEQ_LT(c->snd_nxt, data_end)) {
		send_seg(c, SL_TCP_ACK, c->snd_nxt, 1);
		c->snd_nxt++;
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		arm_rto(c);
	} else {
		c->persist_at = n->now + c->rto_ns;
	}
}

void
sl_net_timers(struct sl_net *n, int64_t now_ns)
{
	n->now = now_ns;
	/* TODO #dpdk: a timer wheel; this walks the whole pool. */
	for (unsigned i = 0; i < n->cfg.max_conns; i++) {
		struct sl_tcp_conn *c = &n->conns[i];

		if (!c->in_use || c->state == SL_TCP_CLOSED)
			continue;
		if (due(c->tw_at, now_ns)) {
			c->tw_at = 0;
			conn_closed(c, 0);
			continue;
		}
		if (due(c->rto_at, now_ns)) {
			on_rto(c);
			if (!c->in_use || c->state == SL_TCP_CLOSED)
				continue;
		}
		if (due(c->persist_at, now_ns))
			on_persist(c);
		if (due(c->ka_at, now_ns) && c->state != SL_TCP_ESTABLISHED &&
		    c->state != SL_TCP_CLOSE_WAIT)
			c->ka_at = 0; /* closing: the FIN's retransmissions take over */
		if (due(c->ka_at, now_ns)) {
			if (c->ka_probes >= n->cfg.keepalive_probes) {
				conn_reset(c, -ETIMEDOUT);
				continue;
			}
			/* An old sequence number, so the peer must answer with an ACK. */
			c->ka_probes++;
			c->ka_at = now_ns + (int64_t)n->cfg.keepalive_intvl_ms * NS_PER_MS;
			send_seg(c, SL_TCP_ACK, c->snd_una - 1, 0);
		}
		if (due(c->dack_at, now_ns)) {
			c->dack_at = 0;
			c->ack_now = true;
			output(c);
		}
	}
}

void
sl_net_flush(struct sl_net *n)
{
	unsigned sent;

	if (!n->ntx)
		return;
	sent = n->io.tx_burst(n->io.ctx, n->tx, n->ntx);
	n->st.tx_pkts += sent;
	for (unsigned i = sent; i < n->ntx; i++) {
		n->io.free(n->io.ctx, n->tx[i]);
		n->st.tx_drop++;
	}
	n->ntx = 0;
}

unsigned
sl_net_poll(struct sl_net *n, int64_t now_ns)
{
	struct sl_pkt *pkts[TX_BURST];
	unsigned cnt = n->io.rx_burst ? n->io.rx_burst(n->io.ctx, pkts, TX_BURST) : 0;

	sl_net_rx(n, pkts, cnt, now_ns);
	sl_net_timers(n, now_ns);
	sl_net_flush(n);
	return cnt;
}

/* ---- API ---- */

static bool
pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int
sl_net_create(struct sl_net **out, const struct sl_net_cfg *cfg, const struct sl_pkt_io *io)
{
	struct sl_net *n;
	uint32_t nb = 1;
	size_t per;

	*out = NULL;
	if (!cfg->max_conns || cfg->max_conns > (1u << 24) || !pow2(cfg->rcvbuf_bytes) ||
	    !pow2(cfg->sndbuf_bytes) || cfg->rcvbuf_bytes > (1u << 30) ||
	    cfg->sndbuf_bytes > (1u << 30) || !io->alloc || !io->free || !io->tx_burst)
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cfg = *cfg;
	n->io = *io;
	if (!n->cfg.mtu)
		n->cfg.mtu = 1500;
	if (n->cfg.mtu < 576 || n->cfg.mtu > 9000)
		goto out_inval;
	if (!n->cfg.max_listeners)
		n->cfg.max_listeners = 8;
	if (!n->cfg.rto_init_ms)
		n->cfg.rto_init_ms = 1000;
	if (!n->cfg.rto_min_ms)
		n->cfg.rto_min_ms = 200;
	if (!n->cfg.rto_max_ms)
		n->cfg.rto_max_ms = 60000;
	if (!n->cfg.delack_ms)
		n->cfg.delack_ms = 40;
	if (!n->cfg.time_wait_ms)
		n->cfg.time_wait_ms = 60000;
	if (n->cfg.keepalive_idle_ms && !n->cfg.keepalive_intvl_ms)
		n->cfg.keepalive_intvl_ms = 75000;
	if (n->cfg.keepalive_idle_ms && !n->cfg.keepalive_probes)
		n->cfg.keepalive_probes = 9;
	if (!n->cfg.max_retries)
		n->cfg.max_retries = 8;
	n->mss = (uint16_t)(n->cfg.mtu - SL_IPV4_HLEN - SL_TCP_HLEN);
	if (n->cfg.rcvbuf_bytes < 2u * n->mss)
		goto out_inval;
	/* The smallest shift that lets the whole receive ring be advertised. */
	while (n->our_wscale < WSCALE_MAX && (n->cfg.rcvbuf_bytes >> n->our_wscale) > 0xffff)
		n->our_wscale++;
	n->next_port = 32768;
	while (nb < 2 * n->cfg.max_conns)
		nb <<= 1;
	n->bucket_mask = nb - 1;
	n->conns = calloc(n->cfg.max_conns, sizeof(*n->conns));
	n->buckets = malloc(nb * sizeof(*n->buckets));
	n->listeners = calloc(n->cfg.max_listeners, sizeof(*n->listeners));
	per = (size_t)n->cfg.rcvbuf_bytes + n->cfg.sndbuf_bytes;
	n->ring_mem_len = per * n->cfg.max_conns;
	n->ring_mem = mmap(NULL, n->ring_mem_len, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (n->ring_mem == MAP_FAILED)
		n->ring_mem = NULL;
	if (!n->conns || !n->buckets || !n->listeners || !n->ring_mem) {
		sl_net_destroy(n);
		return -ENOMEM;
	}
	memset(n->buckets, 0xff, nb * sizeof(*n->buckets));
	for (uint32_t i = 0; i < n->cfg.max_conns; i++) {
		n->conns[i].idx = i;
		n->conns[i].net = n;
		n->conns[i].rbuf = n->ring_mem + per * i;
		n->conns[i].sbuf = n->conns[i].rbuf + n->cfg.rcvbuf_bytes;
		n->conns[i].hnext = i + 1 < n->cfg.max_conns ? i + 1 : NIL;
	}
	n->free_head = 0;
	*out = n;
	return 0;
out_inval:
	free(n);
	return -EINVAL;
}

void
sl_net_destroy(struct sl_net *n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < n->ntx; i++)
		n->io.free(n->io.ctx, n->tx[i]);
	if (n->ring_mem)
		munmap(n->ring_mem, n->ring_mem_len);
	free(n->listeners);
	free(n->buckets);
	free(n->conns);
	free(n);
}

int
sl_tcp_listen(struct sl_net *n, uint16_t port, unsigned backlog)
{
	struct listener *free_l = NULL;

	if (!port)
		return -EINVAL;
	if (listener_find(n, port))
		return -EADDRINUSE;
	for (unsigned i = 0; i < n->cfg.max_listeners; i++)
		if (!n->listeners[i].in_use) {
			free_l = &n->listeners[i];
			break;
		}
	if (!free_l)
		return -ENOSPC;
	free_l->in_use = true;
	free_l->port = port;
	free_l->backlog = backlog;
	free_l->embryonic = 0;
	return 0;
}

int
sl_tcp_connect(struct sl_net *n, struct sl_tcp_conn **out, uint32_t ip, uint16_t port,
               uint16_t lport, const uint8_t dst_mac[6], int64_t now_ns)
{
	struct sl_tcp_conn *c;

	*out = NULL;
	n->now = now_ns;
	if (!port)
		return -EINVAL;
	if (!lport) {
		for (unsigned tries = 0; tries < 28232 && !lport; tries++) {
			uint16_t p = n->next_port;

			n->next_port = n->next_port == 60999 ? 32768 : n->next_port + 1;
			if (!conn_lookup(n, ip, port, p) && !listener_find(n, p))
				lport = p;
		}
		if (!lport)
			return -EADDRINUSE;
	} else if (conn_lookup(n, ip, port, lport)) {
		return -EADDRINUSE;
	}
	c = conn_alloc(n);
	if (!c)
		return -ENOMEM;
	memcpy(c->rmac, dst_mac, 6);
	c->rip = ip;
	c->rport = port;
	c->lport = lport;
	c->rcv_wscale = n->our_wscale;
	c->iss = isn_make(n, ip, port, lport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->snd_data_una = c->iss + 1;
	c->state = SL_TCP_SYN_SENT;
	c->user_held = true;
	hash_insert(n, c);
	output(c);
	*out = c;
	return 0;
}

unsigned
sl_tcp_rx_peek(const struct sl_tcp_conn *c, struct iovec iov[2])
{
	uint32_t size = c->net->cfg.rcvbuf_bytes, first;

	if (!c->rq_len)
		return 0;
	first = SL_MIN(c->rq_len, size - c->rq_head);
	iov[0].iov_base = c->rbuf + c->rq_head;
	iov[0].iov_len = first;
	if (first == c->rq_len)
		return 1;
	iov[1].iov_base = c->rbuf;
	iov[1].iov_len = c->rq_len - first;
	return 2;
}

size_t
sl_tcp_rx_avail(const struct sl_tcp_conn *c)
{
	return c->rq_len;
}

void
sl_tcp_rx_consume(struct sl_tcp_conn *c, size_t bytes, int64_t now_ns)
{
	struct sl_net *n = c->net;
	uint32_t before = c->rcv_adv - c->rcv_nxt;

	if (bytes > c->rq_len)
		bytes = c->rq_len;
	n->now = now_ns;
	c->rq_head = (c->rq_head + (uint32_t)bytes) & (n->cfg.rcvbuf_bytes - 1);
	c->rq_len -= (uint32_t)bytes;
	if (c->state == SL_TCP_CLOSED || c->state == SL_TCP_SYN_SENT ||
	    c->state == SL_TCP_SYN_RCVD || c->rx_ended)
		return;
	/* Receiver SWS avoidance (RFC 9293 3.8.6.2.2): update once the window grew by an MSS
	 * or half the ring. */
	if (rcv_space(c) > before &&
	    rcv_space(c) - before >= SL_MIN((uint32_t)c->mss, n->cfg.rcvbuf_bytes / 2)) {
		c->ack_now = true;
		output(c);
	}
}

ssize_t
sl_tcp_send(struct sl_tcp_conn *c, const struct iovec *iov, unsigned cnt, int64_t now_ns)
{
	struct sl_net *n = c->net;
	uint32_t size = n->cfg.sndbuf_bytes;
	size_t took = 0;

	if (c->fin_queued || c->state == SL_TCP_CLOSED)
		return -EPIPE;
	if (c->state != SL_TCP_ESTABLISHED && c->state != SL_TCP_CLOSE_WAIT)
		return -ENOTCONN;
	n->now = now_ns;
	for (unsigned i = 0; i < cnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		while (len && c->sq_len < size) {
			uint32_t at = (c->sq_head + c->sq_len) & (size - 1);
			uint32_t k =
			        (uint32_t)SL_MIN(len, (size_t)SL_MIN(size - c->sq_len, size - at));

			memcpy(c->sbuf + at, p, k);
			c->sq_len += k;
			p += k;
			len -= k;
			took += k;
		}
	}
	output(c);
	return (ssize_t)took;
}

size_t
sl_tcp_send_space(const struct sl_tcp_conn *c)
{
	return c->net->cfg.sndbuf_bytes - c->sq_len;
}

void
sl_tcp_close(struct sl_tcp_conn *c, int64_t now_ns)
{
	struct sl_net *n = c->net;

	n->now = now_ns;
	c->user_done = true;
	switch (c->state) {
	case SL_TCP_CLOSED:
		conn_free(c);
		return;
	case SL_TCP_SYN_SENT:
		conn_free(c);
		return;
	case SL_TCP_SYN_RCVD:
	case SL_TCP_ESTABLISHED:
		c->state = SL_TCP_FIN_WAIT_1;
		break;
	case SL_TCP_CLOSE_WAIT:
		c->state = SL_TCP_LAST_ACK;
		break;
	default:
		return; /* already closing */
	}
	c->fin_queued = true;
	output(c);
}

void
sl_tcp_abort(struct sl_tcp_conn *c)
{
	c->user_done = true;
	if (c->state != SL_TCP_CLOSED && c->state != SL_TCP_SYN_SENT &&
	    c->state != SL_TCP_TIME_WAIT) {
		send_seg(c, SL_TCP_RST | SL_TCP_ACK, c->snd_nxt, 0);
		c->net->st.rst_sent++;
	}
	conn_reset(c, -ECONNABORTED);
}

enum sl_tcp_state
sl_tcp_state(const struct sl_tcp_conn *c)
{
	return (enum sl_tcp_state)c->state;
}

void
sl_tcp_set_user(struct sl_tcp_conn *c, void *user)
{
	c->user = user;
}

void *
sl_tcp_user(const struct sl_tcp_conn *c)
{
	return c->user;
}

void
sl_net_stats_get(const struct sl_net *n, struct sl_net_stats *out)
{
	*out = n->st;
}
