// SPDX-License-Identifier: Apache-2.0
/*
 * chunk.c: the store's memory: the chunk pool (O_DIRECT write buffers that stay on as the
 * tail cache), the disk-read buffer pool, and the refcounted sl_rbuf that fetch responses
 * hold while they are sent.
 *
 * Everything is allocated and pre-faulted in sl_store_create (MAP_POPULATE: memory left
 * untouched is slow to touch the first time on these hosts); nothing on the append or read
 * path allocates, except a read of a batch larger than a read buffer (counted in
 * stats.heap_reads).
 *
 * Threads: the store's thread owns the pools. sl_rbuf_unref may run on any thread: the
 * reference that drops to zero pushes the buffer onto st->ret, a lock-free stack that
 * only the owner empties (sl_store_drain, atomic exchange: no ABA since nobody pops single
 * entries). Orderings: the pusher's CAS is a release (R1) so the owner's exchange, an
 * acquire (A1), sees every write the other thread made before it let go of the buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "storage/plog_int.h"

#define SCRATCH_MIN (16u << 20)
#define ZERO_STEP_DEF (1u << 20)
#define ZERO_STEP_MAX (64u << 20)

void
sl_store_opts_default(struct sl_store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->chunk_bytes = 4u << 20;
	o->nr_chunks = 64;
	o->read_buf_bytes = 1u << 20;
	o->nr_read_bufs = 64;
	o->force_buffered = false;
	/*
	 * Pipelined writes measured on ext4/virtio (issue #3, noisy shared host): buffered,
	 * 4 groups vs 1 gave a median 1.1x produce throughput at ~0.95x CPU/GB; O_DIRECT,
	 * 0.70-0.94x throughput in five of five paired runs (small appends share the tail
	 * block, so they serialize anyway, and skipping it splits writes; the tail latency of
	 * ext4's extending O_DIRECT writes dominates). Hence one group for O_DIRECT.
	 */
	o->write_groups = 4;
	o->write_groups_direct = 1;
	/*
	 * Zero-ahead (zahead.c) applies to O_DIRECT segments only (durable logs, or every log
	 * with direct_nondurable). A/B on this host, 2 paired bench-broker runs: with it,
	 * direct_nondurable cut broker CPU/GB to 0.76-1.02 from 0.96-1.86 (page cache) with
	 * no multi-second stalls, but lost 10-30% produce throughput and p50/p99 latency at
	 * 10k msg/s; so direct_nondurable stays off. On durable logs (acks=all, kafka-raw, A B A B):
	 * 16 MiB ahead gave 0.72-0.90x the records/s at max rate and p50 0.75-0.84x at 10k/s
	 * with a longer max; so it is off by default (sluiced: sluice.log.zero.ahead.bytes).
	 */
	o->zero_ahead_bytes = 0;
	o->zero_step_bytes = 1u << 20;
}

