// SPDX-License-Identifier: Apache-2.0
/*
 * xport_uring.c: kernel sockets over io_uring (see xport_uring.h).
 *
 * Runs on the owning shard's thread; every completion arrives through sl_uring_reap.
 * Allocates the buffer ring, the buffers and the connection pool at init; nothing later.
 *
 * A connection's life (functions doing each step):
 *
 *   accept_done --> [open: recv armed] --rx_pause/ENOBUFS--> [recv stopped] --resume-->
 *        |                                                                    (re-armed)
 *        +-- ux_close (request path) --> [closing: cancel all + shutdown]
 *              --ops == 0--> close fd (close_done) --> sl_kconn_xport_gone
 *              --request path finished--> ux_free --> free list
 *
 * Invariant: uc->ops counts this connection's SQEs whose final CQE has not arrived
 * (a multishot recv counts once; a zero-copy send counts twice until its notification);
 * the fd is closed only at ops == 0 so no completion can name a reused fd.
 */
#include "dataplane/xport_uring.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"

void
sl_uxport_cfg_default(struct sl_uxport_cfg *cfg)
{
	cfg->nbufs = 512;
	cfg->buf_bytes = 64 << 10;
	cfg->max_conns = 1024;
	cfg->bgid = 1;
	cfg->zc_min_bytes = 0;
}

static inline struct sl_uconn *
uc_of(struct sl_kconn *c)
{
	return SL_CONTAINER_OF(c, struct sl_uconn, k);
}

static void arm_recv(struct sl_uconn *uc);
static void maybe_close_fd(struct sl_uconn *uc);

/* ---- receive buffers ---- */

static void
buf_give(struct sl_uxport *xp, uint32_t bid)
{
	io_uring_buf_ring_add(xp->br, xp->bufs + (size_t)bid * xp->cfg.buf_bytes, xp->cfg.buf_bytes,
	                      (unsigned short)bid, (int)xp->mask, 0);
	io_uring_buf_ring_advance(xp->br, 1);
}

static void
ux_rx_release(struct sl_kconn *c, uint32_t id)
{
	struct sl_uxport *xp = uc_of(c)->xp;

	SL_BUG_ON(id > xp->mask || xp->bufs_out == 0);
	xp->bufs_out--;
	buf_give(xp, id);
}

/* ---- receive ---- */

static void
recv_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_uconn *uc = SL_CONTAINER_OF(op, struct sl_uconn, recv_op);
	struct sl_uxport *xp = uc->xp;
	bool more = flags & IORING_CQE_F_MORE;

	if (!more) {
		uc->recv_armed = false;
		uc->ops--;
	}
	if (res > 0) {
		uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;
		struct sl_rxseg seg;

		SL_BUG_ON(!(flags & IORING_CQE_F_BUFFER) || bid > xp->mask);
		xp->bufs_out++;
		xp->rx_bytes += (uint64_t)res;
		seg.p = xp->bufs + (size_t)bid * xp->cfg.buf_bytes;
		seg.len = (uint32_t)res;
		seg.id = bid;
		sl_kconn_rx(&uc->k, &seg);
	} else if (res == -ENOBUFS) {
		xp->nobufs++;
		if (!uc->starved && !uc->closing) {
			uc->starved = true;
			uc->next = xp->starved;
			xp->starved = uc;
		}
		/* Buffers pinned by incomplete frames come back through staging (once per
		 * loop iteration at most). */
		if (!xp->staged_all) {
			xp->staged_all = true;
			for (unsigned i = 0; i < xp->cfg.max_conns; i++)
				if (xp->conns[i].in_use && !xp->conns[i].closing)
					sl_kconn_stage_now(&xp->conns[i].k);
		}
	} else if (res == 0) {
		if (!uc->closing)
			sl_kconn_rx_end(&uc->k, 0);
	} else if (res != -ECANCELED) {
		if (!uc->closing)
			sl_kconn_rx_end(&uc->k, res);
	}
	if (uc->closing) {
		maybe_close_fd(uc);
		return;
	}
	if (!uc->recv_armed && !uc->want_pause && !uc->starved && res != 0)
		arm_recv(uc);
}

