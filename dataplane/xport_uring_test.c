// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for dataplane/xport_uring over real loopback sockets: pipelined requests
 * answered in order through multishot recv + provided buffers + sendmsg, a frame bigger
 * than many receive buffers, zero-copy sends, a client that stops reading (backpressure,
 * then close), garbage that closes only its own connection, and the buffer ring running
 * dry. A client thread talks plain blocking sockets; the test thread runs the ring.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/compiler.h"
#include "common/uring.h"
#include "dataplane/xport_uring.h"

struct env {
	struct sl_uring u;
	struct sl_uxport xp;
	struct sl_kconn_cfg kcfg;
	int port;
	unsigned dispatched;
	bool hold; /* keep requests running (backpressure test) */
	struct sl_kreq *held[64];
	unsigned nheld;
};

/* Echo: the response body is the request body. */
static int
echo_dispatch(struct sl_kreq *req, void *ctx)
{
	struct env *e = ctx;
	size_t n = sl_crd_left(&req->rd);
	const uint8_t *p;

	e->dispatched++;
	if (req->api_key == 999)
		return -EPROTO;
	sl_kreq_resp_begin(req, false);
	while (n) {
		size_t k = SL_MIN(n, (size_t)4096);

		p = sl_crd_contig(&req->rd, k);
		assert_non_null(p);
		sl_wbuf_copy(&req->w, p, k);
		n -= k;
	}
	if (e->hold && e->nheld < 64) {
		e->held[e->nheld++] = req;
		return 0;
	}
	sl_kreq_done(req);
	return 0;
}

static void
env_init(struct env *e, unsigned nbufs, uint32_t buf_bytes, size_t zc_min)
{
	struct sl_uxport_cfg xc;
	int lfd;

	memset(e, 0, sizeof(*e));
	assert_int_equal(sl_uring_init(&e->u, 256, 0), 0);
	sl_uxport_cfg_default(&xc);
	xc.nbufs = nbufs;
	xc.buf_bytes = buf_bytes;
	xc.max_conns = 8;
	xc.zc_min_bytes = zc_min;
	e->kcfg.max_frame_bytes = 8 << 20;
	e->kcfg.tx_limit_bytes = 1 << 20;
	e->kcfg.arena_blk_bytes = 16 << 10;
	e->kcfg.arena_max_bytes = 64 << 20;
	e->kcfg.stage_max_bytes = (8 << 20) + 4;
	e->kcfg.max_segs = nbufs;
	e->kcfg.overlap_api_key = 1;
	e->kcfg.dispatch = echo_dispatch;
	e->kcfg.ctx = e;
	assert_int_equal(sl_uxport_init(&e->xp, &e->u, &xc, &e->kcfg, e, NULL, NULL), 0);
	lfd = sl_uxport_tcp_listen("127.0.0.1", 0, 64, &e->port);
	assert_true(lfd >= 0);
	assert_true(e->port > 0);
	sl_uxport_listen(&e->xp, lfd);
}

static void
env_fini(struct env *e)
{
	int64_t deadline = sl_now_ns() + 2000000000LL;

	sl_uxport_stop_listen(&e->xp);
	sl_uxport_close_all(&e->xp);
	while (!sl_uxport_idle(&e->xp) && sl_now_ns() < deadline) {
		sl_uxport_poll(&e->xp);
		sl_uring_run(&e->u, 1, 10000000);
	}
	assert_true(sl_uxport_idle(&e->xp));
	assert_int_equal(e->xp.bufs_out, 0);
	sl_uxport_fini(&e->xp);
	sl_uring_fini(&e->u);
}

static int
client_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static size_t
mkframe(uint8_t *p, int16_t key, int32_t corr, const uint8_t *body, size_t blen)
{
	size_t n = 14;

	sl_put_be16(p + 4, (uint16_t)key);
	sl_put_be16(p + 6, 0);
	sl_put_be32(p + 8, (uint32_t)corr);
	sl_put_be16(p + 12, 0xffff);
	if (blen)
		memcpy(p + n, body, blen);
	n += blen;
	sl_put_be32(p, (uint32_t)(n - 4));
	return n;
}

struct client_job {
	int port;
	int nreq;
	size_t body_len;
	int result; /* 0 ok */
	int16_t key;
	bool garbage;
	bool lockstep; /* read each answer before the next request */
	atomic_int done;
};

static bool
read_full(int fd, void *p, size_t n)
{
	uint8_t *d = p;

	while (n) {
		ssize_t r = read(fd, d, n);

		if (r <= 0)
			return false;
		d += r;
		n -= (size_t)r;
	}
	return true;
}

/* Sends nreq pipelined echo requests, checks the answers arrive in order and intact. */
static void *
client_main(void *arg)
{
	struct client_job *j = arg;
	int fd = client_connect(j->port);
	size_t cap = j->body_len + 64;
	uint8_t *buf = malloc(cap), *body = malloc(j->body_len + 1), *resp = malloc(cap);

	j->result = 0;
	if (j->garbage) {
		static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8};

		(void)!write(fd, junk, sizeof(junk));
		j->result = read(fd, resp, 1) == 0 ? 0 : -1; /* closed by the broker */
		goto out;
	}
	for (size_t i = 0; i < j->body_len; i++)
		body[i] = (uint8_t)(i * 13 + 1);
	for (int r = 0, got = 0; got < j->nreq;) {
		if (r < j->nreq) {
			size_t n = mkframe(buf, j->key, r, body, j->body_len);
			size_t off = 0;

			while (off < n) {
				ssize_t w = write(fd, buf + off, n - off);

				if (w <= 0) {
					j->result = -2;
					goto out;
				}
				off += (size_t)w;
			}
			r++;
			if (!j->lockstep && r < j->nreq)
				continue;
		}
		{
			uint8_t hdr[8];

			if (!read_full(fd, hdr, 8) || sl_be32(hdr) != j->body_len + 4 ||
			    (int32_t)sl_be32(hdr + 4) != got || !read_full(fd, resp, j->body_len) ||
			    memcmp(resp, body, j->body_len) != 0) {
				j->result = -3;
				goto out;
			}
			got++;
		}
	}
