// SPDX-License-Identifier: Apache-2.0
/* Unit tests for storage/codec: round trips, xerial snappy, corrupt input, small buffers. */
#include <errno.h>
#include <lz4frame.h>
#include <pthread.h>
#include <setjmp.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "storage/codec.h"
#include "storage/rbatch.h"

static const int codecs[] = {SL_CODEC_GZIP, SL_CODEC_SNAPPY, SL_CODEC_LZ4, SL_CODEC_ZSTD};

/* Deterministic test data: text-like when compressible, xorshift noise otherwise. */
static void
fill(uint8_t *p, size_t n, bool compressible, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = compressible ? (uint8_t)("sluice record batch "[i % 20] + (x % 64 == 0))
		                    : (uint8_t)x;
	}
}

/* Compresses n bytes of src with codec into a fresh exact-size buffer. */
static uint8_t *
compress_alloc(int codec, const uint8_t *src, size_t n, size_t *out_len)
{
	size_t bound = sl_codec_bound(codec, n);
	uint8_t *tmp = malloc(bound ? bound : 1), *res;
	int64_t c;

	assert_non_null(tmp);
	c = sl_codec_compress(codec, src, n, tmp, bound);
	assert_true(c >= 0);
	res = malloc(c ? (size_t)c : 1);
	assert_non_null(res);
	memcpy(res, tmp, (size_t)c);
	free(tmp);
	*out_len = (size_t)c;
	return res;
}

static void
test_codec_roundtrip_every_codec_matches(void **state)
{
	const size_t sizes[] = {0, 1, 100, 4096, 65535, 65536, 65537, 300000};

	(void)state;
	for (unsigned c = 0; c < SL_ARRAY_SIZE(codecs); c++) {
		for (unsigned s = 0; s < SL_ARRAY_SIZE(sizes); s++) {
			for (int comp = 0; comp < 2; comp++) {
				size_t n = sizes[s], clen;
				uint8_t *src = malloc(n + 1), *dst = malloc(n + 1), *z;
				int64_t d;

				fill(src, n, comp, (uint32_t)(s + 1));
				z = compress_alloc(codecs[c], src, n, &clen);
				assert_true(clen > 0);
				assert_true(clen <= sl_codec_bound(codecs[c], n));
				d = sl_codec_decompress(codecs[c], z, clen, dst, n);
				assert_int_equal(d, (int64_t)n);
				assert_memory_equal(src, dst, n);
				if (comp && n >= 4096)
					assert_true(clen < n / 2);
				free(src);
				free(dst);
				free(z);
			}
		}
	}
}

static void
test_codec_none_copies_and_bounds(void **state)
{
	uint8_t src[10] = "0123456789", dst[10];

	(void)state;
	assert_int_equal(sl_codec_bound(SL_CODEC_NONE, 10), 10);
	assert_int_equal(sl_codec_decompress(SL_CODEC_NONE, src, 10, dst, 10), 10);
	assert_memory_equal(src, dst, 10);
	assert_int_equal(sl_codec_decompress(SL_CODEC_NONE, src, 10, dst, 9), -ENOBUFS);
	assert_int_equal(sl_codec_compress(SL_CODEC_NONE, src, 10, dst, 10), 10);
}

static void
test_codec_unknown_codec_enotsup(void **state)
{
	uint8_t src[4] = {1, 2, 3, 4}, dst[64];

	(void)state;
	for (int c = 5; c <= 8; c++) {
		assert_int_equal(sl_codec_decompress(c, src, 4, dst, sizeof(dst)), -ENOTSUP);
		assert_int_equal(sl_codec_compress(c, src, 4, dst, sizeof(dst)), -ENOTSUP);
		assert_int_equal(sl_codec_bound(c, 4), 0);
		assert_string_equal(sl_codec_name(c), "unknown");
	}
	assert_int_equal(sl_codec_decompress(-1, src, 4, dst, sizeof(dst)), -ENOTSUP);
	assert_string_equal(sl_codec_name(SL_CODEC_ZSTD), "zstd");
	assert_string_equal(sl_codec_name(SL_CODEC_GZIP), "gzip");
}

