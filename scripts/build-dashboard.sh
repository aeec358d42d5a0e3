#!/usr/bin/env bash
# Builds the dashboard (www/, package twinkit-dashboard) into www/dist/
# (git-ignored): cargo release build for wasm32, wasm-bindgen --target web,
# then wasm-opt -Oz from npm's binaryen (never Debian's).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" > /dev/null
cd "$ROOT"

out="www/dist"
wasm="target/wasm32-unknown-unknown/release/twinkit-dashboard.wasm"

cargo build --release -p twinkit-dashboard --target wasm32-unknown-unknown
rm -rf "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name twinkit_dashboard "$wasm"
"$ROOT/node_modules/.bin/wasm-opt" -Oz \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/twinkit_dashboard_bg.wasm" -o "$out/twinkit_dashboard_bg.wasm"
ls -l "$out"/*.wasm
