// SPDX-License-Identifier: Apache-2.0
/*
 * gen_seeds.c: writes the seed corpus of fuzz_rbatch with the production builder:
 *
 *   build/tests/fuzz/gen_seeds tests/fuzz/corpus/rbatch
 *
 * For every codec: one record, many records (null keys and values, headers, timestamps going
 * back and forth), an idempotent transactional producer, a compacted batch with offset gaps,
 * a LogAppendTime batch; plus an empty batch, a control batch, a set of three batches, and
 * direct codec inputs for fuzz_rbatch's codec path (byte 0 = codec | 0x08 round trip |
 * size shift << 4, byte 1 = destination size). The kp-*.bin seeds next to them come from
 * kafka-python and are not generated here. Output is deterministic; the files are committed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/codec.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#define TS 1700000000000LL

static uint8_t buf[1 << 16], zbuf[1 << 17];
static struct sl_rb_scratch zs = {zbuf, sizeof(zbuf)};
static const char *dir;
static int failures;

static void
write_seed(const char *name, const uint8_t *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "gen_seeds: %s: %s\n", path, strerror(errno));
		failures++;
		return;
	}
	printf("%s (%zu bytes)\n", path, len);
}

static void
check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "gen_seeds: %s: %d\n", what, r);
		exit(1);
	}
}

static void
finish(struct sl_rb_builder *b, const char *codec, const char *shape, unsigned flags)
{
	char name[128];
	int64_t total = sl_rb_builder_finish(b, &zs);
	int64_t v;

	check((int)total, "finish");
	v = sl_rb_validate(buf, (size_t)total, 0, flags, &zs, NULL);
	if (v != total) {
		fprintf(stderr, "gen_seeds: %s-%s does not validate: %s\n", codec, shape,
		        sl_rb_strerror((int)v));
		exit(1);
	}
	snprintf(name, sizeof(name), "%s-%s.bin", codec, shape);
	write_seed(name, buf, (size_t)total);
}

static void
per_codec(int codec)
{
	const char *cn = sl_codec_name(codec);
	struct sl_rb_kv hdrs[2] = {{(const uint8_t *)"trace-id", 8, (const uint8_t *)"4bf92f35", 8},
	                           {(const uint8_t *)"empty", 5, NULL, -1}};
	struct sl_rb_builder b;
	char key[32], val[128];

	check(sl_rb_builder_init(&b, buf, sizeof(buf), codec, 0, TS, -1, -1, -1), "init");
	check(sl_rb_builder_add(&b, TS, "key", 3, "value", 5, NULL, 0), "add");
	finish(&b, cn, "one", 0);

	check(sl_rb_builder_init(&b, buf, sizeof(buf), codec, 0, TS, -1, -1, -1), "init");
	for (int i = 0; i < 20; i++) {
		int kl = snprintf(key, sizeof(key), "user-%d", i % 6);
		int vl =
		        snprintf(val, sizeof(val), "{\"event\":%d,\"amount\":%d}", i, i * 37 % 101);

		check(sl_rb_builder_add(&b, TS + (i * 13) % 7 - 3, i % 5 == 2 ? NULL : key,
		                        i % 5 == 2 ? -1 : kl, i % 7 == 6 ? NULL : val,
		                        i % 7 == 6 ? -1 : vl, hdrs, (unsigned)(i % 3)),
		      "add");
	}
	finish(&b, cn, "many", 0);

	check(sl_rb_builder_init(&b, buf, sizeof(buf), codec, 0, TS, 1000, 2, 50), "init");
	sl_rb_builder_set_attrs(&b, SL_RB_ATTR_TRANSACTIONAL);
	for (int i = 0; i < 3; i++)
		check(sl_rb_builder_add(&b, TS + i, "k", 1, "idempotent", 10, NULL, 0), "add");
	finish(&b, cn, "txn", 0);

	check(sl_rb_builder_init(&b, buf, sizeof(buf), codec, 4000, TS, -1, -1, -1), "init");
	for (int i = 0; i < 10; i += 3) {
		struct sl_rb_rec rec = {
		        .offset_delta = i,
		        .timestamp = TS + i,
		        .key = (const uint8_t *)key,
		        .key_len = snprintf(key, sizeof(key), "k%d", i),
		        .value = (const uint8_t *)"latest",
		        .value_len = i == 9 ? -1 : 6,
		};

		check(sl_rb_builder_add_raw(&b, &rec), "add_raw");
	}
	sl_rb_builder_set_last_offset_delta(&b, 11);
	finish(&b, cn, "compacted", SL_RB_VALIDATE_STORED);

	check(sl_rb_builder_init(&b, buf, sizeof(buf), codec, 0, TS, -1, -1, -1), "init");
	sl_rb_builder_set_attrs(&b, SL_RB_ATTR_TIMESTAMP_TYPE);
	check(sl_rb_builder_add(&b, TS + 50, "a", 1, "b", 1, NULL, 0), "add");
	check(sl_rb_builder_add(&b, TS + 10, "c", 1, "d", 1, NULL, 0), "add");
	sl_rb_builder_set_max_timestamp(&b, TS + 20);
	finish(&b, cn, "logappend", 0);
}

static void
direct_seed(int codec, const char *name)
{
	static uint8_t in[600], out[2048];
	int64_t n;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t) "direct codec input "[i % 19];
	/* cap = 0x40 << 5 = 2048 >= 600; 0x08 asks for the round trip. */
	out[0] = (uint8_t)(codec | 0x08 | (5 << 4));
	out[1] = 0x40;
	n = sl_codec_compress(codec, in, sizeof(in), out + 2, sizeof(out) - 2);
	check((int)n, "compress");
	write_seed(name, out, (size_t)n + 2);
}

