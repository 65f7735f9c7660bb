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

#ifdef __cplusplus
}
#endif

#endif
