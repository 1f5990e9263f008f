#!/usr/bin/env bash
# Side-by-side benchmark of uniqd against the reference servers in
# ../shared/peers, in one run on one machine (see ../shared/peers/README.md:
# only ratios taken in the same run mean anything on a shared machine).
#
#   stress/bench.sh [random] [--seconds N] [--rounds N] [--with-seed]
#                   [--baseline DIR]
#       GET /random keep-alive throughput and p99, `wrk -t1 -c64`, uniqd vs
#       mhd_hello (the libmicrohttpd ceiling), alternating rounds; with
#       --with-seed also seed_v3 (FastAPI + aiosqlite, seed 000 v3).
#   stress/bench.sh init [--values N]
#       `uniqctl init` of N values (default 10,000,000) into two shards and
#       the ledger; values/s and the ledger's size.
#   stress/bench.sh bulk [--seconds N] [--rounds N] [--values N]
#       bulk draws that outrun the stock: `wrk -t1 -c16` on
#       GET /random?count=1000, an int pool of 2 shards of 100,000, after
#       a 2 s warm-up that drains the first stock; sustained values/s and
#       the share of 503 answers, against `uniqctl init` of N values
#       (default 10,000,000) in the same rounds: the ratio of the two
#       medians (issue 14 wants >= 0.8) and the 503 share (< 1%).
#   stress/bench.sh stress [--requests N]
#       uniqd-stress, N requests (default 1,000,000) over 8 keep-alive
#       threads, mixed int and float: duplicates and errors must be 0.
#   stress/bench.sh orders [--seconds N] [--rounds N] [--baseline DIR]
#       POST /orders, `wrk -t1 -c100` (seed 003 measured 522 req/s with
#       `ab -c 100`), every id committed before its answer, vs mhd_hello.
#   stress/bench.sh codes [--values N] [--rounds N]
#       `uniqctl codes generate` of N codes (default 1,000,000) issued,
#       recorded in the ledger and written to a file, vs
#       voucher-code-generator (../shared/peers/vcg, in memory) in the
#       same run: wall time and peak memory of each, and the ratio.
#   stress/bench.sh leases [--seconds N] [--rounds N] [--baseline DIR]
#       borrow-and-return pairs, `wrk -t1 -c64`, every change committed
#       before its answer, vs mhd_hello.
#   stress/bench.sh heap [--values N]
#       the server's anonymous memory (RssAnon) at start and after
#       `wrk -t1 -c64` on GET /random, on a fresh data directory and on one
#       whose ledger has N values issued (default 10,000,000): the heap
#       must not grow with the ledger.
#   stress/bench.sh cluster [--seconds N] [--rounds N]
#       a cluster node (uniqd --etcd, one etcd member started here on
#       loopback ports) against a standalone uniqd of the same
#       configuration, in alternating rounds: GET /random (`wrk -t1
#       -c64`; issue 12 wants >= 0.95x), and the etcd transactions the
#       node made (its blocks) per second at that speed; then
#       borrow-and-return pairs on lease pool "users" (`wrk -t1 -c64`,
#       stress/wrk-leases.lua), node vs standalone.
#   stress/bench.sh idle [--seconds N] [--rounds N]
#       GET /random with `wrk -t1 -c8`, alone and then beside 1000 idle
#       keep-alive connections held open (and 20 sending a header a byte
#       at a time): the ratio of the two throughputs.
#
# --baseline DIR (random, orders, leases): a second uniqd, before and
#   after a change in one run: DIR is a build directory holding
#   server/uniqd (used as it is), or a source tree (release-built into
#   build-bench-base/ here). It serves its own copy of the same data, in
#   the same rounds as this tree's (the two swap places every other
#   round), and each gets its ratio to mhd_hello, plus uniqd/baseline.
#
# Builds a release build in build-bench/ first. Starts every server on
# 127.0.0.1 and stops exactly the processes it started, by pid.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS_DIR:-$here/../shared/peers}
mode=random seconds=10 rounds=3 with_seed=0 values= requests=1000000 baseline=
while (($#)); do
  case $1 in
    random|init|bulk|stress|orders|leases|codes|idle|heap|cluster) mode=$1 ;;
    --seconds) seconds=$2; shift ;;
    --rounds) rounds=$2; shift ;;
    --with-seed) with_seed=1 ;;
    --values) values=$2; shift ;;
    --requests) requests=$2; shift ;;
    --baseline) baseline=$2; shift ;;
    -h|--help) sed -n '2,61p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

