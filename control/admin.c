// SPDX-License-Identifier: Apache-2.0
/*
 * admin.c: the admin APIs the control plane answers (CreateTopics 0-4, DeleteTopics 0-3,
 * CreatePartitions 0-1; DescribeConfigs is in describe.c), topic auto-creation for the
 * shards, and the table of requests waiting for their topics' transitions.
 *
 * Control thread only. Decodes with the generated codecs (common/kproto/) into the
 * control plane's arena; a request that must wait keeps malloc'ed copies of what it needs
 * (struct ctl_pend) and is answered from ctl_pend_expire once every item is done or its
 * timeout passed. Answers are complete frames (size, response header, body) in a malloc'ed
 * buffer handed back in the struct sl_ctrl_req.
 *
 * An item (one topic of a request) is
 *   DONE  answered (err, msg),
 *   RUN   waiting for the transition of topic t it started or joined
 *         (ctl_pend_topic_settled completes it),
 *   WAIT  blocked because its topic is in another transition; retried by ctl_pend_retry
 *         whenever some topic settles.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/kproto/api.h"
#include "common/kproto/create_partitions.h"
#include "common/kproto/create_topics.h"
#include "common/kproto/delete_topics.h"
#include "common/log.h"
#include "control/ctrl_int.h"

#define AUTO_CREATE_TIMEOUT_MS 30000

/* ---- pending table ---- */

static struct ctl_pend *
pend_new(struct sl_ctrl *c, uint8_t kind, uint16_t shard, uint32_t nitems)
{
	struct ctl_pend *p = calloc(1, sizeof(*p) + (size_t)nitems * sizeof(p->items[0]));

	if (!p)
		return NULL;
	p->kind = kind;
	p->shard = shard;
	p->nitems = nitems;
	p->nopen = nitems;
	for (uint32_t i = 0; i < nitems; i++)
		p->items[i].state = IS_WAIT;
	p->prev = c->pend_tail;
	if (c->pend_tail)
		c->pend_tail->next = p;
	else
		c->pend = p;
	c->pend_tail = p;
	c->npend++;
	return p;
}

static void
pend_free(struct sl_ctrl *c, struct ctl_pend *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		c->pend = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->pend_tail = p->prev;
	c->npend--;
	for (uint32_t i = 0; i < p->nitems; i++) {
		free(p->items[i].name);
		free(p->items[i].msg);
	}
	free(p);
}

static void
item_done(struct ctl_pend *p, struct ctl_item *it, int16_t err, const char *msg)
{
	if (it->state == IS_DONE)
		return;
	it->state = IS_DONE;
	it->err = err;
	it->t = NULL;
	free(it->msg);
	it->msg = msg ? strdup(msg) : NULL;
	p->nopen--;
}

static void item_donef(struct ctl_pend *p, struct ctl_item *it, int16_t err, const char *fmt, ...)
        SL_PRINTF(4, 5);

static void
item_donef(struct ctl_pend *p, struct ctl_item *it, int16_t err, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	item_done(p, it, err, buf);
}

static int
item_set_name(struct ctl_item *it, const struct sl_str *s)
{
	if (s->len < 0) {
		it->name = NULL;
		it->name_len = -1;
		return 0;
	}
	it->name = malloc((size_t)s->len + 1);
	if (!it->name)
		return -ENOMEM;
	memcpy(it->name, s->p, (size_t)s->len);
	it->name[s->len] = 0;
	it->name_len = s->len;
	return 0;
}

void
ctl_pend_topic_settled(struct sl_ctrl *c, struct ctl_topic *t, int16_t err, const char *msg)
{
	for (struct ctl_pend *p = c->pend; p; p = p->next)
		for (uint32_t i = 0; i < p->nitems; i++)
			if (p->items[i].state == IS_RUN && p->items[i].t == t)
				item_done(p, &p->items[i], err, msg);
}

/* ---- answers ---- */

static void
answer(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req)
{
	struct sl_msg m = {.type = SL_MSG_CTRL_RESP, .from = SL_MSG_FROM_CONTROL, .ptr = req};

	ctl_push_resp(c, shard, &m);
}