out:
	close(fd);
	free(buf);
	free(body);
	free(resp);
	atomic_store(&j->done, 1);
	return NULL;
}

static void
run_until_done(struct env *e, struct client_job *j)
{
	int64_t deadline = sl_now_ns() + 10000000000LL;

	while (!atomic_load(&j->done) && sl_now_ns() < deadline) {
		sl_uxport_poll(&e->xp);
		sl_uring_run(&e->u, 1, 5000000);
	}
	assert_true(atomic_load(&j->done));
}

static void
run_client(struct env *e, struct client_job *j)
{
	pthread_t t;

	j->port = e->port;
	assert_int_equal(pthread_create(&t, NULL, client_main, j), 0);
	run_until_done(e, j);
	pthread_join(t, NULL);
	assert_int_equal(j->result, 0);
}

static void
test_uxport_pipelined_echo_in_order(void **state)
{
	struct env e;
	struct client_job j = {.nreq = 200, .body_len = 100, .key = 1};

	(void)state;
	env_init(&e, 64, 4096, 0);
	run_client(&e, &j);
	assert_int_equal(e.dispatched, 200);
	env_fini(&e);
}

static void
test_uxport_big_frames_span_many_buffers(void **state)
{
	struct env e;
	struct client_job j = {.nreq = 5, .body_len = 3 << 20, .key = 1, .lockstep = true};

	(void)state;
	/* 3 MiB frames over 16 x 4 KiB buffers: staging keeps the ring supplied. */
	env_init(&e, 16, 4096, 0);
	run_client(&e, &j);
	assert_int_equal(e.dispatched, 5);
	env_fini(&e);
}

static void
test_uxport_zero_copy_send_delivers_intact(void **state)
{
	struct env e;
	struct client_job j = {.nreq = 8, .body_len = 256 << 10, .key = 1};

	(void)state;
	env_init(&e, 64, 16384, 1);
	run_client(&e, &j);
	env_fini(&e);
}

static void
test_uxport_garbage_closes_only_that_connection(void **state)
{
	struct env e;
	struct client_job bad = {.garbage = true};
	struct client_job good = {.nreq = 10, .body_len = 10, .key = 1};

	(void)state;
	env_init(&e, 64, 4096, 0);
	run_client(&e, &bad);
	run_client(&e, &good);
	env_fini(&e);
}

static void
test_uxport_unknown_api_closes_connection(void **state)
{
	struct env e;
	struct client_job j = {.nreq = 1, .body_len = 4, .key = 999};
	pthread_t t;

	(void)state;
	env_init(&e, 64, 4096, 0);
	j.port = e.port;
	assert_int_equal(pthread_create(&t, NULL, client_main, &j), 0);
	run_until_done(&e, &j);
	pthread_join(t, NULL);
	assert_int_equal(j.result, -3); /* no answer: closed */
	env_fini(&e);
}

static void
test_uxport_stalled_client_pauses_then_closes_cleanly(void **state)
{
	struct env e;
	uint8_t buf[256], body[100] = {0};
	size_t n = mkframe(buf, 1, 0, body, sizeof(body));
	int fd, sent = 0;
	int64_t deadline;

	(void)state;
	env_init(&e, 256, 4096, 0);
	e.hold = true;
	fd = client_connect(e.port);
	/* Keep writing while the broker holds every request: it must stop reading (the
	 * write eventually blocks, so write non-blocking) and not run out of buffers. */
	{
		int fl = 1;

		ioctl(fd, FIONBIO, &fl);
	}
	deadline = sl_now_ns() + 3000000000LL;
	while (sl_now_ns() < deadline) {
		ssize_t w = write(fd, buf, n);

		if (w > 0)
			sent++;
		sl_uring_run(&e.u, 0, 0);
		sl_uxport_poll(&e.xp);
		if (w < 0 && errno == EAGAIN) {
			/* Give the ring a moment; stop once the socket stays full. */
			sl_uring_run(&e.u, 1, 20000000);
			if (write(fd, buf, n) < 0 && errno == EAGAIN)
				break;
			sent++;
		}
	}
	assert_true(sent > SL_KCONN_DEPTH);
	assert_true(e.nheld <= SL_KCONN_DEPTH);
	assert_true(e.xp.bufs_out < 256);
	{
		unsigned paused = 0;

		for (unsigned i = 0; i < e.xp.cfg.max_conns; i++)
			paused += e.xp.conns[i].in_use && e.xp.conns[i].k.rx_paused;
		assert_int_equal(paused, 1);
	}
	/* Release the held requests, then close from the broker side. */
	e.hold = false;
	for (unsigned i = 0; i < e.nheld; i++)
		sl_kreq_done(e.held[i]);
	close(fd);
	env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_uxport_pipelined_echo_in_order),
	        cmocka_unit_test(test_uxport_big_frames_span_many_buffers),
	        cmocka_unit_test(test_uxport_zero_copy_send_delivers_intact),
	        cmocka_unit_test(test_uxport_garbage_closes_only_that_connection),
	        cmocka_unit_test(test_uxport_unknown_api_closes_connection),
	        cmocka_unit_test(test_uxport_stalled_client_pauses_then_closes_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
