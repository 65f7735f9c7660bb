/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcp_test.c: the TCP state machine driven by scripted peer segments and a fake clock
 * (net_fake.h). Each test checks the segments the stack sends and the events it raises.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/kbuf.h"
#include "dataplane/net/net_fake.h"
#include "dataplane/net/proto.h"
#include "dataplane/net/tcp.h"

#define MS 1000000LL
#define OUR_IP 0x0a000001u
#define PEER_IP 0x0a000002u
#define PORT 9092
#define PISS 1000000u
#define SEQ_LEQ_T(a, b) ((int32_t)((a) - (b)) <= 0)

struct ev {
	unsigned established, readable, writable, rx_end, closed;
	int rx_end_err;
	struct sl_tcp_conn *last;
};

struct t {
	struct fake_net f;
	struct sl_net *n;
	struct fake_peer pe;
	struct ev ev;
	int64_t now;
	uint32_t iss; /* the stack's ISN, learnt from its SYN(-ACK) */
};

static void
cb_est(void *arg, struct sl_tcp_conn *c)
{
	struct t *t = arg;

	t->ev.established++;
	t->ev.last = c;
}

static void
cb_read(void *arg, struct sl_tcp_conn *c)
{
	struct t *t = arg;

	(void)c;
	t->ev.readable++;
}

static void
cb_write(void *arg, struct sl_tcp_conn *c)
{
	struct t *t = arg;

	(void)c;
	t->ev.writable++;
}

static void
cb_rx_end(void *arg, struct sl_tcp_conn *c, int err)
{
	struct t *t = arg;

	(void)c;
	t->ev.rx_end++;
	t->ev.rx_end_err = err;
}

static void
cb_closed(void *arg, struct sl_tcp_conn *c)
{
	struct t *t = arg;

	(void)c;
	t->ev.closed++;
}

/* cb.tx_done calls (global: sl_net_destroy makes some after the struct t is gone). */
static unsigned tx_done_n, tx_done_bad;
static void *tx_done_ref;
static int tx_done_err;

static void
cb_tx_done(void *arg, void *ref, int err)
{
	(void)arg;
	tx_done_n++;
	tx_done_ref = ref;
	tx_done_err = err;
	if (!ref)
		tx_done_bad++;
}

static uint32_t t_keepalive_ms;       /* keepalive idle time for the next t_new */
static uint32_t t_netmask, t_gateway; /* routing for the next t_new */
static unsigned t_arp_entries;
/* Zero-copy receive for the next t_new: the whole suite runs once in each mode. */
static bool t_zc;
static unsigned t_rx_frames;
static uint16_t t_copy_max;

static struct t *
t_new(unsigned max_conns, uint32_t rcvbuf, unsigned backlog)
{
	struct t *t = calloc(1, sizeof(*t));
	struct sl_net_cfg cfg;
	static const uint8_t our_mac[6] = {2, 0, 0, 0, 0, 1}, peer_mac[6] = {2, 0, 0, 0, 0, 2};

	assert_non_null(t);
	fake_init(&t->f);
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, our_mac, 6);
	cfg.ip = OUR_IP;
	cfg.max_conns = max_conns;
	cfg.rcvbuf_bytes = rcvbuf;
	cfg.sndbuf_bytes = 1 << 16;
	cfg.secret = 0x1234567890abcdefULL;
	cfg.max_retries = 3;
	cfg.keepalive_idle_ms = t_keepalive_ms;
	cfg.keepalive_intvl_ms = 100;
	cfg.keepalive_probes = 2;
	cfg.netmask = t_netmask;
	cfg.gateway = t_gateway;
	cfg.arp_entries = t_arp_entries;
	cfg.rx_zero_copy = t_zc;
	cfg.rx_frames = t_rx_frames;
	cfg.rx_copy_max = t_copy_max;
	cfg.cb.established = cb_est;
	cfg.cb.readable = cb_read;
	cfg.cb.writable = cb_write;
	cfg.cb.rx_end = cb_rx_end;
	cfg.cb.closed = cb_closed;
	cfg.cb.tx_done = cb_tx_done;
	cfg.cb.arg = t;
	assert_int_equal(sl_net_create(&t->n, &cfg, &t->f.io), 0);
	assert_int_equal(sl_tcp_listen(t->n, PORT, backlog), 0);
	memcpy(t->pe.mac, peer_mac, 6);
	memcpy(t->pe.our_mac, our_mac, 6);
	t->pe.ip = PEER_IP;
	t->pe.our_ip = OUR_IP;
	t->pe.port = 40000;
	t->pe.our_port = PORT;
	t->now = 1000 * MS;
	return t;
}

static void
t_free(struct t *t)
{
	fake_tx_clear(&t->f);
	sl_net_destroy(t->n);
	assert_int_equal(t->f.nused, 0); /* every packet went back to the pool */
	free(t);
}

static void
t_rx(struct t *t, struct sl_pkt *p)
{
	fake_tx_clear(&t->f);
	sl_net_rx(t->n, &p, 1, t->now);
	sl_net_flush(t->n);
}

static void
t_seg(struct t *t, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t win, const void *d,
      size_t len)
{
	t_rx(t, fake_tcp(&t->f, &t->pe, flags, seq, ack, win, d, len, NULL));
}

static void
t_tick(struct t *t, int64_t dt)
{
	fake_tx_clear(&t->f);
	t->now += dt;
	sl_net_timers(t->n, t->now);
	sl_net_flush(t->n);
}

/* Exactly one TCP segment went out; returns its headers. */
static void
t_one_at(struct t *t, struct sl_net_hdrs *h, int line)
{
	if (t->f.ntx != 1)
		fail_msg("line %d: %u segments sent, expected 1", line, t->f.ntx);
	assert_int_equal(fake_tx_parse(&t->f, 0, h), SL_NET_TCP);
}

#define t_one(t, h) t_one_at(t, h, __LINE__)

/* Passive open with the peer offering MSS mss and window scale 7. */
static struct sl_tcp_conn *
t_accept(struct t *t, uint16_t mss, uint32_t piss)
{
	struct sl_tcp_opts o = {.has_mss = true, .mss = mss, .has_ws = true, .wscale = 7};
	struct sl_net_hdrs h;

	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, piss, 0, 65535, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.ack, piss + 1);
	t->iss = h.seq;
	t_seg(t, SL_TCP_ACK, piss + 1, t->iss + 1, 512, NULL, 0); /* 512 << 7 = 64 KiB */
	assert_int_equal(t->f.ntx, 0);
	assert_int_equal(t->ev.established, 1);
	return t->ev.last;
}

static void
test_tcp_passive_open_synack_options_established(void **state)
{
	struct t *t = t_new(4, 1 << 20, 8);
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1460, .has_ws = true, .wscale = 7};
	struct sl_net_hdrs h;
	struct sl_tcp_conn *c;

	(void)state;
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, PISS, 0, 65535, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 1);
	assert_int_equal(h.sport, PORT);
	assert_int_equal(h.dport, 40000);
	assert_true(h.opts.has_mss);
	assert_int_equal(h.opts.mss, 1460);
	assert_true(h.opts.has_ws);
	assert_int_equal(h.opts.wscale, 5); /* 1 MiB ring >> 5 fits in 16 bits */
	assert_int_equal(t->ev.established, 0);
	/* The SYN-ACK is retransmitted when the ACK does not come. */
	t_tick(t, 1000 * MS);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	t->iss = h.seq;
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, NULL, 0);
	assert_int_equal(t->ev.established, 1);
	c = t->ev.last;
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	t_free(t);
}

static void
test_tcp_syn_to_closed_port_rst(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_net_hdrs h;

	(void)state;
	t->pe.our_port = 81;
	t_seg(t, SL_TCP_SYN, PISS, 0, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_RST | SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 1);
	assert_int_equal(h.seq, 0);
	/* An ACK gets a RST whose sequence number is the ACK's. */
	t_seg(t, SL_TCP_ACK, PISS, 777, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_RST);
	assert_int_equal(h.seq, 777);
	t_free(t);
}

static void
test_tcp_data_in_delayed_ack_then_chain(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	struct iovec iov[2];
	char buf[300];

	(void)state;
	t_seg(t, SL_TCP_ACK | SL_TCP_PSH, PISS + 1, t->iss + 1, 512, "hello", 5);
	assert_int_equal(t->ev.readable, 1);
	assert_int_equal(t->f.ntx, 0); /* the ACK is delayed */
	t_tick(t, 39 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 6);
	assert_int_equal(sl_tcp_rx_peek(c, iov), 1);
	assert_int_equal(iov[0].iov_len, 5);
	assert_memory_equal(iov[0].iov_base, "hello", 5);
	/* Two segments: the second is ACKed at once. */
	memset(buf, 'x', sizeof(buf));
	t_seg(t, SL_TCP_ACK, PISS + 6, t->iss + 1, 512, buf, 100);
	assert_int_equal(t->f.ntx, 0);
	t_seg(t, SL_TCP_ACK, PISS + 106, t->iss + 1, 512, buf, 100);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 206);
	assert_int_equal(sl_tcp_rx_avail(c), 205);
	sl_tcp_rx_consume(c, 205, t->now);
	assert_int_equal(sl_tcp_rx_avail(c), 0);
	t_free(t);
}

static void
test_tcp_data_out_rto_retransmit_backoff(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	char buf[1000];
	struct iovec iov[2] = {{buf, 600}, {buf + 600, 400}};
	struct sl_net_stats st;

	(void)state;
	memset(buf, 'k', sizeof(buf));
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, iov, 2, t->now), 1000);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.seq, t->iss + 1);
	assert_int_equal(h.payload_len, 1000);
	assert_true(h.flags & SL_TCP_PSH);
	assert_memory_equal(h.payload, buf, 1000);
	/* Initial RTO is 1 s. */
	t_tick(t, 999 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_one(t, &h);
	assert_int_equal(h.seq, t->iss + 1);
	assert_int_equal(h.payload_len, 1000);
	/* Backed off to 2 s. */
	t_tick(t, 1999 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_one(t, &h);
	assert_int_equal(h.payload_len, 1000);
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1001, 512, NULL, 0);
	assert_int_equal(sl_tcp_send_space(c), 1 << 16);
	assert_true(t->ev.writable >= 1);
	/* Karn: no RTT sample came from the retransmitted segment. */
	t_tick(t, 10000 * MS);
	assert_int_equal(t->f.ntx, 0);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.rto_expired, 2);
	assert_int_equal(st.retrans, 2);
	t_free(t);
}

static void
test_tcp_rtt_sample_sets_rto(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	char buf[10] = "0123456789";
	struct iovec iov = {buf, 10};

	(void)state;
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 10);
	t->now += 100 * MS;
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 11, 512, NULL, 0);
	/* R = 100 ms: SRTT 100, RTTVAR 50, RTO = 100 + 4 * 50 = 300 ms (RFC 6298 2.2). */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 10);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.seq, t->iss + 11);
	t_tick(t, 299 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_one(t, &h);
	assert_int_equal(h.seq, t->iss + 11);
	t_free(t);
}

static void
test_tcp_fast_retransmit_newreno(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1000, PISS);
	static char buf[8000];
	struct iovec iov = {buf, sizeof(buf)};
	struct sl_net_hdrs h;
	struct sl_net_stats st;

	(void)state;
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 8000);
	sl_net_flush(t->n);
	/* IW = min(4 * 1000, max(2 * 1000, 4380)) = 4000: four segments. */
	assert_int_equal(t->f.ntx, 4);
	/* The first segment is lost: three duplicate ACKs. */
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, NULL, 0);
	assert_int_equal(t->f.ntx, 0);
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, NULL, 0);
	assert_int_equal(t->f.ntx, 0);
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, NULL, 0);
	assert_true(t->f.ntx >= 1);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_TCP);
	assert_int_equal(h.seq, t->iss + 1);
	assert_int_equal(h.payload_len, 1000);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.fast_retrans, 1);
	/* A partial ACK (segments 1-2) retransmits segment 3 at once (RFC 6582). */
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 2001, 512, NULL, 0);
	assert_true(t->f.ntx >= 1);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_TCP);
	assert_int_equal(h.seq, t->iss + 2001);
	/* The full ACK ends recovery (nothing is retransmitted) and frees the ring. */
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 4001, 512, NULL, 0);
	for (unsigned i = 0; i < t->f.ntx; i++) {
		assert_int_equal(fake_tx_parse(&t->f, i, &h), SL_NET_TCP);
		assert_true(h.seq >= t->iss + 4001);
	}
	assert_int_equal(sl_tcp_send_space(c), (1 << 16) - 4000);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.fast_retrans, 1);
	assert_int_equal(st.retrans, 2);
	t_free(t);
}

static void
test_tcp_out_of_order_reassembled(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	struct iovec iov[2];

	(void)state;
	t_seg(t, SL_TCP_ACK, PISS + 1 + 6, t->iss + 1, 512, "world!", 6);
	t_one(t, &h); /* a duplicate ACK at once */
	assert_int_equal(h.ack, PISS + 1);
	assert_int_equal(t->ev.readable, 0);
	t_seg(t, SL_TCP_ACK, PISS + 1 + 12, t->iss + 1, 512, "??", 2);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 1);
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, "hello ", 6);
	t_one(t, &h); /* the hole is filled: ACK everything at once */
	assert_int_equal(h.ack, PISS + 15);
	assert_int_equal(t->ev.readable, 1);
	assert_int_equal(sl_tcp_rx_peek(c, iov), 1);
	assert_int_equal(iov[0].iov_len, 14);
	assert_memory_equal(iov[0].iov_base, "hello world!??", 14);
	t_free(t);
}

