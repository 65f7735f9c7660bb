/* SPDX-License-Identifier: Apache-2.0 */
/*
 * twheel_test.c: the timer wheel (twheel_int.h) against a model: random arms, cancels and
 * clock jumps from microseconds to weeks; every timer must fire in the first run at or
 * after its time, never before, exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/compiler.h"
#include "dataplane/net/twheel_int.h"

#define US 1000LL
#define MS 1000000LL
#define SEC 1000000000LL
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)
#define TICK_NS (1LL << SL_TW_TICK_SHIFT)

struct tm_node {
	struct sl_tw_node n;
	bool armed; /* the model's view */
	int64_t at;
	unsigned fired; /* since last armed */
};

struct model {
	struct sl_twheel w;
	struct tm_node *nodes;
	unsigned nnodes, narmed;
	int64_t now;
	unsigned fired_total;
	/* What the callback does besides recording (test_twheel_callback_*). */
	struct tm_node *cancel_on_fire, *rearm_on_fire;
	int64_t rearm_delta;
};

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Roughly log-uniform over [0, max): as many short delays as long ones. */
static int64_t
rnd_delta(int64_t max)
{
	unsigned bits = 64u - (unsigned)__builtin_clzll((uint64_t)max);
	uint64_t v = rng() >> (64u - (1u + (unsigned)(rng() % bits)));

	return (int64_t)(v % (uint64_t)max);
}

static void
m_arm(struct model *m, struct tm_node *x, int64_t at)
{
	if (!x->armed)
		m->narmed++;
	x->armed = true;
	x->at = at;
	x->fired = 0;
	sl_twheel_arm(&m->w, &x->n, at, m->now);
}

static void
m_cancel(struct model *m, struct tm_node *x)
{
	if (x->armed)
		m->narmed--;
	x->armed = false;
	sl_twheel_cancel(&m->w, &x->n);
}

static void
fire(void *arg, struct sl_tw_node *t)
{
	struct model *m = arg;
	struct tm_node *x = SL_CONTAINER_OF(t, struct tm_node, n);

	if (!x->armed)
		fail_msg("a cancelled timer fired");
	if (x->at > m->now)
		fail_msg("fired %lld ns early", (long long)(x->at - m->now));
	assert_false(sl_twheel_armed(t));
	x->armed = false;
	x->fired++;
	m->narmed--;
	m->fired_total++;
	if (m->cancel_on_fire && m->cancel_on_fire != x)
		m_cancel(m, m->cancel_on_fire);
	if (m->rearm_on_fire == x)
		m_arm(m, x, m->now + m->rearm_delta);
}

static struct model *
m_new(unsigned nnodes, int64_t now)
{
	struct model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->nodes = calloc(nnodes, sizeof(*m->nodes));
	assert_non_null(m->nodes);
	m->nnodes = nnodes;
	m->now = now;
	sl_twheel_init(&m->w, now);
	return m;
}

static void
m_free(struct model *m)
{
	free(m->nodes);
	free(m);
}

/* Runs the wheel at now, then checks that nothing overdue is left. */
static unsigned
m_run(struct model *m, int64_t now)
{
	unsigned before = m->fired_total, r;

	m->now = now;
	r = sl_twheel_run(&m->w, now, fire, m);
	assert_int_equal(r, m->fired_total - before);
	assert_int_equal(m->w.count, m->narmed);
	for (unsigned i = 0; i < m->nnodes; i++) {
		struct tm_node *x = &m->nodes[i];

		if (x->armed && x->at <= now)
			fail_msg("timer %u (at %lld) not fired at %lld", i, (long long)x->at,
			         (long long)now);
		assert_true(x->armed == sl_twheel_armed(&x->n));
	}
	return r;
}

static void
random_walk(uint64_t seed, int64_t start, unsigned steps)
{
	struct model *m = m_new(512, start);
	int64_t now = start;

	rng_state = seed;
	for (unsigned s = 0; s < steps; s++) {
		unsigned ops = (unsigned)(rng() % 8);

		for (unsigned k = 0; k < ops; k++) {
			struct tm_node *x = &m->nodes[rng() % m->nnodes];

			switch (rng() % 4) {
			case 0:
				m_cancel(m, x);
				break;
			case 1:
				/* Within the current tick, or already past. */
				m_arm(m, x,
				      now - (int64_t)(rng() % 3) * TICK_NS / 2 +
				              (int64_t)(rng() % (uint64_t)TICK_NS));
				break;
			default:
				m_arm(m, x, now + rnd_delta(40 * DAY));
				break;
			}
		}
		switch (rng() % 4) {
		case 0:
			now += (int64_t)(rng() % (uint64_t)(3 * TICK_NS)); /* same or next tick */
			break;
		case 1:
			now += rnd_delta(2 * SEC);
			break;
		case 2:
			now += rnd_delta(20 * DAY); /* far jumps, past the wheel's span */
			break;
		default:
			now += TICK_NS;
			break;
		}
		m_run(m, now);
	}
	/* Everything still armed fires once the clock passes it. */
	now += 41 * DAY;
	m_run(m, now);
	assert_int_equal(m->w.count, 0);
	assert_int_equal(m->narmed, 0);
	m_free(m);
}

