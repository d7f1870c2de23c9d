#!/usr/bin/env python3
"""Writes the reference fixtures the Rust tests compare against (run once; the JSON is committed).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install statsmodels scikit-learn
    /tmp/venv/bin/python forecasting/tests/reference/make_reference.py

ets_reference.json: for deterministic synthetic series and three real series shipped inside
statsmodels (co2 monthly means, elnino monthly, macrodata real GDP quarterly), statsmodels'
ExponentialSmoothing fit (SSE objective, all initial states estimated, damping bounded to
[0.8, 0.98] like ours) with its SSE, parameters and forecasts of the held-out tail.

iforest_reference.json: a fixed 5-feature dataset with planted outliers, scored by
scikit-learn's IsolationForest (defaults, random_state=0): scores = -score_samples, so higher
means more anomalous, in (0, 1].
"""
import json
import os
import time

import numpy as np
import statsmodels
import statsmodels.api as sm
import sklearn
from sklearn.ensemble import IsolationForest
from statsmodels.tsa.holtwinters import ExponentialSmoothing

HERE = os.path.dirname(os.path.abspath(__file__))


def synthetic():
    rng = np.random.RandomState(20261123)
    out = []
    n = 240
    t = np.arange(n)
    # Local level with alpha = 0.4.
    level, y = 20.0, []
    for _ in range(n):
        e = rng.normal()
        y.append(level + e)
        level += 0.4 * e
    out.append(("local_level", np.array(y), 1, None, False, None))
    out.append(("linear_trend", 5.0 + 0.3 * t + rng.normal(0, 1.5, n), 1, "add", False, None))
    damp = 50 + 10 * (1 - 0.95 ** t) / 0.05 / 10 + rng.normal(0, 0.7, n)
    out.append(("damped_trend", damp, 1, "add", True, None))
    m = 12
    t = np.arange(12 * 14)
    out.append(("monthly_additive", 100 + 0.5 * t + 8 * np.sin(2 * np.pi * t / m) + 3 * np.cos(4 * np.pi * t / m)
                + rng.normal(0, 2.0, t.size), m, "add", False, "add"))
    out.append(("monthly_multiplicative", (100 + 1.0 * t) * (1 + 0.25 * np.sin(2 * np.pi * t / m))
                + rng.normal(0, 2.0, t.size), m, "add", False, "mul"))
    m = 7
    t = np.arange(7 * 20)
    out.append(("weekly_damped", 30 + 5 * (1 - 0.9 ** t) + 4 * (t % 7 >= 5) + rng.normal(0, 0.8, t.size),
                m, "add", True, "add"))
    m = 24
    t = np.arange(24 * 14)
    out.append(("hourly_daily", 200 + 30 * np.sin(2 * np.pi * t / m) + 10 * np.sin(4 * np.pi * t / m)
                + rng.normal(0, 5, t.size), m, None, False, "add"))
    return out


def real():
    out = []
    co2 = sm.datasets.co2.load_pandas().data["co2"]
    co2 = co2.resample("MS").mean().interpolate()
    out.append(("co2_monthly", co2.values, 12, "add", False, "add"))
    el = sm.datasets.elnino.load_pandas().data.drop(columns=["YEAR"]).values.ravel()
    out.append(("elnino_monthly", el, 12, None, False, "add"))
    gdp = sm.datasets.macrodata.load_pandas().data["realgdp"].values
    out.append(("macro_realgdp", gdp, 4, "add", True, "mul"))
    return out


def fit_case(name, y, m, trend, damped, seasonal, horizon):
    train, test = y[:-horizon], y[-horizon:]
    kwargs = dict(trend=trend, damped_trend=damped, initialization_method="estimated")
    if seasonal:
        kwargs.update(seasonal=seasonal, seasonal_periods=m)
    bounds = {"damping_trend": (0.8, 0.98)} if damped else None
    model = ExponentialSmoothing(train, bounds=bounds, **kwargs)
    t0 = time.perf_counter()
    res = model.fit()
    dt = time.perf_counter() - t0
    p = res.params
    return {
        "name": name,
        "period": int(m),
        "trend": "none" if trend is None else ("damped" if damped else "additive"),
        "seasonality": {None: "none", "add": "additive", "mul": "multiplicative"}[seasonal],
        "train": [float(v) for v in train],
        "test": [float(v) for v in test],
        "statsmodels": {
            "sse": float(res.sse),
            "forecast": [float(v) for v in res.forecast(horizon)],
            "alpha": float(p["smoothing_level"]),
            "beta_star": None if trend is None else float(p["smoothing_trend"]),
            "gamma": None if not seasonal else float(p["smoothing_seasonal"]),
            "phi": None if not damped else float(p["damping_trend"]),
            "fit_seconds": dt,
        },
    }


