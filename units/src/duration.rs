//! Durations: Prometheus' grammar, and the settings grammar that also takes plain seconds.

use std::time::Duration;

use crate::ParseError;

/// Units of Prometheus' grammar, in the only order they may appear, with their milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Longest duration Prometheus represents: `i64::MAX` nanoseconds, in milliseconds.
const MAX_MS: u64 = i64::MAX as u64 / 1_000_000;

fn bad(text: &str, reason: impl Into<String>) -> ParseError {
    ParseError::Duration {
        text: text.to_owned(),
        reason: reason.into(),
    }
}

/// A duration in Prometheus' grammar (`model.ParseDuration`): `0`, or whole numbers with units
/// from `y w d h m s ms`, largest first, each at most once (`1h30m`, `90s`, `1y` = 365 days), at
/// most `i64::MAX` nanoseconds. No blanks, signs or fractions.
pub fn parse_prom_duration(text: &str) -> Result<Duration, ParseError> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad(text, "empty"));
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let letters = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        if number.is_empty() {
            let what = if unit.is_empty() {
                after.chars().next().map(String::from)
            } else {
                Some(unit.to_owned())
            };
            return Err(bad(
                text,
                format!("expected a number before {}", what.unwrap_or_default()),
            ));
        }
        if unit.is_empty() {
            return Err(bad(
                text,
                format!("missing unit after {number} (y, w, d, h, m, s or ms)"),
            ));
        }
        let Some(pos) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad(text, format!("unknown unit {unit}")));
        };
        if pos < next_unit {
            return Err(bad(
                text,
                format!("unit {unit} out of order (y, w, d, h, m, s, ms: largest first, each once)"),
            ));
        }
        next_unit = pos + 1;
        total = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(UNITS[pos].1))
            .and_then(|ms| total.checked_add(ms))
            .filter(|&ms| ms <= MAX_MS)
            .ok_or_else(|| bad(text, "too large"))?;
        rest = after;
    }
    Ok(Duration::from_millis(total))
}

/// A duration setting or flag: a Prometheus duration ([`parse_prom_duration`]) or a plain
/// non-negative number of seconds (`2.5`); blanks around it are ignored.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let s = text.trim();
    match s.parse::<f64>() {
        Ok(secs) if secs.is_nan() || secs < 0.0 => Err(bad(text, "must be a non-negative number of seconds")),
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| bad(text, "too large")),
        Err(_) => parse_prom_duration(s).map_err(|e| bad(text, e.reason())),
    }
}

/// The shortest whole-unit form of a duration, from days down to milliseconds (`30d`, `90m`,
/// `1500ms`); sub-millisecond parts are dropped. [`parse_duration`] and [`parse_prom_duration`]
/// read it back.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in &UNITS[2..] {
        let size = u128::from(*size);
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Formats `ms`, parses it back with both grammars and checks the value survives.
    fn round_trip(ms: u64) {
        let d = Duration::from_millis(ms);
        let text = format_duration(d);
        assert_eq!(parse_duration(&text), Ok(d), "{text}");
        assert_eq!(parse_prom_duration(&text), Ok(d), "{text}");
    }

    #[test]
    fn prometheus_grammar() {
        let ok = [
            ("0", 0),
            ("500ms", 500),
            ("90s", 90_000),
            ("1h30m", 5_400_000),
            ("1d2h", 93_600_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1y", 31_536_000_000),
            ("1y1w1d1h1m1s1ms", 31_536_000_000 + 604_800_000 + 86_400_000 + 3_661_001),
        ];
        for (text, ms) in ok {
            assert_eq!(parse_prom_duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        let errors = [
            ("", "empty"),
            ("1x", "unknown unit x"),
            ("5", "missing unit after 5 (y, w, d, h, m, s or ms)"),
            ("h", "expected a number before h"),
            ("-1m", "expected a number before -"),
            (
                "30m1h",
                "unit h out of order (y, w, d, h, m, s, ms: largest first, each once)",
            ),
            (
                "1m1m",
                "unit m out of order (y, w, d, h, m, s, ms: largest first, each once)",
            ),
            ("300y", "too large"),
            ("99999999999999999999999y", "too large"),
        ];
        for (text, reason) in errors {
            let e = parse_prom_duration(text).unwrap_err();
            assert_eq!(e.reason(), reason, "{text}");
        }
        assert_eq!(
            parse_prom_duration("1x").unwrap_err().to_string(),
            "bad duration \"1x\": unknown unit x"
        );
        assert!(parse_prom_duration(" 1m").is_err());
        assert!(parse_prom_duration("1.5s").is_err());
        assert!(parse_prom_duration("292y").is_ok());
    }

    #[test]
    fn settings_grammar() {
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration(" 30d "), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for text in ["-1", "NaN", "1e300", "inf", "", "1h-", "10x"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
        assert_eq!(
            parse_duration(" 1x").unwrap_err().to_string(),
            "bad duration \" 1x\": unknown unit x"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(Duration::from_secs(86_400 * 30)), "30d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
        for ms in [0, 1, 999, 1000, 60_000, 86_400_000, 7 * 86_400_000] {
            round_trip(ms);
        }
    }

    proptest! {
        #[test]
        fn format_then_parse(ms in 0..=MAX_MS) {
            round_trip(ms);
        }

        #[test]
        fn composite_durations(parts in proptest::collection::vec(0u64..250, 7)) {
            let text: String = parts.iter().zip(UNITS).map(|(n, (u, _))| format!("{n}{u}")).collect();
            let ms: u64 = parts.iter().zip(UNITS).map(|(n, (_, size))| n * size).sum();
            prop_assert_eq!(parse_prom_duration(&text), Ok(Duration::from_millis(ms)));
        }

        #[test]
        fn never_panics(text in "\\PC{0,12}") {
            let _ = parse_duration(&text);
        }
    }
}
