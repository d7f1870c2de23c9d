"""Labelled anomaly corpus: real series shipped with Python packages, anomalies planted in the
shapes operators meet. Deterministic (seeded). Writes DATA_DIR/<base>__<kind>.csv with columns
timestamp_ms,value and DATA_DIR/labels.json {file: {"kind", "anomalies": [index, ...]}}.

Usage: python make_data.py DATA_DIR
"""
import json
import os
import sys

import numpy as np
import pmdarima.datasets as pmd
import statsmodels.api as sm

STEP_MS = 300_000  # 5-minute grid: the real calendar of each series does not matter here
T0_MS = 1_767_225_600_000
PROBATION = 0.15


def bases():
    """(name, values, season or 0); NaN = missing."""
    msft = pmd.load_msft()
    co2 = sm.datasets.co2.load_pandas().data["co2"].to_numpy(dtype=float)
    el = sm.datasets.elnino.load_pandas().data.iloc[:, 1:].to_numpy(dtype=float).ravel()
    return [
        ("taylor_electricity", np.asarray(pmd.load_taylor(), dtype=float), 48),
        ("msft_close_recent", msft["Close"].to_numpy(dtype=float)[-4000:], 0),
        ("msft_close_early", msft["Close"].to_numpy(dtype=float)[:3000], 0),
        ("msft_volume", msft["Volume"].to_numpy(dtype=float)[-4000:], 0),
        ("sunspots_monthly", np.asarray(pmd.load_sunspots(), dtype=float), 0),
        ("co2_weekly", co2, 52),
        ("elnino_monthly", el, 12),
    ]


def noise_scale(x, m):
    """Robust scale of the unpredictable part: MAD of (seasonal) differences / sqrt 2."""
    lag = m if m else 1
    d = x[lag:] - x[:-lag]
    d = d[np.isfinite(d)]
    mad = np.median(np.abs(d - np.median(d))) * 1.4826
    return max(mad / np.sqrt(2), 1e-9 * np.nanmax(np.abs(x)))


def plant(x, m, kind, rng):
    x = x.copy()
    n = len(x)
    s = noise_scale(x, m)
    k = 2  # anomalies per file, in separate halves of the scored part
    lo = int(PROBATION * n) + 20
    span = (n - 40 - lo) // k
    where = []
    for j in range(k):
        t = int(rng.integers(lo + j * span + span // 8, lo + (j + 1) * span - span // 3))
        sign = rng.choice([-1.0, 1.0])
        if kind == "spike":
            x[t] += sign * rng.uniform(5, 9) * s
        elif kind == "level_shift":
            x[t:] += sign * rng.uniform(4, 7) * s
        elif kind == "variance_burst":
            L = int(rng.integers(30, 90))
            x[t : t + L] += rng.normal(0, 4 * s, len(x[t : t + L]))
        elif kind == "stuck":
            L = int(rng.integers(40, 120))
            x[t : t + L] = x[t - 1] if np.isfinite(x[t - 1]) else np.nanmean(x[t - 20 : t])
        elif kind == "seasonal_break":
            L = 2 * m
            seg = x[t : t + L]
            # The cycle's shape is lost: values are replaced by the cycle mean (a flattened
            # season) plus the usual noise.
            x[t : t + L] = np.nanmean(seg) + rng.normal(0, s, len(seg))
        elif kind == "drift":
            L = max(60, n // 25)
            ramp = sign * np.linspace(0, 8 * s, L)
            x[t : t + L] += ramp
            x[t + L :] += ramp[-1]
        elif kind == "dropout":
            L = int(rng.integers(3, 15))
            x[t : t + L] = 0.0
        where.append(t)
    return x, where


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261207)
    kinds = ["spike", "level_shift", "variance_burst", "stuck", "seasonal_break", "drift", "dropout", "clean"]
    labels = {}
    for name, x, m in bases():
        for kind in kinds:
            if kind == "seasonal_break" and not m:
                continue
            if kind == "clean":
                y, where = x.copy(), []
            else:
                y, where = plant(x, m, kind, rng)
            fname = f"{name}__{kind}.csv"
            with open(os.path.join(out, fname), "w") as f:
                f.write("timestamp_ms,value\n")
                for i, v in enumerate(y):
                    f.write(f"{T0_MS + i * STEP_MS},{'' if not np.isfinite(v) else repr(float(v))}\n")
            labels[fname] = {"kind": kind, "base": name, "anomalies": where, "n": len(y)}
    with open(os.path.join(out, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1)
    print(f"{len(labels)} files, {sum(v['n'] for v in labels.values())} points")


if __name__ == "__main__":
    main()