/* Encodes a complete response frame into req->resp; close_conn on failure. */
static void
encode_answer(struct sl_ctrl *c, struct sl_ctrl_req *req, int16_t key, int16_t version,
              int32_t correlation_id, const void *body)
{
	struct sl_wbuf w;
	uint8_t *size, *buf;

	sl_wbuf_init(&w, &c->arena);
	size = sl_wbuf_reserve(&w, 4);
	sl_response_header_write(&w, key, version, correlation_id);
	if (!size || sl_kproto_encode(&w, key, true, version, body) < 0 || w.err ||
	    w.len > INT32_MAX) {
		SL_LOG_RATELIMIT(SL_LOG_ERROR, "control: cannot encode the answer to api %d v%d",
		                 key, version);
		req->close_conn = 1;
		return;
	}
	sl_put_be32(size, (uint32_t)(w.len - 4));
	buf = malloc(w.len);
	if (!buf) {
		req->close_conn = 1;
		return;
	}
	sl_wbuf_copyout(&w, buf, w.len);
	free(req->resp);
	req->resp = buf;
	req->resp_len = (uint32_t)w.len;
}

void
ctl_answer_req(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, const void *body)
{
	encode_answer(c, req, req->api_key, req->api_version, req->correlation_id, body);
	answer(c, shard, req);
	sl_arena_reset(&c->arena);
}

static struct sl_str
item_str(const struct ctl_item *it)
{
	struct sl_str s = {it->name, it->name_len};

	return s;
}

static struct sl_str
msg_str(const char *msg)
{
	struct sl_str s = {msg, msg ? (int32_t)strlen(msg) : -1};

	return s;
}

static void
finish(struct sl_ctrl *c, struct ctl_pend *p)
{
	struct sl_ctrl_req *req = p->req;

	switch ((enum ctl_kind)p->kind) {
	case PK_AUTO_CREATE: {
		struct sl_msg m = {.type = SL_MSG_TOPIC_CREATE_DONE,
		                   .from = SL_MSG_FROM_CONTROL,
		                   .ptr = p->tc};

		p->tc->err = p->items[0].err;
		ctl_push_resp(c, p->shard, &m);
		break;
	}
	case PK_CREATE_TOPICS: {
		struct sl_create_topics_resp r;
		struct sl_create_topics_resp_creatable_topic_result *v =
		        sl_arena_alloc(&c->arena, (p->nitems ? p->nitems : 1) * sizeof(*v));

		sl_create_topics_resp_init(&r);
		if (!v) {
			req->close_conn = 1;
			answer(c, p->shard, req);
			break;
		}
		for (uint32_t i = 0; i < p->nitems; i++) {
			sl_create_topics_resp_creatable_topic_result_init(&v[i]);
			v[i].name = item_str(&p->items[i]);
			v[i].error_code = p->items[i].err;
			v[i].error_message = msg_str(p->items[i].msg);
		}
		r.topics = v;
		r.topics_cnt = (int32_t)p->nitems;
		ctl_answer_req(c, p->shard, req, &r);
		break;
	}
	case PK_DELETE_TOPICS: {
		struct sl_delete_topics_resp r;
		struct sl_delete_topics_resp_deletable_topic_result *v =
		        sl_arena_alloc(&c->arena, (p->nitems ? p->nitems : 1) * sizeof(*v));

		sl_delete_topics_resp_init(&r);
		if (!v) {
			req->close_conn = 1;
			answer(c, p->shard, req);
			break;
		}
		for (uint32_t i = 0; i < p->nitems; i++) {
			sl_delete_topics_resp_deletable_topic_result_init(&v[i]);
			v[i].name = item_str(&p->items[i]);
			v[i].error_code = p->items[i].err;
			v[i].error_message = msg_str(p->items[i].msg);
		}
		r.responses = v;
		r.responses_cnt = (int32_t)p->nitems;
		ctl_answer_req(c, p->shard, req, &r);
		break;
	}
	case PK_CREATE_PARTS: {
		struct sl_create_partitions_resp r;
		struct sl_create_partitions_resp_topic_result *v =
		        sl_arena_alloc(&c->arena, (p->nitems ? p->nitems : 1) * sizeof(*v));

		sl_create_partitions_resp_init(&r);
		if (!v) {
			req->close_conn = 1;
			answer(c, p->shard, req);
			break;
		}
		for (uint32_t i = 0; i < p->nitems; i++) {
			sl_create_partitions_resp_topic_result_init(&v[i]);
			v[i].name = item_str(&p->items[i]);
			v[i].error_code = p->items[i].err;
			v[i].error_message = msg_str(p->items[i].msg);
		}
		r.results = v;
		r.results_cnt = (int32_t)p->nitems;
		ctl_answer_req(c, p->shard, req, &r);
		break;
	}
	}
	pend_free(c, p);
}