static void
test_codec_small_dst_enobufs_exact_ok(void **state)
{
	const size_t sizes[] = {1, 777, 65536, 200000};

	(void)state;
	for (unsigned c = 0; c < SL_ARRAY_SIZE(codecs); c++) {
		for (unsigned s = 0; s < SL_ARRAY_SIZE(sizes); s++) {
			size_t n = sizes[s], clen;
			uint8_t *src = malloc(n), *dst, *z;

			fill(src, n, true, 7);
			z = compress_alloc(codecs[c], src, n, &clen);
			/* Exact-size heap buffers let ASan catch a write past cap. */
			dst = malloc(n - 1 ? n - 1 : 1);
			assert_int_equal(sl_codec_decompress(codecs[c], z, clen, dst, n - 1),
			                 -ENOBUFS);
			assert_int_equal(sl_codec_decompress(codecs[c], z, clen, dst, 0), -ENOBUFS);
			free(dst);
			dst = malloc(n);
			assert_int_equal(sl_codec_decompress(codecs[c], z, clen, dst, n),
			                 (int64_t)n);
			assert_memory_equal(src, dst, n);
			free(dst);
			free(src);
			free(z);
		}
	}
}

static void
test_codec_truncated_input_ebadmsg(void **state)
{
	size_t n = 50000, clen;
	uint8_t *src = malloc(n), *dst = malloc(n);

	(void)state;
	fill(src, n, true, 3);
	for (unsigned c = 0; c < SL_ARRAY_SIZE(codecs); c++) {
		uint8_t *z = compress_alloc(codecs[c], src, n, &clen);
		const size_t cuts[] = {0, 1, 2, 5, clen / 2, clen - 1};

		for (unsigned k = 0; k < SL_ARRAY_SIZE(cuts); k++) {
			uint8_t *cut = malloc(cuts[k] ? cuts[k] : 1);

			memcpy(cut, z, cuts[k]);
			assert_int_equal(sl_codec_decompress(codecs[c], cut, cuts[k], dst, n),
			                 -EBADMSG);
			free(cut);
		}
		free(z);
	}
	free(src);
	free(dst);
}

static void
test_codec_garbage_input_ebadmsg(void **state)
{
	uint8_t junk[256], dst[4096];

	(void)state;
	fill(junk, sizeof(junk), false, 11);
	junk[0] = 0xff; /* not a snappy length a 256-byte input can hold, not a gzip magic */
	junk[1] = 0xff;
	junk[2] = 0xff;
	junk[3] = 0xff;
	junk[4] = 0x0f;
	for (unsigned c = 0; c < SL_ARRAY_SIZE(codecs); c++) {
		int64_t r = sl_codec_decompress(codecs[c], junk, sizeof(junk), dst, sizeof(dst));

		/* snappy's first varint claims ~4 GiB: that is "does not fit", not corrupt. */
		if (codecs[c] == SL_CODEC_SNAPPY)
			assert_true(r == -EBADMSG || r == -ENOBUFS);
		else
			assert_int_equal(r, -EBADMSG);
	}
}

static void
test_codec_gzip_bad_crc_ebadmsg(void **state)
{
	size_t n = 1000, clen;
	uint8_t *src = malloc(n), *dst = malloc(n), *z;

	(void)state;
	fill(src, n, true, 5);
	z = compress_alloc(SL_CODEC_GZIP, src, n, &clen);
	z[clen - 6] ^= 0x01; /* CRC32 of the trailer */
	assert_int_equal(sl_codec_decompress(SL_CODEC_GZIP, z, clen, dst, n), -EBADMSG);
	z[clen - 6] ^= 0x01;
	z[clen - 2] ^= 0x01; /* ISIZE */
	assert_int_equal(sl_codec_decompress(SL_CODEC_GZIP, z, clen, dst, n), -EBADMSG);
	free(src);
	free(dst);
	free(z);
}

