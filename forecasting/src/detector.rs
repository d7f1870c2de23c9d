//! Online anomaly scoring: every score uses only the data before the point.

use std::collections::VecDeque;

use crate::clock::GridClock;
use crate::error::{ForecastError, Result};
use crate::ets::{FitOptions, FittedModel, ModelChoice, Season, State, fit_one_season, step};
use crate::features::{N_FEATURES, feature_row};
use crate::iforest::{IsolationForest, IsolationForestConfig};
use crate::math::normal_quantile;
use crate::season::detect_season;

/// Options of a [`Detector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Seasonal period, given or detected at each refit.
    pub season: Season,
    /// Model variant, or `Auto`: chosen by AICc at the first fit, every 8th refit and whenever
    /// the period changes.
    pub model: ModelChoice,
    /// Coverage of the prediction interval the residual is measured against (default 0.99).
    pub level: f64,
    /// Refit the model (and the forest) after this many new points; `None`: every season, at
    /// least every 100 points.
    pub refit_every: Option<usize>,
    /// Points needed before the first fit; `None`: three seasons for a given period, else 100.
    pub warmup: Option<usize>,
    /// Most recent points kept for refits (default 4,032: two weeks of 5-minute data).
    pub max_history: usize,
    /// Rolling window of the features (default 12).
    pub window: usize,
    /// The isolation-forest detector; `None` turns it off (residual detector only).
    pub iforest: Option<IsolationForestConfig>,
    /// Combined score at or above which a point is flagged (default 0.6).
    pub threshold: f64,
    /// Consecutive same-side points outside the interval after which the detector accepts a
    /// level shift as the new normal (default 5).
    pub shift_run: usize,
    /// Expected spacing of timestamps; `None`: the smallest positive spacing seen. Points missing
    /// from the grid are treated as gaps.
    pub step: Option<i64>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            season: Season::Auto,
            model: ModelChoice::Auto,
            level: 0.99,
            refit_every: None,
            warmup: None,
            max_history: 4032,
            window: 12,
            iforest: Some(IsolationForestConfig::default()),
            threshold: 0.6,
            shift_run: 5,
            step: None,
        }
    }
}

/// The score of one point, computed before the point was learnt from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyScore {
    /// Timestamp passed to [`Detector::push`].
    pub timestamp: i64,
    /// The observed value.
    pub value: f64,
    /// One-step-ahead forecast made before seeing the value.
    pub expected: f64,
    /// Lower bound of the prediction interval.
    pub lower: f64,
    /// Upper bound of the prediction interval.
    pub upper: f64,
    /// `|value - expected|` over the interval's half-width: above 1 is outside the interval.
    pub residual_score: f64,
    /// Isolation-forest score of the point's features, in (0, 1] (when enabled).
    pub iforest_score: Option<f64>,
    /// Combined score in [0, 1]: the mean of `r / (1 + r)` (r = `residual_score`, 0.5 on the
    /// interval's edge) and the forest score, or the former alone without a forest.
    pub score: f64,
    /// `score >= threshold`.
    pub is_anomaly: bool,
}

/// Streaming detector: [`Detector::push`] one point at a time.
///
/// Each point is scored against the model fitted on earlier points only, then learnt from:
/// the Holt-Winters state is updated with the point clipped to the interval (so a spike does not
/// drag the forecast), and the model and forest are refitted on a schedule over a bounded
/// history in which clipped values replace the outliers. A run of `shift_run` points outside the
/// interval on the same side is taken as a level shift: the state jumps to it and the raw values
/// are kept. Identical input gives identical output (the forest is seeded).
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    z: f64,
    raw: VecDeque<f64>,
    clean: VecDeque<f64>,
    model: Option<FittedModel>,
    state: Option<State>,
    forest: Option<IsolationForest>,
    since_fit: usize,
    clock: GridClock,
    run_len: usize,
    run_excess: f64,
    fits: u64,
}

