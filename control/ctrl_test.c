// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the control plane (control/): admin request flows with their Kafka error
 * codes, partition placement and the part-op handshake with a fake shard side, timeouts,
 * snapshot publication and reclamation, auto-creation, and restart from a directory.
 *
 * Most tests drive the control plane deterministically: ctl_poll(c, fake now) plays the
 * control thread, and fake_step() plays every shard (it pops what the control plane sent,
 * "opens" a partition by creating its directory, "removes" it by deleting it, and pushes
 * SL_MSG_PART_DONE back). One test runs the real thread with a fake shard thread.
 * Requests are real frames built with the generated encoders; answers are decoded with
 * the generated decoders.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/kproto/api.h"
#include "common/kproto/create_partitions.h"
#include "common/kproto/create_topics.h"
#include "common/kproto/delete_topics.h"
#include "common/kproto/describe_configs.h"
#include "common/props.h"
#include "control/ctrl_int.h"

#define MS (1000000LL)
#define MAX_HELD 256
#define MAX_SEEN 64

struct held {
	uint16_t shard;
	struct sl_part_op *op;
	uint32_t type;
};

struct fake {
	char dir[128];
	uint16_t nshards;
	struct sl_ctrl *c;
	int64_t now;
	bool hold; /* keep part ops instead of answering them */
	struct held held[MAX_HELD];
	unsigned nheld;
	const char *fail_topic; /* PART_OPEN of this topic fails with -EIO */
	unsigned opens, removes, metas;
	uint16_t last_open_shard[64]; /* by partition, for the last topic opened */
	struct sl_ctrl_req *resps[MAX_SEEN];
	unsigned nresps;
	struct sl_topic_create *tcs[MAX_SEEN];
	unsigned ntcs;
	int frozen;        /* this shard never acquires a snapshot (-1: none) */
	const char *watch; /* topic to look for in the snapshot when an answer arrives */
	bool watch_seen;
	/* what the wake hook took out of the rings while the control plane was flushing */
	struct {
		uint16_t shard;
		struct sl_msg m;
	} stash[256];
	unsigned nstash;
	unsigned wakes;
	struct sl_props props;
	struct sl_arena arena; /* test-side encode/decode */
};

static struct sl_plog_cfg
test_defaults(void)
{
	struct sl_plog_cfg d;

	memset(&d, 0, sizeof(d));
	d.segment_bytes = 1ULL << 30;
	d.segment_ms = 604800000;
	d.retention_ms = 604800000;
	d.retention_bytes = -1;
	d.flush_messages = INT64_MAX;
	d.flush_ms = INT64_MAX;
	d.cleanup_policy = SL_CLEANUP_DELETE;
	d.delete_retention_ms = 86400000;
	d.max_message_bytes = 1048588;
	d.index_interval_bytes = 4096;
	d.segment_index_bytes = 10 << 20;
	d.preallocate_bytes = 16 << 20;
	return d;
}

/* ---- fake shards ---- */

