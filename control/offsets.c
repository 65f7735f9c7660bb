// SPDX-License-Identifier: Apache-2.0
/*
 * offsets.c: the committed-offset store (control/offsets.h): a chained hash table in
 * memory over the compacted internal log __consumer_offsets-0 of the storage engine, and
 * the one-time migration of the legacy record file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "control/ctrl_int.h"
#include "control/offsets.h"
#include "storage/codec.h"
#include "storage/plog.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

/* legacy file */
#define HDR_LEN 8
#define BODY_FIXED (2 + 2 + 4 + 1 + 8 + 4 + 8 + 4)

/* log records */
#define KEY_VERSION 1
#define VAL_VERSION 1
#define KEY_FIXED (2 + 2 + 2 + 4)
#define VAL_FIXED (2 + 8 + 4 + 8 + 4)
#define KEY_MAX (KEY_FIXED + 2 * SL_OFFS_STR_MAX)
#define VAL_MAX (VAL_FIXED + SL_OFFS_META_MAX)
/* Pending batch: holds at least one record of the largest size. */
#define BATCH_BYTES (256u << 10)
#define SEGMENT_BYTES_DEFAULT (16u << 20)
#define BACKOFF_MS_DEFAULT 15000

struct ent {
	struct ent *next;
	uint32_t hash;
	uint16_t glen, tlen;
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;
	int64_t ts;
	int32_t mlen;
	char *meta;
	char key[]; /* group then topic */
};

struct sl_offs {
	struct ent **b;
	size_t nb, n;
	bool failed;
	/* the log (NULL: memory only) */
	struct sl_store *st;
	struct sl_uring *ring;
	struct sl_plog *log;
	uint8_t *batch;  /* BATCH_BYTES: the pending batch */
	uint8_t *recbuf; /* KEY_MAX + VAL_MAX: one record's key and value */
	struct sl_rb_builder bld;
	bool open_batch; /* bld holds records not yet appended */
	uint64_t segment_bytes;
	int64_t backoff_ms, next_check_ms;
	uint64_t compacted_bytes; /* log size after the last pass */
};

static uint32_t
hash_key(const char *g, size_t glen, const char *t, size_t tlen, int32_t p)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < glen; i++)
		h = (h ^ (uint8_t)g[i]) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (size_t i = 0; i < tlen; i++)
		h = (h ^ (uint8_t)t[i]) * 16777619u;
	h = (h ^ (uint32_t)p) * 16777619u;
	return h;
}

