#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Broker benchmark, one command, every figure from the same run:
#
#   scripts/bench-broker.sh BUILD_DIR [SECONDS]      (SECONDS per measurement, default 10)
#
#  1. iperf3: single-stream TCP throughput over loopback (the ceiling for one connection), and
#     two floors of the broker's CPU per GB: the iperf3 server's own CPU per GB received (what
#     the kernel's TCP receive costs), and fio's CPU per GB of buffered sequential writes into
#     the data directory's page cache (what a non-durable log's write costs).
#  2. sluice produce throughput: `sluice perf produce` (librdkafka) into sluiced, 1 KiB records,
#     acks=1, one partition, as fast as it goes; printed as a ratio of the iperf3 figure.
#  3. The broker's CPU seconds per GB ingested during (2): utime+stime of the sluiced process
#     from /proc/PID/stat before and after, over the record bytes the client had acknowledged.
#  5. For reference, (2) and (4) against librdkafka's mock cluster (tests/support/mockbroker) when
#     built: same client, same pinning, but memory only.
#  4. Produce latency percentiles at a fixed 10k records/s (open loop, acks=1, 1 KiB), once with
#     client linger.ms=0 (one request per record) and once with librdkafka's default 5 ms.
#  6. (2), (3) and (4) again with our own client instead of librdkafka: bench/load/sl-load
#     --backend kafka-raw (bench/load/kraw.c: Produce v7 over a plain socket, BENCH_RAW_INFLIGHT
#     requests in flight, default 32, up to BENCH_RAW_BATCH records per request, default 64);
#     throughput also with BENCH_RAW_BATCH_BIG (default 512) records per request; latency once
#     with one record per request (--batch 1) and once with its natural batching (whatever is
#     due when it sends, up to 64). Also against the mock in (5). Skipped with a
#     note when sl-load is not built (ninja -C BUILD bench/load/sl-load).
# Every figure line names its client in [client: ...].
#
# With >= 2 cores the broker (and iperf3's server) run on core 0 and the clients on core 1
# (taskset). Data goes to a directory under the repo (bench/results/tmp/, not /tmp, which may
# be tmpfs) that is removed afterwards. The machine is noisy: compare figures within one run.
# Env: BENCH_RATE (default 10000) for (4); BENCH_KEEP=1 keeps the data directory and logs;
# BENCH_PIN=0 runs without taskset (the broker's io_uring io-wq workers inherit its one-core
# mask when pinned, which showed in the linger.ms=0 latency figure: compare both).
# BENCH_BROKER_ARGS: extra sluiced arguments for an A/B of one setting, e.g.
# BENCH_BROKER_ARGS="--override sluice.log.direct.nondurable=true".
set -euo pipefail

build=${1:?usage: scripts/bench-broker.sh BUILD_DIR [SECONDS]}
secs=${2:-10}
rate=${BENCH_RATE:-10000}
repo=$(cd "$(dirname "$0")/.." && pwd)
sluiced=$build/tools/sluiced/sluiced
sluice=$build/tools/sluice/sluice
load=$build/bench/load/sl-load
raw_batch=${BENCH_RAW_BATCH:-64}
raw_inflight=${BENCH_RAW_INFLIGHT:-32}
raw_batch_big=${BENCH_RAW_BATCH_BIG:-512}
py=/usr/bin/python3

die() { echo "bench-broker: $*" >&2; exit 1; }
[[ -x $sluiced ]] || die "$sluiced not built (ninja -C $build tools/sluiced/sluiced)"
[[ -x $sluice ]] || die "$sluice not built (ninja -C $build tools/sluice/sluice)"
command -v iperf3 >/dev/null || die "iperf3 missing (scripts/deps.sh bench)"
"$sluice" perf --help >/dev/null 2>&1 || die "$sluice has no perf subcommand (built without librdkafka?)"

