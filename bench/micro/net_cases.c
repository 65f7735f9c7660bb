/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_cases.c: the userspace TCP/IPv4 cases bench_net.cc times (see net_cases.h).
 * Allocates at creation only; a run moves frames between the case's pool and the stack.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/bytes.h"
#include "dataplane/net/pkt.h"
#include "dataplane/net/proto.h"
#include "dataplane/net/tcp.h"

#include "net_cases.h"

#define BN_FRAME 2048     /* buffer per packet, as a DPDK mbuf's data room */
#define BN_POOL 1024      /* packets the stack may allocate (tx) */
#define BN_BURST 32       /* frames per poll, as the port's rx burst */
#define BN_PEER_FRAMES 32 /* the peer's pre-built frames */
#define BN_TXREC 1024     /* data segments one TX run may note */
#define BN_MSS 1448       /* payload per segment with timestamps on a 1500-byte MTU */
#define BN_RCVBUF (256u * 1024)
#define BN_SNDBUF (256u * 1024)
#define BN_TX_MAX_KIB 192 /* a send must fit the send ring (with room to spare) */

#define BN_OUR_IP 0x0a000001u
#define BN_PEER_IP 0x0a000002u
#define BN_PORT 9092
#define BN_PEER_PORT 40000
#define BN_PEER_ISN 1000000u
#define BN_PEER_TSVAL 4242u
#define BN_PEER_WSCALE 7

/* Frame offsets: Ethernet 14, IPv4 20 (no options), then TCP. */
#define OFF_IP 14
#define OFF_TCP 34
#define OFF_SEQ (OFF_TCP + 4)
#define OFF_ACK (OFF_TCP + 8)
#define OFF_CSUM (OFF_TCP + 16)

static const uint8_t bn_our_mac[6] = {2, 0, 0, 0, 0, 1};
static const uint8_t bn_peer_mac[6] = {2, 0, 0, 0, 0, 2};

struct sl_bnet_case {
	enum sl_bnet_kind kind;
	int arg;
	unsigned flags;
	unsigned batch;
	size_t bytes;
	struct sl_net *net;
	struct sl_tcp_conn *conn;
	struct sl_pkt_io io;
	int64_t now;
	/* the stack's pool: packets, their buffers, a free stack */
	struct sl_pkt pool[BN_POOL];
	struct sl_pkt *free[BN_POOL];
	unsigned nfree;
	uint8_t *pool_mem;
	/* the peer's frames (not in the pool: io->free only counts them back) */
	struct sl_pkt peer[BN_PEER_FRAMES];
	struct sl_pkt *peer_ptr[BN_PEER_FRAMES];
	uint8_t *peer_mem;
	unsigned peer_pending; /* frames rx_burst hands out next */
	unsigned peer_freed;
	/* what tx_burst saw */
	bool capture; /* setup: keep the last transmitted frame's headers */
	uint8_t last_tx[BN_FRAME];
	uint16_t last_tx_len;
	uint32_t tx_end[BN_TXREC]; /* end sequence number of each data segment (TX) */
	unsigned ntx_rec;
	uint64_t tx_pkts, runs;
	/* connection state as the peer sees it */
	uint32_t peer_seq; /* the peer's next sequence number */
	uint32_t our_nxt;  /* the stack's next sequence number (what the peer acknowledges) */
	/* TX: the bytes the application sends; PARSE: the frame */
	uint8_t *data;
	size_t data_len;
	uint16_t frame_len;
};

/* ---- the in-memory port ---- */

static struct sl_pkt *
bn_alloc(void *ctx)
{
	struct sl_bnet_case *c = ctx;
	struct sl_pkt *p;

	if (!c->nfree)
		return NULL;
	p = c->free[--c->nfree];
	p->len = 0;
	p->ol_flags = 0;
	return p;
}

static void
bn_free(void *ctx, struct sl_pkt *p)
{
	struct sl_bnet_case *c = ctx;

	if (p >= c->peer && p < c->peer + BN_PEER_FRAMES) {
		c->peer_freed++;
		return;
	}
	c->free[c->nfree++] = p;
}

static unsigned
bn_rx_burst(void *ctx, struct sl_pkt **pkts, unsigned n)
{
	struct sl_bnet_case *c = ctx;
	unsigned k = SL_MIN(n, c->peer_pending);

	memcpy(pkts, c->peer_ptr, k * sizeof(*pkts));
	c->peer_pending = 0;
	return k;
}

