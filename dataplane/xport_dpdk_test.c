// SPDX-License-Identifier: Apache-2.0
/*
 * xport_dpdk_test.c: the DPDK transport (xport_dpdk.c) without EAL: its stack talks to a
 * client stack (dataplane/net) over an in-memory wire (two packet queues). The request
 * path is real (kreq.c) with a test dispatcher that answers every request with a body of
 * the size the request asks for, so the tests cover framing across receive pieces,
 * responses larger than the send ring (partial sends continued on writable), pipelining,
 * the peer's close and a refused connection past the pool.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "dataplane/kreq.h"
#include "dataplane/net/tcp.h"
#include "dataplane/xport_dpdk.h"

#define WIRE_Q 4096
#define FRAME 1600
#define SRV_IP 0x0a000001u
#define CLI_IP 0x0a000002u
#define PORT 9092

struct wq {
	struct sl_pkt *q[WIRE_Q];
	unsigned head, tail;
};

struct side {
	struct wq *in, *out;
	unsigned allocs;
};

static struct wq wire_ab, wire_ba;
static struct side srv_side = {&wire_ab, &wire_ba, 0}, cli_side = {&wire_ba, &wire_ab, 0};

static unsigned
w_rx(void *ctx, struct sl_pkt **pkts, unsigned n)
{
	struct side *sd = ctx;
	unsigned i = 0;

	while (i < n && sd->in->head != sd->in->tail)
		pkts[i++] = sd->in->q[sd->in->head++ % WIRE_Q];
	return i;
}

static unsigned
w_tx(void *ctx, struct sl_pkt **pkts, unsigned n)
{
	struct side *sd = ctx;
	unsigned i = 0;

	while (i < n && sd->out->tail - sd->out->head < WIRE_Q)
		sd->out->q[sd->out->tail++ % WIRE_Q] = pkts[i++];
	return i;
}

static struct sl_pkt *
w_alloc(void *ctx)
{
	struct sl_pkt *p = malloc(sizeof(*p) + FRAME);

	(void)ctx;
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->data = (uint8_t *)(p + 1);
	p->cap = FRAME;
	return p;
}

static void
w_free(void *ctx, struct sl_pkt *p)
{
	(void)ctx;
	free(p);
}

/* ---- the request path's test dispatcher: body = int32 n, answer = n bytes ---- */

static unsigned ndispatched;

static int
t_dispatch(struct sl_kreq *req, void *ctx)
{
	int32_t n = 0;

	(void)ctx;
	ndispatched++;
	n = sl_crd_i32(&req->rd);
	if (req->rd.err || n < 0 || n > (8 << 20))
		return -EINVAL;
	sl_kreq_resp_begin(req, false);
	for (int32_t i = 0; i < n; i++)
		sl_wbuf_i8(&req->w, (int8_t)(i * 7 + req->correlation_id));
	sl_kreq_done(req);
	return 0;
}

static struct sl_kconn_cfg kcfg = {
        .max_frame_bytes = 1 << 20,
        .tx_limit_bytes = 16 << 20,
        .arena_blk_bytes = 16 << 10,
        .arena_max_bytes = 64 << 20,
        .stage_max_bytes = (1 << 20) + 4,
        .max_segs = 64,
        .overlap_api_key = -1,
        .dispatch = t_dispatch,
};

/* ---- the client: a plain stack, bytes collected into one buffer ---- */

struct cli {
	struct sl_net *n;
	struct sl_tcp_conn *c[8];
	unsigned nconns;
	bool established[8], ended[8];
	int end_err[8];
	uint8_t *rx[8];
	size_t rx_len[8];
};

static struct cli cli;
static int64_t now;

static int
cli_idx(struct sl_tcp_conn *c)
{
	for (unsigned i = 0; i < cli.nconns; i++)
		if (cli.c[i] == c)
			return (int)i;
	return -1;
}

static void
c_established(void *arg, struct sl_tcp_conn *c)
{
	int i = cli_idx(c);

	(void)arg;
	if (i >= 0)
		cli.established[i] = true;
}

static void
c_readable(void *arg, struct sl_tcp_conn *c)
{
	int i = cli_idx(c);
	struct iovec iov[2];
	unsigned n;
	size_t tot = 0;

	(void)arg;
	if (i < 0)
		return;
	n = sl_tcp_rx_peek(c, iov);
	for (unsigned k = 0; k < n; k++) {
		memcpy(cli.rx[i] + cli.rx_len[i], iov[k].iov_base, iov[k].iov_len);
		cli.rx_len[i] += iov[k].iov_len;
		tot += iov[k].iov_len;
	}
	sl_tcp_rx_consume(c, tot, now);
}

static void
c_rx_end(void *arg, struct sl_tcp_conn *c, int err)
{
	int i = cli_idx(c);

	(void)arg;
	if (i >= 0) {
		cli.ended[i] = true;
		cli.end_err[i] = err;
	}
}

static void
c_closed(void *arg, struct sl_tcp_conn *c)
{
	(void)arg;
	(void)c;
}

