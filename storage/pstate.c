// SPDX-License-Identifier: Apache-2.0
/*
 * pstate.c: idempotent-producer state per partition log (pstate.h), its snapshot at clean
 * close, and its rebuild at open (sl_plog_pstate_rebuild, plog_int.h): from the snapshot
 * when it matches the recovered log end, else from the producer fields of every batch.
 *
 * The sequence rules follow Kafka 2.x ProducerAppendInfo.checkProducerEpoch /
 * checkSequence and ProducerStateEntry.findDuplicateBatch.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/plog_int.h"
#include "storage/pstate.h"
#include "storage/rbatch.h"

enum {
	KERR_UNKNOWN_SERVER_ERROR = -1,
	KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KERR_INVALID_PRODUCER_EPOCH = 47,
	KERR_UNKNOWN_PRODUCER_ID = 59,
};

int16_t
sl_pstate_kerr(int err)
{
	switch (err) {
	case SL_PS_EOUT_OF_ORDER:
		return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
	case SL_PS_EFENCED:
		return KERR_INVALID_PRODUCER_EPOCH;
	case SL_PS_EUNKNOWN_PID:
		return KERR_UNKNOWN_PRODUCER_ID;
	default:
		return KERR_UNKNOWN_SERVER_ERROR;
	}
}

const char *
sl_pstate_strerror(int err)
{
	switch (err) {
	case SL_PS_EOUT_OF_ORDER:
		return "out of order sequence number";
	case SL_PS_EFENCED:
		return "producer epoch is older than the producer's current epoch";
	case SL_PS_EUNKNOWN_PID:
		return "unknown producer id with a non-zero sequence";
	default:
		return "not a producer state error";
	}
}

static uint32_t
slot_of(int64_t pid, uint32_t cap)
{
	uint64_t h = (uint64_t)pid * 0x9e3779b97f4a7c15ull; /* Fibonacci hashing */

	return (uint32_t)(h >> 32) & (cap - 1);
}

static struct sl_pstate_ent *
lookup(const struct sl_pstate *ps, int64_t pid)
{
	uint32_t i = slot_of(pid, ps->cap);

	for (;;) {
		struct sl_pstate_ent *e = &ps->tab[i];

		if (e->pid == pid)
			return e;
		if (e->pid < 0)
			return NULL;
		i = (i + 1) & (ps->cap - 1);
	}
}

/* The free slot pid would take (the table has room: n < cap / 2). */
static struct sl_pstate_ent *
free_slot(const struct sl_pstate *ps, int64_t pid)
{
	uint32_t i = slot_of(pid, ps->cap);

	while (ps->tab[i].pid >= 0)
		i = (i + 1) & (ps->cap - 1);
	return &ps->tab[i];
}

static int
alloc_tab(struct sl_pstate_ent **out, uint32_t cap)
{
	struct sl_pstate_ent *t = malloc((size_t)cap * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		t[i].pid = -1;
	*out = t;
	return 0;
}

int
sl_pstate_init(struct sl_pstate *ps, uint32_t cap_hint)
{
	uint32_t cap = 8;

	memset(ps, 0, sizeof(*ps));
	while (cap < cap_hint * 2 && cap < (1u << 30))
		cap <<= 1;
	if (alloc_tab(&ps->tab, cap) < 0)
		return -ENOMEM;
	ps->cap = cap;
	return 0;
}

void
sl_pstate_fini(struct sl_pstate *ps)
{
	free(ps->tab);
	memset(ps, 0, sizeof(*ps));
}

/* Makes room for one more producer id (load factor <= 1/2). */
static int
reserve(struct sl_pstate *ps)
{
	struct sl_pstate_ent *old = ps->tab, *t;
	uint32_t ocap = ps->cap, cap;

	if (ps->tab && (ps->n + 1) * 2 <= ps->cap)
		return 0;
	if (ocap >= (1u << 30))
		return -ENOMEM;
	cap = ocap ? ocap * 2 : 8;
	if (alloc_tab(&t, cap) < 0)
		return -ENOMEM;
	ps->tab = t;
	ps->cap = cap;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i].pid >= 0)
			*free_slot(ps, old[i].pid) = old[i];
	free(old);
	return 0;
}

const struct sl_pstate_ent *
sl_pstate_find(const struct sl_pstate *ps, int64_t pid)
{
	if (!ps->tab || pid < 0)
		return NULL;
	return lookup(ps, pid);
}

