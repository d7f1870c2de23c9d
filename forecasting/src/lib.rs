//! Forecasting and anomaly detection for foresight (being written).
