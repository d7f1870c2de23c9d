//! Series on a regular step grid (NaN where a step has no point), as the server's
//! `/api/v1/forecast` and `/api/v1/anomalies` and the predictive alerting rules read them: one
//! place for the minimum history and the gap handling, so the API and the rules agree.

use crate::error::{ForecastError, Result};
use crate::ets::{FitOptions, FittedModel, Forecast, fit};
use crate::robust::{RobustConfig, RobustScore, score_robust};

/// Fewest observed points a forecast is made from: below this the fitted parameters (and the
/// interval widths, with AICc undefined) say little. Seasonal models need more; the fit says how
/// many.
pub const MIN_HISTORY: usize = 10;

/// Fits `values` (one per grid step, NaN for gaps) and forecasts `horizon` steps past the last
/// one at interval coverage `level`; fewer than [`MIN_HISTORY`] observed points is
/// [`ForecastError::NotEnoughData`].
pub fn fit_and_forecast(
    values: &[f64],
    options: &FitOptions,
    horizon: usize,
    level: f64,
) -> Result<(FittedModel, Forecast)> {
    let model = fit_grid(values, options)?;
    let fc = model.forecast(horizon, level)?;
    Ok((model, fc))
}

/// Fits `values` (one per grid step, NaN for gaps); fewer than [`MIN_HISTORY`] observed points is
/// [`ForecastError::NotEnoughData`]. For callers that keep the model and forecast later.
pub fn fit_grid(values: &[f64], options: &FitOptions) -> Result<FittedModel> {
    let observed = values.iter().filter(|v| v.is_finite()).count();
    if observed < MIN_HISTORY {
        return Err(ForecastError::NotEnoughData {
            needed: MIN_HISTORY,
            got: observed,
        });
    }
    fit(values, options)
}

/// Scores with [`score_robust`] the observed points of `values` (step `i` at `start + i * step`,
/// NaN for gaps); only scored points are returned (the first ones teach the detector the series).
pub fn score_grid(start: i64, step: i64, values: &[f64], config: &RobustConfig) -> Result<Vec<RobustScore>> {
    let (ts, vs): (Vec<i64>, Vec<f64>) = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| (start.saturating_add((i as i64).saturating_mul(step)), *v))
        .unzip();
    Ok(score_robust(&ts, &vs, config)?.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_little_history_is_refused() {
        let e = fit_and_forecast(&[1.0, f64::NAN, 2.0], &FitOptions::default(), 3, 0.9).unwrap_err();
        assert_eq!(
            e,
            ForecastError::NotEnoughData {
                needed: MIN_HISTORY,
                got: 2
            }
        );
    }

    #[test]
    fn gaps_keep_their_timestamps() {
        let mut v: Vec<f64> = (0..200).map(|i| 10.0 + (i % 7) as f64).collect();
        v[150] = f64::NAN;
        v[180] = 500.0;
        let s = score_grid(1_000, 10, &v, &RobustConfig::default()).unwrap();
        assert!(s.iter().all(|p| p.timestamp != 1_000 + 150 * 10));
        let spike = s.iter().find(|p| p.timestamp == 1_000 + 180 * 10).unwrap();
        assert_eq!(spike.value, 500.0);
        assert!(spike.is_anomaly);
    }
}