static void *
map_populated(size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

int
sl_store_create(struct sl_store **out, struct sl_uring *ring, const struct sl_store_opts *o)
{
	struct sl_store *st;
	unsigned i;

	if (!ring || !o || o->nr_chunks < 2 || o->nr_read_bufs < 1 || o->chunk_bytes < 4 * SL_BLK ||
	    o->read_buf_bytes < 4 * SL_BLK || o->chunk_bytes > (1u << 30) ||
	    o->read_buf_bytes > (1u << 30) || o->zero_step_bytes > ZERO_STEP_MAX ||
	    o->zero_ahead_bytes > SL_SEG_MAX_BYTES)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->ring = ring;
	st->o = *o;
	st->o.chunk_bytes = SL_ALIGN_UP(o->chunk_bytes, (size_t)SL_BLK);
	st->o.read_buf_bytes = SL_ALIGN_UP(o->read_buf_bytes, (size_t)SL_BLK);
	st->o.zero_step_bytes = SL_ALIGN_UP(o->zero_step_bytes ? o->zero_step_bytes : ZERO_STEP_DEF,
	                                    (size_t)SL_BLK);
	st->now_ms = -1;
	atomic_init(&st->ret, NULL);

	st->chunks = calloc(o->nr_chunks, sizeof(*st->chunks));
	st->rdbufs = calloc(o->nr_read_bufs, sizeof(*st->rdbufs));
	st->chunk_mem = map_populated(st->o.chunk_bytes * o->nr_chunks);
	st->rdbuf_mem = map_populated(st->o.read_buf_bytes * o->nr_read_bufs);
	st->scratch_cap = SL_MAX((size_t)SCRATCH_MIN, 4 * st->o.chunk_bytes);
	st->scratch = map_populated(st->scratch_cap);
	if (o->zero_ahead_bytes && !o->force_buffered) {
		/* Pre-faulted like the pools; mmap's pages are zero and nobody writes them. */
		st->zero_buf = map_populated(st->o.zero_step_bytes);
		if (!st->zero_buf) {
			sl_store_destroy(st);
			return -ENOMEM;
		}
	}
	if (!st->chunks || !st->rdbufs || !st->chunk_mem || !st->rdbuf_mem || !st->scratch) {
		sl_store_destroy(st);
		return -ENOMEM;
	}
	for (i = o->nr_chunks; i-- > 0;) {
		struct sl_chunk *c = &st->chunks[i];

		atomic_init(&c->rb.refs, 0);
		c->rb.kind = SL_RBUF_CHUNK;
		c->rb.st = st;
		c->mem = st->chunk_mem + (size_t)i * st->o.chunk_bytes;
		c->free_next = st->free_chunks;
		st->free_chunks = c;
	}
	for (i = o->nr_read_bufs; i-- > 0;) {
		struct sl_rdbuf *b = &st->rdbufs[i];

		atomic_init(&b->rb.refs, 0);
		b->rb.kind = SL_RBUF_READ;
		b->rb.st = st;
		b->mem = st->rdbuf_mem + (size_t)i * st->o.read_buf_bytes;
		b->cap = st->o.read_buf_bytes;
		b->free_next = st->free_rdbufs;
		st->free_rdbufs = b;
	}
	*out = st;
	return 0;
}

void
sl_store_destroy(struct sl_store *st)
{
	if (!st)
		return;
	SL_BUG_ON(st->logs != NULL); /* logs must be closed first */
	(void)sl_store_drain(st);
	if (st->chunk_mem)
		munmap(st->chunk_mem, st->o.chunk_bytes * st->o.nr_chunks);
	if (st->rdbuf_mem)
		munmap(st->rdbuf_mem, st->o.read_buf_bytes * st->o.nr_read_bufs);
	if (st->scratch)
		munmap(st->scratch, st->scratch_cap);
	if (st->zero_buf)
		munmap(st->zero_buf, st->o.zero_step_bytes);
	free(st->chunks);
	free(st->rdbufs);
	free(st);
}

const struct sl_store_stats *
sl_store_stats(const struct sl_store *st)
{
	return &st->stats;
}

bool
sl_store_busy(const struct sl_store *st)
{
	return st->inflight > 0 || st->pending_appends > 0;
}

/* ---- refcounted buffers ---- */

void
sl_rbuf_ref(struct sl_rbuf *b)
{
	int old = atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);

	SL_BUG_ON(old <= 0);
}

static void
rbuf_push_ret(struct sl_rbuf *b)
{
	struct sl_store *st = b->st;
	struct sl_rbuf *head = atomic_load_explicit(&st->ret, memory_order_relaxed);

	do {
		b->ret_next = head;
		/* R1: publishes the buffer (and our last use of it) to the owner's A1. */
	} while (!atomic_compare_exchange_weak_explicit(&st->ret, &head, b, memory_order_release,
	                                                memory_order_relaxed));
}

void
sl_rbuf_unref(struct sl_rbuf *b)
{
	int old = atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel);

	SL_BUG_ON(old <= 0);
	if (old == 1)
		rbuf_push_ret(b);
}

static void
rbuf_free_owner(struct sl_store *st, struct sl_rbuf *b)
{
	if (b->kind == SL_RBUF_CHUNK) {
		struct sl_chunk *c = SL_CONTAINER_OF(b, struct sl_chunk, rb);

		SL_ASSERT(c->log == NULL);
		c->seg = NULL;
		c->free_next = st->free_chunks;
		st->free_chunks = c;
	} else if (b->kind == SL_RBUF_READ) {
		struct sl_rdbuf *r = SL_CONTAINER_OF(b, struct sl_rdbuf, rb);

		r->free_next = st->free_rdbufs;
		st->free_rdbufs = r;
	} else {
		struct sl_rdbuf *r = SL_CONTAINER_OF(b, struct sl_rdbuf, rb);

		free(r->mem);
		free(r);
	}
}