/* Notes each data segment's end sequence number and gives the frame straight back, as a
 * NIC that transmitted it at once. */
static unsigned
bn_tx_burst(void *ctx, struct sl_pkt **pkts, unsigned n)
{
	struct sl_bnet_case *c = ctx;

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *f = pkts[i]->data;
		unsigned ip_len = sl_be16(f + OFF_IP + 2);
		unsigned tcp_hlen = (unsigned)(f[OFF_TCP + 12] >> 4) * 4u;
		unsigned dlen = ip_len - 20u - tcp_hlen;

		if (c->capture) {
			memcpy(c->last_tx, f, pkts[i]->len);
			c->last_tx_len = pkts[i]->len;
		}
		if (dlen && c->ntx_rec < BN_TXREC)
			c->tx_end[c->ntx_rec++] = sl_be32(f + OFF_SEQ) + dlen;
		c->free[c->nfree++] = pkts[i];
	}
	c->tx_pkts += n;
	return n;
}

/* ---- the peer's frames ---- */

/* Replaces the 32-bit field at off (aligned to 16 bits within the TCP header) and updates
 * the TCP checksum incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). */
static void
patch32(uint8_t *f, unsigned off, uint32_t v)
{
	uint32_t old = sl_be32(f + off);
	uint32_t sum = (uint16_t)~sl_be16(f + OFF_CSUM);

	sum += (uint16_t)~(old >> 16);
	sum += (uint16_t)~(old & 0xffff);
	sum += v >> 16;
	sum += v & 0xffff;
	sl_put_be32(f + off, v);
	sl_put_be16(f + OFF_CSUM, (uint16_t)~sl_inet_fold(sum));
}

/* Builds a segment from the peer into buf; returns its length or -errno. */
static int
peer_build(uint8_t *buf, uint8_t flags, uint32_t seq, uint32_t ack, const uint8_t *data,
           size_t len, const struct sl_tcp_opts *opts)
{
	struct sl_tcp_seg_out s;
	struct iovec iov = {(void *)(uintptr_t)data, len};

	memset(&s, 0, sizeof(s));
	memcpy(s.src_mac, bn_peer_mac, 6);
	memcpy(s.dst_mac, bn_our_mac, 6);
	s.src_ip = BN_PEER_IP;
	s.dst_ip = BN_OUR_IP;
	s.sport = BN_PEER_PORT;
	s.dport = BN_PORT;
	s.seq = seq;
	s.ack = ack;
	s.flags = flags;
	s.win = 0xffff; /* << 7: 8 MiB */
	s.opts = *opts;
	s.data = &iov;
	s.ndata = len ? 1 : 0;
	s.data_len = len;
	return sl_tcp_build(buf, BN_FRAME, &s);
}

static struct sl_tcp_opts
peer_ts(void)
{
	struct sl_tcp_opts o;

	memset(&o, 0, sizeof(o));
	o.has_ts = true;
	o.tsval = BN_PEER_TSVAL; /* constant: PAWS accepts equal values */
	o.tsecr = 1;
	return o;
}

/* Feeds one frame (a copy in peer frame 0) to the stack and flushes. */
static int
peer_send_one(struct sl_bnet_case *c, const uint8_t *frame, int len)
{
	struct sl_pkt *p = &c->peer[0];

	if (len < 0)
		return len;
	memcpy(p->data, frame, (size_t)len);
	p->len = (uint16_t)len;
	p->ol_flags = 0;
	sl_net_rx(c->net, &p, 1, c->now);
	sl_net_flush(c->net);
	return 0;
}

/* ---- setup ---- */

static void
cb_established(void *arg, struct sl_tcp_conn *tc)
{
	struct sl_bnet_case *c = arg;

	c->conn = tc;
}

static void
cb_readable(void *arg, struct sl_tcp_conn *tc)
{
	(void)arg;
	(void)tc;
}

