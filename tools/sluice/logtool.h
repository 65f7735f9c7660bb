/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logtool.h: the offline reader behind `sluice log dump` and `sluice log verify`. Walks a
 * partition directory (<topic>-<partition>) or a log.dirs root (every partition in it),
 * reading segment and index files with plain pread. Internal to tools/sluice; exposed so
 * the unit test can drive it. Blocking; allocates per segment (batch list, read buffer).
 *
 * What verify checks, per partition:
 *  - every batch: framing (batchLength), magic, CRC-32C, record framing (sl_rb_validate);
 *  - offsets strictly increasing across batches and segments, and contiguous (no gap)
 *    except below the compaction checkpoint (SL_CLEANER_CKPT of storage/compact.h),
 *    where removed records leave gaps;
 *  - each segment file is named after its first batch's base offset (in the compacted
 *    range: at or below it, because compaction keeps segment names);
 *  - .index entries (relative offset, position): positions inside the log and at a batch
 *    start, that batch containing the entry's offset, both strictly increasing;
 *  - .timeindex entries (timestamp, relative offset): the offset inside a batch of the
 *    segment, timestamps and offsets non-decreasing, no timestamp above the segment's max;
 *  - all-zero tails of log and index files (preallocation, unclean shutdown) and leftover
 *    .cleaned/.swap/.deleted files are warnings, not damage: the broker repairs them at
 *    open. Missing indexes are warnings too (rebuilt at open).
 */
#ifndef SL_TOOLS_SLUICE_LOGTOOL_H
#define SL_TOOLS_SLUICE_LOGTOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sl_logtool_opts {
	bool dump;    /* print every batch */
	bool records; /* and every record (dump only) */
	FILE *out;    /* listing and problems */
};

struct sl_logtool_stats {
	unsigned partitions;
	unsigned segments;
	uint64_t batches;
	uint64_t records;
	uint64_t problems; /* damage: verify fails */
	uint64_t warnings; /* repairable at open: verify still passes */
};

/*
 * Walks path (a partition directory or a root of them). Returns 0 when it could read
 * everything it found (problems are counted in *st, not returned), or -errno when path
 * cannot be read or holds no partition.
 */
int sl_logtool_run(const char *path, const struct sl_logtool_opts *o, struct sl_logtool_stats *st);

#ifdef __cplusplus
}
#endif

#endif
