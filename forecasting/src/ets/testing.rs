//! Series and options shared by the ETS modules' unit tests.

use super::fit::{FitOptions, ModelChoice, Season};
use super::model::{ModelSpec, Seasonality, Trend};
use crate::rng::SplitMix64;

pub(super) fn series(n: usize, m: usize, seed: u64, noise: f64) -> Vec<f64> {
    let mut g = SplitMix64::new(seed);
    (0..n)
        .map(|t| {
            let ph = std::f64::consts::TAU * (t % m) as f64 / m as f64;
            50.0 + 0.05 * t as f64 + 5.0 * ph.sin() + noise * g.normal()
        })
        .collect()
}

pub(super) fn fixed(t: Trend, s: Seasonality, m: usize) -> FitOptions {
    FitOptions {
        model: ModelChoice::Fixed(ModelSpec::new(t, s)),
        season: Season::Period(m),
        ..FitOptions::default()
    }
}
