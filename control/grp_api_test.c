// SPDX-License-Identifier: Apache-2.0
/*
 * grp_api_test.c: the group coordinator on the wire (control/grp_api.c), driven through the
 * control plane's ring and ctl_poll with a fake clock: requests are encoded with the
 * generated codecs, answers decoded with them.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/kproto/api.h"
#include "common/kproto/delete_groups.h"
#include "common/kproto/describe_groups.h"
#include "common/kproto/find_coordinator.h"
#include "common/kproto/heartbeat.h"
#include "common/kproto/join_group.h"
#include "common/kproto/leave_group.h"
#include "common/kproto/list_groups.h"
#include "common/kproto/offset_commit.h"
#include "common/kproto/offset_delete.h"
#include "common/kproto/offset_fetch.h"
#include "common/kproto/sync_group.h"
#include "control/ctrl_int.h"

#define MS 1000000LL

struct fx {
	struct sl_props props;
	char dir[PATH_MAX];
	struct sl_ctrl *c;
	struct sl_arena arena;
	int64_t now;
	struct sl_ctrl_req *done[64];
	unsigned ndone;
};

static void
fx_open(struct fx *f)
{
	struct sl_ctrl_opts o;

	sl_ctrl_opts_default(&o);
	o.log_dir = f->dir;
	o.adv_host = "broker.test";
	o.adv_port = 19092;
	o.node_id = 3;
	o.props = &f->props;
	assert_int_equal(sl_ctrl_create(&f->c, &o), 0);
	assert_int_equal(ctl_prepare(f->c), 0);
	f->ndone = 0;
}

static void
fx_close(struct fx *f)
{
	sl_ctrl_destroy(f->c);
	f->c = NULL;
	for (unsigned i = 0; i < f->ndone; i++) {
		free(f->done[i]->frame);
		free(f->done[i]->resp);
		free(f->done[i]);
	}
	f->ndone = 0;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	sl_props_init(&f->props);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sl-grp-test-XXXXXX");
	if (!mkdtemp(f->dir) || sl_arena_init(&f->arena, 4096, 1 << 24) < 0)
		return -1;
	f->now = 1000000 * MS;
	fx_open(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[PATH_MAX + 16];

	fx_close(f);
	sl_arena_fini(&f->arena);
	sl_props_fini(&f->props);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Runs one iteration at the fake time and collects the answers. */
static void
poll_at(struct fx *f, int64_t now)
{
	struct sl_msg m;

	f->now = now;
	ctl_poll(f->c, f->now);
	while (sl_ring_pop(sl_ctrl_ring_to_shard(f->c, 0), &m)) {
		if (m.type == SL_MSG_CTRL_RESP) {
			assert_true(f->ndone < 64);
			f->done[f->ndone++] = m.ptr;
		}
	}
}

static struct sl_ctrl_req *
send_raw(struct fx *f, int16_t key, int16_t ver, const uint8_t *frame, size_t len)
{
	struct sl_ctrl_req *req = calloc(1, sizeof(*req));
	struct sl_msg m = {.type = SL_MSG_CTRL_REQ, .from = 0};

	req->api_key = key;
	req->api_version = ver;
	req->frame = malloc(len ? len : 1);
	memcpy(req->frame, frame, len);
	req->frame_len = (uint32_t)len;
	m.ptr = req;
	assert_true(sl_ring_push(sl_ctrl_ring_from_shard(f->c, 0), &m));
	poll_at(f, f->now);
	return req;
}

static struct sl_ctrl_req *
send_req(struct fx *f, int16_t key, int16_t ver, const void *body)
{
	struct sl_request_header h;
	struct sl_wbuf w;
	uint8_t *buf;
	struct sl_ctrl_req *req;

	sl_request_header_init(&h);
	h.request_api_key = key;
	h.request_api_version = ver;
	h.correlation_id = 77;
	h.client_id.p = "grp-test";
	h.client_id.len = 8;
	sl_wbuf_init(&w, &f->arena);
	assert_int_equal(sl_request_header_encode(&w, sl_kapi_req_hdr_ver(key, ver), &h), 0);
	assert_int_equal(sl_kproto_encode(&w, key, false, ver, body), 0);
	buf = malloc(w.len);
	sl_wbuf_copyout(&w, buf, w.len);
	req = send_raw(f, key, ver, buf, w.len);
	free(buf);
	return req;
}

