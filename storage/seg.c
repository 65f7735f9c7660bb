// SPDX-License-Identifier: Apache-2.0
/*
 * seg.c: one segment of a partition log: its files (<20-digit base>.log, .index,
 * .timeindex), its in-memory state, Kafka's index-interval rule, synchronous aligned reads,
 * and the segment reader of recovery (sl_seg_scan). Store thread only. Opening, scanning
 * and sl_seg_pread block (open/recovery and rare paths); indexing a batch does not.
 *
 * A .log file is a plain concatenation of RecordBatch v2 (rbatch.h). While a segment is
 * active its file may be longer than its data: O_DIRECT writes pad the last 4 KiB block
 * with zeros, and preallocation (KEEP_SIZE) does not change the size. Sealing trims it.
 *
 *   0                                   size           ALIGN_UP(size)     prealloc_end
 *   | batch | batch | ... | batch        | zero padding |  (allocated, size unchanged) |
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "storage/plog_int.h"
#include "storage/rbatch.h"

void
sl_seg_name(char *buf, size_t len, int64_t base, const char *suffix)
{
	snprintf(buf, len, "%020" PRId64 "%s", base, suffix);
}

int64_t
sl_seg_parse_name(const char *name, const char *suffix)
{
	int64_t v = 0;
	int i;

	for (i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		if (v > (INT64_MAX - (name[i] - '0')) / 10)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	if (strcmp(name + 20, suffix) != 0)
		return -1;
	return v;
}

int
sl_seg_open(struct sl_seg **out, int dirfd, int64_t base, bool create, bool *direct)
{
	char name[48];
	struct stat stbuf;
	struct sl_seg *s;
	int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
	int fd = -1, rc;

	sl_seg_name(name, sizeof(name), base, ".log");
	if (*direct) {
		fd = openat(dirfd, name, flags | O_DIRECT, 0644);
		if (fd < 0 && errno == EINVAL)
			*direct = false; /* the filesystem has no O_DIRECT: buffered */
		else if (fd < 0)
			return -errno;
	}
	if (fd < 0) {
		fd = openat(dirfd, name, flags, 0644);
		if (fd < 0)
			return -errno;
	}
	if (fstat(fd, &stbuf) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->base_offset = base;
	s->next_offset = base;
	s->size = (uint64_t)stbuf.st_size;
	s->fd = fd;
	s->refs = 1;
	s->direct = *direct;
	s->max_ts = -1;
	s->max_ts_offset = -1;
	s->created_ms = -1;
	s->mtime_ms = (int64_t)stbuf.st_mtim.tv_sec * 1000 + stbuf.st_mtim.tv_nsec / 1000000;
	s->oidx.fd = s->tidx.fd = -1;
	s->oidx.esz = SL_OIDX_ENTRY;
	s->tidx.esz = SL_TIDX_ENTRY;
	*out = s;
	return 0;
}

static int
map_one(struct sl_idx *x, int dirfd, int64_t base, const char *suffix, uint32_t esz, bool writable,
        uint64_t cap)
{
	char name[48];
	int rc;

	sl_seg_name(name, sizeof(name), base, suffix);
	rc = sl_idx_open(x, dirfd, name, esz, writable, cap);
	if (rc == -EBADMSG && writable) {
		/* A torn index file: start it afresh (the caller rebuilds it). */
		if (unlinkat(dirfd, name, 0) < 0)
			return -errno;
		rc = sl_idx_open(x, dirfd, name, esz, writable, cap);
	}
	return rc;
}

int
sl_seg_map_idx(struct sl_seg *s, int dirfd, bool writable, uint64_t idx_cap_bytes)
{
	int rc;

	sl_idx_close(&s->oidx);
	sl_idx_close(&s->tidx);
	rc = map_one(&s->oidx, dirfd, s->base_offset, ".index", SL_OIDX_ENTRY, writable,
	             idx_cap_bytes);
	if (rc)
		return rc;
	/* Kafka sizes the time index by the same byte budget (in whole 12-byte entries). */
	rc = map_one(&s->tidx, dirfd, s->base_offset, ".timeindex", SL_TIDX_ENTRY, writable,
	             idx_cap_bytes);
	if (rc) {
		sl_idx_close(&s->oidx);
		return rc;
	}
	return 0;
}

