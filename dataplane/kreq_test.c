// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for dataplane/kreq: framing over segment chains split at every byte, staging
 * of big or trickled frames, in-order responses to pipelined requests completed out of
 * order, requests without a response, bad framing, backpressure and closing with requests
 * in flight. A fake transport records what goes up and down.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/compiler.h"
#include "dataplane/kreq.h"

/* ---- fake transport ---- */

#define MAX_IDS 4096

struct fake {
	struct sl_kconn c;
	bool released[MAX_IDS];
	unsigned nreleased;
	uint8_t out[1 << 20];
	size_t out_len;
	bool tx_busy;
	size_t tx_len;
	unsigned ntx;
	int pause_calls, resume_calls;
	bool closed, freed;
	/* dispatcher */
	bool defer; /* leave requests running */
	struct sl_kreq *running[256];
	unsigned nrunning;
	unsigned ndispatched;
	int16_t seen_key[256];
	int32_t seen_corr[256];
	char seen_client[256][32];
	uint8_t seen_body[256][64];
	size_t seen_body_len[256];
	uint64_t max_held;
};

static void
f_release(struct sl_kconn *c, uint32_t id)
{
	struct fake *f = SL_CONTAINER_OF(c, struct fake, c);

	assert_true(id < MAX_IDS);
	assert_false(f->released[id]); /* exactly once */
	f->released[id] = true;
	f->nreleased++;
}

static void
f_tx(struct sl_kconn *c, struct iovec *iov, unsigned n, size_t len)
{
	struct fake *f = SL_CONTAINER_OF(c, struct fake, c);
	size_t got = 0;

	assert_false(f->tx_busy);
	for (unsigned i = 0; i < n; i++) {
		assert_true(f->out_len + iov[i].iov_len <= sizeof(f->out));
		memcpy(f->out + f->out_len, iov[i].iov_base, iov[i].iov_len);
		f->out_len += iov[i].iov_len;
		got += iov[i].iov_len;
	}
	assert_int_equal(got, len);
	f->tx_busy = true;
	f->tx_len = len;
	f->ntx++;
}

static void
f_pause(struct sl_kconn *c, bool pause)
{
	struct fake *f = SL_CONTAINER_OF(c, struct fake, c);

	if (pause)
		f->pause_calls++;
	else
		f->resume_calls++;
}

static void
f_close(struct sl_kconn *c)
{
	struct fake *f = SL_CONTAINER_OF(c, struct fake, c);

	f->closed = true;
}

static void
f_free(struct sl_kconn *c)
{
	struct fake *f = SL_CONTAINER_OF(c, struct fake, c);

	assert_false(f->freed);
	f->freed = true;
}

static const struct sl_xport_ops fake_ops = {
        .rx_release = f_release,
        .tx = f_tx,
        .rx_pause = f_pause,
        .close = f_close,
        .free = f_free,
};

/* Completes the send in flight, if any. Returns true if there was one. */
static bool
f_flush(struct fake *f)
{
	if (!f->tx_busy)
		return false;
	f->tx_busy = false;
	sl_kconn_tx_done(&f->c, (int)f->tx_len);
	return true;
}

static void
f_flush_all(struct fake *f)
{
	while (f_flush(f))
		;
}

/* Responds with: body bytes reversed, so the test can match request and response. */
static void
respond(struct sl_kreq *req)
{
	uint8_t body[64];
	size_t n = sl_crd_left(&req->rd);

	assert_true(n <= sizeof(body));
	sl_crd_copy(&req->rd, body, n);
	assert_int_equal(req->rd.err, 0);
	sl_kreq_resp_begin(req, false);
	for (size_t i = 0; i < n; i++)
		sl_wbuf_i8(&req->w, (int8_t)body[n - 1 - i]);
	sl_kreq_done(req);
}

