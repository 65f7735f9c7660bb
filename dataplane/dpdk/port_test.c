/* SPDX-License-Identifier: Apache-2.0 */
/*
 * port_test.c: unit tests of the DPDK port layer on ring PMD ports (no NIC, no hugepages):
 * frames through struct sl_pkt_io, the seeded fault injector, and a TCP handshake + data
 * exchange between two sl_net stacks over two ring ports wired to each other.
 *
 * The EAL starts once per process (--no-huge -m 512 --no-shconf); when it cannot, the
 * whole program exits 77 (skip) and says why on stderr.
 *
 * Ports (vdev arguments below): net_ring0 a loopback (tx comes back on rx); net_ring1 and
 * net_ring2 loopbacks with the same faults; net_ring3/4 reorder/corrupt loopbacks; net_ring5
 * a loopback with two queues (each queue is looped back to itself); net_ring7 (16 queues)
 * for the steering modes;
 * net_ring_w5 <-> _w6 and net_ring_w7 <-> _w8 (the PMD prefixes "net_ring_"): port pairs over
 * two crossed rte_rings (rte_eth_from_rings), made in main(). Software steering: w9 <-> w10,
 * w11 <-> w12, ... w21 <-> w22 the same (one queue pair each): the odd
 * one steered over several virtual queues, the even one its single-queue peer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <cmocka.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/dpdk/port.h"
#include "dataplane/net/tcp.h"

#define EAL_ARGS                                                                                   \
	"-l 0 --no-huge -m 512 --no-shconf --no-pci --no-telemetry --log-level=lib.*:error "        \
	"--vdev=net_ring0 --vdev=net_ring1 --vdev=net_ring2 --vdev=net_ring3 --vdev=net_ring4 "        \
	"--vdev=net_ring5 --vdev=net_ring6 --vdev=net_ring7"

#define FRAME_LEN 64
#define ETHERTYPE_TEST 0x88b5 /* IEEE 802 local experimental */

static struct sl_dpdk_port *
port_new(const char *name, const struct sl_dpdk_fault_cfg *fault)
{
	struct sl_dpdk_port_cfg cfg;
	struct sl_dpdk_port *p = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.name = name;
	cfg.nb_queues = 1;
	cfg.nb_mbufs = 2048;
	if (fault != NULL)
		cfg.fault = *fault;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), 0);
	assert_non_null(p);
	return p;
}

static void
frame_fill(struct sl_pkt *pkt, uint32_t id)
{
	unsigned i;

	assert_true(pkt->cap >= FRAME_LEN);
	assert_int_equal(pkt->len, 0);
	memset(pkt->data, 0xff, 6);
	memcpy(pkt->data + 6, (const uint8_t[]){2, 0, 0, 0, 0, 9}, 6);
	pkt->data[12] = ETHERTYPE_TEST >> 8;
	pkt->data[13] = ETHERTYPE_TEST & 0xff;
	memcpy(pkt->data + 14, &id, 4);
	for (i = 18; i < FRAME_LEN; i++)
		pkt->data[i] = (uint8_t)(id + i);
	pkt->len = FRAME_LEN;
}

/* The id of a frame built by frame_fill, or -1 if any byte differs from what it wrote. */
static int64_t
frame_id(const struct sl_pkt *pkt)
{
	uint32_t id;
	unsigned i;

	if (pkt->len != FRAME_LEN || pkt->data[12] != (ETHERTYPE_TEST >> 8))
		return -1;
	memcpy(&id, pkt->data + 14, 4);
	for (i = 18; i < FRAME_LEN; i++)
		if (pkt->data[i] != (uint8_t)(id + i))
			return -1;
	return id;
}

/* Sends ids [first, first + cnt) through io, all of which must be taken. */
static void
send_frames(const struct sl_pkt_io *io, uint32_t first, unsigned cnt)
{
	struct sl_pkt *pkts[32];

	while (cnt > 0) {
		unsigned n = cnt < 32 ? cnt : 32, i;

		for (i = 0; i < n; i++) {
			pkts[i] = io->alloc(io->ctx);
			assert_non_null(pkts[i]);
			frame_fill(pkts[i], first + i);
		}
		assert_int_equal(io->tx_burst(io->ctx, pkts, n), n);
		first += n;
		cnt -= n;
	}
}

/* Receives until a few polls in a row come back empty; ids[] gets each frame's id (or -1
 * for a damaged frame). Returns the count. */
static unsigned
recv_frames(const struct sl_pkt_io *io, int64_t *ids, unsigned max)
{
	struct sl_pkt *pkts[32];
	unsigned got = 0, idle = 0, n, i;

	while (idle < 4) {
		n = io->rx_burst(io->ctx, pkts, 32);
		idle = n == 0 ? idle + 1 : 0;
		for (i = 0; i < n; i++) {
			assert_true(got < max);
			assert_non_null(pkts[i]->priv); /* the mbuf behind the wrapper */
			ids[got++] = frame_id(pkts[i]);
			io->free(io->ctx, pkts[i]);
		}
	}
	return got;
}

/* D1: faults on sent frames: dropped ones are taken but never arrive, corrupted ones
 * arrive damaged, each counted. */
static void
test_port_fault_tx_drop_corrupt_counted_and_seen_by_receiver(void **state)
{
	struct sl_dpdk_fault_cfg f = {.tx_drop = 0.2, .tx_corrupt = 0.1, .seed = 5};
	struct sl_dpdk_port *p = port_new("net_ring6", &f); /* a loopback of its own */
	struct sl_dpdk_queue_stats st;
	static int64_t ids[2000];
	struct sl_pkt_io io;
	unsigned got, damaged = 0;

	(void)state;
	assert_int_equal(sl_dpdk_port_io(p, 0, &io), 0);
	send_frames(&io, 0, 1000);
	got = recv_frames(&io, ids, 2000);
	for (unsigned i = 0; i < got; i++)
		damaged += ids[i] < 0;
	sl_dpdk_port_queue_stats(p, 0, &st);
	assert_int_equal(st.tx_pkts, 1000);
	assert_true(st.fault_tx_drop > 100 && st.fault_tx_drop < 300);
	assert_int_equal(got, 1000 - st.fault_tx_drop);
	assert_true(st.fault_tx_corrupt > 30);
	/* frame_id misses a flip in the id's upper bytes (the check bytes use its low byte):
	 * 24 of the 400 bits a flip may hit */
	assert_true(damaged <= st.fault_tx_corrupt && damaged * 10 >= st.fault_tx_corrupt * 8);
	assert_int_equal(st.fault_drop + st.fault_corrupt, 0); /* receive side untouched */
	sl_dpdk_port_destroy(p);
}

static void
test_port_loopback_frames_roundtrip(void **state)
{
	struct sl_dpdk_port *p = port_new("net_ring0", NULL);
	struct sl_dpdk_queue_stats st;
	struct sl_pkt_io io;
	static int64_t ids[512];
	unsigned got, i;

	(void)state;
	assert_int_equal(sl_dpdk_port_io(p, 0, &io), 0);
	assert_int_equal(sl_dpdk_port_io(p, 1, &io), -EINVAL);
	assert_int_equal(sl_dpdk_port_io(p, 0, &io), 0);
	/* the ring PMD offers no checksum offload, so the stack must compute checksums */
	assert_false(sl_dpdk_port_tx_csum_offload(p));
	send_frames(&io, 100, 300);
	got = recv_frames(&io, ids, 512);
	assert_int_equal(got, 300);
	for (i = 0; i < got; i++)
		assert_int_equal(ids[i], 100 + i);
	sl_dpdk_port_queue_stats(p, 0, &st);
	assert_int_equal(st.tx_pkts, 300);
	assert_int_equal(st.rx_pkts, 300);
	assert_int_equal(st.fault_drop + st.fault_dup, 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(p), 0);
	sl_dpdk_port_destroy(p);
}

