// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the generated Kafka codecs (common/kproto/, tools/codegen/kgen.py):
 *  - every request and response of every API, at every version the codecs implement, round
 *    trips with non-default values (fill -> encode -> decode -> compare -> re-encode, same
 *    bytes), also when the input is split into two segments at every byte position;
 *  - golden bytes checked by hand against the protocol (and one captured from librdkafka);
 *  - flexible encodings: compact forms, tagged fields known and unknown;
 *  - malformed input (every truncation, lying lengths and counts, random corruption) returns
 *    an error and never crashes (this file also runs under ASan/UBSan).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/compiler.h"
#include "common/kbuf.h"
#include "common/kproto/api.h"
#include "common/kproto/api_versions.h"
#include "common/kproto/create_topics.h"
#include "common/kproto/fetch.h"
#include "common/kproto/metadata.h"
#include "common/kproto/produce.h"
#include "common/kproto/testgen.h"

#define ARENA_BLK (256u * 1024)
#define ARENA_MAX (64u * 1024 * 1024)

static struct sl_arena arena;

static int
setup(void **state)
{
	(void)state;
	return sl_arena_init(&arena, ARENA_BLK, ARENA_MAX);
}

static int
teardown(void **state)
{
	(void)state;
	sl_arena_fini(&arena);
	return 0;
}

/* Encodes msg and returns the bytes flattened into the arena. */
static uint8_t *
encode(int16_t key, bool resp, int16_t v, const void *msg, size_t *len)
{
	struct sl_wbuf w;
	uint8_t *out;

	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_kproto_encode(&w, key, resp, v, msg), 0);
	assert_int_equal(w.err, 0);
	out = sl_arena_alloc(&arena, w.len + 1);
	assert_non_null(out);
	assert_int_equal(sl_wbuf_copyout(&w, out, w.len), w.len);
	*len = w.len;
	return out;
}

static void *
new_msg(int16_t key, bool resp)
{
	size_t sz = sl_kproto_msg_size(key, resp);
	void *m;

	assert_true(sz > 0);
	m = sl_arena_zalloc(&arena, sz);
	assert_non_null(m);
	return m;
}

/* Decodes buf split into two segments at cut; returns the decode result. */
static int
decode_split(int16_t key, bool resp, int16_t v, const uint8_t *buf, size_t len, size_t cut,
             void *out, size_t *left)
{
	struct iovec iov[2] = {{(void *)(uintptr_t)buf, cut},
	                       {(void *)(uintptr_t)(buf + cut), len - cut}};
	struct sl_crd rd;
	int rc;

	sl_crd_init(&rd, iov, 2, len, &arena);
	rc = sl_kproto_decode(&rd, key, resp, v, out);
	if (left)
		*left = sl_crd_left(&rd);
	return rc;
}

static void
report(const struct sl_kapi *api, bool resp, int16_t v, uint64_t seed, const char *what)
{
	fail_msg("%s %s v%d seed %llu: %s", api->name, resp ? "response" : "request", v,
	         (unsigned long long)seed, what);
}

/* One message at one version: fill, encode, decode, compare, re-encode. Returns the
 * encoding (in the arena) for further checks. */
static uint8_t *
roundtrip_one(const struct sl_kapi *api, bool resp, int16_t v, uint64_t seed, size_t *len,
              void **filled)
{
	void *m = new_msg(api->key, resp), *d = new_msg(api->key, resp);
	uint64_t s = seed;
	uint8_t *b1, *b2;
	size_t n1, n2, left;

	assert_int_equal(sl_kptest_fill(api->key, resp, v, m, &arena, &s), 0);
	b1 = encode(api->key, resp, v, m, &n1);
	if (decode_split(api->key, resp, v, b1, n1, n1, d, &left) != 0)
		report(api, resp, v, seed, "decode failed");
	if (left != 0)
		report(api, resp, v, seed, "decode left bytes");
	if (!sl_kptest_eq(api->key, resp, v, m, d))
		report(api, resp, v, seed, "decoded message differs");
	b2 = encode(api->key, resp, v, d, &n2);
	if (n1 != n2 || memcmp(b1, b2, n1) != 0)
		report(api, resp, v, seed, "re-encoding differs");
	*len = n1;
	if (filled)
		*filled = m;
	return b1;
}

static void
test_kproto_every_message_every_version_roundtrips(void **state)
{
	unsigned cases = 0;

	(void)state;
	for (unsigned i = 0; i < sl_kapi_cnt; i++) {
		const struct sl_kapi *api = &sl_kapi_tab[i];

		for (int resp = 0; resp < 2; resp++) {
			for (int16_t v = api->min_ver; v <= api->max_ver; v++) {
				for (uint64_t seed = 1; seed <= 24; seed++) {
					size_t len;

					sl_arena_reset(&arena);
					roundtrip_one(api, resp, v, seed * 0x9E3779B97F4A7C15ull,
					              &len, NULL);
					cases++;
				}
			}
		}
	}
	/* All 26 APIs + both directions really ran. */
	assert_int_equal(sl_kapi_cnt, 26);
	assert_true(cases > 26 * 2 * 24);
}

static void
test_kproto_split_at_every_byte_decodes_identically(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sl_kapi_cnt; i++) {
		const struct sl_kapi *api = &sl_kapi_tab[i];

		for (int resp = 0; resp < 2; resp++) {
			for (int16_t v = api->min_ver; v <= api->max_ver; v++) {
				size_t len, left;
				void *m, *d;
				uint8_t *b;

				sl_arena_reset(&arena);
				b = roundtrip_one(api, resp, v, 77 + v, &len, &m);
				d = new_msg(api->key, resp);
				for (size_t cut = 0; cut <= len; cut++) {
					if (decode_split(api->key, resp, v, b, len, cut, d, &left))
						report(api, resp, v, 77 + v, "split decode failed");
					if (left || !sl_kptest_eq(api->key, resp, v, m, d))
						report(api, resp, v, 77 + v,
						       "split decode differs");
				}
			}
		}
	}
}

