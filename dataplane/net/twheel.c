/* SPDX-License-Identifier: Apache-2.0 */
/*
 * twheel.c: the hierarchical timer wheel of twheel_int.h (layout and invariants there).
 * The stack's thread only; no allocation, no blocking.
 */
#include "dataplane/net/twheel_int.h"

#include <stddef.h>

#include "common/compiler.h"

#define LVL_BITS 6
#define SLOT_MASK (SL_TW_SLOTS - 1)
#define SLOT_FIRING UINT16_MAX     /* on the local list of sl_twheel_run */
#define SLOT_PEND (UINT16_MAX - 1) /* on w->pend */
#define SPAN_TICKS (1ULL << (LVL_BITS * SL_TW_LEVELS))

static uint64_t
tick_of(int64_t at)
{
	return at <= 0 ? 0 : (uint64_t)at >> SL_TW_TICK_SHIFT;
}

static uint64_t
rotr64(uint64_t v, unsigned r)
{
	r &= 63;
	return r ? v >> r | v << (64 - r) : v;
}

static void
list_init(struct sl_tw_node *h)
{
	h->next = h->prev = h;
}

static void
list_add_tail(struct sl_tw_node *h, struct sl_tw_node *t)
{
	t->prev = h->prev;
	t->next = h;
	h->prev->next = t;
	h->prev = t;
}

/* Links t (not on any list) into the slot for its tick, relative to w->cur; a tick already
 * handled means the pending list, which every run looks at first. */
static void
place(struct sl_twheel *w, struct sl_tw_node *t)
{
	uint64_t tk = tick_of(t->at), delta;
	unsigned lvl = 0, idx;

	if (tk < w->cur) {
		t->slot = SLOT_PEND;
		list_add_tail(&w->pend, t);
		return;
	}
	delta = tk - w->cur;
	while (lvl < SL_TW_LEVELS - 1 && delta >= 1ULL << (LVL_BITS * (lvl + 1)))
		lvl++;
	if (delta >= SPAN_TICKS)
		tk = w->cur + SPAN_TICKS - 1; /* out of range: wait in the top level */
	idx = (unsigned)(tk >> (LVL_BITS * lvl)) & SLOT_MASK;
	t->slot = (uint16_t)(lvl * SL_TW_SLOTS + idx);
	list_add_tail(&w->head[t->slot], t);
	w->bm[lvl] |= 1ULL << idx;
}

static void
unlink_node(struct sl_twheel *w, struct sl_tw_node *t)
{
	t->prev->next = t->next;
	t->next->prev = t->prev;
	if (t->slot < SL_TW_LEVELS * SL_TW_SLOTS) {
		struct sl_tw_node *h = &w->head[t->slot];

		if (h->next == h)
			w->bm[t->slot / SL_TW_SLOTS] &= ~(1ULL << (t->slot % SL_TW_SLOTS));
	}
	t->next = t->prev = NULL;
}

void
sl_twheel_init(struct sl_twheel *w, int64_t now)
{
	for (unsigned i = 0; i < SL_TW_LEVELS * SL_TW_SLOTS; i++)
		list_init(&w->head[i]);
	list_init(&w->pend);
	for (unsigned k = 0; k < SL_TW_LEVELS; k++)
		w->bm[k] = 0;
	w->count = 0;
	w->moves = 0;
	w->cur = tick_of(now);
}

void
sl_twheel_arm(struct sl_twheel *w, struct sl_tw_node *t, int64_t at, int64_t now)
{
	if (sl_twheel_armed(t)) {
		unlink_node(w, t);
		w->count--;
	}
	/* An empty wheel may skip ahead (invariant 1 holds vacuously): the placement of
	 * far timers is then relative to the present, not to the last run. */
	if (!w->count && tick_of(now) > w->cur)
		w->cur = tick_of(now);
	t->at = at;
	place(w, t);
	w->count++;
}

