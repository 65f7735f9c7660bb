#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Long poll: a Fetch on an empty partition waits (max_wait_ms) instead of answering at once, and
is answered within milliseconds of a produce to that partition. The measured figures are
printed; the assertions are generous (< 1 s) so a loaded 2-core machine does not flake."""
import statistics
import time

import harness
from harness import check, check_eq, log, test
from clients import ck_producer, need_ck, uniq
import kwire

TOPIC = 'lp'
BOUND_S = 1.0


@test
def a_fetch_on_an_empty_partition_waits_and_wakes_within_ms_of_a_produce(ctx):
    b = ctx.broker(topics={TOPIC: 1})
    c = kwire.Conn(b.host, b.port, timeout=30)
    # the producer is a raw connection too, so the figure holds no client-side batching delay
    pc = kwire.Conn(b.host, b.port, timeout=30)
    resp = pc.request(kwire.produce_req({TOPIC: {0: kwire.record_batch([b'warm-up'])}}))
    check_eq(kwire.produce_errors(resp)[(TOPIC, 0)][0], 0, 'warm-up produce error')
    lat = []
    for i in range(5):
        offset = 1 + i
        # 1. an empty fetch with a 10 s wait must stay unanswered
        c.send(kwire.fetch_req(TOPIC, 0, offset, max_wait_ms=10000))
        t_wait = 0.3 if i else 1.0
        check(c.quiet_for(t_wait),
              'Fetch with max_wait_ms=10000 on an empty partition was answered within %.1f s: '
              'the broker does not long-poll' % t_wait)
        # 2. a produce wakes it
        t0 = time.monotonic()
        pc.send(kwire.produce_req({TOPIC: {0: kwire.record_batch([b'wake-%d' % i])}}))
        corr, resp = c.recv(timeout=12)
        dt = time.monotonic() - t0
        lat.append(dt * 1000)
        log('round %d: produce -> fetch answer %.2f ms' % (i, dt * 1000))
        check(dt < BOUND_S, 'long-poll wake-up took %.0f ms' % (dt * 1000))
        parts = kwire.fetch_records(resp)
        check_eq(parts[0][1], 0, 'fetch error code')
        check(parts[0][3] and b'wake-%d' % i in bytes(parts[0][3]),
              'woken fetch does not hold the new record')
        check_eq(kwire.produce_errors(pc.recv(10)[1])[(TOPIC, 0)][0], 0,
                 'produce %d error' % i)
    c.close()
    pc.close()
    print('LONG-POLL raw Fetch v4 (max_wait_ms=10000) woken by a raw Produce v3: median %.2f ms, '
          'max %.2f ms over %d rounds' % (statistics.median(lat), max(lat), len(lat)))
    check(max(lat) < BOUND_S * 1000, 'long-poll wake-up took %.0f ms' % max(lat))


@test
def a_consumer_with_a_long_fetch_wait_gets_a_new_record_within_ms(ctx):
    ck = need_ck()
    b = ctx.broker(topics={TOPIC: 1})
    prod = ck_producer(b.bootstrap, conf={'acks': 1, 'linger.ms': 0})
    prod.produce(TOPIC, value=b'warm-up', partition=0)
    check_eq(prod.flush(10), 0, 'warm-up record not delivered')
    cons = ck.Consumer({'bootstrap.servers': b.bootstrap, 'group.id': uniq('lp'),
                        'enable.auto.commit': False, 'fetch.wait.max.ms': 10000,
                        'fetch.min.bytes': 1, 'fetch.error.backoff.ms': 10})
    cons.assign([ck.TopicPartition(TOPIC, 0, 1)])
    lat = []
    try:
        for i in range(8):
            # let the consumer's fetch reach the broker and park there
            deadline = time.monotonic() + (1.5 if i == 0 else 0.4)
            while time.monotonic() < deadline:
                m = cons.poll(0.05)
                check(m is None or m.error(), 'unexpected record before produce: %r' %
                      (m and m.value()))
            t0 = time.monotonic()
            prod.produce(TOPIC, value=b'lp-%d' % i, partition=0)
            prod.poll(0)
            while True:
                m = cons.poll(0.001)
                if m is not None and not m.error():
                    break
                check(time.monotonic() - t0 < 12, 'record %d never arrived' % i)
            dt = time.monotonic() - t0
            check_eq(m.value(), b'lp-%d' % i, 'record value')
            lat.append(dt * 1000)
            log('round %d: produce -> consumer %.2f ms' % (i, dt * 1000))
            check(dt < BOUND_S, 'produce-to-consume took %.0f ms with a 10 s fetch wait: the '
                  'broker does not wake a parked fetch on append' % (dt * 1000))
            prod.flush(10)
    finally:
        cons.close()
    print('LONG-POLL confluent-kafka consumer (fetch.wait.max.ms=10000) produce->receive: '
          'median %.2f ms, max %.2f ms over %d rounds' %
          (statistics.median(lat), max(lat), len(lat)))
    check(max(lat) < BOUND_S * 1000, 'produce-to-consume took %.0f ms with a 10 s fetch wait' %
          max(lat))


if __name__ == '__main__':
    harness.main(globals())
