//! `/api/v1/correlate`: which series moved with a target, and how many steps before or after it
//! ("which metric moved first" in an incident).
//!
//! `target` (a query returning one series) and `candidates` (a selector or any query) are
//! evaluated over `start`, `end`, `step` as `/api/v1/query_range` evaluates them, inside the
//! same query slot and timeout, and put on that step grid (missing steps are gaps). Every
//! candidate is then correlated with the target at every lag up to `max_lag` in both directions
//! by `foresight-forecasting`'s [`Correlator`] (FFT, in parallel), and the candidates are ranked
//! by the strength of their best lag.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::State;
use foresight_engine::Labels;
use foresight_forecasting::{
    CorrelateOptions, Correlation, CorrelationMethod, Correlator, ForecastError, NoCorrelation, Transform,
};
use serde::Serialize;

use crate::error::{JsonBody, PromError};
use crate::forecast::{Grid, SeriesLimit, Success, select, steps_param};
use crate::json::{PromLabels, PromTime, PromValue};
use crate::query::{Params, evaluate, range_params, timeout};
use crate::state::AppState;
use crate::tenant::Tenant;

/// Candidates in an answer unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 20;

/// Candidates named in each warning about those that could not be ranked.
const NAMED_IN_WARNING: usize = 5;

/// `method`: the names the parameter takes and what they mean; the first is the default.
const METHODS: [(&str, CorrelationMethod); 2] = [
    ("pearson", CorrelationMethod::Pearson),
    ("spearman", CorrelationMethod::Spearman),
];

/// `transform`, as [`METHODS`].
const TRANSFORMS: [(&str, Transform); 3] = [
    ("diff", Transform::Diff),
    ("detrend", Transform::Detrend),
    ("none", Transform::None),
];

/// One of a fixed set of names (the first when absent): the name and its meaning.
fn choice_param<T: Copy>(p: &Params, name: &str, table: &[(&'static str, T)]) -> Result<(&'static str, T), PromError> {
    let given = p.non_empty(name).map(str::trim);
    let found = match given {
        None => table.first(),
        Some(g) => table.iter().find(|(n, _)| n.eq_ignore_ascii_case(g)),
    };
    found.copied().ok_or_else(|| {
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        PromError::bad_param(
            name,
            format!("unknown {name} {:?}; use {}", given.unwrap_or(""), names.join(" or ")),
        )
    })
}

/// `limit`: how many candidates the answer lists, best first (0: all).
fn limit_param(p: &Params) -> Result<usize, PromError> {
    match p.non_empty("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(0) => Ok(usize::MAX),
            Ok(n) => Ok(n),
            Err(_) => Err(PromError::bad_param(
                "limit",
                format!("cannot parse {s:?} as a number of candidates (0 for all)"),
            )),
        },
    }
}

/// A query parameter that must be given.
fn required<'a>(p: &'a Params, name: &str, what: &str) -> Result<&'a str, PromError> {
    p.non_empty(name)
        .ok_or_else(|| PromError::bad_param(name, format!("missing: {what}")))
}

/// `data` of a correlate answer.
#[derive(Debug, Serialize)]
struct CorrelateData<'a> {
    #[serde(rename = "resultType")]
    result_type: &'static str,
    target: PromLabels<'a>,
    method: &'static str,
    transform: &'static str,
    /// Lags searched, in steps, in both directions.
    max_lag: usize,
    /// Candidate series evaluated (the target itself left out).
    candidates: usize,
    /// Of them, those with a correlation (the others are in `warnings`).
    ranked: usize,
    /// The best `limit` of them, strongest first.
    result: Vec<Ranked<'a>>,
}

/// One candidate's best lag.
#[derive(Debug, Serialize)]
struct Ranked<'a> {
    metric: PromLabels<'a>,
    /// Steps; positive when the candidate moves first (it leads the target).
    lag: i64,
    /// `lag` in seconds.
    lag_seconds: PromTime,
    coefficient: PromValue,
    /// The coefficient at lag 0, `null` when lag 0 had too few points or no variance.
    coefficient_at_zero: Option<PromValue>,
    /// Two-sided, allowing for autocorrelation and the lags searched (not for the number of
    /// candidates).
    p_value: PromValue,
    /// Pairs of points behind `coefficient`, and the independent pairs they are worth.
    overlap: usize,
    effective_n: PromValue,
    lags_tested: usize,
}

