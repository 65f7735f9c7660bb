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

struct sl_dpdk_port_cfg {
	const char *name;      /* ethdev name ("net_ring0", "net_tap0", ...); NULL: the first */
	unsigned nb_queues;    /* one RX/TX pair per shard, 1..SL_DPDK_MAX_QUEUES */
	unsigned nb_mbufs;     /* per queue pool, 4096 if 0 */
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
};

/* Reads dpdk.eal.args (into *eal_args, owned by p; untouched when absent) and the
 * dpdk.fault.* keys into cfg->fault. 0 or -EINVAL (a fraction outside [0, 1] or not a
 * number). */
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

#ifdef __cplusplus
}
#endif

#endif
