// SPDX-License-Identifier: Apache-2.0
/*
 * grp_api.c: the group coordinator on the wire. FindCoordinator, JoinGroup, SyncGroup,
 * Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups,
 * DeleteGroups and OffsetDelete, decoded with the generated codecs (common/kproto/) and
 * answered as SL_MSG_CTRL_RESP, on the control thread.
 *
 * The group state machine is control/group.c (pure); committed offsets are
 * control/offsets.c. This file owns both (struct ctl_grp, hung off struct sl_ctrl), maps
 * requests to them, drives the group timers from the control loop (ctl_grp_poll) and
 * expires the offsets of groups without members (offsets.retention.minutes).
 *
 * JoinGroup and SyncGroup may be parked by the state machine: their struct sl_ctrl_req
 * waits in a malloc'ed struct grp_call until the completion runs, which encodes the answer
 * at once (what it is given is borrowed for the call only) into this file's own arena, so a
 * completion that runs in the middle of another request never disturbs that request's
 * decoded data in the control plane's arena.
 *
 * Broker configs read (from the broker's props): group.initial.rebalance.delay.ms (3000),
 * group.min.session.timeout.ms (6000), group.max.session.timeout.ms (1800000),
 * group.max.size, offsets.retention.minutes (10080), offsets.retention.check.interval.ms
 * (600000), offset.metadata.max.bytes (4096).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/bytes.h"
#include "common/clock.h"
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
#include "common/log.h"
#include "control/ctrl_int.h"
#include "control/group.h"
#include "control/offsets.h"

#define ARENA_BLK (64 * 1024)
#define ARENA_MAX (64 * 1024 * 1024)

enum {
	KERR_OFFSET_METADATA_TOO_LARGE = 12,
	KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KERR_INVALID_GROUP_ID = 24,
	KERR_GROUP_ID_NOT_FOUND = 69,
	KERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
};

struct ctl_grp {
	struct sl_group_tab *tab;
	struct sl_offs *offs;
	struct sl_arena arena; /* answers of parked requests */
	int64_t retention_ms;  /* offsets.retention.minutes */
	int64_t check_ms;      /* offsets.retention.check.interval.ms */
	int64_t next_check_ms; /* monotonic */
	int32_t meta_max;      /* offset.metadata.max.bytes */
	int64_t (*wall_ms)(void); /* commit timestamps and expiry: sl_wall_ms (tests: fake) */
	int64_t start_wall_ms;    /* wall clock of the first poll */
};

/* A parked JoinGroup / SyncGroup. */
struct grp_call {
	struct sl_group_join_cpl jc;
	struct sl_group_sync_cpl sc;
	struct sl_ctrl *c;
	struct sl_ctrl_req *req;
	uint16_t shard;
};

static int64_t
now_ms(const struct sl_ctrl *c)
{
	return c->now_ns / 1000000;
}

static int64_t
prop_i64(struct sl_ctrl *c, const char *key, int64_t dflt, int64_t min, int64_t max)
{
	const char *s = ctl_bprop(c, key);
	char *end;
	long long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		SL_WARN("control: %s=%s is not an integer in [%" PRId64 ", %" PRId64
		        "]; using %" PRId64,
		        key, s, min, max, dflt);
		return dflt;
	}
	return v;
}

/* ---- lifecycle ---- */

int
ctl_grp_init(struct sl_ctrl *c)
{
	struct sl_group_cfg cfg;
	struct ctl_grp *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	sl_group_cfg_default(&cfg);
	cfg.min_session_timeout_ms = (int32_t)prop_i64(c, "group.min.session.timeout.ms",
	                                               cfg.min_session_timeout_ms, 0, INT32_MAX);
	cfg.max_session_timeout_ms = (int32_t)prop_i64(c, "group.max.session.timeout.ms",
	                                               cfg.max_session_timeout_ms, 0, INT32_MAX);
	cfg.initial_rebalance_delay_ms =
	        (int32_t)prop_i64(c, "group.initial.rebalance.delay.ms",
	                          cfg.initial_rebalance_delay_ms, 0, INT32_MAX);
	cfg.max_size = (int32_t)prop_i64(c, "group.max.size", cfg.max_size, 1, INT32_MAX);
	if (getrandom(&cfg.seed, sizeof(cfg.seed), GRND_NONBLOCK) != sizeof(cfg.seed))
		cfg.seed = (uint64_t)sl_now_ns() ^ (uint64_t)(uintptr_t)g;
	g->retention_ms = prop_i64(c, "offsets.retention.minutes", 10080, 1, INT32_MAX) * 60000;
	g->check_ms = prop_i64(c, "offsets.retention.check.interval.ms", 600000, 1, INT64_MAX / 2);
	g->meta_max = (int32_t)prop_i64(c, "offset.metadata.max.bytes", 4096, 0, SL_OFFS_META_MAX);
	g->wall_ms = sl_wall_ms;
	r = sl_group_tab_create(&g->tab, &cfg);
	if (r < 0) {
		free(g);
		return r;
	}
	if (sl_arena_init(&g->arena, ARENA_BLK, ARENA_MAX) < 0) {
		sl_group_tab_destroy(g->tab);
		free(g);
		return -ENOMEM;
	}
	c->grp = g;
	return 0;
}

int
ctl_grp_load(struct sl_ctrl *c)
{
	int r;

	if (!c->grp)
		return -EINVAL;
	if (c->grp->offs)
		return 0;
	/* <log_dir>/__consumer_offsets-0 on the control thread's store (O: mlog.c) */
	r = ctl_offs_open(c, &c->grp->offs);
	if (r == 0)
		SL_INFO("control: %zu committed offsets restored",
		        sl_offs_count(c->grp->offs, NULL, 0));
	return r;
}