static struct ent **
find_slot(const struct sl_offs *o, uint32_t h, const char *g, size_t glen, const char *t,
          size_t tlen, int32_t p)
{
	struct ent **pp = &o->b[h & (o->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		struct ent *e = *pp;

		if (e->hash == h && e->partition == p && e->glen == glen && e->tlen == tlen &&
		    memcmp(e->key, g, glen) == 0 && memcmp(e->key + glen, t, tlen) == 0)
			return pp;
	}
	return pp;
}

static int
grow(struct sl_offs *o)
{
	size_t nb = o->nb * 2;
	struct ent **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < o->nb; i++) {
		struct ent *e = o->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(o->b);
	o->b = b;
	o->nb = nb;
	return 0;
}

static void
ent_free(struct ent *e)
{
	free(e->meta);
	free(e);
}

/* Sets in memory only. */
static int
mem_put(struct sl_offs *o, const char *g, size_t glen, const char *t, size_t tlen, int32_t p,
        const struct sl_offs_val *v)
{
	uint32_t h = hash_key(g, glen, t, tlen, p);
	struct ent **pp = find_slot(o, h, g, glen, t, tlen, p);
	char *meta = NULL;
	struct ent *e = *pp;

	if (v->metadata_len > 0) {
		meta = malloc((size_t)v->metadata_len);
		if (!meta)
			return -ENOMEM;
		memcpy(meta, v->metadata, (size_t)v->metadata_len);
	}
	if (!e) {
		if (o->n >= o->nb && grow(o) < 0) {
			free(meta);
			return -ENOMEM;
		}
		e = calloc(1, sizeof(*e) + glen + tlen);
		if (!e) {
			free(meta);
			return -ENOMEM;
		}
		e->hash = h;
		e->glen = (uint16_t)glen;
		e->tlen = (uint16_t)tlen;
		e->partition = p;
		memcpy(e->key, g, glen);
		memcpy(e->key + glen, t, tlen);
		pp = &o->b[h & (o->nb - 1)];
		e->next = *pp;
		*pp = e;
		o->n++;
	}
	free(e->meta);
	e->meta = meta;
	e->mlen = v->metadata_len < 0 ? -1 : v->metadata_len;
	e->offset = v->offset;
	e->leader_epoch = v->leader_epoch;
	e->ts = v->commit_ts_ms;
	return 0;
}

static bool
mem_del(struct sl_offs *o, const char *g, size_t glen, const char *t, size_t tlen, int32_t p)
{
	uint32_t h = hash_key(g, glen, t, tlen, p);
	struct ent **pp = find_slot(o, h, g, glen, t, tlen, p);
	struct ent *e = *pp;

	if (!e)
		return false;
	*pp = e->next;
	ent_free(e);
	o->n--;
	return true;
}

/* ---- records ---- */

static size_t
key_encode(uint8_t *q, const char *g, size_t glen, const char *t, size_t tlen, int32_t p)
{
	sl_put_be16(q, KEY_VERSION);
	sl_put_be16(q + 2, (uint16_t)glen);
	memcpy(q + 4, g, glen);
	q += 4 + glen;
	sl_put_be16(q, (uint16_t)tlen);
	memcpy(q + 2, t, tlen);
	q += 2 + tlen;
	sl_put_be32(q, (uint32_t)p);
	return KEY_FIXED + glen + tlen;
}

static size_t
val_encode(uint8_t *q, const struct sl_offs_val *v)
{
	size_t mlen = v->metadata_len > 0 ? (size_t)v->metadata_len : 0;

	sl_put_be16(q, VAL_VERSION);
	sl_put_be64(q + 2, (uint64_t)v->offset);
	sl_put_be32(q + 10, (uint32_t)v->leader_epoch);
	sl_put_be64(q + 14, (uint64_t)v->commit_ts_ms);
	sl_put_be32(q + 22, (uint32_t)(v->metadata_len >= 0 ? v->metadata_len : -1));
	if (mlen)
		memcpy(q + VAL_FIXED, v->metadata, mlen);
	return VAL_FIXED + mlen;
}

/* Parses a key; 0, -EBADMSG, or -EPROTO (unknown version). */
static int
key_parse(const uint8_t *q, size_t n, struct sl_offs_entry *e)
{
	uint16_t glen, tlen;

	if (n < 2)
		return -EBADMSG;
	if (sl_be16(q) != KEY_VERSION)
		return -EPROTO;
	if (n < KEY_FIXED)
		return -EBADMSG;
	glen = sl_be16(q + 2);
	if (n < KEY_FIXED + (size_t)glen)
		return -EBADMSG;
	e->group = (const char *)q + 4;
	e->group_len = glen;
	q += 4 + glen;
	tlen = sl_be16(q);
	if (n != KEY_FIXED + (size_t)glen + tlen || glen > SL_OFFS_STR_MAX ||
	    tlen > SL_OFFS_STR_MAX)
		return -EBADMSG;
	e->topic = (const char *)q + 2;
	e->topic_len = tlen;
	e->partition = (int32_t)sl_be32(q + 2 + tlen);
	return 0;
}

static int
val_parse(const uint8_t *q, size_t n, struct sl_offs_val *v)
{
	int32_t mlen;

	if (n < 2)
		return -EBADMSG;
	if (sl_be16(q) != VAL_VERSION)
		return -EPROTO;
	if (n < VAL_FIXED)
		return -EBADMSG;
	v->offset = (int64_t)sl_be64(q + 2);
	v->leader_epoch = (int32_t)sl_be32(q + 10);
	v->commit_ts_ms = (int64_t)sl_be64(q + 14);
	mlen = (int32_t)sl_be32(q + 22);
	if (mlen < -1 || mlen > SL_OFFS_META_MAX ||
	    (size_t)(mlen < 0 ? 0 : mlen) != n - VAL_FIXED)
		return -EBADMSG;
	v->metadata_len = mlen;
	v->metadata = mlen >= 0 ? (const char *)q + VAL_FIXED : NULL;
	return 0;
}

/* ---- the log ---- */

/* Appends the pending batch and waits for it. 0 or -EIO (the store fails from now on). */
static int
flush_batch(struct sl_offs *o)
{
	int64_t len;
	int r;

	if (!o->open_batch)
		return 0;
	o->open_batch = false;
	if (o->failed)
		return -EIO;
	len = sl_rb_builder_finish(&o->bld, NULL);
	r = len < 0 ? (int)len : ctl_ilog_append(o->st, o->ring, o->log, o->batch, (size_t)len);
	if (r < 0) {
		SL_ERR("offsets: %s-0 append failed: %s", SL_OFFS_TOPIC, strerror(-r));
		o->failed = true;
		return -EIO;
	}
	return 0;
}

/* Adds one record (v NULL: a tombstone) to the pending batch. 0 or -EIO. */
static int
add_rec(struct sl_offs *o, const char *g, size_t glen, const char *t, size_t tlen, int32_t p,
        const struct sl_offs_val *v)
{
	uint8_t *kbuf = o->recbuf, *vbuf = o->recbuf + KEY_MAX;
	size_t klen, vlen = 0;
	int64_t now = sl_wall_ms();
	int r;

	if (!o->log)
		return 0;
	if (o->failed)
		return -EIO;
	klen = key_encode(kbuf, g, glen, t, tlen, p);
	if (v)
		vlen = val_encode(vbuf, v);
	for (int tries = 0; tries < 2; tries++) {
		if (!o->open_batch) {
			r = sl_rb_builder_init(&o->bld, o->batch, BATCH_BYTES, SL_CODEC_NONE, 0, now,
			                       -1, -1, -1);
			if (r < 0)
				break;
			o->open_batch = true;
		}
		r = sl_rb_builder_add(&o->bld, now, kbuf, (int32_t)klen, vbuf,
		                      v ? (int32_t)vlen : -1, NULL, 0);
		if (r != -ENOBUFS && r != -EOVERFLOW)
			break;
		/* full: append what is there, then start a new batch */
		r = flush_batch(o);
		if (r < 0)
			break;
	}
	if (r < 0 && r != -EIO) {
		SL_ERR("offsets: cannot add a record: %d", r);
		o->failed = true;
		r = -EIO;
	}
	return r;
}

static int
replay_rec(void *arg, const struct sl_rb_rec *rec)
{
	struct sl_offs *o = arg;
	struct sl_offs_entry e;
	int r;

	if (rec->key_len <= 0)
		return 0;
	r = key_parse(rec->key, (size_t)rec->key_len, &e);
	if (r == 0 && rec->value_len >= 0)
		r = val_parse(rec->value, (size_t)rec->value_len, &e.v);
	if (r < 0) {
		SL_LOG_RATELIMIT(SL_LOG_WARN, "offsets: %s record at offset %lld skipped",
		                 r == -EPROTO ? "unknown version of a" : "malformed",
		                 (long long)rec->offset);
		return 0;
	}
	if (rec->value_len < 0) {
		mem_del(o, e.group, e.group_len, e.topic, e.topic_len, e.partition);
		return 0;
	}
	return mem_put(o, e.group, e.group_len, e.topic, e.topic_len, e.partition, &e.v);
}

/* ---- the legacy file (read once, for the migration) ---- */

/* Parses one record body; 0 or -EBADMSG. */
static int
legacy_parse(const uint8_t *q, size_t n, struct sl_offs_entry *e, bool *tomb)
{
	uint16_t glen, tlen;
	int32_t mlen;

	if (n < BODY_FIXED)
		return -EBADMSG;
	glen = sl_be16(q);
	if (n < BODY_FIXED + (size_t)glen)
		return -EBADMSG;
	e->group = (const char *)q + 2;
	e->group_len = glen;
	q += 2 + glen;
	tlen = sl_be16(q);
	if (n < BODY_FIXED + (size_t)glen + tlen)
		return -EBADMSG;
	e->topic = (const char *)q + 2;
	e->topic_len = tlen;
	q += 2 + tlen;
	e->partition = (int32_t)sl_be32(q);
	*tomb = q[4] != 0;
	e->v.offset = (int64_t)sl_be64(q + 5);
	e->v.leader_epoch = (int32_t)sl_be32(q + 13);
	e->v.commit_ts_ms = (int64_t)sl_be64(q + 17);
	mlen = (int32_t)sl_be32(q + 25);
	if (mlen < -1 || mlen > SL_OFFS_META_MAX ||
	    (size_t)(mlen < 0 ? 0 : mlen) != n - BODY_FIXED - glen - tlen)
		return -EBADMSG;
	e->v.metadata_len = mlen;
	e->v.metadata = mlen >= 0 ? (const char *)q + 29 : NULL;
	return 0;
}

/* Replays path into the memory-only store o (a torn or corrupt tail is dropped). */
static int
legacy_replay(struct sl_offs *o, const char *path, int fd)
{
	struct stat sb;
	uint8_t *buf;
	size_t pos = 0, size;
	int r = 0;

	if (fstat(fd, &sb) < 0)
		return -errno;
	size = (size_t)sb.st_size;
	if (!size)
		return 0;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	for (size_t got = 0; got < size;) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			size = got;
			break;
		}
		got += (size_t)n;
	}
	while (pos + HDR_LEN <= size) {
		uint32_t blen = sl_be32(buf + pos);
		struct sl_offs_entry e;
		bool tomb;

		if (blen > size - pos - HDR_LEN ||
		    sl_crc32c(0, buf + pos + HDR_LEN, blen) != sl_be32(buf + pos + 4) ||
		    legacy_parse(buf + pos + HDR_LEN, blen, &e, &tomb) < 0)
			break;
		if (tomb)
			mem_del(o, e.group, e.group_len, e.topic, e.topic_len, e.partition);
		else if ((r = mem_put(o, e.group, e.group_len, e.topic, e.topic_len, e.partition,
		                      &e.v)) < 0)
			break;
		pos += HDR_LEN + blen;
	}
	if (r == 0 && pos < size)
		SL_WARN("offsets: %s: dropped %zu bytes of torn or corrupt tail", path, size - pos);
	free(buf);
	return r;
}