int
main(int argc, char **argv)
{
	struct sl_rb_builder b;
	size_t off = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_ZSTD; codec++)
		per_codec(codec);

	/* All records compacted away: only the header is left. */
	check(sl_rb_builder_init(&b, buf, sizeof(buf), SL_CODEC_ZSTD, 7000, TS, 5, 0, 9), "init");
	sl_rb_builder_set_last_offset_delta(&b, 4);
	finish(&b, "zstd", "empty", SL_RB_VALIDATE_STORED);

	/* A transaction commit marker: key = version 0, type 1 (commit); value = version 0,
	 * coordinator epoch 3. */
	check(sl_rb_builder_init(&b, buf, sizeof(buf), SL_CODEC_NONE, 0, TS, 1000, 2, 53), "init");
	sl_rb_builder_set_attrs(&b, SL_RB_ATTR_TRANSACTIONAL | SL_RB_ATTR_CONTROL);
	check(sl_rb_builder_add(&b, TS, "\0\0\0\1", 4, "\0\0\0\0\0\3", 6, NULL, 0), "add");
	finish(&b, "none", "control", 0);

	/* Three batches back to back, as in a Produce request's records. */
	{
		static uint8_t set[1 << 16];

		for (int codec = SL_CODEC_NONE; codec <= SL_CODEC_LZ4; codec += 3) {
			int64_t t;

			check(sl_rb_builder_init(&b, set + off, sizeof(set) - off, codec, 0, TS, -1,
			                         -1, -1),
			      "init");
			check(sl_rb_builder_add(&b, TS, "s", 1, "set member", 10, NULL, 0), "add");
			check(sl_rb_builder_add(&b, TS + 1, "t", 1, "set member", 10, NULL, 0),
			      "add");
			t = sl_rb_builder_finish(&b, &zs);
			check((int)t, "finish");
			off += (size_t)t;
		}
		check(sl_rb_builder_init(&b, set + off, sizeof(set) - off, SL_CODEC_SNAPPY, 0, TS,
		                         -1, -1, -1),
		      "init");
		check(sl_rb_builder_add(&b, TS, "u", 1, "third", 5, NULL, 0), "add");
		off += (size_t)sl_rb_builder_finish(&b, &zs);
		if (sl_rb_validate_set(set, off, 0, &zs, NULL) != 3) {
			fprintf(stderr, "gen_seeds: set does not validate\n");
			return 1;
		}
		write_seed("set-3.bin", set, off);
	}

	direct_seed(SL_CODEC_GZIP, "direct-gzip.bin");
	direct_seed(SL_CODEC_SNAPPY, "direct-snappy.bin");
	direct_seed(SL_CODEC_LZ4, "direct-lz4.bin");
	direct_seed(SL_CODEC_ZSTD, "direct-zstd.bin");
	return failures ? 1 : 0;
}
