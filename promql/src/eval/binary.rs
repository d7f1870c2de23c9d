//! Binary operators: scalar/scalar, vector/scalar and vector/vector with matching.

use std::collections::HashMap;

use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD, T_MUL, T_NEQ, T_POW,
    T_SUB,
};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::{Evaluator, Grid, Result, StepSeries, Val, merge_same_labels, val_type};
use crate::error::Error;
use crate::labels::Labels;

fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic operators drop the metric name.
fn drops_name(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// Applies `op` to two floats: the value and, for comparisons, whether the pair is kept.
fn binop(op: u16, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

/// Signature labels used to match series of the two sides.
fn signature(l: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(ls)) => l.keep_only(&ls.labels),
        Some(LabelModifier::Exclude(ls)) => l.drop_names(&ls.labels).without_metric_name(),
        None => l.without_metric_name(),
    }
}

/// Interns signatures so matching per step works on small integers.
fn sig_ids(
    v: &[StepSeries],
    matching: Option<&LabelModifier>,
    ids: &mut HashMap<Labels, usize>,
    names: &mut Vec<Labels>,
) -> Vec<usize> {
    v.iter()
        .map(|s| {
            let sig = signature(&s.labels, matching);
            *ids.entry(sig.clone()).or_insert_with(|| {
                names.push(sig);
                names.len() - 1
            })
        })
        .collect()
}

impl Evaluator<'_> {
    pub(crate) fn eval_binary(&self, b: &BinaryExpr, g: &Grid) -> Result<Val> {
        let op = b.op.id();
        let default_modifier = BinModifier::default();
        let m = b.modifier.as_ref().unwrap_or(&default_modifier);
        if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
            return Err(Error::BadQuery("fill modifiers are not supported".into()));
        }
        let lhs = self.eval(&b.lhs, g)?;
        let rhs = self.eval(&b.rhs, g)?;
        let n = g.len();
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let v = l
                    .iter()
                    .zip(&r)
                    .map(|(&a, &c)| {
                        let (v, keep) = binop(op, a, c);
                        if is_comparison(op) {
                            if keep { 1.0 } else { 0.0 }
                        } else {
                            v
                        }
                    })
                    .collect();
                Ok(Val::Scalar(v))
            }
            (Val::Vector(v), Val::Scalar(s)) => Ok(Val::Vector(vector_scalar(op, v, &s, false, m.return_bool)?)),
            (Val::Scalar(s), Val::Vector(v)) => Ok(Val::Vector(vector_scalar(op, v, &s, true, m.return_bool)?)),
            (Val::Vector(l), Val::Vector(r)) => {
                self.check_deadline()?;
                let matching = m.matching.as_ref();
                match op {
                    T_LAND | T_LOR | T_LUNLESS => Ok(Val::Vector(set_op(op, l, r, matching, n)?)),
                    _ => Ok(Val::Vector(vector_vector(op, l, r, m, n)?)),
                }
            }
            (l, r) => Err(Error::BadQuery(format!(
                "binary operator {} not allowed between {} and {}",
                b.op,
                val_type(&l),
                val_type(&r)
            ))),
        }
    }
}

