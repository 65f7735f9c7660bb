// SPDX-License-Identifier: Apache-2.0
/* Unit tests for control/tcfg.c: Kafka topic config names, validation, and their effect on
 * struct sl_plog_cfg. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control/ctrl_int.h"

static int
idx(const char *name)
{
	return sl_tcfg_find(name, strlen(name));
}

static int
check(const char *name, const char *val)
{
	char err[256];
	int i = idx(name);

	assert_true(i >= 0);
	return sl_tcfg_validate((unsigned)i, val, val ? strlen(val) : 0, err, sizeof(err));
}

static void
test_tcfg_find_kafka_names_known_others_not(void **state)
{
	static const char *const known[] = {
	        "retention.ms",
	        "retention.bytes",
	        "segment.bytes",
	        "segment.ms",
	        "cleanup.policy",
	        "max.message.bytes",
	        "delete.retention.ms",
	        "flush.messages",
	        "flush.ms",
	        "min.insync.replicas",
	        "compression.type",
	        "segment.jitter.ms",
	        "message.timestamp.type",
	        "min.cleanable.dirty.ratio",
	        "preallocate",
	};

	(void)state;
	for (unsigned i = 0; i < SL_ARRAY_SIZE(known); i++)
		assert_true(idx(known[i]) >= 0);
	assert_int_equal(idx("retention.msx"), -1);
	assert_int_equal(idx("log.retention.ms"), -1); /* a broker config, not a topic one */
	assert_int_equal(idx(""), -1);
	assert_int_equal(sl_tcfg_find("retention.ms", 9), -1); /* "retentio" prefix */
	assert_true(sl_tcfg_count() <= SL_TCFG_MAX);
	/* sorted and unique: DescribeConfigs lists them in this order */
	for (unsigned i = 1; i < sl_tcfg_count(); i++)
		assert_true(strcmp(sl_tcfg_def(i - 1)->name, sl_tcfg_def(i)->name) < 0);
}

static void
test_tcfg_validate_numbers_ranges_enforced(void **state)
{
	(void)state;
	assert_int_equal(check("retention.ms", "1000"), 0);
	assert_int_equal(check("retention.ms", "-1"), 0);
	assert_int_equal(check("retention.ms", " 42 "), 0); /* Kafka trims */
	assert_int_equal(check("retention.ms", "+7"), 0);
	assert_int_equal(check("retention.ms", "-2"), -EINVAL);
	assert_int_equal(check("retention.ms", "1e3"), -EINVAL);
	assert_int_equal(check("retention.ms", ""), -EINVAL);
	assert_int_equal(check("retention.ms", "9223372036854775807"), 0);
	assert_int_equal(check("retention.ms", "9223372036854775808"), -EINVAL);
	assert_int_equal(check("retention.bytes", "-9223372036854775808"), 0);
	assert_int_equal(check("segment.bytes", "14"), 0);
	assert_int_equal(check("segment.bytes", "13"), -EINVAL);
	assert_int_equal(check("segment.bytes", "2147483648"), -EINVAL); /* INT */
	assert_int_equal(check("flush.messages", "0"), -EINVAL);
	assert_int_equal(check("min.insync.replicas", "0"), -EINVAL);
	assert_int_equal(check("min.cleanable.dirty.ratio", "0.25"), 0);
	assert_int_equal(check("min.cleanable.dirty.ratio", "1.5"), -EINVAL);
	assert_int_equal(check("min.cleanable.dirty.ratio", "nan"), -EINVAL);
}

static void
test_tcfg_validate_strings_lists_bools(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(check("cleanup.policy", "compact"), 0);
	assert_int_equal(check("cleanup.policy", "compact,delete"), 0);
	assert_int_equal(check("cleanup.policy", "delete, compact"), 0);
	assert_int_equal(check("cleanup.policy", ""), 0);
	assert_int_equal(check("cleanup.policy", "compact,"), -EINVAL);
	assert_int_equal(check("cleanup.policy", "remove"), -EINVAL);
	assert_int_equal(check("compression.type", "zstd"), 0);
	assert_int_equal(check("compression.type", "brotli"), -EINVAL);
	assert_int_equal(check("message.timestamp.type", "LogAppendTime"), 0);
	assert_int_equal(check("message.timestamp.type", "logappendtime"), -EINVAL);
	assert_int_equal(check("preallocate", "TRUE"), 0);
	assert_int_equal(check("preallocate", "yes"), -EINVAL);
	assert_int_equal(check("leader.replication.throttled.replicas", "*"), 0);
	assert_int_equal(check("leader.replication.throttled.replicas", "0:1,1:1"), 0);
	assert_int_equal(check("leader.replication.throttled.replicas", "0:"), -EINVAL);
	/* null values are refused with a message naming the key */
	assert_int_equal(sl_tcfg_validate((unsigned)idx("retention.ms"), NULL, 0, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "retention.ms"));
}

