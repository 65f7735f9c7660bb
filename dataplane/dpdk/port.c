/* SPDX-License-Identifier: Apache-2.0 */
/*
 * port.c: EAL start-up, ethdev port/queue/pool set-up and struct sl_pkt_io over
 * rte_eth_rx_burst/tx_burst, with the seeded fault injector on the receive side. See
 * port.h for ownership and threading. Set-up allocates (rte_malloc, mempools) and may
 * block; the burst callbacks do neither.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "dataplane/dpdk/port.h"

/* Frames received per rte_eth_rx_burst call at most; the stack asks for 32. */
#define RX_CHUNK 64
/* Frames queued after fault injection: each received frame adds at most three (itself,
 * its duplicate and a frame held back for reordering). */
#define STASH 128

struct dq {
	uint16_t port_id, qid;
	bool tx_ol, rx_ol, faults, tx_faults;
	struct rte_mempool *pool;
	/* fault thresholds: a frame is hit when a 32-bit draw is below (fraction * 2^32) */
	uint64_t drop_t, dup_t, reorder_t, corrupt_t;
	uint64_t tx_drop_t, tx_corrupt_t, tx_rng;
	uint64_t rng;
	struct rte_mbuf *held; /* held back by reorder */
	unsigned st_head, st_cnt;
	struct rte_mbuf *stash[STASH];
	struct sl_dpdk_queue_stats st;
} SL_CACHE_ALIGNED;

struct sl_dpdk_port {
	uint16_t port_id;
	unsigned nq;
	bool tx_ol, rx_ol;
	struct rte_ether_addr mac;
	struct dq q[];
};

static bool eal_up;

/* The wrapper lives in the mbuf private area, which every pool of ours reserves. */
#define PKT_PRIV_SIZE RTE_ALIGN_CEIL(sizeof(struct sl_pkt), RTE_MBUF_PRIV_ALIGN)

int
sl_dpdk_eal_init(const char *args)
{
	static char buf[4096];
	static char *argv[SL_DPDK_MAX_EAL_ARGS + 2];
	int argc = 0;
	size_t len;
	char *s, *save = NULL;
	int rc;

	if (eal_up)
		return -EALREADY;
	if (args == NULL)
		args = "";
	len = strlen(args);
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, args, len + 1);
	argv[argc++] = (char *)"sluiced";
	for (s = strtok_r(buf, " \t\n", &save); s != NULL; s = strtok_r(NULL, " \t\n", &save)) {
		if (argc > SL_DPDK_MAX_EAL_ARGS)
			return -EINVAL;
		argv[argc++] = s;
	}
	argv[argc] = NULL;
	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		return rte_errno > 0 ? -rte_errno : -EINVAL;
	eal_up = true;
	return 0;
}

void
sl_dpdk_eal_fini(void)
{
	if (!eal_up)
		return;
	rte_eal_cleanup();
	eal_up = false;
}

int
sl_dpdk_thread_register(void)
{
	if (!eal_up)
		return -ENODEV;
	if (rte_lcore_id() != LCORE_ID_ANY)
		return 0;
	return rte_thread_register() == 0 ? 0 : -rte_errno;
}

void
sl_dpdk_thread_unregister(void)
{
	if (eal_up && rte_lcore_id() != LCORE_ID_ANY && rte_lcore_id() != rte_get_main_lcore())
		rte_thread_unregister();
}

static int
get_fraction(struct sl_props *p, const char *key, double *out)
{
	const char *v = sl_props_get(p, key);
	char *end;
	double d;

	if (v == NULL)
		return 0;
	errno = 0;
	d = strtod(v, &end);
	if (errno != 0 || end == v || *end != '\0' || !isfinite(d) || d < 0.0 || d > 1.0)
		return -EINVAL;
	*out = d;
	return 1;
}