case $mode:${baseline:+set} in
  random:*|orders:*|leases:*|*:) ;;
  *) echo "bench: --baseline works with random, orders and leases, not $mode" >&2; exit 2 ;;
esac

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
build=$here/build-bench
[ -d "$build" ] || meson setup "$build" "$here" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null

# --baseline: bbuild is the baseline's build directory
bbuild=
if [ -n "$baseline" ]; then
  if [ -x "$baseline/server/uniqd" ]; then
    bbuild=$(cd "$baseline" && pwd)
  elif [ -f "$baseline/meson.build" ] && [ -d "$baseline/server" ]; then
    src=$(cd "$baseline" && pwd)
    bbuild=$here/build-bench-base/$(printf %s "$src" | md5sum | cut -c1-12)
    [ -d "$bbuild" ] || meson setup "$bbuild" "$src" --buildtype=release >/dev/null
    ninja -C "$bbuild" >/dev/null
  else
    echo "bench: --baseline $baseline is neither a build directory (server/uniqd) nor a source tree" >&2
    exit 2
  fi
fi

work=$(mktemp -d /tmp/uniqd-bench-XXXXXX)
pids=()
# True while pid $1 (a child of this script, so never reused before we
# wait for it) runs: it exists and is not a zombie.
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || true
  [ -n "$state" ] && [ "$state" != Z ]
}
# Stops what this script started, by pid: SIGTERM, then SIGKILL for any
# still running after 5 s (uvicorn can linger in its graceful shutdown,
# and a plain wait would hang the script after its results).
cleanup() {
  local p left
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    left=0
    for p in "${pids[@]}"; do alive "$p" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if alive "$p"; then
      echo "bench: pid $p still running 5 s after SIGTERM: SIGKILL" >&2
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() { # url
  for _ in $(seq 1 600); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "bench: $1 never answered" >&2; exit 1
}

start_uniqd() { # config -> sets uport
  uport=$(free_port)
  "$build/server/uniqd" --config "$1" --data-dir "$work/data" \
    --listen "127.0.0.1:$uport" --quiet 2>"$work/uniqd.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$uport/healthz"
}

# The --baseline server on a copy of $work/data as it is now (so call it
# before start_uniqd, which changes the data); sets bport.
start_baseline() { # config
  rm -rf "$work/data-base"
  if [ -d "$work/data" ]; then cp -a "$work/data" "$work/data-base"; fi
  bport=$(free_port)
  "$bbuild/server/uniqd" --config "$1" --data-dir "$work/data-base" \
    --listen "127.0.0.1:$bport" --quiet 2>"$work/baseline.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$bport/healthz"
  echo "baseline: $bbuild/server/uniqd"
}

# One round of this tree's uniqd and the baseline's (if any) on url path
# $2: "RPS P99 BAD" of each in $work/ur and $work/br. Round $1 odd: uniqd
# first; even: the baseline first, so that neither always follows
# mhd_hello.
run_pair() { # round path
  if [ -z "$bbuild" ]; then
    run_wrk "http://127.0.0.1:$uport$2" > "$work/ur"
  elif (($1 % 2)); then
    run_wrk "http://127.0.0.1:$uport$2" > "$work/ur"
    run_wrk "http://127.0.0.1:$bport$2" > "$work/br"
  else
    run_wrk "http://127.0.0.1:$bport$2" > "$work/br"
    run_wrk "http://127.0.0.1:$uport$2" > "$work/ur"
  fi
}

# The baseline's median and ratios, after the rounds: needs u (uniqd's
# median), m (mhd_hello's) and $work/b.
baseline_ratios() { # label ("" or "orders " ...)
  local b bp
  b=$(cut -d' ' -f1 "$work/b" | median); bp=$(cut -d' ' -f2 "$work/b" | median)
  echo "median: baseline $b req/s (p99 $bp ms)"
  echo "RATIO ${1}baseline/mhd_hello = $(echo "$b $m" | awk '{printf "%.2f", $1/$2}')"
  echo "RATIO ${1}uniqd/baseline = $(echo "$u $b" | awk '{printf "%.2f", $1/$2}')"
}

# wrk: prints "RPS P99MS"; WRK_CONNS and WRK_SCRIPT change the load
run_wrk() { # url
  wrk -t1 -c"${WRK_CONNS:-64}" -d"${seconds}s" --latency \
    ${WRK_SCRIPT:+-s "$WRK_SCRIPT"} "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
                  else if (v ~ /ms$/) { sub(/ms$/, "", v) }
                  else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
                  p99 = v }
    /^non-2xx:/ { bad = $2 }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    END { printf "%.0f %.2f %d\n", rps, p99, bad }'
}

