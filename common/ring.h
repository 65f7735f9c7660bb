/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ring.h: a bounded single-producer single-consumer ring of fixed-size slots, the only way
 * two threads (shard <-> shard, shard <-> control) exchange work. Lock-free; the producer
 * and consumer indices sit on separate cache lines. Capacity is a power of two.
 *
 * Orderings: the producer writes the slot, then releases prod (R1); the consumer acquires
 * prod (A1) before reading the slot, then releases cons (R2); the producer acquires cons
 * (A2) before reusing a slot.
 */
#ifndef SL_COMMON_RING_H
#define SL_COMMON_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_ring {
	struct {
		_Atomic uint32_t prod;
		uint32_t cons_cache; /* producer's last view of cons */
	} SL_CACHE_ALIGNED p;
	struct {
		_Atomic uint32_t cons;
		uint32_t prod_cache;
	} SL_CACHE_ALIGNED c;
	uint32_t mask;
	uint32_t slot_size;
	uint8_t *slots;
};

/* nslots: power of two. Allocates (startup only). */
static inline int
sl_ring_init(struct sl_ring *r, uint32_t nslots, uint32_t slot_size)
{
	if (nslots == 0 || (nslots & (nslots - 1)))
		return -22;
	memset(r, 0, sizeof(*r));
	r->mask = nslots - 1;
	r->slot_size = slot_size;
	r->slots = (uint8_t *)calloc(nslots, slot_size);
	return r->slots ? 0 : -12;
}

static inline void
sl_ring_fini(struct sl_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

/* Producer side. Copies one item; returns false when full. */
static inline bool
sl_ring_push(struct sl_ring *r, const void *item)
{
	uint32_t prod = atomic_load_explicit(&r->p.prod, memory_order_relaxed);

	if (prod - r->p.cons_cache > r->mask) {
		/* A2: pairs with R2 */
		r->p.cons_cache = atomic_load_explicit(&r->c.cons, memory_order_acquire);
		if (prod - r->p.cons_cache > r->mask)
			return false;
	}
	memcpy(r->slots + (size_t)(prod & r->mask) * r->slot_size, item, r->slot_size);
	/* R1: pairs with A1 */
	atomic_store_explicit(&r->p.prod, prod + 1, memory_order_release);
	return true;
}

/* Consumer side. Copies one item out; returns false when empty. */
static inline bool
sl_ring_pop(struct sl_ring *r, void *item)
{
	uint32_t cons = atomic_load_explicit(&r->c.cons, memory_order_relaxed);

	if (cons == r->c.prod_cache) {
		/* A1: pairs with R1 */
		r->c.prod_cache = atomic_load_explicit(&r->p.prod, memory_order_acquire);
		if (cons == r->c.prod_cache)
			return false;
	}
	memcpy(item, r->slots + (size_t)(cons & r->mask) * r->slot_size, r->slot_size);
	/* R2: pairs with A2 */
	atomic_store_explicit(&r->c.cons, cons + 1, memory_order_release);
	return true;
}

static inline bool
sl_ring_empty(struct sl_ring *r)
{
	return atomic_load_explicit(&r->c.cons, memory_order_relaxed) ==
	       atomic_load_explicit(&r->p.prod, memory_order_acquire);
}

#ifdef __cplusplus
}
#endif

#endif