ncpu=$(nproc)
if ((ncpu >= 2)) && [[ ${BENCH_PIN:-1} == 1 ]]; then
	srv=(taskset -c 0)
	cli=(taskset -c 1)
	placement="broker and iperf3 server on core 0, clients on core 1 (taskset)"
else
	srv=()
	cli=()
	placement="no pinning ($ncpu cpu(s), BENCH_PIN=${BENCH_PIN:-1})"
fi

work=$(mktemp -d "$repo/bench/results/tmp/broker.XXXXXX" 2>/dev/null) || {
	mkdir -p "$repo/bench/results/tmp"
	work=$(mktemp -d "$repo/bench/results/tmp/broker.XXXXXX")
}
broker_pid=""
iperf_pid=""
cleanup() {
	[[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
	[[ -n $iperf_pid ]] && kill "$iperf_pid" 2>/dev/null && wait "$iperf_pid" 2>/dev/null || true
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "bench-broker: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kv() { # kv KEY LINE: value of KEY=... in a "sluice-perf k=v k=v" line
	tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}
cpu_ticks() { # utime+stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat)
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

echo "== bench-broker $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host:    $(uname -n), kernel $(uname -r), $ncpu cpu(s): $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "libs:    liburing $(pkg-config --modversion liburing 2>/dev/null || echo ?), librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo ?), $(iperf3 --version | head -1)"
echo "data:    $work ($(df -T "$work" | awk 'NR==2{print $2}'))"
echo "placing: $placement"
[[ -n ${BENCH_BROKER_ARGS:-} ]] && echo "broker:  extra arguments: $BENCH_BROKER_ARGS"
echo

# ---- 1. iperf3 -------------------------------------------------------------------------------
port=$(free_port)
"${srv[@]}" iperf3 -s -1 -p "$port" >"$work/iperf3-server.log" 2>&1 &
iperf_pid=$!
for _ in $(seq 50); do
	grep -q 'listening' "$work/iperf3-server.log" 2>/dev/null && break
	sleep 0.1
done
"${cli[@]}" iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -J >"$work/iperf3.json"
wait "$iperf_pid" || true
iperf_pid=""
iperf_bps=$($py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["end"]["sum_received"]["bits_per_second"])' "$work/iperf3.json")
iperf_MBps=$($py -c "print('%.1f' % ($iperf_bps / 8e6))")
echo "iperf3 (1 TCP stream, loopback, ${secs}s):            $($py -c "print('%.2f' % ($iperf_bps / 1e9))") Gbit/s = $iperf_MBps MB/s   [client: iperf3]"
# What receiving alone costs the kernel: the iperf3 server only reads and discards.
tcp_cpu=$($py -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d["end"]; r=e["sum_received"]; print("%.3f" % (e["cpu_utilization_percent"]["remote_total"] / 100 * r["seconds"] / (r["bytes"] / 1e9)))' "$work/iperf3.json")
echo "floor: kernel TCP receive, iperf3 server CPU per GB:  $tcp_cpu CPU-s/GB   [iperf3 server on the broker's core; reads and discards]"
# What writing alone costs: buffered sequential writes into the page cache of the data
# directory's filesystem (what a non-durable log does), same core, fio.
if command -v fio >/dev/null; then
	"${srv[@]}" fio --name=pagecache --directory="$work" --rw=write --bs=64k --ioengine=psync \
		--size=1g --end_fsync=0 --output-format=json >"$work/fio-buffered.json" 2>/dev/null || true
	rm -f "$work"/pagecache.*
	pc_cpu=$($py -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; w=j["write"]; s=w["runtime"]/1000.0; print("%.3f %.0f" % ((j["usr_cpu"] + j["sys_cpu"]) / 100 * s / (w["io_bytes"] / 1e9), w["io_bytes"] / s / 1e6))' "$work/fio-buffered.json" 2>/dev/null || echo "")
	if [[ -n $pc_cpu ]]; then
		echo "floor: page-cache write (fio psync 64 KiB, 1 GiB):    ${pc_cpu% *} CPU-s/GB at ${pc_cpu#* } MB/s   [fio on the broker's core, data directory's filesystem]"
		echo "floor: receive + page-cache write:                     $($py -c "import sys; print('%.3f' % (float(sys.argv[1]) + float(sys.argv[2])))" "$tcp_cpu" "${pc_cpu% *}") CPU-s/GB   (issue #3's target: 0.3 CPU-s/GB for the whole broker)"
	else
		echo "floor: page-cache write: NOT MEASURED (fio failed; see $work/fio-buffered.json)"
	fi
else
	echo "floor: page-cache write: NOT MEASURED (fio missing: scripts/deps.sh bench)"
fi

# ---- start sluiced -----------------------------------------------------------------------------
mkdir -p "$work/data"
"${srv[@]}" "$sluiced" --override listeners=PLAINTEXT://127.0.0.1:0 \
	--override "log.dirs=$work/data" --override num.shards=1 \
	--override auto.create.topics.enable=true --override num.partitions=1 \
	${BENCH_BROKER_ARGS:-} 2>"$work/sluiced.log" &
broker_pid=$!
bs=""
for _ in $(seq 100); do
	bs=$(sed -n 's/.*sluiced listening on \([^ ]*\).*/\1/p' "$work/sluiced.log" | head -1)
	[[ -n $bs ]] && break
	kill -0 "$broker_pid" 2>/dev/null || { cat "$work/sluiced.log" >&2; die "sluiced exited"; }
	sleep 0.1
done
[[ -n $bs ]] || { cat "$work/sluiced.log" >&2; die "sluiced did not print its address"; }
echo "sluiced: pid $broker_pid on $bs, threads on cpus $(cat /proc/$broker_pid/task/*/status | sed -n 's/^Cpus_allowed_list:\s*//p' | sort -u | tr '\n' ' ')"

perf() { # perf TOPIC ARGS...: one `sluice perf produce` run; prints its summary line
	local topic=$1
	shift
	"${cli[@]}" "$sluice" perf produce --brokers "$bs" --topic "$topic" --partitions 1 \
		--size 1024 --acks 1 --quiet "$@" 2>>"$work/perf.log" | grep '^sluice-perf ' | tail -1
}

# warm-up: creates the topic, opens connections, faults in the broker's pools
perf bench-tput --count 20000 >/dev/null

# ---- 2 + 3. throughput and CPU per GB ---------------------------------------------------------------
tck=$(getconf CLK_TCK)
c0=$(cpu_ticks "$broker_pid")
line=$(perf bench-tput --duration "${secs}s")
c1=$(cpu_ticks "$broker_pid")
[[ -n $line ]] || { tail -20 "$work/perf.log" >&2; die "sluice perf produce printed no summary"; }
bytes=$(kv bytes "$line")
mbps=$(kv mb_per_s "$line")
rps=$(kv records_per_s "$line")
errs=$(kv errors "$line")
echo "sluice produce (1 KiB, acks=1, 1 partition, ${secs}s):  $mbps MB/s, $rps records/s, errors=$errs   [client: sluice perf produce / librdkafka]"
$py - "$mbps" "$iperf_MBps" "$c0" "$c1" "$tck" "$bytes" <<'EOF'
import sys
mbps, iperf, c0, c1, tck, nbytes = map(float, sys.argv[1:])
print('ratio sluice produce / iperf3:                        %.3f  (%.1f MB/s of %.1f MB/s)   [client: sluice perf produce / librdkafka]' % (mbps / iperf, mbps, iperf))
cpu = (c1 - c0) / tck
gb = nbytes / 1e9
print('broker CPU per GB ingested:                           %.2f CPU-s/GB  (%.2f CPU-s for %.3f GB of record values; /proc/PID/stat utime+stime)   [client: sluice perf produce / librdkafka]' % (cpu / gb if gb else float('nan'), cpu, gb))
EOF

# ---- 4. latency at a fixed rate ---------------------------------------------------------------
# Twice: linger.ms=0 (every record its own request: the broker's per-request path) and
# librdkafka's default linger.ms=5 (batching delay included).
for linger in 0 5; do
	line=$(perf bench-lat --rate "$rate" --duration "${secs}s" --linger-ms "$linger")
	[[ -n $line ]] || { tail -20 "$work/perf.log" >&2; die "sluice perf produce (rate) printed no summary"; }
	echo "produce latency at $rate/s (1 KiB, acks=1, linger.ms=$linger, open loop): p50 $(kv p50_us "$line") us, p99 $(kv p99_us "$line") us, p99.9 $(kv p999_us "$line") us, max $(kv max_us "$line") us; achieved $(kv records_per_s "$line")/s, errors=$(kv errors "$line")   [client: sluice perf produce / librdkafka; delivery-report latency from intended send time]"
done

# ---- 6. the same with our own client: sl-load kafka-raw ------------------------------------------
raw() { # raw TOPIC ARGS...: one `sl-load --backend kafka-raw` produce run; prints its summary line
	local topic=$1
	shift
	"${cli[@]}" "$load" --backend kafka-raw --addr "$bs" --topic "$topic" --partitions 1 \
		--size 1024 --acks 1 --timeout 10 "$@" 2>>"$work/sl-load.log" | grep '^sl-load ' | tail -1
}
raw_cpu_gb() { # raw_cpu_gb LABEL C0 C1 BYTES: broker CPU-s per GB line
	$py - "$@" "$tck" <<'EOF'
import sys
label, c0, c1, nbytes, tck = sys.argv[1], *map(float, sys.argv[2:])
cpu = (c1 - c0) / tck
gb = nbytes / 1e9
print('%s %.2f CPU-s/GB  (%.2f CPU-s for %.3f GB of record values)   [client: sl-load kafka-raw]' % (label, cpu / gb if gb else float('nan'), cpu, gb))
EOF
}
if [[ -x $load ]]; then
	raw bench-raw --rate max --duration 1 >/dev/null # warm-up: topic, connection, pools
	# the default batch, then bigger requests (librdkafka fills up to ~1 MB per request)
	for tb in "$raw_batch" "$raw_batch_big"; do
		c0=$(cpu_ticks "$broker_pid")
		line=$(raw bench-raw --rate max --duration "$secs" --batch "$tb" --inflight "$raw_inflight")
		c1=$(cpu_ticks "$broker_pid")
		[[ -n $line ]] || { tail -20 "$work/sl-load.log" >&2; die "sl-load kafka-raw printed no summary"; }
		raw_mbps=$(kv mb_per_s "$line")
		echo "sluice produce (1 KiB, acks=1, 1 partition, ${secs}s):  $raw_mbps MB/s, $(kv records_per_s "$line") records/s, errors=$(kv errors "$line"), client_cpu=$(kv client_cpu "$line"), $(kv requests "$line") requests in $(kv secs "$line") s   [client: sl-load kafka-raw, batch<=$tb, $raw_inflight in flight]"
		$py -c "import sys; r, l, i = map(float, sys.argv[1:]); print('ratio sluice produce / iperf3:                        %.3f  (%.1f MB/s of %.1f MB/s)   [client: sl-load kafka-raw]' % (r / i, r, i)); print('ratio kafka-raw / librdkafka produce, this run:       %.2f' % (r / l if l else float('nan')))" "$raw_mbps" "$mbps" "$iperf_MBps"
		raw_cpu_gb 'broker CPU per GB ingested:                          ' "$c0" "$c1" "$(kv bytes "$line")"
	done
	for batch in 1 "$raw_batch"; do
		line=$(raw bench-raw-lat --rate "$rate" --duration "$secs" --batch "$batch" --inflight "$raw_inflight")
		[[ -n $line ]] || { tail -20 "$work/sl-load.log" >&2; die "sl-load kafka-raw (rate) printed no summary"; }
		echo "produce latency at $rate/s (1 KiB, acks=1, batch<=$batch, open loop): p50 $(kv p50_us "$line") us, p99 $(kv p99_us "$line") us, p99.9 $(kv p999_us "$line") us, max $(kv max_us "$line") us; achieved $(kv records_per_s "$line")/s, $(kv requests "$line") requests, errors=$(kv errors "$line")   [client: sl-load kafka-raw; ack latency from intended send time]"
	done
else
	echo "sl-load kafka-raw: not run: $load not built (ninja -C $build bench/load/sl-load)"
fi

# ---- stop ---------------------------------------------------------------------------------------
kill -TERM "$broker_pid"
rc=0
wait "$broker_pid" || rc=$?
broker_pid=""
[[ $rc == 0 ]] || { tail -20 "$work/sluiced.log" >&2; die "sluiced exited $rc on SIGTERM"; }
echo "sluiced stopped cleanly (SIGTERM, exit 0)"

# ---- reference peer: librdkafka's mock cluster (in memory, no disk), same client and pinning ----
mock=$build/tests/support/mockbroker
if [[ -x $mock ]]; then
	"${srv[@]}" "$mock" --topic bench-tput:1 --topic bench-lat:1 2>"$work/mockbroker.log" &
	broker_pid=$!
	bs=""
	for _ in $(seq 50); do
		bs=$(sed -n 's/.*mockbroker listening on \([^ ,]*\).*/\1/p' "$work/mockbroker.log" | head -1)
		[[ -n $bs ]] && break
		sleep 0.1
	done
	if [[ -n $bs ]]; then
		line=$(perf bench-tput --duration "${secs}s")
		echo "reference: mockbroker produce (1 KiB, acks=1, 1 partition): $(kv mb_per_s "$line") MB/s, $(kv records_per_s "$line") records/s   [client: sluice perf produce / librdkafka; broker: librdkafka mock, memory only]"
		line=$(perf bench-lat --rate "$rate" --duration "${secs}s" --linger-ms 0)
		echo "reference: mockbroker latency at $rate/s (linger.ms=0): p50 $(kv p50_us "$line") us, p99 $(kv p99_us "$line") us, p99.9 $(kv p999_us "$line") us, max $(kv max_us "$line") us   [client: sluice perf produce / librdkafka]"
		if [[ -x $load ]]; then
			for tb in "$raw_batch" "$raw_batch_big"; do
				c0=$(cpu_ticks "$broker_pid")
				line=$(raw bench-tput --rate max --duration "$secs" --batch "$tb" --inflight "$raw_inflight")
				c1=$(cpu_ticks "$broker_pid")
				echo "reference: mockbroker produce (1 KiB, acks=1, 1 partition): $(kv mb_per_s "$line") MB/s, $(kv records_per_s "$line") records/s, errors=$(kv errors "$line"), ratio to iperf3 $($py -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$(kv mb_per_s "$line")" "$iperf_MBps")   [client: sl-load kafka-raw, batch<=$tb, $raw_inflight in flight; broker: librdkafka mock, memory only]"
				raw_cpu_gb 'reference: mockbroker CPU per GB ingested:' "$c0" "$c1" "$(kv bytes "$line")"
			done
			line=$(raw bench-lat --rate "$rate" --duration "$secs" --batch 1 --inflight "$raw_inflight")
			echo "reference: mockbroker latency at $rate/s (batch<=1): p50 $(kv p50_us "$line") us, p99 $(kv p99_us "$line") us, p99.9 $(kv p999_us "$line") us, max $(kv max_us "$line") us   [client: sl-load kafka-raw]"
		fi
	fi
	kill -TERM "$broker_pid"
	wait "$broker_pid" || true
	broker_pid=""
fi
