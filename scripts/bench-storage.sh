#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Storage benchmark against fio on the same filesystem, in the same run (`make bench`).
#
#   scripts/bench-storage.sh BUILD_DIR
#
# Alternates fio and sluice (A B A B ..., ROUNDS times; the machine is noisy) and reports
# medians:
#   no-fsync   fio: sequential 1 MiB writes, ioengine=io_uring, direct=1, iodepth=FIO_DEPTH
#              sluice: BM_append 1 MiB (and 16 KiB) batches, one log, no fsync, O_DIRECT
#              (store option direct_nondurable, as fio's direct=1)
#   page cache fio: the same with direct=0; sluice: no fsync through the page cache (the
#              broker's default for non-durable logs); both measure acknowledged writes
#   durable    fio: sequential 1 MiB writes + fdatasync after each, LOGS jobs (one file each)
#              sluice: BM_append 1 MiB (and 16 KiB) batches, LOGS logs, durable group commit
#   latency    fio: 4 KiB write + fdatasync (psync); sluice: one 16 KiB durable append in
#              flight (write + fdatasync through io_uring)
#   reads      sluice only: tail cache and O_DIRECT disk reads
# and sluice's append throughput as a ratio of fio's sequential write throughput (the
# device's no-fsync bandwidth): targets >= 0.9 no-fsync, >= 0.8 durable with concurrent
# appenders (group commit should make durability cost < 20%). The durable numbers are also
# shown against fio's write + fdatasync of every 1 MiB (what durability costs without group
# commit). Not pass/fail: it prints numbers.
#
# Knobs (environment): ROUNDS (3), BYTES per run (1 GiB), SMALL_BYTES for 16 KiB batches
# (BYTES/4), LOGS (4), FIO_DEPTH (4), OUT (also write the report to this file).
# Data goes to bench/results/tmp/ under the repository (a disk, unlike a tmpfs /tmp) and is
# removed at exit.
set -euo pipefail