/* Two shards: each queue has its own pool and sees only its own frames. */
static void
test_port_two_queues_separate_pools(void **state)
{
	struct sl_dpdk_port_cfg cfg;
	struct sl_dpdk_port *p = NULL;
	struct sl_pkt_io io0, io1;
	struct sl_pkt *pk0, *pk1;
	static int64_t ids[64];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "net_ring5";
	cfg.nb_queues = 2;
	cfg.nb_mbufs = 512;
	cfg.steer = SL_DPDK_STEER_OFF; /* the ring PMD does not hash flows: auto would steer */
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), 0);
	assert_false(sl_dpdk_port_steered(p));
	assert_int_equal(sl_dpdk_port_io(p, 0, &io0), 0);
	assert_int_equal(sl_dpdk_port_io(p, 1, &io1), 0);
	assert_ptr_not_equal(io0.ctx, io1.ctx);
	pk0 = io0.alloc(io0.ctx);
	pk1 = io1.alloc(io1.ctx);
	assert_non_null(pk0);
	assert_non_null(pk1);
	assert_ptr_not_equal(((struct rte_mbuf *)pk0->priv)->pool,
	                     ((struct rte_mbuf *)pk1->priv)->pool);
	io0.free(io0.ctx, pk0);
	io1.free(io1.ctx, pk1);
	send_frames(&io1, 7, 20);
	assert_int_equal(recv_frames(&io0, ids, 64), 0);
	assert_int_equal(recv_frames(&io1, ids, 64), 20);
	assert_int_equal(ids[0], 7);
	assert_int_equal(ids[19], 26);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(p), 0);
	sl_dpdk_port_destroy(p);
}

static void
test_port_create_bad_cfg_rejected(void **state)
{
	struct sl_dpdk_port_cfg cfg;
	struct sl_dpdk_port *p = (struct sl_dpdk_port *)&cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "net_nosuch0";
	cfg.nb_queues = 1;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -ENODEV);
	assert_null(p);
	cfg.name = "net_ring0";
	cfg.nb_queues = 0;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -EINVAL);
	cfg.nb_queues = 1;
	cfg.fault.drop = 1.5;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -EINVAL);
	cfg.fault.drop = -0.1;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -EINVAL);
	assert_int_equal(sl_dpdk_eal_init("-l 0"), -EALREADY);
}

#define NFAULT 2000

/* Two ports with the same faults and seed see the same frames dropped and duplicated, and
 * the counts are near the configured fractions. */
static void
test_port_fault_drop_dup_seeded_deterministic(void **state)
{
	struct sl_dpdk_fault_cfg fault = {.drop = 0.2, .dup = 0.1, .seed = 42};
	static int64_t ids[2][2 * NFAULT];
	struct sl_dpdk_queue_stats st[2];
	unsigned got[2], k, i, seen_dup = 0;
	static unsigned cnt[NFAULT];

	(void)state;
	for (k = 0; k < 2; k++) {
		struct sl_dpdk_port *p = port_new(k == 0 ? "net_ring1" : "net_ring2", &fault);
		struct sl_pkt_io io;
		unsigned sent;

		assert_int_equal(sl_dpdk_port_io(p, 0, &io), 0);
		/* in chunks below the ring PMD's 1024-entry ring */
		for (sent = 0, got[k] = 0; sent < NFAULT; sent += 500) {
			send_frames(&io, sent, 500);
			got[k] += recv_frames(&io, ids[k] + got[k], 2 * NFAULT - got[k]);
		}
		sl_dpdk_port_queue_stats(p, 0, &st[k]);
		sl_dpdk_port_destroy(p);
	}
	assert_int_equal(got[0], got[1]);
	assert_memory_equal(ids[0], ids[1], got[0] * sizeof(ids[0][0]));
	assert_memory_equal(&st[0], &st[1], sizeof(st[0]));

	/* 20% of 2000 = 400 drops, 10% of the 1600 kept = ~160 duplicates; the bounds are
	 * about 4 standard deviations. */
	assert_in_range(st[0].fault_drop, 330, 470);
	assert_in_range(st[0].fault_dup, 110, 210);
	assert_int_equal(st[0].fault_dup_nomem, 0);
	assert_int_equal(got[0], NFAULT - st[0].fault_drop + st[0].fault_dup);
	memset(cnt, 0, sizeof(cnt));
	for (i = 0; i < got[0]; i++) {
		assert_in_range(ids[0][i], 0, NFAULT - 1);
		cnt[ids[0][i]]++;
		/* a duplicate follows its original at once */
		if (i > 0 && ids[0][i] == ids[0][i - 1])
			seen_dup++;
	}
	assert_int_equal(seen_dup, st[0].fault_dup);
	for (i = 0, k = 0; i < NFAULT; i++) {
		assert_in_range(cnt[i], 0, 2);
		k += cnt[i] == 0;
	}
	assert_int_equal(k, st[0].fault_drop);
}

/* Reordering delivers every frame exactly once, some of them late; corruption damages
 * exactly the configured fraction. */
static void
test_port_fault_reorder_corrupt_counts(void **state)
{
	struct sl_dpdk_fault_cfg reo = {.reorder = 0.3, .seed = 7};
	struct sl_dpdk_fault_cfg cor = {.corrupt = 0.25, .seed = 9};
	static int64_t ids[1000];
	static unsigned cnt[1000];
	struct sl_dpdk_queue_stats st;
	struct sl_dpdk_port *p;
	struct sl_pkt_io io;
	unsigned got, i, late = 0, bad = 0;

	(void)state;
	p = port_new("net_ring3", &reo);
	assert_int_equal(sl_dpdk_port_io(p, 0, &io), 0);
	send_frames(&io, 0, 500);
	got = recv_frames(&io, ids, 1000);
	sl_dpdk_port_queue_stats(p, 0, &st);
	sl_dpdk_port_destroy(p);
	assert_int_equal(got, 500);
	memset(cnt, 0, sizeof(cnt));
	for (i = 0; i < got; i++) {
		assert_in_range(ids[i], 0, 499);
		cnt[ids[i]]++;
		if (i > 0 && ids[i] < ids[i - 1])
			late++;
	}
	for (i = 0; i < 500; i++)
		assert_int_equal(cnt[i], 1);
	assert_int_equal(late, st.fault_reorder);
	assert_in_range(st.fault_reorder, 60, 160); /* ~0.3 * 500 less those already held */

	p = port_new("net_ring4", &cor);
	assert_int_equal(sl_dpdk_port_io(p, 0, &io), 0);
	send_frames(&io, 0, 800);
	got = recv_frames(&io, ids, 1000);
	sl_dpdk_port_queue_stats(p, 0, &st);
	sl_dpdk_port_destroy(p);
	assert_int_equal(got, 800);
	for (i = 0; i < got; i++)
		bad += ids[i] < 0 || ids[i] != (int64_t)i;
	/* a flipped bit may land in the ethertype/id (then the id is wrong) or the payload */
	assert_int_equal(bad, st.fault_corrupt);
	assert_in_range(st.fault_corrupt, 150, 250);
}