static void
test_kproto_every_truncation_fails_cleanly(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sl_kapi_cnt; i++) {
		const struct sl_kapi *api = &sl_kapi_tab[i];

		for (int resp = 0; resp < 2; resp++) {
			for (int16_t v = api->min_ver; v <= api->max_ver; v++) {
				size_t len;
				void *d;
				uint8_t *b;

				sl_arena_reset(&arena);
				b = roundtrip_one(api, resp, v, 5 + v, &len, NULL);
				d = new_msg(api->key, resp);
				for (size_t cut = 0; cut < len; cut++) {
					/* Exactly cut bytes readable, split in the middle. */
					struct iovec iov[2] = {{b, cut / 2},
					                       {b + cut / 2, cut - cut / 2}};
					struct sl_crd rd;

					sl_crd_init(&rd, iov, 2, cut, &arena);
					if (sl_kproto_decode(&rd, api->key, resp, v, d) != -EBADMSG)
						report(api, resp, v, 5 + v,
						       "truncated input decoded");
				}
			}
		}
	}
}

static void
test_kproto_random_corruption_never_crashes(void **state)
{
	uint64_t rng = 0x1234567;
	unsigned ok = 0, bad = 0;

	(void)state;
	for (unsigned i = 0; i < sl_kapi_cnt; i++) {
		const struct sl_kapi *api = &sl_kapi_tab[i];

		for (int resp = 0; resp < 2; resp++) {
			for (int16_t v = api->min_ver; v <= api->max_ver; v++) {
				size_t len;
				uint8_t *b, *c;

				sl_arena_reset(&arena);
				b = roundtrip_one(api, resp, v, 99 + v, &len, NULL);
				if (len == 0)
					continue;
				c = sl_arena_alloc(&arena, len);
				assert_non_null(c);
				for (int k = 0; k < 60; k++) {
					void *d = new_msg(api->key, resp);
					struct sl_wbuf w;

					memcpy(c, b, len);
					for (int f = 0; f < 1 + k % 3; f++) {
						rng = rng * 6364136223846793005ull +
						      1442695040888963407ull;
						c[(rng >> 33) % len] ^=
						        (uint8_t)(1u << ((rng >> 20) & 7));
						if (k % 5 == 0)
							c[(rng >> 40) % len] = 0xff;
					}
					if (decode_split(api->key, resp, v, c, len,
					                 (rng >> 13) % (len + 1), d, NULL) == 0) {
						/* Whatever decoded must encode again. */
						sl_wbuf_init(&w, &arena);
						assert_int_equal(
						        sl_kproto_encode(&w, api->key, resp, v, d),
						        0);
						ok++;
					} else {
						bad++;
					}
				}
			}
		}
	}
	/* Both outcomes happened, so the mutations did reach the decoders. */
	assert_true(ok > 0);
	assert_true(bad > 0);
}

/* ---- encoders against an independent encoding of the upstream schemas ---- */

struct shape {
	int16_t key;
	int16_t resp;
	int16_t version;
	uint32_t len;
	uint64_t fnv;
};

/* Computed from the upstream JSON schemas by tools/codegen/kp_import.py --shapes. */
static const struct shape shapes[] = {
#include "common/kproto/shapes.inc"
};

static void
test_kproto_encoders_match_independent_schema_encoding(void **state)
{
	unsigned checked = 0;

	(void)state;
	for (size_t i = 0; i < SL_ARRAY_SIZE(shapes); i++) {
		const struct shape *s = &shapes[i];
		const struct sl_kapi *api = sl_kapi_find(s->key);
		void *m, *d;
		uint8_t *b;
		size_t len, left;

		assert_non_null(api);
		if (s->version < api->min_ver || s->version > api->max_ver)
			continue; /* the .kp narrows the range: not implemented */
		sl_arena_reset(&arena);
		m = new_msg(s->key, s->resp);
		assert_int_equal(sl_kptest_shape(s->key, s->resp, m, &arena), 0);
		b = encode(s->key, s->resp, s->version, m, &len);
		if (len != s->len || sl_kptest_fnv(b, len, 0xcbf29ce484222325ull) != s->fnv)
			fail_msg("%s %s v%d: encoding differs from the schema's (%zu vs %u bytes)",
			         api->name, s->resp ? "response" : "request", s->version, len,
			         s->len);
		/* And the decoder reads exactly those bytes back. */
		d = new_msg(s->key, s->resp);
		assert_int_equal(
		        decode_split(s->key, s->resp, s->version, b, len, len / 2, d, &left), 0);
		assert_int_equal(left, 0);
		assert_true(sl_kptest_eq(s->key, s->resp, s->version, m, d));
		checked++;
	}
	/* Every implemented version of every API, both directions. */
	{
		unsigned want = 0;

		for (unsigned i = 0; i < sl_kapi_cnt; i++)
			want += 2u *
			        (unsigned)(sl_kapi_tab[i].max_ver - sl_kapi_tab[i].min_ver + 1);
		assert_int_equal(checked, want);
	}
}

/* ---- golden bytes ---- */

/* The ApiVersions v3 request librdkafka 2.0.2 (kcat 1.7.1) sends first, captured on the
 * wire: size, header v2 (key 18, version 3, correlation id 1, client id "rdkafka" as an
 * int16 string, empty tags), body (compact strings, empty tags). */
