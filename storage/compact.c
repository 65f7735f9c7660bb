/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compact.c: log compaction for cleanup.policy=compact (event sourcing, CDC, the offsets
 * log): keep the latest record of every key. Runs on the thread that owns the log, blocks
 * on file I/O, allocates its key map and buffers (never on the request path).
 *
 * A pass, over the "cleanable" segments: the closed, sealed segments from the start of
 * the log up to (not including) the first one that is active, unsealed, or has records
 * newer than min.compaction.lag.ms.
 *
 *   1. Map: read every record of the cleanable segments, in offset order, into a map
 *      key -> offset of its latest record. Keys are hashed with 128-bit SipHash-2-4 under
 *      a random per-pass key (so crafted keys cannot flood one bucket), and the key bytes
 *      are kept and compared, so two keys that share a hash never merge. When the map's
 *      memory budget fills, only the segments mapped completely are cleaned (offsets the
 *      partial segment put in the map are later than anything cleaned, so they can only
 *      supersede correctly).
 *   2. Clean: consecutive cleanable segments are grouped while their sizes add up to at
 *      most segment.bytes (and their offsets fit 32-bit relative offsets), and each group
 *      is rewritten into one file "<base of the group's first segment>.log.cleaned":
 *        - a record is kept when its key is null or the map says it is the latest;
 *        - a latest record with a null value (tombstone) is dropped once its batch is
 *          older than delete.retention.ms (batch maxTimestamp; segment mtime without one);
 *        - records keep their offsets: a rebuilt batch keeps baseOffset, lastOffsetDelta,
 *          baseTimestamp, producer id/epoch/baseSequence, attributes, leader epoch and
 *          codec (recompressed through rbuild.h), only the records in between go;
 *        - a batch with every record removed is dropped, except the group's last batch,
 *          which keeps at least its last record: the group still ends at the same offset
 *          (plog_int.h's swap contract; the next segment stays contiguous), and the last
 *          producer batch survives for idempotence as Kafka keeps it. (Kafka keeps an
 *          empty batch there; our recovery and some clients reject recordCount 0, so we
 *          keep one record instead: a possibly stale value that a later one supersedes.)
 *        - an unchanged batch is copied byte for byte;
 *        - transactional and control batches are copied unchanged and their records do
 *          not enter the map (an aborted transaction must not supersede anything; the
 *          transaction-aware cleaning of Kafka is not implemented).
 *      The file is fsynced, then sl_plog_seg_swap() renames it .cleaned -> .swap, deletes
 *      the old segments, renames .swap -> .log and rebuilds the indexes; a crash at any
 *      point is completed or rolled back by recovery (plog_int.h). A single segment with
 *      nothing to remove is not rewritten.
 *   3. Checkpoint: SL_CLEANER_CKPT gets the first offset after the cleaned range.
 *
 * Input is validated as it is read (header + CRC, record framing through the iterator):
 * a corrupt sealed segment stops the pass with -EBADMSG and changes nothing.
 */
#include "storage/compact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "storage/codec.h"
#include "storage/plog.h"
#include "storage/plog_int.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define MAP_BYTES_DEFAULT ((size_t)256 << 20)
#define MAP_CAP_MIN 1024u
#define READ_WINDOW (4u << 20)
#define WRITE_BUF (1u << 20)
#define SCRATCH_MIN (1u << 20)
#define SCRATCH_MAX (1u << 30)

/* ---- SipHash-2-4, 128-bit output (Aumasson & Bernstein, reference siphash.c) ---- */

static inline uint64_t
rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t
le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define SIPROUND                     \
	do {                         \
		v0 += v1;            \
		v1 = rotl64(v1, 13); \
		v1 ^= v0;            \
		v0 = rotl64(v0, 32); \
		v2 += v3;            \
		v3 = rotl64(v3, 16); \
		v3 ^= v2;            \
		v0 += v3;            \
		v3 = rotl64(v3, 21); \
		v3 ^= v0;            \
		v2 += v1;            \
		v1 = rotl64(v1, 17); \
		v1 ^= v2;            \
		v2 = rotl64(v2, 32); \
	} while (0)

void
sl_compact_siphash128(const uint8_t k[16], const void *buf, size_t len, uint64_t out[2])
{
	const uint8_t *p = buf;
	uint64_t k0 = le64(k), k1 = le64(k + 8);
	uint64_t v0 = 0x736f6d6570736575ull ^ k0;
	uint64_t v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0;
	uint64_t v3 = 0x7465646279746573ull ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	v1 ^= 0xee;
	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xee;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	out[0] = v0 ^ v1 ^ v2 ^ v3;
	v1 ^= 0xdd;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	out[1] = v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the key map: open addressing over (hash, key bytes) -> latest offset ---- */

struct kent {
	uint64_t h0, h1;
	int64_t offset;   /* -1: empty slot */
	uint64_t key_off; /* into kmap.keys */
	uint32_t key_len;
};

struct kmap {
	struct kent *tab;
	size_t cap, n; /* cap: power of two */
	uint8_t *keys;
	size_t keys_len, keys_cap;
	size_t budget;
	uint8_t sipkey[16];
	unsigned hash_bits; /* tests: keep this many hash bits (0 = 128) */
};

static int
kmap_alloc_tab(struct kmap *m, size_t cap)
{
	struct kent *t;

	if (cap * sizeof(*t) + m->keys_cap > m->budget)
		return -ENOSPC;
	t = malloc(cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < cap; i++)
		t[i].offset = -1;
	m->tab = t;
	m->cap = cap;
	return 0;
}

static int
kmap_init(struct kmap *m, size_t budget, unsigned hash_bits)
{
	memset(m, 0, sizeof(*m));
	m->budget = budget;
	m->hash_bits = hash_bits;
	if (getrandom(m->sipkey, sizeof(m->sipkey), GRND_NONBLOCK) != (ssize_t)sizeof(m->sipkey)) {
		/* No entropy yet (early boot): the clock still defeats precomputed keys. */
		int64_t t = sl_now_ns() ^ sl_wall_ms();

		memcpy(m->sipkey, &t, sizeof(t));
		memcpy(m->sipkey + 8, &m, sizeof(void *));
	}
	return kmap_alloc_tab(m, MAP_CAP_MIN);
}

static void
kmap_fini(struct kmap *m)
{
	free(m->tab);
	free(m->keys);
	memset(m, 0, sizeof(*m));
}

static void
kmap_hash(const struct kmap *m, const uint8_t *key, size_t len, uint64_t h[2])
{
	sl_compact_siphash128(m->sipkey, key, len, h);
	if (m->hash_bits && m->hash_bits < 64) {
		h[0] &= (1ull << m->hash_bits) - 1;
		h[1] = 0;
	} else if (m->hash_bits && m->hash_bits < 128) {
		h[1] &= (1ull << (m->hash_bits - 64)) - 1;
	}
}

/* The slot holding key, or the empty slot where it would go. */
static struct kent *
kmap_slot(const struct kmap *m, const uint64_t h[2], const uint8_t *key, uint32_t len)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)(h[0] ^ (h[0] >> 29) ^ h[1]) & mask;

	for (;;) {
		struct kent *e = &m->tab[i];

		if (e->offset < 0)
			return e;
		if (e->h0 == h[0] && e->h1 == h[1] && e->key_len == len &&
		    !memcmp(m->keys + e->key_off, key, len))
			return e;
		i = (i + 1) & mask;
	}
}

