#!/usr/bin/env bash
# Labelled anomaly evaluation: builds the corpus, scores it with foresight and the baselines in
# one run, writes results/DATE.{json,md}. Needs a Python with statsmodels, pmdarima,
# scikit-learn and river (PYTHON, default python3).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
DATA=${DATA:-$(mktemp -d)}
DATE=$(date -u +%F)
$PY make_data.py "$DATA"
cargo run --release -q -p foresight-forecasting --example anomaly_scores -- "$DATA" "$DATA/foresight" --v1 \
  | tee "results/$DATE-foresight-timing.txt"
$PY evaluate.py "$DATA" "$DATA/foresight" "results/$DATE.json" | tee "results/$DATE.md"
$PY bench_sklearn.py | tee -a "results/$DATE-foresight-timing.txt"