int
sl_dpdk_cfg_from_props(struct sl_props *p, struct sl_dpdk_port_cfg *cfg, const char **eal_args)
{
	struct sl_dpdk_fault_cfg *f = &cfg->fault;
	const char *a;
	int64_t seed = (int64_t)(f->seed & INT64_MAX);
	int rc;

	a = sl_props_get(p, "dpdk.eal.args");
	if (a != NULL && eal_args != NULL)
		*eal_args = a;
	if (get_fraction(p, "dpdk.fault.drop", &f->drop) < 0 ||
	    get_fraction(p, "dpdk.fault.dup", &f->dup) < 0 ||
	    get_fraction(p, "dpdk.fault.reorder", &f->reorder) < 0 ||
	    get_fraction(p, "dpdk.fault.corrupt", &f->corrupt) < 0 ||
	    get_fraction(p, "dpdk.fault.tx_drop", &f->tx_drop) < 0 ||
	    get_fraction(p, "dpdk.fault.tx_corrupt", &f->tx_corrupt) < 0)
		return -EINVAL;
	rc = sl_props_get_i64(p, "dpdk.fault.seed", 0, INT64_MAX, &seed);
	if (rc < 0)
		return rc;
	if (rc > 0)
		f->seed = (uint64_t)seed;
	return 0;
}

static uint64_t
threshold(double frac)
{
	return (uint64_t)(frac * 4294967296.0);
}

