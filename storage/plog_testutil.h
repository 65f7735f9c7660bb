/* SPDX-License-Identifier: Apache-2.0 */
/*
 * plog_testutil.h: helpers shared by the storage engine's unit tests (and the crash test):
 * a ring + store on a fresh directory (ext4 for O_DIRECT, /dev/shm for tmpfs), batches
 * built with rbuild.h, and loops that drive the store until completions arrive. Tests only;
 * header-only (static functions), single thread.
 */
#ifndef SL_STORAGE_PLOG_TESTUTIL_H
#define SL_STORAGE_PLOG_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/uring.h"
#include "storage/plog.h"
#include "storage/plog_int.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TU_DISK_ROOT "/var/tmp"
#define TU_SHM_ROOT "/dev/shm"

struct tu_env {
	struct sl_uring ring;
	struct sl_store *st;
	char root[256]; /* the log.dir */
	char pdir[300]; /* root/<topic>-<partition> */
	int64_t now;
};

static SL_UNUSED int
tu_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static SL_UNUSED void
tu_rm_rf(const char *path)
{
	nftw(path, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Small pools by default so tests exercise eviction and pool limits cheaply. */
static SL_UNUSED void
tu_opts(struct sl_store_opts *o)
{
	sl_store_opts_default(o);
	o->chunk_bytes = 256 * 1024;
	o->nr_chunks = 8;
	o->read_buf_bytes = 128 * 1024;
	o->nr_read_bufs = 4;
	o->direct_nondurable = true; /* exercise O_DIRECT in every mode */
}

static SL_UNUSED int
tu_env_init(struct tu_env *e, const char *root, const struct sl_store_opts *o)
{
	struct sl_store_opts def;
	int rc;

	memset(e, 0, sizeof(*e));
	snprintf(e->root, sizeof(e->root), "%s/sl-plog-XXXXXX", root);
	if (!mkdtemp(e->root))
		return -errno;
	snprintf(e->pdir, sizeof(e->pdir), "%s/t-0", e->root);
	rc = sl_uring_init(&e->ring, 256, 0);
	if (rc)
		return rc;
	if (!o) {
		tu_opts(&def);
		o = &def;
	}
	e->now = 1700000000000LL;
	return sl_store_create(&e->st, &e->ring, o);
}

static SL_UNUSED void
tu_env_fini(struct tu_env *e)
{
	sl_store_destroy(e->st);
	sl_uring_fini(&e->ring);
	tu_rm_rf(e->root);
}

/* One poll + one ring run (waits up to 100 ms for a completion when I/O is in flight). */
static SL_UNUSED void
tu_step(struct tu_env *e)
{
	sl_store_poll(e->st, e->now);
	(void)sl_uring_run(&e->ring, sl_store_busy(e->st) ? 1 : 0, 100 * 1000 * 1000LL);
}

/* Steps until *counter reaches want (or ~10 s pass). Returns 0 or -ETIMEDOUT. */
static SL_UNUSED int
tu_wait(struct tu_env *e, const int *counter, int want)
{
	int i;

	for (i = 0; i < 100000 && *counter < want; i++)
		tu_step(e);
	return *counter >= want ? 0 : -ETIMEDOUT;
}

static SL_UNUSED void
tu_drain(struct tu_env *e)
{
	int i;

	for (i = 0; i < 100000 && sl_store_busy(e->st); i++)
		tu_step(e);
	sl_store_poll(e->st, e->now);
	(void)sl_uring_run(&e->ring, 0, 0);
}

/* Value bytes of record i of a batch seeded with seed. */
static SL_UNUSED void
tu_fill_value(uint8_t *v, size_t n, uint32_t seed, int i)
{
	uint32_t x = seed * 2654435761u + (uint32_t)i * 40503u + 1;
	size_t k;

	for (k = 0; k < n; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		v[k] = (uint8_t)x;
	}
}

/* Builds an uncompressed batch of nrec records (timestamps ts, ts+1, ...) with values of
 * vlen bytes derived from seed. Returns its size (> 0) or fails the process. */
static SL_UNUSED size_t
tu_batch(uint8_t *buf, size_t cap, int nrec, int64_t ts, uint32_t seed, size_t vlen)
{
	static uint8_t val[1 << 20];
	struct sl_rb_builder b;
	char key[32];
	int64_t total;
	int i;

	if (vlen > sizeof(val) ||
	    sl_rb_builder_init(&b, buf, cap, SL_CODEC_NONE, 0, ts, -1, -1, -1))
		abort();
	for (i = 0; i < nrec; i++) {
		int kl = snprintf(key, sizeof(key), "k%u-%d", seed, i);

		tu_fill_value(val, vlen, seed, i);
		if (sl_rb_builder_add(&b, ts + i, key, kl, val, (int32_t)vlen, NULL, 0))
			abort();
	}
	total = sl_rb_builder_finish(&b, NULL);
	if (total <= 0)
		abort();
	return (size_t)total;
}

struct tu_app {
	struct sl_append a;
	int *counter;
};

static SL_UNUSED void
tu_app_done(struct sl_append *a)
{
	struct tu_app *t = SL_CONTAINER_OF(a, struct tu_app, a);

	(*t->counter)++;
}

/* Appends one buffer; returns sl_plog_append's result. */
static SL_UNUSED int
tu_append(struct sl_plog *log, struct tu_app *t, int *counter, const void *p, size_t n)
{
	struct iovec iov = {(void *)p, n};

	memset(t, 0, sizeof(*t));
	t->counter = counter;
	t->a.done = tu_app_done;
	return sl_plog_append(log, &iov, 1, &t->a);
}

struct tu_rd {
	struct sl_read r;
	int done;
};

static SL_UNUSED void
tu_rd_done(struct sl_read *r)
{
	SL_CONTAINER_OF(r, struct tu_rd, r)->done++;
}

/* Reads synchronously (driving the ring). Returns 1 when served from memory, 0 when it
 * went to disk, < 0 on a programming error or timeout. */
static SL_UNUSED int
tu_read(struct tu_env *e, struct sl_plog *log, struct tu_rd *t, int64_t off, uint32_t max)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->r.done = tu_rd_done;
	t->r.offset = off;
	t->r.max_bytes = max;
	rc = sl_plog_read(log, &t->r);
	if (rc < 0 || rc == 1)
		return rc;
	if (tu_wait(e, &t->done, 1))
		return -ETIMEDOUT;
	return 0;
}

static SL_UNUSED void
tu_read_release(struct tu_rd *t)
{
	if (t->r.buf)
		sl_rbuf_unref(t->r.buf);
	t->r.buf = NULL;
}

static SL_UNUSED bool
tu_exists(const char *dir, const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static SL_UNUSED int64_t
tu_file_size(const char *dir, const char *name)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static SL_UNUSED void
tu_seg_path(char *buf, size_t len, const char *dir, int64_t base, const char *sfx)
{
	char name[48];

	sl_seg_name(name, sizeof(name), base, sfx);
	snprintf(buf, len, "%s/%s", dir, name);
}

#ifdef __cplusplus
}
#endif

#endif