static int
kmap_grow(struct kmap *m)
{
	struct kent *old = m->tab;
	size_t ocap = m->cap;
	int r = kmap_alloc_tab(m, ocap * 2);

	if (r) {
		m->tab = old;
		m->cap = ocap;
		return r;
	}
	for (size_t i = 0; i < ocap; i++) {
		uint64_t h[2] = {old[i].h0, old[i].h1};
		struct kent *e;

		if (old[i].offset < 0)
			continue;
		e = kmap_slot(m, h, m->keys + old[i].key_off, old[i].key_len);
		*e = old[i];
	}
	free(old);
	return 0;
}

/* Records that key's latest offset is at least offset. -ENOSPC when the budget is used. */
static int
kmap_put(struct kmap *m, const uint8_t *key, uint32_t len, int64_t offset)
{
	uint64_t h[2];
	struct kent *e;
	int r;

	kmap_hash(m, key, len, h);
	e = kmap_slot(m, h, key, len);
	if (e->offset >= 0) {
		if (offset > e->offset)
			e->offset = offset;
		return 0;
	}
	/* Load factor 0.7 keeps probes short. */
	if ((m->n + 1) * 10 > m->cap * 7) {
		r = kmap_grow(m);
		if (r)
			return r;
		e = kmap_slot(m, h, key, len);
	}
	if (m->keys_len + len > m->keys_cap) {
		size_t ncap = m->keys_cap ? m->keys_cap : 64 * 1024;
		uint8_t *nk;

		while (ncap < m->keys_len + len)
			ncap *= 2;
		if (ncap + m->cap * sizeof(struct kent) > m->budget)
			return -ENOSPC;
		nk = realloc(m->keys, ncap);
		if (!nk)
			return -ENOMEM;
		m->keys = nk;
		m->keys_cap = ncap;
	}
	memcpy(m->keys + m->keys_len, key, len);
	e->h0 = h[0];
	e->h1 = h[1];
	e->key_off = m->keys_len;
	e->key_len = len;
	e->offset = offset;
	m->keys_len += len;
	m->n++;
	return 0;
}