void
ctl_pend_expire(struct sl_ctrl *c, bool all)
{
	struct ctl_pend *p = c->pend, *next;

	if (all)
		ctl_delrec_expire_all(c); /* H3: DeleteRecords are not in this table */

	for (; p; p = next) {
		next = p->next;
		if (p->nopen && (all || p->deadline_ns - c->now_ns <= 0)) {
			for (uint32_t i = 0; i < p->nitems; i++)
				if (p->items[i].state != IS_DONE)
					item_done(p, &p->items[i], KERR_REQUEST_TIMED_OUT, NULL);
			atomic_fetch_add_explicit(&c->st.timeouts, 1, memory_order_relaxed);
		}
		if (!p->nopen)
			finish(c, p);
	}
}

/* ---- item starters (may run again from ctl_pend_retry) ---- */

static bool
same_name(const struct ctl_item *a, const struct ctl_item *b)
{
	return a->name_len == b->name_len && a->name_len >= 0 &&
	       memcmp(a->name, b->name, (size_t)a->name_len) == 0;
}

/* Items naming the same topic twice in one request all fail with INVALID_REQUEST. */
static void
fail_duplicates(struct ctl_pend *p, const char *msg)
{
	for (uint32_t i = 0; i < p->nitems; i++) {
		bool dup = false;

		for (uint32_t j = 0; j < p->nitems && !dup; j++)
			dup = i != j && same_name(&p->items[i], &p->items[j]);
		if (dup)
			item_done(p, &p->items[i], KERR_INVALID_REQUEST, msg);
	}
}

static void
start_delete(struct sl_ctrl *c, struct ctl_pend *p, struct ctl_item *it)
{
	struct ctl_topic *t = it->name ? ctl_topic_find(c, it->name, (size_t)it->name_len) : NULL;
	int r;

	if (!t || t->state == TS_DELETING) {
		item_done(p, it, KERR_UNKNOWN_TOPIC_OR_PARTITION,
		          "This server does not host this topic-partition.");
		return;
	}
	if (t->state != TS_LIVE) {
		it->state = IS_WAIT; /* creating or resizing: delete once that settles */
		return;
	}
	it->state = IS_RUN;
	it->t = t;
	r = ctl_topic_delete(c, t);
	if (r < 0)
		item_donef(p, it, KERR_UNKNOWN_SERVER_ERROR, "Cannot delete topic: %s",
		           strerror(-r));
}

static void
start_grow(struct sl_ctrl *c, struct ctl_pend *p, struct ctl_item *it)
{
	struct ctl_topic *t = it->name ? ctl_topic_find(c, it->name, (size_t)it->name_len) : NULL;
	int r;

	if (!t || t->state == TS_DELETING || (t->state == TS_CREATING && !t->loading)) {
		item_donef(p, it, KERR_UNKNOWN_TOPIC_OR_PARTITION, "The topic '%s' does not exist.",
		           it->name ? it->name : "");
		return;
	}
	if (t->state != TS_LIVE) {
		it->state = IS_WAIT;
		return;
	}
	if (it->count <= t->nparts) {
		if (it->count == t->nparts)
			item_donef(p, it, KERR_INVALID_PARTITIONS,
			           "Topic already has %" PRId32 " partitions.", t->nparts);
		else
			item_donef(p, it, KERR_INVALID_PARTITIONS,
			           "Topic currently has %" PRId32 " partitions, which is higher "
			           "than the requested %" PRId32 ".",
			           t->nparts, it->count);
		return;
	}
	if (it->count > NPARTS_MAX) {
		item_donef(p, it, KERR_INVALID_PARTITIONS,
		           "Number of partitions %" PRId32 " exceeds the limit of %d.", it->count,
		           NPARTS_MAX);
		return;
	}
	if (it->nassign >= 0 && it->nassign != it->count - t->nparts) {
		item_donef(p, it, KERR_INVALID_REPLICA_ASSIGNMENT,
		           "Increasing the number of partitions by %" PRId32 " but %" PRId32
		           " assignments provided.",
		           it->count - t->nparts, it->nassign);
		return;
	}
	if (p->validate_only) {
		item_done(p, it, KERR_NONE, NULL);
		return;
	}
	it->state = IS_RUN;
	it->t = t;
	r = ctl_topic_grow(c, t, it->count);
	if (r < 0)
		item_donef(p, it, KERR_UNKNOWN_SERVER_ERROR, "Cannot add partitions: %s",
		           strerror(-r));
}

