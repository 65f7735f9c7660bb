// SPDX-License-Identifier: Apache-2.0
/*
 * config.c: server.properties -> struct sld_config (see config.h). Start-up only.
 */
#include "tools/sluiced/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

/* Kafka settings that are accepted and have no effect here (one node, our own threads,
 * no ZooKeeper / KRaft). Listed so they are not reported as unknown. */
static const char *const accepted_ignored[] = {
        "num.network.threads",
        "num.io.threads",
        "socket.send.buffer.bytes",
        "socket.receive.buffer.bytes",
        "num.recovery.threads.per.data.dir",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "zookeeper.connect",
        "zookeeper.connection.timeout.ms",
        "process.roles",
        "controller.quorum.voters",
        "controller.listener.names",
        "inter.broker.listener.name",
        "listener.security.protocol.map",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "delete.topic.enable",
        "queued.max.requests",
        "replica.fetch.max.bytes",
        "log.message.format.version",
        "inter.broker.protocol.version",
        "auto.leader.rebalance.enable",
};

/* Keys the control plane reads from its own copy of the properties (consumer groups and
 * committed offsets, control/grp_api.c): used, so not reported as unknown here. */
static const char *const control_keys[] = {
        "group.initial.rebalance.delay.ms",
        "group.min.session.timeout.ms",
        "group.max.session.timeout.ms",
        "group.max.size",
        "offsets.retention.minutes",
        "offsets.retention.check.interval.ms",
        "offset.metadata.max.bytes",
};

void
sld_config_default(struct sld_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
	c->listen_port = 9092;
	c->adv_port = -1;
	snprintf(c->log_dir, sizeof(c->log_dir), "./data");
	c->node_id = 0;
	c->num_partitions = 1;
	c->auto_create = true;
	c->default_replication_factor = 1;
	c->socket_request_max_bytes = 104857600;
	c->retention_check_ms = 5000;
	c->compact_backoff_ms = 15000;
	sl_plog_cfg_default(&c->topic_defaults);
	c->num_shards = 0;
	c->pin_threads = true;
	c->rx_buffers = 512;
	c->rx_buffer_bytes = 64 << 10;
	c->max_connections = 1024;
	c->zc_min_bytes = 0;
	c->store_chunk_bytes = 4u << 20;
	c->store_chunks = 64;
	c->store_read_buffers = 64;
	c->store_buffered = false;
	c->store_direct_nondurable = false;
	c->store_write_groups = 4;        /* storage/chunk.c explains the defaults */
	c->store_write_groups_direct = 1;
	c->store_zero_ahead_bytes = 0; /* storage/chunk.c says why */
	c->shutdown_timeout_ms = 10000;
	c->dpdk_prefix = 32;
	c->dpdk_fault_seed = 1;
	c->dpdk_mbufs = 8192;
	c->dpdk_max_conns = 512;
	c->dpdk_rcvbuf_bytes = 256 << 10;
	c->dpdk_sndbuf_bytes = 256 << 10;
	c->dpdk_inline_writes = true; /* dataplane/shard.c, shard_init, says why */
}

int
sld_parse_ipv4(const char *s, uint32_t *ip, uint8_t *prefix)
{
	const char *slash = strchr(s, '/');
	char addr[INET_ADDRSTRLEN];
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr a;
	long pfx = 32;

	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	if (slash) {
		char *e;

		errno = 0;
		pfx = strtol(slash + 1, &e, 10);
		if (errno || e == slash + 1 || *e || pfx < 0 || pfx > 32)
			return -EINVAL;
	}
	*ip = ntohl(a.s_addr);
	if (prefix)
		*prefix = (uint8_t)pfx;
	return 0;
}

