/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meta.h: the immutable, versioned metadata snapshot that the control plane publishes and
 * every shard reads (topics, partitions and the shard that owns each, topic configs, the
 * broker's advertised address). Shards load the current snapshot once per loop iteration
 * with sl_meta_acquire and never write it. The control plane builds a new snapshot,
 * publishes it with sl_meta_publish, and frees old ones only after every shard has
 * announced (sl_meta_quiesce) that it moved past them: epoch-based reclamation, no locks.
 */
#ifndef SL_COMMON_META_H
#define SL_COMMON_META_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "storage/plog.h" /* struct sl_plog_cfg: topic configs are storage configs */

#ifdef __cplusplus
extern "C" {
#endif

#define SL_TOPIC_NAME_MAX 249

struct sl_meta_topic {
	char name[SL_TOPIC_NAME_MAX + 1];
	uint16_t name_len;
	uint8_t id[16];            /* topic id (uuid) */
	bool internal;             /* __consumer_offsets and friends */
	int32_t nparts;
	const uint16_t *part_shard; /* [nparts]: owning shard of each partition */
	struct sl_plog_cfg cfg;    /* effective config (broker defaults + overrides) */
	uint64_t overrides;        /* bit i set: config key i was set on the topic */
};

struct sl_meta {
	uint64_t version;
	int32_t node_id;
	int32_t controller_id;
	const char *cluster_id;
	const char *adv_host; /* advertised listener */
	int32_t adv_port;
	uint32_t ntopics;
	const struct sl_meta_topic *topics; /* sorted by name (bsearch) */
};

/* Finds a topic by name in a snapshot (binary search); NULL if absent. */
const struct sl_meta_topic *sl_meta_find(const struct sl_meta *m, const char *name, size_t len);

/* ---- building a snapshot (the control plane; tests) ---- */

/*
 * Allocates a snapshot as one block: the struct, ntopics topics (zeroed) and, for topic i,
 * nparts[i] part_shard entries (zeroed) that topics[i].part_shard already points to, plus
 * copies of cluster_id and adv_host (NULL: ""). version, node_id, controller_id and
 * adv_port are left 0. The builder fills the topics through sl_meta_topic_mut, then calls
 * sl_meta_sort before publishing. Returns NULL on allocation failure or nparts[i] < 0.
 */
struct sl_meta *sl_meta_alloc(uint32_t ntopics, const int32_t *nparts, const char *cluster_id,
			      const char *adv_host);
/* Frees a snapshot from sl_meta_alloc (never one that is published: see sl_meta_pub). */
void sl_meta_free(struct sl_meta *m);
/* Write access to topic i / its part_shard array while building. */
struct sl_meta_topic *sl_meta_topic_mut(struct sl_meta *m, uint32_t i);
uint16_t *sl_meta_part_shard_mut(struct sl_meta *m, uint32_t i);
/* Sorts the topics by name (memcmp order over name_len bytes, shorter first on a tie),
 * the order sl_meta_find searches. */
void sl_meta_sort(struct sl_meta *m);

/* ---- publication and epoch-based reclamation ---- */

/*
 * One publication point, created by the control plane, read by nreaders shards (reader
 * ids 0..nreaders-1).
 *
 *  Writer (control thread only): sl_meta_publish(p, m) stamps m->version with the next
 *  version, makes it current and retires the previous snapshot; sl_meta_reclaim(p) frees
 *  every retired snapshot whose version is below the oldest version a reader may still
 *  hold. sl_meta_pub_fini frees everything (readers must be gone).
 *
 *  Reader (shard r, once per loop iteration, after its wait returned and before it
 *  handles what woke it): m = sl_meta_acquire(p, r). This loads the current snapshot and
 *  announces that r holds nothing older than m from now on, so the previous snapshot r
 *  used may be freed: pointers into a snapshot stay valid only until r's next
 *  sl_meta_acquire (or sl_meta_quiesce). A reader that stops (or parks for long) calls
 *  sl_meta_quiesce(p, r) to announce it holds no snapshot at all.
 *
 * Invariants:
 *  1. Versions are published in increasing order (1, 2, ...); snapshot versions a reader
 *     acquires never decrease.
 *  2. readers[r].held <= version of every snapshot r can still dereference
 *     (SL_META_NONE when it holds none; 0 before its first acquire, which holds back
 *     all reclamation until then).
 *  3. A retired snapshot of version v is freed only once v < min over r of
 *     readers[r].held, and never while it is current.
 *
 * Orderings: publish stores cur with release (R1), acquire loads it with acquire (A1), so
 * the snapshot's contents are visible to a reader that sees the pointer. A reader stores
 * held with release (R2) after it stopped using older snapshots; reclaim loads it with
 * acquire (A2) before freeing, so the reader's last reads happen before the free.
 * No lock; the reader side is one load and one store.
 */
#define SL_META_NONE UINT64_MAX

struct sl_meta_reader {
	_Atomic uint64_t held;
} SL_CACHE_ALIGNED;

struct sl_meta_pub {
	_Atomic(struct sl_meta *) cur SL_CACHE_ALIGNED;
	uint16_t nreaders;
	struct sl_meta_reader *readers; /* [nreaders] */
	/* writer-private */
	uint64_t next_version;
	struct sl_meta **retired;
	uint32_t nretired, retired_cap;
};

/* Sets up a publication point with no current snapshot. Returns 0 or -ENOMEM. */
int sl_meta_pub_init(struct sl_meta_pub *p, uint16_t nreaders) SL_MUST_CHECK;
/* Frees the current and every retired snapshot. No reader may use p any more. */
void sl_meta_pub_fini(struct sl_meta_pub *p);

/*
 * Writer: publishes m (takes ownership; m->version is overwritten with the next version)
 * and retires the previous current snapshot. Returns the new version, or -ENOMEM when
 * the retired list cannot grow (m is then freed and nothing changes).
 */
int64_t sl_meta_publish(struct sl_meta_pub *p, struct sl_meta *m) SL_MUST_CHECK;
/* Writer: frees the retired snapshots no reader can hold. Returns how many were freed. */
unsigned sl_meta_reclaim(struct sl_meta_pub *p);
/* Writer: the current snapshot (NULL before the first publish). */
static inline const struct sl_meta *
sl_meta_current(struct sl_meta_pub *p)
{
	return atomic_load_explicit(&p->cur, memory_order_relaxed);
}

/* Reader r: returns the current snapshot (NULL before the first publish) and announces
 * that r no longer holds anything older. */
static inline const struct sl_meta *
sl_meta_acquire(struct sl_meta_pub *p, uint16_t r)
{
	const struct sl_meta *m;

	/*
	 * Coming back from quiescence: announce "holds anything" (0) before loading cur, or
	 * the writer, still seeing SL_META_NONE, could free what we are about to load. The
	 * two seq_cst fences (F1 here, F2 in sl_meta_reclaim) order this store before our
	 * load of cur and the writer's publish before its load of held: either we load the
	 * new snapshot, or the writer sees our 0. readers[r] is written only by r, so the
	 * relaxed check reads our own last store.
	 */
	if (SL_UNLIKELY(atomic_load_explicit(&p->readers[r].held, memory_order_relaxed) ==
			SL_META_NONE)) {
		atomic_store_explicit(&p->readers[r].held, 0, memory_order_relaxed);
		atomic_thread_fence(memory_order_seq_cst); /* F1: pairs with F2 */
	}
	/* A1: pairs with R1 in sl_meta_publish */
	m = atomic_load_explicit(&p->cur, memory_order_acquire);
	/* R2: pairs with A2 in sl_meta_reclaim */
	atomic_store_explicit(&p->readers[r].held, m ? m->version : 0, memory_order_release);
	return m;
}

/* Reader r: announces it holds no snapshot (stopping, or parked until the next acquire);
 * pointers from its last acquire are invalid from now on. */
static inline void
sl_meta_quiesce(struct sl_meta_pub *p, uint16_t r)
{
	/* R2 */
	atomic_store_explicit(&p->readers[r].held, SL_META_NONE, memory_order_release);
}

#ifdef __cplusplus
}
#endif

#endif
