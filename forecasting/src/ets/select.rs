//! Choosing among fitted variants out of sample: rolling-origin backtests on the tail of the
//! history compare the lowest-AICc variants, their average and the (seasonal) naive forecast
//! (Diebold-Mariano test against a margin), then the winner's backtest errors calibrate its
//! intervals. Only [`ModelChoice::Auto`](super::ModelChoice::Auto) comes here.

use super::calibration::IntervalCalibration;
use super::estimate::fit_variant;
use super::fitted::{Fallback, FittedModel, finish};
use super::model::{ModelSpec, P, RawFit, Seasonality, State, Trend};
use super::recursion::{sse, step};

/// Most forecast origins of a backtest: bounds its cost at `MAX_ORIGINS * horizon` steps per model.
const MAX_ORIGINS: usize = 200;
/// Relative backtest improvement an option needs to displace the one before it (lowest AICc
/// first): differences of a few percent over a few hundred overlapping errors are noise, and the
/// AICc choice should not be traded for noise.
pub(super) const SELECTION_MARGIN: f64 = 0.02;
/// ... and must be significantly closer: its Diebold-Mariano statistic (one-sided, 10% level)
/// must reach this, over all origins (or, for the naive forecast, over the more recent half).
/// Overlapping multi-step windows make a few hundred errors worth only a few independent ones
/// (3 on a short annual series), where a 2% margin alone is noise.
pub(super) const SELECTION_Z: f64 = 1.28;
/// Variants (by AICc rank) the backtest chooses among, besides the (seasonal) naive forecast.
const BACKTEST_TOP: usize = 3;
/// Share of a short history the backtest that chooses the model may take (its models are
/// refitted on the rest, which must stay long enough to fit them well).
const SELECTION_SHARE: f64 = 0.5;
/// Share of a short history the interval calibration may take: more origins, and more of the
/// past's quiet and turbulent stretches, than the choice needs (measured on the accuracy
/// comparison: with half the history, 95% intervals covered 0.44-0.81 on the quarterly macro
/// series; with two thirds 0.81-0.94, and the same on the origins before those).
const CAL_SHARE: f64 = 2.0 / 3.0;

/// Rolling forecast origins on the tail of `n` points for `horizon`-step forecasts: one every
/// `stride` points over the last `min(share n, max(8 horizon, 240))` points, at most
/// [`MAX_ORIGINS`]. Empty when the series is too short to spare that tail (less than
/// `2 horizon + warmup` points).
pub(super) fn backtest_origins(n: usize, horizon: usize, warmup: usize, share: f64) -> Vec<usize> {
    if horizon == 0 || n < 2 * horizon + warmup {
        return Vec::new();
    }
    let window = ((n as f64 * share) as usize)
        .min((8 * horizon).max(240))
        .max(horizon + 1);
    let first = (n - window).max(warmup);
    let last = n - horizon;
    if last <= first {
        return Vec::new();
    }
    let stride = (last - first).div_ceil(MAX_ORIGINS).max(1);
    (first..last).step_by(stride).collect()
}

/// The `horizon`-step forecast errors of `model` from each origin (ascending): entry
/// `o * horizon + k` is the error `k + 1` steps after origin `o` (NaN where the point is missing),
/// in normalised units. The states are filtered forward once with `model`'s parameters; the
/// caller fits `model` on the history before the first origin, so every forecast is out of sample.
pub(super) fn backtest_errors(model: &FittedModel, y: &[f64], origins: &[usize], horizon: usize) -> Vec<f64> {
    let mut errors = Vec::with_capacity(origins.len() * horizon);
    let mut st = model.init.clone();
    let mut t = 0;
    for &o in origins {
        while t < o {
            step(model.spec, &model.p, &mut st, y[t]);
            t += 1;
        }
        let mut ahead = st.clone();
        for &v in &y[o..o + horizon] {
            let (f, _) = step(model.spec, &model.p, &mut ahead, f64::NAN);
            errors.push(v - f);
        }
    }
    errors
}