static int
f_dispatch(struct sl_kreq *req, void *ctx)
{
	struct fake *f = ctx;
	unsigned i = f->ndispatched++;
	struct sl_crd peek;
	uint64_t held = f->c.seg_tail - f->c.seg_head;

	if (held > f->max_held)
		f->max_held = held;
	assert_true(i < 256);
	f->seen_key[i] = req->api_key;
	f->seen_corr[i] = req->correlation_id;
	if (req->client_id.len >= 0) {
		assert_true(req->client_id.len < 32);
		memcpy(f->seen_client[i], req->client_id.p, (size_t)req->client_id.len);
		f->seen_client[i][req->client_id.len] = 0;
	} else {
		strcpy(f->seen_client[i], "(null)");
	}
	peek = req->rd;
	f->seen_body_len[i] = sl_crd_left(&peek);
	if (f->seen_body_len[i] <= 64)
		sl_crd_copy(&peek, f->seen_body[i], f->seen_body_len[i]);
	if (req->api_key == 999)
		return -EPROTO;
	if (req->api_key == 1 && req->api_version == 0)
		req->no_response = true; /* like Produce acks=0 */
	if (f->defer) {
		f->running[f->nrunning++] = req;
		return 0;
	}
	if (req->no_response) {
		sl_kreq_done(req);
		return 0;
	}
	respond(req);
	return 0;
}

static struct sl_kconn_cfg fake_cfg = {
        .max_frame_bytes = 1 << 20,
        .tx_limit_bytes = 1 << 20,
        .arena_blk_bytes = 4096,
        .arena_max_bytes = 4 << 20,
        .stage_max_bytes = (1 << 20) + 4,
        .max_segs = MAX_IDS,
        .overlap_api_key = 1,
        .dispatch = f_dispatch,
};

static struct fake *
fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fake_cfg.ctx = f;
	assert_int_equal(sl_kconn_init(&f->c, &fake_ops, &fake_cfg, f, 1), 0);
	return f;
}

static void
fake_free(struct fake *f)
{
	sl_kconn_fini(&f->c);
	free(f);
}

/* Builds a request frame: size, key, version, corr, client_id, body. */
static size_t
frame(uint8_t *p, int16_t key, int16_t ver, int32_t corr, const char *client, const uint8_t *body,
      size_t blen)
{
	size_t n = 4;

	sl_put_be16(p + n, (uint16_t)key);
	n += 2;
	sl_put_be16(p + n, (uint16_t)ver);
	n += 2;
	sl_put_be32(p + n, (uint32_t)corr);
	n += 4;
	if (client) {
		sl_put_be16(p + n, (uint16_t)strlen(client));
		n += 2;
		memcpy(p + n, client, strlen(client));
		n += strlen(client);
	} else {
		sl_put_be16(p + n, 0xffff);
		n += 2;
	}
	if (blen)
		memcpy(p + n, body, blen);
	n += blen;
	sl_put_be32(p, (uint32_t)(n - 4));
	return n;
}

/* Three requests back to back. */
static size_t
stream3(uint8_t *p)
{
	static const uint8_t b1[] = {1, 2, 3};
	static const uint8_t b3[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0xaa, 0xbb};
	size_t n = 0;

	n += frame(p + n, 18, 3, 100, "rdkafka", b1, sizeof(b1));
	n += frame(p + n, 3, 1, 101, NULL, NULL, 0);
	n += frame(p + n, 1, 11, 102, "a-client-id-longer", b3, sizeof(b3));
	return n;
}

static void
check_stream3(struct fake *f)
{
	assert_int_equal(f->ndispatched, 3);
	assert_int_equal(f->seen_key[0], 18);
	assert_int_equal(f->seen_corr[0], 100);
	assert_string_equal(f->seen_client[0], "rdkafka");
	assert_int_equal(f->seen_body_len[0], 3);
	assert_int_equal(f->seen_body[0][2], 3);
	assert_int_equal(f->seen_key[1], 3);
	assert_string_equal(f->seen_client[1], "(null)");
	assert_int_equal(f->seen_body_len[1], 0);
	assert_int_equal(f->seen_corr[2], 102);
	assert_string_equal(f->seen_client[2], "a-client-id-longer");
	assert_int_equal(f->seen_body_len[2], 12);
	assert_int_equal(f->seen_body[2][11], 0xbb);
}

/* Delivers the stream cut at the given positions (sorted, within (0, n)). */
static void
deliver(struct fake *f, const uint8_t *p, size_t n, const size_t *cuts, unsigned ncuts,
        uint32_t *next_id)
{
	size_t at = 0;

	for (unsigned i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : n;
		struct sl_rxseg seg = {
		        .p = p + at, .len = (uint32_t)(end - at), .id = (*next_id)++};

		if (seg.len == 0) {
			(*next_id)--;
			continue;
		}
		sl_kconn_rx(&f->c, &seg);
		at = end;
	}
}