struct migrate {
	struct sl_offs *o;
	int r;
	size_t n;
};

static void
migrate_one(void *arg, const struct sl_offs_entry *e)
{
	struct migrate *m = arg;

	if (m->r < 0 ||
	    sl_offs_get(m->o, e->group, e->group_len, e->topic, e->topic_len, e->partition))
		return; /* the log is newer */
	m->r = sl_offs_put(m->o, e->group, e->group_len, e->topic, e->topic_len, e->partition,
	                   &e->v);
	m->n += m->r == 0;
}

/* Moves <legacy_dir>/offsets.log into the log once: written, synced, then removed. */
static int
migrate_legacy(struct sl_offs *o, const char *legacy_dir)
{
	struct migrate m = {o, 0, 0};
	struct sl_offs *old;
	char *path;
	int fd, r;

	if (asprintf(&path, "%s/offsets.log", legacy_dir) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = errno == ENOENT ? 0 : -errno;
		free(path);
		return r;
	}
	r = sl_offs_open(&old, NULL);
	if (r == 0) {
		r = legacy_replay(old, path, fd);
		if (r == 0) {
			sl_offs_foreach(old, NULL, 0, migrate_one, &m);
			r = m.r;
		}
		sl_offs_close(old);
	}
	close(fd);
	if (r == 0)
		r = sl_offs_sync(o);
	if (r == 0) {
		char *tmp = NULL;

		SL_INFO("offsets: %zu committed offset(s) migrated from %s to %s-0", m.n, path,
		        SL_OFFS_TOPIC);
		if (unlink(path) < 0)
			SL_WARN("offsets: cannot remove %s: %s", path, strerror(errno));
		if (asprintf(&tmp, "%s/offsets.log.tmp", legacy_dir) >= 0) {
			unlink(tmp);
			free(tmp);
		}
		rmdir(legacy_dir);
	}
	free(path);
	return r;
}

