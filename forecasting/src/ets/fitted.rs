//! The result of a fit: [`FittedModel`] with its accessors, built from a raw fit by [`finish`]
//! (fitted values, AICc, residual variance), and [`Fallback`], why it is simpler than asked.
//! Forecasting lives in `forecast`, the choice among fits in `fit` and `select`.

use super::calibration::IntervalCalibration;
use super::model::{ModelSpec, P, Params, RawFit, Seasonality, State, Trend};
use super::profile::LongSeason;
use super::recursion::{linear_sd, step};

/// Why the returned model is simpler than the one requested.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    /// The model that was asked for.
    pub requested: ModelSpec,
    /// Why it (and any intermediate model) could not be used.
    pub reason: String,
}

/// A fitted model: parameters, states, goodness of fit; forecasts with [`FittedModel::forecast`].
#[derive(Debug, Clone)]
pub struct FittedModel {
    pub(super) spec: ModelSpec,
    pub(super) period: usize,
    pub(super) p: P,
    pub(super) scale: f64,
    pub(super) init: State,
    pub(super) last: State,
    sse: f64,
    n_obs: usize,
    n_params: usize,
    pub(super) sigma2: f64,
    pub(super) aicc: f64,
    pub(super) fitted: Vec<f64>,
    pub(super) fallback: Option<Fallback>,
    pub(super) calibration: Option<IntervalCalibration>,
    /// Models whose point forecasts are averaged with this one's (fitted on the same data).
    pub(super) members: Vec<FittedModel>,
    /// A longer seasonal profile removed before fitting, added back to the forecasts.
    pub(super) long: Option<LongSeason>,
}

/// The model of `raw` on `y_norm` (the data after `lead` missing points, divided by `scale`).
pub(super) fn finish(
    y_norm: &[f64],
    lead: usize,
    scale: f64,
    spec: ModelSpec,
    period: usize,
    raw: RawFit,
) -> FittedModel {
    let mut st = raw.init.clone();
    let mut fitted = vec![f64::NAN; lead];
    fitted.reserve(y_norm.len());
    for &v in y_norm {
        let (f, _) = step(spec, &raw.p, &mut st, v);
        fitted.push(f * scale);
    }
    let n_obs = y_norm.iter().filter(|v| v.is_finite()).count();
    let m = if spec.is_seasonal() { period } else { 1 };
    let n_init = 1 + usize::from(spec.has_trend()) + if spec.is_seasonal() { m - 1 } else { 0 };
    let n_params = spec.n_smoothing() + n_init + 1;
    let nf = n_obs as f64;
    let k = n_params as f64;
    let aic = nf * ((raw.sse / nf).ln() + (std::f64::consts::TAU).ln() + 1.0) + 2.0 * k;
    let aicc = if nf - k - 1.0 > 0.0 {
        aic + 2.0 * k * (k + 1.0) / (nf - k - 1.0)
    } else {
        f64::INFINITY
    };
    // Residual variance with the estimated quantities' degrees of freedom taken out.
    let n_est = spec.n_smoothing() + 1 + usize::from(spec.has_trend()) + if spec.is_seasonal() { m - 1 } else { 0 };
    let dof = if n_obs > n_est + 1 { n_obs - n_est } else { n_obs.max(1) };
    FittedModel {
        spec,
        period: m,
        p: raw.p,
        scale,
        init: raw.init,
        last: st,
        sse: raw.sse,
        n_obs,
        n_params,
        sigma2: raw.sse / dof as f64,
        aicc,
        fitted,
        fallback: None,
        calibration: None,
        members: Vec::new(),
        long: None,
    }
}

impl FittedModel {
    /// The fitted variant.
    pub fn spec(&self) -> ModelSpec {
        self.spec
    }

    /// Seasonal period used (1 for non-seasonal models).
    pub fn period(&self) -> usize {
        self.period
    }

    /// The second, longer seasonal period, when the automatic choice found one worth modelling
    /// (a multiple of [`FittedModel::period`], e.g. 336 on half-hourly data with 48): its profile
    /// was removed before fitting this model and is added back to forecasts, fitted values and
    /// intervals. The parameters, states, [`FittedModel::sse`] and [`FittedModel::aicc`] are
    /// those of the model of the series without it.
    pub fn long_season(&self) -> Option<usize> {
        self.long.as_ref().map(|l| l.period)
    }

    /// Smoothing parameters.
    pub fn params(&self) -> Params {
        Params {
            alpha: self.p.alpha,
            beta: self.spec.has_trend().then_some(self.p.beta),
            gamma: self.spec.is_seasonal().then_some(self.p.gamma),
            phi: (self.spec.trend == Trend::Damped).then_some(self.p.phi),
        }
    }

