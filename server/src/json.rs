//! JSON in Prometheus' conventions, byte for byte as Prometheus (Go) writes it: sample values as
//! strings in Go's shortest `'f'` format (`NaN`, `+Inf` and `-Inf` included, which JSON numbers
//! cannot hold), timestamps as float seconds, strings escaped the way Go's `encoding/json` does
//! (HTML-safe), label sets as objects with sorted keys.
//!
//! Prometheus' own envelopes (query answers, errors) are written by hand here. foresight's own
//! schemas (forecasts, anomalies) are `#[derive(Serialize)]` types written by [`to_string`],
//! which keeps these conventions through [`PromValue`], [`PromTime`], [`PromLabels`] and Go's
//! string escaping.

use std::fmt::Write as _;
use std::io;

use foresight_engine::Labels;
use foresight_engine::promql::{Series, Value};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::ser::{CharEscape, Formatter};

/// Appends `s` as a JSON string literal, escaped as Go's `encoding/json` does.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Appends `s` escaped as inside a JSON string literal by Go's `encoding/json`.
fn push_escaped(out: &mut String, s: &str) {
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
    let _ = write!(out, "{}", GoFloat(v));
}

/// Displays as Go's `FormatFloat(v, 'f', -1, 64)` with Prometheus' `NaN`, `+Inf`, `-Inf`.
struct GoFloat(f64);

impl std::fmt::Display for GoFloat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            f64::INFINITY => f.write_str("+Inf"),
            f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
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
        push_str(out, l.name);
        out.push(':');
        push_str(out, l.value);
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
    push_each_series(out, m, |out, s| {
        for (j, &(t, v)) in s.samples.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_point(out, t, v);
        }
    });
}

/// `[{"metric":{..},"values":[..]},..]`, the values written by `values`.
fn push_each_series(out: &mut String, m: &[Series], mut values: impl FnMut(&mut String, &Series)) {
    out.push('[');
    for (i, s) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        push_labels(out, &s.labels);
        out.push_str(",\"values\":[");
        values(out, s);
        out.push_str("]}");
    }
    out.push(']');
}

/// The `data` object of a range query answer in columns (`format=columns`, a foresight extension
/// for charts): per series `{"metric":{..},"values":[..]}` with one entry per step from `start`
/// (`null` where the series has no point), values as JSON numbers (`"NaN"`, `"+Inf"`, `"-Inf"`
/// as strings), and `start` and `step` in seconds beside `result`. A third of the bytes of the
/// Prometheus form and no per-point arrays for the client to build. Other result types are
/// written as usual.
pub(crate) fn push_query_columns(out: &mut String, value: &Value, start_ms: i64, step_ms: i64, end_ms: i64) {
    let Value::Matrix(m) = value else {
        return push_query_data(out, value);
    };
    let steps = usize::try_from((end_ms - start_ms) / step_ms.max(1) + 1).unwrap_or(0);
    out.push_str("{\"resultType\":\"matrix\",\"format\":\"columns\",\"start\":");
    push_timestamp(out, start_ms);
    out.push_str(",\"step\":");
    push_timestamp(out, step_ms);
    out.push_str(",\"result\":");
    push_each_series(out, m, |out, s| {
        let mut next = 0usize;
        for &(t, v) in &s.samples {
            let Ok(j) = usize::try_from((t - start_ms) / step_ms.max(1)) else {
                continue;
            };
            if j < next || j >= steps {
                continue;
            }
            for k in next..j {
                out.push_str(if k == 0 { "null" } else { ",null" });
            }
            if j > 0 {
                out.push(',');
            }
            if v.is_finite() {
                let _ = write!(out, "{v}");
            } else {
                push_value(out, v);
            }
            next = j + 1;
        }
        for k in next..steps {
            out.push_str(if k == 0 { "null" } else { ",null" });
        }
    });
    out.push('}');
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

/// [`success`], with Prometheus 3's `infos` (notes on how the answer was computed) when there
/// are any.
pub(crate) fn success_with_infos(data: impl FnOnce(&mut String), infos: &[String]) -> String {
    let mut out = success(data);
    if !infos.is_empty() {
        out.pop();
        out.push_str(",\"infos\":");
        push_str_array(&mut out, infos.iter().map(String::as_str));
        out.push('}');
    }
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

/// A sample value as Prometheus writes it: a JSON string such as `"0.5"`, `"NaN"`, `"+Inf"`.
/// Never a bare JSON number, so NaN and the infinities need no special case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PromValue(pub(crate) f64);

impl Serialize for PromValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&GoFloat(self.0))
    }
}

