// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for common/kbuf.c: arena bounds and reuse, the chain reader split at every byte
 * position (results identical to the contiguous case), zero-copy views, lying lengths and
 * counts, and the gather writer (coalescing, external pieces, reserve, splice).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/compiler.h"
#include "common/kbuf.h"

/* ---- arena ---- */

static void
test_kbuf_arena_alloc_aligned_and_capped(void **state)
{
	struct sl_arena a;
	void *p, *q;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 4096, 64 * 1024), 0);
	p = sl_arena_alloc(&a, 3);
	q = sl_arena_alloc(&a, 5);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal((uintptr_t)p % 8, 0);
	assert_int_equal((uintptr_t)q % 8, 0);
	assert_true((uint8_t *)q >= (uint8_t *)p + 3);
	/* Larger than a block: gets its own block. */
	p = sl_arena_alloc(&a, 10000);
	assert_non_null(p);
	memset(p, 0xab, 10000);
	/* Past max_bytes: NULL, not a crash or a huge malloc. */
	assert_null(sl_arena_alloc(&a, 1u << 20));
	assert_null(sl_arena_alloc(&a, SIZE_MAX));
	assert_true(a.held <= a.max_bytes);
	sl_arena_fini(&a);
}

static void
test_kbuf_arena_reset_reuses_blocks(void **state)
{
	struct sl_arena a;
	uint8_t *first, *again;
	size_t held;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 1024, 1 << 20), 0);
	first = sl_arena_alloc(&a, 100);
	for (int i = 0; i < 50; i++)
		assert_non_null(sl_arena_alloc(&a, 100)); /* spills into more blocks */
	held = a.held;
	sl_arena_reset(&a);
	again = sl_arena_zalloc(&a, 100);
	assert_non_null(again);
	assert_int_equal(again[0], 0);
	for (int i = 0; i < 50; i++)
		assert_non_null(sl_arena_alloc(&a, 100));
	/* Same working set after a reset: no new blocks. */
	assert_int_equal(a.held, held);
	(void)first;
	sl_arena_fini(&a);
}

static void
test_kbuf_arena_reset_frees_oversized(void **state)
{
	struct sl_arena a;
	size_t held0;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 1024, 1 << 20), 0);
	held0 = a.held;
	assert_non_null(sl_arena_alloc(&a, 100000));
	assert_true(a.held > held0 + 100000);
	sl_arena_reset(&a);
	assert_int_equal(a.held, held0);
	assert_non_null(sl_arena_alloc(&a, 100));
	sl_arena_fini(&a);
}

/* ---- chain reader ---- */

/* A stream with every primitive the reader knows, and what it decodes to. */
struct sample {
	int8_t i8;
	int16_t i16;
	int32_t i32;
	int64_t i64;
	uint32_t uv;
	int32_t vi;
	int64_t vl;
	uint8_t uuid[16];
	char s[40];
	int32_t s_len;
	char cs[40];
	int32_t cs_len;
	int32_t null_len;
	uint8_t blob[64];
	int64_t blob_len;
	int32_t arr;
	int32_t carr;
	uint8_t tail[3];
	int err;
	size_t left;
};

static size_t
build_stream(uint8_t *b)
{
	size_t n = 0;

	b[n++] = 0x85;              /* i8 -123 */
	sl_put_be16(b + n, 0xfedc); /* i16 */
	n += 2;
	sl_put_be32(b + n, 0x80000001u); /* i32 */
	n += 4;
	sl_put_be64(b + n, 0x0102030405060708ull);
	n += 8;
	n += sl_put_uvarint(b + n, 300000); /* uvarint, 3 bytes */
	n += sl_put_varint(b + n, -77777);
	n += sl_put_varlong(b + n, -123456789012345ll);
	for (int i = 0; i < 16; i++)
		b[n++] = (uint8_t)(0xa0 + i);
	sl_put_be16(b + n, 11); /* string "hello world" */
	n += 2;
	memcpy(b + n, "hello world", 11);
	n += 11;
	b[n++] = 6; /* compact string "abcde" */
	memcpy(b + n, "abcde", 5);
	n += 5;
	sl_put_be16(b + n, 0xffff); /* null string */
	n += 2;
	sl_put_be32(b + n, 20); /* bytes, 20 */
	n += 4;
	for (int i = 0; i < 20; i++)
		b[n++] = (uint8_t)(i * 3);
	sl_put_be32(b + n, 2); /* array of 2 (min 1 byte each) */
	n += 4;
	b[n++] = 3; /* compact array of 2 */
	b[n++] = 'x';
	b[n++] = 'y';
	b[n++] = 'z';
	return n;
}

