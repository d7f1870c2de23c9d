//! The functions a template may call: Go's built-ins (`and`, `eq`, `printf`, `len`, ...) and
//! Prometheus' (`template/template.go`: `humanize`, `query`, `first`, `label`, ...).

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::sync::Arc;

use super::exec::Env;
use super::gofmt::format_float;
use super::value::Value;

/// Every function name a template may use (checked at parse time, as Go does).
pub(crate) const NAMES: &[&str] = &[
    // Go's built-ins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    "slice", // Prometheus'.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "title",
    "toUpper",
    "toLower",
    "match",
    "reReplaceAll",
    "stripPort",
    "stripDomain",
    "safeHtml",
    "externalURL",
    "pathPrefix",
    "graphLink",
    "tableLink",
    "urlQueryEscape",
    "parseDuration",
    "now",
];

/// Why a call failed: wrong arguments (Go reports them without "error calling"), or the
/// function returned an error.
pub(crate) enum CallError {
    Arity(String),
    Failed(String),
}

fn failed(msg: impl Into<String>) -> CallError {
    CallError::Failed(msg.into())
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), CallError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(CallError::Arity(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

/// Prometheus' `convertToFloat`.
fn to_float(v: &Value) -> Result<f64, CallError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .parse::<f64>()
            .map_err(|_| failed(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
        Value::Time(ms) => Ok(*ms as f64 / 1000.0),
        other => Err(failed(format!("can't convert {} to float", other.type_name()))),
    }
}

fn to_str<'v>(name: &str, v: &'v Value) -> Result<&'v str, CallError> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(CallError::Arity(format!(
            "wrong type for value; expected string; got {} (in {name})",
            other.type_name()
        ))),
    }
}

fn g4(v: f64) -> String {
    format_float(v, 'g', Some(4))
}

const BIG: [&str; 8] = ["k", "M", "G", "T", "P", "E", "Z", "Y"];
const SMALL: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

/// Prometheus' `humanize`: `%.4g` with an SI prefix.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in BIG {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in SMALL {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanize1024`: `%.4g` with a binary prefix.
pub(crate) fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus' `humanizeDuration`: `1d 2h 3m 4s`, `2.5s`, `100ms`.
pub(crate) fn humanize_duration(mut v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86_400);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}s", g4(v))
        };
    }
    let mut prefix = "";
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Prometheus' `floatToTime` (to milliseconds, as `model.Time`).
fn float_to_time(v: f64) -> Result<Option<i64>, CallError> {
    if !v.is_finite() {
        return Ok(None);
    }
    let ns = v * 1e9;
    // `i64::MAX as f64` is 2^63, itself out of range.
    if !(i64::MIN as f64..i64::MAX as f64).contains(&ns) {
        return Err(failed(format!("{} out of range", format_float(v, 'g', None))));
    }
    Ok(Some((ns as i64).div_euclid(1_000_000)))
}

/// Go's `strings.Title`: the first letter of every word in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphanumeric()) && c.is_whitespace()
        };
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        a.print(&mut out);
    }
    out
}

fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(Value::to_text).collect();
    format!("{}\n", parts.join(" "))
}

/// Go's basic kinds, for comparisons.
#[derive(PartialEq)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, CallError> {
    if kind(a) != kind(b) {
        return Err(failed("incompatible types for comparison"));
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => return Ok(Some(x.cmp(y))),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => return Err(failed("invalid type for comparison")),
    })
}

fn eq(args: &[Value]) -> Result<bool, CallError> {
    let Some((first, rest)) = args.split_first() else {
        return Err(failed("missing argument for comparison"));
    };
    if rest.is_empty() {
        return Err(failed("missing argument for comparison"));
    }
    for b in rest {
        let same = match (first, b) {
            (Value::Nil, Value::Nil) => true,
            (Value::Nil, _) | (_, Value::Nil) => false,
            _ => compare(first, b)? == Some(Ordering::Equal),
        };
        if same {
            return Ok(true);
        }
    }
    Ok(false)
}

