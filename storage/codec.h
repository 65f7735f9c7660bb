/* SPDX-License-Identifier: Apache-2.0 */
/*
 * codec.h: Kafka's record-batch compression codecs over Debian's libraries: gzip (ISA-L
 * igzip for inflate, zlib for deflate), snappy (raw, and the xerial framing that the Java
 * client and kafka-python write), lz4 (frame format), zstd. Pure functions; any thread;
 * no allocation beyond what the libraries do internally for compression contexts.
 */
#ifndef SL_STORAGE_CODEC_H
#define SL_STORAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decompresses src into dst (capacity cap); never writes outside dst[0..cap). Returns the
 * decompressed size, -ENOBUFS when dst is too small, -EBADMSG on corrupt or truncated input
 * (also for empty input with a real codec), -ENOTSUP for an unknown codec. Accepts what
 * Kafka's clients write: concatenated gzip members, raw or xerial-framed snappy, any lz4
 * frame options (several frames), zstd frames with or without a content size. */
int64_t sl_codec_decompress(int codec, const uint8_t *src, size_t len, uint8_t *dst,
			    size_t cap) SL_MUST_CHECK;

/* Upper bound of the compressed size of len bytes. */
size_t sl_codec_bound(int codec, size_t len);

/* Compresses src into dst (capacity >= sl_codec_bound). Returns the size or -errno. */
int64_t sl_codec_compress(int codec, const uint8_t *src, size_t len, uint8_t *dst,
			  size_t cap) SL_MUST_CHECK;

const char *sl_codec_name(int codec);

/*
 * Decompression keeps one context per thread (zstd, lz4 frame, ISA-L inflate state), created
 * on the thread's first decompression and freed when the thread exits. A shard calls this at
 * start-up so that its hot path never allocates (the lz4 context still grows its buffers
 * once, the first time it meets a larger block size). Returns 0 or -ENOMEM.
 */
int sl_codec_thread_init(void) SL_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
