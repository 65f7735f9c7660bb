/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kbuf.c: the request-path buffers declared in kbuf.h: the per-connection arena, the
 * chain reader over borrowed receive segments and the gather writer for responses.
 *
 * Any thread; each object belongs to one thread at a time. The arena mallocs a block only
 * when its kept blocks are exhausted (start-up, or a request larger than any before);
 * readers and writers allocate only from the arena. Nothing here blocks.
 *
 * Chain reader invariants (struct sl_crd):
 *   1. left is the number of unread bytes from p to the end of the readable chain.
 *   2. p <= end, and end - p <= left: end is clipped where the chain's length ends.
 *   3. p == end only when left == 0 (empty segments are skipped eagerly, crd_norm()).
 *   4. Once err is set, left == 0 and every read returns zero / null.
 */
#include "common/kbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

/* ---- arena ---- */

#define ARENA_ALIGN 8u

static struct sl_arena_blk *
blk_new(struct sl_arena *a, size_t size)
{
	struct sl_arena_blk *b;

	if (a->held + size + sizeof(*b) > a->max_bytes)
		return NULL;
	b = malloc(sizeof(*b) + size);
	if (!b)
		return NULL;
	b->next = NULL;
	b->size = size;
	a->held += size + sizeof(*b);
	return b;
}

static void
arena_use(struct sl_arena *a, struct sl_arena_blk *b)
{
	b->next = a->head;
	a->head = b;
	a->cur = (uint8_t *)(b + 1);
	a->end = a->cur + b->size;
}

int
sl_arena_init(struct sl_arena *a, size_t blk_size, size_t max_bytes)
{
	struct sl_arena_blk *b;

	memset(a, 0, sizeof(*a));
	a->blk_size = SL_ALIGN_UP(blk_size < 256 ? (size_t)256 : blk_size, (size_t)ARENA_ALIGN);
	a->max_bytes = max_bytes;
	b = blk_new(a, a->blk_size);
	if (!b)
		return -ENOMEM;
	/* Pre-fault now: memory first touched on the request path costs a page fault. */
	memset(b + 1, 0, b->size);
	arena_use(a, b);
	return 0;
}

static void
blk_list_free(struct sl_arena_blk *b)
{
	while (b) {
		struct sl_arena_blk *next = b->next;

		free(b);
		b = next;
	}
}

void
sl_arena_fini(struct sl_arena *a)
{
	blk_list_free(a->head);
	blk_list_free(a->spare);
	memset(a, 0, sizeof(*a));
}

static void *
arena_alloc_slow(struct sl_arena *a, size_t n)
{
	struct sl_arena_blk **pp, *b;

	/* First fit among the kept blocks. */
	for (pp = &a->spare; *pp; pp = &(*pp)->next) {
		if ((*pp)->size >= n) {
			b = *pp;
			*pp = b->next;
			goto use;
		}
	}
	b = blk_new(a, n > a->blk_size ? SL_ALIGN_UP(n, (size_t)ARENA_ALIGN) : a->blk_size);
	if (!b)
		return NULL;
use:
	arena_use(a, b);
	a->cur += n;
	return b + 1;
}

void *
sl_arena_alloc(struct sl_arena *a, size_t n)
{
	void *p;

	if (n == 0)
		n = ARENA_ALIGN;
	if (n > a->max_bytes)
		return NULL;
	n = SL_ALIGN_UP(n, (size_t)ARENA_ALIGN);
	if ((size_t)(a->end - a->cur) < n)
		return arena_alloc_slow(a, n);
	p = a->cur;
	a->cur += n;
	return p;
}

void *
sl_arena_zalloc(struct sl_arena *a, size_t n)
{
	void *p = sl_arena_alloc(a, n);

	if (p)
		memset(p, 0, n);
	return p;
}

void
sl_arena_reset(struct sl_arena *a)
{
	struct sl_arena_blk *b = a->head, *next;

	/* Keep standard blocks for reuse; give back the oversized ones a single large
	 * request needed, so one big request does not pin its memory for good. */
	for (; b; b = next) {
		next = b->next;
		if (b->size > a->blk_size && (a->spare || next)) {
			a->held -= b->size + sizeof(*b);
			free(b);
			continue;
		}
		b->next = a->spare;
		a->spare = b;
	}
	a->head = NULL;
	b = a->spare;
	if (!b) {
		/* never initialised, or after fini */
		a->cur = a->end = NULL;
		return;
	}
	a->spare = b->next;
	arena_use(a, b);
}

