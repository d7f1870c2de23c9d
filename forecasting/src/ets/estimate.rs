//! Fitting one variant: the bounded Nelder-Mead search over the smoothing parameters (mapped
//! from the unit box into the admissible region), alternated with re-estimating the initial
//! states. Returns a [`RawFit`] in normalised units; choosing among variants is not done here.

use super::init::{
    all_state_dirs, apply, gauss_newton_init, heuristic_init, level_trend_dirs, profile_init, profiled_sse,
};
use super::model::{ModelSpec, P, RawFit, Seasonality, State, Trend};
use super::recursion::sse;
use crate::error::{ForecastError, Result};
use crate::optim::{NmOptions, minimize_unit_box};

/// Budget of `n * k^2` for re-estimating all `k` initial states by (Gauss-Newton) least squares.
const LS_BUDGET: f64 = 6e7;

/// Initial-state shifts beyond this many per evaluation (`n * k^2`) are profiled along the
/// level and trend only.
const PER_EVAL_BUDGET: f64 = 5e4;

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

pub(super) fn fit_variant(y: &[f64], spec: ModelSpec, m: usize, max_evals: usize) -> Result<RawFit> {
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
