/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf_dpdk.c: `sluice perf produce --dpdk`, the kernel-bypass load generator (issue #5).
 * It runs the project's own userspace TCP/IP stack (dataplane/net) in client mode over a
 * DPDK port (dataplane/dpdk; typically net_memif to a broker in another DPDK process) and
 * speaks Kafka with the project's generated codecs (common/kproto): ApiVersions v0, then
 * Metadata v4 until the topic has partitions, then Produce v7 requests, each carrying one
 * RecordBatch v2 (storage/rbuild.h, CRC32C) of --batch-records records of --size bytes.
 *
 *   open loop   with --rate R (records/s) request i is due at start + i * batch / R whether
 *               or not the client kept up; a request that has to wait for a free in-flight
 *               slot or for send-ring space is still timed from its due time (no coordinated
 *               omission). Without --rate every request is due when it is sent (max speed).
 *   in flight   at most --inflight requests on the one connection; responses come back in
 *               order and are matched by correlation id.
 *   latency     response parsed - due time, per request, into common/hist.h.
 *   next hop    the broker's MAC comes from the stack's ARP resolution (sl_tcp_connect with
 *               no MAC), or from --peer-mac.
 *   count       --count records are sent as whole requests (rounded up to --batch-records).
 *
 * Requests are built once, before the clock starts: one frame per partition in use (the
 * record batch is built and checksummed then, with the start time as its timestamp); per
 * request only the correlation id is patched in. The loop busy-polls (rx burst -> stack ->
 * responses -> new requests -> tx flush) and allocates nothing: the request templates, the
 * histogram, the stack's pools and the decode arena are all set up at start.
 *
 * `sluice perf serve --dpdk` is a test peer, not a broker: a minimal Kafka responder on the
 * same stack (ApiVersions, Metadata naming itself as the leader of every partition of any
 * topic asked for, Produce answered with no error and made-up offsets, nothing stored). It
 * lets the client be tested over memif without sluiced's DPDK data plane.
 *
 * Output: the same table and `sluice-perf ...` key=value line as the kernel `sluice perf`
 * (perf.c), with transport=dpdk, requests=, requests_per_s= and client_cpu_us_per_req= added.
 *
 * `--socket` runs the same client (same request frames, same in-flight window, same busy
 * poll) over a kernel TCP socket instead (non-blocking recv/send once per loop iteration,
 * TCP_NODELAY), so the kernel and the bypass transports can be compared with everything
 * else equal (scripts/bench-dpdk.sh).
 *
 * One thread (the EAL's main lcore); blocks only at start-up and shut-down.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/hist.h"
#include "common/kbuf.h"
#include "common/kproto/api.h"
#include "common/kproto/api_versions.h"
#include "common/kproto/metadata.h"
#include "common/kproto/produce.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/net/tcp.h"
#include "storage/rbuild.h"

#include "cli.h"

#define PD_HIST_HIGHEST (3600LL * 1000000000LL)
#define PD_HIST_SUB_BITS 10
#define PD_MAX_TMPL 256        /* partitions a run round-robins over */
#define PD_MAX_INFLIGHT 4096
#define PD_PRODUCE_VER 7
#define PD_METADATA_VER 4
#define PD_APIVER_VER 0
#define PD_CORR_OFF 8          /* size 4, api key 2, api version 2, then the correlation id */
#define PD_MAX_FRAME (64u << 20)
#define PD_SERVE_MIN_SPACE 16384 /* send space needed before a request is answered */
#define PD_MAX_PARTS 64        /* serve: partitions per topic */

enum pd_mode { PD_PRODUCE, PD_SERVE };

struct pd_opts {
	enum pd_mode mode;
	const char *eal_args;
	const char *port_name;
	uint32_t broker_ip; /* host order */
	uint16_t broker_port;
	uint32_t ip;
	uint8_t peer_mac[6];
	bool peer_arp; /* resolve the broker's MAC by ARP (sl_tcp_connect with dst_mac NULL) */
	bool socket;   /* --socket: a kernel TCP socket instead of DPDK + the stack */
	const char *topic;
	int64_t size, count, duration_ns, rate, inflight, batch_records, timeout_ns;
	int32_t partition; /* -1: round robin */
	int16_t acks;
	int64_t partitions; /* serve */
	bool quiet;
};

static volatile sig_atomic_t pd_stop;

static void
pd_on_signal(int sig)
{
	(void)sig;
	pd_stop = 1;
}

static void
pd_usage(FILE *f)
{
	fprintf(f,
	        "usage: sluice perf produce --dpdk --eal-args ARGS [options]\n"
	        "       sluice perf produce --socket --brokers IP:PORT [options]\n"
	        "       sluice perf serve --dpdk --eal-args ARGS [--ip A.B.C.D] [--listen-port P]\n"
	        "  --eal-args \"ARGS\"    DPDK EAL arguments, e.g. \"-l 1 --no-huge -m 512\n"
	        "                       --no-shconf --vdev=net_memif0,role=client,socket=S\"\n"
	        "  --dpdk-port NAME     ethdev to use (default net_memif0)\n"
	        "  --ip A.B.C.D         this end's address (produce: 10.0.0.2, serve: 10.0.0.1)\n"
	        "  --brokers IP:PORT    the broker (IPv4 literal; default 10.0.0.1:9092)\n"
	        "  --peer-mac MAC|arp   the broker's (next hop's) MAC, or arp: resolve it through\n"
	        "                       the stack's ARP cache (default arp)\n"
	        "  --topic NAME         topic (default sluice-perf)\n"
	        "  --size BYTES         record value size (default 1024)\n"
	        "  --batch-records N    records per Produce request (default 1)\n"
	        "  --count N            records to produce (default 1000000)\n"
	        "  --duration TIME      run for TIME instead of --count\n"
	        "  --rate R             records/s, open loop (default 0 = as fast as possible)\n"
	        "  --inflight N         requests in flight on the connection (default 32)\n"
	        "  --partition N        produce to partition N only (default: round robin)\n"
	        "  --acks A             0, 1 or -1/all (default -1; 0 is refused: no response)\n"
	        "  --timeout TIME       give up after TIME without progress (default 30s)\n"
	        "  --quiet              print only the sluice-perf summary line\n"
	        "  --socket             the same client over a kernel TCP socket (non-blocking,\n"
	        "                       busy-polled, TCP_NODELAY) instead of DPDK: an A/B of the\n"
	        "                       transport with the same requests (--brokers 127.0.0.1:P)\n"
	        "serve (a test responder, stores nothing): --listen-port P (default 9092),\n"
	        "  --partitions N per topic (default 1), --duration TIME (default: until\n"
	        "  SIGTERM)\n");
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (unsigned i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int
parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static int
parse_ip_port(const char *s, uint32_t *ip, uint16_t *port)
{
	char buf[64];
	const char *colon = strrchr(s, ':');
	int64_t v;

	if (!colon || (size_t)(colon - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, (size_t)(colon - s));
	buf[colon - s] = 0;
	if (parse_ip(buf, ip) || sl_cli_parse_i64(colon + 1, &v) || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

enum {
	OPT_DPDK = 256,
	OPT_EAL,
	OPT_PORT,
	OPT_IP,
	OPT_BROKERS,
	OPT_PEER_MAC,
	OPT_TOPIC,
	OPT_SIZE,
	OPT_BATCH,
	OPT_COUNT,
	OPT_DURATION,
	OPT_RATE,
	OPT_INFLIGHT,
	OPT_PARTITION,
	OPT_ACKS,
	OPT_TIMEOUT,
	OPT_QUIET,
	OPT_LISTEN,
	OPT_PARTITIONS,
	OPT_SOCKET,
	OPT_HELP,
};

static int
pd_parse(struct pd_opts *o, int argc, char **argv)
{
	static const struct option lopts[] = {
	        {"dpdk", no_argument, NULL, OPT_DPDK},
	        {"eal-args", required_argument, NULL, OPT_EAL},
	        {"dpdk-port", required_argument, NULL, OPT_PORT},
	        {"ip", required_argument, NULL, OPT_IP},
	        {"brokers", required_argument, NULL, OPT_BROKERS},
	        {"peer-mac", required_argument, NULL, OPT_PEER_MAC},
	        {"topic", required_argument, NULL, OPT_TOPIC},
	        {"size", required_argument, NULL, OPT_SIZE},
	        {"batch-records", required_argument, NULL, OPT_BATCH},
	        {"count", required_argument, NULL, OPT_COUNT},
	        {"duration", required_argument, NULL, OPT_DURATION},
	        {"rate", required_argument, NULL, OPT_RATE},
	        {"inflight", required_argument, NULL, OPT_INFLIGHT},
	        {"partition", required_argument, NULL, OPT_PARTITION},
	        {"acks", required_argument, NULL, OPT_ACKS},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"quiet", no_argument, NULL, OPT_QUIET},
	        {"listen-port", required_argument, NULL, OPT_LISTEN},
	        {"partitions", required_argument, NULL, OPT_PARTITIONS},
	        {"socket", no_argument, NULL, OPT_SOCKET},
	        {"help", no_argument, NULL, OPT_HELP},
	        {NULL, 0, NULL, 0},
	};
	bool ip_set = false;
	int c;
	int64_t v;

	memset(o, 0, sizeof(*o));
	o->port_name = "net_memif0";
	o->broker_ip = 0x0a000001u;
	o->broker_port = 9092;
	o->peer_arp = true;
	o->topic = "sluice-perf";
	o->size = 1024;
	o->count = -1;
	o->inflight = 32;
	o->batch_records = 1;
	o->timeout_ns = 30LL * 1000000000LL;
	o->partition = -1;
	o->acks = -1;
	o->partitions = 1;
	if (argc < 2) {
		pd_usage(stderr);
		return -EINVAL;
	}
	if (!strcmp(argv[1], "produce"))
		o->mode = PD_PRODUCE;
	else if (!strcmp(argv[1], "serve"))
		o->mode = PD_SERVE;
	else {
		fprintf(stderr, "sluice perf --dpdk: mode '%s' is not supported (produce, serve)\n",
		        argv[1]);
		return -EINVAL;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case OPT_DPDK:
			break;
		case OPT_EAL:
			o->eal_args = optarg;
			break;
		case OPT_PORT:
			o->port_name = optarg;
			break;
		case OPT_IP:
			if (parse_ip(optarg, &o->ip))
				goto bad;
			ip_set = true;
			break;
		case OPT_BROKERS:
			if (parse_ip_port(optarg, &o->broker_ip, &o->broker_port))
				goto bad;
			break;
		case OPT_PEER_MAC:
			o->peer_arp = !strcmp(optarg, "arp");
			if (!o->peer_arp && parse_mac(optarg, o->peer_mac))
				goto bad;
			break;
		case OPT_TOPIC:
			if (strlen(optarg) == 0 || strlen(optarg) > 249)
				goto bad;
			o->topic = optarg;
			break;
		case OPT_SIZE:
			if (sl_cli_parse_i64(optarg, &v) || v < 0 || v > (1 << 20))
				goto bad;
			o->size = v;
			break;
		case OPT_BATCH:
			if (sl_cli_parse_i64(optarg, &v) || v < 1 || v > 100000)
				goto bad;
			o->batch_records = v;
			break;
		case OPT_COUNT:
			if (sl_cli_parse_i64(optarg, &v) || v < 0)
				goto bad;
			o->count = v;
			break;
		case OPT_DURATION:
			if (sl_cli_parse_duration(optarg, &v) || v <= 0)
				goto bad;
			o->duration_ns = v;
			break;
		case OPT_RATE:
			if (sl_cli_parse_i64(optarg, &v) || v < 0)
				goto bad;
			o->rate = v;
			break;
		case OPT_INFLIGHT:
			if (sl_cli_parse_i64(optarg, &v) || v < 1 || v > PD_MAX_INFLIGHT)
				goto bad;
			o->inflight = v;
			break;
		case OPT_PARTITION:
			if (sl_cli_parse_i64(optarg, &v) || v < 0 || v > INT32_MAX)
				goto bad;
			o->partition = (int32_t)v;
			break;
		case OPT_ACKS:
			if (!strcmp(optarg, "all"))
				v = -1;
			else if (sl_cli_parse_i64(optarg, &v) || v < -1 || v > 1)
				goto bad;
			if (v == 0) {
				fprintf(stderr, "sluice perf --dpdk: --acks 0 gets no responses, "
				                "so "
				                "nothing could be timed; use 1 or -1\n");
				return -EINVAL;
			}
			o->acks = (int16_t)v;
			break;
		case OPT_TIMEOUT:
			if (sl_cli_parse_duration(optarg, &v) || v <= 0)
				goto bad;
			o->timeout_ns = v;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case OPT_LISTEN:
			if (sl_cli_parse_i64(optarg, &v) || v < 1 || v > 65535)
				goto bad;
			o->broker_port = (uint16_t)v;
			break;
		case OPT_PARTITIONS:
			if (sl_cli_parse_i64(optarg, &v) || v < 1 || v > PD_MAX_PARTS)
				goto bad;
			o->partitions = v;
			break;
		case OPT_SOCKET:
			o->socket = true;
			break;
		case OPT_HELP:
			pd_usage(stdout);
			return 1;
		default:
			pd_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluice perf --dpdk: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->socket && o->mode != PD_PRODUCE) {
		fprintf(stderr, "sluice perf: --socket is for produce only\n");
		return -EINVAL;
	}
	if (!o->eal_args && !o->socket) {
		fprintf(stderr, "sluice perf --dpdk: --eal-args is required\n");
		return -EINVAL;
	}
	if (o->count >= 0 && o->duration_ns) {
		fprintf(stderr, "sluice perf --dpdk: give --count or --duration, not both\n");
		return -EINVAL;
	}
	if (!ip_set)
		o->ip = o->mode == PD_SERVE ? 0x0a000001u : 0x0a000002u;
	return 0;
bad:
	fprintf(stderr, "sluice perf --dpdk: bad value '%s' for --%s\n", optarg,
	        lopts[c - OPT_DPDK].name);
	return -EINVAL;
}

/* ---- the stack and the port ---- */

struct pd_env {
	struct sl_dpdk_port *port;
	struct sl_net *net;
	bool eal_up;
	/* connection events (the client has one connection; serve has at most a few) */
	struct sl_tcp_conn *conn;
	bool established;
	int rx_end; /* 0 none, 1 ended */
	int rx_err;
	bool closed;
	struct pd_serve *srv;
	/* --socket: the kernel transport (linear receive and send buffers) */
	bool kernel;
	int fd;
	uint8_t *rbuf, *sbuf;
	size_t rcap, rhead, rlen, scap, shead, slen;
};

static void pd_serve_established(struct pd_env *e, struct sl_tcp_conn *c);
static void pd_serve_gone(struct pd_env *e, struct sl_tcp_conn *c);

static void
cb_established(void *arg, struct sl_tcp_conn *c)
{
	struct pd_env *e = arg;

	if (e->srv) {
		pd_serve_established(e, c);
		return;
	}
	e->established = true;
	e->conn = c;
}

static void
cb_nop(void *arg, struct sl_tcp_conn *c)
{
	(void)arg;
	(void)c;
}

static void
cb_rx_end(void *arg, struct sl_tcp_conn *c, int err)
{
	struct pd_env *e = arg;

	if (e->srv) {
		/* The peer is done sending: close our side too. */
		sl_tcp_close(c, sl_now_ns());
		pd_serve_gone(e, c);
		return;
	}
	e->rx_end = 1;
	e->rx_err = err;
}

static void
cb_closed(void *arg, struct sl_tcp_conn *c)
{
	struct pd_env *e = arg;

	(void)c;
	if (!e->srv)
		e->closed = true;
}

static int
pd_env_up(struct pd_env *e, const struct pd_opts *o, unsigned max_conns, uint32_t sndbuf,
          uint32_t rcvbuf)
{
	struct sl_dpdk_port_cfg pcfg;
	struct sl_net_cfg ncfg;
	struct sl_pkt_io io;
	int rc;

	rc = sl_dpdk_eal_init(o->eal_args);
	if (rc < 0) {
		fprintf(stderr, "sluice perf --dpdk: EAL start failed (%s); args: %s\n",
		        strerror(-rc), o->eal_args);
		return rc;
	}
	e->eal_up = true;
	memset(&pcfg, 0, sizeof(pcfg));
	pcfg.name = o->port_name;
	pcfg.nb_queues = 1;
	pcfg.nb_mbufs = 16384;
	rc = sl_dpdk_port_create(&e->port, &pcfg);
	if (rc < 0) {
		fprintf(stderr, "sluice perf --dpdk: port %s: %s%s\n", o->port_name, strerror(-rc),
		        strstr(o->eal_args, "role=client") ? " (is the memif server, the broker, "
		                                             "up and listening on its socket?)"
		                                           : "");
		return rc;
	}
	rc = sl_dpdk_port_io(e->port, 0, &io);
	if (rc < 0)
		return rc;
	memset(&ncfg, 0, sizeof(ncfg));
	sl_dpdk_port_mac(e->port, ncfg.mac);
	ncfg.ip = o->ip;
	ncfg.max_conns = max_conns;
	ncfg.rcvbuf_bytes = rcvbuf;
	ncfg.sndbuf_bytes = sndbuf;
	ncfg.rto_init_ms = 200;
	ncfg.time_wait_ms = 1000;
	ncfg.secret = (uint64_t)sl_now_ns() * 0x9e3779b97f4a7c15ull;
	ncfg.tx_csum_offload = sl_dpdk_port_tx_csum_offload(e->port);
	ncfg.cb.established = cb_established;
	ncfg.cb.readable = cb_nop;
	ncfg.cb.writable = cb_nop;
	ncfg.cb.rx_end = cb_rx_end;
	ncfg.cb.closed = cb_closed;
	ncfg.cb.arg = e;
	rc = sl_net_create(&e->net, &ncfg, &io);
	if (rc < 0)
		fprintf(stderr, "sluice perf --dpdk: stack: %s\n", strerror(-rc));
	return rc;
}

static void
pd_env_down(struct pd_env *e)
{
	if (e->net)
		sl_net_destroy(e->net);
	e->net = NULL;
	if (e->port) {
		sl_dpdk_port_drain(e->port);
		sl_dpdk_port_destroy(e->port);
	}
	e->port = NULL;
	if (e->eal_up)
		sl_dpdk_eal_fini();
	e->eal_up = false;
}

/* ---- framing over the receive ring ---- */

/* Copies len bytes at off of the (up to two) pieces into dst. */
static void
iov_copy(const struct iovec *iov, unsigned n, size_t off, void *dst, size_t len)
{
	uint8_t *d = dst;

	for (unsigned i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = SL_MIN(l - off, len);

		memcpy(d, (const uint8_t *)iov[i].iov_base + off, take);
		d += take;
		len -= take;
		off = 0;
	}
}

/* The pieces of [off, off + len) of iov[0..n) into out (at most 2); returns their count. */
static unsigned
iov_sub(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec out[2])
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len && k < 2; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		size_t take = SL_MIN(l - off, len);

		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = take;
		k++;
		len -= take;
		off = 0;
	}
	return k;
}

/*
 * The next whole frame (size prefix excluded) at the head of c's receive ring: sets up rd
 * over it (sub[] is its storage) and returns the bytes to consume, 0 when no whole frame
 * has arrived, or -EBADMSG for a size no Kafka peer would send.
 */
static int64_t
frame_next_iov(const struct iovec *iov, unsigned n, size_t avail, struct sl_crd *rd,
               struct iovec sub[2], struct sl_arena *a)
{
	uint8_t szb[4];
	int32_t sz;

	if (avail < 4)
		return 0;
	iov_copy(iov, n, 0, szb, 4);
	sz = (int32_t)sl_be32(szb);
	if (sz < 4 || (uint32_t)sz > PD_MAX_FRAME)
		return -EBADMSG;
	if (avail < 4 + (size_t)sz)
		return 0;
	n = iov_sub(iov, n, 4, (size_t)sz, sub);
	sl_crd_init(rd, sub, n, (size_t)sz, a);
	return 4 + (int64_t)sz;
}

static int64_t
frame_next(struct sl_tcp_conn *c, struct sl_crd *rd, struct iovec sub[2], struct sl_arena *a)
{
	struct iovec iov[2];
	unsigned n;

	if (sl_tcp_rx_avail(c) < 4)
		return 0;
	n = sl_tcp_rx_peek(c, iov);
	return frame_next_iov(iov, n, sl_tcp_rx_avail(c), rd, sub, a);
}

/*
 * ---- the client's transport: the stack's connection, or a kernel socket (--socket) ----
 * The socket variant keeps a linear receive buffer (compacted when its tail is reached)
 * and a linear send buffer drained by non-blocking send() once per loop iteration.
 */
static void
sock_rx(struct pd_env *e)
{
	ssize_t r;

	if (e->rx_end)
		return;
	if (e->rhead && e->rhead + e->rlen > e->rcap / 2) {
		memmove(e->rbuf, e->rbuf + e->rhead, e->rlen);
		e->rhead = 0;
	}
	if (e->rhead + e->rlen == e->rcap)
		return;
	r = recv(e->fd, e->rbuf + e->rhead + e->rlen, e->rcap - e->rhead - e->rlen, MSG_DONTWAIT);
	if (r > 0) {
		e->rlen += (size_t)r;
	} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
		e->rx_end = 1;
		e->rx_err = r == 0 ? 0 : -errno;
	}
}

static void
sock_tx(struct pd_env *e)
{
	ssize_t r;

	if (!e->slen || e->rx_end)
		return;
	r = send(e->fd, e->sbuf + e->shead, e->slen, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r > 0) {
		e->shead += (size_t)r;
		e->slen -= (size_t)r;
		if (!e->slen)
			e->shead = 0;
	} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
		e->rx_end = 1;
		e->rx_err = -errno;
	}
}

static int64_t
xp_frame_next(struct pd_env *e, struct sl_crd *rd, struct iovec sub[2], struct sl_arena *a)
{
	struct iovec iov[1];

	if (!e->kernel)
		return frame_next(e->conn, rd, sub, a);
	iov[0].iov_base = e->rbuf + e->rhead;
	iov[0].iov_len = e->rlen;
	return frame_next_iov(iov, 1, e->rlen, rd, sub, a);
}

static void
xp_consume(struct pd_env *e, size_t n, int64_t now)
{
	if (!e->kernel) {
		sl_tcp_rx_consume(e->conn, n, now);
		return;
	}
	e->rhead += n;
	e->rlen -= n;
	if (!e->rlen)
		e->rhead = 0;
}

static size_t
xp_send_space(struct pd_env *e)
{
	if (!e->kernel)
		return sl_tcp_send_space(e->conn);
	if (e->shead && e->shead + e->slen > e->scap / 2) {
		memmove(e->sbuf, e->sbuf + e->shead, e->slen);
		e->shead = 0;
	}
	return e->scap - e->shead - e->slen;
}

/* Queues len bytes (the caller checked xp_send_space). Returns len or -errno. */
static ssize_t
xp_send(struct pd_env *e, const void *buf, size_t len, int64_t now)
{
	struct iovec iov = {(void *)buf, len};

	if (!e->kernel)
		return sl_tcp_send(e->conn, &iov, 1, now);
	if (xp_send_space(e) < len)
		return 0;
	memcpy(e->sbuf + e->shead + e->slen, buf, len);
	e->slen += len;
	return (ssize_t)len;
}

/* Receive side of one loop iteration (the stack: rx burst, input, timers). */
static void
xp_poll(struct pd_env *e, int64_t now)
{
	if (e->kernel)
		sock_rx(e);
	else
		sl_net_poll(e->net, now);
}

static void
xp_flush(struct pd_env *e)
{
	if (e->kernel)
		sock_tx(e);
	else
		sl_net_flush(e->net);
}

/* ---- client ---- */

struct pd_client {
	const struct pd_opts *o;
	struct pd_env *e;
	struct sl_arena arena;
	int32_t corr; /* next correlation id */
	/* request templates, one per partition in use */
	uint8_t *tmpl[PD_MAX_TMPL];
	size_t tmpl_len[PD_MAX_TMPL];
	int32_t tmpl_part[PD_MAX_TMPL];
	unsigned ntmpl;
	/* in flight: due times by correlation id modulo the ring */
	int64_t *due;
	uint32_t due_mask;
	int32_t oldest; /* correlation id of the oldest request in flight */
	int64_t inflight;
	/* results */
	struct sl_hist lat;
	uint64_t requests, records, bytes, errors, kerr_first;
	int64_t t_start, t_end, last_progress;
	int16_t produce_max_ver;
};

/* Encodes (4-byte size, request header v1, body) into buf; returns the length or -errno. */
static int64_t
encode_request(struct sl_arena *a, int16_t key, int16_t ver, int32_t corr, const void *body,
               uint8_t *buf, size_t cap)
{
	struct sl_request_header h;
	struct sl_wbuf w;
	uint8_t *szp;
	int rc;

	sl_arena_reset(a);
	sl_wbuf_init(&w, a);
	szp = sl_wbuf_reserve(&w, 4);
	sl_request_header_init(&h);
	h.request_api_key = key;
	h.request_api_version = ver;
	h.correlation_id = corr;
	h.client_id.p = "sluice-perf-dpdk";
	h.client_id.len = (int32_t)strlen(h.client_id.p);
	rc = sl_request_header_encode(&w, sl_kapi_req_hdr_ver(key, ver), &h);
	if (!rc)
		rc = sl_kproto_encode(&w, key, false, ver, body);
	if (rc || w.err || !szp)
		return rc ? rc : (w.err ? w.err : -ENOMEM);
	sl_put_be32(szp, (uint32_t)(w.len - 4));
	if (w.len > cap)
		return -ENOBUFS;
	return (int64_t)sl_wbuf_copyout(&w, buf, cap);
}

/* One loop iteration of the stack: rx, timers, flush. */
static void
pump(struct pd_env *e, int64_t now)
{
	xp_poll(e, now);
	xp_flush(e);
}

/*
 * Sends one request (frame in buf) and waits for its response, then decodes the body with
 * decode (into out, arena memory). Start-up only (not timed). 0 or -errno.
 */
static int
call(struct pd_client *cl, int16_t key, int16_t ver, const void *req, void *out)
{
	static uint8_t buf[8192];
	struct pd_env *e = cl->e;
	int64_t deadline = sl_now_ns() + cl->o->timeout_ns;
	int32_t corr = cl->corr++;
	int64_t len = encode_request(&cl->arena, key, ver, corr, req, buf, sizeof(buf));
	size_t off = 0;

	if (len < 0)
		return (int)len;
	while (!pd_stop && sl_now_ns() < deadline && !e->rx_end) {
		int64_t now = sl_now_ns();
		struct sl_response_header rh;
		struct iovec sub[2];
		struct sl_crd rd;
		int64_t fl;

		if (off < (size_t)len) {
			ssize_t r = xp_send(e, buf + off,
			                    SL_MIN((size_t)len - off, xp_send_space(e)), now);

			if (r < 0)
				return (int)r;
			off += (size_t)r;
		}
		pump(e, now);
		sl_arena_reset(&cl->arena);
		fl = xp_frame_next(e, &rd, sub, &cl->arena);
		if (fl < 0)
			return (int)fl;
		if (fl == 0)
			continue;
		if (sl_response_header_decode(&rd, sl_kapi_resp_hdr_ver(key, ver), &rh) ||
		    rh.correlation_id != corr) {
			fprintf(stderr,
			        "sluice perf --dpdk: unexpected response (correlation id)\n");
			return -EBADMSG;
		}
		if (sl_kproto_decode(&rd, key, true, ver, out)) {
			fprintf(stderr, "sluice perf --dpdk: malformed %s response\n",
			        sl_kapi_find(key)->name);
			return -EBADMSG;
		}
		/* out points into the ring and the arena: the caller reads it before the next
		 * call; release the bytes now (they are not overwritten before new data). */
		xp_consume(e, (size_t)fl, now);
		return 0;
	}
	return e->rx_end ? (e->rx_err ? e->rx_err : -ECONNRESET) : -ETIMEDOUT;
}

/* --socket: buffers, a blocking connect, then non-blocking with TCP_NODELAY. */
static int
sock_connect(struct pd_env *e, const struct pd_opts *o)
{
	struct sockaddr_in sa;
	int one = 1, rc;

	e->rcap = 4u << 20;
	e->scap = 8u << 20;
	e->rbuf = malloc(e->rcap);
	e->sbuf = malloc(e->scap);
	if (!e->rbuf || !e->sbuf)
		return -ENOMEM;
	memset(e->rbuf, 0, e->rcap); /* pre-fault */
	memset(e->sbuf, 0, e->scap);
	e->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (e->fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(o->broker_port);
	sa.sin_addr.s_addr = htonl(o->broker_ip);
	if (connect(e->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		fprintf(stderr, "sluice perf --socket: connect: %s\n", strerror(-rc));
		return rc;
	}
	if (setsockopt(e->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    fcntl(e->fd, F_SETFL, fcntl(e->fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	e->established = true;
	return 0;
}

static int
client_connect(struct pd_client *cl)
{
	struct pd_env *e = cl->e;
	const struct pd_opts *o = cl->o;
	int64_t deadline = sl_now_ns() + o->timeout_ns;
	struct sl_tcp_conn *c = NULL;
	int rc;

	if (e->kernel)
		return sock_connect(e, o);
	rc = sl_tcp_connect(e->net, &c, o->broker_ip, o->broker_port, 0,
	                    o->peer_arp ? NULL : o->peer_mac, sl_now_ns());
	if (rc < 0) {
		fprintf(stderr, "sluice perf --dpdk: connect: %s\n", strerror(-rc));
		return rc;
	}
	e->conn = c;
	while (!e->established && !e->rx_end && !pd_stop && sl_now_ns() < deadline)
		pump(e, sl_now_ns());
	if (!e->established) {
		fprintf(stderr, "sluice perf --dpdk: no connection to the broker (%s)\n",
		        e->rx_end ? strerror(e->rx_err ? -e->rx_err : ECONNRESET) : "timed out");
		return e->rx_end && e->rx_err ? e->rx_err : -ETIMEDOUT;
	}
	return 0;
}

/* ApiVersions, then Metadata until the topic has partitions. Returns the partition count. */
static int
client_handshake(struct pd_client *cl)
{
	const struct pd_opts *o = cl->o;
	struct sl_api_versions_req avq;
	struct sl_api_versions_resp avr;
	struct sl_metadata_req mq;
	struct sl_metadata_resp mr;
	struct sl_metadata_req_topic t;
	int64_t deadline = sl_now_ns() + o->timeout_ns;
	int rc;

	sl_api_versions_req_init(&avq);
	sl_api_versions_resp_init(&avr);
	rc = call(cl, SL_API_API_VERSIONS, PD_APIVER_VER, &avq, &avr);
	if (rc < 0)
		return rc;
	if (avr.error_code) {
		fprintf(stderr, "sluice perf --dpdk: ApiVersions error %d\n", avr.error_code);
		return -EPROTO;
	}
	cl->produce_max_ver = -1;
	for (int32_t i = 0; i < avr.api_keys_cnt; i++)
		if (avr.api_keys[i].api_key == SL_API_PRODUCE &&
		    avr.api_keys[i].min_version <= PD_PRODUCE_VER)
			cl->produce_max_ver = avr.api_keys[i].max_version;
	if (cl->produce_max_ver < PD_PRODUCE_VER) {
		fprintf(stderr, "sluice perf --dpdk: the broker does not offer Produce v%d\n",
		        PD_PRODUCE_VER);
		return -EPROTO;
	}
	while (!pd_stop && sl_now_ns() < deadline) {
		sl_metadata_req_init(&mq);
		sl_metadata_req_topic_init(&t);
		t.name.p = o->topic;
		t.name.len = (int32_t)strlen(o->topic);
		mq.topics = &t;
		mq.topics_cnt = 1;
		mq.allow_auto_topic_creation = true;
		sl_metadata_resp_init(&mr);
		rc = call(cl, SL_API_METADATA, PD_METADATA_VER, &mq, &mr);
		if (rc < 0)
			return rc;
		if (mr.topics_cnt == 1 && mr.topics[0].error_code == 0 &&
		    mr.topics[0].partitions_cnt > 0)
			return mr.topics[0].partitions_cnt;
		/* auto-creation in progress (LEADER_NOT_AVAILABLE) or unknown: ask again */
		for (int64_t until = sl_now_ns() + 100000000LL; sl_now_ns() < until;)
			pump(cl->e, sl_now_ns());
	}
	fprintf(stderr, "sluice perf --dpdk: no partitions for topic %s\n", o->topic);
	return -ENOENT;
}

/* Builds the Produce request frames (one per partition in use). */
static int
client_templates(struct pd_client *cl, int nparts)
{
	const struct pd_opts *o = cl->o;
	size_t rec_max = sl_rb_record_size(0, (int32_t)o->batch_records, -1, (int32_t)o->size,
	                                   NULL, 0);
	size_t batch_cap = SL_RB_HDR_SIZE + rec_max * (size_t)o->batch_records;
	size_t frame_cap = batch_cap + 256 + strlen(o->topic);
	uint8_t *batch = malloc(batch_cap), *val = malloc((size_t)o->size + 1);
	int64_t now_ms = sl_wall_ms();
	int rc = 0;

	if (!batch || !val || rec_max == 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (int64_t i = 0; i < o->size; i++)
		val[i] = (uint8_t)('a' + i % 26);
	if (o->partition >= 0) {
		if (o->partition >= nparts) {
			fprintf(stderr, "sluice perf --dpdk: topic %s has %d partitions\n",
			        o->topic, nparts);
			rc = -EINVAL;
			goto out;
		}
		cl->ntmpl = 1;
		cl->tmpl_part[0] = o->partition;
	} else {
		cl->ntmpl = (unsigned)SL_MIN(nparts, PD_MAX_TMPL);
		for (unsigned i = 0; i < cl->ntmpl; i++)
			cl->tmpl_part[i] = (int32_t)i;
	}
	for (unsigned k = 0; k < cl->ntmpl; k++) {
		struct sl_rb_builder b;
		struct sl_produce_req req;
		struct sl_produce_req_topic_produce_data td;
		struct sl_produce_req_partition_produce_data pd;
		struct iovec biov;
		int64_t blen, flen;

		if (sl_rb_builder_init(&b, batch, batch_cap, SL_CODEC_NONE, 0, now_ms, -1, -1,
		                       -1)) {
			rc = -EINVAL;
			goto out;
		}
		for (int64_t i = 0; i < o->batch_records; i++)
			if (sl_rb_builder_add(&b, now_ms, NULL, -1, val, (int32_t)o->size, NULL,
			                      0)) {
				rc = -ENOBUFS;
				goto out;
			}
		blen = sl_rb_builder_finish(&b, NULL);
		if (blen < 0) {
			rc = (int)blen;
			goto out;
		}
		sl_produce_req_init(&req);
		sl_produce_req_topic_produce_data_init(&td);
		sl_produce_req_partition_produce_data_init(&pd);
		biov.iov_base = batch;
		biov.iov_len = (size_t)blen;
		pd.index = cl->tmpl_part[k];
		pd.records.iov = &biov;
		pd.records.n = 1;
		pd.records.len = blen;
		td.name.p = o->topic;
		td.name.len = (int32_t)strlen(o->topic);
		td.partition_data = &pd;
		td.partition_data_cnt = 1;
		req.acks = o->acks;
		req.timeout_ms = 30000;
		req.topic_data = &td;
		req.topic_data_cnt = 1;
		cl->tmpl[k] = malloc(frame_cap);
		if (!cl->tmpl[k]) {
			rc = -ENOMEM;
			goto out;
		}
		flen = encode_request(&cl->arena, SL_API_PRODUCE, PD_PRODUCE_VER, 0, &req,
		                      cl->tmpl[k], frame_cap);
		if (flen < 0) {
			rc = (int)flen;
			goto out;
		}
		cl->tmpl_len[k] = (size_t)flen;
	}
out:
	free(batch);
	free(val);
	if (rc < 0)
		fprintf(stderr, "sluice perf --dpdk: building requests: %s\n", strerror(-rc));
	return rc;
}

/* Handles every whole response at the head of the ring. 0 or -errno (a broken stream). */
static int
client_responses(struct pd_client *cl, int64_t now)
{
	struct pd_env *e = cl->e;
	int64_t fl;

	for (;;) {
		struct sl_response_header rh;
		struct sl_produce_resp r;
		struct iovec sub[2];
		struct sl_crd rd;
		int16_t kerr = 0;

		sl_arena_reset(&cl->arena);
		fl = xp_frame_next(e, &rd, sub, &cl->arena);
		if (fl <= 0)
			break;
		sl_response_header_init(&rh);
		sl_produce_resp_init(&r);
		if (sl_response_header_decode(&rd, 0, &rh) ||
		    sl_produce_resp_decode(&rd, PD_PRODUCE_VER, &r)) {
			fprintf(stderr, "sluice perf --dpdk: malformed Produce response\n");
			return -EBADMSG;
		}
		if (cl->inflight == 0 || rh.correlation_id != cl->oldest) {
			fprintf(stderr, "sluice perf --dpdk: response %d out of order (want %d)\n",
			        rh.correlation_id, cl->oldest);
			return -EBADMSG;
		}
		for (int32_t t = 0; t < r.responses_cnt; t++)
			for (int32_t p = 0; p < r.responses[t].partition_responses_cnt; p++)
				if (r.responses[t].partition_responses[p].error_code)
					kerr = r.responses[t].partition_responses[p].error_code;
		if (r.responses_cnt != 1 || r.responses[0].partition_responses_cnt != 1)
			kerr = kerr ? kerr : -1;
		if (kerr) {
			if (cl->errors++ < 5)
				fprintf(stderr, "sluice perf --dpdk: produce error %d\n", kerr);
		} else {
			cl->requests++;
			cl->records += (uint64_t)cl->o->batch_records;
			cl->bytes += (uint64_t)(cl->o->batch_records * cl->o->size);
			uint32_t slot = (uint32_t)rh.correlation_id & cl->due_mask;

			sl_hist_record(&cl->lat, now - cl->due[slot]);
		}
		cl->oldest++;
		cl->inflight--;
		cl->t_end = now;
		cl->last_progress = now;
		/* release this frame now: it lets the window reopen while we go on */
		xp_consume(e, (size_t)fl, now);
	}
	return fl < 0 ? (int)fl : 0;
}

static int
client_run(struct pd_client *cl)
{
	const struct pd_opts *o = cl->o;
	struct pd_env *e = cl->e;
	int64_t total_req, sent = 0, start, now;
	double per_req_ns = o->rate ? 1e9 * (double)o->batch_records / (double)o->rate : 0;
	bool stopping = false;
	unsigned next_tmpl = 0;
	int rc = 0;

	if (o->duration_ns)
		total_req = INT64_MAX;
	else
		total_req = ((o->count >= 0 ? o->count : 1000000) + o->batch_records - 1) /
		            o->batch_records;
	start = sl_now_ns();
	cl->t_start = start;
	cl->t_end = start;
	cl->last_progress = start;
	cl->oldest = cl->corr;
	while (!pd_stop) {
		now = sl_now_ns();
		xp_poll(e, now);
		if (e->rx_end) {
			fprintf(stderr, "sluice perf --dpdk: connection lost (%s)\n",
			        strerror(e->rx_err ? -e->rx_err : ECONNRESET));
			rc = e->rx_err ? e->rx_err : -ECONNRESET;
			break;
		}
		rc = client_responses(cl, now);
		if (rc < 0)
			break;
		if (!stopping && (sent >= total_req ||
		                  (o->duration_ns && now - start >= o->duration_ns)))
			stopping = true;
		if (stopping && cl->inflight == 0)
			break;
		if (now - cl->last_progress > o->timeout_ns && cl->inflight > 0) {
			fprintf(stderr, "sluice perf --dpdk: no response for --timeout\n");
			rc = -ETIMEDOUT;
			break;
		}
		while (!stopping && sent < total_req && cl->inflight < o->inflight) {
			int64_t due = o->rate ? start + (int64_t)((double)sent * per_req_ns) : now;
			size_t len = cl->tmpl_len[next_tmpl];
			uint8_t *f = cl->tmpl[next_tmpl];
			ssize_t r;

			if (due > now || xp_send_space(e) < len)
				break;
			if (cl->inflight == 0)
				cl->last_progress = now;
			sl_put_be32(f + PD_CORR_OFF, (uint32_t)cl->corr);
			r = xp_send(e, f, len, now);
			if (r != (ssize_t)len) {
				rc = r < 0 ? (int)r : -EIO; /* space was checked: cannot be short */
				break;
			}
			cl->due[(uint32_t)cl->corr & cl->due_mask] = due;
			cl->corr++;
			cl->inflight++;
			sent++;
			next_tmpl = next_tmpl + 1 == cl->ntmpl ? 0 : next_tmpl + 1;
		}
		if (rc < 0)
			break;
		xp_flush(e);
	}
	cl->errors += (uint64_t)cl->inflight;
	return rc;
}

static void
client_close(struct pd_client *cl)
{
	struct pd_env *e = cl->e;
	int64_t deadline = sl_now_ns() + 2000000000LL;

	if (e->kernel) {
		if (e->fd >= 0)
			close(e->fd);
		e->fd = -1;
		free(e->rbuf);
		free(e->sbuf);
		e->rbuf = e->sbuf = NULL;
		return;
	}
	if (!e->conn)
		return;
	if (e->rx_end && e->rx_err) {
		sl_tcp_abort(e->conn);
	} else {
		sl_tcp_close(e->conn, sl_now_ns());
		/* FIN exchange; the broker's side ends with its own FIN */
		while (!e->closed && sl_now_ns() < deadline)
			pump(e, sl_now_ns());
	}
	e->conn = NULL;
}

static double
cpu_secs(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
client_report(const struct pd_client *cl, double cpu)
{
	const struct pd_opts *o = cl->o;
	double secs = (double)(cl->t_end - cl->t_start) / 1e9;
	double rps = secs > 0 ? (double)cl->records / secs : 0;
	double qps = secs > 0 ? (double)cl->requests / secs : 0;
	double mbps = secs > 0 ? (double)cl->bytes / secs / 1e6 : 0;
	bool lat = sl_hist_count(&cl->lat) > 0;
	double p50 = (double)sl_hist_percentile(&cl->lat, 50) / 1e3;
	double p99 = (double)sl_hist_percentile(&cl->lat, 99) / 1e3;
	double p999 = (double)sl_hist_percentile(&cl->lat, 99.9) / 1e3;
	double pmax = (double)sl_hist_max(&cl->lat) / 1e3;
	double mean = sl_hist_mean(&cl->lat) / 1e3;
	double cpu_req = cl->requests ? cpu * 1e6 / (double)cl->requests : 0;
	char rate[32], acks[8];

	if (o->rate)
		snprintf(rate, sizeof(rate), "%lld", (long long)o->rate);
	else
		snprintf(rate, sizeof(rate), "max");
	snprintf(acks, sizeof(acks), "%d", o->acks);
	if (!o->quiet) {
		printf("sluice perf produce (%s): topic %s, %lld B records, acks=%s, "
		       "compression=none, rate=%s, %lld records/request, %lld in flight\n",
		       o->socket ? "socket" : "dpdk", o->topic, (long long)o->size, acks, rate,
		       (long long)o->batch_records, (long long)o->inflight);
		printf("  %10s %9s %12s %9s %10s %10s %10s %10s %8s\n", "records", "seconds",
		       "records/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "max us", "errors");
		if (lat)
			printf("  %10llu %9.3f %12.1f %9.1f %10.1f %10.1f %10.1f %10.1f %8llu\n",
			       (unsigned long long)cl->records, secs, rps, mbps, p50, p99, p999,
			       pmax, (unsigned long long)cl->errors);
		else
			printf("  %10llu %9.3f %12.1f %9.1f %10s %10s %10s %10s %8llu\n",
			       (unsigned long long)cl->records, secs, rps, mbps, "-", "-", "-", "-",
			       (unsigned long long)cl->errors);
		printf("  requests/s %.1f, client CPU %.3f us per request (busy-poll: one core)\n",
		       qps, cpu_req);
	}
	printf("sluice-perf mode=produce transport=%s topic=%s size=%lld rate=%s acks=%s "
	       "compression=none records=%llu bytes=%llu seconds=%.6f records_per_s=%.1f "
	       "mb_per_s=%.3f latency_samples=%llu p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f mean_us=%.1f errors=%llu requests=%llu requests_per_s=%.1f "
	       "batch_records=%lld inflight=%lld client_cpu_us_per_req=%.3f\n",
	       o->socket ? "socket" : "dpdk", o->topic, (long long)o->size, rate, acks,
	       (unsigned long long)cl->records,
	       (unsigned long long)cl->bytes, secs, rps, mbps,
	       (unsigned long long)sl_hist_count(&cl->lat), p50, p99, p999, pmax, mean,
	       (unsigned long long)cl->errors, (unsigned long long)cl->requests, qps,
	       (long long)o->batch_records, (long long)o->inflight, cpu_req);
	fflush(stdout);
}

static int
perf_produce(const struct pd_opts *o)
{
	struct pd_env e;
	struct pd_client cl;
	double cpu0 = 0;
	int rc, nparts;
	uint32_t ring = 1;

	memset(&e, 0, sizeof(e));
	memset(&cl, 0, sizeof(cl));
	e.kernel = o->socket;
	e.fd = -1;
	cl.o = o;
	cl.e = &e;
	cl.corr = 1;
	while (ring < (uint32_t)o->inflight)
		ring <<= 1;
	cl.due = calloc(ring, sizeof(*cl.due));
	cl.due_mask = ring - 1;
	if (!cl.due || sl_hist_init(&cl.lat, PD_HIST_HIGHEST, PD_HIST_SUB_BITS) ||
	    sl_arena_init(&cl.arena, 64 << 10, 64 << 20)) {
		fprintf(stderr, "sluice perf --dpdk: out of memory\n");
		free(cl.due);
		return SL_CLI_FAIL;
	}
	/* a send ring that holds every request in flight (and at least 1 MiB) */
	uint64_t need = (uint64_t)o->inflight * (uint64_t)(o->size + 80) *
	                (uint64_t)o->batch_records + 65536;
	uint32_t sndbuf = 1u << 20;

	while (sndbuf < need && sndbuf < (1u << 28))
		sndbuf <<= 1;
	rc = e.kernel ? 0 : pd_env_up(&e, o, 4, sndbuf, 1u << 20);
	if (rc < 0)
		goto out;
	rc = client_connect(&cl);
	if (rc < 0)
		goto out;
	nparts = client_handshake(&cl);
	if (nparts < 0) {
		rc = nparts;
		goto out;
	}
	rc = client_templates(&cl, nparts);
	if (rc < 0)
		goto out;
	if (!o->quiet)
		fprintf(stderr, "sluice perf --dpdk: connected, topic %s has %d partitions, "
		                "%u B per request\n", o->topic, nparts, (unsigned)cl.tmpl_len[0]);
	cpu0 = cpu_secs();
	rc = client_run(&cl);
	client_report(&cl, cpu_secs() - cpu0);
out:
	client_close(&cl);
	pd_env_down(&e);
	for (unsigned k = 0; k < cl.ntmpl; k++)
		free(cl.tmpl[k]);
	free(cl.due);
	sl_arena_fini(&cl.arena);
	sl_hist_fini(&cl.lat);
	if (rc < 0) {
		fprintf(stderr, "sluice perf --dpdk: failed: %s\n", strerror(-rc));
		return SL_CLI_FAIL;
	}
	return cl.errors || pd_stop ? SL_CLI_FAIL : SL_CLI_OK;
}

/* ---- serve: a minimal responder for testing the client ---- */

#define PD_SERVE_CONNS 16

struct pd_serve {
	const struct pd_opts *o;
	struct sl_arena arena;
	struct sl_tcp_conn *conns[PD_SERVE_CONNS];
	uint64_t requests, produce, bad;
	int64_t next_offset;
	char host[INET_ADDRSTRLEN];
};

static void
pd_serve_established(struct pd_env *e, struct sl_tcp_conn *c)
{
	for (unsigned i = 0; i < PD_SERVE_CONNS; i++)
		if (!e->srv->conns[i]) {
			e->srv->conns[i] = c;
			return;
		}
	sl_tcp_abort(c);
}

static void
pd_serve_gone(struct pd_env *e, struct sl_tcp_conn *c)
{
	for (unsigned i = 0; i < PD_SERVE_CONNS; i++)
		if (e->srv->conns[i] == c)
			e->srv->conns[i] = NULL;
}

/* Encodes the response to one request into w. 0 or -errno (close the connection). */
static int
serve_one(struct pd_serve *s, struct sl_crd *rd, struct sl_wbuf *w)
{
	static const int16_t keys[][3] = {
	        {SL_API_PRODUCE, 3, 8}, {SL_API_METADATA, 0, 8}, {SL_API_API_VERSIONS, 0, 2}};
	struct sl_request_header h;
	uint8_t *szp;
	int rc = 0;

	if (sl_request_header_read(rd, &h))
		return -EBADMSG;
	szp = sl_wbuf_reserve(w, 4);
	if (h.request_api_key == SL_API_API_VERSIONS) {
		struct sl_api_versions_resp r;
		struct sl_api_versions_resp_api_version av[3];
		int16_t v = h.request_api_version > 2 ? 0 : h.request_api_version;

		sl_response_header_write(w, h.request_api_key, v, h.correlation_id);
		sl_api_versions_resp_init(&r);
		for (unsigned i = 0; i < 3; i++) {
			av[i].api_key = keys[i][0];
			av[i].min_version = keys[i][1];
			av[i].max_version = keys[i][2];
		}
		r.api_keys = av;
		r.api_keys_cnt = 3;
		/* UNSUPPORTED_VERSION (35) with our versions, as Kafka answers a newer client */
		r.error_code = h.request_api_version > 2 ? 35 : 0;
		rc = sl_api_versions_resp_encode(w, v, &r);
	} else if (h.request_api_key == SL_API_METADATA && h.request_api_version <= 8) {
		struct sl_metadata_req q;
		struct sl_metadata_resp r;
		struct sl_metadata_resp_broker b;
		struct sl_metadata_resp_topic *t;
		struct sl_metadata_resp_partition *p;
		static int32_t node0;
		int16_t v = h.request_api_version;

		if (sl_metadata_req_decode(rd, v, &q))
			return -EBADMSG;
		sl_response_header_write(w, h.request_api_key, v, h.correlation_id);
		sl_metadata_resp_init(&r);
		sl_metadata_resp_broker_init(&b);
		b.node_id = 0;
		b.host.p = s->host;
		b.host.len = (int32_t)strlen(s->host);
		b.port = s->o->broker_port;
		r.brokers = &b;
		r.brokers_cnt = 1;
		r.controller_id = 0;
		r.topics_cnt = q.topics_cnt < 0 ? 0 : q.topics_cnt;
		t = sl_arena_zalloc(&s->arena, sizeof(*t) * (size_t)(r.topics_cnt + 1));
		p = sl_arena_zalloc(&s->arena, sizeof(*p) * (size_t)s->o->partitions);
		if (!t || !p)
			return -ENOMEM;
		for (int64_t i = 0; i < s->o->partitions; i++) {
			sl_metadata_resp_partition_init(&p[i]);
			p[i].partition_index = (int32_t)i;
			p[i].leader_id = 0;
			p[i].leader_epoch = 0;
			p[i].replica_nodes = &node0;
			p[i].replica_nodes_cnt = 1;
			p[i].isr_nodes = &node0;
			p[i].isr_nodes_cnt = 1;
		}
		for (int32_t i = 0; i < r.topics_cnt; i++) {
			sl_metadata_resp_topic_init(&t[i]);
			t[i].name = q.topics[i].name;
			t[i].partitions = p;
			t[i].partitions_cnt = (int32_t)s->o->partitions;
		}
		r.topics = t;
		rc = sl_metadata_resp_encode(w, v, &r);
	} else if (h.request_api_key == SL_API_PRODUCE && h.request_api_version >= 3 &&
	           h.request_api_version <= 8) {
		struct sl_produce_req q;
		struct sl_produce_resp r;
		int16_t v = h.request_api_version;

		if (sl_produce_req_decode(rd, v, &q) || q.topic_data_cnt < 0)
			return -EBADMSG;
		s->produce++;
		sl_response_header_write(w, h.request_api_key, v, h.correlation_id);
		sl_produce_resp_init(&r);
		r.responses_cnt = q.topic_data_cnt;
		r.responses = sl_arena_zalloc(
		        &s->arena, sizeof(*r.responses) * (size_t)(q.topic_data_cnt + 1));
		if (!r.responses)
			return -ENOMEM;
		for (int32_t i = 0; i < q.topic_data_cnt; i++) {
			const struct sl_produce_req_topic_produce_data *td = &q.topic_data[i];
			struct sl_produce_resp_topic_produce_response *tr = &r.responses[i];
			int32_t n = td->partition_data_cnt < 0 ? 0 : td->partition_data_cnt;

			sl_produce_resp_topic_produce_response_init(tr);
			tr->name = td->name;
			tr->partition_responses_cnt = n;
			tr->partition_responses = sl_arena_zalloc(
			        &s->arena, sizeof(*tr->partition_responses) * (size_t)(n + 1));
			if (!tr->partition_responses)
				return -ENOMEM;
			for (int32_t j = 0; j < n; j++) {
				struct sl_produce_resp_partition_produce_response *pr =
				        &tr->partition_responses[j];

				sl_produce_resp_partition_produce_response_init(pr);
				pr->index = td->partition_data[j].index;
				pr->base_offset = s->next_offset++;
			}
		}
		if (q.acks == 0) {
			sl_arena_reset(&s->arena);
			return 1; /* no response */
		}
		rc = sl_produce_resp_encode(w, v, &r);
	} else {
		return -ENOTSUP;
	}
	if (rc || w->err || !szp)
		return rc ? rc : (w->err ? w->err : -ENOMEM);
	sl_put_be32(szp, (uint32_t)(w->len - 4));
	return 0;
}

static void
serve_conn(struct pd_serve *s, struct sl_tcp_conn *c, int64_t now)
{
	while (sl_tcp_send_space(c) >= PD_SERVE_MIN_SPACE) {
		struct iovec sub[2];
		struct sl_crd rd;
		struct sl_wbuf w;
		int64_t fl;
		int rc;

		sl_arena_reset(&s->arena);
		fl = frame_next(c, &rd, sub, &s->arena);
		if (fl == 0)
			return;
		sl_wbuf_init(&w, &s->arena);
		rc = fl < 0 ? (int)fl : serve_one(s, &rd, &w);
		if (rc < 0) {
			if (s->bad++ < 5)
				fprintf(stderr, "sluice perf serve: bad request (%s): closing\n",
				        strerror(-rc));
			sl_tcp_abort(c);
			for (unsigned i = 0; i < PD_SERVE_CONNS; i++)
				if (s->conns[i] == c)
					s->conns[i] = NULL;
			return;
		}
		s->requests++;
		if (rc == 0 && sl_tcp_send(c, w.iov, w.niov, now) != (ssize_t)w.len) {
			sl_tcp_abort(c);
			for (unsigned i = 0; i < PD_SERVE_CONNS; i++)
				if (s->conns[i] == c)
					s->conns[i] = NULL;
			return;
		}
		sl_tcp_rx_consume(c, (size_t)fl, now);
	}
}

static int
perf_serve(const struct pd_opts *o)
{
	struct pd_env e;
	struct pd_serve s;
	struct in_addr a;
	int64_t start, now;
	int rc;

	memset(&e, 0, sizeof(e));
	memset(&s, 0, sizeof(s));
	s.o = o;
	e.srv = &s;
	a.s_addr = htonl(o->ip);
	inet_ntop(AF_INET, &a, s.host, sizeof(s.host));
	if (sl_arena_init(&s.arena, 64 << 10, 64 << 20)) {
		fprintf(stderr, "sluice perf serve: out of memory\n");
		return SL_CLI_FAIL;
	}
	rc = pd_env_up(&e, o, PD_SERVE_CONNS * 2, 1u << 20, 1u << 22);
	if (rc < 0)
		goto out;
	rc = sl_tcp_listen(e.net, o->broker_port, 64);
	if (rc < 0)
		goto out;
	if (!o->quiet)
		fprintf(stderr, "sluice perf serve: listening on %s:%u (%s)\n", s.host,
		        (unsigned)o->broker_port, o->port_name);
	start = sl_now_ns();
	while (!pd_stop) {
		now = sl_now_ns();
		sl_net_poll(e.net, now);
		for (unsigned i = 0; i < PD_SERVE_CONNS; i++)
			if (s.conns[i])
				serve_conn(&s, s.conns[i], now);
		sl_net_flush(e.net);
		if (o->duration_ns && now - start >= o->duration_ns)
			break;
	}
	printf("sluice-perf mode=serve transport=dpdk requests=%llu produce=%llu bad=%llu\n",
	       (unsigned long long)s.requests, (unsigned long long)s.produce,
	       (unsigned long long)s.bad);
	fflush(stdout);
out:
	pd_env_down(&e);
	sl_arena_fini(&s.arena);
	if (rc < 0) {
		fprintf(stderr, "sluice perf serve: failed: %s\n", strerror(-rc));
		return SL_CLI_FAIL;
	}
	return SL_CLI_OK;
}

int
sl_cli_perf_dpdk(int argc, char **argv)
{
	struct pd_opts o;
	struct sigaction sa;
	int rc = pd_parse(&o, argc, argv);

	if (rc)
		return rc > 0 ? SL_CLI_OK : SL_CLI_USAGE;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pd_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return o.mode == PD_SERVE ? perf_serve(&o) : perf_produce(&o);
}