static const uint8_t rdkafka_api_versions_v3[] = {
        0x00, 0x00, 0x00, 0x24, 0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07,
        'r',  'd',  'k',  'a',  'f',  'k',  'a',  0x00, 0x0b, 'l',  'i',  'b',  'r',  'd',
        'k',  'a',  'f',  'k',  'a',  0x06, '2',  '.',  '0',  '.',  '2',  0x00,
};

static void
test_kproto_golden_api_versions_v3_request_from_librdkafka(void **state)
{
	const uint8_t *frame = rdkafka_api_versions_v3 + 4;
	size_t len = sizeof(rdkafka_api_versions_v3) - 4;
	struct sl_request_header h;
	struct sl_api_versions_req req;
	struct sl_crd rd;
	struct iovec iov;
	struct sl_wbuf w;
	uint8_t out[64];

	(void)state;
	sl_arena_reset(&arena);
	assert_int_equal(sl_be32(rdkafka_api_versions_v3), len);
	sl_crd_init_buf(&rd, &iov, frame, len, &arena);
	assert_int_equal(sl_request_header_read(&rd, &h), 0);
	assert_int_equal(h.request_api_key, SL_API_API_VERSIONS);
	assert_int_equal(h.request_api_version, 3);
	assert_int_equal(h.correlation_id, 1);
	assert_int_equal(h.client_id.len, 7);
	assert_memory_equal(h.client_id.p, "rdkafka", 7);
	assert_int_equal(sl_api_versions_req_decode(&rd, 3, &req), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
	assert_int_equal(req.client_software_name.len, 10);
	assert_memory_equal(req.client_software_name.p, "librdkafka", 10);
	assert_int_equal(req.client_software_version.len, 5);
	assert_memory_equal(req.client_software_version.p, "2.0.2", 5);

	/* And the encoders produce the same bytes. */
	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_request_header_encode(&w, sl_kapi_req_hdr_ver(18, 3), &h), 0);
	assert_int_equal(sl_api_versions_req_encode(&w, 3, &req), 0);
	assert_int_equal(w.len, len);
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_memory_equal(out, frame, len);
}

/* ApiVersions v3 response: header v0 (no tags, KIP-511), compact array, a tagged field. */
static const uint8_t api_versions_v3_resp[] = {
        0x00, 0x00, 0x00, 0x01,                         /* correlation id; header v0 */
        0x00, 0x00,                                     /* error_code */
        0x03,                                           /* api_keys: compact, 2 entries */
        0x00, 0x00, 0x00, 0x03, 0x00, 0x07, 0x00,       /* Produce 3-7, no tags */
        0x00, 0x12, 0x00, 0x00, 0x00, 0x03, 0x00,       /* ApiVersions 0-3, no tags */
        0x00, 0x00, 0x00, 0x00,                         /* throttle_time_ms */
        0x01,                                           /* one tagged field */
        0x01, 0x08,                                     /* tag 1 (finalized epoch), size 8 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* int64 5 */
};

static void
test_kproto_golden_api_versions_v3_response_flexible(void **state)
{
	struct sl_api_versions_resp r, d;
	struct sl_api_versions_resp_api_version k[2];
	struct sl_wbuf w;
	struct sl_crd rd;
	struct iovec iov;
	uint8_t out[128];

	(void)state;
	sl_arena_reset(&arena);
	sl_api_versions_resp_init(&r);
	assert_true(r.finalized_features_epoch == -1); /* default from the definition */
	for (int i = 0; i < 2; i++)
		sl_api_versions_resp_api_version_init(&k[i]);
	k[0].api_key = 0;
	k[0].min_version = 3;
	k[0].max_version = 7;
	k[1].api_key = 18;
	k[1].min_version = 0;
	k[1].max_version = 3;
	r.api_keys = k;
	r.api_keys_cnt = 2;
	r.finalized_features_epoch = 5;
	sl_wbuf_init(&w, &arena);
	sl_response_header_write(&w, SL_API_API_VERSIONS, 3, 1);
	assert_int_equal(sl_api_versions_resp_encode(&w, 3, &r), 0);
	assert_int_equal(w.len, sizeof(api_versions_v3_resp));
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_memory_equal(out, api_versions_v3_resp, sizeof(api_versions_v3_resp));

	sl_crd_init_buf(&rd, &iov, api_versions_v3_resp + 4, sizeof(api_versions_v3_resp) - 4,
	                &arena);
	assert_int_equal(sl_api_versions_resp_decode(&rd, 3, &d), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
	assert_int_equal(d.api_keys_cnt, 2);
	assert_int_equal(d.api_keys[1].api_key, 18);
	assert_int_equal(d.api_keys[1].max_version, 3);
	assert_true(d.finalized_features_epoch == 5);
	assert_int_equal(d.supported_features_cnt, 0);
	assert_false(d.zk_migration_ready);
}

static void
test_kproto_golden_api_versions_v0_response_no_throttle(void **state)
{
	static const uint8_t want[] = {
	        0x00, 0x23,                         /* error_code 35 */
	        0x00, 0x00, 0x00, 0x01,             /* api_keys: int32 count 1 */
	        0x00, 0x12, 0x00, 0x00, 0x00, 0x03, /* ApiVersions 0-3 */
	};
	struct sl_api_versions_resp r;
	struct sl_api_versions_resp_api_version k;
	struct sl_wbuf w;
	uint8_t out[32];

	(void)state;
	sl_arena_reset(&arena);
	sl_api_versions_resp_init(&r);
	sl_api_versions_resp_api_version_init(&k);
	r.error_code = 35;
	k.api_key = 18;
	k.max_version = 3;
	r.api_keys = &k;
	r.api_keys_cnt = 1;
	r.throttle_time_ms = 100;       /* v1+: must not be written at v0 */
	r.finalized_features_epoch = 9; /* tagged, v3+: must not be written */
	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_api_versions_resp_encode(&w, 0, &r), 0);
	assert_int_equal(w.len, sizeof(want));
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_memory_equal(out, want, sizeof(want));
}