static void
read_sample(struct sl_crd *rd, struct sample *s)
{
	struct sl_str str;
	struct sl_chain ch;

	memset(s, 0, sizeof(*s));
	s->i8 = sl_crd_i8(rd);
	s->i16 = sl_crd_i16(rd);
	s->i32 = sl_crd_i32(rd);
	s->i64 = sl_crd_i64(rd);
	s->uv = sl_crd_uvarint(rd);
	s->vi = sl_crd_varint(rd);
	s->vl = sl_crd_varlong(rd);
	sl_crd_uuid(rd, s->uuid);
	sl_crd_string(rd, &str);
	s->s_len = str.len;
	if (str.len > 0)
		memcpy(s->s, str.p, (size_t)str.len);
	sl_crd_compact_string(rd, &str);
	s->cs_len = str.len;
	if (str.len > 0)
		memcpy(s->cs, str.p, (size_t)str.len);
	sl_crd_string(rd, &str);
	s->null_len = str.len;
	sl_crd_bytes_chain(rd, &ch);
	s->blob_len = ch.len;
	sl_chain_copyout(&ch, s->blob, sizeof(s->blob));
	s->arr = sl_crd_array_len(rd, 1);
	s->carr = sl_crd_compact_array_len(rd, 1);
	sl_crd_copy(rd, s->tail, 3);
	s->err = rd->err;
	s->left = sl_crd_left(rd);
}

static void
test_kbuf_crd_split_every_position_matches_contiguous(void **state)
{
	uint8_t buf[256];
	size_t n = build_stream(buf);
	struct sl_arena a;
	struct sl_crd rd;
	struct iovec iov[5];
	struct sample want, got;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	sl_crd_init_buf(&rd, iov, buf, n, &a);
	read_sample(&rd, &want);
	assert_int_equal(want.err, 0);
	assert_int_equal(want.left, 0);
	assert_int_equal(want.i8, -123);
	assert_int_equal(want.i16, (int16_t)0xfedc);
	assert_int_equal(want.i32, (int32_t)0x80000001u);
	assert_true(want.i64 == 0x0102030405060708ll);
	assert_int_equal(want.uv, 300000);
	assert_int_equal(want.vi, -77777);
	assert_true(want.vl == -123456789012345ll);
	assert_int_equal(want.uuid[15], 0xaf);
	assert_int_equal(want.s_len, 11);
	assert_memory_equal(want.s, "hello world", 11);
	assert_int_equal(want.cs_len, 5);
	assert_memory_equal(want.cs, "abcde", 5);
	assert_int_equal(want.null_len, -1);
	assert_int_equal(want.blob_len, 20);
	assert_int_equal(want.blob[19], 57);
	assert_int_equal(want.arr, 2);
	assert_int_equal(want.carr, 2);
	assert_memory_equal(want.tail, "xyz", 3);

	/* Two segments, split at every position; then three, with an empty one between. */
	for (size_t i = 0; i <= n; i++) {
		iov[0] = (struct iovec){buf, i};
		iov[1] = (struct iovec){buf + i, n - i};
		sl_arena_reset(&a);
		sl_crd_init(&rd, iov, 2, n, &a);
		read_sample(&rd, &got);
		assert_memory_equal(&got, &want, sizeof(got));
		for (size_t j = i; j <= n; j += 3) {
			iov[0] = (struct iovec){buf, i};
			iov[1] = (struct iovec){buf + i, 0};
			iov[2] = (struct iovec){buf + i, j - i};
			iov[3] = (struct iovec){buf + j, n - j};
			sl_arena_reset(&a);
			sl_crd_init(&rd, iov, 4, n, &a);
			read_sample(&rd, &got);
			assert_memory_equal(&got, &want, sizeof(got));
		}
	}
	/* One byte per segment. */
	{
		struct iovec *one = sl_arena_alloc(&a, n * sizeof(*one));

		assert_non_null(one);
		for (size_t i = 0; i < n; i++)
			one[i] = (struct iovec){buf + i, 1};
		sl_crd_init(&rd, one, (unsigned)n, n, &a);
		read_sample(&rd, &got);
		assert_memory_equal(&got, &want, sizeof(got));
	}
	sl_arena_fini(&a);
}

