//! Detection quality on synthetic series with planted anomalies.