static void
arm_recv(struct sl_uconn *uc)
{
	struct sl_uxport *xp = uc->xp;
	struct io_uring_sqe *sqe;

	if (uc->recv_armed || uc->closing)
		return;
	sqe = sl_uring_sqe(xp->u, &uc->recv_op);
	io_uring_prep_recv_multishot(sqe, uc->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = xp->cfg.bgid;
	uc->recv_armed = true;
	uc->ops++;
}

static void
aux_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_uconn *uc = SL_CONTAINER_OF(op, struct sl_uconn, aux_op);

	(void)res;
	(void)flags;
	uc->ops--;
	if (uc->closing)
		maybe_close_fd(uc);
}

static void
ux_rx_pause(struct sl_kconn *c, bool pause)
{
	struct sl_uconn *uc = uc_of(c);

	uc->want_pause = pause;
	if (uc->closing)
		return;
	if (pause && uc->recv_armed) {
		struct io_uring_sqe *sqe = sl_uring_sqe(uc->xp->u, &uc->aux_op);

		io_uring_prep_cancel(sqe, &uc->recv_op, 0);
		uc->ops++;
	} else if (!pause && !uc->starved) {
		arm_recv(uc);
	}
}

/* ---- send ---- */

static void
send_submit(struct sl_uconn *uc)
{
	struct io_uring_sqe *sqe = sl_uring_sqe(uc->xp->u, &uc->send_op);

	memset(&uc->msg, 0, sizeof(uc->msg));
	uc->msg.msg_iov = uc->tx_iov;
	uc->msg.msg_iovlen = uc->tx_n;
	uc->zc_send = uc->xp->cfg.zc_min_bytes && uc->tx_left >= uc->xp->cfg.zc_min_bytes;
	if (uc->zc_send)
		io_uring_prep_sendmsg_zc(sqe, uc->fd, &uc->msg, MSG_NOSIGNAL | MSG_WAITALL);
	else
		io_uring_prep_sendmsg(sqe, uc->fd, &uc->msg, MSG_NOSIGNAL | MSG_WAITALL);
	uc->ops++;
}

/* Drops the first n bytes of the pending gather list (a partial write). */
static void
tx_advance(struct sl_uconn *uc, size_t n)
{
	uc->tx_left -= n;
	while (n && uc->tx_n) {
		if (n >= uc->tx_iov->iov_len) {
			n -= uc->tx_iov->iov_len;
			uc->tx_iov++;
			uc->tx_n--;
		} else {
			uc->tx_iov->iov_base = (uint8_t *)uc->tx_iov->iov_base + n;
			uc->tx_iov->iov_len -= n;
			n = 0;
		}
	}
	while (uc->tx_n && uc->tx_iov->iov_len == 0) {
		uc->tx_iov++;
		uc->tx_n--;
	}
}

static void
tx_finish(struct sl_uconn *uc, int res)
{
	uc->send_busy = false;
	sl_kconn_tx_done(&uc->k, res);
}

static void
send_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_uconn *uc = SL_CONTAINER_OF(op, struct sl_uconn, send_op);

	if (flags & IORING_CQE_F_NOTIF) {
		/* The kernel let go of the zero-copy pages. */
		uc->ops--;
		uc->zc_notif_wait = false;
	} else {
		if (flags & IORING_CQE_F_MORE)
			uc->zc_notif_wait = true; /* the SQE's last CQE is the notification */
		else
			uc->ops--;
		if (res < 0) {
			uc->tx_err = res;
			uc->tx_left = 0;
		} else {
			uc->xp->tx_bytes += (uint64_t)res;
			tx_advance(uc, (size_t)res);
		}
	}
	if (uc->zc_notif_wait || !uc->send_busy)
		goto out;
	if (!uc->tx_err && uc->tx_left && !uc->closing) {
		send_submit(uc); /* partial write: the rest */
		return;
	}
	if (uc->tx_err)
		tx_finish(uc, uc->tx_err);
	else
		tx_finish(uc, uc->tx_left ? -EPIPE : (int)SL_MIN(uc->tx_len, (size_t)INT32_MAX));
