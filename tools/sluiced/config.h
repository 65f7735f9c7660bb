/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h: the broker's configuration: Kafka's server.properties names (plus a few
 * sluice-specific keys) read from a struct sl_props into a struct sld_config. Keys are
 * looked up through the props so every key nobody knows is reported afterwards.
 * Start-up only (main thread).
 */
#ifndef SL_TOOLS_SLUICED_CONFIG_H
#define SL_TOOLS_SLUICED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/props.h"
#include "storage/plog.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sld_config {
	char listen_host[256]; /* listeners=PLAINTEXT://HOST:PORT ("" = every address) */
	int listen_port;
	char adv_host[256]; /* advertised.listeners, else the listener */
	int adv_port;       /* -1: the bound port */
	char log_dir[4096]; /* log.dirs (the first) / log.dir */
	int32_t node_id;    /* node.id / broker.id */
	int32_t num_partitions;
	bool auto_create;
	int16_t default_replication_factor;
	uint32_t socket_request_max_bytes;
	int64_t retention_check_ms; /* log.retention.check.interval.ms (5000 here) */
	int64_t compact_backoff_ms; /* log.cleaner.backoff.ms (15000) */
	struct sl_plog_cfg topic_defaults; /* log.* and message.max.bytes */
	uint16_t num_shards;               /* 0: automatic */
	bool pin_threads;
	/* sluice.* tuning */
	unsigned rx_buffers;
	uint32_t rx_buffer_bytes;
	unsigned max_connections;
	size_t zc_min_bytes;
	size_t store_chunk_bytes;
	unsigned store_chunks;
	unsigned store_read_buffers;
	bool store_buffered;
	bool store_direct_nondurable; /* O_DIRECT also for logs that ack before fdatasync */
	unsigned store_write_groups;        /* write groups in flight per log, page cache */
	unsigned store_write_groups_direct; /* ... and for O_DIRECT segments */
	uint64_t store_zero_ahead_bytes;    /* O_DIRECT segments zero-filled this far ahead */
	int shutdown_timeout_ms;
	/* dataplane=kernel|dpdk and the dpdk.* keys (DPDK mode: see dataplane/shard.h) */
	bool dataplane_dpdk;
	char dpdk_eal_args[2048];
	char dpdk_port[128];  /* dpdk.port: ethdev name ("" = the first port) */
	char dpdk_ip_str[16]; /* dpdk.ip's address, dotted */
	uint32_t dpdk_ip;     /* host order */
	uint8_t dpdk_prefix;  /* dpdk.ip's /prefix (32 when absent) */
	uint32_t dpdk_gateway;
	double dpdk_fault_drop, dpdk_fault_dup, dpdk_fault_reorder, dpdk_fault_corrupt;
	double dpdk_fault_tx_drop, dpdk_fault_tx_corrupt;
	uint64_t dpdk_fault_seed;
	uint32_t dpdk_idle_sleep_us;
	int dpdk_steer;                /* dpdk.steer: 0 auto, 1 off, 2 on (enum sl_dpdk_steer) */
	unsigned dpdk_steer_ring;     /* dpdk.steer.ring.size (0: the port's default, 1024) */
	bool dpdk_inline_writes;      /* dpdk.inline.writes: shards write the page cache themselves */
	unsigned dpdk_mbufs;
	unsigned dpdk_max_conns;      /* dpdk.max.connections, per network shard */
	uint32_t dpdk_rcvbuf_bytes;   /* dpdk.socket.receive.buffer.bytes (power of two) */
	uint32_t dpdk_sndbuf_bytes;   /* dpdk.socket.send.buffer.bytes (power of two) */
};

/* Defaults: Kafka's (listeners PLAINTEXT://127.0.0.1:9092, log.dirs ./data ...). */
void sld_config_default(struct sld_config *c);

/*
 * Reads every known key from p into c. Problems (malformed values, unsupported
 * settings) are written to err (one line each) and make it return -EINVAL; unknown keys
 * are not an error here: list them with sld_config_report_unknown afterwards.
 */
int sld_config_load(struct sld_config *c, struct sl_props *p, char *err, size_t errlen);

/* Warns about every key no one read ("unknown configuration key ..."). Returns how many. */
size_t sld_config_report_unknown(const struct sl_props *p);

/* Parses "a.b.c.d[/prefix]" (prefix 0..32, 32 when absent) into host order. 0 or -EINVAL. */
int sld_parse_ipv4(const char *s, uint32_t *ip, uint8_t *prefix);

/* Parses "PLAINTEXT://host:port[,...]" (the first PLAINTEXT entry; [v6] accepted).
 * Returns 0 or -EINVAL. */
int sld_parse_listener(const char *s, char *host, size_t hostlen, int *port);

#ifdef __cplusplus
}
#endif

#endif