static void
test_kreq_frames_split_at_every_byte_decode_identically(void **state)
{
	uint8_t buf[256];
	size_t n = stream3(buf);

	(void)state;
	for (size_t a = 1; a < n; a++) {
		for (size_t b = a; b < n; b += 7) {
			size_t cuts[2] = {a, b};
			struct fake *f = fake_new();
			uint32_t id = 0;

			deliver(f, buf, n, cuts, 2, &id);
			check_stream3(f);
			f_flush_all(f);
			/* Every segment went back once, and the three responses are in order. */
			assert_int_equal(f->nreleased, id);
			assert_int_equal(f->out_len, 3 * 8 + 3 + 0 + 12);
			assert_int_equal(sl_be32(f->out + 4), 100);
			assert_int_equal(sl_be32(f->out + 11 + 4), 101);
			assert_int_equal(sl_be32(f->out + 19 + 4), 102);
			assert_true(sl_kconn_idle(&f->c));
			fake_free(f);
		}
	}
}

static void
test_kreq_one_byte_segments_are_staged_and_released(void **state)
{
	uint8_t buf[256];
	size_t n = stream3(buf);
	size_t cuts[256];
	struct fake *f = fake_new();
	uint32_t id = 0;

	(void)state;
	for (size_t i = 1; i < n; i++)
		cuts[i - 1] = i;
	deliver(f, buf, n, cuts, (unsigned)(n - 1), &id);
	check_stream3(f);
	/* Trickled bytes never pin more than the staging threshold of segments. */
	assert_true(f->max_held <= SL_KCONN_STAGE_SEGS + 1);
	f_flush_all(f);
	assert_int_equal(f->nreleased, id);
	assert_int_equal(f->pause_calls, 0);
	fake_free(f);
}

static void
test_kreq_big_frame_staged_body_intact(void **state)
{
	size_t blen = 200000, n;
	uint8_t *body = malloc(blen), *buf = malloc(blen + 64);
	struct fake *f = fake_new();
	uint32_t id = 0;
	size_t at = 0;

	(void)state;
	for (size_t i = 0; i < blen; i++)
		body[i] = (uint8_t)(i * 31 + 7);
	n = frame(buf, 0, 7, 5, "p", body, blen);
	/* 4 KiB segments: the frame spans ~49 of them, more than SL_KCONN_STAGE_SEGS_MAX. */
	f->defer = true;
	while (at < n) {
		struct sl_rxseg seg = {
		        .p = buf + at, .len = (uint32_t)SL_MIN((size_t)4096, n - at), .id = id++};

		sl_kconn_rx(&f->c, &seg);
		at += seg.len;
		assert_true(f->c.seg_tail - f->c.seg_head <= SL_KCONN_STAGE_SEGS_MAX + 1);
	}
	assert_int_equal(f->ndispatched, 1);
	assert_true(f->running[0]->staged);
	/* All segments went back before the handler finished: the frame is in stage. */
	assert_int_equal(f->nreleased, id);
	{
		struct sl_kreq *req = f->running[0];
		uint8_t *copy = malloc(blen);

		assert_int_equal(sl_crd_left(&req->rd), blen);
		sl_crd_copy(&req->rd, copy, blen);
		assert_memory_equal(copy, body, blen);
		free(copy);
		sl_kreq_resp_begin(req, false);
		sl_kreq_done(req);
	}
	f_flush_all(f);
	assert_false(f->c.stage_busy);
	assert_int_equal(f->out_len, 8);
	fake_free(f);
	free(body);
	free(buf);
}

