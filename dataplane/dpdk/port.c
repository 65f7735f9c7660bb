/* SPDX-License-Identifier: Apache-2.0 */
/*
 * port.c: EAL start-up, ethdev port/queue/pool set-up and struct sl_pkt_io over
 * rte_eth_rx_burst/tx_burst, with the seeded fault injector, and software flow steering
 * for devices that cannot give each shard a queue pair of its own. See port.h for
 * ownership and threading. Set-up allocates (rte_malloc, mempools, rings) and may block;
 * the burst callbacks do neither.
 *
 * Steering (virtual queues; port.h has the contract):
 *
 *   device queue pair 0 <-- whoever holds the device token (dev_try_take: one atomic
 *        exchange, never waits) in its rx_burst or tx_burst:
 *     RX: each frame: owner = steer_owner()  (symmetric hash of the IPv4 addresses and
 *         TCP ports; ARP: every queue, a copy each; anything else: queue 0)
 *         |-- owner = the holder, nothing older in its ring: straight up
 *         `-- else: rxr[owner] (enqueue under the token; owner: rte_ring_sc_dequeue_burst)
 *     TX: txr first (frames sent while the token was taken, and txp: a burst the device
 *         refused), then the holder's own frames, straight to the device
 *   a queue that finds the token taken: rxr only; sends onto txr (MP enqueue)
 *
 * Invariants: (1) only the token holder touches the device's queues, txp, fwd, the
 * rings' producer sides of rxr[*] and txr's consumer side; (2) queue q's thread is
 * rxr[q]'s only consumer; (3) a flow's frames keep their order: a queue takes its own
 * frames straight from the device only when its ring is empty, and sends straight to it
 * only when txr and txp are empty; (4) a frame that does not fit a ring is freed and
 * counted (steer_drop on the holder; tx_full on the sender, whose stack frees what
 * tx_burst did not take), never waited for; (5) every ring is empty after
 * sl_dpdk_port_drain.
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "common/log.h"
#include "dataplane/dpdk/port.h"

/* Frames received per rte_eth_rx_burst call at most; the stack asks for 32. */
#define RX_CHUNK 64
/* Frames queued after fault injection: each received frame adds at most three (itself,
 * its duplicate and a frame held back for reordering). */
#define STASH 128

struct dq {
	uint16_t port_id, qid;
	bool tx_ol, rx_ol, faults, tx_faults;
	bool steered; /* a virtual queue: rxr in, the device or txr out */
	struct rte_mempool *pool;
	struct sl_dpdk_port *port;
	struct rte_ring *rxr; /* steered: frames for this queue */
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
	unsigned nq;  /* queues the stacks see */
	unsigned nhw; /* device queue pairs: nq, or 1 when steered */
	bool tx_ol, rx_ol, steered;
	struct rte_ether_addr mac;
	struct rte_ring *txr; /* steered: frames sent while another queue held the token */
	/* steering: whoever holds the device token (dev_try_take) polls the device queue
	 * pair; the fields after it belong to the holder */
	atomic_bool dev_busy SL_CACHE_ALIGNED;
	unsigned txp_head SL_CACHE_ALIGNED, txp_cnt; /* taken from txr, refused by the device */
	struct rte_mbuf *txp[RX_CHUNK];
	struct rte_mbuf **fwd; /* per destination queue, RX_CHUNK each */
	unsigned *fwd_cnt;
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
	int64_t seed = (int64_t)(f->seed & INT64_MAX), ring;
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
	a = sl_props_get(p, "dpdk.steer");
	if (a != NULL) {
		if (strcmp(a, "auto") == 0)
			cfg->steer = SL_DPDK_STEER_AUTO;
		else if (strcmp(a, "off") == 0)
			cfg->steer = SL_DPDK_STEER_OFF;
		else if (strcmp(a, "on") == 0)
			cfg->steer = SL_DPDK_STEER_ON;
		else
			return -EINVAL;
	}
	ring = cfg->steer_ring;
	rc = sl_props_get_i64(p, "dpdk.steer.ring.size", 64, 65536, &ring);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		if ((ring & (ring - 1)) != 0)
			return -EINVAL;
		cfg->steer_ring = (unsigned)ring;
	}
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

