//! Numeric helpers that must round exactly like Prometheus' (Go) code.

use std::cmp::Ordering;

/// Kahan-Neumaier summation step; returns the new sum and compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Go's `math.Max`: +Inf wins over NaN, then NaN wins, and +0 beats -0.
pub(crate) fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && y == 0.0 {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

/// Go's `math.Min`: -Inf wins over NaN, then NaN wins, and -0 beats +0.
pub(crate) fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && y == 0.0 {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

/// The order Prometheus sorts values in for quantiles: NaN first, then ascending.
pub(crate) fn nan_first_cmp(a: &f64, b: &f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// Handles the argument checks of Prometheus' `quantile` and returns the rank split, or the
/// answer directly for an empty input or an out-of-range `q`.
pub(crate) enum QuantilePlan {
    Done(f64),
    Interpolate { lower: usize, upper: usize, weight: f64 },
}

pub(crate) fn quantile_plan(q: f64, n: usize) -> QuantilePlan {
    if n == 0 || q.is_nan() {
        return QuantilePlan::Done(f64::NAN);
    }
    if q < 0.0 {
        return QuantilePlan::Done(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return QuantilePlan::Done(f64::INFINITY);
    }
    let nf = n as f64;
    let rank = q * (nf - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(nf - 1.0);
    QuantilePlan::Interpolate {
        lower: lower as usize,
        upper: upper as usize,
        weight: rank - rank.floor(),
    }
}

/// Prometheus' `quantile` over values already sorted NaN-first ascending.
#[cfg(test)]
pub(crate) fn quantile_sorted(q: f64, sorted: &[f64]) -> f64 {
    match quantile_plan(q, sorted.len()) {
        QuantilePlan::Done(v) => v,
        QuantilePlan::Interpolate { lower, upper, weight } => {
            let lo = sorted.get(lower).copied().unwrap_or(f64::NAN);
            let hi = sorted.get(upper).copied().unwrap_or(f64::NAN);
            lo * (1.0 - weight) + hi * weight
        }
    }
}

/// Prometheus' `quantile` by selection (no full sort); reorders `values`.
pub(crate) fn quantile_select(q: f64, values: &mut [f64]) -> f64 {
    match quantile_plan(q, values.len()) {
        QuantilePlan::Done(v) => v,
        QuantilePlan::Interpolate { lower, upper, weight } => {
            if lower >= values.len() {
                return f64::NAN;
            }
            let (_, lo, rest) = values.select_nth_unstable_by(lower, nan_first_cmp);
            let lo = *lo;
            let hi = if upper == lower {
                lo
            } else {
                rest.iter().copied().min_by(nan_first_cmp).unwrap_or(lo)
            };
            lo * (1.0 - weight) + hi * weight
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub(crate) fn format_go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// Go's `almost.Equal` as used by histogram_quantile's monotonicity fix.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE; // 0x0010000000000000
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_max_min_nan_and_inf() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert_eq!(go_min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert_eq!(go_min(2.0, 1.0), 1.0);
    }

    #[test]
    fn quantile_select_matches_sorted() {
        let vals = [5.0, 1.0, f64::NAN, 3.0, 2.0, 4.0];
        let mut sorted = vals.to_vec();
        sorted.sort_by(nan_first_cmp);
        for q in [0.0, 0.1, 0.25, 0.5, 0.9, 1.0] {
            let mut v = vals.to_vec();
            let a = quantile_select(q, &mut v);
            let b = quantile_sorted(q, &sorted);
            assert!(a == b || (a.is_nan() && b.is_nan()), "q={q} {a} {b}");
        }
    }

    #[test]
    fn go_float_format() {
        assert_eq!(format_go_float(1.0), "1");
        assert_eq!(format_go_float(0.1), "0.1");
        assert_eq!(format_go_float(1e21), "1000000000000000000000");
        assert_eq!(format_go_float(f64::NEG_INFINITY), "-Inf");
    }
}