int
sld_parse_listener(const char *s, char *host, size_t hostlen, int *port)
{
	const char *p = s;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char one[512], *hp, *colon;
		long v;

		if (!n && !end)
			break;
		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		if (n >= sizeof(one))
			return -EINVAL;
		memcpy(one, p, n);
		one[n] = '\0';
		p = end ? end + 1 : NULL;
		hp = strstr(one, "://");
		if (!hp)
			return -EINVAL;
		/* PLAINTEXT only (any listener name mapped to it is accepted as is). */
		if (strncasecmp(one, "SSL", 3) == 0 || strncasecmp(one, "SASL", 4) == 0)
			continue;
		hp += 3;
		colon = strrchr(hp, ':');
		if (!colon)
			return -EINVAL;
		*colon = '\0';
		if (*hp == '[') {
			size_t l = strlen(hp);

			if (l < 2 || hp[l - 1] != ']')
				return -EINVAL;
			hp[l - 1] = '\0';
			hp++;
		}
		if (strlen(hp) >= hostlen)
			return -EINVAL;
		{
			char *e;

			errno = 0;
			v = strtol(colon + 1, &e, 10);
			if (errno || *e || e == colon + 1 || v < 0 || v > 65535)
				return -EINVAL;
		}
		snprintf(host, hostlen, "%s", hp);
		*port = (int)v;
		return 0;
	}
	return -EINVAL;
}

static void add_err(char *err, size_t errlen, const char *fmt, ...) SL_PRINTF(3, 4);

static void
add_err(char *err, size_t errlen, const char *fmt, ...)
{
	size_t used = strlen(err);
	va_list ap;

	if (used + 1 >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + used, errlen - used, fmt, ap);
	va_end(ap);
	used = strlen(err);
	if (used + 1 < errlen) {
		err[used] = '\n';
		err[used + 1] = '\0';
	}
}

/* Reads an integer key; records an error and returns false when malformed. */
static bool
get_int(struct sl_props *p, const char *key, int64_t min, int64_t max, int64_t *out, char *err,
        size_t errlen)
{
	int rc = sl_props_get_i64(p, key, min, max, out);

	if (rc < 0) {
		add_err(err, errlen, "%s=%s: not an integer in [%lld, %lld]", key,
		        sl_props_get(p, key), (long long)min, (long long)max);
		return false;
	}
	return true;
}

/* A fraction in [0, 1] (dpdk.fault.*). */
static bool
get_fraction(struct sl_props *p, const char *key, double *out, char *err, size_t errlen)
{
	const char *v = sl_props_get(p, key);
	char *end;
	double d;

	if (!v)
		return true;
	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < 0.0 || d > 1.0) {
		add_err(err, errlen, "%s=%s: not a fraction in [0, 1]", key, v);
		return false;
	}
	*out = d;
	return true;
}

static bool get_bool(struct sl_props *p, const char *key, bool *out, char *err, size_t errlen);

