//! PromQL over the database: [`Db`] is a [`foresight_promql::Storage`].

use foresight_promql::{LabelMatcher, RollupSeries, Storage, StorageError};

use crate::db::Db;

impl Storage for Db {
    fn select(
        &self,
        matchers: &[LabelMatcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<foresight_promql::Series>, StorageError> {
        to_storage(Db::select(self, matchers, mint, maxt))
    }

    fn rollup_lengths(&self) -> Vec<i64> {
        self.rollup_windows_ms().to_vec()
    }

    fn select_rollups(
        &self,
        matchers: &[LabelMatcher],
        len: i64,
        mint: i64,
        maxt: i64,
        raw: &[(i64, i64)],
    ) -> Result<Vec<RollupSeries>, StorageError> {
        to_rollup_storage(Db::select_rollups(self, matchers, len, mint, maxt, raw))
    }
}

/// The engine's answer to a rollup select as PromQL's.
pub(crate) fn to_rollup_storage(
    got: crate::Result<Vec<crate::rollup::RollupSelection>>,
) -> Result<Vec<RollupSeries>, StorageError> {
    let got = got.map_err(|e| storage_error("rollup read failed", e))?;
    Ok(got
        .into_iter()
        .map(|s| RollupSeries {
            labels: s.labels,
            windows: s.windows,
            samples: s.samples.into(),
        })
        .collect())
}

/// An engine error as PromQL's: a refusal by a limit keeps its own message, a failure gets
/// `what` before it.
fn storage_error(what: &str, e: crate::Error) -> StorageError {
    match e {
        crate::Error::LimitExceeded(m) => StorageError::limit(m),
        e => StorageError::with_source(what, e),
    }
}

/// The engine's answer to a select as PromQL's.
pub(crate) fn to_storage(
    series: crate::Result<Vec<crate::Series>>,
) -> Result<Vec<foresight_promql::Series>, StorageError> {
    let series = series.map_err(|e| storage_error("storage read failed", e))?;
    Ok(series
        .into_iter()
        .map(|s| foresight_promql::Series {
            labels: s.labels,
            samples: s.samples.into(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use foresight_promql::{Engine, EngineOptions, Value};

    use crate::lineproto::Precision;
    use crate::{Db, Options};

    #[test]
    fn promql_over_the_database() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(
            tmp.path(),
            Options {
                shards: 2,
                background_flush: false,
                ..Options::default()
            },
        )
        .unwrap();
        let mut body = String::new();
        for i in 0..60 {
            for h in ["a", "b"] {
                body.push_str(&format!("req,host={h} total={}i {}\n", i * 10, i * 10));
            }
        }
        db.write_lines(body.as_bytes(), Precision::Seconds).unwrap();
        db.flush().unwrap();
        let engine = Engine::new(EngineOptions::default());
        let r = engine.instant_query(&db, "sum(rate(req_total[5m]))", 590_000).unwrap();
        match r.value {
            Value::Vector(v) => {
                assert_eq!(v.len(), 1);
                assert!((v[0].v - 2.0).abs() < 1e-9, "{v:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[cfg(test)]
mod negative_regex {
    use crate::lineproto::Precision;
    use crate::{Db, LabelMatcher, MatchOp, Options};

    #[test]
    fn not_regex_excludes_matching_values() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(
            tmp.path(),
            Options {
                shards: 2,
                background_flush: false,
                ..Options::default()
            },
        )
        .unwrap();
        let body = "m,src=v1s value=1 1700000000\nm,src=v1m value=2 1699999980\nm,src=v1h value=3 1699999200\nm,src=v2ms value=5 1700000000\n";
        db.write_lines(body.as_bytes(), Precision::Seconds).unwrap();
        let ms = [
            LabelMatcher::equal("__name__", "m_value"),
            LabelMatcher::new(MatchOp::RegexNoMatch, "src", "v1m|v1h").unwrap(),
        ];
        let got: Vec<String> = db
            .select(&ms, i64::MIN, i64::MAX)
            .unwrap()
            .iter()
            .map(|s| s.labels.to_string())
            .collect();
        assert_eq!(got, vec!["m_value{src=\"v1s\"}", "m_value{src=\"v2ms\"}"]);
    }
}
