#!/usr/bin/env bash
# Runs the demo: builds the dashboard (www/) and the npm package (pkg/, for
# the plain-JavaScript example), then serves them on http://127.0.0.1:8080
# (PORT=N or `npm start -- --port N` to change it). Ctrl-C stops it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
bash scripts/build-dashboard.sh
bash scripts/build.sh > /dev/null
exec node scripts/serve.mjs "$@"
