// SPDX-License-Identifier: Apache-2.0
/*
 * idx.c: the sparse offset index (.index) and time index (.timeindex) of a segment, in
 * Kafka's on-disk format (layout drawn in plog_int.h). Both are memory-mapped files: the
 * active segment's are mapped at their maximum size and appended to in memory (page
 * faults, no syscalls), then trimmed to their entries when the segment is sealed or the
 * log closed. Store thread only. Opening, trimming and syncing block; appends and lookups
 * do not (a lookup in an old segment may fault its pages in).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "storage/plog_int.h"

static void
idx_init(struct sl_idx *x, uint32_t esz)
{
	memset(x, 0, sizeof(*x));
	x->esz = esz;
	x->fd = -1;
}

int
sl_idx_open(struct sl_idx *x, int dirfd, const char *name, uint32_t esz, bool writable,
            uint64_t cap_bytes)
{
	struct stat stbuf;
	uint64_t len;
	int fd, rc;

	idx_init(x, esz);
	fd = openat(dirfd, name, (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &stbuf) < 0) {
		rc = -errno;
		goto out_close;
	}
	len = (uint64_t)stbuf.st_size;
	if (len % esz) {
		rc = -EBADMSG; /* torn or foreign: the caller rebuilds it */
		goto out_close;
	}
	x->n = (uint32_t)SL_MIN(len / esz, (uint64_t)UINT32_MAX);
	if (writable) {
		uint64_t cap = cap_bytes / esz;

		if (cap > UINT32_MAX / 2)
			cap = UINT32_MAX / 2;
		if (cap < x->n)
			cap = x->n;
		if (cap == 0)
			cap = 1;
		x->cap = (uint32_t)cap;
		x->map_len = (size_t)cap * esz;
		if (ftruncate(fd, (off_t)x->map_len) < 0) {
			rc = -errno;
			goto out_close;
		}
	} else {
		x->cap = x->n;
		x->map_len = (size_t)x->n * esz;
	}
	if (x->map_len) {
		void *m = mmap(NULL, x->map_len, writable ? PROT_READ | PROT_WRITE : PROT_READ,
		               MAP_SHARED, fd, 0);

		if (m == MAP_FAILED) {
			rc = -errno;
			goto out_close;
		}
		x->map = m;
	}
	x->fd = fd;
	x->writable = writable;
	return 0;

out_close:
	close(fd);
	idx_init(x, esz);
	return rc;
}

int
sl_idx_anon(struct sl_idx *x, uint32_t esz, uint64_t cap_bytes)
{
	void *m;

	idx_init(x, esz);
	x->cap = (uint32_t)SL_MIN(cap_bytes / esz, (uint64_t)UINT32_MAX / 2);
	if (x->cap == 0)
		x->cap = 1;
	x->map_len = (size_t)x->cap * esz;
	m = mmap(NULL, x->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		idx_init(x, esz);
		return -errno;
	}
	x->map = m;
	x->writable = true;
	return 0;
}

int
sl_idx_trim(struct sl_idx *x)
{
	if (x->fd < 0 || !x->writable)
		return 0;
	if (ftruncate(x->fd, (off_t)((uint64_t)x->n * x->esz)) < 0)
		return -errno;
	/* The mapping keeps its length; entries past n are never touched again. */
	x->cap = x->n;
	return 0;
}

int
sl_idx_sync(struct sl_idx *x)
{
	if (x->fd < 0)
		return 0;
	if (x->map && x->writable && x->n && msync(x->map, (size_t)x->n * x->esz, MS_SYNC) < 0)
		return -errno;
	if (fdatasync(x->fd) < 0)
		return -errno;
	return 0;
}

void
sl_idx_close(struct sl_idx *x)
{
	if (x->map)
		munmap(x->map, x->map_len);
	if (x->fd >= 0)
		close(x->fd);
	idx_init(x, x->esz);
}

void
sl_idx_reset(struct sl_idx *x)
{
	x->n = 0;
}

bool
sl_oidx_append(struct sl_idx *x, uint32_t rel_offset, uint32_t pos)
{
	uint8_t *e;

	if (x->n >= x->cap || !x->writable)
		return false;
	if (x->n) {
		uint32_t lrel, lpos;

		sl_oidx_entry(x, x->n - 1, &lrel, &lpos);
		if (rel_offset <= lrel || pos <= lpos)
			return false;
	}
	e = x->map + (size_t)x->n * SL_OIDX_ENTRY;
	sl_put_be32(e, rel_offset);
	sl_put_be32(e + 4, pos);
	x->n++;
	return true;
}

