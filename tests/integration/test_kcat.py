#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""kcat (librdkafka 2.0.2): metadata with -L, produce from a file with keys (-K) and headers (-H),
consume back with -J and compare."""
import harness
from harness import check, check_eq, compare, counts, log, make_records, test
from clients import kcat_consume, kcat_metadata, kcat_produce


@test
def kcat_metadata_lists_this_broker_and_a_created_topic(ctx):
    b = ctx.broker(topics={'meta3': 3})
    md = kcat_metadata(b.bootstrap)
    log('metadata: %s' % md)
    brokers = md.get('brokers') or []
    check(len(brokers) >= 1, 'no broker in metadata')
    check(any(br['name'] == b.bootstrap or br['name'].startswith(b.bootstrap) or
              br['name'].endswith(':%d' % b.port) for br in brokers),
          'metadata does not advertise %s: %s' % (b.bootstrap, brokers))
    ts = {t['topic']: t for t in md.get('topics') or []}
    check('meta3' in ts, 'topic meta3 missing from metadata: %s' % sorted(ts))
    parts = ts['meta3']['partitions']
    check_eq(sorted(p['partition'] for p in parts), [0, 1, 2], 'meta3 partitions')
    ids = {br['id'] for br in brokers}
    for p in parts:
        check(p['leader'] in ids, 'partition %d leader %r not a listed broker' %
              (p['partition'], p['leader']))


@test
def kcat_produces_keys_and_headers_from_a_file_and_consumes_them_back_unchanged(ctx):
    codecs = ('none', 'gzip', 'snappy', 'lz4', 'zstd')
    b = ctx.broker(topics={'kc-' + c: 3 for c in codecs})
    for i, codec in enumerate(codecs):
        topic = 'kc-' + codec
        recs = make_records(150, 3, seed=100 + i, headers='per_partition',
                            tag='kcat-' + codec)
        kcat_produce(b.bootstrap, topic, recs, codec, tmpdir=ctx.tmp)
        got = kcat_consume(b.bootstrap, topic, counts(recs))
        compare(recs, got, 'kcat -> kcat %s' % codec)


if __name__ == '__main__':
    harness.main(globals())
