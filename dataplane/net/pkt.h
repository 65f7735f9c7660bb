/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkt.h: the packet buffer and packet I/O seam of the userspace TCP/IP stack (net/).
 *
 * The stack never sees an mbuf: a port layer (DPDK later, a scripted fake in the unit tests
 * and the fuzzer) wraps its buffers in struct sl_pkt and implements struct sl_pkt_io. A
 * struct sl_pkt is one contiguous Ethernet frame (no chained buffers yet).
 *
 * Ownership: a packet handed to the stack (sl_net_input) belongs to the stack, which gives
 * it back through io->free. A packet the stack got from io->alloc and passed to tx_burst
 * belongs to the port for the first n packets tx_burst accepted; the stack frees the rest.
 *
 * One thread (the shard that owns the port queue). The callbacks must not block or
 * allocate from the general heap.
 */
#ifndef SL_DATAPLANE_NET_PKT_H
#define SL_DATAPLANE_NET_PKT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Offload requests on a transmitted packet (ol_flags). With an offload flag set the stack
 * leaves the matching checksum field holding what the NIC expects (0 for the IPv4 header,
 * the pseudo-header sum for TCP), as DPDK's RTE_MBUF_F_TX_*_CKSUM do. */
#define SL_PKT_TX_IP_CKSUM (1u << 0)
#define SL_PKT_TX_TCP_CKSUM (1u << 1)
/* Set by the port on received packets whose checksums the NIC already verified. */
#define SL_PKT_RX_CKSUM_OK (1u << 8)

struct sl_pkt {
	uint8_t *data;     /* first byte of the Ethernet header */
	uint16_t len;      /* frame bytes */
	uint16_t cap;      /* bytes available at data */
	uint32_t ol_flags; /* SL_PKT_* */
	void *priv;        /* the port's buffer (an rte_mbuf) */
};

struct sl_pkt_io {
	/* Receives up to n packets into pkts; returns how many. */
	unsigned (*rx_burst)(void *ctx, struct sl_pkt **pkts, unsigned n);
	/* Queues pkts[0..n) for transmission; returns how many it took (it owns those). */
	unsigned (*tx_burst)(void *ctx, struct sl_pkt **pkts, unsigned n);
	/* A packet with cap >= the MTU + 14, len 0; NULL when the pool is empty. */
	struct sl_pkt *(*alloc)(void *ctx);
	void (*free)(void *ctx, struct sl_pkt *pkt);
	void *ctx;
};

#ifdef __cplusplus
}
#endif

#endif
