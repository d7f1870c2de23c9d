//! Function calls.

use promql_parser::parser::{Call, Expr};
use rayon::prelude::*;

use super::mathx::{go_max, go_min};
use super::range_fns::{self, RangeFn};
use super::{
    Evaluator, Grid, RangeArg, Result, StepSeries, Val, check_unique_labels, merge_same_labels, unparen, without_stale,
};
use crate::error::Error;
use crate::labels::{Labels, METRIC_NAME};
use crate::storage::compile_anchored;

/// PromQL functions that exist but are not implemented here.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_fraction",
    "histogram_stddev",
    "histogram_stdvar",
    "info",
    "sort_by_label",
    "sort_by_label_desc",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
    "first_over_time",
    "limit_ratio",
];

impl Evaluator<'_> {
    fn arg<'e>(&self, c: &'e Call, i: usize) -> Result<&'e Expr> {
        c.args
            .args
            .get(i)
            .map(|b| unparen(b.as_ref()))
            .ok_or_else(|| Error::BadQuery(format!("wrong number of arguments for function {}", c.func.name)))
    }

    pub(crate) fn eval_call(&self, c: &Call, g: &Grid) -> Result<Val> {
        let name = c.func.name;
        let n = g.len();
        if let Some(f) = RangeFn::from_name(name) {
            let (range_idx, param_idx) = match f {
                RangeFn::Quantile => (1, Some(0)),
                RangeFn::PredictLinear => (0, Some(1)),
                _ => (0, None),
            };
            let param = match param_idx {
                Some(i) => Some(self.eval_scalar(self.arg(c, i)?, g)?),
                None => None,
            };
            if let Some(out) = self.rollup_range(f, self.arg(c, range_idx)?, g, param.as_deref())? {
                check_unique_labels(&out)?;
                return Ok(Val::Vector(out));
            }
            let arg = self.eval_range_arg(self.arg(c, range_idx)?, g)?;
            let times = g.times();
            let out = range_fns::apply(f, arg, param.as_deref(), &times, &|| self.expired());
            self.check_deadline()?;
            check_unique_labels(&out)?;
            return Ok(Val::Vector(out));
        }
        match name {
            "abs" => self.map_fn(c, g, f64::abs),
            "ceil" => self.map_fn(c, g, f64::ceil),
            "floor" => self.map_fn(c, g, f64::floor),
            "exp" => self.map_fn(c, g, f64::exp),
            "ln" => self.map_fn(c, g, f64::ln),
            "log2" => self.map_fn(c, g, f64::log2),
            "log10" => self.map_fn(c, g, f64::log10),
            "sqrt" => self.map_fn(c, g, f64::sqrt),
            "sin" => self.map_fn(c, g, f64::sin),
            "cos" => self.map_fn(c, g, f64::cos),
            "tan" => self.map_fn(c, g, f64::tan),
            "asin" => self.map_fn(c, g, f64::asin),
            "acos" => self.map_fn(c, g, f64::acos),
            "atan" => self.map_fn(c, g, f64::atan),
            "sinh" => self.map_fn(c, g, f64::sinh),
            "cosh" => self.map_fn(c, g, f64::cosh),
            "tanh" => self.map_fn(c, g, f64::tanh),
            "asinh" => self.map_fn(c, g, f64::asinh),
            "acosh" => self.map_fn(c, g, f64::acosh),
            "atanh" => self.map_fn(c, g, f64::atanh),
            "deg" => self.map_fn(c, g, |v| v * 180.0 / std::f64::consts::PI),
            "rad" => self.map_fn(c, g, |v| v * std::f64::consts::PI / 180.0),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
            "sgn" => self.map_fn(c, g, |v| {
                if v < 0.0 {
                    -1.0
                } else if v > 0.0 {
                    1.0
                } else {
                    v // 0, -0 and NaN stay as they are
                }
            }),
            "round" => {
                let to = match c.args.args.get(1) {
                    Some(e) => self.eval_scalar(e, g)?,
                    None => vec![1.0; n],
                };
                self.map_fn_step(c, g, |i, v| {
                    let inv = 1.0 / to.get(i).copied().unwrap_or(1.0);
                    (v * inv + 0.5).floor() / inv
                })
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let lo = match name {
                    "clamp" | "clamp_min" => self.eval_scalar(self.arg(c, 1)?, g)?,
                    _ => vec![f64::NEG_INFINITY; n],
                };
                let hi = match name {
                    "clamp" => self.eval_scalar(self.arg(c, 2)?, g)?,
                    "clamp_max" => self.eval_scalar(self.arg(c, 1)?, g)?,
                    _ => vec![f64::INFINITY; n],
                };
                let v = self.eval_vector(self.arg(c, 0)?, g)?;
                let out = v
                    .into_iter()
                    .map(|s| StepSeries {
                        labels: s.labels.without_metric_name(),
                        vals: s
                            .vals
                            .iter()
                            .enumerate()
                            .map(|(i, x)| {
                                let (l, h) = (
                                    lo.get(i).copied().unwrap_or(f64::NAN),
                                    hi.get(i).copied().unwrap_or(f64::NAN),
                                );
                                // max < min gives an empty vector at that step.
                                if h < l {
                                    None
                                } else {
                                    x.map(|x| go_max(l, go_min(h, x)))
                                }
                            })
                            .collect(),
                    })
                    .filter(|s| !s.is_empty())
                    .collect();
                Ok(Val::Vector(merge_same_labels(out)?))
            }
            "time" => Ok(Val::Scalar((0..n).map(|i| g.ts(i) as f64 / 1000.0).collect())),
            "timestamp" => {
                let a = self.arg(c, 0)?;
                let v = if let Expr::VectorSelector(vs) = a {
                    self.eval_vector_selector(vs, g, true)?
                } else {
                    self.eval_vector(a, g)?
                        .into_iter()
                        .map(|s| StepSeries {
                            labels: s.labels,
                            vals: s
                                .vals
                                .iter()
                                .enumerate()
                                .map(|(i, x)| x.map(|_| g.ts(i) as f64 / 1000.0))
                                .collect(),
                        })
                        .collect()
                };
                let out = v
                    .into_iter()
                    .map(|s| StepSeries {
                        labels: s.labels.without_metric_name(),
                        vals: s.vals,
                    })
                    .collect();
                Ok(Val::Vector(merge_same_labels(out)?))
            }
            "vector" => {
                let s = self.eval_scalar(self.arg(c, 0)?, g)?;
                Ok(Val::Vector(vec![StepSeries {
                    labels: Labels::empty(),
                    vals: s.into_iter().map(Some).collect(),
                }]))
            }
            "scalar" => {
                let v = self.eval_vector(self.arg(c, 0)?, g)?;
                let mut out = vec![f64::NAN; n];
                for (i, o) in out.iter_mut().enumerate() {
                    let mut it = v.iter().filter_map(|s| s.vals.get(i).copied().flatten());
                    if let (Some(x), None) = (it.next(), it.next()) {
                        *o = x;
                    }
                }
                Ok(Val::Scalar(out))
            }
            "absent" => {
                let a = self.arg(c, 0)?;
                let v = self.eval_vector(a, g)?;
                let vals: Vec<Option<f64>> = (0..n)
                    .map(|i| {
                        let any = v.iter().any(|s| s.vals.get(i).copied().flatten().is_some());
                        (!any).then_some(1.0)
                    })
                    .collect();
                Ok(Val::Vector(absent_result(a, vals)))
            }
            "absent_over_time" => {
                let a = self.arg(c, 0)?;
                let arg = self.eval_range_arg(a, g)?;
                let mut present = vec![false; n];
                for s in &arg.series {
                    let p = range_fns::sweep(
                        &super::without_stale(&s.samples),
                        &arg.ends,
                        arg.range,
                        n,
                        arg.broadcast(),
                        |_, _, _| Some(1.0),
                    );
                    for (d, x) in present.iter_mut().zip(p) {
                        *d |= x.is_some();
                    }
                }
                let vals = present.into_iter().map(|p| (!p).then_some(1.0)).collect();
                Ok(Val::Vector(absent_result(a, vals)))
            }
            "sort" | "sort_desc" => {
                // Ordering only matters for instant queries; the engine orders the final vector.
                Ok(Val::Vector(self.eval_vector(self.arg(c, 0)?, g)?))
            }
            "holt_winters" | "double_exponential_smoothing" => self.smoothing(c, g),
            "label_replace" => self.label_replace(c, g),
            "label_join" => self.label_join(c, g),
            "histogram_quantile" => {
                let q = self.eval_scalar(self.arg(c, 0)?, g)?;
                let v = self.eval_vector(self.arg(c, 1)?, g)?;
                Ok(Val::Vector(super::histogram::histogram_quantile(&q, v, n)))
            }
            "day_of_week" | "day_of_month" | "day_of_year" | "days_in_month" | "hour" | "minute" | "month" | "year" => {
                let part = DatePart::from_name(name);
                if c.args.args.is_empty() {
                    let vals = (0..n).map(|i| Some(date_part(part, g.ts(i) as f64 / 1000.0))).collect();
                    return Ok(Val::Vector(vec![StepSeries {
                        labels: Labels::empty(),
                        vals,
                    }]));
                }
                self.map_fn(c, g, |v| date_part(part, v))
            }
            other if KNOWN_UNSUPPORTED.contains(&other) => Err(Error::UnsupportedFunction(other.to_string())),
            other => Err(Error::UnknownFunction(other.to_string())),
        }
    }

    fn map_fn(&self, c: &Call, g: &Grid, f: impl Fn(f64) -> f64) -> Result<Val> {
        self.map_fn_step(c, g, |_, v| f(v))
    }

    /// Applies `f(step, value)` to every value of the first argument and drops the metric name.
    fn map_fn_step(&self, c: &Call, g: &Grid, f: impl Fn(usize, f64) -> f64) -> Result<Val> {
        let v = self.eval_vector(self.arg(c, 0)?, g)?;
        let out = v
            .into_iter()
            .map(|s| StepSeries {
                labels: s.labels.without_metric_name(),
                vals: s.vals.iter().enumerate().map(|(i, x)| x.map(|x| f(i, x))).collect(),
            })
            .collect();
        Ok(Val::Vector(merge_same_labels(out)?))
    }

    /// `double_exponential_smoothing(v, sf, tf)`, Prometheus 2.x's `holt_winters`. As in
    /// Prometheus, the factors are checked wherever a series has samples in its window (series
    /// by series, steps in order; the first bad factor is the error), so a selector that
    /// matches nothing is no error. Storage holds floats only, so Prometheus' handling of
    /// native histograms in the window (ignored, with an info annotation) does not arise.
    fn smoothing(&self, c: &Call, g: &Grid) -> Result<Val> {
        let sf = self.eval_scalar(self.arg(c, 1)?, g)?;
        let tf = self.eval_scalar(self.arg(c, 2)?, g)?;
        let arg = self.eval_range_arg(self.arg(c, 0)?, g)?;
        let broadcast = arg.broadcast();
        let RangeArg {
            series,
            range,
            ends,
            steps,
        } = arg;
        let per_series: Vec<Result<Option<StepSeries>>> = series
            .into_par_iter()
            .map(|s| {
                // Past the deadline, skip the remaining work; the caller reports the timeout.
                if self.expired() {
                    return Ok(None);
                }
                let samples = without_stale(&s.samples);
                let mut bad = None;
                let vals = range_fns::sweep(&samples, &ends, range, steps, broadcast, |k, w, _| {
                    if bad.is_some() {
                        return None;
                    }
                    let (sf, tf) = (
                        sf.get(k).copied().unwrap_or(f64::NAN),
                        tf.get(k).copied().unwrap_or(f64::NAN),
                    );
                    if let Some(e) = range_fns::smoothing_factors_error(sf, tf) {
                        bad = Some(e);
                        return None;
                    }
                    range_fns::double_exponential_smoothing(w, sf, tf)
                });
                if let Some(e) = bad {
                    return Err(Error::Execution(e));
                }
                Ok(vals.iter().any(Option::is_some).then(|| StepSeries {
                    labels: s.labels.without_metric_name(),
                    vals,
                }))
            })
            .collect();
        self.check_deadline()?;
        let out = per_series
            .into_iter()
            .filter_map(Result::transpose)
            .collect::<Result<Vec<_>>>()?;
        check_unique_labels(&out)?;
        Ok(Val::Vector(out))
    }

    fn label_replace(&self, c: &Call, g: &Grid) -> Result<Val> {
        let v = self.eval_vector(self.arg(c, 0)?, g)?;
        let dst = self.eval_string(self.arg(c, 1)?, g)?;
        let repl = self.eval_string(self.arg(c, 2)?, g)?;
        let src = self.eval_string(self.arg(c, 3)?, g)?;
        let re_src = self.eval_string(self.arg(c, 4)?, g)?;
        let re = compile_anchored(&re_src)
            .map_err(|e| Error::BadQuery(format!("invalid regular expression in label_replace(): {}", e.reason)))?;
        if !valid_label_name(&dst) {
            return Err(Error::BadQuery(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let out = v
            .into_iter()
            .map(|s| {
                let value = s.labels.get(&src).unwrap_or("");
                let labels = match re.captures(value) {
                    Some(caps) => {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        s.labels.with(&dst, &res)
                    }
                    None => s.labels.clone(),
                };
                StepSeries { labels, vals: s.vals }
            })
            .collect();
        Ok(Val::Vector(merge_same_labels(out)?))
    }

    fn label_join(&self, c: &Call, g: &Grid) -> Result<Val> {
        let v = self.eval_vector(self.arg(c, 0)?, g)?;
        let dst = self.eval_string(self.arg(c, 1)?, g)?;
        let sep = self.eval_string(self.arg(c, 2)?, g)?;
        let mut srcs = Vec::new();
        for a in c.args.args.iter().skip(3) {
            srcs.push(self.eval_string(a, g)?);
        }
        if !valid_label_name(&dst) {
            return Err(Error::BadQuery(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let out = v
            .into_iter()
            .map(|s| {
                let joined: Vec<&str> = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
                let labels = s.labels.with(&dst, &joined.join(&sep));
                StepSeries { labels, vals: s.vals }
            })
            .collect();
        Ok(Val::Vector(merge_same_labels(out)?))
    }
}

fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
}

/// The one-series result of absent/absent_over_time: labels from the selector's `=` matchers.
fn absent_result(arg: &Expr, vals: Vec<Option<f64>>) -> Vec<StepSeries> {
    if vals.iter().all(Option::is_none) {
        return Vec::new();
    }
    let vs = match arg {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(vs) = vs {
        let mut seen: Vec<&str> = Vec::new();
        let all = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten());
        for m in all {
            if m.name == METRIC_NAME {
                continue;
            }
            let is_eq = matches!(m.op, promql_parser::label::MatchOp::Equal);
            if is_eq && !seen.contains(&m.name.as_str()) {
                pairs.retain(|p| p.0 != m.name);
                pairs.push((m.name.clone(), m.value.clone()));
                seen.push(&m.name);
            } else {
                pairs.retain(|p| p.0 != m.name);
            }
        }
    }
    vec![StepSeries {
        labels: Labels::new(pairs),
        vals,
    }]
}

#[derive(Debug, Clone, Copy)]
enum DatePart {
    DayOfWeek,
    DayOfMonth,
    DayOfYear,
    DaysInMonth,
    Hour,
    Minute,
    Month,
    Year,
}

impl DatePart {
    fn from_name(n: &str) -> Self {
        match n {
            "day_of_week" => Self::DayOfWeek,
            "day_of_month" => Self::DayOfMonth,
            "day_of_year" => Self::DayOfYear,
            "days_in_month" => Self::DaysInMonth,
            "hour" => Self::Hour,
            "minute" => Self::Minute,
            "month" => Self::Month,
            _ => Self::Year,
        }
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// A calendar field (UTC) of a Unix time in seconds; NaN and infinities give NaN.
fn date_part(part: DatePart, secs: f64) -> f64 {
    if !secs.is_finite() || secs.abs() > 1e15 {
        return f64::NAN;
    }
    let s = secs.trunc() as i64; // Go's int64() truncates toward zero
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400);
    let (y, m, d) = foresight_units::civil_from_days(days);
    match part {
        DatePart::DayOfWeek => (days + 4).rem_euclid(7) as f64,
        DatePart::DayOfMonth => f64::from(d),
        DatePart::DayOfYear => {
            let before: u32 = (1..m).map(|mm| days_in(y, mm)).sum();
            f64::from(before + d)
        }
        DatePart::DaysInMonth => f64::from(days_in(y, m)),
        DatePart::Hour => (sod / 3600) as f64,
        DatePart::Minute => ((sod % 3600) / 60) as f64,
        DatePart::Month => f64::from(m),
        DatePart::Year => y as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        // 2024-02-29T13:45:00Z is a Thursday.
        let t = 1_709_214_300.0;
        assert_eq!(date_part(DatePart::Year, t), 2024.0);
        assert_eq!(date_part(DatePart::Month, t), 2.0);
        assert_eq!(date_part(DatePart::DayOfMonth, t), 29.0);
        assert_eq!(date_part(DatePart::DaysInMonth, t), 29.0);
        assert_eq!(date_part(DatePart::DayOfWeek, t), 4.0);
        assert_eq!(date_part(DatePart::DayOfYear, t), 60.0);
        assert_eq!(date_part(DatePart::Hour, t), 13.0);
        assert_eq!(date_part(DatePart::Minute, t), 45.0);
        assert_eq!(date_part(DatePart::Year, -1.0), 1969.0);
        assert!(date_part(DatePart::Year, f64::NAN).is_nan());
    }
}
