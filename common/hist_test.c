// SPDX-License-Identifier: Apache-2.0
/* Unit tests for common/hist: index mapping, precision, percentiles, clamping, coordinated
 * omission correction, merge. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/compiler.h"
#include "common/hist.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	/* xorshift64*: deterministic, good enough for test data. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void
test_hist_init_bad_args_einval(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(sl_hist_init(&h, 0, 10), -EINVAL);
	assert_int_equal(sl_hist_init(&h, 1000, 0), -EINVAL);
	assert_int_equal(sl_hist_init(&h, 1000, SL_HIST_SUB_BITS_MAX + 1), -EINVAL);
	assert_int_equal(sl_hist_init(&h, INT64_MAX, SL_HIST_SUB_BITS_MAX), 0);
	sl_hist_record(&h, INT64_MAX);
	assert_int_equal(sl_hist_percentile(&h, 50), INT64_MAX);
	sl_hist_fini(&h);
}

static void
test_hist_index_small_values_exact(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(sl_hist_init(&h, 1 << 20, 4), 0);
	for (int64_t v = 0; v < 32; v++) {
		uint32_t i = sl_hist_index(&h, v);

		assert_int_equal(i, (uint32_t)v);
		assert_int_equal(sl_hist_lowest_equiv(&h, i), v);
		assert_int_equal(sl_hist_highest_equiv(&h, i), v);
	}
	sl_hist_fini(&h);
}

static void
test_hist_index_contiguous_and_monotonic(void **state)
{
	struct sl_hist h;
	uint32_t prev = 0;

	(void)state;
	assert_int_equal(sl_hist_init(&h, 1 << 22, 5), 0);
	/* Every value maps into [lowest_equiv, highest_equiv] of its index, indexes never go
	 * down, and consecutive indexes tile the value range without holes. */
	for (int64_t v = 0; v <= (1 << 22); v++) {
		uint32_t i = sl_hist_index(&h, v);

		assert_true(i >= prev);
		assert_true(i <= prev + 1);
		assert_true(v >= sl_hist_lowest_equiv(&h, i));
		assert_true(v <= sl_hist_highest_equiv(&h, i));
		if (i == prev + 1)
			assert_int_equal(sl_hist_lowest_equiv(&h, i),
			                 sl_hist_highest_equiv(&h, prev) + 1);
		prev = i;
	}
	assert_int_equal(prev + 1, h.nr_counts);
	sl_hist_fini(&h);
}

static void
test_hist_relative_error_below_bound(void **state)
{
	struct sl_hist h;
	const unsigned s = 10;

	(void)state;
	assert_int_equal(sl_hist_init(&h, INT64_C(1) << 40, s), 0);
	for (int n = 0; n < 100000; n++) {
		int64_t v = (int64_t)(rng() >> (24 + rng() % 40));
		uint32_t i = sl_hist_index(&h, v);
		int64_t lo = sl_hist_lowest_equiv(&h, i), hi = sl_hist_highest_equiv(&h, i);

		assert_true(lo <= v && v <= hi);
		assert_true((double)(hi - lo) <= (double)lo / (double)(1u << s) + 1e-9);
	}
	sl_hist_fini(&h);
}

static void
test_hist_percentiles_uniform_within_precision(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(sl_hist_init(&h, 10000000, 10), 0);
	for (int64_t v = 1; v <= 1000000; v++)
		sl_hist_record(&h, v);
	assert_int_equal(sl_hist_count(&h), 1000000);
	assert_int_equal(sl_hist_min(&h), 1);
	assert_int_equal(sl_hist_max(&h), 1000000);
	assert_int_equal(sl_hist_percentile(&h, 0), 1);
	assert_int_equal(sl_hist_percentile(&h, 100), 1000000);
	const double ps[] = {1, 10, 50, 90, 99, 99.9, 99.99};
	for (unsigned k = 0; k < SL_ARRAY_SIZE(ps); k++) {
		double want = ps[k] * 10000.0;
		double got = (double)sl_hist_percentile(&h, ps[k]);

		assert_true(got >= want);
		assert_true(got <= want * (1.0 + 1.0 / 1024) + 1);
	}
	assert_true(sl_hist_mean(&h) > 500000.0 && sl_hist_mean(&h) < 500001.0);
	sl_hist_reset(&h);
	assert_int_equal(sl_hist_count(&h), 0);
	assert_int_equal(sl_hist_percentile(&h, 50), 0);
	assert_int_equal(sl_hist_max(&h), 0);
	sl_hist_fini(&h);
}

static void
test_hist_percentile_small_sets_pick_right_rank(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(sl_hist_init(&h, 1000, 8), 0);
	/* 100 values: 99 x 10 and one 900: p99 is 10, p99.5 and above is 900. */
	sl_hist_record_n(&h, 10, 99);
	sl_hist_record(&h, 900);
	assert_int_equal(sl_hist_percentile(&h, 50), 10);
	assert_int_equal(sl_hist_percentile(&h, 99), 10);
	assert_int_equal(sl_hist_percentile(&h, 99.5), 900);
	assert_int_equal(sl_hist_percentile(&h, 99.9), 900);
	sl_hist_fini(&h);
}