static void
test_tcp_peer_zero_window_probed(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	char buf[3000];
	struct iovec iov = {buf, sizeof(buf)};

	(void)state;
	memset(buf, 'z', sizeof(buf));
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 0, NULL, 0); /* window closes */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 3000);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1000 * MS);
	t_one(t, &h); /* one byte beyond the window */
	assert_int_equal(h.seq, t->iss + 1);
	assert_int_equal(h.payload_len, 1);
	/* The window opens with the probe's ACK: the rest goes. */
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 2, 100, NULL, 0);
	assert_int_equal(t->f.ntx, 3); /* 1460 + 1460 + 79 */
	assert_int_equal(fake_tx_parse(&t->f, 2, &h), SL_NET_TCP);
	assert_int_equal(h.seq, t->iss + 2 + 2920);
	assert_int_equal(h.payload_len, 79);
	t_free(t);
}

static void
test_tcp_own_window_closes_and_reopens(void **state)
{
	struct t *t = t_new(4, 4096, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	static char buf[4096];
	struct sl_net_hdrs h;

	(void)state;
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, buf, 1460);
	t_seg(t, SL_TCP_ACK, PISS + 1461, t->iss + 1, 512, buf, 1460);
	t_one(t, &h);
	assert_int_equal(h.win, 4096 - 2920);
	t_seg(t, SL_TCP_ACK, PISS + 2921, t->iss + 1, 512, buf, 1460); /* only 1176 fit */
	t_tick(t, 40 * MS);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 4097);
	assert_int_equal(h.win, 0);
	/* Beyond a zero window: dropped, answered with an ACK. */
	t_seg(t, SL_TCP_ACK, PISS + 4097, t->iss + 1, 512, buf, 10);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 4097);
	assert_int_equal(sl_tcp_rx_avail(c), 4096);
	fake_tx_clear(&t->f);
	sl_tcp_rx_consume(c, 100, t->now); /* below an MSS: no update yet (SWS) */
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 0);
	sl_tcp_rx_consume(c, 3000, t->now);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.win, 3100);
	t_free(t);
}

static void
test_tcp_peer_fin_then_close_last_ack(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	struct sl_net_stats st;

	(void)state;
	t_seg(t, SL_TCP_ACK | SL_TCP_FIN, PISS + 1, t->iss + 1, 512, "bye", 3);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 5);
	assert_int_equal(t->ev.rx_end, 1);
	assert_int_equal(t->ev.rx_end_err, 0);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSE_WAIT);
	fake_tx_clear(&t->f);
	sl_tcp_close(c, t->now);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.flags & SL_TCP_FIN, SL_TCP_FIN);
	assert_int_equal(h.seq, t->iss + 1);
	/* The FIN is retransmitted until acknowledged. */
	t_tick(t, 1000 * MS);
	t_one(t, &h);
	assert_true(h.flags & SL_TCP_FIN);
	t_seg(t, SL_TCP_ACK, PISS + 5, t->iss + 2, 512, NULL, 0);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	t_free(t);
}

static void
test_tcp_local_close_time_wait_expires(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	struct sl_net_stats st;
	char d[4] = "resp";
	struct iovec iov = {d, 4};

	(void)state;
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 4);
	sl_tcp_close(c, t->now);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 2); /* the data left at send, the FIN at close */
	assert_int_equal(fake_tx_parse(&t->f, 1, &h), SL_NET_TCP);
	assert_int_equal(h.flags, SL_TCP_ACK | SL_TCP_FIN);
	assert_int_equal(h.seq, t->iss + 5);
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 6, 512, NULL, 0);
	assert_int_equal(sl_tcp_state(c), SL_TCP_FIN_WAIT_2);
	t_seg(t, SL_TCP_ACK | SL_TCP_FIN, PISS + 1, t->iss + 6, 512, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 2);
	assert_int_equal(sl_tcp_state(c), SL_TCP_TIME_WAIT);
	/* A retransmitted FIN is ACKed again. */
	t_seg(t, SL_TCP_ACK | SL_TCP_FIN, PISS + 1, t->iss + 6, 512, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 2);
	t_tick(t, 60000 * MS);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	assert_int_equal(t->ev.closed, 0); /* the user let go at close */
	t_free(t);
}

static void
test_tcp_rst_exact_resets_inexact_challenged(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	struct sl_net_stats st;

	(void)state;
	t_seg(t, SL_TCP_RST, PISS + 100, 0, 0, NULL, 0);
	t_one(t, &h); /* RFC 5961 challenge ACK */
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 1);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	/* A SYN on an established connection is challenged too. */
	t_seg(t, SL_TCP_SYN, PISS + 5, 0, 0, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	t_seg(t, SL_TCP_RST, PISS + 1, 0, 0, NULL, 0);
	assert_int_equal(t->ev.rx_end, 1);
	assert_int_equal(t->ev.rx_end_err, -ECONNRESET);
	assert_int_equal(t->ev.closed, 1);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSED);
	sl_tcp_close(c, t->now);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	t_free(t);
}

static void
test_tcp_syn_flood_syncookies(void **state)
{
	struct t *t = t_new(8, 1 << 16, 2);
	struct sl_net_hdrs h;
	struct sl_net_stats st;
	uint32_t cookie;

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		t->pe.port = (uint16_t)(50000 + i);
		t_seg(t, SL_TCP_SYN, PISS + i, 0, 1000, NULL, 0);
		t_one(t, &h);
		assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
		cookie = h.seq;
	}
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.syncookies_sent, 1);
	assert_int_equal(st.conns_active, 2); /* the backlog */
	/* A forged ACK is refused. */
	t_seg(t, SL_TCP_ACK, PISS + 3, cookie + 2, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_RST);
	/* The real third step, carrying data, makes the connection. */
	t_seg(t, SL_TCP_ACK | SL_TCP_PSH, PISS + 3, cookie + 1, 1000, "req", 3);
	assert_int_equal(t->ev.established, 1);
	assert_int_equal(sl_tcp_rx_avail(t->ev.last), 3);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.syncookies_ok, 1);
	assert_int_equal(st.conns_active, 3);
	t_free(t);
}

static void
test_tcp_active_open_connects_and_refused(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1200};

	(void)state;
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, t->pe.mac, t->now), 0);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN);
	assert_true(h.opts.has_mss && h.opts.has_ws);
	t->pe.port = 7000;
	t->pe.our_port = 45000;
	t_rx(t,
	     fake_tcp(&t->f, &t->pe, SL_TCP_SYN | SL_TCP_ACK, PISS, h.seq + 1, 5000, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 1);
	assert_int_equal(t->ev.established, 1);
	assert_ptr_equal(t->ev.last, c);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	sl_tcp_abort(c);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 2);
	assert_int_equal(fake_tx_parse(&t->f, 1, &h), SL_NET_TCP);
	assert_true(h.flags & SL_TCP_RST);

	/* Refused: RST|ACK to our SYN. */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7001, 45001, t->pe.mac, t->now), 0);
	sl_net_flush(t->n);
	t_one(t, &h);
	t->pe.port = 7001;
	t->pe.our_port = 45001;
	t_seg(t, SL_TCP_RST | SL_TCP_ACK, 0, h.seq + 1, 0, NULL, 0);
	assert_int_equal(t->ev.rx_end_err, -ECONNREFUSED);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSED);
	sl_tcp_close(c, t->now);
	t_free(t);
}

static void
test_tcp_retries_exhausted_etimedout(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct iovec iov = {"x", 1};

	(void)state;
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 1);
	for (int i = 0; i < 4; i++)
		t_tick(t, 60000 * MS);
	assert_int_equal(t->ev.rx_end_err, -ETIMEDOUT);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSED);
	sl_tcp_close(c, t->now);
	t_free(t);
}

static void
test_tcp_sequence_wraparound_in_order(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	uint32_t piss = 0xffffffffu - 100;
	struct sl_tcp_conn *c = t_accept(t, 1460, piss);
	static char a[150], b[150];
	struct iovec iov[2];
	struct sl_net_hdrs h;
	size_t got = 0;
	unsigned k;

	(void)state;
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	/* Second segment first: it lies entirely past the wrap. */
	t_seg(t, SL_TCP_ACK, piss + 1 + 150, t->iss + 1, 512, b, 150);
	t_one(t, &h);
	assert_int_equal(h.ack, piss + 1);
	t_seg(t, SL_TCP_ACK, piss + 1, t->iss + 1, 512, a, 150);
	t_one(t, &h);
	assert_int_equal(h.ack, (uint32_t)(piss + 301));
	assert_true(h.ack < 1000);
	k = sl_tcp_rx_peek(c, iov);
	for (unsigned i = 0; i < k; i++)
		got += iov[i].iov_len;
	assert_int_equal(got, 300);
	assert_memory_equal((char *)iov[0].iov_base + 149, "ab", 2);
	t_free(t);
}

static void
test_tcp_arp_and_ping_answered(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	uint8_t frame[128];
	struct sl_net_hdrs h;
	int len;

	(void)state;
	len = sl_arp_build_request(frame, sizeof(frame), t->pe.mac, PEER_IP, OUR_IP);
	assert_int_equal(len, 42);
	t_rx(t, fake_frame(&t->f, frame, (size_t)len));
	assert_int_equal(t->f.ntx, 1);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_ARP);
	assert_int_equal(h.arp_op, 2);
	assert_int_equal(h.arp_spa, OUR_IP);
	assert_memory_equal(h.arp_sha, t->pe.our_mac, 6);
	/* An ARP for another address is ignored. */
	len = sl_arp_build_request(frame, sizeof(frame), t->pe.mac, PEER_IP, OUR_IP + 7);
	t_rx(t, fake_frame(&t->f, frame, (size_t)len));
	assert_int_equal(t->f.ntx, 0);
	/* ICMP echo request to us: an echo reply with the same data. */
	{
		uint8_t *ip = frame + 14, *ic = ip + 20;

		memset(frame, 0, sizeof(frame));
		memcpy(frame, t->pe.our_mac, 6);
		memcpy(frame + 6, t->pe.mac, 6);
		frame[12] = 0x08;
		ip[0] = 0x45;
		ip[3] = 20 + 16;
		ip[8] = 64;
		ip[9] = SL_IPPROTO_ICMP;
		ip[12] = 10, ip[15] = 2; /* 10.0.0.2 */
		ip[16] = 10, ip[19] = 1; /* 10.0.0.1 */
		uint16_t ck = (uint16_t)~sl_inet_fold(sl_inet_sum(ip, 20, 0));
		ip[10] = (uint8_t)(ck >> 8), ip[11] = (uint8_t)ck;
		ic[0] = 8;
		memcpy(ic + 8, "pingpong", 8);
		ck = (uint16_t)~sl_inet_fold(sl_inet_sum(ic, 16, 0));
		ic[2] = (uint8_t)(ck >> 8), ic[3] = (uint8_t)ck;
	}
	t_rx(t, fake_frame(&t->f, frame, 14 + 36));
	assert_int_equal(t->f.ntx, 1);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_OTHER); /* a reply, valid sums */
	assert_int_equal(h.dst_ip, PEER_IP);
	assert_int_equal(h.ip_proto, SL_IPPROTO_ICMP);
	assert_int_equal(t->f.tx[0]->data[14 + 20], 0);
	assert_memory_equal(t->f.tx[0]->data + 14 + 28, "pingpong", 8);
	t_free(t);
}

static void
test_tcp_conn_limit_full_pool_uses_cookies(void **state)
{
	struct t *t = t_new(1, 1 << 16, 8);
	struct sl_net_hdrs h;
	struct sl_net_stats st;

	(void)state;
	t_accept(t, 1460, PISS);
	t->pe.port = 40001;
	t_seg(t, SL_TCP_SYN, PISS, 0, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	/* Its ACK finds no room: dropped, no connection, no crash. */
	t_seg(t, SL_TCP_ACK, PISS + 1, h.seq + 1, 1000, NULL, 0);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 1);
	assert_int_equal(st.syncookies_sent, 1);
	t_free(t);
}

static void
t_seg_ts(struct t *t, uint8_t flags, uint32_t seq, uint32_t ack, const void *d, size_t len,
         uint32_t tsval, uint32_t tsecr)
{
	struct sl_tcp_opts o = {.has_ts = true, .tsval = tsval, .tsecr = tsecr};

	t_rx(t, fake_tcp(&t->f, &t->pe, flags, seq, ack, 512, d, len, &o));
}

/* Passive open with timestamps; the peer's clock is at 100. */
static struct sl_tcp_conn *
t_accept_ts(struct t *t)
{
	struct sl_tcp_opts o = {.has_mss = true,
	                        .mss = 1460,
	                        .has_ws = true,
	                        .wscale = 7,
	                        .has_ts = true,
	                        .tsval = 100};
	struct sl_net_hdrs h;

	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, PISS, 0, 65535, NULL, 0, &o));
	t_one(t, &h);
	assert_true(h.opts.has_ts);
	assert_int_equal(h.opts.tsecr, 100);
	assert_int_equal(h.opts.tsval, (uint32_t)(t->now / MS));
	t->iss = h.seq;
	t_seg_ts(t, SL_TCP_ACK, PISS + 1, t->iss + 1, NULL, 0, 101, h.opts.tsval);
	assert_int_equal(t->ev.established, 1);
	return t->ev.last;
}

