#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Restart: records acknowledged before sluiced stops (SIGTERM: a clean stop that must exit 0;
SIGKILL with log.flush.durable=true: acknowledged means fsynced) are all there, in order, when
it starts again on the same data directory, and new records continue the offsets."""
import threading
import time

import harness
from harness import check, check_eq, compare, counts, log, make_records, test
from clients import ck_consume, ck_producer, ck_produce, kp_produce

TOPIC = 'durable'


@test
def records_acknowledged_before_a_sigterm_stop_are_all_there_after_restart(ctx):
    ctx.need_sluiced('restart on the same data directory')
    b = ctx.broker(topics={TOPIC: 3, 'other': 1})
    first = make_records(600, 3, seed=21, tag='first')
    ck_produce(b.bootstrap, TOPIC, first, 'zstd')
    second = make_records(200, 3, seed=22, tag='second')
    kp_produce(b.bootstrap, TOPIC, second, 'gzip')
    lone = make_records(50, 1, seed=23, tag='other')
    ck_produce(b.bootstrap, 'other', lone)
    b.stop()  # SIGTERM; exit status 0 is checked
    b.start()
    want = first + second
    compare(want, ck_consume(b.bootstrap, {TOPIC: counts(want)}), 'after SIGTERM restart')
    compare(lone, ck_consume(b.bootstrap, {'other': counts(lone)}), 'second topic after restart')
    # appends continue after the recovered offsets
    third = make_records(90, 3, seed=24, tag='third')
    acks = ck_produce(b.bootstrap, TOPIC, third)
    base = counts(want)
    for p in range(3):
        first_ack = min(o for (pp, o) in acks if pp == p)
        check_eq(first_ack, base[p], 'first offset after restart on partition %d' % p)
    # and a second clean restart changes nothing
    b.stop()
    b.start()
    want += third
    compare(want, ck_consume(b.bootstrap, {TOPIC: counts(want)}), 'after second restart')


@test
def records_acknowledged_with_durable_flush_survive_a_sigkill(ctx):
    ctx.need_sluiced('SIGKILL and recovery of the same data directory')
    b = ctx.broker(topics={TOPIC: 3}, overrides={'log.flush.durable': 'true'})
    # Part 1: everything acknowledged, then SIGKILL at rest.
    first = make_records(300, 3, seed=31, tag='k1')
    ck_produce(b.bootstrap, TOPIC, first, 'snappy')
    b.kill()
    b.start()
    compare(first, ck_consume(b.bootstrap, {TOPIC: counts(first)}), 'after SIGKILL at rest')

    # Part 2: SIGKILL while a producer is busy; every acknowledged record must survive, and
    # what is on disk per partition must be a prefix of what was sent (unacknowledged records
    # may or may not be there).
    stream = make_records(200000, 3, seed=32, tag='k2', max_value=200)
    prod = ck_producer(b.bootstrap, 'lz4', {'message.timeout.ms': 4000, 'retries': 0,
                                            'queue.buffering.max.messages': 20000})
    acked = []
    lock = threading.Lock()

    def cb(i):
        def f(err, msg):
            if err is None:
                with lock:
                    acked.append((i, msg.partition(), msg.offset()))
        return f

    killer = threading.Timer(1.5, b.kill)
    killer.start()
    t0 = time.monotonic()
    sent = 0
    for i, r in enumerate(stream):
        if not b.alive() or b.proc is None:
            break
        while b.proc is not None:
            try:
                prod.produce(TOPIC, value=r['v'], key=r['k'], partition=r['p'],
                             headers=list(r['h']) or None, on_delivery=cb(i))
                sent += 1
                break
            except BufferError:
                prod.poll(0.01)
        prod.poll(0)
        if time.monotonic() - t0 > 20:
            break
    killer.join()
    prod.flush(10)
    log('sent %d, acknowledged %d before the kill' % (sent, len(acked)))
    check(len(acked) > 0, 'nothing was acknowledged before the kill: test proves nothing')
    b.start()
    sent_by_part = {p: [r for r in stream[:sent] if r['p'] == p] for p in range(3)}
    base = counts(first)
    need = {p: 0 for p in range(3)}
    for i, p, o in acked:
        need[p] = max(need[p], o - base[p] + 1)
    # read everything that is there now (at least the acknowledged ones)
    got = ck_consume(b.bootstrap, {TOPIC: {p: base[p] + need[p] for p in range(3)}},
                     timeout=60)
    got_p = {p: [r for r in got if r['p'] == p] for p in range(3)}
    for p in range(3):
        check(len(got_p[p]) >= base[p] + need[p], 'partition %d: %d records after restart, '
              'at least %d acknowledged' % (p, len(got_p[p]), base[p] + need[p]))
        compare([r for r in first if r['p'] == p] + sent_by_part[p][:need[p]],
                got_p[p][:base[p] + need[p]], 'partition %d after SIGKILL mid-stream' % p)
    for i, p, o in acked:
        r = got_p[p][o]
        check(r.get('o') == o and r['k'] == stream[i]['k'] and r['v'] == stream[i]['v'],
              'acknowledged record %d (partition %d offset %d) differs after recovery' %
              (i, p, o))
    # the recovered log takes new appends after its end
    more = make_records(30, 3, seed=33, tag='k3')
    acks = ck_produce(b.bootstrap, TOPIC, more)
    for p in range(3):
        first_ack = min(o for (pp, o) in acks if pp == p)
        log('partition %d: appends after recovery start at offset %d' % (p, first_ack))
        check(first_ack >= base[p] + need[p], 'partition %d: new append at offset %d overlaps '
              'acknowledged offsets (< %d)' % (p, first_ack, base[p] + need[p]))


if __name__ == '__main__':
    harness.main(globals())