/* ---- software steering ---- */

/* Rounds of device bursts per distributor call at most (others' frames do not count
 * against the caller's n, so bound the work). */
#define DIST_ROUNDS 4
/* steer_owner(): a copy for every queue */
#define STEER_ALL UINT32_MAX

static inline uint16_t
rd16(const uint8_t *b)
{
	return (uint16_t)((unsigned)b[0] << 8 | b[1]);
}

static inline uint32_t
rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Symmetric in its two ends: XOR folds them together before mixing (splitmix64's
 * finalizer), then the top 32 bits are scaled to [0, nq) without a division. */
static inline unsigned
flow_queue(unsigned nq, uint32_t ip_a, uint16_t port_a, uint32_t ip_b, uint16_t port_b)
{
	uint64_t z = ((uint64_t)(ip_a ^ ip_b) << 16 | (uint16_t)(port_a ^ port_b)) +
	             0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (unsigned)(((z >> 32) * nq) >> 32);
}

/* The queue that owns frame m: its TCP flow's, every queue for ARP (each stack has its
 * own cache), queue 0 for anything else (ICMP, fragments, other ethertypes). */
static unsigned
steer_owner(const struct sl_dpdk_port *p, const struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *ip = d + RTE_ETHER_HDR_LEN;
	unsigned len = m->data_len, ihl;
	uint16_t et;

	if (len < RTE_ETHER_HDR_LEN)
		return 0;
	et = rd16(d + 12);
	if (et == RTE_ETHER_TYPE_ARP)
		return STEER_ALL;
	if (et != RTE_ETHER_TYPE_IPV4 || len < RTE_ETHER_HDR_LEN + 20u)
		return 0;
	ihl = (ip[0] & 0x0fu) * 4u;
	/* version 4, TCP, not a fragment (MF or an offset: no ports, or not in every frame) */
	if ((ip[0] >> 4) != 4 || ip[9] != IPPROTO_TCP || ihl < 20 || (rd16(ip + 6) & 0x3fff) ||
	    len < RTE_ETHER_HDR_LEN + ihl + 4u)
		return 0;
	return flow_queue(p->nq, rd32(ip + 12), rd16(ip + ihl), rd32(ip + 16), rd16(ip + ihl + 2));
}

/* Whether m is an ARP reply (a queue q > 0 keeps quiet: queue 0 got the same request). */
static bool
is_arp_reply(const struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);

	return m->data_len >= RTE_ETHER_HDR_LEN + 8u && rd16(d + 12) == RTE_ETHER_TYPE_ARP &&
	       rd16(d + RTE_ETHER_HDR_LEN + 6) == 2;
}

/* The device token: never waits (test, then exchange, so that a taken token costs a read
 * of a shared line, not a write). A: pairs with the release in dev_give, so the holder
 * sees the device queues, txp, fwd and the rings' producer sides as the last holder left
 * them. */
static bool
dev_try_take(struct sl_dpdk_port *p)
{
	if (atomic_load_explicit(&p->dev_busy, memory_order_relaxed))
		return false;
	return !atomic_exchange_explicit(&p->dev_busy, true, memory_order_acquire);
}

static void
dev_give(struct sl_dpdk_port *p)
{
	atomic_store_explicit(&p->dev_busy, false, memory_order_release); /* R: see dev_try_take */
}

/* Token held: the frames queued on txr go to the device (the burst it refused first).
 * Whether txr and txp are empty afterwards. */
static bool
tx_drain(struct sl_dpdk_port *p, struct dq *q)
{
	for (unsigned round = 0; round < DIST_ROUNDS; round++) {
		uint16_t sent;

		if (p->txp_cnt == 0) {
			p->txp_head = 0;
			p->txp_cnt = rte_ring_sc_dequeue_burst(p->txr, (void **)p->txp, RX_CHUNK,
			                                       NULL);
			if (p->txp_cnt == 0)
				return true;
		}
		sent = rte_eth_tx_burst(p->port_id, 0, p->txp + p->txp_head, (uint16_t)p->txp_cnt);
		p->txp_head += sent;
		p->txp_cnt -= sent;
		q->st.steer_tx_drained += sent;
		if (p->txp_cnt > 0) {
			q->st.tx_full++;
			return false;
		}
	}
	return false;
}

