/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto.c: header parsing and building for Ethernet, ARP, IPv4, ICMP echo and TCP
 * (layouts in proto.h). No allocation, no state; any thread.
 */
#include "dataplane/net/proto.h"

#include <errno.h>
#include <string.h>

#include "common/bytes.h"
#include "dataplane/net/pkt.h"

/*
 * A ones' complement sum does not depend on byte order (RFC 1071, 2(B)): on a little-endian
 * host, 32-bit native words are added into 64 bits (a loop the compiler vectorises; the
 * byte-at-a-time loop was ~2% of a busy DPDK shard), the total folded to 16 bits and
 * swapped to network order once. Same result modulo 0xffff as the big-endian 16-bit sum.
 */
uint32_t
sl_inet_sum(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;
	uint64_t s = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint32_t w;
	uint16_t h;

	for (; len >= 4; b += 4, len -= 4) {
		memcpy(&w, b, sizeof(w));
		s += w;
	}
	if (len >= 2) {
		memcpy(&h, b, sizeof(h));
		s += h;
		b += 2;
		len -= 2;
	}
	if (len)
		s += b[0]; /* the odd last byte is the high byte of a zero-padded word */
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	s = ((s & 0xff) << 8) | (s >> 8);
#else
	for (; len >= 2; b += 2, len -= 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (len)
		s += (uint32_t)b[0] << 8;
#endif
	s += sum;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t
sl_inet_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t
sl_inet_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	uint64_t s = (uint64_t)(src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto +
	             l4_len;

	return (uint32_t)((s & 0xffffffffu) + (s >> 32));
}

int
sl_tcp_opts_parse(const uint8_t *p, size_t len, struct sl_tcp_opts *o)
{
	size_t i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i], olen;

		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return -EINVAL;
		olen = p[i + 1];
		if (olen < 2 || i + olen > len)
			return -EINVAL;
		switch (kind) {
		case 2:
			if (olen != 4)
				return -EINVAL;
			o->has_mss = true;
			o->mss = sl_be16(p + i + 2);
			break;
		case 3:
			if (olen != 3)
				return -EINVAL;
			o->has_ws = true;
			/* RFC 7323 2.3: a shift above 14 is used as 14. */
			o->wscale = p[i + 2] > 14 ? 14 : p[i + 2];
			break;
		case 4:
			if (olen != 2)
				return -EINVAL;
			o->sack_ok = true;
			break;
		case 5:
			/* RFC 2018 3: 2 + 8n bytes; blocks beyond the 4 that fit are impossible. */
			if (olen < 10 || (olen - 2) % 8)
				return -EINVAL;
			o->nsack = (uint8_t)((olen - 2) / 8);
			for (unsigned b = 0; b < o->nsack; b++) {
				o->sack[b].start = sl_be32(p + i + 2 + 8 * b);
				o->sack[b].end = sl_be32(p + i + 6 + 8 * b);
			}
			break;
		case 8:
			if (olen != 10)
				return -EINVAL;
			o->has_ts = true;
			o->tsval = sl_be32(p + i + 2);
			o->tsecr = sl_be32(p + i + 6);
			break;
		default:
			break; /* unknown options are skipped (RFC 9293 3.1) */
		}
		i += olen;
	}
	return 0;
}

static int
parse_tcp(const uint8_t *l4, size_t l4_len, bool csum_ok, struct sl_net_hdrs *h)
{
	size_t off;

	if (l4_len < SL_TCP_HLEN)
		return -EINVAL;
	off = (size_t)(l4[12] >> 4) * 4;
	if (off < SL_TCP_HLEN || off > l4_len)
		return -EINVAL;
	if (!csum_ok) {
		uint32_t s = sl_inet_pseudo(h->src_ip, h->dst_ip, SL_IPPROTO_TCP, (uint16_t)l4_len);

		if (sl_inet_fold(sl_inet_sum(l4, l4_len, s)) != 0xffff)
			return -EINVAL;
	}
	h->sport = sl_be16(l4);
	h->dport = sl_be16(l4 + 2);
	h->seq = sl_be32(l4 + 4);
	h->ack = sl_be32(l4 + 8);
	h->flags = l4[13] & 0x3f;
	h->win = sl_be16(l4 + 14);
	if (sl_tcp_opts_parse(l4 + SL_TCP_HLEN, off - SL_TCP_HLEN, &h->opts) < 0)
		return -EINVAL;
	h->payload = l4 + off;
	h->payload_len = (uint16_t)(l4_len - off);
	return SL_NET_TCP;
}

