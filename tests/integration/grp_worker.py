#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""One consumer-group member for tests/integration/test_groups.py, run as its own process so a
test can SIGKILL it.

    grp_worker.py ck|kp BOOTSTRAP GROUP TOPIC [conf-json]

ck = python3-confluent-kafka (librdkafka), kp = python3-kafka. Prints JSON lines to stdout,
flushed at once: {"a": [partitions]} after every assignment change, {"r": [[p, o], ...]} for
the records of each poll, {"c": true} after the final commit of a clean stop. SIGTERM: commit,
leave the group (close) and exit 0. Offsets are auto-committed (auto.commit.interval.ms in the
conf) and committed synchronously on revocation, so a rebalance does not redeliver."""
import json
import signal
import sys

stop = False


def on_term(*_):
    global stop
    stop = True


def out(d):
    sys.stdout.write(json.dumps(d) + '\n')
    sys.stdout.flush()


def run_ck(bs, group, topic, conf):
    import confluent_kafka as ck
    c = {'bootstrap.servers': bs, 'group.id': group, 'auto.offset.reset': 'earliest',
         'enable.auto.commit': True, 'auto.commit.interval.ms': 200,
         'session.timeout.ms': 6000, 'heartbeat.interval.ms': 500,
         'enable.partition.eof': False}
    c.update(conf)
    cons = ck.Consumer(c)
    owned = set()

    def on_assign(cs, parts):
        owned.update(p.partition for p in parts)
        out({'a': sorted(owned)})

    def on_revoke(cs, parts):
        try:
            cs.commit(asynchronous=False)
        except ck.KafkaException:
            pass
        owned.difference_update(p.partition for p in parts)
        out({'a': sorted(owned)})

    cons.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while not stop:
        ms = cons.consume(1000, 0.1)
        recs = [[m.partition(), m.offset()] for m in ms if not m.error()]
        if recs:
            out({'r': recs})
    try:
        cons.commit(asynchronous=False)
    except ck.KafkaException:
        pass
    cons.close()
    out({'c': True})


def run_kp(bs, group, topic, conf):
    import kafka
    c = dict(bootstrap_servers=bs, group_id=group, auto_offset_reset='earliest',
             enable_auto_commit=True, auto_commit_interval_ms=200, session_timeout_ms=6000,
             heartbeat_interval_ms=500)
    c.update(conf)
    cons = kafka.KafkaConsumer(**c)
    owned = set()

    class L(kafka.ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            try:
                cons.commit()
            except Exception:  # noqa: BLE001 - a failed commit only means redelivery
                pass
            owned.difference_update(tp.partition for tp in revoked)
            out({'a': sorted(owned)})

        def on_partitions_assigned(self, assigned):
            owned.clear()
            owned.update(tp.partition for tp in assigned)
            out({'a': sorted(owned)})

    cons.subscribe([topic], listener=L())
    while not stop:
        got = cons.poll(timeout_ms=100)
        recs = [[m.partition, m.offset] for ms in got.values() for m in ms]
        if recs:
            out({'r': recs})
    try:
        cons.commit()
    except Exception:  # noqa: BLE001
        pass
    cons.close()
    out({'c': True})


def main():
    signal.signal(signal.SIGTERM, on_term)
    kind, bs, group, topic = sys.argv[1:5]
    conf = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    {'ck': run_ck, 'kp': run_kp}[kind](bs, group, topic, conf)


if __name__ == '__main__':
    main()