/* Token held: the frames gathered per destination onto their queues' rings. */
static void
fwd_flush(struct sl_dpdk_port *p, struct dq *q)
{
	for (unsigned d = 0; d < p->nq; d++) {
		struct rte_mbuf **f = p->fwd + (size_t)d * RX_CHUNK;
		unsigned cnt = p->fwd_cnt[d], k;

		if (cnt == 0)
			continue;
		/* the ring's tail update is a release (rte_ring): the consumer sees the frames'
		 * bytes; producers take turns under the token */
		k = rte_ring_enqueue_burst(p->q[d].rxr, (void **)f, cnt, NULL);
		q->st.steer_fwd += k;
		q->st.steer_drop += cnt - k;
		while (k < cnt)
			rte_pktmbuf_free(f[k++]);
		p->fwd_cnt[d] = 0;
	}
}

static void
fwd_push(struct sl_dpdk_port *p, unsigned d, struct rte_mbuf *m)
{
	p->fwd[(size_t)d * RX_CHUNK + p->fwd_cnt[d]++] = m;
}

/*
 * Token held, for queue q: device frames; q's own go straight up (at most n) when
 * nothing older waits in q's ring, else behind it; the others' onto their rings. A
 * round takes at most RX_CHUNK frames, so a destination gets at most RX_CHUNK per round.
 */
static unsigned
dev_rx(struct sl_dpdk_port *p, struct dq *q, struct rte_mbuf **mb, unsigned n)
{
	struct rte_mbuf *in[RX_CHUNK];
	unsigned out = 0, me = q->qid;
	/* stable while we hold the token: only a holder fills the rings */
	bool direct = rte_ring_empty(q->rxr);

	for (unsigned round = 0; round < DIST_ROUNDS && (!direct || out < n); round++) {
		unsigned want = direct ? SL_MIN(n - out, (unsigned)RX_CHUNK) : RX_CHUNK, nb, i;

		nb = rte_eth_rx_burst(p->port_id, 0, in, (uint16_t)want);
		for (i = 0; i < nb; i++) {
			struct rte_mbuf *m = in[i];
			unsigned owner = steer_owner(p, m);

			if (owner == STEER_ALL) {
				/* a copy each, not a shared reference: the fault injector may
				 * flip a bit of one queue's frame in place */
				for (unsigned d = 0; d < p->nq; d++) {
					struct rte_mbuf *c;

					if (d == me)
						continue;
					c = rte_pktmbuf_copy(m, p->q[d].pool, 0, UINT32_MAX);
					if (c == NULL) {
						q->st.steer_copy_fail++;
						continue;
					}
					q->st.steer_copy++;
					fwd_push(p, d, c);
				}
				owner = me;
			}
			if (owner == me && direct)
				mb[out++] = m;
			else
				fwd_push(p, owner, m);
		}
		fwd_flush(p, q);
		if (nb < want)
			break;
	}
	return out;
}

/* A steered queue's receive: its ring first; then, when the ring ran dry and nobody else
 * holds the device, the device itself (and the shared send ring). */
static unsigned
steer_rx(struct dq *q, struct rte_mbuf **mb, unsigned n)
{
	struct sl_dpdk_port *p = q->port;
	unsigned out = rte_ring_sc_dequeue_burst(q->rxr, (void **)mb, n, NULL);

	if (out < n) {
		if (dev_try_take(p)) {
			(void)tx_drain(p, q);
			out += dev_rx(p, q, mb + out, n - out);
			dev_give(p);
		} else {
			q->st.steer_busy++;
		}
	}
	return out;
}