/* The peer opens a connection to the stack's listener: SYN, SYN-ACK, ACK. */
static int
handshake(struct sl_bnet_case *c)
{
	uint8_t frame[BN_FRAME];
	struct sl_tcp_opts o;
	struct sl_net_hdrs h;
	int r;

	memset(&o, 0, sizeof(o));
	o.has_mss = true;
	o.mss = 1460;
	o.has_ws = true;
	o.wscale = BN_PEER_WSCALE;
	o.sack_ok = true;
	o.has_ts = true;
	o.tsval = BN_PEER_TSVAL;
	c->capture = true;
	c->last_tx_len = 0;
	r = peer_send_one(c, frame, peer_build(frame, SL_TCP_SYN, BN_PEER_ISN, 0, NULL, 0, &o));
	if (r < 0 || !c->last_tx_len)
		return r < 0 ? r : -EPROTO;
	/* With offload the stack left its checksums to the port: do not check them. */
	r = sl_net_parse(c->last_tx, c->last_tx_len, c->flags & SL_BNET_F_OFFLOAD, &h);
	if (r != SL_NET_TCP || h.flags != (SL_TCP_SYN | SL_TCP_ACK) || !h.opts.has_ts)
		return -EPROTO;
	c->peer_seq = BN_PEER_ISN + 1;
	c->our_nxt = h.seq + 1;
	o = peer_ts();
	r = peer_send_one(c, frame,
	                  peer_build(frame, SL_TCP_ACK, c->peer_seq, c->our_nxt, NULL, 0, &o));
	c->capture = false;
	if (r < 0)
		return r;
	return c->conn && sl_tcp_state(c->conn) == SL_TCP_ESTABLISHED ? 0 : -EPROTO;
}

/* Fills the peer frames: RX: data segments of arg bytes from peer_seq on (patched per
 * run); ACK: pure ACKs of our_nxt (never changed); TX: pure ACKs (patched per run). */
static int
peer_frames(struct sl_bnet_case *c)
{
	struct sl_tcp_opts o = peer_ts();
	uint8_t payload[BN_MSS];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 131 + 7);
	for (unsigned i = 0; i < BN_PEER_FRAMES; i++) {
		struct sl_pkt *p = &c->peer[i];
		int r;

		if (c->kind == SL_BNET_RX)
			r = peer_build(p->data, SL_TCP_ACK | SL_TCP_PSH,
			               c->peer_seq + i * (uint32_t)c->arg, c->our_nxt, payload,
			               (size_t)c->arg, &o);
		else
			r = peer_build(p->data, SL_TCP_ACK, c->peer_seq, c->our_nxt, NULL, 0, &o);
		if (r < 0)
			return r;
		p->len = (uint16_t)r;
		p->ol_flags = (c->flags & SL_BNET_F_OFFLOAD) ? SL_PKT_RX_CKSUM_OK : 0;
		c->frame_len = (uint16_t)r;
	}
	return 0;
}

static void
bn_now_advance(struct sl_bnet_case *c, size_t wire_bytes)
{
	/* 10 Gb/s: 0.8 ns per byte, plus 20 bytes of preamble and gap per frame (callers
	 * count those). */
	c->now += (int64_t)(wire_bytes * 8 / 10);
}

static long run_tx(struct sl_bnet_case *c);

