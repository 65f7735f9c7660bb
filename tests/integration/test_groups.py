#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Consumer groups through real clients (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
OffsetCommit/Fetch, LeaveGroup). The first two also pass against librdkafka's mock cluster
(suite 'integration-mock'). The multi-member flows run each member as its own process
(grp_worker.py for confluent-kafka and kafka-python, js/grp_worker.js for kafkajs) so a member
can be SIGKILLed; the broker runs with group.initial.rebalance.delay.ms=0 and a fixed port (so
members find it again after a restart)."""
import json
import os
import signal
import subprocess
import threading
import time

import harness
from harness import check, compare, counts, log, make_records, test
from clients import (ck_consume, ck_produce, kjs_consume, kjs_produce, kp_admin, need_ck, need_kp,
                     need_node)

TOPIC = 'grp'


@test
def a_kafkajs_group_consumer_receives_every_record_in_partition_order(ctx):
    b = ctx.broker(topics={TOPIC: 3})
    recs = make_records(150, 3, seed=51, tag='grp')
    kjs_produce(b.bootstrap, TOPIC, recs, 'gzip')
    compare(recs, kjs_consume(b.bootstrap, {TOPIC: counts(recs)}, group=True),
            'kafkajs group consumer')


@test
def a_confluent_kafka_group_consumer_receives_every_record_in_partition_order(ctx):
    b = ctx.broker(topics={TOPIC: 3})
    recs = make_records(150, 3, seed=52, tag='grp')
    ck_produce(b.bootstrap, TOPIC, recs, 'zstd')
    compare(recs, ck_consume(b.bootstrap, {TOPIC: counts(recs)}, group=True),
            'confluent-kafka group consumer')


# ---------------------------------------------------------------------------------------------
# Multi-member flows
# ---------------------------------------------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
FLOW_TOPIC = 'grp6'
SESSION_S = 6  # the workers' session.timeout.ms


class Member:
    """One group member process; its output is parsed as it arrives."""

    def __init__(self, ctx, kind, bs, group, name, conf=None):
        self.name = name
        if kind == 'kjs':
            node = need_node()
            argv = [node, os.path.join(HERE, 'js', 'grp_worker.js'), bs, group, FLOW_TOPIC]
        else:
            argv = ['/usr/bin/python3', os.path.join(HERE, 'grp_worker.py'), kind, bs, group,
                    FLOW_TOPIC, json.dumps(conf or {})]
        self.errf = open(ctx.path('%s.stderr' % name), 'w')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True)
        self.lock = threading.Lock()
        self.assign = []
        self.assigned_at = None
        self.recs = []
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                if 'a' in d:
                    self.assign = list(d['a'])
                    self.assigned_at = time.monotonic()
                elif 'r' in d:
                    self.recs.extend(tuple(x) for x in d['r'])
                elif 'c' in d:
                    self.closed = True

    def alive(self):
        return self.proc.poll() is None

    def snapshot(self):
        with self.lock:
            return list(self.assign), list(self.recs)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        log('%s SIGKILLed' % self.name)

    def term(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout=10):
        """After term(): waits for a clean exit (close leaves the group), else kills."""
        self.term()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log('%s did not stop within %ds of SIGTERM; killed' % (self.name, timeout))
            self.proc.kill()
            self.proc.wait(10)
        self.thread.join(5)
        self.errf.close()


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise harness.TestFailure('timed out after %ds waiting for %s' % (timeout, what))


def assignments_complete(members, nparts=6):
    """Every live member owns at least one partition, no partition twice, all covered."""
    seen = []
    for m in members:
        a, _ = m.snapshot()
        if not a:
            return False
        seen += a
    return sorted(seen) == list(range(nparts))


def describe(bs, group):
    """(state, members, protocol) of group, by kafka-python's admin (DescribeGroups)."""
    adm = kp_admin(bs)
    try:
        g = adm.describe_consumer_groups([group])[0]
        return g.state, len(g.members), g.protocol
    finally:
        adm.close()


def produce_phase(bs, n, seed, tag):
    recs = make_records(n, 6, seed=seed, headers='none', max_value=40, tag=tag)
    acks = ck_produce(bs, FLOW_TOPIC, recs)
    return set(acks)


def consumed(members):
    out = []
    for m in members:
        out += m.snapshot()[1]
    return out


