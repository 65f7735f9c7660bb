// SPDX-License-Identifier: Apache-2.0
/*
 * h_meta.c: ApiVersions (0-3, KIP-511) and Metadata (0-8) on the shard that received the
 * request. Both answer from the shard's current metadata snapshot and the advertised API
 * table; Metadata may first ask the control plane to create missing topics
 * (auto.create.topics.enable) and answers when every creation came back.
 *
 * Runs on a shard thread. Allocates only from the request's arena (plus one
 * sl_topic_create per auto-creation, in shard.c). Never blocks.
 */
#include <errno.h>
#include <string.h>

#include "common/kproto/api.h"
#include "common/kproto/api_versions.h"
#include "common/kproto/metadata.h"
#include "common/log.h"
#include "dataplane/dp_int.h"

/* ---- ApiVersions ---- */

#define API_VERSIONS_MAX 3

/* KIP-511: [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? */
static bool
software_token_valid(const struct sl_str *s)
{
	if (s->len <= 0)
		return false;
	for (int32_t i = 0; i < s->len; i++) {
		char c = s->p[i];
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		bool edge = i == 0 || i == s->len - 1;

		if (!alnum && (edge || (c != '-' && c != '.')))
			return false;
	}
	return true;
}

void
sl_h_api_versions(struct sl_shard *s, struct sl_kreq *req)
{
	struct sl_api_versions_resp resp;
	const struct sl_api_range *apis;
	int16_t ver = req->api_version;
	size_t n;
	int rc;

	sl_api_versions_resp_init(&resp);
	apis = sl_dp_adv_apis(s->dp, &n);
	if (ver < 0 || ver > API_VERSIONS_MAX) {
		/* Unknown version: answer in the v0 layout with UNSUPPORTED_VERSION and the
		 * table, so the client can retry with a version we know. The body is not read. */
		resp.error_code = KERR_UNSUPPORTED_VERSION;
		ver = 0;
	} else {
		struct sl_api_versions_req r;

		if (sl_kapi_req_hdr_ver(req->api_key, ver) >= 2) {
			sl_crd_tags(&req->rd, NULL, NULL);
			if (req->rd.err) {
				sl_h_bad_request(s, req, -EBADMSG);
				return;
			}
		}
		rc = sl_api_versions_req_decode(&req->rd, ver, &r);
		if (rc < 0) {
			sl_h_bad_request(s, req, rc);
			return;
		}
		if (ver >= 3 && (!software_token_valid(&r.client_software_name) ||
		                 !software_token_valid(&r.client_software_version))) {
			resp.error_code = KERR_INVALID_REQUEST;
			n = 0;
		}
	}
	resp.api_keys_cnt = (int32_t)n;
	resp.api_keys = sl_arena_alloc(&req->arena, (n ? n : 1) * sizeof(*resp.api_keys));
	if (!resp.api_keys) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		sl_api_versions_resp_api_version_init(&resp.api_keys[i]);
		resp.api_keys[i].api_key = apis[i].api_key;
		resp.api_keys[i].min_version = apis[i].min_version;
		resp.api_keys[i].max_version = apis[i].max_version;
	}
	/* The response header is v0 at every version (the client may not know ours). */
	sl_kreq_resp_begin(req, false);
	sl_api_versions_resp_encode(&req->w, ver, &resp);
	sl_kreq_done(req);
}

/* ---- Metadata ---- */

struct meta_st {
	struct sl_shard *s;
	struct sl_kreq *req;
	struct sl_metadata_req r;
	int16_t *create_err; /* [topics_cnt], -2: not asked */
	uint32_t pending;
};

static void
fill_partitions(struct sl_kreq *req, const struct sl_meta *m, const struct sl_meta_topic *t,
                struct sl_metadata_resp_topic *rt)
{
	int32_t *node = sl_arena_alloc(&req->arena, sizeof(int32_t));

	if (node)
		*node = m->node_id;
	rt->partitions_cnt = t->nparts;
	rt->partitions = sl_arena_alloc(&req->arena, (size_t)(t->nparts ? t->nparts : 1) *
	                                                     sizeof(*rt->partitions));
	if (!rt->partitions || !node) {
		sl_wbuf_fail(&req->w, -ENOMEM);
		rt->partitions_cnt = 0;
		return;
	}
	for (int32_t p = 0; p < t->nparts; p++) {
		struct sl_metadata_resp_partition *rp = &rt->partitions[p];

		sl_metadata_resp_partition_init(rp);
		rp->error_code = KERR_NONE;
		rp->partition_index = p;
		rp->leader_id = m->node_id;
		rp->leader_epoch = 0;
		rp->replica_nodes = node;
		rp->replica_nodes_cnt = 1;
		rp->isr_nodes = node;
		rp->isr_nodes_cnt = 1;
		rp->offline_replicas = NULL;
		rp->offline_replicas_cnt = 0;
	}
}

static void
fill_topic(struct sl_kreq *req, const struct sl_meta *m, const struct sl_meta_topic *t,
           struct sl_metadata_resp_topic *rt)
{
	sl_metadata_resp_topic_init(rt);
	rt->error_code = KERR_NONE;
	rt->name.p = t->name;
	rt->name.len = t->name_len;
	memcpy(rt->topic_id.b, t->id, 16);
	rt->is_internal = t->internal;
	fill_partitions(req, m, t, rt);
}