static void
test_kreq_pipelined_responses_leave_in_request_order(void **state)
{
	uint8_t buf[4096];
	size_t n = 0;
	struct fake *f = fake_new();
	uint32_t id = 0;
	const unsigned cnt = 10;

	(void)state;
	for (unsigned i = 0; i < cnt; i++) {
		uint8_t body[1] = {(uint8_t)i};

		/* Request 4 has no response (acks=0 style: version 0). */
		n += frame(buf + n, 1, i == 4 ? 0 : 4, (int32_t)(1000 + i), "c", body, 1);
	}
	f->defer = true;
	deliver(f, buf, n, NULL, 0, &id);
	assert_int_equal(f->ndispatched, cnt);
	/* Complete them in reverse order: nothing may go out until the first is done. */
	for (unsigned i = cnt; i-- > 1;) {
		if (f->running[i]->no_response)
			sl_kreq_done(f->running[i]);
		else
			respond(f->running[i]);
		assert_int_equal(f->out_len, 0);
	}
	respond(f->running[0]);
	f_flush_all(f);
	assert_int_equal(f->out_len, (cnt - 1) * 9);
	for (unsigned i = 0, k = 0; i < cnt; i++) {
		if (i == 4)
			continue;
		assert_int_equal(sl_be32(f->out + k * 9), 5);
		assert_int_equal(sl_be32(f->out + k * 9 + 4), 1000 + i);
		assert_int_equal(f->out[k * 9 + 8], i);
		k++;
	}
	/* One send carried all of them. */
	assert_int_equal(f->ntx, 1);
	assert_true(sl_kconn_idle(&f->c));
	fake_free(f);
}

static void
test_kreq_depth_limit_holds_parsing_until_slots_free(void **state)
{
	uint8_t buf[8192];
	size_t n = 0;
	struct fake *f = fake_new();
	uint32_t id = 0;
	const unsigned cnt = SL_KCONN_DEPTH + 5;

	(void)state;
	for (unsigned i = 0; i < cnt; i++)
		n += frame(buf + n, 1, 1, (int32_t)i, "c", NULL, 0);
	f->defer = true;
	deliver(f, buf, n, NULL, 0, &id);
	assert_int_equal(f->ndispatched, SL_KCONN_DEPTH);
	f->defer = false;
	for (unsigned i = 0; i < SL_KCONN_DEPTH; i++)
		respond(f->running[i]);
	f_flush_all(f);
	assert_int_equal(f->ndispatched, cnt);
	assert_int_equal(f->out_len, cnt * 8);
	for (unsigned i = 0; i < cnt; i++)
		assert_int_equal(sl_be32(f->out + i * 8 + 4), i);
	assert_int_equal(f->nreleased, id);
	fake_free(f);
}

static void
test_kreq_other_requests_run_one_at_a_time(void **state)
{
	uint8_t buf[512];
	size_t n = 0;
	struct fake *f = fake_new();
	uint32_t id = 0;
	const int16_t keys[5] = {1, 1, 3, 1, 1};

	(void)state;
	/* Produce-like (key 1) requests overlap; a key-3 request waits until they are done,
	 * and the ones after it wait for it (so a fetch sees the appends before it). */
	for (unsigned i = 0; i < 5; i++)
		n += frame(buf + n, keys[i], 1, (int32_t)i, "c", NULL, 0);
	f->defer = true;
	deliver(f, buf, n, NULL, 0, &id);
	assert_int_equal(f->ndispatched, 2);
	respond(f->running[0]);
	assert_int_equal(f->ndispatched, 2);
	respond(f->running[1]);
	assert_int_equal(f->ndispatched, 3);
	assert_int_equal(f->seen_key[2], 3);
	respond(f->running[2]);
	assert_int_equal(f->ndispatched, 5);
	respond(f->running[3]);
	respond(f->running[4]);
	f_flush_all(f);
	assert_int_equal(f->out_len, 5 * 8);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(sl_be32(f->out + i * 8 + 4), i);
	fake_free(f);
}

static uint8_t ext_bytes[700][10];

