#!/usr/bin/env bash
# Runs the benchmarks; each compares side by side with a baseline and
# writes its figures to target/bench/results.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo bench -p twinkit-core --bench core
printf '\ntarget/bench/results.json:\n'
cat target/bench/results.json
