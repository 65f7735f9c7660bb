// SPDX-License-Identifier: Apache-2.0
/*
 * ctrl.c: the control plane's thread, its rings to and from the shards, the outgoing
 * queues, and snapshot publication (control/control.h).
 *
 * One iteration (ctl_poll), on the control thread:
 *   1. pop every shard's ring: admin requests, auto-creations, partition-op answers;
 *   2. start waiting items whose topic became free (ctl_pend_retry);
 *   3. answer finished requests and those past their deadline (ctl_pend_expire);
 *   4. publish a snapshot if any topic changed, so every answer queued in (3) leaves
 *      after the snapshot that shows its effect (a client that created a topic and then
 *      produces to it finds it);
 *   5. push the queued messages (answers first; partition ops at most op_cap in flight
 *      per shard, so a shard's answers to them always fit in its ring to us), wake the
 *      shards that got something;
 *   6. free the snapshots no shard can still hold.
 * Then it sleeps on an eventfd until a shard notifies it or the next deadline.
 *
 * Allocates with malloc (requests, topics, snapshots): the control plane is not on the
 * hot path. Blocks only in its sleep and in metadata-file writes (topic.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "control/ctrl_int.h"

#define POP_BURST 256      /* messages per shard ring per iteration */
#define IDLE_WAIT_MS 100   /* sleep bound with nothing to wait for */
#define RECLAIM_WAIT_MS 20 /* while retired snapshots wait for shards */
#define ARENA_BLK (64 * 1024)
#define ARENA_MAX (64 * 1024 * 1024) /* bounded by socket.request.max.bytes anyway */

static const struct sl_api_range apis[] = {
        {19, 0, 4}, /* CreateTopics: v5+ is flexible */
        {20, 0, 3}, /* DeleteTopics */
        {22, 0, 4}, /* InitProducerId (idempotent producers only; v5 unused by clients) */
        {32, 0, 2}, /* DescribeConfigs */
        {37, 0, 1}, /* CreatePartitions */
        /* group coordinator (grp_api.c, H1) */
        {8, 2, 7},  /* OffsetCommit */
        {9, 1, 5},  /* OffsetFetch: v6+ is flexible */
        {10, 0, 2}, /* FindCoordinator: the minimum must be 0 (librdkafka) */
        {11, 0, 5}, /* JoinGroup: v6+ is flexible */
        {12, 0, 3}, /* Heartbeat */
        {13, 0, 3}, /* LeaveGroup */
        {14, 0, 3}, /* SyncGroup */
        {15, 0, 4}, /* DescribeGroups */
        {16, 0, 2}, /* ListGroups */
        {42, 0, 1}, /* DeleteGroups */
        {47, 0, 0}, /* OffsetDelete */
        {33, 0, 1}, /* AlterConfigs (H3): v2 is flexible */
        {44, 0, 1}, /* IncrementalAlterConfigs (H3) */
        {60, 0, 0}, /* DescribeCluster (H3) */
        {21, 0, 1}, /* DeleteRecords (H3): v2 is flexible */
};

const struct sl_api_range *
sl_ctrl_apis(size_t *n)
{
	*n = SL_ARRAY_SIZE(apis);
	return apis;
}

uint16_t
sl_ctrl_shard_of(const char *name, size_t len, int32_t p, uint16_t nshards)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	if (nshards <= 1)
		return 0;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 16777619u;
	}
	return (uint16_t)(((uint64_t)h + (uint64_t)(uint32_t)p) % nshards);
}

/* ---- outgoing queues ---- */

