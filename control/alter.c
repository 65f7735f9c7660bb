// SPDX-License-Identifier: Apache-2.0
/*
 * alter.c: AlterConfigs 0-1 and IncrementalAlterConfigs 0-1 for topics, DescribeCluster 0,
 * and DeleteRecords 0-1.
 *
 * Config changes: every config of a resource is validated first (INVALID_CONFIG with
 * Kafka's message; nothing changes when one is bad); with validate_only that is all.
 * Otherwise the topic's override set is replaced (AlterConfigs: the request's set is the
 * whole new set) or edited (Incremental: SET, DELETE, APPEND, SUBTRACT, the last two for
 * list configs only), its effective struct sl_plog_cfg recomputed from the broker defaults,
 * the metadata written, a new snapshot marked due, and SL_MSG_PART_CFG sent to the shard
 * of every partition (sl_plog_set_cfg on the live log). The answer does not wait for the
 * shards, as Kafka answers once the change is committed to its metadata.
 *
 * DeleteRecords: one SL_MSG_PART_DELETE_RECORDS per partition to its owning shard
 * (sl_plog_delete_records); the answer (low watermarks) leaves when every shard answered.
 * Offsets beyond the high watermark come back -ERANGE: OFFSET_OUT_OF_RANGE.
 *
 * Control thread only. Decoding and encoding scratch is the control plane's arena; a
 * DeleteRecords waiting for shards keeps a malloc'ed copy of its answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kproto/alter_configs.h"
#include "common/kproto/api.h"
#include "common/kproto/delete_records.h"
#include "common/kproto/describe_cluster.h"
#include "common/kproto/incremental_alter_configs.h"
#include "common/log.h"
#include "control/ctrl_int.h"

enum {
	RT_TOPIC = 2,
	RT_BROKER = 4,
	OP_SET = 0,
	OP_DELETE = 1,
	OP_APPEND = 2,
	OP_SUBTRACT = 3,
	KERR_OFFSET_OUT_OF_RANGE = 1,
};

/* ---- config changes ---- */

/* One config of a resource, from either request. */
struct acfg {
	struct sl_str name;
	int8_t op;
	struct sl_str value;
};

/* The outcome of one resource; msg points at a static or the buffer. */
struct ares {
	int16_t err;
	char msg[512];
};

static void ares_set(struct ares *r, int16_t err, const char *fmt, ...) SL_PRINTF(3, 4);