out:
	if (uc->closing)
		maybe_close_fd(uc);
}

static void
ux_tx(struct sl_kconn *c, struct iovec *iov, unsigned n, size_t len)
{
	struct sl_uconn *uc = uc_of(c);

	SL_BUG_ON(uc->send_busy);
	uc->send_busy = true;
	uc->tx_iov = iov;
	uc->tx_n = n;
	uc->tx_left = len;
	uc->tx_len = len;
	uc->tx_err = 0;
	if (uc->closing) {
		tx_finish(uc, -EPIPE);
		return;
	}
	send_submit(uc);
}

/* ---- close ---- */

static void
close_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_uconn *uc = SL_CONTAINER_OF(op, struct sl_uconn, close_op);

	(void)res;
	(void)flags;
	uc->ops--;
	uc->fd = -1;
	sl_kconn_xport_gone(&uc->k);
}

static void
maybe_close_fd(struct sl_uconn *uc)
{
	struct io_uring_sqe *sqe;

	if (uc->fd_closed || uc->ops)
		return;
	if (uc->send_busy) {
		/* Hand the dropped send back before the fd goes. */
		tx_finish(uc, -EPIPE);
		if (uc->fd_closed || uc->ops)
			return;
	}
	uc->fd_closed = true;
	sqe = sl_uring_sqe(uc->xp->u, &uc->close_op);
	io_uring_prep_close(sqe, uc->fd);
	uc->ops++;
}

static void
starved_remove(struct sl_uconn *uc)
{
	struct sl_uconn **pp;

	if (!uc->starved)
		return;
	for (pp = &uc->xp->starved; *pp; pp = &(*pp)->next) {
		if (*pp == uc) {
			*pp = uc->next;
			break;
		}
	}
	uc->starved = false;
	uc->next = NULL;
}

static void
ux_close(struct sl_kconn *c)
{
	struct sl_uconn *uc = uc_of(c);
	struct io_uring_sqe *sqe;

	if (uc->closing)
		return;
	uc->closing = true;
	starved_remove(uc);
	if (uc->ops) {
		/* Cancel whatever is in flight on the fd (a send to a peer that stopped reading
		 * would otherwise wait for TCP to give up), and shut the socket down. */
		sqe = sl_uring_sqe(uc->xp->u, &uc->aux_op);
		io_uring_prep_cancel_fd(sqe, uc->fd, IORING_ASYNC_CANCEL_ALL);
		uc->ops++;
		sqe = sl_uring_sqe(uc->xp->u, &uc->aux_op);
		io_uring_prep_shutdown(sqe, uc->fd, SHUT_RDWR);
		uc->ops++;
		return;
	}
	maybe_close_fd(uc);
}

static void
ux_free(struct sl_kconn *c)
{
	struct sl_uconn *uc = uc_of(c);
	struct sl_uxport *xp = uc->xp;

	SL_BUG_ON(!uc->in_use || uc->ops);
	uc->in_use = false;
	uc->next = xp->free_list;
	xp->free_list = uc;
	xp->nconns--;
}

static const struct sl_xport_ops ux_ops = {
        .rx_release = ux_rx_release,
        .tx = ux_tx,
        .rx_pause = ux_rx_pause,
        .close = ux_close,
        .free = ux_free,
};

/* ---- accept ---- */

static void arm_accept(struct sl_uxport *xp);

