#!/usr/bin/env bash
# Runs the demo. Until the dashboard in www/ lands, that is the terminal
# demo of the core: five simulated motors fed in-process, with alerts,
# commands and predictive maintenance. Stop it with Ctrl-C.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
exec cargo run --release -p twinkit-core --example simulated_fleet -- "$@"
