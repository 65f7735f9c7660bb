/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xport_uring.h: the kernel-socket transport on io_uring (the default, runs anywhere).
 *
 * One instance per shard, on the shard's ring (struct sl_uring, shared with storage):
 *  - a listening socket of its own (SO_REUSEPORT: the kernel spreads connections over the
 *    shards) served by one multishot accept;
 *  - receives with multishot recv into a provided-buffer ring (IORING_REGISTER_PBUF_RING,
 *    set up by hand: liburing 2.3 has no io_uring_setup_buf_ring), buffers pre-faulted;
 *    each completion hands one buffer up as a struct sl_rxseg, returned to the ring by
 *    rx_release;
 *  - sends gather lists with sendmsg, or sendmsg zero-copy (IORING_OP_SENDMSG_ZC) for
 *    responses of at least zc_min_bytes; the buffers are released only after the
 *    kernel's notification;
 *  - backpressure by cancelling the multishot recv and re-arming it on resume;
 *  - when the buffer ring runs dry (-ENOBUFS) the starving connections are re-armed as
 *    buffers come back, and connections holding incomplete frames are told to stage them.
 *
 * Connection objects come from a pool of max_conns allocated at init; an accept beyond
 * it is closed at once. Everything runs on the owning shard's thread; nothing blocks
 * (accepted sockets get TCP_NODELAY with one setsockopt at accept).
 */
#ifndef SL_DATAPLANE_XPORT_URING_H
#define SL_DATAPLANE_XPORT_URING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/compiler.h"
#include "common/uring.h"
#include "dataplane/kreq.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sl_uxport;

struct sl_uconn {
	struct sl_kconn k; /* first: the request path's view */
	struct sl_uxport *xp;
	int fd;
	unsigned ops; /* SQEs of this connection not yet completed */
	struct sl_uop recv_op, send_op, aux_op, close_op;
	struct msghdr msg;
	struct iovec *tx_iov;
	unsigned tx_n;
	size_t tx_left, tx_len;
	int tx_err;
	bool recv_armed, send_busy, zc_send, zc_notif_wait;
	bool want_pause, starved, closing, fd_closed, in_use;
	struct sl_uconn *next; /* free list / starved list */
};

struct sl_uxport_cfg {
	unsigned nbufs;      /* receive buffers, power of two, <= 32768 */
	uint32_t buf_bytes;  /* size of each */
	unsigned max_conns;  /* connection pool */
	uint16_t bgid;       /* buffer group id on the ring */
	size_t zc_min_bytes; /* 0: never zero-copy */
};

void sl_uxport_cfg_default(struct sl_uxport_cfg *cfg);

/* Called for each accepted connection after its request path was set up. */
typedef void (*sl_uxport_conn_fn)(struct sl_uxport *xp, struct sl_uconn *uc, void *arg);

struct sl_uxport {
	struct sl_uring *u;
	struct sl_uxport_cfg cfg;
	const struct sl_kconn_cfg *kcfg;
	void *owner;
	sl_uxport_conn_fn on_conn;
	void *on_conn_arg;
	/* listening */
	int lfd;
	struct sl_uop accept_op, lclose_op;
	bool accept_armed, accept_stop, accept_retry;
	bool staged_all; /* staging forced in this loop iteration */
	/* receive buffers */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	unsigned mask;
	unsigned bufs_out; /* buffers handed to connections */
	bool br_registered;
	/* connections */
	struct sl_uconn *conns;
	size_t conns_bytes;
	struct sl_uconn *free_list;
	struct sl_uconn *starved;
	unsigned nconns; /* in use */
	uint64_t next_id;
	/* counters */
	uint64_t accepted, refused, rx_bytes, tx_bytes, nobufs;
};

/*
 * Sets up the buffer ring (registered on u) and the connection pool, pre-faulted.
 * kcfg and owner are handed to every connection's request path. Returns 0 or -errno.
 */
int sl_uxport_init(struct sl_uxport *xp, struct sl_uring *u, const struct sl_uxport_cfg *cfg,
                   const struct sl_kconn_cfg *kcfg, void *owner, sl_uxport_conn_fn on_conn,
                   void *on_conn_arg) SL_MUST_CHECK;
/* Frees everything; every connection must be gone (sl_uxport_idle) and the ring idle. */
void sl_uxport_fini(struct sl_uxport *xp);

/* Starts accepting on a listening socket (takes ownership of lfd). */
void sl_uxport_listen(struct sl_uxport *xp, int lfd);
/* Stops accepting and closes the listening socket (asynchronously). */
void sl_uxport_stop_listen(struct sl_uxport *xp);
/* Closes every connection (shutdown). */
void sl_uxport_close_all(struct sl_uxport *xp);
/* True when no connection object is in use and the listener is closed. */
bool sl_uxport_idle(const struct sl_uxport *xp);

/* Once per loop iteration: re-arms starving receives and a failed accept. */
void sl_uxport_poll(struct sl_uxport *xp);

/*
 * Creates a TCP listening socket on host:port (numeric IPv4/IPv6 or a name; port 0 picks
 * a free port), SO_REUSEADDR + SO_REUSEPORT so every shard can bind the same port.
 * *port_out gets the bound port. Blocking (start-up). Returns the fd or -errno.
 */
int sl_uxport_tcp_listen(const char *host, int port, int backlog, int *port_out) SL_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
