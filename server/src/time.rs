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
    parse_rfc3339(s).ok_or_else(err)
}

/// RFC 3339 with optional fractional seconds and a `Z` or `±hh:mm` offset, to milliseconds
/// (fractions below the millisecond are truncated, as Prometheus does).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = s.get(start..i)?;
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse().ok()?;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(c @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let sign = if *c == b'+' { 1 } else { -1 };
            sign * (num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?)
        }
        _ => return None,
    };
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60) * 1000 + ms)
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
