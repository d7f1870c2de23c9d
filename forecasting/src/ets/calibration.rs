//! Empirical interval calibration: backtest errors scaled by the model's own h-step standard
//! deviation, kept sorted per horizon bucket so a forecast can take its intervals from their
//! quantile. Built by the backtest in `select`, read by `forecast`; it knows neither.

/// Horizon buckets of the interval calibration.
const CAL_BUCKETS: usize = 4;
/// Fewest scaled errors a bucket needs before it may set intervals.
const CAL_MIN_ERRORS: usize = 30;

/// Empirical interval calibration: rolling-origin forecast errors on the tail of the history,
/// each divided by the model's own standard deviation for its horizon, sorted per horizon bucket.
/// Model intervals ignore the uncertainty of the parameters and of the model choice, so they
/// under- or over-cover on real data; [`FittedModel::forecast_with`](super::FittedModel::forecast_with)
/// sets an interval's half-width to the empirical quantile of these scaled errors times the
/// model's standard deviation (split-conformal style), narrower or wider than the model's own.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalCalibration {
    /// Forecast origins the errors come from.
    pub origins: usize,
    /// Steps ahead forecast from each origin; longer horizons use the last bucket.
    pub horizon: usize,
    /// Sorted |error| / model standard deviation, one vector per horizon bucket.
    scaled: Vec<Vec<f64>>,
}

impl IntervalCalibration {
    /// `sd[k]` is the model's standard deviation `k + 1` steps ahead, `errors` the backtest's
    /// (origin-major, `horizon` per origin).
    pub(super) fn new(sd: &[f64], errors: &[f64], origins: usize, horizon: usize) -> Option<Self> {
        let buckets = CAL_BUCKETS.min(horizon);
        let mut scaled = vec![Vec::new(); buckets];
        for (i, e) in errors.iter().enumerate() {
            let k = i % horizon;
            if e.is_finite() && sd[k] > 0.0 {
                scaled[k * buckets / horizon].push(e.abs() / sd[k]);
            }
        }
        for b in &mut scaled {
            b.sort_by(f64::total_cmp);
        }
        scaled.iter().all(|b| b.len() >= CAL_MIN_ERRORS).then_some(Self {
            origins,
            horizon,
            scaled,
        })
    }

    /// Empirical quantile at `level` of the scaled error `step` steps ahead (1-based).
    pub fn scaled_quantile(&self, step: usize, level: f64) -> f64 {
        let k = step.saturating_sub(1).min(self.horizon - 1);
        let b = &self.scaled[k * self.scaled.len() / self.horizon];
        quantile_sorted(b, level)
    }
}

/// Linear-interpolation quantile of sorted `xs`; NaN when empty.
pub(super) fn quantile_sorted(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(xs.len() - 1);
    let w = pos - lo as f64;
    xs[lo] * (1.0 - w) + xs[hi] * w
}