/* dataplane and dpdk.* */
static bool
load_dataplane(struct sld_config *c, struct sl_props *p, char *err, size_t errlen)
{
	const char *s;
	bool ok = true;
	int64_t v;

	s = sl_props_get(p, "dataplane");
	if (s) {
		if (strcmp(s, "dpdk") == 0) {
			c->dataplane_dpdk = true;
		} else if (strcmp(s, "kernel") == 0) {
			c->dataplane_dpdk = false;
		} else {
			add_err(err, errlen, "dataplane=%s: expected kernel or dpdk", s);
			ok = false;
		}
	}
	s = sl_props_get(p, "dpdk.eal.args");
	if (s) {
		if (strlen(s) >= sizeof(c->dpdk_eal_args)) {
			add_err(err, errlen, "dpdk.eal.args: too long");
			ok = false;
		} else {
			snprintf(c->dpdk_eal_args, sizeof(c->dpdk_eal_args), "%s", s);
		}
	}
	s = sl_props_get(p, "dpdk.port");
	if (s) {
		if (strlen(s) >= sizeof(c->dpdk_port)) {
			add_err(err, errlen, "dpdk.port=%s: too long", s);
			ok = false;
		} else {
			snprintf(c->dpdk_port, sizeof(c->dpdk_port), "%s", s);
		}
	}
	s = sl_props_get(p, "dpdk.ip");
	if (s) {
		struct in_addr a;

		if (sld_parse_ipv4(s, &c->dpdk_ip, &c->dpdk_prefix) < 0 || c->dpdk_ip == 0) {
			add_err(err, errlen, "dpdk.ip=%s: expected a.b.c.d/prefix", s);
			ok = false;
		} else {
			a.s_addr = htonl(c->dpdk_ip);
			inet_ntop(AF_INET, &a, c->dpdk_ip_str, sizeof(c->dpdk_ip_str));
		}
	}
	s = sl_props_get(p, "dpdk.gateway");
	if (s && (sld_parse_ipv4(s, &c->dpdk_gateway, NULL) < 0 || strchr(s, '/'))) {
		add_err(err, errlen, "dpdk.gateway=%s: expected a.b.c.d", s);
		ok = false;
	}
	ok &= get_fraction(p, "dpdk.fault.drop", &c->dpdk_fault_drop, err, errlen);
	ok &= get_fraction(p, "dpdk.fault.dup", &c->dpdk_fault_dup, err, errlen);
	ok &= get_fraction(p, "dpdk.fault.reorder", &c->dpdk_fault_reorder, err, errlen);
	ok &= get_fraction(p, "dpdk.fault.corrupt", &c->dpdk_fault_corrupt, err, errlen);
	ok &= get_fraction(p, "dpdk.fault.tx_drop", &c->dpdk_fault_tx_drop, err, errlen);
	ok &= get_fraction(p, "dpdk.fault.tx_corrupt", &c->dpdk_fault_tx_corrupt, err, errlen);
	v = (int64_t)c->dpdk_fault_seed;
	ok &= get_int(p, "dpdk.fault.seed", 0, INT64_MAX, &v, err, errlen);
	c->dpdk_fault_seed = (uint64_t)v;
	v = c->dpdk_idle_sleep_us;
	ok &= get_int(p, "dpdk.idle.sleep.us", 0, 1000000, &v, err, errlen);
	c->dpdk_idle_sleep_us = (uint32_t)v;
	/* Software flow steering over one device queue pair (dataplane/dpdk/port.h). */
	s = sl_props_get(p, "dpdk.steer");
	if (s) {
		if (strcmp(s, "auto") == 0) {
			c->dpdk_steer = 0;
		} else if (strcmp(s, "off") == 0) {
			c->dpdk_steer = 1;
		} else if (strcmp(s, "on") == 0) {
			c->dpdk_steer = 2;
		} else {
			add_err(err, errlen, "dpdk.steer=%s: expected auto, on or off", s);
			ok = false;
		}
	}
	v = c->dpdk_steer_ring ? c->dpdk_steer_ring : 1024;
	ok &= get_int(p, "dpdk.steer.ring.size", 64, 65536, &v, err, errlen);
	if ((v & (v - 1)) != 0) {
		add_err(err, errlen, "dpdk.steer.ring.size=%lld: not a power of two", (long long)v);
		ok = false;
	}
	c->dpdk_steer_ring = (unsigned)v;
	ok &= get_bool(p, "dpdk.inline.writes", &c->dpdk_inline_writes, err, errlen);
	v = c->dpdk_mbufs;
	ok &= get_int(p, "dpdk.mbufs", 1024, 1 << 20, &v, err, errlen);
	c->dpdk_mbufs = (unsigned)v;
	v = c->dpdk_max_conns;
	ok &= get_int(p, "dpdk.max.connections", 1, 1 << 20, &v, err, errlen);
	c->dpdk_max_conns = (unsigned)v;
	v = c->dpdk_rcvbuf_bytes;
	ok &= get_int(p, "dpdk.socket.receive.buffer.bytes", 4096, 1 << 30, &v, err, errlen);
	c->dpdk_rcvbuf_bytes = (uint32_t)v;
	v = c->dpdk_sndbuf_bytes;
	ok &= get_int(p, "dpdk.socket.send.buffer.bytes", 4096, 1 << 30, &v, err, errlen);
	c->dpdk_sndbuf_bytes = (uint32_t)v;
	if ((c->dpdk_rcvbuf_bytes & (c->dpdk_rcvbuf_bytes - 1)) ||
	    (c->dpdk_sndbuf_bytes & (c->dpdk_sndbuf_bytes - 1))) {
		add_err(err, errlen, "dpdk.socket.*.buffer.bytes: must be powers of two");
		ok = false;
	}
	if (c->dataplane_dpdk && !c->dpdk_ip) {
		add_err(err, errlen, "dataplane=dpdk needs dpdk.ip=a.b.c.d/prefix");
		ok = false;
	}
	if (c->dataplane_dpdk && c->dpdk_gateway && c->dpdk_prefix &&
	    ((c->dpdk_gateway ^ c->dpdk_ip) >> (32 - c->dpdk_prefix)) != 0) {
		add_err(err, errlen, "dpdk.gateway is outside dpdk.ip's subnet");
		ok = false;
	}
	/* Clients reach the broker at the DPDK address. */
	if (c->dataplane_dpdk && ok && !c->adv_host[0])
		snprintf(c->adv_host, sizeof(c->adv_host), "%s", c->dpdk_ip_str);
	return ok;
}