/* ---- the store ---- */

static struct sl_offs *
offs_new(void)
{
	struct sl_offs *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->nb = 64;
	o->b = calloc(o->nb, sizeof(*o->b));
	if (!o->b) {
		free(o);
		return NULL;
	}
	return o;
}

int
sl_offs_open(struct sl_offs **out, const char *dir)
{
	*out = NULL;
	if (dir)
		return -EINVAL;
	*out = offs_new();
	return *out ? 0 : -ENOMEM;
}

int
sl_offs_open_log(struct sl_offs **out, const struct sl_offs_log_cfg *cfg)
{
	struct sl_offs *o;
	struct sl_plog_cfg pc;
	struct sl_rb_scratch scratch = {NULL, 0};
	int r;

	*out = NULL;
	if (!cfg || !cfg->st || !cfg->ring || !cfg->dir)
		return -EINVAL;
	o = offs_new();
	if (!o)
		return -ENOMEM;
	o->st = cfg->st;
	o->ring = cfg->ring;
	o->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes : SEGMENT_BYTES_DEFAULT;
	o->backoff_ms = cfg->compact_backoff_ms > 0 ? cfg->compact_backoff_ms : BACKOFF_MS_DEFAULT;
	o->batch = malloc(BATCH_BYTES);
	o->recbuf = malloc(KEY_MAX + VAL_MAX);
	scratch.buf = malloc(BATCH_BYTES * 4);
	scratch.cap = BATCH_BYTES * 4;
	if (!o->batch || !o->recbuf || !scratch.buf) {
		r = -ENOMEM;
		goto fail;
	}
	sl_plog_cfg_default(&pc);
	pc.durable = true;
	pc.cleanup_policy = SL_CLEANUP_COMPACT;
	pc.retention_ms = -1;
	pc.retention_bytes = -1;
	pc.segment_bytes = o->segment_bytes;
	pc.preallocate_bytes = SL_MIN(o->segment_bytes, (uint64_t)1 << 20);
	r = sl_plog_open(&o->log, o->st, cfg->dir, SL_OFFS_TOPIC, 0, &pc);
	if (r < 0) {
		o->log = NULL;
		goto fail;
	}
	r = ctl_ilog_replay(o->st, o->ring, o->log, &scratch, replay_rec, o);
	if (r < 0)
		goto fail;
	SL_INFO("offsets: %s-0: %d record(s) replayed, %zu committed offset(s)", SL_OFFS_TOPIC, r,
	        o->n);
	if (cfg->legacy_dir) {
		r = migrate_legacy(o, cfg->legacy_dir);
		if (r < 0)
			goto fail;
	}
	o->compacted_bytes = sl_plog_size_bytes(o->log);
	free(scratch.buf);
	*out = o;
	return 0;
fail:
	SL_ERR("offsets: cannot open %s/%s-0: %s", cfg->dir, SL_OFFS_TOPIC, strerror(-r));
	free(scratch.buf);
	o->open_batch = false;
	sl_offs_close(o);
	return r;
}