/* Produce v7 request as the protocol lays it out (header v1, no flexible parts). */
static const uint8_t produce_v7[] = {
        0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x05, /* key 0, version 7, correlation 5 */
        0x00, 0x03, 'c',  'l',  'i',                    /* client id "cli" */
        0xff, 0xff,                                     /* transactional_id: null */
        0xff, 0xff,                                     /* acks -1 */
        0x00, 0x00, 0x75, 0x30,                         /* timeout_ms 30000 */
        0x00, 0x00, 0x00, 0x01,                         /* topic_data: 1 */
        0x00, 0x05, 't',  'o',  'p',  'i',  'c',        /* name "topic" */
        0x00, 0x00, 0x00, 0x02,                         /* partition_data: 2 */
        0x00, 0x00, 0x00, 0x00,                         /* index 0 */
        0x00, 0x00, 0x00, 0x06, 'b',  'a',  't',  'c',  'h', '0', /* records (opaque) */
        0x00, 0x00, 0x00, 0x03,                                   /* index 3 */
        0xff, 0xff, 0xff, 0xff,                                   /* records: null */
};

static void
test_kproto_golden_produce_v7_request(void **state)
{
	struct sl_request_header h;
	struct sl_produce_req req;
	struct sl_crd rd;
	struct iovec iov[3];
	struct sl_wbuf w;
	uint8_t out[128];
	size_t len = sizeof(produce_v7);

	(void)state;
	sl_arena_reset(&arena);
	/* Split so the records blob straddles two receive segments. */
	iov[0] = (struct iovec){(void *)produce_v7, 44};
	iov[1] = (struct iovec){(void *)(produce_v7 + 44), 3};
	iov[2] = (struct iovec){(void *)(produce_v7 + 47), len - 47};
	sl_crd_init(&rd, iov, 3, len, &arena);
	assert_int_equal(sl_request_header_read(&rd, &h), 0);
	assert_int_equal(h.request_api_version, 7);
	assert_int_equal(h.correlation_id, 5);
	assert_int_equal(sl_produce_req_decode(&rd, 7, &req), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
	assert_int_equal(req.transactional_id.len, -1);
	assert_int_equal(req.acks, -1);
	assert_int_equal(req.timeout_ms, 30000);
	assert_int_equal(req.topic_data_cnt, 1);
	assert_int_equal(req.topic_data[0].name.len, 5);
	assert_memory_equal(req.topic_data[0].name.p, "topic", 5);
	assert_int_equal(req.topic_data[0].partition_data_cnt, 2);
	assert_int_equal(req.topic_data[0].partition_data[0].index, 0);
	{
		const struct sl_chain *rec = &req.topic_data[0].partition_data[0].records;
		uint8_t got[6];

		assert_int_equal(rec->len, 6);
		assert_int_equal(rec->n, 2); /* zero copy: points into both segments */
		assert_ptr_equal(rec->iov[0].iov_base, produce_v7 + 44);
		assert_ptr_equal(rec->iov[1].iov_base, produce_v7 + 47);
		assert_int_equal(sl_chain_copyout(rec, got, sizeof(got)), 6);
		assert_memory_equal(got, "batch0", 6);
	}
	assert_int_equal(req.topic_data[0].partition_data[1].index, 3);
	assert_int_equal(req.topic_data[0].partition_data[1].records.len, -1);

	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_request_header_encode(&w, 1, &h), 0);
	assert_int_equal(sl_produce_req_encode(&w, 7, &req), 0);
	assert_int_equal(w.len, len);
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_memory_equal(out, produce_v7, len);
}

/* Fetch v11 request as librdkafka/kafkajs send it: sessionless, read_committed, rack "". */
static const uint8_t fetch_v11[] = {
        0xff, 0xff, 0xff, 0xff,                         /* replica_id -1 */
        0x00, 0x00, 0x01, 0xf4,                         /* max_wait_ms 500 */
        0x00, 0x00, 0x00, 0x01,                         /* min_bytes 1 */
        0x03, 0x20, 0x00, 0x00,                         /* max_bytes 52428800 */
        0x01,                                           /* isolation_level 1 */
        0x00, 0x00, 0x00, 0x00,                         /* session_id 0 */
        0xff, 0xff, 0xff, 0xff,                         /* session_epoch -1 */
        0x00, 0x00, 0x00, 0x01,                         /* topics: 1 */
        0x00, 0x01, 't',                                /* topic "t" */
        0x00, 0x00, 0x00, 0x01,                         /* partitions: 1 */
        0x00, 0x00, 0x00, 0x02,                         /* partition 2 */
        0xff, 0xff, 0xff, 0xff,                         /* current_leader_epoch -1 (v9+) */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* fetch_offset 42 */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* log_start_offset -1 (v5+) */
        0x00, 0x10, 0x00, 0x00,                         /* partition_max_bytes 1 MiB */
        0x00, 0x00, 0x00, 0x00,                         /* forgotten_topics_data: 0 (v7+) */
        0x00, 0x00,                                     /* rack_id "" (v11) */
};