bool
sl_tidx_append(struct sl_idx *x, int64_t ts, uint32_t rel_offset)
{
	uint8_t *e;

	if (x->n >= x->cap || !x->writable)
		return false;
	if (x->n) {
		int64_t lts;
		uint32_t lrel;

		sl_tidx_entry(x, x->n - 1, &lts, &lrel);
		/* Kafka's maybeAppend: only a larger timestamp makes an entry. */
		if (ts <= lts || rel_offset < lrel)
			return false;
	}
	e = x->map + (size_t)x->n * SL_TIDX_ENTRY;
	sl_put_be64(e, (uint64_t)ts);
	sl_put_be32(e + 8, rel_offset);
	x->n++;
	return true;
}

void
sl_oidx_entry(const struct sl_idx *x, uint32_t i, uint32_t *rel, uint32_t *pos)
{
	const uint8_t *e = x->map + (size_t)i * SL_OIDX_ENTRY;

	*rel = sl_be32(e);
	*pos = sl_be32(e + 4);
}

void
sl_tidx_entry(const struct sl_idx *x, uint32_t i, int64_t *ts, uint32_t *rel)
{
	const uint8_t *e = x->map + (size_t)i * SL_TIDX_ENTRY;

	*ts = (int64_t)sl_be64(e);
	*rel = sl_be32(e + 8);
}

uint32_t
sl_oidx_lookup(const struct sl_idx *x, uint32_t rel)
{
	uint32_t lo = 0, hi = x->n, erel, epos;

	/* Largest entry with relative offset <= rel. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		sl_oidx_entry(x, mid, &erel, &epos);
		if (erel <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	sl_oidx_entry(x, lo - 1, &erel, &epos);
	return epos;
}

int64_t
sl_tidx_lookup(const struct sl_idx *x, int64_t ts)
{
	int64_t ets;

	return sl_tidx_lookup_ts(x, ts, &ets);
}

int64_t
sl_tidx_lookup_ts(const struct sl_idx *x, int64_t ts, int64_t *ets_out)
{
	uint32_t lo = 0, hi = x->n, erel;
	int64_t ets;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		sl_tidx_entry(x, mid, &ets, &erel);
		if (ets <= ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	sl_tidx_entry(x, lo - 1, &ets, &erel);
	*ets_out = ets;
	return erel;
}

int
sl_oidx_check_bytes(const uint8_t *p, size_t len, uint64_t log_size, uint64_t max_rel)
{
	uint64_t prev_rel = 0, prev_pos = 0;
	size_t i;

	if (len % SL_OIDX_ENTRY)
		return -EBADMSG;
	for (i = 0; i < len; i += SL_OIDX_ENTRY) {
		uint64_t rel = sl_be32(p + i), pos = sl_be32(p + i + 4);

		if (i && (rel <= prev_rel || pos <= prev_pos))
			return -EBADMSG;
		if (pos >= log_size || rel >= max_rel)
			return -EBADMSG;
		prev_rel = rel;
		prev_pos = pos;
	}
	return 0;
}

int
sl_tidx_check_bytes(const uint8_t *p, size_t len, uint64_t max_rel)
{
	uint64_t prev_rel = 0;
	int64_t prev_ts = 0;
	size_t i;

	if (len % SL_TIDX_ENTRY)
		return -EBADMSG;
	for (i = 0; i < len; i += SL_TIDX_ENTRY) {
		int64_t ts = (int64_t)sl_be64(p + i);
		uint64_t rel = sl_be32(p + i + 8);

		if (i && (ts <= prev_ts || rel < prev_rel))
			return -EBADMSG;
		if (ts < 0 || rel >= max_rel)
			return -EBADMSG;
		prev_ts = ts;
		prev_rel = rel;
	}
	return 0;
}

int
sl_idx_check(const struct sl_idx *oidx, const struct sl_idx *tidx, uint64_t log_size,
             uint64_t max_rel)
{
	int rc;

	rc = sl_oidx_check_bytes(oidx->map, (size_t)oidx->n * SL_OIDX_ENTRY, log_size, max_rel);
	if (rc)
		return rc;
	return sl_tidx_check_bytes(tidx->map, (size_t)tidx->n * SL_TIDX_ENTRY, max_rel);
}