int
sl_pstate_check(struct sl_pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq,
                int32_t last_seq, struct sl_pstate_batch *dup)
{
	const struct sl_pstate_ent *e;
	int32_t newest;

	if (pid < 0 || !ps->tab)
		return -EINVAL;
	e = lookup(ps, pid);
	if (!e) {
		/* Kafka 2.x: a producer whose state is gone (or never was) may only start at 0. */
		if (first_seq != 0)
			return SL_PS_EUNKNOWN_PID;
		return reserve(ps) < 0 ? -ENOMEM : 1;
	}
	if (epoch < e->epoch)
		return SL_PS_EFENCED;
	if (epoch > e->epoch)
		return first_seq == 0 ? 1 : SL_PS_EOUT_OF_ORDER;
	for (unsigned i = 0; i < e->n; i++) {
		const struct sl_pstate_batch *b = &e->b[i];

		if (b->first_seq == first_seq && b->last_seq == last_seq) {
			if (dup)
				*dup = *b;
			return 2;
		}
	}
	if (e->n == 0)
		return first_seq == 0 ? 1 : SL_PS_EOUT_OF_ORDER;
	newest = e->b[e->head].last_seq;
	if (first_seq == sl_pstate_seq_add(newest, 1))
		return 1;
	return SL_PS_EOUT_OF_ORDER;
}

int
sl_pstate_record(struct sl_pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq,
                 int32_t last_seq, int64_t base_offset, int64_t last_offset)
{
	struct sl_pstate_ent *e;
	struct sl_pstate_batch *b;

	if (pid < 0)
		return -EINVAL;
	e = ps->tab ? lookup(ps, pid) : NULL;
	if (!e) {
		if (reserve(ps) < 0)
			return -ENOMEM;
		e = free_slot(ps, pid);
		memset(e, 0, sizeof(*e));
		e->pid = pid;
		e->epoch = epoch;
		ps->n++;
	}
	if (epoch != e->epoch) {
		/* A new epoch starts a new sequence; a rebuild may also see an older epoch's
		 * batch after a newer one only if the log was written out of order (never). */
		e->epoch = epoch;
		e->n = 0;
		e->head = 0;
	}
	if (e->n == 0) {
		e->head = 0;
		e->n = 1;
	} else {
		e->head = (uint8_t)((e->head + 1) % SL_PSTATE_NBATCH);
		if (e->n < SL_PSTATE_NBATCH)
			e->n++;
	}
	b = &e->b[e->head];
	b->first_seq = first_seq;
	b->last_seq = last_seq;
	b->base_offset = base_offset;
	b->last_offset = last_offset;
	return 0;
}

/* ---- rebuild at open ---- */

#define RB_READ_BYTES (1u << 20)

/* Records the producer fields of every batch of segment s. Blocking reads. */
static int
rebuild_seg(struct sl_plog *log, struct sl_seg *s, uint8_t *buf)
{
	uint64_t pos = 0, bpos = 0, blen = 0;

	while (pos + SL_RB_HDR_SIZE <= s->size) {
		struct sl_rb_hdr h;
		int64_t total;

		if (pos < bpos || pos + SL_RB_HDR_SIZE > bpos + blen) {
			size_t want = (size_t)SL_MIN((uint64_t)RB_READ_BYTES, s->size - pos);
			ssize_t n = sl_seg_pread(s, buf, want, pos);

			if (n < 0)
				return (int)n;
			if ((size_t)n < SL_RB_HDR_SIZE)
				return -EIO; /* recovery said these bytes exist */
			bpos = pos;
			blen = (uint64_t)n;
		}
		total = sl_rb_total_size(buf + (pos - bpos), (size_t)(bpos + blen - pos));
		if (total < 0 || sl_rb_hdr_parse(buf + (pos - bpos), SL_RB_HDR_SIZE, &h) < 0)
			return -EBADMSG;
		if (h.producer_id >= 0 && !(h.attributes & SL_RB_ATTR_CONTROL) &&
		    h.base_sequence >= 0) {
			int32_t last = sl_pstate_seq_add(h.base_sequence, h.last_offset_delta);
			int rc = sl_pstate_record(&log->ps, h.producer_id, h.producer_epoch,
			                          h.base_sequence, last, h.base_offset,
			                          h.base_offset + h.last_offset_delta);

			if (rc < 0)
				return rc;
		}
		pos += (uint64_t)total;
	}
	return 0;
}

/* ---- snapshot at clean close ----
 *
 * SL_PSTATE_SNAP in the partition directory, written at close (temp file, fdatasync,
 * rename; the close's directory fsync follows). Valid only for the log end offset it names:
 * open loads it when recovery ends at exactly that offset, and scans the log otherwise.
 *
 *   magic "SLPS" (be32) | version 1 (be16) | end offset (be64) | entries (be32)
 *   per entry: pid (be64) | epoch (be16) | n (u8) | n x [first_seq, last_seq (be32),
 *              base_offset, last_offset (be64)], oldest first
 *   CRC-32C of everything before (be32)
 */
#define SNAP_MAGIC 0x534c5053u
#define SNAP_VERSION 1
#define SNAP_HDR 18
#define SNAP_ENT_MAX (8 + 2 + 1 + SL_PSTATE_NBATCH * 24)
#define SNAP_MAX_ENTRIES (1u << 24)

