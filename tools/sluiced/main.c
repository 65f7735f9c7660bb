// SPDX-License-Identifier: Apache-2.0
/*
 * sluiced: the broker. The composition root: reads the configuration (server.properties
 * + command line), creates the data plane (shards) and the control plane, wires their
 * rings, metadata publication and wake-ups together, and runs until SIGINT/SIGTERM.
 *
 * Start-up: data plane (buffers and storage pools pre-faulted) -> listening sockets (so
 * port 0 is resolved before the control plane advertises it) -> control plane -> shard
 * threads -> control thread (re-opens existing partitions on their shards) -> ready line
 * "sluiced listening on HOST:PORT" on stderr.
 *
 * Shutdown (SIGINT / SIGTERM): stop accepting, let requests in flight finish, close the
 * connections (sl_dp_drain), stop the control plane, flush and close every log
 * (sl_dp_stop), exit 0.
 *
 * The main thread only waits for signals; it blocks them before any thread starts so
 * they are delivered here (sigwait).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/props.h"
#include "control/control.h"
#include "dataplane/shard.h"

#include "tools/sluiced/config.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: sluiced [--config FILE | FILE] [options]\n"
	        "  -c, --config FILE        server.properties-style configuration\n"
	        "  -o, --override KEY=VALUE set a configuration key (repeatable; wins over FILE)\n"
	        "      --host HOST          listen address (listeners' host)\n"
	        "  -p, --port PORT          listen port (0: pick a free one)\n"
	        "      --log-dir DIR        log.dirs\n"
	        "      --shards N           num.shards (0: one per CPU, leaving one for control\n"
	        "                           when there are more than two)\n"
	        "      --durable            log.flush.durable=true (ack after fdatasync)\n"
	        "      --dataplane MODE     kernel (io_uring sockets, default) or dpdk (EAL +\n"
	        "                           userspace TCP/IP: dpdk.eal.args, dpdk.ip=A.B.C.D/N,\n"
	        "                           dpdk.gateway, dpdk.port; listens on the listeners'\n"
	        "                           port at dpdk.ip and advertises it)\n"
	        "  -v, --verbose            debug logging\n"
	        "  -h, --help\n"
	        "Prints \"sluiced listening on HOST:PORT\" on stderr when ready.\n");
}

static struct sl_ring *
ring_to_shard(void *ctl, uint16_t shard)
{
	return sl_ctrl_ring_to_shard(ctl, shard);
}

static struct sl_ring *
ring_from_shard(void *ctl, uint16_t shard)
{
	return sl_ctrl_ring_from_shard(ctl, shard);
}

static void
notify_ctrl(void *ctl)
{
	sl_ctrl_notify(ctl);
}

static int
mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];

			buf[i] = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			buf[i] = c;
		}
	}
	return 0;
}

static uint16_t
auto_shards(uint16_t *cpu_offset)
{
	cpu_set_t set;
	int n = 1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = 1;
	/* One shard per core, leaving one core to the control plane when there are more
	 * than two. */
	if (n > 2) {
		*cpu_offset = 1;
		return (uint16_t)SL_MIN(n - 1, 256);
	}
	*cpu_offset = 0;
	return (uint16_t)n;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"override", required_argument, NULL, 'o'},
	        {"host", required_argument, NULL, 'H'},
	        {"port", required_argument, NULL, 'p'},
	        {"log-dir", required_argument, NULL, 'L'},
	        {"shards", required_argument, NULL, 'S'},
	        {"durable", no_argument, NULL, 'D'},
	        {"dataplane", required_argument, NULL, 'P'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *host_flag = NULL;
	char **overrides = calloc((size_t)argc + 1, sizeof(char *));
	int noverrides = 0, port_flag = -1, bad_line = 0, rc, opt, port = 0;
	struct sl_dp_opts dpo;
	struct sl_ctrl_opts co;
	struct sl_dp_ctrl dpc;
	struct sld_config cfg;
	struct sl_props props;
	struct sl_ctrl *ctl = NULL;
	struct sl_dp *dp = NULL;
	uint16_t cpu_offset = 0;
	char err[4096];
	sigset_t sigs;
	int sig = 0, exit_code = 0;

	if (!overrides)
		return 1;
	sl_props_init(&props);
	while ((opt = getopt_long(argc, argv, "c:o:p:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'o':
			overrides[noverrides++] = optarg;
			break;
		case 'H':
			host_flag = optarg;
			break;
		case 'p': {
			int64_t v;

			if (sl_props_parse_i64(optarg, 0, 65535, &v) < 0) {
				fprintf(stderr, "sluiced: --port %s: not a port\n", optarg);
				return 2;
			}
			port_flag = (int)v;
			break;
		}
		case 'L':
			if (sl_props_set(&props, "log.dirs", optarg, "--log-dir") < 0)
				return 2;
			break;
		case 'S':
			if (sl_props_set(&props, "num.shards", optarg, "--shards") < 0)
				return 2;
			break;
		case 'D':
			if (sl_props_set(&props, "log.flush.durable", "true", "--durable") < 0)
				return 2;
			break;
		case 'P':
			if (sl_props_set(&props, "dataplane", optarg, "--dataplane") < 0)
				return 2;
			break;
		case 'v':
			sl_log_level = SL_LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc && !config_path)
		config_path = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	/* File first, then flags, then --override: later settings win. */
	if (config_path) {
		struct sl_props file;

		sl_props_init(&file);
		rc = sl_props_load(&file, config_path, &bad_line);
		if (rc < 0) {
			if (rc == -EINVAL)
				fprintf(stderr, "sluiced: %s:%d: malformed line\n", config_path,
				        bad_line);
			else
				fprintf(stderr, "sluiced: %s: %s\n", config_path, strerror(-rc));
			return 2;
		}
		/* Flags given so far win over the file. */
		for (size_t i = 0; i < props.n; i++)
			if (sl_props_set(&file, props.v[i].key, props.v[i].val, props.v[i].origin) <
			    0)
				return 2;
		sl_props_fini(&props);
		props = file;
	}
	for (int i = 0; i < noverrides; i++) {
		if (sl_props_set_kv(&props, overrides[i], "--override") < 0) {
			fprintf(stderr, "sluiced: --override %s: expected KEY=VALUE\n",
			        overrides[i]);
			return 2;
		}
	}
	free(overrides);

	sld_config_default(&cfg);
	if (sld_config_load(&cfg, &props, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluiced: bad configuration:\n%s", err);
		return 2;
	}
	if (host_flag)
		snprintf(cfg.listen_host, sizeof(cfg.listen_host), "%s", host_flag);
	if (port_flag >= 0)
		cfg.listen_port = port_flag;
	sld_config_report_unknown(&props);

	rc = mkdir_p(cfg.log_dir);
	if (rc < 0) {
		SL_ERR("log.dirs=%s: %s", cfg.log_dir, strerror(-rc));
		return 1;
	}

	/* Signals go to the main thread only: block them before any thread exists. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	sl_dp_opts_default(&dpo);
	dpo.nshards = cfg.num_shards ? cfg.num_shards : auto_shards(&cpu_offset);
	dpo.cpu_offset = cpu_offset;
	dpo.pin = cfg.pin_threads;
	dpo.xport.nbufs = cfg.rx_buffers;
	dpo.xport.buf_bytes = cfg.rx_buffer_bytes;
	dpo.xport.max_conns = cfg.max_connections;
	dpo.xport.zc_min_bytes = cfg.zc_min_bytes;
	dpo.store.chunk_bytes = cfg.store_chunk_bytes;
	dpo.store.nr_chunks = cfg.store_chunks;
	dpo.store.nr_read_bufs = cfg.store_read_buffers;
	dpo.store.force_buffered = cfg.store_buffered;
	dpo.store.direct_nondurable = cfg.store_direct_nondurable;
	dpo.store.write_groups = cfg.store_write_groups;
	dpo.store.write_groups_direct = cfg.store_write_groups_direct;
	dpo.store.zero_ahead_bytes = cfg.store_zero_ahead_bytes;
	dpo.log_dir = cfg.log_dir;
	dpo.max_frame_bytes = cfg.socket_request_max_bytes;
	dpo.auto_create = cfg.auto_create;
	dpo.retention_check_ms = cfg.retention_check_ms;
	dpo.compact_backoff_ms = cfg.compact_backoff_ms;
	dpo.node_id = cfg.node_id;
	if (cfg.dataplane_dpdk) {
		if (cfg.listen_port <= 0) {
			SL_ERR("dataplane=dpdk: the listener needs a port (listeners / --port)");
			return 2;
		}
		dpo.dpdk.enabled = true;
		dpo.dpdk.eal_args = cfg.dpdk_eal_args;
		dpo.dpdk.port_name = cfg.dpdk_port[0] ? cfg.dpdk_port : NULL;
		dpo.dpdk.ip = cfg.dpdk_ip;
		dpo.dpdk.prefix_len = cfg.dpdk_prefix;
		dpo.dpdk.gateway = cfg.dpdk_gateway;
		dpo.dpdk.nb_mbufs = cfg.dpdk_mbufs;
		dpo.dpdk.max_conns = cfg.dpdk_max_conns;
		dpo.dpdk.rcvbuf_bytes = cfg.dpdk_rcvbuf_bytes;
		dpo.dpdk.sndbuf_bytes = cfg.dpdk_sndbuf_bytes;
		dpo.dpdk.idle_sleep_us = cfg.dpdk_idle_sleep_us;
		dpo.dpdk.steer = cfg.dpdk_steer;
		dpo.dpdk.steer_ring = cfg.dpdk_steer_ring;
		dpo.dpdk.inline_writes = cfg.dpdk_inline_writes;
		dpo.dpdk.fault_drop = cfg.dpdk_fault_drop;
		dpo.dpdk.fault_dup = cfg.dpdk_fault_dup;
		dpo.dpdk.fault_reorder = cfg.dpdk_fault_reorder;
		dpo.dpdk.fault_corrupt = cfg.dpdk_fault_corrupt;
		dpo.dpdk.fault_tx_drop = cfg.dpdk_fault_tx_drop;
		dpo.dpdk.fault_tx_corrupt = cfg.dpdk_fault_tx_corrupt;
		dpo.dpdk.fault_seed = cfg.dpdk_fault_seed;
	}
	rc = sl_dp_create(&dp, &dpo);
	if (rc < 0) {
		SL_ERR("data plane: %s", strerror(-rc));
		return 1;
	}
	rc = sl_dp_listen(dp, cfg.listen_host, cfg.listen_port, &port);
	if (rc < 0) {
		SL_ERR("listen on %s:%d: %s", cfg.listen_host[0] ? cfg.listen_host : "*",
		       cfg.listen_port, strerror(-rc));
		exit_code = 1;
		goto out_dp;
	}

	sl_ctrl_opts_default(&co);
	co.log_dir = cfg.log_dir;
	co.nshards = dpo.nshards;
	co.node_id = cfg.node_id;
	co.adv_host = cfg.adv_host;
	co.adv_port = cfg.adv_port > 0 ? cfg.adv_port : port;
	co.num_partitions = cfg.num_partitions;
	co.default_replication_factor = cfg.default_replication_factor;
	co.auto_create_topics = cfg.auto_create;
	co.metadata_log = true; /* H3: <log.dirs>/__cluster_metadata-0 */
	co.topic_defaults = cfg.topic_defaults;
	co.props = &props;
	co.wake_shard = sl_dp_wake;
	co.wake_arg = dp;
	rc = sl_ctrl_create(&ctl, &co);
	if (rc < 0) {
		SL_ERR("control plane: %s", strerror(-rc));
		exit_code = 1;
		goto out_dp;
	}
	memset(&dpc, 0, sizeof(dpc));
	dpc.ring_to_shard = ring_to_shard;
	dpc.ring_from_shard = ring_from_shard;
	dpc.meta_pub = sl_ctrl_meta_pub(ctl);
	dpc.notify = notify_ctrl;
	dpc.ctl = ctl;
	dpc.apis = sl_ctrl_apis(&dpc.napis);
	sl_dp_set_ctrl(dp, &dpc);

	rc = sl_dp_start(dp);
	if (rc < 0) {
		SL_ERR("starting shards: %s", strerror(-rc));
		exit_code = 1;
		goto out_ctrl;
	}
	rc = sl_ctrl_start(ctl);
	if (rc < 0) {
		SL_ERR("starting the control plane: %s", strerror(-rc));
		exit_code = 1;
		goto out_stop;
	}
	rc = sl_ctrl_wait_ready(ctl, -1);
	if (rc < 0) {
		SL_ERR("control plane not ready: %s", strerror(-rc));
		exit_code = 1;
		goto out_stop;
	}
	SL_INFO("sluiced: %u shard(s), log.dirs=%s, advertised %s:%d, durable=%s, "
	        "auto.create.topics.enable=%s, num.partitions=%d",
	        dpo.nshards, cfg.log_dir, co.adv_host, co.adv_port,
	        cfg.topic_defaults.durable ? "true" : "false", cfg.auto_create ? "true" : "false",
	        cfg.num_partitions);
	if (cfg.dataplane_dpdk)
		SL_INFO("sluiced: dataplane=dpdk, %s/%u", cfg.dpdk_ip_str, cfg.dpdk_prefix);
	fprintf(stderr, "sluiced listening on %s:%d\n",
	        cfg.dataplane_dpdk ? cfg.dpdk_ip_str
	                           : (cfg.listen_host[0] ? cfg.listen_host : "0.0.0.0"),
	        port);
	fflush(stderr);

	while (sigwait(&sigs, &sig) != 0)
		;
	SL_INFO("sluiced: %s, shutting down", strsignal(sig));
	if (sl_dp_drain(dp, cfg.shutdown_timeout_ms) < 0)
		SL_WARN("sluiced: requests still in flight after %d ms; stopping anyway",
		        cfg.shutdown_timeout_ms);
out_stop:
	sl_ctrl_stop(ctl);
out_ctrl:
	/* Shards read the control plane's rings and snapshots: stop them before it goes. */
	sl_dp_stop(dp);
	sl_ctrl_destroy(ctl);
out_dp:
	sl_dp_destroy(dp);
	sl_props_fini(&props);
	if (!exit_code)
		SL_INFO("sluiced: stopped cleanly");
	return exit_code;
}
