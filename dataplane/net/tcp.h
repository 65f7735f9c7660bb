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
 * ARP: requests for our address are answered, and requests and replies addressed to us
 * fill a fixed-size cache (cfg.arp_entries) whose entries are trusted for arp_reachable_ms,
 * then confirmed again by a request on their next use. sl_tcp_connect without a MAC
 * resolves the next hop (the destination on our subnet, else cfg.gateway): the SYN waits
 * until the answer comes (arp_tries requests, arp_retry_ms apart), or the connection ends
 * with rx_end(-EHOSTUNREACH). Replies on a connection go to the MAC its SYN or first
 * segment came from, so the passive side needs no resolution.
 * Timers (retransmission, persist, delayed ACK, TIME_WAIT, keepalive, ARP retries) sit on
 * a hierarchical timer wheel (twheel_int.h): sl_net_timers costs what is due, not the pool.
 * SACK (RFC 2018): offered in SYNs; when both sides agreed, ACKs carry the most recent
 * out-of-order ranges, and in fast recovery each duplicate ACK retransmits the next hole
 * below the highest SACKed byte instead of inflating the window (a simplified RFC 6675:
 * no pipe estimate, no loss recovery entered on SACKed bytes alone); an RTO forgets the
 * scoreboard and goes back N.
 * Simultaneous open (RFC 9293 3.10.7.3): a SYN crossing our SYN is answered with a SYN,ACK
 * and the connection goes through SYN_RCVD; cb.established fires as for any active open.
 * TIME_WAIT: a SYN from the same peer port whose sequence number (or timestamp, RFC 6191)
 * is above the last one seen replaces the TIME_WAIT connection with a new passive open on
 * the listener, with an ISN above the old sequence space (RFC 9293 3.6.1), so clients
 * reconnecting from the same port do not wait 2*MSL.
 * Not yet (TODO #dpdk): IP options/fragments (dropped), SYN cookies with SACK/window scale,
 * transmitting referenced memory without a copy into the frame (below).
 *
 * Byte stream seam (for the Kafka request path), two receive modes chosen by
 * cfg.rx_zero_copy:
 *  - copy (the default): a segment's payload is copied once, from the frame into the
 *    connection's receive ring (at its offset, so out-of-order data needs no extra buffer),
 *    and the frame goes back to the port at once. The bytes are an iovec chain of at most
 *    two pieces (sl_tcp_rx_peek covers all of them).
 *  - zero copy: the frames themselves are kept, in order, per connection (the out-of-order
 *    queue holds frames too), and the in-order bytes are read as an iovec chain pointing
 *    into the frames' buffers, one piece per frame (sl_tcp_rx_peekv). sl_tcp_rx_consume
 *    gives fully consumed frames back to the port (io->free). A connection holds at most
 *    cfg.rx_frames frames: the advertised window is min(receive buffer space, free frames *
 *    MSS), so a peer sending full-sized segments never meets the limit; one that sends
 *    smaller segments does, and then a frame beyond the budget is dropped (an out-of-order
 *    frame further up the sequence space is given back first to make room for one nearer
 *    rcv_nxt, and its SACK ranges are withdrawn). Small in-order payloads (up to
 *    cfg.rx_copy_max bytes) are copied into the tailroom of the previous held frame instead
 *    of holding a 2 KiB buffer for a few bytes; so are small out-of-order frames when they
 *    join the in-order queue. sl_tcp_close/sl_tcp_abort give every held frame back, and
 *    data arriving after sl_tcp_close is acknowledged and dropped at once.
 * Either way struct sl_crd (common/kbuf.h) reads the pieces in place, and
 * sl_tcp_rx_consume releases bytes in order and reopens the window.
 * Responses go in as gather lists (sl_tcp_send), copied into the send ring because TCP must
 * keep them for retransmission, or by reference (sl_tcp_send_ref: e.g. a fetch response's
 * records in the storage tail cache): the stack points at the caller's memory until the
 * peer acknowledges it, then calls cb.tx_done. Both kinds mix in one ordered send queue
 * (at most 32 chunks: each reference is one, each run of copied bytes between them one).
 * Segments are still built by copying the bytes into the frame (sl_tcp_build); TODO #dpdk:
 * a pkt io operation to chain external buffers (rte_pktmbuf_attach_extbuf) so referenced
 * bytes reach the NIC without that copy.
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
	/* New in-order bytes arrived (sl_tcp_rx_peek/peekv). */
	void (*readable)(void *arg, struct sl_tcp_conn *c);
	/* Send ring space was freed by an ACK. */
	void (*writable)(void *arg, struct sl_tcp_conn *c);
	/* No more bytes will arrive: err 0 = the peer's FIN, else -ECONNRESET, -ETIMEDOUT,
	 * -ECONNREFUSED, -EHOSTUNREACH (no ARP answer for the next hop). Called once. */
	void (*rx_end)(void *arg, struct sl_tcp_conn *c, int err);
	/* The connection reached CLOSED (after rx_end). The object stays valid until the
	 * user has called sl_tcp_close (if it has, it is reused after this returns). */
	void (*closed)(void *arg, struct sl_tcp_conn *c);
	void *arg;
	/* The memory sl_tcp_send_ref queued under ref is no longer referenced: err 0 = the
	 * peer acknowledged it, else the connection ended first (-ECONNRESET, -ETIMEDOUT,
	 * -ECONNABORTED after sl_tcp_abort, -ECANCELED from sl_net_destroy). Exactly once per
	 * accepted reference, also after sl_tcp_close. It must only release the memory: no
	 * sl_tcp_* / sl_net_* call from inside it. */
	void (*tx_done)(void *arg, void *ref, int err);
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
	/* Routing (dpdk.ip's prefix and dpdk.gateway), host order. netmask 0: every address is
	 * on the link. Addresses outside ip/netmask go through gateway (0: unreachable); the
	 * gateway must be inside the subnet. */
	uint32_t netmask;
	uint32_t gateway;
	unsigned arp_entries;      /* ARP cache entries, 256 if 0 */
	uint32_t arp_reachable_ms; /* an answer is trusted this long, 60000 if 0 */
	uint32_t arp_retry_ms;     /* between unanswered requests, 1000 if 0 */
	unsigned arp_tries;        /* requests before giving up, 3 if 0 */
	/* Zero-copy receive (see above). rx_frames: frames one connection may hold, a power of
	 * two (0: rcvbuf_bytes / (MSS - 12) rounded up to one, at least 4); the port's pool must
	 * have room for max_conns * rx_frames beyond its rx and tx needs, or connections starve
	 * each other. rx_copy_max: in-order payloads up to this size are copied into the
	 * previous frame's tailroom (256 if 0). Received frames' cap must be the buffer's room
	 * from data (the tailroom is written). */
	bool rx_zero_copy;
	unsigned rx_frames;
	uint16_t rx_copy_max;
	struct sl_tcp_cb cb;
};

