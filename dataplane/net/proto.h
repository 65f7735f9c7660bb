/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto.h: Ethernet II / ARP / IPv4 / ICMP echo / TCP header parsing and building, with
 * software checksums (RFC 1071). Pure functions over caller buffers: no allocation, no
 * state, any thread.
 *
 * Wire layouts (network byte order):
 *
 *   Ethernet  | dst mac 6 | src mac 6 | ethertype 2 |                    14 bytes
 *   ARP/IPv4  | htype 2 | ptype 2 | hlen 1 | plen 1 | op 2 | sha 6 | spa 4 | tha 6 | tpa 4 |
 *   IPv4      | ver/ihl | tos | total len 2 | id 2 | flags/frag 2 | ttl | proto | csum 2 |
 *             | src 4 | dst 4 | options (ihl*4 - 20) |
 *   ICMP echo | type | code | csum 2 | id 2 | seq 2 | data |
 *   TCP       | sport 2 | dport 2 | seq 4 | ack 4 | off<<4 | flags | win 2 | csum 2 | urp 2 |
 *             | options (off*4 - 20): EOL 0, NOP 1, MSS 2/4, WS 3/3, SACKOK 4/2, TS 8/10, |
 *             |   SACK 5/2+8n: n (1-4) blocks of | left edge 4 | right edge 4 | (RFC 2018) |
 *
 * The parser rejects (-EINVAL) what the stack must not act on: truncated headers, bad
 * lengths, IPv4 fragments and options beyond the header, bad checksums (unless the port
 * says the NIC checked them), malformed TCP options. Addresses are host-order uint32_t.
 */
#ifndef SL_DATAPLANE_NET_PROTO_H
#define SL_DATAPLANE_NET_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_ETH_HLEN 14
#define SL_ETHERTYPE_IPV4 0x0800
#define SL_ETHERTYPE_ARP 0x0806
#define SL_IPV4_HLEN 20
#define SL_IPPROTO_ICMP 1
#define SL_IPPROTO_TCP 6
#define SL_TCP_HLEN 20
#define SL_TCP_MAX_OPTLEN 40
#define SL_ARP_LEN 28

#define SL_TCP_FIN 0x01
#define SL_TCP_SYN 0x02
#define SL_TCP_RST 0x04
#define SL_TCP_PSH 0x08
#define SL_TCP_ACK 0x10
#define SL_TCP_URG 0x20

enum sl_net_kind {
	SL_NET_ARP = 1,
	SL_NET_ICMP_ECHO = 2, /* an echo request */
	SL_NET_TCP = 3,
	SL_NET_OTHER = 4, /* well formed, nothing for us (other ethertype/protocol/ICMP type) */
};

#define SL_TCP_SACK_MAX 4 /* blocks that fit in 40 option bytes: 2 + 8 * 4 */

struct sl_tcp_sack_blk {
	uint32_t start, end; /* [start, end) */
};

struct sl_tcp_opts {
	bool has_mss, has_ws, has_ts, sack_ok;
	uint16_t mss;
	uint8_t wscale;
	uint8_t nsack; /* SACK blocks (parsed, or to write after NOP NOP) */
	uint32_t tsval, tsecr;
	struct sl_tcp_sack_blk sack[SL_TCP_SACK_MAX];
};

struct sl_net_hdrs {
	uint8_t dst_mac[6], src_mac[6];
	uint16_t ethertype;
	/* ARP */
	uint16_t arp_op;
	uint8_t arp_sha[6];
	uint32_t arp_spa, arp_tpa;
	/* IPv4 */
	uint32_t src_ip, dst_ip;
	uint8_t ip_proto;
	/* ICMP echo: the ICMP message (header + data) */
	const uint8_t *icmp;
	uint16_t icmp_len;
	/* TCP */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	struct sl_tcp_opts opts;
	const uint8_t *payload;
	uint16_t payload_len;
};

/* Internet checksum helpers: partial sums over bytes, folded to 16 bits at the end. */
uint32_t sl_inet_sum(const void *p, size_t len, uint32_t sum);
uint16_t sl_inet_fold(uint32_t sum);
uint32_t sl_inet_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len);

/*
 * Parses one frame. csum_ok true skips checksum verification (NIC offload). Returns an
 * enum sl_net_kind, or -EINVAL for a frame to drop. h's pointers point into frame.
 */
int sl_net_parse(const uint8_t *frame, size_t len, bool csum_ok,
                 struct sl_net_hdrs *h) SL_MUST_CHECK;

/* Parses TCP options [p, p+len). 0 or -EINVAL. */
int sl_tcp_opts_parse(const uint8_t *p, size_t len, struct sl_tcp_opts *o) SL_MUST_CHECK;

/* What to put in one TCP segment. */
struct sl_tcp_seg_out {
	uint8_t src_mac[6], dst_mac[6];
	uint32_t src_ip, dst_ip;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	struct sl_tcp_opts opts;  /* has_* select the options written (SYN: mss/ws/sackok) */
	const struct iovec *data; /* payload pieces */
	unsigned ndata;
	size_t data_len;
	uint32_t ol_flags; /* SL_PKT_TX_*: leave those checksums to the NIC */
	uint16_t ip_id;
};

/* Writes an Ethernet+IPv4+TCP frame into buf; returns its length, or -ENOSPC (also when
 * the options exceed 40 bytes). */
int sl_tcp_build(uint8_t *buf, size_t cap, const struct sl_tcp_seg_out *s) SL_MUST_CHECK;

/* Writes an ARP reply to the request h (for our mac/ip) into buf; returns 42 or -ENOSPC. */
int sl_arp_build_reply(uint8_t *buf, size_t cap, const struct sl_net_hdrs *h, const uint8_t mac[6],
                       uint32_t ip) SL_MUST_CHECK;
/* Writes an ARP request for tpa. Returns 42 or -ENOSPC. */
int sl_arp_build_request(uint8_t *buf, size_t cap, const uint8_t mac[6], uint32_t ip,
                         uint32_t tpa) SL_MUST_CHECK;

/* Writes the echo reply to the echo request h into buf; returns its length or -ENOSPC. */
int sl_icmp_build_echo_reply(uint8_t *buf, size_t cap, const struct sl_net_hdrs *h,
                             const uint8_t mac[6]) SL_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
