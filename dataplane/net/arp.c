/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arp.c: the ARP cache's table (arp_int.h). Allocates in sl_arp_tbl_init only; the stack's
 * thread; never blocks.
 */
#include "dataplane/net/arp_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t
ip_hash(const struct sl_arp_tbl *t, uint32_t ip)
{
	/* Fibonacci hashing: addresses of one subnet differ in their low bits. */
	return (uint32_t)(((uint64_t)ip * 0x9e3779b97f4a7c15ULL) >> 32) & t->bucket_mask;
}

int
sl_arp_tbl_init(struct sl_arp_tbl *t, unsigned nents)
{
	uint32_t nb = 1;

	memset(t, 0, sizeof(*t));
	if (!nents || nents > (1u << 20))
		return -EINVAL;
	while (nb < 2 * nents)
		nb <<= 1;
	t->ents = calloc(nents, sizeof(*t->ents));
	t->buckets = malloc(nb * sizeof(*t->buckets));
	if (!t->ents || !t->buckets) {
		sl_arp_tbl_fini(t);
		return -ENOMEM;
	}
	memset(t->buckets, 0xff, nb * sizeof(*t->buckets));
	t->nents = nents;
	t->bucket_mask = nb - 1;
	for (uint32_t i = 0; i < nents; i++) {
		t->ents[i].hnext = i + 1 < nents ? i + 1 : SL_ARP_NIL;
		t->ents[i].waiters = SL_ARP_NIL;
	}
	t->free_head = 0;
	return 0;
}

void
sl_arp_tbl_fini(struct sl_arp_tbl *t)
{
	free(t->ents);
	free(t->buckets);
	t->ents = NULL;
	t->buckets = NULL;
}

struct sl_arp_ent *
sl_arp_tbl_find(struct sl_arp_tbl *t, uint32_t ip)
{
	uint32_t i = t->buckets[ip_hash(t, ip)];

	while (i != SL_ARP_NIL) {
		struct sl_arp_ent *e = &t->ents[i];

		if (e->ip == ip)
			return e;
		i = e->hnext;
	}
	return NULL;
}

void
sl_arp_tbl_del(struct sl_arp_tbl *t, struct sl_twheel *w, struct sl_arp_ent *e)
{
	uint32_t idx = (uint32_t)(e - t->ents);
	uint32_t *p = &t->buckets[ip_hash(t, e->ip)];

	while (*p != SL_ARP_NIL) {
		if (*p == idx) {
			*p = e->hnext;
			break;
		}
		p = &t->ents[*p].hnext;
	}
	sl_twheel_cancel(w, &e->timer);
	e->state = SL_ARP_FREE;
	e->probing = false;
	e->waiters = SL_ARP_NIL;
	e->hnext = t->free_head;
	t->free_head = idx;
	t->used--;
}

struct sl_arp_ent *
sl_arp_tbl_add(struct sl_arp_tbl *t, struct sl_twheel *w, uint32_t ip)
{
	struct sl_arp_ent *e;
	uint32_t idx;

	if (t->free_head == SL_ARP_NIL) {
		struct sl_arp_ent *victim = NULL;

		/* Full: O(entries), but only when a new address shows up with every entry in
		 * use; the table is sized for the next hops a shard talks to. */
		for (uint32_t i = 0; i < t->nents; i++) {
			e = &t->ents[i];
			if (e->state == SL_ARP_REACHABLE && !e->probing &&
			    e->waiters == SL_ARP_NIL &&
			    (!victim || e->expire_at - victim->expire_at < 0))
				victim = e;
		}
		if (!victim)
			return NULL;
		sl_arp_tbl_del(t, w, victim);
	}
	idx = t->free_head;
	e = &t->ents[idx];
	t->free_head = e->hnext;
	memset(e, 0, sizeof(*e));
	e->ip = ip;
	e->waiters = SL_ARP_NIL;
	e->hnext = t->buckets[ip_hash(t, ip)];
	t->buckets[ip_hash(t, ip)] = idx;
	t->used++;
	return e;
}
