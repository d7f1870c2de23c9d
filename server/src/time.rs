//! Times and durations as the Prometheus HTTP API spells them (the grammar of durations and sizes
//! is `foresight-units`').

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Prometheus' smallest and largest times, as its Go client formats them for "no bound".
const MIN_TIME_RFC3339: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_RFC3339: &str = "292277025-12-04T15:30:07.999999999Z";

/// A `time`/`start`/`end` parameter: unix seconds (fractions allowed, rounded to the
/// millisecond) or RFC 3339, to milliseconds. The error is Prometheus' message.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let err = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_nan() {
            return Err(err());
        }
        let whole = secs.trunc();
        let frac = ((secs - whole) * 1000.0).round();
        // `as` saturates at the i64 range, which is what an unbounded time means here.
        return Ok((whole * 1000.0 + frac) as i64);
    }
    match s {
        MIN_TIME_RFC3339 => return Ok(i64::MIN),
        MAX_TIME_RFC3339 => return Ok(i64::MAX),
        _ => {}
    }
    foresight_units::parse_rfc3339(s).ok_or_else(err)
}

/// A `step`/`timeout`/`interval` parameter: float seconds or a Prometheus duration (`1h30m`),
/// to milliseconds (truncated). The error is Prometheus' message.
pub(crate) fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ns = secs * 1e9;
        if ns.is_nan() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!("cannot parse {s:?} to a valid duration. It overflows int64"));
        }
        return Ok((ns as i64) / 1_000_000);
    }
    foresight_units::parse_prom_duration(s)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1699920000"), Ok(1_699_920_000_000));
        assert_eq!(parse_time("1699920000.5"), Ok(1_699_920_000_500));
        assert_eq!(parse_time("1699920000.0004"), Ok(1_699_920_000_000));
        assert_eq!(parse_time("-1.5"), Ok(-1_500));
        assert_eq!(parse_time("2023-11-14T00:00:00Z"), Ok(1_699_920_000_000));
        assert_eq!(parse_time("2023-11-14T01:00:00.25+01:00"), Ok(1_699_920_000_250));
        assert_eq!(parse_time("2023-11-14T00:00:00.123456789Z"), Ok(1_699_920_000_123));
        assert_eq!(parse_time(MIN_TIME_RFC3339), Ok(i64::MIN));
        assert!(parse_time("-9223372036.854776").is_ok_and(|t| t < -9_223_372_036_000));
        assert_eq!(
            parse_time("yesterday"),
            Err("cannot parse \"yesterday\" to a valid timestamp".into())
        );
        assert!(parse_time("2023-02-30T00:00:00Z").is_err());
        assert!(parse_time("2023-11-14T00:00:00").is_err());
        assert!(parse_time("").is_err());
        assert!(parse_time("NaN").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("15"), Ok(15_000));
        assert_eq!(parse_duration_ms("0.5"), Ok(500));
        assert_eq!(parse_duration_ms("5m"), Ok(300_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("1d2h"), Ok(93_600_000));
        assert_eq!(parse_duration_ms("100ms"), Ok(100));
        assert_eq!(parse_duration_ms("-10"), Ok(-10_000));
        assert!(parse_duration_ms("30m1h").is_err());
        assert!(parse_duration_ms("5x").is_err());
        assert!(parse_duration_ms("").is_err());
        assert_eq!(
            parse_duration_ms("1e30"),
            Err("cannot parse \"1e30\" to a valid duration. It overflows int64".into())
        );
    }
}