/* ---- chain reader ---- */

static inline void
crd_norm(struct sl_crd *rd)
{
	while (rd->p == rd->end && rd->left > 0 && rd->iov + 1 < rd->iov_end) {
		size_t n;

		rd->iov++;
		n = SL_MIN(rd->iov->iov_len, rd->left);
		rd->p = (const uint8_t *)rd->iov->iov_base;
		rd->end = rd->p + n;
	}
}

void
sl_crd_init(struct sl_crd *rd, const struct iovec *iov, unsigned n, size_t len,
            struct sl_arena *arena)
{
	size_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	rd->iov = iov;
	rd->iov_end = iov + n;
	rd->left = SL_MIN(total, len);
	rd->err = 0;
	rd->arena = arena;
	if (n == 0) {
		rd->p = rd->end = NULL;
		return;
	}
	rd->p = (const uint8_t *)iov->iov_base;
	rd->end = rd->p + SL_MIN(iov->iov_len, rd->left);
	crd_norm(rd);
}

void
sl_crd_init_buf(struct sl_crd *rd, struct iovec *iov, const void *buf, size_t len,
                struct sl_arena *arena)
{
	iov->iov_base = (void *)(uintptr_t)buf;
	iov->iov_len = len;
	sl_crd_init(rd, iov, 1, len, arena);
}

void
sl_crd_fail(struct sl_crd *rd, int err)
{
	if (!rd->err)
		rd->err = err;
	rd->left = 0;
	rd->p = rd->end;
}

static inline void
crd_advance(struct sl_crd *rd, size_t n)
{
	rd->p += n;
	rd->left -= n;
	crd_norm(rd);
}

void
sl_crd_copy(struct sl_crd *rd, void *dst, size_t n)
{
	uint8_t *d = dst;

	if (rd->err || n > rd->left) {
		sl_crd_fail(rd, -EBADMSG);
		memset(dst, 0, n);
		return;
	}
	while (n) {
		size_t k = SL_MIN(n, (size_t)(rd->end - rd->p));

		memcpy(d, rd->p, k);
		d += k;
		n -= k;
		crd_advance(rd, k);
	}
}

void
sl_crd_skip(struct sl_crd *rd, size_t n)
{
	if (rd->err || n > rd->left) {
		sl_crd_fail(rd, -EBADMSG);
		return;
	}
	while (n) {
		size_t k = SL_MIN(n, (size_t)(rd->end - rd->p));

		n -= k;
		crd_advance(rd, k);
	}
}

/* Fixed-size reads: straight from the segment when it holds all n bytes. */
static inline const uint8_t *
crd_fixed(struct sl_crd *rd, uint8_t *tmp, size_t n)
{
	const uint8_t *p;

	if (SL_LIKELY((size_t)(rd->end - rd->p) >= n)) {
		p = rd->p;
		crd_advance(rd, n);
		return p;
	}
	sl_crd_copy(rd, tmp, n);
	return tmp;
}

int8_t
sl_crd_i8(struct sl_crd *rd)
{
	uint8_t tmp[1];

	return (int8_t)*crd_fixed(rd, tmp, 1);
}

int16_t
sl_crd_i16(struct sl_crd *rd)
{
	uint8_t tmp[2];

	return (int16_t)sl_be16(crd_fixed(rd, tmp, 2));
}

int32_t
sl_crd_i32(struct sl_crd *rd)
{
	uint8_t tmp[4];

	return (int32_t)sl_be32(crd_fixed(rd, tmp, 4));
}

int64_t
sl_crd_i64(struct sl_crd *rd)
{
	uint8_t tmp[8];

	return (int64_t)sl_be64(crd_fixed(rd, tmp, 8));
}

void
sl_crd_uuid(struct sl_crd *rd, uint8_t out[16])
{
	sl_crd_copy(rd, out, 16);
}