fn ordered(name: &str, args: &[Value], ok: fn(Ordering) -> bool) -> Result<Value, CallError> {
    want(name, args, 2)?;
    if matches!(args[0], Value::Bool(_)) {
        return Err(failed("invalid type for comparison"));
    }
    Ok(Value::Bool(compare(&args[0], &args[1])?.is_some_and(ok)))
}

fn sample_of(v: &Value) -> Option<&Arc<Vec<(&'static str, Value)>>> {
    match v {
        Value::Struct(s) => Some(s),
        _ => None,
    }
}

fn sample_labels(v: &Value) -> Option<&std::collections::BTreeMap<String, String>> {
    sample_of(v).and_then(|s| {
        s.iter().find_map(|(n, l)| match (n, l) {
            (&"Labels", Value::Labels(m)) => Some(m.as_ref()),
            _ => None,
        })
    })
}

/// Calls function `name`.
pub(crate) fn call(name: &str, args: Vec<Value>, env: &Env<'_>) -> Result<Value, CallError> {
    let a = &args;
    let float1 = |f: fn(f64) -> String| -> Result<Value, CallError> {
        want(name, a, 1)?;
        Ok(Value::Str(f(to_float(&a[0])?)))
    };
    let str1 = |f: fn(&str) -> String| -> Result<Value, CallError> {
        want(name, a, 1)?;
        Ok(Value::Str(f(to_str(name, &a[0])?)))
    };
    match name {
        "and" | "or" => {
            if a.is_empty() {
                return Err(CallError::Arity(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )));
            }
            let stop = |v: &Value| if name == "and" { !v.truth() } else { v.truth() };
            Ok(a.iter().find(|v| stop(v)).unwrap_or(&a[a.len() - 1]).clone())
        }
        "not" => {
            want(name, a, 1)?;
            Ok(Value::Bool(!a[0].truth()))
        }
        "len" => {
            want(name, a, 1)?;
            let n = match &a[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Labels(m) => m.len(),
                other => return Err(failed(format!("len of type {}", other.type_name()))),
            };
            Ok(Value::Int(n as i64))
        }
        "index" => {
            let Some((mut v, keys)) = a.split_first().map(|(v, k)| (v.clone(), k)) else {
                return Err(CallError::Arity(
                    "wrong number of args for index: want at least 1 got 0".into(),
                ));
            };
            for k in keys {
                v = match (&v, k) {
                    (Value::Labels(m), Value::Str(k)) => Value::Str(m.get(k).cloned().unwrap_or_default()),
                    (Value::List(l), Value::Int(i)) => usize::try_from(*i)
                        .ok()
                        .and_then(|i| l.get(i).cloned())
                        .ok_or_else(|| failed(format!("error calling index: index out of range: {i}")))?,
                    (v, k) => {
                        return Err(failed(format!(
                            "can't index item of type {} with {}",
                            v.type_name(),
                            k.type_name()
                        )));
                    }
                };
            }
            Ok(v)
        }
        "slice" => {
            let Some((v, idx)) = a.split_first() else {
                return Err(CallError::Arity(
                    "wrong number of args for slice: want at least 1 got 0".into(),
                ));
            };
            let bounds: Vec<usize> = idx
                .iter()
                .map(|i| match i {
                    Value::Int(i) => usize::try_from(*i).map_err(|_| failed(format!("index out of range: {i}"))),
                    other => Err(failed(format!(
                        "cannot index slice/array with type {}",
                        other.type_name()
                    ))),
                })
                .collect::<Result<_, _>>()?;
            let len = match v {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                other => return Err(failed(format!("can't slice item of type {}", other.type_name()))),
            };
            let (lo, hi) = match bounds.as_slice() {
                [] => (0, len),
                [lo] => (*lo, len),
                [lo, hi] => (*lo, *hi),
                _ => return Err(failed("too many slice indexes")),
            };
            if lo > hi || hi > len {
                return Err(failed(format!("index out of range: {hi}")));
            }
            match v {
                Value::Str(s) => s
                    .get(lo..hi)
                    .map(|s| Value::Str(s.to_string()))
                    .ok_or_else(|| failed("slice splits a character")),
                Value::List(l) => Ok(Value::List(Arc::new(l[lo..hi].to_vec()))),
                _ => Err(failed("can't slice")),
            }
        }
        "print" => Ok(Value::Str(sprint(a))),
        "println" => Ok(Value::Str(sprintln(a))),
        "printf" => {
            let Some((Value::Str(f), rest)) = a.split_first() else {
                return Err(CallError::Arity("printf: the format must be a string".into()));
            };
            Ok(Value::Str(sprintf(f, rest)))
        }
        "eq" => Ok(Value::Bool(eq(a)?)),
        "ne" => {
            want(name, a, 2)?;
            Ok(Value::Bool(!eq(a)?))
        }
        "lt" => ordered(name, a, Ordering::is_lt),
        "le" => ordered(name, a, Ordering::is_le),
        "gt" => ordered(name, a, Ordering::is_gt),
        "ge" => ordered(name, a, Ordering::is_ge),
        "html" => Ok(Value::Str(html_escape(&sprint(a)))),
        "js" => Ok(Value::Str(js_escape(&sprint(a)))),
        "urlquery" => Ok(Value::Str(query_escape(&sprint(a)))),
        "query" => {
            want(name, a, 1)?;
            let q = to_str(name, &a[0])?;
            let Some(f) = env.query else {
                return Err(failed("queries are not available here"));
            };
            Ok(Value::List(Arc::new(f(q).map_err(failed)?)))
        }
        "first" => {
            want(name, a, 1)?;
            match &a[0] {
                Value::List(l) => l
                    .first()
                    .cloned()
                    .ok_or_else(|| failed("first() called on vector with no elements")),
                other => Err(CallError::Arity(format!(
                    "wrong type for value; expected template.queryResult; got {}",
                    other.type_name()
                ))),
            }
        }
        "label" => {
            want(name, a, 2)?;
            let l = to_str(name, &a[0])?;
            Ok(Value::Str(
                sample_labels(&a[1]).and_then(|m| m.get(l).cloned()).unwrap_or_default(),
            ))
        }
        "value" => {
            want(name, a, 1)?;
            let v = sample_of(&a[0]).and_then(|s| s.iter().find(|(n, _)| *n == "Value").map(|(_, v)| v.clone()));
            v.ok_or_else(|| {
                CallError::Arity(format!(
                    "wrong type for value; expected *template.sample; got {}",
                    a[0].type_name()
                ))
            })
        }
        "strvalue" => {
            want(name, a, 1)?;
            Ok(Value::Str(
                sample_labels(&a[0])
                    .and_then(|m| m.get("__value__").cloned())
                    .unwrap_or_default(),
            ))
        }
        "sortByLabel" => {
            want(name, a, 2)?;
            let l = to_str(name, &a[0])?.to_string();
            let Value::List(items) = &a[1] else {
                return Err(CallError::Arity(format!(
                    "wrong type for value; expected template.queryResult; got {}",
                    a[1].type_name()
                )));
            };
            let mut v = items.as_ref().clone();
            let key = |x: &Value| sample_labels(x).and_then(|m| m.get(&l).cloned()).unwrap_or_default();
            v.sort_by_key(key);
            Ok(Value::List(Arc::new(v)))
        }
        "humanize" => float1(humanize),
        "humanize1024" => float1(humanize1024),
        "humanizeDuration" => float1(humanize_duration),
        "humanizePercentage" => float1(|v| format!("{}%", g4(v * 100.0))),
        "humanizeTimestamp" => {
            want(name, a, 1)?;
            let v = to_float(&a[0])?;
            Ok(Value::Str(match float_to_time(v)? {
                Some(ms) => super::value::go_time(ms),
                None => g4(v),
            }))
        }
        "toTime" => {
            want(name, a, 1)?;
            let v = to_float(&a[0])?;
            match float_to_time(v)? {
                Some(ms) => Ok(Value::Time(ms)),
                None => Err(failed(format!("{} cannot be represented as a time", g4(v)))),
            }
        }
        "title" => str1(title),
        "toUpper" => str1(str::to_uppercase),
        "toLower" => str1(str::to_lowercase),
        "safeHtml" => str1(str::to_string),
        "urlQueryEscape" => str1(query_escape),
        "stripPort" => str1(|s| match s.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
                if host.contains(':') && !s.starts_with('[') {
                    s.to_string()
                } else {
                    host.to_string()
                }
            }
            _ => s.to_string(),
        }),
        "stripDomain" => str1(|s| {
            let (host, port) = match s.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => (h, Some(p)),
                _ => (s, None),
            };
            if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
                return s.to_string();
            }
            let short = host.split('.').next().unwrap_or(host);
            match port {
                Some(p) => format!("{short}:{p}"),
                None => short.to_string(),
            }
        }),
        "match" => {
            want(name, a, 2)?;
            let re = regex::Regex::new(to_str(name, &a[0])?).map_err(|e| failed(e.to_string()))?;
            Ok(Value::Bool(re.is_match(to_str(name, &a[1])?)))
        }
        "reReplaceAll" => {
            want(name, a, 3)?;
            let re = regex::Regex::new(to_str(name, &a[0])?).map_err(|e| failed(e.to_string()))?;
            let repl = to_str(name, &a[1])?;
            Ok(Value::Str(re.replace_all(to_str(name, &a[2])?, repl).into_owned()))
        }
        "externalURL" => {
            want(name, a, 0)?;
            Ok(Value::Str(env.external_url.to_string()))
        }
        "pathPrefix" => {
            want(name, a, 0)?;
            Ok(Value::Str(path_of(env.external_url).to_string()))
        }
        "graphLink" | "tableLink" => {
            want(name, a, 1)?;
            let tab = if name == "graphLink" { 0 } else { 1 };
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab={tab}",
                query_escape(to_str(name, &a[0])?)
            )))
        }
        "parseDuration" => {
            want(name, a, 1)?;
            let s = to_str(name, &a[0])?;
            let d = foresight_units::parse_prom_duration(s).map_err(|e| failed(e.to_string()))?;
            Ok(Value::Float(d.as_secs_f64()))
        }
        "now" => {
            want(name, a, 0)?;
            Ok(Value::Float(env.now_ms as f64 / 1000.0))
        }
        _ => Err(CallError::Arity(format!("function {name:?} not defined"))),
    }
}

