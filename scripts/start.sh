#!/usr/bin/env bash
# Runs the demo: builds the dashboard (www/) and the npm package (pkg/, for
# the plain-JavaScript example), then serves them on http://127.0.0.1:8080
# (PORT=N or `npm start -- --port N` to change it). Ctrl-C stops it.
#
# `npm start -- --live [--devices N] [--interval MS]` also builds and starts
# the twinkit-sim binary and mosquitto (scripts/live.mjs) and prints the
# dashboard's live-mode URLs; Ctrl-C stops all three.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
bash scripts/build-dashboard.sh
bash scripts/build.sh > /dev/null
for arg in "$@"; do
  if [ "$arg" = "--live" ]; then
    cargo build -p twinkit-sim --bin twinkit-sim
    exec node scripts/live.mjs "$@"
  fi
done
exec node scripts/serve.mjs "$@"
