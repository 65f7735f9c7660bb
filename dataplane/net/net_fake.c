/* SPDX-License-Identifier: Apache-2.0 */
/*
 * net_fake.c: the scripted packet port of net_fake.h (tests and fuzzer only).
 */
#include "dataplane/net/net_fake.h"

#include <stdlib.h>
#include <string.h>

static struct sl_pkt *
fake_alloc(void *ctx)
{
	struct fake_net *f = ctx;

	if (f->alloc_fail) {
		f->alloc_fail--;
		return NULL;
	}
	for (unsigned i = 0; i < FAKE_POOL; i++) {
		if (!f->used[i]) {
			f->used[i] = true;
			f->nused++;
			f->pkts[i].data = f->bufs[i];
			f->pkts[i].len = 0;
			f->pkts[i].cap = FAKE_FRAME;
			f->pkts[i].ol_flags = 0;
			f->pkts[i].priv = NULL;
			return &f->pkts[i];
		}
	}
	return NULL;
}

static void
fake_free(void *ctx, struct sl_pkt *p)
{
	struct fake_net *f = ctx;
	size_t i = (size_t)(p - f->pkts);

	if (i >= FAKE_POOL || !f->used[i])
		abort(); /* a double free or a foreign packet */
	f->used[i] = false;
	f->nused--;
}

static unsigned
fake_tx_burst(void *ctx, struct sl_pkt **pkts, unsigned n)
{
	struct fake_net *f = ctx;
	unsigned i;

	for (i = 0; i < n && f->ntx < FAKE_TXMAX; i++)
		f->tx[f->ntx++] = pkts[i];
	return i;
}

void
fake_init(struct fake_net *f)
{
	memset(f, 0, sizeof(*f));
	f->io.alloc = fake_alloc;
	f->io.free = fake_free;
	f->io.tx_burst = fake_tx_burst;
	f->io.rx_burst = NULL;
	f->io.ctx = f;
}

void
fake_tx_clear(struct fake_net *f)
{
	for (unsigned i = 0; i < f->ntx; i++)
		fake_free(f, f->tx[i]);
	f->ntx = 0;
}

int
fake_tx_parse(struct fake_net *f, unsigned i, struct sl_net_hdrs *h)
{
	return sl_net_parse(f->tx[i]->data, f->tx[i]->len, false, h);
}

struct sl_pkt *
fake_frame(struct fake_net *f, const void *frame, size_t len)
{
	struct sl_pkt *p = fake_alloc(f);

	if (!p || len > p->cap)
		abort();
	memcpy(p->data, frame, len);
	p->len = (uint16_t)len;
	return p;
}

struct sl_pkt *
fake_tcp(struct fake_net *f, const struct fake_peer *pe, uint8_t flags, uint32_t seq, uint32_t ack,
         uint16_t win, const void *data, size_t len, const struct sl_tcp_opts *opts)
{
	struct sl_tcp_seg_out s;
	struct iovec iov = {(void *)(uintptr_t)data, len};
	struct sl_pkt *p = fake_alloc(f);
	int r;

	if (!p)
		abort();
	memset(&s, 0, sizeof(s));
	memcpy(s.src_mac, pe->mac, 6);
	memcpy(s.dst_mac, pe->our_mac, 6);
	s.src_ip = pe->ip;
	s.dst_ip = pe->our_ip;
	s.sport = pe->port;
	s.dport = pe->our_port;
	s.seq = seq;
	s.ack = ack;
	s.flags = flags;
	s.win = win;
	if (opts)
		s.opts = *opts;
	s.data = &iov;
	s.ndata = 1;
	s.data_len = len;
	r = sl_tcp_build(p->data, p->cap, &s);
	if (r < 0)
		abort();
	p->len = (uint16_t)r;
	return p;
}
