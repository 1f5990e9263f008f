#!/bin/bash
# tests/fuzz/run.sh: builds the fuzz targets of tests/fuzz as libFuzzer
# binaries (clang, AddressSanitizer + UndefinedBehaviorSanitizer) in
# build-fuzz, then runs each for a bounded time on a copy of its corpus.
#
#   tests/fuzz/run.sh [--seconds N] [--runs N] [--merge] [TARGET...]
#
#   --seconds N  time per target (default 30; with --runs, 3600 at most)
#   --runs N     stop a target after N executions (or the time, if first)
#   --merge      add to tests/fuzz/corpus/TARGET the new inputs that widen
#                coverage (libFuzzer -merge=1); without it the tree's
#                corpus is only read
#   TARGET       config, code, value, request (default: all)
#
# Prints per target its executions, executions per second, coverage and
# findings. A crash, a leak, a sanitizer report, a timeout or an
# out-of-memory is a finding: its input is left in
# build-fuzz/fuzz-run/TARGET/ (the path is printed) and the script exits
# 1. Replay one with build-fuzz/tests/fuzz/fuzz_TARGET FILE, fix the
# parser, and keep the input in tests/fuzz/regressions/TARGET/.
#
# Needs root only to install clang when it is missing (apt-get).
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$(pwd)
build=build-fuzz
seconds=
runs=
merge=0
targets=()
all=(config code value request)

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=${2:?}; shift 2 ;;
	--runs) runs=${2:?}; shift 2 ;;
	--merge) merge=1; shift ;;
	-h|--help) usage ;;
	-*) echo "run.sh: unknown option $1" >&2; usage ;;
	*) targets+=("$1"); shift ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
	case " ${all[*]} " in
	*" $t "*) ;;
	*) echo "run.sh: no target $t (${all[*]})" >&2; exit 2 ;;
	esac
done
for n in "$seconds" "$runs"; do
	case "$n" in
	''|*[!0-9]*) [ -z "$n" ] || { echo "run.sh: not a number: $n" >&2; exit 2; } ;;
	esac
done
if [ -z "$seconds" ]; then
	if [ -n "$runs" ]; then seconds=3600; else seconds=30; fi
fi
[ "$seconds" -ge 1 ] || { echo "run.sh: --seconds must be >= 1" >&2; exit 2; }

# The longest input worth trying, per target: a configuration, a pattern
# with its alphabet, a code and a prefix, a header and a value, a path and
# a pattern or a body.
declare -A max_len=([config]=4096 [code]=320 [value]=96 [request]=1100)

# --- clang with libFuzzer -----------------------------------------------
have_libfuzzer() {
	local d
	d=$(mktemp -d)
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
		'{ (void)d; (void)n; return 0; }' > "$d/t.c"
	clang -fsanitize=fuzzer,address,undefined "$d/t.c" -o "$d/t" \
		>/dev/null 2>&1
	local rc=$?
	rm -rf "$d"
	return $rc
}
if ! command -v clang >/dev/null; then
	echo "run.sh: installing clang (apt-get)"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang
fi
if ! have_libfuzzer; then
	# Debian ships libFuzzer with compiler-rt.
	echo "run.sh: installing libFuzzer (libclang-rt-dev)"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q libclang-rt-dev
	have_libfuzzer || { echo "run.sh: clang cannot link -fsanitize=fuzzer" >&2; exit 1; }
fi

# --- build ----------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false
fi
if ! meson introspect "$build" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
sys.exit(0 if o.get("fuzz") is True else 1)'; then
	echo "run.sh: $build was set up without -Dfuzz=true" >&2
	exit 1
fi
ninja -C "$build" $(printf "tests/fuzz/fuzz_%s " "${targets[@]}")

# --- run ------------------------------------------------------------------
# A sanitizer report is a finding, not a warning.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

failed=0
summary=()
for t in "${targets[@]}"; do
	work=$build/fuzz-run/$t
	rm -rf "$work"
	mkdir -p "$work/corpus"
	cp -r tests/fuzz/corpus/"$t"/. "$work/corpus/"
	if [ -d tests/fuzz/regressions/"$t" ]; then
		cp -r tests/fuzz/regressions/"$t"/. "$work/corpus/"
	fi
	args=(-max_len="${max_len[$t]}" -max_total_time="$seconds"
	      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
	      -artifact_prefix="$work/")
	[ -z "$runs" ] || args+=(-runs="$runs")
	[ ! -f tests/fuzz/dict/"$t".dict ] || args+=(-dict=tests/fuzz/dict/"$t".dict)
	echo "== fuzz_$t: ${runs:+$runs runs or }$seconds s, -max_len=${max_len[$t]}"
	start=$(date +%s)
	set +e
	# The outer timeout only guards against a hang libFuzzer itself
	# would not stop.
	timeout --kill-after=30 $((seconds + 120)) \
		"$build/tests/fuzz/fuzz_$t" "${args[@]}" "$work/corpus" \
		>"$work/log" 2>&1
	rc=$?
	set -e
	elapsed=$(( $(date +%s) - start ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9]*[a-zA-Z]*' "$work/log" | tail -1 || true)
	found=$(ls "$work" | grep -E '^(crash|leak|timeout|oom)-' || true)
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		failed=1
		verdict="FINDING (exit $rc)"
		echo "-- fuzz_$t: finding; the end of its log ($work/log):"
		tail -40 "$work/log"
		for f in $found; do
			echo "-- input: $root/$work/$f"
		done
	else
		verdict="no finding"
	fi
	line=$(printf "fuzz_%-8s %12s execs %8s exec/s %5ss  %s  %s" "$t" \
		"${execs:-?}" "${speed:-?}" "$elapsed" "${cov:-cov: ?}" "$verdict")
	echo "$line"
	summary+=("$line")
	if [ $merge -eq 1 ] && [ $rc -eq 0 ]; then
		before=$(ls tests/fuzz/corpus/"$t" | wc -l)
		"$build/tests/fuzz/fuzz_$t" -merge=1 -max_len="${max_len[$t]}" \
			tests/fuzz/corpus/"$t" "$work/corpus" >"$work/merge.log" 2>&1
		echo "-- merged into tests/fuzz/corpus/$t: $before -> $(ls tests/fuzz/corpus/"$t" | wc -l) files"
	fi
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $failed
