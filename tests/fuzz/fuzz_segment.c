// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_segment.c: the segment reader used by recovery, on arbitrary file contents.
 *
 * The input is a .log file (after one control byte: bits 4..7 pick the index interval, bit 1
 * recomputes every batch's CRC first so mutations reach the logic behind the CRC check,
 * bit 0 adds the open path below). It is scanned as recovery scans (sl_seg_scan, rebuilding both
 * indexes in memory), and the result is checked: the valid prefix ends on a batch boundary
 * inside the file, the rebuilt indexes pass their own sanity check, a rescan of the valid
 * prefix alone reports the same batches and a clean end, and the tail is "zero" only when
 * it is. When input[0] is odd, the file is also put in a partition directory and opened
 * through sl_plog_open (recovery, truncation, index rebuild), then read back from offset 0
 * to the log end through sl_plog_read: every batch returned must be one of the prefix's.
 * Never crashes, never leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/uring.h"
#include "storage/plog.h"
#include "storage/plog_int.h"
#include "storage/rbatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static int
memfd_with(const uint8_t *p, size_t n)
{
	int fd = memfd_create("seg", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
	return fd;
}

static void
scan_checks(const uint8_t *data, size_t size, int64_t base, uint32_t interval)
{
	struct sl_scan sc, sc2;
	struct sl_seg s;
	int fd = memfd_with(data, size);
	bool zero;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.base_offset = base;
	s.max_ts = -1;
	s.max_ts_offset = -1;
	CHECK(sl_idx_anon(&s.oidx, SL_OIDX_ENTRY, 64 * 1024) == 0);
	CHECK(sl_idx_anon(&s.tidx, SL_TIDX_ENTRY, 64 * 1024) == 0);
	CHECK(sl_seg_scan(fd, false, 0, size, base, base, &s, interval, &sc) == 0);
	CHECK(sc.valid_size <= size);
	CHECK(sc.next_offset >= base);
	CHECK((sc.nbatches == 0) == (sc.valid_size == 0));
	zero = true;
	for (i = (size_t)sc.valid_size; i < size; i++)
		zero &= data[i] == 0;
	CHECK(sc.tail_zero == zero);
	/* The rebuilt indexes are sane, and they point inside the valid prefix. */
	CHECK(sl_idx_check(&s.oidx, &s.tidx, sc.valid_size ? sc.valid_size : 1,
	                   (uint64_t)(sc.next_offset - base)) == 0);
	close(fd);

	/* The valid prefix alone scans the same and ends cleanly. */
	fd = memfd_with(data, (size_t)sc.valid_size);
	CHECK(sl_seg_scan(fd, false, 0, sc.valid_size, base, base, NULL, interval, &sc2) == 0);
	CHECK(sc2.valid_size == sc.valid_size && sc2.nbatches == sc.nbatches &&
	      sc2.next_offset == sc.next_offset && sc2.err == 0 && sc2.tail_zero);
	close(fd);
	sl_idx_close(&s.oidx);
	sl_idx_close(&s.tidx);
}

/* The store lives for the whole run (it holds no files); each input gets a directory that
 * is removed before returning (libFuzzer may exit without running atexit handlers). */
static struct sl_uring ring;
static struct sl_store *st;

static void
rd_done(struct sl_read *r)
{
	(*(int *)r->arg)++;
}

static void
open_checks(const uint8_t *data, size_t size)
{
	char root[64], dir[128], path[192];
	struct sl_plog_cfg cfg;
	struct sl_plog *log;
	int64_t off = 0, end;
	int fd, rc;

	if (!st) {
		struct sl_store_opts o;

		sl_store_opts_default(&o);
		o.chunk_bytes = 64 * 1024;
		o.nr_chunks = 2;
		o.read_buf_bytes = 64 * 1024;
		o.nr_read_bufs = 2;
		o.force_buffered = true;
		CHECK(sl_uring_init(&ring, 64, 0) == 0);
		CHECK(sl_store_create(&st, &ring, &o) == 0);
	}
	snprintf(root, sizeof(root), "/dev/shm/sl-fuzz-seg-XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/t-0", root);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/00000000000000000000.log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);
	sl_plog_cfg_default(&cfg);
	cfg.index_interval_bytes = 64;
	cfg.segment_index_bytes = 64 * 1024;
	cfg.preallocate_bytes = 0;
	rc = sl_plog_open(&log, st, root, "t", 0, &cfg);
	CHECK(rc == 0);
	end = sl_plog_end_offset(log);
	CHECK(sl_plog_size_bytes(log) <= size);
	while (off < end) {
		struct sl_read r;
		int done = 0;
		const uint8_t *p, *stop;

		memset(&r, 0, sizeof(r));
		r.done = rd_done;
		r.arg = &done;
		r.offset = off;
		r.max_bytes = 4096;
		rc = sl_plog_read(log, &r);
		CHECK(rc >= 0);
		while (rc == 0 && !done)
			(void)sl_uring_run(&ring, 1, -1);
		CHECK(r.err == 0 && r.len > 0);
		for (p = r.data, stop = p + r.len; p < stop;) {
			int64_t total = sl_rb_total_size(p, (size_t)(stop - p));
			int64_t base = (int64_t)sl_be64(p);

			CHECK(total > 0 && total <= stop - p);
			CHECK(base >= off || p == r.data);
			/* The bytes come from the input: same batch at some position. */
			CHECK(memmem(data, size, p + 8, (size_t)total - 8) != NULL);
			off = base + (int32_t)sl_be32(p + 23) + 1;
			p += total;
		}
		sl_rbuf_unref(r.buf);
		sl_store_poll(st, 0);
	}
	CHECK(sl_plog_remove(log) == 0);
	CHECK(rmdir(root) == 0);
}

/* Recomputes the CRC of every whole batch, so that mutations get past the CRC check to the
 * offset, length and index logic behind it. */
static void
fix_crcs(uint8_t *p, size_t n)
{
	size_t pos = 0;

	while (n - pos >= SL_RB_HDR_SIZE) {
		int64_t total = sl_rb_total_size(p + pos, n - pos);

		if (total < 0 || (uint64_t)total > n - pos)
			break;
		sl_rb_update_crc(p + pos, (size_t)total);
		pos += (size_t)total;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t interval;
	uint8_t *copy;

	if (size < 1 || size > (1u << 20))
		return 0;
	interval = 1u << (data[0] >> 4); /* 1 .. 32 KiB */
	copy = malloc(size);
	CHECK(copy != NULL);
	memcpy(copy, data, size);
	if (data[0] & 2)
		fix_crcs(copy + 1, size - 1);
	scan_checks(copy + 1, size - 1, 0, interval);
	if (data[0] & 1)
		open_checks(copy + 1, size - 1);
	free(copy);
	return 0;
}
