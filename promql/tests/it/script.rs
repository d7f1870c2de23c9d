//! The test-case language of `tests/cases/*.test`.
//!
//! ```text
//! # comment
//! load 1m                         # samples every minute from t=0
//!   http_total{job="a"} 0+10x5 _ 100 stale 3x2
//! clear                           # start over with empty storage
//! eval instant at 10m <query>
//!   {job="a"} 1.5                 # expected vector element (labels, value)
//!   2                             # or a scalar, or "a string"
//!   x{a="b"} 1@1m 2@2m            # or a range-vector series (value@time)
//! eval range from 0 to 10m step 1m <query>
//!   {job="a"} 1 2 _ 3 ...         # one value per step, `_` = no value
//! eval_ordered instant at 1m <q>  # result order matters
//! eval_fail instant at 1m <q>
//!   error <substring of the message>
//! ```
//! Values: `a+bxn` expands to a, a+b, ..., a+n*b; `axn` repeats a n+1 times; `_` skips a slot;
//! `_xn` skips n slots; `stale` is a stale marker; `NaN`, `Inf`, `-Inf`.
//! An `eval` with no expectation lines expects an empty result.

use foresight_promql::{Engine, Labels, MemStorage, Value, stale_nan};

/// A time (`at 10m`, `1@2m`) or interval (`load 1m`, `step 30s`) of the dialect, in milliseconds: a
/// Prometheus duration, the grammar Prometheus' own test reader (`promqltest`) takes.
pub(crate) fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let d = foresight_units::parse_prom_duration(s).map_err(|e| e.to_string())?;
    i64::try_from(d.as_millis()).map_err(|_| format!("duration {s:?} is too long"))
}

fn parse_float(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "Inf" | "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "stale" => Ok(stale_nan()),
        _ => s.parse::<f64>().map_err(|_| format!("bad number {s:?}")),
    }
}

/// Expands one value token into slots (`None` = no sample).
fn expand(tok: &str) -> Result<Vec<Option<f64>>, String> {
    if tok == "_" {
        return Ok(vec![None]);
    }
    if let Some(n) = tok.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| format!("bad token {tok:?}"))?;
        return Ok(vec![None; n]);
    }
    if let Some(xpos) = tok.rfind('x') {
        let (head, n) = (&tok[..xpos], &tok[xpos + 1..]);
        let n: usize = n.parse().map_err(|_| format!("bad token {tok:?}"))?;
        // split head into start and increment at the last +/- that is not a leading sign or exponent
        let bytes = head.as_bytes();
        let mut split = None;
        for i in (1..bytes.len()).rev() {
            let c = bytes[i];
            let prev = bytes[i - 1];
            if (c == b'+' || c == b'-') && prev != b'e' && prev != b'E' {
                split = Some(i);
                break;
            }
        }
        let (start, inc) = match split {
            Some(i) => (parse_float(&head[..i])?, parse_float(&head[i..])?),
            None => (parse_float(head)?, 0.0),
        };
        return Ok((0..=n).map(|k| Some(start + inc * k as f64)).collect());
    }
    Ok(vec![Some(parse_float(tok)?)])
}

/// Parses `name{a="b", c="d"}` (either part optional); returns labels and the rest of the line.
pub(crate) fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    let name = &s[..name_end];
    let mut rest = &s[name_end..];
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r;
        loop {
            r = r.trim_start().trim_start_matches(',').trim_start();
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = r.find('=').ok_or("expected =")?;
            let lname = r[..eq].trim().to_string();
            r = r[eq + 1..].trim_start();
            let r2 = r.strip_prefix('"').ok_or("expected quoted value")?;
            let mut val = String::new();
            let mut chars = r2.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            val.push(match e {
                                'n' => '\n',
                                other => other,
                            });
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => val.push(c),
                }
            }
            let end = end.ok_or("unterminated string")?;
            pairs.push((lname, val));
            r = &r2[end + 1..];
        }
    } else if name.is_empty() {
        return Err(format!("expected labels in {s:?}"));
    }
    Ok((Labels::new(pairs), rest))
}

#[derive(Debug)]
pub(crate) enum Expect {
    Scalar(f64),
    Str(String),
    /// labels and either one value (instant) or values per step / points.
    Series(Labels, Vec<(Option<i64>, Option<f64>)>),
}

