// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for InitProducerId (control/pid.c): ids are distinct, start from the reserved
 * block, are never reused after a restart (a new control plane on the same directory), a
 * transactional id is refused, and a malformed block file stops allocation instead of
 * reusing ids. Requests are real frames built with the generated encoders and go through
 * ctl_handle_req; answers are decoded with the generated decoders.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/kproto/api.h"
#include "common/kproto/init_producer_id.h"
#include "control/ctrl_int.h"

struct env {
	char dir[128];
	struct sl_ctrl *c;
	struct sl_arena arena;
};

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
env_open(struct env *e)
{
	struct sl_ctrl_opts o;

	sl_ctrl_opts_default(&o);
	o.log_dir = e->dir;
	o.nshards = 1;
	assert_int_equal(sl_ctrl_create(&e->c, &o), 0);
}

static void
env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/var/tmp/sl-pid-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	assert_int_equal(sl_arena_init(&e->arena, 4096, 1 << 20), 0);
	env_open(e);
}

static void
env_fini(struct env *e)
{
	sl_ctrl_destroy(e->c);
	nftw(e->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	sl_arena_fini(&e->arena);
}

/* Sends InitProducerId v<ver> (transactional id or NULL) and decodes the answer. */
static void
init_pid(struct env *e, int16_t ver, const char *txn, struct sl_init_producer_id_resp *out)
{
	struct sl_init_producer_id_req r;
	struct sl_request_header h;
	struct sl_response_header rh;
	struct sl_ctrl_req req;
	struct sl_wbuf w;
	struct sl_crd rd;
	struct iovec iov;
	uint8_t frame[256];

	sl_arena_reset(&e->arena);
	sl_init_producer_id_req_init(&r);
	r.transactional_id.p = txn;
	r.transactional_id.len = txn ? (int32_t)strlen(txn) : -1;
	r.transaction_timeout_ms = 60000;
	sl_request_header_init(&h);
	h.request_api_key = SL_API_INIT_PRODUCER_ID;
	h.request_api_version = ver;
	h.correlation_id = 9;
	h.client_id.p = "pid-test";
	h.client_id.len = 8;
	sl_wbuf_init(&w, &e->arena);
	assert_int_equal(sl_request_header_encode(&w, sl_kapi_req_hdr_ver(22, ver), &h), 0);
	assert_int_equal(sl_init_producer_id_req_encode(&w, ver, &r), 0);
	assert_true(w.len <= sizeof(frame));
	sl_wbuf_copyout(&w, frame, w.len);

	memset(&req, 0, sizeof(req));
	req.api_key = SL_API_INIT_PRODUCER_ID;
	req.api_version = ver;
	req.frame = frame;
	req.frame_len = (uint32_t)w.len;
	ctl_handle_req(e->c, 0, &req);
	assert_int_equal(req.close_conn, 0);
	assert_non_null(req.resp);
	assert_int_equal(sl_be32(req.resp), req.resp_len - 4);
	sl_arena_reset(&e->arena);
	sl_crd_init_buf(&rd, &iov, req.resp + 4, req.resp_len - 4, &e->arena);
	assert_int_equal(sl_response_header_decode(&rd, sl_kapi_resp_hdr_ver(22, ver), &rh), 0);
	assert_int_equal(rh.correlation_id, 9);
	sl_init_producer_id_resp_init(out);
	assert_int_equal(sl_init_producer_id_resp_decode(&rd, ver, out), 0);
	assert_int_equal(sl_crd_left(&rd), 0);
	free(req.resp);
}

static void
test_pid_ids_distinct_and_epoch_zero_in_every_version(void **state)
{
	struct sl_init_producer_id_resp r;
	int64_t prev = -1;
	struct env e;

	(void)state;
	env_init(&e);
	for (int16_t v = 0; v <= 4; v++) {
		init_pid(&e, v, NULL, &r);
		assert_int_equal(r.error_code, 0);
		assert_int_equal(r.producer_epoch, 0);
		assert_true(r.producer_id > prev);
		prev = r.producer_id;
	}
	env_fini(&e);
}

static void
test_pid_never_reused_after_restart(void **state)
{
	struct sl_init_producer_id_resp r;
	int64_t last = -1, id;
	struct env e;

	(void)state;
	env_init(&e);
	for (int i = 0; i < 1500; i++) { /* crosses a block boundary */
		assert_int_equal(ctl_pid_alloc(e.c, &id), 0);
		assert_true(id > last);
		last = id;
	}
	sl_ctrl_destroy(e.c);
	env_open(&e);
	init_pid(&e, 1, NULL, &r);
	assert_int_equal(r.error_code, 0);
	assert_true(r.producer_id > last);
	env_fini(&e);
}

static void
test_pid_transactional_id_refused(void **state)
{
	struct sl_init_producer_id_resp r;
	struct env e;

	(void)state;
	env_init(&e);
	init_pid(&e, 4, "txn-1", &r);
	assert_int_equal(r.error_code, 53);
	assert_int_equal(r.producer_id, -1);
	env_fini(&e);
}

static void
test_pid_malformed_block_file_refuses_ids(void **state)
{
	struct sl_init_producer_id_resp r;
	struct env e;
	char p[256];
	FILE *f;

	(void)state;
	env_init(&e);
	snprintf(p, sizeof(p), "%s/producer-id-block", e.dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs("12x\n", f);
	fclose(f);
	init_pid(&e, 2, NULL, &r);
	assert_int_equal(r.error_code, 15); /* retriable, and no id reused */
	assert_int_equal(r.producer_id, -1);
	env_fini(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pid_ids_distinct_and_epoch_zero_in_every_version),
	        cmocka_unit_test(test_pid_never_reused_after_restart),
	        cmocka_unit_test(test_pid_transactional_id_refused),
	        cmocka_unit_test(test_pid_malformed_block_file_refuses_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