static void
test_port_cfg_from_props_parses_fractions(void **state)
{
	struct sl_props pr;
	struct sl_dpdk_port_cfg cfg;
	const char *eal = NULL;
	static const char good[] = "dpdk.eal.args=-l 0 --no-huge\n"
	                           "dpdk.fault.drop=0.01\ndpdk.fault.dup=0.5\n"
	                           "dpdk.fault.seed=99\n";

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	sl_props_init(&pr);
	assert_int_equal(sl_props_parse(&pr, good, sizeof(good) - 1, "t", NULL), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), 0);
	assert_string_equal(eal, "-l 0 --no-huge");
	assert_true(cfg.fault.drop > 0.0099 && cfg.fault.drop < 0.0101);
	assert_true(cfg.fault.dup == 0.5);
	assert_true(cfg.fault.reorder == 0.0);
	assert_int_equal(cfg.fault.seed, 99);
	assert_int_equal(sl_props_set(&pr, "dpdk.fault.corrupt", "1.01", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), -EINVAL);
	assert_int_equal(sl_props_set(&pr, "dpdk.fault.corrupt", "0.1x", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), -EINVAL);
	assert_int_equal(sl_props_set(&pr, "dpdk.fault.corrupt", "nan", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), -EINVAL);
	assert_int_equal(sl_props_set(&pr, "dpdk.fault.corrupt", "0.5", "t"), 0);
	/* steering: mode and ring size */
	assert_int_equal(cfg.steer, SL_DPDK_STEER_AUTO);
	assert_int_equal(sl_props_set(&pr, "dpdk.steer", "on", "t"), 0);
	assert_int_equal(sl_props_set(&pr, "dpdk.steer.ring.size", "4096", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), 0);
	assert_int_equal(cfg.steer, SL_DPDK_STEER_ON);
	assert_int_equal(cfg.steer_ring, 4096);
	assert_int_equal(sl_props_set(&pr, "dpdk.steer", "off", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), 0);
	assert_int_equal(cfg.steer, SL_DPDK_STEER_OFF);
	assert_int_equal(sl_props_set(&pr, "dpdk.steer", "sometimes", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), -EINVAL);
	assert_int_equal(sl_props_set(&pr, "dpdk.steer", "auto", "t"), 0);
	assert_int_equal(sl_props_set(&pr, "dpdk.steer.ring.size", "1000", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), -EINVAL);
	assert_int_equal(sl_props_set(&pr, "dpdk.steer.ring.size", "32", "t"), 0);
	assert_int_equal(sl_dpdk_cfg_from_props(&pr, &cfg, &eal), -EINVAL);
	sl_props_fini(&pr);
}

/* --- two sl_net stacks over two wired ports --- */

#define MS 1000000LL
#define IP_A 0x0a000001u /* 10.0.0.1: listens */
#define IP_B 0x0a000002u /* 10.0.0.2: connects */
#define TPORT 9092
#define XFER (256u * 1024u)

struct side {
	struct sl_dpdk_port *port;
	struct sl_net *n;
	struct sl_tcp_conn *c;
	unsigned established;
	int rx_end_err;
	unsigned rx_end;
	size_t rcvd;
	size_t bad; /* received bytes that differ from what was sent */
};

static void
s_est(void *arg, struct sl_tcp_conn *c)
{
	struct side *s = arg;

	s->established++;
	s->c = c;
}

static void
s_read(void *arg, struct sl_tcp_conn *c)
{
	(void)arg;
	(void)c;
}

static void
s_write(void *arg, struct sl_tcp_conn *c)
{
	(void)arg;
	(void)c;
}

static void
s_rx_end(void *arg, struct sl_tcp_conn *c, int err)
{
	struct side *s = arg;

	(void)c;
	s->rx_end++;
	s->rx_end_err = err;
}

static void
s_closed(void *arg, struct sl_tcp_conn *c)
{
	(void)arg;
	(void)c;
}

static void
side_new(struct side *s, const char *port, const struct sl_dpdk_fault_cfg *fault, uint32_t ip,
         uint8_t mac_last)
{
	struct sl_net_cfg cfg;
	struct sl_pkt_io io;

	memset(s, 0, sizeof(*s));
	s->port = port_new(port, fault);
	assert_int_equal(sl_dpdk_port_io(s->port, 0, &io), 0);
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, (const uint8_t[]){2, 0, 0, 0, 0, mac_last}, 6);
	cfg.ip = ip;
	cfg.max_conns = 16;
	cfg.rcvbuf_bytes = 1 << 16;
	cfg.sndbuf_bytes = 1 << 16;
	cfg.secret = 0x5eed0000u + ip;
	cfg.tx_csum_offload = sl_dpdk_port_tx_csum_offload(s->port);
	cfg.cb.established = s_est;
	cfg.cb.readable = s_read;
	cfg.cb.writable = s_write;
	cfg.cb.rx_end = s_rx_end;
	cfg.cb.closed = s_closed;
	cfg.cb.arg = s;
	assert_int_equal(sl_net_create(&s->n, &cfg, &io), 0);
}

static uint8_t
pattern(size_t off)
{
	return (uint8_t)((off * 131u) ^ (off >> 9));
}

static void
drain_rx(struct side *s, int64_t now)
{
	struct iovec iov[2];
	unsigned n, i;
	size_t j, tot = 0;

	if (s->c == NULL)
		return;
	n = sl_tcp_rx_peek(s->c, iov);
	for (i = 0; i < n; i++) {
		const uint8_t *b = iov[i].iov_base;

		for (j = 0; j < iov[i].iov_len; j++)
			if (b[j] != pattern(s->rcvd + tot + j))
				s->bad++;
		tot += iov[i].iov_len;
	}
	s->rcvd += tot;
	if (tot > 0)
		sl_tcp_rx_consume(s->c, tot, now);
}

/* B connects to A, sends XFER bytes, closes; A must get every byte intact and the FIN. */
static void
tcp_exchange(const char *pa, const char *pb, const struct sl_dpdk_fault_cfg *fault,
             int64_t max_ms)
{
	static uint8_t chunk[4096];
	struct side a, b;
	struct sl_tcp_conn *bc = NULL;
	struct sl_net_stats sa, sb;
	uint8_t a_mac[6] = {2, 0, 0, 0, 0, 0xa};
	int64_t now = 1000 * MS, end;
	size_t sent = 0;
	bool closed = false;

	side_new(&a, pa, fault, IP_A, 0xa);
	side_new(&b, pb, fault, IP_B, 0xb);
	assert_int_equal(sl_tcp_listen(a.n, TPORT, 16), 0);
	assert_int_equal(sl_tcp_connect(b.n, &bc, IP_A, TPORT, 0, a_mac, now), 0);
	end = now + max_ms * MS;
	while (now < end && !(a.rx_end && a.rcvd == XFER)) {
		if (b.established && !closed) {
			while (sent < XFER) {
				struct iovec iov;
				size_t len = XFER - sent < sizeof(chunk) ? XFER - sent : sizeof(chunk);
				ssize_t r;
				size_t j;

				for (j = 0; j < len; j++)
					chunk[j] = pattern(sent + j);
				iov.iov_base = chunk;
				iov.iov_len = len;
				r = sl_tcp_send(bc, &iov, 1, now);
				assert_true(r >= 0);
				sent += (size_t)r;
				if ((size_t)r < len)
					break;
			}
			if (sent == XFER) {
				sl_tcp_close(bc, now);
				closed = true;
			}
		}
		sl_net_poll(b.n, now);
		sl_net_poll(a.n, now);
		drain_rx(&a, now);
		sl_net_flush(a.n);
		now += MS / 10;
	}
	sl_net_stats_get(a.n, &sa);
	sl_net_stats_get(b.n, &sb);
	print_message("tcp over %s<->%s: %zu bytes in %lld ms (virtual), retrans %llu/%llu, "
	              "rx_drop %llu/%llu\n", pa, pb, a.rcvd, (long long)((now - 1000 * MS) / MS),
	              (unsigned long long)sb.retrans, (unsigned long long)sa.retrans,
	              (unsigned long long)sa.rx_drop, (unsigned long long)sb.rx_drop);
	assert_int_equal(b.established, 1);
	assert_int_equal(a.established, 1);
	assert_int_equal(a.rcvd, XFER);
	assert_int_equal(a.bad, 0);
	assert_int_equal(a.rx_end, 1);
	assert_int_equal(a.rx_end_err, 0);
	if (fault != NULL) {
		struct sl_dpdk_queue_stats qa, qb;

		sl_dpdk_port_queue_stats(a.port, 0, &qa);
		sl_dpdk_port_queue_stats(b.port, 0, &qb);
		print_message("faults a/b: drop %llu/%llu dup %llu/%llu reorder %llu/%llu "
		              "corrupt %llu/%llu\n",
		              (unsigned long long)qa.fault_drop, (unsigned long long)qb.fault_drop,
		              (unsigned long long)qa.fault_dup, (unsigned long long)qb.fault_dup,
		              (unsigned long long)qa.fault_reorder, (unsigned long long)qb.fault_reorder,
		              (unsigned long long)qa.fault_corrupt, (unsigned long long)qb.fault_corrupt);
		assert_true(qa.fault_drop > 0 && qa.fault_dup > 0 && qa.fault_reorder > 0 &&
		            qa.fault_corrupt > 0);
		assert_true(sb.retrans + sb.fast_retrans > 0);
	}
	sl_tcp_close(a.c, now);
	sl_net_destroy(a.n);
	sl_net_destroy(b.n);
	/* every mbuf, whichever side's pool it came from, is back after the drain */
	sl_dpdk_port_drain(a.port);
	sl_dpdk_port_drain(b.port);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(a.port), 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(b.port), 0);
	sl_dpdk_port_destroy(a.port);
	sl_dpdk_port_destroy(b.port);
}