/* splitmix64: cheap, and any seed (0 included) gives a full-period sequence. */
static uint32_t
rnd32(struct dq *q)
{
	uint64_t z = (q->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static bool
hit(struct dq *q, uint64_t t)
{
	/* One draw per fault kind per frame, even when t is 0, so that changing one fraction
	 * does not shift which frames the others hit. */
	return rnd32(q) < t;
}

static struct sl_pkt *
wrap(struct rte_mbuf *m, uint32_t ol)
{
	struct sl_pkt *pkt = rte_mbuf_to_priv(m);

	pkt->data = rte_pktmbuf_mtod(m, uint8_t *);
	pkt->len = m->data_len;
	pkt->cap = (uint16_t)(m->buf_len - m->data_off);
	pkt->ol_flags = ol;
	pkt->priv = m;
	return pkt;
}

static bool
mbuf_usable(struct dq *q, struct rte_mbuf *m)
{
	/* Chained frames are not supported by the stack, and a frame from a pool without our
	 * private area (not ours) has no room for its wrapper. */
	if (m->nb_segs != 1 || rte_pktmbuf_priv_size(m->pool) < PKT_PRIV_SIZE) {
		q->st.rx_chained_drop++;
		rte_pktmbuf_free(m);
		return false;
	}
	return true;
}

static uint32_t
rx_flags(const struct dq *q, const struct rte_mbuf *m)
{
	if (q->rx_ol &&
	    (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD &&
	    (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return SL_PKT_RX_CKSUM_OK;
	return 0;
}

static void
stash_push(struct dq *q, struct rte_mbuf *m)
{
	SL_ASSERT(q->st_cnt < STASH);
	q->stash[(q->st_head + q->st_cnt) % STASH] = m;
	q->st_cnt++;
}

static struct rte_mbuf *
stash_pop(struct dq *q)
{
	struct rte_mbuf *m = q->stash[q->st_head];

	q->st_head = (q->st_head + 1) % STASH;
	q->st_cnt--;
	return m;
}

static void
fault_one(struct dq *q, struct rte_mbuf *m)
{
	bool drop = hit(q, q->drop_t);
	bool corrupt = hit(q, q->corrupt_t);
	bool dup = hit(q, q->dup_t);
	bool reorder = hit(q, q->reorder_t);
	uint32_t bit = rnd32(q);
	struct rte_mbuf *c;

	if (drop) {
		q->st.fault_drop++;
		rte_pktmbuf_free(m);
		return;
	}
	if (corrupt && m->data_len > RTE_ETHER_HDR_LEN) {
		uint32_t nbits = (uint32_t)(m->data_len - RTE_ETHER_HDR_LEN) * 8u;
		uint32_t b = bit % nbits;
		uint8_t *d = rte_pktmbuf_mtod_offset(m, uint8_t *, RTE_ETHER_HDR_LEN);

		d[b / 8] ^= (uint8_t)(1u << (b % 8));
		/* the NIC's verdict no longer holds */
		m->ol_flags &= ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK);
		q->st.fault_corrupt++;
	}
	if (reorder && q->held == NULL) {
		q->st.fault_reorder++;
		q->held = m;
		return;
	}
	stash_push(q, m);
	if (dup) {
		c = rte_pktmbuf_copy(m, q->pool, 0, UINT32_MAX);
		if (c != NULL) {
			q->st.fault_dup++;
			stash_push(q, c);
		} else {
			q->st.fault_dup_nomem++;
		}
	}
	if (q->held != NULL) {
		stash_push(q, q->held);
		q->held = NULL;
	}
}

static unsigned
rx_faulty(struct dq *q, struct sl_pkt **pkts, unsigned n)
{
	struct rte_mbuf *mb[RX_CHUNK];
	unsigned want, nb, i, out = 0;

	want = (STASH - q->st_cnt) / 3;
	if (want > RX_CHUNK)
		want = RX_CHUNK;
	nb = want > 0 ? rte_eth_rx_burst(q->port_id, q->qid, mb, (uint16_t)want) : 0;
	for (i = 0; i < nb; i++) {
		if (mbuf_usable(q, mb[i]))
			fault_one(q, mb[i]);
	}
	/* A frame held back is not held forever: an idle poll lets it go. */
	if (nb == 0 && q->held != NULL) {
		stash_push(q, q->held);
		q->held = NULL;
	}
	while (out < n && q->st_cnt > 0) {
		struct rte_mbuf *m = stash_pop(q);

		pkts[out++] = wrap(m, rx_flags(q, m));
	}
	return out;
}

static unsigned
io_rx_burst(void *ctx, struct sl_pkt **pkts, unsigned n)
{
	struct dq *q = ctx;
	struct rte_mbuf *mb[RX_CHUNK];
	unsigned nb, i, out = 0;

	if (q->faults) {
		out = rx_faulty(q, pkts, n);
		q->st.rx_pkts += out;
		return out;
	}
	nb = rte_eth_rx_burst(q->port_id, q->qid, mb, (uint16_t)SL_MIN(n, (unsigned)RX_CHUNK));
	for (i = 0; i < nb; i++) {
		if (i + 1 < nb)
			rte_prefetch0(rte_mbuf_to_priv(mb[i + 1]));
		if (mbuf_usable(q, mb[i]))
			pkts[out++] = wrap(mb[i], rx_flags(q, mb[i]));
	}
	q->st.rx_pkts += out;
	return out;
}

/* Whether the sent frame m is lost; may flip one of its bits (see port.h). */
static bool
tx_fault(struct dq *q, struct rte_mbuf *m)
{
	uint64_t rng = q->rng;
	bool drop, corrupt;
	uint32_t bit;

	/* the transmit side draws from its own sequence */
	q->rng = q->tx_rng;
	drop = hit(q, q->tx_drop_t);
	corrupt = hit(q, q->tx_corrupt_t);
	bit = rnd32(q);
	q->tx_rng = q->rng;
	q->rng = rng;
	if (drop) {
		q->st.fault_tx_drop++;
		rte_pktmbuf_free(m);
		return true;
	}
	if (corrupt && !m->ol_flags && m->data_len > RTE_ETHER_HDR_LEN) {
		uint32_t nbits = (uint32_t)(m->data_len - RTE_ETHER_HDR_LEN) * 8u, b = bit % nbits;
		uint8_t *d = rte_pktmbuf_mtod_offset(m, uint8_t *, RTE_ETHER_HDR_LEN);

		d[b / 8] ^= (uint8_t)(1u << (b % 8));
		q->st.fault_tx_corrupt++;
	}
	return false;
}

static unsigned
io_tx_burst(void *ctx, struct sl_pkt **pkts, unsigned n)
{
	struct dq *q = ctx;
	struct rte_mbuf *mb[RX_CHUNK];
	unsigned done = 0;

	while (done < n) {
		unsigned cnt = SL_MIN(n - done, (unsigned)RX_CHUNK), i;
		uint16_t sent;

		for (i = 0; i < cnt; i++) {
			struct sl_pkt *pkt = pkts[done + i];
			struct rte_mbuf *m = pkt->priv;
			uint64_t ol = 0;

			/* the stack asks for offload only when the port said it has it */
			SL_ASSERT(q->tx_ol ||
			          !(pkt->ol_flags & (SL_PKT_TX_IP_CKSUM | SL_PKT_TX_TCP_CKSUM)));
			m->data_len = pkt->len;
			m->pkt_len = pkt->len;
			if (q->tx_ol && (pkt->ol_flags & (SL_PKT_TX_IP_CKSUM | SL_PKT_TX_TCP_CKSUM)) &&
			    pkt->len >= RTE_ETHER_HDR_LEN + 20) {
				m->l2_len = RTE_ETHER_HDR_LEN;
				m->l3_len = (pkt->data[RTE_ETHER_HDR_LEN] & 0x0f) * 4u;
				ol = RTE_MBUF_F_TX_IPV4;
				if (pkt->ol_flags & SL_PKT_TX_IP_CKSUM)
					ol |= RTE_MBUF_F_TX_IP_CKSUM;
				if (pkt->ol_flags & SL_PKT_TX_TCP_CKSUM)
					ol |= RTE_MBUF_F_TX_TCP_CKSUM;
			}
			m->ol_flags = ol;
			mb[i] = m;
		}
		if (q->tx_faults) {
			/* frame by frame, so a dropped frame counts as taken in order */
			for (i = 0; i < cnt; i++) {
				if (!tx_fault(q, mb[i]) &&
				    rte_eth_tx_burst(q->port_id, q->qid, &mb[i], 1) == 0)
					break;
			}
			done += i;
			if (i < cnt) {
				q->st.tx_full++;
				break;
			}
			continue;
		}
		sent = rte_eth_tx_burst(q->port_id, q->qid, mb, (uint16_t)cnt);
		done += sent;
		if (sent < cnt) {
			q->st.tx_full++;
			break;
		}
	}
	q->st.tx_pkts += done;
	return done;
}

static struct sl_pkt *
io_alloc(void *ctx)
{
	struct dq *q = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(q->pool);

	if (m == NULL) {
		q->st.alloc_fail++;
		return NULL;
	}
	return wrap(m, 0);
}

static void
io_free(void *ctx, struct sl_pkt *pkt)
{
	(void)ctx;
	rte_pktmbuf_free(pkt->priv);
}

static void
queue_drain(struct dq *q)
{
	struct rte_mbuf *mb[RX_CHUNK];
	unsigned nb, i, rounds = 0;

	/* Frames still queued in the device (a ring PMD's ring) point into our pools. */
	while ((nb = rte_eth_rx_burst(q->port_id, q->qid, mb, RX_CHUNK)) > 0 && rounds++ < 1024) {
		for (i = 0; i < nb; i++)
			rte_pktmbuf_free(mb[i]);
	}
	while (q->st_cnt > 0)
		rte_pktmbuf_free(stash_pop(q));
	if (q->held != NULL) {
		rte_pktmbuf_free(q->held);
		q->held = NULL;
	}
}

static void
free_pools(struct sl_dpdk_port *p)
{
	unsigned i;

	for (i = 0; i < p->nq; i++) {
		rte_mempool_free(p->q[i].pool);
		p->q[i].pool = NULL;
	}
}

int
sl_dpdk_port_create(struct sl_dpdk_port **out, const struct sl_dpdk_port_cfg *cfg)
{
	const struct sl_dpdk_fault_cfg *f = &cfg->fault;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct sl_dpdk_port *p;
	uint16_t pid, nrxd, ntxd, mtu;
	unsigned nq = cfg->nb_queues, nmb, cache, i;
	uint32_t dataroom;
	int socket, rc;
	bool faults;

	*out = NULL;
	if (nq == 0 || nq > SL_DPDK_MAX_QUEUES)
		return -EINVAL;
	if (!(f->drop >= 0.0 && f->drop <= 1.0 && f->dup >= 0.0 && f->dup <= 1.0 &&
	      f->reorder >= 0.0 && f->reorder <= 1.0 && f->corrupt >= 0.0 && f->corrupt <= 1.0 &&
	      f->tx_drop >= 0.0 && f->tx_drop <= 1.0 && f->tx_corrupt >= 0.0 &&
	      f->tx_corrupt <= 1.0))
		return -EINVAL;
	if (cfg->name == NULL || cfg->name[0] == '\0') {
		/* The first port the EAL probed (one --vdev or one device). */
		pid = (uint16_t)rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER);
		if (pid >= RTE_MAX_ETHPORTS)
			return -ENODEV;
	} else if (rte_eth_dev_get_port_by_name(cfg->name, &pid) != 0) {
		return -ENODEV;
	}
	rc = rte_eth_dev_info_get(pid, &info);
	if (rc != 0)
		return rc < 0 ? rc : -EIO;
	if (nq > info.max_rx_queues || nq > info.max_tx_queues)
		return -EINVAL;
	mtu = cfg->mtu ? cfg->mtu : 1500;
	if (mtu < info.min_mtu || mtu > info.max_mtu)
		return -EINVAL;
	nmb = cfg->nb_mbufs ? cfg->nb_mbufs : 4096;
	cache = cfg->mbuf_cache ? cfg->mbuf_cache : 256;
	if (cache > RTE_MEMPOOL_CACHE_MAX_SIZE || cache > nmb / 2)
		cache = SL_MIN((unsigned)RTE_MEMPOOL_CACHE_MAX_SIZE, nmb / 2);
	/* A frame must fit one mbuf: the MTU + Ethernet header + a VLAN tag, 2 KiB at least. */
	dataroom = SL_MAX(2048u, (uint32_t)mtu + RTE_ETHER_HDR_LEN + 4u) + RTE_PKTMBUF_HEADROOM;
	if (dataroom > UINT16_MAX)
		return -EINVAL;

	socket = rte_eth_dev_socket_id(pid);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	p = rte_zmalloc_socket("sl_dpdk_port", sizeof(*p) + nq * sizeof(p->q[0]), RTE_CACHE_LINE_SIZE,
	                       socket);
	if (p == NULL)
		return -ENOMEM;
	p->port_id = pid;
	p->nq = nq;

	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = mtu;
	if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) &&
	    (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
		p->tx_ol = true;
	}
	if ((info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) &&
	    (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TCP_CKSUM)) {
		conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
		p->rx_ol = true;
	}
	/* Several shards: spread flows over their queues by the device's RSS hash. Which queue
	 * a connection lands on is the device's choice (TODO #dpdk: the shard layer must steer
	 * active opens to a source port that hashes to its own queue). */
	if (nq > 1 && (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP)) != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	}
	rc = rte_eth_dev_configure(pid, (uint16_t)nq, (uint16_t)nq, &conf);
	if (rc < 0)
		goto out_free;
	nrxd = cfg->nb_rxd ? cfg->nb_rxd : 1024;
	ntxd = cfg->nb_txd ? cfg->nb_txd : 1024;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrxd, &ntxd);
	if (rc < 0)
		goto out_free;

	faults = f->drop > 0.0 || f->dup > 0.0 || f->reorder > 0.0 || f->corrupt > 0.0;
	for (i = 0; i < nq; i++) {
		struct dq *q = &p->q[i];
		char name[RTE_MEMPOOL_NAMESIZE];

		q->port_id = pid;
		q->qid = (uint16_t)i;
		q->tx_ol = p->tx_ol;
		q->rx_ol = p->rx_ol;
		q->faults = faults;
		q->drop_t = threshold(f->drop);
		q->dup_t = threshold(f->dup);
		q->reorder_t = threshold(f->reorder);
		q->corrupt_t = threshold(f->corrupt);
		q->rng = f->seed + i;
		q->tx_faults = f->tx_drop > 0.0 || f->tx_corrupt > 0.0;
		q->tx_drop_t = threshold(f->tx_drop);
		q->tx_corrupt_t = threshold(f->tx_corrupt);
		q->tx_rng = (f->seed + i) ^ 0x5851f42d4c957f2dull;
		snprintf(name, sizeof(name), "sl_p%u_q%u", (unsigned)pid, i);
		q->pool = rte_pktmbuf_pool_create(name, nmb, cache, (uint16_t)PKT_PRIV_SIZE,
		                                  (uint16_t)dataroom, socket);
		if (q->pool == NULL) {
			rc = rte_errno > 0 ? -rte_errno : -ENOMEM;
			goto out_pools;
		}
		rc = rte_eth_rx_queue_setup(pid, (uint16_t)i, nrxd, (unsigned)socket, NULL, q->pool);
		if (rc < 0)
			goto out_pools;
		rc = rte_eth_tx_queue_setup(pid, (uint16_t)i, ntxd, (unsigned)socket, NULL);
		if (rc < 0)
			goto out_pools;
	}
	rc = rte_eth_dev_start(pid);
	if (rc < 0)
		goto out_pools;
	if (cfg->promiscuous)
		(void)rte_eth_promiscuous_enable(pid); /* -ENOTSUP on some PMDs: harmless */
	rc = rte_eth_macaddr_get(pid, &p->mac);
	if (rc < 0)
		goto out_stop;
	*out = p;
	return 0;

out_stop:
	(void)rte_eth_dev_stop(pid);
out_pools:
	free_pools(p);
out_free:
	rte_free(p);
	return rc < 0 ? rc : -EIO;
}

