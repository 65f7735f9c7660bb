// SPDX-License-Identifier: Apache-2.0
/*
 * h_produce.c: Produce 3-7. Each partition's records (a chain over the receive segments,
 * never copied here) go to the owning shard's log as one append operation (struct
 * sl_pop); storage validates every batch (a corrupt batch: CORRUPT_MESSAGE for that
 * partition and nothing appended; too large: MESSAGE_TOO_LARGE) and assigns offsets. The
 * response leaves when every partition's append completed (durable mode: after its
 * fdatasync); acks=0 gets no response at all, but its appends still complete before the
 * request slot is freed, so the receive segments stay valid while they are copied.
 *
 * Unknown topics are created first when auto.create.topics.enable is set (the request
 * waits for the control plane), else UNKNOWN_TOPIC_OR_PARTITION.
 *
 * Runs on a shard thread. Allocates only from the request's arena. Never blocks.
 */
#include <errno.h>
#include <string.h>

#include "common/kproto/api.h"
#include "common/kproto/produce.h"
#include "common/log.h"
#include "dataplane/dp_int.h"

struct prod_st {
	struct sl_shard *s;
	struct sl_kreq *req;
	struct sl_produce_req r;
	struct sl_pop *pops; /* one per partition, in request order */
	uint32_t npops;
	uint32_t pending;
	int16_t *create_err; /* per topic: -2 not asked, else the control plane's answer */
	int16_t req_err;     /* for every partition (INVALID_REQUIRED_ACKS) */
};

static void
prod_respond(struct prod_st *st)
{
	struct sl_kreq *req = st->req;
	struct sl_produce_resp resp;
	uint32_t k = 0;

	if (req->no_response) {
		sl_kreq_done(req);
		return;
	}
	sl_produce_resp_init(&resp);
	resp.throttle_time_ms = 0;
	resp.responses_cnt = st->r.topic_data_cnt < 0 ? 0 : st->r.topic_data_cnt;
	resp.responses =
	        sl_arena_alloc(&req->arena, (size_t)(resp.responses_cnt ? resp.responses_cnt : 1) *
	                                            sizeof(*resp.responses));
	if (!resp.responses) {
		sl_h_bad_request(st->s, req, -ENOMEM);
		return;
	}
	for (int32_t i = 0; i < resp.responses_cnt; i++) {
		const struct sl_produce_req_topic_produce_data *td = &st->r.topic_data[i];
		struct sl_produce_resp_topic_produce_response *rt = &resp.responses[i];
		int32_t np = td->partition_data_cnt < 0 ? 0 : td->partition_data_cnt;

		rt->name = td->name;
		rt->partition_responses_cnt = np;
		rt->partition_responses = sl_arena_alloc(
		        &req->arena, (size_t)(np ? np : 1) * sizeof(*rt->partition_responses));
		if (!rt->partition_responses) {
			sl_h_bad_request(st->s, req, -ENOMEM);
			return;
		}
		for (int32_t j = 0; j < np; j++, k++) {
			struct sl_produce_resp_partition_produce_response *rp =
			        &rt->partition_responses[j];
			const struct sl_pop *p = &st->pops[k];

			sl_produce_resp_partition_produce_response_init(rp);
			rp->index = td->partition_data[j].index;
			rp->error_code = p->kerr;
			rp->base_offset = p->kerr ? -1 : p->app.base_offset;
			rp->log_append_time_ms = p->kerr ? -1 : p->app.log_append_time_ms;
			rp->log_start_offset = p->kerr ? -1 : p->log_start;
			rp->record_errors_cnt = 0;
		}
	}
	sl_kreq_resp_begin(req, sl_kapi_resp_hdr_ver(req->api_key, req->api_version) >= 1);
	sl_produce_resp_encode(&req->w, req->api_version, &resp);
	sl_kreq_done(req);
}

static void
prod_pop_done(struct sl_pop *p)
{
	struct prod_st *st = p->owner;

	if (--st->pending == 0)
		prod_respond(st);
}