static int
outq_push(struct ctl_outq *q, const struct sl_msg *m)
{
	if (q->n == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 64;
		struct sl_msg *v = malloc(cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		for (uint32_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->head = 0;
		q->cap = cap;
	}
	q->v[(q->head + q->n) % q->cap] = *m;
	q->n++;
	return 0;
}

static const struct sl_msg *
outq_front(struct ctl_outq *q)
{
	return q->n ? &q->v[q->head] : NULL;
}

static void
outq_pop(struct ctl_outq *q)
{
	q->head = (q->head + 1) % q->cap;
	q->n--;
}

void
ctl_push_resp(struct sl_ctrl *c, uint16_t shard, const struct sl_msg *m)
{
	/* Answers must never be lost: a shard waits for each. Retry the allocation (the
	 * queue only grows when a shard stopped popping its ring). */
	while (outq_push(&c->respq[shard], m) < 0) {
		SL_LOG_RATELIMIT(SL_LOG_ERROR, "control: out of memory queueing an answer");
		usleep(1000);
	}
}

int
ctl_send_partop(struct sl_ctrl *c, struct ctl_topic *t, uint32_t type, int32_t p)
{
	struct ctl_partop *po = calloc(1, sizeof(*po));
	struct sl_msg m = {.type = type, .from = SL_MSG_FROM_CONTROL};

	if (!po)
		return -ENOMEM;
	memcpy(po->op.topic, t->name, t->name_len);
	po->op.partition = p;
	po->op.cfg = t->cfg;
	po->op.cookie = t;
	po->type = type;
	po->shard = sl_ctrl_shard_of(t->name, t->name_len, p, c->o.nshards);
	m.ptr = &po->op;
	if (outq_push(&c->opq[po->shard], &m) < 0) {
		free(po);
		return -ENOMEM;
	}
	t->outstanding++;
	return 0;
}

int
ctl_queue_partop(struct sl_ctrl *c, struct ctl_partop *po)
{
	struct sl_msg m = {.type = po->type, .from = SL_MSG_FROM_CONTROL, .ptr = &po->op};

	return outq_push(&c->opq[po->shard], &m);
}

static void
flush(struct sl_ctrl *c)
{
	const struct sl_meta *cur = sl_meta_current(&c->pub);

	for (uint16_t s = 0; s < c->o.nshards; s++) {
		struct sl_ring *r = &c->out[s];
		const struct sl_msg *m;

		if (c->meta_pending[s]) {
			struct sl_msg mm = {.type = SL_MSG_META,
			                    .from = SL_MSG_FROM_CONTROL,
			                    .arg = cur ? cur->version : 0};

			if (sl_ring_push(r, &mm)) {
				c->meta_pending[s] = false;
				c->pushed[s] = true;
			}
		}
		while ((m = outq_front(&c->respq[s])) && sl_ring_push(r, m)) {
			outq_pop(&c->respq[s]);
			c->pushed[s] = true;
		}
		while (c->inflight[s] < c->op_cap && (m = outq_front(&c->opq[s])) &&
		       sl_ring_push(r, m)) {
			outq_pop(&c->opq[s]);
			c->inflight[s]++;
			c->pushed[s] = true;
			atomic_fetch_add_explicit(&c->st.part_ops, 1, memory_order_relaxed);
		}
		if (c->pushed[s]) {
			c->pushed[s] = false;
			if (c->o.wake_shard)
				c->o.wake_shard(c->o.wake_arg, s);
		}
	}
}

static bool
queues_blocked(struct sl_ctrl *c)
{
	for (uint16_t s = 0; s < c->o.nshards; s++)
		if (c->respq[s].n || c->meta_pending[s] ||
		    (c->opq[s].n && c->inflight[s] < c->op_cap))
			return true;
	return false;
}

/* ---- snapshots ---- */

int
ctl_publish(struct sl_ctrl *c)
{
	uint32_t n = 0, k = 0;
	int32_t *nparts;
	struct sl_meta *m;

	for (uint32_t i = 0; i < c->ntopics; i++)
		n += c->topics[i]->state == TS_LIVE || c->topics[i]->state == TS_GROWING ||
		     c->topics[i]->state == TS_SHRINKING;
	nparts = malloc((n ? n : 1) * sizeof(*nparts));
	if (!nparts)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->ntopics; i++) {
		const struct ctl_topic *t = c->topics[i];

		if (t->state == TS_LIVE || t->state == TS_GROWING || t->state == TS_SHRINKING)
			nparts[k++] = t->nparts;
	}
	m = sl_meta_alloc(n, nparts, c->cluster_id, c->adv_host);
	free(nparts);
	if (!m)
		return -ENOMEM;
	m->node_id = c->o.node_id;
	m->controller_id = c->o.node_id;
	m->adv_port = c->o.adv_port;
	k = 0;
	for (uint32_t i = 0; i < c->ntopics; i++) {
		const struct ctl_topic *t = c->topics[i];
		struct sl_meta_topic *mt;
		uint16_t *ps;

		if (!(t->state == TS_LIVE || t->state == TS_GROWING || t->state == TS_SHRINKING))
			continue;
		mt = sl_meta_topic_mut(m, k);
		ps = sl_meta_part_shard_mut(m, k);
		memcpy(mt->name, t->name, t->name_len);
		mt->name_len = t->name_len;
		memcpy(mt->id, t->id, 16);
		mt->internal = t->internal;
		mt->cfg = t->cfg;
		mt->overrides = t->overrides;
		for (int32_t p = 0; p < t->nparts; p++)
			ps[p] = sl_ctrl_shard_of(t->name, t->name_len, p, c->o.nshards);
		k++;
	}
	sl_meta_sort(m);
	if (sl_meta_publish(&c->pub, m) < 0)
		return -ENOMEM;
	atomic_fetch_add_explicit(&c->st.published, 1, memory_order_relaxed);
	for (uint16_t s = 0; s < c->o.nshards; s++)
		c->meta_pending[s] = true;
	return 0;
}

/* ---- the loop ---- */

static void
handle_msg(struct sl_ctrl *c, uint16_t shard, const struct sl_msg *m)
{
	switch (m->type) {
	case SL_MSG_CTRL_REQ:
		atomic_fetch_add_explicit(&c->st.reqs, 1, memory_order_relaxed);
		ctl_handle_req(c, shard, m->ptr);
		sl_arena_reset(&c->arena);
		break;
	case SL_MSG_TOPIC_CREATE:
		atomic_fetch_add_explicit(&c->st.auto_creates, 1, memory_order_relaxed);
		ctl_handle_auto_create(c, shard, m->ptr);
		break;
	case SL_MSG_PART_DONE: {
		struct ctl_partop *po =
		        SL_CONTAINER_OF((struct sl_part_op *)m->ptr, struct ctl_partop, op);

		SL_BUG_ON(!m->ptr || po->shard >= c->o.nshards || c->inflight[po->shard] == 0);
		c->inflight[po->shard]--;
		ctl_topic_partop_done(c, po);
		break;
	}
	default:
		SL_LOG_RATELIMIT(SL_LOG_WARN, "control: unexpected message type %u from shard %u",
		                 m->type, shard);
		break;
	}
}

void
ctl_poll(struct sl_ctrl *c, int64_t now_ns)
{
	struct sl_msg m;

	c->now_ns = now_ns;
	for (uint16_t s = 0; s < c->o.nshards; s++)
		for (unsigned i = 0; i < POP_BURST && sl_ring_pop(&c->in[s], &m); i++)
			handle_msg(c, s, &m);
	while (c->retry) {
		c->retry = false;
		ctl_pend_retry(c);
	}
	ctl_grp_poll(c);
	ctl_pend_expire(c, false);
	if (c->dirty) {
		if (ctl_publish(c) == 0)
			c->dirty = false;
		else
			SL_LOG_RATELIMIT(SL_LOG_ERROR,
			                 "control: out of memory publishing metadata");
	}
	if (!c->ready && c->loading == 0 && !c->dirty) {
		pthread_mutex_lock(&c->lock);
		c->ready = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	flush(c);
	atomic_fetch_add_explicit(&c->st.reclaimed, sl_meta_reclaim(&c->pub), memory_order_relaxed);
	atomic_store_explicit(&c->st.topics, c->ntopics, memory_order_relaxed);
	atomic_store_explicit(&c->st.pending, c->npend, memory_order_relaxed);
}

static bool
rings_empty(struct sl_ctrl *c)
{
	for (uint16_t s = 0; s < c->o.nshards; s++)
		if (!sl_ring_empty(&c->in[s]))
			return false;
	return true;
}

static int
next_wait_ms(struct sl_ctrl *c)
{
	int64_t wait = IDLE_WAIT_MS;

	if (queues_blocked(c))
		return 1;
	if (c->pub.nretired)
		wait = RECLAIM_WAIT_MS;
	for (struct ctl_pend *p = c->pend; p; p = p->next) {
		int64_t left = (p->deadline_ns - c->now_ns) / 1000000 + 1;

		if (left < wait)
			wait = left < 0 ? 0 : left;
	}
	wait = ctl_grp_wait_ms(c, wait);
	return (int)wait;
}

static void *
ctl_thread(void *arg)
{
	struct sl_ctrl *c = arg;
	struct pollfd pfd = {.fd = c->efd, .events = POLLIN};
	uint64_t v;

	while (!atomic_load_explicit(&c->stop, memory_order_acquire)) {
		int wait;

		ctl_poll(c, sl_now_ns());
		wait = next_wait_ms(c);
		if (!wait)
			continue;
		/* F1: pairs with the fence in sl_ctrl_notify (store sleeping, then look at the
		 * rings; the shard pushes, then looks at sleeping: one of us sees the other) */
		atomic_store_explicit(&c->sleeping, 1, memory_order_seq_cst);
		atomic_thread_fence(memory_order_seq_cst);
		if (rings_empty(c) && !atomic_load_explicit(&c->stop, memory_order_acquire)) {
			if (poll(&pfd, 1, wait) > 0)
				(void)!read(c->efd, &v, sizeof(v));
		}
		atomic_store_explicit(&c->sleeping, 0, memory_order_relaxed);
	}
	/* Last answers: everything still waiting times out. */
	c->now_ns = sl_now_ns();
	for (uint16_t s = 0; s < c->o.nshards; s++) {
		struct sl_msg m;

		while (sl_ring_pop(&c->in[s], &m))
			handle_msg(c, s, &m);
	}
	ctl_pend_expire(c, true);
	ctl_grp_fini(c); /* parked group requests answered before the last flush */
	if (c->dirty && ctl_publish(c) == 0)
		c->dirty = false;
	flush(c);
	return NULL;
}

void
sl_ctrl_notify(struct sl_ctrl *c)
{
	uint64_t one = 1;

	/* F2: pairs with F1 in ctl_thread */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->sleeping, memory_order_relaxed))
		(void)!write(c->efd, &one, sizeof(one));
}