void
sl_seg_put(struct sl_seg *s)
{
	SL_BUG_ON(s->refs <= 0);
	if (--s->refs)
		return;
	sl_idx_close(&s->oidx);
	sl_idx_close(&s->tidx);
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

void
sl_seg_unlink_files(int dirfd, int64_t base)
{
	static const char *const sfx[] = {".log", ".index", ".timeindex"};
	char name[48];
	unsigned i;

	for (i = 0; i < SL_ARRAY_SIZE(sfx); i++) {
		sl_seg_name(name, sizeof(name), base, sfx[i]);
		unlinkat(dirfd, name, 0);
	}
}

void
sl_seg_index_batch(struct sl_seg *s, uint64_t pos, uint32_t size, int64_t last, int64_t max_ts,
                   uint32_t interval)
{
	(void)size;
	if (max_ts > s->max_ts) {
		s->max_ts = max_ts;
		s->max_ts_offset = last;
	}
	/*
	 * Kafka's rule (LogSegment.append / recover): an entry for the batch that starts more
	 * than index.interval.bytes after the last indexed one, mapping its last offset to its
	 * position; the time index gets the largest timestamp so far at the same moments.
	 */
	if (pos - s->last_idx_pos > interval) {
		if (s->oidx.map &&
		    sl_oidx_append(&s->oidx, (uint32_t)(last - s->base_offset), (uint32_t)pos))
			s->last_idx_pos = pos;
		if (s->tidx.map && s->max_ts >= 0)
			(void)sl_tidx_append(&s->tidx, s->max_ts,
			                     (uint32_t)(s->max_ts_offset - s->base_offset));
	}
}

void
sl_seg_index_final(struct sl_seg *s)
{
	if (s->tidx.map && s->max_ts >= 0 && s->tidx.n < s->tidx.cap)
		(void)sl_tidx_append(&s->tidx, s->max_ts,
		                     (uint32_t)(s->max_ts_offset - s->base_offset));
}

ssize_t
sl_seg_pread(const struct sl_seg *s, void *dst, size_t len, uint64_t pos)
{
	uint64_t aoff, alen;
	uint8_t *bounce;
	ssize_t n, got = 0;

	if (!s->direct) {
		while ((size_t)got < len) {
			n = pread(s->fd, (uint8_t *)dst + got, len - (size_t)got,
			          (off_t)(pos + (uint64_t)got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				break;
			got += n;
		}
		return got;
	}
	aoff = SL_ALIGN_DOWN(pos, (uint64_t)SL_BLK);
	alen = SL_ALIGN_UP(pos + len, (uint64_t)SL_BLK) - aoff;
	if (posix_memalign((void **)&bounce, SL_BLK, alen))
		return -ENOMEM;
	while ((uint64_t)got < alen) {
		n = pread(s->fd, bounce + got, alen - (uint64_t)got, (off_t)(aoff + (uint64_t)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(bounce);
			return n;
		}
		if (n == 0 || (n % SL_BLK) != 0) {
			got += n;
			break;
		}
		got += n;
	}
	if ((uint64_t)got <= pos - aoff) {
		got = 0;
	} else {
		got -= (ssize_t)(pos - aoff);
		if ((size_t)got > len)
			got = (ssize_t)len;
		memcpy(dst, bounce + (pos - aoff), (size_t)got);
	}
	free(bounce);
	return got;
}

/* ---- the segment reader of recovery ---- */

struct scan_win {
	int fd;
	bool direct;
	uint8_t *buf;
	size_t cap;
	uint64_t pos; /* file position of buf[0] */
	size_t len;   /* valid bytes in buf */
	uint64_t file_size;
};

/* Makes [pos, pos+n) available in the window; returns a pointer or NULL (short file or
 * I/O error in *err). */
static const uint8_t *
win_get(struct scan_win *w, uint64_t pos, size_t n, int *err)
{
	uint64_t start, want;
	ssize_t r;

	if (pos >= w->pos && pos + n <= w->pos + w->len)
		return w->buf + (pos - w->pos);
	if (n + SL_BLK > w->cap) {
		size_t cap = SL_ALIGN_UP(n + SL_BLK, (size_t)SL_BLK);
		uint8_t *nb;

		if (posix_memalign((void **)&nb, SL_BLK, cap)) {
			*err = -ENOMEM;
			return NULL;
		}
		free(w->buf);
		w->buf = nb;
		w->cap = cap;
	}
	start = SL_ALIGN_DOWN(pos, (uint64_t)SL_BLK);
	want = SL_MIN((uint64_t)w->cap, SL_ALIGN_UP(w->file_size, (uint64_t)SL_BLK) - start);
	w->pos = start;
	w->len = 0;
	while (w->len < want) {
		r = pread(w->fd, w->buf + w->len, want - w->len, (off_t)(start + w->len));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = -errno;
			return NULL;
		}
		if (r == 0)
			break;
		w->len += (size_t)r;
		if (w->direct && (r % SL_BLK))
			break;
	}
	if (w->pos + w->len > w->file_size)
		w->len = (size_t)(w->file_size - w->pos);
	if (pos + n > w->pos + w->len)
		return NULL;
	return w->buf + (pos - w->pos);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int
sl_seg_scan(int fd, bool direct, uint64_t from, uint64_t file_size, int64_t min_offset,
            int64_t seg_base, struct sl_seg *s, uint32_t interval, struct sl_scan *out)
{
	struct scan_win w = {.fd = fd, .direct = direct, .file_size = file_size};
	int64_t expect = min_offset;
	uint64_t pos = from;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->max_ts = -1;
	out->max_ts_offset = -1;
	w.cap = 4u << 20;
	if (posix_memalign((void **)&w.buf, SL_BLK, w.cap))
		return -ENOMEM;

	while (pos < file_size) {
		struct sl_rb_hdr hdr;
		const uint8_t *p;
		int64_t total, n, last;

		p = win_get(&w, pos, SL_RB_LOG_OVERHEAD, &err);
		if (!p) {
			out->err = err ? err : SL_RB_ETRUNC;
			break;
		}
		total = sl_rb_total_size(p, SL_RB_LOG_OVERHEAD);
		if (total < 0 || (uint64_t)total > file_size - pos || total > (int64_t)INT32_MAX) {
			out->err = total < 0 ? (int)total : SL_RB_ETRUNC;
			break;
		}
		p = win_get(&w, pos, (size_t)total, &err);
		if (!p) {
			out->err = err ? err : SL_RB_ETRUNC;
			break;
		}
		n = sl_rb_validate(p, (size_t)total, 0,
		                   SL_RB_VALIDATE_NO_RECORDS | SL_RB_VALIDATE_STORED, NULL, &hdr);
		if (n < 0) {
			out->err = (int)n;
			break;
		}
		last = hdr.base_offset + hdr.last_offset_delta;
		/* Offsets increase batch to batch and fit the index's 32-bit relative form. */
		if (hdr.base_offset < expect || hdr.base_offset < seg_base ||
		    hdr.last_offset_delta < 0 || last - seg_base > (int64_t)INT32_MAX ||
		    pos + (uint64_t)total > SL_SEG_MAX_BYTES) {
			out->err = -EBADMSG;
			break;
		}
		if (s)
			sl_seg_index_batch(s, pos, (uint32_t)total, last, hdr.max_timestamp,
			                   interval);
		if (hdr.max_timestamp > out->max_ts) {
			out->max_ts = hdr.max_timestamp;
			out->max_ts_offset = last;
		}
		expect = last + 1;
		pos += (uint64_t)total;
		out->nbatches++;
	}
	if (err) {
		/* An I/O error or no memory: not evidence of a torn log, so truncate nothing. */
		free(w.buf);
		return err;
	}
	out->valid_size = pos;
	out->next_offset = expect;
	out->tail_zero = true;
	while (pos < file_size) {
		size_t n = (size_t)SL_MIN((uint64_t)(1u << 20), file_size - pos);
		const uint8_t *p = win_get(&w, pos, n, &err);

		if (!p || !all_zero(p, n)) {
			out->tail_zero = false;
			if (err) {
				free(w.buf);
				return err;
			}
			break;
		}
		pos += n;
	}
	free(w.buf);
	return 0;
}
