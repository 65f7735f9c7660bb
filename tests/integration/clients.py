# SPDX-License-Identifier: Apache-2.0
"""Drivers for the real Kafka clients the integration tests use. Every client produces from and
consumes into the same record dicts (see harness.make_records), so any producer can be checked
against any consumer:

  kcat      (librdkafka 2.0.2, subprocess; produce with -K/-H from a file, consume with -J)
  ck        python3-confluent-kafka 1.7.0 (librdkafka), in process
  kp        python3-kafka 2.0.2 (kafka-python, its own protocol code), in process
  kjs       kafkajs 2.2.4 (node, tests/integration/js/client.js), subprocess

Each consumer reads from offset 0 of the partitions it is told about until it has the expected
count per partition or the timeout passes, without a consumer group (kafkajs: its cluster/broker
layer); ck_consume/kjs_consume with group=True use the client's group consumer instead.
"""
import json
import os
import shutil
import sys
import tempfile
import time
import uuid

from harness import (JS_DIR, TestFailure, check, from_json, log, missing, run_cmd, to_json)

# What each client can produce / consume. kafkajs: gzip built in, snappy via kafkajs-snappy,
# lz4 via lz4js (frame format), zstd decompression only via fzstd.
PRODUCE_CODECS = {
    'kcat': ('none', 'gzip', 'snappy', 'lz4', 'zstd'),
    'ck': ('none', 'gzip', 'snappy', 'lz4', 'zstd'),
    'kp': ('none', 'gzip', 'snappy', 'lz4', 'zstd'),
    'kjs': ('none', 'gzip', 'snappy', 'lz4'),
}
CONSUME_CODECS = {
    'kcat': ('none', 'gzip', 'snappy', 'lz4', 'zstd'),
    'ck': ('none', 'gzip', 'snappy', 'lz4', 'zstd'),
    'kp': ('none', 'gzip', 'snappy', 'lz4', 'zstd'),
    'kjs': ('none', 'gzip', 'snappy', 'lz4', 'zstd'),
}

MAX_MSG = 1048588  # Kafka's default message.max.bytes


