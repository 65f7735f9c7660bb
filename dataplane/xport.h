/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xport.h: the interface between a byte-stream transport (kernel io_uring sockets today,
 * DPDK + userspace TCP later) and the transport-neutral Kafka request path (kreq.h).
 *
 * The transport owns receive buffers and hands them up as segments (struct sl_rxseg);
 * the request path keeps each segment until every frame that reads from it has been
 * handled, then gives it back through rx_release. Responses go down as gather lists that
 * point at arena memory and at storage buffers; the transport never copies them (or
 * copies only where its medium forces it) and calls sl_kconn_tx_done when all the bytes
 * are written. A DPDK transport implements the same five operations over mbufs.
 *
 * Events flow up through the sl_kconn_* entry points in kreq.h, always on the thread that
 * owns the connection:
 *   sl_kconn_rx()       a segment arrived (ownership passes up until rx_release)
 *   sl_kconn_rx_end()   the peer closed its side or the receive path failed
 *   sl_kconn_tx_done()  the send handed to ops->tx finished (bytes or -errno)
 *   sl_kconn_xport_gone() nothing of the transport's is in flight any more after close()
 */
#ifndef SL_DATAPLANE_XPORT_H
#define SL_DATAPLANE_XPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sl_kconn;

/* Received bytes owned by the transport: give id back with rx_release when done. */
struct sl_rxseg {
	const uint8_t *p;
	uint32_t len;
	uint32_t id;
};

struct sl_xport_ops {
	/* Returns a segment's buffer to the transport. */
	void (*rx_release)(struct sl_kconn *c, uint32_t id);
	/*
	 * Sends iov[0..n) (len bytes in all). At most one send per connection is in flight.
	 * The array and the bytes stay valid until sl_kconn_tx_done; the transport may
	 * rewrite the array entries (partial writes).
	 */
	void (*tx)(struct sl_kconn *c, struct iovec *iov, unsigned n, size_t len);
	/* Stops (pause true) or resumes delivering received data: TCP backpressure. */
	void (*rx_pause)(struct sl_kconn *c, bool pause);
	/* Closes: no more rx or tx; calls sl_kconn_xport_gone once its operations ended. */
	void (*close)(struct sl_kconn *c);
	/* The request path is done with the connection object (after xport_gone and once
	 * its own asynchronous work returned): the transport may reuse it. */
	void (*free)(struct sl_kconn *c);
};

#ifdef __cplusplus
}
#endif

#endif