static void
accept_done(struct sl_uop *op, int res, unsigned flags)
{
	struct sl_uxport *xp = SL_CONTAINER_OF(op, struct sl_uxport, accept_op);
	struct sl_uconn *uc;
	int one = 1;

	if (!(flags & IORING_CQE_F_MORE))
		xp->accept_armed = false;
	if (res < 0) {
		if (res != -ECANCELED)
			SL_LOG_RATELIMIT(SL_LOG_WARN, "accept: %s", strerror(-res));
		/* Re-armed from sl_uxport_poll, so -EMFILE cannot spin. */
		if (!xp->accept_armed && !xp->accept_stop)
			xp->accept_retry = true;
		goto out;
	}
	uc = xp->free_list;
	if (uc && sl_kconn_prepare(&uc->k) < 0) {
		SL_LOG_RATELIMIT(SL_LOG_WARN, "accept: out of memory for a connection, refusing");
		uc = NULL;
	}
	if (!uc || xp->accept_stop) {
		xp->refused++;
		SL_LOG_RATELIMIT(SL_LOG_WARN, "accept: connection limit (%u) reached, refusing",
		                 xp->cfg.max_conns);
		close(res);
		goto out;
	}
	xp->free_list = uc->next;
	xp->nconns++;
	xp->accepted++;
	(void)setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sl_kconn_reuse(&uc->k, ++xp->next_id);
	uc->fd = res;
	uc->ops = 0;
	uc->recv_armed = uc->send_busy = uc->zc_send = uc->zc_notif_wait = false;
	uc->want_pause = uc->starved = uc->closing = uc->fd_closed = false;
	uc->in_use = true;
	uc->next = NULL;
	if (xp->on_conn)
		xp->on_conn(xp, uc, xp->on_conn_arg);
	arm_recv(uc);
out:
	if (!xp->accept_armed && !xp->accept_stop && !xp->accept_retry)
		arm_accept(xp);
	else if (xp->accept_stop && !xp->accept_armed && xp->lfd >= 0)
		sl_uxport_stop_listen(xp);
}

static void
arm_accept(struct sl_uxport *xp)
{
	struct io_uring_sqe *sqe;

	if (xp->accept_armed || xp->lfd < 0)
		return;
	sqe = sl_uring_sqe(xp->u, &xp->accept_op);
	io_uring_prep_multishot_accept(sqe, xp->lfd, NULL, NULL, SOCK_CLOEXEC);
	xp->accept_armed = true;
}

static void
lclose_done(struct sl_uop *op, int res, unsigned flags)
{
	(void)op;
	(void)res;
	(void)flags;
}

void
sl_uxport_listen(struct sl_uxport *xp, int lfd)
{
	xp->lfd = lfd;
	xp->accept_stop = false;
	arm_accept(xp);
}

void
sl_uxport_stop_listen(struct sl_uxport *xp)
{
	struct io_uring_sqe *sqe;

	xp->accept_stop = true;
	xp->accept_retry = false;
	if (xp->lfd < 0)
		return;
	if (xp->accept_armed) {
		/* accept_done comes back with -ECANCELED and calls us again. */
		sqe = sl_uring_sqe(xp->u, &xp->lclose_op);
		io_uring_prep_cancel(sqe, &xp->accept_op, 0);
		return;
	}
	sqe = sl_uring_sqe(xp->u, &xp->lclose_op);
	io_uring_prep_close(sqe, xp->lfd);
	xp->lfd = -1;
}

void
sl_uxport_close_all(struct sl_uxport *xp)
{
	for (unsigned i = 0; i < xp->cfg.max_conns; i++)
		if (xp->conns[i].in_use && !xp->conns[i].k.closing)
			sl_kconn_close(&xp->conns[i].k, -ESHUTDOWN);
}

bool
sl_uxport_idle(const struct sl_uxport *xp)
{
	return xp->nconns == 0 && xp->lfd < 0 && !xp->accept_armed;
}

void
sl_uxport_poll(struct sl_uxport *xp)
{
	xp->staged_all = false;
	if (xp->accept_retry && !xp->accept_stop) {
		xp->accept_retry = false;
		arm_accept(xp);
	}
	/* Re-arm starving receives once some buffers are back in the ring. */
	if (xp->starved && xp->bufs_out + 8 < xp->mask + 1) {
		struct sl_uconn *uc = xp->starved;

		xp->starved = NULL;
		while (uc) {
			struct sl_uconn *next = uc->next;

			uc->starved = false;
			uc->next = NULL;
			if (!uc->want_pause && !uc->closing)
				arm_recv(uc);
			uc = next;
		}
	}
}

/* ---- set-up ---- */

static void *
map_prefaulted(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, bytes);
	return p;
}

