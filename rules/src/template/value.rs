//! The values a template computes with, and how Go prints and compares them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::gofmt::go_float;

/// A value in a template: what Go's reflection would see for Prometheus' data and functions.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A missing value (`nil`, a missing map key of an `interface{}` map): prints `<no value>`.
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `float64`.
    Float(f64),
    /// `string`.
    Str(String),
    /// `map[string]string` (label sets): a missing key reads as `""`.
    Labels(Arc<BTreeMap<String, String>>),
    /// A struct (the template data, a query's sample: `.Labels`, `.Value`): a missing field is
    /// an error.
    Struct(Arc<Vec<(&'static str, Value)>>),
    /// A slice (a query's result).
    List(Arc<Vec<Value>>),
    /// A `time.Time`, in milliseconds since the epoch (UTC).
    Time(i64),
}

impl Value {
    /// A label set.
    pub fn labels<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Value::Labels(Arc::new(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()))
    }

    /// A query's sample: a struct with `Labels` and `Value`, as Prometheus' `sample`.
    pub fn sample(labels: BTreeMap<String, String>, value: f64) -> Self {
        Value::Struct(Arc::new(vec![
            ("Labels", Value::Labels(Arc::new(labels))),
            ("Value", Value::Float(value)),
        ]))
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Labels(_) => "map[string]string",
            Value::Struct(_) => "struct",
            Value::List(_) => "slice",
            Value::Time(_) => "time.Time",
        }
    }

    /// Go's truth: false, 0, nil and empty strings, maps and slices are false.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Labels(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Struct(_) | Value::Time(_) => true,
        }
    }

    /// `.Name` of this value.
    pub(crate) fn field(&self, name: &str) -> Result<Value, String> {
        match self {
            Value::Labels(m) => Ok(Value::Str(m.get(name).cloned().unwrap_or_default())),
            Value::Struct(fields) => fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("can't evaluate field {name} in type struct")),
            Value::Nil => Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => Err(format!("can't evaluate field {name} in type {}", other.type_name())),
        }
    }

    /// Go's `fmt.Sprint` of the value.
    pub(crate) fn print(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<no value>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::Labels(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "{k}:{v}");
                }
                out.push(']');
            }
            Value::Struct(fields) => {
                out.push('{');
                for (i, (_, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.print_nested(out);
                }
                out.push('}');
            }
            Value::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.print_nested(out);
                }
                out.push(']');
            }
            Value::Time(ms) => out.push_str(&go_time(*ms)),
        }
    }

    /// Inside a composite Go prints nil as `<nil>`.
    fn print_nested(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            v => v.print(out),
        }
    }

    pub(crate) fn to_text(&self) -> String {
        let mut s = String::new();
        self.print(&mut s);
        s
    }
}

/// Go's `time.Time.String()` of a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn go_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = foresight_units::civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        let f = format!("{frac:03}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_prints() {
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(go_time(1_435_065_584_128), "2015-06-23 13:19:44.128 +0000 UTC");
        assert_eq!(go_time(-1000), "1969-12-31 23:59:59 +0000 UTC");
        assert_eq!(Value::labels([("a", "1"), ("b", "2")]).to_text(), "map[a:1 b:2]");
        assert_eq!(
            Value::List(Arc::new(vec![Value::Int(1), Value::Nil])).to_text(),
            "[1 <nil>]"
        );
        assert!(!Value::Str(String::new()).truth());
        assert!(Value::Float(0.5).truth());
    }
}
