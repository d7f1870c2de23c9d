//! The longer seasonal profile of a two-season model: which multiple of the fitted period is
//! worth it, its robust estimate, and its removal from the series and from new points. The
//! choice whether to use it is `multi`'s; forecasting adds it back.

use crate::season::{MIN_STRENGTH, centred_ma, fill_gaps, seasonal_strength};

/// Points per day of the common sampling grids (1 h, 30, 15, 10, 5 and 1 min, 30, 20 and 10 s):
/// the short periods a weekly one is looked for on.
const DAILY_PERIODS: [usize; 9] = [24, 48, 96, 144, 288, 1440, 2880, 4320, 8640];
/// Adjusted share of the variance left by the short season that the long profile must explain
/// to be tried at all (each candidate costs a second automatic fit).
const MIN_GAIN: f64 = 0.1;
/// The ratio of the one pair of periods a detected period is split into.
const DAYS_A_WEEK: usize = 7;
/// Cycles of the long period the profile is estimated from (the most recent ones).
const RECENT_CYCLES: usize = 8;

/// The long seasonal profile a model removed before fitting and adds back to its forecasts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LongSeason {
    /// Its period, a multiple of the model's.
    pub(super) period: usize,
    /// Additive profile per phase, in normalised units, zero on average over every short cycle.
    pub(super) profile: Vec<f64>,
    /// Phase of the next point after the last one seen.
    pub(super) next: usize,
}

impl LongSeason {
    /// The profile `k` steps after the last point seen (0 = the next point).
    pub(super) fn ahead(&self, k: usize) -> f64 {
        self.profile[(self.next + k) % self.period]
    }

    /// `values` (normalised units, phases from 0) without the profile.
    pub(super) fn remove_from(&self, values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .enumerate()
            .map(|(t, v)| v - self.profile[t % self.period])
            .collect()
    }

    /// Removes the profile from `values`, the points after the last one seen (data units, NaN
    /// for gaps), and moves past them.
    pub(super) fn take(&mut self, values: &[f64], scale: f64) -> Vec<f64> {
        let out = values
            .iter()
            .enumerate()
            .map(|(k, v)| v - self.ahead(k) * scale)
            .collect();
        self.next = (self.next + values.len()) % self.period;
        out
    }
}

/// Detrended series: `x` minus its centred moving average of order `long`, with the phase
/// (index modulo `long`) of each point; points where `y` is missing or the average does not
/// reach are left out.
fn detrended(y: &[f64], x: &[f64], long: usize) -> Vec<(usize, f64)> {
    centred_ma(x, long)
        .into_iter()
        .enumerate()
        .filter_map(|(t, a)| Some((t, x[t] - a?)))
        .filter(|&(t, _)| y[t].is_finite())
        .collect()
}

/// Per-phase profile of period `long` of the `(index, value)` pairs in `d`, minus its average
/// over the phases that share a short phase (which the short season models), so the result
/// repeats only every `long` points. `trim` drops that share of each phase's values at either
/// end before averaging.
fn long_only(d: &[(usize, f64)], short: usize, long: usize, trim: f64) -> Vec<f64> {
    let mut by_phase = vec![Vec::new(); long];
    for &(t, v) in d {
        by_phase[t % long].push(v);
    }
    let profile: Vec<f64> = by_phase
        .iter_mut()
        .map(|vs| {
            if vs.is_empty() {
                return 0.0;
            }
            vs.sort_by(f64::total_cmp);
            let cut = (vs.len() as f64 * trim) as usize;
            let kept = &vs[cut..vs.len() - cut];
            kept.iter().sum::<f64>() / kept.len() as f64
        })
        .collect();
    let k = long / short;
    let short_mean: Vec<f64> = (0..short)
        .map(|p| (0..k).map(|j| profile[p + j * short]).sum::<f64>() / k as f64)
        .collect();
    profile
        .iter()
        .enumerate()
        .map(|(p, v)| v - short_mean[p % short])
        .collect()
}

/// The long period worth trying for a series fitted with period `short`: a week of days
/// (`short` one of [`DAILY_PERIODS`], the long period 7 times it), if its long-only profile
/// explains an adjusted share of at least [`MIN_GAIN`] of the variance the short profile leaves
/// and the history holds `min_cycles` weeks. Other multiples are not tried: on the wide
/// evaluation a multi-year profile on a monthly series (El Nino's, 5 cycles of 2-8 years) passed
/// the backtest and then forecast worse (MASE 0.785 to 0.842 relative to seasonal naive).
pub(super) fn long_period(y: &[f64], x: &[f64], short: usize, min_cycles: usize) -> Option<usize> {
    if !DAILY_PERIODS.contains(&short) {
        return None;
    }
    let long = short * DAYS_A_WEEK;
    if y.len() < min_cycles * long {
        return None;
    }
    let d = detrended(y, x, long);
    let nd = d.len() as f64;
    if nd <= (long + 1) as f64 {
        return None;
    }
    let lo = long_only(&d, short, long, 0.0);
    // The short season's own profile, from the same points.
    let mut sums = vec![0.0; short];
    let mut counts = vec![0usize; short];
    for &(t, v) in &d {
        sums[t % short] += v;
        counts[t % short] += 1;
    }
    let (mut var_short, mut var_long) = (0.0, 0.0);
    for &(t, v) in &d {
        let r = v - sums[t % short] / counts[t % short].max(1) as f64;
        var_short += r * r;
        var_long += (r - lo[t % long]).powi(2);
    }
    let gain = 1.0 - (var_long / (nd - long as f64)) / (var_short / (nd - short as f64));
    (var_short > 0.0 && gain.is_finite() && gain >= MIN_GAIN).then_some(long)
}

/// The long seasonal profile of period `long` from the last [`RECENT_CYCLES`] cycles of `y`
/// (normalised units, gaps NaN): a trimmed mean per phase (a quarter dropped at either end, so
/// a holiday in one cycle does not shape every later one).
pub(super) fn estimate(y: &[f64], short: usize, long: usize) -> Option<LongSeason> {
    let x = fill_gaps(y)?;
    let from = y.len().saturating_sub((RECENT_CYCLES + 1) * long);
    let d: Vec<(usize, f64)> = detrended(y, &x, long).into_iter().filter(|&(t, _)| t >= from).collect();
    let profile = long_only(&d, short, long, 0.25);
    profile.iter().all(|v| v.is_finite()).then_some(LongSeason {
        period: long,
        profile,
        next: y.len() % long,
    })
}

/// When the detected period `period` is itself the long one (a weekly cycle stronger than the
/// daily one in it): a seventh of it when that is one of [`DAILY_PERIODS`] with a seasonal
/// strength detection would accept on its own. Other divisors are not tried: a half-day holds
/// the harmonics of any daily cycle and would pass this test.
pub(super) fn shorter_period(y: &[f64], period: usize) -> Option<usize> {
    let x = fill_gaps(y)?;
    let m = period / DAYS_A_WEEK;
    (period.is_multiple_of(DAYS_A_WEEK) && DAILY_PERIODS.contains(&m) && seasonal_strength(&x, m) >= MIN_STRENGTH)
        .then_some(m)
}