static void
test_kbuf_crd_truncated_every_length_fails(void **state)
{
	uint8_t buf[256];
	size_t n = build_stream(buf);
	struct sl_arena a;
	struct sl_crd rd;
	struct iovec iov[2];
	struct sample got;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	for (size_t len = 0; len < n; len++) {
		iov[0] = (struct iovec){buf, len / 2};
		iov[1] = (struct iovec){buf + len / 2, n - len / 2};
		sl_arena_reset(&a);
		sl_crd_init(&rd, iov, 2, len, &a); /* the chain is longer; len limits it */
		read_sample(&rd, &got);
		assert_int_equal(got.err, -EBADMSG);
		assert_int_equal(got.left, 0);
	}
	sl_arena_fini(&a);
}

static void
test_kbuf_crd_views_point_into_segments(void **state)
{
	uint8_t s1[8] = {0, 5, 'a', 'b', 'c', 'd', 'e', 0};
	uint8_t s2[8] = {0, 0, 6, 'A', 'B', 'C', 'D', 'E'};
	uint8_t s3[4] = {'F', 'G', 'H', 'I'};
	struct iovec iov[3] = {{s1, 8}, {s2, 8}, {s3, 4}};
	struct sl_arena a;
	struct sl_crd rd;
	struct sl_str str;
	struct sl_chain ch;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	sl_crd_init(&rd, iov, 3, 20, &a);
	/* Contiguous string: a view, no copy. */
	sl_crd_string(&rd, &str);
	assert_ptr_equal(str.p, (const char *)s1 + 2);
	assert_int_equal(str.len, 5);
	/* Bytes of length 6 across s1/s2 (length itself straddles): chain of 2, no copy. */
	sl_crd_bytes_chain(&rd, &ch);
	assert_int_equal(rd.err, 0);
	assert_int_equal(ch.len, 6);
	assert_int_equal(ch.n, 2);
	assert_ptr_equal(ch.iov[0].iov_base, s2 + 3);
	assert_int_equal(ch.iov[0].iov_len, 5);
	assert_ptr_equal(ch.iov[1].iov_base, s3);
	assert_int_equal(ch.iov[1].iov_len, 1);
	/* A straddling string is copied into the arena. */
	sl_crd_init(&rd, iov, 3, 20, &a);
	sl_crd_skip(&rd, 14);
	{
		struct sl_crd r2 = rd;
		const uint8_t *p = sl_crd_contig(&r2, 4);

		assert_non_null(p);
		assert_ptr_not_equal(p, s2 + 6);
		assert_memory_equal(p, "DEFG", 4);
	}
	sl_arena_fini(&a);
}