/* ---- lifecycle ---- */

static char *
dup_or_null(const char *s, int *err)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*err = -ENOMEM;
	return d;
}

const char *
ctl_bprop(void *arg, const char *key)
{
	struct sl_ctrl *c = arg;

	for (size_t i = c->nbprops; i-- > 0;)
		if (strcmp(c->bprops[i].key, key) == 0)
			return c->bprops[i].val;
	return NULL;
}

int
sl_ctrl_create(struct sl_ctrl **out, const struct sl_ctrl_opts *o)
{
	struct sl_ctrl *c;
	struct sl_meta *m;
	uint16_t n = o->nshards;
	int err = 0;

	*out = NULL;
	if (!n || !o->log_dir || !o->log_dir[0] || o->ring_slots < 4 ||
	    (o->ring_slots & (o->ring_slots - 1)))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->efd = -1;
	c->o = *o;
	c->o.props = NULL;
	c->log_dir = dup_or_null(o->log_dir, &err);
	c->cluster_id = dup_or_null(o->cluster_id, &err);
	c->adv_host = dup_or_null(o->adv_host ? o->adv_host : "127.0.0.1", &err);
	if (c->log_dir && asprintf(&c->topics_dir, "%s/.sluice-topics", c->log_dir) < 0) {
		c->topics_dir = NULL;
		err = -ENOMEM;
	}
	if (err)
		goto out_destroy;
	c->o.log_dir = c->log_dir;
	c->o.adv_host = c->adv_host;
	c->o.cluster_id = NULL;
	if (o->props) {
		c->bprops = calloc(o->props->n ? o->props->n : 1, sizeof(*c->bprops));
		if (!c->bprops)
			goto out_nomem;
		for (size_t i = 0; i < o->props->n; i++) {
			c->bprops[i].key = strdup(o->props->v[i].key);
			c->bprops[i].val = strdup(o->props->v[i].val ? o->props->v[i].val : "");
			c->nbprops++;
			if (!c->bprops[i].key || !c->bprops[i].val)
				goto out_nomem;
		}
	}
	c->in = calloc(n, sizeof(*c->in));
	c->out = calloc(n, sizeof(*c->out));
	c->respq = calloc(n, sizeof(*c->respq));
	c->opq = calloc(n, sizeof(*c->opq));
	c->inflight = calloc(n, sizeof(*c->inflight));
	c->meta_pending = calloc(n, sizeof(*c->meta_pending));
	c->pushed = calloc(n, sizeof(*c->pushed));
	if (!c->in || !c->out || !c->respq || !c->opq || !c->inflight || !c->meta_pending ||
	    !c->pushed)
		goto out_nomem;
	for (uint16_t s = 0; s < n; s++) {
		if (sl_ring_init(&c->in[s], o->ring_slots, sizeof(struct sl_msg)) < 0 ||
		    sl_ring_init(&c->out[s], o->ring_slots, sizeof(struct sl_msg)) < 0)
			goto out_nomem;
	}
	c->op_cap = o->ring_slots / 2;
	if (sl_arena_init(&c->arena, ARENA_BLK, ARENA_MAX) < 0)
		goto out_nomem;
	err = ctl_grp_init(c);
	if (err)
		goto out_destroy;
	if (sl_meta_pub_init(&c->pub, n) < 0)
		goto out_nomem;
	m = sl_meta_alloc(0, NULL, "", c->adv_host);
	if (!m)
		goto out_nomem;
	m->node_id = o->node_id;
	m->controller_id = o->node_id;
	m->adv_port = o->adv_port;
	if (sl_meta_publish(&c->pub, m) < 0)
		goto out_nomem;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		err = -errno;
		goto out_destroy;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	*out = c;
	return 0;
out_nomem:
	err = -ENOMEM;
out_destroy:
	sl_ctrl_destroy(c);
	return err;
}

