#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench-compare`: sluice against its peers and against the machine's physical limits,
# every figure from the same run, written to bench/results/<date>-<host>.md with PNG plots.
#
#   scripts/bench-compare.sh BUILD_DIR          (env: BENCH_SECS per run, default 3)
#
#  1. Limits: iperf3 loopback (1 TCP stream), fio 1 MiB sequential O_DIRECT write and fio
#     4 KiB write + fdatasync latency on the data directory's filesystem, memcpy (1 thread).
#  2. Systems, each started here on loopback with its data under bench/results/tmp/ (not /tmp,
#     which may be tmpfs), pinned to core 0 while the load generator runs on core 1:
#       class "no fsync":  sluice (sluiced, no flush policy)   redis (AOF appendfsync everysec)
#                          sluice-raw (the same sluiced, driven by sl-load's own Kafka client,
#                          --backend kafka-raw, instead of librdkafka)
#                          nats (JetStream file storage, server default sync)
#                          kmock (librdkafka's in-memory mock cluster: a memory-only reference)
#       class "durable":   sluice-durable (log.flush.durable=true: ack after fdatasync)
#                          redis-always (AOF appendfsync always)
#                          nats-sync: not run when nats-server lacks jetstream.sync_interval
#                          (2.10+; Debian 12 ships 2.9.10), and the report says so.
#  3. Workloads through bench/load/sl-load (one open-loop generator, each peer's own client
#     library: librdkafka, hiredis, libnats), all systems alternated run by run (A B A B):
#       produce max throughput: {100 B, 1 KiB} x {1, 16 partitions}, two rounds (best kept);
#       produce latency at 10%, 50%, 80% of sluice's 1 KiB / 1 partition max in the same
#       durability class (open loop, latency from each record's due time);
#       end to end (producer + consumer) at 50%; consume-only catch-up of the 1 KiB /
#       1 partition topic of round 2.
#     Broker CPU seconds per GB: utime+stime from /proc/PID/stat around each produce run.
#     A run whose client used >= 90% of its core is marked client-bound.
#  4. sluice's DPDK path over net_memif (root only; after the systems above are stopped, since a
#     busy-polling broker burns its whole core while it is up): sluiced --dataplane dpdk (memif
#     server, broker on core 0, 1 shard) driven by `sluice perf produce --dpdk` (the project's
#     userspace TCP stack over the memif client side, core 1), 1 KiB records, acks=1,
#     1 partition: max throughput with one record per request and with BENCH_DPDK_BATCH
#     (default 64) records per request, alternated over two rounds, with the broker's CPU-s/GB;
#     latency at the same 10/50/80% rates as the no-fsync class, one record per request (or
#     the batch where that rate is above 80% of the one-record max of this run); then
#     the client's own ceiling against `sluice perf serve --dpdk` (a responder that stores
#     nothing): a broker figure >= 90% of it is marked client-bound. EAL memory: 2 MiB
#     hugepages reserved here (--in-memory) and given back at exit, else --no-huge (slower; the
#     report says so). When DPDK cannot run (not root, built without libdpdk-dev, one cpu) the
#     report's tables say NOT MEASURED and why. Traffic always stops before a memif client
#     leaves (DPDK 22.11's memif server can crash otherwise).
#  5. scripts/bench-compare-report.py writes the markdown and gnuplot data;
#     scripts/bench-compare.gp draws the PNGs.
#
# Env: BENCH_SECS (seconds per run, default 3), BENCH_KEEP=1 (keep the raw data under
# bench/results/tmp/), BENCH_DPDK_BATCH (records per request of the batched DPDK row, default
# 64), BENCH_DPDK_INFLIGHT (requests in flight of the DPDK client, default 32),
# BENCH_HUGE=0 (DPDK without hugepages), and for development BENCH_ONLY=dpdk: only step 4, at
# rates derived from BENCH_BASE_RATE (default 300000 records/s, standing in for sluice's
# 1 KiB / 1 partition max), report and plots written under bench/results/tmp/ instead.
set -euo pipefail

