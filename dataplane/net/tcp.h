/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcp.h: the userspace TCP/IPv4 stack's core (struct sl_net), independent of DPDK/EAL.
 *
 * One instance per shard, on that shard's thread only. sl_net_create allocates everything
 * (connection pool, per-connection send and receive rings, hash table, tx batch) and
 * pre-faults it; nothing is allocated per packet and nothing blocks. Packets come in
 * through sl_net_rx (or sl_net_poll, which pulls a burst from the port) and leave in tx
 * bursts through struct sl_pkt_io (pkt.h). Time is passed in by the caller (now_ns,
 * monotonic), read once per loop iteration; the stack never reads a clock.
 *
 * What it does: ARP replies, ICMP echo replies, TCP per RFC 9293 with passive open
 * (listen backlog; SYN cookies once a listener's backlog is full), active open, MSS and
 * window scale options (RFC 7323 2), timestamps with PAWS (RFC 7323 3-5; not yet used for
 * RTT samples, no 24-day idle rule), RTO per RFC 6298 with Karn's rule and exponential
 * backoff, slow start / congestion avoidance (RFC 5681), fast retransmit and NewReno
 * recovery (RFC 6582), delayed ACKs (every second segment or a timer), an out-of-order
 * receive queue (data stored in place in the receive ring), zero-window probes, FIN/RST
 * handling with RFC 5961 challenge ACKs, TIME_WAIT, keepalive, connection limits.
 * Not yet (TODO #dpdk): SACK, simultaneous open, IP options/fragments (dropped), an ARP
 * cache (replies go to the MAC the peer's segments came from; sl_tcp_connect takes the
 * next hop's MAC), a timer wheel (sl_net_timers walks the whole pool), zero-copy send.
 *
 * Byte stream seam (for the Kafka request path): a segment's payload is copied once, from
 * the frame into the connection's receive ring (at its offset, so out-of-order data needs
 * no extra buffer), and the frame goes back to the port at once. The bytes are read as an
 * iovec chain of at most two pieces (sl_tcp_rx_peek) that struct sl_crd (common/kbuf.h)
 * reads in place, then released in order with sl_tcp_rx_consume, which reopens the window.
 * Responses go in as gather lists (sl_tcp_send), copied into the send ring because TCP must
 * keep them for retransmission (TODO #dpdk: reference storage buffers instead, with mbuf
 * external buffers, and keep received mbufs instead of copying).
 */
#ifndef SL_DATAPLANE_NET_TCP_H
#define SL_DATAPLANE_NET_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "dataplane/net/pkt.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_tcp_state {
	SL_TCP_CLOSED = 0,
	SL_TCP_LISTEN,
	SL_TCP_SYN_SENT,
	SL_TCP_SYN_RCVD,
	SL_TCP_ESTABLISHED,
	SL_TCP_FIN_WAIT_1,
	SL_TCP_FIN_WAIT_2,
	SL_TCP_CLOSE_WAIT,
	SL_TCP_CLOSING,
	SL_TCP_LAST_ACK,
	SL_TCP_TIME_WAIT,
};

struct sl_net;
struct sl_tcp_conn;

/* Events, called on the stack's thread from inside sl_net_rx/poll/timers. A callback may
 * call sl_tcp_send/rx_consume/close on c. */
struct sl_tcp_cb {
	/* The connection is established (passive: accepted; active: connected). */
	void (*established)(void *arg, struct sl_tcp_conn *c);
	/* New in-order bytes are in the receive ring. */
	void (*readable)(void *arg, struct sl_tcp_conn *c);
	/* Send ring space was freed by an ACK. */
	void (*writable)(void *arg, struct sl_tcp_conn *c);
	/* No more bytes will arrive: err 0 = the peer's FIN, else -ECONNRESET, -ETIMEDOUT,
	 * -ECONNREFUSED. Called once. */
	void (*rx_end)(void *arg, struct sl_tcp_conn *c, int err);
	/* The connection reached CLOSED (after rx_end). The object stays valid until the
	 * user has called sl_tcp_close (if it has, it is reused after this returns). */
	void (*closed)(void *arg, struct sl_tcp_conn *c);
	void *arg;
};

struct sl_net_cfg {
	uint8_t mac[6];
	uint32_t ip;                 /* host order */
	uint16_t mtu;                /* IP MTU, 1500 if 0 */
	unsigned max_conns;          /* connection pool (TIME_WAIT and embryonic included) */
	unsigned max_listeners;      /* 8 if 0 */
	uint32_t rcvbuf_bytes;       /* per connection, power of two, >= 2 * MSS */
	uint32_t sndbuf_bytes;       /* per connection, power of two */
	uint32_t rto_init_ms;        /* 1000 if 0 (RFC 6298 2.1) */
	uint32_t rto_min_ms;         /* 200 if 0 (RFC 6298 says 1 s; 200 ms as Linux does) */
	uint32_t rto_max_ms;         /* 60000 if 0 */
	uint32_t delack_ms;          /* 40 if 0 */
	uint32_t time_wait_ms;       /* 2*MSL, 60000 if 0 */
	unsigned max_retries;        /* RTO expiries in a row before ETIMEDOUT, 8 if 0 */
	uint32_t keepalive_idle_ms;  /* 0 = no keepalive */
	uint32_t keepalive_intvl_ms; /* between probes, 75000 if 0 */
	unsigned keepalive_probes;   /* unanswered probes before ETIMEDOUT, 9 if 0 */
	uint64_t secret;             /* keys ISNs (RFC 6528) and SYN cookies */
	bool tx_csum_offload;        /* leave IPv4/TCP checksums to the NIC */
	struct sl_tcp_cb cb;
};

/* Allocates the stack (everything it will ever use). 0 or -EINVAL / -ENOMEM. */
int sl_net_create(struct sl_net **out, const struct sl_net_cfg *cfg,
                  const struct sl_pkt_io *io) SL_MUST_CHECK;
void sl_net_destroy(struct sl_net *n);

/* Handles received packets (takes ownership of all n). Queues replies; does not flush. */
void sl_net_rx(struct sl_net *n, struct sl_pkt **pkts, unsigned cnt, int64_t now_ns);
/* Runs expired timers (retransmission, delayed ACK, persist, TIME_WAIT). */
void sl_net_timers(struct sl_net *n, int64_t now_ns);
/* Hands queued packets to io->tx_burst (frees what it refuses). */
void sl_net_flush(struct sl_net *n);
/* One loop iteration: rx burst, input, timers, flush. Returns packets received. */
unsigned sl_net_poll(struct sl_net *n, int64_t now_ns);

/* Accepts connections on port with at most backlog half-open ones (SYN cookies beyond).
 * 0, -EADDRINUSE, -ENOSPC, -EINVAL. */
int sl_tcp_listen(struct sl_net *n, uint16_t port, unsigned backlog) SL_MUST_CHECK;
/* Opens a connection to ip:port through the next hop dst_mac from local port lport (0:
 * the stack picks one). 0 or -ENOMEM (pool full), -EADDRINUSE. */
int sl_tcp_connect(struct sl_net *n, struct sl_tcp_conn **out, uint32_t ip, uint16_t port,
                   uint16_t lport, const uint8_t dst_mac[6], int64_t now_ns) SL_MUST_CHECK;

/* Up to two pieces of in-order received bytes (the receive ring may wrap); returns the
 * number of pieces. The pieces stay valid until sl_tcp_rx_consume releases them. */
unsigned sl_tcp_rx_peek(const struct sl_tcp_conn *c, struct iovec iov[2]);
size_t sl_tcp_rx_avail(const struct sl_tcp_conn *c);
/* Releases the first bytes (<= sl_tcp_rx_avail) and sends a window update when the window
 * opened by at least an MSS or half the ring. */
void sl_tcp_rx_consume(struct sl_tcp_conn *c, size_t bytes, int64_t now_ns);
/* Copies as much of iov[0..cnt) as fits into the send ring and sends what the windows
 * allow. Returns the bytes taken (maybe 0), or -EPIPE after close / -ENOTCONN. */
ssize_t sl_tcp_send(struct sl_tcp_conn *c, const struct iovec *iov, unsigned cnt, int64_t now_ns);
size_t sl_tcp_send_space(const struct sl_tcp_conn *c);
/* Sends FIN after the queued bytes; the user is done with c (see cb.closed). */
void sl_tcp_close(struct sl_tcp_conn *c, int64_t now_ns);
/* Sends RST and drops everything; the user is done with c. */
void sl_tcp_abort(struct sl_tcp_conn *c);

enum sl_tcp_state sl_tcp_state(const struct sl_tcp_conn *c);
void sl_tcp_set_user(struct sl_tcp_conn *c, void *user);
void *sl_tcp_user(const struct sl_tcp_conn *c);

/* Counters, for tests and stats. */
struct sl_net_stats {
	uint64_t rx_pkts, rx_drop, tx_pkts, tx_drop;
	uint64_t retrans, fast_retrans, rto_expired, syncookies_sent, syncookies_ok;
	uint64_t rst_sent, conns_active, challenge_acks, ooo_segs, paws_drops;
};
void sl_net_stats_get(const struct sl_net *n, struct sl_net_stats *out);

#ifdef __cplusplus
}
#endif

#endif