static void
test_port_tcp_two_stacks_exchange_data(void **state)
{
	(void)state;
	tcp_exchange("net_ring_w5", "net_ring_w6", NULL, 10000);
}

static void
test_port_tcp_faulty_link_still_delivers(void **state)
{
	struct sl_dpdk_fault_cfg f = {
		.drop = 0.03, .dup = 0.02, .reorder = 0.05, .corrupt = 0.01, .seed = 1234};

	(void)state;
	tcp_exchange("net_ring_w7", "net_ring_w8", &f, 120000);
}


/* --- software steering over a one-queue device --- */

#define SRV_IP 0x0a000001u
#define SRV_PORT 9092
#define NFLOW 64
#define PER_FLOW 8 /* frames per flow, alternating direction */

static void
put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void
put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

static uint32_t
cli_ip(unsigned f)
{
	return 0x0a010000u + f * 37u + 1u;
}

static uint16_t
cli_port(unsigned f)
{
	return (uint16_t)(40000u + f * 7u);
}

/* A 64-byte TCP/IPv4 frame (checksums left 0: the port does not look) carrying tag. */
static void
tcp_frame(struct sl_pkt *pkt, uint32_t sip, uint16_t sp, uint32_t dip, uint16_t dp, uint8_t proto,
          uint32_t tag)
{
	uint8_t *d = pkt->data, *ip = d + 14;

	memset(d, 0, FRAME_LEN);
	memcpy(d, (const uint8_t[]){2, 0, 0, 0, 0, 0xa}, 6);
	memcpy(d + 6, (const uint8_t[]){2, 0, 0, 0, 0, 0xb}, 6);
	put16(d + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, FRAME_LEN - 14);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, sip);
	put32(ip + 16, dip);
	put16(ip + 20, sp);
	put16(ip + 22, dp);
	ip[32] = 0x50;
	memcpy(d + 54, &tag, 4);
	pkt->len = FRAME_LEN;
}

static void
arp_frame(struct sl_pkt *pkt, uint16_t op, uint32_t tag)
{
	uint8_t *d = pkt->data;

	memset(d, 0, FRAME_LEN);
	memset(d, 0xff, 6);
	memcpy(d + 6, (const uint8_t[]){2, 0, 0, 0, 0, 0xb}, 6);
	put16(d + 12, 0x0806);
	put16(d + 14, 1);
	put16(d + 16, 0x0800);
	d[18] = 6;
	d[19] = 4;
	put16(d + 20, op);
	memcpy(d + 54, &tag, 4);
	pkt->len = FRAME_LEN;
}

static uint32_t
frame_tag(const struct sl_pkt *pkt)
{
	uint32_t tag;

	memcpy(&tag, pkt->data + 54, 4);
	return tag;
}

static struct sl_dpdk_port *
steered_new(const char *name, unsigned nq, unsigned ring, const struct sl_dpdk_fault_cfg *fault)
{
	struct sl_dpdk_port_cfg cfg;
	struct sl_dpdk_port *p = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.name = name;
	cfg.nb_queues = nq;
	cfg.nb_mbufs = 2048;
	cfg.steer_ring = ring;
	if (fault != NULL)
		cfg.fault = *fault;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), 0);
	assert_true(sl_dpdk_port_steered(p));
	return p;
}

static void
send_pkts(const struct sl_pkt_io *io, struct sl_pkt **pkts, unsigned n)
{
	assert_int_equal(io->tx_burst(io->ctx, pkts, n), n);
}

#define TAG_ARP 0xa0000000u
#define TAG_ICMP 0xb0000000u
#define TAG_TX 0xc0000000u

/* Every frame of a flow, either direction, lands on one queue (the one flow_queue names),
 * ARP on every queue once, ICMP on queue 0; what the queues send all leaves by the one
 * device queue, but for the ARP replies of queues > 0; no mbuf stays out. */
static void
test_port_steer_flows_land_on_one_queue_arp_on_every_queue(void **state)
{
	enum { NQ = 4 };
	struct sl_dpdk_port *p = steered_new("net_ring_w9", NQ, 0, NULL);
	struct sl_dpdk_port *peer = port_new("net_ring_w10", NULL);
	struct sl_pkt_io io[NQ], pio;
	struct sl_pkt *pkts[32];
	struct sl_dpdk_queue_stats st;
	static int64_t ids[512];
	int flow_q[NFLOW];
	unsigned per_q[NQ] = {0}, arp_q[NQ] = {0}, icmp_q[NQ] = {0}, got = 0, idle = 0, q, f, i;

	(void)state;
	for (q = 0; q < NQ; q++)
		assert_int_equal(sl_dpdk_port_io(p, q, &io[q]), 0);
	assert_int_equal(sl_dpdk_port_io(p, NQ, &io[0]), -EINVAL);
	assert_int_equal(sl_dpdk_port_io(p, 0, &io[0]), 0);
	assert_int_equal(sl_dpdk_port_io(peer, 0, &pio), 0);
	assert_false(sl_dpdk_port_steered(peer));
	for (f = 0; f < NFLOW; f++) {
		flow_q[f] = -1;
		/* symmetric */
		assert_int_equal(sl_dpdk_port_flow_queue(p, cli_ip(f), cli_port(f), SRV_IP, SRV_PORT),
		                 sl_dpdk_port_flow_queue(p, SRV_IP, SRV_PORT, cli_ip(f), cli_port(f)));
	}
	/* NFLOW * PER_FLOW frames, half each way, then one ARP request and one ICMP */
	for (i = 0; i < NFLOW * PER_FLOW; i += 32) {
		for (unsigned k = 0; k < 32; k++) {
			unsigned n = i + k;

			f = n % NFLOW;
			pkts[k] = pio.alloc(pio.ctx);
			assert_non_null(pkts[k]);
			if ((n / NFLOW) & 1)
				tcp_frame(pkts[k], SRV_IP, SRV_PORT, cli_ip(f), cli_port(f), 6, n);
			else
				tcp_frame(pkts[k], cli_ip(f), cli_port(f), SRV_IP, SRV_PORT, 6, n);
		}
		send_pkts(&pio, pkts, 32);
	}
	pkts[0] = pio.alloc(pio.ctx);
	pkts[1] = pio.alloc(pio.ctx);
	arp_frame(pkts[0], 1, TAG_ARP);
	tcp_frame(pkts[1], cli_ip(0), 0, SRV_IP, 0, 1 /* ICMP */, TAG_ICMP);
	send_pkts(&pio, pkts, 2);

	/* every queue polled in turn, queue 0 first (it feeds the others) */
	while (idle < 4) {
		unsigned round = 0;

		for (q = 0; q < NQ; q++) {
			unsigned n = io[q].rx_burst(io[q].ctx, pkts, 32);

			round += n;
			for (i = 0; i < n; i++) {
				uint32_t tag = frame_tag(pkts[i]);

				if (tag == TAG_ARP) {
					arp_q[q]++;
				} else if (tag == TAG_ICMP) {
					icmp_q[q]++;
				} else {
					assert_true(tag < NFLOW * PER_FLOW);
					f = tag % NFLOW;
					if (flow_q[f] < 0)
						flow_q[f] = (int)q;
					assert_int_equal(flow_q[f], q);
					per_q[q]++;
					got++;
				}
				io[q].free(io[q].ctx, pkts[i]);
			}
		}
		idle = round == 0 ? idle + 1 : 0;
	}
	assert_int_equal(got, NFLOW * PER_FLOW);
	for (f = 0; f < NFLOW; f++)
		assert_int_equal(flow_q[f], sl_dpdk_port_flow_queue(p, cli_ip(f), cli_port(f), SRV_IP,
		                                                      SRV_PORT));
	for (q = 0; q < NQ; q++) {
		print_message("queue %u: %u frames (%u flows of %u), arp %u icmp %u\n", q, per_q[q],
		              per_q[q] / PER_FLOW, NFLOW, arp_q[q], icmp_q[q]);
		assert_true(per_q[q] > 0);
		assert_int_equal(arp_q[q], 1);
		assert_int_equal(icmp_q[q], q == 0);
	}
	/* whichever queue polled the device: one ARP copy for each other queue, none lost */
	{
		uint64_t fwd = 0, copies = 0, lost = 0;

		for (q = 0; q < NQ; q++) {
			sl_dpdk_port_queue_stats(p, q, &st);
			fwd += st.steer_fwd;
			copies += st.steer_copy;
			lost += st.steer_drop + st.steer_copy_fail;
			assert_int_equal(sl_dpdk_port_steer_moved(p, q),
			                 st.steer_fwd + st.steer_tx_drained);
		}
		assert_int_equal(copies, NQ - 1);
		assert_int_equal(lost, 0);
		assert_true(fwd >= per_q[1] && fwd <= got + NQ + 1);
	}

	/* send: 5 frames from each queue and an ARP reply from each: the peer sees the 20
	 * frames and queue 0's reply only */
	for (q = 0; q < NQ; q++) {
		for (i = 0; i < 6; i++) {
			pkts[i] = io[q].alloc(io[q].ctx);
			assert_non_null(pkts[i]);
			if (i == 3)
				arp_frame(pkts[i], 2, TAG_ARP + q);
			else
				frame_fill(pkts[i], TAG_TX + q * 16 + i);
		}
		send_pkts(&io[q], pkts, 6);
	}
	(void)io[0].rx_burst(io[0].ctx, pkts, 32); /* queue 0 empties the send ring */
	got = recv_frames(&pio, ids, 512);
	assert_int_equal(got, NQ * 5 + 1);
	for (q = 0; q < NQ; q++) {
		unsigned seen = 0;

		for (i = 0; i < got; i++)
			seen += ids[i] >= TAG_TX + q * 16 && ids[i] < TAG_TX + q * 16 + 6;
		assert_int_equal(seen, 5);
		sl_dpdk_port_queue_stats(p, q, &st);
		assert_int_equal(st.steer_arp_quiet, q > 0);
		assert_int_equal(st.tx_pkts, 6);
		/* one thread: the token is always free, so every queue sent straight */
		assert_int_equal(st.steer_tx_ring + st.steer_busy, 0);
	}

	sl_dpdk_port_drain(p);
	sl_dpdk_port_drain(peer);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(p), 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(peer), 0);
	sl_dpdk_port_destroy(p);
	sl_dpdk_port_destroy(peer);
}