/* A steered queue sends cnt frames of its own: straight to the device when it holds the
 * token and nothing is queued before them (its own earlier frames may be), else onto the
 * shared send ring. Returns how many were taken. */
static unsigned
steer_send(struct dq *q, struct rte_mbuf **mb, unsigned cnt)
{
	struct sl_dpdk_port *p = q->port;
	unsigned k;

	if (cnt == 0)
		return 0;
	if (dev_try_take(p)) {
		if (tx_drain(p, q)) {
			k = rte_eth_tx_burst(p->port_id, 0, mb, (uint16_t)cnt);
			if (k < cnt)
				q->st.tx_full++;
		} else {
			k = rte_ring_mp_enqueue_burst(p->txr, (void **)mb, cnt, NULL);
			q->st.steer_tx_ring += k;
		}
		dev_give(p);
		return k;
	}
	q->st.steer_busy++;
	k = rte_ring_mp_enqueue_burst(p->txr, (void **)mb, cnt, NULL);
	q->st.steer_tx_ring += k;
	/* The holder may have drained txr before these landed and left: if the token is
	 * free now, send them rather than leave them for the next poll. */
	if (k > 0 && dev_try_take(p)) {
		(void)tx_drain(p, q);
		dev_give(p);
	}
	return k;
}

/* Up to n (<= RX_CHUNK) frames for queue q from wherever its frames come from. */
static unsigned
q_fetch(struct dq *q, struct rte_mbuf **mb, unsigned n)
{
	if (q->steered)
		return steer_rx(q, mb, n);
	return rte_eth_rx_burst(q->port_id, q->qid, mb, (uint16_t)n);
}

/* Sends mb[0..cnt): returns how many were taken (queue q's ownership rules as
 * rte_eth_tx_burst's). */
static unsigned
q_send(struct dq *q, struct rte_mbuf **mb, unsigned cnt)
{
	unsigned i, s = 0, k;

	if (!q->steered)
		return rte_eth_tx_burst(q->port_id, q->qid, mb, (uint16_t)cnt);
	if (q->qid == 0)
		return steer_send(q, mb, cnt);
	/* queues q > 0: runs between the ARP replies, which are taken and dropped */
	for (i = 0; i < cnt; i++) {
		if (!is_arp_reply(mb[i]))
			continue;
		k = steer_send(q, mb + s, i - s);
		if (k < i - s)
			return s + k;
		rte_pktmbuf_free(mb[i]); /* taken: as if sent */
		q->st.steer_arp_quiet++;
		s = i + 1;
	}
	return s + steer_send(q, mb + s, cnt - s);
}

static unsigned
rx_faulty(struct dq *q, struct sl_pkt **pkts, unsigned n)
{
	struct rte_mbuf *mb[RX_CHUNK];
	unsigned want, nb, i, out = 0;

	want = (STASH - q->st_cnt) / 3;
	if (want > RX_CHUNK)
		want = RX_CHUNK;
	nb = want > 0 ? q_fetch(q, mb, want) : 0;
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
	nb = q_fetch(q, mb, SL_MIN(n, (unsigned)RX_CHUNK));
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
				if (!tx_fault(q, mb[i]) && q_send(q, &mb[i], 1) == 0)
					break;
			}
			done += i;
			if (i < cnt) {
				q->st.tx_full++;
				break;
			}
			continue;
		}
		sent = (uint16_t)q_send(q, mb, cnt);
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

	/* Frames still queued in the device (a ring PMD's ring) point into our pools;
	 * steered, the device's queue 0 is drained once per port (sl_dpdk_port_drain). */
	while (!q->steered &&
	       (nb = rte_eth_rx_burst(q->port_id, q->qid, mb, RX_CHUNK)) > 0 && rounds++ < 1024) {
		for (i = 0; i < nb; i++)
			rte_pktmbuf_free(mb[i]);
	}
	while (q->rxr != NULL &&
	       (nb = rte_ring_sc_dequeue_burst(q->rxr, (void **)mb, RX_CHUNK, NULL)) > 0) {
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
		rte_ring_free(p->q[i].rxr);
		p->q[i].rxr = NULL;
		rte_mempool_free(p->q[i].pool);
		p->q[i].pool = NULL;
	}
	rte_ring_free(p->txr);
	p->txr = NULL;
	rte_free(p->fwd);
	p->fwd = NULL;
	rte_free(p->fwd_cnt);
	p->fwd_cnt = NULL;
}

