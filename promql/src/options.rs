//! Engine settings, shared by the query entry points and the evaluator (a leaf module: it
//! imports nothing from the crate).

use std::time::Duration;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (default 5 minutes).
    pub lookback_delta: Duration,
    /// Most samples a query may hold: samples read from storage plus points of intermediate
    /// results, counted over the whole query (default 50 million).
    pub max_samples: u64,
    /// Longest a query may run; `None` for no limit (default 2 minutes).
    pub timeout: Option<Duration>,
    /// Step of subqueries written without one, like `x[1h:]` (default 1 minute, Prometheus'
    /// default evaluation interval).
    pub default_subquery_step: Duration,
    /// Whether range functions over long windows may read the storage's rollups
    /// ([`crate::Storage::select_rollups`]) instead of every raw sample (default true; the HTTP
    /// API's `raw=true` turns it off for one query).
    pub rollups: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Some(Duration::from_secs(120)),
            default_subquery_step: Duration::from_secs(60),
            rollups: true,
        }
    }
}

impl EngineOptions {
    pub(crate) fn lookback_delta_ms(&self) -> i64 {
        i64::try_from(self.lookback_delta.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookback_is_at_least_one_millisecond_and_saturates() {
        let with = |d: Duration| {
            EngineOptions {
                lookback_delta: d,
                ..EngineOptions::default()
            }
            .lookback_delta_ms()
        };
        assert_eq!(EngineOptions::default().lookback_delta_ms(), 300_000);
        assert_eq!(with(Duration::ZERO), 1);
        assert_eq!(with(Duration::from_micros(10)), 1);
        assert_eq!(with(Duration::MAX), i64::MAX);
    }
}
