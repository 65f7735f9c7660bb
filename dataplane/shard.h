/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shard.h: the broker's data plane as tools/sluiced starts it: N shards, each a pinned
 * thread with its own io_uring ring (sockets and disk), its storage context
 * (struct sl_store), its kernel-socket transport and the partitions it owns. Kafka
 * requests are handled on the shard whose socket received them; work for a partition
 * another shard owns travels over SPSC rings (SL_MSG_FWD / SL_MSG_FWD_DONE); APIs the data
 * plane does not implement go to the control plane (SL_MSG_CTRL_REQ), as do auto-creations
 * (SL_MSG_TOPIC_CREATE). The control plane opens and removes partition logs through
 * SL_MSG_PART_* and publishes metadata snapshots the shards read once per loop iteration.
 *
 * Idle shards sleep in io_uring_enter with a timeout; a sender wakes a sleeping shard by
 * writing its eventfd (a read of it is always armed on the shard's ring), and only when
 * the shard announced it was about to sleep.
 *
 * Life (main thread): sl_dp_create -> sl_dp_set_ctrl -> sl_dp_listen -> sl_dp_start ->
 * ... -> sl_dp_drain (stop accepting, finish requests in flight) -> [stop the control
 * plane] -> sl_dp_stop (flush and close every log, exit the threads) -> sl_dp_destroy.
 */
#ifndef SL_DATAPLANE_SHARD_H
#define SL_DATAPLANE_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"
#include "common/meta.h"
#include "common/msg.h"
#include "common/ring.h"
#include "dataplane/xport_uring.h"
#include "storage/plog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_dp;

/*
 * DPDK mode (dataplane=dpdk, D1): the EAL starts in sl_dp_create with eal_args, and the port
 * (port_name, or the first one the EAL probed) gets one RX/TX queue pair per shard when the
 * device has that many (RSS, or net_af_packet with qpairs=N, where the kernel's fanout
 * hash keeps each flow on one queue), else virtual ones (below). Each shard with a queue is a network
 * shard: it busy-polls its queue through its own userspace TCP/IP stack (xport_dpdk.h) and
 * serves the connections that land there; the other shards run as in kernel mode without
 * a listener (they own partitions and serve forwarded work). A device with fewer queues
 * than shards, or without flow hashing of its own (memif), is steered in software by the
 * port (dataplane/dpdk/port.h: dpdk.steer), so every shard is a network shard.
 * TODO #dpdk: symmetric RSS keys for real NICs.
 */
struct sl_dp_dpdk_opts {
	bool enabled;
	const char *eal_args;   /* dpdk.eal.args */
	const char *port_name;  /* dpdk.port (NULL: the first port) */
	uint32_t ip;            /* dpdk.ip, host order */
	uint8_t prefix_len;     /* dpdk.ip's /prefix (0..32; 0: every address on the link) */
	uint32_t gateway;       /* dpdk.gateway, host order (0: none) */
	uint16_t mtu;           /* 1500 if 0 */
	unsigned nb_mbufs;      /* per queue, 8192 if 0 */
	unsigned max_conns;     /* per network shard (xport.max_conns if 0); the stack's rings
	                         * (rcvbuf + sndbuf each, pre-faulted) are sized for 1.25x */
	uint32_t rcvbuf_bytes;  /* per connection, power of two (256 KiB if 0) */
	uint32_t sndbuf_bytes;  /* per connection, power of two (256 KiB if 0) */
	uint32_t idle_sleep_us; /* 0: pure busy poll; else nap this long after idle spins */
	int steer;              /* dpdk.steer: enum sl_dpdk_steer (0 auto, 1 off, 2 on) */
	unsigned steer_ring;    /* dpdk.steer.ring.size, 0: the port's default */
	bool inline_writes;     /* dpdk.inline.writes: network shards write the page cache with
	                         * pwritev themselves (sl_store_opts.inline_buffered) */
	double fault_drop, fault_dup, fault_reorder, fault_corrupt; /* dpdk.fault.*: received */
	double fault_tx_drop, fault_tx_corrupt;                     /* ... and sent frames */
	uint64_t fault_seed;
};

struct sl_dp_opts {
	uint16_t nshards;       /* >= 1 */
	bool pin;               /* pin shard i to a CPU of the allowed set */
	uint16_t cpu_offset;    /* first CPU index used (1 leaves CPU 0 to control) */
	uint32_t ring_slots;    /* shard <-> shard rings, power of two (4096) */
	unsigned uring_entries; /* SQ size of each shard's ring (1024) */
	struct sl_uxport_cfg xport;
	struct sl_store_opts store;
	const char *log_dir;        /* log.dirs: where PART_OPEN creates logs */
	uint32_t max_frame_bytes;   /* socket.request.max.bytes */
	size_t conn_tx_limit_bytes; /* stop parsing a connection past this much unsent */
	bool auto_create;           /* auto.create.topics.enable */
	int32_t create_timeout_ms;  /* how long an auto-creation may take (30000) */
	int32_t node_id;            /* used only before the first snapshot */
	/* Housekeeping (H3): retention + segment.ms rolls every retention_check_ms
	 * (log.retention.check.interval.ms, Kafka's 300000; ours 5000), a compaction pass over
	 * cleanup.policy=compact logs every compact_backoff_ms (log.cleaner.backoff.ms, 15000). */
	int64_t retention_check_ms;
	int64_t compact_backoff_ms;
	struct sl_dp_dpdk_opts dpdk;
};

void sl_dp_opts_default(struct sl_dp_opts *o);

/* Allocates every shard: rings, uring, store, transport (buffers pre-faulted). No thread
 * yet. Returns 0 or -errno. */
int sl_dp_create(struct sl_dp **out, const struct sl_dp_opts *o) SL_MUST_CHECK;

/*
 * The control plane's side, before sl_dp_start: per shard the ring it pops from control
 * and the ring it pushes to control, the snapshot publication point (reader id = shard
 * id), the function that wakes the control thread after a push, and the APIs control
 * implements (advertised by ApiVersions, forwarded as SL_MSG_CTRL_REQ).
 */
struct sl_dp_ctrl {
	struct sl_ring *(*ring_to_shard)(void *ctl, uint16_t shard);
	struct sl_ring *(*ring_from_shard)(void *ctl, uint16_t shard);
	struct sl_meta_pub *meta_pub;
	void (*notify)(void *ctl);
	void *ctl;
	const struct sl_api_range *apis;
	size_t napis;
};
void sl_dp_set_ctrl(struct sl_dp *dp, const struct sl_dp_ctrl *c);

/* Wakes shard `shard` if it sleeps (any thread; for the control plane's wake hook:
 * arg is the struct sl_dp). */
void sl_dp_wake(void *arg, uint16_t shard);

/* Opens one listening socket per shard on host:port (port 0: a free port, the same for
 * every shard). *port_out gets it. Blocking (start-up). DPDK mode: host is ignored, the
 * network shard listens on port of dpdk.ip (0: -EINVAL). */
int sl_dp_listen(struct sl_dp *dp, const char *host, int port, int *port_out) SL_MUST_CHECK;

/* Starts the shard threads. Returns 0 or -errno. */
int sl_dp_start(struct sl_dp *dp) SL_MUST_CHECK;

/*
 * Stops accepting, answers waiting fetches early, and waits (up to timeout_ms) until no
 * request is in process on any connection and then closes the connections. The shards
 * keep serving forwarded work and control messages meanwhile. Returns 0 or -ETIMEDOUT.
 */
int sl_dp_drain(struct sl_dp *dp, int timeout_ms) SL_MUST_CHECK;

/* Flushes and closes every partition log and ends the threads (joined). */
void sl_dp_stop(struct sl_dp *dp);

void sl_dp_destroy(struct sl_dp *dp);

/* Counters summed over shards (approximate while running). */
struct sl_dp_stats {
	uint64_t accepted, requests, produced_batches, fetches, fwd, ctrl_reqs;
	uint32_t conns, partitions;
};
void sl_dp_get_stats(struct sl_dp *dp, struct sl_dp_stats *out);

/* The APIs and versions the data plane itself implements (ApiVersions, Metadata,
 * Produce, Fetch, ListOffsets). */
const struct sl_api_range *sl_dp_apis(size_t *n);

#ifdef __cplusplus
}
#endif

#endif