int
sl_net_parse(const uint8_t *f, size_t len, bool csum_ok, struct sl_net_hdrs *h)
{
	const uint8_t *ip;
	size_t ihl, tot;

	memset(h, 0, sizeof(*h));
	if (len < SL_ETH_HLEN)
		return -EINVAL;
	memcpy(h->dst_mac, f, 6);
	memcpy(h->src_mac, f + 6, 6);
	h->ethertype = sl_be16(f + 12);
	if (h->ethertype == SL_ETHERTYPE_ARP) {
		const uint8_t *a = f + SL_ETH_HLEN;

		if (len < SL_ETH_HLEN + SL_ARP_LEN)
			return -EINVAL;
		/* Ethernet + IPv4 only. */
		if (sl_be16(a) != 1 || sl_be16(a + 2) != SL_ETHERTYPE_IPV4 || a[4] != 6 ||
		    a[5] != 4)
			return -EINVAL;
		h->arp_op = sl_be16(a + 6);
		if (h->arp_op != 1 && h->arp_op != 2)
			return -EINVAL;
		memcpy(h->arp_sha, a + 8, 6);
		h->arp_spa = sl_be32(a + 14);
		h->arp_tpa = sl_be32(a + 24);
		return SL_NET_ARP;
	}
	if (h->ethertype != SL_ETHERTYPE_IPV4)
		return SL_NET_OTHER;
	ip = f + SL_ETH_HLEN;
	if (len < SL_ETH_HLEN + SL_IPV4_HLEN || (ip[0] >> 4) != 4)
		return -EINVAL;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	tot = sl_be16(ip + 2);
	/* Frames may carry Ethernet padding past the IP datagram, never less. */
	if (ihl < SL_IPV4_HLEN || tot < ihl || SL_ETH_HLEN + tot > len)
		return -EINVAL;
	/* No reassembly: MF set or a fragment offset means a fragment. */
	if (sl_be16(ip + 6) & 0x3fff)
		return -EINVAL;
	if (!csum_ok && sl_inet_fold(sl_inet_sum(ip, ihl, 0)) != 0xffff)
		return -EINVAL;
	h->ip_proto = ip[9];
	h->src_ip = sl_be32(ip + 12);
	h->dst_ip = sl_be32(ip + 16);
	if (h->ip_proto == SL_IPPROTO_TCP)
		return parse_tcp(ip + ihl, tot - ihl, csum_ok, h);
	if (h->ip_proto == SL_IPPROTO_ICMP) {
		const uint8_t *ic = ip + ihl;
		size_t ilen = tot - ihl;

		if (ilen < 8)
			return -EINVAL;
		if (!csum_ok && sl_inet_fold(sl_inet_sum(ic, ilen, 0)) != 0xffff)
			return -EINVAL;
		if (ic[0] != 8 || ic[1] != 0)
			return SL_NET_OTHER;
		h->icmp = ic;
		h->icmp_len = (uint16_t)ilen;
		return SL_NET_ICMP_ECHO;
	}
	return SL_NET_OTHER;
}

static void
put_eth(uint8_t *b, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	sl_put_be16(b + 12, type);
}

static void
put_ipv4(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto, uint16_t tot, uint16_t id,
         bool offload)
{
	ip[0] = 0x45;
	ip[1] = 0;
	sl_put_be16(ip + 2, tot);
	sl_put_be16(ip + 4, id);
	sl_put_be16(ip + 6, 0x4000); /* DF: we size segments to the path MTU we know */
	ip[8] = 64;
	ip[9] = proto;
	sl_put_be16(ip + 10, 0);
	sl_put_be32(ip + 12, src);
	sl_put_be32(ip + 16, dst);
	if (!offload)
		sl_put_be16(ip + 10, (uint16_t)~sl_inet_fold(sl_inet_sum(ip, SL_IPV4_HLEN, 0)));
}