/* Several gzip members, lz4 frames or zstd frames back to back decode as one stream. */
static void
test_codec_concatenated_frames_decode(void **state)
{
	const int multi[] = {SL_CODEC_GZIP, SL_CODEC_LZ4, SL_CODEC_ZSTD};
	uint8_t a[3000], b[5000], dst[8000];

	(void)state;
	fill(a, sizeof(a), true, 1);
	fill(b, sizeof(b), false, 2);
	for (unsigned c = 0; c < SL_ARRAY_SIZE(multi); c++) {
		size_t la, lb;
		uint8_t *za = compress_alloc(multi[c], a, sizeof(a), &la);
		uint8_t *zb = compress_alloc(multi[c], b, sizeof(b), &lb);
		uint8_t *both = malloc(la + lb + 1);

		memcpy(both, za, la);
		memcpy(both + la, zb, lb);
		assert_int_equal(sl_codec_decompress(multi[c], both, la + lb, dst, sizeof(dst)),
		                 (int64_t)(sizeof(a) + sizeof(b)));
		assert_memory_equal(dst, a, sizeof(a));
		assert_memory_equal(dst + sizeof(a), b, sizeof(b));
		assert_int_equal(sl_codec_decompress(multi[c], both, la + lb, dst, sizeof(a) + 10),
		                 -ENOBUFS);
		/* Trailing junk after a complete member/frame is corrupt input. */
		both[la] = 0x42;
		assert_int_equal(sl_codec_decompress(multi[c], both, la + 1, dst, sizeof(dst)),
		                 -EBADMSG);
		free(za);
		free(zb);
		free(both);
	}
}

/* Builds an xerial (snappy-java) stream of the given chunks. */
static size_t
xerial_build(uint8_t *out, const uint8_t *src, const size_t *chunks, unsigned nchunks)
{
	static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
	                                0,    0,   0,   1,   0,   0,   0,   1};
	size_t o = sizeof(hdr), off = 0;

	memcpy(out, hdr, sizeof(hdr));
	for (unsigned i = 0; i < nchunks; i++) {
		size_t clen = snappy_max_compressed_length(chunks[i]);

		assert_int_equal(snappy_compress((const char *)src + off, chunks[i],
		                                 (char *)out + o + 4, &clen),
		                 SNAPPY_OK);
		sl_put_be32(out + o, (uint32_t)clen);
		o += 4 + clen;
		off += chunks[i];
	}
	return o;
}

static void
test_codec_snappy_xerial_decodes(void **state)
{
	const size_t chunks[] = {32768, 32768, 1234};
	size_t n = 32768 * 2 + 1234, xl;
	uint8_t *src = malloc(n), *x = malloc(2 * n + 100), *dst = malloc(n);

	(void)state;
	fill(src, n, true, 9);
	xl = xerial_build(x, src, chunks, 3);
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, xl, dst, n), (int64_t)n);
	assert_memory_equal(src, dst, n);
	/* Too small for the last chunk. */
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, xl, dst, n - 1), -ENOBUFS);
	/* Cut inside a block, inside a block length, and inside the 16-byte header. */
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, xl - 1, dst, n), -EBADMSG);
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, 18, dst, n), -EBADMSG);
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, 12, dst, n), -EBADMSG);
	/* Header only: an empty stream. */
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, 16, dst, n), 0);
	/* A block length running past the end. */
	sl_put_be32(x + 16, (uint32_t)xl);
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, xl, dst, n), -EBADMSG);
	sl_put_be32(x + 16, 0);
	assert_int_equal(sl_codec_decompress(SL_CODEC_SNAPPY, x, xl, dst, n), -EBADMSG);
	free(src);
	free(x);
	free(dst);
}

/* Frames other writers produce: zstd streaming frames without a content size (librdkafka),
 * lz4 frames with content size, checksums, linked or 4 MiB blocks. */
