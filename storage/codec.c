// SPDX-License-Identifier: Apache-2.0
/*
 * codec.c: Kafka's record-batch codecs over Debian's libraries.
 *
 *   codec   decompress                          compress
 *   gzip    ISA-L isal_inflate (ISAL_GZIP),     zlib deflate, gzip wrapper, default level
 *           concatenated members accepted
 *   snappy  raw block, or xerial framing        raw block
 *   lz4     lz4 frame (LZ4F), several frames    one frame, 64 KiB independent blocks (what
 *                                               the Java client's KafkaLZ4BlockOutputStream writes)
 *   zstd    ZSTD_decompressDCtx (any frames)    ZSTD_compress level 3
 *
 * Every decompressor writes only into [dst, dst + cap) and tells "dst too small" (-ENOBUFS)
 * apart from "input corrupt" (-EBADMSG). Decompression contexts live one per thread (see
 * sl_codec_thread_init()); compression allocates inside the libraries and is not for the
 * hot path (compaction, tools and tests use it).
 */
#include "storage/codec.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <lz4frame.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/bytes.h"
#include "storage/rbatch.h"

/* xerial snappy-java stream: magic, int32 version, int32 compatible version, then blocks of
 * int32 length + raw snappy. */
static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HDR_SIZE 16

#define ZSTD_LEVEL 3

/* ---- per-thread decompression contexts ---- */

struct codec_tls {
	ZSTD_DCtx *zstd;
	LZ4F_dctx *lz4;
	struct inflate_state *gz;
	bool registered;
};

static __thread struct codec_tls tls;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_key_err;

static void
tls_free(void *arg)
{
	struct codec_tls *t = arg;

	ZSTD_freeDCtx(t->zstd);
	t->zstd = NULL;
	if (t->lz4)
		LZ4F_freeDecompressionContext(t->lz4);
	t->lz4 = NULL;
	free(t->gz);
	t->gz = NULL;
	t->registered = false;
}

static void
tls_key_create(void)
{
	tls_key_err = pthread_key_create(&tls_key, tls_free);
}

/* Registers the thread's contexts for freeing at thread exit. */
static int
tls_register(void)
{
	if (SL_LIKELY(tls.registered))
		return 0;
	pthread_once(&tls_once, tls_key_create);
	if (tls_key_err || pthread_setspecific(tls_key, &tls))
		return -ENOMEM;
	tls.registered = true;
	return 0;
}

static ZSTD_DCtx *
tls_zstd(void)
{
	if (SL_UNLIKELY(!tls.zstd)) {
		if (tls_register())
			return NULL;
		tls.zstd = ZSTD_createDCtx();
	}
	return tls.zstd;
}

static LZ4F_dctx *
tls_lz4(void)
{
	if (SL_UNLIKELY(!tls.lz4)) {
		if (tls_register())
			return NULL;
		if (LZ4F_isError(LZ4F_createDecompressionContext(&tls.lz4, LZ4F_VERSION)))
			tls.lz4 = NULL;
	}
	return tls.lz4;
}

static struct inflate_state *
tls_gz(void)
{
	if (SL_UNLIKELY(!tls.gz)) {
		if (tls_register())
			return NULL;
		tls.gz = malloc(sizeof(*tls.gz));
	}
	return tls.gz;
}

int
sl_codec_thread_init(void)
{
	if (!tls_zstd() || !tls_lz4() || !tls_gz())
		return -ENOMEM;
	return 0;
}

/* ---- decompression ---- */

