/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcp.c: the TCP/IPv4 state machine, timers and send/receive rings (API in tcp.h).
 *
 * Runs on the owning shard's thread only. All memory comes from sl_net_create; per packet
 * nothing is allocated and nothing blocks.
 *
 * Invariants (for a connection in use):
 *  1. Send queue: the sq_len bytes from sequence number snd_data_una to snd_data_end =
 *     snd_data_una + sq_len (sent or not) are the txd_cnt chunks of txd[] from txd_head, the
 *     first of which has its first txd_off bytes acknowledged already. A chunk is either
 *     bytes copied into the send ring (ext NULL; the sq_ring ring bytes from index sq_head
 *     are those chunks' unacknowledged bytes, in order) or caller memory referenced until
 *     acknowledged (zero-copy send; cb.tx_done(ref) once it is, or once the connection
 *     ends). A queued FIN has sequence number snd_data_end. snd_una <= snd_nxt <= snd_max.
 *  2. Receive ring (copy mode): the rq_len bytes at ring index rq_head are in-order, unread
 *     data that ends at rcv_nxt (before a FIN). Out-of-order data lies in the ring at its
 *     offset from rcv_nxt, recorded in ooo[] as disjoint sequence ranges above rcv_nxt.
 *  2'. Zero copy: rq_len is the sum of the lengths of the rxq_cnt entries of the frame ring
 *     rxq from rxq_head, in-order data ending at rcv_nxt. oof[0..noof) holds out-of-order
 *     frames sorted by start sequence, all starting above rcv_nxt (they may overlap);
 *     rxq_cnt + noof <= rx_frames. ooo[] ranges (for SACK) lie within the union of oof[];
 *     every held frame is counted once in st.rx_frames_held and freed exactly once.
 *  3. The advertised right edge rcv_adv never moves left: the window field advertises
 *     rcv_adv - rcv_nxt, rcv_adv = max(rcv_adv, rcv_nxt + rcv_space()).
 *  4. A connection is on the hash table from SYN_SENT/SYN_RCVD until it is freed; it is freed
 *     when it is CLOSED and the user has let go of it (user_done), or at once when it never
 *     reached the user (an embryonic connection that failed).
 *  5. Timers: while any of rto_at, persist_at, dack_at, tw_at, ka_at is set, the wheel timer
 *     tn is armed at or before the earliest of them (set_at(); moving a deadline later
 *     leaves tn early, and conn_timer() re-arms it for what remains). A CLOSED or freed
 *     connection's tn is disarmed.
 *  6. ARP: arp_wait is set only in SYN_SENT before the SYN left, and then the connection is
 *     on the waiter list of the INCOMPLETE entry for nh_ip (arp_next links the list);
 *     output() sends nothing for it. arp_learn() sends the SYNs, arp_timer() resets them
 *     with -EHOSTUNREACH; conn_closed()/conn_free() take a connection off the list.
 *  7. SACK: sacked[] holds disjoint ranges within (snd_una, snd_max] the peer reported;
 *     ooo[] is ordered most recently extended first, and ACKs report its head.
 *
 * States (RFC 9293 3.3.2) and the functions that move them:
 *   LISTEN -(SYN)-> SYN_RCVD              on_listen()
 *   (connect) -> SYN_SENT -(SYN,ACK)-> ESTABLISHED     sl_tcp_connect(), on_syn_sent()
 *   SYN_SENT -(SYN)-> SYN_RCVD            on_syn_sent() (simultaneous open: SYN,ACK with
 *                                         the same ISS; the peer's SYN,ACK or ACK completes)
 *   SYN_SENT (waiting for ARP) -(no answer)-> CLOSED    arp_timer()
 *   SYN_RCVD -(ACK)-> ESTABLISHED         on_ack() (-> FIN_WAIT_1 if the user closed a
 *                                         simultaneous open before it completed)
 *   ESTABLISHED -(close)-> FIN_WAIT_1 -(ACK of FIN)-> FIN_WAIT_2 -(FIN)-> TIME_WAIT
 *                                         sl_tcp_close(), on_ack(), on_fin()
 *   FIN_WAIT_1 -(FIN)-> CLOSING -(ACK of FIN)-> TIME_WAIT
 *   ESTABLISHED -(FIN)-> CLOSE_WAIT -(close)-> LAST_ACK -(ACK of FIN)-> CLOSED
 *   TIME_WAIT -(2MSL)-> CLOSED            conn_timer()
 *   TIME_WAIT -(new SYN, RFC 6191)-> freed, the SYN opens a new connection on the listener
 *                                         tcp_input(), tw_syn_reopens(), on_listen()
 *   any -(RST / too many retransmissions / abort)-> CLOSED    conn_reset()
 */
#include "dataplane/net/tcp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/bytes.h"
#include "dataplane/net/arp_int.h"
#include "dataplane/net/proto.h"
#include "dataplane/net/twheel_int.h"

#define NIL UINT32_MAX
#define TX_BURST 32
#define OOO_MAX 8
#define SACKED_MAX 8
#define TXD_MAX 32        /* send queue chunks per connection (copied runs and references) */
#define SQ_MAX (1u << 30) /* bytes queued per connection, copied and referenced */
#define NS_PER_MS 1000000LL
#define DUPACK_THRESH 3
/* cwnd never needs to exceed the largest window a peer can offer (65535 << 14 < 2^30).
 * Without a bound, growth on every ACK (application-limited senders included) wraps the
 * uint32_t after ~2^31 ACKs without a loss, to 0 or 1: the connection then never sends
 * again (nothing in flight arms no timer). */
#define CWND_MAX (1u << 30)
#define WSCALE_MAX 14
/* SYN cookie (RFC 4987 3.1): the ISN is 24 bits of hash(4-tuple, peer ISN, secret, t), a
 * 5-bit counter t (one step per 2^36 ns ~ 69 s) and a 3-bit MSS index, so an ACK is
 * accepted for the current and previous counter value and the MSS survives without state. */
#define COOKIE_T_SHIFT 36 /* 2^36 ns ~ 68.7 s per counter step */
/* What a wheel timer belongs to (struct sl_tw_node.kind). */
#define TW_CONN 1
#define TW_ARP 2

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((a) - (b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((a) - (b)) >= 0)

/* Widens [*start, *end) to cover [rs, re) when the two overlap or touch; false if apart. */
static inline bool
seq_range_absorb(uint32_t *start, uint32_t *end, uint32_t rs, uint32_t re)
{
	if (!(SEQ_LEQ(*start, re) && SEQ_GEQ(*end, rs)))
		return false;
	if (SEQ_LT(rs, *start))
		*start = rs;
	if (SEQ_GT(re, *end))
		*end = re;
	return true;
}

static const uint16_t cookie_mss[8] = {536, 1024, 1220, 1360, 1400, 1440, 1460, 8960};

struct ooo_range {
	uint32_t start, end;
};

/* A send queue chunk: len bytes, in the send ring (ext NULL) or at ext (a reference). */
struct txd {
	const uint8_t *ext;
	void *ref;
	uint32_t len;
};

/* A held frame's payload piece (zero-copy receive): p->data[off, off + len) is sequence
 * space [seq, seq + len). */
struct rxf {
	struct sl_pkt *p;
	uint32_t seq;
	uint16_t off, len;
};

struct sl_tcp_conn {
	struct sl_net *net;
	uint32_t idx, hnext;
	uint8_t state;
	bool in_use, user_held, user_done, rx_ended, ack_now, fin_queued, in_recovery;
	bool rtt_active, listener_child, ts_ok;
	bool sack_ok;      /* both sides sent SACK-permitted (RFC 2018 2) */
	bool ws_ok;        /* both sides sent a window scale option (RFC 7323 2.2) */
	bool arp_wait;     /* SYN_SENT, the SYN held until the next hop's MAC is known */
	uint32_t arp_next; /* next connection waiting on the same ARP entry */
	uint32_t nh_ip;    /* the next hop being resolved (arp_wait) */
	uint8_t snd_wscale, rcv_wscale;
	uint16_t listener;
	uint16_t mss;
	uint8_t rmac[6];
	uint32_t rip;
	uint16_t lport, rport;

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t snd_data_una, sq_head, sq_len, sq_ring;
	uint32_t txd_head, txd_cnt, txd_off;
	struct txd txd[TXD_MAX];
	uint32_t cwnd, ssthresh, recover;
	/* SACK scoreboard (RFC 2018 5, RFC 6675 lite): disjoint ranges above snd_una the peer
	 * holds, and how far this recovery has retransmitted. */
	uint32_t rexmit_nxt;
	unsigned nsacked;
	struct sl_tcp_sack_blk sacked[SACKED_MAX];
	unsigned dupacks;
	uint32_t rtt_seq;
	int64_t rtt_ts;
	int64_t srtt_ns, rttvar_ns, rto_ns;
	unsigned retries;
	/* 0 = off. The wheel timer tn is armed at or before the earliest of them (setting
	 * one later leaves it early: conn_timer() re-arms it for what remains). */
	int64_t rto_at, persist_at, dack_at, tw_at, ka_at;
	struct sl_tw_node tn;
	unsigned ka_probes;
	uint8_t *sbuf;

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv, rq_head, rq_len;
	uint32_t ts_recent, last_ack_sent; /* RFC 7323 4.3 */
	unsigned unacked_segs;
	unsigned nooo;
	struct ooo_range ooo[OOO_MAX]; /* the most recently extended first */
	uint8_t *rbuf;                 /* copy mode */
	struct rxf *rxq, *oof;         /* zero copy: rx_frames entries each */
	uint32_t rxq_head, rxq_cnt, noof;

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
	bool zc;              /* cfg.rx_zero_copy */
	uint32_t rx_frames;   /* per-connection frame budget (power of two) */
	uint32_t rx_copy_max; /* in-order payloads copied into the previous frame's tailroom */
	uint16_t mss;         /* what we announce: MTU - 40 */
	uint8_t our_wscale;
	uint16_t ip_id;
	uint16_t next_port;
	int64_t now;
	unsigned ntx;
	struct sl_pkt *tx[TX_BURST];
	struct sl_net_stats st;
	struct sl_arp_tbl arp;
	struct sl_twheel wheel;
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

/* What the receive side can take beyond what it holds: the buffer's free bytes and, with
 * zero copy, an MSS (the peer's likely segment size) per frame not yet holding in-order
 * data. Out-of-order frames lie inside that window, so they are not subtracted. */
static uint32_t
rcv_space(const struct sl_tcp_conn *c)
{
	const struct sl_net *n = c->net;
	uint32_t s = n->cfg.rcvbuf_bytes - c->rq_len;

	if (n->zc) {
		uint64_t f = (uint64_t)(n->rx_frames - c->rxq_cnt) * c->mss;

		if (f < s)
			s = (uint32_t)f;
	}
	return s;
}

static uint16_t
win_field(struct sl_tcp_conn *c)
{
	uint32_t w;

	/* Invariant 3: never advertise less than promised before (with zero copy, a small
	 * segment can take a whole frame's share of the window). */
	if (SEQ_GT(c->rcv_nxt + rcv_space(c), c->rcv_adv))
		c->rcv_adv = c->rcv_nxt + rcv_space(c);
	w = (c->rcv_adv - c->rcv_nxt) >> c->rcv_wscale;
	return w > 0xffff ? 0xffff : (uint16_t)w;
}

static void
tx_queue(struct sl_net *n, struct sl_pkt *p)
{
	if (n->ntx == TX_BURST)
		sl_net_flush(n);
	n->tx[n->ntx++] = p;
}

/* Sets one of c's deadlines (at != 0) and makes sure the wheel wakes c by then. */
static void
set_at(struct sl_tcp_conn *c, int64_t *field, int64_t at)
{
	*field = at;
	if (at && (!sl_twheel_armed(&c->tn) || at - c->tn.at < 0))
		sl_twheel_arm(&c->net->wheel, &c->tn, at, c->net->now);
}

/* ---- output ---- */

/* Copies the most recent out-of-order ranges into o as SACK blocks (RFC 2018 4), as many
 * as fit in the 40 option bytes and, beside len data bytes, in the segment (c->mss counts
 * the timestamp option already). Returns the number of blocks. */
static uint8_t
sack_fill(const struct sl_tcp_conn *c, struct sl_tcp_opts *o, uint32_t len)
{
	unsigned max = (SL_TCP_MAX_OPTLEN - (o->has_ts ? 12u : 0u) - 4u) / 8u;
	unsigned room = c->mss > len + 4u ? (c->mss - len - 4u) / 8u : 0;
	unsigned k = SL_MIN(SL_MIN(max, room), c->nooo);

	for (unsigned i = 0; i < k; i++) {
		o->sack[i].start = c->ooo[i].start;
		o->sack[i].end = c->ooo[i].end;
	}
	return (uint8_t)k;
}

static struct txd *
txd_at(const struct sl_tcp_conn *c, uint32_t i)
{
	return (struct txd *)&c->txd[(c->txd_head + i) % TXD_MAX];
}

/* The pieces (at most 2 * TXD_MAX) holding the len queued bytes from sequence number seq
 * (invariant 1). TODO #dpdk: sl_tcp_build copies them into the frame; a port with
 * external buffers (rte_pktmbuf_attach_extbuf) could chain the referenced ones instead. */
static unsigned
txq_gather(const struct sl_tcp_conn *c, uint32_t seq, uint32_t len, struct iovec *iov)
{
	uint32_t size = c->net->cfg.sndbuf_bytes, rel = seq - c->snd_data_una;
	uint32_t ring = c->sq_head;
	unsigned k = 0;

	for (uint32_t i = 0; len && i < c->txd_cnt; i++) {
		const struct txd *d = txd_at(c, i);
		uint32_t skip0 = i ? 0 : c->txd_off, avail = d->len - skip0, take;

		if (rel >= avail) {
			rel -= avail;
			if (!d->ext)
				ring += avail;
			continue;
		}
		take = SL_MIN(avail - rel, len);
		if (d->ext) {
			iov[k].iov_base = (void *)(uintptr_t)(d->ext + skip0 + rel);
			iov[k++].iov_len = take;
		} else {
			uint32_t at = (ring + rel) & (size - 1), first = SL_MIN(take, size - at);

			iov[k].iov_base = c->sbuf + at;
			iov[k++].iov_len = first;
			if (take > first) {
				iov[k].iov_base = c->sbuf;
				iov[k++].iov_len = take - first;
			}
			ring += avail;
		}
		rel = 0;
		len -= take;
	}
	SL_ASSERT(!len);
	return k;
}

/* Drops the whole send queue; the references' owner hears err. */
static void
txq_fail(struct sl_tcp_conn *c, int err)
{
	const struct sl_tcp_cb *cb = &c->net->cfg.cb;

	for (uint32_t i = 0; i < c->txd_cnt; i++) {
		struct txd *d = txd_at(c, i);

		if (d->ext && cb->tx_done)
			cb->tx_done(cb->arg, d->ref, err);
	}
	c->txd_cnt = c->txd_head = c->txd_off = 0;
	c->sq_len = c->sq_ring = 0;
}

/* Sends one segment: flags, seq, and len data bytes taken from the send queue at seq. */
static void
send_seg(struct sl_tcp_conn *c, uint8_t flags, uint32_t seq, uint32_t len)
{
	struct sl_net *n = c->net;
	struct sl_tcp_seg_out s;
	struct iovec iov[2 * TXD_MAX];
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
		/* RFC 7323 2.2: offer scaling in SYN; in SYN-ACK only if the peer offered, and
		 * then always (even a shift of 0), or the peer would not scale either. */
		if (c->state == SL_TCP_SYN_SENT || c->ws_ok) {
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
		s.ndata = txq_gather(c, seq, len, iov);
		s.data = iov;
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
	/* RFC 2018: offer SACK in our SYN, accept it in the SYN-ACK if the peer offered. */
	if ((flags & SL_TCP_SYN) && (c->state == SL_TCP_SYN_SENT || c->sack_ok))
		s.opts.sack_ok = true;
	if ((flags & SL_TCP_ACK) && !(flags & SL_TCP_SYN) && c->sack_ok && c->nooo)
		s.opts.nsack = sack_fill(c, &s.opts, len);
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
	set_at(c, &c->rto_at, c->net->now + c->rto_ns);
}

/* Sends what the windows allow, then a pending ACK; arms the timers. */
static void
output(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;
	uint32_t data_end = c->snd_data_una + c->sq_len;
	bool sent = false;

	if (c->arp_wait)
		return; /* arp_learn() calls again */
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
			set_at(c, &c->persist_at, n->now + c->rto_ns);
	} else {
		c->persist_at = 0;
	}
	if (!sent && c->ack_now)
		send_seg(c, SL_TCP_ACK, c->snd_nxt, 0);
}

/* ---- zero-copy receive: held frames ---- */

static struct rxf *
rxq_at(const struct sl_tcp_conn *c, uint32_t i)
{
	return &c->rxq[(c->rxq_head + i) & (c->net->rx_frames - 1)];
}

static uint32_t
rx_held(const struct sl_tcp_conn *c)
{
	return c->rxq_cnt + c->noof;
}

static void
rxf_put(struct sl_net *n, struct sl_pkt *p)
{
	n->st.rx_frames_held--;
	n->io.free(n->io.ctx, p);
}

/* Copies len bytes at src behind the last in-order frame's piece, into its tailroom, if
 * there is one, with room, and len <= lim. */
static bool
rx_tail_append(struct sl_tcp_conn *c, const uint8_t *src, uint32_t len, uint32_t lim)
{
	struct rxf *t;
	uint32_t end;

	if (!c->rxq_cnt || len > lim)
		return false;
	t = rxq_at(c, c->rxq_cnt - 1);
	end = (uint32_t)t->off + t->len;
	if (end + len > t->p->cap)
		return false;
	memcpy(t->p->data + end, src, len);
	t->len = (uint16_t)(t->len + len);
	if (t->p->len < end + len)
		t->p->len = (uint16_t)(end + len);
	c->net->st.rx_copied++;
	return true;
}

/* Gives back the out-of-order frame that starts highest, if it starts above seq, to make
 * room for one nearer rcv_nxt; SACK ranges from its start up are withdrawn (the frames
 * below may still hold some of those bytes: reporting less is safe, more is not). */
static bool
rx_evict_above(struct sl_tcp_conn *c, uint32_t seq)
{
	struct sl_net *n = c->net;
	uint32_t cut;

	if (!c->noof || !SEQ_GT(c->oof[c->noof - 1].seq, seq))
		return false;
	c->noof--;
	cut = c->oof[c->noof].seq;
	rxf_put(n, c->oof[c->noof].p);
	n->st.rx_evicted++;
	for (unsigned i = 0; i < c->nooo; i++) {
		struct ooo_range *r = &c->ooo[i];

		if (SEQ_GEQ(r->start, cut)) {
			c->nooo--;
			memmove(&c->ooo[i], &c->ooo[i + 1], (c->nooo - i) * sizeof(c->ooo[0]));
			i--;
		} else if (SEQ_GT(r->end, cut)) {
			r->end = cut;
		}
	}
	return true;
}

/* Gives back the out-of-order frames (and forgets their SACK ranges). */
static void
rx_drop_ooo(struct sl_tcp_conn *c)
{
	for (uint32_t i = 0; i < c->noof; i++)
		rxf_put(c->net, c->oof[i].p);
	c->noof = 0;
	c->nooo = 0;
}

/* Gives back every held frame; nothing is left to read. */
static void
rx_drop_all(struct sl_tcp_conn *c)
{
	if (!c->net->zc)
		return;
	rx_drop_ooo(c);
	for (uint32_t i = 0; i < c->rxq_cnt; i++)
		rxf_put(c->net, rxq_at(c, i)->p);
	c->rxq_cnt = 0;
	c->rxq_head = 0;
	c->rq_len = 0;
}

/* ---- connection lifetime ---- */

static struct sl_tcp_conn *
conn_alloc(struct sl_net *n)
{
	struct sl_tcp_conn *c;
	uint8_t *sbuf, *rbuf;
	struct rxf *rxq, *oof;
	uint32_t idx;

	if (n->free_head == NIL)
		return NULL;
	idx = n->free_head;
	c = &n->conns[idx];
	n->free_head = c->hnext;
	sbuf = c->sbuf;
	rbuf = c->rbuf;
	rxq = c->rxq;
	oof = c->oof;
	memset(c, 0, sizeof(*c));
	c->sbuf = sbuf;
	c->rbuf = rbuf;
	c->rxq = rxq;
	c->oof = oof;
	c->net = n;
	c->idx = idx;
	c->in_use = true;
	c->hnext = NIL;
	c->rto_ns = (int64_t)n->cfg.rto_init_ms * NS_PER_MS;
	c->mss = 536; /* RFC 9293 3.7.1 default */
	c->tn.kind = TW_CONN;
	c->arp_next = NIL;
	n->st.conns_active++;
	return c;
}

/* Takes c off the list of connections waiting for its next hop's MAC. */
static void
arp_unwait(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;
	struct sl_arp_ent *e;

	if (!c->arp_wait)
		return;
	c->arp_wait = false;
	e = sl_arp_tbl_find(&n->arp, c->nh_ip);
	if (!e)
		return;
	for (uint32_t *p = &e->waiters; *p != NIL; p = &n->conns[*p].arp_next) {
		if (*p == c->idx) {
			*p = c->arp_next;
			break;
		}
	}
	c->arp_next = NIL;
}

static void
conn_free(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;

	arp_unwait(c);
	rx_drop_all(c);
	if (c->txd_cnt)
		txq_fail(c, -ECONNABORTED);
	sl_twheel_cancel(&n->wheel, &c->tn);
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
	sl_twheel_cancel(&c->net->wheel, &c->tn);
	arp_unwait(c);
	embryo_done(c);
	/* Out-of-order data will never join; in-order frames stay readable until the user
	 * lets go (pieces it holds point into them). */
	if (c->net->zc)
		rx_drop_ooo(c);
	if (c->txd_cnt)
		txq_fail(c, err ? err : -ECONNRESET); /* never to be acknowledged now */
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
	txq_fail(c, err);
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
	if (n->cfg.keepalive_idle_ms)
		set_at(c, &c->ka_at, n->now + (int64_t)n->cfg.keepalive_idle_ms * NS_PER_MS);
	else
		c->ka_at = 0;
}

static void
established(struct sl_tcp_conn *c)
{
	const struct sl_tcp_cb *cb = &c->net->cfg.cb;

	/* A user who closed a simultaneous open in SYN_RCVD gets the FIN out now. */
	c->state = c->fin_queued ? SL_TCP_FIN_WAIT_1 : SL_TCP_ESTABLISHED;
	embryo_done(c);
	c->user_held = true;
	c->recover = c->iss; /* RFC 6582 3.2 step 1 */
	ka_rearm(c);
	/* RFC 5681 3.1: IW = min(4*MSS, max(2*MSS, 4380)) (RFC 3390). */
	c->cwnd = SL_MIN(4u * c->mss, SL_MAX(2u * c->mss, 4380u));
	c->ssthresh = UINT32_MAX / 2;
	if (cb->established && notify(c))
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
	c->sack_ok = o->sack_ok;
	c->ws_ok = o->has_ws && we_offer_ws;
	if (c->ws_ok) {
		c->snd_wscale = o->wscale; /* the parser caps it at 14 (RFC 7323 2.3) */
		c->rcv_wscale = n->our_wscale;
	} else {
		c->snd_wscale = 0;
		c->rcv_wscale = 0;
	}
}

/* A segment for port l without a connection. iss_min (NULL: none) is a floor for a new
 * connection's ISS: a SYN that reopens a TIME_WAIT connection (tcp_input()) must get an ISS
 * above every sequence number the old incarnation used (RFC 9293 3.6.1); a SYN cookie
 * cannot honour it (as in Linux). */
static void
on_listen(struct sl_net *n, struct listener *l, const struct sl_net_hdrs *h,
          const uint32_t *iss_min)
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
	if (iss_min && SEQ_LT(c->iss, *iss_min))
		c->iss = *iss_min;
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
	if (!(h->flags & SL_TCP_SYN))
		return;
	if (!ack_ok) {
		/* Simultaneous open (RFC 9293 3.10.7.3): the peer's SYN crossed ours. Options
		 * come from its SYN as in a passive open (we offered everything in ours); answer
		 * <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and wait in SYN_RCVD for its SYN,ACK (see
		 * tcp_input()) or ACK. Data on the SYN is dropped: the peer sends it again. A
		 * connection whose SYN still waits for ARP ignores it: the peer retransmits, and
		 * by then our SYN has left. */
		if (c->arp_wait)
			return;
		c->irs = h->seq;
		c->rcv_nxt = h->seq + 1;
		c->rcv_adv = c->rcv_nxt;
		apply_syn_opts(c, &h->opts, true);
		c->snd_wnd = h->win; /* unscaled in a SYN */
		c->snd_wl1 = h->seq;
		c->snd_wl2 = c->iss;
		c->state = SL_TCP_SYN_RCVD;
		c->snd_nxt = c->iss; /* output() sends the SYN,ACK; the SYN's RTO keeps running */
		output(c);
		return;
	}
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

/* ---- SACK, sender side ---- */

/* Adds the peer's SACK blocks to the scoreboard: only blocks within (snd_una, snd_max]
 * count (a D-SACK below snd_una or a bogus block teaches nothing); overlapping or touching
 * ranges coalesce; when the board is full a new range is ignored. */
static void
sack_update(struct sl_tcp_conn *c, const struct sl_tcp_opts *o)
{
	for (unsigned b = 0; b < o->nsack; b++) {
		uint32_t start = o->sack[b].start, end = o->sack[b].end;

		if (!SEQ_LT(start, end) || SEQ_GT(end, c->snd_max) || SEQ_LEQ(end, c->snd_una))
			continue;
		if (SEQ_LT(start, c->snd_una))
			start = c->snd_una;
		for (unsigned i = 0; i < c->nsacked; i++) {
			struct sl_tcp_sack_blk *r = &c->sacked[i];

			if (seq_range_absorb(&start, &end, r->start, r->end)) {
				c->sacked[i] = c->sacked[--c->nsacked];
				i = (unsigned)-1;
			}
		}
		if (c->nsacked < SACKED_MAX) {
			c->sacked[c->nsacked].start = start;
			c->sacked[c->nsacked].end = end;
			c->nsacked++;
		}
	}
}

/* Forgets what snd_una has passed. */
static void
sack_prune(struct sl_tcp_conn *c)
{
	for (unsigned i = 0; i < c->nsacked; i++) {
		struct sl_tcp_sack_blk *r = &c->sacked[i];

		if (SEQ_LEQ(r->end, c->snd_una)) {
			c->sacked[i--] = c->sacked[--c->nsacked];
			continue;
		}
		if (SEQ_LT(r->start, c->snd_una))
			r->start = c->snd_una;
	}
}

/* The next hole to retransmit in recovery: the first sequence number at or after
 * max(snd_una, rexmit_nxt) that the peer does not hold, if the peer holds something above
 * it (so it is presumed lost, RFC 6675 IsLost() simplified to one SACKed byte above), up to
 * an MSS, the next SACKed range or the end of the data. false if there is none. */
static bool
sack_hole(const struct sl_tcp_conn *c, uint32_t *seq, uint32_t *len)
{
	uint32_t h = SEQ_GT(c->rexmit_nxt, c->snd_una) ? c->rexmit_nxt : c->snd_una;
	uint32_t data_end = c->snd_data_una + c->sq_len, top = c->snd_una, lim;
	bool moved = true;

	if (!c->sack_ok || !c->nsacked)
		return false;
	while (moved) {
		moved = false;
		for (unsigned i = 0; i < c->nsacked; i++) {
			if (SEQ_LEQ(c->sacked[i].start, h) && SEQ_LT(h, c->sacked[i].end)) {
				h = c->sacked[i].end;
				moved = true;
			}
		}
	}
	for (unsigned i = 0; i < c->nsacked; i++)
		if (SEQ_GT(c->sacked[i].end, top))
			top = c->sacked[i].end;
	if (!SEQ_LT(h, top) || !SEQ_LT(h, data_end))
		return false;
	lim = SL_MIN(c->mss, data_end - h);
	for (unsigned i = 0; i < c->nsacked; i++)
		if (SEQ_GT(c->sacked[i].start, h) && c->sacked[i].start - h < lim)
			lim = c->sacked[i].start - h;
	*seq = h;
	*len = lim;
	return true;
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
	if (c->sack_ok && h->opts.nsack)
		sack_update(c, &h->opts);

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
				uint32_t len = SL_MIN(c->mss, SEQ_LT(c->snd_una, data_end)
				                                      ? data_end - c->snd_una
				                                      : 0);

				c->in_recovery = true;
				c->rtt_active = false;
				send_seg(c, SL_TCP_ACK, c->snd_una, len);
				c->rexmit_nxt = c->snd_una + len;
				n->st.fast_retrans++;
				n->st.retrans++;
				c->cwnd = c->ssthresh + 3u * c->mss;
				arm_rto(c);
			} else if (c->in_recovery) {
				uint32_t hseq, hlen;

				/* With SACK, a duplicate ACK's packet-worth goes to the next
				 * presumed-lost hole rather than to new data (RFC 6675 NextSeg
				 * rule 1); otherwise inflate (RFC 6582 step 4). */
				if (sack_hole(c, &hseq, &hlen)) {
					send_seg(c, SL_TCP_ACK, hseq, hlen);
					c->rexmit_nxt = hseq + hlen;
					n->st.retrans++;
					n->st.sack_rexmits++;
				} else {
					c->cwnd = SL_MIN(c->cwnd + c->mss, CWND_MAX);
				}
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
	sack_prune(c);
	/* Free acked data from the send ring (the FIN's sequence number is not in it). */
	{
		uint32_t upto = SEQ_LT(h->ack, data_end) ? h->ack : data_end;
		uint32_t freed = upto - c->snd_data_una;

		if (SEQ_GT(upto, c->snd_data_una)) {
			c->sq_len -= freed;
			c->snd_data_una = upto;
			while (freed) {
				struct txd *d = txd_at(c, 0);
				uint32_t take = SL_MIN(d->len - c->txd_off, freed);

				if (!d->ext) {
					c->sq_head =
					        (c->sq_head + take) & (n->cfg.sndbuf_bytes - 1);
					c->sq_ring -= take;
				}
				c->txd_off += take;
				freed -= take;
				if (c->txd_off == d->len) {
					/* tx_done may not call the stack: no reentry here. */
					if (d->ext && n->cfg.cb.tx_done)
						n->cfg.cb.tx_done(n->cfg.cb.arg, d->ref, 0);
					c->txd_head = (c->txd_head + 1) % TXD_MAX;
					c->txd_cnt--;
					c->txd_off = 0;
				}
			}
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
			/* Partial ACK: retransmit the next hole, deflate (step 5). With SACK
			 * the next hole may lie above what this recovery already resent. */
			uint32_t len = SEQ_LT(c->snd_una, data_end) ? data_end - c->snd_una : 0;
			uint32_t hseq = c->snd_una, hlen = SL_MIN(len, c->mss);

			bool resend = true;

			if (c->nsacked && !sack_hole(c, &hseq, &hlen))
				resend = SEQ_GEQ(c->snd_una, c->rexmit_nxt); /* as NewReno */
			if (resend) {
				send_seg(c, SL_TCP_ACK, hseq, hlen);
				if (SEQ_GT(hseq + hlen, c->rexmit_nxt))
					c->rexmit_nxt = hseq + hlen;
				n->st.retrans++;
			}
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
	c->cwnd = SL_MIN(c->cwnd, CWND_MAX);
	set_at(c, &c->rto_at, flight(c) ? n->now + c->rto_ns : 0);

	if (c->fin_queued && c->snd_una == data_end + 1) {
		/* Our FIN is acknowledged. */
		switch (c->state) {
		case SL_TCP_FIN_WAIT_1:
			c->state = SL_TCP_FIN_WAIT_2;
			/* The user is gone: bound the wait for the peer's FIN (Linux's
			 * tcp_fin_timeout) so a silent peer cannot hold the slot forever. */
			set_at(c, &c->tw_at, n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS);
			break;
		case SL_TCP_CLOSING:
			c->state = SL_TCP_TIME_WAIT;
			set_at(c, &c->tw_at, n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS);
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

/* Removes ooo[i], keeping the others in order (most recent first, for SACK). */
static void
ooo_remove(struct sl_tcp_conn *c, unsigned i)
{
	c->nooo--;
	memmove(&c->ooo[i], &c->ooo[i + 1], (c->nooo - i) * sizeof(c->ooo[0]));
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
				ooo_remove(c, i);
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

		if (seq_range_absorb(&start, &end, r->start, r->end)) {
			ooo_remove(c, i);
			i = (unsigned)-1;
		}
	}
	if (c->nooo < OOO_MAX) {
		/* In front: the first SACK block reports the latest segment (RFC 2018 4). */
		memmove(&c->ooo[1], &c->ooo[0], c->nooo * sizeof(c->ooo[0]));
		c->ooo[0].start = start;
		c->ooo[0].end = end;
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

/* Zero copy: moves the out-of-order frames that now touch rcv_nxt to the in-order queue
 * (small ones are copied into the previous frame's tailroom), gives back those wholly
 * below it, and forgets the SACK ranges rcv_nxt has passed. */
static void
zc_merge(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;

	while (c->noof && SEQ_LEQ(c->oof[0].seq, c->rcv_nxt)) {
		struct rxf e = c->oof[0];
		uint32_t end = e.seq + e.len, skip;

		c->noof--;
		memmove(&c->oof[0], &c->oof[1], c->noof * sizeof(c->oof[0]));
		if (!SEQ_GT(end, c->rcv_nxt)) {
			rxf_put(n, e.p);
			continue;
		}
		skip = c->rcv_nxt - e.seq;
		e.off = (uint16_t)(e.off + skip);
		e.len = (uint16_t)(e.len - skip);
		e.seq = c->rcv_nxt;
		if (rx_tail_append(c, e.p->data + e.off, e.len, n->rx_copy_max)) {
			rxf_put(n, e.p);
		} else {
			*rxq_at(c, c->rxq_cnt) = e;
			c->rxq_cnt++;
		}
		c->rq_len += e.len;
		c->rcv_nxt = end;
	}
	/* Every remaining frame starts above rcv_nxt, so no range reaches down to it. */
	for (unsigned i = 0; i < c->nooo; i++)
		if (SEQ_LEQ(c->ooo[i].start, c->rcv_nxt))
			ooo_remove(c, i--);
}

/* on_data with zero copy: holds pkt (sets *kept) or copies its payload into the tailroom
 * of a held frame, within the frame budget. */
static bool
on_data_zc(struct sl_tcp_conn *c, const struct sl_net_hdrs *h, struct sl_pkt *pkt, bool *kept)
{
	struct sl_net *n = c->net;
	uint32_t seq = h->seq, len = h->payload_len, off, lim;
	uint32_t poff = (uint32_t)(h->payload - pkt->data);

	if (SEQ_LT(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;

		if (skip >= len)
			return false;
		poff += skip;
		len -= skip;
		seq = c->rcv_nxt;
	}
	/* Up to what was advertised even if the frame budget has shrunk the space since. */
	lim = rcv_space(c);
	if (SEQ_GT(c->rcv_adv, c->rcv_nxt) && c->rcv_adv - c->rcv_nxt > lim)
		lim = c->rcv_adv - c->rcv_nxt;
	off = seq - c->rcv_nxt;
	if (off >= lim)
		return false;
	len = SL_MIN(off + len, lim) - off;
	if (c->user_done) {
		/* Nobody will read it (sl_tcp_close gave the frames back): ACK and drop. */
		if (off)
			return false;
		c->rcv_nxt += len;
		return true;
	}
	if (off == 0) {
		const uint8_t *src = pkt->data + poff;

		if (!rx_tail_append(c, src, len, n->rx_copy_max)) {
			/* Over budget: make room by giving back out-of-order data further up, or
			 * squeeze the bytes into a held frame's tailroom whatever their size. */
			if (rx_held(c) >= n->rx_frames && !rx_evict_above(c, seq) &&
			    !rx_tail_append(c, src, len, UINT32_MAX)) {
				n->st.rx_budget_drops++;
				return false;
			}
			if (rx_held(c) < n->rx_frames) {
				struct rxf *e = rxq_at(c, c->rxq_cnt);

				e->p = pkt;
				e->seq = seq;
				e->off = (uint16_t)poff;
				e->len = (uint16_t)len;
				c->rxq_cnt++;
				n->st.rx_frames_held++;
				*kept = true;
			}
		}
		c->rq_len += len;
		c->rcv_nxt += len;
		zc_merge(c);
		return true;
	}
	/* Out of order: a frame wholly inside one already held is a duplicate. */
	for (uint32_t i = 0; i < c->noof; i++)
		if (SEQ_LEQ(c->oof[i].seq, seq) &&
		    SEQ_GEQ(c->oof[i].seq + c->oof[i].len, seq + len))
			return false;
	if (rx_held(c) >= n->rx_frames && !rx_evict_above(c, seq)) {
		n->st.rx_budget_drops++;
		return false;
	}
	{
		uint32_t i = c->noof;

		while (i && SEQ_GT(c->oof[i - 1].seq, seq))
			i--;
		memmove(&c->oof[i + 1], &c->oof[i], (c->noof - i) * sizeof(c->oof[0]));
		c->oof[i].p = pkt;
		c->oof[i].seq = seq;
		c->oof[i].off = (uint16_t)poff;
		c->oof[i].len = (uint16_t)len;
		c->noof++;
	}
	n->st.rx_frames_held++;
	*kept = true;
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
		set_at(c, &c->tw_at, n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS);
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

/* Whether SYN h for c, in TIME_WAIT, may open a new incarnation of the connection (RFC 9293
 * 3.6.1, with RFC 6191 4 for timestamps): a plain SYN to a listening port, with a timestamp
 * newer than the last one seen (equal: and a sequence number above the last one seen), or
 * a timestamp when the old connection had none, or (no timestamp) a sequence number above
 * the last one seen, rcv_nxt - 1 (the peer's FIN). Any other SYN is left to the TIME_WAIT
 * connection (an ACK, or a PAWS drop). */
static bool
tw_syn_reopens(const struct sl_tcp_conn *c, const struct sl_net_hdrs *h)
{
	if ((h->flags & (SL_TCP_SYN | SL_TCP_ACK | SL_TCP_RST | SL_TCP_FIN)) != SL_TCP_SYN ||
	    notify(c) || !listener_find(c->net, c->lport))
		return false;
	if (h->opts.has_ts && c->ts_ok)
		return SEQ_GT(h->opts.tsval, c->ts_recent) ||
		       (h->opts.tsval == c->ts_recent && SEQ_GEQ(h->seq, c->rcv_nxt));
	if (h->opts.has_ts)
		return true;
	return SEQ_GEQ(h->seq, c->rcv_nxt);
}

/* Returns true if the connection kept pkt (zero-copy receive). */
static bool
tcp_input(struct sl_net *n, const struct sl_net_hdrs *h, struct sl_pkt *pkt)
{
	bool kept = false;

	struct sl_tcp_conn *c = conn_lookup(n, h->src_ip, h->sport, h->dport);
	struct sl_net_hdrs trimmed;
	uint32_t seg_len, wnd, iss_min = 0;
	bool acceptable, fresh = false, reopen = false;

	if (c && c->state == SL_TCP_TIME_WAIT && tw_syn_reopens(c, h)) {
		/* The user let go in TIME_WAIT (it closed first): conn_closed() frees c, and
		 * the SYN finds the listener. The new ISS clears the old sequence space and
		 * an unscaled window beyond it, as Linux does. */
		iss_min = c->snd_max + 65537u;
		reopen = true;
		n->st.tw_reopened++;
		conn_closed(c, 0);
		c = NULL;
	}
	if (!c) {
		struct listener *l = listener_find(n, h->dport);

		if (!l) {
			send_rst_for(n, h);
			return kept;
		}
		on_listen(n, l, h, reopen ? &iss_min : NULL);
		/* A cookie-validated ACK created a connection: carry on with its data. */
		c = conn_lookup(n, h->src_ip, h->sport, h->dport);
		if (!c || !(h->flags & SL_TCP_ACK) || c->state != SL_TCP_ESTABLISHED)
			return kept;
		fresh = true;
	}
	if (c->state == SL_TCP_SYN_SENT) {
		on_syn_sent(c, h);
		return kept;
	}
	if (c->state == SL_TCP_CLOSED) {
		/* Reset but still held by the user: behave as if it were gone. */
		send_rst_for(n, h);
		return kept;
	}
	if (c->state == SL_TCP_SYN_RCVD && (h->flags & SL_TCP_SYN) && h->seq == c->irs &&
	    !(h->flags & SL_TCP_RST)) {
		if (!(h->flags & SL_TCP_ACK)) {
			/* The peer's SYN again: our SYN,ACK got lost. Send it again (the
			 * sequence check below would only answer with nothing). */
			c->snd_nxt = c->iss;
			output(c);
			return kept;
		}
		/* Simultaneous open: the peer's SYN,ACK. Its SYN is the one we have: trim it
		 * (RFC 9293 3.10.7.4 processes only the new part of a segment) and take the
		 * rest as the ACK that completes the handshake, exempt from the challenge of
		 * step 3 as in Linux. ACK it: if our SYN,ACK was lost, this ACK completes the
		 * peer's side. */
		trimmed = *h;
		trimmed.seq++;
		trimmed.flags &= (uint8_t)~SL_TCP_SYN;
		h = &trimmed;
		c->ack_now = true;
	}

	/* 0. PAWS (RFC 7323 5.3), before the sequence number check. */
	if (c->ts_ok && !(h->flags & SL_TCP_RST)) {
		if (!h->opts.has_ts) {
			n->st.paws_drops++; /* RFC 7323 3.2: silently dropped */
			return kept;
		}
		if (SEQ_LT(h->opts.tsval, c->ts_recent)) {
			n->st.paws_drops++;
			c->ack_now = true;
			output(c);
			return kept;
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
		return kept;
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
			return kept;
		}
		if (c->state == SL_TCP_SYN_RCVD && !c->user_held) {
			embryo_done(c);
			conn_free(c);
			return kept;
		}
		if (c->state == SL_TCP_TIME_WAIT || c->state == SL_TCP_LAST_ACK ||
		    c->state == SL_TCP_CLOSING)
			conn_closed(c, 0);
		else if (c->state == SL_TCP_SYN_RCVD)
			conn_reset(c, -ECONNREFUSED); /* from SYN_SENT (RFC 9293 3.10.7.4) */
		else
			conn_reset(c, -ECONNRESET);
		return kept;
	}
	/* 3. SYN in a synchronised state: challenge ACK (RFC 5961 4). */
	if (h->flags & SL_TCP_SYN) {
		n->st.challenge_acks++;
		send_seg(c, SL_TCP_ACK, c->snd_nxt, 0);
		return kept;
	}
	/* 4. ACK. */
	if (!(h->flags & SL_TCP_ACK))
		return kept;
	if (!fresh && !on_ack(c, h)) {
		if (c->in_use && c->state != SL_TCP_CLOSED)
			output(c);
		return kept;
	}
	if (c->state == SL_TCP_TIME_WAIT) {
		if (h->flags & SL_TCP_FIN) {
			/* A retransmitted FIN: our ACK was lost. Restart 2MSL. */
			c->ack_now = true;
			set_at(c, &c->tw_at, n->now + (int64_t)n->cfg.time_wait_ms * NS_PER_MS);
			output(c);
		}
		return kept;
	}
	/* 5. Data. */
	if (h->payload_len) {
		if (c->state == SL_TCP_ESTABLISHED || c->state == SL_TCP_FIN_WAIT_1 ||
		    c->state == SL_TCP_FIN_WAIT_2) {
			bool had_ooo = c->nooo != 0 || c->noof != 0;
			bool in_order = n->zc ? on_data_zc(c, h, pkt, &kept)
			                      : on_data(c, h->seq, h->payload, h->payload_len);

			if (in_order && !had_ooo) {
				/* Delayed ACK: every second full segment, else the timer
				 * (RFC 9293 3.8.6.3, RFC 5681 4.2). */
				if (++c->unacked_segs >= 2)
					c->ack_now = true;
				else if (!c->dack_at)
					set_at(c, &c->dack_at,
					       n->now + (int64_t)n->cfg.delack_ms * NS_PER_MS);
			} else {
				/* Out of order, a hole just filled, or a duplicate: ACK now so
				 * the sender's fast retransmit sees it (RFC 5681 4.2). */
				c->ack_now = true;
			}
			if (in_order && n->cfg.cb.readable && notify(c))
				n->cfg.cb.readable(n->cfg.cb.arg, c);
			if (!c->in_use || c->state == SL_TCP_CLOSED)
				return kept;
		}
	}
	/* 6. FIN, only when it is the next sequence number. */
	if ((h->flags & SL_TCP_FIN) && h->seq + h->payload_len == c->rcv_nxt && !c->rx_ended)
		on_fin(c);
	else if (h->flags & SL_TCP_FIN)
		c->ack_now = true;
	if (c->in_use && c->state != SL_TCP_CLOSED)
		output(c);
	return kept;
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

/* ---- ARP cache (table in arp.c, states in arp_int.h) ---- */

/* The address whose MAC a packet to ip goes to, or 0 if there is no route. */
static uint32_t
next_hop(const struct sl_net *n, uint32_t ip)
{
	if (n->cfg.netmask && ((ip ^ n->cfg.ip) & n->cfg.netmask))
		return n->cfg.gateway;
	return ip;
}

static void
arp_request(struct sl_net *n, uint32_t tpa)
{
	struct sl_pkt *p = n->io.alloc(n->io.ctx);
	int r;

	if (!p) {
		n->st.tx_drop++; /* counts as a try: the retry timer asks again */
		return;
	}
	r = sl_arp_build_request(p->data, p->cap, n->cfg.mac, n->cfg.ip, tpa);
	if (r < 0) {
		n->io.free(n->io.ctx, p);
		n->st.tx_drop++;
		return;
	}
	p->len = (uint16_t)r;
	p->ol_flags = 0;
	n->st.arp_req_sent++;
	tx_queue(n, p);
}

/* Sends one more request for e and arms the next try. */
static void
arp_try(struct sl_net *n, struct sl_arp_ent *e)
{
	e->tries++;
	arp_request(n, e->ip);
	sl_twheel_arm(&n->wheel, &e->timer, n->now + (int64_t)n->cfg.arp_retry_ms * NS_PER_MS,
	              n->now);
}

/* e's address is at mac: (re)validate e and send the SYNs that waited for it. */
static void
arp_learn(struct sl_net *n, struct sl_arp_ent *e, const uint8_t mac[6])
{
	uint32_t i = e->waiters;

	memcpy(e->mac, mac, 6);
	e->state = SL_ARP_REACHABLE;
	e->probing = false;
	e->tries = 0;
	e->expire_at = n->now + (int64_t)n->cfg.arp_reachable_ms * NS_PER_MS;
	e->waiters = NIL;
	sl_twheel_cancel(&n->wheel, &e->timer);
	n->st.arp_learned++;
	while (i != NIL) {
		struct sl_tcp_conn *c = &n->conns[i];

		i = c->arp_next;
		c->arp_next = NIL;
		c->arp_wait = false;
		memcpy(c->rmac, mac, 6);
		output(c); /* the SYN; no callback runs from here */
	}
}

/* The retry timer of e: ask again, or give up. */
static void
arp_timer(struct sl_net *n, struct sl_arp_ent *e)
{
	uint32_t i;

	if (e->tries < n->cfg.arp_tries) {
		arp_try(n, e);
		return;
	}
	n->st.arp_failed++;
	/* Reset the waiters one at a time from the entry's own list, so a callback that closes
	 * another waiter (or connects to the same address, and fails with it) finds the list
	 * consistent; nothing a callback does can free an INCOMPLETE entry. */
	while ((i = e->waiters) != NIL) {
		struct sl_tcp_conn *c = &n->conns[i];

		e->waiters = c->arp_next;
		c->arp_next = NIL;
		c->arp_wait = false;
		conn_reset(c, -EHOSTUNREACH);
	}
	sl_arp_tbl_del(&n->arp, &n->wheel, e);
}

/* Learns from an ARP request or reply (RFC 826 "merge": refresh an entry we have, whoever
 * the target; add one only when the sender talks to us) and answers requests for us.
 * Probes (sender 0.0.0.0, RFC 5227), our own address and multicast sender MACs teach
 * nothing. */
static void
arp_input(struct sl_net *n, const struct sl_net_hdrs *h)
{
	static const uint8_t zero[6];
	bool for_us = h->arp_tpa == n->cfg.ip;

	if (h->arp_spa && h->arp_spa != n->cfg.ip && !(h->arp_sha[0] & 1) &&
	    memcmp(h->arp_sha, zero, 6) != 0) {
		struct sl_arp_ent *e = sl_arp_tbl_find(&n->arp, h->arp_spa);

		if (!e && for_us) {
			e = sl_arp_tbl_add(&n->arp, &n->wheel, h->arp_spa);
			if (e)
				e->timer.kind = TW_ARP;
		}
		if (e)
			arp_learn(n, e, h->arp_sha);
	}
	if (h->arp_op == 1 && for_us)
		reply_with(n, build_arp, h);
}

/* Returns true if a connection kept p (zero-copy receive). */
static bool
input_one(struct sl_net *n, struct sl_pkt *p)
{
	struct sl_net_hdrs h;
	int kind = sl_net_parse(p->data, p->len, p->ol_flags & SL_PKT_RX_CKSUM_OK, &h);

	n->st.rx_pkts++;
	switch (kind) {
	case SL_NET_ARP:
		arp_input(n, &h);
		break;
	case SL_NET_ICMP_ECHO:
		if (h.dst_ip == n->cfg.ip)
			reply_with(n, build_echo, &h);
		break;
	case SL_NET_TCP:
		if (h.dst_ip == n->cfg.ip && h.src_ip != n->cfg.ip)
			return tcp_input(n, &h, p);
		else
			n->st.rx_drop++;
		break;
	default:
		n->st.rx_drop++;
		break;
	}
	return false;
}

void
sl_net_rx(struct sl_net *n, struct sl_pkt **pkts, unsigned cnt, int64_t now_ns)
{
	n->now = now_ns;
	for (unsigned i = 0; i < cnt; i++)
		if (!input_one(n, pkts[i]))
			n->io.free(n->io.ctx, pkts[i]);
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
	c->nsacked = 0; /* the receiver may renege (RFC 2018 8): go back N */
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
		set_at(c, &c->persist_at, n->now + c->rto_ns);
	}
}

/* c's wheel timer: runs what is due and re-arms the timer for what remains. */
static void
conn_timer(struct sl_tcp_conn *c)
{
	struct sl_net *n = c->net;
	int64_t now = n->now, next = 0;
	int64_t ats[5];

	if (!c->in_use || c->state == SL_TCP_CLOSED)
		return;
	if (due(c->tw_at, now)) {
		c->tw_at = 0;
		conn_closed(c, 0);
		return;
	}
	if (due(c->rto_at, now)) {
		on_rto(c);
		if (!c->in_use || c->state == SL_TCP_CLOSED)
			return;
	}
	if (due(c->persist_at, now))
		on_persist(c);
	if (due(c->ka_at, now) && c->state != SL_TCP_ESTABLISHED && c->state != SL_TCP_CLOSE_WAIT)
		c->ka_at = 0; /* closing: the FIN's retransmissions take over */
	if (due(c->ka_at, now)) {
		if (c->ka_probes >= n->cfg.keepalive_probes) {
			conn_reset(c, -ETIMEDOUT);
			return;
		}
		/* An old sequence number, so the peer must answer with an ACK. */
		c->ka_probes++;
		c->ka_at = now + (int64_t)n->cfg.keepalive_intvl_ms * NS_PER_MS;
		send_seg(c, SL_TCP_ACK, c->snd_una - 1, 0);
	}
	if (due(c->dack_at, now)) {
		c->dack_at = 0;
		c->ack_now = true;
		output(c);
	}
	ats[0] = c->rto_at;
	ats[1] = c->persist_at;
	ats[2] = c->dack_at;
	ats[3] = c->tw_at;
	ats[4] = c->ka_at;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(ats); i++)
		if (ats[i] && (!next || ats[i] - next < 0))
			next = ats[i];
	if (next && (!sl_twheel_armed(&c->tn) || next - c->tn.at < 0))
		sl_twheel_arm(&n->wheel, &c->tn, next, now);
}

static void
tw_fire(void *arg, struct sl_tw_node *t)
{
	struct sl_net *n = arg;

	if (t->kind == TW_ARP)
		arp_timer(n, SL_CONTAINER_OF(t, struct sl_arp_ent, timer));
	else
		conn_timer(SL_CONTAINER_OF(t, struct sl_tcp_conn, tn));
}

void
sl_net_timers(struct sl_net *n, int64_t now_ns)
{
	n->now = now_ns;
	n->st.timers_fired += sl_twheel_run(&n->wheel, now_ns, tw_fire, n);
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
	size_t per, sbuf_len, rx_len;
	int r;

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
	if (!n->cfg.arp_entries)
		n->cfg.arp_entries = 256;
	if (!n->cfg.arp_reachable_ms)
		n->cfg.arp_reachable_ms = 60000;
	if (!n->cfg.arp_retry_ms)
		n->cfg.arp_retry_ms = 1000;
	if (!n->cfg.arp_tries)
		n->cfg.arp_tries = 3;
	/* A contiguous netmask, and a gateway on the link. */
	if ((~n->cfg.netmask & (~n->cfg.netmask + 1)) ||
	    (n->cfg.gateway && ((n->cfg.gateway ^ n->cfg.ip) & n->cfg.netmask)) ||
	    n->cfg.arp_tries > 255)
		goto out_inval;
	n->mss = (uint16_t)(n->cfg.mtu - SL_IPV4_HLEN - SL_TCP_HLEN);
	if (n->cfg.rcvbuf_bytes < 2u * n->mss)
		goto out_inval;
	n->zc = n->cfg.rx_zero_copy;
	n->rx_copy_max = n->cfg.rx_copy_max ? n->cfg.rx_copy_max : 256;
	if (n->zc) {
		uint32_t want = (n->cfg.rcvbuf_bytes + n->mss - 13u) / (n->mss - 12u);

		if (n->cfg.rx_frames && (!pow2(n->cfg.rx_frames) || n->cfg.rx_frames > 65536))
			goto out_inval;
		n->rx_frames = n->cfg.rx_frames;
		if (!n->rx_frames) {
			n->rx_frames = 4;
			while (n->rx_frames < want && n->rx_frames < 65536)
				n->rx_frames <<= 1;
		}
	}
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
	/* Per connection: send ring, then the receive ring (copy) or the two frame arrays
	 * (zero copy; the send ring is padded so they are aligned). */
	sbuf_len = SL_MAX((size_t)n->cfg.sndbuf_bytes, (size_t)64);
	rx_len = n->zc ? 2 * (size_t)n->rx_frames * sizeof(struct rxf) : n->cfg.rcvbuf_bytes;
	per = sbuf_len + rx_len;
	n->ring_mem_len = per * n->cfg.max_conns;
	n->ring_mem = mmap(NULL, n->ring_mem_len, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (n->ring_mem == MAP_FAILED)
		n->ring_mem = NULL;
	if (!n->conns || !n->buckets || !n->listeners || !n->ring_mem) {
		sl_net_destroy(n);
		return -ENOMEM;
	}
	r = sl_arp_tbl_init(&n->arp, n->cfg.arp_entries);
	if (r < 0) {
		sl_net_destroy(n);
		return r;
	}
	sl_twheel_init(&n->wheel, 0);
	memset(n->buckets, 0xff, nb * sizeof(*n->buckets));
	for (uint32_t i = 0; i < n->cfg.max_conns; i++) {
		n->conns[i].idx = i;
		n->conns[i].net = n;
		n->conns[i].sbuf = n->ring_mem + per * i;
		if (n->zc) {
			n->conns[i].rxq = (struct rxf *)(void *)(n->conns[i].sbuf + sbuf_len);
			n->conns[i].oof = n->conns[i].rxq + n->rx_frames;
		} else {
			n->conns[i].rbuf = n->conns[i].sbuf + sbuf_len;
		}
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
	if (n->conns && n->ring_mem)
		for (uint32_t i = 0; i < n->cfg.max_conns; i++)
			if (n->conns[i].in_use) {
				rx_drop_all(&n->conns[i]);
				txq_fail(&n->conns[i], -ECANCELED);
			}
	if (n->ring_mem)
		munmap(n->ring_mem, n->ring_mem_len);
	sl_arp_tbl_fini(&n->arp);
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
	struct sl_arp_ent *e = NULL;
	uint32_t nh = 0;

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
	if (n->free_head == NIL)
		return -ENOMEM;
	if (!dst_mac) {
		nh = next_hop(n, ip);
		if (!nh)
			return -ENETUNREACH;
		e = sl_arp_tbl_find(&n->arp, nh);
		if (!e) {
			e = sl_arp_tbl_add(&n->arp, &n->wheel, nh);
			if (!e)
				return -ENOBUFS;
			e->timer.kind = TW_ARP;
			e->state = SL_ARP_INCOMPLETE;
			arp_try(n, e);
		} else if (e->state == SL_ARP_REACHABLE && !e->probing &&
		           now_ns - e->expire_at >= 0) {
			/* Stale: use it, and confirm it (a failed probe drops the entry). */
			e->probing = true;
			e->tries = 0;
			arp_try(n, e);
		}
	}
	c = conn_alloc(n);
	if (dst_mac) {
		memcpy(c->rmac, dst_mac, 6);
	} else if (e->state == SL_ARP_REACHABLE) {
		memcpy(c->rmac, e->mac, 6);
	} else {
		/* The SYN waits (output() holds it) until arp_learn() or arp_timer(). */
		c->arp_wait = true;
		c->nh_ip = nh;
		c->arp_next = e->waiters;
		e->waiters = c->idx;
	}
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
sl_tcp_rx_peekv(const struct sl_tcp_conn *c, size_t off, struct iovec *iov, unsigned max)
{
	uint32_t size = c->net->cfg.rcvbuf_bytes, at, len, first;
	unsigned k = 0;

	if (off >= c->rq_len || !max)
		return 0;
	if (c->net->zc) {
		for (uint32_t i = 0; i < c->rxq_cnt && k < max; i++) {
			const struct rxf *e = rxq_at(c, i);

			if (off >= e->len) {
				off -= e->len;
				continue;
			}
			iov[k].iov_base = e->p->data + e->off + off;
			iov[k].iov_len = e->len - off;
			off = 0;
			k++;
		}
		return k;
	}
	at = (c->rq_head + (uint32_t)off) & (size - 1);
	len = c->rq_len - (uint32_t)off;
	first = SL_MIN(len, size - at);
	iov[0].iov_base = c->rbuf + at;
	iov[0].iov_len = first;
	if (first == len || max < 2)
		return 1;
	iov[1].iov_base = c->rbuf;
	iov[1].iov_len = len - first;
	return 2;
}

unsigned
sl_tcp_rx_peek(const struct sl_tcp_conn *c, struct iovec iov[2])
{
	return sl_tcp_rx_peekv(c, 0, iov, 2);
}

size_t
sl_tcp_rx_window(const struct sl_tcp_conn *c)
{
	return rcv_space(c);
}

unsigned
sl_tcp_rx_frames(const struct sl_tcp_conn *c)
{
	return c->net->zc ? rx_held(c) : 0;
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
	if (n->zc) {
		size_t left = bytes;

		/* Frames wholly consumed go back to the port. */
		while (left) {
			struct rxf *e = rxq_at(c, 0);

			if (left < e->len) {
				e->off = (uint16_t)(e->off + left);
				e->len = (uint16_t)(e->len - left);
				break;
			}
			left -= e->len;
			rxf_put(n, e->p);
			c->rxq_head = (c->rxq_head + 1) & (n->rx_frames - 1);
			c->rxq_cnt--;
		}
	} else {
		c->rq_head = (c->rq_head + (uint32_t)bytes) & (n->cfg.rcvbuf_bytes - 1);
	}
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

		while (len && c->sq_ring < size && c->sq_len < SQ_MAX) {
			uint32_t at = (c->sq_head + c->sq_ring) & (size - 1);
			uint32_t k = (uint32_t)SL_MIN(
			        len, (size_t)SL_MIN(SL_MIN(size - c->sq_ring, size - at),
			                            SQ_MAX - c->sq_len));
			struct txd *d = c->txd_cnt ? txd_at(c, c->txd_cnt - 1) : NULL;

			/* Copied bytes extend the last chunk if it is a ring one. */
			if (!d || d->ext) {
				if (c->txd_cnt == TXD_MAX)
					break;
				d = txd_at(c, c->txd_cnt++);
				d->ext = NULL;
				d->ref = NULL;
				d->len = 0;
			}
			memcpy(c->sbuf + at, p, k);
			d->len += k;
			c->sq_ring += k;
			c->sq_len += k;
			p += k;
			len -= k;
			took += k;
		}
	}
	output(c);
	return (ssize_t)took;
}

int
sl_tcp_send_ref(struct sl_tcp_conn *c, const void *buf, size_t len, void *ref, int64_t now_ns)
{
	struct txd *d;

	if (c->fin_queued || c->state == SL_TCP_CLOSED)
		return -EPIPE;
	if (c->state != SL_TCP_ESTABLISHED && c->state != SL_TCP_CLOSE_WAIT)
		return -ENOTCONN;
	if (!len || len > SQ_MAX - c->sq_len)
		return -EINVAL;
	if (c->txd_cnt == TXD_MAX)
		return -EAGAIN;
	c->net->now = now_ns;
	d = txd_at(c, c->txd_cnt++);
	d->ext = buf;
	d->ref = ref;
	d->len = (uint32_t)len;
	c->sq_len += (uint32_t)len;
	output(c);
	return 0;
}

size_t
sl_tcp_send_space(const struct sl_tcp_conn *c)
{
	if (c->txd_cnt == TXD_MAX && txd_at(c, TXD_MAX - 1)->ext)
		return 0; /* no chunk left for copied bytes */
	return SL_MIN(c->net->cfg.sndbuf_bytes - c->sq_ring, SQ_MAX - c->sq_len);
}

unsigned
sl_tcp_send_refs_free(const struct sl_tcp_conn *c)
{
	return TXD_MAX - c->txd_cnt;
}

void
sl_tcp_close(struct sl_tcp_conn *c, int64_t now_ns)
{
	struct sl_net *n = c->net;

	n->now = now_ns;
	c->user_done = true;
	rx_drop_all(c); /* nobody reads them any more */
	switch (c->state) {
	case SL_TCP_CLOSED:
		conn_free(c);
		return;
	case SL_TCP_SYN_SENT:
		conn_free(c);
		return;
	case SL_TCP_SYN_RCVD:
		/* Only a simultaneous open reaches the user here. Its FIN waits for the
		 * handshake: established() moves to FIN_WAIT_1 and output() sends it. */
		c->fin_queued = true;
		return;
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
