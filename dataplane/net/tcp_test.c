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

static uint32_t t_keepalive_ms; /* keepalive idle time for the next t_new */

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
	cfg.cb.established = cb_est;
	cfg.cb.readable = cb_read;
	cfg.cb.writable = cb_write;
	cfg.cb.rx_end = cb_rx_end;
	cfg.cb.closed = cb_closed;
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
	assert_int_equal(k, 2);
	assert_int_equal(iov[0].iov_len, 4);
	assert_int_equal(iov[1].iov_len, 12);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
