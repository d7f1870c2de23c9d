//! The query entry points: [`Engine::instant_query`] and [`Engine::range_query`].

use promql_parser::parser::Expr;

use crate::error::Error;
use crate::eval::{Evaluator, Grid, Val, unparen};
use crate::labels::Labels;
use crate::options::EngineOptions;
use crate::parse::parse;
use crate::storage::{Series, Storage};
use crate::value::{QueryResult, Sample, Value};

/// Largest number of steps a range query may have (as Prometheus' HTTP API).
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Evaluates PromQL over a [`Storage`]. Cheap to create and to share between threads.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine with these options.
    pub fn new(opts: EngineOptions) -> Self {
        Self { opts }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at time `t` (milliseconds since the epoch).
    pub fn instant_query(&self, storage: &dyn Storage, query: &str, t: i64) -> Result<QueryResult, Error> {
        let expr = parse(query)?;
        let ev = Evaluator::new(storage, &self.opts, t, t);
        let grid = Grid {
            start: t,
            end: t,
            step: 1,
        };
        let val = ev.eval(&expr, &grid)?;
        let value = match val {
            Val::Scalar(v) => Value::Scalar {
                t,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::Str(s) => Value::String { t, v: s },
            Val::Matrix(mut m) => {
                m.sort_by(|a, b| a.labels.cmp(&b.labels));
                Value::Matrix(m)
            }
            Val::Vector(v) => {
                let mut out: Vec<Sample> = v
                    .into_iter()
                    .filter_map(|s| {
                        let x = s.vals.first().copied().flatten()?;
                        Some(Sample {
                            labels: s.labels,
                            t,
                            v: x,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                order_instant_vector(&expr, &mut out);
                Value::Vector(out)
            }
        };
        Ok(QueryResult {
            value,
            stats: ev.stats(),
            infos: ev.infos(),
        })
    }

    /// Evaluates `query` at `start, start + step, ..., end` (milliseconds), giving a matrix.
    pub fn range_query(
        &self,
        storage: &dyn Storage,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, Error> {
        if step <= 0 {
            return Err(Error::BadQuery(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(Error::BadQuery("end timestamp must not be before start time".into()));
        }
        // As Prometheus: (end - start) / step may be 11,000 (11,001 points), not more.
        if (i128::from(end) - i128::from(start)) / i128::from(step) > i128::from(MAX_POINTS_PER_SERIES) {
            return Err(Error::BadQuery(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let expr = parse(query)?;
        {
            use promql_parser::parser::value::ValueType;
            let kind = match expr.value_type() {
                ValueType::Matrix => Some("range vector"),
                ValueType::String => Some("string"),
                _ => None,
            };
            if let Some(kind) = kind {
                return Err(Error::BadQuery(format!(
                    "invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let ev = Evaluator::new(storage, &self.opts, start, end);
        let grid = Grid { start, end, step };
        let val = ev.eval(&expr, &grid)?;
        let series: Vec<Series> = match val {
            Val::Scalar(v) => vec![Series {
                labels: Labels::empty(),
                samples: v.into_iter().enumerate().map(|(i, x)| (grid.ts(i), x)).collect(),
            }],
            Val::Vector(v) => {
                let mut out: Vec<Series> = v
                    .into_iter()
                    .filter_map(|s| {
                        let samples: crate::storage::Samples = s
                            .vals
                            .iter()
                            .enumerate()
                            .filter_map(|(i, x)| x.map(|x| (grid.ts(i), x)))
                            .collect();
                        (!samples.is_empty()).then_some(Series {
                            labels: s.labels,
                            samples,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                out
            }
            Val::Str(_) => {
                return Err(Error::BadQuery(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
            Val::Matrix(_) => {
                return Err(Error::BadQuery(
                    "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
        };
        Ok(QueryResult {
            value: Value::Matrix(series),
            stats: ev.stats(),
            infos: ev.infos(),
        })
    }
}

/// Instant vectors come sorted by labels, except where the outermost operation orders them.
fn order_instant_vector(expr: &Expr, out: &mut [Sample]) {
    use promql_parser::parser::token::{T_BOTTOMK, T_TOPK};
    let nan_last = |a: f64, b: f64, desc: bool| {
        use std::cmp::Ordering;
        match (a.is_nan(), b.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ => {
                let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
                if desc { o.reverse() } else { o }
            }
        }
    };
    match unparen(expr) {
        Expr::Call(c) if c.func.name == "sort" => out.sort_by(|a, b| nan_last(a.v, b.v, false)),
        Expr::Call(c) if c.func.name == "sort_desc" => {
            out.sort_by(|a, b| nan_last(a.v, b.v, true));
        }
        Expr::Aggregate(a) if a.op.id() == T_TOPK => out.sort_by(|a, b| nan_last(a.v, b.v, true)),
        Expr::Aggregate(a) if a.op.id() == T_BOTTOMK => {
            out.sort_by(|a, b| nan_last(a.v, b.v, false));
        }
        _ => {}
    }
}
