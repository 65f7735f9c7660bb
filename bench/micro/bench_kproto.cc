// SPDX-License-Identifier: Apache-2.0
/*
 * bench_kproto.cc: the generated Kafka codecs on the hot path, per request: Produce v7
 * request decode and response encode, Fetch v11 request decode and response encode, each
 * for 1 and 16 partitions, plus the varint primitives (common/bytes.h) over a mix of small
 * and large values. Record batches (16 KiB per partition) are opaque chains: decode only
 * references them and encode gathers them without copying, so bytes/s, which counts whole
 * requests and responses, is huge; items/s (requests or varints per second) is the figure
 * to read. One arena, reset per iteration, as the
 * connection code does per request. The codec cases are built in C (kproto_cases.c): the
 * generated codec headers do not compile as C++.
 */
#include <benchmark/benchmark.h>
#include <cstdint>
#include <vector>

#include "shim.h"

extern "C" {
#include "common/bytes.h"
}

#include "kproto_cases.h"

namespace
{

void
run_case(benchmark::State &state, enum sl_bk_kind kind)
{
	struct sl_bk_case *c = sl_bk_case_create(kind, (int)state.range(0));
	long len = 0;

	if (!c) {
		state.SkipWithError("case setup failed");
		return;
	}
	for (auto _ : state) {
		len = sl_bk_case_run(c);
		if (len < 0) {
			state.SkipWithError("codec failed");
			break;
		}
		benchmark::DoNotOptimize(len);
	}
	sl_bk_case_destroy(c);
	state.SetItemsProcessed(state.iterations());
	state.SetBytesProcessed(state.iterations() * (int64_t)(len > 0 ? len : 0));
}

void
BM_ProduceReqDecode(benchmark::State &state)
{
	run_case(state, SL_BK_PRODUCE_REQ_DECODE);
}
BENCHMARK(BM_ProduceReqDecode)->Arg(1)->Arg(16);

void
BM_ProduceRespEncode(benchmark::State &state)
{
	run_case(state, SL_BK_PRODUCE_RESP_ENCODE);
}
BENCHMARK(BM_ProduceRespEncode)->Arg(1)->Arg(16);

void
BM_FetchReqDecode(benchmark::State &state)
{
	run_case(state, SL_BK_FETCH_REQ_DECODE);
}
BENCHMARK(BM_FetchReqDecode)->Arg(1)->Arg(16);

void
BM_FetchRespEncode(benchmark::State &state)
{
	run_case(state, SL_BK_FETCH_RESP_ENCODE);
}
BENCHMARK(BM_FetchRespEncode)->Arg(1)->Arg(16);

/* Values as record fields carry them: mostly small lengths and deltas, some large. */
std::vector<int64_t>
varint_values(size_t n)
{
	std::vector<int64_t> v(n);
	uint32_t x = 2463534242u;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		switch (x % 4) {
		case 0: v[i] = (int64_t)(x % 64) - 32; break;
		case 1: v[i] = (int64_t)(x % 16384); break;
		case 2: v[i] = -(int64_t)(x % 1000000); break;
		default: v[i] = (int64_t)x * 4096; break;
		}
	}
	return v;
}

void
BM_VarlongEncode(benchmark::State &state)
{
	std::vector<int64_t> v = varint_values(4096);
	std::vector<uint8_t> out(v.size() * 10);

	for (auto _ : state) {
		size_t o = 0;

		for (int64_t x : v)
			o += sl_put_varlong(out.data() + o, x);
		benchmark::DoNotOptimize(o);
	}
	state.SetItemsProcessed(state.iterations() * (int64_t)v.size());
}
BENCHMARK(BM_VarlongEncode);

void
BM_VarlongDecode(benchmark::State &state)
{
	std::vector<int64_t> v = varint_values(4096);
	std::vector<uint8_t> buf(v.size() * 10);
	size_t len = 0;

	for (int64_t x : v)
		len += sl_put_varlong(buf.data() + len, x);
	for (auto _ : state) {
		struct sl_rd rd;
		int64_t sum = 0;

		sl_rd_init(&rd, buf.data(), len);
		for (size_t i = 0; i < v.size(); i++)
			sum += sl_rd_varlong(&rd);
		if (rd.err || sl_rd_left(&rd)) {
			state.SkipWithError("decode failed");
			break;
		}
		benchmark::DoNotOptimize(sum);
	}
	state.SetItemsProcessed(state.iterations() * (int64_t)v.size());
	state.SetBytesProcessed(state.iterations() * (int64_t)len);
}
BENCHMARK(BM_VarlongDecode);

void
BM_VarintDecode(benchmark::State &state)
{
	std::vector<int64_t> v = varint_values(4096);
	std::vector<uint8_t> buf(v.size() * 5);
	size_t len = 0;

	for (int64_t x : v)
		len += sl_put_varint(buf.data() + len, (int32_t)x);
	for (auto _ : state) {
		struct sl_rd rd;
		int64_t sum = 0;

		sl_rd_init(&rd, buf.data(), len);
		for (size_t i = 0; i < v.size(); i++)
			sum += sl_rd_varint(&rd);
		if (rd.err || sl_rd_left(&rd)) {
			state.SkipWithError("decode failed");
			break;
		}
		benchmark::DoNotOptimize(sum);
	}
	state.SetItemsProcessed(state.iterations() * (int64_t)v.size());
	state.SetBytesProcessed(state.iterations() * (int64_t)len);
}
BENCHMARK(BM_VarintDecode);

} // namespace
