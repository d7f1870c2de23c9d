//! Seasonal period detection: autocorrelation peaks proposed, seasonal strength decides.

use crate::math::autocovariance_sums;

/// Fills gaps (NaN or infinite) by linear interpolation, ends by the nearest observed value.
/// Returns `None` when nothing is observed.
pub(crate) fn fill_gaps(y: &[f64]) -> Option<Vec<f64>> {
    let first = y.iter().position(|v| v.is_finite())?;
    let mut out = Vec::with_capacity(y.len());
    let mut last_idx = first;
    let mut last_val = y[first];
    out.extend(std::iter::repeat_n(last_val, first));
    for (i, &v) in y.iter().enumerate().skip(first) {
        if v.is_finite() {
            let gap = i - last_idx;
            for j in 1..gap {
                let w = j as f64 / gap as f64;
                out.push(last_val + w * (v - last_val));
            }
            out.push(v);
            last_idx = i;
            last_val = v;
        }
    }
    out.resize(y.len(), last_val);
    Some(out)
}

/// Centred moving average of order m (2 x m for even m) through prefix sums; `None` where the
/// window does not fit.
pub(crate) fn centred_ma(x: &[f64], m: usize) -> Vec<Option<f64>> {
    let n = x.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    for v in x {
        acc += v;
        prefix.push(acc);
    }
    let sum = |a: usize, b: usize| prefix[b] - prefix[a]; // x[a..b]
    let h = m / 2;
    (0..n)
        .map(|t| {
            if t < h || t + h >= n {
                return None;
            }
            if m % 2 == 1 {
                Some(sum(t - h, t + h + 1) / m as f64)
            } else {
                Some((sum(t - h + 1, t + h) + 0.5 * (x[t - h] + x[t + h])) / m as f64)
            }
        })
        .collect()
}

/// Share of the detrended variance explained by a period-`m` profile (0 = none, 1 = all),
/// adjusted for degrees of freedom like an adjusted R^2.
pub(crate) fn seasonal_strength(x: &[f64], m: usize) -> f64 {
    if m < 2 || x.len() < 2 * m + 1 {
        return 0.0;
    }
    let ma = centred_ma(x, m);
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    let mut detr = Vec::with_capacity(x.len());
    for (t, (v, a)) in x.iter().zip(&ma).enumerate() {
        if let Some(a) = a {
            let d = v - a;
            sums[t % m] += d;
            counts[t % m] += 1;
            detr.push((t % m, d));
        }
    }
    if detr.len() < 2 {
        return 0.0;
    }
    let mean_d = detr.iter().map(|p| p.1).sum::<f64>() / detr.len() as f64;
    let profile: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { 0.0 })
        .collect();
    let (mut var_d, mut var_r) = (0.0, 0.0);
    for &(ph, d) in &detr {
        var_d += (d - mean_d).powi(2);
        var_r += (d - profile[ph]).powi(2);
    }
    if var_d <= 0.0 || !var_d.is_finite() {
        return 0.0;
    }
    // Adjusted for the m - 1 profile values fitted: pure noise scores about 0, not m / N.
    let nd = detr.len() as f64;
    if nd <= m as f64 + 1.0 {
        return 0.0;
    }
    (1.0 - (var_r / (nd - m as f64)) / (var_d / (nd - 1.0))).clamp(0.0, 1.0)
}

/// Periods of common sampling grids (per minute, 5 minutes, hour, day, week, month).
const CALENDAR_PERIODS: [usize; 20] = [
    4, 7, 12, 24, 48, 52, 60, 96, 144, 168, 288, 336, 365, 672, 1440, 2016, 4032, 8064, 8640, 10080,
];

/// Adjusted seasonal strength a period needs to be reported.
pub(crate) const MIN_STRENGTH: f64 = 0.3;