static void
test_kbuf_crd_lying_lengths_rejected(void **state)
{
	struct sl_arena a;
	struct sl_crd rd;
	struct iovec iov;
	struct sl_str str;
	struct sl_chain ch;
	uint8_t b[16];

	(void)state;
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	/* Negative string length other than -1. */
	sl_put_be16(b, (uint16_t)-2);
	sl_crd_init_buf(&rd, &iov, b, 2, &a);
	sl_crd_string(&rd, &str);
	assert_int_equal(rd.err, -EBADMSG);
	/* Negative bytes length other than -1. */
	sl_put_be32(b, (uint32_t)-5);
	sl_crd_init_buf(&rd, &iov, b, 4, &a);
	sl_crd_bytes_chain(&rd, &ch);
	assert_int_equal(rd.err, -EBADMSG);
	/* Longer than what is left. */
	sl_put_be32(b, 100);
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	sl_crd_bytes_chain(&rd, &ch);
	assert_int_equal(rd.err, -EBADMSG);
	/* Array count: huge, negative, and bounded by min element size. */
	sl_put_be32(b, 0x7fffffff);
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	assert_int_equal(sl_crd_array_len(&rd, 1), 0);
	assert_int_equal(rd.err, -EBADMSG);
	sl_put_be32(b, (uint32_t)-2);
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	sl_crd_array_len(&rd, 1);
	assert_int_equal(rd.err, -EBADMSG);
	sl_put_be32(b, 4); /* 4 elements of >= 4 bytes need 16, only 12 left */
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	sl_crd_array_len(&rd, 4);
	assert_int_equal(rd.err, -EBADMSG);
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	assert_int_equal(sl_crd_array_len(&rd, 3), 4);
	assert_int_equal(rd.err, 0);
	sl_put_be32(b, 0xffffffff); /* -1 = null */
	sl_crd_init_buf(&rd, &iov, b, 4, &a);
	assert_int_equal(sl_crd_array_len(&rd, 8), -1);
	assert_int_equal(rd.err, 0);
	/* Compact: 0 = null, huge uvarint, overlong varint. */
	b[0] = 0;
	sl_crd_init_buf(&rd, &iov, b, 1, &a);
	assert_int_equal(sl_crd_compact_array_len(&rd, 1), -1);
	sl_crd_init_buf(&rd, &iov, b, 1, &a);
	sl_crd_compact_string(&rd, &str);
	assert_int_equal(str.len, -1);
	assert_int_equal(rd.err, 0);
	memcpy(b, "\xff\xff\xff\xff\x0f", 5); /* 2^32-1: count 2^32-2 */
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	sl_crd_compact_array_len(&rd, 1);
	assert_int_equal(rd.err, -EBADMSG);
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	sl_crd_compact_string(&rd, &str);
	assert_int_equal(rd.err, -EBADMSG);
	memcpy(b, "\xff\xff\xff\xff\xff\x01", 6); /* 6-byte uvarint */
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	sl_crd_uvarint(&rd);
	assert_int_equal(rd.err, -EBADMSG);
	memcpy(b, "\xff\xff\xff\xff\x1f", 5); /* > 32 bits */
	sl_crd_init_buf(&rd, &iov, b, 16, &a);
	sl_crd_uvarint(&rd);
	assert_int_equal(rd.err, -EBADMSG);
	sl_arena_fini(&a);
}

static void
test_kbuf_crd_error_is_sticky(void **state)
{
	uint8_t b[4] = {1, 2, 3, 4};
	struct iovec iov;
	struct sl_crd rd;
	struct sl_str str;

	(void)state;
	sl_crd_init_buf(&rd, &iov, b, 4, NULL);
	assert_int_equal(sl_crd_i64(&rd), 0);
	assert_int_equal(rd.err, -EBADMSG);
	/* Bytes were there for an i16, but the reader already failed. */
	assert_int_equal(sl_crd_i16(&rd), 0);
	sl_crd_string(&rd, &str);
	assert_null(str.p);
	assert_int_equal(rd.err, -EBADMSG);
	/* A straddling read without an arena fails with -ENOMEM instead of crashing. */
	{
		struct iovec two[2] = {{b, 2}, {b + 2, 2}};

		sl_crd_init(&rd, two, 2, 4, NULL);
		sl_crd_skip(&rd, 1);
		assert_null(sl_crd_contig(&rd, 2));
		assert_int_equal(rd.err, -ENOMEM);
	}
}

static void
count_tags(struct sl_crd *rd, uint32_t tag, uint32_t size, void *arg)
{
	uint32_t *seen = arg;

	seen[0]++;
	seen[1] += tag;
	if (tag == 7 && size >= 1)
		seen[2] = (uint8_t)sl_crd_i8(rd); /* reads 1 byte of size; rest skipped */
}