struct sl_ring *
sl_ctrl_ring_to_shard(struct sl_ctrl *c, uint16_t shard)
{
	return shard < c->o.nshards ? &c->out[shard] : NULL;
}

struct sl_ring *
sl_ctrl_ring_from_shard(struct sl_ctrl *c, uint16_t shard)
{
	return shard < c->o.nshards ? &c->in[shard] : NULL;
}

struct sl_meta_pub *
sl_ctrl_meta_pub(struct sl_ctrl *c)
{
	return &c->pub;
}

int
ctl_prepare(struct sl_ctrl *c)
{
	int r = ctl_cluster_id_load(c);

	if (r < 0) {
		SL_ERR("control: cannot read or write %s/meta.properties: %s", c->log_dir,
		       strerror(-r));
		return r;
	}
	r = ctl_load(c);
	if (r < 0)
		return r;
	r = ctl_grp_load(c);
	if (r < 0)
		return r;
	c->dirty = true; /* the cluster id is known now */
	return 0;
}

int
sl_ctrl_start(struct sl_ctrl *c)
{
	int r;

	if (c->started)
		return -EALREADY;
	r = ctl_prepare(c);
	if (r < 0)
		return r;
	r = pthread_create(&c->thread, NULL, ctl_thread, c);
	if (r)
		return -r;
	pthread_setname_np(c->thread, "sl-control");
	c->started = true;
	return 0;
}