static void
prod_start_appends(struct prod_st *st)
{
	struct sl_shard *s = st->s;
	const struct sl_meta *m = s->meta;
	uint32_t k = 0;

	st->pending = 1;
	for (int32_t i = 0; i < st->r.topic_data_cnt; i++) {
		const struct sl_produce_req_topic_produce_data *td = &st->r.topic_data[i];
		const struct sl_meta_topic *t = NULL;

		if (m && td->name.len > 0)
			t = sl_meta_find(m, td->name.p, (size_t)td->name.len);
		for (int32_t j = 0; j < td->partition_data_cnt; j++, k++) {
			const struct sl_produce_req_partition_produce_data *pd =
			        &td->partition_data[j];
			struct sl_pop *p = &st->pops[k];
			int owner;

			p->kind = SL_POP_APPEND;
			p->topic = td->name.p;
			p->topic_len = (uint16_t)SL_MAX(td->name.len, 0);
			p->partition = pd->index;
			p->owner = st;
			p->idx = k;
			p->done = prod_pop_done;
			p->kerr = st->req_err;
			if (p->kerr)
				continue;
			owner = sl_shard_owner(t, pd->index);
			if (owner < 0) {
				if (td->name.len <= 0 ||
				    !sl_topic_name_valid(td->name.p, (size_t)td->name.len))
					p->kerr = KERR_INVALID_TOPIC;
				else if (!t && st->create_err && st->create_err[i] > 0)
					p->kerr = st->create_err[i];
				else
					p->kerr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			if (pd->records.len <= 0) {
				p->kerr = KERR_CORRUPT_MESSAGE; /* no batch at all */
				continue;
			}
			p->to = (uint16_t)owner;
			p->iov = pd->records.iov;
			p->niov = pd->records.n;
			st->pending++;
			sl_pop_submit(s, p);
		}
	}
	if (--st->pending == 0)
		prod_respond(st);
}

static void
prod_created(void *arg, uint32_t idx, int16_t err)
{
	struct prod_st *st = arg;

	st->create_err[idx] = err;
	if (--st->pending == 0)
		prod_start_appends(st);
}

void
sl_h_produce(struct sl_shard *s, struct sl_kreq *req)
{
	struct prod_st *st = sl_arena_zalloc(&req->arena, sizeof(*st));
	uint32_t n = 0;
	int rc;

	if (!st) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	st->s = s;
	st->req = req;
	rc = sl_produce_req_decode(&req->rd, req->api_version, &st->r);
	if (rc < 0) {
		sl_h_bad_request(s, req, rc);
		return;
	}
	if (st->r.topic_data_cnt < 0)
		st->r.topic_data_cnt = 0;
	for (int32_t i = 0; i < st->r.topic_data_cnt; i++) {
		if (st->r.topic_data[i].partition_data_cnt < 0)
			st->r.topic_data[i].partition_data_cnt = 0;
		n += (uint32_t)st->r.topic_data[i].partition_data_cnt;
	}
	st->npops = n;
	st->pops = sl_arena_zalloc(&req->arena, (n ? n : 1) * sizeof(*st->pops));
	if (!st->pops) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	if (st->r.acks == 0)
		req->no_response = true;
	else if (st->r.acks != 1 && st->r.acks != -1)
		st->req_err = KERR_INVALID_REQUIRED_ACKS;

	/* Unknown topics: create them first (once each), then append. */
	if (!st->req_err && s->dp->o.auto_create && st->r.topic_data_cnt > 0) {
		st->create_err =
		        sl_arena_alloc(&req->arena, (size_t)st->r.topic_data_cnt * sizeof(int16_t));
		if (!st->create_err) {
			sl_h_bad_request(s, req, -ENOMEM);
			return;
		}
		st->pending = 1;
		for (int32_t i = 0; i < st->r.topic_data_cnt; i++) {
			const struct sl_str *name = &st->r.topic_data[i].name;
			bool dup = false;

			st->create_err[i] = -2;
			if (name->len <= 0 || !sl_topic_name_valid(name->p, (size_t)name->len))
				continue;
			if (s->meta && sl_meta_find(s->meta, name->p, (size_t)name->len))
				continue;
			for (int32_t j = 0; j < i; j++)
				dup |= st->r.topic_data[j].name.len == name->len &&
				       memcmp(st->r.topic_data[j].name.p, name->p,
				              (size_t)name->len) == 0;
			if (dup)
				continue;
			if (sl_shard_auto_create(s, name->p, (size_t)name->len, prod_created, st,
			                         (uint32_t)i) == 0)
				st->pending++;
		}
		if (--st->pending > 0)
			return;
	}
	prod_start_appends(st);
}