def uniq(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


# ---------------------------------------------------------------------------------------------
# Availability: a missing client fails loudly.
# ---------------------------------------------------------------------------------------------

def need_kcat():
    if not shutil.which('kcat'):
        missing('kcat', 'apt-get install kcat, or scripts/deps.sh test')
    return shutil.which('kcat')


def need_ck():
    try:
        import confluent_kafka
    except ImportError:
        missing('python3-confluent-kafka', 'apt-get install python3-confluent-kafka; run with '
                '/usr/bin/python3')
    return confluent_kafka


def need_kp(codec='none'):
    try:
        import kafka
    except ImportError:
        missing('python3-kafka', 'apt-get install python3-kafka; run with /usr/bin/python3')
    mods = {'snappy': ('snappy', 'python3-snappy'), 'lz4': ('lz4.frame', 'python3-lz4'),
            'zstd': ('zstandard', 'python3-zstandard')}
    if codec in mods:
        try:
            __import__(mods[codec][0])
        except ImportError:
            missing(mods[codec][1], 'kafka-python needs it for %s; scripts/deps.sh test' % codec)
    return kafka


def need_kp_all_codecs():
    for c in ('snappy', 'lz4', 'zstd'):
        need_kp(c)


def need_node():
    node = shutil.which('node')
    if not node:
        missing('node', 'apt-get install nodejs npm, or scripts/deps.sh test')
    if not os.path.isdir(os.path.join(JS_DIR, 'node_modules', 'kafkajs')):
        missing('kafkajs', 'run scripts/deps.sh test (npm ci in tests/integration/js)')
    return node


# ---------------------------------------------------------------------------------------------
# kcat
# ---------------------------------------------------------------------------------------------

def kcat_metadata(bs, topic=None):
    argv = [need_kcat(), '-b', bs, '-L', '-J', '-m', '10']
    if topic:
        argv += ['-t', topic]
    p = run_cmd(argv, timeout=30)
    return json.loads(p.stdout)


def kcat_produce(bs, topic, records, codec='none', tmpdir=None, extra=()):
    """One kcat -P run per partition: keys with -K (tab), headers with -H (the same headers on
    every record of a partition: build records with headers='per_partition'), from a file (-l).
    A record with key None is written without a key delimiter (kcat then sends a null key)."""
    kcat = need_kcat()
    parts = {}
    for r in records:
        parts.setdefault(r['p'], []).append(r)
    tmpdir = tmpdir or tempfile.gettempdir()
    for p, rs in sorted(parts.items()):
        hdrs = rs[0]['h']
        check(all(r['h'] == hdrs for r in rs), 'kcat_produce: headers differ within partition')
        path = os.path.join(tmpdir, 'kcat-%s-%d.txt' % (topic, p))
        with open(path, 'wb') as f:
            for r in rs:
                v = r['v']
                check(b'\n' not in v and b'\t' not in v and (r['k'] is None or
                      b'\t' not in r['k']), 'kcat_produce: delimiter in data')
                check(r['k'] is not None or v, 'kcat_produce: null key with empty value')
                if r['k'] is None:
                    f.write(v + b'\n')
                else:
                    f.write(r['k'] + b'\t' + v + b'\n')
        argv = [kcat, '-b', bs, '-P', '-t', topic, '-p', str(p), '-K', '\t', '-z', codec,
                '-X', 'message.max.bytes=%d' % MAX_MSG, '-X', 'acks=all', '-l', path]
        for hk, hv in hdrs:
            argv += ['-H', '%s=%s' % (hk, hv.decode())]
        argv += list(extra)
        p_ = run_cmd(argv, timeout=60)
        err = p_.stderr.decode(errors='replace')
        if 'ERROR' in err or 'Failed' in err:
            sys.stderr.write(err[-3000:])
            raise TestFailure('kcat -P reported errors for %s [%d]' % (topic, p))
    log('kcat produced %d records to %s (%s)' % (len(records), topic, codec))


def kcat_consume(bs, topic, want_counts, timeout=30):
    """kcat -C -J per partition from the beginning until count (-c) or end of partition (-e)."""
    kcat = need_kcat()
    out = []
    for p, n in sorted(want_counts.items()):
        argv = [kcat, '-b', bs, '-C', '-t', topic, '-p', str(p), '-o', 'beginning', '-e', '-q',
                '-J', '-X', 'fetch.message.max.bytes=%d' % (MAX_MSG + 1000)]
        if n:
            argv += ['-c', str(n)]
        res = run_cmd(argv, timeout=timeout)
        for line in res.stdout.decode().splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            hl = d.get('headers') or []
            out.append({'t': d['topic'], 'p': d['partition'], 'o': d['offset'],
                        'k': None if d['key'] is None else d['key'].encode(),
                        'v': None if d['payload'] is None else d['payload'].encode(),
                        'h': [(hl[i], None if hl[i + 1] is None else hl[i + 1].encode())
                              for i in range(0, len(hl), 2)]})
    return out


# ---------------------------------------------------------------------------------------------
# confluent-kafka (librdkafka)
# ---------------------------------------------------------------------------------------------

def ck_producer(bs, codec='none', conf=None):
    ck = need_ck()
    c = {'bootstrap.servers': bs, 'compression.type': codec, 'acks': 'all', 'linger.ms': 5,
         'message.max.bytes': MAX_MSG, 'enable.idempotence': False}
    c.update(conf or {})
    return ck.Producer(c)


def ck_produce(bs, topic, records, codec='none', conf=None, timeout=60):
    """Produces records to their partitions; returns [(partition, offset)] in record order.
    Fails when any delivery report carries an error."""
    prod = ck_producer(bs, codec, conf)
    acks = [None] * len(records)
    errs = []

    def cb(i):
        def f(err, msg):
            if err is not None:
                errs.append((i, err))
            else:
                acks[i] = (msg.partition(), msg.offset())
        return f

    for i, r in enumerate(records):
        while True:
            try:
                prod.produce(topic, value=r['v'], key=r['k'], partition=r['p'],
                             headers=list(r['h']) or None, on_delivery=cb(i))
                break
            except BufferError:
                prod.poll(0.05)
        prod.poll(0)
    left = prod.flush(timeout)
    if errs:
        raise TestFailure('confluent-kafka delivery errors (%d), first: record %d: %s' %
                          (len(errs), errs[0][0], errs[0][1]))
    check(left == 0, 'confluent-kafka: %d records not delivered within %ds' % (left, timeout))
    log('confluent-kafka produced %d records to %s (%s)' % (len(records), topic, codec))
    return acks


def _ck_msg(m):
    return {'t': m.topic(), 'p': m.partition(), 'o': m.offset(), 'k': m.key(), 'v': m.value(),
            'h': list(m.headers() or [])}


def ck_consume(bs, topics, timeout=30, conf=None, group=False):
    """topics: {topic: {partition: count}}. Returns the records (all topics)."""
    ck = need_ck()
    c = {'bootstrap.servers': bs, 'group.id': uniq('ck'), 'enable.auto.commit': False,
         'auto.offset.reset': 'earliest', 'fetch.message.max.bytes': MAX_MSG + 1000,
         'enable.partition.eof': False}
    c.update(conf or {})
    cons = ck.Consumer(c)
    want = {(t, p): n for t, ps in topics.items() for p, n in ps.items()}
    got = {k: 0 for k in want}
    out = []
    if group:
        cons.subscribe(list(topics))
    else:
        cons.assign([ck.TopicPartition(t, p, ck.OFFSET_BEGINNING) for t, p in want])
    deadline = time.monotonic() + timeout
    try:
        while any(got[k] < want[k] for k in want) and time.monotonic() < deadline:
            for m in cons.consume(1000, 0.2):
                if m.error():
                    log('confluent-kafka consumer: %s' % m.error())
                    continue
                key = (m.topic(), m.partition())
                if key in got:
                    got[key] += 1
                out.append(_ck_msg(m))
    finally:
        cons.close()
    log('confluent-kafka consumed %d records' % len(out))
    return out


# ---------------------------------------------------------------------------------------------
# kafka-python
# ---------------------------------------------------------------------------------------------

def kp_produce(bs, topic, records, codec='none', conf=None, timeout=60):
    kafka = need_kp(codec)
    c = dict(bootstrap_servers=bs, acks='all', linger_ms=5,
             compression_type=None if codec == 'none' else codec,
             max_request_size=MAX_MSG, request_timeout_ms=30000)
    c.update(conf or {})
    prod = kafka.KafkaProducer(**c)
    futs = []
    try:
        for r in records:
            futs.append(prod.send(topic, value=r['v'], key=r['k'], partition=r['p'],
                                  headers=list(r['h'])))
        prod.flush(timeout)
        acks = []
        for i, f in enumerate(futs):
            try:
                md = f.get(timeout=timeout)
            except Exception as e:
                raise TestFailure('kafka-python: record %d not acknowledged: %r' % (i, e))
            acks.append((md.partition, md.offset))
    finally:
        prod.close(10)
    log('kafka-python produced %d records to %s (%s)' % (len(records), topic, codec))
    return acks


def kp_consume(bs, topics, timeout=30, conf=None):
    kafka = need_kp()
    from kafka import TopicPartition
    c = dict(bootstrap_servers=bs, group_id=None, enable_auto_commit=False,
             auto_offset_reset='earliest', max_partition_fetch_bytes=MAX_MSG + 1000,
             fetch_max_bytes=8 * MAX_MSG)
    c.update(conf or {})
    cons = kafka.KafkaConsumer(**c)
    want = {(t, p): n for t, ps in topics.items() for p, n in ps.items()}
    got = {k: 0 for k in want}
    out = []
    try:
        tps = [TopicPartition(t, p) for t, p in want]
        cons.assign(tps)
        cons.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while any(got[k] < want[k] for k in want) and time.monotonic() < deadline:
            for tp, msgs in cons.poll(timeout_ms=200, max_records=2000).items():
                for m in msgs:
                    got[(tp.topic, tp.partition)] += 1
                    out.append({'t': m.topic, 'p': m.partition, 'o': m.offset, 'k': m.key,
                                'v': m.value, 'h': list(m.headers or [])})
    finally:
        cons.close()
    log('kafka-python consumed %d records' % len(out))
    return out


def kp_admin(bs):
    need_kp()
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000, client_id=uniq('kpa'))