static bool
answered(struct fx *f, struct sl_ctrl_req *req)
{
	for (unsigned i = 0; i < f->ndone; i++)
		if (f->done[i] == req)
			return true;
	return false;
}

static void
decode(struct fx *f, struct sl_ctrl_req *req, void *out)
{
	struct sl_response_header rh;
	struct sl_crd rd;
	struct iovec iov;

	assert_true(answered(f, req));
	assert_int_equal(req->close_conn, 0);
	assert_non_null(req->resp);
	assert_int_equal(sl_be32(req->resp), req->resp_len - 4);
	sl_crd_init_buf(&rd, &iov, req->resp + 4, req->resp_len - 4, &f->arena);
	assert_int_equal(sl_response_header_decode(&rd, 0, &rh), 0);
	assert_int_equal(rh.correlation_id, 77);
	assert_int_equal(sl_kproto_decode(&rd, req->api_key, true, req->api_version, out), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
}

static struct sl_str
S(const char *s)
{
	struct sl_str x = {s, (int32_t)strlen(s)};

	return x;
}

static bool
str_eq(struct sl_str a, const char *b)
{
	return a.len == (int32_t)strlen(b) && memcmp(a.p, b, (size_t)a.len) == 0;
}

static void
chain_str(struct fx *f, struct sl_chain *c, const char *s)
{
	assert_int_equal(sl_chain_from_buf(c, &f->arena, s, strlen(s)), 0);
}

static bool
chain_eq(const struct sl_chain *c, const char *s)
{
	char buf[256];

	if (c->len != (int64_t)strlen(s))
		return false;
	sl_chain_copyout(c, buf, sizeof(buf));
	return memcmp(buf, s, strlen(s)) == 0;
}

static struct sl_ctrl_req *
join(struct fx *f, int16_t ver, const char *group, const char *member, const char *proto)
{
	struct sl_join_group_req in;
	struct sl_join_group_req_protocol p;

	sl_join_group_req_init(&in);
	in.group_id = S(group);
	in.member_id = S(member);
	in.session_timeout_ms = 6000;
	in.rebalance_timeout_ms = 10000;
	in.protocol_type = S("consumer");
	sl_join_group_req_protocol_init(&p);
	p.name = S(proto);
	chain_str(f, &p.metadata, "meta-1");
	in.protocols = &p;
	in.protocols_cnt = 1;
	return send_req(f, SL_API_JOIN_GROUP, ver, &in);
}

static int16_t
commit(struct fx *f, int16_t ver, const char *group, int32_t gen, const char *member,
       int64_t offset, const char *meta)
{
	struct sl_offset_commit_req in;
	struct sl_offset_commit_req_topic t;
	struct sl_offset_commit_req_partition p;
	struct sl_offset_commit_resp out;

	sl_offset_commit_req_init(&in);
	sl_offset_commit_req_topic_init(&t);
	sl_offset_commit_req_partition_init(&p);
	in.group_id = S(group);
	in.generation_id_or_member_epoch = gen;
	in.member_id = S(member);
	t.name = S("orders");
	p.partition_index = 2;
	p.committed_offset = offset;
	p.committed_metadata = S(meta);
	t.partitions = &p;
	t.partitions_cnt = 1;
	in.topics = &t;
	in.topics_cnt = 1;
	decode(f, send_req(f, SL_API_OFFSET_COMMIT, ver, &in), &out);
	assert_int_equal(out.topics_cnt, 1);
	assert_int_equal(out.topics[0].partitions_cnt, 1);
	assert_int_equal(out.topics[0].partitions[0].partition_index, 2);
	return out.topics[0].partitions[0].error_code;
}

/* The committed offset of orders/2 (-1: none), with OffsetFetch v1 (explicit partitions)
 * and v5 (null topics: everything of the group), which must agree. */
static int64_t
fetched(struct fx *f, const char *group, char *meta_out)
{
	struct sl_offset_fetch_req in;
	struct sl_offset_fetch_req_topic t;
	struct sl_offset_fetch_resp out;
	int32_t part = 2;
	int64_t off;

	sl_offset_fetch_req_init(&in);
	sl_offset_fetch_req_topic_init(&t);
	in.group_id = S(group);
	t.name = S("orders");
	t.partition_indexes = &part;
	t.partition_indexes_cnt = 1;
	in.topics = &t;
	in.topics_cnt = 1;
	decode(f, send_req(f, SL_API_OFFSET_FETCH, 1, &in), &out);
	assert_int_equal(out.topics_cnt, 1);
	assert_int_equal(out.topics[0].partitions[0].error_code, 0);
	off = out.topics[0].partitions[0].committed_offset;
	if (meta_out) {
		memcpy(meta_out, out.topics[0].partitions[0].metadata.p,
		       (size_t)out.topics[0].partitions[0].metadata.len);
		meta_out[out.topics[0].partitions[0].metadata.len] = 0;
	}
	in.topics = NULL;
	in.topics_cnt = -1;
	decode(f, send_req(f, SL_API_OFFSET_FETCH, 5, &in), &out);
	assert_int_equal(out.error_code, 0);
	if (off < 0) {
		assert_int_equal(out.topics_cnt, 0);
	} else {
		assert_int_equal(out.topics_cnt, 1);
		assert_true(str_eq(out.topics[0].name, "orders"));
		assert_int_equal(out.topics[0].partitions[0].committed_offset, off);
	}
	return off;
}

static void
test_grp_find_coordinator_names_this_broker_for_groups_only(void **state)
{
	struct fx *f = *state;
	struct sl_find_coordinator_req in;
	struct sl_find_coordinator_resp out;

	sl_find_coordinator_req_init(&in);
	in.key = S("g");
	decode(f, send_req(f, SL_API_FIND_COORDINATOR, 0, &in), &out);
	assert_int_equal(out.error_code, 0);
	assert_int_equal(out.node_id, 3);
	assert_true(str_eq(out.host, "broker.test"));
	assert_int_equal(out.port, 19092);
	in.key_type = 1; /* transaction: none here */
	decode(f, send_req(f, SL_API_FIND_COORDINATOR, 2, &in), &out);
	assert_int_equal(out.error_code, 15);
}

static void
test_grp_join_sync_heartbeat_commit_describe_leave_delete_round_trip(void **state)
{
	struct fx *f = *state;
	struct sl_join_group_resp jr;
	struct sl_sync_group_resp sr;
	struct sl_ctrl_req *req;
	char member[128], meta[64];

	/* v4: a first join gets MEMBER_ID_REQUIRED and its id */
	decode(f, join(f, 4, "g1", "", "range"), &jr);
	assert_int_equal(jr.error_code, 79);
	assert_true(jr.member_id.len > 0 && jr.member_id.len < 100);
	memcpy(member, jr.member_id.p, (size_t)jr.member_id.len);
	member[jr.member_id.len] = 0;
	assert_memory_equal(member, "grp-test-", 9);
	/* the join with the id waits for the initial rebalance delay (3000 ms) */
	req = join(f, 4, "g1", member, "range");
	assert_false(answered(f, req));
	poll_at(f, f->now + 2900 * MS);
	assert_false(answered(f, req));
	poll_at(f, f->now + 200 * MS);
	decode(f, req, &jr);
	assert_int_equal(jr.error_code, 0);
	assert_int_equal(jr.generation_id, 1);
	assert_true(str_eq(jr.protocol_name, "range"));
	assert_true(str_eq(jr.leader, member));
	assert_int_equal(jr.members_cnt, 1);
	assert_true(chain_eq(&jr.members[0].metadata, "meta-1"));

	{
		struct sl_sync_group_req in;
		struct sl_sync_group_req_assignment a;

		sl_sync_group_req_init(&in);
		sl_sync_group_req_assignment_init(&a);
		in.group_id = S("g1");
		in.generation_id = 1;
		in.member_id = S(member);
		a.member_id = S(member);
		chain_str(f, &a.assignment, "assign-xyz");
		in.assignments = &a;
		in.assignments_cnt = 1;
		decode(f, send_req(f, SL_API_SYNC_GROUP, 3, &in), &sr);
		assert_int_equal(sr.error_code, 0);
		assert_true(chain_eq(&sr.assignment, "assign-xyz"));
	}
	{
		struct sl_heartbeat_req in;
		struct sl_heartbeat_resp out;

		sl_heartbeat_req_init(&in);
		in.group_id = S("g1");
		in.generation_id = 1;
		in.member_id = S(member);
		decode(f, send_req(f, SL_API_HEARTBEAT, 3, &in), &out);
		assert_int_equal(out.error_code, 0);
		in.generation_id = 7;
		decode(f, send_req(f, SL_API_HEARTBEAT, 3, &in), &out);
		assert_int_equal(out.error_code, 22); /* ILLEGAL_GENERATION */
	}
	assert_int_equal(commit(f, 7, "g1", 1, member, 42, "m"), 0);
	assert_int_equal(commit(f, 7, "g1", 2, member, 43, ""), 22);
	assert_int_equal(commit(f, 7, "g1", -1, "", 44, ""), 25); /* the group has a member */
	assert_int_equal(fetched(f, "g1", meta), 42);
	assert_string_equal(meta, "m");
	{
		struct sl_describe_groups_req in;
		struct sl_describe_groups_resp out;
		struct sl_str ids[2] = {S("g1"), S("nope")};

		sl_describe_groups_req_init(&in);
		in.groups = ids;
		in.groups_cnt = 2;
		decode(f, send_req(f, SL_API_DESCRIBE_GROUPS, 4, &in), &out);
		assert_int_equal(out.groups_cnt, 2);
		assert_true(str_eq(out.groups[0].group_state, "Stable"));
		assert_true(str_eq(out.groups[0].protocol_data, "range"));
		assert_int_equal(out.groups[0].members_cnt, 1);
		assert_true(str_eq(out.groups[0].members[0].client_id, "grp-test"));
		assert_true(chain_eq(&out.groups[0].members[0].member_assignment, "assign-xyz"));
		assert_true(str_eq(out.groups[1].group_state, "Dead"));
	}
	{
		struct sl_list_groups_req in;
		struct sl_list_groups_resp out;

		sl_list_groups_req_init(&in);
		decode(f, send_req(f, SL_API_LIST_GROUPS, 2, &in), &out);
		assert_int_equal(out.error_code, 0);
		assert_int_equal(out.groups_cnt, 1);
		assert_true(str_eq(out.groups[0].group_id, "g1"));
		assert_true(str_eq(out.groups[0].protocol_type, "consumer"));
	}
	{
		struct sl_delete_groups_req in;
		struct sl_delete_groups_resp out;
		struct sl_str ids[1] = {S("g1")};

		sl_delete_groups_req_init(&in);
		in.groups_names = ids;
		in.groups_names_cnt = 1;
		decode(f, send_req(f, SL_API_DELETE_GROUPS, 1, &in), &out);
		assert_int_equal(out.results[0].error_code, 68); /* NON_EMPTY_GROUP */
	}
	{
		struct sl_leave_group_req in;
		struct sl_leave_group_resp out;
		struct sl_leave_group_req_member_identity m[2];

		sl_leave_group_req_init(&in);
		sl_leave_group_req_member_identity_init(&m[0]);
		sl_leave_group_req_member_identity_init(&m[1]);
		in.group_id = S("g1");
		m[0].member_id = S(member);
		m[1].member_id = S("stranger");
		in.members = m;
		in.members_cnt = 2;
		decode(f, send_req(f, SL_API_LEAVE_GROUP, 3, &in), &out);
		assert_int_equal(out.error_code, 0);
		assert_int_equal(out.members_cnt, 2);
		assert_int_equal(out.members[0].error_code, 0);
		assert_int_equal(out.members[1].error_code, 25);
	}
	{
		struct sl_delete_groups_req in;
		struct sl_delete_groups_resp out;
		struct sl_str ids[2] = {S("g1"), S("nope")};

		sl_delete_groups_req_init(&in);
		in.groups_names = ids;
		in.groups_names_cnt = 2;
		decode(f, send_req(f, SL_API_DELETE_GROUPS, 1, &in), &out);
		assert_int_equal(out.results[0].error_code, 0);
		assert_int_equal(out.results[1].error_code, 69); /* GROUP_ID_NOT_FOUND */
	}
	assert_int_equal(fetched(f, "g1", NULL), -1);
}

static void
test_grp_manual_commit_survives_restart_and_offset_delete_removes_it(void **state)
{
	struct fx *f = *state;
	char meta[64];

	assert_int_equal(fetched(f, "manual", NULL), -1);
	assert_int_equal(commit(f, 2, "manual", -1, "", 1000, "first"), 0);
	assert_int_equal(commit(f, 2, "manual", -1, "", 1234, "checkpoint"), 0);
	fx_close(f);
	fx_open(f);
	assert_int_equal(fetched(f, "manual", meta), 1234);
	assert_string_equal(meta, "checkpoint");
	{
		struct sl_offset_delete_req in;
		struct sl_offset_delete_req_topic t;
		struct sl_offset_delete_req_partition p;
		struct sl_offset_delete_resp out;

		sl_offset_delete_req_init(&in);
		sl_offset_delete_req_topic_init(&t);
		sl_offset_delete_req_partition_init(&p);
		in.group_id = S("manual");
		t.name = S("orders");
		p.partition_index = 2;
		t.partitions = &p;
		t.partitions_cnt = 1;
		in.topics = &t;
		in.topics_cnt = 1;
		decode(f, send_req(f, SL_API_OFFSET_DELETE, 0, &in), &out);
		assert_int_equal(out.error_code, 0);
		assert_int_equal(out.topics[0].partitions[0].error_code, 0);
		in.group_id = S("never");
		decode(f, send_req(f, SL_API_OFFSET_DELETE, 0, &in), &out);
		assert_int_equal(out.error_code, 69);
	}
	assert_int_equal(fetched(f, "manual", NULL), -1);
	fx_close(f);
	fx_open(f);
	assert_int_equal(fetched(f, "manual", NULL), -1);
}

static void
test_grp_session_timeout_expels_a_silent_member(void **state)
{
	struct fx *f = *state;
	struct sl_join_group_resp jr;
	struct sl_heartbeat_req in;
	struct sl_heartbeat_resp out;
	struct sl_ctrl_req *req;
	char member[128];

	req = join(f, 3, "g2", "", "roundrobin"); /* v3: no MEMBER_ID_REQUIRED */
	poll_at(f, f->now + 3001 * MS);
	decode(f, req, &jr);
	assert_int_equal(jr.error_code, 0);
	memcpy(member, jr.member_id.p, (size_t)jr.member_id.len);
	member[jr.member_id.len] = 0;
	sl_heartbeat_req_init(&in);
	in.group_id = S("g2");
	in.generation_id = jr.generation_id;
	in.member_id = S(member);
	poll_at(f, f->now + 5000 * MS);
	decode(f, send_req(f, SL_API_HEARTBEAT, 1, &in), &out);
	assert_int_equal(out.error_code, 0); /* CompletingRebalance still accepts heartbeats */
	poll_at(f, f->now + 6100 * MS);
	decode(f, send_req(f, SL_API_HEARTBEAT, 1, &in), &out);
	assert_int_equal(out.error_code, 25); /* UNKNOWN_MEMBER_ID */
}

static void
test_grp_malformed_request_closes_the_connection(void **state)
{
	struct fx *f = *state;
	struct sl_ctrl_req *req;
	/* JoinGroup v1 header, then a group id that claims 200 bytes */
	static const uint8_t frame[] = {0, 11, 0, 1, 0, 0, 0, 77, 0, 1, 'x', 0, 200, 'g'};

	req = send_raw(f, SL_API_JOIN_GROUP, 1, frame, sizeof(frame));
	assert_true(answered(f, req));
	assert_int_equal(req->close_conn, 1);
}

/* Every group api and version: random bodies (small integers often) get an answer
 * or a close, never a crash (run it under ASan). */
static void
test_grp_random_request_bodies_are_answered_or_closed(void **state)
{
	struct fx *f = *state;
	static const int16_t keys[][2] = {{8, 7}, {9, 5}, {10, 2}, {11, 5}, {12, 3}, {13, 3},
	                                  {14, 3}, {15, 4}, {16, 2}, {42, 1}, {47, 0}};
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	unsigned total = 0, decoded = 0;

	for (unsigned k = 0; k < SL_ARRAY_SIZE(keys); k++) {
		for (int16_t v = 0; v <= keys[k][1]; v++) {
			uint8_t frame[96];

			for (int it = 0; it < 60; it++) {
				struct sl_ctrl_req *req;
				size_t n = 10 + (size_t)(rnd % 80);

				for (size_t i = 0; i < sizeof(frame); i++) {
					rnd ^= rnd << 13;
					rnd ^= rnd >> 7;
					rnd ^= rnd << 17;
					frame[i] = (uint8_t)(it % 3 ? rnd % 4 : rnd); /* small ints often */
				}
				sl_put_be16(frame, (uint16_t)keys[k][0]);
				sl_put_be16(frame + 2, (uint16_t)v);
				sl_put_be32(frame + 4, 77);
				sl_put_be16(frame + 8, 0); /* client id "" */
				req = send_raw(f, keys[k][0], v, frame, n);
				poll_at(f, f->now + 10000 * MS); /* fire timers: parked joins */
				if (!answered(f, req))
					continue; /* parked (a join or sync): answered at destroy */
				assert_true(req->close_conn || (req->resp && req->resp_len >= 8));
				total++;
				decoded += !req->close_conn;
				if (f->ndone > 48) {
					fx_close(f);
					fx_open(f);
				}
			}
		}
	}
	print_message("%u answered, %u of them decoded\n", total, decoded);
	assert_true(total > 500);
	assert_true(decoded > 50); /* the handlers ran, not only the decoders */
}

static int64_t fake_wall;

static int64_t
fake_wall_ms(void)
{
	return fake_wall;
}

static void
test_grp_broker_configs_set_rebalance_delay_and_offset_expiry_of_empty_groups(void **state)
{
	struct fx *f = *state;
	struct sl_join_group_resp jr;

	fx_close(f);
	assert_int_equal(sl_props_set(&f->props, "group.initial.rebalance.delay.ms", "0", "test"), 0);
	assert_int_equal(sl_props_set(&f->props, "offsets.retention.minutes", "2", "test"), 0);
	assert_int_equal(
	        sl_props_set(&f->props, "offsets.retention.check.interval.ms", "1000", "test"), 0);
	fx_open(f);
	fake_wall = 1700000000000;
	ctl_grp_set_wall_clock(f->c, fake_wall_ms);
	/* delay 0: the first join is answered at once */
	decode(f, join(f, 3, "live", "", "range"), &jr);
	assert_int_equal(jr.error_code, 0);
	assert_int_equal(commit(f, 5, "live", jr.generation_id, "", 5, ""), 25);
	{
		char member[128];
		struct sl_sync_group_req in;
		struct sl_sync_group_resp sr;

		memcpy(member, jr.member_id.p, (size_t)jr.member_id.len);
		member[jr.member_id.len] = 0;
		/* CompletingRebalance refuses commits until the SyncGroup */
		assert_int_equal(commit(f, 5, "live", jr.generation_id, member, 5, ""), 27);
		sl_sync_group_req_init(&in);
		in.group_id = S("live");
		in.generation_id = jr.generation_id;
		in.member_id = S(member);
		in.assignments_cnt = 0;
		decode(f, send_req(f, SL_API_SYNC_GROUP, 1, &in), &sr);
		assert_int_equal(sr.error_code, 0);
		assert_int_equal(commit(f, 5, "live", jr.generation_id, member, 5, ""), 0);
	}
	assert_int_equal(commit(f, 5, "idle", -1, "", 7, ""), 0);
	/* 119 s later: nothing expired yet */
	fake_wall += 119000;
	poll_at(f, f->now + 2000 * MS);
	assert_int_equal(fetched(f, "idle", NULL), 7);
	/* 2 min passed: the empty group's offsets go, the group with a member keeps its own
	 * (its member must stay alive: heartbeat first) */
	{
		struct sl_heartbeat_req in;
		struct sl_heartbeat_resp out;
		char member[128];

		memcpy(member, jr.member_id.p, (size_t)jr.member_id.len);
		member[jr.member_id.len] = 0;
		sl_heartbeat_req_init(&in);
		in.group_id = S("live");
		in.generation_id = jr.generation_id;
		in.member_id = S(member);
		decode(f, send_req(f, SL_API_HEARTBEAT, 1, &in), &out);
		assert_int_equal(out.error_code, 0);
	}
	fake_wall += 2000;
	poll_at(f, f->now + 1500 * MS);
	assert_int_equal(fetched(f, "idle", NULL), -1);
	assert_int_equal(fetched(f, "live", NULL), 5);
	fx_close(f);
	fx_open(f);
	assert_int_equal(fetched(f, "idle", NULL), -1);
	assert_int_equal(fetched(f, "live", NULL), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_grp_find_coordinator_names_this_broker_for_groups_only, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_grp_join_sync_heartbeat_commit_describe_leave_delete_round_trip, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_grp_manual_commit_survives_restart_and_offset_delete_removes_it, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_grp_session_timeout_expels_a_silent_member,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_grp_malformed_request_closes_the_connection,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_grp_broker_configs_set_rebalance_delay_and_offset_expiry_of_empty_groups,
	                setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_grp_random_request_bodies_are_answered_or_closed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
