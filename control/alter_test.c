// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for control/alter.c (AlterConfigs, IncrementalAlterConfigs, DescribeCluster,
 * DeleteRecords) and control/mlog.c (the metadata log and its replay at start-up).
 *
 * ctl_poll(c, fake now) plays the control thread and fake_step() every shard: it "opens"
 * a partition by creating its directory, records the configs SL_MSG_PART_CFG brings, and
 * answers SL_MSG_PART_DELETE_RECORDS like a log whose high watermark is HW. Requests are
 * real frames built with the generated encoders; answers are decoded with the generated
 * decoders. The metadata-log tests run the real storage engine in a temporary directory.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/kproto/alter_configs.h"
#include "common/kproto/api.h"
#include "common/kproto/create_topics.h"
#include "common/kproto/delete_records.h"
#include "common/kproto/delete_topics.h"
#include "common/kproto/describe_cluster.h"
#include "common/kproto/incremental_alter_configs.h"
#include "control/ctrl_int.h"

#define MS (1000000LL)
#define MAX_SEEN 64
#define HW 100 /* every fake log's high watermark */

struct fake {
	char dir[128];
	uint16_t nshards;
	bool mlog;
	struct sl_ctrl *c;
	int64_t now;
	unsigned cfgs; /* SL_MSG_PART_CFG received */
	struct sl_plog_cfg last_cfg;
	unsigned delrecs;
	bool hold; /* keep SL_MSG_PART_DELETE_RECORDS instead of answering */
	struct {
		uint16_t shard;
		struct sl_part_op *op;
	} held[16];
	unsigned nheld;
	struct sl_ctrl_req *resps[MAX_SEEN];
	unsigned nresps;
	struct sl_arena arena;
};

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static bool
exists(struct fake *f, const char *rel)
{
	char p[512];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", f->dir, rel);
	return stat(p, &sb) == 0;
}

static void
answer_op(struct fake *f, uint16_t s, uint32_t type, struct sl_part_op *op)
{
	struct sl_msg m = {.type = SL_MSG_PART_DONE, .from = s, .ptr = op};
	char p[512];

	snprintf(p, sizeof(p), "%s/%s-%d", f->dir, op->topic, op->partition);
	op->err = 0;
	switch (type) {
	case SL_MSG_PART_OPEN:
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			op->err = -errno;
		break;
	case SL_MSG_PART_REMOVE:
		nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		break;
	case SL_MSG_PART_CFG:
		f->cfgs++;
		f->last_cfg = op->cfg;
		break;
	case SL_MSG_PART_DELETE_RECORDS:
		f->delrecs++;
		if (op->offset > HW)
			op->err = -ERANGE;
		else
			op->offset = op->offset < 0 ? HW : op->offset;
		break;
	default:
		fail_msg("unexpected part op %u", type);
	}
	assert_true(sl_ring_push(sl_ctrl_ring_from_shard(f->c, s), &m));
}

static unsigned
fake_step(struct fake *f)
{
	unsigned n = 0;

	for (uint16_t s = 0; s < f->nshards; s++) {
		struct sl_msg m;

		while (sl_ring_pop(sl_ctrl_ring_to_shard(f->c, s), &m)) {
			n++;
			if (m.type == SL_MSG_CTRL_RESP) {
				assert_true(f->nresps < MAX_SEEN);
				f->resps[f->nresps++] = m.ptr;
			} else if (m.type >= SL_MSG_PART_OPEN &&
			           m.type <= SL_MSG_PART_DELETE_RECORDS) {
				struct sl_part_op *op = m.ptr;

				assert_int_equal(s, sl_ctrl_shard_of(op->topic, strlen(op->topic),
				                                     op->partition, f->nshards));
				if (f->hold && m.type == SL_MSG_PART_DELETE_RECORDS) {
					assert_true(f->nheld < SL_ARRAY_SIZE(f->held));
					f->held[f->nheld].shard = s;
					f->held[f->nheld++].op = op;
					continue;
				}
				answer_op(f, s, m.type, op);
			} else {
				assert_int_equal(m.type, SL_MSG_META);
			}
		}
	}
	return n;
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
fake_open(struct fake *f)
{
	struct sl_ctrl_opts o;

	sl_ctrl_opts_default(&o);
	o.log_dir = f->dir;
	o.nshards = f->nshards;
	o.ring_slots = 64;
	o.metadata_log = f->mlog;
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
	pump(f);
	sl_ctrl_destroy(f->c);
	f->c = NULL;
}

static int
setup_common(void **state, bool mlog)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sl-alter-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->nshards = 3;
	f->mlog = mlog;
	f->now = 1000 * MS;
	assert_int_equal(sl_arena_init(&f->arena, 64 * 1024, 64 << 20), 0);
	fake_open(f);
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_common(state, false);
}

