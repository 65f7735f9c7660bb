/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kreq.h: the transport-neutral Kafka request path of one connection: framing over a
 * chain of received segments, request-header decoding, dispatch, and in-order responses.
 *
 * A connection (struct sl_kconn, embedded in the transport's own connection object) keeps
 * the segments the transport handed up in a ring (struct sl_kseg). Frames are found by
 * reading the 4-byte size across segment boundaries; a complete frame becomes a request
 * (struct sl_kreq) whose body is read with a chain reader (struct sl_crd) straight out of
 * the segments: nothing is copied into one contiguous buffer. Up to SL_KCONN_DEPTH
 * requests of one connection are in process at once (clients pipeline); each has its own
 * arena and gather writer, and responses leave strictly in request order. Requests are
 * processed one at a time except runs of the overlap API (Produce), whose appends may be in
 * flight together; responses still leave in order. A request's
 * segments go back to the transport when its handler has finished (sl_kreq_done); its
 * arena is reset once its response has been sent.
 *
 * Staging: an incomplete frame that spans more than SL_KCONN_STAGE_SEGS segments holding
 * little each (a client trickling bytes so that every receive buffer holds a few), or
 * more than SL_KCONN_STAGE_SEGS_MAX segments (a very big Produce), is
 * copied into the connection's staging buffer, which grows with the bytes actually
 * received, and its segments are released at once. This keeps one connection from pinning
 * the shard's shared receive buffers; it costs one copy, only for such frames.
 *
 * Backpressure: parsing stops while all request slots are busy or more than
 * tx_limit_bytes of responses wait to be sent; receiving stops (rx_pause) while the
 * connection holds too many segments.
 *
 * Bad framing (negative size, a size above max_frame_bytes, a frame too short for a
 * request header) closes this connection only. An unknown API key or version is the
 * dispatcher's decision (it returns < 0 to close).
 *
 * Threading: everything runs on the thread that owns the connection. Handlers that finish
 * later (storage completions, other shards, the control plane) call sl_kreq_done on that
 * thread. Allocation: sl_kconn_init allocates the segment ring (as many entries as the
 * transport has receive buffers, so it can never overflow); the first use of a request
 * slot initialises its arena (malloc, kept until sl_kconn_fini); staging mallocs.
 * Nothing here blocks.
 */
#ifndef SL_DATAPLANE_KREQ_H
#define SL_DATAPLANE_KREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"
#include "common/kbuf.h"
#include "dataplane/xport.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_KCONN_DEPTH 16          /* requests of one connection in process at once */
#define SL_KCONN_STAGE_SEGS 8      /* an incomplete frame spanning more, thinly filled, is staged */
#define SL_KCONN_STAGE_SEGS_MAX 32 /* ... spanning more, however full, is staged */
#define SL_KCONN_STAGE_FILL 4096   /* "thinly": fewer bytes per segment on average */
#define SL_KCONN_TXIOV 256         /* gather entries in one send */
#define SL_KREQ_HDR_MIN 10         /* api_key, api_version, correlation_id, client_id length */

struct sl_kconn;
struct sl_kreq;

enum sl_kreq_state {
	SL_KREQ_FREE = 0,
	SL_KREQ_RUN,  /* dispatched, handler working */
	SL_KREQ_DONE, /* response ready (or none to send), waiting for its turn */
	SL_KREQ_TX,   /* part of the send in flight */
};

struct sl_kreq {
	struct sl_kconn *conn;
	uint64_t seq; /* request number on the connection, from 0 */
	enum sl_kreq_state state;
	/* request header (v1/v2 fields; v2's tagged fields are the dispatcher's to skip) */
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	struct sl_str client_id;
	/* the frame without its size prefix: header + body; rd is positioned at the byte
	 * after client_id when the dispatcher is called */
	struct iovec *frame_iov; /* in the arena */
	unsigned frame_niov;
	uint32_t frame_len;
	struct sl_crd rd;
	/* response */
	struct sl_arena arena;
	bool arena_ready;
	struct sl_wbuf w;
	uint8_t *size_at; /* the reserved size prefix, NULL if the response is external */
	bool no_response; /* acks=0: nothing goes out, but ordering is kept */
	bool close_after; /* close the connection once this response is sent */
	bool staged;      /* the frame lives in the connection's staging buffer */
	bool overlap;     /* counted in run_ovl */
	bool tx_more;     /* only iovecs [.., tx_next) are in the send in flight */
	unsigned tx_next;
	uint64_t seg_first; /* receive segments the frame holds references on */
	uint64_t seg_end;   /* (exclusive; equal when none) */
	/* run after the response was sent or dropped, before the arena is reset */
	void (*cleanup)(struct sl_kreq *req);
	void *hstate; /* the handler's state */
};

/* One received segment held by the connection. */
struct sl_kseg {
	struct sl_rxseg seg;
	uint32_t refs; /* frames reading from it */
	bool released;
};

/*
 * Dispatch: called with req->state == SL_KREQ_RUN and the header decoded. Returns 0 when
 * the request was taken (the handler calls sl_kreq_done now or later) or < 0 to close the
 * connection (unknown API key or version).
 */
typedef int (*sl_kreq_dispatch_fn)(struct sl_kreq *req, void *ctx);

struct sl_kconn_cfg {
	uint32_t max_frame_bytes; /* socket.request.max.bytes */
	size_t tx_limit_bytes;    /* stop parsing while more response bytes wait */
	size_t arena_blk_bytes;   /* first arena block of each request slot */
	size_t arena_max_bytes;   /* most one request may allocate */
	size_t stage_max_bytes;   /* staging buffer cap (>= max_frame_bytes + 4) */
	uint32_t max_segs;        /* receive segments a connection may hold: the transport's
				    * buffer count (a connection cannot hold more) */
	/* Requests of one connection are processed one at a time (as Kafka does: a fetch
	 * after a produce sees its data), except that consecutive requests with this API key
	 * may run together (Produce: pipelined appends share a group commit). -1: none. */
	int16_t overlap_api_key;
	sl_kreq_dispatch_fn dispatch;
	void *ctx;
};

struct sl_kconn {
	const struct sl_xport_ops *ops;
	const struct sl_kconn_cfg *cfg;
	void *owner; /* the shard (or test) that owns the connection */
	uint64_t id; /* unique per owner, for logs */

	/* received segments: seq numbers [seg_head, seg_tail) live in segs[seq & seg_mask] */
	struct sl_kseg *segs;
	uint32_t seg_mask;
	uint64_t seg_head, seg_tail;
	uint64_t cur_seg; /* parse position: segment seq ... */
	uint32_t cur_off; /* ... and offset in it */
	size_t unparsed;  /* bytes from the parse position to the end of the chain */

	/* staging of one incomplete frame (see above) */
	uint8_t *stage;
	size_t stage_cap, stage_len;
	uint32_t stage_need; /* total frame bytes with the size prefix, 0 until known */
	bool staging;        /* the incomplete frame is being collected in stage */
	bool stage_busy;     /* a request reads from stage */

	/* request slots: seq numbers [req_head, req_tail) are in use */
	struct sl_kreq reqs[SL_KCONN_DEPTH];
	uint64_t req_head, req_tail;
	bool tx_inflight;    /* a send is in the transport */
	unsigned tx_iov_pos; /* first iovec of the head request not sent yet */
	uint32_t run_cnt;    /* requests in SL_KREQ_RUN */
	uint32_t run_ovl;    /* ... of which with cfg->overlap_api_key */
	size_t tx_pending;   /* response bytes built but not yet sent */
	struct iovec txiov[SL_KCONN_TXIOV];

	uint32_t inflight_ext; /* operations of handlers outside this thread's control */
	bool rx_paused;
	bool hold;    /* shutting down: parse no further request */
	bool closing; /* no more parsing; waits for requests to finish */
	bool xport_gone;
	bool freed;
	bool in_parse; /* re-entrancy guard */
	int close_err; /* why it closed (0: peer) */
};

/* Sets up a connection: allocates its segment ring (cfg->max_segs entries, rounded up
 * to a power of two). ops, cfg, owner are borrowed for its life. Returns 0 or -ENOMEM. */
int sl_kconn_init(struct sl_kconn *c, const struct sl_xport_ops *ops,
                  const struct sl_kconn_cfg *cfg, void *owner, uint64_t id) SL_MUST_CHECK;
/* Frees the segment ring, the slot arenas and the staging buffer (after ops->free was
 * called, or for a connection never used). */
void sl_kconn_fini(struct sl_kconn *c);
/* Prepares a finished connection object for reuse, keeping its arenas. */
void sl_kconn_reuse(struct sl_kconn *c, uint64_t id);
/* Sets up every request slot's arena now (at accept, so no request mallocs); arenas are
 * kept when the object is reused. Returns 0 or -ENOMEM. */
int sl_kconn_prepare(struct sl_kconn *c) SL_MUST_CHECK;

/* ---- transport -> request path ---- */

/* A segment arrived. Takes ownership until ops->rx_release(id). */
void sl_kconn_rx(struct sl_kconn *c, const struct sl_rxseg *seg);
/* The peer closed (err 0) or receiving failed (err < 0). */
void sl_kconn_rx_end(struct sl_kconn *c, int err);
/* The send finished: res = bytes sent or -errno. */
void sl_kconn_tx_done(struct sl_kconn *c, int res);
/* The transport finished everything after ops->close. */
void sl_kconn_xport_gone(struct sl_kconn *c);
/* The transport ran short of receive buffers: stage the incomplete frame now so its
 * segments go back. */
void sl_kconn_stage_now(struct sl_kconn *c);

/* Parses no further request (shutdown drain); requests in process finish and their
 * responses are sent. Receiving stops. */
void sl_kconn_hold(struct sl_kconn *c);

/* Closes the connection (bad input, shutdown): drops pending responses. */
void sl_kconn_close(struct sl_kconn *c, int err);

/* True when no request is in process and nothing waits to be sent. */
bool sl_kconn_idle(const struct sl_kconn *c);

/* ---- handlers ---- */

/*
 * Starts the response: writes the size placeholder, the correlation id and, when
 * flexible_hdr (response header v1), an empty tagged-field section. The handler then
 * encodes the body into req->w.
 */
void sl_kreq_resp_begin(struct sl_kreq *req, bool flexible_hdr);

/*
 * The handler is finished: the response in req->w (if begun) is complete. Patches the
 * size, releases the frame's segments and sends when it is this request's turn. If the
 * writer failed (-ENOMEM past arena_max_bytes), the connection is closed.
 */
void sl_kreq_done(struct sl_kreq *req);

/* Gives the frame's receive segments back before the response (a handler that waits
 * long, e.g. a fetch long poll, after copying what it still needs out of the frame). The
 * frame, req->rd and every view into them are invalid afterwards. */
void sl_kreq_release_frame(struct sl_kreq *req);

/* External operations (another thread holds a pointer into this connection): the
 * connection object is not freed while the count is non-zero. */
static inline void
sl_kconn_ext_get(struct sl_kconn *c)
{
	c->inflight_ext++;
}
void sl_kconn_ext_put(struct sl_kconn *c);

#ifdef __cplusplus
}
#endif

#endif