static bool
dir_exists(struct fake *f, const char *rel)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	return stat(p, &sb) == 0;
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
rm_rf(const char *p)
{
	nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
answer_op(struct fake *f, uint16_t s, uint32_t type, struct sl_part_op *op)
{
	struct sl_msg m = {.type = SL_MSG_PART_DONE, .from = s, .ptr = op};
	char p[512];

	snprintf(p, sizeof(p), "%s/%s-%d", f->dir, op->topic, op->partition);
	if (type == SL_MSG_PART_OPEN) {
		f->opens++;
		if (op->partition < 64)
			f->last_open_shard[op->partition] = s;
		if (f->fail_topic && strcmp(op->topic, f->fail_topic) == 0 && op->partition == 1) {
			op->err = -EIO;
		} else {
			op->err = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				op->err = -errno;
		}
	} else {
		f->removes++;
		op->err = 0;
		rm_rf(p);
	}
	assert_true(sl_ring_push(sl_ctrl_ring_from_shard(f->c, s), &m));
}

static void
handle(struct fake *f, uint16_t s, const struct sl_msg *mp)
{
	struct sl_msg m = *mp;

	assert_int_equal(m.from, SL_MSG_FROM_CONTROL);
	switch (m.type) {
	case SL_MSG_PART_OPEN:
	case SL_MSG_PART_REMOVE: {
		struct sl_part_op *op = m.ptr;

		/* placement: the control plane sends each op to its owner */
		assert_int_equal(s, sl_ctrl_shard_of(op->topic, strlen(op->topic), op->partition,
		                                     f->nshards));
		if (f->hold) {
			assert_true(f->nheld < MAX_HELD);
			f->held[f->nheld++] = (struct held){s, op, m.type};
		} else {
			answer_op(f, s, m.type, op);
		}
		break;
	}
	case SL_MSG_CTRL_RESP:
		assert_true(f->nresps < MAX_SEEN);
		f->resps[f->nresps++] = m.ptr;
		break;
	case SL_MSG_TOPIC_CREATE_DONE:
		assert_true(f->ntcs < MAX_SEEN);
		f->tcs[f->ntcs++] = m.ptr;
		break;
	case SL_MSG_META:
		f->metas++;
		if (s != f->frozen)
			assert_int_equal(m.arg,
			                 sl_meta_acquire(sl_ctrl_meta_pub(f->c), s)->version);
		break;
	default:
		fail_msg("unexpected message %u", m.type);
	}
}

/*
 * The control plane's wake hook: runs inside its flush, right after it pushed to shard s.
 * A shard may handle what it got at that very moment, so this is where "the answer left
 * after the snapshot" is checked: the watched topic must already be published.
 */
static void
fake_wake(void *arg, uint16_t s)
{
	struct fake *f = arg;
	struct sl_msg m;

	f->wakes++;
	while (sl_ring_pop(sl_ctrl_ring_to_shard(f->c, s), &m)) {
		if (m.type == SL_MSG_CTRL_RESP && f->watch)
			f->watch_seen = sl_meta_find(sl_meta_current(sl_ctrl_meta_pub(f->c)),
			                             f->watch, strlen(f->watch)) != NULL;
		assert_true(f->nstash < SL_ARRAY_SIZE(f->stash));
		f->stash[f->nstash].shard = s;
		f->stash[f->nstash++].m = m;
	}
}

/* One pass over what the shards got. Returns how many messages it handled. */
static unsigned
fake_step(struct fake *f)
{
	unsigned n = f->nstash;

	for (unsigned i = 0; i < f->nstash; i++)
		handle(f, f->stash[i].shard, &f->stash[i].m);
	f->nstash = 0;
	for (uint16_t s = 0; s < f->nshards; s++) {
		struct sl_msg m;

		while (sl_ring_pop(sl_ctrl_ring_to_shard(f->c, s), &m)) {
			n++;
			handle(f, s, &m);
		}
	}
	return n;
}

static void
release_held(struct fake *f)
{
	for (unsigned i = 0; i < f->nheld; i++)
		answer_op(f, f->held[i].shard, f->held[i].type, f->held[i].op);
	f->nheld = 0;
}

static void
pump(struct fake *f)
{
	for (int i = 0; i < 64; i++) {
		ctl_poll(f->c, f->now);
		if (!fake_step(f) && i > 2)
			break;
	}
}

static void
fake_open(struct fake *f, bool auto_create, int16_t default_rf)
{
	struct sl_ctrl_opts o;

	memset(&o, 0, sizeof(o));
	o.log_dir = f->dir;
	o.nshards = f->nshards;
	o.ring_slots = 64;
	o.node_id = 0;
	o.adv_host = "127.0.0.1";
	o.adv_port = 9092;
	o.num_partitions = 3;
	o.default_replication_factor = default_rf;
	o.auto_create_topics = auto_create;
	o.topic_defaults = test_defaults();
	o.props = &f->props;
	o.wake_shard = fake_wake;
	o.wake_arg = f;
	assert_int_equal(sl_ctrl_create(&f->c, &o), 0);
	assert_int_equal(ctl_prepare(f->c), 0);
	pump(f);
	assert_true(f->c->ready);
}

static void
fake_close(struct fake *f)
{
	for (unsigned i = 0; i < f->nresps; i++) {
		free(f->resps[i]->frame);
		free(f->resps[i]->resp);
		free(f->resps[i]);
	}
	f->nresps = 0;
	for (unsigned i = 0; i < f->ntcs; i++)
		free(f->tcs[i]);
	f->ntcs = 0;
	release_held(f);
	pump(f);
	sl_ctrl_destroy(f->c);
	f->c = NULL;
}

static int
setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sl-ctrl-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->nshards = 3;
	f->frozen = -1;
	f->now = 1000 * MS;
	sl_props_init(&f->props);
	assert_int_equal(sl_arena_init(&f->arena, 64 * 1024, 64 << 20), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fake *f = *state;

	if (f->c)
		fake_close(f);
	rm_rf(f->dir);
	sl_props_fini(&f->props);
	sl_arena_fini(&f->arena);
	free(f);
	return 0;
}

static int
setup_open(void **state)
{
	struct fake *f;

	setup(state);
	f = *state;
	fake_open(f, true, 1);
	return 0;
}

/* ---- requests and answers ---- */

static struct sl_ctrl_req *
new_req(int16_t key, int16_t ver, const uint8_t *frame, size_t len)
{
	struct sl_ctrl_req *req = calloc(1, sizeof(*req));

	assert_non_null(req);
	req->api_key = key;
	req->api_version = ver;
	req->correlation_id = 77;
	req->frame = malloc(len ? len : 1);
	memcpy(req->frame, frame, len);
	req->frame_len = (uint32_t)len;
	return req;
}

static struct sl_ctrl_req *
send_frame(struct fake *f, uint16_t shard, int16_t key, int16_t ver, const uint8_t *frame,
           size_t len)
{
	struct sl_ctrl_req *req = new_req(key, ver, frame, len);
	struct sl_msg m = {.type = SL_MSG_CTRL_REQ, .from = shard};

	req->shard = shard;
	m.ptr = req;
	assert_true(sl_ring_push(sl_ctrl_ring_from_shard(f->c, shard), &m));
	return req;
}

static struct sl_ctrl_req *send_req_to(struct fake *f, bool push, int16_t key, int16_t ver,
                                       const void *body);

static struct sl_ctrl_req *
send_req(struct fake *f, int16_t key, int16_t ver, const void *body)
{
	return send_req_to(f, true, key, ver, body);
}

static struct sl_ctrl_req *
send_req_to(struct fake *f, bool push, int16_t key, int16_t ver, const void *body)
{
	struct sl_request_header h;
	struct sl_wbuf w;
	uint8_t *buf;
	struct sl_ctrl_req *req;

	sl_arena_reset(&f->arena);
	sl_request_header_init(&h);
	h.request_api_key = key;
	h.request_api_version = ver;
	h.correlation_id = 77;
	h.client_id.p = "ctrl-test";
	h.client_id.len = 9;
	sl_wbuf_init(&w, &f->arena);
	assert_int_equal(sl_request_header_encode(&w, sl_kapi_req_hdr_ver(key, ver), &h), 0);
	assert_int_equal(sl_kproto_encode(&w, key, false, ver, body), 0);
	buf = malloc(w.len);
	sl_wbuf_copyout(&w, buf, w.len);
	req = push ? send_frame(f, 0, key, ver, buf, w.len) : new_req(key, ver, buf, w.len);
	free(buf);
	return req;
}

static bool
answered(struct fake *f, struct sl_ctrl_req *req)
{
	for (unsigned i = 0; i < f->nresps; i++)
		if (f->resps[i] == req)
			return true;
	return false;
}

/* Drops a request the test is done with. */
static void
forget(struct fake *f, struct sl_ctrl_req *req)
{
	for (unsigned i = 0; i < f->nresps; i++) {
		if (f->resps[i] == req) {
			f->resps[i] = f->resps[--f->nresps];
			break;
		}
	}
	free(req->frame);
	free(req->resp);
	free(req);
}

/* Decodes req's answer into out (a struct sl_<api>_resp). */
static void
decode_resp(struct fake *f, struct sl_ctrl_req *req, void *out)
{
	struct sl_response_header rh;
	struct sl_crd rd;
	struct iovec iov;

	assert_true(answered(f, req));
	assert_int_equal(req->close_conn, 0);
	assert_non_null(req->resp);
	assert_true(req->resp_len >= 8);
	assert_int_equal(sl_be32(req->resp), req->resp_len - 4);
	sl_crd_init_buf(&rd, &iov, req->resp + 4, req->resp_len - 4, &f->arena);
	assert_int_equal(sl_response_header_decode(&rd, 0, &rh), 0);
	assert_int_equal(rh.correlation_id, 77);
	assert_int_equal(sl_kproto_decode(&rd, req->api_key, true, req->api_version, out), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
}

struct topic_spec {
	const char *name;
	int32_t nparts;
	int16_t rf;
	const char *cfg[4]; /* key, value pairs; a value "\x01" sends null */
};

static struct sl_ctrl_req *
create_topics(struct fake *f, int16_t ver, const struct topic_spec *ts, unsigned n,
              int32_t timeout_ms, bool validate_only)
{
	struct sl_create_topics_req r;
	struct sl_create_topics_req_creatable_topic t[8];
	struct sl_create_topics_req_creatable_topic_config cf[8][2];

	assert_true(n <= 8);
	sl_create_topics_req_init(&r);
	for (unsigned i = 0; i < n; i++) {
		sl_create_topics_req_creatable_topic_init(&t[i]);
		t[i].name.p = ts[i].name;
		t[i].name.len = (int32_t)strlen(ts[i].name);
		t[i].num_partitions = ts[i].nparts;
		t[i].replication_factor = ts[i].rf;
		t[i].assignments_cnt = 0;
		t[i].configs_cnt = 0;
		t[i].configs = cf[i];
		for (unsigned k = 0; k < 2 && ts[i].cfg[2 * k]; k++) {
			struct sl_create_topics_req_creatable_topic_config *c = &cf[i][k];

			sl_create_topics_req_creatable_topic_config_init(c);
			c->name.p = ts[i].cfg[2 * k];
			c->name.len = (int32_t)strlen(c->name.p);
			if (strcmp(ts[i].cfg[2 * k + 1], "\x01") == 0) {
				c->value.p = NULL;
				c->value.len = -1;
			} else {
				c->value.p = ts[i].cfg[2 * k + 1];
				c->value.len = (int32_t)strlen(c->value.p);
			}
			t[i].configs_cnt++;
		}
	}
	r.topics = t;
	r.topics_cnt = (int32_t)n;
	r.timeout_ms = timeout_ms;
	r.validate_only = validate_only;
	return send_req(f, SL_API_CREATE_TOPICS, ver, &r);
}

/* A CreateTopics v4 request for ts, built but not pushed. */
static struct sl_ctrl_req *
build_create(struct fake *f, const struct topic_spec *ts)
{
	struct sl_create_topics_req r;
	struct sl_create_topics_req_creatable_topic t;

	sl_create_topics_req_init(&r);
	sl_create_topics_req_creatable_topic_init(&t);
	t.name.p = ts->name;
	t.name.len = (int32_t)strlen(ts->name);
	t.num_partitions = ts->nparts;
	t.replication_factor = ts->rf;
	t.assignments_cnt = 0;
	t.configs_cnt = 0;
	r.topics = &t;
	r.topics_cnt = 1;
	r.timeout_ms = 5000;
	return send_req_to(f, false, SL_API_CREATE_TOPICS, 4, &r);
}

/* Creates one topic and expects success. */
static void
create_ok(struct fake *f, const char *name, int32_t nparts)
{
	struct topic_spec ts = {name, nparts, -1, {NULL}};
	struct sl_create_topics_resp out;
	struct sl_ctrl_req *req = create_topics(f, 4, &ts, 1, 5000, false);

	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.topics_cnt, 1);
	assert_int_equal(out.topics[0].error_code, 0);
}

static const struct sl_meta_topic *
snap_topic(struct fake *f, const char *name)
{
	return sl_meta_find(sl_meta_current(sl_ctrl_meta_pub(f->c)), name, strlen(name));
}

static struct sl_ctrl_req *
delete_topics(struct fake *f, int16_t ver, const char *const *names, unsigned n, int32_t timeout_ms)
{
	struct sl_delete_topics_req r;
	struct sl_str s[8];

	sl_delete_topics_req_init(&r);
	for (unsigned i = 0; i < n; i++) {
		s[i].p = names[i];
		s[i].len = (int32_t)strlen(names[i]);
	}
	r.topic_names = s;
	r.topic_names_cnt = (int32_t)n;
	r.timeout_ms = timeout_ms;
	return send_req(f, SL_API_DELETE_TOPICS, ver, &r);
}

static struct sl_ctrl_req *
create_partitions(struct fake *f, const char *name, int32_t count, int32_t nassign,
                  bool validate_only)
{
	struct sl_create_partitions_req r;
	struct sl_create_partitions_req_topic t;
	struct sl_create_partitions_req_assignment a[4];
	int32_t broker0 = 0;

	sl_create_partitions_req_init(&r);
	sl_create_partitions_req_topic_init(&t);
	t.name.p = name;
	t.name.len = (int32_t)strlen(name);
	t.count = count;
	t.assignments_cnt = nassign;
	t.assignments = a;
	for (int32_t i = 0; i < nassign; i++) {
		sl_create_partitions_req_assignment_init(&a[i]);
		a[i].broker_ids = &broker0;
		a[i].broker_ids_cnt = 1;
	}
	r.topics = &t;
	r.topics_cnt = 1;
	r.timeout_ms = 5000;
	r.validate_only = validate_only;
	return send_req(f, SL_API_CREATE_PARTITIONS, 1, &r);
}

static int16_t
create_partitions_err(struct fake *f, const char *name, int32_t count, int32_t nassign,
                      bool validate_only)
{
	struct sl_create_partitions_resp out;
	struct sl_ctrl_req *req = create_partitions(f, name, count, nassign, validate_only);

	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results_cnt, 1);
	assert_true(sl_kp_str_is(&out.results[0].name, name));
	return out.results[0].error_code;
}