static void
start_auto_create(struct sl_ctrl *c, struct ctl_pend *p, struct ctl_item *it)
{
	struct ctl_topic *t;
	int r;

	if (!c->o.auto_create_topics) {
		item_done(p, it, KERR_UNKNOWN_TOPIC_OR_PARTITION, NULL);
		return;
	}
	if (!ctl_topic_name_valid(it->name, (size_t)it->name_len)) {
		item_done(p, it, KERR_INVALID_TOPIC_EXCEPTION, NULL);
		return;
	}
	t = ctl_topic_find(c, it->name, (size_t)it->name_len);
	if (t) {
		if (t->state == TS_DELETING) {
			item_done(p, it, KERR_LEADER_NOT_AVAILABLE, NULL);
		} else if (t->state == TS_CREATING) {
			it->state = IS_RUN; /* join the creation in flight */
			it->t = t;
		} else {
			item_done(p, it, KERR_NONE, NULL);
		}
		return;
	}
	if (c->o.default_replication_factor > 1) {
		item_done(p, it, KERR_INVALID_REPLICATION_FACTOR, NULL);
		return;
	}
	t = ctl_topic_new(c, it->name, (size_t)it->name_len,
	                  c->o.num_partitions > 0 ? c->o.num_partitions : 1);
	if (!t) {
		item_done(p, it, KERR_UNKNOWN_SERVER_ERROR, NULL);
		return;
	}
	it->state = IS_RUN;
	it->t = t;
	r = ctl_topic_create(c, t);
	if (r < 0) {
		ctl_topic_free(t);
		item_done(p, it, KERR_UNKNOWN_SERVER_ERROR, NULL);
	}
}

void
ctl_pend_retry(struct sl_ctrl *c)
{
	for (struct ctl_pend *p = c->pend; p; p = p->next) {
		for (uint32_t i = 0; i < p->nitems; i++) {
			struct ctl_item *it = &p->items[i];

			if (it->state != IS_WAIT)
				continue;
			if (p->kind == PK_DELETE_TOPICS)
				start_delete(c, p, it);
			else if (p->kind == PK_CREATE_PARTS)
				start_grow(c, p, it);
		}
	}
}

/* ---- CreateTopics ---- */