build=${1:?usage: scripts/bench-compare.sh BUILD_DIR}
secs=${BENCH_SECS:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
py=/usr/bin/python3
sluiced=$build/tools/sluiced/sluiced
mock=$build/tests/support/mockbroker
load=$build/bench/load/sl-load
sluice_cli=$build/tools/sluice/sluice
only=${BENCH_ONLY:-}

die() { echo "bench-compare: $*" >&2; exit 1; }
[[ -z $only || $only == dpdk ]] || die "BENCH_ONLY=$only: only BENCH_ONLY=dpdk is known"
for b in "$sluiced" "$load"; do [[ -x $b ]] || die "$b not built"; done
for c in iperf3 fio gnuplot redis-server nats-server; do
	command -v "$c" >/dev/null || die "$c missing (scripts/deps.sh bench)"
done

t_begin=$(date +%s)
stamp=$(date -u +%Y-%m-%d)
host=$(uname -n)
out_dir=$repo/bench/results
mkdir -p "$out_dir/tmp"
work=$(mktemp -d "$out_dir/tmp/compare.XXXXXX")
runs=$work/runs.tsv

ncpu=$(nproc)
if ((ncpu >= 2)); then
	srv=(taskset -c 0)
	cli=(taskset -c 1)
	placement="servers on core 0, load generator and iperf3/fio clients on core 1 (taskset)"
	cli_cores=1
else
	srv=()
	cli=()
	placement="no pinning: $ncpu cpu"
	cli_cores=$ncpu
fi

declare -A pid addr
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
hp_added=0 # 2 MiB hugepages this run reserved for DPDK (given back at exit)
cleanup() {
	for s in "${!pid[@]}"; do
		kill "${pid[$s]}" 2>/dev/null || true
		wait "${pid[$s]}" 2>/dev/null || true
	done
	hp_release
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench-compare: kept $work"; else rm -rf "$work"; fi
}
hp_release() { # gives back what this run added (others may have reserved pages meanwhile)
	local now
	if ((hp_added > 0)); then
		now=$(cat "$hp")
		echo $((now > hp_added ? now - hp_added : 0)) >"$hp" 2>/dev/null || true
		hp_added=0
	fi
}
trap cleanup EXIT

free_port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
kv() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
busy_pct() { # CPU busy % of the whole machine over $1 seconds (from /proc/stat)
	local a b
	a=($(head -1 /proc/stat))
	sleep "$1"
	b=($(head -1 /proc/stat))
	$py - "${a[*]}" "${b[*]}" <<'EOF'
import sys
a = [int(x) for x in sys.argv[1].split()[1:]]
b = [int(x) for x in sys.argv[2].split()[1:]]
d = [y - x for x, y in zip(a, b)]
idle = d[3] + d[4]
print('%.0f' % (100.0 * (sum(d) - idle) / max(sum(d), 1)))
EOF
}

echo "== bench-compare $(date -u +%Y-%m-%dT%H:%M:%SZ), ${secs}s per run, data in $work"
busy_before=$(busy_pct 2)
echo "machine busy before the run: ${busy_before}% of all cpus (load average $(cut -d' ' -f1-3 /proc/loadavg))"

{
	echo "date	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host	$host"
	echo "cpu	$ncpu x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "mem	$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel	$(uname -r)"
	echo "fs	$(df -T "$work" | awk 'NR==2{print $2" on "$1}')"
	echo "versions	liburing $(pkg-config --modversion liburing), librdkafka $(pkg-config --modversion rdkafka), hiredis $(pkg-config --modversion hiredis), libnats $(pkg-config --modversion libnats), redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), nats-server $(nats-server --version | awk '{print $NF}'), $(fio --version), $(iperf3 --version | head -1 | awk '{print "iperf3 "$2}')"
	echo "placement	$placement"
	echo "secs	$secs"
	echo "busy_before	$busy_before"
	echo "stat_begin	$(head -1 /proc/stat)"
	echo "loadavg_before	$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$work/meta.tsv"

echo -e "system\tclass\tworkload\tround\tsize\tparts\ttarget_rate\trecords_per_s\tmb_per_s\tp50_us\tp90_us\tp99_us\tp999_us\tp9999_us\tmax_us\tclient_cpu\tbroker_cpu_s\terrors\tcurve\tbytes\tunacked\tunsent" >"$runs"
n=0 # runs so far (names the curve files)
tck=$(getconf CLK_TCK)

# ---- sluice's DPDK path over memif (step 4 above; run_dpdk is called after step 3) ---------------
dpdk_batch=${BENCH_DPDK_BATCH:-64}
dpdk_inflight=${BENCH_DPDK_INFLIGHT:-32}
dpdk_mem=""
if ((ncpu >= 2)); then
	dpdk_bcore=0
	dpdk_ccore=1
fi

dpdk_unavailable() { # prints why the DPDK path cannot run here, or nothing
	if ((EUID != 0)); then
		echo "not run as root (memif and hugepages need root)"
	elif ((ncpu < 2)); then
		echo "one cpu: a busy-polling broker and a busy-polling client cannot share it"
	elif [[ ! -x $sluice_cli ]]; then
		echo "$sluice_cli not built (ninja -C $build tools/sluice/sluice)"
	elif ! grep -q -- --eal-args <<<"$("$sluice_cli" perf produce --dpdk --help 2>&1)"; then
		echo "sluice perf has no --dpdk (built without libdpdk-dev)"
	elif ! grep -q -- --dataplane <<<"$("$sluiced" --help 2>&1)"; then
		echo "sluiced has no --dataplane dpdk (built without libdpdk-dev)"
	fi
}
dpdk_eal() { # dpdk_eal server|client CORE FILE-PREFIX: EAL arguments of one memif end
	local mac=02:00:00:00:5e:01
	[[ $1 == client ]] && mac=02:00:00:00:5e:02
	echo "-l $2 $dpdk_mem --no-pci --no-telemetry --file-prefix $3 --log-level=lib.*:error" \
		"--vdev=net_memif0,role=$1,socket=$work/memif.sock,mac=$mac"
}
dpdk_start() { # dpdk_start broker|responder: the memif server on core 0 -> pid[sluice-dpdk]
	local log=$work/sluice-dpdk-$1.log
	rm -f "$work/memif.sock"
	if [[ $1 == broker ]]; then
		rm -rf "$work/sluice-dpdk" # (every run uses a topic of its own: nothing to keep)
		mkdir -p "$work/sluice-dpdk"
		"${srv[@]}" "$sluiced" --dataplane dpdk -p 9092 --log-dir "$work/sluice-dpdk" --shards 1 \
			-o num.partitions=1 -o auto.create.topics.enable=true -o dpdk.ip=10.0.0.1/24 \
			-o "dpdk.eal.args=$(dpdk_eal server "$dpdk_bcore" "slcmp-b$$")" 2>"$log" &
	else
		"${srv[@]}" "$sluice_cli" perf serve --dpdk --ip 10.0.0.1 --listen-port 9092 \
			--eal-args "$(dpdk_eal server "$dpdk_bcore" "slcmp-r$$")" >"$log" 2>&1 &
	fi
	pid[sluice-dpdk]=$!
	for _ in $(seq 300); do
		grep -qs 'listening on' "$log" && return 0
		kill -0 "${pid[sluice-dpdk]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "  the DPDK $1 did not start: $(tail -3 "$log" | tr '\n' ' ')"
	dpdk_stop
	return 1
}
# dpdk_ensure broker|responder: before a run, checks that the memif server survived the last
# client's departure (DPDK 22.11's memif server can segfault then, even with the traffic stopped
# first); if not, counts it in dpdk_crashes (the report says so) and starts a new one.
dpdk_crashes=0
dpdk_dead() { # dpdk_dead broker|responder: true (and counted, and reaped) if it has exited
	local rc=0 p=${pid[sluice-dpdk]:-}
	[[ -n $p ]] || return 0 # (not running: its start failed before; not a crash)
	kill -0 "$p" 2>/dev/null && return 1
	wait "$p" 2>/dev/null || rc=$?
	unset "pid[sluice-dpdk]"
	dpdk_crashes=$((dpdk_crashes + 1))
	echo "  the DPDK $1 exited (status $rc) after the last client left"
	echo "dpdk_crash	$1 exited with status $rc after a client left: $(grep -v '^$' "$work/sluice-dpdk-$1.log" | tail -1)" >>"$work/meta.tsv"
}
dpdk_ensure() {
	dpdk_dead "$1" || return 0
	dpdk_start "$1" || return 1
	dpdk_client "$work/dpdk-warmup.out" --topic dpdk_warmup --count 2000 --inflight "$dpdk_inflight"
	sleep 1
}
dpdk_stop() { # dpdk_stop [broker|responder] (only once the client has left: see the memif note)
	if [[ -n ${1:-} ]] && dpdk_dead "$1"; then
		return 0
	fi
	kill -TERM "${pid[sluice-dpdk]:-}" 2>/dev/null || true
	wait "${pid[sluice-dpdk]:-}" 2>/dev/null || true
	unset "pid[sluice-dpdk]"
}
# dpdk_client OUT ARGS...: one `sluice perf produce --dpdk` run on core 1 (stdout in OUT, stderr
# in OUT.log). The server's CPU ticks are sampled from when the client says "connected" (its
# clock starts then; the server busy-polls through the client's EAL start-up too) to its exit,
# into d_c0 and d_c1, with the wall clock (ns) in d_t0 and d_t1. A memif server (22.11) may
# refuse a client that comes right after the previous one left: then it is tried again.
dpdk_client() {
	local out=$1 try cpid
	shift
	for try in 1 2 3; do
		: >"$out.log"
		"${cli[@]}" "$sluice_cli" perf produce --dpdk --brokers 10.0.0.1:9092 --ip 10.0.0.2 \
			--peer-mac 02:00:00:00:5e:01 --size 1024 --acks 1 --timeout 10s \
			--eal-args "$(dpdk_eal client "$dpdk_ccore" "slcmp-c$$")" "$@" >"$out" 2>"$out.log" &
		cpid=$!
		for _ in $(seq 600); do
			grep -qs 'perf --dpdk: connected' "$out.log" && break
			kill -0 "$cpid" 2>/dev/null || break
			sleep 0.05
		done
		d_c0=$(cpu_ticks "${pid[sluice-dpdk]}" 2>/dev/null || echo 0)
		d_t0=$(date +%s%N)
		wait "$cpid" || true
		d_c1=$(cpu_ticks "${pid[sluice-dpdk]}" 2>/dev/null || echo 0)
		d_t1=$(date +%s%N)
		grep -q 'Failed to connect socket' "$out.log" || break
		if ((try < 3)); then sleep 1; fi
	done
}
# dpdk_row SYSTEM WORKLOAD ROUND RATE OUT: the result of the last dpdk_client into runs.tsv.
# `sluice perf --dpdk` prints p50, p99, p99.9 and max: the curve file for the plots holds those
# four points (p90 and p99.99 stay empty, "-").
dpdk_row() {
	local s=$1 wl=$2 round=$3 rate=$4 out=$5 line curve ccpu bcpu
	line=$(grep '^sluice-perf ' "$out" | tail -1 || true)
	if [[ -z $line ]]; then
		echo "  $s $wl r$round: no result: $(tail -3 "$out.log" | tr '\n' ' ')"
		return 0
	fi
	n=$((n + 1))
	curve=$work/curve-$n.txt
	{
		echo "# percentile latency_us 1/(1-p): sluice perf --dpdk reports p50, p99, p99.9, max"
		echo "0 nan 1" # (the plot skips the first row: p0 of the other systems' curves)
		echo "50 $(kv p50_us "$line") 2"
		echo "99 $(kv p99_us "$line") 100"
		echo "99.9 $(kv p999_us "$line") 1000"
		echo "100 $(kv max_us "$line") 1e7"
	} >"$curve"
	# client cpu: the share of its core the client used (busy-polling: ~1.0 always)
	ccpu=$($py -c "import sys; r, us, t = map(float, sys.argv[1:]); print('%.2f' % (r * us / 1e6 / t if t else 0))" \
		"$(kv requests "$line")" "$(kv client_cpu_us_per_req "$line")" "$(kv seconds "$line")")
	# broker CPU: its share of a core between the two samples times the client's measured
	# seconds (the samples also span the client's result and EAL teardown, during which a
	# busy-polling broker keeps burning its core: unscaled, that would be charged to the run)
	bcpu=$($py -c "import sys; c0, c1, t0, t1, s = map(float, sys.argv[1:]); print('%.2f' % ((c1 - c0) / $tck * s * 1e9 / (t1 - t0) if t1 > t0 else 0))" \
		"$d_c0" "$d_c1" "$d_t0" "$d_t1" "$(kv seconds "$line")")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$s" nofsync "$wl" "$round" 1024 1 "$rate" \
		"$(kv records_per_s "$line")" "$(kv mb_per_s "$line")" "$(kv p50_us "$line")" \
		- "$(kv p99_us "$line")" "$(kv p999_us "$line")" - "$(kv max_us "$line")" "$ccpu" \
		"$bcpu" "$(kv errors "$line")" "$curve" "$(kv bytes "$line")" 0 0 >>"$runs"
	printf '  %-15s %-24s %9s rec/s %8s MB/s p50 %9s us p99 %9s us client_cpu %s broker_cpu %ss\n' \
		"$s" "$wl r$round" "$(kv records_per_s "$line")" "$(kv mb_per_s "$line")" \
		"$(kv p50_us "$line")" "$(kv p99_us "$line")" "$ccpu" "$bcpu"
}
run_dpdk() {
	local why round pct r out=$work/dpdk-client.out t0 c1 cb
	t0=$(date +%s)
	echo "dpdk_stat_begin	$(head -1 /proc/stat)" >>"$work/meta.tsv"
	echo "-- sluice DPDK path: sluiced --dataplane dpdk (memif server, core 0) <- sluice perf produce --dpdk (core 1)"
	why=$(dpdk_unavailable)
	if [[ -n $why ]]; then
		echo "  NOT MEASURED: $why"
		echo "dpdk_missing	$why" >>"$work/meta.tsv"
		return 0
	fi
	# EAL memory: 2 x 512 MiB (-m 512 per process) + slack in 2 MiB hugepages
	dpdk_mem="--no-huge -m 512 --no-shconf"
	local note="BENCH_HUGE=0"
	if [[ ${BENCH_HUGE:-1} == 1 ]]; then
		if [[ -w $hp ]]; then
			local old
			old=$(cat "$hp")
			echo $((old + 768)) >"$hp" 2>/dev/null || true
			hp_added=$(($(cat "$hp") - old))
			if ((hp_added >= 768)); then
				dpdk_mem="--in-memory -m 512"
				note=""
			else
				note="only $hp_added of 768 2 MiB pages could be reserved"
			fi
		else
			note="$hp not writable"
		fi
	fi
	if [[ -n $note ]]; then
		echo "  EAL memory: NO hugepages ($note): --no-huge -m 512, slower"
		echo "dpdk_nohuge	$note; EAL --no-huge -m 512" >>"$work/meta.tsv"
	else
		echo "  EAL memory: 2 MiB hugepages ($hp_added reserved for this run, --in-memory -m 512)"
	fi
	{
		echo "dpdk_batch	$dpdk_batch"
		echo "dpdk_inflight	$dpdk_inflight"
	} >>"$work/meta.tsv"
	if ! dpdk_start broker; then
		echo "dpdk_missing	sluiced --dataplane dpdk did not start: $(tail -1 "$work/sluice-dpdk-broker.log")" >>"$work/meta.tsv"
		hp_release
		return 0
	fi
	dpdk_client "$out" --topic dpdk_warmup --count 20000 --inflight "$dpdk_inflight" # ARP, topic, pools
	sleep 1 # let the memif server finish with one client before the next comes
	for round in 1 2; do
		dpdk_ensure broker || break
		dpdk_client "$out" --topic "sluice-dpdk_max_r$round" --duration "${secs}s" \
			--inflight "$dpdk_inflight"
		dpdk_row sluice-dpdk max-1024B-1p "$round" max "$out"
		sleep 1
		dpdk_ensure broker || break
		dpdk_client "$out" --topic "sluice-dpdk-batch_max_r$round" --duration "${secs}s" \
			--inflight "$dpdk_inflight" --batch-records "$dpdk_batch"
		dpdk_row sluice-dpdk-batch max-1024B-1p "$round" max "$out"
		sleep 1
	done
	# latency: one record per request while the rate is below 80% of what that shape reached
	# above; beyond it, a saturated shape would only measure its queue, so the batched shape
	local max1
	max1=$(awk -F'\t' '$1 == "sluice-dpdk" && $3 == "max-1024B-1p" && $8 + 0 > m {m = $8 + 0}
		END {print int(m)}' "$runs")
	# One latency topic, created before the timed runs: creating a partition (directory,
	# index files faulted in) takes the shard ~25 ms, which an open-loop schedule would charge
	# to every record due meanwhile (p99 25 ms at 10% instead of ~0.1 ms, seen here).
	dpdk_ensure broker && dpdk_client "$out" --topic sluice-dpdk_lat --count 2000 \
		--inflight "$dpdk_inflight"
	for pct in 10 50 80; do
		r=$((${base[nofsync]:-0} * pct / 100))
		((r > 0)) || continue
		dpdk_ensure broker || break
		if ((r * 10 <= max1 * 8)); then
			dpdk_client "$out" --topic sluice-dpdk_lat --duration "${secs}s" \
				--inflight "$dpdk_inflight" --rate "$r"
			dpdk_row sluice-dpdk "lat-${pct}pct" 1 "$r" "$out"
		else
			dpdk_client "$out" --topic sluice-dpdk_lat --duration "${secs}s" \
				--inflight "$dpdk_inflight" --rate "$r" --batch-records "$dpdk_batch"
			dpdk_row sluice-dpdk-batch "lat-${pct}pct" 1 "$r" "$out"
		fi
		sleep 1
	done
	dpdk_stop broker
	if ! grep -q '^sluice-dpdk' "$runs"; then
		echo "dpdk_missing	every run failed (sluiced --dataplane dpdk log: $(tail -1 "$work/sluice-dpdk-broker.log"))" >>"$work/meta.tsv"
	fi
	# the client's own ceiling: the same client against a responder that stores nothing
	c1=nan
	cb=nan
	if dpdk_start responder; then
		dpdk_client "$out" --topic dpdk_warmup --count 20000 --inflight "$dpdk_inflight"
		sleep 1
		dpdk_client "$out" --topic ceiling --duration "${secs}s" --inflight "$dpdk_inflight"
		c1=$(kv records_per_s "$(grep '^sluice-perf ' "$out" | tail -1 || true)")
		sleep 1
		dpdk_ensure responder || true
		dpdk_client "$out" --topic ceiling --duration "${secs}s" --inflight "$dpdk_inflight" \
			--batch-records "$dpdk_batch"
		cb=$(kv records_per_s "$(grep '^sluice-perf ' "$out" | tail -1 || true)")
		dpdk_stop responder
	fi
	echo "  client ceiling (sluice perf serve --dpdk, stores nothing): ${c1:-nan} rec/s at 1 record/request, ${cb:-nan} rec/s at $dpdk_batch"
	{
		echo "dpdk_ceil_1_rps	${c1:-nan}"
		echo "dpdk_ceil_b_rps	${cb:-nan}"
		echo "dpdk_wall_s	$(($(date +%s) - t0))"
		echo "dpdk_crashes	$dpdk_crashes"
		echo "dpdk_stat_end	$(head -1 /proc/stat)"
	} >>"$work/meta.tsv"
	hp_release
	echo "  (DPDK section: $(($(date +%s) - t0)) s)"
}

# finish: machine state after the run, the report and the plots
finish() {
	local base_name=$stamp-$host dst=$out_dir
	busy_after=$(busy_pct 2)
	t_end=$(date +%s)
	{
		echo "busy_after	$busy_after"
		echo "loadavg_after	$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "wall_s	$((t_end - t_begin))"
		echo "stat_end	$(head -1 /proc/stat)"
		echo "cli_cores	$cli_cores"
	} >>"$work/meta.tsv"
	echo "machine busy after the run: ${busy_after}% (other processes only; our servers are stopped)"
	if [[ $only == dpdk ]]; then
		base_name=$stamp-$host-dpdk-only
		dst=$out_dir/tmp # (ignored by git: a development run is not a result)
	fi
	$py "$repo/scripts/bench-compare-report.py" "$work" "$dst" "$base_name"
	(cd "$dst" && gnuplot -e "base='$base_name'; dat='$work/plot'" "$repo/scripts/bench-compare.gp")
	echo "bench-compare: wrote $dst/$base_name.md and $dst/$base_name-*.png in $((t_end - t_begin)) s"
}

if [[ $only == dpdk ]]; then
	echo "BENCH_ONLY=dpdk: only sluice's DPDK path; latency rates from BENCH_BASE_RATE"
	declare -A base=([nofsync]=${BENCH_BASE_RATE:-300000})
	{
		echo "only	dpdk (BENCH_ONLY=dpdk: a development run, no limits, no peers)"
		echo "base_nofsync	${base[nofsync]}"
	} >>"$work/meta.tsv"
	run_dpdk
	finish
	exit 0
fi

# ---- 1. physical limits --------------------------------------------------------------------------
port=$(free_port)
"${srv[@]}" iperf3 -s -1 -p "$port" >"$work/iperf3-server.log" 2>&1 &
ipid=$!
# (not wait_port: iperf3 -1 would take the probe for its one test)
for _ in $(seq 50); do
	grep -q listening "$work/iperf3-server.log" 2>/dev/null && break
	sleep 0.1
done
"${cli[@]}" iperf3 -c 127.0.0.1 -p "$port" -t 5 -J >"$work/iperf3.json"
wait "$ipid" || true
iperf_mbps=$($py -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 8e6))' "$work/iperf3.json")
echo "iperf3 loopback, 1 stream: $iperf_mbps MB/s"

"${cli[@]}" fio --name=seqwrite --directory="$work" --rw=write --bs=1M --size=2G --direct=1 \
	--ioengine=io_uring --iodepth=8 --runtime=5 --time_based --output-format=json \
	>"$work/fio-seq.json" 2>/dev/null
fio_seq=$($py -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw_bytes"] / 1e6))' "$work/fio-seq.json")
rm -f "$work"/seqwrite.*
echo "fio 1 MiB sequential O_DIRECT write: $fio_seq MB/s"

"${cli[@]}" fio --name=fsync --directory="$work" --rw=write --bs=4k --size=64M --fdatasync=1 \
	--ioengine=sync --runtime=5 --time_based --output-format=json >"$work/fio-sync.json" 2>/dev/null
read -r fsync_p50 fsync_p99 <<<"$($py - "$work/fio-sync.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))['jobs'][0]
# one write + one fdatasync per op: the write's completion latency plus the sync's
w = j['write']['clat_ns']['percentile']
s = j.get('sync', {}).get('lat_ns', {}).get('percentile', {})
def p(d, k):
    for key, v in d.items():
        if abs(float(key) - k) < 1e-6:
            return v
    return 0
print('%.0f %.0f' % ((p(w, 50) + p(s, 50)) / 1e3, (p(w, 99) + p(s, 99)) / 1e3))
EOF
)"
rm -f "$work"/fsync.*
echo "fio 4 KiB write + fdatasync: p50 $fsync_p50 us, p99 $fsync_p99 us"