static int
setup_mlog(void **state)
{
	return setup_common(state, true);
}

static int
teardown(void **state)
{
	struct fake *f = *state;

	if (f->c)
		fake_close(f);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	sl_arena_fini(&f->arena);
	free(f);
	return 0;
}

/* ---- requests and answers ---- */

/* Pushes a request with body (a struct sl_<api>_req) and runs until it is answered. */
static struct sl_ctrl_req *
call(struct fake *f, int16_t key, int16_t ver, const void *body)
{
	struct sl_request_header h;
	struct sl_ctrl_req *req = calloc(1, sizeof(*req));
	struct sl_msg m = {.type = SL_MSG_CTRL_REQ, .from = 0};
	struct sl_wbuf w;

	assert_non_null(req);
	sl_arena_reset(&f->arena);
	sl_request_header_init(&h);
	h.request_api_key = key;
	h.request_api_version = ver;
	h.correlation_id = 77;
	h.client_id.p = "alter-test";
	h.client_id.len = 10;
	sl_wbuf_init(&w, &f->arena);
	assert_int_equal(sl_request_header_encode(&w, sl_kapi_req_hdr_ver(key, ver), &h), 0);
	assert_int_equal(sl_kproto_encode(&w, key, false, ver, body), 0);
	req->api_key = key;
	req->api_version = ver;
	req->correlation_id = 77;
	req->frame = malloc(w.len);
	assert_non_null(req->frame);
	sl_wbuf_copyout(&w, req->frame, w.len);
	req->frame_len = (uint32_t)w.len;
	m.ptr = req;
	assert_true(sl_ring_push(sl_ctrl_ring_from_shard(f->c, 0), &m));
	pump(f);
	return req;
}

