#!/usr/bin/env python3
"""Times statsmodels and scikit-learn on the inputs of `forecasting/benches/forecast.rs`.

Same series (deterministic formula + hash noise, reproduced from the Rust bench), same models:
ETS(A,A,A) by SSE with every initial state estimated (statsmodels' default), and an isolation
forest of 100 trees x 256 samples on 10,000 five-feature rows. Single thread (BLAS pinned to one
thread, n_jobs=1). Prints one line per measurement: the minimum CPU time (process_time, robust to
a busy machine) and wall time over `--reps` runs.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install statsmodels scikit-learn
    OMP_NUM_THREADS=1 /tmp/venv/bin/python benches/forecast_vs_python/bench_peers.py
"""
import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from statsmodels.tsa.holtwinters import ExponentialSmoothing  # noqa: E402


def noise(t):
    x = np.sin(t * 12.9898) * 43758.5453
    return x - np.floor(x) - 0.5


def series(n, m):
    t = np.arange(n, dtype=float)
    ph = 2 * np.pi * (np.arange(n) % m) / m
    return 100.0 + 0.001 * t + 10.0 * np.sin(ph) + 4.0 * np.cos(2 * ph) + 4.0 * noise(t)


def features(y, w=12):
    rows = []
    for i in range(len(y)):
        win = y[max(0, i - w + 1): i + 1]
        diff = y[i] - y[i - 1] if i > 0 else 0.0
        std = float(np.std(win, ddof=1)) if win.size > 1 else 0.0
        rows.append([y[i], diff, float(np.mean(win)), std, 0.0])
    return np.array(rows)


def timed(fn, reps):
    """Minimum wall and CPU (process_time: robust to a busy machine) seconds over reps."""
    out, walls, cpus = None, [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), out


def hw(y, m, init, horizon=0):
    def run():
        res = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=m,
                                   initialization_method=init).fit()
        if horizon:
            res.forecast(horizon)
        return res
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--skip-slow", action="store_true", help="skip the n=10,000 m=288 estimated fit")
    a = ap.parse_args()
    cases = [("hw/fit_forecast/n2016_m288", 2016, 288, "estimated", 288),
             ("hw/fit/n10000_m24", 10000, 24, "estimated", 0),
             ("hw/fit/n10000_m288", 10000, 288, "estimated", 0),
             ("hw/fit/n10000_m288 (heuristic init)", 10000, 288, "heuristic", 0)]
    for name, n, m, init, h in cases:
        if a.skip_slow and n == 10000 and m == 288 and init == "estimated":
            continue
        reps = a.reps if n * m < 10000 * 288 or init == "heuristic" else 1
        dt, cpu, res = timed(hw(series(n, m), m, init, h), reps)
        print(f"statsmodels {name}: cpu {cpu * 1e3:.1f} ms  wall {dt * 1e3:.1f} ms  "
              f"(sse {res.sse:.6e}, min of {reps})", flush=True)
    x = features(series(10000, 288))

    def fit_score():
        f = IsolationForest(n_estimators=100, max_samples=256, random_state=7, n_jobs=1).fit(x)
        return f, f.score_samples(x)
    dt, cpu, (forest, _) = timed(fit_score, a.reps)
    print(f"sklearn iforest/fit_score/n10000 (n_jobs=1): cpu {cpu * 1e3:.1f} ms  wall {dt * 1e3:.1f} ms", flush=True)
    dt, cpu, _ = timed(lambda: forest.score_samples(x), a.reps)
    print(f"sklearn iforest/score/n10000 (n_jobs=1): cpu {cpu * 1e3:.1f} ms  wall {dt * 1e3:.1f} ms "
          f"({cpu / len(x) * 1e6:.2f} us/point cpu)", flush=True)


if __name__ == "__main__":
    main()
