/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kraw.c: the `kafka-raw` backend of sl-load (API and threading in kraw.h): the Kafka
 * protocol spoken directly over a kernel TCP socket with the project's generated codecs
 * (common/kproto), batches built by storage/rbuild.h (CRC32C through common/crc32c.h).
 *
 * Producer state, all allocated and pre-faulted in kraw_open:
 *
 *   slots[inflight + partitions]   one Produce request each: a RecordBatch v2 buffer sized
 *                                  for `batch` records of max_record bytes, and per record
 *                                  its due time and length (for on_ack)
 *   open[part]                     the slot whose batch partition `part` is filling, or -1
 *   fifo                           slots sent and not yet answered, in request order (Kafka
 *                                  answers in order on one connection), at most `inflight`
 *   free stack                     the rest
 *
 * Invariants: (1) every slot is in exactly one of open[], fifo, free; (2) fifo holds at most
 * cfg->inflight slots, so with inflight + partitions slots an empty open[part] always finds a
 * free slot; (3) a slot's correlation id is set when its request is written and the response
 * at the fifo head must carry it (otherwise the stream is out of step: -EBADMSG).
 *
 * Request on the wire (Produce v7, or v3-v6 where ApiVersions caps it: same layout; header v1):
 *
 *   int32 size | int16 key=0 | int16 ver=7 | int32 corr | string client_id
 *   | string transactional_id=null | int16 acks | int32 timeout_ms
 *   | [1] { string topic | [1] { int32 partition | int32 len | RecordBatch v2 } }
 *
 * The header and body are encoded by the generated codecs into a per-connection arena reset
 * for each request (no allocation once its first block exists); the batch is referenced in
 * place and the whole request leaves in one writev.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/kbuf.h"
#include "common/kproto/api.h"
#include "common/kproto/api_versions.h"
#include "common/kproto/create_topics.h"
#include "common/kproto/fetch.h"
#include "common/kproto/metadata.h"
#include "common/kproto/produce.h"
#include "storage/rbatch.h"
#include "storage/rbuild.h"

#include "kraw.h"

/* The versions wanted, each capped by what ApiVersions v0 says the broker takes: */
#define KR_PRODUCE_VER 7  /* RecordBatch v2 needs v3+; v7 is what librdkafka 2.0 sends */
#define KR_METADATA_VER 4 /* allow_auto_topic_creation (v4+), non-flexible */
#define KR_CREATE_VER 4   /* replication_factor -1 allowed (KIP-464), non-flexible */
#define KR_FETCH_VER 11   /* rack_id (v11); the last non-flexible version; v4+ needed */
#define KR_REC_OVERHEAD 32 /* record framing beyond the value: length, attributes,
                            * timestamp and offset deltas, key length, header count */
#define KR_RX_PRODUCE (256u << 10)
#define KR_RX_FETCH (24u << 20)   /* a Fetch response is read whole */
#define KR_FETCH_MAX_BYTES (8 << 20)
#define KR_FETCH_PART_MAX_BYTES (4 << 20)
#define KR_ARENA_BLK (64u << 10)
#define KR_KERR_UNKNOWN_SERVER_ERROR (-1)
#define KR_KERR_TOPIC_ALREADY_EXISTS 36
#define KR_CLIENT_ID "sl-load-kraw"

struct kr_slot {
	struct sl_rb_builder b;
	uint8_t *buf;
	size_t cap;
	int64_t *due;
	uint32_t *len;
	int64_t ts_ms;
	int32_t corr;
	int part;
	int cnt;
};

struct kraw {
	const struct kraw_cfg *c;
	int fd;
	int err; /* sticky: the connection failed */
	int32_t corr;
	uint64_t requests;
	unsigned kerr_logged;
	int16_t v_produce, v_metadata, v_create, v_fetch; /* -1: the broker lacks it */
	/* slots (invariants above) */
	struct kr_slot *slots;
	int nslots;
	int *free_stk;
	int nfree;
	int *fifo; /* ring of nslots entries */
	unsigned fhead, fcnt;
	int *open;
	/* receive side: frames are parsed out of rx in place */
	uint8_t *rx;
	size_t rx_cap, rx_len;
	struct sl_arena tx_arena, rx_arena;
	/* the Produce request, reused: one topic, one partition */
	struct sl_request_header hdr;
	struct sl_produce_req req;
	struct sl_produce_req_topic_produce_data td;
	struct sl_produce_req_partition_produce_data pd;
	struct iovec rec_iov;
};