static void
test_kproto_golden_fetch_v11_request(void **state)
{
	struct sl_fetch_req req;
	struct sl_crd rd;
	struct iovec iov;
	struct sl_wbuf w;
	uint8_t out[128];

	(void)state;
	sl_arena_reset(&arena);
	sl_crd_init_buf(&rd, &iov, fetch_v11, sizeof(fetch_v11), &arena);
	assert_int_equal(sl_fetch_req_decode(&rd, 11, &req), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
	assert_int_equal(req.replica_id, -1);
	assert_int_equal(req.max_wait_ms, 500);
	assert_int_equal(req.min_bytes, 1);
	assert_int_equal(req.max_bytes, 52428800);
	assert_int_equal(req.isolation_level, 1);
	assert_int_equal(req.session_id, 0);
	assert_int_equal(req.session_epoch, -1);
	assert_int_equal(req.topics_cnt, 1);
	assert_int_equal(req.topics[0].topic.len, 1);
	assert_int_equal(req.topics[0].partitions_cnt, 1);
	assert_int_equal(req.topics[0].partitions[0].partition, 2);
	assert_int_equal(req.topics[0].partitions[0].current_leader_epoch, -1);
	assert_true(req.topics[0].partitions[0].fetch_offset == 42);
	assert_true(req.topics[0].partitions[0].log_start_offset == -1);
	assert_int_equal(req.topics[0].partitions[0].partition_max_bytes, 1 << 20);
	assert_int_equal(req.topics[0].partitions[0].last_fetched_epoch, -1); /* v12+: default */
	assert_int_equal(req.forgotten_topics_data_cnt, 0);
	assert_int_equal(req.rack_id.len, 0);
	assert_int_equal(req.cluster_id.len, -1); /* tagged v12+: default null */

	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_fetch_req_encode(&w, 11, &req), 0);
	assert_int_equal(w.len, sizeof(fetch_v11));
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_memory_equal(out, fetch_v11, sizeof(fetch_v11));
}

static void
test_kproto_fetch_response_records_are_referenced(void **state)
{
	static uint8_t storage[64 * 1024];
	struct sl_fetch_resp r;
	struct sl_fetch_resp_fetchable_topic_response t;
	struct sl_fetch_resp_partition_data p;
	struct iovec rec[2] = {{storage, 40000}, {storage + 40000, 24000}};
	struct sl_wbuf w;
	unsigned refs = 0;

	(void)state;
	sl_arena_reset(&arena);
	sl_fetch_resp_init(&r);
	sl_fetch_resp_fetchable_topic_response_init(&t);
	sl_fetch_resp_partition_data_init(&p);
	assert_true(p.last_stable_offset == -1);
	assert_int_equal(p.preferred_read_replica, -1);
	assert_int_equal(p.records.len, 0); /* empty, not null: librdkafka rejects -1 */
	t.topic = (struct sl_str){"t", 1};
	p.records = (struct sl_chain){rec, 2, 64000};
	p.aborted_transactions_cnt = 0;
	t.partitions = &p;
	t.partitions_cnt = 1;
	r.responses = &t;
	r.responses_cnt = 1;
	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_fetch_resp_encode(&w, 11, &r), 0);
	for (unsigned i = 0; i < w.niov; i++)
		refs += w.iov[i].iov_base == storage || w.iov[i].iov_base == storage + 40000;
	assert_int_equal(refs, 2);
	/* 4+2+4 + 4+3 + 4 + 4+2+8+8+8 + 4 + 4 + 4+64000 */
	assert_int_equal(w.len, 64063);
}

/* ---- flexible encodings and tags ---- */

static void
test_kproto_metadata_v9_compact_and_nulls(void **state)
{
	/* Metadata v9 request: topics compact array [ {name "ab", tags}, ], auto create
	 * true, include topic ops false, tags. The field include_cluster_authorized_operations
	 * (v8-10) is there too. */
	static const uint8_t want[] = {0x02, 0x03, 'a', 'b', 0x00, 0x01, 0x00, 0x01, 0x00};
	struct sl_metadata_req r, d;
	struct sl_metadata_req_topic t;
	struct sl_wbuf w;
	struct sl_crd rd;
	struct iovec iov;
	uint8_t out[32];

	(void)state;
	sl_arena_reset(&arena);
	sl_metadata_req_init(&r);
	assert_true(r.allow_auto_topic_creation); /* default true */
	sl_metadata_req_topic_init(&t);
	t.name = (struct sl_str){"ab", 2};
	r.topics = &t;
	r.topics_cnt = 1;
	r.include_topic_authorized_operations = true;
	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_metadata_req_encode(&w, 9, &r), 0);
	assert_int_equal(w.len, sizeof(want));
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_memory_equal(out, want, sizeof(want));

	/* Null topics (all topics) is compact 0 in v9, int32 -1 in v1, refused in v0. */
	r.topics = NULL;
	r.topics_cnt = -1;
	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_metadata_req_encode(&w, 9, &r), 0);
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_int_equal(out[0], 0x00);
	sl_crd_init_buf(&rd, &iov, out, w.len, &arena);
	assert_int_equal(sl_metadata_req_decode(&rd, 9, &d), 0);
	assert_int_equal(d.topics_cnt, -1);

	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_metadata_req_encode(&w, 1, &r), 0);
	assert_int_equal(w.len, 4);
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_int_equal(sl_be32(out), 0xffffffffu);
	sl_crd_init_buf(&rd, &iov, out, 4, &arena);
	assert_int_equal(sl_metadata_req_decode(&rd, 1, &d), 0);
	assert_int_equal(d.topics_cnt, -1);
	sl_crd_init_buf(&rd, &iov, out, 4, &arena);
	assert_int_equal(sl_metadata_req_decode(&rd, 0, &d), -EBADMSG);
	/* The encoder writes an empty array rather than a null the version forbids. */
	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_metadata_req_encode(&w, 0, &r), 0);
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_int_equal(sl_be32(out), 0);
}

