#!/usr/bin/env python3
"""Forecast accuracy of statsmodels' ETS on real series shipped inside statsmodels, written next to
the series so `cargo run --release -p foresight-forecasting --example accuracy` can score
foresight on exactly the same splits (`run.sh accuracy` runs both).

Series: co2 (monthly means, m=12), elnino (monthly, m=12), macrodata real GDP (quarterly, m=4),
sunspots (annual, non-seasonal), nile (annual, non-seasonal), and co2 weekly (m=52, with its
missing weeks: statsmodels needs them interpolated; foresight is given the gaps as NaN). Held out
from development (checked only after foresight's model choice was settled): euro-area electrical
equipment orders (monthly, m=12), macrodata CPI, unemployment and real consumption (m=4).

For each series, 4 forecast origins, each followed by a horizon of h points (h = m, or 10 for
annual data), non-overlapping, at the end of the series. statsmodels' ETSModel (additive errors)
is fitted for every admissible trend x season configuration; reported are the configuration its
AICc selects ("sm-aicc") and, with hindsight, the configuration with the lowest mean MASE on these
splits ("sm-best"). MASE is scaled by the in-sample MAE of the seasonal naive forecast; coverage
is of 95% prediction intervals.
"""
import json
import os
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.datasets import elec_equip
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

HERE = os.path.dirname(os.path.abspath(__file__))
warnings.filterwarnings("ignore")


def load():
    co2w = sm.datasets.co2.load_pandas().data["co2"]
    co2m = co2w.resample("MS").mean().interpolate()
    el = sm.datasets.elnino.load_pandas().data.drop(columns=["YEAR"]).values.ravel()
    macro = sm.datasets.macrodata.load_pandas().data
    gdp = macro["realgdp"].values
    sun = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].values
    nile = sm.datasets.nile.load_pandas().data["volume"].values
    return [
        ("co2_monthly", co2m.values, 12),
        ("elnino_monthly", el, 12),
        ("macro_realgdp", gdp, 4),
        ("sunspots_annual", sun, 1),
        ("nile_annual", nile, 1),
        ("co2_weekly_gaps", co2w.values, 52),
        # Not looked at while developing foresight's model choice: kept to check it generalises.
        ("elec_equip_monthly", elec_equip.load().data.iloc[:, 0].values, 12),
        ("macro_cpi", macro["cpi"].values, 4),
        ("macro_unemp", macro["unemp"].values, 4),
        ("macro_realcons", macro["realcons"].values, 4),
    ]


def mase_scale(train, m):
    lag = max(m, 1)
    d = np.abs(train[lag:] - train[:-lag])
    d = d[np.isfinite(d)]
    return float(np.mean(d)) if d.size else float("nan")


def configs(m, positive):
    out = []
    for trend, damped in [(None, False), ("add", False), ("add", True)]:
        for seasonal in ([None] if m < 2 else ["add"] + (["mul"] if positive else [])):
            out.append((trend, damped, seasonal))
    return out


def fit_one(train, m, trend, damped, seasonal, h):
    kw = dict(error="add", trend=trend, damped_trend=damped)
    if seasonal:
        kw.update(seasonal=seasonal, seasonal_periods=m)
    res = ETSModel(pd.Series(train), **kw).fit(disp=False, maxiter=2000)
    pred = res.get_prediction(start=len(train), end=len(train) + h - 1)
    frame = pred.summary_frame(alpha=0.05)
    return res.aicc, frame["mean"].values, frame["pi_lower"].values, frame["pi_upper"].values


def main():
    out = {"series": []}
    for name, y, m in load():
        y = np.asarray(y, dtype=float)
        h = m if m > 1 else 10
        positive = bool(np.nanmin(y) > 0)
        filled = pd.Series(y).interpolate(limit_direction="both").values.astype(float)
        origins = [len(y) - h * (k + 1) for k in range(4)][::-1]
        per_cfg = {}
        sel = {"mase": [], "inside": 0, "total": 0}
        snaive = []
        t0 = time.perf_counter()
        for o in origins:
            train, test = filled[:o], y[o:o + h]
            scale = mase_scale(train, m)
            lag = max(m, 1)
            sn = np.array([train[len(train) - lag + (i % lag)] for i in range(h)])
            ok = np.isfinite(test)
            snaive.append(float(np.mean(np.abs(test[ok] - sn[ok])) / scale))
            best = None
            for cfg in configs(m, positive):
                try:
                    aicc, mean, lo, hi = fit_one(train, m, *cfg, h)
                except Exception as e:  # a configuration statsmodels cannot fit
                    print(f"  {name} {cfg}: {e}")
                    continue
                mase = float(np.mean(np.abs(test[ok] - mean[ok])) / scale)
                inside = int(np.sum((test[ok] >= lo[ok]) & (test[ok] <= hi[ok])))
                per_cfg.setdefault(str(cfg), []).append((mase, inside, int(ok.sum())))
                if best is None or aicc < best[0]:
                    best = (aicc, mase, inside, int(ok.sum()))
            sel["mase"].append(best[1])
            sel["inside"] += best[2]
            sel["total"] += best[3]
        dt = time.perf_counter() - t0
        full = {k: v for k, v in per_cfg.items() if len(v) == len(origins)}
        best_cfg = min(full, key=lambda k: np.mean([v[0] for v in full[k]]))
        bc = full[best_cfg]
        rec = {
            "name": name,
            "period": m,
            "horizon": h,
            "origins": origins,
            "values": [None if not np.isfinite(v) else float(v) for v in y],
            "seasonal_naive_mase": float(np.mean(snaive)),
            "sm_aicc_mase": float(np.mean(sel["mase"])),
            "sm_aicc_coverage": sel["inside"] / sel["total"],
            "sm_best_config": best_cfg,
            "sm_best_mase": float(np.mean([v[0] for v in bc])),
            "sm_best_coverage": sum(v[1] for v in bc) / sum(v[2] for v in bc),
            "sm_seconds": dt,
        }
        out["series"].append(rec)
        print(f"{name:18s} snaive {rec['seasonal_naive_mase']:.3f}  sm-aicc MASE {rec['sm_aicc_mase']:.3f} "
              f"cov {rec['sm_aicc_coverage']:.3f}  sm-best {best_cfg} MASE {rec['sm_best_mase']:.3f} "
              f"cov {rec['sm_best_coverage']:.3f}  ({dt:.1f}s for {len(configs(m, positive))} configs x 4 origins)",
              flush=True)
    with open(os.path.join(HERE, "accuracy_series.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
