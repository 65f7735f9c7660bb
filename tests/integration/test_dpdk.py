#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sluiced on DPDK (dataplane=dpdk, issue #5): the broker runs its userspace TCP/IP stack on
net_af_packet over one end of a veth pair; the clients run in a network namespace holding the
other end (with TX checksum offload off, or the kernel leaves TCP checksums unfilled). The
test process itself enters the namespace (setns) after starting the broker, so in-process
clients (kafka-python, confluent-kafka) and child processes (kcat, rdk_roundtrip, node) all
speak to the DPDK address.

Needs root, DPDK (sluiced built with libdpdk), ip and ethtool; otherwise a loud SKIP (77).
Namespaces and veths are removed in every case (try/finally)."""
import ctypes
import os
import re
import socket
import struct
import subprocess
import sys
import time

import harness
from harness import (TestFailure, TestSkip, check, check_eq, compare, counts, log,
                     make_records, run_cmd, test)

DPDK_IP = '10.231.7.1'
CLIENT_IP = '10.231.7.2'
PREFIX = 24
PORT = 9092
CLONE_NEWNET = 0x40000000
# Under injected loss a lost SYN or SYN-ACK costs the kernel client a 1 s retransmission:
# kafka-python's 2 s default for its first ApiVersions exchange is too short for that.
KP_LOSSY = {'api_version_auto_timeout_ms': 30000}


def skip(why):
    print('!' * 78, file=sys.stderr)
    print('SKIP test_dpdk: %s' % why, file=sys.stderr)
    print('!' * 78, file=sys.stderr, flush=True)
    raise TestSkip(why)


def sh(*argv, check_rc=True):
    p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check_rc and p.returncode != 0:
        raise TestFailure('%s: exit %d: %s' % (' '.join(argv), p.returncode,
                                               p.stderr.decode(errors='replace').strip()))
    return p


_libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, 'setns %s: %s' % (path, os.strerror(e)))
    finally:
        os.close(fd)


def dpdk_built(binary):
    """Whether sluiced was linked with DPDK (it names librte_eal among its libraries)."""
    try:
        out = subprocess.run(['ldd', binary], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode()
    except OSError:
        return False
    return 'librte_eal' in out


class DpdkNet:
    """A namespace with the client's veth end; the host end is left for net_af_packet."""

    def __init__(self):
        tag = '%d' % (os.getpid() % 100000)
        self.ns = 'sl-dpdk-%s' % tag
        self.host_if = 'sldh%s' % tag
        self.cli_if = 'sldc%s' % tag
        self.root_ns = '/proc/%d/ns/net' % os.getpid()
        self.root_fd = None
        self.inside = False

    def up(self):
        self.root_fd = os.open('/proc/self/ns/net', os.O_RDONLY)
        sh('ip', 'netns', 'add', self.ns)
        sh('ip', 'link', 'add', self.host_if, 'type', 'veth', 'peer', 'name', self.cli_if)
        sh('ip', 'link', 'set', self.cli_if, 'netns', self.ns)
        sh('ip', 'link', 'set', self.host_if, 'up')
        # The broker sees every frame as sent: no offloads on the host end either.
        sh('ethtool', '-K', self.host_if, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off',
           check_rc=False)
        n = ['ip', '-n', self.ns]
        sh(*n, 'addr', 'add', '%s/%d' % (CLIENT_IP, PREFIX), 'dev', self.cli_if)
        sh(*n, 'link', 'set', self.cli_if, 'up')
        sh(*n, 'link', 'set', 'lo', 'up')
        sh('ip', 'netns', 'exec', self.ns, 'ethtool', '-K', self.cli_if, 'tx', 'off')
        log('netns %s: %s/%d on %s; broker on %s' % (self.ns, CLIENT_IP, PREFIX, self.cli_if,
                                                     self.host_if))

    def enter(self):
        setns('/var/run/netns/%s' % self.ns)
        self.inside = True

    def leave(self):
        if self.inside:
            fd = self.root_fd
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), 'setns back to the root namespace')
            self.inside = False

    def down(self):
        try:
            self.leave()
        finally:
            sh('ip', 'netns', 'del', self.ns, check_rc=False)
            sh('ip', 'link', 'del', self.host_if, check_rc=False)
            if self.root_fd is not None:
                os.close(self.root_fd)
                self.root_fd = None


