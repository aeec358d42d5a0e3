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
cargo clippy -p twinkit-core -p twinkit-web -p twinkit-wasm --target wasm32-unknown-unknown -- -D warnings
cargo clippy -p twinkit-leptos -p twinkit-dashboard --target wasm32-unknown-unknown --all-targets -- -D warnings

step "cargo test (native)"
cargo test --workspace

step "browser crates in headless Chromium (wasm-bindgen-test)"
CHROMEDRIVER=/usr/bin/chromedriver \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  WASM_BINDGEN_TEST_TIMEOUT=120 \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/webdriver.json" \
  cargo test -p twinkit-web -p twinkit-leptos --target wasm32-unknown-unknown

step "npm package: build pkg/ with wasm-pack"
bash scripts/build.sh

step "TypeScript: the reference snippets type-check against pkg/ (tsc --noEmit)"
tsc -p tests/types

step "npm package from plain JavaScript in headless Chromium (playwright-core)"
node --test --test-concurrency=1 tests/npm/*.test.mjs

# Later steps join here, each against the real thing: MQTT against a
# mosquitto this script starts and stops on 127.0.0.1.

printf '\nall tests passed in %ss\n' "$((SECONDS - started))"
