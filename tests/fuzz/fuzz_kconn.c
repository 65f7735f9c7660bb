// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_kconn.c: the transport-neutral request path (dataplane/kreq.c) on arbitrary byte
 * streams. An input is what a client would write on a connection: frames with their 4-byte
 * size prefixes, back to back (tests/fuzz/corpus/kconn/ holds real pipelined requests).
 *
 * The stream is delivered three ways: as one segment, cut into segments whose size is
 * derived from the input, and one byte per segment (short inputs only). The dispatcher
 * decodes every request it knows with the generated decoders (straight out of the segment
 * chain), answers half of them at once and the other half later in reverse order, and
 * refuses unknown API keys (the connection closes). Checks, besides "no crash, no leak, no
 * out-of-bounds access":
 *  - every receive segment is given back exactly once, and none is given back twice;
 *  - the responses leave in request order (their correlation ids are the requests' in
 *    arrival order) and each is framed with its true size;
 *  - a request decodes the same way whatever the segmentation.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/kbuf.h"
#include "common/kproto/api.h"
#include "dataplane/kreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

#define MAX_SEGS 4096
#define MAX_REQS 256
#define SCRATCH 65536

struct fz {
	struct sl_kconn c;
	uint8_t released[MAX_SEGS];
	uint32_t nseg;
	bool tx_busy;
	size_t tx_len;
	uint8_t *out;
	size_t out_len, out_cap;
	bool closed, freed;
	struct sl_kreq *deferred[MAX_REQS];
	unsigned ndeferred;
	int32_t corr_in[MAX_REQS]; /* correlation ids of requests that expect an answer */
	unsigned ncorr_in;
	int rc_seen[MAX_REQS]; /* decode results, in order */
	unsigned nrc;
	void *scratch;
};

static void
f_release(struct sl_kconn *c, uint32_t id)
{
	struct fz *f = SL_CONTAINER_OF(c, struct fz, c);

	CHECK(id < f->nseg);
	CHECK(!f->released[id]);
	f->released[id] = 1;
}

static void
f_tx(struct sl_kconn *c, struct iovec *iov, unsigned n, size_t len)
{
	struct fz *f = SL_CONTAINER_OF(c, struct fz, c);
	size_t got = 0;

	CHECK(!f->tx_busy);
	for (unsigned i = 0; i < n; i++)
		got += iov[i].iov_len;
	CHECK(got == len);
	if (f->out_len + len > f->out_cap) {
		size_t cap = (f->out_len + len) * 2;
		uint8_t *p = realloc(f->out, cap);

		CHECK(p);
		f->out = p;
		f->out_cap = cap;
	}
	for (unsigned i = 0; i < n; i++) {
		memcpy(f->out + f->out_len, iov[i].iov_base, iov[i].iov_len);
		f->out_len += iov[i].iov_len;
	}
	f->tx_busy = true;
	f->tx_len = len;
}

static void
f_pause(struct sl_kconn *c, bool pause)
{
	(void)c;
	(void)pause;
}

static void
f_close(struct sl_kconn *c)
{
	SL_CONTAINER_OF(c, struct fz, c)->closed = true;
}

static void
f_free(struct sl_kconn *c)
{
	struct fz *f = SL_CONTAINER_OF(c, struct fz, c);

	CHECK(!f->freed);
	f->freed = true;
}

static const struct sl_xport_ops fz_ops = {
        .rx_release = f_release,
        .tx = f_tx,
        .rx_pause = f_pause,
        .close = f_close,
        .free = f_free,
};

static void
answer(struct sl_kreq *req)
{
	sl_kreq_resp_begin(req, false);
	sl_wbuf_i16(&req->w, req->api_key);
	sl_wbuf_i16(&req->w, req->api_version);
	sl_kreq_done(req);
}

static int
fz_dispatch(struct sl_kreq *req, void *ctx)
{
	struct fz *f = ctx;
	size_t msz = sl_kproto_msg_size(req->api_key, false);
	int rc;

	if (!msz || !sl_kapi_find(req->api_key))
		return -ENOTSUP;
	CHECK(msz <= SCRATCH);
	if (sl_kapi_req_hdr_ver(req->api_key, req->api_version) >= 2)
		sl_crd_tags(&req->rd, NULL, NULL);
	rc = req->rd.err ? req->rd.err
	                 : sl_kproto_decode(&req->rd, req->api_key, false, req->api_version,
	                                    f->scratch);
	if (f->nrc < MAX_REQS)
		f->rc_seen[f->nrc++] = rc;
	if (rc == -ENOTSUP)
		return -ENOTSUP;
	if (f->ncorr_in < MAX_REQS)
		f->corr_in[f->ncorr_in++] = req->correlation_id;
	if ((req->correlation_id & 1) && f->ndeferred < MAX_REQS) {
		f->deferred[f->ndeferred++] = req;
		return 0;
	}
	answer(req);
	return 0;
}

