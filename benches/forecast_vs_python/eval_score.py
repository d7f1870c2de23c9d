#!/usr/bin/env python3
"""Scores the wide forecast evaluation: eval_series.json (splits and the peers' forecasts, from
eval_peers.py) and eval_foresight.json (foresight's, from the `eval` example). Writes
eval_results.json (every series x method x origin score) and eval_results.md (the tables), and
prints the tables. Standard library only.

Per series and method, over its origins: MASE (mean absolute error over the horizon divided by
the in-sample MAE of the seasonal naive forecast of the gap-filled training data, lag 1 without a
season; averaged over origins), over all H steps and over the first ceil(H/3) ("short"); the
coverage of the 80% and 95% intervals (pooled over the held-out points); and the mean scaled
interval score (MSIS, Gneiting and Raftery's interval score divided by the same scale: the width
plus 2/alpha times any miss). A peer that failed on an origin is replaced there by the seasonal
naive forecast (as a user would) and counted.

Summary: geometric means over series of MASE ratios (method / seasonal naive; foresight / each
peer), series where foresight's MASE exceeds 1.25x seasonal naive's, mean coverage over series,
geometric mean of MSIS relative to seasonal naive.
"""
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = ["sf_autoets", "sf_autoarima", "sm_ets", "seasonal_naive"]
OURS = ["foresight", "foresight_given"]


def fill(y):
    idx = [i for i, v in enumerate(y) if v is not None]
    out = list(y)
    for i in range(len(y)):
        if out[i] is None:
            before = [j for j in idx if j < i]
            after = [j for j in idx if j > i]
            if before and after:
                a, b = before[-1], after[0]
                out[i] = y[a] + (y[b] - y[a]) * (i - a) / (b - a)
            else:
                out[i] = y[before[-1]] if before else y[after[0]]
    return out


def score_run(run, actual, scale, short):
    abs_err, n, cov80, cov95, is80, is95 = [], 0, 0, 0, 0.0, 0.0
    for k, v in enumerate(actual):
        if v is None:
            continue
        f = run["mean"][k]
        abs_err.append((k, abs(v - f)))
        n += 1
        lo80, hi80, lo95, hi95 = run["lo80"][k], run["hi80"][k], run["lo95"][k], run["hi95"][k]
        cov80 += lo80 <= v <= hi80
        cov95 += lo95 <= v <= hi95
        is80 += (hi80 - lo80) + 2 / 0.2 * (max(lo80 - v, 0) + max(v - hi80, 0))
        is95 += (hi95 - lo95) + 2 / 0.05 * (max(lo95 - v, 0) + max(v - hi95, 0))
    s = [e for k, e in abs_err if k < short]
    return {
        "mase": sum(e for _, e in abs_err) / n / scale,
        "mase_short": sum(s) / max(len(s), 1) / scale,
        "inside80": cov80,
        "inside95": cov95,
        "points": n,
        "msis80": is80 / n / scale,
        "msis95": is95 / n / scale,
    }