static void
decode(struct fake *f, struct sl_ctrl_req *req, void *out)
{
	struct sl_response_header rh;
	struct sl_crd rd;
	struct iovec iov;
	bool seen = false;

	for (unsigned i = 0; i < f->nresps; i++)
		seen |= f->resps[i] == req;
	assert_true(seen);
	assert_int_equal(req->close_conn, 0);
	assert_non_null(req->resp);
	assert_int_equal(sl_be32(req->resp), req->resp_len - 4);
	sl_crd_init_buf(&rd, &iov, req->resp + 4, req->resp_len - 4, &f->arena);
	assert_int_equal(sl_response_header_decode(
	                         &rd, sl_kapi_resp_hdr_ver(req->api_key, req->api_version), &rh),
	                 0);
	assert_int_equal(rh.correlation_id, 77);
	assert_int_equal(sl_kproto_decode(&rd, req->api_key, true, req->api_version, out), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
}

static void
create(struct fake *f, const char *name, int32_t nparts, const char *key, const char *val)
{
	struct sl_create_topics_req r;
	struct sl_create_topics_req_creatable_topic t;
	struct sl_create_topics_req_creatable_topic_config cf;
	struct sl_create_topics_resp out;

	sl_create_topics_req_init(&r);
	sl_create_topics_req_creatable_topic_init(&t);
	sl_create_topics_req_creatable_topic_config_init(&cf);
	t.name.p = name;
	t.name.len = (int32_t)strlen(name);
	t.num_partitions = nparts;
	t.replication_factor = -1;
	t.assignments_cnt = 0;
	t.configs = &cf;
	t.configs_cnt = key ? 1 : 0;
	if (key) {
		cf.name.p = key;
		cf.name.len = (int32_t)strlen(key);
		cf.value.p = val;
		cf.value.len = (int32_t)strlen(val);
	}
	r.topics = &t;
	r.topics_cnt = 1;
	r.timeout_ms = 5000;
	decode(f, call(f, SL_API_CREATE_TOPICS, 4, &r), &out);
	assert_int_equal(out.topics[0].error_code, 0);
}

static void
delete_topic(struct fake *f, const char *name)
{
	struct sl_delete_topics_req r;
	struct sl_delete_topics_resp out;
	struct sl_str s = {name, (int32_t)strlen(name)};

	sl_delete_topics_req_init(&r);
	r.topic_names = &s;
	r.topic_names_cnt = 1;
	r.timeout_ms = 5000;
	decode(f, call(f, SL_API_DELETE_TOPICS, 3, &r), &out);
	assert_int_equal(out.responses[0].error_code, 0);
}

/* One IncrementalAlterConfigs v1 (flexible) of topic with n (name, op, value) triples;
 * value "\x01" sends null. Returns the resource's error code. */
static int16_t
incr(struct fake *f, const char *topic, bool validate_only, unsigned n, ...)
{
	struct sl_incremental_alter_configs_req r;
	struct sl_incremental_alter_configs_req_alter_configs_resource rs;
	struct sl_incremental_alter_configs_req_alterable_config cf[8];
	struct sl_incremental_alter_configs_resp out;
	va_list ap;

	assert_true(n <= 8);
	sl_incremental_alter_configs_req_init(&r);
	sl_incremental_alter_configs_req_alter_configs_resource_init(&rs);
	rs.resource_type = 2;
	rs.resource_name.p = topic;
	rs.resource_name.len = (int32_t)strlen(topic);
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++) {
		const char *name = va_arg(ap, const char *);
		int op = va_arg(ap, int);
		const char *val = va_arg(ap, const char *);

		sl_incremental_alter_configs_req_alterable_config_init(&cf[i]);
		cf[i].name.p = name;
		cf[i].name.len = (int32_t)strlen(name);
		cf[i].config_operation = (int8_t)op;
		cf[i].value.p = strcmp(val, "\x01") ? val : NULL;
		cf[i].value.len = strcmp(val, "\x01") ? (int32_t)strlen(val) : -1;
	}
	va_end(ap);
	rs.configs = cf;
	rs.configs_cnt = (int32_t)n;
	r.resources = &rs;
	r.resources_cnt = 1;
	r.validate_only = validate_only;
	decode(f, call(f, SL_API_INCREMENTAL_ALTER_CONFIGS, 1, &r), &out);
	assert_int_equal(out.responses_cnt, 1);
	assert_int_equal(out.responses[0].resource_type, 2);
	assert_int_equal(out.responses[0].resource_name.len, (int32_t)strlen(topic));
	assert_true(out.responses[0].error_code != 0 || out.responses[0].error_message.len < 0);
	return out.responses[0].error_code;
}

static const struct sl_meta_topic *
snap(struct fake *f, const char *name)
{
	return sl_meta_find(sl_meta_current(sl_ctrl_meta_pub(f->c)), name, strlen(name));
}

/* The topic's override of config name (NULL: none). */
static const char *
ovr(struct fake *f, const char *topic, const char *name)
{
	struct ctl_topic *t = ctl_topic_find(f->c, topic, strlen(topic));
	int idx = sl_tcfg_find(name, strlen(name));

	assert_non_null(t);
	assert_true(idx >= 0);
	return (t->overrides & (1ULL << idx)) ? t->ovr[idx] : NULL;
}

/* ---- IncrementalAlterConfigs / AlterConfigs ---- */