/* ---- CreateTopics ---- */

static void
test_ctrl_create_topics_opens_every_partition_on_its_shard_then_answers(void **state)
{
	struct fake *f = *state;
	static const struct topic_spec ts = {"orders", 5, 1, {"retention.ms", "1000"}};
	struct sl_create_topics_resp out;
	const struct sl_meta_topic *t;
	struct sl_ctrl_req *req;

	f->hold = true;
	f->watch = "orders";
	req = create_topics(f, 4, &ts, 1, 5000, false);
	pump(f);
	/* every shard got its partitions; no answer until they all acknowledged */
	assert_int_equal(f->nheld, 5);
	assert_false(answered(f, req));
	assert_null(snap_topic(f, "orders"));
	f->hold = false;
	release_held(f);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.topics_cnt, 1);
	assert_true(sl_kp_str_is(&out.topics[0].name, "orders"));
	assert_int_equal(out.topics[0].error_code, 0);
	assert_int_equal(out.topics[0].error_message.len, -1);
	/* the answer left after the snapshot that has the topic */
	assert_true(f->watch_seen);
	assert_true(f->wakes > 0);
	t = snap_topic(f, "orders");
	assert_non_null(t);
	assert_int_equal(t->nparts, 5);
	assert_int_equal(t->cfg.retention_ms, 1000);
	assert_int_equal(t->cfg.segment_bytes, 1ULL << 30);
	assert_true(t->overrides & (1ULL << sl_tcfg_find("retention.ms", 12)));
	for (int32_t p = 0; p < 5; p++) {
		assert_int_equal(t->part_shard[p], sl_ctrl_shard_of("orders", 6, p, 3));
		assert_int_equal(f->last_open_shard[p], t->part_shard[p]);
	}
	assert_true(dir_exists(f, "orders-4"));
	assert_true(dir_exists(f, ".sluice-topics/orders.meta"));
	assert_false(snap_topic(f, "orders")->internal);
}

static void
test_ctrl_shard_of_spreads_round_robin(void **state)
{
	uint16_t first = sl_ctrl_shard_of("t", 1, 0, 4);

	(void)state;
	for (int32_t p = 0; p < 8; p++)
		assert_int_equal(sl_ctrl_shard_of("t", 1, p, 4), (first + p) % 4);
	assert_int_equal(sl_ctrl_shard_of("t", 1, 5, 1), 0);
}

static int16_t
create_err(struct fake *f, int16_t ver, const struct topic_spec *ts, char *msg, size_t msglen)
{
	struct sl_create_topics_resp out;
	struct sl_ctrl_req *req = create_topics(f, ver, ts, 1, 5000, false);

	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.topics_cnt, 1);
	assert_true(sl_kp_str_is(&out.topics[0].name, ts->name));
	if (msg) {
		int32_t l = out.topics[0].error_message.len;

		snprintf(msg, msglen, "%.*s", l < 0 ? 0 : l,
		         l < 0 ? "" : out.topics[0].error_message.p);
	}
	return out.topics[0].error_code;
}

static void
test_ctrl_create_topics_invalid_input_kafka_error_codes(void **state)
{
	struct fake *f = *state;
	char long_name[251], msg[512];

	memset(long_name, 'x', 250);
	long_name[250] = 0;
	create_ok(f, "exists", 1);
	{
		const struct topic_spec ts = {"..", 1, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_TOPIC_EXCEPTION);
	}
	{
		const struct topic_spec ts = {".", 1, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_TOPIC_EXCEPTION);
	}
	{
		const struct topic_spec ts = {"a b", 1, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_TOPIC_EXCEPTION);
	}
	{
		const struct topic_spec ts = {"", 1, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_TOPIC_EXCEPTION);
	}
	{
		const struct topic_spec ts = {long_name, 1, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_TOPIC_EXCEPTION);
		long_name[249] = 0; /* 249 is the limit */
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), 0);
	}
	{
		const struct topic_spec ts = {"exists", 1, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, msg, sizeof(msg)),
		                 KERR_TOPIC_ALREADY_EXISTS);
		assert_non_null(strstr(msg, "already exists"));
		/* v0 has no error message: the code alone */
		assert_int_equal(create_err(f, 0, &ts, msg, sizeof(msg)),
		                 KERR_TOPIC_ALREADY_EXISTS);
		assert_string_equal(msg, "");
	}
	{
		const struct topic_spec ts = {"rf3", 1, 3, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_REPLICATION_FACTOR);
	}
	{
		const struct topic_spec ts = {"rf0", 1, 0, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_REPLICATION_FACTOR);
	}
	{
		const struct topic_spec ts = {"p0", 0, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_PARTITIONS);
	}
	{
		const struct topic_spec ts = {"pm2", -2, 1, {NULL}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_PARTITIONS);
	}
	{
		const struct topic_spec ts = {"cfg1", 1, 1, {"retention.msec", "5"}};
		assert_int_equal(create_err(f, 4, &ts, msg, sizeof(msg)), KERR_INVALID_CONFIG);
		assert_non_null(strstr(msg, "retention.msec"));
	}
	{
		const struct topic_spec ts = {"cfg2", 1, 1, {"segment.bytes", "10"}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_CONFIG);
	}
	{
		const struct topic_spec ts = {"cfg3", 1, 1, {"cleanup.policy", "\x01"}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_CONFIG);
	}
	{
		const struct topic_spec ts = {
		        "cfg4", 1, 1, {"retention.ms", "1", "max.message.bytes", "x"}};
		assert_int_equal(create_err(f, 4, &ts, NULL, 0), KERR_INVALID_CONFIG);
	}
	/* nothing of the failed ones exists */
	assert_null(snap_topic(f, "rf3"));
	assert_null(snap_topic(f, "cfg4"));
	assert_false(dir_exists(f, "cfg4-0"));
	assert_int_equal(f->c->ntopics, 2);
}