# ---------------------------------------------------------------------------------------------
# kafkajs (node)
# ---------------------------------------------------------------------------------------------

def kjs(cmd, spec, timeout=90):
    """Runs js/client.js CMD with a JSON spec; returns the parsed JSON lines it printed."""
    node = need_node()
    fd, path = tempfile.mkstemp(prefix='kjs-', suffix='.json')
    outp = path + '.out'
    with os.fdopen(fd, 'w') as f:
        json.dump(dict(spec, out=outp), f)
    try:
        res = run_cmd([node, os.path.join(JS_DIR, 'client.js'), cmd, path], timeout=timeout,
                      check_rc=False)
        err = res.stderr.decode(errors='replace')
        if res.returncode != 0:
            sys.stderr.write(err[-4000:])
            raise TestFailure('kafkajs %s exited %d' % (cmd, res.returncode))
        with open(outp) as f:
            return [json.loads(l) for l in f if l.startswith('{')]
    finally:
        os.unlink(path)
        if os.path.exists(outp):
            os.unlink(outp)


def kjs_produce(bs, topic, records, codec='none', acks=-1):
    out = kjs('produce', {'brokers': [bs], 'topic': topic, 'codec': codec, 'acks': acks,
                          'records': [to_json(r) for r in records]})
    check(out and out[-1].get('acked') == len(records),
          'kafkajs acknowledged %r of %d records' % (out[-1] if out else None, len(records)))
    log('kafkajs produced %d records to %s (%s)' % (len(records), topic, codec))
    return out[-1]


