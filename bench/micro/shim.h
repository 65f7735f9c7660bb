// SPDX-License-Identifier: Apache-2.0
/*
 * shim.h: the C API as the C++ benchmarks see it, plus helpers they share. Include this
 * instead of the C headers directly.
 */
#ifndef SL_BENCH_MICRO_SHIM_H
#define SL_BENCH_MICRO_SHIM_H

extern "C" {
#include "common/crc32c.h"
#include "storage/codec.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"
}

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sl_bench
{

/* A buffer written once up front, so the first timed pass does not pay for page faults
 * (MACHINE.md: untouched memory runs at a fraction of memcpy speed). */
std::vector<uint8_t> prefaulted(size_t n);

/* Fills p with JSON-like record payload that compresses roughly like real events (~3-5x
 * with lz4/zstd). Deterministic for a given seed. */
void fill_payload(uint8_t *p, size_t n, uint32_t seed);

/*
 * Builds one RecordBatch v2 of records of record_bytes payload bytes (16-byte key + value)
 * with codec, adding records while the uncompressed batch stays within batch_bytes. Returns
 * the batch (its size is the wire size); *nrecords gets the record count. Aborts on error.
 */
std::vector<uint8_t> make_batch(int codec, size_t batch_bytes, size_t record_bytes, int *nrecords);

} // namespace sl_bench

#endif