static void
test_alter_incremental_set_reaches_every_partition_and_the_snapshot(void **state)
{
	struct fake *f = *state;

	create(f, "live", 4, NULL, NULL);
	f->cfgs = 0;
	assert_int_equal(incr(f, "live", false, 2, "retention.ms", 0, "1000", "segment.bytes",
	                      0, " 4096 "),
	                 0);
	assert_int_equal(f->cfgs, 4); /* one SL_MSG_PART_CFG per partition */
	assert_int_equal(f->last_cfg.retention_ms, 1000);
	assert_int_equal(f->last_cfg.segment_bytes, 4096);
	assert_int_equal(snap(f, "live")->cfg.retention_ms, 1000);
	assert_string_equal(ovr(f, "live", "segment.bytes"), "4096");
	/* DELETE returns to the default; APPEND / SUBTRACT edit a list */
	assert_int_equal(incr(f, "live", false, 2, "retention.ms", 1, "\x01", "cleanup.policy", 2,
	                      "compact"),
	                 0);
	assert_int_equal(f->last_cfg.retention_ms, 604800000);
	assert_null(ovr(f, "live", "retention.ms"));
	assert_string_equal(ovr(f, "live", "cleanup.policy"), "delete,compact");
	assert_int_equal(f->last_cfg.cleanup_policy, SL_CLEANUP_DELETE | SL_CLEANUP_COMPACT);
	assert_int_equal(incr(f, "live", false, 1, "cleanup.policy", 3, "delete"), 0);
	assert_string_equal(ovr(f, "live", "cleanup.policy"), "compact");
	assert_int_equal(snap(f, "live")->cfg.cleanup_policy, SL_CLEANUP_COMPACT);
	/* subtracting the last item leaves an empty list: neither deletion nor compaction
	 * (tcfg.c accepts it, as Kafka 4.1 does) */
	assert_int_equal(incr(f, "live", false, 1, "cleanup.policy", 3, "compact"), 0);
	assert_string_equal(ovr(f, "live", "cleanup.policy"), "");
	assert_int_equal(f->last_cfg.cleanup_policy, 0);
	/* APPEND to a default list starts from the default value */
	assert_int_equal(incr(f, "live", false, 1, "cleanup.policy", 1, "\x01"), 0);
	assert_int_equal(incr(f, "live", false, 1, "cleanup.policy", 2, "delete"), 0);
	assert_string_equal(ovr(f, "live", "cleanup.policy"), "delete");
	assert_int_equal(f->cfgs, 24);
}