static void
test_tcp_timestamps_negotiated_echoed_mss_reduced(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept_ts(t);
	static char buf[3000];
	struct iovec iov = {buf, sizeof(buf)};
	struct sl_net_hdrs h;

	(void)state;
	t_seg_ts(t, SL_TCP_ACK, PISS + 1, t->iss + 1, "a", 1, 102, 0);
	t_tick(t, 40 * MS);
	t_one(t, &h);
	assert_true(h.opts.has_ts);
	assert_int_equal(h.opts.tsecr, 102);
	assert_int_equal(h.opts.tsval, (uint32_t)(t->now / MS));
	/* Data segments carry 1460 - 12 bytes. */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 3000);
	sl_net_flush(t->n);
	assert_true(t->f.ntx >= 2);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_TCP);
	assert_int_equal(h.payload_len, 1448);
	assert_true(h.opts.has_ts);
	/* A segment without the option is dropped once they were negotiated (RFC 7323 3.2). */
	t_seg(t, SL_TCP_ACK, PISS + 2, t->iss + 1, 512, "b", 1);
	assert_int_equal(t->f.ntx, 0);
	assert_int_equal(sl_tcp_rx_avail(c), 1);
	t_free(t);
}

static void
test_tcp_paws_old_timestamp_dropped_and_acked(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept_ts(t);
	struct sl_net_hdrs h;
	struct sl_net_stats st;

	(void)state;
	t_seg_ts(t, SL_TCP_ACK, PISS + 1, t->iss + 1, "new", 3, 5000, 0);
	assert_int_equal(sl_tcp_rx_avail(c), 3);
	/* A segment from an old incarnation of the sequence space: seq fits, tsval is old. */
	t_seg_ts(t, SL_TCP_ACK, PISS + 4, t->iss + 1, "old", 3, 4000, 0);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 4);
	assert_int_equal(h.opts.tsecr, 5000);
	assert_int_equal(sl_tcp_rx_avail(c), 3);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.paws_drops, 1);
	/* Across the 2^31 wrap of the timestamp clock, newer still wins. */
	t_seg_ts(t, SL_TCP_ACK, PISS + 4, t->iss + 1, "ok", 2, 5000 + 0x7fffffffu, 0);
	assert_int_equal(sl_tcp_rx_avail(c), 5);
	t_free(t);
}

static void
test_tcp_keepalive_probes_then_etimedout(void **state)
{
	struct t *t;
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;

	(void)state;
	t_keepalive_ms = 1000;
	t = t_new(4, 1 << 16, 8);
	t_keepalive_ms = 0;
	c = t_accept(t, 1460, PISS);
	t_tick(t, 999 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.seq, t->iss); /* snd_una - 1 */
	assert_int_equal(h.payload_len, 0);
	/* The peer answers: idle again, the next probe comes a full idle time later. */
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, NULL, 0);
	t_tick(t, 999 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_one(t, &h);
	/* Silence: one more probe after the interval, then the connection is dead. */
	t_tick(t, 100 * MS);
	t_one(t, &h);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	t_tick(t, 100 * MS);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSED);
	assert_int_equal(t->ev.rx_end_err, -ETIMEDOUT);
	sl_tcp_close(c, t->now);
	t_free(t);
}

static void
test_tcp_rx_ring_wraps_chain_reads_kafka_frame(void **state)
{
	struct t *t = t_new(4, 4096, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	static uint8_t buf[1460];
	uint8_t frame[16], body[12];
	struct iovec iov[2];
	struct sl_crd rd;
	uint32_t seq = PISS + 1;
	unsigned k;

	(void)state;
	/* 3 x 1300 bytes in and consumed: the next bytes start 196 bytes before the end. */
	for (int i = 0; i < 3; i++) {
		t_seg(t, SL_TCP_ACK, seq, t->iss + 1, 512, buf, 1300);
		seq += 1300;
		sl_tcp_rx_consume(c, 1300, t->now);
	}
	/* A 4-byte size prefix and a 12-byte body across the wrap. */
	memset(buf, 0xee, 192);
	frame[0] = 0;
	frame[1] = 0;
	frame[2] = 0;
	frame[3] = 12;
	memcpy(frame + 4, "ApiVersions!", 12);
	memcpy(buf + 192, frame, 16);
	t_seg(t, SL_TCP_ACK, seq, t->iss + 1, 512, buf, 208);
	sl_tcp_rx_consume(c, 192, t->now);
	k = sl_tcp_rx_peek(c, iov);
	if (t_zc) {
		/* Zero copy: no ring to wrap; the frame's remaining 16 bytes, in place. */
		assert_int_equal(k, 1);
		assert_int_equal(iov[0].iov_len, 16);
	} else {
		assert_int_equal(k, 2);
		assert_int_equal(iov[0].iov_len, 4);
		assert_int_equal(iov[1].iov_len, 12);
	}
	/* The request path reads it in place, straight from the two ring pieces. */
	sl_crd_init(&rd, iov, k, sl_tcp_rx_avail(c), NULL);
	assert_int_equal(sl_crd_i32(&rd), 12);
	sl_crd_copy(&rd, body, 12);
	assert_int_equal(rd.err, 0);
	assert_memory_equal(body, "ApiVersions!", 12);
	t_free(t);
}

static void
test_tcp_send_sequence_wraps(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1000};
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;
	static char buf[3000];
	struct iovec iov = {buf, sizeof(buf)};
	uint32_t iss0, target = 0xffffffffu - 1500;

	(void)state;
	/* The ISN is clock/4 us + a keyed hash of the tuple: find the clock that puts it just
	 * below 2^32 (RFC 6528). */
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, t->pe.mac, t->now), 0);
	sl_net_flush(t->n);
	t_one(t, &h);
	iss0 = h.seq;
	sl_tcp_abort(c);
	t->now += (int64_t)(uint32_t)(target - iss0) * 4000;
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, t->pe.mac, t->now), 0);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.seq, target);
	t->pe.port = 7000;
	t->pe.our_port = 45000;
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN | SL_TCP_ACK, PISS, target + 1, 60000, NULL, 0,
	                 &o));
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	fake_tx_clear(&t->f);
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (char)i;
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 3000);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 3);
	assert_int_equal(fake_tx_parse(&t->f, 2, &h), SL_NET_TCP);
	assert_int_equal(h.seq, target + 1 + 2000); /* past the wrap */
	assert_true(h.seq < 1000);
	assert_memory_equal(h.payload, buf + 2000, 1000);
	/* A loss across the wrap: the timeout resends from snd_una, below 2^32. */
	t_seg(t, SL_TCP_ACK, PISS + 1, target + 1001, 60000, NULL, 0);
	assert_int_equal(sl_tcp_send_space(c), (1 << 16) - 2000);
	t_tick(t, 1000 * MS);
	t_one(t, &h);
	assert_int_equal(h.seq, target + 1001);
	assert_memory_equal(h.payload, buf + 1000, 1000);
	t_seg(t, SL_TCP_ACK, PISS + 1, target + 3001, 60000, NULL, 0);
	assert_int_equal(sl_tcp_send_space(c), 1 << 16);
	t_free(t);
}

static void
test_tcp_zero_window_probes_go_on_while_peer_answers(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_hdrs h;
	struct iovec iov = {"data", 4};
	unsigned probes = 0;

	(void)state;
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 0, NULL, 0);
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 4);
	/* max_retries is 3: far more probes than that, each answered with a zero window. */
	for (int i = 0; i < 40; i++) {
		t_tick(t, 60000 * MS);
		for (unsigned k = 0; k < t->f.ntx; k++) {
			assert_int_equal(fake_tx_parse(&t->f, k, &h), SL_NET_TCP);
			assert_int_equal(h.seq, t->iss + 1);
			assert_true(h.payload_len <= 1);
			probes++;
		}
		if (t->f.ntx)
			t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 0, NULL, 0);
	}
	assert_true(probes >= 10);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	assert_int_equal(t->ev.rx_end, 0);
	/* When the peer falls silent, the connection times out. */
	for (int i = 0; i < 40; i++)
		t_tick(t, 60000 * MS);
	assert_int_equal(t->ev.rx_end_err, -ETIMEDOUT);
	sl_tcp_close(c, t->now);
	t_free(t);
}

static void
test_tcp_fin_wait_2_silent_peer_freed(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_stats st;

	(void)state;
	sl_tcp_close(c, t->now);
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 2, 512, NULL, 0);
	assert_int_equal(sl_tcp_state(c), SL_TCP_FIN_WAIT_2);
	t_tick(t, 59999 * MS);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 1);
	t_tick(t, 1 * MS);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	t_free(t);
}

/* ---- ARP cache and routing ---- */

#define GW_IP 0x0a0000feu  /* 10.0.0.254 */
#define FAR_IP 0xc0a80105u /* 192.168.1.5 */

static const uint8_t gw_mac[6] = {2, 0, 0, 0, 0, 0xfe};

static struct t *
t_new_route(uint32_t netmask, uint32_t gateway, unsigned arp_entries)
{
	struct t *t;

	t_netmask = netmask;
	t_gateway = gateway;
	t_arp_entries = arp_entries;
	t = t_new(8, 1 << 16, 8);
	t_netmask = t_gateway = 0;
	t_arp_entries = 0;
	return t;
}

/* Exactly one frame went out and it is an ARP request for tpa. */
static void
t_arp_req_at(struct t *t, uint32_t tpa, int line)
{
	struct sl_net_hdrs h;

	if (t->f.ntx != 1)
		fail_msg("line %d: %u frames sent, expected 1 ARP request", line, t->f.ntx);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_ARP);
	assert_int_equal(h.arp_op, 1);
	assert_int_equal(h.arp_tpa, tpa);
	assert_int_equal(h.arp_spa, OUR_IP);
	assert_memory_equal(h.arp_sha, t->pe.our_mac, 6);
	assert_memory_equal(h.dst_mac, "\xff\xff\xff\xff\xff\xff", 6);
}

#define t_arp_req(t, tpa) t_arp_req_at(t, tpa, __LINE__)

/* The host at ip (MAC mac) sends the stack an ARP packet: op 1 (request for tpa) or op 2
 * (reply to us). */
static void
t_arp_from(struct t *t, uint16_t op, const uint8_t mac[6], uint32_t ip, uint32_t tpa)
{
	uint8_t frame[64];
	int len;

	if (op == 1) {
		len = sl_arp_build_request(frame, sizeof(frame), mac, ip, tpa);
	} else {
		struct sl_net_hdrs req;

		memset(&req, 0, sizeof(req));
		memcpy(req.arp_sha, t->pe.our_mac, 6);
		req.arp_spa = tpa;
		len = sl_arp_build_reply(frame, sizeof(frame), &req, mac, ip);
	}
	assert_int_equal(len, 42);
	t_rx(t, fake_frame(&t->f, frame, (size_t)len));
}

/* Exactly one segment went out: a SYN to ip:port through MAC mac. Returns its seq. */
static uint32_t
t_syn_to_at(struct t *t, uint32_t ip, uint16_t port, const uint8_t mac[6], int line)
{
	struct sl_net_hdrs h;

	t_one_at(t, &h, line);
	assert_int_equal(h.flags, SL_TCP_SYN);
	assert_int_equal(h.dst_ip, ip);
	assert_int_equal(h.dport, port);
	assert_memory_equal(h.dst_mac, mac, 6);
	return h.seq;
}

#define t_syn_to(t, ip, port, mac) t_syn_to_at(t, ip, port, mac, __LINE__)

static void
test_tcp_arp_syn_waits_for_reply_then_sent(void **state)
{
	struct t *t = t_new_route(0, 0, 0);
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1460};
	struct sl_tcp_conn *c, *c2;
	struct sl_net_stats st;
	struct sl_net_hdrs h;
	uint32_t seq;

	(void)state;
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_arp_req(t, PEER_IP); /* and no SYN yet */
	assert_int_equal(sl_tcp_state(c), SL_TCP_SYN_SENT);
	/* The SYN is not retransmitted while it waits: nothing but ARP goes out. */
	t_tick(t, 500 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	seq = t_syn_to(t, PEER_IP, 7000, t->pe.mac);
	/* The handshake completes as with a MAC given. */
	t->pe.port = 7000;
	t->pe.our_port = 45000;
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN | SL_TCP_ACK, PISS, seq + 1, 5000, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(t->ev.established, 1);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	/* A second connection finds the MAC in the cache: its SYN leaves at once. */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c2, PEER_IP, 7000, 0, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_syn_to(t, PEER_IP, 7000, t->pe.mac);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.arp_req_sent, 1);
	assert_int_equal(st.arp_learned, 1);
	sl_tcp_abort(c);
	sl_tcp_abort(c2);
	t_free(t);
}