# Alternating rounds of mhd_hello and uniqd on the same path and load;
# prints the rounds and the median ratio. Needs uport and mport.
side_by_side() { # label path
  : > "$work/u"; : > "$work/m"; : > "$work/b"
  for r in $(seq 1 "$rounds"); do
    read -r mr mp _ < <(run_wrk "http://127.0.0.1:$mport$2")
    run_pair "$r" "$2"
    read -r ur up ub < "$work/ur"
    echo "$mr $mp" >> "$work/m"; echo "$ur $up $ub" >> "$work/u"
    printf '  round %d: mhd_hello %8d req/s | uniqd %8d req/s p99 %7.2f ms, non-2xx %d | ratio %.2f\n' \
      "$r" "$mr" "$ur" "$up" "$ub" "$(echo "$ur $mr" | awk '{print $1/$2}')"
    if [ -n "$bbuild" ]; then
      read -r br bp bb < "$work/br"
      echo "$br $bp $bb" >> "$work/b"
      printf '%34s baseline %8d req/s p99 %7.2f ms, non-2xx %d | ratio %.2f\n' '' \
        "$br" "$bp" "$bb" "$(echo "$br $mr" | awk '{print $1/$2}')"
    fi
  done
  u=$(cut -d' ' -f1 "$work/u" | median); m=$(cut -d' ' -f1 "$work/m" | median)
  echo "median: uniqd $u req/s, mhd_hello $m req/s"
  echo "RATIO $1 uniqd/mhd_hello = $(echo "$u $m" | awk '{printf "%.2f", $1/$2}')"
  if [ -n "$bbuild" ]; then baseline_ratios "$1 "; fi
}

start_mhd() {
  mport=$(free_port)
  PEERS_TMP=$work/peers bash "$peers/start" mhd_hello "$mport" 2 >/dev/null 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$mport/"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

case $mode in
random)
  cat > "$work/config.json" <<JSON
{"threads": 2, "pools": [
  {"name": "int", "kind": "int", "shards": 2, "shard_size": 2000000},
  {"name": "float", "kind": "float", "shards": 2, "shard_size": 2000000}]}
JSON
  "$build/tools/uniqctl" --config "$work/config.json" --data-dir "$work/data" init 2>/dev/null
  if [ -n "$bbuild" ]; then start_baseline "$work/config.json"; fi
  start_uniqd "$work/config.json"
  start_mhd
  if ((with_seed)); then
    sport=$(free_port)
    PEERS_TMP=$work/peers bash "$peers/start" seed_v3 "$sport" >/dev/null 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$sport/random"
  fi
  echo "GET /random, wrk -t1 -c64 -d${seconds}s, $rounds alternating rounds"
  : > "$work/u"; : > "$work/m"; : > "$work/s"; : > "$work/b"
  for r in $(seq 1 "$rounds"); do
    read -r mr mp _ < <(run_wrk "http://127.0.0.1:$mport/random")
    run_pair "$r" /random
    read -r ur up _ < "$work/ur"
    echo "$mr $mp" >> "$work/m"; echo "$ur $up" >> "$work/u"
    printf '  round %d: mhd_hello %8d req/s p99 %6.2f ms | uniqd %8d req/s p99 %6.2f ms | ratio %.2f\n' \
      "$r" "$mr" "$mp" "$ur" "$up" "$(echo "$ur $mr" | awk '{print $1/$2}')"
    if [ -n "$bbuild" ]; then
      read -r br bp _ < "$work/br"
      echo "$br $bp" >> "$work/b"
      printf '%48s baseline %8d req/s p99 %6.2f ms | ratio %.2f\n' '' \
        "$br" "$bp" "$(echo "$br $mr" | awk '{print $1/$2}')"
    fi
    if ((with_seed)); then
      read -r sr sp _ < <(run_wrk "http://127.0.0.1:$sport/random")
      echo "$sr $sp" >> "$work/s"
      printf '           seed_v3   %8d req/s p99 %6.2f ms\n' "$sr" "$sp"
    fi
  done
  u=$(cut -d' ' -f1 "$work/u" | median); up=$(cut -d' ' -f2 "$work/u" | median)
  m=$(cut -d' ' -f1 "$work/m" | median)
  echo "median: uniqd $u req/s (p99 $up ms), mhd_hello $m req/s"
  echo "RATIO uniqd/mhd_hello = $(echo "$u $m" | awk '{printf "%.2f", $1/$2}')"
  if [ -n "$bbuild" ]; then baseline_ratios ""; fi
  if ((with_seed)); then
    s=$(cut -d' ' -f1 "$work/s" | median)
    echo "RATIO uniqd/seed_v3 = $(echo "$u $s" | awk '{printf "%.1f", $1/$2}') (seed_v3 $s req/s)"
  fi
  pools='
