"""scikit-learn's IsolationForest on the same day of 10 s data as forecasting/benches/anomaly.rs
(its features: value, first difference, trailing mean and std over 12 points, difference to the
previous point), single thread: CPU time of fit and of score_samples, per point. Min of 5 runs.

Usage: python bench_sklearn.py
"""
import math
import time

import numpy as np
from sklearn.ensemble import IsolationForest


def noise(t):
    x = math.sin(t * 12.9898) * 43758.5453
    return x - math.floor(x) - 0.5


def day(n):
    return np.array(
        [50 + 10 * math.sin(2 * math.pi * t / 8640) + 4 * noise(t) + (25 if t % 1000 == 999 else 0) for t in range(n)]
    )


def features(x, w=12):
    f = np.zeros((len(x), 5))
    for i in range(len(x)):
        win = x[max(0, i - w + 1) : i + 1]
        d = x[i] - x[i - 1] if i else 0.0
        f[i] = [x[i], d, win.mean(), win.std(ddof=1) if len(win) > 1 else 0.0, d]
    return f


def main():
    x = day(8640)
    f = features(x)
    fit_t, score_t = [], []
    for _ in range(5):
        t0 = time.process_time()
        m = IsolationForest(random_state=0, n_jobs=1).fit(f)
        t1 = time.process_time()
        m.score_samples(f)
        t2 = time.process_time()
        fit_t.append(t1 - t0)
        score_t.append(t2 - t1)
    n = len(x)
    print(
        f"sklearn IsolationForest, 8640 x 5, n_jobs=1: fit {min(fit_t) * 1e3:.1f} ms, "
        f"score_samples {min(score_t) * 1e3:.1f} ms = {min(score_t) * 1e6 / n:.2f} us/point, "
        f"fit + score {(min(fit_t) + min(score_t)) * 1e6 / n:.2f} us/point"
    )


if __name__ == "__main__":
    main()
