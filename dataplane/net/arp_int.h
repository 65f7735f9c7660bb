/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arp_int.h: the ARP cache's table (net/ internal): a fixed number of entries keyed by IPv4
 * address, in a chained hash with a free list. sl_arp_tbl_init allocates everything; the
 * other calls never allocate and never block. One thread (the stack's). The protocol
 * (learning, requests, retries, expiry, the connections waiting for an address) lives in
 * tcp.c; this file only stores entries.
 *
 * Entry states and who moves them (tcp.c):
 *   FREE -(sl_tcp_connect, no entry)-> INCOMPLETE     arp_resolve()
 *   FREE -(ARP request/reply for us)-> REACHABLE      arp_input()
 *   INCOMPLETE -(ARP from the address)-> REACHABLE    arp_learn() (wakes the waiters)
 *   INCOMPLETE -(tries requests unanswered)-> FREE    arp_timer() (waiters: -EHOSTUNREACH)
 *   REACHABLE past expire_at: still used, but the next use sends a request (probing); an
 *   answer refreshes it, tries unanswered requests free it (arp_timer()).
 *   any -(table full, least recently confirmed REACHABLE entry)-> reused  sl_arp_tbl_add()
 */
#ifndef SL_DATAPLANE_NET_ARP_INT_H
#define SL_DATAPLANE_NET_ARP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "dataplane/net/twheel_int.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_ARP_NIL UINT32_MAX

enum sl_arp_state {
	SL_ARP_FREE = 0,
	SL_ARP_INCOMPLETE, /* requests out, no answer yet; connections may wait on it */
	SL_ARP_REACHABLE,  /* mac is valid (maybe past expire_at: then it is re-resolved) */
};

struct sl_arp_ent {
	uint32_t ip;      /* host order */
	uint32_t hnext;   /* hash chain, or free list */
	uint32_t waiters; /* first waiting connection's index (tcp.c's list), SL_ARP_NIL */
	uint8_t mac[6];
	uint8_t state;           /* enum sl_arp_state */
	uint8_t tries;           /* requests sent since the last answer */
	bool probing;            /* REACHABLE but stale: requests out to confirm it */
	int64_t expire_at;       /* REACHABLE: fresh until then */
	struct sl_tw_node timer; /* the next request (INCOMPLETE or probing) */
};

struct sl_arp_tbl {
	struct sl_arp_ent *ents;
	uint32_t *buckets;
	uint32_t nents, bucket_mask, free_head, used;
};

/* Allocates nents entries (1 ... 1 << 20). 0, -EINVAL or -ENOMEM. */
int sl_arp_tbl_init(struct sl_arp_tbl *t, unsigned nents) SL_MUST_CHECK;
void sl_arp_tbl_fini(struct sl_arp_tbl *t);
/* The entry for ip, or NULL. */
struct sl_arp_ent *sl_arp_tbl_find(struct sl_arp_tbl *t, uint32_t ip);
/* A new FREE entry for ip (which must not be in the table yet), hashed in. When the table is
 * full it reuses the REACHABLE, not probing entry with the oldest expire_at (the caller must
 * not be holding it); NULL if there is none (every entry is being resolved). The caller sets
 * the state. A reused entry's timer is unlinked from wheel w. */
struct sl_arp_ent *sl_arp_tbl_add(struct sl_arp_tbl *t, struct sl_twheel *w, uint32_t ip);
/* Unhashes e (and unlinks its timer from w) and puts it on the free list. */
void sl_arp_tbl_del(struct sl_arp_tbl *t, struct sl_twheel *w, struct sl_arp_ent *e);

#ifdef __cplusplus
}
#endif

#endif
