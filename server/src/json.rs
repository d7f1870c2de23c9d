//! JSON bodies written by hand, byte for byte as Prometheus (Go) writes them: sample values as
//! strings in Go's shortest `'f'` format, timestamps as float seconds, strings escaped the way
//! Go's `encoding/json` does (HTML-safe), label sets as objects with sorted keys.

use std::fmt::Write as _;

use foresight_engine::Labels;
use foresight_engine::promql::{Series, Value};

/// Appends `s` as a JSON string literal, escaped as Go's `encoding/json` does.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let needs_hex = matches!(c, '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        if esc.is_none() && !needs_hex {
            continue;
        }
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a sample value as Prometheus does: a JSON string holding Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, or `NaN`, `+Inf`, `-Inf`.
pub(crate) fn push_value(out: &mut String, v: f64) {
    out.push('"');
    push_float(out, v);
    out.push('"');
}

/// Go's `FormatFloat(v, 'f', -1, 64)` with Prometheus' spellings of the special values. Rust's
/// `Display` for `f64` is the same shortest round-trip decimal without an exponent.
pub(crate) fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Appends a millisecond timestamp as float seconds without trailing zeros
/// (`1700000000500` -> `1700000000.5`), as Prometheus' `jsonutil.MarshalTimestamp`.
pub(crate) fn push_timestamp(out: &mut String, ms: i64) {
    let ms = i128::from(ms);
    if ms < 0 {
        out.push('-');
    }
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    let _ = write!(out, "{secs}");
    if frac != 0 {
        let digits = format!("{frac:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// Appends a label set as a JSON object (labels are kept sorted by name, as Go sorts map keys).
pub(crate) fn push_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, &l.name);
        out.push(':');
        push_str(out, &l.value);
    }
    out.push('}');
}

fn push_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    push_timestamp(out, t);
    out.push(',');
    push_value(out, v);
    out.push(']');
}

fn push_matrix(out: &mut String, m: &[Series]) {
    out.push('[');
    for (i, s) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        push_labels(out, &s.labels);
        out.push_str(",\"values\":[");
        for (j, &(t, v)) in s.samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_point(out, t, v);
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// The `data` object of a query answer: `{"resultType":...,"result":...}`.
pub(crate) fn push_query_data(out: &mut String, value: &Value) {
    out.push_str("{\"resultType\":\"");
    out.push_str(value.type_name());
    out.push_str("\",\"result\":");
    match value {
        Value::Scalar { t, v } => push_point(out, *t, *v),
        Value::String { t, v } => {
            out.push('[');
            push_timestamp(out, *t);
            out.push(',');
            push_str(out, v);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                push_labels(out, &s.labels);
                out.push_str(",\"value\":");
                push_point(out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(m) => push_matrix(out, m),
    }
    out.push('}');
}

/// `{"status":"success","data":` + `data` + `}`.
pub(crate) fn success(data: impl FnOnce(&mut String)) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("{\"status\":\"success\",\"data\":");
    data(&mut out);
    out.push('}');
    out
}

/// A JSON array of strings.
pub(crate) fn push_str_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, s);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(v: f64) -> String {
        let mut s = String::new();
        push_float(&mut s, v);
        s
    }

    fn ts(ms: i64) -> String {
        let mut s = String::new();
        push_timestamp(&mut s, ms);
        s
    }

    #[test]
    fn floats_as_go_formats_them() {
        assert_eq!(val(1.0), "1");
        assert_eq!(val(-0.0), "-0");
        assert_eq!(val(0.1), "0.1");
        assert_eq!(val(1e21), "1000000000000000000000");
        assert_eq!(val(1.5e-7), "0.00000015");
        assert_eq!(val(f64::NAN), "NaN");
        assert_eq!(val(f64::INFINITY), "+Inf");
        assert_eq!(val(f64::NEG_INFINITY), "-Inf");
        assert_eq!(val(123456.789), "123456.789");
    }

    #[test]
    fn timestamps_as_float_seconds() {
        assert_eq!(ts(1_700_000_000_000), "1700000000");
        assert_eq!(ts(1_700_000_000_500), "1700000000.5");
        assert_eq!(ts(1_700_000_000_050), "1700000000.05");
        assert_eq!(ts(1_700_000_000_001), "1700000000.001");
        assert_eq!(ts(-1_500), "-1.5");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(i64::MIN), "-9223372036854775.808");
    }

    #[test]
    fn strings_escaped_like_go() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\n<&>\u{1}\u{2028}é");
        assert_eq!(s, r#""a\"b\\c\n\u003c\u0026\u003e\u0001\u2028é""#);
    }
}