/* The rings and scratch of a steered port (set-up). 0 or -ENOMEM / the ring's -errno. */
static int
steer_setup(struct sl_dpdk_port *p, unsigned ring_size, int socket)
{
	char name[RTE_RING_NAMESIZE];

	p->fwd = rte_zmalloc_socket("sl_dpdk_fwd", sizeof(*p->fwd) * RX_CHUNK * p->nq,
	                            RTE_CACHE_LINE_SIZE, socket);
	p->fwd_cnt = rte_zmalloc_socket("sl_dpdk_fwd_cnt", sizeof(*p->fwd_cnt) * p->nq,
	                                RTE_CACHE_LINE_SIZE, socket);
	if (p->fwd == NULL || p->fwd_cnt == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "sl_p%u_tx", (unsigned)p->port_id);
	p->txr = rte_ring_create(name, ring_size, socket, RING_F_SC_DEQ); /* MP enqueue */
	if (p->txr == NULL)
		return rte_errno > 0 ? -rte_errno : -ENOMEM;
	atomic_init(&p->dev_busy, false);
	for (unsigned i = 0; i < p->nq; i++) {
		struct dq *q = &p->q[i];

		q->steered = true;
		snprintf(name, sizeof(name), "sl_p%u_r%u", (unsigned)p->port_id, i);
		/* one producer at a time (the token holder), but not always the same thread:
		 * multi-producer enqueue, so no single-thread assumption is made */
		q->rxr = rte_ring_create(name, ring_size, socket, RING_F_SC_DEQ);
		if (q->rxr == NULL)
			return rte_errno > 0 ? -rte_errno : -ENOMEM;
	}
	return 0;
}

/*
 * Whether the device puts every frame of a TCP flow on one of its queues by itself: RSS
 * on IP/TCP, or a kernel behind the driver that hashes flows to queues (af_packet's
 * PACKET_FANOUT_HASH, tap's flow hash). Others (memif, whose peer picks the queue and
 * may have fewer; ring; null) must be steered: memif's server queues beyond the client's
 * return stale descriptors.
 */
static bool
spreads_flows(const struct rte_eth_dev_info *info)
{
	if (info->flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP))
		return true;
	return info->driver_name != NULL && (strcmp(info->driver_name, "net_af_packet") == 0 ||
	                                     strcmp(info->driver_name, "net_tap") == 0);
}

