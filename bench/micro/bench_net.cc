// SPDX-License-Identifier: Apache-2.0
/*
 * bench_net.cc: the userspace TCP/IPv4 stack (dataplane/net) per packet, without a NIC:
 * the cases in net_cases.c drive one struct sl_net through an in-memory packet port with
 * pre-built peer frames and a pre-faulted pool (see net_cases.h). Every benchmark counts
 * one iteration per segment (KeepRunningBatch), so ns/op reads as ns per segment:
 *  - BM_NetRx: in-order data segments of `payload` bytes into an established connection,
 *    bursts of 32 through sl_net_poll (checksum verification, delayed ACKs), the
 *    application consuming its receive buffer after each burst; bytes/s is payload;
 *  - BM_NetTx: sl_tcp_send of `kib` KiB, segmented and checksummed to tx_burst, and the
 *    peer's ACKs (one per two segments) until the send ring is empty; ns per data segment
 *    sent, half an ACK's input included; bytes/s is payload;
 *  - BM_NetAck: pure ACK input (nothing in flight), bursts of 32; bytes/s is frame bytes;
 *  - BM_NetParse[NoCsum]: sl_net_parse alone, with and without the checksum.
 * zc:1 is the stack's zero-copy receive mode; offload:1 leaves checksums to the "NIC" (rx
 * frames marked verified, tx checksums not computed), as the DPDK port does when the NIC
 * can. tx/seg counts the packets the stack sent per segment (RX: ACKs, window updates).
 */
#include <benchmark/benchmark.h>

#include <cstdint>

#include "net_cases.h"

namespace
{

void
run_case(benchmark::State &state, enum sl_bnet_kind kind, int arg, bool zc, bool offload)
{
	struct sl_bnet_case *c = sl_bnet_case_create(
	        kind, arg, (zc ? SL_BNET_F_ZC : 0u) | (offload ? SL_BNET_F_OFFLOAD : 0u));
	unsigned batch;
	long r = 0;

	if (!c) {
		state.SkipWithError("case setup failed");
		return;
	}
	batch = sl_bnet_case_batch(c);
	while (state.KeepRunningBatch(batch)) {
		r = sl_bnet_case_run(c);
		if (r != (long)batch) {
			state.SkipWithError("the stack did not deliver or acknowledge the data");
			break;
		}
	}
	state.SetBytesProcessed(state.iterations() / batch * (int64_t)sl_bnet_case_bytes(c));
	state.counters["tx/seg"] = sl_bnet_case_tx_per_run(c) / batch;
	sl_bnet_case_destroy(c);
}

void
BM_NetRx(benchmark::State &state)
{
	run_case(state, SL_BNET_RX, (int)state.range(0), state.range(1) != 0, state.range(2) != 0);
}
BENCHMARK(BM_NetRx)
        ->ArgNames({"payload", "zc", "offload"})
        ->Args({1448, 0, 0})
        ->Args({64, 0, 0})
        ->Args({1448, 1, 0})
        ->Args({64, 1, 0})
        ->Args({1448, 0, 1});

void
BM_NetTx(benchmark::State &state)
{
	run_case(state, SL_BNET_TX, (int)state.range(0), false, state.range(1) != 0);
}
BENCHMARK(BM_NetTx)->ArgNames({"kib", "offload"})->Args({16, 0})->Args({64, 0})->Args({64, 1});

void
BM_NetAck(benchmark::State &state)
{
	run_case(state, SL_BNET_ACK, 0, false, state.range(0) != 0);
}
BENCHMARK(BM_NetAck)->ArgNames({"offload"})->Arg(0)->Arg(1);

void
BM_NetParse(benchmark::State &state)
{
	run_case(state, SL_BNET_PARSE, (int)state.range(0), false, false);
}
BENCHMARK(BM_NetParse)->ArgNames({"payload"})->Arg(1448)->Arg(64);

void
BM_NetParseNoCsum(benchmark::State &state)
{
	run_case(state, SL_BNET_PARSE_NOCSUM, (int)state.range(0), false, false);
}
BENCHMARK(BM_NetParseNoCsum)->ArgNames({"payload"})->Arg(1448)->Arg(64);

} // namespace
