#!/usr/bin/env bash
# Installs what building, running and testing uniqd needs on Debian 12, as
# root: the compiler, meson, and Debian's libmicrohttpd, LMDB and cJSON
# (found by pkg-config), libcurl (the etcd client, cluster/etcd.c),
# python3 for the end-to-end tests, curl and wrk for the benchmark
# script, tzdata for sequence pools' time zones.
# With --tests also Chromium and Node.js (if missing) for the browser
# tests, gnuplot for uniqd-stress --plot, strace and systemd (its
# systemd-analyze) to check the unit's sandbox, clang and libFuzzer
# (libclang-rt-dev) for the fuzz targets, etcd-server (/usr/bin/etcd) for
# the cluster tests and faketime for the tests that move a clock. Skips
# apt-get when everything is there.
set -euo pipefail
pkgs=(gcc libc6-dev pkg-config meson ninja-build
      libmicrohttpd-dev liblmdb-dev libcjson-dev libcurl4-openssl-dev
      python3 curl wrk tzdata)
if [ "${1:-}" = --tests ]; then
  pkgs+=(chromium gnuplot-nox strace systemd clang libclang-rt-dev
        etcd-server faketime)
  command -v node >/dev/null || pkgs+=(nodejs)
  command -v npm >/dev/null || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