static void
test_kreq_response_bigger_than_one_send_goes_out_in_pieces(void **state)
{
	uint8_t buf[256];
	size_t n = 0, off;
	struct fake *f = fake_new();
	uint32_t id = 0;

	(void)state;
	n += frame(buf + n, 1, 4, 1, "c", NULL, 0);
	n += frame(buf + n, 1, 4, 2, "c", NULL, 0);
	f->defer = true;
	deliver(f, buf, n, NULL, 0, &id);
	assert_int_equal(f->ndispatched, 2);
	/* 700 external pieces (as a fetch of 700 partitions), each its own iovec. */
	sl_kreq_resp_begin(f->running[0], false);
	for (unsigned i = 0; i < 700; i++) {
		memset(ext_bytes[i], (int)(i & 0xff), sizeof(ext_bytes[i]));
		sl_wbuf_ext(&f->running[0]->w, ext_bytes[i], sizeof(ext_bytes[i]));
		sl_wbuf_i8(&f->running[0]->w, (int8_t)i);
	}
	assert_true(f->running[0]->w.niov > 3 * SL_KCONN_TXIOV);
	sl_kreq_done(f->running[0]);
	respond(f->running[1]);
	f_flush_all(f);
	assert_true(f->ntx >= 6);
	assert_int_equal(f->out_len, 8 + 700 * 11 + 8);
	assert_int_equal(sl_be32(f->out), 4 + 700 * 11);
	assert_int_equal(sl_be32(f->out + 4), 1);
	off = 8;
	for (unsigned i = 0; i < 700; i++, off += 11) {
		assert_int_equal(f->out[off], i & 0xff);
		assert_int_equal(f->out[off + 9], i & 0xff);
		assert_int_equal(f->out[off + 10], (uint8_t)i);
	}
	assert_int_equal(sl_be32(f->out + off + 4), 2);
	assert_true(sl_kconn_idle(&f->c));
	fake_free(f);
}

static void
check_bad_prefix_closes(const uint8_t *p, size_t n)
{
	struct fake *f = fake_new();
	uint32_t id = 0;

	deliver(f, p, n, NULL, 0, &id);
	assert_true(f->closed);
	assert_int_equal(f->ndispatched, 0);
	sl_kconn_xport_gone(&f->c);
	assert_true(f->freed);
	assert_int_equal(f->nreleased, id);
	fake_free(f);
}

static void
test_kreq_bad_sizes_close_connection(void **state)
{
	uint8_t neg[8] = {0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0};
	uint8_t huge[8] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	uint8_t tiny[8] = {0, 0, 0, 3, 1, 2, 3, 4};
	uint8_t over[8];

	(void)state;
	sl_put_be32(over, (1 << 20) + 1);
	check_bad_prefix_closes(neg, sizeof(neg));
	check_bad_prefix_closes(huge, sizeof(huge));
	check_bad_prefix_closes(tiny, sizeof(tiny));
	check_bad_prefix_closes(over, 4);
}

static void
test_kreq_dispatch_refusal_closes_and_truncated_header_closes(void **state)
{
	uint8_t buf[64];
	size_t n = frame(buf, 999, 0, 1, "x", NULL, 0);
	struct fake *f = fake_new();
	uint32_t id = 0;

	(void)state;
	deliver(f, buf, n, NULL, 0, &id);
	assert_true(f->closed);
	sl_kconn_xport_gone(&f->c);
	assert_true(f->freed);
	fake_free(f);

	/* A client_id length that runs past the frame. */
	n = frame(buf, 3, 0, 1, "abc", NULL, 0);
	sl_put_be16(buf + 12, 50);
	f = fake_new();
	id = 0;
	deliver(f, buf, n, NULL, 0, &id);
	assert_true(f->closed);
	assert_int_equal(f->ndispatched, 0);
	sl_kconn_xport_gone(&f->c);
	assert_true(f->freed);
	fake_free(f);
}

