/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uring.h: one io_uring per owning thread, shared by every module on that thread (the
 * socket transport and the storage engine submit to the same ring). Each SQE's user_data
 * is a pointer to a struct sl_uop embedded in the submitter's own object; reaping calls
 * op->fn with the CQE's result and flags. user_data 0 means "no completion wanted".
 *
 * Not thread-safe: only the owning thread touches a ring. Allocates nothing after init.
 */
#ifndef SL_COMMON_URING_H
#define SL_COMMON_URING_H

#include <stdint.h>

#include <liburing.h>

#include "common/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_uop;
typedef void (*sl_uop_fn)(struct sl_uop *op, int res, unsigned cqe_flags);

struct sl_uop {
	sl_uop_fn fn;
};

struct sl_uring {
	struct io_uring ring;
	unsigned queued; /* SQEs prepared since the last submit */
};

/* flags: IORING_SETUP_* (0 is fine). Returns 0 or -errno. */
int sl_uring_init(struct sl_uring *u, unsigned entries, unsigned flags) SL_MUST_CHECK;
void sl_uring_fini(struct sl_uring *u);

/*
 * Returns a fresh SQE tagged with op (NULL op: no completion is delivered). Never returns
 * NULL: when the submission queue is full it submits what is queued first.
 */
struct io_uring_sqe *sl_uring_sqe(struct sl_uring *u, struct sl_uop *op);

/* Submits queued SQEs; returns the number submitted or -errno. */
int sl_uring_submit(struct sl_uring *u);

/*
 * Submits queued SQEs, waits for at least wait_nr completions or timeout_ns (< 0: no
 * timeout), then reaps every ready CQE, calling each op's fn. Returns the number reaped.
 */
int sl_uring_run(struct sl_uring *u, unsigned wait_nr, int64_t timeout_ns);

/* Reaps ready CQEs without waiting or submitting. */
unsigned sl_uring_reap(struct sl_uring *u);

#ifdef __cplusplus
}
#endif

#endif
