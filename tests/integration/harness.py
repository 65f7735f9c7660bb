# SPDX-License-Identifier: Apache-2.0
"""Integration-test harness: runs the real broker (sluiced) or librdkafka's mock cluster
(tests/support/mockbroker) on a free loopback port with a temporary data directory, and runs
one named test function from the calling test file against it.

A test file ends with `harness.main(globals())`; meson runs it as

    /usr/bin/python3 test_x.py --broker sluiced --bin PATH [--rdk PATH] [--mockbroker PATH] NAME

and the test named NAME (a function `NAME(ctx)`) runs. Exit codes: 0 pass, 1 fail, 77 skip (only for
things the machine cannot have, or a test that needs sluiced when run against the mock).
A missing client (kcat, node + kafkajs, python3-kafka, python3-confluent-kafka, codec modules) is
a FAILURE with a loud "MISSING CLIENT" line, never a silent pass.
"""
import argparse
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
JS_DIR = os.path.join(HERE, 'js')

SKIP = 77

CODECS = ('none', 'gzip', 'snappy', 'lz4', 'zstd')

# Kafka error codes the tests look for.
ERR_NONE = 0
ERR_OFFSET_OUT_OF_RANGE = 1
ERR_CORRUPT_MESSAGE = 2
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_MESSAGE_TOO_LARGE = 10
ERR_TOPIC_ALREADY_EXISTS = 36
ERR_INVALID_PARTITIONS = 37


class TestFailure(Exception):
    pass


class TestSkip(Exception):
    pass


class MissingClient(TestFailure):
    pass


def log(*a):
    print('[%7.3f]' % (time.monotonic() - _T0), *a, flush=True)


_T0 = time.monotonic()


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure('%s: got %r, want %r' % (what, got, want))


def missing(what, how):
    print('!' * 78, file=sys.stderr)
    print('MISSING CLIENT: %s (%s)' % (what, how), file=sys.stderr)
    print('!' * 78, file=sys.stderr, flush=True)
    raise MissingClient('missing client: %s' % what)


def free_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------------------------------------
# Brokers
# ---------------------------------------------------------------------------------------------

