#!/usr/bin/env bash
# Runs the Rust criterion bench and the statsmodels / scikit-learn timings on the same machine,
# one after the other (never concurrently: the box is small), and prints both.
#   bash benches/forecast_vs_python/compare_timings.sh [--skip-slow]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${VENV:-/tmp/foresight-peers-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q statsmodels scikit-learn
fi
cd "$here/../.."
echo "== foresight, single thread, CPU and wall time per operation =="
cargo run --release -q -p foresight-forecasting --example timing
echo "== foresight (criterion, wall clock) =="
cargo bench --bench forecast -- --noplot 2>&1 \
    | grep -E "^(hw|iforest|detector)/|time:|n(2016|10000)_m" || true
echo "== statsmodels / scikit-learn =="
OMP_NUM_THREADS=1 "$venv/bin/python" "$here/bench_peers.py" "$@"
