// SPDX-License-Identifier: Apache-2.0
#include "common/uring.h"

#include <errno.h>
#include <string.h>

int
sl_uring_init(struct sl_uring *u, unsigned entries, unsigned flags)
{
	struct io_uring_params p;
	int rc;

	memset(u, 0, sizeof(*u));
	memset(&p, 0, sizeof(p));
	p.flags = flags;
	rc = io_uring_queue_init_params(entries, &u->ring, &p);
	if (rc < 0 && (flags & (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
				IORING_SETUP_COOP_TASKRUN))) {
		/* Older kernels refuse the newer flags; fall back to a plain ring. */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(entries, &u->ring, &p);
	}
	return rc;
}

void
sl_uring_fini(struct sl_uring *u)
{
	io_uring_queue_exit(&u->ring);
}

struct io_uring_sqe *
sl_uring_sqe(struct sl_uring *u, struct sl_uop *op)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&u->ring)) == NULL) {
		int rc = io_uring_submit(&u->ring);

		if (rc < 0 && rc != -EBUSY && rc != -EAGAIN && rc != -EINTR)
			SL_BUG_ON(rc < 0);
		if (rc <= 0)
			sl_uring_reap(u); /* make CQ room */
		u->queued = 0;
	}
	io_uring_sqe_set_data(sqe, op);
	u->queued++;
	return sqe;
}

int
sl_uring_submit(struct sl_uring *u)
{
	int rc;

	if (!u->queued)
		return 0;
	rc = io_uring_submit(&u->ring);
	if (rc >= 0)
		u->queued = 0;
	return rc;
}

unsigned
sl_uring_reap(struct sl_uring *u)
{
	struct io_uring_cqe *cqe;
	unsigned total = 0;

	/*
	 * One CQE at a time, marked seen before its callback runs: a callback may prepare SQEs
	 * and, when the SQ is full, reap recursively.
	 */
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		struct sl_uop *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		unsigned flags = cqe->flags;

		io_uring_cqe_seen(&u->ring, cqe);
		if (op)
			op->fn(op, res, flags);
		total++;
	}
	return total;
}

int
sl_uring_run(struct sl_uring *u, unsigned wait_nr, int64_t timeout_ns)
{
	struct __kernel_timespec ts, *tsp = NULL;
	struct io_uring_cqe *cqe;
	int rc;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000LL;
		ts.tv_nsec = timeout_ns % 1000000000LL;
		tsp = &ts;
	}
	if (wait_nr) {
		rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, wait_nr, tsp, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY)
			return rc;
	} else if (u->queued) {
		rc = io_uring_submit(&u->ring);
		if (rc < 0 && rc != -EBUSY && rc != -EAGAIN)
			return rc;
	}
	u->queued = 0;
	return (int)sl_uring_reap(u);
}
