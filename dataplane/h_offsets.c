// SPDX-License-Identifier: Apache-2.0
/*
 * h_offsets.c: ListOffsets 0-3. Per partition an OFFSETS operation on the owning shard:
 * timestamp -1 = latest (the high watermark, which is also the last stable offset without
 * transactions), -2 = earliest (log start offset), >= 0 = the first offset whose
 * timestamp is at least that (sl_plog_offset_for_time; offset -1 when there is none).
 * v0 answers with the old_style_offsets array (one offset, or none).
 *
 * Runs on a shard thread. Allocates only from the request's arena. Blocks only where
 * sl_plog_offset_for_time reads a segment (rare, bounded).
 */
#include <errno.h>
#include <string.h>

#include "common/kproto/api.h"
#include "common/kproto/list_offsets.h"
#include "common/log.h"
#include "dataplane/dp_int.h"

struct lo_st {
	struct sl_shard *s;
	struct sl_kreq *req;
	struct sl_list_offsets_req r;
	struct sl_pop *pops;
	uint32_t pending;
};

static void
lo_respond(struct lo_st *st)
{
	struct sl_kreq *req = st->req;
	struct sl_list_offsets_resp resp;
	uint32_t k = 0;

	sl_list_offsets_resp_init(&resp);
	resp.throttle_time_ms = 0;
	resp.topics_cnt = st->r.topics_cnt;
	resp.topics = sl_arena_alloc(&req->arena, (size_t)(resp.topics_cnt ? resp.topics_cnt : 1) *
	                                                  sizeof(*resp.topics));
	if (!resp.topics) {
		sl_h_bad_request(st->s, req, -ENOMEM);
		return;
	}
	for (int32_t i = 0; i < st->r.topics_cnt; i++) {
		const struct sl_list_offsets_req_topic *rt = &st->r.topics[i];
		struct sl_list_offsets_resp_topic_response *tr = &resp.topics[i];
		int32_t np = rt->partitions_cnt;

		tr->name = rt->name;
		tr->partitions_cnt = np;
		tr->partitions = sl_arena_alloc(&req->arena,
		                                (size_t)(np ? np : 1) * sizeof(*tr->partitions));
		if (!tr->partitions) {
			sl_h_bad_request(st->s, req, -ENOMEM);
			return;
		}
		for (int32_t j = 0; j < np; j++, k++) {
			struct sl_list_offsets_resp_partition_response *pr = &tr->partitions[j];
			const struct sl_pop *p = &st->pops[k];

			sl_list_offsets_resp_partition_response_init(pr);
			pr->partition_index = rt->partitions[j].partition_index;
			pr->error_code = p->kerr;
			pr->timestamp = p->kerr ? -1 : p->ts_out;
			pr->offset = p->kerr ? -1 : p->off_out;
			if (req->api_version == 0) {
				int64_t *o = sl_arena_alloc(&req->arena, sizeof(*o));

				if (!o) {
					sl_h_bad_request(st->s, req, -ENOMEM);
					return;
				}
				*o = p->off_out;
				pr->old_style_offsets = o;
				pr->old_style_offsets_cnt = !p->kerr && p->off_out >= 0 &&
				                            rt->partitions[j].max_num_offsets > 0;
			}
		}
	}
	sl_kreq_resp_begin(req, sl_kapi_resp_hdr_ver(req->api_key, req->api_version) >= 1);
	sl_list_offsets_resp_encode(&req->w, req->api_version, &resp);
	sl_kreq_done(req);
}

static void
lo_pop_done(struct sl_pop *p)
{
	struct lo_st *st = p->owner;

	if (--st->pending == 0)
		lo_respond(st);
}

void
sl_h_list_offsets(struct sl_shard *s, struct sl_kreq *req)
{
	struct lo_st *st = sl_arena_zalloc(&req->arena, sizeof(*st));
	const struct sl_meta *m = s->meta;
	uint32_t n = 0, k = 0;
	int rc;

	if (!st) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	st->s = s;
	st->req = req;
	rc = sl_list_offsets_req_decode(&req->rd, req->api_version, &st->r);
	if (rc < 0) {
		sl_h_bad_request(s, req, rc);
		return;
	}
	if (st->r.topics_cnt < 0)
		st->r.topics_cnt = 0;
	for (int32_t i = 0; i < st->r.topics_cnt; i++) {
		if (st->r.topics[i].partitions_cnt < 0)
			st->r.topics[i].partitions_cnt = 0;
		n += (uint32_t)st->r.topics[i].partitions_cnt;
	}
	st->pops = sl_arena_zalloc(&req->arena, (n ? n : 1) * sizeof(*st->pops));
	if (!st->pops) {
		sl_h_bad_request(s, req, -ENOMEM);
		return;
	}
	st->pending = 1;
	for (int32_t i = 0; i < st->r.topics_cnt; i++) {
		const struct sl_list_offsets_req_topic *rt = &st->r.topics[i];
		const struct sl_meta_topic *t = NULL;

		if (m && rt->name.len > 0)
			t = sl_meta_find(m, rt->name.p, (size_t)rt->name.len);
		for (int32_t j = 0; j < rt->partitions_cnt; j++, k++) {
			struct sl_pop *p = &st->pops[k];
			int owner = sl_shard_owner(t, rt->partitions[j].partition_index);

			p->kind = SL_POP_OFFSETS;
			p->topic = rt->name.p;
			p->topic_len = (uint16_t)SL_MAX(rt->name.len, 0);
			p->partition = rt->partitions[j].partition_index;
			p->ts = rt->partitions[j].timestamp;
			p->owner = st;
			p->idx = k;
			p->done = lo_pop_done;
			p->off_out = -1;
			p->ts_out = -1;
			if (owner < 0) {
				p->kerr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			p->to = (uint16_t)owner;
			st->pending++;
			sl_pop_submit(s, p);
		}
	}
	if (--st->pending == 0)
		lo_respond(st);
}