static void
test_kreq_held_segments_pause_and_resume_rx(void **state)
{
	uint8_t buf[8192];
	size_t n = 0, at = 0;
	struct fake *f = fake_new();
	uint32_t id = 0;
	size_t cuts[512];
	unsigned ncuts = 0, k = 0;
	const unsigned cnt = SL_KCONN_DEPTH + 40;

	(void)state;
	/* DEPTH requests held by the handler, each in two segments, then more data that
	 * cannot be parsed yet: the connection must ask the transport to stop receiving. */
	for (unsigned i = 0; i < cnt; i++) {
		n += frame(buf + n, 1, 1, (int32_t)i, "c", NULL, 0);
		cuts[ncuts++] = n - 3;
		cuts[ncuts++] = n;
	}
	f->defer = true;
	while (!f->c.rx_paused && k < ncuts) {
		struct sl_rxseg seg = {.p = buf + at, .len = (uint32_t)(cuts[k] - at), .id = id++};

		sl_kconn_rx(&f->c, &seg);
		at = cuts[k++];
	}
	assert_int_equal(f->pause_calls, 1);
	assert_true(f->c.rx_paused);
	assert_false(f->closed);
	/* A few more arrive after the pause request (in flight in the transport). */
	for (unsigned j = 0; j < 4; j++) {
		struct sl_rxseg seg = {.p = buf + at, .len = (uint32_t)(cuts[k] - at), .id = id++};

		sl_kconn_rx(&f->c, &seg);
		at = cuts[k++];
	}
	assert_false(f->closed);
	f->defer = false;
	for (unsigned i = 0; i < SL_KCONN_DEPTH; i++)
		respond(f->running[i]);
	f_flush_all(f);
	assert_false(f->c.rx_paused);
	assert_int_equal(f->resume_calls, 1);
	while (k < ncuts) {
		struct sl_rxseg seg = {.p = buf + at, .len = (uint32_t)(cuts[k] - at), .id = id++};

		sl_kconn_rx(&f->c, &seg);
		at = cuts[k++];
		f_flush_all(f);
	}
	assert_int_equal(f->ndispatched, cnt);
	assert_int_equal(f->out_len, cnt * 8);
	assert_int_equal(f->nreleased, id);
	fake_free(f);
}

static void
test_kreq_close_with_requests_in_flight_frees_after_handlers(void **state)
{
	uint8_t buf[512];
	size_t n = 0;
	struct fake *f = fake_new();
	uint32_t id = 0;

	(void)state;
	for (unsigned i = 0; i < 3; i++)
		n += frame(buf + n, 1, 4, (int32_t)i, "c", NULL, 0);
	f->defer = true;
	deliver(f, buf, n, NULL, 0, &id);
	respond(f->running[0]); /* goes out */
	assert_true(f->tx_busy);
	sl_kconn_rx_end(&f->c, 0); /* peer gone */
	assert_true(f->closed);
	f_flush(f);
	sl_kconn_xport_gone(&f->c);
	assert_false(f->freed); /* two handlers still hold it */
	respond(f->running[1]);
	assert_false(f->freed);
	respond(f->running[2]);
	assert_true(f->freed);
	assert_int_equal(f->ntx, 1);
	assert_int_equal(f->nreleased, id);
	fake_free(f);
}

static void
test_kreq_stage_now_releases_incomplete_frame(void **state)
{
	uint8_t buf[512], body[60] = {1, 2, 3};
	size_t n = frame(buf, 3, 1, 77, "abc", body, sizeof(body));
	size_t cuts[3] = {2, 5, 30};
	struct fake *f = fake_new();
	uint32_t id = 0;

	(void)state;
	/* First three segments only: an incomplete frame. */
	deliver(f, buf, 40, cuts, 3, &id);
	assert_int_equal(f->nreleased, 0);
	sl_kconn_stage_now(&f->c);
	assert_int_equal(f->nreleased, id);
	{
		struct sl_rxseg seg = {.p = buf + 40, .len = (uint32_t)(n - 40), .id = id++};

		sl_kconn_rx(&f->c, &seg);
	}
	assert_int_equal(f->ndispatched, 1);
	assert_int_equal(f->seen_corr[0], 77);
	f_flush_all(f);
	assert_int_equal(f->nreleased, id);
	fake_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kreq_frames_split_at_every_byte_decode_identically),
	        cmocka_unit_test(test_kreq_one_byte_segments_are_staged_and_released),
	        cmocka_unit_test(test_kreq_big_frame_staged_body_intact),
	        cmocka_unit_test(test_kreq_pipelined_responses_leave_in_request_order),
	        cmocka_unit_test(test_kreq_depth_limit_holds_parsing_until_slots_free),
	        cmocka_unit_test(test_kreq_other_requests_run_one_at_a_time),
	        cmocka_unit_test(test_kreq_response_bigger_than_one_send_goes_out_in_pieces),
	        cmocka_unit_test(test_kreq_bad_sizes_close_connection),
	        cmocka_unit_test(test_kreq_dispatch_refusal_closes_and_truncated_header_closes),
	        cmocka_unit_test(test_kreq_held_segments_pause_and_resume_rx),
	        cmocka_unit_test(test_kreq_close_with_requests_in_flight_frees_after_handlers),
	        cmocka_unit_test(test_kreq_stage_now_releases_incomplete_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
