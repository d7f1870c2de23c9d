//! The entry point [`fit`] and its options: input checks and rescaling, the seasonal period,
//! then either one requested variant (falling back to simpler ones) or every admissible variant
//! ranked by AICc and handed to the backtest in `select`.

use super::estimate::fit_variant;
use super::fitted::{Fallback, FittedModel, finish};
use super::model::{ModelSpec, Seasonality};
use super::multi::with_long_season;
use super::profile::shorter_period;
use super::select::select_by_backtest;
use crate::error::{ForecastError, Result};
use crate::season::{MIN_STRENGTH, detect_season, fill_gaps, seasonal_strength};

/// Which model(s) to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelChoice {
    /// Fit every admissible variant and keep the one with the lowest AICc (seasonal variants
    /// only when a period is given or detected; see [`fit`]).
    #[default]
    Auto,
    /// Fit this variant (falling back to simpler ones if it cannot be fitted).
    Fixed(ModelSpec),
}

/// The seasonal period to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Season {
    /// Detect it with [`detect_season`](crate::detect_season); non-seasonal if none is found.
    #[default]
    Auto,
    /// Non-seasonal models only.
    None,
    /// This many points per season (1 means non-seasonal).
    Period(usize),
}

/// Options of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Model variant or automatic selection.
    pub model: ModelChoice,
    /// Seasonal period, given or detected.
    pub season: Season,
    /// Cap on objective evaluations per Nelder-Mead search (a fit runs at most three).
    pub max_evaluations: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            model: ModelChoice::Auto,
            season: Season::Auto,
            max_evaluations: 1500,
        }
    }
}

/// Fits a Holt-Winters / ETS model to `values` (regularly spaced; NaN or infinite = missing).
///
/// Leading missing points are dropped, inner ones are skipped in the error sum with the state
/// carried through the gap, trailing ones are forecast through. Values are rescaled internally,
/// so huge magnitudes fit like small ones. With [`ModelChoice::Fixed`], a variant that cannot be
/// fitted falls back to simpler ones and [`FittedModel::fallback`] says why; with
/// [`ModelChoice::Auto`] every admissible variant is fitted and the lowest AICc wins (only the
/// seasonal variants when a period is given, only the non-seasonal ones without a period; both
/// when the period was detected, or is given but the data show no seasonality at it, i.e. its
/// adjusted seasonal strength is below detection's threshold, as in seasonally adjusted series);
/// the winner is then checked out of sample, on the tail of the history, against the next two
/// variants, the average of the three and the (seasonal) naive forecast (as ETS(A,N,A) with
/// alpha 0 and gamma 1, or ETS(A,N,N) with alpha 1), which replaces it only when clearly closer
/// ([`FittedModel::fallback`] reports it); the same kind of backtest, reaching further back on
/// short series, calibrates the intervals ([`FittedModel::interval_calibration`]). When the
/// period is a day on a common grid and the history holds five or more weeks (336 points on
/// half-hourly data with a daily 48) whose weekly profile explains clearly more than the daily
/// one alone (or when the detected period is such a week of a strong daily one, e.g. 168 of 24),
/// the same automatic choice is also fitted after removing that longer profile, and replaces the
/// single-season model when it forecasts clearly and significantly closer one long period ahead
/// on a backtest ([`FittedModel::long_season`]).
///
/// # Errors
/// [`ForecastError::NotEnoughData`] when even simple exponential smoothing cannot be fitted
/// (fewer than 3 observed points), [`ForecastError::InvalidParameter`] for a bad option.
pub fn fit(values: &[f64], options: &FitOptions) -> Result<FittedModel> {
    fit_seasons(values, options, true)
}

/// [`fit`] with one seasonal period at most: the anomaly detector steps the model's states
/// itself, which a removed long profile would escape.
pub(crate) fn fit_one_season(values: &[f64], options: &FitOptions) -> Result<FittedModel> {
    fit_seasons(values, options, false)
}