/// The path of a URL (`http://h:9090/prom` -> `/prom`).
fn path_of(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
}

/// Widest width or precision `printf` honours (Go has no limit; this keeps a typo from building a
/// huge string).
const MAX_WIDTH: usize = 10_000;

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %x %X %o %b %c %t %e %E %f %F
/// %g %G %%`, flags `+ - # 0 space`, width and precision (`*` included).
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '+' => spec.plus = true,
                '-' => spec.minus = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, next: &mut usize| -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = args.get(*next);
                *next += 1;
                return match v {
                    Some(Value::Int(i)) => usize::try_from(*i).ok().map(|w| w.min(MAX_WIDTH)),
                    _ => None,
                };
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(
                    n.unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(d as usize)
                        .min(MAX_WIDTH),
                );
                chars.next();
            }
            n
        };
        spec.width = number(&mut chars, &mut next);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number(&mut chars, &mut next).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        out.push_str(&spec.format(verb, arg));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.to_text()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[derive(Default)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn format(&self, verb: char, arg: &Value) -> String {
        let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.to_text());
        let (body, numeric) = match (verb, arg) {
            ('v', Value::Float(f)) => (self.float(*f, 'g', self.prec), true),
            ('v', Value::Int(i)) => (self.int(*i, 10, false), true),
            ('v', v) => (v.to_text(), false),
            ('s', Value::Str(s)) => (self.truncate(s), false),
            ('s', v @ (Value::Labels(_) | Value::List(_) | Value::Struct(_) | Value::Time(_))) => (v.to_text(), false),
            ('q', Value::Str(s)) => (go_quote(s), false),
            ('t', Value::Bool(b)) => (b.to_string(), false),
            ('d', Value::Int(i)) => (self.int(*i, 10, false), true),
            ('x', Value::Int(i)) => (self.int(*i, 16, false), true),
            ('X', Value::Int(i)) => (self.int(*i, 16, true), true),
            ('o', Value::Int(i)) => (self.int(*i, 8, false), true),
            ('b', Value::Int(i)) => (self.int(*i, 2, false), true),
            ('c', Value::Int(i)) => (
                u32::try_from(*i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}')
                    .to_string(),
                false,
            ),
            ('x' | 'X', Value::Str(s)) => {
                let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                (if verb == 'X' { hex.to_uppercase() } else { hex }, false)
            }
            ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(f)) => {
                let prec = match verb {
                    'g' | 'G' => self.prec,
                    _ => Some(self.prec.unwrap_or(6)),
                };
                (self.float(*f, verb, prec), true)
            }
            _ => return bad(),
        };
        self.pad(body, numeric)
    }

    fn truncate(&self, s: &str) -> String {
        match self.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        }
    }

    fn sign(&self, negative: bool, body: String) -> String {
        if negative {
            format!("-{body}")
        } else if self.plus {
            format!("+{body}")
        } else if self.space {
            format!(" {body}")
        } else {
            body
        }
    }

    fn float(&self, f: f64, verb: char, prec: Option<usize>) -> String {
        let s = format_float(f, if verb == 'F' { 'f' } else { verb }, prec);
        if f.is_nan() {
            return if self.plus { "+NaN".into() } else { s };
        }
        match s.strip_prefix('-').or_else(|| s.strip_prefix('+')) {
            Some(rest) => self.sign(f < 0.0, rest.to_string()),
            None => self.sign(false, s),
        }
    }

    fn int(&self, i: i64, radix: u32, upper: bool) -> String {
        let m = i.unsigned_abs();
        let mut digits = match radix {
            16 if upper => format!("{m:X}"),
            16 => format!("{m:x}"),
            8 => format!("{m:o}"),
            2 => format!("{m:b}"),
            _ => m.to_string(),
        };
        if let Some(p) = self.prec
            && digits.len() < p
        {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        }
        if self.sharp {
            digits = match radix {
                16 if upper => format!("0X{digits}"),
                16 => format!("0x{digits}"),
                8 => format!("0{digits}"),
                _ => digits,
            };
        }
        self.sign(i < 0, digits)
    }

    fn pad(&self, body: String, numeric: bool) -> String {
        let Some(w) = self.width else { return body };
        let n = body.chars().count();
        if n >= w {
            return body;
        }
        let fill = w - n;
        if self.minus {
            return format!("{body}{}", " ".repeat(fill));
        }
        if self.zero && numeric && !body.contains("Inf") && !body.contains("NaN") {
            let (sign, digits) = match body.chars().next() {
                Some(c @ ('+' | '-' | ' ')) => (c.to_string(), body[1..].to_string()),
                _ => (String::new(), body),
            };
            return format!("{sign}{}{digits}", "0".repeat(fill));
        }
        format!("{}{body}", " ".repeat(fill))
    }
}

/// Go's `strconv.Quote` (close enough for printable text: `\"`, `\\`, `\n`, `\t`, `\xNN`).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
