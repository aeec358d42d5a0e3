#!/usr/bin/env bash
# Runs the benchmarks, each beside a baseline in the same run: natively for
# the core, and in headless Chromium for the npm package, its
# TimeSeriesStore (against Dexie and raw IndexedDB), its MQTT path (against
# MQTT.js's parser, npm mqtt-packet, bundled by the bench itself) and the
# dashboard.
# Figures go to target/bench/results.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
cargo bench -p twinkit-core --bench core
cargo bench -p twinkit-analytics --bench detectors
cargo bench -p twinkit-mqtt --bench decode
cargo bench -p twinkit-sim --bench sim
bash scripts/build.sh > /dev/null
node tests/npm/bench.mjs
node tests/npm/bench-store.mjs
node tests/npm/bench-mqtt.mjs
bash scripts/build-dashboard.sh > /dev/null
node tests/dashboard/bench.mjs
printf '\ntarget/bench/results.json:\n'
cat target/bench/results.json
