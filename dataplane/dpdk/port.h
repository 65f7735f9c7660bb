/* SPDX-License-Identifier: Apache-2.0 */
/*
 * port.h: the DPDK port layer under the userspace TCP/IP stack (dataplane/net/). It starts
 * the EAL from an argument string (config dpdk.eal.args), sets up one ethdev port with one
 * RX/TX queue pair and one mbuf pool per shard (the pool on the port's NUMA socket), and
 * implements struct sl_pkt_io (net/pkt.h) for each queue over rte_eth_rx_burst/tx_burst.
 *
 * No copy: every mbuf of our pools carries its struct sl_pkt in the mbuf private area
 * (right after struct rte_mbuf), so wrapping an mbuf is filling in five fields. pkt->priv
 * is the mbuf. Frames are one segment (no chained mbufs; chained frames received are
 * dropped and counted).
 *
 * Several queues: when the device can hash IP/TCP, RSS spreads flows over them (which
 * shard gets a connection is the device's choice; untested here, the ring PMD has no RSS).
 *
 * Software steering (cfg.steer; auto by default: when the device has fewer RX or TX
 * queues than cfg.nb_queues, as af_packet with qpairs=1 or a one-queue tap, or when it
 * does not keep each flow on one queue by itself: no IP/TCP RSS and not af_packet or tap,
 * whose kernel side hashes flows; memif, whose peer picks the queue, is always steered):
 * the device gets one queue pair and the stacks still see nb_queues queues (virtual
 * queues). Every queue has a lock-free ring of frames for it (rte_ring); a queue whose
 * ring runs dry polls the device itself when no other queue is doing so (a try-only
 * token, never waited for): a TCP/IPv4 frame goes to the queue sl_dpdk_port_flow_queue()
 * names for its addresses and ports (symmetric: both directions of a flow agree), onto
 * that queue's ring or straight up when it is the poller's own; ARP goes to every queue
 * (a copy each, since each stack keeps its own ARP cache), and whatever else (ICMP,
 * fragments, other ethertypes) to queue 0. A queue sends straight to the device when it
 * gets the token, else onto one shared multi-producer ring that the next token holder
 * empties first. Queues q > 0 drop the ARP replies their stacks build (queue 0 answers
 * the same request, so the peer gets one reply). Nothing blocks: a frame that does not
 * fit a ring is freed and counted (TCP recovers). Consequences: frames for a queue wait
 * until some queue polls (any shard's loop does); received frames all come from queue
 * 0's pool and are freed by whichever shard consumes them; the fault injector works per
 * queue on what the queue receives and sends; sl_dpdk_port_steer_moved() counts what a
 * queue moved for others, which its shard's idle logic should count as work.
 *
 * Checksum offload: when the device reports IPv4 and TCP TX checksum offload, the port
 * enables them and sl_dpdk_port_tx_csum_offload() says so (feed it to sl_net_cfg's
 * tx_csum_offload); SL_PKT_TX_* flags then become RTE_MBUF_F_TX_* with l2/l3 lengths. When
 * the device verifies RX checksums, good frames get SL_PKT_RX_CKSUM_OK.
 *
 * Fault injection (tests, chaos runs): a per-queue seeded PRNG (config dpdk.fault.drop,
 * .dup, .reorder, .corrupt as fractions in [0, 1], dpdk.fault.seed) applied to received
 * frames before the stack sees them: drop frees the frame, dup delivers a copy right after
 * it (the copy comes from the queue's pool), reorder holds the frame back until after the
 * next one (or the next rx call), corrupt flips one bit past the Ethernet header. The same
 * seed and the same input give the same faults. The copy for dup is the only memcpy.
 * Sent frames (dpdk.fault.tx_drop, .tx_corrupt; a PRNG of their own per queue): drop frees
 * the frame as if sent; corrupt flips one bit past the Ethernet header (not when the device
 * computes checksums, which would cover the flip). Faulty queues transmit frame by frame.
 *
 * Threads: sl_dpdk_eal_init, sl_dpdk_port_create/destroy run at start-up/shut-down on one
 * thread (they allocate and may block). The sl_pkt_io callbacks of queue q run only on the
 * shard thread that owns q; they never allocate from the heap, lock or make syscalls.
 * Steered, any queue's callbacks may also move the other queues' frames, over lock-free
 * rings (rte_ring). Each queue's thread should be an EAL lcore (sl_dpdk_thread_register): the
 * mbufs it frees, from any queue's pool, then go through its own mempool cache (without
 * one, straight to the pool: safe, slower).
 */
#ifndef SL_DATAPLANE_DPDK_PORT_H
#define SL_DATAPLANE_DPDK_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/props.h"
#include "dataplane/net/pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_DPDK_MAX_QUEUES 64
#define SL_DPDK_MAX_EAL_ARGS 64

/* Starts the EAL with args split at blanks (no quoting), after an implicit argv[0].
 * Once per process. 0, -EALREADY, -EINVAL (too many args), or the EAL's -errno. */
int sl_dpdk_eal_init(const char *args) SL_MUST_CHECK;
/* Releases the EAL (after every port is destroyed). */
void sl_dpdk_eal_fini(void);
/* Makes the calling (non-EAL) thread an lcore, so mempools use a per-thread cache. 0 or
 * -errno (no EAL, no free lcore id). unregister before the thread ends. */
int sl_dpdk_thread_register(void) SL_MUST_CHECK;
void sl_dpdk_thread_unregister(void);

struct sl_dpdk_fault_cfg {
	double drop, dup, reorder, corrupt; /* fractions of received frames, each in [0, 1] */
	double tx_drop, tx_corrupt;         /* fractions of sent frames, each in [0, 1] */
	uint64_t seed;                      /* queue q uses seed + q */
};

