// SPDX-License-Identifier: Apache-2.0
/*
 * recov.c: bringing a partition directory back at open (sl_plog_recover), and its small
 * checkpoint files. Store thread; everything here blocks (open time).
 *
 * Files in <dir>/<topic>-<partition>/ besides the segments:
 *   .clean_shutdown                    written last by sl_plog_close: nothing to scan
 *   recovery-point-offset-checkpoint   segments below this base were sealed (synced, trimmed,
 *                                      indexes synced): no scan needed even after a crash
 *   log-start-offset-checkpoint        DeleteRecords' log start offset
 * Checkpoints use Kafka's text format ("0\n1\n<topic> <partition> <offset>\n"), written to
 * a .tmp file and renamed over the old one.
 *
 * Recovery, in order:
 *  1. delete *.cleaned, *.deleted, *.tmp; complete interrupted compaction swaps (a
 *     <base>.log.swap replaces every segment whose base lies in its offset range);
 *  2. for each segment, oldest first: scan it when the shutdown was unclean and it is at or
 *     past the recovery point, or when its indexes are missing or fail the sanity check;
 *     a scan checks framing, CRC and increasing offsets, rebuilds both indexes, and stops
 *     at the first bad byte: the rest is truncated. A segment that is not the last must
 *     end exactly where the next one begins: then what followed its data was padding
 *     (O_DIRECT, preallocation, a crash before the sealed file was trimmed); otherwise its
 *     tail was torn or corrupt and every later segment is deleted (as Kafka does);
 *  3. the last segment becomes the active one; the recovery point moves to it, and the
 *     clean-shutdown marker is removed (durably) before any append.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/log.h"
#include "storage/plog_int.h"
#include "storage/rbatch.h"

int
sl_plog_ckpt_write(struct sl_plog *log, const char *name, int64_t offset, bool sync)
{
	char tmp[256], buf[512];
	int fd, n, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	n = snprintf(buf, sizeof(buf), "0\n1\n%s %d %" PRId64 "\n", log->topic, log->partition,
	             offset);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	fd = openat(log->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)n) != n)
		rc = errno ? -errno : -EIO;
	if (!rc && sync && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (!rc && renameat(log->dirfd, tmp, log->dirfd, name) < 0)
		rc = -errno;
	if (!rc && sync && fsync(log->dirfd) < 0)
		rc = -errno;
	if (rc)
		unlinkat(log->dirfd, tmp, 0);
	return rc;
}

int64_t
sl_plog_ckpt_read(struct sl_plog *log, const char *name)
{
	char buf[512], want[300];
	ssize_t n;
	int64_t v = 0;
	size_t wl;
	char *p;
	int fd, digits = 0;

	fd = openat(log->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	snprintf(want, sizeof(want), "0\n1\n%s %d ", log->topic, log->partition);
	wl = strlen(want);
	if (strncmp(buf, want, wl) != 0)
		return -1;
	for (p = buf + wl; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
		digits++;
	}
	if (!digits || strcmp(p, "\n") != 0)
		return -1;
	return v;
}

static bool
has_suffix(const char *s, const char *sfx)
{
	size_t a = strlen(s), b = strlen(sfx);

	return a >= b && strcmp(s + a - b, sfx) == 0;
}

struct i64vec {
	int64_t *v;
	size_t n, cap;
};

static int
vec_push(struct i64vec *x, int64_t v)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		int64_t *n = realloc(x->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		x->v = n;
		x->cap = cap;
	}
	x->v[x->n++] = v;
	return 0;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static bool
vec_has(const struct i64vec *x, int64_t v)
{
	return x->n && bsearch(&v, x->v, x->n, sizeof(int64_t), cmp_i64) != NULL;
}

static void
vec_remove(struct i64vec *x, int64_t v)
{
	size_t i, j;

	for (i = j = 0; i < x->n; i++)
		if (x->v[i] != v)
			x->v[j++] = x->v[i];
	x->n = j;
}

/* Lists the directory; removes leftovers; collects segment bases and swap files. */
static int
list_dir(struct sl_plog *log, struct i64vec *bases, struct i64vec *swaps, struct i64vec *idxs)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = openat(log->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (!rc && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		int64_t b;

		if (has_suffix(n, ".cleaned") || has_suffix(n, ".deleted") ||
		    has_suffix(n, ".tmp")) {
			unlinkat(log->dirfd, n, 0);
		} else if ((b = sl_seg_parse_name(n, ".log.swap")) >= 0) {
			rc = vec_push(swaps, b);
		} else if (has_suffix(n, ".swap")) {
			unlinkat(log->dirfd, n, 0); /* index swaps: rebuilt from the log */
		} else if ((b = sl_seg_parse_name(n, ".log")) >= 0) {
			rc = vec_push(bases, b);
		} else if ((b = sl_seg_parse_name(n, ".index")) >= 0 ||
		           (b = sl_seg_parse_name(n, ".timeindex")) >= 0) {
			rc = vec_push(idxs, b);
		}
	}
	closedir(d);
	if (!rc && bases->n > 1)
		qsort(bases->v, bases->n, sizeof(int64_t), cmp_i64);
	if (!rc && swaps->n > 1)
		qsort(swaps->v, swaps->n, sizeof(int64_t), cmp_i64);
	return rc;
}