void
ctl_grp_fini(struct sl_ctrl *c)
{
	struct ctl_grp *g = c->grp;

	if (!g)
		return;
	/* Parked JoinGroup / SyncGroup are answered NOT_COORDINATOR here (they rejoin). */
	sl_group_tab_destroy(g->tab);
	g->tab = NULL;
	sl_offs_close(g->offs);
	sl_arena_fini(&g->arena);
	free(g);
	c->grp = NULL;
}

static bool
group_may_expire(void *arg, const char *group, size_t glen)
{
	struct sl_ctrl *c = arg;
	struct sl_group_desc d;
	struct sl_str id = {group, (int32_t)glen};

	sl_group_describe(c->grp->tab, id, &d);
	return d.state == SL_GROUP_EMPTY || d.state == SL_GROUP_DEAD;
}

void
ctl_grp_poll(struct sl_ctrl *c)
{
	struct ctl_grp *g = c->grp;
	int64_t now = now_ms(c);

	if (!g)
		return;
	if (sl_group_next_deadline(g->tab) <= now)
		sl_group_tick(g->tab, now);
	if (!g->start_wall_ms)
		g->start_wall_ms = g->wall_ms();
	/*
	 * Offsets of groups without members expire retention after their commit. Group state
	 * is not persisted, so after a start every group looks empty until its members
	 * rejoin: nothing expires before the broker has been up for the retention period
	 * (Kafka counts from the moment the group became empty; sluice cannot know it).
	 */
	if (g->offs && now >= g->next_check_ms) {
		int64_t wall = g->wall_ms();
		int r = 0;

		if (wall - g->retention_ms >= g->start_wall_ms)
			r = sl_offs_expire(g->offs, wall - g->retention_ms, group_may_expire, c);
		if (r > 0 && sl_offs_sync(g->offs) == 0)
			SL_INFO("control: %d committed offsets expired", r);
		g->next_check_ms = now + g->check_ms;
	}
	if (g->offs) /* compaction of the offsets log on its own schedule (O) */
		(void)sl_offs_poll(g->offs, sl_wall_ms());
}

int64_t
ctl_grp_wait_ms(struct sl_ctrl *c, int64_t wait)
{
	int64_t dl;

	if (!c->grp)
		return wait;
	dl = sl_group_next_deadline(c->grp->tab);
	if (dl != INT64_MAX) {
		int64_t left = dl - now_ms(c) + 1;

		if (left < wait)
			wait = left < 0 ? 0 : left;
	}
	return wait;
}

void
ctl_grp_set_wall_clock(struct sl_ctrl *c, int64_t (*wall_ms)(void))
{
	if (c->grp)
		c->grp->wall_ms = wall_ms ? wall_ms : sl_wall_ms;
}

/* ---- answers ---- */

/* Encodes body as the complete answer to req with arena a, queues it, resets a. */
static void
grp_answer(struct sl_ctrl *c, struct sl_arena *a, uint16_t shard, struct sl_ctrl_req *req,
           const void *body)
{
	struct sl_msg m = {.type = SL_MSG_CTRL_RESP, .from = SL_MSG_FROM_CONTROL, .ptr = req};
	struct sl_wbuf w;
	uint8_t *size, *buf;

	sl_wbuf_init(&w, a);
	size = sl_wbuf_reserve(&w, 4);
	sl_response_header_write(&w, req->api_key, req->api_version, req->correlation_id);
	if (!size || sl_kproto_encode(&w, req->api_key, true, req->api_version, body) < 0 ||
	    w.err || w.len > INT32_MAX) {
		SL_LOG_RATELIMIT(SL_LOG_ERROR, "control: cannot encode the answer to api %d v%d",
		                 req->api_key, req->api_version);
		req->close_conn = 1;
	} else if (!(buf = malloc(w.len))) {
		req->close_conn = 1;
	} else {
		sl_put_be32(size, (uint32_t)(w.len - 4));
		sl_wbuf_copyout(&w, buf, w.len);
		free(req->resp);
		req->resp = buf;
		req->resp_len = (uint32_t)w.len;
	}
	ctl_push_resp(c, shard, &m);
	sl_arena_reset(a);
}

/* -errno of the state machine -> Kafka code. */
static int16_t
errno_kerr(int r)
{
	if (r >= 0)
		return (int16_t)r;
	return r == -EINVAL ? KERR_INVALID_REQUEST : KERR_COORDINATOR_NOT_AVAILABLE;
}

static struct sl_str
nn(struct sl_str s)
{
	if (s.len < 0) {
		s.p = "";
		s.len = 0;
	}
	return s;
}

/* Contiguous view of a request blob (copied into a when it is split). */
static int
chain_blob(struct sl_arena *a, const struct sl_chain *ch, struct sl_group_blob *out)
{
	out->p = NULL;
	out->len = 0;
	if (ch->len <= 0 || ch->n == 0)
		return 0;
	if (ch->len > INT32_MAX)
		return -EINVAL;
	if (ch->n == 1) {
		out->p = ch->iov[0].iov_base;
	} else {
		uint8_t *p = sl_arena_alloc(a, (size_t)ch->len);

		if (!p)
			return -ENOMEM;
		sl_chain_copyout(ch, p, (size_t)ch->len);
		out->p = p;
	}
	out->len = (int32_t)ch->len;
	return 0;
}

