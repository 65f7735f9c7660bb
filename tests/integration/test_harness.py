#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The harness's record comparison catches what the other tests rely on it to catch: a lost,
reordered, altered or duplicated record, changed headers, a null key turned empty."""
import harness
from harness import TestFailure, check, compare, make_records, test


def must_fail(expected, got, what):
    try:
        compare(expected, got, what)
    except TestFailure:
        return
    raise TestFailure('compare accepted %s' % what)


@test
def record_comparison_rejects_lost_reordered_altered_or_duplicated_records(ctx):
    recs = make_records(60, 3, seed=1)
    got = [dict(r, o=i // 3) for i, r in enumerate(recs)]
    compare(recs, got, 'identical')
    must_fail(recs, got[:-1], 'a lost record')
    must_fail(recs, got + [got[-1]], 'a duplicate')
    sw = list(got)
    sw[0], sw[3] = sw[3], sw[0]  # same partition, swapped
    must_fail(recs, sw, 'reordered records')
    for field, val in (('v', b'other'), ('k', b'other'), ('h', [('x', b'1')])):
        alt = list(got)
        alt[7] = dict(alt[7], **{field: val})
        must_fail(recs, alt, 'a changed %s' % field)
    nk = next(i for i, r in enumerate(recs) if r['k'] is None)
    alt = list(got)
    alt[nk] = dict(alt[nk], k=b'')
    must_fail(recs, alt, 'a null key turned empty')
    gap = [dict(r, o=(i // 3) * 2) for i, r in enumerate(recs)]
    must_fail(recs, gap, 'offsets with gaps')
    check(any(r['v'] == b'' for r in recs), 'generator makes no empty value')
    check(any(r['h'] for r in recs) and any(not r['h'] for r in recs), 'generator headers')


if __name__ == '__main__':
    harness.main(globals())