import json, sys
for p in json.load(sys.stdin)["pools"]:
    print("  %spool %s: issued %d, ready %d, refills %d" % (sys.argv[1], p["name"], p["issued"], p["ready"], p["refills"]))'
  curl -s "http://127.0.0.1:$uport/pools" | python3 -c "$pools" ""
  if [ -n "$bbuild" ]; then
    curl -s "http://127.0.0.1:$bport/pools" | python3 -c "$pools" "baseline "
  fi
  ;;
init)
  values=${values:-10000000}
  half=$((values / 2))
  echo "{\"pools\": [{\"name\": \"int\", \"kind\": \"int\", \"shards\": 2, \"shard_size\": $half}]}" > "$work/config.json"
  start=$(date +%s.%N)
  "$build/tools/uniqctl" --config "$work/config.json" --data-dir "$work/data" init
  end=$(date +%s.%N)
  echo "$values $start $end" | awk '{printf "INIT %d values in %.2f s = %.0f values/s\n", $1, $3-$2, $1/($3-$2)}'
  ls -l "$work/data/ledger.mdb" "$work/data/shards/"*.mdb | awk '{print "  " $5 " bytes " $9}'
  ;;
bulk)
  values=${values:-10000000}
  echo '{"threads": 2, "pools": [{"name": "int", "kind": "int", "shards": 2, "shard_size": 100000}]}' > "$work/config.json"
  echo "{\"pools\": [{\"name\": \"int\", \"kind\": \"int\", \"shards\": 2, \"shard_size\": $((values / 2))}]}" > "$work/init.json"
  echo "GET /random?count=1000, wrk -t1 -c16 -d${seconds}s after a 2 s warm-up (2 shards of 100,000), vs uniqctl init of $values values, $rounds rounds"
  : > "$work/d"; : > "$work/i"
  for r in $(seq 1 "$rounds"); do
    rm -rf "$work/idata"
    start=$(date +%s.%N)
    "$build/tools/uniqctl" --config "$work/init.json" --data-dir "$work/idata" init >/dev/null 2>&1
    end=$(date +%s.%N)
    rm -rf "$work/idata"
    iv=$(echo "$values $start $end" | awk '{printf "%.0f", $1/($3-$2)}')
    rm -rf "$work/data"
    start_uniqd "$work/config.json"
    up=${pids[-1]}
    url="http://127.0.0.1:$uport/random?count=1000"
    wrk -t1 -c16 -d2s "$url" >/dev/null
    wrk -t1 -c16 -d"${seconds}s" "$url" > "$work/wrk.out"
    kill "$up"; wait "$up" 2>/dev/null || true
    read -r n bad secs < <(awk '
      /requests in/ { n = $1; s = $4; sub(/s,?$/, "", s) }
      /Non-2xx or 3xx responses:/ { bad = $5 }
      END { printf "%d %d %s\n", n, bad, s }' "$work/wrk.out")
    dv=$(echo "$n $bad $secs" | awk '{printf "%.0f", ($1 - $2) * 1000 / $3}')
    echo "$dv $((bad)) $n" >> "$work/d"; echo "$iv" >> "$work/i"
    printf '  round %d: draws %9d values/s (%d answers, %d non-2xx = %.2f%%) | init %9d values/s | ratio %.2f\n' \
      "$r" "$dv" "$n" "$bad" "$(echo "$bad $n" | awk '{print $2 ? 100*$1/$2 : 0}')" "$iv" \
      "$(echo "$dv $iv" | awk '{print $1/$2}')"
  done
  d=$(cut -d' ' -f1 "$work/d" | median); i=$(median < "$work/i")
  echo "median: draws $d values/s, init $i values/s"
  echo "RATIO bulk draws/init = $(echo "$d $i" | awk '{printf "%.2f", $1/$2}')"
  echo "SHARE bulk 503 = $(awk '{b += $2; n += $3} END {printf "%.2f%%", n ? 100*b/n : 0}' "$work/d") (of every answer in the measured runs)"
  ;;
stress)
  cat > "$work/config.json" <<JSON
{"pools": [{"name": "int", "kind": "int", "shards": 2, "shard_size": 200000},
           {"name": "float", "kind": "float", "shards": 2, "shard_size": 200000}]}