/// Detects the dominant seasonal period of a series, or `None` when no period is convincing.
///
/// Candidates are local maxima of the (unbiased) autocorrelation of the linearly detrended
/// series that stand out from the trough before them; each is then checked by its seasonal
/// strength (variance share of a per-phase profile after removing a centred moving average),
/// adjusted for the degrees of freedom of the profile (like an adjusted R^2) and required to reach 0.3. Lags within 2% of a
/// peak are tried too, and a common calendar period (24, 168, 288, 1440, ...) among them is preferred
/// when it explains the data as well. Among near-equally strong candidates the shortest wins, so multiples of the true period are not preferred. Needs at
/// least three periods of data; gaps (NaN) are interpolated for the test. Cost: O(n log n).
///
/// `max_period` caps the periods considered (default and upper limit: a third of the length).
pub fn detect_season(values: &[f64], max_period: Option<usize>) -> Option<usize> {
    let x = fill_gaps(values)?;
    let n = x.len();
    if n < 12 {
        return None;
    }
    // Remove a least-squares line so a trend does not dominate the autocorrelation.
    let tm = (n as f64 - 1.0) / 2.0;
    let ym = x.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, v) in x.iter().enumerate() {
        let dt = t as f64 - tm;
        sxy += dt * (v - ym);
        sxx += dt * dt;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let detr: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(t, v)| v - ym - slope * (t as f64 - tm))
        .collect();
    let max_lag = max_period.unwrap_or(usize::MAX).min(n / 3);
    if max_lag < 2 {
        return None;
    }
    let acov = autocovariance_sums(&detr, max_lag);
    let c0 = acov.first().copied().unwrap_or(0.0) / n as f64;
    if c0 <= 0.0 || !c0.is_finite() {
        return None;
    }
    let r: Vec<f64> = acov.iter().enumerate().map(|(k, s)| s / (n - k) as f64 / c0).collect();
    let mut candidates: Vec<(usize, f64)> = Vec::new();
    let mut trough = f64::INFINITY;
    for k in 1..r.len() {
        trough = trough.min(r[k - 1].max(-1.0));
        if k < 2 || r[k] < 0.1 || r[k] - trough < 0.1 {
            continue;
        }
        let w = (k / 10).max(1);
        let lo = k.saturating_sub(w).max(1);
        let hi = (k + w).min(r.len() - 1);
        if (lo..=hi).all(|j| r[j] <= r[k]) {
            candidates.push((k, r[k]));
        }
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    candidates.truncate(8);
    // An autocorrelation peak may sit a lag off the period: check the neighbours too.
    let scored: Vec<(usize, f64)> = candidates
        .iter()
        .map(|&(k, _)| {
            let w = (k / 50).max(1);
            let near: Vec<(usize, f64)> = (k.saturating_sub(w).max(2)..=k + w)
                .map(|j| (j, seasonal_strength(&x, j)))
                .collect();
            let best = near
                .iter()
                .fold((k, f64::NEG_INFINITY), |a, &b| if b.1 > a.1 { b } else { a });
            // With few periods, neighbouring lags fit almost equally well; a calendar period
            // that is as good is the one a person means.
            near.iter()
                .find(|(j, s)| CALENDAR_PERIODS.contains(j) && *s >= best.1 - 0.02)
                .copied()
                .unwrap_or(best)
        })
        .filter(|&(_, s)| s >= MIN_STRENGTH)
        .collect();
    let best = scored.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    scored.iter().filter(|p| p.1 >= best - 0.05).map(|p| p.0).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn seasonal(n: usize, m: usize, noise: f64, seed: u64) -> Vec<f64> {
        let mut g = SplitMix64::new(seed);
        (0..n)
            .map(|t| {
                let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
                10.0 + 0.01 * t as f64 + 3.0 * ph.sin() + 1.0 * (2.0 * ph).cos() + noise * g.normal()
            })
            .collect()
    }

    #[test]
    fn finds_periods() {
        for &(m, n) in &[(7usize, 200usize), (12, 144), (24, 24 * 14), (288, 2016)] {
            let y = seasonal(n, m, 0.8, m as u64);
            assert_eq!(detect_season(&y, None), Some(m), "m = {m}");
        }
    }

    #[test]
    fn with_gaps() {
        let mut y = seasonal(24 * 10, 24, 0.5, 3);
        for i in (0..y.len()).step_by(7) {
            y[i] = f64::NAN;
        }
        assert_eq!(detect_season(&y, None), Some(24));
    }

    #[test]
    fn none_for_noise_and_walks() {
        let mut found = 0;
        for seed in 0..10 {
            let mut g = SplitMix64::new(seed);
            let noise: Vec<f64> = (0..500).map(|_| g.normal()).collect();
            let mut acc = 0.0;
            let walk: Vec<f64> = (0..500)
                .map(|_| {
                    acc += g.normal();
                    acc
                })
                .collect();
            found += usize::from(detect_season(&noise, None).is_some());
            found += usize::from(detect_season(&walk, None).is_some());
        }
        assert!(found <= 2, "{found} false detections out of 20");
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(detect_season(&[], None), None);
        assert_eq!(detect_season(&[1.0; 100], None), None);
        assert_eq!(detect_season(&[f64::NAN; 100], None), None);
        assert_eq!(
            detect_season(
                &[1e308, -1e308, 1e308, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
                None
            ),
            None
        );
    }
}