/* A queue that does not poll never holds up the others: its ring fills, the rest of its
 * frames are dropped and counted, and drain gives every mbuf back. */
static void
test_port_steer_full_ring_drops_and_counts_never_blocks(void **state)
{
	enum { NQ = 2, RING = 64, NSEND = 300 };
	struct sl_dpdk_port *p = steered_new("net_ring_w11", NQ, RING, NULL);
	struct sl_dpdk_port *peer = port_new("net_ring_w12", NULL);
	struct sl_pkt_io io0, io1, pio;
	struct sl_pkt *pkts[32];
	struct sl_dpdk_queue_stats st;
	unsigned f1 = 0, f0 = 0, got0 = 0, got1 = 0, i, n, idle = 0;

	(void)state;
	assert_int_equal(sl_dpdk_port_io(p, 0, &io0), 0);
	assert_int_equal(sl_dpdk_port_io(p, 1, &io1), 0);
	assert_int_equal(sl_dpdk_port_io(peer, 0, &pio), 0);
	while (sl_dpdk_port_flow_queue(p, cli_ip(f1), cli_port(f1), SRV_IP, SRV_PORT) != 1)
		f1++;
	while (sl_dpdk_port_flow_queue(p, cli_ip(f0), cli_port(f0), SRV_IP, SRV_PORT) != 0)
		f0++;
	/* one flow for queue 1, one for queue 0, interleaved */
	for (i = 0; i < NSEND; i += 30) {
		for (n = 0; n < 30; n++) {
			unsigned f = n & 1 ? f0 : f1;

			pkts[n] = pio.alloc(pio.ctx);
			assert_non_null(pkts[n]);
			tcp_frame(pkts[n], cli_ip(f), cli_port(f), SRV_IP, SRV_PORT, 6, i + n);
		}
		send_pkts(&pio, pkts, 30);
	}
	/* only queue 0 polls */
	while (idle < 4) {
		n = io0.rx_burst(io0.ctx, pkts, 32);
		idle = n == 0 ? idle + 1 : 0;
		for (i = 0; i < n; i++)
			io0.free(io0.ctx, pkts[i]);
		got0 += n;
	}
	sl_dpdk_port_queue_stats(p, 0, &st);
	assert_int_equal(got0, NSEND / 2);
	assert_int_equal(st.steer_fwd, RING - 1); /* an rte_ring holds size - 1 */
	assert_int_equal(st.steer_drop, NSEND / 2 - (RING - 1));
	/* queue 1 finally polls: what fitted, in order */
	while ((n = io1.rx_burst(io1.ctx, pkts, 32)) > 0) {
		for (i = 0; i < n; i++) {
			assert_int_equal(frame_tag(pkts[i]), 2 * (got1 + i));
			io1.free(io1.ctx, pkts[i]);
		}
		got1 += n;
	}
	assert_int_equal(got1, RING - 1);
	/* frames left in the ring at shut-down come back through drain */
	for (i = 0; i < 10; i++) {
		pkts[i] = pio.alloc(pio.ctx);
		tcp_frame(pkts[i], cli_ip(f1), cli_port(f1), SRV_IP, SRV_PORT, 6, i);
	}
	send_pkts(&pio, pkts, 10);
	assert_int_equal(io0.rx_burst(io0.ctx, pkts, 32), 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(peer), 10); /* ring PMD: the sender's mbufs */
	sl_dpdk_port_drain(p);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(p), 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(peer), 0);
	sl_dpdk_port_destroy(p);
	sl_dpdk_port_destroy(peer);
}

static void
test_port_steer_modes_and_bad_ring_size(void **state)
{
	struct sl_dpdk_port_cfg cfg;
	struct sl_dpdk_port *p = NULL;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "net_ring_w13"; /* one queue pair */
	cfg.nb_queues = 2;
	cfg.nb_mbufs = 512;
	cfg.steer = SL_DPDK_STEER_OFF;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -EINVAL);
	cfg.steer = SL_DPDK_STEER_AUTO;
	cfg.steer_ring = 100;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -EINVAL);
	cfg.steer_ring = 32;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -EINVAL);
	cfg.steer_ring = 0;
	cfg.steer = (enum sl_dpdk_steer)7;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), -EINVAL);
	/* one queue: nothing to steer, whatever the mode */
	cfg.steer = SL_DPDK_STEER_ON;
	cfg.nb_queues = 1;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), 0);
	assert_false(sl_dpdk_port_steered(p));
	assert_int_equal(sl_dpdk_port_flow_queue(p, 1, 2, 3, 4), 0);
	sl_dpdk_port_destroy(p);
	/* a device with enough queues (a net_ring vdev has 16) but no flow hashing: auto
	 * steers (a vdev port is gone once closed: one create per port) */
	cfg.name = "net_ring7";
	cfg.nb_queues = 2;
	cfg.steer = SL_DPDK_STEER_AUTO;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), 0);
	assert_true(sl_dpdk_port_steered(p));
	assert_true(sl_dpdk_port_flow_queue(p, 1, 2, 3, 4) < 2);
	sl_dpdk_port_destroy(p);
	cfg.name = "net_ring_w14";
	cfg.steer = SL_DPDK_STEER_AUTO;
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), 0); /* one queue pair: steered */
	assert_true(sl_dpdk_port_steered(p));
	sl_dpdk_port_destroy(p);
}