def preflight(ctx):
    ctx.need_sluiced('the DPDK data plane is sluiced\'s')
    if os.geteuid() != 0:
        skip('needs root (network namespaces, veth pairs, af_packet)')
    for tool in ('ip', 'ethtool'):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in ('/usr/sbin', '/sbin', '/usr/bin', '/bin')):
            skip('%s is not installed' % tool)
    if not dpdk_built(ctx.args.bin):
        skip('sluiced was built without DPDK (libdpdk-dev not found by meson)')


def dpdk_broker(ctx, net, extra=None, topics=None):
    ov = {
        'listeners': 'PLAINTEXT://0.0.0.0:%d' % PORT,
        'dataplane': 'dpdk',
        'dpdk.ip': '%s/%d' % (DPDK_IP, PREFIX),
        'dpdk.eal.args': '--no-huge -m 512 --no-shconf --no-pci -l 0 --file-prefix=sl%d '
                         '--vdev=net_af_packet0,iface=%s,qpairs=2' % (os.getpid(), net.host_if),
        # two cores shared with everything else: nap when idle
        'dpdk.idle.sleep.us': '100',
        'num.shards': '2',
    }
    ov.update(extra or {})
    b = ctx.broker(overrides=ov, start=False)
    b.start(timeout=60)
    check_eq(b.bootstrap, '%s:%d' % (DPDK_IP, PORT), 'advertised bootstrap')
    net.enter()
    if topics:
        from clients import create_topics
        create_topics(b.bootstrap, topics)
    return b


def icmp_csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def ping(ip, count=5, timeout=2.0, need=None):
    """ICMP echo over a raw socket (iputils-ping is not installed here). Returns the RTTs (s)
    of the replies; fewer than need (default: all) replies is a failure."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(timeout)
    ident = os.getpid() & 0xffff
    rtts = []
    try:
        for seq in range(1, count + 1):
            payload = b'sluice-dpdk-ping-%d' % seq
            hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
            pkt = struct.pack('!BBHHH', 8, 0, icmp_csum(hdr + payload), ident, seq) + payload
            t0 = time.monotonic()
            s.sendto(pkt, (ip, 0))
            while True:
                try:
                    data, addr = s.recvfrom(2048)
                except socket.timeout:
                    log('no echo reply from %s (seq %d)' % (ip, seq))
                    break
                ihl = (data[0] & 0xf) * 4
                icmp = data[ihl:]
                if addr[0] != ip or len(icmp) < 8:
                    continue
                typ, code, _, rid, rseq = struct.unpack('!BBHHH', icmp[:8])
                if typ == 0 and rid == ident and rseq == seq:
                    check(icmp[8:] == payload, 'echo reply payload differs')
                    check(icmp_csum(icmp) == 0, 'echo reply checksum is wrong')
                    rtts.append(time.monotonic() - t0)
                    break
    finally:
        s.close()
    need = count if need is None else need
    check(len(rtts) >= need, '%d of %d echo requests answered by %s, want %d' %
          (len(rtts), count, ip, need))
    return rtts


def broker_stats(b):
    """The counters sluiced logs at shutdown in DPDK mode."""
    with open(b.log_path, errors='replace') as f:
        text = f.read()
    out = {}
    m = re.search(r'faults injected: drop (\d+) dup (\d+) reorder (\d+) corrupt (\d+) '
                  r'tx_drop (\d+) tx_corrupt (\d+)', text)
    if m:
        out.update(zip(('drop', 'dup', 'reorder', 'corrupt', 'tx_drop', 'tx_corrupt'),
                       map(int, m.groups())))
    for m in re.finditer(r'(\d+) retransmits \((\d+) fast, (\d+) timeouts\), (\d+) out-of-order',
                         text):
        for k, v in zip(('retrans', 'fast', 'rto', 'ooo'), map(int, m.groups())):
            out[k] = out.get(k, 0) + v
    per_shard = [int(m.group(1)) for m in
                 re.finditer(r'dpdk: shard \d+: (\d+) connections accepted', text)]
    if per_shard:
        out['accepted'] = sum(per_shard)
        out['accepted_per_shard'] = per_shard
    return out


def with_dpdk(ctx, body, extra=None, topics=None, start=None):
    """Runs body(broker) against a DPDK broker (started by start(ctx, net, extra, topics),
    dpdk_broker by default); returns the broker's shutdown counters."""
    preflight(ctx)
    net = DpdkNet()
    b = None
    try:
        net.up()
        b = (start or dpdk_broker)(ctx, net, extra, topics)
        body(b)
    finally:
        try:
            net.leave()
            if b is not None and b.alive():
                b.stop()  # SIGTERM must end in exit 0
        finally:
            net.down()
            log('netns %s and %s removed' % (net.ns, net.host_if))
    st = broker_stats(b)
    log('broker counters: %s' % st)
    check('accepted' in st, 'sluiced logged no DPDK counters at shutdown')
    return st


