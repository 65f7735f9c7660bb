#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Idempotent producers: InitProducerId hands out producer ids; a resent batch (same producer id,
epoch and sequence) is answered with its original offset and stored once, also after a restart
(the producer state is rebuilt from the log after a SIGKILL, from its snapshot after a clean
stop); sequence gaps, stale epochs and unknown producers
get Kafka's errors and append nothing; a librdkafka producer with enable.idempotence=true writes
every record exactly once across a broker SIGKILL and restart."""
import select
import struct
import threading
import time

import harness
from harness import (ERR_NONE, TestFailure, check, check_eq, compare, counts, log, make_records,
                     test)
from clients import ck_consume, ck_producer
import kwire

ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45
ERR_INVALID_PRODUCER_EPOCH = 47
ERR_UNKNOWN_PRODUCER_ID = 59
API_INIT_PRODUCER_ID = 22


def recv_frame(sock, timeout=10.0):
    """One raw response frame (without its size prefix)."""
    buf = b''
    deadline = time.monotonic() + timeout
    need = 4
    while len(buf) < need:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure('no response within %.1f s' % timeout)
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        data = sock.recv(65536)
        if not data:
            raise TestFailure('connection closed while waiting for a response')
        buf += data
        if len(buf) >= 4:
            need = 4 + struct.unpack('>i', buf[:4])[0]
    return buf[4:need]


def init_producer_id(b, corr=7):
    """InitProducerId v0 (no transactional id) over a raw socket: (error, producer id, epoch)."""
    c = kwire.Conn(b.host, b.port)
    try:
        body = struct.pack('>hi', -1, 60000)  # transactional_id null, transaction_timeout_ms
        c.send_raw(kwire.frame(API_INIT_PRODUCER_ID, 0, corr, body))
        resp = recv_frame(c.sock)
    finally:
        c.close()
    rcorr, _throttle, err, pid, epoch = struct.unpack('>iihqh', resp[:20])
    check_eq(rcorr, corr, 'InitProducerId correlation id')
    check_eq(len(resp), 20, 'InitProducerId v0 response size')
    return err, pid, epoch


def idem_batch(pid, epoch, seq, values):
    """A RecordBatch v2 of an idempotent producer, built by kafka-python."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    bb = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                   producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                   batch_size=1 << 30)
    ts = int(time.time() * 1000)
    for i, v in enumerate(values):
        check(bb.append(i, ts, b'k-%d' % i, v, []) is not None, 'batch full')
    return bytes(bb.build())


def produce(c, topic, batch):
    """(error_code, base_offset) of a Produce v3 of one batch to partition 0."""
    resp = c.request(kwire.produce_req({topic: {0: batch}}, acks=-1))
    return kwire.produce_errors(resp)[(topic, 0)]


def log_end(c, topic):
    resp = c.request(kwire.list_offsets_req(topic, 0, -1))
    for _t, parts in resp.topics:
        for pr in parts:
            check_eq(pr[1], ERR_NONE, 'ListOffsets error')
            return pr[3]
    raise TestFailure('ListOffsets: no partition in the answer')