/// Diebold-Mariano statistic (with the Harvey-Leybourne-Newbold small-sample correction) for
/// "`b` forecasts better than `a`": per-origin mean absolute errors, their mean difference over
/// its Newey-West standard error (Bartlett kernel over the lags at which `horizon`-step windows
/// overlap, `stride` points apart). Positive when `b` is better.
pub(super) fn dm_statistic(a: &[f64], b: &[f64], horizon: usize, stride: usize) -> f64 {
    let d: Vec<f64> = a
        .chunks(horizon)
        .zip(b.chunks(horizon))
        .filter_map(|(x, y)| {
            let (mx, my) = (mean_abs(x), mean_abs(y));
            (mx.is_finite() && my.is_finite()).then_some(mx - my)
        })
        .collect();
    let n = d.len();
    if n < 2 {
        return 0.0;
    }
    let nf = n as f64;
    let mean = d.iter().sum::<f64>() / nf;
    let lags = (horizon.div_ceil(stride)).saturating_sub(1).min(n - 1);
    let gamma = |k: usize| d.iter().zip(&d[k..]).map(|(x, y)| (x - mean) * (y - mean)).sum::<f64>() / nf;
    let mut var = gamma(0);
    for k in 1..=lags {
        var += 2.0 * (1.0 - k as f64 / (lags + 1) as f64) * gamma(k);
    }
    if var.is_nan() || var <= 0.0 {
        return if mean > 0.0 { f64::INFINITY } else { 0.0 };
    }
    let hl = lags as f64 + 1.0;
    let hln = ((nf + 1.0 - 2.0 * hl + hl * (hl - 1.0) / nf) / nf).max(0.0).sqrt();
    mean / (var / nf).sqrt() * hln
}

pub(super) fn mean_abs(errors: &[f64]) -> f64 {
    let (sum, n) = errors
        .iter()
        .filter(|e| e.is_finite())
        .fold((0.0, 0usize), |(s, n), e| (s + e.abs(), n + 1));
    if n == 0 { f64::INFINITY } else { sum / n as f64 }
}

/// A model of `spec` (the naive one when `spec` is `None`) refitted on `train` alone, to be
/// backtested from origins after it; `None` when it cannot be fitted there.
fn refit(
    train: &[f64],
    lead: usize,
    scale: f64,
    spec: Option<ModelSpec>,
    period: usize,
    evals: usize,
) -> Option<FittedModel> {
    let (spec, raw) = match spec {
        Some(spec) => (spec, fit_variant(train, spec, period, evals).ok()?),
        None => naive_fit(train, period)?,
    };
    Some(finish(train, lead, scale, spec, period, raw))
}

/// Pointwise mean of several backtests' errors, `len` each (a missing error counts as NaN).
fn mean_errors<'a>(series: impl ExactSizeIterator<Item = &'a [f64]> + Clone, len: usize) -> Vec<f64> {
    let k = series.len() as f64;
    (0..len)
        .map(|j| {
            series
                .clone()
                .map(|e| e.get(j).copied().unwrap_or(f64::NAN))
                .sum::<f64>()
                / k
        })
        .collect()
}

/// The (seasonal) naive forecast as an ETS limit: the value one season earlier is ETS(A,N,A) with
/// alpha = 0 and gamma = 1 (the level stays put, each seasonal state becomes the last deviation
/// seen in its phase); the last value is ETS(A,N,N) with alpha = 1. Interval variances follow
/// from the same formula: `sigma^2 (1 + floor((h-1)/m))` and `sigma^2 h`.
fn naive_fit(y: &[f64], m: usize) -> Option<(ModelSpec, RawFit)> {
    let seasonal = m >= 2 && y.len() >= 2 * m;
    let first: &[f64] = if seasonal { &y[..m] } else { &y[..1.min(y.len())] };
    let observed: Vec<f64> = first.iter().copied().filter(|v| v.is_finite()).collect();
    if observed.is_empty() {
        return None;
    }
    let level = observed.iter().sum::<f64>() / observed.len() as f64;
    let (spec, p, init) = if seasonal {
        let mut init = State::zero(m, true);
        init.level = level;
        for (s, v) in init.season.iter_mut().zip(first) {
            *s = if v.is_finite() { v - level } else { 0.0 };
        }
        let p = P {
            alpha: 0.0,
            beta: 0.0,
            gamma: 1.0,
            phi: 1.0,
        };
        (ModelSpec::new(Trend::None, Seasonality::Additive), p, init)
    } else {
        let mut init = State::zero(1, false);
        init.level = level;
        let p = P {
            alpha: 1.0,
            beta: 0.0,
            gamma: 0.0,
            phi: 1.0,
        };
        (ModelSpec::SIMPLE, p, init)
    };
    let sse = sse(spec, &p, y, &init);
    sse.is_finite().then_some((spec, RawFit { p, init, sse }))
}

