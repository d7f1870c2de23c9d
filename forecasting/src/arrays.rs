//! ndarray front end (cargo feature `ndarray`, on by default): the same fits, forecasts and
//! scores as the slice API, taking [`ArrayView1`] / [`ArrayView2`] (as statsmodels and
//! scikit-learn take numpy arrays) and returning [`Array1`] / [`Array2`]. Nothing is computed
//! twice: each function borrows the view as a slice when it is contiguous (copying it once when
//! it is not) and calls the slice API.
//!
//! ```
//! use foresight_forecasting::arrays::{anomaly_scores, fit, forecast, in_sample};
//! use foresight_forecasting::{FitOptions, RobustConfig, Season};
//! use ndarray::Array1;
//!
//! // Ten years of a monthly series with a yearly season.
//! let y = Array1::from_shape_fn(120, |t| 50.0 + 0.3 * t as f64 + 8.0 * (t as f64 * std::f64::consts::TAU / 12.0).sin());
//! let model = fit(y.view(), &FitOptions { season: Season::Period(12), ..FitOptions::default() })?;
//! let fc = forecast(&model, 24, &[0.8, 0.95])?;
//! assert_eq!(fc.mean.len(), 24);
//! assert_eq!(fc.lower.dim(), (2, 24)); // one row per level
//! assert!(fc.lower[[1, 0]] <= fc.lower[[0, 0]] && fc.upper[[0, 0]] <= fc.upper[[1, 0]]);
//!
//! let (fitted, residuals) = in_sample(&model, y.view());
//! assert_eq!((fitted.len(), residuals.len()), (120, 120));
//!
//! let scores = anomaly_scores(y.view(), &RobustConfig { season: Season::Period(12), ..RobustConfig::default() })?;
//! assert_eq!(scores.len(), 120);
//! assert!(scores[0].is_nan(), "the first points teach the detector the series");
//! # Ok::<(), foresight_forecasting::ForecastError>(())
//! ```

use std::borrow::Cow;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::error::{ForecastError, Result};
use crate::ets::{FitOptions, FittedModel};
use crate::iforest::{IsolationForest, IsolationForestConfig};
use crate::robust::{RobustConfig, score_robust};

/// A view as a slice: borrowed when contiguous in order, else copied once.
fn slice<'a, T: Copy>(v: &'a ArrayView1<'_, T>) -> Cow<'a, [T]> {
    match v.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(v.iter().copied().collect()),
    }
}

/// A matrix as row-major values: borrowed when already in standard layout, else copied once.
fn rows<'a>(m: &'a ArrayView2<'_, f64>) -> Cow<'a, [f64]> {
    match m.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(m.iter().copied().collect()),
    }
}

/// Fits a Holt-Winters / ETS model to `y` (regular steps, NaN for gaps), as [`crate::fit`].
///
/// # Errors
/// As [`crate::fit`].
pub fn fit(y: ArrayView1<'_, f64>, options: &FitOptions) -> Result<FittedModel> {
    crate::ets::fit(&slice(&y), options)
}

/// Point forecasts and prediction intervals at several levels.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastArrays {
    /// Point forecast, one per step ahead.
    pub mean: Array1<f64>,
    /// The levels, in the order given.
    pub levels: Array1<f64>,
    /// Lower bounds: row `i` for `levels[i]`, one column per step ahead.
    pub lower: Array2<f64>,
    /// Upper bounds, laid out as `lower`.
    pub upper: Array2<f64>,
}

/// Forecasts `horizon` steps with intervals at each of `levels` (e.g. `[0.8, 0.95]`), as
/// [`FittedModel::forecast`].
///
/// # Errors
/// [`ForecastError::InvalidParameter`] without a level, and as [`FittedModel::forecast`] (a
/// level outside (0, 1), a zero horizon).
pub fn forecast(model: &FittedModel, horizon: usize, levels: &[f64]) -> Result<ForecastArrays> {
    if levels.is_empty() {
        return Err(ForecastError::InvalidParameter {
            name: "levels",
            reason: "give at least one level, e.g. [0.95]".into(),
        });
    }
    let mut lower = Array2::zeros((levels.len(), horizon));
    let mut upper = Array2::zeros((levels.len(), horizon));
    let mut mean = Array1::zeros(0);
    for (i, &level) in levels.iter().enumerate() {
        let fc = model.forecast(horizon, level)?;
        lower.row_mut(i).assign(&ArrayView1::from(&fc.lower));
        upper.row_mut(i).assign(&ArrayView1::from(&fc.upper));
        if i == 0 {
            mean = Array1::from(fc.mean);
        }
    }
    Ok(ForecastArrays {
        mean,
        levels: Array1::from(levels.to_vec()),
        lower,
        upper,
    })
}

/// One-step-ahead fitted values and residuals `y - fitted`, aligned with `y` (the series the
/// model was fitted to; NaN before the first observation and where `y` is missing).
pub fn in_sample(model: &FittedModel, y: ArrayView1<'_, f64>) -> (Array1<f64>, Array1<f64>) {
    let y = slice(&y);
    let fitted: Array1<f64> = (0..y.len())
        .map(|i| model.fitted().get(i).copied().unwrap_or(f64::NAN))
        .collect();
    (fitted, Array1::from(model.residuals(&y)))
}

