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
 * a loopback with two queues (each queue is looped back to itself);
 * net_ring_w5 <-> _w6 and net_ring_w7 <-> _w8 (the PMD prefixes "net_ring_"): port pairs over
 * two crossed rte_rings (rte_eth_from_rings), made in main().
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/dpdk/port.h"
#include "dataplane/net/tcp.h"

#define EAL_ARGS                                                                                   \
	"-l 0 --no-huge -m 512 --no-shconf --no-pci --no-telemetry --log-level=lib.*:error "        \
	"--vdev=net_ring0 --vdev=net_ring1 --vdev=net_ring2 --vdev=net_ring3 --vdev=net_ring4 "        \
	"--vdev=net_ring5 --vdev=net_ring6"

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
	assert_int_equal(sl_dpdk_port_create(&p, &cfg), 0);
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
	if (rc < 0) {
		fprintf(stderr, "port_test: wiring ring ports failed: %s\n", strerror(-rc));
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	sl_dpdk_eal_fini();
	return rc;
}