build=${1:?usage: scripts/bench-storage.sh BUILD_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$PWD/$build ;; esac
bench=$build/bench/micro/bench_micro
rounds=${ROUNDS:-3}
bytes=${BYTES:-$((1 << 30))}
small_bytes=${SMALL_BYTES:-$((bytes / 4))}
logs=${LOGS:-4}
fio_depth=${FIO_DEPTH:-4}
py=/usr/bin/python3

[[ -x $bench ]] || { echo "bench-storage: $bench not built (needs libbenchmark-dev, -Dbench)" >&2; exit 1; }
command -v fio >/dev/null || { echo "bench-storage: fio not installed (scripts/deps.sh bench)" >&2; exit 1; }

data=$repo/bench/results/tmp/storage.$$
mkdir -p "$data"
report=$(mktemp)
trap 'rm -rf "$data" "$report"' EXIT

say() { printf '%s\n' "$*" | tee -a "$report"; }

# ---- environment ----
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
fstype=$(findmnt -n -o FSTYPE -T "$data" 2>/dev/null || stat -f -c %T "$data")
dev=$(df --output=source "$data" | tail -1)
say "bench-storage $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "  cpu:      $cpu ($(nproc) cpus)"
say "  kernel:   $(uname -r)"
say "  fs:       $fstype on $dev ($data)"
say "  liburing: $(pkg-config --modversion liburing 2>/dev/null || echo ?)  dpdk: $(pkg-config --modversion libdpdk 2>/dev/null || echo none)  fio: $(fio --version)"
say "  nic:      not used (storage only)"
say "  runs:     rounds=$rounds bytes=$bytes small_bytes=$small_bytes logs=$logs fio_iodepth=$fio_depth"

# ---- runners: each prints one number ----
fio_json() { fio --output-format=json "$@" 2>/dev/null; }

# MB/s (10^6 bytes) of the writes of a fio job.
fio_mbps() {
	fio_json "$@" | $py -c 'import json,sys; j=json.load(sys.stdin)["jobs"]; print("%.1f" % (sum(x["write"]["bw_bytes"] for x in j) / 1e6))'
}

fio_seq() {
	fio_mbps --name=seq --directory="$data" --rw=write --bs=1M --size="$bytes" \
		--ioengine=io_uring --direct=1 --iodepth="${1:-$fio_depth}" --end_fsync=0
	rm -f "$data"/seq.*
}

fio_buffered() {
	fio_mbps --name=buf --directory="$data" --rw=write --bs=1M --size="$bytes" \
		--ioengine=io_uring --direct=0 --iodepth="$fio_depth" --end_fsync=0
	rm -f "$data"/buf.*
	sync -f "$data" 2>/dev/null || sync
}

fio_durable() {
	fio_mbps --name=durable --directory="$data" --rw=write --bs=1M --size=$((bytes / logs)) \
		--numjobs="$logs" --ioengine=io_uring --direct=1 --iodepth=1 --fdatasync=1 \
		--group_reporting=0
	rm -f "$data"/durable.*
}

# "p50 p99 mean" in us of a 4 KiB write + its fdatasync.
fio_fsync_lat() {
	fio_json --name=lat --directory="$data" --rw=write --bs=4k --size=32M --ioengine=psync \
		--fdatasync=1 | $py -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
w, s = j["write"]["clat_ns"], j["sync"]["lat_ns"]
pct = lambda d, k: d.get("percentile", {}).get(k, 0) / 1e3
print("%.1f %.1f %.1f" % (pct(w, "50.000000") + pct(s, "50.000000"),
                          pct(w, "99.000000") + pct(s, "99.000000"),
                          (w["mean"] + s["mean"]) / 1e3))'
	rm -f "$data"/lat.*
}

# Runs bench_micro benchmarks matching $1 and prints field $2 of each, one per line.
sluice_bench() {
	local filter=$1 field=$2 n=${3:-$bytes}
	shift 3 || true
	SLUICE_BENCH_DIR=$data SLUICE_BENCH_BYTES=$n "$bench" --benchmark_filter="$filter" \
		--benchmark_format=json "$@" 2>/dev/null | $py -c '
import json, sys
field = sys.argv[1]
for b in json.load(sys.stdin)["benchmarks"]:
    if b.get("error_occurred"):
        print("error:", b.get("error_message"), file=sys.stderr); print("nan"); continue
    v = b[field]
    print("%.1f" % (v / 1e6 if field.endswith("_per_second") else v))' "$field"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

declare -a f_seq f_seq1 s_1m s_16k f_buf s_1m_pc s_16k_pc f_dur s_1m_dur s_16k_dur
for ((r = 1; r <= rounds; r++)); do
	f_seq+=("$(fio_seq)")
	s_1m+=("$(sluice_bench '^BM_append/bytes:1048576/durable:0/logs:1/direct:1/' bytes_per_second "$bytes")")
	f_seq1+=("$(fio_seq 1)")
	s_16k+=("$(sluice_bench '^BM_append/bytes:16384/durable:0/logs:1/direct:1/' bytes_per_second "$small_bytes")")
	f_buf+=("$(fio_buffered)")
	s_1m_pc+=("$(sluice_bench '^BM_append/bytes:1048576/durable:0/logs:1/direct:0/' bytes_per_second "$bytes")")
	s_16k_pc+=("$(sluice_bench '^BM_append/bytes:16384/durable:0/logs:1/direct:0/' bytes_per_second "$small_bytes")")
	sync -f "$data" 2>/dev/null || sync
	f_dur+=("$(fio_durable)")
	s_1m_dur+=("$(sluice_bench "^BM_append/bytes:1048576/durable:1/logs:$logs/" bytes_per_second "$bytes")")
	s_16k_dur+=("$(sluice_bench "^BM_append/bytes:16384/durable:1/logs:$logs/" bytes_per_second "$small_bytes")")
	say "  round $r: fio seq qd$fio_depth ${f_seq[-1]} qd1 ${f_seq1[-1]} | sluice 1M ${s_1m[-1]} 16K ${s_16k[-1]} | fio buffered ${f_buf[-1]} | sluice page cache 1M ${s_1m_pc[-1]} 16K ${s_16k_pc[-1]} | fio fdatasync x$logs ${f_dur[-1]} | sluice durable x$logs 1M ${s_1m_dur[-1]} 16K ${s_16k_dur[-1]} (MB/s)"
done

m_f_seq=$(median "${f_seq[@]}")
m_f_seq1=$(median "${f_seq1[@]}")
m_s_1m=$(median "${s_1m[@]}")
m_s_16k=$(median "${s_16k[@]}")
m_f_buf=$(median "${f_buf[@]}")
m_s_1m_pc=$(median "${s_1m_pc[@]}")
m_s_16k_pc=$(median "${s_16k_pc[@]}")
m_f_dur=$(median "${f_dur[@]}")
m_s_1m_dur=$(median "${s_1m_dur[@]}")
m_s_16k_dur=$(median "${s_16k_dur[@]}")

read -r fio_p50 fio_p99 fio_mean < <(fio_fsync_lat)
lat_json=$(SLUICE_BENCH_DIR=$data "$bench" --benchmark_filter='^BM_append_latency/bytes:16384/durable:1' \
	--benchmark_min_time=2 --benchmark_format=json 2>/dev/null)
read -r sl_p50 sl_p99 sl_p999 < <($py -c '
import json, sys
b = json.loads(sys.argv[1])["benchmarks"][0]
print("%.1f %.1f %.1f" % (b["p50_us"], b["p99_us"], b["p999_us"]))' "$lat_json")
read_tail=$(sluice_bench '^BM_read_tail' items_per_second "$bytes" --benchmark_min_time=1)
read_disk=$(sluice_bench '^BM_read_disk' bytes_per_second "$bytes")

say ""
say "append throughput, median of $rounds (MB/s = 10^6 B/s)      fio    sluice   ratio  target"
say "  no-fsync, 1 MiB batches, 1 log               $(printf '%8s %8s %7s' "$m_f_seq" "$m_s_1m" "$(ratio "$m_s_1m" "$m_f_seq")")  >= 0.9"
say "    (fio at iodepth 1 instead of $fio_depth: $m_f_seq1, ratio $(ratio "$m_s_1m" "$m_f_seq1"))"
say "  no-fsync, 16 KiB batches, 1 log              $(printf '%8s %8s %7s' "$m_f_seq" "$m_s_16k" "$(ratio "$m_s_16k" "$m_f_seq")")"
say "  page cache, 1 MiB batches, 1 log vs buffered $(printf '%8s %8s %7s' "$m_f_buf" "$m_s_1m_pc" "$(ratio "$m_s_1m_pc" "$m_f_buf")")"
say "  page cache, 16 KiB batches, 1 log vs buffered$(printf '%8s %8s %7s' "$m_f_buf" "$m_s_16k_pc" "$(ratio "$m_s_16k_pc" "$m_f_buf")")"
say "  durable, 1 MiB batches, $logs logs vs fio seq     $(printf '%8s %8s %7s' "$m_f_seq" "$m_s_1m_dur" "$(ratio "$m_s_1m_dur" "$m_f_seq")")  >= 0.8"
say "  durable, 16 KiB batches, $logs logs vs fio seq    $(printf '%8s %8s %7s' "$m_f_seq" "$m_s_16k_dur" "$(ratio "$m_s_16k_dur" "$m_f_seq")")"
say "  durable, 1 MiB, $logs logs vs fio fdatasync/1MiB x$logs $(printf '%8s %8s %7s' "$m_f_dur" "$m_s_1m_dur" "$(ratio "$m_s_1m_dur" "$m_f_dur")")"
say "  durable, 16 KiB, $logs logs vs fio fdatasync/1MiB x$logs $(printf '%7s %8s %7s' "$m_f_dur" "$m_s_16k_dur" "$(ratio "$m_s_16k_dur" "$m_f_dur")")"
say "durable latency (us)                     p50      p99"
say "  fio 4 KiB write + fdatasync         $(printf '%8s %8s' "$fio_p50" "$fio_p99")"
say "  sluice 16 KiB durable append        $(printf '%8s %8s' "$sl_p50" "$sl_p99")  (p99.9 $sl_p999)"
say "reads (sluice): tail cache ${read_tail}M reads/s (zero-copy), disk ${read_disk} MB/s (O_DIRECT, 1 MiB, 8 in flight)"
say "bench-storage fio_seq_mbps=$m_f_seq sluice_nofsync_1m_mbps=$m_s_1m sluice_nofsync_16k_mbps=$m_s_16k ratio_nofsync=$(ratio "$m_s_1m" "$m_f_seq") fio_seq_qd1_mbps=$m_f_seq1 fio_buffered_mbps=$m_f_buf sluice_pagecache_1m_mbps=$m_s_1m_pc sluice_pagecache_16k_mbps=$m_s_16k_pc fio_durable_mbps=$m_f_dur sluice_durable_1m_mbps=$m_s_1m_dur sluice_durable_16k_mbps=$m_s_16k_dur ratio_durable=$(ratio "$m_s_1m_dur" "$m_f_seq") ratio_durable_vs_fio_fdatasync=$(ratio "$m_s_1m_dur" "$m_f_dur") fio_fsync4k_p50_us=$fio_p50 fio_fsync4k_p99_us=$fio_p99 sluice_durable16k_p50_us=$sl_p50 sluice_durable16k_p99_us=$sl_p99 read_tail_mreads_per_s=$read_tail read_disk_mbps=$read_disk"
if [[ -n ${OUT:-} ]]; then
	cp "$report" "$OUT"
fi