static void
test_tcp_arp_unanswered_retries_then_ehostunreach(void **state)
{
	struct t *t = t_new_route(0, 0, 0);
	struct sl_tcp_conn *c, *c2;
	struct sl_net_stats st;

	(void)state;
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	assert_int_equal(sl_tcp_connect(t->n, &c2, PEER_IP, 7000, 45001, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_arp_req(t, PEER_IP); /* one request for both */
	t_tick(t, 999 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_arp_req(t, PEER_IP); /* try 2 after 1 s */
	t_tick(t, 1000 * MS);
	t_arp_req(t, PEER_IP); /* try 3 */
	assert_int_equal(t->ev.rx_end, 0);
	t_tick(t, 1000 * MS);
	assert_int_equal(t->f.ntx, 0); /* no SYN, no fourth request */
	assert_int_equal(t->ev.rx_end, 2);
	assert_int_equal(t->ev.rx_end_err, -EHOSTUNREACH);
	assert_int_equal(t->ev.closed, 2);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSED);
	assert_int_equal(sl_tcp_state(c2), SL_TCP_CLOSED);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.arp_req_sent, 3);
	assert_int_equal(st.arp_failed, 1);
	sl_tcp_close(c, t->now);
	sl_tcp_close(c2, t->now);
	/* The failure is not remembered: the next connect asks again. */
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_arp_req(t, PEER_IP);
	/* A late answer still sends the SYN. */
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	t_syn_to(t, PEER_IP, 7000, t->pe.mac);
	sl_tcp_abort(c);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	t_free(t);
}

static void
test_tcp_arp_waiter_closed_before_reply_no_syn(void **state)
{
	struct t *t = t_new_route(0, 0, 0);
	struct sl_tcp_conn *c, *c2, *c3;
	struct sl_net_stats st;

	(void)state;
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	assert_int_equal(sl_tcp_connect(t->n, &c2, PEER_IP, 7000, 45001, NULL, t->now), 0);
	assert_int_equal(sl_tcp_connect(t->n, &c3, PEER_IP, 7000, 45002, NULL, t->now), 0);
	sl_tcp_close(c2, t->now); /* the middle of the waiting list */
	sl_tcp_abort(c);          /* the user is done with it: no events */
	assert_int_equal(t->ev.rx_end, 0);
	sl_net_flush(t->n);
	t_arp_req(t, PEER_IP); /* one request, before any answer */
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	/* Only c3's SYN, from local port 45002. */
	t_syn_to(t, PEER_IP, 7000, t->pe.mac);
	{
		struct sl_net_hdrs h;

		assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_TCP);
		assert_int_equal(h.sport, 45002);
	}
	sl_tcp_abort(c3);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	t_free(t);
}

static void
test_tcp_arp_learns_from_requests_for_us_only(void **state)
{
	struct t *t = t_new_route(0, 0, 0);
	static const uint8_t other_mac[6] = {2, 0, 0, 0, 0, 0x33},
	                     new_mac[6] = {2, 0, 0, 0, 0, 0x44};
	struct sl_tcp_conn *c;

	(void)state;
	/* A request for us from the peer: answered, and the peer's MAC is learnt. */
	t_arp_from(t, 1, t->pe.mac, PEER_IP, OUR_IP);
	assert_int_equal(t->f.ntx, 1);
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_syn_to(t, PEER_IP, 7000, t->pe.mac);
	sl_tcp_abort(c);
	/* A request between two other hosts teaches nothing new. */
	t_arp_from(t, 1, other_mac, PEER_IP + 1, PEER_IP + 2);
	assert_int_equal(t->f.ntx, 0);
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP + 1, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_arp_req(t, PEER_IP + 1);
	sl_tcp_abort(c);
	/* ... but a known host's gratuitous ARP updates its entry (RFC 826 merge). */
	t_arp_from(t, 1, new_mac, PEER_IP, PEER_IP);
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_syn_to(t, PEER_IP, 7000, new_mac);
	sl_tcp_abort(c);
	/* Probes (sender 0.0.0.0) are answered but teach nothing. */
	t_arp_from(t, 1, other_mac, 0, OUR_IP);
	assert_int_equal(t->f.ntx, 1);
	fake_tx_clear(&t->f);
	t_free(t);
}

static void
test_tcp_arp_entry_expires_probe_unanswered_dropped(void **state)
{
	struct t *t = t_new_route(0, 0, 0);
	struct sl_tcp_conn *c;

	(void)state;
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	/* Fresh for 60 s: no request. */
	t_tick(t, 59999 * MS);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_syn_to(t, PEER_IP, 7000, t->pe.mac);
	sl_tcp_abort(c);
	/* Stale: still used at once, and a request goes out to confirm it. */
	t_tick(t, 1 * MS);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 2);
	{
		struct sl_net_hdrs h;

		assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_ARP);
		assert_int_equal(h.arp_tpa, PEER_IP);
		assert_int_equal(fake_tx_parse(&t->f, 1, &h), SL_NET_TCP);
		assert_memory_equal(h.dst_mac, t->pe.mac, 6);
	}
	sl_tcp_abort(c);
	/* Nobody confirms it: 3 requests, then the entry is gone ... */
	t_tick(t, 1000 * MS);
	t_arp_req(t, PEER_IP);
	t_tick(t, 1000 * MS);
	t_arp_req(t, PEER_IP);
	t_tick(t, 1000 * MS);
	assert_int_equal(t->f.ntx, 0);
	/* ... and the next connection waits for a fresh answer. */
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_arp_req(t, PEER_IP);
	/* An answer to the probe would have refreshed it: check on a second entry. */
	sl_tcp_abort(c);
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	t_tick(t, 60000 * MS);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 2); /* probe + SYN */
	sl_tcp_abort(c);
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	t_tick(t, 5000 * MS);
	assert_int_equal(t->f.ntx, 0); /* confirmed: no more requests */
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_syn_to(t, PEER_IP, 7000, t->pe.mac);
	sl_tcp_abort(c);
	t_free(t);
}

static void
test_tcp_gateway_routes_off_subnet(void **state)
{
	struct t *t = t_new_route(0xffffff00u, GW_IP, 0);
	struct sl_tcp_conn *c, *c2;
	struct sl_net_stats st;

	(void)state;
	fake_tx_clear(&t->f);
	/* Off the subnet: resolve the gateway, send to the destination through its MAC. */
	assert_int_equal(sl_tcp_connect(t->n, &c, FAR_IP, 9092, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_arp_req(t, GW_IP);
	/* On the subnet: resolve the destination itself. */
	assert_int_equal(sl_tcp_connect(t->n, &c2, PEER_IP, 9092, 45001, NULL, t->now), 0);
	sl_net_flush(t->n);
	fake_tx_clear(&t->f);
	t_arp_from(t, 2, gw_mac, GW_IP, OUR_IP);
	t_syn_to(t, FAR_IP, 9092, gw_mac);
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	t_syn_to(t, PEER_IP, 9092, t->pe.mac);
	sl_tcp_abort(c);
	sl_tcp_abort(c2);
	/* Another far host shares the gateway's entry: no request. */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, FAR_IP + 1, 9092, 45000, NULL, t->now), 0);
	sl_net_flush(t->n);
	t_syn_to(t, FAR_IP + 1, 9092, gw_mac);
	sl_tcp_abort(c);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.arp_req_sent, 2);
	t_free(t);

	/* No gateway: off-subnet is unreachable; a gateway off the subnet is refused. */
	t = t_new_route(0xffffff00u, 0, 0);
	assert_int_equal(sl_tcp_connect(t->n, &c, FAR_IP, 9092, 45000, NULL, t->now), -ENETUNREACH);
	/* A MAC given by the caller bypasses routing, as before. */
	assert_int_equal(sl_tcp_connect(t->n, &c, FAR_IP, 9092, 45000, gw_mac, t->now), 0);
	sl_net_flush(t->n);
	t_syn_to(t, FAR_IP, 9092, gw_mac);
	sl_tcp_abort(c);
	t_free(t);
	{
		struct fake_net *f = calloc(1, sizeof(*f));
		struct sl_net_cfg cfg;
		struct sl_net *n;

		assert_non_null(f);
		fake_init(f);
		memset(&cfg, 0, sizeof(cfg));
		cfg.ip = OUR_IP;
		cfg.max_conns = 2;
		cfg.rcvbuf_bytes = cfg.sndbuf_bytes = 1 << 16;
		cfg.netmask = 0xffffff00u;
		cfg.gateway = FAR_IP;
		assert_int_equal(sl_net_create(&n, &cfg, &f->io), -EINVAL);
		cfg.gateway = GW_IP;
		cfg.netmask = 0xff00ff00u; /* not contiguous */
		assert_int_equal(sl_net_create(&n, &cfg, &f->io), -EINVAL);
		free(f);
	}
}

static void
test_tcp_arp_table_full_of_pending_enobufs(void **state)
{
	struct t *t = t_new_route(0, 0, 2);
	struct sl_tcp_conn *c[4];

	(void)state;
	assert_int_equal(sl_tcp_connect(t->n, &c[0], PEER_IP, 7000, 0, NULL, t->now), 0);
	assert_int_equal(sl_tcp_connect(t->n, &c[1], PEER_IP + 1, 7000, 0, NULL, t->now), 0);
	assert_int_equal(sl_tcp_connect(t->n, &c[2], PEER_IP + 2, 7000, 0, NULL, t->now), -ENOBUFS);
	/* Once an entry is resolved it can be reused for a new address. */
	t_arp_from(t, 2, t->pe.mac, PEER_IP, OUR_IP);
	sl_tcp_abort(c[0]);
	assert_int_equal(sl_tcp_connect(t->n, &c[2], PEER_IP + 2, 7000, 0, NULL, t->now), 0);
	/* The evicted address must be asked for again. */
	fake_tx_clear(&t->f);
	sl_net_flush(t->n);
	t_arp_req(t, PEER_IP + 2);
	sl_tcp_abort(c[1]);
	sl_tcp_abort(c[2]);
	t_free(t);
}

/* ---- timer wheel ---- */

static void
test_tcp_timers_cost_only_what_is_due(void **state)
{
	struct t *t = t_new(1024, 1 << 16, 8);
	struct sl_tcp_conn *c = NULL;
	struct sl_net_stats st;
	struct sl_net_hdrs h;

	(void)state;
	/* Three idle connections in a pool of 1024. */
	for (unsigned i = 0; i < 3; i++) {
		t->pe.port = (uint16_t)(40000 + i);
		c = t_accept(t, 1460, PISS);
		t->ev.established = 0;
	}
	/* Idle: thousands of runs, no timer handled. */
	for (unsigned i = 0; i < 5000; i++)
		t_tick(t, 20000); /* 20 us */
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.timers_fired, 0);
	/* Data on the last one arms its delayed ACK: one timer, one ACK. */
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, "abc", 3);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 39 * MS);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1 * MS);
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 4);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.timers_fired, 1);
	(void)c;
	t_free(t);
}

static void
test_tcp_keepalive_after_weeks_idle_on_time(void **state)
{
	struct t *t;
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;
	const int64_t idle = 20LL * 24 * 3600 * 1000 * MS; /* past the wheel's 13-day span */
	int64_t start;

	(void)state;
	t_keepalive_ms = (uint32_t)(idle / MS);
	t = t_new(4, 1 << 16, 8);
	t_keepalive_ms = 0;
	c = t_accept(t, 1460, PISS);
	start = t->now;
	/* An hour at a time, then the last hour to the ms. */
	while (t->now + 3600 * 1000 * MS < start + idle) {
		t_tick(t, 3600 * 1000 * MS);
		assert_int_equal(t->f.ntx, 0);
	}
	t_tick(t, start + idle - 1 - t->now);
	assert_int_equal(t->f.ntx, 0);
	t_tick(t, 1);
	t_one(t, &h);
	assert_int_equal(h.seq, t->iss); /* the probe */
	t_tick(t, 100 * MS);
	t_one(t, &h);
	t_tick(t, 100 * MS);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSED);
	assert_int_equal(t->ev.rx_end_err, -ETIMEDOUT);
	sl_tcp_close(c, t->now);
	t_free(t);
}

/* ---- SACK (RFC 2018) ---- */

/* Passive open with the peer's SYN options o (window scale 7 expected in o). */
static struct sl_tcp_conn *
t_accept_o(struct t *t, const struct sl_tcp_opts *o, struct sl_net_hdrs *synack)
{
	struct sl_tcp_opts ao = {0};

	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, PISS, 0, 65535, NULL, 0, o));
	t_one(t, synack);
	assert_int_equal(synack->flags, SL_TCP_SYN | SL_TCP_ACK);
	t->iss = synack->seq;
	ao.has_ts = o->has_ts;
	ao.tsval = o->tsval;
	ao.tsecr = synack->opts.tsval;
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, NULL, 0, &ao));
	assert_int_equal(t->ev.established, 1);
	return t->ev.last;
}

/* A peer segment with SACK blocks (and a timestamp when ts). */
static void
t_seg_sack(struct t *t, uint32_t seq, uint32_t ack, const void *d, size_t len, bool ts,
           unsigned nsack, const uint32_t *blocks)
{
	struct sl_tcp_opts o = {0};

	o.has_ts = ts;
	o.tsval = 5;
	o.nsack = (uint8_t)nsack;
	for (unsigned i = 0; i < nsack; i++) {
		o.sack[i].start = blocks[2 * i];
		o.sack[i].end = blocks[2 * i + 1];
	}
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_ACK, seq, ack, 512, d, len, &o));
}

