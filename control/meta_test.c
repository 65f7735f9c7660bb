// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for common/meta.c (snapshot building, lookup, publication and epoch-based
 * reclamation). They live here because the control plane is the snapshots' only writer.
 * The stress test runs reader threads against a publishing writer; under ASan a snapshot
 * freed too early is a use-after-free report.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/meta.h"

static struct sl_meta *
make(uint32_t n, const char *const *names)
{
	int32_t nparts[16];
	struct sl_meta *m;

	assert_true(n <= 16);
	for (uint32_t i = 0; i < n; i++)
		nparts[i] = (int32_t)i + 1;
	m = sl_meta_alloc(n, nparts, "cid", "host");
	assert_non_null(m);
	for (uint32_t i = 0; i < n; i++) {
		struct sl_meta_topic *t = sl_meta_topic_mut(m, i);
		uint16_t *ps = sl_meta_part_shard_mut(m, i);

		t->name_len = (uint16_t)strlen(names[i]);
		memcpy(t->name, names[i], t->name_len);
		for (int32_t p = 0; p < t->nparts; p++)
			ps[p] = (uint16_t)(i * 100 + (uint32_t)p);
	}
	sl_meta_sort(m);
	return m;
}

static void
test_meta_find_sorted_lookup_exact_names_only(void **state)
{
	static const char *const names[] = {"orders", "a", "order", "orders-v2", "z.z", "b_"};
	struct sl_meta *m = make(6, names);
	const struct sl_meta_topic *t;

	(void)state;
	for (unsigned i = 0; i < 6; i++) {
		t = sl_meta_find(m, names[i], strlen(names[i]));
		assert_non_null(t);
		assert_int_equal(t->name_len, strlen(names[i]));
		assert_memory_equal(t->name, names[i], t->name_len);
		/* part_shard moved with its topic when sorted */
		assert_int_equal(t->nparts, (int32_t)i + 1);
		assert_int_equal(t->part_shard[t->nparts - 1], i * 100 + (unsigned)t->nparts - 1);
	}
	assert_null(sl_meta_find(m, "orde", 4));
	assert_null(sl_meta_find(m, "ordersx", 7));
	assert_null(sl_meta_find(m, "", 0));
	assert_null(sl_meta_find(NULL, "a", 1));
	assert_string_equal(m->cluster_id, "cid");
	assert_string_equal(m->adv_host, "host");
	for (unsigned i = 1; i < m->ntopics; i++)
		assert_true(memcmp(m->topics[i - 1].name, m->topics[i].name,
		                   SL_MIN(m->topics[i - 1].name_len, m->topics[i].name_len) + 1) <
		            0);
	sl_meta_free(m);
}

static void
test_meta_alloc_negative_partitions_null(void **state)
{
	int32_t bad[2] = {1, -1};

	(void)state;
	assert_null(sl_meta_alloc(2, bad, NULL, NULL));
}

static void
test_meta_publish_versions_increase_acquire_sees_current(void **state)
{
	static const char *const names[] = {"t"};
	struct sl_meta_pub pub;
	const struct sl_meta *m;

	(void)state;
	assert_int_equal(sl_meta_pub_init(&pub, 2), 0);
	assert_null(sl_meta_acquire(&pub, 0));
	assert_int_equal(sl_meta_publish(&pub, make(1, names)), 1);
	assert_int_equal(sl_meta_publish(&pub, make(0, names)), 2);
	m = sl_meta_acquire(&pub, 0);
	assert_non_null(m);
	assert_int_equal(m->version, 2);
	assert_int_equal(m->ntopics, 0);
	assert_ptr_equal(sl_meta_current(&pub), m);
	sl_meta_pub_fini(&pub);
}

