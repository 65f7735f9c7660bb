#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Kernel path vs kernel-bypass path, one command, every figure from the same run (issue #5):
#
#   scripts/bench-dpdk.sh BUILD_DIR [SECONDS]        (SECONDS per measurement, default 10)
#
# Runs as root (hugepages, memif socket). The broker is confined to core 0 (taskset, and its
# EAL lcore is 0), the load generator runs on core 1. Four broker runs, each fresh:
#
#   kernel   sluiced (io_uring sockets) on 127.0.0.1, driven by
#              a) `sluice perf produce --socket`: the project's own client (same Produce v7
#                 frames, same in-flight window, busy-polled non-blocking socket) - the
#                 like-for-like baseline the ratios use;
#              b) `sluice perf produce` (librdkafka, batch.num.messages=1, linger.ms=0, so one
#                 record per request too) - for reference.
#   bypass   sluiced --dataplane dpdk (memif server, 10.0.0.1) driven by
#              `sluice perf produce --dpdk` (the project's userspace TCP stack over the memif
#              client side, 10.0.0.2).
#
# Each client measures: max throughput (requests/s = records/s: one 1 KiB record per Produce
# request, acks=1, 32 requests in flight) with the broker's CPU time from /proc/PID/stat
# (utime+stime, all threads) -> broker CPU-s per GB and broker CPU us per request; then latency
# p50/p99/p99.9 at a fixed rate (BENCH_RATE requests/s, default 10000,
# open loop: timed from each request's intended send time).
#
# Partitions: requests go round robin over BENCH_PARTITIONS (default 4) partitions of the one
# shard. A 10 s run at ~100k requests/s writes ~1 GiB, and on a single partition the segment
# roll at log.segment.bytes (1 GiB) stalled the broker for ~4 s on this machine (a storage
# matter, seen with both transports), which hid the difference between the transports; with 4
# partitions no run reaches a roll.
#
# Ratios (bypass / kernel-socket, this run) against the targets of issue #5: broker-core
# throughput >= 2x, p50 <= 0.5x, broker CPU per 1 KiB produce < 1 us. A busy-polling broker
# burns its whole core whether or not it has work, so for the bypass path "broker CPU per
# request" is wall time / requests at saturation; it says more when the broker, not the
# client, is the bottleneck (the bypass client's own CPU per request is printed too).
#
# EAL memory: 2 MiB hugepages (reserved in /sys here, --in-memory, released at exit) unless
# BENCH_HUGE=0 or the reservation fails; then --no-huge -m 512 --no-shconf (slower).
# Traffic always stops before the memif client disconnects (DPDK 22.11's memif server can crash
# when its client leaves mid-traffic): each client ends its run, closes its TCP connection, and
# only then exits; the broker is stopped (SIGTERM) after the client is gone.
# Env: BENCH_RATE, BENCH_HUGE, BENCH_INFLIGHT (default 32), BENCH_PARTITIONS (default 4),
# BENCH_KEEP=1 keeps data + logs.
# Data goes under bench/results/tmp/ (not /tmp, which may be tmpfs) and is removed afterwards.
set -euo pipefail

build=${1:?usage: scripts/bench-dpdk.sh BUILD_DIR [SECONDS]}
secs=${2:-10}
rate=${BENCH_RATE:-10000}
inflight=${BENCH_INFLIGHT:-32}
parts=${BENCH_PARTITIONS:-4}
repo=$(cd "$(dirname "$0")/.." && pwd)
sluiced=$build/tools/sluiced/sluiced
sluice=$build/tools/sluice/sluice
py=/usr/bin/python3
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages

die() { echo "bench-dpdk: $*" >&2; exit 1; }
[[ -x $sluiced ]] || die "$sluiced not built (ninja -C $build tools/sluiced/sluiced)"
[[ -x $sluice ]] || die "$sluice not built (ninja -C $build tools/sluice/sluice)"
((EUID == 0)) || die "run as root (hugepages, DPDK memif)"
"$sluice" perf produce --dpdk --help 2>&1 | grep -q -- --eal-args ||
	die "$sluice has no --dpdk mode (built without libdpdk-dev?)"
