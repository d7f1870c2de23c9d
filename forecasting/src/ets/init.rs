//! Initial states: the classical-decomposition starting point ([`heuristic_init`]) and their
//! least-squares re-estimation along chosen directions of the state, exact for the linear models
//! ([`profile_init`]) and by Gauss-Newton for multiplicative seasons ([`gauss_newton_init`]).
//! Kept apart from the parameter search, which calls [`profiled_sse`] once per evaluation.

use super::model::{ModelSpec, P, Seasonality, State};
use super::recursion::{GapWeight, sse, step};
use crate::math::solve_spd;
use crate::season::{centred_ma, fill_gaps};

/// For linear models: runs the filter from `base` plus one zero-data filter per direction, and
/// returns the least-squares shift of the initial state along those directions with the SSE it
/// reaches. Cost O(n k^2) for k directions; the per-evaluation sizes (1 or 2 directions) run a
/// fixed-size version the compiler unrolls.
pub(super) fn profile_init(spec: ModelSpec, p: &P, y: &[f64], base: &State, dirs: &[State]) -> (Vec<f64>, f64) {
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
pub(super) fn gauss_newton_init(
    spec: ModelSpec,
    p: &P,
    y: &[f64],
    start: &State,
    dirs: &[State],
    iters: usize,
) -> (State, f64) {
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
pub(super) fn profiled_sse(spec: ModelSpec, p: &P, y: &[f64], base: &State, dirs: &[State]) -> f64 {
    if spec.is_linear() {
        return profile_init(spec, p, y, base, dirs).1;
    }
    let (delta, f0) = gauss_newton_step(spec, p, y, base, dirs);
    match delta {
        Some(d) if f0.is_finite() => sse(spec, p, y, &apply(base, dirs, &d)).min(f0),
        _ => f0,
    }
}

pub(super) fn level_trend_dirs(spec: ModelSpec, m: usize) -> Vec<State> {
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

pub(super) fn all_state_dirs(spec: ModelSpec, m: usize) -> Vec<State> {
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

pub(super) fn apply(base: &State, dirs: &[State], delta: &[f64]) -> State {
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
pub(super) fn heuristic_init(y: &[f64], spec: ModelSpec, m: usize) -> State {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ets::model::{Seasonality, Trend};
    use crate::ets::testing::series;

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
}
