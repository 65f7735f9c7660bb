// SPDX-License-Identifier: Apache-2.0
/*
 * meta.c: metadata snapshots (common/meta.h): lookup, building, publication and
 * epoch-based reclamation.
 *
 * sl_meta_find runs on shards once per request that names a topic: no allocation, no
 * lock. Everything else runs on the control thread (or in tests): the builder allocates
 * one block per snapshot with malloc; publish may grow the retired list with realloc.
 * Nothing blocks.
 *
 * Snapshot block layout (one malloc, one free):
 *
 *   +----------------+----------------------------+-------------------------+---------+
 *   | struct sl_meta | struct sl_meta_topic[nt]   | uint16_t part_shard[..] | strings |
 *   +----------------+----------------------------+-------------------------+---------+
 *                                                   topic 0's, topic 1's ...  cluster id,
 *                                                                             adv host
 */
#include "common/meta.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, SL_MIN(alen, blen));

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

const struct sl_meta_topic *
sl_meta_find(const struct sl_meta *m, const char *name, size_t len)
{
	uint32_t lo = 0, hi;

	if (!m || !name)
		return NULL;
	hi = m->ntopics;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct sl_meta_topic *t = &m->topics[mid];
		int c = name_cmp(name, len, t->name, t->name_len);

		if (c == 0)
			return t;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

struct sl_meta *
sl_meta_alloc(uint32_t ntopics, const int32_t *nparts, const char *cluster_id, const char *adv_host)
{
	size_t nshard = 0, cid_len, host_len, size;
	struct sl_meta_topic *topics;
	struct sl_meta *m;
	uint16_t *shards;
	char *str;

	if (!cluster_id)
		cluster_id = "";
	if (!adv_host)
		adv_host = "";
	for (uint32_t i = 0; i < ntopics; i++) {
		if (nparts[i] < 0)
			return NULL;
		nshard += (size_t)nparts[i];
	}
	cid_len = strlen(cluster_id) + 1;
	host_len = strlen(adv_host) + 1;
	size = sizeof(*m) + (size_t)ntopics * sizeof(*topics) + nshard * sizeof(uint16_t) +
	       cid_len + host_len;
	m = calloc(1, size);
	if (!m)
		return NULL;
	topics = (struct sl_meta_topic *)(m + 1);
	shards = (uint16_t *)(topics + ntopics);
	str = (char *)(shards + nshard);
	for (uint32_t i = 0; i < ntopics; i++) {
		topics[i].nparts = nparts[i];
		topics[i].part_shard = shards;
		shards += nparts[i];
	}
	memcpy(str, cluster_id, cid_len);
	m->cluster_id = str;
	memcpy(str + cid_len, adv_host, host_len);
	m->adv_host = str + cid_len;
	m->ntopics = ntopics;
	m->topics = topics;
	return m;
}

void
sl_meta_free(struct sl_meta *m)
{
	free(m);
}

struct sl_meta_topic *
sl_meta_topic_mut(struct sl_meta *m, uint32_t i)
{
	SL_ASSERT(i < m->ntopics);
	return (struct sl_meta_topic *)&m->topics[i];
}

uint16_t *
sl_meta_part_shard_mut(struct sl_meta *m, uint32_t i)
{
	SL_ASSERT(i < m->ntopics);
	return (uint16_t *)m->topics[i].part_shard;
}

static int
topic_cmp(const void *a, const void *b)
{
	const struct sl_meta_topic *x = a, *y = b;

	return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

void
sl_meta_sort(struct sl_meta *m)
{
	if (m->ntopics > 1)
		qsort((void *)m->topics, m->ntopics, sizeof(*m->topics), topic_cmp);
}

int
sl_meta_pub_init(struct sl_meta_pub *p, uint16_t nreaders)
{
	memset(p, 0, sizeof(*p));
	if (nreaders) {
		p->readers = aligned_alloc(SL_CACHE_LINE, sizeof(*p->readers) * nreaders);
		if (!p->readers)
			return -ENOMEM;
		for (uint16_t r = 0; r < nreaders; r++)
			atomic_init(&p->readers[r].held, 0);
	}
	p->nreaders = nreaders;
	atomic_init(&p->cur, NULL);
	p->next_version = 1;
	return 0;
}

void
sl_meta_pub_fini(struct sl_meta_pub *p)
{
	for (uint32_t i = 0; i < p->nretired; i++)
		sl_meta_free(p->retired[i]);
	free(p->retired);
	sl_meta_free(atomic_load_explicit(&p->cur, memory_order_relaxed));
	free(p->readers);
	memset(p, 0, sizeof(*p));
}

int64_t
sl_meta_publish(struct sl_meta_pub *p, struct sl_meta *m)
{
	struct sl_meta *old = atomic_load_explicit(&p->cur, memory_order_relaxed);

	if (old && p->nretired == p->retired_cap) {
		uint32_t cap = p->retired_cap ? p->retired_cap * 2 : 8;
		struct sl_meta **v = realloc(p->retired, cap * sizeof(*v));

		if (!v) {
			sl_meta_free(m);
			return -ENOMEM;
		}
		p->retired = v;
		p->retired_cap = cap;
	}
	m->version = p->next_version++;
	/* R1: pairs with A1 in sl_meta_acquire */
	atomic_store_explicit(&p->cur, m, memory_order_release);
	if (old)
		p->retired[p->nretired++] = old;
	return (int64_t)m->version;
}

unsigned
sl_meta_reclaim(struct sl_meta_pub *p)
{
	uint64_t min = SL_META_NONE;
	unsigned freed = 0;
	uint32_t keep = 0;

	if (!p->nretired)
		return 0;
	atomic_thread_fence(memory_order_seq_cst); /* F2: pairs with F1 in sl_meta_acquire */
	for (uint16_t r = 0; r < p->nreaders; r++) {
		/* A2: pairs with R2 in sl_meta_acquire / sl_meta_quiesce */
		uint64_t h = atomic_load_explicit(&p->readers[r].held, memory_order_acquire);

		if (h < min)
			min = h;
	}
	/* Retired snapshots are in version order; the current one is never on the list. */
	for (uint32_t i = 0; i < p->nretired; i++) {
		if (p->retired[i]->version < min) {
			sl_meta_free(p->retired[i]);
			freed++;
		} else {
			p->retired[keep++] = p->retired[i];
		}
	}
	p->nretired = keep;
	return freed;
}