/* --- TCP: one client stack, one server stack per virtual queue --- */

#define NCONN 24
#define CONN_BYTES (16u * 1024u)
#define NSRV_MAX 4

struct srv {
	struct sl_net *n;
	unsigned q;
	unsigned established, rx_end;
	struct sl_tcp_conn *c[NCONN];
	size_t rcvd[NCONN];
	size_t bad;
	size_t total;
};

struct cli {
	struct sl_net *n;
	unsigned established;
};

static void
srv_est(void *arg, struct sl_tcp_conn *c)
{
	struct srv *s = arg;

	assert_true(s->established < NCONN);
	s->c[s->established++] = c;
}

static void
srv_rx_end(void *arg, struct sl_tcp_conn *c, int err)
{
	struct srv *s = arg;

	(void)c;
	if (err == 0)
		s->rx_end++;
}

static void
cli_rx_end(void *arg, struct sl_tcp_conn *c, int err)
{
	(void)arg;
	(void)c;
	(void)err;
}

static void
cli_est(void *arg, struct sl_tcp_conn *c)
{
	struct cli *cl = arg;

	(void)c;
	cl->established++;
}

static void
srv_drain(struct srv *s, int64_t now)
{
	for (unsigned i = 0; i < s->established; i++) {
		struct iovec iov[2];
		unsigned n = sl_tcp_rx_peek(s->c[i], iov);
		size_t tot = 0;

		for (unsigned k = 0; k < n; k++) {
			const uint8_t *b = iov[k].iov_base;

			for (size_t j = 0; j < iov[k].iov_len; j++)
				if (b[j] != pattern(s->rcvd[i] + tot + j))
					s->bad++;
			tot += iov[k].iov_len;
		}
		s->rcvd[i] += tot;
		s->total += tot;
		if (tot)
			sl_tcp_rx_consume(s->c[i], tot, now);
	}
}

static void
net_new(struct sl_net **out, struct sl_dpdk_port *port, unsigned q, uint32_t ip, uint8_t mac_last,
        struct sl_tcp_cb cb)
{
	struct sl_net_cfg cfg;
	struct sl_pkt_io io;

	assert_int_equal(sl_dpdk_port_io(port, q, &io), 0);
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.mac, (const uint8_t[]){2, 0, 0, 0, 0, mac_last}, 6);
	cfg.ip = ip;
	cfg.max_conns = 32;
	cfg.rcvbuf_bytes = 1 << 15;
	cfg.sndbuf_bytes = 1 << 15;
	cfg.secret = 0x5eed0000u + ip + q;
	cfg.cb = cb;
	assert_int_equal(sl_net_create(out, &cfg, &io), 0);
}

/*
 * The client opens NCONN connections to the steered side, where every queue runs a stack
 * of its own listening on the same address (as the shards do), and sends CONN_BYTES on
 * each. Each connection is accepted by the queue flow_queue names, every byte arrives
 * intact, every queue serves some, and every mbuf comes back.
 */
static void
steer_tcp(const char *ps, const char *pc, unsigned nq, const struct sl_dpdk_fault_cfg *fault)
{
	static uint8_t chunk[4096];
	static struct srv srv[NSRV_MAX];
	struct cli cl;
	struct sl_dpdk_port *sp = steered_new(ps, nq, 0, fault);
	struct sl_dpdk_port *cp = port_new(pc, NULL);
	struct sl_tcp_conn *cc[NCONN];
	size_t sent[NCONN] = {0};
	bool closed[NCONN] = {false};
	uint8_t s_mac[6] = {2, 0, 0, 0, 0, 0xa};
	int64_t now = 1000 * MS, end = now + 120000 * MS;
	unsigned q, i, accepted = 0, ends = 0;
	size_t total = 0;
	unsigned want_q[NSRV_MAX] = {0};
	struct sl_tcp_cb scb = {.established = srv_est, .readable = s_read, .writable = s_write,
	                        .rx_end = srv_rx_end, .closed = s_closed};
	struct sl_tcp_cb ccb = {.established = cli_est, .readable = s_read, .writable = s_write,
	                        .rx_end = cli_rx_end, .closed = s_closed, .arg = &cl};

	assert_true(nq <= NSRV_MAX);
	memset(srv, 0, sizeof(srv));
	memset(&cl, 0, sizeof(cl));
	for (q = 0; q < nq; q++) {
		srv[q].q = q;
		scb.arg = &srv[q];
		net_new(&srv[q].n, sp, q, IP_A, 0xa, scb);
		assert_int_equal(sl_tcp_listen(srv[q].n, TPORT, 32), 0);
	}
	net_new(&cl.n, cp, 0, IP_B, 0xb, ccb);
	for (i = 0; i < NCONN; i++) {
		uint16_t lport = (uint16_t)(30000u + i * 13u);

		want_q[sl_dpdk_port_flow_queue(sp, IP_B, lport, IP_A, TPORT)]++;
		assert_int_equal(sl_tcp_connect(cl.n, &cc[i], IP_A, TPORT, lport, s_mac, now), 0);
	}
	while (now < end && (total < (size_t)NCONN * CONN_BYTES || ends < NCONN)) {
		for (i = 0; i < NCONN; i++) {
			if (closed[i] || sl_tcp_state(cc[i]) != SL_TCP_ESTABLISHED)
				continue;
			while (sent[i] < CONN_BYTES) {
				struct iovec iov;
				size_t len = SL_MIN(CONN_BYTES - sent[i], sizeof(chunk));
				ssize_t r;

				for (size_t j = 0; j < len; j++)
					chunk[j] = pattern(sent[i] + j);
				iov.iov_base = chunk;
				iov.iov_len = len;
				r = sl_tcp_send(cc[i], &iov, 1, now);
				assert_true(r >= 0);
				sent[i] += (size_t)r;
				if ((size_t)r < len)
					break;
			}
			if (sent[i] == CONN_BYTES) {
				sl_tcp_close(cc[i], now);
				closed[i] = true;
			}
		}
		sl_net_poll(cl.n, now);
		total = 0;
		ends = 0;
		for (q = 0; q < nq; q++) {
			sl_net_poll(srv[q].n, now);
			srv_drain(&srv[q], now);
			sl_net_flush(srv[q].n);
			total += srv[q].total;
			ends += srv[q].rx_end;
		}
		now += MS / 10;
	}
	for (q = 0; q < nq; q++) {
		struct sl_dpdk_queue_stats st;
		struct sl_net_stats ns;

		sl_dpdk_port_queue_stats(sp, q, &st);
		sl_net_stats_get(srv[q].n, &ns);
		print_message("queue %u: %u connections, %zu bytes, retrans %llu; rx %llu tx %llu "
		              "fwd %llu drained %llu drop %llu arp copies %llu quiet %llu; faults "
		              "drop %llu dup %llu reorder %llu tx_drop %llu\n", q, srv[q].established,
		              srv[q].total,
		              (unsigned long long)ns.retrans, (unsigned long long)st.rx_pkts,
		              (unsigned long long)st.tx_pkts, (unsigned long long)st.steer_fwd,
		              (unsigned long long)st.steer_tx_drained, (unsigned long long)st.steer_drop,
		              (unsigned long long)st.steer_copy, (unsigned long long)st.steer_arp_quiet,
		              (unsigned long long)st.fault_drop, (unsigned long long)st.fault_dup,
		              (unsigned long long)st.fault_reorder,
		              (unsigned long long)st.fault_tx_drop);
		/* each connection on the queue its ports hash to */
		assert_true(srv[q].established > 0);
		assert_int_equal(srv[q].established, want_q[q]);
		assert_int_equal(srv[q].bad, 0);
		for (i = 0; i < srv[q].established; i++)
			assert_int_equal(srv[q].rcvd[i], CONN_BYTES);
		/* each queue injects into what it receives and sends */
		if (fault != NULL)
			assert_true(st.fault_drop > 0 && st.fault_dup > 0 && st.fault_reorder > 0 &&
			            st.fault_tx_drop > 0);
		accepted += srv[q].established;
	}
	assert_int_equal(cl.established, NCONN);
	assert_int_equal(accepted, NCONN);
	assert_int_equal(total, (size_t)NCONN * CONN_BYTES);
	assert_int_equal(ends, NCONN);
	for (q = 0; q < nq; q++) {
		for (i = 0; i < srv[q].established; i++)
			sl_tcp_close(srv[q].c[i], now);
		sl_net_destroy(srv[q].n);
	}
	sl_net_destroy(cl.n);
	sl_dpdk_port_drain(sp);
	sl_dpdk_port_drain(cp);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(sp), 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(cp), 0);
	sl_dpdk_port_destroy(sp);
	sl_dpdk_port_destroy(cp);
}

