/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kproto_cases.c: the Produce/Fetch codec cases bench_kproto.cc times (see kproto_cases.h).
 * Allocates at creation only; a run never allocates outside the case's arena.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/kbuf.h"
#include "common/kproto/fetch.h"
#include "common/kproto/produce.h"

#include "kproto_cases.h"

#define BK_ARENA_BLK (64 * 1024)
#define BK_ARENA_MAX (16 << 20)
#define BK_BATCH_BYTES (16 * 1024)

struct sl_bk_case {
	enum sl_bk_kind kind;
	int nparts;
	struct sl_arena arena;
	uint8_t *batch; /* BK_BATCH_BYTES, the opaque record batch every partition carries */
	struct iovec batch_iov;
	uint8_t *wire; /* encoded request for the decode cases */
	size_t wire_len;
	struct sl_produce_req preq;
	struct sl_produce_req_topic_produce_data ptopic;
	struct sl_produce_req_partition_produce_data *pparts;
	struct sl_produce_resp presp;
	struct sl_produce_resp_topic_produce_response prtopic;
	struct sl_produce_resp_partition_produce_response *prparts;
	struct sl_fetch_req freq;
	struct sl_fetch_req_topic ftopic;
	struct sl_fetch_req_partition *fparts;
	struct sl_fetch_resp fresp;
	struct sl_fetch_resp_fetchable_topic_response frtopic;
	struct sl_fetch_resp_partition_data *frparts;
};

static const struct sl_str bk_topic = {"bench-topic", 11};

static void
build_produce_req(struct sl_bk_case *c)
{
	sl_produce_req_init(&c->preq);
	sl_produce_req_topic_produce_data_init(&c->ptopic);
	c->preq.acks = 1;
	c->preq.timeout_ms = 30000;
	c->ptopic.name = bk_topic;
	for (int i = 0; i < c->nparts; i++) {
		sl_produce_req_partition_produce_data_init(&c->pparts[i]);
		c->pparts[i].index = i;
		c->pparts[i].records = (struct sl_chain){&c->batch_iov, 1, BK_BATCH_BYTES};
	}
	c->ptopic.partition_data = c->pparts;
	c->ptopic.partition_data_cnt = c->nparts;
	c->preq.topic_data = &c->ptopic;
	c->preq.topic_data_cnt = 1;
}

static void
build_produce_resp(struct sl_bk_case *c)
{
	sl_produce_resp_init(&c->presp);
	sl_produce_resp_topic_produce_response_init(&c->prtopic);
	c->prtopic.name = bk_topic;
	for (int i = 0; i < c->nparts; i++) {
		sl_produce_resp_partition_produce_response_init(&c->prparts[i]);
		c->prparts[i].index = i;
		c->prparts[i].base_offset = 1000000 + i;
		c->prparts[i].record_errors_cnt = 0;
	}
	c->prtopic.partition_responses = c->prparts;
	c->prtopic.partition_responses_cnt = c->nparts;
	c->presp.responses = &c->prtopic;
	c->presp.responses_cnt = 1;
}

static void
build_fetch_req(struct sl_bk_case *c)
{
	sl_fetch_req_init(&c->freq);
	sl_fetch_req_topic_init(&c->ftopic);
	c->freq.max_wait_ms = 500;
	c->freq.min_bytes = 1;
	c->freq.max_bytes = 52428800;
	c->freq.isolation_level = 1;
	c->freq.forgotten_topics_data_cnt = 0;
	c->ftopic.topic = bk_topic;
	for (int i = 0; i < c->nparts; i++) {
		sl_fetch_req_partition_init(&c->fparts[i]);
		c->fparts[i].partition = i;
		c->fparts[i].fetch_offset = 123456789 + i;
		c->fparts[i].partition_max_bytes = 1 << 20;
	}
	c->ftopic.partitions = c->fparts;
	c->ftopic.partitions_cnt = c->nparts;
	c->freq.topics = &c->ftopic;
	c->freq.topics_cnt = 1;
}

static void
build_fetch_resp(struct sl_bk_case *c)
{
	sl_fetch_resp_init(&c->fresp);
	sl_fetch_resp_fetchable_topic_response_init(&c->frtopic);
	c->frtopic.topic = bk_topic;
	for (int i = 0; i < c->nparts; i++) {
		sl_fetch_resp_partition_data_init(&c->frparts[i]);
		c->frparts[i].partition_index = i;
		c->frparts[i].high_watermark = 1000000;
		c->frparts[i].aborted_transactions_cnt = 0;
		c->frparts[i].records = (struct sl_chain){&c->batch_iov, 1, BK_BATCH_BYTES};
	}
	c->frtopic.partitions = c->frparts;
	c->frtopic.partitions_cnt = c->nparts;
	c->fresp.responses = &c->frtopic;
	c->fresp.responses_cnt = 1;
}

