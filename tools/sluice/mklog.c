/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mklog.c: a test helper (not installed) that writes real partition directories through
 * the storage engine, for the CLI tests of `sluice log dump/verify`:
 *
 *   sluice-mklog ROOT
 *
 * creates ROOT/orders-0 (plain log: many small segments, batches of every codec, keys,
 * headers, tombstones) and ROOT/orders-1 (the same records, then compacted). Prints
 * "records=<n> end_offset=<n>" for each partition. Blocking; exits non-zero on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/uring.h"
#include "storage/codec.h"
#include "storage/plog.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define NOW_MS 1750000000000LL

struct ctx {
	struct sl_uring ring;
	struct sl_store *st;
	int64_t now_ms;
};

static void
settle(struct ctx *c)
{
	for (int i = 0; i < 100000; i++) {
		sl_store_poll(c->st, c->now_ms);
		if (!sl_store_busy(c->st))
			return;
		(void)sl_uring_run(&c->ring, 1, 100 * 1000 * 1000LL);
	}
	fprintf(stderr, "mklog: store never settled\n");
	exit(1);
}

static void
on_done(struct sl_append *a)
{
	*(int *)a->arg = 1;
}

static int
append_one(struct ctx *c, struct sl_plog *log, int codec, int batch_no, int nrec)
{
	static uint8_t buf[1 << 20], scratch_mem[1 << 21];
	struct sl_rb_scratch scratch = {scratch_mem, sizeof(scratch_mem)};
	struct sl_rb_builder b;
	struct sl_append a = {.done = on_done};
	struct iovec iov;
	int64_t total;
	int done = 0, rc;

	if (sl_rb_builder_init(&b, buf, sizeof(buf), codec, 0, NOW_MS + batch_no * 100, -1, -1, -1))
		return -1;
	for (int i = 0; i < nrec; i++) {
		char key[32], val[200];
		struct sl_rb_kv hdr = {(const uint8_t *)"h", 1, (const uint8_t *)"v", 1};
		int kl = snprintf(key, sizeof(key), "key-%d", (batch_no * 7 + i) % 23);
		bool tomb = (batch_no + i) % 17 == 0;

		/* Half random, half repeated: compressible, but not to nothing. */
		for (size_t k = 0; k < sizeof(val); k++)
			val[k] = (char)(k < sizeof(val) / 2 ? rand() : 'a' + (batch_no + i) % 26);
		if (sl_rb_builder_add(&b, NOW_MS + batch_no * 100 + i, key, kl, tomb ? NULL : val,
		                      tomb ? -1 : (int32_t)sizeof(val), &hdr, i % 3 == 0))
			return -1;
	}
	total = sl_rb_builder_finish(&b, &scratch);
	if (total <= 0)
		return -1;
	iov.iov_base = buf;
	iov.iov_len = (size_t)total;
	a.arg = &done;
	rc = sl_plog_append(log, &iov, 1, &a);
	if (rc)
		return rc;
	for (int i = 0; i < 100000 && !done; i++) {
		sl_store_poll(c->st, c->now_ms);
		(void)sl_uring_run(&c->ring, 1, 100 * 1000 * 1000LL);
	}
	return done && !a.err ? 0 : -1;
}

static int
make_partition(struct ctx *c, const char *root, int partition, bool compact)
{
	static const int codecs[] = {SL_CODEC_NONE, SL_CODEC_GZIP, SL_CODEC_SNAPPY, SL_CODEC_LZ4,
	                             SL_CODEC_ZSTD};
	struct sl_plog_cfg cfg;
	struct sl_plog *log;
	int records = 0;

	sl_plog_cfg_default(&cfg);
	cfg.segment_bytes = 16 * 1024;
	cfg.index_interval_bytes = 1024;
	cfg.cleanup_policy = compact ? SL_CLEANUP_COMPACT : SL_CLEANUP_DELETE;
	cfg.retention_ms = -1;
	if (sl_plog_open(&log, c->st, root, "orders", partition, &cfg))
		return -1;
	for (int b = 0; b < 60; b++) {
		int n = 5 + b % 11;

		if (append_one(c, log, codecs[b % 5], b, n))
			return -1;
		records += n;
	}
	settle(c);
	if (compact) {
		/* A day later, so that old tombstones may go too. */
		c->now_ms = NOW_MS + 2 * 24 * 3600 * 1000LL;
		if (sl_plog_compact(log, c->now_ms) < 0)
			return -1;
		settle(c);
	}
	printf("orders-%d records=%d end_offset=%lld\n", partition, records,
	       (long long)sl_plog_end_offset(log));
	return sl_plog_close(log);
}

int
main(int argc, char **argv)
{
	struct ctx c = {.now_ms = NOW_MS};
	struct sl_store_opts o;

	srand(1);
	if (argc != 2) {
		fprintf(stderr, "usage: sluice-mklog ROOT\n");
		return 2;
	}
	sl_store_opts_default(&o);
	o.chunk_bytes = 1u << 20;
	o.nr_chunks = 8;
	o.nr_read_bufs = 4;
	if (sl_uring_init(&c.ring, 64, 0) || sl_store_create(&c.st, &c.ring, &o)) {
		fprintf(stderr, "mklog: cannot create the store\n");
		return 1;
	}
	if (make_partition(&c, argv[1], 0, false) || make_partition(&c, argv[1], 1, true)) {
		fprintf(stderr, "mklog: failed\n");
		return 1;
	}
	sl_store_destroy(c.st);
	sl_uring_fini(&c.ring);
	return 0;
}