static void
create_one(struct sl_ctrl *c, struct ctl_pend *p, struct ctl_item *it,
           const struct sl_create_topics_req_creatable_topic *in)
{
	struct ctl_topic *t;
	int32_t nparts = in->num_partitions;
	int16_t rf = in->replication_factor;
	char err[256];
	int r;

	if (!ctl_topic_name_valid(in->name.p, in->name.len > 0 ? (size_t)in->name.len : 0)) {
		item_donef(p, it, KERR_INVALID_TOPIC_EXCEPTION,
		           "Topic name \"%.*s\" is illegal, it contains a character other than "
		           "ASCII alphanumerics, '.', '_' and '-', is empty, \".\" or \"..\", or "
		           "is longer than 249 characters",
		           (int)SL_MIN(SL_MAX(in->name.len, 0), 300), in->name.p ? in->name.p : "");
		return;
	}
	if (ctl_topic_find(c, in->name.p, (size_t)in->name.len)) {
		item_donef(p, it, KERR_TOPIC_ALREADY_EXISTS, "Topic '%s' already exists.",
		           it->name);
		return;
	}
	if (in->assignments_cnt > 0) {
		if (nparts != -1 || rf != -1) {
			item_done(p, it, KERR_INVALID_REQUEST,
			          "Both numPartitions or replicationFactor and replicasAssignments "
			          "were set. Both cannot be used at the same time.");
			return;
		}
		nparts = in->assignments_cnt;
		for (int32_t i = 0; i < in->assignments_cnt; i++) {
			const struct sl_create_topics_req_creatable_replica_assignment *a =
			        &in->assignments[i];
			bool seen = false;

			for (int32_t j = 0; j < i; j++)
				seen = seen ||
				       in->assignments[j].partition_index == a->partition_index;
			if (a->partition_index < 0 || a->partition_index >= nparts || seen ||
			    a->broker_ids_cnt != 1 || a->broker_ids[0] != c->o.node_id) {
				item_donef(p, it, KERR_INVALID_REPLICA_ASSIGNMENT,
				           "Partitions must be numbered 0..%" PRId32 " and each "
				           "placed on broker %" PRId32 " alone.",
				           nparts - 1, c->o.node_id);
				return;
			}
		}
	} else {
		if (nparts == -1)
			nparts = c->o.num_partitions > 0 ? c->o.num_partitions : 1;
		if (nparts <= 0) {
			item_done(p, it, KERR_INVALID_PARTITIONS,
			          "Number of partitions was set to an invalid non-positive value.");
			return;
		}
		if (rf == -1)
			rf = c->o.default_replication_factor > 0 ? c->o.default_replication_factor
			                                         : 1;
		if (rf <= 0) {
			item_done(p, it, KERR_INVALID_REPLICATION_FACTOR,
			          "Replication factor must be larger than 0, or -1 to use the "
			          "default value.");
			return;
		}
		if (rf > 1) {
			item_donef(p, it, KERR_INVALID_REPLICATION_FACTOR,
			           "Unable to replicate the partition %d time(s): The target "
			           "replication factor of %d cannot be reached because only 1 "
			           "broker(s) are registered.",
			           rf, rf);
			return;
		}
	}
	if (nparts > NPARTS_MAX) {
		item_donef(p, it, KERR_INVALID_PARTITIONS,
		           "Number of partitions %" PRId32 " exceeds the limit of %d.", nparts,
		           NPARTS_MAX);
		return;
	}
	for (int32_t i = 0; i < in->configs_cnt; i++) {
		const struct sl_create_topics_req_creatable_topic_config *cf = &in->configs[i];
		int idx = sl_tcfg_find(cf->name.p, cf->name.len > 0 ? (size_t)cf->name.len : 0);

		if (idx < 0) {
			item_donef(p, it, KERR_INVALID_CONFIG, "Unknown topic config name: %.*s",
			           (int)SL_MIN(SL_MAX(cf->name.len, 0), 200),
			           cf->name.p ? cf->name.p : "");
			return;
		}
		if (sl_tcfg_validate((unsigned)idx, cf->value.len < 0 ? NULL : cf->value.p,
		                     cf->value.len < 0 ? 0 : (size_t)cf->value.len, err,
		                     sizeof(err)) < 0) {
			item_done(p, it, KERR_INVALID_CONFIG, err);
			return;
		}
	}
	if (p->validate_only) {
		item_done(p, it, KERR_NONE, NULL);
		return;
	}
	t = ctl_topic_new(c, in->name.p, (size_t)in->name.len, nparts);
	if (!t)
		goto out_nomem;
	for (int32_t i = 0; i < in->configs_cnt; i++) {
		const struct sl_create_topics_req_creatable_topic_config *cf = &in->configs[i];
		int idx = sl_tcfg_find(cf->name.p, (size_t)cf->name.len);
		const char *v = cf->value.p;
		size_t vl = (size_t)cf->value.len;

		/* Store the trimmed value: what Kafka keeps and describes. */
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (ctl_topic_set_override(t, (unsigned)idx, v, vl) < 0) {
			ctl_topic_free(t);
			goto out_nomem;
		}
	}
	it->state = IS_RUN;
	it->t = t;
	r = ctl_topic_create(c, t);
	if (r < 0) {
		ctl_topic_free(t);
		item_donef(p, it, KERR_UNKNOWN_SERVER_ERROR, "Cannot create topic: %s",
		           strerror(-r));
	}
	return;
out_nomem:
	item_done(p, it, KERR_UNKNOWN_SERVER_ERROR, "Out of memory");
}

static int64_t
deadline(struct sl_ctrl *c, int32_t timeout_ms)
{
	return c->now_ns + (timeout_ms > 0 ? (int64_t)timeout_ms * 1000000 : 0);
}

