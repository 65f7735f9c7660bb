#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Cross-client: records produced by one client (with every compression codec it supports, keys,
null keys, headers, empty values, one record of nearly message.max.bytes, 3 partitions) are
consumed by every client (kcat, confluent-kafka, kafka-python, kafkajs) and compared record by
record: contents, per-partition order, counts."""
import harness
from harness import compare, counts, log, make_records, test
from clients import (CONSUME_CODECS, MAX_MSG, NAMES, PRODUCE_CODECS, PRODUCERS, consume_with,
                     need_kp_all_codecs)

CONSUMERS = ('kcat', 'ck', 'kp', 'kjs')
# A value this big, alone in its batch, stays under message.max.bytes with the batch and record
# overhead (61-byte batch header + record framing + key + header).
BIG = MAX_MSG - 1024


def cross(ctx, producer, n=120):
    need_kp_all_codecs()  # kafka-python consumes every codec below: fail loudly if it cannot
    codecs = PRODUCE_CODECS[producer]
    topics = {'x-%s-%s' % (producer, c): 3 for c in codecs}
    b = ctx.broker(topics=topics, overrides={'message.max.bytes': str(MAX_MSG)})
    datasets = {}
    for i, codec in enumerate(codecs):
        topic = 'x-%s-%s' % (producer, codec)
        recs = make_records(n, 3, seed=1000 * len(producer) + i,
                            headers='per_partition' if producer == 'kcat' else 'varied',
                            big_count=1 if codec in ('none', 'zstd', 'lz4') else 0,
                            big_size=BIG, tag='%s-%s' % (producer, codec))
        kw = {'tmpdir': ctx.tmp} if producer == 'kcat' else {}
        PRODUCERS[producer](b.bootstrap, topic, recs, codec, **kw)
        datasets[topic] = (codec, recs)
    for consumer in CONSUMERS:
        want = {t: counts(r) for t, (c, r) in datasets.items() if c in CONSUME_CODECS[consumer]}
        got = consume_with(consumer, b.bootstrap, want)
        for t in want:
            codec, recs = datasets[t]
            compare(recs, [r for r in got if r['t'] == t],
                    '%s -> %s (%s)' % (NAMES[producer], NAMES[consumer], codec))
    log('%s: %d codecs x %d consumers ok' % (NAMES[producer], len(codecs), len(CONSUMERS)))


@test
def records_from_kcat_with_every_codec_read_back_identically_by_every_client(ctx):
    cross(ctx, 'kcat')


@test
def records_from_confluent_kafka_with_every_codec_read_back_identically_by_every_client(ctx):
    cross(ctx, 'ck')


@test
def records_from_kafka_python_with_every_codec_read_back_identically_by_every_client(ctx):
    cross(ctx, 'kp')


@test
def records_from_kafkajs_with_every_codec_read_back_identically_by_every_client(ctx):
    cross(ctx, 'kjs')


if __name__ == '__main__':
    harness.main(globals())
