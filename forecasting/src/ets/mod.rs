//! Holt-Winters / ETS with additive errors: fitting, model selection and forecasting.
//!
//! The recursions are the error-correction form of Hyndman et al. (2008), with additive errors
//! `e_t = y_t - yhat_t`:
//!
//! ```text
//! base    = l + phi b                      (phi = 1 undamped, b = 0 without trend)
//! yhat    = base + s   |  base * s         (additive | multiplicative season s = s_{t-m})
//! l'      = base + alpha e                 |  base + alpha e / s
//! b'      = phi b + beta e                 |  phi b + beta e / s
//! s'      = s + gamma e                    |  s + gamma e / base
//! ```
//!
//! Parameters live in the usual admissible region `0 < alpha < 1`, `0 <= beta <= alpha`,
//! `0 <= gamma <= 1 - alpha`, `0.8 <= phi <= 0.98`, reached by mapping a Nelder-Mead search over
//! the unit box. (Holt-Winters' textbook `beta*` equals `beta / alpha` here.)
//!
//! Initial states are profiled out inside every objective evaluation: for the linear models (no
//! or additive season) the one-step errors are affine in the initial state, so one extra
//! zero-data "sensitivity" filter per state gives the exact least-squares initial states; for
//! multiplicative ones a Gauss-Newton step does the same approximately. Inside the search this
//! covers the level and trend (all states when `n k^2` is tiny, i.e. short seasons). Between two
//! searches every initial state, seasonal ones included, is re-estimated when `n (m + 2)^2` is
//! affordable; otherwise the seasonal states keep the decomposition estimate. Every objective
//! evaluation is O(n) for long seasons (m = 288), and the first error after a gap is weighted
//! by its multi-step variance.
//!
//! One concept per file. Each module imports only those in the layers below it, so the module
//! graph is a DAG with the shared types at the bottom:
//!
//! ```text
//! fit         -> multi, profile, select, estimate, fitted, model   (entry point, AICc ranking)
//! multi       -> profile, select, estimate, fitted, calibration   (a second, longer season)
//! select      -> estimate, fitted, calibration, recursion, model   (backtest choice)
//! forecast    -> fitted, calibration, recursion        (point forecasts, intervals)
//! estimate    -> init, recursion, model                (one variant's parameter search)
//! fitted      -> profile, calibration, recursion, model         (FittedModel and its accessors)
//! init        -> recursion, model                      (initial states)
//! recursion   -> model                                 (the filter step, SSE, h-step sd)
//! profile                                              (the long seasonal profile)
//! calibration                                          (empirical interval quantiles)
//! model                                                (ModelSpec, Params, P, State, RawFit)
//! ```

mod calibration;
mod estimate;
mod fit;
mod fitted;
mod forecast;
mod init;
mod model;
mod multi;
mod profile;
mod recursion;
mod select;
#[cfg(test)]
mod testing;

pub use calibration::IntervalCalibration;
pub(crate) use fit::fit_one_season;
pub use fit::{FitOptions, ModelChoice, Season, fit};
pub use fitted::{Fallback, FittedModel};
pub use forecast::{Forecast, ForecastOptions, IntervalMethod};
pub(crate) use model::State;
pub use model::{ModelSpec, Params, Seasonality, Trend};
pub(crate) use recursion::step;