static void
test_ctrl_create_topics_defaults_and_duplicates_and_validate_only(void **state)
{
	struct fake *f = *state;
	const struct topic_spec ts[3] = {
	        {"dflt", -1, -1, {NULL}},
	        {"dup", 1, 1, {NULL}},
	        {"dup", 2, 1, {NULL}},
	};
	const struct topic_spec vo = {"vonly", 2, 1, {"cleanup.policy", "compact"}};
	struct sl_create_topics_resp out;
	struct sl_ctrl_req *req;

	req = create_topics(f, 3, ts, 3, 5000, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.topics_cnt, 3);
	assert_int_equal(out.topics[0].error_code, 0);
	assert_int_equal(out.topics[1].error_code, KERR_INVALID_REQUEST);
	assert_int_equal(out.topics[2].error_code, KERR_INVALID_REQUEST);
	assert_int_equal(snap_topic(f, "dflt")->nparts, 3); /* num.partitions */
	assert_null(snap_topic(f, "dup"));

	req = create_topics(f, 4, &vo, 1, 5000, true);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.topics[0].error_code, 0);
	assert_null(snap_topic(f, "vonly"));
	assert_false(dir_exists(f, "vonly-0"));
	assert_false(dir_exists(f, ".sluice-topics/vonly.meta"));
}

static void
test_ctrl_create_topics_slow_shard_times_out_then_completes(void **state)
{
	struct fake *f = *state;
	const struct topic_spec ts = {"slow", 2, 1, {NULL}};
	struct sl_create_topics_resp out;
	struct sl_ctrl_stats st;
	struct sl_ctrl_req *req;

	f->hold = true;
	req = create_topics(f, 2, &ts, 1, 50, false);
	pump(f);
	assert_false(answered(f, req));
	f->now += 49 * MS;
	pump(f);
	assert_false(answered(f, req));
	f->now += 2 * MS;
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.topics[0].error_code, KERR_REQUEST_TIMED_OUT);
	sl_ctrl_get_stats(f->c, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.pending, 0);
	/* the creation goes on and the topic appears once the shards answer */
	assert_null(snap_topic(f, "slow"));
	f->hold = false;
	release_held(f);
	pump(f);
	assert_non_null(snap_topic(f, "slow"));
}

static void
test_ctrl_create_topics_zero_timeout_answers_at_once(void **state)
{
	struct fake *f = *state;
	const struct topic_spec ts = {"now", 1, 1, {NULL}};
	struct sl_create_topics_resp out;
	struct sl_ctrl_req *req;

	f->hold = true;
	req = create_topics(f, 4, &ts, 1, 0, false);
	pump(f);
	/* Kafka: timeout <= 0 starts the creation and answers REQUEST_TIMED_OUT */
	decode_resp(f, req, &out);
	assert_int_equal(out.topics[0].error_code, KERR_REQUEST_TIMED_OUT);
	f->hold = false;
	release_held(f);
	pump(f);
	assert_non_null(snap_topic(f, "now"));
}

static void
test_ctrl_create_topics_open_failure_rolls_back(void **state)
{
	struct fake *f = *state;
	const struct topic_spec ts = {"broken", 3, 1, {NULL}};
	struct sl_create_topics_resp out;
	char msg[256];
	struct sl_ctrl_req *req;

	f->fail_topic = "broken";
	req = create_topics(f, 4, &ts, 1, 5000, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.topics[0].error_code, KERR_UNKNOWN_SERVER_ERROR);
	snprintf(msg, sizeof(msg), "%.*s", out.topics[0].error_message.len,
	         out.topics[0].error_message.p);
	assert_non_null(strstr(msg, "open failed"));
	/* rolled back: the opened partitions were removed, the metadata is gone */
	assert_null(snap_topic(f, "broken"));
	assert_null(ctl_topic_find(f->c, "broken", 6));
	assert_false(dir_exists(f, "broken-0"));
	assert_false(dir_exists(f, "broken-2"));
	assert_false(dir_exists(f, ".sluice-topics/broken.meta"));
	assert_false(dir_exists(f, ".sluice-topics/broken.del"));
	assert_int_equal(f->removes, 3);
	/* and it can be created again once the shard behaves */
	f->fail_topic = NULL;
	create_ok(f, "broken", 3);
}

/* ---- DeleteTopics ---- */

static void
test_ctrl_delete_topics_removes_logs_and_metadata(void **state)
{
	struct fake *f = *state;
	static const char *const names[] = {"gone", "never", "gone2", "gone2"};
	struct sl_delete_topics_resp out;
	struct sl_ctrl_req *req;

	create_ok(f, "gone", 2);
	create_ok(f, "gone2", 1);
	f->hold = true;
	req = delete_topics(f, 3, names, 4, 5000);
	pump(f);
	/* out of the snapshot before the logs go; no answer until they went */
	assert_null(snap_topic(f, "gone"));
	assert_false(answered(f, req));
	assert_int_equal(f->nheld, 2);
	f->hold = false;
	release_held(f);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.responses_cnt, 4);
	assert_true(sl_kp_str_is(&out.responses[0].name, "gone"));
	assert_int_equal(out.responses[0].error_code, 0);
	assert_int_equal(out.responses[1].error_code, KERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_int_equal(out.responses[2].error_code, KERR_INVALID_REQUEST);
	assert_int_equal(out.responses[3].error_code, KERR_INVALID_REQUEST);
	assert_false(dir_exists(f, "gone-0"));
	assert_false(dir_exists(f, "gone-1"));
	assert_false(dir_exists(f, ".sluice-topics/gone.meta"));
	assert_false(dir_exists(f, ".sluice-topics/gone.del"));
	assert_null(ctl_topic_find(f->c, "gone", 4));
	assert_non_null(snap_topic(f, "gone2"));
	/* v0 too */
	req = delete_topics(f, 0, &names[2], 1, 5000);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.responses[0].error_code, 0);
	assert_null(snap_topic(f, "gone2"));
	/* a deleted name can be created again, empty */
	create_ok(f, "gone", 1);
}

