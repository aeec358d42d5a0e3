#!/usr/bin/env bash
# Installs what the demo and the tests need, once: every step checks first
# and does nothing when its tool is already there. Sourced by the other
# scripts (so its PATH additions reach them) or run on its own.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

say() { printf '%s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# The wasm-bindgen crate is pinned with `=` in Cargo.toml; the CLI must match it.
WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)"
WASM_PACK_VERSION="0.15.1"
APT_PACKAGES=(chromium chromium-driver mosquitto)

command -v cargo >/dev/null || { say "cargo not found: install Rust with rustup first"; exit 1; }
command -v npm >/dev/null || { say "npm not found: install Node.js 20 or newer first"; exit 1; }

if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "✓ rust target wasm32-unknown-unknown present"
else
  say "installing rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# cargo install, trying the crate's own lock file first; some registry
# mirrors lack a version it pins, so fall back to a fresh resolution.
cargo_install() {
  local crate="$1" version="$2"
  cargo install "$crate" --version "$version" --locked || cargo install "$crate" --version "$version"
}

if [ "$(wasm-bindgen --version 2>/dev/null || true)" = "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "✓ wasm-bindgen-cli $WASM_BINDGEN_VERSION present"
else
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 5 minutes)"
  cargo_install wasm-bindgen-cli "$WASM_BINDGEN_VERSION"
fi

if [ "$(wasm-pack --version 2>/dev/null || true)" = "wasm-pack $WASM_PACK_VERSION" ]; then
  say "✓ wasm-pack $WASM_PACK_VERSION present"
else
  say "installing wasm-pack $WASM_PACK_VERSION (about 3 minutes)"
  cargo_install wasm-pack "$WASM_PACK_VERSION"
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  say "✓ ${APT_PACKAGES[*]} present"
else
  say "installing ${missing[*]} from Debian"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm ci when node_modules is missing or older than the lock file.
if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
  say "✓ npm packages present"
else
  say "installing npm packages"
  npm ci --no-audit --no-fund
fi

# wasm-pack uses the wasm-opt it finds on PATH: npm's binaryen (never
# Debian's binaryen 108, whose output fails at run time in Chromium).
if [ -x node_modules/.bin/wasm-opt ]; then
  say "✓ wasm-opt $(node_modules/.bin/wasm-opt --version | awk '{print $3}') from npm binaryen on PATH"
fi
