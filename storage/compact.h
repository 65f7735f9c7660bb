/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compact.h: log compaction (cleanup.policy=compact) with its knobs and counters exposed.
 * sl_plog_compact() (plog.h) is this with the defaults; tests and tools call
 * sl_compact_run() to bound the key map or read the statistics. Blocking file I/O, on the
 * thread that owns the log; see compact.c for the algorithm and its guarantees.
 */
#ifndef SL_STORAGE_COMPACT_H
#define SL_STORAGE_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_plog;

/*
 * Per-partition file (in <topic>-<partition>/) that compaction writes after a pass, in
 * the checkpoint format of plog_int.h: the offset below which the log is compacted. Below
 * it, offsets may have gaps and a segment's first batch may start above the segment's
 * name; readers of the layout (sluice log verify) use it to tell that from damage.
 */
#define SL_CLEANER_CKPT "cleaner-offset-checkpoint"

struct sl_compact_opts {
	size_t map_bytes;        /* memory for the key map (entries + key bytes); 0 = 256 MiB.
				  * When it fills, only the segments mapped so far are
				  * compacted. */
	unsigned test_hash_bits; /* tests only: keep this many bits of the 128-bit key hash
				  * (0 = all) to force collisions */
};

struct sl_compact_stats {
	unsigned segments_in;  /* closed segments compacted */
	unsigned segments_out; /* what they became (groups merge into one) */
	unsigned swaps;        /* .cleaned files swapped in */
	uint64_t batches_in, batches_out;
	uint64_t records_in, records_out;
	uint64_t tombstones_dropped;
	uint64_t bytes_in, bytes_out;
	uint64_t keys;        /* distinct keys in the map */
	int64_t cleaned_upto; /* checkpoint written (-1: nothing compacted) */
};

/*
 * One compaction pass over the closed, sealed segments of log that are older than
 * min.compaction.lag.ms (the active segment is never touched). Returns the number of
 * records removed (>= 0) or -errno; *st (may be NULL) gets the counters. On error no
 * segment is replaced: every .cleaned file written is unlinked.
 */
int64_t sl_compact_run(struct sl_plog *log, int64_t now_ms, const struct sl_compact_opts *o,
                       struct sl_compact_stats *st) SL_MUST_CHECK;

/* 128-bit SipHash-2-4 of buf under key k (16 bytes): the key map's hash, exposed for its
 * test vectors. */
void sl_compact_siphash128(const uint8_t k[16], const void *buf, size_t len, uint64_t out[2]);

#ifdef __cplusplus
}
#endif

#endif