/* The latest offset of key, or -1 if the map has not seen it. */
static int64_t
kmap_get(const struct kmap *m, const uint8_t *key, uint32_t len)
{
	uint64_t h[2];

	kmap_hash(m, key, len, h);
	return kmap_slot(m, h, key, len)->offset;
}

/* ---- sequential segment reader ---- */

struct rdr {
	int fd;
	uint64_t size; /* valid bytes of the segment */
	uint8_t *buf;
	size_t cap;
	uint64_t bpos; /* file position of buf[0] */
	size_t blen;
};

static int
rdr_open(struct rdr *r, int dirfd, const struct sl_seg *s)
{
	char name[48];

	sl_seg_name(name, sizeof(name), s->base_offset, ".log");
	memset(r, 0, sizeof(*r));
	r->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->size = s->size;
	r->cap = READ_WINDOW;
	r->buf = malloc(r->cap);
	if (!r->buf) {
		close(r->fd);
		return -ENOMEM;
	}
	return 0;
}

static void
rdr_close(struct rdr *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	r->buf = NULL;
	r->fd = -1;
}

/* Makes [pos, pos+n) of the file available; NULL with *err set on error or a short file. */
static const uint8_t *
rdr_get(struct rdr *r, uint64_t pos, size_t n, int *err)
{
	if (pos >= r->bpos && pos + n <= r->bpos + r->blen)
		return r->buf + (pos - r->bpos);
	if (pos + n > r->size) {
		*err = -EBADMSG;
		return NULL;
	}
	if (n > r->cap) {
		uint8_t *nb = malloc(n);

		if (!nb) {
			*err = -ENOMEM;
			return NULL;
		}
		free(r->buf);
		r->buf = nb;
		r->cap = n;
	}
	r->bpos = pos;
	r->blen = 0;
	while (r->blen < n) {
		size_t want = (size_t)SL_MIN((uint64_t)r->cap, r->size - pos) - r->blen;
		ssize_t got = pread(r->fd, r->buf + r->blen, want, (off_t)(pos + r->blen));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			*err = got < 0 ? -errno : -EBADMSG;
			return NULL;
		}
		r->blen += (size_t)got;
	}
	return r->buf;
}

/*
 * The next batch of the segment at *pos: validates header and CRC, advances *pos. Returns
 * 1 with the batch (p, total, h) filled, 0 at the end of the valid bytes, or -errno.
 */