static void
test_kbuf_crd_tags_skip_and_bounds(void **state)
{
	/* 3 fields: tag 1 size 2, tag 7 size 3, tag 9 size 0; then a marker byte. */
	uint8_t b[] = {3, 1, 2, 0xaa, 0xbb, 7, 3, 0x42, 0xcc, 0xdd, 9, 0, 0x5a};
	uint32_t seen[3] = {0};
	struct iovec iov;
	struct sl_crd rd;

	(void)state;
	sl_crd_init_buf(&rd, &iov, b, sizeof(b), NULL);
	sl_crd_tags(&rd, count_tags, seen);
	assert_int_equal(rd.err, 0);
	assert_int_equal(seen[0], 3);
	assert_int_equal(seen[1], 17);
	assert_int_equal(seen[2], 0x42);
	assert_int_equal(sl_crd_i8(&rd), 0x5a);
	/* Skipping without a callback. */
	sl_crd_init_buf(&rd, &iov, b, sizeof(b), NULL);
	sl_crd_tags(&rd, NULL, NULL);
	assert_int_equal(sl_crd_i8(&rd), 0x5a);
	/* A field size past the end, and a field count the bytes cannot hold. */
	b[2] = 200;
	sl_crd_init_buf(&rd, &iov, b, sizeof(b), NULL);
	sl_crd_tags(&rd, NULL, NULL);
	assert_int_equal(rd.err, -EBADMSG);
	b[2] = 2;
	b[0] = 100;
	sl_crd_init_buf(&rd, &iov, b, sizeof(b), NULL);
	sl_crd_tags(&rd, NULL, NULL);
	assert_int_equal(rd.err, -EBADMSG);
	/* A reader that consumed more than the field's size is an error. */
	b[0] = 3;
	sl_crd_init_buf(&rd, &iov, b, sizeof(b), NULL);
	sl_crd_skip(&rd, 3);
	{
		size_t start = sl_crd_left(&rd);

		sl_crd_skip(&rd, 3);
		sl_crd_tag_end(&rd, start, 2);
		assert_int_equal(rd.err, -EBADMSG);
	}
}

/* ---- writer ---- */

static size_t
flat(const struct sl_wbuf *w, uint8_t *out, size_t cap)
{
	size_t sum = 0;

	for (unsigned i = 0; i < w->niov; i++)
		sum += w->iov[i].iov_len;
	assert_int_equal(sum, w->len);
	return sl_wbuf_copyout(w, out, cap);
}

static void
test_kbuf_wbuf_small_writes_coalesce(void **state)
{
	struct sl_arena a;
	struct sl_wbuf w;
	uint8_t out[64];
	const uint8_t want[] = {0x7f, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0,   0,
	                        0,    0,    0,    1,    0xac, 0x02, 0x03, 0, 3, 'a', 'b',
	                        'c',  4,    'x',  'y',  'z',  0xff, 0xff, 0, 0};

	(void)state;
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	sl_wbuf_init(&w, &a);
	sl_wbuf_i8(&w, 0x7f);
	sl_wbuf_i16(&w, 0x1234);
	sl_wbuf_i32(&w, (int32_t)0xdeadbeef);
	sl_wbuf_i64(&w, 1);
	sl_wbuf_uvarint(&w, 300);
	sl_wbuf_varint(&w, -2);
	sl_wbuf_cstr(&w, "abc");
	sl_wbuf_compact_cstr(&w, "xyz");
	sl_wbuf_string(&w, &(struct sl_str){NULL, -1});
	sl_wbuf_compact_cstr(&w, NULL);
	sl_wbuf_no_tags(&w);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.niov, 1);
	assert_int_equal(flat(&w, out, sizeof(out)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	sl_arena_fini(&a);
}

static void
test_kbuf_wbuf_ext_reserve_splice(void **state)
{
	static uint8_t big[4000];
	struct sl_arena a;
	struct sl_wbuf w, t;
	struct sl_chain ch;
	uint8_t *size, *out;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	sl_wbuf_init(&w, &a);
	size = sl_wbuf_reserve(&w, 4);
	assert_non_null(size);
	sl_wbuf_i16(&w, 7);
	sl_wbuf_ext(&w, big, sizeof(big));
	sl_wbuf_i16(&w, 8); /* after an ext: a new piece */
	/* A tagged field whose size is known only after writing it. */
	sl_wbuf_init(&t, &a);
	sl_wbuf_cstr(&t, "tagged");
	sl_wbuf_uvarint(&w, (uint32_t)t.len);
	sl_wbuf_splice(&w, &t);
	sl_wbuf_i8(&w, 9);
	/* Bytes: small is copied, large referenced. */
	assert_int_equal(sl_chain_from_buf(&ch, &a, big, 10), 0);
	sl_wbuf_bytes(&w, &ch, true);
	assert_int_equal(sl_chain_from_buf(&ch, &a, big, 1000), 0);
	sl_wbuf_compact_bytes(&w, &ch, true);
	assert_int_equal(w.err, 0);
	sl_put_be32(size, (uint32_t)(w.len - 4));

	out = sl_arena_alloc(&a, w.len);
	n = flat(&w, out, w.len);
	assert_int_equal(n, 4 + 2 + 4000 + 2 + 1 + 8 + 1 + 14 + 2 + 1000);
	assert_int_equal(sl_be32(out), n - 4);
	assert_int_equal(sl_be16(out + 4), 7);
	assert_memory_equal(out + 6, big, sizeof(big));
	assert_int_equal(sl_be16(out + 4006), 8);
	assert_int_equal(out[4008], 8);
	assert_memory_equal(out + 4009, "\0\6tagged", 8);
	assert_int_equal(out[4017], 9);
	assert_int_equal(sl_be32(out + 4018), 10);
	assert_memory_equal(out + 4022, big, 10);
	assert_memory_equal(out + 4032, "\xe9\x07", 2); /* uvarint 1001 */
	assert_memory_equal(out + 4034, big, 1000);
	/* The big blobs were referenced, not copied. */
	{
		unsigned refs = 0;

		for (unsigned i = 0; i < w.niov; i++)
			refs += w.iov[i].iov_base == big;
		assert_int_equal(refs, 2);
	}
	sl_arena_fini(&a);
}

static void
test_kbuf_wbuf_many_iovecs_grow(void **state)
{
	static uint8_t blob[300];
	struct sl_arena a;
	struct sl_wbuf w;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	sl_wbuf_init(&w, &a);
	for (int i = 0; i < 100; i++) {
		sl_wbuf_i32(&w, i);
		sl_wbuf_ext(&w, blob, sizeof(blob));
	}
	assert_int_equal(w.err, 0);
	assert_int_equal(w.niov, 200);
	assert_int_equal(w.len, 100 * 304);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(w.iov[2 * i].iov_len, 4);
		assert_int_equal(sl_be32(w.iov[2 * i].iov_base), i);
		assert_ptr_equal(w.iov[2 * i + 1].iov_base, blob);
	}
	sl_arena_fini(&a);
}