static void
test_twheel_random_model_never_early_never_missed(void **state)
{
	(void)state;
	random_walk(1, 5 * SEC, 20000);
	random_walk(2, 0, 20000);
	random_walk(3, 400 * DAY + 12345, 20000); /* a long uptime */
}

static void
test_twheel_exact_deadline_fires_at_that_ns(void **state)
{
	struct model *m = m_new(3, 1000 * MS);
	struct tm_node *a = &m->nodes[0], *b = &m->nodes[1], *c = &m->nodes[2];

	(void)state;
	/* Not tick-aligned: the tick is handled early, the timer waits for its ns. */
	m_arm(m, a, 1040 * MS + 1);
	m_arm(m, b, 1040 * MS + 2);
	m_arm(m, c, 1000 * MS + 60 * SEC);
	assert_int_equal(m_run(m, 1040 * MS), 0);
	assert_int_equal(m_run(m, 1040 * MS + 1), 1);
	assert_int_equal(a->fired, 1);
	assert_int_equal(m_run(m, 1040 * MS + 2), 1);
	assert_int_equal(b->fired, 1);
	assert_int_equal(m_run(m, 1000 * MS + 60 * SEC - 1), 0);
	assert_int_equal(m_run(m, 1000 * MS + 60 * SEC), 1);
	assert_int_equal(c->fired, 1);
	m_free(m);
}

static void
test_twheel_beyond_span_waits_and_fires_on_time(void **state)
{
	struct model *m = m_new(3, 7 * DAY);
	int64_t t0 = 7 * DAY;

	(void)state;
	m_arm(m, &m->nodes[0], t0 + 30 * DAY);            /* > 13-day span */
	m_arm(m, &m->nodes[1], t0 + 100 * DAY + 5 * SEC); /* several spans */
	m_arm(m, &m->nodes[2], t0 + 13 * DAY);
	for (int64_t now = t0; now < t0 + 101 * DAY; now += HOUR) {
		m_run(m, now);
		assert_int_equal(m->nodes[0].fired, now >= t0 + 30 * DAY);
		assert_int_equal(m->nodes[1].fired, now >= t0 + 100 * DAY + 5 * SEC);
		assert_int_equal(m->nodes[2].fired, now >= t0 + 13 * DAY);
	}
	m_free(m);
}

static void
test_twheel_callback_cancels_and_rearms(void **state)
{
	struct model *m = m_new(4, 1 * SEC);
	struct tm_node *a = &m->nodes[0], *b = &m->nodes[1];

	(void)state;
	/* a and b share a slot; a's callback cancels b and re-arms itself. */
	m_arm(m, a, 2 * SEC);
	m_arm(m, b, 2 * SEC);
	m->cancel_on_fire = b;
	m->rearm_on_fire = a;
	m->rearm_delta = 0; /* due at once: must wait for the next run, not loop */
	m->now = 2 * SEC;
	assert_int_equal(sl_twheel_run(&m->w, m->now, fire, m), 1);
	assert_int_equal(m->fired_total, 1);
	m->cancel_on_fire = NULL;
	m->rearm_on_fire = NULL;
	if (!b->fired) {
		/* a went first: b is cancelled, a armed again, for the next run. */
		assert_true(a->armed);
		assert_false(b->armed);
		assert_int_equal(m_run(m, 2 * SEC), 1);
		assert_int_equal(a->fired, 1);
	} else {
		/* b went first and cancelled a. */
		assert_false(a->armed);
		assert_int_equal(a->fired, 0);
	}
	assert_int_equal(m->w.count, 0);
	m_free(m);
}

static void
test_twheel_cost_bounded_by_timers_not_runs(void **state)
{
	enum { N = 20000 };
	struct model *m = m_new(N, 10 * SEC);
	unsigned fired = 0;

	(void)state;
	rng_state = 7;
	for (unsigned i = 0; i < N; i++)
		m_arm(m, &m->nodes[i], 10 * SEC + HOUR + rnd_delta(HOUR));
	/* 2 h in 10 ms steps: 720000 runs over 20000 timers. Work is the moves down the
	 * levels (at most levels - 1 per timer) plus one firing each. */
	for (int64_t now = 10 * SEC; now <= 10 * SEC + 2 * HOUR + 10 * MS; now += 10 * MS) {
		m->now = now;
		fired += sl_twheel_run(&m->w, now, fire, m);
	}
	assert_int_equal(fired, N);
	assert_true(m->w.moves <= (uint64_t)N * (SL_TW_LEVELS - 1));
	assert_int_equal(m->w.count, 0);
	m_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_twheel_random_model_never_early_never_missed),
	        cmocka_unit_test(test_twheel_exact_deadline_fires_at_that_ns),
	        cmocka_unit_test(test_twheel_beyond_span_waits_and_fires_on_time),
	        cmocka_unit_test(test_twheel_callback_cancels_and_rearms),
	        cmocka_unit_test(test_twheel_cost_bounded_by_timers_not_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