memcpy_mbps=$(kv mb_per_s "$("${cli[@]}" "$load" --memcpy)")
echo "memcpy (1 thread): $memcpy_mbps MB/s"

# kernel-bypass limit: two dpdk-testpmd processes over net_memif (scripts/bench-testpmd.sh)
testpmd_mpps=n/a
testpmd_mbps=n/a
if tp_out=$("$repo/scripts/bench-testpmd.sh" 8 1024 2>"$work/testpmd.err"); then
	echo "$tp_out" | head -1
	eval "$(echo "$tp_out" | tail -1)"
else
	echo "testpmd over memif: NOT MEASURED ($(tail -1 "$work/testpmd.err"))"
fi
{
	echo "testpmd_mpps	$testpmd_mpps"
	echo "testpmd_mbps	$testpmd_mbps"
	echo "iperf3_mbps	$iperf_mbps"
	echo "fio_seq_mbps	$fio_seq"
	echo "fsync_p50_us	$fsync_p50"
	echo "fsync_p99_us	$fsync_p99"
	echo "memcpy_mbps	$memcpy_mbps"
} >>"$work/meta.tsv"

# ---- 2. systems ------------------------------------------------------------------------------------
start_sluiced() { # start_sluiced NAME EXTRA-ARGS...
	local name=$1 a=""
	shift
	mkdir -p "$work/$name"
	"${srv[@]}" "$sluiced" --override listeners=PLAINTEXT://127.0.0.1:0 \
		--override "log.dirs=$work/$name" --override num.shards=1 \
		--override auto.create.topics.enable=true "$@" 2>"$work/$name.log" &
	pid[$name]=$!
	for _ in $(seq 300); do
		a=$(sed -n 's/.*sluiced listening on \([^ ]*\).*/\1/p' "$work/$name.log" | head -1)
		[[ -n $a ]] && break
		sleep 0.1
	done
	[[ -n $a ]] || { cat "$work/$name.log" >&2; die "$name did not start"; }
	addr[$name]=$a
}
start_redis() { # start_redis NAME FSYNC-POLICY
	local p
	p=$(free_port)
	mkdir -p "$work/$1"
	"${srv[@]}" redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly yes \
		--appendfsync "$2" --dir "$work/$1" --daemonize no >"$work/$1.log" 2>&1 &
	pid[$1]=$!
	wait_port "$p" || die "$1 did not start"
	addr[$1]=127.0.0.1:$p
}
start_nats() { # start_nats NAME [sync]
	local p
	p=$(free_port)
	mkdir -p "$work/$1"
	{
		echo "listen: 127.0.0.1:$p"
		echo "jetstream { store_dir: \"$work/$1\" ${2:+, sync_interval: always} }"
	} >"$work/$1.conf"
	"${srv[@]}" nats-server -c "$work/$1.conf" >"$work/$1.log" 2>&1 &
	pid[$1]=$!
	if ! wait_port "$p"; then
		unset "pid[$1]"
		return 1
	fi
	addr[$1]=127.0.0.1:$p
}

