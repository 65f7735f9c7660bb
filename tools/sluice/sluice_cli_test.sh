#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end test of the `sluice` CLI: `log verify` passes on real partition directories
# written by the engine (plain and compacted) and fails, naming file and byte position, on
# each kind of damage; `log dump` lists every batch and record; `perf produce|consume|e2e`
# run against librdkafka's mock cluster and print a parseable summary.
# Usage: sluice_cli_test.sh SLUICE MKLOG
set -euo pipefail
sluice=$1
mklog=$2
work=$(mktemp -d "${PWD}/sluice-cli-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0

pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_rc WANT CMD...: runs CMD, keeps its output in $out, checks the exit status.
expect_rc() {
	local want=$1 rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if [[ $rc -ne $want ]]; then
		fail "'$*' exited $rc, want $want"
		printf '%s\n' "$out" | tail -20
		return 1
	fi
	return 0
}

contains() {
	if grep -qF -- "$2" <<<"$out"; then pass "$1"; else
		fail "$1: output lacks '$2'"
		printf '%s\n' "$out" | tail -20
	fi
}

root=$work/logs
made=$("$mklog" "$root")
echo "$made"
records0=$(sed -n 's/^orders-0 records=\([0-9]*\).*/\1/p' <<<"$made")

# -- clean logs --
expect_rc 0 "$sluice" log verify "$root" && contains "verify passes a clean root" "2 partitions"
contains "verify says clean" "0 errors"
nseg=$(ls "$root/orders-0"/*.log | wc -l)
[[ $nseg -ge 5 ]] && pass "the plain log has $nseg segments" || fail "want >= 5 segments, got $nseg"
[[ -f $root/orders-1/cleaner-offset-checkpoint ]] && pass "compaction wrote its checkpoint" ||
	fail "no cleaner-offset-checkpoint in the compacted partition"
expect_rc 0 "$sluice" log verify "$root/orders-1" && contains "verify passes a compacted log" "(clean)"

expect_rc 0 "$sluice" log dump --records "$root/orders-0" || true
for codec in none gzip snappy lz4 zstd; do
	contains "dump shows codec $codec" "crc=ok codec=$codec"
done
contains "dump shows producer fields" "producer_id=-1 producer_epoch=-1 base_sequence=-1"
contains "dump shows record keys" 'key="key-'
contains "dump shows headers" "headers=1"
contains "dump shows tombstones" "value_len=-1"
contains "dump lists indexes" "entries="
nrec=$(grep -c '^    offset=' <<<"$out" || true)
[[ $nrec -eq $records0 ]] && pass "dump lists all $nrec records" || fail "dump listed $nrec records, want $records0"

# -- damage, one kind at a time, each on a fresh copy --
fresh() { rm -rf "$work/d"; cp -a "$root/orders-0" "$work/d"; }
seg2=$(basename "$(ls "$root/orders-0"/*.log | sed -n 2p)")

fresh
printf '\xff' | dd of="$work/d/$seg2" bs=1 seek=100 conv=notrunc status=none
expect_rc 1 "$sluice" log verify "$work/d" && contains "a flipped byte is a CRC error at its batch" "$seg2:0: error"
contains "the CRC error is named" "CRC"

fresh
size=$(stat -c %s "$work/d/$seg2")
truncate -s $((size - 7)) "$work/d/$seg2"
expect_rc 1 "$sluice" log verify "$work/d" && contains "a torn tail is reported" "torn tail"

fresh
truncate -s $((size + 4096)) "$work/d/$seg2"
expect_rc 0 "$sluice" log verify "$work/d" && contains "zero padding is only a warning" "zero padding"

fresh
idx=${seg2%.log}.index
if [[ -s $work/d/$idx ]]; then
	printf '\x00\x00\x00\x01\x00\x00\x00\x05' | dd of="$work/d/$idx" bs=1 seek=0 conv=notrunc status=none
	expect_rc 1 "$sluice" log verify "$work/d" && contains "a bad index entry is reported" "$idx:0: error"
else
	fail "segment $seg2 has no index entries to damage"
fi

fresh
tidx=${seg2%.log}.timeindex
printf '\x7f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' | dd of="$work/d/$tidx" bs=1 seek=0 conv=notrunc status=none
expect_rc 1 "$sluice" log verify "$work/d" && contains "a bad time index entry is reported" "$tidx:0: error"

fresh
mv "$work/d/$seg2" "$work/d/00000000000000099999.log"
expect_rc 1 "$sluice" log verify "$work/d" && contains "a misnamed segment is reported" "named 99999"

fresh
rm "$work/d/$seg2"
expect_rc 1 "$sluice" log verify "$work/d" && contains "a missing segment is an offset gap" "offset gap"

expect_rc 2 "$sluice" log verify "$work/nonexistent" && pass "a missing directory is a usage error"
expect_rc 2 "$sluice" log frobnicate "$root" && pass "an unknown subcommand is a usage error"

# -- perf against librdkafka's mock cluster --
if "$sluice" perf --help >/dev/null 2>&1; then
	expect_rc 0 "$sluice" perf produce --mock --count 20000 --size 200 --quiet &&
		contains "perf produce delivers every record" "records=20000 " &&
		contains "perf produce has no errors" "errors=0"
	line=$(grep '^sluice-perf ' <<<"$out" || true)
	for k in records_per_s mb_per_s p50_us p99_us p999_us max_us; do
		grep -qE "(^| )$k=[0-9.]+( |$)" <<<"$line" && pass "summary has $k" || fail "summary lacks $k: $line"
	done
	expect_rc 0 "$sluice" perf e2e --mock --count 4000 --rate 4000 --size 64 --partitions 3 --quiet &&
		contains "perf e2e consumes every record with a latency" "latency_samples=4000 "
	expect_rc 0 "$sluice" perf consume --mock --count 3000 --size 100 --compression lz4 --quiet &&
		contains "perf consume reads what the topic holds" "records=3000 "
	expect_rc 0 "$sluice" perf produce --mock --duration 1s --rate 2000 --acks 1 --quiet &&
		contains "perf produce --duration keeps the schedule" "rate=2000"
	expect_rc 2 "$sluice" perf produce --count 5 --duration 1s && pass "perf rejects --count with --duration"
else
	echo "skip: this sluice has no perf (built without librdkafka)"
fi

if [[ $fails -ne 0 ]]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
