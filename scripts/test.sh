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
cargo clippy -p twinkit-core -p twinkit-wasm -p twinkit-store --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p twinkit-store --features idb --target wasm32-unknown-unknown --all-targets -- -D warnings

step "cargo test (native)"
cargo test --workspace

step "twinkit-store on IndexedDB in headless Chromium (wasm-bindgen-test)"
# The runner reads crates/store/webdriver.json (a link to ./webdriver.json).
CHROMEDRIVER=/usr/bin/chromedriver \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p twinkit-store --features idb --target wasm32-unknown-unknown --tests

step "npm package: build pkg/ with wasm-pack"
bash scripts/build.sh

step "TypeScript: the reference snippets type-check against pkg/ (tsc --noEmit)"
tsc -p tests/types

step "npm package from plain JavaScript in headless Chromium (playwright-core)"
node --test --test-concurrency=1 tests/npm/*.test.mjs

# Later steps join here, each against the real thing: wasm-bindgen-test in
# headless Chromium (CHROMEDRIVER=/usr/bin/chromedriver, webdriver.json) and
# MQTT against a mosquitto this script starts and stops on 127.0.0.1.

printf '\nall tests passed in %ss\n' "$((SECONDS - started))"