static void
meta_respond(struct meta_st *st)
{
	struct sl_kreq *req = st->req;
	const struct sl_meta *m = st->s->meta;
	struct sl_metadata_resp resp;
	struct sl_metadata_resp_broker *b;
	bool all;

	/* v0: an empty list means all topics; v1+: null means all, empty means none. */
	all = st->r.topics_cnt < 0 || (req->api_version == 0 && st->r.topics_cnt == 0);
	sl_metadata_resp_init(&resp);
	resp.throttle_time_ms = 0;
	b = sl_arena_alloc(&req->arena, sizeof(*b));
	if (!b) {
		sl_h_bad_request(st->s, req, -ENOMEM);
		return;
	}
	sl_metadata_resp_broker_init(b);
	if (m) {
		b->node_id = m->node_id;
		b->host.p = m->adv_host ? m->adv_host : "";
		b->host.len = (int32_t)strlen(b->host.p);
		b->port = m->adv_port;
		resp.cluster_id.p = m->cluster_id;
		resp.cluster_id.len = m->cluster_id ? (int32_t)strlen(m->cluster_id) : -1;
		resp.controller_id = m->controller_id;
	} else {
		b->node_id = st->s->dp->o.node_id;
		b->host.p = "";
		b->host.len = 0;
		b->port = 0;
		resp.controller_id = b->node_id;
	}
	resp.brokers = b;
	resp.brokers_cnt = 1;
	if (all) {
		uint32_t nt = m ? m->ntopics : 0;

		resp.topics = sl_arena_alloc(&req->arena, (nt ? nt : 1) * sizeof(*resp.topics));
		resp.topics_cnt = (int32_t)nt;
		if (!resp.topics) {
			sl_h_bad_request(st->s, req, -ENOMEM);
			return;
		}
		for (uint32_t i = 0; i < nt; i++)
			fill_topic(req, m, &m->topics[i], &resp.topics[i]);
	} else {
		int32_t nt = st->r.topics_cnt;

		resp.topics =
		        sl_arena_alloc(&req->arena, (size_t)(nt ? nt : 1) * sizeof(*resp.topics));
		resp.topics_cnt = nt;
		if (!resp.topics) {
			sl_h_bad_request(st->s, req, -ENOMEM);
			return;
		}
		for (int32_t i = 0; i < nt; i++) {
			const struct sl_str *name = &st->r.topics[i].name;
			struct sl_metadata_resp_topic *rt = &resp.topics[i];
			const struct sl_meta_topic *t = NULL;

			if (m && name->len > 0)
				t = sl_meta_find(m, name->p, (size_t)name->len);
			if (t) {
				fill_topic(req, m, t, rt);
				continue;
			}
			sl_metadata_resp_topic_init(rt);
			rt->name = *name;
			rt->partitions_cnt = 0;
			rt->partitions = NULL;
			if (name->len < 0 || !sl_topic_name_valid(name->p, (size_t)name->len))
				rt->error_code = KERR_INVALID_TOPIC;
			else if (st->create_err && st->create_err[i] > 0)
				rt->error_code = st->create_err[i];
			else if (st->create_err && st->create_err[i] == 0)
				rt->error_code =
				        KERR_LEADER_NOT_AVAILABLE; /* created, not visible yet */
			else
				rt->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
		}
	}
	sl_kreq_resp_begin(req, sl_kapi_resp_hdr_ver(req->api_key, req->api_version) >= 1);
	sl_metadata_resp_encode(&req->w, req->api_version, &resp);
	sl_kreq_done(req);
}

static void
meta_created(void *arg, uint32_t idx, int16_t err)
{
	struct meta_st *st = arg;

	st->create_err[idx] = err;
	if (--st->pending == 0)
		meta_respond(st);
}

/* Copies the requested names into the arena so the frame can go back while we wait. */
static int
keep_names(struct meta_st *st)
{
	for (int32_t i = 0; i < st->r.topics_cnt; i++) {
		struct sl_str *n = &st->r.topics[i].name;
		char *p;

		if (n->len <= 0)
			continue;
		p = sl_arena_alloc(&st->req->arena, (size_t)n->len);
		if (!p)
			return -ENOMEM;
		memcpy(p, n->p, (size_t)n->len);
		n->p = p;
	}
	return 0;
}

void
sl_h_metadata(struct sl_shard *s, struct sl_kreq *req)
{
	struct meta_st *st = sl_arena_zalloc(&req->arena, sizeof(*st));
	bool allow;
	int rc;

	if (!st) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	st->s = s;
	st->req = req;
	rc = sl_metadata_req_decode(&req->rd, req->api_version, &st->r);
	if (rc < 0) {
		sl_h_bad_request(s, req, rc);
		return;
	}
	/* Before v4 the broker's setting alone decides (allow_auto_topic_creation defaults
	 * to true). */
	allow = s->dp->o.auto_create && (req->api_version < 4 || st->r.allow_auto_topic_creation);
	if (allow && st->r.topics_cnt > 0) {
		st->create_err =
		        sl_arena_alloc(&req->arena, (size_t)st->r.topics_cnt * sizeof(int16_t));
		if (!st->create_err || keep_names(st) < 0) {
			sl_h_bad_request(s, req, -ENOMEM);
			return;
		}
		st->pending = 1;
		for (int32_t i = 0; i < st->r.topics_cnt; i++) {
			const struct sl_str *name = &st->r.topics[i].name;

			st->create_err[i] = -2;
			if (name->len <= 0 || !sl_topic_name_valid(name->p, (size_t)name->len))
				continue;
			if (s->meta && sl_meta_find(s->meta, name->p, (size_t)name->len))
				continue;
			if (sl_shard_auto_create(s, name->p, (size_t)name->len, meta_created, st,
			                         (uint32_t)i) == 0)
				st->pending++;
		}
		if (st->pending > 1) {
			sl_kreq_release_frame(req);
			if (--st->pending == 0)
				meta_respond(st);
			return;
		}
		st->pending = 0;
	}
	meta_respond(st);
}
