// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_net.c: the userspace TCP/IP stack (dataplane/net/) on scripted input: the packet
 * parser on raw frames, and the TCP state machine on well-formed segments whose fields
 * come from the input, interleaved with clock steps and user calls.
 *
 * An input is a list of records; the first byte picks the record:
 *   op % 4 == 0  raw frame:  len (1 byte) then len frame bytes, handed to sl_net_rx as is
 *   op % 4 == 1  segment:    peer (1), flags (1), seq delta (2), ack delta (2), win (2),
 *                            options mask (1), payload len (1): a valid Ethernet/IPv4/TCP
 *                            frame to port 9092 from one of four peers (flags & 0x80: with
 *                            SACK blocks derived from the fields), with seq/ack taken
 *                            relative to what the stack last sent that peer (so the fuzzer
 *                            reaches established states), payload from the input.
 *                            peer & 0x40: to the stack's latest active open towards that
 *                            peer instead (source = the address connect went to, port
 *                            9000, or 9001 with peer & 0x80; destination = the local port
 *                            the stack picked; seq/ack relative to that connection), so
 *                            SYN_SENT and simultaneous open are fuzzed too; without such a
 *                            connection yet, the segment goes to 9092 as above
 *   op % 4 == 2  clock:      step (1): advance 1 + step * 8 ms and run the timers
 *   op % 4 == 3  user call:  which (1), arg (1): send (copied, or by reference) / consume /
 *                            close / abort / connect
 *                            (connect: arg & 0x40 resolves the MAC through ARP, arg & 0x20
 *                            picks an address off the /24, reached through the gateway)
 * Every input runs twice: with the copying receive path, then with zero-copy receive (a
 * budget of 4 frames per connection, small payloads copied into tailroom up to 64 bytes).
 * Checks, besides "no crash, no leak, no out-of-bounds access": every packet goes back to
 * the port exactly once (double frees abort; the pool is empty after destroy), the
 * stack's frames always parse back with valid checksums, the received pieces add up to
 * sl_tcp_rx_avail (zero copy: each inside a frame the port has out), a connection never
 * holds more frames than its budget, and every reference sl_tcp_send_ref took is given
 * back through tx_done exactly once by the end.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "dataplane/net/pkt.h"
#include "dataplane/net/proto.h"
#include "dataplane/net/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

#define POOL 64
#define FRAME 1600
#define NPEER 4
#define NCONN 8
#define OUR_IP 0x0a000001u
#define PEER_IP0 0x0a000010u
#define ZC_FRAMES 4
#define ACT_PORT 9000 /* the port active opens connect to */

struct peer {
	uint32_t next_seq;  /* what the stack acked last */
	uint32_t stack_seq; /* the end of the stack's last segment */
};

/* The stack's latest active open towards a peer, as its segments show it. */
struct act {
	struct peer seq;
	uint32_t ip; /* PEER_IP0 + k, or off the /24 (+ 0x100) */
	uint16_t lport;
	bool seen;
};

struct fz {
	struct sl_pkt pkts[POOL];
	uint8_t bufs[POOL][FRAME];
	bool used[POOL];
	unsigned nused;
	struct peer peers[NPEER];
	struct act acts[NPEER];
	struct sl_tcp_conn *conns[NCONN];
	unsigned nconns;
	struct sl_net *n;
	int64_t now;
	bool zc;
	long refs; /* sl_tcp_send_ref calls accepted minus tx_done calls */
};

static const uint8_t our_mac[6] = {2, 0, 0, 0, 0, 1}, peer_mac[6] = {2, 0, 0, 0, 0, 2};

static struct sl_pkt *
fz_alloc(void *ctx)
{
	struct fz *f = ctx;

	for (unsigned i = 0; i < POOL; i++)
		if (!f->used[i]) {
			f->used[i] = true;
			f->nused++;
			f->pkts[i].data = f->bufs[i];
			f->pkts[i].cap = FRAME;
			f->pkts[i].len = 0;
			f->pkts[i].ol_flags = 0;
			return &f->pkts[i];
		}
	return NULL;
}

static void
fz_free(void *ctx, struct sl_pkt *p)
{
	struct fz *f = ctx;
	size_t i = (size_t)(p - f->pkts);

	CHECK(i < POOL && f->used[i]);
	f->used[i] = false;
	f->nused--;
}