have_dpdk_broker=1
"$sluiced" --help 2>&1 | grep -q -- --dataplane || have_dpdk_broker=0
have_rdk=1
"$sluice" perf --help 2>&1 | grep -q -- --batch-num || have_rdk=0

ncpu=$(nproc)
if ((ncpu >= 2)); then
	bcore=0
	ccore=1
	placement="broker on core 0 (taskset + EAL lcore 0), client on core 1"
else
	bcore=0
	ccore=0
	placement="ONE cpu: broker and client share core 0 (figures meaningless for ratios)"
fi

work=$(mktemp -d "$repo/bench/results/tmp/dpdk.XXXXXX" 2>/dev/null) || {
	mkdir -p "$repo/bench/results/tmp"
	work=$(mktemp -d "$repo/bench/results/tmp/dpdk.XXXXXX")
}
broker_pid=""
hp_added=0
cleanup() {
	if [[ -n $broker_pid ]]; then
		kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
	fi
	# give back what this run added (others may have reserved pages meanwhile)
	if ((hp_added > 0)); then
		local now
		now=$(cat "$hp")
		echo $((now > hp_added ? now - hp_added : 0)) >"$hp" 2>/dev/null || true
	fi
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "bench-dpdk: kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# ---- EAL memory ----------------------------------------------------------------------------
mem="--no-huge -m 512 --no-shconf"
memnote="no hugepages (--no-huge -m 512)"
if [[ ${BENCH_HUGE:-1} == 1 && -w $hp ]]; then
	hp_old=$(cat "$hp")
	want=$((hp_old + 768)) # 2 x 512 MiB (-m 512 each) + slack
	echo "$want" >"$hp" 2>/dev/null || true
	hp_added=$(($(cat "$hp") - hp_old))
	if ((hp_added >= 768)); then
		mem="--in-memory -m 512"
		memnote="2 MiB hugepages ($hp_added reserved for this run, --in-memory -m 512)"
	else
		memnote="no hugepages (only $hp_added of 768 could be reserved) (--no-huge -m 512)"
	fi
fi

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kv() { # kv KEY LINE: value of KEY=... in a "sluice-perf k=v k=v" line
	tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}
cpu_ticks() { # utime+stime of PID, in clock ticks (fields 14 and 15 of /proc/PID/stat)
	sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
tck=$(getconf CLK_TCK)

echo "== bench-dpdk $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host:    $(uname -n), kernel $(uname -r), $ncpu cpu(s): $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "libs:    DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo ?), liburing $(pkg-config --modversion liburing 2>/dev/null || echo ?), librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo ?)"
echo "placing: $placement"
echo "EAL:     $memnote; net_memif (broker = memif server, client = memif client)"
echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg) at start (other work on these cores skews every figure; busy-polling suffers most)"
echo "load:    1 KiB records, 1 record per Produce v7 request, acks=1, $parts partitions (round robin), $inflight in flight;"
echo "         ${secs}s max-throughput run + ${secs}s at $rate requests/s (open loop) per client"
echo