/* Allocates the stack (everything it will ever use). 0 or -EINVAL / -ENOMEM. */
int sl_net_create(struct sl_net **out, const struct sl_net_cfg *cfg,
                  const struct sl_pkt_io *io) SL_MUST_CHECK;
void sl_net_destroy(struct sl_net *n);

/* Handles received packets (takes ownership of all n). Queues replies; does not flush. */
void sl_net_rx(struct sl_net *n, struct sl_pkt **pkts, unsigned cnt, int64_t now_ns);
/* Runs expired timers (retransmission, delayed ACK, persist, TIME_WAIT, keepalive, ARP).
 * Costs O(timers due), whatever the pool size. */
void sl_net_timers(struct sl_net *n, int64_t now_ns);
/* Hands queued packets to io->tx_burst (frees what it refuses). */
void sl_net_flush(struct sl_net *n);
/* One loop iteration: rx burst, input, timers, flush. Returns packets received. */
unsigned sl_net_poll(struct sl_net *n, int64_t now_ns);

/* Accepts connections on port with at most backlog half-open ones (SYN cookies beyond).
 * 0, -EADDRINUSE, -ENOSPC, -EINVAL. */
int sl_tcp_listen(struct sl_net *n, uint16_t port, unsigned backlog) SL_MUST_CHECK;
/* Opens a connection to ip:port from local port lport (0: the stack picks one). dst_mac is
 * the next hop's MAC, or NULL to resolve it through the ARP cache (see above): the SYN then
 * goes out when the answer arrives, and an unanswered resolution ends the connection with
 * rx_end(-EHOSTUNREACH) and closed (from inside sl_net_timers). 0 or -ENOMEM (pool full),
 * -EADDRINUSE, -EINVAL (port 0), -ENETUNREACH (off-subnet and no gateway), -ENOBUFS (ARP
 * cache full of unresolved entries). */
int sl_tcp_connect(struct sl_net *n, struct sl_tcp_conn **out, uint32_t ip, uint16_t port,
                   uint16_t lport, const uint8_t dst_mac[6], int64_t now_ns) SL_MUST_CHECK;