int
sl_dpdk_port_create(struct sl_dpdk_port **out, const struct sl_dpdk_port_cfg *cfg)
{
	const struct sl_dpdk_fault_cfg *f = &cfg->fault;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	struct sl_dpdk_port *p;
	uint16_t pid, nrxd, ntxd, mtu;
	unsigned nq = cfg->nb_queues, nhw, nmb, cache, ring, i;
	uint32_t dataroom;
	int socket, rc;
	bool faults, steer;

	*out = NULL;
	if (nq == 0 || nq > SL_DPDK_MAX_QUEUES || cfg->steer > SL_DPDK_STEER_ON)
		return -EINVAL;
	ring = cfg->steer_ring ? cfg->steer_ring : 1024;
	if (ring < 64 || ring > 65536 || (ring & (ring - 1)) != 0)
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
	/* Fewer device queues than shards, or queues that do not keep a flow on one of them:
	 * one device queue pair, steered in software. */
	steer = nq > 1 && (cfg->steer == SL_DPDK_STEER_ON ||
	                   (cfg->steer == SL_DPDK_STEER_AUTO &&
	                    (nq > info.max_rx_queues || nq > info.max_tx_queues ||
	                     !spreads_flows(&info))));
	nhw = steer ? 1 : nq;
	if (nhw > info.max_rx_queues || nhw > info.max_tx_queues)
		return -EINVAL;
	mtu = cfg->mtu ? cfg->mtu : 1500;
	if (mtu < info.min_mtu || mtu > info.max_mtu)
		return -EINVAL;
	nmb = cfg->nb_mbufs ? cfg->nb_mbufs : 4096;
	if (steer && nmb > UINT32_MAX / nq)
		return -EINVAL;
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
	p->nhw = nhw;
	p->steered = steer;

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
	if (nhw > 1 && (info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP)) != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	}
	rc = rte_eth_dev_configure(pid, (uint16_t)nhw, (uint16_t)nhw, &conf);
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
		q->port = p;
		q->steered = false;
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
		/* Steered, queue 0's pool holds every received frame, which the stacks of all
		 * queues keep for a while (zero-copy receive): as many as the queues' pools. */
		q->pool = rte_pktmbuf_pool_create(name, steer && i == 0 ? nmb * nq : nmb, cache,
		                                  (uint16_t)PKT_PRIV_SIZE, (uint16_t)dataroom,
		                                  socket);
		if (q->pool == NULL) {
			rc = rte_errno > 0 ? -rte_errno : -ENOMEM;
			goto out_pools;
		}
		if (i >= nhw)
			continue; /* a virtual queue: frames through the steering rings */
		/* steered: every received frame comes from queue 0's pool */
		rc = rte_eth_rx_queue_setup(pid, (uint16_t)i, nrxd, (unsigned)socket, NULL, q->pool);
		if (rc < 0)
			goto out_pools;
		rc = rte_eth_tx_queue_setup(pid, (uint16_t)i, ntxd, (unsigned)socket, NULL);
		if (rc < 0)
			goto out_pools;
	}
	if (steer) {
		rc = steer_setup(p, ring, socket);
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
	if (steer)
		SL_INFO("dpdk: port %u (%s): %u queues steered in software over one device queue "
		        "pair (%s)", (unsigned)pid, info.driver_name ? info.driver_name : "?", nq,
		        cfg->steer == SL_DPDK_STEER_ON      ? "dpdk.steer=on"
		        : nq > info.max_rx_queues || nq > info.max_tx_queues ? "too few device queues"
		                                                              : "no flow hashing");
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

/* Steered: the device's queue 0 and the shared send ring (nobody holds the token). */
static void
steer_drain(struct sl_dpdk_port *p)
{
	struct rte_mbuf *mb[RX_CHUNK];
	unsigned nb, i, rounds = 0;

	while ((nb = rte_eth_rx_burst(p->port_id, 0, mb, RX_CHUNK)) > 0 && rounds++ < 1024) {
		for (i = 0; i < nb; i++)
			rte_pktmbuf_free(mb[i]);
	}
	while (p->txp_cnt > 0) {
		rte_pktmbuf_free(p->txp[p->txp_head++]);
		p->txp_cnt--;
	}
	p->txp_head = 0;
	while ((nb = rte_ring_sc_dequeue_burst(p->txr, (void **)mb, RX_CHUNK, NULL)) > 0) {
		for (i = 0; i < nb; i++)
			rte_pktmbuf_free(mb[i]);
	}
}

void
sl_dpdk_port_drain(struct sl_dpdk_port *p)
{
	unsigned i;

	if (p->steered)
		steer_drain(p);
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

bool
sl_dpdk_port_steered(const struct sl_dpdk_port *p)
{
	return p->steered;
}

unsigned
sl_dpdk_port_flow_queue(const struct sl_dpdk_port *p, uint32_t ip_a, uint16_t port_a,
                        uint32_t ip_b, uint16_t port_b)
{
	return p->steered ? flow_queue(p->nq, ip_a, port_a, ip_b, port_b) : 0;
}

uint64_t
sl_dpdk_port_steer_moved(const struct sl_dpdk_port *p, unsigned q)
{
	const struct sl_dpdk_queue_stats *st;

	if (q >= p->nq)
		return 0;
	st = &p->q[q].st;
	return st->steer_fwd + st->steer_tx_drained;
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