# start_broker MODE: starts sluiced (kernel | dpdk) on core $bcore with a fresh data dir; sets
# broker_pid and addr (HOST:PORT).
start_broker() {
	local mode=$1 port log=$work/sluiced-$1.log
	rm -rf "$work/data"
	mkdir -p "$work/data"
	if [[ $mode == responder ]]; then
		rm -f "$work/memif.sock"
		port=9092
		taskset -c "$bcore" "$sluice" perf serve --dpdk --ip 10.0.0.1 --listen-port "$port" \
			--eal-args "-l $bcore $mem --no-pci --no-telemetry --file-prefix slbench-r$$ --log-level=lib.*:error --vdev=net_memif0,role=server,socket=$work/memif.sock,mac=02:00:00:00:5e:01" \
			>"$log" 2>&1 &
		broker_pid=$!
		for _ in $(seq 300); do
			grep -q 'listening on' "$log" && break
			kill -0 "$broker_pid" 2>/dev/null || { cat "$log" >&2; die "the responder exited"; }
			sleep 0.1
		done
		addr=10.0.0.1:9092
		return
	elif [[ $mode == kernel ]]; then
		port=$(free_port)
		taskset -c "$bcore" "$sluiced" -p "$port" --host 127.0.0.1 --log-dir "$work/data" \
			--shards 1 -o "num.partitions=$parts" 2>"$log" &
	else
		rm -f "$work/memif.sock"
		port=9092
		taskset -c "$bcore" "$sluiced" --dataplane dpdk -p "$port" --log-dir "$work/data" \
			--shards 1 -o "num.partitions=$parts" -o "dpdk.ip=10.0.0.1/24" \
			-o "dpdk.eal.args=-l $bcore $mem --no-pci --no-telemetry --file-prefix slbench-b$$ --log-level=lib.*:error --vdev=net_memif0,role=server,socket=$work/memif.sock,mac=02:00:00:00:5e:01" \
			2>"$log" &
	fi
	broker_pid=$!
	addr=""
	for _ in $(seq 300); do
		addr=$(sed -n 's/.*sluiced listening on \([^ ]*\).*/\1/p' "$log" | head -1)
		[[ -n $addr ]] && break
		kill -0 "$broker_pid" 2>/dev/null || { cat "$log" >&2; die "sluiced ($mode) exited"; }
		sleep 0.1
	done
	[[ -n $addr ]] || { cat "$log" >&2; die "sluiced ($mode) did not print its address"; }
}

stop_broker() {
	kill "$broker_pid" 2>/dev/null || true
	wait "$broker_pid" 2>/dev/null || true
	broker_pid=""
}

# client_run KIND ARGS...: one produce run of KIND (socket | rdk | dpdk); its stdout (the summary
# line) and stderr go to $work/client-KIND.{out,log}
client_run() {
	local kind=$1
	shift
	case $kind in
	socket)
		taskset -c "$ccore" "$sluice" perf produce --socket --brokers "$addr" --size 1024 \
			--acks 1 --inflight "$inflight" "$@" ;;
	rdk)
		taskset -c "$ccore" "$sluice" perf produce --brokers "$addr" --size 1024 --acks 1 \
			--batch-num 1 --linger-ms 0 --quiet "$@" ;;
	dpdk)
		"$sluice" perf produce --dpdk --brokers 10.0.0.1:9092 --ip 10.0.0.2 \
			--peer-mac 02:00:00:00:5e:01 --size 1024 --acks 1 --inflight "$inflight" \
			--eal-args "-l $ccore $mem --no-pci --no-telemetry --file-prefix slbench-c$$ --log-level=lib.*:error --vdev=net_memif0,role=client,socket=$work/memif.sock,mac=02:00:00:00:5e:02" \
			"$@" ;;
	esac >"$work/client-$kind.out" 2>>"$work/client-$kind.log"
}
client() { # client KIND ARGS...: prints the run's summary line
	local try
	for try in 1 2 3; do
		client_run "$@" || true
		# memif (22.11) may refuse a client that comes right after the previous one left
		grep -q 'Failed to connect socket' "$work/client-$1.log" || break
		: >"$work/client-$1.log"
		sleep 1
	done
	grep '^sluice-perf ' "$work/client-$1.out" | tail -1
}

declare -A R # R[kind.key]: results