/* ---- connection ---- */

int
kraw_tcp_connect(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	int fd, one = 1;

	if (getaddrinfo(host, port, &hints, &ai))
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -e;
	}
	freeaddrinfo(ai);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
kr_connect(const char *addr, int64_t timeout_ns)
{
	struct timeval tv = {.tv_sec = timeout_ns / 1000000000, .tv_usec = 0};
	char host[256];
	const char *colon = strrchr(addr, ':');
	int fd;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	fd = kraw_tcp_connect(host, colon + 1);
	if (fd < 0)
		return fd;
	/* A write blocked this long means the broker stopped reading: fail, don't hang. */
	if (tv.tv_sec < 1)
		tv.tv_sec = 1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int
writev_all(int fd, struct iovec *iov, unsigned n)
{
	while (n) {
		ssize_t r = writev(fd, iov, n > 1024 ? 1024 : (int)n);
		size_t left;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		left = (size_t)r;
		while (n && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Encodes and writes one request: header v1 (every version used here is non-flexible). */
static int
kr_write(struct kraw *k, int16_t key, int16_t ver, const void *body)
{
	struct sl_wbuf w;
	uint8_t *size;

	sl_arena_reset(&k->tx_arena);
	sl_wbuf_init(&w, &k->tx_arena);
	size = sl_wbuf_reserve(&w, 4);
	k->hdr.request_api_key = key;
	k->hdr.request_api_version = ver;
	k->hdr.correlation_id = ++k->corr;
	(void)sl_request_header_encode(&w, sl_kapi_req_hdr_ver(key, ver), &k->hdr);
	(void)sl_kproto_encode(&w, key, false, ver, body);
	if (w.err || !size)
		return w.err ? w.err : -ENOMEM;
	sl_put_be32(size, (uint32_t)(w.len - 4));
	return writev_all(k->fd, w.iov, w.niov);
}

/* Reads what the socket has (waiting up to wait_ms for the first byte; 0 = don't wait).
 * Returns bytes read, 0 when nothing arrived, or -errno (-ECONNRESET at EOF). */
static int
kr_fill(struct kraw *k, int wait_ms)
{
	ssize_t r;

	if (k->rx_len == k->rx_cap)
		return -EMSGSIZE;
	if (wait_ms > 0) {
		struct pollfd pfd = {.fd = k->fd, .events = POLLIN};

		if (poll(&pfd, 1, wait_ms) == 0)
			return 0;
	}
	r = recv(k->fd, k->rx + k->rx_len, k->rx_cap - k->rx_len, MSG_DONTWAIT);
	if (r > 0) {
		k->rx_len += (size_t)r;
		return (int)r;
	}
	if (r == 0)
		return -ECONNRESET;
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

/* The size of the complete frame at rx + off (size prefix excluded), 0 if not complete yet,
 * -EBADMSG if it can never fit the buffer. */
static int64_t
kr_frame_at(const struct kraw *k, size_t off)
{
	int64_t sz;

	if (k->rx_len - off < 4)
		return 0;
	sz = (int32_t)sl_be32(k->rx + off);
	if (sz < 4 || (size_t)sz > k->rx_cap - 4)
		return -EBADMSG;
	return k->rx_len - off - 4 >= (size_t)sz ? sz : 0;
}

/* Drops the first used bytes of rx. */
static void
kr_consume_rx(struct kraw *k, size_t used)
{
	memmove(k->rx, k->rx + used, k->rx_len - used);
	k->rx_len -= used;
}

/*
 * One blocking request/response (setup and the consumer; nothing else in flight): decodes
 * the response into out (arrays in rx_arena, strings and records in rx) and leaves the
 * frame in rx until the next call. 0 or -errno.
 */
static int
kr_call(struct kraw *k, int16_t key, int16_t ver, const void *req, void *out, int64_t deadline)
{
	struct sl_response_header h;
	struct sl_crd rd;
	struct iovec iov;
	int64_t sz;
	int ret;

	k->rx_len = 0;
	ret = kr_write(k, key, ver, req);
	if (ret)
		return ret;
	while (!(sz = kr_frame_at(k, 0))) {
		if (sl_now_ns() > deadline)
			return -ETIMEDOUT;
		ret = kr_fill(k, 100);
		if (ret < 0)
			return ret;
	}
	if (sz < 0)
		return (int)sz;
	sl_arena_reset(&k->rx_arena);
	sl_crd_init_buf(&rd, &iov, k->rx + 4, (size_t)sz, &k->rx_arena);
	sl_response_header_init(&h);
	if (sl_response_header_decode(&rd, sl_kapi_resp_hdr_ver(key, ver), &h) ||
	    h.correlation_id != k->corr)
		return -EBADMSG;
	return sl_kproto_decode(&rd, key, true, ver, out) ? -EBADMSG : 0;
}

/* ---- setup ---- */

static int16_t
pick_ver(const struct sl_api_versions_resp *r, int16_t key, int16_t want, int16_t need)
{
	for (int32_t i = 0; i < r->api_keys_cnt; i++) {
		const struct sl_api_versions_resp_api_version *a = &r->api_keys[i];
		int16_t v = a->max_version < want ? a->max_version : want;

		if (a->api_key == key)
			return v >= need && v >= a->min_version ? v : -1;
	}
	return -1;
}

/* ApiVersions v0 (every broker answers it): the versions this client will use. */
static int
kr_versions(struct kraw *k, int64_t deadline)
{
	struct sl_api_versions_req req;
	struct sl_api_versions_resp resp;
	int ret;

	sl_api_versions_req_init(&req);
	sl_api_versions_resp_init(&resp);
	ret = kr_call(k, SL_API_API_VERSIONS, 0, &req, &resp, deadline);
	if (ret)
		return ret;
	if (resp.error_code)
		return -EPROTO;
	k->v_produce = pick_ver(&resp, SL_API_PRODUCE, KR_PRODUCE_VER, 3);
	k->v_metadata = pick_ver(&resp, SL_API_METADATA, KR_METADATA_VER, 1);
	k->v_create = pick_ver(&resp, SL_API_CREATE_TOPICS, KR_CREATE_VER, 0);
	k->v_fetch = pick_ver(&resp, SL_API_FETCH, KR_FETCH_VER, 4);
	return 0;
}

static int
kr_create_topic(struct kraw *k, int64_t deadline)
{
	struct sl_create_topics_req_creatable_topic t;
	struct sl_create_topics_req req;
	struct sl_create_topics_resp resp;
	int ret;

	sl_create_topics_req_creatable_topic_init(&t);
	t.name = (struct sl_str){k->c->topic, (int32_t)strlen(k->c->topic)};
	t.num_partitions = k->c->partitions;
	sl_create_topics_req_init(&req);
	req.topics = &t;
	req.topics_cnt = 1;
	req.timeout_ms = 10000;
	sl_create_topics_resp_init(&resp);
	if (k->v_create < 0)
		return 0; /* wait for Metadata (auto-creation) */
	t.replication_factor = k->v_create >= 4 ? -1 : 1;
	ret = kr_call(k, SL_API_CREATE_TOPICS, k->v_create, &req, &resp, deadline);
	if (ret)
		return ret;
	if (resp.topics_cnt == 1 && resp.topics[0].error_code &&
	    resp.topics[0].error_code != KR_KERR_TOPIC_ALREADY_EXISTS)
		fprintf(stderr, "sl-load: kafka-raw: CreateTopics %s: error %d (checking Metadata)\n",
		        k->c->topic, resp.topics[0].error_code);
	return 0;
}

/* The number of partitions Metadata lists for the topic, all without error; 0 if not yet.
 * The first look does not auto-create, so that CreateTopics can set the partition count. */
static int
kr_partitions(struct kraw *k, int64_t deadline, bool auto_create)
{
	struct sl_metadata_req_topic t;
	struct sl_metadata_req req;
	struct sl_metadata_resp resp;
	int ret;

	sl_metadata_req_topic_init(&t);
	t.name = (struct sl_str){k->c->topic, (int32_t)strlen(k->c->topic)};
	sl_metadata_req_init(&req);
	req.topics = &t;
	req.topics_cnt = 1;
	req.allow_auto_topic_creation = auto_create;
	sl_metadata_resp_init(&resp);
	ret = kr_call(k, SL_API_METADATA, k->v_metadata, &req, &resp, deadline);
	if (ret)
		return ret;
	if (resp.topics_cnt != 1 || resp.topics[0].error_code || resp.topics[0].partitions_cnt < 0)
		return 0;
	for (int32_t i = 0; i < resp.topics[0].partitions_cnt; i++)
		if (resp.topics[0].partitions[i].error_code)
			return 0;
	return resp.topics[0].partitions_cnt;
}

static void *
prefaulted(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p)
		memset(p, 0, n); /* touch every page now, not on the hot path */
	return p;
}

static int
kr_init_conn(struct kraw *k, const struct kraw_cfg *c, size_t rx_cap)
{
	k->c = c;
	k->fd = -1;
	k->rx_cap = rx_cap;
	k->rx = prefaulted(rx_cap);
	if (!k->rx || sl_arena_init(&k->tx_arena, KR_ARENA_BLK, 64u << 20) ||
	    sl_arena_init(&k->rx_arena, KR_ARENA_BLK, 64u << 20))
		return -ENOMEM;
	sl_request_header_init(&k->hdr);
	k->hdr.client_id = (struct sl_str){KR_CLIENT_ID, (int32_t)sizeof(KR_CLIENT_ID) - 1};
	k->fd = kr_connect(c->addr, c->timeout_ns);
	return k->fd < 0 ? k->fd : 0;
}

static void
kr_fini_conn(struct kraw *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	if (k->tx_arena.head || k->tx_arena.spare)
		sl_arena_fini(&k->tx_arena);
	if (k->rx_arena.head || k->rx_arena.spare)
		sl_arena_fini(&k->rx_arena);
	free(k->rx);
	k->rx = NULL;
}

int
kraw_open(struct kraw **out, const struct kraw_cfg *c)
{
	struct kraw *k;
	int64_t deadline = sl_now_ns() + c->timeout_ns;
	size_t cap;
	int ret, n = 0;

	*out = NULL;
	if (c->partitions < 1 || c->inflight < 1 || c->batch < 1 || !c->on_ack ||
	    c->max_record > (64u << 20) ||
	    (uint64_t)c->batch * (c->max_record + KR_REC_OVERHEAD) > (256u << 20))
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	ret = kr_init_conn(k, c, KR_RX_PRODUCE);
	if (ret)
		goto out_err;
	/* Pre-allocate and pre-fault every request slot. */
	k->nslots = c->inflight + c->partitions;
	k->slots = calloc((size_t)k->nslots, sizeof(*k->slots));
	k->free_stk = calloc((size_t)k->nslots, sizeof(int));
	k->fifo = calloc((size_t)k->nslots, sizeof(int));
	k->open = calloc((size_t)c->partitions, sizeof(int));
	if (!k->slots || !k->free_stk || !k->fifo || !k->open) {
		ret = -ENOMEM;
		goto out_err;
	}
	cap = SL_RB_HDR_SIZE + (size_t)c->batch * (c->max_record + KR_REC_OVERHEAD);
	for (int i = 0; i < k->nslots; i++) {
		struct kr_slot *s = &k->slots[i];

		s->cap = cap;
		s->buf = prefaulted(cap);
		s->due = prefaulted((size_t)c->batch * sizeof(*s->due));
		s->len = prefaulted((size_t)c->batch * sizeof(*s->len));
		if (!s->buf || !s->due || !s->len) {
			ret = -ENOMEM;
			goto out_err;
		}
		k->free_stk[k->nfree++] = i;
	}
	for (int p = 0; p < c->partitions; p++)
		k->open[p] = -1;
	/* The request template: one topic, one partition, records referenced in place. */
	sl_produce_req_init(&k->req);
	sl_produce_req_topic_produce_data_init(&k->td);
	sl_produce_req_partition_produce_data_init(&k->pd);
	k->req.acks = c->acks;
	k->req.timeout_ms = 30000;
	k->req.topic_data = &k->td;
	k->req.topic_data_cnt = 1;
	k->td.name = (struct sl_str){c->topic, (int32_t)strlen(c->topic)};
	k->td.partition_data = &k->pd;
	k->td.partition_data_cnt = 1;
	k->pd.records = (struct sl_chain){&k->rec_iov, 1, 0};

	ret = kr_versions(k, deadline);
	if (!ret && (k->v_produce < 0 || k->v_metadata < 0)) {
		fprintf(stderr, "sl-load: kafka-raw: %s lacks Produce v3+ or Metadata v1+\n",
		        c->addr);
		ret = -EPROTONOSUPPORT;
	}
	if (ret)
		goto out_err;
	/* CreateTopics only when Metadata does not list enough partitions: some peers
	 * (librdkafka's mock) drop a connection that sends it. */
	n = kr_partitions(k, deadline, false);
	ret = n < 0 ? n : n < c->partitions ? kr_create_topic(k, deadline) : 0;
	while (!ret && n >= 0 && n < c->partitions &&
	       (n = kr_partitions(k, deadline, true)) >= 0 && n < c->partitions) {
		if (sl_now_ns() > deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		usleep(100 * 1000);
	}
	if (!ret && n < 0)
		ret = n;
	if (ret) {
		fprintf(stderr, "sl-load: kafka-raw: %s: topic %s with %d partition(s): %s\n",
		        c->addr, c->topic, c->partitions, strerror(-ret));
		goto out_err;
	}
	k->rx_len = 0;
	*out = k;
	return 0;
out_err:
	kraw_close(k);
	return ret;
}

/* ---- produce ---- */

static void
slot_complete(struct kraw *k, int si, bool ok)
{
	struct kr_slot *s = &k->slots[si];

	for (int i = 0; i < s->cnt; i++)
		k->c->on_ack(k->c->arg, s->due[i], s->len[i], ok);
	s->cnt = 0;
	k->free_stk[k->nfree++] = si;
}

static int
fifo_pop(struct kraw *k)
{
	int si = k->fifo[k->fhead];

	k->fhead = (k->fhead + 1) % (unsigned)k->nslots;
	k->fcnt--;
	return si;
}

/* The connection is gone: everything in flight failed, and so will every later send. */
static void
kr_fail(struct kraw *k, int err)
{
	if (!k->err)
		fprintf(stderr, "sl-load: kafka-raw: connection failed: %s\n", strerror(-err));
	k->err = err;
	while (k->fcnt)
		slot_complete(k, fifo_pop(k), false);
}

/* A Produce response for the slot at the fifo head. */
static int
kr_on_produce_resp(struct kraw *k, const uint8_t *p, size_t n)
{
	struct sl_response_header h;
	struct sl_produce_resp r;
	struct sl_crd rd;
	struct iovec iov;
	struct kr_slot *s;
	int16_t ec = KR_KERR_UNKNOWN_SERVER_ERROR;

	if (!k->fcnt)
		return -EBADMSG;
	s = &k->slots[k->fifo[k->fhead]];
	sl_arena_reset(&k->rx_arena);
	sl_crd_init_buf(&rd, &iov, p, n, &k->rx_arena);
	sl_response_header_init(&h);
	sl_produce_resp_init(&r);
	if (sl_response_header_decode(&rd, 0, &h) || h.correlation_id != s->corr ||
	    sl_produce_resp_decode(&rd, k->v_produce, &r))
		return -EBADMSG;
	for (int32_t t = 0; t < r.responses_cnt; t++)
		for (int32_t i = 0; i < r.responses[t].partition_responses_cnt; i++)
			if (r.responses[t].partition_responses[i].index == s->part)
				ec = r.responses[t].partition_responses[i].error_code;
	if (ec && k->kerr_logged++ < 5)
		fprintf(stderr, "sl-load: kafka-raw: partition %d: error code %d for %d record(s)\n",
		        s->part, ec, s->cnt);
	slot_complete(k, fifo_pop(k), ec == 0);
	return 0;
}

/* Reads and handles every complete response; waits up to wait_ms for the first bytes. */
static int
kr_reap(struct kraw *k, int wait_ms)
{
	int ret;

	if (k->err)
		return k->err;
	while ((ret = kr_fill(k, wait_ms)) > 0) {
		size_t off = 0;
		int64_t sz;

		while ((sz = kr_frame_at(k, off)) > 0) {
			ret = kr_on_produce_resp(k, k->rx + off + 4, (size_t)sz);
			if (ret)
				goto out_fail;
			off += 4 + (size_t)sz;
		}
		if (sz < 0) {
			ret = (int)sz;
			goto out_fail;
		}
		kr_consume_rx(k, off);
		wait_ms = 0;
	}
	if (ret < 0)
		goto out_fail;
	return 0;
out_fail:
	kr_fail(k, ret);
	return ret;
}

static int
slot_submit(struct kraw *k, int si)
{
	struct kr_slot *s = &k->slots[si];
	int64_t total;
	int ret;

	k->open[s->part] = -1;
	total = sl_rb_builder_finish(&s->b, NULL);
	if (total < 0) {
		slot_complete(k, si, false);
		return -EIO;
	}
	k->rec_iov = (struct iovec){s->buf, (size_t)total};
	k->pd.records.len = total;
	k->pd.index = s->part;
	ret = kr_write(k, SL_API_PRODUCE, k->v_produce, &k->req);
	if (ret) {
		slot_complete(k, si, false);
		kr_fail(k, ret);
		return -EIO;
	}
	s->corr = k->corr;
	k->requests++;
	if (k->c->acks == 0) { /* no response will come: written is all there is */
		slot_complete(k, si, true);
		return 0;
	}
	k->fifo[(k->fhead + k->fcnt) % (unsigned)k->nslots] = si;
	k->fcnt++;
	return 0;
}

/* Room for one more request in flight, reaping what has arrived if needed. */
static bool
kr_room(struct kraw *k)
{
	if (k->fcnt < (unsigned)k->c->inflight)
		return true;
	(void)kr_reap(k, 0);
	return k->fcnt < (unsigned)k->c->inflight;
}

int
kraw_send(struct kraw *k, int part, const void *p, size_t n, int64_t due_ns)
{
	struct kr_slot *s;
	int si, ret;

	if (k->err)
		return -EIO;
	if (part < 0 || part >= k->c->partitions || n > k->c->max_record)
		return -EINVAL;
	si = k->open[part];
	if (si < 0) {
		struct timespec ts;

		if (!k->nfree) /* cannot happen (invariant 2) */
			return -EAGAIN;
		si = k->free_stk[--k->nfree];
		s = &k->slots[si];
		clock_gettime(CLOCK_REALTIME, &ts);
		s->ts_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		s->part = part;
		s->cnt = 0;
		if (sl_rb_builder_init(&s->b, s->buf, s->cap, SL_CODEC_NONE, 0, s->ts_ms, -1, -1,
		                       -1)) {
			k->free_stk[k->nfree++] = si;
			return -EINVAL;
		}
		k->open[part] = si;
	}
	s = &k->slots[si];
	/* The record that completes a batch sends it: only if the limit allows. */
	if (s->cnt + 1 >= k->c->batch && !kr_room(k))
		return k->err ? -EIO : -EAGAIN;
	ret = sl_rb_builder_add(&s->b, s->ts_ms, NULL, -1, p, (int32_t)n, NULL, 0);
	if (ret) /* the slot is sized for batch records of max_record bytes */
		return -EINVAL;
	s->due[s->cnt] = due_ns;
	s->len[s->cnt] = (uint32_t)n;
	s->cnt++;
	if (s->cnt >= k->c->batch)
		return slot_submit(k, si);
	return 0;
}

/* Sends the partly filled batches the in-flight limit allows; returns how many stay open. */
static int
kr_flush_open(struct kraw *k)
{
	int left = 0;

	for (int p = 0; p < k->c->partitions; p++) {
		int si = k->open[p];

		if (si < 0 || !k->slots[si].cnt) /* empty: stays open, sends nothing */
			continue;
		if (k->err || !kr_room(k) || slot_submit(k, si)) {
			left++;
			continue;
		}
	}
	return left;
}

void
kraw_poll(struct kraw *k)
{
	if (k->err)
		return;
	kr_flush_open(k);
	(void)kr_reap(k, 0);
}

void
kraw_wait(struct kraw *k, int64_t until_ns)
{
	int64_t now;

	while (!k->err && (now = sl_now_ns()) < until_ns) {
		struct pollfd pfd = {.fd = k->fd, .events = POLLIN};
		struct timespec ts = {(until_ns - now) / 1000000000, (until_ns - now) % 1000000000};

		if (ppoll(&pfd, 1, &ts, NULL) <= 0)
			return;
		(void)kr_reap(k, 0);
		kr_flush_open(k); /* a batch held back by the in-flight limit may go now */
	}
}

int
kraw_drain(struct kraw *k)
{
	int64_t last = sl_now_ns();
	int last_open = -1;

	while (!k->err) {
		unsigned before = k->fcnt;
		int open = kr_flush_open(k);

		if (!open && !k->fcnt)
			return 0;
		(void)kr_reap(k, 100);
		/* Progress: a response came or an open batch left. */
		if (k->fcnt != before || open != last_open)
			last = sl_now_ns();
		last_open = open;
		if (sl_now_ns() - last > k->c->timeout_ns) {
			kr_fail(k, -ETIMEDOUT);
			break;
		}
	}
	/* Batches never sent (the connection failed first) are unacknowledged too. */
	for (int p = 0; p < k->c->partitions; p++)
		if (k->open[p] >= 0) {
			int si = k->open[p];

			k->open[p] = -1;
			slot_complete(k, si, false);
		}
	return k->err == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
}

uint64_t
kraw_requests(const struct kraw *k)
{
	return k->requests;
}

void
kraw_close(struct kraw *k)
{
	if (!k)
		return;
	kr_fini_conn(k);
	if (k->slots)
		for (int i = 0; i < k->nslots; i++) {
			free(k->slots[i].buf);
			free(k->slots[i].due);
			free(k->slots[i].len);
		}
	free(k->slots);
	free(k->free_stk);
	free(k->fifo);
	free(k->open);
	free(k);
}

/* ---- consume (Fetch v11) ---- */

/* Hands every record at or past *next of the batches in [p, p + len) to on_record and moves
 * *next past them; a trailing partial batch (max_bytes cut it) is left for the next fetch. */
static int
kr_walk_batches(const struct kraw_cfg *c, const uint8_t *p, size_t len, int64_t *next,
                struct sl_rb_scratch *scratch)
{
	size_t off = 0;

	while (len - off >= SL_RB_LOG_OVERHEAD) {
		int64_t total = sl_rb_total_size(p + off, len - off);
		struct sl_rb_iter it;
		struct sl_rb_rec rec;
		int r;

		if (total < 0)
			return -EBADMSG;
		if ((size_t)total > len - off)
			break;
		if (sl_rb_iter_init(&it, p + off, (size_t)total, scratch))
			return -EBADMSG;
		while ((r = sl_rb_iter_next(&it, &rec)) == 1) {
			if (rec.offset < *next)
				continue;
			if (rec.value_len >= 0)
				c->on_record(c->arg, rec.value, (size_t)rec.value_len);
			*next = rec.offset + 1;
		}
		if (r < 0)
			return -EBADMSG;
		/* Skip whole batches whose records all lie below *next (or were compacted). */
		if (it.hdr.base_offset + it.hdr.last_offset_delta + 1 > *next)
			*next = it.hdr.base_offset + it.hdr.last_offset_delta + 1;
		off += (size_t)total;
	}
	return 0;
}

int
kraw_consume(const struct kraw_cfg *c)
{
	struct kraw *k = calloc(1, sizeof(*k));
	struct sl_fetch_req_partition *parts = calloc((size_t)c->partitions, sizeof(*parts));
	int64_t *next = calloc((size_t)c->partitions, sizeof(*next));
	struct sl_rb_scratch scratch = {prefaulted(KR_FETCH_PART_MAX_BYTES * 2u),
	                                KR_FETCH_PART_MAX_BYTES * 2u};
	uint8_t *flat = prefaulted(KR_RX_FETCH);
	struct sl_fetch_req_topic t;
	struct sl_fetch_req req;
	int ret;

	if (!k || !parts || !next || !scratch.buf || !flat || !c->on_record || !c->keep_going) {
		ret = -ENOMEM;
		goto out;
	}
	ret = kr_init_conn(k, c, KR_RX_FETCH);
	if (!ret)
		ret = kr_versions(k, sl_now_ns() + c->timeout_ns);
	if (!ret && k->v_fetch < 0)
		ret = -EPROTONOSUPPORT;
	if (ret)
		goto out;
	sl_fetch_req_topic_init(&t);
	t.topic = (struct sl_str){c->topic, (int32_t)strlen(c->topic)};
	t.partitions = parts;
	t.partitions_cnt = c->partitions;
	sl_fetch_req_init(&req);
	req.replica_id = -1;
	req.max_wait_ms = 100;
	req.min_bytes = 1;
	req.max_bytes = KR_FETCH_MAX_BYTES;
	req.isolation_level = 0;
	req.session_id = 0;
	req.session_epoch = -1; /* sessionless */
	req.topics = &t;
	req.topics_cnt = 1;
	req.forgotten_topics_data_cnt = 0;
	req.rack_id = (struct sl_str){"", 0};
	while (c->keep_going(c->arg)) {
		struct sl_fetch_resp resp;

		for (int i = 0; i < c->partitions; i++) {
			sl_fetch_req_partition_init(&parts[i]);
			parts[i].partition = i;
			parts[i].fetch_offset = next[i];
			parts[i].partition_max_bytes = KR_FETCH_PART_MAX_BYTES;
		}
		sl_fetch_resp_init(&resp);
		ret = kr_call(k, SL_API_FETCH, k->v_fetch, &req, &resp,
		              sl_now_ns() + c->timeout_ns);
		if (ret)
			break;
		if (resp.error_code) {
			usleep(10000);
			continue;
		}
		for (int32_t ti = 0; ti < resp.responses_cnt; ti++)
			for (int32_t pi = 0; pi < resp.responses[ti].partitions_cnt; pi++) {
				const struct sl_fetch_resp_partition_data *pd =
				        &resp.responses[ti].partitions[pi];
				const uint8_t *rp;
				size_t rl;

				if (pd->error_code || pd->records.len <= 0 || pd->partition_index < 0 ||
				    pd->partition_index >= c->partitions)
					continue;
				if (pd->records.n == 1) {
					rp = pd->records.iov[0].iov_base;
					rl = pd->records.iov[0].iov_len;
				} else {
					rl = sl_chain_copyout(&pd->records, flat, KR_RX_FETCH);
					rp = flat;
				}
				ret = kr_walk_batches(c, rp, rl, &next[pd->partition_index], &scratch);
				if (ret)
					goto out;
			}
	}
out:
	if (ret && ret != -ETIMEDOUT)
		fprintf(stderr, "sl-load: kafka-raw: consumer: %s\n", strerror(-ret));
	if (k)
		kr_fini_conn(k);
	free(k);
	free(parts);
	free(next);
	free(scratch.buf);
	free(flat);
	return ret == -ETIMEDOUT ? 0 : ret;
}
