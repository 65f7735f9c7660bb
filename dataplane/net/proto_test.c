/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proto_test.c: header parsing/building and checksums (proto.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "dataplane/net/net_fake.h"
#include "dataplane/net/pkt.h"
#include "dataplane/net/proto.h"

static const uint8_t mac_a[6] = {2, 0, 0, 0, 0, 0xa}, mac_b[6] = {2, 0, 0, 0, 0, 0xb};

static int
build(uint8_t *buf, size_t cap, const char *data, uint32_t ol)
{
	struct sl_tcp_seg_out s;
	struct iovec iov[2] = {{(void *)data, 3}, {(void *)(data + 3), strlen(data) - 3}};

	memset(&s, 0, sizeof(s));
	memcpy(s.src_mac, mac_a, 6);
	memcpy(s.dst_mac, mac_b, 6);
	s.src_ip = 0xc0a80001;
	s.dst_ip = 0xc0a80002;
	s.sport = 1234;
	s.dport = 9092;
	s.seq = 0xfffffff0u;
	s.ack = 42;
	s.flags = SL_TCP_SYN | SL_TCP_ACK;
	s.win = 5000;
	s.opts.has_mss = s.opts.has_ws = s.opts.has_ts = s.opts.sack_ok = true;
	s.opts.mss = 1460;
	s.opts.wscale = 9;
	s.opts.tsval = 7;
	s.opts.tsecr = 8;
	s.data = iov;
	s.ndata = 2;
	s.data_len = strlen(data);
	s.ol_flags = ol;
	return sl_tcp_build(buf, cap, &s);
}

static void
test_proto_inet_sum_rfc1071_example(void **state)
{
	/* RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
	static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

	(void)state;
	assert_int_equal(sl_inet_fold(sl_inet_sum(b, sizeof(b), 0)), 0xddf2);
	/* Odd length pads with a zero byte. */
	assert_int_equal(sl_inet_fold(sl_inet_sum(b, 1, 0)), 0x0000);
	assert_int_equal(sl_inet_fold(sl_inet_sum(b + 2, 1, 0)), 0xf200);
}

/* The RFC 1071 sum as 16-bit big-endian words, one at a time (the reference). */
static uint32_t
ref_inet_sum(const uint8_t *b, size_t len, uint32_t sum)
{
	uint64_t s = sum;

	for (; len >= 2; b += 2, len -= 2)
		s += (uint32_t)b[0] << 8 | b[1];
	if (len)
		s += (uint32_t)b[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

static void
test_proto_inet_sum_any_length_alignment_matches_reference(void **state)
{
	static uint8_t buf[1600];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned checked = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	for (size_t off = 0; off < 4; off++) {
		for (size_t len = 0; len + off <= sizeof(buf); len += len < 80 ? 1 : 97) {
			uint32_t in = (uint32_t)(x >> (len % 32)) & (len & 1 ? 0xffffffffu : 0x3ffffu);

			assert_int_equal(sl_inet_fold(sl_inet_sum(buf + off, len, in)),
			                 sl_inet_fold(ref_inet_sum(buf + off, len, in)));
			/* split in two pieces at an even point, as across mbuf segments */
			if (len >= 2) {
				size_t cut = (len / 2) & ~(size_t)1;
				uint32_t a = sl_inet_sum(buf + off, cut, in);

				assert_int_equal(
				        sl_inet_fold(sl_inet_sum(buf + off + cut, len - cut, a)),
				        sl_inet_fold(ref_inet_sum(buf + off, len, in)));
			}
			checked++;
		}
	}
	assert_true(checked > 300);
	/* all ones: every word 0xffff; the fold must say 0xffff, not 0 */
	memset(buf, 0xff, 1500);
	assert_int_equal(sl_inet_fold(sl_inet_sum(buf, 1500, 0)), 0xffff);
	assert_int_equal(sl_inet_fold(sl_inet_sum(buf, 1499, 0)),
	                 sl_inet_fold(ref_inet_sum(buf, 1499, 0)));
	memset(buf, 0, 64);
	assert_int_equal(sl_inet_fold(sl_inet_sum(buf, 64, 0)), 0);
}

static void
test_proto_tcp_build_parse_roundtrip(void **state)
{
	uint8_t buf[256];
	struct sl_net_hdrs h;
	int len;

	(void)state;
	len = build(buf, sizeof(buf), "hello world", 0);
	assert_int_equal(len, 14 + 20 + 20 + 24 + 11);
	assert_int_equal(sl_net_parse(buf, (size_t)len, false, &h), SL_NET_TCP);
	assert_int_equal(h.src_ip, 0xc0a80001);
	assert_int_equal(h.dport, 9092);
	assert_int_equal(h.seq, 0xfffffff0u);
	assert_int_equal(h.flags, SL_TCP_SYN | SL_TCP_ACK);
	assert_int_equal(h.win, 5000);
	assert_true(h.opts.has_mss && h.opts.has_ws && h.opts.has_ts && h.opts.sack_ok);
	assert_int_equal(h.opts.mss, 1460);
	assert_int_equal(h.opts.wscale, 9);
	assert_int_equal(h.opts.tsval, 7);
	assert_int_equal(h.opts.tsecr, 8);
	assert_int_equal(h.payload_len, 11);
	assert_memory_equal(h.payload, "hello world", 11);
	/* Ethernet padding after the datagram is allowed. */
	assert_int_equal(sl_net_parse(buf, (size_t)len + 6, false, &h), SL_NET_TCP);
	assert_int_equal(build(buf, 60, "hello world", 0), -ENOSPC);
}

static void
test_proto_corrupt_frames_rejected(void **state)
{
	uint8_t buf[256];
	struct sl_net_hdrs h;
	int len;

	(void)state;
	len = build(buf, sizeof(buf), "payload", 0);
	buf[len - 1] ^= 1; /* TCP checksum */
	assert_int_equal(sl_net_parse(buf, (size_t)len, false, &h), -EINVAL);
	/* ... unless the NIC checked it. */
	assert_int_equal(sl_net_parse(buf, (size_t)len, true, &h), SL_NET_TCP);
	buf[len - 1] ^= 1;
	buf[14 + 8] ^= 1; /* TTL: IPv4 header checksum */
	assert_int_equal(sl_net_parse(buf, (size_t)len, false, &h), -EINVAL);
	buf[14 + 8] ^= 1;
	/* Truncated in every header. */
	for (int cut = 0; cut < len; cut++)
		assert_int_equal(sl_net_parse(buf, (size_t)cut, true, &h), -EINVAL);
	/* A fragment. */
	sl_put_be16(buf + 14 + 6, 0x2000);
	assert_int_equal(sl_net_parse(buf, (size_t)len, true, &h), -EINVAL);
	sl_put_be16(buf + 14 + 6, 0x4000);
	/* Data offset below 5 words. */
	buf[14 + 20 + 12] = 0x40;
	assert_int_equal(sl_net_parse(buf, (size_t)len, true, &h), -EINVAL);
}

static void
test_proto_tcp_opts_malformed_rejected(void **state)
{
	static const uint8_t zero_len[] = {5, 0};
	static const uint8_t over[] = {2, 4, 5};
	static const uint8_t bad_mss[] = {2, 3, 1};
	static const uint8_t ok[] = {1, 1, 3, 3, 20, 0, 99};
	struct sl_tcp_opts o;

	(void)state;
	assert_int_equal(sl_tcp_opts_parse(zero_len, sizeof(zero_len), &o), -EINVAL);
	assert_int_equal(sl_tcp_opts_parse(over, sizeof(over), &o), -EINVAL);
	assert_int_equal(sl_tcp_opts_parse(bad_mss, sizeof(bad_mss), &o), -EINVAL);
	assert_int_equal(sl_tcp_opts_parse(ok, sizeof(ok), &o), 0);
	assert_true(o.has_ws);
	assert_int_equal(o.wscale, 14); /* RFC 7323: clamped */
}

static void
test_proto_offload_leaves_pseudo_sum(void **state)
{
	uint8_t buf[256];
	struct sl_net_hdrs h;
	int len;

	(void)state;
	len = build(buf, sizeof(buf), "abcdef", SL_PKT_TX_IP_CKSUM | SL_PKT_TX_TCP_CKSUM);
	assert_true(len > 0);
	assert_int_equal(sl_be16(buf + 14 + 10), 0);
	assert_int_equal(
	        sl_be16(buf + 14 + 20 + 16),
	        sl_inet_fold(sl_inet_pseudo(0xc0a80001, 0xc0a80002, 6, (uint16_t)(len - 34))));
	assert_int_equal(sl_net_parse(buf, (size_t)len, false, &h), -EINVAL);
}

static void
test_proto_icmp_echo_reply_valid(void **state)
{
	uint8_t req[128], rep[128];
	struct sl_net_hdrs h, r;
	uint8_t *ip = req + 14, *ic = ip + 20;
	int len;

	(void)state;
	memset(req, 0, sizeof(req));
	memcpy(req, mac_b, 6);
	memcpy(req + 6, mac_a, 6);
	sl_put_be16(req + 12, SL_ETHERTYPE_IPV4);
	ip[0] = 0x45;
	sl_put_be16(ip + 2, 20 + 16);
	ip[8] = 64;
	ip[9] = SL_IPPROTO_ICMP;
	sl_put_be32(ip + 12, 0x0a000002);
	sl_put_be32(ip + 16, 0x0a000001);
	sl_put_be16(ip + 10, (uint16_t)~sl_inet_fold(sl_inet_sum(ip, 20, 0)));
	ic[0] = 8;
	sl_put_be16(ic + 4, 0x1234);
	memcpy(ic + 8, "pingpong", 8);
	sl_put_be16(ic + 2, (uint16_t)~sl_inet_fold(sl_inet_sum(ic, 16, 0)));
	assert_int_equal(sl_net_parse(req, 14 + 36, false, &h), SL_NET_ICMP_ECHO);
	len = sl_icmp_build_echo_reply(rep, sizeof(rep), &h, mac_b);
	assert_int_equal(len, 14 + 36);
	/* A reply parses as a valid frame that is not an echo request. */
	assert_int_equal(sl_net_parse(rep, (size_t)len, false, &r), SL_NET_OTHER);
	assert_int_equal(r.src_ip, 0x0a000001);
	assert_int_equal(r.dst_ip, 0x0a000002);
	assert_int_equal(rep[14 + 20], 0);
	assert_memory_equal(rep + 14 + 20 + 8, "pingpong", 8);
}

static void
test_proto_sack_option_roundtrip_and_limits(void **state)
{
	static uint8_t frame[256];
	struct sl_tcp_seg_out s;
	struct sl_net_hdrs h;
	struct sl_tcp_opts o;
	/* kind 5 with 10 bytes: one block; 9 and 3 bytes are malformed. */
	static const uint8_t one[] = {5, 10, 0, 0, 0, 1, 0, 0, 0, 9};
	static const uint8_t bad9[] = {5, 9, 0, 0, 0, 1, 0, 0, 0};
	static const uint8_t bad3[] = {5, 3, 0, 1};
	int len;

	(void)state;
	memset(&s, 0, sizeof(s));
	memcpy(s.src_mac, mac_a, 6);
	memcpy(s.dst_mac, mac_b, 6);
	s.src_ip = 0xc0a80001;
	s.dst_ip = 0xc0a80002;
	s.flags = SL_TCP_ACK;
	s.opts.nsack = 4;
	for (unsigned i = 0; i < 4; i++) {
		s.opts.sack[i].start = 0xfffffff0u + 100 * i;
		s.opts.sack[i].end = 0xfffffff0u + 100 * i + 50;
	}
	len = sl_tcp_build(frame, sizeof(frame), &s);
	assert_int_equal(len, 14 + 20 + 20 + 36);
	assert_int_equal(sl_net_parse(frame, (size_t)len, false, &h), SL_NET_TCP);
	assert_int_equal(h.opts.nsack, 4);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(h.opts.sack[i].start, 0xfffffff0u + 100 * i);
		assert_int_equal(h.opts.sack[i].end, 0xfffffff0u + 100 * i + 50);
	}
	/* Four blocks and a timestamp need 48 option bytes: refused. */
	s.opts.has_ts = true;
	assert_int_equal(sl_tcp_build(frame, sizeof(frame), &s), -ENOSPC);
	s.opts.nsack = 3;
	len = sl_tcp_build(frame, sizeof(frame), &s);
	assert_int_equal(len, 14 + 20 + 20 + 40);
	assert_int_equal(sl_net_parse(frame, (size_t)len, false, &h), SL_NET_TCP);
	assert_int_equal(h.opts.nsack, 3);
	assert_true(h.opts.has_ts);
	assert_int_equal(sl_tcp_opts_parse(one, sizeof(one), &o), 0);
	assert_int_equal(o.nsack, 1);
	assert_int_equal(o.sack[0].start, 1);
	assert_int_equal(o.sack[0].end, 9);
	assert_int_equal(sl_tcp_opts_parse(bad9, sizeof(bad9), &o), -EINVAL);
	assert_int_equal(sl_tcp_opts_parse(bad3, sizeof(bad3), &o), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_proto_inet_sum_rfc1071_example),
	        cmocka_unit_test(test_proto_inet_sum_any_length_alignment_matches_reference),
	        cmocka_unit_test(test_proto_tcp_build_parse_roundtrip),
	        cmocka_unit_test(test_proto_corrupt_frames_rejected),
	        cmocka_unit_test(test_proto_tcp_opts_malformed_rejected),
	        cmocka_unit_test(test_proto_offload_leaves_pseudo_sum),
	        cmocka_unit_test(test_proto_icmp_echo_reply_valid),
	        cmocka_unit_test(test_proto_sack_option_roundtrip_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
