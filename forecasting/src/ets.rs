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

use std::fmt;

use crate::error::{ForecastError, Result};
use crate::math::{normal_quantile, solve_spd};
use crate::optim::{NmOptions, minimize_unit_box};
use crate::rng::SplitMix64;
use crate::season::{MIN_STRENGTH, centred_ma, detect_season, fill_gaps, seasonal_strength};

/// Trend component of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trend {
    /// No trend: the level alone carries forward.
    None,
    /// Additive (linear) trend.
    Additive,
    /// Additive trend damped by `phi` in [0.8, 0.98]: forecasts flatten out.
    Damped,
}

/// Seasonal component of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seasonality {
    /// No seasonal component.
    None,
    /// Seasonal effects added to the level.
    Additive,
    /// Seasonal effects multiplying the level (needs strictly positive data).
    Multiplicative,
}

/// One ETS model variant (the error is always additive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    /// Trend component.
    pub trend: Trend,
    /// Seasonal component.
    pub seasonality: Seasonality,
}

impl ModelSpec {
    /// A model from its two components.
    pub const fn new(trend: Trend, seasonality: Seasonality) -> Self {
        Self { trend, seasonality }
    }

    /// Simple exponential smoothing, ETS(A,N,N).
    pub const SIMPLE: Self = Self::new(Trend::None, Seasonality::None);

    fn has_trend(self) -> bool {
        self.trend != Trend::None
    }

    fn is_seasonal(self) -> bool {
        self.seasonality != Seasonality::None
    }

    fn is_linear(self) -> bool {
        self.seasonality != Seasonality::Multiplicative
    }

    fn n_smoothing(self) -> usize {
        1 + usize::from(self.has_trend()) + usize::from(self.is_seasonal()) + usize::from(self.trend == Trend::Damped)
    }

    /// The next simpler model tried when a fit fails.
    fn simpler(self) -> Option<Self> {
        use Seasonality as S;
        use Trend as T;
        match (self.trend, self.seasonality) {
            (t, S::Multiplicative) => Some(Self::new(t, S::Additive)),
            (T::Damped, s) => Some(Self::new(T::Additive, s)),
            (t, S::Additive) => Some(Self::new(t, S::None)),
            (T::Additive, S::None) => Some(Self::SIMPLE),
            (T::None, S::None) => None,
        }
    }

    fn all() -> [Self; 9] {
        use Seasonality as S;
        use Trend as T;
        let mut out = [Self::SIMPLE; 9];
        let mut i = 0;
        for s in [S::None, S::Additive, S::Multiplicative] {
            for t in [T::None, T::Additive, T::Damped] {
                out[i] = Self::new(t, s);
                i += 1;
            }
        }
        out
    }
}

impl fmt::Display for ModelSpec {
    /// ETS notation: `ETS(A,Ad,M)` = additive error, damped trend, multiplicative season.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.trend {
            Trend::None => "N",
            Trend::Additive => "A",
            Trend::Damped => "Ad",
        };
        let s = match self.seasonality {
            Seasonality::None => "N",
            Seasonality::Additive => "A",
            Seasonality::Multiplicative => "M",
        };
        write!(f, "ETS(A,{t},{s})")
    }
}

/// Which model(s) to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelChoice {
    /// Fit every admissible variant and keep the one with the lowest AICc (seasonal variants
    /// only when a period is given or detected).
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

/// Fitted smoothing parameters (error-correction form; `None` when the component is absent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Level smoothing, in (0, 1).
    pub alpha: f64,
    /// Trend smoothing, in [0, alpha].
    pub beta: Option<f64>,
    /// Seasonal smoothing, in [0, 1 - alpha].
    pub gamma: Option<f64>,
    /// Damping factor, in [0.8, 0.98].
    pub phi: Option<f64>,
}

/// Why the returned model is simpler than the one requested.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    /// The model that was asked for.
    pub requested: ModelSpec,
    /// Why it (and any intermediate model) could not be used.
    pub reason: String,
}

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

/// Internal parameters with absent components neutralised.
#[derive(Debug, Clone, Copy)]
pub(crate) struct P {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
}

/// Filter state in normalised units; `season[phase]` is the seasonal state used by the next point.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) level: f64,
    pub(crate) trend: f64,
    pub(crate) season: Vec<f64>,
    /// Phase of the next point, `t mod m` (kept incrementally: a division per step is costly).
    pub(crate) phase: usize,
}

impl State {
    fn zero(m: usize, seasonal: bool) -> Self {
        Self {
            level: 0.0,
            trend: 0.0,
            season: if seasonal { vec![0.0; m] } else { Vec::new() },
            phase: 0,
        }
    }

    fn add_scaled(&mut self, other: &State, c: f64) {
        self.level += c * other.level;
        self.trend += c * other.trend;
        for (a, b) in self.season.iter_mut().zip(&other.season) {
            *a += c * b;
        }
    }

    fn is_finite(&self) -> bool {
        self.level.is_finite() && self.trend.is_finite() && self.season.iter().all(|v| v.is_finite())
    }
}