fn vector_scalar(
    op: u16,
    v: Vec<StepSeries>,
    s: &[f64],
    scalar_left: bool,
    return_bool: bool,
) -> Result<Vec<StepSeries>> {
    let comparison = is_comparison(op);
    let drop = drops_name(op) || return_bool;
    let out: Vec<StepSeries> = v
        .into_iter()
        .map(|ser| {
            let vals = ser
                .vals
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let x = (*x)?;
                    let sv = s.get(i).copied().unwrap_or(f64::NAN);
                    let (l, r) = if scalar_left { (sv, x) } else { (x, sv) };
                    let (mut val, keep) = binop(op, l, r);
                    if comparison {
                        // The vector's value is kept, even when the scalar is on the left.
                        val = x;
                    }
                    if return_bool {
                        Some(if keep { 1.0 } else { 0.0 })
                    } else if keep {
                        Some(val)
                    } else {
                        None
                    }
                })
                .collect();
            StepSeries {
                labels: if drop {
                    ser.labels.without_metric_name()
                } else {
                    ser.labels
                },
                vals,
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    if drop { merge_same_labels(out) } else { Ok(out) }
}

fn set_op(
    op: u16,
    l: Vec<StepSeries>,
    r: Vec<StepSeries>,
    matching: Option<&LabelModifier>,
    n: usize,
) -> Result<Vec<StepSeries>> {
    let mut ids = HashMap::new();
    let mut names = Vec::new();
    let lsig = sig_ids(&l, matching, &mut ids, &mut names);
    let rsig = sig_ids(&r, matching, &mut ids, &mut names);
    // present[sig] == step+1 when some series of the other side has that signature at the step.
    let mut present = vec![0usize; names.len()];
    match op {
        T_LAND | T_LUNLESS => {
            let mut out = l;
            for i in 0..n {
                for (s, &sig) in r.iter().zip(&rsig) {
                    if s.vals.get(i).copied().flatten().is_some()
                        && let Some(p) = present.get_mut(sig)
                    {
                        *p = i + 1;
                    }
                }
                for (s, &sig) in out.iter_mut().zip(&lsig) {
                    let hit = present.get(sig).is_some_and(|&p| p == i + 1);
                    let drop = if op == T_LAND { !hit } else { hit };
                    if drop && let Some(x) = s.vals.get_mut(i) {
                        *x = None;
                    }
                }
            }
            out.retain(|s| !s.is_empty());
            Ok(out)
        }
        _ => {
            // or: all of the left, plus right-hand series whose signature the left lacks.
            let mut extra = r;
            for i in 0..n {
                for (s, &sig) in l.iter().zip(&lsig) {
                    if s.vals.get(i).copied().flatten().is_some()
                        && let Some(p) = present.get_mut(sig)
                    {
                        *p = i + 1;
                    }
                }
                for (s, &sig) in extra.iter_mut().zip(&rsig) {
                    if present.get(sig).is_some_and(|&p| p == i + 1)
                        && let Some(x) = s.vals.get_mut(i)
                    {
                        *x = None;
                    }
                }
            }
            let mut out = l;
            out.extend(extra.into_iter().filter(|s| !s.is_empty()));
            merge_same_labels(out)
        }
    }
}

fn result_labels(many: &Labels, one: &Labels, op: u16, m: &BinModifier) -> Labels {
    let mut l = if drops_name(op) || m.return_bool {
        many.without_metric_name()
    } else {
        many.clone()
    };
    if m.card == VectorMatchCardinality::OneToOne {
        match &m.matching {
            Some(LabelModifier::Include(ls)) => l = l.keep_only(&ls.labels),
            Some(LabelModifier::Exclude(ls)) => l = l.drop_names(&ls.labels),
            None => {}
        }
    }
    if let Some(include) = m.card.labels() {
        for name in &include.labels {
            l = l.with(name, one.get(name).unwrap_or(""));
        }
    }
    l
}

fn vector_vector(
    op: u16,
    l: Vec<StepSeries>,
    r: Vec<StepSeries>,
    m: &BinModifier,
    n: usize,
) -> Result<Vec<StepSeries>> {
    let matching = m.matching.as_ref();
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = m.card == VectorMatchCardinality::OneToOne;
    let (many, one) = if one_to_many { (&r, &l) } else { (&l, &r) };
    let mut ids = HashMap::new();
    let mut names = Vec::new();
    let many_sig = sig_ids(many, matching, &mut ids, &mut names);
    let one_sig = sig_ids(one, matching, &mut ids, &mut names);
    let comparison = is_comparison(op);

    let mut one_at: Vec<Option<usize>> = vec![None; names.len()];
    let mut one_stamp = vec![0usize; names.len()];
    let mut matched_stamp = vec![0usize; names.len()];
    let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
    let mut out: Vec<StepSeries> = Vec::new();
    let mut out_index: HashMap<Labels, usize> = HashMap::new();
    let mut out_stamp: Vec<usize> = Vec::new();

    for i in 0..n {
        let stamp = i + 1;
        // The "one" side must be unique per signature at each step.
        for (oi, (s, &sig)) in one.iter().zip(&one_sig).enumerate() {
            if s.vals.get(i).copied().flatten().is_none() {
                continue;
            }
            if one_stamp.get(sig).is_some_and(|&st| st == stamp) {
                let prev = one_at.get(sig).copied().flatten().and_then(|p| one.get(p));
                let side = if one_to_many { "left" } else { "right" };
                return Err(Error::Execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    names.get(sig).map(|x| x.to_string()).unwrap_or_default(),
                    prev.map(|p| p.labels.to_string()).unwrap_or_default(),
                    s.labels
                )));
            }
            if let Some(st) = one_stamp.get_mut(sig) {
                *st = stamp;
            }
            if let Some(a) = one_at.get_mut(sig) {
                *a = Some(oi);
            }
        }
        for (mi, (s, &sig)) in many.iter().zip(&many_sig).enumerate() {
            let Some(mv) = s.vals.get(i).copied().flatten() else {
                continue;
            };
            if one_stamp.get(sig).is_none_or(|&st| st != stamp) {
                continue;
            }
            let Some(oi) = one_at.get(sig).copied().flatten() else {
                continue;
            };
            let Some(os) = one.get(oi) else { continue };
            let Some(ov) = os.vals.get(i).copied().flatten() else {
                continue;
            };
            if one_to_one {
                if matched_stamp.get(sig).is_some_and(|&st| st == stamp) {
                    return Err(Error::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            .to_string(),
                    ));
                }
                if let Some(st) = matched_stamp.get_mut(sig) {
                    *st = stamp;
                }
            }
            let (fl, fr) = if one_to_many { (ov, mv) } else { (mv, ov) };
            let (val, keep) = binop(op, fl, fr);
            let val = if m.return_bool {
                if keep { 1.0 } else { 0.0 }
            } else if keep {
                val
            } else {
                continue;
            };
            let _ = comparison;
            let idx = match pair_out.get(&(mi, oi)) {
                Some(&x) => x,
                None => {
                    let labels = result_labels(&s.labels, &os.labels, op, m);
                    let x = match out_index.get(&labels) {
                        Some(&x) => x,
                        None => {
                            out_index.insert(labels.clone(), out.len());
                            out.push(StepSeries {
                                labels,
                                vals: vec![None; n],
                            });
                            out_stamp.push(0);
                            out.len() - 1
                        }
                    };
                    pair_out.insert((mi, oi), x);
                    x
                }
            };
            if out_stamp.get(idx).is_some_and(|&st| st == stamp) {
                return Err(Error::Execution(if one_to_one {
                    "vector cannot contain metrics with the same labelset".to_string()
                } else {
                    "multiple matches for labels: grouping labels must ensure unique matches".to_string()
                }));
            }
            if let Some(st) = out_stamp.get_mut(idx) {
                *st = stamp;
            }
            if let Some(slot) = out.get_mut(idx).and_then(|o| o.vals.get_mut(i)) {
                *slot = Some(val);
            }
        }
    }
    Ok(out)
}