static void
test_kbuf_wbuf_arena_exhausted_sets_enomem(void **state)
{
	struct sl_arena a;
	struct sl_wbuf w;

	(void)state;
	assert_int_equal(sl_arena_init(&a, 1024, 4096), 0);
	sl_wbuf_init(&w, &a);
	for (int i = 0; i < 10000 && !w.err; i++)
		sl_wbuf_i64(&w, i);
	assert_int_equal(w.err, -ENOMEM);
	/* Later writes are dropped quietly. */
	sl_wbuf_i64(&w, 1);
	assert_int_equal(w.err, -ENOMEM);
	sl_arena_fini(&a);
}

static void
test_kbuf_wbuf_bad_inputs_set_err(void **state)
{
	static char longs[40000];
	struct sl_arena a;
	struct sl_wbuf w;
	struct sl_chain liar = {NULL, 0, 10}; /* claims 10 bytes, holds none */

	(void)state;
	memset(longs, 'a', sizeof(longs) - 1);
	assert_int_equal(sl_arena_init(&a, 4096, 1 << 20), 0);
	sl_wbuf_init(&w, &a);
	sl_wbuf_cstr(&w, longs); /* > int16 length */
	assert_int_equal(w.err, -EMSGSIZE);
	sl_wbuf_init(&w, &a);
	sl_wbuf_bytes(&w, &liar, false);
	assert_int_equal(w.err, -EINVAL);
	sl_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kbuf_arena_alloc_aligned_and_capped),
	        cmocka_unit_test(test_kbuf_arena_reset_reuses_blocks),
	        cmocka_unit_test(test_kbuf_arena_reset_frees_oversized),
	        cmocka_unit_test(test_kbuf_crd_split_every_position_matches_contiguous),
	        cmocka_unit_test(test_kbuf_crd_truncated_every_length_fails),
	        cmocka_unit_test(test_kbuf_crd_views_point_into_segments),
	        cmocka_unit_test(test_kbuf_crd_lying_lengths_rejected),
	        cmocka_unit_test(test_kbuf_crd_error_is_sticky),
	        cmocka_unit_test(test_kbuf_crd_tags_skip_and_bounds),
	        cmocka_unit_test(test_kbuf_wbuf_small_writes_coalesce),
	        cmocka_unit_test(test_kbuf_wbuf_ext_reserve_splice),
	        cmocka_unit_test(test_kbuf_wbuf_many_iovecs_grow),
	        cmocka_unit_test(test_kbuf_wbuf_arena_exhausted_sets_enomem),
	        cmocka_unit_test(test_kbuf_wbuf_bad_inputs_set_err),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