static void
test_ctrl_delete_topics_waits_for_creation_in_flight(void **state)
{
	struct fake *f = *state;
	static const char *const names[] = {"young"};
	const struct topic_spec ts = {"young", 2, 1, {NULL}};
	struct sl_create_topics_resp cout;
	struct sl_delete_topics_resp dout;
	struct sl_ctrl_req *creq, *dreq;

	f->hold = true;
	creq = create_topics(f, 4, &ts, 1, 5000, false);
	pump(f);
	dreq = delete_topics(f, 1, names, 1, 5000);
	pump(f);
	assert_false(answered(f, creq));
	assert_false(answered(f, dreq));
	f->hold = false;
	release_held(f);
	pump(f);
	decode_resp(f, creq, &cout);
	assert_int_equal(cout.topics[0].error_code, 0);
	decode_resp(f, dreq, &dout);
	assert_int_equal(dout.responses[0].error_code, 0);
	assert_null(ctl_topic_find(f->c, "young", 5));
	assert_false(dir_exists(f, "young-0"));
}

/* ---- CreatePartitions ---- */

static void
test_ctrl_create_partitions_only_increases(void **state)
{
	struct fake *f = *state;

	create_ok(f, "grow", 2);
	assert_int_equal(create_partitions_err(f, "grow", 2, -1, false), KERR_INVALID_PARTITIONS);
	assert_int_equal(create_partitions_err(f, "grow", 1, -1, false), KERR_INVALID_PARTITIONS);
	assert_int_equal(create_partitions_err(f, "nope", 4, -1, false),
	                 KERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_int_equal(create_partitions_err(f, "grow", 5, -1, true), 0);
	assert_int_equal(snap_topic(f, "grow")->nparts, 2); /* validate_only */
	assert_int_equal(create_partitions_err(f, "grow", 5, 2, false),
	                 KERR_INVALID_REPLICA_ASSIGNMENT); /* 3 new, 2 assignments */
	assert_int_equal(create_partitions_err(f, "grow", 5, 3, false), 0);
	assert_int_equal(snap_topic(f, "grow")->nparts, 5);
	assert_true(dir_exists(f, "grow-4"));
	assert_int_equal(create_partitions_err(f, "grow", 6, -1, false), 0);
	assert_int_equal(snap_topic(f, "grow")->nparts, 6);
	for (int32_t p = 0; p < 6; p++)
		assert_int_equal(snap_topic(f, "grow")->part_shard[p],
		                 sl_ctrl_shard_of("grow", 4, p, f->nshards));
	/* the new count is what a restart finds */
	{
		FILE *fp;
		char path[256], line[128];
		bool found = false;

		snprintf(path, sizeof(path), "%s/.sluice-topics/grow.meta", f->dir);
		fp = fopen(path, "r");
		assert_non_null(fp);
		while (fgets(line, sizeof(line), fp))
			found = found || strcmp(line, "partitions=6\n") == 0;
		fclose(fp);
		assert_true(found);
	}
}

static void
test_ctrl_create_partitions_open_failure_keeps_old_count(void **state)
{
	struct fake *f = *state;

	create_ok(f, "brk", 1);
	f->fail_topic = "brk"; /* partition 1 fails */
	assert_int_equal(create_partitions_err(f, "brk", 3, -1, false), KERR_UNKNOWN_SERVER_ERROR);
	pump(f);
	assert_int_equal(snap_topic(f, "brk")->nparts, 1);
	assert_int_equal(ctl_topic_find(f->c, "brk", 3)->state, TS_LIVE);
	assert_false(dir_exists(f, "brk-2"));
	assert_true(dir_exists(f, "brk-0"));
}

/* ---- DescribeConfigs ---- */

struct dc_out {
	struct sl_describe_configs_resp r;
};

static struct sl_ctrl_req *
describe(struct fake *f, int16_t ver, int8_t type, const char *name, const char *const *keys,
         int nkeys, bool synonyms)
{
	struct sl_describe_configs_req r;
	struct sl_describe_configs_req_resource rs;
	struct sl_str k[8];

	sl_describe_configs_req_init(&r);
	sl_describe_configs_req_resource_init(&rs);
	rs.resource_type = type;
	rs.resource_name.p = name;
	rs.resource_name.len = (int32_t)strlen(name);
	rs.configuration_keys_cnt = nkeys;
	for (int i = 0; i < nkeys; i++) {
		k[i].p = keys[i];
		k[i].len = (int32_t)strlen(keys[i]);
	}
	rs.configuration_keys = k;
	r.resources = &rs;
	r.resources_cnt = 1;
	r.include_synonyms = synonyms;
	return send_req(f, SL_API_DESCRIBE_CONFIGS, ver, &r);
}

static const struct sl_describe_configs_resp_resource_result *
entry(const struct sl_describe_configs_resp_result *res, const char *name)
{
	for (int32_t i = 0; i < res->configs_cnt; i++)
		if (sl_kp_str_is(&res->configs[i].name, name))
			return &res->configs[i];
	return NULL;
}

static void
test_ctrl_describe_configs_topic_values_sources_synonyms(void **state)
{
	struct fake *f = *state;
	const struct topic_spec ts = {
	        "desc", 1, 1, {"retention.ms", " 1000", "cleanup.policy", "compact"}};
	struct sl_describe_configs_resp out;
	const struct sl_describe_configs_resp_resource_result *e;
	struct sl_ctrl_req *req;

	/* the broker's file set log.segment.bytes */
	fake_close(f);
	assert_int_equal(sl_props_set(&f->props, "log.segment.bytes", "1073741824", "test"), 0);
	assert_int_equal(sl_props_set(&f->props, "compression.type", "zstd", "test"), 0);
	fake_open(f, true, 1);
	assert_int_equal(create_err(f, 4, &ts, NULL, 0), 0);

	req = describe(f, 2, 2, "desc", NULL, -1, true);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results_cnt, 1);
	assert_int_equal(out.results[0].error_code, 0);
	assert_int_equal(out.results[0].resource_type, 2);
	assert_true(sl_kp_str_is(&out.results[0].resource_name, "desc"));
	assert_int_equal(out.results[0].configs_cnt, (int32_t)sl_tcfg_count());
	e = entry(&out.results[0], "retention.ms");
	assert_non_null(e);
	assert_true(sl_kp_str_is(&e->value, "1000")); /* trimmed, as Kafka stores it */
	assert_int_equal(e->config_source, 1);
	assert_false(e->read_only);
	assert_false(e->is_sensitive);
	assert_true(e->synonyms_cnt >= 2);
	assert_true(sl_kp_str_is(&e->synonyms[0].name, "retention.ms"));
	assert_int_equal(e->synonyms[0].source, 1);
	assert_int_equal(e->synonyms[e->synonyms_cnt - 1].source, 5);
	e = entry(&out.results[0], "cleanup.policy");
	assert_true(sl_kp_str_is(&e->value, "compact"));
	e = entry(&out.results[0], "segment.bytes");
	assert_true(sl_kp_str_is(&e->value, "1073741824"));
	assert_int_equal(e->config_source, 4); /* static broker config */
	assert_true(sl_kp_str_is(&e->synonyms[0].name, "log.segment.bytes"));
	assert_int_equal(e->synonyms[0].source, 4);
	e = entry(&out.results[0], "compression.type");
	assert_true(sl_kp_str_is(&e->value, "zstd"));
	assert_int_equal(e->config_source, 4);
	e = entry(&out.results[0], "min.insync.replicas");
	assert_true(sl_kp_str_is(&e->value, "1"));
	assert_int_equal(e->config_source, 5);

	/* v0: is_default instead of sources, no synonyms; key filter */
	{
		static const char *const keys[] = {"retention.ms", "flush.ms", "bogus"};

		req = describe(f, 0, 2, "desc", keys, 3, false);
		pump(f);
		decode_resp(f, req, &out);
		assert_int_equal(out.results[0].configs_cnt, 2);
		e = entry(&out.results[0], "retention.ms");
		assert_false(e->is_default);
		e = entry(&out.results[0], "flush.ms");
		assert_true(e->is_default);
		assert_true(sl_kp_str_is(&e->value, "9223372036854775807"));
	}
	/* v1 without include_synonyms: none */
	req = describe(f, 1, 2, "desc", NULL, -1, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(entry(&out.results[0], "retention.ms")->synonyms_cnt, 0);
	/* unknown and invalid topics */
	req = describe(f, 2, 2, "nope", NULL, -1, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results[0].error_code, KERR_UNKNOWN_TOPIC_OR_PARTITION);
	req = describe(f, 2, 2, "no/pe", NULL, -1, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results[0].error_code, KERR_INVALID_TOPIC_EXCEPTION);
}

static void
test_ctrl_describe_configs_broker_resource(void **state)
{
	struct fake *f = *state;
	struct sl_describe_configs_resp out;
	const struct sl_describe_configs_resp_resource_result *e;
	struct sl_ctrl_req *req;

	fake_close(f);
	assert_int_equal(sl_props_set(&f->props, "num.partitions", "3", "test"), 0);
	assert_int_equal(sl_props_set(&f->props, "ssl.keystore.password", "hunter2", "test"), 0);
	assert_int_equal(sl_props_set(&f->props, "zookeeper.connect", "x:2181", "test"), 0);
	fake_open(f, true, 1);
	req = describe(f, 1, 4, "0", NULL, -1, true);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results[0].error_code, 0);
	e = entry(&out.results[0], "num.partitions");
	assert_non_null(e);
	assert_true(sl_kp_str_is(&e->value, "3"));
	assert_int_equal(e->config_source, 4);
	assert_true(e->read_only);
	e = entry(&out.results[0], "auto.create.topics.enable");
	assert_true(sl_kp_str_is(&e->value, "true"));
	assert_int_equal(e->config_source, 5);
	e = entry(&out.results[0], "log.retention.ms");
	assert_true(sl_kp_str_is(&e->value, "604800000"));
	e = entry(&out.results[0], "log.dirs");
	assert_true(sl_kp_str_is(&e->value, f->dir));
	e = entry(&out.results[0], "zookeeper.connect"); /* unknown keys as given */
	assert_true(sl_kp_str_is(&e->value, "x:2181"));
	e = entry(&out.results[0], "ssl.keystore.password");
	assert_true(e->is_sensitive);
	assert_int_equal(e->value.len, -1);
	/* another broker id, and an unsupported resource type */
	req = describe(f, 1, 4, "7", NULL, -1, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results[0].error_code, KERR_INVALID_REQUEST);
	req = describe(f, 1, 4, "", NULL, -1, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results[0].error_code, 0);
	assert_int_equal(out.results[0].configs_cnt, 0);
	req = describe(f, 2, 99, "x", NULL, -1, false);
	pump(f);
	decode_resp(f, req, &out);
	assert_int_equal(out.results[0].error_code, KERR_INVALID_REQUEST);
}

