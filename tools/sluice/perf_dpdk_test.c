/* SPDX-License-Identifier: Apache-2.0 */
/*
 * perf_dpdk_test.c: unit tests of the Kafka side of `sluice perf --dpdk` without an EAL:
 * the Produce v7 frames it builds (decoded back with the generated codecs, batches checked
 * by storage/rbatch), its response handling (fed with what its own test responder answers,
 * through the --socket transport's receive buffer), framing across the two pieces of a
 * receive ring, and option parsing. Includes perf_dpdk.c to reach its static functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "perf_dpdk.c"

struct fix {
	struct pd_opts o;
	struct pd_env e;
	struct pd_client cl;
	struct pd_serve srv;
};

static void
fix_init(struct fix *f, int64_t batch_records, int nparts)
{
	char *argv[] = {"perf", "produce", "--socket", "--topic", "tpd", "--batch-records", "3",
	                "--inflight", "8", NULL};

	memset(f, 0, sizeof(*f));
	assert_int_equal(pd_parse(&f->o, 9, argv), 0);
	f->o.batch_records = batch_records;
	f->e.kernel = true;
	f->e.rcap = 1 << 20;
	f->e.rbuf = calloc(1, f->e.rcap);
	assert_non_null(f->e.rbuf);
	f->cl.o = &f->o;
	f->cl.e = &f->e;
	f->cl.corr = 1;
	f->cl.due = calloc(8, sizeof(*f->cl.due));
	assert_non_null(f->cl.due);
	f->cl.due_mask = 7;
	assert_int_equal(sl_hist_init(&f->cl.lat, PD_HIST_HIGHEST, PD_HIST_SUB_BITS), 0);
	assert_int_equal(sl_arena_init(&f->cl.arena, 64 << 10, 16 << 20), 0);
	assert_int_equal(client_templates(&f->cl, nparts), 0);
	f->srv.o = &f->o;
	f->o.partitions = nparts;
	snprintf(f->srv.host, sizeof(f->srv.host), "10.0.0.1");
	assert_int_equal(sl_arena_init(&f->srv.arena, 64 << 10, 16 << 20), 0);
}

static void
fix_fini(struct fix *f)
{
	for (unsigned k = 0; k < f->cl.ntmpl; k++)
		free(f->cl.tmpl[k]);
	free(f->cl.due);
	free(f->e.rbuf);
	sl_hist_fini(&f->cl.lat);
	sl_arena_fini(&f->cl.arena);
	sl_arena_fini(&f->srv.arena);
}

/* Every template is a whole Produce v7 frame for its partition with a valid batch. */
static void
test_perf_dpdk_templates_decode_as_produce_v7_with_valid_batches(void **state)
{
	static uint8_t batch[16384];
	struct fix f;

	(void)state;
	fix_init(&f, 3, 4);
	assert_int_equal(f.cl.ntmpl, 4);
	for (unsigned k = 0; k < f.cl.ntmpl; k++) {
		struct sl_request_header h;
		struct sl_produce_req q;
		struct sl_rb_hdr bh;
		struct iovec iov;
		struct sl_crd rd;
		const uint8_t *t = f.cl.tmpl[k];
		size_t blen;

		assert_int_equal(sl_be32(t), f.cl.tmpl_len[k] - 4);
		sl_arena_reset(&f.srv.arena);
		sl_crd_init_buf(&rd, &iov, t + 4, f.cl.tmpl_len[k] - 4, &f.srv.arena);
		assert_int_equal(sl_request_header_read(&rd, &h), 0);
		assert_int_equal(h.request_api_key, SL_API_PRODUCE);
		assert_int_equal(h.request_api_version, 7);
		sl_produce_req_init(&q);
		assert_int_equal(sl_produce_req_decode(&rd, 7, &q), 0);
		assert_int_equal(sl_crd_left(&rd), 0);
		assert_int_equal(q.acks, -1);
		assert_int_equal(q.topic_data_cnt, 1);
		assert_true(sl_kp_str_is(&q.topic_data[0].name, "tpd"));
		assert_int_equal(q.topic_data[0].partition_data_cnt, 1);
		assert_int_equal(q.topic_data[0].partition_data[0].index, (int32_t)k);
		blen = sl_chain_copyout(&q.topic_data[0].partition_data[0].records, batch,
		                        sizeof(batch));
		assert_true(blen > 3 * 1024 && blen <= sizeof(batch));
		assert_int_equal(sl_rb_validate(batch, blen, 1 << 20, 0, NULL, &bh), (int64_t)blen);
		assert_int_equal(bh.record_count, 3);
	}
	fix_fini(&f);
}