class Broker:
    """One broker process. kind 'sluiced' or 'mock'. start() may be called again after stop() to
    restart on the same data directory (the port may change: use .bootstrap after each start)."""

    READY = {'sluiced': 'sluiced listening on ', 'mock': 'mockbroker listening on '}

    def __init__(self, kind, binary, workdir, overrides=None, name='broker'):
        self.kind = kind
        self.binary = binary
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, 'data')
        self.name = name
        self.overrides = dict(overrides or {})
        self.proc = None
        self.bootstrap = None
        self.host = None
        self.port = None
        self.starts = 0
        self._lines = []
        self._reader = None
        os.makedirs(self.data_dir, exist_ok=True)

    # sluiced's settings: Kafka server.properties names, some in the file, the rest as overrides
    def _sluiced_argv(self):
        props = {
            'listeners': 'PLAINTEXT://127.0.0.1:0',
            'log.dirs': self.data_dir,
            'num.partitions': '1',
            'auto.create.topics.enable': 'true',
            # group consumers start at once (Kafka's default delay is 3000 ms)
            'group.initial.rebalance.delay.ms': '0',
        }
        cfg = os.path.join(self.workdir, 'server.properties')
        with open(cfg, 'w') as f:
            f.write('# written by tests/integration/harness.py\n')
            for k, v in props.items():
                f.write('%s=%s\n' % (k, v))
        argv = [self.binary, '--config', cfg]
        for k, v in self.overrides.items():
            argv += ['--override', '%s=%s' % (k, v)]
        return argv

    def _mock_argv(self):
        argv = [self.binary]
        for t, n in self.overrides.get('topics', {}).items():
            argv += ['--topic', '%s:%d' % (t, n)]
        return argv

    @property
    def log_path(self):
        return os.path.join(self.workdir, '%s.log' % self.name)

    def start(self, timeout=30):
        check(self.proc is None, 'broker already running')
        argv = self._sluiced_argv() if self.kind == 'sluiced' else self._mock_argv()
        self.starts += 1
        log('start %s #%d: %s' % (self.kind, self.starts, ' '.join(argv)))
        logf = open(self.log_path, 'a')
        logf.write('==== start #%d: %s\n' % (self.starts, ' '.join(argv)))
        logf.flush()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=subprocess.PIPE, cwd=self.workdir)
        ready = threading.Event()
        marker = self.READY[self.kind]
        found = {}

        def reader(proc=self.proc, logf=logf):
            for raw in proc.stderr:
                line = raw.decode('utf-8', 'replace')
                logf.write(line)
                logf.flush()
                self._lines.append(line)
                if marker in line and not ready.is_set():
                    found['addr'] = line.split(marker, 1)[1].strip()
                    ready.set()
            logf.close()
            ready.set()

        self._reader = threading.Thread(target=reader, daemon=True)
        self._reader.start()
        t0 = time.monotonic()
        ready.wait(timeout)
        if 'addr' not in found:
            rc = self.proc.poll()
            self._dump_log()
            if rc is None:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            raise TestFailure('%s did not print "%s..." within %ds (exit %r)' %
                              (self.kind, marker, timeout, rc))
        addr = found['addr'].split(',')[0]
        self.host, port = addr.rsplit(':', 1)
        self.port = int(port)
        self.bootstrap = '%s:%d' % (self.host, self.port)
        log('%s ready on %s after %.0f ms' % (self.kind, self.bootstrap,
                                              (time.monotonic() - t0) * 1000))
        return self.bootstrap

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def stop(self, sig=signal.SIGTERM, timeout=30, expect_rc=0):
        """Stop with sig and wait. SIGTERM must end in exit status 0 (expect_rc)."""
        check(self.proc is not None, 'broker not running')
        proc = self.proc
        if proc.poll() is not None:
            self._dump_log()
            self.proc = None
            raise TestFailure('%s died before stop (exit %r)' % (self.kind, proc.returncode))
        t0 = time.monotonic()
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self._dump_log()
            self.proc = None
            raise TestFailure('%s ignored signal %d for %ds' % (self.kind, sig, timeout))
        self._reader.join(5)
        self.proc = None
        log('%s stopped by signal %d: exit %d after %.0f ms' %
            (self.kind, sig, rc, (time.monotonic() - t0) * 1000))
        if expect_rc is not None and rc != expect_rc:
            self._dump_log()
            raise TestFailure('%s exited %d after signal %d, want %d' %
                              (self.kind, rc, sig, expect_rc))
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL, expect_rc=-signal.SIGKILL)

    def cpu_seconds(self):
        with open('/proc/%d/stat' % self.proc.pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        tck = os.sysconf('SC_CLK_TCK')
        return (int(fields[11]) + int(fields[12])) / tck

    def _dump_log(self, lines=60):
        try:
            with open(self.log_path, errors='replace') as f:
                tail = f.readlines()[-lines:]
        except OSError:
            tail = []
        print('---- last %d lines of %s ----' % (len(tail), self.log_path), file=sys.stderr)
        sys.stderr.write(''.join(tail))
        print('---- end of log ----', file=sys.stderr, flush=True)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Ctx:
    """What a test gets: the options, a scratch directory, and broker factories."""

    def __init__(self, args, tmp):
        self.args = args
        self.tmp = tmp
        self.kind = args.broker
        self.brokers = []
        self.failed = False

    @property
    def is_mock(self):
        return self.kind == 'mock'

    def need_sluiced(self, why):
        if self.is_mock:
            raise TestSkip('needs sluiced (%s); running against the mock' % why)

    def broker(self, overrides=None, topics=None, start=True, name=None):
        """A new broker with its own data directory. topics={name: partitions} are created
        (for the mock: on the command line; for sluiced: by Metadata auto-creation is not
        enough for partition counts, so through CreateTopics)."""
        binary = self.args.bin if not self.is_mock else self.args.mockbroker
        check(binary and os.access(binary, os.X_OK), 'broker binary %r is not there' % binary)
        name = name or 'broker%d' % len(self.brokers)
        wd = os.path.join(self.tmp, name)
        os.makedirs(wd, exist_ok=True)
        ov = dict(overrides or {})
        if self.is_mock:
            ov = {'topics': dict(topics or {})}
        b = Broker(self.kind, binary, wd, ov, name)
        self.brokers.append(b)
        if start:
            b.start()
            if topics and not self.is_mock:
                from clients import create_topics  # clients imports this module
                create_topics(b.bootstrap, topics)
        return b

    def path(self, *p):
        return os.path.join(self.tmp, *p)


# ---------------------------------------------------------------------------------------------
# Records: generation and comparison
# ---------------------------------------------------------------------------------------------

# A record is a dict {p: partition, k: bytes|None, v: bytes|None, h: [(str, bytes)]}.
# Consumers return the same dicts plus o (offset) and t (topic).

ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'


def _text(rnd, n):
    # Printable, compressible-ish text (kcat's JSON output and -K/-D framing need text).
    if n <= 0:
        return b''
    word = ''.join(rnd.choice(ALPHA) for _ in range(min(n, 24)))
    s = (word * (n // len(word) + 1))[:n]
    # sprinkle some entropy so compressed sizes are not trivial
    s = list(s)
    for i in range(0, n, 7):
        s[i] = rnd.choice(ALPHA)
    return ''.join(s).encode()


def make_records(n, partitions, seed, null_keys=True, empty_values=True, headers='varied',
                 big_count=0, big_size=0, max_value=600, tag='r'):
    """Deterministic records for partitions 0..partitions-1. headers: 'varied' (0-3 headers
    per record), 'per_partition' (the same fixed set on every record of a partition, for
    kcat -H), or 'none'. big_count records with a value of exactly big_size bytes follow."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        p = i % partitions
        k = None if (null_keys and i % 11 == 5) else ('%s-key-%d' % (tag, i)).encode()
        if empty_values and i % 13 == 3 and k is not None:
            v = b''
        else:
            v = _text(rnd, rnd.randint(1, max_value))
        if headers == 'varied':
            h = [('h%d' % j, _text(rnd, rnd.randint(0, 12))) for j in range(i % 4)]
        elif headers == 'per_partition':
            h = [('src', tag.encode()), ('part', str(p).encode())]
        else:
            h = []
        out.append({'p': p, 'k': k, 'v': v, 'h': h})
    for j in range(big_count):
        i = n + j
        h = [('src', tag.encode()), ('part', str(i % partitions).encode())] \
            if headers == 'per_partition' else [('big', b'1')] if headers == 'varied' else []
        out.append({'p': i % partitions, 'k': ('%s-big-%d' % (tag, j)).encode(),
                    'v': _text(rnd, big_size), 'h': h})
    return out


def by_partition(records):
    d = collections.defaultdict(list)
    for r in records:
        d[r['p']].append(r)
    return d


def _norm(r):
    return (r['k'], r['v'] if r['v'] is not None else None,
            tuple((hk, hv) for hk, hv in r['h']))


def _short(b):
    if b is None:
        return 'None'
    if len(b) > 40:
        return '%r...(%d bytes)' % (b[:32], len(b))
    return repr(b)


def compare(expected, got, what, check_offsets=True):
    """Same records per partition, in the same order, with the same key, value and headers.
    Offsets in got must be strictly increasing per partition (0.. when check_offsets)."""
    ep, gp = by_partition(expected), by_partition(got)
    problems = []
    for p in sorted(set(ep) | set(gp)):
        e, g = ep.get(p, []), gp.get(p, [])
        if len(e) != len(g):
            problems.append('partition %d: %d records, want %d' % (p, len(g), len(e)))
        for i, (a, b) in enumerate(zip(e, g)):
            if _norm(a) != _norm(b):
                problems.append('partition %d record %d (offset %s): got k=%s v=%s h=%s, '
                                'want k=%s v=%s h=%s' %
                                (p, i, b.get('o'), _short(b['k']), _short(b['v']), b['h'],
                                 _short(a['k']), _short(a['v']), a['h']))
                break
        offs = [r.get('o') for r in g]
        if offs and offs[0] is not None:
            if any(offs[i] >= offs[i + 1] for i in range(len(offs) - 1)):
                problems.append('partition %d: offsets not increasing: %s' % (p, offs[:20]))
            elif check_offsets and offs != list(range(offs[0], offs[0] + len(offs))):
                problems.append('partition %d: offsets not contiguous' % p)
    if problems:
        for pr in problems[:20]:
            print('  MISMATCH %s: %s' % (what, pr), file=sys.stderr)
        raise TestFailure('%s: %d problem(s), first: %s' % (what, len(problems), problems[0]))
    log('%s: %d records in %d partitions match' % (what, len(got), len(gp)))


def counts(records):
    c = collections.Counter(r['p'] for r in records)
    return dict(c)


def to_json(r, topic=None):
    def hx(b):
        return None if b is None else b.hex()
    d = {'p': r['p'], 'k': hx(r['k']), 'v': hx(r['v']), 'h': [[k, hx(v)] for k, v in r['h']]}
    if topic is not None:
        d['t'] = topic
    return d


def from_json(d):
    def uh(s):
        return None if s is None else bytes.fromhex(s)
    r = {'p': d['p'], 'k': uh(d['k']), 'v': uh(d['v']), 'h': [(k, uh(v)) for k, v in d['h']]}
    if 'o' in d:
        r['o'] = d['o']
    if 't' in d:
        r['t'] = d['t']
    return r


# ---------------------------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------------------------

def run_cmd(argv, timeout=60, input=None, check_rc=True, env=None):
    log('run: %s' % ' '.join(argv if len(argv) < 30 else argv[:30] + ['...']))
    try:
        p = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except FileNotFoundError:
        missing(argv[0], 'not installed: run scripts/deps.sh test')
    except subprocess.TimeoutExpired as e:
        sys.stderr.write((e.stderr or b'').decode(errors='replace')[-4000:])
        raise TestFailure('%s timed out after %ds' % (argv[0], timeout))
    if check_rc and p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors='replace')[-4000:])
        raise TestFailure('%s exited %d' % (os.path.basename(argv[0]), p.returncode))
    return p


def main(tests):
    ap = argparse.ArgumentParser()
    ap.add_argument('--broker', choices=('sluiced', 'mock'), default='sluiced')
    ap.add_argument('--bin', help='path of sluiced')
    ap.add_argument('--mockbroker', help='path of tests/support/mockbroker')
    ap.add_argument('--rdk', help='path of tests/integration/rdk_roundtrip')
    ap.add_argument('--keep', action='store_true', help='keep the scratch directory')
    ap.add_argument('name', nargs='?')
    args = ap.parse_args()
    for a in ('bin', 'mockbroker', 'rdk'):
        if getattr(args, a):
            setattr(args, a, os.path.abspath(getattr(args, a)))
    names = sorted(n for n, f in tests.items()
                   if callable(f) and getattr(f, '_is_test', False))
    if args.name is None or args.name not in names:
        print('tests: %s' % ' '.join(names), file=sys.stderr)
        return sys.exit(2)
    tmp = tempfile.mkdtemp(prefix='sluice-it-%s-' % args.name[:40])
    ctx = Ctx(args, tmp)
    rc = 0
    t0 = time.monotonic()
    try:
        tests[args.name](ctx)
        for b in ctx.brokers:
            if b.proc is not None and b.proc.poll() is not None:
                b._dump_log()
                raise TestFailure('%s died during the test (exit %r)' %
                                  (b.name, b.proc.returncode))
        print('PASS %s (%.1f s)' % (args.name, time.monotonic() - t0), flush=True)
    except TestSkip as e:
        print('SKIP %s: %s' % (args.name, e), flush=True)
        rc = SKIP
    except TestFailure as e:
        print('FAIL %s: %s' % (args.name, e), file=sys.stderr, flush=True)
        rc = 1
    except Exception:
        traceback.print_exc()
        print('FAIL %s: exception' % args.name, file=sys.stderr, flush=True)
        rc = 1
    finally:
        for b in ctx.brokers:
            if b.alive():
                try:
                    # every test ends with a clean SIGTERM stop that must exit 0
                    b.stop()
                except TestFailure as e:
                    print('FAIL %s: at shutdown: %s' % (args.name, e), file=sys.stderr)
                    rc = 1
                except Exception:
                    traceback.print_exc()
                    rc = 1
            b.close()
        if rc == 1:
            for b in ctx.brokers:
                b._dump_log(30)
        if args.keep or (rc == 1 and os.environ.get('SLUICE_IT_KEEP')):
            print('scratch kept in %s' % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(rc)


def test(f):
    f._is_test = True
    return f