fn fit_seasons(values: &[f64], options: &FitOptions, two_seasons: bool) -> Result<FittedModel> {
    if options.max_evaluations == 0 {
        return Err(ForecastError::InvalidParameter {
            name: "max_evaluations",
            reason: "must be at least 1".into(),
        });
    }
    let Some(lead) = values.iter().position(|v| v.is_finite()) else {
        return Err(ForecastError::NotEnoughData { needed: 3, got: 0 });
    };
    let scale = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let scale = if scale > 0.0 && scale.is_finite() { scale } else { 1.0 };
    let y: Vec<f64> = values[lead..]
        .iter()
        .map(|v| if v.is_finite() { v / scale } else { f64::NAN })
        .collect();
    let mut season_note = None;
    let period = match options.season {
        Season::None => 1,
        Season::Period(0) => {
            return Err(ForecastError::InvalidParameter {
                name: "season",
                reason: "the period must be at least 1".into(),
            });
        }
        Season::Period(m) => {
            if m >= 2 && y.len() < 2 * m {
                season_note = Some(format!(
                    "season {m} needs at least {} points, got {}: fitted without season",
                    2 * m,
                    y.len()
                ));
                1
            } else {
                m
            }
        }
        Season::Auto => detect_season(&y, None).unwrap_or(1),
    };
    let evals = options.max_evaluations;
    match options.model {
        ModelChoice::Fixed(requested) => {
            let mut spec = requested;
            if period < 2 && spec.is_seasonal() {
                spec = ModelSpec::new(spec.trend, Seasonality::None);
            }
            let mut reasons: Vec<String> = season_note.into_iter().collect();
            if spec != requested && reasons.is_empty() {
                reasons.push("no seasonal period (given or detected)".into());
            }
            loop {
                match fit_variant(&y, spec, period, evals) {
                    Ok(raw) => {
                        let mut model = finish(&y, lead, scale, spec, period, raw);
                        if spec != requested {
                            model.fallback = Some(Fallback {
                                requested,
                                reason: reasons.join("; "),
                            });
                        }
                        return Ok(model);
                    }
                    Err(e) => {
                        reasons.push(format!("{spec}: {e}"));
                        match spec.simpler() {
                            Some(s) => spec = s,
                            None => return Err(e),
                        }
                    }
                }
            }
        }
        ModelChoice::Auto => {
            // A detected period may be a cycle that does not repeat on schedule (sunspots, lynx)
            // or chance on a short history: there the AICc weighs the seasonal variants, each
            // seasonal state counted, against the non-seasonal ones, as R's ets() does.
            let detected = matches!(options.season, Season::Auto) && period >= 2;
            let single = fit_auto(&y, lead, scale, period, detected, evals)?;
            Ok(if two_seasons && period >= 2 {
                // A detected weekly period may hold the daily one: then the week is the long one.
                let short = if detected {
                    shorter_period(&y, period).unwrap_or(period)
                } else {
                    period
                };
                with_long_season(&y, lead, scale, short, single, evals, |z| {
                    fit_auto(z, lead, scale, short, detected, evals)
                })
            } else {
                single
            })
        }
    }
}

