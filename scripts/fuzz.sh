#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer target of a -Dfuzzing=true build for SECONDS each, two at a time.
#
#   scripts/fuzz.sh BUILD_DIR SECONDS        (make test-fuzz: build-fuzz, FUZZ_SECONDS)
#
# Each target fuzzes a scratch copy of tests/fuzz/corpus/<name>/, so the committed corpus
# only changes when something is found: then the crashing (or leaking, timing-out, OOM)
# input is copied into tests/fuzz/corpus/<name>/, where the fuzz-replay tests pick it up
# from then on, and the script exits non-zero. Commit that file with the fix.
# Environment: FUZZ_JOBS (parallel targets, default 2), FUZZ_NICE (default 10),
# FUZZ_ARGS (extra libFuzzer flags).
set -uo pipefail

if (($# != 2)) || ! [[ "$2" =~ ^[0-9]+$ ]]; then
	echo "usage: $0 BUILD_DIR SECONDS" >&2
	exit 2
fi
build=$1
secs=$2
root=$(cd "$(dirname "$0")/.." && pwd)
corpus_root=$root/tests/fuzz/corpus
jobs=${FUZZ_JOBS:-2}
nice_lvl=${FUZZ_NICE:-10}

targets=()
if [[ -d "$build/tests/fuzz" ]]; then
	while IFS= read -r f; do
		targets+=("$f")
	done < <(find "$build/tests/fuzz" -maxdepth 1 -type f -perm -u+x -name 'fuzz_*' \
		! -name '*_replay' | sort)
fi
if ((${#targets[@]} == 0)); then
	echo "fuzz.sh: no fuzz targets in $build/tests/fuzz (configure with CC=clang -Dfuzzing=true)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# Runs one target; leaves its exit status in $work/<name>/rc.
run_one() {
	local bin=$1 name dir rc
	name=$(basename "$bin")
	name=${name#fuzz_}
	dir=$work/$name
	mkdir -p "$dir/corpus" "$dir/artifacts"
	if [[ -d "$corpus_root/$name" ]]; then
		cp -a "$corpus_root/$name/." "$dir/corpus/"
	fi
	# shellcheck disable=SC2086
	nice -n "$nice_lvl" "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/" ${FUZZ_ARGS:-} \
		"$dir/corpus" >"$dir/log" 2>&1
	rc=$?
	echo "$rc" >"$dir/rc"
}

report() {
	local bin=$1 name dir rc found f
	name=$(basename "$bin")
	name=${name#fuzz_}
	dir=$work/$name
	rc=$(cat "$dir/rc" 2>/dev/null || echo 255)
	found=$(find "$dir/artifacts" -type f | wc -l)
	if [[ "$rc" == 0 && "$found" == 0 ]]; then
		echo "fuzz.sh: $name: ok ($(grep -o 'Done [0-9]* runs' "$dir/log" | tail -1 || true)," \
			"corpus $(find "$dir/corpus" -type f | wc -l) inputs)"
		return 0
	fi
	echo "fuzz.sh: $name: FAILED (exit $rc). Last lines of its log:" >&2
	tail -n 40 "$dir/log" >&2
	mkdir -p "$corpus_root/$name"
	for f in "$dir/artifacts"/*; do
		[[ -f "$f" ]] || continue
		cp "$f" "$corpus_root/$name/"
		echo "fuzz.sh: saved $corpus_root/$name/$(basename "$f"):" \
			"fix the bug and commit this file (the fuzz-replay tests replay it)." >&2
	done
	return 1
}

echo "fuzz.sh: ${#targets[@]} target(s), ${secs}s each, $jobs at a time"
running=0
for bin in "${targets[@]}"; do
	if ((running >= jobs)); then
		wait -n
		running=$((running - 1))
	fi
	run_one "$bin" &
	pids+=($!)
	running=$((running + 1))
done
wait
pids=()

failed=0
for bin in "${targets[@]}"; do
	report "$bin" || failed=1
done
exit $failed
