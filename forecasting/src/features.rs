//! Feature vectors for the isolation forest, built from a series.

use crate::error::Result;
use crate::ets::{FitOptions, fit};

/// Number of features per point.
pub const N_FEATURES: usize = 5;

/// Names of the features, in column order.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "value",
    "first_difference",
    "rolling_mean",
    "rolling_std",
    "seasonal_residual",
];

/// One feature row from the trailing window (`window` holds the points before the current one,
/// oldest first, NaN = missing) and the current value and model residual.
pub(crate) fn feature_row(window: &[f64], value: f64, residual: f64) -> [f64; N_FEATURES] {
    let prev = window.iter().rev().find(|v| v.is_finite()).copied();
    let diff = prev.map_or(0.0, |p| value - p);
    let (mut n, mut sum) = (0usize, 0.0);
    for v in window
        .iter()
        .copied()
        .chain(std::iter::once(value))
        .filter(|v| v.is_finite())
    {
        n += 1;
        sum += v;
    }
    let mean = if n > 0 { sum / n as f64 } else { value };
    let var = if n > 1 {
        window
            .iter()
            .copied()
            .chain(std::iter::once(value))
            .filter(|v| v.is_finite())
            .map(|v| (v - mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64
    } else {
        0.0
    };
    [
        value,
        diff,
        mean,
        var.sqrt(),
        if residual.is_finite() { residual } else { 0.0 },
    ]
}

/// Builds one feature row per point: the value, its first difference (to the previous observed
/// point), the mean and standard deviation over a trailing window of `window` points (the point
/// and the `window - 1` before it, observed ones only), and `residuals[t]` (e.g. the one-step
/// residual of a Holt-Winters fit, see [`series_features`]; 0 when not given or missing).
///
/// Only the point and earlier ones are used, so the rows can be computed online. A missing
/// point gives a row whose value is NaN, which [`IsolationForest::fit`](crate::IsolationForest::fit)
/// skips.
pub fn build_features(values: &[f64], window: usize, residuals: Option<&[f64]>) -> Vec<[f64; N_FEATURES]> {
    let w = window.max(1);
    values
        .iter()
        .enumerate()
        .map(|(t, &v)| {
            let start = t.saturating_sub(w - 1);
            let r = residuals.and_then(|r| r.get(t)).copied().unwrap_or(0.0);
            let value = if v.is_finite() { v } else { f64::NAN };
            feature_row(&values[start..t], value, r)
        })
        .collect()
}

/// [`build_features`] with the seasonal residual taken from a Holt-Winters fit of `values`
/// (with `options`).
///
/// # Errors
/// Whatever [`fit`](crate::fit) returns for the series.
pub fn series_features(values: &[f64], window: usize, options: &FitOptions) -> Result<Vec<[f64; N_FEATURES]>> {
    let model = fit(values, options)?;
    let residuals = model.residuals(values);
    Ok(build_features(values, window, Some(&residuals)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let v = [1.0, 2.0, f64::NAN, 4.0];
        let f = build_features(&v, 3, Some(&[0.5, 0.5, 0.5, 0.5]));
        assert_eq!(f[0], [1.0, 0.0, 1.0, 0.0, 0.5]);
        assert_eq!(f[1][1], 1.0);
        assert!(f[2][0].is_nan());
        assert_eq!(f[3][1], 2.0); // difference to the last observed point
        assert_eq!(f[3][2], 3.0); // mean of 2 and 4 (window 3 holds 2, NaN, 4)
        assert!(build_features(&[], 3, None).is_empty());
        assert_eq!(build_features(&[1.0, 3.0], 0, None)[1][3], 0.0);
    }
}