static int
rdr_next(struct rdr *r, uint64_t *pos, const uint8_t **p, size_t *total, struct sl_rb_hdr *h)
{
	const uint8_t *q;
	int64_t t, v;
	int err = 0;

	if (*pos >= r->size)
		return 0;
	q = rdr_get(r, *pos, SL_RB_LOG_OVERHEAD, &err);
	if (!q)
		return err;
	t = sl_rb_total_size(q, SL_RB_LOG_OVERHEAD);
	if (t < 0 || (uint64_t)t > r->size - *pos)
		return -EBADMSG;
	q = rdr_get(r, *pos, (size_t)t, &err);
	if (!q)
		return err;
	v = sl_rb_validate(q, (size_t)t, 0, SL_RB_VALIDATE_NO_RECORDS | SL_RB_VALIDATE_STORED, NULL,
	                   h);
	if (v < 0)
		return -EBADMSG;
	*p = q;
	*total = (size_t)t;
	*pos += (uint64_t)t;
	return 1;
}

/* ---- a pass ---- */

struct pass {
	struct sl_plog *log;
	int64_t now_ms;
	struct kmap map;
	struct sl_rb_scratch dscratch; /* decompressed records */
	struct sl_rb_scratch cscratch; /* compression output */
	uint8_t *bbuf;                 /* a rebuilt batch */
	size_t bcap;
	struct sl_rb_rec *recs; /* the records of the current batch */
	size_t recs_cap;
	uint8_t *wbuf; /* output buffer of the .cleaned file */
	size_t wlen;
	int wfd;
	uint64_t wsize;
	struct sl_compact_stats *st;
};

static int
grow(void **p, size_t *cap, size_t need, size_t esz)
{
	size_t ncap = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * esz);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/*
 * Iterates the records of a batch into ps->recs (pointers into the batch or dscratch),
 * growing the scratch while the records do not fit. Returns the record count or -errno.
 */
static int64_t
load_records(struct pass *ps, const uint8_t *p, size_t total, const struct sl_rb_hdr *h)
{
	struct sl_rb_iter it;
	struct sl_rb_rec rec;
	int64_t n = 0;
	int r;

	for (;;) {
		r = sl_rb_iter_init(&it, p, total, &ps->dscratch);
		if (r != SL_RB_ETOOBIG || ps->dscratch.cap >= SCRATCH_MAX)
			break;
		free(ps->dscratch.buf);
		ps->dscratch.cap *= 4;
		ps->dscratch.buf = malloc(ps->dscratch.cap);
		if (!ps->dscratch.buf) {
			ps->dscratch.cap = 0;
			return -ENOMEM;
		}
	}
	if (r)
		return -EBADMSG;
	while ((r = sl_rb_iter_next(&it, &rec)) == 1) {
		if (grow((void **)&ps->recs, &ps->recs_cap, (size_t)n + 1, sizeof(rec)))
			return -ENOMEM;
		ps->recs[n++] = rec;
	}
	if (r < 0 || n != h->record_count)
		return -EBADMSG;
	return n;
}

static bool
batch_has_map_records(const struct sl_rb_hdr *h)
{
	return !(h->attributes & (SL_RB_ATTR_TRANSACTIONAL | SL_RB_ATTR_CONTROL));
}

/* Pass 1 over one segment. Returns 0, -ENOSPC (map full), or -errno. */
static int
map_segment(struct pass *ps, const struct sl_seg *s)
{
	struct rdr r;
	uint64_t pos = 0;
	const uint8_t *p;
	size_t total;
	struct sl_rb_hdr h;
	int ret;

	ret = rdr_open(&r, ps->log->dirfd, s);
	if (ret)
		return ret;
	while ((ret = rdr_next(&r, &pos, &p, &total, &h)) == 1) {
		int64_t n;

		if (!batch_has_map_records(&h))
			continue;
		n = load_records(ps, p, total, &h);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		for (int64_t i = 0; i < n; i++) {
			const struct sl_rb_rec *rec = &ps->recs[i];

			if (rec->key_len < 0)
				continue;
			ret = kmap_put(&ps->map, rec->key, (uint32_t)rec->key_len, rec->offset);
			if (ret)
				goto out;
		}
	}
out:
	rdr_close(&r);
	return ret;
}