/* The in-order received bytes from offset off (< sl_tcp_rx_avail) on, as up to max pieces
 * (copy mode: at most two, the ring may wrap; zero copy: one per frame, pointing into the
 * frame's buffer); returns the number of pieces (0 when nothing is there). The pieces stay
 * valid until sl_tcp_rx_consume releases their bytes, or sl_tcp_close/sl_tcp_abort. Costs
 * O(frames before off + max). */
unsigned sl_tcp_rx_peekv(const struct sl_tcp_conn *c, size_t off, struct iovec *iov, unsigned max);
/* sl_tcp_rx_peekv(c, 0, iov, 2). In copy mode the pieces cover every available byte; in
 * zero-copy mode only the first two frames' (use sl_tcp_rx_peekv there). */
unsigned sl_tcp_rx_peek(const struct sl_tcp_conn *c, struct iovec iov[2]);
size_t sl_tcp_rx_avail(const struct sl_tcp_conn *c);
/* Receive window left: bytes the peer may send beyond what is held, by the buffer and (zero
 * copy) the frame budget. Below an MSS the peer is blocked until the user consumes: a
 * request path that keeps pieces until a whole request arrived must then copy them out. */
size_t sl_tcp_rx_window(const struct sl_tcp_conn *c);
/* Frames c holds (zero copy: in order plus out of order; 0 in copy mode). */
unsigned sl_tcp_rx_frames(const struct sl_tcp_conn *c);
/* Releases the first bytes (<= sl_tcp_rx_avail) and sends a window update when the window
 * opened by at least an MSS or half the ring. */
void sl_tcp_rx_consume(struct sl_tcp_conn *c, size_t bytes, int64_t now_ns);
/* Copies as much of iov[0..cnt) as fits into the send ring (and, after a reference, into
 * a free send queue chunk) and sends what the windows allow. Returns the bytes taken
 * (maybe 0), or -EPIPE after close / -ENOTCONN. */
ssize_t sl_tcp_send(struct sl_tcp_conn *c, const struct iovec *iov, unsigned cnt, int64_t now_ns);
/* Bytes sl_tcp_send would take now (send ring space; 0 when the send queue has no chunk
 * left for them). */
size_t sl_tcp_send_space(const struct sl_tcp_conn *c);
/* Queues len bytes at buf by reference, after everything queued before (zero-copy send):
 * buf must stay valid and unchanged until cb.tx_done(ref) (see struct sl_tcp_cb). Sends
 * what the windows allow. 0 (all of it queued), -EAGAIN (the send queue's 32 chunks are
 * used: wait for writable), -EINVAL (len 0, or more than 1 GiB queued), -EPIPE after close,
 * -ENOTCONN. tx_done is not called for a refused reference. */
int sl_tcp_send_ref(struct sl_tcp_conn *c, const void *buf, size_t len, void *ref,
                    int64_t now_ns) SL_MUST_CHECK;
/* Chunks left in the send queue (a reference takes one; copied bytes one per run). */
unsigned sl_tcp_send_refs_free(const struct sl_tcp_conn *c);
/* Sends FIN after the queued bytes; the user is done with c (see cb.closed). */
void sl_tcp_close(struct sl_tcp_conn *c, int64_t now_ns);
/* Sends RST and drops everything (held frames go back to the port); the user is done
 * with c. */
void sl_tcp_abort(struct sl_tcp_conn *c);

enum sl_tcp_state sl_tcp_state(const struct sl_tcp_conn *c);
void sl_tcp_set_user(struct sl_tcp_conn *c, void *user);
void *sl_tcp_user(const struct sl_tcp_conn *c);

/* Counters, for tests and stats. */
struct sl_net_stats {
	uint64_t rx_pkts, rx_drop, tx_pkts, tx_drop;
	uint64_t retrans, fast_retrans, rto_expired, syncookies_sent, syncookies_ok;
	uint64_t rst_sent, conns_active, challenge_acks, ooo_segs, paws_drops;
	uint64_t arp_req_sent, arp_learned, arp_failed, timers_fired;
	uint64_t sack_rexmits; /* holes retransmitted on SACK information */
	uint64_t tw_reopened;  /* TIME_WAIT connections a new SYN replaced (RFC 6191) */
	/* zero-copy receive: frames held now (all connections), payloads copied into a held
	 * frame's tailroom, frames dropped over a connection's budget, out-of-order frames
	 * given back to make room for earlier data */
	uint64_t rx_frames_held, rx_copied, rx_budget_drops, rx_evicted;
};
void sl_net_stats_get(const struct sl_net *n, struct sl_net_stats *out);

#ifdef __cplusplus
}
#endif

#endif