static int
handle_create_topics(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_create_topics_req in;
	struct ctl_pend *p;

	sl_create_topics_req_init(&in);
	if (sl_create_topics_req_decode(rd, req->api_version, &in) < 0 || in.topics_cnt < 0)
		return -EBADMSG;
	p = pend_new(c, PK_CREATE_TOPICS, shard, (uint32_t)in.topics_cnt);
	if (!p)
		return -ENOMEM;
	p->req = req;
	p->validate_only = in.validate_only;
	p->deadline_ns = deadline(c, in.timeout_ms);
	for (int32_t i = 0; i < in.topics_cnt; i++)
		if (item_set_name(&p->items[i], &in.topics[i].name) < 0)
			goto out_nomem;
	fail_duplicates(p, "Create topics request from client contains duplicate topic.");
	for (int32_t i = 0; i < in.topics_cnt; i++)
		if (p->items[i].state == IS_WAIT)
			create_one(c, p, &p->items[i], &in.topics[i]);
	return 0;
out_nomem:
	for (uint32_t i = 0; i < p->nitems; i++)
		item_done(p, &p->items[i], KERR_UNKNOWN_SERVER_ERROR, NULL);
	return 0;
}

static int
handle_delete_topics(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_delete_topics_req in;
	struct ctl_pend *p;

	sl_delete_topics_req_init(&in);
	if (sl_delete_topics_req_decode(rd, req->api_version, &in) < 0 || in.topic_names_cnt < 0)
		return -EBADMSG;
	p = pend_new(c, PK_DELETE_TOPICS, shard, (uint32_t)in.topic_names_cnt);
	if (!p)
		return -ENOMEM;
	p->req = req;
	p->deadline_ns = deadline(c, in.timeout_ms);
	for (int32_t i = 0; i < in.topic_names_cnt; i++)
		if (item_set_name(&p->items[i], &in.topic_names[i]) < 0)
			goto out_nomem;
	fail_duplicates(p, "Duplicate topic in request.");
	for (uint32_t i = 0; i < p->nitems; i++)
		if (p->items[i].state == IS_WAIT)
			start_delete(c, p, &p->items[i]);
	return 0;
out_nomem:
	for (uint32_t i = 0; i < p->nitems; i++)
		item_done(p, &p->items[i], KERR_UNKNOWN_SERVER_ERROR, NULL);
	return 0;
}

static int
handle_create_partitions(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                         struct sl_crd *rd)
{
	struct sl_create_partitions_req in;
	struct ctl_pend *p;

	sl_create_partitions_req_init(&in);
	if (sl_create_partitions_req_decode(rd, req->api_version, &in) < 0 || in.topics_cnt < 0)
		return -EBADMSG;
	p = pend_new(c, PK_CREATE_PARTS, shard, (uint32_t)in.topics_cnt);
	if (!p)
		return -ENOMEM;
	p->req = req;
	p->validate_only = in.validate_only;
	p->deadline_ns = deadline(c, in.timeout_ms);
	for (int32_t i = 0; i < in.topics_cnt; i++) {
		struct ctl_item *it = &p->items[i];

		if (item_set_name(it, &in.topics[i].name) < 0)
			goto out_nomem;
		it->count = in.topics[i].count;
	}
	fail_duplicates(p, "Duplicate topic in request.");
	for (int32_t i = 0; i < in.topics_cnt; i++) {
		const struct sl_create_partitions_req_topic *tp = &in.topics[i];
		struct ctl_item *it = &p->items[i];
		bool bad = false;

		it->nassign = -1;
		if (it->state != IS_WAIT || tp->assignments_cnt < 0)
			continue;
		/* Explicit assignments: one per new partition, each on this broker alone. */
		for (int32_t j = 0; j < tp->assignments_cnt && !bad; j++)
			bad = tp->assignments[j].broker_ids_cnt != 1 ||
			      tp->assignments[j].broker_ids[0] != c->o.node_id;
		if (bad) {
			item_donef(p, it, KERR_INVALID_REPLICA_ASSIGNMENT,
			           "Each new partition must be placed on broker %" PRId32 " alone.",
			           c->o.node_id);
			continue;
		}
		it->nassign = tp->assignments_cnt;
	}
	for (uint32_t i = 0; i < p->nitems; i++)
		if (p->items[i].state == IS_WAIT)
			start_grow(c, p, &p->items[i]);
	return 0;
out_nomem:
	for (uint32_t i = 0; i < p->nitems; i++)
		item_done(p, &p->items[i], KERR_UNKNOWN_SERVER_ERROR, NULL);
	return 0;
}

/* ---- entry points ---- */

static bool
implemented(int16_t key, int16_t version)
{
	size_t n;
	const struct sl_api_range *a = sl_ctrl_apis(&n);

	for (size_t i = 0; i < n; i++)
		if (a[i].api_key == key)
			return version >= a[i].min_version && version <= a[i].max_version;
	return false;
}

