//! Integration tests of foresight-forecasting (one binary): accuracy against statsmodels and
//! scikit-learn fixtures, interval calibration, anomaly detection quality.

// Test helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used)]

mod anomalies;
mod calibration;
mod common;
mod reference;
mod robustness;
mod selection;
