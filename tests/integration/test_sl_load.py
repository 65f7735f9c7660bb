#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sl-load (bench/load/) itself, against sluiced: the two Kafka backends, librdkafka (`kafka`)
and our own client (`kafka-raw`, bench/load/kraw.c), each run open loop at a fixed rate for
about 2 s. What sl-load reports as acknowledged must be exactly what an independent consumer
(kafka-python) reads back: the same count, every sequence number once, every payload carrying
sl-load's header; the latency percentiles must be positive and ordered. kafka-raw's own Fetch
consumer (--mode consume) must read the same count back.

sl-load comes from $SL_LOAD (tests/integration/meson.build), else from the build directory
that holds --bin (BUILD/tools/sluiced/sluiced -> BUILD/bench/load/sl-load)."""
import os
import struct

import harness
from harness import check, check_eq, log, run_cmd, test
from clients import need_kp

RATE = 2000
SECS = 2.0
SIZE = 256
MAGIC = b'SLLD'
PCTS = ('p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us')


def sl_load_bin(ctx):
    p = os.environ.get('SL_LOAD')
    if not p:
        build = os.path.dirname(os.path.dirname(os.path.dirname(ctx.args.bin)))
        p = os.path.join(build, 'bench', 'load', 'sl-load')
    check(os.access(p, os.X_OK), 'sl-load not built at %s (ninja bench/load/sl-load)' % p)
    return p


def run_sl_load(ctx, bs, backend, topic, *extra, mode='produce'):
    argv = [sl_load_bin(ctx), '--backend', backend, '--addr', bs, '--topic', topic,
            '--mode', mode, '--size', str(SIZE), '--partitions', '1', '--timeout', '10']
    if mode == 'produce':
        argv += ['--rate', str(RATE), '--duration', str(SECS), '--acks', '1']
    argv += list(extra)
    res = run_cmd(argv, timeout=90)
    lines = [ln for ln in res.stdout.decode().splitlines() if ln.startswith('sl-load ')]
    check(len(lines) == 1, 'sl-load %s printed no summary line: %r / %r' %
          (backend, res.stdout[-500:], res.stderr[-1500:]))
    log('%s: %s' % (backend, lines[0]))
    kv = dict(f.split('=', 1) for f in lines[0].split()[1:])
    return kv


def read_back(bs, topic):
    """Every record of partition 0, from the beginning to the end offset, by kafka-python."""
    kafka = need_kp()
    from kafka import TopicPartition
    tp = TopicPartition(topic, 0)
    cons = kafka.KafkaConsumer(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
                               auto_offset_reset='earliest')
    vals = []
    try:
        cons.assign([tp])
        cons.seek_to_beginning(tp)
        end = cons.end_offsets([tp])[tp]
        log('%s: end offset %d' % (topic, end))
        idle = 0
        while cons.position(tp) < end and idle < 50:
            got = cons.poll(timeout_ms=200, max_records=5000)
            idle = 0 if got else idle + 1
            for msgs in got.values():
                vals.extend(m.value for m in msgs)
    finally:
        cons.close()
    return end, vals


def check_run(ctx, bs, backend, topic, *extra):
    kv = run_sl_load(ctx, bs, backend, topic, *extra)
    acked = int(kv['records'])
    sent = int(kv['sent'])
    check(acked > 0, '%s: no record acknowledged' % backend)
    # ~RATE * SECS records were due; a generous bound that still catches a broken schedule
    check(RATE * SECS * 0.5 <= sent <= RATE * SECS * 1.1,
          '%s: sent %d records at %d/s for %.0f s' % (backend, sent, RATE, SECS))
    check_eq(int(kv['errors']), 0, '%s errors' % backend)
    check_eq(int(kv['unacked']), 0, '%s unacked' % backend)
    check_eq(acked, sent, '%s acknowledged vs sent' % backend)
    lat = [float(kv[p]) for p in PCTS]
    check(all(x > 0 for x in lat), '%s: latency not positive: %s' % (backend, lat))
    check(lat == sorted(lat), '%s: percentiles out of order: %s' % (backend, dict(zip(PCTS, lat))))

    end, vals = read_back(bs, topic)
    check_eq(len(vals), acked, '%s: records read back by kafka-python vs acknowledged' % backend)
    check_eq(end, acked, '%s: end offset vs acknowledged' % backend)
    seqs = []
    for v in vals:
        check(v is not None and len(v) == SIZE and v[:4] == MAGIC,
              '%s: a record read back is not sl-load\'s: %r' % (backend, (v or b'')[:32]))
        seqs.append(struct.unpack('>Q', v[8:16])[0])
    check_eq(sorted(seqs), list(range(acked)), '%s: sequence numbers read back' % backend)
    return kv


@test
def sl_load_kafka_and_kafka_raw_acknowledge_exactly_what_a_consumer_reads_back(ctx):
    ctx.need_sluiced('sl-load against the broker under test')
    b = ctx.broker()
    check_run(ctx, b.bootstrap, 'kafka', 'sll-rdk', '--linger-ms', '0')
    # one record per request, then the natural batching with 4 requests in flight
    kv = check_run(ctx, b.bootstrap, 'kafka-raw', 'sll-raw1', '--batch', '1', '--inflight', '8')
    check_eq(int(kv['requests']), int(kv['records']), 'kafka-raw --batch 1: requests')
    kv = check_run(ctx, b.bootstrap, 'kafka-raw', 'sll-rawb', '--batch', '64', '--inflight', '4')
    check(0 < int(kv['requests']) <= int(kv['records']), 'kafka-raw: requests %s for %s records'
          % (kv['requests'], kv['records']))
    # kafka-raw's Fetch v11 consumer reads the same records back
    c = run_sl_load(ctx, b.bootstrap, 'kafka-raw', 'sll-rawb', '--count', kv['records'],
                    mode='consume')
    check_eq(int(c['records']), int(kv['records']), 'kafka-raw consume: records')
    check_eq(int(c['errors']), 0, 'kafka-raw consume: records missing')


@test
def sl_load_kafka_raw_counts_a_partition_error_as_an_error_not_an_ack(ctx):
    # A record over message.max.bytes gets MESSAGE_TOO_LARGE for its partition: sl-load must
    # report it as an error and acknowledge nothing.
    ctx.need_sluiced('message.max.bytes')
    b = ctx.broker(overrides={'message.max.bytes': '4096'})
    argv = [sl_load_bin(ctx), '--backend', 'kafka-raw', '--addr', b.bootstrap, '--topic',
            'sll-big', '--size', '8192', '--rate', '50', '--duration', '1', '--batch', '1',
            '--timeout', '10']
    res = run_cmd(argv, timeout=60)
    lines = [ln for ln in res.stdout.decode().splitlines() if ln.startswith('sl-load ')]
    check(len(lines) == 1, 'no summary: %r' % res.stderr[-1500:])
    log(lines[0])
    kv = dict(f.split('=', 1) for f in lines[0].split()[1:])
    check(int(kv['sent']) > 0, 'nothing sent')
    check_eq(int(kv['records']), 0, 'records acknowledged despite MESSAGE_TOO_LARGE')
    check_eq(int(kv['errors']), int(kv['sent']), 'errors vs sent')


if __name__ == '__main__':
    harness.main(globals())