static bool
get_bool(struct sl_props *p, const char *key, bool *out, char *err, size_t errlen)
{
	if (sl_props_get_bool(p, key, out) < 0) {
		add_err(err, errlen, "%s=%s: not true or false", key, sl_props_get(p, key));
		return false;
	}
	return true;
}

int
sld_config_load(struct sld_config *c, struct sl_props *p, char *err, size_t errlen)
{
	struct sl_plog_cfg *t = &c->topic_defaults;
	const char *s;
	int64_t v;
	bool ok = true;

	if (errlen)
		err[0] = '\0';
	for (size_t i = 0; i < SL_ARRAY_SIZE(accepted_ignored); i++)
		sl_props_touch(p, accepted_ignored[i]);
	for (size_t i = 0; i < SL_ARRAY_SIZE(control_keys); i++)
		sl_props_touch(p, control_keys[i]);

	s = sl_props_get(p, "listeners");
	if (s &&
	    sld_parse_listener(s, c->listen_host, sizeof(c->listen_host), &c->listen_port) < 0) {
		add_err(err, errlen, "listeners=%s: expected PLAINTEXT://HOST:PORT", s);
		ok = false;
	}
	s = sl_props_get(p, "advertised.listeners");
	if (s) {
		if (sld_parse_listener(s, c->adv_host, sizeof(c->adv_host), &c->adv_port) < 0) {
			add_err(err, errlen,
			        "advertised.listeners=%s: expected PLAINTEXT://HOST:PORT", s);
			ok = false;
		}
	}
	s = sl_props_get(p, "log.dirs");
	if (!s)
		s = sl_props_get(p, "log.dir");
	else
		sl_props_touch(p, "log.dir");
	if (s) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);

		if (comma)
			SL_WARN("log.dirs=%s: only the first directory is used", s);
		if (n == 0 || n >= sizeof(c->log_dir)) {
			add_err(err, errlen, "log.dirs=%s: bad directory", s);
			ok = false;
		} else {
			memcpy(c->log_dir, s, n);
			c->log_dir[n] = '\0';
		}
	}
	v = c->node_id;
	ok &= get_int(p, "broker.id", -1, INT32_MAX, &v, err, errlen);
	ok &= get_int(p, "node.id", -1, INT32_MAX, &v, err, errlen);
	c->node_id = v < 0 ? 0 : (int32_t)v;
	v = c->num_partitions;
	ok &= get_int(p, "num.partitions", 1, 1000000, &v, err, errlen);
	c->num_partitions = (int32_t)v;
	ok &= get_bool(p, "auto.create.topics.enable", &c->auto_create, err, errlen);
	v = c->default_replication_factor;
	ok &= get_int(p, "default.replication.factor", 1, INT16_MAX, &v, err, errlen);
	if (v != 1)
		SL_WARN("default.replication.factor=%lld: a single node keeps one replica",
		        (long long)v);
	c->default_replication_factor = 1;
	v = c->socket_request_max_bytes;
	ok &= get_int(p, "socket.request.max.bytes", 1024, INT32_MAX, &v, err, errlen);
	c->socket_request_max_bytes = (uint32_t)v;
	ok &= get_int(p, "log.retention.check.interval.ms", 1, INT64_MAX, &c->retention_check_ms,
	              err, errlen);
	ok &= get_int(p, "log.cleaner.backoff.ms", 1, INT64_MAX, &c->compact_backoff_ms, err,
	              errlen);

	v = (int64_t)t->segment_bytes;
	ok &= get_int(p, "log.segment.bytes", 14, INT32_MAX, &v, err, errlen);
	t->segment_bytes = (uint64_t)v;
	/* log.roll.ms wins over log.roll.hours, as in Kafka. */
	v = -1;
	ok &= get_int(p, "log.roll.hours", 1, INT32_MAX, &v, err, errlen);
	if (v > 0)
		t->segment_ms = v * 3600 * 1000;
	v = -1;
	ok &= get_int(p, "log.roll.ms", 1, INT64_MAX, &v, err, errlen);
	if (v > 0)
		t->segment_ms = v;
	/* log.retention.ms > .minutes > .hours; -1 means unlimited. */
	v = -2;
	ok &= get_int(p, "log.retention.hours", -1, INT32_MAX, &v, err, errlen);
	if (v != -2)
		t->retention_ms = v < 0 ? -1 : v * 3600 * 1000;
	v = -2;
	ok &= get_int(p, "log.retention.minutes", -1, INT32_MAX, &v, err, errlen);
	if (v != -2)
		t->retention_ms = v < 0 ? -1 : v * 60 * 1000;
	v = -2;
	ok &= get_int(p, "log.retention.ms", -1, INT64_MAX, &v, err, errlen);
	if (v != -2)
		t->retention_ms = v < 0 ? -1 : v;
	v = t->retention_bytes;
	ok &= get_int(p, "log.retention.bytes", -1, INT64_MAX, &v, err, errlen);
	t->retention_bytes = v;
	v = t->flush_messages;
	ok &= get_int(p, "log.flush.interval.messages", 1, INT64_MAX, &v, err, errlen);
	t->flush_messages = v;
	v = t->flush_ms;
	ok &= get_int(p, "log.flush.interval.ms", 0, INT64_MAX, &v, err, errlen);
	t->flush_ms = v;
	ok &= get_bool(p, "log.flush.durable", &t->durable, err, errlen);
	v = t->max_message_bytes;
	ok &= get_int(p, "message.max.bytes", 0, INT32_MAX, &v, err, errlen);
	t->max_message_bytes = (uint32_t)v;
	v = t->index_interval_bytes;
	ok &= get_int(p, "log.index.interval.bytes", 0, INT32_MAX, &v, err, errlen);
	t->index_interval_bytes = (uint32_t)v;
	v = (int64_t)t->segment_index_bytes;
	ok &= get_int(p, "log.index.size.max.bytes", 4096, INT32_MAX, &v, err, errlen);
	t->segment_index_bytes = (uint64_t)v;
	s = sl_props_get(p, "log.cleanup.policy");
	if (s) {
		unsigned pol = 0;

		if (strstr(s, "delete"))
			pol |= SL_CLEANUP_DELETE;
		if (strstr(s, "compact"))
			pol |= SL_CLEANUP_COMPACT;
		if (!pol) {
			add_err(err, errlen,
			        "log.cleanup.policy=%s: expected delete and/or compact", s);
			ok = false;
		} else {
			t->cleanup_policy = pol;
		}
	}
	v = t->delete_retention_ms;
	ok &= get_int(p, "log.cleaner.delete.retention.ms", 0, INT64_MAX, &v, err, errlen);
	t->delete_retention_ms = v;

	/* sluice's own keys */
	v = c->num_shards;
	ok &= get_int(p, "num.shards", 0, 256, &v, err, errlen);
	c->num_shards = (uint16_t)v;
	ok &= get_bool(p, "sluice.pin.threads", &c->pin_threads, err, errlen);
	v = c->rx_buffers;
	ok &= get_int(p, "sluice.socket.receive.buffers", 16, 32768, &v, err, errlen);
	if (v & (v - 1)) {
		add_err(err, errlen, "sluice.socket.receive.buffers=%lld: not a power of two",
		        (long long)v);
		ok = false;
	}
	c->rx_buffers = (unsigned)v;
	v = c->rx_buffer_bytes;
	ok &= get_int(p, "sluice.socket.receive.buffer.bytes", 4096, 16 << 20, &v, err, errlen);
	c->rx_buffer_bytes = (uint32_t)v;
	v = c->max_connections;
	ok &= get_int(p, "sluice.max.connections", 1, 1 << 20, &v, err, errlen);
	c->max_connections = (unsigned)v;
	v = (int64_t)c->zc_min_bytes;
	ok &= get_int(p, "sluice.socket.send.zerocopy.min.bytes", 0, INT32_MAX, &v, err, errlen);
	c->zc_min_bytes = (size_t)v;
	v = (int64_t)c->store_chunk_bytes;
	ok &= get_int(p, "sluice.log.chunk.bytes", 1 << 20, 1 << 30, &v, err, errlen);
	c->store_chunk_bytes = (size_t)v;
	v = c->store_chunks;
	ok &= get_int(p, "sluice.log.chunks", 4, 1 << 16, &v, err, errlen);
	c->store_chunks = (unsigned)v;
	v = c->store_read_buffers;
	ok &= get_int(p, "sluice.log.read.buffers", 2, 1 << 16, &v, err, errlen);
	c->store_read_buffers = (unsigned)v;
	ok &= get_bool(p, "sluice.log.buffered", &c->store_buffered, err, errlen);
	ok &= get_bool(p, "sluice.log.direct.nondurable", &c->store_direct_nondurable, err, errlen);
	v = c->store_write_groups;
	ok &= get_int(p, "sluice.log.write.groups", 1, 8, &v, err, errlen);
	c->store_write_groups = (unsigned)v;
	v = c->store_write_groups_direct;
	ok &= get_int(p, "sluice.log.write.groups.direct", 1, 8, &v, err, errlen);
	c->store_write_groups_direct = (unsigned)v;
	v = (int64_t)c->store_zero_ahead_bytes;
	ok &= get_int(p, "sluice.log.zero.ahead.bytes", 0, 1LL << 30, &v, err, errlen);
	c->store_zero_ahead_bytes = (uint64_t)v;
	v = c->shutdown_timeout_ms;
	ok &= get_int(p, "sluice.shutdown.timeout.ms", 0, INT32_MAX, &v, err, errlen);
	c->shutdown_timeout_ms = (int)v;

	if (t->max_message_bytes + 2 * 4096 > c->store_chunk_bytes) {
		add_err(err, errlen,
		        "message.max.bytes=%u does not fit sluice.log.chunk.bytes=%zu (need 8 KiB "
		        "more)",
		        t->max_message_bytes, c->store_chunk_bytes);
		ok = false;
	}
	ok &= load_dataplane(c, p, err, errlen);
	if (!c->adv_host[0]) {
		const char *h = c->listen_host;

		/* A wildcard listener advertises the loopback address unless told otherwise. */
		if (!h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0)
			h = "127.0.0.1";
		snprintf(c->adv_host, sizeof(c->adv_host), "%s", h);
	}
	return ok ? 0 : -EINVAL;
}

static void
warn_unknown(const struct sl_prop *prop, void *arg)
{
	(void)arg;
	SL_WARN("unknown configuration key '%s' (%s) ignored", prop->key, prop->origin);
}

size_t
sld_config_report_unknown(const struct sl_props *p)
{
	return sl_props_foreach_unused(p, warn_unknown, NULL);
}
