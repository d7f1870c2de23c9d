//! Forecasting and anomaly detection for foresight.
//!
//! A pure library: slices (or, with the `ndarray` feature, array views) in, results out (no I/O,
//! no engine or HTTP types).
//!
//! - **Holt-Winters / ETS** ([`fit`]): level, trend (none, additive, damped) and seasonality
//!   (none, additive, multiplicative) with additive errors. Smoothing parameters and initial
//!   states minimise the one-step-ahead squared error (bounded, deterministic Nelder-Mead with
//!   the initial states profiled out by least squares); a variant that cannot be fitted falls back
//!   to a simpler one and says so. `Auto` picks the variant by AICc. Gaps (NaN) are skipped and
//!   forecast through. Each objective evaluation is O(n), also for long seasons (m = 288).
//! - **Seasonal period detection** ([`detect_season`]): autocorrelation peaks checked by
//!   seasonal strength.
//! - **Prediction intervals** at any level ([`FittedModel::forecast`]): analytical for the linear
//!   models, seeded simulation for multiplicative seasonality.
//! - **Isolation forest** ([`IsolationForest`]): scikit-learn's algorithm, seeded, trees built in
//!   parallel, identical results whatever the thread count; features from a series with
//!   [`build_features`] / [`series_features`].
//! - **Online anomaly scoring**, each point scored from earlier points only: [`RobustDetector`] /
//!   [`score_robust`] (the default: robust seasonal level, online residual distribution with an
//!   exponential tail, short- versus long-window tests, level shifts absorbed; a calibrated
//!   probability per point, O(1) per point), and [`Detector`] / [`score_series`] (Holt-Winters
//!   interval and isolation forest, combined in [0, 1]).
//! - **Lagged correlation** ([`Correlator`]): which of many candidate series moves with a target
//!   and how many steps before it, Pearson or Spearman on differenced, detrended or raw values,
//!   every lag at once by FFT, with a p-value that allows for autocorrelation and the lags
//!   searched.
//!
//! - **Series at their own step** ([`Sequence`]): calendar months (monthly, quarterly data
//!   stamped on one day of the month) or a fixed step with jitter and gaps, read from the
//!   timestamps; steps ahead on the same calendar and the calendar's season.
//! - **ndarray** ([`arrays`], cargo feature `ndarray`, on by default): the same fits, forecasts,
//!   fitted values, residuals and anomaly scores on `ArrayView1<f64>`, the isolation forest on
//!   `ArrayView2<f64>`, results as `Array1` / `Array2`.
//!
//! Missing points are NaN (any non-finite value). Nothing panics on any input; everything random
//! takes a seed.
//!
//! ```
//! use foresight_forecasting::{fit, score_series, DetectorConfig, FitOptions, Season};
//!
//! // Three weeks of a daily cycle at hourly resolution, on a slow trend.
//! let y: Vec<f64> = (0..24 * 21)
//!     .map(|t| 100.0 + 0.05 * t as f64 + 10.0 * (t as f64 * std::f64::consts::TAU / 24.0).sin())
//!     .collect();
//! let model = fit(&y, &FitOptions::default())?;
//! assert_eq!(model.period(), 24);
//! let fc = model.forecast(48, 0.95)?;
//! assert_eq!(fc.mean.len(), 48);
//! assert!(fc.lower[0] <= fc.mean[0] && fc.mean[0] <= fc.upper[0]);
//!
//! // Stream-style anomaly scores over the same series with a spike planted in it.
//! let mut z = y.clone();
//! z[400] += 60.0;
//! let ts: Vec<i64> = (0..z.len() as i64).map(|i| i * 3_600_000).collect();
//! let config = DetectorConfig { season: Season::Period(24), ..DetectorConfig::default() };
//! let scores = score_series(&ts, &z, &config)?;
//! assert!(scores[400].is_some_and(|s| s.is_anomaly));
//! # Ok::<(), foresight_forecasting::ForecastError>(())
//! ```

#[cfg(feature = "ndarray")]
pub mod arrays;
mod cadence;
mod clock;
mod correlate;
mod detector;
mod error;
mod ets;
mod features;
mod grid;
mod iforest;
mod math;
mod optim;
mod rng;
mod robust;
mod season;

pub use cadence::{Cadence, Sequence};
pub use correlate::{
    CorrelateOptions, Correlation, CorrelationMethod, Correlator, MIN_OVERLAP, NoCorrelation, Transform,
};
pub use detector::{AnomalyScore, Detector, DetectorConfig, score_series};
pub use error::{ForecastError, Result};
pub use ets::{
    Fallback, FitOptions, FittedModel, Forecast, ForecastOptions, IntervalCalibration, IntervalMethod, ModelChoice,
    ModelSpec, Params, Season, Seasonality, Trend, fit,
};
pub use features::{FEATURE_NAMES, N_FEATURES, build_features, series_features};
pub use grid::{MIN_HISTORY, fit_and_forecast, fit_grid, score_grid};
pub use iforest::{IsolationForest, IsolationForestConfig};
pub use robust::{AnomalyKind, RobustConfig, RobustDetector, RobustScore, score_robust};
pub use season::detect_season;