void
sl_dpdk_port_drain(struct sl_dpdk_port *p)
{
	unsigned i;

	for (i = 0; i < p->nq; i++)
		queue_drain(&p->q[i]);
}

unsigned
sl_dpdk_port_mbufs_in_use(const struct sl_dpdk_port *p)
{
	unsigned i, n = 0;

	for (i = 0; i < p->nq; i++)
		n += rte_mempool_in_use_count(p->q[i].pool);
	return n;
}

void
sl_dpdk_port_destroy(struct sl_dpdk_port *p)
{
	if (p == NULL)
		return;
	sl_dpdk_port_drain(p);
	(void)rte_eth_dev_stop(p->port_id);
	(void)rte_eth_dev_close(p->port_id);
	free_pools(p);
	rte_free(p);
}

int
sl_dpdk_port_io(struct sl_dpdk_port *p, unsigned q, struct sl_pkt_io *out)
{
	if (q >= p->nq)
		return -EINVAL;
	out->rx_burst = io_rx_burst;
	out->tx_burst = io_tx_burst;
	out->alloc = io_alloc;
	out->free = io_free;
	out->ctx = &p->q[q];
	return 0;
}

uint16_t
sl_dpdk_port_id(const struct sl_dpdk_port *p)
{
	return p->port_id;
}

void
sl_dpdk_port_mac(const struct sl_dpdk_port *p, uint8_t mac[6])
{
	memcpy(mac, p->mac.addr_bytes, 6);
}

bool
sl_dpdk_port_tx_csum_offload(const struct sl_dpdk_port *p)
{
	return p->tx_ol;
}

bool
sl_dpdk_port_rx_csum_offload(const struct sl_dpdk_port *p)
{
	return p->rx_ol;
}

void
sl_dpdk_port_queue_stats(const struct sl_dpdk_port *p, unsigned q, struct sl_dpdk_queue_stats *out)
{
	if (q >= p->nq) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = p->q[q].st;
}