void
sl_offs_close(struct sl_offs *o)
{
	if (!o)
		return;
	if (o->log) {
		if (flush_batch(o) < 0)
			SL_ERR("offsets: pending records lost at close");
		(void)sl_plog_close(o->log);
	}
	for (size_t i = 0; i < o->nb; i++) {
		struct ent *e = o->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			ent_free(e);
		}
	}
	free(o->b);
	free(o->batch);
	free(o->recbuf);
	free(o);
}

const struct sl_offs_val *
sl_offs_get(const struct sl_offs *o, const char *group, size_t glen, const char *topic,
            size_t tlen, int32_t partition)
{
	static _Thread_local struct sl_offs_val v;
	uint32_t h;
	struct ent *e;

	if (glen > SL_OFFS_STR_MAX || tlen > SL_OFFS_STR_MAX)
		return NULL;
	h = hash_key(group, glen, topic, tlen, partition);
	e = *find_slot(o, h, group, glen, topic, tlen, partition);
	if (!e)
		return NULL;
	v.offset = e->offset;
	v.leader_epoch = e->leader_epoch;
	v.commit_ts_ms = e->ts;
	v.metadata = e->meta;
	v.metadata_len = e->mlen;
	return &v;
}

int
sl_offs_put(struct sl_offs *o, const char *group, size_t glen, const char *topic, size_t tlen,
            int32_t partition, const struct sl_offs_val *v)
{
	int r;

	if (glen > SL_OFFS_STR_MAX || tlen > SL_OFFS_STR_MAX || v->metadata_len > SL_OFFS_META_MAX ||
	    v->metadata_len < -1 || (v->metadata_len > 0 && !v->metadata))
		return -EINVAL;
	if (o->failed)
		return -EIO;
	r = add_rec(o, group, glen, topic, tlen, partition, v);
	if (r < 0)
		return r;
	return mem_put(o, group, glen, topic, tlen, partition, v);
}

int
sl_offs_del(struct sl_offs *o, const char *group, size_t glen, const char *topic, size_t tlen,
            int32_t partition)
{
	int r;

	if (glen > SL_OFFS_STR_MAX || tlen > SL_OFFS_STR_MAX)
		return -EINVAL;
	if (!sl_offs_get(o, group, glen, topic, tlen, partition))
		return 0;
	if (o->failed)
		return -EIO;
	r = add_rec(o, group, glen, topic, tlen, partition, NULL);
	if (r < 0)
		return r;
	return mem_del(o, group, glen, topic, tlen, partition) ? 1 : 0;
}