static void
test_port_steer_tcp_connections_spread_over_queues_all_bytes_arrive(void **state)
{
	(void)state;
	steer_tcp("net_ring_w15", "net_ring_w16", 3, NULL);
}

static void
test_port_steer_tcp_faults_per_queue_still_deliver(void **state)
{
	struct sl_dpdk_fault_cfg f = {
		.drop = 0.05, .dup = 0.05, .reorder = 0.05, .tx_drop = 0.05, .seed = 77};

	(void)state;
	steer_tcp("net_ring_w17", "net_ring_w18", 2, &f);
}

/* --- the same with every queue's stack on a thread of its own (as the shards run) --- */

struct srv_thread {
	struct srv s;
	pthread_t tid;
	_Atomic size_t total;
	_Atomic unsigned ends;
	_Atomic int registered; /* 1: an lcore id of its own; -1: registration failed */
};

static _Atomic bool threads_stop;

static int64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *
srv_thread_main(void *arg)
{
	struct srv_thread *t = arg;

	atomic_store(&t->registered, sl_dpdk_thread_register() == 0 ? 1 : -1);
	while (!atomic_load_explicit(&threads_stop, memory_order_acquire)) {
		int64_t now = mono_ns();

		sl_net_poll(t->s.n, now);
		srv_drain(&t->s, now);
		sl_net_flush(t->s.n);
		atomic_store_explicit(&t->total, t->s.total, memory_order_release);
		atomic_store_explicit(&t->ends, t->s.rx_end, memory_order_release);
		sched_yield(); /* two cores for four threads */
	}
	for (unsigned i = 0; i < t->s.established; i++)
		sl_tcp_close(t->s.c[i], mono_ns());
	sl_net_flush(t->s.n);
	sl_net_destroy(t->s.n);
	t->s.n = NULL;
	sl_dpdk_thread_unregister();
	return NULL;
}

static void
test_port_steer_tcp_queues_on_their_own_threads_all_bytes_arrive(void **state)
{
	enum { NQ = 3 };
	static uint8_t chunk[4096];
	static struct srv_thread th[NQ];
	struct cli cl;
	struct sl_dpdk_port *sp = steered_new("net_ring_w19", NQ, 0, NULL);
	struct sl_dpdk_port *cp = port_new("net_ring_w20", NULL);
	struct sl_tcp_conn *cc[NCONN];
	size_t sent[NCONN] = {0};
	bool closed[NCONN] = {false};
	uint8_t s_mac[6] = {2, 0, 0, 0, 0, 0xa};
	int64_t end = mono_ns() + 60000 * MS;
	unsigned q, i, accepted = 0, ends = 0;
	size_t total = 0;
	struct sl_tcp_cb scb = {.established = srv_est, .readable = s_read, .writable = s_write,
	                        .rx_end = srv_rx_end, .closed = s_closed};
	struct sl_tcp_cb ccb = {.established = cli_est, .readable = s_read, .writable = s_write,
	                        .rx_end = cli_rx_end, .closed = s_closed, .arg = &cl};

	(void)state;
	memset(th, 0, sizeof(th));
	memset(&cl, 0, sizeof(cl));
	atomic_store(&threads_stop, false);
	for (q = 0; q < NQ; q++) {
		scb.arg = &th[q].s;
		net_new(&th[q].s.n, sp, q, IP_A, 0xa, scb);
		assert_int_equal(sl_tcp_listen(th[q].s.n, TPORT, 32), 0);
		assert_int_equal(pthread_create(&th[q].tid, NULL, srv_thread_main, &th[q]), 0);
	}
	net_new(&cl.n, cp, 0, IP_B, 0xb, ccb);
	for (i = 0; i < NCONN; i++)
		assert_int_equal(sl_tcp_connect(cl.n, &cc[i], IP_A, TPORT,
		                                (uint16_t)(31000u + i * 17u), s_mac, mono_ns()),
		                 0);
	while (mono_ns() < end && (total < (size_t)NCONN * CONN_BYTES || ends < NCONN)) {
		int64_t now = mono_ns();

		for (i = 0; i < NCONN; i++) {
			if (closed[i] || sl_tcp_state(cc[i]) != SL_TCP_ESTABLISHED)
				continue;
			while (sent[i] < CONN_BYTES) {
				struct iovec iov;
				size_t len = SL_MIN(CONN_BYTES - sent[i], sizeof(chunk));
				ssize_t r;

				for (size_t j = 0; j < len; j++)
					chunk[j] = pattern(sent[i] + j);
				iov.iov_base = chunk;
				iov.iov_len = len;
				r = sl_tcp_send(cc[i], &iov, 1, now);
				assert_true(r >= 0);
				sent[i] += (size_t)r;
				if ((size_t)r < len)
					break;
			}
			if (sent[i] == CONN_BYTES) {
				sl_tcp_close(cc[i], now);
				closed[i] = true;
			}
		}
		sl_net_poll(cl.n, now);
		total = 0;
		ends = 0;
		for (q = 0; q < NQ; q++) {
			total += atomic_load_explicit(&th[q].total, memory_order_acquire);
			ends += atomic_load_explicit(&th[q].ends, memory_order_acquire);
		}
		sched_yield();
	}
	atomic_store_explicit(&threads_stop, true, memory_order_release);
	for (q = 0; q < NQ; q++)
		assert_int_equal(pthread_join(th[q].tid, NULL), 0);
	for (q = 0; q < NQ; q++) {
		struct sl_dpdk_queue_stats st;

		sl_dpdk_port_queue_stats(sp, q, &st);
		print_message("thread of queue %u (%s): %u connections, %zu bytes; rx %llu tx %llu, "
		              "moved for others %llu, sent by ring %llu, token busy %llu\n", q,
		              th[q].registered > 0 ? "an lcore" : "NOT registered",
		              th[q].s.established, th[q].s.total, (unsigned long long)st.rx_pkts,
		              (unsigned long long)st.tx_pkts,
		              (unsigned long long)sl_dpdk_port_steer_moved(sp, q),
		              (unsigned long long)st.steer_tx_ring, (unsigned long long)st.steer_busy);
		assert_int_equal(st.steer_drop, 0);
		assert_int_equal(th[q].registered, 1);
		assert_true(th[q].s.established > 0);
		assert_int_equal(th[q].s.bad, 0);
		accepted += th[q].s.established;
	}
	assert_int_equal(cl.established, NCONN);
	assert_int_equal(accepted, NCONN);
	assert_int_equal(total, (size_t)NCONN * CONN_BYTES);
	assert_int_equal(ends, NCONN);
	sl_net_destroy(cl.n);
	sl_dpdk_port_drain(sp);
	sl_dpdk_port_drain(cp);
	/* frees on other threads went to those threads' mempool caches: still counted back */
	assert_int_equal(sl_dpdk_port_mbufs_in_use(sp), 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(cp), 0);
	sl_dpdk_port_destroy(sp);
	sl_dpdk_port_destroy(cp);
}