/* ---- malformed and unsupported ---- */

static void
test_ctrl_unsupported_or_malformed_request_closes_connection(void **state)
{
	struct fake *f = *state;
	const struct topic_spec ts = {"t", 1, 1, {NULL}};
	struct sl_ctrl_req *req, *good;
	uint8_t junk[3] = {0, 19, 0};

	/* CreateTopics v5 is flexible: not served */
	req = create_topics(f, 5, &ts, 1, 5000, false);
	pump(f);
	assert_true(answered(f, req));
	assert_int_equal(req->close_conn, 1);
	assert_null(req->resp);
	/* truncated frames of a good request: every cut closes, none crashes */
	good = create_topics(f, 4, &ts, 1, 5000, true);
	for (uint32_t cut = 0; cut < good->frame_len; cut++) {
		req = send_frame(f, 1, SL_API_CREATE_TOPICS, 4, good->frame, cut);
		pump(f);
		assert_true(answered(f, req));
		assert_int_equal(req->close_conn, 1);
		forget(f, req);
	}
	pump(f);
	assert_true(answered(f, good));
	assert_int_equal(good->close_conn, 0);
	/* an api key the control plane does not own */
	req = send_frame(f, 2, 0, 7, junk, sizeof(junk));
	pump(f);
	assert_int_equal(req->close_conn, 1);
}

/*
 * Random byte flips in valid frames of every API: each gets an answer (a response or
 * close_conn), nothing crashes or leaks (ASan build). No topic exists, so no mutation can
 * make the fake shards create thousands of partitions.
 */
static void
test_ctrl_corrupted_frames_always_answered(void **state)
{
	struct fake *f = *state;
	static const char *const keys[] = {"retention.ms", "cleanup.policy"};
	static const char *const names[] = {"zz", "yy"};
	struct sl_ctrl_req *tmpl[3];
	uint32_t rnd = 12345;

	tmpl[0] = describe(f, 2, 2, "zz", keys, 2, true);
	tmpl[1] = delete_topics(f, 3, names, 2, 1000);
	tmpl[2] = create_partitions(f, "zz", 7, 2, true);
	pump(f);
	for (int k = 0; k < 3; k++)
		assert_true(answered(f, tmpl[k]));
	for (int i = 0; i < 3000; i++) {
		const struct sl_ctrl_req *t = tmpl[i % 3];
		uint8_t buf[512];
		struct sl_ctrl_req *req;
		unsigned flips;

		assert_true(t->frame_len <= sizeof(buf));
		memcpy(buf, t->frame, t->frame_len);
		rnd = rnd * 1103515245 + 12345;
		flips = 1 + (rnd >> 16) % 3;
		for (unsigned j = 0; j < flips; j++) {
			rnd = rnd * 1103515245 + 12345;
			/* keep the api key and version: the other paths are tested above */
			buf[4 + (rnd >> 8) % (t->frame_len - 4)] ^=
			        (uint8_t)(1u << ((rnd >> 4) & 7));
		}
		req = send_frame(f, (uint16_t)(i % f->nshards), t->api_key, t->api_version, buf,
		                 t->frame_len);
		pump(f);
		assert_true(answered(f, req));
		assert_true(req->close_conn || (req->resp && req->resp_len >= 8 &&
		                                sl_be32(req->resp) == req->resp_len - 4));
		forget(f, req);
	}
	assert_int_equal(f->c->ntopics, 0);
	assert_int_equal(f->c->npend, 0);
}

/* ---- auto-creation ---- */

static struct sl_topic_create *
auto_create(struct fake *f, uint16_t shard, const char *name)
{
	struct sl_topic_create *tc = calloc(1, sizeof(*tc));
	struct sl_msg m = {.type = SL_MSG_TOPIC_CREATE, .from = shard};

	tc->topic_len = (uint16_t)strlen(name);
	memcpy(tc->topic, name, tc->topic_len);
	tc->timeout_ms = 1000;
	tc->err = 12345;
	m.ptr = tc;
	assert_true(sl_ring_push(sl_ctrl_ring_from_shard(f->c, shard), &m));
	return tc;
}

static bool
tc_done(struct fake *f, struct sl_topic_create *tc)
{
	for (unsigned i = 0; i < f->ntcs; i++)
		if (f->tcs[i] == tc)
			return true;
	return false;
}

