/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xport_dpdk.h: the kernel-bypass transport: struct sl_xport_ops (xport.h) over the
 * userspace TCP/IPv4 stack (dataplane/net/tcp.h) on one queue of a DPDK port
 * (dataplane/dpdk/port.h). One instance per network shard, on that shard's thread.
 *
 * Receive: the stack copies each segment's payload into the connection's receive ring;
 * the bytes not yet handed up are handed to the request path as struct sl_rxseg pieces
 * pointing into that ring (sl_tcp_rx_peek), at most max_segs outstanding per connection.
 * rx_release may come in any order; the ring is consumed (sl_tcp_rx_consume, which
 * reopens the window) up to the first piece still held.
 *
 * Send: sl_tcp_send copies as much of the gather list as the send ring takes; the rest
 * waits for the stack's writable event; sl_kconn_tx_done follows once every byte is in
 * the send ring (TCP keeps them for retransmission).
 *
 * Events: the stack's callbacks (established, readable, writable, rx_end, closed) only
 * record what happened and queue the connection; the request path is called afterwards,
 * outside the stack's input processing (sl_dxport_poll / sl_dxport_flush), so no upcall
 * re-enters the stack or the request path.
 *
 * Close: ops->close stops rx and tx at once (sl_kconn_xport_gone follows); the TCP
 * connection itself is closed (FIN after the queued bytes) only in ops->free, once the
 * request path has given back every piece of the receive ring it was reading.
 *
 * Nothing here allocates or blocks after sl_dxport_create.
 */
#ifndef SL_DATAPLANE_XPORT_DPDK_H
#define SL_DATAPLANE_XPORT_DPDK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "dataplane/kreq.h"
#include "dataplane/net/pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_dxport;

struct sl_dxport_cfg {
	uint8_t mac[6];
	uint32_t ip;           /* host order */
	uint32_t netmask;      /* host order; 0: every address on the link */
	uint32_t gateway;      /* host order; 0: none */
	uint16_t mtu;          /* IP MTU, 1500 if 0 */
	unsigned max_conns;    /* connections of the request path (1024 if 0); the stack's
	                        * pool is 1.25x that, each with both rings pre-faulted */
	uint32_t rcvbuf_bytes; /* per connection, power of two (256 KiB if 0) */
	uint32_t sndbuf_bytes; /* per connection, power of two (256 KiB if 0) */
	bool tx_csum_offload;  /* the port computes IPv4/TCP checksums */
	uint64_t secret;       /* ISNs and SYN cookies */
};

/* Counters (read by other threads for stats: approximate). */
struct sl_dxport_stats {
	uint64_t accepted, refused, rx_bytes, tx_bytes;
	unsigned conns;
	/* the stack's (sl_net_stats) */
	uint64_t rx_pkts, rx_drop, tx_pkts, tx_drop, retrans, fast_retrans, rto_expired, ooo_segs;
};

/*
 * Creates the stack over io and the connection pool; kcfg (max_segs: pieces one
 * connection may hold, a power of two) and owner go to every connection's request path.
 * Returns 0 or -errno.
 */
int sl_dxport_create(struct sl_dxport **out, const struct sl_dxport_cfg *cfg,
                     const struct sl_pkt_io *io, const struct sl_kconn_cfg *kcfg,
                     void *owner) SL_MUST_CHECK;
/* Frees everything (the shard's loop is over); connections still open are dropped. */
void sl_dxport_destroy(struct sl_dxport *xp);

/* Accepts connections on port. 0 or the stack's -errno. */
int sl_dxport_listen(struct sl_dxport *xp, uint16_t port) SL_MUST_CHECK;
/* New connections are closed as soon as they are established (shutdown drain). */
void sl_dxport_stop_listen(struct sl_dxport *xp);

/* One loop iteration's receive side: rx burst, stack input, stack timers, then the
 * queued events (request path). Returns the frames received plus the events handled. */
unsigned sl_dxport_poll(struct sl_dxport *xp, int64_t now_ns);
/* End of a loop iteration: queued events, then the stack's tx burst. */
void sl_dxport_flush(struct sl_dxport *xp, int64_t now_ns);

/* Shutdown helpers (shard drain): hold every connection, whether all are idle, close
 * them all, whether every connection object is back. */
void sl_dxport_hold_all(struct sl_dxport *xp);
bool sl_dxport_conns_idle(const struct sl_dxport *xp);
void sl_dxport_close_all(struct sl_dxport *xp);
bool sl_dxport_idle(const struct sl_dxport *xp);

void sl_dxport_stats_get(const struct sl_dxport *xp, struct sl_dxport_stats *out);

#ifdef __cplusplus
}
#endif

#endif
