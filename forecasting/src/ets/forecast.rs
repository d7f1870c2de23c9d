//! Forecasting from a fitted model: point forecasts (averaged over the model's members), analytical
//! or simulated prediction intervals, replaced by the model's interval calibration (empirical
//! quantiles of rolling-origin errors) when it has one.

use super::calibration::quantile_sorted;
use super::fitted::FittedModel;
use super::recursion::{predict, step};
use crate::error::{ForecastError, Result};
use crate::math::normal_quantile;
use crate::rng::SplitMix64;

/// How prediction intervals were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalMethod {
    /// Closed-form variance (Hyndman et al. 2008, class 1: linear additive models).
    Analytical,
    /// Quantiles of simulated sample paths (multiplicative season).
    Simulated {
        /// Number of simulated paths.
        paths: usize,
    },
    /// Empirical quantiles of rolling-origin forecast errors, scaled by the model's standard
    /// deviation per horizon ([`FittedModel::interval_calibration`]).
    Calibrated {
        /// Forecast origins the errors come from.
        origins: usize,
    },
}

/// Options of [`FittedModel::forecast_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastOptions {
    /// Interval coverage in (0, 1); default 0.95.
    pub level: f64,
    /// Simulated paths when intervals are simulated; default 1,000.
    pub paths: usize,
    /// Seed of the simulation.
    pub seed: u64,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        Self {
            level: 0.95,
            paths: 1000,
            seed: 0,
        }
    }
}

/// Point forecasts and prediction intervals, one entry per step ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// Point forecast (conditional mean).
    pub mean: Vec<f64>,
    /// Lower bound of the interval.
    pub lower: Vec<f64>,
    /// Upper bound of the interval.
    pub upper: Vec<f64>,
    /// Coverage the intervals were computed for.
    pub level: f64,
    /// How the intervals were computed.
    pub method: IntervalMethod,
}

impl FittedModel {
    /// Forecasts `horizon` steps with intervals at `level` (e.g. 0.95); simulated intervals use
    /// seed 0. See [`FittedModel::forecast_with`].
    ///
    /// # Errors
    /// [`ForecastError::InvalidParameter`] when `level` is not in (0, 1).
    pub fn forecast(&self, horizon: usize, level: f64) -> Result<Forecast> {
        self.forecast_with(
            horizon,
            &ForecastOptions {
                level,
                ..ForecastOptions::default()
            },
        )
    }