static void
test_ctrl_auto_create_defaults_joins_and_errors(void **state)
{
	struct fake *f = *state;
	struct sl_topic_create *a, *b, *bad, *again;

	f->hold = true;
	a = auto_create(f, 0, "auto");
	b = auto_create(f, 2, "auto"); /* a second shard asks for the same topic */
	bad = auto_create(f, 1, "bad name");
	pump(f);
	assert_true(tc_done(f, bad));
	assert_int_equal(bad->err, KERR_INVALID_TOPIC_EXCEPTION);
	assert_false(tc_done(f, a));
	assert_false(tc_done(f, b));
	assert_int_equal(f->nheld, 3); /* num.partitions, opened once */
	f->hold = false;
	release_held(f);
	pump(f);
	assert_true(tc_done(f, a));
	assert_true(tc_done(f, b));
	assert_int_equal(a->err, 0);
	assert_int_equal(b->err, 0);
	assert_int_equal(snap_topic(f, "auto")->nparts, 3);
	assert_int_equal(snap_topic(f, "auto")->cfg.retention_ms, 604800000);
	again = auto_create(f, 1, "auto");
	pump(f);
	assert_int_equal(again->err, 0);
	/* timeout */
	f->hold = true;
	a = auto_create(f, 0, "late");
	pump(f);
	f->now += 1001 * MS;
	pump(f);
	assert_true(tc_done(f, a));
	assert_int_equal(a->err, KERR_REQUEST_TIMED_OUT);
	f->hold = false;
	release_held(f);
	pump(f);
}