int
sl_plog_pstate_save(struct sl_plog *log)
{
	const struct sl_pstate *ps = &log->ps;
	size_t cap = SNAP_HDR + (size_t)ps->n * SNAP_ENT_MAX + 4, len = SNAP_HDR;
	uint8_t *buf = malloc(cap);
	uint32_t cnt = 0;
	int fd, rc = 0;

	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < ps->cap; i++) {
		const struct sl_pstate_ent *e = &ps->tab[i];

		if (e->pid < 0)
			continue;
		sl_put_be64(buf + len, (uint64_t)e->pid);
		sl_put_be16(buf + len + 8, (uint16_t)e->epoch);
		buf[len + 10] = e->n;
		len += 11;
		for (unsigned k = 0; k < e->n; k++) {
			/* oldest first: head is the newest */
			unsigned at = (e->head + SL_PSTATE_NBATCH - e->n + 1 + k) % SL_PSTATE_NBATCH;
			const struct sl_pstate_batch *b = &e->b[at];

			sl_put_be32(buf + len, (uint32_t)b->first_seq);
			sl_put_be32(buf + len + 4, (uint32_t)b->last_seq);
			sl_put_be64(buf + len + 8, (uint64_t)b->base_offset);
			sl_put_be64(buf + len + 16, (uint64_t)b->last_offset);
			len += 24;
		}
		cnt++;
	}
	sl_put_be32(buf, SNAP_MAGIC);
	sl_put_be16(buf + 4, SNAP_VERSION);
	sl_put_be64(buf + 6, (uint64_t)log->next_offset);
	sl_put_be32(buf + 14, cnt);
	sl_put_be32(buf + len, sl_crc32c(0, buf, len));
	len += 4;
	fd = openat(log->dirfd, SL_PSTATE_SNAP ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	            0644);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (write(fd, buf, len) != (ssize_t)len)
		rc = errno ? -errno : -EIO;
	else if (fdatasync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && renameat(log->dirfd, SL_PSTATE_SNAP ".tmp", log->dirfd, SL_PSTATE_SNAP) < 0)
		rc = -errno;
	if (rc) {
		unlinkat(log->dirfd, SL_PSTATE_SNAP ".tmp", 0);
		unlinkat(log->dirfd, SL_PSTATE_SNAP, 0); /* a stale one must not survive */
	}
out_free:
	free(buf);
	return rc;
}

/* Loads the snapshot when it is valid for the log as recovered: 1 loaded, 0 not usable. */
static int
snap_load(struct sl_plog *log)
{
	struct stat sb;
	uint8_t *buf = NULL;
	size_t len, pos;
	uint32_t cnt;
	int fd, ok = 0;

	fd = openat(log->dirfd, SL_PSTATE_SNAP, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || sb.st_size < SNAP_HDR + 4 ||
	    (uint64_t)sb.st_size > SNAP_HDR + 4 + (uint64_t)SNAP_MAX_ENTRIES * SNAP_ENT_MAX)
		goto out;
	len = (size_t)sb.st_size;
	buf = malloc(len);
	if (!buf || pread(fd, buf, len, 0) != (ssize_t)len)
		goto out;
	if (sl_be32(buf + len - 4) != sl_crc32c(0, buf, len - 4) || sl_be32(buf) != SNAP_MAGIC ||
	    sl_be16(buf + 4) != SNAP_VERSION || (int64_t)sl_be64(buf + 6) != log->next_offset)
		goto out;
	cnt = sl_be32(buf + 14);
	pos = SNAP_HDR;
	len -= 4;
	for (uint32_t i = 0; i < cnt; i++) {
		int64_t pid;
		int16_t epoch;
		uint8_t n;

		if (len - pos < 11)
			goto out;
		pid = (int64_t)sl_be64(buf + pos);
		epoch = (int16_t)sl_be16(buf + pos + 8);
		n = buf[pos + 10];
		pos += 11;
		if (pid < 0 || n == 0 || n > SL_PSTATE_NBATCH || len - pos < (size_t)n * 24)
			goto out;
		for (unsigned k = 0; k < n; k++, pos += 24)
			if (sl_pstate_record(&log->ps, pid, epoch, (int32_t)sl_be32(buf + pos),
			                     (int32_t)sl_be32(buf + pos + 4),
			                     (int64_t)sl_be64(buf + pos + 8),
			                     (int64_t)sl_be64(buf + pos + 16)) < 0)
				goto out;
	}
	ok = pos == len;
out:
	free(buf);
	close(fd);
	if (!ok && log->ps.n) {
		/* half loaded: start over from the log */
		sl_pstate_fini(&log->ps);
		if (sl_pstate_init(&log->ps, 4) < 0)
			return -ENOMEM;
	}
	return ok;
}

int
sl_plog_pstate_rebuild(struct sl_plog *log)
{
	uint8_t *buf;
	int rc = 0;

	rc = snap_load(log);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	buf = malloc(RB_READ_BYTES);
	if (!buf)
		return -ENOMEM;
	for (unsigned i = 0; i < log->nsegs && !rc; i++)
		rc = rebuild_seg(log, log->segs[i], buf);
	free(buf);
	if (rc < 0)
		SL_ERR("plog %s: producer state rebuild: %s", log->path,
		       rc <= -1000 ? "malformed batch header" : strerror(-rc));
	return rc;
}
