//! Numerical helpers: normal quantiles and tail probabilities, FFT autocorrelation, a small
//! dense SPD solver.

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative error
/// below 1.2e-9, plenty for interval widths). Returns NaN outside (0, 1).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The complementary error function, `1 - erf(x)`, by the classical Chebyshev fit of
/// `erfc(z) ~ t exp(-z^2 + P(t))`, `t = 1 / (1 + z/2)`: fractional error below 1.2e-7 for every
/// `x`, tiny tails included (normal tail probabilities are `erfc(z / sqrt 2) / 2`).
pub(crate) fn erfc(x: f64) -> f64 {
    const P: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    if x.is_nan() {
        return f64::NAN;
    }
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = P.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let tail = t * (-z * z + poly).exp();
    if x >= 0.0 { tail } else { 2.0 - tail }
}

/// In-place iterative radix-2 complex FFT; `re.len()` must be a power of two (callers pad).
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    if n < 2 || im.len() != n || !n.is_power_of_two() {
        return;
    }
    // Bit-reversal permutation.
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let ang = sign * std::f64::consts::TAU / len as f64;
        let (w_im, w_re) = ang.sin_cos();
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0f64, 0.0f64);
            for k in 0..len / 2 {
                let a = start + k;
                let b = a + len / 2;
                let tr = re[b] * cr - im[b] * ci;
                let ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let nr = cr * w_re - ci * w_im;
                ci = cr * w_im + ci * w_re;
                cr = nr;
            }
        }
        len <<= 1;
    }
}

/// Autocovariance sums `sum_t x_t x_{t+k}` for k = 0..=max_lag, via FFT in O(n log n).
/// `x` should already be centred and gap-free.
pub(crate) fn autocovariance_sums(x: &[f64], max_lag: usize) -> Vec<f64> {
    let n = x.len();
    let max_lag = max_lag.min(n.saturating_sub(1));
    if n == 0 {
        return Vec::new();
    }
    let size = (2 * n).next_power_of_two();
    let mut re = vec![0.0; size];
    let mut im = vec![0.0; size];
    re[..n].copy_from_slice(x);
    fft(&mut re, &mut im, false);
    for (r, i) in re.iter_mut().zip(im.iter_mut()) {
        *r = *r * *r + *i * *i;
        *i = 0.0;
    }
    fft(&mut re, &mut im, true);
    re.truncate(max_lag + 1);
    for v in &mut re {
        *v /= size as f64;
    }
    re
}

/// Solves `A x = b` for a symmetric positive (semi-)definite `k x k` matrix (row-major) with a
/// small relative ridge, by Cholesky. Returns `None` when the system is numerically hopeless.
pub(crate) fn solve_spd(a: &[f64], b: &[f64], k: usize) -> Option<Vec<f64>> {
    if a.len() != k * k || b.len() != k {
        return None;
    }
    let mean_diag = (0..k).map(|i| a[i * k + i].abs()).sum::<f64>() / k.max(1) as f64;
    if !mean_diag.is_finite() {
        return None;
    }
    let ridge = 1e-10 * mean_diag + 1e-300;
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let mut s = a[i * k + j];
            if i == j {
                s += ridge;
            }
            for p in 0..j {
                s -= l[i * k + p] * l[j * k + p];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    // Rank deficient along this direction: pin it (no change) rather than fail.
                    l[i * k + i] = f64::INFINITY;
                } else {
                    l[i * k + i] = s.sqrt();
                }
            } else {
                let d = l[j * k + j];
                l[i * k + j] = if d.is_finite() { s / d } else { 0.0 };
            }
        }
    }
    // Forward then backward substitution; an infinite pivot yields a zero component.
    let mut y = vec![0.0; k];
    for i in 0..k {
        let mut s = b[i];
        for p in 0..i {
            s -= l[i * k + p] * y[p];
        }
        y[i] = s / l[i * k + i];
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        let mut s = y[i];
        for p in i + 1..k {
            s -= l[p * k + i] * x[p];
        }
        x[i] = s / l[i * k + i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090_232_306).abs() < 1e-7);
        assert!(normal_quantile(0.0).is_nan());
        assert!(normal_quantile(f64::NAN).is_nan());
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values of erfc to 10 significant digits.
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_2),
            (1.0, 0.157_299_207_1),
            (2.0, 4.677_734_981e-3),
            (3.0, 2.209_049_700e-5),
            (6.0, 2.151_973_671e-17),
            (-1.0, 1.842_700_792_9),
        ] {
            let got = erfc(x);
            assert!(((got - want) / want).abs() < 2e-7, "erfc({x}) = {got}, want {want}");
        }
        assert_eq!(erfc(f64::INFINITY), 0.0);
        assert!(erfc(f64::NAN).is_nan());
    }

    #[test]
    fn fft_acf_matches_direct() {
        let x: Vec<f64> = (0..37).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let acf = autocovariance_sums(&x, 20);
        for (k, v) in acf.iter().enumerate() {
            let direct: f64 = (0..x.len() - k).map(|t| x[t] * x[t + k]).sum();
            assert!((v - direct).abs() < 1e-8, "lag {k}: {v} vs {direct}");
        }
        assert!(autocovariance_sums(&[], 3).is_empty());
    }

    #[test]
    fn spd_solve() {
        let a = [4.0, 1.0, 1.0, 3.0];
        let x = solve_spd(&a, &[1.0, 2.0], 2).unwrap();
        assert!((4.0 * x[0] + x[1] - 1.0).abs() < 1e-9);
        assert!((x[0] + 3.0 * x[1] - 2.0).abs() < 1e-9);
        // Singular: still returns something finite.
        assert!(solve_spd(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0], 2).is_some());
    }
}
