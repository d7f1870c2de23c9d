//! Bounded Nelder-Mead on the unit box: deterministic, capped in evaluations, and every trial point
//! is projected into the box, so callers map [0, 1]^d onto their admissible region.

#[derive(Debug, Clone, Copy)]
pub(crate) struct NmOptions {
    pub(crate) max_evals: usize,
    /// Stop when the simplex's function values span less than this (relative).
    pub(crate) ftol: f64,
    /// ... and its vertices are within this distance of the best one.
    pub(crate) xtol: f64,
    pub(crate) initial_step: f64,
}

impl Default for NmOptions {
    fn default() -> Self {
        Self {
            max_evals: 1000,
            ftol: 1e-9,
            xtol: 1e-4,
            initial_step: 0.1,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct NmResult {
    pub(crate) x: Vec<f64>,
    pub(crate) f: f64,
}

fn clamp_unit(x: &mut [f64]) {
    for v in x {
        *v = if v.is_nan() { 0.5 } else { v.clamp(0.0, 1.0) };
    }
}

/// Minimises `f` over [0, 1]^d starting at `x0`. Non-finite values count as +infinity.
pub(crate) fn minimize_unit_box<F: FnMut(&[f64]) -> f64>(mut f: F, x0: &[f64], opts: NmOptions) -> NmResult {
    let d = x0.len();
    let mut eval = |x: &[f64]| {
        let v = f(x);
        if v.is_finite() { v } else { f64::INFINITY }
    };
    let mut start = x0.to_vec();
    clamp_unit(&mut start);
    if d == 0 {
        let v = eval(&start);
        return NmResult { x: start, f: v };
    }
    let mut simplex: Vec<Vec<f64>> = Vec::with_capacity(d + 1);
    simplex.push(start.clone());
    for i in 0..d {
        let mut v = start.clone();
        // Step inwards when the start sits near the upper bound.
        v[i] = if v[i] + opts.initial_step <= 1.0 {
            v[i] + opts.initial_step
        } else {
            v[i] - opts.initial_step
        };
        clamp_unit(&mut v);
        simplex.push(v);
    }
    let mut values: Vec<f64> = simplex.iter().map(|x| eval(x)).collect();
    let mut evals = d + 1;
    let mut centroid = vec![0.0; d];
    let mut trial = vec![0.0; d];
    let mut trial2 = vec![0.0; d];
    while evals < opts.max_evals {
        // Order vertices (stable sort by value, ties by index: deterministic).
        let mut order: Vec<usize> = (0..=d).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        values = order.iter().map(|&i| values[i]).collect();
        let best = values[0];
        let worst = values[d];
        let spread = (worst - best).abs();
        let size = simplex[1..]
            .iter()
            .map(|v| {
                v.iter()
                    .zip(&simplex[0])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max);
        if best.is_finite() && spread <= opts.ftol * (best.abs() + 1e-12) && size <= opts.xtol {
            break;
        }
        if size < 1e-12 {
            break; // collapsed simplex: nothing more to learn
        }
        centroid.iter_mut().for_each(|c| *c = 0.0);
        for v in &simplex[..d] {
            for (c, x) in centroid.iter_mut().zip(v) {
                *c += x / d as f64;
            }
        }
        let point = |coef: f64, out: &mut Vec<f64>, worst_v: &[f64], centroid: &[f64]| {
            for ((o, c), w) in out.iter_mut().zip(centroid).zip(worst_v) {
                *o = c + coef * (w - c);
            }
            clamp_unit(out);
        };
        point(-1.0, &mut trial, &simplex[d], &centroid);
        let fr = eval(&trial);
        evals += 1;
        if fr < values[0] {
            point(-2.0, &mut trial2, &simplex[d], &centroid);
            let fe = eval(&trial2);
            evals += 1;
            if fe < fr {
                simplex[d].clone_from(&trial2);
                values[d] = fe;
            } else {
                simplex[d].clone_from(&trial);
                values[d] = fr;
            }
        } else if fr < values[d - 1] {
            simplex[d].clone_from(&trial);
            values[d] = fr;
        } else {
            // Contraction: outside if the reflection improved on the worst, else inside.
            let outside = fr < values[d];
            point(if outside { -0.5 } else { 0.5 }, &mut trial2, &simplex[d], &centroid);
            let fc = eval(&trial2);
            evals += 1;
            if fc < fr.min(values[d]) {
                simplex[d].clone_from(&trial2);
                values[d] = fc;
            } else {
                // Shrink towards the best vertex.
                let best_v = simplex[0].clone();
                for i in 1..=d {
                    for (x, b) in simplex[i].iter_mut().zip(&best_v) {
                        *x = b + 0.5 * (*x - b);
                    }
                    values[i] = eval(&simplex[i]);
                    evals += 1;
                }
            }
        }
    }
    let (bi, _) = values
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap_or((0, &f64::INFINITY));
    NmResult {
        x: simplex[bi].clone(),
        f: values[bi],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_interior_minimum() {
        let r = minimize_unit_box(
            |x| (x[0] - 0.3).powi(2) + 10.0 * (x[1] - 0.7).powi(2) + (x[2] - 0.1).powi(2),
            &[0.5, 0.5, 0.5],
            NmOptions::default(),
        );
        assert!((r.x[0] - 0.3).abs() < 1e-3 && (r.x[1] - 0.7).abs() < 1e-3, "{:?}", r.x);
    }

    #[test]
    fn respects_bounds_and_nan() {
        let r = minimize_unit_box(
            |x| if x[0] > 0.9 { f64::NAN } else { -x[0] - x[1] },
            &[0.1, 0.1],
            NmOptions::default(),
        );
        assert!(r.x.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(r.x[0] <= 0.9 && r.x[1] > 0.99, "{:?}", r.x);
    }
}
