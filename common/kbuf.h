/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kbuf.h: the buffers of the request path, shared by every transport.
 *
 *  - struct sl_arena: a bump allocator over fixed blocks that a connection owns; reset
 *    after each response, never freed one object at a time.
 *  - struct sl_crd: a reader over a chain of borrowed segments (receive buffers, mbufs),
 *    with a sticky error. Kafka primitives (big-endian ints, varints, strings, bytes,
 *    arrays, compact forms, tagged fields) are read straight out of the segments; only a
 *    string that straddles two segments is copied, into the arena.
 *  - struct sl_wbuf: a response writer that builds a gather list: small fields go into
 *    arena memory, large blobs (fetched record batches) are referenced in place.
 *
 * Any thread; each object belongs to one thread at a time. No allocation beyond the
 * arena's blocks (which come from the block allocator given at init).
 */
#ifndef SL_COMMON_KBUF_H
#define SL_COMMON_KBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arena ---- */

struct sl_arena_blk {
	struct sl_arena_blk *next;
	size_t size; /* usable bytes after this header */
};

struct sl_arena {
	struct sl_arena_blk *head; /* current block */
	struct sl_arena_blk *spare; /* blocks kept across resets */
	uint8_t *cur, *end;
	size_t blk_size;  /* default block size */
	size_t max_bytes; /* cap on the total held (a request that needs more fails) */
	size_t held;
};

/* Sets up an arena with a first block of blk_size bytes, malloc'ed and pre-faulted now. */
int sl_arena_init(struct sl_arena *a, size_t blk_size, size_t max_bytes) SL_MUST_CHECK;
void sl_arena_fini(struct sl_arena *a);
/* Returns 8-byte aligned memory, or NULL past max_bytes. */
void *sl_arena_alloc(struct sl_arena *a, size_t n);
void *sl_arena_zalloc(struct sl_arena *a, size_t n);
/* Frees everything allocated since init; keeps the blocks for reuse. */
void sl_arena_reset(struct sl_arena *a);

/* ---- strings and byte ranges ---- */

/* A view; p points into a receive segment or the arena. len -1 = null. */
struct sl_str {
	const char *p;
	int32_t len;
};

/* A blob that may span segments (Produce records): iov entries in the arena. */
struct sl_chain {
	const struct iovec *iov;
	unsigned n;
	int64_t len; /* -1 = null */
};

/* ---- chain reader ---- */

struct sl_crd {
	const struct iovec *iov;     /* current segment */
	const struct iovec *iov_end;
	const uint8_t *p, *end;      /* position within the current segment */
	size_t left;                 /* bytes left in the whole chain */
	int err;                     /* sticky: 0 or -EBADMSG / -ENOMEM */
	struct sl_arena *arena;
};

/* Reads at most len bytes of the chain iov[0..n). */
void sl_crd_init(struct sl_crd *rd, const struct iovec *iov, unsigned n, size_t len,
		 struct sl_arena *arena);

int8_t sl_crd_i8(struct sl_crd *rd);
int16_t sl_crd_i16(struct sl_crd *rd);
int32_t sl_crd_i32(struct sl_crd *rd);
int64_t sl_crd_i64(struct sl_crd *rd);
uint32_t sl_crd_uvarint(struct sl_crd *rd);
int32_t sl_crd_varint(struct sl_crd *rd);
int64_t sl_crd_varlong(struct sl_crd *rd);
void sl_crd_uuid(struct sl_crd *rd, uint8_t out[16]);
void sl_crd_skip(struct sl_crd *rd, size_t n);
/* Copies n bytes to dst. */
void sl_crd_copy(struct sl_crd *rd, void *dst, size_t n);
/* Returns n contiguous bytes: in place if they lie in one segment, else copied into the
 * arena. NULL (and err) on underflow. */
const uint8_t *sl_crd_contig(struct sl_crd *rd, size_t n);

/* Kafka string (int16 length, -1 null) and compact string (uvarint len+1, 0 null). */
void sl_crd_string(struct sl_crd *rd, struct sl_str *out);
void sl_crd_compact_string(struct sl_crd *rd, struct sl_str *out);
/* Kafka bytes (int32 length) / compact bytes, as a chain view (no copy). */
void sl_crd_bytes_chain(struct sl_crd *rd, struct sl_chain *out);
void sl_crd_compact_bytes_chain(struct sl_crd *rd, struct sl_chain *out);
/* Array length: int32 (-1 null) / compact (uvarint n+1, 0 null). Rejects a count that
 * cannot fit in the bytes left (each element takes at least min_elem_bytes; 0 counts as 1).
 * Returns 0 with err set on error. */