/// Online anomaly scores of `y` (regular steps, NaN for gaps) under [`crate::RobustDetector`],
/// each point scored from the points before it, as [`crate::score_robust`]: a score in [0, 1]
/// per point, NaN while the detector warms up or where `y` is missing.
///
/// # Errors
/// As [`crate::score_robust`] (a bad configuration).
pub fn anomaly_scores(y: ArrayView1<'_, f64>, config: &RobustConfig) -> Result<Array1<f64>> {
    let y = slice(&y);
    let step = config.step.unwrap_or(1);
    let ts: Vec<i64> = (0..y.len() as i64).map(|i| i.saturating_mul(step)).collect();
    let scores = score_robust(&ts, &y, config)?;
    Ok(scores.iter().map(|s| s.map_or(f64::NAN, |s| s.score)).collect())
}

/// Fits an isolation forest to the rows of `x` (one sample per row, one feature per column), as
/// [`IsolationForest::fit`].
///
/// # Errors
/// As [`IsolationForest::fit`] (no column, no finite row).
pub fn fit_forest(x: ArrayView2<'_, f64>, config: &IsolationForestConfig) -> Result<IsolationForest> {
    IsolationForest::fit(&rows(&x), x.ncols(), config)
}

/// Anomaly scores of the rows of `x` under `forest` (scikit-learn's `score_samples`, negated: in
/// (0, 1], higher is more anomalous), as [`IsolationForest::score_rows`].
///
/// # Errors
/// [`ForecastError::InvalidParameter`] when `x` has another number of columns than the forest
/// was fitted on.
pub fn score_forest(forest: &IsolationForest, x: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
    if x.ncols() != forest.n_features() {
        return Err(ForecastError::InvalidParameter {
            name: "x",
            reason: format!(
                "{} columns, the forest was fitted on {}",
                x.ncols(),
                forest.n_features()
            ),
        });
    }
    Ok(Array1::from(forest.score_rows(&rows(&x))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Season;
    use ndarray::{Array2, s};

    fn series(n: usize) -> Vec<f64> {
        (0..n)
            .map(|t| {
                20.0 + 0.1 * t as f64 + 5.0 * (t as f64 * std::f64::consts::TAU / 7.0).sin() + (t * 37 % 5) as f64 * 0.2
            })
            .collect()
    }

    #[test]
    fn same_answers_as_the_slice_api_also_from_strided_views() {
        let y = series(140);
        let options = FitOptions {
            season: Season::Period(7),
            ..FitOptions::default()
        };
        let by_slice = crate::fit(&y, &options).unwrap();
        let fc = by_slice.forecast(14, 0.9).unwrap();
        // A column of a matrix is a strided view.
        let mut m = Array2::<f64>::zeros((140, 2));
        m.column_mut(1).assign(&ArrayView1::from(&y));
        let col = m.column(1);
        assert!(col.as_slice().is_none());
        let model = fit(col, &options).unwrap();
        let arrays = forecast(&model, 14, &[0.9, 0.5]).unwrap();
        assert_eq!(arrays.mean.to_vec(), fc.mean);
        assert_eq!(arrays.lower.row(0).to_vec(), fc.lower);
        assert_eq!(arrays.upper.row(0).to_vec(), fc.upper);
        assert!((0..14).all(|k| arrays.lower[[1, k]] >= arrays.lower[[0, k]]));
        let (fitted, residuals) = in_sample(&model, col);
        assert_eq!(fitted.as_slice().unwrap(), by_slice.fitted());
        assert_eq!(residuals.to_vec(), by_slice.residuals(&y));
        assert!(forecast(&model, 3, &[]).is_err());
        assert!(forecast(&model, 3, &[1.5]).is_err());
    }

    #[test]
    fn anomaly_scores_flag_a_spike() {
        let mut y = Array1::from(series(300));
        y[250] += 40.0;
        y[100] = f64::NAN;
        let config = RobustConfig {
            season: Season::Period(7),
            ..RobustConfig::default()
        };
        let scores = anomaly_scores(y.view(), &config).unwrap();
        assert_eq!(scores.len(), 300);
        assert!(scores[100].is_nan());
        assert!(scores[250] >= config.threshold, "{}", scores[250]);
        let ordinary = scores
            .slice(s![150..240])
            .iter()
            .filter(|s| **s >= config.threshold)
            .count();
        assert!(ordinary <= 2, "{ordinary} ordinary points flagged");
    }

    #[test]
    fn forest_on_a_matrix_matches_rows() {
        let mut x = Array2::from_shape_fn((400, 3), |(i, j)| ((i * 31 + j * 17) % 23) as f64);
        x[[399, 0]] = 500.0;
        let config = IsolationForestConfig::default();
        let forest = fit_forest(x.view(), &config).unwrap();
        let flat: Vec<f64> = x.iter().copied().collect();
        let by_rows = IsolationForest::fit(&flat, 3, &config).unwrap();
        let scores = score_forest(&forest, x.view()).unwrap();
        assert_eq!(scores.to_vec(), by_rows.score_rows(&flat));
        let max = scores.iter().copied().fold(f64::MIN, f64::max);
        assert_eq!(scores[399], max);
        // Column-major (transposed) input gives the same scores.
        let t = x.t().to_owned();
        assert_eq!(score_forest(&forest, t.t()).unwrap(), scores);
        assert!(score_forest(&forest, x.slice(s![.., ..2])).is_err());
    }
}