static struct sl_kconn_cfg fz_cfg = {
        .max_frame_bytes = 1 << 20,
        .tx_limit_bytes = 1 << 20,
        .arena_blk_bytes = 4096,
        .arena_max_bytes = 16 << 20,
        .stage_max_bytes = (1 << 20) + 4,
        .max_segs = MAX_SEGS,
        .overlap_api_key = 0,
        .dispatch = fz_dispatch,
};

static void
flush(struct fz *f)
{
	while (f->tx_busy) {
		f->tx_busy = false;
		sl_kconn_tx_done(&f->c, (int)f->tx_len);
	}
}

static void
complete_deferred(struct fz *f)
{
	while (f->ndeferred) {
		struct sl_kreq *req = f->deferred[--f->ndeferred];

		answer(req);
	}
	flush(f);
}

/* Runs one delivery; fills rcs with the decode results seen. Returns how many. */
static unsigned
run(const uint8_t *data, size_t size, size_t seg, int *rcs)
{
	struct fz *f = calloc(1, sizeof(*f));
	size_t at = 0;
	unsigned nrc;

	CHECK(f);
	f->scratch = calloc(1, SCRATCH);
	CHECK(f->scratch);
	fz_cfg.ctx = f;
	CHECK(sl_kconn_init(&f->c, &fz_ops, &fz_cfg, f, 1) == 0);
	while (at < size && !f->closed) {
		size_t n = seg ? SL_MIN(seg, size - at) : size - at;
		struct sl_rxseg s = {.p = data + at, .len = (uint32_t)n, .id = f->nseg};

		if (f->nseg >= MAX_SEGS)
			break;
		f->nseg++;
		sl_kconn_rx(&f->c, &s);
		at += n;
		/* Now and then, let the deferred ones finish. */
		if ((at & 63) == 0)
			complete_deferred(f);
		flush(f);
	}
	complete_deferred(f);
	flush(f);
	/* Responses: well framed, correlation ids in request order. */
	{
		size_t off = 0;
		unsigned k = 0;

		while (off < f->out_len) {
			uint32_t len;

			CHECK(off + 8 <= f->out_len);
			len = sl_be32(f->out + off);
			CHECK(len >= 4 && off + 4 + len <= f->out_len);
			CHECK(k < f->ncorr_in);
			CHECK((int32_t)sl_be32(f->out + off + 4) == f->corr_in[k]);
			k++;
			off += 4 + len;
		}
		if (!f->closed)
			CHECK(k == f->ncorr_in);
	}
	sl_kconn_close(&f->c, 0);
	sl_kconn_xport_gone(&f->c);
	CHECK(f->freed);
	for (uint32_t i = 0; i < f->nseg; i++)
		CHECK(f->released[i]);
	nrc = f->nrc;
	memcpy(rcs, f->rc_seen, nrc * sizeof(int));
	sl_kconn_fini(&f->c);
	free(f->out);
	free(f->scratch);
	free(f);
	return nrc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int rc1[MAX_REQS], rc2[MAX_REQS], rc3[MAX_REQS];
	size_t seg = 1 + (size ? (size_t)(data[size / 2] ^ size) % 97 : 0);
	unsigned n1, n2, n3;

	if (size > (256 << 10))
		return 0;
	n1 = run(data, size, 0, rc1);
	n2 = run(data, size, seg, rc2);
	/* The same requests decode the same way, however the bytes were cut. A closed
	 * connection may stop early in one run (a frame refused mid-way), so compare the
	 * common prefix. */
	for (unsigned i = 0; i < SL_MIN(n1, n2); i++)
		CHECK(rc1[i] == rc2[i]);
	if (size <= 4096) {
		n3 = run(data, size, 1, rc3);
		for (unsigned i = 0; i < SL_MIN(n1, n3); i++)
			CHECK(rc1[i] == rc3[i]);
	}
	return 0;
}