/// The automatic choice, checked out of sample. The [`BACKTEST_TOP`] variants with the lowest
/// AICc and the (seasonal) naive forecast are backtested from rolling origins on the tail of the
/// history (one season ahead, 10 steps without a season); an option displaces the one before it
/// only when its mean absolute error is lower by [`SELECTION_MARGIN`] and significantly so
/// ([`SELECTION_Z`]), so a model that forecasts clearly worse than seasonal naive on the recent
/// history is not returned (its `fallback` says so). The winner's backtest errors calibrate its
/// intervals, from origins over up to [`CAL_SHARE`] of the history (the winner refitted before
/// them). Too short a series keeps the AICc choice with model intervals. `m` is the period
/// of the fit (a candidate may be non-seasonal when the data show no seasonality at it).
pub(super) fn select_by_backtest(
    y: &[f64],
    lead: usize,
    scale: f64,
    m: usize,
    best: FittedModel,
    mut others: Vec<FittedModel>,
    evals: usize,
) -> FittedModel {
    let n = y.len();
    let horizon = if m >= 2 { m } else { (n / 5).min(10) };
    let warmup = if m >= 2 { 3 * m } else { 10 };
    let origins = backtest_origins(n, horizon, warmup, SELECTION_SHARE);
    let Some(&first) = origins.first() else {
        return best;
    };
    others.sort_by(|a, b| a.aicc.total_cmp(&b.aicc));
    others.truncate(BACKTEST_TOP - 1);
    let train = &y[..first];
    let aicc_best = best.clone();
    // (model on everything, model on the history before the first origin, its errors, their MAE)
    let mut scored: Vec<(FittedModel, Option<FittedModel>, Vec<f64>, f64)> = Vec::new();
    for model in std::iter::once(best).chain(others) {
        // A variant that cannot be fitted on the shorter history is kept but never preferred.
        let past = refit(train, lead, scale, Some(model.spec), model.period, evals);
        let errors = past
            .as_ref()
            .map(|p| backtest_errors(p, y, &origins, horizon))
            .unwrap_or_default();
        let mae = mean_abs(&errors);
        scored.push((model, past, errors, mae));
    }
    let (aicc_choice, aicc_mae) = (scored[0].0.spec, scored[0].3);
    let n_ets = scored.len();
    if let (Some(naive), Some(past)) = (
        refit(y, lead, scale, None, m, evals),
        refit(train, lead, scale, None, m, evals),
    ) {
        let errors = backtest_errors(&past, y, &origins, horizon);
        let mae = mean_abs(&errors);
        scored.push((naive, Some(past), errors, mae));
    }
    // The options: each model alone (lowest AICc first, the naive one last), then the equal-weight
    // average of the backtested ETS variants. An option must beat the best before it by
    // SELECTION_MARGIN, significantly (SELECTION_Z): near-ties keep the earlier, simpler option.
    let mut options: Vec<Vec<usize>> = (0..scored.len()).map(|i| vec![i]).collect();
    let ets: Vec<usize> = (0..n_ets).filter(|&i| scored[i].1.is_some()).collect();
    if ets.len() >= 2 {
        options.push(ets);
    }
    let len = origins.len() * horizon;
    let combined = |members: &[usize]| mean_errors(members.iter().map(|&i| scored[i].2.as_slice()), len);
    let stride = origins.get(1).map_or(1, |o| o - first).max(1);
    let mut win = 0;
    let mut win_errors = combined(&options[0]);
    let mut win_mae = mean_abs(&win_errors);
    for (o, members) in options.iter().enumerate().skip(1) {
        let errors = combined(members);
        let mae = mean_abs(&errors);
        // The (seasonal) naive safety net may also win on the recent half of the origins alone: a
        // changed pattern shows there first, diluted over the whole backtest.
        let significant =
            |from: usize| dm_statistic(&win_errors[from..], &errors[from..], horizon, stride) >= SELECTION_Z;
        let recent = members == &[n_ets] && significant(origins.len() / 2 * horizon);
        if mae < win_mae * (1.0 - SELECTION_MARGIN) && (significant(0) || recent) {
            (win, win_errors, win_mae) = (o, errors, mae);
        }
    }
    let chosen = &options[win];
    let is_naive = chosen == &[n_ets];
    // Options list their members in ascending order: the first is the lowest-AICc member.
    // The calibration reaches further back than the choice (on short series, where the window is
    // a share of the history): rare large errors need many origins, and a past of calm and
    // turbulent stretches, to show in a 95% quantile. The chosen members are refitted before it.
    let cal_origins = backtest_origins(n, horizon, warmup, CAL_SHARE);
    let longer = match cal_origins.first() {
        Some(&cal_first) if cal_first < first => {
            let cal_train = &y[..cal_first];
            let pasts: Option<Vec<FittedModel>> = chosen
                .iter()
                .map(|&i| {
                    let (spec, period) = if i == n_ets {
                        (None, m)
                    } else {
                        (Some(scored[i].0.spec), scored[i].0.period)
                    };
                    refit(cal_train, lead, scale, spec, period, evals)
                })
                .collect();
            pasts.map(|pasts| {
                let errs: Vec<Vec<f64>> = pasts
                    .iter()
                    .map(|p| backtest_errors(p, y, &cal_origins, horizon))
                    .collect();
                let errors = mean_errors(errs.iter().map(Vec::as_slice), cal_origins.len() * horizon);
                (pasts.into_iter().next(), errors)
            })
        }
        _ => None,
    };
    let mut picked = Vec::with_capacity(chosen.len());
    for (i, (model, past, _, _)) in scored.into_iter().enumerate() {
        if chosen.contains(&i) {
            picked.push((model, past));
        }
    }
    let mut picked = picked.into_iter();
    let Some((mut model, past)) = picked.next() else {
        return aicc_best;
    };
    // Members only forecast: their in-sample fitted values would be dead weight.
    model.members = picked
        .map(|(mut m, _)| {
            m.fitted = Vec::new();
            m
        })
        .collect();
    if model.spec != aicc_choice || is_naive || !model.members.is_empty() {
        let what = if is_naive {
            if m >= 2 {
                "the seasonal naive forecast (alpha 0, gamma 1)".to_string()
            } else {
                "the naive forecast (alpha 1)".to_string()
            }
        } else if model.members.is_empty() {
            format!("{}", model.spec)
        } else {
            let names: Vec<String> = std::iter::once(model.spec)
                .chain(model.members.iter().map(|m| m.spec))
                .map(|s| s.to_string())
                .collect();
            format!("the average of {}", names.join(", "))
        };
        model.fallback = Some(Fallback {
            requested: aicc_choice,
            reason: format!(
                "{what} forecast closer than {aicc_choice} (lowest AICc) from {} rolling origins, {horizon} steps ahead, \
                 on the last {} points (mean absolute error {:.4} vs {:.4})",
                origins.len(),
                n - first,
                win_mae * scale,
                aicc_mae * scale
            ),
        });
    }
    model.calibration = match longer {
        Some((Some(p), errors)) => IntervalCalibration::new(&p.error_sd(horizon), &errors, cal_origins.len(), horizon),
        _ => past.and_then(|p| IntervalCalibration::new(&p.error_sd(horizon), &win_errors, origins.len(), horizon)),
    };
    model
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// The Diebold-Mariano statistic: a consistent gain over many windows is significant; the same
    /// mean gain from one lucky stretch of overlapping windows, or a tie, is not.
    #[test]
    fn dm_statistic_needs_independent_evidence() {
        let (h, n) = (10, 200);
        let mut g = SplitMix64::new(11);
        let noise: Vec<f64> = (0..n * h).map(|_| g.normal()).collect();
        let a: Vec<f64> = noise.iter().map(|e| 1.0 + 0.3 * e).collect();
        // 5% lower errors everywhere.
        let steady: Vec<f64> = a.iter().map(|e| 0.95 * e).collect();
        assert!(dm_statistic(&a, &steady, h, 1) > 3.0);
        // The same total gain from 10 consecutive origins (one window's worth of overlapping
        // ones) forecast exactly.
        let lucky: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(j, e)| if (40..50).contains(&(j / h)) { 0.0 } else { *e })
            .collect();
        assert!(
            dm_statistic(&a, &lucky, h, 1) < SELECTION_Z,
            "{}",
            dm_statistic(&a, &lucky, h, 1)
        );
        assert_eq!(dm_statistic(&a, &a, h, 1), 0.0);
        assert!(dm_statistic(&steady, &a, h, 1) < 0.0);
    }
}