impl Detector {
    /// A detector with `config`.
    ///
    /// # Errors
    /// [`ForecastError::InvalidParameter`] for a level outside (0, 1), a zero window, refit
    /// interval or history, or a non-positive step.
    pub fn new(config: DetectorConfig) -> Result<Self> {
        let bad = |name, reason: &str| {
            Err(ForecastError::InvalidParameter {
                name,
                reason: reason.into(),
            })
        };
        if !(config.level > 0.0 && config.level < 1.0) {
            return bad("level", "must be in (0, 1)");
        }
        if config.window == 0 || config.max_history < 3 || config.refit_every == Some(0) {
            return bad(
                "config",
                "window and refit_every must be positive, max_history at least 3",
            );
        }
        if config.step.is_some_and(|s| s <= 0) {
            return bad("step", "must be positive");
        }
        if !config.threshold.is_finite() {
            return bad("threshold", "must be finite");
        }
        Ok(Self {
            config,
            z: normal_quantile(0.5 + config.level / 2.0),
            raw: VecDeque::new(),
            clean: VecDeque::new(),
            model: None,
            state: None,
            forest: None,
            since_fit: 0,
            clock: GridClock::new(config.step),
            run_len: 0,
            run_excess: 0.0,
            fits: 0,
        })
    }

    /// The model currently used for scoring, once warmed up.
    pub fn model(&self) -> Option<&FittedModel> {
        self.model.as_ref()
    }

    fn warmup(&self) -> usize {
        let w = match self.config.warmup {
            Some(w) => w,
            None => match self.config.season {
                Season::Period(m) if m >= 2 => 3 * m,
                _ => 100,
            },
        };
        w.clamp(3, self.config.max_history)
    }

    fn refit_every(&self) -> usize {
        self.config
            .refit_every
            .unwrap_or_else(|| self.model.as_ref().map_or(100, |m| m.period().max(100)))
    }

    fn remember(&mut self, raw: f64, clean: f64) {
        self.raw.push_back(raw);
        self.clean.push_back(clean);
        while self.raw.len() > self.config.max_history {
            self.raw.pop_front();
            self.clean.pop_front();
        }
    }

    fn refit(&mut self) {
        self.since_fit = 0;
        let clean: Vec<f64> = self.clean.iter().copied().collect();
        // The period is settled here (detected on the history when automatic) so that a change
        // of period re-runs the model selection.
        let season = match self.config.season {
            Season::Auto => detect_season(&clean, None).map_or(Season::None, Season::Period),
            s => s,
        };
        let period = match season {
            Season::Period(m) => m.max(1),
            _ => 1,
        };
        // Auto selection fits every variant: do it on the first fit, every 8th refit and when the
        // period changed, and refit the chosen variant in between.
        let model_choice = match (&self.model, self.config.model) {
            (Some(m), ModelChoice::Auto) if !self.fits.is_multiple_of(8) && m.period() == period => {
                ModelChoice::Fixed(m.spec())
            }
            (_, choice) => choice,
        };
        let options = FitOptions {
            model: model_choice,
            season,
            max_evaluations: 600,
        };
        let Ok(model) = fit_one_season(&clean, &options) else {
            return; // keep the previous model (or none) until there is enough data
        };
        self.state = Some(model.last_state().clone());
        self.fits += 1;
        if let Some(cfg) = self.config.iforest {
            let raw: Vec<f64> = self.raw.iter().copied().collect();
            let w = self.config.window;
            let mut rows: Vec<f64> = Vec::with_capacity(raw.len() * N_FEATURES);
            for (t, (&v, &f)) in raw.iter().zip(model.fitted()).enumerate() {
                if t < w || !v.is_finite() {
                    continue; // rows without a full window look unlike the ones scored later
                }
                rows.extend_from_slice(&feature_row(&raw[t + 1 - w..t], v, v - f));
            }
            self.forest = IsolationForest::fit(&rows, N_FEATURES, &cfg).ok();
        }
        self.model = Some(model);
    }

    /// Learns a missing point: the state is carried forward.
    fn gap(&mut self) {
        if let (Some(model), Some(st)) = (&self.model, &mut self.state) {
            let (spec, p, _, _) = model.internals();
            step(spec, &p, st, f64::NAN);
        }
        self.remember(f64::NAN, f64::NAN);
        self.since_fit += 1;
    }

    /// Scores `value` at `timestamp` (milliseconds, increasing) using only earlier points, then
    /// learns from it.
    ///
    /// Returns `None` while warming up, for a missing value (NaN or infinite) and for a timestamp
    /// not after the previous one (ignored). Timestamps skipping grid steps are treated as gaps.
    pub fn push(&mut self, timestamp: i64, value: f64) -> Option<AnomalyScore> {
        let missing = self.clock.advance(timestamp, self.config.max_history)?;
        for _ in 0..missing {
            self.gap();
        }
        if !value.is_finite() {
            self.gap();
            return None;
        }
        let out = self.score_and_learn(timestamp, value);
        self.since_fit += 1;
        let due = match &self.model {
            None => self.raw.len() >= self.warmup() && self.since_fit >= self.warmup().min(10),
            Some(_) => self.since_fit >= self.refit_every(),
        };
        if due {
            self.refit();
        }
        out
    }