/// A millisecond timestamp as Prometheus writes it: a JSON number of seconds, with up to three
/// decimals and no trailing zeros (`1700000000`, `1700000000.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PromTime(pub(crate) i64);

impl Serialize for PromTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            serializer.serialize_i64(self.0 / 1000)
        } else {
            // A decimal written exactly, not rounded through an f64.
            let mut text = String::with_capacity(24);
            push_timestamp(&mut text, self.0);
            serde_json::value::RawValue::from_string(text)
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer)
        }
    }
}

/// A label set as a JSON object, in the set's (sorted) order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PromLabels<'a>(pub(crate) &'a Labels);

impl Serialize for PromLabels<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for l in self.0.iter() {
            map.serialize_entry(l.name, l.value)?;
        }
        map.end()
    }
}

/// Writes `value` as compact JSON with Go's string escaping (see [`push_str`]).
pub(crate) fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(4096);
    value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, GoEscapes))?;
    String::from_utf8(out).map_err(serde::ser::Error::custom)
}

/// serde_json's compact output with strings escaped as [`push_escaped`] does.
struct GoEscapes;

impl Formatter for GoEscapes {
    /// A run without quotes, backslashes or control characters, which serde_json escapes
    /// through `write_char_escape`; Go also escapes `<`, `>`, `&`, U+2028 and U+2029.
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut out = String::with_capacity(fragment.len());
        push_escaped(&mut out, fragment);
        writer.write_all(out.as_bytes())
    }

    fn write_char_escape<W: ?Sized + io::Write>(&mut self, writer: &mut W, escape: CharEscape) -> io::Result<()> {
        let c = match escape {
            CharEscape::Quote => '"',
            CharEscape::ReverseSolidus => '\\',
            CharEscape::Solidus => '/',
            CharEscape::Backspace => '\u{8}',
            CharEscape::FormFeed => '\u{c}',
            CharEscape::LineFeed => '\n',
            CharEscape::CarriageReturn => '\r',
            CharEscape::Tab => '\t',
            CharEscape::AsciiControl(b) => char::from(b),
        };
        let mut out = String::with_capacity(6);
        push_escaped(&mut out, c.encode_utf8(&mut [0; 4]));
        writer.write_all(out.as_bytes())
    }
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
    fn range_answers_in_columns() {
        let m = Value::Matrix(vec![
            Series {
                labels: Labels::new([("__name__", "a")]),
                samples: vec![(10_000, 1.5), (30_000, f64::NAN), (40_000, f64::INFINITY)].into(),
            },
            Series {
                labels: Labels::new([("__name__", "b")]),
                samples: vec![(0, -0.0), (20_000, 1e21)].into(),
            },
        ]);
        let mut out = String::new();
        push_query_columns(&mut out, &m, 0, 10_000, 50_000);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!((v["start"].as_i64(), v["step"].as_i64()), (Some(0), Some(10)));
        assert_eq!(
            v["result"][0]["values"],
            serde_json::json!([null, 1.5, null, "NaN", "+Inf", null])
        );
        assert_eq!(
            v["result"][1]["values"],
            serde_json::json!([-0.0, null, 1e21, null, null, null])
        );
        assert_eq!(v["result"][1]["metric"]["__name__"], "b");
        // Anything but a matrix is written as usual.
        let mut out = String::new();
        push_query_columns(&mut out, &Value::Scalar { t: 1000, v: 2.0 }, 0, 1000, 1000);
        assert_eq!(out, r#"{"resultType":"scalar","result":[1,"2"]}"#);
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

    #[test]
    fn serde_output_keeps_the_hand_writers_bytes() {
        // Every character up to U+00FF, the line separators and some beyond.
        let mut text: String = (0u32..=0xff).filter_map(char::from_u32).collect();
        text.push_str("\u{2028}\u{2029}\u{fffd}😀");
        let mut by_hand = String::new();
        push_str(&mut by_hand, &text);
        assert_eq!(to_string(&text).unwrap(), by_hand);

        for v in [
            0.0,
            -0.0,
            0.1,
            1e21,
            1.5e-7,
            -2.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut by_hand = String::new();
            push_value(&mut by_hand, v);
            assert_eq!(to_string(&PromValue(v)).unwrap(), by_hand, "{v}");
        }
        for ms in [
            0,
            1_700_000_000_000,
            1_700_000_000_500,
            1_700_000_000_050,
            -1_500,
            -1_000,
            i64::MIN,
            i64::MAX,
        ] {
            assert_eq!(to_string(&PromTime(ms)).unwrap(), ts(ms), "{ms}");
        }
    }
}