/* The wire: learn the stack's sequence numbers, check its frames, drop them. */
static unsigned
fz_tx(void *ctx, struct sl_pkt **pkts, unsigned cnt)
{
	struct fz *f = ctx;

	for (unsigned i = 0; i < cnt; i++) {
		struct sl_net_hdrs h;
		int k = sl_net_parse(pkts[i]->data, pkts[i]->len, false, &h);

		CHECK(k > 0);
		if (k == SL_NET_TCP && h.dport == ACT_PORT &&
		    ((h.dst_ip - PEER_IP0) & ~0x100u) < NPEER) {
			struct act *a = &f->acts[(h.dst_ip - PEER_IP0) & 0xff];

			a->ip = h.dst_ip;
			a->lport = h.sport;
			a->seen = true;
			a->seq.stack_seq = h.seq + h.payload_len + !!(h.flags & SL_TCP_SYN) +
			                   !!(h.flags & SL_TCP_FIN);
			if (h.flags & SL_TCP_ACK)
				a->seq.next_seq = h.ack;
		} else if (k == SL_NET_TCP && h.dst_ip - PEER_IP0 < NPEER) {
			struct peer *p = &f->peers[h.dst_ip - PEER_IP0];

			p->stack_seq = h.seq + h.payload_len + !!(h.flags & SL_TCP_SYN) +
			               !!(h.flags & SL_TCP_FIN);
			if (h.flags & SL_TCP_ACK)
				p->next_seq = h.ack;
		}
		fz_free(f, pkts[i]);
	}
	return cnt;
}

static void
drop_conn(struct fz *f, unsigned i)
{
	f->conns[i] = f->conns[--f->nconns];
}

static void
cb_est(void *arg, struct sl_tcp_conn *c)
{
	struct fz *f = arg;

	if (f->nconns < NCONN) {
		/* Active opens are already in the list. */
		for (unsigned i = 0; i < f->nconns; i++)
			if (f->conns[i] == c)
				return;
		f->conns[f->nconns++] = c;
	} else {
		sl_tcp_abort(c); /* the user may let go from inside a callback */
	}
}

static void
cb_read(void *arg, struct sl_tcp_conn *c)
{
	struct fz *f = arg;
	struct iovec iov[ZC_FRAMES];
	unsigned k = f->zc ? sl_tcp_rx_peekv(c, 0, iov, ZC_FRAMES) : sl_tcp_rx_peek(c, iov);
	size_t sum = 0;

	for (unsigned i = 0; i < k; i++) {
		const uint8_t *b = iov[i].iov_base, *base = &f->bufs[0][0];

		CHECK(iov[i].iov_len > 0);
		sum += iov[i].iov_len;
		if (f->zc) {
			CHECK(b >= base && b + iov[i].iov_len <= base + sizeof(f->bufs));
			CHECK(f->used[(size_t)(b - base) / FRAME]);
		}
	}
	CHECK(sum == sl_tcp_rx_avail(c));
	CHECK(sl_tcp_rx_frames(c) <= (f->zc ? ZC_FRAMES : 0));
}

static void
cb_tx_done(void *arg, void *ref, int err)
{
	struct fz *f = arg;

	CHECK(ref == f && err <= 0);
	f->refs--;
	CHECK(f->refs >= 0);
}

static void
do_segment(struct fz *f, const uint8_t *r, const uint8_t *payload, size_t plen)
{
	const struct peer *pe = &f->peers[r[0] % NPEER];
	const struct act *a = &f->acts[r[0] % NPEER];
	struct sl_tcp_seg_out s;
	struct iovec iov = {(void *)(uintptr_t)payload, plen};
	struct sl_pkt *p = fz_alloc(f);
	int len;

	if (!p)
		return;
	memset(&s, 0, sizeof(s));
	memcpy(s.src_mac, peer_mac, 6);
	memcpy(s.dst_mac, our_mac, 6);
	s.src_ip = PEER_IP0 + r[0] % NPEER;
	s.dst_ip = OUR_IP;
	s.sport = (uint16_t)(40000 + r[0] % NPEER);
	s.dport = (r[0] & 0x80) ? 7 : 9092;
	if ((r[0] & 0x40) && a->seen) {
		pe = &a->seq;
		s.src_ip = a->ip;
		s.sport = (r[0] & 0x80) ? ACT_PORT + 1 : ACT_PORT;
		s.dport = a->lport;
	}
	s.flags = r[1] & 0x3f;
	/* Deltas are signed around what the stack expects. */
	s.seq = pe->next_seq + (uint32_t)(int16_t)sl_be16(r + 2);
	s.ack = pe->stack_seq + (uint32_t)(int16_t)sl_be16(r + 4);
	if (r[1] & 0x40)
		s.seq = sl_be16(r + 2) * 65537u; /* absolute: reach every corner of the space */
	s.win = sl_be16(r + 6);
	s.opts.has_mss = r[8] & 1;
	s.opts.mss = (uint16_t)(r[8] * 13);
	s.opts.has_ws = r[8] & 2;
	s.opts.wscale = r[8] >> 4;
	s.opts.has_ts = r[8] & 4;
	s.opts.sack_ok = r[8] & 8;
	if (r[1] & 0x80) {
		/* SACK blocks around the stack's send sequence instead of the SYN options
		 * (which would not fit beside them): up to 3 with a timestamp, 4 without. */
		s.opts.has_mss = s.opts.has_ws = s.opts.sack_ok = false;
		s.opts.nsack = (uint8_t)(1 + r[3] % (s.opts.has_ts ? 3 : 4));
		for (unsigned b = 0; b < s.opts.nsack; b++) {
			s.opts.sack[b].start = s.ack + (uint32_t)r[8] * 64 * (b + 1);
			s.opts.sack[b].end = s.opts.sack[b].start + 1u + (uint32_t)r[6] * 16;
		}
	}
	s.data = &iov;
	s.ndata = 1;
	s.data_len = plen;
	len = sl_tcp_build(p->data, p->cap, &s);
	CHECK(len > 0);
	p->len = (uint16_t)len;
	sl_net_rx(f->n, &p, 1, f->now);
}