static uint64_t
crd_uvarint_n(struct sl_crd *rd, unsigned max_bytes)
{
	uint64_t v = 0;
	unsigned shift = 0;

	for (unsigned i = 0; i < max_bytes; i++) {
		uint8_t b;

		if (rd->err || rd->left == 0)
			break;
		b = *rd->p;
		crd_advance(rd, 1);
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
		shift += 7;
	}
	sl_crd_fail(rd, -EBADMSG);
	return 0;
}

uint32_t
sl_crd_uvarint(struct sl_crd *rd)
{
	uint64_t v = crd_uvarint_n(rd, SL_VARINT_MAX);

	if (v > UINT32_MAX) {
		sl_crd_fail(rd, -EBADMSG);
		return 0;
	}
	return (uint32_t)v;
}

int32_t
sl_crd_varint(struct sl_crd *rd)
{
	uint32_t u = sl_crd_uvarint(rd);

	return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t
sl_crd_varlong(struct sl_crd *rd)
{
	uint64_t u = crd_uvarint_n(rd, SL_VARLONG_MAX);

	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

const uint8_t *
sl_crd_contig(struct sl_crd *rd, size_t n)
{
	uint8_t *dst;

	if (rd->err || n > rd->left) {
		sl_crd_fail(rd, -EBADMSG);
		return NULL;
	}
	if ((size_t)(rd->end - rd->p) >= n) {
		const uint8_t *p = rd->p;

		crd_advance(rd, n);
		return p;
	}
	/* Straddles segments: the only case that copies. */
	dst = rd->arena ? sl_arena_alloc(rd->arena, n) : NULL;
	if (!dst) {
		sl_crd_fail(rd, -ENOMEM);
		return NULL;
	}
	sl_crd_copy(rd, dst, n);
	return dst;
}

static void
crd_str(struct sl_crd *rd, int64_t len, struct sl_str *out)
{
	out->p = NULL;
	out->len = 0;
	if (rd->err)
		return;
	if (len < 0) {
		out->len = -1;
		return;
	}
	if ((uint64_t)len > rd->left) {
		sl_crd_fail(rd, -EBADMSG);
		return;
	}
	if (len == 0) {
		out->p = "";
		return;
	}
	out->p = (const char *)sl_crd_contig(rd, (size_t)len);
	if (out->p)
		out->len = (int32_t)len;
}

void
sl_crd_string(struct sl_crd *rd, struct sl_str *out)
{
	int16_t len = sl_crd_i16(rd);

	if (len < -1) {
		sl_crd_fail(rd, -EBADMSG);
		len = 0;
	}
	crd_str(rd, len, out);
}

void
sl_crd_compact_string(struct sl_crd *rd, struct sl_str *out)
{
	uint32_t n = sl_crd_uvarint(rd);

	if (n > INT32_MAX) {
		sl_crd_fail(rd, -EBADMSG);
		n = 1;
	}
	crd_str(rd, (int64_t)n - 1, out);
}

static void
crd_chain(struct sl_crd *rd, int64_t len, struct sl_chain *out)
{
	struct iovec *iov;
	const struct iovec *seg;
	unsigned nseg;
	size_t rest, first;

	out->iov = NULL;
	out->n = 0;
	out->len = 0;
	if (rd->err)
		return;
	if (len < 0) {
		out->len = -1;
		return;
	}
	if ((uint64_t)len > rd->left) {
		sl_crd_fail(rd, -EBADMSG);
		return;
	}
	if (len == 0)
		return;
	/* Count the segments the blob touches, then describe them without copying. */
	first = SL_MIN((size_t)len, (size_t)(rd->end - rd->p));
	nseg = 1;
	for (rest = (size_t)len - first, seg = rd->iov + 1; rest; seg++) {
		if (seg->iov_len == 0)
			continue;
		rest -= SL_MIN(rest, seg->iov_len);
		nseg++;
	}
	iov = rd->arena ? sl_arena_alloc(rd->arena, nseg * sizeof(*iov)) : NULL;
	if (!iov) {
		sl_crd_fail(rd, -ENOMEM);
		return;
	}
	rest = (size_t)len;
	for (unsigned i = 0; i < nseg; i++) {
		size_t k = SL_MIN(rest, (size_t)(rd->end - rd->p));

		iov[i].iov_base = (void *)(uintptr_t)rd->p;
		iov[i].iov_len = k;
		rest -= k;
		crd_advance(rd, k);
	}
	out->iov = iov;
	out->n = nseg;
	out->len = len;
}

void
sl_crd_bytes_chain(struct sl_crd *rd, struct sl_chain *out)
{
	int32_t len = sl_crd_i32(rd);

	if (len < -1) {
		sl_crd_fail(rd, -EBADMSG);
		len = 0;
	}
	crd_chain(rd, len, out);
}

void
sl_crd_compact_bytes_chain(struct sl_crd *rd, struct sl_chain *out)
{
	uint32_t n = sl_crd_uvarint(rd);

	crd_chain(rd, (int64_t)n - 1, out);
}

static int32_t
crd_array_len(struct sl_crd *rd, int64_t n, size_t min_elem_bytes)
{
	if (rd->err)
		return 0;
	if (n < 0)
		return -1;
	if (min_elem_bytes == 0)
		min_elem_bytes = 1;
	/* A count the remaining bytes cannot hold is a lie: refuse before allocating. */
	if (n > INT32_MAX || (uint64_t)n > rd->left / min_elem_bytes) {
		sl_crd_fail(rd, -EBADMSG);
		return 0;
	}
	return (int32_t)n;
}

int32_t
sl_crd_array_len(struct sl_crd *rd, size_t min_elem_bytes)
{
	int32_t n = sl_crd_i32(rd);

	if (n < -1) {
		sl_crd_fail(rd, -EBADMSG);
		return 0;
	}
	return crd_array_len(rd, n, min_elem_bytes);
}

int32_t
sl_crd_compact_array_len(struct sl_crd *rd, size_t min_elem_bytes)
{
	uint32_t n = sl_crd_uvarint(rd);

	return crd_array_len(rd, (int64_t)n - 1, min_elem_bytes);
}

void
sl_crd_tag_end(struct sl_crd *rd, size_t left_at_start, uint32_t size)
{
	size_t used;

	if (rd->err)
		return;
	used = left_at_start - rd->left;
	if (used > size) {
		sl_crd_fail(rd, -EBADMSG);
		return;
	}
	sl_crd_skip(rd, size - used);
}

void
sl_crd_tags(struct sl_crd *rd, sl_crd_tag_fn fn, void *arg)
{
	uint32_t n = sl_crd_uvarint(rd);

	/* Each field takes at least two bytes (tag and size). */
	if (n > rd->left / 2) {
		sl_crd_fail(rd, -EBADMSG);
		return;
	}
	for (uint32_t i = 0; i < n && !rd->err; i++) {
		uint32_t tag = sl_crd_uvarint(rd);
		uint32_t size = sl_crd_uvarint(rd);
		size_t start = rd->left;

		if (rd->err || size > rd->left) {
			sl_crd_fail(rd, -EBADMSG);
			return;
		}
		if (fn)
			fn(rd, tag, size, arg);
		sl_crd_tag_end(rd, start, size);
	}
}

size_t
sl_chain_copyout(const struct sl_chain *c, void *dst, size_t cap)
{
	uint8_t *d = dst;
	size_t done = 0;

	if (c->len <= 0)
		return 0;
	for (unsigned i = 0; i < c->n && done < cap; i++) {
		size_t k = SL_MIN(c->iov[i].iov_len, cap - done);

		memcpy(d + done, c->iov[i].iov_base, k);
		done += k;
	}
	return (size_t)c->len;
}

int
sl_chain_from_buf(struct sl_chain *c, struct sl_arena *a, const void *p, size_t n)
{
	struct iovec *iov;

	c->iov = NULL;
	c->n = 0;
	c->len = p ? (int64_t)n : -1;
	if (!p || n == 0)
		return 0;
	iov = sl_arena_alloc(a, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	iov->iov_base = (void *)(uintptr_t)p;
	iov->iov_len = n;
	c->iov = iov;
	c->n = 1;
	return 0;
}

/* ---- gather writer ---- */

/* Arena piece for small writes; big enough that a typical response header and body are one
 * or two pieces, small enough to waste little of a 64 KiB arena block. */
#define WBUF_PIECE 1024u
#define WBUF_IOV0 16u
/* Blobs at most this long are copied rather than referenced: an iovec entry costs more. */
#define WBUF_EXT_MIN 256u

void
sl_wbuf_init(struct sl_wbuf *w, struct sl_arena *a)
{
	memset(w, 0, sizeof(*w));
	w->arena = a;
}

void
sl_wbuf_fail(struct sl_wbuf *w, int err)
{
	if (!w->err)
		w->err = err;
}

static bool
wbuf_push(struct sl_wbuf *w, const void *p, size_t n)
{
	if (w->niov == w->cap) {
		unsigned cap = w->cap ? w->cap * 2 : WBUF_IOV0;
		struct iovec *iov = sl_arena_alloc(w->arena, cap * sizeof(*iov));

		if (!iov) {
			sl_wbuf_fail(w, -ENOMEM);
			return false;
		}
		if (w->niov)
			memcpy(iov, w->iov, w->niov * sizeof(*iov));
		w->iov = iov;
		w->cap = cap;
	}
	w->iov[w->niov].iov_base = (void *)(uintptr_t)p;
	w->iov[w->niov].iov_len = n;
	w->niov++;
	return true;
}

/* n writable bytes that follow everything written so far; NULL after an error. */
static uint8_t *
wbuf_take(struct sl_wbuf *w, size_t n)
{
	uint8_t *p;

	if (w->err)
		return NULL;
	if ((size_t)(w->end - w->cur) < n) {
		size_t sz = SL_MAX((size_t)WBUF_PIECE, n);

		p = sl_arena_alloc(w->arena, sz);
		if (!p) {
			sl_wbuf_fail(w, -ENOMEM);
			return NULL;
		}
		w->cur = p;
		w->end = p + sz;
	}
	p = w->cur;
	if (w->niov && (uint8_t *)w->iov[w->niov - 1].iov_base + w->iov[w->niov - 1].iov_len == p)
		w->iov[w->niov - 1].iov_len += n;
	else if (!wbuf_push(w, p, n))
		return NULL;
	w->cur += n;
	w->len += n;
	return p;
}

void
sl_wbuf_i8(struct sl_wbuf *w, int8_t v)
{
	uint8_t *p = wbuf_take(w, 1);

	if (p)
		*p = (uint8_t)v;
}

void
sl_wbuf_i16(struct sl_wbuf *w, int16_t v)
{
	uint8_t *p = wbuf_take(w, 2);

	if (p)
		sl_put_be16(p, (uint16_t)v);
}

void
sl_wbuf_i32(struct sl_wbuf *w, int32_t v)
{
	uint8_t *p = wbuf_take(w, 4);

	if (p)
		sl_put_be32(p, (uint32_t)v);
}

void
sl_wbuf_i64(struct sl_wbuf *w, int64_t v)
{
	uint8_t *p = wbuf_take(w, 8);

	if (p)
		sl_put_be64(p, (uint64_t)v);
}

void
sl_wbuf_uvarint(struct sl_wbuf *w, uint32_t v)
{
	uint8_t *p = wbuf_take(w, sl_uvarint_size(v));

	if (p)
		sl_put_uvarint(p, v);
}

void
sl_wbuf_varint(struct sl_wbuf *w, int32_t v)
{
	sl_wbuf_uvarint(w, sl_zigzag32(v));
}

void
sl_wbuf_uuid(struct sl_wbuf *w, const uint8_t v[16])
{
	sl_wbuf_copy(w, v, 16);
}

void
sl_wbuf_copy(struct sl_wbuf *w, const void *p, size_t n)
{
	uint8_t *d;

	if (n == 0)
		return;
	d = wbuf_take(w, n);
	if (d)
		memcpy(d, p, n);
}

void
sl_wbuf_ext(struct sl_wbuf *w, const void *p, size_t n)
{
	if (w->err || n == 0)
		return;
	if (wbuf_push(w, p, n))
		w->len += n;
}

uint8_t *
sl_wbuf_reserve(struct sl_wbuf *w, size_t n)
{
	return wbuf_take(w, n);
}

void
sl_wbuf_string(struct sl_wbuf *w, const struct sl_str *s)
{
	if (s->len < 0) {
		sl_wbuf_i16(w, -1);
		return;
	}
	if (s->len > INT16_MAX) {
		sl_wbuf_fail(w, -EMSGSIZE);
		return;
	}
	sl_wbuf_i16(w, (int16_t)s->len);
	sl_wbuf_copy(w, s->p, (size_t)s->len);
}

void
sl_wbuf_compact_string(struct sl_wbuf *w, const struct sl_str *s)
{
	if (s->len < 0) {
		sl_wbuf_uvarint(w, 0);
		return;
	}
	sl_wbuf_uvarint(w, (uint32_t)s->len + 1);
	sl_wbuf_copy(w, s->p, (size_t)s->len);
}

void
sl_wbuf_cstr(struct sl_wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (n > INT16_MAX) {
		sl_wbuf_fail(w, -EMSGSIZE);
		return;
	}
	sl_wbuf_i16(w, (int16_t)n);
	sl_wbuf_copy(w, s, n);
}

void
sl_wbuf_compact_cstr(struct sl_wbuf *w, const char *s)
{
	size_t n;

	if (!s) {
		sl_wbuf_uvarint(w, 0);
		return;
	}
	n = strlen(s);
	if (n >= INT32_MAX) {
		sl_wbuf_fail(w, -EMSGSIZE);
		return;
	}
	sl_wbuf_uvarint(w, (uint32_t)n + 1);
	sl_wbuf_copy(w, s, n);
}

static void
wbuf_chain(struct sl_wbuf *w, const struct sl_chain *c, bool ext)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->n && done < (size_t)c->len; i++) {
		size_t k = SL_MIN(c->iov[i].iov_len, (size_t)c->len - done);

		if (ext && k > WBUF_EXT_MIN)
			sl_wbuf_ext(w, c->iov[i].iov_base, k);
		else
			sl_wbuf_copy(w, c->iov[i].iov_base, k);
		done += k;
	}
	if (done != (size_t)c->len)
		sl_wbuf_fail(w, -EINVAL); /* the chain holds fewer bytes than it claims */
}

void
sl_wbuf_bytes(struct sl_wbuf *w, const struct sl_chain *c, bool ext)
{
	if (c->len < 0) {
		sl_wbuf_i32(w, -1);
		return;
	}
	if (c->len > INT32_MAX) {
		sl_wbuf_fail(w, -EMSGSIZE);
		return;
	}
	sl_wbuf_i32(w, (int32_t)c->len);
	wbuf_chain(w, c, ext);
}

void
sl_wbuf_compact_bytes(struct sl_wbuf *w, const struct sl_chain *c, bool ext)
{
	if (c->len < 0) {
		sl_wbuf_uvarint(w, 0);
		return;
	}
	if (c->len >= INT32_MAX) {
		sl_wbuf_fail(w, -EMSGSIZE);
		return;
	}
	sl_wbuf_uvarint(w, (uint32_t)c->len + 1);
	wbuf_chain(w, c, ext);
}

void
sl_wbuf_splice(struct sl_wbuf *w, struct sl_wbuf *src)
{
	if (src->err)
		sl_wbuf_fail(w, src->err);
	for (unsigned i = 0; i < src->niov && !w->err; i++) {
		if (wbuf_push(w, src->iov[i].iov_base, src->iov[i].iov_len))
			w->len += src->iov[i].iov_len;
	}
	/* src's free space stays unused: writing there again would reorder the bytes. */
	src->cur = src->end = NULL;
	src->niov = 0;
	sl_wbuf_fail(src, -EINVAL);
}

size_t
sl_wbuf_copyout(const struct sl_wbuf *w, void *dst, size_t cap)
{
	uint8_t *d = dst;
	size_t done = 0;

	for (unsigned i = 0; i < w->niov && done < cap; i++) {
		size_t k = SL_MIN(w->iov[i].iov_len, cap - done);

		memcpy(d + done, w->iov[i].iov_base, k);
		done += k;
	}
	return w->len;
}
