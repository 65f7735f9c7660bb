// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the shards (dataplane/shard.c and the hot handlers) with a fake control
 * plane: two shards own one partition each of topic "t"; a client on a loopback socket
 * (whichever shard the kernel hands it to, so one partition is always on the other shard)
 * produces, fetches, lists offsets, waits in long polls that appends on either shard must
 * wake, sends acks=0 produces between requests, and sends an admin request that goes to
 * the fake control thread and back. Shutdown drains a long poll in flight.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/kbuf.h"
#include "common/kproto/api.h"
#include "common/kproto/api_versions.h"
#include "common/kproto/fetch.h"
#include "common/kproto/list_offsets.h"
#include "common/kproto/metadata.h"
#include "common/kproto/produce.h"
#include "common/meta.h"
#include "common/msg.h"
#include "common/ring.h"
#include "dataplane/shard.h"
#include "storage/rbuild.h"

#define NSHARDS 2

/* ---- fake control plane ---- */

struct fake_ctrl {
	struct sl_ring to_shard[NSHARDS], from_shard[NSHARDS];
	struct sl_meta_pub pub;
	struct sl_dp *dp;
	pthread_t thr;
	atomic_int stop;
	atomic_int part_done;
	atomic_int ctrl_reqs;
};

static struct sl_ring *
fc_to(void *ctl, uint16_t i)
{
	return &((struct fake_ctrl *)ctl)->to_shard[i];
}

static struct sl_ring *
fc_from(void *ctl, uint16_t i)
{
	return &((struct fake_ctrl *)ctl)->from_shard[i];
}

static void
fc_notify(void *ctl)
{
	(void)ctl;
}

/* Canned DeleteTopics v0 answer: size, correlation id, an empty topic list. */
static void
fc_answer(struct fake_ctrl *fc, uint16_t shard, struct sl_ctrl_req *cr)
{
	struct sl_msg m = {.type = SL_MSG_CTRL_RESP, .ptr = cr};

	cr->resp = malloc(12);
	cr->resp_len = 12;
	sl_put_be32(cr->resp, 8);
	sl_put_be32(cr->resp + 4, (uint32_t)cr->correlation_id);
	sl_put_be32(cr->resp + 8, 0);
	while (!sl_ring_push(&fc->to_shard[shard], &m))
		usleep(100);
	sl_dp_wake(fc->dp, shard);
}

static void *
fc_main(void *arg)
{
	struct fake_ctrl *fc = arg;

	while (!atomic_load(&fc->stop)) {
		for (uint16_t i = 0; i < NSHARDS; i++) {
			struct sl_msg m;

			while (sl_ring_pop(&fc->from_shard[i], &m)) {
				if (m.type == SL_MSG_PART_DONE) {
					struct sl_part_op *op = m.ptr;

					assert_int_equal(op->err, 0);
					atomic_fetch_add(&fc->part_done, 1);
				} else if (m.type == SL_MSG_CTRL_REQ) {
					atomic_fetch_add(&fc->ctrl_reqs, 1);
					fc_answer(fc, i, m.ptr);
				}
			}
		}
		usleep(200);
	}
	return NULL;
}

/* ---- the broker under test ---- */

struct env {
	struct fake_ctrl fc;
	struct sl_dp *dp;
	struct sl_part_op ops[NSHARDS];
	char dir[64];
	int port;
	const struct sl_api_range *apis;
};

static const struct sl_api_range ctrl_apis[] = {{SL_API_DELETE_TOPICS, 0, 3}};

static void
publish(struct env *e)
{
	int32_t nparts[1] = {NSHARDS};
	struct sl_meta *m = sl_meta_alloc(1, nparts, "test-cluster", "127.0.0.1");
	struct sl_meta_topic *t;
	uint16_t *ps;

	assert_non_null(m);
	m->node_id = 0;
	m->controller_id = 0;
	m->adv_port = e->port;
	t = sl_meta_topic_mut(m, 0);
	memcpy(t->name, "t", 2);
	t->name_len = 1;
	t->nparts = NSHARDS;
	sl_plog_cfg_default(&t->cfg);
	ps = sl_meta_part_shard_mut(m, 0);
	for (uint16_t i = 0; i < NSHARDS; i++)
		ps[i] = i;
	sl_meta_sort(m);
	assert_true(sl_meta_publish(&e->fc.pub, m) > 0);
}

