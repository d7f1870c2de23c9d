//! A second, longer seasonal period (MSTL-style): half-hourly demand with a daily season of 48
//! and a weekly one of 336, hourly data with 24 and 168, minutely data with 1,440 and 10,080.
//!
//! ETS models one season. When the period `m` is a day on a common sampling grid (24, 48, 96,
//! 144, 288, 1,440, ... points), the history holds at least `MIN_CYCLES` (5) weeks (`M = 7 m`)
//! and the weekly profile explains clearly more of the detrended variance than the daily one
//! alone (an adjusted 10%), the part of the weekly profile that does not repeat every day is
//! estimated robustly from the recent weeks (a trimmed mean per phase over the last 8, so the
//! profile follows a slowly changing pattern), removed from the series, and the usual automatic
//! ETS choice is fitted to the rest with period `m`; forecasts and intervals get the profile back.
//! Only this pair is tried: a multi-year profile on monthly data (El Nino) passed the backtest
//! below and then forecast worse.
//!
//! The two-season model replaces the single-season one only when it forecasts clearly and
//! significantly closer out of sample: both are refitted on the history before the last rolling
//! origins (the profile too, from that history alone) and backtested `M` steps ahead, with the
//! margin and Diebold-Mariano test of the single-season choice. The winner's intervals are then
//! calibrated on those same `M`-step errors, so they allow for the profile's own error.

use super::calibration::IntervalCalibration;
use super::estimate::fit_variant;
use super::fitted::{FittedModel, finish};
use super::profile::{estimate, long_period};
use super::select::{SELECTION_MARGIN, SELECTION_Z, backtest_errors, backtest_origins, dm_statistic, mean_abs};
use crate::error::Result;
use crate::season::fill_gaps;

/// Fewest cycles of the long period the history must hold: three to estimate the profile (the
/// centred moving average that detrends it loses half a cycle at either end) and two more for
/// the backtest that decides whether it is used.
const MIN_CYCLES: usize = 5;