def ets_reference():
    cases = []
    for name, y, m, trend, damped, seasonal in synthetic() + real():
        horizon = 2 * m if m > 1 else 12
        cases.append(fit_case(name, np.asarray(y, dtype=float), m, trend, damped, seasonal, horizon))
        c = cases[-1]
        print(f"{name:24s} n={len(c['train']):4d} sse={c['statsmodels']['sse']:.4g} "
              f"fit={c['statsmodels']['fit_seconds']:.3f}s")
    return cases


def iforest_reference():
    rng = np.random.RandomState(7)
    n, d = 2000, 5
    cov = np.eye(d) + 0.5 * (np.ones((d, d)) - np.eye(d))
    x = rng.multivariate_normal(np.zeros(d), cov, size=n)
    # Planted outliers: 14 to 18 units out in random directions.
    outliers = [13, 222, 517, 808, 1111, 1300, 1501, 1777, 1903, 1999]
    for k, i in enumerate(outliers):
        direction = rng.normal(size=d)
        x[i] = rng.uniform(14.0, 18.0) * direction / np.linalg.norm(direction)
    forest = IsolationForest(n_estimators=100, max_samples="auto", random_state=0).fit(x)
    scores = -forest.score_samples(x)
    return {
        "n_features": d,
        "rows": [[float(v) for v in r] for r in x],
        "outliers": outliers,
        "sklearn_scores": [float(s) for s in scores],
    }


def labelled_features():
    """A labelled series (daily cycle at hourly resolution, planted spikes and dips), its
    feature matrix computed like foresight's build_features (value, first difference, trailing
    mean and sample std over 12 points, one-step residual of an additive Holt-Winters fit), and
    scikit-learn's AUROC on it over five random states."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.RandomState(11)
    n, m = 3000, 24
    t = np.arange(n)
    y = 50 + 8 * np.sin(2 * np.pi * t / m) + 3 * np.cos(4 * np.pi * t / m) + rng.normal(0, 1, n)
    labels = np.zeros(n, dtype=bool)
    idx = rng.choice(np.arange(100, n), size=30, replace=False)
    y[idx] += rng.choice([-1, 1], size=idx.size) * rng.uniform(3.0, 7.0, size=idx.size)
    labels[idx] = True
    fit = ExponentialSmoothing(y, seasonal="add", seasonal_periods=m, initialization_method="estimated").fit()
    resid = y - fit.fittedvalues
    w = 12
    rows = []
    for i in range(n):
        win = y[max(0, i - w + 1): i + 1]
        diff = y[i] - y[i - 1] if i > 0 else 0.0
        std = float(np.std(win, ddof=1)) if win.size > 1 else 0.0
        rows.append([float(y[i]), float(diff), float(np.mean(win)), std, float(resid[i])])
    x = np.array(rows)
    aucs = []
    for rs in range(5):
        f = IsolationForest(n_estimators=100, random_state=rs).fit(x)
        aucs.append(roc_auc_score(labels, -f.score_samples(x)))
    t0 = time.perf_counter()
    f = IsolationForest(n_estimators=100, random_state=0, n_jobs=1).fit(x)
    f.score_samples(x)
    dt = time.perf_counter() - t0
    print(f"labelled series: sklearn AUROC {np.mean(aucs):.4f} (+- {np.std(aucs):.4f}), fit+score {dt:.3f}s")
    return {
        "rows": [[float(v) for v in r] for r in rows],
        "labels": [bool(v) for v in labels],
        "sklearn_auroc": [float(a) for a in aucs],
    }


def main():
    ets = {"statsmodels_version": statsmodels.__version__, "cases": ets_reference()}
    with open(os.path.join(HERE, "ets_reference.json"), "w") as f:
        json.dump(ets, f)
    ifo = {"sklearn_version": sklearn.__version__, **iforest_reference(), "labelled": labelled_features()}
    with open(os.path.join(HERE, "iforest_reference.json"), "w") as f:
        json.dump(ifo, f)


if __name__ == "__main__":
    main()