struct sl_bnet_case *
sl_bnet_case_create(enum sl_bnet_kind kind, int arg, unsigned flags)
{
	struct sl_bnet_case *c;
	struct sl_net_cfg cfg;
	int r;

	switch (kind) {
	case SL_BNET_RX:
	case SL_BNET_PARSE:
	case SL_BNET_PARSE_NOCSUM:
		if (arg < 1 || arg > BN_MSS)
			return NULL;
		break;
	case SL_BNET_TX:
		if (arg < 1 || arg > BN_TX_MAX_KIB)
			return NULL;
		break;
	case SL_BNET_ACK:
		break;
	default:
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->kind = kind;
	c->arg = arg;
	c->flags = kind == SL_BNET_PARSE || kind == SL_BNET_PARSE_NOCSUM ? 0 : flags;
	c->now = 1000000000LL;
	c->pool_mem = aligned_alloc(64, (size_t)BN_POOL * BN_FRAME);
	c->peer_mem = aligned_alloc(64, (size_t)BN_PEER_FRAMES * BN_FRAME);
	if (!c->pool_mem || !c->peer_mem)
		goto fail;
	/* Pre-fault every buffer. */
	memset(c->pool_mem, 0, (size_t)BN_POOL * BN_FRAME);
	memset(c->peer_mem, 0, (size_t)BN_PEER_FRAMES * BN_FRAME);
	for (unsigned i = 0; i < BN_POOL; i++) {
		c->pool[i].data = c->pool_mem + (size_t)i * BN_FRAME;
		c->pool[i].cap = BN_FRAME;
		c->free[c->nfree++] = &c->pool[BN_POOL - 1 - i];
	}
	for (unsigned i = 0; i < BN_PEER_FRAMES; i++) {
		c->peer[i].data = c->peer_mem + (size_t)i * BN_FRAME;
		c->peer[i].cap = BN_FRAME;
		c->peer_ptr[i] = &c->peer[i];
	}
	c->io.rx_burst = bn_rx_burst;
	c->io.tx_burst = bn_tx_burst;
	c->io.alloc = bn_alloc;
	c->io.free = bn_free;
	c->io.ctx = c;

	if (kind == SL_BNET_PARSE || kind == SL_BNET_PARSE_NOCSUM) {
		c->peer_seq = BN_PEER_ISN + 1;
		c->our_nxt = 77;
		c->kind = SL_BNET_RX; /* a data frame */
		r = peer_frames(c);
		c->kind = kind;
		if (r < 0)
			goto fail;
		if (kind == SL_BNET_PARSE_NOCSUM)
			c->peer[0].ol_flags = SL_PKT_RX_CKSUM_OK;
		c->batch = 1;
		c->bytes = c->frame_len;
		return c;
	}

	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, bn_our_mac, 6);
	cfg.ip = BN_OUR_IP;
	cfg.max_conns = 16;
	cfg.rcvbuf_bytes = BN_RCVBUF;
	cfg.sndbuf_bytes = BN_SNDBUF;
	cfg.secret = 0x5eed5eed5eed5eedULL;
	cfg.rx_zero_copy = (flags & SL_BNET_F_ZC) && kind == SL_BNET_RX;
	cfg.tx_csum_offload = (flags & SL_BNET_F_OFFLOAD) != 0;
	cfg.cb.established = cb_established;
	cfg.cb.readable = cb_readable;
	cfg.cb.arg = c;
	r = sl_net_create(&c->net, &cfg, &c->io);
	if (r < 0) {
		fprintf(stderr, "net_cases: sl_net_create: %d\n", r);
		goto fail;
	}
	r = sl_tcp_listen(c->net, BN_PORT, 16);
	if (r < 0)
		goto fail;
	r = handshake(c);
	if (r < 0) {
		fprintf(stderr, "net_cases: handshake failed: %d\n", r);
		goto fail;
	}
	r = peer_frames(c);
	if (r < 0)
		goto fail;
	switch (kind) {
	case SL_BNET_RX:
		c->batch = BN_BURST;
		c->bytes = (size_t)BN_BURST * (size_t)arg;
		break;
	case SL_BNET_ACK:
		c->batch = BN_BURST;
		c->bytes = (size_t)BN_BURST * c->frame_len;
		break;
	case SL_BNET_TX:
		c->data_len = (size_t)arg * 1024;
		c->data = malloc(c->data_len);
		if (!c->data)
			goto fail;
		for (size_t i = 0; i < c->data_len; i++)
			c->data[i] = (uint8_t)(i * 7 + 3);
		c->bytes = c->data_len;
		/* Warm up: slow start opens cwnd; then every run sends the whole buffer at
		 * once and the segment count is fixed. */
		c->batch = (unsigned)((c->data_len + BN_MSS - 1) / BN_MSS);
		for (int i = 0; i < 64; i++) {
			if (run_tx(c) < 0) { /* not sl_bnet_case_run: callgrind counts that */
				fprintf(stderr, "net_cases: TX warm-up failed\n");
				goto fail;
			}
		}
		break;
	default:
		break;
	}
	/* The warm-up must not count. */
	c->tx_pkts = 0;
	c->runs = 0;
	return c;
fail:
	sl_bnet_case_destroy(c);
	return NULL;
}

void
sl_bnet_case_destroy(struct sl_bnet_case *c)
{
	if (!c)
		return;
	if (c->net)
		sl_net_destroy(c->net);
	free(c->data);
	free(c->pool_mem);
	free(c->peer_mem);
	free(c);
}