impl<'a> Ranked<'a> {
    fn new(labels: &'a Labels, c: &Correlation, step: i64) -> Self {
        Ranked {
            metric: PromLabels(labels),
            lag: c.lag,
            lag_seconds: PromTime(c.lag.saturating_mul(step)),
            coefficient: PromValue(c.coefficient),
            coefficient_at_zero: c.coefficient_at_zero.map(PromValue),
            p_value: PromValue(c.p_value),
            overlap: c.overlap,
            effective_n: PromValue(c.effective_n),
            lags_tested: c.lags_tested,
        }
    }
}

/// Strongest first: larger |coefficient|, then smaller p-value, then shorter |lag|.
fn stronger(a: &Correlation, b: &Correlation) -> Ordering {
    b.coefficient
        .abs()
        .total_cmp(&a.coefficient.abs())
        .then(a.p_value.total_cmp(&b.p_value))
        .then(a.lag.unsigned_abs().cmp(&b.lag.unsigned_abs()))
}

/// The target's refusals from [`Correlator::new`] as 400s.
fn target_error(e: ForecastError, grid: Grid) -> PromError {
    match e {
        ForecastError::InvalidParameter {
            name: "max_lag",
            reason,
        } => PromError::bad_param("max_lag", reason),
        ForecastError::InvalidParameter { name: "target", reason } => {
            PromError::bad_data(format!("the target is {reason}"))
        }
        ForecastError::NotEnoughData { needed, got } => PromError::bad_data(format!(
            "too little history: the target has {got} points in range at step {} s, at least {needed} needed; \
             widen start..end or use a smaller step",
            grid.step as f64 / 1000.0
        )),
        other => PromError::bad_data(format!("the target cannot be correlated: {other}")),
    }
}

/// The candidates without a correlation, one warning per reason, naming a few of each.
fn warnings(failed: &[(&Labels, &NoCorrelation)]) -> Vec<String> {
    let (few, constant): (Vec<_>, Vec<_>) = failed
        .iter()
        .partition(|(_, e)| matches!(e, NoCorrelation::TooFewPoints { .. }));
    [
        (few, "too few points overlapping the target at any lag"),
        (
            constant,
            "constant (after the transform) wherever they overlap the target",
        ),
    ]
    .into_iter()
    .filter(|(these, _)| !these.is_empty())
    .map(|(these, why)| {
        let named: Vec<String> = these
            .iter()
            .take(NAMED_IN_WARNING)
            .map(|(l, _)| l.to_string())
            .collect();
        let more = if these.len() > NAMED_IN_WARNING { ", ..." } else { "" };
        format!(
            "{} candidates not ranked, {why}: {}{more}",
            these.len(),
            named.join(", ")
        )
    })
    .collect()
}