/// Forecast for the next point and the pieces the update needs.
#[inline(always)]
fn predict(spec: ModelSpec, p: &P, st: &State) -> (f64, f64, f64, usize) {
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
struct GapWeight {
    j: usize,
    phi_pow: f64,
    phi_j: f64,
    acc: f64,
}

impl GapWeight {
    fn new() -> Self {
        Self {
            j: 0,
            phi_pow: 1.0,
            phi_j: 0.0,
            acc: 0.0,
        }
    }

    #[inline(always)]
    fn missing(&mut self, spec: ModelSpec, p: &P, m: usize) {
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
    fn observed(&mut self) -> f64 {
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
fn sse(spec: ModelSpec, p: &P, y: &[f64], init: &State) -> f64 {
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

/// For linear models: runs the filter from `base` plus one zero-data filter per direction, and
/// returns the least-squares shift of the initial state along those directions with the SSE it
/// reaches. Cost O(n k^2) for k directions; the per-evaluation sizes (1 or 2 directions) run a
/// fixed-size version the compiler unrolls.
fn profile_init(spec: ModelSpec, p: &P, y: &[f64], base: &State, dirs: &[State]) -> (Vec<f64>, f64) {
    match dirs {
        [a] => profile_fixed::<1>(spec, p, y, base, [a]),
        [a, b] => profile_fixed::<2>(spec, p, y, base, [a, b]),
        _ => profile_dyn(spec, p, y, base, dirs),
    }
}

fn profile_fixed<const K: usize>(
    spec: ModelSpec,
    p: &P,
    y: &[f64],
    base: &State,
    dirs: [&State; K],
) -> (Vec<f64>, f64) {
    let mut st = base.clone();
    let mut ds: [State; K] = dirs.map(State::clone);
    let mut g = [[0.0; K]; K];
    let mut h = [0.0; K];
    let mut ss = 0.0;
    let mut gw = GapWeight::new();
    let m = base.season.len();
    for &v in y {
        let (_, e0) = step(spec, p, &mut st, v);
        if v.is_finite() {
            let mut ej = [0.0; K];
            for (d, slot) in ds.iter_mut().zip(ej.iter_mut()) {
                *slot = step(spec, p, d, 0.0).1;
            }
            let w = gw.observed();
            ss += w * e0 * e0;
            for a in 0..K {
                let wa = w * ej[a];
                h[a] += wa * e0;
                for b in 0..K {
                    g[a][b] += wa * ej[b];
                }
            }
        } else {
            for d in ds.iter_mut() {
                step(spec, p, d, f64::NAN);
            }
            gw.missing(spec, p, m);
        }
    }
    let flat: Vec<f64> = g.iter().flatten().copied().collect();
    finish_profile(&flat, &h, ss, K)
}

/// Solves the profile's normal equations; `(delta, SSE at base + delta)`.
fn finish_profile(g: &[f64], h: &[f64], ss: f64, k: usize) -> (Vec<f64>, f64) {
    if !ss.is_finite() {
        return (vec![0.0; k], f64::INFINITY);
    }
    let rhs: Vec<f64> = h.iter().map(|v| -v).collect();
    match solve_spd(g, &rhs, k) {
        Some(delta) => {
            // SSE(delta) = ss + 2 delta.h + delta' G delta
            let mut q = ss;
            for a in 0..k {
                q += 2.0 * delta[a] * h[a];
                for b in 0..k {
                    q += delta[a] * g[a * k + b] * delta[b];
                }
            }
            if q.is_finite() && q <= ss {
                (delta, q.max(0.0))
            } else {
                (vec![0.0; k], ss)
            }
        }
        None => (vec![0.0; k], ss),
    }
}

/// [`profile_init`] for any number of directions.
fn profile_dyn(spec: ModelSpec, p: &P, y: &[f64], base: &State, dirs: &[State]) -> (Vec<f64>, f64) {
    let k = dirs.len();
    let mut st = base.clone();
    let mut ds: Vec<State> = dirs.to_vec();
    let mut g = vec![0.0; k * k];
    let mut h = vec![0.0; k];
    let mut ss = 0.0;
    let mut ej = vec![0.0; k];
    let mut gw = GapWeight::new();
    let m = base.season.len();
    for &v in y {
        let (_, e0) = step(spec, p, &mut st, v);
        let observed = v.is_finite();
        for (d, slot) in ds.iter_mut().zip(ej.iter_mut()) {
            let (_, e) = step(spec, p, d, if observed { 0.0 } else { f64::NAN });
            *slot = e;
        }
        if observed {
            let w = gw.observed();
            ss += w * e0 * e0;
            for a in 0..k {
                let wa = w * ej[a];
                h[a] += wa * e0;
                let row = &mut g[a * k..a * k + k];
                for b in 0..=a {
                    row[b] += wa * ej[b];
                }
            }
        } else {
            gw.missing(spec, p, m);
        }
    }
    for a in 0..k {
        for b in 0..a {
            g[b * k + a] = g[a * k + b];
        }
    }
    finish_profile(&g, &h, ss, k)
}

/// Budget of `n * k^2` for re-estimating all `k` initial states by (Gauss-Newton) least squares.
const LS_BUDGET: f64 = 6e7;

/// Initial-state shifts beyond this many per evaluation (`n * k^2`) are profiled along the
/// level and trend only.
const PER_EVAL_BUDGET: f64 = 5e4;

/// One Gauss-Newton step on the initial states of a (possibly nonlinear) model along `dirs`,
/// with forward-difference Jacobians from filters run in lockstep. Returns the step and the SSE
/// at `cur`.
fn gauss_newton_step(spec: ModelSpec, p: &P, y: &[f64], cur: &State, dirs: &[State]) -> (Option<Vec<f64>>, f64) {
    match dirs {
        [a] => gn_fixed::<1>(spec, p, y, cur, [a]),
        [a, b] => gn_fixed::<2>(spec, p, y, cur, [a, b]),
        _ => gn_dyn(spec, p, y, cur, dirs),
    }
}

/// Forward-difference step of the Gauss-Newton Jacobians (data are normalised to max |y| = 1).
const GN_H: f64 = 1e-6;

/// [`gauss_newton_step`] for the per-evaluation sizes, unrolled by the compiler.
fn gn_fixed<const K: usize>(
    spec: ModelSpec,
    p: &P,
    y: &[f64],
    cur: &State,
    dirs: [&State; K],
) -> (Option<Vec<f64>>, f64) {
    let mut st = cur.clone();
    let mut ds: [State; K] = dirs.map(|d| {
        let mut s = cur.clone();
        s.add_scaled(d, GN_H);
        s
    });
    let mut g = [[0.0; K]; K];
    let mut h = [0.0; K];
    let mut ss = 0.0;
    let mut gw = GapWeight::new();
    let m = cur.season.len();
    for &v in y {
        let (_, e0) = step(spec, p, &mut st, v);
        let mut jac = [0.0; K];
        for (d, slot) in ds.iter_mut().zip(jac.iter_mut()) {
            let (_, e) = step(spec, p, d, v);
            *slot = (e - e0) / GN_H;
        }
        if !v.is_finite() {
            gw.missing(spec, p, m);
            continue;
        }
        if !e0.is_finite() {
            return (None, f64::INFINITY);
        }
        let w = gw.observed();
        ss += w * e0 * e0;
        if jac.iter().all(|j| j.is_finite()) {
            for a in 0..K {
                let wa = w * jac[a];
                h[a] += wa * e0;
                for b in 0..K {
                    g[a][b] += wa * jac[b];
                }
            }
        }
    }
    let flat: Vec<f64> = g.iter().flatten().copied().collect();
    let rhs: Vec<f64> = h.iter().map(|v| -v).collect();
    let ss = if ss.is_finite() { ss } else { f64::INFINITY };
    (solve_spd(&flat, &rhs, K), ss)
}

/// [`gauss_newton_step`] for any number of directions.
fn gn_dyn(spec: ModelSpec, p: &P, y: &[f64], cur: &State, dirs: &[State]) -> (Option<Vec<f64>>, f64) {
    const H: f64 = GN_H;
    let k = dirs.len();
    let mut st = cur.clone();
    let mut ds: Vec<State> = dirs
        .iter()
        .map(|d| {
            let mut s = cur.clone();
            s.add_scaled(d, H);
            s
        })
        .collect();
    let mut g = vec![0.0; k * k];
    let mut h = vec![0.0; k];
    let mut jac = vec![0.0; k];
    let mut ss = 0.0;
    let mut gw = GapWeight::new();
    let m = cur.season.len();
    for &v in y {
        let (_, e0) = step(spec, p, &mut st, v);
        for (d, slot) in ds.iter_mut().zip(jac.iter_mut()) {
            let (_, e) = step(spec, p, d, v);
            *slot = (e - e0) / H;
        }
        if !v.is_finite() {
            gw.missing(spec, p, m);
            continue;
        }
        if !e0.is_finite() {
            return (None, f64::INFINITY);
        }
        let w = gw.observed();
        ss += w * e0 * e0;
        if jac.iter().all(|j| j.is_finite()) {
            for a in 0..k {
                let wa = w * jac[a];
                h[a] += wa * e0;
                for b in 0..=a {
                    g[a * k + b] += wa * jac[b];
                }
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            g[b * k + a] = g[a * k + b];
        }
    }
    let rhs: Vec<f64> = h.iter().map(|v| -v).collect();
    let ss = if ss.is_finite() { ss } else { f64::INFINITY };
    (solve_spd(&g, &rhs, k), ss)
}

/// Gauss-Newton iterations with a halving line search; never returns a worse state.
fn gauss_newton_init(spec: ModelSpec, p: &P, y: &[f64], start: &State, dirs: &[State], iters: usize) -> (State, f64) {
    let mut cur = start.clone();
    let mut f_cur = f64::INFINITY;
    for _ in 0..iters {
        let (delta, f0) = gauss_newton_step(spec, p, y, &cur, dirs);
        f_cur = f0;
        let Some(delta) = delta else { break };
        let mut improved = false;
        let mut t = 1.0;
        for _ in 0..6 {
            let scaled: Vec<f64> = delta.iter().map(|d| d * t).collect();
            let cand = apply(&cur, dirs, &scaled);
            let f = sse(spec, p, y, &cand);
            if f < f_cur {
                improved = f_cur - f > 1e-10 * f_cur;
                cur = cand;
                f_cur = f;
                break;
            }
            t *= 0.5;
        }
        if !improved {
            break;
        }
    }
    (cur, f_cur)
}

/// SSE with the initial states profiled along `dirs`: exact least squares for linear models,
/// one Gauss-Newton step (kept only if it helps) for multiplicative ones.
fn profiled_sse(spec: ModelSpec, p: &P, y: &[f64], base: &State, dirs: &[State]) -> f64 {
    if spec.is_linear() {
        return profile_init(spec, p, y, base, dirs).1;
    }
    let (delta, f0) = gauss_newton_step(spec, p, y, base, dirs);
    match delta {
        Some(d) if f0.is_finite() => sse(spec, p, y, &apply(base, dirs, &d)).min(f0),
        _ => f0,
    }
}

fn level_trend_dirs(spec: ModelSpec, m: usize) -> Vec<State> {
    let seasonal = spec.is_seasonal();
    let mut l = State::zero(m, seasonal);
    l.level = 1.0;
    let mut out = vec![l];
    if spec.has_trend() {
        let mut b = State::zero(m, seasonal);
        b.trend = 1.0;
        out.push(b);
    }
    out
}

fn all_state_dirs(spec: ModelSpec, m: usize) -> Vec<State> {
    let mut out = level_trend_dirs(spec, m);
    if spec.is_seasonal() {
        // Sum-zero seasonal directions: level + c, seasons - c is an exact null direction.
        for j in 0..m.saturating_sub(1) {
            let mut s = State::zero(m, true);
            s.season[j] = 1.0;
            s.season[m - 1] = -1.0;
            out.push(s);
        }
    }
    out
}

fn apply(base: &State, dirs: &[State], delta: &[f64]) -> State {
    let mut out = base.clone();
    for (d, c) in dirs.iter().zip(delta) {
        out.add_scaled(d, *c);
    }
    out
}

/// Classical-decomposition starting states (Hyndman et al. 2008, section 2.6.1 in spirit): the
/// seasonal profile is the per-phase mean of the data minus a centred moving average over up to
/// 20 seasons (the profile is then an in-sample estimate, counted as m - 1 fitted values), the
/// level and trend a line through the first deseasonalised points.
fn heuristic_init(y: &[f64], spec: ModelSpec, m: usize) -> State {
    let n = y.len();
    let seasonal = spec.is_seasonal() && m >= 2 && n >= 2 * m;
    let mult = spec.seasonality == Seasonality::Multiplicative;
    let mut st = State::zero(m, spec.is_seasonal());
    if spec.is_seasonal() && mult {
        st.season.iter_mut().for_each(|v| *v = 1.0);
    }
    if seasonal {
        let span = n.min(20 * m);
        if let Some(x) = fill_gaps(&y[..span]) {
            let ma = centred_ma(&x, m);
            let mut sums = vec![0.0; m];
            let mut counts = vec![0usize; m];
            for (t, a) in ma.iter().enumerate() {
                if let (Some(a), true) = (a, y[t].is_finite()) {
                    let d = if mult {
                        if *a > 0.0 { y[t] / a } else { continue }
                    } else {
                        y[t] - a
                    };
                    sums[t % m] += d;
                    counts[t % m] += 1;
                }
            }
            let neutral = if mult { 1.0 } else { 0.0 };
            let prof: Vec<f64> = sums
                .iter()
                .zip(&counts)
                .map(|(s, &c)| if c > 0 { s / c as f64 } else { neutral })
                .collect();
            let mean = prof.iter().sum::<f64>() / m as f64;
            for (dst, v) in st.season.iter_mut().zip(&prof) {
                *dst = if mult {
                    if mean > 0.0 && *v > 0.0 { v / mean } else { 1.0 }
                } else {
                    v - mean
                };
            }
        }
    }
    let k = if seasonal { n.min((2 * m).max(10)) } else { n.min(10) };
    let pts: Vec<(f64, f64)> = (0..k)
        .filter(|&t| y[t].is_finite())
        .map(|t| {
            let s = st.season.get(t % m.max(1)).copied();
            let d = match (spec.seasonality, s) {
                (Seasonality::Additive, Some(s)) => y[t] - s,
                (Seasonality::Multiplicative, Some(s)) if s > 0.0 => y[t] / s,
                _ => y[t],
            };
            (t as f64, d)
        })
        .collect();
    let np = pts.len().max(1) as f64;
    let tm = pts.iter().map(|p| p.0).sum::<f64>() / np;
    let dm = pts.iter().map(|p| p.1).sum::<f64>() / np;
    if spec.has_trend() && pts.len() >= 2 {
        let sxy: f64 = pts.iter().map(|p| (p.0 - tm) * (p.1 - dm)).sum();
        let sxx: f64 = pts.iter().map(|p| (p.0 - tm).powi(2)).sum();
        let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        // Level "at time -1", so that the first forecast is the fitted line at t = 0.
        st.level = dm - b * (tm + 1.0);
        st.trend = b;
    } else {
        st.level = pts.first().map_or(dm, |_| {
            pts.iter().take(m.clamp(1, 10)).map(|p| p.1).sum::<f64>() / pts.len().min(m.clamp(1, 10)) as f64
        });
    }
    st
}

const ALPHA_LO: f64 = 1e-4;
const ALPHA_HI: f64 = 0.9999;
const PHI_LO: f64 = 0.8;
const PHI_HI: f64 = 0.98;

fn decode(spec: ModelSpec, x: &[f64]) -> P {
    let mut it = x.iter().copied();
    let mut next = || it.next().unwrap_or(0.5);
    let alpha = ALPHA_LO + (ALPHA_HI - ALPHA_LO) * next();
    let beta = if spec.has_trend() { alpha * next() } else { 0.0 };
    let gamma = if spec.is_seasonal() {
        (1.0 - alpha) * next()
    } else {
        0.0
    };
    let phi = if spec.trend == Trend::Damped {
        PHI_LO + (PHI_HI - PHI_LO) * next()
    } else {
        1.0
    };
    P {
        alpha,
        beta,
        gamma,
        phi,
    }
}

/// Result of fitting one variant in normalised units.
#[derive(Debug, Clone)]
struct RawFit {
    p: P,
    init: State,
    sse: f64,
}

fn fit_variant(y: &[f64], spec: ModelSpec, m: usize, max_evals: usize) -> Result<RawFit> {
    let n_obs = y.iter().filter(|v| v.is_finite()).count();
    let m = if spec.is_seasonal() { m } else { 1 };
    if spec.is_seasonal() {
        if m < 2 {
            return Err(ForecastError::InvalidParameter {
                name: "season",
                reason: "a seasonal model needs a period of at least 2".into(),
            });
        }
        if y.len() < 2 * m {
            return Err(ForecastError::NotEnoughData {
                needed: 2 * m,
                got: y.len(),
            });
        }
    }
    let needed = spec.n_smoothing() + 2 + usize::from(spec.has_trend()) + if spec.is_seasonal() { m } else { 0 };
    if n_obs < needed {
        return Err(ForecastError::NotEnoughData { needed, got: n_obs });
    }
    if spec.seasonality == Seasonality::Multiplicative && y.iter().any(|v| v.is_finite() && *v <= 0.0) {
        return Err(ForecastError::FitFailed(
            "multiplicative seasonality needs strictly positive data".into(),
        ));
    }
    let heur = heuristic_init(y, spec, m);
    let opts = NmOptions {
        max_evals,
        ..NmOptions::default()
    };
    let np = spec.n_smoothing();
    let make_x = |a: f64, g: f64| {
        let mut x = vec![0.5; np];
        x[0] = a;
        let mut i = 1;
        if spec.has_trend() {
            x[i] = 0.05;
            i += 1;
        }
        if spec.is_seasonal() {
            x[i] = g;
            i += 1;
        }
        if spec.trend == Trend::Damped {
            x[i] = 0.6;
        }
        x
    };
    let lt_dirs = level_trend_dirs(spec, m);
    let all = all_state_dirs(spec, m);
    let k = all.len() as f64;
    let n = y.len() as f64;
    // Initial states profiled inside every evaluation: all of them when cheap (short seasons),
    // else level and trend; O(n) per evaluation either way for long seasons.
    let eval_dirs: &[State] = if n * k * k <= PER_EVAL_BUDGET { &all } else { &lt_dirs };
    // Re-estimating every initial state between searches costs O(n k^2) once, not per evaluation.
    let affordable = spec.is_seasonal() && n * k * k <= LS_BUDGET;
    let objective = |x: &[f64], base: &State| profiled_sse(spec, &decode(spec, x), y, base, eval_dirs);
    // Coarse grid, then Nelder-Mead from the two best grid points (one start can stall in a
    // local minimum, e.g. alpha near 1 against a seasonal gamma).
    let mut grid: Vec<(Vec<f64>, f64)> = Vec::new();
    for a in [0.05, 0.2, 0.5, 0.8, 0.98] {
        // gamma (as a share of its bound 1 - alpha) near the bound is a common optimum: from 0.05
        // and 0.3 only, multiplicative seasons could stall at gamma = 0 (electrical equipment
        // orders: SSE 1,859 vs statsmodels' 1,777 at gamma = 1 - alpha).
        let gammas: &[f64] = if spec.is_seasonal() { &[0.05, 0.3, 0.9] } else { &[0.05] };
        for &g in gammas {
            let x = make_x(a, g);
            let f = objective(&x, &heur);
            grid.push((x, f));
        }
    }
    grid.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut best_x = grid.first().map_or_else(|| make_x(0.2, 0.05), |g| g.0.clone());
    let mut best_f = f64::INFINITY;
    let second_start = grid.get(1).map(|g| g.0.clone());
    let mut base = heur;
    for round in 0..2 {
        let mut r = minimize_unit_box(|x| objective(x, &base), &best_x, opts);
        if round == 0
            && let Some(x2) = &second_start
        {
            let r2 = minimize_unit_box(|x| objective(x, &base), x2, opts);
            if r2.f < r.f {
                r = r2;
            }
        }
        if r.f <= best_f || round == 0 {
            best_x = r.x;
            best_f = r.f;
        }
        if !affordable {
            break; // nothing to alternate with: the search already profiled what it could
        }
        let p = decode(spec, &best_x);
        let (refined, f) = if spec.is_linear() {
            let (delta, f) = profile_init(spec, &p, y, &base, &all);
            (apply(&base, &all, &delta), f)
        } else {
            gauss_newton_init(spec, &p, y, &base, &all, 8)
        };
        if f.is_finite() && f <= best_f * (1.0 + 1e-12) {
            base = refined;
            best_f = f;
        }
    }
    let p = decode(spec, &best_x);
    let init = if spec.is_linear() {
        let (delta, _) = profile_init(spec, &p, y, &base, eval_dirs);
        apply(&base, eval_dirs, &delta)
    } else {
        gauss_newton_init(spec, &p, y, &base, eval_dirs, 8).0
    };
    let final_sse = sse(spec, &p, y, &init);
    if !final_sse.is_finite() || !init.is_finite() {
        return Err(ForecastError::FitFailed(format!(
            "{spec}: the optimiser found no finite fit"
        )));
    }
    Ok(RawFit {
        p,
        init,
        sse: final_sse,
    })
}

/// A fitted model: parameters, states, goodness of fit; forecasts with [`FittedModel::forecast`].
#[derive(Debug, Clone)]
pub struct FittedModel {
    spec: ModelSpec,
    period: usize,
    p: P,
    scale: f64,
    init: State,
    last: State,
    sse: f64,
    n_obs: usize,
    n_params: usize,
    sigma2: f64,
    aicc: f64,
    fitted: Vec<f64>,
    fallback: Option<Fallback>,
    calibration: Option<IntervalCalibration>,
    /// Models whose point forecasts are averaged with this one's (fitted on the same data).
    members: Vec<FittedModel>,
}

fn finish(y_norm: &[f64], lead: usize, scale: f64, spec: ModelSpec, period: usize, raw: RawFit) -> FittedModel {
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
    }
}

/// Fits a Holt-Winters / ETS model to `values` (regularly spaced; NaN or infinite = missing).
///
/// Leading missing points are dropped, inner ones are skipped in the error sum with the state
/// carried through the gap, trailing ones are forecast through. Values are rescaled internally,
/// so huge magnitudes fit like small ones. With [`ModelChoice::Fixed`], a variant that cannot be
/// fitted falls back to simpler ones and [`FittedModel::fallback`] says why; with
/// [`ModelChoice::Auto`] every admissible variant is fitted and the lowest AICc wins (only the
/// seasonal variants when a period is given or detected, only the non-seasonal ones otherwise;
/// both when a period is given but the data show no seasonality at it, i.e. its adjusted
/// seasonal strength is below detection's threshold, as in seasonally adjusted series);
/// the winner is then checked out of sample, on the tail of the history, against the next two
/// variants, the average of the three and the (seasonal) naive forecast (as ETS(A,N,A) with
/// alpha 0 and gamma 1, or ETS(A,N,N) with alpha 1), which replaces it only when clearly closer
/// ([`FittedModel::fallback`] reports it); the same kind of backtest, reaching further back on
/// short series, calibrates the intervals ([`FittedModel::interval_calibration`]).
///
/// # Errors
/// [`ForecastError::NotEnoughData`] when even simple exponential smoothing cannot be fitted
/// (fewer than 3 observed points), [`ForecastError::InvalidParameter`] for a bad option.
pub fn fit(values: &[f64], options: &FitOptions) -> Result<FittedModel> {
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
            let mut best: Option<FittedModel> = None;
            let mut candidates = Vec::new();
            // A period without seasonality in the data (seasonally adjusted series, a wrong
            // period) would be fitted as noise: there the non-seasonal variants compete too.
            let unseasonal = period >= 2 && fill_gaps(&y).is_some_and(|x| seasonal_strength(&x, period) < MIN_STRENGTH);
            let mut last_err = None;
            for spec in ModelSpec::all() {
                // With a known period only seasonal variants compete, unless the data show no
                // seasonality at it: on one-step errors a non-seasonal model tracking a slow
                // cycle can win the AICc (every seasonal state counts as a parameter) and then
                // forecast the cycle away.
                let admissible = spec.is_seasonal() == (period >= 2) || (unseasonal && !spec.is_seasonal());
                if !admissible {
                    continue;
                }
                match fit_variant(&y, spec, period, evals) {
                    Ok(raw) => {
                        let m = finish(&y, lead, scale, spec, period, raw);
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
            Ok(select_by_backtest(&y, lead, scale, period, best, candidates, evals))
        }
    }
}

/// The (seasonal) naive forecast as an ETS limit: the value one season earlier is ETS(A,N,A) with
/// alpha = 0 and gamma = 1 (the level stays put, each seasonal state becomes the last deviation
/// seen in its phase); the last value is ETS(A,N,N) with alpha = 1. Interval variances follow
/// from the same formula: `sigma^2 (1 + floor((h-1)/m))` and `sigma^2 h`.
fn naive_fit(y: &[f64], m: usize) -> Option<(ModelSpec, RawFit)> {
    let seasonal = m >= 2 && y.len() >= 2 * m;
    let first: &[f64] = if seasonal { &y[..m] } else { &y[..1.min(y.len())] };
    let observed: Vec<f64> = first.iter().copied().filter(|v| v.is_finite()).collect();
    if observed.is_empty() {
        return None;
    }
    let level = observed.iter().sum::<f64>() / observed.len() as f64;
    let (spec, p, init) = if seasonal {
        let mut init = State::zero(m, true);
        init.level = level;
        for (s, v) in init.season.iter_mut().zip(first) {
            *s = if v.is_finite() { v - level } else { 0.0 };
        }
        let p = P {
            alpha: 0.0,
            beta: 0.0,
            gamma: 1.0,
            phi: 1.0,
        };
        (ModelSpec::new(Trend::None, Seasonality::Additive), p, init)
    } else {
        let mut init = State::zero(1, false);
        init.level = level;
        let p = P {
            alpha: 1.0,
            beta: 0.0,
            gamma: 0.0,
            phi: 1.0,
        };
        (ModelSpec::SIMPLE, p, init)
    };
    let sse = sse(spec, &p, y, &init);
    sse.is_finite().then_some((spec, RawFit { p, init, sse }))
}

/// Most forecast origins of a backtest: bounds its cost at `MAX_ORIGINS * horizon` steps per model.
const MAX_ORIGINS: usize = 200;
/// Horizon buckets of the interval calibration.
const CAL_BUCKETS: usize = 4;
/// Fewest scaled errors a bucket needs before it may widen intervals.
const CAL_MIN_ERRORS: usize = 30;
/// Relative backtest improvement an option needs to displace the one before it (lowest AICc
/// first): differences of a few percent over a few hundred overlapping errors are noise, and the
/// AICc choice should not be traded for noise.
const SELECTION_MARGIN: f64 = 0.02;
/// ... and must be significantly closer: its Diebold-Mariano statistic (one-sided, 10% level)
/// must reach this, over all origins (or, for the naive forecast, over the more recent half).
/// Overlapping multi-step windows make a few hundred errors worth only a few independent ones
/// (3 on a short annual series), where a 2% margin alone is noise.
const SELECTION_Z: f64 = 1.28;
/// Variants (by AICc rank) the backtest chooses among, besides the (seasonal) naive forecast.
const BACKTEST_TOP: usize = 3;
/// Share of a short history the backtest that chooses the model may take (its models are
/// refitted on the rest, which must stay long enough to fit them well).
const SELECTION_SHARE: f64 = 0.5;
/// Share of a short history the interval calibration may take: more origins, and more of the
/// past's quiet and turbulent stretches, than the choice needs (measured on the accuracy
/// comparison: with half the history, 95% intervals covered 0.44-0.81 on the quarterly macro
/// series; with two thirds 0.81-0.94, and the same on the origins before those).
const CAL_SHARE: f64 = 2.0 / 3.0;

/// Rolling forecast origins on the tail of `n` points for `horizon`-step forecasts: one every
/// `stride` points over the last `min(share n, max(8 horizon, 240))` points, at most
/// [`MAX_ORIGINS`]. Empty when the series is too short to spare that tail (less than
/// `2 horizon + warmup` points).
fn backtest_origins(n: usize, horizon: usize, warmup: usize, share: f64) -> Vec<usize> {
    if horizon == 0 || n < 2 * horizon + warmup {
        return Vec::new();
    }
    let window = ((n as f64 * share) as usize)
        .min((8 * horizon).max(240))
        .max(horizon + 1);
    let first = (n - window).max(warmup);
    let last = n - horizon;
    if last <= first {
        return Vec::new();
    }
    let stride = (last - first).div_ceil(MAX_ORIGINS).max(1);
    (first..last).step_by(stride).collect()
}

/// The `horizon`-step forecast errors of `model` from each origin (ascending): entry
/// `o * horizon + k` is the error `k + 1` steps after origin `o` (NaN where the point is missing),
/// in normalised units. The states are filtered forward once with `model`'s parameters; the
/// caller fits `model` on the history before the first origin, so every forecast is out of sample.
fn backtest_errors(model: &FittedModel, y: &[f64], origins: &[usize], horizon: usize) -> Vec<f64> {
    let mut errors = Vec::with_capacity(origins.len() * horizon);
    let mut st = model.init.clone();
    let mut t = 0;
    for &o in origins {
        while t < o {
            step(model.spec, &model.p, &mut st, y[t]);
            t += 1;
        }
        let mut ahead = st.clone();
        for &v in &y[o..o + horizon] {
            let (f, _) = step(model.spec, &model.p, &mut ahead, f64::NAN);
            errors.push(v - f);
        }
    }
    errors
}

/// Diebold-Mariano statistic (with the Harvey-Leybourne-Newbold small-sample correction) for
/// "`b` forecasts better than `a`": per-origin mean absolute errors, their mean difference over
/// its Newey-West standard error (Bartlett kernel over the lags at which `horizon`-step windows
/// overlap, `stride` points apart). Positive when `b` is better.
fn dm_statistic(a: &[f64], b: &[f64], horizon: usize, stride: usize) -> f64 {
    let d: Vec<f64> = a
        .chunks(horizon)
        .zip(b.chunks(horizon))
        .filter_map(|(x, y)| {
            let (mx, my) = (mean_abs(x), mean_abs(y));
            (mx.is_finite() && my.is_finite()).then_some(mx - my)
        })
        .collect();
    let n = d.len();
    if n < 2 {
        return 0.0;
    }
    let nf = n as f64;
    let mean = d.iter().sum::<f64>() / nf;
    let lags = (horizon.div_ceil(stride)).saturating_sub(1).min(n - 1);
    let gamma = |k: usize| d.iter().zip(&d[k..]).map(|(x, y)| (x - mean) * (y - mean)).sum::<f64>() / nf;
    let mut var = gamma(0);
    for k in 1..=lags {
        var += 2.0 * (1.0 - k as f64 / (lags + 1) as f64) * gamma(k);
    }
    if var.is_nan() || var <= 0.0 {
        return if mean > 0.0 { f64::INFINITY } else { 0.0 };
    }
    let hl = lags as f64 + 1.0;
    let hln = ((nf + 1.0 - 2.0 * hl + hl * (hl - 1.0) / nf) / nf).max(0.0).sqrt();
    mean / (var / nf).sqrt() * hln
}

fn mean_abs(errors: &[f64]) -> f64 {
    let (sum, n) = errors
        .iter()
        .filter(|e| e.is_finite())
        .fold((0.0, 0usize), |(s, n), e| (s + e.abs(), n + 1));
    if n == 0 { f64::INFINITY } else { sum / n as f64 }
}

/// Standard deviation of the 1..=`horizon`-step errors by the linear formula
/// `sigma sqrt(1 + sum_{j<h} c_j^2)`, `c_j = alpha + beta phi_j + gamma [j mod m = 0]` (exact for
/// the linear models, a first-order guide for the multiplicative season).
fn linear_sd(spec: ModelSpec, p: &P, period: usize, sigma: f64, horizon: usize) -> Vec<f64> {
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

/// Empirical interval calibration: rolling-origin forecast errors on the tail of the history,
/// each divided by the model's own standard deviation for its horizon, sorted per horizon bucket.
/// Model intervals ignore the uncertainty of the parameters and of the model choice, so they
/// under-cover on real data; [`FittedModel::forecast_with`] widens an interval to the empirical
/// quantile of these scaled errors whenever that is wider (split-conformal style).
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalCalibration {
    /// Forecast origins the errors come from.
    pub origins: usize,
    /// Steps ahead forecast from each origin; longer horizons use the last bucket.
    pub horizon: usize,
    /// Sorted |error| / model standard deviation, one vector per horizon bucket.
    scaled: Vec<Vec<f64>>,
}

impl IntervalCalibration {
    fn new(model: &FittedModel, errors: &[f64], origins: usize, horizon: usize) -> Option<Self> {
        let sd = linear_sd(model.spec, &model.p, model.period, model.sigma2.sqrt(), horizon);
        let buckets = CAL_BUCKETS.min(horizon);
        let mut scaled = vec![Vec::new(); buckets];
        for (i, e) in errors.iter().enumerate() {
            let k = i % horizon;
            if e.is_finite() && sd[k] > 0.0 {
                scaled[k * buckets / horizon].push(e.abs() / sd[k]);
            }
        }
        for b in &mut scaled {
            b.sort_by(f64::total_cmp);
        }
        scaled.iter().all(|b| b.len() >= CAL_MIN_ERRORS).then_some(Self {
            origins,
            horizon,
            scaled,
        })
    }

    /// Empirical quantile at `level` of the scaled error `step` steps ahead (1-based).
    pub fn scaled_quantile(&self, step: usize, level: f64) -> f64 {
        let k = step.saturating_sub(1).min(self.horizon - 1);
        let b = &self.scaled[k * self.scaled.len() / self.horizon];
        quantile_sorted(b, level)
    }
}

/// A model of `spec` (the naive one when `spec` is `None`) refitted on `train` alone, to be
/// backtested from origins after it; `None` when it cannot be fitted there.
fn refit(
    train: &[f64],
    lead: usize,
    scale: f64,
    spec: Option<ModelSpec>,
    period: usize,
    evals: usize,
) -> Option<FittedModel> {
    let (spec, raw) = match spec {
        Some(spec) => (spec, fit_variant(train, spec, period, evals).ok()?),
        None => naive_fit(train, period)?,
    };
    Some(finish(train, lead, scale, spec, period, raw))
}

/// Pointwise mean of several backtests' errors, `len` each (a missing error counts as NaN).
fn mean_errors<'a>(series: impl ExactSizeIterator<Item = &'a [f64]> + Clone, len: usize) -> Vec<f64> {
    let k = series.len() as f64;
    (0..len)
        .map(|j| {
            series
                .clone()
                .map(|e| e.get(j).copied().unwrap_or(f64::NAN))
                .sum::<f64>()
                / k
        })
        .collect()
}

/// The automatic choice, checked out of sample. The [`BACKTEST_TOP`] variants with the lowest
/// AICc and the (seasonal) naive forecast are backtested from rolling origins on the tail of the
/// history (one season ahead, 10 steps without a season); an option displaces the one before it
/// only when its mean absolute error is lower by [`SELECTION_MARGIN`] and significantly so
/// ([`SELECTION_Z`]), so a model that forecasts clearly worse than seasonal naive on the recent
/// history is not returned (its `fallback` says so). The winner's backtest errors calibrate its
/// intervals, from origins over up to [`CAL_SHARE`] of the history (the winner refitted before
/// them). Too short a series keeps the AICc choice with model intervals. `m` is the period
/// of the fit (a candidate may be non-seasonal when the data show no seasonality at it).
fn select_by_backtest(
    y: &[f64],
    lead: usize,
    scale: f64,
    m: usize,
    best: FittedModel,
    mut others: Vec<FittedModel>,
    evals: usize,
) -> FittedModel {
    let n = y.len();
    let horizon = if m >= 2 { m } else { (n / 5).min(10) };
    let warmup = if m >= 2 { 3 * m } else { 10 };
    let origins = backtest_origins(n, horizon, warmup, SELECTION_SHARE);
    let Some(&first) = origins.first() else {
        return best;
    };
    others.sort_by(|a, b| a.aicc.total_cmp(&b.aicc));
    others.truncate(BACKTEST_TOP - 1);
    let train = &y[..first];
    let aicc_best = best.clone();
    // (model on everything, model on the history before the first origin, its errors, their MAE)
    let mut scored: Vec<(FittedModel, Option<FittedModel>, Vec<f64>, f64)> = Vec::new();
    for model in std::iter::once(best).chain(others) {
        // A variant that cannot be fitted on the shorter history is kept but never preferred.
        let past = refit(train, lead, scale, Some(model.spec), model.period, evals);
        let errors = past
            .as_ref()
            .map(|p| backtest_errors(p, y, &origins, horizon))
            .unwrap_or_default();
        let mae = mean_abs(&errors);
        scored.push((model, past, errors, mae));
    }
    let (aicc_choice, aicc_mae) = (scored[0].0.spec, scored[0].3);
    let n_ets = scored.len();
    if let (Some(naive), Some(past)) = (
        refit(y, lead, scale, None, m, evals),
        refit(train, lead, scale, None, m, evals),
    ) {
        let errors = backtest_errors(&past, y, &origins, horizon);
        let mae = mean_abs(&errors);
        scored.push((naive, Some(past), errors, mae));
    }
    // The options: each model alone (lowest AICc first, the naive one last), then the equal-weight
    // average of the backtested ETS variants. An option must beat the best before it by
    // SELECTION_MARGIN, significantly (SELECTION_Z): near-ties keep the earlier, simpler option.
    let mut options: Vec<Vec<usize>> = (0..scored.len()).map(|i| vec![i]).collect();
    let ets: Vec<usize> = (0..n_ets).filter(|&i| scored[i].1.is_some()).collect();
    if ets.len() >= 2 {
        options.push(ets);
    }
    let len = origins.len() * horizon;
    let combined = |members: &[usize]| mean_errors(members.iter().map(|&i| scored[i].2.as_slice()), len);
    let stride = origins.get(1).map_or(1, |o| o - first).max(1);
    let mut win = 0;
    let mut win_errors = combined(&options[0]);
    let mut win_mae = mean_abs(&win_errors);
    for (o, members) in options.iter().enumerate().skip(1) {
        let errors = combined(members);
        let mae = mean_abs(&errors);
        // The (seasonal) naive safety net may also win on the recent half of the origins alone: a
        // changed pattern shows there first, diluted over the whole backtest.
        let significant =
            |from: usize| dm_statistic(&win_errors[from..], &errors[from..], horizon, stride) >= SELECTION_Z;
        let recent = members == &[n_ets] && significant(origins.len() / 2 * horizon);
        if mae < win_mae * (1.0 - SELECTION_MARGIN) && (significant(0) || recent) {
            (win, win_errors, win_mae) = (o, errors, mae);
        }
    }
    let chosen = &options[win];
    let is_naive = chosen == &[n_ets];
    // Options list their members in ascending order: the first is the lowest-AICc member.
    // The calibration reaches further back than the choice (on short series, where the window is
    // a share of the history): rare large errors need many origins, and a past of calm and
    // turbulent stretches, to show in a 95% quantile. The chosen members are refitted before it.
    let cal_origins = backtest_origins(n, horizon, warmup, CAL_SHARE);
    let longer = match cal_origins.first() {
        Some(&cal_first) if cal_first < first => {
            let cal_train = &y[..cal_first];
            let pasts: Option<Vec<FittedModel>> = chosen
                .iter()
                .map(|&i| {
                    let (spec, period) = if i == n_ets {
                        (None, m)
                    } else {
                        (Some(scored[i].0.spec), scored[i].0.period)
                    };
                    refit(cal_train, lead, scale, spec, period, evals)
                })
                .collect();
            pasts.map(|pasts| {
                let errs: Vec<Vec<f64>> = pasts
                    .iter()
                    .map(|p| backtest_errors(p, y, &cal_origins, horizon))
                    .collect();
                let errors = mean_errors(errs.iter().map(Vec::as_slice), cal_origins.len() * horizon);
                (pasts.into_iter().next(), errors)
            })
        }
        _ => None,
    };
    let mut picked = Vec::with_capacity(chosen.len());
    for (i, (model, past, _, _)) in scored.into_iter().enumerate() {
        if chosen.contains(&i) {
            picked.push((model, past));
        }
    }
    let mut picked = picked.into_iter();
    let Some((mut model, past)) = picked.next() else {
        return aicc_best;
    };
    // Members only forecast: their in-sample fitted values would be dead weight.
    model.members = picked
        .map(|(mut m, _)| {
            m.fitted = Vec::new();
            m
        })
        .collect();
    if model.spec != aicc_choice || is_naive || !model.members.is_empty() {
        let what = if is_naive {
            if m >= 2 {
                "the seasonal naive forecast (alpha 0, gamma 1)".to_string()
            } else {
                "the naive forecast (alpha 1)".to_string()
            }
        } else if model.members.is_empty() {
            format!("{}", model.spec)
        } else {
            let names: Vec<String> = std::iter::once(model.spec)
                .chain(model.members.iter().map(|m| m.spec))
                .map(|s| s.to_string())
                .collect();
            format!("the average of {}", names.join(", "))
        };
        model.fallback = Some(Fallback {
            requested: aicc_choice,
            reason: format!(
                "{what} forecast closer than {aicc_choice} (lowest AICc) from {} rolling origins, {horizon} steps ahead, \
                 on the last {} points (mean absolute error {:.4} vs {:.4})",
                origins.len(),
                n - first,
                win_mae * scale,
                aicc_mae * scale
            ),
        });
    }
    model.calibration = match longer {
        Some((Some(p), errors)) => IntervalCalibration::new(&p, &errors, cal_origins.len(), horizon),
        _ => past.and_then(|p| IntervalCalibration::new(&p, &win_errors, origins.len(), horizon)),
    };
    model
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

    /// Set when the requested model could not be used and a simpler one was fitted instead.
    pub fn fallback(&self) -> Option<&Fallback> {
        self.fallback.as_ref()
    }

    /// The empirical interval calibration, when the model was chosen by [`ModelChoice::Auto`] on a
    /// series long enough to backtest: its intervals are widened to the empirical quantile of
    /// rolling-origin forecast errors wherever the model's own interval is narrower.
    pub fn interval_calibration(&self) -> Option<&IntervalCalibration> {
        self.calibration.as_ref()
    }

    pub(crate) fn internals(&self) -> (ModelSpec, P, f64, f64) {
        (self.spec, self.p, self.scale, self.sigma2)
    }

    pub(crate) fn last_state(&self) -> &State {
        &self.last
    }

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
    /// sample paths for multiplicative seasonality.
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
        let sd = linear_sd(self.spec, &self.p, self.period, sigma, horizon);
        let (mut lower, mut upper, method) = if self.spec.is_linear() {
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
                if half.is_finite() {
                    *lo = lo.min(f - half);
                    *hi = hi.max(f + half);
                }
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

fn quantile_sorted(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (xs.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(xs.len() - 1);
    let w = pos - lo as f64;
    xs[lo] * (1.0 - w) + xs[hi] * w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize, m: usize, seed: u64, noise: f64) -> Vec<f64> {
        let mut g = SplitMix64::new(seed);
        (0..n)
            .map(|t| {
                let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
                50.0 + 0.05 * t as f64 + 5.0 * ph.sin() + noise * g.normal()
            })
            .collect()
    }

    fn fixed(t: Trend, s: Seasonality, m: usize) -> FitOptions {
        FitOptions {
            model: ModelChoice::Fixed(ModelSpec::new(t, s)),
            season: Season::Period(m),
            ..FitOptions::default()
        }
    }

    #[test]
    fn profile_matches_brute_force() {
        let y = series(120, 12, 1, 1.0);
        let spec = ModelSpec::new(Trend::Damped, Seasonality::Additive);
        let p = P {
            alpha: 0.3,
            beta: 0.05,
            gamma: 0.1,
            phi: 0.9,
        };
        let base = heuristic_init(&y, spec, 12);
        let dirs = all_state_dirs(spec, 12);
        let (delta, f) = profile_init(spec, &p, &y, &base, &dirs);
        let direct = sse(spec, &p, &y, &apply(&base, &dirs, &delta));
        assert!((f - direct).abs() <= 1e-6 * direct.max(1.0), "{f} vs {direct}");
        assert!(f <= sse(spec, &p, &y, &base));
    }

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

    /// The calibration only ever widens, the members' average moves the intervals with the mean,
    /// and too short a series is not backtested (the AICc choice and its model intervals stand).
    #[test]
    fn calibration_widens_and_combination_recentres() {
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
        for k in 0..60 {
            assert!(a.lower[k] <= b.lower[k] && a.upper[k] >= b.upper[k], "step {k}");
            assert!(a.lower[k] < a.mean[k] && a.mean[k] < a.upper[k], "step {k}");
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

    /// The Diebold-Mariano statistic: a consistent gain over many windows is significant; the same
    /// mean gain from one lucky stretch of overlapping windows, or a tie, is not.
    #[test]
    fn dm_statistic_needs_independent_evidence() {
        let (h, n) = (10, 200);
        let mut g = SplitMix64::new(11);
        let noise: Vec<f64> = (0..n * h).map(|_| g.normal()).collect();
        let a: Vec<f64> = noise.iter().map(|e| 1.0 + 0.3 * e).collect();
        // 5% lower errors everywhere.
        let steady: Vec<f64> = a.iter().map(|e| 0.95 * e).collect();
        assert!(dm_statistic(&a, &steady, h, 1) > 3.0);
        // The same total gain from 10 consecutive origins (one window's worth of overlapping
        // ones) forecast exactly.
        let lucky: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(j, e)| if (40..50).contains(&(j / h)) { 0.0 } else { *e })
            .collect();
        assert!(
            dm_statistic(&a, &lucky, h, 1) < SELECTION_Z,
            "{}",
            dm_statistic(&a, &lucky, h, 1)
        );
        assert_eq!(dm_statistic(&a, &a, h, 1), 0.0);
        assert!(dm_statistic(&steady, &a, h, 1) < 0.0);
    }
}
