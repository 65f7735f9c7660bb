/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bytes.h: big-endian loads and stores, Kafka varints (zigzag varint/varlong, unsigned
 * varint), and a read cursor with a sticky error over one contiguous buffer. Header only.
 *
 * The cursor never reads past its end: every read checks the remaining length, and on
 * underflow or a malformed varint sets rd->err and returns 0. Callers check rd->err once
 * per structure.
 */
#ifndef SL_COMMON_BYTES_H
#define SL_COMMON_BYTES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline uint16_t
sl_be16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return __builtin_bswap16(v);
}

static inline uint32_t
sl_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static inline uint64_t
sl_be64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline void
sl_put_be16(void *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	memcpy(p, &v, 2);
}

static inline void
sl_put_be32(void *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static inline void
sl_put_be64(void *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

/* Maximum encoded sizes. */
#define SL_VARINT_MAX 5
#define SL_VARLONG_MAX 10

static inline uint32_t
sl_zigzag32(int32_t v)
{
	return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static inline uint64_t
sl_zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Writes an unsigned LEB128 varint; returns the bytes written (buf needs 10). */
static inline size_t
sl_put_uvarint(uint8_t *buf, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	return n;
}

static inline size_t
sl_put_varint(uint8_t *buf, int32_t v)
{
	return sl_put_uvarint(buf, sl_zigzag32(v));
}

static inline size_t
sl_put_varlong(uint8_t *buf, int64_t v)
{
	return sl_put_uvarint(buf, sl_zigzag64(v));
}

static inline size_t
sl_uvarint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

struct sl_rd {
	const uint8_t *p;
	const uint8_t *end;
	int err; /* sticky: 0 or -EBADMSG */
};

static inline void
sl_rd_init(struct sl_rd *rd, const void *buf, size_t len)
{
	rd->p = (const uint8_t *)buf;
	rd->end = rd->p + len;
	rd->err = 0;
}

static inline size_t
sl_rd_left(const struct sl_rd *rd)
{
	return (size_t)(rd->end - rd->p);
}

static inline bool
sl_rd_need(struct sl_rd *rd, size_t n)
{
	if (rd->err || (size_t)(rd->end - rd->p) < n) {
		rd->err = -74; /* -EBADMSG */
		rd->p = rd->end;
		return false;
	}
	return true;
}

static inline uint8_t
sl_rd_u8(struct sl_rd *rd)
{
	return sl_rd_need(rd, 1) ? *rd->p++ : 0;
}

static inline uint16_t
sl_rd_be16(struct sl_rd *rd)
{
	uint16_t v;

	if (!sl_rd_need(rd, 2))
		return 0;
	v = sl_be16(rd->p);
	rd->p += 2;
	return v;
}

static inline uint32_t
sl_rd_be32(struct sl_rd *rd)
{
	uint32_t v;

	if (!sl_rd_need(rd, 4))
		return 0;
	v = sl_be32(rd->p);
	rd->p += 4;
	return v;
}

static inline uint64_t
sl_rd_be64(struct sl_rd *rd)
{
	uint64_t v;

	if (!sl_rd_need(rd, 8))
		return 0;
	v = sl_be64(rd->p);
	rd->p += 8;
	return v;
}

/* Returns a pointer to the next n bytes and skips them, or NULL (and sets err). */
static inline const uint8_t *
sl_rd_bytes(struct sl_rd *rd, size_t n)
{
	const uint8_t *p;

	if (!sl_rd_need(rd, n))
		return NULL;
	p = rd->p;
	rd->p += n;
	return p;
}

/* Unsigned LEB128 of at most max_bytes bytes (5 for 32-bit, 10 for 64-bit). */
static inline uint64_t
sl_rd_uvarint_n(struct sl_rd *rd, unsigned max_bytes)
{
	uint64_t v = 0;
	unsigned shift = 0, i;

	if (rd->err)
		return 0;
	for (i = 0; i < max_bytes; i++) {
		uint8_t b;

		if (rd->p >= rd->end)
			break;
		b = *rd->p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	rd->err = -74;
	rd->p = rd->end;
	return 0;
}

static inline uint32_t
sl_rd_uvarint(struct sl_rd *rd)
{
	uint64_t v = sl_rd_uvarint_n(rd, SL_VARINT_MAX);

	if (v > UINT32_MAX) {
		rd->err = -74;
		return 0;
	}
	return (uint32_t)v;
}

static inline int32_t
sl_rd_varint(struct sl_rd *rd)
{
	uint32_t u = sl_rd_uvarint(rd);

	return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

static inline int64_t
sl_rd_varlong(struct sl_rd *rd)
{
	uint64_t u = sl_rd_uvarint_n(rd, SL_VARLONG_MAX);

	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

#ifdef __cplusplus
}
#endif

#endif