/* Encodes the request once and keeps it flat, as it would arrive in one receive buffer. */
static int
keep_wire(struct sl_bk_case *c)
{
	struct sl_wbuf w;
	int r;

	sl_arena_reset(&c->arena);
	sl_wbuf_init(&w, &c->arena);
	r = c->kind == SL_BK_PRODUCE_REQ_DECODE ? sl_produce_req_encode(&w, 7, &c->preq)
	                                        : sl_fetch_req_encode(&w, 11, &c->freq);
	if (r || w.err)
		return r ? r : w.err;
	c->wire = malloc(w.len);
	if (!c->wire)
		return -ENOMEM;
	c->wire_len = sl_wbuf_copyout(&w, c->wire, w.len);
	return c->wire_len == w.len ? 0 : -EIO;
}

struct sl_bk_case *
sl_bk_case_create(enum sl_bk_kind kind, int nparts)
{
	struct sl_bk_case *c;

	if (nparts < 1 || nparts > 4096 || kind > SL_BK_FETCH_RESP_ENCODE)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->kind = kind;
	c->nparts = nparts;
	c->batch = malloc(BK_BATCH_BYTES);
	c->pparts = calloc((size_t)nparts, sizeof(*c->pparts));
	c->prparts = calloc((size_t)nparts, sizeof(*c->prparts));
	c->fparts = calloc((size_t)nparts, sizeof(*c->fparts));
	c->frparts = calloc((size_t)nparts, sizeof(*c->frparts));
	if (!c->batch || !c->pparts || !c->prparts || !c->fparts || !c->frparts ||
	    sl_arena_init(&c->arena, BK_ARENA_BLK, BK_ARENA_MAX))
		goto out_free;
	memset(c->batch, 'x', BK_BATCH_BYTES);
	c->batch_iov = (struct iovec){c->batch, BK_BATCH_BYTES};
	build_produce_req(c);
	build_produce_resp(c);
	build_fetch_req(c);
	build_fetch_resp(c);
	if ((kind == SL_BK_PRODUCE_REQ_DECODE || kind == SL_BK_FETCH_REQ_DECODE) && keep_wire(c))
		goto out_fini;
	return c;

out_fini:
	sl_arena_fini(&c->arena);
out_free:
	free(c->batch);
	free(c->pparts);
	free(c->prparts);
	free(c->fparts);
	free(c->frparts);
	free(c->wire);
	free(c);
	return NULL;
}

void
sl_bk_case_destroy(struct sl_bk_case *c)
{
	if (!c)
		return;
	sl_arena_fini(&c->arena);
	free(c->batch);
	free(c->pparts);
	free(c->prparts);
	free(c->fparts);
	free(c->frparts);
	free(c->wire);
	free(c);
}

long
sl_bk_case_run(struct sl_bk_case *c)
{
	struct sl_crd rd;
	struct iovec iov;
	struct sl_wbuf w;
	int r;

	sl_arena_reset(&c->arena);
	switch (c->kind) {
	case SL_BK_PRODUCE_REQ_DECODE: {
		struct sl_produce_req out;

		sl_crd_init_buf(&rd, &iov, c->wire, c->wire_len, &c->arena);
		r = sl_produce_req_decode(&rd, 7, &out);
		if (!r && out.topic_data[0].partition_data_cnt != c->nparts)
			r = -EBADMSG;
		return r ? r : (long)c->wire_len;
	}
	case SL_BK_FETCH_REQ_DECODE: {
		struct sl_fetch_req out;

		sl_crd_init_buf(&rd, &iov, c->wire, c->wire_len, &c->arena);
		r = sl_fetch_req_decode(&rd, 11, &out);
		if (!r && out.topics[0].partitions_cnt != c->nparts)
			r = -EBADMSG;
		return r ? r : (long)c->wire_len;
	}
	case SL_BK_PRODUCE_RESP_ENCODE:
		sl_wbuf_init(&w, &c->arena);
		r = sl_produce_resp_encode(&w, 7, &c->presp);
		return r ? r : w.err ? w.err : (long)w.len;
	case SL_BK_FETCH_RESP_ENCODE:
		sl_wbuf_init(&w, &c->arena);
		r = sl_fetch_resp_encode(&w, 11, &c->fresp);
		return r ? r : w.err ? w.err : (long)w.len;
	}
	return -EINVAL;
}