static void
test_codec_foreign_frame_options_decode(void **state)
{
	const size_t n = 300000;
	uint8_t *src = malloc(n), *z = malloc(2 * n), *dst = malloc(n);
	LZ4F_preferences_t prefs[4];
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	ZSTD_outBuffer out = {z, 2 * n, 0};
	ZSTD_inBuffer in = {src, n, 0};

	(void)state;
	fill(src, n, true, 21);
	assert_int_equal(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0), 0);
	assert_int_equal(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
	ZSTD_freeCCtx(cc);
	assert_true(ZSTD_getFrameContentSize(z, out.pos) == ZSTD_CONTENTSIZE_UNKNOWN);
	assert_int_equal(sl_codec_decompress(SL_CODEC_ZSTD, z, out.pos, dst, n), (int64_t)n);
	assert_memory_equal(src, dst, n);
	assert_int_equal(sl_codec_decompress(SL_CODEC_ZSTD, z, out.pos, dst, n - 1), -ENOBUFS);

	memset(prefs, 0, sizeof(prefs));
	prefs[0].frameInfo.contentSize = n;
	prefs[0].frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs[1].frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	prefs[1].frameInfo.blockMode = LZ4F_blockLinked;
	prefs[2].frameInfo.blockSizeID = LZ4F_max4MB;
	prefs[2].frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs[3].frameInfo.blockSizeID = LZ4F_max256KB;
	prefs[3].compressionLevel = 9; /* HC */
	for (unsigned i = 0; i < SL_ARRAY_SIZE(prefs); i++) {
		size_t zl = LZ4F_compressFrame(z, 2 * n, src, n, &prefs[i]);

		assert_false(LZ4F_isError(zl));
		memset(dst, 0, n);
		assert_int_equal(sl_codec_decompress(SL_CODEC_LZ4, z, zl, dst, n), (int64_t)n);
		assert_memory_equal(src, dst, n);
		assert_int_equal(sl_codec_decompress(SL_CODEC_LZ4, z, zl, dst, n - 1), -ENOBUFS);
		assert_int_equal(sl_codec_decompress(SL_CODEC_LZ4, z, zl - 1, dst, n), -EBADMSG);
		if (prefs[i].frameInfo.contentChecksumFlag) {
			z[zl - 1] ^= 0x40; /* the content checksum catches it */
			assert_int_equal(sl_codec_decompress(SL_CODEC_LZ4, z, zl, dst, n),
			                 -EBADMSG);
		}
	}
	free(src);
	free(z);
	free(dst);
}

static void *
thread_decompress(void *arg)
{
	const uint8_t *z = arg;
	uint8_t dst[100];

	if (sl_codec_thread_init())
		return (void *)1;
	/* z is a zstd frame of 100 bytes compressed on the main thread. */
	if (sl_codec_decompress(SL_CODEC_ZSTD, z + sizeof(size_t), *(const size_t *)(const void *)z,
	                        dst, sizeof(dst)) != 100)
		return (void *)2;
	return NULL;
}

/* Per-thread contexts: created by sl_codec_thread_init, freed at thread exit (LSan checks). */
static void
test_codec_thread_contexts_work_and_free(void **state)
{
	uint8_t src[100], *z, *msg;
	size_t zl;
	pthread_t th;
	void *ret;

	(void)state;
	assert_int_equal(sl_codec_thread_init(), 0);
	assert_int_equal(sl_codec_thread_init(), 0);
	fill(src, sizeof(src), true, 4);
	z = compress_alloc(SL_CODEC_ZSTD, src, sizeof(src), &zl);
	msg = malloc(sizeof(size_t) + zl);
	memcpy(msg, &zl, sizeof(size_t));
	memcpy(msg + sizeof(size_t), z, zl);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_create(&th, NULL, thread_decompress, msg), 0);
		assert_int_equal(pthread_join(th, &ret), 0);
		assert_null(ret);
	}
	free(z);
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_codec_roundtrip_every_codec_matches),
	        cmocka_unit_test(test_codec_none_copies_and_bounds),
	        cmocka_unit_test(test_codec_unknown_codec_enotsup),
	        cmocka_unit_test(test_codec_small_dst_enobufs_exact_ok),
	        cmocka_unit_test(test_codec_truncated_input_ebadmsg),
	        cmocka_unit_test(test_codec_garbage_input_ebadmsg),
	        cmocka_unit_test(test_codec_gzip_bad_crc_ebadmsg),
	        cmocka_unit_test(test_codec_concatenated_frames_decode),
	        cmocka_unit_test(test_codec_snappy_xerial_decodes),
	        cmocka_unit_test(test_codec_foreign_frame_options_decode),
	        cmocka_unit_test(test_codec_thread_contexts_work_and_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