/* --- threads sending at once: straight or through the shared ring, in order --- */

#define TX_PER_Q 4000

struct tx_thread {
	struct sl_pkt_io io;
	unsigned q;
	pthread_t tid;
	_Atomic bool sent_all;
	int reg;
};

static void *
tx_thread_main(void *arg)
{
	struct tx_thread *t = arg;
	struct sl_pkt *pkts[32], *rx[32];
	unsigned next = 0, n = 0, k, i;

	t->reg = sl_dpdk_thread_register();
	while (!atomic_load_explicit(&threads_stop, memory_order_acquire)) {
		/* refill the burst; what tx_burst did not take is still ours, in order */
		while (n < 32 && next < TX_PER_Q) {
			pkts[n] = t->io.alloc(t->io.ctx);
			if (pkts[n] == NULL)
				break;
			frame_fill(pkts[n], (t->q << 16) | next++);
			n++;
		}
		if (n > 0) {
			k = t->io.tx_burst(t->io.ctx, pkts, n);
			memmove(pkts, pkts + k, (n - k) * sizeof(pkts[0]));
			n -= k;
		}
		if (n == 0 && next == TX_PER_Q)
			atomic_store_explicit(&t->sent_all, true, memory_order_release);
		/* polling takes the device token now and then: it drains the shared ring */
		k = t->io.rx_burst(t->io.ctx, rx, 32);
		for (i = 0; i < k; i++)
			t->io.free(t->io.ctx, rx[i]);
	}
	for (i = 0; i < n; i++)
		t->io.free(t->io.ctx, pkts[i]);
	sl_dpdk_thread_unregister();
	return NULL;
}

static void
test_port_steer_threads_sending_at_once_every_frame_leaves_once_in_order(void **state)
{
	enum { NQ = 3 };
	static struct tx_thread th[NQ];
	struct sl_dpdk_port *sp = steered_new("net_ring_w21", NQ, 256, NULL);
	struct sl_dpdk_port *peer = port_new("net_ring_w22", NULL);
	struct sl_pkt_io pio;
	struct sl_pkt *pkts[32];
	int64_t next[NQ] = {0}, end = mono_ns() + 60000 * MS;
	unsigned q, i, n, got = 0, all_sent = 0;
	uint64_t by_ring = 0, busy = 0;

	(void)state;
	atomic_store(&threads_stop, false);
	assert_int_equal(sl_dpdk_port_io(peer, 0, &pio), 0);
	for (q = 0; q < NQ; q++) {
		memset(&th[q], 0, sizeof(th[q]));
		th[q].q = q;
		assert_int_equal(sl_dpdk_port_io(sp, q, &th[q].io), 0);
		assert_int_equal(pthread_create(&th[q].tid, NULL, tx_thread_main, &th[q]), 0);
	}
	while (got < NQ * TX_PER_Q && mono_ns() < end) {
		n = pio.rx_burst(pio.ctx, pkts, 32);
		for (i = 0; i < n; i++) {
			int64_t id = frame_id(pkts[i]);

			assert_true(id >= 0);
			q = (unsigned)(id >> 16);
			assert_true(q < NQ);
			/* each queue's frames leave once and in the order it sent them */
			assert_int_equal(id & 0xffff, next[q]);
			next[q]++;
			got++;
			pio.free(pio.ctx, pkts[i]);
		}
		if (n == 0)
			sched_yield();
	}
	for (q = 0; q < NQ; q++)
		all_sent += atomic_load(&th[q].sent_all);
	atomic_store_explicit(&threads_stop, true, memory_order_release);
	for (q = 0; q < NQ; q++) {
		struct sl_dpdk_queue_stats st;

		assert_int_equal(pthread_join(th[q].tid, NULL), 0);
		assert_int_equal(th[q].reg, 0);
		sl_dpdk_port_queue_stats(sp, q, &st);
		print_message("queue %u: %lld frames out, %llu sent by ring, %llu drained for "
		              "others, token busy %llu, tx_full %llu\n", q, (long long)next[q],
		              (unsigned long long)st.steer_tx_ring,
		              (unsigned long long)st.steer_tx_drained,
		              (unsigned long long)st.steer_busy, (unsigned long long)st.tx_full);
		by_ring += st.steer_tx_ring;
		busy += st.steer_busy;
	}
	assert_int_equal(all_sent, NQ);
	assert_int_equal(got, NQ * TX_PER_Q);
	print_message("%llu frames went by the shared ring, token found taken %llu times\n",
	              (unsigned long long)by_ring, (unsigned long long)busy);
	sl_dpdk_port_drain(sp);
	sl_dpdk_port_drain(peer);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(sp), 0);
	assert_int_equal(sl_dpdk_port_mbufs_in_use(peer), 0);
	sl_dpdk_port_destroy(sp);
	sl_dpdk_port_destroy(peer);
}

/* Two ring ports, each transmitting into the ring the other receives from. */
static int
wire(const char *na, const char *nb)
{
	char rn[RTE_RING_NAMESIZE];
	struct rte_ring *r[2];
	unsigned i;

	for (i = 0; i < 2; i++) {
		snprintf(rn, sizeof(rn), "%s_%u", na, i);
		r[i] = rte_ring_create(rn, 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (r[i] == NULL)
			return -ENOMEM;
	}
	if (rte_eth_from_rings(na, &r[0], 1, &r[1], 1, SOCKET_ID_ANY) < 0 ||
	    rte_eth_from_rings(nb, &r[1], 1, &r[0], 1, SOCKET_ID_ANY) < 0)
		return -ENODEV;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_loopback_frames_roundtrip),
		cmocka_unit_test(test_port_two_queues_separate_pools),
		cmocka_unit_test(test_port_create_bad_cfg_rejected),
		cmocka_unit_test(test_port_fault_drop_dup_seeded_deterministic),
		cmocka_unit_test(test_port_fault_reorder_corrupt_counts),
		cmocka_unit_test(test_port_cfg_from_props_parses_fractions),
		cmocka_unit_test(test_port_tcp_two_stacks_exchange_data),
		cmocka_unit_test(test_port_tcp_faulty_link_still_delivers),
		cmocka_unit_test(test_port_fault_tx_drop_corrupt_counted_and_seen_by_receiver),
		cmocka_unit_test(test_port_steer_flows_land_on_one_queue_arp_on_every_queue),
		cmocka_unit_test(test_port_steer_full_ring_drops_and_counts_never_blocks),
		cmocka_unit_test(test_port_steer_modes_and_bad_ring_size),
		cmocka_unit_test(test_port_steer_tcp_connections_spread_over_queues_all_bytes_arrive),
		cmocka_unit_test(test_port_steer_tcp_faults_per_queue_still_deliver),
		cmocka_unit_test(test_port_steer_tcp_queues_on_their_own_threads_all_bytes_arrive),
		cmocka_unit_test(test_port_steer_threads_sending_at_once_every_frame_leaves_once_in_order),
	};
	int rc = sl_dpdk_eal_init(EAL_ARGS);

	if (rc < 0) {
		fprintf(stderr, "*** SKIP port_test: the DPDK EAL did not start (%s); "
		                "args: %s ***\n", strerror(-rc), EAL_ARGS);
		return 77;
	}
	rc = wire("w5", "w6");
	if (rc == 0)
		rc = wire("w7", "w8");
	for (unsigned w = 9; rc == 0 && w < 23; w += 2) {
		char a[8], b[8];

		snprintf(a, sizeof(a), "w%u", w);
		snprintf(b, sizeof(b), "w%u", w + 1);
		rc = wire(a, b);
	}
	if (rc < 0) {
		fprintf(stderr, "port_test: wiring ring ports failed: %s\n", strerror(-rc));
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	sl_dpdk_eal_fini();
	return rc;
}