static struct sl_dxport *srv;

static void
run(unsigned iters)
{
	for (unsigned i = 0; i < iters; i++) {
		now += 100000; /* 0.1 ms */
		sl_dxport_poll(srv, now);
		sl_dxport_flush(srv, now);
		sl_net_poll(cli.n, now);
	}
}

static int
setup(void **state)
{
	struct sl_pkt_io sio = {w_rx, w_tx, w_alloc, w_free, &srv_side};
	struct sl_pkt_io cio = {w_rx, w_tx, w_alloc, w_free, &cli_side};
	struct sl_dxport_cfg cfg;
	struct sl_net_cfg nc;

	(void)state;
	memset(&wire_ab, 0, sizeof(wire_ab));
	memset(&wire_ba, 0, sizeof(wire_ba));
	memset(&cli, 0, sizeof(cli));
	ndispatched = 0;
	now = 1000000000;
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, "\x02\x00\x00\x00\x00\x01", 6);
	cfg.ip = SRV_IP;
	cfg.max_conns = 2;
	cfg.rcvbuf_bytes = 16 << 10;
	cfg.sndbuf_bytes = 16 << 10;
	cfg.secret = 42;
	assert_int_equal(sl_dxport_create(&srv, &cfg, &sio, &kcfg, NULL), 0);
	assert_int_equal(sl_dxport_listen(srv, PORT), 0);
	memset(&nc, 0, sizeof(nc));
	memcpy(nc.mac, "\x02\x00\x00\x00\x00\x02", 6);
	nc.ip = CLI_IP;
	nc.max_conns = 16;
	nc.rcvbuf_bytes = 1 << 20;
	nc.sndbuf_bytes = 64 << 10;
	nc.secret = 7;
	nc.cb.established = c_established;
	nc.cb.readable = c_readable;
	nc.cb.rx_end = c_rx_end;
	nc.cb.closed = c_closed;
	assert_int_equal(sl_net_create(&cli.n, &nc, &cio), 0);
	for (unsigned i = 0; i < 8; i++) {
		cli.rx[i] = malloc(4 << 20);
		assert_non_null(cli.rx[i]);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	sl_dxport_destroy(srv);
	sl_net_destroy(cli.n);
	for (unsigned i = 0; i < 8; i++)
		free(cli.rx[i]);
	/* frames still on the wire */
	while (wire_ab.head != wire_ab.tail)
		free(wire_ab.q[wire_ab.head++ % WIRE_Q]);
	while (wire_ba.head != wire_ba.tail)
		free(wire_ba.q[wire_ba.head++ % WIRE_Q]);
	return 0;
}

static unsigned
connect_one(void)
{
	unsigned i = cli.nconns++;

	assert_int_equal(sl_tcp_connect(cli.n, &cli.c[i], SRV_IP, PORT, 0,
	                                (const uint8_t *)"\x02\x00\x00\x00\x00\x01", now),
	                 0);
	run(10);
	return i;
}

/* A request: size, api_key 0, version 0, correlation id, client id "t", body int32 n. */
static size_t
build_req(uint8_t *b, int32_t corr, int32_t n)
{
	size_t len = 2 + 2 + 4 + 2 + 1 + 4;

	sl_put_be32(b, (uint32_t)len);
	sl_put_be16(b + 4, 0);
	sl_put_be16(b + 6, 0);
	sl_put_be32(b + 8, (uint32_t)corr);
	sl_put_be16(b + 12, 1);
	b[14] = 't';
	sl_put_be32(b + 15, (uint32_t)n);
	return len + 4;
}

static void
send_all(unsigned ci, const uint8_t *p, size_t len)
{
	size_t off = 0;

	for (unsigned k = 0; off < len && k < 10000; k++) {
		struct iovec iov = {(void *)(p + off), len - off};
		ssize_t r = sl_tcp_send(cli.c[ci], &iov, 1, now);

		assert_true(r >= 0);
		off += (size_t)r;
		run(1);
	}
	assert_int_equal(off, len);
}

/* Checks response k (corr) of n body bytes at *pos in client ci's bytes. */
static void
check_resp(unsigned ci, size_t *pos, int32_t corr, int32_t n)
{
	const uint8_t *r = cli.rx[ci] + *pos;

	if (cli.rx_len[ci] < *pos + 8 + (size_t)n)
		print_error("have %zu bytes, want %zu\n", cli.rx_len[ci], *pos + 8 + (size_t)n);

	assert_true(cli.rx_len[ci] >= *pos + 8 + (size_t)n);
	assert_int_equal(sl_be32(r), (uint32_t)(4 + n));
	assert_int_equal((int32_t)sl_be32(r + 4), corr);
	for (int32_t i = 0; i < n; i++)
		if (r[8 + i] != (uint8_t)(i * 7 + corr))
			fail_msg("response %d byte %d differs", corr, i);
	*pos += 8 + (size_t)n;
}

