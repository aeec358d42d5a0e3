#!/usr/bin/env bash
# Builds the npm package into pkg/ with wasm-pack (settings in
# wasm-pack.toml), then adds the package entry point and package.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"

setting() { sed -n "s/^$1 = \"\(.*\)\"/\1/p" wasm-pack.toml; }
crate="$(setting crate)"
out_dir="$(setting out-dir)"
out_name="$(setting out-name)"
target="$(setting target)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"

# wasm-opt comes from npm's binaryen on PATH, so the build needs no network.
wasm-pack build "$crate" --release --target "$target" --weak-refs \
  --out-dir "$ROOT/$out_dir" --out-name "$out_name" --no-pack
# wasm-bindgen's typed parameters cannot be marked optional; `options` is.
sed -i 's/options: TwinOptions)/options?: TwinOptions)/' "$out_dir/$out_name.d.ts"
sed -i -e 's/options: TimeSeriesStoreOptions)/options?: TimeSeriesStoreOptions)/' \
  -e "s/options: { source?: 'rollups' | 'raw' })/options?: { source?: 'rollups' | 'raw' })/" \
  -e 's/properties: string\[\])/properties?: string[])/' "$out_dir/$out_name.d.ts"
cp "$crate/npm/index.js" "$crate/npm/index.d.ts" "$out_dir/"
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" "$crate/npm/package.json" > "$out_dir/package.json"
rm -f "$out_dir/.gitignore"
touch "$out_dir/.gitkeep"
ls -l "$out_dir"/*.wasm
