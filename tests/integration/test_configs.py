#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Topic configs on live logs, DeleteRecords, DescribeCluster, and metadata across restarts.

AlterConfigs goes through kafka-python's KafkaAdminClient; IncrementalAlterConfigs,
DeleteRecords and DescribeCluster through raw requests encoded here (the Debian clients have no
call for them), so the exact error codes can be checked. Log start offsets are read with
confluent-kafka's get_watermark_offsets (ListOffsets)."""
import glob
import os
import socket
import struct
import time

import harness
from harness import TestFailure, check, check_eq, log, test
from clients import ck_produce, create_topics, kp_admin, need_ck, need_kp

ERR_NONE = 0
ERR_OFFSET_OUT_OF_RANGE = 1
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_INVALID_CONFIG = 40

# ---- raw requests ------------------------------------------------------------------------


def _str(s):
    b = s.encode()
    return struct.pack('>h', len(b)) + b


def _cstr(s):  # compact string
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def _uvarint(n):
    out = b''
    while n >= 0x80:
        out += bytes([(n & 0x7f) | 0x80])
        n >>= 7
    return out + bytes([n])


class Rd:
    def __init__(self, b):
        self.b, self.i = b, 0

    def take(self, n):
        check(self.i + n <= len(self.b), 'short response')
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def i8(self):
        return struct.unpack('>b', self.take(1))[0]

    def i16(self):
        return struct.unpack('>h', self.take(2))[0]

    def i32(self):
        return struct.unpack('>i', self.take(4))[0]

    def i64(self):
        return struct.unpack('>q', self.take(8))[0]

    def uvarint(self):
        n = shift = 0
        while True:
            c = self.take(1)[0]
            n |= (c & 0x7f) << shift
            shift += 7
            if not c & 0x80:
                return n

    def str(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def cstr(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def raw_call(b, api_key, version, body, flexible=False, corr=7):
    """Sends one request (header v1, or v2 when flexible) and returns a reader positioned
    after the response header."""
    hdr = struct.pack('>hhi', api_key, version, corr) + _str('sluice-it-h3')
    if flexible:
        hdr += b'\x00'
    frame = hdr + body
    with socket.create_connection((b.host, b.port), timeout=15) as s:
        s.sendall(struct.pack('>i', len(frame)) + frame)
        buf = b''
        while len(buf) < 4 or len(buf) < 4 + struct.unpack('>i', buf[:4])[0]:
            d = s.recv(65536)
            if not d:
                raise TestFailure('connection closed answering api %d v%d' % (api_key, version))
            buf += d
    rd = Rd(buf[4:])
    check_eq(rd.i32(), corr, 'correlation id')
    if flexible:
        rd.tags()
    return rd


def incremental_alter(b, topic, ops, validate_only=False):
    """ops [(name, op, value)]: op 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT. IncrementalAlterConfigs
    v0; returns (error_code, error_message)."""
    body = struct.pack('>i', 1) + struct.pack('>b', 2) + _str(topic) + struct.pack('>i', len(ops))
    for name, op, value in ops:
        body += _str(name) + struct.pack('>b', op)
        body += struct.pack('>h', -1) if value is None else _str(value)
    body += struct.pack('>?', validate_only)
    rd = raw_call(b, 44, 0, body)
    rd.i32()  # throttle
    check_eq(rd.i32(), 1, 'IncrementalAlterConfigs resources')
    err, msg = rd.i16(), rd.str()
    check_eq(rd.i8(), 2, 'resource type')
    check_eq(rd.str(), topic, 'resource name')
    return err, msg


def delete_records(b, topic, parts):
    """parts {partition: offset}; DeleteRecords v1; returns {partition: (error, low_watermark)}."""
    body = struct.pack('>i', 1) + _str(topic) + struct.pack('>i', len(parts))
    for p, o in parts.items():
        body += struct.pack('>iq', p, o)
    body += struct.pack('>i', 15000)
    rd = raw_call(b, 21, 1, body)
    rd.i32()
    check_eq(rd.i32(), 1, 'DeleteRecords topics')
    check_eq(rd.str(), topic, 'DeleteRecords topic name')
    out = {}
    for _ in range(rd.i32()):
        p, low, err = rd.i32(), rd.i64(), rd.i16()
        out[p] = (err, low)
    return out


def watermarks(bs, topic, p):
    ck = need_ck()
    c = ck.Consumer({'bootstrap.servers': bs, 'group.id': 'sluice-it-wm',
                     'enable.auto.commit': False})
    try:
        return c.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10, cached=False)
    finally:
        c.close()


def consume_all(bs, topic, p):
    """Every record of partition p from the log start to the high watermark."""
    ck = need_ck()
    low, high = watermarks(bs, topic, p)
    c = ck.Consumer({'bootstrap.servers': bs, 'group.id': 'sluice-it-all',
                     'enable.auto.commit': False, 'auto.offset.reset': 'earliest'})
    out = []
    try:
        c.assign([ck.TopicPartition(topic, p, low)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append((m.offset(), m.key(), m.value()))
            if m.offset() >= high - 1:
                break
        else:
            raise TestFailure('consuming %s-%d: did not reach %d' % (topic, p, high))
    finally:
        c.close()
    return out


def wait_for(pred, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise TestFailure('timed out waiting for %s' % what)


def segments(b, topic, p):
    return sorted(glob.glob(os.path.join(b.data_dir, '%s-%d' % (topic, p), '*.log')))


def describe_topic_configs(bs, topic):
    from kafka.admin import ConfigResource, ConfigResourceType
    adm = kp_admin(bs)
    try:
        res = adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        adm.close()
    out = {}
    for r in res:
        for (_err, _msg, _rt, _name, entries) in r.resources:
            for e in entries:
                out[e[0]] = e[1]
    return out


def kp_alter(bs, topic, configs):
    """AlterConfigs through kafka-python (the whole override set); returns the error code."""
    from kafka.admin import ConfigResource, ConfigResourceType
    adm = kp_admin(bs)
    try:
        r = adm.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                              configs=configs)])
    finally:
        adm.close()
    return r.resources[0][0]


def produce_values(bs, topic, n, size=100, keys=None):
    recs = [{'p': 0, 'k': (b'k%d' % (i % keys)) if keys else None,
             'v': (b'%06d-' % i) + b'x' * size, 'h': []} for i in range(n)]
    # small batches, so small segments roll between them
    ck_produce(bs, topic, recs, conf={'batch.num.messages': 5})
    return recs


# ---- tests -------------------------------------------------------------------------------


@test
def lowering_retention_ms_on_a_live_topic_deletes_its_old_segments(ctx):
    ctx.need_sluiced('AlterConfigs on live logs')
    need_kp()
    b = ctx.broker(overrides={'log.retention.check.interval.ms': '200'})
    topic = 'retained'
    create_topics(b.bootstrap, {topic: 1}, {topic: {'segment.bytes': '2048'}})
    produce_values(b.bootstrap, topic, 300)
    check(len(segments(b, topic, 0)) > 3, 'small segments rolled: %s' % segments(b, topic, 0))
    time.sleep(1.0)  # several retention checks with the default 7 days: nothing goes
    check_eq(watermarks(b.bootstrap, topic, 0), (0, 300), 'watermarks before the change')
    # validation: a bad value and an unknown topic change nothing
    check_eq(kp_alter(b.bootstrap, topic, {'retention.ms': 'soon'}), ERR_INVALID_CONFIG,
             'AlterConfigs with a bad value')
    check_eq(kp_alter(b.bootstrap, 'no-such-topic', {'retention.ms': '1'}),
             ERR_UNKNOWN_TOPIC_OR_PARTITION, 'AlterConfigs of an unknown topic')
    err, _ = incremental_alter(b, topic, [('retention.ms', 0, '1')], validate_only=True)
    check_eq(err, ERR_NONE, 'validate_only IncrementalAlterConfigs')
    err, msg = incremental_alter(b, topic, [('retention.ms', 2, '1')])
    check_eq(err, ERR_INVALID_CONFIG, 'APPEND to a non-list config (%s)' % msg)
    time.sleep(1.0)
    check_eq(watermarks(b.bootstrap, topic, 0)[0], 0, 'log start after validate_only')
    check_eq(describe_topic_configs(b.bootstrap, topic).get('retention.ms'), '604800000',
             'retention.ms after rejected changes')
    # the real change (AlterConfigs replaces the override set: keep segment.bytes)
    check_eq(kp_alter(b.bootstrap, topic, {'retention.ms': '1', 'segment.bytes': '2048'}),
             ERR_NONE, 'AlterConfigs retention.ms=1')
    wait_for(lambda: watermarks(b.bootstrap, topic, 0)[0] > 0, 'retention to delete segments')
    low, high = watermarks(b.bootstrap, topic, 0)
    check_eq(high, 300, 'high watermark after retention')
    check(len(segments(b, topic, 0)) == 1, 'only the active segment is left: %s' %
          segments(b, topic, 0))
    got = consume_all(b.bootstrap, topic, 0)
    check_eq(got[0][0], low, 'first offset consumed')
    check_eq(len(got), high - low, 'records left')
    check_eq(describe_topic_configs(b.bootstrap, topic).get('retention.ms'), '1',
             'retention.ms described')
    log('retention moved the log start to %d of %d' % (low, high))


@test
def setting_cleanup_policy_compact_keeps_only_the_latest_record_per_key(ctx):
    ctx.need_sluiced('compaction')
    need_kp()
    b = ctx.broker(overrides={'log.cleaner.backoff.ms': '300'})
    topic = 'compacted'
    create_topics(b.bootstrap, {topic: 1}, {topic: {'segment.bytes': '4096'}})
    recs = produce_values(b.bootstrap, topic, 400, size=60, keys=10)
    n0 = len(consume_all(b.bootstrap, topic, 0))
    check_eq(n0, 400, 'records before compaction')
    err, msg = incremental_alter(b, topic, [('cleanup.policy', 0, 'compact')])
    check_eq(err, ERR_NONE, 'IncrementalAlterConfigs cleanup.policy=compact (%s)' % msg)
    check_eq(describe_topic_configs(b.bootstrap, topic).get('cleanup.policy'), 'compact',
             'cleanup.policy described')

    def active_base():
        return int(os.path.basename(segments(b, topic, 0)[-1]).split('.')[0])

    def keys_below_active():
        base = active_base()
        return [k for (o, k, v) in consume_all(b.bootstrap, topic, 0) if o < base]

    # Each pass (every log.cleaner.backoff.ms) takes the closed segments sealed so far; wait
    # until the passes covered them all.
    wait_for(lambda: len(set(keys_below_active())) == len(keys_below_active()),
             'compaction to leave one record per key in closed segments', timeout=30)
    got = consume_all(b.bootstrap, topic, 0)
    active = active_base()
    closed_keys = [k for (o, k, v) in got if o < active]
    check_eq(len(closed_keys), len(set(closed_keys)),
             'one record per key below the active segment (base %d)' % active)
    latest = {}
    for i, r in enumerate(recs):
        latest[r['k']] = (i, r['v'])
    have = {k: (o, v) for (o, k, v) in got}  # the last one read per key wins
    for k, (i, v) in latest.items():
        check_eq(have.get(k), (i, v), 'latest record of key %r' % k)
    check_eq(watermarks(b.bootstrap, topic, 0)[1], 400, 'high watermark after compaction')
    log('compaction left %d of 400 records (active segment base %d)' % (len(got), active))


@test
def topics_partition_counts_and_altered_configs_survive_a_restart(ctx):
    ctx.need_sluiced('restart on the same data directory')
    need_kp()
    from kafka.admin import NewPartitions
    b = ctx.broker()
    create_topics(b.bootstrap, {'meta-a': 2, 'meta-b': 1}, {'meta-b': {'segment.bytes': '100000'}})
    adm = kp_admin(b.bootstrap)
    try:
        adm.create_partitions({'meta-a': NewPartitions(5)})
    finally:
        adm.close()
    err, msg = incremental_alter(b, 'meta-a', [('retention.ms', 0, '123456'),
                                               ('cleanup.policy', 2, 'compact')])
    check_eq(err, ERR_NONE, 'IncrementalAlterConfigs (%s)' % msg)
    err, msg = incremental_alter(b, 'meta-b', [('segment.bytes', 1, None)])
    check_eq(err, ERR_NONE, 'IncrementalAlterConfigs DELETE (%s)' % msg)
    produce_values(b.bootstrap, 'meta-a', 10)
    for restart in (1, 2):
        b.stop()
        b.start()
        ca = describe_topic_configs(b.bootstrap, 'meta-a')
        cb = describe_topic_configs(b.bootstrap, 'meta-b')
        check_eq(ca.get('retention.ms'), '123456', 'meta-a retention.ms after restart %d' % restart)
        check_eq(ca.get('cleanup.policy'), 'delete,compact',
                 'meta-a cleanup.policy after restart %d' % restart)
        check_eq(cb.get('segment.bytes'), '1073741824',
                 'meta-b segment.bytes (deleted override) after restart %d' % restart)
        adm = kp_admin(b.bootstrap)
        try:
            md = {t['topic']: len(t['partitions']) for t in adm.describe_topics(['meta-a', 'meta-b'])}
        finally:
            adm.close()
        check_eq(md, {'meta-a': 5, 'meta-b': 1}, 'partition counts after restart %d' % restart)
        check_eq(watermarks(b.bootstrap, 'meta-a', 0)[1], 10, 'records after restart')


@test
def delete_records_moves_the_log_start_offset_and_rejects_offsets_past_the_end(ctx):
    ctx.need_sluiced('DeleteRecords')
    b = ctx.broker()
    topic = 'trimmed'
    create_topics(b.bootstrap, {topic: 2}, {topic: {'segment.bytes': '2048'}})
    produce_values(b.bootstrap, topic, 200)
    res = delete_records(b, topic, {0: 120, 1: 0, 7: 5})
    check_eq(res[0], (ERR_NONE, 120), 'partition 0 low watermark')
    check_eq(res[1], (ERR_NONE, 0), 'empty partition 1')
    check_eq(res[7][0], ERR_UNKNOWN_TOPIC_OR_PARTITION, 'unknown partition')
    check_eq(watermarks(b.bootstrap, topic, 0), (120, 200), 'watermarks after DeleteRecords')
    got = consume_all(b.bootstrap, topic, 0)
    check_eq(got[0][0], 120, 'first offset consumed')
    check_eq(len(got), 80, 'records left')
    res = delete_records(b, topic, {0: 201})
    check_eq(res[0][0], ERR_OFFSET_OUT_OF_RANGE, 'offset past the high watermark')
    res = delete_records(b, topic, {0: -1})
    check_eq(res[0], (ERR_NONE, 200), 'offset -1: up to the high watermark')
    res = delete_records(b, 'no-such-topic', {0: 1})
    check_eq(res[0][0], ERR_UNKNOWN_TOPIC_OR_PARTITION, 'unknown topic')
    b.stop()
    b.start()
    check_eq(watermarks(b.bootstrap, topic, 0), (200, 200), 'log start after restart')


@test
def describe_cluster_names_this_broker_as_controller(ctx):
    ctx.need_sluiced('DescribeCluster')
    b = ctx.broker()
    rd = raw_call(b, 60, 0, b'\x00\x00', flexible=True)  # no authorized operations; no tags
    rd.i32()
    check_eq(rd.i16(), 0, 'error code')
    rd.cstr()
    cluster_id = rd.cstr()
    check(cluster_id, 'a cluster id')
    check_eq(rd.i32(), 0, 'controller id')
    n = rd.uvarint() - 1
    check_eq(n, 1, 'brokers')
    bid, host, port, rack = rd.i32(), rd.cstr(), rd.i32(), rd.cstr()
    rd.tags()
    check_eq((bid, host, port, rack), (0, b.host, b.port, None), 'the broker')
    log('cluster %s' % cluster_id)


if __name__ == '__main__':
    harness.main(globals())
