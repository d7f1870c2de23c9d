//! Aggregation operators. Group keys are computed once per input series; values are then folded
//! step by step in input order (the order Prometheus folds in, so float results match).

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMITK, T_MAX, T_MIN, T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM,
    T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::mathx::{format_go_float, kahan_inc, quantile_select};
use super::{Evaluator, Grid, Result, StepSeries, Val, merge_same_labels};
use crate::error::Error;
use crate::labels::Labels;

#[derive(Clone, Copy, Default)]
struct Acc {
    seen: bool,
    value: f64,
    mean: f64,
    c: f64,
    count: f64,
    incremental: bool,
}

fn group_labels(l: &Labels, m: &Option<LabelModifier>) -> Labels {
    match m {
        Some(LabelModifier::Exclude(ls)) => l.drop_names(&ls.labels).without_metric_name(),
        Some(LabelModifier::Include(ls)) if !ls.labels.is_empty() => l.keep_only(&ls.labels),
        _ => Labels::empty(),
    }
}

impl Evaluator<'_> {
    pub(crate) fn eval_aggregate(&self, a: &AggregateExpr, g: &Grid) -> Result<Val> {
        let n = g.len();
        let op = a.op.id();
        let input = self.eval_vector(&a.expr, g)?;

        if op == T_COUNT_VALUES {
            let p = a
                .param
                .as_ref()
                .ok_or_else(|| Error::BadQuery("count_values needs a label name".into()))?;
            let label = self.eval_string(p, g)?;
            if label.is_empty() {
                return Err(Error::BadQuery(format!("invalid label name {label:?}")));
            }
            return Ok(Val::Vector(count_values(&input, &label, &a.modifier, n)));
        }

        let param: Option<Vec<f64>> = match (&a.param, op) {
            (Some(p), T_TOPK | T_BOTTOMK | T_LIMITK | T_QUANTILE) => Some(self.eval_scalar(p, g)?),
            (None, T_TOPK | T_BOTTOMK | T_LIMITK | T_QUANTILE) => {
                return Err(Error::BadQuery(format!("{} needs a parameter", a.op)));
            }
            _ => None,
        };

        if matches!(op, T_TOPK | T_BOTTOMK | T_LIMITK) {
            let ks = param.unwrap_or_default();
            for k in &ks {
                if k.is_finite() && (*k >= 9.223_372_036_854_776e18 || *k < -9.223_372_036_854_776e18) {
                    return Err(Error::Execution(format!("Scalar value {k} overflows int64")));
                }
            }
            return Ok(Val::Vector(self.aggregate_k(op, &input, &a.modifier, &ks, n)?));
        }

        // Group ids per input series.
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut group_of: Vec<usize> = Vec::with_capacity(input.len());
        let mut glabels: Vec<Labels> = Vec::new();
        for s in &input {
            let key = group_labels(&s.labels, &a.modifier);
            let gi = *index.entry(key.clone()).or_insert_with(|| {
                glabels.push(key);
                glabels.len() - 1
            });
            group_of.push(gi);
        }
        let ng = glabels.len();

        if op == T_QUANTILE {
            let qs = param.unwrap_or_default();
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); ng];
            for (si, &gi) in group_of.iter().enumerate() {
                if let Some(m) = members.get_mut(gi) {
                    m.push(si);
                }
            }
            let mut buf: Vec<f64> = Vec::new();
            let out = glabels
                .into_iter()
                .zip(members)
                .map(|(labels, ms)| {
                    let vals = (0..n)
                        .map(|i| {
                            buf.clear();
                            buf.extend(
                                ms.iter()
                                    .filter_map(|&si| input.get(si)?.vals.get(i).copied().flatten()),
                            );
                            if buf.is_empty() {
                                None
                            } else {
                                Some(quantile_select(qs.get(i).copied().unwrap_or(f64::NAN), &mut buf))
                            }
                        })
                        .collect();
                    StepSeries { labels, vals }
                })
                .filter(|s| !s.is_empty())
                .collect();
            return Ok(Val::Vector(out));
        }

        let mut acc = vec![Acc::default(); ng * n];
        for (si, s) in input.iter().enumerate() {
            let gi = group_of.get(si).copied().unwrap_or(0);
            let row = acc.get_mut(gi * n..(gi + 1) * n).unwrap_or(&mut []);
            for (st, x) in row.iter_mut().zip(&s.vals) {
                let Some(f) = *x else { continue };
                if !st.seen {
                    *st = Acc {
                        seen: true,
                        value: f,
                        mean: f,
                        c: 0.0,
                        count: 1.0,
                        incremental: false,
                    };
                    match op {
                        T_STDDEV | T_STDVAR => {
                            st.value = if f.is_nan() || f.is_infinite() { f64::NAN } else { 0.0 };
                        }
                        T_GROUP => st.value = 1.0,
                        _ => {}
                    }
                    continue;
                }
                match op {
                    T_SUM => (st.value, st.c) = kahan_inc(f, st.value, st.c),
                    T_AVG => {
                        st.count += 1.0;
                        if !st.incremental {
                            let (nv, nc) = kahan_inc(f, st.value, st.c);
                            if !nv.is_infinite() {
                                (st.value, st.c) = (nv, nc);
                                continue;
                            }
                            st.incremental = true;
                            st.mean = st.value / (st.count - 1.0);
                            st.c /= st.count - 1.0;
                        }
                        let q = (st.count - 1.0) / st.count;
                        (st.mean, st.c) = kahan_inc(f / st.count, q * st.mean, q * st.c);
                    }
                    T_MAX if (st.value < f || st.value.is_nan()) => {
                        st.value = f;
                    }
                    T_MIN if (st.value > f || st.value.is_nan()) => {
                        st.value = f;
                    }
                    T_COUNT => st.count += 1.0,
                    T_STDDEV | T_STDVAR => {
                        st.count += 1.0;
                        let delta = f - st.mean;
                        st.mean += delta / st.count;
                        st.value += delta * (f - st.mean);
                    }
                    _ => {}
                }
            }
        }
        let known = matches!(
            op,
            T_SUM | T_AVG | T_MAX | T_MIN | T_COUNT | T_STDDEV | T_STDVAR | T_GROUP
        );
        if !known {
            return Err(Error::BadQuery(format!("aggregation {} is not supported", a.op)));
        }
        let out: Vec<StepSeries> = glabels
            .into_iter()
            .enumerate()
            .map(|(gi, labels)| {
                let row = acc.get(gi * n..(gi + 1) * n).unwrap_or(&[]);
                let vals = row
                    .iter()
                    .map(|st| {
                        st.seen.then(|| match op {
                            T_SUM => st.value + st.c,
                            T_AVG => {
                                if st.incremental {
                                    st.mean + st.c
                                } else {
                                    st.value / st.count + st.c / st.count
                                }
                            }
                            T_COUNT => st.count,
                            T_STDVAR => st.value / st.count,
                            T_STDDEV => (st.value / st.count).sqrt(),
                            _ => st.value,
                        })
                    })
                    .collect();
                StepSeries { labels, vals }
            })
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Val::Vector(out))
    }

    /// topk / bottomk / limitk: per step and group, k input series keep their labels.
    fn aggregate_k(
        &self,
        op: u16,
        input: &[StepSeries],
        m: &Option<LabelModifier>,
        ks: &[f64],
        n: usize,
    ) -> Result<Vec<StepSeries>> {
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (si, s) in input.iter().enumerate() {
            let key = group_labels(&s.labels, m);
            let gi = *index.entry(key).or_insert_with(|| {
                members.push(Vec::new());
                members.len() - 1
            });
            if let Some(mm) = members.get_mut(gi) {
                mm.push(si);
            }
        }
        let mut out_vals: Vec<Vec<Option<f64>>> = vec![Vec::new(); input.len()];
        let mut cand: Vec<(f64, usize)> = Vec::new();
        for i in 0..n {
            let kf = ks.get(i).copied().unwrap_or(f64::NAN);
            // Go's int64() of NaN is the minimum int64, so NaN selects nothing.
            let k = if kf.is_nan() {
                0
            } else {
                (kf.trunc().min(input.len() as f64)).max(0.0) as usize
            };
            if k == 0 {
                continue;
            }
            for ms in &members {
                cand.clear();
                cand.extend(
                    ms.iter()
                        .filter_map(|&si| Some((input.get(si)?.vals.get(i).copied().flatten()?, si))),
                );
                if op == T_LIMITK {
                    cand.truncate(k);
                } else {
                    // topk: larger first, NaN last; bottomk: smaller first, NaN last.
                    let top = op == T_TOPK;
                    cand.sort_by(|a, b| {
                        use std::cmp::Ordering;
                        match (a.0.is_nan(), b.0.is_nan()) {
                            (true, true) => Ordering::Equal,
                            (true, false) => Ordering::Greater,
                            (false, true) => Ordering::Less,
                            _ => {
                                let o = a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal);
                                if top { o.reverse() } else { o }
                            }
                        }
                    });
                    cand.truncate(k);
                }
                for &(v, si) in &cand {
                    if let Some(ov) = out_vals.get_mut(si) {
                        if ov.is_empty() {
                            *ov = vec![None; n];
                        }
                        if let Some(slot) = ov.get_mut(i) {
                            *slot = Some(v);
                        }
                    }
                }
            }
        }
        let out = input
            .iter()
            .zip(out_vals)
            .filter(|(_, v)| v.iter().any(Option::is_some))
            .map(|(s, vals)| StepSeries {
                labels: s.labels.clone(),
                vals,
            })
            .collect();
        merge_same_labels(out)
    }
}

fn count_values(input: &[StepSeries], label: &str, m: &Option<LabelModifier>, n: usize) -> Vec<StepSeries> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<StepSeries> = Vec::new();
    for s in input {
        for (i, x) in s.vals.iter().enumerate() {
            let Some(v) = x else { continue };
            let with_value = s.labels.with(label, &format_go_float(*v));
            let key = match m {
                Some(LabelModifier::Include(ls)) => {
                    let mut keep = ls.labels.clone();
                    keep.push(label.to_string());
                    with_value.keep_only(&keep)
                }
                Some(LabelModifier::Exclude(ls)) => with_value.drop_names(&ls.labels).without_metric_name(),
                None => with_value.keep_only(&[label.to_string()]),
            };
            let oi = *index.entry(key.clone()).or_insert_with(|| {
                out.push(StepSeries {
                    labels: key,
                    vals: vec![None; n],
                });
                out.len() - 1
            });
            if let Some(slot) = out.get_mut(oi).and_then(|o| o.vals.get_mut(i)) {
                *slot = Some(slot.unwrap_or(0.0) + 1.0);
            }
        }
    }
    out
}