    /// Initial level, in the data's units.
    pub fn initial_level(&self) -> f64 {
        self.init.level * self.scale
    }

    /// Initial trend per step, in the data's units (0 without trend).
    pub fn initial_trend(&self) -> f64 {
        self.init.trend * self.scale
    }

    /// Initial seasonal states for phases 0..m (additive: data units; multiplicative: factors).
    pub fn initial_season(&self) -> Vec<f64> {
        match self.spec.seasonality {
            Seasonality::Additive => self.init.season.iter().map(|v| v * self.scale).collect(),
            _ => self.init.season.clone(),
        }
    }

    /// Sum of squared one-step-ahead errors over the observed points, in the data's units (the
    /// first error after a gap is divided by its multi-step variance factor, as in the fit).
    pub fn sse(&self) -> f64 {
        self.sse * self.scale * self.scale
    }

    /// Number of observed points the model was fitted on.
    pub fn n_obs(&self) -> usize {
        self.n_obs
    }

    /// Number of estimated quantities counted by the information criterion (smoothing
    /// parameters, initial states, error variance).
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Corrected Akaike information criterion (Gaussian likelihood at the fitted variance).
    pub fn aicc(&self) -> f64 {
        self.aicc
    }

    /// Standard deviation of the one-step-ahead error, in the data's units.
    pub fn sigma(&self) -> f64 {
        self.sigma2.sqrt() * self.scale
    }

    /// One-step-ahead fitted values aligned with the input (NaN before the first observation).
    pub fn fitted(&self) -> &[f64] {
        &self.fitted
    }

    /// One-step-ahead residuals `y - fitted` aligned with `values` (NaN where missing).
    pub fn residuals(&self, values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .zip(self.fitted.iter().chain(std::iter::repeat(&f64::NAN)))
            .map(|(y, f)| if y.is_finite() { y - f } else { f64::NAN })
            .collect()
    }

    /// Carries the state over `values`, the grid points that follow the last one the model has
    /// seen (NaN for gaps), without refitting: the parameters, season and interval widths stay,
    /// and the next forecast starts after these points. This is what a caller keeping a model
    /// between evaluations does with the new points, refitting only now and then. Returns the sum
    /// of the squared one-step-ahead errors of the observed points, in the data's units, and
    /// their count: far above [`FittedModel::sigma`] squared on average, the series has changed
    /// and a refit is due.
    pub fn update(&mut self, values: &[f64]) -> (f64, usize) {
        if let Some(mut long) = self.long.take() {
            let rest = long.take(values, self.scale);
            let out = self.update(&rest);
            self.long = Some(long);
            return out;
        }
        let (mut sq, mut n) = (0.0, 0);
        for &v in values {
            let y = v / self.scale;
            let y = if y.is_finite() { y } else { f64::NAN };
            let (f, _) = step(self.spec, &self.p, &mut self.last, y);
            if y.is_finite() && f.is_finite() {
                let e = (y - f) * self.scale;
                sq += e * e;
                n += 1;
            }
        }
        for m in &mut self.members {
            m.update(values);
        }
        (sq, n)
    }

    /// Drops the fitted values and the initial season ([`FittedModel::fitted`],
    /// [`FittedModel::residuals`] and [`FittedModel::initial_season`] then see none), keeping
    /// what forecasting and [`FittedModel::update`] need: a model kept between evaluations holds
    /// its parameters and current states only (a few numbers plus one season).
    pub fn discard_fitted(&mut self) {
        self.fitted = Vec::new();
        self.init.season = Vec::new();
        for m in &mut self.members {
            m.discard_fitted();
        }
    }

    /// Set when the requested model could not be used and a simpler one was fitted instead.
    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }

    /// The empirical interval calibration, when the model was chosen by
    /// [`ModelChoice::Auto`](super::ModelChoice::Auto) on a
    /// series long enough to backtest: its intervals are the empirical quantile of rolling-origin
    /// forecast errors (scaled by the model's standard deviation per horizon), not the model's own.
    pub fn interval_calibration(&self) -> Option<&IntervalCalibration> {
        self.calibration.as_ref()
    }

    pub(crate) fn internals(&self) -> (ModelSpec, P, f64, f64) {
        (self.spec, self.p, self.scale, self.sigma2)
    }

    pub(crate) fn last_state(&self) -> &State {
        &self.last
    }

    /// Standard deviation of the 1..=`horizon`-step errors in normalised units (see [`linear_sd`]).
    pub(super) fn error_sd(&self, horizon: usize) -> Vec<f64> {
        linear_sd(self.spec, &self.p, self.period, self.sigma2.sqrt(), horizon)
    }
}