# measure KIND BROKER_MODE: warm-up, throughput + broker CPU, latency at $rate
measure() {
	local kind=$1 mode=$2 line c0 c1
	start_broker "$mode"
	client "$kind" --topic bench --count 20000 >/dev/null || true # topic, connection, pools
	sleep 1 # let a memif server finish with the last client before the next one comes
	# The broker's CPU is sampled from when the client's clock starts (our clients say
	# "connected" on stderr then; a busy-polling broker burns CPU during the client's EAL
	# start-up too) to the client's exit.
	: >"$work/client-$kind.log"
	client_run "$kind" --topic bench --duration "${secs}s" &
	local cpid=$!
	if [[ $kind != rdk ]]; then
		for _ in $(seq 600); do
			grep -q 'connected' "$work/client-$kind.log" 2>/dev/null && break
			kill -0 "$cpid" 2>/dev/null || break
			sleep 0.05
		done
	fi
	c0=$(cpu_ticks "$broker_pid")
	wait "$cpid" || true
	c1=$(cpu_ticks "$broker_pid")
	line=$(grep '^sluice-perf ' "$work/client-$kind.out" | tail -1 || true)
	if [[ -z $line ]]; then
		echo "  $kind: the throughput run printed no summary (log: $(tail -3 "$work/client-$kind.log" | tr '\n' ' '))"
		stop_broker
		return 1
	fi
	R[$kind.rps]=$(kv records_per_s "$line")
	R[$kind.mbps]=$(kv mb_per_s "$line")
	R[$kind.req]=$(kv records "$line")
	R[$kind.bytes]=$(kv bytes "$line")
	R[$kind.errors]=$(kv errors "$line")
	R[$kind.ccpu]=$(kv client_cpu_us_per_req "$line")
	R[$kind.bcpu]=$($py -c "print('%.3f' % (($c1 - $c0) / $tck))")
	# The latency topic exists before the timed run: creating its partitions (directories,
	# index files faulted in) takes the shard ~25 ms each, which the first seconds of an
	# open-loop schedule would otherwise charge to hundreds of records.
	client "$kind" --topic bench-lat --count 2000 >/dev/null || true
	sleep 1
	line=$(client "$kind" --topic bench-lat --rate "$rate" --duration "${secs}s" || true)
	R[$kind.p50]=$(kv p50_us "$line")
	R[$kind.p99]=$(kv p99_us "$line")
	R[$kind.p999]=$(kv p999_us "$line")
	R[$kind.max]=$(kv max_us "$line")
	R[$kind.lat_rps]=$(kv records_per_s "$line")
	R[$kind.lat_errors]=$(kv errors "$line")
	stop_broker
	$py - "$kind" "${R[$kind.rps]}" "${R[$kind.mbps]}" "${R[$kind.req]}" "${R[$kind.bytes]}" \
		"${R[$kind.bcpu]}" "${R[$kind.errors]}" "${R[$kind.ccpu]:-}" "${R[$kind.p50]:-nan}" \
		"${R[$kind.p99]:-nan}" "${R[$kind.p999]:-nan}" "${R[$kind.max]:-nan}" \
		"${R[$kind.lat_rps]:-nan}" "${R[$kind.lat_errors]:-?}" "$rate" <<'EOF'
import sys
(kind, rps, mbps, req, nbytes, bcpu, errs, ccpu, p50, p99, p999, pmax, lrps, lerr,
 rate) = sys.argv[1:]
rps, mbps, req, nbytes, bcpu = float(rps), float(mbps), float(req), float(nbytes), float(bcpu)
gb = nbytes / 1e9
print('  throughput:   %10.1f requests/s  %8.1f MB/s   errors=%s' % (rps, mbps, errs))
print('  broker CPU:   %10.2f CPU-s/GB     %8.3f us/request   (%.2f CPU-s for %.0f requests)'
      % (bcpu / gb if gb else float('nan'), bcpu * 1e6 / req if req else float('nan'), bcpu, req))
if ccpu:
    print('  client CPU:   %10s us/request' % ccpu)
print('  latency at %s/s: p50 %s us, p99 %s us, p99.9 %s us, max %s us (achieved %s/s, errors=%s)'
      % (rate, p50, p99, p999, pmax, lrps, lerr))
EOF
}

