/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_fake.h: a scripted packet port for the net/ unit tests and the fuzzer: a fixed pool
 * of frames, a capture list of what the stack transmitted, and a builder for the peer's
 * segments. Test-only; single thread.
 */
#ifndef SL_DATAPLANE_NET_NET_FAKE_H
#define SL_DATAPLANE_NET_NET_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/net/pkt.h"
#include "dataplane/net/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FAKE_POOL 512
#define FAKE_FRAME 2048
#define FAKE_TXMAX 256

struct fake_net {
	struct sl_pkt pkts[FAKE_POOL];
	uint8_t bufs[FAKE_POOL][FAKE_FRAME];
	bool used[FAKE_POOL];
	unsigned nused;
	struct sl_pkt *tx[FAKE_TXMAX];
	unsigned ntx;
	unsigned alloc_fail; /* make this many allocations fail */
	struct sl_pkt_io io;
};

void fake_init(struct fake_net *f);
/* Frees every captured packet. */
void fake_tx_clear(struct fake_net *f);
/* Parses captured packet i; returns sl_net_parse's result. */
int fake_tx_parse(struct fake_net *f, unsigned i, struct sl_net_hdrs *h);
/* A packet holding a copy of frame. */
struct sl_pkt *fake_frame(struct fake_net *f, const void *frame, size_t len);

struct fake_peer {
	uint8_t mac[6], our_mac[6];
	uint32_t ip, our_ip;
	uint16_t port, our_port;
};

/* A TCP segment from the peer to the stack (opts may be NULL). */
struct sl_pkt *fake_tcp(struct fake_net *f, const struct fake_peer *p, uint8_t flags, uint32_t seq,
                        uint32_t ack, uint16_t win, const void *data, size_t len,
                        const struct sl_tcp_opts *opts);

#ifdef __cplusplus
}
#endif

#endif
