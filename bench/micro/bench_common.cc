// SPDX-License-Identifier: Apache-2.0
/*
 * bench_common.cc: CRC32C (ISA-L) over 4 KiB / 64 KiB / 1 MiB, and sl_rb_validate on 16 KiB
 * and 1 MiB batches of 1 KiB records, uncompressed, lz4 and zstd; plus the header+CRC fast
 * path recovery uses. Bytes/s are of the batch as it travels (compressed size).
 */
#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "shim.h"

namespace sl_bench
{

std::vector<uint8_t>
prefaulted(size_t n)
{
	std::vector<uint8_t> v(n);

	for (size_t i = 0; i < n; i += 4096)
		v[i] = 1;
	return v;
}

void
fill_payload(uint8_t *p, size_t n, uint32_t seed)
{
	static const char *const words[] = {"\"user\":", "\"order\":",         "\"price\":",
	                                    "\"qty\":",  "\"side\":\"buy\",",  "\"side\":\"sell\",",
	                                    "\"ts\":",   "\"venue\":\"XNAS\","};
	uint32_t x = seed * 2654435761u + 0x9e3779b9u;
	size_t o = 0;

	while (o < n) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		const char *w = words[x % 8];
		size_t wl = strlen(w);
		char num[16];
		int nl = snprintf(num, sizeof(num), "%u,", x % 1000000);

		for (size_t i = 0; i < wl && o < n; i++)
			p[o++] = (uint8_t)w[i];
		for (int i = 0; i < nl && o < n; i++)
			p[o++] = (uint8_t)num[i];
	}
}

std::vector<uint8_t>
make_batch(int codec, size_t batch_bytes, size_t record_bytes, int *nrecords)
{
	std::vector<uint8_t> buf(batch_bytes), val(record_bytes),
	        scratch(sl_codec_bound(codec, batch_bytes) + 1024);
	struct sl_rb_scratch sc = {scratch.data(), scratch.size()};
	struct sl_rb_builder b;
	const size_t klen = 16;
	int n = 0;

	if (sl_rb_builder_init(&b, buf.data(), buf.size(), codec, 0, 1700000000000LL, -1, -1, -1))
		abort();
	for (;;) {
		char key[klen + 1];

		snprintf(key, sizeof(key), "key-%012d", n);
		fill_payload(val.data(), val.size() - klen, (uint32_t)n);
		if (sl_rb_builder_add(&b, 1700000000000LL + n, key, (int32_t)klen, val.data(),
		                      (int32_t)(val.size() - klen), nullptr, 0) != 0)
			break;
		n++;
	}
	int64_t total = sl_rb_builder_finish(&b, &sc);
	if (total <= 0 || n == 0)
		abort();
	buf.resize((size_t)total);
	*nrecords = n;
	return buf;
}

} // namespace sl_bench

using namespace sl_bench;

static void
BM_crc32c(benchmark::State &state)
{
	size_t n = (size_t)state.range(0);
	std::vector<uint8_t> buf = prefaulted(n);
	uint32_t crc = 0;

	fill_payload(buf.data(), n, 1);
	for (auto _ : state) {
		crc = sl_crc32c(crc, buf.data(), n);
		benchmark::DoNotOptimize(crc);
	}
	state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)n);
}
BENCHMARK(BM_crc32c)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20);

/* args: codec, batch bytes, flags */
static void
BM_rb_validate(benchmark::State &state)
{
	int codec = (int)state.range(0);
	size_t batch_bytes = (size_t)state.range(1);
	unsigned flags = (unsigned)state.range(2);
	int nrec = 0;
	std::vector<uint8_t> batch = make_batch(codec, batch_bytes, 1024, &nrec);
	std::vector<uint8_t> scratch = prefaulted(2 * batch_bytes);
	struct sl_rb_scratch sc = {scratch.data(), scratch.size()};

	if (sl_codec_thread_init() != 0)
		abort();
	for (auto _ : state) {
		int64_t r = sl_rb_validate(batch.data(), batch.size(), 0, flags, &sc, nullptr);

		if (r != (int64_t)batch.size()) {
			state.SkipWithError(sl_rb_strerror((int)r));
			break;
		}
		benchmark::DoNotOptimize(r);
	}
	state.SetBytesProcessed((int64_t)state.iterations() * (int64_t)batch.size());
	state.counters["records/s"] =
	        benchmark::Counter((double)state.iterations() * nrec, benchmark::Counter::kIsRate);
	state.counters["ratio"] = (double)batch_bytes / (double)batch.size();
	state.SetLabel(std::string(sl_codec_name(codec)) +
	               (flags & SL_RB_VALIDATE_NO_RECORDS ? " header+crc" : ""));
}
BENCHMARK(BM_rb_validate)
        ->ArgNames({"codec", "bytes", "flags"})
        ->Args({SL_CODEC_NONE, 16 << 10, 0})
        ->Args({SL_CODEC_NONE, 1 << 20, 0})
        ->Args({SL_CODEC_LZ4, 16 << 10, 0})
        ->Args({SL_CODEC_LZ4, 1 << 20, 0})
        ->Args({SL_CODEC_ZSTD, 16 << 10, 0})
        ->Args({SL_CODEC_ZSTD, 1 << 20, 0})
        ->Args({SL_CODEC_NONE, 1 << 20, SL_RB_VALIDATE_NO_RECORDS});
