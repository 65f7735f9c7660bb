#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Admin APIs through real clients: kafka-python's KafkaAdminClient and kafkajs' admin create a
topic with configs, describe its configs, add partitions, and delete it; each step is checked
through metadata (another client) and by producing/consuming on the result."""
import time

import harness
from harness import (ERR_INVALID_PARTITIONS, ERR_TOPIC_ALREADY_EXISTS, TestFailure, check,
                     check_eq, compare, counts, log, make_records, test)
from clients import ck_consume, ck_produce, kcat_metadata, kjs_admin, kp_admin, need_kp


def partitions_of(bs, topic):
    md = kcat_metadata(bs)  # all topics: asking for one could auto-create it
    for t in md.get('topics') or []:
        if t['topic'] == topic and not t.get('error'):
            return len(t['partitions'])
    return 0


def topic_listed(bs, topic):
    return any(t['topic'] == topic and not t.get('error')
               for t in kcat_metadata(bs).get('topics') or [])


def wait_for(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise TestFailure('timed out waiting for %s' % what)


def roundtrip(bs, topic, parts, seed):
    recs = make_records(20 * parts, parts, seed=seed, tag=topic)
    ck_produce(bs, topic, recs)
    compare(recs, ck_consume(bs, {topic: counts(recs)}), 'round trip on %s' % topic)


@test
def kafka_python_admin_creates_describes_grows_and_deletes_a_topic(ctx):
    ctx.need_sluiced('admin APIs (the mock has none)')
    need_kp()
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
    import kafka.errors as Errors
    b = ctx.broker()
    adm = kp_admin(b.bootstrap)
    topic = 'kp-admin'
    try:
        adm.create_topics([NewTopic(topic, 2, 1, topic_configs={
            'retention.ms': '3600000', 'cleanup.policy': 'delete',
            'max.message.bytes': '500000'})], timeout_ms=10000)
        wait_for(lambda: partitions_of(b.bootstrap, topic) == 2, '2 partitions in metadata')
        # creating it again is TOPIC_ALREADY_EXISTS
        try:
            adm.create_topics([NewTopic(topic, 2, 1)], timeout_ms=10000)
            raise TestFailure('second CreateTopics of %s succeeded' % topic)
        except Errors.TopicAlreadyExistsError:
            log('second create: TopicAlreadyExistsError (%d)' % ERR_TOPIC_ALREADY_EXISTS)
        # describe configs: the overrides, and a default
        resp = adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        res = resp[0].resources[0]
        check_eq(res[0], 0, 'DescribeConfigs error code')
        cfg = {e[0]: e for e in res[4]}
        log('configs: %s' % {k: v[1] for k, v in cfg.items()})
        check_eq(cfg['retention.ms'][1], '3600000', 'retention.ms')
        check_eq(cfg['cleanup.policy'][1], 'delete', 'cleanup.policy')
        check_eq(cfg['max.message.bytes'][1], '500000', 'max.message.bytes')
        check('segment.bytes' in cfg, 'segment.bytes (a default) not described')
        # grow to 4 partitions; shrinking is INVALID_PARTITIONS
        adm.create_partitions({topic: NewPartitions(4)})
        wait_for(lambda: partitions_of(b.bootstrap, topic) == 4, '4 partitions in metadata')
        try:
            adm.create_partitions({topic: NewPartitions(3)})
            raise TestFailure('shrinking %s to 3 partitions succeeded' % topic)
        except Errors.InvalidPartitionsError:
            log('shrink: InvalidPartitionsError (%d)' % ERR_INVALID_PARTITIONS)
        roundtrip(b.bootstrap, topic, 4, seed=41)
        # delete
        adm.delete_topics([topic], timeout_ms=10000)
        wait_for(lambda: not topic_listed(b.bootstrap, topic), 'topic gone from metadata')
        # and a topic of the same name can be created afresh, empty
        adm.create_topics([NewTopic(topic, 1, 1)], timeout_ms=10000)
        wait_for(lambda: partitions_of(b.bootstrap, topic) == 1, 'recreated topic')
        roundtrip(b.bootstrap, topic, 1, seed=42)
    finally:
        adm.close()


@test
def kafkajs_admin_creates_describes_grows_and_deletes_a_topic(ctx):
    ctx.need_sluiced('admin APIs (the mock has none)')
    b = ctx.broker()
    topic = 'kjs-admin'
    out = kjs_admin(b.bootstrap, [
        {'op': 'createTopic', 'topic': topic, 'partitions': 3,
         'configs': {'retention.ms': '7200000', 'segment.bytes': '10485760'}},
        {'op': 'describeTopicConfigs', 'topic': topic},
        {'op': 'metadata', 'topic': topic},
        {'op': 'createPartitions', 'topic': topic, 'count': 5},
        {'op': 'metadata', 'topic': topic},
        {'op': 'listTopics'},
    ])
    log('kafkajs admin: %s' % out)
    check_eq(out[0]['result'], True, 'kafkajs createTopics result (true = created)')
    cfg = out[1]['result']
    check_eq(cfg['retention.ms']['value'], '7200000', 'retention.ms')
    check_eq(cfg['segment.bytes']['value'], '10485760', 'segment.bytes')
    check_eq(cfg['retention.ms']['isDefault'], False, 'retention.ms isDefault')
    check_eq(out[2]['result']['partitions'], 3, 'partitions after create')
    check_eq(out[4]['result']['partitions'], 5, 'partitions after createPartitions')
    check(topic in out[5]['result'], 'listTopics lacks %s' % topic)
    check_eq(partitions_of(b.bootstrap, topic), 5, 'partitions seen by kcat')
    roundtrip(b.bootstrap, topic, 5, seed=43)
    # kafkajs reports an existing topic as false (not created), not as an error
    again = kjs_admin(b.bootstrap, [{'op': 'createTopic', 'topic': topic, 'partitions': 1}])
    check_eq(again[0]['result'], False, 'kafkajs createTopics on an existing topic')
    out = kjs_admin(b.bootstrap, [{'op': 'deleteTopic', 'topic': topic}, {'op': 'listTopics'}])
    check(topic not in out[1]['result'], 'kafkajs listTopics still has %s after delete' % topic)
    wait_for(lambda: not topic_listed(b.bootstrap, topic), 'topic gone from metadata')


if __name__ == '__main__':
    harness.main(globals())