/* Answers the request in frame (as the test responder) into the client's receive buffer. */
static void
respond(struct fix *f, const uint8_t *frame, size_t len)
{
	struct iovec iov;
	struct sl_crd rd;
	struct sl_wbuf w;

	sl_arena_reset(&f->srv.arena);
	sl_crd_init_buf(&rd, &iov, frame + 4, len - 4, &f->srv.arena);
	sl_wbuf_init(&w, &f->srv.arena);
	assert_int_equal(serve_one(&f->srv, &rd, &w), 0);
	assert_true(f->e.rlen + w.len <= f->e.rcap);
	f->e.rlen += sl_wbuf_copyout(&w, f->e.rbuf + f->e.rlen, f->e.rcap - f->e.rlen);
}

/* Six requests in flight, answered in order: all counted, each timed from its due time. */
static void
test_perf_dpdk_responses_in_order_are_counted_and_timed(void **state)
{
	struct fix f;
	unsigned i;

	(void)state;
	fix_init(&f, 3, 2);
	f.cl.oldest = f.cl.corr;
	for (i = 0; i < 6; i++) {
		uint8_t *t = f.cl.tmpl[i % f.cl.ntmpl];

		sl_put_be32(t + PD_CORR_OFF, (uint32_t)f.cl.corr);
		f.cl.due[(uint32_t)f.cl.corr & f.cl.due_mask] = 1000 + i;
		f.cl.corr++;
		f.cl.inflight++;
		respond(&f, t, f.cl.tmpl_len[i % f.cl.ntmpl]);
	}
	/* a response cut short stays in the buffer until the rest arrives */
	f.e.rlen -= 3;
	assert_int_equal(client_responses(&f.cl, 5000), 0);
	assert_int_equal(f.cl.requests, 5);
	assert_int_equal(f.cl.inflight, 1);
	f.e.rlen += 3;
	assert_int_equal(client_responses(&f.cl, 5000), 0);
	assert_int_equal(f.cl.requests, 6);
	assert_int_equal(f.cl.records, 18);
	assert_int_equal(f.cl.bytes, 18 * 1024);
	assert_int_equal(f.cl.errors, 0);
	assert_int_equal(f.cl.inflight, 0);
	assert_int_equal(f.e.rlen, 0);
	assert_int_equal(sl_hist_count(&f.cl.lat), 6);
	assert_int_equal(sl_hist_min(&f.cl.lat), 5000 - 1005);
	assert_int_equal(sl_hist_max(&f.cl.lat), 5000 - 1000);
	assert_int_equal(f.srv.produce, 6);
	fix_fini(&f);
}

/* A response whose correlation id is not the oldest request's breaks the stream. */
static void
test_perf_dpdk_response_out_of_order_is_rejected(void **state)
{
	struct fix f;
	uint8_t *t;

	(void)state;
	fix_init(&f, 1, 1);
	t = f.cl.tmpl[0];
	f.cl.oldest = f.cl.corr;
	f.cl.inflight = 2;
	sl_put_be32(t + PD_CORR_OFF, (uint32_t)f.cl.corr + 1);
	respond(&f, t, f.cl.tmpl_len[0]);
	assert_int_equal(client_responses(&f.cl, 1), -EBADMSG);
	assert_int_equal(f.cl.requests, 0);
	fix_fini(&f);
}