int
sl_ctrl_wait_ready(struct sl_ctrl *c, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&c->lock);
	while (!c->ready && r == 0)
		r = timeout_ms < 0 ? pthread_cond_wait(&c->cond, &c->lock)
		                   : pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	r = c->ready ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&c->lock);
	return r;
}

void
sl_ctrl_stop(struct sl_ctrl *c)
{
	uint64_t one = 1;

	if (!c || !c->started)
		return;
	atomic_store_explicit(&c->stop, true, memory_order_release);
	(void)!write(c->efd, &one, sizeof(one));
	pthread_join(c->thread, NULL);
	c->started = false;
}

void
sl_ctrl_destroy(struct sl_ctrl *c)
{
	if (!c)
		return;
	sl_ctrl_stop(c);
	/* Requests never answered (the thread never ran, or tests): answer them now so
	 * nothing they own leaks; they are left in the rings. */
	if (c->respq)
		ctl_pend_expire(c, true);
	ctl_grp_fini(c);
	ctl_mlog_close(c);
	for (uint16_t s = 0; c->in && s < c->o.nshards; s++) {
		struct sl_msg m;

		while (c->in[s].slots && sl_ring_pop(&c->in[s], &m)) {
			if (m.type == SL_MSG_PART_DONE)
				free(SL_CONTAINER_OF((struct sl_part_op *)m.ptr, struct ctl_partop,
				                     op));
		}
		sl_ring_fini(&c->in[s]);
	}
	for (uint16_t s = 0; c->out && s < c->o.nshards; s++) {
		struct sl_msg m;

		/* Part ops still queued or in the ring are ours to free; answers in the
		 * ring belong to the shards' requests and are left to them. */
		while (c->out[s].slots && sl_ring_pop(&c->out[s], &m))
			if (m.type >= SL_MSG_PART_OPEN && m.type <= SL_MSG_PART_DELETE_RECORDS)
				free(SL_CONTAINER_OF((struct sl_part_op *)m.ptr, struct ctl_partop,
				                     op));
		sl_ring_fini(&c->out[s]);
		while (c->opq[s].n) {
			free(SL_CONTAINER_OF((struct sl_part_op *)outq_front(&c->opq[s])->ptr,
			                     struct ctl_partop, op));
			outq_pop(&c->opq[s]);
		}
		free(c->opq[s].v);
		free(c->respq[s].v);
	}
	ctl_delrec_free_all(c);
	for (uint32_t i = 0; i < c->ntopics; i++)
		ctl_topic_free(c->topics[i]);
	free(c->topics);
	if (c->pub.readers || atomic_load_explicit(&c->pub.cur, memory_order_relaxed))
		sl_meta_pub_fini(&c->pub);
	if (c->arena.head)
		sl_arena_fini(&c->arena);
	for (size_t i = 0; i < c->nbprops; i++) {
		free(c->bprops[i].key);
		free(c->bprops[i].val);
	}
	free(c->bprops);
	if (c->efd >= 0) {
		close(c->efd);
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->cond);
	}
	free(c->in);
	free(c->out);
	free(c->respq);
	free(c->opq);
	free(c->inflight);
	free(c->meta_pending);
	free(c->pushed);
	free(c->log_dir);
	free(c->topics_dir);
	free(c->cluster_id);
	free(c->adv_host);
	free(c);
}

void
sl_ctrl_get_stats(struct sl_ctrl *c, struct sl_ctrl_stats *out)
{
	out->reqs = atomic_load_explicit(&c->st.reqs, memory_order_relaxed);
	out->auto_creates = atomic_load_explicit(&c->st.auto_creates, memory_order_relaxed);
	out->part_ops = atomic_load_explicit(&c->st.part_ops, memory_order_relaxed);
	out->published = atomic_load_explicit(&c->st.published, memory_order_relaxed);
	out->reclaimed = atomic_load_explicit(&c->st.reclaimed, memory_order_relaxed);
	out->timeouts = atomic_load_explicit(&c->st.timeouts, memory_order_relaxed);
	out->topics = atomic_load_explicit(&c->st.topics, memory_order_relaxed);
	out->pending = atomic_load_explicit(&c->st.pending, memory_order_relaxed);
}