def all_clients(b, ctx, tag, n=300, kp_conf=None):
    """kcat, librdkafka (rdk_roundtrip), kafka-python and kafkajs each produce to a topic of
    their own; every topic is read back by two clients and compared record by record."""
    from clients import (kcat_consume, kcat_produce, kjs_consume, kjs_produce, kp_consume,
                         kp_produce)
    bs = b.bootstrap
    sets = {}
    recs = make_records(n, 3, seed=11, headers='per_partition', tag=tag + '-kcat')
    kcat_produce(bs, tag + '-kcat', recs, 'none', tmpdir=ctx.tmp)
    sets[tag + '-kcat'] = recs
    recs = make_records(n, 3, seed=12, tag=tag + '-kp')
    kp_produce(bs, tag + '-kp', recs, 'none', conf=kp_conf)
    sets[tag + '-kp'] = recs
    recs = make_records(n, 3, seed=13, tag=tag + '-kjs')
    kjs_produce(bs, tag + '-kjs', recs, 'none')
    sets[tag + '-kjs'] = recs
    for t, recs in sets.items():
        want = {t: counts(recs)}
        compare(recs, kcat_consume(bs, t, counts(recs)), 'kcat reads %s' % t)
        compare(recs, kp_consume(bs, want, conf=kp_conf), 'kafka-python reads %s' % t)
        compare(recs, kjs_consume(bs, want), 'kafkajs reads %s' % t)
    rdk = ctx.args.rdk
    if not rdk or not os.access(rdk, os.X_OK):
        harness.missing('rdk_roundtrip', 'not built: meson found no librdkafka (librdkafka-dev)')
    res = run_cmd([rdk, bs, tag + '-rdk', str(n * 4), 'lz4'], timeout=120)
    out = res.stdout.decode()
    check('rdk_roundtrip: ok %d records' % (n * 4) in out,
          'rdk_roundtrip did not report ok: %s' % out.strip()[-500:])
    log('%s: kcat, kafka-python, kafkajs and librdkafka round trips ok' % tag)


@test
def dpdk_broker_answers_ping_and_serves_kcat_librdkafka_kafka_python_and_kafkajs(ctx):
    def body(b):
        rtts = ping(DPDK_IP, 5)
        log('ping %s: %d replies, avg %.3f ms' % (DPDK_IP, len(rtts),
                                                  1000 * sum(rtts) / len(rtts)))
        all_clients(b, ctx, 'dp')

    with_dpdk(ctx, body, topics={'dp-kcat': 3, 'dp-kp': 3, 'dp-kjs': 3, 'dp-rdk': 3})