int
sl_offs_sync(struct sl_offs *o)
{
	if (o->failed)
		return -EIO;
	return flush_batch(o);
}

uint64_t
sl_offs_file_bytes(const struct sl_offs *o)
{
	return o->log ? sl_plog_size_bytes(o->log) : 0;
}

int64_t
sl_offs_compact(struct sl_offs *o, int64_t now_ms)
{
	int64_t r;

	if (!o->log)
		return 0;
	if (o->failed)
		return -EIO;
	if (flush_batch(o) < 0)
		return -EIO;
	(void)sl_plog_retain(o->log, now_ms); /* rolls by segment.ms; deletes nothing */
	r = sl_plog_compact(o->log, now_ms);
	if (r < 0)
		SL_ERR("offsets: compaction of %s-0 failed: %s", SL_OFFS_TOPIC,
		       strerror((int)-r));
	else if (r > 0)
		SL_INFO("offsets: compaction of %s-0 removed %lld record(s), %llu bytes left",
		        SL_OFFS_TOPIC, (long long)r, (unsigned long long)sl_plog_size_bytes(o->log));
	o->compacted_bytes = sl_plog_size_bytes(o->log);
	return r;
}

int64_t
sl_offs_poll(struct sl_offs *o, int64_t now_ms)
{
	if (!o->log || now_ms < o->next_check_ms)
		return 0;
	o->next_check_ms = now_ms + o->backoff_ms;
	if (sl_plog_size_bytes(o->log) < o->compacted_bytes + o->segment_bytes)
		return 0;
	return sl_offs_compact(o, now_ms);
}

static bool
ent_in_group(const struct ent *e, const char *group, size_t glen)
{
	return !group || (e->glen == glen && memcmp(e->key, group, glen) == 0);
}

void
sl_offs_foreach(const struct sl_offs *o, const char *group, size_t glen, sl_offs_fn fn, void *arg)
{
	for (size_t i = 0; i < o->nb; i++)
		for (struct ent *e = o->b[i]; e; e = e->next) {
			struct sl_offs_entry x;

			if (!ent_in_group(e, group, glen))
				continue;
			x.group = e->key;
			x.group_len = e->glen;
			x.topic = e->key + e->glen;
			x.topic_len = e->tlen;
			x.partition = e->partition;
			x.v.offset = e->offset;
			x.v.leader_epoch = e->leader_epoch;
			x.v.commit_ts_ms = e->ts;
			x.v.metadata = e->meta;
			x.v.metadata_len = e->mlen;
			fn(arg, &x);
		}
}

size_t
sl_offs_count(const struct sl_offs *o, const char *group, size_t glen)
{
	size_t n = 0;

	for (size_t i = 0; i < o->nb; i++)
		for (struct ent *e = o->b[i]; e; e = e->next)
			n += ent_in_group(e, group, glen);
	return n;
}

/* Removes entries matching (group or all) and (ts < cutoff or cutoff == INT64_MAX). */
static int
del_where(struct sl_offs *o, const char *group, size_t glen, int64_t cutoff,
          sl_offs_keep_fn may_expire, void *arg)
{
	int n = 0;

	for (size_t i = 0; i < o->nb; i++) {
		struct ent **pp = &o->b[i];

		while (*pp) {
			struct ent *e = *pp;

			if (!ent_in_group(e, group, glen) || e->ts >= cutoff ||
			    (may_expire && !may_expire(arg, e->key, e->glen))) {
				pp = &e->next;
				continue;
			}
			if (o->failed || add_rec(o, e->key, e->glen, e->key + e->glen, e->tlen,
			                         e->partition, NULL) < 0)
				return -EIO;
			*pp = e->next;
			ent_free(e);
			o->n--;
			n++;
		}
	}
	return n;
}

int
sl_offs_del_group(struct sl_offs *o, const char *group, size_t glen)
{
	if (!group)
		return -EINVAL;
	return del_where(o, group, glen, INT64_MAX, NULL, NULL);
}

int
sl_offs_expire(struct sl_offs *o, int64_t cutoff_ts_ms, sl_offs_keep_fn may_expire, void *arg)
{
	return del_where(o, NULL, 0, cutoff_ts_ms, may_expire, arg);
}
