//! Integration tests of foresight-forecasting (one binary): accuracy against statsmodels and
//! scikit-learn fixtures, interval calibration, anomaly detection quality.

mod anomalies;
mod calibration;
mod common;
mod reference;