static void
test_meta_reclaim_waits_for_every_reader(void **state)
{
	static const char *const names[] = {"t"};
	struct sl_meta_pub pub;
	const struct sl_meta *m;

	(void)state;
	assert_int_equal(sl_meta_pub_init(&pub, 2), 0);
	assert_true(sl_meta_publish(&pub, make(1, names)) == 1);
	/* no reader announced anything yet: nothing may go */
	assert_true(sl_meta_publish(&pub, make(1, names)) == 2);
	assert_int_equal(sl_meta_reclaim(&pub), 0);
	/* reader 0 moves to v2; reader 1 still holds v0 ("anything") */
	m = sl_meta_acquire(&pub, 0);
	assert_int_equal(m->version, 2);
	assert_int_equal(sl_meta_reclaim(&pub), 0);
	/* reader 1 takes v2: v1 can go */
	m = sl_meta_acquire(&pub, 1);
	assert_int_equal(m->version, 2);
	assert_int_equal(sl_meta_reclaim(&pub), 1);
	assert_int_equal(pub.nretired, 0);
	/* v3, v4 published; reader 0 at v2 keeps both v2 and v3 */
	assert_true(sl_meta_publish(&pub, make(1, names)) == 3);
	assert_true(sl_meta_publish(&pub, make(1, names)) == 4);
	sl_meta_acquire(&pub, 1);
	assert_int_equal(sl_meta_reclaim(&pub), 0);
	/* a quiescent reader holds nothing */
	sl_meta_quiesce(&pub, 0);
	assert_int_equal(sl_meta_reclaim(&pub), 2);
	/* and coming back it sees the current one */
	m = sl_meta_acquire(&pub, 0);
	assert_int_equal(m->version, 4);
	assert_int_equal(pub.readers[0].held, 4);
	sl_meta_pub_fini(&pub);
}

/* ---- stress: readers check a snapshot's contents while the writer replaces it ---- */

#define NREADERS 2

struct stress {
	struct sl_meta_pub pub;
	_Atomic bool stop;
	_Atomic uint64_t reads;
	_Atomic int bad;
};

struct reader_arg {
	struct stress *s;
	uint16_t id;
};

static void *
reader(void *arg)
{
	struct reader_arg *ra = arg;
	struct stress *s = ra->s;
	uint64_t last = 0;

	while (!atomic_load(&s->stop)) {
		const struct sl_meta *m = sl_meta_acquire(&s->pub, ra->id);

		/* every topic's partitions carry the snapshot's version, so a snapshot freed
		 * and reused under us shows up as a mismatch (and under ASan as a UAF) */
		if (m->version < last)
			atomic_store(&s->bad, 1);
		last = m->version;
		for (uint32_t i = 0; i < m->ntopics; i++)
			for (int32_t p = 0; p < m->topics[i].nparts; p++)
				if (m->topics[i].part_shard[p] != (uint16_t)m->version)
					atomic_store(&s->bad, 2);
		atomic_fetch_add(&s->reads, 1);
		if ((last & 7) == 0)
			sl_meta_quiesce(&s->pub, ra->id);
	}
	sl_meta_quiesce(&s->pub, ra->id);
	return NULL;
}

static struct sl_meta *
versioned(uint64_t v)
{
	int32_t nparts[3] = {4, 1, 7};
	struct sl_meta *m = sl_meta_alloc(3, nparts, "c", "h");

	assert_non_null(m);
	for (uint32_t i = 0; i < 3; i++) {
		uint16_t *ps = sl_meta_part_shard_mut(m, i);

		sl_meta_topic_mut(m, i)->name[0] = (char)('a' + i);
		sl_meta_topic_mut(m, i)->name_len = 1;
		for (int32_t p = 0; p < nparts[i]; p++)
			ps[p] = (uint16_t)v;
	}
	return m;
}

static void
test_meta_concurrent_readers_never_see_freed_snapshot(void **state)
{
	struct stress s;
	struct reader_arg ra[NREADERS];
	pthread_t th[NREADERS];
	uint64_t freed = 0;
	int64_t end;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(sl_meta_pub_init(&s.pub, NREADERS), 0);
	assert_true(sl_meta_publish(&s.pub, versioned(1)) == 1);
	for (uint16_t i = 0; i < NREADERS; i++) {
		ra[i].s = &s;
		ra[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, reader, &ra[i]), 0);
	}
	end = sl_now_ns() + 400 * 1000000LL;
	for (uint64_t v = 2; sl_now_ns() < end; v++) {
		assert_true(sl_meta_publish(&s.pub, versioned(v)) == (int64_t)v);
		freed += sl_meta_reclaim(&s.pub);
	}
	atomic_store(&s.stop, true);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(th[i], NULL);
	freed += sl_meta_reclaim(&s.pub);
	assert_int_equal(atomic_load(&s.bad), 0);
	assert_true(atomic_load(&s.reads) > 0);
	assert_true(freed > 0);
	/* both readers quiesced at exit: everything retired went */
	assert_int_equal(s.pub.nretired, 0);
	sl_meta_pub_fini(&s.pub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_meta_find_sorted_lookup_exact_names_only),
	        cmocka_unit_test(test_meta_alloc_negative_partitions_null),
	        cmocka_unit_test(test_meta_publish_versions_increase_acquire_sees_current),
	        cmocka_unit_test(test_meta_reclaim_waits_for_every_reader),
	        cmocka_unit_test(test_meta_concurrent_readers_never_see_freed_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