    /// Forecasts `horizon` steps after the last input point.
    ///
    /// Intervals are analytical for the linear models (variance `sigma^2 (1 + sum c_j^2)`,
    /// `c_j = alpha + beta phi_j + gamma [j mod m = 0]`) and simulated from `paths` seeded
    /// sample paths for multiplicative seasonality. When the model has an interval calibration
    /// ([`FittedModel::interval_calibration`], from [`ModelChoice::Auto`](super::ModelChoice::Auto)
    /// on a long enough history) the half-width `k` steps ahead is instead the `level` quantile
    /// of the backtest's errors `k` steps ahead, each divided by the model's standard deviation
    /// for its horizon, times that standard deviation now (split-conformal): the model's own
    /// intervals ignore the uncertainty of the parameters and of the model choice and assume the
    /// errors are Gaussian, and on real data cover too little or too much.
    ///
    /// # Errors
    /// [`ForecastError::InvalidParameter`] when `level` is not in (0, 1) or `paths` is 0.
    pub fn forecast_with(&self, horizon: usize, options: &ForecastOptions) -> Result<Forecast> {
        let level = options.level;
        if !(level > 0.0 && level < 1.0) {
            return Err(ForecastError::InvalidParameter {
                name: "level",
                reason: format!("must be in (0, 1), got {level}"),
            });
        }
        let z = normal_quantile(0.5 + level / 2.0);
        let mut st = self.last.clone();
        let mut mean = Vec::with_capacity(horizon);
        for _ in 0..horizon {
            let (f, _) = step(self.spec, &self.p, &mut st, f64::NAN);
            mean.push(f);
        }
        let own = mean.clone();
        if !self.members.is_empty() {
            for member in &self.members {
                let mut st = member.last.clone();
                for f in &mut mean {
                    *f += step(member.spec, &member.p, &mut st, f64::NAN).0;
                }
            }
            let k = (self.members.len() + 1) as f64;
            mean.iter_mut().for_each(|f| *f /= k);
        }
        let sigma = self.sigma2.sqrt();
        let sd = self.error_sd(horizon);
        // Where the backtest calibrates every step's width (below), the model's own interval
        // would be thrown away: skip it (for nonlinear models, thousands of simulated paths).
        let calibrated_everywhere = self.calibration.as_ref().is_some_and(|cal| {
            sd.iter().enumerate().all(|(k, s)| {
                let half = cal.scaled_quantile(k + 1, level) * s;
                half.is_finite() && half > 0.0
            })
        });
        let (mut lower, mut upper, mut method) = if calibrated_everywhere {
            (own.clone(), own.clone(), IntervalMethod::Analytical)
        } else if self.spec.is_linear() {
            let lower = own.iter().zip(&sd).map(|(f, s)| f - z * s).collect();
            let upper = own.iter().zip(&sd).map(|(f, s)| f + z * s).collect();
            (lower, upper, IntervalMethod::Analytical)
        } else {
            if options.paths == 0 {
                return Err(ForecastError::InvalidParameter {
                    name: "paths",
                    reason: "must be at least 1".into(),
                });
            }
            let paths = options.paths;
            let mut sims = vec![0.0; paths * horizon]; // step-major: sims[h * paths + i]
            for i in 0..paths {
                let mut rng = SplitMix64::stream(options.seed, i as u64);
                let mut st = self.last.clone();
                for h in 0..horizon {
                    let (f, _, _, _) = predict(self.spec, &self.p, &st);
                    let y = f + sigma * rng.normal();
                    step(self.spec, &self.p, &mut st, y);
                    sims[h * paths + i] = y;
                }
            }
            let mut lower = Vec::with_capacity(horizon);
            let mut upper = Vec::with_capacity(horizon);
            for col in sims.chunks_mut(paths) {
                col.sort_by(f64::total_cmp);
                lower.push(quantile_sorted(col, 0.5 - level / 2.0));
                upper.push(quantile_sorted(col, 0.5 + level / 2.0));
            }
            (lower, upper, IntervalMethod::Simulated { paths })
        };
        // A combined forecast moves the intervals with it.
        for (k, (o, f)) in own.iter().zip(&mean).enumerate() {
            lower[k] += f - o;
            upper[k] += f - o;
        }
        if let Some(cal) = &self.calibration {
            for (k, ((f, s), (lo, hi))) in mean
                .iter()
                .zip(&sd)
                .zip(lower.iter_mut().zip(upper.iter_mut()))
                .enumerate()
            {
                let half = cal.scaled_quantile(k + 1, level) * s;
                if half.is_finite() && half > 0.0 {
                    *lo = f - half;
                    *hi = f + half;
                    method = IntervalMethod::Calibrated { origins: cal.origins };
                }
            }
        }
        if let Some(long) = &self.long {
            for (k, ((f, lo), hi)) in mean.iter_mut().zip(&mut lower).zip(&mut upper).enumerate() {
                let a = long.ahead(k);
                *f += a;
                *lo += a;
                *hi += a;
            }
        }
        let s = self.scale;
        let scale_all = |v: Vec<f64>| v.into_iter().map(|x| x * s).collect::<Vec<_>>();
        Ok(Forecast {
            mean: scale_all(mean),
            lower: scale_all(lower),
            upper: scale_all(upper),
            level,
            method,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ets::fit::{FitOptions, Season, fit};
    use crate::ets::model::{Seasonality, Trend};
    use crate::ets::testing::{fixed, series};

    #[test]
    fn an_updated_model_forecasts_from_its_new_points() {
        // A wandering level (a random walk), so the fitted level follows new points closely.
        let mut g = SplitMix64::new(11);
        let mut level = 100.0;
        let y: Vec<f64> = (0..300)
            .map(|_| {
                level += g.normal();
                level
            })
            .collect();
        let mut a = fit(&y, &FitOptions::default()).unwrap();
        let before = a.forecast(49, 0.9).unwrap();
        // Nothing new: nothing moves; dropping the fitted values changes no forecast.
        assert_eq!(a.update(&[]), (0.0, 0));
        a.discard_fitted();
        assert!(a.fitted().is_empty());
        assert_eq!(a.forecast(49, 0.9).unwrap().mean, before.mean);
        // Then 48 points 50 higher, with a gap.
        let jumped = level + 50.0;
        let mut shifted: Vec<f64> = (0..48).map(|_| jumped + 0.5 * g.normal()).collect();
        shifted[10] = f64::NAN;
        let (sq, count) = a.update(&shifted);
        assert_eq!(count, 47);
        assert!(
            sq / count as f64 > 10.0 * a.sigma().powi(2),
            "{sq} {count} {}",
            a.sigma()
        );
        let after = a.forecast(1, 0.9).unwrap();
        assert!((after.mean[0] - jumped).abs() < 5.0, "{} vs {jumped}", after.mean[0]);
        assert!((before.mean[48] - level).abs() < 5.0, "{} vs {level}", before.mean[48]);
    }

    #[test]
    fn multiplicative_fits_and_simulates() {
        let mut g = SplitMix64::new(6);
        let y: Vec<f64> = (0..24 * 10)
            .map(|t| {
                let ph = std::f64::consts::TAU * (t % 24) as f64 / 24.0;
                (100.0 + t as f64) * (1.0 + 0.3 * ph.sin()) + g.normal()
            })
            .collect();
        let m = fit(&y, &fixed(Trend::Additive, Seasonality::Multiplicative, 24)).unwrap();
        assert!(m.fallback().is_none());
        let fc = m
            .forecast_with(
                24,
                &ForecastOptions {
                    seed: 3,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(matches!(fc.method, IntervalMethod::Simulated { paths: 1000 }));
        for i in 0..24 {
            assert!(fc.lower[i] < fc.mean[i] && fc.mean[i] < fc.upper[i]);
        }
        let again = m
            .forecast_with(
                24,
                &ForecastOptions {
                    seed: 3,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(fc, again);
    }

    /// A calibrated interval is the empirical quantile of the scaled backtest errors times the
    /// model's standard deviation, either side of the mean (narrower or wider than the model's
    /// own), the members' average moves the intervals with the mean, and too short a series is
    /// not backtested (the AICc choice and its model intervals stand).
    #[test]
    fn calibration_sets_the_width_and_combination_recentres() {
        let y = series(24 * 12, 24, 3, 1.0);
        let auto = FitOptions {
            season: Season::Period(24),
            ..FitOptions::default()
        };
        let model = fit(&y, &auto).unwrap();
        let cal = model.interval_calibration().unwrap();
        assert_eq!(cal.horizon, 24);
        let mut bare = model.clone();
        bare.calibration = None;
        let (a, b) = (model.forecast(60, 0.9).unwrap(), bare.forecast(60, 0.9).unwrap());
        assert_eq!(a.method, IntervalMethod::Calibrated { origins: cal.origins });
        assert_ne!(b.method, a.method);
        let sd = model.error_sd(60);
        for (k, s) in sd.iter().enumerate() {
            let half = cal.scaled_quantile(k + 1, 0.9) * s * model.scale;
            assert!((a.upper[k] - a.mean[k] - half).abs() < 1e-9 * half, "step {k}");
            assert!((a.mean[k] - a.lower[k] - half).abs() < 1e-9 * half, "step {k}");
            assert!(a.lower[k] < a.mean[k] && a.mean[k] < a.upper[k], "step {k}");
            assert_eq!(a.mean[k], b.mean[k]);
        }
        // An average with a second model: the mean is the average, the interval moves with it.
        let other = fit(&y, &fixed(Trend::None, Seasonality::Additive, 24)).unwrap();
        let mut combo = bare.clone();
        combo.members = vec![other.clone()];
        let (c, o) = (combo.forecast(30, 0.9).unwrap(), other.forecast(30, 0.9).unwrap());
        for k in 0..30 {
            let mean = (b.mean[k] + o.mean[k]) / 2.0;
            assert!((c.mean[k] - mean).abs() < 1e-9, "step {k}");
            let shift = c.mean[k] - b.mean[k];
            assert!((c.upper[k] - b.upper[k] - shift).abs() < 1e-9, "step {k}");
        }
        let short = fit(&y[..60], &auto).unwrap();
        assert!(short.interval_calibration().is_none());
        assert!(short.fallback().is_none(), "{:?}", short.fallback());
    }
}
