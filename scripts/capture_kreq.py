#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Captures the Kafka request frames real clients send, as the seed corpus of the fuzz target
fuzz_kreq (tests/fuzz/corpus/kreq/): one file per frame, without the 4-byte size prefix (request
header + body), named api<KEY>-<Name>-v<VERSION>-<client>-<hash>.

Two modes:

  scripts/capture_kreq.py proxy --upstream HOST:PORT [--listen PORT] [--out DIR] [--tag TAG]
      A TCP proxy on 127.0.0.1: every client->broker frame is recorded. Responses go back
      unchanged except that the upstream's port in Metadata/FindCoordinator answers becomes the
      proxy's (so clients keep talking through it). Ctrl-C/SIGTERM writes the files.

  scripts/capture_kreq.py all [--build BUILD_DIR] [--out DIR]
      Starts BUILD_DIR/tests/support/mockbroker (librdkafka's mock cluster) behind the proxy and
      drives every client through it: kcat (metadata, produce with every codec, consume, group
      consume), kafka-python (producer, group consumer, admin), confluent-kafka (producer, group
      consumer, admin), kafkajs (producer, group consumer, admin). The mock has no admin APIs, so
      the proxy adds CreateTopics/DeleteTopics/CreatePartitions/DescribeConfigs to its
      ApiVersions answer: the clients then send those requests (captured) and the mock closes
      the connection (the clients' errors are expected and ignored).

Frames are deduplicated (correlation id ignored) and thinned to a few per (API, version,
client, produce codec), so the corpus stays commit-sized (< ~300 files, < 2 MB). Regenerating
replaces only files named api*-*; other files in DIR (fuzzer finds) stay.
Needs /usr/bin/python3 (Debian's python3-kafka, python3-confluent-kafka for `all`).
"""
import argparse
import asyncio
import collections
import hashlib
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, 'tests', 'fuzz', 'corpus', 'kreq')

API_NAMES = {
    0: 'Produce', 1: 'Fetch', 2: 'ListOffsets', 3: 'Metadata', 8: 'OffsetCommit',
    9: 'OffsetFetch', 10: 'FindCoordinator', 11: 'JoinGroup', 12: 'Heartbeat', 13: 'LeaveGroup',
    14: 'SyncGroup', 15: 'DescribeGroups', 16: 'ListGroups', 17: 'SaslHandshake',
    18: 'ApiVersions', 19: 'CreateTopics', 20: 'DeleteTopics', 21: 'DeleteRecords',
    22: 'InitProducerId', 23: 'OffsetForLeaderEpoch', 24: 'AddPartitionsToTxn',
    25: 'AddOffsetsToTxn', 26: 'EndTxn', 28: 'TxnOffsetCommit', 29: 'DescribeAcls',
    32: 'DescribeConfigs', 33: 'AlterConfigs', 36: 'SaslAuthenticate', 37: 'CreatePartitions',
    42: 'DeleteGroups', 44: 'IncrementalAlterConfigs', 47: 'OffsetDelete',
    60: 'DescribeCluster',
}
# Admin APIs the mock lacks; advertised by the proxy in `all` mode so clients send them.
EXTRA_APIS = {19: (0, 4), 20: (0, 3), 32: (0, 2), 37: (0, 1)}

PER_GROUP = 3          # frames kept per (api, version, client, codec)
MAX_FRAME = 64 * 1024  # larger frames are not kept (fuzzers want small inputs)
MAX_FILES = 300
MAX_BYTES = 2 * 1024 * 1024
CODEC_NAMES = {0: 'none', 1: 'gzip', 2: 'snappy', 3: 'lz4', 4: 'zstd'}


def log(*a):
    print('capture_kreq:', *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.tag = 'client'
        self.frames = collections.OrderedDict()  # normalized hash -> (tag, frame)
        self.lock = threading.Lock()
        self.seen = collections.Counter()

    def add(self, frame):
        if len(frame) < 8:
            return
        key, ver = struct.unpack('>hh', frame[:4])
        self.seen[(key, ver)] += 1
        norm = frame[:4] + b'\0\0\0\0' + frame[8:]  # ignore the correlation id
        h = hashlib.sha1(norm).hexdigest()
        with self.lock:
            if h not in self.frames:
                self.frames[h] = (self.tag, frame)


def produce_codec(frame):
    """Codec of the first batch of a Produce v3+ request (header v1), or None."""
    try:
        key, ver, _corr, cid_len = struct.unpack('>hhih', frame[:10])
        pos = 10 + max(cid_len, 0)
        tid_len = struct.unpack('>h', frame[pos:pos + 2])[0]
        pos += 2 + max(tid_len, 0) + 2 + 4           # transactional_id, acks, timeout
        pos += 4                                     # topics count
        tlen = struct.unpack('>h', frame[pos:pos + 2])[0]
        pos += 2 + tlen + 4 + 4 + 4                  # topic, partitions count, index, size
        attrs = struct.unpack('>h', frame[pos + 21:pos + 23])[0]
        return CODEC_NAMES.get(attrs & 7, 'codec%d' % (attrs & 7))
    except (struct.error, IndexError):
        return None


def select_frames(rec):
    groups = collections.OrderedDict()
    for h, (tag, frame) in rec.frames.items():
        if len(frame) > MAX_FRAME:
            continue
        key, ver = struct.unpack('>hh', frame[:4])
        codec = produce_codec(frame) if key == 0 and ver >= 3 else None
        groups.setdefault((key, ver, tag, codec), []).append((h, frame))
    chosen = []
    for g, frames in groups.items():
        frames.sort(key=lambda x: len(x[1]))
        if len(frames) > PER_GROUP:
            # smallest, largest, and evenly between
            idx = sorted({round(i * (len(frames) - 1) / (PER_GROUP - 1))
                          for i in range(PER_GROUP)})
            frames = [frames[i] for i in idx]
        for h, frame in frames:
            chosen.append((g, h, frame))
    # keep within the file and byte budget: drop the largest frames of the largest groups first
    while len(chosen) > MAX_FILES or sum(len(c[2]) for c in chosen) > MAX_BYTES:
        sizes = collections.Counter(c[0] for c in chosen)
        g = sizes.most_common(1)[0][0]
        victim = max((c for c in chosen if c[0] == g), key=lambda c: len(c[2]))
        chosen.remove(victim)
    return chosen


def write_corpus(rec, out):
    os.makedirs(out, exist_ok=True)
    mine = re.compile(r'^api\d\d-[A-Za-z]+-v\d+-')
    removed = 0
    for f in os.listdir(out):
        if mine.match(f):
            os.unlink(os.path.join(out, f))
            removed += 1
    chosen = select_frames(rec)
    total = 0
    for (key, ver, tag, codec), h, frame in chosen:
        name = 'api%02d-%s-v%d-%s%s-%s' % (key, API_NAMES.get(key, 'Unknown'), ver, tag,
                                          '-' + codec if codec else '', h[:10])
        with open(os.path.join(out, name), 'wb') as f:
            f.write(frame)
        total += len(frame)
    apis = sorted({(k, v) for (k, v, _t, _c), _h, _f in chosen})
    log('%d distinct frames seen (%d total); wrote %d files, %d bytes to %s (replaced %d)' %
        (len(rec.frames), sum(rec.seen.values()), len(chosen), total, out, removed))
    log('api/versions: %s' % ' '.join('%s v%d' % (API_NAMES.get(k, k), v) for k, v in apis))


# ---------------------------------------------------------------------------------------------
# Proxy
# ---------------------------------------------------------------------------------------------

def patch_api_versions(body, version):
    """Adds EXTRA_APIS to an ApiVersions response body (after the v0 response header)."""
    try:
        if version >= 3:
            err = body[:2]
            n, pos = _uvarint(body, 2)
            n -= 1
            apis = []
            for _ in range(n):
                k, lo, hi = struct.unpack('>hhh', body[pos:pos + 6])
                pos += 6
                tags, pos = _uvarint(body, pos)
                if tags:
                    return body  # tagged fields inside: leave it alone
                apis.append((k, lo, hi))
            rest = body[pos:]
            have = {a[0] for a in apis}
            apis += [(k, lo, hi) for k, (lo, hi) in EXTRA_APIS.items() if k not in have]
            out = err + _enc_uvarint(len(apis) + 1)
            for a in apis:
                out += struct.pack('>hhh', *a) + b'\0'
            return out + rest
        err, n = struct.unpack('>hi', body[:6])
        apis = [struct.unpack('>hhh', body[6 + 6 * i:12 + 6 * i]) for i in range(n)]
        rest = body[6 + 6 * n:]
        have = {a[0] for a in apis}
        apis += [(k, lo, hi) for k, (lo, hi) in EXTRA_APIS.items() if k not in have]
        return struct.pack('>hi', err, len(apis)) + b''.join(struct.pack('>hhh', *a)
                                                            for a in apis) + rest
    except (struct.error, IndexError):
        return body


def patch_metadata_controller(body, version):
    """Metadata v1-v8 response body: sets controller_id to the first broker's id when it names
    no listed broker (the mock answers -1, and admin clients wait for a controller)."""
    if not 1 <= version <= 8:
        return body
    try:
        pos = 4 if version >= 3 else 0                   # throttle_time_ms
        n = struct.unpack('>i', body[pos:pos + 4])[0]
        pos += 4
        ids = []
        for _ in range(n):
            ids.append(struct.unpack('>i', body[pos:pos + 4])[0])
            hl = struct.unpack('>h', body[pos + 4:pos + 6])[0]
            pos += 6 + hl + 4                            # node_id, host, port
            rl = struct.unpack('>h', body[pos:pos + 2])[0]
            pos += 2 + max(rl, 0)                        # rack
        if version >= 2:
            cl = struct.unpack('>h', body[pos:pos + 2])[0]
            pos += 2 + max(cl, 0)                        # cluster_id
        ctrl = struct.unpack('>i', body[pos:pos + 4])[0]
        if ids and ctrl not in ids:
            body = body[:pos] + struct.pack('>i', ids[0]) + body[pos + 4:]
        return body
    except (struct.error, IndexError):
        return body


def _uvarint(b, pos):
    v = shift = 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7f) << shift
        if not c & 0x80:
            return v, pos
        shift += 7


def _enc_uvarint(v):
    out = b''
    while v >= 0x80:
        out += bytes([(v & 0x7f) | 0x80])
        v >>= 7
    return out + bytes([v])


class Proxy:
    def __init__(self, upstream, rec, listen_port=0, extra_apis=False):
        self.up_host, up_port = upstream.rsplit(':', 1)
        self.up_port = int(up_port)
        self.rec = rec
        self.listen_port = listen_port
        self.extra_apis = extra_apis
        self.port = None
        self.loop = None
        self.server = None

    async def _handle(self, cr, cw):
        try:
            ur, uw = await asyncio.open_connection(self.up_host, self.up_port)
        except OSError as e:
            log('upstream connect failed: %s' % e)
            cw.close()
            return
        inflight = {}  # correlation id -> (api key, version)

        async def c2u():
            try:
                while True:
                    hdr = await cr.readexactly(4)
                    n = struct.unpack('>i', hdr)[0]
                    if n < 0 or n > 256 * 1024 * 1024:
                        break
                    frame = await cr.readexactly(n)
                    self.rec.add(frame)
                    if len(frame) >= 8:
                        k, v, corr = struct.unpack('>hhi', frame[:8])
                        inflight[corr] = (k, v)
                    uw.write(hdr + frame)
                    await uw.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                uw.close()

        async def u2c():
            old = b'\x00\x09127.0.0.1' + struct.pack('>i', self.up_port)
            new = b'\x00\x09127.0.0.1' + struct.pack('>i', self.port)
            oldc = b'\x0a127.0.0.1' + struct.pack('>i', self.up_port)
            newc = b'\x0a127.0.0.1' + struct.pack('>i', self.port)
            try:
                while True:
                    hdr = await ur.readexactly(4)
                    n = struct.unpack('>i', hdr)[0]
                    frame = await ur.readexactly(n)
                    corr = struct.unpack('>i', frame[:4])[0]
                    k, v = inflight.pop(corr, (None, None))
                    if k in (3, 10):
                        frame = frame.replace(old, new).replace(oldc, newc)
                        if k == 3 and self.extra_apis:
                            frame = frame[:4] + patch_metadata_controller(frame[4:], v)
                    elif k == 18 and self.extra_apis:
                        frame = frame[:4] + patch_api_versions(frame[4:], v)
                        hdr = struct.pack('>i', len(frame))
                    cw.write(hdr + frame)
                    await cw.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                cw.close()

        await asyncio.gather(c2u(), u2c())

    async def _serve(self, started):
        self.server = await asyncio.start_server(self._handle, '127.0.0.1', self.listen_port)
        self.port = self.server.sockets[0].getsockname()[1]
        started.set()
        async with self.server:
            await self.server.serve_forever()

    def start_thread(self):
        started = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            try:
                self.loop.run_until_complete(self._serve(started))
            except asyncio.CancelledError:
                pass

        t = threading.Thread(target=run, daemon=True)
        t.start()
        started.wait(10)
        return '127.0.0.1:%d' % self.port


# ---------------------------------------------------------------------------------------------
# `all`: drive every client through the proxy in front of mockbroker
# ---------------------------------------------------------------------------------------------

def scenarios(bs, rec, tmp):
    sys.path.insert(0, os.path.join(REPO, 'tests', 'integration'))
    import harness
    import clients as C

    def step(tag, what, fn, timeout=40):
        # In a daemon thread with a time limit: some clients retry for ever when the mock
        # closes the connection on an API it lacks.
        rec.tag = tag
        t0 = time.monotonic()
        res = {}

        def run():
            try:
                fn()
                res['ok'] = True
            except Exception as e:  # admin against the mock fails by design
                res['err'] = str(e).splitlines()[0][:100] if str(e) else repr(e)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            log('%-6s %-34s abandoned after %d s (frames so far are kept)' % (tag, what, timeout))
        elif 'ok' in res:
            log('%-6s %-34s ok (%.1f s)' % (tag, what, time.monotonic() - t0))
        else:
            log('%-6s %-34s failed as it may: %s' % (tag, what, res['err']))

    recs = lambda seed, hdr='varied': harness.make_records(12, 3, seed=seed, headers=hdr,
                                                          max_value=120, tag='cap')
    codecs = ('none', 'gzip', 'snappy', 'lz4', 'zstd')
    # The mock auto-creates topics (4 partitions) on first use.
    kc = recs(1, 'per_partition')
    step('kcat', 'metadata -L', lambda: C.kcat_metadata(bs))
    for c in codecs:
        step('kcat', 'produce -z ' + c, lambda c=c: C.kcat_produce(bs, 'cap-kcat-' + c, kc, c,
                                                                    tmpdir=tmp))
    step('kcat', 'consume -C', lambda: C.kcat_consume(bs, 'cap-kcat-none', harness.counts(kc)))
    step('kcat', 'group consume -G', lambda: harness.run_cmd(
        ['kcat', '-b', bs, '-G', 'cap-kcat-grp', '-o', 'beginning', '-e', '-q', '-c', '12',
         'cap-kcat-none'], timeout=30))

    for tag, prod in (('kp', C.kp_produce), ('ck', C.ck_produce), ('kjs', C.kjs_produce)):
        for c in C.PRODUCE_CODECS[tag]:
            step(tag, 'produce ' + c, lambda c=c, prod=prod, tag=tag:
                 prod(bs, 'cap-%s-%s' % (tag, c), recs(2), c))
    want = {'cap-ck-none': harness.counts(recs(2))}
    step('kp', 'consume (assigned)', lambda: C.kp_consume(bs, want, timeout=10))
    step('kp', 'consume (group)', lambda: kp_group_consume(bs, 'cap-kp-none', 12))
    step('ck', 'consume (assigned)', lambda: C.ck_consume(bs, want, timeout=10))
    step('ck', 'consume (group)', lambda: C.ck_consume(bs, want, timeout=15, group=True))
    step('kjs', 'consume (assigned)', lambda: C.kjs_consume(bs, want, timeout=10))
    step('kjs', 'consume (group)', lambda: C.kjs_consume(bs, want, timeout=15, group=True))

    for i, op in enumerate(KP_ADMIN):
        step('kp', 'admin %d' % i, lambda op=op: kp_admin_op(bs, op), timeout=8)
    for op in CK_ADMIN:
        step('ck', 'admin ' + op, lambda op=op: ck_admin_op(bs, op), timeout=10)
    # older protocol versions: kafka-python told it talks to an older broker
    for ver in ((0, 11, 0), (1, 0, 0), (2, 0, 0)):
        vs = '.'.join(map(str, ver))
        step('kp', 'produce as for Kafka ' + vs, lambda ver=ver: C.kp_produce(
            bs, 'cap-kp-old', recs(3), 'gzip', conf={'api_version': ver}))
        step('kp', 'consume as for Kafka ' + vs, lambda ver=ver: C.kp_consume(
            bs, {'cap-kp-old': {0: 1}}, timeout=10, conf={'api_version': ver}))
    for op in ({'op': 'createTopic', 'topic': 'cap-kjs-admin', 'partitions': 2,
                'configs': {'retention.ms': '60000'}},
               {'op': 'describeTopicConfigs', 'topic': 'cap-kjs-none'},
               {'op': 'createPartitions', 'topic': 'cap-kjs-none', 'count': 6},
               {'op': 'deleteTopic', 'topic': 'cap-kjs-admin'},
               {'op': 'offsets', 'topic': 'cap-kjs-none'}):
        step('kjs', 'admin ' + op['op'], lambda op=op: C.kjs_admin(bs, [op]))


def kp_group_consume(bs, topic, n):
    import kafka
    cons = kafka.KafkaConsumer(topic, bootstrap_servers=bs, group_id='cap-kp-grp',
                               auto_offset_reset='earliest', consumer_timeout_ms=8000)
    got = 0
    for _ in cons:
        got += 1
        if got >= n:
            break
    cons.commit()
    cons.close()


KP_ADMIN = ('create', 'describe-topic', 'describe-broker', 'create-partitions', 'delete')


def kp_admin_op(bs, op):
    from kafka.admin import (ConfigResource, ConfigResourceType, KafkaAdminClient,
                             NewPartitions, NewTopic)
    adm = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=3000)
    if op == 'create':
        adm.create_topics([NewTopic('cap-kp-admin', 2, 1, topic_configs={'retention.ms': '60000'})])
    elif op == 'describe-topic':
        adm.describe_configs([ConfigResource(ConfigResourceType.TOPIC, 'cap-kp-none')])
    elif op == 'describe-broker':
        adm.describe_configs([ConfigResource(ConfigResourceType.BROKER, '1')])
    elif op == 'create-partitions':
        adm.create_partitions({'cap-kp-none': NewPartitions(6)})
    elif op == 'delete':
        adm.delete_topics(['cap-kp-admin'])
    adm.close()


CK_ADMIN = ('create', 'describe', 'create-partitions', 'delete')


def ck_admin_op(bs, op):
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    adm = AdminClient({'bootstrap.servers': bs})
    if op == 'create':
        fs = adm.create_topics([NewTopic('cap-ck-admin', 2, 1, config={'retention.ms': '60000'})],
                               request_timeout=3)
    elif op == 'describe':
        fs = adm.describe_configs([ConfigResource('topic', 'cap-ck-none')], request_timeout=3)
    elif op == 'create-partitions':
        fs = adm.create_partitions([NewPartitions('cap-ck-none', 6)], request_timeout=3)
    else:
        fs = adm.delete_topics(['cap-ck-admin'], request_timeout=3)
    for f in fs.values():
        f.result(5)


def cmd_all(args):
    build = os.path.abspath(args.build)
    mock = os.path.join(build, 'tests', 'support', 'mockbroker')
    if not os.access(mock, os.X_OK):
        sys.exit('capture_kreq: %s not built (ninja -C %s tests/support/mockbroker)' %
                 (mock, args.build))
    import tempfile
    tmp = tempfile.mkdtemp(prefix='capture-kreq-')
    p = subprocess.Popen([mock], stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = p.stderr.readline().decode()
    if 'mockbroker listening on ' not in line:
        p.kill()
        sys.exit('capture_kreq: mockbroker did not start: %r' % line)
    upstream = line.split('listening on ', 1)[1].strip().split(',')[0]
    rec = Recorder()
    proxy = Proxy(upstream, rec, extra_apis=True)
    bs = proxy.start_thread()
    log('mockbroker on %s, proxy on %s' % (upstream, bs))
    try:
        scenarios(bs, rec, tmp)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    write_corpus(rec, args.out)


def cmd_proxy(args):
    rec = Recorder()
    rec.tag = args.tag
    proxy = Proxy(args.upstream, rec, listen_port=args.listen, extra_apis=args.extra_apis)
    bs = proxy.start_thread()
    print('capture_kreq proxy listening on %s' % bs, file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(0.5):
        pass
    write_corpus(rec, args.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('proxy', help='record frames of clients you run yourself')
    p.add_argument('--upstream', required=True, help='HOST:PORT of the broker')
    p.add_argument('--listen', type=int, default=0, help='port (0 = any free one)')
    p.add_argument('--out', default=DEFAULT_OUT)
    p.add_argument('--tag', default='client', help='client name in the file names')
    p.add_argument('--extra-apis', action='store_true',
                   help='advertise the admin APIs in ApiVersions answers')
    a = sub.add_parser('all', help='mockbroker + every client')
    a.add_argument('--build', default='build', help='meson build dir with mockbroker')
    a.add_argument('--out', default=DEFAULT_OUT)
    args = ap.parse_args()
    if args.cmd == 'all':
        cmd_all(args)
    else:
        cmd_proxy(args)


if __name__ == '__main__':
    main()