void
ctl_handle_req(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req)
{
	struct sl_request_header hdr;
	struct sl_crd rd;
	struct iovec iov;
	int r;

	if (!req)
		return;
	req->resp = NULL;
	req->resp_len = 0;
	req->close_conn = 0;
	sl_crd_init_buf(&rd, &iov, req->frame, req->frame ? req->frame_len : 0, &c->arena);
	sl_request_header_init(&hdr);
	r = sl_request_header_read(&rd, &hdr);
	if (r == 0) {
		/* The frame is authoritative; the shard's copies only save it a decode. */
		req->api_key = hdr.request_api_key;
		req->api_version = hdr.request_api_version;
		req->correlation_id = hdr.correlation_id;
	}
	if (r < 0 || !implemented(req->api_key, req->api_version)) {
		/* Upstream closes the connection on an API or version it does not serve. */
		SL_LOG_RATELIMIT(SL_LOG_WARN, "control: api %d v%d not served; closing",
		                 req->api_key, req->api_version);
		r = -ENOTSUP;
		goto out_close;
	}
	switch (req->api_key) {
	case SL_API_CREATE_TOPICS:
		r = handle_create_topics(c, shard, req, &rd);
		break;
	case SL_API_DELETE_TOPICS:
		r = handle_delete_topics(c, shard, req, &rd);
		break;
	case SL_API_CREATE_PARTITIONS:
		r = handle_create_partitions(c, shard, req, &rd);
		break;
	case SL_API_DESCRIBE_CONFIGS:
		r = ctl_describe_configs(c, shard, req, &rd);
		break;
	case SL_API_FIND_COORDINATOR: /* the group coordinator (grp_api.c, H1) */
	case SL_API_JOIN_GROUP:
	case SL_API_SYNC_GROUP:
	case SL_API_HEARTBEAT:
	case SL_API_LEAVE_GROUP:
	case SL_API_OFFSET_COMMIT:
	case SL_API_OFFSET_FETCH:
	case SL_API_LIST_GROUPS:
	case SL_API_DESCRIBE_GROUPS:
	case SL_API_DELETE_GROUPS:
	case SL_API_OFFSET_DELETE:
		r = ctl_grp_handle(c, shard, req, &rd, hdr.client_id);
		break;
	case SL_API_INIT_PRODUCER_ID:
		r = ctl_init_producer_id(c, shard, req, &rd);
		break;
	case SL_API_ALTER_CONFIGS:
		r = ctl_alter_configs(c, shard, req, &rd);
		break;
	case SL_API_INCREMENTAL_ALTER_CONFIGS:
		r = ctl_incremental_alter_configs(c, shard, req, &rd);
		break;
	case SL_API_DESCRIBE_CLUSTER:
		r = ctl_describe_cluster(c, shard, req, &rd);
		break;
	case SL_API_DELETE_RECORDS:
		r = ctl_delete_records(c, shard, req, &rd);
		break;
	default:
		r = -ENOTSUP;
		break;
	}
	if (r == 0)
		return;
	SL_LOG_RATELIMIT(SL_LOG_WARN, "control: malformed api %d v%d request (%s); closing",
	                 req->api_key, req->api_version, strerror(-r));
out_close:
	req->close_conn = 1;
	answer(c, shard, req);
}

void
ctl_handle_auto_create(struct sl_ctrl *c, uint16_t shard, struct sl_topic_create *tc)
{
	struct ctl_pend *p;
	struct sl_str name;

	if (!tc)
		return;
	p = pend_new(c, PK_AUTO_CREATE, shard, 1);
	if (!p) {
		struct sl_msg m = {
		        .type = SL_MSG_TOPIC_CREATE_DONE, .from = SL_MSG_FROM_CONTROL, .ptr = tc};

		tc->err = KERR_UNKNOWN_SERVER_ERROR;
		ctl_push_resp(c, shard, &m);
		return;
	}
	p->tc = tc;
	p->deadline_ns = deadline(c, tc->timeout_ms > 0 ? tc->timeout_ms : AUTO_CREATE_TIMEOUT_MS);
	name.p = tc->topic;
	name.len = tc->topic_len <= sizeof(tc->topic) ? tc->topic_len : 0;
	if (item_set_name(&p->items[0], &name) < 0) {
		item_done(p, &p->items[0], KERR_UNKNOWN_SERVER_ERROR, NULL);
		return;
	}
	start_auto_create(c, p, &p->items[0]);
}