    fn score_and_learn(&mut self, timestamp: i64, value: f64) -> Option<AnomalyScore> {
        let (Some(model), Some(st)) = (&self.model, &mut self.state) else {
            self.remember(value, value);
            return None;
        };
        let (spec, p, scale, sigma2) = model.internals();
        let mut probe = st.clone();
        let (f, _) = step(spec, &p, &mut probe, f64::NAN);
        let expected = f * scale;
        let sd = sigma2.sqrt() * scale;
        let half = self.z * sd;
        let err = value - expected;
        let residual_score = if half > 0.0 {
            err.abs() / half
        } else if err == 0.0 {
            0.0
        } else {
            f64::MAX
        };
        let iforest_score = self.forest.as_ref().map(|forest| {
            let w = self.config.window;
            let n = self.raw.len();
            let window: Vec<f64> = self.raw.iter().skip(n.saturating_sub(w - 1)).copied().collect();
            forest.score(&feature_row(&window, value, err))
        });
        // inf / inf (astronomic values) says nothing: score it as unremarkable.
        let residual_score = if residual_score.is_nan() { 0.0 } else { residual_score };
        let r = residual_score.min(1e12);
        let p_r = r / (1.0 + r);
        let score = match iforest_score {
            Some(s) if s.is_finite() => 0.5 * (p_r + s),
            _ => p_r,
        };
        // Learn: clip the error to the interval so one spike barely moves the state.
        let tiny = 1e-12 * scale.max(f64::MIN_POSITIVE);
        let limit = half.max(tiny);
        let clipped = err.clamp(-limit, limit);
        let outside = err.abs() > limit;
        let mut clean_value = expected + clipped;
        if outside && self.run_len > 0 && self.run_excess.signum() != err.signum() {
            self.run_len = 0;
            self.run_excess = 0.0;
        }
        if outside {
            self.run_len += 1;
            self.run_excess += err - clipped;
        } else {
            self.run_len = 0;
            self.run_excess = 0.0;
        }
        step(spec, &p, st, clean_value / scale);
        if self.run_len >= self.config.shift_run.max(1) {
            // A persistent shift: move the level by the mean excess and keep the raw values.
            let shift = self.run_excess / self.run_len as f64 / scale;
            st.level += match spec.seasonality {
                crate::Seasonality::Multiplicative => {
                    let m = st.season.len().max(1);
                    let s = st.season.iter().sum::<f64>() / m as f64;
                    if s > 0.0 { shift / s } else { shift }
                }
                _ => shift,
            };
            let n = self.clean.len();
            let back = (self.run_len - 1).min(n);
            for i in n - back..n {
                let raw = self.raw.get(i).copied().unwrap_or(f64::NAN);
                if let Some(c) = self.clean.get_mut(i) {
                    *c = raw;
                }
            }
            clean_value = value;
            self.run_len = 0;
            self.run_excess = 0.0;
            self.since_fit = self.since_fit.max(self.refit_every().saturating_sub(1));
        }
        self.remember(value, clean_value);
        Some(AnomalyScore {
            timestamp,
            value,
            expected,
            lower: expected - half,
            upper: expected + half,
            residual_score,
            iforest_score,
            score,
            is_anomaly: score >= self.config.threshold,
        })
    }
}

/// Scores a whole series as a [`Detector`] would as it streams in: entry `i` is the score of
/// point `i` from the points before it (`None` while warming up or for a missing value).
///
/// # Errors
/// [`ForecastError::InvalidParameter`] for mismatched lengths or a bad configuration.
pub fn score_series(timestamps: &[i64], values: &[f64], config: &DetectorConfig) -> Result<Vec<Option<AnomalyScore>>> {
    same_length(timestamps, values)?;
    let mut d = Detector::new(*config)?;
    Ok(timestamps.iter().zip(values).map(|(&t, &v)| d.push(t, v)).collect())
}

/// An error unless there is one timestamp per value.
pub(crate) fn same_length(timestamps: &[i64], values: &[f64]) -> Result<()> {
    if timestamps.len() != values.len() {
        return Err(ForecastError::InvalidParameter {
            name: "timestamps",
            reason: format!("{} timestamps for {} values", timestamps.len(), values.len()),
        });
    }
    Ok(())
}
