#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Bad input over raw sockets: garbage bytes, a 2 GiB size prefix, truncated requests, unknown
API keys and versions, a Produce with a bad-CRC batch, an oversized batch. Each case: the broker
closes only the offending connection (or answers with the right Kafka error), keeps serving other
connections, and afterwards a normal client still produces and consumes with no acknowledged
record lost."""
import random
import socket
import struct

import harness
from harness import (ERR_CORRUPT_MESSAGE, ERR_MESSAGE_TOO_LARGE, ERR_NONE, check, check_eq,
                     compare, counts, log, make_records, test)
from clients import ck_consume, ck_produce, kp_produce
import kwire

TOPIC = 'safe'


def baseline(ctx, overrides=None):
    ctx.need_sluiced('bad-input handling is sluiced behaviour')
    b = ctx.broker(topics={TOPIC: 3}, overrides=overrides)
    recs = make_records(90, 3, seed=7, tag='before')
    ck_produce(b.bootstrap, TOPIC, recs, 'lz4')
    return b, recs


def still_serves(b, before, extra=()):
    """The broker is alive, answers a fresh client, and every acknowledged record is there."""
    check(b.alive(), 'sluiced died')
    c = kwire.Conn(b.host, b.port)
    md = c.request(kwire.metadata_req([TOPIC]))
    c.close()
    check(any(t[1] == TOPIC for t in md.topics), 'metadata lost topic %s' % TOPIC)
    more = make_records(30, 3, seed=8, tag='after')
    kp_produce(b.bootstrap, TOPIC, more)
    want = list(before) + list(extra) + more
    got = ck_consume(b.bootstrap, {TOPIC: counts(want)})
    compare(want, got, 'records after bad input')


def expect_closed(c, what, timeout=5.0):
    check(c.wait_closed(timeout), '%s: connection not closed within %.0f s' % (what, timeout))
    log('%s: connection closed' % what)
    c.close()


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


@test
def garbage_bytes_close_only_that_connection_and_the_broker_keeps_serving(ctx):
    b, recs = baseline(ctx)
    bystander = kwire.Conn(b.host, b.port)
    # an HTTP request: its first 4 bytes read as a 1.2 GB size
    c = kwire.Conn(b.host, b.port)
    c.send_raw(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
    expect_closed(c, 'HTTP request')
    # a plausible size followed by random bytes (garbage header and body)
    for seed in range(20):
        rnd = random.Random(seed)
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
        c = kwire.Conn(b.host, b.port)
        c.send_raw(struct.pack('>i', len(body)) + body)
        # whatever the broker makes of it, it must not wait for more: end our side too
        c.sock.shutdown(socket.SHUT_WR)
        expect_closed(c, 'random frame %d (%d bytes)' % (seed, len(body)))
    # pure noise with no framing at all, then EOF
    for seed in range(20, 30):
        rnd = random.Random(seed)
        c = kwire.Conn(b.host, b.port)
        c.send_raw(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4096))))
        c.sock.shutdown(socket.SHUT_WR)
        expect_closed(c, 'noise %d' % seed)
    # the connection opened before all this still works
    r = bystander.request(kwire.api_versions_req())
    check_eq(r.error_code, 0, 'ApiVersions on a bystander connection')
    bystander.close()
    still_serves(b, recs)


@test
def a_2_gib_size_prefix_closes_the_connection_without_allocating_it(ctx):
    b, recs = baseline(ctx)
    rss0 = rss_kib(b.pid())
    for size in (0x7fffffff, 0x80000000, 0xffffffff, 0x40000000):
        c = kwire.Conn(b.host, b.port)
        c.send_raw(struct.pack('>I', size) + b'\x00\x03\x00\x01' + b'\x00' * 60)
        expect_closed(c, 'size prefix 0x%08x' % size)
    rss1 = rss_kib(b.pid())
    log('broker RSS %d KiB -> %d KiB' % (rss0, rss1))
    check(rss1 - rss0 < 256 * 1024, 'RSS grew by %d KiB after huge size prefixes' % (rss1 - rss0))
    still_serves(b, recs)


@test
def a_truncated_request_closes_the_connection_and_loses_nothing(ctx):
    b, recs = baseline(ctx)
    c = kwire.Conn(b.host, b.port)
    full = c.encode(kwire.metadata_req([TOPIC]))
    c.close()
    # 1. the frame stops before its declared size, then EOF
    for cut in (2, 4, 6, len(full) // 2, len(full) - 1):
        c = kwire.Conn(b.host, b.port)
        c.send_raw(full[:cut])
        c.sock.shutdown(socket.SHUT_WR)
        expect_closed(c, 'frame cut at %d of %d bytes' % (cut, len(full)))
    # 2. a complete frame whose body is cut short: Produce v3 claiming more than it holds
    good = kwire.produce_req({TOPIC: {0: kwire.record_batch([b'x' * 100])}})
    c = kwire.Conn(b.host, b.port)
    whole = c.encode(good)
    c.close()
    for cut in (14, 30, len(whole) // 2, len(whole) - 20):
        body = whole[4:cut]
        c = kwire.Conn(b.host, b.port)
        c.send_raw(struct.pack('>i', len(body)) + body)
        expect_closed(c, 'Produce body cut at %d of %d bytes' % (cut, len(whole)))
    # nothing of the cut produce requests may have been appended
    still_serves(b, recs)


@test
def an_unknown_api_key_or_version_closes_the_connection(ctx):
    b, recs = baseline(ctx)
    for key, ver in ((999, 0), (-1, 0), (32000, 3), (3, 999), (0, 99)):
        c = kwire.Conn(b.host, b.port)
        c.send_raw(kwire.frame(key, ver, 42, b'\x00' * 16))
        expect_closed(c, 'api key %d version %d' % (key, ver))
    # ApiVersions with an unknown version is answered in the v0 layout with
    # UNSUPPORTED_VERSION (35) and at least ApiVersions' own range (KIP-511)
    c = kwire.Conn(b.host, b.port)
    c.send_raw(kwire.frame(18, 77, 4242, b''))
    hdr = b''
    while len(hdr) < 4:
        chunk = c.sock.recv(4 - len(hdr))
        check(chunk, 'ApiVersions v77: connection closed without an answer')
        hdr += chunk
    n = struct.unpack('>i', hdr)[0]
    check(0 < n < 65536, 'ApiVersions v77: response size %d' % n)
    body = b''
    while len(body) < n:
        chunk = c.sock.recv(n - len(body))
        check(chunk, 'ApiVersions v77: truncated response')
        body += chunk
    corr, err, cnt = struct.unpack('>ihi', body[:10])
    check_eq(corr, 4242, 'ApiVersions v77 correlation id')
    check_eq(err, 35, 'ApiVersions v77 error code (UNSUPPORTED_VERSION)')
    apis = [struct.unpack('>hhh', body[10 + 6 * i:16 + 6 * i]) for i in range(cnt)]
    check(any(k == 18 and lo == 0 for k, lo, hi in apis),
          'ApiVersions v77 answer lacks ApiVersions\' own range: %s' % apis)
    c.close()
    still_serves(b, recs)


@test
def a_produce_with_a_bad_crc_batch_gets_corrupt_message_and_appends_nothing(ctx):
    b, recs = baseline(ctx)
    c = kwire.Conn(b.host, b.port)
    hw = {}
    for p in (0, 1):
        r = c.request(kwire.list_offsets_req(TOPIC, p, -1))
        hw[p] = r.topics[0][1][0][3]
    good_vals = [b'good-%d' % i for i in range(5)]
    bad = kwire.corrupt_crc(kwire.record_batch([b'bad-%d' % i for i in range(5)]))
    resp = c.request(kwire.produce_req({TOPIC: {0: kwire.record_batch(good_vals),
                                                1: bad}}, acks=-1))
    errs = kwire.produce_errors(resp)
    log('produce errors: %s' % errs)
    check_eq(errs[(TOPIC, 1)][0], ERR_CORRUPT_MESSAGE, 'error for the bad-CRC partition')
    check_eq(errs[(TOPIC, 0)][0], ERR_NONE, 'error for the good partition in the same request')
    check_eq(errs[(TOPIC, 0)][1], hw[0], 'base offset of the good batch')
    # also a request that holds only the bad batch, and one with acks=1
    for acks in (1, -1):
        resp = c.request(kwire.produce_req({TOPIC: {2: bad}}, acks=acks))
        check_eq(kwire.produce_errors(resp)[(TOPIC, 2)][0], ERR_CORRUPT_MESSAGE,
                 'bad-CRC batch alone (acks=%d)' % acks)
    for p, want in ((0, hw[0] + 5), (1, hw[1])):
        r = c.request(kwire.list_offsets_req(TOPIC, p, -1))
        check_eq(r.topics[0][1][0][3], want, 'high watermark of partition %d' % p)
    # the connection stays usable after a CORRUPT_MESSAGE
    check_eq(c.request(kwire.api_versions_req()).error_code, 0, 'ApiVersions after corrupt')
    c.close()
    extra = [{'p': 0, 'k': b'raw-%d' % i, 'v': v, 'h': []} for i, v in enumerate(good_vals)]
    # recs first (they were produced first), then the raw good batch on partition 0
    still_serves(b, recs, extra)


@test
def a_batch_over_message_max_bytes_gets_message_too_large_and_appends_nothing(ctx):
    b, recs = baseline(ctx, overrides={'message.max.bytes': '100000'})
    c = kwire.Conn(b.host, b.port)
    resp = c.request(kwire.produce_req({TOPIC: {1: kwire.record_batch([b'z' * 150000])}}))
    check_eq(kwire.produce_errors(resp)[(TOPIC, 1)][0], ERR_MESSAGE_TOO_LARGE,
             'oversized batch')
    # just under the limit is fine
    resp = c.request(kwire.produce_req({TOPIC: {1: kwire.record_batch([b'y' * 90000])}}))
    check_eq(kwire.produce_errors(resp)[(TOPIC, 1)][0], ERR_NONE, 'batch under the limit')
    c.close()
    still_serves(b, recs, [{'p': 1, 'k': b'raw-0', 'v': b'y' * 90000, 'h': []}])


if __name__ == '__main__':
    harness.main(globals())