unsigned
sl_store_drain(struct sl_store *st)
{
	/* A1: pairs with R1 in rbuf_push_ret. */
	struct sl_rbuf *b = atomic_exchange_explicit(&st->ret, NULL, memory_order_acquire);
	unsigned n = 0;

	while (b) {
		struct sl_rbuf *next = b->ret_next;

		rbuf_free_owner(st, b);
		b = next;
		n++;
	}
	return n;
}

/* ---- chunks ---- */

void
sl_lru_remove(struct sl_store *st, struct sl_chunk *c)
{
	if (c->lru_prev)
		c->lru_prev->lru_next = c->lru_next;
	else if (st->lru_head == c)
		st->lru_head = c->lru_next;
	if (c->lru_next)
		c->lru_next->lru_prev = c->lru_prev;
	else if (st->lru_tail == c)
		st->lru_tail = c->lru_prev;
	c->lru_prev = c->lru_next = NULL;
}

void
sl_lru_touch(struct sl_store *st, struct sl_chunk *c)
{
	sl_lru_remove(st, c);
	c->lru_prev = st->lru_tail;
	if (st->lru_tail)
		st->lru_tail->lru_next = c;
	else
		st->lru_head = c;
	st->lru_tail = c;
}

static uint64_t
chunk_end_lpos(const struct sl_chunk *c)
{
	return c->seg->lbase + c->file_pos + c->fill;
}

void
sl_chunk_release(struct sl_store *st, struct sl_chunk *c)
{
	struct sl_plog *log = c->log;
	int old;

	SL_BUG_ON(!log);
	if (log->cur == c) {
		/* Keep the partial last block: the next chunk must rewrite it whole (O_DIRECT). */
		if (c->seg == log->active) {
			uint64_t end = c->file_pos + c->fill;
			uint64_t blk = SL_ALIGN_DOWN(end, (uint64_t)SL_BLK);

			log->tail_blk_len = (uint32_t)(end - blk);
			memcpy(log->tail_blk, c->mem + (blk - c->file_pos), log->tail_blk_len);
		}
		log->cur = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		log->ch_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		log->ch_tail = c->prev;
	c->prev = c->next = NULL;
	sl_lru_remove(st, c);
	c->log = NULL;
	old = atomic_fetch_sub_explicit(&c->rb.refs, 1, memory_order_acq_rel);
	SL_BUG_ON(old <= 0);
	if (old == 1)
		rbuf_free_owner(st, &c->rb);
}

struct sl_chunk *
sl_chunk_get(struct sl_store *st)
{
	struct sl_chunk *c;

	if (!st->free_chunks)
		(void)sl_store_drain(st);
	if (!st->free_chunks) {
		/* Evict the least recently filled cached chunk that is written and unread. */
		for (c = st->lru_head; c; c = c->lru_next) {
			if (atomic_load_explicit(&c->rb.refs, memory_order_acquire) != 1)
				continue;
			if (chunk_end_lpos(c) > c->log->written_lpos)
				continue;
			st->stats.evictions++;
			sl_chunk_release(st, c);
			break;
		}
	}
	c = st->free_chunks;
	if (!c)
		return NULL;
	st->free_chunks = c->free_next;
	c->free_next = NULL;
	atomic_store_explicit(&c->rb.refs, 1, memory_order_relaxed);
	return c;
}

struct sl_rdbuf *
sl_rdbuf_get(struct sl_store *st)
{
	struct sl_rdbuf *b;

	if (!st->free_rdbufs)
		(void)sl_store_drain(st);
	b = st->free_rdbufs;
	if (!b)
		return NULL;
	st->free_rdbufs = b->free_next;
	b->free_next = NULL;
	atomic_store_explicit(&b->rb.refs, 1, memory_order_relaxed);
	return b;
}
