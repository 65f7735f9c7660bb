// SPDX-License-Identifier: Apache-2.0
/* Unit tests for tools/sluiced/config: Kafka's server.properties names map onto the
 * broker's settings, malformed values are refused, unknown keys are reported. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/props.h"

#include "tools/sluiced/config.h"

static int
load(struct sld_config *c, struct sl_props *p, const char *text, char *err, size_t errlen)
{
	int bad = 0;

	sl_props_init(p);
	assert_int_equal(sl_props_parse(p, text, strlen(text), "server.properties", &bad), 0);
	sld_config_default(c);
	return sld_config_load(c, p, err, errlen);
}

static void
test_config_kafka_names_map_to_settings(void **state)
{
	struct sld_config c;
	struct sl_props p;
	char err[1024];

	(void)state;
	assert_int_equal(load(&c, &p,
	                      "listeners=PLAINTEXT://0.0.0.0:19092\n"
	                      "advertised.listeners=PLAINTEXT://broker.example:29092\n"
	                      "log.dirs=/var/lib/sluice,/other\n"
	                      "num.partitions=4\n"
	                      "auto.create.topics.enable=false\n"
	                      "log.segment.bytes=1048576\n"
	                      "log.retention.hours=1\n"
	                      "log.retention.bytes=1000000\n"
	                      "log.flush.interval.messages=100\n"
	                      "log.flush.interval.ms=50\n"
	                      "message.max.bytes=2000000\n"
	                      "socket.request.max.bytes=5000000\n"
	                      "default.replication.factor=1\n"
	                      "log.flush.durable=true\n"
	                      "num.shards=3\n"
	                      "broker.id=7\n"
	                      "num.network.threads=3\n",
	                      err, sizeof(err)),
	                 0);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(c.listen_port, 19092);
	assert_string_equal(c.adv_host, "broker.example");
	assert_int_equal(c.adv_port, 29092);
	assert_string_equal(c.log_dir, "/var/lib/sluice");
	assert_int_equal(c.num_partitions, 4);
	assert_false(c.auto_create);
	assert_int_equal(c.topic_defaults.segment_bytes, 1048576);
	assert_int_equal(c.topic_defaults.retention_ms, 3600 * 1000);
	assert_int_equal(c.topic_defaults.retention_bytes, 1000000);
	assert_int_equal(c.topic_defaults.flush_messages, 100);
	assert_int_equal(c.topic_defaults.flush_ms, 50);
	assert_int_equal(c.topic_defaults.max_message_bytes, 2000000);
	assert_int_equal(c.socket_request_max_bytes, 5000000);
	assert_true(c.topic_defaults.durable);
	assert_int_equal(c.num_shards, 3);
	assert_int_equal(c.node_id, 7);
	/* Every key above is known (num.network.threads is accepted and ignored). */
	assert_int_equal(sld_config_report_unknown(&p), 0);
	sl_props_fini(&p);
}

static void
test_config_retention_ms_wins_over_hours(void **state)
{
	struct sld_config c;
	struct sl_props p;
	char err[256];

	(void)state;
	assert_int_equal(
	        load(&c, &p, "log.retention.ms=1234\nlog.retention.hours=5\n", err, sizeof(err)),
	        0);
	assert_int_equal(c.topic_defaults.retention_ms, 1234);
	sl_props_fini(&p);
	assert_int_equal(load(&c, &p, "log.retention.hours=-1\n", err, sizeof(err)), 0);
	assert_int_equal(c.topic_defaults.retention_ms, -1);
	sl_props_fini(&p);
}

static void
test_config_wildcard_listener_advertises_loopback_and_port_zero(void **state)
{
	struct sld_config c;
	struct sl_props p;
	char err[256];

	(void)state;
	assert_int_equal(load(&c, &p, "listeners=PLAINTEXT://:0\n", err, sizeof(err)), 0);
	assert_string_equal(c.listen_host, "");
	assert_int_equal(c.listen_port, 0);
	assert_string_equal(c.adv_host, "127.0.0.1");
	assert_int_equal(c.adv_port, -1);
	sl_props_fini(&p);
}

static void
test_config_malformed_values_refused_with_key_named(void **state)
{
	struct sld_config c;
	struct sl_props p;
	char err[1024];

	(void)state;
	assert_int_equal(load(&c, &p,
	                      "num.partitions=many\nauto.create.topics.enable=yes\n"
	                      "listeners=localhost:9092\nsluice.socket.receive.buffers=100\n",
	                      err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "num.partitions"));
	assert_non_null(strstr(err, "auto.create.topics.enable"));
	assert_non_null(strstr(err, "listeners"));
	assert_non_null(strstr(err, "sluice.socket.receive.buffers"));
	sl_props_fini(&p);
}

static void
test_config_unknown_keys_are_reported(void **state)
{
	struct sld_config c;
	struct sl_props p;
	char err[256];

	(void)state;
	assert_int_equal(
	        load(&c, &p, "log.dirs=/d\nlog.retention.hourz=3\nfoo.bar=1\n", err, sizeof(err)),
	        0);
	assert_int_equal(sld_config_report_unknown(&p), 2);
	sl_props_fini(&p);
}