systems=(sluice sluice-raw kmock redis nats sluice-durable redis-always)
declare -A backend=([sluice]=kafka [sluice-durable]=kafka [kmock]=kafka [redis]=redis
	[redis-always]=redis [nats]=nats [nats-sync]=nats [sluice-raw]=kafka-raw)
declare -A class=([sluice]=nofsync [kmock]=nofsync [redis]=nofsync [nats]=nofsync
	[sluice-durable]=durable [redis-always]=durable [nats-sync]=durable [sluice-raw]=nofsync)
start_sluiced sluice
pid[sluice-raw]=${pid[sluice]} # one broker, two clients
addr[sluice-raw]=${addr[sluice]}
start_sluiced sluice-durable --durable
start_redis redis everysec
start_redis redis-always always
start_nats nats
if start_nats nats-sync sync; then
	systems+=(nats-sync)
else
	echo "nats-sync: not run: $(head -1 "$work/nats-sync.log")"
	echo "nats_sync_missing	$(head -1 "$work/nats-sync.log")" >>"$work/meta.tsv"
fi
if [[ -x $mock ]]; then
	# The mock ignores CreateTopics' partition count: create every topic the runs use.
	mt=(--topic kmock_warmup_r0:1 --topic kmock_lat-10pct_r1:1 --topic kmock_lat-50pct_r1:1
		--topic kmock_lat-80pct_r1:1 --topic kmock_e2e-50pct_r1:1)
	for r in 1 2; do
		for sh in 100B-1p:1 100B-16p:16 1024B-1p:1 1024B-16p:16; do
			mt+=(--topic "kmock_max-${sh%:*}_r$r:${sh#*:}")
		done
	done
	"${srv[@]}" "$mock" "${mt[@]}" 2>"$work/kmock.log" &
	pid[kmock]=$!
	a=""
	for _ in $(seq 300); do
		a=$(sed -n 's/.*mockbroker listening on \([^ ,]*\).*/\1/p' "$work/kmock.log" | head -1)
		[[ -n $a ]] && break
		sleep 0.1
	done
	addr[kmock]=$a
	[[ -n $a ]] || { echo "kmock: did not start in 30 s, not run"; systems=("${systems[@]/kmock/}"); }
