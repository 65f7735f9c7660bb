// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_index.c: the index reader (offset index and time index), on arbitrary file contents.
 *
 * input[0] picks the kind (bit 0: .index / .timeindex); input[1..8] give the log size and
 * the relative-offset bound the sanity check is run against; the rest is the file. The file
 * is opened the way recovery opens it (sl_idx_open, read-only): a length that is not whole
 * entries is refused, anything else maps. When the sanity check accepts the entries,
 * lookups must agree with a linear search for a spread of keys; when it refuses them,
 * lookups must still stay inside the entries (recovery then rebuilds, but nothing may read
 * out of bounds meanwhile).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "storage/plog_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

/* A directory per input, removed before returning (libFuzzer may exit without atexit). */
static int
enter_dir(char *dir, size_t len)
{
	int dfd;

	snprintf(dir, len, "/dev/shm/sl-fuzz-idx-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	return dfd;
}

static void
leave_dir(const char *dir, int dfd)
{
	unlinkat(dfd, "x.idx", 0);
	close(dfd);
	rmdir(dir);
}

static void
oidx_checks(const struct sl_idx *x, bool sane)
{
	uint32_t keys[8], i, k;

	keys[0] = 0;
	keys[1] = UINT32_MAX;
	for (i = 0; i < 6; i++) {
		uint32_t rel = i, pos;

		if (x->n)
			sl_oidx_entry(x, (i * 7919u) % x->n, &rel, &pos);
		keys[2 + i] = rel + (i & 1) - (i == 4);
	}
	for (k = 0; k < 8; k++) {
		uint32_t got = sl_oidx_lookup(x, keys[k]), want = 0;

		for (i = 0; i < x->n; i++) {
			uint32_t rel, pos;

			sl_oidx_entry(x, i, &rel, &pos);
			if (rel <= keys[k])
				want = pos;
		}
		if (sane)
			CHECK(got == want);
	}
}

static void
tidx_checks(const struct sl_idx *x, bool sane)
{
	int64_t keys[6] = {INT64_MIN, -1, 0, INT64_MAX, 0, 0};
	uint32_t i, k;

	if (x->n) {
		int64_t ts;
		uint32_t rel;

		sl_tidx_entry(x, x->n / 2, &ts, &rel);
		keys[4] = ts;
		keys[5] = ts == INT64_MIN ? ts : ts - 1;
	}
	for (k = 0; k < 6; k++) {
		int64_t ets = 0, got = sl_tidx_lookup_ts(x, keys[k], &ets), want = -1;

		for (i = 0; i < x->n; i++) {
			int64_t ts;
			uint32_t rel;

			sl_tidx_entry(x, i, &ts, &rel);
			if (ts <= keys[k])
				want = rel;
		}
		if (sane)
			CHECK(got == want);
		else
			CHECK(got >= -1 && got <= UINT32_MAX);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_idx x;
	bool time_index;
	uint32_t esz;
	uint64_t log_size, max_rel;
	char dir[64];
	int dfd, fd, rc, sane;

	if (size < 9 || size > (1u << 20))
		return 0;
	time_index = data[0] & 1;
	esz = time_index ? SL_TIDX_ENTRY : SL_OIDX_ENTRY;
	log_size = sl_be32(data + 1);
	max_rel = sl_be32(data + 5) ? sl_be32(data + 5) : UINT32_MAX;
	data += 9;
	size -= 9;

	dfd = enter_dir(dir, sizeof(dir));
	fd = openat(dfd, "x.idx", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);
	rc = sl_idx_open(&x, dfd, "x.idx", esz, false, 0);
	if (size % esz) {
		CHECK(rc == -EBADMSG);
		leave_dir(dir, dfd);
		return 0;
	}
	CHECK(rc == 0);
	CHECK(x.n == size / esz);
	CHECK(x.n == 0 || memcmp(x.map, data, size) == 0);
	if (time_index) {
		sane = sl_tidx_check_bytes(x.map, size, max_rel) == 0;
		tidx_checks(&x, sane);
		CHECK(!sl_tidx_append(&x, INT64_MAX, 0)); /* read-only */
	} else {
		sane = sl_oidx_check_bytes(x.map, size, log_size, max_rel) == 0;
		oidx_checks(&x, sane);
		CHECK(!sl_oidx_append(&x, UINT32_MAX, UINT32_MAX));
		if (sane && x.n)
			CHECK(sl_oidx_lookup(&x, UINT32_MAX) < log_size);
	}
	sl_idx_close(&x);
	leave_dir(dir, dfd);
	return 0;
}