static int
out_flush(struct pass *ps)
{
	size_t off = 0;

	while (off < ps->wlen) {
		ssize_t n = write(ps->wfd, ps->wbuf + off, ps->wlen - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	ps->wlen = 0;
	return 0;
}

static int
out_write(struct pass *ps, const uint8_t *p, size_t len)
{
	int r;

	ps->wsize += len;
	ps->st->batches_out++;
	ps->st->bytes_out += len;
	if (ps->wlen + len > WRITE_BUF) {
		r = out_flush(ps);
		if (r)
			return r;
	}
	if (len > WRITE_BUF) {
		ps->wlen = 0;
		while (len) {
			ssize_t n = write(ps->wfd, p, len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			p += n;
			len -= (size_t)n;
		}
		return 0;
	}
	memcpy(ps->wbuf + ps->wlen, p, len);
	ps->wlen += len;
	return 0;
}

enum fate { KEEP = 0, SUPERSEDED, EXPIRED_TOMBSTONE };

/* Whether the record survives: the latest of its key, and not an expired tombstone. */
static enum fate
record_fate(struct pass *ps, const struct sl_rb_rec *rec, bool tombstone_expired)
{
	int64_t latest;

	if (rec->key_len < 0)
		return KEEP; /* no key, nothing can supersede it */
	latest = kmap_get(&ps->map, rec->key, (uint32_t)rec->key_len);
	if (latest > rec->offset)
		return SUPERSEDED;
	if (rec->value_len < 0 && tombstone_expired)
		return EXPIRED_TOMBSTONE;
	return KEEP;
}

/* Rebuilds a batch from the records of ps->recs marked in keep[]. */
static int
rebuild(struct pass *ps, const struct sl_rb_hdr *h, const bool *keep, int64_t n)
{
	int codec = h->attributes & SL_RB_ATTR_CODEC_MASK;
	struct sl_rb_builder b;
	size_t raw = 0, cap;
	int64_t total;
	int r;

	for (int64_t i = 0; i < n; i++)
		if (keep[i])
			raw += ps->recs[i].raw_len;
	/* Re-encoded records are as long as the originals (same deltas); the slack covers a
	 * timestamp delta that needs a longer varint after LogAppendTime normalisation. */
	cap = SL_RB_HDR_SIZE + raw + 16 * (size_t)n + 64;
	if (grow((void **)&ps->bbuf, &ps->bcap, cap, 1))
		return -ENOMEM;
	if (codec != SL_CODEC_NONE) {
		size_t need = sl_codec_bound(codec, cap);

		if (need > ps->cscratch.cap) {
			free(ps->cscratch.buf);
			ps->cscratch.buf = malloc(need);
			ps->cscratch.cap = ps->cscratch.buf ? need : 0;
			if (!ps->cscratch.buf)
				return -ENOMEM;
		}
	}
	r = sl_rb_builder_init(&b, ps->bbuf, ps->bcap, codec, h->base_offset, h->base_timestamp,
	                       h->producer_id, h->producer_epoch, h->base_sequence);
	if (r)
		return r;
	sl_rb_builder_set_attrs(&b, (uint16_t)h->attributes);
	sl_rb_builder_set_partition_leader_epoch(&b, h->partition_leader_epoch);
	sl_rb_builder_set_last_offset_delta(&b, h->last_offset_delta);
	if (h->attributes & SL_RB_ATTR_TIMESTAMP_TYPE)
		sl_rb_builder_set_max_timestamp(&b, h->max_timestamp);
	for (int64_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		r = sl_rb_builder_add_raw(&b, &ps->recs[i]);
		if (r)
			return r;
	}
	total = sl_rb_builder_finish(&b, &ps->cscratch);
	if (total < 0)
		return (int)total;
	return out_write(ps, ps->bbuf, (size_t)total);
}

/*
 * Pass 2 over one segment of a group, appending what survives to the .cleaned file.
 * group_last: the last offset of the group (its batch is always kept).
 */
static int
clean_segment(struct pass *ps, const struct sl_seg *s, int64_t group_last)
{
	const struct sl_plog_cfg *cfg = &ps->log->cfg;
	struct rdr r;
	uint64_t pos = 0;
	const uint8_t *p;
	size_t total;
	struct sl_rb_hdr h;
	uint8_t *fate = NULL;
	bool *keep = NULL;
	size_t keep_cap = 0, fate_cap = 0;
	int ret;

	ret = rdr_open(&r, ps->log->dirfd, s);
	if (ret)
		return ret;
	while ((ret = rdr_next(&r, &pos, &p, &total, &h)) == 1) {
		int64_t last = h.base_offset + h.last_offset_delta, n, kept = 0;
		int64_t ts = h.max_timestamp >= 0 ? h.max_timestamp : s->mtime_ms;
		bool expired = ps->now_ms - ts > cfg->delete_retention_ms;
		bool group_end = last >= group_last;

		ps->st->batches_in++;
		ps->st->bytes_in += total;
		ps->st->records_in += (uint64_t)h.record_count;
		if (!batch_has_map_records(&h)) {
			ps->st->records_out += (uint64_t)h.record_count;
			ret = out_write(ps, p, total);
			if (ret)
				break;
			continue;
		}
		n = load_records(ps, p, total, &h);
		if (n < 0) {
			ret = (int)n;
			break;
		}
		if (grow((void **)&keep, &keep_cap, (size_t)n + 1, sizeof(*keep)) ||
		    grow((void **)&fate, &fate_cap, (size_t)n + 1, sizeof(*fate))) {
			ret = -ENOMEM;
			break;
		}
		for (int64_t i = 0; i < n; i++) {
			fate[i] = (uint8_t)record_fate(ps, &ps->recs[i], expired);
			keep[i] = fate[i] == KEEP;
			kept += keep[i];
		}
		if (kept == 0 && group_end && n > 0) {
			/* The group must still end at group_last: keep the batch's last record
			 * (see the file comment). */
			keep[n - 1] = true;
			fate[n - 1] = KEEP;
			kept = 1;
		}
		for (int64_t i = 0; i < n; i++)
			ps->st->tombstones_dropped += fate[i] == EXPIRED_TOMBSTONE;
		ps->st->records_out += (uint64_t)kept;
		ret = 0;
		if (kept == n)
			ret = out_write(ps, p, total);
		else if (kept > 0)
			ret = rebuild(ps, &h, keep, n);
		if (ret)
			break;
	}
	free(keep);
	free(fate);
	rdr_close(&r);
	return ret;
}

static int
fsync_fd(int fd)
{
	return fsync(fd) ? -errno : 0;
}

/*
 * Rewrites segs[first .. first+n) into "<base>.log.cleaned" and swaps it in. Returns 1 when
 * swapped, 0 when skipped (one segment, nothing removed), or -errno.
 */
static int
clean_group(struct pass *ps, unsigned first, unsigned n)
{
	struct sl_plog *log = ps->log;
	char name[64];
	int64_t group_last = log->segs[first + n - 1]->next_offset - 1;
	uint64_t in0 = ps->st->records_in, out0 = ps->st->records_out;
	int ret = 0;

	sl_seg_name(name, sizeof(name), log->segs[first]->base_offset, ".log.cleaned");
	ps->wfd = openat(log->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ps->wfd < 0)
		return -errno;
	ps->wlen = 0;
	ps->wsize = 0;
	for (unsigned i = 0; i < n && !ret; i++)
		ret = clean_segment(ps, log->segs[first + i], group_last);
	if (!ret)
		ret = out_flush(ps);
	if (!ret)
		ret = fsync_fd(ps->wfd);
	close(ps->wfd);
	ps->wfd = -1;
	if (ret)
		goto out_unlink;
	if (n == 1 && ps->st->records_in - in0 == ps->st->records_out - out0) {
		/* A single segment with nothing removed: leave it as it is. */
		ret = 0;
		goto out_unlink;
	}
	ret = sl_plog_seg_swap(log, first, n);
	if (ret)
		goto out_unlink;
	ps->st->swaps++;
	return 1;

out_unlink:
	(void)unlinkat(log->dirfd, name, 0);
	return ret;
}

/* Cleanable prefix of the log: closed, sealed, older than min.compaction.lag.ms. */
static unsigned
cleanable_segments(const struct sl_plog *log, int64_t now_ms)
{
	unsigned n = 0;

	while (n + 1 < log->nsegs) {
		const struct sl_seg *s = log->segs[n];
		int64_t ts = s->max_ts >= 0 ? s->max_ts : s->mtime_ms;

		if (s->active || !s->sealed || s->deleted || s == log->active)
			break;
		if (log->cfg.min_compaction_lag_ms > 0 &&
		    now_ms - ts < log->cfg.min_compaction_lag_ms)
			break;
		n++;
	}
	return n;
}

int64_t
sl_compact_run(struct sl_plog *log, int64_t now_ms, const struct sl_compact_opts *o,
               struct sl_compact_stats *st_out)
{
	struct sl_compact_stats st_local;
	struct pass ps = {.log = log, .now_ms = now_ms, .wfd = -1};
	unsigned ncl, mapped, i;
	int64_t upto;
	int ret;

	ps.st = st_out ? st_out : &st_local;
	memset(ps.st, 0, sizeof(*ps.st));
	ps.st->cleaned_upto = -1;
	if (!(log->cfg.cleanup_policy & SL_CLEANUP_COMPACT))
		return 0;
	ncl = cleanable_segments(log, now_ms);
	ps.st->segments_in = ncl;
	ps.st->segments_out = ncl;
	if (ncl == 0)
		return 0;

	ret = kmap_init(&ps.map, o && o->map_bytes ? o->map_bytes : MAP_BYTES_DEFAULT,
	                o ? o->test_hash_bits : 0);
	if (ret)
		return ret == -ENOSPC ? -ENOMEM : ret;
	ps.dscratch.cap = SCRATCH_MIN;
	ps.dscratch.buf = malloc(ps.dscratch.cap);
	ps.wbuf = malloc(WRITE_BUF);
	if (!ps.dscratch.buf || !ps.wbuf) {
		ret = -ENOMEM;
		goto out;
	}

	/* 1. Map. */
	for (mapped = 0; mapped < ncl; mapped++) {
		ret = map_segment(&ps, log->segs[mapped]);
		if (ret == -ENOSPC) {
			SL_WARN("compact %s: key map full after %u of %u segments; compacting "
			        "those",
			        log->path, mapped, ncl);
			ret = 0;
			break;
		}
		if (ret)
			goto out;
	}
	ps.st->keys = ps.map.n;
	if (mapped == 0)
		goto out;
	upto = log->segs[mapped - 1]->next_offset;

	/* 2. Clean, group by group. */
	ps.st->segments_in = mapped;
	ps.st->segments_out = 0;
	for (i = 0; i < mapped;) {
		uint64_t bytes = log->segs[i]->size;
		unsigned n = 1;
		int r;

		while (i + n < mapped) {
			const struct sl_seg *nx = log->segs[i + n];

			if (bytes + nx->size > log->cfg.segment_bytes ||
			    bytes + nx->size > SL_SEG_MAX_BYTES ||
			    nx->next_offset - 1 - log->segs[i]->base_offset > (int64_t)INT32_MAX)
				break;
			bytes += nx->size;
			n++;
		}
		r = clean_group(&ps, i, n);
		if (r < 0) {
			ret = r;
			goto out;
		}
		/* After a swap the group is one segment at index i. */
		mapped -= r == 1 ? n - 1 : 0;
		i += r == 1 ? 1 : n;
		ps.st->segments_out += r == 1 ? 1 : n;
	}
	ret = sl_plog_ckpt_write(log, SL_CLEANER_CKPT, upto, true);
	if (ret)
		goto out;
	ps.st->cleaned_upto = upto;
out:
	kmap_fini(&ps.map);
	free(ps.dscratch.buf);
	free(ps.cscratch.buf);
	free(ps.bbuf);
	free(ps.recs);
	free(ps.wbuf);
	if (ret < 0)
		return ret;
	return (int64_t)(ps.st->records_in - ps.st->records_out);
}

int64_t
sl_plog_compact(struct sl_plog *log, int64_t now_ms)
{
	return sl_compact_run(log, now_ms, NULL, NULL);
}