enum sl_dpdk_steer {
	SL_DPDK_STEER_AUTO = 0, /* steer when the device has fewer queues than nb_queues or
	                         * does not spread flows itself (see above) */
	SL_DPDK_STEER_OFF,      /* never: fewer device queues than nb_queues is -EINVAL */
	SL_DPDK_STEER_ON,       /* always when nb_queues > 1 (one device queue pair) */
};

struct sl_dpdk_port_cfg {
	const char *name;      /* ethdev name ("net_ring0", "net_tap0", ...); NULL: the first */
	unsigned nb_queues;    /* one RX/TX pair per shard, 1..SL_DPDK_MAX_QUEUES */
	enum sl_dpdk_steer steer;
	unsigned steer_ring;   /* entries of each steering ring, a power of two in [64, 65536];
	                        * 1024 if 0 */
	unsigned nb_mbufs;     /* per queue pool, 4096 if 0 (steered: queue 0's pool, which
	                        * receives for every queue, nb_mbufs * nb_queues) */
	unsigned mbuf_cache;   /* mempool per-lcore cache, 256 if 0 */
	uint16_t nb_rxd, nb_txd; /* descriptors, 1024 if 0 (adjusted to the device) */
	uint16_t mtu;          /* IP MTU, 1500 if 0 */
	bool promiscuous;
	struct sl_dpdk_fault_cfg fault;
};

struct sl_dpdk_port;

/* Counters of one queue (the port layer's view; the device has its own). */
struct sl_dpdk_queue_stats {
	uint64_t rx_pkts, tx_pkts, tx_full, rx_chained_drop;
	uint64_t fault_drop, fault_dup, fault_reorder, fault_corrupt, fault_dup_nomem;
	uint64_t alloc_fail;
	uint64_t fault_tx_drop, fault_tx_corrupt;
	/* steering, counted by the queue that did it: frames put on queues' rings while
	 * polling the device (steer_fwd) or dropped there, ring full (steer_drop); ARP copies
	 * made or not (no mbuf); frames of the shared send ring given to the device
	 * (steer_tx_drained); own frames put on that ring (steer_tx_ring; ring full counts in
	 * tx_full); ARP replies left to queue 0 (steer_arp_quiet); polls and sends that found
	 * the device token taken (steer_busy). */
	uint64_t steer_fwd, steer_drop, steer_copy, steer_copy_fail, steer_tx_drained;
	uint64_t steer_tx_ring, steer_arp_quiet, steer_busy;
};

/* Reads dpdk.eal.args (into *eal_args, owned by p; untouched when absent), the
 * dpdk.fault.* keys into cfg->fault, dpdk.steer (auto, on, off) into cfg->steer and
 * dpdk.steer.ring.size into cfg->steer_ring. 0 or -EINVAL (a fraction outside [0, 1] or
 * not a number, an unknown steer mode, a ring size not a power of two in [64, 65536]). */
int sl_dpdk_cfg_from_props(struct sl_props *p, struct sl_dpdk_port_cfg *cfg,
                           const char **eal_args) SL_MUST_CHECK;

/* Configures and starts the port cfg->name (the EAL must be up). 0 or -ENODEV (no such
 * port), -EINVAL (bad cfg), -ENOMEM (pool), or the ethdev's -errno. */
int sl_dpdk_port_create(struct sl_dpdk_port **out, const struct sl_dpdk_port_cfg *cfg)
	SL_MUST_CHECK;
/* Stops and closes the port and frees its pools. Every mbuf must be back (the stacks
 * using the queues destroyed first). */
void sl_dpdk_port_destroy(struct sl_dpdk_port *p);

/* Frees every frame waiting in the device's receive queues and in the fault injector (a
 * shut-down step: the stacks are gone, nothing polls). */
void sl_dpdk_port_drain(struct sl_dpdk_port *p);
/* Mbufs of this port's pools not back in them (leak checks after drain). */
unsigned sl_dpdk_port_mbufs_in_use(const struct sl_dpdk_port *p);

/* The packet I/O of queue q, for sl_net_create. The ctx stays valid until destroy. */
int sl_dpdk_port_io(struct sl_dpdk_port *p, unsigned q, struct sl_pkt_io *out) SL_MUST_CHECK;
uint16_t sl_dpdk_port_id(const struct sl_dpdk_port *p);
void sl_dpdk_port_mac(const struct sl_dpdk_port *p, uint8_t mac[6]);
/* Whether IPv4 + TCP TX checksum offload is on (the device has it). */
bool sl_dpdk_port_tx_csum_offload(const struct sl_dpdk_port *p);
bool sl_dpdk_port_rx_csum_offload(const struct sl_dpdk_port *p);
void sl_dpdk_port_queue_stats(const struct sl_dpdk_port *p, unsigned q,
                              struct sl_dpdk_queue_stats *out);
/* Whether the port steers in software (see above). */
bool sl_dpdk_port_steered(const struct sl_dpdk_port *p);
/* The queue that owns the TCP/IPv4 flow between (ip_a, port_a) and (ip_b, port_b), host
 * order, either way round; 0 when not steered (then RSS decides). An active opener picks
 * a local port that lands on its own queue with it. Any thread. */
unsigned sl_dpdk_port_flow_queue(const struct sl_dpdk_port *p, uint32_t ip_a, uint16_t port_a,
                                 uint32_t ip_b, uint16_t port_b);
/* Frames queue q moved for other queues so far (onto their rings + from the shared send
 * ring to the device); q's thread counts a change as work, so that it does not nap while
 * it steers. 0 when not steered. */
uint64_t sl_dpdk_port_steer_moved(const struct sl_dpdk_port *p, unsigned q);

#ifdef __cplusplus
}
#endif

#endif