def group_flow(ctx, kind, upto, confs=None, protocol=None):
    """The consumer-group flow of the issue, stages 1..upto:
    1 three members share 6 partitions and read 30,000 records exactly once, each member some;
    2 one member is SIGKILLed: its partitions move to the others after the session timeout,
      and nothing produced afterwards is lost;
    3 a new member joins and resumes from the committed offsets (reads nothing old);
    4 the broker restarts: the members rejoin and resume from the committed offsets."""
    ctx.need_sluiced('SIGKILL of members, broker restart, fixed port')
    if kind == 'ck':
        need_ck()
    elif kind == 'kp':
        need_kp()
    need_ck()  # the producer
    port = harness.free_port()
    b = ctx.broker(overrides={'group.initial.rebalance.delay.ms': '0',
                              'listeners': 'PLAINTEXT://127.0.0.1:%d' % port},
                   topics={FLOW_TOPIC: 6})
    bs = b.bootstrap
    group = 'flow-%s-%d' % (kind, os.getpid())
    confs = confs or [{}] * 4
    members = [Member(ctx, kind, bs, group, '%s-m%d' % (kind, i), confs[i]) for i in range(3)]
    everyone = list(members)
    try:
        wait_for(lambda: assignments_complete(members), 60, '3 members to share 6 partitions')
        log('assignments: %s' % [m.snapshot()[0] for m in members])
        last = []

        def stable3():
            last[:] = [describe(bs, group)]
            return last[0][:2] == ('Stable', 3)
        wait_for(stable3, 20, 'DescribeGroups to show Stable with 3 members')
        check(not protocol or last[0][2] == protocol,
              'DescribeGroups: %s, want protocol %s' % (last[0], protocol))
        wait_for(lambda: assignments_complete(members), 20, 'the members to own 6 partitions')
        want = produce_phase(bs, 30000, 61, 'p1')
        wait_for(lambda: want <= set(consumed(members)), 90, 'the 30,000 records')
        time.sleep(0.5)
        got = consumed(members)
        check(len(got) == len(set(got)) == 30000,
              'exactly once: %d records read, %d distinct, 30000 produced' %
              (len(got), len(set(got))))
        for m in members:
            a, r = m.snapshot()
            check(a and r, '%s got partitions %s and %d records' % (m.name, a, len(r)))
        log('stage 1: 30000 records read exactly once by %s' %
            [len(m.snapshot()[1]) for m in members])
        if upto < 2:
            return
        time.sleep(1)  # auto-commit interval 200 ms: the offsets are committed
        victim = members.pop(0)
        lost_parts = victim.snapshot()[0]
        victim.kill()
        t_kill = time.monotonic()
        want = produce_phase(bs, 3000, 62, 'p2')
        wait_for(lambda: assignments_complete(members), SESSION_S + 30,
                 'the survivors to take over partitions %s' % lost_parts)
        moved_after = time.monotonic() - t_kill
        wait_for(lambda: want <= set(consumed(members)), 60, 'the 3,000 records after the kill')
        log('stage 2: partitions %s moved %.1f s after the SIGKILL; nothing lost' %
            (lost_parts, moved_after))
        if upto < 3:
            return
        time.sleep(1)
        before = {p: 0 for p in range(6)}
        for p, o in consumed(everyone):
            before[p] = max(before[p], o + 1)
        newbie = Member(ctx, kind, bs, group, '%s-m3' % kind, confs[3])
        members.append(newbie)
        everyone.append(newbie)
        wait_for(lambda: assignments_complete(members), SESSION_S + 60,
                 'the new member to get partitions')
        want = produce_phase(bs, 3000, 63, 'p3')
        wait_for(lambda: want <= set(consumed(members)), 60, 'the 3,000 records of stage 3')
        a, r = newbie.snapshot()
        old = [(p, o) for p, o in r if o < before[p]]
        check(r and not old, 'the new member (partitions %s) resumes from the committed offsets: '
              '%d records, %d of them older than the committed offsets %s' %
              (a, len(r), len(old), before))
        log('stage 3: new member got %s and %d records, none already consumed' % (a, len(r)))
        if upto < 4:
            return
        time.sleep(1)
        before = {p: 0 for p in range(6)}
        for p, o in consumed(everyone):
            before[p] = max(before[p], o + 1)
        mark = {m.name: len(m.snapshot()[1]) for m in members}
        b.stop()
        b.start()
        check(b.bootstrap == bs, 'restarted on the same address (%s, was %s)' % (b.bootstrap, bs))
        want = produce_phase(bs, 3000, 64, 'p4')
        wait_for(lambda: want <= set(consumed(members)), SESSION_S + 60,
                 'the members to rejoin and read the 3,000 records after the restart')
        wait_for(lambda: assignments_complete(members), SESSION_S + 30,
                 'every member to own partitions again')
        again = []
        for m in members:
            again += [(p, o) for p, o in m.snapshot()[1][mark[m.name]:] if o < before[p]]
        check(not again, 'after the restart the members resume from the committed offsets: '
              '%d records re-read, first %s' % (len(again), again[:5]))
        wait_for(lambda: describe(bs, group)[:2] == ('Stable', 3), SESSION_S + 30,
                 'the group to be Stable with 3 members again after the restart')
        log('stage 4: members rejoined %s, resumed from the committed offsets' %
            [m.snapshot()[0] for m in members])
    finally:
        for m in everyone:
            m.term()
        for m in everyone:
            m.stop()


@test
def three_confluent_kafka_members_share_six_partitions_and_read_30000_records_exactly_once(ctx):
    group_flow(ctx, 'ck', 1)


@test
def a_sigkilled_confluent_kafka_members_partitions_move_to_the_others_and_nothing_is_lost(ctx):
    group_flow(ctx, 'ck', 2)


@test
def a_new_confluent_kafka_member_resumes_from_the_committed_offsets(ctx):
    group_flow(ctx, 'ck', 3)


@test
def after_a_broker_restart_confluent_kafka_members_rejoin_and_resume_from_committed_offsets(ctx):
    group_flow(ctx, 'ck', 4)


def ck_assignor(name):
    return {'partition.assignment.strategy': name}


@test
def confluent_kafka_members_with_the_roundrobin_assignor_share_and_take_over_partitions(ctx):
    group_flow(ctx, 'ck', 2, [ck_assignor('roundrobin')] * 4, 'roundrobin')


@test
def confluent_kafka_members_with_the_cooperative_sticky_assignor_share_and_take_over(ctx):
    group_flow(ctx, 'ck', 3, [ck_assignor('cooperative-sticky')] * 4, 'cooperative-sticky')


@test
def the_coordinator_picks_the_protocol_every_member_supports(ctx):
    # member 0 prefers range, the others only know roundrobin: roundrobin is chosen
    confs = [ck_assignor('range,roundrobin')] + [ck_assignor('roundrobin')] * 3
    group_flow(ctx, 'ck', 1, confs, 'roundrobin')


@test
def the_group_flow_works_with_kafka_python_members(ctx):
    group_flow(ctx, 'kp', 4)


@test
def the_group_flow_works_with_kafkajs_members(ctx):
    group_flow(ctx, 'kjs', 4)


if __name__ == '__main__':
    harness.main(globals())
