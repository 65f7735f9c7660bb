#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/bench-testpmd.sh [SECONDS] [FRAME_BYTES]: the kernel-bypass limit of this machine.
# Two dpdk-testpmd processes joined by net_memif (no NIC needed): the client sends frames of
# FRAME_BYTES (txonly), the server counts them (rxonly). Prints one line:
#   testpmd memif: <Mpps> Mpps, <MB/s> MB/s (<bytes> B frames, <secs> s)
# and, in machine form on stdout's last line, "testpmd_mpps=<x> testpmd_mbps=<y>".
#
# Each process keeps its forwarding lcore on its own core where there are two (server on
# core 0, client on core 1; the main lcores, which only print stats, sit on the other core).
# Uses --no-huge (works everywhere, about half the speed of hugepages; the figure is a floor).
# DPDK 22.11's memif server can crash if the client leaves while traffic flows, so the client
# is stopped first and the server's figure is read from its periodic stats before that.
set -euo pipefail

secs=${1:-8}
frame=${2:-1024}

command -v dpdk-testpmd >/dev/null || {
	echo "bench-testpmd: SKIP: dpdk-testpmd not installed (package dpdk)" >&2
	exit 77
}
if [ "$(id -u)" != 0 ]; then
	echo "bench-testpmd: SKIP: memif needs root here" >&2
	exit 77
fi

work=$(mktemp -d /tmp/sluice-testpmd.XXXXXX)
sock="$work/memif.sock"
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then
	srv_lc="0@1,1@0"
	cli_lc="0@0,1@1"
else
	srv_lc="0@0,1@0"
	cli_lc="0@0,1@0"
fi
eal=(--no-pci --no-huge -m 1024 --no-shconf)
pmd=(--stats-period 1 --no-mlockall --total-num-mbufs=16384 --mbuf-size=2176)

dpdk-testpmd --lcores "$srv_lc" "${eal[@]}" --file-prefix "sltpA$$" \
	--vdev="net_memif0,role=server,socket=$sock" -- --forward-mode=rxonly "${pmd[@]}" \
	>"$work/server.log" 2>&1 &
srv_pid=$!
# (the memif socket is abstract by default: wait for the server's first stats instead)
for _ in $(seq 100); do
	grep -q "NIC statistics" "$work/server.log" 2>/dev/null && break
	sleep 0.1
done
grep -q "NIC statistics" "$work/server.log" || { echo "bench-testpmd: the memif server did not start:" >&2; tail "$work/server.log" >&2; exit 1; }

# The client sends for secs + 2 s; the first 2 s of server stats (connect, ramp) are skipped.
# Then the server is stopped first (see the crash note above) and the client after it.
dpdk-testpmd --lcores "$cli_lc" "${eal[@]}" --file-prefix "sltpB$$" \
	--vdev="net_memif0,role=client,socket=$sock" -- --forward-mode=txonly --txpkts="$frame" \
	"${pmd[@]}" >"$work/client.log" 2>&1 &
cli_pid=$!
sleep $((secs + 2))
kill -INT "$srv_pid" 2>/dev/null || true
wait "$srv_pid" 2>/dev/null || true
srv_pid=
kill -INT "$cli_pid" 2>/dev/null || true
wait "$cli_pid" 2>/dev/null || true

# Rx-pps lines of the server, one per second: the median of the non-zero ones after the
# first two.
samples=$(awk '/Rx-pps:/ { if ($2 > 0) print $2 }' "$work/server.log" | tail -n +3 | sort -n)
n=$(printf '%s\n' "$samples" | grep -c . || true)
mpps=0
if [ "$n" -gt 0 ]; then
	mpps=$(printf '%s\n' "$samples" | awk -v n="$n" 'NR == int((n + 1) / 2) { printf "%.2f", $1 / 1e6 }')
fi
if [ "$n" = 0 ]; then
	echo "bench-testpmd: no traffic was counted; server log:" >&2
	tail -20 "$work/server.log" >&2
	tail -20 "$work/client.log" >&2
	exit 1
fi
mbps=$(awk -v p="$mpps" -v f="$frame" 'BEGIN { printf "%.0f", p * f }')
echo "testpmd memif: $mpps Mpps, $mbps MB/s ($frame B frames, median of $n one-second samples, --no-huge)"
echo "testpmd_mpps=$mpps testpmd_mbps=$mbps"