unsigned
sl_bnet_case_batch(const struct sl_bnet_case *c)
{
	return c->batch;
}

size_t
sl_bnet_case_bytes(const struct sl_bnet_case *c)
{
	return c->bytes;
}

double
sl_bnet_case_tx_per_run(const struct sl_bnet_case *c)
{
	return c->runs ? (double)c->tx_pkts / (double)c->runs : 0;
}

/* ---- runs ---- */

static long
run_rx(struct sl_bnet_case *c)
{
	uint32_t len = (uint32_t)c->arg;
	struct iovec iov[BN_BURST];
	size_t avail;
	unsigned n;

	for (unsigned i = 0; i < BN_BURST; i++)
		patch32(c->peer[i].data, OFF_SEQ, c->peer_seq + i * len);
	c->peer_seq += BN_BURST * len;
	c->peer_pending = BN_BURST;
	c->peer_freed = 0;
	bn_now_advance(c, (size_t)BN_BURST * (c->frame_len + 20u));
	if (sl_net_poll(c->net, c->now) != BN_BURST)
		return -EPROTO;
	/* The application takes everything (a request parser would read the pieces). */
	avail = sl_tcp_rx_avail(c->conn);
	if (avail != (size_t)BN_BURST * len)
		return -EPROTO;
	n = sl_tcp_rx_peekv(c->conn, 0, iov, BN_BURST);
	if (!n || iov[0].iov_len == 0)
		return -EPROTO;
	sl_tcp_rx_consume(c->conn, avail, c->now);
	sl_net_flush(c->net);
	if (c->peer_freed != BN_BURST)
		return -EPROTO; /* zero copy: a frame still held */
	c->runs++;
	return BN_BURST;
}

static long
run_ack(struct sl_bnet_case *c)
{
	c->peer_pending = BN_BURST;
	c->peer_freed = 0;
	bn_now_advance(c, (size_t)BN_BURST * (c->frame_len + 20u));
	if (sl_net_poll(c->net, c->now) != BN_BURST || c->peer_freed != BN_BURST)
		return -EPROTO;
	c->runs++;
	return BN_BURST;
}

static long
run_tx(struct sl_bnet_case *c)
{
	struct iovec iov = {c->data, c->data_len};
	unsigned done = 0;
	ssize_t took;

	c->ntx_rec = 0;
	bn_now_advance(c, c->data_len + c->batch * (66u + 20u));
	took = sl_tcp_send(c->conn, &iov, 1, c->now);
	if (took != (ssize_t)c->data_len)
		return -EPROTO;
	sl_net_flush(c->net);
	/* The peer acknowledges every second segment (and the last one), bursts of 32. */
	while (done < c->ntx_rec) {
		struct sl_pkt *burst[BN_PEER_FRAMES];
		unsigned k = 0;

		while (done < c->ntx_rec && k < BN_PEER_FRAMES) {
			unsigned j = SL_MIN(done + 1, c->ntx_rec - 1);

			patch32(c->peer[k].data, OFF_ACK, c->tx_end[j]);
			burst[k] = &c->peer[k];
			k++;
			done = j + 1;
		}
		sl_net_rx(c->net, burst, k, c->now);
		sl_net_flush(c->net);
	}
	if (c->ntx_rec != c->batch || sl_tcp_send_space(c->conn) != BN_SNDBUF)
		return -EPROTO; /* cwnd still limiting, or data left unacknowledged */
	c->runs++;
	return (long)c->ntx_rec;
}

static long
run_parse(struct sl_bnet_case *c)
{
	struct sl_net_hdrs h;
	const struct sl_pkt *p = &c->peer[0];
	int r = sl_net_parse(p->data, p->len, p->ol_flags & SL_PKT_RX_CKSUM_OK, &h);

	if (r != SL_NET_TCP || h.payload_len != (uint16_t)c->arg)
		return -EPROTO;
	return 1;
}

long
sl_bnet_case_run(struct sl_bnet_case *c)
{
	switch (c->kind) {
	case SL_BNET_RX:
		return run_rx(c);
	case SL_BNET_TX:
		return run_tx(c);
	case SL_BNET_ACK:
		return run_ack(c);
	case SL_BNET_PARSE:
	case SL_BNET_PARSE_NOCSUM:
		return run_parse(c);
	}
	return -EINVAL;
}