#[derive(Debug)]
pub(crate) enum Kind {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

#[derive(Debug)]
pub(crate) struct Eval {
    pub(crate) line: usize,
    pub(crate) kind: Kind,
    pub(crate) query: String,
    pub(crate) ordered: bool,
    pub(crate) fail: Option<String>,
    pub(crate) expect: Vec<Expect>,
}

pub(crate) enum Cmd {
    Load(i64, Vec<(Labels, Vec<Option<f64>>)>),
    Clear,
    Eval(Eval),
}

fn parse_value_or_point(tok: &str) -> Result<(Option<i64>, Option<f64>), String> {
    if let Some((v, t)) = tok.split_once('@') {
        return Ok((Some(parse_duration_ms(t)?), Some(parse_float(v)?)));
    }
    if tok == "_" {
        return Ok((None, None));
    }
    Ok((None, Some(parse_float(tok)?)))
}

pub(crate) fn parse_script(text: &str) -> Result<Vec<Cmd>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let line = strip_comment(raw).trim_end();
        let lineno = i + 1;
        i += 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            return Err(format!("line {lineno}: indented line outside a block"));
        }
        let body: Vec<&str> = {
            let mut b = Vec::new();
            while i < lines.len() {
                let l = strip_comment(lines[i]).trim_end();
                if l.trim().is_empty() {
                    i += 1;
                    continue;
                }
                if !l.starts_with(char::is_whitespace) {
                    break;
                }
                b.push(l.trim());
                i += 1;
            }
            b
        };
        let ctx = |e: String| format!("line {lineno}: {e}");
        if let Some(rest) = line.strip_prefix("load ") {
            let step = parse_duration_ms(rest.trim()).map_err(ctx)?;
            let mut series = Vec::new();
            for b in body {
                let (labels, rest) = parse_labels(b).map_err(ctx)?;
                let mut vals = Vec::new();
                for tok in rest.split_whitespace() {
                    vals.extend(expand(tok).map_err(ctx)?);
                }
                series.push((labels, vals));
            }
            cmds.push(Cmd::Load(step, series));
        } else if line.trim() == "clear" {
            cmds.push(Cmd::Clear);
        } else if line.starts_with("eval") {
            let (head, rest) = line.split_once(' ').ok_or_else(|| ctx("bad eval".into()))?;
            let (ordered, failing) = match head {
                "eval" => (false, false),
                "eval_ordered" => (true, false),
                "eval_fail" => (false, true),
                _ => return Err(ctx(format!("unknown command {head}"))),
            };
            let (kind, query) = if let Some(r) = rest.strip_prefix("instant at ") {
                let (t, q) = r.split_once(' ').ok_or_else(|| ctx("missing query".into()))?;
                (Kind::Instant(parse_duration_ms(t).map_err(ctx)?), q)
            } else if let Some(r) = rest.strip_prefix("range from ") {
                let parts: Vec<&str> = r.splitn(6, ' ').collect();
                if parts.len() < 6 || parts[1] != "to" || parts[3] != "step" {
                    return Err(ctx("expected: range from A to B step S <query>".into()));
                }
                (
                    Kind::Range {
                        start: parse_duration_ms(parts[0]).map_err(ctx)?,
                        end: parse_duration_ms(parts[2]).map_err(ctx)?,
                        step: parse_duration_ms(parts[4]).map_err(ctx)?,
                    },
                    parts[5],
                )
            } else {
                return Err(ctx("expected `instant at` or `range from`".into()));
            };
            let mut expect = Vec::new();
            let mut fail = None;
            for b in body {
                if failing {
                    fail = Some(b.strip_prefix("error").unwrap_or(b).trim().to_string());
                    continue;
                }
                if let Some(s) = b.strip_prefix('"') {
                    expect.push(Expect::Str(s.trim_end_matches('"').to_string()));
                } else if b.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
                    || b == "NaN"
                    || b == "Inf"
                {
                    expect.push(Expect::Scalar(parse_float(b).map_err(ctx)?));
                } else {
                    let (labels, rest) = parse_labels(b).map_err(ctx)?;
                    let mut vals = Vec::new();
                    for tok in rest.split_whitespace() {
                        if tok.contains('@') || tok.contains('x') && !tok.starts_with('_') {
                            if tok.contains('@') {
                                vals.push(parse_value_or_point(tok).map_err(ctx)?);
                            } else {
                                vals.extend(expand(tok).map_err(ctx)?.into_iter().map(|v| (None, v)));
                            }
                        } else if let Some(n) = tok.strip_prefix("_x") {
                            let n: usize = n.parse().map_err(|_| ctx("bad _x".into()))?;
                            vals.extend(std::iter::repeat_n((None, None), n));
                        } else {
                            vals.push(parse_value_or_point(tok).map_err(ctx)?);
                        }
                    }
                    expect.push(Expect::Series(labels, vals));
                }
            }
            if failing && fail.is_none() {
                fail = Some(String::new());
            }
            cmds.push(Cmd::Eval(Eval {
                line: lineno,
                kind,
                query: query.to_string(),
                ordered,
                fail,
                expect,
            }));
        } else {
            return Err(ctx(format!("unknown command {line:?}")));
        }
    }
    Ok(cmds)
}