static void
test_tcp_sack_ooo_acks_carry_blocks_most_recent_first(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_opts o = {
	        .has_mss = true, .mss = 1460, .has_ws = true, .wscale = 7, .sack_ok = true};
	struct sl_net_hdrs h;
	uint32_t r = PISS + 1; /* rcv_nxt */

	(void)state;
	t_accept_o(t, &o, &h);
	assert_true(h.opts.sack_ok); /* SACK-permitted echoed in the SYN-ACK */
	t_seg_sack(t, r + 6, t->iss + 1, "world!", 6, false, 0, NULL);
	t_one(t, &h);
	assert_int_equal(h.ack, r);
	assert_int_equal(h.opts.nsack, 1);
	assert_int_equal(h.opts.sack[0].start, r + 6);
	assert_int_equal(h.opts.sack[0].end, r + 12);
	/* A second island: it comes first. */
	t_seg_sack(t, r + 14, t->iss + 1, "??", 2, false, 0, NULL);
	t_one(t, &h);
	assert_int_equal(h.opts.nsack, 2);
	assert_int_equal(h.opts.sack[0].start, r + 14);
	assert_int_equal(h.opts.sack[0].end, r + 16);
	assert_int_equal(h.opts.sack[1].start, r + 6);
	assert_int_equal(h.opts.sack[1].end, r + 12);
	/* The gap between them: one block. */
	t_seg_sack(t, r + 12, t->iss + 1, "--", 2, false, 0, NULL);
	t_one(t, &h);
	assert_int_equal(h.opts.nsack, 1);
	assert_int_equal(h.opts.sack[0].start, r + 6);
	assert_int_equal(h.opts.sack[0].end, r + 16);
	/* The head: everything in order, no block left. */
	t_seg_sack(t, r, t->iss + 1, "hello ", 6, false, 0, NULL);
	t_one(t, &h);
	assert_int_equal(h.ack, r + 16);
	assert_int_equal(h.opts.nsack, 0);
	t_free(t);
}

static void
test_tcp_sack_not_permitted_no_blocks(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1460, .has_ws = true, .wscale = 7};
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;

	(void)state;
	t_accept_o(t, &o, &h);
	assert_false(h.opts.sack_ok);
	t_seg_sack(t, PISS + 7, t->iss + 1, "world!", 6, false, 0, NULL);
	t_one(t, &h);
	assert_int_equal(h.opts.nsack, 0);
	/* Our own SYN always offers it. */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, &c, PEER_IP, 7000, 45000, t->pe.mac, t->now), 0);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_true(h.opts.sack_ok);
	sl_tcp_abort(c);
	t_free(t);
}

static void
test_tcp_sack_blocks_fit_beside_timestamps(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_opts o = {.has_mss = true,
	                        .mss = 1460,
	                        .has_ws = true,
	                        .wscale = 7,
	                        .sack_ok = true,
	                        .has_ts = true,
	                        .tsval = 5};
	struct sl_net_hdrs h;
	uint32_t r = PISS + 1;

	(void)state;
	t_accept_o(t, &o, &h);
	/* Five islands; with the timestamp option only three blocks fit in 40 bytes. */
	for (unsigned i = 0; i < 5; i++)
		t_seg_sack(t, r + 10 * (i + 1), t->iss + 1, "x", 1, true, 0, NULL);
	t_one(t, &h); /* parses: the options are well formed */
	assert_true(h.opts.has_ts);
	assert_int_equal(h.opts.nsack, 3);
	assert_int_equal(h.opts.sack[0].start, r + 50);
	assert_int_equal(h.opts.sack[1].start, r + 40);
	assert_int_equal(h.opts.sack[2].start, r + 30);
	t_free(t);
}

static void
test_tcp_sack_recovery_resends_holes_not_new_data(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_opts o = {
	        .has_mss = true, .mss = 1000, .has_ws = true, .wscale = 7, .sack_ok = true};
	static char buf[20000];
	struct iovec iov = {buf, sizeof(buf)};
	struct sl_tcp_conn *c;
	struct sl_net_stats st;
	struct sl_net_hdrs h;
	uint32_t i0, bl[4];

	(void)state;
	c = t_accept_o(t, &o, &h);
	i0 = t->iss + 1;
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &iov, 1, t->now), 20000);
	/* Slow start: four segments, each ACKed alone, cwnd 4000 -> 8000; in flight then
	 * [i0 + 4000, i0 + 12000), segments A..H. */
	for (uint32_t k = 1; k <= 4; k++)
		t_seg_sack(t, PISS + 1, i0 + 1000 * k, NULL, 0, false, 0, NULL);
	/* A (4000) and C (6000) are lost; B, D, E, F arrive: SACKed duplicate ACKs. */
	bl[0] = i0 + 5000, bl[1] = i0 + 6000;
	t_seg_sack(t, PISS + 1, i0 + 4000, NULL, 0, false, 1, bl);
	assert_int_equal(t->f.ntx, 0);
	bl[0] = i0 + 7000, bl[1] = i0 + 8000, bl[2] = i0 + 5000, bl[3] = i0 + 6000;
	t_seg_sack(t, PISS + 1, i0 + 4000, NULL, 0, false, 2, bl);
	assert_int_equal(t->f.ntx, 0);
	bl[1] = i0 + 9000;
	t_seg_sack(t, PISS + 1, i0 + 4000, NULL, 0, false, 2, bl);
	assert_true(t->f.ntx >= 1); /* fast retransmit of A */
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_TCP);
	assert_int_equal(h.seq, i0 + 4000);
	assert_int_equal(h.payload_len, 1000);
	/* The fourth: NewReno would send new data; with SACK, C is the hole to fill. */
	bl[1] = i0 + 10000;
	t_seg_sack(t, PISS + 1, i0 + 4000, NULL, 0, false, 2, bl);
	t_one(t, &h);
	assert_int_equal(h.seq, i0 + 6000);
	assert_int_equal(h.payload_len, 1000);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.sack_rexmits, 1);
	assert_int_equal(st.fast_retrans, 1);
	/* A's retransmission arrives: a partial ACK up to C, which was already resent:
	 * nothing is sent twice. */
	bl[0] = i0 + 7000, bl[1] = i0 + 10000;
	t_seg_sack(t, PISS + 1, i0 + 6000, NULL, 0, false, 1, bl);
	for (unsigned k = 0; k < t->f.ntx; k++) {
		assert_int_equal(fake_tx_parse(&t->f, k, &h), SL_NET_TCP);
		assert_int_not_equal(h.seq, i0 + 6000);
	}
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.retrans, 2);
	/* C arrives: everything up to F; the recovery goes on as NewReno past that. */
	t_seg_sack(t, PISS + 1, i0 + 10000, NULL, 0, false, 0, NULL);
	assert_int_equal(sl_tcp_send_space(c), (1 << 16) - 10000);
	t_free(t);
}

/* ---- zero-copy receive ---- */

/* A t with zero-copy receive, frames frames per connection (0: default). */
static struct t *
t_new_zc(uint32_t rcvbuf, unsigned frames)
{
	bool zc = t_zc;
	unsigned fr = t_rx_frames;
	struct t *t;

	t_zc = true;
	t_rx_frames = frames;
	t = t_new(4, rcvbuf, 8);
	t_zc = zc;
	t_rx_frames = fr;
	return t;
}

/* Sends what the stack queued and drops the captured segments. */
static void
t_settle(struct t *t)
{
	sl_net_flush(t->n);
	fake_tx_clear(&t->f);
}

/* Frames the fake port has out, not counting the captured transmissions. */
static unsigned
t_frames_out(struct t *t)
{
	return t->f.nused - t->f.ntx;
}

/* Whether p points into the buffer of a frame the fake port has out. */
static bool
t_in_frame(const struct t *t, const void *p)
{
	const uint8_t *b = p, *base = &t->f.bufs[0][0];
	size_t i;

	if (b < base || b >= base + sizeof(t->f.bufs))
		return false;
	i = (size_t)(b - base) / FAKE_FRAME;
	return t->f.used[i];
}

static uint64_t
t_stat_held(struct t *t)
{
	struct sl_net_stats st;

	sl_net_stats_get(t->n, &st);
	return st.rx_frames_held;
}

static void
test_tcp_zc_in_order_peekv_points_into_frames_consume_frees(void **state)
{
	struct t *t = t_new_zc(1 << 16, 0);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	static uint8_t buf[3][1000];
	struct iovec iov[8];
	uint32_t seq = PISS + 1;
	unsigned k;

	(void)state;
	for (int i = 0; i < 3; i++) {
		memset(buf[i], 'a' + i, sizeof(buf[i]));
		t_seg(t, SL_TCP_ACK, seq, t->iss + 1, 512, buf[i], 1000);
		seq += 1000;
	}
	t_settle(t);
	assert_int_equal(t->ev.readable, 3);
	assert_int_equal(sl_tcp_rx_avail(c), 3000);
	assert_int_equal(sl_tcp_rx_frames(c), 3);
	assert_int_equal(t_frames_out(t), 3); /* the three frames, held */
	assert_int_equal(t_stat_held(t), 3);
	k = sl_tcp_rx_peekv(c, 0, iov, 8);
	assert_int_equal(k, 3);
	for (unsigned i = 0; i < k; i++) {
		assert_int_equal(iov[i].iov_len, 1000);
		assert_true(t_in_frame(t, iov[i].iov_base)); /* in place, not a copy */
		assert_memory_equal(iov[i].iov_base, buf[i], 1000);
	}
	/* From an offset, and bounded by max. */
	k = sl_tcp_rx_peekv(c, 1500, iov, 1);
	assert_int_equal(k, 1);
	assert_int_equal(iov[0].iov_len, 500);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 'b');
	assert_int_equal(sl_tcp_rx_peekv(c, 3000, iov, 8), 0);
	/* The old two-piece call still works: the first two frames. */
	assert_int_equal(sl_tcp_rx_peek(c, iov), 2);
	assert_int_equal(iov[0].iov_len + iov[1].iov_len, 2000);
	/* Consuming 1.5 frames gives back exactly one. */
	sl_tcp_rx_consume(c, 1500, t->now);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 2);
	k = sl_tcp_rx_peekv(c, 0, iov, 8);
	assert_int_equal(k, 2);
	assert_int_equal(iov[0].iov_len, 500);
	assert_true(t_in_frame(t, iov[0].iov_base));
	sl_tcp_rx_consume(c, 1500, t->now);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	assert_int_equal(sl_tcp_rx_frames(c), 0);
	assert_int_equal(t_stat_held(t), 0);
	t_free(t);
}

static void
test_tcp_zc_out_of_order_frames_held_then_delivered_in_place(void **state)
{
	struct t *t = t_new_zc(1 << 16, 0);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	static uint8_t buf[3][1000];
	struct sl_net_hdrs h;
	struct iovec iov[8];
	uint32_t r = PISS + 1;
	unsigned k;

	(void)state;
	for (int i = 0; i < 3; i++)
		memset(buf[i], 'x' + i, sizeof(buf[i]));
	t_seg(t, SL_TCP_ACK, r + 2000, t->iss + 1, 512, buf[2], 1000);
	t_seg(t, SL_TCP_ACK, r + 1000, t->iss + 1, 512, buf[1], 1000);
	t_one(t, &h);
	assert_int_equal(h.ack, r);
	t_settle(t);
	assert_int_equal(t->ev.readable, 0);
	assert_int_equal(sl_tcp_rx_avail(c), 0);
	assert_int_equal(sl_tcp_rx_frames(c), 2);
	assert_int_equal(t_frames_out(t), 2);
	/* A duplicate of a held out-of-order frame is not held twice. */
	t_seg(t, SL_TCP_ACK, r + 1000, t->iss + 1, 512, buf[1], 1000);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 2);
	/* The hole fills: three frames, in order, read in place. */
	t_seg(t, SL_TCP_ACK, r, t->iss + 1, 512, buf[0], 1000);
	t_one(t, &h);
	assert_int_equal(h.ack, r + 3000);
	assert_int_equal(t->ev.readable, 1);
	t_settle(t);
	k = sl_tcp_rx_peekv(c, 0, iov, 8);
	assert_int_equal(k, 3);
	for (unsigned i = 0; i < k; i++) {
		assert_int_equal(iov[i].iov_len, 1000);
		assert_true(t_in_frame(t, iov[i].iov_base));
		assert_memory_equal(iov[i].iov_base, buf[i], 1000);
	}
	sl_tcp_rx_consume(c, 3000, t->now);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	t_free(t);
}

static void
test_tcp_zc_small_segments_copied_into_tailroom(void **state)
{
	struct t *t = t_new_zc(1 << 16, 0);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	static uint8_t big[1000];
	struct sl_net_stats st;
	struct iovec iov[8];
	uint32_t r = PISS + 1;
	char small[50];

	(void)state;
	memset(big, 'B', sizeof(big));
	t_seg(t, SL_TCP_ACK, r, t->iss + 1, 512, big, 1000);
	/* Five 50-byte segments, in order: appended to the held frame, no frame each. */
	for (int i = 0; i < 5; i++) {
		memset(small, '0' + i, sizeof(small));
		t_seg(t, SL_TCP_ACK, r + 1000 + 50 * (uint32_t)i, t->iss + 1, 512, small, 50);
	}
	/* Two small ones out of order, merged into the tailroom when the hole fills. */
	t_seg(t, SL_TCP_ACK, r + 1290, t->iss + 1, 512, "world!", 6);
	t_seg(t, SL_TCP_ACK, r + 1296, t->iss + 1, 512, "??", 2);
	assert_int_equal(sl_tcp_rx_frames(c), 3);
	t_seg(t, SL_TCP_ACK, r + 1250, t->iss + 1, 512, "hello, this is forty bytes of data......",
	      40);
	t_settle(t);
	assert_int_equal(sl_tcp_rx_avail(c), 1298);
	assert_int_equal(sl_tcp_rx_frames(c), 1);
	assert_int_equal(t_frames_out(t), 1);
	assert_int_equal(sl_tcp_rx_peekv(c, 0, iov, 8), 1);
	assert_int_equal(iov[0].iov_len, 1298);
	assert_true(t_in_frame(t, iov[0].iov_base));
	assert_memory_equal((uint8_t *)iov[0].iov_base + 1000, "00000", 5);
	assert_memory_equal((uint8_t *)iov[0].iov_base + 1200, "44444", 5);
	assert_memory_equal((uint8_t *)iov[0].iov_base + 1288, "..world!??", 10);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.rx_copied, 8);
	/* The first small segment with nothing held before it takes its own frame. */
	sl_tcp_rx_consume(c, 1298, t->now);
	t_seg(t, SL_TCP_ACK, r + 1298, t->iss + 1, 512, "tiny", 4);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 1);
	assert_int_equal(sl_tcp_rx_peekv(c, 0, iov, 8), 1);
	assert_true(t_in_frame(t, iov[0].iov_base));
	assert_memory_equal(iov[0].iov_base, "tiny", 4);
	t_free(t);
}