@test
def dpdk_broker_serves_many_concurrent_connections(ctx):
    import kwire

    def body(b):
        nconn = 400
        topic = 'many'
        conns = []
        try:
            t0 = time.monotonic()
            for i in range(nconn):
                conns.append(kwire.Conn(DPDK_IP, PORT, timeout=15))
            log('%d connections open after %.0f ms' % (nconn, (time.monotonic() - t0) * 1000))
            # every connection produces one batch while all are open, then reads its answer
            for i, c in enumerate(conns):
                batch = kwire.record_batch([b'conn-%04d' % i], key_prefix=b'c%04d' % i)
                c.send(kwire.produce_req({topic: {i % 4: batch}}, acks=-1))
            offsets = {}
            for i, c in enumerate(conns):
                _, resp = c.recv(timeout=30)
                err, base = kwire.produce_errors(resp)[(topic, i % 4)]
                check_eq(err, 0, 'produce error on connection %d' % i)
                offsets[i] = (i % 4, base)
            # and a metadata round trip on each, all still open
            for c in conns:
                c.request(kwire.metadata_req([topic]), timeout=30)
        finally:
            for c in conns:
                c.close()
        log('%d concurrent connections: %d acknowledged produces' % (nconn, len(offsets)))
        per_part = {}
        for i, (p, base) in offsets.items():
            per_part.setdefault(p, []).append(base)
        for p, bases in per_part.items():
            check_eq(sorted(bases), list(range(len(bases))), 'offsets of partition %d' % p)
        from clients import kp_consume
        got = kp_consume(b.bootstrap, {topic: {p: len(v) for p, v in per_part.items()}})
        vals = sorted(r['v'] for r in got)
        check_eq(vals, sorted(b'conn-%04d' % i for i in range(nconn)), 'records read back')
        # a second wave after the first connections closed (their slots are reused)
        c = kwire.Conn(DPDK_IP, PORT)
        c.request(kwire.api_versions_req())
        c.close()

    st = with_dpdk(ctx, body, topics={'many': 4})
    # two queue pairs (af_packet qpairs=2, the kernel's fanout hash steers each flow to one):
    # both shards serve connections
    per = st.get('accepted_per_shard', [])
    check(len(per) == 2 and min(per) > 0,
          'connections per network shard: %r, want both shards serving' % per)


@test
def dpdk_broker_with_loss_dup_reorder_and_corruption_delivers_every_acked_record_once_in_order(ctx):
    from clients import ck_produce, kcat_consume, kp_consume, kp_produce

    def body(b):
        bs = b.bootstrap
        rtts = ping(DPDK_IP, 20, timeout=1.0, need=10)
        log('ping under faults: %d/20 answered' % len(rtts))
        recs = make_records(2000, 3, seed=21, tag='faulty-ck')
        ck_produce(bs, 'faulty-ck', recs, 'none', conf={'acks': 'all'}, timeout=180)
        compare(recs, kp_consume(bs, {'faulty-ck': counts(recs)}, timeout=120, conf=KP_LOSSY),
                'kafka-python reads confluent-kafka\'s records through faults')
        recs2 = make_records(1000, 3, seed=22, tag='faulty-kp')
        kp_produce(bs, 'faulty-kp', recs2, 'none', conf=KP_LOSSY, timeout=180)
        compare(recs2, kcat_consume(bs, 'faulty-kp', counts(recs2), timeout=120),
                'kcat reads kafka-python\'s records through faults')
        all_clients(b, ctx, 'fx', n=100, kp_conf=KP_LOSSY)
        # what the injector did (the broker logs nothing per frame; its counters are in the
        # port layer) - the clients saw retransmissions, not errors
        log('faulty run done')

    st = with_dpdk(ctx, body, extra={
        'dpdk.fault.drop': '0.03',
        'dpdk.fault.dup': '0.02',
        'dpdk.fault.reorder': '0.03',
        'dpdk.fault.corrupt': '0.01',
        'dpdk.fault.tx_drop': '0.03',
        'dpdk.fault.tx_corrupt': '0.01',
        'dpdk.fault.seed': os.environ.get('SLUICE_DPDK_FAULT_SEED', '20261125'),
    }, topics={'faulty-ck': 3, 'faulty-kp': 3, 'fx-kcat': 3, 'fx-kp': 3, 'fx-kjs': 3,
               'fx-rdk': 3})
    for k in ('drop', 'dup', 'reorder', 'corrupt', 'tx_drop', 'tx_corrupt'):
        check(st.get(k, 0) > 0, 'the fault injector did not %s a single frame' % k)
    check(st.get('retrans', 0) > 0, 'the stack never retransmitted under loss')


if __name__ == '__main__':
    harness.main(globals())