static void
test_ctrl_auto_create_disabled_unknown_topic(void **state)
{
	struct fake *f = *state;
	struct sl_topic_create *a;

	fake_close(f);
	fake_open(f, false, 1);
	a = auto_create(f, 0, "auto");
	pump(f);
	assert_true(tc_done(f, a));
	assert_int_equal(a->err, KERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_null(snap_topic(f, "auto"));
	/* a broker default replication factor above 1 cannot be served */
	fake_close(f);
	fake_open(f, true, 3);
	a = auto_create(f, 0, "auto");
	pump(f);
	assert_int_equal(a->err, KERR_INVALID_REPLICATION_FACTOR);
}

/* ---- snapshots ---- */

static void
test_ctrl_snapshots_published_per_change_and_reclaimed(void **state)
{
	struct fake *f = *state;
	struct sl_ctrl_stats st0, st;
	const struct sl_meta *m;

	sl_ctrl_get_stats(f->c, &st0);
	m = sl_meta_current(sl_ctrl_meta_pub(f->c));
	assert_non_null(m);
	assert_int_equal(m->ntopics, 0);
	assert_true(m->cluster_id[0] != 0);
	assert_int_equal(m->controller_id, 0);
	assert_int_equal(m->adv_port, 9092);
	create_ok(f, "s1", 1);
	create_ok(f, "s2", 2);
	create_ok(f, "s3", 1);
	sl_ctrl_get_stats(f->c, &st);
	assert_int_equal(st.published - st0.published, 3);
	m = sl_meta_current(sl_ctrl_meta_pub(f->c));
	assert_int_equal(m->ntopics, 3);
	assert_string_equal(m->topics[0].name, "s1");
	assert_string_equal(m->topics[2].name, "s3");
	/* every fake shard acquired on SL_MSG_META, so all but the current can go */
	pump(f);
	sl_ctrl_get_stats(f->c, &st);
	assert_true(st.reclaimed >= st.published - st0.published);
	assert_int_equal(sl_ctrl_meta_pub(f->c)->nretired, 0);
	/* a shard that does not move holds back everything from its version on */
	f->frozen = 0;
	create_ok(f, "s4", 1);
	create_ok(f, "s5", 1);
	assert_int_equal(sl_ctrl_meta_pub(f->c)->nretired, 2);
	assert_int_equal(sl_ctrl_meta_pub(f->c)->retired[0]->version, m->version);
	/* once it moves, they go */
	f->frozen = -1;
	sl_meta_acquire(sl_ctrl_meta_pub(f->c), 0);
	pump(f);
	assert_int_equal(sl_ctrl_meta_pub(f->c)->nretired, 0);
}

/* ---- restart ---- */

static void
write_file(struct fake *f, const char *rel, const char *text)
{
	char p[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_ctrl_restart_reloads_topics_from_directory(void **state)
{
	struct fake *f = *state;
	const struct topic_spec ts = {
	        "keep", 2, 1, {"retention.ms", "1000", "cleanup.policy", "compact,delete"}};
	uint8_t id[16];
	char cid[64], p[512];
	const struct sl_meta_topic *t;
	unsigned opens;

	assert_int_equal(create_err(f, 4, &ts, NULL, 0), 0);
	create_ok(f, "gone", 2);
	memcpy(id, snap_topic(f, "keep")->id, 16);
	snprintf(cid, sizeof(cid), "%s", sl_meta_current(sl_ctrl_meta_pub(f->c))->cluster_id);
	fake_close(f);

	/* a deletion interrupted by a crash: the marker is there, one log is left */
	snprintf(p, sizeof(p), "%s/.sluice-topics/gone.meta", f->dir);
	{
		char q[512];

		snprintf(q, sizeof(q), "%s/.sluice-topics/gone.del", f->dir);
		assert_int_equal(rename(p, q), 0);
	}
	/* partition directories without metadata (copied from elsewhere), gaps included,
	 * plus things that are not partitions, and a stale temp file */
	snprintf(p, sizeof(p), "%s/legacy.v1-0", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/legacy.v1-2", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/lost+found", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/x-01", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	write_file(f, "notadir-0", "");
	write_file(f, ".sluice-topics/keep.tmp", "junk");
	/* a .meta whose partition count is ahead of its directories (crash mid-create) */
	write_file(f, ".sluice-topics/ahead.meta",
	           "version=1\nid=00112233445566778899aabbccddeeff\npartitions=2\n"
	           "config.retention.ms=5\nconfig.bogus.key=1\nconfig.segment.bytes=1\n");

	opens = f->opens;
	fake_open(f, true, 1);
	assert_string_equal(sl_meta_current(sl_ctrl_meta_pub(f->c))->cluster_id, cid);
	t = snap_topic(f, "keep");
	assert_non_null(t);
	assert_int_equal(t->nparts, 2);
	assert_memory_equal(t->id, id, 16);
	assert_int_equal(t->cfg.retention_ms, 1000);
	assert_int_equal(t->cfg.cleanup_policy, SL_CLEANUP_COMPACT | SL_CLEANUP_DELETE);
	assert_true(t->overrides & (1ULL << sl_tcfg_find("cleanup.policy", 14)));
	t = snap_topic(f, "legacy.v1");
	assert_non_null(t);
	assert_int_equal(t->nparts, 3);
	assert_true(dir_exists(f, ".sluice-topics/legacy.v1.meta"));
	t = snap_topic(f, "ahead");
	assert_non_null(t);
	assert_int_equal(t->nparts, 2);
	assert_int_equal(t->id[15], 0xff);
	assert_int_equal(t->cfg.retention_ms, 5);
	assert_int_equal(t->cfg.segment_bytes, 1ULL << 30); /* invalid value ignored */
	assert_true(dir_exists(f, "ahead-1"));              /* opened, so created */
	assert_null(snap_topic(f, "gone"));
	assert_null(snap_topic(f, "x"));
	assert_null(snap_topic(f, "notadir"));
	assert_false(dir_exists(f, "gone-0"));
	assert_false(dir_exists(f, "gone-1"));
	assert_false(dir_exists(f, ".sluice-topics/gone.del"));
	assert_false(dir_exists(f, ".sluice-topics/keep.tmp"));
	assert_int_equal(sl_meta_current(sl_ctrl_meta_pub(f->c))->ntopics, 3);
	/* every partition was handed to its shard at start-up */
	assert_int_equal(f->opens - opens, 2 + 3 + 2);
}

static void
test_ctrl_restart_failed_open_keeps_data(void **state)
{
	struct fake *f = *state;

	create_ok(f, "precious", 3);
	fake_close(f);
	f->fail_topic = "precious"; /* partition 1 fails to open after the restart */
	fake_open(f, true, 1);
	/* a start-up failure is logged, never "rolled back": the data stays */
	assert_non_null(snap_topic(f, "precious"));
	assert_true(dir_exists(f, "precious-0"));
	assert_true(dir_exists(f, "precious-2"));
	assert_true(dir_exists(f, ".sluice-topics/precious.meta"));
}

/* ---- the real thread ---- */

struct shard_thread {
	struct fake *f;
	_Atomic bool stop;
	_Atomic unsigned answers;
	struct sl_ctrl_req *last;
	/* a request to push: only this thread pushes to the rings (they are SPSC) */
	_Atomic(struct sl_ctrl_req *) to_send;
};

static void *
shard_main(void *arg)
{
	struct shard_thread *st = arg;
	struct fake *f = st->f;

	while (!atomic_load(&st->stop)) {
		struct sl_ctrl_req *req = atomic_exchange(&st->to_send, NULL);

		if (req) {
			struct sl_msg m = {.type = SL_MSG_CTRL_REQ, .from = 0, .ptr = req};

			while (!sl_ring_push(sl_ctrl_ring_from_shard(f->c, 0), &m))
				usleep(100);
			sl_ctrl_notify(f->c);
		}
		for (uint16_t s = 0; s < f->nshards; s++) {
			struct sl_msg m;

			while (sl_ring_pop(sl_ctrl_ring_to_shard(f->c, s), &m)) {
				if (m.type == SL_MSG_PART_OPEN || m.type == SL_MSG_PART_REMOVE) {
					struct sl_part_op *op = m.ptr;
					struct sl_msg r = {
					        .type = SL_MSG_PART_DONE, .from = s, .ptr = op};

					op->err = 0;
					while (!sl_ring_push(sl_ctrl_ring_from_shard(f->c, s), &r))
						usleep(100);
					sl_ctrl_notify(f->c);
				} else if (m.type == SL_MSG_CTRL_RESP) {
					st->last = m.ptr;
					atomic_fetch_add(&st->answers, 1);
				} else if (m.type == SL_MSG_META) {
					sl_meta_acquire(sl_ctrl_meta_pub(f->c), s);
				}
			}
		}
		usleep(200);
	}
	for (uint16_t s = 0; s < f->nshards; s++)
		sl_meta_quiesce(sl_ctrl_meta_pub(f->c), s);
	return NULL;
}

static void
test_ctrl_thread_starts_serves_and_stops(void **state)
{
	struct fake *f = *state;
	struct shard_thread st = {.f = f};
	struct sl_ctrl_opts o;
	const struct topic_spec ts = {"threaded", 4, 1, {NULL}};
	struct sl_create_topics_resp out;
	struct sl_ctrl_req *req;
	size_t napis;
	const struct sl_api_range *apis = sl_ctrl_apis(&napis);
	pthread_t th;
	int64_t end;

	/* a topic on disk, to be opened at start-up */
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/ondisk-0", f->dir);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	memset(&o, 0, sizeof(o));
	o.log_dir = f->dir;
	o.nshards = f->nshards;
	o.ring_slots = 8; /* small: exercises the outgoing queues */
	o.num_partitions = 1;
	o.default_replication_factor = 1;
	o.topic_defaults = test_defaults();
	assert_int_equal(sl_ctrl_create(&f->c, &o), 0);
	assert_int_equal(pthread_create(&th, NULL, shard_main, &st), 0);
	assert_int_equal(sl_ctrl_start(f->c), 0);
	assert_int_equal(sl_ctrl_wait_ready(f->c, 5000), 0);
	assert_non_null(sl_meta_find(sl_meta_current(sl_ctrl_meta_pub(f->c)), "ondisk", 6));

	req = build_create(f, &ts);
	atomic_store(&st.to_send, req);
	end = sl_now_ns() + 5000 * MS;
	while (atomic_load(&st.answers) == 0 && sl_now_ns() < end)
		usleep(1000);
	assert_int_equal(atomic_load(&st.answers), 1);
	assert_ptr_equal(st.last, req);
	f->resps[f->nresps++] = req;
	decode_resp(f, req, &out);
	assert_int_equal(out.topics[0].error_code, 0);

	sl_ctrl_stop(f->c);
	atomic_store(&st.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(
	        sl_meta_find(sl_meta_current(sl_ctrl_meta_pub(f->c)), "threaded", 8)->nparts, 4);
	/* the advertised table: only what is implemented (other engineers add their APIs:
	 * look the keys up rather than counting) */
	{
		int16_t maxv[64];

		for (size_t i = 0; i < 64; i++)
			maxv[i] = -1;
		for (size_t i = 0; i < napis; i++) {
			assert_true(apis[i].api_key >= 0 && apis[i].api_key < 64);
			assert_int_equal(maxv[apis[i].api_key], -1); /* listed once */
			maxv[apis[i].api_key] = apis[i].max_version;
		}
		assert_int_equal(maxv[19], 4);
		assert_int_equal(maxv[37], 1);
		assert_int_equal(maxv[33], 1); /* AlterConfigs */
		assert_int_equal(maxv[44], 1); /* IncrementalAlterConfigs */
		assert_int_equal(maxv[60], 0); /* DescribeCluster */
		assert_int_equal(maxv[21], 1); /* DeleteRecords */
		assert_int_equal(maxv[0], -1); /* Produce: the shards' */
	}
}

static void
test_ctrl_create_rejects_bad_options(void **state)
{
	struct sl_ctrl_opts o;
	struct sl_ctrl *c;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.log_dir = "/tmp";
	o.ring_slots = 8;
	assert_int_equal(sl_ctrl_create(&c, &o), -EINVAL); /* no shards */
	o.nshards = 1;
	o.ring_slots = 12;
	assert_int_equal(sl_ctrl_create(&c, &o), -EINVAL);
	o.ring_slots = 8;
	o.log_dir = NULL;
	assert_int_equal(sl_ctrl_create(&c, &o), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_create_topics_opens_every_partition_on_its_shard_then_answers,
	                setup_open, teardown),
	        cmocka_unit_test(test_ctrl_shard_of_spreads_round_robin),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_create_topics_invalid_input_kafka_error_codes, setup_open,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_create_topics_defaults_and_duplicates_and_validate_only,
	                setup_open, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_create_topics_slow_shard_times_out_then_completes, setup_open,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_create_topics_zero_timeout_answers_at_once, setup_open, teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_create_topics_open_failure_rolls_back,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_delete_topics_removes_logs_and_metadata,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_delete_topics_waits_for_creation_in_flight, setup_open, teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_create_partitions_only_increases,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_create_partitions_open_failure_keeps_old_count, setup_open,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_describe_configs_topic_values_sources_synonyms, setup_open,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_describe_configs_broker_resource,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_unsupported_or_malformed_request_closes_connection, setup_open,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_corrupted_frames_always_answered,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_auto_create_defaults_joins_and_errors,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_auto_create_disabled_unknown_topic,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_ctrl_snapshots_published_per_change_and_reclaimed, setup_open,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_restart_reloads_topics_from_directory,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_restart_failed_open_keeps_data,
	                                        setup_open, teardown),
	        cmocka_unit_test_setup_teardown(test_ctrl_thread_starts_serves_and_stops, setup,
	                                        teardown),
	        cmocka_unit_test(test_ctrl_create_rejects_bad_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