static void
test_tcfg_apply_sets_storage_fields(void **state)
{
	struct sl_plog_cfg cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	sl_tcfg_apply(&cfg, (unsigned)idx("retention.ms"), "1000");
	sl_tcfg_apply(&cfg, (unsigned)idx("retention.bytes"), "-1");
	sl_tcfg_apply(&cfg, (unsigned)idx("segment.bytes"), " 1048576");
	sl_tcfg_apply(&cfg, (unsigned)idx("segment.ms"), "60000");
	sl_tcfg_apply(&cfg, (unsigned)idx("cleanup.policy"), "compact,delete");
	sl_tcfg_apply(&cfg, (unsigned)idx("max.message.bytes"), "2000000");
	sl_tcfg_apply(&cfg, (unsigned)idx("flush.messages"), "1");
	sl_tcfg_apply(&cfg, (unsigned)idx("flush.ms"), "5");
	sl_tcfg_apply(&cfg, (unsigned)idx("delete.retention.ms"), "7");
	sl_tcfg_apply(&cfg, (unsigned)idx("min.compaction.lag.ms"), "8");
	sl_tcfg_apply(&cfg, (unsigned)idx("index.interval.bytes"), "9");
	sl_tcfg_apply(&cfg, (unsigned)idx("segment.index.bytes"), "10");
	sl_tcfg_apply(&cfg, (unsigned)idx("compression.type"), "zstd"); /* no storage field */
	assert_int_equal(cfg.retention_ms, 1000);
	assert_int_equal(cfg.retention_bytes, -1);
	assert_int_equal(cfg.segment_bytes, 1048576);
	assert_int_equal(cfg.segment_ms, 60000);
	assert_int_equal(cfg.cleanup_policy, SL_CLEANUP_COMPACT | SL_CLEANUP_DELETE);
	assert_int_equal(cfg.max_message_bytes, 2000000);
	assert_int_equal(cfg.flush_messages, 1);
	assert_int_equal(cfg.flush_ms, 5);
	assert_int_equal(cfg.delete_retention_ms, 7);
	assert_int_equal(cfg.min_compaction_lag_ms, 8);
	assert_int_equal(cfg.index_interval_bytes, 9);
	assert_int_equal(cfg.segment_index_bytes, 10);
}

static const char *
fake_broker(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "compression.type") == 0 ? "lz4" : NULL;
}

static void
test_tcfg_default_value_from_storage_then_broker_then_kafka(void **state)
{
	struct sl_plog_cfg cfg;
	char buf[32];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.retention_ms = 3600000;
	cfg.cleanup_policy = SL_CLEANUP_COMPACT;
	assert_string_equal(sl_tcfg_default_value((unsigned)idx("retention.ms"), &cfg, fake_broker,
	                                          NULL, buf, sizeof(buf)),
	                    "3600000");
	assert_string_equal(sl_tcfg_default_value((unsigned)idx("cleanup.policy"), &cfg,
	                                          fake_broker, NULL, buf, sizeof(buf)),
	                    "compact");
	assert_string_equal(sl_tcfg_default_value((unsigned)idx("compression.type"), &cfg,
	                                          fake_broker, NULL, buf, sizeof(buf)),
	                    "lz4");
	assert_string_equal(sl_tcfg_default_value((unsigned)idx("min.insync.replicas"), &cfg,
	                                          fake_broker, NULL, buf, sizeof(buf)),
	                    "1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tcfg_find_kafka_names_known_others_not),
	        cmocka_unit_test(test_tcfg_validate_numbers_ranges_enforced),
	        cmocka_unit_test(test_tcfg_validate_strings_lists_bools),
	        cmocka_unit_test(test_tcfg_apply_sets_storage_fields),
	        cmocka_unit_test(test_tcfg_default_value_from_storage_then_broker_then_kafka),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