echo "-- kernel path: sluiced (io_uring sockets, loopback) <- sluice perf produce --socket"
measure socket kernel || true
if ((have_rdk)); then
	echo "-- kernel path: sluiced (io_uring sockets, loopback) <- sluice perf produce (librdkafka, 1 record/request)"
	measure rdk kernel || true
fi
if ((have_dpdk_broker)); then
	echo "-- bypass path: sluiced --dataplane dpdk (memif) <- sluice perf produce --dpdk (userspace TCP)"
	measure dpdk dpdk || true
else
	echo "-- bypass path: NOT MEASURED: $sluiced has no --dataplane (no DPDK data plane in this build)"
fi

echo "-- client ceiling: sluice perf produce --dpdk <- sluice perf serve --dpdk (a responder that stores nothing)"
R[ceil.rps]=nan
if start_broker responder; then
	client dpdk --topic bench --count 20000 >/dev/null || true
	sleep 1
	line=$(client dpdk --topic bench --duration "${secs}s" || true)
	stop_broker
	R[ceil.rps]=$(kv records_per_s "$line")
	echo "  throughput:   ${R[ceil.rps]:-?} requests/s, client CPU $(kv client_cpu_us_per_req "$line") us/request, p50 $(kv p50_us "$line") us (max speed, $inflight in flight)"
	echo "  (the bypass client and the stack are not the limit when this is well above the bypass broker's figure)"
fi

echo
echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "-- ratios (bypass / kernel with the same client, this run) against issue #5's targets"
$py - "${R[socket.rps]:-nan}" "${R[dpdk.rps]:-nan}" "${R[socket.p50]:-nan}" "${R[dpdk.p50]:-nan}" \
	"${R[dpdk.bcpu]:-nan}" "${R[dpdk.req]:-nan}" "${R[socket.bcpu]:-nan}" "${R[socket.req]:-nan}" \
	"${R[rdk.rps]:-nan}" "${R[dpdk.ccpu]:-nan}" <<'EOF'
import math, sys
k_rps, d_rps, k_p50, d_p50, d_cpu, d_req, k_cpu, k_req, r_rps, d_ccpu = map(float, sys.argv[1:])
def verdict(ok):
    return 'n/a' if ok is None else ('MET' if ok else 'NOT MET')
tr = d_rps / k_rps if k_rps and not math.isnan(d_rps) else float('nan')
lr = d_p50 / k_p50 if k_p50 and not math.isnan(d_p50) else float('nan')
dus = d_cpu * 1e6 / d_req if d_req and not math.isnan(d_req) else float('nan')
kus = k_cpu * 1e6 / k_req if k_req and not math.isnan(k_req) else float('nan')
print('  broker-core throughput  bypass/kernel = %.2fx   (target >= 2x, stretch 3x): %s'
      % (tr, verdict(None if math.isnan(tr) else tr >= 2)))
print('  p50 produce latency     bypass/kernel = %.2fx   (target <= 0.5x): %s'
      % (lr, verdict(None if math.isnan(lr) else lr <= 0.5)))
print('  broker CPU per 1 KiB produce: bypass %.3f us, kernel %.3f us   (target < 1 us): %s'
      % (dus, kus, verdict(None if math.isnan(dus) else dus < 1)))
if not math.isnan(r_rps) and not math.isnan(d_rps) and r_rps:
    print('  (bypass / kernel with librdkafka as the kernel client: %.2fx throughput)' % (d_rps / r_rps))
if not math.isnan(d_ccpu):
    print('  (the bypass client itself: %.3f us CPU per request; if that is near 1e6/throughput,'
          ' the client, not the broker, set the pace)' % d_ccpu)
EOF
