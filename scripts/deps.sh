#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages sluice builds, tests and benchmarks with, when any is
# missing. Needs root (or sudo) for apt-get. Usage: scripts/deps.sh [build|test|bench]
set -euo pipefail
what=${1:-test}

build_pkgs=(gcc g++ make meson ninja-build pkg-config liburing-dev libnuma-dev libisal-dev
	libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev librdkafka-dev libcmocka-dev
	libbenchmark-dev dpdk dpdk-dev libdpdk-dev python3)
test_pkgs=(clang libclang-rt-14-dev kcat python3-kafka python3-confluent-kafka python3-snappy
	python3-lz4 python3-zstandard nodejs npm iproute2 ethtool procps)
bench_pkgs=(fio iperf3 gnuplot-nox redis-server nats-server libhiredis-dev libnats-dev valgrind)

pkgs=("${build_pkgs[@]}")
case "$what" in
build) ;;
test) pkgs+=("${test_pkgs[@]}") ;;
bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "deps.sh: unknown set '$what'" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$st" == "install ok installed" ]] || missing+=("$p")
done
# node and npm may come from outside Debian (nodesource, nvm); accept any working npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
	missing=("${missing[@]/nodejs/}")
	missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]:-}"

if ((${#missing[@]})); then
	sudo=""
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
		sudo=sudo
	fi
	echo "deps.sh: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ "$what" != build && -f tests/integration/js/package.json ]]; then
	if [[ ! -d tests/integration/js/node_modules/kafkajs ]]; then
		echo "deps.sh: npm ci (kafkajs, pinned by package-lock.json)"
		(cd tests/integration/js && npm ci --no-audit --no-fund --silent)
	fi
fi
