#!/usr/bin/env bash
# Runs every test of uniqd, three times over: a plain build, an
# AddressSanitizer + UndefinedBehaviorSanitizer build, and a
# ThreadSanitizer build for the threaded suites (hopper, pool, end to
# end), then a short libFuzzer run of each fuzz target (clang, ASan and
# UBSan; UNIQ_FUZZ_SECONDS each, default 15). Installs what it needs first
# (Debian 12, as root). Ends with a line "SKIPPED (run) test: why" per
# skipped test (a Python module's skipped cases one by one), then the
# last 20 lines each failed test printed, then the last line
# "N passed, N failed, N skipped"; exits non-zero if anything failed.
#
#   tests/run.sh [plain|asan|tsan|fuzz ...]   (default: all four)
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh --tests ||
  { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
# playwright-core for the browser tests (no browser download: Debian's
# Chromium is used).
(cd tests/browser && npm ci --no-audit --no-fund --silent) ||
  { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
export UNIQ_REQUIRE_BROWSER=1
# install-deps.sh --tests installed etcd: test_etcd must not skip.
export UNIQ_REQUIRE_ETCD=1

runs=("$@")
((${#runs[@]})) || runs=(plain asan tsan fuzz)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:second_deadlock_stack=1}
# Recent kernels randomize mmap too widely for gcc 12's TSan; running the
# TSan suite without ASLR sidesteps "unexpected memory mapping".
norand=()
setarch "$(uname -m)" -R true 2>/dev/null && norand=(setarch "$(uname -m)" -R)

logs=()
build_failed=0
fuzz_passed=0
fuzz_failed=0
for run in "${runs[@]}"; do
  if [ "$run" = fuzz ]; then
    # One result per target: its summary line says "no finding" or not.
    echo "=== fuzz: ${UNIQ_FUZZ_SECONDS:-15} s per target"
    out=$(bash tests/fuzz/run.sh --seconds "${UNIQ_FUZZ_SECONDS:-15}" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    summary=$(printf '%s\n' "$out" | sed -n '/^== summary$/,$p')
    ok=$(printf '%s\n' "$summary" | grep -c '^fuzz_.* no finding$')
    bad=$(printf '%s\n' "$summary" | grep -c '^fuzz_.* FINDING')
    fuzz_passed=$((fuzz_passed + ok))
    fuzz_failed=$((fuzz_failed + bad))
    [ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || fuzz_failed=$((fuzz_failed + 1))
    continue
  fi
  dir=build-test-$run
  case $run in
    plain) opts=(); suites=() ;;
    asan)  opts=(-Db_sanitize=address,undefined -Db_lundef=false); suites=(--no-suite browser) ;;
    tsan)  opts=(-Db_sanitize=thread -Db_lundef=false); suites=(--suite threads) ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
  esac
  echo "=== $run: build"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "${opts[@]}" >/dev/null || { build_failed=$((build_failed + 1)); continue; }
  fi
  ninja -C "$dir" || { build_failed=$((build_failed + 1)); continue; }
  echo "=== $run: test"
  if [ "$run" = tsan ]; then
    "${norand[@]}" meson test -C "$dir" "${suites[@]}" --print-errorlogs
  else
    meson test -C "$dir" "${suites[@]}" --print-errorlogs
  fi
  logs+=("$dir/meson-logs/testlog.json")
done

python3 - "$build_failed" "$fuzz_passed" "$fuzz_failed" "${logs[@]}" <<'PY'
# One result per meson test, but a Python module's skipped tests (lines
# "UNIQ-SKIP id: reason" from tests/e2e/run_module.py) count one skip each;
# a test meson calls SKIP (exit 77) with no such line counts one. Each
# skip is named with its reason, then the last line is the count.
import json, sys
MARK = "UNIQ-SKIP "
failed_builds = int(sys.argv[1])
passed, failed = int(sys.argv[2]), int(sys.argv[3])
skips = []
tails = []
for path in sys.argv[4:]:
    run = path.split("/")[0].replace("build-test-", "")
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print("FAILED: no test log %s" % path)
        continue
    for line in lines:
        t = json.loads(line)
        out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
        marked = [l[len(MARK):].strip() for l in out.splitlines()
                  if l.startswith(MARK)]
        for m in marked:
            skips.append("(%s) %s: %s" % (run, t["name"], m))
        if t["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif t["result"] == "SKIP":
            if not marked:
                said = [l.strip() for l in out.splitlines() if l.strip()]
                skips.append("(%s) %s: exit 77: %s" % (
                    run, t["name"], said[-1] if said else "no reason"))
        else:
            failed += 1
            print("FAILED: %s (%s) %s" % (t["name"], t["result"], path))
            said = [l for l in out.splitlines() if l.strip()]
            tails.append((run, t["name"], said[-20:]))
failed += failed_builds
for s in skips:
    print("SKIPPED " + s)
# The end of what each failed test said, last, where a reader of only
# the tail of a CI log sees it.
for run, name, said in tails:
    print("TAIL (%s) %s:" % (run, name))
    for l in said:
        print("  | " + l[:240])
print("%d passed, %d failed, %d skipped" % (passed, failed, len(skips)))
sys.exit(1 if failed else 0)
PY