JSON
  start_uniqd "$work/config.json"
  sleep 1
  "$build/stress/uniqd-stress" --url "http://127.0.0.1:$uport" --requests "$requests" \
    --threads 8 --type mixed --log-dir "$work"
  echo "uniqctl verify:"
  "$build/tools/uniqctl" --config "$work/config.json" --data-dir "$work/data" verify
  ;;
orders)
  echo '{"threads": 2, "pools": [{"name": "orders", "kind": "sequence", "digits": 9}]}' > "$work/config.json"
  if [ -n "$bbuild" ]; then start_baseline "$work/config.json"; fi
  start_uniqd "$work/config.json"
  start_mhd
  echo "POST /orders, wrk -t1 -c100 -d${seconds}s, $rounds alternating rounds"
  WRK_CONNS=100 WRK_SCRIPT=$here/stress/wrk-orders.lua side_by_side orders /orders
  echo "vs seed 003 (522 req/s): $(echo "$u" | awk '{printf "%.0fx", $1/522}')"
  curl -s "http://127.0.0.1:$uport/pools/orders"; echo
  ;;
codes)
  n=${values:-1000000}
  command -v node >/dev/null || { echo "bench: codes needs node (for vcg)" >&2; exit 1; }
  cp -r "$peers/vcg" "$work/vcg"
  (cd "$work/vcg" && npm install --silent --no-audit --no-fund >/dev/null 2>&1)
  echo '{"pools": [{"name": "codes", "kind": "code", "pattern": "#####-#####", "shards": 1, "shard_size": 1000}]}' > "$work/config.json"
  echo "$n codes of #####-##### over A-Z0-9, $rounds alternating rounds"
  : > "$work/u"; : > "$work/v"
  for r in $(seq 1 "$rounds"); do
    rm -rf "$work/data" "$work/out.txt"
    /usr/bin/time -f "%e %M" -o "$work/t" "$build/tools/uniqctl" --config "$work/config.json" \
      --data-dir "$work/data" codes generate --pool codes --count "$n" --out "$work/out.txt" 2>/dev/null
    read -r us um < "$work/t"
    [ "$(wc -l < "$work/out.txt")" = "$n" ] || { echo "bench: wrong line count" >&2; exit 1; }
    [ -z "$(sort "$work/out.txt" | uniq -d | head -1)" ] || { echo "bench: a duplicate!" >&2; exit 1; }
    (cd "$work/vcg" && /usr/bin/time -f "%e %M" -o "$work/t" node gen.js "$n" "$work/vcg.txt" 2>/dev/null)
    read -r vs vm < "$work/t"
    echo "$us" >> "$work/u"; echo "$vs" >> "$work/v"
    printf '  round %d: uniqctl %6.2f s, peak %4d MB | vcg %6.2f s, peak %4d MB | ratio %.2f\n' \
      "$r" "$us" $((um / 1024)) "$vs" $((vm / 1024)) "$(echo "$us $vs" | awk '{print $1/$2}')"
  done
  u=$(median < "$work/u"); v=$(median < "$work/v")
  echo "RATIO codes uniqctl/vcg time = $(echo "$u $v" | awk '{printf "%.2f", $1/$2}') (median $u s vs $v s)"
  # capacity answers fast for a prefix with millions issued under it
  rm -rf "$work/data" "$work/out.txt"
  "$build/tools/uniqctl" --config "$work/config.json" --data-dir "$work/data" \
    codes generate --pool codes --count "$n" --prefix B --out "$work/out.txt" 2>/dev/null
  start_uniqd "$work/config.json"
  for p in B BQ ""; do
    url="http://127.0.0.1:$uport/pools/codes/capacity?prefix=$p"
    issued=$(curl -s "$url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issued"])')
    read -r rps p99 bad < <(WRK_CONNS=8 run_wrk "$url")
    [ "$bad" = 0 ] || { echo "bench: capacity answered $bad errors" >&2; exit 1; }
    printf '  capacity?prefix=%-3s issued %8d: %7.0f req/s, p99 %5.2f ms (wrk -c8 -d%ss)\n' \
      "$p" "$issued" "$rps" "$p99" "$seconds"
  done
  ;;