int
sl_uxport_init(struct sl_uxport *xp, struct sl_uring *u, const struct sl_uxport_cfg *cfg,
               const struct sl_kconn_cfg *kcfg, void *owner, sl_uxport_conn_fn on_conn,
               void *on_conn_arg)
{
	struct io_uring_buf_reg reg;
	int rc;

	memset(xp, 0, sizeof(*xp));
	xp->lfd = -1;
	if (!cfg->nbufs || (cfg->nbufs & (cfg->nbufs - 1)) || cfg->nbufs > 32768 ||
	    cfg->buf_bytes < 512 || !cfg->max_conns || kcfg->max_segs < cfg->nbufs)
		return -EINVAL;
	xp->u = u;
	xp->cfg = *cfg;
	xp->kcfg = kcfg;
	xp->owner = owner;
	xp->on_conn = on_conn;
	xp->on_conn_arg = on_conn_arg;
	xp->mask = cfg->nbufs - 1;
	xp->accept_op.fn = accept_done;
	xp->lclose_op.fn = lclose_done;

	xp->br_bytes = SL_ALIGN_UP(cfg->nbufs * sizeof(struct io_uring_buf), (size_t)4096);
	xp->br = map_prefaulted(xp->br_bytes);
	xp->bufs_bytes = (size_t)cfg->nbufs * cfg->buf_bytes;
	xp->bufs = map_prefaulted(xp->bufs_bytes);
	xp->conns_bytes = SL_ALIGN_UP(cfg->max_conns * sizeof(*xp->conns), (size_t)4096);
	xp->conns = map_prefaulted(xp->conns_bytes);
	if (!xp->br || !xp->bufs || !xp->conns) {
		rc = -ENOMEM;
		goto out_free;
	}
	io_uring_buf_ring_init(xp->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)(uintptr_t)xp->br;
	reg.ring_entries = cfg->nbufs;
	reg.bgid = cfg->bgid;
	rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (rc < 0)
		goto out_free;
	xp->br_registered = true;
	for (unsigned i = 0; i < cfg->nbufs; i++)
		io_uring_buf_ring_add(xp->br, xp->bufs + (size_t)i * cfg->buf_bytes, cfg->buf_bytes,
		                      (unsigned short)i, (int)xp->mask, (int)i);
	io_uring_buf_ring_advance(xp->br, (int)cfg->nbufs);

	for (unsigned i = cfg->max_conns; i-- > 0;) {
		struct sl_uconn *uc = &xp->conns[i];

		rc = sl_kconn_init(&uc->k, &ux_ops, kcfg, owner, 0);
		if (rc < 0)
			goto out_free;
		uc->xp = xp;
		uc->fd = -1;
		uc->recv_op.fn = recv_done;
		uc->send_op.fn = send_done;
		uc->aux_op.fn = aux_done;
		uc->close_op.fn = close_done;
		uc->next = xp->free_list;
		xp->free_list = uc;
	}
	return 0;
out_free:
	sl_uxport_fini(xp);
	return rc;
}

void
sl_uxport_fini(struct sl_uxport *xp)
{
	if (xp->br_registered)
		io_uring_unregister_buf_ring(&xp->u->ring, xp->cfg.bgid);
	xp->br_registered = false;
	if (xp->conns) {
		for (unsigned i = 0; i < xp->cfg.max_conns; i++)
			sl_kconn_fini(&xp->conns[i].k);
		munmap(xp->conns, xp->conns_bytes);
		xp->conns = NULL;
	}
	if (xp->bufs)
		munmap(xp->bufs, xp->bufs_bytes);
	if (xp->br)
		munmap(xp->br, xp->br_bytes);
	xp->bufs = NULL;
	xp->br = NULL;
	if (xp->lfd >= 0)
		close(xp->lfd);
	xp->lfd = -1;
}

int
sl_uxport_tcp_listen(const char *host, int port, int backlog, int *port_out)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	int fd = -1, rc, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &res);
	if (rc != 0)
		return rc == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
			rc = -errno;
			close(fd);
			fd = -1;
			continue;
		}
		if (port_out)
			*port_out = ss.ss_family == AF_INET6
			                    ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
			                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
		break;
	}
	freeaddrinfo(res);
	return fd >= 0 ? fd : rc;
}