static void
test_config_listener_forms_parse(void **state)
{
	char host[64];
	int port = -1;

	(void)state;
	assert_int_equal(sld_parse_listener("PLAINTEXT://[::1]:9093", host, sizeof(host), &port),
	                 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 9093);
	assert_int_equal(sld_parse_listener("SSL://a:1,PLAINTEXT://b:2", host, sizeof(host), &port),
	                 0);
	assert_string_equal(host, "b");
	assert_int_equal(port, 2);
	assert_int_equal(sld_parse_listener("PLAINTEXT://b:99999", host, sizeof(host), &port),
	                 -EINVAL);
	assert_int_equal(sld_parse_listener("PLAINTEXT://b", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(sld_parse_listener("", host, sizeof(host), &port), -EINVAL);
}

static void
test_config_dataplane_dpdk_keys_map_and_advertise_the_dpdk_address(void **state)
{
	struct sld_config c;
	struct sl_props p;
	char err[1024];

	(void)state;
	assert_int_equal(load(&c, &p,
	                      "listeners=PLAINTEXT://0.0.0.0:9092\n"
	                      "dataplane=dpdk\n"
	                      "dpdk.eal.args=--no-huge -m 512 --vdev=net_af_packet0,iface=v0\n"
	                      "dpdk.ip=10.1.2.3/24\n"
	                      "dpdk.gateway=10.1.2.254\n"
	                      "dpdk.port=net_af_packet0\n"
	                      "dpdk.fault.drop=0.05\n"
	                      "dpdk.fault.tx_drop=0.02\n"
	                      "dpdk.fault.seed=9\n"
	                      "dpdk.max.connections=100\n"
	                      "dpdk.steer=on\n"
	                      "dpdk.steer.ring.size=4096\n"
	                      "dpdk.inline.writes=false\n",
	                      err, sizeof(err)),
	                 0);
	assert_true(c.dataplane_dpdk);
	assert_string_equal(c.dpdk_eal_args, "--no-huge -m 512 --vdev=net_af_packet0,iface=v0");
	assert_int_equal(c.dpdk_ip, 0x0a010203u);
	assert_int_equal(c.dpdk_prefix, 24);
	assert_int_equal(c.dpdk_gateway, 0x0a0102feu);
	assert_string_equal(c.dpdk_port, "net_af_packet0");
	assert_true(c.dpdk_fault_drop > 0.049 && c.dpdk_fault_drop < 0.051);
	assert_int_equal(c.dpdk_fault_seed, 9);
	assert_true(c.dpdk_fault_tx_drop > 0.019 && c.dpdk_fault_tx_drop < 0.021);
	assert_string_equal(c.adv_host, "10.1.2.3");
	assert_int_equal(c.dpdk_max_conns, 100);
	assert_int_equal(c.dpdk_steer, 2);
	assert_int_equal(c.dpdk_steer_ring, 4096);
	assert_false(c.dpdk_inline_writes);
	assert_int_equal(c.dpdk_rcvbuf_bytes, 256 << 10);
	assert_int_equal(sld_config_report_unknown(&p), 0);
	sl_props_fini(&p);

	/* kernel stays the default; dpdk without an address, bad values: refused, named */
	assert_int_equal(load(&c, &p, "listeners=PLAINTEXT://127.0.0.1:9092\n", err, sizeof(err)),
	                 0);
	assert_false(c.dataplane_dpdk);
	sl_props_fini(&p);
	assert_int_equal(load(&c, &p, "dataplane=dpdk\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "dpdk.ip"));
	sl_props_fini(&p);
	assert_int_equal(load(&c, &p,
	                      "dataplane=fast\ndpdk.ip=10.0.0.1/33\ndpdk.gateway=10.0.0.300\n"
	                      "dpdk.fault.dup=1.5\ndpdk.socket.receive.buffer.bytes=5000\n",
	                      err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "dataplane=fast"));
	assert_non_null(strstr(err, "dpdk.ip=10.0.0.1/33"));
	assert_non_null(strstr(err, "dpdk.gateway=10.0.0.300"));
	assert_non_null(strstr(err, "dpdk.fault.dup=1.5"));
	assert_non_null(strstr(err, "powers of two"));
	sl_props_fini(&p);
	assert_int_equal(load(&c, &p,
	                      "dataplane=dpdk\ndpdk.ip=10.0.0.1/24\ndpdk.gateway=10.9.0.1\n", err,
	                      sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "outside"));
	sl_props_fini(&p);
	assert_int_equal(load(&c, &p,
	                      "dataplane=dpdk\ndpdk.ip=10.0.0.1/24\ndpdk.steer=sideways\n"
	                      "dpdk.steer.ring.size=1000\n",
	                      err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "dpdk.steer=sideways"));
	assert_non_null(strstr(err, "dpdk.steer.ring.size=1000"));
	sl_props_fini(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_config_kafka_names_map_to_settings),
	        cmocka_unit_test(test_config_retention_ms_wins_over_hours),
	        cmocka_unit_test(test_config_wildcard_listener_advertises_loopback_and_port_zero),
	        cmocka_unit_test(test_config_malformed_values_refused_with_key_named),
	        cmocka_unit_test(test_config_unknown_keys_are_reported),
	        cmocka_unit_test(test_config_listener_forms_parse),
	        cmocka_unit_test(
	                test_config_dataplane_dpdk_keys_map_and_advertise_the_dpdk_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