static void
test_kproto_unknown_tags_skipped_known_tags_bounded(void **state)
{
	/* ApiVersions v3 request body with two unknown tagged fields in its tag section. */
	static const uint8_t unk[] = {0x02, 'a',  0x02, '1',  0x02, 0x05,
	                              0x02, 0xaa, 0xbb, 0x0a, 0x00};
	struct sl_api_versions_req req;
	struct sl_api_versions_resp resp;
	struct sl_crd rd;
	struct iovec iov;
	uint8_t b[sizeof(api_versions_v3_resp)];

	(void)state;
	sl_arena_reset(&arena);
	sl_crd_init_buf(&rd, &iov, unk, sizeof(unk), &arena);
	assert_int_equal(sl_api_versions_req_decode(&rd, 3, &req), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
	assert_int_equal(req.client_software_name.len, 1);
	assert_int_equal(req.client_software_version.len, 1);

	/* A known tag with a larger size than its value: the rest is skipped. */
	memcpy(b, api_versions_v3_resp, sizeof(b));
	{
		uint8_t big[sizeof(b) + 2];
		size_t tag_size_at = sizeof(b) - 9; /* the size byte of tag 1 */

		memcpy(big, b, sizeof(b));
		big[tag_size_at] = 10;
		big[sizeof(b)] = 0xee;
		big[sizeof(b) + 1] = 0xee;
		sl_crd_init_buf(&rd, &iov, big + 4, sizeof(big) - 4, &arena);
		assert_int_equal(sl_api_versions_resp_decode(&rd, 3, &resp), 0);
		assert_int_equal(sl_crd_left(&rd), 0);
		assert_true(resp.finalized_features_epoch == 5);
		/* Smaller than the value it holds: an error. */
		b[tag_size_at] = 4;
		sl_crd_init_buf(&rd, &iov, b + 4, sizeof(b) - 4, &arena);
		assert_int_equal(sl_api_versions_resp_decode(&rd, 3, &resp), -EBADMSG);
	}
}

static void
test_kproto_nested_tag_in_create_topics_v5(void **state)
{
	struct sl_create_topics_resp r, d;
	struct sl_create_topics_resp_creatable_topic_result t[2];
	struct sl_wbuf w;
	struct sl_crd rd;
	struct iovec iov;
	uint8_t out[256];

	(void)state;
	sl_arena_reset(&arena);
	sl_create_topics_resp_init(&r);
	for (int i = 0; i < 2; i++) {
		sl_create_topics_resp_creatable_topic_result_init(&t[i]);
		t[i].name = (struct sl_str){"x", 1};
		t[i].num_partitions = 3;
		t[i].replication_factor = 1;
	}
	t[1].topic_config_error_code = 40; /* tag 0 of the topic struct */
	r.topics = t;
	r.topics_cnt = 2;
	sl_wbuf_init(&w, &arena);
	assert_int_equal(sl_create_topics_resp_encode(&w, 5, &r), 0);
	sl_wbuf_copyout(&w, out, sizeof(out));
	/* Topic 1 ends with tag section {1 field: tag 0, size 2, int16 40}; topic 0 with 0. */
	{
		const uint8_t tail1[] = {0x01, 0x00, 0x02, 0x00, 0x28};
		size_t one = 0;

		for (size_t i = 0; i + sizeof(tail1) <= w.len; i++)
			one += memcmp(out + i, tail1, sizeof(tail1)) == 0;
		assert_int_equal(one, 1);
	}
	sl_crd_init_buf(&rd, &iov, out, w.len, &arena);
	assert_int_equal(sl_create_topics_resp_decode(&rd, 5, &d), 0);
	assert_int_equal(d.topics_cnt, 2);
	assert_int_equal(d.topics[0].topic_config_error_code, 0);
	assert_int_equal(d.topics[1].topic_config_error_code, 40);
	/* v4 has neither the tag nor compact forms: decoding the v5 bytes as v4 fails. */
	sl_crd_init_buf(&rd, &iov, out, w.len, &arena);
	assert_int_not_equal(sl_create_topics_resp_decode(&rd, 4, &d), 0);
}

/* ---- malformed input ---- */

static int
decode_produce_v7(const uint8_t *b, size_t len, struct sl_produce_req *req)
{
	struct sl_crd rd;
	struct iovec iov;

	sl_crd_init_buf(&rd, &iov, b, len, &arena);
	return sl_produce_req_decode(&rd, 7, req);
}

static void
test_kproto_lying_lengths_and_counts_rejected(void **state)
{
	const uint8_t *body = produce_v7 + 13;
	size_t len = sizeof(produce_v7) - 13;
	uint8_t b[sizeof(produce_v7)];
	struct sl_produce_req req;
	size_t held;

	(void)state;
	sl_arena_reset(&arena);
	memcpy(b, body, len);
	assert_int_equal(decode_produce_v7(b, len, &req), 0);
	/* Topic name null where it is not nullable. */
	b[12] = 0xff;
	b[13] = 0xff;
	assert_int_equal(decode_produce_v7(b, len, &req), -EBADMSG);
	/* Negative string length other than -1. */
	b[13] = 0xfe;
	assert_int_equal(decode_produce_v7(b, len, &req), -EBADMSG);
	memcpy(b, body, len);
	/* A topic count of 2^31-1 with 60 bytes left: refused before any allocation. */
	held = arena.held;
	sl_put_be32(b + 8, 0x7fffffff);
	assert_int_equal(decode_produce_v7(b, len, &req), -EBADMSG);
	assert_int_equal(arena.held, held);
	/* A partition count that would fit one-byte elements but not 8-byte ones. */
	memcpy(b, body, len);
	sl_put_be32(b + 19, 5);
	assert_int_equal(decode_produce_v7(b, len, &req), -EBADMSG);
	/* Records length negative, and longer than the frame. */
	memcpy(b, body, len);
	sl_put_be32(b + 27, (uint32_t)-7);
	assert_int_equal(decode_produce_v7(b, len, &req), -EBADMSG);
	sl_put_be32(b + 27, 1000);
	assert_int_equal(decode_produce_v7(b, len, &req), -EBADMSG);
	/* Array count -2. */
	memcpy(b, body, len);
	sl_put_be32(b + 8, (uint32_t)-2);
	assert_int_equal(decode_produce_v7(b, len, &req), -EBADMSG);
}

static void
test_kproto_huge_compact_count_bounded_by_arena(void **state)
{
	/* ApiVersions v3 response whose api_keys count (uvarint) claims 200000 entries of at
	 * least 7 bytes, with 1.5 MB of bytes behind it: the count passes the bytes-left
	 * bound, so the arena cap is what stops it (-ENOMEM), not a crash. */
	static uint8_t b[1500000];
	struct sl_arena small;
	struct sl_crd rd;
	struct iovec iov;
	struct sl_api_versions_resp resp;
	size_t n = 0;

	(void)state;
	memset(b, 0, sizeof(b));
	b[n++] = 0;
	b[n++] = 0;
	n += sl_put_uvarint(b + n, 200001);
	assert_int_equal(sl_arena_init(&small, 4096, 1 << 20), 0);
	sl_crd_init_buf(&rd, &iov, b, sizeof(b), &small);
	assert_int_equal(sl_api_versions_resp_decode(&rd, 3, &resp), -ENOMEM);
	assert_true(small.held <= (1 << 20));
	sl_arena_fini(&small);
}

static void
test_kproto_unsupported_version_rejected(void **state)
{
	struct sl_produce_req req;
	struct sl_crd rd;
	struct iovec iov;
	struct sl_wbuf w;

	(void)state;
	sl_crd_init_buf(&rd, &iov, produce_v7, sizeof(produce_v7), &arena);
	assert_int_equal(sl_produce_req_decode(&rd, SL_PRODUCE_MAX_VER + 1, &req), -ENOTSUP);
	assert_int_equal(sl_produce_req_decode(&rd, -1, &req), -ENOTSUP);
	assert_int_equal(sl_kproto_decode(&rd, 1000, false, 0, &req), -ENOTSUP);
	assert_int_equal(sl_kproto_decode(&rd, 7, false, 0, &req), -ENOTSUP); /* no codec */
	sl_wbuf_init(&w, &arena);
	sl_produce_req_init(&req);
	assert_int_equal(sl_produce_req_encode(&w, 12, &req), -ENOTSUP);
	assert_int_equal(w.len, 0);
}

/* ---- table and headers ---- */

static void
test_kproto_table_and_header_versions(void **state)
{
	const struct sl_kapi *a;
	struct sl_wbuf w;
	uint8_t out[16];

	(void)state;
	sl_arena_reset(&arena);
	a = sl_kapi_find(SL_API_API_VERSIONS);
	assert_non_null(a);
	assert_string_equal(a->name, "ApiVersions");
	assert_int_equal(a->flex_ver, 3);
	assert_int_equal(a->min_ver, 0);
	assert_true(a->max_ver >= 3);
	assert_string_equal(sl_kapi_find(SL_API_PRODUCE)->name, "Produce");
	assert_int_equal(sl_kapi_find(SL_API_PRODUCE)->flex_ver, 9);
	assert_int_equal(sl_kapi_find(SL_API_SASL_HANDSHAKE)->flex_ver, -1);
	assert_int_equal(sl_kapi_find(SL_API_DESCRIBE_CLUSTER)->flex_ver, 0);
	assert_null(sl_kapi_find(-1));
	assert_null(sl_kapi_find(7));
	assert_null(sl_kapi_find(1000));
	/* Table sorted by key, every key findable. */
	for (unsigned i = 0; i < sl_kapi_cnt; i++) {
		assert_ptr_equal(sl_kapi_find(sl_kapi_tab[i].key), &sl_kapi_tab[i]);
		if (i)
			assert_true(sl_kapi_tab[i - 1].key < sl_kapi_tab[i].key);
	}
	/* Minimum versions the brief needs are covered. */
	assert_true(sl_kapi_find(SL_API_FETCH)->max_ver >= 11);
	assert_true(sl_kapi_find(SL_API_PRODUCE)->min_ver <= 3);
	assert_true(sl_kapi_find(SL_API_METADATA)->max_ver >= 6);

	assert_int_equal(sl_kapi_req_hdr_ver(SL_API_PRODUCE, 7), 1);
	assert_int_equal(sl_kapi_req_hdr_ver(SL_API_PRODUCE, 9), 2);
	assert_int_equal(sl_kapi_req_hdr_ver(SL_API_API_VERSIONS, 3), 2);
	assert_int_equal(sl_kapi_req_hdr_ver(SL_API_API_VERSIONS, 2), 1);
	assert_int_equal(sl_kapi_req_hdr_ver(999, 0), 1);
	assert_int_equal(sl_kapi_resp_hdr_ver(SL_API_METADATA, 9), 1);
	assert_int_equal(sl_kapi_resp_hdr_ver(SL_API_METADATA, 8), 0);
	assert_int_equal(sl_kapi_resp_hdr_ver(SL_API_API_VERSIONS, 3), 0);
	assert_int_equal(sl_kapi_resp_hdr_ver(SL_API_API_VERSIONS, 4), 0);

	sl_wbuf_init(&w, &arena);
	sl_response_header_write(&w, SL_API_METADATA, 9, 0x01020304);
	assert_int_equal(w.len, 5);
	sl_wbuf_copyout(&w, out, sizeof(out));
	assert_memory_equal(out, "\x01\x02\x03\x04\x00", 5);
	sl_wbuf_init(&w, &arena);
	sl_response_header_write(&w, SL_API_API_VERSIONS, 3, 7);
	assert_int_equal(w.len, 4);
}

static void
test_kproto_request_header_versions(void **state)
{
	/* v1 (Metadata v4) with a null client id; v2 (Metadata v9) with an unknown tag. */
	static const uint8_t h1[] = {0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09, 0xff, 0xff};
	static const uint8_t h2[] = {0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x0a, 0x00,
	                             0x02, 'i',  'd',  0x01, 0x05, 0x01, 0x77, 0x42};
	struct sl_request_header h;
	struct sl_crd rd;
	struct iovec iov;

	(void)state;
	sl_arena_reset(&arena);
	sl_crd_init_buf(&rd, &iov, h1, sizeof(h1), &arena);
	assert_int_equal(sl_request_header_read(&rd, &h), 0);
	assert_int_equal(h.request_api_key, 3);
	assert_int_equal(h.request_api_version, 4);
	assert_int_equal(h.correlation_id, 9);
	assert_int_equal(h.client_id.len, -1);
	assert_int_equal(sl_crd_left(&rd), 0);

	sl_crd_init_buf(&rd, &iov, h2, sizeof(h2), &arena);
	assert_int_equal(sl_request_header_read(&rd, &h), 0);
	assert_int_equal(h.correlation_id, 10);
	assert_int_equal(h.client_id.len, 2); /* never compact, even in v2 */
	assert_int_equal(sl_crd_left(&rd), 1);
	assert_int_equal(sl_crd_i8(&rd), 0x42);

	/* Too short for key + version. */
	sl_crd_init_buf(&rd, &iov, h1, 3, &arena);
	assert_int_equal(sl_request_header_read(&rd, &h), -EBADMSG);
}

/*
 * `kproto_test --write-kreq-seeds DIR` writes synthetic seeds for fuzz_kreq (request header
 * + body, no size prefix) for every API at its lowest, first flexible and highest version:
 * gen-<api>-v<version>. Real-client captures sit beside them (scripts/capture_kreq.py).
 */
static int
write_seeds(const char *dir)
{
	for (unsigned i = 0; i < sl_kapi_cnt; i++) {
		const struct sl_kapi *api = &sl_kapi_tab[i];
		int16_t vers[3] = {api->min_ver, api->flex_ver, api->max_ver};

		for (int k = 0; k < 3; k++) {
			int16_t v = vers[k];
			struct sl_request_header h;
			struct sl_wbuf w;
			uint64_t seed = 42 + (uint64_t)v;
			void *m;
			uint8_t *buf;
			char path[512];
			FILE *f;

			if (v < api->min_ver || (k == 1 && v == api->min_ver) ||
			    (k == 2 && v == api->flex_ver))
				continue;
			sl_arena_reset(&arena);
			m = sl_arena_zalloc(&arena, sl_kproto_msg_size(api->key, false));
			if (!m || sl_kptest_fill(api->key, false, v, m, &arena, &seed))
				return 1;
			sl_request_header_init(&h);
			h.request_api_key = api->key;
			h.request_api_version = v;
			h.correlation_id = 7;
			h.client_id = (struct sl_str){"seed", 4};
			sl_wbuf_init(&w, &arena);
			if (sl_request_header_encode(&w, sl_kapi_req_hdr_ver(api->key, v), &h) ||
			    sl_kproto_encode(&w, api->key, false, v, m))
				return 1;
			buf = sl_arena_alloc(&arena, w.len + 1);
			if (!buf)
				return 1;
			sl_wbuf_copyout(&w, buf, w.len);
			snprintf(path, sizeof(path), "%s/gen-%s-v%d", dir, api->name, v);
			f = fopen(path, "wb");
			if (!f || fwrite(buf, 1, w.len, f) != w.len || fclose(f)) {
				perror(path);
				return 1;
			}
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-kreq-seeds") == 0) {
		int rc;

		if (setup(NULL))
			return 1;
		rc = write_seeds(argv[2]);
		teardown(NULL);
		return rc;
	}
	(void)argv;

	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kproto_every_message_every_version_roundtrips),
	        cmocka_unit_test(test_kproto_split_at_every_byte_decodes_identically),
	        cmocka_unit_test(test_kproto_every_truncation_fails_cleanly),
	        cmocka_unit_test(test_kproto_random_corruption_never_crashes),
	        cmocka_unit_test(test_kproto_encoders_match_independent_schema_encoding),
	        cmocka_unit_test(test_kproto_golden_api_versions_v3_request_from_librdkafka),
	        cmocka_unit_test(test_kproto_golden_api_versions_v3_response_flexible),
	        cmocka_unit_test(test_kproto_golden_api_versions_v0_response_no_throttle),
	        cmocka_unit_test(test_kproto_golden_produce_v7_request),
	        cmocka_unit_test(test_kproto_golden_fetch_v11_request),
	        cmocka_unit_test(test_kproto_fetch_response_records_are_referenced),
	        cmocka_unit_test(test_kproto_metadata_v9_compact_and_nulls),
	        cmocka_unit_test(test_kproto_unknown_tags_skipped_known_tags_bounded),
	        cmocka_unit_test(test_kproto_nested_tag_in_create_topics_v5),
	        cmocka_unit_test(test_kproto_lying_lengths_and_counts_rejected),
	        cmocka_unit_test(test_kproto_huge_compact_count_bounded_by_arena),
	        cmocka_unit_test(test_kproto_unsupported_version_rejected),
	        cmocka_unit_test(test_kproto_table_and_header_versions),
	        cmocka_unit_test(test_kproto_request_header_versions),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