/// The single-season automatic choice `single` (fitted with period `short`) or, when it
/// forecasts clearly closer on the backtest, the same automatic choice fitted after removing a
/// longer seasonal profile (see the module documentation). `fit_auto` is the automatic choice
/// on a normalised series.
pub(super) fn with_long_season(
    y: &[f64],
    lead: usize,
    scale: f64,
    short: usize,
    single: FittedModel,
    evals: usize,
    fit_auto: impl Fn(&[f64]) -> Result<FittedModel>,
) -> FittedModel {
    let Some(x) = (short >= 2).then(|| fill_gaps(y)).flatten() else {
        return single;
    };
    let Some(long) = long_period(y, &x, short, MIN_CYCLES) else {
        return single;
    };
    let origins = backtest_origins(y.len(), long, 3 * long, 0.5);
    let Some(&first) = origins.first() else {
        return single;
    };
    let train = &y[..first];
    // Both refitted before the first origin (the profile too) and forecast `long` steps ahead.
    let Some(past_long) = estimate(train, short, long) else {
        return single;
    };
    let z_all = past_long.remove_from(y);
    let Some(full_long) = estimate(y, short, long) else {
        return single;
    };
    let Ok(two) = fit_auto(&full_long.remove_from(y)) else {
        return single;
    };
    let past = |series: &[f64], model: &FittedModel| {
        let raw = fit_variant(&series[..first], model.spec, model.period, evals).ok()?;
        Some(finish(&series[..first], lead, scale, model.spec, model.period, raw))
    };
    let (Some(past_single), Some(past_two)) = (past(y, &single), past(&z_all, &two)) else {
        return single;
    };
    let errors_single = backtest_errors(&past_single, y, &origins, long);
    let errors_two = backtest_errors(&past_two, &z_all, &origins, long);
    let stride = origins.get(1).map_or(1, |o| o - first).max(1);
    let better = mean_abs(&errors_two) < mean_abs(&errors_single) * (1.0 - SELECTION_MARGIN)
        && dm_statistic(&errors_single, &errors_two, long, stride) >= SELECTION_Z;
    if !better {
        return single;
    }
    let mut model = two;
    // In-sample values in the data's units: the profile back on the fitted values.
    for (i, f) in model.fitted.iter_mut().enumerate().skip(lead) {
        *f += full_long.profile[(i - lead) % long] * scale;
    }
    if let Some(cal) = IntervalCalibration::new(&past_two.error_sd(long), &errors_two, origins.len(), long) {
        model.calibration = Some(cal);
    }
    model.long = Some(full_long);
    model
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ets::fit::{FitOptions, Season, fit};
    use crate::rng::SplitMix64;

    /// Hourly data with a daily cycle and a weekday/weekend pattern, a slow trend and noise.
    fn two_seasons(n: usize, daily: f64, weekly: f64, seed: u64) -> Vec<f64> {
        let mut g = SplitMix64::new(seed);
        (0..n)
            .map(|t| {
                let day = std::f64::consts::TAU * (t % 24) as f64 / 24.0;
                let weekend = if (t / 24) % 7 >= 5 { -weekly } else { 0.4 * weekly };
                100.0 + 0.01 * t as f64 + daily * day.sin() + weekend + g.normal()
            })
            .collect()
    }

    fn mae_vs(fc: &[f64], truth: &[f64]) -> f64 {
        fc.iter().zip(truth).map(|(a, b)| (a - b).abs()).sum::<f64>() / fc.len() as f64
    }

    /// A weekly pattern on hourly data: the default fit finds the daily season, models the week
    /// on top of it and forecasts the coming week far closer than the daily model alone (and than
    /// the seasonal naive forecast at either period), with intervals that cover the truth.
    #[test]
    fn a_weekly_pattern_on_a_daily_season_is_modelled() {
        let full = two_seasons(24 * 7 * 10 + 168, 20.0, 6.0, 5);
        let (y, test) = full.split_at(full.len() - 168);
        let given = FitOptions {
            season: Season::Period(24),
            ..FitOptions::default()
        };
        assert_eq!(fit(y, &given).unwrap().long_season(), Some(168));
        let model = fit(y, &FitOptions::default()).unwrap();
        assert_eq!(model.period(), 24);
        assert_eq!(model.long_season(), Some(168));
        let fc = model.forecast(168, 0.95).unwrap();
        let err = mae_vs(&fc.mean, test);
        let naive_week: Vec<f64> = y[y.len() - 168..].to_vec();
        let naive_day: Vec<f64> = (0..168).map(|h| y[y.len() - 24 + h % 24]).collect();
        assert!(
            err < 0.8 * mae_vs(&naive_week, test),
            "{err} vs {}",
            mae_vs(&naive_week, test)
        );
        assert!(
            err < 0.3 * mae_vs(&naive_day, test),
            "{err} vs {}",
            mae_vs(&naive_day, test)
        );
        assert!(err < 1.5, "{err}");
        let covered = (0..168)
            .filter(|&h| fc.lower[h] <= test[h] && test[h] <= fc.upper[h])
            .count();
        assert!(covered >= 150, "{covered} of 168");
        assert_eq!(model.fitted().len(), y.len());
        let fit_err = mae_vs(&model.fitted()[24..], &y[24..]);
        assert!(fit_err < 2.0, "{fit_err}");
    }

    /// Updating a two-season model with new points keeps the weekly phase: its next forecast is
    /// that of a model fitted on everything, near enough.
    #[test]
    fn update_keeps_the_long_phase() {
        let full = two_seasons(24 * 7 * 10 + 100, 20.0, 6.0, 6);
        let (y, new) = full.split_at(24 * 7 * 10);
        let mut model = fit(y, &FitOptions::default()).unwrap();
        assert_eq!(model.long_season(), Some(168));
        let (sq, count) = model.update(new);
        assert_eq!(count, 100);
        assert!(sq / 100.0 < 4.0, "{}", sq / 100.0);
        let truth = two_seasons(full.len() + 68, 20.0, 6.0, 6);
        let fc = model.forecast(68, 0.95).unwrap();
        let err = mae_vs(&fc.mean, &truth[full.len()..]);
        assert!(err < 2.0, "{err}");
    }

    /// One season only, or a long profile too weak to matter: the single-season model stands.
    #[test]
    fn single_season_series_keep_one_season() {
        let flat = two_seasons(24 * 7 * 8, 20.0, 0.0, 7);
        let model = fit(&flat, &FitOptions::default()).unwrap();
        assert_eq!(model.period(), 24);
        assert_eq!(model.long_season(), None);
        // Too short a history for the long period: not tried.
        let short = two_seasons(24 * 7 * 4, 20.0, 6.0, 8);
        assert_eq!(fit(&short, &FitOptions::default()).unwrap().long_season(), None);
    }

    #[test]
    fn the_long_profile_repeats_only_every_long_period() {
        let y = two_seasons(24 * 7 * 9, 10.0, 8.0, 9);
        let x = fill_gaps(&y).unwrap();
        assert_eq!(long_period(&y, &x, 24, MIN_CYCLES), Some(168));
        let ls = estimate(&y, 24, 168).unwrap();
        for p in 0..24 {
            let s: f64 = (0..7).map(|j| ls.profile[p + 24 * j]).sum();
            assert!(s.abs() < 1e-9, "phase {p}: {s}");
        }
        // Weekend phases well below the weekdays (1.4 x 8 apart in the data).
        let weekday = ls.profile[24 * 2 + 12];
        let weekend = ls.profile[24 * 6 + 12];
        assert!(weekday - weekend > 9.0, "{weekday} {weekend}");
    }
}
