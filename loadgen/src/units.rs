//! Durations for the command line (the grammar is `foresight-units`'), and byte sizes and counts
//! rounded for the report's tables.

use std::time::Duration;

pub use foresight_units::format_duration;

use crate::Error;

/// Parses a duration in the grammar of every foresight setting ([`foresight_units::parse_duration`]):
/// `10s`, `500ms`, `5m`, `2h`, `30d`, `1w`, `1y` (365 d), `1h30m` (units largest first), or a plain
/// number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, Error> {
    foresight_units::parse_duration(text).map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// `1.5 GiB`, `12.0 MiB`, `512 B`.
pub fn format_bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n;
    let mut i = 0;
    while v.abs() >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// `2.06M`, `913k`, `12` (for rates and counts in tables).
pub fn format_count(n: f64) -> String {
    let a = n.abs();
    if a >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", n / 1e3)
    } else if a >= 100.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        // The grammar is tested in foresight-units; here, that its errors become ours.
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(matches!(
            parse_duration("10x"),
            Err(Error::InvalidArgument(e)) if e == "bad duration \"10x\": unknown unit x"
        ));
    }

    #[test]
    fn formats() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0), "1.5 KiB");
        assert_eq!(format_count(2_060_000.0), "2.06M");
        assert_eq!(format_count(913_400.0), "913k");
    }
}
