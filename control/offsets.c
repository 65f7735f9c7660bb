// SPDX-License-Identifier: Apache-2.0
/*
 * offsets.c: the committed-offset store (control/offsets.h): a chained hash table in
 * memory and its append-only record file, replayed and compacted at open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "control/offsets.h"

#define HDR_LEN 8
#define BODY_FIXED (2 + 2 + 4 + 1 + 8 + 4 + 8 + 4)

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
	int fd;
	bool failed;
	char *path, *dir;
	uint64_t file_bytes; /* bytes in the file */
	uint64_t live_bytes; /* bytes the live entries take as records */
};

/* Rewrite the file when it is this large and mostly dead records. */
#define COMPACT_MIN_BYTES (4u << 20)
#define COMPACT_RATIO 4

static uint64_t
rec_bytes(size_t glen, size_t tlen, int32_t mlen)
{
	return HDR_LEN + BODY_FIXED + glen + tlen + (mlen > 0 ? (uint64_t)mlen : 0);
}

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
	} else {
		o->live_bytes -= rec_bytes(e->glen, e->tlen, e->mlen);
	}
	free(e->meta);
	e->meta = meta;
	e->mlen = v->metadata_len < 0 ? -1 : v->metadata_len;
	o->live_bytes += rec_bytes(e->glen, e->tlen, e->mlen);
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
	o->live_bytes -= rec_bytes(e->glen, e->tlen, e->mlen);
	ent_free(e);
	o->n--;
	return true;
}

/* ---- the file ---- */

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
append_rec(struct sl_offs *o, int fd, const char *g, size_t glen, const char *t, size_t tlen,
           int32_t p, bool tomb, const struct sl_offs_val *v)
{
	size_t mlen = v && v->metadata_len > 0 ? (size_t)v->metadata_len : 0;
	size_t blen = BODY_FIXED + glen + tlen + mlen;
	uint8_t stackbuf[512], *buf = blen + HDR_LEN <= sizeof(stackbuf) ? stackbuf : malloc(blen + HDR_LEN);
	uint8_t *q;
	int r;

	if (fd < 0)
		return 0;
	if (!buf)
		return -ENOMEM;
	q = buf + HDR_LEN;
	sl_put_be16(q, (uint16_t)glen);
	memcpy(q + 2, g, glen);
	q += 2 + glen;
	sl_put_be16(q, (uint16_t)tlen);
	memcpy(q + 2, t, tlen);
	q += 2 + tlen;
	sl_put_be32(q, (uint32_t)p);
	q[4] = tomb;
	sl_put_be64(q + 5, (uint64_t)(v ? v->offset : -1));
	sl_put_be32(q + 13, (uint32_t)(v ? v->leader_epoch : -1));
	sl_put_be64(q + 17, (uint64_t)(v ? v->commit_ts_ms : -1));
	sl_put_be32(q + 25, (uint32_t)(v && v->metadata_len >= 0 ? v->metadata_len : -1));
	memcpy(q + 29, v && mlen ? v->metadata : "", mlen);
	sl_put_be32(buf, (uint32_t)blen);
	sl_put_be32(buf + 4, sl_crc32c(0, buf + HDR_LEN, blen));
	r = write_all(fd, buf, blen + HDR_LEN);
	if (buf != stackbuf)
		free(buf);
	if (r < 0 && o)
		o->failed = true;
	else if (o)
		o->file_bytes += blen + HDR_LEN;
	return r < 0 ? -EIO : 0;
}

/* Parses one record body; 0 or -EBADMSG. */
static int
parse_body(const uint8_t *q, size_t n, struct sl_offs_entry *e, bool *tomb)
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
	if (mlen < -1 || (size_t)(mlen < 0 ? 0 : mlen) != n - BODY_FIXED - glen - tlen)
		return -EBADMSG;
	e->v.metadata_len = mlen;
	e->v.metadata = mlen >= 0 ? (const char *)q + 29 : NULL;
	return 0;
}

