# SPDX-License-Identifier: Apache-2.0
"""`sluice perf produce --dpdk` over net_memif (issue #5): the kernel-bypass load generator,
the project's userspace TCP stack in client mode, talking Kafka to a peer in another DPDK
process.

    /usr/bin/python3 test_perf_dpdk.py --sluice PATH [--sluiced PATH] NAME

Tests (NAME):
  the_dpdk_client_produces_over_memif_to_the_test_responder
      against `sluice perf serve --dpdk` (a minimal Kafka responder on the same stack, no
      storage): every request of a max-speed run and of a fixed-rate run is acknowledged,
      the responder counted the same number of Produce requests, latencies are reported; the
      second run finds the responder's MAC by ARP.
  the_dpdk_client_produces_over_memif_to_sluiced_on_dpdk
      against sluiced --dataplane dpdk on the memif server side: every record acknowledged,
      and after a clean stop `sluice log verify` finds the partition clean with that many
      records (log verify's count).

Skips (exit 77, with the reason on stderr): not root, sluice built without DPDK, the EAL or
net_memif unavailable, and (second test) sluiced without a DPDK data plane.

The memif server side (responder or broker) starts first; the client stops its traffic and
closes its TCP connection before it exits, because DPDK 22.11's memif server can crash when
a client disconnects mid-traffic.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
NCPU = os.cpu_count() or 1
SRV_CORE = '0'
CLI_CORE = '1' if NCPU >= 2 else '0'
SRV_MAC = '02:00:00:00:5e:01'
CLI_MAC = '02:00:00:00:5e:02'


def log(*a):
    print('[%7.3f]' % (time.monotonic() - T0), *a, flush=True)


T0 = time.monotonic()


def skip(why):
    print('*' * 78, file=sys.stderr)
    print('SKIP test_perf_dpdk: %s' % why, file=sys.stderr)
    print('*' * 78, file=sys.stderr, flush=True)
    sys.exit(SKIP)


def fail(why):
    print('FAIL: %s' % why, file=sys.stderr, flush=True)
    sys.exit(1)


def eal(core, sock, role, mac, prefix):
    return ('-l %s --no-huge -m 512 --no-shconf --no-pci --no-telemetry --file-prefix %s '
            '--log-level=lib.*:error --vdev=net_memif0,role=%s,socket=%s,mac=%s'
            % (core, prefix, role, sock, mac))


def kv(line):
    return dict(p.split('=', 1) for p in line.split()[1:] if '=' in p)


def perf_line(out, mode):
    for line in out.splitlines():
        if line.startswith('sluice-perf ') and ('mode=%s ' % mode) in line:
            return kv(line)
    return None


class Proc:
    """A background process whose output goes to a file (read after it ends)."""

    def __init__(self, argv, path):
        self.path = path
        self.f = open(path, 'w')
        log('start:', ' '.join(argv))
        self.p = subprocess.Popen(argv, stdout=self.f, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.path) as f:
            return f.read()

    def wait_for(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, self.text()):
                return True
            if self.p.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def stop(self, timeout=20):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()
        return self.p.returncode


def client(a, sock, work, extra, peer_mac=SRV_MAC):
    argv = [a.sluice, 'perf', 'produce', '--dpdk',
            '--eal-args', eal(CLI_CORE, sock, 'client', CLI_MAC, 'slpd-c%d' % os.getpid()),
            '--brokers', '10.0.0.1:9092', '--ip', '10.0.0.2', '--peer-mac', peer_mac,
            '--timeout', '10s'] + extra
    for attempt in range(3):
        log('client:', ' '.join(argv))
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        print(r.stdout, flush=True)
        # The memif server (22.11) sometimes refuses a client that connects right after the
        # previous one left, before it has torn that connection down: try again later.
        if r.returncode == 0 or 'Failed to connect socket' not in r.stdout:
            break
        time.sleep(1)
    return r.returncode, r.stdout


def preflight(a):
    if os.geteuid() != 0:
        skip('not root (DPDK EAL and memif sockets are run as root here)')
    r = subprocess.run([a.sluice, 'perf', 'produce', '--dpdk', '--help'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0 or '--eal-args' not in r.stdout:
        skip('sluice has no DPDK mode (built without libdpdk-dev): %s' % r.stdout.strip())


def memif_failed(text):
    return re.search(r'EAL start failed|port net_memif0: |Cannot init|No such device', text)


def the_dpdk_client_produces_over_memif_to_the_test_responder(a, work):
    sock = os.path.join(work, 'memif.sock')
    srv = Proc([a.sluice, 'perf', 'serve', '--dpdk',
                '--eal-args', eal(SRV_CORE, sock, 'server', SRV_MAC, 'slpd-s%d' % os.getpid()),
                '--ip', '10.0.0.1', '--listen-port', '9092', '--partitions', '3',
                '--duration', '90s'], os.path.join(work, 'serve.log'))
    try:
        if not srv.wait_for(r'listening on', 20):
            text = srv.text()
            print(text)
            if memif_failed(text):
                skip('the DPDK EAL or net_memif did not start for the responder')
            fail('the responder did not start')
        rc, out = client(a, sock, work, ['--count', '50000', '--inflight', '16'])
        if rc != 0:
            fail('max-speed run exited %d' % rc)
        m = perf_line(out, 'produce')
        if not m:
            fail('no sluice-perf line')
        if m['records'] != '50000' or m['errors'] != '0' or m['requests'] != '50000':
            fail('max-speed run: records=%s requests=%s errors=%s, want 50000/50000/0'
                 % (m['records'], m['requests'], m['errors']))
        if int(m['latency_samples']) != 50000 or float(m['p50_us']) <= 0:
            fail('max-speed run: latency not reported: %r' % m)
        # open loop at a fixed rate, 4 records per request: 2000 records in ~0.4 s; the
        # responder's MAC resolved by the stack's ARP this time
        rc, out = client(a, sock, work, ['--count', '2000', '--rate', '5000',
                                         '--batch-records', '4', '--topic', 't2'],
                         peer_mac='arp')
        if rc != 0:
            fail('fixed-rate run exited %d' % rc)
        m = perf_line(out, 'produce')
        if not m or m['records'] != '2000' or m['requests'] != '500' or m['errors'] != '0':
            fail('fixed-rate run: %r' % m)
        # the schedule holds the client back: 2000 records at 5000/s cannot take less than
        # 0.4 s (minus the first interval); on a busy machine it may take longer
        secs = float(m['seconds'])
        if not 0.39 < secs < 60:
            fail('fixed-rate run took %.3f s, want >= 0.4 s (2000 records at 5000/s)' % secs)
    finally:
        alive = srv.p.poll() is None
        rc = srv.stop()
        text = srv.text()
        print('responder: %s, exit %s; its output:\n%s'
              % ('was running' if alive else 'HAD EXITED', rc, text), flush=True)
    s = perf_line(text, 'serve')
    if not s:
        fail('the responder printed no summary')
    if s['produce'] != '50500' or s['bad'] != '0':
        fail('the responder saw produce=%s bad=%s, want 50500 and 0' % (s['produce'], s['bad']))
    log('PASS')


def sluiced_has_dpdk(a):
    r = subprocess.run([a.sluiced, '--help'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    return '--dataplane' in r.stdout


def the_dpdk_client_produces_over_memif_to_sluiced_on_dpdk(a, work):
    if not a.sluiced:
        skip('no sluiced binary given')
    if not sluiced_has_dpdk(a):
        skip('sluiced has no DPDK data plane yet (no --dataplane in sluiced --help)')
    sock = os.path.join(work, 'memif.sock')
    data = os.path.join(work, 'data')
    n = 20000
    srv = Proc([a.sluiced, '--dataplane', 'dpdk', '-p', '9092', '--log-dir', data,
                '--shards', '1',
                '-o', 'dpdk.eal.args=' + eal(SRV_CORE, sock, 'server', SRV_MAC,
                                             'slpd-b%d' % os.getpid()),
                '-o', 'dpdk.ip=10.0.0.1/24'], os.path.join(work, 'sluiced.log'))
    try:
        if not srv.wait_for(r'sluiced listening on', 30):
            text = srv.text()
            print(text)
            if memif_failed(text):
                skip('the DPDK EAL or net_memif did not start for sluiced')
            fail('sluiced --dataplane dpdk did not start')
        rc, out = client(a, sock, work, ['--count', str(n), '--inflight', '16',
                                         '--acks', '1', '--topic', 'dpdkperf'])
        if rc != 0:
            fail('client exited %d' % rc)
        m = perf_line(out, 'produce')
        if not m or m['records'] != str(n) or m['errors'] != '0':
            fail('client: %r' % m)
    finally:
        rc = srv.stop()
        print(srv.text()[-3000:], flush=True)
    if rc != 0:
        fail('sluiced exited %d after SIGTERM' % rc)
    r = subprocess.run([a.sluice, 'log', 'verify', os.path.join(data, 'dpdkperf-0')],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(r.stdout)
    if r.returncode != 0 or '(clean)' not in r.stdout:
        fail('log verify: exit %d' % r.returncode)
    m = re.search(r'(\d+) batches, (\d+) records', r.stdout)
    if not m or int(m.group(2)) != n:
        fail('the log holds %s records, want %d' % (m.group(2) if m else '?', n))
    log('PASS')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sluice', required=True)
    ap.add_argument('--sluiced')
    ap.add_argument('name')
    a = ap.parse_args()
    fn = globals().get(a.name)
    if not a.name.startswith('the_') or not callable(fn):
        fail('no test %s' % a.name)
    preflight(a)
    work = tempfile.mkdtemp(prefix='slpd.', dir=os.environ.get('TMPDIR'))
    try:
        fn(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