static void
do_user(struct fz *f, uint8_t which, uint8_t arg)
{
	static const uint8_t junk[512];
	struct iovec iov[2] = {{(void *)junk, arg}, {(void *)junk, 512 - arg}};
	struct sl_tcp_conn *c;
	unsigned i;

	if (which % 8 == 7) {
		uint32_t ip = PEER_IP0 + arg % NPEER + ((arg & 0x20) ? 0x100u : 0);

		if (f->nconns < NCONN &&
		    sl_tcp_connect(f->n, &c, ip, ACT_PORT, 0, (arg & 0x40) ? NULL : peer_mac, f->now) ==
		            0)
			f->conns[f->nconns++] = c;
		return;
	}
	if (!f->nconns)
		return;
	i = (which >> 3) % f->nconns;
	c = f->conns[i];
	switch (which % 8) {
	case 0:
	case 1: {
		ssize_t r = sl_tcp_send(c, iov, 1 + (which & 1), f->now);

		CHECK(r >= 0 || r == -EPIPE || r == -ENOTCONN);
		break;
	}
	case 2: {
		int r = sl_tcp_send_ref(c, junk + (arg & 0x3f), 1 + (size_t)arg, f, f->now);

		CHECK(r == 0 || r == -EAGAIN || r == -EPIPE || r == -ENOTCONN);
		if (r == 0)
			f->refs++;
		break;
	}
	case 3:
	case 4:
		sl_tcp_rx_consume(c, (size_t)arg * 16, f->now);
		break;
	case 5:
		sl_tcp_close(c, f->now);
		drop_conn(f, i);
		break;
	case 6:
		sl_tcp_abort(c);
		drop_conn(f, i);
		break;
	}
}

static void
run(const uint8_t *data, size_t size, bool zc)
{
	static struct fz f;
	struct sl_net_cfg cfg;
	struct sl_pkt_io io = {NULL, fz_tx, fz_alloc, fz_free, &f};
	size_t i = 0;

	memset(&f, 0, sizeof(f));
	f.zc = zc;
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, our_mac, 6);
	cfg.ip = OUR_IP;
	cfg.max_conns = 6;
	cfg.rcvbuf_bytes = 4096;
	cfg.sndbuf_bytes = 2048;
	cfg.secret = 42;
	cfg.max_retries = 4;
	cfg.netmask = 0xffffff00u;
	cfg.gateway = PEER_IP0 + NPEER; /* 10.0.0.20 */
	cfg.arp_entries = 4;
	cfg.rx_zero_copy = zc;
	cfg.rx_frames = ZC_FRAMES;
	cfg.rx_copy_max = 64;
	cfg.cb.established = cb_est;
	cfg.cb.readable = cb_read;
	cfg.cb.tx_done = cb_tx_done;
	cfg.cb.arg = &f;
	f.now = 1000000000LL;
	CHECK(sl_net_create(&f.n, &cfg, &io) == 0);
	CHECK(sl_tcp_listen(f.n, 9092, 2) == 0);
	while (i < size) {
		uint8_t op = data[i++];

		switch (op % 4) {
		case 0: {
			size_t len = i < size ? data[i++] : 0;
			struct sl_pkt *p;

			len = len > size - i ? size - i : len;
			p = fz_alloc(&f);
			if (p) {
				memcpy(p->data, data + i, len);
				p->len = (uint16_t)len;
				p->ol_flags = (op & 0x80) ? SL_PKT_RX_CKSUM_OK : 0;
				sl_net_rx(f.n, &p, 1, f.now);
			}
			i += len;
			break;
		}
		case 1: {
			size_t plen;

			if (size - i < 10) {
				i = size;
				break;
			}
			plen = data[i + 9];
			plen = plen > size - i - 10 ? size - i - 10 : plen;
			do_segment(&f, data + i, data + i + 10, plen);
			i += 10 + plen;
			break;
		}
		case 2:
			f.now += 1000000LL + (int64_t)(i < size ? data[i++] : 0) * 8000000LL;
			sl_net_timers(f.n, f.now);
			break;
		default:
			if (size - i < 2) {
				i = size;
				break;
			}
			do_user(&f, data[i], data[i + 1]);
			i += 2;
			break;
		}
		sl_net_flush(f.n);
	}
	/* Let every timer run out (TIME_WAIT included), then tear down. */
	for (int k = 0; k < 40; k++) {
		f.now += 10000000000LL;
		sl_net_timers(f.n, f.now);
		sl_net_flush(f.n);
	}
	sl_net_destroy(f.n);
	CHECK(f.nused == 0);
	CHECK(f.refs == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, false);
	run(data, size, true);
	return 0;
}