else
	systems=("${systems[@]/kmock/}")
fi
for s in "${systems[@]}"; do
	[[ -n $s ]] && echo "$s: ${backend[$s]} on ${addr[$s]} (pid ${pid[$s]}, class ${class[$s]})"
done

# ---- 3. workloads ----------------------------------------------------------------------------------
run() { # run SYSTEM WORKLOAD ROUND MODE SIZE PARTS RATE LINGER [ARGS...]: one sl-load run, one row
	local s=$1 wl=$2 round=$3 mode=$4 size=$5 parts=$6 rate=$7 linger=$8
	shift 8
	local topic curve c0 c1 line
	n=$((n + 1))
	topic=${s}_${wl}_r$round # kmock's topics are created up front under these names
	[[ $mode == consume ]] && topic=$1 && shift
	curve=$work/curve-$n.txt
	c0=$(cpu_ticks "${pid[$s]}")
	line=$("${cli[@]}" "$load" --backend "${backend[$s]}" --addr "${addr[$s]}" --topic "$topic" \
		--mode "$mode" --size "$size" --partitions "$parts" --rate "$rate" \
		--duration "$secs" --linger-ms "$linger" --curve "$curve" --max-inflight 20000 \
		--timeout 5 "$@" 2>>"$work/sl-load.log" |
		grep '^sl-load ' || true)
	c1=$(cpu_ticks "${pid[$s]}")
	if [[ -z $line ]]; then
		echo "  $s $wl: no result (see sl-load.log)"
		tail -3 "$work/sl-load.log" | sed 's/^/    /'
		return 0
	fi
	local bcpu
	bcpu=$($py -c "print('%.2f' % (($c1 - $c0) / $(getconf CLK_TCK)))")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$s" "${class[$s]}" "$wl" "$round" "$size" "$parts" "$rate" \
		"$(kv records_per_s "$line")" "$(kv mb_per_s "$line")" "$(kv p50_us "$line")" \
		"$(kv p90_us "$line")" "$(kv p99_us "$line")" "$(kv p999_us "$line")" \
		"$(kv p9999_us "$line")" "$(kv max_us "$line")" "$(kv client_cpu "$line")" "$bcpu" \
		"$(kv errors "$line")" "$([[ -f $curve ]] && echo "$curve" || echo -)" \
		"$(kv bytes "$line")" "$(kv unacked "$line")" "$(kv unsent "$line")" >>"$runs"
	printf '  %-15s %-24s %9s rec/s %8s MB/s p50 %9s us p99 %9s us client_cpu %s broker_cpu %ss\n' \
		"$s" "$wl r$round" "$(kv records_per_s "$line")" "$(kv mb_per_s "$line")" \
		"$(kv p50_us "$line")" "$(kv p99_us "$line")" "$(kv client_cpu "$line")" "$bcpu"
	last_topic=$topic
	last_records=$(kv records "$line")
}

