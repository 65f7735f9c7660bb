/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hist.h: a log-linear latency histogram in the style of HdrHistogram. Values are
 * non-negative integers (nanoseconds, bytes, ...). Every power-of-two range [2^k, 2^(k+1))
 * is split into 2^sub_bits equal sub-buckets, so a recorded value is kept with a relative
 * error below 2^-sub_bits (sub_bits 10: < 0.1%, three significant digits); values below
 * 2^(sub_bits+1) are kept exactly.
 *
 *   index(v) = v                                      for v < 2^(S+1)
 *   index(v) = (shift + 1) * 2^S + (v >> shift) - 2^S  shift = msb(v) - S, otherwise
 *
 * One histogram belongs to one thread; merge per-thread histograms afterwards with
 * sl_hist_merge(). sl_hist_init() allocates the counter array (a few hundred KiB at most);
 * recording never allocates, never blocks and costs a few instructions.
 */
#ifndef SL_COMMON_HIST_H
#define SL_COMMON_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_HIST_SUB_BITS_MIN 1
#define SL_HIST_SUB_BITS_MAX 16

struct sl_hist {
	uint64_t *counts; /* nr_counts counters, owned */
	uint32_t nr_counts;
	uint32_t sub_bits; /* S */
	int64_t highest;   /* largest value kept exactly-ish; larger ones are clamped to it */
	uint64_t total;    /* values recorded */
	uint64_t clamped;  /* values above highest (recorded as highest) or below 0 (as 0) */
	int64_t min, max;  /* exact extremes of the (clamped) values; min > max when empty */
	double sum;        /* for the mean */
};

/*
 * Sets up h for values 0..highest (highest >= 1) with 2^sub_bits sub-buckets per power of
 * two (SL_HIST_SUB_BITS_MIN..MAX). Allocates the counters. Returns 0, -EINVAL or -ENOMEM.
 */
int sl_hist_init(struct sl_hist *h, int64_t highest, unsigned sub_bits) SL_MUST_CHECK;
void sl_hist_fini(struct sl_hist *h);
/* Forgets every value; keeps the counters allocated. */
void sl_hist_reset(struct sl_hist *h);

/* Records count occurrences of v. v < 0 is recorded as 0, v > highest as highest; both
 * are counted in h->clamped. */
void sl_hist_record_n(struct sl_hist *h, int64_t v, uint64_t count);

static inline void
sl_hist_record(struct sl_hist *h, int64_t v)
{
	sl_hist_record_n(h, v, 1);
}

/*
 * Records v and, when v exceeds the expected interval between samples, the samples a
 * closed-loop measurement missed while it was stalled: v - interval, v - 2*interval, ...
 * down to interval (HdrHistogram's recordCorrectedValue; corrects coordinated omission
 * when the load generator waited for each answer). interval <= 0 records v alone. The
 * missed samples are added per bucket, so a long stall costs O(buckets), not O(v/interval).
 * v above highest is recorded clamped, without missed samples.
 */
void sl_hist_record_corrected(struct sl_hist *h, int64_t v, int64_t interval);

/*
 * Adds every value of src to dst. Both must have the same sub_bits; values of src above
 * dst's highest are clamped. Returns 0 or -EINVAL.
 */
int sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src) SL_MUST_CHECK;

/*
 * The value at percentile p (0..100): the highest value equivalent to (in the same
 * sub-bucket as) the value below which p percent of the recorded values lie, capped at the
 * recorded maximum. p = 100 gives the maximum; p = 0 the minimum. 0 when empty.
 */
int64_t sl_hist_percentile(const struct sl_hist *h, double p);

static inline uint64_t
sl_hist_count(const struct sl_hist *h)
{
	return h->total;
}

static inline int64_t
sl_hist_min(const struct sl_hist *h)
{
	return h->total ? h->min : 0;
}

static inline int64_t
sl_hist_max(const struct sl_hist *h)
{
	return h->total ? h->max : 0;
}

static inline double
sl_hist_mean(const struct sl_hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}

/* Internal mapping, exposed for tests: the counter index of v (0 <= v <= highest), and
 * the lowest and highest values that share index i. */
uint32_t sl_hist_index(const struct sl_hist *h, int64_t v);
int64_t sl_hist_lowest_equiv(const struct sl_hist *h, uint32_t i);
int64_t sl_hist_highest_equiv(const struct sl_hist *h, uint32_t i);

#ifdef __cplusplus
}
#endif

#endif