idle)
  echo '{"threads": 2, "idle_timeout": 3600}' > "$work/config.json"
  start_uniqd "$work/config.json"
  cat > "$work/hold.py" <<'PY'
import resource, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < n + 64:
    want = n + 64 if hard == resource.RLIM_INFINITY else min(hard, n + 64)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
drip = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
print("holding", flush=True)
head, i = b"GET /random HTTP/1.1\r\nHost: x\r\nX-Slow: ", 0
while True:
    for c in drip:
        c.send(head[i:i + 1] if i < len(head) else b"a")
    i += 1
    time.sleep(0.5)
PY
  echo "GET /random, wrk -t1 -c8 -d${seconds}s, alone and beside 1000 idle connections, $rounds rounds"
  : > "$work/r"
  for r in $(seq 1 "$rounds"); do
    read -r a ap _ < <(WRK_CONNS=8 run_wrk "http://127.0.0.1:$uport/random")
    python3 "$work/hold.py" "$uport" 1000 > "$work/hold.out" 2>&1 &
    hp=$!; pids+=($hp)
    for _ in $(seq 1 100); do
      grep -q holding "$work/hold.out" 2>/dev/null && break
      alive "$hp" || break
      sleep 0.1
    done
    # Measuring "beside 1000 idle connections" without them would be a
    # lie: stop here instead.
    if ! grep -q holding "$work/hold.out" 2>/dev/null || ! alive "$hp"; then
      echo "bench: the idle-connection holder never started (round $r):" >&2
      cat "$work/hold.out" >&2
      exit 1
    fi
    read -r b bp _ < <(WRK_CONNS=8 run_wrk "http://127.0.0.1:$uport/random")
    if ! alive "$hp"; then
      echo "bench: the idle-connection holder died during round $r:" >&2
      cat "$work/hold.out" >&2
      exit 1
    fi
    kill "$hp"; wait "$hp" 2>/dev/null || true
    echo "$b $a" | awk '{print $1/$2}' >> "$work/r"
    printf '  round %d: alone %7.0f req/s p99 %5.2f ms | beside 1000 idle %7.0f req/s p99 %5.2f ms\n' \
      "$r" "$a" "$ap" "$b" "$bp"
  done
  echo "RATIO idle beside/alone = $(median < "$work/r" | awk '{printf "%.2f", $1}') (the target: above 0.5)"
  ;;