def kjs_consume(bs, topics, timeout=30, group=False):
    spec = {'brokers': [bs], 'timeout_ms': int(timeout * 1000), 'group': group,
            'topics': [{'topic': t, 'partitions': {str(p): n for p, n in ps.items()}}
                       for t, ps in topics.items()]}
    out = kjs('consume', spec, timeout=timeout + 30)
    recs = [from_json(d) for d in out if 'p' in d]
    log('kafkajs consumed %d records' % len(recs))
    return recs


def kjs_admin(bs, ops):
    return kjs('admin', {'brokers': [bs], 'ops': ops})


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

def create_topics(bs, topics, configs=None):
    """topics {name: partitions}; created through confluent-kafka's AdminClient (CreateTopics)."""
    need_ck()
    from confluent_kafka.admin import AdminClient, NewTopic
    adm = AdminClient({'bootstrap.servers': bs})
    fs = adm.create_topics([NewTopic(t, n, 1, config=(configs or {}).get(t, {}))
                            for t, n in topics.items()], operation_timeout=15, request_timeout=20)
    for t, f in fs.items():
        try:
            f.result(30)
        except Exception as e:
            raise TestFailure('CreateTopics %s: %s' % (t, e))
    log('created topics %s' % topics)


PRODUCERS = {'kcat': kcat_produce, 'ck': ck_produce, 'kp': kp_produce, 'kjs': kjs_produce}
NAMES = {'kcat': 'kcat', 'ck': 'confluent-kafka', 'kp': 'kafka-python', 'kjs': 'kafkajs'}


def consume_with(client, bs, topics, timeout=45):
    """Any client, topics {topic: {partition: count}} -> records."""
    if client == 'kcat':
        out = []
        for t, ps in topics.items():
            out += kcat_consume(bs, t, ps, timeout=timeout)
        return out
    if client == 'ck':
        return ck_consume(bs, topics, timeout=timeout)
    if client == 'kp':
        return kp_consume(bs, topics, timeout=timeout)
    if client == 'kjs':
        return kjs_consume(bs, topics, timeout=timeout)
    raise ValueError(client)