static void
test_xport_dpdk_request_response_answered_in_order(void **state)
{
	uint8_t req[64];
	size_t pos = 0;
	unsigned ci;
	struct sl_dxport_stats st;

	(void)state;
	ci = connect_one();
	assert_true(cli.established[ci]);
	/* one request cut in two segments (framing across pieces) */
	size_t len = build_req(req, 1, 100);
	send_all(ci, req, 5);
	run(5);
	assert_int_equal(ndispatched, 0);
	send_all(ci, req + 5, len - 5);
	run(20);
	assert_int_equal(ndispatched, 1);
	check_resp(ci, &pos, 1, 100);
	/* three pipelined in one send */
	uint8_t three[3 * 19];
	size_t l3 = 0;

	for (int k = 2; k <= 4; k++)
		l3 += build_req(three + l3, k, k * 10);
	send_all(ci, three, l3);
	run(40);
	for (int k = 2; k <= 4; k++)
		check_resp(ci, &pos, k, k * 10);
	assert_int_equal(cli.rx_len[ci], pos);
	sl_dxport_stats_get(srv, &st);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.conns, 1);
}

static void
test_xport_dpdk_response_larger_than_send_ring_arrives_whole(void **state)
{
	uint8_t req[64];
	size_t pos = 0;
	unsigned ci;

	(void)state;
	ci = connect_one();
	/* 200 KiB through a 16 KiB send ring: continued on writable events. */
	send_all(ci, req, build_req(req, 9, 200 << 10));
	run(3000);
	check_resp(ci, &pos, 9, 200 << 10);
	send_all(ci, req, build_req(req, 10, 3));
	run(40);
	check_resp(ci, &pos, 10, 3);
}

static void
test_xport_dpdk_request_larger_than_receive_ring_is_staged_and_answered(void **state)
{
	size_t pad = 100 << 10, len, pos = 0;
	uint8_t *req = calloc(1, pad + 64);
	unsigned ci;

	(void)state;
	assert_non_null(req);
	ci = connect_one();
	/* 100 KiB through a 16 KiB receive ring, then a small one behind it */
	len = build_req(req, 11, 5);
	sl_put_be32(req, (uint32_t)(len - 4 + pad));
	for (size_t i = 0; i < pad; i++)
		req[len + i] = (uint8_t)i;
	send_all(ci, req, len + pad);
	run(200);
	len = build_req(req, 12, 6);
	send_all(ci, req, len);
	run(100);
	check_resp(ci, &pos, 11, 5);
	check_resp(ci, &pos, 12, 6);
	assert_int_equal(ndispatched, 2);
	free(req);
}

static void
test_xport_dpdk_peer_close_frees_connection(void **state)
{
	struct sl_dxport_stats st;
	uint8_t req[64];
	size_t pos = 0;
	unsigned ci;

	(void)state;
	ci = connect_one();
	send_all(ci, req, build_req(req, 5, 10));
	run(20);
	check_resp(ci, &pos, 5, 10);
	sl_tcp_close(cli.c[ci], now);
	run(50);
	sl_dxport_stats_get(srv, &st);
	assert_int_equal(st.conns, 0);
	assert_true(sl_dxport_idle(srv));
	/* the server's FIN came back: the client's side waits in TIME_WAIT */
	assert_int_equal(sl_tcp_state(cli.c[ci]), SL_TCP_TIME_WAIT);
}

static void
test_xport_dpdk_bad_frame_closes_only_that_connection(void **state)
{
	struct sl_dxport_stats st;
	uint8_t bad[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, req[64];
	size_t pos = 0;
	unsigned a, b;

	(void)state;
	a = connect_one();
	b = connect_one();
	send_all(a, bad, sizeof(bad));
	run(50);
	assert_true(cli.ended[a]);
	send_all(b, req, build_req(req, 3, 4));
	run(20);
	check_resp(b, &pos, 3, 4);
	sl_dxport_stats_get(srv, &st);
	assert_int_equal(st.conns, 1);
}

static void
test_xport_dpdk_pool_full_refuses_connection(void **state)
{
	struct sl_dxport_stats st;

	(void)state;
	connect_one();
	connect_one();
	connect_one(); /* max_conns = 2 */
	run(50);
	sl_dxport_stats_get(srv, &st);
	assert_int_equal(st.accepted, 2);
	assert_int_equal(st.refused, 1);
	assert_true(cli.ended[2]);
	/* shutdown path: close every connection, the pool comes back */
	sl_dxport_close_all(srv);
	run(50);
	assert_true(sl_dxport_idle(srv));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_xport_dpdk_request_response_answered_in_order,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_xport_dpdk_response_larger_than_send_ring_arrives_whole, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_xport_dpdk_request_larger_than_receive_ring_is_staged_and_answered,
	                setup, teardown),
	        cmocka_unit_test_setup_teardown(test_xport_dpdk_peer_close_frees_connection, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_xport_dpdk_bad_frame_closes_only_that_connection, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_xport_dpdk_pool_full_refuses_connection, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