static int
replay(struct sl_offs *o, int fd)
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
		    parse_body(buf + pos + HDR_LEN, blen, &e, &tomb) < 0)
			break;
		if (tomb)
			mem_del(o, e.group, e.group_len, e.topic, e.topic_len, e.partition);
		else if ((r = mem_put(o, e.group, e.group_len, e.topic, e.topic_len, e.partition,
		                      &e.v)) < 0)
			break;
		pos += HDR_LEN + blen;
	}
	if (r == 0 && pos < size)
		SL_WARN("offsets: %s: dropped %zu bytes of torn or corrupt tail", o->path,
		        size - pos);
	free(buf);
	return r;
}

/* Writes the live entries to a new file and renames it over the old one. */
static int
compact(struct sl_offs *o, const char *dir)
{
	char *tmp;
	int fd, r = 0;

	if (asprintf(&tmp, "%s/offsets.log.tmp", dir) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		free(tmp);
		return r;
	}
	for (size_t i = 0; i < o->nb && r == 0; i++)
		for (struct ent *e = o->b[i]; e && r == 0; e = e->next) {
			struct sl_offs_val v = {e->offset, e->leader_epoch, e->ts, e->meta, e->mlen};

			r = append_rec(NULL, fd, e->key, e->glen, e->key + e->glen, e->tlen,
			               e->partition, false, &v);
		}
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, o->path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	else
		o->file_bytes = o->live_bytes;
	free(tmp);
	return r;
}

int
sl_offs_open(struct sl_offs **out, const char *dir)
{
	struct sl_offs *o = calloc(1, sizeof(*o));
	int r = 0, fd;

	*out = NULL;
	if (!o)
		return -ENOMEM;
	o->fd = -1;
	o->nb = 64;
	o->b = calloc(o->nb, sizeof(*o->b));
	if (!o->b) {
		free(o);
		return -ENOMEM;
	}
	if (!dir) {
		*out = o;
		return 0;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto fail;
	}
	o->dir = strdup(dir);
	if (!o->dir || asprintf(&o->path, "%s/offsets.log", dir) < 0) {
		o->path = NULL;
		r = -ENOMEM;
		goto fail;
	}
	fd = open(o->path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	r = replay(o, fd);
	close(fd);
	if (r < 0)
		goto fail;
	r = compact(o, dir);
	if (r < 0)
		goto fail;
	o->fd = open(o->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (o->fd < 0) {
		r = -errno;
		goto fail;
	}
	*out = o;
	return 0;
fail:
	SL_ERR("offsets: cannot open the offset store in %s: %s", dir, strerror(-r));
	sl_offs_close(o);
	return r;
}

void
sl_offs_close(struct sl_offs *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nb; i++) {
		struct ent *e = o->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			ent_free(e);
		}
	}
	if (o->fd >= 0)
		close(o->fd);
	free(o->b);
	free(o->path);
	free(o->dir);
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
	r = append_rec(o, o->fd, group, glen, topic, tlen, partition, false, v);
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
	r = append_rec(o, o->fd, group, glen, topic, tlen, partition, true, NULL);
	if (r < 0)
		return r;
	return mem_del(o, group, glen, topic, tlen, partition) ? 1 : 0;
}

int
sl_offs_sync(struct sl_offs *o)
{
	if (o->fd < 0)
		return 0;
	if (o->failed)
		return -EIO;
	if (fdatasync(o->fd) < 0) {
		o->failed = true;
		return -EIO;
	}
	/* Mostly tombstoned or overwritten: rewrite with the live entries (a failure keeps
	 * the old file, which is still complete). */
	if (o->file_bytes >= COMPACT_MIN_BYTES && o->file_bytes > COMPACT_RATIO * o->live_bytes &&
	    compact(o, o->dir) == 0) {
		int fd = open(o->path, O_WRONLY | O_APPEND | O_CLOEXEC);

		if (fd < 0) {
			o->failed = true;
			return -EIO;
		}
		close(o->fd);
		o->fd = fd;
	}
	return 0;
}

uint64_t
sl_offs_file_bytes(const struct sl_offs *o)
{
	return o->file_bytes;
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
			if (o->failed ||
			    append_rec(o, o->fd, e->key, e->glen, e->key + e->glen, e->tlen,
			               e->partition, true, NULL) < 0)
				return -EIO;
			*pp = e->next;
			o->live_bytes -= rec_bytes(e->glen, e->tlen, e->mlen);
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
