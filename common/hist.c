/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hist.c: the log-linear histogram of hist.h. init allocates the counters; everything else
 * works in place. Not thread-safe (one histogram per thread, merge afterwards).
 */
#include "common/hist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static inline unsigned
msb64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static uint32_t
index_of(uint32_t sub_bits, uint64_t v)
{
	unsigned shift;

	if (v < (2ull << sub_bits))
		return (uint32_t)v;
	shift = msb64(v) - sub_bits;
	return (uint32_t)(((uint64_t)(shift + 1) << sub_bits) + (v >> shift) - (1ull << sub_bits));
}

uint32_t
sl_hist_index(const struct sl_hist *h, int64_t v)
{
	if (v < 0)
		v = 0;
	if (v > h->highest)
		v = h->highest;
	return index_of(h->sub_bits, (uint64_t)v);
}

int64_t
sl_hist_lowest_equiv(const struct sl_hist *h, uint32_t i)
{
	uint32_t s = h->sub_bits;
	unsigned shift;

	if (i < (2u << s))
		return i;
	shift = (i >> s) - 1;
	return (int64_t)(((1ull << s) + (i & ((1u << s) - 1))) << shift);
}

int64_t
sl_hist_highest_equiv(const struct sl_hist *h, uint32_t i)
{
	uint32_t s = h->sub_bits;
	unsigned shift;

	if (i < (2u << s))
		return i;
	shift = (i >> s) - 1;
	/* In unsigned arithmetic: the top bucket ends exactly at INT64_MAX. */
	return (int64_t)((uint64_t)sl_hist_lowest_equiv(h, i) + (1ull << shift) - 1);
}

int
sl_hist_init(struct sl_hist *h, int64_t highest, unsigned sub_bits)
{
	memset(h, 0, sizeof(*h));
	if (highest < 1 || sub_bits < SL_HIST_SUB_BITS_MIN || sub_bits > SL_HIST_SUB_BITS_MAX)
		return -EINVAL;
	/* (msb + 2) << sub_bits must fit 32 bits: msb <= 62, sub_bits <= 16. */
	h->sub_bits = sub_bits;
	h->highest = highest;
	h->nr_counts = index_of(sub_bits, (uint64_t)highest) + 1;
	h->counts = calloc(h->nr_counts, sizeof(*h->counts));
	if (!h->counts)
		return -ENOMEM;
	sl_hist_reset(h);
	return 0;
}

void
sl_hist_fini(struct sl_hist *h)
{
	free(h->counts);
	h->counts = NULL;
	h->nr_counts = 0;
}

void
sl_hist_reset(struct sl_hist *h)
{
	if (h->counts)
		memset(h->counts, 0, h->nr_counts * sizeof(*h->counts));
	h->total = 0;
	h->clamped = 0;
	h->min = INT64_MAX;
	h->max = INT64_MIN;
	h->sum = 0;
}

void
sl_hist_record_n(struct sl_hist *h, int64_t v, uint64_t count)
{
	if (!count)
		return;
	if (v < 0 || v > h->highest) {
		v = v < 0 ? 0 : h->highest;
		h->clamped += count;
	}
	h->counts[index_of(h->sub_bits, (uint64_t)v)] += count;
	h->total += count;
	h->sum += (double)v * (double)count;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
sl_hist_record_corrected(struct sl_hist *h, int64_t v, int64_t interval)
{
	int64_t k_all, lo_v;
	uint32_t first, last;

	sl_hist_record(h, v);
	if (interval <= 0 || v > h->highest || v - interval < interval)
		return;
	/*
	 * The missed samples are v - k*interval for k = 1..K, K = (v - interval) / interval.
	 * A long stall can hide billions of them, so count them per bucket instead of one at a
	 * time: bucket [lo, hi] holds the k with ceil((v - hi) / I) <= k <= floor((v - lo) / I).
	 */
	k_all = (v - interval) / interval;
	lo_v = v - k_all * interval;
	first = index_of(h->sub_bits, (uint64_t)lo_v);
	last = index_of(h->sub_bits, (uint64_t)(v - interval));
	for (uint32_t i = first; i <= last; i++) {
		int64_t lo = sl_hist_lowest_equiv(h, i), hi = sl_hist_highest_equiv(h, i);
		int64_t kmin = hi >= v ? 1 : (v - hi + interval - 1) / interval;
		int64_t kmax = (v - lo) / interval;

		if (kmin < 1)
			kmin = 1;
		if (kmax > k_all)
			kmax = k_all;
		if (kmax >= kmin)
			h->counts[i] += (uint64_t)(kmax - kmin + 1);
	}
	h->total += (uint64_t)k_all;
	/* Sum of an arithmetic series: K*v - I*K*(K+1)/2. */
	h->sum += (double)k_all * (double)v -
	          (double)interval * (double)k_all * (double)(k_all + 1) / 2;
	if (lo_v < h->min)
		h->min = lo_v;
}

int
sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src)
{
	if (dst->sub_bits != src->sub_bits)
		return -EINVAL;
	for (uint32_t i = 0; i < src->nr_counts; i++) {
		if (!src->counts[i])
			continue;
		if (i < dst->nr_counts) {
			dst->counts[i] += src->counts[i];
		} else {
			dst->counts[dst->nr_counts - 1] += src->counts[i];
			dst->clamped += src->counts[i];
		}
	}
	if (!src->total)
		return 0;
	dst->total += src->total;
	dst->clamped += src->clamped;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = SL_MIN(src->min, dst->highest);
	if (src->max > dst->max)
		dst->max = SL_MIN(src->max, dst->highest);
	return 0;
}

int64_t
sl_hist_percentile(const struct sl_hist *h, double p)
{
	uint64_t want, seen = 0;
	double x;

	if (!h->total)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* The smallest value with at least p% of the values at or below it. */
	x = (p / 100.0) * (double)h->total;
	want = (uint64_t)x;
	if ((double)want < x - 1e-9)
		want++; /* ceil without libm */
	if (want < 1)
		want = 1;
	if (want > h->total)
		want = h->total;
	for (uint32_t i = 0; i < h->nr_counts; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			int64_t v = sl_hist_highest_equiv(h, i);

			return SL_MIN(v, h->max);
		}
	}
	return h->max;
}