int32_t sl_crd_array_len(struct sl_crd *rd, size_t min_elem_bytes);
int32_t sl_crd_compact_array_len(struct sl_crd *rd, size_t min_elem_bytes);
/* Skips a tagged-field section, or hands each field to fn (may be NULL). fn may read up
 * to size bytes of the field; what it leaves is skipped (sl_crd_tag_end). */
typedef void (*sl_crd_tag_fn)(struct sl_crd *rd, uint32_t tag, uint32_t size, void *arg);
void sl_crd_tags(struct sl_crd *rd, sl_crd_tag_fn fn, void *arg);

static inline size_t
sl_crd_left(const struct sl_crd *rd)
{
	return rd->left;
}

/* Reads a contiguous buffer: iov is the caller's single-entry storage and must outlive rd. */
void sl_crd_init_buf(struct sl_crd *rd, struct iovec *iov, const void *buf, size_t len,
		     struct sl_arena *arena);
/* Sets the sticky error (first error wins) and makes every later read fail. */
void sl_crd_fail(struct sl_crd *rd, int err);
/* Closes one tagged field that started when sl_crd_left() was left_at_start and declared
 * size bytes: skips what the reader did not consume, fails if it consumed more. */
void sl_crd_tag_end(struct sl_crd *rd, size_t left_at_start, uint32_t size);

/* Copies the chain's bytes (at most cap) to dst; returns the bytes the chain holds
 * (0 for null). */
size_t sl_chain_copyout(const struct sl_chain *c, void *dst, size_t cap);
/* Points c at n bytes of p (not copied; p must outlive c), with its iovec in the arena.
 * p NULL makes a null chain. 0 or -ENOMEM. */
int sl_chain_from_buf(struct sl_chain *c, struct sl_arena *a, const void *p, size_t n)
	SL_MUST_CHECK;

/* ---- gather writer ---- */

struct sl_wbuf {
	struct iovec *iov;   /* in the arena; grows by doubling into the arena */
	unsigned niov, cap;
	uint8_t *cur, *end;  /* free space of the current arena piece */
	size_t len;          /* total bytes written */
	int err;             /* sticky: 0 or -ENOMEM */
	struct sl_arena *arena;
};

void sl_wbuf_init(struct sl_wbuf *w, struct sl_arena *a);
void sl_wbuf_i8(struct sl_wbuf *w, int8_t v);
void sl_wbuf_i16(struct sl_wbuf *w, int16_t v);
void sl_wbuf_i32(struct sl_wbuf *w, int32_t v);
void sl_wbuf_i64(struct sl_wbuf *w, int64_t v);
void sl_wbuf_uvarint(struct sl_wbuf *w, uint32_t v);
void sl_wbuf_varint(struct sl_wbuf *w, int32_t v);
void sl_wbuf_uuid(struct sl_wbuf *w, const uint8_t v[16]);
/* Copies n bytes. */
void sl_wbuf_copy(struct sl_wbuf *w, const void *p, size_t n);
/* References n bytes in place (no copy); the caller keeps them alive until sent. */
void sl_wbuf_ext(struct sl_wbuf *w, const void *p, size_t n);
void sl_wbuf_string(struct sl_wbuf *w, const struct sl_str *s);
void sl_wbuf_compact_string(struct sl_wbuf *w, const struct sl_str *s);
void sl_wbuf_cstr(struct sl_wbuf *w, const char *s);         /* non-null, int16 length */
void sl_wbuf_compact_cstr(struct sl_wbuf *w, const char *s); /* NULL writes null */
/* Reserves n contiguous bytes to fill in later (e.g. a size prefix); NULL on error. */
uint8_t *sl_wbuf_reserve(struct sl_wbuf *w, size_t n);
/* Kafka bytes / compact bytes (null when c->len < 0). ext: reference the chain's memory in
 * place (sl_wbuf_ext; for records and other large blobs) instead of copying it. */
void sl_wbuf_bytes(struct sl_wbuf *w, const struct sl_chain *c, bool ext);
void sl_wbuf_compact_bytes(struct sl_wbuf *w, const struct sl_chain *c, bool ext);
/* Appends everything written to src (same arena) and consumes src: it must not be written
 * again. Used to learn a tagged field's size before writing it. */
void sl_wbuf_splice(struct sl_wbuf *w, struct sl_wbuf *src);
/* Sets the sticky error (first error wins); later writes are dropped. */
void sl_wbuf_fail(struct sl_wbuf *w, int err);
/* Copies the gathered bytes (at most cap) to dst; returns w->len. */
size_t sl_wbuf_copyout(const struct sl_wbuf *w, void *dst, size_t cap);

/* Empty tagged-field section. */
static inline void
sl_wbuf_no_tags(struct sl_wbuf *w)
{
	sl_wbuf_i8(w, 0);
}

#ifdef __cplusplus
}
#endif

#endif
