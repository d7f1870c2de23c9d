//! Go's time formats for alert JSON: `time.Time`'s RFC 3339 with nanoseconds (trailing zeros
//! dropped; the API's `activeAt`, `lastEvaluation`) and OpenAPI's fixed milliseconds
//! (Alertmanager's `startsAt`, `endsAt`). Always UTC.

/// Go's zero `time.Time`, as it marshals.
pub(crate) const ZERO: &str = "0001-01-01T00:00:00Z";

fn parts(ms: i64) -> (String, i64) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let (y, m, d) = foresight_units::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    (
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        frac,
    )
}

/// `2026-12-07T14:37:23.12Z` (Go's `RFC3339Nano`, as `encoding/json` writes a `time.Time`).
pub(crate) fn nano(ms: i64) -> String {
    let (mut out, frac) = parts(ms);
    if frac != 0 {
        let f = format!(".{frac:03}");
        out.push_str(f.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// `2026-12-07T14:37:23.120Z` (OpenAPI's `strfmt.DateTime`, Alertmanager's API v2).
pub(crate) fn millis(ms: i64) -> String {
    let (out, frac) = parts(ms);
    format!("{out}.{frac:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(nano(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(nano(1_700_000_000_120), "2023-11-14T22:13:20.12Z");
        assert_eq!(millis(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(nano(0), "1970-01-01T00:00:00Z");
    }
}