void
sl_twheel_cancel(struct sl_twheel *w, struct sl_tw_node *t)
{
	if (!sl_twheel_armed(t))
		return;
	unlink_node(w, t);
	w->count--;
}

/* The next tick at which some slot must be handled, or UINT64_MAX. */
static uint64_t
next_tick(const struct sl_twheel *w)
{
	uint64_t best = UINT64_MAX;

	for (unsigned k = 0; k < SL_TW_LEVELS; k++) {
		unsigned shift = LVL_BITS * k;
		/* The first multiple of 64^k at or after cur: by invariant 2, the occupied
		 * slots lie within the 64 slots from there. */
		uint64_t base = (w->cur + (1ULL << shift) - 1) >> shift, p;

		if (!w->bm[k])
			continue;
		p = (base + (uint64_t)__builtin_ctzll(rotr64(w->bm[k], (unsigned)base))) << shift;
		if (p < best)
			best = p;
	}
	return best;
}

/* Moves every timer of list s onto list h, marked as being handled. */
static void
take_list(struct sl_tw_node *s, struct sl_tw_node *h)
{
	list_init(h);
	if (s->next != s) {
		h->next = s->next;
		h->prev = s->prev;
		h->next->prev = h;
		h->prev->next = h;
		list_init(s);
	}
	for (struct sl_tw_node *t = h->next; t != h; t = t->next)
		t->slot = SLOT_FIRING;
}

static void
take_slot(struct sl_twheel *w, unsigned lvl, unsigned idx, struct sl_tw_node *h)
{
	take_list(&w->head[lvl * SL_TW_SLOTS + idx], h);
	w->bm[lvl] &= ~(1ULL << idx);
}

/* Fires the due timers of list h (being handled); the others go back through place(). */
static unsigned
fire_list(struct sl_twheel *w, struct sl_tw_node *h, int64_t now, sl_tw_fire_fn fn, void *arg)
{
	unsigned fired = 0;

	while (h->next != h) {
		struct sl_tw_node *t = h->next;

		t->prev->next = t->next;
		t->next->prev = t->prev;
		if (t->at > now) {
			place(w, t); /* due later within a tick already handled: pending */
			continue;
		}
		t->next = t->prev = NULL;
		w->count--;
		fired++;
		fn(arg, t);
	}
	return fired;
}

unsigned
sl_twheel_run(struct sl_twheel *w, int64_t now, sl_tw_fire_fn fn, void *arg)
{
	uint64_t now_tk = tick_of(now), p;
	unsigned fired = 0;

	if (w->pend.next != &w->pend) {
		struct sl_tw_node h;

		take_list(&w->pend, &h);
		fired += fire_list(w, &h, now, fn, arg);
	}
	while (w->count && (p = next_tick(w)) <= now_tk) {
		struct sl_tw_node h;

		w->cur = p;
		/* Cascade from the top: a timer moved down lands strictly after p, except
		 * those of tick p, which land in level 0's slot for p. */
		for (unsigned k = SL_TW_LEVELS - 1; k > 0; k--) {
			unsigned shift = LVL_BITS * k;
			unsigned idx = (unsigned)(p >> shift) & SLOT_MASK;

			if ((p & ((1ULL << shift) - 1)) || !(w->bm[k] & (1ULL << idx)))
				continue;
			take_slot(w, k, idx, &h);
			while (h.next != &h) {
				struct sl_tw_node *t = h.next;

				t->prev->next = t->next;
				t->next->prev = t->prev;
				place(w, t);
				w->moves++;
			}
		}
		take_slot(w, 0, (unsigned)p & SLOT_MASK, &h);
		/* Before any callback, so that what it arms for tick p or earlier goes to the
		 * next tick rather than to a slot already behind the clock. */
		w->cur = p + 1;
		fired += fire_list(w, &h, now, fn, arg);
	}
	if (w->cur <= now_tk)
		w->cur = now_tk + 1;
	return fired;
}