static int
blob_chain(struct sl_arena *a, const struct sl_group_blob *b, struct sl_chain *out)
{
	static const uint8_t empty[1];

	return sl_chain_from_buf(out, a, b->len > 0 ? b->p : empty, b->len > 0 ? (size_t)b->len : 0);
}

/* ---- FindCoordinator ---- */

static int16_t
coord_err(int8_t key_type)
{
	if (key_type == 0)
		return KERR_NONE;
	/* Transactions are not implemented: no transaction coordinator. */
	return key_type == 1 ? KERR_COORDINATOR_NOT_AVAILABLE : KERR_INVALID_REQUEST;
}

static int
find_coordinator(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_find_coordinator_req in;
	struct sl_find_coordinator_resp out;
	struct sl_str host = {c->adv_host, (int32_t)strlen(c->adv_host)};

	sl_find_coordinator_req_init(&in);
	if (sl_find_coordinator_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	sl_find_coordinator_resp_init(&out);
	if (req->api_version < 4) {
		out.error_code = coord_err(in.key_type);
		if (out.error_code == KERR_NONE) {
			out.node_id = c->o.node_id;
			out.host = host;
			out.port = c->o.adv_port;
		} else {
			out.host.p = "";
			out.host.len = 0;
			out.error_message.p = "no coordinator for this key type";
			out.error_message.len = (int32_t)strlen(out.error_message.p);
		}
	} else {
		int32_t n = in.coordinator_keys_cnt < 0 ? 0 : in.coordinator_keys_cnt;

		out.coordinators = sl_arena_zalloc(&c->arena, (size_t)(n ? n : 1) *
		                                                      sizeof(*out.coordinators));
		if (!out.coordinators)
			return -ENOMEM;
		out.coordinators_cnt = n;
		for (int32_t i = 0; i < n; i++) {
			struct sl_find_coordinator_resp_coordinator *k = &out.coordinators[i];

			sl_find_coordinator_resp_coordinator_init(k);
			k->key = nn(in.coordinator_keys[i]);
			k->error_code = coord_err(in.key_type);
			k->node_id = k->error_code ? -1 : c->o.node_id;
			k->host = k->error_code ? (struct sl_str){"", 0} : host;
			k->port = k->error_code ? -1 : c->o.adv_port;
		}
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- JoinGroup ---- */

static void
join_done(struct sl_group_join_cpl *jc, const struct sl_group_join_resp *r)
{
	struct grp_call *k = SL_CONTAINER_OF(jc, struct grp_call, jc);
	struct sl_ctrl *c = k->c;
	struct sl_arena *a = &c->grp->arena;
	struct sl_join_group_resp out;

	sl_join_group_resp_init(&out);
	out.error_code = r->error_code;
	out.generation_id = r->generation_id;
	out.protocol_type = r->protocol_type;
	out.protocol_name = r->protocol_name;
	if (k->req->api_version < 7) { /* non-nullable before v7 */
		out.protocol_type = nn(out.protocol_type);
		out.protocol_name = nn(out.protocol_name);
	}
	out.leader = nn(r->leader);
	out.member_id = nn(r->member_id);
	if (r->members_cnt > 0) {
		out.members = sl_arena_zalloc(a, (size_t)r->members_cnt * sizeof(*out.members));
		if (!out.members) {
			out.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
		} else {
			out.members_cnt = r->members_cnt;
			for (int32_t i = 0; i < r->members_cnt; i++) {
				struct sl_join_group_resp_member *m = &out.members[i];

				sl_join_group_resp_member_init(m);
				m->member_id = r->members[i].member_id;
				m->group_instance_id = r->members[i].group_instance_id;
				if (blob_chain(a, &r->members[i].metadata, &m->metadata) < 0) {
					out.members_cnt = 0;
					out.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
					break;
				}
			}
		}
	}
	grp_answer(c, a, k->shard, k->req, &out);
	free(k);
}

/* A parked JoinGroup/SyncGroup: lives until its completion runs (the state machine may answer
 * it long after the request that created it). */
static struct grp_call *
grp_call_new(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req)
{
	struct grp_call *k = calloc(1, sizeof(*k));

	if (k) {
		k->c = c;
		k->req = req;
		k->shard = shard;
	}
	return k;
}

static int
join_group(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd,
           struct sl_str client_id)
{
	struct sl_join_group_req in;
	struct sl_group_join_req jr;
	struct sl_group_protocol *protos = NULL;
	struct grp_call *k;
	int r;

	sl_join_group_req_init(&in);
	if (sl_join_group_req_decode(rd, req->api_version, &in) < 0 || in.protocols_cnt < 0)
		return -EBADMSG;
	k = grp_call_new(c, shard, req);
	if (!k)
		return -ENOMEM;
	k->jc.fn = join_done;
	if (in.protocols_cnt > 0) {
		protos = sl_arena_zalloc(&c->arena, (size_t)in.protocols_cnt * sizeof(*protos));
		if (!protos) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (int32_t i = 0; i < in.protocols_cnt; i++) {
		protos[i].name = in.protocols[i].name;
		r = chain_blob(&c->arena, &in.protocols[i].metadata, &protos[i].metadata);
		if (r < 0)
			goto fail;
	}
	memset(&jr, 0, sizeof(jr));
	jr.group_id = in.group_id;
	jr.member_id = in.member_id;
	jr.group_instance_id = req->api_version >= 5 ? in.group_instance_id : (struct sl_str){NULL, -1};
	jr.client_id = nn(client_id);
	jr.client_host.p = "/127.0.0.1"; /* the shard does not pass the peer address */
	jr.client_host.len = (int32_t)strlen(jr.client_host.p);
	jr.session_timeout_ms = in.session_timeout_ms;
	jr.rebalance_timeout_ms = req->api_version >= 1 ? in.rebalance_timeout_ms : -1;
	jr.protocol_type = in.protocol_type;
	jr.protocols = protos;
	jr.protocols_cnt = in.protocols_cnt;
	jr.require_known_member_id = req->api_version >= 4;
	r = sl_group_join(c->grp->tab, &jr, now_ms(c), &k->jc);
	if (r == 0)
		return 0; /* k belongs to the completion now (maybe already freed) */
fail: {
	struct sl_group_join_resp e = {.error_code = errno_kerr(r),
	                               .generation_id = -1,
	                               .protocol_type = {NULL, -1},
	                               .protocol_name = {NULL, -1},
	                               .leader = {"", 0},
	                               .member_id = nn(in.member_id)};

	join_done(&k->jc, &e);
	return 0;
}
}

/* ---- SyncGroup ---- */

static void
sync_done(struct sl_group_sync_cpl *sc, const struct sl_group_sync_resp *r)
{
	struct grp_call *k = SL_CONTAINER_OF(sc, struct grp_call, sc);
	struct sl_ctrl *c = k->c;
	struct sl_arena *a = &c->grp->arena;
	struct sl_sync_group_resp out;

	sl_sync_group_resp_init(&out);
	out.error_code = r->error_code;
	out.protocol_type = r->protocol_type;
	out.protocol_name = r->protocol_name;
	if (blob_chain(a, &r->assignment, &out.assignment) < 0) {
		static const struct sl_group_blob none;

		out.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
		(void)!blob_chain(a, &none, &out.assignment);
	}
	grp_answer(c, a, k->shard, k->req, &out);
	free(k);
}

static int
sync_group(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_sync_group_req in;
	struct sl_group_sync_req sr;
	struct sl_group_assignment *as = NULL;
	struct grp_call *k;
	int r;

	sl_sync_group_req_init(&in);
	if (sl_sync_group_req_decode(rd, req->api_version, &in) < 0 || in.assignments_cnt < 0)
		return -EBADMSG;
	k = grp_call_new(c, shard, req);
	if (!k)
		return -ENOMEM;
	k->sc.fn = sync_done;
	if (in.assignments_cnt > 0) {
		as = sl_arena_zalloc(&c->arena, (size_t)in.assignments_cnt * sizeof(*as));
		if (!as) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (int32_t i = 0; i < in.assignments_cnt; i++) {
		as[i].member_id = in.assignments[i].member_id;
		r = chain_blob(&c->arena, &in.assignments[i].assignment, &as[i].assignment);
		if (r < 0)
			goto fail;
	}
	memset(&sr, 0, sizeof(sr));
	sr.group_id = in.group_id;
	sr.member_id = in.member_id;
	sr.group_instance_id = req->api_version >= 3 ? in.group_instance_id : (struct sl_str){NULL, -1};
	sr.generation_id = in.generation_id;
	sr.protocol_type = req->api_version >= 5 ? in.protocol_type : (struct sl_str){NULL, -1};
	sr.protocol_name = req->api_version >= 5 ? in.protocol_name : (struct sl_str){NULL, -1};
	sr.assignments = as;
	sr.assignments_cnt = in.assignments_cnt;
	r = sl_group_sync(c->grp->tab, &sr, now_ms(c), &k->sc);
	if (r == 0)
		return 0;
fail: {
	struct sl_group_sync_resp e = {.error_code = errno_kerr(r),
	                               .protocol_type = {NULL, -1},
	                               .protocol_name = {NULL, -1}};

	sync_done(&k->sc, &e);
	return 0;
}
}

/* ---- Heartbeat, LeaveGroup ---- */

static int
heartbeat(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_heartbeat_req in;
	struct sl_heartbeat_resp out;
	struct sl_group_member_ref ref;

	sl_heartbeat_req_init(&in);
	if (sl_heartbeat_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	ref.group_id = in.group_id;
	ref.member_id = in.member_id;
	ref.group_instance_id = req->api_version >= 3 ? in.group_instance_id : (struct sl_str){NULL, -1};
	ref.generation_id = in.generation_id;
	sl_heartbeat_resp_init(&out);
	out.error_code = errno_kerr(sl_group_heartbeat(c->grp->tab, &ref, now_ms(c)));
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

static int
leave_group(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_leave_group_req in;
	struct sl_leave_group_resp out;
	struct sl_group_leave_member *ms;
	int32_t n;
	int r;

	sl_leave_group_req_init(&in);
	if (sl_leave_group_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	n = req->api_version >= 3 ? (in.members_cnt < 0 ? 0 : in.members_cnt) : 1;
	ms = sl_arena_zalloc(&c->arena, (size_t)(n ? n : 1) * sizeof(*ms));
	if (!ms)
		return -ENOMEM;
	if (req->api_version >= 3) {
		for (int32_t i = 0; i < n; i++) {
			ms[i].member_id = nn(in.members[i].member_id);
			ms[i].group_instance_id = in.members[i].group_instance_id;
		}
	} else {
		ms[0].member_id = nn(in.member_id);
		ms[0].group_instance_id.len = -1;
	}
	sl_leave_group_resp_init(&out);
	r = sl_group_leave(c->grp->tab, in.group_id, ms, n, now_ms(c));
	out.error_code = errno_kerr(r);
	if (req->api_version < 3) {
		if (out.error_code == KERR_NONE)
			out.error_code = ms[0].error_code;
	} else if (r >= 0) {
		out.members = sl_arena_zalloc(&c->arena, (size_t)(n ? n : 1) * sizeof(*out.members));
		if (!out.members)
			return -ENOMEM;
		out.members_cnt = n;
		for (int32_t i = 0; i < n; i++) {
			sl_leave_group_resp_member_response_init(&out.members[i]);
			out.members[i].member_id = ms[i].member_id;
			out.members[i].group_instance_id = ms[i].group_instance_id;
			out.members[i].error_code = r == KERR_NONE ? ms[i].error_code : (int16_t)r;
		}
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- OffsetCommit ---- */

static int
offset_commit(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct ctl_grp *g = c->grp;
	struct sl_offset_commit_req in;
	struct sl_offset_commit_resp out;
	struct sl_group_member_ref ref;
	int16_t gerr;
	bool wrote = false;
	int64_t wall = g->wall_ms();

	sl_offset_commit_req_init(&in);
	if (sl_offset_commit_req_decode(rd, req->api_version, &in) < 0 || in.topics_cnt < 0)
		return -EBADMSG;
	ref.group_id = in.group_id;
	ref.member_id = nn(in.member_id);
	ref.group_instance_id = req->api_version >= 7 ? in.group_instance_id : (struct sl_str){NULL, -1};
	ref.generation_id = req->api_version >= 1 ? in.generation_id_or_member_epoch : -1;
	gerr = errno_kerr(sl_group_commit_check(g->tab, &ref, false, now_ms(c)));
	if (gerr == KERR_NONE && (in.group_id.len <= 0 || in.group_id.len > SL_OFFS_STR_MAX))
		gerr = KERR_INVALID_GROUP_ID;
	if (gerr == KERR_NONE && !g->offs)
		gerr = KERR_COORDINATOR_NOT_AVAILABLE;
	sl_offset_commit_resp_init(&out);
	out.topics = sl_arena_zalloc(&c->arena, (size_t)(in.topics_cnt ? in.topics_cnt : 1) *
	                                                sizeof(*out.topics));
	if (!out.topics)
		return -ENOMEM;
	out.topics_cnt = in.topics_cnt;
	for (int32_t i = 0; i < in.topics_cnt; i++) {
		const struct sl_offset_commit_req_topic *t = &in.topics[i];
		struct sl_offset_commit_resp_topic *ot = &out.topics[i];
		int32_t np = t->partitions_cnt < 0 ? 0 : t->partitions_cnt;

		sl_offset_commit_resp_topic_init(ot);
		ot->name = nn(t->name);
		ot->partitions = sl_arena_zalloc(&c->arena, (size_t)(np ? np : 1) *
		                                                    sizeof(*ot->partitions));
		if (!ot->partitions)
			return -ENOMEM;
		ot->partitions_cnt = np;
		for (int32_t j = 0; j < np; j++) {
			const struct sl_offset_commit_req_partition *p = &t->partitions[j];
			struct sl_offset_commit_resp_partition *op = &ot->partitions[j];
			struct sl_offs_val v;
			int16_t err = gerr;

			sl_offset_commit_resp_partition_init(op);
			op->partition_index = p->partition_index;
			if (err == KERR_NONE && p->committed_metadata.len > g->meta_max)
				err = KERR_OFFSET_METADATA_TOO_LARGE;
			if (err == KERR_NONE && (t->name.len <= 0 || t->name.len > SL_OFFS_STR_MAX))
				err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			if (err == KERR_NONE) {
				v.offset = p->committed_offset;
				v.leader_epoch = req->api_version >= 6 ? p->committed_leader_epoch : -1;
				v.commit_ts_ms = req->api_version == 1 && p->commit_timestamp >= 0
				                         ? p->commit_timestamp
				                         : wall;
				v.metadata = p->committed_metadata.p;
				v.metadata_len = p->committed_metadata.len;
				if (sl_offs_put(g->offs, in.group_id.p, (size_t)in.group_id.len,
				                t->name.p, (size_t)t->name.len, p->partition_index,
				                &v) < 0)
					err = KERR_COORDINATOR_NOT_AVAILABLE;
				else
					wrote = true;
			}
			op->error_code = err;
		}
	}
	/* Durable before the answer: a failed sync fails every partition written. */
	if (wrote && sl_offs_sync(g->offs) < 0)
		for (int32_t i = 0; i < out.topics_cnt; i++)
			for (int32_t j = 0; j < out.topics[i].partitions_cnt; j++)
				if (out.topics[i].partitions[j].error_code == KERR_NONE)
					out.topics[i].partitions[j].error_code =
					        KERR_COORDINATOR_NOT_AVAILABLE;
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- OffsetFetch ---- */

static void
fill_fetched(struct ctl_grp *g, struct sl_str group, struct sl_str topic,
             struct sl_offset_fetch_resp_partition *op, int32_t partition)
{
	const struct sl_offs_val *v = NULL;

	sl_offset_fetch_resp_partition_init(op);
	op->partition_index = partition;
	if (g->offs && group.len >= 0 && topic.len >= 0)
		v = sl_offs_get(g->offs, group.p, (size_t)group.len, topic.p, (size_t)topic.len,
		                partition);
	op->committed_offset = v ? v->offset : -1;
	op->committed_leader_epoch = v ? v->leader_epoch : -1;
	op->metadata.p = v && v->metadata_len > 0 ? v->metadata : "";
	op->metadata.len = v && v->metadata_len > 0 ? v->metadata_len : 0;
	op->error_code = KERR_NONE;
}

struct fetch_all {
	struct sl_arena *a;
	struct sl_offs_entry *v;
	size_t n, cap;
	bool oom;
};

static void
collect(void *arg, const struct sl_offs_entry *e)
{
	struct fetch_all *f = arg;

	if (f->oom || f->n == f->cap)
		return;
	f->v[f->n++] = *e;
}

static int
cmp_entry(const void *pa, const void *pb)
{
	const struct sl_offs_entry *a = pa, *b = pb;
	size_t n = a->topic_len < b->topic_len ? a->topic_len : b->topic_len;
	int d = memcmp(a->topic, b->topic, n);

	if (d)
		return d;
	if (a->topic_len != b->topic_len)
		return a->topic_len < b->topic_len ? -1 : 1;
	return a->partition < b->partition ? -1 : a->partition > b->partition;
}

static int
offset_fetch(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct ctl_grp *g = c->grp;
	struct sl_offset_fetch_req in;
	struct sl_offset_fetch_resp out;

	sl_offset_fetch_req_init(&in);
	if (sl_offset_fetch_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	sl_offset_fetch_resp_init(&out);
	out.error_code = in.group_id.len < 0 ? KERR_INVALID_GROUP_ID : KERR_NONE;
	if (!g->offs)
		out.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
	if (out.error_code != KERR_NONE && req->api_version < 2)
		return -EBADMSG; /* v0-1 have no top-level error: cannot happen with a group id */
	if (out.error_code == KERR_NONE && in.topics_cnt >= 0) {
		out.topics = sl_arena_zalloc(&c->arena, (size_t)(in.topics_cnt ? in.topics_cnt : 1) *
		                                                sizeof(*out.topics));
		if (!out.topics)
			return -ENOMEM;
		out.topics_cnt = in.topics_cnt;
		for (int32_t i = 0; i < in.topics_cnt; i++) {
			const struct sl_offset_fetch_req_topic *t = &in.topics[i];
			struct sl_offset_fetch_resp_topic *ot = &out.topics[i];
			int32_t np = t->partition_indexes_cnt < 0 ? 0 : t->partition_indexes_cnt;

			sl_offset_fetch_resp_topic_init(ot);
			ot->name = nn(t->name);
			ot->partitions = sl_arena_zalloc(&c->arena, (size_t)(np ? np : 1) *
			                                                    sizeof(*ot->partitions));
			if (!ot->partitions)
				return -ENOMEM;
			ot->partitions_cnt = np;
			for (int32_t j = 0; j < np; j++)
				fill_fetched(g, in.group_id, t->name, &ot->partitions[j],
				             t->partition_indexes[j]);
		}
	} else if (out.error_code == KERR_NONE) {
		/* null topics (v2+): everything the group committed, by topic */
		struct fetch_all f = {.a = &c->arena};
		int32_t nt = 0;

		f.cap = sl_offs_count(g->offs, in.group_id.p, (size_t)in.group_id.len);
		f.v = sl_arena_zalloc(&c->arena, (f.cap ? f.cap : 1) * sizeof(*f.v));
		out.topics = sl_arena_zalloc(&c->arena, (f.cap ? f.cap : 1) * sizeof(*out.topics));
		if (!f.v || !out.topics)
			return -ENOMEM;
		sl_offs_foreach(g->offs, in.group_id.p, (size_t)in.group_id.len, collect, &f);
		qsort(f.v, f.n, sizeof(*f.v), cmp_entry);
		for (size_t i = 0; i < f.n;) {
			struct sl_offset_fetch_resp_topic *ot = &out.topics[nt++];
			struct sl_str tn = {f.v[i].topic, f.v[i].topic_len};
			size_t j = i;

			while (j < f.n && f.v[j].topic_len == tn.len &&
			       memcmp(f.v[j].topic, tn.p, (size_t)tn.len) == 0)
				j++;
			sl_offset_fetch_resp_topic_init(ot);
			ot->name = tn;
			ot->partitions = sl_arena_zalloc(&c->arena, (j - i) * sizeof(*ot->partitions));
			if (!ot->partitions)
				return -ENOMEM;
			ot->partitions_cnt = (int32_t)(j - i);
			for (size_t x = i; x < j; x++)
				fill_fetched(g, in.group_id, tn, &ot->partitions[x - i],
				             f.v[x].partition);
			i = j;
		}
		out.topics_cnt = nt;
	} else {
		out.topics_cnt = 0;
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- ListGroups, DescribeGroups ---- */

struct list_ctx {
	struct sl_arena *a;
	struct sl_list_groups_resp_listed_group *v;
	int32_t n, cap;
	const struct sl_list_groups_req *in;
	bool oom;
};

static bool
str_in(const struct sl_str *v, int32_t n, const char *s, size_t len)
{
	for (int32_t i = 0; i < n; i++)
		if (v[i].len >= 0 && (size_t)v[i].len == len && strncasecmp(v[i].p, s, len) == 0)
			return true;
	return false;
}

static struct sl_str
arena_str(struct sl_arena *a, const char *p, int32_t len, bool *oom)
{
	struct sl_str s = {"", 0};
	char *d;

	if (len < 0) {
		s.p = NULL;
		s.len = -1;
		return s;
	}
	if (!len)
		return s;
	d = sl_arena_alloc(a, (size_t)len);
	if (!d) {
		*oom = true;
		return s;
	}
	memcpy(d, p, (size_t)len);
	s.p = d;
	s.len = len;
	return s;
}

static void
list_one(void *arg, const struct sl_group_list_entry *e)
{
	struct list_ctx *x = arg;
	struct sl_list_groups_resp_listed_group *lg;

	if (x->in->states_filter_cnt > 0 &&
	    !str_in(x->in->states_filter, x->in->states_filter_cnt, e->state_name,
	            strlen(e->state_name)))
		return;
	if (x->n == x->cap) {
		int32_t cap = x->cap ? x->cap * 2 : 16;
		struct sl_list_groups_resp_listed_group *v = sl_arena_alloc(x->a, (size_t)cap * sizeof(*v));

		if (!v) {
			x->oom = true;
			return;
		}
		if (x->n)
			memcpy(v, x->v, (size_t)x->n * sizeof(*v));
		x->v = v;
		x->cap = cap;
	}
	lg = &x->v[x->n++];
	sl_list_groups_resp_listed_group_init(lg);
	lg->group_id = arena_str(x->a, e->group_id.p, e->group_id.len, &x->oom);
	lg->protocol_type = arena_str(x->a, e->protocol_type.p, nn(e->protocol_type).len, &x->oom);
	lg->group_state.p = e->state_name;
	lg->group_state.len = (int32_t)strlen(e->state_name);
	lg->group_type.p = "classic";
	lg->group_type.len = 7;
}

static int
list_groups(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_list_groups_req in;
	struct sl_list_groups_resp out;
	struct list_ctx x = {.a = &c->arena, .in = &in};

	sl_list_groups_req_init(&in);
	if (sl_list_groups_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	sl_group_list(c->grp->tab, list_one, &x);
	if (x.oom)
		return -ENOMEM;
	sl_list_groups_resp_init(&out);
	out.groups = x.v;
	out.groups_cnt = x.n;
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

static int
describe_groups(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_describe_groups_req in;
	struct sl_describe_groups_resp out;
	struct sl_arena *a = &c->arena;
	bool oom = false;

	sl_describe_groups_req_init(&in);
	if (sl_describe_groups_req_decode(rd, req->api_version, &in) < 0 || in.groups_cnt < 0)
		return -EBADMSG;
	sl_describe_groups_resp_init(&out);
	out.groups = sl_arena_zalloc(a, (size_t)(in.groups_cnt ? in.groups_cnt : 1) *
	                                        sizeof(*out.groups));
	if (!out.groups)
		return -ENOMEM;
	out.groups_cnt = in.groups_cnt;
	for (int32_t i = 0; i < in.groups_cnt; i++) {
		struct sl_describe_groups_resp_described_group *dg = &out.groups[i];
		struct sl_group_desc d;

		sl_describe_groups_resp_described_group_init(dg);
		dg->group_id = nn(in.groups[i]);
		if (in.groups[i].len < 0) {
			dg->error_code = KERR_INVALID_GROUP_ID;
			dg->group_state = (struct sl_str){"", 0};
			dg->protocol_type = (struct sl_str){"", 0};
			dg->protocol_data = (struct sl_str){"", 0};
			continue;
		}
		/* what d points to is valid until the next call into the table: copy it */
		sl_group_describe(c->grp->tab, in.groups[i], &d);
		dg->error_code = KERR_NONE;
		dg->group_state.p = d.state_name;
		dg->group_state.len = (int32_t)strlen(d.state_name);
		dg->protocol_type = arena_str(a, d.protocol_type.p, nn(d.protocol_type).len, &oom);
		dg->protocol_data = arena_str(a, d.protocol_name.p, nn(d.protocol_name).len, &oom);
		if (d.members_cnt > 0) {
			dg->members = sl_arena_zalloc(a, (size_t)d.members_cnt * sizeof(*dg->members));
			if (!dg->members)
				return -ENOMEM;
			dg->members_cnt = d.members_cnt;
		}
		for (int32_t j = 0; j < d.members_cnt; j++) {
			const struct sl_group_member_view *mv = &d.members[j];
			struct sl_describe_groups_resp_described_group_member *m = &dg->members[j];
			struct sl_group_blob b;

			sl_describe_groups_resp_described_group_member_init(m);
			m->member_id = arena_str(a, mv->member_id.p, mv->member_id.len, &oom);
			m->group_instance_id =
			        arena_str(a, mv->group_instance_id.p, mv->group_instance_id.len, &oom);
			m->client_id = arena_str(a, mv->client_id.p, nn(mv->client_id).len, &oom);
			m->client_host = arena_str(a, mv->client_host.p, nn(mv->client_host).len, &oom);
			b.p = (const uint8_t *)arena_str(a, (const char *)mv->metadata.p,
			                                 mv->metadata.len, &oom).p;
			b.len = mv->metadata.len;
			if (oom || blob_chain(a, &b, &m->member_metadata) < 0)
				return -ENOMEM;
			b.p = (const uint8_t *)arena_str(a, (const char *)mv->assignment.p,
			                                 mv->assignment.len, &oom).p;
			b.len = mv->assignment.len;
			if (oom || blob_chain(a, &b, &m->member_assignment) < 0)
				return -ENOMEM;
		}
		if (oom)
			return -ENOMEM;
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- DeleteGroups, OffsetDelete ---- */

static int
delete_groups(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct ctl_grp *g = c->grp;
	struct sl_delete_groups_req in;
	struct sl_delete_groups_resp out;
	bool wrote = false;

	sl_delete_groups_req_init(&in);
	if (sl_delete_groups_req_decode(rd, req->api_version, &in) < 0 || in.groups_names_cnt < 0)
		return -EBADMSG;
	sl_delete_groups_resp_init(&out);
	out.results = sl_arena_zalloc(&c->arena, (size_t)(in.groups_names_cnt ? in.groups_names_cnt
	                                                                      : 1) *
	                                                 sizeof(*out.results));
	if (!out.results)
		return -ENOMEM;
	out.results_cnt = in.groups_names_cnt;
	for (int32_t i = 0; i < in.groups_names_cnt; i++) {
		struct sl_delete_groups_resp_deletable_group_result *res = &out.results[i];
		struct sl_str id = in.groups_names[i];
		int r;

		sl_delete_groups_resp_deletable_group_result_init(res);
		res->group_id = nn(id);
		if (id.len < 0) {
			res->error_code = KERR_INVALID_GROUP_ID;
			continue;
		}
		r = sl_group_delete(g->tab, id);
		/* Groups are not persisted, offsets are: after a restart a group with only
		 * committed offsets is known to the store alone. */
		if (r == KERR_GROUP_ID_NOT_FOUND && g->offs && sl_offs_count(g->offs, id.p, (size_t)id.len))
			r = KERR_NONE;
		if (r == KERR_NONE && g->offs) {
			int n = sl_offs_del_group(g->offs, id.p, (size_t)id.len);

			if (n < 0)
				r = KERR_COORDINATOR_NOT_AVAILABLE;
			wrote |= n > 0;
		}
		res->error_code = errno_kerr(r);
	}
	if (wrote && sl_offs_sync(g->offs) < 0)
		for (int32_t i = 0; i < out.results_cnt; i++)
			if (out.results[i].error_code == KERR_NONE)
				out.results[i].error_code = KERR_COORDINATOR_NOT_AVAILABLE;
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

static int
offset_delete(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct ctl_grp *g = c->grp;
	struct sl_offset_delete_req in;
	struct sl_offset_delete_resp out;
	struct sl_group_desc d;
	bool active, wrote = false;

	sl_offset_delete_req_init(&in);
	if (sl_offset_delete_req_decode(rd, req->api_version, &in) < 0 || in.topics_cnt < 0)
		return -EBADMSG;
	sl_offset_delete_resp_init(&out);
	if (in.group_id.len < 0) {
		out.error_code = KERR_INVALID_GROUP_ID;
		ctl_answer_req(c, shard, req, &out);
		return 0;
	}
	sl_group_describe(g->tab, in.group_id, &d);
	/* Simplification of Kafka's subscription check: a group with members keeps every
	 * offset (GROUP_SUBSCRIBED_TO_TOPIC); an empty or unknown one can lose any. */
	active = d.state != SL_GROUP_EMPTY && d.state != SL_GROUP_DEAD;
	if (!g->offs) {
		out.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
	} else if (d.state == SL_GROUP_DEAD &&
	           !sl_offs_count(g->offs, in.group_id.p, (size_t)in.group_id.len)) {
		out.error_code = KERR_GROUP_ID_NOT_FOUND;
	} else {
		out.topics = sl_arena_zalloc(&c->arena, (size_t)(in.topics_cnt ? in.topics_cnt : 1) *
		                                                sizeof(*out.topics));
		if (!out.topics)
			return -ENOMEM;
		out.topics_cnt = in.topics_cnt;
		for (int32_t i = 0; i < in.topics_cnt; i++) {
			const struct sl_offset_delete_req_topic *t = &in.topics[i];
			struct sl_offset_delete_resp_topic *ot = &out.topics[i];
			int32_t np = t->partitions_cnt < 0 ? 0 : t->partitions_cnt;

			sl_offset_delete_resp_topic_init(ot);
			ot->name = nn(t->name);
			ot->partitions = sl_arena_zalloc(&c->arena, (size_t)(np ? np : 1) *
			                                                    sizeof(*ot->partitions));
			if (!ot->partitions)
				return -ENOMEM;
			ot->partitions_cnt = np;
			for (int32_t j = 0; j < np; j++) {
				struct sl_offset_delete_resp_partition *op = &ot->partitions[j];
				int r = 0;

				sl_offset_delete_resp_partition_init(op);
				op->partition_index = t->partitions[j].partition_index;
				if (active) {
					op->error_code = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
					continue;
				}
				if (t->name.len >= 0)
					r = sl_offs_del(g->offs, in.group_id.p, (size_t)in.group_id.len,
					                t->name.p, (size_t)t->name.len,
					                op->partition_index);
				wrote |= r > 0;
				op->error_code = r < 0 ? KERR_COORDINATOR_NOT_AVAILABLE : KERR_NONE;
			}
		}
		if (wrote && sl_offs_sync(g->offs) < 0)
			out.error_code = KERR_COORDINATOR_NOT_AVAILABLE;
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- dispatch ---- */

int
ctl_grp_handle(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd,
               struct sl_str client_id)
{
	if (!c->grp)
		return -ENOTSUP;
	switch (req->api_key) {
	case SL_API_FIND_COORDINATOR:
		return find_coordinator(c, shard, req, rd);
	case SL_API_JOIN_GROUP:
		return join_group(c, shard, req, rd, client_id);
	case SL_API_SYNC_GROUP:
		return sync_group(c, shard, req, rd);
	case SL_API_HEARTBEAT:
		return heartbeat(c, shard, req, rd);
	case SL_API_LEAVE_GROUP:
		return leave_group(c, shard, req, rd);
	case SL_API_OFFSET_COMMIT:
		return offset_commit(c, shard, req, rd);
	case SL_API_OFFSET_FETCH:
		return offset_fetch(c, shard, req, rd);
	case SL_API_LIST_GROUPS:
		return list_groups(c, shard, req, rd);
	case SL_API_DESCRIBE_GROUPS:
		return describe_groups(c, shard, req, rd);
	case SL_API_DELETE_GROUPS:
		return delete_groups(c, shard, req, rd);
	case SL_API_OFFSET_DELETE:
		return offset_delete(c, shard, req, rd);
	default:
		return -ENOTSUP;
	}
}
