//! The state recursion: one filter step in error-correction form ([`step`]), the weight of the
//! first error after a gap, the one-step squared-error sum every fit minimises, and the h-step
//! error standard deviation that follows from the same smoothing coefficients. Everything that
//! runs the filter (initial states, fitting, backtests, forecasts) goes through here.

use super::model::{ModelSpec, P, Seasonality, State};

/// Forecast for the next point and the pieces the update needs.
#[inline(always)]
pub(super) fn predict(spec: ModelSpec, p: &P, st: &State) -> (f64, f64, f64, usize) {
    let trend = if spec.has_trend() { p.phi * st.trend } else { 0.0 };
    let base = st.level + trend;
    let idx = st.phase;
    match spec.seasonality {
        Seasonality::None => (base, base, 0.0, idx),
        Seasonality::Additive => {
            let s = st.season.get(idx).copied().unwrap_or(0.0);
            (base + s, base, s, idx)
        }
        Seasonality::Multiplicative => {
            let s = st.season.get(idx).copied().unwrap_or(1.0);
            (base * s, base, s, idx)
        }
    }
}

/// One filter step; `y` not finite = missing (state carried forward). Returns (forecast, error),
/// the error being NaN for a missing point.
#[inline(always)]
pub(crate) fn step(spec: ModelSpec, p: &P, st: &mut State, y: f64) -> (f64, f64) {
    let (f, base, s, idx) = predict(spec, p, st);
    let trend = if spec.has_trend() { p.phi * st.trend } else { 0.0 };
    st.phase += 1;
    if st.phase >= st.season.len() {
        st.phase = 0;
    }
    if !y.is_finite() {
        st.level = base;
        st.trend = trend;
        return (f, f64::NAN);
    }
    match spec.seasonality {
        Seasonality::None | Seasonality::Additive => {
            // Written so the loop-carried chain (level/trend -> base -> next level/trend) is two
            // operations long: `ys` and the `* ys` terms do not depend on the previous state.
            // Same values as `base + alpha e` and `trend + beta e` with `e = ys - base`.
            let ys = y - s;
            let e = ys - base;
            st.level = (1.0 - p.alpha) * base + p.alpha * ys;
            st.trend = (trend + p.beta * ys) - p.beta * base;
            if let Some(v) = st.season.get_mut(idx) {
                *v = s + p.gamma * e;
            }
            return (f, e);
        }
        Seasonality::Multiplicative => {}
    }
    let e = y - f;
    match spec.seasonality {
        Seasonality::None | Seasonality::Additive => {}
        Seasonality::Multiplicative => {
            st.level = base + p.alpha * e / s;
            st.trend = trend + p.beta * e / s;
            if let Some(v) = st.season.get_mut(idx) {
                *v = s + p.gamma * e / base;
            }
        }
    }
    (f, e)
}

/// Weight of the error that follows a gap. After g missing points the "one-step" error is really
/// a (g+1)-step error, of variance `sigma^2 (1 + sum_{j<=g} c_j^2)`; dividing by that factor (as
/// a Kalman likelihood would) keeps the first points after a long gap from dominating the fit.
#[derive(Debug, Clone, Copy)]
pub(super) struct GapWeight {
    j: usize,
    phi_pow: f64,
    phi_j: f64,
    acc: f64,
}

impl GapWeight {
    pub(super) fn new() -> Self {
        Self {
            j: 0,
            phi_pow: 1.0,
            phi_j: 0.0,
            acc: 0.0,
        }
    }

    #[inline(always)]
    pub(super) fn missing(&mut self, spec: ModelSpec, p: &P, m: usize) {
        self.j += 1;
        self.phi_pow *= p.phi;
        self.phi_j += self.phi_pow;
        let mut c = p.alpha;
        if spec.has_trend() {
            c += p.beta * self.phi_j;
        }
        if spec.is_seasonal() && m > 0 && self.j.is_multiple_of(m) {
            c += p.gamma;
        }
        self.acc += c * c;
    }

    /// Weight of the current (observed) point's squared error; resets the gap.
    #[inline(always)]
    pub(super) fn observed(&mut self) -> f64 {
        if self.j == 0 {
            return 1.0;
        }
        let w = 1.0 / (1.0 + self.acc);
        *self = Self::new();
        w
    }
}

/// Sum of squared one-step errors from `init` (gap-weighted, see [`GapWeight`]); infinite if the
/// filter blows up.
pub(super) fn sse(spec: ModelSpec, p: &P, y: &[f64], init: &State) -> f64 {
    let mut st = init.clone();
    let mut acc = 0.0;
    let mut gw = GapWeight::new();
    let m = init.season.len();
    for &v in y {
        let (_, e) = step(spec, p, &mut st, v);
        if e.is_finite() {
            acc += gw.observed() * e * e;
        } else if v.is_finite() {
            return f64::INFINITY;
        } else {
            gw.missing(spec, p, m);
        }
    }
    if acc.is_finite() { acc } else { f64::INFINITY }
}

/// Standard deviation of the 1..=`horizon`-step errors by the linear formula
/// `sigma sqrt(1 + sum_{j<h} c_j^2)`, `c_j = alpha + beta phi_j + gamma [j mod m = 0]` (exact for
/// the linear models, a first-order guide for the multiplicative season).
pub(super) fn linear_sd(spec: ModelSpec, p: &P, period: usize, sigma: f64, horizon: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(horizon);
    let (mut sum_c2, mut phi_j, mut phi_pow) = (0.0f64, 0.0f64, 1.0f64);
    for j in 1..=horizon {
        out.push(sigma * (1.0 + sum_c2).sqrt());
        phi_pow *= p.phi;
        phi_j += phi_pow;
        let seasonal_hit = spec.is_seasonal() && j % period.max(1) == 0;
        let c =
            p.alpha + if spec.has_trend() { p.beta * phi_j } else { 0.0 } + if seasonal_hit { p.gamma } else { 0.0 };
        sum_c2 += c * c;
    }
    out
}
