/* SPDX-License-Identifier: Apache-2.0 */
/*
 * twheel_int.h: a hierarchical timer wheel for the userspace stack (net/ internal).
 *
 * One per stack, on the stack's thread; no allocation (the nodes live in the caller's
 * objects), no blocking. Arming, cancelling and firing cost O(1) each; a timer is moved
 * between levels at most SL_TW_LEVELS - 1 times over its life, and sl_twheel_run costs
 * O(levels) per occupied slot it reaches plus the timers it moves or fires, never the
 * number of armed timers, however far the clock jumped.
 *
 * Layout: SL_TW_LEVELS levels of 64 slots; a tick is 2^SL_TW_TICK_SHIFT ns (16.4 us).
 * Level k holds timers due between 64^k and 64^(k+1) ticks after the wheel's clock, in
 * the slot of their tick >> 6k; each level keeps a 64-bit occupancy bitmap, so the next
 * slot to handle is found with a rotate and a count-trailing-zeros. When the clock reaches
 * the start of an occupied level-k slot, its timers move down (cascade); a level-0 slot
 * fires. Timers further out than 64^SL_TW_LEVELS ticks (13 days) wait in the top level and
 * are placed again when their slot comes round.
 *
 * Invariants:
 *  1. Every tick before cur has been handled: no armed timer in a level-k slot has a
 *     handling tick (its tick rounded down to a multiple of 64^k) below cur.
 *  2. A level-k slot holds timers of one handling tick, within 64^(k+1) ticks of cur.
 *  3. bm[k] bit i is set iff slot i of level k is not empty.
 *
 * Contract: a timer armed for `at` fires in the first sl_twheel_run whose now >= at: never
 * before, never later. (A slot is handled as soon as its tick starts; its timers not yet
 * due wait on a short pending list that each run checks first.)
 */
#ifndef SL_DATAPLANE_NET_TWHEEL_INT_H
#define SL_DATAPLANE_NET_TWHEEL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SL_TW_LEVELS 6
#define SL_TW_SLOTS 64
/* A tick of 16.384 us: fine enough for delayed ACKs, coarse enough that level 0 (1 ms)
 * spans many poll loops. */
#define SL_TW_TICK_SHIFT 14

struct sl_tw_node {
	struct sl_tw_node *next, *prev; /* NULL when not armed */
	int64_t at;                     /* ns, the caller's monotonic clock */
	uint16_t slot;                  /* level * 64 + index, or being fired */
	uint8_t kind;                   /* the owner's tag, untouched by the wheel */
};

struct sl_twheel {
	uint64_t cur; /* the first tick not handled yet */
	uint64_t bm[SL_TW_LEVELS];
	unsigned count; /* armed timers */
	uint64_t moves; /* timers moved down a level (a statistic; bounds the work) */
	struct sl_tw_node head[SL_TW_LEVELS * SL_TW_SLOTS];
	/* Timers of ticks already handled (armed for the current tick, or the past): every
	 * run fires those due first. Short: a tick is 16 us. */
	struct sl_tw_node pend;
};

/* Called with a due timer, already disarmed; it may arm or cancel any timer. */
typedef void (*sl_tw_fire_fn)(void *arg, struct sl_tw_node *t);

void sl_twheel_init(struct sl_twheel *w, int64_t now);
/* Arms t for at (re-arms it if armed). now is the caller's current time. */
void sl_twheel_arm(struct sl_twheel *w, struct sl_tw_node *t, int64_t at, int64_t now);
/* Disarms t if armed. */
void sl_twheel_cancel(struct sl_twheel *w, struct sl_tw_node *t);
/* Fires every timer with at <= now, in tick order; returns how many fired. */
unsigned sl_twheel_run(struct sl_twheel *w, int64_t now, sl_tw_fire_fn fn, void *arg);

static inline bool
sl_twheel_armed(const struct sl_tw_node *t)
{
	return t->next != NULL;
}

#ifdef __cplusplus
}
#endif

#endif
