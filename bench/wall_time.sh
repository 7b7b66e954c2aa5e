#!/usr/bin/env bash
# Wall time of the README's two commands, as a new user runs them: a fresh clone of this repository,
# then `./dev demo` (which first installs the project into .venv) and `./dev test`.
#
#   bench/wall_time.sh [clone-dir]     (default: a new temporary directory)
#
# The demo is timed twice: the first run includes the install (venv + pip) and the embedded
# PostgreSQL's first start; the second is the demo alone. Pip's cache on the machine is not cleared,
# so the install figure is that of a machine that has downloaded the wheels once.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d /tmp/dental-bench-XXXXXX)}
rm -rf "$dir" && git clone -q "$repo" "$dir" && cd "$dir" || exit 1

timed() {  # timed NAME COMMAND...: run, log to bench-NAME.log, print seconds and exit code
  local name=$1; shift
  SECONDS=0
  "$@" > "bench-$name.log" 2>&1
  local rc=$?
  printf '%-34s %4d s (exit %d)\n' "$name" "$SECONDS" "$rc"
}

timed "demo, first run (install + demo)" ./dev demo
timed "demo, second run (demo only)" ./dev demo
timed "tests (./dev test)" ./dev test -q
tail -n 1 "bench-tests (./dev test).log"
echo "logs in $dir"