static void
test_tcp_zc_window_counts_frames_budget_caps_them(void **state)
{
	/* 32 KiB of buffer but 4 frames: the window is 4 segments, not 32 KiB. */
	struct t *t = t_new_zc(1 << 15, 4);
	struct sl_tcp_opts o = {
	        .has_mss = true, .mss = 1460, .has_ws = true, .wscale = 7, .sack_ok = true};
	static uint8_t buf[1460];
	struct sl_net_stats st;
	struct sl_net_hdrs h;
	struct sl_tcp_conn *c;
	uint32_t r = PISS + 1;

	(void)state;
	c = t_accept_o(t, &o, &h);
	assert_int_equal(h.win, 4 * 1460);
	assert_int_equal(sl_tcp_rx_window(c), 4 * 1460);
	t_seg(t, SL_TCP_ACK, r, t->iss + 1, 512, buf, 1460);
	t_seg(t, SL_TCP_ACK, r + 1460, t->iss + 1, 512, buf, 1460);
	t_one(t, &h);
	assert_int_equal(h.ack, r + 2920);
	assert_int_equal(h.win, 2 * 1460); /* the copy path would say 32768 - 2920 */
	t_seg(t, SL_TCP_ACK, r + 2920, t->iss + 1, 512, buf, 1460);
	t_seg(t, SL_TCP_ACK, r + 4380, t->iss + 1, 512, buf, 1460);
	t_one(t, &h);
	assert_int_equal(h.win, 0);
	assert_int_equal(sl_tcp_rx_window(c), 0);
	/* Beyond the closed window: not held, answered with an ACK. */
	t_seg(t, SL_TCP_ACK, r + 5840, t->iss + 1, 512, buf, 1460);
	t_one(t, &h);
	assert_int_equal(h.ack, r + 5840);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 4);
	/* A frame consumed: the window reopens by one segment, at once. */
	sl_tcp_rx_consume(c, 1460, t->now);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.win, 1460);
	t_settle(t);
	sl_tcp_rx_consume(c, 3 * 1460, t->now);
	sl_net_flush(t->n);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	r += 5840;
	/* Small out-of-order segments: the window allows more than 4 of them, the budget
	 * does not. The fifth (highest) is dropped. */
	for (uint32_t i = 1; i <= 5; i++)
		t_seg_sack(t, r + 400 * i, t->iss + 1, buf, 300, false, 0, NULL);
	t_settle(t);
	assert_int_equal(sl_tcp_rx_frames(c), 4);
	assert_int_equal(t_frames_out(t), 4);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.rx_budget_drops, 1);
	/* One below them all: the highest held one is given back to make room, and its range
	 * is no longer SACKed. */
	t_seg_sack(t, r + 50, t->iss + 1, buf, 300, false, 0, NULL);
	t_one(t, &h);
	assert_int_equal(h.ack, r);
	assert_int_equal(h.opts.nsack, 4); /* 50, 400, 800, 1200; not 1600 */
	for (unsigned i = 0; i < h.opts.nsack; i++)
		assert_true(SEQ_LEQ_T(h.opts.sack[i].end, r + 1500));
	t_settle(t);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.rx_evicted, 1);
	assert_int_equal(t_frames_out(t), 4);
	/* The in-order head takes the next eviction; the data joins up to the next hole. */
	t_seg_sack(t, r, t->iss + 1, buf, 50, false, 0, NULL);
	t_one(t, &h);
	assert_int_equal(h.ack, r + 350);
	assert_int_equal(sl_tcp_rx_avail(c), 350);
	t_settle(t);
	assert_true(t_frames_out(t) <= 4);
	sl_tcp_close(c, t->now);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	t_free(t);
}

/* Holds one in-order and one out-of-order frame on a fresh zero-copy connection. */
static struct sl_tcp_conn *
t_zc_hold_two(struct t *t)
{
	static uint8_t buf[1000];
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);

	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, buf, 1000);
	t_seg(t, SL_TCP_ACK, PISS + 2001, t->iss + 1, 512, buf, 1000);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 2);
	return c;
}

static void
test_tcp_zc_timestamps_window_in_segments_of_mss_minus_12(void **state)
{
	struct t *t = t_new_zc(1 << 15, 4);
	struct sl_tcp_opts o = {.has_mss = true,
	                        .mss = 1460,
	                        .has_ws = true,
	                        .wscale = 7,
	                        .has_ts = true,
	                        .tsval = 1};
	static uint8_t buf[1448];
	struct sl_tcp_opts to = {.has_ts = true, .tsval = 2};
	struct sl_net_hdrs h;
	struct sl_tcp_conn *c;

	(void)state;
	c = t_accept_o(t, &o, &h);
	assert_true(h.opts.has_ts);
	assert_int_equal(h.win, 4 * 1448); /* a full segment carries 1448 bytes beside TSopt */
	to.tsecr = h.opts.tsval;
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_ACK, PISS + 1, t->iss + 1, 512, buf, 1448, &to));
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_ACK, PISS + 1449, t->iss + 1, 512, buf, 1448, &to));
	t_one(t, &h);
	assert_int_equal(h.ack, PISS + 1 + 2 * 1448);
	assert_int_equal(h.win, 2 * 1448);
	assert_int_equal(sl_tcp_rx_frames(c), 2);
	t_free(t);
}

static void
test_tcp_zc_frames_returned_on_close_rst_abort(void **state)
{
	static uint8_t buf[1000];
	struct sl_tcp_conn *c;
	struct iovec iov[4];
	struct t *t;

	(void)state;
	/* close: everything goes back; data arriving afterwards is ACKed and dropped. */
	t = t_new_zc(1 << 16, 0);
	c = t_zc_hold_two(t);
	sl_tcp_close(c, t->now);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	assert_int_equal(sl_tcp_state(c), SL_TCP_FIN_WAIT_1);
	t_seg(t, SL_TCP_ACK, PISS + 1001, t->iss + 1, 512, buf, 1000);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	assert_int_equal(t_stat_held(t), 0);
	t_free(t);

	/* RST: the out-of-order frame goes at once, the in-order one stays readable until
	 * the user lets go. */
	t = t_new_zc(1 << 16, 0);
	c = t_zc_hold_two(t);
	t_seg(t, SL_TCP_RST, PISS + 1001, 0, 0, NULL, 0);
	assert_int_equal(t->ev.rx_end_err, -ECONNRESET);
	assert_int_equal(t->ev.closed, 1);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 1);
	assert_int_equal(sl_tcp_rx_peekv(c, 0, iov, 4), 1);
	assert_true(t_in_frame(t, iov[0].iov_base));
	sl_tcp_close(c, t->now);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	t_free(t);

	/* abort */
	t = t_new_zc(1 << 16, 0);
	c = t_zc_hold_two(t);
	sl_tcp_abort(c);
	sl_net_flush(t->n);
	t_settle(t);
	assert_int_equal(t_frames_out(t), 0);
	assert_int_equal(t_stat_held(t), 0);
	t_free(t);
}

/* ---- zero-copy send ---- */

/* Appends the payloads of the captured segments to out (at their offset from base). */
static void
t_collect(struct t *t, uint8_t *out, size_t cap, uint32_t base, uint32_t *hi)
{
	for (unsigned i = 0; i < t->f.ntx; i++) {
		struct sl_net_hdrs h;
		uint32_t at;

		assert_int_equal(fake_tx_parse(&t->f, i, &h), SL_NET_TCP);
		at = h.seq - base;
		if (!h.payload_len)
			continue;
		assert_true(at + h.payload_len <= cap);
		memcpy(out + at, h.payload, h.payload_len);
		if (at + h.payload_len > *hi)
			*hi = at + h.payload_len;
	}
}

static void
test_tcp_send_ref_mixed_with_copies_in_order_done_on_ack(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	static uint8_t body[6000], want[6008], got[6008];
	struct iovec hdr = {"HDR:", 4}, tail = {"TAIL", 4};
	uint32_t base = t->iss + 1, hi = 0;

	(void)state;
	tx_done_n = 0;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &hdr, 1, t->now), 4);
	assert_int_equal(sl_tcp_send_ref(c, body, sizeof(body), body, t->now), 0);
	assert_int_equal(sl_tcp_send(c, &tail, 1, t->now), 4);
	assert_int_equal(sl_tcp_send_refs_free(c), 32 - 3);
	sl_net_flush(t->n);
	t_collect(t, got, sizeof(got), base, &hi);
	assert_true(hi > 1460 && hi < sizeof(got)); /* the initial window (4380): not all */
	/* Still referenced, not copied: a change to the unsent part goes on the wire. */
	body[5990] = 0xab;
	memcpy(want, "HDR:", 4);
	memcpy(want + 4, body, sizeof(body));
	memcpy(want + 6004, "TAIL", 4);
	/* ACK what went: more goes; body's end not acknowledged yet. */
	t_seg(t, SL_TCP_ACK, PISS + 1, base + hi, 512, NULL, 0);
	sl_net_flush(t->n);
	t_collect(t, got, sizeof(got), base, &hi);
	assert_int_equal(hi, sizeof(got));
	assert_int_equal(tx_done_n, 0);
	assert_memory_equal(got, want, sizeof(want));
	/* ACK up to one byte short of the body's end: still held. */
	t_seg(t, SL_TCP_ACK, PISS + 1, base + 6003, 512, NULL, 0);
	assert_int_equal(tx_done_n, 0);
	t_seg(t, SL_TCP_ACK, PISS + 1, base + 6004, 512, NULL, 0);
	assert_int_equal(tx_done_n, 1);
	assert_ptr_equal(tx_done_ref, body);
	assert_int_equal(tx_done_err, 0);
	t_seg(t, SL_TCP_ACK, PISS + 1, base + 6008, 512, NULL, 0);
	assert_int_equal(tx_done_n, 1);
	assert_int_equal(sl_tcp_send_refs_free(c), 32);
	assert_int_equal(sl_tcp_send_space(c), 1 << 16);
	t_free(t);
	assert_int_equal(tx_done_n, 1);
}

static void
test_tcp_send_ref_retransmitted_from_caller_memory(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	static uint8_t body[1000];
	struct sl_net_hdrs h;

	(void)state;
	tx_done_n = 0;
	memset(body, 'r', sizeof(body));
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send_ref(c, body, sizeof(body), body, t->now), 0);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.payload_len, 1000);
	assert_memory_equal(h.payload, body, 1000);
	body[0] = 'R';
	t_tick(t, 1000 * MS); /* RTO */
	t_one(t, &h);
	assert_int_equal(h.seq, t->iss + 1);
	assert_int_equal(h.payload_len, 1000);
	assert_int_equal(h.payload[0], 'R');
	assert_int_equal(tx_done_n, 0);
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1001, 512, NULL, 0);
	assert_int_equal(tx_done_n, 1);
	t_free(t);
}

static void
test_tcp_send_ref_queue_full_eagain_reset_abort_destroy_fail_refs(void **state)
{
	static uint8_t buf[64];
	struct sl_tcp_conn *c;
	struct t *t;
	struct iovec one = {"x", 1};

	(void)state;
	/* 32 chunks, then -EAGAIN; copies cannot start a chunk either. */
	t = t_new(4, 1 << 16, 8);
	c = t_accept(t, 1460, PISS);
	tx_done_n = tx_done_bad = 0;
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 0, NULL, 0); /* the peer's window closes */
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(sl_tcp_send_ref(c, buf + i, 1, buf + i, t->now), 0);
	assert_int_equal(sl_tcp_send_ref(c, buf, 1, buf, t->now), -EAGAIN);
	assert_int_equal(sl_tcp_send_space(c), 0);
	assert_int_equal(sl_tcp_send(c, &one, 1, t->now), 0);
	assert_int_equal(sl_tcp_send_ref(c, buf, 0, buf, t->now), -EINVAL);
	/* The peer resets: every reference fails once. */
	t_seg(t, SL_TCP_RST, PISS + 1, 0, 0, NULL, 0);
	assert_int_equal(tx_done_n, 32);
	assert_int_equal(tx_done_err, -ECONNRESET);
	assert_int_equal(sl_tcp_send_ref(c, buf, 1, buf, t->now), -EPIPE);
	sl_tcp_close(c, t->now);
	t_free(t);
	assert_int_equal(tx_done_n, 32);

	/* abort */
	t = t_new(4, 1 << 16, 8);
	c = t_accept(t, 1460, PISS);
	tx_done_n = 0;
	assert_int_equal(sl_tcp_send_ref(c, buf, 10, buf, t->now), 0);
	assert_int_equal(sl_tcp_send_ref(c, buf + 10, 10, buf + 10, t->now), 0);
	sl_tcp_abort(c);
	assert_int_equal(tx_done_n, 2);
	assert_int_equal(tx_done_err, -ECONNABORTED);
	t_free(t);
	assert_int_equal(tx_done_n, 2);

	/* close with references in flight, then destroy: they fail with -ECANCELED. */
	t = t_new(4, 1 << 16, 8);
	c = t_accept(t, 1460, PISS);
	tx_done_n = 0;
	assert_int_equal(sl_tcp_send_ref(c, buf, 10, buf, t->now), 0);
	sl_tcp_close(c, t->now);
	assert_int_equal(tx_done_n, 0);
	t_free(t);
	assert_int_equal(tx_done_n, 1);
	assert_int_equal(tx_done_err, -ECANCELED);
	assert_int_equal(tx_done_bad, 0);
}

