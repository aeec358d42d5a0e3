#!/usr/bin/env bash
# Runs every test: the command README.md gives and .ci/run calls.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"

started=$SECONDS
step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo clippy for wasm32 (the browser crates)"
cargo clippy -p twinkit-core -p twinkit-analytics -p twinkit-mqtt -p twinkit-web -p twinkit-wasm -p twinkit-store --target wasm32-unknown-unknown -- -D warnings
# With their browser tests; twinkit-analytics' native property tests use a
# getrandom that has no wasm32 backend, so its tests are linted natively only.
cargo clippy -p twinkit-web -p twinkit-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy -p twinkit-store --features idb --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy -p twinkit-leptos -p twinkit-dashboard --target wasm32-unknown-unknown --all-targets -- -D warnings

step "twinkit-sim for wasm32 (the dashboard runs its device models in the page)"
cargo clippy -p twinkit-sim --target wasm32-unknown-unknown -- -D warnings

step "cargo test (native; twinkit-sim's tests start their own mosquitto on 127.0.0.1)"
cargo test --workspace

step "analytics: NAB evaluation of the default detectors (figures, no threshold)"
# The labelled NAB series live beside the repository (../shared/data/nab);
# the scoring code itself is unit-tested in cargo test above.
nab_dir="$ROOT/../shared/data/nab"
[ -d "$nab_dir" ] || nab_dir=/work/shared/data/nab
if [ -f "$nab_dir/windows.json" ]; then
  cargo run -q -p twinkit-cli --bin twinkit-analyze -- nab "$nab_dir"
else
  echo "no NAB data at $nab_dir: skipped"
fi

step "browser crates in headless Chromium (wasm-bindgen-test)"
CHROMEDRIVER=/usr/bin/chromedriver \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  WASM_BINDGEN_TEST_TIMEOUT=120 \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/webdriver.json" \
  cargo test -p twinkit-web -p twinkit-leptos --target wasm32-unknown-unknown

step "twinkit-store on IndexedDB in headless Chromium (wasm-bindgen-test)"
CHROMEDRIVER=/usr/bin/chromedriver \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/webdriver.json" \
  cargo test -p twinkit-store --features idb --target wasm32-unknown-unknown --tests

step "npm package: build pkg/ with wasm-pack"
bash scripts/build.sh

step "TypeScript: the reference snippets type-check against pkg/ (tsc --noEmit)"
tsc -p tests/types

step "npm package from plain JavaScript in headless Chromium (playwright-core)"
node --test --test-concurrency=1 tests/npm/*.test.mjs

step "dashboard (www/) in headless Chromium: build, then load, live updates, setpoint, command, history, alert, plain-JS example; live mode against mosquitto and twinkit-sim"
bash scripts/build-dashboard.sh
# The live-mode tests start mosquitto and the simulator binary themselves.
cargo build -p twinkit-sim --bin twinkit-sim
node --test --test-concurrency=1 tests/dashboard/*.test.mjs
echo "screenshot of the device page: target/dashboard/device-page.png"

step "live connections in headless Chromium: mosquitto and twinkit-sim on 127.0.0.1"
# The tests start mosquitto and the simulator themselves and stop both
# whatever the outcome (tests/connections/services.mjs).
cargo build -p twinkit-sim --bin twinkit-sim
node --test --test-concurrency=1 tests/connections/*.test.mjs

printf '\nall tests passed in %ss\n' "$((SECONDS - started))"