static int64_t
gzip_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	struct inflate_state *st = tls_gz();
	uint8_t probe;
	bool probing = false;
	int ret;

	if (!st)
		return -ENOMEM;
	if (len > UINT32_MAX || cap > UINT32_MAX)
		return -EINVAL;
	isal_inflate_init(st);
	st->crc_flag = ISAL_GZIP;
	st->next_in = (uint8_t *)src;
	st->avail_in = (uint32_t)len;
	st->next_out = dst;
	st->avail_out = (uint32_t)cap;
	for (;;) {
		ret = isal_inflate(st);
		if (ret != ISAL_DECOMP_OK)
			return -EBADMSG;
		if (probing && st->avail_out == 0)
			return -ENOBUFS; /* more output than cap */
		if (st->block_state == ISAL_BLOCK_FINISH) {
			uint8_t *next_in = st->next_in, *next_out = st->next_out;
			uint32_t avail_in = st->avail_in, avail_out = st->avail_out;

			if (avail_in == 0)
				return probing ? (int64_t)cap : (int64_t)(next_out - dst);
			/* Another gzip member follows (what GZIPInputStream accepts). */
			isal_inflate_reset(st);
			st->crc_flag = ISAL_GZIP;
			st->next_in = next_in;
			st->avail_in = avail_in;
			st->next_out = next_out;
			st->avail_out = avail_out;
			continue;
		}
		if (st->avail_out == 0 && !probing) {
			/* dst is full: the stream may still end without more output (trailer). */
			probing = true;
			st->next_out = &probe;
			st->avail_out = 1;
			continue;
		}
		return -EBADMSG; /* input ended inside the stream */
	}
}

static int64_t
snappy_raw_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	size_t n;

	if (snappy_uncompressed_length((const char *)src, len, &n) != SNAPPY_OK)
		return -EBADMSG;
	if (n > cap)
		return -ENOBUFS;
	if (snappy_uncompress((const char *)src, len, (char *)dst, &n) != SNAPPY_OK)
		return -EBADMSG;
	return (int64_t)n;
}

static int64_t
snappy_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	size_t i, out = 0;

	if (len < sizeof(xerial_magic) || memcmp(src, xerial_magic, sizeof(xerial_magic)) != 0)
		return snappy_raw_decompress(src, len, dst, cap);
	if (len < XERIAL_HDR_SIZE)
		return -EBADMSG;
	for (i = XERIAL_HDR_SIZE; i < len;) {
		uint32_t blen;
		int64_t n;

		if (len - i < 4)
			return -EBADMSG;
		blen = sl_be32(src + i);
		i += 4;
		if (blen == 0 || blen > len - i)
			return -EBADMSG;
		n = snappy_raw_decompress(src + i, blen, dst + out, cap - out);
		if (n < 0)
			return n;
		out += (size_t)n;
		i += blen;
	}
	return (int64_t)out;
}

static int64_t
lz4_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	LZ4F_dctx *dctx = tls_lz4();
	size_t in = 0, out = 0, hint = 1;
	uint8_t probe;
	bool probing = false;

	if (!dctx)
		return -ENOMEM;
	LZ4F_resetDecompressionContext(dctx);
	for (;;) {
		size_t dsz = probing ? 1 : cap - out;
		size_t ssz = len - in;

		hint = LZ4F_decompress(dctx, probing ? &probe : dst + out, &dsz, src + in, &ssz,
		                       NULL);
		if (LZ4F_isError(hint)) {
			LZ4F_resetDecompressionContext(dctx);
			return -EBADMSG;
		}
		in += ssz;
		if (probing && dsz) {
			LZ4F_resetDecompressionContext(dctx);
			return -ENOBUFS;
		}
		if (!probing)
			out += dsz;
		if (hint == 0) {
			/* A frame ended; the context is ready for another one. */
			if (in == len)
				return (int64_t)out;
			continue;
		}
		if (out == cap && !probing) {
			probing = true;
			continue;
		}
		if (ssz == 0 && dsz == 0) {
			/* No progress: the input ended inside a frame. */
			LZ4F_resetDecompressionContext(dctx);
			return -EBADMSG;
		}
	}
}

static int64_t
zstd_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	ZSTD_DCtx *dctx = tls_zstd();
	size_t n;

	if (!dctx)
		return -ENOMEM;
	n = ZSTD_decompressDCtx(dctx, dst, cap, src, len);
	if (ZSTD_isError(n))
		return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ? -ENOBUFS : -EBADMSG;
	return (int64_t)n;
}