static void
test_hist_out_of_range_values_clamped_and_counted(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(sl_hist_init(&h, 1000, 6), 0);
	sl_hist_record(&h, -5);
	sl_hist_record(&h, 5000);
	sl_hist_record(&h, 500);
	assert_int_equal(h.clamped, 2);
	assert_int_equal(sl_hist_count(&h), 3);
	assert_int_equal(sl_hist_min(&h), 0);
	assert_int_equal(sl_hist_max(&h), 1000);
	assert_int_equal(sl_hist_percentile(&h, 100), 1000);
	sl_hist_fini(&h);
}

static void
test_hist_record_corrected_adds_missed_samples(void **state)
{
	struct sl_hist h;

	(void)state;
	assert_int_equal(sl_hist_init(&h, 1000000, 10), 0);
	/* A 1000 us stall with samples expected every 100 us hides 9 samples. */
	sl_hist_record_corrected(&h, 1000, 100);
	assert_int_equal(sl_hist_count(&h), 10);
	assert_int_equal(sl_hist_min(&h), 100);
	assert_int_equal(sl_hist_max(&h), 1000);
	assert_int_equal(sl_hist_percentile(&h, 50), 500);
	sl_hist_record_corrected(&h, 50, 100);
	sl_hist_record_corrected(&h, 5000, 0);
	assert_int_equal(sl_hist_count(&h), 12);
	sl_hist_fini(&h);
}

static void
test_hist_record_corrected_matches_one_by_one(void **state)
{
	struct sl_hist a, b;
	const int64_t cases[][2] = {{1000, 100},  {1001, 100},   {999999, 7}, {123456789, 1000},
	                            {5000, 4999}, {10000, 5000}, {65536, 1},  {3, 1}};

	(void)state;
	assert_int_equal(sl_hist_init(&a, INT64_C(1) << 40, 6), 0);
	assert_int_equal(sl_hist_init(&b, INT64_C(1) << 40, 6), 0);
	for (unsigned c = 0; c < SL_ARRAY_SIZE(cases); c++) {
		int64_t v = cases[c][0], in = cases[c][1];

		sl_hist_reset(&a);
		sl_hist_reset(&b);
		sl_hist_record_corrected(&a, v, in);
		/* The reference: HdrHistogram's loop. */
		sl_hist_record(&b, v);
		for (int64_t m = v - in; m >= in; m -= in)
			sl_hist_record(&b, m);
		assert_int_equal(sl_hist_count(&a), sl_hist_count(&b));
		assert_int_equal(sl_hist_min(&a), sl_hist_min(&b));
		assert_int_equal(sl_hist_max(&a), sl_hist_max(&b));
		assert_memory_equal(a.counts, b.counts, a.nr_counts * sizeof(*a.counts));
		assert_true(sl_hist_mean(&a) > sl_hist_mean(&b) * 0.999999 &&
		            sl_hist_mean(&a) < sl_hist_mean(&b) * 1.000001);
	}
	/* A 1000 s stall at 1 us intervals: 10^9 samples, counted without looping over them. */
	sl_hist_reset(&a);
	sl_hist_record_corrected(&a, INT64_C(1000) * 1000000000, 1000);
	assert_int_equal(sl_hist_count(&a), INT64_C(1000000000));
	assert_int_equal(sl_hist_min(&a), 1000);
	sl_hist_fini(&a);
	sl_hist_fini(&b);
}

static void
test_hist_merge_equals_recording_into_one(void **state)
{
	struct sl_hist a, b, all, other;

	(void)state;
	assert_int_equal(sl_hist_init(&a, 1 << 30, 7), 0);
	assert_int_equal(sl_hist_init(&b, 1 << 30, 7), 0);
	assert_int_equal(sl_hist_init(&all, 1 << 30, 7), 0);
	assert_int_equal(sl_hist_init(&other, 1 << 30, 8), 0);
	for (int n = 0; n < 20000; n++) {
		int64_t v = (int64_t)(rng() % (1u << 29));

		sl_hist_record(n % 3 ? &a : &b, v);
		sl_hist_record(&all, v);
	}
	assert_int_equal(sl_hist_merge(&a, &b), 0);
	assert_int_equal(sl_hist_count(&a), sl_hist_count(&all));
	assert_int_equal(sl_hist_min(&a), sl_hist_min(&all));
	assert_int_equal(sl_hist_max(&a), sl_hist_max(&all));
	for (double p = 0; p <= 100; p += 0.5)
		assert_int_equal(sl_hist_percentile(&a, p), sl_hist_percentile(&all, p));
	assert_int_equal(sl_hist_merge(&a, &other), -EINVAL);
	sl_hist_fini(&a);
	sl_hist_fini(&b);
	sl_hist_fini(&all);
	sl_hist_fini(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_hist_init_bad_args_einval),
	        cmocka_unit_test(test_hist_index_small_values_exact),
	        cmocka_unit_test(test_hist_index_contiguous_and_monotonic),
	        cmocka_unit_test(test_hist_relative_error_below_bound),
	        cmocka_unit_test(test_hist_percentiles_uniform_within_precision),
	        cmocka_unit_test(test_hist_percentile_small_sets_pick_right_rank),
	        cmocka_unit_test(test_hist_out_of_range_values_clamped_and_counted),
	        cmocka_unit_test(test_hist_record_corrected_adds_missed_samples),
	        cmocka_unit_test(test_hist_record_corrected_matches_one_by_one),
	        cmocka_unit_test(test_hist_merge_equals_recording_into_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