/// The automatic choice on `y` (normalised, after `lead` missing points) with period `period`:
/// every admissible variant ranked by AICc, then the backtest in `select`.
fn fit_auto(y: &[f64], lead: usize, scale: f64, period: usize, detected: bool, evals: usize) -> Result<FittedModel> {
    let mut best: Option<FittedModel> = None;
    let mut candidates = Vec::new();
    // A period without seasonality in the data (seasonally adjusted series, a wrong
    // period) would be fitted as noise: there the non-seasonal variants compete too.
    let unseasonal = period >= 2 && fill_gaps(y).is_some_and(|x| seasonal_strength(&x, period) < MIN_STRENGTH);
    let mut last_err = None;
    for spec in ModelSpec::all() {
        // With a known period only seasonal variants compete, unless the data show no
        // seasonality at it: on one-step errors a non-seasonal model tracking a slow
        // cycle can win the AICc (every seasonal state counts as a parameter) and then
        // forecast the cycle away.
        let admissible = spec.is_seasonal() == (period >= 2) || ((unseasonal || detected) && !spec.is_seasonal());
        if !admissible {
            continue;
        }
        match fit_variant(y, spec, period, evals) {
            Ok(raw) => {
                let m = finish(y, lead, scale, spec, period, raw);
                // Strictly better only: ties keep the simpler, earlier variant.
                if best.as_ref().is_none_or(|b| m.aicc < b.aicc) {
                    if let Some(old) = best.replace(m) {
                        candidates.push(old);
                    }
                } else {
                    candidates.push(m);
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    let best =
        best.ok_or_else(|| last_err.unwrap_or_else(|| ForecastError::FitFailed("no admissible model".into())))?;
    Ok(select_by_backtest(y, lead, scale, period, best, candidates, evals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ets::model::Trend;
    use crate::ets::testing::{fixed, series};
    use crate::rng::SplitMix64;

    #[test]
    fn tracks_sine_plus_trend() {
        let y = series(24 * 12, 24, 2, 0.0);
        let m = fit(&y, &fixed(Trend::Additive, Seasonality::Additive, 24)).unwrap();
        let fc = m.forecast(48, 0.95).unwrap();
        for (h, f) in fc.mean.iter().enumerate() {
            let t = (y.len() + h) as f64;
            let ph = std::f64::consts::TAU * ((y.len() + h) % 24) as f64 / 24.0;
            let truth = 50.0 + 0.05 * t + 5.0 * ph.sin();
            assert!((f - truth).abs() < 0.05, "h={h}: {f} vs {truth}");
        }
    }

    #[test]
    fn recovers_level_noise() {
        // Local level model with known alpha = 0.3.
        let mut g = SplitMix64::new(9);
        let mut l = 10.0;
        let mut y = Vec::new();
        for _ in 0..3000 {
            let e = g.normal();
            y.push(l + e);
            l += 0.3 * e;
        }
        let m = fit(&y, &fixed(Trend::None, Seasonality::None, 1)).unwrap();
        assert!((m.params().alpha - 0.3).abs() < 0.05, "{:?}", m.params());
        assert!((m.sigma() - 1.0).abs() < 0.05);
    }

    #[test]
    fn auto_picks_seasonal() {
        let y = series(24 * 10, 24, 3, 0.5);
        let m = fit(&y, &FitOptions::default()).unwrap();
        assert_eq!(m.period(), 24);
        assert!(m.spec().is_seasonal(), "{}", m.spec());
    }

    #[test]
    fn gaps_are_carried() {
        let mut y = series(24 * 8, 24, 4, 0.3);
        for v in y.iter_mut().skip(50).take(30) {
            *v = f64::NAN;
        }
        y[0] = f64::NAN;
        let last = y.len() - 1;
        y[last] = f64::NAN;
        let m = fit(&y, &fixed(Trend::Additive, Seasonality::Additive, 24)).unwrap();
        assert!(m.fallback().is_none());
        assert!(m.sigma() < 0.6, "{}", m.sigma());
        assert_eq!(m.fitted().len(), y.len());
    }

    #[test]
    fn fallbacks_are_reported() {
        let y: Vec<f64> = series(100, 12, 5, 0.5).iter().map(|v| v - 60.0).collect();
        let m = fit(&y, &fixed(Trend::Damped, Seasonality::Multiplicative, 12)).unwrap();
        assert_eq!(m.spec(), ModelSpec::new(Trend::Damped, Seasonality::Additive));
        assert!(m.fallback().is_some_and(|f| f.reason.contains("positive")));
        let m = fit(&y[..20], &fixed(Trend::Additive, Seasonality::Additive, 12)).unwrap();
        assert!(!m.spec().is_seasonal());
        assert!(m.fallback().is_some());
    }

    #[test]
    fn never_panics_on_odd_input() {
        let cases: Vec<Vec<f64>> = vec![
            vec![],
            vec![f64::NAN; 10],
            vec![1.0],
            vec![5.0; 100],
            vec![0.0; 100],
            vec![1e300, -1e300, 1e300, 2.0, f64::INFINITY, 3.0, 1e-300, 7.0, 8.0, 1e308],
            (0..200).map(|i| if i % 2 == 0 { f64::NAN } else { i as f64 }).collect(),
        ];
        for y in &cases {
            for opts in [
                FitOptions::default(),
                fixed(Trend::Damped, Seasonality::Multiplicative, 4),
            ] {
                if let Ok(m) = fit(y, &opts) {
                    let fc = m.forecast(10, 0.9).unwrap();
                    assert_eq!(fc.mean.len(), 10);
                    assert!(m.forecast(3, 1.0).is_err());
                }
            }
        }
        assert!(matches!(
            fit(&[], &FitOptions::default()),
            Err(ForecastError::NotEnoughData { .. })
        ));
        let c = fit(&[5.0; 100], &FitOptions::default()).unwrap();
        let fc = c.forecast(3, 0.95).unwrap();
        assert!(fc.mean.iter().all(|v| (v - 5.0).abs() < 1e-9));
    }
}
