#!/usr/bin/env bash
# Forecast accuracy, foresight vs statsmodels, on real series shipped inside statsmodels.
# Re-runs the statsmodels side (about 4 minutes: co2 weekly is slow there), rewriting
# accuracy_series.json, then scores foresight on the same splits and prints both.
#   bash benches/forecast_vs_python/compare_accuracy.sh [--rust-only]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${VENV:-/tmp/foresight-peers-venv}"
if [ "${1:-}" != "--rust-only" ]; then
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q statsmodels scikit-learn
    fi
    OMP_NUM_THREADS=1 "$venv/bin/python" "$here/accuracy_peers.py"
fi
cd "$here/../.."
cargo run --release -q -p foresight-forecasting --example accuracy