@test
def a_resent_idempotent_batch_gets_its_original_offset_and_is_stored_once(ctx):
    ctx.need_sluiced('duplicate detection is sluiced behaviour')
    topic = 'idem'
    b = ctx.broker(topics={topic: 1})
    err, pid, epoch = init_producer_id(b)
    check_eq(err, ERR_NONE, 'InitProducerId error')
    check(pid >= 0, 'producer id %d' % pid)
    check_eq(epoch, 0, 'producer epoch')
    err2, pid2, _ = init_producer_id(b)
    check(err2 == ERR_NONE and pid2 != pid, 'second InitProducerId gave %d again' % pid2)

    b0 = idem_batch(pid, 0, 0, [b'a0', b'a1', b'a2'])
    b1 = idem_batch(pid, 0, 3, [b'b0', b'b1'])
    c = kwire.Conn(b.host, b.port)
    check_eq(produce(c, topic, b0), (ERR_NONE, 0), 'first batch')
    check_eq(produce(c, topic, b1), (ERR_NONE, 3), 'second batch')
    # the raw resend of an acknowledged batch: original offset, nothing appended
    check_eq(produce(c, topic, b0), (ERR_NONE, 0), 'resent first batch')
    check_eq(produce(c, topic, b1), (ERR_NONE, 3), 'resent second batch')
    check_eq(log_end(c, topic), 5, 'log end offset after resends')
    # refusals append nothing
    gap = idem_batch(pid, 0, 9, [b'gap'])
    check_eq(produce(c, topic, gap)[0], ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 'sequence gap')
    unknown = idem_batch(pid2 + 1000, 0, 4, [b'who'])
    check_eq(produce(c, topic, unknown)[0], ERR_UNKNOWN_PRODUCER_ID, 'unknown producer')
    newer = idem_batch(pid, 1, 0, [b'e1'])
    check_eq(produce(c, topic, newer), (ERR_NONE, 5), 'new epoch starting at 0')
    stale = idem_batch(pid, 0, 5, [b'stale'])
    check_eq(produce(c, topic, stale)[0], ERR_INVALID_PRODUCER_EPOCH, 'stale epoch')
    check_eq(log_end(c, topic), 6, 'log end offset after refusals')
    c.close()

    # after a restart (SIGKILL: no clean shutdown) the state comes back from the log
    b.kill()
    b.start()
    c = kwire.Conn(b.host, b.port)
    check_eq(produce(c, topic, newer), (ERR_NONE, 5), 'resent batch after restart')
    check_eq(produce(c, topic, stale)[0], ERR_INVALID_PRODUCER_EPOCH, 'stale epoch after restart')
    nxt = idem_batch(pid, 1, 1, [b'e1-next'])
    check_eq(produce(c, topic, nxt), (ERR_NONE, 6), 'next batch after restart')
    check_eq(log_end(c, topic), 7, 'log end offset after restart')
    c.close()
    # after a clean stop the state comes from the snapshot written at close
    b.stop()
    b.start()
    c = kwire.Conn(b.host, b.port)
    check_eq(produce(c, topic, nxt), (ERR_NONE, 6), 'resent batch after a clean restart')
    check_eq(produce(c, topic, b1)[0], ERR_INVALID_PRODUCER_EPOCH, 'old epoch after a clean restart')
    check_eq(log_end(c, topic), 7, 'log end offset after a clean restart')
    c.close()
    # and ids handed out before the restart are not handed out again
    err3, pid3, _ = init_producer_id(b)
    check(err3 == ERR_NONE and pid3 > pid2, 'producer id %d after restart reuses ids' % pid3)

    # a consumer sees every record once
    got = ck_consume(b.bootstrap, {topic: {0: 7}})
    vals = [r['v'] for r in sorted(got, key=lambda r: r['o'])]
    check_eq(vals, [b'a0', b'a1', b'a2', b'b0', b'b1', b'e1', b'e1-next'], 'records in the log')


@test
def an_idempotent_librdkafka_producer_writes_no_duplicates_across_a_broker_restart(ctx):
    ctx.need_sluiced('restart on the same data directory and port')
    topic = 'idem-ck'
    # durable: an append is written before its fdatasync and acknowledged after it, so a
    # SIGKILL in between leaves batches in the log that the producer must resend
    b = ctx.broker(topics={topic: 3}, overrides={'log.flush.durable': 'true'})
    # restart on the same port, so the producer reconnects by itself
    b.overrides['listeners'] = 'PLAINTEXT://127.0.0.1:%d' % b.port
    recs = make_records(60000, 3, seed=41, tag='idem', max_value=300)
    prod = ck_producer(b.bootstrap, 'lz4', {
        'enable.idempotence': True, 'message.timeout.ms': 120000, 'linger.ms': 2,
        'batch.num.messages': 500, 'reconnect.backoff.max.ms': 200,
        'queue.buffering.max.messages': 20000})
    errs = []
    acked = [0]

    def cb(err, msg):
        if err is not None:
            errs.append(err)
        else:
            acked[0] += 1

    restarted = threading.Event()
    at_kill = []

    def restart():
        at_kill.append(acked[0])
        b.kill()
        time.sleep(0.5)
        b.start()
        restarted.set()

    # kill once a third is acknowledged, while the producer keeps sending
    t = threading.Thread(target=restart)
    try:
        for r in recs:
            if not at_kill and acked[0] >= len(recs) // 3:
                t.start()
                while not at_kill:
                    time.sleep(0.001)
            while True:
                try:
                    prod.produce(topic, value=r['v'], key=r['k'], partition=r['p'],
                                 headers=list(r['h']) or None, on_delivery=cb)
                    break
                except BufferError:
                    prod.poll(0.05)
            prod.poll(0)
        left = prod.flush(150)
    finally:
        if t.ident is not None:
            t.join()
    check(restarted.is_set(), 'the broker was not restarted')
    if errs:
        raise TestFailure('delivery errors (%d), first: %s' % (len(errs), errs[0]))
    check_eq(left, 0, 'records not delivered')
    log('acked %d records, %d of them before the SIGKILL' % (acked[0], at_kill[0]))
    check(at_kill[0] < len(recs), 'every record was acknowledged before the restart: '
          'the test did not produce across it')
    got = ck_consume(b.bootstrap, {topic: counts(recs)}, timeout=60)
    compare(recs, got, 'records after a restart under an idempotent producer')


if __name__ == '__main__':
    harness.main(globals())