/* A frame split over the two pieces of a wrapped ring is read whole; a size prefix no peer
 * would send is an error; a partial frame is not ready. */
static void
test_perf_dpdk_frame_across_ring_wrap_is_whole(void **state)
{
	uint8_t a[7] = {0, 0, 0, 6, 0, 0, 0}, b[5] = {42, 1, 2, 3, 9};
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}}, sub[2];
	struct sl_arena ar;
	struct sl_crd rd;
	uint8_t bad[4] = {0x7f, 0, 0, 0};
	struct iovec biov = {bad, 4};

	(void)state;
	assert_int_equal(sl_arena_init(&ar, 4096, 65536), 0);
	assert_int_equal(frame_next_iov(iov, 2, 12, &rd, sub, &ar), 10);
	assert_int_equal(sl_crd_i32(&rd), 42);
	assert_int_equal(sl_crd_i16(&rd), 0x0102);
	assert_int_equal(rd.err, 0);
	assert_int_equal(sl_crd_left(&rd), 0);
	assert_int_equal(frame_next_iov(iov, 2, 9, &rd, sub, &ar), 0);
	assert_int_equal(frame_next_iov(&biov, 1, 4, &rd, sub, &ar), -EBADMSG);
	sl_arena_fini(&ar);
}

static void
test_perf_dpdk_options_reject_bad_values(void **state)
{
	struct pd_opts o;
	uint8_t mac[6];
	uint32_t ip;
	uint16_t port;
	char *acks0[] = {"perf", "produce", "--dpdk", "--eal-args", "x", "--acks", "0", NULL};
	char *noeal[] = {"perf", "produce", "--dpdk", NULL};
	char *good[] = {"perf", "produce", "--dpdk", "--eal-args", "-l 1", "--brokers",
	                "10.1.2.3:9093", "--peer-mac", "02:00:00:00:5e:0a", NULL};

	(void)state;
	assert_int_equal(parse_mac("02:00:00:00:5e:0a", mac), 0);
	assert_int_equal(mac[5], 0x0a);
	assert_int_equal(parse_mac("02:00:00:00:5e", mac), -EINVAL);
	assert_int_equal(parse_mac("02:00:00:00:5e:0a:11", mac), -EINVAL);
	assert_int_equal(parse_mac("02:00:00:00:5e:100", mac), -EINVAL);
	assert_int_equal(parse_ip_port("10.0.0.1:9092", &ip, &port), 0);
	assert_int_equal(ip, 0x0a000001u);
	assert_int_equal(port, 9092);
	assert_int_equal(parse_ip_port("10.0.0.1:0", &ip, &port), -EINVAL);
	assert_int_equal(parse_ip_port("10.0.0.1", &ip, &port), -EINVAL);
	assert_int_equal(parse_ip_port("host:9092", &ip, &port), -EINVAL);
	assert_int_equal(pd_parse(&o, 7, acks0), -EINVAL);
	assert_int_equal(pd_parse(&o, 3, noeal), -EINVAL);
	assert_int_equal(pd_parse(&o, 9, good), 0);
	assert_int_equal(o.broker_ip, 0x0a010203u);
	assert_int_equal(o.broker_port, 9093);
	assert_false(o.peer_arp);
	assert_int_equal(o.peer_mac[5], 0x0a);
	assert_int_equal(o.ip, 0x0a000002u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_perf_dpdk_templates_decode_as_produce_v7_with_valid_batches),
	        cmocka_unit_test(test_perf_dpdk_responses_in_order_are_counted_and_timed),
	        cmocka_unit_test(test_perf_dpdk_response_out_of_order_is_rejected),
	        cmocka_unit_test(test_perf_dpdk_frame_across_ring_wrap_is_whole),
	        cmocka_unit_test(test_perf_dpdk_options_reject_bad_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