def gmean(xs):
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main():
    peers = json.load(open(os.path.join(HERE, "eval_series.json")))["series"]
    ours = {s["name"]: s for s in json.load(open(os.path.join(HERE, "eval_foresight.json")))["series"]}
    rows = []
    failures = {}
    for s in peers:
        if s["name"] not in ours:
            continue
        y, m, h = s["values"], s["period"], s["horizon"]
        filled = fill(y)
        lag = max(m, 1)
        short = max(1, math.ceil(h / 3))
        per = {}
        for i, o in enumerate(s["origins"]):
            train = filled[:o]
            scale = sum(abs(train[t] - train[t - lag]) for t in range(lag, len(train))) / (len(train) - lag)
            actual = y[o : o + h]
            runs = dict(s["peers"][i])
            runs["sm_ets"] = runs.pop("sm_ets_aada", None) or runs.pop("sm_ets_aadn", None)
            for name in OURS:
                runs[name] = ours[s["name"]][name][i]
            for name in PEERS + OURS:
                run = runs.get(name)
                if run is None:
                    failures[name] = failures.get(name, 0) + 1
                    run = runs["seasonal_naive"]
                sc = score_run(run, actual, scale, short)
                sc["seconds"] = run.get("seconds", float("nan"))
                per.setdefault(name, []).append(sc)
        row = {"name": s["name"], "group": s["group"], "period": m, "horizon": h, "origins": len(s["origins"])}
        for name, scores in per.items():
            pts = sum(x["points"] for x in scores)
            row[name] = {
                "mase": sum(x["mase"] for x in scores) / len(scores),
                "mase_short": sum(x["mase_short"] for x in scores) / len(scores),
                "coverage80": sum(x["inside80"] for x in scores) / pts,
                "coverage95": sum(x["inside95"] for x in scores) / pts,
                "msis80": sum(x["msis80"] for x in scores) / len(scores),
                "msis95": sum(x["msis95"] for x in scores) / len(scores),
                "seconds": sum(x["seconds"] for x in scores),
            }
        row["foresight_models"] = [r["model"] for r in ours[s["name"]]["foresight"]]
        row["fixed_fit_seconds"] = sum(ours[s["name"]]["fixed_fit_seconds"])
        row["sm_fit_seconds"] = sum(
            (r.get("sm_ets_aada") or r.get("sm_ets_aadn") or {}).get("fit_seconds", float("nan")) for r in s["peers"]
        )
        rows.append(row)

    methods = OURS + PEERS
    lines = []
    p = lines.append
    groups = ["all"] + sorted({r["group"] for r in rows})
    p("Geometric mean of MASE relative to seasonal naive (all H steps / first ceil(H/3) steps), by group:\n")
    p("| group | series | " + " | ".join(methods) + " |")
    p("|---|---|" + "---|" * len(methods))
    for g in groups:
        rs = [r for r in rows if g == "all" or r["group"] == g]
        cells = [
            f"{gmean([r[mm]['mase'] / r['seasonal_naive']['mase'] for r in rs]):.3f} / "
            f"{gmean([r[mm]['mase_short'] / r['seasonal_naive']['mase_short'] for r in rs]):.3f}"
            for mm in methods
        ]
        p(f"| {g} | {len(rs)} | " + " | ".join(cells) + " |")
    p("\nforesight (defaults) against each peer: geometric mean of the MASE ratio (below 1: foresight closer):\n")
    p("| group | " + " | ".join(PEERS) + " |")
    p("|---|" + "---|" * len(PEERS))
    for g in groups:
        rs = [r for r in rows if g == "all" or r["group"] == g]
        p(f"| {g} | " + " | ".join(f"{gmean([r['foresight']['mase'] / r[pp]['mase'] for r in rs]):.3f}" for pp in PEERS) + " |")
    p("\nIntervals: mean coverage over series (80% / 95%) and geometric mean of MSIS relative to seasonal naive's (80% / 95%):\n")
    p("| method | coverage 80% | coverage 95% | MSIS 80% rel. | MSIS 95% rel. |")
    p("|---|---|---|---|---|")
    for mm in methods:
        c80 = sum(r[mm]["coverage80"] for r in rows) / len(rows)
        c95 = sum(r[mm]["coverage95"] for r in rows) / len(rows)
        s80 = gmean([r[mm]["msis80"] / r["seasonal_naive"]["msis80"] for r in rows])
        s95 = gmean([r[mm]["msis95"] / r["seasonal_naive"]["msis95"] for r in rows])
        p(f"| {mm} | {c80:.3f} | {c95:.3f} | {s80:.3f} | {s95:.3f} |")
    worst = sorted(rows, key=lambda r: -r["foresight"]["mase"] / r["seasonal_naive"]["mase"])
    bad = [r for r in worst if r["foresight"]["mase"] / r["seasonal_naive"]["mase"] > 1.25]
    p(f"\nSeries where foresight's MASE is over 1.25x seasonal naive's: {len(bad)} of {len(rows)}"
      + "".join(f"\n- {r['name']}: {r['foresight']['mase'] / r['seasonal_naive']['mase']:.2f}x" for r in bad))
    fs = sum(r["fixed_fit_seconds"] for r in rows)
    ss = sum(r["sm_fit_seconds"] for r in rows if math.isfinite(r["sm_fit_seconds"]))
    auto = sum(r["foresight"]["seconds"] for r in rows)
    p(f"\nFit speed, same splits, CPU seconds summed over all fits: ETS(A,Ad,A)/(A,Ad,N) foresight {fs:.2f} s, "
      f"statsmodels {ss:.2f} s ({ss / fs:.0f}x); foresight defaults (automatic choice, backtests, two forecasts) {auto:.2f} s; "
      + ", ".join(f"{pp} {sum(r[pp]['seconds'] for r in rows):.2f} s" for pp in PEERS) + " (fit and forecast).")
    if failures:
        p(f"\nFailed fits replaced by seasonal naive: {failures}")
    p("\nPer series: MASE (foresight defaults, given period, then peers), foresight's 80/95% coverage, its models:\n")
    p("| series | m | H | origins | " + " | ".join(methods) + " | cov 80/95 | foresight model (last origin) |")
    p("|---|---|---|---|" + "---|" * len(methods) + "---|---|")
    for r in rows:
        p(f"| {r['name']} | {r['period']} | {r['horizon']} | {r['origins']} | "
          + " | ".join(f"{r[mm]['mase']:.3f}" for mm in methods)
          + f" | {r['foresight']['coverage80']:.2f} / {r['foresight']['coverage95']:.2f} | {r['foresight_models'][-1]} |")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(HERE, "eval_results.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(HERE, "eval_results.json"), "w") as f:
        json.dump({"series": rows, "failures": failures}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
