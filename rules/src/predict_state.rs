//! What a predictive rule keeps between evaluations, per series: the fitted forecast model
//! (parameters, season and current state, without its fitted values) or the streaming anomaly
//! detector, and up to which grid point each has seen. An evaluation then reads only the grid
//! points since the last one and carries each model over them; a model is fitted again on the
//! whole history when its refit time comes (staggered per series), when its one-step errors
//! since the fit have grown well past the fitted error, or when the series is new. A series
//! without a model first gets a quick one (one fixed variant, no model selection or backtest:
//! tens of times cheaper), so a cold start predicts from the first evaluation; its full fit is
//! due from the next one. Fits have a time budget per evaluation (half the group's interval):
//! series past it wait for the next evaluation with the model they have, so a cold start over
//! many series spreads its full fits over a few intervals instead of overrunning one.
//!
//! The state is keyed by the rule's block and grid step: an edited rule or another interval
//! starts afresh. It holds at most [`MAX_CACHED_SERIES`] series; a series absent from the whole
//! history window is dropped.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use foresight_forecasting::{FittedModel, RobustDetector, RobustScore};
use foresight_promql::Labels;

/// Most series whose model one rule keeps; past it, the others are fitted at every evaluation.
pub const MAX_CACHED_SERIES: usize = 10_000;

/// Mean squared one-step error since the fit, over this many times the fitted variance, makes
/// a refit due (a changed series), once at least [`CHANGE_MIN_POINTS`] points were seen.
const CHANGE_RATIO: f64 = 4.0;
const CHANGE_MIN_POINTS: usize = 10;

/// When fits may start in one evaluation of a group: a series' first model (or detector) until
/// half the interval from the group's start, a refit of a series that has a model only until a
/// quarter of it, so a backlog of refits in one rule (after a cold start) does not keep the next
/// predictive rule of the group from starting its first models.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FitDeadline {
    first: Instant,
    refit: Instant,
}

impl FitDeadline {
    pub(crate) fn new(interval: Duration) -> Self {
        let now = Instant::now();
        Self {
            first: now + interval / 2,
            refit: now + interval / 4,
        }
    }

    /// Whether a fit may start now, for a series that has a model or not.
    pub(crate) fn open(&self, has_model: bool) -> bool {
        Instant::now() < if has_model { self.refit } else { self.first }
    }
}

/// A forecast model and what decides its next refit.
#[derive(Debug, Clone)]
pub(crate) struct ModelEntry {
    pub model: FittedModel,
    /// Grid time from which a refit is due.
    pub refit_at: i64,
    /// Squared one-step errors since the fit, and their count.
    pub sq: f64,
    pub n: usize,
}

impl ModelEntry {
    pub(crate) fn new(mut model: FittedModel, labels: &Labels, fitted_at: i64, refit_ms: i64) -> Self {
        model.discard_fitted();
        // Between half and all of `refit` after the fit, by the series' labels: refits of series
        // fitted together drift apart.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        labels.hash(&mut h);
        let half = (refit_ms / 2).max(1);
        let jitter = i64::try_from(h.finish() % half.unsigned_abs()).unwrap_or(0);
        Self {
            model,
            refit_at: fitted_at.saturating_add(half).saturating_add(jitter),
            sq: 0.0,
            n: 0,
        }
    }

    /// A quick model fitted at grid time `fitted_at` for a series that had none: due for its
    /// full fit from the next evaluation on.
    pub(crate) fn provisional(mut model: FittedModel, fitted_at: i64) -> Self {
        model.discard_fitted();
        Self {
            model,
            refit_at: fitted_at.saturating_add(1),
            sq: 0.0,
            n: 0,
        }
    }

    /// Carries the model over `values` (the grid points after the last it saw).
    pub(crate) fn update(&mut self, values: &[f64]) {
        let (sq, n) = self.model.update(values);
        self.sq += sq;
        self.n += n;
    }

    /// Whether it must be fitted again at grid time `end`.
    pub(crate) fn due(&self, end: i64) -> bool {
        if end >= self.refit_at {
            return true;
        }
        let sigma2 = self.model.sigma().powi(2);
        self.n >= CHANGE_MIN_POINTS && self.sq / self.n as f64 > CHANGE_RATIO * sigma2.max(f64::MIN_POSITIVE)
    }
}

/// A streaming anomaly detector and the score of the last grid point it was fed.
#[derive(Debug, Clone)]
pub(crate) struct DetectorEntry {
    pub detector: RobustDetector,
    pub last: Option<RobustScore>,
}

/// One series' kept state.
#[derive(Debug, Clone)]
pub(crate) enum Kept {
    Model(Box<ModelEntry>),
    Detector(Box<DetectorEntry>),
}

/// One series' kept state and how far it has seen.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The last grid time carried over.
    pub until: i64,
    /// The last grid time with a value.
    pub last_seen: i64,
    pub kept: Kept,
}

/// Counts of what evaluations did, for reports and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PredictCounts {
    /// Models fitted (or detectors started) on the whole history.
    pub fits: u64,
    /// Quick models fitted for series that had none (a fixed damped-trend, additive-season
    /// ETS), replaced by a full fit as the time budget allows.
    pub quick_fits: u64,
    /// Series carried over their new points only.
    pub updates: u64,
    /// Fits put off to a later evaluation by the time budget.
    pub deferred: u64,
    /// Series kept now.
    pub kept: usize,
}

/// A predictive rule's state between evaluations.
#[derive(Clone, Default)]
pub(crate) struct PredictState {
    /// The rule's block (its `Debug` text, every field of it) and grid step the state is for.
    key: Option<(String, i64)>,
    /// The grid end of the last evaluation.
    end: Option<i64>,
    pub series: HashMap<Labels, Entry>,
    pub counts: PredictCounts,
}

impl std::fmt::Debug for PredictState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictState")
            .field("end", &self.end)
            .field("series", &self.series.len())
            .field("counts", &self.counts)
            .finish()
    }
}

impl PredictState {
    /// Readies the state for an evaluation of the rule block `predictor` (its `Debug` text) on
    /// grid `step` ending at `end`: a
    /// different rule or step, or time going back, clears it. Returns the grid time after which
    /// every kept series needs its points (`None`: read the whole history).
    pub(crate) fn begin(&mut self, predictor: &str, step: i64, start: i64, end: i64) -> Option<i64> {
        let same = self.key.as_ref().is_some_and(|(p, s)| p == predictor && *s == step);
        if !same || self.end.is_some_and(|e| e > end) {
            self.series.clear();
            self.key = Some((predictor.to_owned(), step));
            self.end = None;
        }
        self.series.retain(|_, e| e.last_seen >= start);
        self.end = Some(end);
        let since = self.series.values().map(|e| e.until).min()?;
        (since >= start).then_some(since)
    }

    /// Keeps `entry` for `labels` unless the state is full.
    pub(crate) fn keep(&mut self, labels: Labels, entry: Entry) {
        if self.series.len() < MAX_CACHED_SERIES || self.series.contains_key(&labels) {
            self.series.insert(labels, entry);
        }
    }

    pub(crate) fn counts(&self) -> PredictCounts {
        PredictCounts {
            kept: self.series.len(),
            ..self.counts
        }
    }
}
