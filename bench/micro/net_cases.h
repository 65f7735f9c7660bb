/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_cases.h: userspace TCP/IPv4 stack cases (dataplane/net) for bench_net.cc, built in C.
 *
 * Each case owns one struct sl_net behind an in-memory struct sl_pkt_io (no EAL, no NIC):
 * a pre-faulted packet pool with a free stack, a tx_burst that notes what went out and
 * gives the frames straight back, and the peer's frames built once (sl_tcp_build) and
 * patched in place per run (sequence or acknowledgment number, checksum updated
 * incrementally, RFC 1624). The connection is opened by a real handshake (MSS 1460, window
 * scale 7, SACK and timestamps, as a Linux client offers), so data segments carry 1448
 * payload bytes at most. Time is virtual: it advances by the 10 Gb/s wire time of what a
 * run moves, so timers and instruction counts do not depend on the machine's speed.
 * A run allocates nothing outside the case. Single-threaded.
 */
#ifndef SL_BENCH_MICRO_NET_CASES_H
#define SL_BENCH_MICRO_NET_CASES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sl_bnet_kind {
	/* Receive: one sl_net_poll of 32 in-order data segments of arg bytes into an
	 * established connection (checksums verified, delayed ACK every second segment),
	 * then the application peeks and consumes everything (window updates). */
	SL_BNET_RX,
	/* Send: sl_tcp_send of arg KiB on an established connection (peer window 8 MiB),
	 * segmentation and checksums to tx_burst, then the peer's ACKs (one per two
	 * segments, in bursts of up to 32) until the send ring is empty again. */
	SL_BNET_TX,
	/* A burst of 32 pure ACKs (nothing in flight, nothing new acknowledged). */
	SL_BNET_ACK,
	/* sl_net_parse alone of one data frame of arg payload bytes (Ethernet/IPv4/TCP with
	 * the timestamp option), checksum verified. */
	SL_BNET_PARSE,
	/* The same without the checksum (SL_PKT_RX_CKSUM_OK: the NIC checked it). */
	SL_BNET_PARSE_NOCSUM,
};

/* Case flags. */
#define SL_BNET_F_ZC 1u      /* the stack's zero-copy receive mode (RX only) */
#define SL_BNET_F_OFFLOAD 2u /* NIC checksums: the peer's frames come marked
                              * SL_PKT_RX_CKSUM_OK and the stack leaves its checksums to
                              * the port (cfg.tx_csum_offload), as the DPDK port does when
                              * the NIC offers both */

struct sl_bnet_case;

/* Returns a new case, or NULL (bad kind or arg, no memory, handshake failed: a message
 * goes to stderr). arg: payload bytes (RX, PARSE: 1..1448), KiB to send (TX: 1..192),
 * unused (ACK). flags: SL_BNET_F_* (PARSE: unused, see PARSE_NOCSUM). */
struct sl_bnet_case *sl_bnet_case_create(enum sl_bnet_kind kind, int arg, unsigned flags);
void sl_bnet_case_destroy(struct sl_bnet_case *c);
/* Segments (RX: data segments received, TX: data segments sent, ACK: ACKs, PARSE:
 * frames) one run handles: always the same for a case. */
unsigned sl_bnet_case_batch(const struct sl_bnet_case *c);
/* Bytes one run moves: payload bytes (RX, TX), frame bytes (ACK, PARSE). */
size_t sl_bnet_case_bytes(const struct sl_bnet_case *c);
/* One run. Returns the segments it handled (== batch), or -errno when the stack did not do
 * what the case expects (-EPROTO: data not delivered or not acknowledged). */
long sl_bnet_case_run(struct sl_bnet_case *c);
/* Packets the stack transmitted per run so far, averaged (RX: ACKs and window updates;
 * TX: data segments). */
double sl_bnet_case_tx_per_run(const struct sl_bnet_case *c);

#ifdef __cplusplus
}
#endif

#endif