static void
test_alter_incremental_errors_change_nothing(void **state)
{
	struct fake *f = *state;

	create(f, "strict", 2, "retention.ms", "5000");
	f->cfgs = 0;
	assert_int_equal(incr(f, "nope", false, 1, "retention.ms", 0, "1"),
	                 KERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_int_equal(incr(f, "strict", false, 1, "retention.ms", 0, "soon"), KERR_INVALID_CONFIG);
	assert_int_equal(incr(f, "strict", false, 1, "no.such.config", 0, "1"), KERR_INVALID_CONFIG);
	assert_int_equal(incr(f, "strict", false, 1, "retention.ms", 2, "1"), KERR_INVALID_CONFIG);
	assert_int_equal(incr(f, "strict", false, 1, "retention.ms", 9, "1"), KERR_INVALID_REQUEST);
	assert_int_equal(incr(f, "strict", false, 2, "retention.ms", 0, "1", "retention.ms", 0,
	                      "2"),
	                 KERR_INVALID_REQUEST);
	/* one bad config fails the whole resource */
	assert_int_equal(incr(f, "strict", false, 2, "segment.bytes", 0, "4096", "segment.ms", 0,
	                      "0"),
	                 KERR_INVALID_CONFIG);
	/* validate_only: valid, but nothing changes */
	assert_int_equal(incr(f, "strict", true, 1, "retention.ms", 0, "1"), 0);
	assert_int_equal(f->cfgs, 0);
	assert_string_equal(ovr(f, "strict", "retention.ms"), "5000");
	assert_null(ovr(f, "strict", "segment.bytes"));
	assert_int_equal(snap(f, "strict")->cfg.retention_ms, 5000);
}

static void
test_alter_configs_replaces_the_whole_override_set(void **state)
{
	struct fake *f = *state;
	struct sl_alter_configs_req r;
	struct sl_alter_configs_req_resource rs[2];
	struct sl_alter_configs_req_alterable_config cf = {{"max.message.bytes", 17}, {"2000", 4}};
	struct sl_alter_configs_resp out;

	create(f, "whole", 1, "retention.ms", "5000");
	sl_alter_configs_req_init(&r);
	sl_alter_configs_req_resource_init(&rs[0]);
	sl_alter_configs_req_resource_init(&rs[1]);
	rs[0].resource_type = 2;
	rs[0].resource_name.p = "whole";
	rs[0].resource_name.len = 5;
	rs[0].configs = &cf;
	rs[0].configs_cnt = 1;
	rs[1].resource_type = 4; /* broker: read-only here */
	rs[1].resource_name.p = "0";
	rs[1].resource_name.len = 1;
	rs[1].configs_cnt = 0;
	r.resources = rs;
	r.resources_cnt = 2;
	decode(f, call(f, SL_API_ALTER_CONFIGS, 1, &r), &out);
	assert_int_equal(out.responses_cnt, 2);
	assert_int_equal(out.responses[0].error_code, 0);
	assert_int_equal(out.responses[1].error_code, KERR_INVALID_REQUEST);
	assert_true(out.responses[1].error_message.len > 0);
	assert_null(ovr(f, "whole", "retention.ms"));
	assert_string_equal(ovr(f, "whole", "max.message.bytes"), "2000");
	assert_int_equal(snap(f, "whole")->cfg.max_message_bytes, 2000);
	assert_int_equal(snap(f, "whole")->cfg.retention_ms, 604800000);
	assert_int_equal(f->last_cfg.max_message_bytes, 2000);
}

/* ---- DescribeCluster, DeleteRecords ---- */

static void
test_describe_cluster_lists_this_broker_as_controller(void **state)
{
	struct fake *f = *state;
	struct sl_describe_cluster_req r;
	struct sl_describe_cluster_resp out;

	sl_describe_cluster_req_init(&r);
	decode(f, call(f, SL_API_DESCRIBE_CLUSTER, 0, &r), &out);
	assert_int_equal(out.error_code, 0);
	assert_int_equal(out.controller_id, 0);
	assert_int_equal(out.brokers_cnt, 1);
	assert_int_equal(out.brokers[0].broker_id, 0);
	assert_int_equal(out.brokers[0].port, 9092);
	assert_int_equal(out.cluster_id.len, (int32_t)strlen(f->c->cluster_id));
}

static void
test_delete_records_answers_low_watermarks_and_errors(void **state)
{
	struct fake *f = *state;
	struct sl_delete_records_req r;
	struct sl_delete_records_req_topic t[2];
	struct sl_delete_records_req_partition p[5] = {{0, 40}, {1, -1}, {2, HW + 1}, {3, 5}, {0, -2}};
	struct sl_delete_records_resp out;

	create(f, "trim", 3, NULL, NULL);
	sl_delete_records_req_init(&r);
	sl_delete_records_req_topic_init(&t[0]);
	sl_delete_records_req_topic_init(&t[1]);
	t[0].name.p = "trim";
	t[0].name.len = 4;
	t[0].partitions = p;
	t[0].partitions_cnt = 5;
	t[1].name.p = "gone";
	t[1].name.len = 4;
	t[1].partitions = p;
	t[1].partitions_cnt = 1;
	r.topics = t;
	r.topics_cnt = 2;
	r.timeout_ms = 1000;
	decode(f, call(f, SL_API_DELETE_RECORDS, 1, &r), &out);
	assert_int_equal(f->delrecs, 3); /* only the valid partitions reached a shard */
	assert_int_equal(out.topics_cnt, 2);
	assert_int_equal(out.topics[0].partitions_cnt, 5);
	assert_int_equal(out.topics[0].partitions[0].error_code, 0);
	assert_int_equal(out.topics[0].partitions[0].low_watermark, 40);
	assert_int_equal(out.topics[0].partitions[1].error_code, 0);
	assert_int_equal(out.topics[0].partitions[1].low_watermark, HW);
	assert_int_equal(out.topics[0].partitions[2].error_code, 1); /* OFFSET_OUT_OF_RANGE */
	assert_int_equal(out.topics[0].partitions[2].low_watermark, -1);
	assert_int_equal(out.topics[0].partitions[3].error_code, KERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_int_equal(out.topics[0].partitions[4].error_code, 1);
	assert_int_equal(out.topics[1].partitions[0].error_code, KERR_UNKNOWN_TOPIC_OR_PARTITION);
	assert_int_equal(out.topics[1].name.len, 4);
}

static struct sl_ctrl_req *
delete_records_req(struct fake *f, const char *topic, int32_t nparts)
{
	struct sl_delete_records_req r;
	struct sl_delete_records_req_topic t;
	struct sl_delete_records_req_partition p[8];

	sl_delete_records_req_init(&r);
	sl_delete_records_req_topic_init(&t);
	for (int32_t i = 0; i < nparts; i++) {
		p[i].partition_index = i;
		p[i].offset = 10;
	}
	t.name.p = topic;
	t.name.len = (int32_t)strlen(topic);
	t.partitions = p;
	t.partitions_cnt = nparts;
	r.topics = &t;
	r.topics_cnt = 1;
	r.timeout_ms = 1000;
	return call(f, SL_API_DELETE_RECORDS, 0, &r);
}

static void
test_delete_records_waiting_at_stop_is_answered_timed_out(void **state)
{
	struct fake *f = *state;
	struct sl_delete_records_resp out;
	struct sl_ctrl_req *req;
	unsigned n0;
	int32_t first;

	create(f, "slow", 2, NULL, NULL);
	n0 = f->nresps;
	f->hold = true;
	req = delete_records_req(f, "slow", 2);
	assert_int_equal(f->nheld, 2);
	assert_int_equal(f->nresps, n0); /* waits for both shards */
	first = f->held[0].op->partition;
	answer_op(f, f->held[0].shard, SL_MSG_PART_DELETE_RECORDS, f->held[0].op);
	pump(f);
	assert_int_equal(f->nresps, n0);
	ctl_pend_expire(f->c, true); /* what stopping does */
	pump(f);
	decode(f, req, &out);
	assert_int_equal(out.topics[0].partitions_cnt, 2);
	assert_int_equal(out.topics[0].partitions[first].error_code, 0);
	assert_int_equal(out.topics[0].partitions[first].low_watermark, 10);
	assert_int_equal(out.topics[0].partitions[1 - first].error_code, KERR_REQUEST_TIMED_OUT);
	/* the late answer is absorbed without a second response */
	answer_op(f, f->held[1].shard, SL_MSG_PART_DELETE_RECORDS, f->held[1].op);
	f->nheld = 0;
	pump(f);
	assert_int_equal(f->nresps, n0 + 1);
	assert_null(f->c->delrecs);
	/* still waiting at destroy: freed with the rings (ASan checks for leaks) */
	f->nheld = 0;
	req = delete_records_req(f, "slow", 2);
	assert_int_equal(f->nheld, 2);
	assert_non_null(f->c->delrecs);
	answer_op(f, f->held[0].shard, SL_MSG_PART_DELETE_RECORDS, f->held[0].op);
	answer_op(f, f->held[1].shard, SL_MSG_PART_DELETE_RECORDS, f->held[1].op);
	f->nheld = 0;
	f->hold = false;
	for (unsigned i = 0; i < f->nresps; i++) {
		free(f->resps[i]->frame);
		free(f->resps[i]->resp);
		free(f->resps[i]);
	}
	f->nresps = 0;
	sl_ctrl_destroy(f->c); /* answers it (left in the ring) and frees the rest */
	f->c = NULL;
	assert_non_null(req->resp); /* the shard's to free, as every answer */
	free(req->frame);
	free(req->resp);
	free(req);
}

/* ---- the metadata log ---- */

static void
restart(struct fake *f)
{
	fake_close(f);
	fake_open(f);
}

static void
test_mlog_restart_restores_topics_partitions_configs_and_deletions(void **state)
{
	struct fake *f = *state;

	assert_true(exists(f, SL_MLOG_TOPIC "-0"));
	create(f, "keep", 2, "retention.ms", "7777");
	create(f, "drop", 1, NULL, NULL);
	assert_int_equal(incr(f, "keep", false, 1, "segment.bytes", 0, "65536"), 0);
	delete_topic(f, "drop");
	assert_false(exists(f, ".sluice-topics/keep.meta")); /* no per-topic files any more */
	restart(f);
	assert_non_null(snap(f, "keep"));
	assert_int_equal(snap(f, "keep")->nparts, 2);
	assert_int_equal(snap(f, "keep")->cfg.retention_ms, 7777);
	assert_int_equal(snap(f, "keep")->cfg.segment_bytes, 65536);
	assert_null(snap(f, "drop"));
	assert_null(snap(f, SL_MLOG_TOPIC)); /* the log's own directory is not a topic */
	/* a topic re-created after its deletion comes back, without the old configs */
	create(f, "drop", 3, NULL, NULL);
	restart(f);
	assert_int_equal(snap(f, "drop")->nparts, 3);
	assert_null(ovr(f, "drop", "retention.ms"));
	assert_int_equal(snap(f, "keep")->cfg.segment_bytes, 65536);
}

static void
test_mlog_a_crash_mid_deletion_is_finished_at_start_up(void **state)
{
	struct fake *f = *state;
	char p[512];

	create(f, "half", 2, NULL, NULL);
	delete_topic(f, "half");
	/* the shard removed the logs; pretend one directory survived a crash */
	snprintf(p, sizeof(p), "%s/half-1", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	restart(f);
	assert_null(snap(f, "half"));
	assert_false(exists(f, "half-1"));
}

static void
test_mlog_migrates_legacy_topic_files_once(void **state)
{
	struct fake *f = *state;
	char p[512];
	FILE *fp;

	fake_close(f);
	snprintf(p, sizeof(p), "%s/.sluice-topics/old.meta", f->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fprintf(fp, "version=1\nid=00112233445566778899aabbccddeeff\npartitions=2\n"
	            "config.retention.ms=4242\n");
	fclose(fp);
	snprintf(p, sizeof(p), "%s/old-0", f->dir);
	assert_int_equal(mkdir(p, 0755), 0);
	fake_open(f);
	assert_non_null(snap(f, "old"));
	assert_int_equal(snap(f, "old")->nparts, 2);
	assert_int_equal(snap(f, "old")->cfg.retention_ms, 4242);
	assert_int_equal(snap(f, "old")->id[15], 0xff);
	assert_false(exists(f, ".sluice-topics/old.meta"));
	/* from now on the log has it */
	assert_int_equal(incr(f, "old", false, 1, "retention.ms", 0, "4343"), 0);
	restart(f);
	assert_int_equal(snap(f, "old")->cfg.retention_ms, 4343);
	assert_int_equal(snap(f, "old")->id[0], 0x00);
	assert_int_equal(snap(f, "old")->id[1], 0x11);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_alter_incremental_set_reaches_every_partition_and_the_snapshot, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_alter_incremental_errors_change_nothing, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_alter_configs_replaces_the_whole_override_set,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_describe_cluster_lists_this_broker_as_controller,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_delete_records_answers_low_watermarks_and_errors,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_delete_records_waiting_at_stop_is_answered_timed_out, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_mlog_restart_restores_topics_partitions_configs_and_deletions,
	                setup_mlog, teardown),
	        cmocka_unit_test_setup_teardown(test_mlog_a_crash_mid_deletion_is_finished_at_start_up,
	                                        setup_mlog, teardown),
	        cmocka_unit_test_setup_teardown(test_mlog_migrates_legacy_topic_files_once, setup_mlog,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