# warm-up: connections, topic creation paths, the brokers' pools
for s in "${systems[@]}"; do
	[[ -n $s ]] || continue
	run "$s" warmup 0 produce 1024 1 max 5 >/dev/null
done
sed -i '/\twarmup\t/d' "$runs"

echo "-- produce, max throughput (A B A B: every system, then again)"
declare -A catchup_topic catchup_n
for round in 1 2; do
	for shape in 100:1 100:16 1024:1 1024:16; do
		size=${shape%:*}
		parts=${shape#*:}
		for s in "${systems[@]}"; do
			[[ -n $s ]] || continue
			last_topic=""
			run "$s" "max-${size}B-${parts}p" "$round" produce "$size" "$parts" max 5
			if [[ $round == 2 && $shape == 1024:1 && -n $last_topic ]]; then
				catchup_topic[$s]=$last_topic
				catchup_n[$s]=$last_records
			fi
		done
	done
done

best_rate() { # best 1 KiB / 1 partition records/s of system $1
	awk -F'\t' -v s="$1" '$1 == s && $3 == "max-1024B-1p" && $8 + 0 > m {m = $8 + 0} END {print int(m)}' "$runs"
}
declare -A base
base[nofsync]=$(best_rate sluice)
base[durable]=$(best_rate sluice-durable)
echo "sluice max 1 KiB/1p: ${base[nofsync]} rec/s; sluice-durable: ${base[durable]} rec/s"

echo "-- produce latency at 10/50/80% of sluice's max in the same class (1 KiB, 1 partition)"
for pct in 10 50 80; do
	for s in "${systems[@]}"; do
		[[ -n $s ]] || continue
		r=$((base[${class[$s]}] * pct / 100))
		((r > 0)) || continue
		run "$s" "lat-${pct}pct" 1 produce 1024 1 "$r" 0
	done
done

echo "-- end to end at 50% (1 KiB, 1 partition)"
for s in "${systems[@]}"; do
	[[ -n $s ]] || continue
	r=$((base[${class[$s]}] / 2))
	((r > 0)) || continue
	run "$s" "e2e-50pct" 1 e2e 1024 1 "$r" 0
done

echo "-- consume only: catch-up read of the round-2 1 KiB/1 partition topic"
for s in "${systems[@]}"; do
	[[ -n $s && -n ${catchup_topic[$s]:-} ]] || continue
	run "$s" consume-1024B-1p 1 consume 1024 1 max 0 "${catchup_topic[$s]}" \
		--count "${catchup_n[$s]}" --timeout 5
done

# ---- stop ------------------------------------------------------------------------------------------
for s in "${!pid[@]}"; do
	kill -TERM "${pid[$s]}" 2>/dev/null || true
	wait "${pid[$s]}" 2>/dev/null || true
	unset "pid[$s]"
done

# ---- 4. sluice's DPDK path over memif (on the cores the servers above have freed) ------------------
run_dpdk

# ---- 5. report and plots ---------------------------------------------------------------------------
finish