int64_t
sl_codec_decompress(int codec, const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	if (codec == SL_CODEC_NONE) {
		if (len > cap)
			return -ENOBUFS;
		if (len)
			memcpy(dst, src, len);
		return (int64_t)len;
	}
	if (codec < SL_CODEC_NONE || codec > SL_CODEC_ZSTD)
		return -ENOTSUP;
	if (len == 0)
		return -EBADMSG; /* every codec writes at least a header */
	switch (codec) {
	case SL_CODEC_GZIP:
		return gzip_decompress(src, len, dst, cap);
	case SL_CODEC_SNAPPY:
		return snappy_decompress(src, len, dst, cap);
	case SL_CODEC_LZ4:
		return lz4_decompress(src, len, dst, cap);
	default:
		return zstd_decompress(src, len, dst, cap);
	}
}

/* ---- compression ---- */

static const LZ4F_preferences_t lz4_prefs = {
        .frameInfo =
                {
                        .blockSizeID = LZ4F_max64KB,
                        .blockMode = LZ4F_blockIndependent,
                        .contentChecksumFlag = LZ4F_noContentChecksum,
                        .frameType = LZ4F_frame,
                        .blockChecksumFlag = LZ4F_noBlockChecksum,
                },
        .compressionLevel = 0,
};

size_t
sl_codec_bound(int codec, size_t len)
{
	switch (codec) {
	case SL_CODEC_NONE:
		return len;
	case SL_CODEC_GZIP:
		/* zlib's bound with its 6-byte wrapper, plus the 18-byte gzip wrapper. */
		return compressBound((uLong)len) + 18;
	case SL_CODEC_SNAPPY:
		return snappy_max_compressed_length(len);
	case SL_CODEC_LZ4:
		return LZ4F_compressFrameBound(len, &lz4_prefs);
	case SL_CODEC_ZSTD:
		return ZSTD_compressBound(len);
	default:
		return 0;
	}
}

static int64_t
gzip_compress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	z_stream zs;
	int ret;

	if (len > UINT32_MAX || cap > UINT32_MAX)
		return -EINVAL;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)src;
	zs.avail_in = (uInt)len;
	zs.next_out = dst;
	zs.avail_out = (uInt)cap;
	ret = deflate(&zs, Z_FINISH);
	deflateEnd(&zs);
	if (ret != Z_STREAM_END)
		return -ENOBUFS;
	return (int64_t)zs.total_out;
}

int64_t
sl_codec_compress(int codec, const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	size_t n;

	switch (codec) {
	case SL_CODEC_NONE:
		if (len > cap)
			return -ENOBUFS;
		if (len)
			memcpy(dst, src, len);
		return (int64_t)len;
	case SL_CODEC_GZIP:
		return gzip_compress(src, len, dst, cap);
	case SL_CODEC_SNAPPY:
		if (cap < snappy_max_compressed_length(len))
			return -ENOBUFS;
		n = cap;
		if (snappy_compress((const char *)src, len, (char *)dst, &n) != SNAPPY_OK)
			return -ENOBUFS;
		return (int64_t)n;
	case SL_CODEC_LZ4:
		if (cap < LZ4F_compressFrameBound(len, &lz4_prefs))
			return -ENOBUFS;
		n = LZ4F_compressFrame(dst, cap, src, len, &lz4_prefs);
		if (LZ4F_isError(n))
			return -ENOBUFS;
		return (int64_t)n;
	case SL_CODEC_ZSTD:
		n = ZSTD_compress(dst, cap, src, len, ZSTD_LEVEL);
		if (ZSTD_isError(n))
			return ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ? -ENOBUFS
			                                                           : -ENOMEM;
		return (int64_t)n;
	default:
		return -ENOTSUP;
	}
}

const char *
sl_codec_name(int codec)
{
	switch (codec) {
	case SL_CODEC_NONE:
		return "none";
	case SL_CODEC_GZIP:
		return "gzip";
	case SL_CODEC_SNAPPY:
		return "snappy";
	case SL_CODEC_LZ4:
		return "lz4";
	case SL_CODEC_ZSTD:
		return "zstd";
	default:
		return "unknown";
	}
}