/// `GET|POST /api/v1/correlate?target=&candidates=&start=&end=&step=&max_lag=&method=&transform=&limit=`
pub(crate) async fn correlate(
    State(st): State<Arc<AppState>>,
    tenant: Tenant,
    p: Params,
) -> Result<JsonBody, PromError> {
    let target_query = required(&p, "target", "a query returning the one series to explain")?.to_owned();
    let candidates_query = required(&p, "candidates", "a selector or query for the series to rank")?.to_owned();
    let (start, end, step) = range_params(&p)?;
    let grid = Grid { start, end, step };
    let (method_name, method) = choice_param(&p, "method", &METHODS)?;
    let (transform_name, transform) = choice_param(&p, "transform", &TRANSFORMS)?;
    let max_lag = steps_param(&p, "max_lag", step)?.unwrap_or(grid.len() / 10);
    let limit = limit_param(&p)?;
    let options = CorrelateOptions {
        transform,
        method,
        max_lag,
        ..CorrelateOptions::default()
    };
    let series_limit = SeriesLimit {
        max: st.config.limits.max_correlate_series,
        setting: "max-correlate-series",
    };
    let time_limit = timeout(&st, &p)?;
    evaluate(&st, &tenant, time_limit, move |db, engine| {
        let mut targets = select(db, engine, &target_query, grid, series_limit)?;
        let (target_labels, target) = match targets.len() {
            1 => targets.swap_remove(0),
            n => {
                return Err(PromError::bad_param(
                    "target",
                    format!(
                        "the query returned {n} series; it must return exactly one (select one series, or aggregate, e.g. sum(...))"
                    ),
                ));
            }
        };
        let candidates = select(db, engine, &candidates_query, grid, series_limit)?;
        let correlator = Correlator::new(&target, &options).map_err(|e| target_error(e, grid))?;
        let (labels, values): (Vec<Labels>, Vec<Vec<f64>>) = candidates
            .into_iter()
            .filter(|(l, _)| *l != target_labels)
            .unzip();
        let results = correlator.correlate_all(&values);
        drop(values);
        let mut ranked: Vec<(&Labels, &Correlation)> = Vec::with_capacity(results.len());
        let mut failed: Vec<(&Labels, &NoCorrelation)> = Vec::new();
        for (l, r) in labels.iter().zip(&results) {
            match r {
                Ok(c) => ranked.push((l, c)),
                Err(e) => failed.push((l, e)),
            }
        }
        if ranked.is_empty() && !failed.is_empty() {
            return Err(PromError::bad_data(format!(
                "no candidate could be correlated with the target: {}",
                warnings(&failed).join("; ")
            )));
        }
        ranked.sort_by(|a, b| stronger(a.1, b.1).then_with(|| a.0.cmp(b.0)));
        let mut notes = warnings(&failed);
        if labels.is_empty() {
            notes.push("the candidates query returned no series other than the target".to_owned());
        }
        let data = CorrelateData {
            result_type: "correlation",
            target: PromLabels(&target_labels),
            method: method_name,
            transform: transform_name,
            max_lag,
            candidates: labels.len(),
            ranked: ranked.len(),
            result: ranked
                .iter()
                .take(limit)
                .map(|(l, c)| Ranked::new(l, c, grid.step))
                .collect(),
        };
        Success::body(data, notes)
    })
    .await
    .map(JsonBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn method_transform_and_limit() {
        assert_eq!(
            choice_param(&params(&[]), "method", &METHODS).unwrap(),
            ("pearson", CorrelationMethod::Pearson)
        );
        assert_eq!(
            choice_param(&params(&[("method", "Spearman")]), "method", &METHODS).unwrap(),
            ("spearman", CorrelationMethod::Spearman)
        );
        let e = choice_param(&params(&[("method", "kendall")]), "method", &METHODS).unwrap_err();
        assert!(
            e.message.contains("\"method\"") && e.message.contains("pearson or spearman"),
            "{}",
            e.message
        );
        for (name, t) in TRANSFORMS {
            assert_eq!(
                choice_param(&params(&[("transform", name)]), "transform", &TRANSFORMS).unwrap(),
                (name, t)
            );
        }
        assert!(choice_param(&params(&[("transform", "log")]), "transform", &TRANSFORMS).is_err());
        assert_eq!(limit_param(&params(&[])).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit_param(&params(&[("limit", "0")])).unwrap(), usize::MAX);
        assert_eq!(limit_param(&params(&[("limit", "3")])).unwrap(), 3);
        assert!(limit_param(&params(&[("limit", "-1")])).is_err());
        assert_eq!(
            steps_param(&params(&[("max_lag", "5m")]), "max_lag", 60_000).unwrap(),
            Some(5)
        );
        assert!(required(&params(&[("target", "")]), "target", "x").is_err());
    }

    #[test]
    fn strongest_first_then_smaller_p_then_shorter_lag() {
        let c = |lag: i64, coefficient: f64, p_value: f64| Correlation {
            lag,
            coefficient,
            coefficient_at_zero: None,
            overlap: 100,
            effective_n: 100.0,
            lags_tested: 21,
            p_value,
        };
        let mut v = [c(1, 0.5, 0.01), c(-4, -0.9, 0.001), c(2, 0.9, 0.001), c(3, 0.5, 0.001)];
        v.sort_by(stronger);
        let lags: Vec<i64> = v.iter().map(|c| c.lag).collect();
        assert_eq!(lags, [2, -4, 3, 1]);
    }

    #[test]
    fn warnings_group_by_reason_and_name_a_few() {
        let labels: Vec<Labels> = (0..7).map(|i| Labels::new([("k", i.to_string().as_str())])).collect();
        let few = NoCorrelation::TooFewPoints { best: 2, needed: 10 };
        let constant = NoCorrelation::Constant;
        let failed: Vec<(&Labels, &NoCorrelation)> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l, if i == 3 { &few } else { &constant }))
            .collect();
        let w = warnings(&failed);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("1 candidates not ranked, too few points") && w[0].contains("k=\"3\""),
            "{}",
            w[0]
        );
        assert!(
            w[1].starts_with("6 candidates not ranked, constant") && w[1].ends_with(", ..."),
            "{}",
            w[1]
        );
    }
}