/* ---- simultaneous open (RFC 9293 3.10.7.3) ---- */

/* An active open to PEER_IP:7000 from 45000; the peer's segments come from there. Returns
 * our ISS (the SYN's sequence number). */
static uint32_t
t_connect_7000(struct t *t, struct sl_tcp_conn **c, uint16_t lport)
{
	struct sl_net_hdrs h;

	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_connect(t->n, c, PEER_IP, 7000, lport, t->pe.mac, t->now), 0);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN);
	t->pe.port = 7000;
	t->pe.our_port = lport;
	return h.seq;
}

static void
test_tcp_simultaneous_open_same_iss_established_data_both_ways(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_opts o = {
	        .has_mss = true, .mss = 1200, .has_ws = true, .wscale = 7, .sack_ok = true};
	static char buf[3000];
	struct iovec out = {buf, sizeof(buf)}, iov[2];
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;
	uint32_t iss;

	(void)state;
	iss = t_connect_7000(t, &c, 45000);
	/* The peer's SYN crosses ours: a SYN,ACK with our ISS, answering its options. */
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, PISS, 0, 1000, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.seq, iss);
	assert_int_equal(h.ack, PISS + 1);
	assert_true(h.opts.has_mss && h.opts.has_ws && h.opts.sack_ok);
	assert_int_equal(h.opts.wscale, 1); /* 64 KiB ring */
	assert_false(h.opts.has_ts);
	assert_int_equal(sl_tcp_state(c), SL_TCP_SYN_RCVD);
	assert_int_equal(t->ev.established, 0);
	assert_int_equal(sl_tcp_send(c, &out, 1, t->now), -ENOTCONN);
	/* Unanswered, the SYN,ACK goes again with the same ISS. */
	t_tick(t, 1000 * MS);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.seq, iss);
	/* The peer's SYN,ACK completes the handshake; its ACK is acknowledged. */
	t_seg(t, SL_TCP_SYN | SL_TCP_ACK, PISS, iss + 1, 512, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.seq, iss + 1);
	assert_int_equal(h.ack, PISS + 1);
	assert_int_equal(t->ev.established, 1);
	assert_ptr_equal(t->ev.last, c);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	/* Peer to us. */
	t_seg(t, SL_TCP_ACK | SL_TCP_PSH, PISS + 1, iss + 1, 512, "ping", 4);
	assert_int_equal(t->ev.readable, 1);
	assert_int_equal(sl_tcp_rx_peek(c, iov), 1);
	assert_int_equal(iov[0].iov_len, 4);
	assert_memory_equal(iov[0].iov_base, "ping", 4);
	/* Us to the peer: its MSS, and its window scaled by its shift (512 << 7). */
	memset(buf, 'p', sizeof(buf));
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &out, 1, t->now), 3000);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 3);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_TCP);
	assert_int_equal(h.seq, iss + 1);
	assert_int_equal(h.ack, PISS + 5);
	assert_int_equal(h.payload_len, 1200);
	assert_int_equal(fake_tx_parse(&t->f, 2, &h), SL_NET_TCP);
	assert_int_equal(h.seq, iss + 2401);
	assert_int_equal(h.payload_len, 600);
	t_seg(t, SL_TCP_ACK, PISS + 5, iss + 3001, 512, NULL, 0);
	assert_int_equal(t->ev.writable, 1);
	assert_int_equal(t->f.ntx, 0);
	t_free(t);
}

static void
test_tcp_simultaneous_open_timestamps_ack_completes_opts_agreed(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_opts o = {.has_mss = true,
	                        .mss = 1460,
	                        .has_ws = true,
	                        .wscale = 7,
	                        .has_ts = true,
	                        .tsval = 100};
	static char buf[3000];
	struct iovec out = {buf, sizeof(buf)};
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;
	uint32_t iss;

	(void)state;
	iss = t_connect_7000(t, &c, 45000);
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, PISS, 0, 1000, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.seq, iss);
	assert_int_equal(h.ack, PISS + 1);
	assert_true(h.opts.has_ts);
	assert_int_equal(h.opts.tsecr, 100);
	assert_false(h.opts.sack_ok); /* the peer did not offer it */
	/* A plain ACK (a peer that got our SYN,ACK first) completes it too, silently. */
	t_seg_ts(t, SL_TCP_ACK, PISS + 1, iss + 1, NULL, 0, 101, h.opts.tsval);
	assert_int_equal(t->f.ntx, 0);
	assert_int_equal(t->ev.established, 1);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	t_seg_ts(t, SL_TCP_ACK | SL_TCP_PSH, PISS + 1, iss + 1, "ping", 4, 102, 0);
	assert_int_equal(sl_tcp_rx_avail(c), 4);
	/* Timestamps are on: a segment without one is dropped (RFC 7323 3.2). */
	t_seg(t, SL_TCP_ACK, PISS + 5, iss + 1, 512, "x", 1);
	assert_int_equal(sl_tcp_rx_avail(c), 4);
	/* Our segments: MSS 1460 - 12, echoing the peer's clock. */
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &out, 1, t->now), 3000);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 3);
	assert_int_equal(fake_tx_parse(&t->f, 0, &h), SL_NET_TCP);
	assert_int_equal(h.seq, iss + 1);
	assert_int_equal(h.payload_len, 1448);
	assert_true(h.opts.has_ts);
	assert_int_equal(h.opts.tsecr, 102);
	t_seg_ts(t, SL_TCP_ACK, PISS + 5, iss + 3001, NULL, 0, 103, h.opts.tsval);
	assert_int_equal(t->ev.writable, 1);
	t_free(t);
}

static void
test_tcp_simultaneous_open_synack_with_data_delivered_once(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c;
	struct sl_net_hdrs h;
	struct iovec iov[2];
	uint32_t iss;

	(void)state;
	iss = t_connect_7000(t, &c, 45000);
	t_seg(t, SL_TCP_SYN, PISS, 0, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	/* The peer's SYN,ACK carries its first bytes: they follow its SYN. */
	t_seg(t, SL_TCP_SYN | SL_TCP_ACK | SL_TCP_PSH, PISS, iss + 1, 1000, "first", 5);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 6);
	assert_int_equal(t->ev.established, 1);
	assert_int_equal(t->ev.readable, 1);
	assert_int_equal(sl_tcp_rx_peek(c, iov), 1);
	assert_int_equal(iov[0].iov_len, 5);
	assert_memory_equal(iov[0].iov_base, "first", 5);
	/* Its retransmission is a duplicate now: acknowledged, not delivered again. */
	t_seg(t, SL_TCP_SYN | SL_TCP_ACK | SL_TCP_PSH, PISS, iss + 1, 1000, "first", 5);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 6);
	assert_int_equal(sl_tcp_rx_avail(c), 5);
	assert_int_equal(sl_tcp_state(c), SL_TCP_ESTABLISHED);
	t_free(t);
}

static void
test_tcp_simultaneous_open_early_close_fin_later_rst_refused(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c, *c2;
	struct sl_net_hdrs h;
	uint32_t iss;

	(void)state;
	/* Closed in SYN_RCVD: the FIN waits until the handshake is done. */
	iss = t_connect_7000(t, &c, 45000);
	t_seg(t, SL_TCP_SYN, PISS, 0, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	fake_tx_clear(&t->f);
	sl_tcp_close(c, t->now);
	sl_net_flush(t->n);
	assert_int_equal(t->f.ntx, 0);
	assert_int_equal(sl_tcp_state(c), SL_TCP_SYN_RCVD);
	t_seg(t, SL_TCP_SYN | SL_TCP_ACK, PISS, iss + 1, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK | SL_TCP_FIN);
	assert_int_equal(h.seq, iss + 1);
	assert_int_equal(h.ack, PISS + 1);
	assert_int_equal(sl_tcp_state(c), SL_TCP_FIN_WAIT_1);
	assert_int_equal(t->ev.established, 0); /* the user let go */
	t_seg(t, SL_TCP_ACK, PISS + 1, iss + 2, 1000, NULL, 0);
	assert_int_equal(sl_tcp_state(c), SL_TCP_FIN_WAIT_2);

	/* A RST in SYN_RCVD that came from SYN_SENT: connection refused. */
	t_connect_7000(t, &c2, 45001);
	t_seg(t, SL_TCP_SYN, PISS, 0, 1000, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	t_seg(t, SL_TCP_RST, PISS + 1, 0, 0, NULL, 0);
	assert_int_equal(t->ev.rx_end, 1);
	assert_int_equal(t->ev.rx_end_err, -ECONNREFUSED);
	assert_int_equal(sl_tcp_state(c2), SL_TCP_CLOSED);
	sl_tcp_close(c2, t->now);
	t_free(t);
}

/* ---- TIME_WAIT reuse (RFC 9293 3.6.1, RFC 6191) ---- */

/* We close accepted connection c first and the peer's FIN (seq PISS + 1, timestamp 102
 * when ts) follows: c is in TIME_WAIT, our last sequence number iss + 1 (the FIN). */
static void
t_to_time_wait(struct t *t, struct sl_tcp_conn *c, bool ts)
{
	struct sl_net_hdrs h;

	fake_tx_clear(&t->f);
	sl_tcp_close(c, t->now);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK | SL_TCP_FIN);
	assert_int_equal(h.seq, t->iss + 1);
	if (ts)
		t_seg_ts(t, SL_TCP_ACK | SL_TCP_FIN, PISS + 1, t->iss + 2, NULL, 0, 102,
		         h.opts.tsval);
	else
		t_seg(t, SL_TCP_ACK | SL_TCP_FIN, PISS + 1, t->iss + 2, 512, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 2);
	assert_int_equal(sl_tcp_state(c), SL_TCP_TIME_WAIT);
}

/* A SYN in TIME_WAIT (with a timestamp when ts) that must leave it alone: one ACK for the
 * old connection, which stays. */
static void
t_tw_syn_ignored(struct t *t, struct sl_tcp_conn *c, uint32_t seq, bool ts, uint32_t tsval)
{
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1460, .has_ts = ts, .tsval = tsval};
	struct sl_net_hdrs h;
	struct sl_net_stats st;

	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, seq, 0, 65535, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.seq, t->iss + 2);
	assert_int_equal(h.ack, PISS + 2);
	assert_int_equal(sl_tcp_state(c), SL_TCP_TIME_WAIT);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.tw_reopened, 0);
	assert_int_equal(st.conns_active, 1);
}

static void
test_tcp_time_wait_syn_higher_seq_reopens_new_conn_data_flows(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1460, .has_ws = true, .wscale = 7};
	uint32_t old_iss = t->iss, seq2 = PISS + 100000;
	struct iovec out = {"world", 5}, iov[2];
	struct sl_net_stats st;
	struct sl_net_hdrs h;
	struct sl_tcp_conn *c2;

	(void)state;
	t_to_time_wait(t, c, false);
	t->now += 10 * MS;
	/* The client reconnects from the same port with a higher sequence number. */
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, seq2, 0, 65535, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.ack, seq2 + 1);
	assert_true(h.opts.has_ws);
	/* The new ISN lies above the old incarnation's sequence space and window. */
	assert_true((int32_t)(h.seq - (old_iss + 2)) > 65536);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.tw_reopened, 1);
	assert_int_equal(st.conns_active, 1); /* the TIME_WAIT one is gone */
	t->iss = h.seq;
	t_seg(t, SL_TCP_ACK, seq2 + 1, t->iss + 1, 512, NULL, 0);
	assert_int_equal(t->ev.established, 2);
	c2 = t->ev.last;
	assert_int_equal(sl_tcp_state(c2), SL_TCP_ESTABLISHED);
	t_seg(t, SL_TCP_ACK | SL_TCP_PSH, seq2 + 1, t->iss + 1, 512, "hello", 5);
	assert_int_equal(sl_tcp_rx_peek(c2, iov), 1);
	assert_int_equal(iov[0].iov_len, 5);
	assert_memory_equal(iov[0].iov_base, "hello", 5);
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c2, &out, 1, t->now), 5);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.seq, t->iss + 1);
	assert_int_equal(h.ack, seq2 + 6);
	assert_int_equal(h.payload_len, 5);
	assert_memory_equal(h.payload, "world", 5);
	t_seg(t, SL_TCP_ACK, seq2 + 6, t->iss + 6, 512, NULL, 0);
	assert_int_equal(t->ev.writable, 1);
	/* The old incarnation's timer is gone with it: nothing fires at 2MSL. */
	t_tick(t, 60000 * MS);
	assert_int_equal(sl_tcp_state(c2), SL_TCP_ESTABLISHED);
	t_free(t);
}