fn strip_comment(l: &str) -> &str {
    // A `#` starts a comment unless inside quotes.
    let mut in_q = false;
    for (i, c) in l.char_indices() {
        match c {
            '"' => in_q = !in_q,
            '#' if !in_q => return &l[..i],
            _ => {}
        }
    }
    l
}

pub(crate) fn load_into(db: &mut MemStorage, step: i64, series: Vec<(Labels, Vec<Option<f64>>)>) {
    for (labels, vals) in series {
        let samples: Vec<(i64, f64)> = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as i64 * step, v)))
            .collect();
        db.add(labels, samples);
    }
}

pub(crate) fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    if a.is_infinite() || b.is_infinite() {
        return false;
    }
    (a - b).abs() <= 1e-9_f64.max(1e-6 * b.abs())
}

/// Runs one eval; returns a description of the mismatch, if any.
pub(crate) fn run_eval(engine: &Engine, db: &MemStorage, e: &Eval) -> Result<(), String> {
    let res = match e.kind {
        Kind::Instant(t) => engine.instant_query(db, &e.query, t),
        Kind::Range { start, end, step } => engine.range_query(db, &e.query, start, end, step),
    };
    if let Some(want) = &e.fail {
        return match res {
            Err(err) if err.to_string().contains(want.as_str()) => Ok(()),
            Err(err) => Err(format!("expected error containing {want:?}, got {err}")),
            Ok(r) => Err(format!("expected error {want:?}, got {:?}", r.value)),
        };
    }
    let value = res.map_err(|err| format!("unexpected error: {err}"))?.value;
    let describe = || format!("{value:?}");
    match (&value, e.expect.as_slice()) {
        (Value::Scalar { v, .. }, [Expect::Scalar(w)]) => {
            if close(*v, *w) {
                Ok(())
            } else {
                Err(format!("scalar {v} != expected {w}"))
            }
        }
        (Value::String { v, .. }, [Expect::Str(w)]) => {
            if v == w {
                Ok(())
            } else {
                Err(format!("string {v:?} != {w:?}"))
            }
        }
        (Value::Vector(got), exp) => {
            if got.len() != exp.len() {
                return Err(format!(
                    "got {} elements, expected {}: {}",
                    got.len(),
                    exp.len(),
                    describe()
                ));
            }
            for (k, ex) in exp.iter().enumerate() {
                let Expect::Series(labels, vals) = ex else {
                    return Err(format!("expected a vector, got {}", describe()));
                };
                let [(None, Some(w))] = vals.as_slice() else {
                    return Err(format!("vector expectation needs one value: {labels}"));
                };
                let found = if e.ordered {
                    got.get(k).filter(|s| &s.labels == labels)
                } else {
                    got.iter().find(|s| &s.labels == labels)
                };
                match found {
                    Some(s) if close(s.v, *w) => {}
                    Some(s) => return Err(format!("{labels}: got {} expected {w}", s.v)),
                    None => return Err(format!("missing {labels} in {}", describe())),
                }
            }
            Ok(())
        }
        (Value::Matrix(got), exp) => {
            if got.len() != exp.len() {
                return Err(format!(
                    "got {} series, expected {}: {}",
                    got.len(),
                    exp.len(),
                    describe()
                ));
            }
            for ex in exp {
                let Expect::Series(labels, vals) = ex else {
                    return Err(format!("expected a matrix, got {}", describe()));
                };
                let Some(s) = got.iter().find(|s| &s.labels == labels) else {
                    return Err(format!("missing {labels} in {}", describe()));
                };
                // Points either carry times (`v@t`) or are one slot per step.
                let want: Vec<(i64, f64)> = match e.kind {
                    Kind::Range { start, step, .. } => vals
                        .iter()
                        .enumerate()
                        .filter_map(|(i, (t, v))| Some((t.unwrap_or(start + i as i64 * step), (*v)?)))
                        .collect(),
                    Kind::Instant(_) => vals.iter().filter_map(|(t, v)| Some(((*t)?, (*v)?))).collect(),
                };
                let ok = want.len() == s.samples.len()
                    && want.iter().zip(&s.samples).all(|(w, g)| w.0 == g.0 && close(g.1, w.1));
                if !ok {
                    return Err(format!("{labels}: got {:?} expected {:?}", s.samples, want));
                }
            }
            Ok(())
        }
        _ => Err(format!(
            "unexpected result {} for expectation {:?}",
            describe(),
            e.expect
        )),
    }
}