static void
unlink_idx(int dirfd, int64_t base)
{
	char name[48];

	sl_seg_name(name, sizeof(name), base, ".index");
	unlinkat(dirfd, name, 0);
	sl_seg_name(name, sizeof(name), base, ".timeindex");
	unlinkat(dirfd, name, 0);
}

/* Completes a compaction swap interrupted by a crash (Kafka's rule). */
static int
complete_swap(struct sl_plog *log, int64_t sb, struct i64vec *bases, struct i64vec *forced)
{
	char from[64], to[64];
	struct sl_scan sc;
	struct stat stbuf;
	int64_t end;
	size_t i;
	int fd, rc;

	sl_seg_name(from, sizeof(from), sb, ".log.swap");
	sl_seg_name(to, sizeof(to), sb, ".log");
	fd = openat(log->dirfd, from, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &stbuf) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = sl_seg_scan(fd, false, 0, (uint64_t)stbuf.st_size, sb, sb, NULL, 0, &sc);
	close(fd);
	if (rc)
		return rc;
	end = sc.next_offset;
	for (i = 0; i < bases->n; i++) {
		int64_t b = bases->v[i];

		if (b > sb && b < end) {
			sl_seg_unlink_files(log->dirfd, b);
			vec_remove(bases, b);
			i--;
		}
	}
	unlink_idx(log->dirfd, sb);
	if (renameat(log->dirfd, from, log->dirfd, to) < 0)
		return -errno;
	if (!vec_has(bases, sb)) {
		rc = vec_push(bases, sb);
		if (rc)
			return rc;
		qsort(bases->v, bases->n, sizeof(int64_t), cmp_i64);
	}
	SL_INFO("plog %s: completed the swap of segment %" PRId64 " (up to %" PRId64 ")", log->path,
	        sb, end);
	return vec_push(forced, sb);
}