static void
test_tcp_time_wait_syn_not_above_last_seq_not_reopened(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_tcp_conn *c2;
	struct sl_net_stats st;
	struct sl_net_hdrs h;
	uint32_t iss;

	(void)state;
	t_to_time_wait(t, c, false);
	/* An old duplicate of the first SYN, and one at the FIN's sequence number (the last
	 * one seen): both only get an ACK. */
	t_tw_syn_ignored(t, c, PISS, false, 0);
	t_tw_syn_ignored(t, c, PISS + 1, false, 0);
	/* A SYN with an ACK is no new connection either. */
	t_seg(t, SL_TCP_SYN | SL_TCP_ACK, PISS + 100000, t->iss + 2, 512, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(sl_tcp_state(c), SL_TCP_TIME_WAIT);
	/* TIME_WAIT of a connection we opened (no listener on its port) is not reused. */
	iss = t_connect_7000(t, &c2, 45000);
	t_seg(t, SL_TCP_SYN | SL_TCP_ACK, PISS, iss + 1, 512, NULL, 0);
	assert_int_equal(sl_tcp_state(c2), SL_TCP_ESTABLISHED);
	fake_tx_clear(&t->f);
	sl_tcp_close(c2, t->now);
	t_seg(t, SL_TCP_ACK | SL_TCP_FIN, PISS + 1, iss + 2, 512, NULL, 0);
	assert_int_equal(sl_tcp_state(c2), SL_TCP_TIME_WAIT);
	t_seg(t, SL_TCP_SYN, PISS + 100000, 0, 65535, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 2);
	assert_int_equal(sl_tcp_state(c2), SL_TCP_TIME_WAIT);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.tw_reopened, 0);
	assert_int_equal(st.conns_active, 2);
	/* 2MSL later both are gone as usual. */
	t_tick(t, 60000 * MS);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	t_free(t);
}

static void
test_tcp_time_wait_timestamps_newer_reopens_older_not(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept_ts(t);
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1460, .has_ts = true, .tsval = 200};
	uint32_t old_iss = t->iss, seq2 = PISS - 5000;
	struct sl_net_stats st;
	struct sl_net_hdrs h;

	(void)state;
	t_to_time_wait(t, c, true);
	/* A higher sequence number but an older timestamp: PAWS answers, nothing reopens. */
	t_tw_syn_ignored(t, c, PISS + 100000, true, 50);
	/* The same timestamp and a sequence number not above the last one seen. */
	t_tw_syn_ignored(t, c, PISS, true, 102);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.paws_drops, 1);
	/* A newer timestamp reopens even below the old sequence numbers (RFC 6191 4). */
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, seq2, 0, 65535, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.ack, seq2 + 1);
	assert_true(h.opts.has_ts);
	assert_int_equal(h.opts.tsecr, 200);
	assert_true((int32_t)(h.seq - (old_iss + 2)) > 65536);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.tw_reopened, 1);
	t->iss = h.seq;
	t_seg_ts(t, SL_TCP_ACK, seq2 + 1, t->iss + 1, NULL, 0, 201, h.opts.tsval);
	assert_int_equal(t->ev.established, 2);
	t_seg_ts(t, SL_TCP_ACK | SL_TCP_PSH, seq2 + 1, t->iss + 1, "hi", 2, 202, h.opts.tsval);
	assert_int_equal(sl_tcp_rx_avail(t->ev.last), 2);
	t_free(t);
}

static void
test_tcp_simultaneous_close_closing_then_time_wait(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	struct sl_net_stats st;
	struct sl_net_hdrs h;

	(void)state;
	fake_tx_clear(&t->f);
	sl_tcp_close(c, t->now);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_ACK | SL_TCP_FIN);
	assert_int_equal(h.seq, t->iss + 1);
	/* The peer's FIN crosses ours (it has not seen ours): CLOSING, its FIN acked. */
	t_seg(t, SL_TCP_ACK | SL_TCP_FIN, PISS + 1, t->iss + 1, 512, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags & (SL_TCP_ACK | SL_TCP_SYN | SL_TCP_RST), SL_TCP_ACK);
	assert_int_equal(h.ack, PISS + 2);
	assert_int_equal(sl_tcp_state(c), SL_TCP_CLOSING);
	/* Our FIN is retransmitted until acknowledged. */
	t_tick(t, 1000 * MS);
	t_one(t, &h);
	assert_true(h.flags & SL_TCP_FIN);
	assert_int_equal(h.seq, t->iss + 1);
	t_seg(t, SL_TCP_ACK, PISS + 2, t->iss + 2, 512, NULL, 0);
	assert_int_equal(sl_tcp_state(c), SL_TCP_TIME_WAIT);
	t_tick(t, 59999 * MS);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 1);
	t_tick(t, 1 * MS);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 0);
	t_free(t);
}

static void
test_tcp_time_wait_reopen_backlog_full_answered_with_cookie(void **state)
{
	struct t *t = t_new(4, 1 << 16, 1);
	struct sl_tcp_conn *c = t_accept(t, 1460, PISS);
	uint32_t seq2 = PISS + 100000;
	struct sl_net_stats st;
	struct sl_net_hdrs h;

	(void)state;
	t_to_time_wait(t, c, false);
	/* Another client's handshake fills the backlog of one. */
	t->pe.port = 40001;
	t_seg(t, SL_TCP_SYN, 7, 0, 65535, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	t->pe.port = 40000;
	t_seg(t, SL_TCP_SYN, seq2, 0, 65535, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.ack, seq2 + 1);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.tw_reopened, 1);
	assert_int_equal(st.syncookies_sent, 1);
	assert_int_equal(st.conns_active, 1); /* only the other embryo: no state kept */
	t_seg(t, SL_TCP_ACK | SL_TCP_PSH, seq2 + 1, h.seq + 1, 1000, "req", 3);
	assert_int_equal(t->ev.established, 2);
	assert_int_equal(sl_tcp_rx_avail(t->ev.last), 3);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.syncookies_ok, 1);
	t_free(t);
}

/* ---- handshake details ---- */

static void
test_tcp_syn_rcvd_duplicate_syn_resends_synack(void **state)
{
	struct t *t = t_new(4, 1 << 16, 8);
	struct sl_net_hdrs h;
	struct sl_net_stats st;
	uint32_t iss;

	(void)state;
	t_seg(t, SL_TCP_SYN, PISS, 0, 65535, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	iss = h.seq;
	/* The peer did not get it and sends its SYN again: the same SYN,ACK, at once. */
	t_seg(t, SL_TCP_SYN, PISS, 0, 65535, NULL, 0);
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.seq, iss);
	assert_int_equal(h.ack, PISS + 1);
	t_seg(t, SL_TCP_ACK, PISS + 1, iss + 1, 512, NULL, 0);
	assert_int_equal(t->ev.established, 1);
	sl_net_stats_get(t->n, &st);
	assert_int_equal(st.conns_active, 1);
	t_free(t);
}

static void
test_tcp_small_rcvbuf_synack_answers_window_scale_zero(void **state)
{
	struct t *t = t_new(4, 1 << 15, 8); /* 32 KiB: our shift is 0 */
	struct sl_tcp_opts o = {.has_mss = true, .mss = 1460, .has_ws = true, .wscale = 7};
	static char buf[1000];
	struct iovec out = {buf, sizeof(buf)};
	struct sl_net_hdrs h;
	struct sl_tcp_conn *c;

	(void)state;
	t_rx(t, fake_tcp(&t->f, &t->pe, SL_TCP_SYN, PISS, 0, 65535, NULL, 0, &o));
	t_one(t, &h);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	/* Without the option here the peer would not scale, while we scaled its window. */
	assert_true(h.opts.has_ws);
	assert_int_equal(h.opts.wscale, 0);
	t->iss = h.seq;
	/* Window 10 << 7 = 1280 bytes: all 1000 go at once. */
	t_seg(t, SL_TCP_ACK, PISS + 1, t->iss + 1, 10, NULL, 0);
	assert_int_equal(t->ev.established, 1);
	c = t->ev.last;
	fake_tx_clear(&t->f);
	assert_int_equal(sl_tcp_send(c, &out, 1, t->now), 1000);
	sl_net_flush(t->n);
	t_one(t, &h);
	assert_int_equal(h.payload_len, 1000);
	/* Our own window is not scaled: the field is the ring's free space, 32768 bytes. */
	assert_int_equal(h.win, 32768);
	t_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tcp_passive_open_synack_options_established),
	        cmocka_unit_test(test_tcp_syn_to_closed_port_rst),
	        cmocka_unit_test(test_tcp_data_in_delayed_ack_then_chain),
	        cmocka_unit_test(test_tcp_data_out_rto_retransmit_backoff),
	        cmocka_unit_test(test_tcp_rtt_sample_sets_rto),
	        cmocka_unit_test(test_tcp_fast_retransmit_newreno),
	        cmocka_unit_test(test_tcp_out_of_order_reassembled),
	        cmocka_unit_test(test_tcp_peer_zero_window_probed),
	        cmocka_unit_test(test_tcp_own_window_closes_and_reopens),
	        cmocka_unit_test(test_tcp_peer_fin_then_close_last_ack),
	        cmocka_unit_test(test_tcp_local_close_time_wait_expires),
	        cmocka_unit_test(test_tcp_rst_exact_resets_inexact_challenged),
	        cmocka_unit_test(test_tcp_syn_flood_syncookies),
	        cmocka_unit_test(test_tcp_active_open_connects_and_refused),
	        cmocka_unit_test(test_tcp_retries_exhausted_etimedout),
	        cmocka_unit_test(test_tcp_sequence_wraparound_in_order),
	        cmocka_unit_test(test_tcp_arp_and_ping_answered),
	        cmocka_unit_test(test_tcp_conn_limit_full_pool_uses_cookies),
	        cmocka_unit_test(test_tcp_timestamps_negotiated_echoed_mss_reduced),
	        cmocka_unit_test(test_tcp_paws_old_timestamp_dropped_and_acked),
	        cmocka_unit_test(test_tcp_keepalive_probes_then_etimedout),
	        cmocka_unit_test(test_tcp_rx_ring_wraps_chain_reads_kafka_frame),
	        cmocka_unit_test(test_tcp_send_sequence_wraps),
	        cmocka_unit_test(test_tcp_zero_window_probes_go_on_while_peer_answers),
	        cmocka_unit_test(test_tcp_fin_wait_2_silent_peer_freed),
	        cmocka_unit_test(test_tcp_arp_syn_waits_for_reply_then_sent),
	        cmocka_unit_test(test_tcp_arp_unanswered_retries_then_ehostunreach),
	        cmocka_unit_test(test_tcp_arp_waiter_closed_before_reply_no_syn),
	        cmocka_unit_test(test_tcp_arp_learns_from_requests_for_us_only),
	        cmocka_unit_test(test_tcp_arp_entry_expires_probe_unanswered_dropped),
	        cmocka_unit_test(test_tcp_gateway_routes_off_subnet),
	        cmocka_unit_test(test_tcp_arp_table_full_of_pending_enobufs),
	        cmocka_unit_test(test_tcp_timers_cost_only_what_is_due),
	        cmocka_unit_test(test_tcp_keepalive_after_weeks_idle_on_time),
	        cmocka_unit_test(test_tcp_sack_ooo_acks_carry_blocks_most_recent_first),
	        cmocka_unit_test(test_tcp_sack_not_permitted_no_blocks),
	        cmocka_unit_test(test_tcp_sack_blocks_fit_beside_timestamps),
	        cmocka_unit_test(test_tcp_sack_recovery_resends_holes_not_new_data),
	        cmocka_unit_test(test_tcp_simultaneous_open_same_iss_established_data_both_ways),
	        cmocka_unit_test(test_tcp_simultaneous_open_timestamps_ack_completes_opts_agreed),
	        cmocka_unit_test(test_tcp_simultaneous_open_synack_with_data_delivered_once),
	        cmocka_unit_test(test_tcp_simultaneous_open_early_close_fin_later_rst_refused),
	        cmocka_unit_test(test_tcp_time_wait_syn_higher_seq_reopens_new_conn_data_flows),
	        cmocka_unit_test(test_tcp_time_wait_syn_not_above_last_seq_not_reopened),
	        cmocka_unit_test(test_tcp_time_wait_timestamps_newer_reopens_older_not),
	        cmocka_unit_test(test_tcp_time_wait_reopen_backlog_full_answered_with_cookie),
	        cmocka_unit_test(test_tcp_simultaneous_close_closing_then_time_wait),
	        cmocka_unit_test(test_tcp_syn_rcvd_duplicate_syn_resends_synack),
	        cmocka_unit_test(test_tcp_small_rcvbuf_synack_answers_window_scale_zero),
	};

	const struct CMUnitTest zc_tests[] = {
	        cmocka_unit_test(test_tcp_zc_in_order_peekv_points_into_frames_consume_frees),
	        cmocka_unit_test(test_tcp_zc_out_of_order_frames_held_then_delivered_in_place),
	        cmocka_unit_test(test_tcp_zc_small_segments_copied_into_tailroom),
	        cmocka_unit_test(test_tcp_zc_window_counts_frames_budget_caps_them),
	        cmocka_unit_test(test_tcp_zc_timestamps_window_in_segments_of_mss_minus_12),
	        cmocka_unit_test(test_tcp_zc_frames_returned_on_close_rst_abort),
	        cmocka_unit_test(test_tcp_send_ref_mixed_with_copies_in_order_done_on_ack),
	        cmocka_unit_test(test_tcp_send_ref_retransmitted_from_caller_memory),
	        cmocka_unit_test(test_tcp_send_ref_queue_full_eagain_reset_abort_destroy_fail_refs),
	};
	int fails = cmocka_run_group_tests_name("copy", tests, NULL, NULL);

	fails += cmocka_run_group_tests_name("zerocopy_only", zc_tests, NULL, NULL);

	t_zc = true;
	fails += cmocka_run_group_tests_name("zerocopy", tests, NULL, NULL);
	return fails;
}