heap)
  values=${values:-10000000}
  rss() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
  echo '{"threads": 2, "pools": [{"name": "int", "kind": "int", "shards": 2, "shard_size": 200000}]}' > "$work/config.json"
  echo "{\"pools\": [{\"name\": \"int\", \"kind\": \"int\", \"shards\": 2, \"shard_size\": $((values / 2))}]}" > "$work/big.json"
  echo "RssAnon of uniqd (2 shards of 200,000), wrk -t1 -c64 -d${seconds}s on GET /random"
  for which in fresh ledger; do
    rm -rf "$work/data"
    if [ "$which" = ledger ]; then
      # issue N values in the ledger (into the shards), then serve from it
      "$build/tools/uniqctl" --config "$work/big.json" --data-dir "$work/data" init >/dev/null 2>&1
    fi
    start_uniqd "$work/config.json"
    up=${pids[-1]}
    sleep 1
    r0=$(rss "$up")
    read -r ur _ < <(run_wrk "http://127.0.0.1:$uport/random")
    r1=$(rss "$up")
    issued=$(curl -s "http://127.0.0.1:$uport/pools/int" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issued"])')
    printf '  %-6s ledger: issued %9d | RssAnon %6d KiB at start, %6d KiB after %d req/s\n' \
      "$which" "$issued" "$r0" "$r1" "$ur"
    echo "$r1" > "$work/heap-$which"
    kill "$up"; wait "$up" 2>/dev/null || true
  done
  echo "RATIO heap ledger/fresh = $(echo "$(cat "$work/heap-ledger") $(cat "$work/heap-fresh")" | awk '{printf "%.2f", $1/$2}')"
  ;;
cluster)
  command -v etcd >/dev/null || { echo "bench: cluster needs etcd (apt-get install etcd-server)" >&2; exit 1; }
  ecport=$(free_port); epport=$(free_port)
  etcd --name b --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$ecport" --advertise-client-urls "http://127.0.0.1:$ecport" \
    --listen-peer-urls "http://127.0.0.1:$epport" --initial-advertise-peer-urls "http://127.0.0.1:$epport" \
    --initial-cluster "b=http://127.0.0.1:$epport" > "$work/etcd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -s -o /dev/null -X POST -d '{}' "http://127.0.0.1:$ecport/v3/maintenance/status" && break
    sleep 0.1
  done
  cat > "$work/config.json" <<JSON
{"threads": 2, "pools": [
  {"name": "int", "kind": "int", "shards": 2, "shard_size": 200000},
  {"name": "float", "kind": "float", "shards": 2, "shard_size": 200000},
  {"name": "users", "kind": "lease", "start": 0, "count": 100000},
  {"name": "orders", "kind": "sequence", "digits": 9}]}