static int
env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct sl_dp_opts o;
	struct sl_dp_ctrl c;
	int64_t deadline;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/sl_shard_test_XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	for (int i = 0; i < NSHARDS; i++) {
		assert_int_equal(sl_ring_init(&e->fc.to_shard[i], 256, sizeof(struct sl_msg)), 0);
		assert_int_equal(sl_ring_init(&e->fc.from_shard[i], 256, sizeof(struct sl_msg)), 0);
	}
	assert_int_equal(sl_meta_pub_init(&e->fc.pub, NSHARDS), 0);
	sl_dp_opts_default(&o);
	o.nshards = NSHARDS;
	o.pin = false;
	o.xport.nbufs = 64;
	o.xport.buf_bytes = 16384;
	o.xport.max_conns = 16;
	o.store.chunk_bytes = 1 << 20;
	o.store.nr_chunks = 8;
	o.store.read_buf_bytes = 256 << 10;
	o.store.nr_read_bufs = 4;
	o.store.force_buffered = true;
	o.log_dir = e->dir;
	o.auto_create = false;
	assert_int_equal(sl_dp_create(&e->dp, &o), 0);
	e->fc.dp = e->dp;
	memset(&c, 0, sizeof(c));
	c.ring_to_shard = fc_to;
	c.ring_from_shard = fc_from;
	c.meta_pub = &e->fc.pub;
	c.notify = fc_notify;
	c.ctl = &e->fc;
	c.apis = ctrl_apis;
	c.napis = SL_ARRAY_SIZE(ctrl_apis);
	sl_dp_set_ctrl(e->dp, &c);
	assert_int_equal(sl_dp_listen(e->dp, "127.0.0.1", 0, &e->port), 0);
	publish(e);
	assert_int_equal(sl_dp_start(e->dp), 0);
	assert_int_equal(pthread_create(&e->fc.thr, NULL, fc_main, &e->fc), 0);
	/* Open each partition on its shard, as the control plane does. */
	for (uint16_t i = 0; i < NSHARDS; i++) {
		struct sl_msg m = {.type = SL_MSG_PART_OPEN, .ptr = &e->ops[i]};

		snprintf(e->ops[i].topic, sizeof(e->ops[i].topic), "t");
		e->ops[i].partition = i;
		sl_plog_cfg_default(&e->ops[i].cfg);
		e->ops[i].cfg.preallocate_bytes = 1 << 20;
		assert_true(sl_ring_push(&e->fc.to_shard[i], &m));
		sl_dp_wake(e->dp, i);
	}
	deadline = sl_now_ns() + 5000000000LL;
	while (atomic_load(&e->fc.part_done) < NSHARDS && sl_now_ns() < deadline)
		usleep(1000);
	assert_int_equal(atomic_load(&e->fc.part_done), NSHARDS);
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	assert_int_equal(sl_dp_drain(e->dp, 5000), 0);
	atomic_store(&e->fc.stop, 1);
	pthread_join(e->fc.thr, NULL);
	sl_dp_stop(e->dp);
	sl_dp_destroy(e->dp);
	sl_meta_pub_fini(&e->fc.pub);
	for (int i = 0; i < NSHARDS; i++) {
		sl_ring_fini(&e->fc.to_shard[i]);
		sl_ring_fini(&e->fc.from_shard[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* ---- a tiny blocking client ---- */

struct client {
	int fd;
	struct sl_arena arena;
	int32_t corr;
	uint8_t buf[4 << 20];
};

static struct client *
client_new(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct client *cl = calloc(1, sizeof(*cl));
	int one = 1;

	assert_non_null(cl);
	cl->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cl->fd >= 0);
	assert_int_equal(connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(sl_arena_init(&cl->arena, 64 << 10, 64 << 20), 0);
	return cl;
}

static void
client_free(struct client *cl)
{
	close(cl->fd);
	sl_arena_fini(&cl->arena);
	free(cl);
}

/* Sends one request; returns its correlation id. */
static int32_t
client_send(struct client *cl, int16_t key, int16_t ver, const void *req)
{
	struct sl_request_header h;
	struct sl_wbuf w;
	uint8_t *size;
	size_t n, off = 0;

	sl_wbuf_init(&w, &cl->arena);
	size = sl_wbuf_reserve(&w, 4);
	sl_request_header_init(&h);
	h.request_api_key = key;
	h.request_api_version = ver;
	h.correlation_id = ++cl->corr;
	h.client_id.p = "shard-test";
	h.client_id.len = 10;
	sl_request_header_encode(&w, sl_kapi_req_hdr_ver(key, ver), &h);
	assert_int_equal(sl_kproto_encode(&w, key, false, ver, req), 0);
	sl_put_be32(size, (uint32_t)(w.len - 4));
	n = sl_wbuf_copyout(&w, cl->buf, sizeof(cl->buf));
	assert_int_equal(n, w.len);
	while (off < n) {
		ssize_t r = write(cl->fd, cl->buf + off, n - off);

		assert_true(r > 0);
		off += (size_t)r;
	}
	return cl->corr;
}

static bool
read_full(int fd, void *p, size_t n)
{
	uint8_t *d = p;

	while (n) {
		ssize_t r = read(fd, d, n);

		if (r <= 0)
			return false;
		d += r;
		n -= (size_t)r;
	}
	return true;
}

/* Reads one response and decodes it into out (arena memory of cl). */
static void
client_recv(struct client *cl, int16_t key, int16_t ver, int32_t corr, void *out)
{
	struct iovec iov;
	struct sl_crd rd;
	uint32_t n;
	uint8_t hdr[4];

	assert_true(read_full(cl->fd, hdr, 4));
	n = sl_be32(hdr);
	assert_true(n >= 4 && n <= sizeof(cl->buf));
	assert_true(read_full(cl->fd, cl->buf, n));
	assert_int_equal((int32_t)sl_be32(cl->buf), corr);
	sl_crd_init_buf(&rd, &iov, cl->buf + 4, n - 4, &cl->arena);
	if (sl_kapi_resp_hdr_ver(key, ver) >= 1)
		sl_crd_tags(&rd, NULL, NULL);
	assert_int_equal(sl_kproto_decode(&rd, key, true, ver, out), 0);
}

/* A batch of n records "v<base+i>". Returns its size. */
static size_t
make_batch(uint8_t *buf, size_t cap, int n, int base)
{
	struct sl_rb_builder b;
	char v[32];
	int64_t sz;

	assert_int_equal(
	        sl_rb_builder_init(&b, buf, cap, SL_CODEC_NONE, 0, sl_wall_ms(), -1, -1, -1), 0);
	for (int i = 0; i < n; i++) {
		int len = snprintf(v, sizeof(v), "v%d", base + i);

		assert_int_equal(sl_rb_builder_add(&b, sl_wall_ms(), "k", 1, v, len, NULL, 0), 0);
	}
	sz = sl_rb_builder_finish(&b, NULL);
	assert_true(sz > 0);
	return (size_t)sz;
}

/* Produces one batch to each listed partition (one request); checks error codes. */
static void
produce(struct client *cl, int16_t acks, const int32_t *parts, int nparts, int nrec,
        const char *topic, int16_t expect_err, int64_t *base_out)
{
	struct sl_produce_req req;
	struct sl_produce_req_topic_produce_data td;
	struct sl_produce_req_partition_produce_data pd[NSHARDS];
	static uint8_t batches[NSHARDS][4096];
	int32_t corr;

	sl_produce_req_init(&req);
	req.acks = acks;
	req.timeout_ms = 5000;
	req.topic_data = &td;
	req.topic_data_cnt = 1;
	sl_produce_req_topic_produce_data_init(&td);
	td.name.p = topic;
	td.name.len = (int32_t)strlen(topic);
	td.partition_data = pd;
	td.partition_data_cnt = nparts;
	for (int i = 0; i < nparts; i++) {
		size_t n = make_batch(batches[i], sizeof(batches[i]), nrec, i * 1000);

		sl_produce_req_partition_produce_data_init(&pd[i]);
		pd[i].index = parts[i];
		assert_int_equal(sl_chain_from_buf(&pd[i].records, &cl->arena, batches[i], n), 0);
	}
	corr = client_send(cl, SL_API_PRODUCE, 7, &req);
	if (acks == 0)
		return;
	{
		struct sl_produce_resp resp;

		client_recv(cl, SL_API_PRODUCE, 7, corr, &resp);
		assert_int_equal(resp.responses_cnt, 1);
		assert_int_equal(resp.responses[0].partition_responses_cnt, nparts);
		for (int i = 0; i < nparts; i++) {
			assert_int_equal(resp.responses[0].partition_responses[i].index, parts[i]);
			assert_int_equal(resp.responses[0].partition_responses[i].error_code,
			                 expect_err);
			if (base_out)
				base_out[i] = resp.responses[0].partition_responses[i].base_offset;
		}
	}
	sl_arena_reset(&cl->arena);
}

/* Fetches both partitions from the given offsets; returns the records bytes per partition. */
static void
fetch(struct client *cl, const int64_t *offs, int32_t max_wait_ms, int32_t min_bytes,
      uint32_t *bytes_out, int64_t *hw_out, int16_t *err_out)
{
	struct sl_fetch_req req;
	struct sl_fetch_req_topic t;
	struct sl_fetch_req_partition p[NSHARDS];
	struct sl_fetch_resp resp;
	int32_t corr;

	sl_fetch_req_init(&req);
	req.max_wait_ms = max_wait_ms;
	req.min_bytes = min_bytes;
	req.max_bytes = 1 << 20;
	req.session_id = 0;
	req.session_epoch = -1;
	req.topics = &t;
	req.topics_cnt = 1;
	sl_fetch_req_topic_init(&t);
	t.topic.p = "t";
	t.topic.len = 1;
	t.partitions = p;
	t.partitions_cnt = NSHARDS;
	for (int i = 0; i < NSHARDS; i++) {
		sl_fetch_req_partition_init(&p[i]);
		p[i].partition = i;
		p[i].fetch_offset = offs[i];
		p[i].partition_max_bytes = 1 << 20;
	}
	req.forgotten_topics_data_cnt = 0;
	corr = client_send(cl, SL_API_FETCH, 11, &req);
	client_recv(cl, SL_API_FETCH, 11, corr, &resp);
	assert_int_equal(resp.error_code, 0);
	assert_int_equal(resp.session_id, 0);
	assert_int_equal(resp.responses_cnt, 1);
	assert_int_equal(resp.responses[0].partitions_cnt, NSHARDS);
	for (int i = 0; i < NSHARDS; i++) {
		const struct sl_fetch_resp_partition_data *pd = &resp.responses[0].partitions[i];

		assert_int_equal(pd->partition_index, i);
		bytes_out[i] = pd->records.len > 0 ? (uint32_t)pd->records.len : 0;
		if (hw_out)
			hw_out[i] = pd->high_watermark;
		if (err_out)
			err_out[i] = pd->error_code;
		else
			assert_int_equal(pd->error_code, 0);
		if (!pd->error_code)
			assert_int_equal(pd->last_stable_offset, pd->high_watermark);
	}
	sl_arena_reset(&cl->arena);
}

static int64_t
hw_of(struct client *cl, int32_t part)
{
	int64_t offs[NSHARDS] = {0, 0}, hw[NSHARDS];
	uint32_t bytes[NSHARDS];

	fetch(cl, offs, 0, 1, bytes, hw, NULL);
	return hw[part];
}

static void
test_shard_produce_to_both_shards_then_fetch_back(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	const int32_t parts[NSHARDS] = {0, 1};
	int64_t base[NSHARDS], h0 = hw_of(cl, 0), h1 = hw_of(cl, 1), offs[NSHARDS];
	uint32_t bytes[NSHARDS];
	int64_t hw[NSHARDS];

	produce(cl, -1, parts, NSHARDS, 5, "t", 0, base);
	assert_int_equal(base[0], h0);
	assert_int_equal(base[1], h1);
	produce(cl, 1, parts, NSHARDS, 3, "t", 0, base);
	assert_int_equal(base[0], h0 + 5);
	assert_int_equal(base[1], h1 + 5);
	offs[0] = h0;
	offs[1] = h1;
	fetch(cl, offs, 0, 1, bytes, hw, NULL);
	assert_int_equal(hw[0], h0 + 8);
	assert_int_equal(hw[1], h1 + 8);
	/* Two whole batches each, back to back. */
	assert_true(bytes[0] > 61 * 2 && bytes[1] > 61 * 2);
	client_free(cl);
}

static void
test_shard_unknown_topic_and_bad_acks_answer_errors(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	const int32_t parts[1] = {0}, bad_part[1] = {7};

	produce(cl, 1, parts, 1, 1, "nope", 3, NULL);
	produce(cl, 1, bad_part, 1, 1, "t", 3, NULL);
	produce(cl, 2, parts, 1, 1, "t", 21, NULL);
	produce(cl, 1, parts, 1, 1, "bad/name", 17, NULL);
	client_free(cl);
}

static void
test_shard_acks0_gets_no_response_and_keeps_order(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	const int32_t parts[NSHARDS] = {0, 1};
	int64_t h1 = hw_of(cl, 1);

	produce(cl, 0, parts, NSHARDS, 2, "t", 0, NULL);
	produce(cl, 0, parts, NSHARDS, 2, "t", 0, NULL);
	/* The next answer on the connection is this fetch's (the acks=0 appends are done). */
	assert_int_equal(hw_of(cl, 1), h1 + 4);
	client_free(cl);
}

struct delayed_produce {
	int port;
	int32_t part;
	int delay_ms;
};

static void *
delayed_produce_main(void *arg)
{
	struct delayed_produce *d = arg;
	struct client *cl = client_new(d->port);

	usleep((useconds_t)d->delay_ms * 1000);
	produce(cl, 1, &d->part, 1, 1, "t", 0, NULL);
	client_free(cl);
	return NULL;
}

/* A fetch parked at the end of both partitions is woken by an append to partition part,
 * whichever shard owns it relative to the fetch's connection. */
static void
long_poll_woken_by(struct env *e, int32_t part)
{
	struct client *cl = client_new(e->port);
	struct delayed_produce d = {.port = e->port, .part = part, .delay_ms = 200};
	int64_t offs[NSHARDS] = {hw_of(cl, 0), hw_of(cl, 1)};
	uint32_t bytes[NSHARDS];
	pthread_t t;
	int64_t t0, waited_ms;

	assert_int_equal(pthread_create(&t, NULL, delayed_produce_main, &d), 0);
	t0 = sl_now_ns();
	fetch(cl, offs, 10000, 1, bytes, NULL, NULL);
	waited_ms = (sl_now_ns() - t0) / 1000000;
	pthread_join(t, NULL);
	/* It waited for the append (not answered empty at once) and did not sit out the
	 * 10 s max_wait. */
	assert_true(waited_ms >= 150);
	assert_true(waited_ms < 3000);
	assert_true(bytes[part] > 0);
	assert_int_equal(bytes[1 - part], 0);
	client_free(cl);
}

static void
test_shard_long_poll_woken_by_append_on_partition0(void **state)
{
	long_poll_woken_by(*state, 0);
}

static void
test_shard_long_poll_woken_by_append_on_partition1(void **state)
{
	long_poll_woken_by(*state, 1);
}

static void
test_shard_long_poll_times_out_empty_after_max_wait(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	int64_t offs[NSHARDS] = {hw_of(cl, 0), hw_of(cl, 1)};
	uint32_t bytes[NSHARDS];
	int64_t t0 = sl_now_ns(), waited_ms;

	fetch(cl, offs, 300, 1, bytes, NULL, NULL);
	waited_ms = (sl_now_ns() - t0) / 1000000;
	assert_true(waited_ms >= 280);
	assert_true(waited_ms < 2000);
	assert_int_equal(bytes[0] + bytes[1], 0);
	client_free(cl);
}

static void
test_shard_fetch_past_end_is_out_of_range(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	int64_t offs[NSHARDS] = {hw_of(cl, 0) + 100, 0};
	uint32_t bytes[NSHARDS];
	int16_t err[NSHARDS];
	int64_t t0 = sl_now_ns();

	fetch(cl, offs, 5000, 1, bytes, NULL, err);
	/* An error answers at once, without waiting for max_wait. */
	assert_true((sl_now_ns() - t0) / 1000000 < 2000);
	assert_int_equal(err[0], 1);
	assert_int_equal(err[1], 0);
	client_free(cl);
}

static void
test_shard_list_offsets_earliest_and_latest(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	struct sl_list_offsets_req req;
	struct sl_list_offsets_req_topic t;
	struct sl_list_offsets_req_partition p[2];
	struct sl_list_offsets_resp resp;
	int64_t h1 = hw_of(cl, 1);
	int32_t corr;

	sl_list_offsets_req_init(&req);
	req.replica_id = -1;
	req.topics = &t;
	req.topics_cnt = 1;
	sl_list_offsets_req_topic_init(&t);
	t.name.p = "t";
	t.name.len = 1;
	t.partitions = p;
	t.partitions_cnt = 2;
	sl_list_offsets_req_partition_init(&p[0]);
	p[0].partition_index = 1;
	p[0].timestamp = -1;
	sl_list_offsets_req_partition_init(&p[1]);
	p[1].partition_index = 1;
	p[1].timestamp = -2;
	corr = client_send(cl, SL_API_LIST_OFFSETS, 2, &req);
	client_recv(cl, SL_API_LIST_OFFSETS, 2, corr, &resp);
	assert_int_equal(resp.topics_cnt, 1);
	assert_int_equal(resp.topics[0].partitions[0].error_code, 0);
	assert_int_equal(resp.topics[0].partitions[0].offset, h1);
	assert_int_equal(resp.topics[0].partitions[1].offset, 0);
	client_free(cl);
}

static void
test_shard_metadata_lists_topic_with_leader_and_controller(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	struct sl_metadata_req_topic one;
	struct sl_metadata_req req;
	struct sl_metadata_resp resp;
	int32_t corr;

	sl_metadata_req_init(&req);
	req.topics = NULL;
	req.topics_cnt = -1; /* v1+: null = all */
	corr = client_send(cl, SL_API_METADATA, 5, &req);
	client_recv(cl, SL_API_METADATA, 5, corr, &resp);
	assert_int_equal(resp.brokers_cnt, 1);
	assert_int_equal(resp.brokers[0].port, e->port);
	assert_int_equal(resp.controller_id, 0);
	assert_int_equal(resp.topics_cnt, 1);
	assert_int_equal(resp.topics[0].partitions_cnt, NSHARDS);
	assert_int_equal(resp.topics[0].partitions[1].leader_id, 0);
	assert_int_equal(resp.cluster_id.len, 12);
	sl_arena_reset(&cl->arena);

	/* v1: an empty list means no topic; v0: an empty list means every topic. */
	req.topics_cnt = 0;
	corr = client_send(cl, SL_API_METADATA, 1, &req);
	client_recv(cl, SL_API_METADATA, 1, corr, &resp);
	assert_int_equal(resp.topics_cnt, 0);
	sl_arena_reset(&cl->arena);
	corr = client_send(cl, SL_API_METADATA, 0, &req);
	client_recv(cl, SL_API_METADATA, 0, corr, &resp);
	assert_int_equal(resp.topics_cnt, 1);
	sl_arena_reset(&cl->arena);

	/* An unknown topic, auto-creation off: UNKNOWN_TOPIC_OR_PARTITION. */
	sl_metadata_req_topic_init(&one);
	one.name.p = "absent";
	one.name.len = 6;
	req.topics = &one;
	req.topics_cnt = 1;
	corr = client_send(cl, SL_API_METADATA, 4, &req);
	client_recv(cl, SL_API_METADATA, 4, corr, &resp);
	assert_int_equal(resp.topics_cnt, 1);
	assert_int_equal(resp.topics[0].error_code, 3);
	client_free(cl);
}

static void
test_shard_admin_request_goes_to_control_and_back(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	int before = atomic_load(&e->fc.ctrl_reqs);
	uint8_t frame[64], resp[12];
	size_t n = 0;

	/* DeleteTopics v0: header + an empty topic list + timeout. */
	sl_put_be16(frame + 4, SL_API_DELETE_TOPICS);
	sl_put_be16(frame + 6, 0);
	sl_put_be32(frame + 8, 4242);
	sl_put_be16(frame + 12, 0xffff);
	sl_put_be32(frame + 14, 0);
	sl_put_be32(frame + 18, 1000);
	n = 22;
	sl_put_be32(frame, (uint32_t)(n - 4));
	assert_int_equal(write(cl->fd, frame, n), (ssize_t)n);
	assert_true(read_full(cl->fd, resp, sizeof(resp)));
	assert_int_equal(sl_be32(resp), 8);
	assert_int_equal(sl_be32(resp + 4), 4242);
	assert_int_equal(atomic_load(&e->fc.ctrl_reqs), before + 1);
	client_free(cl);
}

static void
test_shard_api_versions_advertises_ours_and_controls(void **state)
{
	struct env *e = *state;
	struct client *cl = client_new(e->port);
	struct sl_api_versions_req req;
	struct sl_api_versions_resp resp;
	bool seen_fetch = false, seen_delete = false;
	int32_t corr;

	sl_api_versions_req_init(&req);
	req.client_software_name.p = "sluice-test";
	req.client_software_name.len = 11;
	req.client_software_version.p = "1.0";
	req.client_software_version.len = 3;
	corr = client_send(cl, SL_API_API_VERSIONS, 3, &req);
	client_recv(cl, SL_API_API_VERSIONS, 3, corr, &resp);
	assert_int_equal(resp.error_code, 0);
	for (int32_t i = 0; i < resp.api_keys_cnt; i++) {
		if (resp.api_keys[i].api_key == SL_API_FETCH) {
			seen_fetch = true;
			assert_int_equal(resp.api_keys[i].min_version, 4);
			assert_int_equal(resp.api_keys[i].max_version, 11);
		}
		seen_delete |= resp.api_keys[i].api_key == SL_API_DELETE_TOPICS;
	}
	assert_true(seen_fetch && seen_delete);
	client_free(cl);
}

/* Runs last: shutdown answers a long poll in flight at once. */
struct drain_job {
	int port;
	int64_t waited_ms;
	atomic_int started;
};

static void *
drain_fetch_main(void *arg)
{
	struct drain_job *j = arg;
	struct client *cl = client_new(j->port);
	int64_t offs[NSHARDS] = {hw_of(cl, 0), hw_of(cl, 1)};
	uint32_t bytes[NSHARDS];
	int64_t t0;

	atomic_store(&j->started, 1);
	t0 = sl_now_ns();
	fetch(cl, offs, 20000, 1, bytes, NULL, NULL);
	j->waited_ms = (sl_now_ns() - t0) / 1000000;
	client_free(cl);
	return NULL;
}

static void
test_shard_drain_answers_long_poll_in_flight(void **state)
{
	struct env *e = *state;
	struct drain_job j = {.port = e->port};
	pthread_t t;
	int64_t t0;

	assert_int_equal(pthread_create(&t, NULL, drain_fetch_main, &j), 0);
	while (!atomic_load(&j.started))
		usleep(1000);
	usleep(200000);
	t0 = sl_now_ns();
	assert_int_equal(sl_dp_drain(e->dp, 5000), 0);
	assert_true((sl_now_ns() - t0) / 1000000 < 2000);
	pthread_join(t, NULL);
	assert_true(j.waited_ms < 5000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_shard_produce_to_both_shards_then_fetch_back),
	        cmocka_unit_test(test_shard_unknown_topic_and_bad_acks_answer_errors),
	        cmocka_unit_test(test_shard_acks0_gets_no_response_and_keeps_order),
	        cmocka_unit_test(test_shard_long_poll_woken_by_append_on_partition0),
	        cmocka_unit_test(test_shard_long_poll_woken_by_append_on_partition1),
	        cmocka_unit_test(test_shard_long_poll_times_out_empty_after_max_wait),
	        cmocka_unit_test(test_shard_fetch_past_end_is_out_of_range),
	        cmocka_unit_test(test_shard_list_offsets_earliest_and_latest),
	        cmocka_unit_test(test_shard_metadata_lists_topic_with_leader_and_controller),
	        cmocka_unit_test(test_shard_admin_request_goes_to_control_and_back),
	        cmocka_unit_test(test_shard_api_versions_advertises_ours_and_controls),
	        cmocka_unit_test(test_shard_drain_answers_long_poll_in_flight),
	};

	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
