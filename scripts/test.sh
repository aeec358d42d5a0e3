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

step "cargo test (native)"
cargo test --workspace

step "twinkit-core builds for wasm32-unknown-unknown"
cargo build -p twinkit-core --target wasm32-unknown-unknown

# Later steps join here, each against the real thing: wasm-bindgen-test in
# headless Chromium (CHROMEDRIVER=/usr/bin/chromedriver, webdriver.json),
# MQTT against a mosquitto this script starts and stops on 127.0.0.1, and
# playwright-core driving /usr/bin/chromium for the dashboard and the npm
# package.

printf '\nall tests passed in %ss\n' "$((SECONDS - started))"
