#!/usr/bin/env bash
# Sets up and runs uniqd on its built-in default configuration: installs
# the dependencies (Debian 12, as root), builds into build/, and starts the
# server on 127.0.0.1:8000 with its data in ./uniqd-data. Extra arguments
# go to uniqd (see build/server/uniqd --help). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec build/server/uniqd "$@"