int
sl_tcp_build(uint8_t *buf, size_t cap, const struct sl_tcp_seg_out *s)
{
	uint8_t *ip = buf + SL_ETH_HLEN, *th = ip + SL_IPV4_HLEN, *o = th + SL_TCP_HLEN;
	size_t optlen = 0, l4_len, tot;
	uint32_t sum;

	if (s->opts.has_mss)
		optlen += 4;
	if (s->opts.has_ws)
		optlen += 4; /* NOP + WS */
	if (s->opts.has_ts)
		optlen += 12; /* NOP NOP TS */
	if (s->opts.sack_ok)
		optlen += 4; /* NOP NOP SACKOK */
	if (s->opts.nsack > SL_TCP_SACK_MAX)
		return -ENOSPC;
	if (s->opts.nsack)
		optlen += 4 + 8u * s->opts.nsack; /* NOP NOP SACK */
	if (optlen > SL_TCP_MAX_OPTLEN)
		return -ENOSPC;
	l4_len = SL_TCP_HLEN + optlen + s->data_len;
	tot = SL_IPV4_HLEN + l4_len;
	if (tot > 0xffff || SL_ETH_HLEN + tot > cap)
		return -ENOSPC;
	put_eth(buf, s->dst_mac, s->src_mac, SL_ETHERTYPE_IPV4);
	put_ipv4(ip, s->src_ip, s->dst_ip, SL_IPPROTO_TCP, (uint16_t)tot, s->ip_id,
	         s->ol_flags & SL_PKT_TX_IP_CKSUM);
	sl_put_be16(th, s->sport);
	sl_put_be16(th + 2, s->dport);
	sl_put_be32(th + 4, s->seq);
	sl_put_be32(th + 8, s->ack);
	th[12] = (uint8_t)(((SL_TCP_HLEN + optlen) / 4) << 4);
	th[13] = s->flags;
	sl_put_be16(th + 14, s->win);
	sl_put_be16(th + 16, 0);
	sl_put_be16(th + 18, 0);
	if (s->opts.has_mss) {
		o[0] = 2;
		o[1] = 4;
		sl_put_be16(o + 2, s->opts.mss);
		o += 4;
	}
	if (s->opts.has_ws) {
		o[0] = 1;
		o[1] = 3;
		o[2] = 3;
		o[3] = s->opts.wscale;
		o += 4;
	}
	if (s->opts.has_ts) {
		o[0] = 1;
		o[1] = 1;
		o[2] = 8;
		o[3] = 10;
		sl_put_be32(o + 4, s->opts.tsval);
		sl_put_be32(o + 8, s->opts.tsecr);
		o += 12;
	}
	if (s->opts.sack_ok) {
		o[0] = 1;
		o[1] = 1;
		o[2] = 4;
		o[3] = 2;
		o += 4;
	}
	if (s->opts.nsack) {
		o[0] = 1;
		o[1] = 1;
		o[2] = 5;
		o[3] = (uint8_t)(2 + 8 * s->opts.nsack);
		o += 4;
		for (unsigned b = 0; b < s->opts.nsack; b++) {
			sl_put_be32(o, s->opts.sack[b].start);
			sl_put_be32(o + 4, s->opts.sack[b].end);
			o += 8;
		}
	}
	for (unsigned i = 0; i < s->ndata; i++) {
		if (s->data[i].iov_len)
			memcpy(o, s->data[i].iov_base, s->data[i].iov_len);
		o += s->data[i].iov_len;
	}
	sum = sl_inet_pseudo(s->src_ip, s->dst_ip, SL_IPPROTO_TCP, (uint16_t)l4_len);
	if (s->ol_flags & SL_PKT_TX_TCP_CKSUM)
		sl_put_be16(th + 16, sl_inet_fold(sum));
	else
		sl_put_be16(th + 16, (uint16_t)~sl_inet_fold(sl_inet_sum(th, l4_len, sum)));
	return (int)(SL_ETH_HLEN + tot);
}

static int
arp_build(uint8_t *buf, size_t cap, uint16_t op, const uint8_t eth_dst[6], const uint8_t sha[6],
          uint32_t spa, const uint8_t tha[6], uint32_t tpa)
{
	uint8_t *a = buf + SL_ETH_HLEN;

	if (cap < SL_ETH_HLEN + SL_ARP_LEN)
		return -ENOSPC;
	put_eth(buf, eth_dst, sha, SL_ETHERTYPE_ARP);
	sl_put_be16(a, 1);
	sl_put_be16(a + 2, SL_ETHERTYPE_IPV4);
	a[4] = 6;
	a[5] = 4;
	sl_put_be16(a + 6, op);
	memcpy(a + 8, sha, 6);
	sl_put_be32(a + 14, spa);
	memcpy(a + 18, tha, 6);
	sl_put_be32(a + 24, tpa);
	return SL_ETH_HLEN + SL_ARP_LEN;
}

int
sl_arp_build_reply(uint8_t *buf, size_t cap, const struct sl_net_hdrs *h, const uint8_t mac[6],
                   uint32_t ip)
{
	return arp_build(buf, cap, 2, h->arp_sha, mac, ip, h->arp_sha, h->arp_spa);
}

int
sl_arp_build_request(uint8_t *buf, size_t cap, const uint8_t mac[6], uint32_t ip, uint32_t tpa)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t zero[6];

	return arp_build(buf, cap, 1, bcast, mac, ip, zero, tpa);
}

int
sl_icmp_build_echo_reply(uint8_t *buf, size_t cap, const struct sl_net_hdrs *h,
                         const uint8_t mac[6])
{
	size_t tot = SL_IPV4_HLEN + h->icmp_len;
	uint8_t *ic = buf + SL_ETH_HLEN + SL_IPV4_HLEN;

	if (SL_ETH_HLEN + tot > cap)
		return -ENOSPC;
	put_eth(buf, h->src_mac, mac, SL_ETHERTYPE_IPV4);
	put_ipv4(buf + SL_ETH_HLEN, h->dst_ip, h->src_ip, SL_IPPROTO_ICMP, (uint16_t)tot, 0, false);
	memcpy(ic, h->icmp, h->icmp_len);
	ic[0] = 0; /* echo reply */
	sl_put_be16(ic + 2, 0);
	sl_put_be16(ic + 2, (uint16_t)~sl_inet_fold(sl_inet_sum(ic, h->icmp_len, 0)));
	return (int)(SL_ETH_HLEN + tot);
}
