// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_kreq.c: Kafka request decoding on arbitrary bytes. An input is one request frame
 * without its 4-byte size prefix (request header + body), the format of the captured corpus
 * in tests/fuzz/corpus/kreq/. Any api key and version: the header picks the decoder.
 *
 * Besides "no crash, no leak, no out-of-bounds access", it checks:
 *  - the frame decodes the same way contiguous and cut into small segments (the segment size
 *    is derived from the input, so the corpus stays plain frames): same result, and on
 *    success the same re-encoding, so the chain reader's straddling paths are fuzzed too;
 *  - a request that decodes re-encodes without error, and the re-encoding decodes again and
 *    re-encodes to the very same bytes (decode and encode agree on every version gate);
 *  - the body is also handed to the response decoder of the same api and version, so those
 *    decoders (used by tests and tools) see hostile input as well.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/kbuf.h"
#include "common/kproto/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static struct sl_arena arena;
static bool arena_ready;

struct decoded {
	int rc;
	struct sl_request_header h;
	void *msg;
	int resp_rc;
};

/* Decodes header + body from data cut into segments of seg bytes (0: one segment). */
static void
decode(const uint8_t *data, size_t size, size_t seg, struct decoded *d)
{
	struct iovec *iov;
	unsigned n = 1;
	struct sl_crd rd, rrd;
	size_t msz;

	memset(d, 0, sizeof(*d));
	d->rc = d->resp_rc = -ENOTSUP;
	if (seg && size)
		n = (unsigned)((size + seg - 1) / seg);
	else
		seg = size;
	iov = sl_arena_alloc(&arena, n * sizeof(*iov));
	CHECK(iov);
	for (unsigned i = 0; i < n; i++) {
		size_t off = (size_t)i * seg;

		iov[i].iov_base = (void *)(uintptr_t)(data + off);
		iov[i].iov_len = off + seg <= size ? seg : size - off;
	}
	sl_crd_init(&rd, iov, n, size, &arena);
	d->rc = sl_request_header_read(&rd, &d->h);
	if (d->rc)
		return;
	msz = sl_kproto_msg_size(d->h.request_api_key, false);
	if (!msz) {
		d->rc = -ENOTSUP;
		return;
	}
	rrd = rd;
	d->msg = sl_arena_alloc(&arena, msz);
	CHECK(d->msg);
	d->rc = sl_kproto_decode(&rd, d->h.request_api_key, false, d->h.request_api_version,
	                         d->msg);
	/* The same body through the response decoder: only "no crash" matters. */
	{
		void *resp = sl_arena_alloc(&arena, sl_kproto_msg_size(d->h.request_api_key, true));

		CHECK(resp);
		d->resp_rc = sl_kproto_decode(&rrd, d->h.request_api_key, true,
		                              d->h.request_api_version, resp);
	}
}

/* Encodes header + request; returns the flat bytes (arena) and their length. */
static uint8_t *
encode(const struct decoded *d, size_t *len)
{
	struct sl_wbuf w;
	uint8_t *out;
	int16_t key = d->h.request_api_key, ver = d->h.request_api_version;

	sl_wbuf_init(&w, &arena);
	CHECK(sl_request_header_encode(&w, sl_kapi_req_hdr_ver(key, ver), &d->h) == 0);
	CHECK(sl_kproto_encode(&w, key, false, ver, d->msg) == 0);
	out = sl_arena_alloc(&arena, w.len + 1);
	CHECK(out);
	CHECK(sl_wbuf_copyout(&w, out, w.len) == w.len);
	*len = w.len;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct decoded whole, cut, again;
	size_t seg = 1, n1, n2, n3;
	uint8_t *b1, *b2, *b3;

	if (!arena_ready) {
		CHECK(sl_arena_init(&arena, 64 * 1024, 64u << 20) == 0);
		arena_ready = true;
	}
	sl_arena_reset(&arena);
	for (size_t i = 0; i < size; i++)
		seg = seg * 31 + data[i];
	seg = 1 + seg % 7;

	decode(data, size, 0, &whole);
	decode(data, size, seg, &cut);
	CHECK(whole.rc == cut.rc);
	CHECK(whole.resp_rc == cut.resp_rc);
	if (whole.rc)
		return 0;

	b1 = encode(&whole, &n1);
	b2 = encode(&cut, &n2);
	CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
	/* The re-encoding is canonical: decoding it and encoding again changes nothing. */
	decode(b1, n1, 0, &again);
	CHECK(again.rc == 0);
	b3 = encode(&again, &n3);
	CHECK(n1 == n3 && memcmp(b1, b3, n1) == 0);
	return 0;
}