JSON
  start_uniqd "$work/config.json"
  sport=$uport
  cport=$(free_port)
  "$build/server/uniqd" --config "$work/config.json" --data-dir "$work/cdata" \
    --listen "127.0.0.1:$cport" --etcd "http://127.0.0.1:$ecport" --node bench --quiet \
    2>"$work/node.log" &
  pids+=($!)
  wait_http "http://127.0.0.1:$cport/healthz"
  blocks() { # the node's blocks of pool int so far
    curl -s -X POST -d "{\"key\":\"$(printf /uniqd/pool/int/block/ | base64 -w0)\",\"range_end\":\"$(printf /uniqd/pool/int/block0 | base64 -w0)\",\"count_only\":true}" \
      "http://127.0.0.1:$ecport/v3/kv/range" | python3 -c 'import json,sys; print(int(json.load(sys.stdin).get("count", 0)))'
  }
  echo "GET /random, wrk -t1 -c64 -d${seconds}s: cluster node vs standalone, $rounds alternating rounds"
  : > "$work/c"; : > "$work/s"; : > "$work/x"
  for r in $(seq 1 "$rounds"); do
    if ((r % 2)); then
      read -r sr sp _ < <(run_wrk "http://127.0.0.1:$sport/random")
      b0=$(blocks); t0=$(date +%s.%N)
      read -r cr cp _ < <(run_wrk "http://127.0.0.1:$cport/random")
      t1=$(date +%s.%N); b1=$(blocks)
    else
      b0=$(blocks); t0=$(date +%s.%N)
      read -r cr cp _ < <(run_wrk "http://127.0.0.1:$cport/random")
      t1=$(date +%s.%N); b1=$(blocks)
      read -r sr sp _ < <(run_wrk "http://127.0.0.1:$sport/random")
    fi
    echo "$cr" >> "$work/c"; echo "$sr" >> "$work/s"
    echo "$b0 $b1 $t0 $t1" | awk '{printf "%.2f\n", ($2-$1)/($4-$3)}' >> "$work/x"
    printf '  round %d: standalone %8d req/s p99 %6.2f ms | node %8d req/s p99 %6.2f ms | ratio %.2f | %s blocks/s\n' \
      "$r" "$sr" "$sp" "$cr" "$cp" "$(echo "$cr $sr" | awk '{print $1/$2}')" "$(tail -1 "$work/x")"
  done
  c=$(median < "$work/c"); s=$(median < "$work/s")
  echo "median: node $c req/s, standalone $s req/s"
  echo "RATIO cluster random node/standalone = $(echo "$c $s" | awk '{printf "%.2f", $1/$2}')"
  echo "RATE cluster etcd transactions/s (blocks of pool int) = $(median < "$work/x")"
  # leases: every borrow and return of the node is a transaction in etcd
  lw() { WRK_SCRIPT=$here/stress/wrk-leases.lua run_wrk "http://127.0.0.1:$1/pools/users/leases"; }
  echo "borrow/return pairs, wrk -t1 -c64 -d${seconds}s: cluster node vs standalone, $rounds alternating rounds"
  : > "$work/lc"; : > "$work/ls"
  for r in $(seq 1 "$rounds"); do
    if ((r % 2)); then
      read -r sr sp sb < <(lw "$sport"); read -r cr cp cb < <(lw "$cport")
    else
      read -r cr cp cb < <(lw "$cport"); read -r sr sp sb < <(lw "$sport")
    fi
    echo "$cr" >> "$work/lc"; echo "$sr" >> "$work/ls"
    printf '  round %d: standalone %8d req/s p99 %6.2f ms, non-2xx %d | node %8d req/s p99 %6.2f ms, non-2xx %d | ratio %.2f\n' \
      "$r" "$sr" "$sp" "$sb" "$cr" "$cp" "$cb" "$(echo "$cr $sr" | awk '{print $1/$2}')"
  done
  c=$(median < "$work/lc"); s=$(median < "$work/ls")
  echo "median: node $c req/s, standalone $s req/s (a pair is two requests)"
  echo "RATIO cluster leases node/standalone = $(echo "$c $s" | awk '{printf "%.2f", $1/$2}')"
  # orders: one etcd transaction per commit batch of the node
  ow() { WRK_CONNS=100 WRK_SCRIPT=$here/stress/wrk-orders.lua run_wrk "http://127.0.0.1:$1/orders"; }
  echo "POST /orders, wrk -t1 -c100 -d${seconds}s: cluster node vs standalone, $rounds alternating rounds"
  : > "$work/oc"; : > "$work/os"
  for r in $(seq 1 "$rounds"); do
    if ((r % 2)); then
      read -r sr sp sb < <(ow "$sport"); read -r cr cp cb < <(ow "$cport")
    else
      read -r cr cp cb < <(ow "$cport"); read -r sr sp sb < <(ow "$sport")
    fi
    echo "$cr" >> "$work/oc"; echo "$sr" >> "$work/os"
    printf '  round %d: standalone %8d req/s p99 %6.2f ms, non-2xx %d | node %8d req/s p99 %6.2f ms, non-2xx %d | ratio %.2f\n' \
      "$r" "$sr" "$sp" "$sb" "$cr" "$cp" "$cb" "$(echo "$cr $sr" | awk '{print $1/$2}')"
  done
  c=$(median < "$work/oc"); s=$(median < "$work/os")
  echo "median: node $c req/s, standalone $s req/s"
  echo "RATIO cluster orders node/standalone = $(echo "$c $s" | awk '{printf "%.2f", $1/$2}')"
  ;;
leases)
  echo '{"threads": 2, "pools": [{"name": "users", "kind": "lease", "start": 0, "count": 100000}]}' > "$work/config.json"
  if [ -n "$bbuild" ]; then start_baseline "$work/config.json"; fi
  start_uniqd "$work/config.json"
  start_mhd
  echo "borrow/return pairs, wrk -t1 -c64 -d${seconds}s, $rounds alternating rounds"
  WRK_CONNS=64 WRK_SCRIPT=$here/stress/wrk-leases.lua side_by_side leases /pools/users/leases
  curl -s "http://127.0.0.1:$uport/pools/users"; echo
  ;;
esac