static int
push_seg(struct sl_plog *log, struct sl_seg *s)
{
	if (log->nsegs == log->segs_cap) {
		unsigned cap = log->segs_cap ? 2 * log->segs_cap : 8;
		struct sl_seg **n = realloc(log->segs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		log->segs = n;
		log->segs_cap = cap;
	}
	log->segs[log->nsegs++] = s;
	return 0;
}

static void
tidx_last(struct sl_seg *s)
{
	int64_t ts;
	uint32_t rel, pos;

	if (s->tidx.n) {
		sl_tidx_entry(&s->tidx, s->tidx.n - 1, &ts, &rel);
		s->max_ts = ts;
		s->max_ts_offset = s->base_offset + rel;
	}
	if (s->oidx.n) {
		sl_oidx_entry(&s->oidx, s->oidx.n - 1, &rel, &pos);
		s->last_idx_pos = pos;
	}
}

static uint64_t
rebuild_cap(const struct sl_plog *log, const struct sl_seg *s)
{
	uint32_t iv = log->cfg.index_interval_bytes ? log->cfg.index_interval_bytes : 1;
	uint64_t need = (s->size / iv + 2) * SL_TIDX_ENTRY;

	return SL_MAX(need, log->cfg.segment_index_bytes);
}

/* Scans s from its start, rebuilding its indexes; truncates a bad tail. Sets *torn when the
 * tail was not zero padding. */
int
sl_plog_scan_seg(struct sl_plog *log, struct sl_seg *s, int64_t min_offset, bool *torn)
{
	struct sl_scan sc;
	int rc;

	unlink_idx(log->dirfd, s->base_offset);
	rc = sl_seg_map_idx(s, log->dirfd, true, rebuild_cap(log, s));
	if (rc)
		return rc;
	s->max_ts = s->max_ts_offset = -1;
	s->last_idx_pos = 0;
	rc = sl_seg_scan(s->fd, s->direct, 0, s->size, min_offset, s->base_offset, s,
	                 log->cfg.index_interval_bytes, &sc);
	if (rc)
		return rc;
	s->next_offset = sc.next_offset;
	/* Trim now: a writable reopen takes the file's length as the entry count. */
	rc = sl_idx_trim(&s->oidx);
	if (!rc)
		rc = sl_idx_trim(&s->tidx);
	if (rc)
		return rc;
	*torn = sc.valid_size < s->size && !sc.tail_zero;
	if (sc.valid_size < s->size) {
		if (*torn)
			SL_WARN("plog %s: segment %" PRId64 ": %s at byte %" PRIu64 " of %" PRIu64
			        "; truncating",
			        log->path, s->base_offset, sl_rb_strerror(sc.err), sc.valid_size,
			        s->size);
		if (ftruncate(s->fd, (off_t)sc.valid_size) < 0)
			return -errno;
		s->size = sc.valid_size;
		if (fdatasync(s->fd) < 0)
			return -errno;
	}
	return 0;
}

/* The clean last segment: finds its end from the last index entry. */
static int
tail_of_clean(struct sl_plog *log, struct sl_seg *s, bool *torn)
{
	struct sl_scan sc;
	int rc;

	rc = sl_seg_scan(s->fd, s->direct, s->last_idx_pos, s->size, s->base_offset, s->base_offset,
	                 NULL, 0, &sc);
	if (rc)
		return rc;
	if (sc.valid_size < s->size) {
		/* A "clean" segment with a bad tail: don't trust it, scan all of it. */
		return sl_plog_scan_seg(log, s, s->base_offset, torn);
	}
	s->next_offset = sc.next_offset;
	if (sc.max_ts > s->max_ts) {
		s->max_ts = sc.max_ts;
		s->max_ts_offset = sc.max_ts_offset;
	}
	*torn = false;
	return 0;
}

static int64_t
first_batch_ts(struct sl_seg *s)
{
	uint8_t h[SL_RB_HDR_SIZE];

	if (s->size < SL_RB_HDR_SIZE || sl_seg_pread(s, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -1;
	return (int64_t)sl_be64(h + 35);
}

static void
drop_all(struct sl_plog *log)
{
	unsigned i;

	for (i = 0; i < log->nsegs; i++) {
		sl_seg_unlink_files(log->dirfd, log->segs[i]->base_offset);
		sl_seg_put(log->segs[i]);
	}
	log->nsegs = 0;
}

int
sl_plog_recover(struct sl_plog *log, const char *topic, int32_t partition)
{
	struct i64vec bases = {0}, swaps = {0}, idxs = {0}, forced = {0};
	bool clean, direct = log->direct;
	int64_t rp, lso, prev_next = -1;
	struct sl_seg *a;
	size_t i;
	int rc;

	(void)topic;
	(void)partition;
	clean = faccessat(log->dirfd, SL_CLEAN_MARKER, F_OK, 0) == 0;
	lso = sl_plog_ckpt_read(log, SL_LSO_CKPT);
	rp = clean ? INT64_MAX : sl_plog_ckpt_read(log, SL_RP_CKPT);
	if (rp < 0)
		rp = 0;
	rc = list_dir(log, &bases, &swaps, &idxs);
	for (i = 0; !rc && i < swaps.n; i++)
		rc = complete_swap(log, swaps.v[i], &bases, &forced);
	if (rc)
		goto out;
	if (forced.n > 1)
		qsort(forced.v, forced.n, sizeof(int64_t), cmp_i64);
	for (i = 0; i < idxs.n; i++)
		if (!vec_has(&bases, idxs.v[i]))
			unlink_idx(log->dirfd, idxs.v[i]); /* orphans */

	for (i = 0; i < bases.n; i++) {
		int64_t base = bases.v[i];
		bool last = i + 1 == bases.n, torn = false, scan;
		struct sl_seg *s;

		rc = sl_seg_open(&s, log->dirfd, base, false, &direct);
		if (rc)
			goto out;
		rc = push_seg(log, s);
		if (rc) {
			sl_seg_put(s);
			goto out;
		}
		scan = (!clean && base >= rp) || vec_has(&forced, base) ||
		       (prev_next >= 0 && base < prev_next);
		if (!scan) {
			uint64_t max_rel = last ? UINT32_MAX : (uint64_t)(bases.v[i + 1] - base);

			rc = sl_seg_map_idx(s, log->dirfd, false, 0);
			if (!rc)
				rc = sl_idx_check(&s->oidx, &s->tidx, s->size ? s->size : 1,
				                  max_rel);
			if (rc) {
				SL_WARN("plog %s: indexes of segment %" PRId64
				        " missing or damaged; "
				        "rebuilding",
				        log->path, base);
				scan = true;
			} else {
				tidx_last(s);
				s->idx_synced = true;
				if (last)
					rc = tail_of_clean(log, s, &torn);
				else
					s->next_offset = bases.v[i + 1];
				if (rc)
					goto out;
			}
		}
		if (scan) {
			rc = sl_plog_scan_seg(
			        log, s, prev_next >= 0 ? SL_MAX(base, prev_next) : base, &torn);
			if (rc)
				goto out;
			s->idx_synced = false;
			/*
			 * A segment that is not the last must end exactly where the next begins
			 * (compaction keeps the last batch of its range for this). Then whatever
			 * followed its data was padding, whatever the bytes (a crash before the
			 * sealed file was trimmed), and the later segments stay. Ending short means
			 * its tail was never written or was damaged: the later segments were never
			 * acknowledged (they are acked only after this one's seal) or cannot be
			 * trusted, and go, as in Kafka.
			 */
			if (!last) {
				torn = s->next_offset != bases.v[i + 1];
				if (torn)
					SL_WARN("plog %s: segment %" PRId64 " ends at %" PRId64
					        ", the next starts at %" PRId64,
					        log->path, base, s->next_offset, bases.v[i + 1]);
			}
		}
		if (!last && !torn) {
			sl_seg_index_final(s);
			rc = sl_idx_trim(&s->oidx);
			if (!rc)
				rc = sl_idx_trim(&s->tidx);
			if (rc)
				goto out;
		}
		if (torn && !last) {
			size_t j;

			SL_WARN("plog %s: dropping %zu segment(s) after the damaged one", log->path,
			        bases.n - i - 1);
			for (j = i + 1; j < bases.n; j++)
				sl_seg_unlink_files(log->dirfd, bases.v[j]);
			bases.n = i + 1;
		}
		s->sealed = true;
		prev_next = s->next_offset;
	}

	if (log->nsegs && lso < log->segs[0]->base_offset)
		lso = log->segs[0]->base_offset;
	if (lso < 0)
		lso = 0;
	if (!log->nsegs || lso > log->segs[log->nsegs - 1]->next_offset) {
		bool created_direct = direct;

		drop_all(log);
		sl_seg_unlink_files(log->dirfd, lso);
		rc = sl_seg_open(&a, log->dirfd, lso, true, &created_direct);
		if (rc)
			goto out;
		direct = created_direct;
		rc = push_seg(log, a);
		if (rc) {
			sl_seg_put(a);
			goto out;
		}
	}
	a = log->segs[log->nsegs - 1];
	rc = sl_seg_map_idx(a, log->dirfd, true, log->cfg.segment_index_bytes);
	if (rc)
		goto out;
	tidx_last(a);
	a->active = true;
	a->sealed = false;
	a->idx_synced = false;
	a->lbase = 0;
	if (a->size) {
		int64_t ts = first_batch_ts(a);

		a->created_ms = ts >= 0 ? ts : a->mtime_ms;
	}
	log->direct = direct;
	log->active = a;
	log->start_offset = lso;
	log->next_offset = log->hw = a->next_offset;
	log->end_lpos = log->written_lpos = log->synced_lpos = log->hw_lpos = a->size;
	log->issued_lpos = a->size;
	log->size_bytes = 0;
	for (i = 0; i < log->nsegs; i++)
		log->size_bytes += log->segs[i]->size;
	log->tail_blk_len = (uint32_t)(a->size - SL_ALIGN_DOWN(a->size, (uint64_t)SL_BLK));
	if (log->tail_blk_len &&
	    sl_seg_pread(a, log->tail_blk, log->tail_blk_len,
	                 SL_ALIGN_DOWN(a->size, (uint64_t)SL_BLK)) != (ssize_t)log->tail_blk_len) {
		rc = -EIO;
		goto out;
	}

	/* Everything before the active segment is sealed now: make that durable. */
	for (i = 0; i + 1 < log->nsegs; i++) {
		struct sl_seg *s = log->segs[i];

		if (!s->idx_synced) {
			rc = sl_idx_sync(&s->oidx);
			if (!rc)
				rc = sl_idx_sync(&s->tidx);
			if (rc)
				goto out;
			s->idx_synced = true;
		}
	}
	rc = sl_plog_ckpt_write(log, SL_RP_CKPT, a->base_offset, true);
	if (rc)
		goto out;
	if (clean && unlinkat(log->dirfd, SL_CLEAN_MARKER, 0) < 0) {
		rc = -errno;
		goto out;
	}
	if (fsync(log->dirfd) < 0)
		rc = -errno;
out:
	free(bases.v);
	free(swaps.v);
	free(idxs.v);
	free(forced.v);
	return rc;
}

int
sl_plog_seg_swap(struct sl_plog *log, unsigned first, unsigned n)
{
	char cleaned[64], swap[64], final[64];
	struct sl_seg *ns, *old;
	int64_t base, next_base;
	bool direct = log->direct, torn = false;
	unsigned i;
	int rc;

	if (n == 0 || first + n >= log->nsegs)
		return -EINVAL; /* the active segment is never swapped */
	for (i = first; i < first + n; i++)
		if (!log->segs[i]->sealed)
			return -EBUSY;
	base = log->segs[first]->base_offset;
	next_base = log->segs[first + n]->base_offset;
	sl_seg_name(cleaned, sizeof(cleaned), base, ".log.cleaned");
	sl_seg_name(swap, sizeof(swap), base, ".log.swap");
	sl_seg_name(final, sizeof(final), base, ".log");
	if (renameat(log->dirfd, cleaned, log->dirfd, swap) < 0)
		return -errno;
	if (fsync(log->dirfd) < 0)
		return -errno;
	/* From here a crash is completed by recovery (complete_swap). */
	for (i = first; i < first + n; i++) {
		int64_t b = log->segs[i]->base_offset;

		if (b != base)
			sl_seg_unlink_files(log->dirfd, b);
	}
	unlink_idx(log->dirfd, base);
	if (renameat(log->dirfd, swap, log->dirfd, final) < 0)
		return -errno;
	if (fsync(log->dirfd) < 0)
		return -errno;
	rc = sl_seg_open(&ns, log->dirfd, base, false, &direct);
	if (rc)
		return rc;
	rc = sl_plog_scan_seg(log, ns, base, &torn);
	if (!rc && torn)
		SL_WARN("plog %s: swapped segment %" PRId64 " had a bad tail", log->path, base);
	if (!rc) {
		sl_seg_index_final(ns);
		rc = sl_idx_trim(&ns->oidx);
	}
	if (!rc)
		rc = sl_idx_trim(&ns->tidx);
	if (!rc)
		rc = sl_idx_sync(&ns->oidx);
	if (!rc)
		rc = sl_idx_sync(&ns->tidx);
	if (rc) {
		sl_seg_put(ns);
		return rc;
	}
	if (ns->next_offset < next_base)
		ns->next_offset = next_base; /* offsets removed at the end stay a gap */
	ns->sealed = true;
	ns->idx_synced = true;
	/* Swap the in-memory list: old segments keep their fds while reads hold them. */
	for (i = first; i < first + n; i++) {
		struct sl_chunk *c, *next;

		old = log->segs[i];
		for (c = log->ch_head; c; c = next) {
			next = c->next;
			if (c->seg == old)
				sl_chunk_release(log->st, c);
		}
		old->deleted = true;
		log->size_bytes -= old->size;
		sl_seg_put(old);
	}
	log->segs[first] = ns;
	memmove(&log->segs[first + 1], &log->segs[first + n],
	        (log->nsegs - first - n) * sizeof(log->segs[0]));
	log->nsegs -= n - 1;
	log->size_bytes += ns->size;
	return 0;
}