static void
ares_set(struct ares *r, int16_t err, const char *fmt, ...)
{
	va_list ap;

	r->err = err;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

static bool
is_list(const struct sl_tcfg_def *d)
{
	/* cleanup.policy and the throttled-replica lists: the configs Kafka lets
	 * APPEND/SUBTRACT touch. */
	size_t n = strlen(d->name);

	return strcmp(d->name, "cleanup.policy") == 0 ||
	       (n > 8 && strcmp(d->name + n - 8, "replicas") == 0);
}

static char *
trimmed_dup(const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	return strndup(v, len);
}

/* Whether item (len bytes) is in the comma list s. */
static bool
list_has(const char *s, const char *item, size_t len)
{
	while (*s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		const char *a = s;
		size_t an = n;

		while (an && *a == ' ')
			a++, an--;
		while (an && a[an - 1] == ' ')
			an--;
		if (an == len && memcmp(a, item, len) == 0)
			return true;
		if (!e)
			break;
		s = e + 1;
	}
	return false;
}

/* Adds item a (l bytes) to the comma list out[*n]. */
static void
list_add(char *out, size_t *n, const char *a, size_t l)
{
	if (*n)
		out[(*n)++] = ',';
	memcpy(out + *n, a, l);
	*n += l;
	out[*n] = 0;
}

/* Calls fn for every non-empty trimmed item of the comma list s. */
static void
list_each(const char *s, void (*fn)(void *arg, const char *a, size_t l), void *arg)
{
	while (*s) {
		const char *e = strchr(s, ',');
		size_t l = e ? (size_t)(e - s) : strlen(s);
		const char *a = s;

		while (l && *a == ' ')
			a++, l--;
		while (l && a[l - 1] == ' ')
			l--;
		if (l)
			fn(arg, a, l);
		if (!e)
			break;
		s = e + 1;
	}
}

struct ledit {
	char *out;
	size_t n;
	const char *val;
	bool append;
};

static void
keep_cur(void *arg, const char *a, size_t l)
{
	struct ledit *e = arg;

	if (e->append || !list_has(e->val, a, l))
		list_add(e->out, &e->n, a, l);
}

static void
add_new(void *arg, const char *a, size_t l)
{
	struct ledit *e = arg;

	if (!list_has(e->out, a, l))
		list_add(e->out, &e->n, a, l);
}

/* APPEND / SUBTRACT val (a comma list) on the comma list cur. Returns a malloc'ed list. */
static char *
list_edit(const char *cur, const char *val, bool append)
{
	struct ledit e = {.val = val, .append = append};

	e.out = malloc(strlen(cur) + strlen(val) + 2);
	if (!e.out)
		return NULL;
	e.out[0] = 0;
	list_each(cur, keep_cur, &e);
	if (append)
		list_each(val, add_new, &e);
	return e.out;
}

static int
validate_value(unsigned idx, const struct sl_str *v, struct ares *r)
{
	char err[256];

	if (sl_tcfg_validate(idx, v->len < 0 ? NULL : v->p, v->len < 0 ? 0 : (size_t)v->len, err,
	                     sizeof(err)) < 0) {
		ares_set(r, KERR_INVALID_CONFIG, "%s", err);
		return -EINVAL;
	}
	return 0;
}

/* Validates the configs of a topic resource; 0 or -EINVAL with r set. */
static int
validate_configs(const struct acfg *cf, int32_t n, bool incremental, struct ares *r)
{
	uint64_t seen = 0;

	for (int32_t i = 0; i < n; i++) {
		int idx = sl_tcfg_find(cf[i].name.p, cf[i].name.len > 0 ? (size_t)cf[i].name.len : 0);

		if (idx < 0) {
			ares_set(r, KERR_INVALID_CONFIG, "Unknown topic config name: %.*s",
			         (int)SL_MIN(SL_MAX(cf[i].name.len, 0), 200),
			         cf[i].name.p ? cf[i].name.p : "");
			return -EINVAL;
		}
		if (seen & (1ULL << idx)) {
			ares_set(r, KERR_INVALID_REQUEST, "Error due to duplicate config keys");
			return -EINVAL;
		}
		seen |= 1ULL << idx;
		if (!incremental)
			goto check_value;
		switch (cf[i].op) {
		case OP_SET:
			goto check_value;
		case OP_DELETE:
			continue;
		case OP_APPEND:
		case OP_SUBTRACT:
			if (!is_list(sl_tcfg_def((unsigned)idx))) {
				ares_set(r, KERR_INVALID_CONFIG,
				         "Config value %s is not allowed for config key: %s",
				         cf[i].op == OP_APPEND ? "append" : "subtract",
				         sl_tcfg_def((unsigned)idx)->name);
				return -EINVAL;
			}
			if (cf[i].value.len < 0) {
				ares_set(r, KERR_INVALID_CONFIG,
				         "Null value not supported for topic configs: %s",
				         sl_tcfg_def((unsigned)idx)->name);
				return -EINVAL;
			}
			continue; /* the resulting list is validated once built */
		default:
			ares_set(r, KERR_INVALID_REQUEST, "Unknown config operation %d", cf[i].op);
			return -EINVAL;
		}
check_value:
		if (validate_value((unsigned)idx, &cf[i].value, r) < 0)
			return -EINVAL;
	}
	return 0;
}

static void
free_ovr(char **v)
{
	for (unsigned i = 0; i < SL_TCFG_MAX; i++) {
		free(v[i]);
		v[i] = NULL;
	}
}

/* Builds the new override set in nov (all NULL on entry). 0, -ENOMEM, or -EINVAL (r set). */
static int
build_overrides(struct sl_ctrl *c, const struct ctl_topic *t, const struct acfg *cf, int32_t n,
                bool incremental, char **nov, struct ares *r)
{
	for (unsigned i = 0; incremental && i < SL_TCFG_MAX; i++)
		if ((t->overrides & (1ULL << i)) && t->ovr[i] && !(nov[i] = strdup(t->ovr[i])))
			return -ENOMEM;
	for (int32_t i = 0; i < n; i++) {
		unsigned idx = (unsigned)sl_tcfg_find(cf[i].name.p, (size_t)cf[i].name.len);
		int8_t op = incremental ? cf[i].op : OP_SET;
		char buf[128], *v, *nv;
		const char *cur;
		struct sl_str s;

		switch (op) {
		case OP_SET:
			v = trimmed_dup(cf[i].value.p, (size_t)cf[i].value.len);
			if (!v)
				return -ENOMEM;
			free(nov[idx]);
			nov[idx] = v;
			break;
		case OP_DELETE:
			free(nov[idx]);
			nov[idx] = NULL;
			break;
		default: /* APPEND, SUBTRACT */
			cur = nov[idx] ? nov[idx]
			               : sl_tcfg_default_value(idx, &c->o.topic_defaults, ctl_bprop,
			                                       c, buf, sizeof(buf));
			v = trimmed_dup(cf[i].value.p, (size_t)cf[i].value.len);
			if (!v)
				return -ENOMEM;
			nv = list_edit(cur ? cur : "", v, op == OP_APPEND);
			free(v);
			if (!nv)
				return -ENOMEM;
			free(nov[idx]);
			nov[idx] = nv;
			s.p = nv;
			s.len = (int32_t)strlen(nv);
			if (validate_value(idx, &s, r) < 0)
				return -EINVAL;
			break;
		}
	}
	return 0;
}

/* Partitions a config change must reach: those open or being opened. */
static int32_t
parts_total(const struct ctl_topic *t)
{
	return t->state == TS_GROWING ? t->nparts_new : t->nparts;
}

/* Applies (or with validate_only, checks) the configs of one resource; r gets the result. */
static void
alter_resource(struct sl_ctrl *c, int8_t rtype, const struct sl_str *rname, const struct acfg *cf,
               int32_t n, bool incremental, bool validate_only, struct ares *r)
{
	char *nov[SL_TCFG_MAX] = {0};
	char *old[SL_TCFG_MAX];
	uint64_t old_mask, mask = 0;
	struct sl_plog_cfg cfg;
	struct ctl_topic *t;
	int rc;

	r->err = KERR_NONE;
	r->msg[0] = 0;
	if (rtype == RT_BROKER) {
		ares_set(r, KERR_INVALID_REQUEST, "Dynamic broker configs are not supported.");
		return;
	}
	if (rtype != RT_TOPIC) {
		ares_set(r, KERR_INVALID_REQUEST, "Unsupported resource type %d.", rtype);
		return;
	}
	t = rname->len > 0 ? ctl_topic_find(c, rname->p, (size_t)rname->len) : NULL;
	if (!t || t->state == TS_DELETING) {
		ares_set(r, KERR_UNKNOWN_TOPIC_OR_PARTITION, "The topic '%.*s' does not exist.",
		         (int)SL_MIN(SL_MAX(rname->len, 0), 250), rname->p ? rname->p : "");
		return;
	}
	if (validate_configs(cf, n, incremental, r) < 0 || validate_only)
		return;
	rc = build_overrides(c, t, cf, n, incremental, nov, r);
	if (rc < 0) {
		free_ovr(nov);
		if (rc == -ENOMEM)
			ares_set(r, KERR_UNKNOWN_SERVER_ERROR, "Out of memory");
		return;
	}
	cfg = c->o.topic_defaults;
	for (unsigned i = 0; i < SL_TCFG_MAX; i++) {
		if (!nov[i])
			continue;
		mask |= 1ULL << i;
		sl_tcfg_apply(&cfg, i, nov[i]);
	}
	/* Persist first: the change exists once it is on disk. */
	memcpy(old, t->ovr, sizeof(old));
	old_mask = t->overrides;
	memcpy(t->ovr, nov, sizeof(nov));
	t->overrides = mask;
	rc = ctl_meta_write(c, t, parts_total(t));
	if (rc < 0) {
		memcpy(t->ovr, old, sizeof(old));
		t->overrides = old_mask;
		free_ovr(nov);
		SL_ERR("control: topic %s: cannot persist configs: %s", t->name, strerror(-rc));
		ares_set(r, KERR_UNKNOWN_SERVER_ERROR, "Cannot persist configs: %s", strerror(-rc));
		return;
	}
	free_ovr(old);
	t->cfg = cfg;
	c->dirty = true;
	SL_INFO("control: topic %s: configs changed", t->name);
	for (int32_t p = 0; p < parts_total(t); p++) {
		if (ctl_send_partop(c, t, SL_MSG_PART_CFG, p) < 0) {
			/* The logs keep their old configs until the next change or restart. */
			SL_ERR("control: topic %s: out of memory sending configs", t->name);
			break;
		}
	}
}

static char *
arena_strdup(struct sl_arena *a, const char *s)
{
	size_t n = strlen(s);
	char *p = sl_arena_alloc(a, n + 1);

	if (p)
		memcpy(p, s, n + 1);
	return p;
}

static struct sl_str
msg_of(struct sl_ctrl *c, const struct ares *r)
{
	struct sl_str s = {NULL, -1};

	if (r->err != KERR_NONE && r->msg[0]) {
		s.p = arena_strdup(&c->arena, r->msg);
		s.len = s.p ? (int32_t)strlen(s.p) : -1;
	}
	return s;
}

int
ctl_alter_configs(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_alter_configs_req in;
	struct sl_alter_configs_resp out;

	sl_alter_configs_req_init(&in);
	if (sl_alter_configs_req_decode(rd, req->api_version, &in) < 0 || in.resources_cnt < 0)
		return -EBADMSG;
	sl_alter_configs_resp_init(&out);
	out.responses = sl_arena_alloc(&c->arena, sizeof(out.responses[0]) *
	                                                  (size_t)SL_MAX(in.resources_cnt, 1));
	if (!out.responses)
		return -ENOMEM;
	out.responses_cnt = in.resources_cnt;
	for (int32_t i = 0; i < in.resources_cnt; i++) {
		const struct sl_alter_configs_req_resource *rs = &in.resources[i];
		struct sl_alter_configs_resp_resource_response *o = &out.responses[i];
		int32_t n = SL_MAX(rs->configs_cnt, 0);
		struct acfg *cf = sl_arena_alloc(&c->arena, sizeof(*cf) * (size_t)SL_MAX(n, 1));
		struct ares r;

		if (!cf)
			return -ENOMEM;
		for (int32_t j = 0; j < n; j++) {
			cf[j].name = rs->configs[j].name;
			cf[j].op = OP_SET;
			cf[j].value = rs->configs[j].value;
		}
		alter_resource(c, rs->resource_type, &rs->resource_name, cf, n, false,
		               in.validate_only, &r);
		sl_alter_configs_resp_resource_response_init(o);
		o->error_code = r.err;
		o->error_message = msg_of(c, &r);
		o->resource_type = rs->resource_type;
		o->resource_name = rs->resource_name;
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

int
ctl_incremental_alter_configs(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req,
                              struct sl_crd *rd)
{
	struct sl_incremental_alter_configs_req in;
	struct sl_incremental_alter_configs_resp out;

	sl_incremental_alter_configs_req_init(&in);
	if (sl_incremental_alter_configs_req_decode(rd, req->api_version, &in) < 0 ||
	    in.resources_cnt < 0)
		return -EBADMSG;
	sl_incremental_alter_configs_resp_init(&out);
	out.responses = sl_arena_alloc(&c->arena, sizeof(out.responses[0]) *
	                                                  (size_t)SL_MAX(in.resources_cnt, 1));
	if (!out.responses)
		return -ENOMEM;
	out.responses_cnt = in.resources_cnt;
	for (int32_t i = 0; i < in.resources_cnt; i++) {
		const struct sl_incremental_alter_configs_req_alter_configs_resource *rs =
		        &in.resources[i];
		struct sl_incremental_alter_configs_resp_alter_configs_resource_response *o =
		        &out.responses[i];
		int32_t n = SL_MAX(rs->configs_cnt, 0);
		struct acfg *cf = sl_arena_alloc(&c->arena, sizeof(*cf) * (size_t)SL_MAX(n, 1));
		struct ares r;

		if (!cf)
			return -ENOMEM;
		for (int32_t j = 0; j < n; j++) {
			cf[j].name = rs->configs[j].name;
			cf[j].op = rs->configs[j].config_operation;
			cf[j].value = rs->configs[j].value;
		}
		alter_resource(c, rs->resource_type, &rs->resource_name, cf, n, true,
		               in.validate_only, &r);
		sl_incremental_alter_configs_resp_alter_configs_resource_response_init(o);
		o->error_code = r.err;
		o->error_message = msg_of(c, &r);
		o->resource_type = rs->resource_type;
		o->resource_name = rs->resource_name;
	}
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- DescribeCluster ---- */

int
ctl_describe_cluster(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_describe_cluster_req in;
	struct sl_describe_cluster_resp out;
	struct sl_describe_cluster_resp_broker b;

	sl_describe_cluster_req_init(&in);
	if (sl_describe_cluster_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	sl_describe_cluster_resp_init(&out);
	sl_describe_cluster_resp_broker_init(&b);
	b.broker_id = c->o.node_id;
	b.host.p = c->adv_host;
	b.host.len = (int32_t)strlen(c->adv_host);
	b.port = c->o.adv_port;
	out.cluster_id.p = c->cluster_id ? c->cluster_id : "";
	out.cluster_id.len = (int32_t)strlen(out.cluster_id.p);
	out.controller_id = c->o.node_id;
	out.brokers = &b;
	out.brokers_cnt = 1;
	ctl_answer_req(c, shard, req, &out);
	return 0;
}

/* ---- DeleteRecords ---- */

/* A DeleteRecords waiting for its shards; the answer is built in malloc'ed memory. Linked
 * in c->delrecs until its last op came back (req is NULL once answered). */
struct ctl_delrec {
	struct ctl_delrec *next, *prev;
	struct sl_ctrl_req *req;
	uint16_t shard;
	uint32_t outstanding;
	struct sl_delete_records_resp out;
};

struct delrec_op {
	struct ctl_partop po; /* first: ctl_partop -> delrec_op */
	struct ctl_delrec *d;
	struct sl_delete_records_resp_partition_result *res;
};

static void
delrec_free(struct sl_ctrl *c, struct ctl_delrec *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else if (c->delrecs == d)
		c->delrecs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	for (int32_t i = 0; i < d->out.topics_cnt; i++) {
		free((char *)d->out.topics[i].name.p);
		free(d->out.topics[i].partitions);
	}
	free(d->out.topics);
	free(d);
}

static void
delrec_answer(struct sl_ctrl *c, struct ctl_delrec *d)
{
	if (!d->req)
		return;
	ctl_answer_req(c, d->shard, d->req, &d->out);
	d->req = NULL;
}

static int16_t
delrec_kerr(int err)
{
	switch (err) {
	case 0:
		return KERR_NONE;
	case -ERANGE:
		return KERR_OFFSET_OUT_OF_RANGE;
	case -ENOENT:
		return KERR_UNKNOWN_TOPIC_OR_PARTITION;
	default:
		return KERR_UNKNOWN_SERVER_ERROR;
	}
}

void
ctl_delrec_done(struct sl_ctrl *c, struct ctl_partop *po)
{
	struct delrec_op *o = SL_CONTAINER_OF(po, struct delrec_op, po);
	struct ctl_delrec *d = o->d;

	o->res->error_code = delrec_kerr(po->op.err);
	o->res->low_watermark = po->op.err == 0 ? po->op.offset : -1;
	free(o);
	SL_BUG_ON(d->outstanding == 0);
	if (--d->outstanding == 0) {
		delrec_answer(c, d);
		delrec_free(c, d);
	}
}

void
ctl_delrec_expire_all(struct sl_ctrl *c)
{
	/* Partitions still out say REQUEST_TIMED_OUT (set when sent). The ops stay ours. */
	for (struct ctl_delrec *d = c->delrecs; d; d = d->next)
		delrec_answer(c, d);
}

void
ctl_delrec_free_all(struct sl_ctrl *c)
{
	while (c->delrecs) {
		c->delrecs->req = NULL;
		delrec_free(c, c->delrecs);
	}
}

/* Sends the op of one partition; fills res at once when it cannot. */
static void
delrec_send(struct sl_ctrl *c, struct ctl_delrec *d, const struct ctl_topic *t, int32_t p,
            int64_t offset, struct sl_delete_records_resp_partition_result *res)
{
	struct delrec_op *o = calloc(1, sizeof(*o));

	if (!o) {
		res->error_code = KERR_UNKNOWN_SERVER_ERROR;
		return;
	}
	memcpy(o->po.op.topic, t->name, t->name_len);
	o->po.op.partition = p;
	o->po.op.cfg = t->cfg;
	o->po.op.offset = offset;
	o->po.type = SL_MSG_PART_DELETE_RECORDS;
	o->po.shard = sl_ctrl_shard_of(t->name, t->name_len, p, c->o.nshards);
	o->d = d;
	o->res = res;
	res->error_code = KERR_REQUEST_TIMED_OUT; /* until the shard answers */
	if (ctl_queue_partop(c, &o->po) < 0) {
		free(o);
		res->error_code = KERR_UNKNOWN_SERVER_ERROR;
		return;
	}
	d->outstanding++;
}

int
ctl_delete_records(struct sl_ctrl *c, uint16_t shard, struct sl_ctrl_req *req, struct sl_crd *rd)
{
	struct sl_delete_records_req in;
	struct ctl_delrec *d;
	int32_t nt;

	sl_delete_records_req_init(&in);
	if (sl_delete_records_req_decode(rd, req->api_version, &in) < 0)
		return -EBADMSG;
	nt = SL_MAX(in.topics_cnt, 0);
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->req = req;
	d->shard = shard;
	d->next = c->delrecs;
	if (c->delrecs)
		c->delrecs->prev = d;
	c->delrecs = d;
	sl_delete_records_resp_init(&d->out);
	d->out.topics = calloc((size_t)SL_MAX(nt, 1), sizeof(d->out.topics[0]));
	if (!d->out.topics)
		goto out_nomem;
	for (int32_t i = 0; i < nt; i++) {
		const struct sl_delete_records_req_topic *ti = &in.topics[i];
		struct sl_delete_records_resp_topic_result *to = &d->out.topics[i];
		int32_t np = SL_MAX(ti->partitions_cnt, 0);
		char *name = ti->name.len > 0 ? strndup(ti->name.p, (size_t)ti->name.len) : strdup("");

		sl_delete_records_resp_topic_result_init(to);
		d->out.topics_cnt = i + 1;
		to->partitions = calloc((size_t)SL_MAX(np, 1), sizeof(to->partitions[0]));
		if (!name || !to->partitions) {
			free(name);
			goto out_nomem;
		}
		to->name.p = name;
		to->name.len = (int32_t)strlen(name);
		to->partitions_cnt = np;
	}
	/* Every answer slot exists before the first op goes: ops complete in later polls. */
	for (int32_t i = 0; i < nt; i++) {
		const struct sl_delete_records_req_topic *ti = &in.topics[i];
		struct sl_delete_records_resp_topic_result *to = &d->out.topics[i];
		struct ctl_topic *t = ti->name.len > 0
		                              ? ctl_topic_find(c, ti->name.p, (size_t)ti->name.len)
		                              : NULL;

		if (t && t->state != TS_LIVE && t->state != TS_GROWING && t->state != TS_SHRINKING)
			t = NULL;
		for (int32_t j = 0; j < to->partitions_cnt; j++) {
			const struct sl_delete_records_req_partition *pi = &ti->partitions[j];
			struct sl_delete_records_resp_partition_result *po = &to->partitions[j];

			sl_delete_records_resp_partition_result_init(po);
			po->partition_index = pi->partition_index;
			po->low_watermark = -1;
			if (!t || pi->partition_index < 0 || pi->partition_index >= t->nparts)
				po->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
			else if (pi->offset < -1)
				po->error_code = KERR_OFFSET_OUT_OF_RANGE;
			else
				delrec_send(c, d, t, pi->partition_index, pi->offset, po);
		}
	}
	if (d->outstanding == 0) {
		delrec_answer(c, d);
		delrec_free(c, d);
	}
	return 0;
out_nomem:
	delrec_free(c, d);
	return -ENOMEM;
}
