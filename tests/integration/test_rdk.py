#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""librdkafka from C (rdk_roundtrip.c): keyed records with binary values and headers to a
3-partition topic, consumed back and checked for contents and per-partition order, once per
compression codec."""
import os

import harness
from harness import check, log, missing, run_cmd, test

CODECS = ('none', 'gzip', 'snappy', 'lz4', 'zstd')


@test
def a_librdkafka_program_reads_back_keyed_records_with_headers_in_partition_order(ctx):
    rdk = ctx.args.rdk
    if not rdk or not os.access(rdk, os.X_OK):
        missing('rdk_roundtrip', 'not built: meson found no librdkafka (librdkafka-dev)')
    b = ctx.broker(topics={'rdk-' + c: 3 for c in CODECS})
    for c in CODECS:
        res = run_cmd([rdk, b.bootstrap, 'rdk-' + c, '3000', c], timeout=120)
        out = res.stdout.decode()
        log(out.strip())
        check('rdk_roundtrip: ok 3000 records' in out, 'rdk_roundtrip did not report ok')


if __name__ == '__main__':
    harness.main(globals())
