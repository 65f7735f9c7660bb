/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pstate.h: idempotent-producer state of one partition log (Kafka's ProducerStateManager,
 * without transactions). For every producer id seen in the log: its epoch and the sequence
 * ranges and offsets of its last SL_PSTATE_NBATCH batches, so that a retried batch is
 * answered with its original offsets instead of being appended again, a gap in the
 * sequence is refused, and a stale epoch is fenced.
 *
 * Threading: a struct sl_pstate belongs to its log and is touched only by the log's (the
 * store's) thread. The table is an open-addressing hash (linear probing) sized at init and
 * grown (malloc, rehash) only when a new producer id would push it past half full; checking
 * and recording a batch of a known producer allocate nothing and take no lock.
 *
 * Entries are never expired (Kafka expires them after transactional.id.expiration.ms /
 * producer.id.expiration.ms; not yet here): memory is ~100 bytes per producer id ever seen
 * by the partition since start-up (the rebuild at open re-reads every id still in the log).
 */
#ifndef SL_STORAGE_PSTATE_H
#define SL_STORAGE_PSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Batches remembered per producer (Kafka's max.in.flight.requests.per.connection limit for
 * idempotence, ProducerStateEntry.NumBatchMetadataEntriesToRetain). */
#define SL_PSTATE_NBATCH 5

/*
 * Errors of sl_pstate_check, in their own range so they travel as int returns next to
 * enum sl_rb_err (-1001..) and -errno. sl_pstate_kerr() gives the Kafka code.
 */
enum sl_pstate_err {
	SL_PS_EOUT_OF_ORDER = -1101, /* OUT_OF_ORDER_SEQUENCE_NUMBER (45) */
	SL_PS_EFENCED = -1102,       /* INVALID_PRODUCER_EPOCH (47): an older epoch */
	SL_PS_EUNKNOWN_PID = -1103,  /* UNKNOWN_PRODUCER_ID (59): no state, sequence != 0 */
};

/* True when err is one of enum sl_pstate_err. */
static inline bool
sl_pstate_is_err(int err)
{
	return err <= -1100 && err > -1200;
}

/* Kafka error code of an enum sl_pstate_err (Produce v3-v8 all report a stale epoch as
 * INVALID_PRODUCER_EPOCH); UNKNOWN_SERVER_ERROR (-1) for anything else. */
int16_t sl_pstate_kerr(int err);
const char *sl_pstate_strerror(int err);

struct sl_pstate_batch {
	int32_t first_seq;
	int32_t last_seq;
	int64_t base_offset;
	int64_t last_offset;
};

struct sl_pstate_ent {
	int64_t pid; /* -1: free slot */
	int16_t epoch;
	uint8_t n;    /* batches remembered (<= SL_PSTATE_NBATCH) */
	uint8_t head; /* index of the newest in b[] */
	struct sl_pstate_batch b[SL_PSTATE_NBATCH];
};

struct sl_pstate {
	struct sl_pstate_ent *tab;
	uint32_t cap; /* power of two */
	uint32_t n;   /* producer ids in the table */
};

/* Allocates a table for at least cap_hint producer ids (rounded up). 0 or -ENOMEM. */
int sl_pstate_init(struct sl_pstate *ps, uint32_t cap_hint) SL_MUST_CHECK;
void sl_pstate_fini(struct sl_pstate *ps);

/*
 * Decides what to do with a batch of producer pid (>= 0), epoch, sequences
 * [first_seq, last_seq] (last_seq = first_seq + lastOffsetDelta, wrapping past INT32_MAX
 * to 0 as Kafka does), following Kafka 2.x:
 *   - unknown pid: first_seq 0 is new (1), anything else SL_PS_EUNKNOWN_PID;
 *   - epoch below the producer's: SL_PS_EFENCED;
 *   - epoch above the producer's: first_seq must be 0 (else SL_PS_EOUT_OF_ORDER);
 *   - same epoch: a batch equal (first and last sequence) to one of the last
 *     SL_PSTATE_NBATCH is a duplicate: returns 2 and *dup gets its offsets; otherwise
 *     first_seq must follow the newest batch's last_seq (else SL_PS_EOUT_OF_ORDER).
 * Returns 1 when the batch may be appended (then call sl_pstate_record), 2 for a duplicate,
 * < 0 for a refusal, or -ENOMEM when a new producer id cannot get a slot (the table is
 * grown here, so that sl_pstate_record never fails). Changes nothing else.
 */
int sl_pstate_check(struct sl_pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq,
                    int32_t last_seq, struct sl_pstate_batch *dup) SL_MUST_CHECK;

/*
 * Records an appended batch (after sl_pstate_check said 1, or while rebuilding from the
 * log, where no check applies): a new epoch forgets the older epoch's batches. Returns 0,
 * or -ENOMEM only for a new producer id when the table could not grow (rebuild only).
 */
int sl_pstate_record(struct sl_pstate *ps, int64_t pid, int16_t epoch, int32_t first_seq,
                     int32_t last_seq, int64_t base_offset, int64_t last_offset);

/* The entry of pid, NULL if none (tests, tools). */
const struct sl_pstate_ent *sl_pstate_find(const struct sl_pstate *ps, int64_t pid);

/* Kafka's DefaultRecordBatch.incrementSequence: seq + delta, wrapping past INT32_MAX to 0. */
static inline int32_t
sl_pstate_seq_add(int32_t seq, int32_t delta)
{
	if (seq > INT32_MAX - delta)
		return (int32_t)((int64_t)delta - ((int64_t)INT32_MAX - seq) - 1);
	return seq + delta;
}

#ifdef __cplusplus
}
#endif

#endif
